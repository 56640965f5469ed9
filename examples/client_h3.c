/*
 * zttp-client: HTTP/3. A UDP socket connected to the server, zttp's own
 * QUIC and TLS; datagrams in with zttp_conn_receive_datagram() and out with
 * zttp_conn_write_datagram(), and zttp_conn_next_timeout() in the poll
 * timeout. See client.h.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "client.h"

/* Bytes zttp_conn_write_datagram() may fill at once (a GSO batch). */
#define H3_TX_SIZE (64u * 1024u)

/* ------------------------------------------------------------------------ */
/* The connection                                                           */
/* ------------------------------------------------------------------------ */

/* session_connect_h3 makes a UDP socket connected to the URLs' origin and
 * an HTTP/3 connection; its handshake runs in session_run_h3(). Returns 0
 * or -1 with a message in |err|. */
int session_connect_h3(client *cl, session *ss, char *err, size_t errlen) {
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
void session_run_h3(client *cl, session *ss) {
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
