/* The in-memory QUIC network simulator (STYLE.md "in-memory pump"): a
 * client and a server zttp_quic_conn joined by two one-way links, each
 * with a fixed delay, an optional bandwidth, and impairments drawn from a
 * seeded PRNG (loss, reordering, duplication, corruption) or chosen by the
 * test (datagram numbers, a filter, an outage), driven by a virtual clock.
 * Deterministic for a seed.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_SIM_H
#define ZTTP_TESTS_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/tls.h"
#include "quic/conn.h"

#define SIM_MAX_QUEUE 2048 /* datagrams in flight per link (tail drop) */
#define SIM_MAX_HELD 512   /* reordered or duplicated datagrams per link */
#define SIM_MAX_DGRAM 1500

enum { SIM_CLIENT = 0, SIM_SERVER = 1 };

typedef struct sim_dgram {
  zttp_tstamp at; /* delivery time */
  size_t len;
  zttp_path path; /* as the receiver sees it (local: where it arrives) */
  uint8_t data[SIM_MAX_DGRAM];
} sim_dgram;

/* A socket address as zttp_path holds it (sim_addr_v4). */
typedef struct sim_addr {
  uint8_t b[32];
  uint32_t len;
} sim_addr;

struct sim;

/* A link's filter: called for datagram number |idx| (0-based, in the
 * order |side| handed them to its link) before any random impairment.
 * Returns 1 to drop it. |data| is the link's copy of the datagram: the
 * filter may alter it (sim_corrupt_packets() loses chosen coalesced
 * packets and keeps the others). */
typedef int (*sim_filter_fn)(struct sim *sm, int side, uint64_t idx,
                             uint8_t *data, size_t len, void *arg);

/* One direction. sim_init sets |delay| and |loss_ppm|; every other knob
 * is 0 (off) and may be set before or between sim_run() calls. */
typedef struct sim_link {
  uint64_t delay;     /* one-way, ns */
  uint64_t bandwidth; /* bytes per second; 0: unlimited */
  uint32_t loss_ppm;  /* random loss, parts per million */
  /* Reordering: with this probability a datagram is held back by a
   * uniform extra delay in (0, reorder_ns] (0: |delay|), so that later
   * ones overtake it. */
  uint32_t reorder_ppm;
  uint64_t reorder_ns;
  /* Duplication: with this probability a second copy is delivered, up to
   * dup_ns later (0: 1 ms). */
  uint32_t dup_ppm;
  uint64_t dup_ns;
  /* Corruption: with this probability one random byte of the datagram is
   * flipped (the receiver's AEAD must reject it). */
  uint32_t corrupt_ppm;
  /* Chosen drops: bit i drops datagram number i (i < 64), as does
   * |filter| returning 1; everything handed to the link in
   * [down_from, down_until) is dropped (an outage; both 0: none). */
  uint64_t drop_bits;
  sim_filter_fn filter;
  void *filter_arg;
  zttp_tstamp down_from;
  zttp_tstamp down_until;
  /* State. */
  zttp_tstamp free_at;
  sim_dgram *q; /* ring of SIM_MAX_QUEUE, in delivery order */
  size_t head;
  size_t num;
  sim_dgram *held; /* SIM_MAX_HELD, unordered: reordered and duplicates */
  size_t num_held;
  /* Counters. */
  uint64_t dgrams;  /* handed to the link */
  uint64_t dropped; /* every drop: lost + tail + chosen */
  uint64_t lost;    /* random loss */
  uint64_t tail;    /* queue full or too big */
  uint64_t chosen;  /* drop_bits, filter, outage */
  uint64_t reordered;
  uint64_t duplicated;
  uint64_t corrupted;
  uint64_t delivered; /* copies handed to the receiver */
  uint64_t bytes;
} sim_link;

/* Called for each event of |side|; and once per round with ev == NULL to
 * let the application write. */
typedef void (*sim_event_fn)(struct sim *sm, int side,
                             const zttp_quic_event *ev, void *arg);

/* Called for a datagram reaching the server side while it has no
 * connection (sim.conn[SIM_SERVER] is NULL). It may create
 * sim.conn[SIM_SERVER] (the datagram is then delivered to it) or answer
 * statelessly with sim_send() (Retry, Version Negotiation) and leave it
 * NULL. Returns 0 or a negative zttp error that stops sim_run(). */
typedef int32_t (*sim_accept_fn)(struct sim *sm, const uint8_t *data,
                                 size_t len, void *arg);

/* What sim.trace is called after. */
enum sim_step {
  SIM_STEP_WRITE = 0,   /* zttp_quic_conn_write() produced a datagram */
  SIM_STEP_RECV = 1,    /* zttp_quic_conn_recv() of one datagram */
  SIM_STEP_TIMEOUT = 2, /* zttp_quic_conn_handle_timeout() */
  SIM_STEP_ROUND = 3    /* the end of a round of sim_run(); |side| is -1 */
};

