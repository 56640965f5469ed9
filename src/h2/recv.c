/* The HTTP/2 engine's receive side (RFC 9113 §4-§6): frames in, events
 * out.
 *
 * Input is copied into |in| by receive_data and parsed by next_event one
 * frame (or one DATA span) at a time, so a Data event points into |in|.
 * SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "h2/conn.h"
#include "h2/frame.h"
#include "common/msg.h"
#include "h2/stream.h"
#include "hpack/hpack.h"

/* ---- receiving header blocks -------------------------------------------- */

/* A request header block on a new stream (server). */
static int32_t on_request(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                          uint32_t id, int end_stream, int32_t drv) {
  int32_t rv;
  if (drv == ZTTP_ERR_LIMIT_HEADERS || drv == ZTTP_ERR_LIMIT_HEADER_BYTES) {
    /* RFC 9113 §8.2, RFC 9110 §15.5.20 (431): the block was decoded (the
     * table is in sync) but is too large; refuse the request alone. */
    size_t n = 0;
    rv = zttp_msg_out_reserve(&e->sec, &conn->mem, 1, 0);
    if (rv != 0) {
      return zttp_h2_fail(conn, ZTTP_ERR_NOMEM, "out of memory");
    }
    zttp_msg_out_put(&e->sec, &n, ":status", 7, "431", 3, 0);
    if ((rv = zttp_h2_write_header_block(conn, e, id, n, 1, 1)) != 0) {
      return rv;
    }
    if ((rv = zttp_h2_control_queued(conn, e)) != 0) {
      return rv;
    }
    if (!end_stream) {
      return zttp_h2_stream_error(conn, e, id, ZTTP_H2_NO_ERROR, 1);
    }
    return zttp_h2_bucket_take(
               &e->resets, zttp_h2_limit(conn, ZTTP_LIMIT_RESET_BURST),
               zttp_h2_limit(conn, ZTTP_LIMIT_RESET_RATE), conn->now) != 0
               ? zttp_h2_fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
                              "stream reset budget exhausted")
               : 0;
  }
  if (e->active_peer >= e->local_max_concurrent) {
    /* RFC 9113 §5.1.2 */
    return zttp_h2_stream_error(conn, e, id, ZTTP_H2_REFUSED_STREAM, 1);
  }
  zttp_msg msg;
  const char *why = NULL;
  zttp_header *f = e->fields.fields;
  size_t num = e->fields.num_fields;
  if (zttp_msg_check(&msg, &why, f, num, ZTTP_MSG_REQUEST,
                     e->connect_protocol) != 0) {
    (void)why; /* the STREAM_RESET carries the code */
    return zttp_h2_stream_error(conn, e, id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  int connect = zttp_msg_is_connect(msg.method);
  if (end_stream && msg.content_length > 0) {
    return zttp_h2_stream_error(conn, e, id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  zttp_h2_stream *s;
  if ((rv = zttp_h2_stream_new(conn, e, id, &s)) != 0) {
    return zttp_h2_fail(conn, rv, "out of memory");
  }
  s->recv = end_stream ? ZTTP_H2_RECV_DONE : ZTTP_H2_RECV_BODY;
  s->send = ZTTP_H2_SEND_HEADERS;
  s->recv_cl = connect ? -1 : msg.content_length;
  s->urgency = msg.urgency;
  s->incremental = msg.incremental;
  s->flags |= ZTTP_H2_SF_SEEN_BY_APP;
  if (connect) {
    s->flags |= ZTTP_H2_SF_CONNECT;
  }
  if (msg.method.len == 4 && memcmp(msg.method.base, "HEAD", 4) == 0) {
    s->flags |= ZTTP_H2_SF_HEAD;
  }
  /* RFC 9113 §8.3.1 */
  zttp_msg_request_event(ev, f, num, &msg, id, end_stream, 20);
  if (end_stream) {
    if ((rv = zttp_h2_enqueue(conn, e, ZTTP_EVENT_END_MESSAGE, 0, id, 0)) !=
        0) {
      return rv;
    }
  }
  return 1;
}

/* A header block on a known stream: a response (client), or trailers. */
static int32_t on_stream_block(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                               zttp_h2_stream *s, int end_stream, int32_t drv) {
  uint32_t id = s->id;
  if (s->recv == ZTTP_H2_RECV_DONE) {
    /* RFC 9113 §5.1: half-closed (remote). */
    return zttp_h2_stream_error(conn, e, id, ZTTP_H2_STREAM_CLOSED, 1);
  }
  int trailers = s->recv == ZTTP_H2_RECV_BODY;
  if (drv != 0) {
    /* Too large (the decoder kept the table in sync). */
    return zttp_h2_stream_error(conn, e, id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  zttp_msg msg;
  const char *why = NULL;
  zttp_header *f = e->fields.fields;
  size_t num = e->fields.num_fields;
  int kind = trailers ? ZTTP_MSG_TRAILERS : ZTTP_MSG_RESPONSE;
  int bad = zttp_msg_check(&msg, &why, f, num, kind, 0) != 0;
  if (!bad && trailers && !end_stream) {
    bad = 1;
    why = "trailers without END_STREAM";
  }
  if (!bad && !trailers && msg.status < 200 &&
      (msg.status == 101 || end_stream)) {
    bad = 1;
    why = "101, or a 1xx ending the stream";
  }
  if (!bad && end_stream && s->recv_cl >= 0 &&
      (uint64_t)s->recv_cl != s->recv_bytes &&
      !(s->flags & ZTTP_H2_SF_RECV_BODYLESS)) {
    bad = 1;
    why = "content-length differs from the DATA received";
  }
  if (!bad && !trailers && msg.status >= 200 && end_stream &&
      msg.content_length > 0 && !(s->flags & ZTTP_H2_SF_HEAD) &&
      msg.status != 304) {
    bad = 1;
    why = "content-length on a response without content";
  }
  if (bad) {
    (void)why; /* the STREAM_RESET carries the code */
    return zttp_h2_stream_error(conn, e, id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  if (trailers) {
    s->recv = ZTTP_H2_RECV_DONE;
    ev->stream_id = id;
    ev->flags = 0;
    ev->kind = ZTTP_EVENT_END_MESSAGE;
    ev->u.end.trailers = f;
    ev->u.end.num_trailers = num;
    int32_t rv = zttp_h2_maybe_close(conn, e, s);
    return rv != 0 ? rv : 1;
  }
  zttp_msg_response_event(ev, f, num, &msg, id,
                          end_stream ? ZTTP_EVENT_FLAG_END_STREAM : 0, 20);
  if (msg.status >= 200) {
    if ((s->flags & ZTTP_H2_SF_HEAD) || zttp_h2_bodyless_status(msg.status)) {
      s->flags |= ZTTP_H2_SF_RECV_BODYLESS;
    } else {
      s->recv_cl = msg.content_length;
    }
    s->recv = end_stream ? ZTTP_H2_RECV_DONE : ZTTP_H2_RECV_BODY;
    if (end_stream) {
      int32_t rv = zttp_h2_enqueue(conn, e, ZTTP_EVENT_END_MESSAGE, 0, id, 0);
      if (rv != 0) {
        return rv;
      }
      if ((rv = zttp_h2_maybe_close(conn, e, s)) != 0) {
        return rv;
      }
    }
  }
  return 1;
}

/* A complete header block for |id| (RFC 9113 §4.3: decoded even when the
 * stream is ignored, so that the table stays in sync). */
static int32_t on_header_block(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                               uint32_t id, int end_stream,
                               const uint8_t *block, size_t len) {
  zttp_h2_stream *s = zttp_h2_find(e, id);
  int trailers = s != NULL && s->recv == ZTTP_H2_RECV_BODY;
  size_t max_fields = zttp_h2_limit(conn, trailers ? ZTTP_LIMIT_MAX_TRAILERS
                                                   : ZTTP_LIMIT_MAX_HEADERS);
  size_t max_bytes =
      zttp_h2_limit(conn, trailers ? ZTTP_LIMIT_MAX_TRAILER_BYTES
                                   : ZTTP_LIMIT_MAX_HEADER_BYTES);
  int32_t drv =
      zttp_hpack_decode(&e->dec, &e->fields, block, len, max_fields, max_bytes);
  if (drv == ZTTP_ERR_COMPRESSION) {
    return zttp_h2_fail(conn, ZTTP_ERR_COMPRESSION,
                        "HPACK: malformed header block");
  }
  if (drv == ZTTP_ERR_NOMEM) {
    return zttp_h2_fail(conn, ZTTP_ERR_NOMEM, "out of memory");
  }
  if (len == 0 && !end_stream) {
    /* CVE-2019-9516: empty header blocks. */
    int32_t rv = zttp_h2_glitch(conn, e, "empty header block");
    if (rv != 0) {
      return rv;
    }
  }
  if (s != NULL) {
    return on_stream_block(conn, e, ev, s, end_stream, drv);
  }
  if (!zttp_h2_peer_initiated(conn, id)) {
    if (zttp_h2_stream_idle(conn, e, id)) {
      return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "HEADERS on idle stream %u",
                          id);
    }
    /* Closed (we reset it, or it finished): ignore. */
    return zttp_h2_glitch(conn, e, "HEADERS on a closed stream");
  }
  if (conn->role == ZTTP_CLIENT) {
    /* Server-initiated streams exist only through push, which we
     * disable (SETTINGS_ENABLE_PUSH = 0). */
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "HEADERS on server stream %u",
                        id);
  }
  if (id <= e->last_peer_id) {
    return zttp_h2_glitch(conn, e, "HEADERS on a closed stream");
  }
  e->last_peer_id = id;
  if (e->goaway_state == GOAWAY_SENT && id > e->goaway_last) {
    /* RFC 9113 §6.8: after our final GOAWAY, new streams are ignored. */
    return 0;
  }
  return on_request(conn, e, ev, id, end_stream, drv);
}

/* ---- receiving frames --------------------------------------------------- */

/* Strips padding (and the priority fields) from a HEADERS payload. */
static int32_t headers_fragment(zttp_conn *conn, const zttp_h2_frame_header *fh,
                                const uint8_t **p, size_t *len) {
  size_t pad = 0;
  const uint8_t *q = *p;
  size_t n = *len;
  if (fh->flags & ZTTP_H2_FLAG_PADDED) {
    if (n < 1) {
      return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE,
                          "HEADERS too short for padding");
    }
    pad = q[0];
    q++;
    n--;
  }
  if (fh->flags & ZTTP_H2_FLAG_PRIORITY) {
    if (n < 5) {
      return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE,
                          "HEADERS too short for priority");
    }
    q += 5;
    n -= 5;
  }
  if (pad > n) {
    /* RFC 9113 §6.2 */
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                        "HEADERS padding exceeds the payload");
  }
  *p = q;
  *len = n - pad;
  return 0;
}

static int32_t on_headers(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                          const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  if (fh->stream_id == 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "HEADERS on stream 0");
  }
  size_t len = fh->length;
  int32_t rv = headers_fragment(conn, fh, &p, &len);
  if (rv != 0) {
    return rv;
  }
  if ((fh->flags & ZTTP_H2_FLAG_PRIORITY) &&
      (zttp_h2_get32(p - 5) & ZTTP_H2_MAX_STREAM_ID) == fh->stream_id) {
    /* RFC 9113 §5.3.1: a stream cannot depend on itself. The block must
     * still be decoded; reset afterwards. */
    int32_t drv = zttp_hpack_decode(&e->dec, &e->fields, p, len, 0, 0);
    if (drv == ZTTP_ERR_COMPRESSION || drv == ZTTP_ERR_NOMEM) {
      return zttp_h2_fail(conn, drv, "HPACK: malformed header block");
    }
    if (zttp_h2_stream_idle(conn, e, fh->stream_id) &&
        zttp_h2_peer_initiated(conn, fh->stream_id)) {
      e->last_peer_id = fh->stream_id;
    }
    return zttp_h2_stream_error(conn, e, fh->stream_id, ZTTP_H2_PROTOCOL_ERROR,
                                1);
  }
  int end_stream = (fh->flags & ZTTP_H2_FLAG_END_STREAM) != 0;
  if (fh->flags & ZTTP_H2_FLAG_END_HEADERS) {
    return on_header_block(conn, e, ev, fh->stream_id, end_stream, p, len);
  }
  size_t cap = zttp_h2_limit(conn, ZTTP_LIMIT_MAX_HEADER_BYTES);
  if (len > cap) {
    return zttp_h2_fail(conn, ZTTP_ERR_LIMIT_HEADER_BYTES,
                        "header block larger than ZTTP_LIMIT_MAX_HEADER_BYTES");
  }
  e->hblock.limit = cap;
  if ((rv = zttp_buf_reserve(&e->hblock, &conn->mem, len)) != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_NOMEM, "out of memory");
  }
  zttp_buf_put(&e->hblock, p, len);
  e->hb_active = 1;
  e->hb_stream = fh->stream_id;
  e->hb_end_stream = (uint8_t)end_stream;
  e->hb_frames = 0;
  return 0;
}

