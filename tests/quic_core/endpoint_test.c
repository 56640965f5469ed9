/* src/quic/endpoint.c: classification of datagrams for unknown connections
 * (RFC 9000 §5.2, RFC 8999) on the RFC 9001 Appendix A client Initial and
 * on junk, Version Negotiation (§6, §17.2.1), Retry packets and tokens
 * (§8.1, §17.2.5, RFC 9001 §5.8), stateless reset tokens and packets
 * (§10.3), and the connection ID table. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../quic/quic_test_util.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "quic/endpoint.h"

static const char *vectors_path;
static uint8_t rfc_initial[1500];
static size_t rfc_initial_len;
static const uint8_t rfc_odcid[8] = {0x83, 0x94, 0xc8, 0xf0,
                                     0x3e, 0x51, 0x57, 0x08};

static const uint8_t key[ZTTP_QUIC_EP_KEY_LEN] = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

#define NOW 5000000000ull
#define LIFETIME 10000000000ull

static int setup(void **state) {
  (void)state;
  char *json = q_read_file(vectors_path);
  if (json == NULL) {
    fprintf(stderr, "# cannot read %s\n", vectors_path);
    return -1;
  }
  rfc_initial_len =
      q_json_hex(json, "rfc9001_quic_v1", "client_initial_packet",
                 "protected_packet", rfc_initial, sizeof(rfc_initial));
  free(json);
  return rfc_initial_len == 1200 ? 0 : -1;
}

static zttp_path path_of(const char *addr) {
  zttp_path p;
  memset(&p, 0, sizeof(p));
  p.remote_len = (uint32_t)strlen(addr);
  memcpy(p.remote, addr, p.remote_len);
  return p;
}

/* A long header of |version| with CIDs, padded to |len|. */
static size_t make_long(uint8_t *buf, size_t len, uint32_t version) {
  memset(buf, 0, len);
  buf[0] = 0xc0;
  buf[1] = (uint8_t)(version >> 24);
  buf[2] = (uint8_t)(version >> 16);
  buf[3] = (uint8_t)(version >> 8);
  buf[4] = (uint8_t)version;
  buf[5] = 8;
  memcpy(buf + 6, "DCIDdcid", 8);
  buf[14] = 4;
  memcpy(buf + 15, "scid", 4);
  return len;
}

static void test_classify_rfc_initial(void **state) {
  (void)state;
  zttp_quic_ep_info info;
  assert_int_equal(
      zttp_quic_ep_classify(&info, rfc_initial, rfc_initial_len, 8),
      ZTTP_QUIC_EP_CREATE);
  assert_int_equal(info.action, ZTTP_QUIC_EP_CREATE);
  assert_true(info.is_long);
  assert_int_equal(info.version, ZTTP_QUIC_VERSION_1);
  assert_int_equal(info.type, ZTTP_QUIC_PKT_INITIAL);
  assert_int_equal(info.dcid_len, 8);
  assert_memory_equal(info.dcid, rfc_odcid, 8);
  assert_int_equal(info.scid_len, 0);
  assert_int_equal(info.token_len, 0);
  assert_true(info.hdr_ok);
  assert_int_equal(info.hdr.packet_len, 1200);
  assert_ptr_equal(info.hdr.dcid, info.dcid);

  /* One byte short of 1200: dropped (RFC 9000 §14.1). */
  assert_int_equal(zttp_quic_ep_classify(&info, rfc_initial, 1199, 8),
                   ZTTP_QUIC_EP_DROP);
  /* A DCID under 8 bytes (RFC 9000 §7.2): dropped. */
  uint8_t buf[1200];
  memcpy(buf, rfc_initial, sizeof(buf));
  buf[5] = 7; /* now the header misparses or the DCID is 7 bytes */
  assert_int_equal(zttp_quic_ep_classify(&info, buf, sizeof(buf), 8),
                   ZTTP_QUIC_EP_DROP);
  /* A Handshake packet for an unknown connection: dropped. */
  memcpy(buf, rfc_initial, sizeof(buf));
  buf[0] = (uint8_t)((buf[0] & 0xcf) | 0x20);
  zttp_quic_ep_classify(&info, buf, sizeof(buf), 8);
  assert_int_equal(info.action, ZTTP_QUIC_EP_DROP);
}

