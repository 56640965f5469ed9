/* Test harness shared by the engine tests (STYLE.md "Tests"): canonical
 * event transcripts, the every-split driver, the failing allocator and the
 * guard page. Uses the public API (zttp/zttp.h) only.
 *
 * Transcript format: one line per event, '\n'-terminated. Bytes outside
 * printable ASCII and '\\' are escaped (\r \n \t \\ \xNN).
 *   REQUEST s=<id> f=<flags> <method> <target> path=<p> [query=<q>]
 *           [host=<authority>] [scheme=..] [protocol=..] v=<10|11|20>
 *   RESPONSE s=<id> f=<flags> <status> v=<ver> reason=<reason>
 *     "  <name>=<value>" per header field, in order, after the head line
 *   DATA s=<id> <bytes>          consecutive DATA of one message merged
 *   END s=<id>                   then "  trailer <name>=<value>" per field
 *   CLOSED error=<NAME|0> wire=<n>
 *   RESET s=<id> code=<n>        STREAM_RESET
 *   GOAWAY last=<id> code=<n> [debug=<bytes>]
 *   SETTINGS <id>=<value>...     in the order received
 *   PING <flags> <8 bytes>
 *   WINDOW s=<id> available=<n>  WINDOW_UPDATE
 *   PRIORITY s=<id> u=<n> i=<0|1>
 *   UPGRADE s=<id> <bytes>       u.data followed by every input byte the
 *                                feeder had not yet handed to the engine
 *   ERROR <NAME>                 a negative return (last line)
 *   STALL                        input left that the engine would not take
 * Flags are es (END_STREAM), ec (EXPECT_CONTINUE), up (UPGRADE),
 * close (CLOSE), ack (ACK) joined by ',', or '-' for none. query= is printed
 * only when query.base != NULL (same for host=, scheme=, protocol=).
 * Anything that breaks an event invariant (empty DATA, bad return value,
 * NULL headers) prints a line starting with "BUG ".
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_HARNESS_H
#define ZTTP_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <zttp/zttp.h>

/* ---- growable byte string (plain malloc, never zttp's allocator) ------- */

typedef struct h_str {
  char *p; /* always NUL-terminated when non-NULL */
  size_t len;
  size_t cap;
} h_str;

