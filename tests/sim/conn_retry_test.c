/* Retry (RFC 9000 §8.1.2, §17.2.5; RFC 9001 §5.8) and Version Negotiation
 * (RFC 9000 §6) in the in-memory network (sim.h): the server side answers
 * statelessly with the endpoint helpers (quic/endpoint.h) from the sim's
 * accept hook, and the client connection reacts: it validates the Retry's
 * integrity tag, moves to the Retry's SCID with new Initial keys, sends the
 * token, checks retry_source_connection_id; it abandons the attempt on a
 * Version Negotiation packet without v1 and ignores one that lists v1.
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
#include "quic/conn_internal.h"
#include "quic/endpoint.h"
#include "quic/error.h"
#include "sim.h"
#include "xfer.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define SEC 1000000000ULL
#define MS 1000000ULL

enum {
  MODE_RETRY = 0,      /* Retry, then a connection for a valid token */
  MODE_RETRY_NO_TP,    /* Retry, then a connection that omits it from TPs */
  MODE_VN_NONE,        /* Version Negotiation without v1 */
  MODE_VN_LISTS_V1,    /* Version Negotiation listing v1, then accept */
  MODE_VN_WRONG_CIDS,  /* Version Negotiation not echoing the CIDs */
  MODE_RETRY_TWICE,    /* two Retries for the first Initial */
  MODE_RETRY_BAD_TAG,  /* a corrupted Retry first, a good one next */
  MODE_RETRY_SAME_CID, /* a Retry whose SCID is the client's DCID */
};

typedef struct stateless {
  int mode;
  uint8_t key[ZTTP_QUIC_EP_KEY_LEN];
  int retries;   /* Retry packets sent */
  int vns;       /* Version Negotiation packets sent */
  int tokens_ok; /* Initials with a valid token */
  zttp_quic_cid first_rscid;
} stateless;

static void send_retry(sim *sm, stateless *st, const zttp_quic_ep_info *info,
                       uint8_t cid_byte, int corrupt) {
  zttp_path path;
  memset(&path, 0, sizeof(path));
  uint8_t rscid[8];
  memset(rscid, cid_byte, sizeof(rscid));
  uint8_t buf[512];
  if (st->mode == MODE_RETRY_SAME_CID) {
    /* zttp_quic_ep_retry_build refuses this: built by hand, well tagged. */
    static const uint8_t token[] = {'t', 'o', 'k'};
    size_t n = zttp_quic_retry_write(buf, sizeof(buf), ZTTP_QUIC_VERSION_1, 0,
                                     info->scid, info->scid_len, info->dcid,
                                     info->dcid_len, token, sizeof(token));
    assert_true(n > 0);
    assert_true(zttp_crypto_retry_tag(buf + n, ZTTP_QUIC_VERSION_1, info->dcid,
                                      info->dcid_len, buf, n));
    st->retries++;
    sim_send(sm, SIM_SERVER, buf, n + ZTTP_QUIC_RETRY_TAG_LEN);
    return;
  }
  int64_t n = zttp_quic_ep_retry_build(buf, sizeof(buf), info, &path, st->key,
                                       rscid, sizeof(rscid), 10 * SEC, sm->now);
  assert_true(n > 0);
  if (corrupt) {
    buf[n - 1] ^= 0x01; /* the integrity tag's last byte */
  }
  if (st->retries == 0) {
    zttp_quic_cid_set(&st->first_rscid, rscid, sizeof(rscid));
  }
  st->retries++;
  sim_send(sm, SIM_SERVER, buf, (size_t)n);
}

