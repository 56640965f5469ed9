/* Connection IDs (RFC 9000 §5.1) in the in-memory network (sim.h): the
 * NEW_CONNECTION_ID frames each side issues after the handshake (exact
 * sequence numbers, tokens from zttp_quic_ep_reset_token), retire_prior_to
 * answered with RETIRE_CONNECTION_ID and replacements, the limits
 * (active_connection_id_limit, the RETIRE queue against a flood), the
 * protocol violations of §19.15 and §19.16, and Stateless Reset detection
 * with a token from NEW_CONNECTION_ID (§10.3).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/varint.h"
#include "quic/conn_internal.h"
#include "quic/endpoint.h"
#include "quic/error.h"
#include "sim.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define SEC 1000000000ULL
#define MS 1000000ULL

static int confirmed(sim *sm, void *arg) {
  (void)arg;
  return sm->conn[SIM_SERVER] != NULL &&
         zttp_quic_conn_handshake_complete(sm->conn[SIM_SERVER]) &&
         zttp_quic_conn_handshake_confirmed(sm->conn[SIM_CLIENT]);
}

static int quiet(sim *sm, void *arg) {
  zttp_tstamp *until = arg;
  return sm->now >= *until;
}

static void run_until(sim *sm, zttp_tstamp until) {
  int rv = sim_run(sm, quiet, &until, until - sm->now);
  assert_true(rv >= 0);
  if (sm->now < until) {
    sm->now = until;
  }
}

/* A null-TLS pair, confirmed, with the CIDs exchanged. */
static void setup(sim *sm) {
  assert_int_equal(sim_init(sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 3, 10, 0, NULL),
                   0);
  for (size_t i = 0; i < sizeof(sm->settings.reset_key); i++) {
    sm->settings.reset_key[i] = (uint8_t)(0x40 + i); /* the server's */
  }
  assert_int_equal(sim_run(sm, confirmed, NULL, 10 * SEC), 1);
  run_until(sm, sm->now + 200 * MS);
}

static int32_t inject(sim *sm, int from, const uint8_t *payload, size_t len) {
  uint8_t pkt[1500];
  size_t n = qc_test_packet(sm->conn[from], pkt, sizeof(pkt),
                            ZTTP_QUIC_SPACE_APP, payload, len);
  assert_true(n > 0);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  return zttp_quic_conn_recv(sm->conn[1 - from], pkt, n, &path, sm->now);
}

static size_t new_cid_frame(uint8_t *p, uint64_t seq, uint64_t rpt,
                            const uint8_t *cid, size_t cid_len,
                            const uint8_t *token) {
  uint8_t *s = p;
  p = zttp_varint_put(p, ZTTP_QUIC_FT_NEW_CONNECTION_ID);
  p = zttp_varint_put(p, seq);
  p = zttp_varint_put(p, rpt);
  *p++ = (uint8_t)cid_len;
  memcpy(p, cid, cid_len);
  p += cid_len;
  memcpy(p, token, 16);
  return (size_t)(p + 16 - s);
}

static size_t retire_frame(uint8_t *p, uint64_t seq) {
  uint8_t *s = p;
  p = zttp_varint_put(p, ZTTP_QUIC_FT_RETIRE_CONNECTION_ID);
  p = zttp_varint_put(p, seq);
  return (size_t)(p - s);
}

/* RFC 9000 §5.1.1: with active_connection_id_limit 4 both ways, each side
 * issues exactly sequences 1, 2, 3; the peer holds 0-3 with the tokens of
 * zttp_quic_ep_reset_token. */
static void test_cid_issue(void **state) {
  (void)state;
  sim sm;
  setup(&sm);
  for (int side = 0; side < 2; side++) {
    zttp_quic_conn *me = sm.conn[side], *peer = sm.conn[1 - side];
    assert_int_equal(me->next_lcid_seq, 4);
    assert_int_equal(me->num_lcid, 4);
    zttp_quic_cid out[8];
    assert_int_equal(zttp_quic_conn_local_cids(me, out, 8), 4);
    assert_int_equal(peer->num_rcid, 4);
    for (size_t i = 0; i < 4; i++) {
      assert_int_equal(me->lcid[i].seq, i);
      assert_int_equal(me->lcid[i].send_pending, 0);
      assert_int_equal(out[i].len, 8);
      assert_int_equal(peer->rcid[i].seq, i);
      assert_memory_equal(&peer->rcid[i].cid, &out[i], sizeof(out[i]));
      if (side == SIM_SERVER || i > 0) {
        uint8_t tok[16];
        assert_int_equal(zttp_quic_ep_reset_token(tok, me->s.reset_key,
                                                  out[i].data, out[i].len),
                         0);
        assert_int_equal(peer->rcid[i].has_token, 1);
        assert_memory_equal(peer->rcid[i].token, tok, 16);
      } else {
        assert_int_equal(peer->rcid[i].has_token, 0); /* §18.2 */
      }
    }
    assert_int_equal(zttp_quic_conn_local_cids_version(me), 4);
    assert_int_equal(peer->num_retire, 0);
  }
  sim_free(&sm);
}

