/* The QUIC connection fuzz driver (quic_fuzz.h).
 * SPDX-License-Identifier: MIT */
#include "quic_fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quic/cc.h"
#include "quic/endpoint.h"
#include "quic/rtt.h"

const uint32_t qf_req_sizes[8] = {0, 16, 1000, 5000, 20000, 100000, 1, 300};

static const uint8_t h3_alpn[] = {2, 'h', '3'};

void qf_fail(const char *what) {
  fprintf(stderr, "quic fuzz invariant: %s\n", what);
  abort();
}

/* ---- setup -------------------------------------------------------------- */

static void settings_for(zttp_quic_settings *s, uint8_t sel0) {
  zttp_quic_settings_default(s);
  memset(s->reset_key, 0x5a, sizeof(s->reset_key));
  switch (sel0 & 3) {
  case 0:
    s->max_datagram_frame_size = 1200;
    break;
  case 1: /* tight limits everywhere */
    s->max_datagram_frame_size = 40;
    s->datagram_queue = 1;
    s->reset_burst = 2;
    s->reset_rate = 1;
    s->max_path_responses = 1;
    s->max_stream_data_window = 0;
    s->max_data_window = 0;
    s->max_data = 8192;
    s->max_stream_data = 2048;
    s->max_streams_bidi = 2;
    s->max_streams_uni = 1;
    s->max_crypto_buffer = 4096;
    s->max_ack_ranges = 2;
    s->max_sent_packets = 16;
    s->stream_send_buffer = 1500;
    s->max_stream_fragments = 2;
    s->max_udp_payload_size = 1200;
    break;
  case 2:
    s->cid_len = 20;
    s->max_datagram_frame_size = 65535;
    s->idle_timeout_ms = 1000;
    s->max_ack_delay_ms = 0;
    s->max_udp_payload_size = 65527;
    break;
  default:
    s->cc_algo = ZTTP_QUIC_CC_CUBIC;
    s->pacing = 0;
    s->max_udp_payload_size = 1200;
    s->idle_timeout_ms = 0;
    s->max_streams_bidi = 1000;
    break;
  }
}

void qf_side_init(qf_side *sd, fuzz_mem *m, uint32_t role, uint8_t sel0,
                  uint8_t sel1, qf_emit_fn emit) {
  memset(sd, 0, sizeof(*sd));
  sd->emit = emit;
  sd->role = role;
  sd->sel0 = sel0;
  sd->sel1 = sel1;
  sd->log = getenv("ZTTP_FUZZ_LOG") != NULL;
  sd->mem = m;
  sd->now = FUZZ_T0;
  settings_for(&sd->s, sel0);
  for (int i = 0; i < QF_NUM_PATHS; i++) {
    /* sockaddr_in-shaped bytes: family 2, port 4433 + i, 127.0.0.1. */
    zttp_path *p = &sd->paths[i];
    static const uint8_t local[16] = {2, 0, 0x01, 0xbb, 127, 0, 0, 1};
    memcpy(p->local, local, sizeof(local));
    p->local_len = sizeof(local);
    uint8_t remote[16] = {2, 0, 0x11, (uint8_t)(0x51 + i), 127, 0, 0, 2};
    memcpy(p->remote, remote, sizeof(remote));
    p->remote_len = sizeof(remote);
  }
  if (!(sel0 & QF_SEL_MOVE)) {
    memset(&sd->paths[0], 0, sizeof(sd->paths[0])); /* as before */
  }
  sd->path = sd->paths[0];
  zttp_tls_settings ts;
  memset(&ts, 0, sizeof(ts));
  ts.backend = ZTTP_TLS_NULL;
  ts.alpn = h3_alpn;
  ts.alpn_len = sizeof(h3_alpn);
  char err[ZTTP_TLS_ERRMSG_MAX];
  if (zttp_tls_ctx_new(&sd->ctx, &m->alloc, &ts, role, err) != 0) {
    fprintf(stderr, "quic fuzz: tls ctx: %s\n", err);
    qf_fail("the null TLS context did not build");
  }
  if (role == ZTTP_CLIENT) {
    if (zttp_quic_conn_new(&sd->qc, &m->alloc, &sd->s, ZTTP_CLIENT, sd->ctx,
                           "localhost", NULL, &sd->path, sd->now) != 0) {
      qf_fail("the client connection did not start");
    }
    qf_service(sd);
  }
}

