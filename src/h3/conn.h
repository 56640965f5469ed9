/* The inside of the HTTP/3 engine (RFC 9114), shared by engine.c (life
 * cycle, QUIC plumbing, the stream table, the event queue, connection
 * errors, the vtable), recv.c (stream input: unidirectional stream types,
 * the control stream, request streams, QPACK streams) and send.c (output:
 * field sections, DATA, GOAWAY, PRIORITY_UPDATE, datagrams, the send-side
 * vtable functions). Internal: never installed.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_H3_CONN_H
#define ZTTP_H3_CONN_H

#include "zttp/zttp.h"

#include "common/evq.h"
#include "common/msg.h"
#include "engine.h" /* src/engine.h */
#include "h3/frame.h"
#include "qpack/qpack.h"
#include "quic/conn.h"

/* Peer unidirectional streams open at once (initial_max_streams_uni): the
 * three critical ones (RFC 9114 §6.2) and room for grease and extension
 * streams, which we refuse with STOP_SENDING. */
#define ZTTP_H3_MAX_PEER_UNI 8u

/* DATA frame payloads we write are at most this many bytes, so that one
 * frame never waits long for buffer room. */
#define ZTTP_H3_MAX_DATA_FRAME 16384u

/* The largest DATAGRAM frame we accept when HTTP datagrams are enabled
 * (RFC 9221 §3 max_datagram_frame_size). */
#define ZTTP_H3_MAX_DATAGRAM_FRAME 65535u

/* Stream kinds. */
enum {
  H3S_REQUEST,   /* a bidirectional request stream */
  H3S_UNI_TYPE,  /* a peer unidirectional stream whose type is not read yet */
  H3S_CONTROL,   /* the peer's control stream */
  H3S_QPACK_ENC, /* the peer's QPACK encoder stream */
  H3S_QPACK_DEC, /* the peer's QPACK decoder stream */
  H3S_DISCARD    /* input read and dropped (refused or abandoned) */
};

/* Receive states of a request stream (RFC 9114 §4.1). */
enum {
  H3R_HEADERS,  /* waiting for the (next) header section: 1xx, final */
  H3R_BODY,     /* DATA or trailers */
  H3R_TRAILERS, /* trailers seen: only FIN may follow */
  H3R_DONE      /* FIN read */
};

/* Send states of a request stream. */
enum { H3T_HEADERS, H3T_BODY, H3T_DONE };

/* Stream flags. */
#define H3F_HEAD 0x01u        /* a HEAD request: the response is bodyless */
#define H3F_CONNECT 0x02u     /* CONNECT: the body is a tunnel */
#define H3F_SEEN 0x04u        /* the application knows the stream */
#define H3F_BLOCKED 0x08u     /* its header section waits for QPACK inserts */
#define H3F_READY 0x10u       /* in the ready list */
#define H3F_WANT_WINDOW 0x20u /* send_data took less than offered */
#define H3F_BODYLESS 0x40u    /* the received message has no content */
#define H3F_LOCAL 0x80u       /* we opened it */

typedef struct h3_stream {
  uint64_t id;
  uint8_t kind;
  uint8_t recv;
  uint8_t send;
  uint8_t flags;
  uint8_t blocked_end;  /* a blocked section was followed by FIN */
  int64_t recv_cl;      /* content-length received, -1: none */
  int64_t send_cl;      /* content-length sent, -1: none */
  uint64_t recv_bytes;  /* DATA payload bytes received */
  uint64_t send_bytes;  /* DATA payload bytes sent */
  uint64_t uncredited;  /* DATA bytes delivered, not yet data_consumed */
  uint64_t credit_owed; /* data_consumed bytes waiting for the pending span */
  zttp_h3_frame_reader fr;
  zttp_h3_varint_reader vr;
  struct h3_stream *ready_next; /* also the free list's link */
} h3_stream;

/* Released streams kept for reuse (DESIGN.md §6: no allocation per
 * request in the steady state), as src/h2 keeps its own. */
#define ZTTP_H3_FREE_STREAMS_MAX 32u

/* The largest frame-reader buffer a released stream keeps for its next
 * use; a larger one is freed with the stream. */
#define ZTTP_H3_KEEP_READER_BUF 4096u

/* A bounded ring of pointer-free events (ZTTP_H3_MAX_EVENTS, the most one
 * engine step can queue: a QUIC event or a frame makes at most a few). */
#define ZTTP_H3_MAX_EVENTS 64u