static int32_t accept_stateless(sim *sm, const uint8_t *data, size_t len,
                                void *arg) {
  stateless *st = arg;
  zttp_quic_ep_info info;
  if (zttp_quic_ep_classify(&info, data, len, 8) != ZTTP_QUIC_EP_CREATE) {
    return 0;
  }
  zttp_path path;
  memset(&path, 0, sizeof(path));
  switch (st->mode) {
  case MODE_VN_NONE:
  case MODE_VN_LISTS_V1:
  case MODE_VN_WRONG_CIDS:
    if (st->vns == 0) {
      static const uint32_t none[] = {0x1a2a3a4au, 0xff00001du};
      static const uint32_t with_v1[] = {0x1a2a3a4au, ZTTP_QUIC_VERSION_1};
      const uint32_t *v = st->mode == MODE_VN_LISTS_V1 ? with_v1 : none;
      uint8_t bad[8];
      memset(bad, 0xee, sizeof(bad));
      uint8_t buf[256];
      size_t n = zttp_quic_vn_write(
          buf, sizeof(buf), 0x15, info.scid, info.scid_len,
          st->mode == MODE_VN_WRONG_CIDS ? bad : info.dcid,
          st->mode == MODE_VN_WRONG_CIDS ? sizeof(bad) : info.dcid_len, v, 2);
      assert_true(n > 0);
      st->vns++;
      sim_send(sm, SIM_SERVER, buf, n);
      return 0;
    }
    return sim_accept_default(sm, data, len, NULL);
  default:
    break;
  }
  zttp_quic_cid odcid, rscid;
  uint32_t tr = zttp_quic_ep_token_validate(&odcid, &rscid, &info, &path,
                                            st->key, sm->now);
  if (tr == ZTTP_QUIC_EP_TOKEN_OK) {
    st->tokens_ok++;
    if (st->mode == MODE_RETRY_NO_TP) {
      return zttp_quic_conn_new(&sm->conn[SIM_SERVER], sm->mem, &sm->settings,
                                ZTTP_SERVER, sm->ctx[SIM_SERVER], NULL,
                                &info.hdr, &path, sm->now);
    }
    return zttp_quic_conn_new_retried(&sm->conn[SIM_SERVER], sm->mem,
                                      &sm->settings, sm->ctx[SIM_SERVER],
                                      &info.hdr, &odcid, &path, sm->now);
  }
  /* No valid token: a Retry (at most one per datagram, RFC 9000
   * §17.2.5.1, except where the test wants two). */
  int corrupt = st->mode == MODE_RETRY_BAD_TAG && st->retries == 0;
  send_retry(sm, st, &info, (uint8_t)(0xa0 + st->retries), corrupt);
  if (st->mode == MODE_RETRY_TWICE && st->retries == 1) {
    send_retry(sm, st, &info, 0xb0, 0);
  }
  return 0;
}

static void setup(sim *sm, xfer1 *x, stateless *st, int mode, uint32_t backend,
                  uint32_t loss_ppm) {
  assert_int_equal(sim_init(sm, backend, ZTTP_TEST_PKI, 7, 10, loss_ppm, NULL),
                   0);
  memset(st, 0, sizeof(*st));
  st->mode = mode;
  for (size_t i = 0; i < sizeof(st->key); i++) {
    st->key[i] = (uint8_t)(0x11 * i + 3);
  }
  sm->accept = accept_stateless;
  sm->accept_arg = st;
  xfer1_init(x, sm, 64 * 1024);
}

static void report(const char *name, const sim *sm, const stateless *st) {
  printf("# %s: %.1f ms virtual, %d Retry, %d VN, %d valid tokens, c->s %llu "
         "dgrams, s->c %llu dgrams\n",
         name, (double)(sm->now - SEC) / 1e6, st->retries, st->vns,
         st->tokens_ok, (unsigned long long)sm->link[SIM_CLIENT].dgrams,
         (unsigned long long)sm->link[SIM_SERVER].dgrams);
}

/* A Retry, then the handshake and a transfer: the client used the Retry's
 * SCID and token, the server's connection is validated at once and both
 * sides agree on the CIDs of the handshake (RFC 9000 §7.3). */
static void retry_ok(uint32_t backend, uint32_t loss_ppm, const char *name) {
  sim sm;
  xfer1 x;
  stateless st;
  setup(&sm, &x, &st, MODE_RETRY, backend, loss_ppm);
  assert_int_equal(sim_run(&sm, xfer1_done, &x, 60 * SEC), 1);
  assert_int_equal(x.mismatch, 0);
  assert_true(st.retries >= 1);
  assert_true(st.tokens_ok >= 1);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  assert_true(c->retried);
  assert_true(s->retried);
  assert_true(zttp_quic_cid_eq(&s->odcid, c->odcid.data, c->odcid.len));
  assert_true(zttp_quic_cid_eq(&s->rscid, c->rscid.data, c->rscid.len));
  assert_true(zttp_quic_conn_address_validated(s));
  assert_true(zttp_quic_conn_handshake_confirmed(c));
  assert_false(x.closed[0] || x.closed[1]);
  report(name, &sm, &st);
  sim_free(&sm);
}

static void test_retry_tls(void **state) {
  (void)state;
  retry_ok(ZTTP_TLS_BORINGSSL, 0, "retry-tls");
}

