/* HTTP/1.1 engine review: one regression test per confirmed bug. Each test
 * is named after the bug and fails until it is fixed.
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

/* The config and connection of the current test live here, so that a failed
 * assertion (a longjmp) leaks nothing: the teardown frees them. */
static zttp_config *g_cfg;
static zttp_conn *g_conn;
static h_rec g_rec;

static int setup(void **state) {
  (void)state;
  g_cfg = NULL;
  g_conn = NULL;
  h_rec_init(&g_rec);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  zttp_conn_free(g_conn);
  g_conn = NULL;
  zttp_config_free(g_cfg);
  g_cfg = NULL;
  h_rec_free(&g_rec);
  return 0;
}

static zttp_conn *server(uint32_t lenient, const h_limit *limits) {
  if (lenient != 0 || limits != NULL) {
    g_cfg = h_cfg_new(lenient, limits, NULL);
  }
  assert_int_equal(zttp_conn_new(&g_conn, g_cfg, S, ZTTP_HTTP1), 0);
  return g_conn;
}

/* Feeds |in| (all of it must be taken) and drains the events into g_rec. */
static int64_t feed(zttp_conn *conn, const char *in) {
  return h_feed(conn, &g_rec, (const uint8_t *)in, strlen(in), NULL, NULL);
}

static void expect_transcript(const char *want) {
  assert_string_equal(h_rec_text(&g_rec), want);
}

/* ---- RFC 9112 §9.6: no request is processed after a closing one -------- */

/* A request with Connection: close ends the connection after its response;
 * RFC 9112 §9.6: "The server MUST NOT process any further requests received
 * on that connection." The engine parses and emits the pipelined request
 * anyway (and the application then cannot answer it: ZTTP_ERR_CLOSED). */
static void test_request_after_connection_close_is_not_emitted(void **state) {
  (void)state;
  zttp_conn *c = server(0, NULL);
  assert_int_equal(feed(c, "GET /1 HTTP/1.1\r\nHost: a\r\n"
                           "Connection: close\r\n\r\n"
                           "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"),
                   0);
  expect_transcript("REQUEST s=0 f=es,close GET /1 path=/1 host=a v=11\n"
                    "  Host=a\n"
                    "  Connection=close\n"
                    "END s=0\n");
}

/* The same for an HTTP/1.0 request without keep-alive (RFC 9112 §9.3). */
static void
test_request_after_http10_without_keep_alive_is_not_emitted(void **state) {
  (void)state;
  zttp_conn *c = server(0, NULL);
  assert_int_equal(feed(c, "GET /1 HTTP/1.0\r\n\r\nGET /2 HTTP/1.0\r\n\r\n"),
                   0);
  expect_transcript("REQUEST s=0 f=es,close GET /1 path=/1 v=10\n"
                    "END s=0\n");
}

/* ZTTP_LENIENT_CL_AND_TE promises "the connection closes after the message"
 * (RFC 9112 §6.3 item 3: the server MUST close after responding, to avoid
 * request smuggling). The bytes the Content-Length side of a front end would
 * frame differently are still parsed and emitted as a request. */
static void
test_lenient_cl_and_te_smuggled_request_is_not_emitted(void **state) {
  (void)state;
  zttp_conn *c = server(ZTTP_LENIENT_CL_AND_TE, NULL);
  assert_int_equal(feed(c, "POST / HTTP/1.1\r\nHost: a\r\n"
                           "Content-Length: 40\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n"
                           "0\r\n\r\n"
                           "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"),
                   0);
  assert_int_equal(g_rec.num_requests, 1);
  assert_null(strstr(h_rec_text(&g_rec), "/smuggled"));
}

/* ---- closing while the next head is partially received ------------------ */

/* zttp_conn_close(GRACEFUL): "no further request is read". The check is only
 * made when the parser is idle, so a head whose first bytes arrived before
 * the call is still completed and emitted. */
