/*
 * zttp-server: TCP and TLS connections. Accepting, reading (through TLS if
 * need be), picking the protocol (the HTTP/2 preface on the cleartext port,
 * ALPN on the TLS one), the "Upgrade: h2c" switch, writing what the engine
 * has pending, and lingering after the last response. See server.h.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

/* Pending output below this is written only once nothing more can be
 * queued. */
#define FLUSH_THRESHOLD (64u * 1024u)
/* Bytes one connection may write per wakeup before others get a turn. */
#define WRITE_BUDGET (4u * 1024u * 1024u)
/* A closing connection reads and drops what the peer still sends for this
 * long after its last response, so that the peer sees that response and not
 * a reset (RFC 9112 §9.6). */
#define LINGER_MS 2000u
#define LINGER_MAX_BYTES (1024u * 1024u)
/* How long accepting pauses when the process is out of descriptors. */
#define ACCEPT_RETRY_MS 100u

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

void conn_close(server *s, conn *c) {
  list_remove(c);
  /* close() drops the epoll registration: the descriptor is not shared. */
  close(c->fd);
  tls_free(c->tls);
  streams_free(c);
  zttp_conn_free(c->z);
  zttp_conn_free(c->h2_next);
  free(c->up_buf);
  free(c->preout);
  free(c->in);
  free(c);
  s->num_conns--;
  listener_update(s);
}

static int conn_set_events(server *s, conn *c, uint32_t events) {
  struct epoll_event ee;
  if (events == c->events) {
    return 0;
  }
  memset(&ee, 0, sizeof(ee));
  ee.events = events;
  ee.data.ptr = c;
  if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ee) != 0) {
    return -1;
  }
  c->events = events;
  return 0;
}

/* conn_start gives the connection its engine: |z|, or a new one for
 * |proto|, and a stream table to match. Returns 0 or -1. */
static int conn_start(server *s, conn *c, uint32_t proto, zttp_conn *z) {
  size_t slots = proto == ZTTP_HTTP2 ? s->max_streams : 1;
  stream *table = calloc(slots, sizeof(*table));
  int32_t rv;

  if (table == NULL) {
    zttp_conn_free(z);
    return -1;
  }
  for (size_t i = 0; i < slots; i++) {
    table[i].file_fd = -1;
  }
  if (z == NULL) {
    rv = zttp_conn_new(&z, c->tls != NULL ? s->tls_cfg : s->cfg, ZTTP_SERVER,
                       proto);
    if (rv != 0) {
      fprintf(stderr, "zttp-server: fd %d: zttp_conn_new(%s): %s\n", c->fd,
              proto == ZTTP_HTTP2 ? "HTTP/2" : "HTTP/1.1", zttp_strerror(rv));
      free(table);
      return -1;
    }
  }
  streams_free(c);
  zttp_conn_free(c->z);
  c->z = z;
  c->streams = table;
  c->num_slots = slots;
  c->proto = proto;
  zttp_conn_set_time(c->z, s->now_ns);
  return 0;
}

/* conn_linger ends a connection whose last response was written: it shuts
 * down the sending side and drops what the peer still sends for a while. */
static void conn_linger(server *s, conn *c) {
  if (c->tls != NULL) {
    tls_shutdown(c->tls);
  }
  if (c->rd_eof || shutdown(c->fd, SHUT_WR) != 0) {
    conn_close(s, c);
    return;
  }
  streams_free(c);
  zttp_conn_free(c->z);
  c->z = NULL;
  free(c->in);
  c->in = NULL;
  c->in_len = 0;
  c->lingering = 1;
  list_append(&s->lingering, c, s->now + LINGER_MS);
  if (conn_set_events(s, c, EPOLLIN) != 0) {
    conn_close(s, c);
  }
}

static void linger_read(server *s, conn *c) {
  for (;;) {
    ssize_t n = recv(c->fd, s->buf, IO_BUF_SIZE, 0);
    if (n > 0) {
      c->linger_bytes += (size_t)n;
      if (c->linger_bytes <= LINGER_MAX_BYTES) {
        continue;
      }
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    }
    conn_close(s, c);
    return;
  }
}

