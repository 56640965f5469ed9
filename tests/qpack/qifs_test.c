/* Every encoded file of the qifs interop subset (ls-qpack, nghttp3, quinn
 * encoders; the RFC 9204 Appendix B and older draft examples) decodes with
 * zttp's decoder to its QIF, fed whole and one encoder-stream byte at a
 * time. The files at T>0 get the README's initial-capacity step.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "qifs.h"
#include "qpack/qpack.h"

#ifndef QPACK_VECTORS
#define QPACK_VECTORS "vectors"
#endif

static size_t num_files;

/* Decodes one file in one split mode. */
static void check_file(const char *path, const char *qif, size_t cap,
                       size_t blocked, int preset, long split) {
  qf_encoded enc;
  assert_int_equal(qf_encoded_load(path, &enc), 0);
  char qpath[512];
  snprintf(qpath, sizeof(qpath), QPACK_VECTORS "/qifs/qifs/%s.qif", qif);
  qf_qif q;
  assert_int_equal(qf_qif_load(qpath, &q), 0);
  zttp_qpack_decoder_settings s;
  zttp_qpack_decoder_settings_default(&s);
  s.max_table_capacity = cap;
  s.max_blocked_streams = blocked;
  s.max_blocked_bytes = 1 << 20;
  zttp_qpack_decoder d;
  assert_int_equal(zttp_qpack_decoder_init(&d, zttp_mem_default(), &s), 0);
  if (preset) {
    assert_int_equal(zttp_qpack_decoder_preset_capacity(&d, cap), 0);
  }
  qf_results r = {0};
  int32_t rv = qf_decode_records(&d, enc.recs, enc.num, split, &r, NULL, NULL);
  if (rv != 0) {
    fprintf(stderr, "%s: error %d (wire 0x%llx)\n", path, rv,
            (unsigned long long)zttp_qpack_decoder_wire_error(&d));
    fail();
  }
  assert_int_equal(d.num_blocked, 0);
  char msg[512];
  if (qf_results_check(&r, &q, msg, sizeof(msg)) != 0) {
    fprintf(stderr, "%s: %s\n", path, msg);
    fail();
  }
  qf_results_free(&r);
  zttp_qpack_decoder_free(&d);
  qf_qif_free(&q);
  qf_encoded_free(&enc);
  num_files++;
}

static void check_dir(const char *sub, long split) {
  char dir[512];
  snprintf(dir, sizeof(dir), QPACK_VECTORS "/qifs/encoded/qpack-05/%s", sub);
  DIR *dp = opendir(dir);
  assert_non_null(dp);
  struct dirent *de;
  while ((de = readdir(dp)) != NULL) {
    if (de->d_name[0] == '.') {
      continue;
    }
    char qif[256];
    unsigned long t, b, a;
    assert_int_equal(qf_parse_name(de->d_name, qif, sizeof(qif), &t, &b, &a),
                     0);
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    if (strcmp(qif, "examples") == 0) {
      check_file(path, "rfc9204-appendix-b", t, b, 0, split);
    } else {
      check_file(path, qif, t, b, t > 0, split);
    }
  }
  closedir(dp);
}

static void test_ls_qpack(void **state) {
  (void)state;
  check_dir("ls-qpack", QF_WHOLE);
  check_dir("ls-qpack", QF_BYTES);
}

static void test_nghttp3(void **state) {
  (void)state;
  check_dir("nghttp3", QF_WHOLE);
  check_dir("nghttp3", QF_BYTES);
}

static void test_quinn(void **state) {
  (void)state;
  check_dir("quinn", QF_WHOLE);
  check_dir("quinn", QF_BYTES);
}

static void test_examples(void **state) {
  (void)state;
  check_dir("examples", QF_WHOLE);
  check_dir("examples", QF_BYTES);
  /* The older draft's examples: they set their capacity (170). */
  check_file(QPACK_VECTORS "/qifs/encoded/qpack-05/draft-examples.out",
             "draft-examples", 4096, 100, 0, QF_WHOLE);
  check_file(QPACK_VECTORS "/qifs/encoded/qpack-05/draft-examples.out",
             "draft-examples", 4096, 100, 0, QF_BYTES);
  fprintf(stderr, "# %zu decodes of encoded files checked\n", num_files);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ls_qpack),
      cmocka_unit_test(test_nghttp3),
      cmocka_unit_test(test_quinn),
      cmocka_unit_test(test_examples),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