void qf_side_free(qf_side *sd) {
  zttp_quic_conn_free(sd->qc);
  sd->qc = NULL;
  zttp_tls_ctx_unref(sd->ctx);
  sd->ctx = NULL;
}

/* ---- the application ------------------------------------------------- */

static qf_stream *stream_get(qf_side *sd, uint64_t id, int add) {
  for (size_t i = 0; i < QF_MAX_STREAMS; i++) {
    if (sd->st[i].used && sd->st[i].id == id) {
      return &sd->st[i];
    }
  }
  if (!add) {
    return NULL;
  }
  for (size_t i = 0; i < QF_MAX_STREAMS; i++) {
    if (!sd->st[i].used) {
      memset(&sd->st[i], 0, sizeof(sd->st[i]));
      sd->st[i].used = 1;
      sd->st[i].id = id;
      return &sd->st[i];
    }
  }
  return NULL;
}

static int is_bidi(uint64_t id) {
  return (id & 2) == 0;
}

static int is_local(const qf_side *sd, uint64_t id) {
  return (id & 1) == (sd->role == ZTTP_SERVER ? 1u : 0u);
}

/* Writes what |st| owes until the send buffer is full. */
static void stream_flush(qf_side *sd, qf_stream *st) {
  for (int k = 0; k < 10000 && st->owed > 0; k++) {
    size_t n =
        st->owed < FUZZ_PATTERN_LEN ? (size_t)st->owed : FUZZ_PATTERN_LEN;
    int64_t w =
        zttp_quic_conn_stream_write(sd->qc, st->id, fuzz_pattern(), n, 0);
    if (w < 0) {
      st->owed = 0;
      st->fin_owed = 0;
      return;
    }
    if ((uint64_t)w > n) {
      qf_fail("stream_write took more than given");
    }
    st->owed -= (uint64_t)w;
    if ((size_t)w < n) {
      return;
    }
  }
  if (st->owed == 0 && st->fin_owed && !st->fin_sent) {
    if (zttp_quic_conn_stream_write(sd->qc, st->id, NULL, 0, 1) == 0) {
      st->fin_sent = 1;
    }
  }
}

static void stream_read(qf_side *sd, uint64_t id) {
  qf_stream *st = stream_get(sd, id, 0);
  for (int k = 0; k < 100000; k++) {
    const uint8_t *p = NULL;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(sd->qc, id, &p, &fin);
    if (n < 0) {
      return;
    }
    if (n > 0 && p == NULL) {
      qf_fail("peek returned bytes at NULL");
    }
    uint64_t h = sd->sink;
    for (int64_t i = 0; i < n; i++) {
      h = (h ^ p[i]) * 0x100000001b3ull;
    }
    sd->sink = h;
    /* An empty peek at the end releases a finished stream (NOT_FOUND). */
    if (zttp_quic_conn_stream_consume(sd->qc, id, (size_t)n + 1) >= 0) {
      qf_fail("consume took more than was peeked");
    }
    if (n > 0 && zttp_quic_conn_stream_consume(sd->qc, id, (size_t)n) != 0) {
      qf_fail("consume refused what was peeked");
    }
    if (st != NULL && sd->role == ZTTP_SERVER && is_bidi(id) &&
        !is_local(sd, id)) {
      st->owed += (uint64_t)n; /* echo the count back */
      if (fin) {
        st->fin_owed = 1;
      }
    }
    if (fin && st != NULL) {
      st->fin_read = 1;
    }
    if (n == 0 || fin) {
      break;
    }
  }
  if (st != NULL) {
    stream_flush(sd, st);
  }
}

