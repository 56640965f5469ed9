/* The HTTP/3 engine's receive side (RFC 9114 §4, §6, §7; RFC 9204 §4.2):
 * stream bytes in, events out. Each step reads one frame event of one
 * stream straight from the QUIC receive buffer (zttp_quic_conn_stream_peek),
 * so a DATA event points into it; the bytes are consumed on the next call.
 * SPDX-License-Identifier: MIT */
#include <string.h>

#include "common/msg.h"
#include "common/reader.h"
#include "h3/conn.h"

/* Marks |n| bytes of |id| read; |credit| of them return flow credit now
 * (everything but DATA payload, which waits for data_consumed). */
static void take(h3_engine *e, uint64_t id, size_t n, size_t credit) {
  if (n > 0) {
    zttp_quic_conn_stream_consume(e->qc, id, n);
  }
  if (credit > 0) {
    zttp_quic_conn_stream_credit(e->qc, id, credit);
  }
}

void zttp_h3_discard(h3_engine *e, uint64_t id) {
  const uint8_t *p;
  int fin;
  for (int i = 0; i < 64; i++) {
    int64_t n = zttp_quic_conn_stream_peek(e->qc, id, &p, &fin);
    if (n <= 0) {
      return;
    }
    take(e, id, (size_t)n, (size_t)n);
  }
}

/* ---- header sections on request streams ----------------------------------
 */

/* Counts and sizes a decoded section against |max_fields| and |max_bytes|
 * (RFC 9114 §4.2.2 size: name + value + 32 per field). */
static int section_fits(const zttp_qpack_fields *f, uint64_t max_fields,
                        uint64_t max_bytes) {
  if (f->num_fields > max_fields) {
    return 0;
  }
  uint64_t sz = 0;
  for (size_t i = 0; i < f->num_fields; i++) {
    sz += f->fields[i].name_len + f->fields[i].value_len + 32;
  }
  return sz <= max_bytes;
}

/* A request (server). */
static int32_t on_request(zttp_conn *conn, h3_engine *e, h3_stream *s,
                          zttp_event *ev, int at_end) {
  zttp_header *f = e->fields.fields;
  size_t num = e->fields.num_fields;
  if (num > zttp_h3_limit(conn, ZTTP_LIMIT_MAX_HEADERS)) {
    return zttp_h3_stream_error(conn, e, s, ZTTP_H3_EXCESSIVE_LOAD);
  }
  zttp_msg msg;
  const char *why = NULL;
  if (zttp_msg_check(&msg, &why, f, num, ZTTP_MSG_REQUEST,
                     e->connect_protocol) != 0 ||
      (at_end && msg.content_length > 0)) {
    /* RFC 9114 §4.1.2 */
    return zttp_h3_stream_error(conn, e, s, ZTTP_H3_MESSAGE_ERROR);
  }
  int connect = zttp_msg_is_connect(msg.method);
  s->recv = at_end ? H3R_DONE : H3R_BODY;
  s->recv_cl = connect ? -1 : msg.content_length;
  s->flags |= H3F_SEEN;
  if (connect) {
    s->flags |= H3F_CONNECT;
  }
  if (msg.method.len == 4 && memcmp(msg.method.base, "HEAD", 4) == 0) {
    s->flags |= H3F_HEAD;
  }
  if (msg.has_priority) {
    /* RFC 9218 §4: the response is scheduled by it. */
    zttp_quic_conn_stream_set_priority(e->qc, s->id, msg.urgency,
                                       msg.incremental);
  }
  /* RFC 9114 §4.3.1 (as HTTP/2 does) */
  zttp_msg_request_event(ev, f, num, &msg, (int64_t)s->id, at_end, 30);
  if (at_end) {
    int32_t rv =
        zttp_h3_enqueue(conn, e, ZTTP_EVENT_END_MESSAGE, 0, (int64_t)s->id, 0);
    if (rv != 0) {
      return rv;
    }
  }
  return 1;
}