static void test_classify_junk(void **state) {
  (void)state;
  zttp_quic_ep_info info;
  uint8_t buf[1300];
  for (size_t len = 0; len < 30; len++) {
    memset(buf, 0xc3, sizeof(buf));
    zttp_quic_ep_classify(&info, buf, len, 8);
    assert_int_equal(info.action, ZTTP_QUIC_EP_DROP);
  }
  /* Every prefix of the Initial under 1200 bytes is dropped. */
  for (size_t len = 0; len < 1200; len++) {
    assert_int_equal(zttp_quic_ep_classify(&info, rfc_initial, len, 8),
                     ZTTP_QUIC_EP_DROP);
  }
  /* Short headers: reset candidates only above 21 bytes (§10.3.3). */
  memset(buf, 0x41, sizeof(buf));
  assert_int_equal(zttp_quic_ep_classify(&info, buf, 21, 8), ZTTP_QUIC_EP_DROP);
  assert_int_equal(zttp_quic_ep_classify(&info, buf, 22, 8),
                   ZTTP_QUIC_EP_SEND_RESET);
  assert_false(info.is_long);
  assert_int_equal(info.type, ZTTP_QUIC_PKT_SHORT);
  assert_int_equal(info.dcid_len, 8);
  assert_ptr_equal(info.dcid, buf + 1);
  /* Shorter than its own DCID. */
  assert_int_equal(zttp_quic_ep_classify(&info, buf, 5, 8), ZTTP_QUIC_EP_DROP);
}

static void test_classify_vn(void **state) {
  (void)state;
  zttp_quic_ep_info info;
  uint8_t buf[1300];
  /* An unknown version in 1200 bytes: VN; in 1199: dropped. */
  make_long(buf, 1200, 0x1a2a3a4a);
  assert_int_equal(zttp_quic_ep_classify(&info, buf, 1200, 8),
                   ZTTP_QUIC_EP_SEND_VN);
  assert_int_equal(info.version, 0x1a2a3a4a);
  assert_int_equal(info.dcid_len, 8);
  assert_int_equal(info.scid_len, 4);
  assert_int_equal(zttp_quic_ep_classify(&info, buf, 1199, 8),
                   ZTTP_QUIC_EP_DROP);

  /* Build the VN and parse it back. */
  zttp_quic_ep_classify(&info, buf, 1200, 8);
  uint8_t vn[256];
  int seen_grease[3] = {0, 0, 0};
  for (int round = 0; round < 64; round++) {
    int64_t n = zttp_quic_ep_vn_build(vn, sizeof(vn), &info);
    assert_true(n > 0);
    zttp_quic_hdr h;
    assert_int_equal(zttp_quic_hdr_parse(&h, vn, (size_t)n, 8),
                     ZTTP_QUIC_HDR_OK);
    assert_int_equal(h.type, ZTTP_QUIC_PKT_VERSION_NEGOTIATION);
    assert_true(vn[0] & 0x80);
    assert_int_equal(h.dcid_len, 4);
    assert_memory_equal(h.dcid, "scid", 4);
    assert_int_equal(h.scid_len, 8);
    assert_memory_equal(h.scid, "DCIDdcid", 8);
    assert_int_equal(h.num_versions, 3);
    int v1 = 0, v2 = 0, grease = 0;
    for (size_t i = 0; i < h.num_versions; i++) {
      uint32_t v = zttp_quic_vn_version(&h, i);
      if (v == ZTTP_QUIC_VERSION_1) {
        v1++;
      } else if (v == ZTTP_QUIC_VERSION_2) {
        v2++;
      } else {
        assert_int_equal(v & 0x0f0f0f0fu, 0x0a0a0a0au);
        grease++;
        seen_grease[i]++;
      }
    }
    assert_int_equal(v1, 1);
    assert_int_equal(v2, 1);
    assert_int_equal(grease, 1);

    /* Never answer a VN with a VN (RFC 9000 §6.1). */
    zttp_quic_ep_info vinfo;
    uint8_t big[1300];
    memset(big, 0, sizeof(big));
    memcpy(big, vn, (size_t)n);
    assert_int_equal(zttp_quic_ep_classify(&vinfo, big, sizeof(big), 8),
                     ZTTP_QUIC_EP_DROP);
    assert_int_equal(vinfo.type, ZTTP_QUIC_PKT_VERSION_NEGOTIATION);
    assert_int_equal(zttp_quic_ep_vn_build(vn, sizeof(vn), &vinfo),
                     ZTTP_ERR_INVALID_ARGUMENT);
  }
  /* The GREASE version moves around. */
  assert_true(seen_grease[0] + seen_grease[1] + seen_grease[2] == 64);
  assert_true(
      (seen_grease[0] > 0) + (seen_grease[1] > 0) + (seen_grease[2] > 0) >= 2);
  /* Too small a buffer. */
  assert_int_equal(zttp_quic_ep_vn_build(vn, 20, &info), ZTTP_ERR_BUFFER_FULL);

  /* Long CIDs (RFC 8999 §5.1: up to 255) of an unknown version. */
  memset(buf, 0, sizeof(buf));
  buf[0] = 0x80;
  buf[4] = 0x77;
  buf[5] = 200;
  buf[206] = 30;
  assert_int_equal(zttp_quic_ep_classify(&info, buf, 1200, 8),
                   ZTTP_QUIC_EP_SEND_VN);
  assert_int_equal(info.dcid_len, 200);
  assert_int_equal(info.scid_len, 30);
  uint8_t vn2[400];
  int64_t n = zttp_quic_ep_vn_build(vn2, sizeof(vn2), &info);
  assert_int_equal(n, 7 + 30 + 200 + 12);
  /* A CREATE is not a VN. */
  zttp_quic_ep_classify(&info, rfc_initial, rfc_initial_len, 8);
  assert_int_equal(zttp_quic_ep_vn_build(vn2, sizeof(vn2), &info),
                   ZTTP_ERR_INVALID_ARGUMENT);
}

