/* What the HTTP/1.1 fuzz targets (h1_server.c, h1_client.c) share: the
 * selector bytes and the configuration they pick, the two feeds (whole and
 * split) and their comparison, transcript hashing and logging, the output
 * and poisoning checks, and the checks on fields, DATA, UPGRADE and
 * CONNECTION_CLOSED events.
 *
 * A target keeps its own state in a struct whose first member is a fuzz_run,
 * and hands the common code a fuzz_ops that says what differs: its name and
 * role, and hooks for its setup, its events, its answers and its calls on a
 * poisoned connection.
 *
 * Selector byte 0: bits 0-2 the split pattern (see next_piece() in
 * fuzz_common.c), bits 3-4 the limit profile (limit_rows[] there), bits 5-7
 * the target's own. Byte 1: the lenient selector (lenient_from() there).
 *
 * Environment: ZTTP_FUZZ_LOG (print the transcripts), ZTTP_FUZZ_IGNORE
 * (fuzz_ignored()), ZTTP_FUZZ_STRICT_ERRORS (same_errors() in
 * fuzz_common.c).
 *
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_FUZZ_COMMON_H
#define ZTTP_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "zttp/zttp.h"

#include "fuzz_util.h" /* fuzz_ignored() */

/* The FNV-1a offset basis: where every transcript hash starts. */
#define FUZZ_HASH_INIT 0xcbf29ce484222325ull

#define FUZZ_LOG(r, ...)                                                       \
  do {                                                                         \
    if ((r)->log != NULL) {                                                    \
      fprintf((r)->log, __VA_ARGS__);                                          \
    }                                                                          \
  } while (0)

typedef struct fuzz_ops fuzz_ops;

/* One run: the input fed to one fresh connection, whole or in pieces. */
typedef struct fuzz_run {
  const fuzz_ops *ops;
  zttp_conn *conn;
  const uint8_t *in;
  size_t n;
  size_t pos; /* bytes the engine took so far */
  int whole;
  uint32_t split;
  uint32_t limits;
  uint32_t salt; /* set by the target; 1: output is consumed in halves */
  uint32_t lenient;
  uint64_t max_headers;
  uint64_t max_trailers;
  uint64_t max_pipeline; /* the client paces its requests by it */
  uint64_t rng;

  uint64_t h_ev;     /* events, fatal error, tunnel bytes */
  uint64_t h_act;    /* the harness's calls and their results */
  uint64_t h_out;    /* output bytes */
  int compare_calls; /* both runs must agree on h_act and h_out too */
  FILE *log;

  int32_t fatal;
  int closed;
  int upgraded;
  int expect_upgrade;
  int eof_sent;
  int silent_eof; /* an ignored [eof] failure: skip the comparison */
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
  int msg_eof; /* read until the connection closes (client) */
} fuzz_run;

struct fuzz_ops {
  const char *name; /* "h1_server": starts every failure report */
  enum zttp_role role;
  size_t run_size; /* sizeof the target's struct (fuzz_run first) */
  /* Sets the target's fields from the selector bytes (the struct is zeroed
   * and the common fields are set). */
  void (*setup)(fuzz_run *r, const uint8_t *data, size_t size);
  /* Prints the target's selectors when the runs differ. */
  void (*describe)(const fuzz_run *r, FILE *f);
  /* Before the input is fed; may be NULL. */
  void (*start)(fuzz_run *r);
  /* One event, past the checks every event gets; hands the kinds it does
   * not handle to fuzz_on_event(). */
  void (*on_event)(fuzz_run *r, const zttp_event *ev);
  /* Answers what is due and returns how many; NULL when the target does
   * not answer (then a stalled feed stops at once, and EOF is followed by
   * one drain). */
  size_t (*flush)(fuzz_run *r);
  /* The target's send calls on a poisoned connection, each checked with
   * fuzz_poisoned(). */
  void (*poisoned_sends)(fuzz_run *r);
};

/* ---- reporting and hashing ---------------------------------------------- */

void fuzz_fail(const fuzz_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

void fuzz_hash_u64(uint64_t *h, uint64_t v);
/* The length, then the bytes. */
void fuzz_hash_str(uint64_t *h, const void *p, size_t n);
uint64_t fuzz_fnv(const void *p, size_t n);

/* Hashes fields (with edge whitespace trimmed under [ows]), logs them. */
void fuzz_hash_fields(uint64_t *h, const zttp_header *f, size_t num);
void fuzz_log_fields(const fuzz_run *r, const zttp_header *f, size_t num);

/* ---- syntax ------------------------------------------------------------- */

int fuzz_is_token(const char *p, size_t n);
/* p[0..n) is the lower-case |lit| in any case. */
int fuzz_eq_ci(const char *p, size_t n, const char *lit);
/* The bytes [p, p+n) occur somewhere in the input. */
int fuzz_in_input(const fuzz_run *r, const void *p, size_t n);

/* ---- events ------------------------------------------------------------- */

/* What a head's fields say about the body and the connection. */
typedef struct fuzz_framing {
  size_t cls; /* Content-Length fields */
  size_t tes; /* Transfer-Encoding fields */
  int cl_ok;  /* they all hold one number, cl */
  uint64_t cl;
  int conn_close; /* Connection options */
  int conn_keep;
  int conn_upgrade;
  int conn_odd; /* a Connection value that is not a token list */
} fuzz_framing;

/* Checks a head's field count, its event |flags| (only |known_flags|) and
 * every field (a token name, a value without CTL or edge whitespace, both
 * from the input), and fills |fr|. */
void fuzz_check_head(const fuzz_run *r, uint32_t flags, uint32_t known_flags,
                     const zttp_header *f, size_t num, fuzz_framing *fr);

/* After a head whose message has a body (or ends at once): the body starts. */
void fuzz_start_body(fuzz_run *r, int end_stream, int chunked, int cl_known,
                     uint64_t cl);

/* END_MESSAGE of the message being received: trailers and body length are
 * checked, the end is hashed and logged. */
void fuzz_end_message(fuzz_run *r, const zttp_event *ev);

/* DATA, UPGRADE and CONNECTION_CLOSED; any other kind fails. */
void fuzz_on_event(fuzz_run *r, const zttp_event *ev);

/* On a poisoned connection, |call| returned |rv|: it must be the error. */
void fuzz_poisoned(const fuzz_run *r, int64_t rv, const char *call);

/* ---- the harness's calls ------------------------------------------------ */

/* Notes and hashes the result |rv| of the harness's call |tag|, then takes
 * the output. With |strict|, a healthy connection must have returned
 * |want|. Returns |rv|. */
int64_t fuzz_act(fuzz_run *r, char tag, int64_t rv, int64_t want, int strict);

int64_t fuzz_send_body(fuzz_run *r, const char *s, uint32_t flags);

/* Appends a field to h[*nh]. */
void fuzz_add_field(zttp_header *h, size_t *nh, const char *name,
                    const char *value, size_t value_len);

/* ---- running ------------------------------------------------------------ */

/* The fuzz target's body: runs the input through two fresh connections of
 * |ops|'s kind, whole and split (w and s: the target's structs), and
 * compares them. */
int fuzz_one_input(const fuzz_ops *ops, fuzz_run *w, fuzz_run *s,
                   const uint8_t *data, size_t size);

#endif