static int32_t on_continuation(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                               const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  if (++e->hb_frames > zttp_h2_limit(conn, ZTTP_LIMIT_H2_MAX_CONTINUATIONS)) {
    return zttp_h2_fail(
        conn, ZTTP_ERR_LIMIT_CONTINUATIONS,
        "more than %llu CONTINUATION frames in one header block",
        (unsigned long long)zttp_h2_limit(conn,
                                          ZTTP_LIMIT_H2_MAX_CONTINUATIONS));
  }
  if (fh->length > zttp_buf_room(&e->hblock)) {
    return zttp_h2_fail(conn, ZTTP_ERR_LIMIT_HEADER_BYTES,
                        "header block larger than ZTTP_LIMIT_MAX_HEADER_BYTES");
  }
  if (zttp_buf_reserve(&e->hblock, &conn->mem, fh->length) != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_NOMEM, "out of memory");
  }
  zttp_buf_put(&e->hblock, p, fh->length);
  if (!(fh->flags & ZTTP_H2_FLAG_END_HEADERS)) {
    return fh->length == 0 ? zttp_h2_glitch(conn, e, "empty CONTINUATION") : 0;
  }
  e->hb_active = 0;
  int32_t rv = on_header_block(conn, e, ev, e->hb_stream, e->hb_end_stream,
                               e->hblock.data + e->hblock.start,
                               zttp_buf_len(&e->hblock));
  zttp_buf_consume(&e->hblock, zttp_buf_len(&e->hblock));
  return rv;
}

