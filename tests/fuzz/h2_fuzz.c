/* SPDX-License-Identifier: MIT */
#include "h2_fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zttp/zttp.h"

#define MAX_STREAMS 64

typedef struct run {
  uint32_t role;
  uint32_t sel;
  zttp_config *cfg;
  zttp_conn *conn;
  uint64_t hash;
  int64_t data_stream;
  int32_t fatal;
  int closed;
  size_t out_cap;
  int64_t answered[MAX_STREAMS];
  size_t num_answered;
} run;

static void fail(const char *what) {
  fprintf(stderr, "h2 fuzz invariant: %s\n", what);
  abort();
}

static void hash_u64(uint64_t *h, uint64_t v) {
  for (int i = 0; i < 8; i++) {
    *h = (*h ^ (v & 0xff)) * 0x100000001b3ull;
    v >>= 8;
  }
}

static void hash_bytes(uint64_t *h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    *h = (*h ^ b[i]) * 0x100000001b3ull;
  }
}

static void hash_str(uint64_t *h, zttp_str s) {
  hash_u64(h, s.len);
  hash_bytes(h, s.base, s.len);
}

static void check_fields(run *r, const zttp_header *f, size_t n) {
  if (n > 0 && f == NULL) {
    fail("NULL field list");
  }
  hash_u64(&r->hash, n);
  for (size_t i = 0; i < n; i++) {
    if (f[i].name_len == 0) {
      fail("empty field name");
    }
    for (size_t k = 0; k < f[i].name_len; k++) {
      unsigned char c = (unsigned char)f[i].name[k];
      if ((c >= 'A' && c <= 'Z') || c <= 0x20 || c >= 0x7f || c == ':') {
        fail("field name is not a lowercase token");
      }
    }
    for (size_t k = 0; k < f[i].value_len; k++) {
      unsigned char c = (unsigned char)f[i].value[k];
      if (c == 0 || c == '\r' || c == '\n') {
        fail("NUL, CR or LF in a field value");
      }
    }
    hash_bytes(&r->hash, f[i].name, f[i].name_len);
    hash_u64(&r->hash, f[i].value_len);
    hash_bytes(&r->hash, f[i].value, f[i].value_len);
  }
}

static void drain_output(run *r) {
  const uint8_t *o;
  size_t n = zttp_conn_pending(r->conn, &o);
  if (n > r->out_cap) {
    fail("pending output above the output limit and the control reserve");
  }
  if (n > 0 && zttp_conn_consume(r->conn, n) != 0) {
    fail("consume refused the pending count");
  }
}

static int was_answered(run *r, int64_t id) {
  for (size_t i = 0; i < r->num_answered; i++) {
    if (r->answered[i] == id) {
      return 1;
    }
  }
  return 0;
}

/* The application's answer on |id| (server role). */
static void answer(run *r, int64_t id, int head) {
  if (was_answered(r, id) || r->num_answered == MAX_STREAMS) {
    return;
  }
  r->answered[r->num_answered++] = id;
  uint32_t salt = (r->sel >> 7) + (uint32_t)id;
  zttp_conn *c = r->conn;
  zttp_header h[2] = {{"content-type", 12, "text/plain", 10, 0, 0},
                      {"x-id", 4, "1", 1, 0, 0}};
  if (salt % 5 == 1) {
    zttp_conn_reset_stream(c, id, 8);
    return;
  }
  if (salt % 3 == 1) {
    zttp_conn_send_informational(c, id, 103, h, 1);
  }
  if (zttp_conn_send_response(c, id, 200, NULL, 0, h, 2, 0) != 0) {
    return;
  }
  if (!head) {
    zttp_conn_send_data(c, id, (const uint8_t *)"hello, world", 12, 0);
  }
  if (salt % 2 == 1) {
    zttp_header t = {"x-trailer", 9, "v", 1, 0, 0};
    zttp_conn_end_message(c, id, &t, 1);
  } else {
    zttp_conn_end_message(c, id, NULL, 0);
  }
}

