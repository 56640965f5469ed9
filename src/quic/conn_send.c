/* Sending: one datagram per zttp_quic_conn_write() with Initial, Handshake
 * and 1-RTT packets coalesced (RFC 9000 §12.2), packet protection (RFC 9001
 * §5), padding (RFC 9000 §14.1), the anti-amplification limit (§8.1),
 * congestion control (RFC 9002 §7), and a record of what each packet
 * carried for acknowledgment and loss (RFC 9000 §13.3).
 * SPDX-License-Identifier: MIT */
#include "quic/conn_internal.h"

#include <string.h>

#include "quic/error.h"

/* Room below which a packet is not started: header, a frame, the tag. */
#define QC_MIN_PACKET_ROOM 64
/* Worst-case STREAM frame header (type, id, offset, length). */
#define QC_STREAM_FRAME_OVERHEAD 19
/* The smallest payload worth an ack-eliciting packet in a nearly full
 * congestion window. */
#define QC_MIN_ELICIT 128

/* One packet being built inside the datagram. */
typedef struct pkt_build {
  uint32_t space;
  int is_long;
  size_t start;      /* in the datagram */
  size_t length_off; /* long headers: the Length field, from start */
  size_t pn_off;     /* from start */
  size_t pn_len;
  size_t hdr_len;
  size_t payload_len;
  size_t payload_cap; /* without the tag */
  uint64_t pn;
  uint32_t pk; /* qc_pktinfo slot */
  int ack_eliciting;
  int padded;
  int has_ack;
  /* No recovery record (the space holds max_sent_packets unresolved):
   * only an ACK or a CONNECTION_CLOSE, neither ack-eliciting. Probes off
   * the current path are untracked too (see write_probe). */
  int untracked;
  /* RFC 9000 §8.2.1, §8.2.2: a PATH_CHALLENGE or PATH_RESPONSE is in it:
   * the datagram is expanded to 1200 bytes where the limits allow. */
  int pad_full;
  int challenge;
} pkt_build;

