/* The HTTP/2 engine (RFC 9113), both roles: connection preface, SETTINGS,
 * frame processing, stream states, flow control, the RFC 9218 send
 * scheduler, graceful shutdown, and the defences against peers that cost
 * work without carrying anything (rapid reset, floods).
 *
 * This file holds the life cycle, errors and budgets, the event queue,
 * streams, flow-control credit, SETTINGS and the vtable; recv.c parses
 * input into events and send.c frames output (h2/conn.h has the state
 * they share).
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "h2/conn.h"
#include "h2/h2.h"
#include "h2/frame.h"
#include "h2/stream.h"
#include "hpack/hpack.h"

#define NSEC_PER_SEC 1000000000ull

/* Bytes of |out| beyond ZTTP_LIMIT_OUTPUT_BUFFER that frames we owe the peer
 * (acknowledgements, resets, GOAWAY, window updates) may use, per queued
 * control frame allowed. */
#define CONTROL_FRAME_MAX 32u

/* Streams kept for reuse after they close. */
#define FREE_STREAMS_MAX 32u

/* ---- errors ------------------------------------------------------------- */

/* Queues a GOAWAY if none was sent; the output limit has room reserved for
 * it. */
void zttp_h2_send_goaway(zttp_conn *conn, h2_engine *e, uint32_t last,
                         uint32_t code, const char *debug) {
  size_t dlen = debug != NULL ? strlen(debug) : 0;
  if (dlen > 128) {
    dlen = 128;
  }
  if (zttp_h2_write_goaway(&e->out, &conn->mem, last, code, debug, dlen) == 0) {
    e->goaway_state = GOAWAY_SENT;
    e->goaway_last = last;
    e->goaway_code = code;
  }
}

/* A connection error (RFC 9113 §5.4.1): record it, poison the connection,
 * queue GOAWAY with the wire code. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int32_t
zttp_h2_fail(zttp_conn *conn, int32_t err, const char *fmt, ...) {
  h2_engine *e = zttp_h2_eng(conn);
  char msg[ZTTP_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  uint32_t wire = zttp_h2_wire_error(err);
  if (conn->fatal == 0 && e->goaway_state != GOAWAY_SENT) {
    zttp_h2_send_goaway(conn, e, e->last_peer_id, wire, msg);
  } else if (conn->fatal == 0) {
    /* A final GOAWAY went out already; this one only corrects the code
     * (RFC 9113 §6.8 allows several). */
    zttp_h2_send_goaway(conn, e, e->goaway_last, wire, msg);
  }
  return zttp_conn_error(conn, err, wire, -1, "%s", msg);
}

int zttp_h2_bucket_take(bucket *b, uint64_t burst, uint64_t rate,
                        zttp_tstamp now) {
  if (now > b->last) {
    uint64_t elapsed = now - b->last;
    uint64_t add = elapsed / NSEC_PER_SEC * rate +
                   elapsed % NSEC_PER_SEC * rate / NSEC_PER_SEC;
    if (add > 0) {
      b->tokens = b->tokens + add > burst ? burst : b->tokens + add;
      b->last = now;
    }
  }
  if (b->tokens == 0) {
    return -1;
  }
  b->tokens--;
  return 0;
}

/* One frame that cost work and carried nothing (zttp.h:
 * ZTTP_LIMIT_GLITCH_BURST). */
int32_t zttp_h2_glitch(zttp_conn *conn, h2_engine *e, const char *what) {
  if (zttp_h2_bucket_take(
          &e->glitches, zttp_h2_limit(conn, ZTTP_LIMIT_GLITCH_BURST),
          zttp_h2_limit(conn, ZTTP_LIMIT_GLITCH_RATE), conn->now) != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
                        "glitch budget exhausted (last: %s)", what);
  }
  return 0;
}

