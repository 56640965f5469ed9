/* The HTTP/2 engine (RFC 9113), both roles: connection preface, SETTINGS,
 * frame processing, stream states, flow control, the RFC 9218 send
 * scheduler, graceful shutdown, and the defences against peers that cost
 * work without carrying anything (rapid reset, floods).
 *
 * Input is copied into |in| by receive_data and parsed by next_event one
 * frame (or one DATA span) at a time, so a Data event points into |in|.
 * Output goes to |out|; DATA accepted beyond a low watermark waits in a
 * per-stream queue and is framed by the scheduler when the caller asks for
 * pending output.
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "h2/h2.h"
#include "h2/frame.h"
#include "h2/message.h"
#include "h2/stream.h"
#include "hpack/hpack.h"

#define NSEC_PER_SEC 1000000000ull

/* Output above which accepted DATA waits in stream queues for the
 * scheduler instead of going straight to |out|. */
#define FILL_TARGET 32768u

/* Bytes of |out| beyond ZTTP_LIMIT_OUTPUT_BUFFER that frames we owe the peer
 * (acknowledgements, resets, GOAWAY, window updates) may use, per queued
 * control frame allowed. */
#define CONTROL_FRAME_MAX 32u

/* Streams kept for reuse after they close. */
#define FREE_STREAMS_MAX 32u

/* The opaque data of the PING that times the second GOAWAY of a graceful
 * shutdown (RFC 9113 §6.8). */
static const uint8_t shutdown_ping[8] = {'z', 't', 't', 'p',
                                         'g', 'o', 'a', 'w'};

enum {
  IN_PREFACE,
  IN_HEADER,  /* the next frame header */
  IN_PAYLOAD, /* a whole non-DATA payload is needed */
  IN_DATA,    /* DATA payload bytes, delivered as they arrive */
  IN_SKIP     /* payload bytes to drop (padding, ignored frames) */
};

enum { GOAWAY_NONE, GOAWAY_FIRST, GOAWAY_SENT };

/* An event that carries no pointer, queued behind the one being returned. */
typedef struct event_rec {
  uint32_t kind;
  uint32_t flags;
  int64_t stream_id;
  uint64_t code;
} event_rec;

typedef struct bucket {
  uint64_t tokens;
  zttp_tstamp last;
} bucket;

typedef struct h2_engine {
  zttp_buf in;
  zttp_buf out;
  size_t out_limit; /* ZTTP_LIMIT_OUTPUT_BUFFER: what sends may use */

  /* Input parsing. */
  uint8_t in_state;
  uint8_t got_settings;
  uint8_t eof;
  uint8_t eof_reported;
  uint8_t data_end;     /* the DATA frame being read has END_STREAM */
  uint8_t data_padded;  /* its pad length byte is still to read */
  uint8_t data_checked; /* content-length checked for this frame */
  zttp_h2_frame_header fh;
  uint32_t data_left;
  uint32_t skip_left;
  uint32_t data_stream; /* 0: the DATA payload is discarded */

  /* A header block spread over CONTINUATION frames. */
  zttp_buf hblock;
  uint32_t hb_stream;
  uint32_t hb_frames;
  uint8_t hb_active;
  uint8_t hb_end_stream;

  zttp_hpack_decoder dec;
  zttp_hpack_encoder enc;
  zttp_hpack_fields fields;

  /* Scratch for outgoing field lists. */
  zttp_header *sf;
  size_t sf_cap;
  char *sb;
  size_t sb_cap;

  /* Settings: ours (advertised = enforced) and the peer's. */
  uint32_t local_max_frame;
  int64_t local_stream_window;
  int64_t local_conn_window;
  uint32_t local_max_concurrent;
  uint8_t settings_acked;
  uint8_t connect_protocol;
  uint8_t tls;
  uint32_t peer_max_frame;
  uint32_t peer_max_concurrent;
  uint64_t peer_max_header_list;
  int64_t peer_initial_window;
  uint8_t peer_connect_protocol;
  uint8_t seen_peer_settings;
  zttp_setting *settings_ev;
  size_t settings_cap;

  /* Connection flow control. */
  int64_t conn_send_window;
  int64_t conn_recv_window;
  uint64_t conn_recv_unacked;
  uint8_t conn_blocked;

  /* Streams. */
  zttp_h2_stream_table streams;
  zttp_h2_stream *free_list;
  size_t free_count;
  uint32_t last_peer_id;
  uint32_t next_local_id;
  uint32_t active_peer;
  uint32_t active_local;
  zttp_h2_stream *sched;
  size_t queued_total;

  /* Events waiting behind the current one. */
  event_rec *evq;
  size_t evq_head;
  size_t evq_len;
  size_t evq_cap;

  /* Shutdown. */
  uint8_t goaway_state;
  uint8_t closed;
  uint8_t peer_goaway;
  uint32_t goaway_last;
  uint64_t goaway_code;
  uint32_t peer_goaway_last;

  /* Budgets (zttp.h: ZTTP_LIMIT_RESET_*, ZTTP_LIMIT_GLITCH_*). */
  bucket resets;
  bucket glitches;
  uint32_t ctrl_queued;
  uint32_t ctrl_max;
} h2_engine;

static h2_engine *eng(const zttp_conn *conn) {
  return conn->engine;
}

static uint64_t limit(const zttp_conn *conn, uint32_t id) {
  return conn->settings.limits[id];
}

static int peer_initiated(const zttp_conn *conn, uint32_t id) {
  /* RFC 9113 §5.1.1: clients use odd ids, servers even ones. */
  return (conn->role == ZTTP_SERVER) == ((id & 1u) == 1u);
}

/* ---- errors ------------------------------------------------------------- */

/* Queues a GOAWAY if none was sent; the output limit has room reserved for
 * it. */
static void send_goaway(zttp_conn *conn, h2_engine *e, uint32_t last,
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
static int32_t
fail(zttp_conn *conn, int32_t err, const char *fmt, ...) {
  h2_engine *e = eng(conn);
  char msg[ZTTP_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  uint32_t wire = zttp_h2_wire_error(err);
  if (conn->fatal == 0 && e->goaway_state != GOAWAY_SENT) {
    send_goaway(conn, e, e->last_peer_id, wire, msg);
  } else if (conn->fatal == 0) {
    /* A final GOAWAY went out already; this one only corrects the code
     * (RFC 9113 §6.8 allows several). */
    send_goaway(conn, e, e->goaway_last, wire, msg);
  }
  return zttp_conn_error(conn, err, wire, -1, "%s", msg);
}

static int bucket_take(bucket *b, uint64_t burst, uint64_t rate,
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
static int32_t glitch(zttp_conn *conn, h2_engine *e, const char *what) {
  if (bucket_take(&e->glitches, limit(conn, ZTTP_LIMIT_GLITCH_BURST),
                  limit(conn, ZTTP_LIMIT_GLITCH_RATE), conn->now) != 0) {
    return fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
                "glitch budget exhausted (last: %s)", what);
  }
  return 0;
}

/* A control frame we owe the peer because of what it sent. */
static int32_t control_queued(zttp_conn *conn, h2_engine *e) {
  if (++e->ctrl_queued > e->ctrl_max) {
    return fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
                "more than %u control frames queued while the peer does "
                "not read",
                e->ctrl_max);
  }
  return 0;
}

static int32_t out_error(zttp_conn *conn, int32_t rv) {
  if (rv == ZTTP_ERR_NOMEM) {
    return fail(conn, ZTTP_ERR_NOMEM, "out of memory");
  }
  /* The reserve holds every control frame we allow: running out means the
   * peer made us queue them faster than it reads. */
  return fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
              "output reserve exhausted by frames the peer caused");
}

/* ---- events ------------------------------------------------------------- */