static int32_t on_settings(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                           const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  if (fh->stream_id != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "SETTINGS on a stream");
  }
  if (fh->flags & ZTTP_H2_FLAG_ACK) {
    if (fh->length != 0) {
      return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE,
                          "SETTINGS ACK with a payload");
    }
    if (!e->settings_acked) {
      e->settings_acked = 1;
      /* The peer's encoder must now shrink to what we advertised: a
       * dynamic table size update above it is a COMPRESSION_ERROR. */
      e->dec.settings_max = zttp_h2_limit(conn, ZTTP_LIMIT_HEADER_TABLE_SIZE);
      /* Streams opened before the ACK had the default window too. */
      int64_t d = ZTTP_H2_DEFAULT_WINDOW - e->local_stream_window;
      if (d > 0) {
        for (size_t k = 0; k < e->streams.cap; k++) {
          if (e->streams.slots[k] != NULL) {
            e->streams.slots[k]->recv_window -= d;
          }
        }
      }
    }
    return 0;
  }
  if (fh->length % 6 != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE,
                        "SETTINGS length not a multiple "
                        "of 6");
  }
  int32_t rv;
  if (e->seen_peer_settings &&
      (rv = zttp_h2_glitch(conn, e, "SETTINGS after the first")) != 0) {
    return rv;
  }
  size_t num = 0;
  if ((rv = zttp_h2_apply_settings(conn, e, p, fh->length, &num)) != 0) {
    return rv;
  }
  e->seen_peer_settings = 1;
  rv = zttp_h2_write_frame(&e->out, &conn->mem, ZTTP_H2_SETTINGS,
                           ZTTP_H2_FLAG_ACK, 0, NULL, 0);
  if (rv != 0) {
    return zttp_h2_out_error(conn, rv);
  }
  if ((rv = zttp_h2_control_queued(conn, e)) != 0) {
    return rv;
  }
  ev->kind = ZTTP_EVENT_SETTINGS;
  ev->u.settings.settings = e->settings_ev;
  ev->u.settings.num_settings = num;
  return 1;
}

