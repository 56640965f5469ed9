/* The real-peer QUIC smoke test's zttp side (driven by quic_smoke.py): a
 * zttp client connection against ngtcp2's gtlsserver, or a zttp server
 * connection (admitted through src/quic/endpoint.c) for gtlsclient, over
 * real UDP on loopback with ALPN h3. A test program: sockets and a real
 * clock are fine here, never in src/. No OpenSSL in this process
 * (TOOLCHAIN.md): the peers run as separate processes.
 *
 *   quic_smoke client HOST PORT CAFILE
 *     exit 0 once the handshake completed (server certificate verified
 *     against CAFILE for "localhost") and a server-initiated
 *     unidirectional stream delivered bytes starting 0x00 (HTTP/3 control
 *     stream) 0x04 (SETTINGS), printed in hex.
 *   quic_smoke server PORT CERT KEY
 *     exit 0 once a client's handshake completed; serves until the client
 *     closes or a few seconds pass, closing with H3_NO_ERROR.
 * SPDX-License-Identifier: MIT */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "crypto/tls.h"
#include "quic/conn.h"
#include "quic/endpoint.h"

#define NS 1000000000ull
#define MS 1000000ull
#define H3_NO_ERROR 0x100
#define MAX_DGRAM 65536

static const uint8_t h3_alpn[] = {2, 'h', '3'};

static zttp_tstamp now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (zttp_tstamp)ts.tv_sec * NS + (zttp_tstamp)ts.tv_nsec;
}

static void hex(const char *what, uint64_t id, const uint8_t *p, size_t n) {
  printf("%s %llu (%zu bytes):", what, (unsigned long long)id, n);
  for (size_t i = 0; i < n && i < 64; i++) {
    printf(" %02x", p[i]);
  }
  printf("%s\n", n > 64 ? " ..." : "");
  fflush(stdout);
}

static void set_addr(uint8_t *dst, uint32_t *dst_len,
                     const struct sockaddr_in *sa) {
  /* Opaque path bytes: family, port, address (no padding). */
  memset(dst, 0, 32);
  memcpy(dst, &sa->sin_family, sizeof(sa->sin_family));
  memcpy(dst + 2, &sa->sin_port, sizeof(sa->sin_port));
  memcpy(dst + 4, &sa->sin_addr, sizeof(sa->sin_addr));
  *dst_len = 8;
}

/* Sends everything |qc| has to send to |to|. Returns 0 or -1. */
static int flush(int fd, zttp_quic_conn *qc, const struct sockaddr_in *to,
                 zttp_quic_cid_table *table, uint64_t *sent) {
  static uint8_t buf[MAX_DGRAM];
  for (;;) {
    zttp_path path;
    int64_t n = zttp_quic_conn_write(qc, buf, 1500, &path, now_ns());
    if (n < 0) {
      fprintf(stderr, "conn_write: %s\n", zttp_strerror((int32_t)n));
      return -1;
    }
    if (n == 0) {
      return 0;
    }
    if (table != NULL && (buf[0] & 0x80) != 0) {
      /* Learn our own CID from the SCID of our long headers, to route
       * the client's short headers (conn.h has no accessor for it). */
      zttp_quic_invariant inv;
      if (zttp_quic_invariant_parse(&inv, buf, (size_t)n, 0) &&
          inv.scid_len > 0 &&
          zttp_quic_cid_table_find(table, inv.scid, inv.scid_len) == NULL) {
        zttp_quic_cid_table_add(table, inv.scid, inv.scid_len, qc);
        hex("server: routing our CID", 0, inv.scid, inv.scid_len);
      }
    }
    if (sendto(fd, buf, (size_t)n, 0, (const struct sockaddr *)to,
               sizeof(*to)) < 0) {
      perror("sendto");
      return -1;
    }
    (*sent)++;
  }
}

/* Waits for a datagram until the connection's next timeout (at most
 * 50 ms), running timers that are due. Returns the datagram length, 0 on
 * a timeout, -1 on error. */
static ssize_t wait_dgram(int fd, zttp_quic_conn *qc, uint8_t *buf,
                          struct sockaddr_in *from) {
  zttp_tstamp now = now_ns();
  zttp_tstamp due =
      qc != NULL ? zttp_quic_conn_next_timeout(qc) : ZTTP_TSTAMP_NEVER;
  int ms = 50;
  if (due != ZTTP_TSTAMP_NEVER) {
    uint64_t d = due > now ? (due - now + MS - 1) / MS : 0;
    ms = d < 50 ? (int)d : 50;
  }
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  int r = poll(&pfd, 1, ms);
  if (r < 0) {
    return errno == EINTR ? 0 : -1;
  }
  if (r > 0) {
    socklen_t sl = sizeof(*from);
    ssize_t n = recvfrom(fd, buf, MAX_DGRAM, 0, (struct sockaddr *)from, &sl);
    return n < 0 ? -1 : n;
  }
  if (qc != NULL && zttp_quic_conn_next_timeout(qc) <= now_ns()) {
    zttp_quic_conn_handle_timeout(qc, now_ns());
  }
  return 0;
}