/* Builds a Retry for the RFC Initial and returns its length. */
static size_t build_retry(uint8_t *out, size_t cap, const zttp_path *path,
                          uint32_t version, zttp_tstamp now) {
  uint8_t buf[1200];
  memcpy(buf, rfc_initial, sizeof(buf));
  if (version == ZTTP_QUIC_VERSION_2) {
    /* Same bytes under v2: type bits 0b01 are Initial (RFC 9369 §3.2). */
    buf[1] = 0x6b;
    buf[2] = 0x33;
    buf[3] = 0x43;
    buf[4] = 0xcf;
    buf[0] = (uint8_t)((buf[0] & 0xcf) | 0x10);
  }
  zttp_quic_ep_info info;
  assert_int_equal(zttp_quic_ep_classify(&info, buf, sizeof(buf), 8),
                   ZTTP_QUIC_EP_CREATE);
  int64_t n =
      zttp_quic_ep_retry_build(out, cap, &info, path, key,
                               (const uint8_t *)"RSCID123", 8, LIFETIME, now);
  assert_true(n > 0);
  return (size_t)n;
}

/* The client's second Initial: DCID = Retry SCID, the token echoed. Built
 * as a bare header the classifier accepts (Length = rest). */
static size_t second_initial(uint8_t *out, uint32_t version,
                             const uint8_t *token, size_t token_len) {
  memset(out, 0, 1200);
  size_t n = 0;
  uint8_t bits = 0;
  zttp_quic_long_type_bits(&bits, version, ZTTP_QUIC_PKT_INITIAL);
  out[n++] = (uint8_t)(0xc0 | bits << 4);
  out[n++] = (uint8_t)(version >> 24);
  out[n++] = (uint8_t)(version >> 16);
  out[n++] = (uint8_t)(version >> 8);
  out[n++] = (uint8_t)version;
  out[n++] = 8;
  memcpy(out + n, "RSCID123", 8);
  n += 8;
  out[n++] = 0;
  out[n++] = (uint8_t)token_len; /* < 64: a 1-byte varint */
  memcpy(out + n, token, token_len);
  n += token_len;
  size_t rest = 1200 - n - 2;
  out[n++] = (uint8_t)(0x40 | rest >> 8);
  out[n++] = (uint8_t)rest;
  return 1200;
}

