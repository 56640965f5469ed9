/* SPDX-License-Identifier: MIT */
#include "quic/tparams.h"

#include <stddef.h>
#include <string.h>

#include "common/reader.h"
#include "common/varint.h"

#define SERVER_ONLY                                                            \
  (ZTTP_QUIC_TP_BIT(ZTTP_QUIC_TP_ORIGINAL_DCID) |                              \
   ZTTP_QUIC_TP_BIT(ZTTP_QUIC_TP_STATELESS_RESET_TOKEN) |                      \
   ZTTP_QUIC_TP_BIT(ZTTP_QUIC_TP_PREFERRED_ADDRESS) |                          \
   ZTTP_QUIC_TP_BIT(ZTTP_QUIC_TP_RETRY_SCID))

/* Preferred Address without its CID (RFC 9000 §18.2 Figure 22). */
#define PREFERRED_ADDRESS_FIXED_LEN (4 + 2 + 16 + 2 + 1 + 16)

static uint32_t bit_of(uint64_t id) {
  if (id <= ZTTP_QUIC_TP_VERSION_INFORMATION) {
    return ZTTP_QUIC_TP_BIT(id);
  }
  if (id == ZTTP_QUIC_TP_MAX_DATAGRAM_FRAME_SIZE) {
    return ZTTP_QUIC_TP_BIT_MAX_DATAGRAM_FRAME_SIZE;
  }
  return 0;
}

void zttp_quic_tparams_init(zttp_quic_tparams *tp) {
  memset(tp, 0, sizeof(*tp));
  tp->max_udp_payload_size = ZTTP_QUIC_TP_DEFAULT_MAX_UDP_PAYLOAD_SIZE;
  tp->ack_delay_exponent = ZTTP_QUIC_TP_DEFAULT_ACK_DELAY_EXPONENT;
  tp->max_ack_delay = ZTTP_QUIC_TP_DEFAULT_MAX_ACK_DELAY;
  tp->active_connection_id_limit = ZTTP_QUIC_TP_DEFAULT_ACTIVE_CID_LIMIT;
}

int zttp_quic_tparams_has(const zttp_quic_tparams *tp, uint64_t id) {
  uint32_t bit = bit_of(id);
  return bit != 0 && (tp->present & bit) != 0;
}

void zttp_quic_tparams_set_present(zttp_quic_tparams *tp, uint64_t id) {
  tp->present |= bit_of(id);
}

/* Where the integer-valued parameters live; 0 for the others (offset 0 is
 * |present|). */
static size_t int_offset(uint64_t id) {
  switch (id) {
  case ZTTP_QUIC_TP_MAX_IDLE_TIMEOUT:
    return offsetof(zttp_quic_tparams, max_idle_timeout);
  case ZTTP_QUIC_TP_MAX_UDP_PAYLOAD_SIZE:
    return offsetof(zttp_quic_tparams, max_udp_payload_size);
  case ZTTP_QUIC_TP_INITIAL_MAX_DATA:
    return offsetof(zttp_quic_tparams, initial_max_data);
  case ZTTP_QUIC_TP_INITIAL_MAX_STREAM_DATA_BIDI_LOCAL:
    return offsetof(zttp_quic_tparams, initial_max_stream_data_bidi_local);
  case ZTTP_QUIC_TP_INITIAL_MAX_STREAM_DATA_BIDI_REMOTE:
    return offsetof(zttp_quic_tparams, initial_max_stream_data_bidi_remote);
  case ZTTP_QUIC_TP_INITIAL_MAX_STREAM_DATA_UNI:
    return offsetof(zttp_quic_tparams, initial_max_stream_data_uni);
  case ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_BIDI:
    return offsetof(zttp_quic_tparams, initial_max_streams_bidi);
  case ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_UNI:
    return offsetof(zttp_quic_tparams, initial_max_streams_uni);
  case ZTTP_QUIC_TP_ACK_DELAY_EXPONENT:
    return offsetof(zttp_quic_tparams, ack_delay_exponent);
  case ZTTP_QUIC_TP_MAX_ACK_DELAY:
    return offsetof(zttp_quic_tparams, max_ack_delay);
  case ZTTP_QUIC_TP_ACTIVE_CONNECTION_ID_LIMIT:
    return offsetof(zttp_quic_tparams, active_connection_id_limit);
  case ZTTP_QUIC_TP_MAX_DATAGRAM_FRAME_SIZE:
    return offsetof(zttp_quic_tparams, max_datagram_frame_size);
  default:
    return 0;
  }
}

