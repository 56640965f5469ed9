/* bench/h1: zttp (internal parser and public API) against llhttp, in one
 * process, with picohttpparser driven in a separate process (pico_bench,
 * which links libh2o and so OpenSSL; see common.c).
 *
 *   zttp_llhttp_bench --list DIR
 *   zttp_llhttp_bench --dump DIR OUTDIR
 *   zttp_llhttp_bench --time DIR --pico PATH [--rounds N] [--seconds S]
 *                     [--ir FILE] [--only NAME] [--verbose 1]
 *   zttp_llhttp_bench --callgrind DIR WORKLOAD PARSER N
 *
 * PARSER is zttp (src/h1/parser.h), zttp-conn (the public API) or llhttp.
 * See bench/README.md.
 * SPDX-License-Identifier: MIT */
#include "common.c"

#include <signal.h>
#include <sys/wait.h>

#include "engine.h"
#include "h1/parser.h"
#include "llhttp.h"

/* ======================================================================== */
/* zttp: the internal parser                                                */
/* ======================================================================== */

typedef struct zp_ctx {
  zttp_h1_parser p;
  const zttp_config *cfg;
  int is_response;
} zp_ctx;

enum { ERR_TRUNCATED = -1000, ERR_UNEXPECTED = -1001, ERR_SHORT_TAKE = -1002 };

static void zp_open(zp_ctx *c, const zttp_config *cfg, int is_response) {
  c->cfg = cfg;
  c->is_response = is_response;
  zttp_h1_parser_init(&c->p, &cfg->mem, &cfg->settings, is_response);
}

/* One iteration: every message of |w| once. The workload buffer stays where
 * it is; "presenting the unconsumed bytes followed by the next piece" is
 * buf + off .. buf + avail with avail growing one piece at a time. */
BENCH_INLINE int zp_iter(zttp_h1_parser *p, const workload *w, out *o,
                         const int V) {
  uint8_t *buf = w->buf;
  const size_t len = w->len;
  const size_t piece = w->piece;
  size_t off = 0;
  size_t avail = piece && piece < len ? piece : len;
  int in_msg = 0;
  zttp_h1_item it;
  while (off < len || in_msg) {
    if (!in_msg) {
      if (w->is_response) {
        zttp_h1_parser_expect_response(p, 0, 0);
      }
      in_msg = 1;
    }
    int64_t n = zttp_h1_parse(p, &it, buf + off, avail - off);
    if (n < 0) {
      return (int)n;
    }
    off += (size_t)n;
    switch (it.kind) {
    case ZTTP_H1_ITEM_HEAD:
      if (w->is_response) {
        out_response(o, V, it.head.status, it.head.reason.base,
                     it.head.reason.len, it.head.version);
      } else {
        out_request(o, V, it.head.method.base, it.head.method.len,
                    it.head.target.base, it.head.target.len, it.head.version);
      }
      OUT_FIELDS(o, V, "header", it.head.headers, it.head.num_headers);
      break;
    case ZTTP_H1_ITEM_DATA:
      out_body(o, V, it.data, it.len);
      break;
    case ZTTP_H1_ITEM_END:
      OUT_END(o, V, it.trailers, it.num_trailers);
      in_msg = 0;
      break;
    default: /* NONE: more input is needed */
      if (avail == len) {
        return ERR_TRUNCATED;
      }
      avail = avail + piece < len ? avail + piece : len;
      break;
    }
  }
  return 0;
}

/* Not static: callgrind collects inside measured_* only (by symbol name). */
int measured_zttp(zp_ctx *c, const workload *w, uint64_t iters, out *o);
int warm_zttp(zp_ctx *c, const workload *w, uint64_t iters, out *o);
int measured_conn(zttp_conn **conns, size_t nconn, uint64_t per_conn,
                  const workload *w, out *o);

BENCH_NOINLINE int measured_zttp(zp_ctx *c, const workload *w, uint64_t iters,
                                 out *o) {
  for (uint64_t i = 0; i < iters; i++) {
    int r = zp_iter(&c->p, w, o, 0);
    if (r != 0) {
      return r;
    }
  }
  return 0;
}

BENCH_NOINLINE int warm_zttp(zp_ctx *c, const workload *w, uint64_t iters,
                             out *o) {
  for (uint64_t i = 0; i < iters; i++) {
    int r = zp_iter(&c->p, w, o, 0);
    if (r != 0) {
      return r;
    }
  }
  return 0;
}

static uint64_t run_zttp(void *ctx, const workload *w, uint64_t iters, acc *a,
                         int *err) {
  zp_ctx *c = ctx;
  out o;
  memset(&o, 0, sizeof(o));
  uint64_t t0 = now_ns();
  *err = measured_zttp(c, w, iters, &o);
  uint64_t t1 = now_ns();
  *a = o.a;
  return t1 - t0;
}

/* ======================================================================== */
/* zttp-conn: the public API                                                */
/* ======================================================================== */

