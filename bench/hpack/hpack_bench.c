/* HPACK throughput: zttp (src/hpack, from the static zttp_internal library)
 * against Debian's libnghttp2 (nghttp2_hd_inflate_hd2 /
 * nghttp2_hd_deflate_hd), interleaved in one process. See bench/README.md.
 *
 *   hpack_bench [--stories FILE] [--rounds N] [--seconds S] [--only NAME]
 *   hpack_bench --profile WORKLOAD LIB ITERATIONS   (for callgrind)
 *
 * Decode workloads: the wire blocks of the hpack-test-case stories of each
 * encoder (and all of them), every story decoded with one fresh decoder
 * per iteration (created and freed outside the clock), SETTINGS changes of
 * nghttp2-change-table-size applied as given. Encode workload: the header
 * lists of the raw-data stories, one fresh encoder per story per iteration.
 * Before timing, every decoder output is compared field by field between
 * the two libraries and every encoder output is decoded by the other
 * library; while timing, both sides add up the lengths they produced and
 * the totals are checked.
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nghttp2/nghttp2.h>

#include "hpack/hpack.h"
#include "stories.h"

#ifndef HPACK_STORIES_DEFAULT
#define HPACK_STORIES_DEFAULT "hpack-stories.txt"
#endif

#define NOINLINE __attribute__((noinline, used))

static void die(const char *msg, const char *detail) {
  fprintf(stderr, "hpack_bench: %s%s%s\n", msg, detail ? ": " : "",
          detail ? detail : "");
  exit(2);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- workloads ---------------------------------------------------------- */

typedef struct workload {
  const char *name;
  const char *prefix; /* story name prefix; NULL: every encoded story */
  int encode;
  const hs_story **stories;
  size_t num_stories;
  size_t blocks;     /* per iteration */
  size_t bytes;      /* wire bytes (decode) or name+value bytes (encode) */
  uint64_t check[2]; /* per side: the sum one iteration produces */
  nghttp2_nv **nvs;  /* encode: per story, per case */
} workload;

static workload workloads[] = {
    {.name = "decode-all"},
    {.name = "decode-nghttp2", .prefix = "nghttp2/"},
    {.name = "decode-change-table-size",
     .prefix = "nghttp2-change-table-size/"},
    {.name = "decode-go-hpack", .prefix = "go-hpack/"},
    {.name = "decode-python-hpack", .prefix = "python-hpack/"},
    {.name = "decode-swift-nio", .prefix = "swift-nio-hpack-plain-text/"},
    {.name = "encode-raw-data", .prefix = "raw-data/", .encode = 1},
};
#define NUM_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static hs_file vectors;
static uint8_t *encbuf;
static size_t encbuf_len = 1 << 20;

static void setup_workloads(void) {
  for (size_t w = 0; w < NUM_WORKLOADS; w++) {
    workload *wl = &workloads[w];
    wl->stories = calloc(vectors.num_stories, sizeof(*wl->stories));
    for (size_t i = 0; i < vectors.num_stories; i++) {
      const hs_story *st = &vectors.stories[i];
      int encoded = st->cases[0].wire != NULL;
      if (strncmp(st->name, "rfc7541/", 8) == 0) {
        continue;
      }
      if (wl->prefix != NULL
              ? strncmp(st->name, wl->prefix, strlen(wl->prefix)) != 0
              : !encoded) {
        continue;
      }
      wl->stories[wl->num_stories++] = st;
      for (size_t c = 0; c < st->num_cases; c++) {
        const hs_case *k = &st->cases[c];
        wl->blocks++;
        if (wl->encode) {
          for (size_t h = 0; h < k->num_headers; h++) {
            wl->bytes += k->headers[h].name_len + k->headers[h].value_len;
          }
        } else {
          wl->bytes += k->wire_len;
        }
      }
    }
    if (wl->encode) {
      wl->nvs = calloc(wl->num_stories, sizeof(*wl->nvs));
      for (size_t s = 0; s < wl->num_stories; s++) {
        const hs_story *st = wl->stories[s];
        size_t total = 0;
        for (size_t c = 0; c < st->num_cases; c++) {
          total += st->cases[c].num_headers;
        }
        nghttp2_nv *nv = calloc(total + 1, sizeof(*nv));
        wl->nvs[s] = nv;
        for (size_t c = 0; c < st->num_cases; c++) {
          const hs_case *k = &st->cases[c];
          for (size_t h = 0; h < k->num_headers; h++, nv++) {
            nv->name = (uint8_t *)(uintptr_t)k->headers[h].name;
            nv->namelen = k->headers[h].name_len;
            nv->value = (uint8_t *)(uintptr_t)k->headers[h].value;
            nv->valuelen = k->headers[h].value_len;
          }
        }
      }
    }
  }
}

