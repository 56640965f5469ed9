/* Receiving: coalesced packets (RFC 9000 §12.2), packet protection removal
 * (RFC 9001 §5), and the frames of each packet (RFC 9000 §19).
 * SPDX-License-Identifier: MIT */
#include "quic/conn_internal.h"

#include <string.h>

#include "quic/error.h"

/* process_frames' answer for "drop the packet without acknowledging it":
 * its data could not be buffered (a fragment cap), the peer sends it
 * again. */
#define QC_DROP_PACKET 1

static int32_t fail_frame(zttp_quic_conn *qc, int32_t err, uint64_t code,
                          uint64_t ftype, const char *why, zttp_tstamp now) {
  qc_fail(qc, err, code, ftype, why, now);
  return err;
}

/* Receive-side flow control: a new data end on |st| (RFC 9000 §4.1, §4.5).
 * Returns 0 or the error already reported. */
static int32_t conn_credit(zttp_quic_conn *qc, qc_stream *st, uint64_t end,
                           uint64_t ftype, zttp_tstamp now) {
  if (end > st->max_recv) {
    return fail_frame(qc, ZTTP_ERR_FLOW_CONTROL,
                      ZTTP_QUIC_ERR_FLOW_CONTROL_ERROR, ftype,
                      "stream data limit", now);
  }
  if (end > st->rb.highest &&
      end - st->rb.highest > qc->max_data - qc->data_recv) {
    return fail_frame(qc, ZTTP_ERR_FLOW_CONTROL,
                      ZTTP_QUIC_ERR_FLOW_CONTROL_ERROR, ftype,
                      "connection data limit", now);
  }
  return 0;
}

static void mark_readable(qc_stream *st) {
  const uint8_t *p;
  if (st->readable_armed && (zttp_quic_recvbuf_peek(&st->rb, &p) > 0 ||
                             st->rb.final_size == st->rb.base)) {
    st->readable_armed = 0;
    st->ev_readable = 1;
  }
}

/* frame_stream finds (or opens, with the lower ones of its type, RFC 9000
 * §3.2) the stream |id| that frame |f| names, after checking that the
 * direction the frame is about exists on it (§19.4-§19.5, §19.8, §19.10):
 * |ours| 1 for our sending (STOP_SENDING, MAX_STREAM_DATA: not a peer's
 * unidirectional stream), 0 for the peer's (STREAM, RESET_STREAM: not one
 * of ours). *out is NULL for a closed stream. Returns 0 or the error,
 * reported. */
static int32_t frame_stream(zttp_quic_conn *qc, const zttp_quic_frame *f,
                            uint64_t id, int ours, qc_stream **out,
                            zttp_tstamp now) {
  *out = NULL;
  if (qc_stream_is_uni(id) && qc_stream_is_local(qc, id) != ours) {
    return fail_frame(qc, ZTTP_ERR_PROTOCOL, ZTTP_QUIC_ERR_STREAM_STATE_ERROR,
                      f->type,
                      ours ? "frame about sending on a receive-only stream"
                           : "frame about receiving on a send-only stream",
                      now);
  }
  uint64_t qerr = 0;
  int32_t rv = qc_stream_get(qc, out, id, &qerr);
  if (rv != 0) {
    return fail_frame(qc, rv, qerr, f->type, "stream", now);
  }
  return 0;
}

