/*
 * zttp-client: fetches URLs over HTTP/1.1, HTTP/2 or HTTP/3 with the public
 * zttp API only.
 *
 *   zttp-client [--http1|--http2|--h3] [--cacert FILE|--insecure]
 *               [-o FILE]... [-n N] [--data FILE] [-v] URL...
 *
 * Every URL must name the same scheme, host and port: they share one
 * connection, concurrently as HTTP/2 or HTTP/3 streams or pipelined on
 * HTTP/1.1 (one at a time with --data). If the server closes the connection
 * with requests it did not process (HTTP/1.1 requests left unanswered,
 * HTTP/2 and HTTP/3 streams refused or beyond a GOAWAY), they are sent again
 * on a new connection.
 *
 * https:// runs TLS through BoringSSL (examples/tls.c): SNI, certificate and
 * host name verification, ALPN h2 and http/1.1. http:// speaks HTTP/1.1, or
 * HTTP/2 with prior knowledge under --http2. --h3 fetches https:// URLs over
 * HTTP/3: a UDP socket connected to the server, zttp's own QUIC and TLS
 * (the same verification, configured on the zttp_config), datagrams in with
 * zttp_conn_receive_datagram() and out with zttp_conn_write_datagram(), and
 * zttp_conn_next_timeout() in the poll timeout.
 *
 * For each URL one line goes to stdout once it is done: "URL STATUS BYTES
 * PROTOCOL" (STATUS 000 when no complete response arrived, the reason on
 * stderr). Exit status: 0 when every URL got a final response and its whole
 * body, 1 otherwise, 2 for a usage error.
 *
 * The loop: write the requests and request bodies the engine takes
 * (zttp_conn_send_request(), zttp_conn_send_data() within
 * zttp_conn_send_window()), write zttp_conn_pending() to the socket, poll,
 * read into zttp_conn_receive_data(), pull events with
 * zttp_conn_next_event(), write body data out and give HTTP/2 flow-control
 * credit back with zttp_conn_data_consumed().
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zttp/zttp.h>

#include "tls.h"

/* Bytes of one socket read and of one piece of an upload. */
#define IO_BUF_SIZE (128u * 1024u)
/* HTTP/1.1 requests sent ahead of their responses (below the engine's
 * ZTTP_LIMIT_H1_MAX_PIPELINE). */
#define H1_PIPELINE 16u
/* HTTP/2 streams opened at once until the server's SETTINGS say more or
 * less. */
#define H2_DEFAULT_STREAMS 100u
#define DEFAULT_TIMEOUT_S 60u
/* RFC 9113 §7 */
#define H2_REFUSED_STREAM 0x7u
/* RFC 9114 §8.1 */
#define H3_REQUEST_REJECTED 0x10bu
/* Bytes zttp_conn_write_datagram() may fill at once (a GSO batch). */
#define H3_TX_SIZE (64u * 1024u)
/* RFC 9113 §6.5.2 */
#define H2_SETTINGS_MAX_CONCURRENT_STREAMS 0x3u

#define MIN(a, b) ((a) < (b) ? (a) : (b))

typedef struct url {
  int https;
  /* The host without brackets, for DNS, SNI and verification. */
  char host[256];
  /* host[:port] as the URL spells it, for Host / :authority. */
  char authority[300];
  char port[8];
  /* The request target: path and query. */
  char *target;
} url;

typedef enum transfer_state {
  T_QUEUED, /* not sent (or to be sent again) */
  T_SENT,   /* sent on the current connection */
  T_DONE,   /* a final response and its whole body arrived */
  T_FAILED
} transfer_state;

typedef struct transfer {
  const char *text;
  url u;
  transfer_state state;
  int64_t stream_id;
  uint32_t status;
  uint64_t bytes;
  /* A response head or body byte arrived: it can no longer be retried. */
  int got_any;
  /* Upload progress (--data). */
  uint64_t up_off;
  int up_done;
  /* Where the body goes; spooled bodies are copied to stdout at the end.
   * A repeat (-n) counts its body and drops it. */
  const char *out_path;
  FILE *out;
  int spooled;
  int discard;
  char err[200];
} transfer;

typedef struct options {
  /* 0: HTTP/1.1 on http://, ALPN on https://; ZTTP_HTTP3: --h3. */
  uint32_t proto;
  const char *cacert;
  int insecure;
  const char **outs;
  size_t num_outs;
  const char *data;
  int verbose;
  uint64_t timeout_s;
  /* -n: requests per URL. */
  uint64_t repeat;
} options;

typedef struct client {
  options o;
  /* The transfers: the URLs, then their repeats (-n). */
  transfer *t;
  size_t num;
  size_t num_urls;
  tls_ctx *tls;
  zttp_config *cfg;
  int upfd;
  uint64_t up_size;
  uint8_t *buf;
  FILE *status_out;
} client;