static void test_retry_build(void **state) {
  (void)state;
  zttp_path path = path_of("127.0.0.1:4433");
  for (int v = 0; v < 2; v++) {
    uint32_t version = v == 0 ? ZTTP_QUIC_VERSION_1 : ZTTP_QUIC_VERSION_2;
    uint8_t retry[256];
    size_t n = build_retry(retry, sizeof(retry), &path, version, NOW);
    zttp_quic_hdr h;
    assert_int_equal(zttp_quic_hdr_parse(&h, retry, n, 8), ZTTP_QUIC_HDR_OK);
    assert_int_equal(h.type, ZTTP_QUIC_PKT_RETRY);
    assert_int_equal(h.version, version);
    assert_int_equal(h.dcid_len, 0); /* the client's (empty) SCID */
    assert_int_equal(h.scid_len, 8);
    assert_memory_equal(h.scid, "RSCID123", 8);
    assert_true(h.token_len > 0 && h.token_len <= ZTTP_QUIC_EP_TOKEN_MAX_LEN);
    assert_int_equal(h.token[0], ZTTP_QUIC_EP_TOKEN_MAGIC);
    /* RFC 9001 §5.8: recompute the tag over the ODCID. */
    uint8_t tag[16];
    assert_true(
        zttp_crypto_retry_tag(tag, version, rfc_odcid, 8, retry, n - 16));
    assert_memory_equal(tag, retry + n - 16, 16);
    assert_ptr_equal(h.retry_tag, retry + n - 16);

    /* The token validates on the second Initial. */
    uint8_t dgram[1200];
    second_initial(dgram, version, h.token, h.token_len);
    zttp_quic_ep_info info;
    assert_int_equal(zttp_quic_ep_classify(&info, dgram, sizeof(dgram), 8),
                     ZTTP_QUIC_EP_CREATE);
    zttp_quic_cid odcid, rscid;
    assert_int_equal(
        zttp_quic_ep_token_validate(&odcid, &rscid, &info, &path, key, NOW),
        ZTTP_QUIC_EP_TOKEN_OK);
    assert_true(zttp_quic_cid_eq(&odcid, rfc_odcid, 8));
    assert_true(zttp_quic_cid_eq(&rscid, (const uint8_t *)"RSCID123", 8));
  }
  /* Invalid arguments: a Retry SCID equal to the ODCID, not an Initial,
   * no room. */
  zttp_quic_ep_info info;
  zttp_quic_ep_classify(&info, rfc_initial, rfc_initial_len, 8);
  uint8_t out[256];
  assert_int_equal(zttp_quic_ep_retry_build(out, sizeof(out), &info, &path, key,
                                            rfc_odcid, 8, LIFETIME, NOW),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_ep_retry_build(out, sizeof(out), &info, &path, key,
                                            rfc_odcid, 0, LIFETIME, NOW),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_ep_retry_build(out, 40, &info, &path, key,
                                            (const uint8_t *)"RSCID123", 8,
                                            LIFETIME, NOW),
                   ZTTP_ERR_BUFFER_FULL);
  uint8_t vnbuf[1200];
  make_long(vnbuf, 1200, 0x1a2a3a4a);
  zttp_quic_ep_classify(&info, vnbuf, 1200, 8);
  assert_int_equal(zttp_quic_ep_retry_build(out, sizeof(out), &info, &path, key,
                                            (const uint8_t *)"RSCID123", 8,
                                            LIFETIME, NOW),
                   ZTTP_ERR_INVALID_ARGUMENT);
}

/* Validates |token| in a second Initial of |version| on |path| at |now|. */
static uint32_t validate(const uint8_t *token, size_t token_len,
                         uint32_t version, const zttp_path *path,
                         const uint8_t *k, zttp_tstamp now) {
  uint8_t dgram[1200];
  second_initial(dgram, version, token, token_len);
  zttp_quic_ep_info info;
  zttp_quic_ep_classify(&info, dgram, sizeof(dgram), 8);
  assert_int_equal(info.token_len, token_len);
  zttp_quic_cid odcid, rscid;
  memset(&odcid, 0xee, sizeof(odcid));
  uint32_t r = zttp_quic_ep_token_validate(&odcid, &rscid, &info, path, k, now);
  if (r != ZTTP_QUIC_EP_TOKEN_OK) {
    assert_int_equal(odcid.len, 0xee); /* untouched */
  }
  return r;
}

