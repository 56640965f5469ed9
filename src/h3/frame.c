/* SPDX-License-Identifier: MIT */
#include "h3/frame.h"

#include <string.h>

#include "common/varint.h"

/* ---- names ---------------------------------------------------------------
 */

const char *zttp_h3_error_name(uint64_t code) {
  static const char *const names[] = {
      "H3_NO_ERROR",
      "H3_GENERAL_PROTOCOL_ERROR",
      "H3_INTERNAL_ERROR",
      "H3_STREAM_CREATION_ERROR",
      "H3_CLOSED_CRITICAL_STREAM",
      "H3_FRAME_UNEXPECTED",
      "H3_FRAME_ERROR",
      "H3_EXCESSIVE_LOAD",
      "H3_ID_ERROR",
      "H3_SETTINGS_ERROR",
      "H3_MISSING_SETTINGS",
      "H3_REQUEST_REJECTED",
      "H3_REQUEST_CANCELLED",
      "H3_REQUEST_INCOMPLETE",
      "H3_MESSAGE_ERROR",
      "H3_CONNECT_ERROR",
      "H3_VERSION_FALLBACK",
  };
  if (code >= ZTTP_H3_NO_ERROR && code <= ZTTP_H3_VERSION_FALLBACK) {
    return names[code - ZTTP_H3_NO_ERROR];
  }
  if (code == ZTTP_H3_DATAGRAM_ERROR) {
    return "H3_DATAGRAM_ERROR";
  }
  if (zttp_h3_is_grease(code)) {
    return "H3_RESERVED";
  }
  return "UNKNOWN";
}

const char *zttp_h3_frame_name(uint64_t type) {
  switch (type) {
  case ZTTP_H3_FRAME_DATA:
    return "DATA";
  case ZTTP_H3_FRAME_HEADERS:
    return "HEADERS";
  case ZTTP_H3_FRAME_CANCEL_PUSH:
    return "CANCEL_PUSH";
  case ZTTP_H3_FRAME_SETTINGS:
    return "SETTINGS";
  case ZTTP_H3_FRAME_PUSH_PROMISE:
    return "PUSH_PROMISE";
  case ZTTP_H3_FRAME_GOAWAY:
    return "GOAWAY";
  case ZTTP_H3_FRAME_MAX_PUSH_ID:
    return "MAX_PUSH_ID";
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST:
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH:
    return "PRIORITY_UPDATE";
  default:
    if (zttp_h3_frame_is_h2_reserved(type) || zttp_h3_is_grease(type)) {
      return "RESERVED";
    }
    return "UNKNOWN";
  }
}

/* ---- errors --------------------------------------------------------------
 */

/* Stores the HTTP/3 |code| and returns the ZTTP_ERR_* that goes with it. */
static int32_t fail(uint64_t *err, uint64_t code) {
  *err = code;
  switch (code) {
  case ZTTP_H3_FRAME_ERROR:
    return ZTTP_ERR_FRAME_SIZE;
  case ZTTP_H3_EXCESSIVE_LOAD:
    return ZTTP_ERR_ENHANCE_YOUR_CALM;
  case ZTTP_H3_INTERNAL_ERROR:
    return ZTTP_ERR_NOMEM;
  default:
    return ZTTP_ERR_PROTOCOL;
  }
}

/* ---- incremental varints -------------------------------------------------
 */

size_t zttp_h3_varint_read(zttp_h3_varint_reader *vr, int *done,
                           const uint8_t *data, size_t len) {
  zttp_rd rd;
  zttp_rd_init(&rd, data, len);
  if (vr->need == 0) {
    /* Fast path: the whole varint is in the input. */
    uint64_t v;
    if (zttp_rd_varint(&rd, &v)) {
      vr->value = v;
      vr->have = vr->need = (uint8_t)(len - zttp_rd_len(&rd));
      *done = 1;
      return len - zttp_rd_len(&rd);
    }
  }
  uint8_t b;
  while (vr->have < vr->need || vr->need == 0) {
    if (!zttp_rd_u8(&rd, &b)) {
      *done = 0;
      return len - zttp_rd_len(&rd);
    }
    if (vr->need == 0) {
      /* RFC 9000 §16: the two high bits give the length. */
      vr->need = (uint8_t)(1u << (b >> 6));
      vr->value = b & 0x3f;
    } else {
      vr->value = vr->value << 8 | b;
    }
    vr->have++;
  }
  *done = 1;
  return len - zttp_rd_len(&rd);
}

