/* The HTTP/1.1 fuzz targets' shared harness (see fuzz_common.h).
 *
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* memmem */
#include "fuzz_common.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- reporting and hashing ---------------------------------------------- */

static void report(const char *name, const fuzz_run *r, const char *fmt,
                   va_list ap) __attribute__((format(printf, 3, 0)));

static void report(const char *name, const fuzz_run *r, const char *fmt,
                   va_list ap) {
  fprintf(stderr, "%s: invariant violated (%s run, pos %zu): ", name,
          r != NULL && r->whole ? "whole" : "split", r != NULL ? r->pos : 0);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void fuzz_fail(const fuzz_run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(r->ops->name, r, fmt, ap);
  va_end(ap);
  abort();
}

/* A failure of no one run (reported as the split run at 0). */
static void fail_ops(const fuzz_ops *ops, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void fail_ops(const fuzz_ops *ops, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(ops->name, NULL, fmt, ap);
  va_end(ap);
  abort();
}

static void hash_bytes(uint64_t *h, const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t x = *h;
  for (size_t i = 0; i < n; i++) {
    x ^= b[i];
    x *= 0x100000001b3ull;
  }
  *h = x;
}

void fuzz_hash_u64(uint64_t *h, uint64_t v) {
  hash_bytes(h, &v, sizeof(v));
}

void fuzz_hash_str(uint64_t *h, const void *p, size_t n) {
  fuzz_hash_u64(h, n);
  if (n != 0) {
    hash_bytes(h, p, n);
  }
}

uint64_t fuzz_fnv(const void *p, size_t n) {
  uint64_t h = FUZZ_HASH_INIT;
  hash_bytes(&h, p, n);
  return h;
}

void fuzz_hash_fields(uint64_t *h, const zttp_header *f, size_t num) {
  int trim = fuzz_ignored("ows");
  fuzz_hash_u64(h, num);
  for (size_t i = 0; i < num; i++) {
    const char *v = f[i].value;
    size_t n = f[i].value_len;
    while (trim && n != 0 && (v[0] == ' ' || v[0] == '\t')) {
      v++;
      n--;
    }
    while (trim && n != 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
      n--;
    }
    fuzz_hash_str(h, f[i].name, f[i].name_len);
    fuzz_hash_str(h, v, n);
  }
}

void fuzz_log_fields(const fuzz_run *r, const zttp_header *f, size_t num) {
  for (size_t i = 0; r->log != NULL && i < num; i++) {
    fprintf(r->log, "  [%.*s] = [", (int)f[i].name_len, f[i].name);
    for (size_t k = 0; k < f[i].value_len; k++) {
      uint8_t c = (uint8_t)f[i].value[k];
      fprintf(r->log, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    }
    fprintf(r->log, "]\n");
  }
}

/* What the connection is and what it receives, for the reports. */
static const char *side(const fuzz_run *r) {
  return r->ops->role == ZTTP_SERVER ? "server" : "client";
}

static const char *received(const fuzz_run *r) {
  return r->ops->role == ZTTP_SERVER ? "request" : "response";
}

static uint64_t rng_next(fuzz_run *r) {
  uint64_t x = r->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  r->rng = x;
  return x;
}

/* ---- syntax ------------------------------------------------------------- */

static int is_tchar(uint8_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z')) {
    return 1;
  }
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int fuzz_is_token(const char *p, size_t n) {
  if (n == 0 || p == NULL) {
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (!is_tchar((uint8_t)p[i])) {
      return 0;
    }
  }
  return 1;
}

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int fuzz_eq_ci(const char *p, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n != m) {
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (lower((uint8_t)p[i]) != lit[i]) {
      return 0;
    }
  }
  return 1;
}

int fuzz_in_input(const fuzz_run *r, const void *p, size_t n) {
  if (n == 0) {
    return 1;
  }
  if (p == NULL || n > r->n) {
    return 0;
  }
  return memmem(r->in, r->n, p, n) != NULL;
}

/* Steps through the comma-separated list v[0..n): from *i (0 at first),
 * puts the next element, without its edge OWS, in v[*s..*e) and moves *i
 * past its comma. Returns 0 when the list is done (an empty |v| is one
 * empty element). */
static int list_next(const char *v, size_t n, size_t *i, size_t *s, size_t *e) {
  size_t k = *i;
  if (k > n) {
    return 0;
  }
  size_t a = k;
  while (k < n && v[k] != ',') {
    k++;
  }
  size_t z = k;
  while (a < z && (v[a] == ' ' || v[a] == '\t')) {
    a++;
  }
  while (z > a && (v[z - 1] == ' ' || v[z - 1] == '\t')) {
    z--;
  }
  *i = k + 1;
  *s = a;
  *e = z;
  return 1;
}

/* Does the comma-separated list |v| hold the token |tok| (any case)?
 * Returns -1 when |v| is not a list of tokens: how much of a malformed
 * Connection value an engine honours is its choice. */
static int list_has(const char *v, size_t n, const char *tok) {
  int found = 0;
  size_t i = 0, s, e;
  while (list_next(v, n, &i, &s, &e)) {
    if (s != e && !fuzz_is_token(v + s, e - s)) {
      return -1;
    }
    found |= fuzz_eq_ci(v + s, e - s, tok);
  }
  return found;
}

/* Parses a Content-Length value made only of identical 1*DIGIT list
 * elements. Returns 1 and the value, or 0 when it is anything else. */
static int parse_cl(const char *v, size_t n, uint64_t *out) {
  int have = 0;
  uint64_t first = 0;
  size_t i = 0, s, e;
  while (list_next(v, n, &i, &s, &e)) {
    if (s == e || e - s > 18) {
      return 0;
    }
    uint64_t x = 0;
    for (size_t k = s; k < e; k++) {
      if (v[k] < '0' || v[k] > '9') {
        return 0;
      }
      x = x * 10 + (uint64_t)(v[k] - '0');
    }
    if (have && x != first) {
      return 0;
    }
    have = 1;
    first = x;
  }
  *out = first;
  return have;
}

/* ---- checks ------------------------------------------------------------- */

static void check_field(const fuzz_run *r, const zttp_header *h, int trailer) {
  const char *what = trailer ? "trailer" : "header";
  if (!fuzz_is_token(h->name, h->name_len)) {
    fuzz_fail(r, "%s name is not a non-empty token (len %zu)", what,
              h->name_len);
  }
  if (h->value_len != 0 && h->value == NULL) {
    fuzz_fail(r, "%s value is NULL with length %zu", what, h->value_len);
  }
  for (size_t i = 0; i < h->value_len; i++) {
    uint8_t c = (uint8_t)h->value[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      fuzz_fail(r, "%s %.*s: value byte %zu is 0x%02x", what, (int)h->name_len,
                h->name, i, c);
    }
  }
  if (h->value_len != 0) {
    uint8_t a = (uint8_t)h->value[0];
    uint8_t z = (uint8_t)h->value[h->value_len - 1];
    if ((a == ' ' || a == '\t' || z == ' ' || z == '\t') &&
        !fuzz_ignored("ows")) {
      fuzz_fail(r, "%s %.*s: value keeps leading or trailing whitespace [ows]",
                what, (int)h->name_len, h->name);
    }
  }
  if (!fuzz_in_input(r, h->name, h->name_len)) {
    fuzz_fail(r, "%s name %.*s does not occur in the input", what,
              (int)h->name_len, h->name);
  }
  if ((r->lenient & (ZTTP_LENIENT_OBS_FOLD | ZTTP_LENIENT_BARE_CR)) == 0 &&
      !fuzz_in_input(r, h->value, h->value_len)) {
    fuzz_fail(r, "%s %.*s: value does not occur in the input", what,
              (int)h->name_len, h->name);
  }
}

void fuzz_check_head(const fuzz_run *r, uint32_t flags, uint32_t known_flags,
                     const zttp_header *f, size_t num, fuzz_framing *fr) {
  if (num > r->max_headers) {
    fuzz_fail(r, "%zu headers, limit %llu", num,
              (unsigned long long)r->max_headers);
  }
  if (num != 0 && f == NULL) {
    fuzz_fail(r, "headers NULL with num_headers %zu", num);
  }
  if ((flags & ~known_flags) != 0) {
    fuzz_fail(r, "unknown %s flags 0x%x", received(r), flags);
  }
  memset(fr, 0, sizeof(*fr));
  fr->cl_ok = 1;
  for (size_t i = 0; i < num; i++) {
    const zttp_header *h = &f[i];
    check_field(r, h, 0);
    if (fuzz_eq_ci(h->name, h->name_len, "content-length")) {
      uint64_t v = 0;
      if (!parse_cl(h->value, h->value_len, &v) ||
          (fr->cls != 0 && v != fr->cl)) {
        fr->cl_ok = 0;
      }
      fr->cl = v;
      fr->cls++;
    } else if (fuzz_eq_ci(h->name, h->name_len, "transfer-encoding")) {
      fr->tes++;
    } else if (fuzz_eq_ci(h->name, h->name_len, "connection")) {
      int c = list_has(h->value, h->value_len, "close");
      int k = list_has(h->value, h->value_len, "keep-alive");
      int u = list_has(h->value, h->value_len, "upgrade");
      if (c < 0) {
        fr->conn_odd = 1;
      } else {
        fr->conn_close |= c;
        fr->conn_keep |= k;
        fr->conn_upgrade |= u;
      }
    }
  }
}

void fuzz_start_body(fuzz_run *r, int end_stream, int chunked, int cl_known,
                     uint64_t cl) {
  r->in_msg = 1;
  r->msg_end_stream = end_stream;
  r->msg_chunked = chunked;
  r->cl_known = cl_known;
  r->cl = cl;
  r->body_len = 0;
  r->body_hash = FUZZ_HASH_INIT;
}

void fuzz_end_message(fuzz_run *r, const zttp_event *ev) {
  const zttp_end_event *e = &ev->u.end;
  if (e->num_trailers > r->max_trailers) {
    fuzz_fail(r, "%zu trailers, limit %llu", e->num_trailers,
              (unsigned long long)r->max_trailers);
  }
  if (e->num_trailers != 0 && (e->trailers == NULL || !r->msg_chunked)) {
    fuzz_fail(r, "trailers on a message that is not chunked");
  }
  for (size_t i = 0; i < e->num_trailers; i++) {
    check_field(r, &e->trailers[i], 1);
  }
  if (r->cl_known && r->body_len != r->cl) {
    fuzz_fail(r, "body of %llu bytes, Content-Length %llu",
              (unsigned long long)r->body_len, (unsigned long long)r->cl);
  }
  if (r->msg_eof && !r->eof_sent) {
    fuzz_fail(r, "read-until-close body ended before EOF");
  }
  fuzz_hash_u64(&r->h_ev, 'E');
  fuzz_hash_u64(&r->h_ev, ev->flags);
  fuzz_hash_u64(&r->h_ev, r->body_len);
  fuzz_hash_u64(&r->h_ev, r->body_hash);
  fuzz_hash_fields(&r->h_ev, e->trailers, e->num_trailers);
  FUZZ_LOG(r, "END body %llu trailers %zu\n", (unsigned long long)r->body_len,
           e->num_trailers);
  fuzz_log_fields(r, e->trailers, e->num_trailers);
  r->in_msg = 0;
}

void fuzz_on_event(fuzz_run *r, const zttp_event *ev) {
  const zttp_data_event *d = &ev->u.data;
  switch (ev->kind) {
  case ZTTP_EVENT_DATA:
    if (!r->in_msg || r->msg_end_stream) {
      fuzz_fail(r, "DATA outside a %s body", received(r));
    }
    if (d->len == 0 || d->data == NULL) {
      fuzz_fail(r, "empty DATA");
    }
    if (!fuzz_in_input(r, d->data, d->len)) {
      fuzz_fail(r, "DATA bytes (%zu) do not occur in the input", d->len);
    }
    r->body_len += d->len;
    hash_bytes(&r->body_hash, d->data, d->len);
    FUZZ_LOG(r, "DATA %zu\n", d->len);
    break;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    if (r->in_msg || !r->eof_sent) {
      fuzz_fail(r, "CONNECTION_CLOSED inside a message or before EOF");
    }
    r->closed = 1;
    fuzz_hash_u64(&r->h_ev, 'C');
    fuzz_hash_u64(&r->h_ev, (uint64_t)(int64_t)ev->u.closed.error);
    FUZZ_LOG(r, "CLOSED %d\n", ev->u.closed.error);
    break;
  case ZTTP_EVENT_UPGRADE:
    if (!r->expect_upgrade) {
      fuzz_fail(r, "UPGRADE without a 101 or 2xx to CONNECT");
    }
    if (d->len != 0 && d->data == NULL) {
      fuzz_fail(r, "UPGRADE data NULL");
    }
    /* The tunnel bytes are the input's suffix after the message. */
    if (d->len > r->pos ||
        (d->len != 0 && memcmp(d->data, r->in + r->pos - d->len, d->len))) {
      fuzz_fail(r,
                "UPGRADE data (%zu bytes) is not the input taken after the "
                "%s",
                d->len, received(r));
    }
    r->upgraded = 1;
    r->expect_upgrade = 0;
    fuzz_hash_u64(&r->h_ev, 'U');
    fuzz_hash_u64(&r->h_ev, r->n - (r->pos - d->len));
    hash_bytes(&r->h_ev, r->in + r->pos - d->len, r->n - (r->pos - d->len));
    FUZZ_LOG(r, "UPGRADE %zu buffered, %zu tunnel bytes\n", d->len,
             r->n - (r->pos - d->len));
    break;
  default:
    fuzz_fail(r, "event kind %u from an HTTP/1.1 %s", ev->kind, side(r));
  }
}

/* ---- the poisoning rule ------------------------------------------------- */

void fuzz_poisoned(const fuzz_run *r, int64_t rv, const char *call) {
  if (rv != r->fatal) {
    fuzz_fail(r, "%s after fatal %d does not return it", call, r->fatal);
  }
}

static void check_poisoned(fuzz_run *r) {
  int32_t e = r->fatal;
  zttp_event ev;
  uint8_t b = 'x';
  const char *msg = NULL;
  fuzz_poisoned(r, zttp_conn_next_event(r->conn, &ev), "next_event");
  fuzz_poisoned(r, zttp_conn_receive_data(r->conn, &b, 1), "receive_data");
  fuzz_poisoned(r, zttp_conn_receive_data(r->conn, NULL, 0),
                "receive_data(EOF)");
  r->ops->poisoned_sends(r);
  if (zttp_conn_last_error(r->conn, &msg, NULL, NULL) != e || msg == NULL ||
      msg[0] == '\0') {
    fuzz_fail(r, "last_error after fatal %d does not report it with a message",
              e);
  }
  if (zttp_conn_should_close(r->conn) != 1) {
    fuzz_fail(r, "should_close is not 1 after fatal %d", e);
  }
}

static void note_rv(fuzz_run *r, int64_t rv, const char *call) {
  if (rv < 0 && zttp_error_is_fatal((int32_t)rv)) {
    if (r->fatal == 0) {
      r->fatal = (int32_t)rv;
      FUZZ_LOG(r, "  FATAL %lld (%s) from %s\n", (long long)rv,
               zttp_strerror((int32_t)rv), call);
      /* Which fatal error is compared apart (see same_errors()). */
      fuzz_hash_u64(&r->h_ev, 'X');
      check_poisoned(r);
    } else if (rv != r->fatal) {
      fuzz_fail(r, "%s returned fatal %lld after fatal %d", call, (long long)rv,
                r->fatal);
    }
  } else if (r->fatal != 0) {
    fuzz_fail(r, "%s returned %lld on a connection poisoned by %d", call,
              (long long)rv, r->fatal);
  }
}

/* ---- the harness's calls ------------------------------------------------ */

static void take_output(fuzz_run *r) {
  for (int round = 0; round < 4; round++) {
    const uint8_t *p = NULL;
    size_t n = zttp_conn_pending(r->conn, &p);
    if (n == 0) {
      return;
    }
    if (p == NULL) {
      fuzz_fail(r, "pending() returned %zu bytes at NULL", n);
    }
    /* Consume in two steps now and then, to exercise partial writes. */
    size_t k = (r->salt && n > 1) ? n / 2 : n;
    hash_bytes(&r->h_out, p, k);
    FUZZ_LOG(r, "  OUT %zu: %.*s\n", k, (int)k, (const char *)p);
    if (zttp_conn_consume(r->conn, k) != 0) {
      fuzz_fail(r, "consume(%zu) of %zu pending failed", k, n);
    }
  }
  const uint8_t *p = NULL;
  size_t n = zttp_conn_pending(r->conn, &p);
  if (n != 0) {
    hash_bytes(&r->h_out, p, n);
    if (zttp_conn_consume(r->conn, n) != 0) {
      fuzz_fail(r, "consume(%zu) failed", n);
    }
  }
  if (zttp_conn_consume(r->conn, 1) != ZTTP_ERR_INVALID_ARGUMENT) {
    fuzz_fail(r, "consume(1) with nothing pending did not fail");
  }
}

int64_t fuzz_act(fuzz_run *r, char tag, int64_t rv, int64_t want, int strict) {
  note_rv(r, rv, "a send call");
  fuzz_hash_u64(&r->h_act, (uint64_t)tag);
  fuzz_hash_u64(&r->h_act, (uint64_t)rv);
  FUZZ_LOG(r, "  ACT %c -> %lld\n", tag, (long long)rv);
  if (rv == ZTTP_ERR_INVALID_FIELD || rv == ZTTP_ERR_INVALID_ARGUMENT) {
    fuzz_fail(r,
              "call %c returned %lld for fields the harness built from valid "
              "parts",
              tag, (long long)rv);
  }
  if (strict && r->fatal == 0 && rv != want) {
    fuzz_fail(r, "call %c returned %lld, expected %lld", tag, (long long)rv,
              (long long)want);
  }
  take_output(r);
  r->progress++;
  return rv;
}

int64_t fuzz_send_body(fuzz_run *r, const char *s, uint32_t flags) {
  return zttp_conn_send_data(r->conn, 0, (const uint8_t *)s, strlen(s), flags);
}

void fuzz_add_field(zttp_header *h, size_t *nh, const char *name,
                    const char *value, size_t value_len) {
  h[*nh].name = name;
  h[*nh].name_len = strlen(name);
  h[*nh].value = value;
  h[*nh].value_len = value_len;
  h[*nh].flags = 0;
  h[*nh].reserved = 0;
  (*nh)++;
}

/* ---- configuration ------------------------------------------------------ */

static uint32_t lenient_from(uint8_t b) {
  if (b & 1u) {
    return (1u << 11) - 1;
  }
  static const uint32_t groups[7] = {
      ZTTP_LENIENT_BARE_LF,
      ZTTP_LENIENT_OBS_FOLD,
      ZTTP_LENIENT_CL_AND_TE | ZTTP_LENIENT_TRANSFER_ENCODING,
      ZTTP_LENIENT_BARE_CR | ZTTP_LENIENT_SPACE_BEFORE_COLON,
      ZTTP_LENIENT_CONTENT_LENGTH | ZTTP_LENIENT_CONFLICTING_CONTENT_LENGTH,
      ZTTP_LENIENT_VERSION | ZTTP_LENIENT_HOST,
      ZTTP_LENIENT_CHUNK_SIZE,
  };
  uint32_t f = 0;
  for (int i = 0; i < 7; i++) {
    if (b & (2u << i)) {
      f |= groups[i];
    }
  }
  return f;
}

/* Limit profiles: defaults, small, tiny, and one where the input buffer is
 * exactly one head. Each row: INPUT_BUFFER, OUTPUT_BUFFER, MAX_HEADERS,
 * MAX_HEADER_BYTES, MAX_TRAILERS, MAX_TRAILER_BYTES, H1_MAX_START_LINE,
 * H1_MAX_CHUNK_EXT, H1_MAX_PIPELINE (0: keep the default). */
static const uint64_t limit_rows[4][9] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0},
    {2048, 1024, 8, 512, 2, 64, 96, 16, 3},
    {256, 256, 3, 160, 1, 24, 40, 2, 1},
    {300, 512, 128, 300, 32, 300, 8192, 1024, 2},
};

