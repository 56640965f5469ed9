/* bench/h1: picohttpparser (as exported by Debian's libh2o) in its own
 * process: libh2o links OpenSSL 3, which must never share a process with the
 * BoringSSL that libzttp links. This program links neither libzttp nor
 * BoringSSL.
 *
 *   pico_bench --dump DIR OUTDIR          write OUTDIR/pico.txt
 *   pico_bench --serve DIR                commands on stdin (used by
 *                                         zttp_llhttp_bench --time):
 *                                           ref W | calib W SECONDS |
 *                                           run W ITERS | quit
 *   pico_bench --callgrind DIR W pico N   N messages in measured_pico()
 *
 * See bench/README.md.
 * SPDX-License-Identifier: MIT */
#include "common.c"

#include <sys/types.h>

/* libh2o-dev ships no picohttpparser.h; these are the declarations of the
 * picohttpparser bundled in h2o 2.2.5 (deps/picohttpparser). The decoder
 * struct gets spare room in case a later libh2o appended fields (the state
 * byte at offset 10 is what this version uses). */
struct phr_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
};

int phr_parse_request(const char *buf, size_t len, const char **method,
                      size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers,
                      size_t *num_headers, size_t last_len);
int phr_parse_response(const char *buf, size_t len, int *minor_version,
                       int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers,
                       size_t last_len);
int phr_parse_headers(const char *buf, size_t len, struct phr_header *headers,
                      size_t *num_headers, size_t last_len);

struct phr_chunked_decoder {
  size_t bytes_left_in_chunk;
  char consume_trailer;
  char _hex_count;
  char _state;
  uint64_t _spare[4];
};

ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf,
                           size_t *bufsz);

enum { P_NONE = 0, P_LENGTH = 1, P_CHUNKED = 2, P_EOF = 3, P_BAD = -1 };

/* ASCII case-insensitive comparison with a lower-case literal made of
 * letters and '-' (what picohttpparser users such as h2o write). */
BENCH_INLINE int lc_eq(const char *s, const char *lit, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if ((s[i] | 0x20) != lit[i]) {
      return 0;
    }
  }
  return 1;
}

/* The framing a picohttpparser user must work out from the fields: the
 * Content-Length or a Transfer-Encoding ending in chunked. */
BENCH_INLINE int pico_framing(const struct phr_header *h, size_t n,
                              int is_response, int status, uint64_t *cl) {
  int kind = is_response ? P_EOF : P_NONE;
  if (is_response && (status < 200 || status == 204 || status == 304)) {
    return P_NONE;
  }
  for (size_t i = 0; i < n; i++) {
    if (h[i].name_len == 14 && lc_eq(h[i].name, "content-length", 14)) {
      uint64_t v = 0;
      if (h[i].value_len == 0 || h[i].value_len > 18) {
        return P_BAD;
      }
      for (size_t k = 0; k < h[i].value_len; k++) {
        unsigned d = (unsigned)(uint8_t)h[i].value[k] - '0';
        if (d > 9) {
          return P_BAD;
        }
        v = v * 10 + d;
      }
      *cl = v;
      kind = P_LENGTH;
    } else if (h[i].name_len == 17 &&
               lc_eq(h[i].name, "transfer-encoding", 17)) {
      if (h[i].value_len >= 7 &&
          lc_eq(h[i].value + h[i].value_len - 7, "chunked", 7)) {
        return P_CHUNKED;
      }
      return P_BAD;
    }
  }
  return kind;
}

typedef struct pc_ctx {
  struct phr_header h[BENCH_MAX_HEADERS];
  struct phr_header t[BENCH_MAX_HEADERS];
  char *scratch; /* phr_decode_chunked decodes in place */
  size_t scratch_cap;
} pc_ctx;

/* Parses one head at buf[0..len); returns its length or a negative value. */
BENCH_INLINE int pico_head(pc_ctx *c, const workload *w, const char *buf,
                           size_t len, size_t last_len, size_t *nh, int *status,
                           out *o, const int V) {
  int minor = 0, r;
  *nh = BENCH_MAX_HEADERS;
  if (!w->is_response) {
    const char *m, *path;
    size_t ml, pl;
    r = phr_parse_request(buf, len, &m, &ml, &path, &pl, &minor, c->h, nh,
                          last_len);
    if (r > 0) {
      out_request(o, V, m, ml, path, pl, 10u + (unsigned)minor);
    }
  } else {
    const char *msg;
    size_t msgl;
    r = phr_parse_response(buf, len, &minor, status, &msg, &msgl, c->h, nh,
                           last_len);
    if (r > 0) {
      out_response(o, V, (unsigned)*status, msg, msgl, 10u + (unsigned)minor);
    }
  }
  if (r > 0) {
    OUT_FIELDS(o, V, "header", c->h, *nh);
  }
  return r;
}