/* Requests accumulate unanswered on a server connection (the benchmark never
 * answers): ZTTP_LIMIT_H1_MAX_PIPELINE is 1024 and a connection carries at
 * most 1024 messages. A client connection must have a request outstanding
 * for every response: 1024 requests are queued (and their bytes consumed)
 * on a fresh connection with the clock stopped, then the 1024 responses are
 * fed with the clock running. Connection creation and teardown run with the
 * clock stopped too; so zttp-conn measures receive_data + next_event. A
 * message that ends its connection (HTTP/1.0 without keep-alive) gets a
 * fresh connection per message; those are created CONN_BATCH at a time (the
 * clock is read twice per batch). */
#define CONN_MAX_MSGS 1024
#define CONN_BATCH 128

static const zttp_header bench_host = {"Host", 4, "example.com", 11, 0, 0};

typedef struct zc_ctx {
  const zttp_config *cfg;
  int is_response;
  int close_each;         /* each iteration ends its connection */
  uint64_t msgs_per_iter; /* from the verification pass */
  zttp_conn *conns[CONN_BATCH];
} zc_ctx;

static zttp_conn *zc_new(const zc_ctx *c, uint64_t requests) {
  zttp_conn *conn = NULL;
  int32_t r = zttp_conn_new(
      &conn, c->cfg, c->is_response ? ZTTP_CLIENT : ZTTP_SERVER, ZTTP_HTTP1);
  if (r != 0) {
    die("zttp_conn_new: %s", zttp_strerror(r));
  }
  for (uint64_t i = 0; i < requests; i++) {
    int64_t s = zttp_conn_send_request(conn, "GET", 3, "/", 1, &bench_host, 1,
                                       ZTTP_SEND_FLAG_END_STREAM);
    if (s < 0) {
      die("zttp_conn_send_request #%" PRIu64 ": %s", i,
          zttp_strerror((int32_t)s));
    }
    const uint8_t *pend;
    size_t n = zttp_conn_pending(conn, &pend);
    if (zttp_conn_consume(conn, n) != 0) {
      die("zttp_conn_consume failed");
    }
  }
  return conn;
}

BENCH_INLINE int zc_drain(zttp_conn *conn, out *o, const int V,
                          uint32_t *flags) {
  zttp_event ev;
  int32_t r;
  while ((r = zttp_conn_next_event(conn, &ev)) == 1) {
    switch (ev.kind) {
    case ZTTP_EVENT_REQUEST:
      out_request(o, V, ev.u.request.method.base, ev.u.request.method.len,
                  ev.u.request.target.base, ev.u.request.target.len,
                  ev.u.request.http_version);
      OUT_FIELDS(o, V, "header", ev.u.request.headers,
                 ev.u.request.num_headers);
      *flags |= ev.flags;
      break;
    case ZTTP_EVENT_RESPONSE:
      out_response(o, V, ev.u.response.status, ev.u.response.reason.base,
                   ev.u.response.reason.len, ev.u.response.http_version);
      OUT_FIELDS(o, V, "header", ev.u.response.headers,
                 ev.u.response.num_headers);
      *flags |= ev.flags;
      break;
    case ZTTP_EVENT_DATA:
      out_body(o, V, ev.u.data.data, ev.u.data.len);
      break;
    case ZTTP_EVENT_END_MESSAGE:
      OUT_END(o, V, ev.u.end.trailers, ev.u.end.num_trailers);
      break;
    default:
      return ERR_UNEXPECTED;
    }
  }
  return r;
}

BENCH_INLINE int zc_iter(zttp_conn *conn, const workload *w, out *o,
                         const int V, uint32_t *flags) {
  const size_t piece = w->piece ? w->piece : w->len;
  for (size_t off = 0; off < w->len; off += piece) {
    size_t n = w->len - off < piece ? w->len - off : piece;
    int64_t took = zttp_conn_receive_data(conn, w->buf + off, n);
    if (took != (int64_t)n) {
      return took < 0 ? (int)took : ERR_SHORT_TAKE;
    }
    int r = zc_drain(conn, o, V, flags);
    if (r < 0) {
      return r;
    }
  }
  return 0;
}

/* The measured part: |per_conn| iterations on each of |nconn| connections. */
BENCH_NOINLINE int measured_conn(zttp_conn **conns, size_t nconn,
                                 uint64_t per_conn, const workload *w, out *o) {
  uint32_t flags = 0;
  for (size_t k = 0; k < nconn; k++) {
    for (uint64_t i = 0; i < per_conn; i++) {
      int r = zc_iter(conns[k], w, o, 0, &flags);
      if (r != 0) {
        return r;
      }
    }
  }
  return 0;
}