static int32_t on_ping(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                       const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  if (fh->stream_id != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "PING on a stream");
  }
  if (fh->length != 8) {
    return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE, "PING length not 8");
  }
  ev->kind = ZTTP_EVENT_PING;
  memcpy(ev->u.ping.opaque_data, p, 8);
  int32_t rv;
  if (fh->flags & ZTTP_H2_FLAG_ACK) {
    ev->flags = ZTTP_EVENT_FLAG_ACK;
    if (e->goaway_state == GOAWAY_FIRST &&
        memcmp(p, zttp_h2_shutdown_ping, 8) == 0) {
      /* RFC 9113 §6.8: a round trip after the first GOAWAY, the streams
       * the peer started are all known: send the final one. */
      zttp_h2_send_goaway(conn, e, e->last_peer_id, (uint32_t)e->goaway_code,
                          NULL);
    }
    return 1;
  }
  if ((rv = zttp_h2_glitch(conn, e, "PING")) != 0) {
    return rv;
  }
  rv = zttp_h2_write_frame(&e->out, &conn->mem, ZTTP_H2_PING, ZTTP_H2_FLAG_ACK,
                           0, p, 8);
  if (rv != 0) {
    return zttp_h2_out_error(conn, rv);
  }
  if ((rv = zttp_h2_control_queued(conn, e)) != 0) {
    return rv;
  }
  return 1;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a;
  uint32_t y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int32_t on_goaway(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                         const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  if (fh->stream_id != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "GOAWAY on a stream");
  }
  if (fh->length < 8) {
    return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE, "GOAWAY shorter than 8");
  }
  uint32_t last = zttp_h2_get32(p) & ZTTP_H2_MAX_STREAM_ID;
  uint32_t code = zttp_h2_get32(p + 4);
  if (!e->peer_goaway || last < e->peer_goaway_last) {
    e->peer_goaway_last = last;
  }
  e->peer_goaway = 1;
  /* RFC 9113 §6.8: our streams above |last| were not processed; the
   * application may retry them elsewhere. They are reported in id order. */
  size_t n = 0;
  uint32_t *ids = NULL;
  for (size_t k = 0; k < e->streams.cap; k++) {
    zttp_h2_stream *s = e->streams.slots[k];
    if (s != NULL && !zttp_h2_peer_initiated(conn, s->id) &&
        s->id > e->peer_goaway_last) {
      if (ids == NULL) {
        ids = zttp_mem_calloc(&conn->mem, e->streams.num, sizeof(*ids));
        if (ids == NULL) {
          return zttp_h2_fail(conn, ZTTP_ERR_NOMEM, "out of memory");
        }
      }
      ids[n++] = s->id;
    }
  }
  if (n > 0) {
    qsort(ids, n, sizeof(*ids), cmp_u32);
  }
  int32_t rv = 0;
  for (size_t i = 0; i < n && rv == 0; i++) {
    rv = zttp_h2_enqueue(conn, e, ZTTP_EVENT_STREAM_RESET, 0, ids[i],
                         ZTTP_H2_REFUSED_STREAM);
    if (rv == 0) {
      rv = zttp_h2_stream_release(conn, e, zttp_h2_find(e, ids[i]));
    }
  }
  zttp_mem_free(&conn->mem, ids);
  if (rv != 0) {
    return rv;
  }
  ev->kind = ZTTP_EVENT_GOAWAY;
  ev->u.goaway.last_stream_id = last;
  ev->u.goaway.error_code = code;
  ev->u.goaway.debug_data.base = (const char *)p + 8;
  ev->u.goaway.debug_data.len = fh->length - 8;
  return 1;
}

