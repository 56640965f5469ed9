/* The HTTP/2 engine's send side: messages and DATA out, header blocks
 * (RFC 9113 §4.3, §8), and the RFC 9218 scheduler.
 *
 * Output goes to |out|; DATA accepted beyond a low watermark waits in a
 * per-stream queue and is framed by the scheduler when the caller asks for
 * pending output.
 * SPDX-License-Identifier: MIT */
#include <string.h>

#include "h2/conn.h"
#include "h2/frame.h"
#include "common/msg.h"
#include "h2/stream.h"
#include "hpack/hpack.h"

/* Output above which accepted DATA waits in stream queues for the
 * scheduler instead of going straight to |out|. */
#define FILL_TARGET 32768u

/* ---- scheduling -------------------------------------------------------- */

void zttp_h2_sched_remove(h2_engine *e, zttp_h2_stream *s) {
  if (!(s->flags & ZTTP_H2_SF_SCHEDULED)) {
    return;
  }
  for (zttp_h2_stream **pp = &e->sched; *pp != NULL; pp = &(*pp)->sched_next) {
    if (*pp == s) {
      *pp = s->sched_next;
      break;
    }
  }
  s->sched_next = NULL;
  s->flags &= (uint8_t)~ZTTP_H2_SF_SCHEDULED;
}

static void sched_append(h2_engine *e, zttp_h2_stream *s) {
  zttp_h2_stream **pp = &e->sched;
  while (*pp != NULL) {
    pp = &(*pp)->sched_next;
  }
  *pp = s;
  s->sched_next = NULL;
  s->flags |= ZTTP_H2_SF_SCHEDULED;
}

/* Bytes sends may still add to the output (queued DATA included). */
size_t zttp_h2_app_room(const h2_engine *e) {
  size_t used = zttp_buf_len(&e->out) + e->queued_total;
  return used >= e->out_limit ? 0 : e->out_limit - used;
}

/* The most DATA payload that fits |room| bytes with its frame headers. */
size_t zttp_h2_data_fit(const h2_engine *e, size_t room) {
  size_t per = e->peer_max_frame + ZTTP_H2_FRAME_HEADER_LEN;
  size_t full = room / per;
  size_t rest = room % per;
  size_t n = full * e->peer_max_frame;
  if (rest > ZTTP_H2_FRAME_HEADER_LEN) {
    n += rest - ZTTP_H2_FRAME_HEADER_LEN;
  }
  return n;
}

size_t zttp_h2_send_capacity(const h2_engine *e, const zttp_h2_stream *s) {
  int64_t w = s->send_window < e->conn_send_window ? s->send_window
                                                   : e->conn_send_window;
  if (w <= 0) {
    return 0;
  }
  size_t room = zttp_h2_app_room(e);
  /* When |w| bytes fit with one header per 16384 (the smallest frame
   * size), they fit: skip zttp_h2_data_fit()'s divisions. */
  if ((uint64_t)w + ((uint64_t)w >> 14) * ZTTP_H2_FRAME_HEADER_LEN +
          ZTTP_H2_FRAME_HEADER_LEN <=
      room) {
    return (size_t)w;
  }
  size_t fit = zttp_h2_data_fit(e, room);
  return (uint64_t)w < fit ? (size_t)w : fit;
}

/* ---- output framing ----------------------------------------------------- */

/* Writes DATA frames for |len| bytes (|len| may be 0 with END_STREAM); the
 * room was reserved by the caller. */
static void put_data_frames(h2_engine *e, uint32_t id, const uint8_t *data,
                            size_t len, int end) {
  do {
    size_t n = len < e->peer_max_frame ? len : e->peer_max_frame;
    uint8_t flags = end && n == len ? ZTTP_H2_FLAG_END_STREAM : 0;
    uint8_t *p = e->out.data + e->out.end;
    zttp_h2_frame_header_write(p, (uint32_t)n, ZTTP_H2_DATA, flags, id);
    e->out.end += ZTTP_H2_FRAME_HEADER_LEN;
    if (n == 0) {
      break; /* an empty frame: END_STREAM alone */
    }
    zttp_buf_put(&e->out, data, n);
    data += n;
    len -= n;
  } while (len > 0);
}