static int tls_ctx(zttp_tls_ctx **out, uint32_t role, const char *cert,
                   const char *key, const char *ca) {
  zttp_tls_settings s;
  memset(&s, 0, sizeof(s));
  s.backend = ZTTP_TLS_BORINGSSL;
  s.alpn = h3_alpn;
  s.alpn_len = sizeof(h3_alpn);
  s.cert_file = cert;
  s.key_file = key;
  s.ca_file = ca;
  char err[ZTTP_TLS_ERRMSG_MAX];
  err[0] = '\0';
  int32_t rv = zttp_tls_ctx_new(out, zttp_mem_default(), &s, role, err);
  if (rv != 0) {
    fprintf(stderr, "tls ctx: %s: %s\n", zttp_strerror(rv), err);
    return -1;
  }
  return 0;
}

static void print_closed(const char *who, const zttp_quic_event *ev) {
  printf("%s: CLOSED error=%d (%s) wire=0x%llx app=%u remote=%u\n", who,
         ev->error, zttp_strerror(ev->error),
         (unsigned long long)ev->error_code, ev->app, ev->remote);
  fflush(stdout);
}

/* ---- client ------------------------------------------------------------ */

static int run_client(const char *host, int port, const char *ca) {
  zttp_tls_ctx *ctx = NULL;
  if (tls_ctx(&ctx, ZTTP_CLIENT, NULL, NULL, ca) != 0) {
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in peer = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
  if (fd < 0 || inet_pton(AF_INET, host, &peer.sin_addr) != 1 ||
      connect(fd, (struct sockaddr *)&peer, sizeof(peer)) != 0) {
    perror("socket");
    return 2;
  }
  struct sockaddr_in local;
  socklen_t sl = sizeof(local);
  getsockname(fd, (struct sockaddr *)&local, &sl);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  set_addr(path.local, &path.local_len, &local);
  set_addr(path.remote, &path.remote_len, &peer);

  zttp_quic_conn *qc = NULL;
  int32_t rv = zttp_quic_conn_new(&qc, zttp_mem_default(), NULL, ZTTP_CLIENT,
                                  ctx, "localhost", NULL, &path, now_ns());
  if (rv != 0) {
    fprintf(stderr, "conn_new: %s\n", zttp_strerror(rv));
    return 2;
  }
  int hs = 0, settings = 0, closed = 0, closing = 0;
  uint64_t sent = 0, recvd = 0;
  static uint8_t buf[MAX_DGRAM];
  zttp_tstamp deadline = now_ns() + 10 * NS;
  zttp_tstamp close_by = ZTTP_TSTAMP_NEVER;
  while (!closed && now_ns() < deadline) {
    if (flush(fd, qc, &peer, NULL, &sent) != 0) {
      break;
    }
    struct sockaddr_in from;
    ssize_t n = wait_dgram(fd, qc, buf, &from);
    if (n > 0) {
      recvd++;
      rv = zttp_quic_conn_recv(qc, buf, (size_t)n, &path, now_ns());
      if (rv != 0) {
        fprintf(stderr, "conn_recv: %s\n", zttp_strerror(rv));
      }
    }
    zttp_quic_event ev;
    while (zttp_quic_conn_next_event(qc, &ev)) {
      switch (ev.kind) {
      case ZTTP_QUIC_EV_HANDSHAKE_DONE: {
        const uint8_t *alpn;
        size_t alen = zttp_quic_conn_alpn(qc, &alpn);
        printf("client: handshake complete, ALPN %.*s, certificate "
               "verified against %s\n",
               (int)alen, (const char *)alpn, ca);
        fflush(stdout);
        hs = 1;
        break;
      }
      case ZTTP_QUIC_EV_STREAM_OPENED:
        printf("client: peer opened stream %llu\n",
               (unsigned long long)ev.stream_id);
        break;
      case ZTTP_QUIC_EV_STREAM_READABLE: {
        const uint8_t *p;
        int fin = 0;
        int64_t m = zttp_quic_conn_stream_peek(qc, ev.stream_id, &p, &fin);
        if (m <= 0) {
          break;
        }
        hex("client: stream", ev.stream_id, p, (size_t)m);
        /* A server-initiated unidirectional stream (RFC 9000 §2.1)
         * carrying the control stream type and SETTINGS (RFC 9114 §6.2.1,
         * §7.2.4). */
        if ((ev.stream_id & 3) == 3 && m >= 2 && p[0] == 0x00 && p[1] == 0x04) {
          printf("client: HTTP/3 control stream with SETTINGS on stream "
                 "%llu\n",
                 (unsigned long long)ev.stream_id);
          settings = 1;
        }
        zttp_quic_conn_stream_consume(qc, ev.stream_id, (size_t)m);
        break;
      }
      case ZTTP_QUIC_EV_CLOSED:
        print_closed("client", &ev);
        closed = 1;
        break;
      case ZTTP_QUIC_EV_NONE:
      case ZTTP_QUIC_EV_STREAM_WRITABLE:
      case ZTTP_QUIC_EV_STREAM_RESET:
      case ZTTP_QUIC_EV_STREAM_STOP_SENDING:
        break;
      }
    }
    if (hs && settings && !closing) {
      /* Done: a clean application close, then the closing period is not
       * waited for beyond 300 ms. */
      zttp_quic_conn_close(qc, 1, H3_NO_ERROR, "smoke done", 10, now_ns());
      closing = 1;
      close_by = now_ns() + 300 * MS;
    }
    if (closing && now_ns() >= close_by) {
      flush(fd, qc, &peer, NULL, &sent);
      break;
    }
  }
  const zttp_quic_conn_stats *st = zttp_quic_conn_get_stats(qc);
  printf("client: datagrams sent %llu received %llu, packets sent %llu "
         "received %llu dropped %llu\n",
         (unsigned long long)sent, (unsigned long long)recvd,
         (unsigned long long)st->pkts_sent, (unsigned long long)st->pkts_recv,
         (unsigned long long)st->pkts_dropped);
  zttp_quic_conn_free(qc);
  zttp_tls_ctx_unref(ctx);
  close(fd);
  if (!hs) {
    printf("client: FAIL: handshake did not complete\n");
  } else if (!settings) {
    printf("client: FAIL: no control stream with SETTINGS\n");
  }
  return hs && settings ? 0 : 1;
}

/* ---- server ------------------------------------------------------------ */

static int run_server(int port, const char *cert, const char *key) {
  zttp_tls_ctx *ctx = NULL;
  if (tls_ctx(&ctx, ZTTP_SERVER, cert, key, NULL) != 0) {
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in local = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
  if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof(local)) != 0) {
    perror("bind");
    return 2;
  }
  zttp_quic_cid_table *table = NULL;
  if (zttp_quic_cid_table_new(&table, zttp_mem_default(), 64) != 0) {
    return 2;
  }
  uint8_t reset_key[ZTTP_QUIC_EP_KEY_LEN];
  zttp_crypto_random(reset_key, sizeof(reset_key));
  printf("server: listening on 127.0.0.1:%d\n", port);
  fflush(stdout);

  zttp_quic_conn *qc = NULL;
  struct sockaddr_in peer;
  memset(&peer, 0, sizeof(peer));
  zttp_path path;
  memset(&path, 0, sizeof(path));
  int hs = 0, closed = 0, closing = 0;
  uint64_t sent = 0, recvd = 0, dropped = 0;
  static uint8_t buf[MAX_DGRAM], out[1500];
  zttp_tstamp deadline = now_ns() + 12 * NS;
  zttp_tstamp close_at = ZTTP_TSTAMP_NEVER;
  while (!closed && now_ns() < deadline) {
    if (qc != NULL && flush(fd, qc, &peer, table, &sent) != 0) {
      break;
    }
    struct sockaddr_in from;
    ssize_t n = wait_dgram(fd, qc, buf, &from);
    if (n > 0) {
      recvd++;
      zttp_quic_ep_info info;
      zttp_quic_ep_classify(&info, buf, (size_t)n, 8);
      zttp_quic_conn *to =
          info.dcid_len <= ZTTP_QUIC_MAX_CID_LEN
              ? zttp_quic_cid_table_find(table, info.dcid, info.dcid_len)
              : NULL;
      if (to == NULL) {
        switch (info.action) {
        case ZTTP_QUIC_EP_CREATE:
          if (qc != NULL) {
            dropped++; /* one connection is enough for a smoke test */
            break;
          }
          peer = from;
          set_addr(path.local, &path.local_len, &local);
          set_addr(path.remote, &path.remote_len, &peer);
          int32_t rv =
              zttp_quic_conn_new(&qc, zttp_mem_default(), NULL, ZTTP_SERVER,
                                 ctx, NULL, &info.hdr, &path, now_ns());
          if (rv != 0) {
            fprintf(stderr, "conn_new: %s\n", zttp_strerror(rv));
            break;
          }
          printf("server: new connection from the Initial (v%u, %zu-byte "
                 "datagram)\n",
                 (unsigned)info.version, (size_t)n);
          hex("server: client DCID", 0, info.dcid, info.dcid_len);
          /* The client repeats its first DCID until it hears from us. */
          zttp_quic_cid_table_add(table, info.dcid, info.dcid_len, qc);
          to = qc;
          break;
        case ZTTP_QUIC_EP_SEND_VN: {
          int64_t m = zttp_quic_ep_vn_build(out, sizeof(out), &info);
          if (m > 0) {
            sendto(fd, out, (size_t)m, 0, (struct sockaddr *)&from,
                   sizeof(from));
          }
          printf("server: Version Negotiation for version 0x%08x\n",
                 (unsigned)info.version);
          break;
        }
        case ZTTP_QUIC_EP_SEND_RESET: {
          uint8_t token[ZTTP_QUIC_RESET_TOKEN_LEN];
          size_t rl = zttp_quic_ep_reset_len((size_t)n);
          if (rl != 0 &&
              zttp_quic_ep_reset_token(token, reset_key, info.dcid,
                                       info.dcid_len) == 0 &&
              zttp_quic_ep_reset_build(out, sizeof(out), rl, (size_t)n, token) >
                  0) {
            sendto(fd, out, rl, 0, (struct sockaddr *)&from, sizeof(from));
          }
          printf("server: stateless reset for an unknown CID\n");
          break;
        }
        case ZTTP_QUIC_EP_DROP:
          dropped++;
          break;
        }
      }
      if (to != NULL) {
        int32_t rv = zttp_quic_conn_recv(to, buf, (size_t)n, &path, now_ns());
        if (rv != 0) {
          fprintf(stderr, "conn_recv: %s\n", zttp_strerror(rv));
        }
      }
    }
    if (qc == NULL) {
      continue;
    }
    zttp_quic_event ev;
    while (zttp_quic_conn_next_event(qc, &ev)) {
      switch (ev.kind) {
      case ZTTP_QUIC_EV_HANDSHAKE_DONE: {
        const uint8_t *alpn;
        size_t alen = zttp_quic_conn_alpn(qc, &alpn);
        printf("server: handshake complete, ALPN %.*s\n", (int)alen,
               (const char *)alpn);
        fflush(stdout);
        hs = 1;
        close_at = now_ns() + 1500 * MS;
        break;
      }
      case ZTTP_QUIC_EV_STREAM_OPENED:
        printf("server: peer opened stream %llu\n",
               (unsigned long long)ev.stream_id);
        break;
      case ZTTP_QUIC_EV_STREAM_READABLE: {
        const uint8_t *p;
        int fin = 0;
        int64_t m = zttp_quic_conn_stream_peek(qc, ev.stream_id, &p, &fin);
        if (m > 0) {
          hex("server: stream", ev.stream_id, p, (size_t)m);
          zttp_quic_conn_stream_consume(qc, ev.stream_id, (size_t)m);
        }
        break;
      }
      case ZTTP_QUIC_EV_CLOSED:
        print_closed("server", &ev);
        closed = 1;
        break;
      case ZTTP_QUIC_EV_NONE:
      case ZTTP_QUIC_EV_STREAM_WRITABLE:
      case ZTTP_QUIC_EV_STREAM_RESET:
      case ZTTP_QUIC_EV_STREAM_STOP_SENDING:
        break;
      }
    }
    if (hs && !closing && now_ns() >= close_at) {
      /* No HTTP/3 yet: end the connection cleanly so the client exits. */
      zttp_quic_conn_close(qc, 1, H3_NO_ERROR, "no h3 yet", 9, now_ns());
      closing = 1;
      flush(fd, qc, &peer, table, &sent);
      deadline = now_ns() + 300 * MS;
    }
    if (zttp_quic_conn_is_closed(qc)) {
      break;
    }
  }
  printf("server: datagrams sent %llu received %llu dropped %llu, "
         "connections %zu CIDs routed\n",
         (unsigned long long)sent, (unsigned long long)recvd,
         (unsigned long long)dropped, zttp_quic_cid_table_count(table));
  zttp_quic_conn_free(qc);
  zttp_quic_cid_table_free(table);
  zttp_tls_ctx_unref(ctx);
  close(fd);
  if (!hs) {
    printf("server: FAIL: no handshake completed\n");
  }
  return hs ? 0 : 1;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 5 && strcmp(argv[1], "client") == 0) {
    return run_client(argv[2], atoi(argv[3]), argv[4]);
  }
  if (argc == 5 && strcmp(argv[1], "server") == 0) {
    return run_server(atoi(argv[2]), argv[3], argv[4]);
  }
  fprintf(stderr,
          "usage: %s client HOST PORT CAFILE\n"
          "       %s server PORT CERT KEY\n",
          argv[0], argv[0]);
  return 2;
}