/* ---- the four measured functions ----------------------------------------
 * Each runs |iters| iterations of a workload and returns the sum of the
 * lengths it produced (decoded name + value lengths, or encoded bytes).
 * Decoders and encoders are created before and freed after the clock. */

typedef struct sides {
  zttp_hpack_decoder *zd;
  nghttp2_hd_inflater **nd;
  zttp_hpack_encoder *ze;
  nghttp2_hd_deflater **ne;
} sides;

static zttp_hpack_fields zfields;

static void make_sides(const workload *wl, sides *s, int which) {
  size_t n = wl->num_stories;
  memset(s, 0, sizeof(*s));
  if (wl->encode) {
    if (which == 0) {
      s->ze = calloc(n, sizeof(*s->ze));
      for (size_t i = 0; i < n; i++) {
        if (zttp_hpack_encoder_init(&s->ze[i], zttp_mem_default(), 4096) != 0) {
          die("zttp_hpack_encoder_init", NULL);
        }
      }
    } else {
      s->ne = calloc(n, sizeof(*s->ne));
      for (size_t i = 0; i < n; i++) {
        if (nghttp2_hd_deflate_new(&s->ne[i], 4096) != 0) {
          die("nghttp2_hd_deflate_new", NULL);
        }
      }
    }
  } else if (which == 0) {
    s->zd = calloc(n, sizeof(*s->zd));
    for (size_t i = 0; i < n; i++) {
      if (zttp_hpack_decoder_init(&s->zd[i], zttp_mem_default(), 4096) != 0) {
        die("zttp_hpack_decoder_init", NULL);
      }
    }
  } else {
    s->nd = calloc(n, sizeof(*s->nd));
    for (size_t i = 0; i < n; i++) {
      if (nghttp2_hd_inflate_new(&s->nd[i]) != 0) {
        die("nghttp2_hd_inflate_new", NULL);
      }
    }
  }
}

static void free_sides(const workload *wl, sides *s) {
  for (size_t i = 0; i < wl->num_stories; i++) {
    if (s->zd != NULL) {
      zttp_hpack_decoder_free(&s->zd[i]);
    }
    if (s->nd != NULL) {
      nghttp2_hd_inflate_del(s->nd[i]);
    }
    if (s->ze != NULL) {
      zttp_hpack_encoder_free(&s->ze[i]);
    }
    if (s->ne != NULL) {
      nghttp2_hd_deflate_del(s->ne[i]);
    }
  }
  free(s->zd);
  free(s->nd);
  free(s->ze);
  free(s->ne);
}

NOINLINE static uint64_t measured_zttp_decode(const workload *wl, sides *s) {
  uint64_t sum = 0;
  for (size_t i = 0; i < wl->num_stories; i++) {
    const hs_story *st = wl->stories[i];
    zttp_hpack_decoder *d = &s->zd[i];
    for (size_t c = 0; c < st->num_cases; c++) {
      const hs_case *k = &st->cases[c];
      if (k->table_size >= 0) {
        d->settings_max = (size_t)k->table_size;
      }
      if (zttp_hpack_decode(d, &zfields, k->wire, k->wire_len, 1000, 1 << 20) !=
          0) {
        die("zttp decode failed in", st->name);
      }
      for (size_t f = 0; f < zfields.num_fields; f++) {
        sum += zfields.fields[f].name_len + zfields.fields[f].value_len;
      }
    }
  }
  return sum;
}

NOINLINE static uint64_t measured_nghttp2_decode(const workload *wl, sides *s) {
  uint64_t sum = 0;
  for (size_t i = 0; i < wl->num_stories; i++) {
    const hs_story *st = wl->stories[i];
    nghttp2_hd_inflater *inf = s->nd[i];
    for (size_t c = 0; c < st->num_cases; c++) {
      const hs_case *k = &st->cases[c];
      if (k->table_size >= 0 && nghttp2_hd_inflate_change_table_size(
                                    inf, (size_t)k->table_size) != 0) {
        die("nghttp2_hd_inflate_change_table_size", NULL);
      }
      const uint8_t *in = k->wire;
      size_t len = k->wire_len;
      for (;;) {
        nghttp2_nv nv;
        int fl = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, len, 1);
        if (rv < 0) {
          die("nghttp2 inflate failed in", st->name);
        }
        in += rv;
        len -= (size_t)rv;
        if (fl & NGHTTP2_HD_INFLATE_EMIT) {
          sum += nv.namelen + nv.valuelen;
        }
        if (fl & NGHTTP2_HD_INFLATE_FINAL) {
          nghttp2_hd_inflate_end_headers(inf);
          break;
        }
      }
    }
  }
  return sum;
}