static size_t data_frames_len(const h2_engine *e, size_t len) {
  if (len <= e->peer_max_frame) {
    return len + ZTTP_H2_FRAME_HEADER_LEN; /* one frame, maybe empty */
  }
  size_t frames =
      len == 0 ? 1 : (len + e->peer_max_frame - 1) / e->peer_max_frame;
  return len + frames * ZTTP_H2_FRAME_HEADER_LEN;
}

/* Moves the queued DATA of |s| into |out| (its window was taken when it was
 * accepted). */
static int32_t flush_queue(zttp_conn *conn, h2_engine *e, zttp_h2_stream *s,
                           size_t max) {
  size_t qlen = zttp_buf_len(&s->queue);
  size_t n = qlen < max ? qlen : max;
  int end = n == qlen && (s->flags & ZTTP_H2_SF_QUEUED_END);
  if (n == 0 && !end) {
    return 0;
  }
  int32_t rv = zttp_buf_reserve(&e->out, &conn->mem, data_frames_len(e, n));
  if (rv != 0) {
    return rv;
  }
  put_data_frames(e, s->id, s->queue.data + s->queue.start, n, end);
  zttp_buf_consume(&s->queue, n);
  e->queued_total -= n;
  if (end) {
    s->flags &= (uint8_t)~ZTTP_H2_SF_QUEUED_END;
  }
  if (zttp_buf_len(&s->queue) == 0 && !(s->flags & ZTTP_H2_SF_QUEUED_END)) {
    zttp_h2_sched_remove(e, s);
    zttp_buf_free(&s->queue, &conn->mem);
    if (end) {
      return zttp_h2_maybe_close(conn, e, s);
    }
  }
  return 0;
}

/* RFC 9218 §10: the most urgent stream first; at equal urgency,
 * non-incremental streams one at a time in order, then incremental ones
 * taking turns frame by frame. */
static zttp_h2_stream *sched_pick(zttp_h2_stream *best) {
  for (zttp_h2_stream *s = best->sched_next; s != NULL; s = s->sched_next) {
    if (s->urgency < best->urgency ||
        (s->urgency == best->urgency && best->incremental && !s->incremental)) {
      best = s;
    }
  }
  return best;
}