/* session is one connection. */
typedef struct session {
  int fd;
  tls *tls;
  zttp_conn *z;
  uint32_t proto;
  const char *proto_name;
  uint8_t *in;
  size_t in_off;
  size_t in_len;
  int rd_eof;
  int eof_owed;
  int tls_want_write;
  /* HTTP/1.1: the transfers sent, in order (responses come in order). */
  size_t *queue;
  size_t q_head;
  size_t q_len;
  size_t active;
  uint64_t max_streams;
  /* No request is sent on this connection any more. */
  int no_more;
  int closed;
  int goaway;
  int64_t goaway_last;
  size_t completed;
  /* HTTP/3: the UDP path, and whether the QUIC handshake is done (requests
   * wait for it). */
  zttp_path path;
  int hs_done;
  /* Why the connection failed, when no transfer was in flight to say it. */
  char why[256];
} session;

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static void vlog(const client *cl, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void vlog(const client *cl, const char *fmt, ...) {
  va_list ap;
  if (!cl->o.verbose) {
    return;
  }
  va_start(ap, fmt);
  fputs("zttp-client: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static zttp_tstamp now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (zttp_tstamp)ts.tv_sec * 1000000000u + (zttp_tstamp)ts.tv_nsec;
}

static void set_header(zttp_header *h, const char *name, const char *value) {
  memset(h, 0, sizeof(*h));
  h->name = name;
  h->name_len = strlen(name);
  h->value = value;
  h->value_len = strlen(value);
}

/* ------------------------------------------------------------------------ */
/* URLs                                                                     */
/* ------------------------------------------------------------------------ */

/* parse_url splits http[s]://host[:port][/path][?query] (the fragment is
 * dropped). Returns 0 or -1 with a message in |err|. */
static int parse_url(url *u, const char *text, char *err, size_t errlen) {
  const char *p = strstr(text, "://");
  const char *auth;
  const char *end;
  const char *host_end;
  const char *port = NULL;
  size_t alen;
  size_t tlen;

  memset(u, 0, sizeof(*u));
  if (p == NULL) {
    snprintf(err, errlen, "not an http:// or https:// URL");
    return -1;
  }
  if ((size_t)(p - text) == 5 && strncasecmp(text, "https", 5) == 0) {
    u->https = 1;
  } else if ((size_t)(p - text) != 4 || strncasecmp(text, "http", 4) != 0) {
    snprintf(err, errlen, "unsupported scheme");
    return -1;
  }
  auth = p + 3;
  end = auth + strcspn(auth, "/?#");
  alen = (size_t)(end - auth);
  if (alen == 0 || alen >= sizeof(u->authority) ||
      memchr(auth, '@', alen) != NULL) {
    snprintf(err, errlen, "bad authority");
    return -1;
  }
  memcpy(u->authority, auth, alen);
  if (auth[0] == '[') {
    const char *rb = memchr(auth, ']', alen);
    if (rb == NULL || rb == auth + 1) {
      snprintf(err, errlen, "bad IPv6 literal");
      return -1;
    }
    memcpy(u->host, auth + 1, (size_t)(rb - auth - 1));
    host_end = rb + 1;
    if (host_end < end && *host_end != ':') {
      snprintf(err, errlen, "bad authority");
      return -1;
    }
  } else {
    host_end = memchr(auth, ':', alen);
    if (host_end == NULL) {
      host_end = end;
    }
    if (host_end == auth || (size_t)(host_end - auth) >= sizeof(u->host)) {
      snprintf(err, errlen, "bad host");
      return -1;
    }
    memcpy(u->host, auth, (size_t)(host_end - auth));
  }
  if (host_end < end) {
    port = host_end + 1;
    size_t plen = (size_t)(end - port);
    unsigned long v = 0;
    if (plen == 0 || plen > 5) {
      snprintf(err, errlen, "bad port");
      return -1;
    }
    for (size_t i = 0; i < plen; i++) {
      if (port[i] < '0' || port[i] > '9') {
        snprintf(err, errlen, "bad port");
        return -1;
      }
      v = v * 10 + (unsigned long)(port[i] - '0');
    }
    if (v == 0 || v > 65535) {
      snprintf(err, errlen, "bad port");
      return -1;
    }
    snprintf(u->port, sizeof(u->port), "%lu", v);
  } else {
    snprintf(u->port, sizeof(u->port), "%s", u->https ? "443" : "80");
  }
  tlen = strcspn(end, "#");
  u->target = malloc(tlen + 2);
  if (u->target == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (tlen == 0 || end[0] != '/') {
    u->target[0] = '/';
    memcpy(u->target + 1, end, tlen);
    u->target[tlen + 1] = '\0';
  } else {
    memcpy(u->target, end, tlen);
    u->target[tlen] = '\0';
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Transfers                                                                */
/* ------------------------------------------------------------------------ */

static void transfer_fail(client *cl, transfer *t, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static void transfer_report(client *cl, transfer *t, const char *proto) {
  if (t->state == T_DONE) {
    fprintf(cl->status_out, "%s %03u %" PRIu64 " %s\n", t->text, t->status,
            t->bytes, proto);
  } else {
    fprintf(cl->status_out, "%s 000 %" PRIu64 " %s\n", t->text, t->bytes,
            proto);
    fprintf(stderr, "zttp-client: %s: %s\n", t->text, t->err);
  }
  fflush(cl->status_out);
}

static void transfer_fail(client *cl, transfer *t, const char *fmt, ...) {
  va_list ap;
  (void)cl;
  va_start(ap, fmt);
  vsnprintf(t->err, sizeof(t->err), fmt, ap);
  va_end(ap);
  t->state = T_FAILED;
}

/* ------------------------------------------------------------------------ */
/* The connection                                                           */
/* ------------------------------------------------------------------------ */

static int wait_fd(int fd, short events, int timeout_ms) {
  struct pollfd pfd;
  int rv;
  pfd.fd = fd;
  pfd.events = events;
  pfd.revents = 0;
  do {
    rv = poll(&pfd, 1, timeout_ms);
  } while (rv < 0 && errno == EINTR);
  return rv;
}

/* session_connect_h3 makes a UDP socket connected to the URLs' origin and
 * an HTTP/3 connection; its handshake runs in session_run_h3(). Returns 0
 * or -1 with a message in |err|. */
static int session_connect_h3(client *cl, session *ss, char *err,
                              size_t errlen) {
  const url *u = &cl->t[0].u;
  struct addrinfo hints;
  struct addrinfo *res = NULL;
  struct sockaddr_storage local;
  socklen_t local_len = sizeof(local);
  int rv;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  rv = getaddrinfo(u->host, u->port, &hints, &res);
  if (rv != 0) {
    snprintf(err, errlen, "%.100s: %s", u->host, gai_strerror(rv));
    return -1;
  }
  ss->fd = -1;
  for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) {
      continue;
    }
    if (ai->ai_addrlen <= sizeof(ss->path.remote) &&
        connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        getsockname(fd, (struct sockaddr *)&local, &local_len) == 0 &&
        local_len <= sizeof(ss->path.local)) {
      /* The path's ends are the socket addresses, copied verbatim. */
      memcpy(ss->path.remote, ai->ai_addr, ai->ai_addrlen);
      ss->path.remote_len = (uint32_t)ai->ai_addrlen;
      memcpy(ss->path.local, &local, local_len);
      ss->path.local_len = (uint32_t)local_len;
      ss->fd = fd;
      break;
    }
    snprintf(err, errlen, "connect to %.100s port %s: %s", u->host, u->port,
             strerror(errno));
    close(fd);
  }
  freeaddrinfo(res);
  if (ss->fd < 0) {
    return -1;
  }
  ss->proto = ZTTP_HTTP3;
  ss->proto_name = "h3";
  rv = zttp_conn_new(&ss->z, cl->cfg, ZTTP_CLIENT, ZTTP_HTTP3);
  if (rv != 0) {
    snprintf(err, errlen, "zttp_conn_new(HTTP/3): %s", zttp_strerror(rv));
    return -1;
  }
  vlog(cl, "sending to %s port %s over UDP: h3", u->host, u->port);
  ss->max_streams = H2_DEFAULT_STREAMS;
  return 0;
}

/* session_connect opens the TCP connection (and TLS) to the URLs' origin and
 * picks the protocol. Returns 0 or -1 with a message in |err|. */
static int session_connect(client *cl, session *ss, char *err, size_t errlen) {
  const url *u = &cl->t[0].u;
  struct addrinfo hints;
  struct addrinfo *res = NULL;
  int one = 1;
  int rv;
  int timeout_ms = (int)MIN(cl->o.timeout_s * 1000u, (uint64_t)INT32_MAX);

  if (cl->o.proto == ZTTP_HTTP3) {
    return session_connect_h3(cl, ss, err, errlen);
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rv = getaddrinfo(u->host, u->port, &hints, &res);
  if (rv != 0) {
    snprintf(err, errlen, "%.100s: %s", u->host, gai_strerror(rv));
    return -1;
  }
  ss->fd = -1;
  for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      ss->fd = fd;
      break;
    }
    snprintf(err, errlen, "connect to %.100s port %s: %s", u->host, u->port,
             strerror(errno));
    close(fd);
  }
  freeaddrinfo(res);
  if (ss->fd < 0) {
    return -1;
  }
  setsockopt(ss->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (fcntl(ss->fd, F_SETFL, fcntl(ss->fd, F_GETFL) | O_NONBLOCK) != 0) {
    snprintf(err, errlen, "fcntl: %s", strerror(errno));
    return -1;
  }
  ss->proto = cl->o.proto == ZTTP_HTTP2 ? ZTTP_HTTP2 : ZTTP_HTTP1;
  ss->proto_name = ss->proto == ZTTP_HTTP2 ? "h2c" : "http/1.1";
  if (u->https) {
    ss->tls = tls_new(cl->tls, ss->fd, u->host);
    if (ss->tls == NULL) {
      snprintf(err, errlen, "TLS session setup failed");
      return -1;
    }
    for (;;) {
      rv = tls_handshake(ss->tls);
      if (rv == 0) {
        break;
      }
      if (rv == TLS_ERROR) {
        snprintf(err, errlen, "TLS handshake: %s", tls_error(ss->tls));
        return -1;
      }
      rv = wait_fd(ss->fd, rv == TLS_WANT_READ ? POLLIN : POLLOUT, timeout_ms);
      if (rv <= 0) {
        snprintf(err, errlen, "TLS handshake: %s",
                 rv == 0 ? "timed out" : strerror(errno));
        return -1;
      }
    }
    uint32_t alpn = tls_alpn(ss->tls);
    if (alpn == TLS_ALPN_H2) {
      ss->proto = ZTTP_HTTP2;
      ss->proto_name = "h2";
    } else if (cl->o.proto == ZTTP_HTTP2) {
      snprintf(err, errlen, "the server did not select h2 in ALPN");
      return -1;
    } else {
      ss->proto = ZTTP_HTTP1;
      ss->proto_name = "http/1.1";
    }
    vlog(cl, "connected to %s port %s: %s, ALPN %s", u->host, u->port,
         tls_describe(ss->tls),
         alpn == TLS_ALPN_H2       ? "h2"
         : alpn == TLS_ALPN_HTTP11 ? "http/1.1"
                                   : "none");
  } else {
    vlog(cl, "connected to %s port %s: %s", u->host, u->port, ss->proto_name);
  }
  rv = zttp_conn_new(&ss->z, cl->cfg, ZTTP_CLIENT, ss->proto);
  if (rv != 0) {
    snprintf(err, errlen, "zttp_conn_new(%s): %s",
             ss->proto == ZTTP_HTTP2 ? "HTTP/2" : "HTTP/1.1",
             zttp_strerror(rv));
    return -1;
  }
  ss->max_streams = H2_DEFAULT_STREAMS;
  return 0;
}

static void session_free(session *ss) {
  if (ss->tls != NULL) {
    tls_shutdown(ss->tls);
    tls_free(ss->tls);
  }
  if (ss->fd >= 0) {
    close(ss->fd);
  }
  zttp_conn_free(ss->z);
  free(ss->in);
  free(ss->queue);
}

/* find returns the transfer a stream's event belongs to: the HTTP/2 stream,
 * or the oldest HTTP/1.1 request without its response. */
static transfer *find(client *cl, session *ss, int64_t stream_id) {
  if (ss->proto == ZTTP_HTTP1) {
    return ss->q_len != 0 ? &cl->t[ss->queue[ss->q_head]] : NULL;
  }
  for (size_t i = 0; i < cl->num; i++) {
    if (cl->t[i].state == T_SENT && cl->t[i].stream_id == stream_id) {
      return &cl->t[i];
    }
  }
  return NULL;
}

/* finish takes |t| off the connection once it is done or failed. */
static void finish(client *cl, session *ss, transfer *t) {
  if (ss->proto == ZTTP_HTTP1 && ss->q_len != 0 &&
      &cl->t[ss->queue[ss->q_head]] == t) {
    ss->q_head = (ss->q_head + 1) % cl->num;
    ss->q_len--;
  }
  ss->active--;
  if (t->state == T_DONE) {
    ss->completed++;
  }
  if (t->out != NULL && !t->spooled && t->out != stdout) {
    if (fclose(t->out) != 0 && t->state == T_DONE) {
      transfer_fail(cl, t, "%s: %s", t->out_path, strerror(errno));
    }
    t->out = NULL;
  }
  transfer_report(cl, t, ss->proto_name);
}

/* submit sends the requests the connection may carry now. Returns 0 or -1
 * after a fatal error. */
static int submit(client *cl, session *ss) {
  size_t limit = ss->proto != ZTTP_HTTP1 ? (size_t)ss->max_streams
                 : cl->upfd >= 0         ? 1
                                         : H1_PIPELINE;
  char clen[24];
  char agent[48];

  if (ss->proto == ZTTP_HTTP3 && !ss->hs_done) {
    return 0; /* requests go once the QUIC handshake is done */
  }
  snprintf(clen, sizeof(clen), "%" PRIu64, cl->up_size);
  snprintf(agent, sizeof(agent), "zttp-client/%s", zttp_version(NULL));
  for (size_t i = 0; i < cl->num && !ss->no_more && ss->active < limit; i++) {
    transfer *t = &cl->t[i];
    zttp_header h[5];
    size_t n = 0;
    const char *method = cl->upfd >= 0 ? "POST" : "GET";
    uint32_t flags = 0;
    int64_t id;

    if (t->state != T_QUEUED) {
      continue;
    }
    set_header(&h[n++], "host", t->u.authority);
    set_header(&h[n++], "user-agent", agent);
    set_header(&h[n++], "accept", "*/*");
    if (cl->upfd >= 0) {
      set_header(&h[n++], "content-length", clen);
      set_header(&h[n++], "content-type", "application/octet-stream");
    }
    if (cl->upfd < 0 || cl->up_size == 0) {
      flags = ZTTP_SEND_FLAG_END_STREAM;
    }
    id = zttp_conn_send_request(ss->z, method, strlen(method), t->u.target,
                                strlen(t->u.target), h, n, flags);
    if (id == ZTTP_ERR_BUFFER_FULL) {
      break;
    }
    if (id == ZTTP_ERR_INVALID_STATE || id == ZTTP_ERR_CLOSED ||
        id == ZTTP_ERR_STREAM_LIMIT) {
      /* The engine's limit (HTTP/2: the server's
       * SETTINGS_MAX_CONCURRENT_STREAMS; HTTP/1.1: the pipeline) or the
       * connection is closing: the same code says both. With requests in
       * flight, try again once some finish; without, the rest go on a new
       * connection. */
      if (ss->active == 0 || id == ZTTP_ERR_CLOSED) {
        ss->no_more = 1;
      }
      break;
    }
    if (id < 0) {
      if (zttp_error_is_fatal((int32_t)id)) {
        return -1;
      }
      transfer_fail(cl, t, "request refused: %s", zttp_strerror((int32_t)id));
      transfer_report(cl, t, ss->proto_name);
      continue;
    }
    vlog(cl, "> %s %s (stream %" PRId64 ")", method, t->u.target, id);
    t->state = T_SENT;
    t->stream_id = id;
    t->up_off = 0;
    t->up_done = (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
    ss->active++;
    if (ss->proto == ZTTP_HTTP1) {
      ss->queue[(ss->q_head + ss->q_len) % cl->num] = i;
      ss->q_len++;
    }
  }
  return 0;
}

/* pump_uploads queues request body bytes as the send windows allow. Returns
 * 1 if anything was queued, 0 if not, -1 after a fatal error. */
static int pump_uploads(client *cl, session *ss) {
  int progress = 0;
  if (cl->upfd < 0) {
    return 0;
  }
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    while (t->state == T_SENT && !t->up_done) {
      int64_t win = zttp_conn_send_window(ss->z, t->stream_id);
      uint64_t left = cl->up_size - t->up_off;
      size_t want;
      ssize_t r;
      int64_t n;

      if (win <= 0) {
        break; /* a stream the server reset reports it as an event */
      }
      want = (size_t)MIN((uint64_t)win, MIN(left, (uint64_t)IO_BUF_SIZE));
      do {
        r = pread(cl->upfd, cl->buf, want, (off_t)t->up_off);
      } while (r < 0 && errno == EINTR);
      if (r <= 0) {
        transfer_fail(cl, t, "--data: %s",
                      r < 0 ? strerror(errno) : "file shrank");
        zttp_conn_reset_stream(ss->z, t->stream_id, 0x8 /* CANCEL */);
        finish(cl, ss, t);
        if (ss->proto == ZTTP_HTTP1) {
          return -1; /* the connection cannot go on */
        }
        break;
      }
      want = (size_t)r;
      n = zttp_conn_send_data(ss->z, t->stream_id, cl->buf, want,
                              want == left ? ZTTP_SEND_FLAG_END_STREAM : 0);
      if (n < 0) {
        if (zttp_error_is_fatal((int32_t)n)) {
          return -1;
        }
        break;
      }
      if (n == 0) {
        break;
      }
      progress = 1;
      t->up_off += (uint64_t)n;
      if ((size_t)n == want && want == left) {
        t->up_done = 1;
      }
      if ((size_t)n < want) {
        break;
      }
    }
  }
  return progress;
}

static void log_head(client *cl, const zttp_event *ev) {
  const zttp_response_event *r = &ev->u.response;
  if (!cl->o.verbose) {
    return;
  }
  fprintf(stderr, "zttp-client: < %u (stream %" PRId64 ")\n", r->status,
          ev->stream_id);
  for (size_t i = 0; i < r->num_headers; i++) {
    fprintf(stderr, "zttp-client: < %.*s: %.*s\n", (int)r->headers[i].name_len,
            r->headers[i].name, (int)r->headers[i].value_len,
            r->headers[i].value);
  }
}

/* handle_event acts on one event. Returns 0 or -1 after a fatal error. */
static int handle_event(client *cl, session *ss, const zttp_event *ev) {
  transfer *t;
  int32_t rv;

  switch (ev->kind) {
  case ZTTP_EVENT_RESPONSE:
    t = find(cl, ss, ev->stream_id);
    log_head(cl, ev);
    if (t == NULL || ev->u.response.status < 200) {
      return 0;
    }
    t->status = ev->u.response.status;
    t->got_any = 1;
    return 0;
  case ZTTP_EVENT_DATA:
    t = find(cl, ss, ev->stream_id);
    if (t != NULL && ev->u.data.len != 0) {
      t->got_any = 1;
      if (!t->discard && fwrite(ev->u.data.data, 1, ev->u.data.len, t->out) !=
                             ev->u.data.len) {
        transfer_fail(cl, t, "writing the body: %s", strerror(errno));
        if (ss->proto == ZTTP_HTTP1) {
          finish(cl, ss, t);
          return -1;
        }
        zttp_conn_reset_stream(ss->z, t->stream_id, 0x8 /* CANCEL */);
        finish(cl, ss, t);
      } else {
        t->bytes += ev->u.data.len;
      }
    }
    rv = zttp_conn_data_consumed(ss->z, ev->stream_id, ev->u.data.len);
    if (rv != 0 && rv != ZTTP_ERR_STREAM_NOT_FOUND) {
      return -1;
    }
    return 0;
  case ZTTP_EVENT_END_MESSAGE:
    t = find(cl, ss, ev->stream_id);
    if (t == NULL) {
      return 0;
    }
    if (t->status >= 200) {
      t->state = T_DONE;
    } else {
      transfer_fail(cl, t, "message ended without a final response");
    }
    finish(cl, ss, t);
    return 0;
  case ZTTP_EVENT_STREAM_RESET:
    t = find(cl, ss, ev->stream_id);
    vlog(cl, "stream %" PRId64 " reset (error 0x%" PRIx64 ")", ev->stream_id,
         ev->u.reset.error_code);
    if (t == NULL) {
      return 0;
    }
    if (ev->u.reset.error_code == (ss->proto == ZTTP_HTTP3
                                       ? H3_REQUEST_REJECTED
                                       : H2_REFUSED_STREAM) &&
        !t->got_any) {
      /* RFC 9113 §8.7, RFC 9114 §4.1.1: not processed; safe to send
       * again. */
      t->state = T_QUEUED;
      ss->active--;
      return 0;
    }
    transfer_fail(cl, t, "stream reset by the server (error 0x%" PRIx64 ")",
                  ev->u.reset.error_code);
    finish(cl, ss, t);
    return 0;
  case ZTTP_EVENT_GOAWAY:
    vlog(cl, "GOAWAY (last stream %" PRId64 ", error 0x%" PRIx64 ")",
         ev->u.goaway.last_stream_id, ev->u.goaway.error_code);
    ss->goaway = 1;
    ss->goaway_last = ev->u.goaway.last_stream_id;
    ss->no_more = 1;
    return 0;
  case ZTTP_EVENT_SETTINGS:
    for (size_t i = 0; i < ev->u.settings.num_settings; i++) {
      const zttp_setting *st = &ev->u.settings.settings[i];
      vlog(cl, "SETTINGS 0x%" PRIx64 " = %" PRIu64, st->id, st->value);
      if (ss->proto == ZTTP_HTTP2 &&
          st->id == H2_SETTINGS_MAX_CONCURRENT_STREAMS) {
        ss->max_streams = st->value != 0 ? st->value : 1;
      }
    }
    return 0;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    if (ev->u.closed.error != 0) {
      vlog(cl, "connection closed: %s (wire error 0x%" PRIx64 ")",
           zttp_strerror(ev->u.closed.error), ev->u.closed.wire_error_code);
    }
    ss->closed = 1;
    return 0;
  case ZTTP_EVENT_UPGRADE:
    /* No Upgrade or CONNECT is ever sent. */
    return -1;
  case ZTTP_EVENT_HANDSHAKE_DONE:
    vlog(cl, "QUIC handshake done");
    ss->hs_done = 1;
    return 0;
  case ZTTP_EVENT_PING:
  case ZTTP_EVENT_WINDOW_UPDATE:
  case ZTTP_EVENT_PRIORITY:
  default:
    return 0;
  }
}

/* session_fatal fails the transfers in flight after the engine's error. */
static void session_fatal(client *cl, session *ss, int32_t err) {
  const char *msg = NULL;
  uint64_t wire = 0;
  zttp_conn_last_error(ss->z, &msg, &wire, NULL);
  snprintf(ss->why, sizeof(ss->why), "%s (%s, wire error 0x%" PRIx64 ")",
           zttp_strerror(err), msg != NULL ? msg : "", wire);
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    if (t->state == T_SENT) {
      transfer_fail(cl, t, "%s (%s, wire error 0x%" PRIx64 ")",
                    zttp_strerror(err), msg != NULL ? msg : "", wire);
      finish(cl, ss, t);
    }
  }
  ss->closed = 1;
}

/* session_read reads what the socket holds into ss->in. Returns the bytes
 * read (0 with rd_eof at EOF) or -1 with |err| set. */
static ssize_t session_read(client *cl, session *ss, char *err, size_t errlen) {
  ssize_t n;
  ss->tls_want_write = 0;
  if (ss->tls != NULL) {
    n = tls_read(ss->tls, cl->buf, IO_BUF_SIZE);
    if (n == TLS_WANT_READ) {
      return 0;
    }
    if (n == TLS_WANT_WRITE) {
      ss->tls_want_write = 1;
      return 0;
    }
    if (n < 0) {
      snprintf(err, errlen, "TLS: %s", tls_error(ss->tls));
      return -1;
    }
  } else {
    do {
      n = recv(ss->fd, cl->buf, IO_BUF_SIZE, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return 0;
      }
      snprintf(err, errlen, "recv: %s", strerror(errno));
      return -1;
    }
  }
  if (n == 0) {
    ss->rd_eof = 1;
    ss->eof_owed = 1;
    return 0;
  }
  ss->in = malloc((size_t)n);
  if (ss->in == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  memcpy(ss->in, cl->buf, (size_t)n);
  ss->in_off = 0;
  ss->in_len = (size_t)n;
  return n;
}

/* session_flush writes pending output. Returns 0 or -1 with |err| set. */
static int session_flush(session *ss, char *err, size_t errlen) {
  for (;;) {
    const uint8_t *p;
    size_t n = zttp_conn_pending(ss->z, &p);
    ssize_t w;
    if (n == 0) {
      return 0;
    }
    if (ss->tls != NULL) {
      w = tls_write(ss->tls, p, n);
      if (w == TLS_WANT_WRITE || w == TLS_WANT_READ) {
        return 0;
      }
      if (w < 0) {
        snprintf(err, errlen, "TLS: %s", tls_error(ss->tls));
        return -1;
      }
    } else {
      w = send(ss->fd, p, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return 0;
        }
        snprintf(err, errlen, "send: %s", strerror(errno));
        return -1;
      }
    }
    if (zttp_conn_consume(ss->z, (size_t)w) != 0) {
      snprintf(err, errlen, "zttp_conn_consume failed");
      return -1;
    }
  }
}

static size_t count_state(const client *cl, transfer_state st) {
  size_t n = 0;
  for (size_t i = 0; i < cl->num; i++) {
    n += cl->t[i].state == st;
  }
  return n;
}

/* session_run drives one connection until every transfer it can carry is
 * done, or it closes. */
static void session_run(client *cl, session *ss) {
  char err[256] = "";
  int timeout_ms = (int)MIN(cl->o.timeout_s * 1000u, (uint64_t)INT32_MAX);

  for (;;) {
    struct pollfd pfd;
    const uint8_t *p;
    int rv;

    /* Input the engine did not take yet, then EOF. */
    if (ss->in_len != 0) {
      int64_t n;
      zttp_conn_set_time(ss->z, now_ns());
      n = zttp_conn_receive_data(ss->z, ss->in + ss->in_off, ss->in_len);
      if (n < 0) {
        session_fatal(cl, ss, (int32_t)n);
        return;
      }
      ss->in_off += (size_t)n;
      ss->in_len -= (size_t)n;
      if (ss->in_len == 0) {
        free(ss->in);
        ss->in = NULL;
      }
    }
    if (ss->in_len == 0 && ss->eof_owed) {
      int64_t n = zttp_conn_receive_data(ss->z, NULL, 0);
      ss->eof_owed = 0;
      if (n < 0) {
        session_fatal(cl, ss, (int32_t)n);
        return;
      }
    }
    for (;;) {
      zttp_event ev;
      rv = zttp_conn_next_event(ss->z, &ev);
      if (rv < 0) {
        session_fatal(cl, ss, rv);
        return;
      }
      if (rv == 0) {
        break;
      }
      if (handle_event(cl, ss, &ev) != 0) {
        session_fatal(cl, ss, ZTTP_ERR_PROTOCOL);
        return;
      }
    }
    if (ss->closed) {
      return;
    }
    if (!ss->rd_eof && (submit(cl, ss) != 0 || pump_uploads(cl, ss) < 0)) {
      session_fatal(cl, ss, ZTTP_ERR_INVALID_STATE);
      return;
    }
    if (session_flush(ss, err, sizeof(err)) != 0) {
      break;
    }
    if (ss->active == 0 &&
        (count_state(cl, T_QUEUED) == 0 || ss->no_more || ss->rd_eof)) {
      return; /* all this connection will carry is done */
    }
    if (ss->in_len != 0) {
      continue; /* the events above made room for more input */
    }
    if (ss->tls != NULL && tls_pending(ss->tls) != 0) {
      pfd.revents = POLLIN;
    } else {
      pfd.fd = ss->fd;
      pfd.events = ss->rd_eof ? 0 : POLLIN;
      if (zttp_conn_pending(ss->z, &p) != 0 || ss->tls_want_write) {
        pfd.events |= POLLOUT;
      }
      if (pfd.events == 0) {
        snprintf(err, sizeof(err), "connection closed");
        break;
      }
      pfd.revents = 0;
      do {
        rv = poll(&pfd, 1, timeout_ms);
      } while (rv < 0 && errno == EINTR);
      if (rv == 0) {
        snprintf(err, sizeof(err), "timed out after %" PRIu64 " s",
                 cl->o.timeout_s);
        break;
      }
      if (rv < 0) {
        snprintf(err, sizeof(err), "poll: %s", strerror(errno));
        break;
      }
    }
    if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0 ||
        (ss->tls_want_write && (pfd.revents & POLLOUT) != 0)) {
      if (session_read(cl, ss, err, sizeof(err)) < 0) {
        break;
      }
    }
  }
  /* A transport error or a timeout: what is in flight failed. */
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    if (t->state == T_SENT) {
      transfer_fail(cl, t, "%s", err);
      finish(cl, ss, t);
    }
  }
}

/* h3_flush sends the datagrams zttp_conn_write_datagram() has, one send()
 * each on the connected socket. Returns 0 or -1 with |err| set. */
static int h3_flush(client *cl, session *ss, char *err, size_t errlen) {
  for (;;) {
    zttp_path path;
    size_t seg = 0;
    int64_t n = zttp_conn_write_datagram(ss->z, &path, &seg, cl->buf,
                                         H3_TX_SIZE, now_ns());
    if (n <= 0) {
      return 0; /* an error shows in the next call that reports it */
    }
    if (seg == 0 || seg > (size_t)n) {
      seg = (size_t)n;
    }
    for (size_t off = 0; off < (size_t)n;) {
      size_t len = MIN(seg, (size_t)n - off);
      if (send(ss->fd, cl->buf + off, len, 0) >= 0) {
        off += len;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_fd(ss->fd, POLLOUT, 1000);
      } else if (errno != EINTR) {
        snprintf(err, errlen, "send: %s", strerror(errno));
        return -1;
      }
    }
  }
}

/* session_run_h3 drives an HTTP/3 connection until every transfer it can
 * carry is done, or it closes: datagrams in, timers, events, requests and
 * uploads, datagrams out, then poll() until a datagram or the next timer.
 * Once done it closes the connection (NO_ERROR). */
static void session_run_h3(client *cl, session *ss) {
  char err[256] = "";
  const zttp_tstamp idle = cl->o.timeout_s * 1000000000u;
  zttp_tstamp last = now_ns();

  /* The first flight (the Initial with the ClientHello) goes out before
   * any timer runs: it starts the connection's clock. */
  if (h3_flush(cl, ss, err, sizeof(err)) != 0) {
    goto failed;
  }
  for (;;) {
    zttp_tstamp now = now_ns();
    zttp_tstamp deadline;
    struct pollfd pfd;
    int timeout_ms;
    int rv;

    for (;;) {
      ssize_t n = recv(ss->fd, cl->buf, IO_BUF_SIZE, 0);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          break;
        }
        snprintf(err, sizeof(err), "recv: %s", strerror(errno));
        goto failed;
      }
      last = now;
      rv =
          zttp_conn_receive_datagram(ss->z, cl->buf, (size_t)n, &ss->path, now);
      if (rv < 0) {
        session_fatal(cl, ss, rv);
        h3_flush(cl, ss, err, sizeof(err));
        return;
      }
    }
    if (zttp_conn_next_timeout(ss->z) <= now) {
      rv = zttp_conn_handle_timeout(ss->z, now);
      if (rv < 0) {
        session_fatal(cl, ss, rv);
        h3_flush(cl, ss, err, sizeof(err));
        return;
      }
    }
    for (;;) {
      zttp_event ev;
      rv = zttp_conn_next_event(ss->z, &ev);
      if (rv < 0) {
        session_fatal(cl, ss, rv);
        h3_flush(cl, ss, err, sizeof(err));
        return;
      }
      if (rv == 0) {
        break;
      }
      if (handle_event(cl, ss, &ev) != 0) {
        session_fatal(cl, ss, ZTTP_ERR_PROTOCOL);
        return;
      }
    }
    if (ss->closed) {
      h3_flush(cl, ss, err, sizeof(err));
      return;
    }
    if (submit(cl, ss) != 0 || pump_uploads(cl, ss) < 0) {
      session_fatal(cl, ss, ZTTP_ERR_INVALID_STATE);
      return;
    }
    if (ss->hs_done && ss->active == 0 &&
        (count_state(cl, T_QUEUED) == 0 || ss->no_more)) {
      /* All this connection will carry is done. */
      zttp_conn_close(ss->z, 0, 0);
      h3_flush(cl, ss, err, sizeof(err));
      return;
    }
    if (h3_flush(cl, ss, err, sizeof(err)) != 0) {
      break;
    }
    now = now_ns();
    if (now - last >= idle) {
      snprintf(err, sizeof(err), "timed out after %" PRIu64 " s",
               cl->o.timeout_s);
      break;
    }
    deadline = MIN(zttp_conn_next_timeout(ss->z), last + idle);
    timeout_ms =
        deadline <= now
            ? 0
            : (int)MIN((deadline - now + 999999u) / 1000000u, (uint64_t)60000);
    pfd.fd = ss->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    do {
      rv = poll(&pfd, 1, timeout_ms);
    } while (rv < 0 && errno == EINTR);
    if (rv < 0) {
      snprintf(err, sizeof(err), "poll: %s", strerror(errno));
      break;
    }
  }