static uint64_t run_conn(void *ctx, const workload *w, uint64_t iters, acc *a,
                         int *err) {
  zc_ctx *c = ctx;
  out o;
  memset(&o, 0, sizeof(o));
  uint64_t ns = 0;
  uint64_t done = 0;
  const uint64_t cap = c->close_each ? 1 : CONN_MAX_MSGS / c->msgs_per_iter;
  *err = 0;
  while (done < iters) {
    size_t nconn;
    uint64_t per_conn;
    if (c->close_each) {
      nconn = iters - done < CONN_BATCH ? (size_t)(iters - done) : CONN_BATCH;
      per_conn = 1;
    } else {
      nconn = 1;
      per_conn = iters - done < cap ? iters - done : cap;
    }
    for (size_t k = 0; k < nconn; k++) {
      c->conns[k] = zc_new(c, c->is_response ? per_conn * c->msgs_per_iter : 0);
    }
    uint64_t t0 = now_ns();
    int r = measured_conn(c->conns, nconn, per_conn, w, &o);
    ns += now_ns() - t0;
    for (size_t k = 0; k < nconn; k++) {
      zttp_conn_free(c->conns[k]);
    }
    if (r != 0) {
      *err = r;
      return 0;
    }
    done += nconn * per_conn;
  }
  *a = o.a;
  return ns;
}

/* ======================================================================== */
/* llhttp                                                                   */
/* ======================================================================== */

/* The callbacks gather what zttp and picohttpparser hand out directly: the
 * target or reason span and an array of name/value spans, then give it to
 * the same sink at on_headers_complete. While timing, spans point into the
 * input (a field split over two llhttp_execute calls would be extended in
 * place, which is only right when the pieces are adjacent, as they are
 * here); while verifying, every span is copied into an arena first. */

typedef struct lh_field {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} lh_field;

typedef struct lh_ctx {
  llhttp_t p;
  llhttp_settings_t st_timed;
  llhttp_settings_t st_verify;
  const workload *w;
  out *o;
  int reset_each; /* llhttp_reset before each iteration (no keep-alive) */
  int saw_close;
  int last; /* 0: none, 1: a field name, 2: a field value */
  size_t nf;
  const char *line; /* url (request) or status text (response) */
  size_t line_len;
  lh_field f[BENCH_MAX_HEADERS];
  /* Verification: */
  char *arena;
  size_t arena_len;
  size_t arena_cap;
} lh_ctx;

BENCH_INLINE const char *lh_keep(lh_ctx *c, const char *at, size_t len,
                                 const int V) {
  if (!V) {
    return at;
  }
  if (c->arena_len + len > c->arena_cap) {
    die("llhttp verification arena full");
  }
  char *dst = c->arena + c->arena_len;
  memcpy(dst, at, len);
  c->arena_len += len;
  return dst;
}

BENCH_INLINE int lh_on_line(llhttp_t *p, const char *at, size_t len,
                            const int V) {
  lh_ctx *c = p->data;
  at = lh_keep(c, at, len, V);
  if (c->line_len == 0) {
    c->line = at;
  }
  c->line_len += len;
  return 0;
}

BENCH_INLINE int lh_on_field(llhttp_t *p, const char *at, size_t len,
                             const int V) {
  lh_ctx *c = p->data;
  at = lh_keep(c, at, len, V);
  if (c->last != 1) {
    if (c->nf == BENCH_MAX_HEADERS) {
      return -1;
    }
    lh_field *f = &c->f[c->nf++];
    f->name = at;
    f->name_len = len;
    f->value = NULL;
    f->value_len = 0;
    c->last = 1;
  } else {
    c->f[c->nf - 1].name_len += len;
  }
  return 0;
}

BENCH_INLINE int lh_on_value(llhttp_t *p, const char *at, size_t len,
                             const int V) {
  lh_ctx *c = p->data;
  if (c->nf == 0) {
    return -1;
  }
  at = lh_keep(c, at, len, V);
  lh_field *f = &c->f[c->nf - 1];
  if (c->last != 2) {
    f->value = at;
    f->value_len = len;
    c->last = 2;
  } else {
    f->value_len += len;
  }
  return 0;
}

BENCH_INLINE int lh_on_headers_complete(llhttp_t *p, const int V) {
  lh_ctx *c = p->data;
  unsigned version = p->http_major * 10u + p->http_minor;
  if (c->w->is_response) {
    out_response(c->o, V, p->status_code, c->line, c->line_len, version);
  } else {
    const char *m = llhttp_method_name((llhttp_method_t)p->method);
    out_request(c->o, V, m, strlen(m), c->line, c->line_len, version);
  }
  OUT_FIELDS(c->o, V, "header", c->f, c->nf);
  c->nf = 0;
  c->last = 0;
  c->line_len = 0;
  return 0;
}

BENCH_INLINE int lh_on_body(llhttp_t *p, const char *at, size_t len,
                            const int V) {
  lh_ctx *c = p->data;
  out_body(c->o, V, at, len);
  return 0;
}

BENCH_INLINE int lh_on_message_complete(llhttp_t *p, const int V) {
  lh_ctx *c = p->data;
  /* Field callbacks after on_headers_complete were trailers. */
  OUT_END(c->o, V, c->f, c->nf);
  c->nf = 0;
  c->last = 0;
  if (V && !llhttp_should_keep_alive(p)) {
    c->saw_close = 1;
  }
  return 0;
}