static int32_t on_stream(zttp_quic_conn *qc, const zttp_quic_frame *f,
                         zttp_tstamp now) {
  qc_stream *st;
  int32_t rv = frame_stream(qc, f, f->u.stream.stream_id, 0, &st, now);
  if (rv != 0) {
    return rv;
  }
  uint64_t end = f->u.stream.offset + f->u.stream.len;
  if (st != NULL && st->recv_reset) {
    /* RFC 9000 §4.5: the final size RESET_STREAM fixed still binds. */
    uint64_t fsz = st->rb.final_size;
    if (end > fsz || ((f->type & ZTTP_QUIC_STREAM_FIN) && end != fsz)) {
      return fail_frame(qc, ZTTP_ERR_PROTOCOL, ZTTP_QUIC_ERR_FINAL_SIZE_ERROR,
                        f->type, "data past the final size", now);
    }
    return 0;
  }
  if (st == NULL) {
    return 0;
  }
  rv = conn_credit(qc, st, end, f->type, now);
  if (rv != 0) {
    return rv;
  }
  uint64_t before = st->rb.highest;
  rv = zttp_quic_recvbuf_write(
      &st->rb, qc->mem, f->u.stream.offset, f->u.stream.data, f->u.stream.len,
      (f->type & ZTTP_QUIC_STREAM_FIN) != 0, st->max_recv);
  switch (rv) {
  case 0:
    break;
  case ZTTP_QUIC_RB_FLOW:
    return fail_frame(qc, ZTTP_ERR_FLOW_CONTROL,
                      ZTTP_QUIC_ERR_FLOW_CONTROL_ERROR, f->type,
                      "stream data limit", now);
  case ZTTP_QUIC_RB_FINAL_SIZE:
    return fail_frame(qc, ZTTP_ERR_PROTOCOL, ZTTP_QUIC_ERR_FINAL_SIZE_ERROR,
                      f->type, "final size", now);
  case ZTTP_QUIC_RB_FRAGMENTS:
    return QC_DROP_PACKET;
  default:
    return fail_frame(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, f->type, "memory",
                      now);
  }
  if (st->rb.highest > before) {
    qc->data_recv += st->rb.highest - before;
  }
  mark_readable(st);
  return 0;
}

static int32_t on_crypto(zttp_quic_conn *qc, uint32_t space,
                         const zttp_quic_frame *f, zttp_tstamp now) {
  zttp_quic_recvbuf *rb = &qc->crecv[space];
  uint64_t limit = rb->base + qc->s.max_crypto_buffer;
  int32_t rv =
      zttp_quic_recvbuf_write(rb, qc->mem, f->u.crypto.offset, f->u.crypto.data,
                              f->u.crypto.len, 0, limit);
  switch (rv) {
  case 0:
    break;
  case ZTTP_QUIC_RB_FLOW: /* RFC 9000 §7.5 */
    return fail_frame(qc, ZTTP_ERR_PROTOCOL,
                      ZTTP_QUIC_ERR_CRYPTO_BUFFER_EXCEEDED, f->type,
                      "CRYPTO buffer", now);
  case ZTTP_QUIC_RB_FRAGMENTS:
    return QC_DROP_PACKET;
  default:
    return fail_frame(qc, rv == ZTTP_ERR_NOMEM ? rv : ZTTP_ERR_PROTOCOL,
                      ZTTP_QUIC_ERR_INTERNAL_ERROR, f->type, "CRYPTO", now);
  }
  const uint8_t *p;
  size_t n = zttp_quic_recvbuf_peek(rb, &p);
  if (n == 0) {
    return 0;
  }
  rv = zttp_tls_provide(qc->tls, qc_level_of(space), p, n);
  zttp_quic_recvbuf_consume(rb, n);
  if (rv == ZTTP_ERR_NOMEM) {
    return fail_frame(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, f->type, "memory",
                      now);
  }
  /* A provide failure is sticky: the handshake call reports it. */
  rv = qc_tls_advance(qc, now);
  return rv < 0 ? rv : 0;
}

static int32_t on_ack(zttp_quic_conn *qc, uint32_t space,
                      const zttp_quic_frame *f, zttp_tstamp now) {
  uint64_t delay = 0;
  if (space == ZTTP_QUIC_SPACE_APP) {
    /* RFC 9000 §19.3: microseconds scaled by the peer's exponent. */
    uint64_t exp = qc->peer_tp.ack_delay_exponent;
    uint64_t raw = f->u.ack.ack_delay;
    uint64_t cap = (UINT64_C(1) << 40) >> exp; /* ~12 days: no overflow */
    delay = (raw > cap ? cap : raw) << exp;
    delay *= 1000;
  }
  uint64_t qerr = 0;
  int32_t rv = zttp_quic_recovery_on_ack_received(
      &qc->rec, &qerr, space, f->u.ack.ranges, f->u.ack.num_ranges, delay,
      qc->app_limited, now);
  if (rv == ZTTP_ERR_PROTOCOL) {
    return fail_frame(qc, rv, qerr, f->type, "ACK of an unsent packet", now);
  }
  if (space == ZTTP_QUIC_SPACE_APP && qc->ku_pending &&
      f->u.ack.num_ranges > 0 && f->u.ack.ranges[0].largest >= qc->ku_tx_pn) {
    qc->ku_pending = 0; /* RFC 9001 §6.5 */
  }
  rv = qc_process_recovery(qc);
  if (rv != 0) {
    return fail_frame(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, f->type, "memory",
                      now);
  }
  return 0;
}