size_t zttp_h3_encode_stream_type(uint8_t *p, size_t cap, uint64_t type) {
  if (type > ZTTP_VARINT_MAX || zttp_varint_len(type) > cap) {
    return 0;
  }
  return (size_t)(zttp_varint_put(p, type) - p);
}

/* ---- the frame reader ----------------------------------------------------
 */

enum {
  ST_TYPE,   /* reading the Type varint */
  ST_LENGTH, /* reading the Length varint */
  ST_DATA,   /* handing DATA payload through */
  ST_BUFFER, /* collecting a buffered payload */
  ST_SKIP    /* discarding an unknown frame's payload */
};

/* How the reader treats a frame type. */
enum { K_DATA, K_BUFFER_CONTROL, K_BUFFER_FIELDS, K_ONE_VARINT, K_SKIP };

static int frame_kind(uint64_t type) {
  switch (type) {
  case ZTTP_H3_FRAME_DATA:
    return K_DATA;
  case ZTTP_H3_FRAME_HEADERS:
  case ZTTP_H3_FRAME_PUSH_PROMISE:
    return K_BUFFER_FIELDS;
  case ZTTP_H3_FRAME_SETTINGS:
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST:
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH:
    return K_BUFFER_CONTROL;
  case ZTTP_H3_FRAME_CANCEL_PUSH:
  case ZTTP_H3_FRAME_GOAWAY:
  case ZTTP_H3_FRAME_MAX_PUSH_ID:
    return K_ONE_VARINT;
  default:
    /* RFC 9114 §9: unknown types are ignored; §7.2.8: so is grease. */
    return K_SKIP;
  }
}

void zttp_h3_frame_reader_init(zttp_h3_frame_reader *r, const zttp_mem *mem,
                               uint64_t max_control, uint64_t max_fields) {
  memset(r, 0, sizeof(*r));
  r->mem = mem;
  r->max_control = max_control;
  r->max_fields = max_fields;
  r->state = ST_TYPE;
}

void zttp_h3_frame_reader_free(zttp_h3_frame_reader *r) {
  if (r->buf != NULL) {
    zttp_mem_free(r->mem, r->buf);
  }
  r->buf = NULL;
  r->buf_len = 0;
  r->buf_cap = 0;
}

static int32_t reader_fail(zttp_h3_frame_reader *r, uint64_t *err,
                           uint64_t code) {
  r->error = fail(&r->werr, code);
  *err = r->werr;
  return r->error;
}

/* The header is complete: decides how to read the payload (RFC 9114 §7.1,
 * §7.2.8, §10.5). Returns 0 or the error. */
static int32_t begin_payload(zttp_h3_frame_reader *r, uint64_t *err) {
  r->left = r->length;
  switch (frame_kind(r->type)) {
  case K_DATA:
    r->state = r->length == 0 ? ST_TYPE : ST_DATA;
    return 0;
  case K_ONE_VARINT:
    /* The payload is exactly one varint: 1, 2, 4 or 8 bytes (§7.1). */
    if (r->length != 1 && r->length != 2 && r->length != 4 && r->length != 8) {
      return reader_fail(r, err, ZTTP_H3_FRAME_ERROR);
    }
    r->state = ST_BUFFER;
    return 0;
  case K_BUFFER_CONTROL:
    if (r->length > r->max_control) {
      return reader_fail(r, err, ZTTP_H3_EXCESSIVE_LOAD);
    }
    r->state = ST_BUFFER;
    return 0;
  case K_BUFFER_FIELDS:
    if (r->length > r->max_fields) {
      reader_fail(r, err, ZTTP_H3_EXCESSIVE_LOAD);
      r->error = ZTTP_ERR_LIMIT_HEADER_BYTES;
      return r->error;
    }
    r->state = ST_BUFFER;
    return 0;
  default:
    r->state = r->length == 0 ? ST_TYPE : ST_SKIP;
    return 0;
  }
}

/* Makes room for the whole payload of the current frame in r->buf (the
 * caps bound it). */
