/* Code shared by zttp_llhttp_bench.c and pico_bench.c: the workload table,
 * the canonical record every parser fills, the cheap accumulator used while
 * timing, the clock and the calibration loop.
 *
 * This file is #included by both programs (it is not a translation unit of
 * its own) so that pico_bench, which links libh2o and therefore OpenSSL,
 * shares no object with the zttp side (zttp links BoringSSL; the two must
 * never meet in one process).
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_HEADERS 128
#define BENCH_INLINE static inline __attribute__((always_inline))
#define BENCH_NOINLINE __attribute__((noinline, used))

/* ---- workloads ---------------------------------------------------------- */

typedef struct workload {
  const char *name; /* printed name */
  const char *file; /* in the workload directory */
  int is_response;  /* .resp: parsed in the client role */
  size_t piece;     /* 0: fed whole; else fed in pieces of this size */
  uint8_t *buf;
  size_t len;
} workload;

static workload workloads[] = {
    {"01-wrk-get", "01-wrk-get.req", 0, 0, NULL, 0},
    {"02-httparse-short", "02-httparse-short.req", 0, 0, NULL, 0},
    {"03-tfb-plaintext-x16", "03-tfb-plaintext-x16.req", 0, 0, NULL, 0},
    {"04-small-api-get", "04-small-api-get.req", 0, 0, NULL, 0},
    {"05-post-json", "05-post-json.req", 0, 0, NULL, 0},
    {"06-pico-realworld-get", "06-pico-realworld-get.req", 0, 0, NULL, 0},
    {"07-chunked-post", "07-chunked-post.req", 0, 0, NULL, 0},
    {"08-browser-navigation-get", "08-browser-navigation-get.req", 0, 0, NULL,
     0},
    {"09-proxied-api-get", "09-proxied-api-get.req", 0, 0, NULL, 0},
    {"10-upload-16k", "10-upload-16k.req", 0, 0, NULL, 0},
    {"11-upload-16k-1448", "10-upload-16k.req", 0, 1448, NULL, 0},
    {"12-httparse-resp-short", "12-httparse-resp-short.resp", 1, 0, NULL, 0},
    {"13-json-api", "13-json-api.resp", 1, 0, NULL, 0},
    {"14-chunked-html", "14-chunked-html.resp", 1, 0, NULL, 0},
};
#define NUM_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(2);
}

static void load_workloads(const char *dir) {
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    workload *w = &workloads[i];
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, w->file);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
      die("cannot open %s: %s", path, strerror(errno));
    }
    if (fseek(f, 0, SEEK_END) != 0) {
      die("cannot seek %s", path);
    }
    long n = ftell(f);
    rewind(f);
    if (n <= 0) {
      die("%s is empty", path);
    }
    /* 64-byte aligned, with slack after the end so no parser's wide loads
     * can touch an unmapped page. */
    w->buf = aligned_alloc(64, ((size_t)n + 64 + 63) / 64 * 64);
    if (w->buf == NULL || fread(w->buf, 1, (size_t)n, f) != (size_t)n) {
      die("cannot read %s", path);
    }
    memset(w->buf + n, 0, 64);
    w->len = (size_t)n;
    fclose(f);
  }
}

static workload *find_workload(const char *name) {
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    if (strcmp(workloads[i].name, name) == 0 ||
        (strlen(name) == 2 && strncmp(workloads[i].name, name, 2) == 0)) {
      return &workloads[i];
    }
  }
  die("unknown workload %s", name);
}

/* ---- accumulator: what the timed loops compute --------------------------
 * Every parser hands every message to the same sink: the start line, the
 * header array (name/value spans), each body span, the trailers. While
 * timing, the sink only adds up counts and lengths (it does not read body
 * bytes); the totals must equal the verified per-iteration totals times the
 * iteration count, which proves the timed loop did all the work. */

typedef struct acc {
  uint64_t msgs;
  uint64_t fields;      /* header + trailer fields */
  uint64_t field_bytes; /* start-line items + names + values */
  uint64_t body_bytes;
} acc;

/* ---- text buffer for the canonical records ------------------------------ */

typedef struct tbuf {
  char *p;
  size_t len;
  size_t cap;
} tbuf;