static int32_t on_reset_stream(zttp_quic_conn *qc, const zttp_quic_frame *f,
                               zttp_tstamp now) {
  qc_stream *st;
  int32_t rv = frame_stream(qc, f, f->u.reset_stream.stream_id, 0, &st, now);
  if (rv != 0) {
    return rv;
  }
  if (st == NULL || st->recv_reset) {
    return 0;
  }
  uint64_t fsz = f->u.reset_stream.final_size;
  rv = conn_credit(qc, st, fsz, f->type, now);
  if (rv != 0) {
    return rv;
  }
  if (fsz < st->rb.highest || zttp_quic_recvbuf_final_size(&st->rb, fsz) != 0) {
    return fail_frame(qc, ZTTP_ERR_PROTOCOL, ZTTP_QUIC_ERR_FINAL_SIZE_ERROR,
                      f->type, "final size", now);
  }
  /* RFC 9000 §4.5: the final size counts against the connection limit;
   * unread data is discarded and its credit given back. */
  qc->data_recv += fsz - st->rb.highest;
  st->rb.highest = fsz;
  qc->data_read += fsz - st->rb.base;
  qc_stream_grant_rest(qc, st);
  st->recv_reset = 1;
  st->churned = 1;
  st->peer_reset_code = f->u.reset_stream.error_code;
  st->ev_reset = 1;
  st->ev_readable = 0;
  return 0;
}

static int32_t on_stop_sending(zttp_quic_conn *qc, const zttp_quic_frame *f,
                               zttp_tstamp now) {
  uint64_t id = f->u.stop_sending.stream_id;
  qc_stream *st;
  int32_t rv = frame_stream(qc, f, id, 1, &st, now);
  if (rv != 0) {
    return rv;
  }
  if (st == NULL) {
    return 0;
  }
  st->stop_code = f->u.stop_sending.error_code;
  st->ev_stop = 1;
  st->churned = 1;
  /* RFC 9000 §3.5: answer with RESET_STREAM (same code). */
  if (!st->send_reset && !zttp_quic_sendbuf_done(&st->sb)) {
    (void)zttp_quic_conn_stream_reset(qc, id, f->u.stop_sending.error_code);
  }
  return 0;
}

static int32_t on_max_stream_data(zttp_quic_conn *qc, const zttp_quic_frame *f,
                                  zttp_tstamp now) {
  qc_stream *st;
  int32_t rv = frame_stream(qc, f, f->u.limit.stream_id, 1, &st, now);
  if (rv != 0) {
    return rv;
  }
  if (st != NULL && f->u.limit.value > st->max_send) {
    st->max_send = f->u.limit.value;
  }
  return 0;
}