/* ------------------------------------------------------------------------ */
/* The h2c upgrade                                                          */
/* ------------------------------------------------------------------------ */

/* try_upgrade accepts an "Upgrade: h2c" request (RFC 7540 §3.2): a cleartext
 * HTTP/1.1 request without a body, with one HTTP2-Settings field that the
 * Connection field names. It creates the HTTP/2 connection first (a malformed
 * HTTP2-Settings makes it fail, and the request is then answered on
 * HTTP/1.1), copies what the answer on stream 1 needs and queues the 101.
 * Returns 1 when the 101 is queued, 0 to retry once output drained,
 * NOT_UPGRADE, or a negative zttp error. */
int try_upgrade(server *s, conn *c, const zttp_event *ev) {
  static const zttp_header h101[] = {
      {"connection", 10, "Upgrade", 7, 0, 0},
      {"upgrade", 7, "h2c", 3, 0, 0},
  };
  const zttp_request_event *r = &ev->u.request;
  const zttp_header *settings = NULL;
  size_t num_settings = 0;
  int h2c = 0;
  int names_settings = 0;
  int32_t rv;

  if (c->tls != NULL || c->proto != ZTTP_HTTP1 ||
      (ev->flags & ZTTP_EVENT_FLAG_UPGRADE) == 0 ||
      (ev->flags & ZTTP_EVENT_FLAG_END_STREAM) == 0 || r->http_version != 11 ||
      str_eq(r->method, "CONNECT")) {
    return NOT_UPGRADE;
  }
  for (size_t i = 0; i < r->num_headers; i++) {
    const zttp_header *h = &r->headers[i];
    if (str_caseeq(h->name, h->name_len, "upgrade")) {
      h2c |= has_token(h->value, h->value_len, "h2c");
    } else if (str_caseeq(h->name, h->name_len, "http2-settings")) {
      settings = h;
      num_settings++;
    } else if (str_caseeq(h->name, h->name_len, "connection")) {
      names_settings |= has_token(h->value, h->value_len, "http2-settings");
    }
  }
  if (!h2c || num_settings != 1 || !names_settings) {
    return NOT_UPGRADE;
  }
  if (c->h2_next == NULL) {
    size_t mlen = r->method.len;
    size_t tlen = r->target.len;
    rv = zttp_conn_new_h2c_upgrade(&c->h2_next, s->cfg, r->method.base, mlen,
                                   settings->value, settings->value_len);
    if (rv != 0) {
      vlog(s, "fd %d: no h2c upgrade: %s", c->fd, zttp_strerror(rv));
      c->h2_next = NULL;
      return NOT_UPGRADE;
    }
    c->up_buf = malloc(mlen + tlen + 1);
    if (c->up_buf == NULL) {
      zttp_conn_free(c->h2_next);
      c->h2_next = NULL;
      return ZTTP_ERR_NOMEM;
    }
    memcpy(c->up_buf, r->method.base, mlen);
    memcpy(c->up_buf + mlen, r->target.base, tlen);
    memset(&c->up, 0, sizeof(c->up));
    c->up.method.base = c->up_buf;
    c->up.method.len = mlen;
    c->up.target.base = c->up_buf + mlen;
    c->up.target.len = tlen;
    c->up.path.base = c->up.target.base;
    c->up.path.len = r->path.len;
    c->up.flags = ZTTP_EVENT_FLAG_END_STREAM;
    c->up.http_version = 20;
  }
  rv = zttp_conn_send_informational(c->z, 0, 101, h101, 2);
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    return 0;
  }
  if (rv != 0) {
    vlog(s, "fd %d: no h2c upgrade: 101: %s", c->fd, zttp_strerror(rv));
    zttp_conn_free(c->h2_next);
    c->h2_next = NULL;
    free(c->up_buf);
    c->up_buf = NULL;
    return NOT_UPGRADE;
  }
  vlog(s, "fd %d: %.*s %.*s: upgrading to h2c", c->fd, (int)r->method.len,
       r->method.base, (int)r->target.len, r->target.base);
  return 1;
}

