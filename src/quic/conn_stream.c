/* Streams (RFC 9000 §2-§3), their flow control (RFC 9000 §4) and the
 * application calls on them. Streams live in a flat array (a linear
 * lookup: bounded by the stream limits, fine at the default 100; a hash
 * comes with the HTTP/3 engine's larger limits).
 * SPDX-License-Identifier: MIT */
#include "quic/conn_internal.h"

#include <string.h>

#include "quic/error.h"

int qc_stream_is_local(const zttp_quic_conn *qc, uint64_t id) {
  /* RFC 9000 §2.1: bit 0 is 1 for server-initiated streams. */
  return (int)(id & 1) == (qc->role == ZTTP_SERVER);
}

qc_stream *qc_stream_find(const zttp_quic_conn *qc, uint64_t id) {
  for (size_t i = 0; i < qc->num_streams; i++) {
    if (qc->streams[i]->id == id) {
      return qc->streams[i];
    }
  }
  return NULL;
}

static int32_t stream_new(zttp_quic_conn *qc, qc_stream **out, uint64_t id) {
  if (qc->num_streams == qc->cap_streams) {
    size_t ncap = qc->cap_streams != 0 ? 2 * qc->cap_streams : 8;
    qc_stream **n =
        zttp_mem_realloc(qc->mem, qc->streams, ncap * sizeof(*qc->streams));
    if (n == NULL) {
      return ZTTP_ERR_NOMEM;
    }
    qc->streams = n;
    qc->cap_streams = ncap;
  }
  int local = qc_stream_is_local(qc, id);
  int uni = qc_stream_is_uni(id);
  size_t limit = !uni || local ? qc->s.stream_send_buffer : 0;
  qc_stream *st;
  if (qc->num_pool > 0) {
    /* A released stream: its buffers stay (zttp_quic_*buf_reuse). */
    st = qc->pool[--qc->num_pool];
    zttp_quic_sendbuf sb = st->sb;
    zttp_quic_recvbuf rb = st->rb;
    memset(st, 0, sizeof(*st));
    st->sb = sb;
    st->rb = rb;
    zttp_quic_sendbuf_reuse(&st->sb, qc->mem, limit, qc->s.max_stream_fragments,
                            QC_STREAM_POOL_KEEP);
    zttp_quic_recvbuf_reuse(&st->rb, qc->mem, qc->s.max_stream_fragments,
                            QC_STREAM_POOL_KEEP);
  } else {
    st = zttp_mem_calloc(qc->mem, 1, sizeof(*st));
    if (st == NULL) {
      return ZTTP_ERR_NOMEM;
    }
    zttp_quic_sendbuf_init(&st->sb, limit, qc->s.max_stream_fragments);
    zttp_quic_recvbuf_init(&st->rb, qc->s.max_stream_fragments);
  }
  st->id = id;
  st->has_send = !uni || local;
  st->has_recv = !uni || !local;
  st->max_recv = st->has_recv ? qc->s.max_stream_data : 0;
  st->win = qc->s.max_stream_data;
  st->win_time = qc->last_now;
  st->blocked_at = QC_NOT_BLOCKED;
  st->urgency = ZTTP_QUIC_DEFAULT_URGENCY;
  const zttp_quic_tparams *tp = &qc->peer_tp;
  /* RFC 9000 §18.2: the peer's limits as seen from its side. */
  st->max_send = !st->has_send ? 0
                 : uni         ? tp->initial_max_stream_data_uni
                 : local       ? tp->initial_max_stream_data_bidi_remote
                               : tp->initial_max_stream_data_bidi_local;
  st->readable_armed = 1;
  qc->streams[qc->num_streams++] = st;
  *out = st;
  return 0;
}

int32_t qc_stream_get(zttp_quic_conn *qc, qc_stream **out, uint64_t id,
                      uint64_t *qerr) {
  *out = qc_stream_find(qc, id);
  if (*out != NULL) {
    return 0;
  }
  size_t k = qc_stream_is_uni(id);
  uint64_t idx = id >> 2;
  if (qc_stream_is_local(qc, id)) {
    if (idx >= qc->local_opened[k]) {
      /* RFC 9000 §19.8: a local stream we have not opened. */
      *qerr = ZTTP_QUIC_ERR_STREAM_STATE_ERROR;
      return ZTTP_ERR_PROTOCOL;
    }
    return 0; /* closed */
  }
  if (idx >= qc->max_streams[k]) {
    *qerr = ZTTP_QUIC_ERR_STREAM_LIMIT_ERROR; /* RFC 9000 §4.6 */
    return ZTTP_ERR_PROTOCOL;
  }
  if (idx < qc->peer_opened[k]) {
    return 0; /* closed */
  }
  /* RFC 9000 §3.2: lower-numbered streams of the type open too. */
  while (qc->peer_opened[k] <= idx) {
    uint64_t sid = qc->peer_opened[k] << 2 | (id & 3);
    qc_stream *st;
    int32_t rv = stream_new(qc, &st, sid);
    if (rv != 0) {
      *qerr = ZTTP_QUIC_ERR_INTERNAL_ERROR;
      return rv;
    }
    st->ev_opened = 1;
    qc->peer_opened[k]++;
    *out = st;
  }
  return 0;
}

