/* The HTTP/1.1 engine (RFC 9112), both roles, behind zttp_engine_vtbl.
 *
 * Server: parses requests into events and serializes responses in request
 * order. Client: serializes requests (pipelining allowed) and parses the
 * responses in order. Every request in flight is one entry of a ring
 * bounded by ZTTP_LIMIT_H1_MAX_PIPELINE.
 * SPDX-License-Identifier: MIT */
#include <string.h>

#include "common/buf.h"
#include "h1/parser.h"
#include "h1/writer.h"

/* Per-request flags (one ring entry). */
#define TXN_HEAD 0x01u    /* method HEAD */
#define TXN_CONNECT 0x02u /* method CONNECT */
#define TXN_UPGRADE 0x04u /* Upgrade requested */
#define TXN_CLOSE 0x08u   /* the connection closes after this exchange */
#define TXN_V10 0x10u     /* HTTP/1.0 request */
#define TXN_EXPECT 0x40u  /* Expect: 100-continue, no 100 sent yet */

/* Outgoing message body states. */
enum {
  W_IDLE = 0, /* no message being written */
  W_NONE,     /* head written, no body allowed */
  W_LENGTH,   /* Content-Length body */
  W_CHUNKED,  /* chunked body */
  W_EOF       /* close-delimited body (server, HTTP/1.0) */
};

/* The server's decision on the Upgrade/CONNECT request just received. */
enum { UPG_UNDECIDED = 0, UPG_ACCEPTED, UPG_DECLINED };

typedef struct h1_engine {
  zttp_h1_parser parser;
  zttp_buf in;
  zttp_buf out;
  uint8_t *ring;
  uint32_t ring_cap;
  uint32_t ring_head;
  uint32_t ring_len;
  uint64_t w_remaining;
  uint8_t w_state;
  uint8_t w_close;         /* close after the message being written */
  uint8_t eof;             /* the peer closed its side */
  uint8_t closed_reported; /* CONNECTION_CLOSED was emitted */
  uint8_t in_message;      /* a head was parsed, its END not yet */
  uint8_t msg_close;       /* the message being parsed ends the connection */
  uint8_t upgrade_decision;
  uint8_t upgrade_wait;   /* server: stop reading until the decision */
  uint8_t upgrade_ready;  /* emit UPGRADE at the next event */
  uint8_t upgraded;       /* UPGRADE emitted: the engine is done */
  uint8_t sent_upgrade;   /* 101 (or 2xx to CONNECT) written */
  uint8_t resp_expected;  /* client: parser told about the ring head */
  uint8_t graceful;       /* close(GRACEFUL) was called */
  uint8_t stop_reading;   /* server: a request ended the connection */
  uint8_t must_close;     /* close once pending output is written */
  uint8_t error_response; /* the response after a fatal error was queued */
} h1_engine;

static h1_engine *eng(const zttp_conn *conn) {
  return conn->engine;
}

/* ---- lifecycle */

/* The state and, right after it, the request ring. */
static size_t h1_state_size(const zttp_settings *settings) {
  return sizeof(h1_engine) +
         (size_t)settings->limits[ZTTP_LIMIT_H1_MAX_PIPELINE];
}

static int32_t h1_init(zttp_conn *conn) {
  h1_engine *e = conn->engine;
  e->ring_cap = (uint32_t)conn->settings.limits[ZTTP_LIMIT_H1_MAX_PIPELINE];
  e->ring = (uint8_t *)(e + 1);
  zttp_h1_parser_init(&e->parser, &conn->mem, &conn->settings,
                      conn->role == ZTTP_CLIENT);
  zttp_buf_init(&e->in, (size_t)conn->settings.limits[ZTTP_LIMIT_INPUT_BUFFER]);
  zttp_buf_init(&e->out,
                (size_t)conn->settings.limits[ZTTP_LIMIT_OUTPUT_BUFFER]);
  return 0;
}

static void h1_free(zttp_conn *conn) {
  h1_engine *e = eng(conn);
  zttp_h1_parser_free(&e->parser);
  zttp_buf_free(&e->in, &conn->mem);
  zttp_buf_free(&e->out, &conn->mem);
}

/* ---- the request ring */

static uint8_t *ring_front(h1_engine *e) {
  return &e->ring[e->ring_head];
}

static uint8_t *ring_back(h1_engine *e) {
  return &e->ring[(e->ring_head + e->ring_len - 1) % e->ring_cap];
}

static void ring_push(h1_engine *e, uint8_t flags) {
  e->ring[(e->ring_head + e->ring_len) % e->ring_cap] = flags;
  e->ring_len++;
}