static void test_token_validate(void **state) {
  (void)state;
  zttp_path path = path_of("127.0.0.1:4433");
  uint8_t retry[256];
  size_t n = build_retry(retry, sizeof(retry), &path, ZTTP_QUIC_VERSION_1, NOW);
  zttp_quic_hdr h;
  assert_int_equal(zttp_quic_hdr_parse(&h, retry, n, 8), ZTTP_QUIC_HDR_OK);
  uint8_t token[ZTTP_QUIC_EP_TOKEN_MAX_LEN];
  size_t tlen = h.token_len;
  memcpy(token, h.token, tlen);
  /* 1 + 8 + 1 + 8 + 1 + 8 + 32. */
  assert_int_equal(tlen, 59);

  const uint32_t v1 = ZTTP_QUIC_VERSION_1;
  assert_int_equal(validate(token, tlen, v1, &path, key, NOW),
                   ZTTP_QUIC_EP_TOKEN_OK);
  /* Exactly at the expiry: valid; 1 ns later: expired. */
  assert_int_equal(validate(token, tlen, v1, &path, key, NOW + LIFETIME),
                   ZTTP_QUIC_EP_TOKEN_OK);
  assert_int_equal(validate(token, tlen, v1, &path, key, NOW + LIFETIME + 1),
                   ZTTP_QUIC_EP_TOKEN_EXPIRED);
  /* Another address: one byte, one byte more, one byte less. */
  zttp_path other = path_of("127.0.0.1:4434");
  assert_int_equal(validate(token, tlen, v1, &other, key, NOW),
                   ZTTP_QUIC_EP_TOKEN_INVALID);
  other = path_of("127.0.0.1:44330");
  assert_int_equal(validate(token, tlen, v1, &other, key, NOW),
                   ZTTP_QUIC_EP_TOKEN_INVALID);
  other = path_of("127.0.0.1:443");
  assert_int_equal(validate(token, tlen, v1, &other, key, NOW),
                   ZTTP_QUIC_EP_TOKEN_INVALID);
  /* The local address is not bound. */
  other = path;
  other.local_len = 3;
  memcpy(other.local, "abc", 3);
  assert_int_equal(validate(token, tlen, v1, &other, key, NOW),
                   ZTTP_QUIC_EP_TOKEN_OK);
  /* Another version. */
  assert_int_equal(validate(token, tlen, ZTTP_QUIC_VERSION_2, &path, key, NOW),
                   ZTTP_QUIC_EP_TOKEN_INVALID);
  /* Another key. */
  uint8_t key2[ZTTP_QUIC_EP_KEY_LEN];
  memcpy(key2, key, sizeof(key2));
  key2[31] ^= 1;
  assert_int_equal(validate(token, tlen, v1, &path, key2, NOW),
                   ZTTP_QUIC_EP_TOKEN_INVALID);
  /* Every flipped bit fails (a flipped magic is "not ours"). */
  for (size_t i = 0; i < tlen; i++) {
    for (int b = 0; b < 8; b++) {
      token[i] ^= (uint8_t)(1 << b);
      uint32_t r = validate(token, tlen, v1, &path, key, NOW + LIFETIME + 1);
      assert_int_not_equal(r, ZTTP_QUIC_EP_TOKEN_OK);
      r = validate(token, tlen, v1, &path, key, NOW);
      if (i == 0) {
        assert_int_equal(r, ZTTP_QUIC_EP_TOKEN_NOT_RETRY);
      } else {
        assert_int_equal(r, ZTTP_QUIC_EP_TOKEN_INVALID);
      }
      token[i] ^= (uint8_t)(1 << b);
    }
  }
  /* Every truncation fails, and so does an extra byte. */
  for (size_t len = 0; len < tlen; len++) {
    uint32_t r = validate(token, len, v1, &path, key, NOW);
    assert_int_equal(r, len == 0 ? ZTTP_QUIC_EP_TOKEN_NOT_RETRY
                                 : ZTTP_QUIC_EP_TOKEN_INVALID);
  }
  token[tlen] = 0;
  assert_int_equal(validate(token, tlen + 1, v1, &path, key, NOW),
                   ZTTP_QUIC_EP_TOKEN_INVALID);
  /* The Initial must go to the Retry SCID. */
  uint8_t dgram[1200];
  second_initial(dgram, v1, token, tlen);
  dgram[6] ^= 1;
  zttp_quic_ep_info info;
  zttp_quic_ep_classify(&info, dgram, sizeof(dgram), 8);
  assert_int_equal(
      zttp_quic_ep_token_validate(NULL, NULL, &info, &path, key, NOW),
      ZTTP_QUIC_EP_TOKEN_INVALID);
  /* The RFC Initial carries no token. */
  zttp_quic_ep_classify(&info, rfc_initial, rfc_initial_len, 8);
  assert_int_equal(
      zttp_quic_ep_token_validate(NULL, NULL, &info, &path, key, NOW),
      ZTTP_QUIC_EP_TOKEN_NOT_RETRY);
  /* An expiry past 2^64 saturates instead of wrapping. */
  n = build_retry(retry, sizeof(retry), &path, v1, UINT64_MAX - 5);
  assert_int_equal(zttp_quic_hdr_parse(&h, retry, n, 8), ZTTP_QUIC_HDR_OK);
  assert_int_equal(validate(h.token, h.token_len, v1, &path, key, UINT64_MAX),
                   ZTTP_QUIC_EP_TOKEN_OK);
}