/* One iteration, the workload fed whole. */
BENCH_INLINE int pico_iter_whole(pc_ctx *c, const workload *w, out *o,
                                 const int V) {
  const char *buf = (const char *)w->buf;
  const size_t len = w->len;
  size_t off = 0;
  while (off < len) {
    size_t nh;
    int status = 0;
    int r = pico_head(c, w, buf + off, len - off, 0, &nh, &status, o, V);
    if (r <= 0) {
      return r == -2 ? -2 : -1;
    }
    off += (size_t)r;
    uint64_t cl = 0;
    switch (pico_framing(c->h, nh, w->is_response, status, &cl)) {
    case P_NONE:
      OUT_END(o, V, c->t, 0);
      break;
    case P_LENGTH:
      if (len - off < cl) {
        return -2;
      }
      if (cl) {
        out_body(o, V, buf + off, (size_t)cl);
      }
      off += (size_t)cl;
      OUT_END(o, V, c->t, 0);
      break;
    case P_EOF:
      if (len > off) {
        out_body(o, V, buf + off, len - off);
      }
      off = len;
      OUT_END(o, V, c->t, 0);
      break;
    case P_CHUNKED: {
      /* The receive buffer would be decoded in place; the workload buffer
       * must stay intact, so the body part is copied first (counted). */
      size_t rem = len - off;
      memcpy(c->scratch, buf + off, rem);
      struct phr_chunked_decoder d;
      memset(&d, 0, sizeof(d)); /* consume_trailer = 0: parse them below */
      size_t sz = rem;
      ssize_t left = phr_decode_chunked(&d, c->scratch, &sz);
      if (left < 0) {
        return left == -2 ? -2 : -3;
      }
      if (sz) {
        out_body(o, V, c->scratch, sz);
      }
      size_t nt = BENCH_MAX_HEADERS;
      int tr = phr_parse_headers(c->scratch + sz, (size_t)left, c->t, &nt, 0);
      if (tr < 0) {
        return -4;
      }
      OUT_END(o, V, c->t, nt);
      off = len - (size_t)left + (size_t)tr;
      break;
    }
    default:
      return -5;
    }
  }
  return 0;
}

/* One iteration, the workload arriving |piece| bytes at a time into one
 * contiguous receive buffer (the workload buffer itself): the head is
 * re-parsed on the growing prefix with last_len, as picohttpparser users do;
 * then each piece's body bytes are handed on as they arrive. Only
 * Content-Length bodies (all the piecewise workload needs). */
BENCH_INLINE int pico_iter_pieces(pc_ctx *c, const workload *w, out *o,
                                  const int V) {
  const char *buf = (const char *)w->buf;
  const size_t len = w->len, piece = w->piece;
  size_t avail = piece < len ? piece : len, last = 0, nh;
  int status = 0, r;
  for (;;) {
    r = pico_head(c, w, buf, avail, last, &nh, &status, o, V);
    if (r > 0) {
      break;
    }
    if (r == -1 || avail == len) {
      return -1;
    }
    last = avail;
    avail = avail + piece < len ? avail + piece : len;
  }
  uint64_t cl = 0;
  int kind = pico_framing(c->h, nh, w->is_response, status, &cl);
  if (kind == P_NONE) {
    OUT_END(o, V, c->t, 0);
    return avail == (size_t)r && avail == len ? 0 : -6;
  }
  if (kind != P_LENGTH) {
    return -7;
  }
  size_t off = (size_t)r;
  while (cl) {
    if (off == avail) {
      if (avail == len) {
        return -2;
      }
      avail = avail + piece < len ? avail + piece : len; /* the next recv */
    }
    size_t k = avail - off < cl ? avail - off : (size_t)cl;
    out_body(o, V, buf + off, k);
    off += k;
    cl -= k;
  }
  OUT_END(o, V, c->t, 0);
  return off == len ? 0 : -8;
}

BENCH_INLINE int pico_iter(pc_ctx *c, const workload *w, out *o, const int V) {
  return w->piece ? pico_iter_pieces(c, w, o, V) : pico_iter_whole(c, w, o, V);
}

/* Not static: callgrind collects inside measured_* only (by symbol name). */
int measured_pico(pc_ctx *c, const workload *w, uint64_t iters, out *o);
int warm_pico(pc_ctx *c, const workload *w, uint64_t iters, out *o);

BENCH_NOINLINE int measured_pico(pc_ctx *c, const workload *w, uint64_t iters,
                                 out *o) {
  for (uint64_t i = 0; i < iters; i++) {
    int r = pico_iter(c, w, o, 0);
    if (r != 0) {
      return r;
    }
  }
  return 0;
}

BENCH_NOINLINE int warm_pico(pc_ctx *c, const workload *w, uint64_t iters,
                             out *o) {
  for (uint64_t i = 0; i < iters; i++) {
    int r = pico_iter(c, w, o, 0);
    if (r != 0) {
      return r;
    }
  }
  return 0;
}

