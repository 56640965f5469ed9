/*
 * zttp-server: HTTP/3. One non-blocking UDP socket on the TLS port number,
 * read with recvmmsg() in the epoll loop; a zttp_endpoint routes each
 * datagram to its connection (or answers it statelessly: Retry, Version
 * Negotiation, Stateless Reset), creates connections for new clients, and
 * this file wraps each in the server's per-connection state, so that the
 * request handling of server_http.c answers it as it answers HTTP/2. After
 * a batch of datagrams every connection that got some is driven: events,
 * bodies, then zttp_conn_write_datagram() until it has nothing more, sent
 * with GSO (UDP_SEGMENT) while the kernel takes it. QUIC timers join the
 * epoll timeout. See server.h.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* <linux/udp.h> */
#endif

/* Datagrams one recvmmsg() reads, and the bytes each may have. */
#define RX_BATCH 32
#define RX_DATAGRAM 4096u
/* Bytes zttp_conn_write_datagram() may fill at once (a GSO batch). */
#define TX_BUF_SIZE (64u * 1024u)
/* A stateless reply (Retry, Version Negotiation, Stateless Reset) fits in
 * 1200 bytes. */
#define REPLY_SIZE 1500u
/* Socket buffers asked for (the kernel may give less). */
#define UDP_SOCKET_BUF (4 * 1024 * 1024)
/* RFC 9114 §8.1 */
/* The QUIC idle timeout can be at most this long (ZTTP_LIMIT_IDLE_TIMEOUT). */
#define MAX_IDLE_MS 86400000u

struct h3_server {
  int fd;
  /* The epoll events currently registered. */
  uint32_t events;
  struct sockaddr_storage local;
  socklen_t local_len;
  zttp_config *cfg;
  zttp_endpoint *ep;
  /* The connections, and a table from zttp_conn to conn (open addressing,
   * a power of two of slots, at most half of them used). */
  conn_list conns;
  size_t num_conns;
  conn **map;
  size_t map_mask;
  unsigned next_id;
  /* Datagrams the socket did not take (EAGAIN): sent first once it is
   * writable; no connection writes until then. */
  uint8_t *pend;
  size_t pend_len;
  size_t pend_seg;
  zttp_path pend_path;
  /* UDP_SEGMENT works (cleared at its first failure). */
  int gso;
  uint8_t *tx;
  uint8_t *rx;
  struct mmsghdr msgs[RX_BATCH];
  struct iovec iov[RX_BATCH];
  struct sockaddr_storage from[RX_BATCH];
  /* The connections the batch being read reached. */
  conn *dirty[RX_BATCH];
  size_t num_dirty;
  /* Endpoint counters already logged. */
  zttp_endpoint_stats logged;
};

/* ------------------------------------------------------------------------ */
/* Addresses and the connection table                                       */
/* ------------------------------------------------------------------------ */

const char *addr_str(char *buf, size_t len, const void *sa) {
  struct sockaddr_storage ss;
  char host[INET6_ADDRSTRLEN] = "?";
  /* |sa| may be the bytes of a zttp_path: copy before reading. */
  memcpy(&ss, sa, sizeof(struct sockaddr_in));
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 sin6;
    memcpy(&sin6, sa, sizeof(sin6));
    inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof(host));
    snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(sin6.sin6_port));
  } else {
    struct sockaddr_in sin;
    memcpy(&sin, sa, sizeof(sin));
    inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
    snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(sin.sin_port));
  }
  return buf;
}

static size_t map_slot(const h3_server *h, const zttp_conn *z) {
  uint64_t x = (uint64_t)(uintptr_t)z >> 4;
  return (size_t)((x * 0x9e3779b97f4a7c15u) >> 32) & h->map_mask;
}

static conn *map_find(const h3_server *h, const zttp_conn *z) {
  for (size_t i = map_slot(h, z);; i = (i + 1) & h->map_mask) {
    if (h->map[i] == NULL || h->map[i]->z == z) {
      return h->map[i];
    }
  }
}

static void map_add(h3_server *h, conn *c) {
  size_t i = map_slot(h, c->z);
  while (h->map[i] != NULL) {
    i = (i + 1) & h->map_mask;
  }
  h->map[i] = c;
}

/* map_del removes |c| and moves back the entries after it that would no
 * longer be found (linear probing without tombstones). */
