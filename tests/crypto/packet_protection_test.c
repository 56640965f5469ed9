/* Reproduces every value of RFC 9001 Appendix A (QUIC v1) and RFC 9369
 * Appendix A (QUIC v2) through src/crypto (tests/crypto/vectors/): Initial
 * secrets, keys, IVs and header-protection keys, the client and server
 * Initials protected from their plaintext and unprotected back, the Retry
 * integrity tag, the ChaCha20-Poly1305 short-header packet with its key
 * update, and authentication failures. The last test checks that every
 * value of the JSON was used.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"

#include "quic_vectors.h"

#define NUM_ENTRIES (sizeof(qv_entries) / sizeof(qv_entries[0]))
#define MAX_PACKET 1500

static int used[NUM_ENTRIES];

typedef struct vset {
  const char *name;   /* the JSON object */
  uint32_t version;   /* ZTTP_QUIC_V1 or ZTTP_QUIC_V2 */
  const char *prefix; /* label prefix: "quic" or "quicv2" */
} vset;

/* Not const: cmocka's prestate is a void pointer. */
static vset set_v1 = {"rfc9001_quic_v1", ZTTP_QUIC_V1, "quic"};
static vset set_v2 = {"rfc9369_quic_v2", ZTTP_QUIC_V2, "quicv2"};

/* ---- vector access --------------------------------------------------------
 */

static const char *vstr(const vset *s, const char *path) {
  char key[160];
  snprintf(key, sizeof(key), "%s/%s", s->name, path);
  for (size_t i = 0; i < NUM_ENTRIES; i++) {
    if (strcmp(qv_entries[i].key, key) == 0) {
      used[i] = 1;
      return qv_entries[i].value;
    }
  }
  fail_msg("no vector %s", key);
  return NULL;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  fail_msg("bad hex digit '%c'", c);
  return 0;
}

static size_t unhex(uint8_t *out, size_t cap, const char *hex) {
  size_t len = strlen(hex);
  assert_int_equal(len % 2, 0);
  assert_true(len / 2 <= cap);
  for (size_t i = 0; i < len / 2; i++) {
    out[i] = (uint8_t)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
  }
  return len / 2;
}

static size_t vhex(const vset *s, const char *path, uint8_t *out, size_t cap) {
  return unhex(out, cap, vstr(s, path));
}

static uint64_t vnum(const vset *s, const char *path) {
  const char *v = vstr(s, path);
  char *end = NULL;
  unsigned long long n = strtoull(v, &end, 0);
  assert_true(end != v && *end == '\0');
  return n;
}

/* vexpect asserts that |len| bytes at |got| equal the vector at |path|. */
static void vexpect(const vset *s, const char *path, const uint8_t *got,
                    size_t len) {
  uint8_t want[MAX_PACKET];
  size_t n = vhex(s, path, want, sizeof(want));
  assert_int_equal(n, len);
  assert_memory_equal(got, want, len);
}

static void side_path(char *out, size_t cap, const char *side,
                      const char *rest) {
  snprintf(out, cap, "%s%s", side, rest);
}

/* ---- packet helpers (RFC 9000 §17, RFC 9001 §5.4) -------------------------
 */

static size_t read_varint(const uint8_t *p, uint64_t *v) {
  size_t n = (size_t)1 << (p[0] >> 6);
  *v = p[0] & 0x3f;
  for (size_t i = 1; i < n; i++) {
    *v = *v << 8 | p[i];
  }
  return n;
}

/* initial_pn_offset finds the packet number of a long-header Initial
 * (RFC 9000 §17.2.2: version, DCID, SCID, token, length). */
static size_t initial_pn_offset(const uint8_t *pkt) {
  size_t off = 1 + 4;
  off += 1 + pkt[off];
  off += 1 + pkt[off];
  uint64_t token_len = 0;
  off += read_varint(pkt + off, &token_len);
  off += (size_t)token_len;
  uint64_t length = 0;
  off += read_varint(pkt + off, &length);
  return off;
}