static int32_t pk_alloc(zttp_quic_conn *qc, uint32_t *out) {
  if (qc->pk_free != QC_PK_NONE) {
    *out = qc->pk_free;
    qc->pk_free = qc->pk[*out].next_free;
    qc->pk[*out].num = 0;
    return 0;
  }
  /* At most max_sent per space are unresolved (zttp_quic_recovery_reserve)
   * plus the ones being built. */
  size_t max = ZTTP_QUIC_NUM_SPACES * (qc->s.max_sent_packets + 1);
  if (qc->num_pk >= max) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  size_t ncap = qc->num_pk != 0 ? 2 * qc->num_pk : 32;
  if (ncap > max) {
    ncap = max;
  }
  qc_pktinfo *n = zttp_mem_realloc(qc->mem, qc->pk, ncap * sizeof(*n));
  if (n == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  qc->pk = n;
  for (size_t i = ncap; i-- > qc->num_pk + 1;) {
    n[i].num = 0;
    n[i].next_free = qc->pk_free;
    qc->pk_free = (uint32_t)i;
  }
  *out = (uint32_t)qc->num_pk;
  n[*out].num = 0;
  qc->num_pk = ncap;
  return 0;
}

static void pk_release(zttp_quic_conn *qc, uint32_t i) {
  if (i == QC_PK_NONE) {
    return;
  }
  qc->pk[i].num = 0;
  qc->pk[i].next_free = qc->pk_free;
  qc->pk_free = i;
}

static int pk_room(const zttp_quic_conn *qc, const pkt_build *pb) {
  return pb->pk != QC_PK_NONE && qc->pk[pb->pk].num < QC_MAX_FRAMES_PER_PKT;
}

static void pk_add(zttp_quic_conn *qc, pkt_build *pb, uint8_t kind, uint64_t id,
                   uint64_t offset, uint64_t len, int fin) {
  qc_pktinfo *pi = &qc->pk[pb->pk];
  qc_sent_frame *f = &pi->f[pi->num++];
  f->kind = kind;
  f->id = id;
  f->offset = offset;
  f->len = len;
  f->fin = (uint8_t)fin;
}

/* Appends an encoded frame; returns 1 if it fit. */
static int put_frame(uint8_t *dgram, pkt_build *pb, const zttp_quic_frame *f) {
  uint8_t *p = dgram + pb->start + pb->hdr_len + pb->payload_len;
  size_t n = zttp_quic_frame_encode(f, p, pb->payload_cap - pb->payload_len);
  if (n == 0) {
    return 0;
  }
  pb->payload_len += n;
  if (zttp_quic_frame_ack_eliciting(f->type)) {
    pb->ack_eliciting = 1;
  }
  return 1;
}

static int put_limit(zttp_quic_conn *qc, uint8_t *dgram, pkt_build *pb,
                     uint64_t type, uint64_t id, uint64_t value, uint8_t kind) {
  if (!pk_room(qc, pb)) {
    return 0;
  }
  zttp_quic_frame f;
  memset(&f, 0, sizeof(f));
  f.type = type;
  f.u.limit.stream_id = id;
  f.u.limit.value = value;
  if (!put_frame(dgram, pb, &f)) {
    return 0;
  }
  pk_add(qc, pb, kind, id, value, 0, 0);
  return 1;
}

/* RFC 9000 §8.2.2: the PATH_RESPONSEs owed to |path| at the head of the
 * queue, not retransmitted (§13.3: a new challenge comes if one is lost).
 * Returns how many went in. */
static size_t put_path_responses(zttp_quic_conn *qc, uint8_t *dgram,
                                 pkt_build *pb, const zttp_path *path) {
  zttp_quic_frame f;
  memset(&f, 0, sizeof(f));
  f.type = ZTTP_QUIC_FT_PATH_RESPONSE;
  size_t n = 0;
  const qc_presp *r;
  while ((r = qc_presp_head(qc)) != NULL && qc_path_eq(&r->path, path)) {
    memcpy(f.u.path.data, r->data, sizeof(f.u.path.data));
    if (!put_frame(dgram, pb, &f)) {
      break;
    }
    qc_presp_pop(qc);
    qc->st.path_responses_sent++;
    n++;
  }
  return n;
}

/* pad_datagram expands the datagram that |pb| ends, |len| bytes long, with
 * PADDING in |pb| up to |want| bytes. Returns the new length. */
static size_t pad_datagram(uint8_t *dgram, pkt_build *pb, size_t len,
                           size_t want) {
  if (len < want) {
    memset(dgram + pb->start + pb->hdr_len + pb->payload_len, 0, want - len);
    pb->payload_len += want - len;
    pb->padded = 1;
    len = want;
  }
  return len;
}

/* Control frames of the ApplicationData space. */
static void put_control(zttp_quic_conn *qc, uint8_t *dgram, pkt_build *pb) {
  zttp_quic_frame f;
  memset(&f, 0, sizeof(f));
  if (qc->send_hs_done && pk_room(qc, pb)) {
    f.type = ZTTP_QUIC_FT_HANDSHAKE_DONE;
    if (put_frame(dgram, pb, &f)) {
      pk_add(qc, pb, QF_HANDSHAKE_DONE, 0, 0, 0, 0);
      qc->send_hs_done = 0;
    }
  }
  /* The answers to challenges that came on this path (others go in
   * write_probe). */
  if (put_path_responses(qc, dgram, pb, &qc->path) > 0) {
    pb->pad_full = 1;
  }
  /* RFC 9000 §8.2.1: validating the path we moved to; sent again on a
   * timer (conn_path.c), not on loss. */
  if (qc->pv_send && !pb->challenge) {
    f.type = ZTTP_QUIC_FT_PATH_CHALLENGE;
    memcpy(f.u.path.data, qc->pv_data, 8);
    if (put_frame(dgram, pb, &f)) {
      pb->pad_full = 1;
      pb->challenge = 1;
    }
  }
  /* RFC 9000 §19.15, §19.16 */
  for (size_t i = 0; i < qc->num_lcid; i++) {
    qc_cid *c = &qc->lcid[i];
    if (!c->send_pending || !pk_room(qc, pb)) {
      continue;
    }
    f.type = ZTTP_QUIC_FT_NEW_CONNECTION_ID;
    f.u.new_connection_id.seq = c->seq;
    f.u.new_connection_id.retire_prior_to = 0;
    f.u.new_connection_id.cid = c->cid.data;
    f.u.new_connection_id.cid_len = c->cid.len;
    f.u.new_connection_id.reset_token = c->token;
    if (put_frame(dgram, pb, &f)) {
      pk_add(qc, pb, QF_NEW_CID, c->seq, 0, 0, 0);
      c->send_pending = 0;
    }
  }
  for (size_t i = 0; i < qc->num_retire; i++) {
    qc_retire *r = &qc->retire_q[i];
    if (r->in_flight || !pk_room(qc, pb)) {
      continue;
    }
    f.type = ZTTP_QUIC_FT_RETIRE_CONNECTION_ID;
    f.u.retire_connection_id.seq = r->seq;
    if (put_frame(dgram, pb, &f)) {
      pk_add(qc, pb, QF_RETIRE_CID, r->seq, 0, 0, 0);
      r->in_flight = 1;
    }
  }
  if (qc->send_max_data && put_limit(qc, dgram, pb, ZTTP_QUIC_FT_MAX_DATA, 0,
                                     qc->max_data, QF_MAX_DATA)) {
    qc->send_max_data = 0;
  }
  for (size_t k = 0; k < 2; k++) {
    if (qc->send_max_streams[k] &&
        put_limit(qc, dgram, pb,
                  k == 0 ? ZTTP_QUIC_FT_MAX_STREAMS_BIDI
                         : ZTTP_QUIC_FT_MAX_STREAMS_UNI,
                  0, qc->max_streams[k],
                  k == 0 ? QF_MAX_STREAMS_BIDI : QF_MAX_STREAMS_UNI)) {
      qc->send_max_streams[k] = 0;
    }
  }
  /* RFC 9000 §4.1, §19.12-§19.14: the limits that block us, once each. */
  if (qc->send_blocked && put_limit(qc, dgram, pb, ZTTP_QUIC_FT_DATA_BLOCKED, 0,
                                    qc->blocked_at, QF_DATA_BLOCKED)) {
    qc->send_blocked = 0;
    qc->st.blocked_sent++;
  }
  for (size_t k = 0; k < 2; k++) {
    if (qc->send_streams_blocked[k] &&
        put_limit(qc, dgram, pb,
                  k == 0 ? ZTTP_QUIC_FT_STREAMS_BLOCKED_BIDI
                         : ZTTP_QUIC_FT_STREAMS_BLOCKED_UNI,
                  0, qc->streams_blocked_at[k],
                  k == 0 ? QF_STREAMS_BLOCKED_BIDI : QF_STREAMS_BLOCKED_UNI)) {
      qc->send_streams_blocked[k] = 0;
      qc->st.blocked_sent++;
    }
  }
  for (size_t i = 0; i < qc->num_streams; i++) {
    qc_stream *st = qc->streams[i];
    if (st->send_blocked &&
        put_limit(qc, dgram, pb, ZTTP_QUIC_FT_STREAM_DATA_BLOCKED, st->id,
                  st->blocked_at, QF_STREAM_DATA_BLOCKED)) {
      st->send_blocked = 0;
      qc->st.blocked_sent++;
    }
    if (st->send_msd && put_limit(qc, dgram, pb, ZTTP_QUIC_FT_MAX_STREAM_DATA,
                                  st->id, st->max_recv, QF_MAX_STREAM_DATA)) {
      st->send_msd = 0;
    }
    if (st->reset_pending && pk_room(qc, pb)) {
      f.type = ZTTP_QUIC_FT_RESET_STREAM;
      f.u.reset_stream.stream_id = st->id;
      f.u.reset_stream.error_code = st->reset_code;
      f.u.reset_stream.final_size = st->sb.sent; /* RFC 9000 §4.5 */
      if (put_frame(dgram, pb, &f)) {
        pk_add(qc, pb, QF_RESET_STREAM, st->id, 0, 0, 0);
        st->reset_pending = 0;
      }
    }
    if (st->stop_pending && pk_room(qc, pb)) {
      f.type = ZTTP_QUIC_FT_STOP_SENDING;
      f.u.stop_sending.stream_id = st->id;
      f.u.stop_sending.error_code = st->our_stop_code;
      if (put_frame(dgram, pb, &f)) {
        pk_add(qc, pb, QF_STOP_SENDING, st->id, 0, 0, 0);
        st->stop_pending = 0;
      }
    }
  }
}

static void put_crypto(zttp_quic_conn *qc, uint8_t *dgram, pkt_build *pb) {
  zttp_quic_sendbuf *sb = &qc->csend[pb->space];
  while (pk_room(qc, pb) && pb->payload_cap - pb->payload_len > 16) {
    zttp_quic_chunk c;
    size_t room = pb->payload_cap - pb->payload_len;
    if (!zttp_quic_sendbuf_next(sb, &c, room, UINT64_MAX) || c.len == 0) {
      return;
    }
    size_t taken = 0;
    uint8_t *p = dgram + pb->start + pb->hdr_len + pb->payload_len;
    size_t n =
        zttp_quic_frame_encode_crypto(p, room, c.offset, c.data, c.len, &taken);
    if (n == 0) {
      return;
    }
    zttp_quic_sendbuf_on_sent(sb, c.offset, taken, 0);
    pb->payload_len += n;
    pb->ack_eliciting = 1;
    pk_add(qc, pb, QF_CRYPTO, pb->space, c.offset, taken, 0);
  }
}

/* RFC 9000 §4.1: new data waits on the peer's stream or connection limit:
 * report that limit once (STREAM_DATA_BLOCKED, DATA_BLOCKED). */
static void note_blocked(zttp_quic_conn *qc, qc_stream *st) {
  if (st->sb.written <= st->sb.sent) {
    return;
  }
  if (st->sb.sent >= st->max_send && st->blocked_at != st->max_send) {
    st->blocked_at = st->max_send;
    st->send_blocked = 1;
  }
  if (qc->data_sent >= qc->peer_max_data &&
      qc->blocked_at != qc->peer_max_data) {
    qc->blocked_at = qc->peer_max_data;
    qc->send_blocked = 1;
  }
}

/* Returns 1 if the stream has something it may send now. */
static int stream_put(zttp_quic_conn *qc, uint8_t *dgram, pkt_build *pb,
                      qc_stream *st) {
  int wrote = 0;
  while (pk_room(qc, pb) &&
         pb->payload_cap - pb->payload_len > QC_STREAM_FRAME_OVERHEAD) {
    uint64_t credit = qc->peer_max_data - qc->data_sent;
    uint64_t limit = st->sb.sent + credit;
    if (limit > st->max_send) {
      limit = st->max_send;
    }
    zttp_quic_chunk c;
    size_t room = pb->payload_cap - pb->payload_len;
    if (!zttp_quic_sendbuf_next(&st->sb, &c, room, limit)) {
      note_blocked(qc, st);
      break;
    }
    size_t taken = 0;
    uint8_t *p = dgram + pb->start + pb->hdr_len + pb->payload_len;
    size_t n = zttp_quic_frame_encode_stream(p, room, st->id, c.offset, c.data,
                                             c.len, c.fin, 1, &taken);
    if (n == 0) {
      break;
    }
    int fin = c.fin && taken == c.len;
    uint64_t old_sent = st->sb.sent;
    zttp_quic_sendbuf_on_sent(&st->sb, c.offset, taken, fin);
    if (c.offset + taken > old_sent) {
      qc->data_sent += c.offset + taken - old_sent;
    }
    pb->payload_len += n;
    pb->ack_eliciting = 1;
    pk_add(qc, pb, QF_STREAM, st->id, c.offset, taken, fin);
    wrote = 1;
    if (taken < c.len) {
      break;
    }
  }
  return wrote;
}

/* 1 when |st| may have something to send (before flow control). */
static int stream_pending(const qc_stream *st) {
  const zttp_quic_sendbuf *sb = &st->sb;
  return st->has_send && !st->send_reset &&
         (sb->written > sb->sent || !zttp_ranges_empty(&sb->lost) ||
          (sb->fin && (!sb->fin_sent || sb->fin_lost)));
}

static int packet_full(const zttp_quic_conn *qc, const pkt_build *pb) {
  return !pk_room(qc, pb) ||
         pb->payload_cap - pb->payload_len <= QC_STREAM_FRAME_OVERHEAD;
}

/* RFC 9218 §4 scheduling: urgency levels in order (0 first); within a
 * level, non-incremental streams one after the other by stream id, then
 * incremental ones round robin. Returns 1 when the packet is full. */
static int put_level(zttp_quic_conn *qc, uint8_t *dgram, pkt_build *pb,
                     uint8_t urgency) {
  size_t n = qc->num_streams;
  uint64_t floor = 0;
  for (;;) {
    qc_stream *best = NULL;
    int any_incremental = 0;
    for (size_t i = 0; i < n; i++) {
      qc_stream *st = qc->streams[i];
      if (st->urgency != urgency || !stream_pending(st)) {
        continue;
      }
      if (st->incremental) {
        any_incremental = 1;
      } else if (st->id >= floor && (best == NULL || st->id < best->id)) {
        best = st;
      }
    }
    if (best == NULL) {
      if (!any_incremental) {
        return 0;
      }
      break;
    }
    (void)stream_put(qc, dgram, pb, best);
    if (packet_full(qc, pb)) {
      return 1;
    }
    floor = best->id + 1; /* done or blocked: the next one */
  }
  size_t start = qc->rr < n ? qc->rr : 0;
  for (size_t j = 0; j < n; j++) {
    size_t i = (start + j) % n;
    qc_stream *st = qc->streams[i];
    if (st->urgency != urgency || !st->incremental || !stream_pending(st)) {
      continue;
    }
    if (stream_put(qc, dgram, pb, st)) {
      qc->rr = i + 1; /* round robin: the next stream goes first next time */
    }
    if (packet_full(qc, pb)) {
      return 1;
    }
  }
  return 0;
}

static void put_streams(zttp_quic_conn *qc, uint8_t *dgram, pkt_build *pb) {
  if (qc->num_streams == 0) {
    return;
  }
  for (uint8_t u = 0; u <= ZTTP_QUIC_MAX_URGENCY; u++) {
    if (put_level(qc, dgram, pb, u)) {
      return;
    }
  }
}

/* 1 when CRYPTO data of |space| waits to be sent (new or lost). */
static int crypto_pending(const zttp_quic_conn *qc, uint32_t space) {
  const zttp_quic_sendbuf *sb = &qc->csend[space];
  return !qc->discarded[space] &&
         (sb->written > sb->sent || !zttp_ranges_empty(&sb->lost));
}

static int space_has_probe(const zttp_quic_conn *qc, uint32_t space) {
  return zttp_quic_recovery_probes(&qc->rec, space) > 0 ||
         qc->ping_pending[space];
}

/* Starts a packet of |space| at |off| with |room| bytes. Returns 1, 0 when
 * nothing fits or the space cannot send, or a negative error. */
static int32_t begin_packet(zttp_quic_conn *qc, uint8_t *dgram, size_t off,
                            size_t room, uint32_t space, pkt_build *pb) {
  if (room < QC_MIN_PACKET_ROOM) {
    return 0;
  }
  int32_t rv = zttp_quic_recovery_reserve(&qc->rec, space);
  if (rv == ZTTP_ERR_NOMEM) {
    return rv;
  }
  /* At the record cap, ACKs and CONNECTION_CLOSE still go, untracked:
   * otherwise a peer that stops acknowledging would also stop hearing our
   * ACKs, and a due ACK timer would never clear. */
  int untracked = rv == ZTTP_ERR_BUFFER_FULL;
  if (rv != 0 && !untracked) {
    return 0;
  }
  if (!untracked && space == ZTTP_QUIC_SPACE_APP &&
      qc->next_pn[space] >= qc->next_skip) {
    /* RFC 9000 §21.4: a packet number never sent; an ACK of it is a
     * PROTOCOL_VIOLATION (quic/recovery.h). */
    if (zttp_quic_recovery_skip_pn(&qc->rec, space, qc->next_pn[space]) == 0) {
      qc->next_pn[space]++;
    }
    qc->next_skip =
        qc->next_pn[space] + QC_SKIP_MIN + qc_rand(qc) % QC_SKIP_SPREAD;
  }
  memset(pb, 0, sizeof(*pb));
  pb->space = space;
  pb->start = off;
  pb->untracked = untracked;
  pb->pk = QC_PK_NONE;
  pb->pn = qc->next_pn[space];
  pb->pn_len = zttp_quic_pn_encode_len(pb->pn, qc->rec.sp[space].largest_acked);
  uint8_t *p = dgram + off;
  size_t cap = room - ZTTP_CRYPTO_TAG_LEN;
  if (space == ZTTP_QUIC_SPACE_APP) {
    pb->hdr_len = zttp_quic_hdr_write_short(p, cap, qc->dcid.data, qc->dcid.len,
                                            0, qc->key_phase, pb->pn,
                                            pb->pn_len, &pb->pn_off);
  } else {
    zttp_quic_hdr h;
    memset(&h, 0, sizeof(h));
    h.type = space == ZTTP_QUIC_SPACE_INITIAL ? ZTTP_QUIC_PKT_INITIAL
                                              : ZTTP_QUIC_PKT_HANDSHAKE;
    h.version = qc->version;
    h.dcid = qc->dcid.data;
    h.dcid_len = qc->dcid.len;
    h.scid = qc->scid.data;
    h.scid_len = qc->scid.len;
    if (space == ZTTP_QUIC_SPACE_INITIAL && qc->role == ZTTP_CLIENT) {
      h.token = qc->token; /* RFC 9000 §17.2.5.3 */
      h.token_len = qc->token_len;
    }
    pb->is_long = 1;
    pb->hdr_len = zttp_quic_hdr_write_long(p, cap, &h, pb->pn, pb->pn_len,
                                           &pb->length_off, &pb->pn_off);
  }
  if (pb->hdr_len == 0 || pb->hdr_len + 8 > cap) {
    return 0;
  }
  pb->payload_cap = cap - pb->hdr_len;
  if (pb->is_long && pb->payload_cap > 16000) {
    pb->payload_cap = 16000; /* the 2-byte Length field */
  }
  if (untracked) {
    return 1;
  }
  rv = pk_alloc(qc, &pb->pk);
  if (rv == ZTTP_ERR_NOMEM) {
    return rv;
  }
  return rv == 0 ? 1 : 0;
}

/* Seals a built packet and records it (RFC 9001 §5.3, §5.4; RFC 9002
 * §A.5). Returns its length. */
static size_t finish_packet(zttp_quic_conn *qc, uint8_t *dgram, pkt_build *pb,
                            zttp_tstamp now) {
  uint8_t *p = dgram + pb->start;
  /* RFC 9001 §5.4.2: room for the header-protection sample. */
  while (pb->pn_len + pb->payload_len < 4) {
    p[pb->hdr_len + pb->payload_len++] = 0;
    pb->padded = 1;
  }
  size_t len = pb->hdr_len + pb->payload_len + ZTTP_CRYPTO_TAG_LEN;
  if (pb->is_long) {
    zttp_quic_length_patch(p, pb->length_off,
                           pb->pn_len + pb->payload_len + ZTTP_CRYPTO_TAG_LEN);
  }
  zttp_crypto_keys *k = qc->tx[pb->space];
  uint8_t mask[ZTTP_CRYPTO_HP_MASK_LEN];
  if (!zttp_crypto_seal(k, p + pb->hdr_len, pb->pn, p, pb->hdr_len,
                        p + pb->hdr_len, pb->payload_len) ||
      !zttp_crypto_hp_mask(k, mask,
                           p + zttp_quic_hp_sample_offset(pb->pn_off)) ||
      !zttp_quic_hp_mask_apply(p, len, pb->pn_off, mask)) {
    /* Cannot happen with valid keys; the packet number is burnt. */
    memset(mask, 0, sizeof(mask));
  }
  uint32_t flags = 0;
  if (pb->ack_eliciting) {
    flags = ZTTP_QUIC_SENT_ACK_ELICITING | ZTTP_QUIC_SENT_IN_FLIGHT;
  } else if (pb->padded) {
    flags = ZTTP_QUIC_SENT_IN_FLIGHT;
  }
  if (pb->untracked) {
    zttp_quic_recovery_on_untracked_sent(&qc->rec, pb->space, pb->pn);
  } else {
    (void)zttp_quic_recovery_on_packet_sent(&qc->rec, pb->space, pb->pn,
                                            (uint32_t)len, flags, pb->pk, now);
  }
  qc->next_pn[pb->space]++;
  if (pb->has_ack) {
    zttp_quic_acks_on_sent(&qc->acks, pb->space);
    qc->st.acks_sent++;
  }
  if (pb->ack_eliciting) {
    qc->ping_pending[pb->space] = 0;
    /* RFC 9000 §10.1: the first ack-eliciting packet since the last one
     * received restarts the idle timer. */
    if (!qc->sent_eliciting && qc->state == QC_OPEN) {
      qc->sent_eliciting = 1;
      qc_reset_idle(qc, now);
    }
  }
  qc->st.pkts_sent++;
  return len;
}

/* Fills one packet's frames. Returns 1 when the packet has frames worth
 * sending, 0 when it must be dropped. */
static int fill_packet(zttp_quic_conn *qc, uint8_t *dgram, pkt_build *pb,
                       int others, int may_elicit, zttp_tstamp now) {
  uint32_t space = pb->space;
  /* The ACK frame first, so that it always fits (RFC 9000 §13.2). */
  int ack_due = zttp_quic_acks_due(&qc->acks, space, now);
  int ack_pending = zttp_quic_acks_pending(&qc->acks, space);
  if ((ack_due || ack_pending) && (pk_room(qc, pb) || pb->untracked)) {
    zttp_quic_ack_range ranges[QC_MAX_ACK_FRAME_RANGES];
    zttp_quic_frame f;
    if (zttp_quic_acks_write(&qc->acks, &f, ranges, QC_MAX_ACK_FRAME_RANGES,
                             space, now) > 0) {
      size_t nw = 0;
      uint8_t *p = dgram + pb->start + pb->hdr_len;
      size_t n = zttp_quic_frame_encode_ack(&f, p, pb->payload_cap, &nw);
      if (n > 0) {
        pb->payload_len = n;
        pb->has_ack = 1;
        if (!pb->untracked) {
          pk_add(qc, pb, QF_ACK, f.u.ack.ranges[0].largest, 0, 0, 0);
        }
      }
    }
  }
  if (may_elicit) {
    if (space == ZTTP_QUIC_SPACE_APP) {
      put_control(qc, dgram, pb);
    }
    put_crypto(qc, dgram, pb);
    if (space == ZTTP_QUIC_SPACE_APP && qc->hs_complete) {
      size_t n =
          qc_dgram_put(qc, dgram + pb->start + pb->hdr_len + pb->payload_len,
                       pb->payload_cap - pb->payload_len);
      if (n > 0) {
        pb->payload_len += n;
        pb->ack_eliciting = 1; /* RFC 9221 §5, not retransmitted */
      }
      put_streams(qc, dgram, pb);
    }
  }
  if (!pb->ack_eliciting && space_has_probe(qc, space) &&
      pb->payload_len < pb->payload_cap && pk_room(qc, pb)) {
    zttp_quic_frame f;
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_PING;
    if (put_frame(dgram, pb, &f)) {
      pk_add(qc, pb, QF_PING, 0, 0, 0, 0);
    }
  }
  if (pb->ack_eliciting || ack_due) {
    return 1;
  }
  /* A lone ACK that is not due yet only rides along with other packets. */
  return pb->has_ack && others;
}

static int64_t write_close(zttp_quic_conn *qc, uint8_t *buf, size_t limit,
                           zttp_tstamp now) {
  size_t off = 0;
  int has_initial = 0;
  for (uint32_t space = 0; space < ZTTP_QUIC_NUM_SPACES; space++) {
    if (qc->tx[space] == NULL ||
        (space == ZTTP_QUIC_SPACE_APP && !qc->hs_complete)) {
      continue;
    }
    pkt_build pb;
    int32_t rv = begin_packet(qc, buf, off, limit - off, space, &pb);
    if (rv <= 0) {
      continue;
    }
    zttp_quic_frame f;
    memset(&f, 0, sizeof(f));
    /* RFC 9000 §10.2.3: an application close before 1-RTT becomes
     * APPLICATION_ERROR without a reason. */
    int app_ok = space == ZTTP_QUIC_SPACE_APP;
    if (qc->close_app && app_ok) {
      f.type = ZTTP_QUIC_FT_CONNECTION_CLOSE_APP;
      f.u.close.error_code = qc->close_code;
    } else {
      f.type = ZTTP_QUIC_FT_CONNECTION_CLOSE;
      f.u.close.error_code =
          qc->close_app ? ZTTP_QUIC_ERR_APPLICATION_ERROR : qc->close_code;
      f.u.close.frame_type = qc->close_frame_type;
    }
    if (!qc->close_app || app_ok) {
      f.u.close.reason = (const uint8_t *)qc->close_reason;
      f.u.close.reason_len = qc->close_reason_len;
    }
    if (!put_frame(buf, &pb, &f)) {
      pk_release(qc, pb.pk);
      continue;
    }
    if (space == ZTTP_QUIC_SPACE_INITIAL && qc->role == ZTTP_CLIENT) {
      has_initial = 1;
    }
    int last = 1;
    for (uint32_t s2 = space + 1; s2 < ZTTP_QUIC_NUM_SPACES; s2++) {
      if (qc->tx[s2] != NULL &&
          !(s2 == ZTTP_QUIC_SPACE_APP && !qc->hs_complete)) {
        last = 0;
      }
    }
    if (has_initial && last && ZTTP_QUIC_MIN_INITIAL_DATAGRAM <= limit) {
      (void)pad_datagram(
          buf, &pb, off + pb.hdr_len + pb.payload_len + ZTTP_CRYPTO_TAG_LEN,
          ZTTP_QUIC_MIN_INITIAL_DATAGRAM);
    }
    off += finish_packet(qc, buf, &pb, now);
  }
  qc->close_pending = 0;
  return (int64_t)off;
}

/* The PATH_RESPONSE at the head of the queue when it is owed to another
 * path than the current one, or NULL. */
static const qc_presp *off_path_response(const zttp_quic_conn *qc) {
  const qc_presp *r = qc_presp_head(qc);
  return r != NULL && !qc_path_eq(&r->path, &qc->path) ? r : NULL;
}

int zttp_quic_conn_probe_pending(const zttp_quic_conn *qc) {
  if (qc->state != QC_OPEN || !qc->hs_confirmed ||
      qc->tx[ZTTP_QUIC_SPACE_APP] == NULL) {
    return 0;
  }
  return off_path_response(qc) != NULL || qc->old_probe;
}

static void drop_probe(zttp_quic_conn *qc, int resp) {
  if (resp) {
    qc_presp_pop(qc);
    qc->st.path_challenges_dropped++;
  } else {
    qc->old_probe = 0;
  }
}

/* One datagram off the current path (RFC 9000 §8.2, §9.3.3): the
 * PATH_RESPONSEs owed to the path at the head of the queue, or the
 * PATH_CHALLENGE that checks the previous path. A single 1-RTT packet,
 * expanded to 1200 bytes within the path's §8.1 budget, not recorded for
 * recovery: its loss says nothing about the current path's congestion
 * (§9.4), and the peer's PATH_CHALLENGE or our timer repeats it. Returns
 * its length, 0 when the probe was dropped (no CID to send it with, no
 * room: call again), or ZTTP_ERR_NOMEM. */
static int64_t write_probe(zttp_quic_conn *qc, uint8_t *buf, size_t limit,
                           zttp_path *path, zttp_tstamp now) {
  const qc_presp *head = off_path_response(qc);
  int resp = head != NULL;
  zttp_quic_cid cur = qc->dcid;
  size_t room = limit;
  if (resp) {
    *path = head->path;
    if (head->budget < room) {
      room = (size_t)head->budget;
    }
    if (head->new_dcid) {
      /* §9.5: the peer probes with a new CID, so do we; without a spare
       * one nothing can be sent there (§9.3). */
      const qc_cid *u = qc_cids_unused(qc);
      if (u == NULL) {
        drop_probe(qc, 1);
        return 0;
      }
      qc->dcid = u->cid;
    }
  } else {
    *path = qc->prev_path;
  }
  pkt_build pb;
  int32_t rv = begin_packet(qc, buf, 0, room, ZTTP_QUIC_SPACE_APP, &pb);
  qc->dcid = cur;
  if (rv <= 0) {
    if (rv == 0) {
      drop_probe(qc, resp);
    }
    return rv;
  }
  pk_release(qc, pb.pk);
  pb.pk = QC_PK_NONE;
  pb.untracked = 1;
  if (resp) {
    (void)put_path_responses(qc, buf, &pb, path);
  } else {
    zttp_quic_frame f;
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_PATH_CHALLENGE;
    memcpy(f.u.path.data, qc->old_data, 8);
    (void)put_frame(buf, &pb, &f);
    qc->old_probe = 0;
  }
  (void)pad_datagram(
      buf, &pb, pb.hdr_len + pb.payload_len + ZTTP_CRYPTO_TAG_LEN,
      ZTTP_QUIC_MIN_INITIAL_DATAGRAM < room ? ZTTP_QUIC_MIN_INITIAL_DATAGRAM
                                            : room);
  size_t n = finish_packet(qc, buf, &pb, now);
  qc->st.bytes_sent += n;
  return (int64_t)n;
}

int64_t zttp_quic_conn_write(zttp_quic_conn *qc, uint8_t *buf, size_t cap,
                             zttp_path *path, zttp_tstamp now) {
  if (cap < ZTTP_QUIC_MIN_INITIAL_DATAGRAM) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *path = qc->path;
  qc->last_now = now;
  if (qc->state == QC_CLOSED || qc->state == QC_DRAINING) {
    return 0;
  }
  /* RFC 9000 §14: the peer's max_udp_payload_size, 1200 until known. */
  size_t limit = qc->have_peer_tp ? (size_t)qc->s.max_udp_payload_size
                                  : ZTTP_QUIC_MIN_INITIAL_DATAGRAM;
  if (qc->have_peer_tp && qc->peer_tp.max_udp_payload_size < limit) {
    limit = (size_t)qc->peer_tp.max_udp_payload_size;
  }
  if (limit > cap) {
    limit = cap;
  }
  while (zttp_quic_conn_probe_pending(qc)) {
    int64_t n = write_probe(qc, buf, limit, path, now);
    if (n != 0) {
      return n;
    }
  }
  *path = qc->path;
  if (!qc->validated) {
    /* RFC 9000 §8.1, §9.3.1: three times what was received. */
    uint64_t amp =
        3 * qc->amp_recv > qc->amp_sent ? 3 * qc->amp_recv - qc->amp_sent : 0;
    if (amp < limit) {
      limit = (size_t)amp;
    }
    if (limit < QC_MIN_PACKET_ROOM) {
      zttp_quic_recovery_set_amplification_limited(&qc->rec, 1, now);
      return 0;
    }
  }
  int64_t total;
  if (qc->state == QC_CLOSING) {
    if (!qc->close_pending) {
      return 0;
    }
    total = write_close(qc, buf, limit, now);
  } else {
    pkt_build pbs[ZTTP_QUIC_NUM_SPACES];
    size_t num = 0;
    size_t off = 0;
    int has_initial = 0;
    uint64_t cwnd_left = zttp_quic_cc_window_left(&qc->rec.cc);
    qc->pace_at = ZTTP_TSTAMP_NEVER;
    if (qc->s.pacing && cwnd_left > 0) {
      /* RFC 9002 §7.7: no new ack-eliciting packet before the pacer
       * allows a full one; ACKs and probes still go. */
      zttp_tstamp t =
          zttp_quic_cc_pacing_time(&qc->rec.cc, &qc->rec.rtt, limit, now);
      if (t > now) {
        qc->pace_at = t;
        cwnd_left = 0;
      }
    }
    for (uint32_t space = 0; space < ZTTP_QUIC_NUM_SPACES; space++) {
      if (qc->tx[space] == NULL) {
        continue;
      }
      pkt_build *pb = &pbs[num];
      int32_t rv = begin_packet(qc, buf, off, limit - off, space, pb);
      if (rv < 0) {
        return rv;
      }
      if (rv == 0) {
        continue;
      }
      /* RFC 9002 §7: ack-eliciting packets within the window, probes
       * regardless (§7.5). A window smaller than a full packet still
       * takes a smaller one: with large datagrams (max_udp_payload_size
       * above the initial window) nothing would ever be sent otherwise. */
      int may_elicit = space_has_probe(qc, space);
      if (!may_elicit && space != ZTTP_QUIC_SPACE_APP && !qc->hs_confirmed &&
          crypto_pending(qc, space)) {
        /* The handshake's own data (a lost Finished) goes whatever the
         * window: 1-RTT packets the peer cannot decrypt yet may fill it,
         * and no 1-RTT PTO is armed before confirmation (RFC 9002
         * §6.2.1), so waiting for room could wait forever. The flight is
         * small and, at a server, under the §8.1 amplification limit. */
        may_elicit = 1;
      } else if (!may_elicit && cwnd_left >= pb->hdr_len + ZTTP_CRYPTO_TAG_LEN +
                                                 QC_MIN_ELICIT) {
        size_t fit = (size_t)cwnd_left - pb->hdr_len - ZTTP_CRYPTO_TAG_LEN;
        if (fit < pb->payload_cap) {
          pb->payload_cap = fit;
        }
        may_elicit = 1;
      }
      if (pb->untracked) {
        may_elicit = 0; /* an ACK only */
      }
      if (!fill_packet(qc, buf, pb, num > 0, may_elicit, now)) {
        pk_release(qc, pb->pk);
        continue;
      }
      /* RFC 9001 §5.4.2: room for the header-protection sample, padded
       * here so that the datagram's length accounts for it. */
      while (pb->pn_len + pb->payload_len < 4) {
        buf[pb->start + pb->hdr_len + pb->payload_len++] = 0;
        pb->padded = 1;
      }
      if (pb->ack_eliciting && cwnd_left > pb->payload_len) {
        cwnd_left -= pb->payload_len;
      }
      if (space == ZTTP_QUIC_SPACE_INITIAL &&
          (qc->role == ZTTP_CLIENT || pb->ack_eliciting)) {
        has_initial = 1; /* RFC 9000 §14.1 */
      }
      off += pb->hdr_len + pb->payload_len + ZTTP_CRYPTO_TAG_LEN;
      num++;
    }
    if (num == 0) {
      /* RFC 9002 §7.8: nothing more to send although the window has room
       * for a full datagram: application (or flow-control) limited. */
      qc->app_limited = cwnd_left >= limit;
      return 0;
    }
    if (cwnd_left < limit) {
      qc->app_limited = 0;
    }
    int pad_full = 0;
    int challenge = 0;
    for (size_t i = 0; i < num; i++) {
      pad_full |= pbs[i].pad_full;
      challenge |= pbs[i].challenge;
    }
    if (has_initial || pad_full) {
      /* RFC 9000 §14.1: PADDING in the last packet up to 1200 bytes; the
       * same for PATH_CHALLENGE and PATH_RESPONSE (§8.2.1, §8.2.2) within
       * the anti-amplification limit (|limit|). */
      off = pad_datagram(buf, &pbs[num - 1], off,
                         ZTTP_QUIC_MIN_INITIAL_DATAGRAM < limit
                             ? ZTTP_QUIC_MIN_INITIAL_DATAGRAM
                             : limit);
    }
    total = 0;
    int eliciting = 0;
    for (size_t i = 0; i < num; i++) {
      eliciting |= pbs[i].ack_eliciting;
      total += (int64_t)finish_packet(qc, buf, &pbs[i], now);
      if (pbs[i].space == ZTTP_QUIC_SPACE_HANDSHAKE &&
          qc->role == ZTTP_CLIENT) {
        qc->sent_handshake = 1;
      }
    }
    if (eliciting) {
      zttp_quic_cc_on_paced(&qc->rec.cc, (uint64_t)total);
    }
    if (challenge) {
      qc_path_challenge_sent(qc, total >= ZTTP_QUIC_MIN_INITIAL_DATAGRAM, now);
    }
    if (qc->sent_handshake) {
      /* RFC 9001 §4.9.1: a client drops its Initial keys once it sends a
       * Handshake packet. */
      qc_discard_space(qc, ZTTP_QUIC_SPACE_INITIAL, now);
    }
  }
  if (total > 0) {
    qc->st.bytes_sent += (uint64_t)total;
    if (!qc->validated) {
      qc->amp_sent += (uint64_t)total;
    }
  }
  return total;
}

size_t qc_test_packet(zttp_quic_conn *qc, uint8_t *out, size_t cap,
                      uint32_t space, const uint8_t *payload, size_t len) {
  pkt_build pb;
  if (space >= ZTTP_QUIC_NUM_SPACES || qc->tx[space] == NULL ||
      begin_packet(qc, out, 0, cap, space, &pb) <= 0) {
    return 0;
  }
  pk_release(qc, pb.pk);
  pb.pk = QC_PK_NONE;
  pb.untracked = 1;
  if (len > pb.payload_cap) {
    return 0;
  }
  memcpy(out + pb.hdr_len, payload, len);
  pb.payload_len = len;
  return finish_packet(qc, out, &pb, qc->last_now);
}