typedef struct h3_engine {
  zttp_quic_conn *qc;
  zttp_tls_ctx *tls; /* our reference */
  char *server_name; /* client: NUL-terminated copy, or NULL */
  zttp_quic_settings qs;

  /* Our uni streams (RFC 9114 §6.2); -1 until opened. */
  int64_t ctrl_id;
  int64_t enc_id;
  int64_t dec_id;
  uint8_t uni_opened;

  /* The peer's critical streams seen (RFC 9114 §6.2.1, RFC 9204 §4.2). */
  uint8_t peer_ctrl;
  uint8_t peer_enc;
  uint8_t peer_dec;
  uint8_t peer_settings; /* its SETTINGS arrived */

  /* Our advertised settings (advertised = enforced). */
  uint8_t connect_protocol;
  uint8_t datagrams;
  /* The peer's. */
  uint8_t peer_connect_protocol;
  uint8_t peer_datagrams;
  uint64_t peer_max_field_section;
  zttp_setting settings_ev[ZTTP_H3_MAX_SETTINGS];

  zttp_qpack_decoder dec;
  zttp_qpack_encoder enc;
  zttp_qpack_fields fields;
  uint8_t qpack_ready; /* blocked sections may be decodable */

  /* Scratch for outgoing fields and encoded sections. */
  zttp_msg_out sec;
  uint8_t *hbuf;
  size_t hbuf_cap;

  /* Streams: open addressing, linear probing, |cap| a power of two. */
  h3_stream **slots;
  size_t cap;
  size_t count;
  size_t num_requests;  /* request streams in the table */
  h3_stream *free_list; /* released streams (ZTTP_H3_FREE_STREAMS_MAX) */
  size_t free_count;
  h3_stream *ready_head; /* streams with input to process */
  h3_stream *ready_tail;
  uint64_t next_peer_bidi;  /* the lowest peer bidi id not yet seen */
  uint64_t next_local_bidi; /* client: the next request stream id */
  uint64_t max_push_id;     /* server: the client's MAX_PUSH_ID + 1, 0 none */

  /* The DATA span handed out last: consume it on the next call. */
  uint64_t pend_stream;
  size_t pend_len;
  uint8_t pend;

  zttp_evq_rec evq_recs[ZTTP_H3_MAX_EVENTS];
  zttp_evq evq; /* over evq_recs: a full queue is an error */

  /* Shutdown (RFC 9114 §5.2). */
  uint8_t goaway_sent;
  uint8_t graceful;   /* close once the request streams are done */
  uint8_t closed;     /* CONNECTION_CLOSE sent or received */
  uint8_t closed_ev;  /* ZTTP_EVENT_CONNECTION_CLOSED reported */
  uint8_t hs_done_ev; /* ZTTP_EVENT_HANDSHAKE_DONE reported */
  uint8_t peer_goaway;
  uint64_t goaway_id;      /* what we sent */
  uint64_t peer_goaway_id; /* what the peer sent */
} h3_engine;

static inline h3_engine *zttp_h3_eng(const zttp_conn *conn) {
  return conn->engine;
}

static inline uint64_t zttp_h3_limit(const zttp_conn *conn, uint32_t id) {
  return conn->settings.limits[id];
}

/* RFC 9000 §2.1: bit 0 is the initiator (1: server), bit 1 the direction
 * (1: unidirectional). */
static inline int zttp_h3_peer_stream(const zttp_conn *conn, uint64_t id) {
  return (int)(id & 1u) == (conn->role == ZTTP_SERVER ? 0 : 1);
}

/* engine.c */
/* zttp_h3_find returns the stream |id| or NULL. */
h3_stream *zttp_h3_find(const h3_engine *e, uint64_t id);
/* zttp_h3_stream_new adds a zeroed stream |id| of |kind| (a released one
 * when there is one); NULL when out of memory. */
h3_stream *zttp_h3_stream_new(zttp_conn *conn, h3_engine *e, uint64_t id,
                              uint8_t kind);
/* zttp_h3_stream_free removes |s| from the table and the ready list and
 * keeps it for reuse (or frees it when ZTTP_H3_FREE_STREAMS_MAX are
 * kept). */
void zttp_h3_stream_free(zttp_conn *conn, h3_engine *e, h3_stream *s);
/* zttp_h3_ready_remove takes |s| off the ready list. */
void zttp_h3_ready_remove(h3_engine *e, h3_stream *s);
/* zttp_h3_ready_push appends |s| to the ready list (once). */
void zttp_h3_ready_push(h3_engine *e, h3_stream *s);
/* zttp_h3_enqueue queues a pointer-free event; a full queue is an internal
 * error (fatal). */
