/*
 * zttp-client: protocol-independent transfer handling. The same code serves
 * HTTP/1.1 (requests pipelined, answered in order), HTTP/2 and HTTP/3
 * (a stream per request): it sends the requests a connection may carry,
 * queues request bodies within the send windows, acts on events, and
 * finishes transfers, retrying those the server cannot have processed.
 * See client.h.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "client.h"

/* HTTP/1.1 requests sent ahead of their responses (below the engine's
 * ZTTP_LIMIT_H1_MAX_PIPELINE). */
#define H1_PIPELINE 16u
/* RFC 9113 §7 */
#define H2_REFUSED_STREAM 0x7u
/* RFC 9114 §8.1 */
/* RFC 9113 §6.5.2 */
#define H2_SETTINGS_MAX_CONCURRENT_STREAMS 0x3u

/* ------------------------------------------------------------------------ */
/* Transfers                                                                */
/* ------------------------------------------------------------------------ */

void transfer_report(client *cl, transfer *t, const char *proto) {
  if (t->state == T_DONE) {
    fprintf(cl->status_out, "%s %03u %" PRIu64 " %s\n", t->text, t->status,
            t->bytes, proto);
  } else {
    fprintf(cl->status_out, "%s 000 %" PRIu64 " %s\n", t->text, t->bytes,
            proto);
    fprintf(stderr, "zttp-client: %s: %s\n", t->text, t->err);
  }
  fflush(cl->status_out);
}

void transfer_fail(client *cl, transfer *t, const char *fmt, ...) {
  va_list ap;
  (void)cl;
  va_start(ap, fmt);
  vsnprintf(t->err, sizeof(t->err), fmt, ap);
  va_end(ap);
  t->state = T_FAILED;
}