/* conn_upgrade switches to the HTTP/2 connection on ZTTP_EVENT_UPGRADE: the
 * HTTP/1.1 output (the 101) goes first, and the bytes after the request head
 * are the start of the client's preface. Returns 1. */
int conn_upgrade(server *s, conn *c, const zttp_event *ev) {
  const uint8_t *p;
  size_t pending;
  size_t in_len;
  uint8_t *in = NULL;
  zttp_conn *h2 = c->h2_next;

  if (h2 == NULL) {
    /* Never accepted: no 101 was sent. */
    vlog(s, "fd %d: unexpected upgrade", c->fd);
    c->dead = 1;
    return 1;
  }
  pending = zttp_conn_pending(c->z, &p);
  in_len = ev->u.data.len + c->in_len;
  if (pending != 0) {
    c->preout = malloc(pending);
    if (c->preout == NULL) {
      c->dead = 1;
      return 1;
    }
    memcpy(c->preout, p, pending);
    c->preout_off = 0;
    c->preout_len = pending;
  }
  if (in_len != 0) {
    in = malloc(in_len);
    if (in == NULL) {
      c->dead = 1;
      return 1;
    }
    if (ev->u.data.len != 0) {
      memcpy(in, ev->u.data.data, ev->u.data.len);
    }
    if (c->in_len != 0) {
      memcpy(in + ev->u.data.len, c->in + c->in_off, c->in_len);
    }
  }
  free(c->in);
  c->in = in;
  c->in_off = 0;
  c->in_len = in_len;
  /* The HTTP/1.1 connection (and the event's pointers) end here. */
  c->h2_next = NULL;
  c->held = 0;
  if (conn_start(s, c, ZTTP_HTTP2, h2) != 0) {
    c->dead = 1;
    return 1;
  }
  /* Stream 1 is answered in answer_upgraded(). */
  c->up_answer = 1;
  return 1;
}

/* answer_upgraded answers the request of an "Upgrade: h2c" on stream 1
 * once the client sent its first bytes over HTTP/2 (its preface), that is
 * once it has read the 101. Answering at once would put the response right
 * behind the 101, and some clients cannot take much there: curl 7.88 gives
 * up beyond 32 KiB ("connection buffer size is too small to store data
 * following HTTP Upgrade response header"). */
static void answer_upgraded(server *s, conn *c) {
  stream *st;
  int32_t rv;

  if (!c->up_answer) {
    return;
  }
  c->up_answer = 0;
  st = stream_new(c, 1);
  rv = st != NULL ? respond(s, c, st, &c->up) : ZTTP_ERR_NOMEM;
  vlog(s, "fd %d: h2c stream 1: %.*s %.*s -> %s", c->fd, (int)c->up.method.len,
       c->up.method.base, (int)c->up.target.len, c->up.target.base,
       rv == 0 ? "answered" : zttp_strerror(rv));
  free(c->up_buf);
  c->up_buf = NULL;
  memset(&c->up, 0, sizeof(c->up));
  if (rv != 0) {
    conn_fatal(s, c, rv);
    return;
  }
  stream_done(st);
}

/* ------------------------------------------------------------------------ */
/* Socket I/O                                                               */
/* ------------------------------------------------------------------------ */

/* conn_write writes up to |n| bytes. Returns the count, 0 when the socket
 * cannot take more now, or -1 after setting c->dead. */
static ssize_t conn_write(conn *c, const uint8_t *p, size_t n) {
  ssize_t w;
  if (c->tls != NULL) {
    w = tls_write(c->tls, p, n);
    if (w > 0) {
      return w;
    }
    if (w == TLS_WANT_WRITE || w == TLS_WANT_READ) {
      return 0;
    }
    c->dead = 1;
    return -1;
  }
  for (;;) {
    w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w >= 0) {
      return w;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      c->dead = 1;
      return -1;
    }
    return 0;
  }
}

static size_t conn_pending(conn *c) {
  const uint8_t *p;
  return c->preout_len + (c->z != NULL ? zttp_conn_pending(c->z, &p) : 0);
}

