/* The QUIC connection core (RFC 9000 §5-§13, §17; RFC 9001 §4-§5; RFC 9002
 * through quic/recovery.h): one client or server connection over the
 * building blocks of src/quic and src/crypto. Internal API, not public: the
 * HTTP/3 engine sits on it.
 *
 * Sans-IO and pull-style: datagrams go in with zttp_quic_conn_recv(), one
 * datagram to send comes out of each zttp_quic_conn_write(), events are
 * pulled with zttp_quic_conn_next_event(), time is an argument and
 * zttp_quic_conn_next_timeout() says when zttp_quic_conn_handle_timeout()
 * is due. Nothing calls back.
 *
 * Scope: QUIC v1; connection IDs issued and retired (RFC 9000 §5.1);
 * either side detects the peer's Stateless Reset (RFC 9000 §10.3.1);
 * Retry both sides; key update (RFC 9001 §6); DATAGRAM frames (RFC 9221).
 * Migration (RFC 9000 §9): a server follows a client that moves or is
 * rebound by a NAT, validating the new path (§8.2), and answers probes on
 * other paths; a client never migrates itself and drops datagrams from an
 * unknown server address. No 0-RTT.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_CONN_H
#define ZTTP_QUIC_CONN_H

#include "zttp/zttp.h"

#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"
#include "crypto/tls.h"
#include "quic/packet.h"

/* Every limit the connection enforces, with its default
 * (zttp_quic_settings_default()). */