/* The connection ID parameters, the same way. */
static size_t cid_offset(uint64_t id) {
  switch (id) {
  case ZTTP_QUIC_TP_ORIGINAL_DCID:
    return offsetof(zttp_quic_tparams, original_dcid);
  case ZTTP_QUIC_TP_INITIAL_SCID:
    return offsetof(zttp_quic_tparams, initial_scid);
  case ZTTP_QUIC_TP_RETRY_SCID:
    return offsetof(zttp_quic_tparams, retry_scid);
  default:
    return 0;
  }
}

/* RFC 9000 §18.2: the range of an integer parameter; NULL when |v| is
 * fine. */
static const char *int_range_error(uint64_t id, uint64_t v) {
  if (v > ZTTP_VARINT_MAX) {
    return "integer above 2^62 - 1";
  }
  switch (id) {
  case ZTTP_QUIC_TP_MAX_UDP_PAYLOAD_SIZE:
    return v < ZTTP_QUIC_TP_MIN_MAX_UDP_PAYLOAD_SIZE
               ? "max_udp_payload_size below 1200"
               : NULL;
  case ZTTP_QUIC_TP_ACK_DELAY_EXPONENT:
    return v > ZTTP_QUIC_TP_MAX_ACK_DELAY_EXPONENT
               ? "ack_delay_exponent above 20"
               : NULL;
  case ZTTP_QUIC_TP_MAX_ACK_DELAY:
    return v > ZTTP_QUIC_TP_MAX_MAX_ACK_DELAY ? "max_ack_delay of 2^14 or more"
                                              : NULL;
  case ZTTP_QUIC_TP_ACTIVE_CONNECTION_ID_LIMIT:
    return v < 2 ? "active_connection_id_limit below 2" : NULL;
  case ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_BIDI:
  case ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_UNI:
    /* RFC 9000 §4.6 */
    return v > (UINT64_C(1) << 60) ? "initial_max_streams above 2^60" : NULL;
  default:
    return NULL;
  }
}

/* ---- decoding -------------------------------------------------------------
 */

/* RFC 9000 §18.2 Figure 22 */
static const char *decode_preferred_address(zttp_quic_preferred_address *pa,
                                            const uint8_t *v, size_t len) {
  zttp_rd rd;
  const uint8_t *ipv4;
  const uint8_t *ipv6;
  const uint8_t *cid;
  const uint8_t *token;
  uint8_t cid_len;
  zttp_rd_init(&rd, v, len);
  if (!zttp_rd_bytes(&rd, &ipv4, 4) || !zttp_rd_u16(&rd, &pa->ipv4_port) ||
      !zttp_rd_bytes(&rd, &ipv6, 16) || !zttp_rd_u16(&rd, &pa->ipv6_port) ||
      !zttp_rd_u8(&rd, &cid_len) || !zttp_rd_bytes(&rd, &cid, cid_len) ||
      !zttp_rd_bytes(&rd, &token, ZTTP_QUIC_RESET_TOKEN_LEN)) {
    return "preferred_address too short";
  }
  if (zttp_rd_len(&rd) != 0) {
    return "preferred_address too long";
  }
  if (cid_len == 0) {
    return "preferred_address with a zero-length connection ID";
  }
  if (!zttp_quic_cid_set(&pa->cid, cid, cid_len)) {
    return "preferred_address connection ID over 20 bytes";
  }
  memcpy(pa->ipv4, ipv4, 4);
  memcpy(pa->ipv6, ipv6, 16);
  memcpy(pa->reset_token, token, ZTTP_QUIC_RESET_TOKEN_LEN);
  return NULL;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/* RFC 9368 §3, §4 */
static const char *decode_version_info(zttp_quic_tparams *tp,
                                       uint32_t sender_role, const uint8_t *v,
                                       size_t len) {
  if (len < 4 || len % 4 != 0) {
    return "version_information length not a positive multiple of 4";
  }
  tp->chosen_version = get32(v);
  if (tp->chosen_version == 0) {
    return "version_information Chosen Version 0";
  }
  size_t n = len / 4 - 1;
  int chosen_listed = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t a = get32(v + 4 + 4 * i);
    if (a == 0) {
      return "version_information Available Version 0";
    }
    chosen_listed |= a == tp->chosen_version;
    if (i < ZTTP_QUIC_TP_MAX_VERSIONS) {
      tp->available_versions[i] = a;
    }
  }
  if (sender_role == ZTTP_CLIENT && !chosen_listed) {
    return "version_information Chosen Version not in Available Versions";
  }
  tp->num_available_versions = n;
  tp->version_info = v;
  tp->version_info_len = len;
  return NULL;
}

