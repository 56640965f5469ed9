/* Interop with Debian's libnghttp3 QPACK, in one process (no TLS library):
 * zttp's encoder output for every QIF, under several table capacities,
 * blocked-stream limits and acknowledgment patterns, decodes with
 * nghttp3's decoder (whose decoder stream drives zttp's encoder), and
 * nghttp3's encoder output decodes with zttp's decoder (whose decoder
 * stream drives nghttp3's encoder).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp3/nghttp3.h>

#include "qifs.h"
#include "qpack/qpack.h"

#ifndef QPACK_VECTORS
#define QPACK_VECTORS "vectors"
#endif

static const char *qif_names[] = {
    "netbsd",     "netbsd-hq",          "fb-req",        "fb-req-hq", "fb-resp",
    "fb-resp-hq", "rfc9204-appendix-b", "draft-examples"};
#define NUM_QIFS (sizeof(qif_names) / sizeof(qif_names[0]))

/* Acknowledgment patterns. */
#define ACK_NONE 0 /* the decoder stream is never delivered */
#define ACK_NOW 1  /* after every section */
#define ACK_LATE 2 /* every 7 sections, encoder stream after sections */

typedef struct config {
  size_t cap;
  size_t blocked;
  int ack;
} config;

static const config configs[] = {
    {0, 0, ACK_NOW},      {256, 0, ACK_NONE},    {256, 100, ACK_NOW},
    {4096, 100, ACK_NOW}, {4096, 100, ACK_NONE}, {4096, 16, ACK_LATE},
    {512, 2, ACK_LATE},   {65536, 100, ACK_NOW}, {100, 1, ACK_LATE},
};
#define NUM_CONFIGS (sizeof(configs) / sizeof(configs[0]))

/* ---- nghttp3's decoder ----------------------------------------------------
 */

typedef struct ng_section {
  int64_t sid;
  uint8_t *data;
  size_t len, off;
  nghttp3_qpack_stream_context *sctx;
  zttp_header *f;
  char **bufs;
  size_t n, cap;
  int done;
} ng_section;

/* ng_run reads what it can of section |s|; returns 1 when final. */
static int ng_run(nghttp3_qpack_decoder *dec, ng_section *s) {
  for (;;) {
    nghttp3_qpack_nv nv;
    uint8_t flags = 0;
    nghttp3_ssize nread = nghttp3_qpack_decoder_read_request(
        dec, s->sctx, &nv, &flags, s->data + s->off, s->len - s->off, 1);
    if (nread < 0) {
      fprintf(stderr, "nghttp3 read_request: %s\n",
              nghttp3_strerror((int)nread));
      fail();
    }
    s->off += (size_t)nread;
    if (flags & NGHTTP3_QPACK_DECODE_FLAG_EMIT) {
      nghttp3_vec nm = nghttp3_rcbuf_get_buf(nv.name);
      nghttp3_vec vl = nghttp3_rcbuf_get_buf(nv.value);
      if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->f = realloc(s->f, s->cap * sizeof(*s->f));
        s->bufs = realloc(s->bufs, s->cap * sizeof(*s->bufs));
      }
      char *b = malloc(nm.len + vl.len + 1);
      memcpy(b, nm.base, nm.len);
      memcpy(b + nm.len, vl.base, vl.len);
      zttp_header h = {b,
                       nm.len,
                       b + nm.len,
                       vl.len,
                       (nv.flags & NGHTTP3_NV_FLAG_NEVER_INDEX) ? 1u : 0u,
                       0};
      s->bufs[s->n] = b;
      s->f[s->n++] = h;
      nghttp3_rcbuf_decref(nv.name);
      nghttp3_rcbuf_decref(nv.value);
    }
    if (flags & NGHTTP3_QPACK_DECODE_FLAG_FINAL) {
      s->done = 1;
      return 1;
    }
    if (flags & NGHTTP3_QPACK_DECODE_FLAG_BLOCKED) {
      return 0;
    }
    if (nread == 0 && s->off == s->len) {
      fprintf(stderr, "nghttp3: section ended without FINAL\n");
      fail();
    }
  }
}

static void ng_section_free(ng_section *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->bufs[i]);
  }
  free(s->bufs);
  free(s->f);
  free(s->data);
  nghttp3_qpack_stream_context_del(s->sctx);
}

/* Delivers nghttp3's decoder stream to zttp's encoder. */
static void ng_acks(nghttp3_qpack_decoder *dec, zttp_qpack_encoder *e,
                    int deliver) {
  size_t n = nghttp3_qpack_decoder_get_decoder_streamlen(dec);
  if (n == 0) {
    return;
  }
  uint8_t *mem = malloc(n);
  nghttp3_buf b;
  b.begin = b.pos = b.last = mem;
  b.end = mem + n;
  nghttp3_qpack_decoder_write_decoder(dec, &b);
  if (deliver) {
    assert_int_equal(zttp_qpack_encoder_receive_decoder_stream(
                         e, b.pos, (size_t)(b.last - b.pos)),
                     0);
  }
  free(mem);
}