typedef struct zttp_quic_settings {
  /* initial_max_data we advertise, and the connection receive window kept
   * open as the application reads (auto-extension). Default 1 MiB. */
  uint64_t max_data;
  /* initial_max_stream_data_* we advertise, and the per-stream receive
   * window kept open as the application reads. Default 256 KiB. */
  uint64_t max_stream_data;
  /* initial_max_streams_bidi / _uni we advertise: the peer's concurrent
   * streams; credit comes back as streams close (MAX_STREAMS). Defaults
   * 100 and 3. */
  uint64_t max_streams_bidi;
  uint64_t max_streams_uni;
  /* max_idle_timeout in milliseconds (RFC 9000 §10.1); 0: none. Default
   * 30000. */
  uint64_t idle_timeout_ms;
  /* max_udp_payload_size we advertise and the largest datagram we send
   * (and the peer's value caps it). At least 1200. Default 1452. */
  uint64_t max_udp_payload_size;
  /* max_ack_delay we advertise, milliseconds. Default 25. */
  uint64_t max_ack_delay_ms;
  /* Bytes of out-of-order CRYPTO data buffered per encryption level
   * (RFC 9000 §7.5: CRYPTO_BUFFER_EXCEEDED past it). Default 65536. */
  size_t max_crypto_buffer;
  /* Ranges of received packet numbers remembered per space for ACK
   * frames (RFC 9000 §13.2.3). Default 64. */
  size_t max_ack_ranges;
  /* Sent packets tracked per space (quic/recovery.h max_sent): no packet
   * is sent in a space where this many are unresolved. Default 4096. */
  size_t max_sent_packets;
  /* Bytes the application may queue per stream before the peer
   * acknowledges them. Default 262144. */
  size_t stream_send_buffer;
  /* Holes per stream and per CRYPTO level in received data (recvbuf
   * fragments) and in acknowledged send ranges. Default 64. */
  size_t max_stream_fragments;
  /* Connection ID length we choose (8-20). Default 8. */
  size_t cid_len;
  /* enum zttp_quic_cc_algo. Default ZTTP_QUIC_CC_NEWRENO. */
  uint32_t cc_algo;
  /* The endpoint's static key for Stateless Reset Tokens (RFC 9000
   * §10.3.2): a token is the first 16 bytes of HMAC-SHA256(key, CID), so
   * an endpoint that lost the connection can still compute it. All zero
   * (the default): a random key per connection. */
  uint8_t reset_key[32];
  /* active_connection_id_limit we advertise (RFC 9000 §5.1.1, §18.2):
   * connection IDs of the peer we hold; more is CONNECTION_ID_LIMIT_ERROR.
   * 2 to ZTTP_QUIC_MAX_ACTIVE_CIDS. Default 4. */
  uint64_t active_cid_limit;
  /* RETIRE_CONNECTION_ID frames queued or unacknowledged (RFC 9000
   * §5.1.2); a peer whose retire_prior_to makes more is closed with
   * CONNECTION_ID_LIMIT_ERROR (the quiche CVE-2024-1410 flood). 1 to
   * ZTTP_QUIC_MAX_RETIRE_QUEUE. Default 16. */
  size_t max_retire_queue;
  /* Receive-window autotuning (RFC 9000 §4.2 leaves the policy to us):
   * when the peer used half a window in less than two smoothed RTTs, the
   * window doubles, up to these ceilings: per stream (from
   * max_stream_data) and for the connection (from max_data; it also grows
   * to 1.5 stream windows). A ceiling no larger than the initial window
   * turns autotuning off. They bound what a peer can make us buffer.
   * Defaults 6 MiB and 15 MiB. */
  uint64_t max_stream_data_window;
  uint64_t max_data_window;
  /* 1: pace ack-eliciting packets at 1.25 * cwnd / smoothed_rtt with an
   * initial-window burst (RFC 9002 §7.7); the pacing deadline is part of
   * zttp_quic_conn_next_timeout(). 0: send as fast as the window allows.
   * Default 1. */
  uint32_t pacing;
  /* Stream churn (the QUIC form of HTTP/2's rapid reset): a peer stream
   * that ends by the peer's RESET_STREAM or STOP_SENDING takes a token
   * from a bucket of |reset_burst| tokens refilled at |reset_rate| per
   * second; without one, the MAX_STREAMS credit it would return waits
   * until the bucket refills. The peer is slowed, never closed. Defaults
   * 1000 and 33 (as ZTTP_LIMIT_RESET_BURST/RATE for HTTP/2); 1 to 10^6. */
  uint64_t reset_burst;
  uint64_t reset_rate;
  /* PATH_RESPONSE frames queued for PATH_CHALLENGEs (RFC 9000 §8.2.2); a
   * challenge beyond them replaces the oldest. 1 to
   * ZTTP_QUIC_MAX_PATH_RESPONSES. Default 4. */
  size_t max_path_responses;
  /* max_datagram_frame_size we advertise (RFC 9221 §3): 0 (the default)
   * refuses DATAGRAM frames; otherwise the largest DATAGRAM frame we take
   * (larger is PROTOCOL_VIOLATION). */
  uint64_t max_datagram_frame_size;
  /* DATAGRAM payloads queued to send, and received but not yet read; a
   * datagram arriving to a full queue replaces the oldest (RFC 9221 §5:
   * datagrams may be dropped). 1 to ZTTP_QUIC_MAX_DATAGRAM_QUEUE. Default
   * 16. */
  size_t datagram_queue;
  /* 0 (the default): reading stream data (zttp_quic_conn_stream_consume)
   * returns its flow credit. 1: credit returns only through
   * zttp_quic_conn_stream_credit(), so that an application that buffers
   * what it read keeps the peer's window shut (the HTTP/3 engine's
   * zttp_conn_data_consumed()). */
  uint32_t manual_credit;
} zttp_quic_settings;

/* Our cap on connection IDs held per side: the ones we issue (fewer when
 * the peer's active_connection_id_limit is lower) and the peer's. */
#define ZTTP_QUIC_MAX_ACTIVE_CIDS 8
/* The largest datagram_queue. */
#define ZTTP_QUIC_MAX_DATAGRAM_QUEUE 1024
/* The largest max_path_responses. */
#define ZTTP_QUIC_MAX_PATH_RESPONSES 16
/* The largest max_retire_queue. */
#define ZTTP_QUIC_MAX_RETIRE_QUEUE 64

/* zttp_quic_settings_default fills |s| with the defaults above. */
void zttp_quic_settings_default(zttp_quic_settings *s);

typedef struct zttp_quic_conn zttp_quic_conn;

