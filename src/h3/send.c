/* The HTTP/3 engine's send side (RFC 9114 §4.1, §5.2, §7.2; RFC 9218 §7;
 * RFC 9297 §2.1): field sections encoded with QPACK into HEADERS frames,
 * body data in DATA frames, GOAWAY, PRIORITY_UPDATE, HTTP datagrams, and
 * the send-side vtable functions. Every write first checks the room the
 * QUIC stream's send buffer has, so a frame is never cut: a send that does
 * not fit takes less (DATA) or answers ZTTP_ERR_BUFFER_FULL (heads).
 * SPDX-License-Identifier: MIT */
#include <string.h>

#include "common/msg.h"
#include "common/varint.h"
#include "h3/conn.h"

/* ---- helpers -------------------------------------------------------------
 */

static int32_t sendable(zttp_conn *conn, h3_engine *e) {
  if (e->closed || e->qc == NULL) {
    return zttp_conn_error(conn, ZTTP_ERR_CLOSED, 0, -1,
                           e->qc == NULL ? "no QUIC connection yet"
                                         : "the connection was closed");
  }
  return 0;
}

static h3_stream *stream_arg(zttp_conn *conn, h3_engine *e, int64_t stream_id,
                             int32_t *rv) {
  h3_stream *s = zttp_h3_find(e, (uint64_t)stream_id);
  if (s == NULL || s->kind != H3S_REQUEST) {
    *rv = zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                          "no open stream %lld", (long long)stream_id);
    return NULL;
  }
  return s;
}

static int32_t field_error(zttp_conn *conn, const char *why, size_t i) {
  return zttp_conn_error(conn, ZTTP_ERR_INVALID_FIELD, 0, -1,
                         "field %zu refused: %s", i, why);
}

/* The error of a zttp_msg_out_*() build that returned |rv|. */
static int32_t build_error(zttp_conn *conn, int32_t rv,
                           const zttp_msg_built *b) {
  return rv == ZTTP_ERR_INVALID_FIELD ? field_error(conn, b->why, b->at) : rv;
}

/* Checks the |n| scratch fields against the peer's
 * SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §4.2.2) and returns the room
 * their HEADERS frame may need. */
static int32_t section_check(zttp_conn *conn, h3_engine *e, size_t n,
                             size_t *need) {
  uint64_t size = 0;
  for (size_t i = 0; i < n; i++) {
    size += e->sec.fields[i].name_len + e->sec.fields[i].value_len + 32;
  }
  if (size > e->peer_max_field_section) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_FIELD, 0, -1,
                           "field section of %llu bytes exceeds the peer's "
                           "SETTINGS_MAX_FIELD_SECTION_SIZE (%llu)",
                           (unsigned long long)size,
                           (unsigned long long)e->peer_max_field_section);
  }
  *need = zttp_qpack_encode_bound(&e->enc, e->sec.fields, n) +
          ZTTP_H3_FRAME_HEADER_MAX;
  return 0;
}

/* Encodes the |n| scratch fields into one HEADERS frame on |id| (RFC 9114
 * §7.2.2), with FIN when |fin|. The caller checked the room
 * (section_check). */
static int32_t write_section(zttp_conn *conn, h3_engine *e, uint64_t id,
                             size_t n, size_t need, int fin) {
  if (need > zttp_h3_stream_room(e, id)) {
    return zttp_conn_error(conn, ZTTP_ERR_BUFFER_FULL, 0, (int64_t)id,
                           "the stream's send buffer is full");
  }
  if (need > e->hbuf_cap) {
    uint8_t *b = zttp_mem_realloc(&conn->mem, e->hbuf, need);
    if (b == NULL) {
      return ZTTP_ERR_NOMEM;
    }
    e->hbuf = b;
    e->hbuf_cap = need;
  }
  uint8_t *body = e->hbuf + ZTTP_H3_FRAME_HEADER_MAX;
  int64_t len = zttp_qpack_encode(&e->enc, body, id, e->sec.fields, n);
  if (len < 0) {
    return zttp_h3_fail(conn, (int32_t)len, ZTTP_H3_INTERNAL_ERROR,
                        "QPACK encoder: %s", zttp_strerror((int32_t)len));
  }
  uint8_t hdr[ZTTP_H3_FRAME_HEADER_MAX];
  size_t hl = zttp_h3_encode_frame_header(hdr, sizeof(hdr),
                                          ZTTP_H3_FRAME_HEADERS, (uint64_t)len);
  memcpy(body - hl, hdr, hl);
  size_t total = hl + (size_t)len;
  int64_t took = zttp_quic_conn_stream_write(e->qc, id, body - hl, total, fin);
  if (took != (int64_t)total) {
    return zttp_h3_fail(
        conn, took == ZTTP_ERR_NOMEM ? ZTTP_ERR_NOMEM : ZTTP_ERR_PROTOCOL,
        ZTTP_H3_INTERNAL_ERROR, "stream write failed (%lld)", (long long)took);
  }
  return zttp_h3_flush_qpack(conn, e);
}