static void test_retry_null(void **state) {
  (void)state;
  retry_ok(ZTTP_TLS_NULL, 0, "retry-null");
}

static void test_retry_loss(void **state) {
  (void)state;
  retry_ok(ZTTP_TLS_BORINGSSL, 100000, "retry-tls-loss10%");
}

/* Only the first Retry counts (RFC 9000 §17.2.5.2). */
static void test_retry_twice(void **state) {
  (void)state;
  sim sm;
  xfer1 x;
  stateless st;
  setup(&sm, &x, &st, MODE_RETRY_TWICE, ZTTP_TLS_NULL, 0);
  assert_int_equal(sim_run(&sm, xfer1_done, &x, 60 * SEC), 1);
  assert_int_equal(st.retries, 2);
  assert_true(zttp_quic_cid_eq(&sm.conn[SIM_CLIENT]->rscid, st.first_rscid.data,
                               st.first_rscid.len));
  assert_int_equal(x.mismatch, 0);
  report("retry-twice", &sm, &st);
  sim_free(&sm);
}

/* A Retry whose integrity tag fails is dropped (RFC 9001 §5.8); the client's
 * retransmitted Initial draws a good one. */
static void test_retry_bad_tag(void **state) {
  (void)state;
  sim sm;
  xfer1 x;
  stateless st;
  setup(&sm, &x, &st, MODE_RETRY_BAD_TAG, ZTTP_TLS_NULL, 0);
  assert_int_equal(sim_run(&sm, xfer1_done, &x, 60 * SEC), 1);
  assert_true(st.retries >= 2); /* one per Initial of the first PTO probe */
  assert_int_equal(st.tokens_ok, 1);
  assert_int_equal(sm.conn[SIM_CLIENT]->rscid.data[0], 0xa1);
  report("retry-bad-tag", &sm, &st);
  sim_free(&sm);
}

/* A Retry whose SCID equals the client's DCID is discarded (RFC 9000
 * §17.2.5.1): the client never takes one and gives up at the idle timeout.
 */
static void test_retry_same_cid(void **state) {
  (void)state;
  sim sm;
  xfer1 x;
  stateless st;
  setup(&sm, &x, &st, MODE_RETRY_SAME_CID, ZTTP_TLS_NULL, 0);
  sm.settings.idle_timeout_ms = 2000;
  assert_int_equal(sim_run(&sm, xfer1_done, &x, 5 * SEC), 0);
  assert_true(st.retries >= 2);
  assert_int_equal(st.tokens_ok, 0);
  assert_false(sm.conn[SIM_CLIENT]->retried);
  assert_null(sm.conn[SIM_SERVER]);
  sim_free(&sm);
}

/* A server that sent a Retry but omits retry_source_connection_id fails
 * the client's check (RFC 9000 §7.3): TRANSPORT_PARAMETER_ERROR. */
static void test_retry_missing_tparam(void **state) {
  (void)state;
  sim sm;
  xfer1 x;
  stateless st;
  setup(&sm, &x, &st, MODE_RETRY_NO_TP, ZTTP_TLS_BORINGSSL, 0);
  assert_int_equal(sim_run(&sm, xfer1_done, &x, 10 * SEC), 0);
  assert_true(x.closed[SIM_CLIENT]);
  assert_int_equal(x.close_error[SIM_CLIENT], ZTTP_ERR_PROTOCOL);
  assert_int_equal(x.close_code[SIM_CLIENT],
                   ZTTP_QUIC_ERR_TRANSPORT_PARAMETER_ERROR);
  sim_free(&sm);
}

/* RFC 9000 §6.2: no common version: the attempt is abandoned at once,
 * silently (nothing more is sent), with ZTTP_ERR_QUIC_VERSION. */
static void test_vn_abandon(void **state) {
  (void)state;
  sim sm;
  xfer1 x;
  stateless st;
  setup(&sm, &x, &st, MODE_VN_NONE, ZTTP_TLS_BORINGSSL, 0);
  assert_int_equal(sim_run(&sm, xfer1_done, &x, 10 * SEC), 0);
  assert_int_equal(st.vns, 1);
  assert_true(x.closed[SIM_CLIENT]);
  assert_int_equal(x.close_error[SIM_CLIENT], ZTTP_ERR_QUIC_VERSION);
  assert_true(zttp_quic_conn_is_closed(sm.conn[SIM_CLIENT]));
  assert_int_equal(sm.link[SIM_CLIENT].dgrams, 1);
  assert_int_equal(zttp_quic_conn_next_timeout(sm.conn[SIM_CLIENT]),
                   ZTTP_TSTAMP_NEVER);
  assert_null(sm.conn[SIM_SERVER]);
  report("vn-abandon", &sm, &st);
  sim_free(&sm);
}

