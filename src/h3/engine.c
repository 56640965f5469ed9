/* The HTTP/3 engine (RFC 9114): life cycle, the QUIC plumbing (datagrams in
 * and out, timers, QUIC events), the stream table, the event queue,
 * connection errors and the vtable. Stream input is in recv.c, output in
 * send.c.
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "h3/conn.h"
#include "h3/h3.h"
#include "quic/packet.h"

/* ---- the stream table ------------------------------------------------- */

static size_t slot_of(uint64_t id, size_t cap) {
  uint64_t h = (id >> 2) * 0x9E3779B97F4A7C15ull;
  h ^= h >> 31;
  return (size_t)(h ^ (id & 3u) << 7) & (cap - 1);
}

h3_stream *zttp_h3_find(const h3_engine *e, uint64_t id) {
  if (e->cap == 0) {
    return NULL;
  }
  size_t i = slot_of(id, e->cap);
  while (e->slots[i] != NULL) {
    if (e->slots[i]->id == id) {
      return e->slots[i];
    }
    i = (i + 1) & (e->cap - 1);
  }
  return NULL;
}

/* Doubles the table (load factor at most 1/2). */
static int32_t table_grow(zttp_conn *conn, h3_engine *e) {
  size_t cap = e->cap == 0 ? 16 : e->cap * 2;
  h3_stream **slots = zttp_mem_calloc(&conn->mem, cap, sizeof(*slots));
  if (slots == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  for (size_t i = 0; i < e->cap; i++) {
    h3_stream *s = e->slots[i];
    if (s != NULL) {
      size_t j = slot_of(s->id, cap);
      while (slots[j] != NULL) {
        j = (j + 1) & (cap - 1);
      }
      slots[j] = s;
    }
  }
  zttp_mem_free(&conn->mem, e->slots);
  e->slots = slots;
  e->cap = cap;
  return 0;
}

h3_stream *zttp_h3_stream_new(zttp_conn *conn, h3_engine *e, uint64_t id,
                              uint8_t kind) {
  if ((e->count + 1) * 2 > e->cap && table_grow(conn, e) != 0) {
    return NULL;
  }
  h3_stream *s = e->free_list;
  uint8_t *buf = NULL;
  size_t buf_cap = 0;
  if (s != NULL) {
    e->free_list = s->ready_next;
    e->free_count--;
    /* The frame reader's buffer is kept: zttp_h3_frame_reader_init() would
     * only forget it (the reader copies into it from offset 0). */
    buf = s->fr.buf;
    buf_cap = s->fr.buf_cap;
  } else {
    s = zttp_mem_malloc(&conn->mem, sizeof(*s));
    if (s == NULL) {
      return NULL;
    }
  }
  memset(s, 0, sizeof(*s));
  s->id = id;
  s->kind = kind;
  s->recv_cl = -1;
  s->send_cl = -1;
  uint64_t max_fields = zttp_h3_limit(conn, ZTTP_LIMIT_MAX_HEADER_BYTES);
  zttp_h3_frame_reader_init(&s->fr, &conn->mem,
                            ZTTP_H3_DEFAULT_MAX_CONTROL_PAYLOAD, max_fields);
  s->fr.buf = buf;
  s->fr.buf_cap = buf_cap;
  size_t i = slot_of(id, e->cap);
  while (e->slots[i] != NULL) {
    i = (i + 1) & (e->cap - 1);
  }
  e->slots[i] = s;
  e->count++;
  if (kind == H3S_REQUEST) {
    e->num_requests++;
  }
  return s;
}

void zttp_h3_ready_remove(h3_engine *e, h3_stream *s) {
  if (!(s->flags & H3F_READY)) {
    return;
  }
  h3_stream **pp = &e->ready_head;
  h3_stream *prev = NULL;
  while (*pp != NULL && *pp != s) {
    prev = *pp;
    pp = &(*pp)->ready_next;
  }
  if (*pp == s) {
    *pp = s->ready_next;
    if (e->ready_tail == s) {
      e->ready_tail = prev;
    }
  }
  s->ready_next = NULL;
  s->flags &= (uint8_t)~H3F_READY;
}

void zttp_h3_ready_push(h3_engine *e, h3_stream *s) {
  if (s->flags & H3F_READY) {
    return;
  }
  s->flags |= H3F_READY;
  s->ready_next = NULL;
  if (e->ready_tail != NULL) {
    e->ready_tail->ready_next = s;
  } else {
    e->ready_head = s;
  }
  e->ready_tail = s;
}

void zttp_h3_stream_free(zttp_conn *conn, h3_engine *e, h3_stream *s) {
  zttp_h3_ready_remove(e, s);
  size_t i = slot_of(s->id, e->cap);
  while (e->slots[i] != s) {
    i = (i + 1) & (e->cap - 1);
  }
  /* Backward-shift deletion (linear probing without tombstones). */
  size_t j = i;
  for (;;) {
    e->slots[i] = NULL;
    for (;;) {
      j = (j + 1) & (e->cap - 1);
      if (e->slots[j] == NULL) {
        goto done;
      }
      size_t k = slot_of(e->slots[j]->id, e->cap);
      /* Move slots[j] to i unless its home k lies cyclically in (i, j]. */
      if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) {
        continue;
      }
      break;
    }
    e->slots[i] = e->slots[j];
    i = j;
  }
done:
  e->count--;
  if (s->kind == H3S_REQUEST) {
    e->num_requests--;
  }
  if (s->flags & H3F_BLOCKED) {
    zttp_qpack_decoder_cancel_stream(&e->dec, s->id);
  }
  if (e->free_count < ZTTP_H3_FREE_STREAMS_MAX) {
    if (s->fr.buf_cap > ZTTP_H3_KEEP_READER_BUF) {
      zttp_h3_frame_reader_free(&s->fr);
    }
    s->ready_next = e->free_list;
    e->free_list = s;
    e->free_count++;
    return;
  }
  zttp_h3_frame_reader_free(&s->fr);
  zttp_mem_free(&conn->mem, s);
}