/* zttp encodes |q| with |c|; nghttp3 decodes; the lists must match. */
static void zttp_to_nghttp3(const qf_qif *q, const config *c, int huffman,
                            size_t *enc_bytes) {
  zttp_qpack_encoder_settings es;
  zttp_qpack_encoder_settings_default(&es);
  es.max_table_capacity = c->cap;
  es.huffman = huffman;
  zttp_qpack_encoder e;
  assert_int_equal(zttp_qpack_encoder_init(&e, zttp_mem_default(), &es), 0);
  assert_int_equal(zttp_qpack_encoder_set_peer_settings(&e, c->cap, c->blocked),
                   0);
  nghttp3_qpack_decoder *dec;
  assert_int_equal(nghttp3_qpack_decoder_new(&dec, c->cap, c->blocked,
                                             nghttp3_mem_default()),
                   0);
  ng_section *secs = calloc(q->num, sizeof(*secs));
  uint8_t *held = malloc(1 << 20);
  size_t held_len = 0;
  for (size_t i = 0; i < q->num; i++) {
    const qf_list *l = &q->lists[i];
    size_t bound = zttp_qpack_encode_bound(&e, l->fields, l->num);
    ng_section *s = &secs[i];
    s->sid = (int64_t)(4 * i);
    s->data = malloc(bound);
    int64_t n =
        zttp_qpack_encode(&e, s->data, (uint64_t)s->sid, l->fields, l->num);
    assert_true(n > 0);
    s->len = (size_t)n;
    *enc_bytes += s->len;
    assert_int_equal(nghttp3_qpack_stream_context_new(&s->sctx, s->sid,
                                                      nghttp3_mem_default()),
                     0);
    const uint8_t *p;
    size_t m = zttp_qpack_encoder_stream_pending(&e, &p);
    assert_true(held_len + m <= (1u << 20));
    memcpy(held + held_len, p, m);
    held_len += m;
    zttp_qpack_encoder_stream_consume(&e, m);
    int late = c->ack == ACK_LATE;
    if (late) {
      /* The section first: it may block in nghttp3. */
      ng_run(dec, s);
    }
    if (!late || i % 7 == 6 || i + 1 == q->num) {
      if (held_len > 0) {
        nghttp3_ssize r =
            nghttp3_qpack_decoder_read_encoder(dec, held, held_len);
        assert_int_equal(r, (nghttp3_ssize)held_len);
        held_len = 0;
      }
      for (size_t k = 0; k <= i; k++) {
        if (!secs[k].done && (late || k == i)) {
          ng_run(dec, &secs[k]);
        }
      }
      ng_acks(dec, &e, c->ack != ACK_NONE);
    }
    *enc_bytes += m;
  }
  for (size_t i = 0; i < q->num; i++) {
    ng_section *s = &secs[i];
    assert_true(s->done);
    const qf_list *l = &q->lists[i];
    if (s->n != l->num) {
      fprintf(stderr, "list %zu: nghttp3 decoded %zu fields, %zu sent\n", i,
              s->n, l->num);
      fail();
    }
    for (size_t k = 0; k < s->n; k++) {
      assert_int_equal(s->f[k].name_len, l->fields[k].name_len);
      assert_memory_equal(s->f[k].name, l->fields[k].name, s->f[k].name_len);
      assert_int_equal(s->f[k].value_len, l->fields[k].value_len);
      assert_memory_equal(s->f[k].value, l->fields[k].value, s->f[k].value_len);
    }
    ng_section_free(s);
  }
  free(secs);
  free(held);
  nghttp3_qpack_decoder_del(dec);
  zttp_qpack_encoder_free(&e);
}

static void test_zttp_encoder_nghttp3_decoder(void **state) {
  (void)state;
  size_t runs = 0;
  for (size_t f = 0; f < NUM_QIFS; f++) {
    char path[512];
    snprintf(path, sizeof(path), QPACK_VECTORS "/qifs/qifs/%s.qif",
             qif_names[f]);
    qf_qif q;
    assert_int_equal(qf_qif_load(path, &q), 0);
    for (size_t c = 0; c < NUM_CONFIGS; c++) {
      size_t bytes = 0;
      zttp_to_nghttp3(&q, &configs[c], 1, &bytes);
      runs++;
    }
    size_t bytes = 0;
    zttp_to_nghttp3(&q, &configs[3], 0, &bytes);
    qf_qif_free(&q);
  }
  fprintf(stderr, "# %zu encodings decoded by nghttp3\n", runs);
}

/* ---- nghttp3's encoder, zttp's decoder -------------------------------------
 */