failed:
  snprintf(ss->why, sizeof(ss->why), "%s", err);
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    if (t->state == T_SENT) {
      transfer_fail(cl, t, "%s", err);
      finish(cl, ss, t);
    }
  }
}

/* session_end decides what happens to transfers still in flight when the
 * connection ended: sent again if the server cannot have processed them,
 * failed otherwise. */
static void session_end(client *cl, session *ss) {
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    int retry;
    if (t->state != T_SENT) {
      continue;
    }
    if (ss->proto == ZTTP_HTTP2) {
      /* RFC 9113 §6.8: streams above the last one were not processed. */
      retry = ss->goaway && t->stream_id > ss->goaway_last && !t->got_any;
    } else if (ss->proto == ZTTP_HTTP3) {
      /* RFC 9114 §5.2: the GOAWAY names the first one not processed. */
      retry = ss->goaway && t->stream_id >= ss->goaway_last && !t->got_any;
    } else {
      /* RFC 9110 §9.2.2: an unanswered idempotent request may be retried. */
      retry = !t->got_any && cl->upfd < 0;
    }
    if (retry) {
      t->state = T_QUEUED;
      ss->active--;
    } else {
      transfer_fail(cl, t,
                    "connection closed before the response was "
                    "complete");
      finish(cl, ss, t);
    }
  }
}

