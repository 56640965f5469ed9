/* QUIC transport parameters (src/quic/tparams.c): the RFC 9001 A.2 client
 * parameters, exact encodings, round trips, every rejection of RFC 9000
 * §7.4 / §18.2 and RFC 9368 §4, reserved ids ignored, and the connection
 * ID authentication of RFC 9000 §7.3.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "quic/tparams.h"

#include "quic_test_util.h"

static const char *vectors_path;

#define TPE ZTTP_QUIC_ERR_TRANSPORT_PARAMETER_ERROR

static int decode_hex(zttp_quic_tparams *tp, uint32_t sender, const char *hex,
                      uint64_t *err, const char **why) {
  static uint8_t b[1024];
  size_t n = q_unhex(b, sizeof(b), hex);
  *err = 0;
  *why = NULL;
  return zttp_quic_tparams_decode(tp, sender, b, n, err, why);
}

static void ok(uint32_t sender, const char *hex) {
  zttp_quic_tparams tp;
  uint64_t err;
  const char *why;
  if (!decode_hex(&tp, sender, hex, &err, &why)) {
    fail_msg("rejected %s: %s", hex, why);
  }
}

static void bad(uint32_t sender, const char *hex) {
  zttp_quic_tparams tp;
  uint64_t err;
  const char *why;
  if (decode_hex(&tp, sender, hex, &err, &why)) {
    fail_msg("accepted %s", hex);
  }
  assert_true(err == TPE);
  assert_non_null(why);
}

static void test_defaults(void **state) {
  (void)state;
  zttp_quic_tparams tp;
  uint64_t err;
  const char *why;
  assert_int_equal(decode_hex(&tp, ZTTP_SERVER, "", &err, &why), 1);
  assert_int_equal(tp.present, 0);
  assert_true(tp.max_udp_payload_size == 65527);
  assert_true(tp.ack_delay_exponent == 3);
  assert_true(tp.max_ack_delay == 25);
  assert_true(tp.active_connection_id_limit == 2);
  assert_true(tp.max_idle_timeout == 0);
  assert_true(tp.initial_max_data == 0);
  assert_true(tp.max_datagram_frame_size == 0);
  assert_int_equal(zttp_quic_tparams_has(&tp, ZTTP_QUIC_TP_INITIAL_SCID), 0);
  /* An empty set encodes to nothing. */
  uint8_t out[8];
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_CLIENT, out, 0), 0);
}

/* The quic_transport_parameters extension of the RFC 9001 A.2 ClientHello. */
static void test_rfc9001_client_params(void **state) {
  (void)state;
  char *json = q_read_file(vectors_path);
  assert_non_null(json);
  uint8_t cf[512];
  size_t n = q_json_hex(json, "rfc9001_quic_v1", "client_initial_packet",
                        "crypto_frame", cf, sizeof(cf));
  free(json);
  assert_true(n != (size_t)-1);
  /* extension_type 0x0039, length 0x0032 */
  size_t at = 0;
  while (at + 4 <= n && memcmp(cf + at, "\x00\x39\x00\x32", 4) != 0) {
    at++;
  }
  assert_true(at + 4 + 0x32 <= n);
  const uint8_t *p = cf + at + 4;
  zttp_quic_tparams tp;
  uint64_t err = 0;
  const char *why = NULL;
  assert_int_equal(
      zttp_quic_tparams_decode(&tp, ZTTP_CLIENT, p, 0x32, &err, &why), 1);
  assert_true(tp.initial_max_data == ZTTP_VARINT_MAX);
  assert_true(tp.initial_max_stream_data_bidi_local == 65535);
  assert_true(tp.initial_max_stream_data_bidi_remote == 65535);
  assert_true(tp.initial_max_stream_data_uni == 65535);
  assert_true(tp.initial_max_streams_bidi == 16);
  assert_true(tp.initial_max_streams_uni == 16);
  assert_true(tp.max_idle_timeout == 30000);
  assert_int_equal(tp.initial_scid.len, 8);
  assert_memory_equal(tp.initial_scid.data, "\x83\x94\xc8\xf0\x3e\x51\x57\x08",
                      8);
  uint32_t want = ZTTP_QUIC_TP_BIT(0x01) | ZTTP_QUIC_TP_BIT(0x04) |
                  ZTTP_QUIC_TP_BIT(0x05) | ZTTP_QUIC_TP_BIT(0x06) |
                  ZTTP_QUIC_TP_BIT(0x07) | ZTTP_QUIC_TP_BIT(0x08) |
                  ZTTP_QUIC_TP_BIT(0x09) | ZTTP_QUIC_TP_BIT(0x0f);
  assert_int_equal(tp.present, want);
  /* Unchanged defaults. */
  assert_true(tp.max_udp_payload_size == 65527);
  /* Re-encoded in id order: the same parameters, 50 bytes. */
  uint8_t out[64];
  int64_t len = zttp_quic_tparams_encode(&tp, ZTTP_CLIENT, out, sizeof(out));
  assert_int_equal(len, 0x32);
  zttp_quic_tparams back;
  assert_int_equal(zttp_quic_tparams_decode(&back, ZTTP_CLIENT, out,
                                            (size_t)len, &err, &why),
                   1);
  assert_memory_equal(&back, &tp, sizeof(tp));

  /* The server checks the client's initial_source_connection_id. */
  zttp_quic_cid scid;
  zttp_quic_cid_set(&scid, (const uint8_t *)"\x83\x94\xc8\xf0\x3e\x51\x57\x08",
                    8);
  assert_int_equal(zttp_quic_tparams_check_cids(&tp, ZTTP_SERVER, &scid, NULL,
                                                NULL, &err, &why),
                   1);
}