/* conn_flush writes pending output: first what an upgrade left behind, then
 * the engine's. Returns the bytes written; sets c->dead on a socket
 * error. */
static size_t conn_flush(conn *c) {
  size_t total = 0;
  for (;;) {
    const uint8_t *p;
    size_t n;
    ssize_t w;
    int pre = c->preout_len != 0;
    if (pre) {
      p = c->preout + c->preout_off;
      n = c->preout_len;
    } else {
      n = zttp_conn_pending(c->z, &p);
    }
    if (n == 0) {
      break;
    }
    w = conn_write(c, p, n);
    if (w <= 0) {
      break;
    }
    if (pre) {
      c->preout_off += (size_t)w;
      c->preout_len -= (size_t)w;
      if (c->preout_len == 0) {
        free(c->preout);
        c->preout = NULL;
        c->preout_off = 0;
      }
    } else if (zttp_conn_consume(c->z, (size_t)w) != 0) {
      c->dead = 1;
      break;
    }
    total += (size_t)w;
  }
  return total;
}

/* conn_offer hands |len| freshly read bytes to the engine; what it does not
 * take is kept in c->in (empty before the call). Returns the bytes taken or a
 * negative zttp error. */
static int64_t conn_offer(server *s, conn *c, const uint8_t *data, size_t len) {
  int64_t n;
  zttp_conn_set_time(c->z, s->now_ns);
  n = zttp_conn_receive_data(c->z, data, len);
  if (n < 0) {
    return n;
  }
  if (n > 0) {
    answer_upgraded(s, c);
  }
  if ((size_t)n < len) {
    c->in = malloc(len - (size_t)n);
    if (c->in == NULL) {
      c->dead = 1;
      return n;
    }
    memcpy(c->in, data + n, len - (size_t)n);
    c->in_off = 0;
    c->in_len = len - (size_t)n;
  }
  return n;
}

/* conn_sniff reads the first bytes of a cleartext connection and picks the
 * protocol as soon as they match the HTTP/2 preface in full (HTTP/2 with
 * prior knowledge, RFC 9113 §3.3) or stop matching it (HTTP/1.1). */
static void conn_sniff(server *s, conn *c) {
  uint8_t *data = s->buf + PREFACE_LEN;
  size_t total;
  int match;
  ssize_t n;
  int64_t rv;

  do {
    n = recv(c->fd, data, IO_BUF_SIZE - PREFACE_LEN, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      c->dead = 1;
    }
    return;
  }
  touch(s, c);
  if (n == 0) {
    c->dead = 1; /* closed before sending a request */
    return;
  }
  data -= c->sniff_len;
  memcpy(data, c->sniff, c->sniff_len);
  total = c->sniff_len + (size_t)n;
  match = memcmp(data, PREFACE, MIN(total, (size_t)PREFACE_LEN)) == 0;
  if (match && total < PREFACE_LEN) {
    memcpy(c->sniff, data, total);
    c->sniff_len = total;
    return;
  }
  c->sniff_len = 0;
  if (conn_start(s, c, match ? ZTTP_HTTP2 : ZTTP_HTTP1, NULL) != 0) {
    c->dead = 1;
    return;
  }
  rv = conn_offer(s, c, data, total);
  if (rv < 0) {
    conn_fatal(s, c, (int32_t)rv);
  }
}

/* conn_read_tls runs the TLS handshake, picks the protocol from ALPN, then
 * reads what plaintext is ready. */