/* A response (client) or trailers (either role). */
static int32_t on_response_or_trailers(zttp_conn *conn, h3_engine *e,
                                       h3_stream *s, zttp_event *ev,
                                       int at_end) {
  zttp_header *f = e->fields.fields;
  size_t num = e->fields.num_fields;
  int trailers = s->recv == H3R_BODY;
  uint64_t max_fields = zttp_h3_limit(conn, trailers ? ZTTP_LIMIT_MAX_TRAILERS
                                                     : ZTTP_LIMIT_MAX_HEADERS);
  uint64_t max_bytes =
      trailers ? zttp_h3_limit(conn, ZTTP_LIMIT_MAX_TRAILER_BYTES) : UINT64_MAX;
  if (!section_fits(&e->fields, max_fields, max_bytes)) {
    return zttp_h3_stream_error(conn, e, s, ZTTP_H3_EXCESSIVE_LOAD);
  }
  zttp_msg msg;
  const char *why = NULL;
  int bad =
      zttp_msg_check(&msg, &why, f, num,
                     trailers ? ZTTP_MSG_TRAILERS : ZTTP_MSG_RESPONSE, 0) != 0;
  if (!bad && !trailers && msg.status < 200 && (msg.status == 101 || at_end)) {
    bad = 1; /* RFC 9114 §4.1: no 101; a 1xx never ends the stream */
  }
  if (!bad && trailers && s->recv_cl >= 0 && !(s->flags & H3F_BODYLESS) &&
      (uint64_t)s->recv_cl != s->recv_bytes) {
    bad = 1; /* RFC 9114 §4.1.2: content-length differs from the DATA */
  }
  if (!bad && !trailers && msg.status >= 200 && at_end &&
      msg.content_length > 0 && !(s->flags & H3F_HEAD) && msg.status != 304) {
    bad = 1;
  }
  if (bad) {
    return zttp_h3_stream_error(conn, e, s, ZTTP_H3_MESSAGE_ERROR);
  }
  ev->stream_id = (int64_t)s->id;
  ev->flags = 0;
  if (trailers) {
    s->recv = at_end ? H3R_DONE : H3R_TRAILERS;
    ev->kind = ZTTP_EVENT_END_MESSAGE;
    ev->u.end.trailers = f;
    ev->u.end.num_trailers = num;
    return 1;
  }
  zttp_msg_response_event(ev, f, num, &msg, (int64_t)s->id, 0, 30);
  if (msg.status >= 200) {
    if ((s->flags & H3F_HEAD) || msg.status == 204 || msg.status == 304) {
      s->flags |= H3F_BODYLESS;
    } else if (!(s->flags & H3F_CONNECT)) {
      s->recv_cl = msg.content_length;
    }
    s->recv = at_end ? H3R_DONE : H3R_BODY;
    if (at_end) {
      ev->flags = ZTTP_EVENT_FLAG_END_STREAM;
      return zttp_h3_enqueue(conn, e, ZTTP_EVENT_END_MESSAGE, 0, (int64_t)s->id,
                             0) == 0
                 ? 1
                 : conn->fatal;
    }
  }
  return 1;
}

/* A decoded section on |s|. */
static int32_t on_fields(zttp_conn *conn, h3_engine *e, h3_stream *s,
                         zttp_event *ev, int at_end) {
  if (conn->role == ZTTP_SERVER && s->recv == H3R_HEADERS) {
    return on_request(conn, e, s, ev, at_end);
  }
  return on_response_or_trailers(conn, e, s, ev, at_end);
}

/* A QPACK decode result other than 0 or BLOCKED. */
static int32_t decode_failed(zttp_conn *conn, h3_engine *e, h3_stream *s,
                             int32_t rv) {
  if (rv == ZTTP_ERR_LIMIT_HEADER_BYTES && s != NULL) {
    /* RFC 9114 §4.2.2: past our SETTINGS_MAX_FIELD_SECTION_SIZE. */
    zttp_qpack_decoder_cancel_stream(&e->dec, s->id);
    return zttp_h3_stream_error(conn, e, s, ZTTP_H3_EXCESSIVE_LOAD);
  }
  uint64_t wire = zttp_qpack_decoder_wire_error(&e->dec);
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    rv = ZTTP_ERR_ENHANCE_YOUR_CALM;
    wire = ZTTP_H3_EXCESSIVE_LOAD;
  }
  return zttp_h3_fail(conn, rv, wire != 0 ? wire : ZTTP_H3_INTERNAL_ERROR,
                      "QPACK: %s", zttp_strerror(rv));
}

