/* libFuzzer target: the HTTP/1.1 engine in the client role.
 *
 * Input layout: two selector bytes, then the byte stream a server sends.
 *   byte 0: bits 0-2 split pattern (see next_piece() in fuzz_common.c),
 *           bits 3-4 limit profile (see limit_rows[] there), bits 5-7 the
 *           request plan (see plans[]: GET, HEAD, pipelined GETs, CONNECT,
 *           Upgrade, POST with a Content-Length or a chunked body).
 *   byte 1: lenient selector: bit 0 turns every ZTTP_LENIENT_* bit on,
 *           bits 1-7 turn on one group each (see lenient_from()).
 *
 * The plan's requests are sent (pipelined, as far as the pipeline limit
 * allows; the rest go out as responses complete) before the stream is fed,
 * and the stream is the responses. It is run twice on fresh connections: fed
 * whole, then fed in the pieces the split pattern picks; EOF ends each run.
 * Invariants are checked on the way (abort() on violation): status and
 * fields are well formed and come from the input, bodies follow the framing
 * rules (HEAD, 1xx, 204, 304, Content-Length), a fatal error poisons every
 * later call, nothing follows CONNECTION_CLOSED or UPGRADE, the UPGRADE bytes
 * are the input's suffix. Both runs must give the same transcript (events,
 * the calls' results and the output bytes).
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

#define MAX_PLAN 4

enum {
  M_GET,
  M_HEAD,
  M_CONNECT,
  M_UPGRADE,
  M_POST_CL,
  M_POST_CHUNKED,
  M_DELETE
};

/* clang-format off */
static const uint8_t plans[8][MAX_PLAN + 1] = {
    /* the last entry of a row is its length */
    {M_GET, 0, 0, 0, 1},
    {M_HEAD, 0, 0, 0, 1},
    {M_GET, M_GET, M_GET, 0, 3},
    {M_GET, M_HEAD, M_GET, 0, 3},
    {M_CONNECT, 0, 0, 0, 1},
    {M_UPGRADE, 0, 0, 0, 1},
    {M_POST_CL, M_GET, 0, 0, 2},
    {M_POST_CHUNKED, M_HEAD, M_DELETE, M_GET, 4},
};
/* clang-format on */

typedef struct client {
  fuzz_run b; /* first: what fuzz_common.c sees */
  uint32_t plan;

  /* Requests: plans[plan][0..next_plan) were tried; kinds[0..queued) were
   * sent and kinds[0..done) answered. */
  size_t planned;
  size_t next_plan;
  size_t queued;
  size_t done;
  uint8_t kinds[MAX_PLAN];
} client;

static client *cli(fuzz_run *r) {
  return (client *)r;
}

/* ---- requests ----------------------------------------------------------- */

/* Sends the next request of the plan. Returns 0 when the engine refused it
 * for now (the pipeline is full), 1 otherwise. */