#define LH_CALLBACKS(suffix, V)                                                \
  static int lh_line_##suffix(llhttp_t *p, const char *at, size_t len) {       \
    return lh_on_line(p, at, len, V);                                          \
  }                                                                            \
  static int lh_field_##suffix(llhttp_t *p, const char *at, size_t len) {      \
    return lh_on_field(p, at, len, V);                                         \
  }                                                                            \
  static int lh_value_##suffix(llhttp_t *p, const char *at, size_t len) {      \
    return lh_on_value(p, at, len, V);                                         \
  }                                                                            \
  static int lh_hc_##suffix(llhttp_t *p) {                                     \
    return lh_on_headers_complete(p, V);                                       \
  }                                                                            \
  static int lh_body_##suffix(llhttp_t *p, const char *at, size_t len) {       \
    return lh_on_body(p, at, len, V);                                          \
  }                                                                            \
  static int lh_mc_##suffix(llhttp_t *p) {                                     \
    return lh_on_message_complete(p, V);                                       \
  }                                                                            \
  static void lh_settings_##suffix(llhttp_settings_t *s, int is_response) {    \
    llhttp_settings_init(s);                                                   \
    if (is_response) {                                                         \
      s->on_status = lh_line_##suffix;                                         \
    } else {                                                                   \
      s->on_url = lh_line_##suffix;                                            \
    }                                                                          \
    s->on_header_field = lh_field_##suffix;                                    \
    s->on_header_value = lh_value_##suffix;                                    \
    s->on_headers_complete = lh_hc_##suffix;                                   \
    s->on_body = lh_body_##suffix;                                             \
    s->on_message_complete = lh_mc_##suffix;                                   \
  }

LH_CALLBACKS(timed, 0)
LH_CALLBACKS(verify, 1)

static void lh_open(lh_ctx *c, const workload *w) {
  memset(c, 0, sizeof(*c));
  c->w = w;
  lh_settings_timed(&c->st_timed, w->is_response);
  lh_settings_verify(&c->st_verify, w->is_response);
  llhttp_init(&c->p, w->is_response ? HTTP_RESPONSE : HTTP_REQUEST,
              &c->st_timed);
  c->p.data = c;
}

static void lh_use(lh_ctx *c, int verify) {
  c->p.settings = verify ? &c->st_verify : &c->st_timed;
}

BENCH_INLINE int lh_iter(lh_ctx *c, const workload *w) {
  if (c->reset_each) {
    llhttp_reset(&c->p);
  }
  llhttp_errno_t e;
  if (!w->piece) {
    e = llhttp_execute(&c->p, (const char *)w->buf, w->len);
  } else {
    e = HPE_OK;
    for (size_t off = 0; off < w->len && e == HPE_OK; off += w->piece) {
      size_t n = w->len - off < w->piece ? w->len - off : w->piece;
      e = llhttp_execute(&c->p, (const char *)w->buf + off, n);
    }
  }
  return e == HPE_OK ? 0 : -(int)e;
}

int measured_llhttp(lh_ctx *c, const workload *w, uint64_t iters);
int warm_llhttp(lh_ctx *c, const workload *w, uint64_t iters);

BENCH_NOINLINE int measured_llhttp(lh_ctx *c, const workload *w,
                                   uint64_t iters) {
  for (uint64_t i = 0; i < iters; i++) {
    int r = lh_iter(c, w);
    if (r != 0) {
      return r;
    }
  }
  return 0;
}

BENCH_NOINLINE int warm_llhttp(lh_ctx *c, const workload *w, uint64_t iters) {
  for (uint64_t i = 0; i < iters; i++) {
    int r = lh_iter(c, w);
    if (r != 0) {
      return r;
    }
  }
  return 0;
}

static uint64_t run_llhttp(void *ctx, const workload *w, uint64_t iters, acc *a,
                           int *err) {
  lh_ctx *c = ctx;
  out o;
  memset(&o, 0, sizeof(o));
  c->o = &o;
  lh_use(c, 0);
  uint64_t t0 = now_ns();
  *err = measured_llhttp(c, w, iters);
  uint64_t t1 = now_ns();
  c->o = NULL;
  *a = o.a;
  return t1 - t0;
}

/* ======================================================================== */
/* Verification                                                             */
/* ======================================================================== */

#define VERIFY_ITERS 3 /* on the same state, as the timed loops do */

/* Everything the bench keeps per workload. */
typedef struct wstate {
  const workload *w;
  zp_ctx zp;
  zc_ctx zc;
  lh_ctx *lh;
  acc ref;   /* per-iteration totals (all parsers agree) */
  tbuf text; /* the zttp record */
} wstate;

static zttp_config *bench_cfg;

/* Runs VERIFY_ITERS iterations of one parser with the record on; every
 * iteration must give the same record. Returns the first. */
typedef int (*verify_iter_fn)(wstate *s, out *o);

static int vz_iter(wstate *s, out *o) {
  return zp_iter(&s->zp.p, s->w, o, 1);
}