static void test_reset_token(void **state) {
  (void)state;
  uint8_t a[16], b[16], c[16];
  assert_int_equal(
      zttp_quic_ep_reset_token(a, key, (const uint8_t *)"cid-0001", 8), 0);
  assert_int_equal(
      zttp_quic_ep_reset_token(b, key, (const uint8_t *)"cid-0001", 8), 0);
  assert_memory_equal(a, b, 16);
  assert_int_equal(
      zttp_quic_ep_reset_token(c, key, (const uint8_t *)"cid-0002", 8), 0);
  assert_memory_not_equal(a, c, 16);
  /* HMAC-SHA256(key, cid)[0..16). */
  uint8_t mac[32];
  assert_true(zttp_crypto_hmac_sha256(mac, key, sizeof(key),
                                      (const uint8_t *)"cid-0001", 8));
  assert_memory_equal(a, mac, 16);
  uint8_t key2[ZTTP_QUIC_EP_KEY_LEN];
  memcpy(key2, key, sizeof(key2));
  key2[0] ^= 0x80;
  assert_int_equal(
      zttp_quic_ep_reset_token(c, key2, (const uint8_t *)"cid-0001", 8), 0);
  assert_memory_not_equal(a, c, 16);
  uint8_t long_cid[21] = {0};
  assert_int_equal(zttp_quic_ep_reset_token(c, key, long_cid, 21),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_ep_reset_token(c, key, long_cid, 20), 0);
  assert_int_equal(zttp_quic_ep_reset_token(c, key, NULL, 0), 0);
}

static void test_reset_packet(void **state) {
  (void)state;
  uint8_t token[16];
  memset(token, 0xab, sizeof(token));
  /* Lengths: none for triggers up to 21, trigger-1 up to the cap. */
  assert_int_equal(zttp_quic_ep_reset_len(0), 0);
  assert_int_equal(zttp_quic_ep_reset_len(21), 0);
  assert_int_equal(zttp_quic_ep_reset_len(22), 21);
  assert_int_equal(zttp_quic_ep_reset_len(43), 42);
  assert_int_equal(zttp_quic_ep_reset_len(44), 43);
  assert_int_equal(zttp_quic_ep_reset_len(1500), ZTTP_QUIC_EP_RESET_MAX_LEN);
  for (size_t trig = 22; trig < 200; trig++) {
    size_t len = zttp_quic_ep_reset_len(trig);
    assert_true(len >= 21 && len < trig);
    uint8_t buf[256];
    memset(buf, 0, sizeof(buf));
    assert_int_equal(
        zttp_quic_ep_reset_build(buf, sizeof(buf), len, trig, token),
        (int64_t)len);
    assert_int_equal(buf[0] & 0xc0, 0x40); /* short header, fixed bit */
    assert_ptr_equal(zttp_quic_stateless_reset_token(buf, len), buf + len - 16);
    assert_memory_equal(buf + len - 16, token, 16);
    /* It classifies as a short header itself (an endpoint that does not
     * know the token would answer only with a smaller reset). */
    zttp_quic_ep_info info;
    zttp_quic_ep_classify(&info, buf, len, 8);
    assert_false(info.is_long);
    assert_true(zttp_quic_ep_reset_len(len) < len);
  }
  uint8_t buf[1500];
  /* A long reset: random bytes differ between two builds. */
  uint8_t buf2[1500];
  assert_int_equal(
      zttp_quic_ep_reset_build(buf, sizeof(buf), 1000, 1001, token), 1000);
  assert_int_equal(
      zttp_quic_ep_reset_build(buf2, sizeof(buf2), 1000, 1001, token), 1000);
  assert_memory_not_equal(buf + 1, buf2 + 1, 983);
  assert_memory_equal(buf + 984, token, 16);
  /* Length rules. */
  assert_int_equal(zttp_quic_ep_reset_build(buf, sizeof(buf), 20, 100, token),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_ep_reset_build(buf, sizeof(buf), 30, 30, token),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_ep_reset_build(buf, sizeof(buf), 31, 30, token),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_ep_reset_build(buf, 25, 30, 100, token),
                   ZTTP_ERR_BUFFER_FULL);
  assert_int_equal(zttp_quic_ep_reset_build(buf, 21, 21, 22, token), 21);
}