/* A HEADERS frame on request stream |s|. */
static int32_t on_headers(zttp_conn *conn, h3_engine *e, h3_stream *s,
                          zttp_event *ev, const uint8_t *p, size_t len,
                          int at_end) {
  if (s->recv >= H3R_TRAILERS) {
    /* RFC 9114 §4.1: nothing but FIN after trailers. */
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_FRAME_UNEXPECTED,
                        "HEADERS after trailers on stream %llu",
                        (unsigned long long)s->id);
  }
  int32_t rv = zttp_qpack_decode(&e->dec, &e->fields, s->id, p, len);
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    zttp_h3_flush_qpack(conn, e);
    rv = zttp_qpack_decode(&e->dec, &e->fields, s->id, p, len);
  }
  if (rv == ZTTP_QPACK_BLOCKED) {
    /* RFC 9204 §2.1.2: resumed when the inserts arrive. */
    s->flags |= H3F_BLOCKED;
    zttp_h3_ready_remove(e, s);
    return 0;
  }
  if (rv != 0) {
    return decode_failed(conn, e, s, rv);
  }
  return on_fields(conn, e, s, ev, at_end);
}

int32_t zttp_h3_qpack_resume(zttp_conn *conn, h3_engine *e, zttp_event *ev) {
  uint64_t sid = 0;
  int32_t rv = zttp_qpack_decoder_next_ready(&e->dec, &e->fields, &sid);
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    zttp_h3_flush_qpack(conn, e);
    rv = zttp_qpack_decoder_next_ready(&e->dec, &e->fields, &sid);
  }
  if (rv == 0) {
    e->qpack_ready = 0;
    return 0;
  }
  h3_stream *s = zttp_h3_find(e, sid);
  if (rv < 0) {
    if (s != NULL) {
      s->flags &= (uint8_t)~H3F_BLOCKED;
    }
    return decode_failed(conn, e, s, rv);
  }
  if (s == NULL || !(s->flags & H3F_BLOCKED)) {
    return 0;
  }
  s->flags &= (uint8_t)~H3F_BLOCKED;
  zttp_h3_ready_push(e, s);
  return on_fields(conn, e, s, ev, 0);
}

/* ---- the control stream (RFC 9114 §6.2.1, §7.2) ---------------------------
 */

static int32_t on_settings(zttp_conn *conn, h3_engine *e, zttp_event *ev,
                           const uint8_t *p, size_t len) {
  zttp_h3_settings st;
  uint64_t werr = 0;
  int32_t rv = zttp_h3_settings_parse(&st, &werr, p, len);
  if (rv != 0) {
    return zttp_h3_fail(conn, rv, werr, "malformed SETTINGS");
  }
  e->peer_settings = 1;
  e->peer_max_field_section = st.max_field_section_size;
  e->peer_connect_protocol = st.enable_connect_protocol != 0;
  e->peer_datagrams = st.h3_datagram != 0;
  /* RFC 9204 §3.2.3, §2.1.2 */
  zttp_qpack_encoder_set_peer_settings(&e->enc, st.qpack_max_table_capacity,
                                       st.qpack_blocked_streams);
  zttp_rd rd;
  zttp_rd_init(&rd, p, len);
  size_t n = 0;
  uint64_t id, value;
  while (n < ZTTP_H3_MAX_SETTINGS && zttp_h3_settings_next(&rd, &id, &value)) {
    e->settings_ev[n].id = id;
    e->settings_ev[n].value = value;
    n++;
  }
  if ((rv = zttp_h3_flush_qpack(conn, e)) != 0) {
    return rv;
  }
  ev->kind = ZTTP_EVENT_SETTINGS;
  ev->stream_id = 0;
  ev->u.settings.settings = e->settings_ev;
  ev->u.settings.num_settings = n;
  return 1;
}

