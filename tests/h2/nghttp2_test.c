/* Interop between the zttp HTTP/2 engine and libnghttp2, in memory: an
 * nghttp2 client session against a zttp server connection and a zttp client
 * against an nghttp2 server session, exchanging over a thousand requests each
 * way over up to 100 concurrent streams (bodies, trailers, 1xx, resets from
 * both sides, a graceful GOAWAY), every header and body byte compared; then
 * focused cases (exact headers, CONTINUATION, large frames, window changes,
 * PING, PRIORITY_UPDATE) and the regressions they found.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "h2_util.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Added to the workload seeds (-DNG_SEED=n runs other workloads). */
#ifndef NG_SEED
#define NG_SEED 0
#endif

/* ---- faults: collected, reported at the end of a test ------------------ */

static h_str g_faults;
static size_t g_num_faults;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void
faultf(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  g_num_faults++;
  if (g_num_faults > 40) {
    return;
  }
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  h_str_adds(&g_faults, buf);
  h_str_adds(&g_faults, "\n");
}

static void faults_check(const char *what) {
  if (g_num_faults > 0) {
    print_error("%s: %zu fault(s):\n", what, g_num_faults);
    const char *p = h_str_cstr(&g_faults);
    while (*p != '\0') {
      const char *nl = strchr(p, '\n');
      size_t n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
      print_error("%.*s", (int)n, p);
      p += n;
    }
    h_str_free(&g_faults);
    g_num_faults = 0;
    fail();
  }
  h_str_free(&g_faults);
}

/* ---- small helpers ------------------------------------------------------ */

static uint8_t *u8(const char *s) {
  return (uint8_t *)(uintptr_t)s;
}

static nghttp2_nv mknv(const char *n, size_t nl, const char *v, size_t vl) {
  nghttp2_nv nv = {u8(n), u8(v), nl, vl, NGHTTP2_NV_FLAG_NONE};
  return nv;
}

static nghttp2_nv nvs(const char *n, const char *v) {
  return mknv(n, strlen(n), v, strlen(v));
}

static void hs_clear(h_str *s) {
  s->len = 0;
  if (s->p != NULL) {
    s->p[0] = '\0';
  }
}

static void hs_copy(h_str *dst, const h_str *src) {
  hs_clear(dst);
  h_str_add(dst, h_str_cstr(src), src->len);
}

/* One "name=value\n" line, escaped as in transcripts. */
static void hl_add(h_str *s, const void *n, size_t nl, const void *v,
                   size_t vl) {
  h_str_add_escaped(s, n, nl);
  h_str_adds(s, "=");
  h_str_add_escaped(s, v, vl);
  h_str_adds(s, "\n");
}

static void hl_zttp(h_str *s, const zttp_header *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    hl_add(s, h[i].name, h[i].name_len, h[i].value, h[i].value_len);
  }
}

/* ---- deterministic data ------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
  /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint32_t rng_below(uint64_t *s, uint32_t n) {
  return (uint32_t)(rng_next(s) % n);
}

/* Body bytes: a random table of prime length, offset by a per-body key. */
#define PAT_LEN 65521u
static uint8_t g_pat[PAT_LEN];

static void pat_init(void) {
  uint64_t s = 0x5eed;
  for (size_t i = 0; i < PAT_LEN; i++) {
    g_pat[i] = (uint8_t)rng_next(&s);
  }
}

static void body_fill(uint8_t *dst, uint32_t key, uint64_t off, size_t n) {
  size_t p = (size_t)((off + (uint64_t)key * 7919u) % PAT_LEN);
  uint8_t x = (uint8_t)(key * 31u);
  for (size_t i = 0; i < n; i++) {
    dst[i] = g_pat[p] ^ x;
    if (++p == PAT_LEN) {
      p = 0;
    }
  }
}

/* Returns the index of the first byte of |d| that differs from the body
 * |key| at |off|, or n. */
static size_t body_cmp(const uint8_t *d, size_t n, uint32_t key, uint64_t off) {
  size_t p = (size_t)((off + (uint64_t)key * 7919u) % PAT_LEN);
  uint8_t x = (uint8_t)(key * 31u);
  for (size_t i = 0; i < n; i++) {
    if (d[i] != (g_pat[p] ^ x)) {
      return i;
    }
    if (++p == PAT_LEN) {
      p = 0;
    }
  }
  return n;
}

#define FNV_INIT 0xcbf29ce484222325ull

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h = (h ^ p[i]) * 0x100000001b3ull;
  }
  return h;
}

/* ---- the workload -------------------------------------------------------- */

enum { M_GET, M_POST, M_HEAD };
enum { R_NONE, R_CLIENT_BODY, R_CLIENT_RESP, R_SERVER_HEAD, R_SERVER_MID };

/* Bytes held back at the end of a response whose client resets it. */
#define STALL 16384u
/* Key offset of generated (not echoed) response bodies. */
#define GEN_KEY 0x10000u

typedef struct spec {
  uint32_t idx;
  uint8_t method;
  uint8_t reset;
  uint8_t expect_100;    /* request has expect: 100-continue */
  uint8_t early_hints;   /* a 103 precedes the final response */
  uint8_t req_trailers;  /* request trailers */
  uint8_t resp_trailers; /* response trailers */
  uint8_t req_cl;        /* request declares content-length */
  uint8_t resp_cl;       /* response declares content-length */
  uint8_t obs_text;      /* a field value with obs-text bytes */
  uint8_t end_with_data; /* END_STREAM on the last DATA, not end_message */
  uint8_t echo;          /* the response middle echoes the request body */
  uint32_t status;
  uint32_t reset_code;
  uint64_t reset_at;
  size_t req_len;
  size_t resp_len; /* generated middle (when not echoing) */
  uint32_t pad_len;
  uint64_t req_sum;
  char path[64];
} spec;

static const size_t g_sizes[] = {0, 1, 100, 16384, 70000, 300000};
static const uint32_t g_size_weights[] = {15, 10, 25, 25, 17, 8};
static const uint32_t g_codes[] = {0x0, 0x2, 0x8, 0xb};
static const char g_obs[] = "caf\xc3\xa9 \x80\xff~";

static const char *method_name(uint8_t m) {
  return m == M_GET ? "GET" : m == M_POST ? "POST" : "HEAD";
}

static int bodyless(const spec *s) {
  return s->method == M_HEAD || s->status == 204 || s->status == 304;
}

static size_t middle_len(const spec *s) {
  if (bodyless(s)) {
    return 0;
  }
  return s->echo ? s->req_len : s->resp_len;
}

static size_t pick_size(uint64_t *r) {
  uint32_t x = rng_below(r, 100);
  for (size_t i = 0; i < COUNT_OF(g_sizes); i++) {
    if (x < g_size_weights[i]) {
      return g_sizes[i];
    }
    x -= g_size_weights[i];
  }
  return 0;
}

/* |echo|: POST responses echo the request body (part 1), else they carry a
 * generated body. Specs from |plain_from| on have no resets and no 1xx. */
static void make_specs(spec *specs, size_t n, uint64_t seed, int echo,
                       size_t plain_from) {
  uint64_t r = seed;
  uint8_t *buf = malloc(65536);
  assert_non_null(buf);
  for (size_t i = 0; i < n; i++) {
    spec *s = &specs[i];
    memset(s, 0, sizeof(*s));
    s->idx = (uint32_t)i;
    uint32_t m = rng_below(&r, 100);
    s->method = m < 45 ? M_GET : m < 90 ? M_POST : M_HEAD;
    s->echo = (uint8_t)(echo && s->method == M_POST);
    if (s->method == M_POST) {
      s->req_len = pick_size(&r);
    }
    if (s->method != M_HEAD) {
      s->resp_len = pick_size(&r);
    }
    uint32_t st = rng_below(&r, 100);
    s->status = s->method == M_HEAD ? 200 : st < 7 ? 204 : st < 12 ? 304 : 200;
    s->expect_100 =
        s->method == M_POST && s->req_len > 0 && rng_below(&r, 4) == 0;
    s->early_hints = rng_below(&r, 10) == 0;
    s->req_trailers = s->method == M_POST && rng_below(&r, 4) == 0;
    s->resp_trailers = !bodyless(s) && rng_below(&r, 4) == 0;
    s->req_cl = s->method == M_POST && rng_below(&r, 2) == 0;
    s->resp_cl = !bodyless(s) && rng_below(&r, 5) < 2;
    s->obs_text = rng_below(&r, 10) == 0;
    s->end_with_data = (uint8_t)rng_below(&r, 2);
    s->pad_len =
        rng_below(&r, 4) == 0 ? 300 + rng_below(&r, 700) : rng_below(&r, 60);
    s->reset_code = g_codes[rng_below(&r, COUNT_OF(g_codes))];
    uint32_t rr = rng_below(&r, 100);
    size_t mid = middle_len(s);
    int big_req = s->method == M_POST && s->req_len >= 70000;
    if (rr < 3) {
      s->reset = R_SERVER_HEAD;
    } else if (rr < 23 && big_req) {
      s->reset = R_CLIENT_BODY;
      s->reset_at = 1 + rng_below(&r, (uint32_t)(s->req_len - STALL - 1));
    } else if (rr >= 23 && rr < 38 && mid >= 70000) {
      s->reset = R_CLIENT_RESP;
      s->reset_at = 1 + rng_below(&r, (uint32_t)(mid - STALL - 1));
    } else if (rr >= 38 && rr < 53 && big_req) {
      s->reset = R_SERVER_MID;
      s->reset_at = 1 + rng_below(&r, (uint32_t)(s->req_len - STALL - 1));
    } else if (rr >= 38 && rr < 53 && s->method == M_GET && mid >= 70000) {
      s->reset = R_SERVER_MID;
      s->reset_at = 1 + rng_below(&r, (uint32_t)(mid - STALL - 1));
    }
    if (i >= plain_from) {
      s->reset = R_NONE;
      s->expect_100 = 0;
      s->early_hints = 0;
    }
    snprintf(s->path, sizeof(s->path), "/r/%zu?m=%s&n=%zu", i,
             method_name(s->method), s->req_len);
    uint64_t h = FNV_INIT;
    for (size_t off = 0; off < s->req_len; off += 65536) {
      size_t k = s->req_len - off < 65536 ? s->req_len - off : 65536;
      body_fill(buf, s->idx, off, k);
      h = fnv(h, buf, k);
    }
    s->req_sum = h;
  }
  free(buf);
}

/* A one-line description of |s| for fault messages (static storage). */
static const char *spec_desc(const spec *s) {
  static char buf[256];
  snprintf(buf, sizeof(buf),
           "[idx %u %s %u req %zu resp %zu reset %u@%llu code %u 100:%u "
           "103:%u trailers %u/%u cl %u/%u]",
           s->idx, method_name(s->method), s->status, s->req_len, s->resp_len,
           s->reset, (unsigned long long)s->reset_at, s->reset_code,
           s->expect_100, s->early_hints, s->req_trailers, s->resp_trailers,
           s->req_cl, s->resp_cl);
  return buf;
}

/* Field lists shared by both directions. */
typedef struct fields {
  size_t n;
  const char *name[16];
  const char *value[16];
  char store[1600];
  size_t used;
} fields;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
fl_addf(fields *f, const char *name, const char *fmt, ...) {
  va_list ap;
  char *dst = f->store + f->used;
  va_start(ap, fmt);
  int n = vsnprintf(dst, sizeof(f->store) - f->used, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t)n < sizeof(f->store) - f->used);
  f->used += (size_t)n + 1;
  assert_true(f->n < COUNT_OF(f->name));
  f->name[f->n] = name;
  f->value[f->n] = dst;
  f->n++;
}

static void fl_text(h_str *s, const fields *f) {
  for (size_t i = 0; i < f->n; i++) {
    char lname[64];
    size_t k = 0;
    for (; f->name[i][k] != '\0' && k + 1 < sizeof(lname); k++) {
      char c = f->name[i][k];
      lname[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    hl_add(s, lname, k, f->value[i], strlen(f->value[i]));
  }
}

static size_t fl_zttp(zttp_header *out, const fields *f) {
  for (size_t i = 0; i < f->n; i++) {
    out[i] = h_hdr(f->name[i], f->value[i]);
  }
  return f->n;
}

static void pad_text(char *dst, uint32_t idx, uint32_t n) {
  static const char abc[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
  for (uint32_t i = 0; i < n; i++) {
    dst[i] = abc[(idx * 7u + i * 13u) % (sizeof(abc) - 1)];
  }
  dst[n] = '\0';
}

/* The request's regular fields. |mixed| uses mixed-case names (zttp
 * lowercases them) and a Host field. */
static void req_fields(fields *f, const spec *s, int mixed) {
  char pad[1024];
  memset(f, 0, sizeof(*f));
  if (mixed) {
    fl_addf(f, "Host", "ng.test");
  }
  fl_addf(f, mixed ? "User-Agent" : "user-agent", "zttp-interop/1");
  fl_addf(f, mixed ? "X-Idx" : "x-idx", "%u", s->idx);
  pad_text(pad, s->idx, s->pad_len);
  fl_addf(f, "x-pad", "%s", pad);
  if (s->obs_text) {
    fl_addf(f, "x-obs", "%s", g_obs);
  }
  if (s->req_cl) {
    fl_addf(f, mixed ? "Content-Length" : "content-length", "%zu", s->req_len);
  }
  if (s->expect_100) {
    fl_addf(f, "expect", "100-continue");
  }
  if (s->resp_trailers) {
    fl_addf(f, "te", "trailers");
  }
}

static void req_trailer_fields(fields *f, const spec *s) {
  memset(f, 0, sizeof(*f));
  fl_addf(f, "x-req-sum", "%016llx", (unsigned long long)s->req_sum);
  fl_addf(f, "x-req-idx", "%u", s->idx);
}

static void resp_trailer_fields(fields *f, const spec *s, uint64_t sum) {
  memset(f, 0, sizeof(*f));
  fl_addf(f, "x-checksum", "%016llx", (unsigned long long)sum);
  fl_addf(f, "x-idx-end", "%u", s->idx);
}

static void early_fields(fields *f, const spec *s) {
  memset(f, 0, sizeof(*f));
  fl_addf(f, "link", "</s/%u.css>; rel=preload", s->idx);
}

static size_t prefix_text(char *dst, size_t cap, const spec *s) {
  int n = snprintf(dst, cap, "zttp %u %s %s\n", s->idx, method_name(s->method),
                   s->path);
  assert_true(n > 0 && (size_t)n < cap);
  return (size_t)n;
}

static size_t suffix_text(char *dst, size_t cap, uint64_t req_bytes,
                          uint64_t sum, uint32_t ntr) {
  int n = snprintf(dst, cap, "req=%010llu sum=%016llx tr=%u\n",
                   (unsigned long long)req_bytes, (unsigned long long)sum, ntr);
  assert_true(n > 0 && (size_t)n < cap);
  return (size_t)n;
}

#define SUFFIX_LEN 41u

static uint64_t resp_total(const spec *s) {
  char pre[160];
  return prefix_text(pre, sizeof(pre), s) + middle_len(s) + SUFFIX_LEN;
}

/* The final response head's fields. Bodyless responses carry the request
 * checksum, since they are sent once the request is complete. */
static void resp_fields(fields *f, const spec *s, uint64_t sum, uint32_t ntr) {
  memset(f, 0, sizeof(*f));
  if (s->status == 200) {
    fl_addf(f, "content-type", "application/octet-stream");
  }
  fl_addf(f, "x-idx", "%u", s->idx);
  if (s->obs_text) {
    fl_addf(f, "x-obs", "%s", g_obs);
  }
  if (s->method == M_HEAD) {
    fl_addf(f, "content-length", "%u", 1000 + s->idx);
  } else if (s->resp_cl && !bodyless(s)) {
    fl_addf(f, "content-length", "%llu", (unsigned long long)resp_total(s));
  }
  if (s->status == 304) {
    fl_addf(f, "etag", "\"e%u\"", s->idx);
  }
  if (bodyless(s)) {
    fl_addf(f, "x-sum", "%016llx", (unsigned long long)sum);
    fl_addf(f, "x-tr", "%u", ntr);
  }
}

/* What the client must see: 1xx lines, head fields, trailers. */
static void expect_info(h_str *s, const spec *sp) {
  if (sp->expect_100) {
    h_str_adds(s, "100\n");
  }
  if (sp->early_hints) {
    fields f;
    early_fields(&f, sp);
    h_str_adds(s, "103\n");
    fl_text(s, &f);
  }
}

/* Checks |n| response body bytes at |off| against prefix + middle + suffix.
 * Returns the offset of the first wrong byte, or UINT64_MAX. */
static uint64_t resp_check(const spec *s, uint64_t off, const uint8_t *d,
                           size_t n) {
  char pre[160];
  char suf[64];
  size_t pre_len = prefix_text(pre, sizeof(pre), s);
  uint64_t mid = middle_len(s);
  suffix_text(suf, sizeof(suf), s->req_len, s->req_sum,
              s->req_trailers ? 2u : 0u);
  uint32_t key = s->echo ? s->idx : s->idx + GEN_KEY;
  size_t i = 0;
  while (i < n) {
    uint64_t o = off + i;
    if (o < pre_len) {
      if (d[i] != (uint8_t)pre[o]) {
        return o;
      }
      i++;
    } else if (o < pre_len + mid) {
      size_t k = n - i;
      if (k > pre_len + mid - o) {
        k = (size_t)(pre_len + mid - o);
      }
      size_t bad = body_cmp(d + i, k, key, o - pre_len);
      if (bad != k) {
        return o + bad;
      }
      i += k;
    } else if (o < pre_len + mid + SUFFIX_LEN) {
      if (d[i] != (uint8_t)suf[o - pre_len - mid]) {
        return o;
      }
      i++;
    } else {
      return o;
    }
  }
  return UINT64_MAX;
}

/* ======================================================================== */
/* Part 1: nghttp2 client -> zttp server                                    */
/* ======================================================================== */

#define MAX_INFLIGHT 100
#define P1_MAIN 1000
#define P1_EXTRA 300

enum { BLK_NONE, BLK_UNKNOWN, BLK_FLOW, BLK_ROOM };
enum { PH_INFO, PH_HEAD, PH_BODY, PH_END, PH_DONE };

/* The zttp server application's view of one request. */
typedef struct srv_stream {
  int64_t id;
  uint8_t seen, open, req_done, did_reset, reset_seen, sent100, sent103;
  uint8_t phase, blk, suf_built;
  uint32_t ntr;
  uint64_t req_bytes, sum;
  uint8_t *echo;
  size_t echo_len, echo_cap;
  char pre[160];
  size_t pre_len, pre_sent;
  uint64_t mid_sent;
  char suf[64];
  size_t suf_len, suf_sent;
} srv_stream;

/* The nghttp2 client application's view of one request. */
typedef struct cli_stream {
  int32_t id;
  uint8_t submitted, got_100, deferred, want_rst, rst_sent, closed;
  uint8_t resume;
  uint32_t close_code;
  uint64_t req_sent;
  int blk_status;
  int status;
  h_str blk, info, hdrs, trailers;
  uint64_t resp_off;
  uint64_t bad_at;
} cli_stream;

typedef struct p1 {
  spec *specs;
  size_t nspecs;
  size_t n_main;
  nghttp2_session *ng;
  zttp_conn *z;
  cli_stream *cs;
  srv_stream *ss;
  uint32_t *sid2idx; /* zttp stream id -> idx + 1 */
  size_t next, inflight, opened;
  size_t completed;
  int close_called, dead;
  size_t z_closed;
  size_t num_goaway;
  int32_t goaway_last[4];
  uint32_t goaway_code[4];
  size_t ng_pings, ng_rst_recv;
  size_t z_win_stream, z_win_conn, wake_room, wake_event, z_settings;
  size_t srv_resets, srv_saw_resets, stale_after_reset;
  uint64_t req_bytes, resp_bytes;
  size_t rounds;
  uint8_t scratch[65536];
} p1;

static cli_stream *p1_cli(nghttp2_session *ng, int32_t id) {
  return nghttp2_session_get_stream_user_data(ng, id);
}

static void cli_expect_body(const spec *s, h_str *hdrs, h_str *tr) {
  fields f;
  resp_fields(&f, s, s->req_sum, s->req_trailers ? 2u : 0u);
  fl_text(hdrs, &f);
  if (s->resp_trailers) {
    resp_trailer_fields(&f, s, s->req_sum);
    fl_text(tr, &f);
  }
}

/* ---- nghttp2 client callbacks ---- */

static int p1c_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame,
                             void *ud) {
  (void)ud;
  cli_stream *c = p1_cli(ng, frame->hd.stream_id);
  if (c == NULL) {
    faultf("p1 client: HEADERS on unknown stream %d", frame->hd.stream_id);
    return 0;
  }
  hs_clear(&c->blk);
  c->blk_status = 0;
  return 0;
}

static int p1c_header(nghttp2_session *ng, const nghttp2_frame *frame,
                      const uint8_t *name, size_t namelen, const uint8_t *value,
                      size_t valuelen, uint8_t flags, void *ud) {
  (void)flags;
  (void)ud;
  cli_stream *c = p1_cli(ng, frame->hd.stream_id);
  if (c == NULL) {
    return 0;
  }
  if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
    c->blk_status = atoi((const char *)value);
    (void)valuelen;
    return 0;
  }
  hl_add(&c->blk, name, namelen, value, valuelen);
  return 0;
}

/* Files a complete header block of |c|: 1xx, final head, or trailers. */
static void cli_block_done(cli_stream *c) {
  if (c->blk_status == 0) {
    if (c->trailers.len != 0) {
      faultf("stream %d: two trailer sections", c->id);
    }
    hs_copy(&c->trailers, &c->blk);
  } else if (c->blk_status < 200) {
    h_str_addf(&c->info, "%d\n", c->blk_status);
    h_str_add(&c->info, h_str_cstr(&c->blk), c->blk.len);
    if (c->blk_status == 100) {
      c->got_100 = 1;
      if (c->deferred) {
        c->resume = 1;
      }
    }
  } else {
    if (c->status != 0) {
      faultf("stream %d: two final responses", c->id);
    }
    c->status = c->blk_status;
    hs_copy(&c->hdrs, &c->blk);
  }
}

static int p1c_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame,
                          void *ud) {
  p1 *t = ud;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS: {
    cli_stream *c = p1_cli(ng, frame->hd.stream_id);
    if (c != NULL) {
      cli_block_done(c);
    }
    break;
  }
  case NGHTTP2_GOAWAY:
    if (t->num_goaway < COUNT_OF(t->goaway_last)) {
      t->goaway_last[t->num_goaway] = frame->goaway.last_stream_id;
      t->goaway_code[t->num_goaway] = frame->goaway.error_code;
    }
    t->num_goaway++;
    break;
  case NGHTTP2_PING:
    if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
      t->ng_pings++;
    }
    break;
  case NGHTTP2_RST_STREAM:
    t->ng_rst_recv++;
    break;
  default:
    break;
  }
  return 0;
}

