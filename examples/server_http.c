/*
 * zttp-server: protocol-independent request handling. The same code answers
 * HTTP/1.1 (stream 0) and HTTP/2 (a table entry per stream): it pulls
 * events, answers requests (files under --root, POST /echo, errors), keeps
 * the stream table and queues response bodies as the engine takes them.
 * See server.h.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

/* Bytes of a percent-decoded request path, NUL included. */
#define MAX_PATH_BYTES 4096u
#define MAX_RESPONSE_HEADERS 8
/* Echoed body bytes one stream may hold back: more than the stream window
 * (HTTP/2) or one DATA event (HTTP/1.1) ever carries. */
#define ECHO_MAX (4u * 1024u * 1024u)

/* RFC 9113 §7 */
#define H2_NO_ERROR 0x0u
#define H2_INTERNAL_ERROR 0x2u
#define H2_REFUSED_STREAM 0x7u
/* RFC 9114 §8.1 */

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

int str_eq(zttp_str a, const char *b) {
  size_t n = strlen(b);
  return a.len == n && (n == 0 || memcmp(a.base, b, n) == 0);
}

int str_caseeq(const char *a, size_t alen, const char *b) {
  size_t n = strlen(b);
  return alen == n && strncasecmp(a, b, n) == 0;
}

/* has_token says whether the comma-separated list |v| holds |token|
 * (case-insensitive, RFC 9110 §5.6.1). */
