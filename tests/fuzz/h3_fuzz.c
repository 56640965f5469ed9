/* The HTTP/3 connection fuzz driver (h3_fuzz.h).
 * SPDX-License-Identifier: MIT */
#include "h3_fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h" /* zttp_config_set_tls_backend (test-only) */

const uint32_t hf_body_sizes[8] = {0, 5, 100, 1000, 5000, 20000, 70000, 1};

void hf_fail(const char *what) {
  fprintf(stderr, "h3 fuzz invariant: %s\n", what);
  abort();
}

/* ---- the documented error sets ---------------------------------------- */

enum {
  C_RECV,
  C_EVENT,
  C_WRITE,
  C_TIMEOUT,
  C_REQUEST,
  C_RESPONSE,
  C_DATA,
  C_END,
  C_RESET,
  C_CLOSE,
  C_CONSUMED,
  C_DGRAM,
  C_WINDOW,
  C_PRIORITY,
  C_NUM
};

#define E(x) (1ull << (unsigned)-(ZTTP_ERR_##x))

/* The non-fatal errors zttp.h documents for each call. */
static const uint64_t allowed[C_NUM] = {
    [C_RECV] = 0,
    [C_EVENT] = 0,
    [C_WRITE] = 0,
    [C_TIMEOUT] = 0,
    [C_REQUEST] = E(INVALID_FIELD) | E(INVALID_STATE) | E(STREAM_LIMIT) |
                  E(CLOSED) | E(BUFFER_FULL),
    [C_RESPONSE] = E(INVALID_FIELD) | E(INVALID_STATE) | E(STREAM_LIMIT) |
                   E(CLOSED) | E(BUFFER_FULL) | E(STREAM_NOT_FOUND),
    [C_DATA] = E(FRAMING) | E(INVALID_STATE) | E(STREAM_NOT_FOUND),
    [C_END] = E(FRAMING) | E(INVALID_FIELD) | E(INVALID_STATE) | E(BUFFER_FULL),
    [C_RESET] = E(STREAM_NOT_FOUND),
    [C_CLOSE] = 0,
    [C_CONSUMED] = E(INVALID_ARGUMENT) | E(STREAM_NOT_FOUND),
    [C_DGRAM] = E(INVALID_STATE) | E(INVALID_ARGUMENT) | E(BUFFER_FULL) |
                E(STREAM_NOT_FOUND) | E(CLOSED),
    [C_WINDOW] = E(STREAM_NOT_FOUND),
    [C_PRIORITY] = E(INVALID_ARGUMENT) | E(INVALID_STATE) |
                   E(STREAM_NOT_FOUND) | E(BUFFER_FULL),
};

static const char *const call_name[C_NUM] = {
    "receive_datagram", "next_event",    "write_datagram", "handle_timeout",
    "send_request",     "send_response", "send_data",      "end_message",
    "reset_stream",     "close",         "data_consumed",  "send_datagram",
    "send_window",      "set_priority",
};

static void fail_call(hf_side *sd, int call, int64_t rv, const char *what) {
  const char *msg = NULL;
  uint64_t wire = 0;
  int64_t sid = -1;
  int32_t last =
      sd->conn != NULL ? zttp_conn_last_error(sd->conn, &msg, &wire, &sid) : 0;
  fprintf(stderr,
          "h3 fuzz: %s %s returned %lld (%s); fatal %d; last error %d "
          "(%s) wire 0x%llx stream %lld\n",
          sd->role == ZTTP_SERVER ? "server" : "client", call_name[call],
          (long long)rv, rv < 0 ? zttp_strerror((int32_t)rv) : "-",
          (int)sd->fatal, (int)last, msg != NULL ? msg : "",
          (unsigned long long)wire, (long long)sid);
  hf_fail(what);
}

/* Checks |rv| from |call| against the documented set and the poisoning
 * rule; returns it. */
static int64_t check(hf_side *sd, int call, int64_t rv) {
  if (sd->fatal != 0) {
    if (rv == sd->fatal || (call == C_WRITE && rv > 0)) {
      return rv;
    }
    fail_call(sd, call, rv,
              "a call after a fatal error returned another value");
  }
  if (rv >= 0) {
    return rv;
  }
  if (rv < -63) {
    fail_call(sd, call, rv, "an unknown error code");
  }
  if (zttp_error_is_fatal((int32_t)rv)) {
    int first_ok = rv == ZTTP_ERR_NOMEM || call == C_RECV || call == C_EVENT ||
                   call == C_TIMEOUT || call == C_WRITE;
    if (!first_ok && !sd->lax) {
      fail_call(sd, call, rv,
                "a fatal error from a call not documented to "
                "return one");
    }
    sd->fatal = (int32_t)rv;
    if (zttp_conn_last_error(sd->conn, NULL, NULL, NULL) != rv) {
      fail_call(sd, call, rv, "last_error does not name the fatal error");
    }
    if (!zttp_conn_should_close(sd->conn)) {
      fail_call(sd, call, rv, "should_close is 0 after a fatal error");
    }
    return rv;
  }
  uint64_t ok = allowed[call];
  /* Once the connection closes, the send calls refuse with CLOSED. */
  if (sd->closing && call != C_CONSUMED && call != C_RESET) {
    ok |= E(CLOSED);
  }
  if (!(ok & (1ull << (unsigned)-rv)) && !sd->lax) {
    fail_call(sd, call, rv, "an error outside the call's documented set");
  }
  return rv;
}