static int32_t reserve(zttp_h3_frame_reader *r, uint64_t *err) {
  if (r->buf_cap >= r->length) {
    return 0;
  }
  /* Grow geometrically so a reused buffer settles quickly; the frame's
   * length is already under its cap, so is the doubled size capped by it. */
  size_t want = r->buf_cap * 2;
  if (want < 64) {
    want = 64;
  }
  if (want < r->length) {
    want = (size_t)r->length;
  }
  uint64_t cap =
      r->max_control > r->max_fields ? r->max_control : r->max_fields;
  if (cap < 8) {
    cap = 8;
  }
  if (want > cap) {
    want = (size_t)cap;
  }
  uint8_t *nb = zttp_mem_realloc(r->mem, r->buf, want);
  if (nb == NULL) {
    return reader_fail(r, err, ZTTP_H3_INTERNAL_ERROR);
  }
  r->buf = nb;
  r->buf_cap = want;
  return 0;
}

static void event(zttp_h3_frame_event *ev, const zttp_h3_frame_reader *r,
                  uint32_t kind) {
  ev->kind = kind;
  ev->type = r->type;
  ev->length = r->length;
}

int64_t zttp_h3_frame_read(zttp_h3_frame_reader *r, zttp_h3_frame_event *ev,
                           uint64_t *err, const uint8_t *data, size_t len) {
  memset(ev, 0, sizeof(*ev));
  if (r->error != 0) {
    *err = r->werr;
    return r->error;
  }
  zttp_rd rd;
  zttp_rd_init(&rd, data, len);
  for (;;) {
    size_t avail = zttp_rd_len(&rd);
    switch (r->state) {
    case ST_TYPE:
    case ST_LENGTH: {
      int done;
      size_t n = zttp_h3_varint_read(&r->vr, &done, rd.p, avail);
      zttp_rd_skip(&rd, n);
      if (!done) {
        ev->kind = ZTTP_H3_FEV_NEED_DATA;
        return (int64_t)len;
      }
      uint64_t v = r->vr.value;
      zttp_h3_varint_reader_init(&r->vr);
      if (r->state == ST_TYPE) {
        r->type = v;
        if (zttp_h3_frame_is_h2_reserved(v)) {
          /* RFC 9114 §7.2.8 */
          return reader_fail(r, err, ZTTP_H3_FRAME_UNEXPECTED);
        }
        r->state = ST_LENGTH;
        continue;
      }
      r->length = v;
      int32_t rv = begin_payload(r, err);
      if (rv != 0) {
        return rv;
      }
      event(ev, r, ZTTP_H3_FEV_HEADER);
      return (int64_t)(len - zttp_rd_len(&rd));
    }
    case ST_DATA: {
      if (avail == 0) {
        ev->kind = ZTTP_H3_FEV_NEED_DATA;
        return (int64_t)len;
      }
      size_t n = r->left < avail ? (size_t)r->left : avail;
      event(ev, r, ZTTP_H3_FEV_DATA);
      zttp_rd_bytes(&rd, &ev->data, n);
      ev->len = n;
      r->left -= n;
      if (r->left == 0) {
        ev->end = 1;
        r->state = ST_TYPE;
      }
      return (int64_t)(len - zttp_rd_len(&rd));
    }
    case ST_BUFFER: {
      if (r->buf_len == 0 && r->left <= avail) {
        /* The whole payload is in this input: hand it out in place. */
        event(ev, r, ZTTP_H3_FEV_PAYLOAD);
        zttp_rd_bytes(&rd, &ev->data, (size_t)r->left);
        ev->len = (size_t)r->left;
        if (ev->len == 0) {
          ev->data = NULL;
        }
        r->left = 0;
        r->state = ST_TYPE;
        return (int64_t)(len - zttp_rd_len(&rd));
      }
      if (avail == 0) {
        ev->kind = ZTTP_H3_FEV_NEED_DATA;
        return (int64_t)len;
      }
      int32_t rv = reserve(r, err);
      if (rv != 0) {
        return rv;
      }
      size_t n = r->left < avail ? (size_t)r->left : avail;
      const uint8_t *src = NULL;
      zttp_rd_bytes(&rd, &src, n);
      memcpy(r->buf + r->buf_len, src, n);
      r->buf_len += n;
      r->left -= n;
      if (r->left != 0) {
        ev->kind = ZTTP_H3_FEV_NEED_DATA;
        return (int64_t)len;
      }
      event(ev, r, ZTTP_H3_FEV_PAYLOAD);
      ev->data = r->buf;
      ev->len = r->buf_len;
      r->buf_len = 0;
      r->state = ST_TYPE;
      return (int64_t)(len - zttp_rd_len(&rd));
    }
    case ST_SKIP: {
      size_t n = r->left < avail ? (size_t)r->left : avail;
      zttp_rd_skip(&rd, n);
      r->left -= n;
      if (r->left != 0) {
        ev->kind = ZTTP_H3_FEV_NEED_DATA;
        return (int64_t)len;
      }
      r->state = ST_TYPE;
      continue;
    }
    default:
      /* Unreachable: every state is listed above. */
      return reader_fail(r, err, ZTTP_H3_INTERNAL_ERROR);
    }
  }
}

