/* bench/h2: zttp's HTTP/2 engine against libnghttp2, in one process,
 * interleaved. Both sides are driven in memory: a server connection is fed
 * a client's wire bytes and answers every request; a client connection
 * sends requests and is fed a server's wire bytes.
 *
 *   h2_bench --list DIR
 *   h2_bench --dump DIR OUTDIR
 *   h2_bench --time DIR [--rounds N] [--seconds S] [--ir FILE]
 *            [--only NAME] [--verbose 1]
 *   h2_bench --callgrind DIR WORKLOAD zttp|nghttp2
 *
 * DIR holds the HTTP/1.1 workload files (/work/shared/bench/h1); their
 * header sets are converted to HTTP/2. See bench/README.md.
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

#include <nghttp2/nghttp2.h>

#include "zttp/zttp.h"

#define BENCH_INLINE static inline __attribute__((always_inline))
#define BENCH_NOINLINE __attribute__((noinline, used))
#define MAX_FIELDS 64

/* ======================================================================== */
/* Utilities                                                                */
/* ======================================================================== */

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

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n);
  if (p == NULL) {
    die("out of memory");
  }
  return p;
}

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
    t->p = xrealloc(t->p, cap);
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

static void write_file(const char *path, const tbuf *t) {
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(t->p, 1, t->len, f) != t->len || fclose(f) != 0) {
    die("cannot write %s", path);
  }
}

/* ======================================================================== */
/* Workloads                                                                */
/* ======================================================================== */

/* One HTTP/2 field list (pseudo-header fields first) and a body. */
typedef struct msg {
  nghttp2_nv nv[MAX_FIELDS];
  size_t num;
  uint8_t *body;
  size_t body_len;
} msg;

typedef struct workload {
  const char *name;
  const char *file; /* in DIR: the HTTP/1.1 message converted to HTTP/2 */
  int client;       /* 1: measured in the client role */
  unsigned mux;     /* messages per iteration, multiplexed */
  unsigned batches; /* iterations per connection */
  int upfront;      /* client: all requests sent at connection setup */
  /* Filled at start: */
  msg m;                 /* server role: the request; client: the response */
  const uint8_t *chunks; /* recorded wire bytes: setup, then one per batch */
  size_t *off;           /* chunk i is chunks[off[i] .. off[i + 1]) */
} workload;

/* Workloads 10/11 (client role) send this request for every response. */
#define CLIENT_REQUEST_FILE "04-small-api-get.req"

#define W(n, f, c, m, b, u)                                                    \
  { .name = n, .file = f, .client = c, .mux = m, .batches = b, .upfront = u }
static workload workloads[] = {
    W("01-wrk-get", "01-wrk-get.req", 0, 1, 1000, 0),
    W("02-small-api-get", "04-small-api-get.req", 0, 1, 1000, 0),
    W("03-realworld-get", "06-pico-realworld-get.req", 0, 1, 1000, 0),
    W("04-browser-get", "08-browser-navigation-get.req", 0, 1, 1000, 0),
    W("05-proxied-api-get", "09-proxied-api-get.req", 0, 1, 1000, 0),
    W("06-post-json", "05-post-json.req", 0, 1, 1000, 0),
    W("07-upload-16k", "10-upload-16k.req", 0, 1, 64, 0),
    W("08-mux16-get", "03-tfb-plaintext-x16.req", 0, 16, 64, 0),
    W("09-mux100-get", "03-tfb-plaintext-x16.req", 0, 100, 10, 0),
    W("10-json-resp", "13-json-api.resp", 1, 1, 1000, 0),
    W("11-mux16-json-resp", "13-json-api.resp", 1, 16, 64, 0),
    /* Supplementary: 10 and 11 with every request of the connection sent
     * before the clock starts (as bench/h1's zttp-conn column does), so
     * only receiving the responses is timed. */
    W("12-json-resp-only", "13-json-api.resp", 1, 1, 1000, 1),
    W("13-mux16-json-resp-only", "13-json-api.resp", 1, 16, 64, 1),
};
#undef W
#define NUM_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static msg client_request; /* CLIENT_REQUEST_FILE, converted */

/* The response every server sends (RFC 9113 §8.3.2: no reason phrase). */
static const uint8_t hello[] = "Hello, World!";
#define HELLO_LEN 13

static uint8_t *read_file(const char *dir, const char *name, size_t *len) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    die("cannot open %s: %s", path, strerror(errno));
  }
  uint8_t *b = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 65536;
      b = xrealloc(b, cap);
    }
    size_t r = fread(b + n, 1, cap - n, f);
    if (r == 0) {
      break;
    }
    n += r;
  }
  fclose(f);
  *len = n;
  return b;
}

static char *dup_lower(const char *p, size_t n) {
  char *s = xrealloc(NULL, n + 1);
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    s[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
  }
  s[n] = 0;
  return s;
}

static char *dup_str(const char *p, size_t n) {
  char *s = xrealloc(NULL, n + 1);
  memcpy(s, p, n);
  s[n] = 0;
  return s;
}

static void msg_add(msg *m, char *name, size_t nl, char *value, size_t vl) {
  if (m->num == MAX_FIELDS) {
    die("too many fields");
  }
  nghttp2_nv *v = &m->nv[m->num++];
  v->name = (uint8_t *)name;
  v->namelen = nl;
  v->value = (uint8_t *)value;
  v->valuelen = vl;
  v->flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
}

/* Converts the first HTTP/1.1 message of a file to an HTTP/2 field list
 * (RFC 9113 §8.2.2, §8.3): lowercase names; a request line becomes
 * :method, :scheme (https), :authority (from Host) and :path; a status line
 * becomes :status; Host and the connection-specific fields are dropped. The
 * body is what follows the head (Content-Length of it). */
static void convert(msg *m, const char *dir, const char *file) {
  size_t len;
  uint8_t *b = read_file(dir, file, &len);
  const char *p = (const char *)b, *end = p + len;
  const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
  if (eol == NULL) {
    die("%s: no start line", file);
  }
  const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
  if (sp1 == NULL) {
    die("%s: bad start line", file);
  }
  int is_resp = strncmp(p, "HTTP/", 5) == 0;
  char *authority = NULL;
  size_t alen = 0;
  memset(m, 0, sizeof(*m));
  if (is_resp) {
    msg_add(m, ":status", 7, dup_str(sp1 + 1, 3), 3);
  } else {
    if (sp2 == NULL) {
      die("%s: bad request line", file);
    }
    msg_add(m, ":method", 7, dup_str(p, (size_t)(sp1 - p)), (size_t)(sp1 - p));
    msg_add(m, ":scheme", 7, "https", 5);
    msg_add(m, ":authority", 10, NULL, 0); /* filled from Host below */
    msg_add(m, ":path", 5, dup_str(sp1 + 1, (size_t)(sp2 - sp1 - 1)),
            (size_t)(sp2 - sp1 - 1));
  }
  size_t content_length = 0;
  p = eol + 2;
  for (;;) {
    eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (eol == NULL) {
      die("%s: unterminated head", file);
    }
    if (eol == p) {
      p += 2;
      break;
    }
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon == NULL) {
      die("%s: bad field line", file);
    }
    size_t nl = (size_t)(colon - p);
    char *name = dup_lower(p, nl);
    const char *v = colon + 1;
    while (v < eol && (*v == ' ' || *v == '\t')) {
      v++;
    }
    size_t vl = (size_t)(eol - v);
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) {
      vl--;
    }
    p = eol + 2;
    if (strcmp(name, "host") == 0) {
      authority = dup_str(v, vl);
      alen = vl;
      free(name);
      continue;
    }
    if (strcmp(name, "connection") == 0 || strcmp(name, "keep-alive") == 0 ||
        strcmp(name, "proxy-connection") == 0 ||
        strcmp(name, "transfer-encoding") == 0 ||
        strcmp(name, "upgrade") == 0) {
      free(name);
      continue;
    }
    if (strcmp(name, "content-length") == 0) {
      content_length = strtoul(v, NULL, 10);
    }
    msg_add(m, name, nl, dup_str(v, vl), vl);
  }
  if (!is_resp) {
    if (authority == NULL) {
      die("%s: no Host", file);
    }
    m->nv[2].value = (uint8_t *)authority;
    m->nv[2].valuelen = alen;
  }
  if (content_length > (size_t)(end - p)) {
    die("%s: body shorter than Content-Length", file);
  }
  m->body_len = content_length;
  m->body = content_length ? (uint8_t *)dup_str(p, content_length) : NULL;
  free(b);
}