/* Event kinds of zttp_quic_conn_next_event(). */
enum zttp_quic_event_kind {
  ZTTP_QUIC_EV_NONE = 0,
  /* The handshake completed (a client: confirmed by HANDSHAKE_DONE comes
   * later and is not reported). */
  ZTTP_QUIC_EV_HANDSHAKE_DONE = 1,
  /* The peer opened |stream_id| (RFC 9000 §3.2). */
  ZTTP_QUIC_EV_STREAM_OPENED = 2,
  /* |stream_id| has data (or its end) to read. Reported again only after
   * a read left nothing and more arrived. */
  ZTTP_QUIC_EV_STREAM_READABLE = 3,
  /* |stream_id|'s send buffer has room again after a short write. */
  ZTTP_QUIC_EV_STREAM_WRITABLE = 4,
  /* The peer reset |stream_id| (RESET_STREAM, |error_code|). */
  ZTTP_QUIC_EV_STREAM_RESET = 5,
  /* The peer asked us to stop sending on |stream_id| (STOP_SENDING,
   * |error_code|); the stream's send side was reset with that code. */
  ZTTP_QUIC_EV_STREAM_STOP_SENDING = 6,
  /* The connection is closing or draining: |error| is 0 (a clean close by
   * either side) or the ZTTP_ERR_* of a failure, |error_code| the wire
   * code, |app| 1 for an application close, |remote| 1 when the peer
   * closed. Last event. */
  ZTTP_QUIC_EV_CLOSED = 7,
  /* A DATAGRAM frame's payload arrived (RFC 9221): |data|, |data_len|,
   * valid until the next call on the connection. */
  ZTTP_QUIC_EV_DATAGRAM = 8,
  /* The path we send on changed (|validated| 0: the peer moved there and
   * validation started; 1 with a path we fell back to) or was validated
   * (|validated| 1): |path|, valid until the next call on the connection
   * (RFC 9000 §9.3). */
  ZTTP_QUIC_EV_PATH = 9
};

typedef struct zttp_quic_event {
  uint32_t kind; /* enum zttp_quic_event_kind */
  uint64_t stream_id;
  uint64_t error_code;
  int32_t error;
  uint8_t app;
  uint8_t remote;
  /* CLOSED: 1 when a Stateless Reset from the peer ended the connection
   * (RFC 9000 §10.3.1; |error| is ZTTP_ERR_CLOSED, |remote| 1). */
  uint8_t stateless_reset;
  /* DATAGRAM: the payload (borrowed). */
  const uint8_t *data;
  size_t data_len;
  /* PATH */
  const zttp_path *path;
  uint8_t validated;
} zttp_quic_event;

/* Counters for tests and statistics. */
typedef struct zttp_quic_conn_stats {
  uint64_t pkts_sent;
  uint64_t pkts_recv;
  uint64_t pkts_dropped; /* undecryptable, duplicate or unexpected */
  uint64_t bytes_sent;   /* datagram bytes */
  uint64_t bytes_recv;
  uint64_t pkts_lost;
  uint64_t stream_bytes_retransmitted;
  uint64_t acks_sent;
  /* DATA_BLOCKED, STREAM_DATA_BLOCKED and STREAMS_BLOCKED frames sent (we
   * waited on the peer's limits) and received (the peer waited on ours). */
  uint64_t blocked_sent;
  uint64_t blocked_recv;
  /* PATH_CHALLENGEs answered and dropped (past max_path_responses). */
  uint64_t path_responses_sent;
  uint64_t path_challenges_dropped;
  /* Peer streams whose MAX_STREAMS credit waited for the reset bucket. */
  uint64_t credits_deferred;
  /* DATAGRAM frames (RFC 9221) sent, received, and dropped: received to a
   * full queue, or queued but no longer fitting a packet. */
  uint64_t datagrams_sent;
  uint64_t datagrams_recv;
  uint64_t datagrams_dropped;
  /* Migration (RFC 9000 §9): moves to another path, validations that
   * succeeded and failed (timed out), congestion state reset for a new
   * address (§9.4), and datagrams dropped for arriving on a path we do
   * not accept (a client from an unknown server address, a server before
   * the handshake is confirmed). */
  uint64_t migrations;
  uint64_t paths_validated;
  uint64_t paths_failed;
  uint64_t cc_resets;
  uint64_t dgrams_wrong_path;
} zttp_quic_conn_stats;

