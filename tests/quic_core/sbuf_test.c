/* src/quic/sbuf.c: reassembly out of order with the final-size rules
 * (RFC 9000 §4.5) and the caps; send-side retention, retransmission of lost
 * ranges, FIN handling and memory release on acknowledgement; and a random
 * model run where every byte must arrive exactly once in order.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "quic/sbuf.h"

static const uint8_t abc[] = "abcdefghijklmnopqrstuvwxyz0123456789";

static void test_recv_reorder(void **state) {
  (void)state;
  const zttp_mem *m = zttp_mem_default();
  zttp_quic_recvbuf rb;
  zttp_quic_recvbuf_init(&rb, 8);
  const uint8_t *p;
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 5, abc + 5, 5, 0, 100), 0);
  assert_int_equal(zttp_quic_recvbuf_peek(&rb, &p), 0);
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 0, abc, 3, 0, 100), 0);
  assert_int_equal(zttp_quic_recvbuf_peek(&rb, &p), 3);
  assert_memory_equal(p, "abc", 3);
  /* Overlap with both neighbours: one contiguous run. */
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 2, abc + 2, 4, 0, 100), 0);
  assert_int_equal(zttp_quic_recvbuf_peek(&rb, &p), 10);
  assert_memory_equal(p, "abcdefghij", 10);
  zttp_quic_recvbuf_consume(&rb, 4);
  assert_int_equal(zttp_quic_recvbuf_peek(&rb, &p), 6);
  assert_memory_equal(p, "efghij", 6);
  /* Old data is ignored; FIN fixes the final size. */
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 0, abc, 8, 0, 100), 0);
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 10, abc + 10, 2, 1, 100), 0);
  assert_int_equal(rb.final_size, 12);
  zttp_quic_recvbuf_consume(&rb, 8);
  assert_true(zttp_quic_recvbuf_done(&rb));
  zttp_quic_recvbuf_free(&rb, m);
}

static void test_recv_errors(void **state) {
  (void)state;
  const zttp_mem *m = zttp_mem_default();
  zttp_quic_recvbuf rb;
  zttp_quic_recvbuf_init(&rb, 2);
  /* Flow control: past the advertised limit. */
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 95, abc, 6, 0, 100),
                   ZTTP_QUIC_RB_FLOW);
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 10, abc, 5, 0, 100), 0);
  /* RFC 9000 §4.5: a FIN below data already received, a changed final
   * size, data past the final size. */
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 0, abc, 12, 1, 100),
                   ZTTP_QUIC_RB_FINAL_SIZE);
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 15, abc, 5, 1, 100), 0);
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 15, abc, 6, 1, 100),
                   ZTTP_QUIC_RB_FINAL_SIZE);
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 19, abc, 2, 0, 100),
                   ZTTP_QUIC_RB_FINAL_SIZE);
  assert_int_equal(zttp_quic_recvbuf_final_size(&rb, 21),
                   ZTTP_QUIC_RB_FINAL_SIZE);
  assert_int_equal(zttp_quic_recvbuf_final_size(&rb, 20), 0);
  /* The fragment cap: [10,20) is one range; two more holes are too many. */
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 2, abc, 2, 0, 100), 0);
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 6, abc, 2, 0, 100),
                   ZTTP_QUIC_RB_FRAGMENTS);
  zttp_quic_recvbuf_free(&rb, m);
  /* NOMEM leaves the buffer as it was. */
  h_failalloc fa;
  h_failalloc_init(&fa, 0);
  zttp_quic_recvbuf_init(&rb, 8);
  assert_int_equal(zttp_quic_recvbuf_write(&rb, &fa.alloc, 0, abc, 5, 0, 100),
                   ZTTP_ERR_NOMEM);
  const uint8_t *p;
  assert_int_equal(zttp_quic_recvbuf_peek(&rb, &p), 0);
  zttp_quic_recvbuf_free(&rb, &fa.alloc);
  assert_int_equal(fa.live_allocs, 0);
}