int has_token(const char *v, size_t len, const char *token) {
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

const char *proto_name(const conn *c) {
  if (c->proto == ZTTP_HTTP3) {
    return "h3";
  }
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
stream *stream_new(conn *c, int64_t id) {
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

/* file_close drops |st|'s file and its mapping. */
static void file_close(stream *st) {
  if (st->file_map != NULL) {
    munmap(st->file_map, st->file_map_len);
    st->file_map = NULL;
  }
  if (st->file_fd >= 0) {
    close(st->file_fd);
    st->file_fd = -1;
  }
}

static void stream_free(stream *st) {
  file_close(st);
  free(st->echo);
  memset(st, 0, sizeof(*st));
  st->file_fd = -1;
}

/* stream_done frees the entry once the response is queued and the request
 * has ended. */
void stream_done(stream *st) {
  if (st->used && st->resp == RESP_NONE && !st->req_open) {
    stream_free(st);
  }
}

void streams_free(conn *c) {
  for (size_t i = 0; i < c->num_slots; i++) {
    stream_free(&c->streams[i]);
  }
  free(c->streams);
  c->streams = NULL;
  c->num_slots = 0;
}

/* conn_busy says whether some stream still has a response to queue. */
int conn_busy(const conn *c) {
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
/* Responses                                                                */
/* ------------------------------------------------------------------------ */

/* common_headers adds date and server to |h|, and on TLS connections the
 * alt-svc that announces HTTP/3 (RFC 9114 §3.1.1), and returns how many. */
static size_t common_headers(server *s, const conn *c, zttp_header *h) {
  size_t n = 0;
  update_date(s);
  if (s->date_len != 0) {
    set_header(&h[n++], "date", s->date, s->date_len);
  }
  set_header(&h[n++], "server", s->server_name, s->server_name_len);
  if (c->tls != NULL && s->alt_svc_len != 0) {
    set_header(&h[n++], "alt-svc", s->alt_svc, s->alt_svc_len);
  }
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
  size_t n = common_headers(s, c, h);
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
  n = common_headers(s, c, h);
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
  if (st->file_left >= MMAP_MIN_BYTES && st->file_left <= SIZE_MAX) {
    void *m = mmap(NULL, (size_t)st->file_left, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      madvise(m, (size_t)st->file_left, MADV_SEQUENTIAL);
      st->file_map = m;
      st->file_map_len = (size_t)st->file_left;
    }
  }
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
  n = common_headers(s, c, h);
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
int32_t respond(server *s, conn *c, stream *st, const request *rq) {
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

/* stream_abort gives up on the response of |st|: HTTP/2 and HTTP/3 reset
 * the stream;
 * on HTTP/1.1 the engine drops its unsent output and the connection closes
 * (a truncated response is all the peer can be told). */
static void stream_abort(server *s, conn *c, stream *st, const char *why) {
  int32_t rv;
  vlog(s, "%s: stream %" PRId64 ": response aborted: %s", c->name, st->id, why);
  rv = zttp_conn_reset_stream(c->z, st->id,
                              c->proto == ZTTP_HTTP3   ? ZTTP_H3_INTERNAL_ERROR
                              : c->proto == ZTTP_HTTP2 ? H2_INTERNAL_ERROR
                                                       : H2_NO_ERROR);
  stream_free(st);
  if (rv != 0 && rv != ZTTP_ERR_STREAM_NOT_FOUND) {
    c->dead = 1;
  }
}

/* stream_send_failed handles an error from a body send call on |st|. */
static void stream_send_failed(server *s, conn *c, stream *st, int64_t err) {
  if (err == ZTTP_ERR_STREAM_NOT_FOUND && c->proto != ZTTP_HTTP1) {
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
      vlog(s, "%s: stream %" PRId64 ": refused", c->name, ev->stream_id);
      rv = zttp_conn_reset_stream(c->z, ev->stream_id,
                                  c->proto == ZTTP_HTTP3
                                      ? ZTTP_H3_REQUEST_REJECTED
                                      : H2_REFUSED_STREAM);
      return rv == ZTTP_ERR_STREAM_NOT_FOUND ? 1 : rv == 0 ? 1 : rv;
    }
  }
  request_from_event(&rq, ev);
  rv = respond(s, c, st, &rq);
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    return 0;
  }
  if (rv != 0 && c->proto != ZTTP_HTTP1 && !zttp_error_is_fatal(rv) &&
      rv != ZTTP_ERR_NOMEM) {
    /* A local error ends this stream only. */
    stream_abort(s, c, st, zttp_strerror(rv));
    return 1;
  }
  if (rv != 0) {
    return rv;
  }
  if (s->verbose) {
    vlog(s, "%s: %s stream %" PRId64 ": %.*s %.*s -> %s", c->name,
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
      vlog(s, "%s: closed: %s (wire error 0x%" PRIx64 ")", c->name,
           zttp_strerror(ev->u.closed.error), ev->u.closed.wire_error_code);
    }
    return 1;
  case ZTTP_EVENT_UPGRADE:
    return conn_upgrade(s, c, ev);
  case ZTTP_EVENT_STREAM_RESET:
    vlog(s, "%s: stream %" PRId64 " reset by the peer (0x%" PRIx64 ")", c->name,
         ev->stream_id, ev->u.reset.error_code);
    st = stream_find(c, ev->stream_id);
    if (st != NULL) {
      stream_free(st);
    }
    return 1;
  case ZTTP_EVENT_GOAWAY:
    vlog(s, "%s: GOAWAY (last stream %" PRId64 ", error 0x%" PRIx64 ")",
         c->name, ev->u.goaway.last_stream_id, ev->u.goaway.error_code);
    return 1;
  case ZTTP_EVENT_SETTINGS:
    if (s->verbose) {
      for (size_t i = 0; i < ev->u.settings.num_settings; i++) {
        vlog(s, "%s: SETTINGS 0x%" PRIx64 " = %" PRIu64, c->name,
             ev->u.settings.settings[i].id, ev->u.settings.settings[i].value);
      }
    }
    return 1;
  case ZTTP_EVENT_PING:
    vlog(s, "%s: PING%s", c->name,
         (ev->flags & ZTTP_EVENT_FLAG_ACK) != 0 ? " ACK" : "");
    return 1;
  case ZTTP_EVENT_PRIORITY:
    vlog(s, "%s: stream %" PRId64 ": priority u=%u%s", c->name, ev->stream_id,
         ev->u.priority.urgency, ev->u.priority.incremental ? ", i" : "");
    return 1;
  case ZTTP_EVENT_WINDOW_UPDATE:
    /* conn_pump offers the blocked bodies again. */
    return 1;
  case ZTTP_EVENT_HANDSHAKE_DONE:
    vlog(s, "%s: QUIC handshake done", c->name);
    return 1;
  case ZTTP_EVENT_PATH: {
    /* The client moved (RFC 9000 §9): datagrams already go where
     * zttp_conn_write_datagram() says; this is for the log. */
    char a[64];
    vlog(s, "%s: path %s %s", c->name,
         ev->u.path.validated ? "validated:" : "changed, validating:",
         addr_str(a, sizeof(a), ev->u.path.path.remote));
    return 1;
  }
  default:
    return 1;
  }
}

/* keep_str copies |*str| to |*p| and points it there. */
static void keep_str(zttp_str *str, char **p) {
  if (str->base != NULL) {
    memcpy(*p, str->base, str->len);
    str->base = *p;
    *p += str->len;
  }
}

/* event_keep copies the strings of the held request event into memory the
 * connection owns (c->ev_copy), so that it stays valid however long it
 * waits. HTTP/3 needs it: the endpoint hands every datagram to the engine
 * at once, which ends the life of the event's pointers, while HTTP/1.1 and
 * HTTP/2 simply read no input while an event is held. Only a request head
 * is ever held. Returns 0 or -1. */
static int event_keep(conn *c) {
  zttp_request_event *r = &c->ev.u.request;
  zttp_str *strs[] = {&r->method,    &r->target, &r->path,    &r->query,
                      &r->authority, &r->scheme, &r->protocol};
  size_t size = r->num_headers * sizeof(zttp_header);
  zttp_header *h;
  char *p;

  if (c->ev_copy != NULL || c->ev.kind != ZTTP_EVENT_REQUEST) {
    return 0;
  }
  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
    size += strs[i]->len;
  }
  for (size_t i = 0; i < r->num_headers; i++) {
    size += r->headers[i].name_len + r->headers[i].value_len;
  }
  c->ev_copy = malloc(size != 0 ? size : 1);
  if (c->ev_copy == NULL) {
    return -1;
  }
  h = (zttp_header *)(void *)c->ev_copy;
  p = (char *)c->ev_copy + r->num_headers * sizeof(zttp_header);
  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
    keep_str(strs[i], &p);
  }
  for (size_t i = 0; i < r->num_headers; i++) {
    h[i] = r->headers[i];
    memcpy(p, h[i].name, h[i].name_len);
    h[i].name = p;
    p += h[i].name_len;
    memcpy(p, h[i].value, h[i].value_len);
    h[i].value = p;
    p += h[i].value_len;
  }
  r->headers = h;
  return 0;
}

/* event_release ends the held event. */
static void event_release(conn *c) {
  c->held = 0;
  free(c->ev_copy);
  c->ev_copy = NULL;
}

/* conn_events handles the held event, if any, then pulls and handles events
 * until one must wait or none is ready. Returns 1 if anything happened, 0 if
 * not, or a negative zttp error. */
int conn_events(server *s, conn *c) {
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
    if (rv == 0 && c->proto == ZTTP_HTTP3 && event_keep(c) != 0) {
      return ZTTP_ERR_NOMEM;
    }
    if (rv <= 0) {
      return rv < 0 ? rv : progress;
    }
    event_release(c);
    progress = 1;
    if (c->dead) {
      return progress;
    }
  }
}

/* conn_fatal ends a connection after an engine error: a fatal one (the peer
 * broke the protocol) or a local one this server cannot recover from. On
 * HTTP/2 the engine has queued the GOAWAY the peer is owed (HTTP/3: the
 * CONNECTION_CLOSE). On HTTP/1.1,
 * unless a response to the current request already started, the engine
 * queues a last response that tells the peer why (after a fatal error it
 * still takes exactly that one). Then the connection closes. */
void conn_fatal(server *s, conn *c, int32_t err) {
  const char *msg = NULL;
  uint64_t wire = 0;
  const stream *st = c->num_slots != 0 ? &c->streams[0] : NULL;
  /* A response to the current request already started. */
  int started =
      st != NULL && st->used && (st->resp != RESP_NONE || st->req_open);

  zttp_conn_last_error(c->z, &msg, &wire, NULL);
  vlog(s, "%s: %s (%s, wire error 0x%" PRIx64 ")", c->name, zttp_strerror(err),
       msg != NULL ? msg : "", wire);
  c->fatal = 1;
  event_release(c);
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
    vlog(s, "%s: no error response: %s", c->name, zttp_strerror(rv));
  }
}

/* ------------------------------------------------------------------------ */
/* Pumping bodies                                                           */
/* ------------------------------------------------------------------------ */

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
  if (st->resp == RESP_FILE && st->file_map != NULL) {
    want = (size_t)MIN((uint64_t)win, left);
    p = (const uint8_t *)st->file_map + st->file_off;
  } else if (st->resp == RESP_FILE) {
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
    file_close(st);
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
int conn_pump(server *s, conn *c) {
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