/* ======================================================================== */
/* Settings                                                                 */
/* ======================================================================== */

/* Both servers advertise the same SETTINGS and connection window (zttp's
 * defaults except MAX_CONCURRENT_STREAMS, raised so that 100 multiplexed
 * requests always fit). */
#define SRV_MAX_CONCURRENT 1024
#define SRV_STREAM_WINDOW 262144
#define SRV_CONN_WINDOW 1048576
#define SRV_MAX_HEADER_LIST 65536

static const nghttp2_settings_entry server_settings[] = {
    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, SRV_MAX_CONCURRENT},
    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, SRV_STREAM_WINDOW},
    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, SRV_MAX_HEADER_LIST},
    {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
};

/* The clients (the generator and both measured clients) announce what
 * zttp's client does. */
static const nghttp2_settings_entry client_settings[] = {
    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, SRV_MAX_CONCURRENT},
    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, SRV_STREAM_WINDOW},
    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, SRV_MAX_HEADER_LIST},
    {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
};

#define NSETTINGS(a) (sizeof(a) / sizeof((a)[0]))

static zttp_config *zcfg_server, *zcfg_client;

static void setup_configs(void) {
  if (zttp_config_new(&zcfg_server, NULL) != 0 ||
      zttp_config_set_limit(zcfg_server, ZTTP_LIMIT_MAX_CONCURRENT_STREAMS,
                            SRV_MAX_CONCURRENT) != 0 ||
      zttp_config_new(&zcfg_client, NULL) != 0 ||
      zttp_config_set_limit(zcfg_client, ZTTP_LIMIT_MAX_CONCURRENT_STREAMS,
                            SRV_MAX_CONCURRENT) != 0 ||
      zttp_config_set_option(zcfg_client, ZTTP_OPT_TLS, 1) != 0) {
    die("zttp config setup failed");
  }
  /* The defaults are the values above; check so the two stay equal. */
  uint64_t v;
  if (zttp_config_get_limit(zcfg_server, &v, ZTTP_LIMIT_STREAM_WINDOW) != 0 ||
      v != SRV_STREAM_WINDOW ||
      zttp_config_get_limit(zcfg_server, &v, ZTTP_LIMIT_CONNECTION_WINDOW) !=
          0 ||
      v != SRV_CONN_WINDOW ||
      zttp_config_get_limit(zcfg_server, &v, ZTTP_LIMIT_MAX_HEADER_BYTES) !=
          0 ||
      v != SRV_MAX_HEADER_LIST) {
    die("zttp's default windows changed: update bench/h2");
  }
}

/* ======================================================================== */
/* The sink                                                                 */
/* ======================================================================== */

/* While timing, every implementation adds up the same counts and lengths;
 * after every timed run they must equal the verified per-connection totals
 * times the connection count. While verifying, |text| gets the record. */
typedef struct acc {
  uint64_t msgs;
  uint64_t fields;      /* regular fields */
  uint64_t field_bytes; /* pseudo-header values (status as a number) + names
                           + values */
  uint64_t body_bytes;
  uint64_t out_bytes; /* output pulled (not compared across implementations) */
} acc;

typedef struct out {
  acc a;
  tbuf *text; /* NULL while timing */
} out;

static int acc_equal_times(const acc *got, const acc *ref, uint64_t n) {
  return got->msgs == ref->msgs * n && got->fields == ref->fields * n &&
         got->field_bytes == ref->field_bytes * n &&
         got->body_bytes == ref->body_bytes * n &&
         got->out_bytes == ref->out_bytes * n;
}

static void acc_print(FILE *f, const acc *a) {
  fprintf(f,
          "msgs=%" PRIu64 " fields=%" PRIu64 " field_bytes=%" PRIu64
          " body_bytes=%" PRIu64 " out_bytes=%" PRIu64,
          a->msgs, a->fields, a->field_bytes, a->body_bytes, a->out_bytes);
}

/* ======================================================================== */
/* Recording the wire bytes with nghttp2 (client and server)                */
/* ======================================================================== */

typedef struct bytes {
  uint8_t *p;
  size_t len;
  size_t cap;
} bytes;

