/* bench/quic: the cost of zttp's QUIC transport per byte. A zttp client
 * and a zttp server connection (src/quic/conn.h, the internal API) in one
 * process, joined in memory (no sockets, no loss), with the real TLS
 * (BoringSSL, the test PKI) and AES-128-GCM: the client opens one
 * bidirectional stream and sends a short request, the server answers with
 * --mib MiB (default 1 GiB) on it. Reports the process CPU time of the
 * transfer (both connections: the server's writes, sealing and header
 * protection, the client's opening, reassembly and reading, and the ACKs
 * both ways) in ns per application byte and packets per second, then, in
 * the same run, the raw cost of BoringSSL's AES-128-GCM (EVP_AEAD_CTX seal
 * then open, on payloads of the transfer's average packet size) in ns per
 * byte, and their ratio: how many times the raw AEAD cost the whole stack
 * costs.
 *
 *   quic_bench [--mib N] [--raw-mib N] [--no-verify] [--pki DIR]
 *              [--rate-gbps G]
 *
 * The virtual clock: the link is a 10 Gbit/s wire (--rate-gbps) with no
 * propagation delay; every round of the pump (the server writes what its
 * congestion and flow-control windows allow, the client reads it and
 * answers with ACKs) advances the clock by the time the round's datagrams
 * take on that wire (at least 1 us); when no datagram moves, the clock
 * jumps to the next timer (ACK delay, pacing). See bench/README.md.
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/aead.h>

#include "crypto/tls.h"
#include "quic/conn.h"
#include "quic/packet.h"

#ifndef QUIC_BENCH_PKI
#define QUIC_BENCH_PKI "tests/crypto/pki"
#endif

#define MAX_DGRAM 1500
#define MAX_BATCH 4096 /* datagrams one side writes per round */
#define BLOCK (64u << 10)

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(2);
}

static uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the pair ------------------------------------------------------------ */

typedef struct dgram {
  size_t len;
  uint8_t data[MAX_DGRAM];
} dgram;

typedef struct pair {
  zttp_tls_ctx *ctx[2]; /* by enum zttp_role */
  zttp_quic_conn *c;
  zttp_quic_conn *s;
  zttp_quic_settings settings;
  zttp_tstamp now;
  uint64_t ns_per_kbyte; /* wire time of 1000 bytes */
  dgram *q;              /* one round's datagrams of one side */
  /* The transfer. */
  uint64_t total;
  uint64_t sent;
  uint64_t recvd;
  int fin_sent;
  int fin_recvd;
  int verify;
  uint64_t mismatches;
  int s_has_stream;
  int c_opened;       /* the client sent its request on stream 0 */
  uint64_t dgrams[2]; /* client->server, server->client */
  uint64_t wire_bytes[2];
  uint64_t rounds;
  uint64_t timer_jumps;
} pair;

static uint8_t block[BLOCK];

static const uint8_t h3_alpn[] = {2, 'h', '3'};

static void pair_init(pair *p, const char *pki, uint64_t total, int verify,
                      double gbps) {
  memset(p, 0, sizeof(*p));
  static char cert[1024], key[1024], ca[1024];
  snprintf(cert, sizeof(cert), "%s/server.pem", pki);
  snprintf(key, sizeof(key), "%s/server.key", pki);
  snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
  for (uint32_t role = 0; role < 2; role++) {
    zttp_tls_settings s;
    memset(&s, 0, sizeof(s));
    s.backend = ZTTP_TLS_BORINGSSL;
    s.alpn = h3_alpn;
    s.alpn_len = sizeof(h3_alpn);
    s.ciphers = ZTTP_TLS_CIPHER_AES_128_GCM_SHA256;
    if (role == ZTTP_SERVER) {
      s.cert_file = cert;
      s.key_file = key;
    } else {
      s.ca_file = ca;
    }
    char err[ZTTP_TLS_ERRMSG_MAX];
    int32_t rv =
        zttp_tls_ctx_new(&p->ctx[role], zttp_mem_default(), &s, role, err);
    if (rv != 0) {
      die("tls context: %d %s (--pki %s)", rv, err, pki);
    }
  }
  zttp_quic_settings_default(&p->settings);
  p->now = 1000000000ull;
  p->ns_per_kbyte = (uint64_t)(8000.0 / gbps);
  p->total = total;
  p->verify = verify;
  p->q = malloc(MAX_BATCH * sizeof(dgram));
  if (p->q == NULL) {
    die("out of memory");
  }
  zttp_path path;
  memset(&path, 0, sizeof(path));
  int32_t rv =
      zttp_quic_conn_new(&p->c, zttp_mem_default(), &p->settings, ZTTP_CLIENT,
                         p->ctx[ZTTP_CLIENT], "localhost", NULL, &path, p->now);
  if (rv != 0) {
    die("client: %d", rv);
  }
}

