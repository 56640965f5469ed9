/* HTTP/1.1 rejection rules (notes/h1-behaviour.md "Rejections"): every rule
 * with its exact error code in the server and client roles, the poisoning
 * that follows, each lenient flag turning the rejection into the documented
 * acceptance, and the serializer's refusals.
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

/* Client role: the request the response input answers (method in arg). */
static void client_setup(zttp_conn *conn, void *arg) {
  const char *method = arg != NULL ? arg : "GET";
  if (strcmp(method, "CONNECT") == 0) {
    h_send_req(conn, method, "a:443", "a:443");
  } else {
    h_send_req(conn, method, "/", "a");
  }
}

static h_script script(uint32_t role, const zttp_config *cfg,
                       const char *method) {
  h_script s;
  memset(&s, 0, sizeof(s));
  s.role = role;
  s.cfg = cfg;
  if (role == C) {
    s.setup = client_setup;
    s.arg = (void *)(uintptr_t)method;
  }
  return s;
}

/* The config and connection of the current check live here, so that a
 * failed assertion (a longjmp) leaks nothing: the next check or the group
 * teardown frees them. */
static zttp_config *g_cfg;
static zttp_conn *g_conn;

static zttp_config *fresh_cfg(uint32_t lenient) {
  zttp_conn_free(g_conn);
  g_conn = NULL;
  zttp_config_free(g_cfg);
  g_cfg = h_cfg_new(lenient, NULL, NULL);
  return g_cfg;
}

static int free_slots(void **state) {
  (void)state;
  zttp_conn_free(g_conn);
  g_conn = NULL;
  zttp_config_free(g_cfg);
  g_cfg = NULL;
  return 0;
}

/* A new connection in the slot (the previous one is freed). */
static zttp_conn *slot_conn(uint32_t role) {
  zttp_conn_free(g_conn);
  g_conn = NULL;
  assert_int_equal(zttp_conn_new(&g_conn, NULL, role, ZTTP_HTTP1), 0);
  return g_conn;
}

/* Asserts that |input| fails with |code|: the whole-feed transcript ends in
 * "ERROR <code>", every split gives the same transcript, and the connection
 * is poisoned afterwards. */
static void reject_full(uint32_t role, const char *method, uint32_t lenient,
                        int eof, const char *input, size_t len, int32_t code) {
  zttp_config *cfg = fresh_cfg(lenient);
  h_script s = script(role, cfg, method);
  s.eof = eof;
  char *whole = h_transcript_whole(&s, input, len);
  h_str want = {0};
  h_str_addf(&want, "ERROR %s\n", h_errname(code));
  size_t wl = strlen(whole);
  if (wl < want.len || strcmp(whole + wl - want.len, want.p) != 0) {
    h_str in = {0};
    h_str_add_escaped(&in, input, len);
    print_error("input (%s, lenient 0x%x): %s\nexpected last line: %s"
                "transcript:\n%s",
                role == S ? "server" : "client", lenient, in.p, want.p, whole);
    h_str_free(&in);
    h_str_free(&want);
    free(whole);
    fail();
  }
  h_str_free(&want);
  h_every_split(&s, input, len, whole);
  free(whole);

  /* Poisoning, fed whole. */
  assert_int_equal(zttp_conn_new(&g_conn, cfg, role, ZTTP_HTTP1), 0);
  zttp_conn *conn = g_conn;
  if (s.setup != NULL) {
    s.setup(conn, s.arg);
  }
  h_rec r;
  h_rec_init(&r);
  int64_t rv = h_feed(conn, &r, (const uint8_t *)input, len, NULL, NULL);
  if (rv == 0 && eof) {
    rv = h_feed_eof(conn, &r, NULL, NULL);
  }
  int32_t got = r.error;
  h_rec_free(&r);
  assert_int_equal(got, code);
  h_expect_poisoned(conn, role, code);
}

#define REJ(role, lenient, lit, code)                                          \
  reject_full((role), NULL, (lenient), 0, (lit), sizeof(lit) - 1, (code))
#define REJ_EOF(role, lit, code)                                               \
  reject_full((role), NULL, 0, 1, (lit), sizeof(lit) - 1, (code))

/* Asserts the exact transcript of |input| under |lenient|, for every split. */
static void accept_full(uint32_t role, const char *method, uint32_t lenient,
                        int eof, const char *input, size_t len,
                        const char *expected) {
  zttp_config *cfg = fresh_cfg(lenient);
  h_script s = script(role, cfg, method);
  s.eof = eof;
  h_every_split(&s, input, len, expected);
}

#define ACC(role, lenient, lit, expected)                                      \
  accept_full((role), NULL, (lenient), 0, (lit), sizeof(lit) - 1, (expected))

#define RL "GET / HTTP/1.1\r\n"
#define HOST "Host: a\r\n"
#define POST "POST / HTTP/1.1\r\nHost: a\r\n"
#define OK200 "HTTP/1.1 200 OK\r\n"
#define REQ_GET "REQUEST s=0 f=es GET / path=/ host=a v=11\n  Host=a\n"

/* ---- line ends --------------------------------------------------------- */

static void test_bare_lf(void **state) {
  (void)state;
  REJ(S, 0, "GET / HTTP/1.1\nHost: a\r\n\r\n", ZTTP_ERR_BARE_LF);
  REJ(S, 0, RL "Host: a\n\r\n", ZTTP_ERR_BARE_LF);
  REJ(S, 0, RL HOST "X: b\r\n\n", ZTTP_ERR_BARE_LF);
  REJ(S, 0, POST "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
      ZTTP_ERR_BARE_LF);
  REJ(S, 0, POST "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
      ZTTP_ERR_BARE_LF);
  REJ(S, 0, POST "Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n",
      ZTTP_ERR_BARE_LF);
  REJ(S, 0, POST "Transfer-Encoding: chunked\r\n\r\n0\r\n\n", ZTTP_ERR_BARE_LF);
  REJ(C, 0, "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", ZTTP_ERR_BARE_LF);
  REJ(C, 0, OK200 "Content-Length: 0\n\r\n", ZTTP_ERR_BARE_LF);
  REJ(C, 0, OK200 "Transfer-Encoding: chunked\r\n\r\n2\nhi\r\n0\r\n\r\n",
      ZTTP_ERR_BARE_LF);
}