static void test_send_retransmit(void **state) {
  (void)state;
  const zttp_mem *m = zttp_mem_default();
  zttp_quic_sendbuf sb;
  zttp_quic_sendbuf_init(&sb, 20, 8);
  assert_int_equal(zttp_quic_sendbuf_write(&sb, m, abc, 30, 1), 20);
  assert_int_equal(zttp_quic_sendbuf_room(&sb), 0);
  assert_false(sb.fin); /* not all taken */
  zttp_quic_chunk c;
  /* Flow control limits new data to 12. */
  assert_int_equal(zttp_quic_sendbuf_next(&sb, &c, 5, 12), 1);
  assert_int_equal(c.offset, 0);
  assert_int_equal(c.len, 5);
  zttp_quic_sendbuf_on_sent(&sb, c.offset, c.len, c.fin);
  assert_int_equal(zttp_quic_sendbuf_next(&sb, &c, 100, 12), 1);
  assert_int_equal(c.offset, 5);
  assert_int_equal(c.len, 7);
  zttp_quic_sendbuf_on_sent(&sb, c.offset, c.len, c.fin);
  assert_int_equal(zttp_quic_sendbuf_next(&sb, &c, 100, 12), 0);
  /* [5,12) acknowledged, [0,5) lost: retransmit comes first. */
  assert_int_equal(zttp_quic_sendbuf_on_acked(&sb, m, 5, 7, 0), 0);
  assert_int_equal(sb.base, 0); /* 0..5 still held */
  assert_int_equal(zttp_quic_sendbuf_on_lost(&sb, m, 0, 12, 0), 0);
  assert_int_equal(sb.lost.num, 1);
  assert_int_equal(sb.lost.r[0].end, 5); /* acked part not resent */
  assert_int_equal(zttp_quic_sendbuf_next(&sb, &c, 3, 100), 1);
  assert_int_equal(c.offset, 0);
  assert_int_equal(c.len, 3);
  assert_true(c.retransmit);
  assert_memory_equal(c.data, "abc", 3);
  zttp_quic_sendbuf_on_sent(&sb, c.offset, c.len, c.fin);
  assert_int_equal(sb.lost.r[0].start, 3);
  assert_int_equal(zttp_quic_sendbuf_on_acked(&sb, m, 0, 3, 0), 0);
  assert_int_equal(zttp_quic_sendbuf_next(&sb, &c, 100, 100), 1);
  assert_int_equal(c.offset, 3);
  assert_int_equal(c.len, 2);
  zttp_quic_sendbuf_on_sent(&sb, c.offset, c.len, c.fin);
  assert_int_equal(zttp_quic_sendbuf_on_acked(&sb, m, 3, 2, 0), 0);
  /* Everything up to 12 acknowledged: memory released, room again. */
  assert_int_equal(sb.base, 12);
  assert_int_equal(zttp_quic_sendbuf_room(&sb), 12);
  assert_int_equal(zttp_quic_sendbuf_write(&sb, m, abc + 20, 10, 1), 10);
  assert_true(sb.fin);
  assert_int_equal(zttp_quic_sendbuf_write(&sb, m, abc, 1, 0),
                   ZTTP_ERR_INVALID_STATE);
  /* The rest with the FIN in one chunk. */
  assert_int_equal(zttp_quic_sendbuf_next(&sb, &c, 100, 100), 1);
  assert_int_equal(c.offset, 12);
  assert_int_equal(c.len, 18);
  assert_true(c.fin);
  assert_memory_equal(c.data, abc + 12, 18);
  zttp_quic_sendbuf_on_sent(&sb, c.offset, c.len, c.fin);
  /* The FIN alone is lost: a bare FIN goes again. */
  assert_int_equal(zttp_quic_sendbuf_on_acked(&sb, m, 12, 18, 0), 0);
  assert_int_equal(zttp_quic_sendbuf_on_lost(&sb, m, 30, 0, 1), 0);
  assert_int_equal(zttp_quic_sendbuf_next(&sb, &c, 100, 100), 1);
  assert_int_equal(c.len, 0);
  assert_true(c.fin);
  assert_int_equal(c.offset, 30);
  zttp_quic_sendbuf_on_sent(&sb, c.offset, c.len, c.fin);
  assert_int_equal(zttp_quic_sendbuf_next(&sb, &c, 100, 100), 0);
  assert_false(zttp_quic_sendbuf_done(&sb));
  assert_int_equal(zttp_quic_sendbuf_on_acked(&sb, m, 30, 0, 1), 0);
  assert_true(zttp_quic_sendbuf_done(&sb));
  zttp_quic_sendbuf_free(&sb, m);
}

/* A sender and a receiver over a lossy, reordering "network" of chunks:
 * every byte arrives exactly once, in order, and all memory is released. */
/* Reuse for a new stream: state back to empty, small buffers kept (no
 * allocation next time), big ones freed. */