static zttp_conn *vc_conn;
static int vc_iter(wstate *s, out *o) {
  uint32_t flags = 0;
  if (vc_conn == NULL) {
    vc_conn = zc_new(&s->zc, s->w->is_response ? 64 : 0);
  }
  int r = zc_iter(vc_conn, s->w, o, 1, &flags);
  if (flags & ZTTP_EVENT_FLAG_CLOSE) {
    s->zc.close_each = 1;
    zttp_conn_free(vc_conn);
    vc_conn = NULL;
  }
  return r;
}

static int vl_iter(wstate *s, out *o) {
  s->lh->o = o;
  lh_use(s->lh, 1);
  s->lh->arena_len = 0;
  s->lh->saw_close = 0;
  int r = lh_iter(s->lh, s->w);
  if (s->lh->saw_close) {
    s->lh->reset_each = 1;
  }
  s->lh->o = NULL;
  return r;
}

static void verify_one(wstate *s, const char *who, verify_iter_fn fn, tbuf *dst,
                       acc *a) {
  tbuf first = {0}, text = {0};
  acc a0 = {0};
  for (int i = 0; i < VERIFY_ITERS; i++) {
    out o;
    memset(&o, 0, sizeof(o));
    tb_reset(&text);
    tb_put(&text, "", 0);
    o.text = &text;
    int r = fn(s, &o);
    if (r != 0) {
      fprintf(stderr, "%s: %s: iteration %d failed: %d", who, s->w->name, i, r);
      if (r < 0 && r > -100) {
        fprintf(stderr, " (%s)", zttp_strerror(r));
      }
      if (fn == vz_iter && s->zp.p.err != NULL) {
        fprintf(stderr, " p->err=\"%s\"", s->zp.p.err);
      }
      if (fn == vl_iter) {
        fprintf(stderr, " (llhttp: %s)", llhttp_get_error_reason(&s->lh->p));
      }
      fputc('\n', stderr);
      exit(1);
    }
    if (i == 0) {
      tb_put(&first, text.p, text.len);
      a0 = o.a;
    } else if (text.len != first.len ||
               memcmp(text.p, first.p, text.len) != 0 ||
               !acc_equal_times(&o.a, &a0, 1)) {
      fprintf(
          stderr,
          "%s: %s: iteration %d gives a different record than iteration 0\n",
          who, s->w->name, i);
      exit(1);
    }
    free(o.body.p);
  }
  tb_put(dst, first.p, first.len);
  *a = a0;
  free(first.p);
  free(text.p);
}

static wstate states[NUM_WORKLOADS];

/* Verifies every workload with every in-process parser, fills states[] and
 * the three records. Returns 1 if any record differs (0 if all agree). */
static int verify_all(tbuf *tz, tbuf *tc, tbuf *tl) {
  int bad = 0;
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    wstate *s = &states[i];
    s->w = &workloads[i];
    zp_open(&s->zp, bench_cfg, s->w->is_response);
    s->zc.cfg = bench_cfg;
    s->zc.is_response = s->w->is_response;
    s->lh = calloc(1, sizeof(*s->lh));
    lh_open(s->lh, s->w);
    s->lh->arena_cap = 1 << 20;
    s->lh->arena = malloc(s->lh->arena_cap);

    tbuf z = {0}, c = {0}, l = {0};
    acc az, ac, al;
    dump_workload_header(&z, s->w);
    dump_workload_header(&c, s->w);
    dump_workload_header(&l, s->w);
    verify_one(s, "zttp", vz_iter, &z, &az);
    verify_one(s, "zttp-conn", vc_iter, &c, &ac);
    if (vc_conn != NULL) {
      zttp_conn_free(vc_conn);
      vc_conn = NULL;
    }
    verify_one(s, "llhttp", vl_iter, &l, &al);
    s->zc.msgs_per_iter = az.msgs;
    s->ref = az;
    if (az.msgs == 0) {
      fprintf(stderr, "%s: no message parsed\n", s->w->name);
      bad = 1;
    }
    if (c.len != z.len || memcmp(c.p, z.p, z.len) != 0) {
      fprintf(stderr, "MISMATCH %s: zttp-conn record differs from zttp\n",
              s->w->name);
      bad = 1;
    }
    if (l.len != z.len || memcmp(l.p, z.p, z.len) != 0) {
      fprintf(stderr, "MISMATCH %s: llhttp record differs from zttp\n",
              s->w->name);
      bad = 1;
    }
    tb_put(tz, z.p, z.len);
    tb_put(tc, c.p, c.len);
    tb_put(tl, l.p, l.len);
    tb_put(&s->text, z.p, z.len);
    free(z.p);
    free(c.p);
    free(l.p);
  }
  return bad;
}

static void verify_all_or_exit(void) {
  tbuf z = {0}, c = {0}, l = {0};
  if (verify_all(&z, &c, &l)) {
    fprintf(stderr, "records differ: run --dump and diff the files\n");
    exit(1);
  }
  free(z.p);
  free(c.p);
  free(l.p);
}