static int32_t on_window_update(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                                const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  if (fh->length != 4) {
    return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE,
                        "WINDOW_UPDATE length not 4");
  }
  uint32_t inc = zttp_h2_get32(p) & ZTTP_H2_MAX_STREAM_ID;
  if (fh->stream_id == 0) {
    if (inc == 0) {
      return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "WINDOW_UPDATE of 0");
    }
    e->conn_send_window += inc;
    if (e->conn_send_window > ZTTP_H2_MAX_WINDOW) {
      return zttp_h2_fail(conn, ZTTP_ERR_FLOW_CONTROL,
                          "connection window above 2^31-1");
    }
    if (e->conn_blocked && e->conn_send_window > 0) {
      e->conn_blocked = 0;
      ev->kind = ZTTP_EVENT_WINDOW_UPDATE;
      ev->stream_id = 0;
      size_t fit = zttp_h2_data_fit(e, zttp_h2_app_room(e));
      ev->u.window.available = (uint64_t)e->conn_send_window < fit
                                   ? (uint64_t)e->conn_send_window
                                   : fit;
      return 1;
    }
    return 0;
  }
  zttp_h2_stream *s = zttp_h2_find(e, fh->stream_id);
  if (s == NULL) {
    if (zttp_h2_stream_idle(conn, e, fh->stream_id)) {
      return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                          "WINDOW_UPDATE on idle stream %u", fh->stream_id);
    }
    return 0;
  }
  if (inc == 0) {
    return zttp_h2_stream_error(conn, e, s->id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  s->send_window += inc;
  if (s->send_window > ZTTP_H2_MAX_WINDOW) {
    return zttp_h2_stream_error(conn, e, s->id, ZTTP_H2_FLOW_CONTROL_ERROR, 1);
  }
  if ((s->flags & ZTTP_H2_SF_BLOCKED) && s->send_window > 0 &&
      e->conn_send_window > 0) {
    s->flags &= (uint8_t)~ZTTP_H2_SF_BLOCKED;
    ev->kind = ZTTP_EVENT_WINDOW_UPDATE;
    ev->stream_id = s->id;
    ev->u.window.available = zttp_h2_send_capacity(e, s);
    return 1;
  }
  return 0;
}

static int32_t on_rst_stream(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                             const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  if (fh->stream_id == 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "RST_STREAM on stream 0");
  }
  if (fh->length != 4) {
    return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE, "RST_STREAM length not 4");
  }
  zttp_h2_stream *s = zttp_h2_find(e, fh->stream_id);
  if (s == NULL) {
    if (zttp_h2_stream_idle(conn, e, fh->stream_id)) {
      return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                          "RST_STREAM on idle stream %u", fh->stream_id);
    }
    return zttp_h2_glitch(conn, e, "RST_STREAM on a closed stream");
  }
  int seen = (s->flags & ZTTP_H2_SF_SEEN_BY_APP) != 0;
  int32_t rv = zttp_h2_stream_release(conn, e, s);
  if (rv != 0) {
    return rv;
  }
  /* CVE-2023-44487: a stream opened and reset costs the server work the
   * client never waits for. */
  if (zttp_h2_peer_initiated(conn, fh->stream_id) &&
      zttp_h2_bucket_take(
          &e->resets, zttp_h2_limit(conn, ZTTP_LIMIT_RESET_BURST),
          zttp_h2_limit(conn, ZTTP_LIMIT_RESET_RATE), conn->now) != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
                        "stream reset budget exhausted");
  }
  if (!seen) {
    return 0;
  }
  ev->kind = ZTTP_EVENT_STREAM_RESET;
  ev->stream_id = fh->stream_id;
  ev->u.reset.error_code = zttp_h2_get32(p);
  return 1;
}