/* Ends the send side of |s| with FIN alone. */
static int32_t write_fin(zttp_conn *conn, h3_engine *e, h3_stream *s) {
  static const uint8_t none[1] = {0};
  int64_t took = zttp_quic_conn_stream_write(e->qc, s->id, none, 0, 1);
  if (took < 0) {
    return zttp_h3_fail(
        conn, took == ZTTP_ERR_NOMEM ? ZTTP_ERR_NOMEM : ZTTP_ERR_PROTOCOL,
        ZTTP_H3_INTERNAL_ERROR, "stream FIN failed (%lld)", (long long)took);
  }
  return 0;
}

/* The largest DATA payload whose frame fits in |room| bytes. */
static size_t frame_fit(size_t room) {
  static const size_t hls[4] = {2, 3, 5, 9};
  for (size_t i = 0; i < 4; i++) {
    if (room <= hls[i]) {
      return 0;
    }
    size_t c = room - hls[i];
    if (1 + zttp_varint_len(c) <= hls[i]) {
      return c < ZTTP_H3_MAX_DATA_FRAME ? c : ZTTP_H3_MAX_DATA_FRAME;
    }
  }
  return 0;
}

/* The body bytes that |room| bytes of buffer take in DATA frames. */
static uint64_t room_to_window(size_t room) {
  size_t per =
      ZTTP_H3_MAX_DATA_FRAME + 1 + zttp_varint_len(ZTTP_H3_MAX_DATA_FRAME);
  return (uint64_t)(room / per) * ZTTP_H3_MAX_DATA_FRAME +
         frame_fit(room % per);
}

/* ---- requests and responses ----------------------------------------------
 */

int64_t zttp_h3_send_request(zttp_conn *conn, zttp_str method, zttp_str target,
                             const zttp_header *headers, size_t num_headers,
                             uint32_t flags) {
  h3_engine *e = zttp_h3_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  if (e->peer_goaway || e->goaway_sent) {
    return zttp_conn_error(conn, ZTTP_ERR_CLOSED, 0, -1,
                           "the connection is shutting down (GOAWAY)");
  }
  if (!zttp_quic_conn_handshake_complete(e->qc)) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "the QUIC handshake is not complete");
  }
  if ((rv = zttp_h3_open_uni(conn, e)) != 0) {
    return rv;
  }
  zttp_msg_built b;
  /* RFC 9114 §3.1: HTTP/3 is https. */
  zttp_str scheme = {"https", 5};
  if ((rv = zttp_msg_out_request(&e->sec, &b, &conn->mem, method, target,
                                 headers, num_headers, scheme,
                                 e->peer_connect_protocol)) != 0) {
    return build_error(conn, rv, &b);
  }
  int end = (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
  if (end && b.content_length > 0) {
    return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, -1,
                           "END_STREAM with a non-zero Content-Length");
  }
  size_t need = 0;
  if ((rv = section_check(conn, e, b.num_fields, &need)) != 0) {
    return rv;
  }
  if (need > zttp_h3_limit(conn, ZTTP_LIMIT_OUTPUT_BUFFER)) {
    return zttp_conn_error(conn, ZTTP_ERR_BUFFER_FULL, 0, -1,
                           "header section larger than the output buffer");
  }
  int64_t id = zttp_quic_conn_open_stream(e->qc, 1);
  if (id < 0) {
    if (id == ZTTP_ERR_STREAM_LIMIT) {
      return zttp_conn_error(conn, ZTTP_ERR_STREAM_LIMIT, 0, -1,
                             "the peer's stream limit is reached");
    }
    return id == ZTTP_ERR_NOMEM
               ? zttp_h3_fail(conn, ZTTP_ERR_NOMEM, ZTTP_H3_INTERNAL_ERROR,
                              "out of memory")
               : id;
  }
  e->next_local_bidi = (uint64_t)id + 4;
  h3_stream *s = zttp_h3_stream_new(conn, e, (uint64_t)id, H3S_REQUEST);
  if (s == NULL) {
    return zttp_h3_fail(conn, ZTTP_ERR_NOMEM, ZTTP_H3_INTERNAL_ERROR,
                        "out of memory");
  }
  s->flags |= H3F_LOCAL | H3F_SEEN;
  if (method.len == 4 && memcmp(method.base, "HEAD", 4) == 0) {
    s->flags |= H3F_HEAD;
  }
  if (b.connect) {
    s->flags |= H3F_CONNECT;
  }
  if ((rv = write_section(conn, e, (uint64_t)id, b.num_fields, need, end)) !=
      0) {
    return rv;
  }
  s->recv = H3R_HEADERS;
  s->send = end ? H3T_DONE : H3T_BODY;
  s->send_cl = b.connect ? -1 : b.content_length;
  return id;
}