static void map_del(h3_server *h, const conn *c) {
  size_t i = map_slot(h, c->z);
  size_t j;
  while (h->map[i] != c) {
    i = (i + 1) & h->map_mask;
  }
  h->map[i] = NULL;
  for (j = (i + 1) & h->map_mask; h->map[j] != NULL;
       j = (j + 1) & h->map_mask) {
    size_t k = map_slot(h, h->map[j]->z);
    /* The entry at j stays if its home k lies cyclically in (i, j]. */
    int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      h->map[i] = h->map[j];
      h->map[j] = NULL;
      i = j;
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */
/* ------------------------------------------------------------------------ */

static int set_events(server *s, uint32_t events) {
  h3_server *h = s->h3;
  struct epoll_event ee;
  if (events == h->events) {
    return 0;
  }
  memset(&ee, 0, sizeof(ee));
  ee.events = events;
  ee.data.ptr = h;
  if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, h->fd, &ee) != 0) {
    return -1;
  }
  h->events = events;
  return 0;
}

/* udp_send sends |len| bytes at |p| to the remote address of |path| as
 * datagrams of |seg| bytes (the last may be shorter): in one sendmsg() with
 * UDP_SEGMENT while the kernel takes it, else one sendto() each. Returns
 * the bytes that went out, a multiple of |seg| less than |len| only when
 * the socket is full. Any other error drops the datagram, as the network
 * could: QUIC recovers. */
static size_t udp_send(server *s, const zttp_path *path, const uint8_t *p,
                       size_t len, size_t seg) {
  h3_server *h = s->h3;
  size_t off = 0;

  if (h->gso && len > seg) {
    union {
      char buf[CMSG_SPACE(sizeof(uint16_t))];
      struct cmsghdr align;
    } ctl;
    struct iovec iov;
    struct msghdr mh;
    struct cmsghdr *cm;
    uint16_t gso_size = (uint16_t)seg;
    ssize_t n;

    memset(&ctl, 0, sizeof(ctl));
    memset(&mh, 0, sizeof(mh));
    iov.iov_base = (void *)(uintptr_t)p;
    iov.iov_len = len;
    mh.msg_name = (void *)(uintptr_t)path->remote;
    mh.msg_namelen = path->remote_len;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(cm), &gso_size, sizeof(gso_size));
    do {
      n = sendmsg(h->fd, &mh, 0);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
      return len;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return 0;
    }
    vlog(s, "h3: no GSO (%s): one datagram per call", strerror(errno));
    h->gso = 0;
  }
  while (off < len) {
    size_t n = MIN(seg, len - off);
    ssize_t w = sendto(h->fd, p + off, n, 0,
                       (const struct sockaddr *)path->remote, path->remote_len);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return off;
    }
    off += n;
  }
  return len;
}

/* send_datagrams sends what zttp_conn_write_datagram() wrote; what the
 * socket does not take waits in h->pend. */
static void send_datagrams(server *s, const zttp_path *path, const uint8_t *p,
                           size_t len, size_t seg) {
  h3_server *h = s->h3;
  size_t n = udp_send(s, path, p, len, seg);
  if (n == len) {
    return;
  }
  memcpy(h->pend, p + n, len - n);
  h->pend_len = len - n;
  h->pend_seg = seg;
  h->pend_path = *path;
  set_events(s, EPOLLIN | EPOLLOUT);
}

/* h3_flush writes the datagrams |c| has to send. Returns 1 if it sent any,
 * else 0. */