/* A control frame we owe the peer because of what it sent. */
int32_t zttp_h2_control_queued(zttp_conn *conn, h2_engine *e) {
  if (++e->ctrl_queued > e->ctrl_max) {
    return zttp_h2_fail(
        conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
        "more than %u control frames queued while the peer does "
        "not read",
        e->ctrl_max);
  }
  return 0;
}

int32_t zttp_h2_out_error(zttp_conn *conn, int32_t rv) {
  if (rv == ZTTP_ERR_NOMEM) {
    return zttp_h2_fail(conn, ZTTP_ERR_NOMEM, "out of memory");
  }
  /* The reserve holds every control frame we allow: running out means the
   * peer made us queue them faster than it reads. */
  return zttp_h2_fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
                      "output reserve exhausted by frames the peer caused");
}

/* ---- events ------------------------------------------------------------- */

int32_t zttp_h2_enqueue(zttp_conn *conn, h2_engine *e, uint32_t kind,
                        uint32_t flags, int64_t stream_id, uint64_t code) {
  if (zttp_evq_full(&e->evq) && zttp_evq_grow(&e->evq, &conn->mem) != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_NOMEM, "out of memory");
  }
  zttp_evq_push(&e->evq, kind, flags, stream_id, code);
  return 0;
}

/* ---- streams ------------------------------------------------------------ */

/* Nonzero when |id| was never opened by its initiator (RFC 9113 §5.1
 * "idle"). */
int zttp_h2_stream_idle(const zttp_conn *conn, const h2_engine *e,
                        uint32_t id) {
  if (zttp_h2_peer_initiated(conn, id)) {
    return id > e->last_peer_id;
  }
  return id >= e->next_local_id;
}

int32_t zttp_h2_stream_new(zttp_conn *conn, h2_engine *e, uint32_t id,
                           zttp_h2_stream **out) {
  zttp_h2_stream *s = e->free_list;
  if (s != NULL) {
    e->free_list = s->free_next;
    e->free_count--;
  } else {
    s = zttp_mem_malloc(&conn->mem, sizeof(*s));
    if (s == NULL) {
      return ZTTP_ERR_NOMEM;
    }
  }
  memset(s, 0, sizeof(*s));
  s->id = id;
  s->urgency = 3;
  s->recv_cl = -1;
  s->send_cl = -1;
  s->send_window = e->peer_initial_window;
  s->recv_window =
      e->settings_acked || e->local_stream_window >= ZTTP_H2_DEFAULT_WINDOW
          ? e->local_stream_window
          : ZTTP_H2_DEFAULT_WINDOW;
  zttp_buf_init(&s->queue, e->out_limit);
  if (zttp_h2_stream_insert(&e->streams, &conn->mem, s) != 0) {
    zttp_mem_free(&conn->mem, s);
    return ZTTP_ERR_NOMEM;
  }
  if (zttp_h2_peer_initiated(conn, id)) {
    e->active_peer++;
  } else {
    e->active_local++;
  }
  *out = s;
  return 0;
}

/* Forgets |s|: the stream is closed. Unconsumed received bytes go back to
 * the connection window, since no one will consume them any more. */
int32_t zttp_h2_stream_release(zttp_conn *conn, h2_engine *e,
                               zttp_h2_stream *s) {
  uint64_t unconsumed = s->recv_unconsumed;
  size_t queued = zttp_buf_len(&s->queue);
  zttp_h2_sched_remove(e, s);
  e->queued_total -= queued;
  /* Queued DATA was charged to the connection window when it was accepted
   * but never sent: the peer still counts that credit as ours. */
  e->conn_send_window += (int64_t)queued;
  zttp_buf_free(&s->queue, &conn->mem);
  zttp_h2_stream_remove(&e->streams, s->id);
  if (zttp_h2_peer_initiated(conn, s->id)) {
    e->active_peer--;
  } else {
    e->active_local--;
  }
  if (e->free_count < FREE_STREAMS_MAX) {
    s->free_next = e->free_list;
    e->free_list = s;
    e->free_count++;
  } else {
    zttp_mem_free(&conn->mem, s);
  }
  if (queued > 0 && e->conn_blocked && e->conn_send_window > 0) {
    e->conn_blocked = 0;
    int32_t rv = zttp_h2_enqueue(conn, e, ZTTP_EVENT_WINDOW_UPDATE, 0, 0,
                                 (uint64_t)e->conn_send_window);
    if (rv != 0) {
      return rv;
    }
  }
  return unconsumed > 0 ? zttp_h2_conn_window_credit(conn, e, unconsumed) : 0;
}