static void on_event(run *r, const zttp_event *ev) {
  if (r->closed) {
    fail("an event after CONNECTION_CLOSED");
  }
  if (ev->kind != ZTTP_EVENT_DATA) {
    r->data_stream = -1;
    hash_u64(&r->hash, ev->kind);
    hash_u64(&r->hash, ev->flags);
    hash_u64(&r->hash, (uint64_t)ev->stream_id);
  }
  switch (ev->kind) {
  case ZTTP_EVENT_REQUEST: {
    const zttp_request_event *q = &ev->u.request;
    if (r->role != ZTTP_SERVER || ev->stream_id <= 0 || q->http_version != 20) {
      fail("bad REQUEST");
    }
    hash_str(&r->hash, q->method);
    hash_str(&r->hash, q->target);
    hash_str(&r->hash, q->authority);
    check_fields(r, q->headers, q->num_headers);
    if ((r->sel & 0x40) || (ev->flags & ZTTP_EVENT_FLAG_END_STREAM)) {
      answer(r, ev->stream_id, q->method.len == 4);
    }
    break;
  }
  case ZTTP_EVENT_RESPONSE:
    if (r->role != ZTTP_CLIENT || ev->u.response.status < 100 ||
        ev->u.response.status > 599) {
      fail("bad RESPONSE");
    }
    hash_u64(&r->hash, ev->u.response.status);
    check_fields(r, ev->u.response.headers, ev->u.response.num_headers);
    break;
  case ZTTP_EVENT_DATA:
    if (ev->u.data.len == 0 || ev->u.data.data == NULL) {
      fail("empty DATA");
    }
    if (ev->stream_id != r->data_stream) {
      hash_u64(&r->hash, ZTTP_EVENT_DATA);
      hash_u64(&r->hash, (uint64_t)ev->stream_id);
      r->data_stream = ev->stream_id;
    }
    hash_bytes(&r->hash, ev->u.data.data, ev->u.data.len);
    zttp_conn_data_consumed(r->conn, ev->stream_id, ev->u.data.len);
    break;
  case ZTTP_EVENT_END_MESSAGE:
    check_fields(r, ev->u.end.trailers, ev->u.end.num_trailers);
    if (r->role == ZTTP_SERVER) {
      answer(r, ev->stream_id, 0);
    }
    break;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    r->closed = 1;
    hash_u64(&r->hash, (uint64_t)(int64_t)ev->u.closed.error);
    break;
  case ZTTP_EVENT_STREAM_RESET:
    hash_u64(&r->hash, ev->u.reset.error_code);
    break;
  case ZTTP_EVENT_GOAWAY:
    hash_u64(&r->hash, (uint64_t)ev->u.goaway.last_stream_id);
    hash_u64(&r->hash, ev->u.goaway.error_code);
    hash_str(&r->hash, ev->u.goaway.debug_data);
    break;
  case ZTTP_EVENT_SETTINGS:
    if (ev->u.settings.num_settings > 0 && ev->u.settings.settings == NULL) {
      fail("NULL settings");
    }
    for (size_t i = 0; i < ev->u.settings.num_settings; i++) {
      hash_u64(&r->hash, ev->u.settings.settings[i].id);
      hash_u64(&r->hash, ev->u.settings.settings[i].value);
    }
    break;
  case ZTTP_EVENT_PING:
    hash_bytes(&r->hash, ev->u.ping.opaque_data, 8);
    break;
  case ZTTP_EVENT_WINDOW_UPDATE:
    break;
  case ZTTP_EVENT_PRIORITY:
    if (ev->u.priority.urgency > 7 || ev->u.priority.incremental > 1) {
      fail("bad PRIORITY");
    }
    hash_u64(&r->hash, ev->u.priority.urgency);
    hash_u64(&r->hash, ev->u.priority.incremental);
    break;
  default:
    fail("unexpected event kind");
  }
}

static void drain(run *r) {
  if (r->fatal != 0) {
    return;
  }
  for (int i = 0; i < 100000; i++) {
    zttp_event ev;
    int32_t rv = zttp_conn_next_event(r->conn, &ev);
    if (rv == 0) {
      drain_output(r);
      return;
    }
    if (rv < 0) {
      if (!zttp_error_is_fatal(rv)) {
        fail("next_event returned a non-fatal error");
      }
      r->fatal = rv;
      hash_u64(&r->hash, (uint64_t)(int64_t)rv);
      if (zttp_conn_next_event(r->conn, &ev) != rv ||
          zttp_conn_receive_data(r->conn, (const uint8_t *)"x", 1) != rv ||
          zttp_conn_send_data(r->conn, 1, (const uint8_t *)"x", 1, 0) != rv) {
        fail("a fatal error did not poison the connection");
      }
      drain_output(r);
      return;
    }
    on_event(r, &ev);
    drain_output(r);
  }
  fail("endless events");
}

