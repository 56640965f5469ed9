/*
 * zttp-client: main, the command line, setup, URLs, outputs, and run(),
 * which fetches every URL on as many connections as it takes. See client.h
 * for what the client does and how the files divide the work.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define DEFAULT_TIMEOUT_S 60u

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

void vlog(const client *cl, const char *fmt, ...) {
  va_list ap;
  if (!cl->o.verbose) {
    return;
  }
  va_start(ap, fmt);
  fputs("zttp-client: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

zttp_tstamp now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (zttp_tstamp)ts.tv_sec * 1000000000u + (zttp_tstamp)ts.tv_nsec;
}

int wait_fd(int fd, short events, int timeout_ms) {
  struct pollfd pfd;
  int rv;
  pfd.fd = fd;
  pfd.events = events;
  pfd.revents = 0;
  do {
    rv = poll(&pfd, 1, timeout_ms);
  } while (rv < 0 && errno == EINTR);
  return rv;
}

/* ------------------------------------------------------------------------ */
/* URLs                                                                     */
/* ------------------------------------------------------------------------ */

/* parse_url splits http[s]://host[:port][/path][?query] (the fragment is
 * dropped). Returns 0 or -1 with a message in |err|. */
static int parse_url(url *u, const char *text, char *err, size_t errlen) {
  const char *p = strstr(text, "://");
  const char *auth;
  const char *end;
  const char *host_end;
  const char *port = NULL;
  size_t alen;
  size_t tlen;

  memset(u, 0, sizeof(*u));
  if (p == NULL) {
    snprintf(err, errlen, "not an http:// or https:// URL");
    return -1;
  }
  if ((size_t)(p - text) == 5 && strncasecmp(text, "https", 5) == 0) {
    u->https = 1;
  } else if ((size_t)(p - text) != 4 || strncasecmp(text, "http", 4) != 0) {
    snprintf(err, errlen, "unsupported scheme");
    return -1;
  }
  auth = p + 3;
  end = auth + strcspn(auth, "/?#");
  alen = (size_t)(end - auth);
  if (alen == 0 || alen >= sizeof(u->authority) ||
      memchr(auth, '@', alen) != NULL) {
    snprintf(err, errlen, "bad authority");
    return -1;
  }
  memcpy(u->authority, auth, alen);
  if (auth[0] == '[') {
    const char *rb = memchr(auth, ']', alen);
    if (rb == NULL || rb == auth + 1) {
      snprintf(err, errlen, "bad IPv6 literal");
      return -1;
    }
    memcpy(u->host, auth + 1, (size_t)(rb - auth - 1));
    host_end = rb + 1;
    if (host_end < end && *host_end != ':') {
      snprintf(err, errlen, "bad authority");
      return -1;
    }
  } else {
    host_end = memchr(auth, ':', alen);
    if (host_end == NULL) {
      host_end = end;
    }
    if (host_end == auth || (size_t)(host_end - auth) >= sizeof(u->host)) {
      snprintf(err, errlen, "bad host");
      return -1;
    }
    memcpy(u->host, auth, (size_t)(host_end - auth));
  }
  if (host_end < end) {
    port = host_end + 1;
    size_t plen = (size_t)(end - port);
    unsigned long v = 0;
    if (plen == 0 || plen > 5) {
      snprintf(err, errlen, "bad port");
      return -1;
    }
    for (size_t i = 0; i < plen; i++) {
      if (port[i] < '0' || port[i] > '9') {
        snprintf(err, errlen, "bad port");
        return -1;
      }
      v = v * 10 + (unsigned long)(port[i] - '0');
    }
    if (v == 0 || v > 65535) {
      snprintf(err, errlen, "bad port");
      return -1;
    }
    snprintf(u->port, sizeof(u->port), "%lu", v);
  } else {
    snprintf(u->port, sizeof(u->port), "%s", u->https ? "443" : "80");
  }
  tlen = strcspn(end, "#");
  u->target = malloc(tlen + 2);
  if (u->target == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (tlen == 0 || end[0] != '/') {
    u->target[0] = '/';
    memcpy(u->target + 1, end, tlen);
    u->target[tlen + 1] = '\0';
  } else {
    memcpy(u->target, end, tlen);
    u->target[tlen] = '\0';
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Running                                                                  */
/* ------------------------------------------------------------------------ */

/* run fetches every URL, on as many connections as it takes. */
static void run(client *cl) {
  while (count_state(cl, T_QUEUED) != 0) {
    session ss;
    char err[256] = "";

    memset(&ss, 0, sizeof(ss));
    ss.fd = -1;
    ss.queue = calloc(cl->num, sizeof(*ss.queue));
    if (ss.queue == NULL) {
      snprintf(err, sizeof(err), "out of memory");
    } else if (session_connect(cl, &ss, err, sizeof(err)) == 0) {
      if (ss.proto == ZTTP_HTTP3) {
        session_run_h3(cl, &ss);
      } else {
        session_run(cl, &ss);
      }
      session_end(cl, &ss);
      if (ss.completed != 0) {
        session_free(&ss);
        continue;
      }
      snprintf(err, sizeof(err), "%s",
               ss.why[0] != '\0' ? ss.why
                                 : "the connection closed without an answer");
    }
    /* No progress on this connection: give up on what is left. */
    for (size_t i = 0; i < cl->num; i++) {
      transfer *t = &cl->t[i];
      if (t->state == T_QUEUED) {
        transfer_fail(cl, t, "%s", err);
        transfer_report(cl, t, ss.proto_name != NULL ? ss.proto_name : "-");
      }
    }
    session_free(&ss);
  }
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static void print_help(void) {
  printf(
      "Usage: zttp-client [OPTIONS] URL...\n"
      "\n"
      "Fetches URLs over HTTP/1.1, HTTP/2 or HTTP/3 with zttp. All URLs must\n"
      "share scheme, host and port: they go over one connection (HTTP/2 and\n"
      "HTTP/3: concurrent streams; HTTP/1.1: pipelined, or one at a time\n"
      "with --data).\n"
      "\n"
      "      --http1         HTTP/1.1 only (https: ALPN offers http/1.1 "
      "only)\n"
      "      --http2         HTTP/2 only (http: prior knowledge; https: "
      "ALPN\n"
      "                      offers h2 only)\n"
      "      --h3, --http3   HTTP/3 over UDP (https:// only)\n"
      "                      Default: http:// HTTP/1.1; https:// ALPN h2,\n"
      "                      http/1.1\n"
      "      --cacert FILE   verify the server against the PEM CA bundle "
      "FILE\n"
      "                      (default: the system store in "
      "/etc/ssl/certs)\n"
      "  -k, --insecure      do not verify the server's certificate or name\n"
      "  -o, --output FILE   write the body to FILE (\"-\": stdout); give one\n"
      "                      -o per URL, in the order of the URLs\n"
      "  -n N                fetch every URL N times on the connection; the\n"
      "                      body of the first fetch is written, the others\n"
      "                      are counted and dropped (default 1)\n"
      "  -d, --data FILE     POST the contents of FILE to every URL\n"
      "                      (streamed with flow control)\n"
      "  -m, --timeout SEC   give up after SEC seconds without progress\n"
      "                      (default %u)\n"
      "  -v, --verbose       log the connection and response heads to "
      "stderr\n"
      "  -V, --version       print the zttp version and exit\n"
      "  -h, --help          print this help and exit\n"
      "\n"
      "Without -o every body goes to stdout, in the order of the URLs.\n"
      "For each URL one line \"URL STATUS BYTES PROTOCOL\" goes to stdout\n"
      "(to stderr when bodies go to stdout) once it is done; STATUS is 000\n"
      "when no complete response arrived. PROTOCOL is http/1.1, h2c, h2 or\n"
      "h3.\n"
      "Exit status: 0 if every URL got a final response and its whole body,\n"
      "1 if not, 2 for a usage error.\n",
      DEFAULT_TIMEOUT_S);
}

enum {
  OPT_HTTP1 = 256,
  OPT_HTTP2,
  OPT_HTTP3,
  OPT_CACERT,
};

/* parse_args fills |o|. Returns -1 to go on, else the exit status. */
static int parse_args(options *o, int argc, char **argv) {
  static const struct option longopts[] = {
      {"http1", no_argument, NULL, OPT_HTTP1},
      {"http1.1", no_argument, NULL, OPT_HTTP1},
      {"http2", no_argument, NULL, OPT_HTTP2},
      {"http3", no_argument, NULL, OPT_HTTP3},
      {"h3", no_argument, NULL, OPT_HTTP3},
      {"cacert", required_argument, NULL, OPT_CACERT},
      {"insecure", no_argument, NULL, 'k'},
      {"output", required_argument, NULL, 'o'},
      {"data", required_argument, NULL, 'd'},
      {"timeout", required_argument, NULL, 'm'},
      {"verbose", no_argument, NULL, 'v'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int ch;

  memset(o, 0, sizeof(*o));
  o->timeout_s = DEFAULT_TIMEOUT_S;
  o->repeat = 1;
  o->outs = calloc((size_t)argc, sizeof(*o->outs));
  if (o->outs == NULL) {
    fputs("zttp-client: out of memory\n", stderr);
    return 1;
  }
  while ((ch = getopt_long(argc, argv, "ko:d:m:n:vVh", longopts, NULL)) != -1) {
    switch (ch) {
    case OPT_HTTP1:
      o->proto = ZTTP_HTTP1;
      break;
    case OPT_HTTP2:
      o->proto = ZTTP_HTTP2;
      break;
    case OPT_HTTP3:
      o->proto = ZTTP_HTTP3;
      break;
    case OPT_CACERT:
      o->cacert = optarg;
      break;
    case 'k':
      o->insecure = 1;
      break;
    case 'o':
      o->outs[o->num_outs++] = optarg;
      break;
    case 'd':
      o->data = optarg;
      break;
    case 'm': {
      char *end;
      unsigned long long v;
      errno = 0;
      v = strtoull(optarg, &end, 10);
      if (optarg[0] < '0' || optarg[0] > '9' || errno != 0 || *end != '\0' ||
          v == 0 || v > 86400u) {
        fprintf(stderr, "zttp-client: --timeout: want 1..86400: %s\n", optarg);
        return 2;
      }
      o->timeout_s = v;
      break;
    }
    case 'n': {
      char *end;
      unsigned long long v;
      errno = 0;
      v = strtoull(optarg, &end, 10);
      if (optarg[0] < '0' || optarg[0] > '9' || errno != 0 || *end != '\0' ||
          v == 0 || v > 100000u) {
        fprintf(stderr, "zttp-client: -n: want 1..100000: %s\n", optarg);
        return 2;
      }
      o->repeat = v;
      break;
    }
    case 'v':
      o->verbose = 1;
      break;
    case 'V':
      printf("zttp-client (zttp %s)\n", zttp_version(NULL));
      return 0;
    case 'h':
      print_help();
      return 0;
    default:
      fputs("Try 'zttp-client --help'.\n", stderr);
      return 2;
    }
  }
  if (optind == argc) {
    fputs("zttp-client: no URL\nTry 'zttp-client --help'.\n", stderr);
    return 2;
  }
  if (o->num_outs != 0 && o->num_outs != (size_t)(argc - optind)) {
    fprintf(stderr,
            "zttp-client: %zu -o for %d URLs: give one -o per URL, or "
            "none\n",
            o->num_outs, argc - optind);
    return 2;
  }
  if (o->insecure && o->cacert != NULL) {
    fputs("zttp-client: --cacert and --insecure exclude each other\n", stderr);
    return 2;
  }
  return -1;
}

/* setup checks the URLs and opens what the transfers need. Returns 0, or
 * the exit status. */
static int setup(client *cl, char **urls) {
  char err[256];
  int to_stdout = 0;

  cl->t = calloc(cl->num, sizeof(*cl->t));
  cl->buf = malloc(IO_BUF_SIZE);
  if (cl->t == NULL || cl->buf == NULL) {
    fputs("zttp-client: out of memory\n", stderr);
    return 1;
  }
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    const char *text = urls[i % cl->num_urls];
    t->text = text;
    if (parse_url(&t->u, text, err, sizeof(err)) != 0) {
      fprintf(stderr, "zttp-client: %s: %s\n", text, err);
      return 2;
    }
    if (i > 0 && (t->u.https != cl->t[0].u.https ||
                  strcasecmp(t->u.host, cl->t[0].u.host) != 0 ||
                  strcmp(t->u.port, cl->t[0].u.port) != 0)) {
      fprintf(stderr,
              "zttp-client: %s: every URL must share the scheme, host and "
              "port of %s\n",
              text, urls[0]);
      return 2;
    }
  }
  if (cl->o.proto == ZTTP_HTTP3 && !cl->t[0].u.https) {
    fprintf(stderr, "zttp-client: %s: HTTP/3 needs an https:// URL\n", urls[0]);
    return 2;
  }
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    if (i >= cl->num_urls) {
      t->discard = 1;
      continue;
    }
    t->out_path = cl->o.num_outs != 0 ? cl->o.outs[i] : "-";
    if (strcmp(t->out_path, "-") == 0) {
      /* Bodies reach stdout in URL order: all but the first one to go
       * there wait in a temporary file. */
      if (to_stdout++ == 0) {
        t->out = stdout;
      } else {
        t->out = tmpfile();
        t->spooled = 1;
      }
    } else {
      t->out = fopen(t->out_path, "wb");
    }
    if (t->out == NULL) {
      fprintf(stderr, "zttp-client: %s: %s\n",
              t->spooled ? "tmpfile" : t->out_path, strerror(errno));
      return 1;
    }
  }
  cl->status_out = to_stdout ? stderr : stdout;
  cl->upfd = -1;
  if (cl->o.data != NULL) {
    struct stat st;
    cl->upfd = open(cl->o.data, O_RDONLY | O_CLOEXEC);
    if (cl->upfd < 0 || fstat(cl->upfd, &st) != 0 || !S_ISREG(st.st_mode)) {
      fprintf(stderr, "zttp-client: --data %s: %s\n", cl->o.data,
              cl->upfd < 0 ? strerror(errno) : "not a regular file");
      return 2;
    }
    cl->up_size = (uint64_t)st.st_size;
  }
  if (zttp_config_new(&cl->cfg, NULL) != 0 ||
      (cl->t[0].u.https &&
       zttp_config_set_option(cl->cfg, ZTTP_OPT_TLS, 1) != 0)) {
    fputs("zttp-client: zttp config failed\n", stderr);
    return 1;
  }
  if (cl->o.proto == ZTTP_HTTP3) {
    /* zttp's own TLS: SNI and verification against the URL's host. */
    const url *u = &cl->t[0].u;
    int32_t rv = zttp_config_set_server_name(cl->cfg, u->host, strlen(u->host));
    if (rv == 0 && cl->o.cacert != NULL) {
      rv = zttp_config_set_tls_ca(cl->cfg, cl->o.cacert, NULL);
    }
    if (rv == 0 && cl->o.insecure) {
      rv = zttp_config_set_tls_insecure_no_verify(cl->cfg, 1);
    }
    if (rv != 0) {
      fprintf(stderr, "zttp-client: HTTP/3 TLS setup: %s%s%s\n",
              zttp_strerror(rv), cl->o.cacert != NULL ? ": --cacert " : "",
              cl->o.cacert != NULL ? cl->o.cacert : "");
      return 1;
    }
  } else if (cl->t[0].u.https) {
    uint32_t alpn = cl->o.proto == ZTTP_HTTP1   ? TLS_ALPN_HTTP11
                    : cl->o.proto == ZTTP_HTTP2 ? TLS_ALPN_H2
                                                : TLS_ALPN_H2 | TLS_ALPN_HTTP11;
    cl->tls = tls_client_ctx_new(cl->o.cacert, cl->o.insecure, alpn, err,
                                 sizeof(err));
    if (cl->tls == NULL) {
      fprintf(stderr, "zttp-client: %s\n", err);
      return 1;
    }
  }
  return 0;
}

/* finish_outputs copies spooled bodies to stdout in URL order. Returns 0 or
 * -1. */
static int finish_outputs(client *cl) {
  int rv = 0;
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    if (t->out == NULL) {
      continue;
    }
    if (t->spooled) {
      size_t n;
      rewind(t->out);
      while ((n = fread(cl->buf, 1, IO_BUF_SIZE, t->out)) != 0) {
        if (fwrite(cl->buf, 1, n, stdout) != n) {
          rv = -1;
          break;
        }
      }
      fclose(t->out);
    } else if (t->out != stdout) {
      fclose(t->out);
    }
    t->out = NULL;
  }
  if (fflush(stdout) != 0) {
    rv = -1;
  }
  return rv;
}

static void client_free(client *cl) {
  for (size_t i = 0; cl->t != NULL && i < cl->num; i++) {
    if (cl->t[i].out != NULL && cl->t[i].out != stdout) {
      fclose(cl->t[i].out);
    }
    free(cl->t[i].u.target);
  }
  if (cl->upfd >= 0) {
    close(cl->upfd);
  }
  tls_ctx_free(cl->tls);
  zttp_config_free(cl->cfg);
  free(cl->t);
  free(cl->buf);
  free(cl->o.outs);
}

int main(int argc, char **argv) {
  client cl;
  struct sigaction sa;
  int rv;

  memset(&cl, 0, sizeof(cl));
  cl.upfd = -1;
  rv = parse_args(&cl.o, argc, argv);
  if (rv >= 0) {
    free(cl.o.outs);
    return rv;
  }
  /* BoringSSL writes to the socket with write(): a peer that is gone must
   * not kill the process. */
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);

  cl.num_urls = (size_t)(argc - optind);
  cl.num = cl.num_urls * (size_t)cl.o.repeat;
  rv = setup(&cl, argv + optind);
  if (rv == 0) {
    run(&cl);
    rv = count_state(&cl, T_DONE) == cl.num ? 0 : 1;
    if (finish_outputs(&cl) != 0) {
      fprintf(stderr, "zttp-client: writing stdout: %s\n", strerror(errno));
      rv = 1;
    }
  }
  client_free(&cl);
  return rv;
}