NOINLINE static uint64_t measured_zttp_encode(const workload *wl, sides *s) {
  uint64_t sum = 0;
  for (size_t i = 0; i < wl->num_stories; i++) {
    const hs_story *st = wl->stories[i];
    zttp_hpack_encoder *e = &s->ze[i];
    for (size_t c = 0; c < st->num_cases; c++) {
      const hs_case *k = &st->cases[c];
      sum += zttp_hpack_encode(e, encbuf, k->headers, k->num_headers);
    }
  }
  return sum;
}

NOINLINE static uint64_t measured_nghttp2_encode(const workload *wl, sides *s) {
  uint64_t sum = 0;
  for (size_t i = 0; i < wl->num_stories; i++) {
    const hs_story *st = wl->stories[i];
    nghttp2_hd_deflater *def = s->ne[i];
    const nghttp2_nv *nv = wl->nvs[i];
    for (size_t c = 0; c < st->num_cases; c++) {
      const hs_case *k = &st->cases[c];
      ssize_t n =
          nghttp2_hd_deflate_hd(def, encbuf, encbuf_len, nv, k->num_headers);
      if (n < 0) {
        die("nghttp2 deflate failed in", st->name);
      }
      sum += (uint64_t)n;
      nv += k->num_headers;
    }
  }
  return sum;
}

/* Runs |iters| iterations of side |which| (0 zttp, 1 nghttp2); returns the
 * seconds on the clock and checks the sums. */
static double run(workload *wl, int which, long iters) {
  double total = 0;
  for (long it = 0; it < iters; it++) {
    sides s;
    make_sides(wl, &s, which);
    double t0 = now();
    uint64_t sum;
    if (wl->encode) {
      sum = which == 0 ? measured_zttp_encode(wl, &s)
                       : measured_nghttp2_encode(wl, &s);
    } else {
      sum = which == 0 ? measured_zttp_decode(wl, &s)
                       : measured_nghttp2_decode(wl, &s);
    }
    total += now() - t0;
    free_sides(wl, &s);
    /* Decoders: the same fields on both sides. Encoders: each its own
     * output, the same every iteration. */
    uint64_t want = wl->check[which];
    if (sum != want) {
      fprintf(stderr, "hpack_bench: %s: %s produced %llu, expected %llu\n",
              wl->name, which == 0 ? "zttp" : "nghttp2",
              (unsigned long long)sum, (unsigned long long)want);
      exit(1);
    }
  }
  return total;
}

/* ---- verification ---------------------------------------------------------
 * Decode: both libraries give the same fields for every block. Encode:
 * zttp's blocks decode with nghttp2 and nghttp2's with zttp to the lists.
 * Sets wl->check. */