int32_t zttp_h3_frame_reader_finish(const zttp_h3_frame_reader *r,
                                    uint64_t *err) {
  if (r->error != 0) {
    *err = r->werr;
    return r->error;
  }
  if (r->state != ST_TYPE || r->vr.have != 0) {
    /* RFC 9114 §7.1: a truncated last frame. */
    return fail(err, ZTTP_H3_FRAME_ERROR);
  }
  return 0;
}

/* ---- payload parsers -----------------------------------------------------
 */

void zttp_h3_settings_defaults(zttp_h3_settings *s) {
  memset(s, 0, sizeof(*s));
  s->max_field_section_size = UINT64_MAX;
}

int zttp_h3_settings_next(zttp_rd *rd, uint64_t *id, uint64_t *value) {
  zttp_rd r = *rd;
  if (!zttp_rd_varint(&r, id) || !zttp_rd_varint(&r, value)) {
    return 0;
  }
  *rd = r;
  return 1;
}

int32_t zttp_h3_settings_parse(zttp_h3_settings *s, uint64_t *err,
                               const uint8_t *p, size_t len) {
  uint64_t ids[ZTTP_H3_MAX_SETTINGS];
  zttp_h3_settings out;
  zttp_h3_settings_defaults(&out);
  zttp_rd rd;
  zttp_rd_init(&rd, p, len);
  size_t n = 0;
  while (zttp_rd_len(&rd) != 0) {
    uint64_t id;
    uint64_t value;
    if (!zttp_h3_settings_next(&rd, &id, &value)) {
      /* RFC 9114 §7.1: ends inside a parameter. */
      return fail(err, ZTTP_H3_FRAME_ERROR);
    }
    if (n == ZTTP_H3_MAX_SETTINGS) {
      return fail(err, ZTTP_H3_EXCESSIVE_LOAD);
    }
    if (zttp_h3_settings_is_h2_reserved(id)) {
      /* RFC 9114 §7.2.4.1 */
      return fail(err, ZTTP_H3_SETTINGS_ERROR);
    }
    /* RFC 9114 §7.2.4: duplicates (n is capped, so this stays small). */
    for (size_t i = 0; i < n; i++) {
      if (ids[i] == id) {
        return fail(err, ZTTP_H3_SETTINGS_ERROR);
      }
    }
    ids[n++] = id;
    switch (id) {
    case ZTTP_H3_SETTINGS_QPACK_MAX_TABLE_CAPACITY:
      out.qpack_max_table_capacity = value;
      out.present |= ZTTP_H3_SETTINGS_HAS_QPACK_MAX_TABLE_CAPACITY;
      break;
    case ZTTP_H3_SETTINGS_MAX_FIELD_SECTION_SIZE:
      out.max_field_section_size = value;
      out.present |= ZTTP_H3_SETTINGS_HAS_MAX_FIELD_SECTION_SIZE;
      break;
    case ZTTP_H3_SETTINGS_QPACK_BLOCKED_STREAMS:
      out.qpack_blocked_streams = value;
      out.present |= ZTTP_H3_SETTINGS_HAS_QPACK_BLOCKED_STREAMS;
      break;
    case ZTTP_H3_SETTINGS_ENABLE_CONNECT_PROTOCOL:
      /* RFC 8441 §3 (RFC 9220 §3): 0 or 1. */
      if (value > 1) {
        return fail(err, ZTTP_H3_SETTINGS_ERROR);
      }
      out.enable_connect_protocol = value;
      out.present |= ZTTP_H3_SETTINGS_HAS_ENABLE_CONNECT_PROTOCOL;
      break;
    case ZTTP_H3_SETTINGS_H3_DATAGRAM:
      /* RFC 9297 §2.1.1: 0 or 1. */
      if (value > 1) {
        return fail(err, ZTTP_H3_SETTINGS_ERROR);
      }
      out.h3_datagram = value;
      out.present |= ZTTP_H3_SETTINGS_HAS_H3_DATAGRAM;
      break;
    default:
      /* RFC 9114 §7.2.4: ignored. */
      out.num_unknown++;
      break;
    }
  }
  out.num_params = n;
  *s = out;
  return 0;
}

