/* HTTP/1.1 limits (notes/h1-behaviour.md "Limits"; zttp.h enum zttp_limit):
 * a message exactly at each limit is accepted, one byte or one field past it
 * fails with the limit's code, the failure comes as the bytes arrive (before
 * the section is complete), and input/pipeline/output backpressure.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define S ZTTP_SERVER
#define C ZTTP_CLIENT

static void client_setup(zttp_conn *conn, void *arg) {
  (void)arg;
  h_send_req(conn, "GET", "/", "a");
}

static h_script script(uint32_t role, const zttp_config *cfg) {
  h_script s;
  memset(&s, 0, sizeof(s));
  s.role = role;
  s.cfg = cfg;
  if (role == C) {
    s.setup = client_setup;
  }
  return s;
}

/* Small inputs: the full every-split. Large ones: whole, byte by byte and a
 * few two-piece cuts. */
static void check_transcript(const h_script *s, const h_str *in,
                             const char *expected) {
  if (in->len <= 4096) {
    h_every_split(s, in->p, in->len, expected);
    return;
  }
  char *t = h_transcript_whole(s, in->p, in->len);
  if (strcmp(t, expected) != 0) {
    print_error("--- expected:\n%.2000s\n--- actual:\n%.2000s\n", expected, t);
    free(t);
    fail();
  }
  free(t);
  size_t *cuts = malloc(in->len * sizeof(*cuts));
  assert_non_null(cuts);
  for (size_t i = 1; i < in->len; i++) {
    cuts[i - 1] = i;
  }
  t = h_transcript(s, in->p, in->len, cuts, in->len - 1);
  assert_string_equal(t, expected);
  free(t);
  for (size_t k = 1; k < 8; k++) {
    size_t c = in->len * k / 8;
    t = h_transcript(s, in->p, in->len, &c, 1);
    assert_string_equal(t, expected);
    free(t);
  }
  free(cuts);
}

/* Asserts |in| fails with |code| for every split and poisons the conn. */
static void check_over(const h_script *s, const h_str *in, int32_t code) {
  h_str want = {0};
  h_str_addf(&want, "ERROR %s\n", h_errname(code));
  char *t = h_transcript_whole(s, in->p, in->len);
  size_t tl = strlen(t);
  if (tl < want.len || strcmp(t + tl - want.len, want.p) != 0) {
    print_error("want last line %s--- actual:\n%.3000s\n", want.p, t);
    free(t);
    fail();
  }
  /* The whole transcript up to the error must not depend on the split. */
  check_transcript(s, in, t);
  free(t);
  h_str_free(&want);
  zttp_conn *conn = NULL;
  assert_int_equal(zttp_conn_new(&conn, s->cfg, s->role, ZTTP_HTTP1), 0);
  if (s->setup != NULL) {
    s->setup(conn, s->arg);
  }
  h_rec r;
  h_rec_init(&r);
  h_feed(conn, &r, (const uint8_t *)in->p, in->len, NULL, NULL);
  assert_int_equal(r.error, code);
  h_rec_free(&r);
  h_expect_poisoned(conn, s->role, code);
  zttp_conn_free(conn);
}

/* Asserts that |in| (an incomplete section) fails with |code| already. */
static void check_early(const h_script *s, const h_str *in, int32_t code) {
  zttp_conn *conn = NULL;
  assert_int_equal(zttp_conn_new(&conn, s->cfg, s->role, ZTTP_HTTP1), 0);
  if (s->setup != NULL) {
    s->setup(conn, s->arg);
  }
  h_rec r;
  h_rec_init(&r);
  h_feed(conn, &r, (const uint8_t *)in->p, in->len, NULL, NULL);
  if (r.error != code) {
    h_str e = {0};
    h_str_add_escaped(&e, in->p, in->len < 200 ? in->len : 200);
    print_error("incomplete input (%zu bytes) %s...: want %s as the bytes "
                "arrive, transcript:\n%s",
                in->len, e.p, h_errname(code), h_rec_text(&r));
    h_str_free(&e);
    h_rec_free(&r);
    fail();
  }
  h_rec_free(&r);
  zttp_conn_free(conn);
}