static void verify(workload *wl) {
  if (!wl->encode) {
    uint64_t sum = 0;
    for (size_t i = 0; i < wl->num_stories; i++) {
      const hs_story *st = wl->stories[i];
      zttp_hpack_decoder d;
      nghttp2_hd_inflater *inf;
      if (zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096) != 0 ||
          nghttp2_hd_inflate_new(&inf) != 0) {
        die("init", NULL);
      }
      for (size_t c = 0; c < st->num_cases; c++) {
        const hs_case *k = &st->cases[c];
        if (k->table_size >= 0) {
          d.settings_max = (size_t)k->table_size;
          nghttp2_hd_inflate_change_table_size(inf, (size_t)k->table_size);
        }
        if (zttp_hpack_decode(&d, &zfields, k->wire, k->wire_len, 1000,
                              1 << 20) != 0) {
          die("zttp decode failed in", st->name);
        }
        const uint8_t *in = k->wire;
        size_t len = k->wire_len;
        size_t n = 0;
        for (;;) {
          nghttp2_nv nv;
          int fl = 0;
          ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, len, 1);
          if (rv < 0) {
            die("nghttp2 inflate failed in", st->name);
          }
          in += rv;
          len -= (size_t)rv;
          if (fl & NGHTTP2_HD_INFLATE_EMIT) {
            if (n >= zfields.num_fields) {
              die("zttp decodes fewer fields", st->name);
            }
            const zttp_header *f = &zfields.fields[n++];
            if (f->name_len != nv.namelen || f->value_len != nv.valuelen ||
                memcmp(f->name, nv.name, nv.namelen) != 0 ||
                memcmp(f->value, nv.value, nv.valuelen) != 0 ||
                (f->flags != 0) !=
                    ((nv.flags & NGHTTP2_NV_FLAG_NO_INDEX) != 0)) {
              die("zttp and nghttp2 decode differently", st->name);
            }
            sum += nv.namelen + nv.valuelen;
          }
          if (fl & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inf);
            break;
          }
        }
        if (n != zfields.num_fields || n != k->num_headers) {
          die("field counts differ", st->name);
        }
      }
      zttp_hpack_decoder_free(&d);
      nghttp2_hd_inflate_del(inf);
    }
    wl->check[0] = sum;
    wl->check[1] = sum;
    return;
  }
  /* Encode: cross-decode; each side's check is its output's length. */
  uint64_t zbytes = 0;
  uint64_t nbytes = 0;
  for (size_t i = 0; i < wl->num_stories; i++) {
    const hs_story *st = wl->stories[i];
    zttp_hpack_encoder e;
    zttp_hpack_decoder d;
    nghttp2_hd_deflater *def;
    nghttp2_hd_inflater *inf;
    if (zttp_hpack_encoder_init(&e, zttp_mem_default(), 4096) != 0 ||
        zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096) != 0 ||
        nghttp2_hd_deflate_new(&def, 4096) != 0 ||
        nghttp2_hd_inflate_new(&inf) != 0) {
      die("init", NULL);
    }
    const nghttp2_nv *nvs = wl->nvs[i];
    for (size_t c = 0; c < st->num_cases; c++) {
      const hs_case *k = &st->cases[c];
      if (zttp_hpack_encode_bound(&e, k->headers, k->num_headers) >
          encbuf_len) {
        die("encode buffer too small", st->name);
      }
      size_t zl = zttp_hpack_encode(&e, encbuf, k->headers, k->num_headers);
      zbytes += zl;
      const uint8_t *in = encbuf;
      size_t len = zl;
      size_t n = 0;
      for (;;) {
        nghttp2_nv nv;
        int fl = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, len, 1);
        if (rv < 0) {
          die("nghttp2 cannot decode zttp's block", st->name);
        }
        in += rv;
        len -= (size_t)rv;
        if (fl & NGHTTP2_HD_INFLATE_EMIT) {
          if (n >= k->num_headers) {
            die("nghttp2 decodes more fields", st->name);
          }
          const zttp_header *h = &k->headers[n++];
          if (h->name_len != nv.namelen || h->value_len != nv.valuelen ||
              memcmp(h->name, nv.name, nv.namelen) != 0 ||
              memcmp(h->value, nv.value, nv.valuelen) != 0) {
            die("nghttp2 decodes zttp's block differently", st->name);
          }
        }
        if (fl & NGHTTP2_HD_INFLATE_FINAL) {
          nghttp2_hd_inflate_end_headers(inf);
          break;
        }
      }
      if (n != k->num_headers) {
        die("field count differs", st->name);
      }
      ssize_t nl =
          nghttp2_hd_deflate_hd(def, encbuf, encbuf_len, nvs, k->num_headers);
      if (nl < 0 ||
          zttp_hpack_decode(&d, &zfields, encbuf, (size_t)nl, 1000, 1 << 20) !=
              0 ||
          zfields.num_fields != k->num_headers) {
        die("zttp cannot decode nghttp2's block", st->name);
      }
      for (size_t h = 0; h < k->num_headers; h++) {
        const zttp_header *f = &zfields.fields[h];
        if (f->name_len != k->headers[h].name_len ||
            f->value_len != k->headers[h].value_len ||
            memcmp(f->name, k->headers[h].name, f->name_len) != 0 ||
            memcmp(f->value, k->headers[h].value, f->value_len) != 0) {
          die("zttp decodes nghttp2's block differently", st->name);
        }
      }
      nbytes += (uint64_t)nl;
      nvs += k->num_headers;
    }
    zttp_hpack_encoder_free(&e);
    zttp_hpack_decoder_free(&d);
    nghttp2_hd_deflate_del(def);
    nghttp2_hd_inflate_del(inf);
  }
  wl->check[0] = zbytes;
  wl->check[1] = nbytes;
  printf("# %s: zttp %llu bytes, nghttp2 %llu bytes (%.1f%% of %zu input)\n",
         wl->name, (unsigned long long)zbytes, (unsigned long long)nbytes,
         100.0 * (double)zbytes / (double)wl->bytes, wl->bytes);
}

