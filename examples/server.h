/*
 * zttp-server: a single-threaded, non-blocking epoll HTTP/1.1, HTTP/2 and
 * HTTP/3 server built on the public zttp API only.
 *
 *   zttp-server --root DIR --port N [--addr 127.0.0.1] [--max-conns N]
 *               [--tls-port N --cert FILE --key FILE [--retry]]
 *
 * --port serves cleartext HTTP/1.1 and HTTP/2 ("h2c") both ways: with prior
 * knowledge (a connection that starts with the HTTP/2 client preface) and by
 * an HTTP/1.1 request with "Upgrade: h2c" (RFC 7540 §3.2). --tls-port serves
 * TLS (BoringSSL, examples/tls.c) and speaks what ALPN selected: h2, else
 * http/1.1; its responses carry alt-svc: h3=":PORT". The same port number
 * serves HTTP/3 over UDP (QUIC and its TLS are zttp's own; a zttp_endpoint
 * routes the datagrams to their connections).
 *
 * GET and HEAD serve the files under --root, POST /echo streams the request
 * body back, anything else gets 405. Once listening it prints one line per
 * port, "listening http://ADDR:PORT (http/1.1)" and then, with --tls-port,
 * "listening https://ADDR:PORT (h2, http/1.1)" and
 * "listening https://ADDR:PORT (h3, udp)"; it exits with status 0 on
 * SIGINT or SIGTERM after closing every connection gracefully.
 *
 * The loop per connection: read from the socket (through TLS if need be) ->
 * zttp_conn_receive_data() (what the engine does not take is kept and offered
 * again later) -> pull events with zttp_conn_next_event() and act on them ->
 * queue response bodies -> write what zttp_conn_pending() holds and
 * zttp_conn_consume() it. The request handler names the stream in every call,
 * so one handler serves HTTP/1.1 (stream 0, one exchange at a time) and
 * HTTP/2 (many streams at once, each with an entry in the connection's stream
 * table). Body data that the engine cannot take yet (a full output buffer,
 * a closed flow-control window) waits in that table and goes out when the
 * window opens (ZTTP_EVENT_WINDOW_UPDATE) or the output drains; on HTTP/2 the
 * echoed request body is credited back with zttp_conn_data_consumed() only
 * as it leaves, so the peer's window bounds what waits.
 *
 * A request head the full output buffer cannot take yet is kept (held), and
 * neither zttp_conn_receive_data() nor zttp_conn_next_event() is called
 * until it is handled: that keeps its pointers valid. HTTP/1.1 adds one rule:
 * while a file, a short body or echoed data is being queued no event is
 * pulled, so a malformed pipelined request cannot cut that response short
 * and an echo waits for at most one DATA event (HTTP/1.1 has no window).
 *
 * HTTP/3 connections run the same handler (as HTTP/2, with QUIC stream ids).
 * Their input cannot wait: each datagram goes to its connection as it is
 * read, so a held request head is copied first. Their output is pulled
 * with zttp_conn_write_datagram() and sent to the peer's address, and
 * their timers (loss detection, idle) set the epoll timeout.
 *
 * The program is split by concern:
 *   server.h       the types and the functions the files share (this file)
 *   server.c       main, the command line, configuration, listening sockets,
 *                  the epoll loop, connection lists and timers
 *   server_http.c  protocol-independent request handling: events, responses,
 *                  files, echo, the stream table, pumping bodies
 *   server_tcp.c   TCP and TLS connections: accept, read, protocol sniffing,
 *                  the h2c upgrade, flush, linger
 *   server_h3.c    HTTP/3: the UDP socket, the endpoint, datagrams in and
 *                  out, QUIC timers
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZTTP_EXAMPLES_SERVER_H
#define ZTTP_EXAMPLES_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <zttp/zttp.h>

#include "tls.h"

/* Bytes of one socket read and of one piece of a file body. */
#define IO_BUF_SIZE (128u * 1024u)
/* Files at least this large are mapped rather than read (stream.file_map). */
#define MMAP_MIN_BYTES (256u * 1024u)

/* RFC 9113 §3.4 */
#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN 24u

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* What a stream is sending for the request it answers. */
typedef enum resp_kind {
  RESP_NONE, /* nothing (more) */
  RESP_BUF,  /* a short body held in static storage */
  RESP_FILE, /* a file body, read piece by piece */
  RESP_ECHO  /* the request body, as it arrives */
} resp_kind;

/* stream is the state of one exchange: the HTTP/1.1 connection has one
 * (stream 0), an HTTP/2 connection one per stream it is answering. */