/* Closes |s| when both sides are done and nothing is queued. */
int32_t zttp_h2_maybe_close(zttp_conn *conn, h2_engine *e, zttp_h2_stream *s) {
  if (s->recv == ZTTP_H2_RECV_DONE && s->send == ZTTP_H2_SEND_DONE &&
      zttp_buf_len(&s->queue) == 0 && !(s->flags & ZTTP_H2_SF_QUEUED_END)) {
    return zttp_h2_stream_release(conn, e, s);
  }
  return 0;
}

/* A stream error (RFC 9113 §5.4.2): RST_STREAM with |code|; the application
 * hears of it if it knew the stream. |peer_caused| resets draw on the reset
 * budget (CVE-2023-44487, CVE-2025-8671). */
int32_t zttp_h2_stream_error(zttp_conn *conn, h2_engine *e, uint32_t id,
                             uint32_t code, int peer_caused) {
  int32_t rv = zttp_h2_write_rst_stream(&e->out, &conn->mem, id, code);
  if (rv != 0) {
    return zttp_h2_out_error(conn, rv);
  }
  if ((rv = zttp_h2_control_queued(conn, e)) != 0) {
    return rv;
  }
  zttp_h2_stream *s = zttp_h2_find(e, id);
  if (s != NULL) {
    if (s->flags & ZTTP_H2_SF_SEEN_BY_APP) {
      rv = zttp_h2_enqueue(conn, e, ZTTP_EVENT_STREAM_RESET, 0, id, code);
      if (rv != 0) {
        return rv;
      }
    }
    if ((rv = zttp_h2_stream_release(conn, e, s)) != 0) {
      return rv;
    }
  }
  if (peer_caused &&
      zttp_h2_bucket_take(
          &e->resets, zttp_h2_limit(conn, ZTTP_LIMIT_RESET_BURST),
          zttp_h2_limit(conn, ZTTP_LIMIT_RESET_RATE), conn->now) != 0) {
    return zttp_h2_fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
                        "stream reset budget exhausted");
  }
  return 0;
}

/* ---- flow control ------------------------------------------------------- */

/* RFC 9113 §6.9: credit returns in WINDOW_UPDATE frames once half of the
 * window was consumed, so small reads do not each cost a frame. */
int32_t zttp_h2_conn_window_credit(zttp_conn *conn, h2_engine *e, uint64_t n) {
  e->conn_recv_unacked += n;
  /* After a GOAWAY the streams below its id still complete (RFC 9113
   * §6.8) and need credit; after an immediate close nothing is sent. */
  if (e->conn_recv_unacked >= (uint64_t)e->local_conn_window / 2 &&
      !e->closed && conn->fatal == 0) {
    int32_t rv = zttp_h2_write_window_update(&e->out, &conn->mem, 0,
                                             (uint32_t)e->conn_recv_unacked);
    if (rv != 0) {
      return zttp_h2_out_error(conn, rv);
    }
    e->conn_recv_window += (int64_t)e->conn_recv_unacked;
    e->conn_recv_unacked = 0;
  }
  return 0;
}

