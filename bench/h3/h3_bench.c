/* bench/h3: HTTP/3 request/response round trips per second through the
 * public API. A zttp HTTP/3 client and server connection (zttp_conn over
 * zttp's QUIC, real TLS with the test PKI, AES-128-GCM) in one process,
 * joined in memory: per round trip the client sends a request, the server
 * decrypts, parses (QPACK), answers; the client decrypts and parses the
 * response, and the datagrams that carry them (ACKs included) move between
 * the two. Workloads: a bare GET, a small API GET (a dozen header fields)
 * and a POST with a 1 KiB JSON body answered with 1 KiB of JSON. Requests
 * run one at a time (no pipelining) on one connection; the process CPU time
 * (CLOCK_PROCESS_CPUTIME_ID) over --requests round trips, median of
 * --rounds, is reported as round trips per second and microseconds each.
 *
 *   h3_bench [--requests N] [--rounds N] [--pki DIR]
 *
 * No peer runs here: ngtcp2+nghttp3 need a TLS library in the same
 * process. The real-peer comparison is bench/h3/run's bulk download
 * against gtlsserver.
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zttp/zttp.h>

#ifndef H3_BENCH_PKI
#define H3_BENCH_PKI "tests/crypto/pki"
#endif

#define MAX_DGRAM 1500
#define JSON_LEN 1024

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

typedef struct pair {
  zttp_config *cfg[2]; /* [0] client, [1] server */
  zttp_conn *conn[2];
  zttp_path path;
  zttp_tstamp now;
  int hs_done;
  int responses;  /* complete responses (END_MESSAGE) the client saw */
  uint64_t bytes; /* body bytes the client received */
} pair;

static uint8_t json[JSON_LEN];

#define H(n, v)                                                                \
  { n, sizeof(n) - 1, v, sizeof(v) - 1, 0, 0 }
static const zttp_header api_headers[] = {
    H("user-agent", "zttp-bench/1.0 (linux; x86_64)"),
    H("accept", "application/json"),
    H("accept-encoding", "gzip, deflate, br"),
    H("accept-language", "en-US,en;q=0.9"),
    H("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig"),
    H("cache-control", "no-cache"),
    H("x-request-id", "5f1c2a9e-0b7d-4b1e-9d8e-3c2a1f0e9d8c"),
    H("x-client-version", "4.12.1"),
    H("x-tenant", "acme"),
    H("cookie", "session=0123456789abcdef0123456789abcdef; theme=dark"),
    H("referer", "https://localhost/app/dashboard"),
    H("priority", "u=3, i"),
};
static const zttp_header json_req[] = {
    H("content-type", "application/json"),
    H("accept", "application/json"),
};
static const zttp_header json_resp[] = {
    H("content-type", "application/json"),
    H("cache-control", "private, max-age=0"),
};

enum { W_GET, W_API, W_POST };

static void config(pair *p, const char *pki) {
  char cert[512], key[512], ca[512];
  snprintf(cert, sizeof(cert), "%s/server.pem", pki);
  snprintf(key, sizeof(key), "%s/server.key", pki);
  snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
  for (int i = 0; i < 2; i++) {
    if (zttp_config_new(&p->cfg[i], NULL) != 0) {
      die("config");
    }
  }
  if (zttp_config_set_tls_cert_key(p->cfg[1], cert, key) != 0 ||
      zttp_config_set_tls_ca(p->cfg[0], ca, NULL) != 0 ||
      zttp_config_set_server_name(p->cfg[0], "localhost", 9) != 0) {
    die("TLS settings (PKI in %s)", pki);
  }
  if (zttp_conn_new(&p->conn[0], p->cfg[0], ZTTP_CLIENT, ZTTP_HTTP3) != 0 ||
      zttp_conn_new(&p->conn[1], p->cfg[1], ZTTP_SERVER, ZTTP_HTTP3) != 0) {
    die("zttp_conn_new");
  }
  memset(&p->path, 0, sizeof(p->path));
  p->now = 1000000000ull;
}

/* Moves every datagram |from| has to the other side. Returns how many. */
static int move(pair *p, int from) {
  uint8_t buf[MAX_DGRAM];
  zttp_path path;
  size_t seg;
  int n = 0;
  int64_t len;
  while ((len = zttp_conn_write_datagram(p->conn[from], &path, &seg, buf,
                                         sizeof(buf), p->now)) > 0) {
    if (zttp_conn_receive_datagram(p->conn[1 - from], buf, (size_t)len,
                                   &p->path, p->now) != 0) {
      die("receive_datagram failed");
    }
    n++;
  }
  if (len < 0) {
    die("write_datagram: %s", zttp_strerror((int32_t)len));
  }
  return n;
}