static zttp_config *make_config(fuzz_run *r) {
  zttp_config *cfg = NULL;
  if (zttp_config_new(&cfg, NULL) != 0) {
    fuzz_fail(r, "zttp_config_new failed");
  }
  for (uint32_t id = 1; id <= 9; id++) {
    uint64_t v = limit_rows[r->limits][id - 1];
    if (v != 0 && zttp_config_set_limit(cfg, id, v) != 0) {
      fuzz_fail(r, "zttp_config_set_limit(%u, %llu) refused", id,
                (unsigned long long)v);
    }
  }
  if (zttp_config_set_lenient(cfg, r->lenient) != 0) {
    fuzz_fail(r, "zttp_config_set_lenient(0x%x) refused", r->lenient);
  }
  if (zttp_config_get_limit(cfg, &r->max_headers, ZTTP_LIMIT_MAX_HEADERS) !=
          0 ||
      zttp_config_get_limit(cfg, &r->max_trailers, ZTTP_LIMIT_MAX_TRAILERS) !=
          0 ||
      zttp_config_get_limit(cfg, &r->max_pipeline,
                            ZTTP_LIMIT_H1_MAX_PIPELINE) != 0) {
    fuzz_fail(r, "zttp_config_get_limit failed");
  }
  return cfg;
}