/* ---- setup -------------------------------------------------------------- */

static void set_limit(zttp_config *cfg, uint32_t id, uint64_t v) {
  if (zttp_config_set_limit(cfg, id, v) != 0) {
    hf_fail("set_limit refused a documented value");
  }
}

static void config_for(zttp_config *cfg, uint8_t sel0) {
  switch (sel0 & 3) {
  case 0:
    break;
  case 1: /* tight */
    set_limit(cfg, ZTTP_LIMIT_MAX_CONCURRENT_STREAMS, 2);
    set_limit(cfg, ZTTP_LIMIT_STREAM_WINDOW, 1024);
    set_limit(cfg, ZTTP_LIMIT_CONNECTION_WINDOW, 4096);
    set_limit(cfg, ZTTP_LIMIT_OUTPUT_BUFFER, 1024);
    set_limit(cfg, ZTTP_LIMIT_MAX_HEADERS, 8);
    set_limit(cfg, ZTTP_LIMIT_MAX_HEADER_BYTES, 400);
    set_limit(cfg, ZTTP_LIMIT_MAX_TRAILERS, 2);
    set_limit(cfg, ZTTP_LIMIT_MAX_TRAILER_BYTES, 64);
    set_limit(cfg, ZTTP_LIMIT_RESET_BURST, 2);
    set_limit(cfg, ZTTP_LIMIT_RESET_RATE, 1);
    set_limit(cfg, ZTTP_LIMIT_GLITCH_BURST, 5);
    set_limit(cfg, ZTTP_LIMIT_GLITCH_RATE, 1);
    set_limit(cfg, ZTTP_LIMIT_HEADER_TABLE_SIZE, 0);
    set_limit(cfg, ZTTP_LIMIT_ENCODER_TABLE_SIZE, 0);
    set_limit(cfg, ZTTP_LIMIT_QPACK_BLOCKED_STREAMS, 0);
    break;
  case 2: /* a small QPACK table, one blocked stream */
    set_limit(cfg, ZTTP_LIMIT_HEADER_TABLE_SIZE, 220);
    set_limit(cfg, ZTTP_LIMIT_ENCODER_TABLE_SIZE, 65536);
    set_limit(cfg, ZTTP_LIMIT_QPACK_BLOCKED_STREAMS, 1);
    set_limit(cfg, ZTTP_LIMIT_IDLE_TIMEOUT, 1000);
    break;
  default:
    set_limit(cfg, ZTTP_LIMIT_IDLE_TIMEOUT, 0);
    set_limit(cfg, ZTTP_LIMIT_MAX_CONCURRENT_STREAMS, 1000);
    set_limit(cfg, ZTTP_LIMIT_HEADER_TABLE_SIZE, 65536);
    set_limit(cfg, ZTTP_LIMIT_ENCODER_TABLE_SIZE, 65536);
    set_limit(cfg, ZTTP_LIMIT_QPACK_BLOCKED_STREAMS, 100);
    set_limit(cfg, ZTTP_LIMIT_STREAM_WINDOW, 100000);
    break;
  }
  if ((sel0 & HF_SEL_CONNECT) &&
      zttp_config_set_option(cfg, ZTTP_OPT_ENABLE_CONNECT_PROTOCOL, 1) != 0) {
    hf_fail("set_option refused ENABLE_CONNECT_PROTOCOL");
  }
  if ((sel0 & HF_SEL_DATAGRAM) &&
      zttp_config_set_option(cfg, ZTTP_OPT_H3_DATAGRAM, 1) != 0) {
    hf_fail("set_option refused H3_DATAGRAM");
  }
}

static void write_all(hf_side *sd);

void hf_side_init(hf_side *sd, fuzz_mem *m, uint32_t role, uint8_t sel0,
                  uint8_t sel1, hf_emit_fn emit) {
  memset(sd, 0, sizeof(*sd));
  sd->role = role;
  sd->sel0 = sel0;
  sd->sel1 = sel1;
  sd->emit = emit;
  sd->log = getenv("ZTTP_FUZZ_LOG") != NULL;
  sd->lax = fuzz_ignored("errors");
  sd->mem = m;
  sd->now = FUZZ_T0;
  sd->buflen = (sel1 & HF_SEL1_SMALL_BUF) ? 1200 : 65536;
  sd->last_req_id = -1;
  /* Opaque socket addresses: ours in local, the peer's in remote. */
  sd->path.local_len = sd->path.remote_len = 6;
  memset(sd->path.local, role == ZTTP_SERVER ? 0x53 : 0x43, 6);
  memset(sd->path.remote, role == ZTTP_SERVER ? 0x43 : 0x53, 6);
  sd->alt_path = sd->path;
  sd->alt_path.remote[5] ^= 0x01;
  if (zttp_config_new(&sd->cfg, &m->alloc) != 0) {
    hf_fail("config_new failed");
  }
  if (zttp_config_set_tls_backend(sd->cfg, ZTTP_TLS_NULL) != 0) {
    hf_fail("the null TLS backend was refused");
  }
  if (role == ZTTP_CLIENT) {
    zttp_config_set_tls_insecure_no_verify(sd->cfg, 1);
  }
  config_for(sd->cfg, sel0);
  if (zttp_conn_new(&sd->conn, sd->cfg, role, ZTTP_HTTP3) != 0) {
    hf_fail("conn_new failed");
  }
  if (role == ZTTP_CLIENT) {
    hf_service(sd);
  }
}