static void test_exact_encoding(void **state) {
  (void)state;
  zttp_quic_tparams tp;
  zttp_quic_tparams_init(&tp);
  tp.max_idle_timeout = 30000;
  zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_MAX_IDLE_TIMEOUT);
  tp.max_udp_payload_size = 1472;
  zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_MAX_UDP_PAYLOAD_SIZE);
  zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_DISABLE_ACTIVE_MIGRATION);
  zttp_quic_cid_set(&tp.initial_scid, (const uint8_t *)"\xaa\xbb", 2);
  zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_INITIAL_SCID);
  tp.max_datagram_frame_size = 65535;
  zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_MAX_DATAGRAM_FRAME_SIZE);
  tp.chosen_version = ZTTP_QUIC_VERSION_1;
  tp.available_versions[0] = ZTTP_QUIC_VERSION_2;
  tp.available_versions[1] = ZTTP_QUIC_VERSION_1;
  tp.num_available_versions = 2;
  zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_VERSION_INFORMATION);
  /* An unknown id is not a flag. */
  zttp_quic_tparams_set_present(&tp, 0x1234);
  uint8_t want[64];
  size_t wn = q_unhex(want, sizeof(want),
                      "01 04 80007530"
                      "03 02 45c0"
                      "0c 00"
                      "0f 02 aabb"
                      "11 0c 00000001 6b3343cf 00000001"
                      "20 04 8000ffff");
  uint8_t out[64];
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_CLIENT, out, sizeof(out)),
                   (int64_t)wn);
  assert_memory_equal(out, want, wn);
  for (size_t cap = 0; cap < wn; cap++) {
    assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_CLIENT, out, cap),
                     ZTTP_ERR_BUFFER_FULL);
  }
  zttp_quic_tparams back;
  uint64_t err;
  const char *why;
  assert_int_equal(
      zttp_quic_tparams_decode(&back, ZTTP_CLIENT, out, wn, &err, &why), 1);
  assert_true(back.max_idle_timeout == 30000);
  assert_true(back.max_udp_payload_size == 1472);
  assert_int_equal(
      zttp_quic_tparams_has(&back, ZTTP_QUIC_TP_DISABLE_ACTIVE_MIGRATION), 1);
  assert_true(back.max_datagram_frame_size == 65535);
  assert_int_equal(back.chosen_version, ZTTP_QUIC_VERSION_1);
  assert_int_equal(back.num_available_versions, 2);
  assert_int_equal(back.available_versions[0], ZTTP_QUIC_VERSION_2);
  assert_int_equal(back.available_versions[1], ZTTP_QUIC_VERSION_1);
  assert_int_equal(back.version_info_len, 12);
  assert_ptr_equal(back.version_info, out + 18);
  assert_int_equal(back.present, tp.present);
}