/* Asserts that |in| (incomplete, still within the limit) gives no error. */
static void check_pending(const h_script *s, const h_str *in,
                          const char *expected) {
  zttp_conn *conn = NULL;
  assert_int_equal(zttp_conn_new(&conn, s->cfg, s->role, ZTTP_HTTP1), 0);
  if (s->setup != NULL) {
    s->setup(conn, s->arg);
  }
  h_rec r;
  h_rec_init(&r);
  assert_int_equal(
      h_feed(conn, &r, (const uint8_t *)in->p, in->len, NULL, NULL), 0);
  assert_string_equal(h_rec_text(&r), expected);
  h_rec_free(&r);
  zttp_conn_free(conn);
}

static void add_rep(h_str *s, char c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h_str_add(s, &c, 1);
  }
}

/* ---- start line
 * --------------------------------------------------------------- */

/* "GET /aaa HTTP/1.1\r\n" of exactly |total| bytes. */
static void request_line(h_str *in, h_str *exp, size_t total) {
  size_t k = total - 16; /* "GET /" + " HTTP/1.1\r\n" */
  h_str_adds(in, "GET /");
  add_rep(in, 'a', k);
  h_str_adds(in, " HTTP/1.1\r\nHost: a\r\n\r\n");
  h_str_adds(exp, "REQUEST s=0 f=es GET /");
  add_rep(exp, 'a', k);
  h_str_adds(exp, " path=/");
  add_rep(exp, 'a', k);
  h_str_adds(exp, " host=a v=11\n  Host=a\nEND s=0\n");
}

/* "HTTP/1.1 200 rrr\r\n" of exactly |total| bytes. */
static void status_line(h_str *in, h_str *exp, size_t total) {
  size_t k = total - 15; /* "HTTP/1.1 200 " + "\r\n" */
  h_str_adds(in, "HTTP/1.1 200 ");
  add_rep(in, 'r', k);
  h_str_adds(in, "\r\nContent-Length: 0\r\n\r\n");
  h_str_adds(exp, "RESPONSE s=0 f=es 200 v=11 reason=");
  add_rep(exp, 'r', k);
  h_str_adds(exp, "\n  Content-Length=0\nEND s=0\n");
}

static void start_line_case(uint64_t limit, int set) {
  zttp_config *cfg =
      set ? h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_H1_MAX_START_LINE, limit}), NULL)
          : h_cfg_new(0, NULL, NULL);
  for (int role = 0; role < 2; role++) {
    h_script s = script(role == 0 ? S : C, cfg);
    h_str in = {0}, exp = {0};
    (role == 0 ? request_line : status_line)(&in, &exp, limit);
    check_transcript(&s, &in, exp.p);
    h_str_free(&in);
    h_str_free(&exp);
    (role == 0 ? request_line : status_line)(&in, &exp, limit + 1);
    check_over(&s, &in, ZTTP_ERR_LIMIT_START_LINE);
    h_str_free(&in);
    h_str_free(&exp);
    /* As bytes arrive: limit + 1 bytes and no line end yet. */
    h_str_adds(&in, role == 0 ? "GET /" : "HTTP/1.1 200 ");
    add_rep(&in, 'x', limit + 1 - in.len);
    check_early(&s, &in, ZTTP_ERR_LIMIT_START_LINE);
    /* limit - 2 bytes could still end within the limit. */
    in.len = limit - 2;
    check_pending(&s, &in, "");
    h_str_free(&in);
  }
  zttp_config_free(cfg);
}

static void test_start_line(void **state) {
  (void)state;
  start_line_case(32, 1);
  start_line_case(100, 1);
}

/* ---- header count
 * ---------------------------------------------------------------- */

