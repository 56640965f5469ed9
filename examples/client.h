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
 * The program is split by concern:
 *   client.h          the types and the functions the files share (this
 *                     file)
 *   zttp-client.c     main, the command line, setup, URLs, outputs, and
 *                     run(): one connection after another until every URL
 *                     is done
 *   client_session.c  protocol-independent: transfers, requests, uploads,
 *                     events, finishing transfers and connections
 *   client_tcp.c      TCP and TLS: connect, ALPN, read, flush, and the
 *                     HTTP/1.1 and HTTP/2 connection loop
 *   client_h3.c       HTTP/3: the UDP socket, datagrams out, and the QUIC
 *                     connection loop with its timers
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZTTP_EXAMPLES_CLIENT_H
#define ZTTP_EXAMPLES_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <zttp/zttp.h>

#include "tls.h"

/* Bytes of one socket read and of one piece of an upload. */
#define IO_BUF_SIZE (128u * 1024u)
/* HTTP/2 streams opened at once until the server's SETTINGS say more or
 * less. */
#define H2_DEFAULT_STREAMS 100u

#define MIN(a, b) ((a) < (b) ? (a) : (b))

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

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

/* zttp-client.c */

/* vlog writes one line to stderr with --verbose. */
void vlog(const client *cl, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* now_ns returns CLOCK_MONOTONIC in ns. */
zttp_tstamp now_ns(void);
/* wait_fd polls |fd| for |events|, EINTR retried. Returns poll()'s
 * answer. */
int wait_fd(int fd, short events, int timeout_ms);

/* client_session.c */

void transfer_report(client *cl, transfer *t, const char *proto);
void transfer_fail(client *cl, transfer *t, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
void session_free(session *ss);
void finish(client *cl, session *ss, transfer *t);
int submit(client *cl, session *ss);
int pump_uploads(client *cl, session *ss);
int handle_event(client *cl, session *ss, const zttp_event *ev);
void session_fatal(client *cl, session *ss, int32_t err);
size_t count_state(const client *cl, transfer_state st);
void session_end(client *cl, session *ss);

/* client_tcp.c */

int session_connect(client *cl, session *ss, char *err, size_t errlen);
void session_run(client *cl, session *ss);

/* client_h3.c */

int session_connect_h3(client *cl, session *ss, char *err, size_t errlen);
void session_run_h3(client *cl, session *ss);

#endif /* ZTTP_EXAMPLES_CLIENT_H */