static int32_t enqueue(zttp_conn *conn, h2_engine *e, uint32_t kind,
                       uint32_t flags, int64_t stream_id, uint64_t code) {
  if (e->evq_len == e->evq_cap) {
    size_t cap = e->evq_cap == 0 ? 8 : e->evq_cap * 2;
    event_rec *q = zttp_mem_calloc(&conn->mem, cap, sizeof(*q));
    if (q == NULL) {
      return fail(conn, ZTTP_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < e->evq_len; i++) {
      q[i] = e->evq[(e->evq_head + i) % e->evq_cap];
    }
    zttp_mem_free(&conn->mem, e->evq);
    e->evq = q;
    e->evq_cap = cap;
    e->evq_head = 0;
  }
  /* evq_cap is a power of two: a mask, not a division. */
  event_rec *r = &e->evq[(e->evq_head + e->evq_len) & (e->evq_cap - 1)];
  r->kind = kind;
  r->flags = flags;
  r->stream_id = stream_id;
  r->code = code;
  e->evq_len++;
  return 0;
}

/* Drops the queued events of |stream_id| (the application reset it: it
 * hears nothing more of it). */
static void purge_events(h2_engine *e, int64_t stream_id) {
  size_t kept = 0;
  for (size_t i = 0; i < e->evq_len; i++) {
    event_rec r = e->evq[(e->evq_head + i) % e->evq_cap];
    if (r.stream_id != stream_id) {
      e->evq[(e->evq_head + kept++) % e->evq_cap] = r;
    }
  }
  e->evq_len = kept;
}

static int dequeue(h2_engine *e, zttp_event *ev) {
  if (e->evq_len == 0) {
    return 0;
  }
  event_rec *r = &e->evq[e->evq_head];
  e->evq_head = (e->evq_head + 1) & (e->evq_cap - 1);
  e->evq_len--;
  ev->kind = r->kind;
  ev->flags = r->flags;
  ev->stream_id = r->stream_id;
  switch (r->kind) {
  case ZTTP_EVENT_STREAM_RESET:
    ev->u.reset.error_code = r->code;
    break;
  case ZTTP_EVENT_WINDOW_UPDATE:
    ev->u.window.available = r->code;
    break;
  case ZTTP_EVENT_END_MESSAGE:
    ev->u.end.trailers = NULL;
    ev->u.end.num_trailers = 0;
    break;
  default:
    break;
  }
  return 1;
}

/* ---- streams ------------------------------------------------------------ */

static zttp_h2_stream *find(const h2_engine *e, uint32_t id) {
  return zttp_h2_stream_find(&e->streams, id);
}

/* Nonzero when |id| was never opened by its initiator (RFC 9113 §5.1
 * "idle"). */
static int stream_idle(const zttp_conn *conn, const h2_engine *e, uint32_t id) {
  if (peer_initiated(conn, id)) {
    return id > e->last_peer_id;
  }
  return id >= e->next_local_id;
}

static int32_t stream_new(zttp_conn *conn, h2_engine *e, uint32_t id,
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
  if (peer_initiated(conn, id)) {
    e->active_peer++;
  } else {
    e->active_local++;
  }
  *out = s;
  return 0;
}

static void sched_remove(h2_engine *e, zttp_h2_stream *s) {
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

static int32_t conn_window_credit(zttp_conn *conn, h2_engine *e, uint64_t n);

/* Forgets |s|: the stream is closed. Unconsumed received bytes go back to
 * the connection window, since no one will consume them any more. */
static int32_t stream_release(zttp_conn *conn, h2_engine *e,
                              zttp_h2_stream *s) {
  uint64_t unconsumed = s->recv_unconsumed;
  size_t queued = zttp_buf_len(&s->queue);
  sched_remove(e, s);
  e->queued_total -= queued;
  /* Queued DATA was charged to the connection window when it was accepted
   * but never sent: the peer still counts that credit as ours. */
  e->conn_send_window += (int64_t)queued;
  zttp_buf_free(&s->queue, &conn->mem);
  zttp_h2_stream_remove(&e->streams, s->id);
  if (peer_initiated(conn, s->id)) {
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
    int32_t rv = enqueue(conn, e, ZTTP_EVENT_WINDOW_UPDATE, 0, 0,
                         (uint64_t)e->conn_send_window);
    if (rv != 0) {
      return rv;
    }
  }
  return unconsumed > 0 ? conn_window_credit(conn, e, unconsumed) : 0;
}

/* Closes |s| when both sides are done and nothing is queued. */
static int32_t maybe_close(zttp_conn *conn, h2_engine *e, zttp_h2_stream *s) {
  if (s->recv == ZTTP_H2_RECV_DONE && s->send == ZTTP_H2_SEND_DONE &&
      zttp_buf_len(&s->queue) == 0 && !(s->flags & ZTTP_H2_SF_QUEUED_END)) {
    return stream_release(conn, e, s);
  }
  return 0;
}

/* A stream error (RFC 9113 §5.4.2): RST_STREAM with |code|; the application
 * hears of it if it knew the stream. |peer_caused| resets draw on the reset
 * budget (CVE-2023-44487, CVE-2025-8671). */
static int32_t stream_error(zttp_conn *conn, h2_engine *e, uint32_t id,
                            uint32_t code, int peer_caused) {
  int32_t rv = zttp_h2_write_rst_stream(&e->out, &conn->mem, id, code);
  if (rv != 0) {
    return out_error(conn, rv);
  }
  if ((rv = control_queued(conn, e)) != 0) {
    return rv;
  }
  zttp_h2_stream *s = find(e, id);
  if (s != NULL) {
    if (s->flags & ZTTP_H2_SF_SEEN_BY_APP) {
      rv = enqueue(conn, e, ZTTP_EVENT_STREAM_RESET, 0, id, code);
      if (rv != 0) {
        return rv;
      }
    }
    if ((rv = stream_release(conn, e, s)) != 0) {
      return rv;
    }
  }
  if (peer_caused &&
      bucket_take(&e->resets, limit(conn, ZTTP_LIMIT_RESET_BURST),
                  limit(conn, ZTTP_LIMIT_RESET_RATE), conn->now) != 0) {
    return fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
                "stream reset budget exhausted");
  }
  return 0;
}

/* ---- flow control ------------------------------------------------------- */

/* RFC 9113 §6.9: credit returns in WINDOW_UPDATE frames once half of the
 * window was consumed, so small reads do not each cost a frame. */
static int32_t conn_window_credit(zttp_conn *conn, h2_engine *e, uint64_t n) {
  e->conn_recv_unacked += n;
  /* After a GOAWAY the streams below its id still complete (RFC 9113
   * §6.8) and need credit; after an immediate close nothing is sent. */
  if (e->conn_recv_unacked >= (uint64_t)e->local_conn_window / 2 &&
      !e->closed && conn->fatal == 0) {
    int32_t rv = zttp_h2_write_window_update(&e->out, &conn->mem, 0,
                                             (uint32_t)e->conn_recv_unacked);
    if (rv != 0) {
      return out_error(conn, rv);
    }
    e->conn_recv_window += (int64_t)e->conn_recv_unacked;
    e->conn_recv_unacked = 0;
  }
  return 0;
}

static int32_t stream_window_credit(zttp_conn *conn, h2_engine *e,
                                    zttp_h2_stream *s, uint64_t n) {
  s->recv_unacked += n;
  if (s->recv != ZTTP_H2_RECV_DONE && !e->closed && conn->fatal == 0 &&
      s->recv_unacked >= (uint64_t)e->local_stream_window / 2) {
    int32_t rv = zttp_h2_write_window_update(&e->out, &conn->mem, s->id,
                                             (uint32_t)s->recv_unacked);
    if (rv != 0) {
      return out_error(conn, rv);
    }
    s->recv_window += (int64_t)s->recv_unacked;
    s->recv_unacked = 0;
  }
  return 0;
}

/* Bytes sends may still add to the output (queued DATA included). */
static size_t app_room(const h2_engine *e) {
  size_t used = zttp_buf_len(&e->out) + e->queued_total;
  return used >= e->out_limit ? 0 : e->out_limit - used;
}

/* The most DATA payload that fits |room| bytes with its frame headers. */
static size_t data_fit(const h2_engine *e, size_t room) {
  size_t per = e->peer_max_frame + ZTTP_H2_FRAME_HEADER_LEN;
  size_t full = room / per;
  size_t rest = room % per;
  size_t n = full * e->peer_max_frame;
  if (rest > ZTTP_H2_FRAME_HEADER_LEN) {
    n += rest - ZTTP_H2_FRAME_HEADER_LEN;
  }
  return n;
}

static size_t send_capacity(const h2_engine *e, const zttp_h2_stream *s) {
  int64_t w = s->send_window < e->conn_send_window ? s->send_window
                                                   : e->conn_send_window;
  if (w <= 0) {
    return 0;
  }
  size_t room = app_room(e);
  /* When |w| bytes fit with one header per 16384 (the smallest frame
   * size), they fit: skip data_fit()'s divisions. */
  if ((uint64_t)w + ((uint64_t)w >> 14) * ZTTP_H2_FRAME_HEADER_LEN +
          ZTTP_H2_FRAME_HEADER_LEN <=
      room) {
    return (size_t)w;
  }
  size_t fit = data_fit(e, room);
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
    sched_remove(e, s);
    zttp_buf_free(&s->queue, &conn->mem);
    if (end) {
      return maybe_close(conn, e, s);
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
      sched_remove(e, s);
      sched_append(e, s);
    }
    int32_t rv = flush_queue(conn, e, s, e->peer_max_frame);
    if (rv != 0) {
      return rv;
    }
  }
  return 0;
}