static void conn_read_tls(server *s, conn *c) {
  size_t len = 0;
  int64_t rv;

  c->tls_want_write = 0;
  if (c->proto == 0) {
    int hs = tls_handshake(c->tls);
    if (hs == TLS_WANT_READ) {
      return;
    }
    if (hs == TLS_WANT_WRITE) {
      c->tls_want_write = 1;
      return;
    }
    if (hs != 0) {
      vlog(s, "fd %d: TLS handshake: %s", c->fd, tls_error(c->tls));
      c->dead = 1;
      return;
    }
    touch(s, c);
    if (conn_start(s, c,
                   tls_alpn(c->tls) == TLS_ALPN_H2 ? ZTTP_HTTP2 : ZTTP_HTTP1,
                   NULL) != 0) {
      c->dead = 1;
      return;
    }
    vlog(s, "fd %d: %s, %s", c->fd, tls_describe(c->tls), proto_name(c));
  }
  while (len < IO_BUF_SIZE) {
    ssize_t n = tls_read(c->tls, s->buf + len, IO_BUF_SIZE - len);
    if (n > 0) {
      len += (size_t)n;
      continue;
    }
    if (n == TLS_WANT_WRITE) {
      c->tls_want_write = 1;
    } else if (n == 0) {
      c->rd_eof = 1;
      c->eof_owed = 1;
    } else if (n != TLS_WANT_READ) {
      vlog(s, "fd %d: TLS: %s", c->fd, tls_error(c->tls));
      c->dead = 1;
      return;
    }
    break;
  }
  if (len == 0) {
    return;
  }
  touch(s, c);
  rv = conn_offer(s, c, s->buf, len);
  if (rv < 0) {
    conn_fatal(s, c, (int32_t)rv);
  }
}

static void conn_read(server *s, conn *c) {
  ssize_t n;
  int64_t rv;

  if (c->held || c->in_len != 0 || c->rd_eof || c->fatal) {
    return;
  }
  if (c->tls != NULL) {
    conn_read_tls(s, c);
    return;
  }
  if (c->proto == 0) {
    conn_sniff(s, c);
    return;
  }
  do {
    n = recv(c->fd, s->buf, IO_BUF_SIZE, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      c->dead = 1;
    }
    return;
  }
  touch(s, c);
  if (n == 0) {
    c->rd_eof = 1;
    c->eof_owed = 1;
    return;
  }
  rv = conn_offer(s, c, s->buf, (size_t)n);
  if (rv < 0) {
    conn_fatal(s, c, (int32_t)rv);
  }
}

/* conn_drive moves a connection forward until it has to wait for the
 * socket. */
void conn_drive(server *s, conn *c) {
  size_t written = 0;

  c->yield = 0;
  if (c->z == NULL) {
    return; /* still sniffing or in the TLS handshake */
  }
  while (!c->dead) {
    int progress = 0;
    size_t w;

    if (!c->fatal && !c->held && c->in_len != 0) {
      int64_t n;
      zttp_conn_set_time(c->z, s->now_ns);
      n = zttp_conn_receive_data(c->z, c->in + c->in_off, c->in_len);
      if (n < 0) {
        conn_fatal(s, c, (int32_t)n);
      } else if (n > 0) {
        c->in_off += (size_t)n;
        c->in_len -= (size_t)n;
        if (c->in_len == 0) {
          free(c->in);
          c->in = NULL;
          c->in_off = 0;
        }
        progress = 1;
        answer_upgraded(s, c);
      }
    }
    if (!c->fatal && !c->held && c->in_len == 0 && c->eof_owed) {
      int64_t n = zttp_conn_receive_data(c->z, NULL, 0);
      c->eof_owed = 0;
      progress = 1;
      if (n < 0) {
        conn_fatal(s, c, (int32_t)n);
      }
    }
    /* TLS may hold decrypted bytes that epoll cannot announce. */
    if (c->tls != NULL && !c->fatal && !c->held && c->in_len == 0 &&
        !c->rd_eof && tls_pending(c->tls) != 0) {
      conn_read(s, c);
      progress = 1;
    }
    if (!c->fatal && !c->dead) {
      int rv = conn_events(s, c);
      if (rv < 0) {
        conn_fatal(s, c, rv);
      } else if (rv > 0) {
        progress = 1;
      }
    }
    if (!c->fatal && !c->dead && conn_pump(s, c)) {
      progress = 1;
    }
    if (c->dead) {
      break;
    }
    if (progress && !c->fatal) {
      /* Answer more requests before writing: one send() then carries many
       * small responses. */
      if (conn_pending(c) < FLUSH_THRESHOLD) {
        continue;
      }
    }
    w = conn_flush(c);
    if (w > 0) {
      written += w;
      progress = 1;
      touch(s, c);
    }
    if (!progress) {
      break;
    }
    if (written >= WRITE_BUDGET) {
      c->yield = 1;
      break;
    }
  }
}

