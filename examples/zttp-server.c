/*
 * zttp-server: a single-threaded, non-blocking epoll HTTP/1.1 server built on
 * the public zttp API only.
 *
 *   zttp-server --root DIR --port N [--addr 127.0.0.1] [--max-conns N]
 *
 * GET and HEAD serve the files under --root, POST /echo streams the request
 * body back, anything else gets 405. Once listening it prints exactly one
 * line, "listening http://ADDR:PORT (http/1.1)", and it exits with status 0
 * on SIGINT or SIGTERM.
 *
 * The loop per connection: read from the socket -> zttp_conn_receive_data()
 * (what the engine does not take is kept and offered again later) -> pull
 * events with zttp_conn_next_event() and act on them -> write what
 * zttp_conn_pending() holds and zttp_conn_consume() it. While a file is
 * being queued no event is pulled, so a malformed pipelined request cannot
 * cut that response short. An event that cannot be acted on yet (body data
 * or a head the full output buffer cannot take) is kept, and neither
 * zttp_conn_receive_data() nor zttp_conn_next_event() is called until it is
 * handled: that keeps its pointers valid.
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
/* How long accepting pauses when the process is out of descriptors. */
#define ACCEPT_RETRY_MS 100u
#define MAX_EPOLL_EVENTS 256
/* Bytes of a percent-decoded request path, NUL included. */
#define MAX_PATH_BYTES 4096u
#define MAX_RESPONSE_HEADERS 8

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_MAX_CONNS 1024u
#define DEFAULT_IDLE_TIMEOUT_S 60u

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* What the connection is sending for the request it answers now. */
typedef enum resp_kind {
  RESP_NONE, /* nothing: the next request can be answered */
  RESP_BUF,  /* a short body held in static storage */
  RESP_FILE, /* a file body, read piece by piece */
  RESP_ECHO  /* the request body, as it arrives */
} resp_kind;

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
  /* NULL once the connection lingers. */
  zttp_conn *z;
  /* Received bytes the engine did not take yet: in[in_off, in_off+in_len). */
  uint8_t *in;
  size_t in_off;
  size_t in_len;
  /* The event being handled; see the file comment. */
  zttp_event ev;
  int held;
  /* Bytes of a held DATA event already echoed. */
  size_t ev_off;
  /* The response in progress. */
  resp_kind resp;
  int file_fd;
  uint64_t file_off;
  uint64_t file_left;
  const char *body;
  size_t body_left;
  /* A request head was handled and its END_MESSAGE has not arrived. */
  int req_open;
  /* 100 Continue was queued for the request being handled. */
  int sent_continue;
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

typedef struct server {
  int epfd;
  int lfd;
  int sfd;
  int rootfd;
  zttp_config *cfg;
  conn_list active;
  conn_list lingering;
  size_t num_conns;
  size_t max_conns;
  /* Idle timeout in ms; 0: none. */
  uint64_t idle_ms;
  /* The time of the last epoll_wait() return, ms of CLOCK_MONOTONIC. */
  uint64_t now;
  /* Accepting is paused until then after running out of descriptors. */
  uint64_t accept_resume;
  int accepting;
  int verbose;
  int stop;
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

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int str_eq(zttp_str a, const char *b) {
  size_t n = strlen(b);
  return a.len == n && (n == 0 || memcmp(a.base, b, n) == 0);
}

static int str_caseeq(const char *a, size_t alen, const char *b) {
  size_t n = strlen(b);
  return alen == n && strncasecmp(a, b, n) == 0;
}

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
  int want = s->num_conns < s->max_conns && s->now >= s->accept_resume;
  struct epoll_event ee;
  if (want == s->accepting) {
    return;
  }
  memset(&ee, 0, sizeof(ee));
  ee.events = want ? EPOLLIN : 0;
  ee.data.ptr = &s->lfd;
  if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ee) == 0) {
    s->accepting = want;
  }
}