static int p1c_data(nghttp2_session *ng, uint8_t flags, int32_t id,
                    const uint8_t *data, size_t len, void *ud) {
  p1 *t = ud;
  (void)flags;
  cli_stream *c = p1_cli(ng, id);
  if (c == NULL) {
    faultf("p1 client: DATA on unknown stream %d", id);
    return 0;
  }
  const spec *s = &t->specs[c - t->cs];
  if (c->bad_at == UINT64_MAX) {
    uint64_t bad = resp_check(s, c->resp_off, data, len);
    if (bad != UINT64_MAX) {
      c->bad_at = bad;
      faultf("p1 stream %d (idx %u): response body byte %llu wrong", id, s->idx,
             (unsigned long long)bad);
    }
  }
  c->resp_off += len;
  t->resp_bytes += len;
  if (s->reset == R_CLIENT_RESP && c->resp_off >= s->reset_at) {
    c->want_rst = 1;
  }
  return 0;
}

static int p1c_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud) {
  p1 *t = ud;
  cli_stream *c = p1_cli(ng, id);
  if (c == NULL) {
    faultf("p1 client: close of unknown stream %d", id);
    return 0;
  }
  if (c->closed) {
    faultf("p1 client: stream %d closed twice", id);
  }
  c->closed = 1;
  c->close_code = code;
  t->inflight--;
  return 0;
}

static int p1c_not_send(nghttp2_session *ng, const nghttp2_frame *frame,
                        int lib_error, void *ud) {
  (void)ng;
  (void)ud;
  faultf("p1 client: frame type %u on stream %d not sent: %s", frame->hd.type,
         frame->hd.stream_id, nghttp2_strerror(lib_error));
  return 0;
}

static ssize_t p1c_read(nghttp2_session *ng, int32_t id, uint8_t *buf,
                        size_t length, uint32_t *flags,
                        nghttp2_data_source *src, void *ud) {
  p1 *t = ud;
  cli_stream *c = src->ptr;
  const spec *s = &t->specs[c - t->cs];
  if (s->expect_100 && !c->got_100) {
    c->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (s->reset == R_CLIENT_BODY && c->req_sent >= s->reset_at) {
    c->want_rst = 1;
    c->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  size_t n = s->req_len - c->req_sent;
  if (n > length) {
    n = length;
  }
  body_fill(buf, s->idx, c->req_sent, n);
  c->req_sent += n;
  t->req_bytes += n;
  if (c->req_sent == s->req_len) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->req_trailers) {
      fields f;
      nghttp2_nv nv[2];
      req_trailer_fields(&f, s);
      for (size_t i = 0; i < f.n; i++) {
        nv[i] = nvs(f.name[i], f.value[i]);
      }
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      int rv = nghttp2_submit_trailer(ng, id, nv, f.n);
      if (rv != 0) {
        faultf("nghttp2_submit_trailer: %s", nghttp2_strerror(rv));
      }
    }
  }
  return (ssize_t)n;
}

/* Pads the frames of every third stream (RFC 9113 §6.1, §6.2): padding
 * counts against flow control and must come back as credit. */
static ssize_t p1c_padding(nghttp2_session *ng, const nghttp2_frame *frame,
                           size_t max_payloadlen, void *ud) {
  (void)ng;
  (void)ud;
  size_t len = frame->hd.length;
  if (frame->hd.stream_id % 3 == 0) {
    len += 1 + (size_t)frame->hd.stream_id % 200;
  }
  return (ssize_t)(len < max_payloadlen ? len : max_payloadlen);
}

static void p1_submit(p1 *t) {
  while (t->inflight < MAX_INFLIGHT && t->next < t->nspecs &&
         nghttp2_session_check_request_allowed(t->ng)) {
    const spec *s = &t->specs[t->next];
    cli_stream *c = &t->cs[t->next];
    fields f;
    nghttp2_nv nv[20];
    size_t n = 0;
    req_fields(&f, s, 0);
    nv[n++] = nvs(":method", method_name(s->method));
    nv[n++] = nvs(":path", s->path);
    nv[n++] = nvs(":scheme", "http");
    nv[n++] = nvs(":authority", "zttp.test");
    for (size_t i = 0; i < f.n; i++) {
      nv[n++] = nvs(f.name[i], f.value[i]);
    }
    nghttp2_data_provider prd;
    prd.source.ptr = c;
    prd.read_callback = p1c_read;
    int body = s->method == M_POST && (s->req_len > 0 || s->req_trailers);
    int32_t id =
        nghttp2_submit_request(t->ng, NULL, nv, n, body ? &prd : NULL, c);
    if (id < 0) {
      faultf("nghttp2_submit_request: %s", nghttp2_strerror(id));
      t->dead = 1;
      return;
    }
    c->id = id;
    c->submitted = 1;
    c->bad_at = UINT64_MAX;
    t->next++;
    t->inflight++;
    t->opened++;
  }
}

static void p1_client_actions(p1 *t) {
  for (size_t i = 0; i < t->next; i++) {
    cli_stream *c = &t->cs[i];
    if (c->closed) {
      continue;
    }
    if (c->want_rst && !c->rst_sent) {
      int rv = nghttp2_submit_rst_stream(t->ng, NGHTTP2_FLAG_NONE, c->id,
                                         t->specs[i].reset_code);
      if (rv != 0) {
        faultf("nghttp2_submit_rst_stream: %s", nghttp2_strerror(rv));
      }
      c->rst_sent = 1;
    } else if (c->resume && !c->want_rst) {
      c->resume = 0;
      c->deferred = 0;
      int rv = nghttp2_session_resume_data(t->ng, c->id);
      if (rv != 0) {
        faultf("nghttp2_session_resume_data(%d): %s", c->id,
               nghttp2_strerror(rv));
      }
    }
  }
}

/* ---- the zttp server application ---- */

static srv_stream *p1_srv(p1 *t, int64_t id, const spec **s) {
  if (id <= 0 || (uint64_t)id >= 2 * t->nspecs + 2 || t->sid2idx[id] == 0) {
    return NULL;
  }
  uint32_t idx = t->sid2idx[id] - 1;
  *s = &t->specs[idx];
  return &t->ss[idx];
}

static void srv_reset(p1 *t, srv_stream *st, const spec *s) {
  int32_t rv = zttp_conn_reset_stream(t->z, st->id, s->reset_code);
  if (rv != 0) {
    faultf("zttp_conn_reset_stream(%lld): %s", (long long)st->id,
           h_errname(rv));
  }
  st->open = 0;
  st->did_reset = 1;
  t->srv_resets++;
  free(st->echo);
  st->echo = NULL;
  st->echo_len = 0;
}

/* Sends what the stream can send now (the response state machine). */
static void srv_send_more(p1 *t, srv_stream *st, const spec *s) {
  int32_t rv;
  fields f;
  zttp_header h[16];
  while (st->open && st->blk == BLK_NONE && st->phase != PH_DONE) {
    switch (st->phase) {
    case PH_INFO:
      if (s->expect_100 && !st->sent100) {
        rv = zttp_conn_send_informational(t->z, st->id, 100, NULL, 0);
      } else if (s->early_hints && !st->sent103) {
        early_fields(&f, s);
        rv = zttp_conn_send_informational(t->z, st->id, 103, h, fl_zttp(h, &f));
      } else {
        st->phase = PH_HEAD;
        continue;
      }
      if (rv == ZTTP_ERR_BUFFER_FULL) {
        st->blk = BLK_ROOM;
        return;
      }
      if (rv != 0) {
        faultf("idx %u: send_informational: %s", s->idx, h_errname(rv));
        st->open = 0;
        return;
      }
      if (s->expect_100 && !st->sent100) {
        st->sent100 = 1;
      } else {
        st->sent103 = 1;
      }
      continue;
    case PH_HEAD: {
      int bl = bodyless(s);
      if (bl && !st->req_done) {
        return;
      }
      resp_fields(&f, s, st->sum, st->ntr);
      rv = zttp_conn_send_response(t->z, st->id, s->status, NULL, 0, h,
                                   fl_zttp(h, &f),
                                   bl ? ZTTP_SEND_FLAG_END_STREAM : 0);
      if (rv == ZTTP_ERR_BUFFER_FULL) {
        st->blk = BLK_ROOM;
        return;
      }
      if (rv != 0) {
        faultf("idx %u: send_response: %s", s->idx, h_errname(rv));
        st->open = 0;
        return;
      }
      if (bl) {
        st->phase = PH_DONE;
        st->open = 0;
        return;
      }
      st->pre_len = prefix_text(st->pre, sizeof(st->pre), s);
      st->phase = PH_BODY;
      continue;
    }
    case PH_BODY: {
      const uint8_t *p;
      size_t n;
      int what;
      int last = 0;
      uint64_t mid = middle_len(s);
      if (st->pre_sent < st->pre_len) {
        p = (const uint8_t *)st->pre + st->pre_sent;
        n = st->pre_len - st->pre_sent;
        what = 0;
      } else if (st->mid_sent < mid) {
        uint64_t lim = s->reset == R_CLIENT_RESP ? mid - STALL : mid;
        if (s->reset == R_SERVER_MID && s->method == M_GET) {
          if (st->mid_sent >= s->reset_at) {
            srv_reset(t, st, s);
            return;
          }
          lim = s->reset_at;
        }
        if (st->mid_sent >= lim) {
          return; /* held back until the client resets */
        }
        if (s->echo) {
          p = st->echo;
          n = st->echo_len;
          if (n > lim - st->mid_sent) {
            n = (size_t)(lim - st->mid_sent);
          }
          if (n == 0) {
            return;
          }
        } else {
          n = (size_t)(lim - st->mid_sent);
          if (s->idx % 2 == 0) {
            /* Offer more than fits: short writes. */
            if (n > 40000) {
              n = 40000;
            }
          } else {
            /* Offer what zttp_conn_send_window() promises. */
            int64_t w = zttp_conn_send_window(t->z, st->id);
            if (w < 0) {
              faultf("idx %u: send_window: %s", s->idx, h_errname(w));
              st->open = 0;
              return;
            }
            if ((uint64_t)w < n) {
              n = (size_t)w;
            }
            if (n == 0) {
              st->blk = BLK_UNKNOWN;
              return;
            }
          }
          if (n > sizeof(t->scratch)) {
            n = sizeof(t->scratch);
          }
          body_fill(t->scratch, s->idx + GEN_KEY, st->mid_sent, n);
          p = t->scratch;
        }
        what = 1;
      } else if (!st->req_done) {
        return; /* the suffix carries the request's checksum */
      } else {
        if (!st->suf_built) {
          st->suf_len = suffix_text(st->suf, sizeof(st->suf), st->req_bytes,
                                    st->sum, st->ntr);
          st->suf_built = 1;
        }
        if (st->suf_sent == st->suf_len) {
          st->phase = PH_END;
          continue;
        }
        p = (const uint8_t *)st->suf + st->suf_sent;
        n = st->suf_len - st->suf_sent;
        last = s->end_with_data && !s->resp_trailers;
        what = 2;
      }
      int64_t k = zttp_conn_send_data(t->z, st->id, p, n,
                                      last ? ZTTP_SEND_FLAG_END_STREAM : 0);
      if (k < 0) {
        faultf("idx %u stream %lld: send_data(%zu): %s", s->idx,
               (long long)st->id, n, h_errname(k));
        st->open = 0;
        return;
      }
      if ((uint64_t)k > n) {
        faultf("idx %u: send_data took %lld of %zu", s->idx, (long long)k, n);
        st->open = 0;
        return;
      }
      if (what == 0) {
        st->pre_sent += (size_t)k;
      } else if (what == 1) {
        if (!s->echo && s->idx % 2 == 1 && (size_t)k != n) {
          faultf("idx %u: send_data took %lld of the %zu bytes "
                 "zttp_conn_send_window() promised",
                 s->idx, (long long)k, n);
        }
        st->mid_sent += (uint64_t)k;
        if (s->echo && k > 0) {
          memmove(st->echo, st->echo + k, st->echo_len - (size_t)k);
          st->echo_len -= (size_t)k;
          rv = zttp_conn_data_consumed(t->z, st->id, (size_t)k);
          if (rv != 0) {
            faultf("idx %u: data_consumed: %s", s->idx, h_errname(rv));
          }
        }
      } else {
        st->suf_sent += (size_t)k;
        if (last && (size_t)k == n) {
          st->phase = PH_DONE;
          st->open = 0;
          return;
        }
      }
      if ((size_t)k < n) {
        st->blk = BLK_UNKNOWN;
        return;
      }
      continue;
    }
    case PH_END:
      if (s->resp_trailers) {
        resp_trailer_fields(&f, s, st->sum);
        rv = zttp_conn_end_message(t->z, st->id, h, fl_zttp(h, &f));
      } else {
        rv = zttp_conn_end_message(t->z, st->id, NULL, 0);
      }
      if (rv == ZTTP_ERR_BUFFER_FULL) {
        st->blk = BLK_ROOM;
        return;
      }
      if (rv != 0) {
        faultf("idx %u: end_message: %s", s->idx, h_errname(rv));
      }
      st->phase = PH_DONE;
      st->open = 0;
      return;
    default:
      return;
    }
  }
}

static void p1_on_request(p1 *t, const zttp_event *ev) {
  const zttp_request_event *rq = &ev->u.request;
  char num[16];
  if (rq->path.len < 4 || memcmp(rq->path.base, "/r/", 3) != 0 ||
      rq->path.len - 3 >= sizeof(num)) {
    faultf("p1 server: unexpected path %.*s", (int)rq->path.len, rq->path.base);
    return;
  }
  memcpy(num, rq->path.base + 3, rq->path.len - 3);
  num[rq->path.len - 3] = '\0';
  unsigned long idx = strtoul(num, NULL, 10);
  if (idx >= t->nspecs || t->ss[idx].seen ||
      (uint64_t)ev->stream_id >= 2 * t->nspecs + 2) {
    faultf("p1 server: bad or repeated request %lu", idx);
    return;
  }
  const spec *s = &t->specs[idx];
  srv_stream *st = &t->ss[idx];
  st->seen = 1;
  st->open = 1;
  st->id = ev->stream_id;
  st->sum = FNV_INIT;
  t->sid2idx[ev->stream_id] = (uint32_t)idx + 1;
  /* The request as nghttp2 sent it. */
  size_t plen = strlen(s->path);
  const char *q = strchr(s->path, '?');
  int end = !(s->method == M_POST && (s->req_len > 0 || s->req_trailers));
  uint32_t want_flags = (end ? ZTTP_EVENT_FLAG_END_STREAM : 0) |
                        (s->expect_100 ? ZTTP_EVENT_FLAG_EXPECT_CONTINUE : 0);
  const char *m = method_name(s->method);
  if (rq->method.len != strlen(m) || memcmp(rq->method.base, m, strlen(m)) ||
      rq->target.len != plen || memcmp(rq->target.base, s->path, plen) ||
      rq->path.len != (size_t)(q - s->path) || rq->query.len != strlen(q + 1) ||
      memcmp(rq->query.base, q + 1, rq->query.len) || rq->authority.len != 9 ||
      memcmp(rq->authority.base, "zttp.test", 9) || rq->scheme.len != 4 ||
      memcmp(rq->scheme.base, "http", 4) || rq->http_version != 20 ||
      ev->flags != want_flags) {
    faultf("p1 server: idx %lu: request line or flags differ (flags %u)", idx,
           ev->flags);
  }
  h_str want = {0};
  h_str got = {0};
  fields f;
  req_fields(&f, s, 0);
  hl_add(&want, "host", 4, "zttp.test", 9);
  fl_text(&want, &f);
  hl_zttp(&got, rq->headers, rq->num_headers);
  if (strcmp(h_str_cstr(&want), h_str_cstr(&got)) != 0) {
    faultf("p1 server: idx %lu: request fields\n%s  differ from\n%s", idx,
           h_str_cstr(&got), h_str_cstr(&want));
  }
  h_str_free(&want);
  h_str_free(&got);
  if (idx == t->n_main - 1 && !t->close_called) {
    /* Shut down while streams are in flight (RFC 9113 §6.8). */
    int32_t rv = zttp_conn_close(t->z, 0, ZTTP_CLOSE_FLAG_GRACEFUL);
    if (rv != 0) {
      faultf("zttp_conn_close: %s", h_errname(rv));
    }
    t->close_called = 1;
  }
  if (s->reset == R_SERVER_HEAD) {
    srv_reset(t, st, s);
    return;
  }
  srv_send_more(t, st, s);
}