/* A head with exactly |n| fields (n >= 1). */
static void head_fields(int role, h_str *in, h_str *exp, size_t n,
                        int complete) {
  if (role == 0) {
    h_str_adds(in, "GET / HTTP/1.1\r\nHost: a\r\n");
    h_str_adds(exp, "REQUEST s=0 f=es GET / path=/ host=a v=11\n  Host=a\n");
  } else {
    h_str_adds(in, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
    h_str_adds(exp, "RESPONSE s=0 f=es 200 v=11 reason=OK\n"
                    "  Content-Length=0\n");
  }
  for (size_t i = 1; i < n; i++) {
    h_str_addf(in, "X%zu: v%zu\r\n", i, i);
    h_str_addf(exp, "  X%zu=v%zu\n", i, i);
  }
  if (complete) {
    h_str_adds(in, "\r\n");
    h_str_adds(exp, "END s=0\n");
  }
}

static void headers_case(uint64_t limit, int set) {
  zttp_config *cfg =
      set ? h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_MAX_HEADERS, limit}), NULL)
          : h_cfg_new(0, NULL, NULL);
  for (int role = 0; role < 2; role++) {
    h_script s = script(role == 0 ? S : C, cfg);
    h_str in = {0}, exp = {0};
    head_fields(role, &in, &exp, limit, 1);
    check_transcript(&s, &in, exp.p);
    h_str_free(&in);
    h_str_free(&exp);
    head_fields(role, &in, &exp, limit + 1, 1);
    check_over(&s, &in, ZTTP_ERR_LIMIT_HEADERS);
    h_str_free(&in);
    h_str_free(&exp);
    /* As bytes arrive: limit + 1 complete field lines, no final CRLF. */
    head_fields(role, &in, &exp, limit + 1, 0);
    check_early(&s, &in, ZTTP_ERR_LIMIT_HEADERS);
    h_str_free(&in);
    h_str_free(&exp);
    head_fields(role, &in, &exp, limit, 0);
    check_pending(&s, &in, "");
    h_str_free(&in);
    h_str_free(&exp);
  }
  zttp_config_free(cfg);
}

static void test_header_count(void **state) {
  (void)state;
  headers_case(4, 1);
  headers_case(1, 1);
}

/* ---- header bytes
 * ------------------------------------------------------------------ */

/* A head of exactly |total| bytes: start line, one fixed field, one field
 * padded to size, final CRLF. */
static void head_bytes(int role, h_str *in, h_str *exp, size_t total) {
  size_t fixed;
  if (role == 0) {
    h_str_adds(in, "GET / HTTP/1.1\r\nHost: a\r\n");
    h_str_adds(exp, "REQUEST s=0 f=es GET / path=/ host=a v=11\n  Host=a\n");
  } else {
    h_str_adds(in, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
    h_str_adds(exp, "RESPONSE s=0 f=es 200 v=11 reason=OK\n"
                    "  Content-Length=0\n");
  }
  fixed = in->len + 5 + 2; /* "X: " "\r\n" + final "\r\n" */
  size_t n = total - fixed;
  h_str_adds(in, "X: ");
  add_rep(in, 'v', n);
  h_str_adds(in, "\r\n\r\n");
  h_str_adds(exp, "  X=");
  add_rep(exp, 'v', n);
  h_str_adds(exp, "\nEND s=0\n");
}

static void header_bytes_case(uint64_t limit, int set) {
  zttp_config *cfg =
      set ? h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_MAX_HEADER_BYTES, limit}), NULL)
          : h_cfg_new(0, NULL, NULL);
  for (int role = 0; role < 2; role++) {
    h_script s = script(role == 0 ? S : C, cfg);
    h_str in = {0}, exp = {0};
    head_bytes(role, &in, &exp, limit);
    assert_int_equal(in.len, limit);
    check_transcript(&s, &in, exp.p);
    h_str_free(&in);
    h_str_free(&exp);
    head_bytes(role, &in, &exp, limit + 1);
    check_over(&s, &in, ZTTP_ERR_LIMIT_HEADER_BYTES);
    h_str_free(&in);
    h_str_free(&exp);
    /* As bytes arrive: limit + 1 bytes, cut inside the padded value. */
    head_bytes(role, &in, &exp, limit + 64);
    in.len = limit + 1;
    check_early(&s, &in, ZTTP_ERR_LIMIT_HEADER_BYTES);
    h_str_free(&in);
    h_str_free(&exp);
  }
  zttp_config_free(cfg);
}

static void test_header_bytes(void **state) {
  (void)state;
  header_bytes_case(64, 1);
  header_bytes_case(200, 1);
}

/* ---- trailers
 * ------------------------------------------------------------------------ */