/* ======================================================================== */
/* The pico_bench child                                                     */
/* ======================================================================== */

typedef struct pico_child {
  pid_t pid;
  FILE *to;
  FILE *from;
} pico_child;

static void pico_start(pico_child *pc, const char *path, const char *dir) {
  int in[2], outp[2];
  if (pipe(in) != 0 || pipe(outp) != 0) {
    die("pipe: %s", strerror(errno));
  }
  pid_t pid = fork();
  if (pid < 0) {
    die("fork: %s", strerror(errno));
  }
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(outp[1], 1);
    close(in[0]);
    close(in[1]);
    close(outp[0]);
    close(outp[1]);
    execl(path, path, "--serve", dir, (char *)NULL);
    fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(outp[1]);
  pc->pid = pid;
  pc->to = fdopen(in[1], "w");
  pc->from = fdopen(outp[0], "r");
  if (pc->to == NULL || pc->from == NULL) {
    die("fdopen failed");
  }
}

static void pico_cmd(pico_child *pc, char *reply, size_t cap, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
static void pico_cmd(pico_child *pc, char *reply, size_t cap, const char *fmt,
                     ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(pc->to, fmt, ap);
  va_end(ap);
  fflush(pc->to);
  if (fgets(reply, (int)cap, pc->from) == NULL) {
    die("pico_bench child died");
  }
  if (strncmp(reply, "ERR", 3) == 0) {
    die("pico_bench: %s", reply);
  }
}

static void pico_stop(pico_child *pc) {
  fprintf(pc->to, "quit\n");
  fclose(pc->to);
  fclose(pc->from);
  int st;
  waitpid(pc->pid, &st, 0);
}

/* ======================================================================== */
/* Modes                                                                    */
/* ======================================================================== */

static void setup_cfg(void) {
  if (zttp_config_new(&bench_cfg, NULL) != 0 ||
      zttp_config_set_limit(bench_cfg, ZTTP_LIMIT_H1_MAX_PIPELINE,
                            CONN_MAX_MSGS) != 0) {
    die("zttp config setup failed");
  }
}

static int mode_dump(const char *dir, const char *outdir) {
  tbuf z = {0}, c = {0}, l = {0};
  char path[4096];
  setup_cfg();
  load_workloads(dir);
  int bad = verify_all(&z, &c, &l);
  snprintf(path, sizeof(path), "%s/zttp.txt", outdir);
  write_file(path, &z);
  snprintf(path, sizeof(path), "%s/zttp-conn.txt", outdir);
  write_file(path, &c);
  snprintf(path, sizeof(path), "%s/llhttp.txt", outdir);
  write_file(path, &l);
  if (bad) {
    fprintf(stderr, "records differ: diff %s/zttp.txt with the others\n",
            outdir);
    return 1;
  }
  printf("records of %zu workloads identical for zttp, zttp-conn, llhttp\n",
         NUM_WORKLOADS);
  return 0;
}

static int mode_list(const char *dir) {
  setup_cfg();
  load_workloads(dir);
  verify_all_or_exit();
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    printf("%s %" PRIu64 "\n", states[i].w->name, states[i].ref.msgs);
  }
  return 0;
}

static int parser_index(const char *name) {
  if (strcmp(name, "zttp") == 0) {
    return 0;
  }
  if (strcmp(name, "zttp-conn") == 0) {
    return 1;
  }
  if (strcmp(name, "llhttp") == 0) {
    return 2;
  }
  die("unknown parser %s (zttp, zttp-conn, llhttp)", name);
}

/* Runs N messages (rounded up to whole iterations) of one parser inside the
 * measured_* functions; callgrind collects only there (--toggle-collect). */
static int mode_callgrind(const char *dir, const char *wname, const char *pname,
                          uint64_t n) {
  setup_cfg();
  load_workloads(dir);
  verify_all_or_exit();
  workload *w = find_workload(wname);
  wstate *s = &states[w - workloads];
  uint64_t iters = (n + s->ref.msgs - 1) / s->ref.msgs;
  int pi = parser_index(pname);
  acc a;
  int err = 0;
  memset(&a, 0, sizeof(a));
  out o;
  memset(&o, 0, sizeof(o));
  switch (pi) {
  case 0:
    err = warm_zttp(&s->zp, w, 2, &o); /* outside the collected functions */
    if (err == 0) {
      run_zttp(&s->zp, w, iters, &a, &err);
    }
    break;
  case 1:
    run_conn(&s->zc, w, iters, &a, &err);
    break;
  default:
    s->lh->o = &o;
    lh_use(s->lh, 0);
    err = warm_llhttp(s->lh, w, 2);
    if (err == 0) {
      run_llhttp(s->lh, w, iters, &a, &err);
    }
    break;
  }
  if (err != 0 || !acc_equal_times(&a, &s->ref, iters)) {
    die("callgrind run of %s/%s failed (%d)", wname, pname, err);
  }
  printf("messages %" PRIu64 "\n", a.msgs);
  return 0;
}