void hf_side_free(hf_side *sd) {
  zttp_conn_free(sd->conn);
  sd->conn = NULL;
  zttp_config_free(sd->cfg);
  sd->cfg = NULL;
}

/* ---- the application ------------------------------------------------- */

enum { HF_K_GET, HF_K_POST_CL, HF_K_POST, HF_K_HEAD, HF_K_CONNECT };

static hf_stream *stream_get(hf_side *sd, int64_t id, int add) {
  for (size_t i = 0; i < HF_MAX_STREAMS; i++) {
    if (sd->st[i].used && sd->st[i].id == id) {
      return &sd->st[i];
    }
  }
  if (!add) {
    return NULL;
  }
  for (size_t i = 0; i < HF_MAX_STREAMS; i++) {
    if (!sd->st[i].used) {
      memset(&sd->st[i], 0, sizeof(sd->st[i]));
      sd->st[i].used = 1;
      sd->st[i].id = id;
      return &sd->st[i];
    }
  }
  return NULL;
}

static void hash(hf_side *sd, const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t h = sd->sink;
  for (size_t i = 0; i < n; i++) {
    h = (h ^ b[i]) * 0x100000001b3ull;
  }
  sd->sink = h;
}

static void check_str(hf_side *sd, zttp_str s, const char *what) {
  if (s.len > 0 && s.base == NULL) {
    hf_fail(what);
  }
  hash(sd, s.base, s.len);
}

static void check_fields(hf_side *sd, const zttp_header *h, size_t n) {
  if (n > 0 && h == NULL) {
    hf_fail("fields counted at NULL");
  }
  for (size_t i = 0; i < n; i++) {
    if ((h[i].name_len > 0 && h[i].name == NULL) ||
        (h[i].value_len > 0 && h[i].value == NULL)) {
      hf_fail("a field's bytes at NULL");
    }
    if (h[i].name_len == 0) {
      hf_fail("a field with an empty name");
    }
    hash(sd, h[i].name, h[i].name_len);
    hash(sd, h[i].value, h[i].value_len);
  }
}

static int is_request_stream(int64_t id) {
  return id >= 0 && (id & 3) == 0;
}

static zttp_header hdr(const char *n, const char *v) {
  zttp_header h = {n, strlen(n), v, strlen(v), 0, 0};
  return h;
}

/* A send call on |st| failed with |rv|: abandon the exchange, so that no
 * event names it again. */
static void abandon(hf_side *sd, hf_stream *st, int64_t rv) {
  st->reset = 1;
  if (rv != ZTTP_ERR_STREAM_NOT_FOUND && sd->fatal == 0 && !sd->closing) {
    check(sd, C_RESET, zttp_conn_reset_stream(sd->conn, st->id, 0x102));
  }
}

static int end_message(hf_side *sd, hf_stream *st) {
  zttp_header t[2];
  size_t nt = 0;
  if (st->trailers) {
    t[nt++] = hdr("x-checksum", "12345");
    t[nt++] = hdr("x-trailer", "done");
  }
  int32_t rv =
      (int32_t)check(sd, C_END, zttp_conn_end_message(sd->conn, st->id, t, nt));
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    return 0;
  }
  st->end_sent = 1;
  if (rv != 0) {
    abandon(sd, st, rv);
  }
  return 1;
}

/* The server's response head on |st|. */
static void send_head(hf_side *sd, hf_stream *st) {
  zttp_header h[3];
  size_t n = 0;
  uint32_t flags = 0;
  if (st->kind != HF_K_CONNECT) {
    h[n++] = hdr("content-type", "text/plain");
  }
  h[n++] = hdr("server", "zttp-fuzz");
  if (st->kind == HF_K_HEAD) {
    flags = ZTTP_SEND_FLAG_END_STREAM;
  }
  int32_t rv = (int32_t)check(
      sd, C_RESPONSE,
      zttp_conn_send_response(sd->conn, st->id, 200, NULL, 0, h, n, flags));
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    return;
  }
  st->head_sent = 1;
  if (rv != 0) {
    abandon(sd, st, rv);
    return;
  }
  if (flags) {
    st->end_sent = 1;
    st->owed = 0;
  }
}