static void ring_pop(h1_engine *e) {
  e->ring_head = (e->ring_head + 1) % e->ring_cap;
  e->ring_len--;
}

/* ---- read side */

static int64_t h1_receive_data(zttp_conn *conn, const uint8_t *data,
                               size_t len) {
  h1_engine *e = eng(conn);
  if (e->upgraded) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "the connection was upgraded; its bytes are the "
                           "caller's");
  }
  if (e->eof) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "data after EOF");
  }
  if (len == 0) {
    e->eof = 1;
    return 0;
  }
  size_t take = zttp_buf_room(&e->in);
  if (take > len) {
    take = len;
  }
  if (take == 0) {
    return 0;
  }
  int32_t rv = zttp_buf_reserve(&e->in, &conn->mem, take);
  if (rv != 0) {
    return zttp_conn_error(conn, rv, 0, -1, "out of memory for input");
  }
  zttp_buf_put(&e->in, data, take);
  return (int64_t)take;
}

static void split_target(zttp_request_event *r) {
  const char *q = memchr(r->target.base, '?', r->target.len);
  r->path.base = r->target.base;
  if (q == NULL) {
    r->path.len = r->target.len;
    return;
  }
  r->path.len = (size_t)(q - r->target.base);
  r->query.base = q + 1;
  r->query.len = r->target.len - r->path.len - 1;
}

static int32_t emit_upgrade(h1_engine *e, zttp_event *ev) {
  ev->kind = ZTTP_EVENT_UPGRADE;
  ev->u.data.data = e->in.data != NULL ? e->in.data + e->in.start : NULL;
  ev->u.data.len = zttp_buf_len(&e->in);
  e->upgrade_ready = 0;
  e->upgraded = 1;
  return 1;
}

static void server_head(h1_engine *e, const zttp_h1_head *h, zttp_event *ev) {
  uint8_t flags = 0;
  if (h->flags & ZTTP_H1_F_HEAD) {
    flags |= TXN_HEAD;
  }
  if (h->flags & ZTTP_H1_F_CONNECT) {
    flags |= TXN_CONNECT | TXN_UPGRADE;
  }
  if (h->flags & ZTTP_H1_F_UPGRADE) {
    flags |= TXN_UPGRADE;
  }
  if (h->flags & ZTTP_H1_F_CLOSE) {
    /* RFC 9112 §9.6: no further request is processed. */
    flags |= TXN_CLOSE;
    e->stop_reading = 1;
  }
  if (h->flags & ZTTP_H1_F_EXPECT_CONTINUE) {
    flags |= TXN_EXPECT;
  }
  if (h->version == 10) {
    /* Without keep-alive it also has TXN_CLOSE (RFC 9112 §9.3). */
    flags |= TXN_V10;
  }
  ring_push(e, flags);
  e->upgrade_decision = UPG_UNDECIDED;
  ev->kind = ZTTP_EVENT_REQUEST;
  zttp_request_event *r = &ev->u.request;
  memset(r, 0, sizeof(*r));
  r->method = h->method;
  r->target = h->target;
  split_target(r);
  r->authority = h->host;
  r->headers = h->headers;
  r->num_headers = h->num_headers;
  r->http_version = h->version;
  if (h->body == ZTTP_H1_BODY_NONE) {
    ev->flags |= ZTTP_EVENT_FLAG_END_STREAM;
  }
  if (h->flags & ZTTP_H1_F_EXPECT_CONTINUE) {
    ev->flags |= ZTTP_EVENT_FLAG_EXPECT_CONTINUE;
  }
  if (flags & TXN_UPGRADE) {
    ev->flags |= ZTTP_EVENT_FLAG_UPGRADE;
  }
  if (flags & TXN_CLOSE) {
    ev->flags |= ZTTP_EVENT_FLAG_CLOSE;
  }
}

/* Returns 1 with an event, 0 to go on parsing, or an error. */
static int32_t client_head(zttp_conn *conn, h1_engine *e, const zttp_h1_head *h,
                           zttp_event *ev) {
  uint8_t txn = *ring_front(e);
  ev->kind = ZTTP_EVENT_RESPONSE;
  zttp_response_event *r = &ev->u.response;
  r->status = h->status;
  r->http_version = h->version;
  r->reason = h->reason;
  r->headers = h->headers;
  r->num_headers = h->num_headers;
  if (h->status == 101) {
    if (!(txn & TXN_UPGRADE) || (txn & TXN_CONNECT)) {
      return zttp_conn_error(conn, ZTTP_ERR_PROTOCOL, 0, -1,
                             "101 response to a request without Upgrade");
    }
    ring_pop(e);
    e->upgrade_ready = 1;
    return 1;
  }
  if (h->status < 200) {
    return 1;
  }
  if ((txn & TXN_CONNECT) && h->status < 300) {
    /* RFC 9110 §9.3.6: the connection becomes a tunnel. */
    ring_pop(e);
    e->upgrade_ready = 1;
    return 1;
  }
  e->in_message = 1;
  e->msg_close = (h->flags & ZTTP_H1_F_CLOSE) || (txn & TXN_CLOSE);
  if (h->body == ZTTP_H1_BODY_NONE) {
    ev->flags |= ZTTP_EVENT_FLAG_END_STREAM;
  }
  if (e->msg_close) {
    ev->flags |= ZTTP_EVENT_FLAG_CLOSE;
  }
  return 1;
}