/* run fetches every URL, on as many connections as it takes. */
static void run(client *cl) {
  while (count_state(cl, T_QUEUED) != 0) {
    session ss;
    char err[256] = "";

    memset(&ss, 0, sizeof(ss));
    ss.fd = -1;
    ss.queue = calloc(cl->num, sizeof(*ss.queue));
    if (ss.queue == NULL) {
      snprintf(err, sizeof(err), "out of memory");
    } else if (session_connect(cl, &ss, err, sizeof(err)) == 0) {
      if (ss.proto == ZTTP_HTTP3) {
        session_run_h3(cl, &ss);
      } else {
        session_run(cl, &ss);
      }
      session_end(cl, &ss);
      if (ss.completed != 0) {
        session_free(&ss);
        continue;
      }
      snprintf(err, sizeof(err), "%s",
               ss.why[0] != '\0' ? ss.why
                                 : "the connection closed without an answer");
    }
    /* No progress on this connection: give up on what is left. */
    for (size_t i = 0; i < cl->num; i++) {
      transfer *t = &cl->t[i];
      if (t->state == T_QUEUED) {
        transfer_fail(cl, t, "%s", err);
        transfer_report(cl, t, ss.proto_name != NULL ? ss.proto_name : "-");
      }
    }
    session_free(&ss);
  }
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static void print_help(void) {
  printf(
      "Usage: zttp-client [OPTIONS] URL...\n"
      "\n"
      "Fetches URLs over HTTP/1.1, HTTP/2 or HTTP/3 with zttp. All URLs must\n"
      "share scheme, host and port: they go over one connection (HTTP/2 and\n"
      "HTTP/3: concurrent streams; HTTP/1.1: pipelined, or one at a time\n"
      "with --data).\n"
      "\n"
      "      --http1         HTTP/1.1 only (https: ALPN offers http/1.1 "
      "only)\n"
      "      --http2         HTTP/2 only (http: prior knowledge; https: "
      "ALPN\n"
      "                      offers h2 only)\n"
      "      --h3, --http3   HTTP/3 over UDP (https:// only)\n"
      "                      Default: http:// HTTP/1.1; https:// ALPN h2,\n"
      "                      http/1.1\n"
      "      --cacert FILE   verify the server against the PEM CA bundle "
      "FILE\n"
      "                      (default: the system store in "
      "/etc/ssl/certs)\n"
      "  -k, --insecure      do not verify the server's certificate or name\n"
      "  -o, --output FILE   write the body to FILE (\"-\": stdout); give one\n"
      "                      -o per URL, in the order of the URLs\n"
      "  -n N                fetch every URL N times on the connection; the\n"
      "                      body of the first fetch is written, the others\n"
      "                      are counted and dropped (default 1)\n"
      "  -d, --data FILE     POST the contents of FILE to every URL\n"
      "                      (streamed with flow control)\n"
      "  -m, --timeout SEC   give up after SEC seconds without progress\n"
      "                      (default %u)\n"
      "  -v, --verbose       log the connection and response heads to "
      "stderr\n"
      "  -V, --version       print the zttp version and exit\n"
      "  -h, --help          print this help and exit\n"
      "\n"
      "Without -o every body goes to stdout, in the order of the URLs.\n"
      "For each URL one line \"URL STATUS BYTES PROTOCOL\" goes to stdout\n"
      "(to stderr when bodies go to stdout) once it is done; STATUS is 000\n"
      "when no complete response arrived. PROTOCOL is http/1.1, h2c, h2 or\n"
      "h3.\n"
      "Exit status: 0 if every URL got a final response and its whole body,\n"
      "1 if not, 2 for a usage error.\n",
      DEFAULT_TIMEOUT_S);
}

enum {
  OPT_HTTP1 = 256,
  OPT_HTTP2,
  OPT_HTTP3,
  OPT_CACERT,
};

/* parse_args fills |o|. Returns -1 to go on, else the exit status. */
static int parse_args(options *o, int argc, char **argv) {
  static const struct option longopts[] = {
      {"http1", no_argument, NULL, OPT_HTTP1},
      {"http1.1", no_argument, NULL, OPT_HTTP1},
      {"http2", no_argument, NULL, OPT_HTTP2},
      {"http3", no_argument, NULL, OPT_HTTP3},
      {"h3", no_argument, NULL, OPT_HTTP3},
      {"cacert", required_argument, NULL, OPT_CACERT},
      {"insecure", no_argument, NULL, 'k'},
      {"output", required_argument, NULL, 'o'},
      {"data", required_argument, NULL, 'd'},
      {"timeout", required_argument, NULL, 'm'},
      {"verbose", no_argument, NULL, 'v'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int ch;

  memset(o, 0, sizeof(*o));
  o->timeout_s = DEFAULT_TIMEOUT_S;
  o->repeat = 1;
  o->outs = calloc((size_t)argc, sizeof(*o->outs));
  if (o->outs == NULL) {
    fputs("zttp-client: out of memory\n", stderr);
    return 1;
  }
  while ((ch = getopt_long(argc, argv, "ko:d:m:n:vVh", longopts, NULL)) != -1) {
    switch (ch) {
    case OPT_HTTP1:
      o->proto = ZTTP_HTTP1;
      break;
    case OPT_HTTP2:
      o->proto = ZTTP_HTTP2;
      break;
    case OPT_HTTP3:
      o->proto = ZTTP_HTTP3;
      break;
    case OPT_CACERT:
      o->cacert = optarg;
      break;
    case 'k':
      o->insecure = 1;
      break;
    case 'o':
      o->outs[o->num_outs++] = optarg;
      break;
    case 'd':
      o->data = optarg;
      break;
    case 'm': {
      char *end;
      unsigned long long v;
      errno = 0;
      v = strtoull(optarg, &end, 10);
      if (optarg[0] < '0' || optarg[0] > '9' || errno != 0 || *end != '\0' ||
          v == 0 || v > 86400u) {
        fprintf(stderr, "zttp-client: --timeout: want 1..86400: %s\n", optarg);
        return 2;
      }
      o->timeout_s = v;
      break;
    }
    case 'n': {
      char *end;
      unsigned long long v;
      errno = 0;
      v = strtoull(optarg, &end, 10);
      if (optarg[0] < '0' || optarg[0] > '9' || errno != 0 || *end != '\0' ||
          v == 0 || v > 100000u) {
        fprintf(stderr, "zttp-client: -n: want 1..100000: %s\n", optarg);
        return 2;
      }
      o->repeat = v;
      break;
    }
    case 'v':
      o->verbose = 1;
      break;
    case 'V':
      printf("zttp-client (zttp %s)\n", zttp_version(NULL));
      return 0;
    case 'h':
      print_help();
      return 0;
    default:
      fputs("Try 'zttp-client --help'.\n", stderr);
      return 2;
    }
  }
  if (optind == argc) {
    fputs("zttp-client: no URL\nTry 'zttp-client --help'.\n", stderr);
    return 2;
  }
  if (o->num_outs != 0 && o->num_outs != (size_t)(argc - optind)) {
    fprintf(stderr,
            "zttp-client: %zu -o for %d URLs: give one -o per URL, or "
            "none\n",
            o->num_outs, argc - optind);
    return 2;
  }
  if (o->insecure && o->cacert != NULL) {
    fputs("zttp-client: --cacert and --insecure exclude each other\n", stderr);
    return 2;
  }
  return -1;
}

/* setup checks the URLs and opens what the transfers need. Returns 0, or
 * the exit status. */
static int setup(client *cl, char **urls) {
  char err[256];
  int to_stdout = 0;

  cl->t = calloc(cl->num, sizeof(*cl->t));
  cl->buf = malloc(IO_BUF_SIZE);
  if (cl->t == NULL || cl->buf == NULL) {
    fputs("zttp-client: out of memory\n", stderr);
    return 1;
  }
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    const char *text = urls[i % cl->num_urls];
    t->text = text;
    if (parse_url(&t->u, text, err, sizeof(err)) != 0) {
      fprintf(stderr, "zttp-client: %s: %s\n", text, err);
      return 2;
    }
    if (i > 0 && (t->u.https != cl->t[0].u.https ||
                  strcasecmp(t->u.host, cl->t[0].u.host) != 0 ||
                  strcmp(t->u.port, cl->t[0].u.port) != 0)) {
      fprintf(stderr,
              "zttp-client: %s: every URL must share the scheme, host and "
              "port of %s\n",
              text, urls[0]);
      return 2;
    }
  }
  if (cl->o.proto == ZTTP_HTTP3 && !cl->t[0].u.https) {
    fprintf(stderr, "zttp-client: %s: HTTP/3 needs an https:// URL\n", urls[0]);
    return 2;
  }
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    if (i >= cl->num_urls) {
      t->discard = 1;
      continue;
    }
    t->out_path = cl->o.num_outs != 0 ? cl->o.outs[i] : "-";
    if (strcmp(t->out_path, "-") == 0) {
      /* Bodies reach stdout in URL order: all but the first one to go
       * there wait in a temporary file. */
      if (to_stdout++ == 0) {
        t->out = stdout;
      } else {
        t->out = tmpfile();
        t->spooled = 1;
      }
    } else {
      t->out = fopen(t->out_path, "wb");
    }
    if (t->out == NULL) {
      fprintf(stderr, "zttp-client: %s: %s\n",
              t->spooled ? "tmpfile" : t->out_path, strerror(errno));
      return 1;
    }
  }
  cl->status_out = to_stdout ? stderr : stdout;
  cl->upfd = -1;
  if (cl->o.data != NULL) {
    struct stat st;
    cl->upfd = open(cl->o.data, O_RDONLY | O_CLOEXEC);
    if (cl->upfd < 0 || fstat(cl->upfd, &st) != 0 || !S_ISREG(st.st_mode)) {
      fprintf(stderr, "zttp-client: --data %s: %s\n", cl->o.data,
              cl->upfd < 0 ? strerror(errno) : "not a regular file");
      return 2;
    }
    cl->up_size = (uint64_t)st.st_size;
  }
  if (zttp_config_new(&cl->cfg, NULL) != 0 ||
      (cl->t[0].u.https &&
       zttp_config_set_option(cl->cfg, ZTTP_OPT_TLS, 1) != 0)) {
    fputs("zttp-client: zttp config failed\n", stderr);
    return 1;
  }
  if (cl->o.proto == ZTTP_HTTP3) {
    /* zttp's own TLS: SNI and verification against the URL's host. */
    const url *u = &cl->t[0].u;
    int32_t rv = zttp_config_set_server_name(cl->cfg, u->host, strlen(u->host));
    if (rv == 0 && cl->o.cacert != NULL) {
      rv = zttp_config_set_tls_ca(cl->cfg, cl->o.cacert, NULL);
    }
    if (rv == 0 && cl->o.insecure) {
      rv = zttp_config_set_tls_insecure_no_verify(cl->cfg, 1);
    }
    if (rv != 0) {
      fprintf(stderr, "zttp-client: HTTP/3 TLS setup: %s%s%s\n",
              zttp_strerror(rv), cl->o.cacert != NULL ? ": --cacert " : "",
              cl->o.cacert != NULL ? cl->o.cacert : "");
      return 1;
    }
  } else if (cl->t[0].u.https) {
    uint32_t alpn = cl->o.proto == ZTTP_HTTP1   ? TLS_ALPN_HTTP11
                    : cl->o.proto == ZTTP_HTTP2 ? TLS_ALPN_H2
                                                : TLS_ALPN_H2 | TLS_ALPN_HTTP11;
    cl->tls = tls_client_ctx_new(cl->o.cacert, cl->o.insecure, alpn, err,
                                 sizeof(err));
    if (cl->tls == NULL) {
      fprintf(stderr, "zttp-client: %s\n", err);
      return 1;
    }
  }
  return 0;
}

/* finish_outputs copies spooled bodies to stdout in URL order. Returns 0 or
 * -1. */
static int finish_outputs(client *cl) {
  int rv = 0;
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    if (t->out == NULL) {
      continue;
    }
    if (t->spooled) {
      size_t n;
      rewind(t->out);
      while ((n = fread(cl->buf, 1, IO_BUF_SIZE, t->out)) != 0) {
        if (fwrite(cl->buf, 1, n, stdout) != n) {
          rv = -1;
          break;
        }
      }
      fclose(t->out);
    } else if (t->out != stdout) {
      fclose(t->out);
    }
    t->out = NULL;
  }
  if (fflush(stdout) != 0) {
    rv = -1;
  }
  return rv;
}