/* ---- events ------------------------------------------------------------- */

static void on_event(fuzz_run *r, const zttp_event *ev) {
  if (++r->events > r->max_events) {
    fuzz_fail(r, "more than %zu events from %zu bytes", r->max_events, r->n);
  }
  if (r->closed) {
    fuzz_fail(r, "event %u after CONNECTION_CLOSED", ev->kind);
  }
  if (r->upgraded) {
    fuzz_fail(r, "event %u after UPGRADE", ev->kind);
  }
  if (ev->stream_id != 0) {
    fuzz_fail(r, "event %u on stream %lld", ev->kind, (long long)ev->stream_id);
  }
  if (r->expect_upgrade && ev->kind != ZTTP_EVENT_UPGRADE) {
    fuzz_fail(r, "event %u instead of UPGRADE after the 101 / 2xx", ev->kind);
  }
  r->ops->on_event(r, ev);
  take_output(r);
}

static void drain(fuzz_run *r) {
  for (;;) {
    if (r->fatal != 0) {
      return;
    }
    zttp_event ev;
    int32_t rv = zttp_conn_next_event(r->conn, &ev);
    if (rv < 0) {
      if (!zttp_error_is_fatal(rv)) {
        fuzz_fail(r, "next_event returned non-fatal %d", rv);
      }
      note_rv(r, rv, "next_event");
      return;
    }
    note_rv(r, rv, "next_event");
    if (rv == 0) {
      if (ev.kind != ZTTP_EVENT_NEED_DATA) {
        fuzz_fail(r, "next_event returned 0 with kind %u", ev.kind);
      }
      if (r->expect_upgrade) {
        fuzz_fail(r, "no UPGRADE event after the 101 / 2xx to CONNECT");
      }
      return;
    }
    if (rv != 1) {
      fuzz_fail(r, "next_event returned %d", rv);
    }
    on_event(r, &ev);
    r->progress++;
  }
}

