/* An in-memory pump of two public HTTP/3 zttp_conn objects (client and
 * server) exchanging datagrams on a virtual clock, with optional loss, body
 * senders and checking receivers (bytes follow a pattern per stream).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_H3_PUMP_H
#define ZTTP_TESTS_H3_PUMP_H

#include <stddef.h>
#include <stdint.h>

#include <zttp/zttp.h>

#include "harness.h"

enum { P_CLIENT = 0, P_SERVER = 1 };

#define P_MAX_BODIES 256
#define P_MAX_STREAMS 2048

typedef struct pump pump;
typedef void (*p_event_fn)(pump *p, int side, const zttp_event *ev);

/* A body being sent: pattern bytes of |total| length on |stream|. */
typedef struct p_body {
  int side;
  int64_t stream;
  uint64_t total;
  uint64_t sent;
  int trailers; /* end with one trailer x-sum: <total> */
  int active;
} p_body;

struct pump {
  zttp_config *cfg[2];
  zttp_conn *conn[2];
  zttp_tstamp now;
  uint64_t rng;
  uint32_t loss_ppm;
  h_rec rec[2];
  int record[2]; /* record events into rec[side] */
  int verbose;   /* also record HANDSHAKE_DONE, SETTINGS, TICKET */
  p_event_fn on_event;
  void *arg;
  int32_t err[2]; /* first error returned by a call on the side */
  int closed[2];  /* CONNECTION_CLOSED seen */
  uint64_t closed_wire[2];
  int hs_done[2];
  p_body bodies[P_MAX_BODIES];
  /* Received body bytes per stream id / 4 (request streams), checked
   * against the pattern; mismatches counted. */
  uint64_t got[2][P_MAX_STREAMS];
  int ended[2][P_MAX_STREAMS];
  uint64_t mismatches;
  int auto_consume; /* call data_consumed for every DATA (default 1) */
  uint64_t dropped;
  uint64_t delivered;
};

/* The pattern byte |i| of |stream|'s body. */
static inline uint8_t p_byte(int64_t stream, uint64_t i) {
  return (uint8_t)(i * 131u + (uint64_t)stream * 7u + (i >> 9));
}

/* p_init creates the configs (null TLS unless |real_tls|) with |cfg_fn|
 * adjusting them (may be NULL), and both connections. |alloc| may be
 * NULL. Returns 0 or the error of a failing call. */
int32_t p_init(pump *p, int real_tls,
               void (*cfg_fn)(zttp_config *cfg, int side),
               const zttp_allocator *alloc);
void p_free(pump *p);
/* p_body_start queues a body on |side|'s |stream|. */
void p_body_start(pump *p, int side, int64_t stream, uint64_t total,
                  int trailers);
/* p_run runs until |done| returns 1 (checked each round), nothing moves
 * and no timer is due, or |max_rounds|. Returns 1 if done. */
int p_run(pump *p, int (*done)(pump *p), int max_rounds);
/* p_text returns side's transcript. */
const char *p_text(pump *p, int side);

#endif