/* Sends a response head (1xx or final) on |s|; its content-length goes to
 * |*content_length| (-1: none). */
static int32_t send_status(zttp_conn *conn, h3_engine *e, h3_stream *s,
                           uint32_t status, const zttp_header *headers,
                           size_t num_headers, int end, int bodyless,
                           int64_t *content_length) {
  zttp_msg_built b;
  int32_t rv = zttp_msg_out_status(&e->sec, &b, &conn->mem, status, headers,
                                   num_headers);
  if (rv != 0) {
    return build_error(conn, rv, &b);
  }
  *content_length = b.content_length;
  if (status >= 200 && end && !bodyless && b.content_length > 0) {
    return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, (int64_t)s->id,
                           "END_STREAM with a non-zero Content-Length");
  }
  size_t need = 0;
  if ((rv = section_check(conn, e, b.num_fields, &need)) != 0) {
    return rv;
  }
  return write_section(conn, e, s->id, b.num_fields, need, end);
}

int32_t zttp_h3_send_response(zttp_conn *conn, int64_t stream_id,
                              uint32_t status, zttp_str reason,
                              const zttp_header *headers, size_t num_headers,
                              uint32_t flags) {
  (void)reason; /* RFC 9114 §4.3.2: no reason phrase */
  h3_engine *e = zttp_h3_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  h3_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if (s->send != H3T_HEADERS || (s->flags & H3F_LOCAL)) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, stream_id,
                           "a final response was already sent");
  }
  int end = (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
  int64_t cl;
  int bodyless = (s->flags & H3F_HEAD) || status == 204 || status == 304;
  if ((rv = send_status(conn, e, s, status, headers, num_headers, end, bodyless,
                        &cl)) != 0) {
    return rv;
  }
  s->send = end ? H3T_DONE : H3T_BODY;
  s->send_cl = bodyless ? 0 : cl;
  if ((s->flags & H3F_CONNECT) && status >= 200 && status < 300) {
    s->send_cl = -1;
  }
  if (end) {
    zttp_h3_maybe_release(conn, e, s);
    zttp_h3_check_graceful(conn, e);
  }
  return 0;
}

int32_t zttp_h3_send_informational(zttp_conn *conn, int64_t stream_id,
                                   uint32_t status, const zttp_header *headers,
                                   size_t num_headers) {
  h3_engine *e = zttp_h3_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  if (status == 101) {
    /* RFC 9114 §4.5 */
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_ARGUMENT, 0, stream_id,
                           "HTTP/3 has no 101");
  }
  h3_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if (s->send != H3T_HEADERS || (s->flags & H3F_LOCAL)) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, stream_id,
                           "a final response was already sent");
  }
  int64_t cl;
  return send_status(conn, e, s, status, headers, num_headers, 0, 0, &cl);
}

/* ---- body --------------------------------------------------------------- */