static void test_reuse(void **state) {
  (void)state;
  const zttp_mem *m = zttp_mem_default();
  zttp_quic_sendbuf sb;
  zttp_quic_recvbuf rb;
  zttp_quic_sendbuf_init(&sb, 100000, 4);
  zttp_quic_recvbuf_init(&rb, 4);
  static uint8_t data[50000];
  assert_int_equal(zttp_quic_sendbuf_write(&sb, m, data, 1000, 1), 1000);
  zttp_quic_sendbuf_on_sent(&sb, 0, 1000, 1);
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 10, data, 5, 0, 1000), 0);
  uint8_t *skept = sb.data;
  uint8_t *rkept = rb.data;
  assert_non_null(skept);
  assert_non_null(rkept);
  zttp_quic_sendbuf_reuse(&sb, m, 2000, 8, 16384);
  zttp_quic_recvbuf_reuse(&rb, m, 8, 16384);
  assert_ptr_equal(sb.data, skept);
  assert_ptr_equal(rb.data, rkept);
  assert_int_equal(sb.written, 0);
  assert_int_equal(sb.sent, 0);
  assert_int_equal(sb.fin, 0);
  assert_int_equal(sb.limit, 2000);
  assert_int_equal(sb.acked.max_num, 8);
  assert_int_equal(rb.base, 0);
  assert_int_equal(rb.highest, 0);
  assert_int_equal(rb.final_size, ZTTP_QUIC_NO_FINAL_SIZE);
  assert_true(zttp_ranges_empty(&rb.have));
  const uint8_t *p;
  assert_int_equal(zttp_quic_recvbuf_peek(&rb, &p), 0);
  assert_int_equal(zttp_quic_sendbuf_room(&sb), 2000);
  /* Works as new. */
  assert_int_equal(zttp_quic_sendbuf_write(&sb, m, data, 2000, 0), 2000);
  assert_int_equal(zttp_quic_recvbuf_write(&rb, m, 0, data, 3, 1, 1000), 0);
  assert_int_equal(zttp_quic_recvbuf_peek(&rb, &p), 3);
  /* A big buffer is not kept. */
  zttp_quic_sendbuf_reuse(&sb, m, 100000, 8, 16384);
  assert_int_equal(zttp_quic_sendbuf_write(&sb, m, data, 50000, 0), 50000);
  zttp_quic_sendbuf_reuse(&sb, m, 100000, 8, 16384);
  assert_null(sb.data);
  zttp_quic_sendbuf_free(&sb, m);
  zttp_quic_recvbuf_free(&rb, m);
}

static void test_model(void **state) {
  (void)state;
  const zttp_mem *m = zttp_mem_default();
  static uint8_t src[200000];
  for (size_t i = 0; i < sizeof(src); i++) {
    src[i] = (uint8_t)(i * 7 + (i >> 8));
  }
  uint64_t rng = 99;
  for (int round = 0; round < 20; round++) {
    zttp_quic_sendbuf sb;
    zttp_quic_recvbuf rb;
    zttp_quic_sendbuf_init(&sb, 30000, 64);
    zttp_quic_recvbuf_init(&rb, 64);
    size_t written = 0, got = 0;
    static uint8_t out[200000];
    typedef struct {
      uint64_t off;
      size_t len;
      int fin;
    } pkt;
    pkt flight[64];
    size_t nflight = 0;
    for (int step = 0; step < 200000 && !zttp_quic_sendbuf_done(&sb); step++) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      if (written < sizeof(src)) {
        int64_t t = zttp_quic_sendbuf_write(&sb, m, src + written,
                                            sizeof(src) - written, 1);
        assert_true(t >= 0);
        written += (size_t)t;
      }
      zttp_quic_chunk c;
      if (nflight < 64 &&
          zttp_quic_sendbuf_next(&sb, &c, 1 + (rng >> 40) % 1500,
                                 rb.base + 60000)) {
        zttp_quic_sendbuf_on_sent(&sb, c.offset, c.len, c.fin);
        flight[nflight++] = (pkt){c.offset, c.len, c.fin};
      }
      /* Deliver, lose or keep a random packet in flight. */
      if (nflight > 0 && (rng >> 20) % 3 != 0) {
        size_t k = (size_t)((rng >> 30) % nflight);
        pkt p = flight[k];
        flight[k] = flight[--nflight];
        if ((rng >> 50) % 10 == 0) {
          assert_int_equal(
              zttp_quic_sendbuf_on_lost(&sb, m, p.off, p.len, p.fin), 0);
        } else {
          int32_t rv = zttp_quic_recvbuf_write(&rb, m, p.off, src + p.off,
                                               p.len, p.fin, rb.base + 60000);
          assert_int_equal(rv, 0);
          assert_int_equal(
              zttp_quic_sendbuf_on_acked(&sb, m, p.off, p.len, p.fin), 0);
          const uint8_t *q;
          size_t n = zttp_quic_recvbuf_peek(&rb, &q);
          memcpy(out + got, q, n);
          got += n;
          zttp_quic_recvbuf_consume(&rb, n);
        }
      }
    }
    assert_true(zttp_quic_sendbuf_done(&sb));
    assert_int_equal(got, sizeof(src));
    assert_memory_equal(out, src, sizeof(src));
    assert_true(zttp_quic_recvbuf_done(&rb));
    zttp_quic_sendbuf_free(&sb, m);
    zttp_quic_recvbuf_free(&rb, m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recv_reorder),
      cmocka_unit_test(test_recv_errors),
      cmocka_unit_test(test_send_retransmit),
      cmocka_unit_test(test_reuse),
      cmocka_unit_test(test_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