static void stream_destroy(zttp_quic_conn *qc, qc_stream *st) {
  zttp_quic_sendbuf_free(&st->sb, qc->mem);
  zttp_quic_recvbuf_free(&st->rb, qc->mem);
  zttp_mem_free(qc->mem, st);
}

/* A released stream goes to the pool (big buffers freed now) or away. */
static void stream_release(zttp_quic_conn *qc, qc_stream *st) {
  if (qc->num_pool == QC_STREAM_POOL) {
    stream_destroy(qc, st);
    return;
  }
  zttp_quic_sendbuf_reuse(&st->sb, qc->mem, 0, qc->s.max_stream_fragments,
                          QC_STREAM_POOL_KEEP);
  zttp_quic_recvbuf_reuse(&st->rb, qc->mem, qc->s.max_stream_fragments,
                          QC_STREAM_POOL_KEEP);
  qc->pool[qc->num_pool++] = st;
}

void qc_stream_maybe_release(zttp_quic_conn *qc, qc_stream *st) {
  int send_done = !st->has_send || zttp_quic_sendbuf_done(&st->sb) ||
                  (st->send_reset && st->reset_acked);
  int recv_done = !st->has_recv ||
                  (st->recv_reset ? !st->ev_reset
                                  : zttp_quic_recvbuf_done(&st->rb) &&
                                        !st->ev_readable && st->readable_armed);
  if (!send_done || !recv_done || st->ev_opened || st->ev_stop ||
      st->ev_writable) {
    return;
  }
  size_t i = 0;
  while (i < qc->num_streams && qc->streams[i] != st) {
    i++;
  }
  if (i == qc->num_streams) {
    return;
  }
  qc_stream_grant_rest(qc, st);
  qc->streams[i] = qc->streams[--qc->num_streams];
  if (qc->rr > qc->num_streams) {
    qc->rr = 0;
  }
  if (!qc_stream_is_local(qc, st->id)) {
    /* RFC 9000 §4.6: credit for one more peer stream; a churned one waits
     * for a token (zttp_quic_settings.reset_burst). */
    size_t k = qc_stream_is_uni(st->id);
    qc_churn_refill(qc, qc->last_now);
    if (st->churned && (qc->deferred_credit[0] + qc->deferred_credit[1] > 0 ||
                        qc->reset_tokens < ZTTP_QUIC_NS_PER_SEC)) {
      qc->deferred_credit[k]++;
      qc->st.credits_deferred++;
    } else {
      if (st->churned) {
        qc->reset_tokens -= ZTTP_QUIC_NS_PER_SEC;
      }
      qc->max_streams[k]++;
      qc->send_max_streams[k] = 1;
    }
  }
  stream_release(qc, st);
}

void qc_churn_refill(zttp_quic_conn *qc, zttp_tstamp now) {
  uint64_t cap = qc->s.reset_burst * ZTTP_QUIC_NS_PER_SEC;
  if (now > qc->reset_refill_at) {
    uint64_t dt = now - qc->reset_refill_at;
    uint64_t room = cap - qc->reset_tokens;
    /* dt * rate, saturating at the bucket's size (no overflow: dt is
     * bounded first) */
    if (dt > room / qc->s.reset_rate + 1) {
      qc->reset_tokens = cap;
    } else {
      qc->reset_tokens += dt * qc->s.reset_rate;
      if (qc->reset_tokens > cap) {
        qc->reset_tokens = cap;
      }
    }
    qc->reset_refill_at = now;
  }
  for (size_t k = 0; k < 2; k++) {
    while (qc->deferred_credit[k] > 0 &&
           qc->reset_tokens >= ZTTP_QUIC_NS_PER_SEC) {
      qc->reset_tokens -= ZTTP_QUIC_NS_PER_SEC;
      qc->deferred_credit[k]--;
      qc->max_streams[k]++;
      qc->send_max_streams[k] = 1;
    }
  }
}

zttp_tstamp qc_churn_timeout(const zttp_quic_conn *qc) {
  if (qc->deferred_credit[0] + qc->deferred_credit[1] == 0) {
    return ZTTP_TSTAMP_NEVER;
  }
  uint64_t need = ZTTP_QUIC_NS_PER_SEC - qc->reset_tokens; /* tokens < 1 */
  return qc->reset_refill_at + (need + qc->s.reset_rate - 1) / qc->s.reset_rate;
}