static void chunked_head(int role, h_str *in, h_str *exp) {
  if (role == 0) {
    h_str_adds(in, "POST / HTTP/1.1\r\nHost: a\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n");
    h_str_adds(exp, "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
                    "  Transfer-Encoding=chunked\n");
  } else {
    h_str_adds(in, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    h_str_adds(exp, "RESPONSE s=0 f=- 200 v=11 reason=OK\n"
                    "  Transfer-Encoding=chunked\n");
  }
}

/* A chunked message "hi" with exactly |n| trailer fields. */
static void trailer_fields(int role, h_str *in, h_str *exp, size_t n,
                           int complete) {
  chunked_head(role, in, exp);
  h_str_adds(in, "2\r\nhi\r\n0\r\n");
  h_str_adds(exp, "DATA s=0 hi\n");
  h_str e = {0};
  for (size_t i = 0; i < n; i++) {
    h_str_addf(in, "T%zu: v%zu\r\n", i, i);
    h_str_addf(&e, "  trailer T%zu=v%zu\n", i, i);
  }
  if (complete) {
    h_str_adds(in, "\r\n");
    h_str_adds(exp, "END s=0\n");
    h_str_add(exp, e.p, e.len);
  }
  h_str_free(&e);
}

static void trailers_case(uint64_t limit, int set) {
  zttp_config *cfg =
      set ? h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_MAX_TRAILERS, limit}), NULL)
          : h_cfg_new(0, NULL, NULL);
  for (int role = 0; role < 2; role++) {
    h_script s = script(role == 0 ? S : C, cfg);
    h_str in = {0}, exp = {0};
    trailer_fields(role, &in, &exp, limit, 1);
    check_transcript(&s, &in, exp.p);
    h_str_free(&in);
    h_str_free(&exp);
    trailer_fields(role, &in, &exp, limit + 1, 1);
    check_over(&s, &in, ZTTP_ERR_LIMIT_TRAILERS);
    h_str_free(&in);
    h_str_free(&exp);
    trailer_fields(role, &in, &exp, limit + 1, 0);
    check_early(&s, &in, ZTTP_ERR_LIMIT_TRAILERS);
    h_str_free(&in);
    h_str_free(&exp);
  }
  zttp_config_free(cfg);
}

static void test_trailer_count(void **state) {
  (void)state;
  trailers_case(2, 1);
  trailers_case(1, 1);
}

/* A chunked message whose trailer section (fields + final CRLF) is exactly
 * |total| bytes (total == 2: no trailer field). */
static void trailer_bytes(int role, h_str *in, h_str *exp, size_t total) {
  chunked_head(role, in, exp);
  h_str_adds(in, "2\r\nhi\r\n0\r\n");
  h_str_adds(exp, "DATA s=0 hi\nEND s=0\n");
  if (total > 2) {
    size_t n = total - 7; /* "T: " "\r\n" "\r\n" */
    h_str_adds(in, "T: ");
    add_rep(in, 'v', n);
    h_str_adds(in, "\r\n");
    h_str_adds(exp, "  trailer T=");
    add_rep(exp, 'v', n);
    h_str_adds(exp, "\n");
  }
  h_str_adds(in, "\r\n");
}

static void trailer_bytes_case(uint64_t limit, int set) {
  zttp_config *cfg =
      set ? h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_MAX_TRAILER_BYTES, limit}), NULL)
          : h_cfg_new(0, NULL, NULL);
  for (int role = 0; role < 2; role++) {
    h_script s = script(role == 0 ? S : C, cfg);
    h_str in = {0}, exp = {0};
    trailer_bytes(role, &in, &exp, limit);
    check_transcript(&s, &in, exp.p);
    h_str_free(&in);
    h_str_free(&exp);
    trailer_bytes(role, &in, &exp, limit + 1);
    check_over(&s, &in, ZTTP_ERR_LIMIT_TRAILER_BYTES);
    h_str_free(&in);
    h_str_free(&exp);
    /* As bytes arrive: a trailer value running past the limit. */
    trailer_bytes(role, &in, &exp, limit + 64);
    size_t sect = in.len - (limit + 64); /* where the trailer section starts */
    in.len = sect + limit + 1;
    check_early(&s, &in, ZTTP_ERR_LIMIT_TRAILER_BYTES);
    h_str_free(&in);
    h_str_free(&exp);
  }
  zttp_config_free(cfg);
}

static void test_trailer_bytes(void **state) {
  (void)state;
  trailer_bytes_case(16, 1);
  trailer_bytes_case(40, 1);
}

static void test_trailer_bytes_empty_section(void **state) {
  (void)state;
  /* The smallest limit (2) takes a section with no field. */
  zttp_config *cfg =
      h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_MAX_TRAILER_BYTES, 2}), NULL);
  h_script s = script(S, cfg);
  h_str in = {0}, exp = {0};
  trailer_bytes(0, &in, &exp, 2);
  check_transcript(&s, &in, exp.p);
  h_str_free(&in);
  h_str_free(&exp);
  zttp_config_free(cfg);
}

/* ---- chunk extensions
 * --------------------------------------------------------------- */