/* Whether the engine may start parsing another message now. */
static int32_t can_start_message(zttp_conn *conn, h1_engine *e) {
  if (e->must_close) {
    return 0;
  }
  if (conn->role == ZTTP_SERVER) {
    return !e->upgrade_wait && !e->graceful && !e->stop_reading &&
           e->ring_len < e->ring_cap;
  }
  if (e->ring_len == 0) {
    if (zttp_buf_len(&e->in) != 0) {
      return zttp_conn_error(conn, ZTTP_ERR_UNEXPECTED_DATA, 0, -1,
                             "response bytes with no request outstanding");
    }
    return 0;
  }
  if (!e->resp_expected) {
    uint8_t txn = *ring_front(e);
    zttp_h1_parser_expect_response(&e->parser, (txn & TXN_HEAD) != 0,
                                   (txn & TXN_CONNECT) != 0);
    e->resp_expected = 1;
  }
  return 1;
}

/* The peer closed. A client learns whether requests went unanswered:
 * u.closed.error is then ZTTP_ERR_UNEXPECTED_EOF (RFC 9110 §9.2.2 retries). */
static int32_t closed_event(zttp_conn *conn, h1_engine *e, zttp_event *ev) {
  e->closed_reported = 1;
  ev->kind = ZTTP_EVENT_CONNECTION_CLOSED;
  memset(&ev->u.closed, 0, sizeof(ev->u.closed));
  if (conn->role == ZTTP_CLIENT && e->ring_len != 0) {
    ev->u.closed.error = ZTTP_ERR_UNEXPECTED_EOF;
  }
  return 1;
}

static int32_t h1_next_event(zttp_conn *conn, zttp_event *ev) {
  h1_engine *e = eng(conn);
  ev->kind = ZTTP_EVENT_NEED_DATA;
  ev->stream_id = 0;
  if (e->upgrade_ready && !e->in_message) {
    return emit_upgrade(e, ev);
  }
  if (e->upgraded || e->closed_reported) {
    return 0;
  }
  if (!e->in_message) {
    /* Also when a head has partly arrived: once the engine stops reading,
     * it is never completed (RFC 9112 §9.6). */
    int32_t ok = can_start_message(conn, e);
    if (ok < 0) {
      return ok;
    }
    if (!ok) {
      /* Nothing more will be read: report the peer's close once the
       * engine has stopped for good. */
      if (e->eof && (conn->role == ZTTP_CLIENT || e->must_close ||
                     e->graceful || e->stop_reading)) {
        return closed_event(conn, e, ev);
      }
      return 0;
    }
  }
  /* Never written: the parser rewrites only bytes it was given. */
  static uint8_t empty[1];
  zttp_h1_item item;
  size_t avail = zttp_buf_len(&e->in);
  int64_t n = zttp_h1_parse(
      &e->parser, &item, avail != 0 ? e->in.data + e->in.start : empty, avail);
  if (n < 0) {
    return zttp_conn_error(conn, (int32_t)n, 0, -1, "%s", e->parser.err);
  }
  zttp_buf_consume(&e->in, (size_t)n);
  switch (item.kind) {
  case ZTTP_H1_ITEM_NONE: {
    if (!e->eof) {
      if (zttp_buf_len(&e->in) == e->in.limit) {
        /* The element being parsed cannot fit: it would stall forever. */
        return zttp_conn_error(conn, ZTTP_ERR_LIMIT_INPUT_BUFFER, 0, -1,
                               "an element larger than "
                               "ZTTP_LIMIT_INPUT_BUFFER");
      }
      return 0;
    }
    int32_t rv = zttp_h1_parse_eof(&e->parser, &item);
    if (rv < 0) {
      return zttp_conn_error(conn, rv, 0, -1, "%s", e->parser.err);
    }
    if (rv == 0) {
      return closed_event(conn, e, ev);
    }
    /* A body delimited by the close ended. */
    e->in_message = 0;
    e->must_close = 1;
    if (conn->role == ZTTP_CLIENT) {
      ring_pop(e);
      e->resp_expected = 0;
    }
    ev->kind = ZTTP_EVENT_END_MESSAGE;
    ev->u.end.trailers = NULL;
    ev->u.end.num_trailers = 0;
    return 1;
  }
  case ZTTP_H1_ITEM_HEAD:
    if (conn->role == ZTTP_SERVER) {
      server_head(e, &item.head, ev);
      e->in_message = 1;
      return 1;
    }
    return client_head(conn, e, &item.head, ev);
  case ZTTP_H1_ITEM_DATA:
    ev->kind = ZTTP_EVENT_DATA;
    ev->u.data.data = item.data;
    ev->u.data.len = item.len;
    return 1;
  case ZTTP_H1_ITEM_END:
    e->in_message = 0;
    ev->kind = ZTTP_EVENT_END_MESSAGE;
    ev->u.end.trailers = item.trailers;
    ev->u.end.num_trailers = item.num_trailers;
    if (conn->role == ZTTP_CLIENT) {
      ring_pop(e);
      e->resp_expected = 0;
      if (e->msg_close || (e->graceful && e->ring_len == 0)) {
        e->must_close = 1;
      }
    } else if (e->ring_len > 0 && (*ring_back(e) & TXN_UPGRADE) &&
               e->upgrade_decision != UPG_DECLINED) {
      if (e->upgrade_decision == UPG_ACCEPTED) {
        e->upgrade_ready = 1;
      } else {
        e->upgrade_wait = 1;
      }
    } else if (e->upgrade_decision == UPG_ACCEPTED) {
      e->upgrade_ready = 1;
    }
    return 1;
  default:
    return zttp_conn_error(conn, ZTTP_ERR_PROTOCOL, 0, -1,
                           "internal: unknown parser item");
  }
}

