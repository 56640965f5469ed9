/* Connection IDs (RFC 9000 §5.1): issuing ours with NEW_CONNECTION_ID up
 * to the peer's active_connection_id_limit, the peer's NEW_CONNECTION_ID
 * (§19.15) with retire_prior_to (§5.1.2) into a bounded RETIRE queue, the
 * peer's RETIRE_CONNECTION_ID (§19.16), and the Stateless Reset Tokens
 * that come with them (§10.3).
 * SPDX-License-Identifier: MIT */
#include "quic/conn_internal.h"

#include <string.h>

#include "quic/endpoint.h"
#include "quic/error.h"

int qc_reset_token(const zttp_quic_conn *qc, uint8_t *out,
                   const zttp_quic_cid *cid) {
  return zttp_quic_ep_reset_token(out, qc->s.reset_key, cid->data, cid->len) ==
         0;
}

int qc_cids_init(zttp_quic_conn *qc) {
  qc_cid *c = &qc->lcid[0];
  memset(c, 0, sizeof(*c));
  c->cid = qc->scid;
  if (!qc_reset_token(qc, c->token, &qc->scid)) {
    return 0;
  }
  c->has_token = qc->role == ZTTP_SERVER; /* §18.2: servers only */
  qc->num_lcid = 1;
  qc->next_lcid_seq = 1;
  qc->lcid_version = 1;
  return 1;
}

void qc_cids_peer_init(zttp_quic_conn *qc) {
  qc_cid *c = &qc->rcid[0];
  memset(c, 0, sizeof(*c));
  c->cid = qc->dcid;
  if (zttp_quic_tparams_has(&qc->peer_tp, ZTTP_QUIC_TP_STATELESS_RESET_TOKEN)) {
    memcpy(c->token, qc->peer_tp.stateless_reset_token,
           ZTTP_QUIC_RESET_TOKEN_LEN);
    c->has_token = 1;
  }
  qc->num_rcid = 1;
  qc->dcid_seq = 0;
}

static int local_cid_taken(const zttp_quic_conn *qc, const zttp_quic_cid *c) {
  return qc_cids_find_local(qc, c->data, c->len) != NULL;
}

int32_t qc_cids_issue(zttp_quic_conn *qc) {
  if (!qc->hs_complete || !qc->have_peer_tp || qc->state != QC_OPEN) {
    return 0;
  }
  uint64_t limit = qc->peer_tp.active_connection_id_limit;
  if (limit > ZTTP_QUIC_MAX_ACTIVE_CIDS) {
    limit = ZTTP_QUIC_MAX_ACTIVE_CIDS; /* our own cap */
  }
  while (qc->num_lcid < limit) {
    qc_cid *c = &qc->lcid[qc->num_lcid];
    memset(c, 0, sizeof(*c));
    c->cid.len = (uint8_t)qc->s.cid_len;
    do {
      if (!zttp_crypto_random(c->cid.data, c->cid.len)) {
        return ZTTP_ERR_INVALID_STATE;
      }
    } while (local_cid_taken(qc, &c->cid));
    if (!qc_reset_token(qc, c->token, &c->cid)) {
      return ZTTP_ERR_INVALID_STATE;
    }
    c->has_token = 1;
    c->seq = qc->next_lcid_seq++;
    c->send_pending = 1;
    qc->num_lcid++;
    qc->lcid_version++;
  }
  return 0;
}

const qc_cid *qc_cids_find_local(const zttp_quic_conn *qc, const uint8_t *cid,
                                 size_t len) {
  for (size_t i = 0; i < qc->num_lcid; i++) {
    if (zttp_quic_cid_eq(&qc->lcid[i].cid, cid, len)) {
      return &qc->lcid[i];
    }
  }
  return NULL;
}

static int32_t cid_fail(zttp_quic_conn *qc, uint64_t code, uint64_t ftype,
                        const char *why, zttp_tstamp now) {
  qc_fail(qc, ZTTP_ERR_PROTOCOL, code, ftype, why, now);
  return ZTTP_ERR_PROTOCOL;
}

/* Queues RETIRE_CONNECTION_ID |seq| unless queued. Returns 1, or 0 when
 * the queue is full. */