/* The trace hook: called after every call into |side|'s connection that
 * can change its state (enum sim_step) and at the end of each round, so
 * that a test can sample or check both connections' internals. */
typedef void (*sim_trace_fn)(struct sim *sm, int side, int step, void *arg);

typedef struct sim {
  zttp_tstamp now;
  uint64_t rng;
  sim_link link[2]; /* [SIM_CLIENT]: client to server */
  zttp_quic_conn *conn[2];
  zttp_tls_ctx *ctx[2];
  zttp_quic_settings settings;
  const zttp_mem *mem;
  const char *server_name;
  sim_event_fn on_event;
  void *arg;
  sim_accept_fn accept; /* NULL: sim_accept_default() */
  void *accept_arg;
  sim_trace_fn trace; /* NULL: none */
  void *trace_arg;
  /* Checks. */
  uint64_t server_recv;       /* datagram bytes the server received */
  uint64_t server_sent_unval; /* sent before address validation */
  int amplification_violated; /* server_sent_unval > 3 * server_recv */
  size_t min_client_initial;  /* smallest client datagram with an Initial */
  size_t num_client_initials;
  uint64_t servers_discarded; /* server conns whose first datagram failed */
  int32_t last_error[2];
  /* Addresses (RFC 9000 §9 scenarios). All empty by default: every path
   * is all zeros. The client sends from |client_addr| to |server_addr| and
   * is reached at |client_addr| (unless |client_deaf|) and at |client_alt|
   * (when not empty); the server's datagrams to any other address are
   * dropped and counted in |misrouted|. */
  sim_addr client_addr;
  sim_addr client_alt;
  sim_addr server_addr;
  int client_deaf;
  uint64_t misrouted;
  uint64_t misrouted_bytes;
  zttp_path rx_path; /* of the datagram being delivered */
} sim;

/* sim_addr_v4 fills |a| with a struct sockaddr_in's bytes (family 2,
 * |port| and |ip| big-endian) without including socket headers. */
void sim_addr_v4(sim_addr *a, uint32_t ip, uint16_t port);

/* sim_path makes the path a receiver sees for a datagram from |from| to
 * |to|. */
zttp_path sim_path(const sim_addr *from, const sim_addr *to);

/* sim_init sets up |sim| with the TLS |backend| (enum zttp_tls_backend;
 * the real one uses the test PKI in |pki_dir| with verification on),
 * |seed|, |delay_ms| one way, |loss_ppm| both ways, and creates the client.
 * |mem| NULL: libc. Returns 0 or the zttp error of a creation. */
int32_t sim_init(sim *sm, uint32_t backend, const char *pki_dir, uint64_t seed,
                 uint64_t delay_ms, uint32_t loss_ppm, const zttp_mem *mem);
void sim_free(sim *sm);

/* sim_send puts one datagram (copied) from |side| on its outgoing link,
 * from and to the side's current addresses. */
void sim_send(sim *sm, int side, const uint8_t *data, size_t len);

/* sim_send_path is sim_send with the path the receiver will see (a spoofed
 * source, a probe from another address). */
void sim_send_path(sim *sm, int side, const uint8_t *data, size_t len,
                   const zttp_path *seen);

/* sim_accept_default creates the server connection for a client Initial of
 * at least 1200 bytes (RFC 9000 §14.1) and ignores anything else. A
 * server connection whose first datagram yielded no packet (corrupted on
 * the way) is discarded again, as a server keeps no state for it. */
int32_t sim_accept_default(sim *sm, const uint8_t *data, size_t len, void *arg);

/* sim_dgram_types returns the packet types (1 << enum zttp_quic_pkt_type)
 * of the packets coalesced in a datagram, read from their headers (the
 * long header type bits are not protected). A short header ends it. */
uint32_t sim_dgram_types(const uint8_t *data, size_t len);

/* sim_corrupt_packets flips the last byte (in the AEAD tag) of every
 * packet coalesced in |data| whose type is in |types| (1 << enum
 * zttp_quic_pkt_type), so that the receiver drops exactly those. Returns
 * how many it spoiled. */
size_t sim_corrupt_packets(uint8_t *data, size_t len, uint32_t types);

/* sim_run drives the network until |done|(sm, arg) returns 1 (returns 1)
 * or the virtual clock passes |max_ns| or nothing can happen any more
 * (returns 0), or a conn call fails (returns the negative error). */
int sim_run(sim *sm, int (*done)(sim *sm, void *arg), void *arg,
            zttp_tstamp max_ns);

#endif