/* ---- write side */

static int32_t closed_error(zttp_conn *conn) {
  return zttp_conn_error(conn, ZTTP_ERR_CLOSED, 0, -1,
                         "the connection is closing or was upgraded");
}

/* A serializer result: ZTTP_ERR_BUFFER_FULL stays a local error, running
 * out of memory is fatal. */
static int32_t output_result(zttp_conn *conn, int32_t rv) {
  return rv == ZTTP_ERR_NOMEM
             ? zttp_conn_error(conn, rv, 0, -1, "out of memory for output")
             : rv;
}

static int32_t field_error(zttp_conn *conn, const char *why) {
  return zttp_conn_error(conn, ZTTP_ERR_INVALID_FIELD, 0, -1, "%s", why);
}

/* The message being written is complete. */
static void finish_message(zttp_conn *conn, h1_engine *e) {
  e->w_state = W_IDLE;
  if (conn->role == ZTTP_SERVER) {
    ring_pop(e);
    /* A graceful close answers every request already received. */
    if (e->w_close || (e->graceful && e->ring_len == 0)) {
      e->must_close = 1;
    }
  }
  e->w_close = 0;
}

/* Methods whose requests have no defined body semantics (RFC 9110 §9.3). */
static int method_bodyless(zttp_str m) {
  static const char *const names[] = {"GET",     "HEAD",  "DELETE",
                                      "OPTIONS", "TRACE", "CONNECT"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (m.len == strlen(names[i]) && memcmp(m.base, names[i], m.len) == 0) {
      return 1;
    }
  }
  return 0;
}