static int h3_flush(server *s, conn *c) {
  h3_server *h = s->h3;
  int sent = 0;
  while (h->pend_len == 0) {
    zttp_path path;
    size_t seg = 0;
    int64_t n = zttp_conn_write_datagram(c->z, &path, &seg, h->tx, TX_BUF_SIZE,
                                         s->now_ns);
    if (n <= 0) {
      if (n < 0 && !c->fatal) {
        conn_fatal(s, c, (int32_t)n);
      }
      break;
    }
    if (seg == 0 || seg > (size_t)n) {
      seg = (size_t)n;
    }
    send_datagrams(s, &path, h->tx, (size_t)n, seg);
    sent = 1;
  }
  return sent;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static conn *h3_conn_new(server *s, zttp_conn *z, const zttp_path *path) {
  h3_server *h = s->h3;
  conn *c = calloc(1, sizeof(*c));
  stream *table = calloc(s->max_streams, sizeof(*table));
  char addr[64];

  if (c == NULL || table == NULL) {
    free(c);
    free(table);
    return NULL;
  }
  for (size_t i = 0; i < s->max_streams; i++) {
    table[i].file_fd = -1;
  }
  c->fd = -1;
  snprintf(c->name, sizeof(c->name), "h3 %u", ++h->next_id);
  c->proto = ZTTP_HTTP3;
  c->z = z;
  c->streams = table;
  c->num_slots = s->max_streams;
  list_append(&h->conns, c, 0);
  map_add(h, c);
  h->num_conns++;
  vlog(s, "%s: new connection from %s", c->name,
       addr_str(addr, sizeof(addr), path->remote));
  return c;
}

static void h3_conn_free(server *s, conn *c) {
  h3_server *h = s->h3;
  zttp_endpoint_remove(h->ep, c->z);
  map_del(h, c);
  list_remove(c);
  h->num_conns--;
  streams_free(c);
  zttp_conn_free(c->z);
  free(c->ev_copy);
  free(c);
}

/* h3_drive moves a connection forward: events, bodies and datagrams, until
 * it has to wait for the peer, a timer or the socket. */
static void h3_drive(server *s, conn *c) {
  for (;;) {
    int progress = 0;
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
      /* A local failure: close at once. */
      zttp_conn_close(c->z, ZTTP_H3_INTERNAL_ERROR, 0);
      h3_flush(s, c);
      return;
    }
    if (h3_flush(s, c)) {
      progress = 1;
    }
    if (!progress) {
      break;
    }
  }
  zttp_endpoint_update(s->h3->ep, c->z);
}

/* h3_settle frees the connection once it is over: closed, drained, or
 * failed (after its CONNECTION_CLOSE went out). */
static void h3_settle(server *s, conn *c) {
  if (c->dead || zttp_conn_should_close(c->z) == 1) {
    vlog(s, "%s: done", c->name);
    h3_conn_free(s, c);
  }
}

/* ------------------------------------------------------------------------ */
/* Receiving                                                                */
/* ------------------------------------------------------------------------ */

static void mark_dirty(h3_server *h, conn *c) {
  if (!c->h3_dirty) {
    c->h3_dirty = 1;
    h->dirty[h->num_dirty++] = c;
  }
}

/* log_replies says which stateless replies the endpoint sent. */
static void log_replies(server *s, const struct sockaddr_storage *to) {
  h3_server *h = s->h3;
  const zttp_endpoint_stats *st = zttp_endpoint_get_stats(h->ep);
  char addr[64];
  const char *what = NULL;

  if (st->retries != h->logged.retries) {
    what = "Retry";
  } else if (st->version_negotiations != h->logged.version_negotiations) {
    what = "Version Negotiation";
  } else if (st->stateless_resets != h->logged.stateless_resets) {
    what = "Stateless Reset";
  }
  h->logged = *st;
  if (what != NULL) {
    vlog(s, "h3: %s sent to %s", what, addr_str(addr, sizeof(addr), to));
  }
}

/* h3_datagram hands one datagram from |from| to the endpoint and acts on
 * its answer. */
static void h3_datagram(server *s, const uint8_t *data, size_t len,
                        const struct sockaddr_storage *from,
                        socklen_t from_len) {
  h3_server *h = s->h3;
  uint8_t reply[REPLY_SIZE];
  size_t reply_len = 0;
  zttp_conn *z = NULL;
  zttp_path path;
  conn *c;
  int32_t rv;

  if (from_len > sizeof(path.remote) || h->local_len > sizeof(path.local)) {
    return;
  }
  memset(&path, 0, sizeof(path));
  memcpy(path.local, &h->local, h->local_len);
  path.local_len = (uint32_t)h->local_len;
  memcpy(path.remote, from, from_len);
  path.remote_len = (uint32_t)from_len;
  rv = zttp_endpoint_receive(h->ep, &z, reply, sizeof(reply), &reply_len, data,
                             len, &path, s->now_ns);
  switch (rv) {
  case ZTTP_ENDPOINT_DROP:
    return;
  case ZTTP_ENDPOINT_REPLY:
    while (sendto(h->fd, reply, reply_len, 0, (const struct sockaddr *)from,
                  from_len) < 0 &&
           errno == EINTR) {
    }
    if (s->verbose) {
      log_replies(s, from);
    }
    return;
  case ZTTP_ENDPOINT_NEW_CONN:
    c = s->stop ? NULL : h3_conn_new(s, z, &path);
    if (c == NULL) {
      zttp_endpoint_remove(h->ep, z);
      zttp_conn_free(z);
      return;
    }
    mark_dirty(h, c);
    return;
  case ZTTP_ENDPOINT_CONN:
    c = map_find(h, z);
    if (c != NULL) {
      mark_dirty(h, c);
    }
    return;
  default:
    vlog(s, "h3: endpoint: %s", zttp_strerror(rv));
    return;
  }
}