/* Reads exactly one varint from |rd|, which must then be empty. */
static int one_varint(zttp_rd *rd, uint64_t *v) {
  return zttp_rd_varint(rd, v) && zttp_rd_len(rd) == 0;
}

int32_t zttp_h3_varint_payload_parse(uint64_t *value, uint64_t *err,
                                     const uint8_t *p, size_t len) {
  zttp_rd rd;
  zttp_rd_init(&rd, p, len);
  uint64_t v;
  if (!one_varint(&rd, &v)) {
    /* RFC 9114 §7.1 */
    return fail(err, ZTTP_H3_FRAME_ERROR);
  }
  *value = v;
  return 0;
}

/* The bytes a Priority Field Value may hold: printable ASCII and HTAB (the
 * OWS of RFC 8941 §4.2). */
static int field_value_ok(const uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if ((p[i] < 0x20 && p[i] != '\t') || p[i] > 0x7e) {
      return 0;
    }
  }
  return 1;
}

/* RFC 9000 §2.1: client-initiated bidirectional streams are 0 mod 4. */
static int is_client_bidi(uint64_t stream_id) {
  return (stream_id & 3) == 0;
}

int32_t zttp_h3_priority_update_parse(zttp_h3_priority_update *pu,
                                      uint64_t *err, uint64_t type,
                                      const uint8_t *p, size_t len) {
  zttp_rd rd;
  zttp_rd_init(&rd, p, len);
  uint64_t id;
  if (!zttp_rd_varint(&rd, &id)) {
    return fail(err, ZTTP_H3_FRAME_ERROR);
  }
  if (type == ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST && !is_client_bidi(id)) {
    /* RFC 9218 §7.2 */
    return fail(err, ZTTP_H3_ID_ERROR);
  }
  size_t n = zttp_rd_len(&rd);
  const uint8_t *v = NULL;
  zttp_rd_bytes(&rd, &v, n);
  if (!field_value_ok(v, n)) {
    /* RFC 9218 §7 */
    return fail(err, ZTTP_H3_GENERAL_PROTOCOL_ERROR);
  }
  pu->element_id = id;
  pu->field_value = n != 0 ? v : NULL;
  pu->field_value_len = n;
  return 0;
}

int32_t zttp_h3_push_promise_parse(uint64_t *push_id, const uint8_t **fields,
                                   size_t *fields_len, uint64_t *err,
                                   const uint8_t *p, size_t len) {
  zttp_rd rd;
  zttp_rd_init(&rd, p, len);
  uint64_t id;
  if (!zttp_rd_varint(&rd, &id)) {
    /* RFC 9114 §7.1, §7.2.5 */
    return fail(err, ZTTP_H3_FRAME_ERROR);
  }
  size_t n = zttp_rd_len(&rd);
  const uint8_t *f = NULL;
  zttp_rd_bytes(&rd, &f, n);
  *push_id = id;
  *fields = n != 0 ? f : NULL;
  *fields_len = n;
  return 0;
}

/* ---- encoders ------------------------------------------------------------
 */

size_t zttp_h3_encode_frame_header(uint8_t *p, size_t cap, uint64_t type,
                                   uint64_t length) {
  if (type > ZTTP_VARINT_MAX || length > ZTTP_VARINT_MAX ||
      zttp_h3_frame_is_h2_reserved(type)) {
    return 0;
  }
  size_t n = zttp_varint_len(type) + zttp_varint_len(length);
  if (n > cap) {
    return 0;
  }
  uint8_t *q = zttp_varint_put(p, type);
  zttp_varint_put(q, length);
  return n;
}

size_t zttp_h3_encode_frame(uint8_t *p, size_t cap, uint64_t type,
                            const uint8_t *payload, size_t len) {
  size_t h = zttp_h3_encode_frame_header(p, cap, type, (uint64_t)len);
  if (h == 0 || len > cap - h) {
    return 0;
  }
  if (len != 0) {
    memcpy(p + h, payload, len);
  }
  return h + len;
}

/* The wire size of the parameters, or 0 with *ok = 0 when they are
 * refused. */