void qc_streams_free(zttp_quic_conn *qc) {
  for (size_t i = 0; i < qc->num_streams; i++) {
    stream_destroy(qc, qc->streams[i]);
  }
  for (size_t i = 0; i < qc->num_pool; i++) {
    stream_destroy(qc, qc->pool[i]);
  }
  qc->num_pool = 0;
  zttp_mem_free(qc->mem, qc->streams);
  qc->streams = NULL;
  qc->num_streams = qc->cap_streams = 0;
}

/* ---- application calls --------------------------------------------------- */

int64_t zttp_quic_conn_open_stream(zttp_quic_conn *qc, int bidi) {
  if (qc->state != QC_OPEN || !qc->hs_complete) {
    return ZTTP_ERR_INVALID_STATE;
  }
  size_t k = bidi ? 0 : 1;
  if (qc->local_opened[k] >= qc->peer_max_streams[k]) {
    /* RFC 9000 §4.6, §19.14: tell the peer, once per limit. */
    if (qc->streams_blocked_at[k] != qc->peer_max_streams[k]) {
      qc->streams_blocked_at[k] = qc->peer_max_streams[k];
      qc->send_streams_blocked[k] = 1;
    }
    return ZTTP_ERR_STREAM_LIMIT;
  }
  uint64_t id = qc->local_opened[k] << 2 | (uint64_t)(qc->role == ZTTP_SERVER) |
                (bidi ? 0u : 2u);
  qc_stream *st;
  int32_t rv = stream_new(qc, &st, id);
  if (rv != 0) {
    return rv;
  }
  qc->local_opened[k]++;
  return (int64_t)id;
}

int64_t zttp_quic_conn_stream_write(zttp_quic_conn *qc, uint64_t id,
                                    const uint8_t *data, size_t len, int fin) {
  qc_stream *st = qc_stream_find(qc, id);
  if (st == NULL) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  if (qc->state != QC_OPEN || !st->has_send || st->send_reset || st->sb.fin) {
    return ZTTP_ERR_INVALID_STATE;
  }
  int64_t took = zttp_quic_sendbuf_write(&st->sb, qc->mem, data, len, fin);
  if (took >= 0 && (size_t)took < len) {
    st->want_writable = 1;
  }
  return took;
}

int64_t zttp_quic_conn_stream_peek(zttp_quic_conn *qc, uint64_t id,
                                   const uint8_t **p, int *fin) {
  *p = NULL;
  *fin = 0;
  qc_stream *st = qc_stream_find(qc, id);
  if (st == NULL) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  if (!st->has_recv || st->recv_reset) {
    return ZTTP_ERR_INVALID_STATE;
  }
  size_t n = zttp_quic_recvbuf_peek(&st->rb, p);
  *fin = st->rb.final_size != ZTTP_QUIC_NO_FINAL_SIZE &&
         st->rb.base + n == st->rb.final_size;
  if (n == 0) {
    st->readable_armed = 1;
    if (*fin) {
      qc_stream_maybe_release(qc, st);
    }
  }
  return (int64_t)n;
}

/* Receive-window autotuning: a window whose half was used within two
 * smoothed RTTs of the last update limits the peer more than the path
 * does; it doubles, up to |ceiling| (zttp_quic_settings). */
static uint64_t autotune(const zttp_quic_conn *qc, uint64_t win,
                         uint64_t ceiling, zttp_tstamp since, zttp_tstamp now) {
  uint64_t srtt = qc->rec.rtt.smoothed;
  if (ceiling <= win || !qc->hs_complete || now < since ||
      now - since >= 2 * srtt) {
    return win;
  }
  return win <= ceiling / 2 ? 2 * win : ceiling;
}

/* RFC 9000 §4.2: |n| more bytes of |st| are done with: the windows move,
 * and a new limit is sent once half a window was used. */
static void grant(zttp_quic_conn *qc, qc_stream *st, uint64_t n) {
  st->credited += n;
  qc->data_read += n;
  zttp_tstamp now = qc->last_now;
  if (st->rb.final_size == ZTTP_QUIC_NO_FINAL_SIZE &&
      st->max_recv - st->credited < st->win / 2) {
    st->win =
        autotune(qc, st->win, qc->s.max_stream_data_window, st->win_time, now);
    st->win_time = now;
    if (st->credited + st->win <= ZTTP_VARINT_MAX) {
      st->max_recv = st->credited + st->win;
      st->send_msd = 1;
    }
    /* The connection window stays above 1.5 stream windows. */
    uint64_t floor = st->win + st->win / 2;
    uint64_t cmax = qc->s.max_data_window > qc->s.max_data
                        ? qc->s.max_data_window
                        : qc->s.max_data;
    if (qc->win < floor) {
      qc->win = floor < cmax ? floor : cmax;
    }
  }
  if (qc->max_data - qc->data_read < qc->win / 2) {
    qc->win = autotune(qc, qc->win, qc->s.max_data_window, qc->win_time, now);
    qc->win_time = now;
    if (qc->data_read + qc->win <= ZTTP_VARINT_MAX) {
      qc->max_data = qc->data_read + qc->win;
      qc->send_max_data = 1;
    }
  }
}

