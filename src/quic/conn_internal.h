/* The inside of a zttp_quic_conn, shared by conn.c (life cycle, TLS, keys,
 * events, timers, close), conn_recv.c (packets and frames in), conn_send.c
 * (packets out) and conn_stream.c (streams and flow control).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_CONN_INTERNAL_H
#define ZTTP_QUIC_CONN_INTERNAL_H

#include "quic/conn.h"

#include "crypto/crypto.h"
#include "quic/acks.h"
#include "quic/frame.h"
#include "quic/recovery.h"
#include "quic/sbuf.h"
#include "quic/tparams.h"

/* Frames remembered per sent packet (what to do when it is acknowledged or
 * lost, RFC 9000 §13.3); a packet takes no more frames that need it. */
#define QC_MAX_FRAMES_PER_PKT 16
/* A queue of DATAGRAM payloads in fixed slots, allocated on first use. */
typedef struct qc_dgq {
  uint8_t *slots; /* |num_slots| slots of |slot_size| bytes */
  size_t *lens;
  size_t slot_size;
  size_t num_slots;
  size_t head;
  size_t num;
} qc_dgq;

/* Bytes of a CONNECTION_CLOSE reason we keep and send. */
#define QC_MAX_REASON 64
/* ACK ranges put in one ACK frame. */
#define QC_MAX_ACK_FRAME_RANGES 32
/* ACK ranges read from one received ACK frame; more are ignored (the
 * highest ones are kept, RFC 9000 §13.2.3 lets a receiver do this). */
#define QC_MAX_RECV_ACK_RANGES 64
/* CRYPTO bytes a level may hold for sending (a TLS flight). */
#define QC_CRYPTO_SEND_BUFFER (ZTTP_TLS_MAX_OUTPUT + 16384)

enum qc_frame_kind {
  QF_STREAM = 1,
  QF_CRYPTO,
  QF_ACK,
  QF_HANDSHAKE_DONE,
  QF_MAX_DATA,
  QF_MAX_STREAM_DATA,
  QF_MAX_STREAMS_BIDI,
  QF_MAX_STREAMS_UNI,
  QF_RESET_STREAM,
  QF_STOP_SENDING,
  QF_PING,
  QF_NEW_CID,             /* id: sequence number */
  QF_RETIRE_CID,          /* id: sequence number */
  QF_DATA_BLOCKED,        /* offset: the limit */
  QF_STREAM_DATA_BLOCKED, /* id: stream, offset: the limit */
  QF_STREAMS_BLOCKED_BIDI,
  QF_STREAMS_BLOCKED_UNI,
};

/* RFC 9000 §21.4: against optimistic ACKs, a packet number is skipped every
 * QC_SKIP_MIN to QC_SKIP_MIN + QC_SKIP_SPREAD - 1 packets of the
 * ApplicationData space. */
#define QC_SKIP_MIN 64
#define QC_SKIP_SPREAD 256
/* Released streams kept for reuse, and the largest buffer each keeps: a
 * connection that opens and closes streams allocates nothing per stream in
 * the steady state. */
#define QC_STREAM_POOL 32
#define QC_STREAM_POOL_KEEP 16384
/* "Blocked at" value meaning none sent. */
#define QC_NOT_BLOCKED UINT64_MAX

/* One connection ID with its sequence number (RFC 9000 §5.1.1). */
typedef struct qc_cid {
  uint64_t seq;
  zttp_quic_cid cid;
  uint8_t token[ZTTP_QUIC_RESET_TOKEN_LEN];
  uint8_t has_token;
  uint8_t send_pending; /* ours: NEW_CONNECTION_ID to (re)send */
} qc_cid;

/* A RETIRE_CONNECTION_ID to send or awaiting acknowledgment. */
typedef struct qc_retire {
  uint64_t seq;
  uint8_t in_flight;
} qc_retire;

typedef struct qc_sent_frame {
  uint64_t id; /* stream id, CRYPTO level, or an ACK's Largest Acknowledged */
  uint64_t offset;
  uint64_t len;
  uint8_t kind; /* enum qc_frame_kind */
  uint8_t fin;
} qc_sent_frame;

/* What one sent packet carried; the recovery record's token is the index. */
typedef struct qc_pktinfo {
  uint32_t next_free;
  uint32_t num;
  qc_sent_frame f[QC_MAX_FRAMES_PER_PKT];
} qc_pktinfo;
#define QC_PK_NONE UINT32_MAX