static uint64_t run_pico(void *ctx, const workload *w, uint64_t iters, acc *a,
                         int *err) {
  pc_ctx *c = ctx;
  out o;
  memset(&o, 0, sizeof(o));
  uint64_t t0 = now_ns();
  *err = measured_pico(c, w, iters, &o);
  uint64_t t1 = now_ns();
  *a = o.a;
  return t1 - t0;
}

/* ---- verification ------------------------------------------------------- */

static pc_ctx pctx;
static acc refs[NUM_WORKLOADS];

static void pico_setup(const char *dir, tbuf *all) {
  load_workloads(dir);
  size_t maxlen = 0;
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    maxlen = workloads[i].len > maxlen ? workloads[i].len : maxlen;
  }
  pctx.scratch_cap = maxlen + 64;
  pctx.scratch = aligned_alloc(64, (pctx.scratch_cap + 63) / 64 * 64);
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    const workload *w = &workloads[i];
    tbuf first = {0}, text = {0};
    for (int it = 0; it < 3; it++) {
      out o;
      memset(&o, 0, sizeof(o));
      tb_reset(&text);
      tb_put(&text, "", 0);
      o.text = &text;
      int r = pico_iter(&pctx, w, &o, 1);
      if (r != 0) {
        die("pico: %s: iteration %d failed: %d", w->name, it, r);
      }
      if (it == 0) {
        tb_put(&first, text.p, text.len);
        refs[i] = o.a;
      } else if (text.len != first.len ||
                 memcmp(text.p, first.p, text.len) != 0) {
        die("pico: %s: iteration %d gives a different record", w->name, it);
      }
      free(o.body.p);
    }
    if (refs[i].msgs == 0) {
      die("pico: %s: no message parsed", w->name);
    }
    if (all != NULL) {
      dump_workload_header(all, w);
      tb_put(all, first.p, first.len);
    }
    free(first.p);
    free(text.p);
  }
}

static int mode_dump(const char *dir, const char *outdir) {
  tbuf all = {0};
  char path[4096];
  pico_setup(dir, &all);
  snprintf(path, sizeof(path), "%s/pico.txt", outdir);
  write_file(path, &all);
  return 0;
}

static int mode_serve(const char *dir) {
  char line[512], name[128];
  pico_setup(dir, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(line, sizeof(line), stdin) != NULL) {
    double secs;
    uint64_t iters;
    if (strncmp(line, "quit", 4) == 0) {
      break;
    } else if (sscanf(line, "ref %127s", name) == 1) {
      const acc *a = &refs[find_workload(name) - workloads];
      printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", a->msgs,
             a->fields, a->field_bytes, a->body_bytes);
    } else if (sscanf(line, "calib %127s %lf", name, &secs) == 2) {
      const workload *w = find_workload(name);
      printf("%" PRIu64 "\n",
             calibrate(run_pico, &pctx, w, &refs[w - workloads], secs, "pico"));
    } else if (sscanf(line, "run %127s %" SCNu64, name, &iters) == 2) {
      const workload *w = find_workload(name);
      printf("%" PRIu64 "\n", run_checked(run_pico, &pctx, w, iters,
                                          &refs[w - workloads], "pico"));
    } else {
      printf("ERR unknown command: %s", line);
    }
  }
  return 0;
}

static int mode_callgrind(const char *dir, const char *wname, uint64_t n) {
  pico_setup(dir, NULL);
  const workload *w = find_workload(wname);
  const acc *ref = &refs[w - workloads];
  uint64_t iters = (n + ref->msgs - 1) / ref->msgs;
  out o;
  memset(&o, 0, sizeof(o));
  if (warm_pico(&pctx, w, 2, &o) != 0) { /* outside the collected function */
    die("pico warm-up failed");
  }
  acc a;
  int err = 0;
  run_pico(&pctx, w, iters, &a, &err);
  if (err != 0 || !acc_equal_times(&a, ref, iters)) {
    die("callgrind run of %s/pico failed (%d)", wname, err);
  }
  printf("messages %" PRIu64 "\n", a.msgs);
  return 0;
}

int main(int argc, char **argv) {
  bench_clock_init();
  if (argc == 4 && strcmp(argv[1], "--dump") == 0) {
    return mode_dump(argv[2], argv[3]);
  }
  if (argc == 3 && strcmp(argv[1], "--serve") == 0) {
    return mode_serve(argv[2]);
  }
  if (argc == 6 && strcmp(argv[1], "--callgrind") == 0 &&
      strcmp(argv[4], "pico") == 0) {
    return mode_callgrind(argv[2], argv[3], strtoull(argv[5], NULL, 10));
  }
  fprintf(stderr, "usage: pico_bench --dump DIR OUTDIR | --serve DIR |"
                  " --callgrind DIR WORKLOAD pico N\n");
  return 2;
}