/* zttp_quic_conn_new creates a connection into |*out|, allocated with
 * |mem| (kept: it must outlive the connection), with the settings |s|
 * (copied; NULL: defaults), in |role| (enum zttp_role) over the TLS
 * context |tls_ctx| (a reference is taken; its role must match). A client
 * names the server in |server_name| (NUL-terminated; may be NULL with a
 * non-verifying context), picks random connection IDs and derives its
 * Initial keys (RFC 9001 §5.2); |initial| must be NULL. A server passes the
 * parsed header of the client's first Initial packet in |initial| (its
 * version, DCID and SCID; borrowed) and then hands that datagram to
 * zttp_quic_conn_recv(). |path| (copied) is the path of the first
 * datagram. Returns 0, ZTTP_ERR_INVALID_ARGUMENT (bad settings, role or
 * header, an unsupported version), ZTTP_ERR_TLS_CONFIG or ZTTP_ERR_NOMEM.
 */
int32_t zttp_quic_conn_new(zttp_quic_conn **out, const zttp_mem *mem,
                           const zttp_quic_settings *s, uint32_t role,
                           zttp_tls_ctx *tls_ctx, const char *server_name,
                           const zttp_quic_hdr *initial, const zttp_path *path,
                           zttp_tstamp now);

/* zttp_quic_conn_new_retried creates a server connection like
 * zttp_quic_conn_new() for a client Initial |initial| whose Retry token the
 * caller validated (zttp_quic_ep_token_validate()): |odcid| is the
 * client's original DCID from the token; the Initial's DCID is the Retry's
 * SCID. The client's address counts as validated (RFC 9000 §8.1.2) and the
 * transport parameters carry original_destination_connection_id = |odcid|
 * and retry_source_connection_id (RFC 9000 §7.3). Returns as
 * zttp_quic_conn_new(); ZTTP_ERR_INVALID_ARGUMENT also when |odcid| is
 * NULL, shorter than 8 bytes or equal to the Initial's DCID. */
int32_t zttp_quic_conn_new_retried(zttp_quic_conn **out, const zttp_mem *mem,
                                   const zttp_quic_settings *s,
                                   zttp_tls_ctx *tls_ctx,
                                   const zttp_quic_hdr *initial,
                                   const zttp_quic_cid *odcid,
                                   const zttp_path *path, zttp_tstamp now);

/* zttp_quic_conn_free frees |qc| and everything it holds. NULL is a
 * no-op. */
void zttp_quic_conn_free(zttp_quic_conn *qc);

/* zttp_quic_conn_recv processes one UDP datagram (|len| bytes at |data|,
 * borrowed) that arrived on |path| at |now|: every coalesced packet
 * (RFC 9000 §12.2). Packets that cannot be decrypted, duplicates and
 * packets for other connections are dropped silently (RFC 9000 §12.2,
 * RFC 9001 §5.2). Returns 0, or a negative ZTTP_ERR_* when the peer broke
 * the protocol (ZTTP_ERR_PROTOCOL, ZTTP_ERR_FLOW_CONTROL,
 * ZTTP_ERR_TLS_HANDSHAKE) or memory ran out (ZTTP_ERR_NOMEM): the
 * connection is then closing, a CONNECTION_CLOSE is queued and a CLOSED
 * event reports the error. */
int32_t zttp_quic_conn_recv(zttp_quic_conn *qc, const uint8_t *data, size_t len,
                            const zttp_path *path, zttp_tstamp now);

/* zttp_quic_conn_write builds the next datagram to send into |buf| (|cap|
 * bytes, at least 1200) and stores its path in |*path|: Initial, Handshake
 * and 1-RTT packets coalesced (RFC 9000 §12.2). Returns its length, 0 when
 * nothing is to be sent now, or ZTTP_ERR_INVALID_ARGUMENT (|cap| < 1200)
 * or ZTTP_ERR_NOMEM. Call it until it returns 0. */
int64_t zttp_quic_conn_write(zttp_quic_conn *qc, uint8_t *buf, size_t cap,
                             zttp_path *path, zttp_tstamp now);

/* zttp_quic_conn_probe_pending returns 1 when the next datagram goes off
 * the current path (a PATH_RESPONSE to a probing peer, the PATH_CHALLENGE
 * that checks the previous path): a GSO batch stops before it. */
int zttp_quic_conn_probe_pending(const zttp_quic_conn *qc);