typedef struct qc_stream {
  uint64_t id;
  zttp_quic_sendbuf sb;
  zttp_quic_recvbuf rb;
  uint64_t max_send; /* the peer's MAX_STREAM_DATA */
  uint64_t max_recv; /* what we advertised */
  uint64_t reset_code;
  uint8_t has_send;
  uint8_t has_recv;
  uint8_t send_reset;    /* we reset the send side */
  uint8_t reset_pending; /* RESET_STREAM to (re)send */
  uint8_t reset_acked;
  uint8_t recv_reset; /* the peer reset its send side */
  uint8_t send_msd;   /* MAX_STREAM_DATA to send */
  uint8_t want_writable;
  uint8_t ev_opened;
  uint8_t ev_readable;
  uint8_t ev_writable;
  uint8_t ev_reset;
  uint8_t ev_stop;
  uint8_t churned;        /* ended by the peer's RESET_STREAM or STOP_SENDING */
  uint8_t urgency;        /* RFC 9218 §4.1, 0..7 */
  uint8_t incremental;    /* RFC 9218 §4.2 */
  uint8_t readable_armed; /* report READABLE when data arrives */
  uint8_t stop_requested; /* we sent (or will send) STOP_SENDING */
  uint8_t stop_pending;   /* STOP_SENDING to (re)send */
  uint64_t peer_reset_code;
  uint64_t stop_code;     /* the peer's STOP_SENDING code */
  uint64_t our_stop_code; /* the code of our STOP_SENDING */
  /* The offset up to which the application returned flow credit (with
   * manual_credit; else it follows what it read). */
  uint64_t credited;
  /* Receive window (autotuned) and when it last moved. */
  uint64_t win;
  zttp_tstamp win_time;
  /* STREAM_DATA_BLOCKED (RFC 9000 §19.13): the limit we last reported. */
  uint64_t blocked_at;
  uint8_t send_blocked;
} qc_stream;

/* A PATH_RESPONSE owed (RFC 9000 §8.2.2): it goes on the path its
 * PATH_CHALLENGE came on, within |budget| bytes there (§8.1). |new_dcid|:
 * the challenge came off our current path to a CID the peer had not used
 * there, so the answer takes one of the peer's unused CIDs (§9.5). */
typedef struct qc_presp {
  uint8_t data[8];
  uint8_t new_dcid;
  uint64_t budget;
  zttp_path path;
} qc_presp;

#define QC_MAX_PATH_EVENTS 4
typedef struct qc_pathev {
  zttp_path path;
  uint8_t validated;
} qc_pathev;

enum qc_state {
  QC_OPEN = 0,
  QC_CLOSING = 1,  /* RFC 9000 §10.2.1 */
  QC_DRAINING = 2, /* RFC 9000 §10.2.2 */
  QC_CLOSED = 3
};