static void p1_srv_event(p1 *t, const zttp_event *ev) {
  const spec *s = NULL;
  srv_stream *st;
  int32_t rv;
  switch (ev->kind) {
  case ZTTP_EVENT_REQUEST:
    p1_on_request(t, ev);
    return;
  case ZTTP_EVENT_DATA:
    st = p1_srv(t, ev->stream_id, &s);
    if (st == NULL || !st->open) {
      faultf("p1 server: DATA (%zu bytes) on stream %lld %s", ev->u.data.len,
             (long long)ev->stream_id,
             st == NULL ? "never seen" : "the application closed or reset");
      return;
    }
    if (st->req_bytes + ev->u.data.len > s->req_len ||
        body_cmp(ev->u.data.data, ev->u.data.len, s->idx, st->req_bytes) !=
            ev->u.data.len) {
      faultf("p1 server: idx %u: request body bytes at %llu differ", s->idx,
             (unsigned long long)st->req_bytes);
    }
    st->sum = fnv(st->sum, ev->u.data.data, ev->u.data.len);
    st->req_bytes += ev->u.data.len;
    if (s->echo && s->status == 200) {
      if (st->echo_len + ev->u.data.len > st->echo_cap) {
        size_t cap = st->echo_cap == 0 ? 65536 : st->echo_cap;
        while (cap < st->echo_len + ev->u.data.len) {
          cap *= 2;
        }
        st->echo = realloc(st->echo, cap);
        assert_non_null(st->echo);
        st->echo_cap = cap;
      }
      memcpy(st->echo + st->echo_len, ev->u.data.data, ev->u.data.len);
      st->echo_len += ev->u.data.len;
    } else {
      rv = zttp_conn_data_consumed(t->z, ev->stream_id, ev->u.data.len);
      if (rv != 0) {
        faultf("p1 server: data_consumed: %s", h_errname(rv));
      }
    }
    if (s->reset == R_SERVER_MID && s->method == M_POST &&
        st->req_bytes >= s->reset_at) {
      srv_reset(t, st, s);
      return;
    }
    srv_send_more(t, st, s);
    return;
  case ZTTP_EVENT_END_MESSAGE: {
    st = p1_srv(t, ev->stream_id, &s);
    if (st != NULL && st->did_reset && !st->req_done) {
      /* Engine bug (test_regress_event_after_reset): an END_MESSAGE queued
       * before the application reset the stream is still delivered. */
      st->req_done = 1;
      t->stale_after_reset++;
      return;
    }
    if (st == NULL || !st->open) {
      faultf("p1 server: END_MESSAGE on stream %lld %s",
             (long long)ev->stream_id,
             st == NULL ? "never seen" : "the application closed or reset");
      return;
    }
    h_str want = {0};
    h_str got = {0};
    if (s->req_trailers) {
      fields f;
      req_trailer_fields(&f, s);
      fl_text(&want, &f);
    }
    hl_zttp(&got, ev->u.end.trailers, ev->u.end.num_trailers);
    if (strcmp(h_str_cstr(&want), h_str_cstr(&got)) != 0 ||
        st->req_bytes != s->req_len || st->sum != s->req_sum) {
      faultf("p1 server: idx %u: request ends after %llu bytes with "
             "trailers\n%s",
             s->idx, (unsigned long long)st->req_bytes, h_str_cstr(&got));
    }
    h_str_free(&want);
    h_str_free(&got);
    st->req_done = 1;
    st->ntr = (uint32_t)ev->u.end.num_trailers;
    srv_send_more(t, st, s);
    return;
  }
  case ZTTP_EVENT_STREAM_RESET:
    st = p1_srv(t, ev->stream_id, &s);
    t->srv_saw_resets++;
    if (st == NULL || !st->open ||
        (s->reset != R_CLIENT_BODY && s->reset != R_CLIENT_RESP) ||
        ev->u.reset.error_code != s->reset_code) {
      faultf("p1 server: unexpected STREAM_RESET code %llu on stream %lld "
             "(idx %d)",
             (unsigned long long)ev->u.reset.error_code,
             (long long)ev->stream_id, s != NULL ? (int)s->idx : -1);
      return;
    }
    st->open = 0;
    st->reset_seen = 1;
    free(st->echo);
    st->echo = NULL;
    st->echo_len = 0;
    return;
  case ZTTP_EVENT_WINDOW_UPDATE:
    if (ev->stream_id == 0) {
      t->z_win_conn++;
      for (size_t i = 0; i < t->nspecs; i++) {
        if (t->ss[i].open && t->ss[i].blk != BLK_NONE) {
          t->ss[i].blk = BLK_NONE;
          t->wake_event++;
        }
      }
      return;
    }
    t->z_win_stream++;
    st = p1_srv(t, ev->stream_id, &s);
    if (st == NULL) {
      faultf("p1 server: WINDOW_UPDATE on unknown stream %lld",
             (long long)ev->stream_id);
      return;
    }
    if (st->open && st->blk != BLK_NONE) {
      st->blk = BLK_NONE;
      t->wake_event++;
    }
    return;
  case ZTTP_EVENT_SETTINGS:
    t->z_settings++;
    return;
  case ZTTP_EVENT_PING:
    if (!(ev->flags & ZTTP_EVENT_FLAG_ACK)) {
      faultf("p1 server: unexpected PING");
    }
    return;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    if (ev->u.closed.error != 0 || t->z_closed) {
      faultf("p1 server: CONNECTION_CLOSED error %s",
             h_errname(ev->u.closed.error));
    }
    t->z_closed++;
    return;
  default:
    faultf("p1 server: unexpected event %u on stream %lld", ev->kind,
           (long long)ev->stream_id);
    return;
  }
}

static void p1_srv_drain(p1 *t) {
  for (;;) {
    zttp_event ev;
    int32_t rv = zttp_conn_next_event(t->z, &ev);
    if (rv == 0) {
      return;
    }
    if (rv < 0) {
      const char *msg = NULL;
      uint64_t wire = 0;
      zttp_conn_last_error(t->z, &msg, &wire, NULL);
      faultf("p1 server: next_event: %s (%s, wire %llu)", h_errname(rv),
             msg != NULL ? msg : "", (unsigned long long)wire);
      t->dead = 1;
      return;
    }
    p1_srv_event(t, &ev);
  }
}

static void p1_feed(p1 *t, const uint8_t *d, size_t n) {
  while (n > 0 && !t->dead) {
    int64_t k = zttp_conn_receive_data(t->z, d, n);
    if (k < 0) {
      faultf("p1 server: receive_data: %s", h_errname(k));
      t->dead = 1;
      return;
    }
    d += k;
    n -= (size_t)k;
    p1_srv_drain(t);
  }
}

static void p1_srv_produce(p1 *t) {
  for (size_t i = 0; i < t->nspecs; i++) {
    srv_stream *st = &t->ss[i];
    if (st->open && st->blk == BLK_NONE) {
      srv_send_more(t, st, &t->specs[i]);
    }
  }
}

/* The output is drained: streams that stopped short learn whether flow
 * control (wait for WINDOW_UPDATE) or the buffer stopped them. */
static void p1_srv_unblock(p1 *t) {
  for (size_t i = 0; i < t->nspecs; i++) {
    srv_stream *st = &t->ss[i];
    if (!st->open) {
      continue;
    }
    if (st->blk == BLK_ROOM) {
      st->blk = BLK_NONE;
      t->wake_room++;
    } else if (st->blk == BLK_UNKNOWN) {
      int64_t w = zttp_conn_send_window(t->z, st->id);
      if (w < 0) {
        faultf("p1 server: send_window(%lld): %s", (long long)st->id,
               h_errname(w));
        st->open = 0;
      } else if (w > 0) {
        st->blk = BLK_NONE;
        t->wake_room++;
      } else {
        st->blk = BLK_FLOW;
      }
    }
  }
}

static void p1_dump_stall(p1 *t) {
  size_t shown = 0;
  for (size_t i = 0; i < t->next && shown < 4; i++) {
    cli_stream *c = &t->cs[i];
    srv_stream *st = &t->ss[i];
    const spec *s = &t->specs[i];
    if (c->closed) {
      continue;
    }
    shown++;
    int64_t w = st->open ? zttp_conn_send_window(t->z, st->id) : -1;
    faultf("  open idx %zu id %d %s req %zu/%llu sent, reset %u, srv: seen %u "
           "open %u phase %u blk %u req_done %u got %llu mid_sent %llu/%zu "
           "echo %zu window %lld; nghttp2 remote window %d",
           i, c->id, method_name(s->method), s->req_len,
           (unsigned long long)c->req_sent, s->reset, st->seen, st->open,
           st->phase, st->blk, st->req_done, (unsigned long long)st->req_bytes,
           (unsigned long long)st->mid_sent, middle_len(s), st->echo_len,
           (long long)w,
           nghttp2_session_get_stream_remote_window_size(t->ng, c->id));
  }
  uint64_t unconsumed = 0;
  for (size_t i = 0; i < t->next; i++) {
    srv_stream *st = &t->ss[i];
    if (st->open && t->specs[i].echo && t->specs[i].status == 200) {
      unconsumed += st->req_bytes - st->mid_sent;
      if (st->req_bytes != st->mid_sent && ++shown < 16) {
        faultf("  idx %zu holds %llu unconsumed bytes (phase %u, blk %u); "
               "zttp send window %lld, nghttp2 local window %d recv %d; "
               "client got %llu, server sent %zu + %llu",
               i, (unsigned long long)(st->req_bytes - st->mid_sent), st->phase,
               st->blk, (long long)zttp_conn_send_window(t->z, st->id),
               nghttp2_session_get_stream_local_window_size(t->ng, t->cs[i].id),
               nghttp2_session_get_stream_effective_recv_data_length(
                   t->ng, t->cs[i].id),
               (unsigned long long)t->cs[i].resp_off, st->pre_sent,
               (unsigned long long)st->mid_sent);
      }
    }
  }
  faultf("  the server application holds %llu unconsumed bytes",
         (unsigned long long)unconsumed);
  uint64_t accepted = 0;
  for (size_t i = 0; i < t->next; i++) {
    accepted += t->ss[i].pre_sent + t->ss[i].mid_sent + t->ss[i].suf_sent;
  }
  faultf("  zttp took %llu response body bytes, nghttp2 received %llu",
         (unsigned long long)accepted, (unsigned long long)t->resp_bytes);
  faultf("  nghttp2: connection remote window %d, local window %d",
         nghttp2_session_get_remote_window_size(t->ng),
         nghttp2_session_get_local_window_size(t->ng));
}

static nghttp2_session *p1_client_new(p1 *t) {
  nghttp2_session_callbacks *cb;
  nghttp2_session *ng;
  assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
                                                          p1c_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, p1c_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, p1c_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, p1c_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, p1c_close);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, p1c_not_send);
  nghttp2_session_callbacks_set_select_padding_callback(cb, p1c_padding);
  assert_int_equal(nghttp2_session_client_new(&ng, cb, t), 0);
  nghttp2_session_callbacks_del(cb);
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  assert_int_equal(
      nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, COUNT_OF(iv)), 0);
  /* Stream windows stay at 65535: zttp meets flow control all the time. */
  assert_int_equal(
      nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, 1 << 17),
      0);
  return ng;
}

static p1 *g_p1;

static void p1_free(p1 *t) {
  if (t == NULL) {
    return;
  }
  for (size_t i = 0; i < t->nspecs; i++) {
    if (t->cs != NULL) {
      h_str_free(&t->cs[i].blk);
      h_str_free(&t->cs[i].info);
      h_str_free(&t->cs[i].hdrs);
      h_str_free(&t->cs[i].trailers);
    }
    if (t->ss != NULL) {
      free(t->ss[i].echo);
    }
  }
  nghttp2_session_del(t->ng);
  zttp_conn_free(t->z);
  free(t->specs);
  free(t->cs);
  free(t->ss);
  free(t->sid2idx);
  free(t);
}

static void test_nghttp2_client_workload(void **state) {
  (void)state;
  p1 *t = calloc(1, sizeof(*t));
  assert_non_null(t);
  g_p1 = t;
  t->n_main = P1_MAIN;
  t->nspecs = P1_MAIN + P1_EXTRA;
  t->specs = calloc(t->nspecs, sizeof(*t->specs));
  t->cs = calloc(t->nspecs, sizeof(*t->cs));
  t->ss = calloc(t->nspecs, sizeof(*t->ss));
  t->sid2idx = calloc(2 * t->nspecs + 2, sizeof(*t->sid2idx));
  assert_true(t->specs && t->cs && t->ss && t->sid2idx);
  make_specs(t->specs, t->nspecs, 0x1234 + NG_SEED, 1, SIZE_MAX);
  /* A small output buffer: short writes for want of room, too. */
  zttp_config *cfg =
      h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_OUTPUT_BUFFER, 98304}), NULL);
  assert_int_equal(zttp_conn_new(&t->z, cfg, ZTTP_SERVER, ZTTP_HTTP2), 0);
  zttp_config_free(cfg);
  t->ng = p1_client_new(t);

  size_t idle = 0;
  for (t->rounds = 0; !t->dead && g_num_faults < 40; t->rounds++) {
    uint64_t moved = 0;
    p1_submit(t);
    p1_client_actions(t);
    for (;;) {
      const uint8_t *d;
      ssize_t n = nghttp2_session_mem_send(t->ng, &d);
      if (n < 0) {
        faultf("nghttp2_session_mem_send: %s", nghttp2_strerror((int)n));
        t->dead = 1;
        break;
      }
      if (n == 0) {
        break;
      }
      moved += (uint64_t)n;
      p1_feed(t, d, (size_t)n);
    }
    p1_srv_drain(t);
    p1_srv_produce(t);
    for (;;) {
      const uint8_t *o;
      size_t n = zttp_conn_pending(t->z, &o);
      if (n == 0) {
        break;
      }
      ssize_t rv = nghttp2_session_mem_recv(t->ng, o, n);
      if (rv != (ssize_t)n) {
        faultf("nghttp2_session_mem_recv: %s", nghttp2_strerror((int)rv));
        t->dead = 1;
        break;
      }
      assert_int_equal(zttp_conn_consume(t->z, n), 0);
      moved += n;
    }
    p1_srv_unblock(t);
    if (moved > 0) {
      idle = 0;
      continue;
    }
    if (!nghttp2_session_want_read(t->ng) &&
        !nghttp2_session_want_write(t->ng)) {
      break;
    }
    if (++idle > 3) {
      faultf("p1: stalled after %zu rounds, %zu requests submitted, %zu in "
             "flight",
             t->rounds, t->next, t->inflight);
      p1_dump_stall(t);
      break;
    }
  }
  faults_check("nghttp2 client -> zttp server, the exchange");

  /* Every exchange the client opened ended as designed. */
  size_t resets[5] = {0};
  size_t completed = 0;
  for (size_t i = 0; i < t->next; i++) {
    const spec *s = &t->specs[i];
    cli_stream *c = &t->cs[i];
    srv_stream *st = &t->ss[i];
    if (!c->closed) {
      faultf("idx %zu (stream %d) never closed", i, c->id);
      continue;
    }
    if (!st->seen) {
      faultf("idx %zu (stream %d) never reached the server", i, c->id);
      continue;
    }
    resets[s->reset]++;
    if (s->reset != R_NONE) {
      int client = s->reset == R_CLIENT_BODY || s->reset == R_CLIENT_RESP;
      if (c->close_code != s->reset_code || c->rst_sent != client ||
          (client && !st->reset_seen) || (!client && !st->did_reset)) {
        faultf("%s: client closed with %u, sent RST %u; server saw %u, reset "
               "%u",
               spec_desc(s), c->close_code, c->rst_sent, st->reset_seen,
               st->did_reset);
      }
      continue;
    }
    h_str info = {0};
    h_str hdrs = {0};
    h_str tr = {0};
    expect_info(&info, s);
    cli_expect_body(s, &hdrs, &tr);
    uint64_t total = bodyless(s) ? 0 : resp_total(s);
    if (c->close_code != 0 || c->status != (int)s->status ||
        strcmp(h_str_cstr(&info), h_str_cstr(&c->info)) != 0 ||
        strcmp(h_str_cstr(&hdrs), h_str_cstr(&c->hdrs)) != 0 ||
        strcmp(h_str_cstr(&tr), h_str_cstr(&c->trailers)) != 0 ||
        c->resp_off != total || c->bad_at != UINT64_MAX ||
        st->phase != PH_DONE || !st->req_done) {
      faultf("idx %zu (stream %d, %s %u): closed %u status %d, %llu of %llu "
             "body bytes; 1xx\n%s(want\n%s) head\n%s(want\n%s) trailers\n%s"
             "(want\n%s)",
             i, c->id, method_name(s->method), s->status, c->close_code,
             c->status, (unsigned long long)c->resp_off,
             (unsigned long long)total, h_str_cstr(&c->info), h_str_cstr(&info),
             h_str_cstr(&c->hdrs), h_str_cstr(&hdrs), h_str_cstr(&c->trailers),
             h_str_cstr(&tr));
    } else {
      completed++;
    }
    h_str_free(&info);
    h_str_free(&hdrs);
    h_str_free(&tr);
  }
  size_t n_resets = resets[1] + resets[2] + resets[3] + resets[4];
  print_message("# nghttp2 client -> zttp server: %zu requests (%zu after "
                "the shutdown began), %zu completed, resets: %zu client "
                "mid-body, %zu client mid-response, %zu server on head, %zu "
                "server mid-stream; %llu request and %llu response body "
                "bytes; %zu rounds; zttp WINDOW_UPDATE events %zu stream, %zu "
                "connection; wakes %zu by event, %zu by drained output; "
                "%zu END_MESSAGE after the application reset\n",
                t->next, t->next - t->n_main, completed, resets[1], resets[2],
                resets[3], resets[4], (unsigned long long)t->req_bytes,
                (unsigned long long)t->resp_bytes, t->rounds, t->z_win_stream,
                t->z_win_conn, t->wake_event, t->wake_room,
                t->stale_after_reset);
  faults_check("nghttp2 client -> zttp server, per exchange");
  assert_true(t->next >= P1_MAIN);
  assert_int_equal(completed, t->next - n_resets);
  assert_int_equal(t->srv_resets, resets[R_SERVER_HEAD] + resets[R_SERVER_MID]);
  assert_int_equal(t->srv_saw_resets,
                   resets[R_CLIENT_BODY] + resets[R_CLIENT_RESP]);
  assert_int_equal(t->ng_rst_recv, t->srv_resets);
  assert_true(resets[1] > 0 && resets[2] > 0 && resets[3] > 0 && resets[4] > 0);
  /* RFC 9113 §6.8: GOAWAY(2^31-1), PING, then GOAWAY(last stream). */
  assert_int_equal(t->num_goaway, 2);
  assert_int_equal(t->goaway_last[0], 0x7fffffff);
  assert_int_equal(t->goaway_code[0], 0);
  assert_int_equal(t->goaway_last[1], (int32_t)(2 * t->next - 1));
  assert_int_equal(t->goaway_code[1], 0);
  assert_int_equal(t->ng_pings, 1);
  assert_int_equal(t->z_settings, 1);
  const uint8_t *o;
  assert_int_equal(zttp_conn_pending(t->z, &o), 0);
  assert_int_equal(zttp_conn_should_close(t->z), 1);
  /* nghttp2 is done: the client closes the connection. */
  assert_int_equal(zttp_conn_receive_data(t->z, NULL, 0), 0);
  p1_srv_drain(t);
  faults_check("nghttp2 client -> zttp server, EOF");
  assert_int_equal(t->z_closed, 1);
  assert_int_equal(zttp_conn_should_close(t->z), 1);
  assert_true(t->z_win_stream > 0 && t->z_win_conn > 0);
  assert_true(t->wake_event > 0 && t->wake_room > 0);

  p1_free(t);
  g_p1 = NULL;
}

/* ======================================================================== */
/* Part 2: zttp client -> nghttp2 server                                    */
/* ======================================================================== */

#define P2_MAIN 1010
#define P2_EXTRA 300
#define P2_REFUSED 10 /* requests below P2_MAIN the GOAWAY leaves out */

/* The zttp client application's view of one request. */
typedef struct zc_stream {
  int64_t id;
  uint8_t opened, got_100, blk, sent_done, closed, reset_seen, did_reset;
  uint8_t complete;
  uint32_t reset_code;
  uint64_t req_sent, resp_off, bad_at;
  int status;
  h_str info, hdrs, trailers;
} zc_stream;

/* The nghttp2 server application's view of one request. */
typedef struct ns_stream {
  int32_t id;
  uint8_t known, req_done, responded, want_rst, rst_sent, closed;
  uint32_t close_code, ntr;
  uint64_t req_bytes, sum, resp_sent;
  h_str blk;
  char pre[160];
  size_t pre_len;
  char suf[64];
} ns_stream;

typedef struct p2 {
  spec *specs;
  size_t nspecs;
  size_t n_main;
  size_t last_idx; /* the GOAWAY's last stream is this request's */
  nghttp2_session *ng;
  zttp_conn *z;
  zc_stream *zc;
  ns_stream *ns;
  size_t next, inflight;
  int dead, stop_submit, goaway_pending, goaway_submitted;
  size_t z_goaways, z_closed_after_goaway, z_closed, z_settings;
  size_t z_retry_later;
  int64_t z_goaway_last;
  uint64_t z_goaway_code;
  h_str z_goaway_debug;
  size_t z_win_stream, z_win_conn, wake_event, wake_room;
  size_t z_resets_seen, z_refused_seen, z_resets_sent, ng_refused;
  size_t ng_resets_sent, ng_resets_seen;
  uint64_t req_bytes, resp_bytes;
  size_t rounds;
  uint8_t scratch[65536];
} p2;

static zc_stream *p2_zc(p2 *t, int64_t id, const spec **s) {
  if (id <= 0 || (id & 1) == 0 || (uint64_t)(id - 1) / 2 >= t->next) {
    return NULL;
  }
  size_t idx = (size_t)(id - 1) / 2;
  *s = &t->specs[idx];
  return &t->zc[idx];
}

static void zc_reset(p2 *t, zc_stream *c, const spec *s) {
  int32_t rv = zttp_conn_reset_stream(t->z, c->id, s->reset_code);
  if (rv != 0) {
    faultf("p2 client: reset_stream(%lld): %s", (long long)c->id,
           h_errname(rv));
  }
  c->did_reset = 1;
  c->closed = 1;
  t->z_resets_sent++;
  t->inflight--;
}