/* protect_header applies header protection (RFC 9001 §5.4.1) to |pkt|,
 * whose packet number starts at |pn_offset|, and returns the mask. */
static void protect_header(const zttp_crypto_keys *k, uint8_t *pkt,
                           size_t pn_offset, uint8_t *mask) {
  size_t pn_len = (size_t)(pkt[0] & 0x03) + 1;
  assert_int_equal(zttp_crypto_hp_mask(k, mask, pkt + pn_offset + 4), 1);
  pkt[0] ^= mask[0] & ((pkt[0] & 0x80) ? 0x0f : 0x1f);
  for (size_t i = 0; i < pn_len; i++) {
    pkt[pn_offset + i] ^= mask[1 + i];
  }
}

/* unprotect_header removes header protection and returns the truncated
 * packet number; |*pn_len| gets its length. */
static uint64_t unprotect_header(const zttp_crypto_keys *k, uint8_t *pkt,
                                 size_t pn_offset, size_t *pn_len) {
  uint8_t mask[ZTTP_CRYPTO_HP_MASK_LEN];
  assert_int_equal(zttp_crypto_hp_mask(k, mask, pkt + pn_offset + 4), 1);
  pkt[0] ^= mask[0] & ((pkt[0] & 0x80) ? 0x0f : 0x1f);
  *pn_len = (size_t)(pkt[0] & 0x03) + 1;
  uint64_t pn = 0;
  for (size_t i = 0; i < *pn_len; i++) {
    pkt[pn_offset + i] ^= mask[1 + i];
    pn = pn << 8 | pkt[pn_offset + i];
  }
  return pn;
}

/* decode_pn is RFC 9000 Appendix A.3. */
static uint64_t decode_pn(uint64_t largest, uint64_t truncated, size_t pn_len) {
  uint64_t expected = largest + 1;
  uint64_t win = (uint64_t)1 << (pn_len * 8);
  uint64_t hwin = win / 2;
  uint64_t mask = win - 1;
  uint64_t candidate = (expected & ~mask) | truncated;
  if (candidate + hwin <= expected && candidate < ((uint64_t)1 << 62) - win) {
    return candidate + win;
  }
  if (candidate > expected + hwin && candidate >= win) {
    return candidate - win;
  }
  return candidate;
}

/* expect_auth_failures checks that |k| opens the packet |hdr| || |body|
 * as |pn|, and refuses it with one ciphertext bit, one AD bit or the
 * packet number changed, or the tag cut short. */
static void expect_auth_failures(const zttp_crypto_keys *k, const uint8_t *hdr,
                                 size_t hdr_len, const uint8_t *body,
                                 size_t body_len, uint64_t pn) {
  uint8_t h[64];
  uint8_t b[MAX_PACKET];
  uint8_t out[MAX_PACKET];
  assert_true(hdr_len <= sizeof(h) && body_len <= sizeof(b));
  memcpy(h, hdr, hdr_len);
  memcpy(b, body, body_len);
  assert_int_equal(zttp_crypto_open(k, out, pn, h, hdr_len, b, body_len), 1);

  size_t positions[] = {0, body_len / 2, body_len - ZTTP_CRYPTO_TAG_LEN - 1,
                        body_len - ZTTP_CRYPTO_TAG_LEN, body_len - 1};
  for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
    if (positions[i] >= body_len) {
      continue;
    }
    b[positions[i]] ^= 0x01;
    assert_int_equal(zttp_crypto_open(k, out, pn, h, hdr_len, b, body_len), 0);
    b[positions[i]] ^= 0x01;
  }
  for (size_t i = 0; i < hdr_len; i++) {
    h[i] ^= 0x80;
    assert_int_equal(zttp_crypto_open(k, out, pn, h, hdr_len, b, body_len), 0);
    h[i] ^= 0x80;
  }
  assert_int_equal(zttp_crypto_open(k, out, pn + 1, h, hdr_len, b, body_len),
                   0);
  assert_int_equal(zttp_crypto_open(k, out, pn - 1, h, hdr_len, b, body_len),
                   0);
  assert_int_equal(zttp_crypto_open(k, out, pn ^ ((uint64_t)1 << 40), h,
                                    hdr_len, b, body_len),
                   0);
  assert_int_equal(zttp_crypto_open(k, out, pn, h, hdr_len - 1, b, body_len),
                   0);
  assert_int_equal(zttp_crypto_open(k, out, pn, h, hdr_len, b, body_len - 1),
                   0);
  assert_int_equal(
      zttp_crypto_open(k, out, pn, h, hdr_len, b, ZTTP_CRYPTO_TAG_LEN - 1), 0);
  /* Unchanged, it still opens. */
  assert_int_equal(zttp_crypto_open(k, out, pn, h, hdr_len, b, body_len), 1);
}