static int retire_push(zttp_quic_conn *qc, uint64_t seq) {
  for (size_t i = 0; i < qc->num_retire; i++) {
    if (qc->retire_q[i].seq == seq) {
      return 1;
    }
  }
  if (qc->num_retire >= qc->s.max_retire_queue) {
    return 0;
  }
  qc->retire_q[qc->num_retire].seq = seq;
  qc->retire_q[qc->num_retire].in_flight = 0;
  qc->num_retire++;
  return 1;
}

/* RFC 9000 §5.1.2: when the CID in use was retired, the lowest remaining
 * one. */
static void switch_dcid(zttp_quic_conn *qc) {
  if (qc->dcid_seq < qc->rcid_retire_prior_to) {
    size_t best = 0;
    for (size_t i = 1; i < qc->num_rcid; i++) {
      if (qc->rcid[i].seq < qc->rcid[best].seq) {
        best = i;
      }
    }
    qc->dcid = qc->rcid[best].cid;
    qc->dcid_seq = qc->rcid[best].seq;
  }
}

const qc_cid *qc_cids_unused(const zttp_quic_conn *qc) {
  const qc_cid *best = NULL;
  for (size_t i = 0; i < qc->num_rcid; i++) {
    const qc_cid *r = &qc->rcid[i];
    if (r->seq > qc->dcid_seq && (best == NULL || r->seq < best->seq)) {
      best = r;
    }
  }
  return best;
}

int qc_cids_rotate(zttp_quic_conn *qc) {
  const qc_cid *u = qc_cids_unused(qc);
  uint64_t old = qc->dcid_seq;
  /* RFC 9000 §5.1.2: the CID left is retired (when the queue has room:
   * otherwise the old one stays in use). */
  if (u == NULL || !retire_push(qc, old)) {
    return 0;
  }
  qc->dcid = u->cid;
  qc->dcid_seq = u->seq;
  size_t k = 0;
  for (size_t i = 0; i < qc->num_rcid; i++) {
    if (qc->rcid[i].seq != old) {
      qc->rcid[k++] = qc->rcid[i];
    }
  }
  qc->num_rcid = k;
  return 1;
}

int32_t qc_on_new_cid(zttp_quic_conn *qc, const zttp_quic_frame *f,
                      zttp_tstamp now) {
  uint64_t t = f->type;
  uint64_t seq = f->u.new_connection_id.seq;
  uint64_t rpt = f->u.new_connection_id.retire_prior_to;
  const uint8_t *cid = f->u.new_connection_id.cid;
  size_t cid_len = f->u.new_connection_id.cid_len;
  const uint8_t *tok = f->u.new_connection_id.reset_token;
  if (qc->dcid.len == 0) { /* RFC 9000 §19.15 */
    return cid_fail(qc, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION, t,
                    "NEW_CONNECTION_ID to a zero-length CID", now);
  }
  int dup = 0;
  for (size_t i = 0; i < qc->num_rcid; i++) {
    const qc_cid *r = &qc->rcid[i];
    int same_cid = zttp_quic_cid_eq(&r->cid, cid, cid_len);
    if (r->seq == seq) {
      if (!same_cid || (r->has_token && memcmp(r->token, tok, 16) != 0)) {
        return cid_fail(qc, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION, t,
                        "sequence number reused", now);
      }
      dup = 1; /* a retransmission: its retire_prior_to still applies */
      continue;
    }
    if (same_cid) {
      return cid_fail(qc, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION, t,
                      "CID reused with another sequence number", now);
    }
  }
  if (seq < qc->rcid_retire_prior_to) {
    /* RFC 9000 §19.15: retired on arrival. */
    if (!retire_push(qc, seq)) {
      return cid_fail(qc, ZTTP_QUIC_ERR_CONNECTION_ID_LIMIT_ERROR, t,
                      "too many CIDs to retire", now);
    }
    return 0;
  }
  if (rpt > qc->rcid_retire_prior_to) {
    /* RFC 9000 §5.1.2: stop using and retire those below. */
    qc->rcid_retire_prior_to = rpt;
    size_t k = 0;
    for (size_t i = 0; i < qc->num_rcid; i++) {
      if (qc->rcid[i].seq >= rpt) {
        qc->rcid[k++] = qc->rcid[i];
      } else if (!retire_push(qc, qc->rcid[i].seq)) {
        return cid_fail(qc, ZTTP_QUIC_ERR_CONNECTION_ID_LIMIT_ERROR, t,
                        "too many CIDs to retire", now);
      }
    }
    qc->num_rcid = k;
  }
  if (dup) {
    switch_dcid(qc);
    return 0;
  }
  /* RFC 9000 §5.1.1: after adding and retiring, at most our limit. */
  if (qc->num_rcid >= qc->s.active_cid_limit) {
    return cid_fail(qc, ZTTP_QUIC_ERR_CONNECTION_ID_LIMIT_ERROR, t,
                    "active_connection_id_limit exceeded", now);
  }
  qc_cid *r = &qc->rcid[qc->num_rcid++];
  memset(r, 0, sizeof(*r));
  r->seq = seq;
  zttp_quic_cid_set(&r->cid, cid, cid_len);
  memcpy(r->token, tok, ZTTP_QUIC_RESET_TOKEN_LEN);
  r->has_token = 1;
  switch_dcid(qc);
  return 0;
}