int32_t qc_process_frames(zttp_quic_conn *qc, uint32_t pkt_type, uint32_t space,
                          const uint8_t *payload, size_t len,
                          int *ack_eliciting, zttp_tstamp now) {
  zttp_rd rd;
  zttp_rd_init(&rd, payload, len);
  zttp_quic_ack_range ranges[QC_MAX_RECV_ACK_RANGES];
  *ack_eliciting = 0;
  qc->rx_nonprobing = 0;
  while (zttp_rd_len(&rd) > 0 &&
         (qc->state == QC_OPEN || qc->state == QC_CLOSING)) {
    zttp_quic_frame f;
    uint64_t qerr = 0;
    int r =
        zttp_quic_frame_decode(&rd, &f, &qerr, ranges, QC_MAX_RECV_ACK_RANGES);
    if (qc->state == QC_CLOSING) {
      /* RFC 9000 §10.2.1: only the peer's CONNECTION_CLOSE matters now
       * (it may take us to draining). */
      if (r == ZTTP_QUIC_FRAME_ERROR) {
        return 0;
      }
      if (f.type == ZTTP_QUIC_FT_CONNECTION_CLOSE ||
          f.type == ZTTP_QUIC_FT_CONNECTION_CLOSE_APP) {
        qc_on_peer_close(qc, &f, now);
        return 0;
      }
      continue;
    }
    if (r == ZTTP_QUIC_FRAME_ERROR) {
      return fail_frame(qc, ZTTP_ERR_PROTOCOL, qerr, f.type, "frame encoding",
                        now);
    }
    /* RFC 9000 §12.4 Table 3. */
    if (!zttp_quic_frame_allowed(f.type, pkt_type)) {
      return fail_frame(qc, ZTTP_ERR_PROTOCOL, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION,
                        f.type, "frame not allowed in this packet type", now);
    }
    if (zttp_quic_frame_ack_eliciting(f.type)) {
      *ack_eliciting = 1;
    }
    switch (f.type) {
    case ZTTP_QUIC_FT_PADDING: /* RFC 9000 §9.1: the probing frames */
    case ZTTP_QUIC_FT_PATH_CHALLENGE:
    case ZTTP_QUIC_FT_PATH_RESPONSE:
    case ZTTP_QUIC_FT_NEW_CONNECTION_ID:
      break;
    default:
      qc->rx_nonprobing = 1;
      break;
    }
    int32_t rv = 0;
    uint64_t t = f.type;
    if (t >= ZTTP_QUIC_FT_STREAM && t <= (ZTTP_QUIC_FT_STREAM | 7)) {
      rv = on_stream(qc, &f, now);
    } else {
      switch (t) {
      case ZTTP_QUIC_FT_PADDING:
      case ZTTP_QUIC_FT_PING:
        break;
      case ZTTP_QUIC_FT_ACK:
      case ZTTP_QUIC_FT_ACK_ECN:
        rv = on_ack(qc, space, &f, now);
        break;
      case ZTTP_QUIC_FT_RESET_STREAM:
        rv = on_reset_stream(qc, &f, now);
        break;
      case ZTTP_QUIC_FT_STOP_SENDING:
        rv = on_stop_sending(qc, &f, now);
        break;
      case ZTTP_QUIC_FT_CRYPTO:
        rv = on_crypto(qc, space, &f, now);
        break;
      case ZTTP_QUIC_FT_NEW_TOKEN:
        if (qc->role == ZTTP_SERVER) { /* RFC 9000 §19.7 */
          rv = fail_frame(qc, ZTTP_ERR_PROTOCOL,
                          ZTTP_QUIC_ERR_PROTOCOL_VIOLATION, t,
                          "NEW_TOKEN from a client", now);
        }
        break;
      case ZTTP_QUIC_FT_MAX_DATA:
        if (f.u.limit.value > qc->peer_max_data) {
          qc->peer_max_data = f.u.limit.value;
        }
        break;
      case ZTTP_QUIC_FT_MAX_STREAM_DATA:
        rv = on_max_stream_data(qc, &f, now);
        break;
      case ZTTP_QUIC_FT_MAX_STREAMS_BIDI:
      case ZTTP_QUIC_FT_MAX_STREAMS_UNI: {
        size_t k = t == ZTTP_QUIC_FT_MAX_STREAMS_UNI;
        if (f.u.limit.value > qc->peer_max_streams[k]) {
          qc->peer_max_streams[k] = f.u.limit.value;
        }
        break;
      }
      case ZTTP_QUIC_FT_DATA_BLOCKED:
      case ZTTP_QUIC_FT_STREAM_DATA_BLOCKED:
      case ZTTP_QUIC_FT_STREAMS_BLOCKED_BIDI:
      case ZTTP_QUIC_FT_STREAMS_BLOCKED_UNI:
        /* Our limits move as the application reads (and autotune): only
         * counted. */
        qc->st.blocked_recv++;
        break;
      case ZTTP_QUIC_FT_NEW_CONNECTION_ID:
        rv = qc_on_new_cid(qc, &f, now);
        break;
      case ZTTP_QUIC_FT_RETIRE_CONNECTION_ID:
        rv = qc_on_retire_cid(qc, &f, now);
        break;
      case ZTTP_QUIC_FT_PATH_CHALLENGE:
        qc_path_on_challenge(qc, f.u.path.data);
        break;
      case ZTTP_QUIC_FT_PATH_RESPONSE:
        qc_path_on_response(qc, f.u.path.data, now);
        break;
      case ZTTP_QUIC_FT_CONNECTION_CLOSE:
      case ZTTP_QUIC_FT_CONNECTION_CLOSE_APP:
        qc_on_peer_close(qc, &f, now);
        return 0;
      case ZTTP_QUIC_FT_HANDSHAKE_DONE:
        if (qc->role == ZTTP_SERVER) { /* RFC 9000 §19.20 */
          rv = fail_frame(qc, ZTTP_ERR_PROTOCOL,
                          ZTTP_QUIC_ERR_PROTOCOL_VIOLATION, t,
                          "HANDSHAKE_DONE from a client", now);
        } else {
          qc_confirm(qc, now);
        }
        break;
      case ZTTP_QUIC_FT_DATAGRAM:
      case ZTTP_QUIC_FT_DATAGRAM_LEN:
        rv = qc_dgram_recv(qc, &f, now);
        break;
      default:
        /* Unknown types fail in the decoder (FRAME_ENCODING_ERROR). */
        rv = fail_frame(qc, ZTTP_ERR_PROTOCOL, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION,
                        t, "unexpected frame", now);
        break;
      }
    }
    if (rv != 0) {
      return rv;
    }
  }
  return 0;
}