/* Pushes what |st| owes: the head, body bytes, the end. */
static void pump_stream(hf_side *sd, hf_stream *st) {
  if (!st->used || st->reset || st->end_sent || sd->fatal != 0 || sd->closing) {
    return;
  }
  if (!st->head_sent) {
    if (sd->role == ZTTP_SERVER) {
      send_head(sd, st);
    }
    if (!st->head_sent || st->end_sent || st->reset) {
      return;
    }
  }
  if (st->kind == HF_K_CONNECT && sd->role == ZTTP_CLIENT && !st->got_head) {
    return; /* the tunnel opens with a 2xx */
  }
  for (int k = 0; k < 1000 && st->owed > 0; k++) {
    size_t n =
        st->owed < FUZZ_PATTERN_LEN ? (size_t)st->owed : FUZZ_PATTERN_LEN;
    int64_t w =
        check(sd, C_DATA,
              zttp_conn_send_data(sd->conn, st->id, fuzz_pattern(), n, 0));
    if (w < 0) {
      abandon(sd, st, w);
      return;
    }
    if ((uint64_t)w > n) {
      hf_fail("send_data took more than given");
    }
    st->owed -= (uint64_t)w;
    if ((size_t)w < n) {
      int64_t win =
          check(sd, C_WINDOW, zttp_conn_send_window(sd->conn, st->id));
      if (win < 0 && win != ZTTP_ERR_STREAM_NOT_FOUND && sd->fatal == 0) {
        hf_fail("send_window failed on an open stream");
      }
      return;
    }
  }
  if (st->owed == 0 && st->want_end) {
    end_message(sd, st);
  }
}

static void pump_all(hf_side *sd);

static void send_dgram(hf_side *sd, int64_t id, const uint8_t *d, size_t n) {
  if (!(sd->sel0 & HF_SEL_DATAGRAM) || sd->fatal != 0 || sd->closing) {
    return;
  }
  check(sd, C_DGRAM, zttp_conn_send_datagram(sd->conn, id, d, n));
}

/* A client's request number |i|. */
static void send_one_request(hf_side *sd, int kind) {
  uint32_t body = hf_body_sizes[sd->sel1 & 7];
  char cl[24];
  zttp_header h[6];
  size_t n = 0;
  const char *method = "GET", *target = "/index.html";
  uint32_t flags = 0;
  switch (kind) {
  case HF_K_GET:
    flags = ZTTP_SEND_FLAG_END_STREAM;
    h[n++] = hdr("accept", "*/*");
    break;
  case HF_K_POST_CL:
    method = "POST";
    target = "/upload?cl=1";
    snprintf(cl, sizeof(cl), "%u", (unsigned)body);
    h[n++] = hdr("content-length", cl);
    h[n++] = hdr("content-type", "application/octet-stream");
    break;
  case HF_K_POST:
    method = "POST";
    target = "/upload";
    break;
  case HF_K_HEAD:
    method = "HEAD";
    flags = ZTTP_SEND_FLAG_END_STREAM;
    break;
  default: /* HF_K_CONNECT */
    method = "CONNECT";
    if (sd->peer_connect) {
      target = "/.well-known/masque/udp/192.0.2.6/443/";
      h[n++] = hdr(":protocol", "connect-udp");
      h[n++] = hdr(":scheme", "https");
      h[n++] = hdr(":authority", "localhost");
      h[n++] = hdr("capsule-protocol", "?1");
    } else {
      target = "localhost:443";
    }
    break;
  }
  h[n++] = hdr("user-agent", "zttp-fuzz");
  int64_t id =
      check(sd, C_REQUEST,
            zttp_conn_send_request(sd->conn, method, strlen(method), target,
                                   strlen(target), h, n, flags));
  if (id == ZTTP_ERR_STREAM_LIMIT || id == ZTTP_ERR_BUFFER_FULL) {
    return; /* retried by pump_all */
  }
  if (kind == HF_K_CONNECT) {
    sd->connect_sent = 1;
  } else {
    sd->requests_sent++;
  }
  if (id < 0) {
    if (id == ZTTP_ERR_INVALID_FIELD && !sd->lax) {
      fail_call(sd, C_REQUEST, id, "a well-formed request was refused");
    }
    return;
  }
  if (!is_request_stream(id) || id <= sd->last_req_id) {
    hf_fail("send_request returned a stream id that is not a new "
            "client-initiated bidirectional one");
  }
  sd->last_req_id = id;
  hf_stream *st = stream_get(sd, id, 1);
  if (st == NULL) {
    return;
  }
  st->kind = kind;
  st->head_sent = 1;
  if (flags & ZTTP_SEND_FLAG_END_STREAM) {
    st->end_sent = 1;
  } else {
    st->owed = kind == HF_K_CONNECT ? 100 : body;
    st->want_end = 1;
    st->trailers = kind == HF_K_POST && (sd->sel1 & HF_SEL1_TRAILERS);
  }
  send_dgram(sd, id, fuzz_pattern(), 10);
  if (check(sd, C_PRIORITY,
            zttp_conn_set_priority(sd->conn, id, 3 + kind % 3, kind & 1)) ==
          ZTTP_ERR_STREAM_NOT_FOUND &&
      !st->end_sent) {
    hf_fail("set_priority did not find a request just sent");
  }
  pump_stream(sd, st);
}