/* Two chunks and the last chunk, each with an extension of exactly |len|
 * bytes (";a=vvv"). */
static void chunk_ext(int role, h_str *in, h_str *exp, size_t len) {
  chunked_head(role, in, exp);
  for (int i = 0; i < 3; i++) {
    h_str_adds(in, i == 2 ? "0;a=" : "2;a=");
    add_rep(in, 'v', len - 3);
    h_str_adds(in, i == 2 ? "\r\n\r\n" : "\r\nhi\r\n");
  }
  h_str_adds(exp, "DATA s=0 hihi\nEND s=0\n");
}

static void chunk_ext_case(uint64_t limit, int set) {
  zttp_config *cfg =
      set ? h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_H1_MAX_CHUNK_EXT, limit}), NULL)
          : h_cfg_new(0, NULL, NULL);
  for (int role = 0; role < 2; role++) {
    h_script s = script(role == 0 ? S : C, cfg);
    h_str in = {0}, exp = {0};
    chunk_ext(role, &in, &exp, limit);
    check_transcript(&s, &in, exp.p);
    h_str_free(&in);
    h_str_free(&exp);
    /* One byte over on the first chunk line. */
    chunked_head(role, &in, &exp);
    h_str_adds(&in, "2;a=");
    add_rep(&in, 'v', limit + 1 - 3);
    h_str_adds(&in, "\r\nhi\r\n0\r\n\r\n");
    check_over(&s, &in, ZTTP_ERR_LIMIT_CHUNK_EXT);
    h_str_free(&in);
    h_str_free(&exp);
    /* One byte over on the last-chunk line, after a body. */
    chunked_head(role, &in, &exp);
    h_str_adds(&in, "2\r\nhi\r\n0;a=");
    add_rep(&in, 'v', limit + 1 - 3);
    h_str_adds(&in, "\r\n\r\n");
    check_over(&s, &in, ZTTP_ERR_LIMIT_CHUNK_EXT);
    h_str_free(&in);
    h_str_free(&exp);
    /* As bytes arrive: an extension running past the limit, no CRLF. */
    chunked_head(role, &in, &exp);
    h_str_adds(&in, "2;a=");
    add_rep(&in, 'v', limit + 8);
    check_early(&s, &in, ZTTP_ERR_LIMIT_CHUNK_EXT);
    h_str_free(&in);
    h_str_free(&exp);
  }
  zttp_config_free(cfg);
}

static void test_chunk_ext(void **state) {
  (void)state;
  chunk_ext_case(8, 1);
  chunk_ext_case(4, 1);
}

/* ---- defaults
 * ------------------------------------------------------------------------ */