/* Sends what the request can send now. */
static void zc_send_more(p2 *t, zc_stream *c, const spec *s) {
  fields f;
  zttp_header h[16];
  while (!c->closed && c->blk == BLK_NONE && !c->sent_done) {
    if (s->expect_100 && !c->got_100) {
      return;
    }
    if (c->req_sent < s->req_len) {
      if (s->reset == R_CLIENT_BODY && c->req_sent >= s->reset_at) {
        zc_reset(t, c, s);
        return;
      }
      size_t n = (size_t)(s->req_len - c->req_sent);
      if (s->reset == R_CLIENT_BODY) {
        n = (size_t)(s->reset_at - c->req_sent);
      }
      if (s->idx % 2 == 0) {
        if (n > 40000) {
          n = 40000;
        }
      } else {
        int64_t w = zttp_conn_send_window(t->z, c->id);
        if (w < 0) {
          faultf("p2 client: send_window(%lld): %s", (long long)c->id,
                 h_errname(w));
          c->closed = 1;
          return;
        }
        if ((uint64_t)w < n) {
          n = (size_t)w;
        }
        if (n == 0) {
          c->blk = BLK_UNKNOWN;
          return;
        }
      }
      if (n > sizeof(t->scratch)) {
        n = sizeof(t->scratch);
      }
      body_fill(t->scratch, s->idx, c->req_sent, n);
      int last =
          c->req_sent + n == s->req_len && !s->req_trailers && s->end_with_data;
      int64_t k = zttp_conn_send_data(t->z, c->id, t->scratch, n,
                                      last ? ZTTP_SEND_FLAG_END_STREAM : 0);
      if (k < 0 || (uint64_t)k > n) {
        faultf("p2 client: idx %u: send_data(%zu): %s", s->idx, n,
               h_errname(k));
        c->closed = 1;
        return;
      }
      if (s->idx % 2 == 1 && (size_t)k != n) {
        faultf("p2 client: idx %u: send_data took %lld of the %zu bytes "
               "zttp_conn_send_window() promised",
               s->idx, (long long)k, n);
      }
      c->req_sent += (uint64_t)k;
      t->req_bytes += (uint64_t)k;
      if (last && (size_t)k == n) {
        c->sent_done = 1;
        return;
      }
      if ((size_t)k < n) {
        c->blk = BLK_UNKNOWN;
        return;
      }
      continue;
    }
    int32_t rv;
    if (s->req_trailers) {
      req_trailer_fields(&f, s);
      rv = zttp_conn_end_message(t->z, c->id, h, fl_zttp(h, &f));
    } else {
      rv = zttp_conn_end_message(t->z, c->id, NULL, 0);
    }
    if (rv == ZTTP_ERR_BUFFER_FULL) {
      c->blk = BLK_ROOM;
      return;
    }
    if (rv != 0) {
      faultf("p2 client: idx %u: end_message: %s", s->idx, h_errname(rv));
    }
    c->sent_done = 1;
  }
}

static void p2_submit(p2 *t) {
  while (!t->stop_submit && t->inflight < MAX_INFLIGHT && t->next < t->nspecs) {
    const spec *s = &t->specs[t->next];
    zc_stream *c = &t->zc[t->next];
    fields f;
    zttp_header h[16];
    req_fields(&f, s, 1);
    int end = !(s->method == M_POST && (s->req_len > 0 || s->req_trailers));
    const char *m = method_name(s->method);
    int64_t id = zttp_conn_send_request(t->z, m, strlen(m), s->path,
                                        strlen(s->path), h, fl_zttp(h, &f),
                                        end ? ZTTP_SEND_FLAG_END_STREAM : 0);
    if (id == ZTTP_ERR_BUFFER_FULL || id == ZTTP_ERR_STREAM_LIMIT) {
      /* Retry later (a stream zttp still flushes counts until then). */
      t->z_retry_later++;
      return;
    }
    if (id == ZTTP_ERR_CLOSED && t->z_goaways > 0) {
      /* The peer's GOAWAY forbids new streams. */
      t->z_closed_after_goaway++;
      t->stop_submit = 1;
      return;
    }
    if (id != (int64_t)(2 * t->next + 1)) {
      faultf("p2 client: send_request for idx %zu returned %lld (%s)", t->next,
             (long long)id, id < 0 ? h_errname(id) : "");
      t->dead = 1;
      return;
    }
    c->id = id;
    c->opened = 1;
    c->sent_done = (uint8_t)end;
    c->bad_at = UINT64_MAX;
    t->next++;
    t->inflight++;
    zc_send_more(t, c, s);
  }
}

static void zc_finish(p2 *t, zc_stream *c) {
  if (!c->closed && c->complete && c->sent_done) {
    c->closed = 1;
    t->inflight--;
  }
}

static void p2_client_event(p2 *t, const zttp_event *ev) {
  const spec *s = NULL;
  zc_stream *c;
  int32_t rv;
  switch (ev->kind) {
  case ZTTP_EVENT_RESPONSE: {
    const zttp_response_event *r = &ev->u.response;
    c = p2_zc(t, ev->stream_id, &s);
    if (c == NULL || c->closed) {
      faultf("p2 client: RESPONSE on stream %lld %s", (long long)ev->stream_id,
             c == NULL ? "never opened" : "closed");
      return;
    }
    if (r->http_version != 20) {
      faultf("p2 client: http_version %u", r->http_version);
    }
    if (r->status < 200) {
      h_str_addf(&c->info, "%u\n", r->status);
      hl_zttp(&c->info, r->headers, r->num_headers);
      if (r->status == 100) {
        c->got_100 = 1;
        zc_send_more(t, c, s);
      }
      return;
    }
    if (c->status != 0) {
      faultf("p2 client: idx %u: two final responses", s->idx);
    }
    c->status = (int)r->status;
    hl_zttp(&c->hdrs, r->headers, r->num_headers);
    uint32_t want = bodyless(s) ? ZTTP_EVENT_FLAG_END_STREAM : 0;
    if (ev->flags != want) {
      faultf("p2 client: idx %u: RESPONSE flags %u, want %u", s->idx, ev->flags,
             want);
    }
    return;
  }
  case ZTTP_EVENT_DATA:
    c = p2_zc(t, ev->stream_id, &s);
    if (c == NULL || c->closed) {
      faultf("p2 client: DATA on stream %lld %s", (long long)ev->stream_id,
             c == NULL ? "never opened" : "closed");
      return;
    }
    if (c->bad_at == UINT64_MAX) {
      uint64_t bad =
          resp_check(s, c->resp_off, ev->u.data.data, ev->u.data.len);
      if (bad != UINT64_MAX) {
        c->bad_at = bad;
        faultf("p2 client: idx %u: response body byte %llu wrong", s->idx,
               (unsigned long long)bad);
      }
    }
    c->resp_off += ev->u.data.len;
    t->resp_bytes += ev->u.data.len;
    rv = zttp_conn_data_consumed(t->z, ev->stream_id, ev->u.data.len);
    if (rv != 0) {
      faultf("p2 client: data_consumed: %s", h_errname(rv));
    }
    if (s->reset == R_CLIENT_RESP && c->resp_off >= s->reset_at) {
      zc_reset(t, c, s);
    }
    return;
  case ZTTP_EVENT_END_MESSAGE: {
    c = p2_zc(t, ev->stream_id, &s);
    if (c == NULL || c->closed) {
      faultf("p2 client: END_MESSAGE on stream %lld %s",
             (long long)ev->stream_id, c == NULL ? "never opened" : "closed");
      return;
    }
    hl_zttp(&c->trailers, ev->u.end.trailers, ev->u.end.num_trailers);
    c->complete = 1;
    zc_finish(t, c);
    return;
  }
  case ZTTP_EVENT_STREAM_RESET:
    c = p2_zc(t, ev->stream_id, &s);
    if (c == NULL || c->closed) {
      faultf("p2 client: STREAM_RESET %llu on stream %lld %s",
             (unsigned long long)ev->u.reset.error_code,
             (long long)ev->stream_id, c == NULL ? "never opened" : "closed");
      return;
    }
    c->reset_seen = 1;
    c->reset_code = (uint32_t)ev->u.reset.error_code;
    c->closed = 1;
    t->inflight--;
    if (s->idx > t->last_idx) {
      t->z_refused_seen++;
    } else {
      t->z_resets_seen++;
    }
    return;
  case ZTTP_EVENT_GOAWAY:
    t->z_goaways++;
    t->z_goaway_last = ev->u.goaway.last_stream_id;
    t->z_goaway_code = ev->u.goaway.error_code;
    hs_clear(&t->z_goaway_debug);
    h_str_add(&t->z_goaway_debug, ev->u.goaway.debug_data.base,
              ev->u.goaway.debug_data.len);
    return;
  case ZTTP_EVENT_WINDOW_UPDATE:
    if (ev->stream_id == 0) {
      t->z_win_conn++;
      for (size_t i = 0; i < t->next; i++) {
        if (!t->zc[i].closed && t->zc[i].blk != BLK_NONE) {
          t->zc[i].blk = BLK_NONE;
          t->wake_event++;
        }
      }
      return;
    }
    t->z_win_stream++;
    c = p2_zc(t, ev->stream_id, &s);
    if (c == NULL) {
      faultf("p2 client: WINDOW_UPDATE on unknown stream %lld",
             (long long)ev->stream_id);
      return;
    }
    if (!c->closed && c->blk != BLK_NONE) {
      c->blk = BLK_NONE;
      t->wake_event++;
    }
    return;
  case ZTTP_EVENT_SETTINGS:
    t->z_settings++;
    return;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    if (ev->u.closed.error != 0 || t->z_closed) {
      faultf("p2 client: CONNECTION_CLOSED error %s",
             h_errname(ev->u.closed.error));
    }
    t->z_closed++;
    return;
  default:
    faultf("p2 client: unexpected event %u on stream %lld", ev->kind,
           (long long)ev->stream_id);
    return;
  }
}

static void p2_client_drain(p2 *t) {
  for (;;) {
    zttp_event ev;
    int32_t rv = zttp_conn_next_event(t->z, &ev);
    if (rv == 0) {
      return;
    }
    if (rv < 0) {
      const char *msg = NULL;
      uint64_t wire = 0;
      zttp_conn_last_error(t->z, &msg, &wire, NULL);
      faultf("p2 client: next_event: %s (%s, wire %llu)", h_errname(rv),
             msg != NULL ? msg : "", (unsigned long long)wire);
      t->dead = 1;
      return;
    }
    p2_client_event(t, &ev);
  }
}

static void p2_client_produce(p2 *t) {
  for (size_t i = 0; i < t->next; i++) {
    zc_stream *c = &t->zc[i];
    if (!c->closed && c->blk == BLK_NONE && !c->sent_done) {
      zc_send_more(t, c, &t->specs[i]);
    }
  }
}

static void p2_client_unblock(p2 *t) {
  for (size_t i = 0; i < t->next; i++) {
    zc_stream *c = &t->zc[i];
    if (c->closed) {
      continue;
    }
    if (c->blk == BLK_ROOM) {
      c->blk = BLK_NONE;
      t->wake_room++;
    } else if (c->blk == BLK_UNKNOWN) {
      int64_t w = zttp_conn_send_window(t->z, c->id);
      if (w < 0) {
        faultf("p2 client: send_window(%lld): %s", (long long)c->id,
               h_errname(w));
        c->closed = 1;
      } else if (w > 0) {
        c->blk = BLK_NONE;
        t->wake_room++;
      } else {
        c->blk = BLK_FLOW;
      }
    }
  }
}

/* ---- the nghttp2 server application ---- */

static ns_stream *p2_ns(p2 *t, int32_t id, const spec **s) {
  if (id <= 0 || (id & 1) == 0 || (size_t)(id - 1) / 2 >= t->nspecs) {
    return NULL;
  }
  size_t idx = (size_t)(id - 1) / 2;
  *s = &t->specs[idx];
  return &t->ns[idx];
}

static ssize_t p2s_read(nghttp2_session *ng, int32_t id, uint8_t *buf,
                        size_t length, uint32_t *flags,
                        nghttp2_data_source *src, void *ud) {
  p2 *t = ud;
  ns_stream *n = src->ptr;
  const spec *s = &t->specs[n - t->ns];
  uint64_t mid = middle_len(s);
  size_t done = 0;
  while (done < length) {
    uint64_t o = n->resp_sent;
    size_t k;
    if (o < n->pre_len) {
      k = (size_t)(n->pre_len - o);
      k = k < length - done ? k : length - done;
      memcpy(buf + done, n->pre + o, k);
    } else if (o < n->pre_len + mid) {
      uint64_t m = o - n->pre_len;
      uint64_t lim = s->reset == R_CLIENT_RESP ? mid - STALL : mid;
      if (s->reset == R_SERVER_MID && s->method == M_GET && m >= s->reset_at) {
        n->want_rst = 1;
        lim = m;
      }
      if (m >= lim) {
        break; /* held back */
      }
      k = (size_t)(lim - m);
      k = k < length - done ? k : length - done;
      body_fill(buf + done, s->idx + GEN_KEY, m, k);
    } else if (o < n->pre_len + mid + SUFFIX_LEN) {
      if (n->resp_sent == n->pre_len + mid) {
        suffix_text(n->suf, sizeof(n->suf), n->req_bytes, n->sum, n->ntr);
      }
      k = (size_t)(n->pre_len + mid + SUFFIX_LEN - o);
      k = k < length - done ? k : length - done;
      memcpy(buf + done, n->suf + (o - n->pre_len - mid), k);
    } else {
      break;
    }
    done += k;
    n->resp_sent += k;
  }
  if (n->resp_sent == n->pre_len + mid + SUFFIX_LEN) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->resp_trailers) {
      fields f;
      nghttp2_nv nv[4];
      resp_trailer_fields(&f, s, n->sum);
      for (size_t i = 0; i < f.n; i++) {
        nv[i] = nvs(f.name[i], f.value[i]);
      }
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      int rv = nghttp2_submit_trailer(ng, id, nv, f.n);
      if (rv != 0) {
        faultf("nghttp2_submit_trailer: %s", nghttp2_strerror(rv));
      }
    }
    return (ssize_t)done;
  }
  if (done == 0) {
    return NGHTTP2_ERR_DEFERRED;
  }
  return (ssize_t)done;
}

static void p2_respond(p2 *t, nghttp2_session *ng, ns_stream *n,
                       const spec *s) {
  if (n->responded || n->want_rst || n->closed || s->idx > t->last_idx) {
    return;
  }
  fields f;
  nghttp2_nv nv[20];
  size_t k = 0;
  char status[8];
  snprintf(status, sizeof(status), "%u", s->status);
  resp_fields(&f, s, n->sum, n->ntr);
  nv[k++] = nvs(":status", status);
  for (size_t i = 0; i < f.n; i++) {
    nv[k++] = nvs(f.name[i], f.value[i]);
  }
  n->pre_len = prefix_text(n->pre, sizeof(n->pre), s);
  nghttp2_data_provider prd;
  prd.source.ptr = n;
  prd.read_callback = p2s_read;
  int rv = nghttp2_submit_response(ng, n->id, nv, k, bodyless(s) ? NULL : &prd);
  if (rv != 0) {
    faultf("nghttp2_submit_response(%d): %s", n->id, nghttp2_strerror(rv));
  }
  n->responded = 1;
}

static int p2s_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame,
                             void *ud) {
  p2 *t = ud;
  const spec *s;
  (void)ng;
  ns_stream *n = p2_ns(t, frame->hd.stream_id, &s);
  if (n == NULL) {
    faultf("p2 server: HEADERS on stream %d", frame->hd.stream_id);
    return 0;
  }
  hs_clear(&n->blk);
  return 0;
}

static int p2s_header(nghttp2_session *ng, const nghttp2_frame *frame,
                      const uint8_t *name, size_t namelen, const uint8_t *value,
                      size_t valuelen, uint8_t flags, void *ud) {
  p2 *t = ud;
  const spec *s;
  (void)ng;
  (void)flags;
  ns_stream *n = p2_ns(t, frame->hd.stream_id, &s);
  if (n != NULL) {
    hl_add(&n->blk, name, namelen, value, valuelen);
  }
  return 0;
}

static void p2s_request_done(p2 *t, nghttp2_session *ng, ns_stream *n,
                             const spec *s) {
  if (n->req_bytes != s->req_len || n->sum != s->req_sum) {
    faultf("p2 server: idx %u: request body of %llu bytes, want %zu", s->idx,
           (unsigned long long)n->req_bytes, s->req_len);
  }
  n->req_done = 1;
  p2_respond(t, ng, n, s);
}

static int p2s_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame,
                          void *ud) {
  p2 *t = ud;
  const spec *s = NULL;
  ns_stream *n;
  int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS:
    n = p2_ns(t, frame->hd.stream_id, &s);
    if (n == NULL) {
      return 0;
    }
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      h_str want = {0};
      fields f;
      req_fields(&f, s, 1);
      h_str_addf(&want,
                 ":method=%s\n:scheme=http\n:authority=ng.test\n"
                 ":path=%s\n",
                 method_name(s->method), s->path);
      f.n--; /* Host became :authority */
      memmove(f.name, f.name + 1, f.n * sizeof(f.name[0]));
      memmove(f.value, f.value + 1, f.n * sizeof(f.value[0]));
      fl_text(&want, &f);
      if (strcmp(h_str_cstr(&want), h_str_cstr(&n->blk)) != 0) {
        faultf("p2 server: idx %u: request head\n%s  differs from\n%s", s->idx,
               h_str_cstr(&n->blk), h_str_cstr(&want));
      }
      h_str_free(&want);
      n->known = 1;
      n->id = frame->hd.stream_id;
      n->sum = FNV_INIT;
      if (s->idx == t->n_main - 1) {
        t->goaway_pending = 1;
      }
      if (s->reset == R_SERVER_HEAD) {
        n->want_rst = 1;
        return 0;
      }
      if (s->expect_100) {
        nghttp2_nv nv = nvs(":status", "100");
        int32_t rv = nghttp2_submit_headers(ng, NGHTTP2_FLAG_NONE, n->id, NULL,
                                            &nv, 1, NULL);
        if (rv != 0) {
          faultf("nghttp2_submit_headers(100): %s", nghttp2_strerror(rv));
        }
      }
      if (s->early_hints) {
        fields e;
        early_fields(&e, s);
        nghttp2_nv nv[2] = {nvs(":status", "103"), nvs(e.name[0], e.value[0])};
        int32_t rv = nghttp2_submit_headers(ng, NGHTTP2_FLAG_NONE, n->id, NULL,
                                            nv, 2, NULL);
        if (rv != 0) {
          faultf("nghttp2_submit_headers(103): %s", nghttp2_strerror(rv));
        }
      }
      if (end) {
        p2s_request_done(t, ng, n, s);
      }
      return 0;
    }
    /* Trailers. */
    {
      h_str want = {0};
      fields f;
      if (s->req_trailers) {
        req_trailer_fields(&f, s);
        fl_text(&want, &f);
      }
      if (strcmp(h_str_cstr(&want), h_str_cstr(&n->blk)) != 0 || !end) {
        faultf("p2 server: idx %u: request trailers\n%s  differ from\n%s",
               s->idx, h_str_cstr(&n->blk), h_str_cstr(&want));
      }
      h_str_free(&want);
      n->ntr = s->req_trailers ? 2 : 0;
      p2s_request_done(t, ng, n, s);
    }
    return 0;
  case NGHTTP2_DATA:
    n = p2_ns(t, frame->hd.stream_id, &s);
    if (n != NULL && end) {
      p2s_request_done(t, ng, n, s);
    }
    return 0;
  default:
    return 0;
  }
}

static int p2s_data(nghttp2_session *ng, uint8_t flags, int32_t id,
                    const uint8_t *data, size_t len, void *ud) {
  p2 *t = ud;
  const spec *s;
  (void)ng;
  (void)flags;
  ns_stream *n = p2_ns(t, id, &s);
  if (n == NULL || !n->known) {
    faultf("p2 server: DATA on stream %d", id);
    return 0;
  }
  if (n->req_bytes + len > s->req_len ||
      body_cmp(data, len, s->idx, n->req_bytes) != len) {
    faultf("p2 server: idx %u: request body bytes at %llu differ", s->idx,
           (unsigned long long)n->req_bytes);
  }
  n->sum = fnv(n->sum, data, len);
  n->req_bytes += len;
  if (s->reset == R_SERVER_MID && s->method == M_POST &&
      n->req_bytes >= s->reset_at) {
    n->want_rst = 1;
  }
  return 0;
}

static int p2s_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud) {
  p2 *t = ud;
  const spec *s;
  (void)ng;
  ns_stream *n = p2_ns(t, id, &s);
  if (n == NULL) {
    faultf("p2 server: close of stream %d", id);
    return 0;
  }
  if (n->closed) {
    faultf("p2 server: stream %d closed twice", id);
  }
  n->closed = 1;
  n->close_code = code;
  if (s->idx > t->last_idx) {
    t->ng_refused++;
  } else if (!n->rst_sent &&
             (s->reset == R_CLIENT_BODY || s->reset == R_CLIENT_RESP)) {
    t->ng_resets_seen++;
  }
  return 0;
}