static int64_t h1_send_request(zttp_conn *conn, zttp_str method,
                               zttp_str target, const zttp_header *headers,
                               size_t num_headers, uint32_t flags) {
  h1_engine *e = eng(conn);
  if (e->must_close || e->upgraded || e->upgrade_ready || e->graceful) {
    return closed_error(conn);
  }
  if (e->w_state != W_IDLE) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "the previous request's body is not finished");
  }
  if (e->ring_len == e->ring_cap) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "ZTTP_LIMIT_H1_MAX_PIPELINE requests outstanding");
  }
  if (!zttp_h1_token_valid(method.base, method.len)) {
    return field_error(conn, "method is not a token");
  }
  if (!zttp_h1_target_valid(target.base, target.len)) {
    return field_error(conn, "request target holds SP, CTL or non-ASCII");
  }
  zttp_h1_fields_info info;
  const char *why = NULL;
  if (zttp_h1_check_fields(&info, &why, headers, num_headers, 0) != 0) {
    return field_error(conn, why);
  }
  if (info.num_host != 1) {
    return field_error(conn, "an HTTP/1.1 request needs exactly one Host");
  }
  int connect = method.len == 7 && memcmp(method.base, "CONNECT", 7) == 0;
  if (connect && (info.has_cl || info.has_te)) {
    /* RFC 9110 §9.3.6: a CONNECT request has no content. */
    return field_error(conn, "framing field on a CONNECT request");
  }
  int end = connect || (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
  if (end && info.has_cl && info.content_length > 0) {
    return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, -1,
                           "END_STREAM with a non-zero Content-Length");
  }
  zttp_h1_extra extra = {{NULL, NULL}, 0, NULL};
  uint8_t w_state;
  if (info.has_te) {
    w_state = W_CHUNKED;
  } else if (info.has_cl) {
    w_state = info.content_length > 0 ? W_LENGTH : W_NONE;
  } else if (end) {
    w_state = W_NONE;
    if (!method_bodyless(method)) {
      extra.lines[extra.num++] = "Content-Length: 0";
    }
  } else {
    w_state = W_CHUNKED;
    extra.lines[extra.num++] = "Transfer-Encoding: chunked";
  }
  if (end && w_state == W_CHUNKED) {
    extra.tail = "0\r\n\r\n";
  }
  const zttp_str line[] = {method, {" ", 1}, target, {" HTTP/1.1", 9}};
  int32_t rv = zttp_h1_write_head(&e->out, &conn->mem, line, 4, headers,
                                  num_headers, &extra);
  if (rv != 0) {
    return output_result(conn, rv);
  }
  uint8_t txn = 0;
  if (method.len == 4 && memcmp(method.base, "HEAD", 4) == 0) {
    txn |= TXN_HEAD;
  } else if (connect) {
    txn |= TXN_CONNECT | TXN_UPGRADE;
  }
  if (info.has_upgrade && (info.conn_options & ZTTP_H1_F_CONN_UPGRADE)) {
    /* RFC 9110 §7.8 */
    txn |= TXN_UPGRADE;
  }
  if ((info.conn_options & ZTTP_H1_F_CLOSE)) {
    txn |= TXN_CLOSE;
  }
  ring_push(e, txn);
  e->w_state = end ? W_IDLE : w_state;
  e->w_remaining = info.content_length;
  return 0;
}

/* Checks that a response may go out now; returns the ring entry. */
static int32_t response_txn(zttp_conn *conn, h1_engine *e, int64_t stream_id,
                            uint8_t *txn) {
  if (stream_id != 0) {
    return zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                           "HTTP/1.1 has only stream 0");
  }
  if (e->must_close || e->upgraded || e->sent_upgrade) {
    return closed_error(conn);
  }
  if (e->ring_len == 0) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "no request to answer");
  }
  if (e->w_state != W_IDLE) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "the previous response is not finished");
  }
  *txn = *ring_front(e);
  return 0;
}

/* Records the answer to the last Upgrade/CONNECT request. */
static void decide_upgrade(h1_engine *e, int accepted) {
  /* Only the last request received can be an Upgrade awaiting its answer:
   * the engine reads nothing after one until it is answered. */
  if (e->ring_len != 1) {
    return;
  }
  e->upgrade_decision = accepted ? UPG_ACCEPTED : UPG_DECLINED;
  if (e->upgrade_wait) {
    e->upgrade_wait = 0;
    e->upgrade_ready = (uint8_t)accepted;
  }
}