static int32_t on_priority_update(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                                  const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  /* RFC 9218 §7.1 */
  if (fh->stream_id != 0 || conn->role == ZTTP_CLIENT) {
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                        "PRIORITY_UPDATE not on stream 0 "
                        "of a server");
  }
  if (fh->length < 4) {
    return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE,
                        "PRIORITY_UPDATE shorter than 4");
  }
  uint32_t id = zttp_h2_get32(p) & ZTTP_H2_MAX_STREAM_ID;
  if (id == 0 || !zttp_h2_peer_initiated(conn, id)) {
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                        "PRIORITY_UPDATE for stream %u", id);
  }
  zttp_h2_stream *s = zttp_h2_find(e, id);
  if (s == NULL) {
    return zttp_h2_glitch(conn, e, "PRIORITY_UPDATE for a stream not open");
  }
  zttp_msg_priority_parse(&s->urgency, &s->incremental, (const char *)p + 4,
                          fh->length - 4);
  ev->kind = ZTTP_EVENT_PRIORITY;
  ev->stream_id = id;
  ev->u.priority.urgency = s->urgency;
  ev->u.priority.incremental = s->incremental;
  return 1;
}

/* Dispatches a whole non-DATA frame. Returns 1 with an event, 0, or an
 * error. */
static int32_t on_frame(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                        const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  switch (fh->type) {
  case ZTTP_H2_HEADERS:
    return on_headers(conn, e, ev, p);
  case ZTTP_H2_CONTINUATION:
    return on_continuation(conn, e, ev, p);
  case ZTTP_H2_PRIORITY:
    if (fh->stream_id == 0) {
      return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "PRIORITY on stream 0");
    }
    if (fh->length != 5) {
      return zttp_h2_stream_error(conn, e, fh->stream_id,
                                  ZTTP_H2_FRAME_SIZE_ERROR, 1);
    }
    /* RFC 9218 replaces these (we send SETTINGS_NO_RFC7540_PRIORITIES). */
    return zttp_h2_glitch(conn, e, "PRIORITY");
  case ZTTP_H2_RST_STREAM:
    return on_rst_stream(conn, e, ev, p);
  case ZTTP_H2_SETTINGS:
    return on_settings(conn, e, ev, p);
  case ZTTP_H2_PUSH_PROMISE:
    /* RFC 9113 §8.4: a server never receives it; as a client we sent
     * SETTINGS_ENABLE_PUSH = 0. */
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "PUSH_PROMISE received");
  case ZTTP_H2_PING:
    return on_ping(conn, e, ev, p);
  case ZTTP_H2_GOAWAY:
    return on_goaway(conn, e, ev, p);
  case ZTTP_H2_WINDOW_UPDATE:
    return on_window_update(conn, e, ev, p);
  case ZTTP_H2_PRIORITY_UPDATE:
    return on_priority_update(conn, e, ev, p);
  default:
    /* RFC 9113 §5.5: unknown frame types are ignored. */
    return 0;
  }
}

/* A DATA frame header: flow control is charged for the whole payload at
 * once (RFC 9113 §6.9.1), then the payload streams out as Data events. */
static int32_t on_data_header(zttp_conn *conn, h2_engine *e) {
  const zttp_h2_frame_header *fh = &e->fh;
  uint32_t id = fh->stream_id;
  if (id == 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "DATA on stream 0");
  }
  e->conn_recv_window -= fh->length;
  if (e->conn_recv_window < 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_FLOW_CONTROL,
                        "DATA beyond the connection window");
  }
  e->in_state = IN_DATA;
  e->data_end = (fh->flags & ZTTP_H2_FLAG_END_STREAM) != 0;
  e->data_padded = (fh->flags & ZTTP_H2_FLAG_PADDED) != 0;
  e->data_checked = 0;
  e->data_left = fh->length;
  e->data_stream = 0;
  e->skip_left = 0;
  if (e->data_padded && fh->length == 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE,
                        "padded DATA without pad length");
  }
  zttp_h2_stream *s = zttp_h2_find(e, id);
  int32_t rv;
  uint32_t code = 0;
  if (s == NULL) {
    if (zttp_h2_stream_idle(conn, e, id)) {
      return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "DATA on idle stream %u",
                          id);
    }
    if ((rv = zttp_h2_glitch(conn, e, "DATA on a closed stream")) != 0) {
      return rv;
    }
  } else if (s->recv != ZTTP_H2_RECV_BODY) {
    /* RFC 9113 §5.1, §8.1 */
    code = s->recv == ZTTP_H2_RECV_DONE ? ZTTP_H2_STREAM_CLOSED
                                        : ZTTP_H2_PROTOCOL_ERROR;
  } else if ((s->recv_window -= fh->length) < 0) {
    code = ZTTP_H2_FLOW_CONTROL_ERROR;
  } else {
    e->data_stream = id;
    if (fh->length == 0 && !e->data_end) {
      return zttp_h2_glitch(conn, e, "empty DATA");
    }
    return 0;
  }
  /* Dropped: skip the payload, return the connection credit now. */
  e->skip_left = fh->length;
  e->data_left = 0;
  e->data_padded = 0;
  e->data_end = 0;
  if ((rv = zttp_h2_conn_window_credit(conn, e, fh->length)) != 0) {
    return rv;
  }
  return code != 0 ? zttp_h2_stream_error(conn, e, id, code, 1) : 0;
}