/* conn_settle closes the connection or sets the epoll events it waits
 * for. */
void conn_settle(server *s, conn *c) {
  size_t pending;
  uint32_t want = 0;

  if (c->dead) {
    conn_close(s, c);
    return;
  }
  if (c->z == NULL) {
    /* Sniffing the preface or in the TLS handshake. */
    if (s->stop) {
      conn_close(s, c);
      return;
    }
    want = c->tls_want_write ? EPOLLOUT : EPOLLIN;
    if (conn_set_events(s, c, want) != 0) {
      conn_close(s, c);
    }
    return;
  }
  pending = conn_pending(c);
  if (pending == 0 && !c->yield &&
      (c->fatal ||
       (zttp_conn_should_close(c->z) == 1 && !c->held && !conn_busy(c)))) {
    conn_linger(s, c);
    return;
  }
  if (!c->fatal && !c->rd_eof && !c->held && c->in_len == 0) {
    want |= EPOLLIN;
  }
  if (pending != 0 || c->yield || c->tls_want_write) {
    want |= EPOLLOUT;
  }
  if (want == 0) {
    /* Nothing could wake this connection up again. */
    vlog(s, "fd %d: stalled (busy %d, held %d, input %zu)", c->fd, conn_busy(c),
         c->held, c->in_len);
    conn_close(s, c);
    return;
  }
  if (conn_set_events(s, c, want) != 0) {
    conn_close(s, c);
  }
}

void conn_on_event(server *s, conn *c, uint32_t revents) {
  if (c->lingering) {
    linger_read(s, c);
    return;
  }
  if ((revents & (EPOLLERR | EPOLLHUP)) != 0) {
    conn_close(s, c);
    return;
  }
  if ((revents & EPOLLIN) != 0 ||
      (c->tls_want_write && (revents & EPOLLOUT) != 0)) {
    conn_read(s, c);
  }
  conn_drive(s, c);
  conn_settle(s, c);
}

/* ------------------------------------------------------------------------ */
/* Accepting                                                                */
/* ------------------------------------------------------------------------ */

static int conn_new(server *s, int fd, int use_tls) {
  conn *c = calloc(1, sizeof(*c));
  struct epoll_event ee;
  int one = 1;

  if (c == NULL) {
    return -1;
  }
  c->fd = fd;
  snprintf(c->name, sizeof(c->name), "fd %d", fd);
  if (use_tls) {
    c->tls = tls_new(s->tls, fd, NULL);
    if (c->tls == NULL) {
      vlog(s, "fd %d: no TLS session", fd);
      goto fail_tls;
    }
  }
  /* Responses are written whole; do not let Nagle hold back their tails. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  memset(&ee, 0, sizeof(ee));
  ee.events = EPOLLIN;
  ee.data.ptr = c;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ee) != 0) {
    goto fail_epoll;
  }
  c->events = EPOLLIN;
  list_append(&s->active, c, 0);
  touch(s, c);
  s->num_conns++;
  return 0;

fail_epoll:
  tls_free(c->tls);
fail_tls:
  free(c);
  return -1;
}

void server_accept(server *s, const listener *l) {
  while (s->num_conns < s->max_conns) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      switch (errno) {
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
        continue;
      case EAGAIN:
#if EAGAIN != EWOULDBLOCK
      case EWOULDBLOCK:
#endif
        break;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        vlog(s, "accept: %s; pausing", strerror(errno));
        s->accept_resume = s->now + ACCEPT_RETRY_MS;
        break;
      default:
        fprintf(stderr, "zttp-server: accept: %s\n", strerror(errno));
        s->accept_resume = s->now + ACCEPT_RETRY_MS;
        break;
      }
      break;
    }
    if (conn_new(s, fd, l->tls) != 0) {
      close(fd);
    }
  }
  listener_update(s);
}