static int p2s_not_send(nghttp2_session *ng, const nghttp2_frame *frame,
                        int lib_error, void *ud) {
  p2 *t = ud;
  const spec *s = NULL;
  (void)ng;
  ns_stream *n = p2_ns(t, frame->hd.stream_id, &s);
  if (n != NULL && lib_error == NGHTTP2_ERR_STREAM_CLOSED &&
      (s->reset == R_CLIENT_BODY || s->reset == R_CLIENT_RESP)) {
    return 0; /* the client's RST_STREAM overtook a 1xx or the response */
  }
  if (n != NULL && lib_error == NGHTTP2_ERR_STREAM_CLOSING && n->rst_sent) {
    return 0; /* our own RST_STREAM overtook the 1xx */
  }
  faultf("p2 server: frame type %u on stream %d not sent: %s %s",
         frame->hd.type, frame->hd.stream_id, nghttp2_strerror(lib_error),
         n != NULL ? spec_desc(s) : "");
  return 0;
}

static void p2_server_actions(p2 *t) {
  for (size_t i = 0; i < t->nspecs; i++) {
    ns_stream *n = &t->ns[i];
    if (n->known && n->want_rst && !n->rst_sent && !n->closed) {
      int rv = nghttp2_submit_rst_stream(t->ng, NGHTTP2_FLAG_NONE, n->id,
                                         t->specs[i].reset_code);
      if (rv != 0) {
        faultf("nghttp2_submit_rst_stream: %s", nghttp2_strerror(rv));
      }
      n->rst_sent = 1;
      t->ng_resets_sent++;
    }
  }
  if (t->goaway_pending && !t->goaway_submitted) {
    int rv = nghttp2_submit_goaway(t->ng, NGHTTP2_FLAG_NONE,
                                   (int32_t)(2 * t->last_idx + 1),
                                   NGHTTP2_NO_ERROR, u8("bye"), 3);
    if (rv != 0) {
      faultf("nghttp2_submit_goaway: %s", nghttp2_strerror(rv));
    }
    t->goaway_submitted = 1;
  }
}

static nghttp2_session *p2_server_new(p2 *t) {
  nghttp2_session_callbacks *cb;
  nghttp2_session *ng;
  assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
                                                          p2s_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, p2s_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, p2s_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, p2s_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, p2s_close);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, p2s_not_send);
  nghttp2_session_callbacks_set_select_padding_callback(cb, p1c_padding);
  assert_int_equal(nghttp2_session_server_new(&ng, cb, t), 0);
  nghttp2_session_callbacks_del(cb);
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
  };
  assert_int_equal(
      nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, COUNT_OF(iv)), 0);
  assert_int_equal(
      nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, 1 << 17),
      0);
  return ng;
}

static void p2_feed(p2 *t, const uint8_t *d, size_t n) {
  while (n > 0 && !t->dead) {
    int64_t k = zttp_conn_receive_data(t->z, d, n);
    if (k < 0) {
      faultf("p2 client: receive_data: %s", h_errname(k));
      t->dead = 1;
      return;
    }
    d += k;
    n -= (size_t)k;
    p2_client_drain(t);
  }
}

static p2 *g_p2;

static void p2_free(p2 *t) {
  if (t == NULL) {
    return;
  }
  for (size_t i = 0; i < t->nspecs; i++) {
    if (t->zc != NULL) {
      h_str_free(&t->zc[i].info);
      h_str_free(&t->zc[i].hdrs);
      h_str_free(&t->zc[i].trailers);
    }
    if (t->ns != NULL) {
      h_str_free(&t->ns[i].blk);
    }
  }
  h_str_free(&t->z_goaway_debug);
  nghttp2_session_del(t->ng);
  zttp_conn_free(t->z);
  free(t->specs);
  free(t->zc);
  free(t->ns);
  free(t);
}

static void test_zttp_client_workload(void **state) {
  (void)state;
  p2 *t = calloc(1, sizeof(*t));
  assert_non_null(t);
  g_p2 = t;
  t->n_main = P2_MAIN;
  t->nspecs = P2_MAIN + P2_EXTRA;
  t->last_idx = P2_MAIN - 1 - P2_REFUSED;
  t->specs = calloc(t->nspecs, sizeof(*t->specs));
  t->zc = calloc(t->nspecs, sizeof(*t->zc));
  t->ns = calloc(t->nspecs, sizeof(*t->ns));
  assert_true(t->specs && t->zc && t->ns);
  make_specs(t->specs, t->nspecs, 0x4321 + NG_SEED, 0, t->last_idx + 1);
  zttp_config *cfg =
      h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_OUTPUT_BUFFER, 65536}), NULL);
  assert_int_equal(zttp_conn_new(&t->z, cfg, ZTTP_CLIENT, ZTTP_HTTP2), 0);
  zttp_config_free(cfg);
  t->ng = p2_server_new(t);

  size_t idle = 0;
  for (t->rounds = 0; !t->dead && g_num_faults < 40; t->rounds++) {
    uint64_t moved = 0;
    p2_submit(t);
    p2_client_produce(t);
    for (;;) {
      const uint8_t *o;
      size_t n = zttp_conn_pending(t->z, &o);
      if (n == 0) {
        break;
      }
      ssize_t rv = nghttp2_session_mem_recv(t->ng, o, n);
      if (rv != (ssize_t)n) {
        faultf("nghttp2_session_mem_recv: %s", nghttp2_strerror((int)rv));
        t->dead = 1;
        break;
      }
      assert_int_equal(zttp_conn_consume(t->z, n), 0);
      moved += n;
    }
    p2_client_unblock(t);
    p2_server_actions(t);
    for (;;) {
      const uint8_t *d;
      ssize_t n = nghttp2_session_mem_send(t->ng, &d);
      if (n < 0) {
        faultf("nghttp2_session_mem_send: %s", nghttp2_strerror((int)n));
        t->dead = 1;
        break;
      }
      if (n == 0) {
        break;
      }
      moved += (uint64_t)n;
      p2_feed(t, d, (size_t)n);
    }
    p2_client_drain(t);
    if (moved > 0) {
      idle = 0;
      continue;
    }
    if (!nghttp2_session_want_read(t->ng) &&
        !nghttp2_session_want_write(t->ng)) {
      break;
    }
    if (++idle > 3) {
      faultf("p2: stalled after %zu rounds, %zu requests sent, %zu in flight",
             t->rounds, t->next, t->inflight);
      size_t shown = 0;
      for (size_t i = 0; i < t->next && shown < 8; i++) {
        zc_stream *c = &t->zc[i];
        ns_stream *n = &t->ns[i];
        const spec *s = &t->specs[i];
        if (c->closed) {
          continue;
        }
        shown++;
        faultf("  open idx %zu id %lld %s req %llu/%zu blk %u sent_done %u "
               "100 %u; got %llu/%llu complete %u; nghttp2: known %u got "
               "%llu responded %u sent %llu closed %u; zttp window %lld, "
               "nghttp2 local window %d",
               i, (long long)c->id, method_name(s->method),
               (unsigned long long)c->req_sent, s->req_len, c->blk,
               c->sent_done, c->got_100, (unsigned long long)c->resp_off,
               (unsigned long long)(bodyless(s) ? 0 : resp_total(s)),
               c->complete, n->known, (unsigned long long)n->req_bytes,
               n->responded, (unsigned long long)n->resp_sent, n->closed,
               (long long)zttp_conn_send_window(t->z, c->id),
               nghttp2_session_get_stream_local_window_size(t->ng,
                                                            (int32_t)c->id));
      }
      uint64_t got = 0;
      for (size_t i = 0; i < t->nspecs; i++) {
        got += t->ns[i].req_bytes;
      }
      faultf("  zttp took %llu request body bytes, nghttp2 received %llu; "
             "nghttp2 connection local window %d",
             (unsigned long long)t->req_bytes, (unsigned long long)got,
             nghttp2_session_get_local_window_size(t->ng));
      break;
    }
  }
  faults_check("zttp client -> nghttp2 server, the exchange");

  size_t resets[5] = {0};
  size_t completed = 0;
  size_t refused = 0;
  size_t refused_known = 0;
  for (size_t i = 0; i < t->next; i++) {
    const spec *s = &t->specs[i];
    zc_stream *c = &t->zc[i];
    ns_stream *n = &t->ns[i];
    if (!c->closed) {
      faultf("idx %zu (stream %lld) never closed", i, (long long)c->id);
      continue;
    }
    if (i > t->last_idx) {
      /* RFC 9113 §6.8: not processed; the client may retry. */
      refused++;
      refused_known += n->known;
      if (!c->reset_seen || c->reset_code != NGHTTP2_REFUSED_STREAM ||
          n->responded ||
          (n->known &&
           (!n->closed || n->close_code != NGHTTP2_REFUSED_STREAM))) {
        faultf("idx %zu above the GOAWAY: reset %u code %u; server knew %u, "
               "closed %u code %u",
               i, c->reset_seen, c->reset_code, n->known, n->closed,
               n->close_code);
      }
      continue;
    }
    resets[s->reset]++;
    if (s->reset != R_NONE) {
      int client = s->reset == R_CLIENT_BODY || s->reset == R_CLIENT_RESP;
      if (c->did_reset != client || c->reset_seen == client ||
          (!client && c->reset_code != s->reset_code) || !n->closed ||
          n->close_code != s->reset_code || n->rst_sent == client) {
        faultf("idx %zu: reset kind %u code %u: client reset %u saw %u "
               "(code %u); server closed %u code %u sent RST %u",
               i, s->reset, s->reset_code, c->did_reset, c->reset_seen,
               c->reset_code, n->closed, n->close_code, n->rst_sent);
      }
      continue;
    }
    h_str info = {0};
    h_str hdrs = {0};
    h_str tr = {0};
    expect_info(&info, s);
    cli_expect_body(s, &hdrs, &tr);
    uint64_t total = bodyless(s) ? 0 : resp_total(s);
    if (!c->complete || c->reset_seen || c->status != (int)s->status ||
        strcmp(h_str_cstr(&info), h_str_cstr(&c->info)) != 0 ||
        strcmp(h_str_cstr(&hdrs), h_str_cstr(&c->hdrs)) != 0 ||
        strcmp(h_str_cstr(&tr), h_str_cstr(&c->trailers)) != 0 ||
        c->resp_off != total || c->bad_at != UINT64_MAX || !n->req_done ||
        !n->closed || n->close_code != 0) {
      faultf("idx %zu (stream %lld, %s %u): complete %u status %d, %llu of "
             "%llu body bytes; 1xx\n%s(want\n%s) head\n%s(want\n%s) "
             "trailers\n%s(want\n%s)",
             i, (long long)c->id, method_name(s->method), s->status,
             c->complete, c->status, (unsigned long long)c->resp_off,
             (unsigned long long)total, h_str_cstr(&c->info), h_str_cstr(&info),
             h_str_cstr(&c->hdrs), h_str_cstr(&hdrs), h_str_cstr(&c->trailers),
             h_str_cstr(&tr));
    } else {
      completed++;
    }
    h_str_free(&info);
    h_str_free(&hdrs);
    h_str_free(&tr);
  }
  size_t n_resets = resets[1] + resets[2] + resets[3] + resets[4];
  print_message("# zttp client -> nghttp2 server: %zu requests, %zu completed, "
                "%zu refused by the GOAWAY, resets: %zu client mid-body, %zu "
                "client mid-response, %zu server on head, %zu server "
                "mid-stream; %llu request and %llu response body bytes; %zu "
                "rounds; zttp WINDOW_UPDATE events %zu stream, %zu "
                "connection; wakes %zu by event, %zu by drained output\n",
                t->next, completed, refused, resets[1], resets[2], resets[3],
                resets[4], (unsigned long long)t->req_bytes,
                (unsigned long long)t->resp_bytes, t->rounds, t->z_win_stream,
                t->z_win_conn, t->wake_event, t->wake_room);
  faults_check("zttp client -> nghttp2 server, per exchange");
  assert_true(t->next >= P2_MAIN);
  assert_int_equal(completed + n_resets, t->last_idx + 1);
  assert_int_equal(refused, t->next - t->last_idx - 1);
  assert_int_equal(t->z_refused_seen, refused);
  assert_int_equal(t->ng_refused, refused_known);
  assert_int_equal(t->z_resets_seen,
                   resets[R_SERVER_HEAD] + resets[R_SERVER_MID]);
  assert_int_equal(t->z_resets_sent,
                   resets[R_CLIENT_BODY] + resets[R_CLIENT_RESP]);
  assert_int_equal(t->ng_resets_seen, t->z_resets_sent);
  assert_true(resets[1] > 0 && resets[2] > 0 && resets[3] > 0 && resets[4] > 0);
  assert_int_equal(t->z_goaways, 1);
  assert_int_equal(t->z_goaway_last, (int64_t)(2 * t->last_idx + 1));
  assert_int_equal(t->z_goaway_code, 0);
  assert_string_equal(h_str_cstr(&t->z_goaway_debug), "bye");
  assert_int_equal(t->z_closed_after_goaway, 1);
  assert_int_equal(t->z_settings, 1);
  assert_true(t->z_win_stream > 0 && t->z_win_conn > 0);
  assert_true(t->wake_event > 0 && t->wake_room > 0);
  const uint8_t *o;
  assert_int_equal(zttp_conn_pending(t->z, &o), 0);
  assert_int_equal(zttp_conn_should_close(t->z), 1);
  /* The server closes the connection. */
  assert_int_equal(zttp_conn_receive_data(t->z, NULL, 0), 0);
  p2_client_drain(t);
  faults_check("zttp client -> nghttp2 server, EOF");
  assert_int_equal(t->z_closed, 1);

  p2_free(t);
  g_p2 = NULL;
}

/* ======================================================================== */
/* Focused cases: one nghttp2 session, one zttp connection, transcripts     */
/* ======================================================================== */

typedef struct link link;
typedef void (*link_fn)(link *l);

struct link {
  nghttp2_session *ng;
  zttp_conn *z;
  h_rec zr;       /* zttp's events */
  int record_z;   /* h_rec the events (DATA merged) */
  h_event_fn zcb; /* the zttp application */
  void *zarg;
  link_fn zproduce; /* called every round */
  h_str nt;         /* nghttp2's transcript */
  h_str body;       /* DATA bytes nghttp2 received */
  h_str z2n, n2z;   /* the bytes each way */
  size_t max_data_recv, max_data_sent;
  size_t read_length; /* nghttp2 DATA payload cap (0: default) */
  /* What nghttp2 uploads or answers with. */
  const uint8_t *up;
  size_t up_len, up_off;
  int defer_up; /* hold the upload back */
  /* nghttp2 server: the response to each request. */
  const nghttp2_nv *resp_nv;
  size_t resp_nvlen;
  int respond_on_headers; /* answer the request head, not its end */
  int req_done;           /* nghttp2 server: a request ended */
  int stall;              /* rounds without progress: stop */
};

static int lk_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame,
                            void *ud) {
  link *l = ud;
  (void)ng;
  h_str_addf(&l->nt, "HEADERS s=%d\n", frame->hd.stream_id);
  return 0;
}

static int lk_header(nghttp2_session *ng, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *ud) {
  link *l = ud;
  (void)ng;
  (void)frame;
  (void)flags;
  h_str_adds(&l->nt, "  ");
  hl_add(&l->nt, name, namelen, value, valuelen);
  return 0;
}

static ssize_t lk_read(nghttp2_session *ng, int32_t id, uint8_t *buf,
                       size_t length, uint32_t *flags, nghttp2_data_source *src,
                       void *ud) {
  link *l = ud;
  (void)ng;
  (void)id;
  (void)src;
  if (l->defer_up) {
    return NGHTTP2_ERR_DEFERRED;
  }
  size_t n = l->up_len - l->up_off;
  if (n > length) {
    n = length;
  }
  if (n > 0) {
    memcpy(buf, l->up + l->up_off, n);
  }
  l->up_off += n;
  if (l->up_off == l->up_len) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return (ssize_t)n;
}

static ssize_t lk_read_length(nghttp2_session *ng, uint8_t frame_type,
                              int32_t stream_id,
                              int32_t session_remote_window_size,
                              int32_t stream_remote_window_size,
                              uint32_t remote_max_frame_size, void *ud) {
  link *l = ud;
  (void)ng;
  (void)frame_type;
  (void)stream_id;
  ssize_t n = l->read_length != 0 ? (ssize_t)l->read_length : 16384;
  if (n > session_remote_window_size) {
    n = session_remote_window_size;
  }
  if (n > stream_remote_window_size) {
    n = stream_remote_window_size;
  }
  if (n > (ssize_t)remote_max_frame_size) {
    n = (ssize_t)remote_max_frame_size;
  }
  return n;
}

static int lk_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame,
                         void *ud) {
  link *l = ud;
  int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS:
    if (end) {
      h_str_addf(&l->nt, "END s=%d\n", frame->hd.stream_id);
    }
    break;
  case NGHTTP2_DATA:
    if (frame->hd.length > l->max_data_recv) {
      l->max_data_recv = frame->hd.length;
    }
    if (end) {
      h_str_addf(&l->nt, "END s=%d\n", frame->hd.stream_id);
    }
    break;
  case NGHTTP2_RST_STREAM:
    h_str_addf(&l->nt, "RST s=%d code=%u\n", frame->hd.stream_id,
               frame->rst_stream.error_code);
    break;
  case NGHTTP2_GOAWAY:
    h_str_addf(&l->nt, "GOAWAY last=%d code=%u\n", frame->goaway.last_stream_id,
               frame->goaway.error_code);
    break;
  case NGHTTP2_PING:
    h_str_addf(&l->nt, "PING ack=%d ",
               (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0);
    h_str_add_escaped(&l->nt, frame->ping.opaque_data, 8);
    h_str_adds(&l->nt, "\n");
    break;
  case NGHTTP2_PRIORITY_UPDATE: {
    const nghttp2_ext_priority_update *pu = frame->ext.payload;
    h_str_addf(&l->nt, "PRIORITY_UPDATE s=%d ", pu->stream_id);
    h_str_add_escaped(&l->nt, pu->field_value, pu->field_value_len);
    h_str_adds(&l->nt, "\n");
    break;
  }
  default:
    break;
  }
  /* nghttp2 server: answer a complete request. */
  if (end && nghttp2_session_check_server_session(ng) &&
      (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)) {
    l->req_done = 1;
  }
  int answer = l->respond_on_headers
                   ? frame->hd.type == NGHTTP2_HEADERS &&
                         frame->headers.cat == NGHTTP2_HCAT_REQUEST
                   : end && (frame->hd.type == NGHTTP2_HEADERS ||
                             frame->hd.type == NGHTTP2_DATA);
  if (answer && l->resp_nv != NULL &&
      nghttp2_session_check_server_session(ng)) {
    nghttp2_data_provider prd;
    prd.source.ptr = l;
    prd.read_callback = lk_read;
    int rv =
        nghttp2_submit_response(ng, frame->hd.stream_id, l->resp_nv,
                                l->resp_nvlen, l->up != NULL ? &prd : NULL);
    if (rv != 0) {
      faultf("nghttp2_submit_response: %s", nghttp2_strerror(rv));
    }
  }
  return 0;
}

static int lk_frame_send(nghttp2_session *ng, const nghttp2_frame *frame,
                         void *ud) {
  link *l = ud;
  (void)ng;
  if (frame->hd.type == NGHTTP2_DATA && frame->hd.length > l->max_data_sent) {
    l->max_data_sent = frame->hd.length;
  }
  return 0;
}

static int lk_data(nghttp2_session *ng, uint8_t flags, int32_t id,
                   const uint8_t *data, size_t len, void *ud) {
  link *l = ud;
  (void)ng;
  (void)flags;
  (void)id;
  h_str_add(&l->body, data, len);
  return 0;
}

static int lk_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud) {
  link *l = ud;
  (void)ng;
  h_str_addf(&l->nt, "CLOSE s=%d code=%u\n", id, code);
  return 0;
}

static int lk_invalid(nghttp2_session *ng, const nghttp2_frame *frame,
                      int lib_error, void *ud) {
  (void)ng;
  (void)ud;
  faultf("nghttp2: invalid frame type %u on stream %d: %s", frame->hd.type,
         frame->hd.stream_id, nghttp2_strerror(lib_error));
  return 0;
}

/* Creates the nghttp2 side (client when |z_role| is ZTTP_SERVER) with
 * |opt| (may be NULL) and the zttp side with |cfg| (NULL: defaults). */
