/*
 * zttp-server: main, the command line, configuration, the listening
 * sockets, the epoll loop, connection lists and timers. See server.h for
 * what the server does and how the files divide the work.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

/* How long the connections get to finish after SIGINT or SIGTERM. */
#define SHUTDOWN_MS 3000u
#define MAX_EPOLL_EVENTS 256
/* HTTP/2 stream table entries at most, whatever the configured
 * ZTTP_LIMIT_MAX_CONCURRENT_STREAMS. */
#define MAX_STREAM_SLOTS 1024u

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_MAX_CONNS 1024u
#define DEFAULT_IDLE_TIMEOUT_S 60u

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

void vlog(const server *s, const char *fmt, ...) {
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

/* ------------------------------------------------------------------------ */
/* Connection lists and timers                                              */
/* ------------------------------------------------------------------------ */

void list_remove(conn *c) {
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

void list_append(conn_list *l, conn *c, uint64_t deadline) {
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
void touch(server *s, conn *c) {
  if (c->list == &s->active) {
    list_append(&s->active, c,
                s->idle_ms != 0 ? s->now + s->idle_ms : UINT64_MAX);
  }
}

/* listener_update enables accepting when there is room for a connection and
 * no descriptor shortage, and disables it otherwise. */
void listener_update(server *s) {
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
/* The server                                                               */
/* ------------------------------------------------------------------------ */

/* server_timeout says how long epoll may wait: NULL for ever, else |*ts|
 * (nanoseconds: QUIC pacing deadlines are finer than the milliseconds the
 * TCP timers use). */
static const struct timespec *server_timeout(const server *s,
                                             struct timespec *ts) {
  uint64_t next = UINT64_MAX; /* ms */
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
  uint64_t next_ns = next == UINT64_MAX ? UINT64_MAX : next * 1000000u;
  next_ns = MIN(next_ns, h3_next_deadline(s));
  if (next_ns == UINT64_MAX) {
    return NULL;
  }
  uint64_t wait = next_ns > s->now_ns ? next_ns - s->now_ns : 0;
  ts->tv_sec = (time_t)(wait / 1000000000u);
  ts->tv_nsec = (long)(wait % 1000000000u);
  return ts;
}

/* server_wait is epoll_pwait2() (a timeout in ns), or epoll_wait() (ms,
 * rounded up) where the kernel lacks it. */
static int server_wait(server *s, struct epoll_event *evs, int max) {
  struct timespec ts;
  const struct timespec *t = server_timeout(s, &ts);
  if (s->pwait2) {
    int n = epoll_pwait2(s->epfd, evs, max, t, NULL);
    if (n >= 0 || errno != ENOSYS) {
      return n;
    }
    s->pwait2 = 0;
  }
  int ms = -1;
  if (t != NULL) {
    uint64_t v = (uint64_t)t->tv_sec * 1000u +
                 ((uint64_t)t->tv_nsec + 999999u) / 1000000u;
    ms = (int)MIN(v, (uint64_t)INT32_MAX);
  }
  return epoll_wait(s->epfd, evs, max, ms);
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
 * connection finishes what it started (HTTP/2 and HTTP/3: GOAWAY; HTTP/1.1:
 * the response in progress, then close) within SHUTDOWN_MS. */
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
  h3_stop(s);
}

static int server_run(server *s) {
  struct epoll_event evs[MAX_EPOLL_EVENTS];

  while (s->stop == 0 || (s->stop == 1 && s->num_conns + h3_num_conns(s) != 0 &&
                          s->now < s->stop_deadline)) {
    int n = server_wait(s, evs, MAX_EPOLL_EVENTS);
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
      } else if (h3_is_socket(s, ptr)) {
        h3_on_event(s, evs[i].events);
      } else {
        conn_on_event(s, ptr, evs[i].events);
      }
    }
    server_expire(s);
    h3_expire(s);
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
  h3_free(s);
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

/* server_listen binds and listens on |port|. With TLS it also binds the UDP
 * socket of HTTP/3 to the same address and port number; if |port| is 0
 * and the number the kernel picked is taken for UDP, it tries another. Then
 * it prints the listening line. */
static int server_listen(server *s, const options *o, const char *port,
                         int use_tls) {
  listener *l = &s->lis[s->num_lis];
  const char *scheme = use_tls ? "https" : "http";
  const char *protos = use_tls ? "h2, http/1.1" : "http/1.1";
  struct addrinfo hints;
  struct addrinfo *ai = NULL;
  const struct sockaddr_storage *ss = &l->addr;
  char host[INET6_ADDRSTRLEN];
  unsigned num;
  int any_port = strtoul(port, NULL, 10) == 0;
  int one = 1;
  int rv;

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
  s->num_lis++;
  for (int attempt = 1;; attempt++) {
    l->addr_len = sizeof(l->addr);
    l->fd =
        socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0 ||
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(l->fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(l->fd, SOMAXCONN) != 0 ||
        getsockname(l->fd, (struct sockaddr *)&l->addr, &l->addr_len) != 0) {
      fprintf(stderr, "zttp-server: listen on %s port %s: %s\n", o->addr, port,
              strerror(errno));
      freeaddrinfo(ai);
      return -1;
    }
    if (!use_tls || h3_bind(s, l) == 0) {
      break;
    }
    if (errno != EADDRINUSE || !any_port || attempt == 16) {
      fprintf(stderr, "zttp-server: UDP (HTTP/3) on %s port %s: %s\n", o->addr,
              port, strerror(errno));
      freeaddrinfo(ai);
      return -1;
    }
    close(l->fd);
  }
  freeaddrinfo(ai);
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
    num = ntohs(sin6->sin6_port);
    printf("listening %s://[%s]:%u (%s)\n", scheme, host, num, protos);
  } else {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
    num = ntohs(sin->sin_port);
    printf("listening %s://%s:%u (%s)\n", scheme, host, num, protos);
  }
  fflush(stdout);
  if (use_tls) {
    /* RFC 9114 §3.1.1: HTTP/3 on the same port number. */
    s->alt_svc_len =
        (size_t)snprintf(s->alt_svc, sizeof(s->alt_svc), "h3=\":%u\"", num);
  }
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
  s->pwait2 = 1;
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
      (o->tls_port != NULL &&
       (server_listen(s, o, o->tls_port, 1) != 0 || h3_start(s, o) != 0))) {
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
      "A single-threaded epoll HTTP/1.1, HTTP/2 and HTTP/3 server built on\n"
      "zttp.\n"
      "\n"
      "  -r, --root DIR          serve the files under DIR (required)\n"
      "  -p, --port N            cleartext TCP port: HTTP/1.1, and HTTP/2\n"
      "                          (h2c) with prior knowledge or by\n"
      "                          \"Upgrade: h2c\"; 0 picks a free one\n"
      "                          (required)\n"
      "      --tls-port N        TLS port (ALPN h2, then http/1.1), and "
      "HTTP/3\n"
      "                          on UDP port N; 0 picks a free one; needs\n"
      "                          --cert and --key\n"
      "      --cert FILE         PEM certificate chain for --tls-port\n"
      "      --key FILE          PEM private key for --tls-port\n"
      "      --retry             HTTP/3: validate each new client's address\n"
      "                          with a Retry first\n"
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
      "HTTP/2 and HTTP/3: concurrent streams with flow control. TLS\n"
      "responses announce HTTP/3 with alt-svc.\n"
      "\n"
      "Once listening, zttp-server prints one line per port to stdout:\n"
      "  listening http://ADDR:PORT (http/1.1)\n"
      "  listening https://ADDR:PORT (h2, http/1.1)     (with --tls-port)\n"
      "  listening https://ADDR:PORT (h3, udp)          (with --tls-port)\n"
      "SIGINT or SIGTERM stops it gracefully (HTTP/2 and HTTP/3 GOAWAY; at\n"
      "most %u s)\n"
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

enum { OPT_TLS_PORT = 256, OPT_CERT, OPT_KEY, OPT_RETRY };

/* parse_args fills |o|. Returns -1 to go on, else the exit status. */
static int parse_args(options *o, int argc, char **argv) {
  static const struct option longopts[] = {
      {"root", required_argument, NULL, 'r'},
      {"port", required_argument, NULL, 'p'},
      {"tls-port", required_argument, NULL, OPT_TLS_PORT},
      {"cert", required_argument, NULL, OPT_CERT},
      {"key", required_argument, NULL, OPT_KEY},
      {"retry", no_argument, NULL, OPT_RETRY},
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
    case OPT_RETRY:
      o->retry = 1;
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
  if (o->retry && o->tls_port == NULL) {
    fprintf(stderr, "zttp-server: --retry needs --tls-port\n");
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
