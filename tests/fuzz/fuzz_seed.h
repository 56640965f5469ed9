/* What the seed generators of the connection fuzz targets (quic_seedgen.c,
 * h3_seedgen.c) share: an in-memory link between a client (side 0) and a
 * server (side 1), 10 ms one way with arrivals on whole milliseconds and
 * optional losses, that records every datagram each side received in the
 * targets' record format (fuzz_util.h) and writes it out as a seed.
 *
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_FUZZ_SEED_H
#define ZTTP_TESTS_FUZZ_SEED_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_util.h"

#define FUZZ_LINK_QUEUE 8192
#define FUZZ_LINK_DELAY_MS 10
#define FUZZ_LINK_HORIZON_MS 120000

typedef struct fuzz_dgram {
  zttp_tstamp at;
  size_t len;
  uint8_t *data;
} fuzz_dgram;

/* What one side received, as fuzz records. */
typedef struct fuzz_recording {
  uint8_t *buf;
  size_t len, cap;
  zttp_tstamp last;
} fuzz_recording;

typedef struct fuzz_link {
  fuzz_dgram q[2][FUZZ_LINK_QUEUE]; /* q[i]: datagrams to side i */
  size_t head[2], num[2];
  uint64_t sent[2];      /* datagrams written by side i */
  uint32_t drop_mask[2]; /* drop datagram k written by side i when bit k */
  fuzz_recording rec[2]; /* what side i received */
  size_t max_dgram;      /* the record format's length mask */
} fuzz_link;

enum { FUZZ_LINK_IDLE, FUZZ_LINK_TIMER, FUZZ_LINK_ARRIVAL };

/* fuzz_link_init empties |l| (drop_c, drop_s: the losses of each side's
 * first 32 datagrams). */
void fuzz_link_init(fuzz_link *l, uint32_t drop_c, uint32_t drop_s,
                    size_t max_dgram);
/* fuzz_link_send copies a datagram side |from| wrote at |now| to the
 * other side's queue, unless it is lost or the queue is full. */
void fuzz_link_send(fuzz_link *l, int from, const uint8_t *d, size_t n,
                    zttp_tstamp now);
/* fuzz_link_next picks what comes first given the sides' timers: IDLE when
 * nothing comes before the horizon; TIMER of *side at dg->at; ARRIVAL: *dg
 * for *side, recorded, taken off the queue (the caller frees dg->data). */
int fuzz_link_next(fuzz_link *l, const zttp_tstamp timer[2], int *side,
                   fuzz_dgram *dg);
/* fuzz_link_free frees what is queued and the recordings. */
void fuzz_link_free(fuzz_link *l);

/* fuzz_seed_write writes DIR/NAME: sel0, sel1, the CIDs as recorded (A: the
 * side's SCID; B: a client's original DCID), then what the side received. */
int fuzz_seed_write(const char *dir, const char *name, uint8_t sel0,
                    uint8_t sel1, uint32_t role, const fuzz_cids *cids,
                    const fuzz_recording *r);

#endif