/* ---- feeding ------------------------------------------------------------ */

static size_t next_piece(fuzz_run *r) {
  size_t left = r->n - r->pos;
  size_t k;
  if (r->whole) {
    return left;
  }
  switch (r->split) {
  case 0:
    k = 1;
    break;
  case 1:
    k = 2;
    break;
  case 2:
    k = 3;
    break;
  case 3:
    k = 7;
    break;
  case 4:
    k = 1 + rng_next(r) % 16;
    break;
  case 5:
    k = 1 + rng_next(r) % 512;
    break;
  case 6: { /* end every piece right after a CR or LF, or the byte before */
    k = 1;
    while (r->pos + k < r->n) {
      uint8_t c = r->in[r->pos + k - 1];
      uint8_t d = r->in[r->pos + k];
      if (c == '\n' || c == '\r' || d == '\r') {
        break;
      }
      k++;
    }
    break;
  }
  default: /* two pieces */
    k = r->pos == 0 ? (size_t)(rng_next(r) % (r->n + 1)) : left;
    if (k == 0) {
      k = 1;
    }
    break;
  }
  return k < left ? k : left;
}

static size_t flush(fuzz_run *r) {
  return r->ops->flush != NULL ? r->ops->flush(r) : 0;
}

static void feed(fuzz_run *r) {
  while (r->pos < r->n) {
    size_t end = r->pos + next_piece(r);
    while (r->pos < end) {
      if (r->fatal != 0 || r->upgraded || r->closed) {
        return;
      }
      int64_t took =
          zttp_conn_receive_data(r->conn, r->in + r->pos, end - r->pos);
      FUZZ_LOG(r, "  receive_data(%zu) -> %lld\n", end - r->pos,
               (long long)took);
      note_rv(r, took, "receive_data");
      if (took < 0) {
        if (!zttp_error_is_fatal((int32_t)took)) {
          fuzz_fail(r, "receive_data returned non-fatal %lld while reading",
                    (long long)took);
        }
        return;
      }
      if ((size_t)took > end - r->pos) {
        fuzz_fail(r, "receive_data took %lld of %zu", (long long)took,
                  end - r->pos);
      }
      r->pos += (size_t)took;
      size_t before = r->progress;
      drain(r);
      if (took == 0 && r->progress == before) {
        if (flush(r) == 0) {
          /* The engine reads no further (closing); stop feeding. */
          FUZZ_LOG(r, "  stalled with %zu bytes left\n", r->n - r->pos);
          return;
        }
        drain(r);
      }
    }
  }
}

