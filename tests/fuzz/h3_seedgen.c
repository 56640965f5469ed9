/* Records the seed corpora of the HTTP/3 connection fuzz targets: a
 * null-TLS client and server, both public zttp_conn objects, run the fuzz
 * driver's application logic (h3_fuzz.c) against each other over an
 * in-memory link (10 ms one way, arrivals on whole milliseconds, optional
 * losses), and every datagram each side received is written in the fuzz
 * input format (h3_fuzz.h) with the CIDs as recorded, so that the targets
 * replay the same exchange. A server's seed starts with the client's real
 * Initial.
 *
 *   fuzz_h3_seedgen SERVER_CORPUS_DIR CLIENT_CORPUS_DIR
 *
 * Built only with -Dfuzzing=true; not run by the tests (the seeds are
 * checked in). SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_seed.h"
#include "h3_fuzz.h"

typedef struct gen {
  hf_side side[2]; /* 0 client, 1 server */
  fuzz_link link;
} gen;

static gen *g_gen;

static void emit(hf_side *sd, const uint8_t *d, size_t n, const zttp_path *path,
                 zttp_tstamp now) {
  (void)path;
  gen *g = g_gen;
  fuzz_link_send(&g->link, sd == &g->side[0] ? 0 : 1, d, n, now);
}

static int run(const char *sdir, const char *cdir, const char *name,
               uint8_t sel0, uint8_t sel1, uint32_t drop_c, uint32_t drop_s) {
  static gen gg;
  gen *g = &gg;
  memset(g, 0, sizeof(*g));
  g_gen = g;
  fuzz_link_init(&g->link, drop_c, drop_s, HF_MAX_DGRAM);
  fuzz_mem m[2];
  fuzz_mem_init(&m[0], hf_fail);
  fuzz_mem_init(&m[1], hf_fail);
  hf_side_init(&g->side[1], &m[1], ZTTP_SERVER, sel0, sel1, emit);
  hf_side_init(&g->side[0], &m[0], ZTTP_CLIENT, sel0, sel1, emit);
  int steps = 0;
  for (; steps < 1000000; steps++) {
    if (zttp_conn_should_close(g->side[0].conn) == 1 &&
        zttp_conn_should_close(g->side[1].conn) == 1) {
      break;
    }
    zttp_tstamp t[2] = {zttp_conn_next_timeout(g->side[0].conn),
                        zttp_conn_next_timeout(g->side[1].conn)};
    int i;
    fuzz_dgram dg;
    int what = fuzz_link_next(&g->link, t, &i, &dg);
    if (what == FUZZ_LINK_IDLE) {
      break;
    }
    hf_advance(&g->side[i], dg.at);
    if (what == FUZZ_LINK_ARRIVAL) {
      hf_feed(&g->side[i], dg.data, dg.len, 0);
      free(dg.data);
    }
  }
  printf("%-28s steps %6d client hs %d answered %d/%d closed %d recv %6zu B, "
         "server hs %d requests %d answered %d closed %d recv %6zu B\n",
         name, steps, g->side[0].hs_done, g->side[0].answered,
         g->side[0].requests_sent + g->side[0].connect_sent,
         g->side[0].closed_ev, g->link.rec[0].len, g->side[1].hs_done,
         g->side[1].num_requests, g->side[1].answered, g->side[1].closed_ev,
         g->link.rec[1].len);
  int rv = 0;
  if (g->side[1].cids.known) {
    rv |= fuzz_seed_write(sdir, name, sel0, sel1, ZTTP_SERVER, &g->side[1].cids,
                          &g->link.rec[1]);
  }
  rv |= fuzz_seed_write(cdir, name, sel0, sel1, ZTTP_CLIENT, &g->side[0].cids,
                        &g->link.rec[0]);
  fuzz_link_free(&g->link);
  for (int i = 0; i < 2; i++) {
    hf_side_free(&g->side[i]);
    if (m[i].live != 0) {
      fprintf(stderr, "h3 seedgen: %zu bytes leaked\n", m[i].live);
      rv = 1;
    }
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
  /* name, sel0, sel1 (body size index | (requests - 1) << 3 | trailers 0x20
   * | small buffer 0x40 | lazy 0x80), losses (client, server) */
  rv |= run(s, c, "seed-get", 0x00, 0x00, 0, 0);
  rv |= run(s, c, "seed-get-post-1000", 0x00, 0x03 | 0x08, 0, 0);
  rv |= run(s, c, "seed-4req-trailers", 0x00, 0x02 | 0x18 | 0x20, 0, 0);
  rv |= run(s, c, "seed-reset", 0x80, 0x02 | 0x18, 0, 0);
  rv |= run(s, c, "seed-goaway", 0x40, 0x02 | 0x10, 0, 0);
  rv |= run(s, c, "seed-datagram", 0x10, 0x01 | 0x08, 0, 0);
  rv |= run(s, c, "seed-connect-udp-datagram", 0x18, 0x02 | 0x08, 0, 0);
  rv |= run(s, c, "seed-tight-5000", 0x01, 0x04 | 0x08, 0, 0);
  rv |=
      run(s, c, "seed-qpack-dynamic-trailers", 0x02, 0x02 | 0x18 | 0x20, 0, 0);
  rv |= run(s, c, "seed-big-small-buf-linger", 0x23, 0x06 | 0x08 | 0x40, 0, 0);
  rv |= run(s, c, "seed-lazy-20000", 0x00, 0x05 | 0x08 | 0x80, 0, 0);
  rv |= run(s, c, "seed-loss", 0x00, 0x03 | 0x18, 0x2, 0x6);
  rv |= run(s, c, "seed-tight-connect-reset-close", 0xc9, 0x03 | 0x18 | 0x20, 0,
            0);
  rv |= run(s, c, "seed-large-tables-dgram-close", 0x53, 0x02 | 0x18, 0, 0);
  return rv;
}