/* RFC 9000 §5.1.2: the server's retire_prior_to 2 makes the client retire
 * 0 and 1 (RETIRE_CONNECTION_ID), move to sequence 2, and the server issue
 * 4 and 5 in their place. */
static void test_cid_retire_prior_to(void **state) {
  (void)state;
  sim sm;
  setup(&sm);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT], *s = sm.conn[SIM_SERVER];
  uint64_t v0 = zttp_quic_conn_local_cids_version(s);
  const qc_cid *l3 = &s->lcid[3];
  uint8_t f[64];
  size_t n = new_cid_frame(f, 3, 2, l3->cid.data, l3->cid.len, l3->token);
  assert_int_equal(inject(&sm, SIM_SERVER, f, n), 0);
  assert_int_equal(c->num_rcid, 2);
  assert_int_equal(c->num_retire, 2);
  assert_int_equal(c->retire_q[0].seq, 0);
  assert_int_equal(c->retire_q[1].seq, 1);
  assert_int_equal(c->dcid_seq, 2);
  assert_memory_equal(&c->dcid, &s->lcid[2].cid, sizeof(c->dcid));
  run_until(&sm, sm.now + 300 * MS);
  assert_false(zttp_quic_conn_is_closing(c) || zttp_quic_conn_is_closing(s));
  assert_int_equal(c->num_retire, 0); /* sent and acknowledged */
  assert_int_equal(s->num_lcid, 4);
  assert_int_equal(s->next_lcid_seq, 6);
  zttp_quic_cid out[8];
  assert_int_equal(zttp_quic_conn_local_cids(s, out, 8), 4);
  assert_true(zttp_quic_conn_local_cids_version(s) == v0 + 4);
  assert_int_equal(c->num_rcid, 4);
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(s->lcid[i].seq, 2 + i);
    assert_int_equal(c->rcid[i].seq, 2 + i);
    assert_memory_equal(&c->rcid[i].cid, &out[i], sizeof(out[i]));
  }
  sim_free(&sm);
}

static void expect_close(sim *sm, int side, uint64_t code) {
  zttp_quic_conn *qc = sm->conn[side];
  assert_true(zttp_quic_conn_is_closing(qc));
  assert_int_equal(qc->close_code, code);
}

/* quiche CVE-2024-1410 style: NEW_CONNECTION_ID frames with a growing
 * retire_prior_to whose RETIREs are never acknowledged end in
 * CONNECTION_ID_LIMIT_ERROR once max_retire_queue is reached; memory stays
 * within the fixed tables. */
static void test_cid_retire_flood(void **state) {
  (void)state;
  sim sm;
  setup(&sm);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  uint8_t cid[8], tok[16];
  memset(tok, 0x77, sizeof(tok));
  int i;
  for (i = 0; i < 1000 && !zttp_quic_conn_is_closing(c); i++) {
    memset(cid, 0, sizeof(cid));
    cid[0] = (uint8_t)i;
    cid[1] = (uint8_t)(i >> 8);
    cid[7] = 0xee;
    uint8_t f[64];
    size_t n =
        new_cid_frame(f, 100 + (uint64_t)i, 100 + (uint64_t)i, cid, 8, tok);
    (void)inject(&sm, SIM_SERVER, f, n);
    assert_true(c->num_retire <= c->s.max_retire_queue);
    assert_true(c->num_rcid <= c->s.active_cid_limit);
  }
  /* 0-3 first, then one more per frame, up to 16. */
  assert_int_equal(i, 1 + 16 - 4 + 1);
  expect_close(&sm, SIM_CLIENT, ZTTP_QUIC_ERR_CONNECTION_ID_LIMIT_ERROR);
  sim_free(&sm);
}