static void run_one(fuzz_run *r) {
  zttp_config *cfg = make_config(r);
  if (zttp_conn_new(&r->conn, cfg, r->ops->role, ZTTP_HTTP1) != 0) {
    fuzz_fail(r, "zttp_conn_new failed");
  }
  zttp_config_free(cfg);
  r->max_events = 3 * r->n + 16;
  r->h_ev = r->h_act = r->h_out = FUZZ_HASH_INIT;
  r->rng = fuzz_fnv(r->in, r->n) | 1;

  if (r->ops->start != NULL) {
    r->ops->start(r);
  }
  feed(r);
  /* Answer what is left, let the engine go on, repeat until quiet. */
  for (int i = 0; i < 64 && r->ops->flush != NULL && r->fatal == 0; i++) {
    size_t before = r->progress;
    flush(r);
    drain(r);
    if (r->progress == before) {
      break;
    }
  }
  if (r->upgraded && r->fatal == 0) {
    uint8_t b = r->pos < r->n ? r->in[r->pos] : 'x';
    if (zttp_conn_receive_data(r->conn, &b, 1) != ZTTP_ERR_INVALID_STATE ||
        zttp_conn_receive_data(r->conn, NULL, 0) != ZTTP_ERR_INVALID_STATE) {
      fuzz_fail(r, "receive_data after UPGRADE is not INVALID_STATE");
    }
  } else if (r->fatal == 0) {
    int64_t rv = zttp_conn_receive_data(r->conn, NULL, 0);
    note_rv(r, rv, "receive_data(EOF)");
    FUZZ_LOG(r, "  EOF -> %lld\n", (long long)rv);
    if (rv != 0 && !zttp_error_is_fatal((int32_t)rv)) {
      fuzz_fail(r, "receive_data(EOF) returned %lld", (long long)rv);
    }
    r->eof_sent = 1;
    /* Without answers to give, one drain. */
    for (int i = 0; i < 64 && r->fatal == 0; i++) {
      size_t before = r->progress;
      drain(r);
      if (r->ops->flush == NULL) {
        break;
      }
      flush(r);
      if (r->progress == before) {
        break;
      }
    }
  }
  if (r->eof_sent && r->fatal == 0 && !r->closed) {
    if (!fuzz_ignored("eof")) {
      fuzz_fail(r, "EOF gave neither CONNECTION_CLOSED nor an error [eof]");
    }
    r->silent_eof = 1;
  }
  if (r->fatal != 0) {
    check_poisoned(r);
  } else {
    zttp_event ev;
    if (r->in_msg && r->eof_sent && !fuzz_ignored("eof")) {
      fuzz_fail(r, "EOF inside a %s body gave no error [eof]", received(r));
    }
    if (zttp_conn_next_event(r->conn, &ev) != 0 ||
        ev.kind != ZTTP_EVENT_NEED_DATA) {
      fuzz_fail(r, "the connection produced an event after going quiet");
    }
    if (r->closed) {
      uint8_t b = 'x';
      if (zttp_conn_receive_data(r->conn, &b, 1) != ZTTP_ERR_INVALID_STATE) {
        fuzz_fail(r, "receive_data after EOF is not INVALID_STATE");
      }
      if (zttp_conn_should_close(r->conn) != 1) {
        fuzz_fail(r, "should_close is not 1 after the peer's EOF");
      }
    }
  }
  take_output(r);
  zttp_conn_free(r->conn);
  r->conn = NULL;
}

