/* libFuzzer target: the HTTP/1.1 engine in the server role.
 *
 * Input layout: two selector bytes, then the byte stream a client sends.
 *   byte 0: bits 0-2 split pattern (see next_piece() in fuzz_common.c),
 *           bits 3-4 limit profile (see limit_rows[] there), bits 5-6 when
 *           the harness answers (at END_MESSAGE, at REQUEST, deferred until
 *           the engine stalls, at END_MESSAGE with a graceful close before
 *           the second answer), bit 7 a salt that varies the responses.
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
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"

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

typedef struct server {
  fuzz_run b; /* first: what fuzz_common.c sees */
  uint32_t timing;
  int graceful;

  /* Requests received and not yet answered, oldest first. */
  req_rec q[QUEUE_CAP];
  size_t q_head;
  size_t q_len;
  size_t num_requests;
} server;

static server *srv(fuzz_run *r) {
  return (server *)r;
}

static int str_eq(zttp_str a, const char *p, size_t n) {
  return a.len == n && (n == 0 || memcmp(a.base, p, n) == 0);
}

/* ---- answering ---------------------------------------------------------- */

static int64_t act(fuzz_run *r, char tag, int64_t rv, int64_t want) {
  /* Answering at END_MESSAGE on a healthy connection, every call must
   * succeed and take everything. */
  return fuzz_act(r, tag, rv, want, srv(r)->timing == TIMING_AT_END);
}