static void pump_all(hf_side *sd) {
  if (sd->fatal != 0 || sd->closing) {
    return;
  }
  if (sd->role == ZTTP_CLIENT && sd->hs_done) {
    static const int kinds[4] = {HF_K_GET, HF_K_POST_CL, HF_K_POST, HF_K_HEAD};
    while (sd->requests_sent < sd->num_requests && sd->fatal == 0 &&
           !sd->goaway_seen) {
      int before = sd->requests_sent;
      send_one_request(sd, kinds[sd->requests_sent % 4]);
      if (sd->requests_sent == before) {
        break;
      }
    }
    if ((sd->sel0 & HF_SEL_CONNECT) && !sd->connect_sent && sd->settings_seen &&
        sd->fatal == 0 && !sd->goaway_seen) {
      send_one_request(sd, HF_K_CONNECT);
    }
  }
  for (size_t i = 0; i < HF_MAX_STREAMS; i++) {
    pump_stream(sd, &sd->st[i]);
  }
}

/* Every request answered to its end (or reset). */
static int all_answered(const hf_side *sd) {
  if (sd->requests_sent < sd->num_requests && !sd->goaway_seen) {
    return 0;
  }
  for (size_t i = 0; i < HF_MAX_STREAMS; i++) {
    const hf_stream *st = &sd->st[i];
    if (st->used && !st->got_end && !st->reset) {
      return 0;
    }
  }
  return 1;
}

static void consume(hf_side *sd, int64_t id, size_t n) {
  int32_t rv =
      (int32_t)check(sd, C_CONSUMED, zttp_conn_data_consumed(sd->conn, id, n));
  if (rv != 0 && sd->fatal == 0) {
    fail_call(sd, C_CONSUMED, rv, "data_consumed refused what DATA delivered");
  }
}

static void on_request(hf_side *sd, const zttp_event *ev) {
  const zttp_request_event *r = &ev->u.request;
  check_str(sd, r->method, "request method at NULL");
  check_str(sd, r->target, "request target at NULL");
  check_str(sd, r->path, "request path at NULL");
  check_str(sd, r->query, "request query at NULL");
  check_str(sd, r->authority, "request authority at NULL");
  check_str(sd, r->scheme, "request scheme at NULL");
  check_str(sd, r->protocol, "request protocol at NULL");
  check_fields(sd, r->headers, r->num_headers);
  if (r->method.len == 0) {
    hf_fail("a REQUEST without a method");
  }
  if (r->http_version != 30) {
    hf_fail("an HTTP/3 REQUEST with another http_version");
  }
  hf_stream *st = stream_get(sd, ev->stream_id, 0);
  if (st != NULL && !st->reset) {
    hf_fail("a second REQUEST on one stream");
  }
  st = stream_get(sd, ev->stream_id, 1);
  if (st == NULL) {
    /* No room to track it: refuse it, so no event names it again. */
    check(sd, C_RESET, zttp_conn_reset_stream(sd->conn, ev->stream_id, 0x107));
    return;
  }
  sd->num_requests++;
  st->kind = HF_K_GET;
  if (r->method.len == 4 && memcmp(r->method.base, "HEAD", 4) == 0) {
    st->kind = HF_K_HEAD;
  } else if (r->method.len == 7 && memcmp(r->method.base, "CONNECT", 7) == 0) {
    st->kind = HF_K_CONNECT;
  }
  st->trailers = (sd->sel1 & HF_SEL1_TRAILERS) != 0 && st->kind != HF_K_HEAD;
  if ((sd->sel0 & HF_SEL_RESET) && (sd->num_requests & 1) == 0) {
    check(sd, C_RESET, zttp_conn_reset_stream(sd->conn, ev->stream_id, 0x10c));
    st->reset = 1;
    return;
  }
  if (st->kind != HF_K_HEAD && st->kind != HF_K_CONNECT) {
    st->owed = 6 + (uint64_t)(ev->stream_id / 4 % 3) * 100;
  }
  pump_stream(sd, st);
}