static int32_t body_state(zttp_conn *conn, h3_stream *s) {
  if (s->send == H3T_BODY) {
    return 0;
  }
  return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, (int64_t)s->id,
                         s->send == H3T_HEADERS
                             ? "no response head was sent on this stream"
                             : "the message on this stream has ended");
}

int64_t zttp_h3_send_data(zttp_conn *conn, int64_t stream_id,
                          const uint8_t *data, size_t len, uint32_t flags) {
  h3_engine *e = zttp_h3_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  h3_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if ((rv = body_state(conn, s)) != 0) {
    return rv;
  }
  int end = (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
  if (s->send_cl >= 0 &&
      (s->send_bytes + len > (uint64_t)s->send_cl ||
       (end && s->send_bytes + len != (uint64_t)s->send_cl))) {
    return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, stream_id,
                           "body length differs from the content-length");
  }
  size_t taken = 0;
  while (taken < len) {
    size_t c = frame_fit(zttp_h3_stream_room(e, s->id));
    if (c == 0) {
      break;
    }
    if (c > len - taken) {
      c = len - taken;
    }
    uint8_t hdr[ZTTP_H3_FRAME_HEADER_MAX];
    size_t hl =
        zttp_h3_encode_frame_header(hdr, sizeof(hdr), ZTTP_H3_FRAME_DATA, c);
    int fin = end && taken + c == len;
    int64_t a = zttp_quic_conn_stream_write(e->qc, s->id, hdr, hl, 0);
    int64_t b =
        a == (int64_t)hl
            ? zttp_quic_conn_stream_write(e->qc, s->id, data + taken, c, fin)
            : a;
    if (b != (int64_t)c) {
      int64_t bad = b < 0 ? b : a;
      return zttp_h3_fail(
          conn, bad == ZTTP_ERR_NOMEM ? ZTTP_ERR_NOMEM : ZTTP_ERR_PROTOCOL,
          ZTTP_H3_INTERNAL_ERROR, "stream write failed");
    }
    taken += c;
    s->send_bytes += c;
  }
  if (taken < len) {
    s->flags |= H3F_WANT_WINDOW;
    return (int64_t)taken;
  }
  if (end) {
    if (len == 0 && (rv = write_fin(conn, e, s)) != 0) {
      return rv;
    }
    s->send = H3T_DONE;
    zttp_h3_maybe_release(conn, e, s);
    zttp_h3_check_graceful(conn, e);
  }
  return (int64_t)taken;
}

int32_t zttp_h3_end_message(zttp_conn *conn, int64_t stream_id,
                            const zttp_header *trailers, size_t num_trailers) {
  h3_engine *e = zttp_h3_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  h3_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if ((rv = body_state(conn, s)) != 0) {
    return rv;
  }
  if (s->send_cl >= 0 && s->send_bytes != (uint64_t)s->send_cl) {
    return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, stream_id,
                           "fewer body bytes than the content-length");
  }
  if (num_trailers > 0) {
    /* RFC 9114 §4.1: trailers are a HEADERS frame after the DATA. */
    for (size_t i = 0; i < num_trailers; i++) {
      if (trailers[i].name_len > 0 && trailers[i].name[0] == ':') {
        return field_error(conn, "pseudo-header in trailers", i);
      }
    }
    zttp_msg_built b;
    if ((rv = zttp_msg_out_trailers(&e->sec, &b, &conn->mem, trailers,
                                    num_trailers)) != 0) {
      return build_error(conn, rv, &b);
    }
    size_t need = 0;
    if ((rv = section_check(conn, e, b.num_fields, &need)) != 0 ||
        (rv = write_section(conn, e, s->id, b.num_fields, need, 1)) != 0) {
      return rv;
    }
  } else if ((rv = write_fin(conn, e, s)) != 0) {
    return rv;
  }
  s->send = H3T_DONE;
  zttp_h3_maybe_release(conn, e, s);
  zttp_h3_check_graceful(conn, e);
  return 0;
}

/* ---- streams and the connection ------------------------------------------
 */