/* Grows the outgoing field scratch to hold |n| fields and |bytes| bytes. */
static int32_t scratch_reserve(zttp_conn *conn, h2_engine *e, size_t n,
                               size_t bytes) {
  if (n > e->sf_cap) {
    size_t cap = e->sf_cap == 0 ? 32 : e->sf_cap;
    while (cap < n) {
      cap *= 2;
    }
    zttp_header *sf = zttp_mem_realloc(&conn->mem, e->sf, cap * sizeof(*sf));
    if (sf == NULL) {
      return ZTTP_ERR_NOMEM;
    }
    e->sf = sf;
    e->sf_cap = cap;
  }
  if (bytes > e->sb_cap) {
    size_t cap = e->sb_cap == 0 ? 1024 : e->sb_cap;
    while (cap < bytes) {
      cap *= 2;
    }
    char *sb = zttp_mem_realloc(&conn->mem, e->sb, cap);
    if (sb == NULL) {
      return ZTTP_ERR_NOMEM;
    }
    e->sb = sb;
    e->sb_cap = cap;
  }
  return 0;
}

static void sf_put(h2_engine *e, size_t *n, const char *name, size_t nlen,
                   const char *value, size_t vlen, uint32_t flags) {
  zttp_header *h = &e->sf[(*n)++];
  h->name = name;
  h->name_len = nlen;
  h->value = value;
  h->value_len = vlen;
  h->flags = flags;
  h->reserved = 0;
}

/* What the regular fields of an outgoing message say. */
typedef struct send_info {
  int64_t content_length;
  zttp_str host;
} send_info;

static int32_t field_error(zttp_conn *conn, const char *why, size_t i) {
  return zttp_conn_error(conn, ZTTP_ERR_INVALID_FIELD, 0, -1,
                         "field %zu refused: %s", i, why);
}

/* Validates the caller's regular fields and appends them to the scratch,
 * lowercased (RFC 9113 §8.2.1). |host_to_authority| drops a host field into
 * info->host (requests). */
static int32_t add_fields(zttp_conn *conn, h2_engine *e, size_t *n,
                          send_info *info, const zttp_header *headers,
                          size_t num, int host_to_authority, int trailers) {
  size_t lower_bytes = 0;
  for (size_t i = 0; i < num; i++) {
    const zttp_header *h = &headers[i];
    int upper;
    if (!zttp_h2_name_valid_send(h->name, h->name_len, &upper)) {
      return field_error(conn, "invalid name", i);
    }
    if (!zttp_h2_value_valid_send(h->value, h->value_len)) {
      return field_error(conn, "invalid value", i);
    }
    if (upper) {
      lower_bytes += h->name_len;
    }
  }
  int32_t rv = scratch_reserve(conn, e, *n + num, lower_bytes);
  if (rv != 0) {
    return rv;
  }
  char *sb = e->sb;
  for (size_t i = 0; i < num; i++) {
    const zttp_header *h = &headers[i];
    const char *name = h->name;
    int upper = 0;
    if (lower_bytes > 0) {
      /* Some name has uppercase letters (the first pass found it). */
      zttp_h2_name_valid_send(h->name, h->name_len, &upper);
    }
    if (upper) {
      for (size_t k = 0; k < h->name_len; k++) {
        char c = h->name[k];
        sb[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
      }
      name = sb;
      sb += h->name_len;
    }
    size_t nl = h->name_len;
    if (zttp_h2_connection_specific(name, nl)) {
      return field_error(conn, "connection-specific field", i);
    }
    if (nl == 2 && name[0] == 't' && name[1] == 'e' &&
        !(h->value_len == 8 && memcmp(h->value, "trailers", 8) == 0)) {
      return field_error(conn, "te other than trailers", i);
    }
    if (!trailers && nl == 14 && memcmp(name, "content-length", 14) == 0) {
      int64_t cl = zttp_h2_parse_uint(h->value, h->value_len);
      if (cl < 0 || (info->content_length >= 0 && info->content_length != cl)) {
        return field_error(conn, "invalid content-length", i);
      }
      info->content_length = cl;
    }
    if (host_to_authority && nl == 4 && memcmp(name, "host", 4) == 0) {
      if (info->host.base != NULL) {
        return field_error(conn, "repeated host", i);
      }
      info->host.base = h->value;
      info->host.len = h->value_len;
      continue;
    }
    sf_put(e, n, name, nl, h->value, h->value_len, h->flags);
  }
  return 0;
}

/* Encodes the scratch fields into HEADERS + CONTINUATION frames (RFC 9113
 * §4.3, §6.2, §6.10) on |id|. |control| frames may use the reserve beyond
 * the output limit; otherwise ZTTP_ERR_BUFFER_FULL leaves everything
 * untouched, the HPACK state included. */
static int32_t write_header_block(zttp_conn *conn, h2_engine *e, uint32_t id,
                                  size_t n, int end_stream, int control) {
  if (e->peer_max_header_list != UINT64_MAX) {
    uint64_t list = 0;
    for (size_t i = 0; i < n; i++) {
      list += e->sf[i].name_len + e->sf[i].value_len + 32;
    }
    if (list > e->peer_max_header_list) {
      return zttp_conn_error(conn, ZTTP_ERR_INVALID_FIELD, 0, (int64_t)id,
                             "header list of %llu bytes exceeds the peer's "
                             "SETTINGS_MAX_HEADER_LIST_SIZE (%llu)",
                             (unsigned long long)list,
                             (unsigned long long)e->peer_max_header_list);
    }
  }
  size_t bound = zttp_hpack_encode_bound(&e->enc, e->sf, n);
  size_t maxf = e->peer_max_frame;
  size_t frames = bound / maxf + 1;
  size_t need = bound + frames * ZTTP_H2_FRAME_HEADER_LEN;
  if (!control && need > app_room(e)) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  int32_t rv = zttp_buf_reserve(&e->out, &conn->mem, need);
  if (rv != 0) {
    return control ? out_error(conn, rv) : rv;
  }
  uint8_t *base = e->out.data + e->out.end;
  size_t len =
      zttp_hpack_encode(&e->enc, base + ZTTP_H2_FRAME_HEADER_LEN, e->sf, n);
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
  uint64_t table = limit(conn, ZTTP_LIMIT_HEADER_TABLE_SIZE);
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
              limit(conn, ZTTP_LIMIT_MAX_HEADER_BYTES));
  if (conn->role == ZTTP_SERVER && e->connect_protocol) {
    PUT_SETTING(ZTTP_H2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1);
  }
  PUT_SETTING(ZTTP_H2_SETTINGS_NO_RFC7540_PRIORITIES, 1);
#undef PUT_SETTING
  return zttp_h2_write_frame(&e->out, &conn->mem, ZTTP_H2_SETTINGS, 0, 0, p, n);
}

/* Applies the peer's SETTINGS payload (RFC 9113 §6.5.2, RFC 8441 §3,
 * RFC 9218 §2.1) and records the pairs for the event. */