static int32_t fill_output(zttp_conn *conn, h2_engine *e) {
  while (e->sched != NULL && zttp_buf_len(&e->out) < FILL_TARGET) {
    zttp_h2_stream *s = sched_pick(e->sched);
    if (s->incremental) {
      /* Round robin: to the back of the list, before its turn (the flush
       * may close and free the stream). */
      zttp_h2_sched_remove(e, s);
      sched_append(e, s);
    }
    int32_t rv = flush_queue(conn, e, s, e->peer_max_frame);
    if (rv != 0) {
      return rv;
    }
  }
  return 0;
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

/* Encodes the scratch fields into HEADERS + CONTINUATION frames (RFC 9113
 * §4.3, §6.2, §6.10) on |id|. |control| frames may use the reserve beyond
 * the output limit; otherwise ZTTP_ERR_BUFFER_FULL leaves everything
 * untouched, the HPACK state included. */
int32_t zttp_h2_write_header_block(zttp_conn *conn, h2_engine *e, uint32_t id,
                                   size_t n, int end_stream, int control) {
  if (e->peer_max_header_list != UINT64_MAX) {
    uint64_t list = 0;
    for (size_t i = 0; i < n; i++) {
      list += e->sec.fields[i].name_len + e->sec.fields[i].value_len + 32;
    }
    if (list > e->peer_max_header_list) {
      return zttp_conn_error(conn, ZTTP_ERR_INVALID_FIELD, 0, (int64_t)id,
                             "header list of %llu bytes exceeds the peer's "
                             "SETTINGS_MAX_HEADER_LIST_SIZE (%llu)",
                             (unsigned long long)list,
                             (unsigned long long)e->peer_max_header_list);
    }
  }
  size_t bound = zttp_hpack_encode_bound(&e->enc, e->sec.fields, n);
  size_t maxf = e->peer_max_frame;
  size_t frames = bound / maxf + 1;
  size_t need = bound + frames * ZTTP_H2_FRAME_HEADER_LEN;
  if (!control && need > zttp_h2_app_room(e)) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  int32_t rv = zttp_buf_reserve(&e->out, &conn->mem, need);
  if (rv != 0) {
    return control ? zttp_h2_out_error(conn, rv) : rv;
  }
  uint8_t *base = e->out.data + e->out.end;
  size_t len = zttp_hpack_encode(&e->enc, base + ZTTP_H2_FRAME_HEADER_LEN,
                                 e->sec.fields, n);
  uint8_t flags = end_stream ? ZTTP_H2_FLAG_END_STREAM : 0;
  if (len <= maxf) {
    zttp_h2_frame_header_write(base, (uint32_t)len, ZTTP_H2_HEADERS,
                               (uint8_t)(flags | ZTTP_H2_FLAG_END_HEADERS), id);
    e->out.end += ZTTP_H2_FRAME_HEADER_LEN + len;
    return 0;
  }
  /* Split: piece k (k >= 1) moves right by 9 * k to make room for its
   * CONTINUATION header; move the last piece first. */
  size_t pieces = (len + maxf - 1) / maxf;
  for (size_t k = pieces - 1; k >= 1; k--) {
    size_t off = k * maxf;
    size_t plen = len - off < maxf ? len - off : maxf;
    uint8_t *src = base + ZTTP_H2_FRAME_HEADER_LEN + off;
    uint8_t *dst = base + k * (maxf + ZTTP_H2_FRAME_HEADER_LEN);
    memmove(dst + ZTTP_H2_FRAME_HEADER_LEN, src, plen);
    zttp_h2_frame_header_write(dst, (uint32_t)plen, ZTTP_H2_CONTINUATION,
                               k == pieces - 1 ? ZTTP_H2_FLAG_END_HEADERS : 0,
                               id);
  }
  zttp_h2_frame_header_write(base, (uint32_t)maxf, ZTTP_H2_HEADERS, flags, id);
  e->out.end += len + pieces * ZTTP_H2_FRAME_HEADER_LEN;
  return 0;
}

/* ---- sending ------------------------------------------------------------ */

static int32_t sendable(zttp_conn *conn, h2_engine *e) {
  if (e->closed) {
    return zttp_conn_error(conn, ZTTP_ERR_CLOSED, 0, -1,
                           "the connection was closed");
  }
  return 0;
}

static zttp_h2_stream *stream_arg(zttp_conn *conn, h2_engine *e,
                                  int64_t stream_id, int32_t *rv) {
  zttp_h2_stream *s = NULL;
  if (stream_id > 0 && stream_id <= ZTTP_H2_MAX_STREAM_ID) {
    s = zttp_h2_find(e, (uint32_t)stream_id);
  }
  if (s == NULL) {
    *rv = zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                          "no open stream %lld", (long long)stream_id);
  }
  return s;
}