static void test_graceful_close_stops_partially_received_request(void **state) {
  (void)state;
  zttp_conn *c = server(0, NULL);
  assert_int_equal(
      feed(c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHo"), 0);
  assert_int_equal(g_rec.num_requests, 1);
  assert_int_equal(zttp_conn_close(c, 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
  assert_int_equal(feed(c, "st: a\r\n\r\n"), 0);
  assert_int_equal(g_rec.num_requests, 1);
}

/* The same after a response that carries Connection: close completed
 * (must_close): RFC 9112 §9.6, a server that sent "close" MUST NOT process
 * further requests. */
static void
test_connection_close_response_stops_partially_received_request(void **state) {
  (void)state;
  zttp_conn *c = server(0, NULL);
  assert_int_equal(
      feed(c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHo"), 0);
  zttp_header h = h_hdr("Connection", "close");
  assert_int_equal(zttp_conn_send_response(c, 0, 200, NULL, 0, &h, 1,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  assert_int_equal(zttp_conn_should_close(c), 1);
  assert_int_equal(feed(c, "st: a\r\n\r\n"), 0);
  assert_int_equal(g_rec.num_requests, 1);
}

/* And after an abortive zttp_conn_close() (flags 0). */
static void test_abortive_close_stops_partially_received_request(void **state) {
  (void)state;
  zttp_conn *c = server(0, NULL);
  assert_int_equal(
      feed(c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHo"), 0);
  assert_int_equal(zttp_conn_close(c, 0, 0), 0);
  assert_int_equal(feed(c, "st: a\r\n\r\n"), 0);
  assert_int_equal(g_rec.num_requests, 1);
}

/* ---- Transfer-Encoding grammar ------------------------------------------ */

/* RFC 9112 §6.1/§7: transfer-coding = token *( OWS ";" OWS param ). In
 * "chunked x" the final element is not the coding chunked (it is not even a
 * valid element), yet the parser skips everything after the token up to the
 * next ',' and frames the body as chunked. A strict peer rejects it (or,
 * when lenient, does not see chunked last): the two frame the request
 * differently. Expected: ZTTP_ERR_BAD_TRANSFER_ENCODING. */
static void test_te_chunked_followed_by_garbage_is_rejected(void **state) {
  (void)state;
  zttp_conn *c = server(0, NULL);
  assert_int_equal(feed(c, "POST / HTTP/1.1\r\nHost: a\r\n"
                           "Transfer-Encoding: chunked x\r\n\r\n"
                           "5\r\nhello\r\n0\r\n\r\n"),
                   ZTTP_ERR_BAD_TRANSFER_ENCODING);
}

/* The serializer has the same hole: it accepts the caller's
 * "Transfer-Encoding: chunked x", sends it and writes a chunked body that a
 * strict recipient will not read as chunked. Expected: INVALID_FIELD. */
static void
test_serializer_refuses_te_chunked_followed_by_garbage(void **state) {
  (void)state;
  zttp_conn *c = server(0, NULL);
  assert_int_equal(feed(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
  zttp_header h = h_hdr("Transfer-Encoding", "chunked x");
  assert_int_equal(zttp_conn_send_response(c, 0, 200, NULL, 0, &h, 1, 0),
                   ZTTP_ERR_INVALID_FIELD);
  const uint8_t *p = NULL;
  assert_int_equal(zttp_conn_pending(c, &p), 0);
}

/* ---- limits ------------------------------------------------------------- */

/* ZTTP_LENIENT_OBS_FOLD: a fold is part of the previous field, not a field.
 * Fed whole, the head below has 2 fields and passes MAX_HEADERS 2; fed in
 * pieces, the line scanner counts every line (the fold too) and fails with
 * LIMIT_HEADERS. The outcome must not depend on how the bytes arrive. */
static void test_lenient_obs_fold_line_not_counted_as_field(void **state) {
  (void)state;
  g_cfg = h_cfg_new(ZTTP_LENIENT_OBS_FOLD,
                    H_LIMITS({ZTTP_LIMIT_MAX_HEADERS, 2}), NULL);
  h_script s;
  memset(&s, 0, sizeof(s));
  s.role = S;
  s.cfg = g_cfg;
  h_every_split_s(&s, "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
                  "REQUEST s=0 f=es GET / path=/ host=a v=11\n"
                  "  Host=a\n"
                  "  X=b c\n"
                  "END s=0\n");
}

/* zttp_conn_new() accepts INPUT_BUFFER == MAX_HEADER_BYTES ("must be at
 * least MAX_HEADER_BYTES"). A head longer than the limit then fills the
 * input buffer exactly: the scanner only fails when it holds MORE than the
 * limit, which can never happen, so receive_data() takes 0 bytes forever and
 * no error is reported (a stall instead of the documented fatal
 * ZTTP_ERR_LIMIT_HEADER_BYTES). */
static void
test_header_limit_equal_to_input_buffer_reports_limit(void **state) {
  (void)state;
  zttp_conn *c = server(0, H_LIMITS({ZTTP_LIMIT_INPUT_BUFFER, 256},
                                    {ZTTP_LIMIT_MAX_HEADER_BYTES, 256},
                                    {ZTTP_LIMIT_MAX_TRAILER_BYTES, 256}));
  char in[512];
  memset(in, 'a', sizeof(in));
  static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  memcpy(in, head, sizeof(head) - 1);
  memcpy(in + sizeof(in) - 4, "\r\n\r\n", 4);
  int64_t rv = h_feed(c, &g_rec, (const uint8_t *)in, sizeof(in), NULL, NULL);
  assert_string_equal(h_errname(rv), "LIMIT_HEADER_BYTES");
}

/* The same for a trailer section with INPUT_BUFFER == MAX_TRAILER_BYTES. */
static void
test_trailer_limit_equal_to_input_buffer_reports_limit(void **state) {
  (void)state;
  zttp_conn *c = server(0, H_LIMITS({ZTTP_LIMIT_INPUT_BUFFER, 256},
                                    {ZTTP_LIMIT_MAX_HEADER_BYTES, 256},
                                    {ZTTP_LIMIT_MAX_TRAILER_BYTES, 256}));
  assert_int_equal(feed(c, "POST / HTTP/1.1\r\nHost: a\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n0\r\n"),
                   0);
  char in[512];
  memset(in, 'a', sizeof(in));
  memcpy(in, "T: ", strlen("T: "));
  memcpy(in + sizeof(in) - 4, "\r\n\r\n", 4);
  int64_t rv = h_feed(c, &g_rec, (const uint8_t *)in, sizeof(in), NULL, NULL);
  assert_string_equal(h_errname(rv), "LIMIT_TRAILER_BYTES");
}

/* ---- undefined behaviour ------------------------------------------------ */

/* next_event() on an empty input buffer hands the parser (NULL, 0) and the
 * parser computes NULL + 0 (src/h1/parser.c, zttp_h1_parse: buf + off),
 * undefined in C11 §6.5.6. Only a sanitizer sees it: this fails under clang
 * -fsanitize=pointer-overflow (part of -fsanitize=undefined), e.g.
 * CC=clang meson setup -Db_sanitize=address,undefined
 * -Dc_args=-fno-sanitize-recover=all; GCC's UBSan does not check it. */
static void
test_next_event_on_empty_input_no_null_pointer_arithmetic(void **state) {
  (void)state;
  zttp_conn *c = server(0, NULL);
  zttp_event ev;
  assert_int_equal(zttp_conn_next_event(c, &ev), 0);
  assert_int_equal(ev.kind, ZTTP_EVENT_NEED_DATA);
  /* Inside a chunked body (trailer state) with nothing buffered. */
  assert_int_equal(feed(c, "POST / HTTP/1.1\r\nHost: a\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n0\r\n"),
                   0);
  assert_int_equal(zttp_conn_next_event(c, &ev), 0);
}

/* ---- fuzzing regressions (tests/fuzz, differential whole/split) -------- */

static void split_same(uint32_t lenient, const h_limit *limits, int eof,
                       const char *in, size_t len, const char *want_tail) {
  if (lenient != 0 || limits != NULL) {
    g_cfg = h_cfg_new(lenient, limits, NULL);
  }
  h_script s;
  memset(&s, 0, sizeof(s));
  s.role = S;
  s.cfg = g_cfg;
  s.eof = eof;
  h_every_split(&s, in, len, NULL);
  char *whole = h_transcript_whole(&s, in, len);
  size_t n = strlen(whole);
  size_t k = strlen(want_tail);
  assert_true(n >= k);
  assert_string_equal(whole + n - k, want_tail);
  free(whole);
}

/* A lenient bare CR became SP after the leading whitespace was skipped:
 * the value kept a space fed whole and lost it fed in pieces. */
static void test_fuzz_lenient_bare_cr_value_trimmed(void **state) {
  (void)state;
  static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX: \rb\r\n\r\n";
  split_same(ZTTP_LENIENT_BARE_CR, NULL, 0, in, sizeof(in) - 1,
             "  Host=a\n  X=b\nEND s=0\n");
}

/* A bad byte in a line not yet complete was reported at once when it came
 * with the line's start and only at the line end otherwise. */
static void test_fuzz_bad_method_same_in_any_split(void **state) {
  (void)state;
  static const char in[] =
      "GET / HTTP/1.1\r\nHost: a\r\n\r\nG\x01 / HTTP/1.1\r\nHost: a\r\n\r\n";
  split_same(0, NULL, 0, in, sizeof(in) - 1, "END s=0\nERROR BAD_METHOD\n");
}

/* ... and an unfinished bad line followed by EOF is a truncated message in
 * every split. */
static void test_fuzz_unfinished_bad_line_then_eof(void **state) {
  (void)state;
  static const char in[] = "G\x01";
  split_same(0, NULL, 1, in, sizeof(in) - 1, "ERROR UNEXPECTED_EOF\n");
}

/* A limit the line scanner enforces as bytes arrive wins over a syntax
 * error later in the same line, fed whole too. */
static void test_fuzz_limit_before_syntax(void **state) {
  (void)state;
  char in[160];
  size_t n = 0;
  memcpy(in, "GET /", 5);
  n = 5;
  memset(in + n, 'a', 100);
  n += 100;
  static const char rest[] = "\0 HTTP/1.1\r\nHost: a\r\n\r\n";
  memcpy(in + n, rest, sizeof(rest) - 1);
  n += sizeof(rest) - 1;
  split_same(0, H_LIMITS({ZTTP_LIMIT_H1_MAX_START_LINE, 96}), 0, in, n,
             "ERROR LIMIT_START_LINE\n");
}

/* The same for the header section size against a bad field line. */
static void test_fuzz_header_bytes_before_syntax(void **state) {
  (void)state;
  static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n"
                           "X-Long: 0123456789012345678901234567890123456789"
                           "0123456789\r\n\r\n";
  split_same(0, H_LIMITS({ZTTP_LIMIT_MAX_HEADER_BYTES, 64}), 0, in,
             sizeof(in) - 1, "ERROR LIMIT_HEADER_BYTES\n");
}

/* A whitespace-preceded line after the start line (skipped when obs-fold is
 * lenient) was measured against the start-line limit by the line scanner
 * only, so fed in pieces it failed and fed whole it passed. */
static void test_fuzz_fold_line_is_not_the_start_line(void **state) {
  (void)state;
  static const char in[] =
      "GET / HTTP/1.1\r\n  skipped line longer than the start-line limit\r\n"
      "Host: a\r\n\r\n";
  split_same(ZTTP_LENIENT_OBS_FOLD,
             H_LIMITS({ZTTP_LIMIT_H1_MAX_START_LINE, 32}), 0, in,
             sizeof(in) - 1, "  Host=a\nEND s=0\n");
}

/* A quoted-pair backslash at the very end of a transfer-parameter read one
 * byte past the field value (AddressSanitizer). */
static void test_fuzz_te_quoted_pair_at_end(void **state) {
  (void)state;
  static const char in[] = "POST / HTTP/1.1\r\nHost: a\r\n"
                           "Transfer-Encoding: gzip;q=\"x\\\r\n\r\n";
  split_same(0, NULL, 0, in, sizeof(in) - 1, "ERROR BAD_TRANSFER_ENCODING\n");
}

/* With both the field count and the section size over their limits, the
 * error depended on the split (whole: the count, byte by byte: the size).
 * Lines are judged only within the size limit. */
static void test_fuzz_count_and_size_limits_same_error(void **state) {
  (void)state;
  static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n"
                           "C: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\n\r\n";
  split_same(
      0,
      H_LIMITS({ZTTP_LIMIT_MAX_HEADERS, 6}, {ZTTP_LIMIT_MAX_HEADER_BYTES, 40}),
      0, in, sizeof(in) - 1, "ERROR LIMIT_HEADER_BYTES\n");
}

/* The same for trailers. */
static void test_fuzz_trailer_limits_same_error(void **state) {
  (void)state;
  static const char in[] = "POST / HTTP/1.1\r\nHost: a\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n0\r\n"
                           "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
  split_same(0,
             H_LIMITS({ZTTP_LIMIT_MAX_TRAILERS, 3},
                      {ZTTP_LIMIT_MAX_TRAILER_BYTES, 16}),
             0, in, sizeof(in) - 1, "ERROR LIMIT_TRAILER_BYTES\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_fuzz_count_and_size_limits_same_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fuzz_trailer_limits_same_error,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_fuzz_fold_line_is_not_the_start_line,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_fuzz_te_quoted_pair_at_end, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_fuzz_lenient_bare_cr_value_trimmed,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_fuzz_bad_method_same_in_any_split,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_fuzz_unfinished_bad_line_then_eof,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_fuzz_limit_before_syntax, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_fuzz_header_bytes_before_syntax,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_request_after_connection_close_is_not_emitted, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_request_after_http10_without_keep_alive_is_not_emitted, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_lenient_cl_and_te_smuggled_request_is_not_emitted, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_graceful_close_stops_partially_received_request, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_connection_close_response_stops_partially_received_request,
          setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_abortive_close_stops_partially_received_request, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_te_chunked_followed_by_garbage_is_rejected, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_serializer_refuses_te_chunked_followed_by_garbage, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_lenient_obs_fold_line_not_counted_as_field, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_header_limit_equal_to_input_buffer_reports_limit, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_trailer_limit_equal_to_input_buffer_reports_limit, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_next_event_on_empty_input_no_null_pointer_arithmetic, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