static void test_default_values(void **state) {
  (void)state;
  static const uint64_t defaults[] = {
      0,    131072, 262144, 128,    65536,   32,    8192, 8192,
      1024, 32,     100,    262144, 1048576, 16384, 4096, 4096,
      32,   1000,   33,     1000,   100,     1000,  16,   30000,
  };
  const uint32_t last = sizeof(defaults) / sizeof(defaults[0]) - 1;
  zttp_config *cfg = h_cfg_new(0, NULL, NULL);
  for (uint32_t id = 1; id <= last; id++) {
    uint64_t v = 0;
    assert_int_equal(zttp_config_get_limit(cfg, &v, id), 0);
    assert_int_equal(v, defaults[id]);
  }
  uint64_t v = 0;
  assert_int_equal(zttp_config_get_limit(cfg, &v, 0),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_get_limit(cfg, &v, last + 1),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_limit(cfg, 0, 5), ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_limit(cfg, last + 1, 5),
                   ZTTP_ERR_INVALID_ARGUMENT);
  for (uint32_t id = 1; id <= last; id++) {
    /* Only the table sizes, QPACK blocked streams and the idle timeout
     * may be 0. */
    int zero_ok = id == ZTTP_LIMIT_HEADER_TABLE_SIZE ||
                  id == ZTTP_LIMIT_ENCODER_TABLE_SIZE ||
                  id == ZTTP_LIMIT_QPACK_BLOCKED_STREAMS ||
                  id == ZTTP_LIMIT_IDLE_TIMEOUT;
    assert_int_equal(zttp_config_set_limit(cfg, id, 0),
                     zero_ok ? 0 : ZTTP_ERR_INVALID_ARGUMENT);
  }
  /* HTTP/2 frame sizes: 16384..16777215 (RFC 9113 §6.5.2). */
  assert_int_equal(
      zttp_config_set_limit(cfg, ZTTP_LIMIT_H2_MAX_FRAME_SIZE, 16383),
      ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(
      zttp_config_set_limit(cfg, ZTTP_LIMIT_H2_MAX_FRAME_SIZE, 16777216),
      ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_limit(cfg, ZTTP_LIMIT_INPUT_BUFFER,
                                         ((uint64_t)1 << 31) + 1),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_limit(cfg, ZTTP_LIMIT_MAX_HEADER_BYTES,
                                         ((uint64_t)1 << 31) + 1),
                   ZTTP_ERR_INVALID_ARGUMENT);
  /* A refused value leaves the old one. */
  assert_int_equal(zttp_config_get_limit(cfg, &v, ZTTP_LIMIT_INPUT_BUFFER), 0);
  assert_int_equal(v, 131072);
  /* HTTP/1.1: the input buffer must hold a whole head. */
  int32_t a = zttp_config_set_limit(cfg, ZTTP_LIMIT_INPUT_BUFFER, 1024);
  int32_t b = zttp_config_set_limit(cfg, ZTTP_LIMIT_MAX_HEADER_BYTES, 2048);
  zttp_conn *conn = NULL;
  int32_t c = zttp_conn_new(&conn, cfg, ZTTP_SERVER, ZTTP_HTTP1);
  assert_true(a == ZTTP_ERR_INVALID_ARGUMENT ||
              b == ZTTP_ERR_INVALID_ARGUMENT || c == ZTTP_ERR_INVALID_ARGUMENT);
  zttp_conn_free(conn);
  zttp_config_free(cfg);
}

static void test_defaults_enforced(void **state) {
  (void)state;
  start_line_case(8192, 0);
  headers_case(128, 0);
  header_bytes_case(65536, 0);
  trailers_case(32, 0);
  trailer_bytes_case(8192, 0);
  chunk_ext_case(1024, 0);
}

/* ---- input buffer backpressure
 * -------------------------------------------------------- */

static void body_pattern(h_str *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = (char)('a' + i % 26);
    h_str_add(s, &c, 1);
  }
}