int64_t zttp_h2_send_request(zttp_conn *conn, zttp_str method, zttp_str target,
                             const zttp_header *headers, size_t num_headers,
                             uint32_t flags) {
  h2_engine *e = zttp_h2_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  if (e->peer_goaway || e->goaway_state != GOAWAY_NONE) {
    return zttp_conn_error(conn, ZTTP_ERR_CLOSED, 0, -1,
                           "the connection is shutting down (GOAWAY)");
  }
  if (e->active_local >= e->peer_max_concurrent) {
    return zttp_conn_error(conn, ZTTP_ERR_STREAM_LIMIT, 0, -1,
                           "the peer's SETTINGS_MAX_CONCURRENT_STREAMS (%u) "
                           "streams are open",
                           e->peer_max_concurrent);
  }
  if (e->next_local_id > ZTTP_H2_MAX_STREAM_ID) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "stream ids exhausted");
  }
  zttp_msg_built b;
  zttp_str scheme = {e->tls ? "https" : "http", e->tls ? 5 : 4};
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
  uint32_t id = e->next_local_id;
  /* Create the stream first so the header block is never sent for a
   * stream we could not track. */
  zttp_h2_stream *s;
  if ((rv = zttp_h2_stream_new(conn, e, id, &s)) != 0) {
    return rv;
  }
  rv = zttp_h2_write_header_block(conn, e, id, b.num_fields, end, 0);
  if (rv != 0) {
    zttp_h2_stream_release(conn, e, s);
    return rv;
  }
  e->next_local_id += 2;
  s->recv = ZTTP_H2_RECV_HEADERS;
  s->send = end ? ZTTP_H2_SEND_DONE : ZTTP_H2_SEND_BODY;
  s->send_cl = b.connect ? -1 : b.content_length;
  s->flags |= ZTTP_H2_SF_SEEN_BY_APP;
  if (method.len == 4 && memcmp(method.base, "HEAD", 4) == 0) {
    s->flags |= ZTTP_H2_SF_HEAD;
  }
  if (b.connect) {
    s->flags |= ZTTP_H2_SF_CONNECT;
  }
  return id;
}

/* Sends a response head (1xx or final) on |s|; its content-length goes to
 * |*content_length| (-1: none). */
static int32_t send_status(zttp_conn *conn, h2_engine *e, zttp_h2_stream *s,
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
    return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, s->id,
                           "END_STREAM with a non-zero Content-Length");
  }
  return zttp_h2_write_header_block(conn, e, s->id, b.num_fields, end, 0);
}

int32_t zttp_h2_send_response(zttp_conn *conn, int64_t stream_id,
                              uint32_t status, zttp_str reason,
                              const zttp_header *headers, size_t num_headers,
                              uint32_t flags) {
  (void)reason; /* RFC 9113 §8.3.2: no reason phrase */
  h2_engine *e = zttp_h2_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  zttp_h2_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if (s->send != ZTTP_H2_SEND_HEADERS) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, stream_id,
                           "a final response was already sent");
  }
  int end = (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
  int64_t cl;
  int bodyless =
      (s->flags & ZTTP_H2_SF_HEAD) || zttp_h2_bodyless_status(status);
  if ((rv = send_status(conn, e, s, status, headers, num_headers, end, bodyless,
                        &cl)) != 0) {
    return rv;
  }
  s->send = end ? ZTTP_H2_SEND_DONE : ZTTP_H2_SEND_BODY;
  s->send_cl = bodyless ? 0 : cl;
  if (end) {
    return zttp_h2_maybe_close(conn, e, s);
  }
  return 0;
}

int32_t zttp_h2_send_informational(zttp_conn *conn, int64_t stream_id,
                                   uint32_t status, const zttp_header *headers,
                                   size_t num_headers) {
  h2_engine *e = zttp_h2_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  if (status == 101) {
    /* RFC 9113 §8.6 */
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_ARGUMENT, 0, stream_id,
                           "HTTP/2 has no 101");
  }
  zttp_h2_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if (s->send != ZTTP_H2_SEND_HEADERS) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, stream_id,
                           "a final response was already sent");
  }
  int64_t cl;
  return send_status(conn, e, s, status, headers, num_headers, 0, 0, &cl);
}

static int32_t body_state(zttp_conn *conn, zttp_h2_stream *s) {
  if (s->send == ZTTP_H2_SEND_BODY) {
    return 0;
  }
  return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, s->id,
                         s->send == ZTTP_H2_SEND_HEADERS
                             ? "no response head was sent on this stream"
                             : "the message on this stream has ended");
}