/* Every parameter of a server, round trip. */
static void test_server_round_trip(void **state) {
  (void)state;
  zttp_quic_tparams tp;
  zttp_quic_tparams_init(&tp);
  for (uint64_t id = 0; id <= 0x20; id++) {
    zttp_quic_tparams_set_present(&tp, id);
  }
  assert_int_equal(tp.present, 0x8003ffffu);
  zttp_quic_cid_set(&tp.original_dcid,
                    (const uint8_t *)"\x83\x94\xc8\xf0\x3e\x51\x57\x08", 8);
  tp.max_idle_timeout = ZTTP_VARINT_MAX;
  memcpy(tp.stateless_reset_token, "0123456789abcdef", 16);
  tp.max_udp_payload_size = 1200;
  tp.initial_max_data = 1;
  tp.initial_max_stream_data_bidi_local = 63;
  tp.initial_max_stream_data_bidi_remote = 64;
  tp.initial_max_stream_data_uni = 16384;
  tp.initial_max_streams_bidi = UINT64_C(1) << 60;
  tp.initial_max_streams_uni = 0;
  tp.ack_delay_exponent = 20;
  tp.max_ack_delay = 16383;
  memcpy(tp.preferred_address.ipv4, "\x0a\x00\x00\x01", 4);
  tp.preferred_address.ipv4_port = 443;
  memset(tp.preferred_address.ipv6, 0x20, 16);
  tp.preferred_address.ipv6_port = 8443;
  zttp_quic_cid_set(&tp.preferred_address.cid,
                    (const uint8_t *)"01234567890123456789", 20);
  memcpy(tp.preferred_address.reset_token, "fedcba9876543210", 16);
  tp.active_connection_id_limit = 2;
  zttp_quic_cid_set(&tp.initial_scid, (const uint8_t *)"\x01", 1);
  zttp_quic_cid_set(&tp.retry_scid, (const uint8_t *)"\x02\x03", 2);
  tp.chosen_version = ZTTP_QUIC_VERSION_2;
  tp.num_available_versions = 0; /* a server's list may be empty */
  tp.max_datagram_frame_size = 0;
  uint8_t out[512];
  int64_t n = zttp_quic_tparams_encode(&tp, ZTTP_SERVER, out, sizeof(out));
  assert_true(n > 0);
  /* A client may not send these. */
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_CLIENT, out, sizeof(out)),
                   ZTTP_ERR_INVALID_ARGUMENT);
  zttp_quic_tparams back;
  uint64_t err;
  const char *why;
  assert_int_equal(
      zttp_quic_tparams_decode(&back, ZTTP_SERVER, out, (size_t)n, &err, &why),
      1);
  assert_int_equal(back.version_info_len, 4);
  /* Field by field: the raw pointer aside, equal. */
  back.version_info = NULL;
  back.version_info_len = 0;
  assert_memory_equal(&back, &tp, sizeof(tp));
  /* The same from a client is refused at the first server-only id. */
  assert_int_equal(
      zttp_quic_tparams_decode(&back, ZTTP_CLIENT, out, (size_t)n, &err, &why),
      0);
  assert_true(err == TPE);
}

