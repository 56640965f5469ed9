/*
 * zttp-server: a single-threaded, non-blocking epoll HTTP/1.1 and HTTP/2
 * server built on the public zttp API only.
 *
 *   zttp-server --root DIR --port N [--addr 127.0.0.1] [--max-conns N]
 *               [--tls-port N --cert FILE --key FILE]
 *
 * --port serves cleartext HTTP/1.1 and HTTP/2 ("h2c") both ways: with prior
 * knowledge (a connection that starts with the HTTP/2 client preface) and by
 * an HTTP/1.1 request with "Upgrade: h2c" (RFC 7540 §3.2). --tls-port serves
 * TLS (BoringSSL, examples/tls.c) and speaks what ALPN selected: h2, else
 * http/1.1.
 *
 * GET and HEAD serve the files under --root, POST /echo streams the request
 * body back, anything else gets 405. Once listening it prints one line per
 * port, "listening http://ADDR:PORT (http/1.1)" and then, with --tls-port,
 * "listening https://ADDR:PORT (h2, http/1.1)"; it exits with status 0 on
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
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zttp/zttp.h>

#include "tls.h"

/* Bytes of one socket read and of one piece of a file body. */
#define IO_BUF_SIZE (128u * 1024u)
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
/* How long the connections get to finish after SIGINT or SIGTERM. */
#define SHUTDOWN_MS 3000u
/* How long accepting pauses when the process is out of descriptors. */
#define ACCEPT_RETRY_MS 100u
#define MAX_EPOLL_EVENTS 256
/* Bytes of a percent-decoded request path, NUL included. */
#define MAX_PATH_BYTES 4096u
#define MAX_RESPONSE_HEADERS 8
/* HTTP/2 stream table entries at most, whatever the configured
 * ZTTP_LIMIT_MAX_CONCURRENT_STREAMS. */
#define MAX_STREAM_SLOTS 1024u
/* Echoed body bytes one stream may hold back: more than the stream window
 * (HTTP/2) or one DATA event (HTTP/1.1) ever carries. */
#define ECHO_MAX (4u * 1024u * 1024u)

/* RFC 9113 §3.4 */
#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN 24u
/* RFC 9113 §7 */
#define H2_NO_ERROR 0x0u
#define H2_INTERNAL_ERROR 0x2u
#define H2_REFUSED_STREAM 0x7u

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_MAX_CONNS 1024u
#define DEFAULT_IDLE_TIMEOUT_S 60u

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

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
  int fd;
  /* The epoll events currently registered. */
  uint32_t events;
  /* The TLS session; NULL on the cleartext port. */
  tls *tls;
  /* The last TLS read or handshake step waits for the socket to be
   * writable. */
  int tls_want_write;
  /* ZTTP_HTTP1 or ZTTP_HTTP2; 0 until the preface or ALPN decided. */
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
  /* The stream table: 1 entry on HTTP/1.1, the concurrency limit on
   * HTTP/2. */
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
};

typedef struct listener {
  int fd;
  int tls;
} listener;

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
} options;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static void vlog(const server *s, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void vlog(const server *s, const char *fmt, ...) {
  va_list ap;
  if (!s->verbose) {
    return;
  }
  va_start(ap, fmt);
  fputs("zttp-server: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void now_update(server *s) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  s->now_ns = (zttp_tstamp)ts.tv_sec * 1000000000u + (zttp_tstamp)ts.tv_nsec;
  s->now = s->now_ns / 1000000u;
}

static int str_eq(zttp_str a, const char *b) {
  size_t n = strlen(b);
  return a.len == n && (n == 0 || memcmp(a.base, b, n) == 0);
}

static int str_caseeq(const char *a, size_t alen, const char *b) {
  size_t n = strlen(b);
  return alen == n && strncasecmp(a, b, n) == 0;
}

/* has_token says whether the comma-separated list |v| holds |token|
 * (case-insensitive, RFC 9110 §5.6.1). */
static int has_token(const char *v, size_t len, const char *token) {
  size_t i = 0;
  while (i < len) {
    size_t start;
    size_t end;
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) {
      i++;
    }
    start = i;
    while (i < len && v[i] != ',') {
      i++;
    }
    end = i;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) {
      end--;
    }
    if (end > start && str_caseeq(v + start, end - start, token)) {
      return 1;
    }
  }
  return 0;
}

/* Field names are sent in lower case: HTTP/2 requires it (RFC 9113
 * §8.2.1) and HTTP/1.1 does not care. */
static void set_header(zttp_header *h, const char *name, const char *value,
                       size_t value_len) {
  memset(h, 0, sizeof(*h));
  h->name = name;
  h->name_len = strlen(name);
  h->value = value;
  h->value_len = value_len;
}

static void update_date(server *s) {
  time_t t = time(NULL);
  struct tm tm;
  if (t == s->date_sec && s->date_len != 0) {
    return;
  }
  if (gmtime_r(&t, &tm) == NULL) {
    return;
  }
  /* RFC 9110 §5.6.7 IMF-fixdate; the C locale is never changed here. */
  s->date_len =
      strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  s->date_sec = t;
}

static const char *proto_name(const conn *c) {
  if (c->proto == ZTTP_HTTP2) {
    return c->tls != NULL ? "h2" : "h2c";
  }
  return "http/1.1";
}

/* ------------------------------------------------------------------------ */
/* Paths and files                                                          */
/* ------------------------------------------------------------------------ */

static int hex_value(unsigned char ch) {
  if (ch >= '0' && ch <= '9') {
    return ch - '0';
  }
  if (ch >= 'a' && ch <= 'f') {
    return ch - 'a' + 10;
  }
  if (ch >= 'A' && ch <= 'F') {
    return ch - 'A' + 10;
  }
  return -1;
}

/* decode_path percent-decodes the path of a request target into |out| as a
 * NUL-terminated string that starts with '/'. An absolute-form target
 * (RFC 9112 §3.2.2) loses its scheme and authority. Returns 0, or the HTTP
 * status to answer: 400 for a malformed path, a NUL byte or a ".." segment,
 * 414 when it does not fit. */