/* Ir per message from the runner's file: lines "WORKLOAD PARSER IR". */
#define NPARSERS 4
static const char *const parser_names[NPARSERS] = {"zttp", "zttp-conn",
                                                   "llhttp", "pico"};

static void read_ir(const char *path, double ir[][NPARSERS]) {
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    for (int p = 0; p < NPARSERS; p++) {
      ir[i][p] = -1;
    }
  }
  if (path == NULL) {
    return;
  }
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    die("cannot open %s", path);
  }
  char wn[128], pn[32];
  double v;
  while (fscanf(f, "%127s %31s %lf", wn, pn, &v) == 3) {
    for (size_t i = 0; i < NUM_WORKLOADS; i++) {
      if (strcmp(workloads[i].name, wn) == 0) {
        for (int p = 0; p < NPARSERS; p++) {
          if (strcmp(parser_names[p], pn) == 0) {
            ir[i][p] = v;
          }
        }
      }
    }
  }
  fclose(f);
}

static void fmt_rate(char *b, size_t n, double v) {
  if (v >= 1e6) {
    snprintf(b, n, "%.2fM", v / 1e6);
  } else {
    snprintf(b, n, "%.0fk", v / 1e3);
  }
}

static void fmt_ir(char *b, size_t n, double v) {
  if (v < 0) {
    snprintf(b, n, "-");
  } else {
    snprintf(b, n, "%.0f", v);
  }
}

static int mode_time(const char *dir, const char *pico_path, int rounds,
                     double seconds, const char *ir_path, const char *only,
                     int verbose) {
  double ir[NUM_WORKLOADS][NPARSERS];
  setup_cfg();
  load_workloads(dir);
  verify_all_or_exit();
  read_ir(ir_path, ir);

  pico_child pc;
  pico_start(&pc, pico_path, dir);
  char reply[256];
  /* pico_bench verified its own records at start; check they match ours by
   * per-iteration totals (the runner already diffed the full dumps). */
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    acc pa;
    pico_cmd(&pc, reply, sizeof(reply), "ref %s\n", workloads[i].name);
    if (sscanf(reply, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &pa.msgs,
               &pa.fields, &pa.field_bytes, &pa.body_bytes) != 4 ||
        !acc_equal_times(&pa, &states[i].ref, 1)) {
      die("pico_bench totals for %s differ from zttp's: %s", workloads[i].name,
          reply);
    }
  }

  double med[NUM_WORKLOADS][NPARSERS];
  /* Ratios: the median over rounds of the per-round ratio (both rates of
   * a ratio come from the same round, so slow drifts in machine speed
   * cancel). 0: zttp/llhttp, 1: zttp/pico, 2: zttp-conn/llhttp. */
  double ratio[NUM_WORKLOADS][3];
  static double rs[3][1000];
  double spread[NUM_WORKLOADS];
  int done[NUM_WORKLOADS];
  memset(done, 0, sizeof(done));
  static double samples[NPARSERS][1000];
  if (rounds > 1000) {
    rounds = 1000;
  }
  fprintf(stderr, "timing: %d rounds of ~%.2f s per parser and workload\n",
          rounds, seconds);
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    wstate *s = &states[i];
    const workload *w = s->w;
    if (only != NULL && strcmp(only, w->name) != 0 &&
        strncmp(only, w->name, 2) != 0) {
      continue;
    }
    s->lh->o = NULL;
    uint64_t it[NPARSERS];
    it[0] = calibrate(run_zttp, &s->zp, w, &s->ref, seconds, "zttp");
    it[1] = calibrate(run_conn, &s->zc, w, &s->ref, seconds, "zttp-conn");
    it[2] = calibrate(run_llhttp, s->lh, w, &s->ref, seconds, "llhttp");
    pico_cmd(&pc, reply, sizeof(reply), "calib %s %f\n", w->name, seconds);
    it[3] = strtoull(reply, NULL, 10);
    for (int r = 0; r < rounds; r++) {
      uint64_t ns[NPARSERS];
      ns[0] = run_checked(run_zttp, &s->zp, w, it[0], &s->ref, "zttp");
      ns[1] = run_checked(run_conn, &s->zc, w, it[1], &s->ref, "zttp-conn");
      ns[2] = run_checked(run_llhttp, s->lh, w, it[2], &s->ref, "llhttp");
      pico_cmd(&pc, reply, sizeof(reply), "run %s %" PRIu64 "\n", w->name,
               it[3]);
      ns[3] = strtoull(reply, NULL, 10);
      for (int p = 0; p < NPARSERS; p++) {
        samples[p][r] = (double)(it[p] * s->ref.msgs) * 1e9 / (double)ns[p];
      }
      rs[0][r] = samples[0][r] / samples[2][r];
      rs[1][r] = samples[0][r] / samples[3][r];
      rs[2][r] = samples[1][r] / samples[2][r];
      if (verbose) {
        fprintf(stderr, "    round %d: %.3fM %.3fM %.3fM %.3fM msg/s\n", r,
                samples[0][r] / 1e6, samples[1][r] / 1e6, samples[2][r] / 1e6,
                samples[3][r] / 1e6);
      }
    }
    for (int k = 0; k < 3; k++) {
      ratio[i][k] = median(rs[k], (size_t)rounds);
    }
    spread[i] = 0;
    for (int p = 0; p < NPARSERS; p++) {
      double lo = samples[p][0], hi = samples[p][0];
      for (int r = 1; r < rounds; r++) {
        lo = samples[p][r] < lo ? samples[p][r] : lo;
        hi = samples[p][r] > hi ? samples[p][r] : hi;
      }
      med[i][p] = median(samples[p], (size_t)rounds);
      double sp = (hi - lo) / med[i][p];
      spread[i] = sp > spread[i] ? sp : spread[i];
    }
    done[i] = 1;
    fprintf(
        stderr,
        "  %-26s zttp %.2fM  zttp-conn %.2fM  llhttp %.2fM  pico %.2fM msg/s\n",
        w->name, med[i][0] / 1e6, med[i][1] / 1e6, med[i][2] / 1e6,
        med[i][3] / 1e6);
  }
  pico_stop(&pc);

  printf(
      "\nmsg/s = median of %d interleaved rounds (~%.2f s each, %s);"
      " ratios > 1: zttp faster; Ir = instructions per message (callgrind)\n\n",
      rounds, seconds, bench_clock_name());
  printf("| workload | msgs | zttp msg/s | zttp-conn msg/s | llhttp msg/s | "
         "pico msg/s |"
         " zttp/llhttp | zttp/pico | zttp-conn/llhttp | Ir/msg zttp | Ir/msg "
         "zttp-conn |"
         " Ir/msg llhttp | Ir/msg pico | spread |\n");
  printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    if (!done[i]) {
      continue;
    }
    char r[NPARSERS][32], irs[NPARSERS][32];
    for (int p = 0; p < NPARSERS; p++) {
      fmt_rate(r[p], sizeof(r[p]), med[i][p]);
      fmt_ir(irs[p], sizeof(irs[p]), ir[i][p]);
    }
    static const char row[] = "| %s | %" PRIu64 " | %s | %s | %s | %s "
                              "| %.2f | %.2f | %.2f | %s | %s | %s | %s "
                              "| %.0f%% |\n";
    printf(row, workloads[i].name, states[i].ref.msgs, r[0], r[1], r[2], r[3],
           ratio[i][0], ratio[i][1], ratio[i][2], irs[0], irs[1], irs[2],
           irs[3], spread[i] * 100);
  }
  printf(
      "\nratios = median over rounds of the per-round ratio; spread = largest"
      " (max - min) / median of any parser's rounds (> 10%%: the machine was "
      "busy).\n");
  return 0;
}