void h_str_add(h_str *s, const void *data, size_t len);
void h_str_adds(h_str *s, const char *cstr);
void h_str_addf(h_str *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* h_str_add_escaped appends |len| bytes with the transcript escaping. */
void h_str_add_escaped(h_str *s, const void *data, size_t len);
void h_str_free(h_str *s);
/* h_str_cstr returns the contents ("" when empty). */
const char *h_str_cstr(const h_str *s);

/* h_errname returns "BAD_CHUNK" for ZTTP_ERR_BAD_CHUNK, "0" for 0,
 * "UNKNOWN(<n>)" otherwise (static storage for known codes). */
const char *h_errname(int64_t err);

/* ---- configs ----------------------------------------------------------- */

typedef struct h_limit {
  uint32_t id; /* enum zttp_limit; 0 ends a list */
  uint64_t value;
} h_limit;

/* h_cfg_new returns a config with |lenient| bits and the |limits| list
 * (terminated by id 0; may be NULL), using |alloc| (NULL: libc). Fails the
 * test if any call is refused. */
zttp_config *h_cfg_new(uint32_t lenient, const h_limit *limits,
                       const zttp_allocator *alloc);
#define H_LIMITS(...) ((const h_limit[]){__VA_ARGS__, {0, 0}})

/* ---- event recorder ---------------------------------------------------- */

typedef struct h_rec {
  h_str text;
  h_str data;          /* pending merged DATA bytes */
  int64_t data_stream; /* stream of the pending DATA */
  int has_data;
  int has_upgrade; /* an UPGRADE line is pending */
  int64_t upgrade_stream;
  h_str upgrade;              /* its bytes (u.data, then the unfed rest) */
  int upgraded;               /* an UPGRADE event was seen */
  int closed;                 /* a CONNECTION_CLOSED event was seen */
  int32_t error;              /* the terminal error, 0 if none */
  size_t num_events;          /* events recorded */
  size_t num_requests;        /* REQUEST events */
  size_t num_ends;            /* END_MESSAGE events */
  uint32_t resp_flags_ignore; /* flag bits not printed on RESPONSE lines */
} h_rec;

void h_rec_init(h_rec *r);
void h_rec_free(h_rec *r);
/* h_rec_event appends |ev| (copies what it needs at once). */
void h_rec_event(h_rec *r, const zttp_event *ev);
/* h_rec_line appends a free-form line (flushes pending DATA first). */
void h_rec_line(h_rec *r, const char *line);
void h_rec_error(h_rec *r, int64_t err);
/* h_rec_text flushes pending lines and returns the transcript so far. */
const char *h_rec_text(h_rec *r);

/* Called after each recorded event, e.g. to answer a request. */
typedef void (*h_event_fn)(zttp_conn *conn, const zttp_event *ev, void *arg);

/* h_drain pulls events from |conn| into |r| (calling |cb| after each) until
 * NEED_DATA or an error. Returns the number of events, or the negative
 * error (also recorded in |r|). */
int64_t h_drain(zttp_conn *conn, h_rec *r, h_event_fn cb, void *arg);

/* h_feed hands |len| bytes to |conn|, re-offering what it did not take
 * after draining events, until everything was taken, an error, an upgrade
 * (the rest is appended to the UPGRADE bytes) or a stall (a STALL line).
 * Every piece is copied flush against a guard page first (|len| == 0 only
 * drains). Returns 0 when
 * all bytes were taken, 1 on an upgrade, 2 on a stall, or the negative
 * error. */
int64_t h_feed(zttp_conn *conn, h_rec *r, const uint8_t *data, size_t len,
               h_event_fn cb, void *arg);
/* h_feed_eof signals EOF and drains. Returns 0 or the negative error. */
int64_t h_feed_eof(zttp_conn *conn, h_rec *r, h_event_fn cb, void *arg);

/* ---- transcripts and every-split --------------------------------------- */

typedef struct h_script {
  uint32_t role;          /* ZTTP_SERVER or ZTTP_CLIENT */
  const zttp_config *cfg; /* NULL: defaults */
  /* Called once on the new connection, before any input (client role:
   * send the requests the input answers). */
  void (*setup)(zttp_conn *conn, void *arg);
  h_event_fn on_event;
  void *arg;
  int eof;                    /* signal EOF after the last piece */
  uint32_t resp_flags_ignore; /* see h_rec */
  uint32_t protocol;          /* enum zttp_protocol; 0 means ZTTP_HTTP1 */
  /* When set, the connection's pending output at the end is appended to
   * the transcript as "OUTPUT\n" followed by what this returns (malloc'd,
   * freed by the harness). */
  char *(*describe_output)(const uint8_t *p, size_t len);
} h_script;

/* h_transcript runs |s| on |data| cut at the |num_cuts| increasing
 * positions |cuts| (each in 1..len-1) and returns the transcript (caller
 * frees with free()). */
char *h_transcript(const h_script *s, const void *data, size_t len,
                   const size_t *cuts, size_t num_cuts);
/* h_transcript_whole is h_transcript without cuts. */
char *h_transcript_whole(const h_script *s, const void *data, size_t len);

/* h_every_split asserts that |data| gives the same transcript fed whole,
 * byte by byte, in two pieces cut at every position and in three pieces at
 * a sample of positions; and, if |expected| is not NULL, that this
 * transcript is |expected|. Fails the test with the first differing split
 * otherwise. */
void h_every_split(const h_script *s, const void *data, size_t len,
                   const char *expected);
/* h_every_split_s is h_every_split on a NUL-terminated string. */
void h_every_split_s(const h_script *s, const char *data, const char *expected);

/* ---- guard page -------------------------------------------------------- */

typedef struct h_guard {
  uint8_t *map;
  size_t map_len;
  size_t cap; /* bytes usable before the PROT_NONE page */
} h_guard;

/* h_guard_init maps room for |cap| bytes followed by a PROT_NONE page. */
void h_guard_init(h_guard *g, size_t cap);
/* h_guard_place copies |len| bytes (len <= cap) so that they end flush
 * against the PROT_NONE page and returns where they start. */
const uint8_t *h_guard_place(h_guard *g, const void *data, size_t len);
void h_guard_free(h_guard *g);

/* ---- failing allocator ------------------------------------------------- */

typedef struct h_failalloc {
  zttp_allocator alloc; /* .user points back at this struct */
  long fail_at;         /* 0-based index of the allocation to fail; -1 never */
  long count;           /* malloc and realloc calls so far */
  int injected;         /* the failure was injected */
  size_t live_allocs;
  size_t live_bytes;
  size_t peak_bytes;
  size_t bad_frees; /* frees of pointers this allocator did not hand out */
} h_failalloc;

/* h_failalloc_init sets up |fa| to fail allocation |fail_at| (-1: none). */
void h_failalloc_init(h_failalloc *fa, long fail_at);

/* One run of a failing-allocator scenario. The scenario stores what it
 * creates in cfg and conns; the driver frees them after it returns. */
#define H_FA_MAX_CONNS 4
typedef struct h_fa_run {
  h_failalloc *fa;
  long k;
  zttp_config *cfg;
  zttp_conn *conns[H_FA_MAX_CONNS];
  void *arg;
} h_fa_run;

/* A scenario returns 0 when everything succeeded and was checked, or
 * ZTTP_ERR_NOMEM when a call returned it (after h_fa_nomem()). Any other
 * outcome must fail the test. */
typedef int32_t (*h_fa_scenario)(h_fa_run *run);

/* h_fa_nomem checks that |conn| (NULL: the failure was in a constructor) is
 * poisoned with ZTTP_ERR_NOMEM: next_event, receive_data, EOF, the send
 * calls of its role and last_error all say NOMEM, should_close is 1; and
 * that a failure was injected. Returns ZTTP_ERR_NOMEM. */
int32_t h_fa_nomem(h_fa_run *run, zttp_conn *conn, uint32_t role);

/* h_fa_check_call: if |rv| is ZTTP_ERR_NOMEM, returns h_fa_nomem(); a
 * different negative |rv| fails the test; else returns 0. */
int32_t h_fa_check(h_fa_run *run, zttp_conn *conn, uint32_t role, int64_t rv,
                   const char *what);
#define H_FA_TRY(run, conn, role, expr)                                        \
  do {                                                                         \
    int32_t h_fa_rv_ =                                                         \
        h_fa_check((run), (conn), (role), (int64_t)(expr), #expr);             \
    if (h_fa_rv_ != 0) {                                                       \
      return h_fa_rv_;                                                         \
    }                                                                          \
  } while (0)

/* h_fa_drive runs |scenario| with allocation k failing for k = 0, 1, 2, ...
 * until a run injects no failure (that run must return 0), asserting for
 * every k that the run returned 0 or ZTTP_ERR_NOMEM and that nothing is
 * left allocated after the driver freed the config and connections.
 * Returns the number of allocations of the clean run. */
long h_fa_drive(h_fa_scenario scenario, void *arg);

/* ---- small helpers for tests ------------------------------------------- */

/* h_hdr builds a zttp_header from two C strings. */
zttp_header h_hdr(const char *name, const char *value);

/* h_send_req queues |method| |target| with "Host: <host>" (host may be
 * NULL: no Host) and END_STREAM, asserts success and consumes the output.
 */
void h_send_req(zttp_conn *conn, const char *method, const char *target,
                const char *host);

/* h_take_output returns a malloc'd NUL-terminated copy of |conn|'s pending
 * output, consumes it and stores its length in |*len| (may be NULL). */
char *h_take_output(zttp_conn *conn, size_t *len);

/* h_transfer moves |from|'s pending output into |to| with h_feed()
 * (draining |to|'s events into |r|) and returns what h_feed() returned. */
int64_t h_transfer(zttp_conn *from, zttp_conn *to, h_rec *r, h_event_fn cb,
                   void *arg);

/* h_expect_poisoned asserts that |conn| answers |err| to next_event,
 * receive_data, EOF and its role's send call, that zttp_conn_last_error()
 * returns |err| with a non-empty message and that should_close is 1. */
void h_expect_poisoned(zttp_conn *conn, uint32_t role, int32_t err);

#endif