/* The peer's GOAWAY (RFC 9114 §5.2). */
static int32_t on_goaway(zttp_conn *conn, h3_engine *e, zttp_event *ev,
                         const uint8_t *p, size_t len) {
  uint64_t id, werr = 0;
  int32_t rv = zttp_h3_varint_payload_parse(&id, &werr, p, len);
  if (rv != 0) {
    return zttp_h3_fail(conn, rv, werr, "malformed GOAWAY");
  }
  if ((conn->role == ZTTP_CLIENT && (id & 3u) != 0) ||
      (e->peer_goaway && id > e->peer_goaway_id)) {
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_ID_ERROR,
                        "GOAWAY id %llu invalid", (unsigned long long)id);
  }
  e->peer_goaway = 1;
  e->peer_goaway_id = id;
  if (conn->role == ZTTP_CLIENT) {
    /* Our requests at or past |id| were not processed: safe to retry. */
    for (size_t i = 0; i < e->cap; i++) {
      h3_stream *s = e->slots[i];
      if (s != NULL && s->kind == H3S_REQUEST && (s->flags & H3F_LOCAL) &&
          s->id >= id) {
        zttp_quic_conn_stream_reset(e->qc, s->id, ZTTP_H3_REQUEST_CANCELLED);
        zttp_quic_conn_stream_stop_sending(e->qc, s->id,
                                           ZTTP_H3_REQUEST_CANCELLED);
        if ((rv = zttp_h3_enqueue(conn, e, ZTTP_EVENT_STREAM_RESET, 0,
                                  (int64_t)s->id, ZTTP_H3_REQUEST_REJECTED)) !=
            0) {
          return rv;
        }
        s->kind = H3S_DISCARD;
        s->send = H3T_DONE;
        e->num_requests--;
      }
    }
  }
  ev->kind = ZTTP_EVENT_GOAWAY;
  ev->stream_id = 0;
  ev->u.goaway.last_stream_id = (int64_t)id;
  ev->u.goaway.error_code = ZTTP_H3_NO_ERROR;
  ev->u.goaway.debug_data.base = NULL;
  ev->u.goaway.debug_data.len = 0;
  return 1;
}

/* PRIORITY_UPDATE (RFC 9218 §7.2), server only. */
static int32_t on_priority_update(zttp_conn *conn, h3_engine *e, zttp_event *ev,
                                  uint64_t type, const uint8_t *p, size_t len) {
  zttp_h3_priority_update pu;
  uint64_t werr = 0;
  int32_t rv = zttp_h3_priority_update_parse(&pu, &werr, type, p, len);
  if (rv != 0) {
    return zttp_h3_fail(conn, rv, werr, "malformed PRIORITY_UPDATE");
  }
  if (type == ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH) {
    /* We never promise a push. */
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_ID_ERROR,
                        "PRIORITY_UPDATE for push %llu",
                        (unsigned long long)pu.element_id);
  }
  h3_stream *s = zttp_h3_find(e, pu.element_id);
  if (s == NULL || s->kind != H3S_REQUEST) {
    return 0; /* closed, or not open yet: ignored (RFC 9218 §7.2 MAY) */
  }
  uint8_t u = 3, inc = 0;
  zttp_msg_priority_parse(&u, &inc, (const char *)pu.field_value,
                          pu.field_value_len);
  zttp_quic_conn_stream_set_priority(e->qc, s->id, u, inc);
  if (!(s->flags & H3F_SEEN)) {
    return 0;
  }
  ev->kind = ZTTP_EVENT_PRIORITY;
  ev->stream_id = (int64_t)s->id;
  ev->u.priority.urgency = u;
  ev->u.priority.incremental = inc;
  return 1;
}

/* Whether frame |type| may arrive on control stream |s| now. */
static int32_t control_header(zttp_conn *conn, h3_engine *e, uint64_t type) {
  if (!e->peer_settings && type != ZTTP_H3_FRAME_SETTINGS) {
    /* RFC 9114 §6.2.1 */
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_MISSING_SETTINGS,
                        "%s before SETTINGS", zttp_h3_frame_name(type));
  }
  int bad = 0;
  switch (type) {
  case ZTTP_H3_FRAME_SETTINGS:
    bad = e->peer_settings; /* §7.2.4: once */
    break;
  case ZTTP_H3_FRAME_DATA:
  case ZTTP_H3_FRAME_HEADERS:
  case ZTTP_H3_FRAME_PUSH_PROMISE:
    bad = 1; /* §7.2.1, §7.2.2, §7.2.5 */
    break;
  case ZTTP_H3_FRAME_MAX_PUSH_ID:
    bad = conn->role == ZTTP_CLIENT; /* §7.2.7 */
    break;
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST:
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH:
    bad = conn->role == ZTTP_CLIENT; /* RFC 9218 §7.2 */
    break;
  default:
    break;
  }
  if (bad) {
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_FRAME_UNEXPECTED,
                        "%s on the control stream", zttp_h3_frame_name(type));
  }
  return 0;
}