/* RFC 9000 §5.1.1: a fifth active CID over our limit of 4. */
static void test_cid_over_limit(void **state) {
  (void)state;
  sim sm;
  setup(&sm);
  uint8_t cid[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tok[16] = {0};
  uint8_t f[64];
  size_t n = new_cid_frame(f, 10, 0, cid, 8, tok);
  assert_int_equal(inject(&sm, SIM_SERVER, f, n), ZTTP_ERR_PROTOCOL);
  expect_close(&sm, SIM_CLIENT, ZTTP_QUIC_ERR_CONNECTION_ID_LIMIT_ERROR);
  sim_free(&sm);
}

/* RFC 9000 §19.15: a sequence number again with another CID. */
static void test_cid_seq_reused(void **state) {
  (void)state;
  sim sm;
  setup(&sm);
  uint8_t cid[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tok[16] = {0};
  uint8_t f[64];
  size_t n = new_cid_frame(f, 2, 0, cid, 8, tok);
  assert_int_equal(inject(&sm, SIM_SERVER, f, n), ZTTP_ERR_PROTOCOL);
  expect_close(&sm, SIM_CLIENT, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  sim_free(&sm);
}

/* RFC 9000 §19.16: retiring a sequence never issued, or the CID the packet
 * was sent to. */
static void test_cid_retire_errors(void **state) {
  (void)state;
  sim sm;
  setup(&sm);
  uint8_t f[16];
  size_t n = retire_frame(f, 4);
  assert_int_equal(inject(&sm, SIM_CLIENT, f, n), ZTTP_ERR_PROTOCOL);
  expect_close(&sm, SIM_SERVER, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  sim_free(&sm);

  setup(&sm);
  assert_int_equal(sm.conn[SIM_CLIENT]->dcid_seq, 0);
  n = retire_frame(f, 0);
  assert_int_equal(inject(&sm, SIM_CLIENT, f, n), ZTTP_ERR_PROTOCOL);
  expect_close(&sm, SIM_SERVER, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  sim_free(&sm);

  /* Retiring another one is fine and brings a replacement. */
  setup(&sm);
  /* As if the client had retired sequence 1 itself. */
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  assert_int_equal(c->rcid[1].seq, 1);
  memmove(&c->rcid[1], &c->rcid[2], 2 * sizeof(c->rcid[0]));
  c->num_rcid--;
  n = retire_frame(f, 1);
  assert_int_equal(inject(&sm, SIM_CLIENT, f, n), 0);
  assert_int_equal(sm.conn[SIM_SERVER]->num_lcid, 4);
  assert_int_equal(sm.conn[SIM_SERVER]->lcid[3].seq, 4);
  assert_int_equal(inject(&sm, SIM_CLIENT, f, n), 0); /* again: ignored */
  run_until(&sm, sm.now + 200 * MS);
  assert_false(zttp_quic_conn_is_closing(sm.conn[SIM_CLIENT]));
  assert_int_equal(sm.conn[SIM_CLIENT]->rcid[3].seq, 4);
  sim_free(&sm);
}

/* RFC 9000 §10.3.1: a Stateless Reset carrying the token of a CID from
 * NEW_CONNECTION_ID (sequence 2) is recognized. */
static void test_cid_stateless_reset(void **state) {
  (void)state;
  sim sm;
  setup(&sm);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT], *s = sm.conn[SIM_SERVER];
  uint8_t tok[16];
  assert_int_equal(zttp_quic_ep_reset_token(tok, sm.settings.reset_key,
                                            s->lcid[2].cid.data,
                                            s->lcid[2].cid.len),
                   0);
  uint8_t pkt[64];
  assert_int_equal(zttp_quic_ep_reset_build(pkt, sizeof(pkt), 40, 60, tok), 40);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_recv(c, pkt, 40, &path, sm.now), 0);
  assert_int_equal(c->state, QC_DRAINING);
  zttp_quic_event ev;
  while (zttp_quic_conn_next_event(c, &ev) && ev.kind != ZTTP_QUIC_EV_CLOSED) {
  }
  assert_int_equal(ev.kind, ZTTP_QUIC_EV_CLOSED);
  assert_int_equal(ev.stateless_reset, 1);
  sim_free(&sm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cid_issue),
      cmocka_unit_test(test_cid_retire_prior_to),
      cmocka_unit_test(test_cid_retire_flood),
      cmocka_unit_test(test_cid_over_limit),
      cmocka_unit_test(test_cid_seq_reused),
      cmocka_unit_test(test_cid_retire_errors),
      cmocka_unit_test(test_cid_stateless_reset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