/* One known parameter's value; NULL or what is wrong with it. */
static const char *decode_one(zttp_quic_tparams *tp, uint32_t sender_role,
                              uint64_t id, const uint8_t *v, size_t len) {
  size_t off = int_offset(id);
  if (off != 0) {
    uint64_t *ip = (uint64_t *)((char *)tp + off);
    zttp_rd rd;
    zttp_rd_init(&rd, v, len);
    if (!zttp_rd_varint(&rd, ip) || zttp_rd_len(&rd) != 0) {
      return "integer parameter length mismatch";
    }
    return int_range_error(id, *ip);
  }
  off = cid_offset(id);
  if (off != 0) {
    zttp_quic_cid *cp = (zttp_quic_cid *)((char *)tp + off);
    return zttp_quic_cid_set(cp, v, len) ? NULL : "connection ID over 20 bytes";
  }
  switch (id) {
  case ZTTP_QUIC_TP_STATELESS_RESET_TOKEN:
    if (len != ZTTP_QUIC_RESET_TOKEN_LEN) {
      return "stateless_reset_token not 16 bytes";
    }
    memcpy(tp->stateless_reset_token, v, len);
    return NULL;
  case ZTTP_QUIC_TP_DISABLE_ACTIVE_MIGRATION:
    return len == 0 ? NULL : "disable_active_migration not empty";
  case ZTTP_QUIC_TP_PREFERRED_ADDRESS:
    return decode_preferred_address(&tp->preferred_address, v, len);
  case ZTTP_QUIC_TP_VERSION_INFORMATION:
    return decode_version_info(tp, sender_role, v, len);
  default:
    return "unexpected parameter"; /* bit_of() and the tables disagree */
  }
}

static int fail(uint64_t *err, const char **why, const char *reason) {
  *err = ZTTP_QUIC_ERR_TRANSPORT_PARAMETER_ERROR;
  if (why != NULL) {
    *why = reason;
  }
  return 0;
}

/* RFC 9000 §18 */
int zttp_quic_tparams_decode(zttp_quic_tparams *tp, uint32_t sender_role,
                             const uint8_t *p, size_t len, uint64_t *err,
                             const char **why) {
  zttp_rd rd;
  zttp_rd_init(&rd, p, len);
  zttp_quic_tparams_init(tp);
  while (zttp_rd_len(&rd) != 0) {
    uint64_t id;
    uint64_t vlen;
    const uint8_t *v;
    if (!zttp_rd_varint(&rd, &id) || !zttp_rd_varint(&rd, &vlen) ||
        vlen > zttp_rd_len(&rd) || !zttp_rd_bytes(&rd, &v, (size_t)vlen)) {
      return fail(err, why, "truncated transport parameter");
    }
    uint32_t bit = bit_of(id);
    if (bit == 0) {
      continue; /* RFC 9000 §18.1, §7.4.2: ignore unknown ones */
    }
    if (tp->present & bit) {
      return fail(err, why, "duplicate transport parameter"); /* §7.4 */
    }
    if ((bit & SERVER_ONLY) && sender_role == ZTTP_CLIENT) {
      return fail(err, why, "server-only transport parameter from a client");
    }
    const char *bad = decode_one(tp, sender_role, id, v, (size_t)vlen);
    if (bad != NULL) {
      return fail(err, why, bad);
    }
    tp->present |= bit;
  }
  /* RFC 9000 §18.2: no preferred address with a zero-length CID. */
  if (zttp_quic_tparams_has(tp, ZTTP_QUIC_TP_PREFERRED_ADDRESS) &&
      zttp_quic_tparams_has(tp, ZTTP_QUIC_TP_INITIAL_SCID) &&
      tp->initial_scid.len == 0) {
    return fail(err, why,
                "preferred_address from a server with a zero-length "
                "connection ID");
  }
  return 1;
}