static void link_init(link *l, uint32_t z_role, const zttp_config *cfg,
                      nghttp2_option *opt) {
  memset(l, 0, sizeof(*l));
  nghttp2_session_callbacks *cb;
  assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, lk_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, lk_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, lk_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, lk_frame_send);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, lk_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, lk_close);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, lk_invalid);
  nghttp2_session_callbacks_set_data_source_read_length_callback(
      cb, lk_read_length);
  if (z_role == ZTTP_SERVER) {
    assert_int_equal(nghttp2_session_client_new2(&l->ng, cb, l, opt), 0);
  } else {
    assert_int_equal(nghttp2_session_server_new2(&l->ng, cb, l, opt), 0);
  }
  nghttp2_session_callbacks_del(cb);
  assert_int_equal(zttp_conn_new(&l->z, cfg, z_role, ZTTP_HTTP2), 0);
  h_rec_init(&l->zr);
  l->record_z = 1;
}

static void link_free(link *l) {
  if (l->ng == NULL) {
    return;
  }
  nghttp2_session_del(l->ng);
  zttp_conn_free(l->z);
  h_rec_free(&l->zr);
  h_str_free(&l->nt);
  h_str_free(&l->body);
  h_str_free(&l->z2n);
  h_str_free(&l->n2z);
  memset(l, 0, sizeof(*l));
}

/* What the focused cases hold, freed by teardown() when an assertion ends a
 * case early. */
static link g_l;
static zttp_config *g_cfg;
static nghttp2_option *g_opt;
static h_str g_want, g_zwant;

static void link_drain(link *l) {
  for (;;) {
    zttp_event ev;
    int32_t rv = zttp_conn_next_event(l->z, &ev);
    if (rv == 0) {
      return;
    }
    if (rv < 0) {
      h_rec_error(&l->zr, rv);
      faultf("zttp: next_event: %s", h_errname(rv));
      return;
    }
    if (l->record_z) {
      h_rec_event(&l->zr, &ev);
    }
    if (l->zcb != NULL) {
      l->zcb(l->z, &ev, l->zarg);
    }
  }
}

/* Moves bytes both ways until neither side has any. */
static void link_run(link *l) {
  for (int rounds = 0; rounds < 100000 && g_num_faults == 0; rounds++) {
    size_t moved = 0;
    if (l->zproduce != NULL) {
      l->zproduce(l);
    }
    for (;;) {
      const uint8_t *d;
      ssize_t n = nghttp2_session_mem_send(l->ng, &d);
      if (n < 0) {
        faultf("nghttp2_session_mem_send: %s", nghttp2_strerror((int)n));
        return;
      }
      if (n == 0) {
        break;
      }
      h_str_add(&l->n2z, d, (size_t)n);
      moved += (size_t)n;
      while (n > 0) {
        int64_t k = zttp_conn_receive_data(l->z, d, (size_t)n);
        if (k < 0) {
          faultf("zttp: receive_data: %s", h_errname(k));
          return;
        }
        d += k;
        n -= (ssize_t)k;
        link_drain(l);
      }
    }
    link_drain(l);
    for (;;) {
      const uint8_t *o;
      size_t n = zttp_conn_pending(l->z, &o);
      if (n == 0) {
        break;
      }
      h_str_add(&l->z2n, o, n);
      ssize_t rv = nghttp2_session_mem_recv(l->ng, o, n);
      if (rv != (ssize_t)n) {
        faultf("nghttp2_session_mem_recv: %s", nghttp2_strerror((int)rv));
        return;
      }
      assert_int_equal(zttp_conn_consume(l->z, n), 0);
      moved += n;
    }
    if (moved == 0 && l->zproduce == NULL) {
      return;
    }
    if (moved == 0 && ++l->stall > 2) {
      l->stall = 0;
      return;
    }
    if (moved != 0) {
      l->stall = 0;
    }
  }
  faultf("link_run: no end");
}

/* Counts frames of |type| in |wire| (the client magic skipped). */
static size_t count_frames(const h_str *wire, uint8_t type, size_t *max_len) {
  const uint8_t *p = (const uint8_t *)h_str_cstr(wire);
  size_t len = wire->len;
  size_t i = 0;
  size_t num = 0;
  if (len >= 24 && memcmp(p, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24) == 0) {
    i = 24;
  }
  if (max_len != NULL) {
    *max_len = 0;
  }
  while (i + 9 <= len) {
    size_t n = (size_t)p[i] << 16 | (size_t)p[i + 1] << 8 | p[i + 2];
    if (p[i + 3] == type) {
      num++;
      if (max_len != NULL && n > *max_len) {
        *max_len = n;
      }
    }
    i += 9 + n;
  }
  return num;
}

static void submit_client_settings(nghttp2_session *ng,
                                   const nghttp2_settings_entry *iv, size_t n) {
  assert_int_equal(nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, n), 0);
}

/* ---- a single exchange each way, every field compared ---- */

static const char g_obs_field[] = "caf\xc3\xa9 \x80\xff~";

static void answer_hello(zttp_conn *z, const zttp_event *ev, void *arg) {
  (void)arg;
  if (ev->kind != ZTTP_EVENT_END_MESSAGE) {
    return;
  }
  zttp_header h[] = {h_hdr("Content-Type", "text/plain"),
                     h_hdr("x-obs", g_obs_field), h_hdr("x-empty", ""),
                     h_hdr("set-cookie", "a=1"), h_hdr("set-cookie", "b=2")};
  assert_int_equal(zttp_conn_send_response(z, ev->stream_id, 200, NULL, 0, h,
                                           COUNT_OF(h), 0),
                   0);
  assert_int_equal(zttp_conn_send_data(z, ev->stream_id,
                                       (const uint8_t *)"hello", 5,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   5);
}

static void test_get_nghttp2_to_zttp(void **state) {
  (void)state;
  link_init(&g_l, ZTTP_SERVER, NULL, NULL);
  g_l.zcb = answer_hello;
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 7}};
  submit_client_settings(g_l.ng, iv, COUNT_OF(iv));
  nghttp2_nv nv[] = {nvs(":method", "GET"),        nvs(":path", "/a/b?c=d&e"),
                     nvs(":scheme", "https"),      nvs(":authority", "ex.test"),
                     nvs("user-agent", "nghttp2"), nvs("x-obs", g_obs_field),
                     nvs("x-empty", ""),           nvs("cookie", "k=v"),
                     nvs("cookie", "k2=v2")};
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), NULL, NULL), 1);
  link_run(&g_l);
  faults_check("GET nghttp2 -> zttp");
  assert_string_equal(h_rec_text(&g_l.zr),
                      "SETTINGS 3=7\n"
                      "REQUEST s=1 f=es GET /a/b?c=d&e path=/a/b query=c=d&e "
                      "host=ex.test scheme=https v=20\n"
                      "  host=ex.test\n"
                      "  user-agent=nghttp2\n"
                      "  x-obs=caf\\xc3\\xa9 \\x80\\xff~\n"
                      "  x-empty=\n"
                      "  cookie=k=v\n"
                      "  cookie=k2=v2\n"
                      "END s=1\n");
  assert_string_equal(h_str_cstr(&g_l.nt), "HEADERS s=1\n"
                                           "  :status=200\n"
                                           "  content-type=text/plain\n"
                                           "  x-obs=caf\\xc3\\xa9 \\x80\\xff~\n"
                                           "  x-empty=\n"
                                           "  set-cookie=a=1\n"
                                           "  set-cookie=b=2\n"
                                           "END s=1\n"
                                           "CLOSE s=1 code=0\n");
  assert_string_equal(h_str_cstr(&g_l.body), "hello");
  link_free(&g_l);
}

static void test_get_zttp_to_nghttp2(void **state) {
  (void)state;
  link_init(&g_l, ZTTP_CLIENT, NULL, NULL);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 9}};
  submit_client_settings(g_l.ng, iv, COUNT_OF(iv));
  nghttp2_nv resp[] = {nvs(":status", "200"), nvs("content-type", "a/b"),
                       nvs("x-obs", g_obs_field), nvs("x-empty", "")};
  g_l.resp_nv = resp;
  g_l.resp_nvlen = COUNT_OF(resp);
  g_l.up = (const uint8_t *)"world";
  g_l.up_len = 5;
  zttp_header h[] = {h_hdr("Host", "ng.test"), h_hdr("Accept", "*/*"),
                     h_hdr("X-Obs", g_obs_field), h_hdr("x-empty", ""),
                     h_hdr("Cookie", "k=v")};
  assert_int_equal(zttp_conn_send_request(g_l.z, "GET", 3, "/p?q", 4, h,
                                          COUNT_OF(h),
                                          ZTTP_SEND_FLAG_END_STREAM),
                   1);
  link_run(&g_l);
  faults_check("GET zttp -> nghttp2");
  assert_string_equal(h_str_cstr(&g_l.nt), "HEADERS s=1\n"
                                           "  :method=GET\n"
                                           "  :scheme=http\n"
                                           "  :authority=ng.test\n"
                                           "  :path=/p?q\n"
                                           "  accept=*/*\n"
                                           "  x-obs=caf\\xc3\\xa9 \\x80\\xff~\n"
                                           "  x-empty=\n"
                                           "  cookie=k=v\n"
                                           "END s=1\n"
                                           "CLOSE s=1 code=0\n");
  assert_string_equal(h_rec_text(&g_l.zr), "SETTINGS 3=9\n"
                                           "RESPONSE s=1 f=- 200 v=20 reason=\n"
                                           "  content-type=a/b\n"
                                           "  x-obs=caf\\xc3\\xa9 \\x80\\xff~\n"
                                           "  x-empty=\n"
                                           "DATA s=1 world\n"
                                           "END s=1\n");
  link_free(&g_l);
}

/* ---- header blocks over CONTINUATION ---- */

#define BIG_NUM 200

static void big_fields(char names[][16], char values[][104]) {
  for (int i = 0; i < BIG_NUM; i++) {
    snprintf(names[i], 16, "x-big-%03d", i);
    for (int k = 0; k < 100; k++) {
      values[i][k] = (char)('a' + (i * 7 + k * 3) % 26);
    }
    values[i][100] = '\0';
  }
}

static void answer_big(zttp_conn *z, const zttp_event *ev, void *arg) {
  (void)arg;
  if (ev->kind == ZTTP_EVENT_REQUEST) {
    /* Echo the received fields back (pointers are valid until the next
     * call on the connection: send right away). */
    zttp_header h[BIG_NUM + 1];
    size_t n = ev->u.request.num_headers;
    assert_true(n <= COUNT_OF(h));
    memcpy(h, ev->u.request.headers, n * sizeof(h[0]));
    assert_int_equal(zttp_conn_send_response(z, ev->stream_id, 200, NULL, 0, h,
                                             n, ZTTP_SEND_FLAG_END_STREAM),
                     0);
  }
}

static void test_continuation_both_ways(void **state) {
  (void)state;
  static char names[BIG_NUM][16];
  static char values[BIG_NUM][104];
  big_fields(names, values);
  g_cfg = h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_MAX_HEADERS, 256}), NULL);
  /* nghttp2 client -> zttp server, and the echo back. */
  link_init(&g_l, ZTTP_SERVER, g_cfg, NULL);
  g_l.zcb = answer_big;
  g_l.zarg = &g_l;
  submit_client_settings(g_l.ng, NULL, 0);
  nghttp2_nv nv[BIG_NUM + 4];
  size_t n = 0;
  nv[n++] = nvs(":method", "GET");
  nv[n++] = nvs(":path", "/big");
  nv[n++] = nvs(":scheme", "http");
  nv[n++] = nvs(":authority", "ex.test");
  h_str_adds(&g_want, "HEADERS s=1\n  :status=200\n  host=ex.test\n");
  for (int i = 0; i < BIG_NUM; i++) {
    nv[n++] = nvs(names[i], values[i]);
    h_str_addf(&g_want, "  %s=%s\n", names[i], values[i]);
  }
  h_str_adds(&g_want, "END s=1\nCLOSE s=1 code=0\n");
  assert_int_equal(nghttp2_submit_request(g_l.ng, NULL, nv, n, NULL, NULL), 1);
  g_l.record_z = 0;
  link_run(&g_l);
  faults_check("CONTINUATION nghttp2 -> zttp");
  assert_true(count_frames(&g_l.n2z, NGHTTP2_CONTINUATION, NULL) >= 1);
  assert_true(count_frames(&g_l.z2n, NGHTTP2_CONTINUATION, NULL) >= 1);
  assert_string_equal(h_str_cstr(&g_l.nt), h_str_cstr(&g_want));
  link_free(&g_l);

  /* zttp client -> nghttp2 server. */
  link_init(&g_l, ZTTP_CLIENT, g_cfg, NULL);
  submit_client_settings(g_l.ng, NULL, 0);
  nghttp2_nv resp[BIG_NUM + 1];
  zttp_header h[BIG_NUM + 1];
  resp[0] = nvs(":status", "200");
  h[0] = h_hdr("host", "ng.test");
  hs_clear(&g_want);
  h_str_adds(&g_want, "HEADERS s=1\n  :method=GET\n  :scheme=http\n"
                      "  :authority=ng.test\n  :path=/big\n");
  h_str_adds(&g_zwant, "RESPONSE s=1 f=es 200 v=20 reason=\n");
  for (int i = 0; i < BIG_NUM; i++) {
    h[i + 1] = h_hdr(names[i], values[i]);
    resp[i + 1] = nvs(names[i], values[i]);
    h_str_addf(&g_want, "  %s=%s\n", names[i], values[i]);
    h_str_addf(&g_zwant, "  %s=%s\n", names[i], values[i]);
  }
  h_str_adds(&g_want, "END s=1\nCLOSE s=1 code=0\n");
  h_str_adds(&g_zwant, "END s=1\n");
  g_l.resp_nv = resp;
  g_l.resp_nvlen = BIG_NUM + 1;
  assert_int_equal(zttp_conn_send_request(g_l.z, "GET", 3, "/big", 4, h,
                                          BIG_NUM + 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   1);
  link_run(&g_l);
  faults_check("CONTINUATION zttp -> nghttp2");
  assert_true(count_frames(&g_l.z2n, NGHTTP2_CONTINUATION, NULL) >= 1);
  assert_true(count_frames(&g_l.n2z, NGHTTP2_CONTINUATION, NULL) >= 1);
  assert_string_equal(h_str_cstr(&g_l.nt), h_str_cstr(&g_want));
  /* The SETTINGS line first. */
  const char *zt = h_rec_text(&g_l.zr);
  const char *resp_line = strstr(zt, "RESPONSE");
  assert_non_null(resp_line);
  assert_string_equal(resp_line, h_str_cstr(&g_zwant));
  h_str_free(&g_want);
  h_str_free(&g_zwant);
  link_free(&g_l);
  zttp_config_free(g_cfg);
  g_cfg = NULL;
}

/* ---- SETTINGS_MAX_FRAME_SIZE 65536 and a large body each way ---- */

#define LARGE 300000u

typedef struct sender {
  int64_t id;
  size_t off;
  size_t len;
  uint32_t key;
  int blocked;
  size_t events;
  uint64_t got;
  uint64_t bad;
  int ended;
  h_str windows; /* "available" of each WINDOW_UPDATE */
} sender;

static sender g_snd;

/* Sends the large body on g_snd.id as the windows allow. Called with the
 * output drained: a stream stopped short by the buffer resumes now, one
 * stopped by flow control waits for ZTTP_EVENT_WINDOW_UPDATE. */
static void snd_produce(link *l) {
  sender *s = &g_snd;
  uint8_t buf[65536];
  if (s->id > 0 && s->blocked == 2) {
    s->blocked = zttp_conn_send_window(l->z, s->id) > 0 ? 0 : 1;
  }
  while (s->id > 0 && !s->blocked && s->off < s->len) {
    size_t n = s->len - s->off < sizeof(buf) ? s->len - s->off : sizeof(buf);
    body_fill(buf, s->key, s->off, n);
    int64_t k = zttp_conn_send_data(
        l->z, s->id, buf, n,
        s->off + n == s->len ? ZTTP_SEND_FLAG_END_STREAM : 0);
    if (k < 0) {
      faultf("send_data: %s", h_errname(k));
      return;
    }
    s->off += (size_t)k;
    if ((size_t)k < n) {
      s->blocked = 2;
      return;
    }
  }
}

/* The zttp application of the large-body cases: counts the request body,
 * answers with the large body, resumes on WINDOW_UPDATE. */
static void snd_event(zttp_conn *z, const zttp_event *ev, void *arg) {
  sender *s = &g_snd;
  (void)arg;
  switch (ev->kind) {
  case ZTTP_EVENT_DATA:
    if (s->bad == UINT64_MAX && body_cmp(ev->u.data.data, ev->u.data.len, 7,
                                         s->got) != ev->u.data.len) {
      s->bad = s->got;
    }
    s->got += ev->u.data.len;
    assert_int_equal(zttp_conn_data_consumed(z, ev->stream_id, ev->u.data.len),
                     0);
    break;
  case ZTTP_EVENT_END_MESSAGE:
    s->ended = 1;
    if (s->len > 0 && s->id == 0) {
      /* Server: answer. */
      assert_int_equal(
          zttp_conn_send_response(z, ev->stream_id, 200, NULL, 0, NULL, 0, 0),
          0);
      s->id = ev->stream_id;
    }
    break;
  case ZTTP_EVENT_WINDOW_UPDATE:
    s->events++;
    h_str_addf(&s->windows, "%lld:%llu ", (long long)ev->stream_id,
               (unsigned long long)ev->u.window.available);
    s->blocked = 0;
    break;
  default:
    break;
  }
}

static void sender_reset(size_t len, uint32_t key) {
  h_str_free(&g_snd.windows);
  memset(&g_snd, 0, sizeof(g_snd));
  g_snd.len = len;
  g_snd.key = key;
  g_snd.bad = UINT64_MAX;
}

static void test_max_frame_size_65536(void **state) {
  (void)state;
  static uint8_t up[LARGE];
  body_fill(up, 7, 0, LARGE);
  g_cfg = h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_H2_MAX_FRAME_SIZE, 65536}), NULL);
  link_init(&g_l, ZTTP_SERVER, g_cfg, NULL);
  g_l.record_z = 0;
  g_l.zcb = snd_event;
  g_l.zproduce = snd_produce;
  g_l.read_length = 65536;
  sender_reset(LARGE, 9);
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 65536},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
  submit_client_settings(g_l.ng, iv, COUNT_OF(iv));
  assert_int_equal(nghttp2_session_set_local_window_size(
                       g_l.ng, NGHTTP2_FLAG_NONE, 0, 1 << 22),
                   0);
  nghttp2_nv nv[] = {nvs(":method", "POST"), nvs(":path", "/up"),
                     nvs(":scheme", "http"), nvs(":authority", "ex.test")};
  nghttp2_data_provider prd;
  prd.source.ptr = &g_l;
  prd.read_callback = lk_read;
  g_l.up = up;
  g_l.up_len = LARGE;
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), &prd, NULL), 1);
  link_run(&g_l);
  faults_check("max frame size, nghttp2 client");
  /* Both peers used the 65536-byte frames the other allowed. */
  assert_int_equal(g_l.max_data_sent, 65536);
  assert_int_equal(g_snd.got, LARGE);
  assert_int_equal(g_snd.bad, UINT64_MAX);
  assert_int_equal(g_l.max_data_recv, 65536);
  assert_int_equal(g_l.body.len, LARGE);
  assert_int_equal(body_cmp((const uint8_t *)g_l.body.p, LARGE, 9, 0), LARGE);
  assert_string_equal(
      h_str_cstr(&g_l.nt),
      "HEADERS s=1\n  :status=200\nEND s=1\nCLOSE s=1 code=0\n");
  link_free(&g_l);

  /* zttp client uploading to an nghttp2 server that allows 65536. */
  link_init(&g_l, ZTTP_CLIENT, g_cfg, NULL);
  g_l.record_z = 0;
  g_l.zcb = snd_event;
  g_l.zproduce = snd_produce;
  g_l.read_length = 65536;
  sender_reset(LARGE, 7);
  submit_client_settings(g_l.ng, iv, COUNT_OF(iv));
  assert_int_equal(nghttp2_session_set_local_window_size(
                       g_l.ng, NGHTTP2_FLAG_NONE, 0, 1 << 22),
                   0);
  nghttp2_nv resp[] = {nvs(":status", "200")};
  g_l.resp_nv = resp;
  g_l.resp_nvlen = 1;
  g_l.up = up;
  g_l.up_len = LARGE;
  link_run(&g_l); /* settle the SETTINGS first */
  g_snd.id =
      zttp_conn_send_request(g_l.z, "POST", 4, "/up", 3,
                             (const zttp_header[]){h_hdr("host", "x")}, 1, 0);
  assert_int_equal(g_snd.id, 1);
  link_run(&g_l);
  faults_check("max frame size, zttp client");
  assert_int_equal(g_l.max_data_recv, 65536);
  assert_int_equal(g_l.max_data_sent, 65536);
  assert_int_equal(g_l.body.len, LARGE);
  assert_int_equal(body_cmp((const uint8_t *)g_l.body.p, LARGE, 7, 0), LARGE);
  assert_int_equal(g_snd.got, LARGE);
  assert_int_equal(g_snd.bad, UINT64_MAX);
  link_free(&g_l);
  zttp_config_free(g_cfg);
  g_cfg = NULL;
  h_str_free(&g_snd.windows);
}