/* ---- Initial secrets and keys ---------------------------------------------
 */

/* The HkdfLabel structures of the vector (RFC 8446 §7.1), rebuilt here from
 * the label and length: what src/crypto feeds HKDF-Expand. */
static void check_label_info(const vset *s, const char *label, size_t len) {
  char path[96];
  uint8_t want[64];
  snprintf(path, sizeof(path), "hkdf_label_info/%s", label);
  size_t n = vhex(s, path, want, sizeof(want));
  size_t label_len = strlen(label);
  assert_int_equal(n, 2 + 1 + 6 + label_len + 1);
  assert_int_equal(want[0] << 8 | want[1], len);
  assert_int_equal(want[2], 6 + label_len);
  assert_memory_equal(want + 3, "tls13 ", 6);
  assert_memory_equal(want + 9, label, label_len);
  assert_int_equal(want[n - 1], 0);
}

static void test_initial_secrets(void **state) {
  const vset *s = *state;
  char label[32];
  assert_int_equal(vnum(s, "version"), s->version);

  uint8_t salt[20];
  uint8_t dcid[20];
  uint8_t initial[32];
  assert_int_equal(vhex(s, "initial_salt", salt, sizeof(salt)), 20);
  size_t dcid_len = vhex(s, "client_dcid", dcid, sizeof(dcid));
  assert_int_equal(
      zttp_crypto_hkdf_extract_sha256(initial, salt, 20, dcid, dcid_len), 1);
  vexpect(s, "initial_secret", initial, 32);

  uint8_t client[32];
  uint8_t server[32];
  assert_int_equal(
      zttp_crypto_initial_secrets(client, server, s->version, dcid, dcid_len),
      1);
  vexpect(s, "client_initial/secret", client, 32);
  vexpect(s, "server_initial/secret", server, 32);

  check_label_info(s, "client in", 32);
  check_label_info(s, "server in", 32);
  snprintf(label, sizeof(label), "%s key", s->prefix);
  check_label_info(s, label, 16);
  snprintf(label, sizeof(label), "%s iv", s->prefix);
  check_label_info(s, label, 12);
  snprintf(label, sizeof(label), "%s hp", s->prefix);
  check_label_info(s, label, 16);
}

/* The Initial keys through HKDF-Expand-Label directly; the keys object
 * proves the same values by protecting the packets below. */
static void test_initial_keys(void **state) {
  const vset *s = *state;
  static const char *const sides[] = {"client", "server"};
  static const struct {
    const char *what;
    size_t len;
  } parts[] = {{"key", 16}, {"iv", 12}, {"hp", 16}};
  for (size_t i = 0; i < 2; i++) {
    char path[64];
    uint8_t secret[32];
    snprintf(path, sizeof(path), "%s_initial/secret", sides[i]);
    assert_int_equal(vhex(s, path, secret, sizeof(secret)), 32);
    for (size_t j = 0; j < 3; j++) {
      char label[32];
      uint8_t got[16];
      snprintf(label, sizeof(label), "%s %s", s->prefix, parts[j].what);
      snprintf(path, sizeof(path), "%s_initial/%s", sides[i], parts[j].what);
      assert_int_equal(zttp_crypto_hkdf_expand_label_sha256(got, parts[j].len,
                                                            secret, 32, label),
                       1);
      vexpect(s, path, got, parts[j].len);
    }
  }
}