/* ---- encoding -------------------------------------------------------------
 */

typedef struct tw {
  uint8_t *p;
  size_t cap;
  size_t len;
  int full;
} tw;

/* Appends id and length and returns where the |vlen| value bytes go (the
 * caller writes them), or NULL when they do not fit. */
static uint8_t *tw_param(tw *w, uint64_t id, size_t vlen) {
  size_t need = zttp_varint_len(id) + zttp_varint_len(vlen) + vlen;
  if (w->full || need > w->cap - w->len) {
    w->full = 1;
    return NULL;
  }
  uint8_t *q = w->p + w->len;
  q = zttp_varint_put(q, id);
  q = zttp_varint_put(q, vlen);
  w->len += need;
  return q;
}

static void tw_bytes(tw *w, uint64_t id, const uint8_t *v, size_t vlen) {
  uint8_t *q = tw_param(w, id, vlen);
  if (q != NULL && vlen != 0) {
    memcpy(q, v, vlen);
  }
}

static uint8_t *put16(uint8_t *q, uint16_t v) {
  q[0] = (uint8_t)(v >> 8);
  q[1] = (uint8_t)v;
  return q + 2;
}

static uint8_t *put32(uint8_t *q, uint32_t v) {
  q = put16(q, (uint16_t)(v >> 16));
  return put16(q, (uint16_t)v);
}

/* Checks what the peer would reject: 1 when |tp| is fine. */
static int encodable(const zttp_quic_tparams *tp, uint32_t role) {
  if ((tp->present & SERVER_ONLY) && role == ZTTP_CLIENT) {
    return 0;
  }
  for (uint64_t id = 0; id <= ZTTP_QUIC_TP_MAX_DATAGRAM_FRAME_SIZE; id++) {
    if (!zttp_quic_tparams_has(tp, id)) {
      continue;
    }
    size_t off = int_offset(id);
    if (off != 0 && int_range_error(id, *(const uint64_t *)((const char *)tp +
                                                            off)) != NULL) {
      return 0;
    }
    off = cid_offset(id);
    if (off != 0 && ((const zttp_quic_cid *)((const char *)tp + off))->len >
                        ZTTP_QUIC_MAX_CID_LEN) {
      return 0;
    }
  }
  if (zttp_quic_tparams_has(tp, ZTTP_QUIC_TP_PREFERRED_ADDRESS) &&
      (tp->preferred_address.cid.len == 0 ||
       tp->preferred_address.cid.len > ZTTP_QUIC_MAX_CID_LEN)) {
    return 0;
  }
  if (zttp_quic_tparams_has(tp, ZTTP_QUIC_TP_VERSION_INFORMATION)) {
    if (tp->chosen_version == 0 ||
        tp->num_available_versions > ZTTP_QUIC_TP_MAX_VERSIONS) {
      return 0;
    }
    int listed = 0;
    for (size_t i = 0; i < tp->num_available_versions; i++) {
      if (tp->available_versions[i] == 0) {
        return 0;
      }
      listed |= tp->available_versions[i] == tp->chosen_version;
    }
    if (role == ZTTP_CLIENT && !listed) {
      return 0;
    }
  }
  return 1;
}