static void pair_free(pair *p) {
  zttp_quic_conn_free(p->c);
  zttp_quic_conn_free(p->s);
  zttp_tls_ctx_unref(p->ctx[0]);
  zttp_tls_ctx_unref(p->ctx[1]);
  free(p->q);
}

/* Writes what |from| has to send now (at most MAX_BATCH datagrams) and
 * delivers it to the other side. Returns the bytes moved. */
static uint64_t move(pair *p, int from_server) {
  zttp_quic_conn *from = from_server ? p->s : p->c;
  if (from == NULL) {
    return 0;
  }
  size_t n = 0;
  uint64_t bytes = 0;
  zttp_path path;
  while (n < MAX_BATCH) {
    int64_t len =
        zttp_quic_conn_write(from, p->q[n].data, MAX_DGRAM, &path, p->now);
    if (len < 0) {
      die("%s write: %" PRId64, from_server ? "server" : "client", len);
    }
    if (len == 0) {
      break;
    }
    p->q[n++].len = (size_t)len;
    bytes += (uint64_t)len;
  }
  memset(&path, 0, sizeof(path));
  for (size_t i = 0; i < n; i++) {
    if (!from_server && p->s == NULL) {
      zttp_quic_hdr h;
      if (zttp_quic_hdr_parse(&h, p->q[i].data, p->q[i].len, 8) !=
              ZTTP_QUIC_HDR_OK ||
          h.type != ZTTP_QUIC_PKT_INITIAL) {
        continue;
      }
      int32_t rv = zttp_quic_conn_new(&p->s, zttp_mem_default(), &p->settings,
                                      ZTTP_SERVER, p->ctx[ZTTP_SERVER], NULL,
                                      &h, &path, p->now);
      if (rv != 0) {
        die("server: %d", rv);
      }
    }
    zttp_quic_conn *to = from_server ? p->c : p->s;
    int32_t rv =
        zttp_quic_conn_recv(to, p->q[i].data, p->q[i].len, &path, p->now);
    if (rv != 0) {
      die("%s recv: %d", from_server ? "client" : "server", rv);
    }
  }
  p->dgrams[from_server] += n;
  p->wire_bytes[from_server] += bytes;
  return bytes;
}

static void drain_events(pair *p, zttp_quic_conn *qc, int server) {
  zttp_quic_event ev;
  while (zttp_quic_conn_next_event(qc, &ev)) {
    switch (ev.kind) {
    case ZTTP_QUIC_EV_STREAM_OPENED:
      if (server && ev.stream_id == 0) {
        p->s_has_stream = 1;
      }
      break;
    case ZTTP_QUIC_EV_CLOSED:
      die("%s closed: error %d code 0x%" PRIx64, server ? "server" : "client",
          ev.error, ev.error_code);
    default:
      break;
    }
  }
}

/* The server's side of the application: the response, from a 64 KiB block
 * of pattern bytes (zttp copies what it takes). */