static int32_t h1_send_response(zttp_conn *conn, int64_t stream_id,
                                uint32_t status, zttp_str reason,
                                const zttp_header *headers, size_t num_headers,
                                uint32_t flags) {
  h1_engine *e = eng(conn);
  uint8_t txn = 0;
  int32_t rv = response_txn(conn, e, stream_id, &txn);
  if (rv != 0) {
    return rv;
  }
  if (reason.base != NULL && !zttp_h1_text_valid(reason.base, reason.len)) {
    return field_error(conn, "reason phrase holds a control character");
  }
  zttp_h1_fields_info info;
  const char *why = NULL;
  if (zttp_h1_check_fields(&info, &why, headers, num_headers, 0) != 0) {
    return field_error(conn, why);
  }
  int connect_ok = (txn & TXN_CONNECT) && status < 300;
  /* RFC 9110 §8.6, RFC 9112 §6.1: no framing fields on 204 or on a 2xx to
   * CONNECT; no chunked to an HTTP/1.0 client. */
  if ((status == 204 || connect_ok) && (info.has_cl || info.has_te)) {
    return field_error(conn, "framing field on a 204 or a 2xx to CONNECT");
  }
  if ((txn & TXN_V10) && info.has_te) {
    return field_error(conn, "Transfer-Encoding to an HTTP/1.0 client");
  }
  int bodyless =
      (txn & TXN_HEAD) || status == 204 || status == 304 || connect_ok;
  int end = (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
  if (end && !bodyless && info.has_cl && info.content_length > 0) {
    return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, -1,
                           "END_STREAM with a non-zero Content-Length");
  }
  int close = (txn & TXN_CLOSE) || (e->graceful && e->ring_len == 1) ||
              (info.conn_options & ZTTP_H1_F_CLOSE);
  if ((txn & TXN_EXPECT) && e->in_message && e->ring_len == 1) {
    /* RFC 9110 §10.1.1: a final response before 100 (Continue) and before
     * the body: the client may never send the body, so the connection
     * cannot be reused. */
    close = 1;
  }
  if ((txn & TXN_V10) && !close && e->ring_len >= 1 && info.has_connection &&
      !(info.conn_options & ZTTP_H1_F_KEEP_ALIVE)) {
    /* RFC 9112 §9.3: an HTTP/1.0 peer keeps the connection only when told
     * keep-alive; the caller's Connection field did not say so. */
    close = 1;
  }
  if (connect_ok) {
    /* A tunnel follows; it ends when either side closes. */
    close = 0;
  }
  zttp_h1_extra extra = {{NULL, NULL}, 0, NULL};
  uint8_t w_state;
  if (bodyless) {
    w_state = W_NONE;
  } else if (info.has_te) {
    w_state = W_CHUNKED;
  } else if (info.has_cl) {
    w_state = info.content_length > 0 ? W_LENGTH : W_NONE;
  } else if (end) {
    w_state = W_NONE;
    extra.lines[extra.num++] = "Content-Length: 0";
  } else if (!(txn & TXN_V10)) {
    w_state = W_CHUNKED;
    extra.lines[extra.num++] = "Transfer-Encoding: chunked";
  } else {
    w_state = W_EOF;
    close = 1;
  }
  if (close && !(info.conn_options & ZTTP_H1_F_CLOSE)) {
    extra.lines[extra.num++] = "Connection: close";
  } else if (!close && !connect_ok && (txn & TXN_V10) && !info.has_connection) {
    extra.lines[extra.num++] = "Connection: keep-alive";
  }
  if (end && w_state == W_CHUNKED) {
    extra.tail = "0\r\n\r\n";
  }
  rv = zttp_h1_write_status(&e->out, &conn->mem, status, reason, headers,
                            num_headers, &extra);
  if (rv != 0) {
    return output_result(conn, rv);
  }
  if (txn & TXN_UPGRADE) {
    decide_upgrade(e, connect_ok);
    if (connect_ok) {
      e->sent_upgrade = 1;
    }
  }
  e->w_state = w_state;
  e->w_remaining = info.content_length;
  e->w_close = (uint8_t)close;
  if (end || connect_ok) {
    /* A 2xx to CONNECT ends the HTTP/1.1 exchange: a tunnel follows. */
    finish_message(conn, e);
  }
  return 0;
}

static int32_t h1_send_error_response(zttp_conn *conn, uint32_t status,
                                      zttp_str reason,
                                      const zttp_header *headers,
                                      size_t num_headers) {
  h1_engine *e = eng(conn);
  if (e->w_state != W_IDLE || e->error_response || e->upgraded ||
      e->sent_upgrade) {
    /* A response is under way: the peer would read a broken one. */
    return conn->fatal;
  }
  zttp_h1_fields_info info;
  const char *why = NULL;
  if (zttp_h1_check_fields(&info, &why, headers, num_headers, 0) != 0 ||
      info.has_cl || info.has_te || info.has_connection) {
    return ZTTP_ERR_INVALID_FIELD;
  }
  if (reason.base != NULL && !zttp_h1_text_valid(reason.base, reason.len)) {
    return ZTTP_ERR_INVALID_FIELD;
  }
  zttp_h1_extra extra = {{"Content-Length: 0", "Connection: close"}, 2, NULL};
  int32_t rv = zttp_h1_write_status(&e->out, &conn->mem, status, reason,
                                    headers, num_headers, &extra);
  if (rv != 0) {
    return rv == ZTTP_ERR_NOMEM ? conn->fatal : rv;
  }
  e->error_response = 1;
  e->must_close = 1;
  return 0;
}