/* ---- the two runs ------------------------------------------------------- */

static void setup(const fuzz_ops *ops, fuzz_run *r, const uint8_t *data,
                  size_t size, int whole, FILE *log) {
  memset(r, 0, ops->run_size);
  r->ops = ops;
  r->in = data + 2;
  r->n = size - 2;
  r->whole = whole;
  r->split = data[0] & 7u;
  r->limits = (data[0] >> 3) & 3u;
  r->lenient = lenient_from(data[1]);
  r->compare_calls = 1;
  ops->setup(r, data, size);
  r->log = log;
  if (log != NULL) {
    fprintf(log, whole ? "---- fed whole\n" : "---- fed in pieces\n");
  }
}

static int is_limit_error(int32_t e) {
  return e <= ZTTP_ERR_LIMIT_START_LINE && e >= ZTTP_ERR_LIMIT_INPUT_BUFFER;
}

/* Both runs failed, or neither did, with the same code. The code may differ
 * when several rules break at once and the pieces decide which is seen
 * first (e.g. a bad target byte past the start-line limit): that is only
 * fatal with ZTTP_FUZZ_STRICT_ERRORS=1. */
static int same_errors(const fuzz_run *w, const fuzz_run *s) {
  static int strict = -1;
  if (strict < 0) {
    strict = getenv("ZTTP_FUZZ_STRICT_ERRORS") != NULL;
  }
  return w->fatal == s->fatal || (!strict && w->fatal != 0 && s->fatal != 0);
}

