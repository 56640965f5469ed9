/* Path validation (RFC 9000 §8.2) and connection migration (§9).
 *
 * A server follows its client: a 1-RTT packet numbered above every earlier
 * one that carries a non-probing frame on another path moves the server
 * there (§9.3). The new peer address is unproven until a PATH_CHALLENGE
 * sent on it is answered: until then the §8.1 limit (three times what
 * arrived on it) applies, and when validation times out (§8.2.4) the
 * server falls back to the last validated path (§9.3.2). Coming back to
 * that path (an attacker's copy of a packet lost the race) needs no new
 * validation (§9.3). A move that kept the connection ID looks like a NAT
 * rebinding, or an attacker forwarding genuine packets (§9.3.3): the old
 * path is challenged too, which draws packets from the peer on it. A move
 * to a new connection ID is answered with one of the peer's unused IDs
 * (§9.5). Congestion control and RTT restart once the new address is
 * proven, unless only the port changed (§9.4).
 *
 * Probing packets (only PATH_CHALLENGE, PATH_RESPONSE, NEW_CONNECTION_ID,
 * PADDING: §9.1) move nothing; their PATH_CHALLENGEs are answered on the
 * path they came on (§8.2.2), in conn_send.c.
 *
 * A client never migrates itself here and drops datagrams from any server
 * address other than the one it talks to (§9). A server drops datagrams
 * from another path before the handshake is confirmed (§9: endpoints keep
 * their addresses during the handshake).
 * SPDX-License-Identifier: MIT */
#include "quic/conn_internal.h"

#include <string.h>

#include "quic/error.h"

static size_t cap_len(uint32_t len, size_t max) {
  return len < max ? len : max;
}

static int remote_eq(const zttp_path *a, const zttp_path *b) {
  size_t n = cap_len(a->remote_len, sizeof(a->remote));
  return a->remote_len == b->remote_len && memcmp(a->remote, b->remote, n) == 0;
}

int qc_path_eq(const zttp_path *a, const zttp_path *b) {
  size_t n = cap_len(a->local_len, sizeof(a->local));
  return remote_eq(a, b) && a->local_len == b->local_len &&
         memcmp(a->local, b->local, n) == 0;
}

/* RFC 9000 §9.4: 1 when only the port differs between the peer addresses
 * of |a| and |b|. They hold a struct sockaddr_in or sockaddr_in6 copied
 * verbatim (zttp.h): the family in 2 bytes, the port in 2, then the IPv4
 * address at offset 4 (16 bytes in all) or, after 4 bytes of flow label,
 * the IPv6 address at offset 8 (28 in all). Anything else counts as a new
 * host. */
static int same_host(const zttp_path *a, const zttp_path *b) {
  if (a->remote_len != b->remote_len || memcmp(a->remote, b->remote, 2) != 0) {
    return 0;
  }
  if (a->remote_len == 16) {
    return memcmp(a->remote + 4, b->remote + 4, 4) == 0;
  }
  if (a->remote_len == 28) {
    return memcmp(a->remote + 8, b->remote + 8, 16) == 0;
  }
  return 0;
}

static void push_event(zttp_quic_conn *qc, const zttp_path *path,
                       int validated) {
  if (qc->num_pev == QC_MAX_PATH_EVENTS) {
    /* The oldest goes: the newest says where we send now. */
    qc->pev_head = (qc->pev_head + 1) % QC_MAX_PATH_EVENTS;
    qc->num_pev--;
  }
  qc_pathev *e = &qc->pev[(qc->pev_head + qc->num_pev++) % QC_MAX_PATH_EVENTS];
  e->path = *path;
  e->validated = (uint8_t)validated;
}

int qc_path_next_event(zttp_quic_conn *qc, zttp_quic_event *ev) {
  if (qc->num_pev == 0) {
    return 0;
  }
  qc_pathev *e = &qc->pev[qc->pev_head];
  qc->pev_head = (qc->pev_head + 1) % QC_MAX_PATH_EVENTS;
  qc->num_pev--;
  qc->pev_out = e->path;
  ev->kind = ZTTP_QUIC_EV_PATH;
  ev->path = &qc->pev_out;
  ev->validated = e->validated;
  return 1;
}

int qc_path_on_datagram(zttp_quic_conn *qc, const zttp_path *path, size_t len) {
  qc->rx_path = path;
  qc->rx_len = len;
  qc->rx_other = 0;
  if (qc_path_eq(path, &qc->path)) {
    return 1;
  }
  if (qc->role == ZTTP_CLIENT) {
    /* RFC 9000 §9: only the server we talk to; our own local address is
     * the application's business. */
    if (!qc->path_known || remote_eq(path, &qc->path)) {
      return 1;
    }
    qc->st.dgrams_wrong_path++;
    return 0;
  }
  if (!qc->hs_confirmed) {
    qc->st.dgrams_wrong_path++;
    return 0;
  }
  qc->rx_other = 1;
  return 1;
}

