/* A one-way bulk transfer over the simulator (sim.h): once the handshake
 * is done, the client opens one bidirectional stream and sends a 1-byte
 * request; the server answers with |size| bytes of a known pattern and
 * FIN; the client reads (optionally not at all, to hold the flow-control
 * windows shut) and checks every byte. Used by scenarios that need a
 * transfer but test something else (Retry, flow control, pacing).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_SIM_XFER_H
#define ZTTP_TESTS_SIM_XFER_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

typedef struct xfer1 {
  uint64_t size;     /* bytes the server sends */
  int client_reads;  /* 0: the client reads nothing (windows stay shut) */
  int64_t stream_id; /* -1 until the client opened it */
  int server_ready;  /* the server saw the request */
  uint64_t sent;     /* by the server */
  uint64_t received; /* by the client, checked */
  int fin;           /* the client read the FIN */
  int mismatch;      /* a byte differed from the pattern */
  int closed[2];     /* a CLOSED event per side */
  int32_t close_error[2];
  uint64_t close_code[2];
} xfer1;

/* xfer1_init prepares |x| for |size| bytes and installs it as |sm|'s event
 * handler. */
void xfer1_init(xfer1 *x, sim *sm, uint64_t size);

/* xfer1_done is a sim_run() predicate: the client has every byte and the
 * FIN. */
int xfer1_done(sim *sm, void *arg);

/* xfer1_read reads what the client's stream has (the event handler does it
 * on STREAM_READABLE while x->client_reads). */
void xfer1_read(sim *sm, xfer1 *x);

/* The pattern byte at offset |off|. */
uint8_t xfer1_byte(uint64_t off);

#endif