int fuzz_one_input(const fuzz_ops *ops, fuzz_run *w, fuzz_run *s,
                   const uint8_t *data, size_t size) {
  if (size < 2) {
    return 0;
  }
  FILE *log = getenv("ZTTP_FUZZ_LOG") != NULL ? stderr : NULL;
  setup(ops, w, data, size, 1, log);
  run_one(w);
  setup(ops, s, data, size, 0, log);
  run_one(s);
  if (w->silent_eof || s->silent_eof) {
    return 0;
  }
  /* [limit]: a limit that one feed hits and the other does not. */
  if (fuzz_ignored("limit") &&
      (is_limit_error(w->fatal) || is_limit_error(s->fatal))) {
    return 0;
  }
  int same_ev = w->h_ev == s->h_ev && same_errors(w, s);
  int same_act = w->h_act == s->h_act && w->h_out == s->h_out;
  int differ = !same_ev || (!same_act && w->compare_calls);
  if (differ) {
    fprintf(stderr, "split %u limits %u ", w->split, w->limits);
    ops->describe(w, stderr);
    fprintf(stderr, " lenient 0x%x: events %s, calls/output %s\n", w->lenient,
            same_ev ? "same" : "DIFFER", same_act ? "same" : "DIFFER");
    setup(ops, w, data, size, 1, stderr);
    run_one(w);
    setup(ops, s, data, size, 0, stderr);
    run_one(s);
    fail_ops(ops, "the transcripts of the whole and the split feed differ");
  }
  return 0;
}
