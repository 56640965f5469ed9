/* The QUIC connection core: life cycle, the TLS driver and the keys it
 * installs (RFC 9001 §4), key discard (RFC 9001 §4.9), loss recovery
 * plumbing (quic/recovery.h), timers, events and closing (RFC 9000 §10).
 * SPDX-License-Identifier: MIT */
#include "quic/conn_internal.h"

#include <string.h>

#include "quic/error.h"

void zttp_quic_settings_default(zttp_quic_settings *s) {
  memset(s, 0, sizeof(*s));
  s->max_data = 1u << 20;
  s->max_stream_data = 256u << 10;
  s->max_streams_bidi = 100;
  s->max_streams_uni = 3;
  s->idle_timeout_ms = 30000;
  s->max_udp_payload_size = 1452;
  s->max_ack_delay_ms = 25;
  s->max_crypto_buffer = 65536;
  s->max_ack_ranges = 64;
  s->max_sent_packets = 4096;
  s->stream_send_buffer = 256u << 10;
  s->max_stream_fragments = 64;
  s->cid_len = 8;
  s->cc_algo = ZTTP_QUIC_CC_NEWRENO;
  s->active_cid_limit = 4;
  s->max_retire_queue = 16;
  s->max_stream_data_window = 6u << 20;
  s->max_data_window = 15u << 20;
  s->pacing = 1;
  s->reset_burst = 1000;
  s->reset_rate = 33;
  s->max_path_responses = 4;
  s->datagram_queue = 16;
}

static int settings_valid(const zttp_quic_settings *s) {
  return s->max_udp_payload_size >= ZTTP_QUIC_TP_MIN_MAX_UDP_PAYLOAD_SIZE &&
         s->max_udp_payload_size <= 65527 && s->cid_len >= 8 &&
         s->cid_len <= ZTTP_QUIC_MAX_CID_LEN && s->max_ack_ranges >= 1 &&
         s->max_sent_packets >= 16 && s->max_sent_packets <= (1u << 20) &&
         s->max_stream_fragments >= 1 && s->max_crypto_buffer >= 4096 &&
         s->max_data <= ZTTP_VARINT_MAX &&
         s->max_stream_data <= ZTTP_VARINT_MAX &&
         s->max_streams_bidi <= ZTTP_QUIC_MAX_STREAMS &&
         s->max_streams_uni <= ZTTP_QUIC_MAX_STREAMS &&
         s->max_ack_delay_ms < ZTTP_QUIC_TP_MAX_MAX_ACK_DELAY &&
         s->idle_timeout_ms <= ZTTP_VARINT_MAX / ZTTP_QUIC_NS_PER_MS &&
         (s->cc_algo == ZTTP_QUIC_CC_NEWRENO ||
          s->cc_algo == ZTTP_QUIC_CC_CUBIC) &&
         s->stream_send_buffer >= 1 && s->active_cid_limit >= 2 &&
         s->active_cid_limit <= ZTTP_QUIC_MAX_ACTIVE_CIDS &&
         s->max_retire_queue >= 1 &&
         s->max_retire_queue <= ZTTP_QUIC_MAX_RETIRE_QUEUE &&
         s->max_stream_data_window <= ZTTP_VARINT_MAX &&
         s->max_data_window <= ZTTP_VARINT_MAX && s->reset_burst >= 1 &&
         s->reset_burst <= 1000000 && s->reset_rate >= 1 &&
         s->reset_rate <= 1000000 && s->max_path_responses >= 1 &&
         s->max_path_responses <= ZTTP_QUIC_MAX_PATH_RESPONSES &&
         s->max_datagram_frame_size <= ZTTP_VARINT_MAX &&
         s->datagram_queue >= 1 &&
         s->datagram_queue <= ZTTP_QUIC_MAX_DATAGRAM_QUEUE;
}

/* Our transport parameters (RFC 9000 §7.4, §18.2). */
static int64_t encode_tparams(const zttp_quic_conn *qc, uint8_t *p,
                              size_t cap) {
  zttp_quic_tparams tp;
  zttp_quic_tparams_init(&tp);
  const zttp_quic_settings *s = &qc->s;
#define SETP(id, field, v)                                                     \
  do {                                                                         \
    tp.field = (v);                                                            \
    zttp_quic_tparams_set_present(&tp, id);                                    \
  } while (0)
  SETP(ZTTP_QUIC_TP_MAX_IDLE_TIMEOUT, max_idle_timeout, s->idle_timeout_ms);
  SETP(ZTTP_QUIC_TP_MAX_UDP_PAYLOAD_SIZE, max_udp_payload_size,
       s->max_udp_payload_size);
  SETP(ZTTP_QUIC_TP_INITIAL_MAX_DATA, initial_max_data, s->max_data);
  SETP(ZTTP_QUIC_TP_INITIAL_MAX_STREAM_DATA_BIDI_LOCAL,
       initial_max_stream_data_bidi_local, s->max_stream_data);
  SETP(ZTTP_QUIC_TP_INITIAL_MAX_STREAM_DATA_BIDI_REMOTE,
       initial_max_stream_data_bidi_remote, s->max_stream_data);
  SETP(ZTTP_QUIC_TP_INITIAL_MAX_STREAM_DATA_UNI, initial_max_stream_data_uni,
       s->max_stream_data);
  SETP(ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_BIDI, initial_max_streams_bidi,
       s->max_streams_bidi);
  SETP(ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_UNI, initial_max_streams_uni,
       s->max_streams_uni);
  SETP(ZTTP_QUIC_TP_MAX_ACK_DELAY, max_ack_delay, s->max_ack_delay_ms);
  SETP(ZTTP_QUIC_TP_ACTIVE_CONNECTION_ID_LIMIT, active_connection_id_limit,
       s->active_cid_limit);
  if (s->max_datagram_frame_size > 0) { /* RFC 9221 §3 */
    SETP(ZTTP_QUIC_TP_MAX_DATAGRAM_FRAME_SIZE, max_datagram_frame_size,
         s->max_datagram_frame_size);
  }
#undef SETP
  tp.initial_scid = qc->scid;
  zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_INITIAL_SCID);
  if (qc->role == ZTTP_SERVER) {
    /* RFC 9000 §7.3 */
    tp.original_dcid = qc->odcid;
    zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_ORIGINAL_DCID);
    if (qc->retried) {
      tp.retry_scid = qc->rscid;
      zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_RETRY_SCID);
    }
    /* RFC 9000 §10.3, §18.2: the token for the CID of the handshake. */
    if (!qc_reset_token(qc, tp.stateless_reset_token, &qc->scid)) {
      return ZTTP_ERR_NOMEM;
    }
    zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_STATELESS_RESET_TOKEN);
  }
  return zttp_quic_tparams_encode(&tp, qc->role, p, cap);
}