int32_t zttp_h2_stream_window_credit(zttp_conn *conn, h2_engine *e,
                                     zttp_h2_stream *s, uint64_t n) {
  s->recv_unacked += n;
  if (s->recv != ZTTP_H2_RECV_DONE && !e->closed && conn->fatal == 0 &&
      s->recv_unacked >= (uint64_t)e->local_stream_window / 2) {
    int32_t rv = zttp_h2_write_window_update(&e->out, &conn->mem, s->id,
                                             (uint32_t)s->recv_unacked);
    if (rv != 0) {
      return zttp_h2_out_error(conn, rv);
    }
    s->recv_window += (int64_t)s->recv_unacked;
    s->recv_unacked = 0;
  }
  return 0;
}

/* ---- settings ----------------------------------------------------------- */

static int32_t write_settings(zttp_conn *conn, h2_engine *e) {
  uint8_t p[8 * 6];
  size_t n = 0;
#define PUT_SETTING(id, v)                                                     \
  do {                                                                         \
    p[n] = 0;                                                                  \
    p[n + 1] = (uint8_t)(id);                                                  \
    zttp_h2_put32(p + n + 2, (uint32_t)(v));                                   \
    n += 6;                                                                    \
  } while (0)
  uint64_t table = zttp_h2_limit(conn, ZTTP_LIMIT_HEADER_TABLE_SIZE);
  if (table != 4096) {
    PUT_SETTING(ZTTP_H2_SETTINGS_HEADER_TABLE_SIZE, table);
  }
  /* RFC 9113 §8.4: we never push, and refuse pushes. */
  PUT_SETTING(ZTTP_H2_SETTINGS_ENABLE_PUSH, 0);
  PUT_SETTING(ZTTP_H2_SETTINGS_MAX_CONCURRENT_STREAMS, e->local_max_concurrent);
  if (e->local_stream_window != ZTTP_H2_DEFAULT_WINDOW) {
    PUT_SETTING(ZTTP_H2_SETTINGS_INITIAL_WINDOW_SIZE, e->local_stream_window);
  }
  if (e->local_max_frame != ZTTP_H2_DEFAULT_FRAME_SIZE) {
    PUT_SETTING(ZTTP_H2_SETTINGS_MAX_FRAME_SIZE, e->local_max_frame);
  }
  PUT_SETTING(ZTTP_H2_SETTINGS_MAX_HEADER_LIST_SIZE,
              zttp_h2_limit(conn, ZTTP_LIMIT_MAX_HEADER_BYTES));
  if (conn->role == ZTTP_SERVER && e->connect_protocol) {
    PUT_SETTING(ZTTP_H2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1);
  }
  PUT_SETTING(ZTTP_H2_SETTINGS_NO_RFC7540_PRIORITIES, 1);
#undef PUT_SETTING
  return zttp_h2_write_frame(&e->out, &conn->mem, ZTTP_H2_SETTINGS, 0, 0, p, n);
}

/* Applies the peer's SETTINGS payload (RFC 9113 §6.5.2, RFC 8441 §3,
 * RFC 9218 §2.1) and records the pairs for the event. */