static unsigned decode_path(char *out, size_t outlen, zttp_str path) {
  const char *p = path.base;
  size_t n = path.len;
  size_t i = 0;
  size_t o = 0;

  if (n == 0) {
    return 400;
  }
  if (p[0] != '/') {
    /* scheme "://" authority [ path-abempty ] */
    while (i < n && (((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z') ||
                     (i > 0 && ((p[i] >= '0' && p[i] <= '9') || p[i] == '+' ||
                                p[i] == '-' || p[i] == '.')))) {
      i++;
    }
    if (i == 0 || n - i < 3 || memcmp(p + i, "://", 3) != 0) {
      return 400;
    }
    i += 3;
    while (i < n && p[i] != '/') {
      i++;
    }
    if (i == n) {
      out[0] = '/';
      out[1] = '\0';
      return 0;
    }
  }
  for (; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch == '%') {
      int hi = i + 2 < n ? hex_value((unsigned char)p[i + 1]) : -1;
      int lo = i + 2 < n ? hex_value((unsigned char)p[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return 400;
      }
      ch = (unsigned char)(hi << 4 | lo);
      i += 2;
    }
    if (ch == '\0') {
      return 400;
    }
    if (o + 1 >= outlen) {
      return 414;
    }
    out[o++] = (char)ch;
  }
  out[o] = '\0';

  /* No ".." segment, encoded or not. */
  for (const char *seg = out; *seg != '\0';) {
    const char *end = strchr(seg, '/');
    size_t len = end != NULL ? (size_t)(end - seg) : strlen(seg);
    if (len == 2 && seg[0] == '.' && seg[1] == '.') {
      return 400;
    }
    if (end == NULL) {
      break;
    }
    seg = end + 1;
  }
  return 0;
}

static const char *content_type(const char *name) {
  static const struct {
    const char *ext;
    const char *type;
  } types[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"txt", "text/plain; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"xml", "application/xml"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},
      {"pdf", "application/pdf"},
      {"woff2", "font/woff2"},
  };
  const char *slash = strrchr(name, '/');
  const char *dot = strrchr(slash != NULL ? slash + 1 : name, '.');
  if (dot != NULL) {
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
      if (strcasecmp(dot + 1, types[i].ext) == 0) {
        return types[i].type;
      }
    }
  }
  return "application/octet-stream";
}

static unsigned errno_status(int err) {
  switch (err) {
  case ENOENT:
  case ENOTDIR:
  case ELOOP:
    return 404;
  case EACCES:
  case EPERM:
    return 403;
  case ENAMETOOLONG:
    return 414;
  case EMFILE:
  case ENFILE:
  case ENOMEM:
    return 503;
  default:
    return 500;
  }
}

/* open_file opens the regular file |path| (decoded, starting with '/') names
 * under the root, or the index.html of the directory it names. On success it
 * returns 0 and sets |*fd|, |*st| and |*type|; otherwise it returns the HTTP
 * status to answer. Symbolic links are followed. */
static unsigned open_file(const server *s, int *fd, struct stat *st,
                          const char **type, const char *path) {
  const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  const char *rel = path;
  int f;

  while (*rel == '/') {
    rel++;
  }
  if (*rel == '\0') {
    rel = ".";
  }
  /* O_NONBLOCK: opening a FIFO must not block the server. */
  f = openat(s->rootfd, rel, flags);
  if (f < 0) {
    return errno_status(errno);
  }
  if (fstat(f, st) != 0) {
    unsigned status = errno_status(errno);
    close(f);
    return status;
  }
  *type = content_type(rel);
  if (S_ISDIR(st->st_mode)) {
    int index = openat(f, "index.html", flags);
    int err = errno;
    close(f);
    if (index < 0) {
      return errno_status(err);
    }
    f = index;
    if (fstat(f, st) != 0) {
      unsigned status = errno_status(errno);
      close(f);
      return status;
    }
    *type = content_type("index.html");
  }
  if (!S_ISREG(st->st_mode)) {
    close(f);
    return 404;
  }
  *fd = f;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Connection lists and timers                                              */
/* ------------------------------------------------------------------------ */

static void list_remove(conn *c) {
  conn_list *l = c->list;
  if (l == NULL) {
    return;
  }
  if (c->prev != NULL) {
    c->prev->next = c->next;
  } else {
    l->head = c->next;
  }
  if (c->next != NULL) {
    c->next->prev = c->prev;
  } else {
    l->tail = c->prev;
  }
  c->prev = c->next = NULL;
  c->list = NULL;
}

/* list_shift unlinks and returns the first connection of |l|, or NULL. */
static conn *list_shift(conn_list *l) {
  conn *c = l->head;
  if (c == NULL) {
    return NULL;
  }
  l->head = c->next;
  if (l->head != NULL) {
    l->head->prev = NULL;
  } else {
    l->tail = NULL;
  }
  c->next = NULL;
  c->list = NULL;
  return c;
}

static void list_append(conn_list *l, conn *c, uint64_t deadline) {
  list_remove(c);
  c->deadline = deadline;
  c->list = l;
  c->prev = l->tail;
  c->next = NULL;
  if (l->tail != NULL) {
    l->tail->next = c;
  } else {
    l->head = c;
  }
  l->tail = c;
}

/* touch restarts the idle timer of an active connection. */
static void touch(server *s, conn *c) {
  if (c->list == &s->active) {
    list_append(&s->active, c,
                s->idle_ms != 0 ? s->now + s->idle_ms : UINT64_MAX);
  }
}

/* listener_update enables accepting when there is room for a connection and
 * no descriptor shortage, and disables it otherwise. */
static void listener_update(server *s) {
  int want =
      !s->stop && s->num_conns < s->max_conns && s->now >= s->accept_resume;
  struct epoll_event ee;
  if (want == s->accepting) {
    return;
  }
  for (size_t i = 0; i < s->num_lis; i++) {
    memset(&ee, 0, sizeof(ee));
    ee.events = want ? EPOLLIN : 0;
    ee.data.ptr = &s->lis[i];
    if (s->lis[i].fd >= 0 &&
        epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lis[i].fd, &ee) != 0) {
      return;
    }
  }
  s->accepting = want;
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                  */
/* ------------------------------------------------------------------------ */

static stream *stream_find(conn *c, int64_t id) {
  for (size_t i = 0; i < c->num_slots; i++) {
    if (c->streams[i].used && c->streams[i].id == id) {
      return &c->streams[i];
    }
  }
  return NULL;
}

/* stream_new takes a free table entry for |id|, or returns NULL. */
static stream *stream_new(conn *c, int64_t id) {
  for (size_t i = 0; i < c->num_slots; i++) {
    stream *st = &c->streams[i];
    if (!st->used) {
      memset(st, 0, sizeof(*st));
      st->used = 1;
      st->id = id;
      st->file_fd = -1;
      return st;
    }
  }
  return NULL;
}

static void stream_free(stream *st) {
  if (st->file_fd >= 0) {
    close(st->file_fd);
  }
  free(st->echo);
  memset(st, 0, sizeof(*st));
  st->file_fd = -1;
}

/* stream_done frees the entry once the response is queued and the request
 * has ended. */
static void stream_done(stream *st) {
  if (st->used && st->resp == RESP_NONE && !st->req_open) {
    stream_free(st);
  }
}

static void streams_free(conn *c) {
  for (size_t i = 0; i < c->num_slots; i++) {
    stream_free(&c->streams[i]);
  }
  free(c->streams);
  c->streams = NULL;
  c->num_slots = 0;
}

/* conn_busy says whether some stream still has a response to queue. */
static int conn_busy(const conn *c) {
  for (size_t i = 0; i < c->num_slots; i++) {
    if (c->streams[i].used && c->streams[i].resp != RESP_NONE) {
      return 1;
    }
  }
  return 0;
}

/* h1_busy: on HTTP/1.1, no event is pulled while this holds (see the file
 * comment). */
static int h1_busy(const conn *c) {
  const stream *st = c->num_slots != 0 ? &c->streams[0] : NULL;
  return c->proto == ZTTP_HTTP1 && st != NULL && st->used &&
         (st->resp == RESP_FILE || st->resp == RESP_BUF || st->echo_len != 0);
}

/* echo_append keeps |len| bytes the engine did not take. */
static int echo_append(stream *st, const uint8_t *p, size_t len) {
  size_t need = st->echo_len + len;
  if (need > ECHO_MAX) {
    return -1;
  }
  if (st->echo_off != 0 && st->echo_off + need > st->echo_cap) {
    memmove(st->echo, st->echo + st->echo_off, st->echo_len);
    st->echo_off = 0;
  }
  if (need > st->echo_cap) {
    size_t cap = st->echo_cap != 0 ? st->echo_cap : 16384u;
    uint8_t *e;
    while (cap < need) {
      cap *= 2;
    }
    e = realloc(st->echo, cap);
    if (e == NULL) {
      return -1;
    }
    st->echo = e;
    st->echo_cap = cap;
  }
  memcpy(st->echo + st->echo_off + st->echo_len, p, len);
  st->echo_len += len;
  return 0;
}

/* consumed returns flow-control credit for |len| body bytes of |id|
 * (nothing on HTTP/1.1). Returns 0 or a negative zttp error. */
static int32_t consumed(conn *c, int64_t id, size_t len) {
  int32_t rv;
  if (len == 0) {
    return 0;
  }
  rv = zttp_conn_data_consumed(c->z, id, len);
  /* A stream that is gone needs no credit. */
  return rv == ZTTP_ERR_STREAM_NOT_FOUND ? 0 : rv;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void conn_close(server *s, conn *c) {
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
/* Responses                                                                */
/* ------------------------------------------------------------------------ */

/* common_headers adds date and server to |h| and returns how many. */
static size_t common_headers(server *s, zttp_header *h) {
  size_t n = 0;
  update_date(s);
  if (s->date_len != 0) {
    set_header(&h[n++], "date", s->date, s->date_len);
  }
  set_header(&h[n++], "server", s->server_name, s->server_name_len);
  return n;
}

static const char *status_body(unsigned status) {
  switch (status) {
  case 400:
    return "Bad Request\n";
  case 403:
    return "Forbidden\n";
  case 404:
    return "Not Found\n";
  case 405:
    return "Method Not Allowed\n";
  case 414:
    return "URI Too Long\n";
  case 503:
    return "Service Unavailable\n";
  default:
    return "Internal Server Error\n";
  }
}

/* close_if_body_unread: a client that waits for 100 Continue before sending
 * a body it announced will not send it now, so on HTTP/1.1 the connection
 * cannot carry another request (RFC 9110 §10.1.1). On HTTP/2 the stream
 * simply ends. */
static int32_t close_if_body_unread(conn *c, const request *rq) {
  if (c->proto == ZTTP_HTTP1 &&
      (rq->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) != 0 &&
      (rq->flags & ZTTP_EVENT_FLAG_END_STREAM) == 0) {
    return zttp_conn_close(c->z, 0, ZTTP_CLOSE_FLAG_GRACEFUL);
  }
  return 0;
}

/* respond_status answers |rq| with |status| and a short text body; |allow|
 * (may be NULL) becomes an allow field. Returns the result of
 * zttp_conn_send_response(). */
static int32_t respond_status(server *s, conn *c, stream *st, const request *rq,
                              unsigned status, const char *allow) {
  zttp_header h[MAX_RESPONSE_HEADERS];
  const char *body = status_body(status);
  size_t body_len = strlen(body);
  char clen[24];
  int head = str_eq(rq->method, "HEAD");
  size_t n = common_headers(s, h);
  int32_t rv;

  snprintf(clen, sizeof(clen), "%zu", body_len);
  set_header(&h[n++], "content-type", "text/plain; charset=utf-8",
             strlen("text/plain; charset=utf-8"));
  set_header(&h[n++], "content-length", clen, strlen(clen));
  if (allow != NULL) {
    set_header(&h[n++], "allow", allow, strlen(allow));
  }
  rv = close_if_body_unread(c, rq);
  if (rv != 0) {
    return rv;
  }
  rv = zttp_conn_send_response(c->z, st->id, status, NULL, 0, h, n,
                               head ? ZTTP_SEND_FLAG_END_STREAM : 0);
  if (rv == 0 && !head) {
    st->resp = RESP_BUF;
    st->body = body;
    st->body_left = body_len;
  }
  return rv;
}

static int32_t respond_file(server *s, conn *c, stream *st, const request *rq,
                            const char *path) {
  zttp_header h[MAX_RESPONSE_HEADERS];
  struct stat st_file;
  const char *type = NULL;
  char clen[24];
  int fd = -1;
  int head = str_eq(rq->method, "HEAD");
  unsigned status = open_file(s, &fd, &st_file, &type, path);
  size_t n;
  uint32_t flags;
  int32_t rv;

  if (status != 0) {
    return respond_status(s, c, st, rq, status, NULL);
  }
  n = common_headers(s, h);
  snprintf(clen, sizeof(clen), "%" PRIu64, (uint64_t)st_file.st_size);
  set_header(&h[n++], "content-type", type, strlen(type));
  set_header(&h[n++], "content-length", clen, strlen(clen));
  flags = head || st_file.st_size == 0 ? ZTTP_SEND_FLAG_END_STREAM : 0;
  rv = close_if_body_unread(c, rq);
  if (rv != 0) {
    close(fd);
    return rv;
  }
  rv = zttp_conn_send_response(c->z, st->id, 200, NULL, 0, h, n, flags);
  if (rv != 0 || flags != 0) {
    close(fd);
    return rv;
  }
  st->resp = RESP_FILE;
  st->file_fd = fd;
  st->file_off = 0;
  st->file_left = (uint64_t)st_file.st_size;
  return 0;
}

static int32_t respond_echo(server *s, conn *c, stream *st, const request *rq) {
  zttp_header h[MAX_RESPONSE_HEADERS];
  const char *type = "application/octet-stream";
  size_t type_len = strlen(type);
  int has_body = (rq->flags & ZTTP_EVENT_FLAG_END_STREAM) == 0;
  size_t n;
  int32_t rv;

  if (rq->content_type.base != NULL) {
    type = rq->content_type.base;
    type_len = rq->content_type.len;
  }
  /* RFC 9110 §10.1.1: an HTTP/1.0 client never waits for 100. */
  if (has_body && (rq->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) != 0 &&
      rq->http_version >= 11 && !st->sent_continue) {
    rv = zttp_conn_send_informational(c->z, st->id, 100, NULL, 0);
    if (rv != 0) {
      return rv;
    }
    st->sent_continue = 1;
  }
  n = common_headers(s, h);
  set_header(&h[n++], "content-type", type, type_len);
  /* No content-length: the engine frames the body (chunked on HTTP/1.1,
   * DATA frames on HTTP/2). */
  rv = zttp_conn_send_response(c->z, st->id, 200, NULL, 0, h, n,
                               has_body ? 0 : ZTTP_SEND_FLAG_END_STREAM);
  if (rv == ZTTP_ERR_INVALID_FIELD) {
    /* The serializer refuses some value the parser let in (obs-text). */
    set_header(&h[n - 1], "content-type", "application/octet-stream",
               strlen("application/octet-stream"));
    rv = zttp_conn_send_response(c->z, st->id, 200, NULL, 0, h, n,
                                 has_body ? 0 : ZTTP_SEND_FLAG_END_STREAM);
  }
  if (rv == 0 && has_body) {
    st->resp = RESP_ECHO;
  }
  return rv;
}

/* respond answers |rq| on |st|. Returns 0 or a zttp error
 * (ZTTP_ERR_BUFFER_FULL: retry once output drained). */
static int32_t respond(server *s, conn *c, stream *st, const request *rq) {
  char path[MAX_PATH_BYTES];
  unsigned status = decode_path(path, sizeof(path), rq->path);
  int is_echo = status == 0 && strcmp(path, "/echo") == 0;

  if (is_echo ? !str_eq(rq->method, "POST")
              : !str_eq(rq->method, "GET") && !str_eq(rq->method, "HEAD")) {
    return respond_status(s, c, st, rq, 405, is_echo ? "POST" : "GET, HEAD");
  }
  if (status != 0) {
    return respond_status(s, c, st, rq, status, NULL);
  }
  if (is_echo) {
    return respond_echo(s, c, st, rq);
  }
  return respond_file(s, c, st, rq, path);
}

/* stream_abort gives up on the response of |st|: HTTP/2 resets the stream;
 * on HTTP/1.1 the engine drops its unsent output and the connection closes
 * (a truncated response is all the peer can be told). */
static void stream_abort(server *s, conn *c, stream *st, const char *why) {
  int32_t rv;
  vlog(s, "fd %d: stream %" PRId64 ": response aborted: %s", c->fd, st->id,
       why);
  rv = zttp_conn_reset_stream(
      c->z, st->id, c->proto == ZTTP_HTTP2 ? H2_INTERNAL_ERROR : H2_NO_ERROR);
  stream_free(st);
  if (rv != 0 && rv != ZTTP_ERR_STREAM_NOT_FOUND) {
    c->dead = 1;
  }
}

/* stream_send_failed handles an error from a body send call on |st|. */
static void stream_send_failed(server *s, conn *c, stream *st, int64_t err) {
  if (err == ZTTP_ERR_STREAM_NOT_FOUND && c->proto == ZTTP_HTTP2) {
    /* The peer reset the stream; its event is still queued. */
    stream_free(st);
    return;
  }
  stream_abort(s, c, st, zttp_strerror((int32_t)err));
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

static void request_from_event(request *rq, const zttp_event *ev) {
  const zttp_request_event *r = &ev->u.request;
  memset(rq, 0, sizeof(*rq));
  rq->method = r->method;
  rq->target = r->target;
  rq->path = r->path;
  rq->flags = ev->flags;
  rq->http_version = r->http_version;
  for (size_t i = 0; i < r->num_headers; i++) {
    if (str_caseeq(r->headers[i].name, r->headers[i].name_len,
                   "content-type")) {
      rq->content_type.base = r->headers[i].value;
      rq->content_type.len = r->headers[i].value_len;
      break;
    }
  }
}

#define NOT_UPGRADE 2

/* try_upgrade accepts an "Upgrade: h2c" request (RFC 7540 §3.2): a cleartext
 * HTTP/1.1 request without a body, with one HTTP2-Settings field that the
 * Connection field names. It creates the HTTP/2 connection first (a malformed
 * HTTP2-Settings makes it fail, and the request is then answered on
 * HTTP/1.1), copies what the answer on stream 1 needs and queues the 101.
 * Returns 1 when the 101 is queued, 0 to retry once output drained,
 * NOT_UPGRADE, or a negative zttp error. */
static int try_upgrade(server *s, conn *c, const zttp_event *ev) {
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
static int conn_upgrade(server *s, conn *c, const zttp_event *ev) {
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

/* handle_request answers a request head. Returns 1 when done, 0 when it must
 * be retried once output drained, or a negative zttp error. */
static int handle_request(server *s, conn *c, const zttp_event *ev) {
  stream *st = stream_find(c, ev->stream_id);
  request rq;
  int32_t rv;

  if (c->proto == ZTTP_HTTP1) {
    int up;
    if (st != NULL && st->resp != RESP_NONE) {
      return 0; /* the previous response is still being sent */
    }
    up = try_upgrade(s, c, ev);
    if (up != NOT_UPGRADE) {
      return up;
    }
  }
  if (st == NULL) {
    st = stream_new(c, ev->stream_id);
    if (st == NULL) {
      /* More streams than the table holds: the engine enforces the same
       * limit, so this only happens if they disagree. */
      vlog(s, "fd %d: stream %" PRId64 ": refused", c->fd, ev->stream_id);
      rv = zttp_conn_reset_stream(c->z, ev->stream_id, H2_REFUSED_STREAM);
      return rv == ZTTP_ERR_STREAM_NOT_FOUND ? 1 : rv == 0 ? 1 : rv;
    }
  }
  request_from_event(&rq, ev);
  rv = respond(s, c, st, &rq);
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    return 0;
  }
  if (rv != 0 && c->proto == ZTTP_HTTP2 && !zttp_error_is_fatal(rv) &&
      rv != ZTTP_ERR_NOMEM) {
    /* A local error ends this stream only. */
    stream_abort(s, c, st, zttp_strerror(rv));
    return 1;
  }
  if (rv != 0) {
    return rv;
  }
  if (s->verbose) {
    vlog(s, "fd %d: %s stream %" PRId64 ": %.*s %.*s -> %s", c->fd,
         proto_name(c), st->id, (int)rq.method.len, rq.method.base,
         (int)rq.target.len, rq.target.base,
         st->resp == RESP_ECHO ? "echo" : "answered");
  }
  st->req_open = 1;
  return 1;
}

/* done maps the result of a call that ends an event's handling: 1 (done)
 * or a negative zttp error. */
static int done(int32_t rv) {
  return rv < 0 ? rv : 1;
}

/* handle_data echoes body data on an echo stream and drops it otherwise.
 * What the engine does not take waits in the stream's echo buffer; on
 * HTTP/2 its flow-control credit returns only as it is sent. Returns 1 or a
 * negative zttp error. */
static int handle_data(server *s, conn *c, const zttp_event *ev) {
  stream *st = stream_find(c, ev->stream_id);
  const uint8_t *p = ev->u.data.data;
  size_t len = ev->u.data.len;
  size_t sent = 0;

  if (st == NULL || st->resp != RESP_ECHO || st->echo_end) {
    /* The body of a request answered without it is dropped. */
    return done(consumed(c, ev->stream_id, len));
  }
  if (st->echo_len == 0 && len != 0) {
    int64_t n = zttp_conn_send_data(c->z, st->id, p, len, 0);
    if (n < 0) {
      stream_send_failed(s, c, st, n);
      return done(consumed(c, ev->stream_id, len));
    }
    sent = (size_t)n;
  }
  if (sent < len && echo_append(st, p + sent, len - sent) != 0) {
    stream_abort(s, c, st, "echo buffer full");
    return done(consumed(c, ev->stream_id, len));
  }
  return done(consumed(c, ev->stream_id, sent));
}

/* handle_event acts on c->ev. Returns 1 when it is done with it, 0 when it
 * must be retried once output drained, or a negative zttp error. */
static int handle_event(server *s, conn *c) {
  zttp_event *ev = &c->ev;
  stream *st;

  switch (ev->kind) {
  case ZTTP_EVENT_REQUEST:
    return handle_request(s, c, ev);
  case ZTTP_EVENT_DATA:
    return handle_data(s, c, ev);
  case ZTTP_EVENT_END_MESSAGE:
    /* The request of an accepted upgrade has no table entry. */
    st = stream_find(c, ev->stream_id);
    if (st != NULL) {
      st->req_open = 0;
      if (st->resp == RESP_ECHO) {
        st->echo_end = 1; /* conn_pump ends the response */
      }
      stream_done(st);
    }
    return 1;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    /* zttp_conn_should_close() is now 1. */
    if (ev->u.closed.error != 0) {
      vlog(s, "fd %d: closed: %s (wire error 0x%" PRIx64 ")", c->fd,
           zttp_strerror(ev->u.closed.error), ev->u.closed.wire_error_code);
    }
    return 1;
  case ZTTP_EVENT_UPGRADE:
    return conn_upgrade(s, c, ev);
  case ZTTP_EVENT_STREAM_RESET:
    vlog(s, "fd %d: stream %" PRId64 " reset by the peer (0x%" PRIx64 ")",
         c->fd, ev->stream_id, ev->u.reset.error_code);
    st = stream_find(c, ev->stream_id);
    if (st != NULL) {
      stream_free(st);
    }
    return 1;
  case ZTTP_EVENT_GOAWAY:
    vlog(s, "fd %d: GOAWAY (last stream %" PRId64 ", error 0x%" PRIx64 ")",
         c->fd, ev->u.goaway.last_stream_id, ev->u.goaway.error_code);
    return 1;
  case ZTTP_EVENT_SETTINGS:
    if (s->verbose) {
      for (size_t i = 0; i < ev->u.settings.num_settings; i++) {
        vlog(s, "fd %d: SETTINGS 0x%" PRIx64 " = %" PRIu64, c->fd,
             ev->u.settings.settings[i].id, ev->u.settings.settings[i].value);
      }
    }
    return 1;
  case ZTTP_EVENT_PING:
    vlog(s, "fd %d: PING%s", c->fd,
         (ev->flags & ZTTP_EVENT_FLAG_ACK) != 0 ? " ACK" : "");
    return 1;
  case ZTTP_EVENT_PRIORITY:
    vlog(s, "fd %d: stream %" PRId64 ": priority u=%u%s", c->fd, ev->stream_id,
         ev->u.priority.urgency, ev->u.priority.incremental ? ", i" : "");
    return 1;
  case ZTTP_EVENT_WINDOW_UPDATE:
    /* conn_pump offers the blocked bodies again. */
    return 1;
  default:
    return 1;
  }
}

/* conn_events handles the held event, if any, then pulls and handles events
 * until one must wait or none is ready. Returns 1 if anything happened, 0 if
 * not, or a negative zttp error. */
static int conn_events(server *s, conn *c) {
  int progress = 0;
  for (;;) {
    int rv;
    if (!c->held) {
      /* HTTP/1.1: while a file or a short body is being queued, the next
       * request is not parsed yet: a malformed one must not cut that
       * response short (a fatal error stops every send call). */
      if (h1_busy(c)) {
        return progress;
      }
      rv = zttp_conn_next_event(c->z, &c->ev);
      if (rv <= 0) {
        return rv < 0 ? rv : progress;
      }
      c->held = 1;
      progress = 1;
    }
    rv = handle_event(s, c);
    if (rv <= 0) {
      return rv < 0 ? rv : progress;
    }
    c->held = 0;
    progress = 1;
    if (c->dead) {
      return progress;
    }
  }
}

/* conn_fatal ends a connection after an engine error: a fatal one (the peer
 * broke the protocol) or a local one this server cannot recover from. On
 * HTTP/2 the engine has queued the GOAWAY the peer is owed. On HTTP/1.1,
 * unless a response to the current request already started, the engine
 * queues a last response that tells the peer why (after a fatal error it
 * still takes exactly that one). Then the connection closes. */
static void conn_fatal(server *s, conn *c, int32_t err) {
  const char *msg = NULL;
  uint64_t wire = 0;
  const stream *st = c->num_slots != 0 ? &c->streams[0] : NULL;
  /* A response to the current request already started. */
  int started =
      st != NULL && st->used && (st->resp != RESP_NONE || st->req_open);

  zttp_conn_last_error(c->z, &msg, &wire, NULL);
  vlog(s, "fd %d: %s (%s, wire error 0x%" PRIx64 ")", c->fd, zttp_strerror(err),
       msg != NULL ? msg : "", wire);
  c->fatal = 1;
  c->held = 0;
  if (c->proto != ZTTP_HTTP1) {
    for (size_t i = 0; i < c->num_slots; i++) {
      stream_free(&c->streams[i]);
    }
    return;
  }
  if (started || err == ZTTP_ERR_UNEXPECTED_EOF || err == ZTTP_ERR_NOMEM) {
    return;
  }
  uint32_t status = 400;
  if (!zttp_error_is_fatal(err)) {
    status = 500;
  } else if (err == ZTTP_ERR_LIMIT_START_LINE) {
    status = 414;
  } else if (err == ZTTP_ERR_LIMIT_HEADERS ||
             err == ZTTP_ERR_LIMIT_HEADER_BYTES) {
    status = 431;
  }
  static const zttp_header close_hdr[] = {{"connection", 10, "close", 5, 0, 0}};
  /* After a fatal error zttp adds Connection: close itself. */
  int32_t rv = zttp_conn_send_response(c->z, 0, status, NULL, 0, close_hdr,
                                       zttp_error_is_fatal(err) ? 0 : 1,
                                       ZTTP_SEND_FLAG_END_STREAM);
  if (rv != 0) {
    vlog(s, "fd %d: no error response: %s", c->fd, zttp_strerror(rv));
  }
}

/* stream_pump_body queues what the engine takes of a file or static body on
 * |st|. Returns 1 if it queued a full piece and could take more, else 0;
 * adds the bytes queued to |*total|. */
static int stream_pump_body(server *s, conn *c, stream *st, size_t *total) {
  int64_t win = zttp_conn_send_window(c->z, st->id);
  uint64_t left = st->resp == RESP_FILE ? st->file_left : st->body_left;
  const uint8_t *p;
  size_t want;
  int64_t n;

  if (win < 0) {
    stream_send_failed(s, c, st, win);
    return 0;
  }
  if (win == 0) {
    return 0;
  }
  want = (size_t)MIN((uint64_t)win, MIN(left, (uint64_t)IO_BUF_SIZE));
  if (st->resp == RESP_FILE) {
    ssize_t r;
    do {
      r = pread(st->file_fd, s->buf, want, (off_t)st->file_off);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
      stream_abort(s, c, st, r < 0 ? strerror(errno) : "file shrank");
      return 0;
    }
    want = (size_t)r;
    p = s->buf;
  } else {
    p = (const uint8_t *)st->body;
  }
  n = zttp_conn_send_data(c->z, st->id, p, want,
                          want == left ? ZTTP_SEND_FLAG_END_STREAM : 0);
  if (n < 0) {
    stream_send_failed(s, c, st, n);
    return 0;
  }
  *total += (size_t)n;
  if (st->resp == RESP_FILE) {
    st->file_off += (uint64_t)n;
    st->file_left -= (uint64_t)n;
    left = st->file_left;
  } else {
    st->body += n;
    st->body_left -= (size_t)n;
    left = st->body_left;
  }
  if (left == 0) {
    if (st->file_fd >= 0) {
      close(st->file_fd);
      st->file_fd = -1;
    }
    st->resp = RESP_NONE;
    stream_done(st);
    return 0;
  }
  return (size_t)n == want;
}

/* stream_pump_echo queues the echo bytes that wait and ends the response
 * once the request ended. Returns 1 if it did anything. */
static int stream_pump_echo(server *s, conn *c, stream *st, size_t *total) {
  int progress = 0;
  int32_t rv;

  if (st->echo_len != 0) {
    int64_t n = zttp_conn_send_data(c->z, st->id, st->echo + st->echo_off,
                                    st->echo_len, 0);
    if (n < 0) {
      stream_send_failed(s, c, st, n);
      return 1;
    }
    if (n == 0) {
      return 0;
    }
    *total += (size_t)n;
    progress = 1;
    st->echo_off += (size_t)n;
    st->echo_len -= (size_t)n;
    if (st->echo_len == 0) {
      st->echo_off = 0;
    }
    rv = consumed(c, st->id, (size_t)n);
    if (rv != 0) {
      c->dead = 1;
      return 1;
    }
    if (st->echo_len != 0) {
      return progress;
    }
  }
  if (st->echo_end) {
    rv = zttp_conn_end_message(c->z, st->id, NULL, 0);
    if (rv == ZTTP_ERR_BUFFER_FULL) {
      return progress;
    }
    if (rv != 0) {
      stream_send_failed(s, c, st, rv);
      return 1;
    }
    st->resp = RESP_NONE;
    stream_done(st);
    progress = 1;
  }
  return progress;
}

/* conn_pump queues response bodies, a piece per stream per round so that
 * HTTP/2 streams share the connection. Returns 1 if anything was queued. */
static int conn_pump(server *s, conn *c) {
  int progress = 0;
  int again = 1;

  while (again && !c->dead) {
    size_t total = 0;
    again = 0;
    for (size_t i = 0; i < c->num_slots && !c->dead; i++) {
      stream *st = &c->streams[i];
      if (!st->used) {
        continue;
      }
      switch (st->resp) {
      case RESP_FILE:
      case RESP_BUF:
        again |= stream_pump_body(s, c, st, &total);
        break;
      case RESP_ECHO:
        progress |= stream_pump_echo(s, c, st, &total);
        break;
      case RESP_NONE:
        break;
      }
    }
    if (total != 0) {
      progress = 1;
    }
  }
  return progress;
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
static void conn_drive(server *s, conn *c) {
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
static void conn_settle(server *s, conn *c) {
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

static void conn_on_event(server *s, conn *c, uint32_t revents) {
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

static void server_accept(server *s, const listener *l) {
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

/* ------------------------------------------------------------------------ */
/* The server                                                               */
/* ------------------------------------------------------------------------ */

static int server_timeout(const server *s) {
  uint64_t next = UINT64_MAX;
  if (s->active.head != NULL) {
    next = s->active.head->deadline;
  }
  if (s->lingering.head != NULL) {
    next = MIN(next, s->lingering.head->deadline);
  }
  if (!s->stop && !s->accepting && s->num_conns < s->max_conns) {
    next = MIN(next, s->accept_resume);
  }
  if (s->stop) {
    next = MIN(next, s->stop_deadline);
  }
  if (next == UINT64_MAX) {
    return -1;
  }
  if (next <= s->now) {
    return 0;
  }
  return (int)MIN(next - s->now, (uint64_t)INT32_MAX);
}

static void server_expire(server *s) {
  while (s->active.head != NULL && s->active.head->deadline <= s->now) {
    conn *c = list_shift(&s->active);
    vlog(s, "fd %d: idle timeout", c->fd);
    conn_close(s, c);
  }
  while (s->lingering.head != NULL && s->lingering.head->deadline <= s->now) {
    conn_close(s, list_shift(&s->lingering));
  }
  listener_update(s);
}

/* server_stop starts the graceful shutdown: no more connections, and every
 * connection finishes what it started (HTTP/2: GOAWAY; HTTP/1.1: the
 * response in progress, then close) within SHUTDOWN_MS. */
static void server_stop(server *s) {
  conn *c;
  conn *next;

  s->stop = 1;
  s->stop_deadline = s->now + SHUTDOWN_MS;
  for (size_t i = 0; i < s->num_lis; i++) {
    if (s->lis[i].fd >= 0) {
      close(s->lis[i].fd);
      s->lis[i].fd = -1;
    }
  }
  s->accepting = 0;
  while ((c = list_shift(&s->lingering)) != NULL) {
    conn_close(s, c);
  }
  for (c = s->active.head; c != NULL; c = next) {
    next = c->next;
    if (c->z != NULL && !c->fatal &&
        zttp_conn_close(c->z, 0, ZTTP_CLOSE_FLAG_GRACEFUL) != 0) {
      c->dead = 1;
    }
    conn_drive(s, c);
    conn_settle(s, c);
  }
}

static int server_run(server *s) {
  struct epoll_event evs[MAX_EPOLL_EVENTS];

  while (s->stop == 0 ||
         (s->stop == 1 && s->num_conns != 0 && s->now < s->stop_deadline)) {
    int n = epoll_wait(s->epfd, evs, MAX_EPOLL_EVENTS, server_timeout(s));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fprintf(stderr, "zttp-server: epoll_wait: %s\n", strerror(errno));
      return -1;
    }
    now_update(s);
    for (int i = 0; i < n; i++) {
      void *ptr = evs[i].data.ptr;
      if (ptr == &s->sfd) {
        struct signalfd_siginfo si;
        int got = 0;
        while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
          got = 1;
        }
        if (got && s->stop == 0) {
          server_stop(s);
          /* Connections were closed: other events of this batch may name
           * them. */
          break;
        }
        if (got) {
          s->stop = 2; /* a second signal: exit now */
        }
      } else if (ptr == &s->lis[0] || ptr == &s->lis[1]) {
        if (!s->stop) {
          server_accept(s, ptr);
        }
      } else {
        conn_on_event(s, ptr, evs[i].events);
      }
    }
    server_expire(s);
  }
  return 0;
}

static void server_free(server *s) {
  conn *c;
  while ((c = list_shift(&s->active)) != NULL) {
    conn_close(s, c);
  }
  while ((c = list_shift(&s->lingering)) != NULL) {
    conn_close(s, c);
  }
  for (size_t i = 0; i < s->num_lis; i++) {
    if (s->lis[i].fd >= 0) {
      close(s->lis[i].fd);
    }
  }
  if (s->sfd >= 0) {
    close(s->sfd);
  }
  if (s->epfd >= 0) {
    close(s->epfd);
  }
  if (s->rootfd >= 0) {
    close(s->rootfd);
  }
  zttp_config_free(s->cfg);
  zttp_config_free(s->tls_cfg);
  tls_ctx_free(s->tls);
  free(s->buf);
}

/* server_listen binds and listens on |port|, then prints the listening
 * line. */
static int server_listen(server *s, const options *o, const char *port,
                         int use_tls) {
  listener *l = &s->lis[s->num_lis];
  const char *scheme = use_tls ? "https" : "http";
  const char *protos = use_tls ? "h2, http/1.1" : "http/1.1";
  struct addrinfo hints;
  struct addrinfo *ai = NULL;
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof(ss);
  char host[INET6_ADDRSTRLEN];
  unsigned num;
  int one = 1;
  int rv;

  memset(&ss, 0, sizeof(ss));
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  rv = getaddrinfo(o->addr, port, &hints, &ai);
  if (rv != 0) {
    fprintf(stderr, "zttp-server: --addr %s: %s\n", o->addr, gai_strerror(rv));
    return -1;
  }
  l->tls = use_tls;
  l->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  s->num_lis++;
  if (l->fd < 0 ||
      setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(l->fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
      listen(l->fd, SOMAXCONN) != 0 ||
      getsockname(l->fd, (struct sockaddr *)&ss, &sslen) != 0) {
    fprintf(stderr, "zttp-server: listen on %s port %s: %s\n", o->addr, port,
            strerror(errno));
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
    num = ntohs(sin6->sin6_port);
    printf("listening %s://[%s]:%u (%s)\n", scheme, host, num, protos);
  } else {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
    num = ntohs(sin->sin_port);
    printf("listening %s://%s:%u (%s)\n", scheme, host, num, protos);
  }
  fflush(stdout);
  return 0;
}

/* raise_nofile lets the process hold a socket and a file per connection. */
static void raise_nofile(size_t max_conns) {
  struct rlimit rl;
  rlim_t want = (rlim_t)max_conns * 2 + 32;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) {
    return;
  }
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : MIN(want, rl.rlim_max);
  setrlimit(RLIMIT_NOFILE, &rl);
}

static int server_config(server *s) {
  uint64_t streams = 0;
  int32_t rv = zttp_config_new(&s->cfg, NULL);
  if (rv == 0) {
    rv = zttp_config_new(&s->tls_cfg, NULL);
  }
  if (rv == 0) {
    rv = zttp_config_set_option(s->tls_cfg, ZTTP_OPT_TLS, 1);
  }
  if (rv == 0) {
    rv = zttp_config_get_limit(s->cfg, &streams,
                               ZTTP_LIMIT_MAX_CONCURRENT_STREAMS);
  }
  if (rv != 0) {
    fprintf(stderr, "zttp-server: config: %s\n", zttp_strerror(rv));
    return -1;
  }
  s->max_streams = (size_t)MIN(MAX(streams, 1u), (uint64_t)MAX_STREAM_SLOTS);
  return 0;
}

static int server_init(server *s, const options *o) {
  struct epoll_event ee;
  sigset_t mask;
  struct sigaction sa;

  memset(s, 0, sizeof(*s));
  s->epfd = s->sfd = s->rootfd = -1;
  s->lis[0].fd = s->lis[1].fd = -1;
  s->max_conns = o->max_conns;
  s->idle_ms = o->idle_timeout_s * 1000u;
  s->verbose = o->verbose;
  s->accepting = 1;
  now_update(s);
  s->server_name_len = (size_t)snprintf(s->server_name, sizeof(s->server_name),
                                        "zttp/%s", zttp_version(NULL));
  if (s->server_name_len >= sizeof(s->server_name)) {
    s->server_name_len = sizeof(s->server_name) - 1;
  }

  s->rootfd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->rootfd < 0) {
    fprintf(stderr, "zttp-server: --root %s: %s\n", o->root, strerror(errno));
    return -1;
  }
  s->buf = malloc(IO_BUF_SIZE);
  if (s->buf == NULL) {
    fprintf(stderr, "zttp-server: out of memory\n");
    return -1;
  }
  if (server_config(s) != 0) {
    return -1;
  }
  if (o->tls_port != NULL) {
    char err[256];
    s->tls = tls_server_ctx_new(o->cert, o->key, err, sizeof(err));
    if (s->tls == NULL) {
      fprintf(stderr, "zttp-server: %s\n", err);
      return -1;
    }
  }

  /* SIGINT and SIGTERM arrive through a signalfd; SIGPIPE is ignored (send()
   * uses MSG_NOSIGNAL, but stdout may be a closed pipe, and BoringSSL writes
   * with plain write()). */
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) {
    fprintf(stderr, "zttp-server: sigprocmask: %s\n", strerror(errno));
    return -1;
  }
  s->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->sfd < 0 || s->epfd < 0) {
    fprintf(stderr, "zttp-server: %s: %s\n", s->sfd < 0 ? "signalfd" : "epoll",
            strerror(errno));
    return -1;
  }
  raise_nofile(s->max_conns);
  if (server_listen(s, o, o->port, 0) != 0 ||
      (o->tls_port != NULL && server_listen(s, o, o->tls_port, 1) != 0)) {
    return -1;
  }
  memset(&ee, 0, sizeof(ee));
  ee.events = EPOLLIN;
  ee.data.ptr = &s->sfd;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sfd, &ee) != 0) {
    fprintf(stderr, "zttp-server: epoll_ctl: %s\n", strerror(errno));
    return -1;
  }
  for (size_t i = 0; i < s->num_lis; i++) {
    ee.data.ptr = &s->lis[i];
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lis[i].fd, &ee) != 0) {
      fprintf(stderr, "zttp-server: epoll_ctl: %s\n", strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static void print_help(void) {
  printf(
      "Usage: zttp-server --root DIR --port N [OPTIONS]\n"
      "\n"
      "A single-threaded epoll HTTP/1.1 and HTTP/2 server built on zttp.\n"
      "\n"
      "  -r, --root DIR          serve the files under DIR (required)\n"
      "  -p, --port N            cleartext TCP port: HTTP/1.1, and HTTP/2\n"
      "                          (h2c) with prior knowledge or by\n"
      "                          \"Upgrade: h2c\"; 0 picks a free one\n"
      "                          (required)\n"
      "      --tls-port N        TLS port (ALPN h2, then http/1.1); 0 picks\n"
      "                          a free one; needs --cert and --key\n"
      "      --cert FILE         PEM certificate chain for --tls-port\n"
      "      --key FILE          PEM private key for --tls-port\n"
      "  -a, --addr ADDR         numeric IPv4 or IPv6 address to listen on\n"
      "                          (default " DEFAULT_ADDR ")\n"
      "  -m, --max-conns N       connections served at once; more wait in\n"
      "                          the listen backlog (default %u)\n"
      "  -t, --idle-timeout SEC  close a connection after SEC seconds "
      "without\n"
      "                          progress; 0 never (default %u)\n"
      "  -v, --verbose           log requests and connection errors to "
      "stderr\n"
      "  -V, --version           print the zttp version and exit\n"
      "  -h, --help              print this help and exit\n"
      "\n"
      "Requests:\n"
      "  GET, HEAD   the file the percent-decoded path names under DIR, or\n"
      "              the index.html of a directory (symbolic links are\n"
      "              followed); 404 if missing, 400 for a path with a \"..\"\n"
      "              segment or a NUL byte\n"
      "  POST /echo  the request body, streamed back (chunked on HTTP/1.1)\n"
      "  others      405 with Allow\n"
      "HTTP/1.1: keep-alive, pipelining and Expect: 100-continue are "
      "supported.\n"
      "HTTP/2: concurrent streams with flow control.\n"
      "\n"
      "Once listening, zttp-server prints one line per port to stdout:\n"
      "  listening http://ADDR:PORT (http/1.1)\n"
      "  listening https://ADDR:PORT (h2, http/1.1)     (with --tls-port)\n"
      "SIGINT or SIGTERM stops it gracefully (HTTP/2 GOAWAY; at most %u s)\n"
      "with exit status 0; a second signal stops it at once.\n",
      DEFAULT_MAX_CONNS, DEFAULT_IDLE_TIMEOUT_S, SHUTDOWN_MS / 1000u);
}

static int parse_uint(uint64_t *out, const char *arg, uint64_t max) {
  char *end;
  unsigned long long v;
  if (arg[0] < '0' || arg[0] > '9') {
    return -1;
  }
  errno = 0;
  v = strtoull(arg, &end, 10);
  if (errno != 0 || *end != '\0' || v > max) {
    return -1;
  }
  *out = v;
  return 0;
}

enum { OPT_TLS_PORT = 256, OPT_CERT, OPT_KEY };

/* parse_args fills |o|. Returns -1 to go on, else the exit status. */
static int parse_args(options *o, int argc, char **argv) {
  static const struct option longopts[] = {
      {"root", required_argument, NULL, 'r'},
      {"port", required_argument, NULL, 'p'},
      {"tls-port", required_argument, NULL, OPT_TLS_PORT},
      {"cert", required_argument, NULL, OPT_CERT},
      {"key", required_argument, NULL, OPT_KEY},
      {"addr", required_argument, NULL, 'a'},
      {"max-conns", required_argument, NULL, 'm'},
      {"idle-timeout", required_argument, NULL, 't'},
      {"verbose", no_argument, NULL, 'v'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  uint64_t v;
  int ch;

  memset(o, 0, sizeof(*o));
  o->addr = DEFAULT_ADDR;
  o->max_conns = DEFAULT_MAX_CONNS;
  o->idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
  while ((ch = getopt_long(argc, argv, "r:p:a:m:t:vVh", longopts, NULL)) !=
         -1) {
    switch (ch) {
    case 'r':
      o->root = optarg;
      break;
    case 'p':
    case OPT_TLS_PORT:
      if (parse_uint(&v, optarg, 65535) != 0) {
        fprintf(stderr, "zttp-server: --%s: not a port number: %s\n",
                ch == 'p' ? "port" : "tls-port", optarg);
        return 2;
      }
      if (ch == 'p') {
        o->port = optarg;
      } else {
        o->tls_port = optarg;
      }
      break;
    case OPT_CERT:
      o->cert = optarg;
      break;
    case OPT_KEY:
      o->key = optarg;
      break;
    case 'a':
      o->addr = optarg;
      break;
    case 'm':
      if (parse_uint(&v, optarg, 1u << 20) != 0 || v == 0) {
        fprintf(stderr, "zttp-server: --max-conns: want 1..%u: %s\n", 1u << 20,
                optarg);
        return 2;
      }
      o->max_conns = (size_t)v;
      break;
    case 't':
      if (parse_uint(&v, optarg, 86400u * 365u) != 0) {
        fprintf(stderr,
                "zttp-server: --idle-timeout: not a count of "
                "seconds: %s\n",
                optarg);
        return 2;
      }
      o->idle_timeout_s = v;
      break;
    case 'v':
      o->verbose = 1;
      break;
    case 'V':
      printf("zttp-server (zttp %s)\n", zttp_version(NULL));
      return 0;
    case 'h':
      print_help();
      return 0;
    default:
      fputs("Try 'zttp-server --help'.\n", stderr);
      return 2;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "zttp-server: unexpected argument: %s\n", argv[optind]);
    fputs("Try 'zttp-server --help'.\n", stderr);
    return 2;
  }
  if (o->root == NULL || o->port == NULL) {
    fprintf(stderr, "zttp-server: --root and --port are required\n");
    fputs("Try 'zttp-server --help'.\n", stderr);
    return 2;
  }
  if ((o->tls_port != NULL) != (o->cert != NULL && o->key != NULL) ||
      (o->tls_port == NULL && (o->cert != NULL || o->key != NULL))) {
    fprintf(stderr, "zttp-server: --tls-port, --cert and --key go together\n");
    fputs("Try 'zttp-server --help'.\n", stderr);
    return 2;
  }
  return -1;
}

int main(int argc, char **argv) {
  options o;
  server s;
  int rv = parse_args(&o, argc, argv);

  if (rv >= 0) {
    return rv;
  }
  if (server_init(&s, &o) != 0 || server_run(&s) != 0) {
    server_free(&s);
    return 1;
  }
  server_free(&s);
  return 0;
}