/* zttp_quic_conn_next_timeout returns when zttp_quic_conn_handle_timeout()
 * must be called next (ACK delay, loss detection, PTO, pacing, idle
 * timeout, closing period), or ZTTP_TSTAMP_NEVER; 0 for a client that has
 * not written its first Initial yet (write now). A client's timers,
 * the idle timer included, start with its first packet, so it may be
 * created at any time before. */
zttp_tstamp zttp_quic_conn_next_timeout(const zttp_quic_conn *qc);

/* zttp_quic_conn_handle_timeout runs the timers due at |now|; then call
 * zttp_quic_conn_write(). Returns 0 or ZTTP_ERR_NOMEM. */
int32_t zttp_quic_conn_handle_timeout(zttp_quic_conn *qc, zttp_tstamp now);

/* zttp_quic_conn_next_event pulls the next event into |*ev|. Returns 1, or
 * 0 when there is none (ev->kind is then ZTTP_QUIC_EV_NONE). */
int zttp_quic_conn_next_event(zttp_quic_conn *qc, zttp_quic_event *ev);

/* zttp_quic_conn_close starts an immediate close (RFC 9000 §10.2) with an
 * application (|app| = 1) or transport error |error_code| and |reason|
 * (|reason_len| bytes, copied, truncated to 64): a CONNECTION_CLOSE goes
 * out with the next write, then the closing period. Returns 0 or
 * ZTTP_ERR_INVALID_STATE (already closing). */
int32_t zttp_quic_conn_close(zttp_quic_conn *qc, int app, uint64_t error_code,
                             const char *reason, size_t reason_len,
                             zttp_tstamp now);

/* zttp_quic_conn_close_reason points |*out| at the reason phrase of the
 * CONNECTION_CLOSE that closed |qc| (ours, or the peer's when it closed;
 * borrowed until free; at most 64 bytes kept) and returns its length. */
size_t zttp_quic_conn_close_reason(const zttp_quic_conn *qc,
                                   const uint8_t **out);

/* ---- state ---------------------------------------------------------- */

/* 1 once the handshake completed (RFC 9001 §4.1.1). */
int zttp_quic_conn_handshake_complete(const zttp_quic_conn *qc);
/* 1 once the handshake is confirmed (RFC 9001 §4.1.2). */
int zttp_quic_conn_handshake_confirmed(const zttp_quic_conn *qc);
/* A server: 1 once the client's address is validated (RFC 9000 §8.1);
 * a client: always 1. */
int zttp_quic_conn_address_validated(const zttp_quic_conn *qc);
/* 1 while closing or draining (nothing more is sent but a close). */
int zttp_quic_conn_is_closing(const zttp_quic_conn *qc);
/* 1 once the closing or draining period ended (or an idle timeout): the
 * connection can be freed. */
int zttp_quic_conn_is_closed(const zttp_quic_conn *qc);
/* The negotiated ALPN (borrowed, valid until free), 0 when none. */
size_t zttp_quic_conn_alpn(const zttp_quic_conn *qc, const uint8_t **out);
const zttp_quic_conn_stats *zttp_quic_conn_get_stats(const zttp_quic_conn *qc);
/* The connection's recovery state (RTT, congestion window), read-only. */
uint64_t zttp_quic_conn_smoothed_rtt(const zttp_quic_conn *qc);
uint64_t zttp_quic_conn_cwnd(const zttp_quic_conn *qc);

/* zttp_quic_conn_next_ticket points |*out| at the oldest TLS session ticket
 * a client received and not yet taken (opaque; for resuming a later
 * connection to the same server) and returns its length, 0 when none.
 * Valid until the next call on |qc|. @since 0.1 */
size_t zttp_quic_conn_next_ticket(zttp_quic_conn *qc, const uint8_t **out);

/* ---- key update (RFC 9001 §6) --------------------------------------- */

/* zttp_quic_conn_update_keys initiates a key update (RFC 9001 §6.1): the
 * next 1-RTT packets go out in the next key phase, and the peer answers in
 * kind. A peer's update is answered automatically (§6.2); the previous
 * read keys are kept for 3 PTO for reordered packets (§6.5). Returns 0,
 * ZTTP_ERR_INVALID_STATE (the handshake is not confirmed, no packet of the
 * current phase was acknowledged yet (§6.5), closing) or ZTTP_ERR_NOMEM.
 * @since 0.1 */