static int send_one(fuzz_run *r, int upfront) {
  client *c = cli(r);
  uint8_t m = plans[c->plan][c->next_plan];
  zttp_header h[4];
  size_t nh = 0;
  static const zttp_header trailer = {"X-Sum", 5, "4", 1, 0, 0};
  const char *method = "GET", *target = "/";
  uint32_t flags = ZTTP_SEND_FLAG_END_STREAM;
#define HDR(nm, v) fuzz_add_field(h, &nh, (nm), (v), strlen(v))
  switch (m) {
  case M_HEAD:
    method = "HEAD";
    target = "/h";
    HDR("Host", "example.com");
    break;
  case M_CONNECT:
    method = "CONNECT";
    target = "example.com:443";
    HDR("Host", "example.com:443");
    break;
  case M_UPGRADE:
    target = "/chat";
    HDR("Host", "example.com");
    HDR("Upgrade", "websocket");
    HDR("Connection", "Upgrade");
    break;
  case M_POST_CL:
    method = "POST";
    target = "/p";
    HDR("Host", "example.com");
    HDR("Content-Length", "5");
    flags = 0;
    break;
  case M_POST_CHUNKED:
    method = "POST";
    target = "/c";
    HDR("Host", "example.com");
    HDR("Content-Type", "text/plain");
    flags = 0;
    break;
  case M_DELETE:
    method = "DELETE";
    target = "/d?x=1";
    HDR("Host", "example.com");
    break;
  default:
    target = c->next_plan == 0 ? "/" : "/next";
    HDR("Host", "example.com");
    HDR("Accept", "*/*");
    break;
  }
#undef HDR
  int strict = upfront && c->queued - c->done < r->max_pipeline;
  int64_t rv = zttp_conn_send_request(r->conn, method, strlen(method), target,
                                      strlen(target), h, nh, flags);
  if (rv == ZTTP_ERR_INVALID_STATE && !strict) {
    FUZZ_LOG(r, "  send %s refused for now\n", method);
    return 0;
  }
  fuzz_act(r, 'S', rv, 0, strict);
  c->next_plan++;
  if (rv < 0) {
    return 1;
  }
  c->kinds[c->queued++] = m;
  if (m == M_POST_CL) {
    fuzz_act(r, 'D', fuzz_send_body(r, "hello", ZTTP_SEND_FLAG_END_STREAM), 5,
             strict);
  } else if (m == M_POST_CHUNKED) {
    fuzz_act(r, 'D', fuzz_send_body(r, "ab", 0), 2, strict);
    fuzz_act(r, 'D', fuzz_send_body(r, "cd", 0), 2, strict);
    fuzz_act(r, 'E', zttp_conn_end_message(r->conn, 0, &trailer, 1), 0, strict);
  }
  return 1;
}

static void send_more(fuzz_run *r, int upfront) {
  while (cli(r)->next_plan < cli(r)->planned && r->fatal == 0 && !r->upgraded &&
         !r->expect_upgrade) {
    if (!send_one(r, upfront)) {
      return;
    }
  }
}

static void send_upfront(fuzz_run *r) {
  send_more(r, 1);
}

/* ---- events ------------------------------------------------------------- */

static void on_response(fuzz_run *r, const zttp_event *ev) {
  const zttp_response_event *s = &ev->u.response;
  client *c = cli(r);
  if (r->in_msg) {
    fuzz_fail(r, "RESPONSE inside a response body");
  }
  if (c->done >= c->queued) {
    fuzz_fail(r, "RESPONSE %u with no request outstanding", s->status);
  }
  uint8_t kind = c->kinds[c->done];
  if (s->status < 100 || s->status > 599) {
    fuzz_fail(r, "status %u", s->status);
  }
  if (s->http_version != 10 && s->http_version != 11) {
    fuzz_fail(r, "http_version %u", s->http_version);
  }
  if (s->reason.len != 0 &&
      (s->reason.base == NULL ||
       !fuzz_in_input(r, s->reason.base, s->reason.len))) {
    fuzz_fail(r, "reason does not occur in the input");
  }
  for (size_t i = 0; i < s->reason.len; i++) {
    uint8_t ch = (uint8_t)s->reason.base[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
      fuzz_fail(r, "reason byte %zu is 0x%02x", i, ch);
    }
  }
  fuzz_framing fr;
  fuzz_check_head(r, ev->flags,
                  ZTTP_EVENT_FLAG_END_STREAM | ZTTP_EVENT_FLAG_UPGRADE |
                      ZTTP_EVENT_FLAG_CLOSE,
                  s->headers, s->num_headers, &fr);
  fuzz_hash_u64(&r->h_ev, 'R');
  fuzz_hash_u64(&r->h_ev, ev->flags);
  fuzz_hash_u64(&r->h_ev, s->status);
  fuzz_hash_u64(&r->h_ev, s->http_version);
  fuzz_hash_str(&r->h_ev, s->reason.base, s->reason.len);
  fuzz_hash_fields(&r->h_ev, s->headers, s->num_headers);
  FUZZ_LOG(
      r,
      "RESPONSE %u v%u [%.*s] flags 0x%x headers %zu (request %zu, kind %u)\n",
      s->status, s->http_version, (int)s->reason.len, s->reason.base, ev->flags,
      s->num_headers, c->done, kind);
  fuzz_log_fields(r, s->headers, s->num_headers);

  if (s->status < 200) {
    if (s->status == 101) {
      r->expect_upgrade = 1;
    }
    return;
  }
  if (kind == M_CONNECT && s->status < 300) {
    r->expect_upgrade = 1;
    return;
  }
  int bodyless = kind == M_HEAD || s->status == 204 || s->status == 304;
  int es = (ev->flags & ZTTP_EVENT_FLAG_END_STREAM) != 0;
  int eof_body = 0;
  if (bodyless) {
    if (!es) {
      fuzz_fail(r,
                "bodyless response (status %u, kind %u) not flagged "
                "END_STREAM",
                s->status, kind);
    }
  } else if (fr.tes != 0) {
    if (es) {
      fuzz_fail(r, "response with Transfer-Encoding flagged END_STREAM");
    }
  } else if (fr.cls != 0) {
    if (fr.cl_ok && es != (fr.cl == 0)) {
      fuzz_fail(r, "Content-Length %llu but END_STREAM %d",
                (unsigned long long)fr.cl, es);
    }
  } else {
    eof_body = 1;
    if (es) {
      fuzz_fail(r, "read-until-close response flagged END_STREAM");
    }
  }
  int closes = fr.conn_close || eof_body ||
               (s->http_version == 10 && !fr.conn_keep && !fr.conn_odd);
  if (closes && !(ev->flags & ZTTP_EVENT_FLAG_CLOSE)) {
    fuzz_fail(r, "response that closes the connection is not flagged CLOSE");
  }
  fuzz_start_body(r, es, !bodyless && fr.tes != 0,
                  !bodyless && fr.tes == 0 && fr.cls != 0 && fr.cl_ok, fr.cl);
  r->msg_eof = eof_body;
}

