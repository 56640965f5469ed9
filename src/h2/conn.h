/* The inside of the HTTP/2 engine (RFC 9113), shared by engine.c (life
 * cycle, errors and budgets, the event queue, streams, flow-control credit,
 * SETTINGS, the vtable), recv.c (frames in, events out) and send.c (output
 * framing, the RFC 9218 scheduler, the send-side vtable functions).
 * Internal: never installed.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_H2_CONN_H
#define ZTTP_H2_CONN_H

#include "zttp/zttp.h"

#include "common/buf.h"
#include "common/evq.h"
#include "common/msg.h"
#include "engine.h" /* src/engine.h */
#include "h2/frame.h"
#include "h2/stream.h"
#include "hpack/hpack.h"

/* The opaque data of the PING that times the second GOAWAY of a graceful
 * shutdown (RFC 9113 §6.8). */
static const uint8_t zttp_h2_shutdown_ping[8] = {'z', 't', 't', 'p',
                                                 'g', 'o', 'a', 'w'};

enum {
  IN_PREFACE,
  IN_HEADER,  /* the next frame header */
  IN_PAYLOAD, /* a whole non-DATA payload is needed */
  IN_DATA,    /* DATA payload bytes, delivered as they arrive */
  IN_SKIP     /* payload bytes to drop (padding, ignored frames) */
};

enum { GOAWAY_NONE, GOAWAY_FIRST, GOAWAY_SENT };

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
  zttp_msg_out sec;

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

  /* Events waiting behind the current one (storage grown on demand). */
  zttp_evq evq;

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

static inline h2_engine *zttp_h2_eng(const zttp_conn *conn) {
  return conn->engine;
}

static inline uint64_t zttp_h2_limit(const zttp_conn *conn, uint32_t id) {
  return conn->settings.limits[id];
}

static inline int zttp_h2_peer_initiated(const zttp_conn *conn, uint32_t id) {
  /* RFC 9113 §5.1.1: clients use odd ids, servers even ones. */
  return (conn->role == ZTTP_SERVER) == ((id & 1u) == 1u);
}

static inline zttp_h2_stream *zttp_h2_find(const h2_engine *e, uint32_t id) {
  return zttp_h2_stream_find(&e->streams, id);
}

static inline int zttp_h2_bodyless_status(uint32_t status) {
  return status == 204 || status == 304;
}

/* engine.c: errors and budgets, events, streams, flow-control credit,
 * SETTINGS. */
void zttp_h2_send_goaway(zttp_conn *conn, h2_engine *e, uint32_t last,
                         uint32_t code, const char *debug);
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int32_t
zttp_h2_fail(zttp_conn *conn, int32_t err, const char *fmt, ...);
int zttp_h2_bucket_take(bucket *b, uint64_t burst, uint64_t rate,
                        zttp_tstamp now);
int32_t zttp_h2_glitch(zttp_conn *conn, h2_engine *e, const char *what);
int32_t zttp_h2_control_queued(zttp_conn *conn, h2_engine *e);
int32_t zttp_h2_out_error(zttp_conn *conn, int32_t rv);
int32_t zttp_h2_enqueue(zttp_conn *conn, h2_engine *e, uint32_t kind,
                        uint32_t flags, int64_t stream_id, uint64_t code);
int zttp_h2_stream_idle(const zttp_conn *conn, const h2_engine *e, uint32_t id);
int32_t zttp_h2_stream_new(zttp_conn *conn, h2_engine *e, uint32_t id,
                           zttp_h2_stream **out);
int32_t zttp_h2_stream_release(zttp_conn *conn, h2_engine *e,
                               zttp_h2_stream *s);
int32_t zttp_h2_maybe_close(zttp_conn *conn, h2_engine *e, zttp_h2_stream *s);
int32_t zttp_h2_stream_error(zttp_conn *conn, h2_engine *e, uint32_t id,
                             uint32_t code, int peer_caused);
int32_t zttp_h2_conn_window_credit(zttp_conn *conn, h2_engine *e, uint64_t n);
int32_t zttp_h2_stream_window_credit(zttp_conn *conn, h2_engine *e,
                                     zttp_h2_stream *s, uint64_t n);
int32_t zttp_h2_apply_settings(zttp_conn *conn, h2_engine *e, const uint8_t *p,
                               size_t len, size_t *num_out);

/* recv.c: the receive-side vtable functions. */
int32_t zttp_h2_next_event(zttp_conn *conn, zttp_event *ev);
int64_t zttp_h2_receive_data(zttp_conn *conn, const uint8_t *data, size_t len);

/* send.c: the scheduler, output framing (header blocks of the field
 * sections common/msg.h builds in |sec|), and the send-side vtable
 * functions. */
void zttp_h2_sched_remove(h2_engine *e, zttp_h2_stream *s);
size_t zttp_h2_app_room(const h2_engine *e);
size_t zttp_h2_data_fit(const h2_engine *e, size_t room);
size_t zttp_h2_send_capacity(const h2_engine *e, const zttp_h2_stream *s);
int32_t zttp_h2_write_header_block(zttp_conn *conn, h2_engine *e, uint32_t id,
                                   size_t n, int end_stream, int control);
int64_t zttp_h2_send_request(zttp_conn *conn, zttp_str method, zttp_str target,
                             const zttp_header *headers, size_t num_headers,
                             uint32_t flags);
int32_t zttp_h2_send_response(zttp_conn *conn, int64_t stream_id,
                              uint32_t status, zttp_str reason,
                              const zttp_header *headers, size_t num_headers,
                              uint32_t flags);
int32_t zttp_h2_send_informational(zttp_conn *conn, int64_t stream_id,
                                   uint32_t status, const zttp_header *headers,
                                   size_t num_headers);
int64_t zttp_h2_send_data(zttp_conn *conn, int64_t stream_id,
                          const uint8_t *data, size_t len, uint32_t flags);
int32_t zttp_h2_end_message(zttp_conn *conn, int64_t stream_id,
                            const zttp_header *trailers, size_t num_trailers);
int32_t zttp_h2_reset_stream(zttp_conn *conn, int64_t stream_id,
                             uint64_t error_code);
int32_t zttp_h2_close(zttp_conn *conn, uint64_t error_code, uint32_t flags);
int32_t zttp_h2_should_close(const zttp_conn *conn);
int64_t zttp_h2_send_window(const zttp_conn *conn, int64_t stream_id);
int32_t zttp_h2_data_consumed(zttp_conn *conn, int64_t stream_id, size_t len);
size_t zttp_h2_pending(zttp_conn *conn, const uint8_t **out);
int32_t zttp_h2_consume(zttp_conn *conn, size_t len);
int32_t zttp_h2_ping(zttp_conn *conn, const uint8_t *opaque);
int32_t zttp_h2_set_priority(zttp_conn *conn, int64_t stream_id,
                             uint32_t urgency, uint32_t incremental);

#endif