/* A Version Negotiation packet that lists our version, or that does not
 * echo our connection IDs, is ignored (RFC 9000 §6.2, RFC 8999 §6): the
 * handshake goes on when the server answers the retransmitted Initial. */
static void vn_ignored(int mode, const char *name) {
  sim sm;
  xfer1 x;
  stateless st;
  setup(&sm, &x, &st, mode, ZTTP_TLS_BORINGSSL, 0);
  assert_int_equal(sim_run(&sm, xfer1_done, &x, 60 * SEC), 1);
  assert_int_equal(st.vns, 1);
  assert_false(x.closed[SIM_CLIENT]);
  assert_int_equal(x.mismatch, 0);
  report(name, &sm, &st);
  sim_free(&sm);
}

static void test_vn_lists_v1(void **state) {
  (void)state;
  vn_ignored(MODE_VN_LISTS_V1, "vn-lists-v1");
}

static void test_vn_wrong_cids(void **state) {
  (void)state;
  vn_ignored(MODE_VN_WRONG_CIDS, "vn-wrong-cids");
}

/* After a packet of the server was processed, a Version Negotiation packet
 * is ignored (RFC 9000 §6.2). */
static void test_vn_after_handshake(void **state) {
  (void)state;
  sim sm;
  xfer1 x;
  stateless st;
  setup(&sm, &x, &st, MODE_RETRY, ZTTP_TLS_NULL, 0);
  assert_int_equal(sim_run(&sm, xfer1_done, &x, 60 * SEC), 1);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  static const uint32_t none[] = {0x1a2a3a4au};
  uint8_t buf[256];
  size_t n = zttp_quic_vn_write(buf, sizeof(buf), 0, c->scid.data, c->scid.len,
                                c->init_dcid.data, c->init_dcid.len, none, 1);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_recv(c, buf, n, &path, sm.now), 0);
  assert_false(zttp_quic_conn_is_closing(c));
  sim_free(&sm);
}

/* A server connection for a retried Initial refuses an ODCID equal to the
 * Initial's DCID or shorter than 8 bytes. */
static void test_new_retried_args(void **state) {
  (void)state;
  sim sm;
  xfer1 x;
  stateless st;
  setup(&sm, &x, &st, MODE_RETRY, ZTTP_TLS_NULL, 0);
  static const uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  static const uint8_t scid[8] = {9, 9, 9, 9, 9, 9, 9, 9};
  zttp_quic_hdr h;
  memset(&h, 0, sizeof(h));
  h.type = ZTTP_QUIC_PKT_INITIAL;
  h.version = ZTTP_QUIC_VERSION_1;
  h.dcid = dcid;
  h.dcid_len = sizeof(dcid);
  h.scid = scid;
  h.scid_len = sizeof(scid);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  zttp_quic_conn *qc = NULL;
  zttp_quic_cid same, shortc;
  zttp_quic_cid_set(&same, dcid, sizeof(dcid));
  zttp_quic_cid_set(&shortc, dcid, 4);
  assert_int_equal(zttp_quic_conn_new_retried(&qc, sm.mem, &sm.settings,
                                              sm.ctx[SIM_SERVER], &h, &same,
                                              &path, sm.now),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_conn_new_retried(&qc, sm.mem, &sm.settings,
                                              sm.ctx[SIM_SERVER], &h, &shortc,
                                              &path, sm.now),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_conn_new_retried(&qc, sm.mem, &sm.settings,
                                              sm.ctx[SIM_SERVER], &h, NULL,
                                              &path, sm.now),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_null(qc);
  sim_free(&sm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retry_tls),
      cmocka_unit_test(test_retry_null),
      cmocka_unit_test(test_retry_loss),
      cmocka_unit_test(test_retry_twice),
      cmocka_unit_test(test_retry_bad_tag),
      cmocka_unit_test(test_retry_same_cid),
      cmocka_unit_test(test_retry_missing_tparam),
      cmocka_unit_test(test_vn_abandon),
      cmocka_unit_test(test_vn_lists_v1),
      cmocka_unit_test(test_vn_wrong_cids),
      cmocka_unit_test(test_vn_after_handshake),
      cmocka_unit_test(test_new_retried_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