struct zttp_quic_conn {
  const zttp_mem *mem;
  zttp_quic_settings s;
  uint32_t role;
  uint32_t version;
  zttp_path path;
  zttp_quic_cid scid;  /* ours */
  zttp_quic_cid dcid;  /* the peer's */
  zttp_quic_cid odcid; /* the client's first DCID */
  /* The DCID of the client's Initial packets now: their keys come from it
   * (RFC 9001 §5.2) and a server accepts long headers sent to it. It is
   * |odcid| unless a Retry moved it (RFC 9000 §17.2.5.3). */
  zttp_quic_cid init_dcid;
  /* Retry (RFC 9000 §8.1.2, §17.2.5): a client that accepted one, or a
   * server created for an Initial whose Retry token was validated; |rscid|
   * is the Retry's SCID (retry_source_connection_id, §7.3). */
  uint8_t retried;
  zttp_quic_cid rscid;
  /* Client: the Retry token, sent in every later Initial. */
  uint8_t *token;
  size_t token_len;
  zttp_tls *tls;
  uint32_t crypto_backend;
  zttp_crypto_keys *rx[ZTTP_QUIC_NUM_SPACES];
  zttp_crypto_keys *tx[ZTTP_QUIC_NUM_SPACES];
  uint8_t discarded[ZTTP_QUIC_NUM_SPACES];
  zttp_quic_recvbuf crecv[ZTTP_QUIC_NUM_SPACES]; /* CRYPTO per level */
  zttp_quic_sendbuf csend[ZTTP_QUIC_NUM_SPACES];
  zttp_quic_acks acks;
  zttp_quic_recovery rec;
  uint64_t next_pn[ZTTP_QUIC_NUM_SPACES];
  zttp_quic_tparams peer_tp;
  uint8_t have_peer_tp;
  uint8_t hs_complete;
  uint8_t hs_confirmed;
  uint8_t ev_hs_done;
  uint8_t send_hs_done;
  uint8_t validated;      /* server: the client's address (RFC 9000 §8.1) */
  uint8_t got_peer_scid;  /* client: DCID switched to the server's SCID */
  uint8_t sent_handshake; /* client: a Handshake packet went out */
  uint8_t ping_pending[ZTTP_QUIC_NUM_SPACES];
  uint8_t send_max_data;
  uint8_t send_max_streams[2]; /* [0] bidi, [1] uni */
  /* RFC 9000 §8.2.2: PATH_RESPONSEs to send, a ring. */
  qc_presp path_response[ZTTP_QUIC_MAX_PATH_RESPONSES];
  size_t path_resp_head;
  size_t num_path_resp;
  /* Path validation and migration (RFC 9000 §8.2, §9.3; conn_path.c).
   * |path| is where we send and |validated| says whether its peer address
   * is proven. A server that sees a non-probing packet arrive on another
   * path moves there and validates it with |pv_data|. */
  uint8_t pv_active;   /* a PATH_CHALLENGE on |path| awaits its response */
  uint8_t pv_send;     /* ... and is due */
  uint8_t pv_padded;   /* the last one went in a datagram of 1200 bytes */
  uint8_t pv_mtu;      /* address proven; this round checks the MTU (§8.2.1) */
  uint8_t pv_reset_cc; /* more than the port changed (§9.4) */
  uint8_t pv_data[8];
  uint32_t pv_tries;
  zttp_tstamp pv_resend_at;
  zttp_tstamp pv_deadline; /* §8.2.4 */
  /* The last validated path, the fallback (§9.3.2), and the PATH_CHALLENGE
   * that checks it (§9.3.3). */
  uint8_t have_prev;
  uint8_t old_probe;
  uint8_t old_data[8];
  zttp_path prev_path;
  uint64_t path_dcid_seq; /* our CID the peer sends to on |path| */
  uint8_t path_known;     /* client: |path| holds the server's address */
  /* The datagram being processed: its path, length, whether it came on
   * another path, and whether its packet carried a non-probing frame. */
  const zttp_path *rx_path;
  size_t rx_len;
  uint8_t rx_other;
  uint8_t rx_nonprobing;
  /* Path events (ZTTP_QUIC_EV_PATH), a ring; |pev_out| is the one handed
   * out last. */
  qc_pathev pev[QC_MAX_PATH_EVENTS];
  size_t pev_head;
  size_t num_pev;
  zttp_path pev_out;
  /* Anti-amplification (RFC 9000 §8.1), server before validation. */
  uint64_t amp_recv;
  uint64_t amp_sent;
  /* Connection flow control (RFC 9000 §4.1). */
  uint64_t peer_max_data;
  uint64_t data_sent; /* new stream bytes sent */
  uint64_t max_data;  /* advertised */
  uint64_t data_recv; /* sum of the highest offsets received */
  uint64_t data_read; /* credited back (read, or with manual_credit said) */
  uint64_t win;       /* the connection receive window (autotuned) */
  zttp_tstamp win_time;
  /* DATA_BLOCKED / STREAMS_BLOCKED (RFC 9000 §19.12, §19.14): the limits
   * last reported, and whether a frame is to be sent. */
  uint64_t blocked_at;
  uint8_t send_blocked;
  uint64_t streams_blocked_at[2];
  uint8_t send_streams_blocked[2];
  /* Stream churn (zttp_quic_settings.reset_burst): tokens in units of
   * 1/10^9, the last refill, and MAX_STREAMS credit held back. */
  uint64_t reset_tokens;
  zttp_tstamp reset_refill_at;
  uint64_t deferred_credit[2];
  /* Pacing (RFC 9002 §7.7): when the next paced packet may leave. */
  zttp_tstamp pace_at;
  /* Packet-number skipping (RFC 9000 §21.4; quic/recovery.h remembers the
   * skipped ones and refuses ACKs of them): the next one to skip. */
  uint64_t next_skip;
  uint64_t prng;
  /* Stream counts (RFC 9000 §4.6), [0] bidi, [1] uni. */
  uint64_t peer_max_streams[2];
  uint64_t local_opened[2];
  uint64_t max_streams[2]; /* advertised */
  uint64_t peer_opened[2];
  qc_stream **streams;
  size_t num_streams;
  size_t cap_streams;
  qc_stream *pool[QC_STREAM_POOL]; /* released, buffers kept */
  size_t num_pool;
  size_t rr; /* round-robin cursor for STREAM data */
  /* Sent-packet contents. */
  qc_pktinfo *pk;
  size_t num_pk;
  uint32_t pk_free;
  /* Timers and closing. */
  zttp_tstamp idle_deadline;
  zttp_tstamp close_deadline;
  uint32_t state;
  uint8_t close_pending; /* CONNECTION_CLOSE to send */
  uint8_t ev_closed;
  uint8_t key_phase; /* RFC 9001 §6: of our current 1-RTT write keys */
  /* Key update (RFC 9001 §6). rx[APP] are the read keys of |rx_phase|;
   * |rx_prev| the previous phase's, kept until |rx_prev_until| (§6.5: 3
   * PTO) for reordered packets numbered below |rx_first_pn|. */
  uint8_t rx_phase;
  uint8_t ku_pending; /* §6.5: no packet of our current phase acked yet */
  zttp_crypto_keys *rx_prev;
  zttp_tstamp rx_prev_until;
  uint64_t rx_first_pn;
  uint64_t ku_tx_pn; /* first packet number sent with the current keys */
  uint64_t key_updates;
  zttp_tstamp last_now; /* of the last call that took a time */
  /* Connection IDs (RFC 9000 §5.1): ours (|lcid|, sequence 0 is |scid|)
   * and the peer's (|rcid|, |dcid| is the one of sequence |dcid_seq|). */
  qc_cid lcid[ZTTP_QUIC_MAX_ACTIVE_CIDS];
  size_t num_lcid;
  uint64_t next_lcid_seq;
  uint64_t lcid_version;
  uint64_t rx_dcid_seq; /* our CID the packet being processed is sent to */
  qc_cid rcid[ZTTP_QUIC_MAX_ACTIVE_CIDS];
  size_t num_rcid;
  uint64_t rcid_retire_prior_to;
  uint64_t dcid_seq;
  qc_retire retire_q[ZTTP_QUIC_MAX_RETIRE_QUEUE];
  size_t num_retire;
  uint8_t sent_eliciting; /* since the last packet processed (§10.1) */
  uint8_t app_limited;    /* RFC 9002 §7.8, set by the last write */
  /* RFC 9000 §10.2.1: packets received while closing, and the count at
   * which the CONNECTION_CLOSE is sent again (doubling: 1, 2, 4, ...). */
  uint64_t closing_rx;
  uint64_t closing_next;
  uint8_t close_app;
  uint8_t close_remote;
  uint8_t close_reset; /* a Stateless Reset ended it (RFC 9000 §10.3.1) */
  int32_t close_error;
  uint64_t close_code;
  uint64_t close_frame_type;
  char close_reason[QC_MAX_REASON];
  size_t close_reason_len;
  /* DATAGRAM frames (RFC 9221): to send, and received; |dg_held| says the
   * head of |dg_rx| was handed out in an event and goes at the next one. */
  qc_dgq dg_tx;
  qc_dgq dg_rx;
  uint8_t dg_held;
  /* Scratch for decrypting one packet. */
  uint8_t *rxbuf;
  size_t rxcap;
  zttp_quic_conn_stats st;
};