static void nghttp3_to_zttp(const qf_qif *q, const config *c) {
  nghttp3_qpack_encoder *enc;
  const nghttp3_mem *nm = nghttp3_mem_default();
  assert_int_equal(nghttp3_qpack_encoder_new(&enc, c->cap, nm), 0);
  nghttp3_qpack_encoder_set_max_dtable_capacity(enc, c->cap);
  nghttp3_qpack_encoder_set_max_blocked_streams(enc, c->blocked);
  zttp_qpack_decoder_settings ds;
  zttp_qpack_decoder_settings_default(&ds);
  ds.max_table_capacity = c->cap;
  ds.max_blocked_streams = c->blocked;
  ds.max_blocked_bytes = 1 << 20;
  zttp_qpack_decoder d;
  assert_int_equal(zttp_qpack_decoder_init(&d, zttp_mem_default(), &ds), 0);
  qf_results r = {0};
  nghttp3_buf pbuf, rbuf, ebuf;
  nghttp3_buf_init(&pbuf);
  nghttp3_buf_init(&rbuf);
  nghttp3_buf_init(&ebuf);
  qf_record *recs = calloc(2 * q->num + 1, sizeof(*recs));
  uint8_t **owned = calloc(2 * q->num + 1, sizeof(*owned));
  size_t nrec = 0;
  uint8_t *dstream = malloc(1 << 20);
  for (size_t i = 0; i < q->num; i++) {
    const qf_list *l = &q->lists[i];
    nghttp3_nv *nva = calloc(l->num + 1, sizeof(*nva));
    for (size_t k = 0; k < l->num; k++) {
      nva[k].name = (uint8_t *)(uintptr_t)l->fields[k].name;
      nva[k].namelen = l->fields[k].name_len;
      nva[k].value = (uint8_t *)(uintptr_t)l->fields[k].value;
      nva[k].valuelen = l->fields[k].value_len;
    }
    nghttp3_buf_reset(&pbuf);
    nghttp3_buf_reset(&rbuf);
    nghttp3_buf_reset(&ebuf);
    assert_int_equal(nghttp3_qpack_encoder_encode(enc, &pbuf, &rbuf, &ebuf,
                                                  (int64_t)(4 * i + 4), nva,
                                                  l->num),
                     0);
    free(nva);
    size_t el = nghttp3_buf_len(&ebuf);
    size_t sl = nghttp3_buf_len(&pbuf) + nghttp3_buf_len(&rbuf);
    uint8_t *sec = malloc(sl);
    memcpy(sec, pbuf.pos, nghttp3_buf_len(&pbuf));
    memcpy(sec + nghttp3_buf_len(&pbuf), rbuf.pos, nghttp3_buf_len(&rbuf));
    qf_record rs = {4 * i + 4, sec, sl};
    owned[nrec] = sec;
    qf_record re = {0, NULL, 0};
    if (el > 0) {
      uint8_t *eb = malloc(el);
      memcpy(eb, ebuf.pos, el);
      re.data = eb;
      re.len = el;
      owned[nrec + 1] = eb;
    }
    /* Late: the section before its inserts. */
    size_t base = nrec;
    if (c->ack == ACK_LATE) {
      recs[nrec++] = rs;
      if (el > 0) {
        recs[nrec++] = re;
      }
    } else {
      if (el > 0) {
        recs[nrec++] = re;
      }
      recs[nrec++] = rs;
    }
    size_t dlen = 0;
    int32_t rv = qf_decode_records(&d, recs + base, nrec - base, QF_WHOLE, &r,
                                   dstream, &dlen);
    if (rv != 0) {
      fprintf(stderr, "cap %zu blocked %zu ack %d list %zu: %d wire 0x%llx\n",
              c->cap, c->blocked, c->ack, i, rv,
              (unsigned long long)zttp_qpack_decoder_wire_error(&d));
      fail();
    }
    if (c->ack != ACK_NONE && dlen > 0) {
      assert_int_equal(nghttp3_qpack_encoder_read_decoder(enc, dstream, dlen),
                       (nghttp3_ssize)dlen);
    }
    nrec = 0;
    free(owned[0]);
    free(owned[1]);
    owned[0] = owned[1] = NULL;
  }
  char msg[512];
  if (qf_results_check(&r, q, msg, sizeof(msg)) != 0) {
    fprintf(stderr, "nghttp3 -> zttp (cap %zu): %s\n", c->cap, msg);
    fail();
  }
  assert_int_equal(d.num_blocked, 0);
  free(dstream);
  free(owned);
  free(recs);
  qf_results_free(&r);
  nghttp3_buf_free(&pbuf, nm);
  nghttp3_buf_free(&rbuf, nm);
  nghttp3_buf_free(&ebuf, nm);
  zttp_qpack_decoder_free(&d);
  nghttp3_qpack_encoder_del(enc);
}

static void test_nghttp3_encoder_zttp_decoder(void **state) {
  (void)state;
  for (size_t f = 0; f < NUM_QIFS; f++) {
    char path[512];
    snprintf(path, sizeof(path), QPACK_VECTORS "/qifs/qifs/%s.qif",
             qif_names[f]);
    qf_qif q;
    assert_int_equal(qf_qif_load(path, &q), 0);
    for (size_t c = 0; c < NUM_CONFIGS; c++) {
      nghttp3_to_zttp(&q, &configs[c]);
    }
    qf_qif_free(&q);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_zttp_encoder_nghttp3_decoder),
      cmocka_unit_test(test_nghttp3_encoder_zttp_decoder),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
