/* The in-memory QUIC network simulator (STYLE.md "in-memory pump"): a
 * client and a server zttp_quic_conn joined by two one-way links, each
 * with a fixed delay, an optional bandwidth and a loss rate drawn from a
 * seeded PRNG, driven by a virtual clock. Deterministic for a seed.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_SIM_H
#define ZTTP_TESTS_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/tls.h"
#include "quic/conn.h"

#define SIM_MAX_QUEUE 2048 /* datagrams in flight per link (tail drop) */
#define SIM_MAX_DGRAM 1500

enum { SIM_CLIENT = 0, SIM_SERVER = 1 };

typedef struct sim_dgram {
  zttp_tstamp at; /* delivery time */
  size_t len;
  uint8_t data[SIM_MAX_DGRAM];
} sim_dgram;

typedef struct sim_link {
  uint64_t delay;     /* one-way, ns */
  uint64_t bandwidth; /* bytes per second; 0: unlimited */
  uint32_t loss_ppm;  /* loss rate in parts per million */
  zttp_tstamp free_at;
  sim_dgram *q; /* ring of SIM_MAX_QUEUE */
  size_t head;
  size_t num;
  uint64_t dgrams;  /* handed to the link */
  uint64_t dropped; /* lost (random) or tail-dropped */
  uint64_t bytes;
} sim_link;

struct sim;
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
  /* Checks. */
  uint64_t server_recv;       /* datagram bytes the server received */
  uint64_t server_sent_unval; /* sent before address validation */
  int amplification_violated; /* server_sent_unval > 3 * server_recv */
  size_t min_client_initial;  /* smallest client datagram with an Initial */
  size_t num_client_initials;
  int32_t last_error[2];
} sim;

/* sim_init sets up |sim| with the TLS |backend| (enum zttp_tls_backend;
 * the real one uses the test PKI in |pki_dir| with verification on),
 * |seed|, |delay_ms| one way, |loss_ppm| both ways, and creates the client.
 * |mem| NULL: libc. Returns 0 or the zttp error of a creation. */
int32_t sim_init(sim *sm, uint32_t backend, const char *pki_dir, uint64_t seed,
                 uint64_t delay_ms, uint32_t loss_ppm, const zttp_mem *mem);
void sim_free(sim *sm);

/* sim_send puts one datagram (copied) from |side| on its outgoing link. */
void sim_send(sim *sm, int side, const uint8_t *data, size_t len);

/* sim_accept_default creates the server connection for a client Initial of
 * at least 1200 bytes (RFC 9000 §14.1) and ignores anything else. */
int32_t sim_accept_default(sim *sm, const uint8_t *data, size_t len, void *arg);

/* sim_run drives the network until |done|(sm, arg) returns 1 (returns 1)
 * or the virtual clock passes |max_ns| or nothing can happen any more
 * (returns 0), or a conn call fails (returns the negative error). */
int sim_run(sim *sm, int (*done)(sim *sm, void *arg), void *arg,
            zttp_tstamp max_ns);

#endif
