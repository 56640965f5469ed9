/* Failing allocator (STYLE.md) for QPACK: decoder and encoder init, the
 * decoded fields' growth, the encoder's section tracking, the decoder's
 * scratch and the copies of blocked sections, over the netbsd-hq and
 * Appendix B lists encoded by zttp and decoded by zttp (some sections
 * delivered before their inserts, so they block). Allocation k fails for
 * every k until a run sees no failure: each run must end fully checked or
 * with ZTTP_ERR_NOMEM from the call whose allocation failed, and nothing
 * may leak. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "qifs.h"
#include "qpack/qpack.h"

#ifndef QPACK_VECTORS
#define QPACK_VECTORS "vectors"
#endif

#define NOMEM_OUT(run, rv)                                                     \
  do {                                                                         \
    if ((rv) == ZTTP_ERR_NOMEM) {                                              \
      assert_true((run)->fa->injected);                                        \
      goto out;                                                                \
    }                                                                          \
  } while (0)

static int32_t scenario(h_fa_run *run) {
  const qf_qif *q = run->arg;
  const zttp_mem *mem = &run->fa->alloc;
  zttp_qpack_encoder e;
  zttp_qpack_decoder d;
  zttp_qpack_fields out;
  memset(&e, 0, sizeof(e));
  memset(&d, 0, sizeof(d));
  memset(&out, 0, sizeof(out));
  int32_t rv = zttp_qpack_encoder_init(&e, mem, NULL);
  NOMEM_OUT(run, rv);
  assert_int_equal(rv, 0);
  zttp_qpack_decoder_settings ds;
  zttp_qpack_decoder_settings_default(&ds);
  ds.max_blocked_streams = 100;
  ds.max_blocked_bytes = 1 << 20;
  rv = zttp_qpack_decoder_init(&d, mem, &ds);
  NOMEM_OUT(run, rv);
  assert_int_equal(rv, 0);
  assert_int_equal(zttp_qpack_encoder_set_peer_settings(&e, 4096, 100), 0);
  uint8_t buf[8192];
  size_t decoded = 0;
  for (size_t i = 0; i < q->num; i++) {
    const qf_list *l = &q->lists[i];
    assert_true(zttp_qpack_encode_bound(&e, l->fields, l->num) <= sizeof(buf));
    int64_t n = zttp_qpack_encode(&e, buf, 4 * i, l->fields, l->num);
    rv = n < 0 ? (int32_t)n : 0;
    NOMEM_OUT(run, rv);
    assert_true(n > 0);
    const uint8_t *p;
    size_t m = zttp_qpack_encoder_stream_pending(&e, &p);
    /* Odd lists: the section before its inserts. */
    int late = i % 2 == 1;
    if (!late) {
      rv = zttp_qpack_decoder_receive_encoder_stream(&d, p, m);
      NOMEM_OUT(run, rv);
      assert_true(rv >= 0);
      zttp_qpack_encoder_stream_consume(&e, m);
    }
    rv = zttp_qpack_decode(&d, &out, 4 * i, buf, (size_t)n);
    NOMEM_OUT(run, rv);
    if (rv == 0) {
      assert_int_equal(out.num_fields, l->num);
      decoded++;
    } else {
      assert_int_equal(rv, ZTTP_QPACK_BLOCKED);
    }
    if (late) {
      m = zttp_qpack_encoder_stream_pending(&e, &p);
      rv = zttp_qpack_decoder_receive_encoder_stream(&d, p, m);
      NOMEM_OUT(run, rv);
      assert_true(rv >= 0);
      zttp_qpack_encoder_stream_consume(&e, m);
      uint64_t sid;
      while ((rv = zttp_qpack_decoder_next_ready(&d, &out, &sid)) == 1) {
        assert_int_equal(out.num_fields, q->lists[sid / 4].num);
        decoded++;
      }
      NOMEM_OUT(run, rv);
      assert_int_equal(rv, 0);
    }
    m = zttp_qpack_decoder_stream_pending(&d, &p);
    assert_int_equal(zttp_qpack_encoder_receive_decoder_stream(&e, p, m), 0);
    zttp_qpack_decoder_stream_consume(&d, m);
  }
  assert_int_equal(decoded, q->num);
  rv = 0;
out:
  zttp_qpack_fields_free(&out, mem);
  zttp_qpack_decoder_free(&d);
  zttp_qpack_encoder_free(&e);
  return rv;
}

static void run_qif(const char *name) {
  char path[512];
  snprintf(path, sizeof(path), QPACK_VECTORS "/qifs/qifs/%s.qif", name);
  qf_qif q;
  assert_int_equal(qf_qif_load(path, &q), 0);
  long n = h_fa_drive(scenario, &q);
  fprintf(stderr, "# %s: %ld allocations, each failed once\n", name, n);
  qf_qif_free(&q);
}

static void test_netbsd_hq(void **state) {
  (void)state;
  run_qif("netbsd-hq");
}

static void test_appendix_b(void **state) {
  (void)state;
  run_qif("rfc9204-appendix-b");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_netbsd_hq),
      cmocka_unit_test(test_appendix_b),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
