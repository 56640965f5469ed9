/* Proves the BoringSSL seam: HKDF-Extract and HKDF-Expand-Label through
 * src/crypto reproduce RFC 9001 Appendix A.1 (initial secrets, keys, IVs and
 * header-protection keys for both sides).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"

static size_t unhex(uint8_t *out, const char *hex) {
  size_t n = strlen(hex) / 2;
  for (size_t i = 0; i < n; i++) {
    unsigned v = 0;
    for (int k = 0; k < 2; k++) {
      char c = hex[2 * i + (size_t)k];
      v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    out[i] = (uint8_t)v;
  }
  return n;
}

static void expect_label(const uint8_t *secret, const char *label,
                         const char *want_hex) {
  uint8_t want[64];
  uint8_t got[64];
  size_t n = unhex(want, want_hex);
  assert_int_equal(zttp_crypto_hkdf_expand_label_sha256(
                       got, n, secret, ZTTP_CRYPTO_SHA256_LEN, label),
                   1);
  assert_memory_equal(got, want, n);
}

/* RFC 9001 §5.2 initial_salt and Appendix A.1 values. */
static void test_rfc9001_initial_secrets(void **state) {
  (void)state;
  uint8_t salt[20];
  uint8_t dcid[8];
  uint8_t initial[32];
  uint8_t want[32];
  unhex(salt, "38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
  unhex(dcid, "8394c8f03e515708");
  assert_int_equal(zttp_crypto_hkdf_extract_sha256(initial, salt, 20, dcid, 8),
                   1);
  unhex(want,
        "7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44");
  assert_memory_equal(initial, want, 32);

  uint8_t client[32];
  uint8_t server[32];
  assert_int_equal(zttp_crypto_hkdf_expand_label_sha256(client, 32, initial, 32,
                                                        "client in"),
                   1);
  unhex(want,
        "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea");
  assert_memory_equal(client, want, 32);
  assert_int_equal(zttp_crypto_hkdf_expand_label_sha256(server, 32, initial, 32,
                                                        "server in"),
                   1);
  unhex(want,
        "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b");
  assert_memory_equal(server, want, 32);

  expect_label(client, "quic key", "1f369613dd76d5467730efcbe3b1a22d");
  expect_label(client, "quic iv", "fa044b2f42a3fd3b46fb255c");
  expect_label(client, "quic hp", "9f50449e04a0e810283a1e9933adedd2");
  expect_label(server, "quic key", "cf3a5331653c364c88f0f379b6067e37");
  expect_label(server, "quic iv", "0ac1493ca1905853b0bba03e");
  expect_label(server, "quic hp", "c206b8d9b9f0f37644430b490eeaa314");
}

static void test_expand_label_rejects_oversize(void **state) {
  (void)state;
  uint8_t secret[32] = {0};
  uint8_t out[300];
  assert_int_equal(
      zttp_crypto_hkdf_expand_label_sha256(out, 256, secret, 32, "quic key"),
      0);
}

static void test_random_fills(void **state) {
  (void)state;
  uint8_t a[32] = {0};
  uint8_t b[32] = {0};
  assert_int_equal(zttp_crypto_random(a, sizeof(a)), 1);
  assert_int_equal(zttp_crypto_random(b, sizeof(b)), 1);
  assert_memory_not_equal(a, b, sizeof(a));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc9001_initial_secrets),
      cmocka_unit_test(test_expand_label_rejects_oversize),
      cmocka_unit_test(test_random_fills),
  };
  return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