static void test_cid_table(void **state) {
  (void)state;
  zttp_quic_cid_table *t;
  assert_int_equal(zttp_quic_cid_table_new(&t, NULL, 0),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_null(t);
  assert_int_equal(
      zttp_quic_cid_table_new(&t, NULL, ZTTP_QUIC_CID_TABLE_MAX_ENTRIES + 1),
      ZTTP_ERR_INVALID_ARGUMENT);
  enum { CAP = 1000 };
  assert_int_equal(zttp_quic_cid_table_new(&t, NULL, CAP), 0);
  static int handles[CAP];
  uint8_t cid[20];
  /* 900 CIDs of every length 1-20 (all distinct: lcm(20, 256) > 900). */
  for (int i = 0; i < 900; i++) {
    memset(cid, 0, sizeof(cid));
    memcpy(cid, &i, sizeof(i));
    assert_int_equal(
        zttp_quic_cid_table_add(t, cid, (size_t)(i % 20) + 1, &handles[i]), 0);
  }
  assert_int_equal(zttp_quic_cid_table_count(t), 900);
  /* Duplicates, bad arguments. */
  memset(cid, 0, sizeof(cid));
  int h = 0;
  assert_int_equal(zttp_quic_cid_table_add(t, cid, 1, &h),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_quic_cid_table_add(t, cid, 21, &h),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_cid_table_add(t, cid, 8, NULL),
                   ZTTP_ERR_INVALID_ARGUMENT);
  /* The empty CID is a key like another. */
  assert_int_equal(zttp_quic_cid_table_add(t, NULL, 0, &h), 0);
  assert_ptr_equal(zttp_quic_cid_table_find(t, NULL, 0), &h);
  /* Fill up to the cap exactly. */
  int extra = 100000;
  while (zttp_quic_cid_table_count(t) < CAP) {
    memcpy(cid, &extra, sizeof(extra));
    assert_int_equal(zttp_quic_cid_table_add(t, cid, 20, &h), 0);
    extra++;
  }
  memcpy(cid, &extra, sizeof(extra));
  assert_int_equal(zttp_quic_cid_table_add(t, cid, 20, &h),
                   ZTTP_ERR_BUFFER_FULL);
  assert_null(zttp_quic_cid_table_find(t, cid, 20));
  /* Every first entry is found with its exact length only. */
  for (int i = 0; i < 900; i++) {
    memset(cid, 0, sizeof(cid));
    memcpy(cid, &i, sizeof(i));
    size_t len = (size_t)(i % 20) + 1;
    assert_ptr_equal(zttp_quic_cid_table_find(t, cid, len), &handles[i]);
    if (len < 20) {
      void *other = zttp_quic_cid_table_find(t, cid, len + 1);
      assert_ptr_not_equal(other, &handles[i]);
    }
  }
  /* Remove half, the rest stays reachable (backward-shift deletion). */
  for (int i = 0; i < 900; i += 2) {
    memset(cid, 0, sizeof(cid));
    memcpy(cid, &i, sizeof(i));
    size_t len = (size_t)(i % 20) + 1;
    assert_int_equal(zttp_quic_cid_table_remove(t, cid, len), 1);
    assert_int_equal(zttp_quic_cid_table_remove(t, cid, len), 0);
    assert_null(zttp_quic_cid_table_find(t, cid, len));
  }
  for (int i = 1; i < 900; i += 2) {
    memset(cid, 0, sizeof(cid));
    memcpy(cid, &i, sizeof(i));
    size_t len = (size_t)(i % 20) + 1;
    assert_ptr_equal(zttp_quic_cid_table_find(t, cid, len), &handles[i]);
  }
  /* After removals there is room again. */
  memcpy(cid, &extra, sizeof(extra));
  assert_int_equal(zttp_quic_cid_table_add(t, cid, 20, &h), 0);
  assert_int_equal(zttp_quic_cid_table_remove(t, NULL, 0), 1);
  assert_int_equal(zttp_quic_cid_table_remove(t, cid, 21), 0);
  assert_null(zttp_quic_cid_table_find(t, cid, 21));
  zttp_quic_cid_table_free(t);
  zttp_quic_cid_table_free(NULL);
}

/* Random add/remove against a plain array model. */
static void test_cid_table_model(void **state) {
  (void)state;
  enum { N = 64 };
  zttp_quic_cid_table *t;
  assert_int_equal(zttp_quic_cid_table_new(&t, NULL, 40), 0);
  int present[N] = {0};
  int handles[N];
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int step = 0; step < 20000; step++) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t r = x * 0x2545F4914F6CDD1DULL;
    int k = (int)(r % N);
    uint8_t cid[8];
    memset(cid, (int)k, sizeof(cid));
    size_t count = zttp_quic_cid_table_count(t);
    if (r >> 32 & 1) {
      int32_t rv = zttp_quic_cid_table_add(t, cid, 8, &handles[k]);
      if (present[k]) {
        assert_int_equal(rv, ZTTP_ERR_INVALID_STATE);
      } else if (count == 40) {
        assert_int_equal(rv, ZTTP_ERR_BUFFER_FULL);
      } else {
        assert_int_equal(rv, 0);
        present[k] = 1;
      }
    } else {
      assert_int_equal(zttp_quic_cid_table_remove(t, cid, 8), present[k]);
      present[k] = 0;
    }
    size_t n = 0;
    for (int i = 0; i < N; i++) {
      memset(cid, i, sizeof(cid));
      void *f = zttp_quic_cid_table_find(t, cid, 8);
      assert_ptr_equal(f, present[i] ? &handles[i] : NULL);
      n += (size_t)present[i];
    }
    assert_int_equal(zttp_quic_cid_table_count(t), n);
  }
  zttp_quic_cid_table_free(t);
}