/* h3_read reads datagrams until the socket is empty, a batch at a time,
 * and drives the connections each batch reached. */
static void h3_read(server *s) {
  h3_server *h = s->h3;
  for (;;) {
    int n;
    for (size_t i = 0; i < RX_BATCH; i++) {
      struct msghdr *mh = &h->msgs[i].msg_hdr;
      h->iov[i].iov_base = h->rx + i * RX_DATAGRAM;
      h->iov[i].iov_len = RX_DATAGRAM;
      memset(mh, 0, sizeof(*mh));
      mh->msg_name = &h->from[i];
      mh->msg_namelen = sizeof(h->from[i]);
      mh->msg_iov = &h->iov[i];
      mh->msg_iovlen = 1;
      h->msgs[i].msg_len = 0;
    }
    n = recvmmsg(h->fd, h->msgs, RX_BATCH, 0, NULL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        vlog(s, "h3: recvmmsg: %s", strerror(errno));
      }
      return;
    }
    h->num_dirty = 0;
    for (int i = 0; i < n; i++) {
      const struct msghdr *mh = &h->msgs[i].msg_hdr;
      if ((mh->msg_flags & MSG_TRUNC) != 0 || h->msgs[i].msg_len == 0) {
        continue;
      }
      h3_datagram(s, h->rx + (size_t)i * RX_DATAGRAM, h->msgs[i].msg_len,
                  &h->from[i], mh->msg_namelen);
    }
    for (size_t i = 0; i < h->num_dirty; i++) {
      conn *c = h->dirty[i];
      c->h3_dirty = 0;
      h3_drive(s, c);
      h3_settle(s, c);
    }
    h->num_dirty = 0;
    if (n < RX_BATCH) {
      return;
    }
  }
}

/* h3_writable sends what waited for the socket, then lets every connection
 * write again. */
static void h3_writable(server *s) {
  h3_server *h = s->h3;
  size_t n;
  conn *c;
  conn *next;

  if (h->pend_len != 0) {
    n = udp_send(s, &h->pend_path, h->pend, h->pend_len, h->pend_seg);
    if (n < h->pend_len) {
      memmove(h->pend, h->pend + n, h->pend_len - n);
      h->pend_len -= n;
      return;
    }
    h->pend_len = 0;
  }
  set_events(s, EPOLLIN);
  for (c = h->conns.head; c != NULL && h->pend_len == 0; c = next) {
    next = c->next;
    h3_drive(s, c);
    h3_settle(s, c);
  }
}

/* ------------------------------------------------------------------------ */
/* The server's side                                                        */
/* ------------------------------------------------------------------------ */