static void tb_reserve(tbuf *t, size_t n) {
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 4096;
    while (t->len + n + 1 > cap) {
      cap *= 2;
    }
    t->p = realloc(t->p, cap);
    if (t->p == NULL) {
      die("out of memory");
    }
    t->cap = cap;
  }
}

static void tb_put(tbuf *t, const void *p, size_t n) {
  tb_reserve(t, n);
  if (n) {
    memcpy(t->p + t->len, p, n);
  }
  t->len += n;
  t->p[t->len] = 0;
}

static void tb_printf(tbuf *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tb_printf(tbuf *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  tb_reserve(t, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

/* Printable ASCII as is (backslash doubled), everything else as \xHH. */
static void tb_esc(tbuf *t, const void *vp, size_t n) {
  const uint8_t *p = vp;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      tb_put(t, &c, 1);
    } else {
      tb_printf(t, "\\x%02x", c);
    }
  }
}

static void tb_reset(tbuf *t) {
  t->len = 0;
  if (t->p) {
    t->p[0] = 0;
  }
}

/* ---- the sink: out ------------------------------------------------------ */

typedef struct out {
  acc a;
  /* Verification only (NULL while timing): */
  tbuf *text; /* the canonical record */
  tbuf body;  /* body bytes of the current message, concatenated */
} out;

/* All OUT_* take a compile-time constant V (1: build the record text). */

BENCH_INLINE void out_request(out *o, int V, const char *m, size_t ml,
                              const char *t, size_t tl, unsigned version) {
  o->a.field_bytes += ml + tl + version;
  if (V) {
    tb_printf(o->text, "message %" PRIu64 "\nmethod ", o->a.msgs);
    tb_esc(o->text, m, ml);
    tb_put(o->text, "\ntarget ", 8);
    tb_esc(o->text, t, tl);
    tb_printf(o->text, "\nversion %u\n", version);
    tb_reset(&o->body);
  }
}

BENCH_INLINE void out_response(out *o, int V, unsigned status, const char *r,
                               size_t rl, unsigned version) {
  o->a.field_bytes += status + rl + version;
  if (V) {
    tb_printf(o->text, "message %" PRIu64 "\nstatus %u\nreason ", o->a.msgs,
              status);
    tb_esc(o->text, r, rl);
    tb_printf(o->text, "\nversion %u\n", version);
    tb_reset(&o->body);
  }
}

/* |arr| is any array of structs with name, name_len, value, value_len. */
#define OUT_FIELDS(o, V, kindstr, arr, n)                                      \
  do {                                                                         \
    size_t n_ = (n);                                                           \
    (o)->a.fields += n_;                                                       \
    for (size_t i_ = 0; i_ < n_; i_++) {                                       \
      (o)->a.field_bytes += (arr)[i_].name_len + (arr)[i_].value_len;          \
      if (V) {                                                                 \
        tb_put((o)->text, kindstr " ", sizeof(kindstr));                       \
        tb_esc((o)->text, (arr)[i_].name, (arr)[i_].name_len);                 \
        tb_put((o)->text, ": ", 2);                                            \
        tb_esc((o)->text, (arr)[i_].value, (arr)[i_].value_len);               \
        tb_put((o)->text, "\n", 1);                                            \
      }                                                                        \
    }                                                                          \
  } while (0)

BENCH_INLINE void out_body(out *o, int V, const void *p, size_t n) {
  o->a.body_bytes += n;
  if (V) {
    tb_put(&o->body, p, n);
  }
}

/* Call OUT_END_BEGIN, then OUT_FIELDS(.., "trailer", ..), then out_end. */
BENCH_INLINE void out_end_begin(out *o, int V) {
  if (V) {
    tb_printf(o->text, "body %zu ", o->body.len);
    tb_esc(o->text, o->body.p, o->body.len);
    tb_put(o->text, "\n", 1);
  }
}

BENCH_INLINE void out_end(out *o, int V) {
  o->a.msgs++;
  if (V) {
    tb_put(o->text, "end\n", 4);
  }
}

#define OUT_END(o, V, tr, ntr)                                                 \
  do {                                                                         \
    out_end_begin((o), (V));                                                   \
    OUT_FIELDS((o), (V), "trailer", tr, ntr);                                  \
    out_end((o), (V));                                                         \
  } while (0)

static int acc_equal_times(const acc *got, const acc *ref, uint64_t iters) {
  return got->msgs == ref->msgs * iters && got->fields == ref->fields * iters &&
         got->field_bytes == ref->field_bytes * iters &&
         got->body_bytes == ref->body_bytes * iters;
}

static void acc_print(FILE *f, const acc *a) {
  fprintf(f,
          "msgs=%" PRIu64 " fields=%" PRIu64 " field_bytes=%" PRIu64
          " body_bytes=%" PRIu64,
          a->msgs, a->fields, a->field_bytes, a->body_bytes);
}

/* ---- clock, calibration, statistics ------------------------------------ */

/* The clock: this thread's CPU time by default, so that time the scheduler
 * gives to other processes on a shared machine is not counted (reading it
 * is a system call, ~0.4 us here, done once per measurement or per batch of
 * messages). BENCH_CLOCK=wall selects CLOCK_MONOTONIC instead. Both
 * processes read the variable, so the pico child follows the parent. */
static clockid_t bench_clock = CLOCK_THREAD_CPUTIME_ID;

static void bench_clock_init(void) {
  const char *e = getenv("BENCH_CLOCK");
  if (e != NULL && strcmp(e, "wall") == 0) {
    bench_clock = CLOCK_MONOTONIC;
  } else if (e != NULL && strcmp(e, "cpu") != 0 && e[0] != 0) {
    die("BENCH_CLOCK must be cpu or wall");
  }
}

__attribute__((unused)) static const char *bench_clock_name(void) {
  return bench_clock == CLOCK_MONOTONIC
             ? "wall clock (CLOCK_MONOTONIC)"
             : "thread CPU time (CLOCK_THREAD_CPUTIME_ID)";
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(bench_clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A runner parses |iters| iterations of |w| (each iteration = every message
 * of the workload once), adds to |a| and returns the nanoseconds spent in
 * the measured part, or 0 with *err set on failure. */
typedef uint64_t (*runner_fn)(void *ctx, const workload *w, uint64_t iters,
                              acc *a, int *err);

/* Runs |f| once with |iters| and checks the totals against |ref|. */
static uint64_t run_checked(runner_fn f, void *ctx, const workload *w,
                            uint64_t iters, const acc *ref, const char *who) {
  acc a;
  int err = 0;
  memset(&a, 0, sizeof(a));
  uint64_t ns = f(ctx, w, iters, &a, &err);
  if (err != 0) {
    die("%s: %s: parse error %d while timing", who, w->name, err);
  }
  if (!acc_equal_times(&a, ref, iters)) {
    fprintf(stderr,
            "%s: %s: timed totals differ from the verified ones\n  got  ", who,
            w->name);
    acc_print(stderr, &a);
    fprintf(stderr, "\n  want %" PRIu64 " x ", iters);
    acc_print(stderr, ref);
    fputc('\n', stderr);
    exit(2);
  }
  return ns ? ns : 1;
}

/* Returns the iteration count that takes about |seconds|. */
static uint64_t calibrate(runner_fn f, void *ctx, const workload *w,
                          const acc *ref, double seconds, const char *who) {
  uint64_t iters = 1;
  for (;;) {
    uint64_t ns = run_checked(f, ctx, w, iters, ref, who);
    if (ns >= 30000000u) {
      double want = (double)iters * seconds * 1e9 / (double)ns;
      return want < 1 ? 1 : (uint64_t)want;
    }
    if (ns < 1000000u) {
      iters *= 10;
    } else {
      iters = (uint64_t)((double)iters * 40e6 / (double)ns) + 1;
    }
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

__attribute__((unused)) static double median(double *v, size_t n) {
  qsort(v, n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void write_file(const char *path, const tbuf *t) {
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(t->p, 1, t->len, f) != t->len || fclose(f) != 0) {
    die("cannot write %s", path);
  }
}

/* The per-workload header line of a dump. */
static void dump_workload_header(tbuf *t, const workload *w) {
  tb_printf(t, "== workload %s (%s, %s, %s)\n", w->name, w->file,
            w->is_response ? "response" : "request",
            w->piece ? "pieces" : "whole");
}
