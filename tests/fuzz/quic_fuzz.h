/* The QUIC connection fuzz targets (quic_server.c, quic_client.c) share one
 * driver, and tests/fuzz/quic_seedgen.c uses the same application logic to
 * record their seed corpora. Null TLS and null packet protection
 * (ZTTP_TLS_NULL: identity AEAD with a zero tag, zero header-protection
 * masks), so an input can carry valid packets.
 *
 * Input layout:
 *   sel0 (1 byte)
 *     bits 0-1: settings profile (defaults; tight limits; 20-byte CIDs,
 *               1 s idle timeout, no ACK delay; CUBIC, 1200-byte datagrams)
 *     bit 2:    no CID substitution (feed the datagrams as they are)
 *     bit 3:    the application opens streams at HANDSHAKE_DONE (a client:
 *               bidi requests; a server: one uni stream)
 *     bit 4:    a server stops and resets every second request stream
 *               instead of echoing it
 *     bit 5:    linger: after the last datagram run the timers for 60 s
 *     bit 6:    a client closes the connection (application, 0x100) once
 *               every request got its whole answer
 *     bit 7:    a moving peer (RFC 9000 §9): each datagram arrives on one of
 *               three paths, chosen by its record's delta: (milliseconds /
 *               256) modulo 3 (the delta's high byte), so short steps stay
 *               on path 0
 *   sel1 (1 byte)
 *     bits 0-2: request size (qf_req_sizes[])
 *     bits 3-4: number of request streams - 1
 *     bit 5:    a client also opens one uni stream with the request
 *   A (20 bytes), B (8 bytes): connection IDs as recorded (see below)
 *   then records, each:
 *     delta (2 bytes, big-endian): milliseconds to advance the clock, firing
 *       every timer due on the way (handle_timeout, then events and writes)
 *     flags_len (2 bytes, big-endian): bits 0-14 the datagram length (0: a
 *       clock step only; cut short at the end of the input), bit 15: no CID
 *       substitution for this datagram
 *     the datagram, given to the connection at the new time.
 *
 * CID substitution (fuzz_util.h; no hook in src/ needed): a server replaces
 * A, a client A and B. Everything else is deterministic: the reset key is
 * fixed.
 *
 * After every step the driver drains the events (reading and consuming
 * stream data, echoing peer-opened bidi streams on a server, writing
 * requests on a client), writes datagrams until none and runs due timers.
 *
 * Invariants (abort with "quic fuzz invariant: ..."): no event after CLOSED,
 * CLOSED only while closing, at most one HANDSHAKE_DONE, peer-opened stream
 * IDs of the peer's parity, peeked data readable and consume() refusing more
 * than peeked, datagrams no longer than max_udp_payload_size on one of the
 * paths datagrams came on, a client's Initial datagrams at least 1200 bytes, a
 * server sending at most 3x what it received before the address is
 * validated, write() reaching 0, timers that move after handle_timeout,
 * nothing written once closed, at most 64 MiB allocated, nothing leaked.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_FUZZ_QUIC_FUZZ_H
#define ZTTP_TESTS_FUZZ_QUIC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"
#include "crypto/tls.h"
#include "fuzz_util.h"
#include "quic/conn.h"
#include "quic/packet.h"

#define QF_MAX_DGRAM 0x7fffu /* the length mask of flags_len */
#define QF_MAX_STREAMS 64

#define QF_SEL_NO_SUBST 0x04
#define QF_SEL_OPEN 0x08
#define QF_SEL_RESET 0x10
#define QF_SEL_LINGER 0x20
#define QF_SEL_CLOSE 0x40
#define QF_SEL_MOVE 0x80
#define QF_NUM_PATHS 3

typedef struct qf_stream {
  uint64_t id;
  uint64_t owed; /* bytes still to write */
  int fin_owed;  /* write FIN once |owed| is 0 */
  int fin_sent;
  int fin_read;
  int used;
} qf_stream;

typedef struct qf_side qf_side;

/* Where a side's written datagrams go (seedgen: a simulated link). */
typedef void (*qf_emit_fn)(qf_side *sd, const uint8_t *d, size_t n,
                           zttp_tstamp now);

struct qf_side {
  uint32_t role;
  uint8_t sel0, sel1;
  int log;
  fuzz_mem *mem;
  zttp_quic_settings s;
  zttp_tls_ctx *ctx;
  zttp_quic_conn *qc;
  zttp_path path; /* paths[0] */
  zttp_path paths[QF_NUM_PATHS];
  zttp_tstamp now;
  qf_stream st[QF_MAX_STREAMS];
  int hs_done;
  int opened;
  int closed_ev;
  int close_sent;
  uint64_t bytes_in;  /* fed to the connection */
  uint64_t unval_out; /* written before address validation */
  fuzz_cids cids;     /* learned from the first datagram written */
  qf_emit_fn emit;
  void *arg;
  uint64_t sink;
};

extern const uint32_t qf_req_sizes[8];

void qf_fail(const char *what);
/* qf_side_init sets up |sd| (a client connection is created at FUZZ_T0 and
 * writes its Initial to |emit|, which may be NULL). */
void qf_side_init(qf_side *sd, fuzz_mem *m, uint32_t role, uint8_t sel0,
                  uint8_t sel1, qf_emit_fn emit);
void qf_side_free(qf_side *sd);
/* qf_advance fires every timer due up to |target|, then sets now. */
void qf_advance(qf_side *sd, zttp_tstamp target);
/* qf_feed gives one datagram to the connection at sd->now (a server
 * without a connection classifies it first). */
void qf_feed(qf_side *sd, const uint8_t *d, size_t n);
/* qf_feed_path: the same, the datagram arriving on |path|. */
void qf_feed_path(qf_side *sd, const uint8_t *d, size_t n,
                  const zttp_path *path);
/* qf_service drains events and writes until nothing is left. */
void qf_service(qf_side *sd);

/* qf_fuzz_one runs one fuzz input (layout above) against |role|. */
int qf_fuzz_one(uint32_t role, const uint8_t *data, size_t size);

#endif