static void server_events(pair *p, int workload) {
  zttp_conn *s = p->conn[1];
  zttp_event ev;
  int32_t rv;
  while ((rv = zttp_conn_next_event(s, &ev)) == 1) {
    int64_t id = ev.stream_id;
    int respond = 0;
    if (ev.kind == ZTTP_EVENT_REQUEST && workload != W_POST) {
      respond = 1;
    } else if (ev.kind == ZTTP_EVENT_END_MESSAGE && workload == W_POST) {
      respond = 1;
    } else if (ev.kind == ZTTP_EVENT_DATA) {
      (void)zttp_conn_data_consumed(s, id, ev.u.data.len);
    }
    if (!respond) {
      continue;
    }
    if (workload == W_POST) {
      if (zttp_conn_send_response(s, id, 200, NULL, 0, json_resp, 2, 0) != 0 ||
          zttp_conn_send_data(s, id, json, JSON_LEN,
                              ZTTP_SEND_FLAG_END_STREAM) != JSON_LEN) {
        die("server response");
      }
    } else {
      static const zttp_header h[] = {H("content-type", "text/plain")};
      static const uint8_t body[] = "ok\n";
      if (zttp_conn_send_response(s, id, 200, NULL, 0, h, 1, 0) != 0 ||
          zttp_conn_send_data(s, id, body, 3, ZTTP_SEND_FLAG_END_STREAM) != 3) {
        die("server response");
      }
    }
  }
  if (rv < 0) {
    die("server next_event: %s", zttp_strerror(rv));
  }
}

static void client_events(pair *p) {
  zttp_event ev;
  int32_t rv;
  while ((rv = zttp_conn_next_event(p->conn[0], &ev)) == 1) {
    if (ev.kind == ZTTP_EVENT_HANDSHAKE_DONE) {
      p->hs_done = 1;
    } else if (ev.kind == ZTTP_EVENT_DATA) {
      p->bytes += ev.u.data.len;
      (void)zttp_conn_data_consumed(p->conn[0], ev.stream_id, ev.u.data.len);
    } else if (ev.kind == ZTTP_EVENT_END_MESSAGE) {
      p->responses++;
    }
  }
  if (rv < 0) {
    die("client next_event: %s", zttp_strerror(rv));
  }
}

static void timers(pair *p) {
  for (int i = 0; i < 2; i++) {
    if (zttp_conn_next_timeout(p->conn[i]) <= p->now) {
      (void)zttp_conn_handle_timeout(p->conn[i], p->now);
    }
  }
}

/* One exchange of datagrams and events; the clock moves 50 us (a loopback
 * round trip) so that ACK delays and pacing behave as on a fast link. */
static void step(pair *p, int workload) {
  move(p, 0);
  server_events(p, workload);
  move(p, 1);
  client_events(p);
  p->now += 50000;
  timers(p);
}

static void send_one(pair *p, int workload) {
  int64_t id;
  switch (workload) {
  case W_GET:
    id = zttp_conn_send_request(p->conn[0], "GET", 3, "/", 1, NULL, 0,
                                ZTTP_SEND_FLAG_END_STREAM);
    break;
  case W_API:
    id = zttp_conn_send_request(p->conn[0], "GET", 3, "/api/v1/items?page=2",
                                20, api_headers,
                                sizeof(api_headers) / sizeof(api_headers[0]),
                                ZTTP_SEND_FLAG_END_STREAM);
    break;
  default:
    id = zttp_conn_send_request(p->conn[0], "POST", 4, "/api/v1/items", 13,
                                json_req, 2, 0);
    if (id >= 0 && zttp_conn_send_data(p->conn[0], id, json, JSON_LEN,
                                       ZTTP_SEND_FLAG_END_STREAM) != JSON_LEN) {
      die("client body");
    }
    break;
  }
  if (id < 0) {
    die("send_request: %s", zttp_strerror((int32_t)id));
  }
}

static double run(const char *pki, int workload, int requests) {
  pair p;
  memset(&p, 0, sizeof(p));
  config(&p, pki);
  for (int i = 0; i < 10000 && !p.hs_done; i++) {
    step(&p, workload);
  }
  if (!p.hs_done) {
    die("no handshake");
  }
  for (int i = 0; i < 100; i++) {
    step(&p, workload); /* settle: SETTINGS, QPACK streams, tickets */
  }
  uint64_t t0 = cpu_ns();
  for (int r = 0; r < requests; r++) {
    int want = p.responses + 1;
    send_one(&p, workload);
    for (int k = 0; k < 1000 && p.responses < want; k++) {
      step(&p, workload);
    }
    if (p.responses < want) {
      die("no response to request %d", r);
    }
  }
  uint64_t t = cpu_ns() - t0;
  for (int i = 0; i < 2; i++) {
    zttp_conn_free(p.conn[i]);
    zttp_config_free(p.cfg[i]);
  }
  return (double)t / requests;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int requests = 20000;
  int rounds = 5;
  const char *pki = H3_BENCH_PKI;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc) {
      requests = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--pki") == 0 && i + 1 < argc) {
      pki = argv[++i];
    } else {
      die("usage: h3_bench [--requests N] [--rounds N] [--pki DIR]");
    }
  }
  if (requests < 1 || rounds < 1 || rounds > 64) {
    die("bad --requests or --rounds");
  }
  for (size_t i = 0; i < JSON_LEN; i++) {
    json[i] = (uint8_t) "{\"k\":\"0123456789abcdef\"},"[i % 24];
  }
  static const char *names[] = {"bare GET", "small API GET", "POST + JSON"};
  printf("| workload | round trips/s | us per round trip |\n");
  printf("|---|--:|--:|\n");
  for (int w = W_GET; w <= W_POST; w++) {
    double ns[64];
    for (int r = 0; r < rounds; r++) {
      ns[r] = run(pki, w, requests);
    }
    qsort(ns, (size_t)rounds, sizeof(ns[0]), cmp_double);
    double med = ns[rounds / 2];
    printf("| %s | %.0f | %.2f |\n", names[w], 1e9 / med, med / 1000.0);
    fflush(stdout);
  }
  return 0;
}