static void usage(void) {
  fprintf(stderr, "usage: zttp_llhttp_bench --list DIR\n"
                  "       zttp_llhttp_bench --dump DIR OUTDIR\n"
                  "       zttp_llhttp_bench --time DIR --pico PATH [--rounds "
                  "N] [--seconds S]"
                  " [--ir FILE] [--only WORKLOAD] [--verbose 1]\n"
                  "       zttp_llhttp_bench --callgrind DIR WORKLOAD "
                  "zttp|zttp-conn|llhttp N\n");
  exit(2);
}

int main(int argc, char **argv) {
  bench_clock_init();
  if (argc < 3) {
    usage();
  }
  if (strcmp(argv[1], "--list") == 0) {
    return mode_list(argv[2]);
  }
  if (strcmp(argv[1], "--dump") == 0 && argc == 4) {
    return mode_dump(argv[2], argv[3]);
  }
  if (strcmp(argv[1], "--callgrind") == 0 && argc == 6) {
    return mode_callgrind(argv[2], argv[3], argv[4],
                          strtoull(argv[5], NULL, 10));
  }
  if (strcmp(argv[1], "--time") == 0) {
    const char *pico = NULL, *irf = NULL, *only = NULL;
    int rounds = 7, verbose = 0;
    double seconds = 0.3;
    for (int i = 3; i < argc; i++) {
      if (i + 1 >= argc) {
        usage();
      }
      if (strcmp(argv[i], "--pico") == 0) {
        pico = argv[++i];
      } else if (strcmp(argv[i], "--rounds") == 0) {
        rounds = atoi(argv[++i]);
      } else if (strcmp(argv[i], "--seconds") == 0) {
        seconds = atof(argv[++i]);
      } else if (strcmp(argv[i], "--ir") == 0) {
        irf = argv[++i];
      } else if (strcmp(argv[i], "--only") == 0) {
        only = argv[++i];
      } else if (strcmp(argv[i], "--verbose") == 0) {
        verbose = atoi(argv[++i]);
      } else {
        usage();
      }
    }
    if (pico == NULL || rounds < 1 || seconds <= 0) {
      usage();
    }
    signal(SIGPIPE, SIG_IGN);
    return mode_time(argv[2], pico, rounds, seconds, irf, only, verbose);
  }
  usage();
}