typedef struct stream {
  int64_t id;
  int used;
  resp_kind resp;
  /* The request head was handled and its END_MESSAGE has not arrived. */
  int req_open;
  /* RESP_ECHO: the request ended; end the response once echo is sent. */
  int echo_end;
  /* 100 Continue was queued. */
  int sent_continue;
  int file_fd;
  uint64_t file_off;
  uint64_t file_left;
  /* The file mapped read-only (large files; NULL: read with pread): its
   * pages go to zttp_conn_send_data() without a copy of our own. The file
   * must not shrink while it is served (SIGBUS). */
  void *file_map;
  size_t file_map_len;
  const char *body;
  size_t body_left;
  /* Echoed bytes the engine did not take yet: echo[echo_off, +echo_len). */
  uint8_t *echo;
  size_t echo_off;
  size_t echo_len;
  size_t echo_cap;
} stream;

/* request is what the handler needs of a request head, whatever the
 * protocol. */
typedef struct request {
  zttp_str method;
  zttp_str target;
  zttp_str path;
  zttp_str content_type;
  uint32_t flags;
  uint32_t http_version;
} request;

typedef struct conn conn;

/* conn_list is a doubly linked list kept in deadline order: every member of
 * one list has the same timeout, so appending keeps it sorted. */
typedef struct conn_list {
  conn *head;
  conn *tail;
} conn_list;

struct conn {
  conn *prev;
  conn *next;
  conn_list *list;
  /* When the connection times out, in ms of CLOCK_MONOTONIC. */
  uint64_t deadline;
  /* The socket; -1 on HTTP/3 (the server's UDP socket carries it). */
  int fd;
  /* How logs name it: "fd N", or "h3 N" on HTTP/3. */
  char name[24];
  /* The epoll events currently registered. */
  uint32_t events;
  /* The TLS session; NULL on the cleartext port. */
  tls *tls;
  /* The last TLS read or handshake step waits for the socket to be
   * writable. */
  int tls_want_write;
  /* ZTTP_HTTP1, ZTTP_HTTP2 or ZTTP_HTTP3; 0 until the preface or ALPN
   * decided. */
  uint32_t proto;
  /* The first bytes of a cleartext connection while they match the
   * HTTP/2 preface. */
  uint8_t sniff[PREFACE_LEN];
  size_t sniff_len;
  /* NULL until the protocol is known, and once the connection lingers. */
  zttp_conn *z;
  /* The HTTP/2 connection an accepted "Upgrade: h2c" switches to, and the
   * request it answers on stream 1 (its strings live in up_buf). */
  zttp_conn *h2_next;
  char *up_buf;
  request up;
  /* The HTTP/2 connection runs; stream 1 waits for the client's preface
   * (see answer_upgraded()). */
  int up_answer;
  /* Output of the HTTP/1.1 connection left behind by an upgrade (its 101):
   * written before anything of the HTTP/2 one. */
  uint8_t *preout;
  size_t preout_off;
  size_t preout_len;
  /* Received bytes the engine did not take yet: in[in_off, in_off+in_len). */
  uint8_t *in;
  size_t in_off;
  size_t in_len;
  /* The event being handled; see the file comment. */
  zttp_event ev;
  int held;
  /* HTTP/3: the held event's strings, copied (see event_keep()). */
  void *ev_copy;
  /* The stream table: 1 entry on HTTP/1.1, the concurrency limit on
   * HTTP/2 and HTTP/3. */
  stream *streams;
  size_t num_slots;
  /* The peer closed its sending side. */
  int rd_eof;
  /* ... and the engine was not told yet (input is still queued). */
  int eof_owed;
  /* The engine reported a fatal error: flush, then close. */
  int fatal;
  /* The socket failed: close at once. */
  int dead;
  /* The write budget ran out with work left: come back on EPOLLOUT. */
  int yield;
  int lingering;
  size_t linger_bytes;
  /* HTTP/3: datagrams for it arrived in the batch being read. */
  int h3_dirty;
};

typedef struct listener {
  int fd;
  int tls;
  /* The address it is bound to. */
  struct sockaddr_storage addr;
  socklen_t addr_len;
} listener;

/* h3_server is the HTTP/3 side (server_h3.c): the UDP socket, its endpoint
 * and its connections. */
typedef struct h3_server h3_server;