size_t count_state(const client *cl, transfer_state st) {
  size_t n = 0;
  for (size_t i = 0; i < cl->num; i++) {
    n += cl->t[i].state == st;
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* Requests and uploads                                                     */
/* ------------------------------------------------------------------------ */

static void set_header(zttp_header *h, const char *name, const char *value) {
  memset(h, 0, sizeof(*h));
  h->name = name;
  h->name_len = strlen(name);
  h->value = value;
  h->value_len = strlen(value);
}

/* submit sends the requests the connection may carry now. Returns 0 or -1
 * after a fatal error. */
int submit(client *cl, session *ss) {
  size_t limit = ss->proto != ZTTP_HTTP1 ? (size_t)ss->max_streams
                 : cl->upfd >= 0         ? 1
                                         : H1_PIPELINE;
  char clen[24];
  char agent[48];

  if (ss->proto == ZTTP_HTTP3 && !ss->hs_done) {
    return 0; /* requests go once the QUIC handshake is done */
  }
  snprintf(clen, sizeof(clen), "%" PRIu64, cl->up_size);
  snprintf(agent, sizeof(agent), "zttp-client/%s", zttp_version(NULL));
  for (size_t i = 0; i < cl->num && !ss->no_more && ss->active < limit; i++) {
    transfer *t = &cl->t[i];
    zttp_header h[5];
    size_t n = 0;
    const char *method = cl->upfd >= 0 ? "POST" : "GET";
    uint32_t flags = 0;
    int64_t id;

    if (t->state != T_QUEUED) {
      continue;
    }
    set_header(&h[n++], "host", t->u.authority);
    set_header(&h[n++], "user-agent", agent);
    set_header(&h[n++], "accept", "*/*");
    if (cl->upfd >= 0) {
      set_header(&h[n++], "content-length", clen);
      set_header(&h[n++], "content-type", "application/octet-stream");
    }
    if (cl->upfd < 0 || cl->up_size == 0) {
      flags = ZTTP_SEND_FLAG_END_STREAM;
    }
    id = zttp_conn_send_request(ss->z, method, strlen(method), t->u.target,
                                strlen(t->u.target), h, n, flags);
    if (id == ZTTP_ERR_BUFFER_FULL) {
      break;
    }
    if (id == ZTTP_ERR_INVALID_STATE || id == ZTTP_ERR_CLOSED ||
        id == ZTTP_ERR_STREAM_LIMIT) {
      /* The engine's limit (HTTP/2: the server's
       * SETTINGS_MAX_CONCURRENT_STREAMS; HTTP/1.1: the pipeline) or the
       * connection is closing: the same code says both. With requests in
       * flight, try again once some finish; without, the rest go on a new
       * connection. */
      if (ss->active == 0 || id == ZTTP_ERR_CLOSED) {
        ss->no_more = 1;
      }
      break;
    }
    if (id < 0) {
      if (zttp_error_is_fatal((int32_t)id)) {
        return -1;
      }
      transfer_fail(cl, t, "request refused: %s", zttp_strerror((int32_t)id));
      transfer_report(cl, t, ss->proto_name);
      continue;
    }
    vlog(cl, "> %s %s (stream %" PRId64 ")", method, t->u.target, id);
    t->state = T_SENT;
    t->stream_id = id;
    t->up_off = 0;
    t->up_done = (flags & ZTTP_SEND_FLAG_END_STREAM) != 0;
    ss->active++;
    if (ss->proto == ZTTP_HTTP1) {
      ss->queue[(ss->q_head + ss->q_len) % cl->num] = i;
      ss->q_len++;
    }
  }
  return 0;
}

/* pump_uploads queues request body bytes as the send windows allow. Returns
 * 1 if anything was queued, 0 if not, -1 after a fatal error. */
int pump_uploads(client *cl, session *ss) {
  int progress = 0;
  if (cl->upfd < 0) {
    return 0;
  }
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    while (t->state == T_SENT && !t->up_done) {
      int64_t win = zttp_conn_send_window(ss->z, t->stream_id);
      uint64_t left = cl->up_size - t->up_off;
      size_t want;
      ssize_t r;
      int64_t n;

      if (win <= 0) {
        break; /* a stream the server reset reports it as an event */
      }
      want = (size_t)MIN((uint64_t)win, MIN(left, (uint64_t)IO_BUF_SIZE));
      do {
        r = pread(cl->upfd, cl->buf, want, (off_t)t->up_off);
      } while (r < 0 && errno == EINTR);
      if (r <= 0) {
        transfer_fail(cl, t, "--data: %s",
                      r < 0 ? strerror(errno) : "file shrank");
        zttp_conn_reset_stream(ss->z, t->stream_id, 0x8 /* CANCEL */);
        finish(cl, ss, t);
        if (ss->proto == ZTTP_HTTP1) {
          return -1; /* the connection cannot go on */
        }
        break;
      }
      want = (size_t)r;
      n = zttp_conn_send_data(ss->z, t->stream_id, cl->buf, want,
                              want == left ? ZTTP_SEND_FLAG_END_STREAM : 0);
      if (n < 0) {
        if (zttp_error_is_fatal((int32_t)n)) {
          return -1;
        }
        break;
      }
      if (n == 0) {
        break;
      }
      progress = 1;
      t->up_off += (uint64_t)n;
      if ((size_t)n == want && want == left) {
        t->up_done = 1;
      }
      if ((size_t)n < want) {
        break;
      }
    }
  }
  return progress;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

/* find returns the transfer a stream's event belongs to: the HTTP/2 stream,
 * or the oldest HTTP/1.1 request without its response. */
static transfer *find(client *cl, session *ss, int64_t stream_id) {
  if (ss->proto == ZTTP_HTTP1) {
    return ss->q_len != 0 ? &cl->t[ss->queue[ss->q_head]] : NULL;
  }
  for (size_t i = 0; i < cl->num; i++) {
    if (cl->t[i].state == T_SENT && cl->t[i].stream_id == stream_id) {
      return &cl->t[i];
    }
  }
  return NULL;
}

/* finish takes |t| off the connection once it is done or failed. */
void finish(client *cl, session *ss, transfer *t) {
  if (ss->proto == ZTTP_HTTP1 && ss->q_len != 0 &&
      &cl->t[ss->queue[ss->q_head]] == t) {
    ss->q_head = (ss->q_head + 1) % cl->num;
    ss->q_len--;
  }
  ss->active--;
  if (t->state == T_DONE) {
    ss->completed++;
  }
  if (t->out != NULL && !t->spooled && t->out != stdout) {
    if (fclose(t->out) != 0 && t->state == T_DONE) {
      transfer_fail(cl, t, "%s: %s", t->out_path, strerror(errno));
    }
    t->out = NULL;
  }
  transfer_report(cl, t, ss->proto_name);
}

static void log_head(client *cl, const zttp_event *ev) {
  const zttp_response_event *r = &ev->u.response;
  if (!cl->o.verbose) {
    return;
  }
  fprintf(stderr, "zttp-client: < %u (stream %" PRId64 ")\n", r->status,
          ev->stream_id);
  for (size_t i = 0; i < r->num_headers; i++) {
    fprintf(stderr, "zttp-client: < %.*s: %.*s\n", (int)r->headers[i].name_len,
            r->headers[i].name, (int)r->headers[i].value_len,
            r->headers[i].value);
  }
}

/* handle_event acts on one event. Returns 0 or -1 after a fatal error. */
int handle_event(client *cl, session *ss, const zttp_event *ev) {
  transfer *t;
  int32_t rv;

  switch (ev->kind) {
  case ZTTP_EVENT_RESPONSE:
    t = find(cl, ss, ev->stream_id);
    log_head(cl, ev);
    if (t == NULL || ev->u.response.status < 200) {
      return 0;
    }
    t->status = ev->u.response.status;
    t->got_any = 1;
    return 0;
  case ZTTP_EVENT_DATA:
    t = find(cl, ss, ev->stream_id);
    if (t != NULL && ev->u.data.len != 0) {
      t->got_any = 1;
      if (!t->discard && fwrite(ev->u.data.data, 1, ev->u.data.len, t->out) !=
                             ev->u.data.len) {
        transfer_fail(cl, t, "writing the body: %s", strerror(errno));
        if (ss->proto == ZTTP_HTTP1) {
          finish(cl, ss, t);
          return -1;
        }
        zttp_conn_reset_stream(ss->z, t->stream_id, 0x8 /* CANCEL */);
        finish(cl, ss, t);
      } else {
        t->bytes += ev->u.data.len;
      }
    }
    rv = zttp_conn_data_consumed(ss->z, ev->stream_id, ev->u.data.len);
    if (rv != 0 && rv != ZTTP_ERR_STREAM_NOT_FOUND) {
      return -1;
    }
    return 0;
  case ZTTP_EVENT_END_MESSAGE:
    t = find(cl, ss, ev->stream_id);
    if (t == NULL) {
      return 0;
    }
    if (t->status >= 200) {
      t->state = T_DONE;
    } else {
      transfer_fail(cl, t, "message ended without a final response");
    }
    finish(cl, ss, t);
    return 0;
  case ZTTP_EVENT_STREAM_RESET:
    t = find(cl, ss, ev->stream_id);
    vlog(cl, "stream %" PRId64 " reset (error 0x%" PRIx64 ")", ev->stream_id,
         ev->u.reset.error_code);
    if (t == NULL) {
      return 0;
    }
    if (ev->u.reset.error_code == (ss->proto == ZTTP_HTTP3
                                       ? ZTTP_H3_REQUEST_REJECTED
                                       : H2_REFUSED_STREAM) &&
        !t->got_any) {
      /* RFC 9113 §8.7, RFC 9114 §4.1.1: not processed; safe to send
       * again. */
      t->state = T_QUEUED;
      ss->active--;
      return 0;
    }
    transfer_fail(cl, t, "stream reset by the server (error 0x%" PRIx64 ")",
                  ev->u.reset.error_code);
    finish(cl, ss, t);
    return 0;
  case ZTTP_EVENT_GOAWAY:
    vlog(cl, "GOAWAY (last stream %" PRId64 ", error 0x%" PRIx64 ")",
         ev->u.goaway.last_stream_id, ev->u.goaway.error_code);
    ss->goaway = 1;
    ss->goaway_last = ev->u.goaway.last_stream_id;
    ss->no_more = 1;
    return 0;
  case ZTTP_EVENT_SETTINGS:
    for (size_t i = 0; i < ev->u.settings.num_settings; i++) {
      const zttp_setting *st = &ev->u.settings.settings[i];
      vlog(cl, "SETTINGS 0x%" PRIx64 " = %" PRIu64, st->id, st->value);
      if (ss->proto == ZTTP_HTTP2 &&
          st->id == H2_SETTINGS_MAX_CONCURRENT_STREAMS) {
        ss->max_streams = st->value != 0 ? st->value : 1;
      }
    }
    return 0;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    if (ev->u.closed.error != 0) {
      vlog(cl, "connection closed: %s (wire error 0x%" PRIx64 ")",
           zttp_strerror(ev->u.closed.error), ev->u.closed.wire_error_code);
    }
    ss->closed = 1;
    return 0;
  case ZTTP_EVENT_UPGRADE:
    /* No Upgrade or CONNECT is ever sent. */
    return -1;
  case ZTTP_EVENT_HANDSHAKE_DONE:
    vlog(cl, "QUIC handshake done");
    ss->hs_done = 1;
    return 0;
  case ZTTP_EVENT_PING:
  case ZTTP_EVENT_WINDOW_UPDATE:
  case ZTTP_EVENT_PRIORITY:
  default:
    return 0;
  }
}

/* ------------------------------------------------------------------------ */
/* The end of a connection                                                  */
/* ------------------------------------------------------------------------ */

/* session_fatal fails the transfers in flight after the engine's error. */
void session_fatal(client *cl, session *ss, int32_t err) {
  const char *msg = NULL;
  uint64_t wire = 0;
  zttp_conn_last_error(ss->z, &msg, &wire, NULL);
  snprintf(ss->why, sizeof(ss->why), "%s (%s, wire error 0x%" PRIx64 ")",
           zttp_strerror(err), msg != NULL ? msg : "", wire);
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    if (t->state == T_SENT) {
      transfer_fail(cl, t, "%s (%s, wire error 0x%" PRIx64 ")",
                    zttp_strerror(err), msg != NULL ? msg : "", wire);
      finish(cl, ss, t);
    }
  }
  ss->closed = 1;
}

/* session_end decides what happens to transfers still in flight when the
 * connection ended: sent again if the server cannot have processed them,
 * failed otherwise. */
void session_end(client *cl, session *ss) {
  for (size_t i = 0; i < cl->num; i++) {
    transfer *t = &cl->t[i];
    int retry;
    if (t->state != T_SENT) {
      continue;
    }
    if (ss->proto == ZTTP_HTTP2) {
      /* RFC 9113 §6.8: streams above the last one were not processed. */
      retry = ss->goaway && t->stream_id > ss->goaway_last && !t->got_any;
    } else if (ss->proto == ZTTP_HTTP3) {
      /* RFC 9114 §5.2: the GOAWAY names the first one not processed. */
      retry = ss->goaway && t->stream_id >= ss->goaway_last && !t->got_any;
    } else {
      /* RFC 9110 §9.2.2: an unanswered idempotent request may be retried. */
      retry = !t->got_any && cl->upfd < 0;
    }
    if (retry) {
      t->state = T_QUEUED;
      ss->active--;
    } else {
      transfer_fail(cl, t,
                    "connection closed before the response was "
                    "complete");
      finish(cl, ss, t);
    }
  }
}

void session_free(session *ss) {
  if (ss->tls != NULL) {
    tls_shutdown(ss->tls);
    tls_free(ss->tls);
  }
  if (ss->fd >= 0) {
    close(ss->fd);
  }
  zttp_conn_free(ss->z);
  free(ss->in);
  free(ss->queue);
}
