/* libFuzzer target: the HTTP/1.1 engine in the server role.
 *
 * Input layout: two selector bytes, then the byte stream a client sends.
 *   byte 0: bits 0-2 split pattern (see next_piece()), bits 3-4 limit
 *           profile (see limit_rows[]), bits 5-6 when the harness answers
 *           (at END_MESSAGE, at REQUEST, deferred until the engine stalls,
 *           at END_MESSAGE with a graceful close before the second answer),
 *           bit 7 a salt that varies the responses.
 *   byte 1: lenient selector: bit 0 turns every ZTTP_LENIENT_* bit on,
 *           bits 1-7 turn on one group each (see lenient_from()).
 *
 * The stream is run twice on fresh connections: fed whole, then fed in the
 * pieces the split pattern picks. Each run drains events after every piece,
 * answers requests like a server would (small bodies, chunked with trailers,
 * 1xx, 101 and 2xx to CONNECT) and feeds EOF at the end. Invariants are
 * checked on the way (abort() on violation): field names are tokens, values
 * hold no CTL, event strings and DATA bytes occur in the input, Content-Length
 * bodies add up, a fatal error poisons every later call, nothing follows
 * CONNECTION_CLOSED or UPGRADE, the UPGRADE bytes are the input's suffix.
 * Finally both runs must give the same transcript (events, and when answers
 * are tied to events, the calls' results and the output bytes).
 *
 * Environment: ZTTP_FUZZ_LOG=1 prints both transcripts. ZTTP_FUZZ_IGNORE=
 * tag,... downgrades the checks tagged [eof] (EOF must end in
 * CONNECTION_CLOSED or an error), [ows] (values keep no edge whitespace) and
 * [limit] (both feeds hit the same limits), to fuzz on past a reported bug.
 * ZTTP_FUZZ_STRICT_ERRORS=1 also wants the same error code from both feeds.
 *
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zttp/zttp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
  TIMING_AT_END = 0,
  TIMING_AT_REQUEST = 1,
  TIMING_DEFERRED = 2,
  TIMING_GRACEFUL = 3
};

#define QUEUE_CAP 1024u
#define UPGRADE_VAL_MAX 64u
#define ECHO_MAX 64u

typedef struct req_rec {
  uint32_t version;
  uint32_t flags;
  uint32_t shape;
  uint8_t is_head;
  uint8_t is_connect;
  uint8_t ended;
  uint8_t answered;
  size_t index;
  char upgrade[UPGRADE_VAL_MAX];
  size_t upgrade_len;
  char echo[ECHO_MAX];
  size_t echo_len;
} req_rec;

typedef struct run {
  zttp_conn *conn;
  const uint8_t *in;
  size_t n;
  size_t pos; /* bytes the engine took so far */
  int whole;
  uint32_t split;
  uint32_t limits;
  uint32_t timing;
  uint32_t salt;
  uint32_t lenient;
  uint64_t max_headers;
  uint64_t max_trailers;
  uint64_t rng;

  uint64_t h_ev;  /* events, fatal error, tunnel bytes */
  uint64_t h_act; /* the harness's calls and their results */
  uint64_t h_out; /* output bytes */
  FILE *log;

  int32_t fatal;
  int closed;
  int upgraded;
  int expect_upgrade;
  int eof_sent;
  int silent_eof; /* an ignored [eof] failure: skip the comparison */
  int graceful;
  size_t events;
  size_t max_events;
  size_t progress;

  /* The message being received. */
  int in_msg;
  int msg_end_stream;
  int cl_known;
  uint64_t cl;
  uint64_t body_len;
  uint64_t body_hash;
  int msg_chunked;

  /* Requests received and not yet answered, oldest first. */
  req_rec q[QUEUE_CAP];
  size_t q_head;
  size_t q_len;
  size_t num_requests;
} run;

/* ---- small helpers ------------------------------------------------------ */