typedef struct server {
  int epfd;
  int sfd;
  int rootfd;
  listener lis[2];
  size_t num_lis;
  /* Connection settings for cleartext and for TLS (ZTTP_OPT_TLS). */
  zttp_config *cfg;
  zttp_config *tls_cfg;
  tls_ctx *tls;
  /* HTTP/3 on the TLS port number, over UDP; NULL without --tls-port. */
  h3_server *h3;
  /* The alt-svc value TLS responses carry: h3=":PORT". */
  char alt_svc[24];
  size_t alt_svc_len;
  conn_list active;
  conn_list lingering;
  size_t num_conns;
  size_t max_conns;
  size_t max_streams;
  /* Idle timeout in ms; 0: none. */
  uint64_t idle_ms;
  /* The time of the last epoll_wait() return, ms of CLOCK_MONOTONIC, and
   * the same in ns for zttp_conn_set_time(). */
  uint64_t now;
  zttp_tstamp now_ns;
  /* Accepting is paused until then after running out of descriptors. */
  uint64_t accept_resume;
  int accepting;
  /* epoll_pwait2() works (cleared at its first ENOSYS). */
  int pwait2;
  int verbose;
  /* 1: shutting down (until stop_deadline), 2: exit now. */
  int stop;
  uint64_t stop_deadline;
  /* Scratch for socket reads and file pieces; never held across calls. */
  uint8_t *buf;
  char date[40];
  size_t date_len;
  time_t date_sec;
  char server_name[32];
  size_t server_name_len;
} server;

typedef struct options {
  const char *root;
  const char *addr;
  const char *port;
  const char *tls_port;
  const char *cert;
  const char *key;
  size_t max_conns;
  uint64_t idle_timeout_s;
  int verbose;
  /* HTTP/3: validate every new client's address with a Retry. */
  int retry;
} options;

/* server.c */

/* addr_str formats a sockaddr_in or sockaddr_in6 (or the bytes of one, as
 * in a zttp_path) as ADDR:PORT or [ADDR]:PORT into |buf|; returns |buf|. */
const char *addr_str(char *buf, size_t len, const void *sa);

/* vlog writes one line to stderr with --verbose. */
void vlog(const server *s, const char *fmt, ...) PRINTF_LIKE(2, 3);
void list_remove(conn *c);
void list_append(conn_list *l, conn *c, uint64_t deadline);
void touch(server *s, conn *c);
void listener_update(server *s);

/* server_http.c */

int str_eq(zttp_str a, const char *b);
int str_caseeq(const char *a, size_t alen, const char *b);
int has_token(const char *v, size_t len, const char *token);
const char *proto_name(const conn *c);
stream *stream_new(conn *c, int64_t id);
void stream_done(stream *st);
void streams_free(conn *c);
int conn_busy(const conn *c);
int32_t respond(server *s, conn *c, stream *st, const request *rq);
int conn_events(server *s, conn *c);
void conn_fatal(server *s, conn *c, int32_t err);
int conn_pump(server *s, conn *c);

/* server_tcp.c */

/* try_upgrade's answer for a request that is no "Upgrade: h2c". */
#define NOT_UPGRADE 2

int try_upgrade(server *s, conn *c, const zttp_event *ev);
int conn_upgrade(server *s, conn *c, const zttp_event *ev);
void conn_close(server *s, conn *c);
void conn_drive(server *s, conn *c);
void conn_settle(server *s, conn *c);
void conn_on_event(server *s, conn *c, uint32_t revents);
void server_accept(server *s, const listener *l);

/* server_h3.c */

/* h3_bind opens the UDP socket of HTTP/3 on the address (and port number)
 * |l| is bound to. Returns 0, or -1 with errno set. */
int h3_bind(server *s, const listener *l);
/* h3_start makes the endpoint, registers the socket with epoll and prints
 * the listening line. Returns 0 or -1. */
int h3_start(server *s, const options *o);
/* h3_is_socket says whether an epoll event's pointer is the UDP socket. */
int h3_is_socket(const server *s, const void *ptr);
void h3_on_event(server *s, uint32_t revents);
/* h3_next_deadline returns when the earliest HTTP/3 timer fires, in ns of
 * CLOCK_MONOTONIC (QUIC pacing needs better than milliseconds), or
 * UINT64_MAX. */
uint64_t h3_next_deadline(const server *s);
void h3_expire(server *s);
size_t h3_num_conns(const server *s);
/* h3_stop closes every HTTP/3 connection gracefully (GOAWAY). */
void h3_stop(server *s);
void h3_free(server *s);

#endif /* ZTTP_EXAMPLES_SERVER_H */