static void close_gracefully(fuzz_run *r) {
  act(r, 'G', zttp_conn_close(r->conn, 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
  srv(r)->graceful = 1;
}

static void send_continue(fuzz_run *r) {
  act(r, 'c', zttp_conn_send_informational(r->conn, 0, 100, NULL, 0), 0);
}

static void answer_normal(fuzz_run *r, req_rec *q, uint32_t shape) {
  zttp_header h[4];
  size_t nh = 0;
  static const zttp_header trailer = {"X-Checksum", 10, "1", 1, 0, 0};
  uint32_t head = q->is_head ? ZTTP_SEND_FLAG_END_STREAM : 0;
  switch (shape) {
  case 0:
    fuzz_add_field(h, &nh, "Content-Length", "5", 1);
    fuzz_add_field(h, &nh, "X-Target", q->echo, q->echo_len);
    act(r, 'R', zttp_conn_send_response(r->conn, 0, 200, NULL, 0, h, nh, head),
        0);
    if (!head) {
      act(r, 'D', fuzz_send_body(r, "hello", ZTTP_SEND_FLAG_END_STREAM), 5);
    }
    break;
  case 1:
  case 6:
    if (shape == 6) {
      close_gracefully(r);
    }
    fuzz_add_field(h, &nh, "Content-Type", "text/plain", 10);
    act(r, 'R',
        zttp_conn_send_response(r->conn, 0, shape == 6 ? 503 : 200, NULL, 0, h,
                                nh, head),
        0);
    if (!head) {
      act(r, 'D', fuzz_send_body(r, "hel", 0), 3);
      act(r, 'D', fuzz_send_body(r, "lo", 0), 2);
      if (q->version == 11) {
        act(r, 'E', zttp_conn_end_message(r->conn, 0, &trailer, 1), 0);
      } else {
        act(r, 'E', zttp_conn_end_message(r->conn, 0, NULL, 0), 0);
      }
    }
    break;
  case 2:
  case 4:
    act(r, 'R',
        zttp_conn_send_response(r->conn, 0, shape == 2 ? 204 : 200, NULL, 0,
                                NULL, 0, ZTTP_SEND_FLAG_END_STREAM),
        0);
    break;
  case 3:
    fuzz_add_field(h, &nh, "ETag", "\"x\"", 3);
    act(r, 'R',
        zttp_conn_send_response(r->conn, 0, 304, "Not Modified", 12, h, nh,
                                ZTTP_SEND_FLAG_END_STREAM),
        0);
    break;
  case 5:
    fuzz_add_field(h, &nh, "Content-Length", "9", 1);
    fuzz_add_field(h, &nh, "Connection", "close", 5);
    act(r, 'R', zttp_conn_send_response(r->conn, 0, 404, NULL, 0, h, nh, head),
        0);
    if (!head) {
      act(r, 'D', fuzz_send_body(r, "not found", 0), 9);
      act(r, 'E', zttp_conn_end_message(r->conn, 0, NULL, 0), 0);
    }
    srv(r)->graceful = 1;
    break;
  default: /* 7: an early hint, then 200 */
    if (q->version == 11) {
      fuzz_add_field(h, &nh, "Link", "</s.css>; rel=preload", 21);
      act(r, 'I', zttp_conn_send_informational(r->conn, 0, 103, h, nh), 0);
      nh = 0;
    }
    fuzz_add_field(h, &nh, "Content-Length", "5", 1);
    act(r, 'R', zttp_conn_send_response(r->conn, 0, 200, NULL, 0, h, nh, head),
        0);
    if (!head) {
      act(r, 'D', fuzz_send_body(r, "hel", 0), 3);
      act(r, 'D', fuzz_send_body(r, "lo", ZTTP_SEND_FLAG_END_STREAM), 2);
    }
    break;
  }
}

static void answer(fuzz_run *r, req_rec *q) {
  q->answered = 1;
  FUZZ_LOG(r, "  ANSWER request %zu shape %u\n", q->index, q->shape);
  if (srv(r)->timing == TIMING_GRACEFUL && q->index == 1 && !srv(r)->graceful) {
    close_gracefully(r);
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

static req_rec *q_at(server *s, size_t i) {
  return &s->q[(s->q_head + i) % QUEUE_CAP];
}

static void q_pop_answered(server *s) {
  while (s->q_len != 0 && q_at(s, 0)->answered && q_at(s, 0)->ended) {
    s->q_head = (s->q_head + 1) % QUEUE_CAP;
    s->q_len--;
  }
}

/* Answers every received, unanswered request whose message ended. Returns
 * how many it answered. */
static size_t flush(fuzz_run *r) {
  server *s = srv(r);
  size_t done = 0;
  for (size_t i = 0; i < s->q_len; i++) {
    req_rec *q = q_at(s, i);
    if (q->answered) {
      continue;
    }
    if (!q->ended || r->upgraded || r->expect_upgrade) {
      break;
    }
    answer(r, q);
    done++;
  }
  q_pop_answered(s);
  return done;
}

/* ---- events ------------------------------------------------------------- */

static uint64_t request_digest(const zttp_request_event *q) {
  uint64_t h = FUZZ_HASH_INIT;
  fuzz_hash_str(&h, q->method.base, q->method.len);
  fuzz_hash_str(&h, q->target.base, q->target.len);
  fuzz_hash_str(&h, q->path.base, q->path.len);
  fuzz_hash_str(&h, q->query.base, q->query.len);
  zttp_str a = q->authority;
  while (fuzz_ignored("ows") && a.len != 0 && a.base[0] == ' ') {
    a.base++;
    a.len--;
  }
  while (fuzz_ignored("ows") && a.len != 0 && a.base[a.len - 1] == ' ') {
    a.len--;
  }
  fuzz_hash_str(&h, a.base, a.len);
  fuzz_hash_u64(&h, q->http_version);
  fuzz_hash_fields(&h, q->headers, q->num_headers);
  return h;
}

static void on_request(fuzz_run *r, const zttp_event *ev) {
  server *s = srv(r);
  const zttp_request_event *q = &ev->u.request;
  if (r->in_msg) {
    fuzz_fail(r, "REQUEST before the previous request's END_MESSAGE");
  }
  if (!fuzz_is_token(q->method.base, q->method.len) ||
      !fuzz_in_input(r, q->method.base, q->method.len)) {
    fuzz_fail(r, "method is not a token from the input");
  }
  if (q->target.len == 0 || q->target.base == NULL ||
      !fuzz_in_input(r, q->target.base, q->target.len)) {
    fuzz_fail(r, "target is empty or not from the input");
  }
  for (size_t i = 0; i < q->target.len; i++) {
    uint8_t c = (uint8_t)q->target.base[i];
    if (c < 0x21 || c > 0x7e) {
      fuzz_fail(r, "target byte %zu is 0x%02x", i, c);
    }
  }
  const char *qm = memchr(q->target.base, '?', q->target.len);
  size_t plen = qm != NULL ? (size_t)(qm - q->target.base) : q->target.len;
  if (!str_eq(q->path, q->target.base, plen)) {
    fuzz_fail(r, "path is not the target up to '?'");
  }
  if (qm != NULL) {
    if (q->query.base == NULL ||
        !str_eq(q->query, qm + 1, q->target.len - plen - 1)) {
      fuzz_fail(r, "query is not the target after '?'");
    }
  } else if (q->query.base != NULL || q->query.len != 0) {
    fuzz_fail(r, "query set on a target without '?'");
  }
  if (q->scheme.len != 0 || q->protocol.len != 0) {
    fuzz_fail(r, "scheme or protocol set on HTTP/1.1");
  }
  if (q->http_version != 10 && q->http_version != 11) {
    fuzz_fail(r, "http_version %u", q->http_version);
  }
  fuzz_framing fr;
  fuzz_check_head(r, ev->flags,
                  ZTTP_EVENT_FLAG_END_STREAM | ZTTP_EVENT_FLAG_EXPECT_CONTINUE |
                      ZTTP_EVENT_FLAG_UPGRADE | ZTTP_EVENT_FLAG_CLOSE,
                  q->headers, q->num_headers, &fr);

  size_t hosts = 0;
  const zttp_header *host = NULL;
  const zttp_header *upgrade = NULL;
  int expect = 0;
  for (size_t i = 0; i < q->num_headers; i++) {
    const zttp_header *h = &q->headers[i];
    if (fuzz_eq_ci(h->name, h->name_len, "host")) {
      hosts++;
      host = h;
    } else if (fuzz_eq_ci(h->name, h->name_len, "upgrade")) {
      upgrade = h;
    } else if (fuzz_eq_ci(h->name, h->name_len, "expect")) {
      expect |= fuzz_eq_ci(h->value, h->value_len, "100-continue");
    }
  }
  if (hosts == 1) {
    if (!str_eq(q->authority, host->value, host->value_len)) {
      fuzz_fail(r, "authority is not the Host value");
    }
  } else if (hosts == 0 && q->authority.len != 0) {
    fuzz_fail(r, "authority set without a Host field");
  }
  if (q->http_version == 11 && hosts != 1 &&
      (r->lenient & ZTTP_LENIENT_HOST) == 0) {
    fuzz_fail(r, "HTTP/1.1 request with %zu Host fields accepted", hosts);
  }
  int is_connect = str_eq(q->method, "CONNECT", 7);
  int up = (ev->flags & ZTTP_EVENT_FLAG_UPGRADE) != 0;
  /* RFC 9110 §7.8: Upgrade counts only with the "upgrade" connection
   * option, and not in HTTP/1.0. How a malformed Connection value is read
   * is the engine's choice. */
  int want_up = is_connect ||
                (upgrade != NULL && q->http_version == 11 && fr.conn_upgrade);
  if (up != want_up && !(fr.conn_odd && upgrade != NULL && !is_connect)) {
    fuzz_fail(r, "UPGRADE flag %d, Upgrade field %d, CONNECT %d", up,
              upgrade != NULL, is_connect);
  }
  if ((ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) && !expect) {
    fuzz_fail(r, "EXPECT_CONTINUE without Expect: 100-continue");
  }
  if (expect && q->http_version == 11 &&
      !(ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE)) {
    fuzz_fail(r, "Expect: 100-continue without EXPECT_CONTINUE");
  }
  if ((fr.conn_close ||
       (q->http_version == 10 && !fr.conn_keep && !fr.conn_odd)) &&
      !(ev->flags & ZTTP_EVENT_FLAG_CLOSE)) {
    fuzz_fail(r, "request that closes the connection is not flagged CLOSE");
  }
  int es = (ev->flags & ZTTP_EVENT_FLAG_END_STREAM) != 0;
  if (fr.tes != 0 && es) {
    fuzz_fail(r, "request with Transfer-Encoding flagged END_STREAM");
  }
  if (fr.tes == 0 && fr.cls == 0 && !es) {
    fuzz_fail(r, "request without framing is not flagged END_STREAM");
  }
  if (fr.tes == 0 && fr.cls != 0 && fr.cl_ok && es != (fr.cl == 0)) {
    fuzz_fail(r, "Content-Length %llu but END_STREAM %d",
              (unsigned long long)fr.cl, es);
  }
  fuzz_start_body(r, es, fr.tes != 0, fr.tes == 0 && fr.cls != 0 && fr.cl_ok,
                  fr.cl);

  uint64_t digest = request_digest(q);
  fuzz_hash_u64(&r->h_ev, 'Q');
  fuzz_hash_u64(&r->h_ev, ev->flags);
  fuzz_hash_u64(&r->h_ev, digest);
  FUZZ_LOG(r, "REQUEST %.*s %.*s v%u flags 0x%x headers %zu\n",
           (int)q->method.len, q->method.base, (int)q->target.len,
           q->target.base, q->http_version, ev->flags, q->num_headers);
  fuzz_log_fields(r, q->headers, q->num_headers);

  if (s->q_len == QUEUE_CAP) {
    /* Only the deferred timing lets requests pile up this far. */
    flush(r);
    if (s->q_len == QUEUE_CAP) {
      fuzz_fail(r, "%zu requests outstanding", s->q_len);
    }
  }
  req_rec *rec = q_at(s, s->q_len++);
  memset(rec, 0, sizeof(*rec));
  rec->version = q->http_version;
  rec->flags = ev->flags;
  rec->is_head = str_eq(q->method, "HEAD", 4);
  rec->is_connect = (uint8_t)is_connect;
  rec->index = s->num_requests++;
  rec->shape = (uint32_t)((fuzz_fnv(q->target.base, q->target.len) >> 7) +
                          r->salt * 5 + rec->index) %
               8u;
  rec->echo_len = q->target.len < ECHO_MAX ? q->target.len : ECHO_MAX;
  memcpy(rec->echo, q->target.base, rec->echo_len);
  if (upgrade != NULL && upgrade->value_len <= UPGRADE_VAL_MAX &&
      fuzz_is_token(upgrade->value, upgrade->value_len)) {
    rec->upgrade_len = upgrade->value_len;
    memcpy(rec->upgrade, upgrade->value, upgrade->value_len);
  } else if (upgrade != NULL) {
    rec->upgrade_len = 9;
    memcpy(rec->upgrade, "websocket", 9);
  }

  /* Act on it, then check the event's borrowed pointers survived the send
   * calls (only receive_data, next_event and free may invalidate them). */
  if ((ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) && rec->version == 11 &&
      s->timing != TIMING_AT_REQUEST && (rec->shape & 1)) {
    send_continue(r);
  }
  if (s->timing == TIMING_AT_REQUEST && !up) {
    if ((ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) && rec->version == 11 &&
        (rec->shape & 2)) {
      send_continue(r);
    }
    answer(r, rec);
  }
  if (request_digest(q) != digest) {
    fuzz_fail(r, "REQUEST event changed under send calls");
  }
}

static void on_end(fuzz_run *r, const zttp_event *ev) {
  server *s = srv(r);
  if (!r->in_msg) {
    fuzz_fail(r, "END_MESSAGE without a REQUEST");
  }
  fuzz_end_message(r, ev);

  req_rec *rec = NULL;
  for (size_t i = 0; i < s->q_len; i++) {
    if (!q_at(s, i)->ended) {
      rec = q_at(s, i);
      break;
    }
  }
  if (rec == NULL) {
    fuzz_fail(r, "END_MESSAGE for no request");
  }
  rec->ended = 1;
  if (s->timing != TIMING_DEFERRED) {
    flush(r);
  }
  q_pop_answered(s);
}

static void on_event(fuzz_run *r, const zttp_event *ev) {
  switch (ev->kind) {
  case ZTTP_EVENT_REQUEST:
    on_request(r, ev);
    break;
  case ZTTP_EVENT_END_MESSAGE:
    on_end(r, ev);
    break;
  default:
    fuzz_on_event(r, ev);
    break;
  }
}

/* ---- the poisoning rule ------------------------------------------------- */

static void poisoned_sends(fuzz_run *r) {
  uint8_t b = 'x';
  static const zttp_header hdr = {"X-A", 3, "b", 1, 0, 0};
  fuzz_poisoned(r,
                zttp_conn_send_response(r->conn, 0, 200, NULL, 0, &hdr, 1,
                                        ZTTP_SEND_FLAG_END_STREAM),
                "send_response");
  fuzz_poisoned(r, zttp_conn_send_informational(r->conn, 0, 100, NULL, 0),
                "send_informational");
  fuzz_poisoned(r, zttp_conn_send_data(r->conn, 0, &b, 1, 0), "send_data");
  fuzz_poisoned(r, zttp_conn_end_message(r->conn, 0, NULL, 0), "end_message");
  fuzz_poisoned(r, zttp_conn_close(r->conn, 0, ZTTP_CLOSE_FLAG_GRACEFUL),
                "close");
  fuzz_poisoned(r, zttp_conn_send_window(r->conn, 0), "send_window");
  fuzz_poisoned(r, zttp_conn_data_consumed(r->conn, 0, 1), "data_consumed");
}

/* ---- the target --------------------------------------------------------- */

static void setup(fuzz_run *r, const uint8_t *data, size_t size) {
  (void)size;
  srv(r)->timing = (data[0] >> 5) & 3u;
  r->salt = (data[0] >> 7) & 1u;
  /* Deferred answers are tied to no event: the calls may differ. */
  r->compare_calls = srv(r)->timing != TIMING_DEFERRED;
}

static void describe(const fuzz_run *r, FILE *f) {
  fprintf(f, "timing %u salt %u", ((const server *)r)->timing, r->salt);
}

static const fuzz_ops ops = {
    .name = "h1_server",
    .role = ZTTP_SERVER,
    .run_size = sizeof(server),
    .setup = setup,
    .describe = describe,
    .on_event = on_event,
    .flush = flush,
    .poisoned_sends = poisoned_sends,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static server runs[2];
  return fuzz_one_input(&ops, &runs[0].b, &runs[1].b, data, size);
}