int64_t zttp_h2_send_data(zttp_conn *conn, int64_t stream_id,
                          const uint8_t *data, size_t len, uint32_t flags) {
  h2_engine *e = zttp_h2_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  zttp_h2_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if ((rv = body_state(conn, s)) != 0) {
    return rv;
  }
  int end = (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
  if (s->send_cl >= 0) {
    uint64_t left = (uint64_t)s->send_cl - s->sent;
    if (len > left || (end && len != left)) {
      return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, stream_id,
                             s->send_cl == 0 && len > 0
                                 ? "this message has no body"
                                 : "body length differs from content-length");
    }
  }
  size_t cap = zttp_h2_send_capacity(e, s);
  size_t take = len < cap ? len : cap;
  if (take < len) {
    int64_t w = s->send_window < e->conn_send_window ? s->send_window
                                                     : e->conn_send_window;
    if ((uint64_t)(w < 0 ? 0 : w) <= take) {
      s->flags |= ZTTP_H2_SF_BLOCKED;
      if (e->conn_send_window <= (int64_t)take) {
        e->conn_blocked = 1;
      }
    }
  }
  int finish = end && take == len;
  if (take == 0 && !finish) {
    return 0;
  }
  if (finish && take == 0 && zttp_h2_data_fit(e, zttp_h2_app_room(e)) == 0 &&
      zttp_buf_len(&s->queue) == 0) {
    /* An empty END_STREAM frame needs 9 bytes. */
    return ZTTP_ERR_BUFFER_FULL;
  }
  size_t direct = 0;
  if (e->sched == NULL) {
    size_t out_len = zttp_buf_len(&e->out);
    size_t under = out_len < FILL_TARGET ? FILL_TARGET - out_len : 0;
    direct = take < under ? take : under;
  }
  if (direct > 0 || (finish && take == 0 && e->sched == NULL)) {
    int dend = finish && direct == take;
    if ((rv = zttp_buf_reserve(&e->out, &conn->mem,
                               data_frames_len(e, direct))) != 0) {
      return rv;
    }
    put_data_frames(e, s->id, data, direct, dend);
  }
  size_t rest = take - direct;
  if (rest > 0 || (finish && direct != take) ||
      (finish && take == 0 && e->sched != NULL)) {
    if (rest > 0) {
      rv = zttp_buf_reserve(&s->queue, &conn->mem, rest);
      if (rv != 0) {
        /* What went out directly is taken; the rest was not. */
        goto accounted;
      }
      zttp_buf_put(&s->queue, data + direct, rest);
      e->queued_total += rest;
    }
    if (finish) {
      s->flags |= ZTTP_H2_SF_QUEUED_END;
    }
    if (!(s->flags & ZTTP_H2_SF_SCHEDULED)) {
      sched_append(e, s);
    }
  }
  direct = take;
accounted:
  s->send_window -= (int64_t)direct;
  e->conn_send_window -= (int64_t)direct;
  s->sent += direct;
  if (direct != take) {
    return direct > 0 ? (int64_t)direct : rv;
  }
  if (finish) {
    s->send = ZTTP_H2_SEND_DONE;
    if ((rv = zttp_h2_maybe_close(conn, e, s)) != 0) {
      return rv;
    }
  }
  return (int64_t)take;
}

int32_t zttp_h2_end_message(zttp_conn *conn, int64_t stream_id,
                            const zttp_header *trailers, size_t num_trailers) {
  h2_engine *e = zttp_h2_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  zttp_h2_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if ((rv = body_state(conn, s)) != 0) {
    return rv;
  }
  if (s->send_cl >= 0 && s->sent != (uint64_t)s->send_cl) {
    return zttp_conn_error(
        conn, ZTTP_ERR_FRAMING, 0, stream_id,
        "%llu body bytes short of content-length",
        (unsigned long long)((uint64_t)s->send_cl - s->sent));
  }
  if (num_trailers == 0) {
    int64_t n =
        zttp_h2_send_data(conn, stream_id, NULL, 0, ZTTP_SEND_FLAG_END_STREAM);
    return n < 0 ? (int32_t)n : 0;
  }
  /* Trailers follow every queued byte of the stream (RFC 9113 §8.1). */
  zttp_msg_built b;
  if ((rv = zttp_msg_out_trailers(&e->sec, &b, &conn->mem, trailers,
                                  num_trailers)) != 0) {
    return build_error(conn, rv, &b);
  }
  size_t qlen = zttp_buf_len(&s->queue);
  if (qlen > 0) {
    rv = flush_queue(conn, e, s, qlen);
    if (rv != 0) {
      return rv;
    }
  }
  if ((rv = zttp_h2_write_header_block(conn, e, s->id, b.num_fields, 1, 0)) !=
      0) {
    return rv;
  }
  s->send = ZTTP_H2_SEND_DONE;
  return zttp_h2_maybe_close(conn, e, s);
}