static void test_rejections(void **state) {
  (void)state;
  const uint32_t C = ZTTP_CLIENT;
  const uint32_t S = ZTTP_SERVER;
  /* Truncated. */
  bad(C, "01");
  bad(C, "01 02 05");
  bad(C, "40");
  bad(C, "01 ffffffffffffffff 05");
  /* Duplicates (RFC 9000 §7.4), also of the flag and of CIDs. */
  bad(C, "01 01 05 01 01 06");
  bad(C, "0c 00 0c 00");
  bad(C, "0f 00 04 01 00 0f 00");
  bad(C, "20 01 00 20 01 00");
  /* Integer values in the wrong length. */
  bad(C, "01 02 05 00");
  bad(C, "01 00");
  bad(C, "01 01 40");
  bad(C, "04 09 c000000000000001 00");
  ok(C, "01 02 4005"); /* non-minimal, right length */
  ok(C, "01 08 c000000000000005");
  /* Ranges (RFC 9000 §18.2). */
  bad(C, "03 02 44af");
  ok(C, "03 02 44b0");
  bad(C, "03 01 00");
  bad(C, "0a 01 15");
  ok(C, "0a 01 14");
  bad(C, "0b 04 80004000");
  ok(C, "0b 02 7fff");
  bad(C, "0e 01 01");
  bad(C, "0e 01 00");
  ok(C, "0e 01 02");
  bad(C, "08 08 d000000000000001");
  bad(C, "09 08 d000000000000001");
  ok(C, "08 08 d000000000000000");
  ok(C, "09 08 d000000000000000");
  /* Fixed-size ones. */
  bad(C, "0c 01 00");
  ok(C, "0c 00");
  bad(S, "02 0f 000102030405060708090a0b0c0d0e");
  bad(S, "02 11 000102030405060708090a0b0c0d0e0f10");
  ok(S, "02 10 000102030405060708090a0b0c0d0e0f");
  /* CIDs over 20 bytes. */
  bad(C, "0f 15 000102030405060708090a0b0c0d0e0f1011121314");
  ok(C, "0f 14 000102030405060708090a0b0c0d0e0f10111213");
  bad(S, "00 15 000102030405060708090a0b0c0d0e0f1011121314");
  bad(S, "10 15 000102030405060708090a0b0c0d0e0f1011121314");
  /* preferred_address (Figure 22). */
  const char *pa_ok = "0d 2d 0a000001 01bb 20202020202020202020202020202020 "
                      "20fb 04 a1a2a3a4 000102030405060708090a0b0c0d0e0f";
  ok(S, pa_ok);
  /* Zero-length CID; CID over 20; short; one byte too many; the CID
   * length pointing past the end. */
  bad(S, "0d 29 0a000001 01bb 20202020202020202020202020202020 "
         "20fb 00 000102030405060708090a0b0c0d0e0f");
  bad(S, "0d 3e 0a000001 01bb 20202020202020202020202020202020 20fb 15 "
         "000102030405060708090a0b0c0d0e0f1011121314"
         "000102030405060708090a0b0c0d0e0f");
  bad(S, "0d 2c 0a000001 01bb 20202020202020202020202020202020 "
         "20fb 04 a1a2a3a4 000102030405060708090a0b0c0d0e");
  bad(S, "0d 2e 0a000001 01bb 20202020202020202020202020202020 "
         "20fb 04 a1a2a3a4 000102030405060708090a0b0c0d0e0f 00");
  bad(S, "0d 2d 0a000001 01bb 20202020202020202020202020202020 "
         "20fb 05 a1a2a3a4 000102030405060708090a0b0c0d0e0f");
  bad(S, "0d 05 0a000001 01");
  /* A server with a zero-length CID offers no preferred address. */
  char h[256];
  snprintf(h, sizeof(h), "%s 0f 00", pa_ok);
  bad(S, h);
  snprintf(h, sizeof(h), "0f 00 %s", pa_ok);
  bad(S, h);
  snprintf(h, sizeof(h), "0f 01 aa %s", pa_ok);
  ok(S, h);
  /* Server-only parameters from a client (RFC 9000 §18.2). */
  bad(C, "00 00");
  bad(C, "02 10 000102030405060708090a0b0c0d0e0f");
  bad(C, pa_ok);
  bad(C, "10 00");
  ok(S, "00 00");
  ok(S, "10 00");
  /* version_information (RFC 9368 §4). */
  bad(C, "11 00");
  bad(C, "11 03 000001");
  bad(C, "11 05 0000000100");
  bad(C, "11 04 00000000");
  bad(C, "11 08 00000001 00000000");
  bad(C, "11 08 00000000 00000001");
  bad(C, "11 04 00000001");          /* client: chosen not listed */
  bad(C, "11 08 00000001 6b3343cf"); /* ditto */
  ok(C, "11 0c 6b3343cf 00000001 6b3343cf");
  ok(S, "11 04 00000001");          /* server: the list may be empty */
  ok(S, "11 08 00000001 6b3343cf"); /* and need not hold chosen */
  bad(S, "11 08 00000001 00000000");
}

