/* The seed generators' link and writer (fuzz_seed.h).
 * SPDX-License-Identifier: MIT */
#include "fuzz_seed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(fuzz_recording *r, const void *p, size_t n) {
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

static void put_rec(fuzz_recording *r, zttp_tstamp at, const uint8_t *d,
                    size_t n, size_t max) {
  uint64_t ms = (at - r->last) / FUZZ_NS_PER_MS;
  r->last = at;
  while (ms > 0xffff) {
    uint8_t h[4] = {0xff, 0xff, 0, 0};
    put(r, h, 4);
    ms -= 0xffff;
  }
  if (n > max) {
    fprintf(stderr, "seedgen: a %zu-byte datagram does not fit\n", n);
    abort();
  }
  uint8_t h[4] = {(uint8_t)(ms >> 8), (uint8_t)ms, (uint8_t)(n >> 8),
                  (uint8_t)n};
  put(r, h, 4);
  put(r, d, n);
}

void fuzz_link_init(fuzz_link *l, uint32_t drop_c, uint32_t drop_s,
                    size_t max_dgram) {
  memset(l, 0, sizeof(*l));
  l->drop_mask[0] = drop_c;
  l->drop_mask[1] = drop_s;
  l->rec[0].last = l->rec[1].last = FUZZ_T0;
  l->max_dgram = max_dgram;
}

void fuzz_link_send(fuzz_link *l, int from, const uint8_t *d, size_t n,
                    zttp_tstamp now) {
  int to = 1 - from;
  uint64_t k = l->sent[from]++;
  if (k < 32 && (l->drop_mask[from] >> k) & 1) {
    return;
  }
  if (l->num[to] == FUZZ_LINK_QUEUE) {
    return;
  }
  zttp_tstamp at = now + FUZZ_LINK_DELAY_MS * FUZZ_NS_PER_MS;
  uint64_t rem = (at - FUZZ_T0) % FUZZ_NS_PER_MS;
  if (rem != 0) {
    at += FUZZ_NS_PER_MS - rem;
  }
  fuzz_dgram *q = &l->q[to][(l->head[to] + l->num[to]++) % FUZZ_LINK_QUEUE];
  q->at = at;
  q->len = n;
  q->data = malloc(n);
  if (q->data == NULL) {
    abort();
  }
  memcpy(q->data, d, n);
}

int fuzz_link_next(fuzz_link *l, const zttp_tstamp timer[2], int *side,
                   fuzz_dgram *dg) {
  zttp_tstamp a[2];
  zttp_tstamp next = ZTTP_TSTAMP_NEVER;
  for (int i = 0; i < 2; i++) {
    a[i] = l->num[i] > 0 ? l->q[i][l->head[i]].at : ZTTP_TSTAMP_NEVER;
    next = timer[i] < next ? timer[i] : next;
    next = a[i] < next ? a[i] : next;
  }
  if (next == ZTTP_TSTAMP_NEVER ||
      next > FUZZ_T0 + FUZZ_LINK_HORIZON_MS * FUZZ_NS_PER_MS) {
    return FUZZ_LINK_IDLE;
  }
  if (timer[0] == next || timer[1] == next) {
    *side = timer[0] == next ? 0 : 1;
    dg->at = next;
    dg->len = 0;
    dg->data = NULL;
    return FUZZ_LINK_TIMER;
  }
  int i = a[0] == next ? 0 : 1;
  *side = i;
  *dg = l->q[i][l->head[i]];
  l->head[i] = (l->head[i] + 1) % FUZZ_LINK_QUEUE;
  l->num[i]--;
  put_rec(&l->rec[i], dg->at, dg->data, dg->len, l->max_dgram);
  return FUZZ_LINK_ARRIVAL;
}

void fuzz_link_free(fuzz_link *l) {
  for (int i = 0; i < 2; i++) {
    while (l->num[i] > 0) {
      free(l->q[i][l->head[i]].data);
      l->head[i] = (l->head[i] + 1) % FUZZ_LINK_QUEUE;
      l->num[i]--;
    }
    free(l->rec[i].buf);
    l->rec[i].buf = NULL;
  }
}

int fuzz_seed_write(const char *dir, const char *name, uint8_t sel0,
                    uint8_t sel1, uint32_t role, const fuzz_cids *cids,
                    const fuzz_recording *r) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  uint8_t hdr[FUZZ_REC_HDR_LEN];
  memset(hdr, 0, sizeof(hdr));
  hdr[0] = sel0;
  hdr[1] = sel1;
  memcpy(hdr + 2, cids->scid.data, cids->scid.len);
  if (role == ZTTP_CLIENT) {
    memcpy(hdr + 2 + ZTTP_QUIC_MAX_CID_LEN, cids->dcid.data, 8);
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