int32_t zttp_h2_apply_settings(zttp_conn *conn, h2_engine *e, const uint8_t *p,
                               size_t len, size_t *num_out) {
  size_t num = len / 6;
  if (num > e->settings_cap) {
    zttp_setting *a =
        zttp_mem_realloc(&conn->mem, e->settings_ev, num * sizeof(*a));
    if (a == NULL) {
      return zttp_h2_fail(conn, ZTTP_ERR_NOMEM, "out of memory");
    }
    e->settings_ev = a;
    e->settings_cap = num;
  }
  for (size_t i = 0; i < num; i++, p += 6) {
    uint16_t id = (uint16_t)(p[0] << 8 | p[1]);
    uint32_t v = zttp_h2_get32(p + 2);
    e->settings_ev[i].id = id;
    e->settings_ev[i].value = v;
    switch (id) {
    case ZTTP_H2_SETTINGS_HEADER_TABLE_SIZE:
      zttp_hpack_encoder_set_peer_max(&e->enc, v);
      break;
    case ZTTP_H2_SETTINGS_ENABLE_PUSH:
      if (v > 1 || (conn->role == ZTTP_CLIENT && v == 1)) {
        return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                            "invalid SETTINGS_ENABLE_PUSH");
      }
      break;
    case ZTTP_H2_SETTINGS_MAX_CONCURRENT_STREAMS:
      e->peer_max_concurrent = v;
      break;
    case ZTTP_H2_SETTINGS_INITIAL_WINDOW_SIZE: {
      if (v > ZTTP_H2_MAX_WINDOW) {
        return zttp_h2_fail(conn, ZTTP_ERR_FLOW_CONTROL,
                            "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1");
      }
      /* RFC 9113 §6.9.2: the difference applies to every open stream. */
      int64_t delta = (int64_t)v - e->peer_initial_window;
      e->peer_initial_window = v;
      for (size_t k = 0; k < e->streams.cap; k++) {
        zttp_h2_stream *s = e->streams.slots[k];
        if (s == NULL) {
          continue;
        }
        s->send_window += delta;
        if (s->send_window > ZTTP_H2_MAX_WINDOW) {
          return zttp_h2_fail(
              conn, ZTTP_ERR_FLOW_CONTROL,
              "SETTINGS_INITIAL_WINDOW_SIZE overflows a window");
        }
        if (delta > 0 && (s->flags & ZTTP_H2_SF_BLOCKED) &&
            s->send_window > 0 && e->conn_send_window > 0) {
          s->flags &= (uint8_t)~ZTTP_H2_SF_BLOCKED;
          int32_t rv = zttp_h2_enqueue(conn, e, ZTTP_EVENT_WINDOW_UPDATE, 0,
                                       s->id, zttp_h2_send_capacity(e, s));
          if (rv != 0) {
            return rv;
          }
        }
      }
      break;
    }
    case ZTTP_H2_SETTINGS_MAX_FRAME_SIZE:
      if (v < ZTTP_H2_DEFAULT_FRAME_SIZE || v > ZTTP_H2_MAX_FRAME_SIZE_CAP) {
        return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                            "invalid SETTINGS_MAX_FRAME_SIZE");
      }
      e->peer_max_frame = v;
      break;
    case ZTTP_H2_SETTINGS_MAX_HEADER_LIST_SIZE:
      e->peer_max_header_list = v;
      break;
    case ZTTP_H2_SETTINGS_ENABLE_CONNECT_PROTOCOL:
      if (v > 1 || (e->peer_connect_protocol && v == 0)) {
        return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                            "invalid SETTINGS_ENABLE_CONNECT_PROTOCOL");
      }
      e->peer_connect_protocol = (uint8_t)v;
      break;
    case ZTTP_H2_SETTINGS_NO_RFC7540_PRIORITIES:
      if (v > 1) {
        return zttp_h2_fail(conn, ZTTP_ERR_PROTOCOL,
                            "invalid SETTINGS_NO_RFC7540_PRIORITIES");
      }
      break;
    default:
      /* RFC 9113 §6.5.2: unknown settings are ignored. */
      break;
    }
  }
  *num_out = num;
  return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static size_t h2_state_size(const zttp_settings *settings) {
  (void)settings;
  return sizeof(h2_engine);
}