/* Reserved (31 * N + 27) and unknown ids are skipped, whatever they hold. */
static void test_grease_ignored(void **state) {
  (void)state;
  zttp_quic_tparams tp;
  uint64_t err;
  const char *why;
  assert_int_equal(
      decode_hex(&tp, ZTTP_CLIENT,
                 "1b 00"                    /* 27 */
                 "01 01 05"                 /* max_idle_timeout 5 */
                 "403a 03 ffffff"           /* 58 */
                 "1b 01 00"                 /* 27 again */
                 "80007933 00"              /* 31 * 1000 + 27 */
                 "c000000000001234 02 abcd" /* unknown */
                 "12 00 13 00 21 00 3f 00"  /* unassigned small ids */
                 "ffffffffffffffff 00",     /* the largest id */
                 &err, &why),
      1);
  assert_int_equal(tp.present, ZTTP_QUIC_TP_BIT(ZTTP_QUIC_TP_MAX_IDLE_TIMEOUT));
  assert_true(tp.max_idle_timeout == 5);
  /* An unknown parameter's length must still fit. */
  assert_int_equal(decode_hex(&tp, ZTTP_CLIENT, "1b 05 0000", &err, &why), 0);
  assert_true(err == TPE);
}

static void test_encode_refusals(void **state) {
  (void)state;
  uint8_t out[256];
  zttp_quic_tparams tp;
  struct {
    uint64_t id;
    uint64_t value;
  } bad_ints[] = {
      {ZTTP_QUIC_TP_MAX_UDP_PAYLOAD_SIZE, 1199},
      {ZTTP_QUIC_TP_ACK_DELAY_EXPONENT, 21},
      {ZTTP_QUIC_TP_MAX_ACK_DELAY, 16384},
      {ZTTP_QUIC_TP_ACTIVE_CONNECTION_ID_LIMIT, 1},
      {ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_BIDI, (UINT64_C(1) << 60) + 1},
      {ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_UNI, (UINT64_C(1) << 60) + 1},
      {ZTTP_QUIC_TP_INITIAL_MAX_DATA, ZTTP_VARINT_MAX + 1},
      {ZTTP_QUIC_TP_MAX_UDP_PAYLOAD_SIZE, UINT64_MAX},
  };
  for (size_t i = 0; i < sizeof(bad_ints) / sizeof(bad_ints[0]); i++) {
    zttp_quic_tparams_init(&tp);
    zttp_quic_tparams_set_present(&tp, bad_ints[i].id);
    switch (bad_ints[i].id) {
    case ZTTP_QUIC_TP_MAX_UDP_PAYLOAD_SIZE:
      tp.max_udp_payload_size = bad_ints[i].value;
      break;
    case ZTTP_QUIC_TP_ACK_DELAY_EXPONENT:
      tp.ack_delay_exponent = bad_ints[i].value;
      break;
    case ZTTP_QUIC_TP_MAX_ACK_DELAY:
      tp.max_ack_delay = bad_ints[i].value;
      break;
    case ZTTP_QUIC_TP_ACTIVE_CONNECTION_ID_LIMIT:
      tp.active_connection_id_limit = bad_ints[i].value;
      break;
    case ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_BIDI:
      tp.initial_max_streams_bidi = bad_ints[i].value;
      break;
    case ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_UNI:
      tp.initial_max_streams_uni = bad_ints[i].value;
      break;
    default:
      tp.initial_max_data = bad_ints[i].value;
      break;
    }
    assert_int_equal(
        zttp_quic_tparams_encode(&tp, ZTTP_SERVER, out, sizeof(out)),
        ZTTP_ERR_INVALID_ARGUMENT);
  }
  /* Defaults that are not present are not checked or written. */
  zttp_quic_tparams_init(&tp);
  tp.ack_delay_exponent = 99;
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_SERVER, out, 0), 0);
  /* CIDs, preferred address, version information. */
  zttp_quic_tparams_init(&tp);
  tp.initial_scid.len = 21;
  zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_INITIAL_SCID);
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_SERVER, out, sizeof(out)),
                   ZTTP_ERR_INVALID_ARGUMENT);
  zttp_quic_tparams_init(&tp);
  zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_PREFERRED_ADDRESS);
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_SERVER, out, sizeof(out)),
                   ZTTP_ERR_INVALID_ARGUMENT);
  zttp_quic_tparams_init(&tp);
  zttp_quic_tparams_set_present(&tp, ZTTP_QUIC_TP_VERSION_INFORMATION);
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_SERVER, out, sizeof(out)),
                   ZTTP_ERR_INVALID_ARGUMENT);
  tp.chosen_version = 1;
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_SERVER, out, sizeof(out)),
                   6);
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_CLIENT, out, sizeof(out)),
                   ZTTP_ERR_INVALID_ARGUMENT);
  tp.available_versions[0] = 1;
  tp.num_available_versions = 1;
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_CLIENT, out, sizeof(out)),
                   10);
  tp.available_versions[0] = 0;
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_SERVER, out, sizeof(out)),
                   ZTTP_ERR_INVALID_ARGUMENT);
  tp.num_available_versions = ZTTP_QUIC_TP_MAX_VERSIONS + 1;
  assert_int_equal(zttp_quic_tparams_encode(&tp, ZTTP_SERVER, out, sizeof(out)),
                   ZTTP_ERR_INVALID_ARGUMENT);
}