static void setup(run *r, uint32_t role, uint32_t sel) {
  memset(r, 0, sizeof(*r));
  r->role = role;
  r->sel = sel;
  r->hash = 0xcbf29ce484222325ull;
  r->data_stream = -1;
  if (zttp_config_new(&r->cfg, NULL) != 0) {
    fail("config_new");
  }
  uint64_t out = 262144;
  switch ((sel >> 4) & 3) {
  case 1:
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_STREAM_WINDOW, 100);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_CONNECTION_WINDOW, 1000);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_HEADER_TABLE_SIZE, 64);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_ENCODER_TABLE_SIZE, 0);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_MAX_CONCURRENT_STREAMS, 3);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_RESET_BURST, 5);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_GLITCH_BURST, 5);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_H2_MAX_QUEUED_CONTROL, 4);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_OUTPUT_BUFFER, 1024);
    out = 1024;
    break;
  case 2:
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_MAX_HEADERS, 4);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_MAX_HEADER_BYTES, 200);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_MAX_TRAILERS, 1);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_MAX_TRAILER_BYTES, 50);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_H2_MAX_CONTINUATIONS, 2);
    break;
  case 3:
    zttp_config_set_option(r->cfg, ZTTP_OPT_ENABLE_CONNECT_PROTOCOL, 1);
    zttp_config_set_option(r->cfg, ZTTP_OPT_TLS, 1);
    zttp_config_set_limit(r->cfg, ZTTP_LIMIT_H2_MAX_FRAME_SIZE, 65536);
    break;
  default:
    break;
  }
  /* zttp.h: the output limit plus what the control reserve may add. */
  uint64_t ctrl = 1000;
  zttp_config_get_limit(r->cfg, &ctrl, ZTTP_LIMIT_H2_MAX_QUEUED_CONTROL);
  r->out_cap = (size_t)(out + ctrl * 32 + 512 + 65536);
  if (zttp_conn_new(&r->conn, r->cfg, role, ZTTP_HTTP2) != 0) {
    fail("conn_new");
  }
  zttp_conn_set_time(r->conn, 1000);
  if (role == ZTTP_CLIENT) {
    zttp_header h[2] = {{"host", 4, "example.com", 11, 0, 0},
                        {"te", 2, "trailers", 8, 0, 0}};
    zttp_conn_send_request(r->conn, "GET", 3, "/", 1, h, 2,
                           ZTTP_SEND_FLAG_END_STREAM);
    int64_t id = zttp_conn_send_request(r->conn, "POST", 4, "/up", 3, h, 1, 0);
    if (id > 0) {
      zttp_conn_send_data(r->conn, id, (const uint8_t *)"body", 4,
                          ZTTP_SEND_FLAG_END_STREAM);
    }
    zttp_conn_send_request(r->conn, "HEAD", 4, "/h", 2, h, 1,
                           ZTTP_SEND_FLAG_END_STREAM);
  }
  drain_output(r);
}

static void feed(run *r, const uint8_t *p, size_t n) {
  size_t off = 0;
  int idle = 0;
  while (off < n && r->fatal == 0) {
    int64_t t = zttp_conn_receive_data(r->conn, p + off, n - off);
    if (t < 0) {
      r->fatal = (int32_t)t;
      hash_u64(&r->hash, (uint64_t)t);
      return;
    }
    off += (size_t)t;
    drain(r);
    idle = t == 0 ? idle + 1 : 0;
    if (idle > 3) {
      fail("input not taken although events were drained");
    }
  }
}

static size_t piece(uint32_t pattern, size_t left, size_t total) {
  static const size_t sizes[] = {1, 2, 3, 7, 13, 64, 9};
  size_t n = pattern < 7 ? sizes[pattern] : (total + 1) / 2;
  return n < left ? n : left;
}

static uint64_t one(uint32_t role, uint32_t sel, const uint8_t *in, size_t n,
                    int whole, int32_t *fatal) {
  run r;
  setup(&r, role, sel);
  if (whole) {
    feed(&r, in, n);
  } else {
    for (size_t off = 0; off < n && r.fatal == 0;) {
      size_t k = piece(sel & 7, n - off, n);
      feed(&r, in + off, k);
      off += k;
    }
  }
  if (r.fatal == 0) {
    int64_t e = zttp_conn_receive_data(r.conn, in, 0);
    if (e < 0) {
      r.fatal = (int32_t)e;
    } else {
      drain(&r);
    }
  }
  *fatal = r.fatal;
  const char *msg = NULL;
  zttp_conn_last_error(r.conn, &msg, NULL, NULL);
  /* The queued-control cap counts frames owed since the output was last
   * drained, and output is drained between events: how many frames one
   * call processes depends on how the input arrived. */
  if (r.fatal == ZTTP_ERR_ENHANCE_YOUR_CALM && msg != NULL &&
      strstr(msg, "control frames queued") != NULL) {
    *fatal = 1;
  }
  zttp_conn_free(r.conn);
  zttp_config_free(r.cfg);
  return r.hash;
}

int h2_fuzz_one(uint32_t role, const uint8_t *data, size_t size) {
  if (size < 1) {
    return 0;
  }
  uint32_t sel = data[0];
  size_t n = size - 1;
  uint8_t *in = malloc(n + 33);
  if (in == NULL) {
    return 0;
  }
  size_t len = 0;
  if (sel & 8) {
    if (role == ZTTP_SERVER) {
      memcpy(in, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
      len = 24;
    }
    memcpy(in + len, "\0\0\0\x04\0\0\0\0\0", 9);
    len += 9;
  }
  memcpy(in + len, data + 1, n);
  len += n;
  int32_t f1 = 0, f2 = 0;
  uint64_t h1 = one(role, sel, in, len, 1, &f1);
  uint64_t h2 = one(role, sel, in, len, 0, &f2);
  free(in);
  if (f1 == 1 || f2 == 1) {
    return 0; /* see one(): not comparable */
  }
  if (f1 != f2) {
    fprintf(stderr, "whole feed: %s, split feed: %s\n", zttp_strerror(f1),
            zttp_strerror(f2));
    fail("the whole and split feeds ended differently");
  }
  if (h1 != h2) {
    fail("the whole and split feeds gave different events");
  }
  return 0;
}