int32_t zttp_h2_reset_stream(zttp_conn *conn, int64_t stream_id,
                             uint64_t error_code) {
  h2_engine *e = zttp_h2_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  zttp_h2_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if (error_code > UINT32_MAX) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_ARGUMENT, 0, stream_id,
                           "HTTP/2 error codes are 32 bits");
  }
  rv = zttp_h2_write_rst_stream(&e->out, &conn->mem, s->id,
                                (uint32_t)error_code);
  if (rv != 0) {
    return rv;
  }
  zttp_evq_purge(&e->evq, s->id);
  return zttp_h2_stream_release(conn, e, s);
}

int32_t zttp_h2_close(zttp_conn *conn, uint64_t error_code, uint32_t flags) {
  h2_engine *e = zttp_h2_eng(conn);
  if (e->closed) {
    return 0;
  }
  uint32_t code =
      error_code > UINT32_MAX ? ZTTP_H2_INTERNAL_ERROR : (uint32_t)error_code;
  if (flags & ZTTP_CLOSE_FLAG_GRACEFUL) {
    if (e->goaway_state != GOAWAY_NONE) {
      return 0;
    }
    if (conn->role == ZTTP_SERVER) {
      /* RFC 9113 §6.8: a GOAWAY with the largest id, then after a PING
       * round trip the final one. */
      int32_t rv = zttp_h2_write_goaway(&e->out, &conn->mem,
                                        ZTTP_H2_MAX_STREAM_ID, code, NULL, 0);
      if (rv == 0) {
        rv = zttp_h2_write_frame(&e->out, &conn->mem, ZTTP_H2_PING, 0, 0,
                                 zttp_h2_shutdown_ping, 8);
      }
      if (rv != 0) {
        return rv;
      }
      e->goaway_state = GOAWAY_FIRST;
      e->goaway_code = code;
      e->goaway_last = ZTTP_H2_MAX_STREAM_ID;
      return 0;
    }
    zttp_h2_send_goaway(conn, e, 0, code, NULL);
    return e->goaway_state == GOAWAY_SENT ? 0 : ZTTP_ERR_NOMEM;
  }
  /* Immediate: GOAWAY, drop queued data, read nothing more. */
  zttp_h2_send_goaway(conn, e, conn->role == ZTTP_SERVER ? e->last_peer_id : 0,
                      code, NULL);
  e->closed = 1;
  for (size_t k = 0; k < e->streams.cap;) {
    zttp_h2_stream *s = e->streams.slots[k];
    if (s != NULL) {
      zttp_h2_stream_release(conn, e, s);
      continue;
    }
    k++;
  }
  e->closed = 1;
  zttp_evq_clear(&e->evq);
  return 0;
}

int32_t zttp_h2_should_close(const zttp_conn *conn) {
  const h2_engine *e = zttp_h2_eng(conn);
  if (e->closed || e->eof) {
    return 1;
  }
  int idle = e->streams.num == 0;
  if (e->goaway_state == GOAWAY_SENT && idle) {
    return 1;
  }
  return e->peer_goaway && idle;
}

int64_t zttp_h2_send_window(const zttp_conn *conn, int64_t stream_id) {
  h2_engine *e = zttp_h2_eng(conn);
  zttp_h2_stream *s = NULL;
  if (stream_id > 0 && stream_id <= ZTTP_H2_MAX_STREAM_ID) {
    s = zttp_h2_find(e, (uint32_t)stream_id);
  }
  if (s == NULL) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  if (s->send != ZTTP_H2_SEND_BODY || e->closed) {
    return 0;
  }
  size_t cap = zttp_h2_send_capacity(e, s);
  if (s->send_cl >= 0 && (uint64_t)s->send_cl - s->sent < cap) {
    cap = (size_t)((uint64_t)s->send_cl - s->sent);
  }
  if (cap == 0) {
    s->flags |= ZTTP_H2_SF_BLOCKED;
    if (e->conn_send_window <= 0) {
      e->conn_blocked = 1;
    }
  }
  return (int64_t)cap;
}