/* One packet of a datagram (|len| bytes at |pkt|, its header parsed). */
/* RFC 9000 §17.2.5.2: a client's one Retry, before any other packet of
 * the server. */
static int32_t on_retry(zttp_quic_conn *qc, const zttp_quic_hdr *h,
                        const uint8_t *pkt, size_t len, zttp_tstamp now) {
  if (qc->role != ZTTP_CLIENT || qc->retried || qc->got_peer_scid ||
      h->version != qc->version ||
      !zttp_quic_cid_eq(&qc->scid, h->dcid, h->dcid_len) ||
      zttp_quic_cid_eq(&qc->dcid, h->scid, h->scid_len) || h->scid_len == 0 ||
      h->token_len == 0 || len < ZTTP_QUIC_RETRY_TAG_LEN) {
    return 0;
  }
  /* RFC 9001 §5.8: the integrity tag over the original DCID. */
  uint8_t tag[ZTTP_QUIC_RETRY_TAG_LEN];
  if (!zttp_crypto_retry_tag(tag, h->version, qc->odcid.data, qc->odcid.len,
                             pkt, len - ZTTP_QUIC_RETRY_TAG_LEN) ||
      !zttp_crypto_memeq(tag, h->retry_tag, ZTTP_QUIC_RETRY_TAG_LEN)) {
    return 0;
  }
  uint8_t *tok = zttp_mem_malloc(qc->mem, h->token_len);
  if (tok == NULL) {
    qc_fail(qc, ZTTP_ERR_NOMEM, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "memory", now);
    return ZTTP_ERR_NOMEM;
  }
  memcpy(tok, h->token, h->token_len);
  zttp_mem_free(qc->mem, qc->token);
  qc->token = tok;
  qc->token_len = h->token_len;
  qc->retried = 1;
  zttp_quic_cid_set(&qc->rscid, h->scid, h->scid_len);
  qc->dcid = qc->rscid;
  qc->init_dcid = qc->rscid;
  /* New Initial keys from the new DCID (RFC 9001 §5.2); what the Initials
   * carried goes again in packets with the token (§17.2.5.3), packet
   * numbers continuing; no RTT sample (RFC 9002 §6.2.1 has none). */
  int32_t rv = qc_install_initial_keys(qc);
  if (rv == 0) {
    zttp_quic_recovery_on_retry(&qc->rec, now);
    rv = qc_process_recovery(qc);
  }
  if (rv != 0) {
    qc_fail(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "memory", now);
    return rv;
  }
  qc->st.pkts_recv++;
  return 0;
}