/* A complete control frame payload. */
static int32_t control_payload(zttp_conn *conn, h3_engine *e, zttp_event *ev,
                               uint64_t type, const uint8_t *p, size_t len) {
  uint64_t v, werr = 0;
  int32_t rv;
  switch (type) {
  case ZTTP_H3_FRAME_SETTINGS:
    return on_settings(conn, e, ev, p, len);
  case ZTTP_H3_FRAME_GOAWAY:
    return on_goaway(conn, e, ev, p, len);
  case ZTTP_H3_FRAME_MAX_PUSH_ID:
    if ((rv = zttp_h3_varint_payload_parse(&v, &werr, p, len)) != 0) {
      return zttp_h3_fail(conn, rv, werr, "malformed MAX_PUSH_ID");
    }
    if (e->max_push_id > v + 1) {
      return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_ID_ERROR,
                          "MAX_PUSH_ID decreased");
    }
    e->max_push_id = v + 1;
    return 0;
  case ZTTP_H3_FRAME_CANCEL_PUSH:
    if ((rv = zttp_h3_varint_payload_parse(&v, &werr, p, len)) != 0) {
      return zttp_h3_fail(conn, rv, werr, "malformed CANCEL_PUSH");
    }
    if (conn->role == ZTTP_CLIENT || v >= e->max_push_id) {
      /* RFC 9114 §7.2.3: a push id never allowed or promised. */
      return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_ID_ERROR,
                          "CANCEL_PUSH %llu", (unsigned long long)v);
    }
    return 0;
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST:
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH:
    return on_priority_update(conn, e, ev, type, p, len);
  default:
    return 0;
  }
}

/* ---- request streams (RFC 9114 §4.1) ------------------------------------ */

/* Whether frame |type| may arrive on request stream |s| now. */
static int32_t request_header(zttp_conn *conn, h3_engine *e, h3_stream *s,
                              uint64_t type) {
  (void)e;
  switch (type) {
  case ZTTP_H3_FRAME_DATA:
    if (s->recv != H3R_BODY) {
      /* §4.1: DATA before the final head, or after trailers. */
      return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_FRAME_UNEXPECTED,
                          "DATA out of place on stream %llu",
                          (unsigned long long)s->id);
    }
    return 0;
  case ZTTP_H3_FRAME_HEADERS:
    return 0;
  case ZTTP_H3_FRAME_PUSH_PROMISE:
    if (conn->role == ZTTP_CLIENT) {
      /* §7.2.5: we never sent MAX_PUSH_ID. */
      return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_ID_ERROR,
                          "PUSH_PROMISE without MAX_PUSH_ID");
    }
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_FRAME_UNEXPECTED,
                        "PUSH_PROMISE from a client");
  case ZTTP_H3_FRAME_CANCEL_PUSH:
  case ZTTP_H3_FRAME_SETTINGS:
  case ZTTP_H3_FRAME_GOAWAY:
  case ZTTP_H3_FRAME_MAX_PUSH_ID:
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST:
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH:
    /* §7.2.3, §7.2.4, §7.2.6, §7.2.7; RFC 9218 §7.2 */
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_FRAME_UNEXPECTED,
                        "%s on request stream %llu", zttp_h3_frame_name(type),
                        (unsigned long long)s->id);
  default:
    return 0; /* §9: unknown frame types are ignored */
  }
}

/* The end of request stream |s| (FIN read, frame boundary checked). */
static int32_t request_end(zttp_conn *conn, h3_engine *e, h3_stream *s,
                           zttp_event *ev) {
  switch (s->recv) {
  case H3R_HEADERS:
    /* §4.1.2: a stream ending without a (final) head. */
    return zttp_h3_stream_error(conn, e, s, ZTTP_H3_REQUEST_INCOMPLETE);
  case H3R_BODY:
    if (s->recv_cl >= 0 && !(s->flags & H3F_BODYLESS) &&
        (uint64_t)s->recv_cl != s->recv_bytes) {
      return zttp_h3_stream_error(conn, e, s, ZTTP_H3_MESSAGE_ERROR);
    }
    s->recv = H3R_DONE;
    ev->kind = ZTTP_EVENT_END_MESSAGE;
    ev->stream_id = (int64_t)s->id;
    ev->flags = 0;
    ev->u.end.trailers = NULL;
    ev->u.end.num_trailers = 0;
    return 1;
  default:
    s->recv = H3R_DONE;
    return 0;
  }
}