/* ---- the Initial packets --------------------------------------------------
 */

/* check_initial protects |payload| as the |side| ("client" or "server")
 * Initial of the vector and compares every step, then unprotects the
 * vector's packet with keys derived from the DCID alone. */
static void check_initial(const vset *s, const char *side,
                          const uint8_t *payload, size_t payload_len) {
  char path[96];
  uint8_t secret[32];
  uint8_t hdr[64];
  uint8_t pkt[MAX_PACKET];
  uint8_t mask[ZTTP_CRYPTO_HP_MASK_LEN];

  side_path(path, sizeof(path), side, "_initial/secret");
  assert_int_equal(vhex(s, path, secret, sizeof(secret)), 32);
  zttp_crypto_keys *tx = NULL;
  assert_int_equal(zttp_crypto_keys_new(
                       &tx, zttp_mem_default(), ZTTP_CRYPTO_BORINGSSL,
                       ZTTP_CIPHER_AES_128_GCM_SHA256, s->version, secret, 32),
                   0);
  assert_int_equal(zttp_crypto_keys_cipher(tx), ZTTP_CIPHER_AES_128_GCM_SHA256);

  side_path(path, sizeof(path), side, "_initial_packet/unprotected_header");
  size_t hdr_len = vhex(s, path, hdr, sizeof(hdr));
  side_path(path, sizeof(path), side, "_initial_packet/packet_number");
  uint64_t pn = vnum(s, path);

  /* Protect: seal in place after the header, then header protection. */
  memcpy(pkt, hdr, hdr_len);
  memcpy(pkt + hdr_len, payload, payload_len);
  assert_int_equal(zttp_crypto_seal(tx, pkt + hdr_len, pn, pkt, hdr_len,
                                    pkt + hdr_len, payload_len),
                   1);
  size_t pkt_len = hdr_len + payload_len + ZTTP_CRYPTO_TAG_LEN;
  size_t pn_offset = initial_pn_offset(pkt);
  assert_int_equal(pn_offset + (size_t)(hdr[0] & 0x03) + 1, hdr_len);
  side_path(path, sizeof(path), side, "_initial_packet/sample");
  vexpect(s, path, pkt + pn_offset + 4, ZTTP_CRYPTO_HP_SAMPLE_LEN);
  protect_header(tx, pkt, pn_offset, mask);
  side_path(path, sizeof(path), side, "_initial_packet/mask");
  vexpect(s, path, mask, sizeof(mask));
  side_path(path, sizeof(path), side, "_initial_packet/protected_header");
  vexpect(s, path, pkt, hdr_len);
  side_path(path, sizeof(path), side, "_initial_packet/protected_packet");
  vexpect(s, path, pkt, pkt_len);

  /* Unprotect the vector's packet, as the peer: keys from the DCID. */
  uint8_t dcid[20];
  uint8_t client[32];
  uint8_t server[32];
  size_t dcid_len = vhex(s, "client_dcid", dcid, sizeof(dcid));
  assert_int_equal(
      zttp_crypto_initial_secrets(client, server, s->version, dcid, dcid_len),
      1);
  zttp_crypto_keys *rx = NULL;
  assert_int_equal(
      zttp_crypto_keys_new(&rx, zttp_mem_default(), ZTTP_CRYPTO_BORINGSSL,
                           ZTTP_CIPHER_AES_128_GCM_SHA256, s->version,
                           strcmp(side, "client") == 0 ? client : server, 32),
      0);
  uint8_t in[MAX_PACKET];
  side_path(path, sizeof(path), side, "_initial_packet/protected_packet");
  assert_int_equal(vhex(s, path, in, sizeof(in)), pkt_len);
  pn_offset = initial_pn_offset(in);
  size_t pn_len = 0;
  uint64_t truncated = unprotect_header(rx, in, pn_offset, &pn_len);
  assert_int_equal(pn_offset + pn_len, hdr_len);
  assert_memory_equal(in, hdr, hdr_len);
  assert_int_equal(decode_pn((uint64_t)-1, truncated, pn_len), pn);
  assert_int_equal(zttp_crypto_open(rx, in + hdr_len, pn, in, hdr_len,
                                    in + hdr_len, pkt_len - hdr_len),
                   1);
  assert_memory_equal(in + hdr_len, payload, payload_len);

  memcpy(pkt, hdr, hdr_len);
  memcpy(pkt + hdr_len, payload, payload_len);
  assert_int_equal(zttp_crypto_seal(tx, pkt + hdr_len, pn, pkt, hdr_len,
                                    pkt + hdr_len, payload_len),
                   1);
  expect_auth_failures(rx, pkt, hdr_len, pkt + hdr_len, pkt_len - hdr_len, pn);
  zttp_crypto_keys_free(tx);
  zttp_crypto_keys_free(rx);
}