static void server_app(pair *p) {
  if (p->s == NULL) {
    return;
  }
  drain_events(p, p->s, 1);
  if (!p->s_has_stream) {
    return;
  }
  /* The request: read and drop. */
  const uint8_t *d;
  int fin = 0;
  int64_t n = zttp_quic_conn_stream_peek(p->s, 0, &d, &fin);
  if (n > 0) {
    zttp_quic_conn_stream_consume(p->s, 0, (size_t)n);
  }
  while (!p->fin_sent) {
    uint64_t off = p->sent % BLOCK;
    size_t len = BLOCK - (size_t)off;
    if (p->total - p->sent < len) {
      len = (size_t)(p->total - p->sent);
    }
    int last = p->sent + len == p->total;
    int64_t took = zttp_quic_conn_stream_write(p->s, 0, block + off, len, last);
    if (took < 0) {
      die("server stream_write: %" PRId64, took);
    }
    p->sent += (uint64_t)took;
    if (last && (size_t)took == len) {
      p->fin_sent = 1;
    }
    if ((size_t)took < len) {
      break;
    }
  }
}

static void client_app(pair *p) {
  drain_events(p, p->c, 0);
  if (p->fin_recvd || !p->c_opened) {
    return;
  }
  for (;;) {
    const uint8_t *d;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(p->c, 0, &d, &fin);
    if (n < 0) {
      die("client stream_peek: %" PRId64, n);
    }
    if (p->verify && n > 0) {
      /* Every byte, against the block at its offset. */
      uint64_t off = p->recvd;
      size_t done = 0;
      while (done < (size_t)n) {
        size_t at = (size_t)((off + done) % BLOCK);
        size_t k = BLOCK - at;
        if (k > (size_t)n - done) {
          k = (size_t)n - done;
        }
        p->mismatches += memcmp(d + done, block + at, k) != 0;
        done += k;
      }
    }
    if (n > 0) {
      zttp_quic_conn_stream_consume(p->c, 0, (size_t)n);
      p->recvd += (uint64_t)n;
    }
    if (fin) {
      p->fin_recvd = 1;
      return;
    }
    if (n == 0) {
      return;
    }
  }
}

static void run_timers(pair *p) {
  zttp_quic_conn *cs[2] = {p->c, p->s};
  for (int i = 0; i < 2; i++) {
    if (cs[i] != NULL && zttp_quic_conn_next_timeout(cs[i]) <= p->now) {
      int32_t rv = zttp_quic_conn_handle_timeout(cs[i], p->now);
      if (rv != 0) {
        die("handle_timeout: %d", rv);
      }
    }
  }
}

/* One round: server writes and the client receives, client answers. */
static void round_trip(pair *p) {
  p->rounds++;
  server_app(p);
  uint64_t bytes = move(p, 1);
  client_app(p);
  bytes += move(p, 0);
  if (bytes != 0) {
    uint64_t dt = bytes * p->ns_per_kbyte / 1000;
    p->now += dt > 1000 ? dt : 1000;
  } else {
    /* Nothing moved: the next timer. */
    zttp_tstamp t = zttp_quic_conn_next_timeout(p->c);
    if (p->s != NULL && zttp_quic_conn_next_timeout(p->s) < t) {
      t = zttp_quic_conn_next_timeout(p->s);
    }
    if (t == ZTTP_TSTAMP_NEVER) {
      die("stalled: nothing to send and no timer (sent %" PRIu64
          ", received %" PRIu64 ")",
          p->sent, p->recvd);
    }
    if (t > p->now) {
      p->now = t;
    }
    p->timer_jumps++;
  }
  run_timers(p);
}

static void handshake(pair *p) {
  for (int i = 0; i < 10000; i++) {
    round_trip(p);
    if (p->s != NULL && zttp_quic_conn_handshake_confirmed(p->c) &&
        zttp_quic_conn_handshake_complete(p->s)) {
      /* The request. */
      if (zttp_quic_conn_open_stream(p->c, 1) != 0 ||
          zttp_quic_conn_stream_write(p->c, 0, (const uint8_t *)"GET /", 5,
                                      1) != 5) {
        die("request");
      }
      p->c_opened = 1;
      return;
    }
  }
  die("no handshake");
}