/* ---- SETTINGS_INITIAL_WINDOW_SIZE changed mid-transfer ---- */

static void change_window(link *l, uint32_t v) {
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, v}};
  assert_int_equal(nghttp2_submit_settings(l->ng, NGHTTP2_FLAG_NONE, iv, 1), 0);
  link_run(l);
}

/* Runs the window dance against the zttp sender of g_snd, whose receiver is
 * the nghttp2 side of |l| (which never returns stream credit itself):
 * 65535 -> 131072 -> 32768 -> 400000. */
static void window_dance(link *l, const char *what) {
  link_run(l);
  faults_check(what);
  /* Blocked after the default 65535 bytes. */
  assert_int_equal(g_snd.off, 65535);
  assert_int_equal(g_snd.blocked, 1);
  change_window(l, 131072);
  faults_check(what);
  assert_int_equal(g_snd.off, 131072);
  change_window(l, 32768); /* the window goes to -98304 */
  faults_check(what);
  assert_int_equal(g_snd.off, 131072);
  change_window(l, 400000); /* +367232: 268928 */
  faults_check(what);
  assert_int_equal(g_snd.off, LARGE);
  assert_string_equal(h_str_cstr(&g_snd.windows), "1:65537 1:262000 ");
}

static void test_initial_window_change(void **state) {
  (void)state;
  assert_int_equal(nghttp2_option_new(&g_opt), 0);
  nghttp2_option_set_no_auto_window_update(g_opt, 1);
  /* zttp server sending to an nghttp2 client. */
  link_init(&g_l, ZTTP_SERVER, NULL, g_opt);
  g_l.record_z = 0;
  g_l.zcb = snd_event;
  g_l.zproduce = snd_produce;
  sender_reset(LARGE, 9);
  submit_client_settings(g_l.ng, NULL, 0);
  assert_int_equal(nghttp2_session_set_local_window_size(
                       g_l.ng, NGHTTP2_FLAG_NONE, 0, 1 << 24),
                   0);
  nghttp2_nv nv[] = {nvs(":method", "GET"), nvs(":path", "/w"),
                     nvs(":scheme", "http"), nvs(":authority", "ex.test")};
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), NULL, NULL), 1);
  window_dance(&g_l, "window change, zttp server");
  assert_int_equal(g_l.body.len, LARGE);
  assert_int_equal(body_cmp((const uint8_t *)g_l.body.p, LARGE, 9, 0), LARGE);
  assert_string_equal(
      h_str_cstr(&g_l.nt),
      "HEADERS s=1\n  :status=200\nEND s=1\nCLOSE s=1 code=0\n");
  link_free(&g_l);

  /* zttp client uploading to an nghttp2 server. */
  link_init(&g_l, ZTTP_CLIENT, NULL, g_opt);
  g_l.record_z = 0;
  g_l.zcb = snd_event;
  g_l.zproduce = snd_produce;
  sender_reset(LARGE, 7);
  submit_client_settings(g_l.ng, NULL, 0);
  assert_int_equal(nghttp2_session_set_local_window_size(
                       g_l.ng, NGHTTP2_FLAG_NONE, 0, 1 << 24),
                   0);
  nghttp2_nv resp[] = {nvs(":status", "204")};
  g_l.resp_nv = resp;
  g_l.resp_nvlen = 1;
  link_run(&g_l);
  g_snd.id =
      zttp_conn_send_request(g_l.z, "PUT", 3, "/w", 2,
                             (const zttp_header[]){h_hdr("host", "x")}, 1, 0);
  assert_int_equal(g_snd.id, 1);
  window_dance(&g_l, "window change, zttp client");
  assert_int_equal(g_l.body.len, LARGE);
  assert_int_equal(body_cmp((const uint8_t *)g_l.body.p, LARGE, 7, 0), LARGE);
  assert_true(g_snd.ended);
  link_free(&g_l);
  nghttp2_option_del(g_opt);
  g_opt = NULL;
  h_str_free(&g_snd.windows);
}

/* ---- PING both ways ---- */

static void ping_both_ways(uint32_t z_role) {
  link_init(&g_l, z_role, NULL, NULL);
  submit_client_settings(g_l.ng, NULL, 0);
  link_run(&g_l);
  assert_int_equal(
      zttp_conn_ping(g_l.z, (const uint8_t *)"zttp\x01\x02\xff\x00"), 0);
  link_run(&g_l);
  assert_int_equal(nghttp2_submit_ping(g_l.ng, NGHTTP2_FLAG_NONE,
                                       (const uint8_t *)"nghttp2!"),
                   0);
  link_run(&g_l);
  faults_check("PING");
  assert_string_equal(h_str_cstr(&g_l.nt),
                      "PING ack=0 zttp\\x01\\x02\\xff\\x00\n"
                      "PING ack=1 nghttp2!\n");
  assert_string_equal(h_rec_text(&g_l.zr),
                      "SETTINGS\n"
                      "PING f=ack zttp\\x01\\x02\\xff\\x00\n"
                      "PING f=- nghttp2!\n");
  link_free(&g_l);
}

static void test_ping_both_ways(void **state) {
  (void)state;
  ping_both_ways(ZTTP_SERVER);
  ping_both_ways(ZTTP_CLIENT);
}

/* ---- RFC 9218 PRIORITY_UPDATE ---- */

static void test_priority_update(void **state) {
  (void)state;
  /* nghttp2 client -> zttp server. */
  link_init(&g_l, ZTTP_SERVER, NULL, NULL);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1}};
  submit_client_settings(g_l.ng, iv, COUNT_OF(iv));
  link_run(&g_l); /* nghttp2 needs zttp's SETTINGS_NO_RFC7540_PRIORITIES */
  nghttp2_nv nv[] = {nvs(":method", "POST"), nvs(":path", "/p"),
                     nvs(":scheme", "http"), nvs(":authority", "ex.test"),
                     nvs("priority", "u=5")};
  nghttp2_data_provider prd;
  prd.source.ptr = &g_l;
  prd.read_callback = lk_read;
  g_l.defer_up = 1;
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), &prd, NULL), 1);
  link_run(&g_l);
  assert_int_equal(nghttp2_submit_priority_update(g_l.ng, NGHTTP2_FLAG_NONE, 1,
                                                  u8("u=1, i"), 6),
                   0);
  link_run(&g_l);
  faults_check("PRIORITY_UPDATE to zttp");
  assert_string_equal(h_rec_text(&g_l.zr),
                      "SETTINGS 9=1\n"
                      "REQUEST s=1 f=- POST /p path=/p host=ex.test "
                      "scheme=http v=20\n"
                      "  host=ex.test\n"
                      "  priority=u=5\n"
                      "PRIORITY s=1 u=1 i=1\n");
  link_free(&g_l);

  /* zttp client -> nghttp2 server. */
  assert_int_equal(nghttp2_option_new(&g_opt), 0);
  nghttp2_option_set_builtin_recv_extension_type(g_opt,
                                                 NGHTTP2_PRIORITY_UPDATE);
  link_init(&g_l, ZTTP_CLIENT, NULL, g_opt);
  nghttp2_option_del(g_opt);
  g_opt = NULL;
  submit_client_settings(g_l.ng, iv, COUNT_OF(iv));
  link_run(&g_l);
  assert_int_equal(zttp_conn_send_request(
                       g_l.z, "POST", 4, "/p", 2,
                       (const zttp_header[]){h_hdr("host", "ng.test")}, 1, 0),
                   1);
  assert_int_equal(zttp_conn_set_priority(g_l.z, 1, 5, 1), 0);
  link_run(&g_l);
  faults_check("PRIORITY_UPDATE from zttp");
  assert_string_equal(h_str_cstr(&g_l.nt), "HEADERS s=1\n"
                                           "  :method=POST\n"
                                           "  :scheme=http\n"
                                           "  :authority=ng.test\n"
                                           "  :path=/p\n"
                                           "PRIORITY_UPDATE s=1 u=5, i\n");
  link_free(&g_l);
}

/* ---- HPACK dynamic table size changes (RFC 7541 §4.2, §6.3) ---- */

static void answer_fixed(zttp_conn *z, const zttp_event *ev, void *arg) {
  (void)arg;
  if (ev->kind != ZTTP_EVENT_END_MESSAGE) {
    return;
  }
  zttp_header h[] = {
      h_hdr("x-long-header-name-one", "value-number-one-xxxxxxxx"),
      h_hdr("x-long-header-name-two", "value-number-two-yyyyyyyy"),
      h_hdr("cache-control", "private, max-age=0")};
  assert_int_equal(zttp_conn_send_response(z, ev->stream_id, 200, NULL, 0, h,
                                           COUNT_OF(h),
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
}

static void submit_get(link *l, int32_t want_id) {
  nghttp2_nv nv[] = {
      nvs(":method", "GET"),
      nvs(":path", "/t"),
      nvs(":scheme", "http"),
      nvs(":authority", "ex.test"),
      nvs("x-request-header-aaaa", "request-value-aaaaaaaaaaaa"),
      nvs("x-request-header-bbbb", "request-value-bbbbbbbbbbbb")};
  assert_int_equal(
      nghttp2_submit_request(l->ng, NULL, nv, COUNT_OF(nv), NULL, NULL),
      want_id);
}

static void test_hpack_table_size_changes(void **state) {
  (void)state;
  static const char resp[] =
      "  :status=200\n"
      "  x-long-header-name-one=value-number-one-xxxxxxxx\n"
      "  x-long-header-name-two=value-number-two-yyyyyyyy\n"
      "  cache-control=private, max-age=0\n";
  static const char req[] =
      "  host=ex.test\n"
      "  x-request-header-aaaa=request-value-aaaaaaaaaaaa\n"
      "  x-request-header-bbbb=request-value-bbbbbbbbbbbb\n";
  /* zttp decodes with a 64-byte table; nghttp2 must shrink its encoder. */
  g_cfg = h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_HEADER_TABLE_SIZE, 64}), NULL);
  link_init(&g_l, ZTTP_SERVER, g_cfg, NULL);
  g_l.zcb = answer_fixed;
  submit_client_settings(g_l.ng, NULL, 0);
  h_str_adds(&g_zwant, "SETTINGS\n");
  for (int32_t id = 1; id <= 9; id += 2) {
    if (id == 5) {
      /* The client lets zttp's encoder use no dynamic table at all. */
      nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 0}};
      submit_client_settings(g_l.ng, iv, 1);
      h_str_adds(&g_zwant, "SETTINGS 1=0\n");
    }
    if (id == 9) {
      /* ... and back to 4096. */
      nghttp2_settings_entry iv[] = {
          {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096}};
      submit_client_settings(g_l.ng, iv, 1);
      h_str_adds(&g_zwant, "SETTINGS 1=4096\n");
    }
    submit_get(&g_l, id);
    link_run(&g_l);
    h_str_addf(&g_want, "HEADERS s=%d\n%sEND s=%d\nCLOSE s=%d code=0\n", id,
               resp, id, id);
    h_str_addf(&g_zwant,
               "REQUEST s=%d f=es GET /t path=/t host=ex.test scheme=http "
               "v=20\n%sEND s=%d\n",
               id, req, id);
  }
  faults_check("HPACK table sizes, nghttp2 client");
  assert_string_equal(h_str_cstr(&g_l.nt), h_str_cstr(&g_want));
  assert_string_equal(h_rec_text(&g_l.zr), h_str_cstr(&g_zwant));
  link_free(&g_l);
  zttp_config_free(g_cfg);
  g_cfg = NULL;

  /* zttp client; the nghttp2 server takes the table away, then gives it
   * back. */
  link_init(&g_l, ZTTP_CLIENT, NULL, NULL);
  nghttp2_nv rnv[] = {nvs(":status", "204"), nvs("x-resp", "same-value")};
  g_l.resp_nv = rnv;
  g_l.resp_nvlen = COUNT_OF(rnv);
  submit_client_settings(g_l.ng, NULL, 0);
  hs_clear(&g_want);
  zttp_header h[] = {
      h_hdr("host", "ng.test"),
      h_hdr("x-request-header-aaaa", "request-value-aaaaaaaaaaaa"),
      h_hdr("x-request-header-bbbb", "request-value-bbbbbbbbbbbb")};
  for (int64_t id = 1; id <= 9; id += 2) {
    if (id == 5 || id == 9) {
      nghttp2_settings_entry iv[] = {
          {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, id == 5 ? 0u : 4096u}};
      submit_client_settings(g_l.ng, iv, 1);
      link_run(&g_l);
    }
    assert_int_equal(zttp_conn_send_request(g_l.z, "GET", 3, "/t", 2, h,
                                            COUNT_OF(h),
                                            ZTTP_SEND_FLAG_END_STREAM),
                     id);
    link_run(&g_l);
    h_str_addf(&g_want,
               "HEADERS s=%lld\n  :method=GET\n  :scheme=http\n"
               "  :authority=ng.test\n  :path=/t\n"
               "  x-request-header-aaaa=request-value-aaaaaaaaaaaa\n"
               "  x-request-header-bbbb=request-value-bbbbbbbbbbbb\n"
               "END s=%lld\nCLOSE s=%lld code=0\n",
               (long long)id, (long long)id, (long long)id);
  }
  faults_check("HPACK table sizes, zttp client");
  assert_string_equal(h_str_cstr(&g_l.nt), h_str_cstr(&g_want));
  h_str_free(&g_want);
  h_str_free(&g_zwant);
  link_free(&g_l);
}

/* ---- the peer's SETTINGS_MAX_CONCURRENT_STREAMS ---- */

static void test_peer_max_concurrent_streams(void **state) {
  (void)state;
  link_init(&g_l, ZTTP_CLIENT, NULL, NULL);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 3}};
  submit_client_settings(g_l.ng, iv, 1);
  nghttp2_nv rnv[] = {nvs(":status", "200")};
  g_l.resp_nv = rnv;
  g_l.resp_nvlen = 1;
  g_l.up = (const uint8_t *)"ok";
  g_l.up_len = 2;
  link_run(&g_l);
  zttp_header h[] = {h_hdr("host", "ng.test")};
  /* Three requests whose bodies are still to come fill the limit. */
  for (int64_t id = 1; id <= 5; id += 2) {
    assert_int_equal(zttp_conn_send_request(g_l.z, "POST", 4, "/c", 2, h, 1, 0),
                     id);
  }
  assert_int_equal(zttp_conn_send_request(g_l.z, "POST", 4, "/c", 2, h, 1, 0),
                   ZTTP_ERR_STREAM_LIMIT);
  link_run(&g_l);
  /* Finishing one frees a slot once its response is complete. */
  assert_int_equal(zttp_conn_end_message(g_l.z, 3, NULL, 0), 0);
  link_run(&g_l);
  g_l.up_off = 0;
  assert_int_equal(zttp_conn_send_request(g_l.z, "POST", 4, "/c", 2, h, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   7);
  assert_int_equal(zttp_conn_send_request(g_l.z, "POST", 4, "/c", 2, h, 1, 0),
                   ZTTP_ERR_STREAM_LIMIT);
  link_run(&g_l);
  faults_check("peer MAX_CONCURRENT_STREAMS");
  assert_string_equal(h_rec_text(&g_l.zr), "SETTINGS 3=3\n"
                                           "RESPONSE s=3 f=- 200 v=20 reason=\n"
                                           "DATA s=3 ok\n"
                                           "END s=3\n"
                                           "RESPONSE s=7 f=- 200 v=20 reason=\n"
                                           "DATA s=7 ok\n"
                                           "END s=7\n");
  link_free(&g_l);
}

/* ---- RFC 8441 extended CONNECT through nghttp2 ---- */

static void answer_tunnel(zttp_conn *z, const zttp_event *ev, void *arg) {
  (void)arg;
  switch (ev->kind) {
  case ZTTP_EVENT_REQUEST:
    assert_int_equal(
        zttp_conn_send_response(z, ev->stream_id, 200, NULL, 0, NULL, 0, 0), 0);
    break;
  case ZTTP_EVENT_DATA:
    /* Echo, upper-cased. */
    {
      uint8_t buf[256];
      assert_true(ev->u.data.len <= sizeof(buf));
      for (size_t i = 0; i < ev->u.data.len; i++) {
        uint8_t c = ev->u.data.data[i];
        buf[i] = c >= 'a' && c <= 'z' ? (uint8_t)(c - 32) : c;
      }
      assert_int_equal(
          zttp_conn_send_data(z, ev->stream_id, buf, ev->u.data.len, 0),
          (int64_t)ev->u.data.len);
      assert_int_equal(
          zttp_conn_data_consumed(z, ev->stream_id, ev->u.data.len), 0);
    }
    break;
  case ZTTP_EVENT_END_MESSAGE:
    assert_int_equal(zttp_conn_end_message(z, ev->stream_id, NULL, 0), 0);
    break;
  default:
    break;
  }
}

static void test_extended_connect(void **state) {
  (void)state;
  g_cfg = h_cfg_new(0, NULL, NULL);
  assert_int_equal(
      zttp_config_set_option(g_cfg, ZTTP_OPT_ENABLE_CONNECT_PROTOCOL, 1), 0);
  link_init(&g_l, ZTTP_SERVER, g_cfg, NULL);
  g_l.zcb = answer_tunnel;
  submit_client_settings(g_l.ng, NULL, 0);
  link_run(&g_l); /* nghttp2 needs SETTINGS_ENABLE_CONNECT_PROTOCOL first */
  nghttp2_nv nv[] = {
      nvs(":method", "CONNECT"),    nvs(":protocol", "websocket"),
      nvs(":scheme", "https"),      nvs(":path", "/chat?room=1"),
      nvs(":authority", "ex.test"), nvs("sec-websocket-version", "13")};
  nghttp2_data_provider prd;
  prd.source.ptr = &g_l;
  prd.read_callback = lk_read;
  g_l.up = (const uint8_t *)"hello tunnel";
  g_l.up_len = 12;
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), &prd, NULL), 1);
  link_run(&g_l);
  faults_check("extended CONNECT");
  assert_string_equal(h_rec_text(&g_l.zr),
                      "SETTINGS\n"
                      "REQUEST s=1 f=up CONNECT /chat?room=1 path=/chat "
                      "query=room=1 host=ex.test scheme=https "
                      "protocol=websocket v=20\n"
                      "  host=ex.test\n"
                      "  sec-websocket-version=13\n"
                      "DATA s=1 hello tunnel\n"
                      "END s=1\n");
  assert_string_equal(h_str_cstr(&g_l.nt), "HEADERS s=1\n"
                                           "  :status=200\n"
                                           "END s=1\n"
                                           "CLOSE s=1 code=0\n");
  assert_string_equal(h_str_cstr(&g_l.body), "HELLO TUNNEL");
  link_free(&g_l);
  zttp_config_free(g_cfg);
  g_cfg = NULL;
}

/* ---- a complete response before the request is (RFC 9113 §8.1) ---- */

static void early_event(zttp_conn *z, const zttp_event *ev, void *arg) {
  (void)arg;
  switch (ev->kind) {
  case ZTTP_EVENT_REQUEST:
    if (g_snd.len == 0) {
      /* zttp server: refuse the upload at once. */
      assert_int_equal(zttp_conn_send_response(z, ev->stream_id, 413, NULL, 0,
                                               NULL, 0,
                                               ZTTP_SEND_FLAG_END_STREAM),
                       0);
    }
    break;
  case ZTTP_EVENT_DATA:
    g_snd.got += ev->u.data.len;
    assert_int_equal(zttp_conn_data_consumed(z, ev->stream_id, ev->u.data.len),
                     0);
    break;
  case ZTTP_EVENT_STREAM_RESET:
    if (ev->stream_id == g_snd.id) {
      g_snd.id = 0; /* stop uploading */
    }
    break;
  case ZTTP_EVENT_WINDOW_UPDATE:
    g_snd.blocked = 0;
    break;
  default:
    break;
  }
}