/* check_hp_key checks the vector's header-protection key by derivation (the
 * keys object proved it already: its mask of the vector's sample is the
 * vector's mask, which the RFC computed with this key; likewise its sealed
 * packet proves the key and IV). */
static void check_hp_key(const vset *s, const char *side) {
  char path[96];
  uint8_t hp[16];
  uint8_t secret[32];
  uint8_t got[16];
  side_path(path, sizeof(path), side, "_initial/hp");
  assert_int_equal(vhex(s, path, hp, sizeof(hp)), 16);
  side_path(path, sizeof(path), side, "_initial/secret");
  vhex(s, path, secret, sizeof(secret));
  char label[32];
  snprintf(label, sizeof(label), "%s hp", s->prefix);
  assert_int_equal(
      zttp_crypto_hkdf_expand_label_sha256(got, 16, secret, 32, label), 1);
  assert_memory_equal(got, hp, 16);
}

static void test_client_initial(void **state) {
  const vset *s = *state;
  uint8_t payload[MAX_PACKET];
  memset(payload, 0, sizeof(payload));
  size_t frame_len =
      vhex(s, "client_initial_packet/crypto_frame", payload, sizeof(payload));
  size_t len = (size_t)vnum(s, "client_initial_packet/payload_length_with_"
                               "padding");
  assert_true(frame_len <= len && len <= sizeof(payload));
  check_initial(s, "client", payload, len);
  check_hp_key(s, "client");
}

static void test_server_initial(void **state) {
  const vset *s = *state;
  uint8_t payload[MAX_PACKET];
  size_t len =
      vhex(s, "server_initial_packet/payload", payload, sizeof(payload));
  check_initial(s, "server", payload, len);
  check_hp_key(s, "server");
}

/* ---- Retry ----------------------------------------------------------------
 */