/* RFC 9000 §6.2: a client that supports only QUIC v1 abandons the attempt
 * on a Version Negotiation packet that answers it, unless it lists v1 or
 * some other packet of the server was processed. */
static void on_version_negotiation(zttp_quic_conn *qc, const zttp_quic_hdr *h,
                                   zttp_tstamp now) {
  if (qc->role != ZTTP_CLIENT || qc->got_peer_scid || qc->retried ||
      qc->state != QC_OPEN ||
      /* RFC 8999 §6: it echoes our CIDs */
      !zttp_quic_cid_eq(&qc->scid, h->dcid, h->dcid_len) ||
      !zttp_quic_cid_eq(&qc->init_dcid, h->scid, h->scid_len)) {
    return;
  }
  for (size_t i = 0; i < h->num_versions; i++) {
    if (zttp_quic_vn_version(h, i) == qc->version) {
      return; /* a forged or stale VN: ignored */
    }
  }
  qc->st.pkts_recv++;
  qc->state = QC_CLOSED; /* nothing can reach the server: no close period */
  qc->ev_closed = 1;
  qc->close_remote = 1;
  qc->close_error = ZTTP_ERR_QUIC_VERSION;
  qc->close_code = 0;
  qc->close_deadline = ZTTP_TSTAMP_NEVER;
  qc->idle_deadline = ZTTP_TSTAMP_NEVER;
  (void)now;
}