static void on_event(hf_side *sd, const zttp_event *ev) {
  int server = sd->role == ZTTP_SERVER;
  if (sd->closed_ev) {
    hf_fail("an event after CONNECTION_CLOSED");
  }
  if (ev->stream_id < 0) {
    hf_fail("an event with a negative stream id");
  }
  if (sd->log) {
    fprintf(stderr, "h3 fuzz: %s t=%llu ev %u stream %lld flags %u\n",
            server ? "server" : "client",
            (unsigned long long)((sd->now - FUZZ_T0) / FUZZ_NS_PER_MS),
            (unsigned)ev->kind, (long long)ev->stream_id, (unsigned)ev->flags);
  }
  hf_stream *st = NULL;
  switch (ev->kind) {
  case ZTTP_EVENT_REQUEST:
  case ZTTP_EVENT_RESPONSE:
  case ZTTP_EVENT_DATA:
  case ZTTP_EVENT_END_MESSAGE:
  case ZTTP_EVENT_STREAM_RESET:
  case ZTTP_EVENT_DATAGRAM:
  case ZTTP_EVENT_WINDOW_UPDATE:
    if (!is_request_stream(ev->stream_id)) {
      hf_fail("a request event on a stream that is not client-initiated "
              "bidirectional");
    }
    st = stream_get(sd, ev->stream_id, 0);
    break;
  default:
    break;
  }
  switch (ev->kind) {
  case ZTTP_EVENT_NEED_DATA:
    hf_fail("next_event returned 1 with NEED_DATA");
    break;
  case ZTTP_EVENT_REQUEST:
    if (!server) {
      hf_fail("a REQUEST on a client");
    }
    on_request(sd, ev);
    break;
  case ZTTP_EVENT_RESPONSE:
    if (server) {
      hf_fail("a RESPONSE on a server");
    }
    if (st == NULL) {
      hf_fail("a RESPONSE on a stream the client did not open");
    }
    if (ev->u.response.status < 100 || ev->u.response.status > 599 ||
        ev->u.response.http_version != 30) {
      hf_fail("a RESPONSE with a bad status or version");
    }
    check_str(sd, ev->u.response.reason, "reason at NULL");
    check_fields(sd, ev->u.response.headers, ev->u.response.num_headers);
    if (ev->u.response.status < 200) {
      break;
    }
    if (st->got_head) {
      hf_fail("a second final RESPONSE");
    }
    st->got_head = 1;
    if ((sd->sel0 & HF_SEL_RESET) && st->id == sd->last_req_id &&
        sd->last_req_id > 0 && !st->reset) {
      check(sd, C_RESET, zttp_conn_reset_stream(sd->conn, st->id, 0x10c));
      st->reset = 1;
      break;
    }
    if (st->kind == HF_K_CONNECT) {
      send_dgram(sd, st->id, fuzz_pattern() + 1, 20);
    }
    pump_stream(sd, st);
    break;
  case ZTTP_EVENT_DATA:
    if (ev->u.data.len == 0 && !(ev->flags & ZTTP_EVENT_FLAG_END_STREAM)) {
      hf_fail("an empty DATA event");
    }
    if (ev->u.data.len > 0 && ev->u.data.data == NULL) {
      hf_fail("DATA bytes at NULL");
    }
    hash(sd, ev->u.data.data, ev->u.data.len);
    if (st == NULL || (!server && !st->got_head)) {
      hf_fail("DATA on a stream the application does not know");
    }
    if (st->got_end) {
      hf_fail("DATA after END_MESSAGE");
    }
    if (sd->sel1 & HF_SEL1_LAZY) {
      st->unconsumed += ev->u.data.len;
    } else {
      consume(sd, ev->stream_id, ev->u.data.len);
    }
    if (server && !st->reset && st->kind != HF_K_HEAD) {
      st->owed += ev->u.data.len; /* echo */
      pump_stream(sd, st);
    }
    break;
  case ZTTP_EVENT_END_MESSAGE:
    if (st == NULL || (!server && !st->got_head)) {
      hf_fail("END_MESSAGE on a stream the application does not know");
    }
    if (st->got_end) {
      hf_fail("a second END_MESSAGE");
    }
    check_fields(sd, ev->u.end.trailers, ev->u.end.num_trailers);
    st->got_end = 1;
    if (st->unconsumed > 0) {
      consume(sd, st->id, (size_t)st->unconsumed);
      st->unconsumed = 0;
    }
    if (server) {
      st->want_end = 1;
      pump_stream(sd, st);
    } else {
      sd->answered++;
    }
    break;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    check_str(sd, ev->u.closed.reason, "close reason at NULL");
    if (ev->u.closed.error > 0) {
      hf_fail("CONNECTION_CLOSED with a positive error");
    }
    if (sd->log) {
      fprintf(stderr, "h3 fuzz: closed error %d wire 0x%llx %.*s\n",
              (int)ev->u.closed.error,
              (unsigned long long)ev->u.closed.wire_error_code,
              (int)ev->u.closed.reason.len, ev->u.closed.reason.base);
    }
    sd->closed_ev = 1;
    sd->closing = 1;
    break;
  case ZTTP_EVENT_STREAM_RESET:
    if (st == NULL) {
      hf_fail("STREAM_RESET for a stream the application never saw");
    }
    st->reset = 1;
    break;
  case ZTTP_EVENT_GOAWAY:
    check_str(sd, ev->u.goaway.debug_data, "GOAWAY debug data at NULL");
    if (!server && !is_request_stream(ev->u.goaway.last_stream_id)) {
      hf_fail("a server's GOAWAY naming no request stream");
    }
    sd->goaway_seen = 1;
    break;
  case ZTTP_EVENT_SETTINGS:
    if (ev->u.settings.num_settings > 0 && ev->u.settings.settings == NULL) {
      hf_fail("settings counted at NULL");
    }
    for (size_t i = 0; i < ev->u.settings.num_settings; i++) {
      const zttp_setting *s = &ev->u.settings.settings[i];
      if (s->id == 0x8 && s->value == 1) {
        sd->peer_connect = 1;
      }
      if (s->id == 0x33 && s->value == 1) {
        sd->peer_datagram = 1;
      }
    }
    sd->settings_seen = 1;
    break;
  case ZTTP_EVENT_WINDOW_UPDATE:
    if (st == NULL) {
      hf_fail("WINDOW_UPDATE for a stream the application does not know");
    }
    pump_stream(sd, st);
    break;
  case ZTTP_EVENT_HANDSHAKE_DONE:
    if (sd->hs_done) {
      hf_fail("a second HANDSHAKE_DONE");
    }
    sd->hs_done = 1;
    if (!server) {
      sd->num_requests = 1 + ((sd->sel1 >> 3) & 3);
    }
    break;
  case ZTTP_EVENT_SESSION_TICKET:
    if (server) {
      hf_fail("a SESSION_TICKET on a server");
    }
    if (ev->u.data.len == 0 || ev->u.data.data == NULL) {
      hf_fail("an empty SESSION_TICKET");
    }
    hash(sd, ev->u.data.data, ev->u.data.len);
    break;
  case ZTTP_EVENT_DATAGRAM:
    if (ev->u.data.len > 0 && ev->u.data.data == NULL) {
      hf_fail("DATAGRAM bytes at NULL");
    }
    if (!(sd->sel0 & HF_SEL_DATAGRAM)) {
      hf_fail("a DATAGRAM event without ZTTP_OPT_H3_DATAGRAM");
    }
    hash(sd, ev->u.data.data, ev->u.data.len);
    if (server && st != NULL && !st->reset) {
      send_dgram(sd, ev->stream_id, ev->u.data.data, ev->u.data.len);
    }
    break;
  case ZTTP_EVENT_PATH:
  case ZTTP_EVENT_PRIORITY:
    break;
  case ZTTP_EVENT_PING:
  case ZTTP_EVENT_UPGRADE:
  default:
    hf_fail("an event kind HTTP/3 does not produce");
  }
}