static int32_t h2_init(zttp_conn *conn) {
  h2_engine *e = zttp_h2_eng(conn);
  const zttp_settings *st = &conn->settings;
  uint64_t maxf = st->limits[ZTTP_LIMIT_H2_MAX_FRAME_SIZE];
  if (maxf + ZTTP_H2_FRAME_HEADER_LEN > st->limits[ZTTP_LIMIT_INPUT_BUFFER]) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  e->out_limit = st->limits[ZTTP_LIMIT_OUTPUT_BUFFER];
  e->ctrl_max = (uint32_t)st->limits[ZTTP_LIMIT_H2_MAX_QUEUED_CONTROL];
  zttp_buf_init(&e->in, st->limits[ZTTP_LIMIT_INPUT_BUFFER]);
  /* Sends stop at out_limit; frames owed to the peer use the reserve. */
  zttp_buf_init(&e->out, e->out_limit +
                             (size_t)e->ctrl_max * CONTROL_FRAME_MAX +
                             ZTTP_H2_FRAME_HEADER_LEN + 8 + 128);
  zttp_buf_init(&e->hblock, st->limits[ZTTP_LIMIT_MAX_HEADER_BYTES]);
  e->in_state = conn->role == ZTTP_SERVER ? IN_PREFACE : IN_HEADER;
  e->local_max_frame = (uint32_t)maxf;
  e->local_stream_window = (int64_t)st->limits[ZTTP_LIMIT_STREAM_WINDOW];
  e->local_conn_window = (int64_t)st->limits[ZTTP_LIMIT_CONNECTION_WINDOW];
  e->local_max_concurrent =
      (uint32_t)st->limits[ZTTP_LIMIT_MAX_CONCURRENT_STREAMS];
  e->connect_protocol = st->options[ZTTP_OPT_ENABLE_CONNECT_PROTOCOL] != 0;
  e->tls = st->options[ZTTP_OPT_TLS] != 0;
  e->peer_max_frame = ZTTP_H2_DEFAULT_FRAME_SIZE;
  /* RFC 9113 §6.5.2: unlimited until the peer says otherwise; our own
   * limit bounds what we open. */
  e->peer_max_concurrent = e->local_max_concurrent;
  e->peer_max_header_list = UINT64_MAX;
  e->peer_initial_window = ZTTP_H2_DEFAULT_WINDOW;
  e->conn_send_window = ZTTP_H2_DEFAULT_WINDOW;
  e->conn_recv_window = ZTTP_H2_DEFAULT_WINDOW;
  e->next_local_id = conn->role == ZTTP_CLIENT ? 1 : 2;
  e->resets.tokens = st->limits[ZTTP_LIMIT_RESET_BURST];
  e->glitches.tokens = st->limits[ZTTP_LIMIT_GLITCH_BURST];
  /* Until the peer acknowledges our SETTINGS it may use the RFC 7541
   * default of 4096 (RFC 9113 §6.5.3); a smaller advertised size applies
   * from the ACK on. */
  uint64_t table = st->limits[ZTTP_LIMIT_HEADER_TABLE_SIZE];
  int32_t rv =
      zttp_hpack_decoder_init(&e->dec, &conn->mem, table < 4096 ? 4096 : table);
  if (rv != 0) {
    goto fail_dec;
  }
  rv = zttp_hpack_encoder_init(&e->enc, &conn->mem,
                               st->limits[ZTTP_LIMIT_ENCODER_TABLE_SIZE]);
  if (rv != 0) {
    goto fail_enc;
  }
  /* RFC 9113 §3.4: the preface (client magic), our SETTINGS, and the
   * connection window beyond the default. */
  if (conn->role == ZTTP_CLIENT) {
    rv = zttp_buf_reserve(&e->out, &conn->mem, ZTTP_H2_PREFACE_LEN);
    if (rv != 0) {
      goto fail_out;
    }
    zttp_buf_put(&e->out, ZTTP_H2_PREFACE, ZTTP_H2_PREFACE_LEN);
  }
  if ((rv = write_settings(conn, e)) != 0) {
    goto fail_out;
  }
  if (e->local_conn_window > ZTTP_H2_DEFAULT_WINDOW) {
    rv = zttp_h2_write_window_update(
        &e->out, &conn->mem, 0,
        (uint32_t)(e->local_conn_window - ZTTP_H2_DEFAULT_WINDOW));
    if (rv != 0) {
      goto fail_out;
    }
    e->conn_recv_window = e->local_conn_window;
  }
  return 0;
fail_out:
  zttp_buf_free(&e->out, &conn->mem);
  zttp_hpack_encoder_free(&e->enc);
fail_enc:
  zttp_hpack_decoder_free(&e->dec);
fail_dec:
  return rv;
}