int32_t qc_on_retire_cid(zttp_quic_conn *qc, const zttp_quic_frame *f,
                         zttp_tstamp now) {
  uint64_t seq = f->u.retire_connection_id.seq;
  /* RFC 9000 §19.16 */
  if (seq >= qc->next_lcid_seq) {
    return cid_fail(qc, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION, f->type,
                    "RETIRE_CONNECTION_ID of an unissued CID", now);
  }
  if (seq == qc->rx_dcid_seq) {
    return cid_fail(qc, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION, f->type,
                    "RETIRE_CONNECTION_ID of the packet's own CID", now);
  }
  for (size_t i = 0; i < qc->num_lcid; i++) {
    if (qc->lcid[i].seq == seq) {
      memmove(&qc->lcid[i], &qc->lcid[i + 1],
              (qc->num_lcid - i - 1) * sizeof(qc->lcid[0]));
      qc->num_lcid--;
      qc->lcid_version++;
      int32_t rv = qc_cids_issue(qc); /* a replacement */
      if (rv != 0) {
        qc_fail(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, f->type, "random", now);
        return rv;
      }
      break;
    }
  }
  return 0; /* already retired: a retransmission */
}

int qc_cids_is_reset_token(const zttp_quic_conn *qc, const uint8_t *tok) {
  int hit = 0;
  for (size_t i = 0; i < qc->num_rcid; i++) {
    if (qc->rcid[i].has_token) {
      hit |=
          zttp_crypto_memeq(tok, qc->rcid[i].token, ZTTP_QUIC_RESET_TOKEN_LEN);
    }
  }
  return hit;
}

void qc_cids_on_acked(zttp_quic_conn *qc, const qc_sent_frame *f) {
  if (f->kind != QF_RETIRE_CID) {
    return;
  }
  for (size_t i = 0; i < qc->num_retire; i++) {
    if (qc->retire_q[i].seq == f->id) {
      qc->retire_q[i] = qc->retire_q[--qc->num_retire];
      return;
    }
  }
}

void qc_cids_on_lost(zttp_quic_conn *qc, const qc_sent_frame *f) {
  if (f->kind == QF_RETIRE_CID) {
    for (size_t i = 0; i < qc->num_retire; i++) {
      if (qc->retire_q[i].seq == f->id) {
        qc->retire_q[i].in_flight = 0;
      }
    }
  } else if (f->kind == QF_NEW_CID) {
    for (size_t i = 0; i < qc->num_lcid; i++) {
      if (qc->lcid[i].seq == f->id) {
        qc->lcid[i].send_pending = 1;
      }
    }
  }
}

size_t zttp_quic_conn_local_cids(const zttp_quic_conn *qc, zttp_quic_cid *out,
                                 size_t max) {
  for (size_t i = 0; i < qc->num_lcid && i < max; i++) {
    out[i] = qc->lcid[i].cid;
  }
  return qc->num_lcid;
}

uint64_t zttp_quic_conn_local_cids_version(const zttp_quic_conn *qc) {
  return qc->lcid_version;
}