int32_t zttp_h2_data_consumed(zttp_conn *conn, int64_t stream_id, size_t len) {
  h2_engine *e = zttp_h2_eng(conn);
  if (stream_id <= 0 || stream_id > ZTTP_H2_MAX_STREAM_ID ||
      zttp_h2_stream_idle(conn, e, (uint32_t)stream_id)) {
    return zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                           "stream %lld was never opened",
                           (long long)stream_id);
  }
  zttp_h2_stream *s = zttp_h2_find(e, (uint32_t)stream_id);
  if (s == NULL || e->closed) {
    /* Closed: its unconsumed bytes were credited when it closed. */
    return 0;
  }
  if (len > s->recv_unconsumed) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_ARGUMENT, 0, stream_id,
                           "more bytes consumed than were received");
  }
  s->recv_unconsumed -= len;
  int32_t rv = zttp_h2_stream_window_credit(conn, e, s, len);
  if (rv == 0) {
    rv = zttp_h2_conn_window_credit(conn, e, len);
  }
  return rv;
}

size_t zttp_h2_pending(zttp_conn *conn, const uint8_t **out) {
  h2_engine *e = zttp_h2_eng(conn);
  if (conn->fatal == 0 && !e->closed && e->sched != NULL) {
    /* An allocation failure here leaves data queued for the next call. */
    (void)fill_output(conn, e);
  }
  *out = e->out.data + e->out.start;
  return zttp_buf_len(&e->out);
}

int32_t zttp_h2_consume(zttp_conn *conn, size_t len) {
  h2_engine *e = zttp_h2_eng(conn);
  if (len > zttp_buf_len(&e->out)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_buf_consume(&e->out, len);
  if (zttp_buf_len(&e->out) == 0) {
    e->ctrl_queued = 0;
  }
  return 0;
}

int32_t zttp_h2_ping(zttp_conn *conn, const uint8_t *opaque) {
  h2_engine *e = zttp_h2_eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  if (zttp_h2_app_room(e) < ZTTP_H2_FRAME_HEADER_LEN + 8) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  return zttp_h2_write_frame(&e->out, &conn->mem, ZTTP_H2_PING, 0, 0, opaque,
                             8);
}

int32_t zttp_h2_set_priority(zttp_conn *conn, int64_t stream_id,
                             uint32_t urgency, uint32_t incremental) {
  h2_engine *e = zttp_h2_eng(conn);
  if (urgency > 7 || incremental > 1) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_ARGUMENT, 0, stream_id,
                           "urgency is 0..7, incremental 0 or 1");
  }
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  zttp_h2_stream *s = stream_arg(conn, e, stream_id, &rv);
  if (s == NULL) {
    return rv;
  }
  if (conn->role == ZTTP_CLIENT) {
    /* RFC 9218 §7.1: PRIORITY_UPDATE on stream 0. */
    uint8_t p[4 + 8];
    zttp_h2_put32(p, s->id);
    size_t n = 4;
    p[n++] = 'u';
    p[n++] = '=';
    p[n++] = (uint8_t)('0' + urgency);
    if (incremental) {
      memcpy(p + n, ", i", 3);
      n += 3;
    }
    if (zttp_h2_app_room(e) < ZTTP_H2_FRAME_HEADER_LEN + n) {
      return ZTTP_ERR_BUFFER_FULL;
    }
    rv = zttp_h2_write_frame(&e->out, &conn->mem, ZTTP_H2_PRIORITY_UPDATE, 0, 0,
                             p, n);
    if (rv != 0) {
      return rv;
    }
  }
  s->urgency = (uint8_t)urgency;
  s->incremental = (uint8_t)incremental;
  return 0;
}