/* More Available Versions than the struct keeps: all counted and checked,
 * the first ones parsed, the raw bytes kept. */
static void test_many_versions(void **state) {
  (void)state;
  uint8_t b[256];
  size_t n = 0;
  b[n++] = 0x11;
  b[n++] = 0x40; /* 84 in a 2-byte varint */
  b[n++] = 4 + 4 * 20;
  memcpy(b + n, "\x00\x00\x00\x01", 4);
  n += 4;
  for (uint32_t i = 0; i < 20; i++) {
    uint32_t v = i == 19 ? 1 : 0x0a0a0a0a + i;
    b[n++] = (uint8_t)(v >> 24);
    b[n++] = (uint8_t)(v >> 16);
    b[n++] = (uint8_t)(v >> 8);
    b[n++] = (uint8_t)v;
  }
  zttp_quic_tparams tp;
  uint64_t err;
  const char *why;
  assert_int_equal(zttp_quic_tparams_decode(&tp, ZTTP_CLIENT, b, n, &err, &why),
                   1);
  assert_int_equal(tp.num_available_versions, 20);
  assert_int_equal(tp.available_versions[15], 0x0a0a0a0a + 15);
  assert_ptr_equal(tp.version_info, b + 3);
  assert_int_equal(tp.version_info_len, 84);
  /* The chosen version is found past the kept ones. */
  b[n - 1] = 2;
  assert_int_equal(zttp_quic_tparams_decode(&tp, ZTTP_CLIENT, b, n, &err, &why),
                   0);
}

/* Every truncation of a valid set fails cleanly, flush against a guard
 * page. */
static void test_truncations_guard(void **state) {
  (void)state;
  uint8_t b[128];
  size_t n = q_unhex(b, sizeof(b),
                     "01 04 80007530 0d 2d 0a000001 01bb "
                     "20202020202020202020202020202020 20fb 04 a1a2a3a4 "
                     "000102030405060708090a0b0c0d0e0f 0f 01 aa "
                     "11 08 00000001 6b3343cf");
  h_guard g;
  h_guard_init(&g, sizeof(b));
  for (size_t k = 0; k <= n; k++) {
    const uint8_t *p = h_guard_place(&g, b, k);
    zttp_quic_tparams tp;
    uint64_t err = 0;
    const char *why = NULL;
    int rv = zttp_quic_tparams_decode(&tp, ZTTP_SERVER, p, k, &err, &why);
    /* Whole parameters end at 0, 6, 53, 56 and n. */
    if (k == 0 || k == 6 || k == 53 || k == 56 || k == n) {
      assert_int_equal(rv, 1);
    } else {
      assert_int_equal(rv, 0);
      assert_true(err == TPE);
    }
  }
  h_guard_free(&g);
}

/* ---- RFC 9000 §7.3 ------------------------------------------------------- */

static zttp_quic_cid cid(const char *s) {
  zttp_quic_cid c;
  zttp_quic_cid_set(&c, (const uint8_t *)s, strlen(s));
  return c;
}