void qc_path_after_datagram(zttp_quic_conn *qc, int processed) {
  if (qc->role == ZTTP_CLIENT && !qc->path_known && processed &&
      qc->rx_path != NULL) {
    qc->path = *qc->rx_path;
    qc->path_known = 1;
  }
  qc->rx_path = NULL;
  qc->rx_other = 0;
}

/* RFC 9000 §8.2.4: three times the larger of the current PTO and that of
 * a new path (kInitialRtt, RFC 9002 §6.2.2). */
static uint64_t validation_time(const zttp_quic_conn *qc) {
  zttp_quic_rtt fresh;
  zttp_quic_rtt_init(&fresh);
  uint64_t a = qc_pto(qc);
  uint64_t b = zttp_quic_rtt_pto(&fresh, qc->rec.max_ack_delay);
  return 3 * (a > b ? a : b);
}

/* Starts a validation round of |path|. Returns 0, or ZTTP_ERR_INVALID_STATE
 * when the random source fails. */
static int32_t start_round(zttp_quic_conn *qc, int mtu, zttp_tstamp now) {
  /* §8.2.1: unpredictable data. */
  if (!zttp_crypto_random(qc->pv_data, sizeof(qc->pv_data))) {
    return ZTTP_ERR_INVALID_STATE;
  }
  qc->pv_active = 1;
  qc->pv_send = 1;
  qc->pv_mtu = (uint8_t)mtu;
  qc->pv_padded = 0;
  qc->pv_tries = 0;
  qc->pv_resend_at = ZTTP_TSTAMP_NEVER;
  qc->pv_deadline = now + validation_time(qc);
  return 0;
}

static void set_validated(zttp_quic_conn *qc, zttp_tstamp now) {
  qc->validated = 1;
  zttp_quic_recovery_set_amplification_limited(&qc->rec, 0, now);
}

int32_t qc_path_migrate(zttp_quic_conn *qc, zttp_tstamp now) {
  const zttp_path *np = qc->rx_path;
  int new_cid = qc->rx_dcid_seq != qc->path_dcid_seq;
  qc->path_dcid_seq = qc->rx_dcid_seq;
  qc->rx_other = 0; /* the datagram is on the current path now */
  qc->st.migrations++;
  if (qc->validated) {
    qc->prev_path = qc->path;
    qc->have_prev = 1;
  }
  qc->path = *np;
  /* §8.2.4: a validation under way on the path we leave is abandoned. */
  qc->pv_active = 0;
  qc->pv_send = 0;
  qc->old_probe = 0;
  if (qc->have_prev && qc_path_eq(&qc->path, &qc->prev_path)) {
    /* §9.3: back on the last validated path: no new validation, and the
     * congestion state was never reset for the spurious one. */
    set_validated(qc, now);
    push_event(qc, &qc->path, 1);
    return 0;
  }
  /* §9.5: the peer moved to a new CID, so do we, if it gave us a spare
   * one. Without one, the CID in use stays: the alternative, sending
   * nothing until the peer provides one, could end the connection. */
  if (new_cid) {
    (void)qc_cids_rotate(qc);
  }
  /* §9.3.1: the new address is unproven: three times what it sent. */
  qc->validated = 0;
  qc->amp_recv = qc->rx_len;
  qc->amp_sent = 0;
  zttp_quic_recovery_set_amplification_limited(&qc->rec, 0, now);
  qc->pv_reset_cc =
      (uint8_t) !(qc->have_prev && same_host(&qc->path, &qc->prev_path));
  int32_t rv = start_round(qc, 0, now);
  /* §9.3.3: same CID: maybe a NAT rebinding, maybe an attacker forwarding
   * our peer's packets. A PATH_CHALLENGE on the old path draws packets
   * from the peer there, and a higher-numbered one moves us back. After a
   * move to a new CID (an intentional migration, §9.3.3) the old path is
   * left alone: the retired CID must not be used again and the new one
   * must not be seen on both paths (§9.5). */
  if (rv == 0 && qc->have_prev && !new_cid) {
    if (zttp_crypto_random(qc->old_data, sizeof(qc->old_data))) {
      qc->old_probe = 1;
    } else {
      rv = ZTTP_ERR_INVALID_STATE;
    }
  }
  if (rv != 0) {
    qc_fail(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "random", now);
    return rv;
  }
  push_event(qc, &qc->path, 0);
  return 0;
}