static void bytes_put(bytes *b, const uint8_t *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (b->len + n > cap) {
      cap *= 2;
    }
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

/* A body being sent by a data provider. */
typedef struct body_src {
  const uint8_t *p;
  size_t len;
  size_t off;
} body_src;

static ssize_t body_read(nghttp2_session *s, int32_t sid, uint8_t *buf,
                         size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *user) {
  (void)s;
  (void)sid;
  (void)user;
  body_src *b = src->ptr;
  size_t n = b->len - b->off < length ? b->len - b->off : length;
  if (n) {
    memcpy(buf, b->p + b->off, n);
  }
  b->off += n;
  if (b->off == b->len) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return (ssize_t)n;
}

/* ---- the nghttp2 server (generator and measured) ----------------------- */

/* The measured nghttp2 server and the generator's server share this code;
 * |resp| is what it answers with (Hello, World! when measured). */
typedef struct ng_server {
  nghttp2_session *s;
  out *o;
  const nghttp2_nv *resp;
  size_t resp_num;
  const uint8_t *resp_body;
  size_t resp_body_len;
  body_src *bodies; /* one per response being sent, reused round robin */
  size_t nbodies;
  size_t next_body;
  int err;
  /* Verification: the head being collected. */
  tbuf head;
  char *pv[4];
  size_t pl[4];
} ng_server;

static const nghttp2_nv hello_nv[] = {
    {(uint8_t *)":status", (uint8_t *)"200", 7, 3,
     NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
    {(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10,
     NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
    {(uint8_t *)"content-length", (uint8_t *)"13", 14, 2,
     NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
};

static int ngs_on_header(nghttp2_session *s, const nghttp2_frame *frame,
                         const uint8_t *name, size_t nl, const uint8_t *value,
                         size_t vl, uint8_t flags, void *user) {
  (void)s;
  (void)frame;
  (void)flags;
  ng_server *c = user;
  if (nl > 0 && name[0] == ':') {
    c->o->a.field_bytes += vl;
    if (c->o->text != NULL) {
      int k = nl == 7 && memcmp(name, ":method", 7) == 0   ? 0
              : nl == 7 && memcmp(name, ":scheme", 7) == 0 ? 1
              : nl == 10                                   ? 2
                                                           : 3;
      /* Values stay valid only during the callback: keep a copy. */
      free(c->pv[k]);
      c->pv[k] = dup_str((const char *)value, vl);
      c->pl[k] = vl;
    }
    return 0;
  }
  c->o->a.fields++;
  c->o->a.field_bytes += nl + vl;
  if (c->o->text != NULL) {
    tb_put(&c->head, "header ", 7);
    tb_esc(&c->head, name, nl);
    tb_put(&c->head, ": ", 2);
    tb_esc(&c->head, value, vl);
    tb_put(&c->head, "\n", 1);
  }
  return 0;
}

static int ngs_on_data(nghttp2_session *s, uint8_t flags, int32_t sid,
                       const uint8_t *data, size_t len, void *user) {
  (void)s;
  (void)flags;
  ng_server *c = user;
  c->o->a.body_bytes += len;
  if (c->o->text != NULL) {
    tb_printf(c->o->text, "stream %d data %zu ", sid, len);
    tb_esc(c->o->text, data, len);
    tb_put(c->o->text, "\n", 1);
  }
  return 0;
}

static int ngs_on_frame(nghttp2_session *s, const nghttp2_frame *frame,
                        void *user) {
  ng_server *c = user;
  int32_t sid = frame->hd.stream_id;
  if (frame->hd.type == NGHTTP2_HEADERS && c->o->text != NULL) {
    static const char *const pn[4] = {"method", "scheme", "authority", "path"};
    tb_printf(c->o->text, "stream %d head\n", sid);
    for (int k = 0; k < 4; k++) {
      tb_printf(c->o->text, "%s ", pn[k]);
      tb_esc(c->o->text, c->pv[k], c->pl[k]);
      tb_put(c->o->text, "\n", 1);
      free(c->pv[k]);
      c->pv[k] = NULL;
      c->pl[k] = 0;
    }
    tb_put(c->o->text, c->head.p ? c->head.p : "", c->head.len);
    c->head.len = 0;
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    c->o->a.msgs++;
    if (c->o->text != NULL) {
      tb_printf(c->o->text, "stream %d end\n", sid);
    }
    body_src *b = &c->bodies[c->next_body];
    c->next_body = (c->next_body + 1) % c->nbodies;
    b->p = c->resp_body;
    b->len = c->resp_body_len;
    b->off = 0;
    nghttp2_data_provider prd;
    prd.source.ptr = b;
    prd.read_callback = body_read;
    if (nghttp2_submit_response(s, sid, c->resp, c->resp_num, &prd) != 0) {
      c->err = 1;
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  }
  return 0;
}

static nghttp2_session_callbacks *ngs_callbacks(void) {
  static nghttp2_session_callbacks *cbs;
  if (cbs == NULL) {
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
      die("nghttp2_session_callbacks_new");
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, ngs_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, ngs_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, ngs_on_frame);
  }
  return cbs;
}

/* Opens a server session with the bench settings; its first flight is
 * queued (not sent). */
static void ngs_open(ng_server *c, const nghttp2_nv *resp, size_t resp_num,
                     const uint8_t *body, size_t body_len, size_t nbodies) {
  c->resp = resp;
  c->resp_num = resp_num;
  c->resp_body = body;
  c->resp_body_len = body_len;
  if (c->nbodies < nbodies) {
    c->bodies = xrealloc(c->bodies, nbodies * sizeof(*c->bodies));
    c->nbodies = nbodies;
  }
  c->next_body = 0;
  c->err = 0;
  if (nghttp2_session_server_new(&c->s, ngs_callbacks(), c) != 0 ||
      nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, server_settings,
                              NSETTINGS(server_settings)) != 0 ||
      nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0,
                                            SRV_CONN_WINDOW) != 0) {
    die("nghttp2 server setup failed");
  }
}

/* ---- the nghttp2 client (generator, measured, and response checker) ---- */

typedef struct ng_client {
  nghttp2_session *s;
  out *o;
  body_src *bodies;
  size_t nbodies;
  size_t next_body;
  uint64_t done; /* responses complete */
  uint32_t status;
  tbuf head;
} ng_client;

static int ngc_on_header(nghttp2_session *s, const nghttp2_frame *frame,
                         const uint8_t *name, size_t nl, const uint8_t *value,
                         size_t vl, uint8_t flags, void *user) {
  (void)s;
  (void)frame;
  (void)flags;
  ng_client *c = user;
  if (nl == 7 && memcmp(name, ":status", 7) == 0) {
    uint32_t st = vl == 3 ? (uint32_t)(value[0] - '0') * 100 +
                                (uint32_t)(value[1] - '0') * 10 +
                                (uint32_t)(value[2] - '0')
                          : 0;
    c->status = st;
    c->o->a.field_bytes += st;
    return 0;
  }
  c->o->a.fields++;
  c->o->a.field_bytes += nl + vl;
  if (c->o->text != NULL) {
    tb_put(&c->head, "header ", 7);
    tb_esc(&c->head, name, nl);
    tb_put(&c->head, ": ", 2);
    tb_esc(&c->head, value, vl);
    tb_put(&c->head, "\n", 1);
  }
  return 0;
}

static int ngc_on_data(nghttp2_session *s, uint8_t flags, int32_t sid,
                       const uint8_t *data, size_t len, void *user) {
  (void)s;
  (void)flags;
  ng_client *c = user;
  c->o->a.body_bytes += len;
  if (c->o->text != NULL) {
    tb_printf(c->o->text, "stream %d data %zu ", sid, len);
    tb_esc(c->o->text, data, len);
    tb_put(c->o->text, "\n", 1);
  }
  return 0;
}

static int ngc_on_frame(nghttp2_session *s, const nghttp2_frame *frame,
                        void *user) {
  (void)s;
  ng_client *c = user;
  int32_t sid = frame->hd.stream_id;
  if (frame->hd.type == NGHTTP2_HEADERS && c->o->text != NULL) {
    tb_printf(c->o->text, "stream %d head\nstatus %u\n", sid, c->status);
    tb_put(c->o->text, c->head.p ? c->head.p : "", c->head.len);
    c->head.len = 0;
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    c->o->a.msgs++;
    c->done++;
    if (c->o->text != NULL) {
      tb_printf(c->o->text, "stream %d end\n", sid);
    }
  }
  return 0;
}

static nghttp2_session_callbacks *ngc_callbacks(void) {
  static nghttp2_session_callbacks *cbs;
  if (cbs == NULL) {
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
      die("nghttp2_session_callbacks_new");
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, ngc_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, ngc_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, ngc_on_frame);
  }
  return cbs;
}

static void ngc_open(ng_client *c, size_t nbodies) {
  if (c->nbodies < nbodies) {
    c->bodies = xrealloc(c->bodies, nbodies * sizeof(*c->bodies));
    c->nbodies = nbodies;
  }
  c->next_body = 0;
  c->done = 0;
  if (nghttp2_session_client_new(&c->s, ngc_callbacks(), c) != 0 ||
      nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, client_settings,
                              NSETTINGS(client_settings)) != 0) {
    die("nghttp2 client setup failed");
  }
}

BENCH_INLINE int ngc_submit(ng_client *c, const msg *m) {
  nghttp2_data_provider prd, *pp = NULL;
  if (m->body_len > 0) {
    body_src *b = &c->bodies[c->next_body];
    c->next_body = (c->next_body + 1) % c->nbodies;
    b->p = m->body;
    b->len = m->body_len;
    b->off = 0;
    prd.source.ptr = b;
    prd.read_callback = body_read;
    pp = &prd;
  }
  return nghttp2_submit_request(c->s, NULL, m->nv, m->num, pp, NULL) < 0;
}

/* Sends everything |s| has queued, appending it to |b| (NULL: counted in
 * *n only). Returns 0 or -1. */
BENCH_INLINE int ng_drain_output(nghttp2_session *s, bytes *b, uint64_t *n) {
  for (;;) {
    const uint8_t *p;
    ssize_t k = nghttp2_session_mem_send(s, &p);
    if (k < 0) {
      return -1;
    }
    if (k == 0) {
      return 0;
    }
    *n += (uint64_t)k;
    if (b != NULL) {
      bytes_put(b, p, (size_t)k);
    }
  }
}

BENCH_INLINE int ng_feed(nghttp2_session *s, const uint8_t *p, size_t n) {
  ssize_t r = nghttp2_session_mem_recv(s, p, n);
  return r == (ssize_t)n ? 0 : -1;
}

/* Records the wire bytes of one connection of |w|: an nghttp2 client and
 * an nghttp2 server talk in memory; the client submits |mux| requests at a
 * time and the pump runs until their responses are complete. Server role:
 * the client's bytes are kept (chunk 0: preface, SETTINGS and SETTINGS ACK;
 * chunk 1 + b: everything the client sent during batch b). Client role: the
 * server's bytes are kept the same way. */
static void record(workload *w) {
  static out sink_c, sink_s;
  ng_client gc;
  ng_server gs;
  memset(&gc, 0, sizeof(gc));
  memset(&gs, 0, sizeof(gs));
  memset(&sink_c, 0, sizeof(sink_c));
  memset(&sink_s, 0, sizeof(sink_s));
  gc.o = &sink_c;
  gs.o = &sink_s;
  const msg *req = w->client ? &client_request : &w->m;
  ngc_open(&gc, w->mux);
  if (w->client) {
    ngs_open(&gs, w->m.nv, w->m.num, w->m.body, w->m.body_len, w->mux);
  } else {
    ngs_open(&gs, hello_nv, 3, hello, HELLO_LEN, w->mux);
  }
  bytes rec = {0}, cb = {0}, sb = {0};
  w->off = xrealloc(NULL, (w->batches + 2) * sizeof(*w->off));
  uint64_t dummy = 0;
  /* Setup: both first flights and both SETTINGS ACKs. */
  w->off[0] = 0;
  for (int round = 0; round < 3; round++) {
    cb.len = sb.len = 0;
    if (ng_drain_output(gc.s, &cb, &dummy) != 0 ||
        ng_feed(gs.s, cb.p, cb.len) != 0 ||
        ng_drain_output(gs.s, &sb, &dummy) != 0 ||
        ng_feed(gc.s, sb.p, sb.len) != 0) {
      die("%s: recording the setup failed", w->name);
    }
    bytes_put(&rec, w->client ? sb.p : cb.p, w->client ? sb.len : cb.len);
  }
  for (unsigned b = 0; b < w->batches; b++) {
    w->off[b + 1] = rec.len;
    for (unsigned k = 0; k < w->mux; k++) {
      if (ngc_submit(&gc, req) != 0) {
        die("%s: nghttp2_submit_request failed", w->name);
      }
    }
    uint64_t want = (uint64_t)(b + 1) * w->mux;
    for (int spins = 0;; spins++) {
      cb.len = sb.len = 0;
      if (ng_drain_output(gc.s, &cb, &dummy) != 0 ||
          ng_feed(gs.s, cb.p, cb.len) != 0 ||
          ng_drain_output(gs.s, &sb, &dummy) != 0 ||
          ng_feed(gc.s, sb.p, sb.len) != 0) {
        die("%s: recording batch %u failed", w->name, b);
      }
      bytes_put(&rec, w->client ? sb.p : cb.p, w->client ? sb.len : cb.len);
      if (gc.done >= want && cb.len == 0 && sb.len == 0) {
        break;
      }
      if (spins > 1000) {
        die("%s: batch %u does not complete", w->name, b);
      }
    }
  }
  w->off[w->batches + 1] = rec.len;
  w->chunks = rec.p;
  nghttp2_session_del(gc.s);
  nghttp2_session_del(gs.s);
  free(gc.bodies);
  free(gs.bodies);
  free(cb.p);
  free(sb.p);
}

/* ======================================================================== */
/* zttp                                                                     */
/* ======================================================================== */

enum { ERR_UNEXPECTED = -1000, ERR_SHORT = -1001, ERR_NGHTTP2 = -1002 };

static const zttp_header hello_hdr[] = {
    {"content-type", 12, "text/plain", 10, 0, 0},
    {"content-length", 14, "13", 2, 0, 0},
};

typedef struct zt_ctx {
  zttp_header req[MAX_FIELDS]; /* client role: the request's fields */
  size_t req_num;
  const char *method, *path;
  size_t method_len, path_len;
} zt_ctx;

static zt_ctx zt;

static void zt_setup(void) {
  const msg *m = &client_request;
  zt.method = (const char *)m->nv[0].value;
  zt.method_len = m->nv[0].valuelen;
  zt.path = (const char *)m->nv[3].value;
  zt.path_len = m->nv[3].valuelen;
  /* :scheme comes from ZTTP_OPT_TLS, :authority from host. */
  zt.req[0] = (zttp_header){
      "host", 4, (const char *)m->nv[2].value, m->nv[2].valuelen, 0, 0};
  zt.req_num = 1;
  for (size_t i = 4; i < m->num; i++) {
    zt.req[zt.req_num++] = (zttp_header){(const char *)m->nv[i].name,
                                         m->nv[i].namelen,
                                         (const char *)m->nv[i].value,
                                         m->nv[i].valuelen,
                                         0,
                                         0};
  }
}

BENCH_INLINE void rec_fields(out *o, const int V, const zttp_header *h,
                             size_t n) {
  o->a.fields += n;
  for (size_t i = 0; i < n; i++) {
    o->a.field_bytes += h[i].name_len + h[i].value_len;
    if (V) {
      tb_put(o->text, "header ", 7);
      tb_esc(o->text, h[i].name, h[i].name_len);
      tb_put(o->text, ": ", 2);
      tb_esc(o->text, h[i].value, h[i].value_len);
      tb_put(o->text, "\n", 1);
    }
  }
}

/* Drains |c|'s events; a server answers each complete request. */
BENCH_INLINE int zt_drain(zttp_conn *c, out *o, const int V, int server) {
  zttp_event ev;
  int32_t r;
  while ((r = zttp_conn_next_event(c, &ev)) == 1) {
    switch (ev.kind) {
    case ZTTP_EVENT_REQUEST: {
      const zttp_request_event *q = &ev.u.request;
      const zttp_header *h = q->headers;
      size_t n = q->num_headers;
      /* zttp adds host from :authority (RFC 9113 §8.3.1); not a field of
       * the request as sent, so not counted. */
      if (n > 0 && h[0].value == q->authority.base && h[0].name_len == 4) {
        h++;
        n--;
      }
      o->a.field_bytes +=
          q->method.len + q->scheme.len + q->authority.len + q->target.len;
      if (V) {
        tb_printf(o->text, "stream %" PRId64 " head\nmethod ", ev.stream_id);
        tb_esc(o->text, q->method.base, q->method.len);
        tb_put(o->text, "\nscheme ", 8);
        tb_esc(o->text, q->scheme.base, q->scheme.len);
        tb_put(o->text, "\nauthority ", 11);
        tb_esc(o->text, q->authority.base, q->authority.len);
        tb_put(o->text, "\npath ", 6);
        tb_esc(o->text, q->target.base, q->target.len);
        tb_put(o->text, "\n", 1);
      }
      rec_fields(o, V, h, n);
      break;
    }
    case ZTTP_EVENT_RESPONSE:
      o->a.field_bytes += ev.u.response.status;
      if (V) {
        tb_printf(o->text, "stream %" PRId64 " head\nstatus %u\n", ev.stream_id,
                  ev.u.response.status);
      }
      rec_fields(o, V, ev.u.response.headers, ev.u.response.num_headers);
      break;
    case ZTTP_EVENT_DATA:
      o->a.body_bytes += ev.u.data.len;
      if (V) {
        tb_printf(o->text, "stream %" PRId64 " data %zu ", ev.stream_id,
                  ev.u.data.len);
        tb_esc(o->text, ev.u.data.data, ev.u.data.len);
        tb_put(o->text, "\n", 1);
      }
      if (zttp_conn_data_consumed(c, ev.stream_id, ev.u.data.len) != 0) {
        return ERR_UNEXPECTED;
      }
      break;
    case ZTTP_EVENT_END_MESSAGE:
      o->a.msgs++;
      if (V) {
        tb_printf(o->text, "stream %" PRId64 " end\n", ev.stream_id);
      }
      if (server) {
        if (zttp_conn_send_response(c, ev.stream_id, 200, NULL, 0, hello_hdr, 2,
                                    0) != 0 ||
            zttp_conn_send_data(c, ev.stream_id, hello, HELLO_LEN,
                                ZTTP_SEND_FLAG_END_STREAM) != HELLO_LEN) {
          return ERR_UNEXPECTED;
        }
      }
      break;
    case ZTTP_EVENT_SETTINGS:
    case ZTTP_EVENT_WINDOW_UPDATE:
    case ZTTP_EVENT_PING:
      break;
    default:
      return ERR_UNEXPECTED;
    }
  }
  return r;
}

/* Hands |n| bytes to |c| and drains its events. */
BENCH_INLINE int zt_feed(zttp_conn *c, const uint8_t *p, size_t n, out *o,
                         const int V, int server) {
  while (n > 0) {
    int64_t took = zttp_conn_receive_data(c, p, n);
    if (took <= 0) {
      return took < 0 ? (int)took : ERR_SHORT;
    }
    p += took;
    n -= (size_t)took;
    int r = zt_drain(c, o, V, server);
    if (r < 0) {
      return r;
    }
  }
  return 0;
}

/* Pulls (and drops) the pending output; |keep| gets a copy if not NULL. */
BENCH_INLINE int zt_flush(zttp_conn *c, out *o, bytes *keep) {
  const uint8_t *p;
  size_t n = zttp_conn_pending(c, &p);
  o->a.out_bytes += n;
  if (keep != NULL && n > 0) {
    bytes_put(keep, p, n);
  }
  return zttp_conn_consume(c, n);
}

/* One iteration: batch |b| of a connection of |w|. */
BENCH_INLINE int zt_iter(zttp_conn *c, const workload *w, unsigned b, out *o,
                         const int V, bytes *keep) {
  if (w->client && !w->upfront) {
    for (unsigned k = 0; k < w->mux; k++) {
      if (zttp_conn_send_request(c, zt.method, zt.method_len, zt.path,
                                 zt.path_len, zt.req, zt.req_num,
                                 ZTTP_SEND_FLAG_END_STREAM) < 0) {
        return ERR_UNEXPECTED;
      }
    }
    int r = zt_flush(c, o, NULL);
    if (r != 0) {
      return r;
    }
  }
  const uint8_t *p = w->chunks + w->off[b + 1];
  size_t n = w->off[b + 2] - w->off[b + 1];
  int r = zt_feed(c, p, n, o, V, !w->client);
  if (r != 0) {
    return r;
  }
  return w->client ? 0 : zt_flush(c, o, keep);
}

/* A new connection that has processed the recorded setup chunk. */
static zttp_conn *zt_open(const workload *w, out *o, bytes *keep) {
  zttp_conn *c = NULL;
  int32_t r = zttp_conn_new(&c, w->client ? zcfg_client : zcfg_server,
                            w->client ? ZTTP_CLIENT : ZTTP_SERVER, ZTTP_HTTP2);
  if (r != 0) {
    die("zttp_conn_new: %s", zttp_strerror(r));
  }
  out tmp = {0};
  if (zt_flush(c, &tmp, keep) != 0 ||
      zt_feed(c, w->chunks, w->off[1], &tmp, 0, !w->client) != 0 ||
      zt_flush(c, &tmp, keep) != 0) {
    die("%s: zttp connection setup failed", w->name);
  }
  if (w->client && w->upfront) {
    for (unsigned k = 0; k < w->batches * w->mux; k++) {
      if (zttp_conn_send_request(c, zt.method, zt.method_len, zt.path,
                                 zt.path_len, zt.req, zt.req_num,
                                 ZTTP_SEND_FLAG_END_STREAM) < 0) {
        die("%s: zttp_conn_send_request %u failed", w->name, k);
      }
    }
    if (zt_flush(c, &tmp, NULL) != 0) {
      die("%s: zttp flush failed", w->name);
    }
  }
  (void)o;
  return c;
}

/* Not static: callgrind collects inside measured_* only (by symbol name). */
int measured_zttp(zttp_conn *c, const workload *w, out *o);
int warm_zttp(zttp_conn *c, const workload *w, out *o);

BENCH_NOINLINE int measured_zttp(zttp_conn *c, const workload *w, out *o) {
  for (unsigned b = 0; b < w->batches; b++) {
    int r = zt_iter(c, w, b, o, 0, NULL);
    if (r != 0) {
      return r;
    }
  }
  return 0;
}

BENCH_NOINLINE int warm_zttp(zttp_conn *c, const workload *w, out *o) {
  for (unsigned b = 0; b < w->batches; b++) {
    int r = zt_iter(c, w, b, o, 0, NULL);
    if (r != 0) {
      return r;
    }
  }
  return 0;
}

/* ======================================================================== */
/* nghttp2                                                                  */
/* ======================================================================== */

typedef struct ng_ctx {
  ng_server srv;
  ng_client cli;
} ng_ctx;

static ng_ctx ng;

BENCH_INLINE int ng_iter(const workload *w, unsigned b, out *o, bytes *keep) {
  const uint8_t *p = w->chunks + w->off[b + 1];
  size_t n = w->off[b + 2] - w->off[b + 1];
  if (w->client) {
    ng_client *c = &ng.cli;
    c->o = o;
    for (unsigned k = 0; k < w->mux && !w->upfront; k++) {
      if (ngc_submit(c, &client_request) != 0) {
        return ERR_NGHTTP2;
      }
    }
    if (ng_drain_output(c->s, NULL, &o->a.out_bytes) != 0 ||
        ng_feed(c->s, p, n) != 0) {
      return ERR_NGHTTP2;
    }
    return 0;
  }
  ng_server *s = &ng.srv;
  s->o = o;
  if (ng_feed(s->s, p, n) != 0 || s->err ||
      ng_drain_output(s->s, keep, &o->a.out_bytes) != 0) {
    return ERR_NGHTTP2;
  }
  return 0;
}

static void ng_open(const workload *w, bytes *keep) {
  static out tmp;
  memset(&tmp, 0, sizeof(tmp));
  uint64_t dummy = 0;
  if (w->client) {
    ng.cli.o = &tmp;
    ngc_open(&ng.cli, w->mux);
    if (ng_drain_output(ng.cli.s, NULL, &dummy) != 0 ||
        ng_feed(ng.cli.s, w->chunks, w->off[1]) != 0 ||
        ng_drain_output(ng.cli.s, NULL, &dummy) != 0) {
      die("%s: nghttp2 client setup failed", w->name);
    }
    for (unsigned k = 0; w->upfront && k < w->batches * w->mux; k++) {
      if (ngc_submit(&ng.cli, &client_request) != 0) {
        die("%s: nghttp2_submit_request %u failed", w->name, k);
      }
    }
    if (ng_drain_output(ng.cli.s, NULL, &dummy) != 0) {
      die("%s: nghttp2 client setup failed", w->name);
    }
    return;
  }
  ng.srv.o = &tmp;
  ngs_open(&ng.srv, hello_nv, 3, hello, HELLO_LEN, w->mux);
  if (ng_feed(ng.srv.s, w->chunks, w->off[1]) != 0 ||
      ng_drain_output(ng.srv.s, keep, &dummy) != 0) {
    die("%s: nghttp2 server setup failed", w->name);
  }
}

static void ng_close(const workload *w) {
  if (w->client) {
    nghttp2_session_del(ng.cli.s);
    ng.cli.s = NULL;
  } else {
    nghttp2_session_del(ng.srv.s);
    ng.srv.s = NULL;
  }
}

int measured_nghttp2(const workload *w, out *o);
int warm_nghttp2(const workload *w, out *o);

BENCH_NOINLINE int measured_nghttp2(const workload *w, out *o) {
  for (unsigned b = 0; b < w->batches; b++) {
    int r = ng_iter(w, b, o, NULL);
    if (r != 0) {
      return r;
    }
  }
  return 0;
}

BENCH_NOINLINE int warm_nghttp2(const workload *w, out *o) {
  for (unsigned b = 0; b < w->batches; b++) {
    int r = ng_iter(w, b, o, NULL);
    if (r != 0) {
      return r;
    }
  }
  return 0;
}

/* ======================================================================== */
/* Clock and runners                                                        */
/* ======================================================================== */

static clockid_t bench_clock = CLOCK_THREAD_CPUTIME_ID;

static void bench_clock_init(void) {
  const char *e = getenv("BENCH_CLOCK");
  if (e != NULL && strcmp(e, "wall") == 0) {
    bench_clock = CLOCK_MONOTONIC;
  } else if (e != NULL && strcmp(e, "cpu") != 0 && e[0] != 0) {
    die("BENCH_CLOCK must be cpu or wall");
  }
}

static const char *bench_clock_name(void) {
  return bench_clock == CLOCK_MONOTONIC
             ? "wall clock (CLOCK_MONOTONIC)"
             : "thread CPU time (CLOCK_THREAD_CPUTIME_ID)";
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(bench_clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A runner runs |conns| connections of |w| (each: every batch once), adds
 * to |a| and returns the nanoseconds spent in the measured part. The clock
 * is stopped while a connection is created, set up and freed. */
typedef uint64_t (*runner_fn)(const workload *w, uint64_t conns, acc *a,
                              int *err);

static uint64_t run_zttp(const workload *w, uint64_t conns, acc *a, int *err) {
  out o;
  memset(&o, 0, sizeof(o));
  uint64_t ns = 0;
  *err = 0;
  for (uint64_t i = 0; i < conns && *err == 0; i++) {
    zttp_conn *c = zt_open(w, &o, NULL);
    uint64_t t0 = now_ns();
    *err = measured_zttp(c, w, &o);
    ns += now_ns() - t0;
    zttp_conn_free(c);
  }
  *a = o.a;
  return ns;
}

static uint64_t run_nghttp2(const workload *w, uint64_t conns, acc *a,
                            int *err) {
  out o;
  memset(&o, 0, sizeof(o));
  uint64_t ns = 0;
  *err = 0;
  for (uint64_t i = 0; i < conns && *err == 0; i++) {
    ng_open(w, NULL);
    uint64_t t0 = now_ns();
    *err = measured_nghttp2(w, &o);
    ns += now_ns() - t0;
    ng_close(w);
  }
  *a = o.a;
  return ns;
}

static uint64_t run_checked(runner_fn f, const workload *w, uint64_t conns,
                            const acc *ref, const char *who) {
  acc a;
  int err = 0;
  uint64_t ns = f(w, conns, &a, &err);
  if (err != 0) {
    die("%s: %s: error %d while timing", who, w->name, err);
  }
  if (!acc_equal_times(&a, ref, conns)) {
    fprintf(stderr,
            "%s: %s: timed totals differ from the verified ones\n  got  ", who,
            w->name);
    acc_print(stderr, &a);
    fprintf(stderr, "\n  want %" PRIu64 " x ", conns);
    acc_print(stderr, ref);
    fputc('\n', stderr);
    exit(2);
  }
  return ns ? ns : 1;
}

/* Returns the connection count that takes about |seconds|. */
static uint64_t calibrate(runner_fn f, const workload *w, const acc *ref,
                          double seconds, const char *who) {
  uint64_t n = 1;
  for (;;) {
    uint64_t ns = run_checked(f, w, n, ref, who);
    if (ns >= 30000000u) {
      double want = (double)n * seconds * 1e9 / (double)ns;
      return want < 1 ? 1 : (uint64_t)want;
    }
    if (ns < 1000000u) {
      n *= 10;
    } else {
      n = (uint64_t)((double)n * 40e6 / (double)ns) + 1;
    }
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ======================================================================== */
/* Verification                                                             */
/* ======================================================================== */

#define VERIFY_CONNS 2 /* connections per implementation, records equal */

typedef struct wstate {
  acc ref_z; /* per connection */
  acc ref_n;
  uint64_t msgs; /* per connection */
} wstate;

static wstate states[NUM_WORKLOADS];

/* Reorders a record by stream (stable): servers may interleave the frames
 * of multiplexed responses differently (zttp sends each response's HEADERS
 * and DATA together, nghttp2 all HEADERS first), which is not a
 * difference in the responses. Lines that do not start with "stream "
 * belong to the stream named last. */
typedef struct line_ref {
  long sid;
  size_t seq;
  size_t off;
  size_t len;
} line_ref;

static int cmp_line(const void *a, const void *b) {
  const line_ref *x = a, *y = b;
  if (x->sid != y->sid) {
    return x->sid < y->sid ? -1 : 1;
  }
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void by_stream(tbuf *t) {
  size_t n = 0, cap = 0;
  line_ref *v = NULL;
  long sid = 0;
  for (size_t off = 0; off < t->len;) {
    const char *nl = memchr(t->p + off, '\n', t->len - off);
    size_t len = nl ? (size_t)(nl - (t->p + off)) + 1 : t->len - off;
    if (strncmp(t->p + off, "stream ", 7) == 0) {
      sid = strtol(t->p + off + 7, NULL, 10);
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 1024;
      v = xrealloc(v, cap * sizeof(*v));
    }
    v[n] = (line_ref){sid, n, off, len};
    n++;
    off += len;
  }
  qsort(v, n, sizeof(*v), cmp_line);
  tbuf o = {0};
  for (size_t i = 0; i < n; i++) {
    tb_put(&o, t->p + v[i].off, v[i].len);
  }
  free(v);
  free(t->p);
  *t = o;
}

/* Decodes a server's output (|resp|: setup chunk then one chunk per batch,
 * split at |roff|) with a fresh nghttp2 client that opened the same
 * streams, into the record |t|. */
static void decode_responses(const workload *w, const bytes *resp,
                             const size_t *roff, tbuf *t) {
  static out o;
  memset(&o, 0, sizeof(o));
  o.text = t;
  ng_client c;
  memset(&c, 0, sizeof(c));
  c.o = &o;
  ngc_open(&c, w->mux);
  uint64_t dummy = 0;
  if (ng_drain_output(c.s, NULL, &dummy) != 0 ||
      ng_feed(c.s, resp->p, roff[0]) != 0) {
    die("%s: checker setup failed", w->name);
  }
  for (unsigned b = 0; b < w->batches; b++) {
    for (unsigned k = 0; k < w->mux; k++) {
      if (ngc_submit(&c, &client_request) != 0) {
        die("checker: submit failed");
      }
    }
    if (ng_drain_output(c.s, NULL, &dummy) != 0 ||
        ng_feed(c.s, resp->p + roff[b], roff[b + 1] - roff[b]) != 0) {
      die("%s: checker: the server's output for batch %u does not decode",
          w->name, b);
    }
  }
  if (c.done != (uint64_t)w->batches * w->mux) {
    die("%s: checker: %" PRIu64 " responses, want %u", w->name, c.done,
        w->batches * w->mux);
  }
  nghttp2_session_del(c.s);
  free(c.bodies);
  free(c.head.p);
  by_stream(t);
}

/* One verified connection of zttp: the record of what it received, and
 * (server role) the decoded responses it sent. */
static void verify_zttp(const workload *w, tbuf *rec, tbuf *resp, acc *a) {
  out o;
  memset(&o, 0, sizeof(o));
  o.text = rec;
  bytes outb = {0};
  size_t *roff = xrealloc(NULL, (w->batches + 1) * sizeof(*roff));
  zttp_conn *c = zt_open(w, &o, &outb);
  roff[0] = outb.len;
  for (unsigned b = 0; b < w->batches; b++) {
    int r = zt_iter(c, w, b, &o, 1, &outb);
    if (r != 0) {
      const char *m = "";
      zttp_conn_last_error(c, &m, NULL, NULL);
      die("zttp: %s: batch %u failed: %d (%s) %s", w->name, b, r,
          r > -100 ? zttp_strerror(r) : "", m);
    }
    roff[b + 1] = outb.len;
  }
  zttp_conn_free(c);
  if (!w->client) {
    decode_responses(w, &outb, roff, resp);
  }
  *a = o.a;
  free(outb.p);
  free(roff);
}

static void verify_nghttp2(const workload *w, tbuf *rec, tbuf *resp, acc *a) {
  out o;
  memset(&o, 0, sizeof(o));
  o.text = rec;
  bytes outb = {0};
  size_t *roff = xrealloc(NULL, (w->batches + 1) * sizeof(*roff));
  ng_open(w, &outb);
  roff[0] = outb.len;
  for (unsigned b = 0; b < w->batches; b++) {
    if (w->client) {
      ng.cli.o = &o;
    } else {
      ng.srv.o = &o;
    }
    if (ng_iter(w, b, &o, &outb) != 0) {
      die("nghttp2: %s: batch %u failed", w->name, b);
    }
    roff[b + 1] = outb.len;
  }
  ng_close(w);
  free(ng.srv.head.p);
  ng.srv.head = (tbuf){0};
  free(ng.cli.head.p);
  ng.cli.head = (tbuf){0};
  if (!w->client) {
    decode_responses(w, &outb, roff, resp);
  }
  *a = o.a;
  free(outb.p);
  free(roff);
}

static int tb_equal(const tbuf *a, const tbuf *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* Verifies every workload: each implementation runs VERIFY_CONNS
 * connections with the record on (all must give the same record), the
 * records of zttp and nghttp2 must be equal, and so must the responses the
 * two servers sent, as decoded by an nghttp2 client. Appends the records
 * to |dz| and |dn|. Returns 1 on a mismatch. */
static int verify_all(tbuf *dz, tbuf *dn) {
  int bad = 0;
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    const workload *w = &workloads[i];
    wstate *s = &states[i];
    tbuf z0 = {0}, zr0 = {0}, n0 = {0}, nr0 = {0};
    for (int k = 0; k < VERIFY_CONNS; k++) {
      tbuf z = {0}, zr = {0}, n = {0}, nr = {0};
      acc az, an;
      verify_zttp(w, &z, &zr, &az);
      verify_nghttp2(w, &n, &nr, &an);
      if (k == 0) {
        z0 = z;
        zr0 = zr;
        n0 = n;
        nr0 = nr;
        s->ref_z = az;
        s->ref_n = an;
        continue;
      }
      if (!tb_equal(&z, &z0) || !tb_equal(&zr, &zr0) ||
          !acc_equal_times(&az, &s->ref_z, 1)) {
        fprintf(stderr, "%s: zttp: connection %d differs from connection 0\n",
                w->name, k);
        bad = 1;
      }
      if (!tb_equal(&n, &n0) || !tb_equal(&nr, &nr0) ||
          !acc_equal_times(&an, &s->ref_n, 1)) {
        fprintf(stderr,
                "%s: nghttp2: connection %d differs from connection 0\n",
                w->name, k);
        bad = 1;
      }
      free(z.p);
      free(zr.p);
      free(n.p);
      free(nr.p);
    }
    s->msgs = (uint64_t)w->batches * w->mux;
    if (s->ref_z.msgs != s->msgs || s->ref_n.msgs != s->msgs) {
      fprintf(stderr,
              "%s: messages: zttp %" PRIu64 ", nghttp2 %" PRIu64
              ", want %" PRIu64 "\n",
              w->name, s->ref_z.msgs, s->ref_n.msgs, s->msgs);
      bad = 1;
    }
    if (!tb_equal(&z0, &n0)) {
      fprintf(stderr,
              "MISMATCH %s: zttp and nghttp2 received different "
              "messages\n",
              w->name);
      bad = 1;
    }
    if (!tb_equal(&zr0, &nr0)) {
      fprintf(stderr,
              "MISMATCH %s: zttp's and nghttp2's responses decode "
              "differently\n",
              w->name);
      bad = 1;
    }
    if (s->ref_z.fields != s->ref_n.fields ||
        s->ref_z.field_bytes != s->ref_n.field_bytes ||
        s->ref_z.body_bytes != s->ref_n.body_bytes) {
      fprintf(stderr, "MISMATCH %s: totals differ\n", w->name);
      bad = 1;
    }
    /* Server role: every response must be the expected one. */
    if (!w->client) {
      static const char want[] = "head\nstatus 200\nheader content-type: "
                                 "text/plain\nheader content-length: 13\n";
      const char *p = zr0.p;
      uint64_t heads = 0, ok = 0;
      while (p != NULL && (p = strstr(p, " head\n")) != NULL) {
        heads++;
        ok += strncmp(p + 1, want, sizeof(want) - 1) == 0;
        p++;
      }
      if (heads != s->msgs || ok != heads) {
        fprintf(stderr,
                "%s: %" PRIu64 " of %" PRIu64 " responses as expected\n",
                w->name, ok, s->msgs);
        bad = 1;
      }
    }
    tb_printf(dz, "== workload %s (%s, %s, %u x %u per connection)\n", w->name,
              w->file, w->client ? "client" : "server", w->batches, w->mux);
    tb_printf(dn, "== workload %s (%s, %s, %u x %u per connection)\n", w->name,
              w->file, w->client ? "client" : "server", w->batches, w->mux);
    tb_put(dz, z0.p, z0.len);
    tb_put(dn, n0.p, n0.len);
    if (!w->client) {
      tb_put(dz, "== responses\n", 13);
      tb_put(dn, "== responses\n", 13);
      tb_put(dz, zr0.p, zr0.len);
      tb_put(dn, nr0.p, nr0.len);
    }
    free(z0.p);
    free(zr0.p);
    free(n0.p);
    free(nr0.p);
  }
  return bad;
}

static void load(const char *dir) {
  setup_configs();
  /* H2_BENCH_UPLOAD_CONN=N: N uploads per connection in 07 instead of 64
   * (256 makes its 4 MB of wire bytes spill out of the L2 cache). */
  const char *up = getenv("H2_BENCH_UPLOAD_CONN");
  if (up != NULL && atoi(up) > 0) {
    for (size_t i = 0; i < NUM_WORKLOADS; i++) {
      if (strncmp(workloads[i].name, "07-", 3) == 0) {
        workloads[i].batches = (unsigned)atoi(up);
      }
    }
  }
  convert(&client_request, dir, CLIENT_REQUEST_FILE);
  zt_setup();
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    convert(&workloads[i].m, dir, workloads[i].file);
    record(&workloads[i]);
  }
}

static void load_and_verify(const char *dir) {
  tbuf z = {0}, n = {0};
  load(dir);
  if (verify_all(&z, &n)) {
    fprintf(stderr, "records differ: run --dump and diff the files\n");
    exit(1);
  }
  free(z.p);
  free(n.p);
}

static const workload *find_workload(const char *name) {
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    if (strcmp(workloads[i].name, name) == 0 ||
        (strlen(name) == 2 && strncmp(workloads[i].name, name, 2) == 0)) {
      return &workloads[i];
    }
  }
  die("unknown workload %s", name);
}

/* ======================================================================== */
/* Modes                                                                    */
/* ======================================================================== */

static int mode_dump(const char *dir, const char *outdir) {
  tbuf z = {0}, n = {0};
  char path[4096];
  load(dir);
  int bad = verify_all(&z, &n);
  snprintf(path, sizeof(path), "%s/zttp.txt", outdir);
  write_file(path, &z);
  snprintf(path, sizeof(path), "%s/nghttp2.txt", outdir);
  write_file(path, &n);
  if (bad) {
    fprintf(stderr, "records differ: diff %s/zttp.txt %s/nghttp2.txt\n", outdir,
            outdir);
    return 1;
  }
  printf("records of %zu workloads identical for zttp and nghttp2\n",
         NUM_WORKLOADS);
  return 0;
}

static int mode_list(const char *dir) {
  load_and_verify(dir);
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    const workload *w = &workloads[i];
    printf("%s %" PRIu64 " %zu\n", w->name, states[i].msgs,
           w->off[w->batches + 1]);
  }
  return 0;
}

/* One warm-up connection (outside the collected functions), then |conns|
 * connections inside measured_*; prints the message count. */
static int mode_callgrind(const char *dir, const char *wname, const char *impl,
                          uint64_t conns) {
  load_and_verify(dir);
  const workload *w = find_workload(wname);
  const wstate *s = &states[w - workloads];
  out o;
  memset(&o, 0, sizeof(o));
  int err = 0;
  acc a;
  if (strcmp(impl, "zttp") == 0) {
    zttp_conn *c = zt_open(w, &o, NULL);
    err = warm_zttp(c, w, &o);
    zttp_conn_free(c);
    if (err == 0) {
      run_zttp(w, conns, &a, &err);
    }
    if (err == 0 && !acc_equal_times(&a, &s->ref_z, conns)) {
      err = 1;
    }
  } else if (strcmp(impl, "nghttp2") == 0) {
    ng_open(w, NULL);
    err = warm_nghttp2(w, &o);
    ng_close(w);
    if (err == 0) {
      run_nghttp2(w, conns, &a, &err);
    }
    if (err == 0 && !acc_equal_times(&a, &s->ref_n, conns)) {
      err = 1;
    }
  } else {
    die("unknown implementation %s (zttp, nghttp2)", impl);
  }
  if (err != 0) {
    die("callgrind run of %s/%s failed (%d)", wname, impl, err);
  }
  printf("messages %" PRIu64 "\n", s->msgs * conns);
  return 0;
}

static void read_ir(const char *path, double ir[][2]) {
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    ir[i][0] = ir[i][1] = -1;
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
        ir[i][strcmp(pn, "zttp") == 0 ? 0 : 1] = v;
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

#define MAX_ROUNDS 1000

static int mode_time(const char *dir, int rounds, double seconds,
                     const char *ir_path, const char *only, int verbose) {
  double ir[NUM_WORKLOADS][2];
  load_and_verify(dir);
  read_ir(ir_path, ir);
  static double samples[2][MAX_ROUNDS], rs[MAX_ROUNDS];
  double med[NUM_WORKLOADS][2], ratio[NUM_WORKLOADS], spread[NUM_WORKLOADS];
  int done[NUM_WORKLOADS];
  memset(done, 0, sizeof(done));
  if (rounds > MAX_ROUNDS) {
    rounds = MAX_ROUNDS;
  }
  fprintf(stderr,
          "timing: %d rounds of ~%.2f s per implementation and "
          "workload\n",
          rounds, seconds);
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    const workload *w = &workloads[i];
    const wstate *s = &states[i];
    if (only != NULL && strcmp(only, w->name) != 0 &&
        strncmp(only, w->name, 2) != 0) {
      continue;
    }
    uint64_t n[2];
    n[0] = calibrate(run_zttp, w, &s->ref_z, seconds, "zttp");
    n[1] = calibrate(run_nghttp2, w, &s->ref_n, seconds, "nghttp2");
    for (int r = 0; r < rounds; r++) {
      uint64_t ns[2];
      ns[0] = run_checked(run_zttp, w, n[0], &s->ref_z, "zttp");
      ns[1] = run_checked(run_nghttp2, w, n[1], &s->ref_n, "nghttp2");
      for (int p = 0; p < 2; p++) {
        samples[p][r] = (double)(n[p] * s->msgs) * 1e9 / (double)ns[p];
      }
      rs[r] = samples[0][r] / samples[1][r];
      if (verbose) {
        fprintf(stderr, "    round %d: zttp %.3fM nghttp2 %.3fM msg/s\n", r,
                samples[0][r] / 1e6, samples[1][r] / 1e6);
      }
    }
    ratio[i] = median(rs, (size_t)rounds);
    spread[i] = 0;
    for (int p = 0; p < 2; p++) {
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
    fprintf(stderr, "  %-20s zttp %.3fM  nghttp2 %.3fM msg/s  ratio %.2f\n",
            w->name, med[i][0] / 1e6, med[i][1] / 1e6, ratio[i]);
  }
  printf("\nmsg/s = median of %d interleaved rounds (~%.2f s each, %s);"
         " ratio = zttp/nghttp2 (> 1: zttp faster); Ir = instructions per "
         "message (callgrind); out = bytes written per message\n\n",
         rounds, seconds, bench_clock_name());
  printf("| workload | role | msgs/conn | zttp msg/s | nghttp2 msg/s | "
         "zttp/nghttp2 | Ir/msg zttp | Ir/msg nghttp2 | out zttp | "
         "out nghttp2 | spread |\n");
  printf("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (size_t i = 0; i < NUM_WORKLOADS; i++) {
    if (!done[i]) {
      continue;
    }
    const wstate *s = &states[i];
    char r0[32], r1[32], i0[32], i1[32];
    fmt_rate(r0, sizeof(r0), med[i][0]);
    fmt_rate(r1, sizeof(r1), med[i][1]);
    fmt_ir(i0, sizeof(i0), ir[i][0]);
    fmt_ir(i1, sizeof(i1), ir[i][1]);
    printf("| %s | %s | %" PRIu64 " | %s | %s | %.2f | %s | %s | %.1f | %.1f "
           "| %.0f%% |\n",
           workloads[i].name, workloads[i].client ? "client" : "server",
           s->msgs, r0, r1, ratio[i], i0, i1,
           (double)s->ref_z.out_bytes / (double)s->msgs,
           (double)s->ref_n.out_bytes / (double)s->msgs, spread[i] * 100);
  }
  printf("\nratio = median over rounds of the per-round ratio; spread = "
         "largest (max - min) / median of either implementation's rounds "
         "(> 10%%: the machine was busy).\n");
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: h2_bench --list DIR\n"
          "       h2_bench --dump DIR OUTDIR\n"
          "       h2_bench --time DIR [--rounds N] [--seconds S] [--ir FILE]"
          " [--only WORKLOAD] [--verbose 1]\n"
          "       h2_bench --callgrind DIR WORKLOAD zttp|nghttp2 CONNS\n");
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
    const char *irf = NULL, *only = NULL;
    int rounds = 7, verbose = 0;
    double seconds = 0.3;
    for (int i = 3; i < argc; i++) {
      if (i + 1 >= argc) {
        usage();
      }
      if (strcmp(argv[i], "--rounds") == 0) {
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
    if (rounds < 1 || seconds <= 0) {
      usage();
    }
    return mode_time(argv[2], rounds, seconds, irf, only, verbose);
  }
  usage();
}