/* conn.c */
/* qc_install_initial_keys (re)derives the Initial keys from |init_dcid|
 * (RFC 9001 §5.2). Returns 0 or ZTTP_ERR_NOMEM. */
int32_t qc_install_initial_keys(zttp_quic_conn *qc);
/* qc_rand returns the next value of the connection's PRNG (not for keys). */
uint64_t qc_rand(zttp_quic_conn *qc);
int32_t qc_tls_advance(zttp_quic_conn *qc, zttp_tstamp now);
void qc_fail(zttp_quic_conn *qc, int32_t err, uint64_t code,
             uint64_t frame_type, const char *reason, zttp_tstamp now);
void qc_discard_space(zttp_quic_conn *qc, uint32_t space, zttp_tstamp now);
void qc_confirm(zttp_quic_conn *qc, zttp_tstamp now);
int32_t qc_process_recovery(zttp_quic_conn *qc);
uint64_t qc_pto(const zttp_quic_conn *qc);
void qc_reset_idle(zttp_quic_conn *qc, zttp_tstamp now);
/* RFC 9001 §6: moves our 1-RTT write keys to the next phase. Returns 0 or
 * ZTTP_ERR_NOMEM. */
int32_t qc_update_tx_keys(zttp_quic_conn *qc);
void qc_on_peer_close(zttp_quic_conn *qc, const zttp_quic_frame *f,
                      zttp_tstamp now);