static int32_t recv_packet(zttp_quic_conn *qc, const zttp_quic_hdr *h,
                           const uint8_t *pkt, size_t len, zttp_tstamp now) {
  if (h->type == ZTTP_QUIC_PKT_RETRY) {
    return on_retry(qc, h, pkt, len, now);
  }
  if (h->type == ZTTP_QUIC_PKT_VERSION_NEGOTIATION) {
    on_version_negotiation(qc, h, now);
    return 0;
  }
  int space = qc_space_of(h->type);
  if (space < 0 || h->type == ZTTP_QUIC_PKT_ZERO_RTT) {
    return 0; /* 0-RTT is not accepted: dropped (RFC 9000 §12.1) */
  }
  int is_long = h->type != ZTTP_QUIC_PKT_SHORT;
  if (is_long && h->version != qc->version) {
    return 0;
  }
  if (!is_long) {
    /* RFC 9000 §5.1: any CID we issued and the peer did not retire. */
    const qc_cid *lc = qc_cids_find_local(qc, h->dcid, h->dcid_len);
    if (lc == NULL) {
      return 0;
    }
    qc->rx_dcid_seq = lc->seq;
  } else if (!zttp_quic_cid_eq(&qc->scid, h->dcid, h->dcid_len) &&
             !(qc->role == ZTTP_SERVER &&
               zttp_quic_cid_eq(&qc->init_dcid, h->dcid, h->dcid_len))) {
    return 0;
  }
  /* RFC 9000 §7.2: after the first server Initial, the SCID is fixed. */
  if (is_long && qc->got_peer_scid &&
      !zttp_quic_cid_eq(&qc->dcid, h->scid, h->scid_len)) {
    return 0;
  }
  if (is_long && !qc->got_peer_scid && h->type != ZTTP_QUIC_PKT_INITIAL) {
    return 0;
  }
  zttp_crypto_keys *keys = qc->rx[space];
  if (keys == NULL || len > qc->rxcap ||
      !zttp_quic_hp_sample_ok(len, h->pn_offset)) {
    return 0;
  }
  /* RFC 9001 §5.7: a server does not process 1-RTT before completion. */
  if (space == ZTTP_QUIC_SPACE_APP && qc->role == ZTTP_SERVER &&
      !qc->hs_complete) {
    return 0;
  }
  uint8_t *b = qc->rxbuf;
  memcpy(b, pkt, len);
  uint8_t mask[ZTTP_CRYPTO_HP_MASK_LEN];
  size_t pn_len;
  uint64_t tpn;
  if (!zttp_crypto_hp_mask(keys, mask,
                           b + zttp_quic_hp_sample_offset(h->pn_offset)) ||
      !zttp_quic_hp_unmask(b, len, h->pn_offset, mask, &pn_len, &tpn)) {
    return 0;
  }
  uint64_t pn = zttp_quic_pn_decode(zttp_quic_acks_largest(&qc->acks, space),
                                    tpn, (unsigned)(8 * pn_len));
  size_t hdr_len = h->pn_offset + pn_len;
  if (pn > ZTTP_QUIC_MAX_PN || len - hdr_len < ZTTP_CRYPTO_TAG_LEN) {
    return 0;
  }
  /* RFC 9001 §6.3: the other key phase is either a reordered packet of
   * the previous phase (numbered below the first of the current one) or
   * the peer's next phase. */
  zttp_crypto_keys *next = NULL;
  if (!is_long &&
      ((b[0] & ZTTP_QUIC_KEY_PHASE_BIT) != 0) != (qc->rx_phase != 0)) {
    if (qc->rx_prev != NULL && pn < qc->rx_first_pn) {
      keys = qc->rx_prev;
    } else {
      int32_t rv = zttp_crypto_keys_update(&next, qc->mem, keys);
      if (rv != 0) {
        qc_fail(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "memory", now);
        return rv;
      }
      keys = next;
    }
  }
  if (!zttp_crypto_open(keys, b + hdr_len, pn, b, hdr_len, b + hdr_len,
                        len - hdr_len)) {
    zttp_crypto_keys_free(next);
    return 0; /* RFC 9001 §5.2, §6.3, §9.5: dropped without harm */
  }
  if (next != NULL) {
    /* RFC 9001 §6.2: the peer's new phase; we answer with ours unless we
     * initiated it. The previous read keys stay for 3 PTO (§6.5). */
    zttp_crypto_keys_free(qc->rx_prev);
    qc->rx_prev = qc->rx[space];
    qc->rx[space] = next;
    qc->rx_phase ^= 1;
    qc->rx_first_pn = pn;
    qc->rx_prev_until = now + 3 * qc_pto(qc);
    if (qc->key_phase != qc->rx_phase) {
      int32_t rv = qc_update_tx_keys(qc);
      if (rv != 0) {
        qc_fail(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "memory", now);
        return rv;
      }
    }
  }
  if (zttp_quic_acks_is_duplicate(&qc->acks, (uint32_t)space, pn)) {
    return 0;
  }
  size_t plen = len - hdr_len - ZTTP_CRYPTO_TAG_LEN;
  if (zttp_quic_hdr_reserved(b[0]) != 0 || plen == 0) {
    /* RFC 9000 §17.2, §17.3.1; §12.4: a packet without frames. */
    qc_fail(qc, ZTTP_ERR_PROTOCOL, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION, 0,
            plen == 0 ? "packet without frames" : "reserved bits", now);
    return ZTTP_ERR_PROTOCOL;
  }
  if (qc->role == ZTTP_CLIENT && !qc->got_peer_scid) {
    /* RFC 9000 §7.2: the server's SCID becomes our DCID. */
    zttp_quic_cid_set(&qc->dcid, h->scid, h->scid_len);
    qc->got_peer_scid = 1;
  }
  qc->st.pkts_recv++;
  int ack_eliciting = 0;
  int32_t rv = qc_process_frames(qc, h->type, (uint32_t)space, b + hdr_len,
                                 plen, &ack_eliciting, now);
  if (rv == QC_DROP_PACKET) {
    qc->st.pkts_dropped++;
    return 0;
  }
  if (rv != 0) {
    return rv;
  }
  if (space == ZTTP_QUIC_SPACE_APP && qc->rx_nonprobing &&
      qc->state == QC_OPEN) {
    /* RFC 9000 §9.3: only the highest-numbered non-probing packet moves
     * us to its path. */
    uint64_t largest = zttp_quic_acks_largest(&qc->acks, (uint32_t)space);
    if (largest == ZTTP_QUIC_PN_NONE || pn > largest) {
      if (qc->rx_other) {
        rv = qc_path_migrate(qc, now);
        if (rv != 0) {
          return rv;
        }
      } else {
        qc->path_dcid_seq = qc->rx_dcid_seq; /* the CID in use on |path| */
      }
    }
  }
  if (qc->state == QC_OPEN && !qc->discarded[space]) {
    rv = zttp_quic_acks_on_received(&qc->acks, (uint32_t)space, pn,
                                    ack_eliciting, now);
    if (rv == ZTTP_ERR_NOMEM) {
      qc_fail(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "memory", now);
      return rv;
    }
  }
  if (space == ZTTP_QUIC_SPACE_HANDSHAKE && qc->role == ZTTP_SERVER) {
    /* RFC 9000 §8.1: a Handshake packet validates the client's address;
     * RFC 9001 §4.9.1: the server's Initial keys go. */
    if (!qc->validated) {
      qc->validated = 1;
      zttp_quic_recovery_set_amplification_limited(&qc->rec, 0, now);
    }
    qc_discard_space(qc, ZTTP_QUIC_SPACE_INITIAL, now);
  }
  qc->sent_eliciting = 0;
  qc_reset_idle(qc, now);
  return 0;
}