static void open_requests(qf_side *sd) {
  sd->opened = 1;
  if (sd->role == ZTTP_SERVER) {
    int64_t id = zttp_quic_conn_open_stream(sd->qc, 0);
    if (id >= 0) {
      qf_stream *st = stream_get(sd, (uint64_t)id, 1);
      if (st != NULL) {
        st->owed = 3; /* an HTTP/3 control stream's worth */
        stream_flush(sd, st);
      }
    }
    return;
  }
  uint32_t len = qf_req_sizes[sd->sel1 & 7];
  int num = 1 + ((sd->sel1 >> 3) & 3);
  for (int i = 0; i < num + ((sd->sel1 & 0x20) ? 1 : 0); i++) {
    int64_t id = zttp_quic_conn_open_stream(sd->qc, i < num);
    if (id < 0) {
      break;
    }
    qf_stream *st = stream_get(sd, (uint64_t)id, 1);
    if (st == NULL) {
      break;
    }
    if (zttp_quic_conn_stream_set_priority(sd->qc, (uint64_t)id, (uint32_t)i,
                                           (sd->sel1 >> 6) & 1) != 0) {
      qf_fail("set_priority refused a valid priority");
    }
    st->owed = len;
    st->fin_owed = 1;
    stream_flush(sd, st);
  }
  size_t dg = zttp_quic_conn_max_datagram(sd->qc);
  if (dg > 0) {
    int32_t rv = zttp_quic_conn_send_datagram(sd->qc, fuzz_pattern(),
                                              dg < 100 ? dg : 100);
    if (rv != 0 && rv != ZTTP_ERR_BUFFER_FULL && rv != ZTTP_ERR_NOMEM) {
      qf_fail("send_datagram refused a datagram within the limit");
    }
  }
}

/* A client: every request stream answered to its end. */
static int all_answered(const qf_side *sd) {
  int any = 0;
  for (size_t i = 0; i < QF_MAX_STREAMS; i++) {
    const qf_stream *st = &sd->st[i];
    if (st->used && is_local(sd, st->id) && is_bidi(st->id)) {
      any = 1;
      if (!st->fin_read) {
        return 0;
      }
    }
  }
  return any;
}

static void on_event(qf_side *sd, const zttp_quic_event *ev) {
  if (sd->closed_ev) {
    qf_fail("an event after CLOSED");
  }
  if (sd->log) {
    fprintf(stderr, "quic fuzz: %s t=%llu ev %u stream %llu code %llu err %d\n",
            sd->role == ZTTP_SERVER ? "server" : "client",
            (unsigned long long)(sd->now - FUZZ_T0), (unsigned)ev->kind,
            (unsigned long long)ev->stream_id,
            (unsigned long long)ev->error_code, (int)ev->error);
  }
  switch (ev->kind) {
  case ZTTP_QUIC_EV_NONE:
    qf_fail("next_event returned 1 with NONE");
    break;
  case ZTTP_QUIC_EV_HANDSHAKE_DONE:
    if (sd->hs_done) {
      qf_fail("a second HANDSHAKE_DONE");
    }
    if (!zttp_quic_conn_handshake_complete(sd->qc)) {
      qf_fail("HANDSHAKE_DONE before the handshake completed");
    }
    sd->hs_done = 1;
    if ((sd->sel0 & QF_SEL_OPEN) && !sd->opened) {
      open_requests(sd);
    }
    break;
  case ZTTP_QUIC_EV_STREAM_OPENED: {
    if (is_local(sd, ev->stream_id)) {
      qf_fail("STREAM_OPENED for a locally initiated stream ID");
    }
    qf_stream *st = stream_get(sd, ev->stream_id, 1);
    if (st != NULL && sd->role == ZTTP_SERVER && is_bidi(ev->stream_id) &&
        (sd->sel0 & QF_SEL_RESET) && (ev->stream_id & 4) != 0) {
      zttp_quic_conn_stream_stop_sending(sd->qc, ev->stream_id, 0x10c);
      zttp_quic_conn_stream_reset(sd->qc, ev->stream_id, 0x10c);
      st->fin_sent = 1;
    }
    break;
  }
  case ZTTP_QUIC_EV_STREAM_READABLE:
    stream_read(sd, ev->stream_id);
    break;
  case ZTTP_QUIC_EV_STREAM_WRITABLE: {
    qf_stream *st = stream_get(sd, ev->stream_id, 0);
    if (st != NULL) {
      stream_flush(sd, st);
    }
    break;
  }
  case ZTTP_QUIC_EV_STREAM_RESET:
    stream_read(sd, ev->stream_id);
    break;
  case ZTTP_QUIC_EV_STREAM_STOP_SENDING: {
    qf_stream *st = stream_get(sd, ev->stream_id, 0);
    if (st != NULL) {
      st->owed = 0;
      st->fin_owed = 0;
    }
    if (zttp_quic_conn_stream_write(sd->qc, ev->stream_id, fuzz_pattern(), 1,
                                    0) > 0) {
      qf_fail("stream_write accepted data after STOP_SENDING");
    }
    break;
  }
  case ZTTP_QUIC_EV_DATAGRAM:
    /* RFC 9221 §3: the frame, so the payload, within what we advertised. */
    if (ev->data_len >= sd->s.max_datagram_frame_size ||
        (ev->data_len > 0 && ev->data == NULL)) {
      qf_fail("a DATAGRAM over max_datagram_frame_size");
    }
    break;
  case ZTTP_QUIC_EV_PATH: {
    /* RFC 9000 §9: only a server moves, only to a path datagrams came on. */
    int known = 0;
    for (int i = 0; i < QF_NUM_PATHS; i++) {
      known |= ev->path != NULL &&
               memcmp(ev->path, &sd->paths[i], sizeof(zttp_path)) == 0;
    }
    if (sd->role != ZTTP_SERVER || !known || !(sd->sel0 & QF_SEL_MOVE)) {
      qf_fail("a PATH event for no path the peer used");
    }
    break;
  }
  case ZTTP_QUIC_EV_CLOSED:
    if (!zttp_quic_conn_is_closing(sd->qc) &&
        !zttp_quic_conn_is_closed(sd->qc)) {
      qf_fail("CLOSED while not closing");
    }
    sd->closed_ev = 1;
    if (zttp_quic_conn_open_stream(sd->qc, 1) >= 0) {
      qf_fail("open_stream succeeded after CLOSED");
    }
    break;
  default:
    qf_fail("unknown event kind");
  }
}