/* RFC 9000 §10.3.2: the Stateless Reset Token of |cid|, from the
 * endpoint's static key. Returns 1, or 0 on a crypto failure. */
int qc_reset_token(const zttp_quic_conn *qc, uint8_t *out,
                   const zttp_quic_cid *cid);

/* conn_cid.c (RFC 9000 §5.1, §19.15, §19.16) */
/* qc_cids_init records sequence 0 of ours (at creation). Returns 1, or 0
 * on a crypto failure. */
int qc_cids_init(zttp_quic_conn *qc);
/* qc_cids_peer_init records the peer's sequence 0 (its transport
 * parameters are known). */
void qc_cids_peer_init(zttp_quic_conn *qc);
/* qc_cids_issue issues connection IDs up to the peer's limit. Returns 0 or
 * ZTTP_ERR_INVALID_STATE (random source). */
int32_t qc_cids_issue(zttp_quic_conn *qc);
/* The local CID a short header's DCID names, or NULL. */
const qc_cid *qc_cids_find_local(const zttp_quic_conn *qc, const uint8_t *cid,
                                 size_t len);
int32_t qc_on_new_cid(zttp_quic_conn *qc, const zttp_quic_frame *f,
                      zttp_tstamp now);
int32_t qc_on_retire_cid(zttp_quic_conn *qc, const zttp_quic_frame *f,
                         zttp_tstamp now);
/* 1 when |tok| is the Stateless Reset Token of one of the peer's CIDs. */
int qc_cids_is_reset_token(const zttp_quic_conn *qc, const uint8_t *tok);
void qc_cids_on_acked(zttp_quic_conn *qc, const qc_sent_frame *f);
void qc_cids_on_lost(zttp_quic_conn *qc, const qc_sent_frame *f);

/* conn_path.c (RFC 9000 §8.2, §9) */
int qc_path_eq(const zttp_path *a, const zttp_path *b);
/* qc_path_on_datagram classifies a datagram arriving on |path|: returns 0
 * to drop it (a client hearing from an unknown server address, a server
 * before the handshake is confirmed), 1 to process it. */
int qc_path_on_datagram(zttp_quic_conn *qc, const zttp_path *path, size_t len);
/* After a datagram: a client learns the server's address from the first
 * one that carried a packet. */
void qc_path_after_datagram(zttp_quic_conn *qc, int processed);
/* A 1-RTT packet numbered above every one before it carried a
 * non-probing frame on another path: the peer moved (§9.3). Returns 0 or
 * ZTTP_ERR_INVALID_STATE (random source; already reported). */
int32_t qc_path_migrate(zttp_quic_conn *qc, zttp_tstamp now);
/* The PATH_RESPONSE queue (a ring of max_path_responses): its oldest
 * entry or NULL (inline: every packet asks), and removing that entry. */
static inline const qc_presp *qc_presp_head(const zttp_quic_conn *qc) {
  return qc->num_path_resp > 0 ? &qc->path_response[qc->path_resp_head] : NULL;
}
void qc_presp_pop(zttp_quic_conn *qc);
void qc_path_on_challenge(zttp_quic_conn *qc, const uint8_t *data);
void qc_path_on_response(zttp_quic_conn *qc, const uint8_t *data,
                         zttp_tstamp now);
zttp_tstamp qc_path_timeout(const zttp_quic_conn *qc);
void qc_path_on_timeout(zttp_quic_conn *qc, zttp_tstamp now);
/* The PATH_CHALLENGE on |path| went out at |now| in a datagram of
 * 1200 bytes or more (|padded|) or not. */
void qc_path_challenge_sent(zttp_quic_conn *qc, int padded, zttp_tstamp now);
int qc_path_next_event(zttp_quic_conn *qc, zttp_quic_event *ev);
/* The peer's CID with the lowest sequence number above the one in use, or
 * NULL: a CID never sent on any path. */
const qc_cid *qc_cids_unused(const zttp_quic_conn *qc);
/* qc_cids_rotate moves to qc_cids_unused() and retires the CID left.
 * Returns 1, or 0 when the peer gave no unused CID. */