static int32_t h1_send_informational(zttp_conn *conn, int64_t stream_id,
                                     uint32_t status,
                                     const zttp_header *headers,
                                     size_t num_headers) {
  h1_engine *e = eng(conn);
  uint8_t txn = 0;
  int32_t rv = response_txn(conn, e, stream_id, &txn);
  if (rv != 0) {
    return rv;
  }
  if (txn & TXN_V10) {
    /* RFC 9110 §15.2 */
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "no 1xx response to an HTTP/1.0 request");
  }
  zttp_h1_fields_info info;
  const char *why = NULL;
  if (zttp_h1_check_fields(&info, &why, headers, num_headers, 0) != 0) {
    return field_error(conn, why);
  }
  if (info.has_cl || info.has_te) {
    return field_error(conn, "framing field on a 1xx response");
  }
  if (status == 101) {
    if (!(txn & TXN_UPGRADE) || (txn & TXN_CONNECT)) {
      return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                             "101 answers only a request with Upgrade");
    }
    if (!info.has_upgrade) {
      /* RFC 9110 §15.2.2 */
      return field_error(conn, "a 101 response needs an Upgrade field");
    }
  }
  static const zttp_h1_extra none = {{NULL, NULL}, 0, NULL};
  const zttp_str standard = {NULL, 0};
  rv = zttp_h1_write_status(&e->out, &conn->mem, status, standard, headers,
                            num_headers, &none);
  if (rv != 0) {
    return output_result(conn, rv);
  }
  if (status == 100) {
    *ring_front(e) &= (uint8_t)~TXN_EXPECT;
  }
  if (status == 101) {
    /* The HTTP/1.1 exchange ends here; the new protocol takes over once
     * the request is complete. */
    decide_upgrade(e, 1);
    e->sent_upgrade = 1;
    ring_pop(e);
    if (!e->in_message && e->upgrade_decision == UPG_ACCEPTED) {
      e->upgrade_ready = 1;
    }
  }
  return 0;
}

static int32_t writable_stream(zttp_conn *conn, h1_engine *e,
                               int64_t stream_id) {
  if (stream_id != 0) {
    return zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                           "HTTP/1.1 has only stream 0");
  }
  if (e->w_state == W_IDLE) {
    if (e->must_close || e->upgraded || e->sent_upgrade) {
      return closed_error(conn);
    }
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "no message is being sent");
  }
  return 0;
}

static int64_t h1_send_data(zttp_conn *conn, int64_t stream_id,
                            const uint8_t *data, size_t len, uint32_t flags) {
  h1_engine *e = eng(conn);
  int32_t rv = writable_stream(conn, e, stream_id);
  if (rv != 0) {
    return rv;
  }
  int end = (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
  size_t room = zttp_buf_room(&e->out);
  size_t take = len;
  switch (e->w_state) {
  case W_NONE:
    if (len != 0) {
      return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, 0,
                             "this message has no body");
    }
    break;
  case W_LENGTH:
    if (len > e->w_remaining || (end && len != e->w_remaining)) {
      return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, 0,
                             "body length differs from Content-Length");
    }
    take = len < room ? len : room;
    break;
  case W_CHUNKED: {
    size_t tail = end ? 5 : 0; /* "0\r\n\r\n" */
    if (len == 0) {
      if (end && room < tail) {
        return ZTTP_ERR_BUFFER_FULL;
      }
      break;
    }
    size_t over = zttp_h1_chunk_overhead(len);
    if (room < over + tail + 1) {
      return 0;
    }
    take = len < room - over - tail ? len : room - over - tail;
    break;
  }
  case W_EOF:
    take = len < room ? len : room;
    break;
  default:
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "no message is being sent");
  }
  if (take > 0) {
    size_t need =
        e->w_state == W_CHUNKED ? take + zttp_h1_chunk_overhead(take) : take;
    rv = zttp_buf_reserve(&e->out, &conn->mem, need);
    if (rv != 0) {
      /* |take| fits the room: only allocation can fail. */
      return output_result(conn, rv);
    }
    if (e->w_state == W_CHUNKED) {
      zttp_h1_write_chunk(&e->out, data, take);
    } else {
      zttp_buf_put(&e->out, data, take);
    }
    if (e->w_state == W_LENGTH) {
      e->w_remaining -= take;
    }
  }
  if (end && take == len) {
    if (e->w_state == W_CHUNKED) {
      rv = zttp_h1_write_last_chunk(&e->out, &conn->mem, NULL, 0);
      if (rv != 0) {
        /* The room was checked above; only allocation can fail. */
        return output_result(conn, rv);
      }
    }
    finish_message(conn, e);
  }
  return (int64_t)take;
}

