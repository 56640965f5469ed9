/* Stateless QUIC server helpers (endpoint.h).
 * SPDX-License-Identifier: MIT */
#include "quic/endpoint.h"

#include <string.h>

#include "crypto/crypto.h"

/* ---- classification (RFC 9000 §5.2, RFC 8999 §5) ------------------------ */

uint32_t zttp_quic_ep_classify(zttp_quic_ep_info *info, const uint8_t *data,
                               size_t len, size_t short_dcid_len) {
  memset(info, 0, sizeof(*info));
  info->action = ZTTP_QUIC_EP_DROP;
  info->datagram_len = len;
  zttp_quic_invariant inv;
  if (len == 0 || short_dcid_len > ZTTP_QUIC_MAX_CID_LEN ||
      !zttp_quic_invariant_parse(&inv, data, len, short_dcid_len)) {
    return info->action;
  }
  info->is_long = inv.is_long;
  info->version = inv.is_long ? inv.version : 0;
  info->dcid = inv.dcid;
  info->dcid_len = inv.dcid_len;
  info->scid = inv.scid;
  info->scid_len = inv.scid_len;
  if (!inv.is_long) {
    info->type = ZTTP_QUIC_PKT_SHORT;
    info->hdr_ok = zttp_quic_hdr_parse(&info->hdr, data, len, short_dcid_len) ==
                   ZTTP_QUIC_HDR_OK;
    /* RFC 9000 §10.3.3: only a trigger longer than the smallest reset. */
    if (len > ZTTP_QUIC_MIN_STATELESS_RESET_LEN) {
      info->action = ZTTP_QUIC_EP_SEND_RESET;
    }
    return info->action;
  }
  if (inv.version == ZTTP_QUIC_VERSION_NEGOTIATION) {
    info->type = ZTTP_QUIC_PKT_VERSION_NEGOTIATION; /* RFC 9000 §6.1 */
    return info->action;
  }
  if (!zttp_quic_version_supported(inv.version)) {
    info->type = ZTTP_QUIC_PKT_INITIAL;
    /* RFC 9000 §5.2.2, §6.1: only datagrams that could be a first flight. */
    if (len >= ZTTP_QUIC_MIN_INITIAL_DATAGRAM) {
      info->action = ZTTP_QUIC_EP_SEND_VN;
    }
    return info->action;
  }
  if (zttp_quic_hdr_parse(&info->hdr, data, len, short_dcid_len) !=
      ZTTP_QUIC_HDR_OK) {
    return info->action;
  }
  info->hdr_ok = 1;
  info->type = info->hdr.type;
  if (info->hdr.type == ZTTP_QUIC_PKT_INITIAL) {
    info->token = info->hdr.token;
    info->token_len = info->hdr.token_len;
    /* RFC 9000 §14.1, §7.2. */
    if (len >= ZTTP_QUIC_MIN_INITIAL_DATAGRAM &&
        inv.dcid_len >= ZTTP_QUIC_EP_MIN_INITIAL_DCID) {
      info->action = ZTTP_QUIC_EP_CREATE;
    }
  }
  return info->action;
}

/* ---- SipHash-2-4 (Aumasson, Bernstein 2012) ----------------------------- */

static uint64_t rotl64(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

static uint64_t load64_le(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) {
    v = v << 8 | p[i];
  }
  return v;
}

#define SIPROUND                                                               \
  do {                                                                         \
    v0 += v1;                                                                  \
    v1 = rotl64(v1, 13);                                                       \
    v1 ^= v0;                                                                  \
    v0 = rotl64(v0, 32);                                                       \
    v2 += v3;                                                                  \
    v3 = rotl64(v3, 16);                                                       \
    v3 ^= v2;                                                                  \
    v0 += v3;                                                                  \
    v3 = rotl64(v3, 21);                                                       \
    v3 ^= v0;                                                                  \
    v2 += v1;                                                                  \
    v1 = rotl64(v1, 17);                                                       \
    v1 ^= v2;                                                                  \
    v2 = rotl64(v2, 32);                                                       \
  } while (0)