int32_t zttp_h3_reset_stream(zttp_conn *conn, int64_t stream_id,
                             uint64_t error_code) {
  h3_engine *e = zttp_h3_eng(conn);
  int32_t rv = 0;
  if (e->qc == NULL) {
    return zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                           "no stream %lld", (long long)stream_id);
  }
  h3_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if (error_code > ZTTP_VARINT_MAX) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_ARGUMENT, 0, stream_id,
                           "error code above 2^62 - 1");
  }
  /* RFC 9114 §4.1.1: abort both directions; 0 means H3_REQUEST_CANCELLED. */
  if (error_code == 0) {
    error_code = ZTTP_H3_REQUEST_CANCELLED;
  }
  if (s->send != H3T_DONE) {
    zttp_quic_conn_stream_reset(e->qc, s->id, error_code);
  }
  if (s->recv != H3R_DONE) {
    zttp_quic_conn_stream_stop_sending(e->qc, s->id, error_code);
  }
  if (s->flags & H3F_BLOCKED) {
    zttp_qpack_decoder_cancel_stream(&e->dec, s->id);
    s->flags &= (uint8_t)~H3F_BLOCKED;
  }
  zttp_evq_purge(&e->evq, stream_id);
  if (s->recv == H3R_DONE) {
    zttp_h3_stream_free(conn, e, s);
  } else {
    /* Input still arriving is read and dropped. */
    s->kind = H3S_DISCARD;
    s->send = H3T_DONE;
    s->flags &= (uint8_t)~H3F_SEEN;
    e->num_requests--;
  }
  zttp_h3_check_graceful(conn, e);
  return zttp_h3_flush_qpack(conn, e);
}

int32_t zttp_h3_close(zttp_conn *conn, uint64_t error_code, uint32_t flags) {
  h3_engine *e = zttp_h3_eng(conn);
  if (e->closed) {
    return 0;
  }
  if (error_code > ZTTP_VARINT_MAX) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_ARGUMENT, 0, -1,
                           "error code above 2^62 - 1");
  }
  if (e->qc == NULL) {
    e->closed = 1;
    return 0;
  }
  if ((flags & ZTTP_CLOSE_FLAG_GRACEFUL) && e->uni_opened) {
    if (!e->goaway_sent) {
      /* RFC 9114 §5.2: a server names the first request it will not
       * process; a client, the first push id (none: we allow no push). */
      uint64_t id = conn->role == ZTTP_SERVER ? e->next_peer_bidi : 0;
      uint8_t buf[16];
      size_t n = zttp_h3_encode_varint_frame(buf, sizeof(buf),
                                             ZTTP_H3_FRAME_GOAWAY, id);
      /* Whole or not at all: a cut frame would corrupt the control
       * stream. A control stream that cannot take 16 bytes belongs to a
       * peer that stopped reading it: the close becomes immediate. */
      int64_t took =
          zttp_quic_conn_stream_room(e->qc, (uint64_t)e->ctrl_id) >= n
              ? zttp_quic_conn_stream_write(e->qc, (uint64_t)e->ctrl_id, buf, n,
                                            0)
              : 0;
      if (took == ZTTP_ERR_NOMEM) {
        return zttp_h3_fail(conn, ZTTP_ERR_NOMEM, ZTTP_H3_INTERNAL_ERROR,
                            "out of memory");
      }
      if (took != (int64_t)n) {
        zttp_quic_conn_close(e->qc, 1, ZTTP_H3_NO_ERROR, NULL, 0, conn->now);
        e->closed = 1;
        return 0;
      }
      e->goaway_sent = 1;
      e->goaway_id = id;
    }
    e->graceful = 1;
    zttp_h3_check_graceful(conn, e);
    return 0;
  }
  /* RFC 9114 §5.2, §8: immediate close; 0 means H3_NO_ERROR. */
  uint64_t code = error_code == 0 ? ZTTP_H3_NO_ERROR : error_code;
  zttp_quic_conn_close(e->qc, 1, code, NULL, 0, conn->now);
  e->closed = 1;
  return 0;
}

int64_t zttp_h3_send_window(const zttp_conn *conn, int64_t stream_id) {
  const h3_engine *e = zttp_h3_eng(conn);
  h3_stream *s = zttp_h3_find(e, (uint64_t)stream_id);
  if (s == NULL || s->kind != H3S_REQUEST) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  if (s->send != H3T_BODY || e->closed) {
    return 0;
  }
  uint64_t w = room_to_window(zttp_h3_stream_room(e, s->id));
  if (s->send_cl >= 0 && w > (uint64_t)s->send_cl - s->send_bytes) {
    w = (uint64_t)s->send_cl - s->send_bytes;
  }
  return (int64_t)w;
}