int qc_cids_rotate(zttp_quic_conn *qc);

/* conn_recv.c: the frames of one decrypted packet. Returns 0, or the
 * ZTTP_ERR_* of a connection error (already reported with qc_fail). */
int32_t qc_process_frames(zttp_quic_conn *qc, uint32_t pkt_type, uint32_t space,
                          const uint8_t *payload, size_t len,
                          int *ack_eliciting, zttp_tstamp now);

/* qc_test_packet builds into |out| (|cap| bytes) a packet of |space|
 * carrying the raw frames |payload| (|len| bytes), protected with |qc|'s
 * own write keys and its next packet number (not recorded for recovery:
 * the peer may acknowledge it, as it does our untracked probes):
 * a test hook that lets the sim inject crafted frames into the peer.
 * Returns the packet length, or 0 (no keys, does not fit). */
size_t qc_test_packet(zttp_quic_conn *qc, uint8_t *out, size_t cap,
                      uint32_t space, const uint8_t *payload, size_t len);

/* conn_dgram.c (RFC 9221) */
/* qc_dgram_recv queues a received DATAGRAM frame's payload. Returns 0, or
 * a ZTTP_ERR_* (already reported with qc_fail). */
int32_t qc_dgram_recv(zttp_quic_conn *qc, const zttp_quic_frame *f,
                      zttp_tstamp now);
/* qc_dgram_next fills |ev| with the next received datagram. Returns 1, or 0
 * when none waits. */
int qc_dgram_next(zttp_quic_conn *qc, zttp_quic_event *ev);
/* qc_dgram_put puts queued DATAGRAM frames into the packet at |p| with
 * |room| bytes; returns the bytes written. */
size_t qc_dgram_put(zttp_quic_conn *qc, uint8_t *p, size_t room);
void qc_dgram_free(zttp_quic_conn *qc);

/* conn_stream.c */
/* qc_churn_refill refills the reset bucket to |now| and returns held-back
 * MAX_STREAMS credit it now covers. */
void qc_churn_refill(zttp_quic_conn *qc, zttp_tstamp now);
/* When held-back credit can next be returned, or ZTTP_TSTAMP_NEVER. */
zttp_tstamp qc_churn_timeout(const zttp_quic_conn *qc);
qc_stream *qc_stream_find(const zttp_quic_conn *qc, uint64_t id);
/* qc_stream_get_peer finds or opens (with the lower ones of its type,
 * RFC 9000 §3.2) the stream |id| a frame names. *out is NULL for a stream
 * already closed. Returns 0 or a ZTTP_ERR_* with |*qerr| set. */
int32_t qc_stream_get(zttp_quic_conn *qc, qc_stream **out, uint64_t id,
                      uint64_t *qerr);
void qc_stream_maybe_release(zttp_quic_conn *qc, qc_stream *st);
/* qc_stream_grant_rest returns to the connection the credit of what |st|
 * read but was never credited (the stream ends or was reset). */
void qc_stream_grant_rest(zttp_quic_conn *qc, qc_stream *st);
void qc_streams_free(zttp_quic_conn *qc);
int qc_stream_is_local(const zttp_quic_conn *qc, uint64_t id);
static inline int qc_stream_is_uni(uint64_t id) {
  return (id & 2) != 0;
}

/* Space of a packet type; -1 for none. */
static inline int qc_space_of(uint32_t pkt_type) {
  switch (pkt_type) {
  case ZTTP_QUIC_PKT_INITIAL:
    return ZTTP_QUIC_SPACE_INITIAL;
  case ZTTP_QUIC_PKT_HANDSHAKE:
    return ZTTP_QUIC_SPACE_HANDSHAKE;
  case ZTTP_QUIC_PKT_SHORT:
  case ZTTP_QUIC_PKT_ZERO_RTT:
    return ZTTP_QUIC_SPACE_APP;
  default:
    return -1;
  }
}

/* TLS level of a packet number space's CRYPTO stream. */
static inline uint32_t qc_level_of(uint32_t space) {
  return space == ZTTP_QUIC_SPACE_INITIAL     ? ZTTP_TLS_LEVEL_INITIAL
         : space == ZTTP_QUIC_SPACE_HANDSHAKE ? ZTTP_TLS_LEVEL_HANDSHAKE
                                              : ZTTP_TLS_LEVEL_APPLICATION;
}

#endif