static void conn_close(server *s, conn *c) {
  list_remove(c);
  /* close() drops the epoll registration: the descriptor is not shared. */
  close(c->fd);
  if (c->file_fd >= 0) {
    close(c->file_fd);
  }
  zttp_conn_free(c->z);
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

/* conn_linger ends a connection whose last response was written: it shuts
 * down the sending side and drops what the peer still sends for a while. */
static void conn_linger(server *s, conn *c) {
  if (c->rd_eof || shutdown(c->fd, SHUT_WR) != 0) {
    conn_close(s, c);
    return;
  }
  zttp_conn_free(c->z);
  c->z = NULL;
  free(c->in);
  c->in = NULL;
  c->in_len = 0;
  if (c->file_fd >= 0) {
    close(c->file_fd);
    c->file_fd = -1;
  }
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

/* common_headers adds Date and Server to |h| and returns how many. */
static size_t common_headers(server *s, zttp_header *h) {
  size_t n = 0;
  update_date(s);
  if (s->date_len != 0) {
    set_header(&h[n++], "Date", s->date, s->date_len);
  }
  set_header(&h[n++], "Server", s->server_name, s->server_name_len);
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

/* respond_status answers the current request with |status| and a short text
 * body; |allow| (may be NULL) becomes an Allow field. Returns the result of
 * zttp_conn_send_response(). */
static int32_t respond_status(server *s, conn *c, const zttp_event *ev,
                              unsigned status, const char *allow) {
  zttp_header h[MAX_RESPONSE_HEADERS];
  const char *body = status_body(status);
  size_t body_len = strlen(body);
  char clen[24];
  int head = str_eq(ev->u.request.method, "HEAD");
  size_t n = common_headers(s, h);
  int32_t rv;

  snprintf(clen, sizeof(clen), "%zu", body_len);
  set_header(&h[n++], "Content-Type", "text/plain; charset=utf-8",
             strlen("text/plain; charset=utf-8"));
  set_header(&h[n++], "Content-Length", clen, strlen(clen));
  if (allow != NULL) {
    set_header(&h[n++], "Allow", allow, strlen(allow));
  }
  /* A client that waits for 100 Continue before sending a body it announced
   * will not send it now: the connection cannot carry another request
   * (RFC 9110 §10.1.1). */
  if ((ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) != 0 &&
      (ev->flags & ZTTP_EVENT_FLAG_END_STREAM) == 0) {
    rv = zttp_conn_close(c->z, 0, ZTTP_CLOSE_FLAG_GRACEFUL);
    if (rv != 0) {
      return rv;
    }
  }
  rv = zttp_conn_send_response(c->z, 0, status, NULL, 0, h, n,
                               head ? ZTTP_SEND_FLAG_END_STREAM : 0);
  if (rv == 0 && !head) {
    c->resp = RESP_BUF;
    c->body = body;
    c->body_left = body_len;
  }
  return rv;
}

static int32_t respond_file(server *s, conn *c, const zttp_event *ev,
                            const char *path) {
  zttp_header h[MAX_RESPONSE_HEADERS];
  struct stat st;
  const char *type = NULL;
  char clen[24];
  int fd = -1;
  int head = str_eq(ev->u.request.method, "HEAD");
  unsigned status = open_file(s, &fd, &st, &type, path);
  size_t n;
  uint32_t flags;
  int32_t rv;

  if (status != 0) {
    return respond_status(s, c, ev, status, NULL);
  }
  n = common_headers(s, h);
  snprintf(clen, sizeof(clen), "%" PRIu64, (uint64_t)st.st_size);
  set_header(&h[n++], "Content-Type", type, strlen(type));
  set_header(&h[n++], "Content-Length", clen, strlen(clen));
  flags = head || st.st_size == 0 ? ZTTP_SEND_FLAG_END_STREAM : 0;
  if ((ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) != 0 &&
      (ev->flags & ZTTP_EVENT_FLAG_END_STREAM) == 0) {
    rv = zttp_conn_close(c->z, 0, ZTTP_CLOSE_FLAG_GRACEFUL);
    if (rv != 0) {
      close(fd);
      return rv;
    }
  }
  rv = zttp_conn_send_response(c->z, 0, 200, NULL, 0, h, n, flags);
  if (rv != 0 || flags != 0) {
    close(fd);
    return rv;
  }
  c->resp = RESP_FILE;
  c->file_fd = fd;
  c->file_off = 0;
  c->file_left = (uint64_t)st.st_size;
  return 0;
}

static int32_t respond_echo(server *s, conn *c, const zttp_event *ev) {
  const zttp_request_event *rq = &ev->u.request;
  zttp_header h[MAX_RESPONSE_HEADERS];
  const char *type = "application/octet-stream";
  size_t type_len = strlen(type);
  int has_body = (ev->flags & ZTTP_EVENT_FLAG_END_STREAM) == 0;
  size_t n;
  int32_t rv;

  for (size_t i = 0; i < rq->num_headers; i++) {
    if (str_caseeq(rq->headers[i].name, rq->headers[i].name_len,
                   "content-type")) {
      type = rq->headers[i].value;
      type_len = rq->headers[i].value_len;
      break;
    }
  }
  /* RFC 9110 §10.1.1: an HTTP/1.0 client never waits for 100. */
  if (has_body && (ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE) != 0 &&
      rq->http_version >= 11 && !c->sent_continue) {
    rv = zttp_conn_send_informational(c->z, 0, 100, NULL, 0);
    if (rv != 0) {
      return rv;
    }
    c->sent_continue = 1;
  }
  n = common_headers(s, h);
  set_header(&h[n++], "Content-Type", type, type_len);
  /* No Content-Length: the engine frames the body (chunked on HTTP/1.1). */
  rv = zttp_conn_send_response(c->z, 0, 200, NULL, 0, h, n,
                               has_body ? 0 : ZTTP_SEND_FLAG_END_STREAM);
  if (rv == ZTTP_ERR_INVALID_FIELD) {
    /* The serializer refuses some value the parser let in (obs-text). */
    set_header(&h[n - 1], "Content-Type", "application/octet-stream",
               strlen("application/octet-stream"));
    rv = zttp_conn_send_response(c->z, 0, 200, NULL, 0, h, n,
                                 has_body ? 0 : ZTTP_SEND_FLAG_END_STREAM);
  }
  if (rv == 0 && has_body) {
    c->resp = RESP_ECHO;
  }
  return rv;
}

/* handle_request answers a request head. Returns 1 when done, 0 when it must
 * be retried once output drained, or a negative zttp error. */
static int handle_request(server *s, conn *c, const zttp_event *ev) {
  const zttp_request_event *rq = &ev->u.request;
  char path[MAX_PATH_BYTES];
  unsigned status;
  int is_echo;
  int32_t rv;

  if (c->resp != RESP_NONE) {
    return 0; /* the previous response is still being sent */
  }
  status = decode_path(path, sizeof(path), rq->path);
  is_echo = status == 0 && strcmp(path, "/echo") == 0;
  if (is_echo ? !str_eq(rq->method, "POST")
              : !str_eq(rq->method, "GET") && !str_eq(rq->method, "HEAD")) {
    rv = respond_status(s, c, ev, 405, is_echo ? "POST" : "GET, HEAD");
  } else if (status != 0) {
    rv = respond_status(s, c, ev, status, NULL);
  } else if (is_echo) {
    rv = respond_echo(s, c, ev);
  } else {
    rv = respond_file(s, c, ev, path);
  }
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    return 0;
  }
  if (rv != 0) {
    return rv;
  }
  vlog(s, "fd %d: %.*s %.*s -> %s", c->fd, (int)rq->method.len, rq->method.base,
       (int)rq->target.len, rq->target.base,
       c->resp == RESP_ECHO ? "echo" : "answered");
  c->sent_continue = 0;
  c->req_open = 1;
  return 1;
}

/* handle_event acts on c->ev. Returns 1 when it is done with it, 0 when it
 * must be retried once output drained, or a negative zttp error. */
static int handle_event(server *s, conn *c) {
  zttp_event *ev = &c->ev;
  int32_t rv;

  switch (ev->kind) {
  case ZTTP_EVENT_REQUEST:
    return handle_request(s, c, ev);
  case ZTTP_EVENT_DATA:
    if (c->resp == RESP_ECHO) {
      size_t left = ev->u.data.len - c->ev_off;
      int64_t n =
          zttp_conn_send_data(c->z, 0, ev->u.data.data + c->ev_off, left, 0);
      if (n < 0) {
        return (int)n;
      }
      if ((size_t)n < left) {
        c->ev_off += (size_t)n;
        return 0;
      }
      c->ev_off = 0;
    }
    return 1; /* the body of a request answered without it is dropped */
  case ZTTP_EVENT_END_MESSAGE:
    if (c->resp == RESP_ECHO) {
      rv = zttp_conn_end_message(c->z, 0, NULL, 0);
      if (rv == ZTTP_ERR_BUFFER_FULL) {
        return 0;
      }
      if (rv != 0) {
        return rv;
      }
      c->resp = RESP_NONE;
    }
    c->req_open = 0;
    return 1;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    /* zttp_conn_should_close() is now 1. */
    return 1;
  case ZTTP_EVENT_UPGRADE:
    /* Never accepted here (no 101, CONNECT gets 405). */
    vlog(s, "fd %d: unexpected upgrade", c->fd);
    c->dead = 1;
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
      /* While a file or a short body is being queued, the next request is
       * not parsed yet: a malformed one must not cut that response short
       * (a fatal error stops every send call). */
      if (c->resp == RESP_FILE || c->resp == RESP_BUF) {
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
 * broke the protocol) or a local one this server cannot recover from. Unless
 * a response to the current request already started, the engine queues a
 * last response that tells the peer why (after a fatal error it still takes
 * exactly that one), then the connection closes. */
static void conn_fatal(server *s, conn *c, int32_t err) {
  const char *msg = NULL;
  zttp_conn_last_error(c->z, &msg, NULL, NULL);
  vlog(s, "fd %d: %s (%s)", c->fd, zttp_strerror(err), msg != NULL ? msg : "");
  c->fatal = 1;
  c->held = 0;
  if (c->resp != RESP_NONE || c->req_open || err == ZTTP_ERR_UNEXPECTED_EOF ||
      err == ZTTP_ERR_NOMEM) {
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
  static const zttp_header close_hdr[] = {{"Connection", 10, "close", 5, 0, 0}};
  /* After a fatal error zttp adds Connection: close itself. */
  int32_t rv = zttp_conn_send_response(c->z, 0, status, NULL, 0, close_hdr,
                                       zttp_error_is_fatal(err) ? 0 : 1,
                                       ZTTP_SEND_FLAG_END_STREAM);
  if (rv != 0) {
    vlog(s, "fd %d: no error response: %s", c->fd, zttp_strerror(rv));
  }
}

/* conn_abort gives up on the response in progress: the engine drops its
 * unsent output and the connection closes (a truncated response is all the
 * peer can be told). */
static void conn_abort(server *s, conn *c, const char *why) {
  vlog(s, "fd %d: response aborted: %s", c->fd, why);
  if (c->file_fd >= 0) {
    close(c->file_fd);
    c->file_fd = -1;
  }
  c->resp = RESP_NONE;
  if (zttp_conn_reset_stream(c->z, 0, 0) != 0) {
    c->dead = 1;
  }
}

/* conn_pump queues as much of a file or static body as the engine takes.
 * Returns the bytes queued. */
static size_t conn_pump(server *s, conn *c) {
  size_t total = 0;

  while (c->resp == RESP_FILE || c->resp == RESP_BUF) {
    int64_t win = zttp_conn_send_window(c->z, 0);
    const uint8_t *p;
    size_t want;
    uint64_t left = c->resp == RESP_FILE ? c->file_left : c->body_left;
    int64_t n;

    if (win < 0) {
      conn_abort(s, c, zttp_strerror((int32_t)win));
      break;
    }
    if (win == 0) {
      break;
    }
    want = (size_t)MIN((uint64_t)win, MIN(left, (uint64_t)IO_BUF_SIZE));
    if (c->resp == RESP_FILE) {
      ssize_t r = pread(c->file_fd, s->buf, want, (off_t)c->file_off);
      if (r < 0 && errno == EINTR) {
        continue;
      }
      if (r <= 0) {
        conn_abort(s, c, r < 0 ? strerror(errno) : "file shrank");
        break;
      }
      want = (size_t)r;
      p = s->buf;
    } else {
      p = (const uint8_t *)c->body;
    }
    n = zttp_conn_send_data(c->z, 0, p, want,
                            want == left ? ZTTP_SEND_FLAG_END_STREAM : 0);
    if (n < 0) {
      conn_abort(s, c, zttp_strerror((int32_t)n));
      break;
    }
    total += (size_t)n;
    if (c->resp == RESP_FILE) {
      c->file_off += (uint64_t)n;
      c->file_left -= (uint64_t)n;
      if (c->file_left == 0) {
        close(c->file_fd);
        c->file_fd = -1;
        c->resp = RESP_NONE;
      }
    } else {
      c->body += n;
      c->body_left -= (size_t)n;
      if (c->body_left == 0) {
        c->resp = RESP_NONE;
      }
    }
    if ((size_t)n < want) {
      break;
    }
  }
  return total;
}

/* conn_flush writes pending output. Returns the bytes written; sets
 * c->dead on a socket error. */
static size_t conn_flush(conn *c) {
  size_t total = 0;
  for (;;) {
    const uint8_t *p;
    size_t n = zttp_conn_pending(c->z, &p);
    ssize_t w;
    if (n == 0) {
      break;
    }
    w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        c->dead = 1;
      }
      break;
    }
    if (zttp_conn_consume(c->z, (size_t)w) != 0) {
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
static int64_t conn_offer(conn *c, const uint8_t *data, size_t len) {
  int64_t n = zttp_conn_receive_data(c->z, data, len);
  if (n < 0) {
    return n;
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

static void conn_read(server *s, conn *c) {
  ssize_t n;
  int64_t rv;

  if (c->held || c->in_len != 0 || c->rd_eof || c->fatal) {
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
  rv = conn_offer(c, s->buf, (size_t)n);
  if (rv < 0) {
    conn_fatal(s, c, (int32_t)rv);
  }
}

/* conn_drive moves a connection forward until it has to wait for the
 * socket. */
static void conn_drive(server *s, conn *c) {
  size_t written = 0;

  c->yield = 0;
  while (!c->dead) {
    int progress = 0;
    size_t w;

    if (!c->fatal && !c->held && c->in_len != 0) {
      int64_t n = zttp_conn_receive_data(c->z, c->in + c->in_off, c->in_len);
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
    if (!c->fatal) {
      int rv = conn_events(s, c);
      if (rv < 0) {
        conn_fatal(s, c, rv);
      } else if (rv > 0) {
        progress = 1;
      }
    }
    if (!c->fatal && !c->dead && conn_pump(s, c) > 0) {
      progress = 1;
    }
    if (c->dead) {
      break;
    }
    if (progress && !c->fatal) {
      /* Answer more pipelined requests before writing: one send() then
       * carries many small responses. */
      const uint8_t *p;
      if (zttp_conn_pending(c->z, &p) < FLUSH_THRESHOLD) {
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
  const uint8_t *p;
  uint32_t want = 0;

  if (c->dead) {
    conn_close(s, c);
    return;
  }
  pending = zttp_conn_pending(c->z, &p);
  if (pending == 0 && !c->yield &&
      (c->fatal || (zttp_conn_should_close(c->z) == 1 && !c->held &&
                    c->resp == RESP_NONE))) {
    conn_linger(s, c);
    return;
  }
  if (!c->fatal && !c->rd_eof && !c->held && c->in_len == 0) {
    want |= EPOLLIN;
  }
  if (pending != 0 || c->yield) {
    want |= EPOLLOUT;
  }
  if (want == 0) {
    /* Nothing could wake this connection up again. */
    vlog(s, "fd %d: stalled (resp %d, held %d, input %zu)", c->fd, (int)c->resp,
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
  if ((revents & EPOLLIN) != 0) {
    conn_read(s, c);
  }
  conn_drive(s, c);
  conn_settle(s, c);
}

/* ------------------------------------------------------------------------ */
/* Accepting                                                                */
/* ------------------------------------------------------------------------ */

static int conn_new(server *s, int fd) {
  conn *c = calloc(1, sizeof(*c));
  struct epoll_event ee;
  int one = 1;
  int32_t rv;

  if (c == NULL) {
    return -1;
  }
  c->fd = fd;
  c->file_fd = -1;
  rv = zttp_conn_new(&c->z, s->cfg, ZTTP_SERVER, ZTTP_HTTP1);
  if (rv != 0) {
    vlog(s, "zttp_conn_new: %s", zttp_strerror(rv));
    goto fail_zttp;
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
  zttp_conn_free(c->z);
fail_zttp:
  free(c);
  return -1;
}

static void server_accept(server *s) {
  while (s->num_conns < s->max_conns) {
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
    if (conn_new(s, fd) != 0) {
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
  if (!s->accepting && s->num_conns < s->max_conns) {
    next = MIN(next, s->accept_resume);
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

static int server_run(server *s) {
  struct epoll_event evs[MAX_EPOLL_EVENTS];

  while (!s->stop) {
    int n = epoll_wait(s->epfd, evs, MAX_EPOLL_EVENTS, server_timeout(s));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fprintf(stderr, "zttp-server: epoll_wait: %s\n", strerror(errno));
      return -1;
    }
    s->now = now_ms();
    for (int i = 0; i < n; i++) {
      void *ptr = evs[i].data.ptr;
      if (ptr == &s->sfd) {
        struct signalfd_siginfo si;
        while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
          s->stop = 1;
        }
      } else if (ptr == &s->lfd) {
        server_accept(s);
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
  if (s->lfd >= 0) {
    close(s->lfd);
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
  free(s->buf);
}

/* server_listen binds and listens, then prints the listening line. */
static int server_listen(server *s, const options *o) {
  struct addrinfo hints;
  struct addrinfo *ai = NULL;
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof(ss);
  char host[INET6_ADDRSTRLEN];
  unsigned port;
  int one = 1;
  int rv;

  memset(&ss, 0, sizeof(ss));
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  rv = getaddrinfo(o->addr, o->port, &hints, &ai);
  if (rv != 0) {
    fprintf(stderr, "zttp-server: --addr %s: %s\n", o->addr, gai_strerror(rv));
    return -1;
  }
  s->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->lfd < 0 ||
      setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(s->lfd, ai->ai_addr, ai->ai_addrlen) != 0 ||
      listen(s->lfd, SOMAXCONN) != 0 ||
      getsockname(s->lfd, (struct sockaddr *)&ss, &sslen) != 0) {
    fprintf(stderr, "zttp-server: listen on %s port %s: %s\n", o->addr, o->port,
            strerror(errno));
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
    port = ntohs(sin6->sin6_port);
    printf("listening http://[%s]:%u (http/1.1)\n", host, port);
  } else {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
    port = ntohs(sin->sin_port);
    printf("listening http://%s:%u (http/1.1)\n", host, port);
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

static int server_init(server *s, const options *o) {
  struct epoll_event ee;
  sigset_t mask;
  struct sigaction sa;
  int32_t rv;

  memset(s, 0, sizeof(*s));
  s->epfd = s->lfd = s->sfd = s->rootfd = -1;
  s->max_conns = o->max_conns;
  s->idle_ms = o->idle_timeout_s * 1000u;
  s->verbose = o->verbose;
  s->accepting = 1;
  s->now = now_ms();
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
  rv = zttp_config_new(&s->cfg, NULL);
  if (rv != 0) {
    fprintf(stderr, "zttp-server: zttp_config_new: %s\n", zttp_strerror(rv));
    return -1;
  }

  /* SIGINT and SIGTERM arrive through a signalfd; SIGPIPE is ignored (send()
   * uses MSG_NOSIGNAL, but stdout may be a closed pipe). */
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
  if (server_listen(s, o) != 0) {
    return -1;
  }
  memset(&ee, 0, sizeof(ee));
  ee.events = EPOLLIN;
  ee.data.ptr = &s->sfd;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sfd, &ee) != 0) {
    fprintf(stderr, "zttp-server: epoll_ctl: %s\n", strerror(errno));
    return -1;
  }
  ee.data.ptr = &s->lfd;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ee) != 0) {
    fprintf(stderr, "zttp-server: epoll_ctl: %s\n", strerror(errno));
    return -1;
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
      "A single-threaded epoll HTTP/1.1 server (cleartext TCP) built on "
      "zttp.\n"
      "\n"
      "  -r, --root DIR          serve the files under DIR (required)\n"
      "  -p, --port N            TCP port to listen on; 0 picks a free one\n"
      "                          (required)\n"
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
      "  POST /echo  the request body, streamed back (chunked)\n"
      "  others      405 with Allow\n"
      "Keep-alive, pipelining and Expect: 100-continue are supported.\n"
      "\n"
      "Once listening, zttp-server prints exactly one line to stdout:\n"
      "  listening http://ADDR:PORT (http/1.1)\n"
      "SIGINT or SIGTERM stops it with exit status 0.\n",
      DEFAULT_MAX_CONNS, DEFAULT_IDLE_TIMEOUT_S);
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

/* parse_args fills |o|. Returns -1 to go on, else the exit status. */
static int parse_args(options *o, int argc, char **argv) {
  static const struct option longopts[] = {
      {"root", required_argument, NULL, 'r'},
      {"port", required_argument, NULL, 'p'},
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
      if (parse_uint(&v, optarg, 65535) != 0) {
        fprintf(stderr, "zttp-server: --port: not a port number: %s\n", optarg);
        return 2;
      }
      o->port = optarg;
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