static void emit_segments(hf_side *sd, const uint8_t *buf, size_t n, size_t seg,
                          const zttp_path *path) {
  for (size_t off = 0; off < n; off += seg) {
    size_t len = n - off < seg ? n - off : seg;
    if (sd->emit != NULL) {
      sd->emit(sd, buf + off, len, path, sd->now);
    }
  }
}

static void write_all(hf_side *sd) {
  static uint8_t buf[65536];
  for (int k = 0; k < 10000; k++) {
    zttp_path path;
    size_t seg = 12345;
    int64_t n = check(sd, C_WRITE,
                      zttp_conn_write_datagram(sd->conn, &path, &seg, buf,
                                               sd->buflen, sd->now));
    if (n < 0) {
      if (sd->fatal == 0 || (k > 0 && n == sd->fatal)) {
        return; /* the CONNECTION_CLOSE went out, or none is owed */
      }
      continue; /* just poisoned: the CONNECTION_CLOSE may follow */
    }
    if (n == 0) {
      if (sd->fatal != 0) {
        hf_fail("write_datagram returned 0 on a poisoned connection");
      }
      return;
    }
    if ((size_t)n > sd->buflen) {
      hf_fail("write_datagram returned more than the buffer");
    }
    if (seg == 0 || seg > (size_t)n) {
      hf_fail("write_datagram returned a bad segment size");
    }
    if (sd->role == ZTTP_SERVER &&
        memcmp(path.local, sd->path.local, sizeof(path.local)) != 0) {
      hf_fail("a server datagram from another local address");
    }
    fuzz_cids_learn(&sd->cids, buf, seg, HF_CID_LEN);
    if (sd->log) {
      fprintf(stderr, "h3 fuzz: %s t=%llu wrote %lld (seg %zu)\n",
              sd->role == ZTTP_SERVER ? "server" : "client",
              (unsigned long long)((sd->now - FUZZ_T0) / FUZZ_NS_PER_MS),
              (long long)n, seg);
    }
    emit_segments(sd, buf, (size_t)n, seg, &path);
  }
  hf_fail("write_datagram never returned 0");
}

/* The poisoning rule, probed on every call a poisoned connection gets. */
static void probe_poisoned(hf_side *sd) {
  zttp_event ev;
  check(sd, C_EVENT, zttp_conn_next_event(sd->conn, &ev));
  if (ev.kind != ZTTP_EVENT_NEED_DATA) {
    hf_fail("next_event filled an event on a poisoned connection");
  }
  int64_t id = sd->last_req_id >= 0 ? sd->last_req_id : 0;
  check(sd, C_DATA, zttp_conn_send_data(sd->conn, id, fuzz_pattern(), 1, 0));
  check(sd, C_END, zttp_conn_end_message(sd->conn, id, NULL, 0));
  check(sd, C_CONSUMED, zttp_conn_data_consumed(sd->conn, id, 0));
  check(sd, C_RESET, zttp_conn_reset_stream(sd->conn, id, 0x10c));
  check(sd, C_WINDOW, zttp_conn_send_window(sd->conn, id));
  check(sd, C_CLOSE, zttp_conn_close(sd->conn, 0, ZTTP_CLOSE_FLAG_GRACEFUL));
  if (sd->role == ZTTP_CLIENT) {
    check(sd, C_REQUEST,
          zttp_conn_send_request(sd->conn, "GET", 3, "/", 1, NULL, 0,
                                 ZTTP_SEND_FLAG_END_STREAM));
  } else {
    check(sd, C_RESPONSE,
          zttp_conn_send_response(sd->conn, id, 200, NULL, 0, NULL, 0, 0));
  }
  check(sd, C_DGRAM, zttp_conn_send_datagram(sd->conn, id, fuzz_pattern(), 1));
  check(sd, C_PRIORITY, zttp_conn_set_priority(sd->conn, id, 1, 0));
}