static void write_all(qf_side *sd) {
  static uint8_t buf[65536];
  for (int k = 0; k < 10000; k++) {
    zttp_path path;
    int validated = zttp_quic_conn_address_validated(sd->qc);
    int was_closed = zttp_quic_conn_is_closed(sd->qc);
    int64_t n = zttp_quic_conn_write(sd->qc, buf, sizeof(buf), &path, sd->now);
    if (n < 0) {
      if (n == ZTTP_ERR_NOMEM) {
        return;
      }
      qf_fail("write failed");
    }
    if (n == 0) {
      return;
    }
    if (was_closed) {
      qf_fail("a datagram written after the connection closed");
    }
    if ((uint64_t)n > sd->s.max_udp_payload_size) {
      fprintf(stderr, "quic fuzz: %lld-byte datagram, limit %llu\n",
              (long long)n, (unsigned long long)sd->s.max_udp_payload_size);
      qf_fail("a datagram above max_udp_payload_size");
    }
    int known = 0;
    for (int i = 0; i < QF_NUM_PATHS; i++) {
      known |= memcmp(&path, &sd->paths[i], sizeof(path)) == 0;
    }
    if (!known || (!(sd->sel0 & QF_SEL_MOVE) &&
                   memcmp(&path, &sd->path, sizeof(path)) != 0)) {
      qf_fail("a datagram for another path");
    }
    if (sd->role == ZTTP_CLIENT && (buf[0] & 0xb0) == 0x80 && n < 1200) {
      qf_fail("a client datagram with an Initial below 1200 bytes");
    }
    if (sd->role == ZTTP_SERVER && !validated) {
      sd->unval_out += (uint64_t)n;
      if (sd->unval_out > 3 * sd->bytes_in) {
        qf_fail("a server sent more than 3x what it received before the "
                "address was validated");
      }
    }
    fuzz_cids_learn(&sd->cids, buf, (size_t)n, sd->s.cid_len);
    if (sd->log) {
      fprintf(stderr, "quic fuzz: %s t=%llu wrote %lld\n",
              sd->role == ZTTP_SERVER ? "server" : "client",
              (unsigned long long)(sd->now - FUZZ_T0), (long long)n);
    }
    if (sd->emit != NULL) {
      sd->emit(sd, buf, (size_t)n, sd->now);
    }
  }
  qf_fail("write never returned 0");
}