int32_t zttp_h3_data_consumed(zttp_conn *conn, int64_t stream_id, size_t len) {
  h3_engine *e = zttp_h3_eng(conn);
  uint64_t id = (uint64_t)stream_id;
  h3_stream *s = zttp_h3_find(e, id);
  if (s == NULL) {
    /* A stream that closed: its credit went back by itself. */
    int opened =
        (id & 3u) == 0 && (conn->role == ZTTP_SERVER ? id < e->next_peer_bidi
                                                     : id < e->next_local_bidi);
    return opened
               ? 0
               : zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                                 "no stream %lld", (long long)stream_id);
  }
  if (len > s->uncredited) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_ARGUMENT, 0, stream_id,
                           "more than was received");
  }
  s->uncredited -= len;
  if (e->pend && e->pend_stream == id) {
    s->credit_owed += len; /* after the span is consumed */
  } else if (len > 0) {
    zttp_quic_conn_stream_credit(e->qc, id, len);
  }
  return 0;
}

int32_t zttp_h3_set_priority(zttp_conn *conn, int64_t stream_id,
                             uint32_t urgency, uint32_t incremental) {
  h3_engine *e = zttp_h3_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  h3_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  zttp_quic_conn_stream_set_priority(e->qc, s->id, urgency, incremental);
  if (conn->role == ZTTP_SERVER) {
    return 0;
  }
  if (!e->uni_opened) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, stream_id,
                           "no control stream yet");
  }
  /* RFC 9218 §7.2: PRIORITY_UPDATE on the control stream. */
  char fv[8] = {'u', '=', (char)('0' + urgency), ',', ' ', 'i', 0, 0};
  size_t fl = incremental ? 6 : 3;
  uint8_t buf[32];
  size_t n = zttp_h3_encode_priority_update(
      buf, sizeof(buf), ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST, s->id,
      (const uint8_t *)fv, fl);
  if (n > zttp_h3_stream_room(e, (uint64_t)e->ctrl_id)) {
    return zttp_conn_error(conn, ZTTP_ERR_BUFFER_FULL, 0, stream_id,
                           "control stream buffer full");
  }
  int64_t took =
      zttp_quic_conn_stream_write(e->qc, (uint64_t)e->ctrl_id, buf, n, 0);
  if (took != (int64_t)n) {
    return zttp_h3_fail(
        conn, took == ZTTP_ERR_NOMEM ? ZTTP_ERR_NOMEM : ZTTP_ERR_PROTOCOL,
        ZTTP_H3_INTERNAL_ERROR, "control stream write failed");
  }
  return 0;
}

int32_t zttp_h3_send_datagram(zttp_conn *conn, int64_t stream_id,
                              const uint8_t *data, size_t len) {
  h3_engine *e = zttp_h3_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  if (!e->datagrams || !e->peer_datagrams) {
    /* RFC 9297 §2.1.1: both sides must send SETTINGS_H3_DATAGRAM. */
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, stream_id,
                           "HTTP datagrams are not enabled on both sides");
  }
  h3_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  size_t need = 8 + len;
  if (need > e->hbuf_cap) {
    uint8_t *b = zttp_mem_realloc(&conn->mem, e->hbuf, need);
    if (b == NULL) {
      return zttp_h3_fail(conn, ZTTP_ERR_NOMEM, ZTTP_H3_INTERNAL_ERROR,
                          "out of memory");
    }
    e->hbuf = b;
    e->hbuf_cap = need;
  }
  size_t n = zttp_h3_encode_datagram_prefix(e->hbuf, 8, s->id);
  if (len > 0) {
    memcpy(e->hbuf + n, data, len);
  }
  rv = zttp_quic_conn_send_datagram(e->qc, e->hbuf, n + len);
  if (rv == ZTTP_ERR_NOMEM) {
    return zttp_h3_fail(conn, rv, ZTTP_H3_INTERNAL_ERROR, "out of memory");
  }
  if (rv != 0) {
    return zttp_conn_error(conn, rv, 0, stream_id,
                           "the datagram does not fit or the queue is full");
  }
  return 0;
}