void hf_service(hf_side *sd) {
  if (sd->conn == NULL) {
    return;
  }
  int was_fatal = sd->fatal != 0;
  for (int k = 0; k < 100000 && sd->fatal == 0; k++) {
    zttp_event ev;
    memset(&ev, 0xa5, sizeof(ev));
    int32_t got =
        (int32_t)check(sd, C_EVENT, zttp_conn_next_event(sd->conn, &ev));
    if (got < 0) {
      break;
    }
    if (got == 0) {
      if (ev.kind != ZTTP_EVENT_NEED_DATA) {
        hf_fail("next_event returned 0 without NEED_DATA");
      }
      break;
    }
    if (got != 1) {
      hf_fail("next_event returned more than 1");
    }
    on_event(sd, &ev);
  }
  pump_all(sd);
  if (sd->fatal == 0 && !sd->close_sent && (sd->sel0 & HF_SEL_CLOSE) &&
      !sd->closing) {
    int go = sd->role == ZTTP_SERVER ? sd->answered > 0 || sd->num_requests > 1
                                     : sd->hs_done && all_answered(sd);
    if (go) {
      sd->close_sent = 1;
      check(sd, C_CLOSE,
            zttp_conn_close(sd->conn, 0, ZTTP_CLOSE_FLAG_GRACEFUL));
    }
  }
  for (size_t i = 0; i < HF_MAX_STREAMS; i++) {
    hf_stream *st = &sd->st[i];
    if (!st->used) {
      continue;
    }
    /* A finished or reset exchange: no event names it again. */
    if (sd->role == ZTTP_SERVER && st->end_sent && st->got_end && !st->reset) {
      sd->answered++;
      st->used = 0;
    } else if (st->reset && sd->role == ZTTP_SERVER) {
      st->used = 0;
    }
  }
  if (sd->fatal != 0 && !was_fatal) {
    probe_poisoned(sd);
  }
  write_all(sd);
}

void hf_advance(hf_side *sd, zttp_tstamp target) {
  if (sd->conn == NULL) {
    sd->now = target > sd->now ? target : sd->now;
    return;
  }
  int stuck = 0;
  for (int k = 0; k < 100000; k++) {
    zttp_tstamp t = zttp_conn_next_timeout(sd->conn);
    if (t == ZTTP_TSTAMP_NEVER || t > target) {
      break;
    }
    if (t <= sd->now) {
      if (++stuck > 100) {
        hf_fail("a timer stays due after handle_timeout");
      }
    } else {
      stuck = 0;
      sd->now = t;
    }
    check(sd, C_TIMEOUT, zttp_conn_handle_timeout(sd->conn, sd->now));
    hf_service(sd);
  }
  if (target > sd->now) {
    sd->now = target;
  }
}

void hf_feed(hf_side *sd, const uint8_t *d, size_t n, int alt) {
  int32_t rv = (int32_t)check(
      sd, C_RECV,
      zttp_conn_receive_datagram(sd->conn, d, n,
                                 alt ? &sd->alt_path : &sd->path, sd->now));
  if (sd->log) {
    fprintf(stderr, "h3 fuzz: %s t=%llu recv %zu -> %d\n",
            sd->role == ZTTP_SERVER ? "server" : "client",
            (unsigned long long)((sd->now - FUZZ_T0) / FUZZ_NS_PER_MS), n,
            (int)rv);
  }
  if (rv > 0) {
    hf_fail("receive_datagram returned a positive value");
  }
  hf_service(sd);
}

/* ---- the fuzz input ----------------------------------------------------- */

int hf_fuzz_one(uint32_t role, const uint8_t *data, size_t size) {
  fuzz_records in;
  if (!fuzz_records_start(&in, data, size, HF_MAX_DGRAM)) {
    return 0;
  }
  fuzz_mem m;
  fuzz_mem_init(&m, hf_fail);
  hf_side sd;
  hf_side_init(&sd, &m, role, data[0], data[1], NULL);
  fuzz_record rec;
  while (fuzz_records_next(&in, &rec)) {
    hf_advance(&sd, sd.now + rec.delta);
    if (rec.n > 0) {
      int subst = !(sd.sel0 & HF_SEL_NO_SUBST);
      hf_feed(&sd, fuzz_records_take(&in, &rec, &sd.cids, role, subst), rec.n,
              (rec.flags & HF_ALT_PATH) != 0);
    }
  }
  if (sd.sel0 & HF_SEL_LINGER) {
    hf_advance(&sd, sd.now + 60000 * FUZZ_NS_PER_MS);
  }
  hf_side_free(&sd);
  if (m.live != 0) {
    hf_fail("memory still allocated after free");
  }
  return 0;
}