/* ---- raw AES-128-GCM ------------------------------------------------------
 */

/* Seals then opens |count| payloads of |len| bytes with a |ad_len|-byte
 * header as associated data and the packet number in the nonce, as QUIC
 * does. Returns the CPU ns. */
static uint64_t raw_aead(size_t len, size_t ad_len, uint64_t count) {
  static const uint8_t key[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                  9, 10, 11, 12, 13, 14, 15, 16};
  EVP_AEAD_CTX seal_ctx;
  EVP_AEAD_CTX open_ctx;
  if (!EVP_AEAD_CTX_init(&seal_ctx, EVP_aead_aes_128_gcm(), key, sizeof(key),
                         EVP_AEAD_DEFAULT_TAG_LENGTH, NULL) ||
      !EVP_AEAD_CTX_init(&open_ctx, EVP_aead_aes_128_gcm(), key, sizeof(key),
                         EVP_AEAD_DEFAULT_TAG_LENGTH, NULL)) {
    die("EVP_AEAD_CTX_init");
  }
  uint8_t *buf = malloc(len + 16);
  uint8_t ad[64];
  if (buf == NULL || ad_len > sizeof(ad)) {
    die("raw_aead");
  }
  memcpy(buf, block, len < BLOCK ? len : BLOCK);
  memset(ad, 0x41, sizeof(ad));
  uint8_t iv[12] = {0};
  uint64_t t0 = cpu_ns();
  for (uint64_t pn = 0; pn < count; pn++) {
    uint8_t nonce[12];
    memcpy(nonce, iv, sizeof(nonce));
    for (int i = 0; i < 8; i++) {
      nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));
    }
    size_t out_len = 0;
    if (!EVP_AEAD_CTX_seal(&seal_ctx, buf, &out_len, len + 16, nonce,
                           sizeof(nonce), buf, len, ad, ad_len) ||
        !EVP_AEAD_CTX_open(&open_ctx, buf, &out_len, len, nonce, sizeof(nonce),
                           buf, len + 16, ad, ad_len) ||
        out_len != len) {
      die("raw AEAD failed");
    }
  }
  uint64_t dt = cpu_ns() - t0;
  EVP_AEAD_CTX_cleanup(&seal_ctx);
  EVP_AEAD_CTX_cleanup(&open_ctx);
  free(buf);
  return dt;
}

/* ---- main ------------------------------------------------------------------
 */