static void test_bare_lf_lenient(void **state) {
  (void)state;
  ACC(S, ZTTP_LENIENT_BARE_LF, "GET / HTTP/1.1\nHost: a\nX: b\n\n",
      "REQUEST s=0 f=es GET / path=/ host=a v=11\n  Host=a\n  X=b\nEND s=0\n");
  ACC(S, ZTTP_LENIENT_BARE_LF,
      "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"
      "5;e=1\nhello\n0\nT: v\n\n",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Transfer-Encoding=chunked\nDATA s=0 hello\nEND s=0\n  trailer T=v\n");
  ACC(C, ZTTP_LENIENT_BARE_LF, "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",
      "RESPONSE s=0 f=- 200 v=11 reason=OK\n  Content-Length=2\n"
      "DATA s=0 hi\nEND s=0\n");
}

static void test_bare_cr(void **state) {
  (void)state;
  REJ(S, 0, RL HOST "X: a\rb\r\n\r\n", ZTTP_ERR_BARE_CR);
  REJ(S, 0, RL HOST "X: a\r\r\n\r\n", ZTTP_ERR_BARE_CR);
  REJ(S, 0, RL HOST "\rX\r\n\r\n", ZTTP_ERR_BARE_CR);
  REJ(S, 0, "GET / HTTP/1.1\rX\r\n" HOST "\r\n", ZTTP_ERR_BARE_CR);
  REJ(S, 0, POST "Transfer-Encoding: chunked\r\n\r\n0\r\nT: a\rb\r\n\r\n",
      ZTTP_ERR_BARE_CR);
  REJ(C, 0, OK200 "X: a\rb\r\nContent-Length: 0\r\n\r\n", ZTTP_ERR_BARE_CR);
}

static void test_bare_cr_lenient(void **state) {
  (void)state;
  /* RFC 9112 §2.2: a bare CR in a value is replaced by SP. */
  ACC(S, ZTTP_LENIENT_BARE_CR, RL HOST "X: a\rb\r\n\r\n",
      REQ_GET "  X=a b\nEND s=0\n");
  ACC(C, ZTTP_LENIENT_BARE_CR, OK200 "X: a\rb\r\nContent-Length: 0\r\n\r\n",
      "RESPONSE s=0 f=es 200 v=11 reason=OK\n  X=a b\n  Content-Length=0\n"
      "END s=0\n");
}

/* ---- field syntax ------------------------------------------------------ */

static void test_obs_fold(void **state) {
  (void)state;
  REJ(S, 0, RL HOST "X: a\r\n b\r\n\r\n", ZTTP_ERR_OBS_FOLD);
  REJ(S, 0, RL HOST "X: a\r\n\tb\r\n\r\n", ZTTP_ERR_OBS_FOLD);
  /* A first field line that starts with whitespace (RFC 9112 §2.2). */
  REJ(S, 0, RL " Host: a\r\n\r\n", ZTTP_ERR_OBS_FOLD);
  REJ(S, 0, POST "Transfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n b\r\n\r\n",
      ZTTP_ERR_OBS_FOLD);
  REJ(C, 0, OK200 "X: a\r\n b\r\nContent-Length: 0\r\n\r\n", ZTTP_ERR_OBS_FOLD);
}

static void test_obs_fold_lenient(void **state) {
  (void)state;
  /* RFC 9112 §5.2: obs-fold (OWS CRLF RWS) is replaced by one SP. */
  ACC(S, ZTTP_LENIENT_OBS_FOLD, RL HOST "X: a\r\n b\r\n\r\n",
      REQ_GET "  X=a b\nEND s=0\n");
  ACC(S, ZTTP_LENIENT_OBS_FOLD, RL HOST "X: a\r\n\tb\r\nY: c\r\n\r\n",
      REQ_GET "  X=a b\n  Y=c\nEND s=0\n");
  /* Whitespace before the first field line: the line is ignored. */
  ACC(S, ZTTP_LENIENT_OBS_FOLD, RL " X: y\r\n" HOST "\r\n",
      REQ_GET "END s=0\n");
  ACC(C, ZTTP_LENIENT_OBS_FOLD, OK200 "X: a\r\n b\r\nContent-Length: 0\r\n\r\n",
      "RESPONSE s=0 f=es 200 v=11 reason=OK\n  X=a b\n  Content-Length=0\n"
      "END s=0\n");
}

static void test_space_before_colon(void **state) {
  (void)state;
  REJ(S, 0, RL HOST "X-A : b\r\n\r\n", ZTTP_ERR_SPACE_BEFORE_COLON);
  REJ(S, 0, RL HOST "X-A\t: b\r\n\r\n", ZTTP_ERR_SPACE_BEFORE_COLON);
  REJ(C, 0, OK200 "X-A : b\r\nContent-Length: 0\r\n\r\n",
      ZTTP_ERR_SPACE_BEFORE_COLON);
  ACC(S, ZTTP_LENIENT_SPACE_BEFORE_COLON, RL HOST "X-A : b\r\n\r\n",
      REQ_GET "  X-A=b\nEND s=0\n");
  ACC(S, ZTTP_LENIENT_SPACE_BEFORE_COLON, RL HOST "X-A \t: b\r\n\r\n",
      REQ_GET "  X-A=b\nEND s=0\n");
  ACC(C, ZTTP_LENIENT_SPACE_BEFORE_COLON,
      OK200 "X-A : b\r\nContent-Length: 0\r\n\r\n",
      "RESPONSE s=0 f=es 200 v=11 reason=OK\n  X-A=b\n  Content-Length=0\n"
      "END s=0\n");
}

static void test_bad_header_name(void **state) {
  (void)state;
  REJ(S, 0, RL HOST "X@Y: a\r\n\r\n", ZTTP_ERR_BAD_HEADER_NAME);
  REJ(S, 0, RL HOST "X\"Y: a\r\n\r\n", ZTTP_ERR_BAD_HEADER_NAME);
  REJ(S, 0, RL HOST "X(Y: a\r\n\r\n", ZTTP_ERR_BAD_HEADER_NAME);
  REJ(S, 0, RL HOST ": a\r\n\r\n", ZTTP_ERR_BAD_HEADER_NAME);
  REJ(S, 0, RL HOST "\xc3\xa9: a\r\n\r\n", ZTTP_ERR_BAD_HEADER_NAME);
  REJ(S, 0, RL HOST "X\x01Y: a\r\n\r\n", ZTTP_ERR_BAD_HEADER_NAME);
  REJ(S, 0, RL HOST "X-No-Colon\r\n\r\n", ZTTP_ERR_BAD_HEADER_NAME);
  REJ(S, 0, POST "Transfer-Encoding: chunked\r\n\r\n0\r\nT@: a\r\n\r\n",
      ZTTP_ERR_BAD_HEADER_NAME);
  REJ(C, 0, OK200 "X@Y: a\r\nContent-Length: 0\r\n\r\n",
      ZTTP_ERR_BAD_HEADER_NAME);
}

static void test_bad_header_value(void **state) {
  (void)state;
  REJ(S, 0,
      RL HOST "X: a\x01"
              "b\r\n\r\n",
      ZTTP_ERR_BAD_HEADER_VALUE);
  REJ(S, 0,
      RL HOST "X: a\x7f"
              "b\r\n\r\n",
      ZTTP_ERR_BAD_HEADER_VALUE);
  REJ(S, 0,
      RL HOST "X: a\x00"
              "b\r\n\r\n",
      ZTTP_ERR_BAD_HEADER_VALUE);
  REJ(S, 0, RL HOST "X: \x1b[0m\r\n\r\n", ZTTP_ERR_BAD_HEADER_VALUE);
  REJ(S, 0,
      "GET / HTTP/1.1\r\nHost: a\x0b"
      "b\r\n\r\n",
      ZTTP_ERR_BAD_HEADER_VALUE);
  REJ(S, 0, POST "Transfer-Encoding: chunked\r\n\r\n0\r\nT: a\x01\r\n\r\n",
      ZTTP_ERR_BAD_HEADER_VALUE);
  REJ(C, 0, OK200 "X: a\x7f\r\nContent-Length: 0\r\n\r\n",
      ZTTP_ERR_BAD_HEADER_VALUE);
  /* HTAB and obs-text are allowed; surrounding SP/HTAB is removed. */
  ACC(S, 0, RL HOST "X: a\tb\r\nY: caf\xc3\xa9\r\nZ: \t a b \t\r\nE:\r\n\r\n",
      REQ_GET "  X=a\\tb\n  Y=caf\\xc3\\xa9\n  Z=a b\n  E=\nEND s=0\n");
}

/* ---- framing ----------------------------------------------------------- */

static void test_bad_content_length(void **state) {
  (void)state;
  static const char *const bad[] = {
      "+5",
      "5 5",
      "0x5",
      "",
      "-1",
      "5a",
      "a",
      "9223372036854775808",
      "18446744073709551616",
      "99999999999999999999999",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    h_str in = {0};
    h_str_addf(&in, POST "Content-Length: %s\r\n\r\nhello", bad[i]);
    reject_full(S, NULL, 0, 0, in.p, in.len, ZTTP_ERR_BAD_CONTENT_LENGTH);
    h_str_free(&in);
  }
  REJ(C, 0, OK200 "Content-Length: abc\r\n\r\n", ZTTP_ERR_BAD_CONTENT_LENGTH);
  REJ(C, 0, OK200 "Content-Length: 1 2\r\n\r\n", ZTTP_ERR_BAD_CONTENT_LENGTH);
  /* The largest value is accepted. */
  ACC(S, 0, POST "Content-Length: 9223372036854775807\r\n\r\nab",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Content-Length=9223372036854775807\nDATA s=0 ab\n");
  /* Leading zeros are digits. */
  ACC(S, 0, POST "Content-Length: 005\r\n\r\nhello",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Content-Length=005\nDATA s=0 hello\nEND s=0\n");
}

static void test_content_length_lenient(void **state) {
  (void)state;
  ACC(S, ZTTP_LENIENT_CONTENT_LENGTH, POST "Content-Length: +5\r\n\r\nhello",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Content-Length=+5\nDATA s=0 hello\nEND s=0\n");
  ACC(C, ZTTP_LENIENT_CONTENT_LENGTH, OK200 "Content-Length: +2\r\n\r\nhi",
      "RESPONSE s=0 f=- 200 v=11 reason=OK\n  Content-Length=+2\n"
      "DATA s=0 hi\nEND s=0\n");
  /* Hex and overflow are never accepted. */
  reject_full(S, NULL, ZTTP_LENIENT_CONTENT_LENGTH, 0,
              POST "Content-Length: 0x5\r\n\r\nhello",
              sizeof(POST "Content-Length: 0x5\r\n\r\nhello") - 1,
              ZTTP_ERR_BAD_CONTENT_LENGTH);
  reject_full(S, NULL, ZTTP_LENIENT_CONTENT_LENGTH, 0,
              POST "Content-Length: 9223372036854775808\r\n\r\n",
              sizeof(POST "Content-Length: 9223372036854775808\r\n\r\n") - 1,
              ZTTP_ERR_BAD_CONTENT_LENGTH);
  reject_full(S, NULL, ZTTP_LENIENT_CONTENT_LENGTH, 0,
              POST "Content-Length: 5 5\r\n\r\nhello",
              sizeof(POST "Content-Length: 5 5\r\n\r\nhello") - 1,
              ZTTP_ERR_BAD_CONTENT_LENGTH);
}

static void test_conflicting_content_length(void **state) {
  (void)state;
  REJ(S, 0, POST "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      ZTTP_ERR_CONFLICTING_CONTENT_LENGTH);
  REJ(S, 0, POST "Content-Length: 5, 6\r\n\r\nhello!",
      ZTTP_ERR_CONFLICTING_CONTENT_LENGTH);
  REJ(C, 0, OK200 "Content-Length: 2\r\nContent-Length: 3\r\n\r\nhi!",
      ZTTP_ERR_CONFLICTING_CONTENT_LENGTH);
  /* Identical duplicates, as fields or list elements, are accepted. */
  ACC(S, 0, POST "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Content-Length=5\n  Content-Length=5\nDATA s=0 hello\nEND s=0\n");
  ACC(S, 0, POST "Content-Length: 5, 5\r\n\r\nhello",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Content-Length=5, 5\nDATA s=0 hello\nEND s=0\n");
  /* Lenient: the first value is used. */
  ACC(S, ZTTP_LENIENT_CONFLICTING_CONTENT_LENGTH,
      POST "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Content-Length=5\n  Content-Length=6\nDATA s=0 hello\nEND s=0\n");
  ACC(C, ZTTP_LENIENT_CONFLICTING_CONTENT_LENGTH,
      OK200 "Content-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
      "RESPONSE s=0 f=- 200 v=11 reason=OK\n  Content-Length=2\n"
      "  Content-Length=3\nDATA s=0 hi\nEND s=0\n");
  ACC(S, ZTTP_LENIENT_CONFLICTING_CONTENT_LENGTH,
      POST "Content-Length: 5, 6\r\n\r\nhello",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Content-Length=5, 6\nDATA s=0 hello\nEND s=0\n");
}

#define CHUNKED_HELLO "5\r\nhello\r\n0\r\n\r\n"

static void test_cl_and_te(void **state) {
  (void)state;
  REJ(S, 0,
      POST
      "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" CHUNKED_HELLO,
      ZTTP_ERR_CL_AND_TE);
  REJ(S, 0,
      POST
      "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" CHUNKED_HELLO,
      ZTTP_ERR_CL_AND_TE);
  REJ(C, 0,
      OK200
      "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" CHUNKED_HELLO,
      ZTTP_ERR_CL_AND_TE);
  /* Lenient: the coding wins and the connection closes afterwards. */
  ACC(S, ZTTP_LENIENT_CL_AND_TE,
      POST
      "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" CHUNKED_HELLO,
      "REQUEST s=0 f=close POST / path=/ host=a v=11\n  Host=a\n"
      "  Content-Length=3\n  Transfer-Encoding=chunked\nDATA s=0 hello\n"
      "END s=0\n");
  ACC(C, ZTTP_LENIENT_CL_AND_TE,
      OK200
      "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" CHUNKED_HELLO,
      "RESPONSE s=0 f=close 200 v=11 reason=OK\n  Content-Length=3\n"
      "  Transfer-Encoding=chunked\nDATA s=0 hello\nEND s=0\n");
}

static void test_cl_and_te_lenient_closes(void **state) {
  (void)state;
  zttp_config *cfg = h_cfg_new(ZTTP_LENIENT_CL_AND_TE, NULL, NULL);
  zttp_conn *conn = NULL;
  assert_int_equal(zttp_conn_new(&conn, cfg, S, ZTTP_HTTP1), 0);
  static const char in[] = POST
      "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" CHUNKED_HELLO;
  h_rec r;
  h_rec_init(&r);
  assert_int_equal(
      h_feed(conn, &r, (const uint8_t *)in, sizeof(in) - 1, NULL, NULL), 0);
  assert_int_equal(r.num_ends, 1);
  h_rec_free(&r);
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  char *out = h_take_output(conn, NULL);
  assert_string_equal(out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                           "Connection: close\r\n\r\n");
  free(out);
  assert_int_equal(zttp_conn_should_close(conn), 1);
  zttp_conn_free(conn);
  zttp_config_free(cfg);
}

static void test_bad_transfer_encoding(void **state) {
  (void)state;
  REJ(S, 0, POST "Transfer-Encoding: chunked, gzip\r\n\r\n" CHUNKED_HELLO,
      ZTTP_ERR_BAD_TRANSFER_ENCODING);
  REJ(S, 0, POST "Transfer-Encoding: chunked, chunked\r\n\r\n" CHUNKED_HELLO,
      ZTTP_ERR_BAD_TRANSFER_ENCODING);
  REJ(S, 0,
      POST "Transfer-Encoding: chunked\r\nTransfer-Encoding: "
           "chunked\r\n\r\n" CHUNKED_HELLO,
      ZTTP_ERR_BAD_TRANSFER_ENCODING);
  REJ(S, 0,
      POST "Transfer-Encoding: chunked\r\nTransfer-Encoding: "
           "gzip\r\n\r\n" CHUNKED_HELLO,
      ZTTP_ERR_BAD_TRANSFER_ENCODING);
  REJ(S, 0, POST "Transfer-Encoding: gzip\r\n\r\nhello",
      ZTTP_ERR_BAD_TRANSFER_ENCODING);
  REJ(C, 0, OK200 "Transfer-Encoding: chunked, gzip\r\n\r\n" CHUNKED_HELLO,
      ZTTP_ERR_BAD_TRANSFER_ENCODING);
  REJ(C, 0, OK200 "Transfer-Encoding: chunked, chunked\r\n\r\n" CHUNKED_HELLO,
      ZTTP_ERR_BAD_TRANSFER_ENCODING);
  /* chunked last (any case) is fine; the other codings are not decoded. */
  ACC(S, 0, POST "Transfer-Encoding: gzip, Chunked\r\n\r\n" CHUNKED_HELLO,
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Transfer-Encoding=gzip, Chunked\nDATA s=0 hello\nEND s=0\n");
  /* A response whose codings do not end in chunked is read until close. */
  accept_full(
      C, NULL, 0, 1, OK200 "Transfer-Encoding: gzip\r\n\r\nabc\r\n0\r\n\r\n",
      sizeof(OK200 "Transfer-Encoding: gzip\r\n\r\nabc\r\n0\r\n\r\n") - 1,
      "RESPONSE s=0 f=close 200 v=11 reason=OK\n"
      "  Transfer-Encoding=gzip\nDATA s=0 abc\\r\\n0\\r\\n\\r\\n\n"
      "END s=0\nCLOSED error=0 wire=0\n");
}

static void test_transfer_encoding_lenient(void **state) {
  (void)state;
  uint32_t l = ZTTP_LENIENT_TRANSFER_ENCODING;
  /* Read as chunked, and the connection closes afterwards (notes,
   * "Decisions from the first test run"). */
  ACC(S, l, POST "Transfer-Encoding: chunked, gzip\r\n\r\n" CHUNKED_HELLO,
      "REQUEST s=0 f=close POST / path=/ host=a v=11\n  Host=a\n"
      "  Transfer-Encoding=chunked, gzip\nDATA s=0 hello\nEND s=0\n");
  ACC(S, l, POST "Transfer-Encoding: chunked, chunked\r\n\r\n" CHUNKED_HELLO,
      "REQUEST s=0 f=close POST / path=/ host=a v=11\n  Host=a\n"
      "  Transfer-Encoding=chunked, chunked\nDATA s=0 hello\nEND s=0\n");
  ACC(S, l,
      POST "Transfer-Encoding: chunked\r\nTransfer-Encoding: "
           "chunked\r\n\r\n" CHUNKED_HELLO,
      "REQUEST s=0 f=close POST / path=/ host=a v=11\n  Host=a\n"
      "  Transfer-Encoding=chunked\n  Transfer-Encoding=chunked\n"
      "DATA s=0 hello\nEND s=0\n");
  ACC(C, l, OK200 "Transfer-Encoding: chunked, gzip\r\n\r\n" CHUNKED_HELLO,
      "RESPONSE s=0 f=close 200 v=11 reason=OK\n"
      "  Transfer-Encoding=chunked, gzip\nDATA s=0 hello\nEND s=0\n");
}

#define TE_POST POST "Transfer-Encoding: chunked\r\n\r\n"

static void test_bad_chunk(void **state) {
  (void)state;
  REJ(S, 0, TE_POST "g\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "-5\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "0x5\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST " 5\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  /* More than 16 hex digits, even with leading zeros; overflow. */
  REJ(S, 0, TE_POST "00000000000000005\r\nhello\r\n0\r\n\r\n",
      ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "10000000000000000\r\nhello\r\n0\r\n\r\n",
      ZTTP_ERR_BAD_CHUNK);
  /* Bad extensions. */
  REJ(S, 0, TE_POST "5;\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "5;=x\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "5;a=\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "5;a@b\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "5;a=\"x\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "5;a=b\x01\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  /* Whitespace after the size (strict). */
  REJ(S, 0, TE_POST "5 \r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "5\t;a=b\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "5 ;a=b\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "5\r\nhello\r\n0 \r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  /* Missing CRLF after the chunk data. */
  REJ(S, 0, TE_POST "5\r\nhelloXY0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(S, 0, TE_POST "3\r\nhello\r\n0\r\n\r\n", ZTTP_ERR_BAD_CHUNK);
  REJ(C, 0, OK200 "Transfer-Encoding: chunked\r\n\r\nz\r\n",
      ZTTP_ERR_BAD_CHUNK);
  REJ(C, 0, OK200 "Transfer-Encoding: chunked\r\n\r\n2\r\nhi!\r\n",
      ZTTP_ERR_BAD_CHUNK);
  /* BWS after ';' and around '=' is accepted. */
  ACC(S, 0, TE_POST "5; a = b ;\tc\r\nhello\r\n0\r\n\r\n",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Transfer-Encoding=chunked\nDATA s=0 hello\nEND s=0\n");
  /* 16 hex digits, mixed case and valid extensions are fine. */
  ACC(S, 0,
      TE_POST "0000000000000005\r\nhello\r\n"
              "a;x;y=z;q=\"a \\\" b\"\r\n0123456789\r\nB\r\nABCDEFGHIJK\r\n"
              "0\r\n\r\n",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Transfer-Encoding=chunked\n"
      "DATA s=0 hello0123456789ABCDEFGHIJK\nEND s=0\n");
}

static void test_chunk_size_lenient(void **state) {
  (void)state;
  ACC(S, ZTTP_LENIENT_CHUNK_SIZE, TE_POST "5 \r\nhello\r\n0\t\r\n\r\n",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Transfer-Encoding=chunked\nDATA s=0 hello\nEND s=0\n");
  ACC(S, ZTTP_LENIENT_CHUNK_SIZE, TE_POST "5 ;a=b\r\nhello\r\n0\r\n\r\n",
      "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
      "  Transfer-Encoding=chunked\nDATA s=0 hello\nEND s=0\n");
  /* Still not 1*HEXDIG. */
  reject_full(S, NULL, ZTTP_LENIENT_CHUNK_SIZE, 0, TE_POST "g \r\nhello\r\n",
              sizeof(TE_POST "g \r\nhello\r\n") - 1, ZTTP_ERR_BAD_CHUNK);
}

/* ---- start lines
 * --------------------------------------------------------------- */

static void test_bad_version(void **state) {
  (void)state;
  static const char *const bad[] = {
      "HTTP/1.2", "HTTP/2.0", "HTTP/1.10", "http/1.1", "HTTP/1.",
      "HTTP/11",  "HTTP/0.9", "HTTP/1.1x", "HTTP 1.1", "HTTPS/1.1",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    h_str in = {0};
    h_str_addf(&in, "GET / %s\r\nHost: a\r\n\r\n", bad[i]);
    reject_full(S, NULL, 0, 0, in.p, in.len, ZTTP_ERR_BAD_VERSION);
    h_str_free(&in);
    h_str_addf(&in, "%s 200 OK\r\nContent-Length: 0\r\n\r\n", bad[i]);
    reject_full(C, NULL, 0, 0, in.p, in.len, ZTTP_ERR_BAD_VERSION);
    h_str_free(&in);
  }
}

static void test_version_lenient(void **state) {
  (void)state;
  uint32_t l = ZTTP_LENIENT_VERSION;
  ACC(S, l, "GET / HTTP/1.2\r\nHost: a\r\n\r\n", REQ_GET "END s=0\n");
  ACC(S, l, "GET / HTTP/1.9\r\nHost: a\r\n\r\n", REQ_GET "END s=0\n");
  ACC(S, l, "GET / HTTP/1.0\r\n\r\n",
      "REQUEST s=0 f=es,close GET / path=/ v=10\nEND s=0\n");
  ACC(C, l, "HTTP/1.5 200 OK\r\nContent-Length: 0\r\n\r\n",
      "RESPONSE s=0 f=es 200 v=11 reason=OK\n  Content-Length=0\nEND s=0\n");
  reject_full(S, NULL, l, 0, "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
              sizeof("GET / HTTP/2.0\r\nHost: a\r\n\r\n") - 1,
              ZTTP_ERR_BAD_VERSION);
  reject_full(S, NULL, l, 0, "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
              sizeof("GET / HTTP/1.10\r\nHost: a\r\n\r\n") - 1,
              ZTTP_ERR_BAD_VERSION);
}

static void test_bad_method(void **state) {
  (void)state;
  REJ(S, 0, "G@T / HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_METHOD);
  REJ(S, 0, "G(T / HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_METHOD);
  REJ(S, 0, "GE\x01T / HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_METHOD);
  REJ(S, 0, "G\xc3\xa9T / HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_METHOD);
  REJ(S, 0, " / HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_METHOD);
  REJ(S, 0, "GET\x7f / HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_METHOD);
  /* Any token is a method; methods are case-sensitive and kept as sent. */
  ACC(S, 0, "get / HTTP/1.1\r\n" HOST "\r\n",
      "REQUEST s=0 f=es get / path=/ host=a v=11\n  Host=a\nEND s=0\n");
  ACC(S, 0, "M-SEARCH * HTTP/1.1\r\n" HOST "\r\n",
      "REQUEST s=0 f=es M-SEARCH * path=* host=a v=11\n  Host=a\nEND s=0\n");
}

static void test_bad_target(void **state) {
  (void)state;
  REJ(S, 0,
      "GET /a\x01"
      "b HTTP/1.1\r\n" HOST "\r\n",
      ZTTP_ERR_BAD_TARGET);
  REJ(S, 0, "GET /\x7f HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_TARGET);
  REJ(S, 0, "GET /\xff HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_TARGET);
  REJ(S, 0, "GET /\x00 HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_TARGET);
  REJ(S, 0, "GET /a\tb HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_TARGET);
  REJ(S, 0, "GET  HTTP/1.1\r\n" HOST "\r\n", ZTTP_ERR_BAD_TARGET);
  ACC(S, 0, "GET /p?q=1?2&r HTTP/1.1\r\n" HOST "\r\n",
      "REQUEST s=0 f=es GET /p?q=1?2&r path=/p query=q=1?2&r host=a v=11\n"
      "  Host=a\nEND s=0\n");
  ACC(S, 0, "GET /p? HTTP/1.1\r\n" HOST "\r\n",
      "REQUEST s=0 f=es GET /p? path=/p query= host=a v=11\n"
      "  Host=a\nEND s=0\n");
  ACC(S, 0, "GET http://a/x?y HTTP/1.1\r\n" HOST "\r\n",
      "REQUEST s=0 f=es GET http://a/x?y path=http://a/x query=y host=a v=11\n"
      "  Host=a\nEND s=0\n");
}

static void test_bad_host(void **state) {
  (void)state;
  REJ(S, 0, RL "X: y\r\n\r\n", ZTTP_ERR_BAD_HOST);
  REJ(S, 0, RL "\r\n", ZTTP_ERR_BAD_HOST);
  REJ(S, 0, RL HOST "Host: b\r\n\r\n", ZTTP_ERR_BAD_HOST);
  REJ(S, 0, RL HOST "host: a\r\n\r\n", ZTTP_ERR_BAD_HOST);
  /* HTTP/1.0 needs none; the name is case-insensitive. */
  ACC(S, 0, "GET / HTTP/1.0\r\n\r\n",
      "REQUEST s=0 f=es,close GET / path=/ v=10\nEND s=0\n");
  ACC(S, 0, RL "hOST: a\r\n\r\n",
      "REQUEST s=0 f=es GET / path=/ host=a v=11\n  hOST=a\nEND s=0\n");
  /* Lenient. */
  ACC(S, ZTTP_LENIENT_HOST, RL "X: y\r\n\r\n",
      "REQUEST s=0 f=es GET / path=/ v=11\n  X=y\nEND s=0\n");
  zttp_config *cfg = h_cfg_new(ZTTP_LENIENT_HOST, NULL, NULL);
  h_script s = script(S, cfg, NULL);
  static const char two[] = RL HOST "Host: b\r\n\r\n";
  char *t = h_transcript_whole(&s, two, sizeof(two) - 1);
  /* Which Host becomes the authority is not specified: check the rest. */
  assert_non_null(strstr(t, "REQUEST s=0 f=es GET / path=/ host="));
  assert_non_null(strstr(t, " v=11\n  Host=a\n  Host=b\nEND s=0\n"));
  assert_null(strstr(t, "ERROR"));
  free(t);
  zttp_config_free(cfg);
}

static void test_bad_status(void **state) {
  (void)state;
  static const char *const bad[] = {
      "HTTP/1.1 099 X\r\n",   "HTTP/1.1 600 X\r\n",  "HTTP/1.1 20 OK\r\n",
      "HTTP/1.1 2000 OK\r\n", "HTTP/1.1 abc OK\r\n", "HTTP/1.1 200OK\r\n",
      "HTTP/1.1  200 OK\r\n", "HTTP/1.1 -20 OK\r\n", "HTTP/1.1 2x0 OK\r\n",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    h_str in = {0};
    h_str_addf(&in, "%sContent-Length: 0\r\n\r\n", bad[i]);
    reject_full(C, NULL, 0, 0, in.p, in.len, ZTTP_ERR_BAD_STATUS);
    h_str_free(&in);
  }
  ACC(C, 0, "HTTP/1.1 204\r\n\r\n",
      "RESPONSE s=0 f=es 204 v=11 reason=\nEND s=0\n");
  ACC(C, 0, "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n",
      "RESPONSE s=0 f=es 599 v=11 reason=\n  Content-Length=0\nEND s=0\n");
  ACC(C, 0, "HTTP/1.1 200 All  good\tthanks\r\nContent-Length: 0\r\n\r\n",
      "RESPONSE s=0 f=es 200 v=11 reason=All  good\\tthanks\n"
      "  Content-Length=0\nEND s=0\n");
}

/* ---- connection-level
 * ------------------------------------------------------------- */

static void test_unexpected_data(void **state) {
  (void)state;
  /* No request outstanding. */
  zttp_config *cfg = h_cfg_new(0, NULL, NULL);
  h_script s;
  memset(&s, 0, sizeof(s));
  s.role = C;
  s.cfg = cfg;
  static const char in[] = OK200 "Content-Length: 0\r\n\r\n";
  char *t = h_transcript_whole(&s, in, sizeof(in) - 1);
  assert_string_equal(t, "ERROR UNEXPECTED_DATA\n");
  free(t);
  h_every_split(&s, in, sizeof(in) - 1, "ERROR UNEXPECTED_DATA\n");
  zttp_conn *conn = NULL;
  assert_int_equal(zttp_conn_new(&conn, cfg, C, ZTTP_HTTP1), 0);
  h_rec r;
  h_rec_init(&r);
  h_feed(conn, &r, (const uint8_t *)in, sizeof(in) - 1, NULL, NULL);
  assert_int_equal(r.error, ZTTP_ERR_UNEXPECTED_DATA);
  h_rec_free(&r);
  h_expect_poisoned(conn, C, ZTTP_ERR_UNEXPECTED_DATA);
  zttp_conn_free(conn);
  zttp_config_free(cfg);
  /* One response too many. */
  REJ(C, 0, OK200 "Content-Length: 0\r\n\r\nX", ZTTP_ERR_UNEXPECTED_DATA);
  ACC(C, 0, OK200 "Content-Length: 0\r\n\r\n",
      "RESPONSE s=0 f=es 200 v=11 reason=OK\n  Content-Length=0\nEND s=0\n");
}

static void test_unexpected_eof(void **state) {
  (void)state;
  REJ_EOF(S, "G", ZTTP_ERR_UNEXPECTED_EOF);
  REJ_EOF(S, RL HOST, ZTTP_ERR_UNEXPECTED_EOF);
  REJ_EOF(S, RL HOST "\r", ZTTP_ERR_UNEXPECTED_EOF);
  REJ_EOF(S, POST "Content-Length: 5\r\n\r\nhel", ZTTP_ERR_UNEXPECTED_EOF);
  REJ_EOF(S, TE_POST "5\r\nhel", ZTTP_ERR_UNEXPECTED_EOF);
  REJ_EOF(S, TE_POST "5\r\nhello\r\n", ZTTP_ERR_UNEXPECTED_EOF);
  REJ_EOF(S, TE_POST "5\r\nhello\r\n0\r\n", ZTTP_ERR_UNEXPECTED_EOF);
  REJ_EOF(S, TE_POST "5\r\nhello\r\n0\r\nT: v\r\n", ZTTP_ERR_UNEXPECTED_EOF);
  REJ_EOF(C, "HTTP/1.1 200", ZTTP_ERR_UNEXPECTED_EOF);
  REJ_EOF(C, OK200 "Content-Length: 5\r\n\r\nhel", ZTTP_ERR_UNEXPECTED_EOF);
  REJ_EOF(C, OK200 "Transfer-Encoding: chunked\r\n\r\n5\r\nhel",
          ZTTP_ERR_UNEXPECTED_EOF);
  /* The transcript up to the error is exact. */
  accept_full(S, NULL, 0, 1, POST "Content-Length: 5\r\n\r\nhel",
              sizeof(POST "Content-Length: 5\r\n\r\nhel") - 1,
              "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
              "  Content-Length=5\nDATA s=0 hel\nERROR UNEXPECTED_EOF\n");
  /* EOF between messages is a clean close. */
  accept_full(S, NULL, 0, 1, RL HOST "\r\n", sizeof(RL HOST "\r\n") - 1,
              REQ_GET "END s=0\nCLOSED error=0 wire=0\n");
  accept_full(S, NULL, 0, 1, "", 0, "CLOSED error=0 wire=0\n");
}

/* ---- serializer refusals
 * ------------------------------------------------------------ */

typedef struct bad_field {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} bad_field;

#define BF(n, v)                                                               \
  { (n), sizeof(n) - 1, (v), sizeof(v) - 1 }

static const bad_field bad_fields[] = {
    BF("X Y", "a"),
    BF("X:Y", "a"),
    BF("", "a"),
    BF("X\r\nY", "a"),
    BF("X\x7f", "a"),
    BF("X(", "a"),
    BF("X\x00", "a"),
    BF("X\"", "a"),
    BF("\xc3\xa9", "a"),
    BF("X\t", "a"),
    BF("X@Y", "a"),
    BF("X", "a\r\nb"),
    BF("X", "a\rb"),
    BF("X", "a\nb"),
    BF("X", "a\x00"
            "b"),
    BF("X", "a\x01"
            "b"),
    BF("X", "a\x7f"
            "b"),
    BF("X", "a\r\n\r\nGET / HTTP/1.1"),
};

static void expect_nothing_queued(zttp_conn *conn, int64_t rv, size_t i,
                                  const char *what) {
  if (rv != ZTTP_ERR_INVALID_FIELD) {
    print_error("%s case %zu: got %s, want INVALID_FIELD\n", what, i,
                h_errname(rv));
    fail();
  }
  const uint8_t *p = NULL;
  assert_int_equal(zttp_conn_pending(conn, &p), 0);
  const char *msg = NULL;
  assert_int_equal(zttp_conn_last_error(conn, &msg, NULL, NULL),
                   ZTTP_ERR_INVALID_FIELD);
  assert_non_null(msg);
  assert_true(strlen(msg) > 0);
}

static void test_serializer_request_refusals(void **state) {
  (void)state;
  zttp_conn *conn = slot_conn(C);
  zttp_header host = h_hdr("Host", "a");
  static const struct {
    const char *s;
    size_t len;
  } methods[] = {{"GE T", 4}, {"GET\r\n", 5}, {"G\x00T", 3},    {"GE\x01T", 4},
                 {"G(T", 3},  {"GET\x7f", 4}, {"G\xc3\xa9T", 5}},
    targets[] = {{"/a b", 4},  {"/a\r\nX: y", 9}, {"/\x00", 2}, {"/\x7f", 2},
                 {"/\x01", 2}, {"/\n", 2},        {"/\r", 2}};
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
    expect_nothing_queued(conn,
                          zttp_conn_send_request(conn, methods[i].s,
                                                 methods[i].len, "/", 1, &host,
                                                 1, ZTTP_SEND_FLAG_END_STREAM),
                          i, "method");
  }
  for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
    expect_nothing_queued(conn,
                          zttp_conn_send_request(conn, "GET", 3, targets[i].s,
                                                 targets[i].len, &host, 1,
                                                 ZTTP_SEND_FLAG_END_STREAM),
                          i, "target");
  }
  for (size_t i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
    zttp_header h[2] = {host, {0}};
    h[1].name = bad_fields[i].name;
    h[1].name_len = bad_fields[i].name_len;
    h[1].value = bad_fields[i].value;
    h[1].value_len = bad_fields[i].value_len;
    expect_nothing_queued(conn,
                          zttp_conn_send_request(conn, "GET", 3, "/", 1, h, 2,
                                                 ZTTP_SEND_FLAG_END_STREAM),
                          i, "request field");
  }
  /* Host: none, two. */
  zttp_header x = h_hdr("X", "y");
  expect_nothing_queued(conn,
                        zttp_conn_send_request(conn, "GET", 3, "/", 1, &x, 1,
                                               ZTTP_SEND_FLAG_END_STREAM),
                        0, "no Host");
  zttp_header hh[2] = {host, h_hdr("host", "b")};
  expect_nothing_queued(conn,
                        zttp_conn_send_request(conn, "GET", 3, "/", 1, hh, 2,
                                               ZTTP_SEND_FLAG_END_STREAM),
                        0, "two Hosts");
  /* Ambiguous framing. */
  zttp_header f1[3] = {host, h_hdr("Content-Length", "5"),
                       h_hdr("Transfer-Encoding", "chunked")};
  expect_nothing_queued(
      conn, zttp_conn_send_request(conn, "POST", 4, "/", 1, f1, 3, 0), 0,
      "CL+TE");
  zttp_header f2[2] = {host, h_hdr("Transfer-Encoding", "gzip")};
  expect_nothing_queued(
      conn, zttp_conn_send_request(conn, "POST", 4, "/", 1, f2, 2, 0), 0,
      "TE gzip");
  zttp_header f3[2] = {host, h_hdr("Transfer-Encoding", "chunked, gzip")};
  expect_nothing_queued(
      conn, zttp_conn_send_request(conn, "POST", 4, "/", 1, f3, 2, 0), 0,
      "TE chunked, gzip");
  zttp_header f4[3] = {host, h_hdr("Content-Length", "5"),
                       h_hdr("Content-Length", "6")};
  expect_nothing_queued(
      conn, zttp_conn_send_request(conn, "POST", 4, "/", 1, f4, 3, 0), 0,
      "two CL");
  /* Not poisoned: a valid request goes out intact. */
  zttp_header ok[2] = {host, h_hdr("X", "a\tb")};
  assert_int_equal(zttp_conn_send_request(conn, "GET", 3, "/", 1, ok, 2,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  char *out = h_take_output(conn, NULL);
  assert_string_equal(out, "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n");
  free(out);
  assert_int_equal(zttp_conn_should_close(conn), 0);
}

/* A server connection with one GET waiting for its answer. */
static zttp_conn *server_with_request(const char *req) {
  zttp_conn *conn = slot_conn(S);
  h_rec r;
  h_rec_init(&r);
  assert_int_equal(
      h_feed(conn, &r, (const uint8_t *)req, strlen(req), NULL, NULL), 0);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.num_ends, 1);
  h_rec_free(&r);
  return conn;
}

static void test_serializer_response_refusals(void **state) {
  (void)state;
  zttp_conn *conn = server_with_request(RL HOST "\r\n");
  static const struct {
    const char *s;
    size_t len;
  } reasons[] = {{"O\r\nK", 4}, {"O\nK", 3}, {"O\x00K", 3},
                 {"O\x01K", 3}, {"O\rK", 3}, {"O\x7fK", 3}};
  for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
    expect_nothing_queued(conn,
                          zttp_conn_send_response(conn, 0, 200, reasons[i].s,
                                                  reasons[i].len, NULL, 0,
                                                  ZTTP_SEND_FLAG_END_STREAM),
                          i, "reason");
  }
  for (size_t i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
    zttp_header h = {0};
    h.name = bad_fields[i].name;
    h.name_len = bad_fields[i].name_len;
    h.value = bad_fields[i].value;
    h.value_len = bad_fields[i].value_len;
    expect_nothing_queued(conn,
                          zttp_conn_send_response(conn, 0, 200, NULL, 0, &h, 1,
                                                  ZTTP_SEND_FLAG_END_STREAM),
                          i, "response field");
    expect_nothing_queued(conn,
                          zttp_conn_send_informational(conn, 0, 103, &h, 1), i,
                          "informational field");
  }
  zttp_header f1[2] = {h_hdr("Content-Length", "5"),
                       h_hdr("Transfer-Encoding", "chunked")};
  expect_nothing_queued(
      conn, zttp_conn_send_response(conn, 0, 200, NULL, 0, f1, 2, 0), 0,
      "CL+TE");
  zttp_header f2[1] = {h_hdr("Transfer-Encoding", "gzip")};
  expect_nothing_queued(
      conn, zttp_conn_send_response(conn, 0, 200, NULL, 0, f2, 1, 0), 0,
      "TE gzip");
  zttp_header f3[2] = {h_hdr("Content-Length", "5"),
                       h_hdr("Content-Length", "6")};
  expect_nothing_queued(
      conn, zttp_conn_send_response(conn, 0, 200, NULL, 0, f3, 2, 0), 0,
      "two CL");
  zttp_header ok = h_hdr("X", "y");
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, &ok, 1,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  char *out = h_take_output(conn, NULL);
  assert_string_equal(out,
                      "HTTP/1.1 200 OK\r\nX: y\r\nContent-Length: 0\r\n\r\n");
  free(out);
}

static void test_serializer_informational_refusals(void **state) {
  (void)state;
  /* A 101 must name the protocol it switches to. */
  zttp_conn *conn = server_with_request(RL HOST "Upgrade: websocket\r\n"
                                                "Connection: Upgrade\r\n\r\n");
  zttp_header c = h_hdr("Connection", "Upgrade");
  expect_nothing_queued(conn, zttp_conn_send_informational(conn, 0, 101, &c, 1),
                        0, "101 without Upgrade");
  zttp_header u[2] = {h_hdr("Upgrade", "websocket"), c};
  assert_int_equal(zttp_conn_send_informational(conn, 0, 101, u, 2), 0);
  char *out = h_take_output(conn, NULL);
  assert_string_equal(out, "HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  free(out);
  zttp_event ev;
  assert_int_equal(zttp_conn_next_event(conn, &ev), 1);
  assert_int_equal(ev.kind, ZTTP_EVENT_UPGRADE);
  /* After the upgrade the HTTP/1.1 side is closed. */
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_CLOSED);
  assert_int_equal(zttp_conn_send_informational(conn, 0, 100, NULL, 0),
                   ZTTP_ERR_CLOSED);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"x", 1, 0),
                   ZTTP_ERR_CLOSED);
  assert_int_equal(zttp_conn_end_message(conn, 0, NULL, 0), ZTTP_ERR_CLOSED);

  /* No 1xx to an HTTP/1.0 client; the connection stays usable. */
  conn = server_with_request("GET / HTTP/1.0\r\n\r\n");
  assert_int_equal(zttp_conn_send_informational(conn, 0, 100, NULL, 0),
                   ZTTP_ERR_INVALID_STATE);
  const uint8_t *p = NULL;
  assert_int_equal(zttp_conn_pending(conn, &p), 0);
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  out = h_take_output(conn, NULL);
  assert_string_equal(out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                           "Connection: close\r\n\r\n");
  free(out);
}

static void test_send_after_close(void **state) {
  (void)state;
  /* zttp_conn_close() without GRACEFUL: every send call says CLOSED. */
  zttp_conn *conn = server_with_request(RL HOST "\r\n");
  assert_int_equal(zttp_conn_close(conn, 0, 0), 0);
  assert_int_equal(zttp_conn_should_close(conn), 1);
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_CLOSED);
  assert_int_equal(zttp_conn_send_informational(conn, 0, 100, NULL, 0),
                   ZTTP_ERR_CLOSED);
  const uint8_t *p = NULL;
  assert_int_equal(zttp_conn_pending(conn, &p), 0);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"x", 1, 0),
                   ZTTP_ERR_CLOSED);
  assert_int_equal(zttp_conn_end_message(conn, 0, NULL, 0), ZTTP_ERR_CLOSED);

  conn = slot_conn(C);
  assert_int_equal(zttp_conn_close(conn, 0, 0), 0);
  zttp_header h = h_hdr("Host", "a");
  assert_int_equal(zttp_conn_send_request(conn, "GET", 3, "/", 1, &h, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_CLOSED);
  assert_int_equal(zttp_conn_pending(conn, &p), 0);
}

static void test_serializer_trailer_refusals(void **state) {
  (void)state;
  zttp_conn *conn = slot_conn(C);
  zttp_header host = h_hdr("Host", "a");
  assert_int_equal(zttp_conn_send_request(conn, "POST", 4, "/", 1, &host, 1, 0),
                   0);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"hi", 2, 0),
                   2);
  char *out = h_take_output(conn, NULL);
  assert_string_equal(out, "POST / HTTP/1.1\r\nHost: a\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n");
  free(out);
  for (size_t i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
    zttp_header h = {0};
    h.name = bad_fields[i].name;
    h.name_len = bad_fields[i].name_len;
    h.value = bad_fields[i].value;
    h.value_len = bad_fields[i].value_len;
    expect_nothing_queued(conn, zttp_conn_end_message(conn, 0, &h, 1), i,
                          "trailer");
  }
  /* Framing and routing fields are not trailers. */
  static const char *const banned[] = {"Content-Length", "Transfer-Encoding",
                                       "Host", "Connection", "content-length"};
  for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++) {
    zttp_header b = h_hdr(banned[i], "1");
    expect_nothing_queued(conn, zttp_conn_end_message(conn, 0, &b, 1), i,
                          "banned trailer");
  }
  zttp_header t = h_hdr("T", "v");
  assert_int_equal(zttp_conn_end_message(conn, 0, &t, 1), 0);
  out = h_take_output(conn, NULL);
  assert_string_equal(out, "0\r\nT: v\r\n\r\n");
  free(out);
}

static void test_send_framing_errors(void **state) {
  (void)state;
  /* send_data beyond Content-Length. */
  zttp_conn *conn = slot_conn(C);
  zttp_header h[2] = {h_hdr("Host", "a"), h_hdr("Content-Length", "3")};
  assert_int_equal(zttp_conn_send_request(conn, "POST", 4, "/", 1, h, 2, 0), 0);
  char *out = h_take_output(conn, NULL);
  assert_string_equal(
      out, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n");
  free(out);
  const uint8_t *p = NULL;
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"abcd", 4, 0),
                   ZTTP_ERR_FRAMING);
  assert_int_equal(zttp_conn_pending(conn, &p), 0);
  assert_int_equal(zttp_conn_last_error(conn, NULL, NULL, NULL),
                   ZTTP_ERR_FRAMING);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"ab", 2, 0),
                   2);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"cd", 2, 0),
                   ZTTP_ERR_FRAMING);
  /* end_message before the declared length. */
  assert_int_equal(zttp_conn_end_message(conn, 0, NULL, 0), ZTTP_ERR_FRAMING);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"c", 1, 0), 1);
  assert_int_equal(zttp_conn_end_message(conn, 0, NULL, 0), 0);
  out = h_take_output(conn, NULL);
  assert_string_equal(out, "abc");
  free(out);
  assert_int_equal(zttp_conn_should_close(conn), 0);

  /* end_message with nothing sent, and END_STREAM on a short body. */
  conn = slot_conn(C);
  assert_int_equal(zttp_conn_send_request(conn, "POST", 4, "/", 1, h, 2, 0), 0);
  free(h_take_output(conn, NULL));
  assert_int_equal(zttp_conn_end_message(conn, 0, NULL, 0), ZTTP_ERR_FRAMING);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"ab", 2,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_FRAMING);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"abc", 3,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   3);
  out = h_take_output(conn, NULL);
  assert_string_equal(out, "abc");
  free(out);

  /* A body on a bodyless response: 204, and the answer to HEAD. */
  conn = server_with_request(RL HOST "\r\n");
  assert_int_equal(zttp_conn_send_response(conn, 0, 204, NULL, 0, NULL, 0, 0),
                   0);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"x", 1, 0),
                   ZTTP_ERR_FRAMING);
  out = h_take_output(conn, NULL);
  assert_string_equal(out, "HTTP/1.1 204 No Content\r\n\r\n");
  free(out);
  /* A bodyless message still ends with end_message, writing nothing. */
  assert_int_equal(zttp_conn_end_message(conn, 0, NULL, 0), 0);
  assert_int_equal(zttp_conn_pending(conn, &p), 0);

  conn = server_with_request("HEAD / HTTP/1.1\r\n" HOST "\r\n");
  zttp_header cl = h_hdr("Content-Length", "10");
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, &cl, 1, 0),
                   0);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"x", 1, 0),
                   ZTTP_ERR_FRAMING);
  out = h_take_output(conn, NULL);
  assert_string_equal(out, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
  free(out);
  assert_int_equal(zttp_conn_end_message(conn, 0, NULL, 0), 0);
  assert_int_equal(zttp_conn_pending(conn, &p), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bare_lf),
      cmocka_unit_test(test_bare_lf_lenient),
      cmocka_unit_test(test_bare_cr),
      cmocka_unit_test(test_bare_cr_lenient),
      cmocka_unit_test(test_obs_fold),
      cmocka_unit_test(test_obs_fold_lenient),
      cmocka_unit_test(test_space_before_colon),
      cmocka_unit_test(test_bad_header_name),
      cmocka_unit_test(test_bad_header_value),
      cmocka_unit_test(test_bad_content_length),
      cmocka_unit_test(test_content_length_lenient),
      cmocka_unit_test(test_conflicting_content_length),
      cmocka_unit_test(test_cl_and_te),
      cmocka_unit_test(test_cl_and_te_lenient_closes),
      cmocka_unit_test(test_bad_transfer_encoding),
      cmocka_unit_test(test_transfer_encoding_lenient),
      cmocka_unit_test(test_bad_chunk),
      cmocka_unit_test(test_chunk_size_lenient),
      cmocka_unit_test(test_bad_version),
      cmocka_unit_test(test_version_lenient),
      cmocka_unit_test(test_bad_method),
      cmocka_unit_test(test_bad_target),
      cmocka_unit_test(test_bad_host),
      cmocka_unit_test(test_bad_status),
      cmocka_unit_test(test_unexpected_data),
      cmocka_unit_test(test_unexpected_eof),
      cmocka_unit_test(test_serializer_request_refusals),
      cmocka_unit_test(test_serializer_response_refusals),
      cmocka_unit_test(test_serializer_informational_refusals),
      cmocka_unit_test(test_send_after_close),
      cmocka_unit_test(test_serializer_trailer_refusals),
      cmocka_unit_test(test_send_framing_errors),
  };
  return cmocka_run_group_tests(tests, NULL, free_slots);
}