int64_t zttp_quic_tparams_encode(const zttp_quic_tparams *tp, uint32_t role,
                                 uint8_t *p, size_t cap) {
  if (!encodable(tp, role)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  tw w = {p, cap, 0, 0};
  for (uint64_t id = 0; id <= ZTTP_QUIC_TP_MAX_DATAGRAM_FRAME_SIZE; id++) {
    if (!zttp_quic_tparams_has(tp, id)) {
      continue;
    }
    size_t off = int_offset(id);
    if (off != 0) {
      uint64_t v = *(const uint64_t *)((const char *)tp + off);
      uint8_t *q = tw_param(&w, id, zttp_varint_len(v));
      if (q != NULL) {
        zttp_varint_put(q, v);
      }
      continue;
    }
    off = cid_offset(id);
    if (off != 0) {
      const zttp_quic_cid *cp = (const zttp_quic_cid *)((const char *)tp + off);
      tw_bytes(&w, id, cp->data, cp->len);
      continue;
    }
    switch (id) {
    case ZTTP_QUIC_TP_STATELESS_RESET_TOKEN:
      tw_bytes(&w, id, tp->stateless_reset_token, ZTTP_QUIC_RESET_TOKEN_LEN);
      break;
    case ZTTP_QUIC_TP_DISABLE_ACTIVE_MIGRATION:
      tw_bytes(&w, id, NULL, 0);
      break;
    case ZTTP_QUIC_TP_PREFERRED_ADDRESS: {
      const zttp_quic_preferred_address *pa = &tp->preferred_address;
      uint8_t *q =
          tw_param(&w, id, PREFERRED_ADDRESS_FIXED_LEN + (size_t)pa->cid.len);
      if (q != NULL) {
        memcpy(q, pa->ipv4, 4);
        q = put16(q + 4, pa->ipv4_port);
        memcpy(q, pa->ipv6, 16);
        q = put16(q + 16, pa->ipv6_port);
        *q++ = pa->cid.len;
        memcpy(q, pa->cid.data, pa->cid.len);
        memcpy(q + pa->cid.len, pa->reset_token, ZTTP_QUIC_RESET_TOKEN_LEN);
      }
      break;
    }
    case ZTTP_QUIC_TP_VERSION_INFORMATION: {
      uint8_t *q = tw_param(&w, id, 4 + 4 * tp->num_available_versions);
      if (q != NULL) {
        q = put32(q, tp->chosen_version);
        for (size_t i = 0; i < tp->num_available_versions; i++) {
          q = put32(q, tp->available_versions[i]);
        }
      }
      break;
    }
    default:
      break;
    }
  }
  if (w.full) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  return (int64_t)w.len;
}

/* ---- connection ID authentication ---------------------------------------- */

static int cid_eq(const zttp_quic_cid *a, const zttp_quic_cid *b) {
  return zttp_quic_cid_eq(a, b->data, b->len);
}

/* RFC 9000 §7.3 */
int zttp_quic_tparams_check_cids(const zttp_quic_tparams *peer,
                                 uint32_t local_role,
                                 const zttp_quic_cid *peer_scid,
                                 const zttp_quic_cid *odcid,
                                 const zttp_quic_cid *retry_scid, uint64_t *err,
                                 const char **why) {
  if (!zttp_quic_tparams_has(peer, ZTTP_QUIC_TP_INITIAL_SCID)) {
    return fail(err, why, "initial_source_connection_id missing");
  }
  if (!cid_eq(&peer->initial_scid, peer_scid)) {
    return fail(err, why, "initial_source_connection_id mismatch");
  }
  if (local_role != ZTTP_CLIENT) {
    return 1;
  }
  if (!zttp_quic_tparams_has(peer, ZTTP_QUIC_TP_ORIGINAL_DCID)) {
    return fail(err, why, "original_destination_connection_id missing");
  }
  if (!cid_eq(&peer->original_dcid, odcid)) {
    return fail(err, why, "original_destination_connection_id mismatch");
  }
  int has_retry = zttp_quic_tparams_has(peer, ZTTP_QUIC_TP_RETRY_SCID);
  if (retry_scid == NULL) {
    return has_retry
               ? fail(err, why, "retry_source_connection_id without a Retry")
               : 1;
  }
  if (!has_retry) {
    return fail(err, why, "retry_source_connection_id missing after a Retry");
  }
  if (!cid_eq(&peer->retry_scid, retry_scid)) {
    return fail(err, why, "retry_source_connection_id mismatch");
  }
  return 1;
}