void qc_presp_pop(zttp_quic_conn *qc) {
  qc->path_resp_head = (qc->path_resp_head + 1) % qc->s.max_path_responses;
  qc->num_path_resp--;
}

void qc_path_on_challenge(zttp_quic_conn *qc, const uint8_t *data) {
  /* §8.2.2: answered, at most max_path_responses queued (the oldest
   * goes). */
  if (qc->num_path_resp == qc->s.max_path_responses) {
    qc_presp_pop(qc);
    qc->st.path_challenges_dropped++;
  }
  qc_presp *r = &qc->path_response[(qc->path_resp_head + qc->num_path_resp++) %
                                   qc->s.max_path_responses];
  memcpy(r->data, data, sizeof(r->data));
  r->path = qc->rx_path != NULL ? *qc->rx_path : qc->path;
  /* §8.1 on a path not validated: three times the datagram it came in. */
  r->budget = qc->rx_other ? 3 * (uint64_t)qc->rx_len : UINT64_MAX;
  r->new_dcid = (uint8_t)(qc->rx_other && qc->rx_dcid_seq != qc->path_dcid_seq);
}

/* §8.2.4: the validation of |path| failed. */
static void path_failed(zttp_quic_conn *qc, zttp_tstamp now) {
  qc->st.paths_failed++;
  qc->pv_active = 0;
  qc->pv_send = 0;
  if (qc->have_prev && !qc_path_eq(&qc->prev_path, &qc->path)) {
    /* §9.3.2: back to the last validated peer address. */
    qc->path = qc->prev_path;
    set_validated(qc, now);
    push_event(qc, &qc->path, 1);
    return;
  }
  /* §9.3.2: no validated path left: closed silently. */
  qc->state = QC_CLOSED;
  qc->ev_closed = 1;
  qc->close_error = ZTTP_ERR_CLOSED;
  qc->close_code = ZTTP_QUIC_ERR_NO_VIABLE_PATH;
}

void qc_path_on_response(zttp_quic_conn *qc, const uint8_t *data,
                         zttp_tstamp now) {
  /* §8.2.3: on any path; anything else (a late answer, the old path's)
   * changes nothing. */
  if (!qc->pv_active || memcmp(data, qc->pv_data, sizeof(qc->pv_data)) != 0) {
    return;
  }
  qc->pv_active = 0;
  qc->pv_send = 0;
  int was_mtu = qc->pv_mtu;
  if (!qc->validated) {
    set_validated(qc, now);
    qc->st.paths_validated++;
    if (qc->pv_reset_cc) {
      /* §9.4: a new address: congestion control and RTT from scratch;
       * what is in flight stays counted. */
      uint64_t inflight = qc->rec.cc.bytes_in_flight;
      zttp_quic_cc_init(&qc->rec.cc, qc->rec.cc.algo,
                        qc->rec.cc.max_datagram_size);
      qc->rec.cc.bytes_in_flight = inflight;
      zttp_quic_rtt_init(&qc->rec.rtt);
      qc->st.cc_resets++;
    }
    push_event(qc, &qc->path, 1);
  }
  if (!qc->pv_padded && !was_mtu) {
    /* §8.2.1, §8.2.3: the address is proven but not the path MTU: once
     * more in a datagram of 1200 bytes, now that no limit stops it. */
    if (start_round(qc, 1, now) != 0) {
      qc_fail(qc, ZTTP_ERR_INVALID_STATE, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0,
              "random", now);
    }
  }
}

void qc_path_challenge_sent(zttp_quic_conn *qc, int padded, zttp_tstamp now) {
  qc->pv_send = 0;
  qc->pv_padded = (uint8_t)padded;
  /* §8.2.1, §9.4: no more often than an Initial: a PTO, doubling. */
  uint32_t shift = qc->pv_tries < 6 ? qc->pv_tries : 6;
  qc->pv_tries++;
  qc->pv_resend_at = now + (qc_pto(qc) << shift);
}

zttp_tstamp qc_path_timeout(const zttp_quic_conn *qc) {
  if (!qc->pv_active) {
    return ZTTP_TSTAMP_NEVER;
  }
  zttp_tstamp t = qc->pv_deadline;
  if (!qc->pv_send && qc->pv_resend_at < t) {
    t = qc->pv_resend_at;
  }
  return t;
}

void qc_path_on_timeout(zttp_quic_conn *qc, zttp_tstamp now) {
  if (!qc->pv_active) {
    return;
  }
  if (now >= qc->pv_deadline) {
    path_failed(qc, now);
  } else if (!qc->pv_send && now >= qc->pv_resend_at) {
    qc->pv_send = 1;
    qc->pv_resend_at = ZTTP_TSTAMP_NEVER;
  }
}