/* Frees the streams kept for reuse. */
static void free_list_clear(zttp_conn *conn, h3_engine *e) {
  while (e->free_list != NULL) {
    h3_stream *s = e->free_list;
    e->free_list = s->ready_next;
    zttp_h3_frame_reader_free(&s->fr);
    zttp_mem_free(&conn->mem, s);
  }
  e->free_count = 0;
}

void zttp_h3_maybe_release(zttp_conn *conn, h3_engine *e, h3_stream *s) {
  if (s->kind == H3S_REQUEST && s->recv == H3R_DONE && s->send == H3T_DONE) {
    zttp_h3_stream_free(conn, e, s);
  }
}

/* ---- events ------------------------------------------------------------ */

int32_t zttp_h3_enqueue(zttp_conn *conn, h3_engine *e, uint32_t kind,
                        uint32_t flags, int64_t stream_id, uint64_t code) {
  if (zttp_evq_push(&e->evq, kind, flags, stream_id, code) != 0) {
    return zttp_h3_fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
                        ZTTP_H3_EXCESSIVE_LOAD, "event queue full");
  }
  return 0;
}

/* ---- errors ------------------------------------------------------------ */

int32_t zttp_h3_fail(zttp_conn *conn, int32_t err, uint64_t wire,
                     const char *fmt, ...) {
  h3_engine *e = zttp_h3_eng(conn);
  char msg[ZTTP_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (conn->fatal != 0) {
    return conn->fatal;
  }
  /* RFC 9114 §8: a connection error is a CONNECTION_CLOSE with the code;
   * the closing period keeps answering with it (write_datagram). */
  if (e->qc != NULL && !e->closed) {
    zttp_quic_conn_close(e->qc, 1, wire, msg, strlen(msg), conn->now);
  }
  e->closed = 1;
  return zttp_conn_error(conn, err, wire, -1, "%s", msg);
}

int32_t zttp_h3_stream_error(zttp_conn *conn, h3_engine *e, h3_stream *s,
                             uint64_t code) {
  /* RFC 9114 §4.1.2: abort reading and writing with the code. */
  zttp_quic_conn_stream_reset(e->qc, s->id, code);
  zttp_quic_conn_stream_stop_sending(e->qc, s->id, code);
  uint64_t id = s->id;
  int seen = (s->flags & H3F_SEEN) != 0;
  s->kind = H3S_DISCARD;
  s->send = H3T_DONE;
  s->flags &= (uint8_t)~H3F_SEEN;
  if (s->flags & H3F_BLOCKED) {
    zttp_qpack_decoder_cancel_stream(&e->dec, id);
    s->flags &= (uint8_t)~H3F_BLOCKED;
  }
  e->num_requests--;
  zttp_h3_check_graceful(conn, e);
  if (seen) {
    return zttp_h3_enqueue(conn, e, ZTTP_EVENT_STREAM_RESET, 0, (int64_t)id,
                           code);
  }
  return 0;
}

/* ---- QPACK and our unidirectional streams -------------------------------- */

size_t zttp_h3_stream_room(const h3_engine *e, uint64_t id) {
  return e->qc != NULL ? zttp_quic_conn_stream_room(e->qc, id) : 0;
}

int32_t zttp_h3_flush_qpack(zttp_conn *conn, h3_engine *e) {
  if (!e->uni_opened || e->closed) {
    return 0;
  }
  const uint8_t *p;
  size_t n = zttp_qpack_encoder_stream_pending(&e->enc, &p);
  if (n > 0) {
    int64_t took =
        zttp_quic_conn_stream_write(e->qc, (uint64_t)e->enc_id, p, n, 0);
    if (took == ZTTP_ERR_NOMEM) {
      return zttp_h3_fail(conn, ZTTP_ERR_NOMEM, ZTTP_H3_INTERNAL_ERROR,
                          "out of memory");
    }
    if (took > 0) {
      zttp_qpack_encoder_stream_consume(&e->enc, (size_t)took);
    }
  }
  n = zttp_qpack_decoder_stream_pending(&e->dec, &p);
  if (n > 0) {
    int64_t took =
        zttp_quic_conn_stream_write(e->qc, (uint64_t)e->dec_id, p, n, 0);
    if (took == ZTTP_ERR_NOMEM) {
      return zttp_h3_fail(conn, ZTTP_ERR_NOMEM, ZTTP_H3_INTERNAL_ERROR,
                          "out of memory");
    }
    if (took > 0) {
      zttp_qpack_decoder_stream_consume(&e->dec, (size_t)took);
    }
  }
  return 0;
}

/* Opens one uni stream of |type| and writes |extra| after its type. */
static int32_t open_one(zttp_conn *conn, h3_engine *e, int64_t *id,
                        uint64_t type, const uint8_t *extra, size_t len) {
  int64_t sid = zttp_quic_conn_open_stream(e->qc, 0);
  if (sid < 0) {
    return zttp_h3_fail(
        conn, sid == ZTTP_ERR_NOMEM ? ZTTP_ERR_NOMEM : ZTTP_ERR_PROTOCOL,
        ZTTP_H3_STREAM_CREATION_ERROR,
        "cannot open a unidirectional stream (%d)", (int)sid);
  }
  uint8_t buf[8 + 256];
  size_t n = zttp_h3_encode_stream_type(buf, sizeof(buf), type);
  if (len > 0) {
    memcpy(buf + n, extra, len);
    n += len;
  }
  int64_t took = zttp_quic_conn_stream_write(e->qc, (uint64_t)sid, buf, n, 0);
  if (took != (int64_t)n) {
    return zttp_h3_fail(
        conn, took == ZTTP_ERR_NOMEM ? ZTTP_ERR_NOMEM : ZTTP_ERR_PROTOCOL,
        ZTTP_H3_INTERNAL_ERROR, "cannot write a stream type (%d)", (int)took);
  }
  /* RFC 9218 §4: the control stream goes first. */
  zttp_quic_conn_stream_set_priority(e->qc, (uint64_t)sid, 0, 0);
  *id = sid;
  return 0;
}

int32_t zttp_h3_open_uni(zttp_conn *conn, h3_engine *e) {
  if (e->uni_opened || e->qc == NULL || e->closed ||
      !zttp_quic_conn_handshake_complete(e->qc)) {
    return 0;
  }
  /* RFC 9114 §7.2.4.1, RFC 9204 §5, RFC 9220 §3, RFC 9297 §2.1.1: what we
   * advertise is what we enforce. */
  zttp_h3_setting set[6];
  size_t n = 0;
  set[n++] = (zttp_h3_setting){ZTTP_H3_SETTINGS_QPACK_MAX_TABLE_CAPACITY,
                               e->dec.settings.max_table_capacity};
  set[n++] = (zttp_h3_setting){ZTTP_H3_SETTINGS_MAX_FIELD_SECTION_SIZE,
                               e->dec.settings.max_field_section_size};
  set[n++] = (zttp_h3_setting){ZTTP_H3_SETTINGS_QPACK_BLOCKED_STREAMS,
                               e->dec.settings.max_blocked_streams};
  if (e->connect_protocol) {
    set[n++] = (zttp_h3_setting){ZTTP_H3_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1};
  }
  if (e->datagrams) {
    set[n++] = (zttp_h3_setting){ZTTP_H3_SETTINGS_H3_DATAGRAM, 1};
  }
  uint8_t frame[128];
  size_t len = zttp_h3_encode_settings(frame, sizeof(frame), set, n);
  int32_t rv;
  if ((rv = open_one(conn, e, &e->ctrl_id, ZTTP_H3_STREAM_CONTROL, frame,
                     len)) != 0 ||
      (rv = open_one(conn, e, &e->enc_id, ZTTP_H3_STREAM_QPACK_ENCODER, NULL,
                     0)) != 0 ||
      (rv = open_one(conn, e, &e->dec_id, ZTTP_H3_STREAM_QPACK_DECODER, NULL,
                     0)) != 0) {
    return rv;
  }
  e->uni_opened = 1;
  return zttp_h3_flush_qpack(conn, e);
}

/* 1 when every request stream is gone from the QUIC layer (its data
 * acknowledged or reset) and our control stream's bytes (the GOAWAY) were
 * acknowledged. */
static int quic_drained(const h3_engine *e) {
  return zttp_quic_conn_num_streams(e->qc, 1) == 0 &&
         zttp_quic_conn_stream_unacked(e->qc, (uint64_t)e->ctrl_id) == 0;
}

void zttp_h3_check_graceful(zttp_conn *conn, h3_engine *e) {
  if (!e->graceful || e->closed || e->num_requests != 0 || e->qc == NULL ||
      !quic_drained(e)) {
    return;
  }
  /* RFC 9114 §5.2: once the streams below the GOAWAY are done. */
  zttp_quic_conn_close(e->qc, 1, ZTTP_H3_NO_ERROR, NULL, 0, conn->now);
  e->closed = 1;
}

/* ---- life cycle -------------------------------------------------------- */

static size_t h3_state_size(const zttp_settings *settings) {
  (void)settings;
  return sizeof(h3_engine);
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
  return a < b ? a : b;
}

static int32_t h3_init(zttp_conn *conn) {
  h3_engine *e = zttp_h3_eng(conn);
  const zttp_config *cfg = conn->init_cfg;
  zttp_config *tmp = NULL;
  int32_t rv;
  e->ctrl_id = e->enc_id = e->dec_id = -1;
  e->peer_max_field_section = UINT64_MAX;
  zttp_evq_init(&e->evq, e->evq_recs, ZTTP_H3_MAX_EVENTS);
  e->connect_protocol =
      conn->settings.options[ZTTP_OPT_ENABLE_CONNECT_PROTOCOL] != 0;
  e->datagrams = conn->settings.options[ZTTP_OPT_H3_DATAGRAM] != 0;

  zttp_quic_settings *qs = &e->qs;
  zttp_quic_settings_default(qs);
  qs->max_streams_bidi =
      conn->role == ZTTP_SERVER
          ? zttp_h3_limit(conn, ZTTP_LIMIT_MAX_CONCURRENT_STREAMS)
          : 0; /* RFC 9114 §6.1: servers open no request streams */
  qs->max_streams_uni = ZTTP_H3_MAX_PEER_UNI;
  qs->max_stream_data = zttp_h3_limit(conn, ZTTP_LIMIT_STREAM_WINDOW);
  qs->max_data = zttp_h3_limit(conn, ZTTP_LIMIT_CONNECTION_WINDOW);
  /* The windows are limits the application set: no autotuning past them. */
  qs->max_stream_data_window = qs->max_stream_data;
  qs->max_data_window = qs->max_data;
  qs->stream_send_buffer = zttp_h3_limit(conn, ZTTP_LIMIT_OUTPUT_BUFFER);
  qs->reset_burst =
      min_u64(zttp_h3_limit(conn, ZTTP_LIMIT_RESET_BURST), 1000000);
  qs->reset_rate = min_u64(zttp_h3_limit(conn, ZTTP_LIMIT_RESET_RATE), 1000000);
  qs->idle_timeout_ms = zttp_h3_limit(conn, ZTTP_LIMIT_IDLE_TIMEOUT);
  qs->manual_credit = 1;
  qs->max_datagram_frame_size = e->datagrams ? ZTTP_H3_MAX_DATAGRAM_FRAME : 0;

  if (cfg == NULL) {
    if ((rv = zttp_config_new(&tmp, &conn->mem)) != 0) {
      return rv;
    }
    cfg = tmp;
  }
  char errmsg[ZTTP_TLS_ERRMSG_MAX];
  errmsg[0] = '\0';
  rv = zttp_config_tls_ctx(&e->tls, cfg, conn->role, errmsg);
  if (rv != 0) {
    zttp_config_free(tmp);
    return rv;
  }
  if (conn->role == ZTTP_CLIENT && cfg->server_name != NULL) {
    e->server_name = zttp_mem_strdup(&conn->mem, cfg->server_name);
    if (e->server_name == NULL) {
      rv = ZTTP_ERR_NOMEM;
      goto fail_tls;
    }
  }
  zttp_config_free(tmp);
  tmp = NULL;

  zttp_qpack_decoder_settings ds;
  zttp_qpack_decoder_settings_default(&ds);
  ds.max_table_capacity = zttp_h3_limit(conn, ZTTP_LIMIT_HEADER_TABLE_SIZE);
  ds.max_blocked_streams =
      zttp_h3_limit(conn, ZTTP_LIMIT_QPACK_BLOCKED_STREAMS);
  ds.max_field_section_size = zttp_h3_limit(conn, ZTTP_LIMIT_MAX_HEADER_BYTES);
  if (ds.max_blocked_bytes < ds.max_field_section_size) {
    ds.max_blocked_bytes = ds.max_field_section_size;
  }
  if ((rv = zttp_qpack_decoder_init(&e->dec, &conn->mem, &ds)) != 0) {
    goto fail_name;
  }
  zttp_qpack_encoder_settings es;
  zttp_qpack_encoder_settings_default(&es);
  es.max_table_capacity = zttp_h3_limit(conn, ZTTP_LIMIT_ENCODER_TABLE_SIZE);
  if ((rv = zttp_qpack_encoder_init(&e->enc, &conn->mem, &es)) != 0) {
    goto fail_dec;
  }
  if (conn->role == ZTTP_CLIENT) {
    zttp_path path;
    memset(&path, 0, sizeof(path));
    rv = zttp_quic_conn_new(&e->qc, &conn->mem, qs, ZTTP_CLIENT, e->tls,
                            e->server_name, NULL, &path, conn->now);
    if (rv != 0) {
      goto fail_enc;
    }
  }
  return 0;

fail_enc:
  zttp_qpack_encoder_free(&e->enc);
fail_dec:
  zttp_qpack_decoder_free(&e->dec);
fail_name:
  zttp_mem_free(&conn->mem, e->server_name);
fail_tls:
  zttp_config_free(tmp);
  zttp_tls_ctx_unref(e->tls);
  return rv;
}

static void h3_free(zttp_conn *conn) {
  h3_engine *e = zttp_h3_eng(conn);
  for (size_t i = 0; i < e->cap; i++) {
    h3_stream *s = e->slots[i];
    if (s != NULL) {
      zttp_h3_frame_reader_free(&s->fr);
      zttp_mem_free(&conn->mem, s);
    }
  }
  zttp_mem_free(&conn->mem, e->slots);
  free_list_clear(conn, e);
  zttp_quic_conn_free(e->qc);
  zttp_tls_ctx_unref(e->tls);
  zttp_mem_free(&conn->mem, e->server_name);
  zttp_qpack_decoder_free(&e->dec);
  zttp_qpack_encoder_free(&e->enc);
  zttp_qpack_fields_free(&e->fields, &conn->mem);
  zttp_msg_out_free(&e->sec, &conn->mem);
  zttp_mem_free(&conn->mem, e->hbuf);
}

/* Starts the server's QUIC connection for a client Initial. */
static int32_t start_server(zttp_conn *conn, h3_engine *e,
                            const zttp_quic_hdr *initial,
                            const zttp_quic_cid *odcid,
                            const uint8_t *reset_key, const zttp_path *path,
                            zttp_tstamp now) {
  if (reset_key != NULL) {
    /* The endpoint's key (RFC 9000 §10.3.2): its stateless resets match
     * the tokens this connection hands out. */
    memcpy(e->qs.reset_key, reset_key, sizeof(e->qs.reset_key));
  }
  if (odcid != NULL) {
    return zttp_quic_conn_new_retried(&e->qc, &conn->mem, &e->qs, e->tls,
                                      initial, odcid, path, now);
  }
  return zttp_quic_conn_new(&e->qc, &conn->mem, &e->qs, ZTTP_SERVER, e->tls,
                            NULL, initial, path, now);
}

int32_t zttp_h3_accept(zttp_conn *conn, const zttp_quic_hdr *initial,
                       const zttp_quic_cid *odcid, const uint8_t *reset_key,
                       const zttp_path *path, zttp_tstamp now) {
  if (conn == NULL || initial == NULL || path == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (conn->fatal != 0) {
    return conn->fatal;
  }
  h3_engine *e = zttp_h3_eng(conn);
  if (conn->vt != &zttp_h3_engine || conn->role != ZTTP_SERVER ||
      e->qc != NULL) {
    return ZTTP_ERR_INVALID_STATE;
  }
  int32_t rv = start_server(conn, e, initial, odcid, reset_key, path, now);
  if (rv == ZTTP_ERR_NOMEM) {
    return zttp_conn_error(conn, rv, 0, -1, "out of memory");
  }
  return rv;
}

zttp_quic_conn *zttp_h3_quic(const zttp_conn *conn) {
  if (conn == NULL || conn->vt != &zttp_h3_engine) {
    return NULL;
  }
  return zttp_h3_eng(conn)->qc;
}

/* ---- datagrams in and out ---------------------------------------------- */

/* A QUIC failure: the QUIC layer queued its CONNECTION_CLOSE; take the
 * wire code from its CLOSED event and poison the connection. */
static int32_t quic_failed(zttp_conn *conn, h3_engine *e, int32_t rv) {
  uint64_t code = 0;
  zttp_quic_event qev;
  while (zttp_quic_conn_next_event(e->qc, &qev)) {
    if (qev.kind == ZTTP_QUIC_EV_CLOSED) {
      code = qev.error_code;
    }
  }
  e->closed = 1;
  return zttp_conn_error(conn, rv, code, -1, "QUIC: %s (0x%llx)",
                         zttp_strerror(rv), (unsigned long long)code);
}

static int32_t h3_receive_datagram(zttp_conn *conn, const uint8_t *data,
                                   size_t len, const zttp_path *path,
                                   zttp_tstamp now) {
  h3_engine *e = zttp_h3_eng(conn);
  if (now > conn->now) {
    conn->now = now;
  }
  if (e->qc == NULL) {
    /* RFC 9000 §14.1: a server's first datagram is a client Initial of at
     * least 1200 bytes; anything else is dropped. */
    zttp_quic_hdr hdr;
    if (len < 1200 ||
        zttp_quic_hdr_parse(&hdr, data, len, 0) != ZTTP_QUIC_HDR_OK ||
        hdr.type != ZTTP_QUIC_PKT_INITIAL || hdr.version != 1) {
      return 0;
    }
    int32_t rv = start_server(conn, e, &hdr, NULL, NULL, path, now);
    if (rv == ZTTP_ERR_INVALID_ARGUMENT) {
      return 0; /* a header no connection can start from */
    }
    if (rv != 0) {
      return zttp_conn_error(conn, rv, 0, -1, "cannot start QUIC: %s",
                             zttp_strerror(rv));
    }
  }
  int32_t rv = zttp_quic_conn_recv(e->qc, data, len, path, now);
  if (rv != 0) {
    return quic_failed(conn, e, rv);
  }
  return zttp_h3_open_uni(conn, e);
}

static int64_t h3_write_datagram(zttp_conn *conn, zttp_path *path,
                                 size_t *segment_size, uint8_t *buf,
                                 size_t buflen, zttp_tstamp now) {
  h3_engine *e = zttp_h3_eng(conn);
  if (e->qc == NULL) {
    return 0;
  }
  if (now > conn->now) {
    conn->now = now;
  }
  if (conn->fatal == 0) {
    int32_t rv = zttp_h3_open_uni(conn, e);
    if (rv == 0) {
      rv = zttp_h3_flush_qpack(conn, e);
    }
    if (rv != 0) {
      return rv;
    }
    zttp_h3_check_graceful(conn, e);
  }
  if (buflen < 1200) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  /* A probe off the current path (RFC 9000 §8.2.2, §9.3.3) goes alone. */
  int probe = zttp_quic_conn_probe_pending(e->qc);
  int64_t n = zttp_quic_conn_write(e->qc, buf, buflen, path, now);
  if (n <= 0) {
    return n == ZTTP_ERR_NOMEM ? quic_failed(conn, e, ZTTP_ERR_NOMEM) : n;
  }
  /* GSO: more datagrams of the same size behind the first one, to the
   * same path; the last may be shorter. */
  size_t seg = (size_t)n;
  size_t off = seg;
  while (!probe && seg >= 1200 && buflen - off >= seg &&
         !zttp_quic_conn_probe_pending(e->qc)) {
    zttp_path p2;
    int64_t m = zttp_quic_conn_write(e->qc, buf + off, seg, &p2, now);
    if (m <= 0) {
      if (m == ZTTP_ERR_NOMEM) {
        return quic_failed(conn, e, ZTTP_ERR_NOMEM);
      }
      break;
    }
    off += (size_t)m;
    if ((size_t)m < seg) {
      break;
    }
  }
  *segment_size = seg;
  return (int64_t)off;
}

static zttp_tstamp h3_next_timeout(const zttp_conn *conn) {
  const h3_engine *e = zttp_h3_eng(conn);
  return e->qc != NULL ? zttp_quic_conn_next_timeout(e->qc) : ZTTP_TSTAMP_NEVER;
}

static int32_t h3_handle_timeout(zttp_conn *conn, zttp_tstamp now) {
  h3_engine *e = zttp_h3_eng(conn);
  if (now > conn->now) {
    conn->now = now;
  }
  if (e->qc == NULL) {
    return 0;
  }
  int32_t rv = zttp_quic_conn_handle_timeout(e->qc, now);
  if (rv != 0) {
    return quic_failed(conn, e, rv);
  }
  return 0;
}

static int32_t h3_should_close(const zttp_conn *conn) {
  const h3_engine *e = zttp_h3_eng(conn);
  if (e->qc == NULL) {
    return e->closed;
  }
  return zttp_quic_conn_is_closed(e->qc);
}

/* ---- QUIC events -------------------------------------------------------- */

/* A peer stream opened (RFC 9114 §6.1, §6.2). */
static int32_t on_opened(zttp_conn *conn, h3_engine *e, uint64_t id) {
  if (!zttp_h3_peer_stream(conn, id) || zttp_h3_find(e, id) != NULL) {
    return 0;
  }
  if ((id & 2u) == 0) {
    if (conn->role == ZTTP_CLIENT) {
      /* RFC 9114 §6.1 */
      return zttp_h3_fail(
          conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_STREAM_CREATION_ERROR,
          "server-initiated bidirectional stream %llu", (unsigned long long)id);
    }
    if (id >= e->next_peer_bidi) {
      e->next_peer_bidi = id + 4;
    }
  }
  h3_stream *s =
      zttp_h3_stream_new(conn, e, id, (id & 2u) ? H3S_UNI_TYPE : H3S_REQUEST);
  if (s == NULL) {
    return zttp_h3_fail(conn, ZTTP_ERR_NOMEM, ZTTP_H3_INTERNAL_ERROR,
                        "out of memory");
  }
  if (s->kind == H3S_REQUEST && e->goaway_sent && id >= e->goaway_id) {
    /* RFC 9114 §5.2: past our GOAWAY; the client may retry elsewhere. */
    zttp_quic_conn_stream_reset(e->qc, id, ZTTP_H3_REQUEST_REJECTED);
    zttp_quic_conn_stream_stop_sending(e->qc, id, ZTTP_H3_REQUEST_REJECTED);
    s->kind = H3S_DISCARD;
    e->num_requests--;
  }
  return 0;
}

/* The peer reset a stream (RESET_STREAM) or stopped one (STOP_SENDING). */
static int32_t on_reset(zttp_conn *conn, h3_engine *e, zttp_event *ev,
                        uint64_t id, uint64_t code, int stop) {
  h3_stream *s = zttp_h3_find(e, id);
  if (s == NULL) {
    return 0;
  }
  switch (s->kind) {
  case H3S_CONTROL:
  case H3S_QPACK_ENC:
  case H3S_QPACK_DEC:
    /* RFC 9114 §6.2.1, RFC 9204 §4.2 */
    return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, ZTTP_H3_CLOSED_CRITICAL_STREAM,
                        "critical stream %llu reset", (unsigned long long)id);
  case H3S_REQUEST:
    break;
  default:
    if (!stop) {
      zttp_h3_stream_free(conn, e, s);
    }
    return 0;
  }
  if (stop && s->send == H3T_DONE) {
    return 0;
  }
  /* Either direction ends the exchange for the application (RFC 9114
   * §4.1.1): stop the other direction too. */
  if (stop) {
    zttp_quic_conn_stream_stop_sending(e->qc, id, code);
  } else {
    zttp_quic_conn_stream_reset(e->qc, id, code);
  }
  int seen = (s->flags & H3F_SEEN) != 0;
  if (s->flags & H3F_BLOCKED) {
    zttp_qpack_decoder_cancel_stream(&e->dec, id);
    s->flags &= (uint8_t)~H3F_BLOCKED;
  } else if (!stop) {
    /* RFC 9204 §4.4.2: a reset stream's section may never be decoded. */
    if (e->dec.settings.max_table_capacity > 0 && s->recv == H3R_HEADERS) {
      zttp_qpack_decoder_cancel_stream(&e->dec, id);
    }
  }
  zttp_evq_purge(&e->evq, (int64_t)id);
  zttp_h3_stream_free(conn, e, s);
  zttp_h3_check_graceful(conn, e);
  if (!seen) {
    return 0;
  }
  ev->kind = ZTTP_EVENT_STREAM_RESET;
  ev->stream_id = (int64_t)id;
  ev->flags = 0;
  ev->u.reset.error_code = code;
  return 1;
}

/* One QUIC event: 1 with an event for the application, 0, or an error. */
static int32_t on_quic_event(zttp_conn *conn, h3_engine *e,
                             const zttp_quic_event *q, zttp_event *ev) {
  int32_t rv;
  switch (q->kind) {
  case ZTTP_QUIC_EV_HANDSHAKE_DONE:
    if ((rv = zttp_h3_open_uni(conn, e)) != 0) {
      return rv;
    }
    ev->kind = ZTTP_EVENT_HANDSHAKE_DONE;
    ev->stream_id = 0;
    return 1;
  case ZTTP_QUIC_EV_PATH:
    /* RFC 9000 §9.3: the peer moved, or its new path was validated. */
    ev->kind = ZTTP_EVENT_PATH;
    ev->stream_id = 0;
    ev->u.path.path = *q->path;
    ev->u.path.validated = q->validated;
    return 1;
  case ZTTP_QUIC_EV_STREAM_OPENED:
    return on_opened(conn, e, q->stream_id);
  case ZTTP_QUIC_EV_STREAM_READABLE: {
    h3_stream *s = zttp_h3_find(e, q->stream_id);
    if (s == NULL) {
      zttp_h3_discard(e, q->stream_id);
      return 0;
    }
    if (!(s->flags & H3F_BLOCKED)) {
      zttp_h3_ready_push(e, s);
    }
    return 0;
  }
  case ZTTP_QUIC_EV_STREAM_WRITABLE: {
    h3_stream *s = zttp_h3_find(e, q->stream_id);
    if (s == NULL || !(s->flags & H3F_WANT_WINDOW) || s->send != H3T_BODY) {
      return 0;
    }
    s->flags &= (uint8_t)~H3F_WANT_WINDOW;
    ev->kind = ZTTP_EVENT_WINDOW_UPDATE;
    ev->stream_id = (int64_t)s->id;
    size_t room = zttp_h3_stream_room(e, s->id);
    ev->u.window.available =
        room > ZTTP_H3_FRAME_HEADER_MAX ? room - ZTTP_H3_FRAME_HEADER_MAX : 0;
    return 1;
  }
  case ZTTP_QUIC_EV_STREAM_RESET:
    return on_reset(conn, e, ev, q->stream_id, q->error_code, 0);
  case ZTTP_QUIC_EV_STREAM_STOP_SENDING:
    return on_reset(conn, e, ev, q->stream_id, q->error_code, 1);
  case ZTTP_QUIC_EV_DATAGRAM: {
    if (!e->datagrams) {
      return 0;
    }
    uint64_t sid, err;
    const uint8_t *p;
    size_t n;
    if (zttp_h3_datagram_decode(&sid, &p, &n, &err, q->data, q->data_len) !=
        0) {
      /* RFC 9297 §2.1 */
      return zttp_h3_fail(conn, ZTTP_ERR_PROTOCOL, err,
                          "malformed HTTP datagram");
    }
    if (zttp_h3_find(e, sid) == NULL) {
      return 0; /* RFC 9297 §2.1: a stream we do not know: drop */
    }
    ev->kind = ZTTP_EVENT_DATAGRAM;
    ev->stream_id = (int64_t)sid;
    ev->u.data.data = p;
    ev->u.data.len = n;
    return 1;
  }
  case ZTTP_QUIC_EV_CLOSED: {
    e->closed = 1;
    e->closed_ev = 1;
    ev->kind = ZTTP_EVENT_CONNECTION_CLOSED;
    ev->stream_id = 0;
    int32_t err = q->error;
    if (err == 0 && q->error_code != ZTTP_H3_NO_ERROR && q->error_code != 0) {
      err = ZTTP_ERR_CLOSED;
    }
    ev->u.closed.error = err;
    ev->u.closed.reserved = 0;
    ev->u.closed.wire_error_code = q->error_code;
    const uint8_t *reason;
    size_t rl = zttp_quic_conn_close_reason(e->qc, &reason);
    ev->u.closed.reason.base = (const char *)reason;
    ev->u.closed.reason.len = rl;
    return 1;
  }
  default:
    return 0;
  }
}

static int32_t h3_next_event(zttp_conn *conn, zttp_event *ev) {
  h3_engine *e = zttp_h3_eng(conn);
  if (e->qc == NULL) {
    return 0;
  }
  if (e->pend) {
    /* The DATA span handed out last is done with. */
    e->pend = 0;
    zttp_quic_conn_stream_consume(e->qc, e->pend_stream, e->pend_len);
    h3_stream *ps = zttp_h3_find(e, e->pend_stream);
    if (ps != NULL && ps->credit_owed > 0) {
      zttp_quic_conn_stream_credit(e->qc, ps->id, (size_t)ps->credit_owed);
      ps->credit_owed = 0;
    }
  }
  int32_t rv;
  for (;;) {
    if (zttp_evq_pop(&e->evq, ev)) {
      return 1;
    }
    if (e->closed_ev) {
      return 0;
    }
    if (e->qpack_ready) {
      rv = zttp_h3_qpack_resume(conn, e, ev);
      if (rv != 0) {
        return rv;
      }
      continue; /* events it queued, or nothing left */
    }
    if (e->ready_head != NULL) {
      rv = zttp_h3_stream_step(conn, e, e->ready_head, ev);
      if (rv != 0) {
        if (rv == 1) {
          zttp_h3_flush_qpack(conn, e);
        }
        return rv;
      }
      continue;
    }
    zttp_quic_event q;
    if (zttp_quic_conn_next_event(e->qc, &q)) {
      rv = on_quic_event(conn, e, &q, ev);
      if (rv != 0) {
        return rv;
      }
      continue;
    }
    if (conn->role == ZTTP_CLIENT) {
      const uint8_t *t;
      size_t tl = zttp_quic_conn_next_ticket(e->qc, &t);
      if (tl > 0) {
        ev->kind = ZTTP_EVENT_SESSION_TICKET;
        ev->stream_id = 0;
        ev->u.data.data = t;
        ev->u.data.len = tl;
        return 1;
      }
    }
    if ((rv = zttp_h3_flush_qpack(conn, e)) != 0) {
      return rv;
    }
    zttp_h3_check_graceful(conn, e);
    return 0;
  }
}

const zttp_engine_vtbl zttp_h3_engine = {
    .state_size = h3_state_size,
    .init = h3_init,
    .free = h3_free,
    .receive_data = NULL,
    .receive_datagram = h3_receive_datagram,
    .next_event = h3_next_event,
    .send_request = zttp_h3_send_request,
    .send_response = zttp_h3_send_response,
    .send_error_response = NULL,
    .send_informational = zttp_h3_send_informational,
    .send_data = zttp_h3_send_data,
    .end_message = zttp_h3_end_message,
    .reset_stream = zttp_h3_reset_stream,
    .close = zttp_h3_close,
    .should_close = h3_should_close,
    .send_window = zttp_h3_send_window,
    .data_consumed = zttp_h3_data_consumed,
    .pending = NULL,
    .consume = NULL,
    .write_datagram = h3_write_datagram,
    .next_timeout = h3_next_timeout,
    .handle_timeout = h3_handle_timeout,
    .ping = NULL, /* HTTP/3 has no PING (RFC 9114 §7.2.8) */
    .set_priority = zttp_h3_set_priority,
    .send_datagram = zttp_h3_send_datagram,
};