/* One frame event on a control or request stream. */
static int32_t frame_step(zttp_conn *conn, h3_engine *e, h3_stream *s,
                          zttp_event *ev, const uint8_t *p, size_t n, int fin) {
  zttp_h3_frame_event fe;
  uint64_t werr = 0;
  int64_t took = zttp_h3_frame_read(&s->fr, &fe, &werr, p, n);
  if (took < 0) {
    return zttp_h3_fail(conn, (int32_t)took, werr, "stream %llu: %s",
                        (unsigned long long)s->id,
                        zttp_strerror((int32_t)took));
  }
  int control = s->kind == H3S_CONTROL;
  uint64_t id = s->id;
  int32_t rv = 0;
  switch (fe.kind) {
  case ZTTP_H3_FEV_NEED_DATA:
    take(e, id, (size_t)took, (size_t)took);
    if (!fin) {
      zttp_h3_ready_remove(e, s);
      return 0;
    }
    if ((rv = zttp_h3_frame_reader_finish(&s->fr, &werr)) != 0) {
      return zttp_h3_fail(conn, rv, werr, "stream %llu ends inside a frame",
                          (unsigned long long)id);
    }
    if (control) {
      return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL,
                          ZTTP_H3_CLOSED_CRITICAL_STREAM,
                          "control stream closed");
    }
    rv = request_end(conn, e, s, ev);
    if (s->kind == H3S_DISCARD) {
      zttp_h3_stream_free(conn, e, s);
    } else {
      zttp_h3_ready_remove(e, s);
      zttp_h3_maybe_release(conn, e, s);
    }
    return rv;
  case ZTTP_H3_FEV_HEADER:
    rv = control ? control_header(conn, e, fe.type)
                 : request_header(conn, e, s, fe.type);
    take(e, id, (size_t)took, (size_t)took);
    return rv;
  case ZTTP_H3_FEV_DATA:
    /* Only request streams get here (control_header refused DATA). */
    if ((s->flags & H3F_BODYLESS) ||
        (s->recv_cl >= 0 && s->recv_bytes + fe.len > (uint64_t)s->recv_cl)) {
      /* RFC 9114 §4.1.2: content beyond content-length or on a bodyless
       * response. */
      take(e, id, (size_t)took, (size_t)took);
      return zttp_h3_stream_error(conn, e, s, ZTTP_H3_MESSAGE_ERROR);
    }
    s->recv_bytes += fe.len;
    s->uncredited += fe.len;
    e->pend = 1;
    e->pend_stream = id;
    e->pend_len = (size_t)took;
    ev->kind = ZTTP_EVENT_DATA;
    ev->stream_id = (int64_t)id;
    ev->flags = 0;
    ev->u.data.data = fe.data;
    ev->u.data.len = fe.len;
    return 1;
  case ZTTP_H3_FEV_PAYLOAD:
  default: {
    int at_end = fin && (size_t)took == n;
    if (control) {
      rv = control_payload(conn, e, ev, fe.type, fe.data, fe.len);
    } else if (fe.type == ZTTP_H3_FRAME_HEADERS) {
      rv = on_headers(conn, e, s, ev, fe.data, fe.len, at_end);
    }
    if (conn->fatal != 0) {
      return conn->fatal;
    }
    take(e, id, (size_t)took, (size_t)took);
    if (at_end && s->kind == H3S_REQUEST && s->recv == H3R_DONE) {
      /* The FIN was read with the section (§4.1). */
      zttp_h3_ready_remove(e, s);
      zttp_h3_maybe_release(conn, e, s);
    } else if (at_end && s->kind == H3S_REQUEST && s->recv == H3R_TRAILERS) {
      s->recv = H3R_DONE;
      zttp_h3_ready_remove(e, s);
      zttp_h3_maybe_release(conn, e, s);
    }
    return rv;
  }
  }
}