int32_t zttp_quic_conn_update_keys(zttp_quic_conn *qc, zttp_tstamp now);

/* zttp_quic_conn_key_phase returns the key phase bit (0 or 1) of the
 * 1-RTT packets |qc| sends now. @since 0.1 */
uint32_t zttp_quic_conn_key_phase(const zttp_quic_conn *qc);

/* zttp_quic_conn_key_updates returns how many times |qc|'s write keys
 * moved to a new phase, initiated by either side. @since 0.1 */
uint64_t zttp_quic_conn_key_updates(const zttp_quic_conn *qc);

/* ---- connection IDs (RFC 9000 §5.1) --------------------------------- */

/* zttp_quic_conn_local_cids copies into |out| (room for |max|) the
 * connection IDs of |qc| the peer may use now (sequence 0 and those issued
 * with NEW_CONNECTION_ID, minus those it retired), for a server's routing
 * table, and returns how many there are (possibly more than |max|).
 * @since 0.1 */
size_t zttp_quic_conn_local_cids(const zttp_quic_conn *qc, zttp_quic_cid *out,
                                 size_t max);

/* zttp_quic_conn_local_cids_version returns a counter that changes each
 * time the set zttp_quic_conn_local_cids() reports changes. @since 0.1 */
uint64_t zttp_quic_conn_local_cids_version(const zttp_quic_conn *qc);

/* ---- streams (RFC 9000 §2-§4) ------------------------------------- */

/* zttp_quic_conn_open_stream opens a local stream, bidirectional when
 * |bidi|, and returns its id (RFC 9000 §2.1 id bits), or
 * ZTTP_ERR_STREAM_LIMIT (the peer's MAX_STREAMS is reached: retry after
 * more credit), ZTTP_ERR_INVALID_STATE (handshake not complete, closing)
 * or ZTTP_ERR_NOMEM. */
int64_t zttp_quic_conn_open_stream(zttp_quic_conn *qc, int bidi);

/* zttp_quic_conn_stream_write queues up to |len| bytes (copied) on stream
 * |id| and returns how many were taken (limited by the stream's send
 * buffer, stream_send_buffer); a short count means a STREAM_WRITABLE event
 * follows when room comes back. |fin| ends the stream once every byte was
 * taken. Returns ZTTP_ERR_STREAM_NOT_FOUND, ZTTP_ERR_INVALID_STATE (no
 * send side, already finished or reset, closing) or ZTTP_ERR_NOMEM. */
int64_t zttp_quic_conn_stream_write(zttp_quic_conn *qc, uint64_t id,
                                    const uint8_t *data, size_t len, int fin);

/* zttp_quic_conn_stream_peek points |*p| at the contiguous bytes ready to
 * read on stream |id| (valid until the next call on |qc|) and returns
 * their count; |*fin| is 1 when they run to the end of the stream. Returns
 * ZTTP_ERR_STREAM_NOT_FOUND or ZTTP_ERR_INVALID_STATE (no receive side). */
int64_t zttp_quic_conn_stream_peek(zttp_quic_conn *qc, uint64_t id,
                                   const uint8_t **p, int *fin);

/* zttp_quic_conn_stream_consume marks |n| bytes peeked on |id| as read,
 * which (unless manual_credit) extends the peer's flow-control credit
 * (MAX_STREAM_DATA, MAX_DATA) once half a window was read. A stream read
 * to its end and fully sent is released (its uncredited bytes go back to
 * the connection window). Returns 0, ZTTP_ERR_INVALID_ARGUMENT (more than
 * peeked) or ZTTP_ERR_STREAM_NOT_FOUND. */
int32_t zttp_quic_conn_stream_consume(zttp_quic_conn *qc, uint64_t id,
                                      size_t n);

/* zttp_quic_conn_stream_room returns how many bytes
 * zttp_quic_conn_stream_write() takes on |id| now (its send buffer's free
 * room), 0 for a stream that cannot take any (unknown, no send side,
 * finished or reset). @since 0.1 */
size_t zttp_quic_conn_stream_room(const zttp_quic_conn *qc, uint64_t id);