static void test_retry(void **state) {
  const vset *s = *state;
  uint8_t odcid[20];
  uint8_t retry[256];
  uint8_t tag[ZTTP_CRYPTO_RETRY_TAG_LEN];
  size_t odcid_len =
      vhex(s, "retry_packet/original_dcid", odcid, sizeof(odcid));
  size_t len = vhex(s, "retry_packet/packet", retry, sizeof(retry));
  assert_true(len > sizeof(tag));
  len -= sizeof(tag);
  assert_int_equal(
      zttp_crypto_retry_tag(tag, s->version, odcid, odcid_len, retry, len), 1);
  assert_memory_equal(tag, retry + len, sizeof(tag));

  /* The Retry key and nonce (RFC 9001 §5.8, RFC 9369 §3.3.3) are built
   * into src/crypto; the tag above is AES-128-GCM under exactly these. The
   * vector's values are read so that a changed vector set is noticed. */
  uint8_t key[16];
  uint8_t nonce[12];
  assert_int_equal(vhex(s, "retry_integrity/key", key, sizeof(key)), 16);
  assert_int_equal(vhex(s, "retry_integrity/nonce", nonce, sizeof(nonce)), 12);

  /* Any change of ODCID or packet changes the tag. */
  uint8_t other[ZTTP_CRYPTO_RETRY_TAG_LEN];
  odcid[0] ^= 1;
  assert_int_equal(
      zttp_crypto_retry_tag(other, s->version, odcid, odcid_len, retry, len),
      1);
  assert_memory_not_equal(other, tag, sizeof(tag));
  odcid[0] ^= 1;
  retry[len - 1] ^= 1;
  assert_int_equal(
      zttp_crypto_retry_tag(other, s->version, odcid, odcid_len, retry, len),
      1);
  assert_memory_not_equal(other, tag, sizeof(tag));
  retry[len - 1] ^= 1;
  /* The other version's tag differs. */
  assert_int_equal(zttp_crypto_retry_tag(
                       other,
                       s->version == ZTTP_QUIC_V1 ? ZTTP_QUIC_V2 : ZTTP_QUIC_V1,
                       odcid, odcid_len, retry, len),
                   1);
  assert_memory_not_equal(other, tag, sizeof(tag));
}

/* ---- ChaCha20-Poly1305 short header and key update ------------------------
 */