static void client_free(client *cl) {
  for (size_t i = 0; cl->t != NULL && i < cl->num; i++) {
    if (cl->t[i].out != NULL && cl->t[i].out != stdout) {
      fclose(cl->t[i].out);
    }
    free(cl->t[i].u.target);
  }
  if (cl->upfd >= 0) {
    close(cl->upfd);
  }
  tls_ctx_free(cl->tls);
  zttp_config_free(cl->cfg);
  free(cl->t);
  free(cl->buf);
  free(cl->o.outs);
}

int main(int argc, char **argv) {
  client cl;
  struct sigaction sa;
  int rv;

  memset(&cl, 0, sizeof(cl));
  cl.upfd = -1;
  rv = parse_args(&cl.o, argc, argv);
  if (rv >= 0) {
    free(cl.o.outs);
    return rv;
  }
  /* BoringSSL writes to the socket with write(): a peer that is gone must
   * not kill the process. */
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);

  cl.num_urls = (size_t)(argc - optind);
  cl.num = cl.num_urls * (size_t)cl.o.repeat;
  rv = setup(&cl, argv + optind);
  if (rv == 0) {
    run(&cl);
    rv = count_state(&cl, T_DONE) == cl.num ? 0 : 1;
    if (finish_outputs(&cl) != 0) {
      fprintf(stderr, "zttp-client: writing stdout: %s\n", strerror(errno));
      rv = 1;
    }
  }
  client_free(&cl);
  return rv;
}