static void test_input_buffer(void **state) {
  (void)state;
  zttp_config *cfg = h_cfg_new(0,
                               H_LIMITS({ZTTP_LIMIT_INPUT_BUFFER, 256},
                                        {ZTTP_LIMIT_MAX_HEADER_BYTES, 256},
                                        {ZTTP_LIMIT_MAX_TRAILER_BYTES, 256}),
                               NULL);
  h_str in = {0}, exp = {0};
  h_str_adds(&in, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n");
  body_pattern(&in, 1000);
  h_str_adds(&in, "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
  h_str_adds(&exp, "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
                   "  Content-Length=1000\nDATA s=0 ");
  body_pattern(&exp, 1000);
  h_str_adds(&exp, "\nEND s=0\nREQUEST s=0 f=es GET /2 path=/2 host=a v=11\n"
                   "  Host=a\nEND s=0\n");

  /* The first call fills the buffer exactly; a second one takes nothing
   * until events are pulled. */
  zttp_conn *conn = NULL;
  assert_int_equal(zttp_conn_new(&conn, cfg, S, ZTTP_HTTP1), 0);
  assert_int_equal(zttp_conn_receive_data(conn, (const uint8_t *)in.p, in.len),
                   256);
  assert_int_equal(
      zttp_conn_receive_data(conn, (const uint8_t *)in.p + 256, in.len - 256),
      0);
  h_rec r;
  h_rec_init(&r);
  assert_true(h_drain(conn, &r, NULL, NULL) > 0);
  assert_int_equal(
      h_feed(conn, &r, (const uint8_t *)in.p + 256, in.len - 256, NULL, NULL),
      0);
  assert_string_equal(h_rec_text(&r), exp.p);
  h_rec_free(&r);
  zttp_conn_free(conn);

  /* Every split gives the same events. */
  h_script s = script(S, cfg);
  h_every_split(&s, in.p, in.len, exp.p);

  /* A head exactly as large as the buffer still fits. */
  h_str big = {0}, bexp = {0};
  head_bytes(0, &big, &bexp, 256);
  check_transcript(&s, &big, bexp.p);
  h_str_free(&big);
  h_str_free(&bexp);
  h_str_free(&in);
  h_str_free(&exp);
  zttp_config_free(cfg);
}

/* ---- pipeline backpressure
 * ------------------------------------------------------------ */

#define GET_N(n) "GET /" #n " HTTP/1.1\r\nHost: a\r\n\r\n"
#define REQ_N(n)                                                               \
  "REQUEST s=0 f=es GET /" #n " path=/" #n " host=a v=11\n  Host=a\nEND s=0\n"
#define OK0 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

static void answer(zttp_conn *conn) {
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  char *out = h_take_output(conn, NULL);
  assert_string_equal(out, OK0);
  free(out);
}

static void test_server_pipeline(void **state) {
  (void)state;
  zttp_config *cfg =
      h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_H1_MAX_PIPELINE, 2}), NULL);
  static const char all[] = GET_N(1) GET_N(2) GET_N(3) GET_N(4);
  const size_t one = sizeof(GET_N(1)) - 1;

  /* Everything offered at once: only two requests come out. */
  zttp_conn *conn = NULL;
  assert_int_equal(zttp_conn_new(&conn, cfg, S, ZTTP_HTTP1), 0);
  h_rec r;
  h_rec_init(&r);
  int64_t fed =
      h_feed(conn, &r, (const uint8_t *)all, sizeof(all) - 1, NULL, NULL);
  assert_true(fed == 0 || fed == 2);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.num_requests, 2);
  zttp_event ev;
  assert_int_equal(zttp_conn_next_event(conn, &ev), 0);
  assert_int_equal(ev.kind, ZTTP_EVENT_NEED_DATA);
  zttp_conn_free(conn);
  h_rec_free(&r);

  /* Two requests in, the third is refused until one is answered. */
  assert_int_equal(zttp_conn_new(&conn, cfg, S, ZTTP_HTTP1), 0);
  h_rec_init(&r);
  assert_int_equal(h_feed(conn, &r, (const uint8_t *)all, 2 * one, NULL, NULL),
                   0);
  assert_string_equal(h_rec_text(&r), REQ_N(1) REQ_N(2));
  /* receive_data may buffer the third request (taking "less" only once the
   * input buffer is full) but must not parse it. */
  int64_t took =
      zttp_conn_receive_data(conn, (const uint8_t *)all + 2 * one, one);
  assert_true(took >= 0 && took <= (int64_t)one);
  assert_int_equal(h_drain(conn, &r, NULL, NULL), 0);
  answer(conn);
  assert_int_equal(h_feed(conn, &r, (const uint8_t *)all + 2 * one + took,
                          one - (size_t)took, NULL, NULL),
                   0);
  assert_string_equal(h_rec_text(&r), REQ_N(1) REQ_N(2) REQ_N(3));
  answer(conn);
  answer(conn);
  assert_int_equal(
      h_feed(conn, &r, (const uint8_t *)all + 3 * one, one, NULL, NULL), 0);
  assert_string_equal(h_rec_text(&r), REQ_N(1) REQ_N(2) REQ_N(3) REQ_N(4));
  h_rec_free(&r);
  zttp_conn_free(conn);
  zttp_config_free(cfg);
}

/* Answers every request as soon as it ends. */
static void auto_answer(zttp_conn *conn, const zttp_event *ev, void *arg) {
  (void)arg;
  if (ev->kind == ZTTP_EVENT_END_MESSAGE) {
    answer(conn);
  }
}

static void test_server_pipeline_every_split(void **state) {
  (void)state;
  zttp_config *cfg =
      h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_H1_MAX_PIPELINE, 1}), NULL);
  h_script s = script(S, cfg);
  s.on_event = auto_answer;
  s.eof = 1;
  h_every_split_s(&s, GET_N(1) GET_N(2) GET_N(3),
                  REQ_N(1) REQ_N(2) REQ_N(3) "CLOSED error=0 wire=0\n");
  zttp_config_free(cfg);
}

