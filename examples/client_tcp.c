/*
 * zttp-client: HTTP/1.1 and HTTP/2 over TCP, through TLS for https://.
 * Connecting (the TLS handshake and ALPN pick the protocol), reading into
 * the engine, writing what it has pending, and the connection loop. See
 * client.h.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "client.h"

/* ------------------------------------------------------------------------ */
/* The connection                                                           */
/* ------------------------------------------------------------------------ */

/* session_connect opens the TCP connection (and TLS) to the URLs' origin and
 * picks the protocol. Returns 0 or -1 with a message in |err|. */
int session_connect(client *cl, session *ss, char *err, size_t errlen) {
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

/* session_run drives one connection until every transfer it can carry is
 * done, or it closes. */
void session_run(client *cl, session *ss) {
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