/* ---- main --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a;
  double y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long calibrate(workload *wl, int which, double seconds) {
  long iters = 1;
  for (;;) {
    double t = run(wl, which, iters);
    if (t >= seconds / 4 || iters > (1L << 24)) {
      long want = (long)((double)iters * seconds / (t > 0 ? t : 1e-9));
      return want < 1 ? 1 : want;
    }
    iters *= 4;
  }
}

int main(int argc, char **argv) {
  const char *path = HPACK_STORIES_DEFAULT;
  int rounds = 7;
  double seconds = 0.3;
  const char *only = NULL;
  const char *profile = NULL;
  int profile_side = 0;
  long profile_iters = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--stories") == 0 && i + 1 < argc) {
      path = argv[++i];
    } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = atof(argv[++i]);
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (strcmp(argv[i], "--profile") == 0 && i + 3 < argc) {
      profile = argv[++i];
      profile_side = strcmp(argv[++i], "zttp") == 0 ? 0 : 1;
      profile_iters = atol(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: %s [--stories FILE] [--rounds N] [--seconds S] "
              "[--only WORKLOAD]\n"
              "       %s --profile WORKLOAD zttp|nghttp2 ITERATIONS\n",
              argv[0], argv[0]);
      return 2;
    }
  }
  if (rounds < 1) {
    rounds = 1;
  }
  if (hs_load(&vectors, path) != 0) {
    die("cannot load the stories (--stories FILE)", path);
  }
  encbuf = malloc(encbuf_len);
  setup_workloads();
  for (size_t w = 0; w < NUM_WORKLOADS; w++) {
    verify(&workloads[w]);
  }

  if (profile != NULL) {
    for (size_t w = 0; w < NUM_WORKLOADS; w++) {
      if (strcmp(workloads[w].name, profile) == 0) {
        run(&workloads[w], profile_side, profile_iters);
        return 0;
      }
    }
    die("unknown workload", profile);
  }

  printf("# zttp vs nghttp2 %s HPACK; clock: thread CPU time; %d rounds of "
         "~%.2fs per side; medians\n",
         NGHTTP2_VERSION, rounds, seconds);
  printf("%-26s %6s %8s %10s %10s %10s %10s %7s\n", "workload", "stories",
         "blocks", "KB/iter", "zttp MB/s", "ng MB/s", "zttp blk/s", "ratio");
  for (size_t w = 0; w < NUM_WORKLOADS; w++) {
    workload *wl = &workloads[w];
    if (only != NULL && strcmp(only, wl->name) != 0) {
      continue;
    }
    long iz = calibrate(wl, 0, seconds);
    long in = calibrate(wl, 1, seconds);
    double rz[64], rn[64], ratio[64];
    int nr = rounds < 64 ? rounds : 64;
    for (int r = 0; r < nr; r++) {
      double tz = run(wl, 0, iz);
      double tn = run(wl, 1, in);
      rz[r] = (double)wl->bytes * (double)iz / tz / 1e6;
      rn[r] = (double)wl->bytes * (double)in / tn / 1e6;
      ratio[r] = rz[r] / rn[r];
    }
    double mz = median(rz, nr);
    double mn = median(rn, nr);
    double mr = median(ratio, nr);
    printf("%-26s %6zu %8zu %10.1f %10.1f %10.1f %10.0f %7.2f\n", wl->name,
           wl->num_stories, wl->blocks, (double)wl->bytes / 1024, mz, mn,
           mz * 1e6 / (double)wl->bytes * (double)wl->blocks, mr);
    fflush(stdout);
  }
  printf("# MB/s: decode = wire bytes in, encode = name+value bytes in; "
         "ratio = zttp/nghttp2 (median of per-round ratios), > 1: zttp "
         "faster\n");
  zttp_hpack_fields_free(&zfields, zttp_mem_default());
  free(encbuf);
  hs_free(&vectors);
  return 0;
}