static void test_client_pipeline(void **state) {
  (void)state;
  zttp_config *cfg =
      h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_H1_MAX_PIPELINE, 2}), NULL);
  zttp_conn *conn = NULL;
  assert_int_equal(zttp_conn_new(&conn, cfg, C, ZTTP_HTTP1), 0);
  h_send_req(conn, "GET", "/1", "a");
  h_send_req(conn, "GET", "/2", "a");
  zttp_header h = h_hdr("Host", "a");
  assert_int_equal(zttp_conn_send_request(conn, "GET", 3, "/3", 2, &h, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_INVALID_STATE);
  const uint8_t *p = NULL;
  assert_int_equal(zttp_conn_pending(conn, &p), 0);
  assert_int_equal(zttp_conn_last_error(conn, NULL, NULL, NULL),
                   ZTTP_ERR_INVALID_STATE);
  h_rec r;
  h_rec_init(&r);
  assert_int_equal(
      h_feed(conn, &r, (const uint8_t *)OK0, sizeof(OK0) - 1, NULL, NULL), 0);
  assert_int_equal(r.num_ends, 1);
  h_send_req(conn, "GET", "/3", "a");
  assert_int_equal(zttp_conn_send_request(conn, "GET", 3, "/4", 2, &h, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(h_feed(conn, &r, (const uint8_t *)OK0 OK0,
                          2 * (sizeof(OK0) - 1), NULL, NULL),
                   0);
  assert_int_equal(r.num_ends, 3);
  assert_int_equal(r.error, 0);
  h_rec_free(&r);
  zttp_conn_free(conn);
  zttp_config_free(cfg);
}

/* ---- output buffer
 * --------------------------------------------------------------------- */

static void test_output_buffer(void **state) {
  (void)state;
  zttp_config *cfg =
      h_cfg_new(0, H_LIMITS({ZTTP_LIMIT_OUTPUT_BUFFER, 256}), NULL);
  zttp_conn *srv = NULL, *cli = NULL;
  assert_int_equal(zttp_conn_new(&srv, cfg, S, ZTTP_HTTP1), 0);
  assert_int_equal(zttp_conn_new(&cli, cfg, C, ZTTP_HTTP1), 0);
  h_rec sr, cr;
  h_rec_init(&sr);
  h_rec_init(&cr);
  zttp_header host = h_hdr("Host", "a");
  assert_int_equal(zttp_conn_send_request(cli, "GET", 3, "/", 1, &host, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  assert_int_equal(h_transfer(cli, srv, &sr, NULL, NULL), 0);
  assert_int_equal(sr.num_ends, 1);
  assert_int_equal(zttp_conn_send_response(srv, 0, 200, NULL, 0, NULL, 0, 0),
                   0);
  h_str body = {0};
  body_pattern(&body, 1000);
  size_t sent = 0;
  int rounds = 0;
  while (sent < body.len) {
    int64_t n = zttp_conn_send_data(srv, 0, (const uint8_t *)body.p + sent,
                                    body.len - sent, 0);
    assert_true(n >= 0);
    if (rounds == 0) {
      /* 1000 bytes cannot fit in a 256-byte output buffer. */
      assert_true(n < (int64_t)body.len);
    }
    const uint8_t *p = NULL;
    assert_true(zttp_conn_pending(srv, &p) > 0 || n > 0);
    sent += (size_t)n;
    assert_int_equal(h_transfer(srv, cli, &cr, NULL, NULL), 0);
    assert_true(++rounds < 1000);
  }
  assert_true(rounds > 1);
  assert_int_equal(zttp_conn_end_message(srv, 0, NULL, 0), 0);
  assert_int_equal(h_transfer(srv, cli, &cr, NULL, NULL), 0);
  h_str exp = {0};
  h_str_adds(&exp, "RESPONSE s=0 f=- 200 v=11 reason=OK\n"
                   "  Transfer-Encoding=chunked\nDATA s=0 ");
  h_str_add(&exp, body.p, body.len);
  h_str_adds(&exp, "\nEND s=0\n");
  assert_string_equal(h_rec_text(&cr), exp.p);
  h_str_free(&exp);
  h_str_free(&body);
  h_rec_free(&sr);
  h_rec_free(&cr);
  zttp_conn_free(srv);
  zttp_conn_free(cli);
  zttp_config_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_line),
      cmocka_unit_test(test_header_count),
      cmocka_unit_test(test_header_bytes),
      cmocka_unit_test(test_trailer_count),
      cmocka_unit_test(test_trailer_bytes),
      cmocka_unit_test(test_trailer_bytes_empty_section),
      cmocka_unit_test(test_chunk_ext),
      cmocka_unit_test(test_default_values),
      cmocka_unit_test(test_defaults_enforced),
      cmocka_unit_test(test_input_buffer),
      cmocka_unit_test(test_server_pipeline),
      cmocka_unit_test(test_server_pipeline_every_split),
      cmocka_unit_test(test_client_pipeline),
      cmocka_unit_test(test_output_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