static size_t settings_len(const zttp_h3_setting *s, size_t num, int *ok) {
  size_t n = 0;
  *ok = 0;
  if (num > ZTTP_H3_MAX_SETTINGS) {
    return 0;
  }
  for (size_t i = 0; i < num; i++) {
    uint64_t id = s[i].id;
    uint64_t v = s[i].value;
    if (id > ZTTP_VARINT_MAX || v > ZTTP_VARINT_MAX ||
        zttp_h3_settings_is_h2_reserved(id)) {
      return 0;
    }
    if ((id == ZTTP_H3_SETTINGS_ENABLE_CONNECT_PROTOCOL ||
         id == ZTTP_H3_SETTINGS_H3_DATAGRAM) &&
        v > 1) {
      return 0;
    }
    for (size_t j = 0; j < i; j++) {
      if (s[j].id == id) {
        return 0;
      }
    }
    n += zttp_varint_len(id) + zttp_varint_len(v);
  }
  *ok = 1;
  return n;
}

size_t zttp_h3_encode_settings(uint8_t *p, size_t cap,
                               const zttp_h3_setting *settings,
                               size_t num_settings) {
  int ok;
  size_t plen = settings_len(settings, num_settings, &ok);
  if (!ok) {
    return 0;
  }
  size_t h = zttp_h3_encode_frame_header(p, cap, ZTTP_H3_FRAME_SETTINGS, plen);
  if (h == 0 || plen > cap - h) {
    return 0;
  }
  uint8_t *q = p + h;
  for (size_t i = 0; i < num_settings; i++) {
    q = zttp_varint_put(q, settings[i].id);
    q = zttp_varint_put(q, settings[i].value);
  }
  return h + plen;
}

size_t zttp_h3_encode_varint_frame(uint8_t *p, size_t cap, uint64_t type,
                                   uint64_t value) {
  if ((type != ZTTP_H3_FRAME_GOAWAY && type != ZTTP_H3_FRAME_MAX_PUSH_ID &&
       type != ZTTP_H3_FRAME_CANCEL_PUSH) ||
      value > ZTTP_VARINT_MAX) {
    return 0;
  }
  size_t plen = zttp_varint_len(value);
  size_t h = zttp_h3_encode_frame_header(p, cap, type, plen);
  if (h == 0 || plen > cap - h) {
    return 0;
  }
  zttp_varint_put(p + h, value);
  return h + plen;
}

size_t zttp_h3_encode_priority_update(uint8_t *p, size_t cap, uint64_t type,
                                      uint64_t element_id,
                                      const uint8_t *field_value, size_t len) {
  if ((type != ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST &&
       type != ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH) ||
      element_id > ZTTP_VARINT_MAX ||
      (type == ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST &&
       !is_client_bidi(element_id)) ||
      !field_value_ok(field_value, len)) {
    return 0;
  }
  size_t idlen = zttp_varint_len(element_id);
  if (len > ZTTP_VARINT_MAX - idlen) {
    return 0;
  }
  size_t plen = idlen + len;
  size_t h = zttp_h3_encode_frame_header(p, cap, type, plen);
  if (h == 0 || plen > cap - h) {
    return 0;
  }
  uint8_t *q = zttp_varint_put(p + h, element_id);
  if (len != 0) {
    memcpy(q, field_value, len);
  }
  return h + plen;
}

/* ---- HTTP/3 datagrams ----------------------------------------------------
 */

int32_t zttp_h3_datagram_decode(uint64_t *stream_id, const uint8_t **payload,
                                size_t *payload_len, uint64_t *err,
                                const uint8_t *data, size_t len) {
  zttp_rd rd;
  zttp_rd_init(&rd, data, len);
  uint64_t q;
  /* RFC 9297 §2.1: too short, or over 2^60 - 1. */
  if (!zttp_rd_varint(&rd, &q) || q > ZTTP_H3_MAX_QUARTER_STREAM_ID) {
    *err = ZTTP_H3_DATAGRAM_ERROR;
    return ZTTP_ERR_PROTOCOL;
  }
  size_t n = zttp_rd_len(&rd);
  const uint8_t *d = NULL;
  zttp_rd_bytes(&rd, &d, n);
  *stream_id = q << 2;
  *payload = n != 0 ? d : NULL;
  *payload_len = n;
  return 0;
}

size_t zttp_h3_encode_datagram_prefix(uint8_t *p, size_t cap,
                                      uint64_t stream_id) {
  if (stream_id > ZTTP_VARINT_MAX || !is_client_bidi(stream_id)) {
    return 0;
  }
  uint64_t q = stream_id >> 2;
  if (zttp_varint_len(q) > cap) {
    return 0;
  }
  return (size_t)(zttp_varint_put(p, q) - p);
}