static void fail(const run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void fail(const run *r, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "h1_server: invariant violated (%s run, pos %zu): ",
          r != NULL && r->whole ? "whole" : "split", r != NULL ? r->pos : 0);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

/* ZTTP_FUZZ_IGNORE=tag,tag... turns the checks with those tags into log
 * lines, to keep fuzzing past a known, reported bug. */
static int ignored(const char *tag) {
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

#define LOG(r, ...)                                                            \
  do {                                                                         \
    if ((r)->log != NULL) {                                                    \
      fprintf((r)->log, __VA_ARGS__);                                          \
    }                                                                          \
  } while (0)

static void h_bytes(uint64_t *h, const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t x = *h;
  for (size_t i = 0; i < n; i++) {
    x ^= b[i];
    x *= 0x100000001b3ull;
  }
  *h = x;
}

static void h_u64(uint64_t *h, uint64_t v) {
  h_bytes(h, &v, sizeof(v));
}

static void h_str(uint64_t *h, const void *p, size_t n) {
  h_u64(h, n);
  if (n != 0) {
    h_bytes(h, p, n);
  }
}

static uint64_t fnv(const void *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  h_bytes(&h, p, n);
  return h;
}

static uint64_t rng_next(run *r) {
  uint64_t x = r->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  r->rng = x;
  return x;
}

static int is_tchar(uint8_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z')) {
    return 1;
  }
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(const char *p, size_t n) {
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

static int eq_ci(const char *p, size_t n, const char *lit) {
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

static int str_eq(zttp_str a, const char *p, size_t n) {
  return a.len == n && (n == 0 || memcmp(a.base, p, n) == 0);
}

/* The bytes [p, p+n) occur somewhere in the input. */
static int in_input(const run *r, const void *p, size_t n) {
  if (n == 0) {
    return 1;
  }
  if (p == NULL || n > r->n) {
    return 0;
  }
  return memmem(r->in, r->n, p, n) != NULL;
}

/* Does the comma-separated list |v| hold the token |tok| (any case)?
 * Returns -1 when |v| is not a list of tokens: how much of a malformed
 * Connection value an engine honours is its choice. */
static int list_has(const char *v, size_t n, const char *tok) {
  int found = 0;
  size_t i = 0;
  while (i <= n) {
    size_t s = i;
    while (i < n && v[i] != ',') {
      i++;
    }
    size_t e = i;
    while (s < e && (v[s] == ' ' || v[s] == '\t')) {
      s++;
    }
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) {
      e--;
    }
    if (s != e && !is_token(v + s, e - s)) {
      return -1;
    }
    found |= eq_ci(v + s, e - s, tok);
    i++;
  }
  return found;
}

/* Parses a Content-Length value made only of identical 1*DIGIT list
 * elements. Returns 1 and the value, or 0 when it is anything else. */
static int parse_cl(const char *v, size_t n, uint64_t *out) {
  int have = 0;
  uint64_t first = 0;
  size_t i = 0;
  while (i <= n) {
    size_t s = i;
    while (i < n && v[i] != ',') {
      i++;
    }
    size_t e = i;
    while (s < e && (v[s] == ' ' || v[s] == '\t')) {
      s++;
    }
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) {
      e--;
    }
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
    i++;
  }
  *out = first;
  return have;
}

static void check_field(const run *r, const zttp_header *h, int trailer) {
  const char *what = trailer ? "trailer" : "header";
  if (!is_token(h->name, h->name_len)) {
    fail(r, "%s name is not a non-empty token (len %zu)", what, h->name_len);
  }
  if (h->value_len != 0 && h->value == NULL) {
    fail(r, "%s value is NULL with length %zu", what, h->value_len);
  }
  for (size_t i = 0; i < h->value_len; i++) {
    uint8_t c = (uint8_t)h->value[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      fail(r, "%s %.*s: value byte %zu is 0x%02x", what, (int)h->name_len,
           h->name, i, c);
    }
  }
  if (h->value_len != 0) {
    uint8_t a = (uint8_t)h->value[0];
    uint8_t z = (uint8_t)h->value[h->value_len - 1];
    if ((a == ' ' || a == '\t' || z == ' ' || z == '\t') && !ignored("ows")) {
      fail(r, "%s %.*s: value keeps leading or trailing whitespace [ows]", what,
           (int)h->name_len, h->name);
    }
  }
  if (!in_input(r, h->name, h->name_len)) {
    fail(r, "%s name %.*s does not occur in the input", what, (int)h->name_len,
         h->name);
  }
  if ((r->lenient & (ZTTP_LENIENT_OBS_FOLD | ZTTP_LENIENT_BARE_CR)) == 0 &&
      !in_input(r, h->value, h->value_len)) {
    fail(r, "%s %.*s: value does not occur in the input", what,
         (int)h->name_len, h->name);
  }
}

static void log_fields(const run *r, const zttp_header *f, size_t num) {
  for (size_t i = 0; r->log != NULL && i < num; i++) {
    fprintf(r->log, "  [%.*s] = [", (int)f[i].name_len, f[i].name);
    for (size_t k = 0; k < f[i].value_len; k++) {
      uint8_t c = (uint8_t)f[i].value[k];
      fprintf(r->log, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    }
    fprintf(r->log, "]\n");
  }
}

static void hash_fields(uint64_t *h, const zttp_header *f, size_t num) {
  int trim = ignored("ows");
  h_u64(h, num);
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
    h_str(h, f[i].name, f[i].name_len);
    h_str(h, v, n);
  }
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

static zttp_config *make_config(run *r) {
  zttp_config *cfg = NULL;
  if (zttp_config_new(&cfg, NULL) != 0) {
    fail(r, "zttp_config_new failed");
  }
  for (uint32_t id = 1; id <= 9; id++) {
    uint64_t v = limit_rows[r->limits][id - 1];
    if (v != 0 && zttp_config_set_limit(cfg, id, v) != 0) {
      fail(r, "zttp_config_set_limit(%u, %llu) refused", id,
           (unsigned long long)v);
    }
  }
  if (zttp_config_set_lenient(cfg, r->lenient) != 0) {
    fail(r, "zttp_config_set_lenient(0x%x) refused", r->lenient);
  }
  if (zttp_config_get_limit(cfg, &r->max_headers, ZTTP_LIMIT_MAX_HEADERS) !=
          0 ||
      zttp_config_get_limit(cfg, &r->max_trailers, ZTTP_LIMIT_MAX_TRAILERS) !=
          0) {
    fail(r, "zttp_config_get_limit failed");
  }
  return cfg;
}

/* ---- the poisoning rule ------------------------------------------------- */

static void check_poisoned(run *r) {
  int32_t e = r->fatal;
  zttp_event ev;
  uint8_t b = 'x';
  const char *msg = NULL;
  static const zttp_header hdr = {"X-A", 3, "b", 1, 0, 0};
  if (zttp_conn_next_event(r->conn, &ev) != e) {
    fail(r, "next_event after fatal %d does not return it", e);
  }
  if (zttp_conn_receive_data(r->conn, &b, 1) != e) {
    fail(r, "receive_data after fatal %d does not return it", e);
  }
  if (zttp_conn_receive_data(r->conn, NULL, 0) != e) {
    fail(r, "receive_data(EOF) after fatal %d does not return it", e);
  }
  if (zttp_conn_send_response(r->conn, 0, 200, NULL, 0, &hdr, 1,
                              ZTTP_SEND_FLAG_END_STREAM) != e) {
    fail(r, "send_response after fatal %d does not return it", e);
  }
  if (zttp_conn_send_informational(r->conn, 0, 100, NULL, 0) != e) {
    fail(r, "send_informational after fatal %d does not return it", e);
  }
  if (zttp_conn_send_data(r->conn, 0, &b, 1, 0) != e) {
    fail(r, "send_data after fatal %d does not return it", e);
  }
  if (zttp_conn_end_message(r->conn, 0, NULL, 0) != e) {
    fail(r, "end_message after fatal %d does not return it", e);
  }
  if (zttp_conn_close(r->conn, 0, ZTTP_CLOSE_FLAG_GRACEFUL) != e) {
    fail(r, "close after fatal %d does not return it", e);
  }
  if (zttp_conn_send_window(r->conn, 0) != e) {
    fail(r, "send_window after fatal %d does not return it", e);
  }
  if (zttp_conn_data_consumed(r->conn, 0, 1) != e) {
    fail(r, "data_consumed after fatal %d does not return it", e);
  }
  if (zttp_conn_last_error(r->conn, &msg, NULL, NULL) != e || msg == NULL ||
      msg[0] == '\0') {
    fail(r, "last_error after fatal %d does not report it with a message", e);
  }
  if (zttp_conn_should_close(r->conn) != 1) {
    fail(r, "should_close is not 1 after fatal %d", e);
  }
}

/* Every public call that starts with the poisoning rule goes through here. */
static void note_rv(run *r, int64_t rv, const char *call) {
  if (rv < 0 && zttp_error_is_fatal((int32_t)rv)) {
    if (r->fatal == 0) {
      r->fatal = (int32_t)rv;
      LOG(r, "  FATAL %lld (%s) from %s\n", (long long)rv,
          zttp_strerror((int32_t)rv), call);
      /* Which fatal error is compared apart (see same_errors()). */
      h_u64(&r->h_ev, 'X');
      check_poisoned(r);
    } else if (rv != r->fatal) {
      fail(r, "%s returned fatal %lld after fatal %d", call, (long long)rv,
           r->fatal);
    }
  } else if (r->fatal != 0) {
    fail(r, "%s returned %lld on a connection poisoned by %d", call,
         (long long)rv, r->fatal);
  }
}

/* ---- output ------------------------------------------------------------- */

static void take_output(run *r) {
  for (int round = 0; round < 4; round++) {
    const uint8_t *p = NULL;
    size_t n = zttp_conn_pending(r->conn, &p);
    if (n == 0) {
      return;
    }
    if (p == NULL) {
      fail(r, "pending() returned %zu bytes at NULL", n);
    }
    /* Consume in two steps now and then, to exercise partial writes. */
    size_t k = (r->salt && n > 1) ? n / 2 : n;
    h_bytes(&r->h_out, p, k);
    LOG(r, "  OUT %zu: %.*s\n", k, (int)k, (const char *)p);
    if (zttp_conn_consume(r->conn, k) != 0) {
      fail(r, "consume(%zu) of %zu pending failed", k, n);
    }
  }
  const uint8_t *p = NULL;
  size_t n = zttp_conn_pending(r->conn, &p);
  if (n != 0) {
    h_bytes(&r->h_out, p, n);
    if (zttp_conn_consume(r->conn, n) != 0) {
      fail(r, "consume(%zu) failed", n);
    }
  }
  if (zttp_conn_consume(r->conn, 1) != ZTTP_ERR_INVALID_ARGUMENT) {
    fail(r, "consume(1) with nothing pending did not fail");
  }
}

/* ---- answering ---------------------------------------------------------- */

static int64_t act(run *r, char tag, int64_t rv, int64_t want) {
  note_rv(r, rv, "a send call");
  h_u64(&r->h_act, (uint64_t)tag);
  h_u64(&r->h_act, (uint64_t)rv);
  LOG(r, "  ACT %c -> %lld\n", tag, (long long)rv);
  if (rv == ZTTP_ERR_INVALID_FIELD || rv == ZTTP_ERR_INVALID_ARGUMENT) {
    fail(r,
         "call %c returned %lld for fields the harness built from valid "
         "parts",
         tag, (long long)rv);
  }
  /* Answering at END_MESSAGE on a healthy connection, every call must
   * succeed and take everything. */
  if (r->timing == TIMING_AT_END && r->fatal == 0 && rv != want) {
    fail(r, "call %c returned %lld, expected %lld", tag, (long long)rv,
         (long long)want);
  }
  take_output(r);
  r->progress++;
  return rv;
}

static int64_t send_body(run *r, const char *s, uint32_t flags) {
  return zttp_conn_send_data(r->conn, 0, (const uint8_t *)s, strlen(s), flags);
}

static void answer_normal(run *r, req_rec *q, uint32_t shape) {
  zttp_header h[4];
  size_t nh = 0;
  static const zttp_header trailer = {"X-Checksum", 10, "1", 1, 0, 0};
  uint32_t head = q->is_head ? ZTTP_SEND_FLAG_END_STREAM : 0;
#define HDR(nm, v, vl)                                                         \
  do {                                                                         \
    h[nh].name = (nm);                                                         \
    h[nh].name_len = strlen(nm);                                               \
    h[nh].value = (v);                                                         \
    h[nh].value_len = (vl);                                                    \
    h[nh].flags = 0;                                                           \
    h[nh].reserved = 0;                                                        \
    nh++;                                                                      \
  } while (0)
  switch (shape) {
  case 0:
    HDR("Content-Length", "5", 1);
    HDR("X-Target", q->echo, q->echo_len);
    act(r, 'R', zttp_conn_send_response(r->conn, 0, 200, NULL, 0, h, nh, head),
        0);
    if (!head) {
      act(r, 'D', send_body(r, "hello", ZTTP_SEND_FLAG_END_STREAM), 5);
    }
    break;
  case 1:
  case 6:
    if (shape == 6) {
      act(r, 'G', zttp_conn_close(r->conn, 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
      r->graceful = 1;
    }
    HDR("Content-Type", "text/plain", 10);
    act(r, 'R',
        zttp_conn_send_response(r->conn, 0, shape == 6 ? 503 : 200, NULL, 0, h,
                                nh, head),
        0);
    if (!head) {
      act(r, 'D', send_body(r, "hel", 0), 3);
      act(r, 'D', send_body(r, "lo", 0), 2);
      if (q->version == 11) {
        act(r, 'E', zttp_conn_end_message(r->conn, 0, &trailer, 1), 0);
      } else {
        act(r, 'E', zttp_conn_end_message(r->conn, 0, NULL, 0), 0);
      }
    }
    break;
  case 2:
    act(r, 'R',
        zttp_conn_send_response(r->conn, 0, 204, NULL, 0, NULL, 0,
                                ZTTP_SEND_FLAG_END_STREAM),
        0);
    break;
  case 3:
    HDR("ETag", "\"x\"", 3);
    act(r, 'R',
        zttp_conn_send_response(r->conn, 0, 304, "Not Modified", 12, h, nh,
                                ZTTP_SEND_FLAG_END_STREAM),
        0);
    break;
  case 4:
    act(r, 'R',
        zttp_conn_send_response(r->conn, 0, 200, NULL, 0, NULL, 0,
                                ZTTP_SEND_FLAG_END_STREAM),
        0);
    break;
  case 5:
    HDR("Content-Length", "9", 1);
    HDR("Connection", "close", 5);
    act(r, 'R', zttp_conn_send_response(r->conn, 0, 404, NULL, 0, h, nh, head),
        0);
    if (!head) {
      act(r, 'D', send_body(r, "not found", 0), 9);
      act(r, 'E', zttp_conn_end_message(r->conn, 0, NULL, 0), 0);
    }
    r->graceful = 1;
    break;
  default: /* 7: an early hint, then 200 */
    if (q->version == 11) {
      HDR("Link", "</s.css>; rel=preload", 21);
      act(r, 'I', zttp_conn_send_informational(r->conn, 0, 103, h, nh), 0);
      nh = 0;
    }
    HDR("Content-Length", "5", 1);
    act(r, 'R', zttp_conn_send_response(r->conn, 0, 200, NULL, 0, h, nh, head),
        0);
    if (!head) {
      act(r, 'D', send_body(r, "hel", 0), 3);
      act(r, 'D', send_body(r, "lo", ZTTP_SEND_FLAG_END_STREAM), 2);
    }
    break;
  }
#undef HDR
}

static void answer(run *r, req_rec *q) {
  q->answered = 1;
  LOG(r, "  ANSWER request %zu shape %u\n", q->index, q->shape);
  if (r->timing == TIMING_GRACEFUL && q->index == 1 && !r->graceful) {
    act(r, 'G', zttp_conn_close(r->conn, 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
    r->graceful = 1;
  }
  if ((q->flags & ZTTP_EVENT_FLAG_UPGRADE) && q->ended && (q->shape & 1) == 0) {
    if (q->is_connect) {
      if (act(r, 'C',
              zttp_conn_send_response(r->conn, 0, 200, NULL, 0, NULL, 0,
                                      ZTTP_SEND_FLAG_END_STREAM),
              0) == 0) {
        r->expect_upgrade = 1;
      }
      return;
    }
    if (q->version == 11 && q->upgrade_len != 0) {
      zttp_header h[2] = {{"Upgrade", 7, q->upgrade, q->upgrade_len, 0, 0},
                          {"Connection", 10, "Upgrade", 7, 0, 0}};
      if (act(r, 'U', zttp_conn_send_informational(r->conn, 0, 101, h, 2), 0) ==
          0) {
        r->expect_upgrade = 1;
      }
      return;
    }
  }
  uint32_t shape = q->shape;
  if (q->flags & ZTTP_EVENT_FLAG_UPGRADE) {
    /* Declined: a plain 200 to an Upgrade (RFC 9110 §7.8 lets the server
     * ignore it), a 404 to a CONNECT (any 2xx would open the tunnel). */
    shape = q->is_connect ? 5 : 0;
  }
  answer_normal(r, q, shape);
}

static req_rec *q_at(run *r, size_t i) {
  return &r->q[(r->q_head + i) % QUEUE_CAP];
}

static void q_pop_answered(run *r) {
  while (r->q_len != 0 && q_at(r, 0)->answered && q_at(r, 0)->ended) {
    r->q_head = (r->q_head + 1) % QUEUE_CAP;
    r->q_len--;
  }
}

/* Answers every received, unanswered request whose message ended. Returns
 * how many it answered. */
static size_t flush(run *r) {
  size_t done = 0;
  for (size_t i = 0; i < r->q_len; i++) {
    req_rec *q = q_at(r, i);
    if (q->answered) {
      continue;
    }
    if (!q->ended || r->upgraded || r->expect_upgrade) {
      break;
    }
    answer(r, q);
    done++;
  }
  q_pop_answered(r);
  return done;
}

/* ---- events ------------------------------------------------------------- */

static uint64_t request_digest(const zttp_request_event *q) {
  uint64_t h = 0xcbf29ce484222325ull;
  h_str(&h, q->method.base, q->method.len);
  h_str(&h, q->target.base, q->target.len);
  h_str(&h, q->path.base, q->path.len);
  h_str(&h, q->query.base, q->query.len);
  zttp_str a = q->authority;
  while (ignored("ows") && a.len != 0 && a.base[0] == ' ') {
    a.base++;
    a.len--;
  }
  while (ignored("ows") && a.len != 0 && a.base[a.len - 1] == ' ') {
    a.len--;
  }
  h_str(&h, a.base, a.len);
  h_u64(&h, q->http_version);
  hash_fields(&h, q->headers, q->num_headers);
  return h;
}

static void on_request(run *r, const zttp_event *ev) {
  const zttp_request_event *q = &ev->u.request;
  if (r->in_msg) {
    fail(r, "REQUEST before the previous request's END_MESSAGE");
  }
  if (!is_token(q->method.base, q->method.len) ||
      !in_input(r, q->method.base, q->method.len)) {
    fail(r, "method is not a token from the input");
  }
  if (q->target.len == 0 || q->target.base == NULL ||
      !in_input(r, q->target.base, q->target.len)) {
    fail(r, "target is empty or not from the input");
  }
  for (size_t i = 0; i < q->target.len; i++) {
    uint8_t c = (uint8_t)q->target.base[i];
    if (c < 0x21 || c > 0x7e) {
      fail(r, "target byte %zu is 0x%02x", i, c);
    }
  }
  const char *qm = memchr(q->target.base, '?', q->target.len);
  size_t plen = qm != NULL ? (size_t)(qm - q->target.base) : q->target.len;
  if (!str_eq(q->path, q->target.base, plen)) {
    fail(r, "path is not the target up to '?'");
  }
  if (qm != NULL) {
    if (q->query.base == NULL ||
        !str_eq(q->query, qm + 1, q->target.len - plen - 1)) {
      fail(r, "query is not the target after '?'");
    }
  } else if (q->query.base != NULL || q->query.len != 0) {
    fail(r, "query set on a target without '?'");
  }
  if (q->scheme.len != 0 || q->protocol.len != 0) {
    fail(r, "scheme or protocol set on HTTP/1.1");
  }
  if (q->http_version != 10 && q->http_version != 11) {
    fail(r, "http_version %u", q->http_version);
  }
  if (q->num_headers > r->max_headers) {
    fail(r, "%zu headers, limit %llu", q->num_headers,
         (unsigned long long)r->max_headers);
  }
  if (q->num_headers != 0 && q->headers == NULL) {
    fail(r, "headers NULL with num_headers %zu", q->num_headers);
  }
  if ((ev->flags &
       ~(ZTTP_EVENT_FLAG_END_STREAM | ZTTP_EVENT_FLAG_EXPECT_CONTINUE |
         ZTTP_EVENT_FLAG_UPGRADE | ZTTP_EVENT_FLAG_CLOSE)) != 0) {
    fail(r, "unknown request flags 0x%x", ev->flags);
  }

  size_t hosts = 0, cls = 0, tes = 0;
  const zttp_header *host = NULL;
  const zttp_header *upgrade = NULL;
  int cl_ok = 1, conn_close = 0, conn_keep = 0, conn_odd = 0, expect = 0;
  int conn_upgrade = 0;
  uint64_t cl = 0;
  for (size_t i = 0; i < q->num_headers; i++) {
    const zttp_header *h = &q->headers[i];
    check_field(r, h, 0);
    if (eq_ci(h->name, h->name_len, "host")) {
      hosts++;
      host = h;
    } else if (eq_ci(h->name, h->name_len, "content-length")) {
      uint64_t v = 0;
      if (!parse_cl(h->value, h->value_len, &v) || (cls != 0 && v != cl)) {
        cl_ok = 0;
      }
      cl = v;
      cls++;
    } else if (eq_ci(h->name, h->name_len, "transfer-encoding")) {
      tes++;
    } else if (eq_ci(h->name, h->name_len, "connection")) {
      int c = list_has(h->value, h->value_len, "close");
      int k = list_has(h->value, h->value_len, "keep-alive");
      int u = list_has(h->value, h->value_len, "upgrade");
      if (c < 0) {
        conn_odd = 1;
      } else {
        conn_close |= c;
        conn_keep |= k;
        conn_upgrade |= u;
      }
    } else if (eq_ci(h->name, h->name_len, "upgrade")) {
      upgrade = h;
    } else if (eq_ci(h->name, h->name_len, "expect")) {
      expect |= eq_ci(h->value, h->value_len, "100-continue");
    }
  }
  if (hosts == 1) {
    if (!str_eq(q->authority, host->value, host->value_len)) {
      fail(r, "authority is not the Host value");
    }
  } else if (hosts == 0 && q->authority.len != 0) {
    fail(r, "authority set without a Host field");
  }
  if (q->http_version == 11 && hosts != 1 &&
      (r->lenient & ZTTP_LENIENT_HOST) == 0) {
    fail(r, "HTTP/1.1 request with %zu Host fields accepted", hosts);
  }
  int is_connect = str_eq(q->method, "CONNECT", 7);
  int up = (ev->flags & ZTTP_EVENT_FLAG_UPGRADE) != 0;
  /* RFC 9110 §7.8: Upgrade counts only with the "upgrade" connection
   * option, and not in HTTP/1.0. How a malformed Connection value is read
   * is the engine's choice. */
  int want_up =
      is_connect || (upgrade != NULL && q->http_version == 11 && conn_upgrade);
  if (up != want_up && !(conn_odd && upgrade != NULL && !is_connect)) {
    fail(r, "UPGRADE flag %d, Upgrade field %d, CONNECT %d", up,
         upgrade != NULL, is_connect);
  }
  if ((ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) && !expect) {
    fail(r, "EXPECT_CONTINUE without Expect: 100-continue");
  }
  if (expect && q->http_version == 11 &&
      !(ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE)) {
    fail(r, "Expect: 100-continue without EXPECT_CONTINUE");
  }
  if ((conn_close || (q->http_version == 10 && !conn_keep && !conn_odd)) &&
      !(ev->flags & ZTTP_EVENT_FLAG_CLOSE)) {
    fail(r, "request that closes the connection is not flagged CLOSE");
  }
  int es = (ev->flags & ZTTP_EVENT_FLAG_END_STREAM) != 0;
  if (tes != 0 && es) {
    fail(r, "request with Transfer-Encoding flagged END_STREAM");
  }
  if (tes == 0 && cls == 0 && !es) {
    fail(r, "request without framing is not flagged END_STREAM");
  }
  if (tes == 0 && cls != 0 && cl_ok && es != (cl == 0)) {
    fail(r, "Content-Length %llu but END_STREAM %d", (unsigned long long)cl,
         es);
  }
  r->in_msg = 1;
  r->msg_end_stream = es;
  r->cl_known = tes == 0 && cls != 0 && cl_ok;
  r->cl = cl;
  r->msg_chunked = tes != 0;
  r->body_len = 0;
  r->body_hash = 0xcbf29ce484222325ull;

  uint64_t digest = request_digest(q);
  h_u64(&r->h_ev, 'Q');
  h_u64(&r->h_ev, ev->flags);
  h_u64(&r->h_ev, digest);
  LOG(r, "REQUEST %.*s %.*s v%u flags 0x%x headers %zu\n", (int)q->method.len,
      q->method.base, (int)q->target.len, q->target.base, q->http_version,
      ev->flags, q->num_headers);
  log_fields(r, q->headers, q->num_headers);

  if (r->q_len == QUEUE_CAP) {
    /* Only the deferred timing lets requests pile up this far. */
    flush(r);
    if (r->q_len == QUEUE_CAP) {
      fail(r, "%zu requests outstanding", r->q_len);
    }
  }
  req_rec *rec = q_at(r, r->q_len++);
  memset(rec, 0, sizeof(*rec));
  rec->version = q->http_version;
  rec->flags = ev->flags;
  rec->is_head = str_eq(q->method, "HEAD", 4);
  rec->is_connect = (uint8_t)is_connect;
  rec->index = r->num_requests++;
  rec->shape = (uint32_t)((fnv(q->target.base, q->target.len) >> 7) +
                          r->salt * 5 + rec->index) %
               8u;
  rec->echo_len = q->target.len < ECHO_MAX ? q->target.len : ECHO_MAX;
  memcpy(rec->echo, q->target.base, rec->echo_len);
  if (upgrade != NULL && upgrade->value_len <= UPGRADE_VAL_MAX &&
      is_token(upgrade->value, upgrade->value_len)) {
    rec->upgrade_len = upgrade->value_len;
    memcpy(rec->upgrade, upgrade->value, upgrade->value_len);
  } else if (upgrade != NULL) {
    rec->upgrade_len = 9;
    memcpy(rec->upgrade, "websocket", 9);
  }

  /* Act on it, then check the event's borrowed pointers survived the send
   * calls (only receive_data, next_event and free may invalidate them). */
  if ((ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) && rec->version == 11 &&
      r->timing != TIMING_AT_REQUEST && (rec->shape & 1)) {
    act(r, 'c', zttp_conn_send_informational(r->conn, 0, 100, NULL, 0), 0);
  }
  if (r->timing == TIMING_AT_REQUEST && !up) {
    if ((ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) && rec->version == 11 &&
        (rec->shape & 2)) {
      act(r, 'c', zttp_conn_send_informational(r->conn, 0, 100, NULL, 0), 0);
    }
    answer(r, rec);
  }
  if (request_digest(q) != digest) {
    fail(r, "REQUEST event changed under send calls");
  }
}

static void on_end(run *r, const zttp_event *ev) {
  const zttp_end_event *e = &ev->u.end;
  if (!r->in_msg) {
    fail(r, "END_MESSAGE without a REQUEST");
  }
  if (e->num_trailers > r->max_trailers) {
    fail(r, "%zu trailers, limit %llu", e->num_trailers,
         (unsigned long long)r->max_trailers);
  }
  if (e->num_trailers != 0 && (e->trailers == NULL || !r->msg_chunked)) {
    fail(r, "trailers on a message that is not chunked");
  }
  for (size_t i = 0; i < e->num_trailers; i++) {
    check_field(r, &e->trailers[i], 1);
  }
  if (r->cl_known && r->body_len != r->cl) {
    fail(r, "body of %llu bytes, Content-Length %llu",
         (unsigned long long)r->body_len, (unsigned long long)r->cl);
  }
  h_u64(&r->h_ev, 'E');
  h_u64(&r->h_ev, ev->flags);
  h_u64(&r->h_ev, r->body_len);
  h_u64(&r->h_ev, r->body_hash);
  hash_fields(&r->h_ev, e->trailers, e->num_trailers);
  LOG(r, "END body %llu trailers %zu\n", (unsigned long long)r->body_len,
      e->num_trailers);
  log_fields(r, e->trailers, e->num_trailers);
  r->in_msg = 0;

  req_rec *rec = NULL;
  for (size_t i = 0; i < r->q_len; i++) {
    if (!q_at(r, i)->ended) {
      rec = q_at(r, i);
      break;
    }
  }
  if (rec == NULL) {
    fail(r, "END_MESSAGE for no request");
  }
  rec->ended = 1;
  if (r->timing != TIMING_DEFERRED) {
    flush(r);
  }
  q_pop_answered(r);
}

static void on_event(run *r, const zttp_event *ev) {
  if (++r->events > r->max_events) {
    fail(r, "more than %zu events from %zu bytes", r->max_events, r->n);
  }
  if (r->closed) {
    fail(r, "event %u after CONNECTION_CLOSED", ev->kind);
  }
  if (r->upgraded) {
    fail(r, "event %u after UPGRADE", ev->kind);
  }
  if (ev->stream_id != 0) {
    fail(r, "event %u on stream %lld", ev->kind, (long long)ev->stream_id);
  }
  if (r->expect_upgrade && ev->kind != ZTTP_EVENT_UPGRADE) {
    fail(r, "event %u instead of UPGRADE after the 101 / 2xx", ev->kind);
  }
  switch (ev->kind) {
  case ZTTP_EVENT_REQUEST:
    on_request(r, ev);
    break;
  case ZTTP_EVENT_DATA: {
    const zttp_data_event *d = &ev->u.data;
    if (!r->in_msg || r->msg_end_stream) {
      fail(r, "DATA outside a request body");
    }
    if (d->len == 0 || d->data == NULL) {
      fail(r, "empty DATA");
    }
    if (!in_input(r, d->data, d->len)) {
      fail(r, "DATA bytes (%zu) do not occur in the input", d->len);
    }
    r->body_len += d->len;
    h_bytes(&r->body_hash, d->data, d->len);
    LOG(r, "DATA %zu\n", d->len);
    break;
  }
  case ZTTP_EVENT_END_MESSAGE:
    on_end(r, ev);
    break;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    if (r->in_msg || !r->eof_sent) {
      fail(r, "CONNECTION_CLOSED inside a message or before EOF");
    }
    r->closed = 1;
    h_u64(&r->h_ev, 'C');
    h_u64(&r->h_ev, (uint64_t)(int64_t)ev->u.closed.error);
    LOG(r, "CLOSED %d\n", ev->u.closed.error);
    break;
  case ZTTP_EVENT_UPGRADE: {
    const zttp_data_event *d = &ev->u.data;
    if (!r->expect_upgrade) {
      fail(r, "UPGRADE without a 101 or 2xx to CONNECT");
    }
    if (d->len != 0 && d->data == NULL) {
      fail(r, "UPGRADE data NULL");
    }
    /* The tunnel bytes are the input's suffix after the request. */
    if (d->len > r->pos ||
        (d->len != 0 && memcmp(d->data, r->in + r->pos - d->len, d->len))) {
      fail(r,
           "UPGRADE data (%zu bytes) is not the input taken after the "
           "request",
           d->len);
    }
    r->upgraded = 1;
    r->expect_upgrade = 0;
    h_u64(&r->h_ev, 'U');
    h_u64(&r->h_ev, r->n - (r->pos - d->len));
    h_bytes(&r->h_ev, r->in + r->pos - d->len, r->n - (r->pos - d->len));
    LOG(r, "UPGRADE %zu buffered, %zu tunnel bytes\n", d->len,
        r->n - (r->pos - d->len));
    break;
  }
  default:
    fail(r, "event kind %u from an HTTP/1.1 server", ev->kind);
  }
  take_output(r);
}

static void drain(run *r) {
  for (;;) {
    if (r->fatal != 0) {
      return;
    }
    zttp_event ev;
    int32_t rv = zttp_conn_next_event(r->conn, &ev);
    if (rv < 0) {
      if (!zttp_error_is_fatal(rv)) {
        fail(r, "next_event returned non-fatal %d", rv);
      }
      note_rv(r, rv, "next_event");
      return;
    }
    note_rv(r, rv, "next_event");
    if (rv == 0) {
      if (ev.kind != ZTTP_EVENT_NEED_DATA) {
        fail(r, "next_event returned 0 with kind %u", ev.kind);
      }
      if (r->expect_upgrade) {
        fail(r, "no UPGRADE event after the 101 / 2xx to CONNECT");
      }
      return;
    }
    if (rv != 1) {
      fail(r, "next_event returned %d", rv);
    }
    on_event(r, &ev);
    r->progress++;
  }
}

/* ---- feeding ------------------------------------------------------------ */

static size_t next_piece(run *r) {
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

static void feed(run *r) {
  while (r->pos < r->n) {
    size_t end = r->pos + next_piece(r);
    while (r->pos < end) {
      if (r->fatal != 0 || r->upgraded || r->closed) {
        return;
      }
      int64_t took =
          zttp_conn_receive_data(r->conn, r->in + r->pos, end - r->pos);
      LOG(r, "  receive_data(%zu) -> %lld\n", end - r->pos, (long long)took);
      note_rv(r, took, "receive_data");
      if (took < 0) {
        if (!zttp_error_is_fatal((int32_t)took)) {
          fail(r, "receive_data returned non-fatal %lld while reading",
               (long long)took);
        }
        return;
      }
      if ((size_t)took > end - r->pos) {
        fail(r, "receive_data took %lld of %zu", (long long)took, end - r->pos);
      }
      r->pos += (size_t)took;
      size_t before = r->progress;
      drain(r);
      if (took == 0 && r->progress == before) {
        if (flush(r) == 0) {
          /* The engine reads no further (closing); stop feeding. */
          LOG(r, "  stalled with %zu bytes left\n", r->n - r->pos);
          return;
        }
        drain(r);
      }
    }
  }
}

static void run_one(run *r) {
  zttp_config *cfg = make_config(r);
  if (zttp_conn_new(&r->conn, cfg, ZTTP_SERVER, ZTTP_HTTP1) != 0) {
    fail(r, "zttp_conn_new failed");
  }
  zttp_config_free(cfg);
  r->max_events = 3 * r->n + 16;
  r->h_ev = r->h_act = r->h_out = 0xcbf29ce484222325ull;
  r->rng = fnv(r->in, r->n) | 1;

  feed(r);
  /* Answer what is left, let the engine go on, repeat until quiet. */
  for (int i = 0; i < 64 && r->fatal == 0; i++) {
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
      fail(r, "receive_data after UPGRADE is not INVALID_STATE");
    }
  } else if (r->fatal == 0) {
    int64_t rv = zttp_conn_receive_data(r->conn, NULL, 0);
    note_rv(r, rv, "receive_data(EOF)");
    LOG(r, "  EOF -> %lld\n", (long long)rv);
    if (rv != 0 && !zttp_error_is_fatal((int32_t)rv)) {
      fail(r, "receive_data(EOF) returned %lld", (long long)rv);
    }
    r->eof_sent = 1;
    for (int i = 0; i < 64 && r->fatal == 0; i++) {
      size_t before = r->progress;
      drain(r);
      flush(r);
      if (r->progress == before) {
        break;
      }
    }
  }
  if (r->eof_sent && r->fatal == 0 && !r->closed) {
    if (!ignored("eof")) {
      fail(r, "EOF gave neither CONNECTION_CLOSED nor an error [eof]");
    }
    r->silent_eof = 1;
  }
  if (r->fatal != 0) {
    check_poisoned(r);
  } else {
    zttp_event ev;
    if (r->in_msg && r->eof_sent && !ignored("eof")) {
      fail(r, "EOF inside a request body gave no error [eof]");
    }
    if (zttp_conn_next_event(r->conn, &ev) != 0 ||
        ev.kind != ZTTP_EVENT_NEED_DATA) {
      fail(r, "the connection produced an event after going quiet");
    }
    if (r->closed) {
      uint8_t b = 'x';
      if (zttp_conn_receive_data(r->conn, &b, 1) != ZTTP_ERR_INVALID_STATE) {
        fail(r, "receive_data after EOF is not INVALID_STATE");
      }
      if (zttp_conn_should_close(r->conn) != 1) {
        fail(r, "should_close is not 1 after the peer's EOF");
      }
    }
  }
  take_output(r);
  zttp_conn_free(r->conn);
  r->conn = NULL;
}

static void setup(run *r, const uint8_t *data, size_t size, int whole) {
  memset(r, 0, sizeof(*r));
  r->in = data + 2;
  r->n = size - 2;
  r->whole = whole;
  r->split = data[0] & 7u;
  r->limits = (data[0] >> 3) & 3u;
  r->timing = (data[0] >> 5) & 3u;
  r->salt = (data[0] >> 7) & 1u;
  r->lenient = lenient_from(data[1]);
}

static run runs[2];

static int is_limit_error(int32_t e) {
  return e <= ZTTP_ERR_LIMIT_START_LINE && e >= ZTTP_ERR_LIMIT_INPUT_BUFFER;
}

/* Both runs failed, or neither did, with the same code. The code may differ
 * when several rules break at once and the pieces decide which is seen
 * first (e.g. a bad target byte past the start-line limit): that is only
 * fatal with ZTTP_FUZZ_STRICT_ERRORS=1. */
static int same_errors(const run *w, const run *s) {
  static int strict = -1;
  if (strict < 0) {
    strict = getenv("ZTTP_FUZZ_STRICT_ERRORS") != NULL;
  }
  return w->fatal == s->fatal || (!strict && w->fatal != 0 && s->fatal != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) {
    return 0;
  }
  run *w = &runs[0];
  run *s = &runs[1];
  FILE *log = getenv("ZTTP_FUZZ_LOG") != NULL ? stderr : NULL;
  setup(w, data, size, 1);
  w->log = log;
  if (log != NULL) {
    fprintf(log, "---- fed whole\n");
  }
  run_one(w);
  setup(s, data, size, 0);
  s->log = log;
  if (log != NULL) {
    fprintf(log, "---- fed in pieces\n");
  }
  run_one(s);
  if (w->silent_eof || s->silent_eof) {
    return 0;
  }
  /* [limit]: a limit that one feed hits and the other does not. */
  if (ignored("limit") &&
      (is_limit_error(w->fatal) || is_limit_error(s->fatal))) {
    return 0;
  }
  int same_ev = w->h_ev == s->h_ev && same_errors(w, s);
  int same_act = w->h_act == s->h_act && w->h_out == s->h_out;
  if (!same_ev || (!same_act && w->timing != TIMING_DEFERRED)) {
    fprintf(stderr,
            "split %u limits %u timing %u salt %u lenient 0x%x: events %s, "
            "calls/output %s\n",
            w->split, w->limits, w->timing, w->salt, w->lenient,
            same_ev ? "same" : "DIFFER", same_act ? "same" : "DIFFER");
    setup(w, data, size, 1);
    w->log = stderr;
    fprintf(stderr, "---- fed whole\n");
    run_one(w);
    setup(s, data, size, 0);
    s->log = stderr;
    fprintf(stderr, "---- fed in pieces\n");
    run_one(s);
    if (!same_ev || (!same_act && w->timing != TIMING_DEFERRED)) {
      fail(NULL, "the transcripts of the whole and the split feed differ");
    }
  }
  return 0;
}