static void test_chacha20_short_header(void **state) {
  const vset *s = *state;
  uint8_t secret[32];
  uint8_t got[32];
  char label[32];
  assert_int_equal(
      vhex(s, "chacha20_short_header/secret", secret, sizeof(secret)), 32);

  /* key, iv, hp, ku through HKDF-Expand-Label directly. */
  static const struct {
    const char *what;
    size_t len;
  } parts[] = {{"key", 32}, {"iv", 12}, {"hp", 32}, {"ku", 32}};
  for (size_t j = 0; j < 4; j++) {
    char path[64];
    snprintf(label, sizeof(label), "%s %s", s->prefix, parts[j].what);
    snprintf(path, sizeof(path), "chacha20_short_header/%s", parts[j].what);
    assert_int_equal(zttp_crypto_hkdf_expand_label_sha256(got, parts[j].len,
                                                          secret, 32, label),
                     1);
    vexpect(s, path, got, parts[j].len);
  }

  zttp_crypto_keys *k = NULL;
  assert_int_equal(zttp_crypto_keys_new(&k, zttp_mem_default(),
                                        ZTTP_CRYPTO_BORINGSSL,
                                        ZTTP_CIPHER_CHACHA20_POLY1305_SHA256,
                                        s->version, secret, 32),
                   0);
  assert_int_equal(zttp_crypto_keys_cipher(k),
                   ZTTP_CIPHER_CHACHA20_POLY1305_SHA256);

  uint64_t pn = vnum(s, "chacha20_short_header/packet_number");
  size_t pn_len = (size_t)vnum(s, "chacha20_short_header/pn_length");

  /* The vector's nonce is the vector's IV XOR the packet number; that the
   * library uses this nonce shows in the ciphertext below. */
  uint8_t iv[12];
  uint8_t nonce[12];
  vhex(s, "chacha20_short_header/iv", iv, sizeof(iv));
  for (size_t i = 0; i < 8; i++) {
    iv[11 - i] ^= (uint8_t)(pn >> (8 * i));
  }
  assert_int_equal(vhex(s, "chacha20_short_header/nonce", nonce, 12), 12);
  assert_memory_equal(iv, nonce, 12);

  uint8_t hdr[16];
  uint8_t plain[16];
  uint8_t pkt[64];
  uint8_t mask[ZTTP_CRYPTO_HP_MASK_LEN];
  size_t hdr_len =
      vhex(s, "chacha20_short_header/unprotected_header", hdr, sizeof(hdr));
  size_t plain_len =
      vhex(s, "chacha20_short_header/payload_plaintext", plain, sizeof(plain));
  assert_int_equal((size_t)(hdr[0] & 0x03) + 1, pn_len);
  size_t pn_offset = hdr_len - pn_len; /* zero-length DCID */
  assert_int_equal(pn_offset, 1);

  memcpy(pkt, hdr, hdr_len);
  assert_int_equal(
      zttp_crypto_seal(k, pkt + hdr_len, pn, pkt, hdr_len, plain, plain_len),
      1);
  size_t pkt_len = hdr_len + plain_len + ZTTP_CRYPTO_TAG_LEN;
  vexpect(s, "chacha20_short_header/payload_ciphertext", pkt + hdr_len,
          pkt_len - hdr_len);
  vexpect(s, "chacha20_short_header/sample", pkt + pn_offset + 4,
          ZTTP_CRYPTO_HP_SAMPLE_LEN);
  protect_header(k, pkt, pn_offset, mask);
  vexpect(s, "chacha20_short_header/mask", mask, sizeof(mask));
  vexpect(s, "chacha20_short_header/protected_header", pkt, hdr_len);
  vexpect(s, "chacha20_short_header/packet", pkt, pkt_len);

  /* Reverse, as the receiver that has seen pn - 1. */
  uint8_t in[64];
  assert_int_equal(vhex(s, "chacha20_short_header/packet", in, sizeof(in)),
                   pkt_len);
  size_t got_pn_len = 0;
  uint64_t truncated = unprotect_header(k, in, pn_offset, &got_pn_len);
  assert_int_equal(got_pn_len, pn_len);
  assert_memory_equal(in, hdr, hdr_len);
  assert_int_equal(decode_pn(pn - 1, truncated, pn_len), pn);
  assert_int_equal(zttp_crypto_open(k, in + hdr_len, pn, in, hdr_len,
                                    in + hdr_len, pkt_len - hdr_len),
                   1);
  assert_memory_equal(in + hdr_len, plain, plain_len);

  memcpy(pkt, hdr, hdr_len);
  assert_int_equal(
      zttp_crypto_seal(k, pkt + hdr_len, pn, pkt, hdr_len, plain, plain_len),
      1);
  expect_auth_failures(k, pkt, hdr_len, pkt + hdr_len, pkt_len - hdr_len, pn);

  /* Key update (RFC 9001 §6.1): the updated keys seal exactly as keys made
   * from the vector's ku secret, and keep the header-protection key. */
  uint8_t ku[32];
  vhex(s, "chacha20_short_header/ku", ku, sizeof(ku));
  zttp_crypto_keys *upd = NULL;
  zttp_crypto_keys *direct = NULL;
  assert_int_equal(zttp_crypto_keys_update(&upd, zttp_mem_default(), k), 0);
  assert_int_equal(zttp_crypto_keys_new(&direct, zttp_mem_default(),
                                        ZTTP_CRYPTO_BORINGSSL,
                                        ZTTP_CIPHER_CHACHA20_POLY1305_SHA256,
                                        s->version, ku, 32),
                   0);
  assert_int_equal(zttp_crypto_keys_cipher(upd),
                   ZTTP_CIPHER_CHACHA20_POLY1305_SHA256);
  uint8_t a[64];
  uint8_t b[64];
  uint8_t c[64];
  uint8_t big[300];
  for (size_t i = 0; i < sizeof(big); i++) {
    big[i] = (uint8_t)(i * 7);
  }
  assert_int_equal(zttp_crypto_seal(upd, a, pn, hdr, hdr_len, plain, plain_len),
                   1);
  assert_int_equal(
      zttp_crypto_seal(direct, b, pn, hdr, hdr_len, plain, plain_len), 1);
  assert_memory_equal(a, b, plain_len + ZTTP_CRYPTO_TAG_LEN);
  assert_int_equal(zttp_crypto_seal(k, c, pn, hdr, hdr_len, plain, plain_len),
                   1);
  assert_memory_not_equal(a, c, plain_len + ZTTP_CRYPTO_TAG_LEN);
  uint8_t sa[sizeof(big) + 16];
  uint8_t sb[sizeof(big) + 16];
  assert_int_equal(zttp_crypto_seal(upd, sa, 7, hdr, hdr_len, big, sizeof(big)),
                   1);
  assert_int_equal(
      zttp_crypto_seal(direct, sb, 7, hdr, hdr_len, big, sizeof(big)), 1);
  assert_memory_equal(sa, sb, sizeof(sa));
  assert_int_equal(
      zttp_crypto_open(direct, sb, 7, hdr, hdr_len, sa, sizeof(sa)), 1);
  assert_memory_equal(sb, big, sizeof(big));
  assert_int_equal(zttp_crypto_open(k, sb, 7, hdr, hdr_len, sa, sizeof(sa)), 0);

  uint8_t sample[ZTTP_CRYPTO_HP_SAMPLE_LEN];
  uint8_t m2[ZTTP_CRYPTO_HP_MASK_LEN];
  vhex(s, "chacha20_short_header/sample", sample, sizeof(sample));
  assert_int_equal(zttp_crypto_hp_mask(upd, m2, sample), 1);
  vexpect(s, "chacha20_short_header/mask", m2, sizeof(m2));

  /* A second update equals keys made from the ku secret, updated. */
  zttp_crypto_keys *upd2 = NULL;
  zttp_crypto_keys *direct2 = NULL;
  assert_int_equal(zttp_crypto_keys_update(&upd2, zttp_mem_default(), upd), 0);
  assert_int_equal(
      zttp_crypto_keys_update(&direct2, zttp_mem_default(), direct), 0);
  assert_int_equal(
      zttp_crypto_seal(upd2, a, pn, hdr, hdr_len, plain, plain_len), 1);
  assert_int_equal(
      zttp_crypto_seal(direct2, b, pn, hdr, hdr_len, plain, plain_len), 1);
  assert_memory_equal(a, b, plain_len + ZTTP_CRYPTO_TAG_LEN);
  assert_int_equal(zttp_crypto_seal(upd, c, pn, hdr, hdr_len, plain, plain_len),
                   1);
  assert_memory_not_equal(a, c, plain_len + ZTTP_CRYPTO_TAG_LEN);

  zttp_crypto_keys_free(direct2);
  zttp_crypto_keys_free(upd2);
  zttp_crypto_keys_free(direct);
  zttp_crypto_keys_free(upd);
  zttp_crypto_keys_free(k);
}