int main(int argc, char **argv) {
  uint64_t mib = 1024;
  uint64_t raw_mib = 256;
  int verify = 1;
  double gbps = 10;
  const char *pki = QUIC_BENCH_PKI;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--mib") == 0 && i + 1 < argc) {
      mib = strtoull(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--raw-mib") == 0 && i + 1 < argc) {
      raw_mib = strtoull(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--no-verify") == 0) {
      verify = 0;
    } else if (strcmp(argv[i], "--pki") == 0 && i + 1 < argc) {
      pki = argv[++i];
    } else if (strcmp(argv[i], "--rate-gbps") == 0 && i + 1 < argc) {
      gbps = strtod(argv[++i], NULL);
    } else {
      die("usage: quic_bench [--mib N] [--raw-mib N] [--no-verify] [--pki "
          "DIR] [--rate-gbps G]");
    }
  }
  if (mib == 0 || gbps <= 0) {
    die("--mib and --rate-gbps must be positive");
  }
  for (size_t i = 0; i < BLOCK; i++) {
    uint64_t x = i * 2654435761u;
    block[i] = (uint8_t)(x ^ (x >> 13));
  }

  pair *p = calloc(1, sizeof(*p));
  if (p == NULL) {
    die("out of memory");
  }
  uint64_t total = mib << 20;
  uint64_t t0 = cpu_ns();
  pair_init(p, pki, total, verify, gbps);
  handshake(p);
  uint64_t t1 = cpu_ns();
  zttp_tstamp v1 = p->now;
  while (!p->fin_recvd) {
    round_trip(p);
  }
  uint64_t t2 = cpu_ns();
  if (p->recvd != total || p->mismatches != 0) {
    die("transfer: received %" PRIu64 " of %" PRIu64 " bytes, %" PRIu64
        " mismatching chunks",
        p->recvd, total, p->mismatches);
  }
  const zttp_quic_conn_stats *ss = zttp_quic_conn_get_stats(p->s);
  const zttp_quic_conn_stats *cs = zttp_quic_conn_get_stats(p->c);
  double xfer_ns = (double)(t2 - t1);
  double ns_per_byte = xfer_ns / (double)total;
  /* What the server sealed: its datagrams less one short header (1 + our
   * 8-byte CID + a 1-4 byte packet number; ~4 here) and the 16-byte tag
   * each. */
  double pkts = (double)ss->pkts_sent;
  double avg_dgram = (double)ss->bytes_sent / pkts;
  size_t ad_len = 1 + 8 + 3;
  size_t payload = (size_t)(avg_dgram + 0.5) - ad_len - 16;
  printf("zttp QUIC, real TLS (BoringSSL), AES-128-GCM, one stream, "
         "server->client %" PRIu64 " MiB in memory (%.0f Gbit/s virtual "
         "wire, no loss), %s\n",
         mib, gbps, verify ? "every byte verified" : "not verified");
  printf("  handshake+setup       %.2f ms CPU\n", (double)(t1 - t0) / 1e6);
  printf("  transfer              %.3f s CPU (both connections), %.3f s "
         "virtual\n",
         xfer_ns / 1e9, (double)(p->now - v1) / 1e9);
  printf("  server packets        %" PRIu64 " sent (avg datagram %.0f B, "
         "%.0f%% of them full-size), %" PRIu64 " lost; client packets %" PRIu64
         " (%" PRIu64 " ACK-only)\n",
         ss->pkts_sent, avg_dgram,
         100.0 * (double)ss->bytes_sent / (pkts * 1452.0), ss->pkts_lost,
         cs->pkts_sent, cs->acks_sent);
  printf("  pump                  %" PRIu64 " rounds, %" PRIu64
         " timer jumps\n",
         p->rounds, p->timer_jumps);
  printf("  zttp                  %.3f ns/byte, %.0f server pkts/s, %.0f "
         "pkts/s both ways, %.0f MB/s\n",
         ns_per_byte, pkts / (xfer_ns / 1e9),
         (pkts + (double)cs->pkts_sent) / (xfer_ns / 1e9),
         (double)total / (xfer_ns / 1e9) / 1e6);

  uint64_t count = (raw_mib << 20) / payload;
  raw_aead(payload, ad_len, count / 16 + 1); /* warm up */
  uint64_t raw = raw_aead(payload, ad_len, count);
  double raw_ns_per_byte = (double)raw / ((double)count * (double)payload);
  printf("  raw AES-128-GCM       %.3f ns/byte (EVP_AEAD_CTX seal + open of "
         "%" PRIu64 " x %zu-byte payloads, %zu-byte AD)\n",
         raw_ns_per_byte, count, payload, ad_len);
  /* The raw cost of this transfer's sealed bytes, per application byte. */
  double sealed = pkts * (double)payload;
  printf("  ratio zttp/raw        %.2f (per byte; raw AEAD of the sealed "
         "bytes is %.0f%% of zttp's time)\n",
         ns_per_byte / raw_ns_per_byte,
         100.0 * raw_ns_per_byte * sealed / xfer_ns);
  pair_free(p);
  free(p);
  return 0;
}