static int32_t h1_end_message(zttp_conn *conn, int64_t stream_id,
                              const zttp_header *trailers,
                              size_t num_trailers) {
  h1_engine *e = eng(conn);
  int32_t rv = writable_stream(conn, e, stream_id);
  if (rv != 0) {
    return rv;
  }
  if (num_trailers != 0 && e->w_state != W_CHUNKED) {
    return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, 0,
                           "trailers need a chunked body");
  }
  switch (e->w_state) {
  case W_LENGTH:
    if (e->w_remaining != 0) {
      return zttp_conn_error(conn, ZTTP_ERR_FRAMING, 0, 0,
                             "%llu body bytes short of Content-Length",
                             (unsigned long long)e->w_remaining);
    }
    break;
  case W_CHUNKED: {
    zttp_h1_fields_info info;
    const char *why = NULL;
    if (zttp_h1_check_fields(&info, &why, trailers, num_trailers, 1) != 0) {
      return field_error(conn, why);
    }
    rv = zttp_h1_write_last_chunk(&e->out, &conn->mem, trailers, num_trailers);
    if (rv != 0) {
      return output_result(conn, rv);
    }
    break;
  }
  case W_EOF:
  case W_NONE:
  default:
    break;
  }
  finish_message(conn, e);
  return 0;
}

static void drop_everything(zttp_conn *conn, h1_engine *e) {
  (void)conn;
  e->out.start = e->out.end = 0;
  e->w_state = W_IDLE;
  e->must_close = 1;
}

static int32_t h1_reset_stream(zttp_conn *conn, int64_t stream_id,
                               uint64_t error_code) {
  (void)error_code;
  if (stream_id != 0) {
    return zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                           "HTTP/1.1 has only stream 0");
  }
  drop_everything(conn, eng(conn));
  return 0;
}

static int32_t h1_close(zttp_conn *conn, uint64_t error_code, uint32_t flags) {
  (void)error_code;
  h1_engine *e = eng(conn);
  if (!(flags & ZTTP_CLOSE_FLAG_GRACEFUL)) {
    drop_everything(conn, e);
    return 0;
  }
  e->graceful = 1;
  if (e->w_state == W_IDLE && e->ring_len == 0) {
    e->must_close = 1;
  }
  return 0;
}

static int32_t h1_should_close(const zttp_conn *conn) {
  const h1_engine *e = eng(conn);
  if (e->upgraded) {
    return 0;
  }
  if (e->must_close) {
    return 1;
  }
  if (conn->role == ZTTP_CLIENT) {
    return e->eof || (e->graceful && e->ring_len == 0 && e->w_state == W_IDLE);
  }
  return e->eof && !e->in_message && e->ring_len == 0 && e->w_state == W_IDLE;
}

static int64_t h1_send_window(const zttp_conn *conn, int64_t stream_id) {
  const h1_engine *e = eng(conn);
  if (stream_id != 0) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  size_t room = zttp_buf_room(&e->out);
  switch (e->w_state) {
  case W_LENGTH:
    return (int64_t)(room < e->w_remaining ? room : e->w_remaining);
  case W_CHUNKED: {
    size_t over = zttp_h1_chunk_overhead(room) + 5;
    return room > over ? (int64_t)(room - over) : 0;
  }
  case W_EOF:
    return (int64_t)room;
  case W_IDLE:
  case W_NONE:
  default:
    return 0;
  }
}

static int32_t h1_data_consumed(zttp_conn *conn, int64_t stream_id,
                                size_t len) {
  (void)len;
  if (stream_id != 0) {
    return zttp_conn_error(conn, ZTTP_ERR_STREAM_NOT_FOUND, 0, stream_id,
                           "HTTP/1.1 has only stream 0");
  }
  return 0;
}

static size_t h1_pending(zttp_conn *conn, const uint8_t **out) {
  h1_engine *e = eng(conn);
  size_t n = zttp_buf_len(&e->out);
  *out = n != 0 ? e->out.data + e->out.start : NULL;
  return n;
}

static int32_t h1_consume(zttp_conn *conn, size_t len) {
  h1_engine *e = eng(conn);
  if (len > zttp_buf_len(&e->out)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_buf_consume(&e->out, len);
  return 0;
}

const zttp_engine_vtbl zttp_h1_engine = {
    .state_size = h1_state_size,
    .init = h1_init,
    .free = h1_free,
    .receive_data = h1_receive_data,
    .receive_datagram = NULL,
    .next_event = h1_next_event,
    .send_request = h1_send_request,
    .send_response = h1_send_response,
    .send_error_response = h1_send_error_response,
    .send_informational = h1_send_informational,
    .send_data = h1_send_data,
    .end_message = h1_end_message,
    .reset_stream = h1_reset_stream,
    .close = h1_close,
    .should_close = h1_should_close,
    .send_window = h1_send_window,
    .data_consumed = h1_data_consumed,
    .pending = h1_pending,
    .consume = h1_consume,
    .write_datagram = NULL,
    .next_timeout = NULL,
    .handle_timeout = NULL,
    .ping = NULL,
    .set_priority = NULL,
};