static void on_end(fuzz_run *r, const zttp_event *ev) {
  if (!r->in_msg) {
    fuzz_fail(r, "END_MESSAGE without a final RESPONSE");
  }
  fuzz_end_message(r, ev);
  cli(r)->done++;
  send_more(r, 0);
}

static void on_event(fuzz_run *r, const zttp_event *ev) {
  switch (ev->kind) {
  case ZTTP_EVENT_RESPONSE:
    on_response(r, ev);
    break;
  case ZTTP_EVENT_END_MESSAGE:
    on_end(r, ev);
    break;
  case ZTTP_EVENT_UPGRADE:
    fuzz_on_event(r, ev);
    cli(r)->done++;
    break;
  default:
    fuzz_on_event(r, ev);
    break;
  }
}

/* ---- the poisoning rule ------------------------------------------------- */

static void poisoned_sends(fuzz_run *r) {
  uint8_t b = 'x';
  static const zttp_header host = {"Host", 4, "example.com", 11, 0, 0};
  fuzz_poisoned(r,
                zttp_conn_send_request(r->conn, "GET", 3, "/", 1, &host, 1,
                                       ZTTP_SEND_FLAG_END_STREAM),
                "send_request");
  fuzz_poisoned(r, zttp_conn_send_data(r->conn, 0, &b, 1, 0), "send_data");
  fuzz_poisoned(r, zttp_conn_end_message(r->conn, 0, NULL, 0), "end_message");
  fuzz_poisoned(r, zttp_conn_close(r->conn, 0, 0), "close");
  fuzz_poisoned(r, zttp_conn_send_window(r->conn, 0), "send_window");
}

/* ---- the target --------------------------------------------------------- */

static void setup(fuzz_run *r, const uint8_t *data, size_t size) {
  client *c = cli(r);
  c->plan = (data[0] >> 5) & 7u;
  c->planned = plans[c->plan][MAX_PLAN];
  r->salt = (uint32_t)(fuzz_fnv(data, size) >> 11) & 1u;
}

static void describe(const fuzz_run *r, FILE *f) {
  fprintf(f, "plan %u", ((const client *)r)->plan);
}

static const fuzz_ops ops = {
    .name = "h1_client",
    .role = ZTTP_CLIENT,
    .run_size = sizeof(client),
    .setup = setup,
    .describe = describe,
    .start = send_upfront,
    .on_event = on_event,
    .poisoned_sends = poisoned_sends,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static client runs[2];
  return fuzz_one_input(&ops, &runs[0].b, &runs[1].b, data, size);
}