/* The DATA payload, one step: the pad length, a span of data, padding, and
 * END_STREAM. Returns 1 with an event, 0 when it needs input, 2 after
 * progress without an event, or an error. */
static int32_t data_step(zttp_conn *conn, h2_engine *e, zttp_event *ev) {
  zttp_h2_stream *s =
      e->data_stream != 0 ? zttp_h2_find(e, e->data_stream) : NULL;
  size_t avail = zttp_buf_len(&e->in);
  int32_t rv;
  if (e->data_padded) {
    if (avail == 0) {
      return 0;
    }
    uint32_t pad = e->in.data[e->in.start];
    zttp_buf_consume(&e->in, 1);
    e->data_padded = 0;
    e->data_left--;
    if (pad > e->data_left) {
      return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                          "DATA padding exceeds the payload");
    }
    e->data_left -= pad;
    e->skip_left = pad;
    if (s != NULL) {
      /* Padding is flow-controlled but carries nothing to consume. */
      if ((rv = zttp_h2_stream_window_credit(conn, e, s, pad + 1u)) != 0 ||
          (rv = zttp_h2_conn_window_credit(conn, e, pad + 1u)) != 0) {
        return rv;
      }
    }
    return 2;
  }
  if (s != NULL && !e->data_checked) {
    e->data_checked = 1;
    uint64_t total = s->recv_bytes + e->data_left;
    if (((s->flags & ZTTP_H2_SF_RECV_BODYLESS) && e->data_left > 0) ||
        (s->recv_cl >= 0 && total > (uint64_t)s->recv_cl)) {
      /* RFC 9113 §8.1.1: more content than declared, or any on a bodyless
       * response. */
      e->skip_left += e->data_left;
      if ((rv = zttp_h2_conn_window_credit(conn, e, e->data_left)) != 0) {
        return rv;
      }
      e->data_left = 0;
      e->data_stream = 0;
      e->data_end = 0;
      rv = zttp_h2_stream_error(conn, e, s->id, ZTTP_H2_PROTOCOL_ERROR, 1);
      return rv != 0 ? rv : 2;
    }
  }
  if (e->data_left > 0) {
    if (avail == 0) {
      return 0;
    }
    size_t n = avail < e->data_left ? avail : e->data_left;
    const uint8_t *d = e->in.data + e->in.start;
    zttp_buf_consume(&e->in, n);
    e->data_left -= (uint32_t)n;
    if (s == NULL) {
      /* The stream was reset meanwhile: drop, return the credit. */
      rv = zttp_h2_conn_window_credit(conn, e, n);
      return rv != 0 ? rv : 2;
    }
    s->recv_bytes += n;
    s->recv_unconsumed += n;
    ev->kind = ZTTP_EVENT_DATA;
    ev->stream_id = s->id;
    ev->u.data.data = d;
    ev->u.data.len = n;
    return 1;
  }
  if (e->skip_left > 0) {
    if (avail == 0) {
      return 0;
    }
    size_t n = avail < e->skip_left ? avail : e->skip_left;
    zttp_buf_consume(&e->in, n);
    e->skip_left -= (uint32_t)n;
    return 2;
  }
  /* The frame is complete. */
  e->in_state = IN_HEADER;
  if (!e->data_end || s == NULL) {
    return 2;
  }
  if (s->recv_cl >= 0 && (uint64_t)s->recv_cl != s->recv_bytes &&
      !(s->flags & ZTTP_H2_SF_RECV_BODYLESS)) {
    rv = zttp_h2_stream_error(conn, e, s->id, ZTTP_H2_PROTOCOL_ERROR, 1);
    return rv != 0 ? rv : 2;
  }
  s->recv = ZTTP_H2_RECV_DONE;
  ev->kind = ZTTP_EVENT_END_MESSAGE;
  ev->stream_id = s->id;
  ev->u.end.trailers = NULL;
  ev->u.end.num_trailers = 0;
  if ((rv = zttp_h2_maybe_close(conn, e, s)) != 0) {
    return rv;
  }
  return 1;
}

static int32_t on_eof(zttp_conn *conn, h2_engine *e, zttp_event *ev) {
  if (e->eof_reported) {
    return 0;
  }
  if (e->in_state != IN_HEADER || zttp_buf_len(&e->in) != 0 || e->hb_active) {
    if (e->in_state == IN_PREFACE && zttp_buf_len(&e->in) == 0 &&
        !e->got_settings) {
      /* Closed before saying anything. */
    } else {
      return zttp_h2_fail(conn, ZTTP_ERR_UNEXPECTED_EOF,
                          "connection closed in the middle of a frame");
    }
  }
  e->eof_reported = 1;
  ev->kind = ZTTP_EVENT_CONNECTION_CLOSED;
  memset(&ev->u.closed, 0, sizeof(ev->u.closed));
  int open = e->streams.num > 0 && !e->closed;
  ev->u.closed.error = open && !e->peer_goaway ? ZTTP_ERR_UNEXPECTED_EOF : 0;
  ev->u.closed.wire_error_code = 0;
  return 1;
}