static uint64_t siphash24(const uint8_t key[16], const uint8_t *in,
                          size_t len) {
  uint64_t k0 = load64_le(key);
  uint64_t k1 = load64_le(key + 8);
  uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
  uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
  uint64_t v3 = 0x7465646279746573ULL ^ k1;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t m = load64_le(in + i);
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
  }
  uint64_t b = (uint64_t)len << 56;
  for (size_t j = 0; i + j < len; j++) {
    b |= (uint64_t)in[i + j] << (8 * j);
  }
  v3 ^= b;
  SIPROUND;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

#undef SIPROUND

/* ---- connection ID table ------------------------------------------------ */

typedef struct cid_slot {
  zttp_quic_cid cid;
  void *handle; /* NULL: empty slot */
} cid_slot;

struct zttp_quic_cid_table {
  const zttp_mem *mem;
  cid_slot *slots;
  size_t num_slots; /* a power of 2; load kept <= 1/2 */
  size_t count;
  size_t max_entries;
  uint8_t key[16];
};

#define CID_TABLE_MIN_SLOTS 16

static size_t cid_hash(const zttp_quic_cid_table *t, const uint8_t *cid,
                       size_t len) {
  return (size_t)siphash24(t->key, cid, len);
}

int32_t zttp_quic_cid_table_new(zttp_quic_cid_table **out, const zttp_mem *mem,
                                size_t max_entries) {
  *out = NULL;
  if (max_entries == 0 || max_entries > ZTTP_QUIC_CID_TABLE_MAX_ENTRIES) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (mem == NULL) {
    mem = zttp_mem_default();
  }
  zttp_quic_cid_table *t = zttp_mem_calloc(mem, 1, sizeof(*t));
  if (t == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  t->mem = mem;
  t->max_entries = max_entries;
  t->num_slots = CID_TABLE_MIN_SLOTS;
  t->slots = zttp_mem_calloc(mem, t->num_slots, sizeof(cid_slot));
  if (t->slots == NULL) {
    goto fail_table;
  }
  if (!zttp_crypto_random(t->key, sizeof(t->key))) {
    goto fail_slots;
  }
  *out = t;
  return 0;

fail_slots:
  zttp_mem_free(mem, t->slots);
fail_table:
  zttp_mem_free(mem, t);
  return ZTTP_ERR_NOMEM;
}

void zttp_quic_cid_table_free(zttp_quic_cid_table *t) {
  if (t == NULL) {
    return;
  }
  zttp_mem_free(t->mem, t->slots);
  zttp_mem_free(t->mem, t);
}

/* Index of |cid|'s slot, or of the empty slot where it would go. */
static size_t cid_probe(const zttp_quic_cid_table *t, const uint8_t *cid,
                        size_t len) {
  size_t mask = t->num_slots - 1;
  size_t i = cid_hash(t, cid, len) & mask;
  while (t->slots[i].handle != NULL &&
         !zttp_quic_cid_eq(&t->slots[i].cid, cid, len)) {
    i = (i + 1) & mask;
  }
  return i;
}

static int32_t cid_table_grow(zttp_quic_cid_table *t) {
  size_t n = t->num_slots * 2;
  cid_slot *slots = zttp_mem_calloc(t->mem, n, sizeof(cid_slot));
  if (slots == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  cid_slot *old = t->slots;
  size_t old_n = t->num_slots;
  t->slots = slots;
  t->num_slots = n;
  for (size_t i = 0; i < old_n; i++) {
    if (old[i].handle != NULL) {
      size_t j = cid_probe(t, old[i].cid.data, old[i].cid.len);
      t->slots[j] = old[i];
    }
  }
  zttp_mem_free(t->mem, old);
  return 0;
}

int32_t zttp_quic_cid_table_add(zttp_quic_cid_table *t, const uint8_t *cid,
                                size_t cid_len, void *handle) {
  if (handle == NULL || cid_len > ZTTP_QUIC_MAX_CID_LEN ||
      (cid == NULL && cid_len != 0)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  size_t i = cid_probe(t, cid, cid_len);
  if (t->slots[i].handle != NULL) {
    return ZTTP_ERR_INVALID_STATE;
  }
  if (t->count >= t->max_entries) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  if ((t->count + 1) * 2 > t->num_slots) {
    int32_t rv = cid_table_grow(t);
    if (rv != 0) {
      return rv;
    }
    i = cid_probe(t, cid, cid_len);
  }
  zttp_quic_cid_set(&t->slots[i].cid, cid, cid_len);
  t->slots[i].handle = handle;
  t->count++;
  return 0;
}

void *zttp_quic_cid_table_find(const zttp_quic_cid_table *t, const uint8_t *cid,
                               size_t cid_len) {
  if (cid_len > ZTTP_QUIC_MAX_CID_LEN || (cid == NULL && cid_len != 0)) {
    return NULL;
  }
  return t->slots[cid_probe(t, cid, cid_len)].handle;
}

int zttp_quic_cid_table_remove(zttp_quic_cid_table *t, const uint8_t *cid,
                               size_t cid_len) {
  if (cid_len > ZTTP_QUIC_MAX_CID_LEN || (cid == NULL && cid_len != 0)) {
    return 0;
  }
  size_t mask = t->num_slots - 1;
  size_t i = cid_probe(t, cid, cid_len);
  if (t->slots[i].handle == NULL) {
    return 0;
  }
  /* Backward-shift deletion keeps every probe chain unbroken. */
  size_t j = i;
  for (;;) {
    t->slots[i].handle = NULL;
    for (;;) {
      j = (j + 1) & mask;
      if (t->slots[j].handle == NULL) {
        t->count--;
        return 1;
      }
      size_t home =
          cid_hash(t, t->slots[j].cid.data, t->slots[j].cid.len) & mask;
      /* Move j into the hole at i unless its home lies cyclically in
       * (i, j]. */
      if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
        break;
      }
    }
    t->slots[i] = t->slots[j];
    i = j;
  }
}

size_t zttp_quic_cid_table_count(const zttp_quic_cid_table *t) {
  return t->count;
}

/* ---- Version Negotiation (RFC 9000 §6, §17.2.1) ------------------------- */

int64_t zttp_quic_ep_vn_build(uint8_t *buf, size_t cap,
                              const zttp_quic_ep_info *info) {
  if (info->action != ZTTP_QUIC_EP_SEND_VN || !info->is_long) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  uint8_t rnd[6];
  if (!zttp_crypto_random(rnd, sizeof(rnd))) {
    return ZTTP_ERR_INVALID_STATE;
  }
  /* RFC 9000 §15: a reserved version has the form 0x?a?a?a?a. */
  uint32_t grease = (uint32_t)rnd[1] << 24 | (uint32_t)rnd[2] << 16 |
                    (uint32_t)rnd[3] << 8 | rnd[4];
  grease = (grease & 0xf0f0f0f0u) | 0x0a0a0a0au;
  uint32_t versions[3] = {ZTTP_QUIC_VERSION_1, ZTTP_QUIC_VERSION_2, 0};
  size_t at = rnd[5] % 3;
  for (size_t i = 2; i > at; i--) {
    versions[i] = versions[i - 1];
  }
  versions[at] = grease;
  size_t n = zttp_quic_vn_write(buf, cap, rnd[0], info->scid, info->scid_len,
                                info->dcid, info->dcid_len, versions, 3);
  if (n == 0) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  return (int64_t)n;
}

/* ---- Retry tokens (RFC 9000 §8.1.2-8.1.4) -------------------------------- */

#define TOKEN_MAC_LEN ZTTP_CRYPTO_SHA256_LEN

/* Computes the MAC of the token body |body| (|len| bytes) for |version| and
 * the client address of |path|. */
static int token_mac(uint8_t *mac, const uint8_t *key, const uint8_t *body,
                     size_t len, uint32_t version, const zttp_path *path) {
  uint8_t in[ZTTP_QUIC_EP_TOKEN_MAX_LEN + 4 + 1 + sizeof(path->remote)];
  size_t addr_len = path->remote_len;
  if (addr_len > sizeof(path->remote)) {
    return 0;
  }
  memcpy(in, body, len);
  in[len] = (uint8_t)(version >> 24);
  in[len + 1] = (uint8_t)(version >> 16);
  in[len + 2] = (uint8_t)(version >> 8);
  in[len + 3] = (uint8_t)version;
  in[len + 4] = (uint8_t)addr_len;
  memcpy(in + len + 5, path->remote, addr_len);
  return zttp_crypto_hmac_sha256(mac, key, ZTTP_QUIC_EP_KEY_LEN, in,
                                 len + 5 + addr_len);
}

/* Writes the token into |out| (ZTTP_QUIC_EP_TOKEN_MAX_LEN bytes) and
 * returns its length, or 0 on failure. */
static size_t token_write(uint8_t *out, const uint8_t *key,
                          const zttp_path *path, uint32_t version,
                          const uint8_t *odcid, size_t odcid_len,
                          const uint8_t *rscid, size_t rscid_len,
                          uint64_t expiry) {
  size_t n = 0;
  out[n++] = ZTTP_QUIC_EP_TOKEN_MAGIC;
  for (int i = 7; i >= 0; i--) {
    out[n++] = (uint8_t)(expiry >> (8 * i));
  }
  out[n++] = (uint8_t)odcid_len;
  memcpy(out + n, odcid, odcid_len);
  n += odcid_len;
  out[n++] = (uint8_t)rscid_len;
  memcpy(out + n, rscid, rscid_len);
  n += rscid_len;
  if (!token_mac(out + n, key, out, n, version, path)) {
    return 0;
  }
  return n + TOKEN_MAC_LEN;
}

int64_t zttp_quic_ep_retry_build(uint8_t *buf, size_t cap,
                                 const zttp_quic_ep_info *info,
                                 const zttp_path *path, const uint8_t *key,
                                 const uint8_t *rscid, size_t rscid_len,
                                 uint64_t lifetime, zttp_tstamp now) {
  if (!info->is_long || info->type != ZTTP_QUIC_PKT_INITIAL ||
      !zttp_quic_version_supported(info->version) ||
      info->dcid_len > ZTTP_QUIC_MAX_CID_LEN ||
      info->scid_len > ZTTP_QUIC_MAX_CID_LEN || rscid_len == 0 ||
      rscid_len > ZTTP_QUIC_MAX_CID_LEN ||
      (rscid_len == info->dcid_len &&
       memcmp(rscid, info->dcid, rscid_len) == 0) ||
      path->remote_len > sizeof(path->remote)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  uint64_t expiry = lifetime > UINT64_MAX - now ? UINT64_MAX : now + lifetime;
  uint8_t token[ZTTP_QUIC_EP_TOKEN_MAX_LEN];
  size_t token_len = token_write(token, key, path, info->version, info->dcid,
                                 info->dcid_len, rscid, rscid_len, expiry);
  uint8_t unused;
  if (token_len == 0 || !zttp_crypto_random(&unused, 1)) {
    return ZTTP_ERR_INVALID_STATE;
  }
  size_t n =
      zttp_quic_retry_write(buf, cap, info->version, unused, info->scid,
                            info->scid_len, rscid, rscid_len, token, token_len);
  if (n == 0 || cap - n < ZTTP_QUIC_RETRY_TAG_LEN) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  /* RFC 9001 §5.8. */
  if (!zttp_crypto_retry_tag(buf + n, info->version, info->dcid, info->dcid_len,
                             buf, n)) {
    return ZTTP_ERR_INVALID_STATE;
  }
  return (int64_t)(n + ZTTP_QUIC_RETRY_TAG_LEN);
}

uint32_t zttp_quic_ep_token_validate(zttp_quic_cid *odcid, zttp_quic_cid *rscid,
                                     const zttp_quic_ep_info *info,
                                     const zttp_path *path, const uint8_t *key,
                                     zttp_tstamp now) {
  const uint8_t *t = info->token;
  size_t len = info->token_len;
  if (len == 0 || t[0] != ZTTP_QUIC_EP_TOKEN_MAGIC) {
    return ZTTP_QUIC_EP_TOKEN_NOT_RETRY;
  }
  /* magic, expiry, odcid_len */
  size_t off = 1 + 8;
  if (len < off + 1 || t[off] > ZTTP_QUIC_MAX_CID_LEN) {
    return ZTTP_QUIC_EP_TOKEN_INVALID;
  }
  size_t odcid_len = t[off];
  const uint8_t *od = t + off + 1;
  off += 1 + odcid_len;
  if (len < off + 1 || t[off] == 0 || t[off] > ZTTP_QUIC_MAX_CID_LEN) {
    return ZTTP_QUIC_EP_TOKEN_INVALID;
  }
  size_t rscid_len = t[off];
  const uint8_t *rs = t + off + 1;
  off += 1 + rscid_len;
  if (len != off + TOKEN_MAC_LEN || path->remote_len > sizeof(path->remote)) {
    return ZTTP_QUIC_EP_TOKEN_INVALID;
  }
  uint8_t mac[TOKEN_MAC_LEN];
  if (!token_mac(mac, key, t, off, info->version, path) ||
      !zttp_crypto_memeq(mac, t + off, TOKEN_MAC_LEN)) {
    return ZTTP_QUIC_EP_TOKEN_INVALID;
  }
  /* RFC 9000 §7.3: the Initial after a Retry goes to the Retry's SCID. */
  if (rscid_len != info->dcid_len ||
      !zttp_crypto_memeq(rs, info->dcid, rscid_len)) {
    return ZTTP_QUIC_EP_TOKEN_INVALID;
  }
  uint64_t expiry = 0;
  for (int i = 1; i <= 8; i++) {
    expiry = expiry << 8 | t[i];
  }
  if (now > expiry) {
    return ZTTP_QUIC_EP_TOKEN_EXPIRED;
  }
  if (odcid != NULL) {
    zttp_quic_cid_set(odcid, od, odcid_len);
  }
  if (rscid != NULL) {
    zttp_quic_cid_set(rscid, rs, rscid_len);
  }
  return ZTTP_QUIC_EP_TOKEN_OK;
}

/* ---- Stateless Reset (RFC 9000 §10.3) ------------------------------------ */

int32_t zttp_quic_ep_reset_token(uint8_t *token, const uint8_t *key,
                                 const uint8_t *cid, size_t cid_len) {
  if (cid_len > ZTTP_QUIC_MAX_CID_LEN) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  /* RFC 9000 §10.3.2. */
  uint8_t mac[ZTTP_CRYPTO_SHA256_LEN];
  if (!zttp_crypto_hmac_sha256(mac, key, ZTTP_QUIC_EP_KEY_LEN, cid, cid_len)) {
    return ZTTP_ERR_INVALID_STATE;
  }
  memcpy(token, mac, ZTTP_QUIC_RESET_TOKEN_LEN);
  return 0;
}

size_t zttp_quic_ep_reset_len(size_t trigger_len) {
  if (trigger_len <= ZTTP_QUIC_MIN_STATELESS_RESET_LEN) {
    return 0;
  }
  size_t n = trigger_len - 1;
  return n > ZTTP_QUIC_EP_RESET_MAX_LEN ? ZTTP_QUIC_EP_RESET_MAX_LEN : n;
}

int64_t zttp_quic_ep_reset_build(uint8_t *buf, size_t cap, size_t len,
                                 size_t trigger_len, const uint8_t *token) {
  if (len < ZTTP_QUIC_MIN_STATELESS_RESET_LEN || len >= trigger_len) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (len > cap) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  /* RFC 9000 §10.3: the same layout as zttp_quic_stateless_reset_write(),
   * with the random bytes generated in place. */
  size_t nrand = len - ZTTP_QUIC_RESET_TOKEN_LEN;
  if (!zttp_crypto_random(buf, nrand)) {
    return ZTTP_ERR_INVALID_STATE;
  }
  buf[0] = (uint8_t)(ZTTP_QUIC_FIXED_BIT | (buf[0] & 0x3f));
  memcpy(buf + nrand, token, ZTTP_QUIC_RESET_TOKEN_LEN);
  return (int64_t)len;
}