/* Failing allocator: every allocation k fails cleanly, no leak. */
static void test_cid_table_failmalloc(void **state) {
  (void)state;
  for (int k = 0; k < 64; k++) {
    h_failalloc fa;
    h_failalloc_init(&fa, k);
    zttp_quic_cid_table *t;
    int32_t rv = zttp_quic_cid_table_new(&t, &fa.alloc, 500);
    if (rv != 0) {
      assert_int_equal(rv, ZTTP_ERR_NOMEM);
      assert_int_equal(fa.live_allocs, 0);
      continue;
    }
    static int h;
    for (int i = 0; i < 200; i++) {
      uint8_t cid[8] = {0};
      memcpy(cid, &i, sizeof(i));
      rv = zttp_quic_cid_table_add(t, cid, 8, &h);
      if (rv != 0) {
        assert_int_equal(rv, ZTTP_ERR_NOMEM);
        assert_null(zttp_quic_cid_table_find(t, cid, 8));
        break;
      }
    }
    zttp_quic_cid_table_free(t);
    assert_int_equal(fa.live_allocs, 0);
    assert_int_equal(fa.bad_frees, 0);
    if (!fa.injected) {
      break;
    }
  }
}

int main(int argc, char **argv) {
  vectors_path =
      argc > 1
          ? argv[1]
          : "tests/crypto/vectors/quic-packet-protection-rfc9001-rfc9369.json";
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify_rfc_initial),
      cmocka_unit_test(test_classify_junk),
      cmocka_unit_test(test_classify_vn),
      cmocka_unit_test(test_retry_build),
      cmocka_unit_test(test_token_validate),
      cmocka_unit_test(test_reset_token),
      cmocka_unit_test(test_reset_packet),
      cmocka_unit_test(test_cid_table),
      cmocka_unit_test(test_cid_table_model),
      cmocka_unit_test(test_cid_table_failmalloc),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