int32_t zttp_h3_enqueue(zttp_conn *conn, h3_engine *e, uint32_t kind,
                        uint32_t flags, int64_t stream_id, uint64_t code);
/* zttp_h3_fail closes the connection with the HTTP/3 (or QPACK) |wire|
 * code (RFC 9114 §8), poisons |conn| with |err| and returns it. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
int32_t
zttp_h3_fail(zttp_conn *conn, int32_t err, uint64_t wire, const char *fmt, ...);
/* zttp_h3_stream_error abandons request stream |s| because of the peer
 * (RFC 9114 §4.1.2: RESET_STREAM and STOP_SENDING with |code|) and reports
 * ZTTP_EVENT_STREAM_RESET if the application knew it. */
int32_t zttp_h3_stream_error(zttp_conn *conn, h3_engine *e, h3_stream *s,
                             uint64_t code);
/* zttp_h3_maybe_release frees a request stream both sides finished. */
void zttp_h3_maybe_release(zttp_conn *conn, h3_engine *e, h3_stream *s);
/* zttp_h3_flush_qpack writes the pending QPACK encoder and decoder stream
 * bytes to our uni streams (once they are open). */
int32_t zttp_h3_flush_qpack(zttp_conn *conn, h3_engine *e);
/* zttp_h3_stream_room returns how many bytes our send side of stream |id|
 * takes now (0 when it is finished, reset or unknown). */
size_t zttp_h3_stream_room(const h3_engine *e, uint64_t id);
/* zttp_h3_check_graceful closes the connection with H3_NO_ERROR when a
 * graceful shutdown has no request stream left. */
void zttp_h3_check_graceful(zttp_conn *conn, h3_engine *e);
/* zttp_h3_open_uni opens our control and QPACK streams once the handshake
 * completed (RFC 9114 §6.2.1: SETTINGS first). */
int32_t zttp_h3_open_uni(zttp_conn *conn, h3_engine *e);

/* recv.c */
/* zttp_h3_stream_step processes input of the head of the ready list: 1
 * with an event in |ev|, 0 when it made progress without one, or a fatal
 * error. */
int32_t zttp_h3_stream_step(zttp_conn *conn, h3_engine *e, h3_stream *s,
                            zttp_event *ev);
/* zttp_h3_qpack_resume decodes one unblocked header section: 1 with an
 * event, 0 when none was ready, or an error. */
int32_t zttp_h3_qpack_resume(zttp_conn *conn, h3_engine *e, zttp_event *ev);
/* zttp_h3_discard reads and drops what stream |id| has ready. */
void zttp_h3_discard(h3_engine *e, uint64_t id);

/* send.c */
int64_t zttp_h3_send_request(zttp_conn *conn, zttp_str method, zttp_str target,
                             const zttp_header *headers, size_t num_headers,
                             uint32_t flags);
int32_t zttp_h3_send_response(zttp_conn *conn, int64_t stream_id,
                              uint32_t status, zttp_str reason,
                              const zttp_header *headers, size_t num_headers,
                              uint32_t flags);
int32_t zttp_h3_send_informational(zttp_conn *conn, int64_t stream_id,
                                   uint32_t status, const zttp_header *headers,
                                   size_t num_headers);
int64_t zttp_h3_send_data(zttp_conn *conn, int64_t stream_id,
                          const uint8_t *data, size_t len, uint32_t flags);
int32_t zttp_h3_end_message(zttp_conn *conn, int64_t stream_id,
                            const zttp_header *trailers, size_t num_trailers);
int32_t zttp_h3_reset_stream(zttp_conn *conn, int64_t stream_id,
                             uint64_t error_code);
int32_t zttp_h3_close(zttp_conn *conn, uint64_t error_code, uint32_t flags);
int64_t zttp_h3_send_window(const zttp_conn *conn, int64_t stream_id);
int32_t zttp_h3_data_consumed(zttp_conn *conn, int64_t stream_id, size_t len);
int32_t zttp_h3_set_priority(zttp_conn *conn, int64_t stream_id,
                             uint32_t urgency, uint32_t incremental);
int32_t zttp_h3_send_datagram(zttp_conn *conn, int64_t stream_id,
                              const uint8_t *data, size_t len);

#endif
