/* What the fuzz targets share (fuzz_util.h).
 * SPDX-License-Identifier: MIT */
#include "fuzz_util.h"

#include <string.h>

int fuzz_ignored(const char *tag) {
  static const char *list = NULL;
  static int init = 0;
  if (!init) {
    list = getenv("ZTTP_FUZZ_IGNORE");
    init = 1;
  }
  if (list == NULL) {
    return 0;
  }
  size_t n = strlen(tag);
  for (const char *p = list; (p = strstr(p, tag)) != NULL; p += n) {
    if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) {
      return 1;
    }
  }
  return 0;
}

/* ---- counting allocator ------------------------------------------------- */

#define MEM_HDR 16

static void *mem_malloc(size_t size, void *user) {
  fuzz_mem *m = user;
  if (size > FUZZ_MEM_CAP || m->live + size > FUZZ_MEM_CAP) {
    m->fail("more than 64 MiB allocated");
  }
  uint8_t *p = malloc(size + MEM_HDR);
  if (p == NULL) {
    return NULL;
  }
  memcpy(p, &size, sizeof(size));
  m->live += size;
  if (m->live > m->peak) {
    m->peak = m->live;
  }
  return p + MEM_HDR;
}

static void mem_free(void *ptr, void *user) {
  fuzz_mem *m = user;
  if (ptr == NULL) {
    return;
  }
  uint8_t *p = (uint8_t *)ptr - MEM_HDR;
  size_t size;
  memcpy(&size, p, sizeof(size));
  m->live -= size;
  free(p);
}

static void *mem_realloc(void *ptr, size_t size, void *user) {
  fuzz_mem *m = user;
  if (ptr == NULL) {
    return mem_malloc(size, user);
  }
  uint8_t *p = (uint8_t *)ptr - MEM_HDR;
  size_t old;
  memcpy(&old, p, sizeof(old));
  if (size > FUZZ_MEM_CAP || m->live - old + size > FUZZ_MEM_CAP) {
    m->fail("more than 64 MiB allocated");
  }
  uint8_t *q = realloc(p, size + MEM_HDR);
  if (q == NULL) {
    return NULL;
  }
  memcpy(q, &size, sizeof(size));
  m->live = m->live - old + size;
  if (m->live > m->peak) {
    m->peak = m->live;
  }
  return q + MEM_HDR;
}

void fuzz_mem_init(fuzz_mem *m, void (*fail)(const char *what)) {
  memset(m, 0, sizeof(*m));
  m->alloc.malloc = mem_malloc;
  m->alloc.realloc = mem_realloc;
  m->alloc.free = mem_free;
  m->alloc.user = m;
  m->fail = fail;
}

/* ---- filler ------------------------------------------------------------- */

const uint8_t *fuzz_pattern(void) {
  static uint8_t pattern[FUZZ_PATTERN_LEN];
  if (pattern[1] == 0) {
    for (size_t i = 0; i < sizeof(pattern); i++) {
      pattern[i] = (uint8_t)('a' + i % 26);
    }
  }
  return pattern;
}

/* ---- the datagram records ----------------------------------------------- */

int fuzz_records_start(fuzz_records *in, const uint8_t *data, size_t size,
                       uint32_t len_mask) {
  if (size < FUZZ_REC_HDR_LEN) {
    return 0;
  }
  in->data = data;
  in->size = size;
  in->off = FUZZ_REC_HDR_LEN;
  in->len_mask = len_mask;
  return 1;
}

int fuzz_records_next(fuzz_records *in, fuzz_record *rec) {
  const uint8_t *p = in->data + in->off;
  if (in->off + FUZZ_REC_LEN > in->size) {
    return 0;
  }
  uint32_t fl = (uint32_t)p[2] << 8 | p[3];
  in->off += FUZZ_REC_LEN;
  rec->delta = (zttp_tstamp)((uint32_t)p[0] << 8 | p[1]) * FUZZ_NS_PER_MS;
  rec->flags = fl & ~in->len_mask;
  rec->n = fl & in->len_mask;
  if (rec->n > in->size - in->off) {
    rec->n = in->size - in->off;
  }
  rec->d = in->data + in->off;
  in->off += rec->n;
  return 1;
}

/* ---- CID substitution ---------------------------------------------------- */

void fuzz_cids_learn(fuzz_cids *c, const uint8_t *d, size_t n, size_t cid_len) {
  if (c->known || n == 0 || (d[0] & 0x80) == 0) {
    return;
  }
  zttp_quic_hdr h;
  if (zttp_quic_hdr_parse(&h, d, n, cid_len) == ZTTP_QUIC_HDR_OK &&
      h.scid_len == cid_len) {
    zttp_quic_cid_set(&c->scid, h.scid, h.scid_len);
    zttp_quic_cid_set(&c->dcid, h.dcid, h.dcid_len);
    c->known = 1;
  }
}

static void substitute(uint8_t *d, size_t n, const uint8_t *from,
                       const uint8_t *to, size_t len) {
  if (len == 0 || n < len || memcmp(from, to, len) == 0) {
    return;
  }
  for (size_t i = 0; i + len <= n;) {
    if (memcmp(d + i, from, len) == 0) {
      memcpy(d + i, to, len);
      i += len;
    } else {
      i++;
    }
  }
}

void fuzz_cids_substitute(const fuzz_cids *c, uint32_t role,
                          const fuzz_records *in, uint8_t *d, size_t n) {
  if (!c->known) {
    return;
  }
  const uint8_t *rec_a = in->data + 2;
  const uint8_t *rec_b = in->data + 2 + ZTTP_QUIC_MAX_CID_LEN;
  substitute(d, n, rec_a, c->scid.data, c->scid.len);
  if (role == ZTTP_CLIENT) {
    substitute(d, n, rec_b, c->dcid.data, c->dcid.len < 8 ? 0 : 8);
  }
}

uint8_t *fuzz_records_take(const fuzz_records *in, const fuzz_record *rec,
                           const fuzz_cids *c, uint32_t role, int subst) {
  static uint8_t dgram[0x7fff];
  memcpy(dgram, rec->d, rec->n);
  if (subst && !(rec->flags & FUZZ_REC_NO_SUBST)) {
    fuzz_cids_substitute(c, role, in, dgram, rec->n);
  }
  return dgram;
}