static int32_t apply_settings(zttp_conn *conn, h2_engine *e, const uint8_t *p,
                              size_t len, size_t *num_out) {
  size_t num = len / 6;
  if (num > e->settings_cap) {
    zttp_setting *a =
        zttp_mem_realloc(&conn->mem, e->settings_ev, num * sizeof(*a));
    if (a == NULL) {
      return fail(conn, ZTTP_ERR_NOMEM, "out of memory");
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
        return fail(conn, ZTTP_ERR_PROTOCOL, "invalid SETTINGS_ENABLE_PUSH");
      }
      break;
    case ZTTP_H2_SETTINGS_MAX_CONCURRENT_STREAMS:
      e->peer_max_concurrent = v;
      break;
    case ZTTP_H2_SETTINGS_INITIAL_WINDOW_SIZE: {
      if (v > ZTTP_H2_MAX_WINDOW) {
        return fail(conn, ZTTP_ERR_FLOW_CONTROL,
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
          return fail(conn, ZTTP_ERR_FLOW_CONTROL,
                      "SETTINGS_INITIAL_WINDOW_SIZE overflows a window");
        }
        if (delta > 0 && (s->flags & ZTTP_H2_SF_BLOCKED) &&
            s->send_window > 0 && e->conn_send_window > 0) {
          s->flags &= (uint8_t)~ZTTP_H2_SF_BLOCKED;
          int32_t rv = enqueue(conn, e, ZTTP_EVENT_WINDOW_UPDATE, 0, s->id,
                               send_capacity(e, s));
          if (rv != 0) {
            return rv;
          }
        }
      }
      break;
    }
    case ZTTP_H2_SETTINGS_MAX_FRAME_SIZE:
      if (v < ZTTP_H2_DEFAULT_FRAME_SIZE || v > ZTTP_H2_MAX_FRAME_SIZE_CAP) {
        return fail(conn, ZTTP_ERR_PROTOCOL, "invalid SETTINGS_MAX_FRAME_SIZE");
      }
      e->peer_max_frame = v;
      break;
    case ZTTP_H2_SETTINGS_MAX_HEADER_LIST_SIZE:
      e->peer_max_header_list = v;
      break;
    case ZTTP_H2_SETTINGS_ENABLE_CONNECT_PROTOCOL:
      if (v > 1 || (e->peer_connect_protocol && v == 0)) {
        return fail(conn, ZTTP_ERR_PROTOCOL,
                    "invalid SETTINGS_ENABLE_CONNECT_PROTOCOL");
      }
      e->peer_connect_protocol = (uint8_t)v;
      break;
    case ZTTP_H2_SETTINGS_NO_RFC7540_PRIORITIES:
      if (v > 1) {
        return fail(conn, ZTTP_ERR_PROTOCOL,
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

/* ---- receiving header blocks -------------------------------------------- */

static int is_bodyless_status(uint32_t status) {
  return status == 204 || status == 304;
}

/* A request header block on a new stream (server). */
static int32_t on_request(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                          uint32_t id, int end_stream, int32_t drv) {
  int32_t rv;
  if (drv == ZTTP_ERR_LIMIT_HEADERS || drv == ZTTP_ERR_LIMIT_HEADER_BYTES) {
    /* RFC 9113 §8.2, RFC 9110 §15.5.20 (431): the block was decoded (the
     * table is in sync) but is too large; refuse the request alone. */
    size_t n = 0;
    rv = scratch_reserve(conn, e, 1, 0);
    if (rv != 0) {
      return fail(conn, ZTTP_ERR_NOMEM, "out of memory");
    }
    sf_put(e, &n, ":status", 7, "431", 3, 0);
    if ((rv = write_header_block(conn, e, id, n, 1, 1)) != 0) {
      return rv;
    }
    if ((rv = control_queued(conn, e)) != 0) {
      return rv;
    }
    if (!end_stream) {
      return stream_error(conn, e, id, ZTTP_H2_NO_ERROR, 1);
    }
    return bucket_take(&e->resets, limit(conn, ZTTP_LIMIT_RESET_BURST),
                       limit(conn, ZTTP_LIMIT_RESET_RATE), conn->now) != 0
               ? fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
                      "stream reset budget exhausted")
               : 0;
  }
  if (e->active_peer >= e->local_max_concurrent) {
    /* RFC 9113 §5.1.2 */
    return stream_error(conn, e, id, ZTTP_H2_REFUSED_STREAM, 1);
  }
  zttp_h2_msg msg;
  const char *why = NULL;
  zttp_header *f = e->fields.fields;
  size_t num = e->fields.num_fields;
  if (zttp_h2_msg_check(&msg, &why, f, num, ZTTP_H2_MSG_REQUEST,
                        e->connect_protocol) != 0) {
    (void)why; /* the STREAM_RESET carries the code */
    return stream_error(conn, e, id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  int connect =
      msg.method.len == 7 && memcmp(msg.method.base, "CONNECT", 7) == 0;
  if (end_stream && msg.content_length > 0) {
    return stream_error(conn, e, id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  zttp_h2_stream *s;
  if ((rv = stream_new(conn, e, id, &s)) != 0) {
    return fail(conn, rv, "out of memory");
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
  /* RFC 9113 §8.3.1: :authority becomes a host field when there is none. */
  zttp_header *h = f + msg.first_regular;
  size_t nh = num - msg.first_regular;
  if (msg.authority.base != NULL && !msg.has_host && msg.first_regular > 0) {
    h--;
    nh++;
    h->name = "host";
    h->name_len = 4;
    h->value = msg.authority.base;
    h->value_len = msg.authority.len;
    h->flags = 0;
    h->reserved = 0;
  }
  ev->kind = ZTTP_EVENT_REQUEST;
  ev->stream_id = id;
  ev->flags = 0;
  if (end_stream) {
    ev->flags |= ZTTP_EVENT_FLAG_END_STREAM;
  }
  if (msg.expect_continue) {
    ev->flags |= ZTTP_EVENT_FLAG_EXPECT_CONTINUE;
  }
  if (connect) {
    ev->flags |= ZTTP_EVENT_FLAG_UPGRADE;
  }
  zttp_request_event *r = &ev->u.request;
  /* Every member is set below (no memset: it compiles to "rep stos"). */
  r->query.base = NULL;
  r->query.len = 0;
  r->reserved = 0;
  r->method = msg.method;
  r->target = connect && msg.protocol.base == NULL ? msg.authority : msg.path;
  r->path = r->target;
  const char *q = r->target.base != NULL
                      ? memchr(r->target.base, '?', r->target.len)
                      : NULL;
  if (q != NULL) {
    r->path.len = (size_t)(q - r->target.base);
    r->query.base = q + 1;
    r->query.len = r->target.len - r->path.len - 1;
  }
  r->authority = msg.authority;
  r->scheme = msg.scheme;
  r->protocol = msg.protocol;
  r->headers = h;
  r->num_headers = nh;
  r->http_version = 20;
  if (end_stream) {
    if ((rv = enqueue(conn, e, ZTTP_EVENT_END_MESSAGE, 0, id, 0)) != 0) {
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
    return stream_error(conn, e, id, ZTTP_H2_STREAM_CLOSED, 1);
  }
  int trailers = s->recv == ZTTP_H2_RECV_BODY;
  if (drv != 0) {
    /* Too large (the decoder kept the table in sync). */
    return stream_error(conn, e, id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  zttp_h2_msg msg;
  const char *why = NULL;
  zttp_header *f = e->fields.fields;
  size_t num = e->fields.num_fields;
  int kind = trailers ? ZTTP_H2_MSG_TRAILERS : ZTTP_H2_MSG_RESPONSE;
  int bad = zttp_h2_msg_check(&msg, &why, f, num, kind, 0) != 0;
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
    return stream_error(conn, e, id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  ev->stream_id = id;
  ev->flags = end_stream && !trailers ? ZTTP_EVENT_FLAG_END_STREAM : 0;
  if (trailers) {
    s->recv = ZTTP_H2_RECV_DONE;
    ev->kind = ZTTP_EVENT_END_MESSAGE;
    ev->u.end.trailers = f;
    ev->u.end.num_trailers = num;
    int32_t rv = maybe_close(conn, e, s);
    return rv != 0 ? rv : 1;
  }
  ev->kind = ZTTP_EVENT_RESPONSE;
  zttp_response_event *r = &ev->u.response;
  /* Every member is set here (no memset: it compiles to "rep stos"). */
  r->reason.base = NULL;
  r->reason.len = 0;
  r->status = msg.status;
  r->http_version = 20;
  r->headers = f + msg.first_regular;
  r->num_headers = num - msg.first_regular;
  if (msg.status >= 200) {
    if ((s->flags & ZTTP_H2_SF_HEAD) || is_bodyless_status(msg.status)) {
      s->flags |= ZTTP_H2_SF_RECV_BODYLESS;
    } else {
      s->recv_cl = msg.content_length;
    }
    s->recv = end_stream ? ZTTP_H2_RECV_DONE : ZTTP_H2_RECV_BODY;
    if (end_stream) {
      int32_t rv = enqueue(conn, e, ZTTP_EVENT_END_MESSAGE, 0, id, 0);
      if (rv != 0) {
        return rv;
      }
      if ((rv = maybe_close(conn, e, s)) != 0) {
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
  zttp_h2_stream *s = find(e, id);
  int trailers = s != NULL && s->recv == ZTTP_H2_RECV_BODY;
  size_t max_fields =
      limit(conn, trailers ? ZTTP_LIMIT_MAX_TRAILERS : ZTTP_LIMIT_MAX_HEADERS);
  size_t max_bytes = limit(conn, trailers ? ZTTP_LIMIT_MAX_TRAILER_BYTES
                                          : ZTTP_LIMIT_MAX_HEADER_BYTES);
  int32_t drv =
      zttp_hpack_decode(&e->dec, &e->fields, block, len, max_fields, max_bytes);
  if (drv == ZTTP_ERR_COMPRESSION) {
    return fail(conn, ZTTP_ERR_COMPRESSION, "HPACK: malformed header block");
  }
  if (drv == ZTTP_ERR_NOMEM) {
    return fail(conn, ZTTP_ERR_NOMEM, "out of memory");
  }
  if (len == 0 && !end_stream) {
    /* CVE-2019-9516: empty header blocks. */
    int32_t rv = glitch(conn, e, "empty header block");
    if (rv != 0) {
      return rv;
    }
  }
  if (s != NULL) {
    return on_stream_block(conn, e, ev, s, end_stream, drv);
  }
  if (!peer_initiated(conn, id)) {
    if (stream_idle(conn, e, id)) {
      return fail(conn, ZTTP_ERR_PROTOCOL, "HEADERS on idle stream %u", id);
    }
    /* Closed (we reset it, or it finished): ignore. */
    return glitch(conn, e, "HEADERS on a closed stream");
  }
  if (conn->role == ZTTP_CLIENT) {
    /* Server-initiated streams exist only through push, which we
     * disable (SETTINGS_ENABLE_PUSH = 0). */
    return fail(conn, ZTTP_ERR_PROTOCOL, "HEADERS on server stream %u", id);
  }
  if (id <= e->last_peer_id) {
    return glitch(conn, e, "HEADERS on a closed stream");
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
      return fail(conn, ZTTP_ERR_FRAME_SIZE, "HEADERS too short for padding");
    }
    pad = q[0];
    q++;
    n--;
  }
  if (fh->flags & ZTTP_H2_FLAG_PRIORITY) {
    if (n < 5) {
      return fail(conn, ZTTP_ERR_FRAME_SIZE, "HEADERS too short for priority");
    }
    q += 5;
    n -= 5;
  }
  if (pad > n) {
    /* RFC 9113 §6.2 */
    return fail(conn, ZTTP_ERR_PROTOCOL, "HEADERS padding exceeds the payload");
  }
  *p = q;
  *len = n - pad;
  return 0;
}

static int32_t on_headers(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                          const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  if (fh->stream_id == 0) {
    return fail(conn, ZTTP_ERR_PROTOCOL, "HEADERS on stream 0");
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
      return fail(conn, drv, "HPACK: malformed header block");
    }
    if (stream_idle(conn, e, fh->stream_id) &&
        peer_initiated(conn, fh->stream_id)) {
      e->last_peer_id = fh->stream_id;
    }
    return stream_error(conn, e, fh->stream_id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  int end_stream = (fh->flags & ZTTP_H2_FLAG_END_STREAM) != 0;
  if (fh->flags & ZTTP_H2_FLAG_END_HEADERS) {
    return on_header_block(conn, e, ev, fh->stream_id, end_stream, p, len);
  }
  size_t cap = limit(conn, ZTTP_LIMIT_MAX_HEADER_BYTES);
  if (len > cap) {
    return fail(conn, ZTTP_ERR_LIMIT_HEADER_BYTES,
                "header block larger than ZTTP_LIMIT_MAX_HEADER_BYTES");
  }
  e->hblock.limit = cap;
  if ((rv = zttp_buf_reserve(&e->hblock, &conn->mem, len)) != 0) {
    return fail(conn, ZTTP_ERR_NOMEM, "out of memory");
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
  if (++e->hb_frames > limit(conn, ZTTP_LIMIT_H2_MAX_CONTINUATIONS)) {
    return fail(
        conn, ZTTP_ERR_LIMIT_CONTINUATIONS,
        "more than %llu CONTINUATION frames in one header block",
        (unsigned long long)limit(conn, ZTTP_LIMIT_H2_MAX_CONTINUATIONS));
  }
  if (fh->length > zttp_buf_room(&e->hblock)) {
    return fail(conn, ZTTP_ERR_LIMIT_HEADER_BYTES,
                "header block larger than ZTTP_LIMIT_MAX_HEADER_BYTES");
  }
  if (zttp_buf_reserve(&e->hblock, &conn->mem, fh->length) != 0) {
    return fail(conn, ZTTP_ERR_NOMEM, "out of memory");
  }
  zttp_buf_put(&e->hblock, p, fh->length);
  if (!(fh->flags & ZTTP_H2_FLAG_END_HEADERS)) {
    return fh->length == 0 ? glitch(conn, e, "empty CONTINUATION") : 0;
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
    return fail(conn, ZTTP_ERR_PROTOCOL, "SETTINGS on a stream");
  }
  if (fh->flags & ZTTP_H2_FLAG_ACK) {
    if (fh->length != 0) {
      return fail(conn, ZTTP_ERR_FRAME_SIZE, "SETTINGS ACK with a payload");
    }
    if (!e->settings_acked) {
      e->settings_acked = 1;
      /* The peer's encoder must now shrink to what we advertised: a
       * dynamic table size update above it is a COMPRESSION_ERROR. */
      e->dec.settings_max = limit(conn, ZTTP_LIMIT_HEADER_TABLE_SIZE);
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
    return fail(conn, ZTTP_ERR_FRAME_SIZE,
                "SETTINGS length not a multiple "
                "of 6");
  }
  int32_t rv;
  if (e->seen_peer_settings &&
      (rv = glitch(conn, e, "SETTINGS after the first")) != 0) {
    return rv;
  }
  size_t num = 0;
  if ((rv = apply_settings(conn, e, p, fh->length, &num)) != 0) {
    return rv;
  }
  e->seen_peer_settings = 1;
  rv = zttp_h2_write_frame(&e->out, &conn->mem, ZTTP_H2_SETTINGS,
                           ZTTP_H2_FLAG_ACK, 0, NULL, 0);
  if (rv != 0) {
    return out_error(conn, rv);
  }
  if ((rv = control_queued(conn, e)) != 0) {
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
    return fail(conn, ZTTP_ERR_PROTOCOL, "PING on a stream");
  }
  if (fh->length != 8) {
    return fail(conn, ZTTP_ERR_FRAME_SIZE, "PING length not 8");
  }
  ev->kind = ZTTP_EVENT_PING;
  memcpy(ev->u.ping.opaque_data, p, 8);
  int32_t rv;
  if (fh->flags & ZTTP_H2_FLAG_ACK) {
    ev->flags = ZTTP_EVENT_FLAG_ACK;
    if (e->goaway_state == GOAWAY_FIRST && memcmp(p, shutdown_ping, 8) == 0) {
      /* RFC 9113 §6.8: a round trip after the first GOAWAY, the streams
       * the peer started are all known: send the final one. */
      send_goaway(conn, e, e->last_peer_id, (uint32_t)e->goaway_code, NULL);
    }
    return 1;
  }
  if ((rv = glitch(conn, e, "PING")) != 0) {
    return rv;
  }
  rv = zttp_h2_write_frame(&e->out, &conn->mem, ZTTP_H2_PING, ZTTP_H2_FLAG_ACK,
                           0, p, 8);
  if (rv != 0) {
    return out_error(conn, rv);
  }
  if ((rv = control_queued(conn, e)) != 0) {
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
    return fail(conn, ZTTP_ERR_PROTOCOL, "GOAWAY on a stream");
  }
  if (fh->length < 8) {
    return fail(conn, ZTTP_ERR_FRAME_SIZE, "GOAWAY shorter than 8");
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
    if (s != NULL && !peer_initiated(conn, s->id) &&
        s->id > e->peer_goaway_last) {
      if (ids == NULL) {
        ids = zttp_mem_calloc(&conn->mem, e->streams.num, sizeof(*ids));
        if (ids == NULL) {
          return fail(conn, ZTTP_ERR_NOMEM, "out of memory");
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
    rv = enqueue(conn, e, ZTTP_EVENT_STREAM_RESET, 0, ids[i],
                 ZTTP_H2_REFUSED_STREAM);
    if (rv == 0) {
      rv = stream_release(conn, e, find(e, ids[i]));
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
    return fail(conn, ZTTP_ERR_FRAME_SIZE, "WINDOW_UPDATE length not 4");
  }
  uint32_t inc = zttp_h2_get32(p) & ZTTP_H2_MAX_STREAM_ID;
  if (fh->stream_id == 0) {
    if (inc == 0) {
      return fail(conn, ZTTP_ERR_PROTOCOL, "WINDOW_UPDATE of 0");
    }
    e->conn_send_window += inc;
    if (e->conn_send_window > ZTTP_H2_MAX_WINDOW) {
      return fail(conn, ZTTP_ERR_FLOW_CONTROL,
                  "connection window above 2^31-1");
    }
    if (e->conn_blocked && e->conn_send_window > 0) {
      e->conn_blocked = 0;
      ev->kind = ZTTP_EVENT_WINDOW_UPDATE;
      ev->stream_id = 0;
      size_t fit = data_fit(e, app_room(e));
      ev->u.window.available = (uint64_t)e->conn_send_window < fit
                                   ? (uint64_t)e->conn_send_window
                                   : fit;
      return 1;
    }
    return 0;
  }
  zttp_h2_stream *s = find(e, fh->stream_id);
  if (s == NULL) {
    if (stream_idle(conn, e, fh->stream_id)) {
      return fail(conn, ZTTP_ERR_PROTOCOL, "WINDOW_UPDATE on idle stream %u",
                  fh->stream_id);
    }
    return 0;
  }
  if (inc == 0) {
    return stream_error(conn, e, s->id, ZTTP_H2_PROTOCOL_ERROR, 1);
  }
  s->send_window += inc;
  if (s->send_window > ZTTP_H2_MAX_WINDOW) {
    return stream_error(conn, e, s->id, ZTTP_H2_FLOW_CONTROL_ERROR, 1);
  }
  if ((s->flags & ZTTP_H2_SF_BLOCKED) && s->send_window > 0 &&
      e->conn_send_window > 0) {
    s->flags &= (uint8_t)~ZTTP_H2_SF_BLOCKED;
    ev->kind = ZTTP_EVENT_WINDOW_UPDATE;
    ev->stream_id = s->id;
    ev->u.window.available = send_capacity(e, s);
    return 1;
  }
  return 0;
}

static int32_t on_rst_stream(zttp_conn *conn, h2_engine *e, zttp_event *ev,
                             const uint8_t *p) {
  const zttp_h2_frame_header *fh = &e->fh;
  if (fh->stream_id == 0) {
    return fail(conn, ZTTP_ERR_PROTOCOL, "RST_STREAM on stream 0");
  }
  if (fh->length != 4) {
    return fail(conn, ZTTP_ERR_FRAME_SIZE, "RST_STREAM length not 4");
  }
  zttp_h2_stream *s = find(e, fh->stream_id);
  if (s == NULL) {
    if (stream_idle(conn, e, fh->stream_id)) {
      return fail(conn, ZTTP_ERR_PROTOCOL, "RST_STREAM on idle stream %u",
                  fh->stream_id);
    }
    return glitch(conn, e, "RST_STREAM on a closed stream");
  }
  int seen = (s->flags & ZTTP_H2_SF_SEEN_BY_APP) != 0;
  int32_t rv = stream_release(conn, e, s);
  if (rv != 0) {
    return rv;
  }
  /* CVE-2023-44487: a stream opened and reset costs the server work the
   * client never waits for. */
  if (peer_initiated(conn, fh->stream_id) &&
      bucket_take(&e->resets, limit(conn, ZTTP_LIMIT_RESET_BURST),
                  limit(conn, ZTTP_LIMIT_RESET_RATE), conn->now) != 0) {
    return fail(conn, ZTTP_ERR_ENHANCE_YOUR_CALM,
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
    return fail(conn, ZTTP_ERR_PROTOCOL,
                "PRIORITY_UPDATE not on stream 0 "
                "of a server");
  }
  if (fh->length < 4) {
    return fail(conn, ZTTP_ERR_FRAME_SIZE, "PRIORITY_UPDATE shorter than 4");
  }
  uint32_t id = zttp_h2_get32(p) & ZTTP_H2_MAX_STREAM_ID;
  if (id == 0 || !peer_initiated(conn, id)) {
    return fail(conn, ZTTP_ERR_PROTOCOL, "PRIORITY_UPDATE for stream %u", id);
  }
  zttp_h2_stream *s = find(e, id);
  if (s == NULL) {
    return glitch(conn, e, "PRIORITY_UPDATE for a stream not open");
  }
  zttp_h2_priority_parse(&s->urgency, &s->incremental, (const char *)p + 4,
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
      return fail(conn, ZTTP_ERR_PROTOCOL, "PRIORITY on stream 0");
    }
    if (fh->length != 5) {
      return stream_error(conn, e, fh->stream_id, ZTTP_H2_FRAME_SIZE_ERROR, 1);
    }
    /* RFC 9218 replaces these (we send SETTINGS_NO_RFC7540_PRIORITIES). */
    return glitch(conn, e, "PRIORITY");
  case ZTTP_H2_RST_STREAM:
    return on_rst_stream(conn, e, ev, p);
  case ZTTP_H2_SETTINGS:
    return on_settings(conn, e, ev, p);
  case ZTTP_H2_PUSH_PROMISE:
    /* RFC 9113 §8.4: a server never receives it; as a client we sent
     * SETTINGS_ENABLE_PUSH = 0. */
    return fail(conn, ZTTP_ERR_PROTOCOL, "PUSH_PROMISE received");
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
    return fail(conn, ZTTP_ERR_PROTOCOL, "DATA on stream 0");
  }
  e->conn_recv_window -= fh->length;
  if (e->conn_recv_window < 0) {
    return fail(conn, ZTTP_ERR_FLOW_CONTROL,
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
    return fail(conn, ZTTP_ERR_FRAME_SIZE, "padded DATA without pad length");
  }
  zttp_h2_stream *s = find(e, id);
  int32_t rv;
  uint32_t code = 0;
  if (s == NULL) {
    if (stream_idle(conn, e, id)) {
      return fail(conn, ZTTP_ERR_PROTOCOL, "DATA on idle stream %u", id);
    }
    if ((rv = glitch(conn, e, "DATA on a closed stream")) != 0) {
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
      return glitch(conn, e, "empty DATA");
    }
    return 0;
  }
  /* Dropped: skip the payload, return the connection credit now. */
  e->skip_left = fh->length;
  e->data_left = 0;
  e->data_padded = 0;
  e->data_end = 0;
  if ((rv = conn_window_credit(conn, e, fh->length)) != 0) {
    return rv;
  }
  return code != 0 ? stream_error(conn, e, id, code, 1) : 0;
}

/* The DATA payload, one step: the pad length, a span of data, padding, and
 * END_STREAM. Returns 1 with an event, 0 when it needs input, 2 after
 * progress without an event, or an error. */
static int32_t data_step(zttp_conn *conn, h2_engine *e, zttp_event *ev) {
  zttp_h2_stream *s = e->data_stream != 0 ? find(e, e->data_stream) : NULL;
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
      return fail(conn, ZTTP_ERR_PROTOCOL, "DATA padding exceeds the payload");
    }
    e->data_left -= pad;
    e->skip_left = pad;
    if (s != NULL) {
      /* Padding is flow-controlled but carries nothing to consume. */
      if ((rv = stream_window_credit(conn, e, s, pad + 1u)) != 0 ||
          (rv = conn_window_credit(conn, e, pad + 1u)) != 0) {
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
      if ((rv = conn_window_credit(conn, e, e->data_left)) != 0) {
        return rv;
      }
      e->data_left = 0;
      e->data_stream = 0;
      e->data_end = 0;
      rv = stream_error(conn, e, s->id, ZTTP_H2_PROTOCOL_ERROR, 1);
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
      rv = conn_window_credit(conn, e, n);
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
    rv = stream_error(conn, e, s->id, ZTTP_H2_PROTOCOL_ERROR, 1);
    return rv != 0 ? rv : 2;
  }
  s->recv = ZTTP_H2_RECV_DONE;
  ev->kind = ZTTP_EVENT_END_MESSAGE;
  ev->stream_id = s->id;
  ev->u.end.trailers = NULL;
  ev->u.end.num_trailers = 0;
  if ((rv = maybe_close(conn, e, s)) != 0) {
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
      return fail(conn, ZTTP_ERR_UNEXPECTED_EOF,
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

static int32_t h2_next_event(zttp_conn *conn, zttp_event *ev) {
  h2_engine *e = eng(conn);
  for (;;) {
    if (dequeue(e, ev)) {
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
        return fail(conn, ZTTP_ERR_BAD_PREFACE,
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
        return fail(conn, ZTTP_ERR_FRAME_SIZE,
                    "frame of %u bytes exceeds SETTINGS_MAX_FRAME_SIZE",
                    fh->length);
      }
      if (!e->got_settings &&
          (fh->type != ZTTP_H2_SETTINGS || (fh->flags & ZTTP_H2_FLAG_ACK))) {
        /* RFC 9113 §3.4: the preface ends with a SETTINGS frame. */
        return fail(conn, ZTTP_ERR_BAD_PREFACE, "first frame is not SETTINGS");
      }
      if (e->hb_active &&
          (fh->type != ZTTP_H2_CONTINUATION || fh->stream_id != e->hb_stream)) {
        return fail(conn, ZTTP_ERR_PROTOCOL,
                    "header block interrupted by another frame");
      }
      if (!e->hb_active && fh->type == ZTTP_H2_CONTINUATION) {
        return fail(conn, ZTTP_ERR_PROTOCOL, "unexpected CONTINUATION");
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

static int64_t h2_receive_data(zttp_conn *conn, const uint8_t *data,
                               size_t len) {
  h2_engine *e = eng(conn);
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
    return fail(conn, ZTTP_ERR_NOMEM, "out of memory");
  }
  zttp_buf_put(&e->in, data, take);
  return (int64_t)take;
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
    s = find(e, (uint32_t)stream_id);
  }
  if (s == NULL) {
    *rv = zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                          "no open stream %lld", (long long)stream_id);
  }
  return s;
}

static int64_t h2_send_request(zttp_conn *conn, zttp_str method,
                               zttp_str target, const zttp_header *headers,
                               size_t num_headers, uint32_t flags) {
  h2_engine *e = eng(conn);
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
  int upper;
  if (!zttp_h2_name_valid_send(method.base, method.len, &upper) ||
      !zttp_h2_value_valid_send(target.base, target.len)) {
    return field_error(conn, "invalid method or target", 0);
  }
  /* Leading :scheme, :authority and :protocol entries. */
  zttp_str scheme = {NULL, 0};
  zttp_str authority = {NULL, 0};
  zttp_str protocol = {NULL, 0};
  size_t k = 0;
  for (;
       k < num_headers && headers[k].name_len > 0 && headers[k].name[0] == ':';
       k++) {
    zttp_str v = {headers[k].value, headers[k].value_len};
    const char *n = headers[k].name;
    size_t nl = headers[k].name_len;
    if (!zttp_h2_value_valid_send(v.base, v.len)) {
      return field_error(conn, "invalid value", k);
    }
    if (nl == 7 && memcmp(n, ":scheme", 7) == 0 && scheme.base == NULL) {
      scheme = v;
    } else if (nl == 10 && memcmp(n, ":authority", 10) == 0 &&
               authority.base == NULL) {
      authority = v;
    } else if (nl == 9 && memcmp(n, ":protocol", 9) == 0 &&
               protocol.base == NULL) {
      protocol = v;
    } else {
      return field_error(conn, "pseudo-header not allowed here", k);
    }
  }
  int connect = method.len == 7 && memcmp(method.base, "CONNECT", 7) == 0;
  if (protocol.base != NULL && (!connect || !e->peer_connect_protocol)) {
    return field_error(conn,
                       ":protocol needs CONNECT and the peer's "
                       "SETTINGS_ENABLE_CONNECT_PROTOCOL",
                       0);
  }
  if ((rv = scratch_reserve(conn, e, num_headers + 5, 0)) != 0) {
    return rv;
  }
  /* Four pseudo-header slots (the usual count), filled below; the regular
   * fields follow them and move only when there are not four. */
  size_t n = 4;
  send_info info = {-1, {NULL, 0}};
  if ((rv = add_fields(conn, e, &n, &info, headers + k, num_headers - k, 1,
                       0)) != 0) {
    return rv;
  }
  if (authority.base == NULL) {
    authority = connect && protocol.base == NULL ? target : info.host;
  }
  if (scheme.base == NULL) {
    scheme.base = e->tls ? "https" : "http";
    scheme.len = e->tls ? 5 : 4;
  }
  /* RFC 9113 §8.3.1, §8.5: CONNECT carries :authority only. */
  if (authority.base == NULL && connect) {
    return field_error(conn, "CONNECT needs an authority", 0);
  }
  int with_path = !connect || protocol.base != NULL;
  size_t p = 1 + 2 * (size_t)with_path + (authority.base != NULL) +
             (protocol.base != NULL);
  /* The regular fields start right after the pseudo-headers, which are
   * written in place (a local array copied over compiled to "rep movs"). */
  if (p != 4) {
    memmove(e->sf + p, e->sf + 4, (n - 4) * sizeof(*e->sf));
  }
  size_t slot = 0;
#define PSEUDO(nm, v)                                                          \
  do {                                                                         \
    e->sf[slot].name = nm;                                                     \
    e->sf[slot].name_len = sizeof(nm) - 1;                                     \
    e->sf[slot].value = (v).base;                                              \
    e->sf[slot].value_len = (v).len;                                           \
    e->sf[slot].flags = 0;                                                     \
    e->sf[slot].reserved = 0;                                                  \
    slot++;                                                                    \
  } while (0)
  PSEUDO(":method", method);
  if (with_path) {
    PSEUDO(":scheme", scheme);
  }
  if (authority.base != NULL) {
    PSEUDO(":authority", authority);
  }
  if (with_path) {
    PSEUDO(":path", target);
  }
  if (protocol.base != NULL) {
    PSEUDO(":protocol", protocol);
  }
#undef PSEUDO
  size_t total = n - 4 + p;
  int end = (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
  if (end && info.content_length > 0) {
    return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, -1,
                           "END_STREAM with a non-zero Content-Length");
  }
  uint32_t id = e->next_local_id;
  /* Create the stream first so the header block is never sent for a
   * stream we could not track. */
  zttp_h2_stream *s;
  if ((rv = stream_new(conn, e, id, &s)) != 0) {
    return rv;
  }
  rv = write_header_block(conn, e, id, total, end, 0);
  if (rv != 0) {
    stream_release(conn, e, s);
    return rv;
  }
  e->next_local_id += 2;
  s->recv = ZTTP_H2_RECV_HEADERS;
  s->send = end ? ZTTP_H2_SEND_DONE : ZTTP_H2_SEND_BODY;
  s->send_cl = connect ? -1 : info.content_length;
  s->flags |= ZTTP_H2_SF_SEEN_BY_APP;
  if (method.len == 4 && memcmp(method.base, "HEAD", 4) == 0) {
    s->flags |= ZTTP_H2_SF_HEAD;
  }
  if (connect) {
    s->flags |= ZTTP_H2_SF_CONNECT;
  }
  return id;
}

/* Sends a response head (1xx or final) on |s|. */
static int32_t send_status(zttp_conn *conn, h2_engine *e, zttp_h2_stream *s,
                           uint32_t status, const zttp_header *headers,
                           size_t num_headers, int end, int bodyless,
                           send_info *info) {
  int32_t rv = scratch_reserve(conn, e, num_headers + 1, 0);
  if (rv != 0) {
    return rv;
  }
  char digits[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), 0};
  size_t n = 0;
  sf_put(e, &n, ":status", 7, digits, 3, 0);
  if ((rv = add_fields(conn, e, &n, info, headers, num_headers, 0, 0)) != 0) {
    return rv;
  }
  if (status >= 200 && end && !bodyless && info->content_length > 0) {
    return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, s->id,
                           "END_STREAM with a non-zero Content-Length");
  }
  return write_header_block(conn, e, s->id, n, end, 0);
}

static int32_t h2_send_response(zttp_conn *conn, int64_t stream_id,
                                uint32_t status, zttp_str reason,
                                const zttp_header *headers, size_t num_headers,
                                uint32_t flags) {
  (void)reason; /* RFC 9113 §8.3.2: no reason phrase */
  h2_engine *e = eng(conn);
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
  send_info info = {-1, {NULL, 0}};
  int bodyless = (s->flags & ZTTP_H2_SF_HEAD) || is_bodyless_status(status);
  if ((rv = send_status(conn, e, s, status, headers, num_headers, end, bodyless,
                        &info)) != 0) {
    return rv;
  }
  s->send = end ? ZTTP_H2_SEND_DONE : ZTTP_H2_SEND_BODY;
  s->send_cl = bodyless ? 0 : info.content_length;
  if (end) {
    return maybe_close(conn, e, s);
  }
  return 0;
}

static int32_t h2_send_informational(zttp_conn *conn, int64_t stream_id,
                                     uint32_t status,
                                     const zttp_header *headers,
                                     size_t num_headers) {
  h2_engine *e = eng(conn);
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
  send_info info = {-1, {NULL, 0}};
  return send_status(conn, e, s, status, headers, num_headers, 0, 0, &info);
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

static int64_t h2_send_data(zttp_conn *conn, int64_t stream_id,
                            const uint8_t *data, size_t len, uint32_t flags) {
  h2_engine *e = eng(conn);
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
  size_t cap = send_capacity(e, s);
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
  if (finish && take == 0 && data_fit(e, app_room(e)) == 0 &&
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
    if ((rv = maybe_close(conn, e, s)) != 0) {
      return rv;
    }
  }
  return (int64_t)take;
}

static int32_t h2_end_message(zttp_conn *conn, int64_t stream_id,
                              const zttp_header *trailers,
                              size_t num_trailers) {
  h2_engine *e = eng(conn);
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
        h2_send_data(conn, stream_id, NULL, 0, ZTTP_SEND_FLAG_END_STREAM);
    return n < 0 ? (int32_t)n : 0;
  }
  /* Trailers follow every queued byte of the stream (RFC 9113 §8.1). */
  if ((rv = scratch_reserve(conn, e, num_trailers, 0)) != 0) {
    return rv;
  }
  size_t n = 0;
  send_info info = {-1, {NULL, 0}};
  if ((rv = add_fields(conn, e, &n, &info, trailers, num_trailers, 0, 1)) !=
      0) {
    return rv;
  }
  size_t qlen = zttp_buf_len(&s->queue);
  if (qlen > 0) {
    rv = flush_queue(conn, e, s, qlen);
    if (rv != 0) {
      return rv;
    }
  }
  if ((rv = write_header_block(conn, e, s->id, n, 1, 0)) != 0) {
    return rv;
  }
  s->send = ZTTP_H2_SEND_DONE;
  return maybe_close(conn, e, s);
}

static int32_t h2_reset_stream(zttp_conn *conn, int64_t stream_id,
                               uint64_t error_code) {
  h2_engine *e = eng(conn);
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
  purge_events(e, s->id);
  return stream_release(conn, e, s);
}

static int32_t h2_close(zttp_conn *conn, uint64_t error_code, uint32_t flags) {
  h2_engine *e = eng(conn);
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
                                 shutdown_ping, 8);
      }
      if (rv != 0) {
        return rv;
      }
      e->goaway_state = GOAWAY_FIRST;
      e->goaway_code = code;
      e->goaway_last = ZTTP_H2_MAX_STREAM_ID;
      return 0;
    }
    send_goaway(conn, e, 0, code, NULL);
    return e->goaway_state == GOAWAY_SENT ? 0 : ZTTP_ERR_NOMEM;
  }
  /* Immediate: GOAWAY, drop queued data, read nothing more. */
  send_goaway(conn, e, conn->role == ZTTP_SERVER ? e->last_peer_id : 0, code,
              NULL);
  e->closed = 1;
  for (size_t k = 0; k < e->streams.cap;) {
    zttp_h2_stream *s = e->streams.slots[k];
    if (s != NULL) {
      stream_release(conn, e, s);
      continue;
    }
    k++;
  }
  e->closed = 1;
  e->evq_len = 0;
  return 0;
}

static int32_t h2_should_close(const zttp_conn *conn) {
  const h2_engine *e = eng(conn);
  if (e->closed || e->eof) {
    return 1;
  }
  int idle = e->streams.num == 0;
  if (e->goaway_state == GOAWAY_SENT && idle) {
    return 1;
  }
  return e->peer_goaway && idle;
}

static int64_t h2_send_window(const zttp_conn *conn, int64_t stream_id) {
  h2_engine *e = eng(conn);
  zttp_h2_stream *s = NULL;
  if (stream_id > 0 && stream_id <= ZTTP_H2_MAX_STREAM_ID) {
    s = find(e, (uint32_t)stream_id);
  }
  if (s == NULL) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  if (s->send != ZTTP_H2_SEND_BODY || e->closed) {
    return 0;
  }
  size_t cap = send_capacity(e, s);
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

static int32_t h2_data_consumed(zttp_conn *conn, int64_t stream_id,
                                size_t len) {
  h2_engine *e = eng(conn);
  if (stream_id <= 0 || stream_id > ZTTP_H2_MAX_STREAM_ID ||
      stream_idle(conn, e, (uint32_t)stream_id)) {
    return zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                           "stream %lld was never opened",
                           (long long)stream_id);
  }
  zttp_h2_stream *s = find(e, (uint32_t)stream_id);
  if (s == NULL || e->closed) {
    /* Closed: its unconsumed bytes were credited when it closed. */
    return 0;
  }
  if (len > s->recv_unconsumed) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_ARGUMENT, 0, stream_id,
                           "more bytes consumed than were received");
  }
  s->recv_unconsumed -= len;
  int32_t rv = stream_window_credit(conn, e, s, len);
  if (rv == 0) {
    rv = conn_window_credit(conn, e, len);
  }
  return rv;
}

static size_t h2_pending(zttp_conn *conn, const uint8_t **out) {
  h2_engine *e = eng(conn);
  if (conn->fatal == 0 && !e->closed && e->sched != NULL) {
    /* An allocation failure here leaves data queued for the next call. */
    (void)fill_output(conn, e);
  }
  *out = e->out.data + e->out.start;
  return zttp_buf_len(&e->out);
}

static int32_t h2_consume(zttp_conn *conn, size_t len) {
  h2_engine *e = eng(conn);
  if (len > zttp_buf_len(&e->out)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_buf_consume(&e->out, len);
  if (zttp_buf_len(&e->out) == 0) {
    e->ctrl_queued = 0;
  }
  return 0;
}

static int32_t h2_ping(zttp_conn *conn, const uint8_t *opaque) {
  h2_engine *e = eng(conn);
  int32_t rv = sendable(conn, e);
  if (rv != 0) {
    return rv;
  }
  if (app_room(e) < ZTTP_H2_FRAME_HEADER_LEN + 8) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  return zttp_h2_write_frame(&e->out, &conn->mem, ZTTP_H2_PING, 0, 0, opaque,
                             8);
}

static int32_t h2_set_priority(zttp_conn *conn, int64_t stream_id,
                               uint32_t urgency, uint32_t incremental) {
  h2_engine *e = eng(conn);
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
    if (app_room(e) < ZTTP_H2_FRAME_HEADER_LEN + n) {
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

/* ---- lifecycle ---------------------------------------------------------- */

static size_t h2_state_size(const zttp_settings *settings) {
  (void)settings;
  return sizeof(h2_engine);
}

static int32_t h2_init(zttp_conn *conn) {
  h2_engine *e = eng(conn);
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
  h2_engine *e = eng(conn);
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
  zttp_mem_free(&conn->mem, e->sf);
  zttp_mem_free(&conn->mem, e->sb);
  zttp_mem_free(&conn->mem, e->settings_ev);
  zttp_mem_free(&conn->mem, e->evq);
}

int32_t zttp_h2_upgrade(zttp_conn *conn, zttp_str method, const char *settings,
                        size_t settings_len) {
  h2_engine *e = eng(conn);
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
  } else if ((rv = apply_settings(conn, e, p, (size_t)n, &num)) == 0) {
    e->seen_peer_settings = 1;
  }
  zttp_mem_free(&conn->mem, p);
  if (rv != 0) {
    return rv;
  }
  /* Stream 1 is the upgraded request, half-closed (remote). */
  zttp_h2_stream *s;
  if ((rv = stream_new(conn, e, 1, &s)) != 0) {
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
    .receive_data = h2_receive_data,
    .receive_datagram = NULL,
    .next_event = h2_next_event,
    .send_request = h2_send_request,
    .send_response = h2_send_response,
    .send_error_response = NULL,
    .send_informational = h2_send_informational,
    .send_data = h2_send_data,
    .end_message = h2_end_message,
    .reset_stream = h2_reset_stream,
    .close = h2_close,
    .should_close = h2_should_close,
    .send_window = h2_send_window,
    .data_consumed = h2_data_consumed,
    .pending = h2_pending,
    .consume = h2_consume,
    .write_datagram = NULL,
    .next_timeout = NULL,
    .handle_timeout = NULL,
    .ping = h2_ping,
    .set_priority = h2_set_priority,
};