/* Reads the type of a peer unidirectional stream (RFC 9114 §6.2). */
static int32_t uni_type(zttp_conn *conn, h3_engine *e, h3_stream *s,
                        const uint8_t *p, size_t n) {
  int done = 0;
  size_t took = zttp_h3_varint_read(&s->vr, &done, p, n);
  take(e, s->id, took, took);
  if (!done) {
    return 0;
  }
  uint64_t type = s->vr.value;
  uint8_t *seen = NULL;
  switch (type) {
  case ZTTP_H3_STREAM_CONTROL:
    seen = &e->peer_ctrl;
    s->kind = H3S_CONTROL;
    break;
  case ZTTP_H3_STREAM_QPACK_ENCODER:
    seen = &e->peer_enc;
    s->kind = H3S_QPACK_ENC;
    break;
  case ZTTP_H3_STREAM_QPACK_DECODER:
    seen = &e->peer_dec;
    s->kind = H3S_QPACK_DEC;
    break;
  case ZTTP_H3_STREAM_PUSH:
    /* §6.2.2: only servers push, and we never sent MAX_PUSH_ID. */
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL,
                        conn->role == ZTTP_SERVER
                            ? ZTTP_H3_STREAM_CREATION_ERROR
                            : ZTTP_H3_ID_ERROR,
                        "push stream");
  default:
    /* §6.2.3, §9: unknown and reserved types are refused and ignored. */
    zttp_quic_conn_stream_stop_sending(e->qc, s->id,
                                       ZTTP_H3_STREAM_CREATION_ERROR);
    s->kind = H3S_DISCARD;
    return 0;
  }
  if (*seen) {
    /* §6.2.1, RFC 9204 §4.2: at most one of each. */
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_STREAM_CREATION_ERROR,
                        "second stream of type %llu", (unsigned long long)type);
  }
  *seen = 1;
  return 0;
}

/* Input on a peer QPACK stream (RFC 9204 §4.2). */
static int32_t qpack_input(zttp_conn *conn, h3_engine *e, h3_stream *s,
                           const uint8_t *p, size_t n, int fin) {
  int32_t rv = 0;
  if (n > 0) {
    if (s->kind == H3S_QPACK_ENC) {
      rv = zttp_qpack_decoder_receive_encoder_stream(&e->dec, p, n);
      if (rv > 0) {
        e->qpack_ready = 1;
        rv = 0;
      }
    } else {
      rv = zttp_qpack_encoder_receive_decoder_stream(&e->enc, p, n);
    }
    if (rv < 0) {
      uint64_t wire = s->kind == H3S_QPACK_ENC
                          ? zttp_qpack_decoder_wire_error(&e->dec)
                          : zttp_qpack_encoder_wire_error(&e->enc);
      return zttp_h3_fail(conn, rv,
                          wire != 0 ? wire : ZTTP_QPACK_ENCODER_STREAM_ERROR,
                          "QPACK stream: %s", zttp_strerror(rv));
    }
    take(e, s->id, n, n);
  }
  if (fin) {
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_CLOSED_CRITICAL_STREAM,
                        "QPACK stream closed");
  }
  zttp_h3_ready_remove(e, s);
  return zttp_h3_flush_qpack(conn, e);
}

int32_t zttp_h3_stream_step(zttp_conn *conn, h3_engine *e, h3_stream *s,
                            zttp_event *ev) {
  if (s->flags & H3F_BLOCKED) {
    zttp_h3_ready_remove(e, s);
    return 0;
  }
  const uint8_t *p;
  int fin;
  int64_t n = zttp_quic_conn_stream_peek(e->qc, s->id, &p, &fin);
  if (n == ZTTP_ERR_STREAM_NOT_FOUND) {
    /* The QUIC layer releases a stream once it was read to its FIN (and
     * its send side finished): that was the end of it. */
    p = NULL;
    n = 0;
    fin = 1;
  } else if (n < 0) {
    /* Reset: its event follows. */
    zttp_h3_ready_remove(e, s);
    return 0;
  }
  switch (s->kind) {
  case H3S_UNI_TYPE:
    if (n == 0) {
      zttp_h3_ready_remove(e, s);
      if (fin) {
        zttp_h3_stream_free(conn, e, s); /* §6.2: no type: ignored */
      }
      return 0;
    }
    return uni_type(conn, e, s, p, (size_t)n);
  case H3S_DISCARD:
    take(e, s->id, (size_t)n, (size_t)n);
    zttp_h3_ready_remove(e, s);
    if (fin) {
      zttp_h3_stream_free(conn, e, s);
    }
    return 0;
  case H3S_QPACK_ENC:
  case H3S_QPACK_DEC:
    return qpack_input(conn, e, s, p, (size_t)n, fin);
  default:
    return frame_step(conn, e, s, ev, p, (size_t)n, fin);
  }
}