int h3_bind(server *s, const listener *l) {
  h3_server *h = calloc(1, sizeof(*h));
  int size = UDP_SOCKET_BUF;
  int err;

  if (h == NULL) {
    errno = ENOMEM;
    return -1;
  }
  h->fd =
      socket(l->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (h->fd < 0) {
    goto fail;
  }
  setsockopt(h->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  setsockopt(h->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  h->local_len = sizeof(h->local);
  if (bind(h->fd, (const struct sockaddr *)&l->addr, l->addr_len) != 0 ||
      getsockname(h->fd, (struct sockaddr *)&h->local, &h->local_len) != 0) {
    goto fail;
  }
  s->h3 = h;
  return 0;

fail:
  err = errno;
  if (h->fd >= 0) {
    close(h->fd);
  }
  free(h);
  errno = err;
  return -1;
}

int h3_start(server *s, const options *o) {
  h3_server *h = s->h3;
  uint64_t idle_ms = MIN(s->idle_ms, (uint64_t)MAX_IDLE_MS);
  size_t slots = 1;
  struct epoll_event ee;
  char addr[64];
  int32_t rv;

  while (slots < o->max_conns * 2) {
    slots *= 2;
  }
  h->map = calloc(slots, sizeof(*h->map));
  h->map_mask = slots - 1;
  h->tx = malloc(TX_BUF_SIZE);
  h->pend = malloc(TX_BUF_SIZE);
  h->rx = malloc((size_t)RX_BATCH * RX_DATAGRAM);
  if (h->map == NULL || h->tx == NULL || h->pend == NULL || h->rx == NULL) {
    fprintf(stderr, "zttp-server: out of memory\n");
    return -1;
  }
  h->gso = 1;
  rv = zttp_config_new(&h->cfg, NULL);
  if (rv == 0) {
    rv = zttp_config_set_tls_cert_key(h->cfg, o->cert, o->key);
  }
  if (rv == 0) {
    rv = zttp_config_set_limit(h->cfg, ZTTP_LIMIT_IDLE_TIMEOUT, idle_ms);
  }
  if (rv != 0) {
    fprintf(stderr, "zttp-server: HTTP/3 config: %s\n", zttp_strerror(rv));
    return -1;
  }
  rv = zttp_endpoint_new(&h->ep, h->cfg, o->max_conns,
                         o->retry ? ZTTP_ENDPOINT_RETRY : 0);
  if (rv != 0) {
    fprintf(stderr, "zttp-server: HTTP/3 endpoint: %s\n", zttp_strerror(rv));
    return -1;
  }
  memset(&ee, 0, sizeof(ee));
  ee.events = EPOLLIN;
  ee.data.ptr = h;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, h->fd, &ee) != 0) {
    fprintf(stderr, "zttp-server: epoll_ctl: %s\n", strerror(errno));
    return -1;
  }
  h->events = EPOLLIN;
  printf("listening https://%s (h3, udp)\n",
         addr_str(addr, sizeof(addr), &h->local));
  fflush(stdout);
  return 0;
}

int h3_is_socket(const server *s, const void *ptr) {
  return s->h3 != NULL && ptr == s->h3;
}

void h3_on_event(server *s, uint32_t revents) {
  if ((revents & EPOLLOUT) != 0) {
    h3_writable(s);
  }
  if ((revents & (EPOLLIN | EPOLLERR)) != 0) {
    h3_read(s);
  }
}

uint64_t h3_next_deadline(const server *s) {
  zttp_tstamp next = ZTTP_TSTAMP_NEVER;
  if (s->h3 == NULL) {
    return UINT64_MAX;
  }
  for (const conn *c = s->h3->conns.head; c != NULL; c = c->next) {
    next = MIN(next, zttp_conn_next_timeout(c->z));
  }
  return next == ZTTP_TSTAMP_NEVER ? UINT64_MAX : next;
}

void h3_expire(server *s) {
  conn *c;
  conn *next;
  if (s->h3 == NULL) {
    return;
  }
  for (c = s->h3->conns.head; c != NULL; c = next) {
    next = c->next;
    if (zttp_conn_next_timeout(c->z) > s->now_ns) {
      continue;
    }
    int32_t rv = zttp_conn_handle_timeout(c->z, s->now_ns);
    if (rv < 0 && !c->fatal) {
      conn_fatal(s, c, rv); /* the idle timeout, say */
    }
    h3_drive(s, c);
    h3_settle(s, c);
  }
}

size_t h3_num_conns(const server *s) {
  return s->h3 != NULL ? s->h3->num_conns : 0;
}

void h3_stop(server *s) {
  conn *c;
  conn *next;
  if (s->h3 == NULL) {
    return;
  }
  for (c = s->h3->conns.head; c != NULL; c = next) {
    next = c->next;
    if (!c->fatal && zttp_conn_close(c->z, 0, ZTTP_CLOSE_FLAG_GRACEFUL) != 0) {
      c->dead = 1;
    }
    h3_drive(s, c);
    h3_settle(s, c);
  }
}

void h3_free(server *s) {
  h3_server *h = s->h3;
  conn *c;
  if (h == NULL) {
    return;
  }
  while ((c = h->conns.head) != NULL) {
    h3_conn_free(s, c);
  }
  zttp_endpoint_free(h->ep);
  zttp_config_free(h->cfg);
  close(h->fd);
  free(h->map);
  free(h->tx);
  free(h->pend);
  free(h->rx);
  free(h);
  s->h3 = NULL;
}