static void test_early_response(void **state) {
  (void)state;
  static uint8_t up[LARGE];
  body_fill(up, 7, 0, LARGE);
  /* nghttp2 client uploading; zttp answers 413 on the request head. */
  link_init(&g_l, ZTTP_SERVER, NULL, NULL);
  g_l.zcb = early_event;
  g_l.zarg = &g_l;
  sender_reset(0, 0);
  submit_client_settings(g_l.ng, NULL, 0);
  nghttp2_nv nv[] = {nvs(":method", "POST"), nvs(":path", "/big"),
                     nvs(":scheme", "http"), nvs(":authority", "ex.test")};
  nghttp2_data_provider prd;
  prd.source.ptr = &g_l;
  prd.read_callback = lk_read;
  g_l.up = up;
  g_l.up_len = LARGE;
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), &prd, NULL), 1);
  link_run(&g_l);
  /* The connection is still good for the next request. */
  g_l.up = NULL;
  nv[0] = nvs(":method", "GET");
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), NULL, NULL), 3);
  link_run(&g_l);
  faults_check("early response from zttp");

  assert_non_null(strstr(h_str_cstr(&g_l.nt), "HEADERS s=1\n"
                                              "  :status=413\n"
                                              "END s=1\n"));
  assert_non_null(strstr(h_str_cstr(&g_l.nt), "HEADERS s=3\n"
                                              "  :status=413\n"
                                              "END s=3\n"
                                              "CLOSE s=3 code=0\n"));
  assert_int_equal(zttp_conn_should_close(g_l.z), 0);
  link_free(&g_l);

  /* zttp client uploading; nghttp2 answers 413 on the request head. */
  link_init(&g_l, ZTTP_CLIENT, NULL, NULL);
  g_l.zcb = early_event;
  g_l.zarg = &g_l;
  g_l.zproduce = snd_produce;
  g_l.respond_on_headers = 1;
  sender_reset(LARGE, 7);
  submit_client_settings(g_l.ng, NULL, 0);
  nghttp2_nv rnv[] = {nvs(":status", "413")};
  g_l.resp_nv = rnv;
  g_l.resp_nvlen = 1;
  link_run(&g_l);
  g_snd.id =
      zttp_conn_send_request(g_l.z, "POST", 4, "/big", 4,
                             (const zttp_header[]){h_hdr("host", "x")}, 1, 0);
  assert_int_equal(g_snd.id, 1);
  link_run(&g_l);
  faults_check("early response from nghttp2");
  assert_non_null(strstr(h_rec_text(&g_l.zr),
                         "RESPONSE s=1 f=es 413 v=20 reason=\nEND s=1\n"));
  /* And the next request works. */
  g_l.respond_on_headers = 0;
  assert_int_equal(
      zttp_conn_send_request(g_l.z, "GET", 3, "/", 1,
                             (const zttp_header[]){h_hdr("host", "x")}, 1,
                             ZTTP_SEND_FLAG_END_STREAM),
      3);
  link_run(&g_l);
  faults_check("early response from nghttp2, next request");
  assert_non_null(strstr(h_rec_text(&g_l.zr),
                         "RESPONSE s=3 f=es 413 v=20 reason=\nEND s=3\n"));
  link_free(&g_l);
  h_str_free(&g_snd.windows);
}

/* ---- shutting down from each side ---- */

static void answer_later(zttp_conn *z, const zttp_event *ev, void *arg) {
  (void)z;
  (void)ev;
  (void)arg;
}

static void test_close_both_ways(void **state) {
  (void)state;
  /* zttp client, graceful: the requests in flight still complete. */
  link_init(&g_l, ZTTP_CLIENT, NULL, NULL);
  submit_client_settings(g_l.ng, NULL, 0);
  nghttp2_nv rnv[] = {nvs(":status", "204")};
  g_l.resp_nv = rnv;
  g_l.resp_nvlen = 1;
  link_run(&g_l);
  zttp_header h[] = {h_hdr("host", "ng.test")};
  assert_int_equal(zttp_conn_send_request(g_l.z, "POST", 4, "/1", 2, h, 1, 0),
                   1);
  assert_int_equal(zttp_conn_send_request(g_l.z, "POST", 4, "/3", 2, h, 1, 0),
                   3);
  link_run(&g_l);
  assert_int_equal(zttp_conn_close(g_l.z, 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
  assert_int_equal(zttp_conn_send_request(g_l.z, "GET", 3, "/5", 2, h, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_CLOSED);
  link_run(&g_l);
  assert_int_equal(zttp_conn_should_close(g_l.z), 0);
  assert_int_equal(zttp_conn_send_data(g_l.z, 1, (const uint8_t *)"a", 1,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   1);
  assert_int_equal(zttp_conn_end_message(g_l.z, 3, NULL, 0), 0);
  link_run(&g_l);
  faults_check("zttp client closes");
  assert_string_equal(h_rec_text(&g_l.zr),
                      "SETTINGS\n"
                      "RESPONSE s=1 f=es 204 v=20 reason=\n"
                      "END s=1\n"
                      "RESPONSE s=3 f=es 204 v=20 reason=\n"
                      "END s=3\n");
  assert_non_null(strstr(h_str_cstr(&g_l.nt), "GOAWAY last=0 code=0\n"));
  assert_int_equal(zttp_conn_should_close(g_l.z), 1);
  link_free(&g_l);

  /* zttp server, immediately, with an error code: nghttp2 learns the last
   * stream zttp processed. */
  link_init(&g_l, ZTTP_SERVER, NULL, NULL);
  g_l.zcb = answer_later;
  submit_client_settings(g_l.ng, NULL, 0);
  nghttp2_nv nv[] = {nvs(":method", "GET"), nvs(":path", "/"),
                     nvs(":scheme", "http"), nvs(":authority", "ex.test")};
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), NULL, NULL), 1);
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), NULL, NULL), 3);
  link_run(&g_l);
  assert_int_equal(zttp_conn_close(g_l.z, ZTTP_H2_ENHANCE_YOUR_CALM, 0), 0);
  assert_int_equal(zttp_conn_should_close(g_l.z), 1);
  link_run(&g_l);
  faults_check("zttp server closes");
  /* Streams 1 and 3 end when the transport does. */
  assert_string_equal(h_str_cstr(&g_l.nt), "GOAWAY last=3 code=11\n");
  const uint8_t *o;
  assert_int_equal(zttp_conn_pending(g_l.z, &o), 0);
  assert_int_equal(zttp_conn_send_response(g_l.z, 1, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_CLOSED);
  link_free(&g_l);

  /* nghttp2 client, graceful: zttp server hears it and finishes. */
  link_init(&g_l, ZTTP_SERVER, NULL, NULL);
  g_l.zcb = answer_hello;
  submit_client_settings(g_l.ng, NULL, 0);
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), NULL, NULL), 1);
  assert_int_equal(
      nghttp2_submit_goaway(g_l.ng, NGHTTP2_FLAG_NONE, 0, 0, u8("bye"), 3), 0);
  link_run(&g_l);
  faults_check("nghttp2 client closes");
  assert_string_equal(h_rec_text(&g_l.zr),
                      "SETTINGS\n"
                      "GOAWAY last=0 code=0 debug=bye\n"
                      "REQUEST s=1 f=es GET / path=/ host=ex.test "
                      "scheme=http v=20\n"
                      "  host=ex.test\n"
                      "END s=1\n");
  assert_non_null(strstr(h_str_cstr(&g_l.nt), "END s=1\nCLOSE s=1 code=0\n"));
  assert_int_equal(zttp_conn_should_close(g_l.z), 1);
  link_free(&g_l);
}

/* ---- a head and trailers with no content between them ---- */

static ssize_t trailers_only_read(nghttp2_session *ng, int32_t id, uint8_t *buf,
                                  size_t length, uint32_t *flags,
                                  nghttp2_data_source *src, void *ud) {
  (void)buf;
  (void)length;
  (void)src;
  (void)ud;
  nghttp2_nv nv[] = {nvs("grpc-status", "0"), nvs("grpc-message", "ok")};
  *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
  assert_int_equal(nghttp2_submit_trailer(ng, id, nv, COUNT_OF(nv)), 0);
  return 0;
}

static void answer_trailers_only(zttp_conn *z, const zttp_event *ev,
                                 void *arg) {
  (void)arg;
  if (ev->kind != ZTTP_EVENT_END_MESSAGE) {
    return;
  }
  zttp_header t[] = {h_hdr("grpc-status", "0"), h_hdr("grpc-message", "ok")};
  assert_int_equal(
      zttp_conn_send_response(z, ev->stream_id, 200, NULL, 0, NULL, 0, 0), 0);
  assert_int_equal(zttp_conn_end_message(z, ev->stream_id, t, COUNT_OF(t)), 0);
}

static void test_trailers_without_content(void **state) {
  (void)state;
  /* nghttp2 client: a request of head and trailers; zttp answers alike. */
  link_init(&g_l, ZTTP_SERVER, NULL, NULL);
  g_l.zcb = answer_trailers_only;
  submit_client_settings(g_l.ng, NULL, 0);
  nghttp2_nv nv[] = {nvs(":method", "POST"), nvs(":path", "/rpc"),
                     nvs(":scheme", "http"), nvs(":authority", "ex.test"),
                     nvs("te", "trailers")};
  nghttp2_data_provider prd;
  prd.source.ptr = NULL;
  prd.read_callback = trailers_only_read;
  assert_int_equal(
      nghttp2_submit_request(g_l.ng, NULL, nv, COUNT_OF(nv), &prd, NULL), 1);
  link_run(&g_l);
  faults_check("trailers without content, zttp server");
  assert_string_equal(h_rec_text(&g_l.zr),
                      "SETTINGS\n"
                      "REQUEST s=1 f=- POST /rpc path=/rpc host=ex.test "
                      "scheme=http v=20\n"
                      "  host=ex.test\n"
                      "  te=trailers\n"
                      "END s=1\n"
                      "  trailer grpc-status=0\n"
                      "  trailer grpc-message=ok\n");
  assert_string_equal(h_str_cstr(&g_l.nt), "HEADERS s=1\n"
                                           "  :status=200\n"
                                           "HEADERS s=1\n"
                                           "  grpc-status=0\n"
                                           "  grpc-message=ok\n"
                                           "END s=1\n"
                                           "CLOSE s=1 code=0\n");
  assert_int_equal(g_l.body.len, 0);
  link_free(&g_l);

  /* zttp client: the same the other way. */
  link_init(&g_l, ZTTP_CLIENT, NULL, NULL);
  submit_client_settings(g_l.ng, NULL, 0);
  link_run(&g_l);
  zttp_header h[] = {h_hdr("host", "ng.test"), h_hdr("te", "trailers")};
  zttp_header t[] = {h_hdr("grpc-timeout", "1S")};
  assert_int_equal(
      zttp_conn_send_request(g_l.z, "POST", 4, "/rpc", 4, h, COUNT_OF(h), 0),
      1);
  assert_int_equal(zttp_conn_end_message(g_l.z, 1, t, 1), 0);
  link_run(&g_l);
  assert_int_equal(g_l.req_done, 1);
  /* The nghttp2 server answers with a head and trailers. */
  nghttp2_nv rnv[] = {nvs(":status", "200")};
  prd.read_callback = trailers_only_read;
  assert_int_equal(nghttp2_submit_response(g_l.ng, 1, rnv, 1, &prd), 0);
  link_run(&g_l);
  faults_check("trailers without content, zttp client");
  assert_string_equal(h_str_cstr(&g_l.nt), "HEADERS s=1\n"
                                           "  :method=POST\n"
                                           "  :scheme=http\n"
                                           "  :authority=ng.test\n"
                                           "  :path=/rpc\n"
                                           "  te=trailers\n"
                                           "HEADERS s=1\n"
                                           "  grpc-timeout=1S\n"
                                           "END s=1\n"
                                           "CLOSE s=1 code=0\n");
  assert_string_equal(h_rec_text(&g_l.zr), "SETTINGS\n"
                                           "RESPONSE s=1 f=- 200 v=20 reason=\n"
                                           "END s=1\n"
                                           "  trailer grpc-status=0\n"
                                           "  trailer grpc-message=ok\n");
  link_free(&g_l);
}

/* ======================================================================== */
/* Regressions found by the cases above: zttp server, exact frames          */
/* ======================================================================== */

#define GET1_NV                                                                \
  NV(":method", "GET", ":scheme", "http", ":authority", "ex.test", ":path", "/")

/* What the regressions hold, freed by teardown(). */
static zttp_conn *g_z;
static h_str g_in, g_wire;

/* Feeds |in| to |z| without draining events. */
static void feed_raw(zttp_conn *z, const h_str *in) {
  assert_int_equal(zttp_conn_receive_data(z, (const uint8_t *)in->p, in->len),
                   (int64_t)in->len);
}

static void drain_all(zttp_conn *z) {
  zttp_event ev;
  while (zttp_conn_next_event(z, &ev) == 1) {
  }
}

/* Appends |z|'s pending output to g_wire and consumes it. */
static void take_wire(zttp_conn *z) {
  size_t len;
  char *raw = h_take_output(z, &len);
  h_str_add(&g_wire, raw, len);
  free(raw);
}

static int wire_has(const char *needle) {
  char *ft = frames_text((const uint8_t *)h_str_cstr(&g_wire), g_wire.len);
  int found = strstr(ft, needle) != NULL;
  if (!found) {
    print_message("frames:\n%s", ft);
  }
  free(ft);
  return found;
}

/* zttp_conn_reset_stream() on a request whose END_MESSAGE is already
 * queued (HEADERS with END_STREAM): no event may follow for the stream the
 * application abandoned. Found by the nghttp2 client workload
 * (R_SERVER_HEAD on a GET). */
static void test_regress_event_after_reset(void **state) {
  (void)state;
  assert_int_equal(zttp_conn_new(&g_z, NULL, ZTTP_SERVER, ZTTP_HTTP2), 0);
  f_preface(&g_in);
  f_headers(&g_in, 1, 0x1, GET1_NV);
  feed_raw(g_z, &g_in);
  zttp_event ev;
  assert_int_equal(zttp_conn_next_event(g_z, &ev), 1);
  assert_int_equal(ev.kind, ZTTP_EVENT_SETTINGS);
  assert_int_equal(zttp_conn_next_event(g_z, &ev), 1);
  assert_int_equal(ev.kind, ZTTP_EVENT_REQUEST);
  assert_int_equal(zttp_conn_reset_stream(g_z, 1, 0x8), 0);
  int32_t rv = zttp_conn_next_event(g_z, &ev);
  if (rv != 0) {
    print_error("event %u on stream %lld after the application reset it\n",
                ev.kind, (long long)ev.stream_id);
  }
  assert_int_equal(rv, 0);
  assert_int_equal(ev.kind, ZTTP_EVENT_NEED_DATA);
}

/* DATA accepted by zttp_conn_send_data() is charged to the connection
 * window when it is accepted; if the stream is reset before the scheduler
 * framed it, the peer never sees those bytes, so their credit must come
 * back. Found by both workloads (they stall with the peer's connection
 * window open by exactly the bytes zttp dropped). */
static void conn_window_after_reset(int peer_resets) {
  assert_int_equal(zttp_conn_new(&g_z, NULL, ZTTP_SERVER, ZTTP_HTTP2), 0);
  f_preface(&g_in);
  f_headers(&g_in, 1, 0x1, GET1_NV);
  f_headers(&g_in, 3, 0x1, GET1_NV);
  feed_raw(g_z, &g_in);
  drain_all(g_z);
  free(h_take_output(g_z, NULL));
  static uint8_t body[65535];
  memset(body, 'x', sizeof(body));
  assert_int_equal(zttp_conn_send_response(g_z, 1, 200, NULL, 0, NULL, 0, 0),
                   0);
  assert_int_equal(zttp_conn_send_data(g_z, 1, body, sizeof(body), 0), 65535);
  /* Part of it went to the output at once, the rest waits in the stream's
   * queue; the stream dies before the queue is framed. */
  if (peer_resets) {
    hs_clear(&g_in);
    f_rst(&g_in, 1, 0x8);
    feed_raw(g_z, &g_in);
    drain_all(g_z);
  } else {
    assert_int_equal(zttp_conn_reset_stream(g_z, 1, 0x8), 0);
  }
  take_wire(g_z);
  size_t framed = 0;
  const uint8_t *p = (const uint8_t *)h_str_cstr(&g_wire);
  for (size_t i = 0; i + 9 <= g_wire.len;) {
    size_t n = (size_t)p[i] << 16 | (size_t)p[i + 1] << 8 | p[i + 2];
    if (p[i + 3] == 0) {
      framed += n;
    }
    i += 9 + n;
  }
  assert_true(framed < 65535);
  /* The peer's view: 65535 - framed bytes of connection window left. */
  assert_int_equal(zttp_conn_send_response(g_z, 3, 200, NULL, 0, NULL, 0, 0),
                   0);
  assert_int_equal(zttp_conn_send_window(g_z, 3), (int64_t)(65535 - framed));
}

static void test_regress_conn_window_after_peer_reset(void **state) {
  (void)state;
  conn_window_after_reset(1);
}

static void test_regress_conn_window_after_local_reset(void **state) {
  (void)state;
  conn_window_after_reset(0);
}

/* RFC 9113 §6.8: streams up to the last id of a graceful GOAWAY still
 * complete, so connection credit must keep flowing after the final GOAWAY.
 * Found by the nghttp2 client workload (uploads in flight stall with
 * nghttp2's connection window at 0 once the final GOAWAY went out). */
static void test_regress_conn_window_update_after_goaway(void **state) {
  (void)state;
  assert_int_equal(zttp_conn_new(&g_z, NULL, ZTTP_SERVER, ZTTP_HTTP2), 0);
  f_preface(&g_in);
  f_headers(&g_in, 1, 0x0,
            NV(":method", "POST", ":scheme", "http", ":authority", "ex.test",
               ":path", "/up"));
  feed_raw(g_z, &g_in);
  drain_all(g_z);
  assert_int_equal(zttp_conn_close(g_z, 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
  hs_clear(&g_in);
  f_ping(&g_in, 0x1, "zttpgoaw");
  feed_raw(g_z, &g_in);
  drain_all(g_z);
  take_wire(g_z);
  /* The final GOAWAY went out. */
  assert_true(wire_has("last=1 code=0"));
  hs_clear(&g_wire);
  /* 40 frames of 16384 (655360 bytes, within both windows as the stream
   * credit flows), each consumed at once. */
  static char chunk[16385];
  memset(chunk, 'u', 16384);
  for (int i = 0; i < 40; i++) {
    hs_clear(&g_in);
    f_data(&g_in, 1, 0, chunk);
    feed_raw(g_z, &g_in);
    zttp_event ev;
    while (zttp_conn_next_event(g_z, &ev) == 1) {
      if (ev.kind == ZTTP_EVENT_DATA) {
        assert_int_equal(zttp_conn_data_consumed(g_z, 1, ev.u.data.len), 0);
      }
    }
    take_wire(g_z);
  }
  /* 655360 consumed: a WINDOW_UPDATE on stream 0 (zttp sends one per
   * 524288 consumed). */
  assert_true(wire_has("WINDOW_UPDATE s=0"));
}

static int teardown(void **state) {
  (void)state;
  link_free(&g_l);
  zttp_config_free(g_cfg);
  g_cfg = NULL;
  nghttp2_option_del(g_opt);
  g_opt = NULL;
  h_str_free(&g_want);
  h_str_free(&g_zwant);
  zttp_conn_free(g_z);
  g_z = NULL;
  h_str_free(&g_in);
  h_str_free(&g_wire);
  h_str_free(&g_snd.windows);
  h_str_free(&g_faults);
  g_num_faults = 0;
  p1_free(g_p1);
  g_p1 = NULL;
  p2_free(g_p2);
  g_p2 = NULL;
  return 0;
}

static int setup(void **state) {
  (void)state;
  pat_init();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_nghttp2_client_workload, teardown),
      cmocka_unit_test_teardown(test_zttp_client_workload, teardown),
      cmocka_unit_test_teardown(test_get_nghttp2_to_zttp, teardown),
      cmocka_unit_test_teardown(test_get_zttp_to_nghttp2, teardown),
      cmocka_unit_test_teardown(test_continuation_both_ways, teardown),
      cmocka_unit_test_teardown(test_max_frame_size_65536, teardown),
      cmocka_unit_test_teardown(test_initial_window_change, teardown),
      cmocka_unit_test_teardown(test_ping_both_ways, teardown),
      cmocka_unit_test_teardown(test_priority_update, teardown),
      cmocka_unit_test_teardown(test_hpack_table_size_changes, teardown),
      cmocka_unit_test_teardown(test_peer_max_concurrent_streams, teardown),
      cmocka_unit_test_teardown(test_extended_connect, teardown),
      cmocka_unit_test_teardown(test_early_response, teardown),
      cmocka_unit_test_teardown(test_close_both_ways, teardown),
      cmocka_unit_test_teardown(test_trailers_without_content, teardown),
      cmocka_unit_test_teardown(test_regress_event_after_reset, teardown),
      cmocka_unit_test_teardown(test_regress_conn_window_after_peer_reset,
                                teardown),
      cmocka_unit_test_teardown(test_regress_conn_window_after_local_reset,
                                teardown),
      cmocka_unit_test_teardown(test_regress_conn_window_update_after_goaway,
                                teardown),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
