/* Records the seed corpora of the QUIC connection fuzz targets: a null-TLS
 * client and server run the fuzz driver's application logic (quic_fuzz.c)
 * against each other over an in-memory link (10 ms one way, arrivals on
 * whole milliseconds, optional losses), and every datagram each side
 * received is written in the fuzz input format (quic_fuzz.h) with the CIDs
 * as recorded, so that the targets replay the same exchange.
 *
 *   fuzz_quic_seedgen SERVER_CORPUS_DIR CLIENT_CORPUS_DIR
 *
 * Built only with -Dfuzzing=true; not run by the tests (the seeds are
 * checked in). SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_seed.h"
#include "quic_fuzz.h"

typedef struct gen {
  qf_side side[2]; /* 0 client, 1 server */
  fuzz_link link;
} gen;

static gen *g_gen;

static void emit(qf_side *sd, const uint8_t *d, size_t n, zttp_tstamp now) {
  gen *g = g_gen;
  fuzz_link_send(&g->link, sd == &g->side[0] ? 0 : 1, d, n, now);
}

static zttp_tstamp timer_of(qf_side *sd) {
  return sd->qc != NULL ? zttp_quic_conn_next_timeout(sd->qc)
                        : ZTTP_TSTAMP_NEVER;
}

static int run(const char *sdir, const char *cdir, const char *name,
               uint8_t sel0, uint8_t sel1, uint32_t drop_c, uint32_t drop_s) {
  static gen gg;
  gen *g = &gg;
  memset(g, 0, sizeof(*g));
  g_gen = g;
  fuzz_link_init(&g->link, drop_c, drop_s, QF_MAX_DGRAM);
  fuzz_mem m[2];
  fuzz_mem_init(&m[0], qf_fail);
  fuzz_mem_init(&m[1], qf_fail);
  qf_side_init(&g->side[1], &m[1], ZTTP_SERVER, sel0, sel1, emit);
  qf_side_init(&g->side[0], &m[0], ZTTP_CLIENT, sel0, sel1, emit);
  int steps = 0;
  for (; steps < 1000000; steps++) {
    if ((g->side[0].qc == NULL || zttp_quic_conn_is_closed(g->side[0].qc)) &&
        (g->side[1].qc == NULL || zttp_quic_conn_is_closed(g->side[1].qc))) {
      break;
    }
    zttp_tstamp t[2] = {timer_of(&g->side[0]), timer_of(&g->side[1])};
    int i;
    fuzz_dgram dg;
    int what = fuzz_link_next(&g->link, t, &i, &dg);
    if (what == FUZZ_LINK_IDLE) {
      break;
    }
    qf_advance(&g->side[i], dg.at);
    if (what == FUZZ_LINK_ARRIVAL) {
      qf_feed(&g->side[i], dg.data, dg.len);
      free(dg.data);
    }
  }
  int rv = 0;
  const zttp_quic_conn_stats *cs =
      g->side[0].qc ? zttp_quic_conn_get_stats(g->side[0].qc) : NULL;
  printf("%-24s steps %6d client hs %d closed %d recv %6zu B, server hs %d "
         "closed %d recv %6zu B, lost %llu\n",
         name, steps, g->side[0].hs_done, g->side[0].closed_ev,
         g->link.rec[0].len, g->side[1].hs_done, g->side[1].closed_ev,
         g->link.rec[1].len, cs ? (unsigned long long)cs->pkts_lost : 0ull);
  if (g->side[1].cids.known) {
    rv |= fuzz_seed_write(sdir, name, sel0, sel1, ZTTP_SERVER, &g->side[1].cids,
                          &g->link.rec[1]);
  }
  rv |= fuzz_seed_write(cdir, name, sel0, sel1, ZTTP_CLIENT, &g->side[0].cids,
                        &g->link.rec[0]);
  fuzz_link_free(&g->link);
  for (int i = 0; i < 2; i++) {
    qf_side_free(&g->side[i]);
  }
  return rv;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s SERVER_CORPUS_DIR CLIENT_CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const char *s = argv[1], *c = argv[2];
  int rv = 0;
  /* name, sel0, sel1 (size index | (streams - 1) << 3 | uni 0x20), losses */
  rv |= run(s, c, "seed-handshake", 0x00, 0x00, 0, 0);
  rv |= run(s, c, "seed-echo-16", 0x08, 0x01, 0, 0);
  rv |= run(s, c, "seed-echo-4x1000-uni-close", 0x48, 0x02 | 0x18 | 0x20, 0, 0);
  rv |= run(s, c, "seed-tight-2x5000", 0x09, 0x03 | 0x08, 0, 0);
  rv |= run(s, c, "seed-cid20-reset-linger", 0x3a, 0x07 | 0x08, 0, 0);
  rv |= run(s, c, "seed-cubic-100000-close", 0x4b, 0x05, 0, 0);
  rv |= run(s, c, "seed-loss-first-initial", 0x08, 0x01, 0x1, 0);
  rv |= run(s, c, "seed-loss-server-flight", 0x48, 0x02 | 0x08, 0, 0x2);
  rv |= run(s, c, "seed-loss-3x20000-close", 0x48, 0x04 | 0x10, 0x2a0, 0x5400);
  rv |= run(s, c, "seed-idle-cid20-linger", 0x22, 0x00, 0, 0);
  rv |= run(s, c, "seed-fin-only-4", 0x48, 0x00 | 0x18, 0, 0);
  rv |= run(s, c, "seed-tight-reset-uni", 0x19, 0x02 | 0x18 | 0x20, 0, 0);
  rv |= run(s, c, "seed-1byte-linger", 0x28, 0x06, 0, 0);
  return rv;
}