static void h2_free(zttp_conn *conn) {
  h2_engine *e = zttp_h2_eng(conn);
  for (size_t k = 0; k < e->streams.cap; k++) {
    zttp_h2_stream *s = e->streams.slots[k];
    if (s != NULL) {
      zttp_buf_free(&s->queue, &conn->mem);
      zttp_mem_free(&conn->mem, s);
    }
  }
  zttp_h2_stream_table_free(&e->streams, &conn->mem);
  while (e->free_list != NULL) {
    zttp_h2_stream *s = e->free_list;
    e->free_list = s->free_next;
    zttp_mem_free(&conn->mem, s);
  }
  zttp_buf_free(&e->in, &conn->mem);
  zttp_buf_free(&e->out, &conn->mem);
  zttp_buf_free(&e->hblock, &conn->mem);
  zttp_hpack_decoder_free(&e->dec);
  zttp_hpack_encoder_free(&e->enc);
  zttp_hpack_fields_free(&e->fields, &conn->mem);
  zttp_msg_out_free(&e->sec, &conn->mem);
  zttp_mem_free(&conn->mem, e->settings_ev);
  zttp_evq_free(&e->evq, &conn->mem);
}

int32_t zttp_h2_upgrade(zttp_conn *conn, zttp_str method, const char *settings,
                        size_t settings_len) {
  h2_engine *e = zttp_h2_eng(conn);
  /* RFC 7540 §3.2.1: HTTP2-Settings is a SETTINGS payload in base64url. */
  size_t cap = settings_len * 3 / 4 + 3;
  uint8_t *p = zttp_mem_malloc(&conn->mem, cap);
  if (p == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  int64_t n = zttp_h2_base64url_decode(p, settings, settings_len);
  int32_t rv = 0;
  size_t num = 0;
  if (n < 0 || n % 6 != 0) {
    rv = ZTTP_ERR_PROTOCOL;
  } else if ((rv = zttp_h2_apply_settings(conn, e, p, (size_t)n, &num)) == 0) {
    e->seen_peer_settings = 1;
  }
  zttp_mem_free(&conn->mem, p);
  if (rv != 0) {
    return rv;
  }
  /* Stream 1 is the upgraded request, half-closed (remote). */
  zttp_h2_stream *s;
  if ((rv = zttp_h2_stream_new(conn, e, 1, &s)) != 0) {
    return rv;
  }
  s->recv = ZTTP_H2_RECV_DONE;
  s->send = ZTTP_H2_SEND_HEADERS;
  s->flags |= ZTTP_H2_SF_SEEN_BY_APP;
  if (method.len == 4 && memcmp(method.base, "HEAD", 4) == 0) {
    s->flags |= ZTTP_H2_SF_HEAD;
  }
  e->last_peer_id = 1;
  return 0;
}

const zttp_engine_vtbl zttp_h2_engine = {
    .state_size = h2_state_size,
    .init = h2_init,
    .free = h2_free,
    .receive_data = zttp_h2_receive_data,
    .receive_datagram = NULL,
    .next_event = zttp_h2_next_event,
    .send_request = zttp_h2_send_request,
    .send_response = zttp_h2_send_response,
    .send_error_response = NULL,
    .send_informational = zttp_h2_send_informational,
    .send_data = zttp_h2_send_data,
    .end_message = zttp_h2_end_message,
    .reset_stream = zttp_h2_reset_stream,
    .close = zttp_h2_close,
    .should_close = zttp_h2_should_close,
    .send_window = zttp_h2_send_window,
    .data_consumed = zttp_h2_data_consumed,
    .pending = zttp_h2_pending,
    .consume = zttp_h2_consume,
    .write_datagram = NULL,
    .next_timeout = NULL,
    .handle_timeout = NULL,
    .ping = zttp_h2_ping,
    .set_priority = zttp_h2_set_priority,
};