int32_t zttp_h2_next_event(zttp_conn *conn, zttp_event *ev) {
  h2_engine *e = zttp_h2_eng(conn);
  for (;;) {
    if (zttp_evq_pop(&e->evq, ev)) {
      return 1;
    }
    if (e->closed) {
      return 0;
    }
    size_t avail = zttp_buf_len(&e->in);
    static const uint8_t none[1];
    const uint8_t *p = avail > 0 ? e->in.data + e->in.start : none;
    int32_t rv;
    switch (e->in_state) {
    case IN_PREFACE: {
      size_t n = avail < ZTTP_H2_PREFACE_LEN ? avail : ZTTP_H2_PREFACE_LEN;
      if (memcmp(p, ZTTP_H2_PREFACE, n) != 0) {
        return zttp_h2_fail(conn, ZTTP_ERR_BAD_PREFACE,
                            "client connection preface mismatch");
      }
      if (n < ZTTP_H2_PREFACE_LEN) {
        return e->eof ? on_eof(conn, e, ev) : 0;
      }
      zttp_buf_consume(&e->in, ZTTP_H2_PREFACE_LEN);
      e->in_state = IN_HEADER;
      continue;
    }
    case IN_HEADER: {
      if (avail < ZTTP_H2_FRAME_HEADER_LEN) {
        return e->eof ? on_eof(conn, e, ev) : 0;
      }
      zttp_h2_frame_header_parse(&e->fh, p);
      const zttp_h2_frame_header *fh = &e->fh;
      if (fh->length > e->local_max_frame) {
        /* RFC 9113 §4.2, checked before anything is buffered. */
        return zttp_h2_fail(conn, ZTTP_ERR_FRAME_SIZE,
                            "frame of %u bytes exceeds SETTINGS_MAX_FRAME_SIZE",
                            fh->length);
      }
      if (!e->got_settings &&
          (fh->type != ZTTP_H2_SETTINGS || (fh->flags & ZTTP_H2_FLAG_ACK))) {
        /* RFC 9113 §3.4: the preface ends with a SETTINGS frame. */
        return zttp_h2_fail(conn, ZTTP_ERR_BAD_PREFACE,
                            "first frame is not SETTINGS");
      }
      if (e->hb_active &&
          (fh->type != ZTTP_H2_CONTINUATION || fh->stream_id != e->hb_stream)) {
        return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                            "header block interrupted by another frame");
      }
      if (!e->hb_active && fh->type == ZTTP_H2_CONTINUATION) {
        return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL, "unexpected CONTINUATION");
      }
      e->got_settings = 1;
      zttp_buf_consume(&e->in, ZTTP_H2_FRAME_HEADER_LEN);
      if (fh->type == ZTTP_H2_DATA) {
        if ((rv = on_data_header(conn, e)) != 0) {
          return rv;
        }
        continue;
      }
      if (fh->type > ZTTP_H2_CONTINUATION &&
          fh->type != ZTTP_H2_PRIORITY_UPDATE) {
        /* Unknown: skip the payload as it arrives. */
        e->skip_left = fh->length;
        e->data_end = 0;
        e->data_stream = 0;
        e->data_left = 0;
        e->data_padded = 0;
        e->data_checked = 1;
        e->in_state = IN_DATA;
        continue;
      }
      e->in_state = IN_PAYLOAD;
      continue;
    }
    case IN_PAYLOAD:
      if (avail < e->fh.length) {
        return e->eof ? on_eof(conn, e, ev) : 0;
      }
      zttp_buf_consume(&e->in, e->fh.length);
      e->in_state = IN_HEADER;
      rv = on_frame(conn, e, ev, p);
      if (rv != 0) {
        return rv;
      }
      continue;
    case IN_DATA:
    default:
      rv = data_step(conn, e, ev);
      if (rv == 2) {
        continue;
      }
      if (rv == 0 && e->eof) {
        return on_eof(conn, e, ev);
      }
      return rv;
    }
  }
}

int64_t zttp_h2_receive_data(zttp_conn *conn, const uint8_t *data, size_t len) {
  h2_engine *e = zttp_h2_eng(conn);
  if (e->eof) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "input after EOF");
  }
  if (len == 0) {
    e->eof = 1;
    return 0;
  }
  if (e->closed) {
    /* We closed at once: nothing more is read. */
    return (int64_t)len;
  }
  size_t room = zttp_buf_room(&e->in);
  size_t take = len < room ? len : room;
  if (take == 0) {
    return 0;
  }
  int32_t rv = zttp_buf_reserve(&e->in, &conn->mem, take);
  if (rv != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_NOMEM, "out of memory");
  }
  zttp_buf_put(&e->in, data, take);
  return (int64_t)take;
}