void qc_stream_grant_rest(zttp_quic_conn *qc, qc_stream *st) {
  /* What was read but not credited: the stream needs no more credit, the
   * connection gets it back. */
  qc->data_read += st->rb.base - st->credited;
  st->credited = st->rb.base;
}

int32_t zttp_quic_conn_stream_consume(zttp_quic_conn *qc, uint64_t id,
                                      size_t n) {
  qc_stream *st = qc_stream_find(qc, id);
  if (st == NULL) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  const uint8_t *p;
  if (!st->has_recv || st->recv_reset ||
      n > zttp_quic_recvbuf_peek(&st->rb, &p)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_quic_recvbuf_consume(&st->rb, n);
  if (!qc->s.manual_credit) {
    grant(qc, st, n);
  }
  if (zttp_quic_recvbuf_peek(&st->rb, &p) == 0) {
    st->readable_armed = 1;
    qc_stream_maybe_release(qc, st);
  }
  return 0;
}

int32_t zttp_quic_conn_stream_credit(zttp_quic_conn *qc, uint64_t id,
                                     size_t n) {
  qc_stream *st = qc_stream_find(qc, id);
  if (st == NULL) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  if (!st->has_recv || n > st->rb.base - st->credited) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  grant(qc, st, n);
  return 0;
}

size_t zttp_quic_conn_stream_room(const zttp_quic_conn *qc, uint64_t id) {
  const qc_stream *st = qc_stream_find(qc, id);
  if (st == NULL || !st->has_send || st->send_reset || st->sb.fin ||
      qc->state != QC_OPEN) {
    return 0;
  }
  return zttp_quic_sendbuf_room(&st->sb);
}

uint64_t zttp_quic_conn_stream_unacked(const zttp_quic_conn *qc, uint64_t id) {
  const qc_stream *st = qc_stream_find(qc, id);
  return st != NULL && st->has_send ? st->sb.written - st->sb.base : 0;
}

size_t zttp_quic_conn_num_streams(const zttp_quic_conn *qc, int bidi) {
  size_t n = 0;
  for (size_t i = 0; i < qc->num_streams; i++) {
    n += qc_stream_is_uni(qc->streams[i]->id) != (bidi != 0);
  }
  return n;
}

int32_t zttp_quic_conn_stream_set_priority(zttp_quic_conn *qc, uint64_t id,
                                           uint32_t urgency,
                                           uint32_t incremental) {
  if (urgency > ZTTP_QUIC_MAX_URGENCY || incremental > 1) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  qc_stream *st = qc_stream_find(qc, id);
  if (st == NULL) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  st->urgency = (uint8_t)urgency;
  st->incremental = (uint8_t)incremental;
  return 0;
}

int32_t zttp_quic_conn_stream_reset(zttp_quic_conn *qc, uint64_t id,
                                    uint64_t error_code) {
  qc_stream *st = qc_stream_find(qc, id);
  if (st == NULL) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  if (!st->has_send || error_code > ZTTP_VARINT_MAX) {
    return ZTTP_ERR_INVALID_STATE;
  }
  if (st->send_reset || zttp_quic_sendbuf_done(&st->sb)) {
    return 0;
  }
  st->send_reset = 1;
  st->reset_pending = 1;
  st->reset_code = error_code;
  st->want_writable = 0;
  st->ev_writable = 0;
  return 0;
}

int32_t zttp_quic_conn_stream_stop_sending(zttp_quic_conn *qc, uint64_t id,
                                           uint64_t error_code) {
  qc_stream *st = qc_stream_find(qc, id);
  if (st == NULL) {
    return ZTTP_ERR_STREAM_NOT_FOUND;
  }
  if (qc->state != QC_OPEN || !st->has_recv || error_code > ZTTP_VARINT_MAX) {
    return ZTTP_ERR_INVALID_STATE;
  }
  /* RFC 9000 §3.5: pointless once the final size is known. */
  if (st->stop_requested || st->recv_reset ||
      st->rb.final_size != ZTTP_QUIC_NO_FINAL_SIZE) {
    return 0;
  }
  st->stop_requested = 1;
  st->stop_pending = 1;
  st->our_stop_code = error_code;
  return 0;
}