void qf_service(qf_side *sd) {
  if (sd->qc == NULL) {
    return;
  }
  for (int k = 0; k < 100000; k++) {
    zttp_quic_event ev;
    int got = zttp_quic_conn_next_event(sd->qc, &ev);
    if (got == 0) {
      if (ev.kind != ZTTP_QUIC_EV_NONE) {
        qf_fail("next_event returned 0 without NONE");
      }
      break;
    }
    on_event(sd, &ev);
  }
  if (sd->role == ZTTP_CLIENT && (sd->sel0 & QF_SEL_CLOSE) && !sd->closed_ev &&
      !sd->close_sent && all_answered(sd)) {
    sd->close_sent = 1;
    zttp_quic_conn_close(sd->qc, 1, 0x100, "done", 4, sd->now);
  }
  write_all(sd);
}

void qf_advance(qf_side *sd, zttp_tstamp target) {
  if (sd->qc == NULL) {
    sd->now = target > sd->now ? target : sd->now;
    return;
  }
  int stuck = 0;
  for (int k = 0; k < 100000; k++) {
    zttp_tstamp t = zttp_quic_conn_next_timeout(sd->qc);
    if (t == ZTTP_TSTAMP_NEVER || t > target) {
      break;
    }
    if (t <= sd->now) {
      if (++stuck > 100) {
        qf_fail("a timer stays due after handle_timeout");
      }
    } else {
      stuck = 0;
      sd->now = t;
    }
    int32_t rv = zttp_quic_conn_handle_timeout(sd->qc, sd->now);
    if (rv != 0 && rv != ZTTP_ERR_NOMEM) {
      qf_fail("handle_timeout returned an unexpected error");
    }
    qf_service(sd);
  }
  if (target > sd->now) {
    sd->now = target;
  }
}

void qf_feed(qf_side *sd, const uint8_t *d, size_t n) {
  qf_feed_path(sd, d, n, &sd->path);
}

void qf_feed_path(qf_side *sd, const uint8_t *d, size_t n,
                  const zttp_path *path) {
  if (sd->qc == NULL) {
    zttp_quic_ep_info info;
    if (zttp_quic_ep_classify(&info, d, n, sd->s.cid_len) !=
        ZTTP_QUIC_EP_CREATE) {
      return;
    }
    if (!info.hdr_ok) {
      qf_fail("CREATE without a parsed header");
    }
    if (zttp_quic_conn_new(&sd->qc, &sd->mem->alloc, &sd->s, ZTTP_SERVER,
                           sd->ctx, NULL, &info.hdr, path, sd->now) != 0) {
      return;
    }
  }
  sd->bytes_in += n;
  int32_t rv = zttp_quic_conn_recv(sd->qc, d, n, path, sd->now);
  if (sd->log) {
    fprintf(stderr, "quic fuzz: %s t=%llu recv %zu -> %d\n",
            sd->role == ZTTP_SERVER ? "server" : "client",
            (unsigned long long)(sd->now - FUZZ_T0), n, (int)rv);
  }
  if (rv > 0) {
    qf_fail("recv returned a positive value");
  }
  qf_service(sd);
}

/* ---- the fuzz input ----------------------------------------------------- */

int qf_fuzz_one(uint32_t role, const uint8_t *data, size_t size) {
  fuzz_records in;
  if (!fuzz_records_start(&in, data, size, QF_MAX_DGRAM)) {
    return 0;
  }
  fuzz_mem m;
  fuzz_mem_init(&m, qf_fail);
  qf_side sd;
  qf_side_init(&sd, &m, role, data[0], data[1], NULL);
  fuzz_record rec;
  while (fuzz_records_next(&in, &rec)) {
    qf_advance(&sd, sd.now + rec.delta);
    if (rec.n > 0) {
      int subst = !(sd.sel0 & QF_SEL_NO_SUBST);
      const zttp_path *p = &sd.path;
      if (sd.sel0 & QF_SEL_MOVE) {
        p = &sd.paths[(rec.delta / FUZZ_NS_PER_MS / 256) % QF_NUM_PATHS];
      }
      qf_feed_path(&sd, fuzz_records_take(&in, &rec, &sd.cids, role, subst),
                   rec.n, p);
    }
  }
  if (sd.sel0 & QF_SEL_LINGER) {
    qf_advance(&sd, sd.now + 60000 * FUZZ_NS_PER_MS);
  }
  qf_side_free(&sd);
  if (m.live != 0) {
    qf_fail("memory still allocated after free");
  }
  return 0;
}