/* RFC 9000 §10.3.1: a datagram none of whose packets could be processed
 * that ends with a Stateless Reset Token the peer gave us. */
static int is_stateless_reset(const zttp_quic_conn *qc, const uint8_t *data,
                              size_t len) {
  const uint8_t *tok = zttp_quic_stateless_reset_token(data, len);
  if (tok == NULL || !qc->have_peer_tp) {
    return 0;
  }
  return qc_cids_is_reset_token(qc, tok);
}

int32_t zttp_quic_conn_recv(zttp_quic_conn *qc, const uint8_t *data, size_t len,
                            const zttp_path *path, zttp_tstamp now) {
  qc->last_now = now;
  if (qc->state == QC_CLOSED || qc->state == QC_DRAINING) {
    return 0;
  }
  qc->st.bytes_recv += len;
  if (!qc_path_on_datagram(qc, path, len)) {
    qc_path_after_datagram(qc, 0);
    return 0;
  }
  if (!qc->validated && !qc->rx_other) {
    qc->amp_recv += len;
    zttp_quic_recovery_set_amplification_limited(&qc->rec, 0, now);
  }
  uint64_t before = qc->st.pkts_recv;
  size_t off = 0;
  while (off < len) {
    zttp_quic_hdr h;
    if (zttp_quic_hdr_parse(&h, data + off, len - off, qc->scid.len) !=
        ZTTP_QUIC_HDR_OK) {
      qc->st.pkts_dropped++;
      break; /* RFC 9000 §12.2: the rest of the datagram goes too */
    }
    uint64_t got = qc->st.pkts_recv;
    int32_t rv = recv_packet(qc, &h, data + off, h.packet_len, now);
    if (rv < 0) {
      qc_path_after_datagram(qc, 0);
      return rv;
    }
    if (qc->st.pkts_recv == got) {
      qc->st.pkts_dropped++;
    }
    off += h.packet_len;
  }
  qc_path_after_datagram(qc, qc->st.pkts_recv > before);
  if (qc->st.pkts_recv == before && qc->state != QC_DRAINING &&
      is_stateless_reset(qc, data, len)) {
    /* RFC 9000 §10.3.1: the peer lost the connection; draining, silent. */
    int was_open = qc->state == QC_OPEN;
    qc->state = QC_DRAINING;
    qc->close_pending = 0;
    if (was_open) {
      qc->ev_closed = 1;
      qc->close_remote = 1;
      qc->close_reset = 1;
      qc->close_app = 0;
      qc->close_code = 0;
      qc->close_error = ZTTP_ERR_CLOSED;
      qc->close_deadline = now + 3 * qc_pto(qc);
    }
    return 0;
  }
  if (qc->state == QC_CLOSING && qc->st.pkts_recv > before) {
    /* RFC 9000 §10.2.1: answer packets with the CONNECTION_CLOSE again,
     * rate-limited: after 1, 2, 4, 8, ... packets received. */
    qc->closing_rx += qc->st.pkts_recv - before;
    if (qc->closing_rx >= qc->closing_next) {
      qc->close_pending = 1;
      while (qc->closing_next <= qc->closing_rx) {
        qc->closing_next *= 2;
      }
    }
  }
  return 0;
}
