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

#include "h3_fuzz.h"

#define MAX_QUEUE 8192
#define DELAY_MS 10
#define HORIZON_MS 120000

typedef struct qdgram {
  zttp_tstamp at;
  size_t len;
  uint8_t *data;
} qdgram;

typedef struct recording {
  uint8_t *buf;
  size_t len, cap;
  zttp_tstamp last;
} recording;

typedef struct gen {
  hf_side side[2];        /* 0 client, 1 server */
  qdgram q[2][MAX_QUEUE]; /* q[i]: datagrams to side i */
  size_t head[2], num[2];
  uint64_t sent[2];      /* datagrams written by side i */
  uint32_t drop_mask[2]; /* drop datagram k written by side i when bit k */
  recording rec[2];      /* what side i received */
} gen;

static gen *g_gen;

static void put(recording *r, const void *p, size_t n) {
  if (r->len + n > r->cap) {
    r->cap = (r->len + n) * 2;
    r->buf = realloc(r->buf, r->cap);
    if (r->buf == NULL) {
      abort();
    }
  }
  memcpy(r->buf + r->len, p, n);
  r->len += n;
}

static void put_rec(recording *r, zttp_tstamp at, const uint8_t *d, size_t n) {
  uint64_t ms = (at - r->last) / HF_NS_PER_MS;
  r->last = at;
  while (ms > 0xffff) {
    uint8_t h[4] = {0xff, 0xff, 0, 0};
    put(r, h, 4);
    ms -= 0xffff;
  }
  if (n > HF_MAX_DGRAM) {
    fprintf(stderr, "h3 seedgen: a %zu-byte datagram does not fit\n", n);
    abort();
  }
  uint8_t h[4] = {(uint8_t)(ms >> 8), (uint8_t)ms, (uint8_t)(n >> 8),
                  (uint8_t)n};
  put(r, h, 4);
  put(r, d, n);
}

static void emit(hf_side *sd, const uint8_t *d, size_t n, const zttp_path *path,
                 zttp_tstamp now) {
  (void)path;
  gen *g = g_gen;
  int from = sd == &g->side[0] ? 0 : 1;
  int to = 1 - from;
  uint64_t k = g->sent[from]++;
  if (k < 32 && (g->drop_mask[from] >> k) & 1) {
    return;
  }
  if (g->num[to] == MAX_QUEUE) {
    return;
  }
  zttp_tstamp at = now + DELAY_MS * HF_NS_PER_MS;
  uint64_t rem = (at - HF_T0) % HF_NS_PER_MS;
  if (rem != 0) {
    at += HF_NS_PER_MS - rem;
  }
  qdgram *q = &g->q[to][(g->head[to] + g->num[to]++) % MAX_QUEUE];
  q->at = at;
  q->len = n;
  q->data = malloc(n);
  if (q->data == NULL) {
    abort();
  }
  memcpy(q->data, d, n);
}

static int write_file(const char *dir, const char *name, const hf_side *own,
                      uint8_t sel0, uint8_t sel1, const recording *r) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  uint8_t hdr[HF_HDR_LEN];
  memset(hdr, 0, sizeof(hdr));
  hdr[0] = sel0;
  hdr[1] = sel1;
  memcpy(hdr + 2, own->scid.data, own->scid.len);
  if (own->role == ZTTP_CLIENT) {
    memcpy(hdr + 2 + ZTTP_QUIC_MAX_CID_LEN, own->dcid.data, 8);
  }
  FILE *f = fopen(path, "wb");
  if (f == NULL) {
    perror(path);
    return 1;
  }
  fwrite(hdr, 1, sizeof(hdr), f);
  fwrite(r->buf, 1, r->len, f);
  fclose(f);
  return 0;
}

static int run(const char *sdir, const char *cdir, const char *name,
               uint8_t sel0, uint8_t sel1, uint32_t drop_c, uint32_t drop_s) {
  static gen gg;
  gen *g = &gg;
  memset(g, 0, sizeof(*g));
  g_gen = g;
  g->drop_mask[0] = drop_c;
  g->drop_mask[1] = drop_s;
  g->rec[0].last = g->rec[1].last = HF_T0;
  hf_mem m[2];
  hf_mem_init(&m[0]);
  hf_mem_init(&m[1]);
  hf_side_init(&g->side[1], &m[1], ZTTP_SERVER, sel0, sel1, emit);
  hf_side_init(&g->side[0], &m[0], ZTTP_CLIENT, sel0, sel1, emit);
  int steps = 0;
  for (; steps < 1000000; steps++) {
    zttp_tstamp t[2], a[2];
    for (int i = 0; i < 2; i++) {
      t[i] = zttp_conn_next_timeout(g->side[i].conn);
      a[i] = g->num[i] > 0 ? g->q[i][g->head[i]].at : ZTTP_TSTAMP_NEVER;
    }
    zttp_tstamp next = ZTTP_TSTAMP_NEVER;
    for (int i = 0; i < 2; i++) {
      next = t[i] < next ? t[i] : next;
      next = a[i] < next ? a[i] : next;
    }
    if (next == ZTTP_TSTAMP_NEVER || next > HF_T0 + HORIZON_MS * HF_NS_PER_MS) {
      break;
    }
    if (zttp_conn_should_close(g->side[0].conn) == 1 &&
        zttp_conn_should_close(g->side[1].conn) == 1) {
      break;
    }
    int i;
    if (t[0] == next || t[1] == next) {
      i = t[0] == next ? 0 : 1;
      hf_advance(&g->side[i], next);
      continue;
    }
    i = a[0] == next ? 0 : 1;
    qdgram *q = &g->q[i][g->head[i]];
    g->head[i] = (g->head[i] + 1) % MAX_QUEUE;
    g->num[i]--;
    hf_advance(&g->side[i], q->at);
    put_rec(&g->rec[i], q->at, q->data, q->len);
    hf_feed(&g->side[i], q->data, q->len, 0);
    free(q->data);
  }
  printf("%-28s steps %6d client hs %d answered %d/%d closed %d recv %6zu B, "
         "server hs %d requests %d answered %d closed %d recv %6zu B\n",
         name, steps, g->side[0].hs_done, g->side[0].answered,
         g->side[0].requests_sent + g->side[0].connect_sent,
         g->side[0].closed_ev, g->rec[0].len, g->side[1].hs_done,
         g->side[1].num_requests, g->side[1].answered, g->side[1].closed_ev,
         g->rec[1].len);
  int rv = 0;
  if (g->side[1].cids_known) {
    rv |= write_file(sdir, name, &g->side[1], sel0, sel1, &g->rec[1]);
  }
  rv |= write_file(cdir, name, &g->side[0], sel0, sel1, &g->rec[0]);
  for (int i = 0; i < 2; i++) {
    while (g->num[i] > 0) {
      free(g->q[i][g->head[i]].data);
      g->head[i] = (g->head[i] + 1) % MAX_QUEUE;
      g->num[i]--;
    }
    hf_side_free(&g->side[i]);
    free(g->rec[i].buf);
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