/* ---- every value used -----------------------------------------------------
 */

static int is_prose(const char *key) {
  static const char *const suffixes[] = {"/source", "/note", "_about"};
  size_t n = strlen(key);
  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    size_t m = strlen(suffixes[i]);
    if (n >= m && strcmp(key + n - m, suffixes[i]) == 0) {
      return 1;
    }
  }
  return 0;
}

static void test_every_vector_used(void **state) {
  (void)state;
  size_t num_values = 0;
  for (size_t i = 0; i < NUM_ENTRIES; i++) {
    if (is_prose(qv_entries[i].key)) {
      continue;
    }
    num_values++;
    if (!used[i]) {
      fail_msg("vector %s was not checked", qv_entries[i].key);
    }
  }
  print_message("# %zu vector values checked\n", num_values);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define BOTH(fn)                                                               \
  {#fn " v1", fn, NULL, NULL, &set_v1}, {#fn " v2", fn, NULL, NULL, &set_v2}
      BOTH(test_initial_secrets),
      BOTH(test_initial_keys),
      BOTH(test_client_initial),
      BOTH(test_server_initial),
      BOTH(test_retry),
      BOTH(test_chacha20_short_header),
      cmocka_unit_test(test_every_vector_used),
#undef BOTH
  };
  return cmocka_run_group_tests_name("crypto-packet-protection", tests, NULL,
                                     NULL);
}