static void test_check_cids(void **state) {
  (void)state;
  zttp_quic_cid client_scid = cid("client");
  zttp_quic_cid odcid = cid("original");
  zttp_quic_cid server_scid = cid("server");
  zttp_quic_cid retry_scid = cid("retry");
  zttp_quic_cid other = cid("other");
  uint64_t err;
  const char *why;

  /* At the server: the client's initial_source_connection_id. */
  zttp_quic_tparams c;
  zttp_quic_tparams_init(&c);
  assert_int_equal(zttp_quic_tparams_check_cids(&c, ZTTP_SERVER, &client_scid,
                                                NULL, NULL, &err, &why),
                   0);
  assert_true(err == TPE);
  c.initial_scid = client_scid;
  zttp_quic_tparams_set_present(&c, ZTTP_QUIC_TP_INITIAL_SCID);
  assert_int_equal(zttp_quic_tparams_check_cids(&c, ZTTP_SERVER, &client_scid,
                                                NULL, NULL, &err, &why),
                   1);
  assert_int_equal(zttp_quic_tparams_check_cids(&c, ZTTP_SERVER, &other, NULL,
                                                NULL, &err, &why),
                   0);
  assert_true(err == TPE);
  /* Zero-length CIDs are CIDs too. */
  zttp_quic_cid empty = cid("");
  assert_int_equal(zttp_quic_tparams_check_cids(&c, ZTTP_SERVER, &empty, NULL,
                                                NULL, &err, &why),
                   0);
  c.initial_scid = empty;
  assert_int_equal(zttp_quic_tparams_check_cids(&c, ZTTP_SERVER, &empty, NULL,
                                                NULL, &err, &why),
                   1);

  /* At the client, without a Retry. */
  zttp_quic_tparams s;
  zttp_quic_tparams_init(&s);
  s.initial_scid = server_scid;
  zttp_quic_tparams_set_present(&s, ZTTP_QUIC_TP_INITIAL_SCID);
  assert_int_equal(zttp_quic_tparams_check_cids(&s, ZTTP_CLIENT, &server_scid,
                                                &odcid, NULL, &err, &why),
                   0);
  assert_string_equal(why, "original_destination_connection_id missing");
  s.original_dcid = odcid;
  zttp_quic_tparams_set_present(&s, ZTTP_QUIC_TP_ORIGINAL_DCID);
  assert_int_equal(zttp_quic_tparams_check_cids(&s, ZTTP_CLIENT, &server_scid,
                                                &odcid, NULL, &err, &why),
                   1);
  assert_int_equal(zttp_quic_tparams_check_cids(&s, ZTTP_CLIENT, &server_scid,
                                                &other, NULL, &err, &why),
                   0);
  assert_string_equal(why, "original_destination_connection_id mismatch");
  assert_int_equal(zttp_quic_tparams_check_cids(&s, ZTTP_CLIENT, &other, &odcid,
                                                NULL, &err, &why),
                   0);
  assert_string_equal(why, "initial_source_connection_id mismatch");
  /* After a Retry, retry_source_connection_id is required and must match;
   * without one, it must be absent. */
  assert_int_equal(zttp_quic_tparams_check_cids(&s, ZTTP_CLIENT, &server_scid,
                                                &odcid, &retry_scid, &err,
                                                &why),
                   0);
  assert_string_equal(why, "retry_source_connection_id missing after a Retry");
  s.retry_scid = retry_scid;
  zttp_quic_tparams_set_present(&s, ZTTP_QUIC_TP_RETRY_SCID);
  assert_int_equal(zttp_quic_tparams_check_cids(&s, ZTTP_CLIENT, &server_scid,
                                                &odcid, &retry_scid, &err,
                                                &why),
                   1);
  assert_int_equal(zttp_quic_tparams_check_cids(&s, ZTTP_CLIENT, &server_scid,
                                                &odcid, &other, &err, &why),
                   0);
  assert_string_equal(why, "retry_source_connection_id mismatch");
  err = 0;
  assert_int_equal(zttp_quic_tparams_check_cids(&s, ZTTP_CLIENT, &server_scid,
                                                &odcid, NULL, &err, &why),
                   0);
  assert_string_equal(why, "retry_source_connection_id without a Retry");
  assert_true(err == TPE);
  /* why may be NULL. */
  assert_int_equal(zttp_quic_tparams_check_cids(&s, ZTTP_CLIENT, &server_scid,
                                                &odcid, NULL, &err, NULL),
                   0);
}

int main(int argc, char **argv) {
  vectors_path =
      argc > 1
          ? argv[1]
          : "tests/crypto/vectors/quic-packet-protection-rfc9001-rfc9369.json";
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_rfc9001_client_params),
      cmocka_unit_test(test_exact_encoding),
      cmocka_unit_test(test_server_round_trip),
      cmocka_unit_test(test_rejections),
      cmocka_unit_test(test_grease_ignored),
      cmocka_unit_test(test_encode_refusals),
      cmocka_unit_test(test_many_versions),
      cmocka_unit_test(test_truncations_guard),
      cmocka_unit_test(test_check_cids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