/* Initial keys from the DCID of the client's Initials (RFC 9001 §5.2). */
int32_t qc_install_initial_keys(zttp_quic_conn *qc) {
  uint8_t cs[ZTTP_CRYPTO_SHA256_LEN], ss[ZTTP_CRYPTO_SHA256_LEN];
  if (!zttp_crypto_initial_secrets(cs, ss, qc->version, qc->init_dcid.data,
                                   qc->init_dcid.len)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  for (size_t d = 0; d < 2; d++) {
    zttp_crypto_keys **k = d == 0 ? &qc->rx[ZTTP_QUIC_SPACE_INITIAL]
                                  : &qc->tx[ZTTP_QUIC_SPACE_INITIAL];
    zttp_crypto_keys_free(*k);
    *k = NULL;
  }
  const uint8_t *rs = qc->role == ZTTP_CLIENT ? ss : cs;
  const uint8_t *ws = qc->role == ZTTP_CLIENT ? cs : ss;
  int32_t rv = zttp_crypto_keys_new(
      &qc->rx[ZTTP_QUIC_SPACE_INITIAL], qc->mem, qc->crypto_backend,
      ZTTP_CIPHER_AES_128_GCM_SHA256, qc->version, rs, sizeof(cs));
  if (rv == 0) {
    rv = zttp_crypto_keys_new(
        &qc->tx[ZTTP_QUIC_SPACE_INITIAL], qc->mem, qc->crypto_backend,
        ZTTP_CIPHER_AES_128_GCM_SHA256, qc->version, ws, sizeof(cs));
  }
  zttp_tls_wipe(cs, sizeof(cs));
  zttp_tls_wipe(ss, sizeof(ss));
  return rv;
}

static int32_t conn_create(zttp_quic_conn **out, const zttp_mem *mem,
                           const zttp_quic_settings *s, uint32_t role,
                           zttp_tls_ctx *tls_ctx, const char *server_name,
                           const zttp_quic_hdr *initial,
                           const zttp_quic_cid *odcid, const zttp_path *path,
                           zttp_tstamp now) {
  zttp_quic_settings defaults;
  if (s == NULL) {
    zttp_quic_settings_default(&defaults);
    s = &defaults;
  }
  if (out == NULL || mem == NULL || tls_ctx == NULL || path == NULL ||
      !settings_valid(s) || (role != ZTTP_CLIENT && role != ZTTP_SERVER) ||
      zttp_tls_ctx_role(tls_ctx) != role ||
      (role == ZTTP_SERVER) != (initial != NULL)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (initial != NULL &&
      (initial->type != ZTTP_QUIC_PKT_INITIAL ||
       initial->version != ZTTP_QUIC_VERSION_1 || initial->dcid_len < 8 ||
       initial->dcid_len > ZTTP_QUIC_MAX_CID_LEN ||
       initial->scid_len > ZTTP_QUIC_MAX_CID_LEN)) {
    /* RFC 9000 §7.2: a client's first DCID has at least 8 bytes. */
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (odcid != NULL &&
      (odcid->len < 8 || odcid->len > ZTTP_QUIC_MAX_CID_LEN ||
       zttp_quic_cid_eq(odcid, initial->dcid, initial->dcid_len))) {
    return ZTTP_ERR_INVALID_ARGUMENT; /* RFC 9000 §17.2.5.1 */
  }
  zttp_quic_conn *qc = zttp_mem_calloc(mem, 1, sizeof(*qc));
  if (qc == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  int32_t rv = ZTTP_ERR_NOMEM;
  qc->mem = mem;
  qc->s = *s;
  qc->role = role;
  qc->version = ZTTP_QUIC_VERSION_1;
  qc->path = *path;
  qc->path_known = path->remote_len != 0;
  qc->pk_free = QC_PK_NONE;
  qc->idle_deadline = ZTTP_TSTAMP_NEVER;
  qc->close_deadline = ZTTP_TSTAMP_NEVER;
  qc->max_data = s->max_data;
  qc->max_streams[0] = s->max_streams_bidi;
  qc->max_streams[1] = s->max_streams_uni;
  for (size_t i = 0; i < ZTTP_QUIC_NUM_SPACES; i++) {
    zttp_quic_recvbuf_init(&qc->crecv[i], s->max_stream_fragments);
    zttp_quic_sendbuf_init(&qc->csend[i], QC_CRYPTO_SEND_BUFFER,
                           s->max_stream_fragments);
  }
  zttp_quic_acks_init(&qc->acks, mem, s->max_ack_ranges,
                      s->max_ack_delay_ms * ZTTP_QUIC_NS_PER_MS,
                      ZTTP_QUIC_DEFAULT_ACK_DELAY_EXPONENT);
  zttp_quic_recovery_init(&qc->rec, mem, role == ZTTP_SERVER,
                          s->max_sent_packets, s->cc_algo,
                          ZTTP_QUIC_MIN_INITIAL_DATAGRAM);
  zttp_quic_tparams_init(&qc->peer_tp);

  static const uint8_t zero_key[sizeof(s->reset_key)];
  if (memcmp(qc->s.reset_key, zero_key, sizeof(zero_key)) == 0 &&
      !zttp_crypto_random(qc->s.reset_key, sizeof(qc->s.reset_key))) {
    goto fail;
  }
  qc->scid.len = (uint8_t)s->cid_len;
  if (!zttp_crypto_random(qc->scid.data, qc->scid.len) || !qc_cids_init(qc)) {
    goto fail;
  }
  if (role == ZTTP_CLIENT) {
    /* RFC 9000 §7.2: an unpredictable DCID of at least 8 bytes. */
    qc->dcid.len = 8;
    if (!zttp_crypto_random(qc->dcid.data, qc->dcid.len)) {
      goto fail;
    }
    qc->odcid = qc->dcid;
    qc->init_dcid = qc->dcid;
    qc->validated = 1;
  } else {
    zttp_quic_cid_set(&qc->init_dcid, initial->dcid, initial->dcid_len);
    qc->odcid = qc->init_dcid;
    if (odcid != NULL) {
      /* RFC 9000 §8.1.2: a valid Retry token validates the address; §7.3:
       * the Retry's SCID is the DCID of this Initial. */
      qc->odcid = *odcid;
      qc->rscid = qc->init_dcid;
      qc->retried = 1;
      qc->validated = 1;
    }
    zttp_quic_cid_set(&qc->dcid, initial->scid, initial->scid_len);
    qc->got_peer_scid = 1;
  }
  /* RFC 9000 §21.4: the first skipped packet number. */
  if (!zttp_crypto_random((uint8_t *)&qc->prng, sizeof(qc->prng))) {
    goto fail;
  }
  qc->prng |= 1;
  qc->next_skip = QC_SKIP_MIN + qc_rand(qc) % QC_SKIP_SPREAD;
  qc->blocked_at = QC_NOT_BLOCKED;
  qc->streams_blocked_at[0] = qc->streams_blocked_at[1] = QC_NOT_BLOCKED;
  qc->pace_at = ZTTP_TSTAMP_NEVER;
  qc->win = s->max_data;
  qc->reset_tokens = s->reset_burst * ZTTP_QUIC_NS_PER_SEC;
  qc->reset_refill_at = now;

  qc->rxcap = (size_t)s->max_udp_payload_size;
  qc->rxbuf = zttp_mem_malloc(mem, qc->rxcap);
  if (qc->rxbuf == NULL) {
    goto fail;
  }

  uint8_t tpbuf[512];
  int64_t tplen = encode_tparams(qc, tpbuf, sizeof(tpbuf));
  if (tplen <= 0) {
    rv = tplen < 0 ? (int32_t)tplen : ZTTP_ERR_INVALID_ARGUMENT;
    goto fail;
  }
  char errmsg[ZTTP_TLS_ERRMSG_MAX];
  rv = zttp_tls_new(&qc->tls, tls_ctx, mem, server_name,
                    server_name != NULL ? strlen(server_name) : 0, tpbuf,
                    (size_t)tplen, errmsg);
  if (rv != 0) {
    goto fail;
  }
  qc->crypto_backend = zttp_tls_crypto_backend(qc->tls);
  rv = qc_install_initial_keys(qc);
  if (rv != 0) {
    goto fail;
  }
  if (role == ZTTP_SERVER) {
    qc_reset_idle(qc, now);
  }
  /* A client's idle timer starts with its first packet (finish_packet):
   * it may be created long before it first writes (at a time of 0, say),
   * and must not have timed out by then. */
  if (role == ZTTP_CLIENT) {
    /* The ClientHello (RFC 9001 §4.1.3). */
    rv = qc_tls_advance(qc, now);
    if (rv < 0) {
      goto fail;
    }
  }
  *out = qc;
  return 0;

fail:
  zttp_quic_conn_free(qc);
  return rv;
}

int32_t zttp_quic_conn_new(zttp_quic_conn **out, const zttp_mem *mem,
                           const zttp_quic_settings *s, uint32_t role,
                           zttp_tls_ctx *tls_ctx, const char *server_name,
                           const zttp_quic_hdr *initial, const zttp_path *path,
                           zttp_tstamp now) {
  return conn_create(out, mem, s, role, tls_ctx, server_name, initial, NULL,
                     path, now);
}

int32_t zttp_quic_conn_new_retried(zttp_quic_conn **out, const zttp_mem *mem,
                                   const zttp_quic_settings *s,
                                   zttp_tls_ctx *tls_ctx,
                                   const zttp_quic_hdr *initial,
                                   const zttp_quic_cid *odcid,
                                   const zttp_path *path, zttp_tstamp now) {
  if (odcid == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  return conn_create(out, mem, s, ZTTP_SERVER, tls_ctx, NULL, initial, odcid,
                     path, now);
}

uint64_t qc_rand(zttp_quic_conn *qc) {
  /* xorshift64*: unpredictable enough for skip intervals, seeded from the
   * CSPRNG at creation. */
  uint64_t x = qc->prng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  qc->prng = x;
  return x * UINT64_C(0x2545F4914F6CDD1D);
}

static void pk_free_all(zttp_quic_conn *qc) {
  zttp_mem_free(qc->mem, qc->pk);
  qc->pk = NULL;
  qc->num_pk = 0;
}

void zttp_quic_conn_free(zttp_quic_conn *qc) {
  if (qc == NULL) {
    return;
  }
  for (size_t i = 0; i < ZTTP_QUIC_NUM_SPACES; i++) {
    zttp_crypto_keys_free(qc->rx[i]);
    zttp_crypto_keys_free(qc->tx[i]);
    zttp_quic_recvbuf_free(&qc->crecv[i], qc->mem);
    zttp_quic_sendbuf_free(&qc->csend[i], qc->mem);
  }
  zttp_crypto_keys_free(qc->rx_prev);
  zttp_quic_acks_free(&qc->acks);
  zttp_quic_recovery_free(&qc->rec);
  qc_streams_free(qc);
  pk_free_all(qc);
  zttp_tls_free(qc->tls);
  zttp_mem_free(qc->mem, qc->token);
  qc_dgram_free(qc);
  zttp_mem_free(qc->mem, qc->rxbuf);
  zttp_mem_free(qc->mem, qc);
}

/* ---- TLS ---------------------------------------------------------------- */

static int32_t install_secret(zttp_quic_conn *qc, const zttp_tls_secret *sec,
                              zttp_tstamp now) {
  uint32_t space;
  switch (sec->level) {
  case ZTTP_TLS_LEVEL_HANDSHAKE:
    space = ZTTP_QUIC_SPACE_HANDSHAKE;
    break;
  case ZTTP_TLS_LEVEL_APPLICATION:
    space = ZTTP_QUIC_SPACE_APP;
    break;
  default:
    return 0; /* 0-RTT is not supported: the secret is dropped */
  }
  zttp_crypto_keys **slot =
      sec->dir == ZTTP_TLS_READ ? &qc->rx[space] : &qc->tx[space];
  zttp_crypto_keys *k = NULL;
  int32_t rv =
      zttp_crypto_keys_new(&k, qc->mem, qc->crypto_backend, sec->cipher,
                           qc->version, sec->secret, sec->len);
  if (rv != 0) {
    return rv;
  }
  zttp_crypto_keys_free(*slot);
  *slot = k;
  if (space == ZTTP_QUIC_SPACE_HANDSHAKE && qc->role == ZTTP_CLIENT &&
      sec->dir == ZTTP_TLS_WRITE) {
    zttp_quic_recovery_set_has_handshake_keys(&qc->rec, now);
  }
  return 0;
}

/* The peer's transport parameters, once TLS has them (RFC 9000 §7.4). */
static int32_t apply_peer_tparams(zttp_quic_conn *qc, zttp_tstamp now) {
  const uint8_t *p;
  size_t n = zttp_tls_peer_transport_params(qc->tls, &p);
  if (n == 0 || qc->have_peer_tp) {
    return 0;
  }
  uint64_t err = 0;
  const char *why = NULL;
  uint32_t sender = qc->role == ZTTP_CLIENT ? ZTTP_SERVER : ZTTP_CLIENT;
  if (!zttp_quic_tparams_decode(&qc->peer_tp, sender, p, n, &err, &why) ||
      !zttp_quic_tparams_check_cids(&qc->peer_tp, qc->role, &qc->dcid,
                                    &qc->odcid, qc->retried ? &qc->rscid : NULL,
                                    &err, &why)) {
    qc_fail(qc, ZTTP_ERR_PROTOCOL, err, ZTTP_QUIC_FT_CRYPTO, why, now);
    return ZTTP_ERR_PROTOCOL;
  }
  const zttp_quic_tparams *tp = &qc->peer_tp;
  qc->have_peer_tp = 1;
  qc->peer_max_data = tp->initial_max_data;
  qc->peer_max_streams[0] = tp->initial_max_streams_bidi;
  qc->peer_max_streams[1] = tp->initial_max_streams_uni;
  zttp_quic_recovery_set_max_ack_delay(
      &qc->rec, tp->max_ack_delay * ZTTP_QUIC_NS_PER_MS, now);
  /* RFC 9002 §7.2: the window counts datagrams of the size we send now. */
  uint64_t mds = qc->s.max_udp_payload_size < tp->max_udp_payload_size
                     ? qc->s.max_udp_payload_size
                     : tp->max_udp_payload_size;
  zttp_quic_cc_set_max_datagram_size(&qc->rec.cc, mds);
  qc_cids_peer_init(qc);
  qc_reset_idle(qc, now);
  return 0;
}

int32_t qc_tls_advance(zttp_quic_conn *qc, zttp_tstamp now) {
  int32_t hs = zttp_tls_handshake(qc->tls);
  zttp_tls_secret sec;
  int32_t rv = 0;
  while (zttp_tls_next_secret(qc->tls, &sec)) {
    if (rv == 0) {
      rv = install_secret(qc, &sec, now);
    }
    zttp_tls_wipe(&sec, sizeof(sec));
  }
  if (rv != 0) {
    qc_fail(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "keys", now);
    return rv;
  }
  for (uint32_t space = 0; space < ZTTP_QUIC_NUM_SPACES; space++) {
    uint32_t level = qc_level_of(space);
    const uint8_t *p;
    size_t n = zttp_tls_pending(qc->tls, level, &p);
    if (n == 0) {
      continue;
    }
    if (qc->discarded[space]) {
      zttp_tls_consume(qc->tls, level, n);
      continue;
    }
    int64_t took = zttp_quic_sendbuf_write(&qc->csend[space], qc->mem, p, n, 0);
    if (took < 0) {
      qc_fail(qc, (int32_t)took, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "crypto",
              now);
      return (int32_t)took;
    }
    /* What does not fit waits in TLS until acknowledgments make room. */
    zttp_tls_consume(qc->tls, level, (size_t)took);
  }
  if (hs < 0) {
    int alert = zttp_tls_alert(qc->tls);
    uint64_t code = alert >= 0 ? ZTTP_TLS_ALERT_TO_QUIC((unsigned)alert)
                               : ZTTP_QUIC_ERR_INTERNAL_ERROR;
    qc_fail(qc, hs, code, ZTTP_QUIC_FT_CRYPTO, zttp_tls_error_message(qc->tls),
            now);
    return hs;
  }
  rv = apply_peer_tparams(qc, now);
  if (rv != 0) {
    return rv;
  }
  if (hs == 1 && !qc->hs_complete) {
    if (!qc->have_peer_tp) {
      qc_fail(qc, ZTTP_ERR_PROTOCOL, ZTTP_QUIC_ERR_TRANSPORT_PARAMETER_ERROR,
              ZTTP_QUIC_FT_CRYPTO, "no transport parameters", now);
      return ZTTP_ERR_PROTOCOL;
    }
    qc->hs_complete = 1;
    qc->ev_hs_done = 1;
    if (qc->role == ZTTP_SERVER) {
      /* RFC 9001 §4.1.2: complete is confirmed at a server, which tells
       * the client with HANDSHAKE_DONE (RFC 9000 §19.20). */
      qc->send_hs_done = 1;
      qc_confirm(qc, now);
    }
    /* RFC 9000 §5.1.1: our other CIDs, once 1-RTT can carry them. */
    rv = qc_cids_issue(qc);
    if (rv != 0) {
      qc_fail(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "random", now);
      return rv;
    }
  }
  return 0;
}

/* ---- keys and spaces ---------------------------------------------------- */

void qc_discard_space(zttp_quic_conn *qc, uint32_t space, zttp_tstamp now) {
  if (qc->discarded[space]) {
    return;
  }
  qc->discarded[space] = 1;
  zttp_crypto_keys_free(qc->rx[space]);
  zttp_crypto_keys_free(qc->tx[space]);
  qc->rx[space] = qc->tx[space] = NULL;
  zttp_quic_acks_discard(&qc->acks, space);
  zttp_quic_recovery_discard_space(&qc->rec, space, now);
  zttp_quic_recvbuf_free(&qc->crecv[space], qc->mem);
  zttp_quic_recvbuf_init(&qc->crecv[space], 1);
  zttp_quic_sendbuf_free(&qc->csend[space], qc->mem);
  zttp_quic_sendbuf_init(&qc->csend[space], 0, 1);
  qc->ping_pending[space] = 0;
  (void)qc_process_recovery(qc);
}

/* RFC 9001 §4.1.2, §4.9.2: confirmed; the Handshake keys go. */
void qc_confirm(zttp_quic_conn *qc, zttp_tstamp now) {
  if (qc->hs_confirmed) {
    return;
  }
  qc->hs_confirmed = 1;
  qc_discard_space(qc, ZTTP_QUIC_SPACE_INITIAL, now);
  qc_discard_space(qc, ZTTP_QUIC_SPACE_HANDSHAKE, now);
  zttp_quic_recovery_set_handshake_confirmed(&qc->rec, now);
}

int32_t qc_update_tx_keys(zttp_quic_conn *qc) {
  zttp_crypto_keys *k = NULL;
  int32_t rv =
      zttp_crypto_keys_update(&k, qc->mem, qc->tx[ZTTP_QUIC_SPACE_APP]);
  if (rv != 0) {
    return rv;
  }
  zttp_crypto_keys_free(qc->tx[ZTTP_QUIC_SPACE_APP]);
  qc->tx[ZTTP_QUIC_SPACE_APP] = k;
  qc->key_phase ^= 1;
  qc->ku_pending = 1;
  qc->ku_tx_pn = qc->next_pn[ZTTP_QUIC_SPACE_APP];
  qc->key_updates++;
  return 0;
}

int32_t zttp_quic_conn_update_keys(zttp_quic_conn *qc, zttp_tstamp now) {
  (void)now;
  /* RFC 9001 §6.1: not before confirmation; §6.5: not again before a
   * packet of the current phase was acknowledged (nor while the peer has
   * not answered ours). */
  if (qc->state != QC_OPEN || !qc->hs_confirmed || qc->ku_pending ||
      qc->key_phase != qc->rx_phase || qc->tx[ZTTP_QUIC_SPACE_APP] == NULL) {
    return ZTTP_ERR_INVALID_STATE;
  }
  return qc_update_tx_keys(qc);
}

uint32_t zttp_quic_conn_key_phase(const zttp_quic_conn *qc) {
  return qc->key_phase;
}

uint64_t zttp_quic_conn_key_updates(const zttp_quic_conn *qc) {
  return qc->key_updates;
}

/* ---- what sent packets carried ------------------------------------------ */

static void on_frame_acked(zttp_quic_conn *qc, uint32_t space,
                           const qc_sent_frame *f) {
  qc_stream *st;
  switch (f->kind) {
  case QF_STREAM:
    st = qc_stream_find(qc, f->id);
    if (st != NULL && !st->send_reset) {
      /* BUFFER_FULL only costs a retransmission (quic/sbuf.h). */
      (void)zttp_quic_sendbuf_on_acked(&st->sb, qc->mem, f->offset,
                                       (size_t)f->len, f->fin);
      if (st->want_writable && zttp_quic_sendbuf_room(&st->sb) > 0) {
        st->want_writable = 0;
        st->ev_writable = 1;
      }
      qc_stream_maybe_release(qc, st);
    }
    break;
  case QF_CRYPTO:
    if (!qc->discarded[space]) {
      (void)zttp_quic_sendbuf_on_acked(&qc->csend[space], qc->mem, f->offset,
                                       (size_t)f->len, 0);
    }
    break;
  case QF_ACK:
    zttp_quic_acks_on_ack_of_ack(&qc->acks, space, f->id);
    break;
  case QF_RESET_STREAM:
    st = qc_stream_find(qc, f->id);
    if (st != NULL) {
      st->reset_acked = 1;
      qc_stream_maybe_release(qc, st);
    }
    break;
  case QF_RETIRE_CID:
    qc_cids_on_acked(qc, f);
    break;
  default:
    break;
  }
}

static int32_t on_frame_lost(zttp_quic_conn *qc, uint32_t space,
                             const qc_sent_frame *f) {
  qc_stream *st;
  int32_t rv = 0;
  switch (f->kind) {
  case QF_STREAM:
    st = qc_stream_find(qc, f->id);
    if (st != NULL && !st->send_reset) {
      rv = zttp_quic_sendbuf_on_lost(&st->sb, qc->mem, f->offset,
                                     (size_t)f->len, f->fin);
      qc->st.stream_bytes_retransmitted += f->len;
    }
    break;
  case QF_CRYPTO:
    if (!qc->discarded[space]) {
      rv = zttp_quic_sendbuf_on_lost(&qc->csend[space], qc->mem, f->offset,
                                     (size_t)f->len, 0);
    }
    break;
  case QF_HANDSHAKE_DONE:
    qc->send_hs_done = 1;
    break;
  case QF_MAX_DATA:
    qc->send_max_data = 1;
    break;
  case QF_MAX_STREAMS_BIDI:
    qc->send_max_streams[0] = 1;
    break;
  case QF_MAX_STREAMS_UNI:
    qc->send_max_streams[1] = 1;
    break;
  case QF_MAX_STREAM_DATA:
    st = qc_stream_find(qc, f->id);
    if (st != NULL && st->has_recv && !st->recv_reset &&
        st->rb.final_size == ZTTP_QUIC_NO_FINAL_SIZE) {
      st->send_msd = 1;
    }
    break;
  case QF_RESET_STREAM:
    st = qc_stream_find(qc, f->id);
    if (st != NULL && !st->reset_acked) {
      st->reset_pending = 1;
    }
    break;
  case QF_STOP_SENDING:
    st = qc_stream_find(qc, f->id);
    if (st != NULL && !st->recv_reset &&
        st->rb.final_size == ZTTP_QUIC_NO_FINAL_SIZE) {
      st->stop_pending = 1;
    }
    break;
  case QF_NEW_CID:
  case QF_RETIRE_CID:
    qc_cids_on_lost(qc, f);
    break;
  case QF_DATA_BLOCKED:
    /* Sent again only while that limit still blocks us. */
    if (qc->blocked_at == f->offset && qc->peer_max_data == f->offset) {
      qc->send_blocked = 1;
    }
    break;
  case QF_STREAM_DATA_BLOCKED:
    st = qc_stream_find(qc, f->id);
    if (st != NULL && !st->send_reset && st->blocked_at == f->offset &&
        st->max_send == f->offset) {
      st->send_blocked = 1;
    }
    break;
  case QF_STREAMS_BLOCKED_BIDI:
  case QF_STREAMS_BLOCKED_UNI: {
    size_t k = f->kind == QF_STREAMS_BLOCKED_UNI;
    if (qc->streams_blocked_at[k] == f->offset &&
        qc->peer_max_streams[k] == f->offset) {
      qc->send_streams_blocked[k] = 1;
    }
    break;
  }
  default:
    break;
  }
  return rv;
}

int32_t qc_process_recovery(zttp_quic_conn *qc) {
  zttp_quic_sent_pkt p;
  int32_t rv = 0;
  while (zttp_quic_recovery_next(&qc->rec, &p)) {
    if (p.token >= qc->num_pk) {
      continue;
    }
    qc_pktinfo *pi = &qc->pk[p.token];
    if (p.state == ZTTP_QUIC_SENT_LOST) {
      qc->st.pkts_lost++;
    }
    for (uint32_t i = 0; i < pi->num; i++) {
      if (p.state == ZTTP_QUIC_SENT_ACKED) {
        on_frame_acked(qc, p.space, &pi->f[i]);
      } else if (p.state == ZTTP_QUIC_SENT_LOST) {
        int32_t r = on_frame_lost(qc, p.space, &pi->f[i]);
        if (r != 0 && rv == 0) {
          rv = r;
        }
      }
    }
    pi->num = 0;
    pi->next_free = qc->pk_free;
    qc->pk_free = (uint32_t)p.token;
  }
  return rv;
}

/* ---- timers and closing ------------------------------------------------- */

uint64_t qc_pto(const zttp_quic_conn *qc) {
  return zttp_quic_rtt_pto(&qc->rec.rtt, qc->rec.max_ack_delay);
}

/* RFC 9000 §10.1: the smaller of both max_idle_timeouts, at least 3 PTOs. */
void qc_reset_idle(zttp_quic_conn *qc, zttp_tstamp now) {
  uint64_t ms = qc->s.idle_timeout_ms;
  if (qc->have_peer_tp && qc->peer_tp.max_idle_timeout != 0 &&
      (ms == 0 || qc->peer_tp.max_idle_timeout < ms)) {
    ms = qc->peer_tp.max_idle_timeout;
  }
  if (ms == 0 || ms > ZTTP_VARINT_MAX / ZTTP_QUIC_NS_PER_MS) {
    qc->idle_deadline = ZTTP_TSTAMP_NEVER;
    return;
  }
  uint64_t d = ms * ZTTP_QUIC_NS_PER_MS;
  if (d < 3 * qc_pto(qc)) {
    d = 3 * qc_pto(qc);
  }
  qc->idle_deadline = now + d;
}

static void start_closing_period(zttp_quic_conn *qc, uint32_t state,
                                 zttp_tstamp now) {
  qc->state = state;
  qc->ev_closed = 1;
  qc->closing_rx = 0;
  qc->closing_next = 1;
  /* RFC 9000 §10.2: at least three times the current PTO. */
  qc->close_deadline = now + 3 * qc_pto(qc);
}

void qc_fail(zttp_quic_conn *qc, int32_t err, uint64_t code,
             uint64_t frame_type, const char *reason, zttp_tstamp now) {
  if (qc->state != QC_OPEN) {
    return;
  }
  qc->close_error = err;
  qc->close_code = code;
  qc->close_frame_type = frame_type;
  qc->close_app = 0;
  qc->close_reason_len = 0;
  if (reason != NULL) {
    size_t n = strlen(reason);
    qc->close_reason_len = n < QC_MAX_REASON ? n : QC_MAX_REASON;
    memcpy(qc->close_reason, reason, qc->close_reason_len);
  }
  qc->close_pending = 1;
  start_closing_period(qc, QC_CLOSING, now);
}

int32_t zttp_quic_conn_close(zttp_quic_conn *qc, int app, uint64_t error_code,
                             const char *reason, size_t reason_len,
                             zttp_tstamp now) {
  if (qc->state != QC_OPEN || error_code > ZTTP_VARINT_MAX) {
    return ZTTP_ERR_INVALID_STATE;
  }
  qc_fail(qc, 0, error_code, 0, NULL, now);
  qc->close_app = app != 0;
  qc->close_reason_len =
      reason_len < QC_MAX_REASON ? reason_len : QC_MAX_REASON;
  if (qc->close_reason_len > 0) {
    memcpy(qc->close_reason, reason, qc->close_reason_len);
  }
  return 0;
}

/* The peer's CONNECTION_CLOSE (RFC 9000 §10.2.2). */
void qc_on_peer_close(zttp_quic_conn *qc, const zttp_quic_frame *f,
                      zttp_tstamp now) {
  if (qc->state == QC_DRAINING || qc->state == QC_CLOSED) {
    return;
  }
  int was_open = qc->state == QC_OPEN;
  qc->close_pending = 0;
  if (was_open) {
    qc->close_remote = 1;
    qc->close_app = f->type == ZTTP_QUIC_FT_CONNECTION_CLOSE_APP;
    qc->close_code = f->u.close.error_code;
    qc->close_frame_type = f->u.close.frame_type;
    qc->close_reason_len = f->u.close.reason_len < QC_MAX_REASON
                               ? f->u.close.reason_len
                               : QC_MAX_REASON;
    if (qc->close_reason_len > 0) {
      memcpy(qc->close_reason, f->u.close.reason, qc->close_reason_len);
    }
    qc->close_error = 0;
    if (!qc->close_app && f->u.close.error_code != ZTTP_QUIC_ERR_NO_ERROR) {
      qc->close_error = ZTTP_ERR_PROTOCOL;
    }
    start_closing_period(qc, QC_DRAINING, now);
  } else {
    qc->state = QC_DRAINING;
  }
}

zttp_tstamp zttp_quic_conn_next_timeout(const zttp_quic_conn *qc) {
  if (qc->state == QC_CLOSED) {
    return ZTTP_TSTAMP_NEVER;
  }
  if (qc->role == ZTTP_CLIENT && qc->st.pkts_sent == 0 &&
      qc->state == QC_OPEN) {
    return 0; /* the first Initial is waiting for a write */
  }
  if (qc->state != QC_OPEN) {
    return qc->close_deadline;
  }
  zttp_tstamp t = qc->idle_deadline;
  zttp_tstamp r = zttp_quic_recovery_next_timeout(&qc->rec);
  if (r < t) {
    t = r;
  }
  zttp_tstamp a = zttp_quic_acks_next_timeout(&qc->acks);
  if (a < t) {
    t = a;
  }
  if (qc->rx_prev != NULL && qc->rx_prev_until < t) {
    t = qc->rx_prev_until;
  }
  if (qc->pace_at < t) {
    t = qc->pace_at; /* RFC 9002 §7.7 */
  }
  zttp_tstamp c = qc_churn_timeout(qc);
  if (c < t) {
    t = c;
  }
  zttp_tstamp p = qc_path_timeout(qc);
  if (p < t) {
    t = p;
  }
  return t;
}

/* 1 when some stream has new data it may send now (flow control
 * permitting). */
static int has_new_stream_data(const zttp_quic_conn *qc) {
  for (size_t i = 0; i < qc->num_streams; i++) {
    const qc_stream *st = qc->streams[i];
    if (!st->has_send || st->send_reset) {
      continue;
    }
    uint64_t limit = st->sb.sent + (qc->peer_max_data - qc->data_sent);
    if (limit > st->max_send) {
      limit = st->max_send;
    }
    zttp_quic_chunk c;
    if (zttp_quic_sendbuf_next(&st->sb, &c, 1200, limit)) {
      return 1;
    }
  }
  return 0;
}

/* RFC 9002 §6.2.4: a PTO probe carries data rather than a bare PING. When
 * no new stream data waits, what the oldest unacknowledged ack-eliciting
 * 1-RTT packets carried (up to |probes| of them) is queued again. */
static int32_t requeue_for_probe(zttp_quic_conn *qc, uint32_t probes) {
  if (has_new_stream_data(qc)) {
    return 0;
  }
  const zttp_quic_rec_space *s = &qc->rec.sp[ZTTP_QUIC_SPACE_APP];
  uint32_t done = 0;
  for (size_t i = 0; i < s->num && done < probes; i++) {
    size_t j = s->head + i >= s->cap ? s->head + i - s->cap : s->head + i;
    const zttp_quic_sent_pkt *p = &s->pkts[j];
    if (p->state != ZTTP_QUIC_SENT_OUTSTANDING ||
        !(p->flags & ZTTP_QUIC_SENT_ACK_ELICITING) || p->token >= qc->num_pk) {
      continue;
    }
    const qc_pktinfo *pi = &qc->pk[p->token];
    for (uint32_t k = 0; k < pi->num; k++) {
      if (pi->f[k].kind == QF_ACK || pi->f[k].kind == QF_PING) {
        continue;
      }
      int32_t rv = on_frame_lost(qc, ZTTP_QUIC_SPACE_APP, &pi->f[k]);
      if (rv != 0) {
        return rv;
      }
    }
    done++;
  }
  return 0;
}

int32_t zttp_quic_conn_handle_timeout(zttp_quic_conn *qc, zttp_tstamp now) {
  if (qc->state == QC_CLOSED) {
    return 0;
  }
  if (qc->state != QC_OPEN) {
    if (now >= qc->close_deadline) {
      qc->state = QC_CLOSED;
    }
    return 0;
  }
  if (now >= qc->pace_at) {
    qc->pace_at = ZTTP_TSTAMP_NEVER; /* the next write may send */
  }
  qc_churn_refill(qc, now);
  if (now >= qc->idle_deadline) {
    /* RFC 9000 §10.1: silently closed. */
    qc->state = QC_CLOSED;
    qc->ev_closed = 1;
    qc->close_error = ZTTP_ERR_CLOSED;
    return 0;
  }
  qc_path_on_timeout(qc, now);
  if (qc->state != QC_OPEN) {
    return 0; /* RFC 9000 §9.3.2: no validated path left */
  }
  if (qc->rx_prev != NULL && now >= qc->rx_prev_until) {
    /* RFC 9001 §6.5: the previous phase's read keys go after 3 PTO. */
    zttp_crypto_keys_free(qc->rx_prev);
    qc->rx_prev = NULL;
  }
  uint32_t space = 0;
  int kind = zttp_quic_recovery_on_timeout(&qc->rec, &space, now);
  if (kind == ZTTP_QUIC_TIMEOUT_PTO ||
      kind == ZTTP_QUIC_TIMEOUT_ANTI_DEADLOCK) {
    /* RFC 9002 §6.2.4: probe with data where there is some. Unacknowledged
     * CRYPTO data is sent again; otherwise a PING. */
    for (uint32_t sp = 0; sp < ZTTP_QUIC_NUM_SPACES; sp++) {
      if (zttp_quic_recovery_probes(&qc->rec, sp) == 0 &&
          !(kind == ZTTP_QUIC_TIMEOUT_ANTI_DEADLOCK && sp == space)) {
        continue;
      }
      zttp_quic_sendbuf *sb = &qc->csend[sp];
      if (!qc->discarded[sp] && sb->sent > sb->base) {
        (void)zttp_quic_sendbuf_on_lost(sb, qc->mem, sb->base,
                                        (size_t)(sb->sent - sb->base), 0);
      }
      if (sp == ZTTP_QUIC_SPACE_APP && qc->hs_complete &&
          requeue_for_probe(qc, zttp_quic_recovery_probes(&qc->rec, sp)) ==
              ZTTP_ERR_NOMEM) {
        qc_fail(qc, ZTTP_ERR_NOMEM, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "memory",
                now);
        return ZTTP_ERR_NOMEM;
      }
      /* A PING only when the probe finds nothing else to carry. */
      qc->ping_pending[sp] = 1;
    }
  }
  int32_t rv = qc_process_recovery(qc);
  if (rv == ZTTP_ERR_NOMEM) {
    qc_fail(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, 0, "memory", now);
  }
  return rv == ZTTP_ERR_NOMEM ? rv : 0;
}

/* ---- events and state ---------------------------------------------------- */

int zttp_quic_conn_next_event(zttp_quic_conn *qc, zttp_quic_event *ev) {
  memset(ev, 0, sizeof(*ev));
  if (qc->ev_hs_done) {
    qc->ev_hs_done = 0;
    ev->kind = ZTTP_QUIC_EV_HANDSHAKE_DONE;
    return 1;
  }
  if (qc_path_next_event(qc, ev)) {
    return 1;
  }
  for (size_t i = 0; i < qc->num_streams; i++) {
    qc_stream *st = qc->streams[i];
    ev->stream_id = st->id;
    if (st->ev_opened) {
      st->ev_opened = 0;
      ev->kind = ZTTP_QUIC_EV_STREAM_OPENED;
      return 1;
    }
    /* A stream whose last event this is goes now (its credit with it). */
    if (st->ev_reset) {
      st->ev_reset = 0;
      ev->kind = ZTTP_QUIC_EV_STREAM_RESET;
      ev->error_code = st->peer_reset_code;
      qc_stream_maybe_release(qc, st);
      return 1;
    }
    if (st->ev_stop) {
      st->ev_stop = 0;
      ev->kind = ZTTP_QUIC_EV_STREAM_STOP_SENDING;
      ev->error_code = st->stop_code;
      qc_stream_maybe_release(qc, st);
      return 1;
    }
    if (st->ev_readable) {
      st->ev_readable = 0;
      ev->kind = ZTTP_QUIC_EV_STREAM_READABLE;
      return 1;
    }
    if (st->ev_writable) {
      st->ev_writable = 0;
      ev->kind = ZTTP_QUIC_EV_STREAM_WRITABLE;
      return 1;
    }
  }
  ev->stream_id = 0;
  if (qc_dgram_next(qc, ev)) {
    return 1;
  }
  if (qc->ev_closed) {
    qc->ev_closed = 0;
    ev->kind = ZTTP_QUIC_EV_CLOSED;
    ev->error = qc->close_error;
    ev->error_code = qc->close_code;
    ev->app = qc->close_app;
    ev->remote = qc->close_remote;
    ev->stateless_reset = qc->close_reset;
    return 1;
  }
  return 0;
}

size_t zttp_quic_conn_next_ticket(zttp_quic_conn *qc, const uint8_t **out) {
  return zttp_tls_next_ticket(qc->tls, out);
}

size_t zttp_quic_conn_close_reason(const zttp_quic_conn *qc,
                                   const uint8_t **out) {
  *out = (const uint8_t *)qc->close_reason;
  return qc->close_reason_len;
}

int zttp_quic_conn_handshake_complete(const zttp_quic_conn *qc) {
  return qc->hs_complete;
}

int zttp_quic_conn_handshake_confirmed(const zttp_quic_conn *qc) {
  return qc->hs_confirmed;
}

int zttp_quic_conn_address_validated(const zttp_quic_conn *qc) {
  return qc->validated;
}

int zttp_quic_conn_is_closing(const zttp_quic_conn *qc) {
  return qc->state != QC_OPEN;
}

int zttp_quic_conn_is_closed(const zttp_quic_conn *qc) {
  return qc->state == QC_CLOSED;
}

size_t zttp_quic_conn_alpn(const zttp_quic_conn *qc, const uint8_t **out) {
  return zttp_tls_alpn(qc->tls, out);
}

const zttp_quic_conn_stats *zttp_quic_conn_get_stats(const zttp_quic_conn *qc) {
  return &qc->st;
}

uint64_t zttp_quic_conn_smoothed_rtt(const zttp_quic_conn *qc) {
  return qc->rec.rtt.smoothed;
}

uint64_t zttp_quic_conn_cwnd(const zttp_quic_conn *qc) {
  return qc->rec.cc.cwnd;
}