/* zttp_quic_conn_stream_unacked returns how many bytes written on |id| the
 * peer has not acknowledged yet (0 for an unknown stream). @since 0.1 */
uint64_t zttp_quic_conn_stream_unacked(const zttp_quic_conn *qc, uint64_t id);

/* zttp_quic_conn_num_streams returns how many streams |qc| still holds,
 * bidirectional ones when |bidi|, else unidirectional ones (a stream goes
 * once read to its end, sent and acknowledged, or reset). @since 0.1 */
size_t zttp_quic_conn_num_streams(const zttp_quic_conn *qc, int bidi);

/* RFC 9218 §4.1 urgency: 0 (most urgent) to 7; new streams get 3. */
#define ZTTP_QUIC_DEFAULT_URGENCY 3
#define ZTTP_QUIC_MAX_URGENCY 7

/* zttp_quic_conn_stream_set_priority sets how |id|'s data is scheduled
 * against other streams (RFC 9218 §4): lower |urgency| (0-7) first; within
 * one urgency, non-incremental streams one at a time in stream-id order,
 * then |incremental| ones (1) round robin. New streams: urgency 3,
 * non-incremental. Returns 0, ZTTP_ERR_INVALID_ARGUMENT or
 * ZTTP_ERR_STREAM_NOT_FOUND. @since 0.1 */
int32_t zttp_quic_conn_stream_set_priority(zttp_quic_conn *qc, uint64_t id,
                                           uint32_t urgency,
                                           uint32_t incremental);

/* zttp_quic_conn_stream_credit returns flow credit for |n| bytes of |id|
 * read and not yet credited (manual_credit): the windows move as with
 * zttp_quic_conn_stream_consume(). Returns 0, ZTTP_ERR_INVALID_ARGUMENT
 * (more than read and uncredited) or ZTTP_ERR_STREAM_NOT_FOUND. @since 0.1 */
int32_t zttp_quic_conn_stream_credit(zttp_quic_conn *qc, uint64_t id, size_t n);

/* zttp_quic_conn_stream_reset abandons the send side of |id| with
 * RESET_STREAM |error_code| (RFC 9000 §3.1, §19.4). Returns 0,
 * ZTTP_ERR_STREAM_NOT_FOUND or ZTTP_ERR_INVALID_STATE. */
int32_t zttp_quic_conn_stream_reset(zttp_quic_conn *qc, uint64_t id,
                                    uint64_t error_code);

/* zttp_quic_conn_stream_stop_sending asks the peer to stop sending on
 * |id| with STOP_SENDING |error_code| (RFC 9000 §3.5, §19.5); the peer
 * answers with RESET_STREAM, reported as a STREAM_RESET event. Data still
 * arriving is discarded by the application as it likes. Returns 0,
 * ZTTP_ERR_STREAM_NOT_FOUND or ZTTP_ERR_INVALID_STATE (no receive side,
 * closing). */
int32_t zttp_quic_conn_stream_stop_sending(zttp_quic_conn *qc, uint64_t id,
                                           uint64_t error_code);

/* ---- DATAGRAM frames (RFC 9221) ----------------------------------------- */

/* zttp_quic_conn_max_datagram returns the largest payload
 * zttp_quic_conn_send_datagram() takes now: what the peer's
 * max_datagram_frame_size and a packet of the current maximum size allow;
 * 0 when the peer does not take DATAGRAM frames or the handshake is not
 * complete. @since 0.1 */
size_t zttp_quic_conn_max_datagram(const zttp_quic_conn *qc);

/* zttp_quic_conn_send_datagram queues |len| bytes (copied) to go in one
 * DATAGRAM frame: unreliable, never retransmitted, congestion controlled.
 * Returns 0, ZTTP_ERR_INVALID_STATE (handshake not complete, closing, the
 * peer takes no DATAGRAM frames), ZTTP_ERR_INVALID_ARGUMENT (|len| over
 * zttp_quic_conn_max_datagram()), ZTTP_ERR_BUFFER_FULL (datagram_queue
 * datagrams wait) or ZTTP_ERR_NOMEM. @since 0.1 */
int32_t zttp_quic_conn_send_datagram(zttp_quic_conn *qc, const uint8_t *data,
                                     size_t len);

#endif
