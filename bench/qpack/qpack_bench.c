/* QPACK throughput: zttp (src/qpack, from the static zttp_internal library)
 * against Debian's libnghttp3 QPACK (nghttp3_qpack_encoder_* /
 * nghttp3_qpack_decoder_*), interleaved in one process.
 *
 *   qpack_bench [--qifs DIR] [--rounds N] [--seconds S] [--only QIF]
 *
 * Workloads, per QIF of the qifs interop corpus (tests/qpack/vectors):
 *  - encode: every header list of the file, one fresh encoder per
 *    iteration (peer table capacity 4096, 100 blocked streams), each
 *    section acknowledged at once (the same Section Acknowledgment bytes
 *    fed to both encoders), the encoder stream drained;
 *  - decode: the records nghttp3's encoder produced for the file (same
 *    settings), encoder stream then section, decoded with one fresh decoder
 *    per iteration, the decoder stream drained.
 * Before timing, every output is checked: zttp's sections decode with
 * zttp's decoder to the QIF, and both decoders' fields are compared. The
 * time per iteration is the median of the rounds (CPU time of this
 * thread); ratio = nghttp3 time / zttp time (> 1: zttp faster).
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nghttp3/nghttp3.h>

#include "qifs.h"
#include "qpack/qpack.h"

#ifndef QPACK_VECTORS
#define QPACK_VECTORS "tests/qpack/vectors"
#endif

#define CAP 4096
#define BLOCKED 100

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *m) {
  fprintf(stderr, "qpack_bench: %s\n", m);
  exit(2);
}

typedef struct workload {
  const char *qif;
  qf_qif q;
  nghttp3_nv **nvs; /* per list */
  /* decode input: nghttp3's records */
  qf_record *recs;
  size_t num_recs;
  uint8_t **owned;
  size_t wire_bytes;  /* decode: section + encoder-stream bytes */
  size_t field_bytes; /* name + value bytes of the QIF */
} workload;

static uint8_t secbuf[1 << 16];
static volatile uint64_t sink;

/* Section Acknowledgment for |sid| (RFC 9204 §4.4.1). */
static size_t ack_bytes(uint8_t *o, uint64_t sid) {
  size_t n = 0;
  if (sid < 127) {
    o[n++] = (uint8_t)(0x80 | sid);
    return n;
  }
  o[n++] = 0xff;
  sid -= 127;
  while (sid >= 128) {
    o[n++] = (uint8_t)(0x80 | (sid & 0x7f));
    sid >>= 7;
  }
  o[n++] = (uint8_t)sid;
  return n;
}

/* ---- encode ----------------------------------------------------------------
 */

static uint64_t zttp_encode(const workload *w) {
  zttp_qpack_encoder e;
  uint64_t total = 0;
  if (zttp_qpack_encoder_init(&e, zttp_mem_default(), NULL) != 0) {
    die("zttp encoder init");
  }
  zttp_qpack_encoder_set_peer_settings(&e, CAP, BLOCKED);
  for (size_t i = 0; i < w->q.num; i++) {
    const qf_list *l = &w->q.lists[i];
    int64_t n = zttp_qpack_encode(&e, secbuf, 4 * i + 4, l->fields, l->num);
    const uint8_t *p;
    size_t m = zttp_qpack_encoder_stream_pending(&e, &p);
    zttp_qpack_encoder_stream_consume(&e, m);
    total += (uint64_t)n + m;
    if (secbuf[0] != 0) {
      uint8_t a[16];
      size_t k = ack_bytes(a, 4 * i + 4);
      zttp_qpack_encoder_receive_decoder_stream(&e, a, k);
    }
  }
  zttp_qpack_encoder_free(&e);
  return total;
}

static uint64_t ng_encode(const workload *w) {
  const nghttp3_mem *mem = nghttp3_mem_default();
  nghttp3_qpack_encoder *enc;
  uint64_t total = 0;
  if (nghttp3_qpack_encoder_new(&enc, CAP, mem) != 0) {
    die("nghttp3 encoder");
  }
  nghttp3_qpack_encoder_set_max_dtable_capacity(enc, CAP);
  nghttp3_qpack_encoder_set_max_blocked_streams(enc, BLOCKED);
  nghttp3_buf pb, rb, eb;
  nghttp3_buf_init(&pb);
  nghttp3_buf_init(&rb);
  nghttp3_buf_init(&eb);
  for (size_t i = 0; i < w->q.num; i++) {
    nghttp3_buf_reset(&pb);
    nghttp3_buf_reset(&rb);
    nghttp3_buf_reset(&eb);
    if (nghttp3_qpack_encoder_encode(enc, &pb, &rb, &eb, (int64_t)(4 * i + 4),
                                     w->nvs[i], w->q.lists[i].num) != 0) {
      die("nghttp3 encode");
    }
    total += nghttp3_buf_len(&pb) + nghttp3_buf_len(&rb) + nghttp3_buf_len(&eb);
    if (pb.pos[0] != 0) {
      uint8_t a[16];
      size_t k = ack_bytes(a, 4 * i + 4);
      nghttp3_qpack_encoder_read_decoder(enc, a, k);
    }
  }
  nghttp3_buf_free(&pb, mem);
  nghttp3_buf_free(&rb, mem);
  nghttp3_buf_free(&eb, mem);
  nghttp3_qpack_encoder_del(enc);
  return total;
}

/* ---- decode ----------------------------------------------------------------
 */

static uint64_t zttp_decode(const workload *w) {
  zttp_qpack_decoder_settings s;
  zttp_qpack_decoder_settings_default(&s);
  s.max_table_capacity = CAP;
  s.max_blocked_streams = BLOCKED;
  zttp_qpack_decoder d;
  zttp_qpack_fields out;
  memset(&out, 0, sizeof(out));
  uint64_t total = 0;
  if (zttp_qpack_decoder_init(&d, zttp_mem_default(), &s) != 0) {
    die("zttp decoder init");
  }
  for (size_t i = 0; i < w->num_recs; i++) {
    const qf_record *r = &w->recs[i];
    if (r->stream == 0) {
      if (zttp_qpack_decoder_receive_encoder_stream(&d, r->data, r->len) < 0) {
        die("zttp encoder stream");
      }
      continue;
    }
    if (zttp_qpack_decode(&d, &out, r->stream, r->data, r->len) != 0) {
      die("zttp decode");
    }
    for (size_t k = 0; k < out.num_fields; k++) {
      total += out.fields[k].name_len + out.fields[k].value_len;
    }
    const uint8_t *p;
    size_t m = zttp_qpack_decoder_stream_pending(&d, &p);
    zttp_qpack_decoder_stream_consume(&d, m);
  }
  zttp_qpack_fields_free(&out, zttp_mem_default());
  zttp_qpack_decoder_free(&d);
  return total;
}

static uint64_t ng_decode(const workload *w, qf_results *res) {
  const nghttp3_mem *mem = nghttp3_mem_default();
  nghttp3_qpack_decoder *dec;
  uint64_t total = 0;
  if (nghttp3_qpack_decoder_new(&dec, CAP, BLOCKED, mem) != 0) {
    die("nghttp3 decoder");
  }
  uint8_t dsb[4096];
  zttp_header f[512];
  for (size_t i = 0; i < w->num_recs; i++) {
    const qf_record *r = &w->recs[i];
    if (r->stream == 0) {
      if (nghttp3_qpack_decoder_read_encoder(dec, r->data, r->len) !=
          (nghttp3_ssize)r->len) {
        die("nghttp3 encoder stream");
      }
      continue;
    }
    nghttp3_qpack_stream_context *sctx;
    nghttp3_qpack_stream_context_new(&sctx, (int64_t)r->stream, mem);
    size_t off = 0, nf = 0;
    for (;;) {
      nghttp3_qpack_nv nv;
      uint8_t flags = 0;
      nghttp3_ssize n = nghttp3_qpack_decoder_read_request(
          dec, sctx, &nv, &flags, r->data + off, r->len - off, 1);
      if (n < 0) {
        die("nghttp3 decode");
      }
      off += (size_t)n;
      if (flags & NGHTTP3_QPACK_DECODE_FLAG_EMIT) {
        nghttp3_vec a = nghttp3_rcbuf_get_buf(nv.name);
        nghttp3_vec b = nghttp3_rcbuf_get_buf(nv.value);
        total += a.len + b.len;
        if (res != NULL && nf < 512) {
          zttp_header h = {
              (const char *)a.base, a.len, (const char *)b.base, b.len, 0, 0};
          f[nf++] = h;
        }
        if (res == NULL) {
          nghttp3_rcbuf_decref(nv.name);
          nghttp3_rcbuf_decref(nv.value);
        }
      }
      if (flags & (NGHTTP3_QPACK_DECODE_FLAG_FINAL |
                   NGHTTP3_QPACK_DECODE_FLAG_BLOCKED)) {
        break;
      }
    }
    if (res != NULL) {
      qf_results_add(res, r->stream, f, nf);
      /* (the rcbufs of the checked run are leaked on purpose: once) */
    }
    nghttp3_qpack_stream_context_del(sctx);
    nghttp3_buf db;
    db.begin = db.pos = db.last = dsb;
    db.end = dsb + sizeof(dsb);
    if (nghttp3_qpack_decoder_get_decoder_streamlen(dec) <= sizeof(dsb)) {
      nghttp3_qpack_decoder_write_decoder(dec, &db);
    }
  }
  nghttp3_qpack_decoder_del(dec);
  return total;
}

/* ---- setup and checks
 * -------------------------------------------------------- */

static void setup(workload *w, const char *dir) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/qifs/qifs/%s.qif", dir, w->qif);
  if (qf_qif_load(path, &w->q) != 0) {
    die(path);
  }
  w->nvs = calloc(w->q.num, sizeof(*w->nvs));
  for (size_t i = 0; i < w->q.num; i++) {
    const qf_list *l = &w->q.lists[i];
    w->nvs[i] = calloc(l->num + 1, sizeof(nghttp3_nv));
    for (size_t k = 0; k < l->num; k++) {
      w->nvs[i][k].name = (uint8_t *)(uintptr_t)l->fields[k].name;
      w->nvs[i][k].namelen = l->fields[k].name_len;
      w->nvs[i][k].value = (uint8_t *)(uintptr_t)l->fields[k].value;
      w->nvs[i][k].valuelen = l->fields[k].value_len;
      w->field_bytes += l->fields[k].name_len + l->fields[k].value_len;
    }
  }
  /* nghttp3's encoding, acknowledged at once. */
  const nghttp3_mem *mem = nghttp3_mem_default();
  nghttp3_qpack_encoder *enc;
  nghttp3_qpack_encoder_new(&enc, CAP, mem);
  nghttp3_qpack_encoder_set_max_dtable_capacity(enc, CAP);
  nghttp3_qpack_encoder_set_max_blocked_streams(enc, BLOCKED);
  w->recs = calloc(2 * w->q.num, sizeof(*w->recs));
  w->owned = calloc(2 * w->q.num, sizeof(*w->owned));
  nghttp3_buf pb, rb, eb;
  nghttp3_buf_init(&pb);
  nghttp3_buf_init(&rb);
  nghttp3_buf_init(&eb);
  for (size_t i = 0; i < w->q.num; i++) {
    nghttp3_buf_reset(&pb);
    nghttp3_buf_reset(&rb);
    nghttp3_buf_reset(&eb);
    nghttp3_qpack_encoder_encode(enc, &pb, &rb, &eb, (int64_t)(4 * i + 4),
                                 w->nvs[i], w->q.lists[i].num);
    size_t el = nghttp3_buf_len(&eb);
    if (el > 0) {
      uint8_t *b = malloc(el);
      memcpy(b, eb.pos, el);
      w->owned[w->num_recs] = b;
      w->recs[w->num_recs++] = (qf_record){0, b, el};
      w->wire_bytes += el;
    }
    size_t pl = nghttp3_buf_len(&pb), sl = pl + nghttp3_buf_len(&rb);
    uint8_t *b = malloc(sl);
    memcpy(b, pb.pos, pl);
    memcpy(b + pl, rb.pos, sl - pl);
    w->owned[w->num_recs] = b;
    w->recs[w->num_recs++] = (qf_record){4 * i + 4, b, sl};
    w->wire_bytes += sl;
    if (b[0] != 0) {
      uint8_t a[16];
      size_t k = ack_bytes(a, 4 * i + 4);
      nghttp3_qpack_encoder_read_decoder(enc, a, k);
    }
  }
  nghttp3_buf_free(&pb, mem);
  nghttp3_buf_free(&rb, mem);
  nghttp3_buf_free(&eb, mem);
  nghttp3_qpack_encoder_del(enc);
}

static void verify(workload *w) {
  /* zttp's decoder on nghttp3's records and nghttp3's decoder on the same
   * records give the QIF. */
  zttp_qpack_decoder_settings s;
  zttp_qpack_decoder_settings_default(&s);
  s.max_table_capacity = CAP;
  s.max_blocked_streams = BLOCKED;
  zttp_qpack_decoder d;
  zttp_qpack_decoder_init(&d, zttp_mem_default(), &s);
  qf_results r = {0}, rn = {0};
  char msg[512];
  if (qf_decode_records(&d, w->recs, w->num_recs, QF_WHOLE, &r, NULL, NULL) !=
          0 ||
      qf_results_check(&r, &w->q, msg, sizeof(msg)) != 0) {
    die("zttp decoder disagrees with the QIF");
  }
  zttp_qpack_decoder_free(&d);
  qf_results_free(&r);
  ng_decode(w, &rn);
  if (qf_results_check(&rn, &w->q, msg, sizeof(msg)) != 0) {
    die("nghttp3 decoder disagrees with the QIF");
  }
  qf_results_free(&rn);
  if (zttp_decode(w) != w->field_bytes ||
      ng_decode(w, NULL) != w->field_bytes) {
    die("decoded byte counts differ");
  }
  /* zttp's encoding decodes (with zttp's decoder) to the QIF. */
  zttp_qpack_encoder e;
  zttp_qpack_encoder_init(&e, zttp_mem_default(), NULL);
  zttp_qpack_encoder_set_peer_settings(&e, CAP, BLOCKED);
  zttp_qpack_decoder_init(&d, zttp_mem_default(), &s);
  zttp_qpack_fields out;
  memset(&out, 0, sizeof(out));
  for (size_t i = 0; i < w->q.num; i++) {
    const qf_list *l = &w->q.lists[i];
    int64_t n = zttp_qpack_encode(&e, secbuf, 4 * i + 4, l->fields, l->num);
    const uint8_t *p;
    size_t m = zttp_qpack_encoder_stream_pending(&e, &p);
    zttp_qpack_decoder_receive_encoder_stream(&d, p, m);
    zttp_qpack_encoder_stream_consume(&e, m);
    if (zttp_qpack_decode(&d, &out, 4 * i + 4, secbuf, (size_t)n) != 0 ||
        out.num_fields != l->num) {
      die("zttp's encoding does not decode");
    }
    m = zttp_qpack_decoder_stream_pending(&d, &p);
    zttp_qpack_encoder_receive_decoder_stream(&e, p, m);
    zttp_qpack_decoder_stream_consume(&d, m);
  }
  zttp_qpack_fields_free(&out, zttp_mem_default());
  zttp_qpack_decoder_free(&d);
  zttp_qpack_encoder_free(&e);
}

/* ---- timing
 * ------------------------------------------------------------------ */

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef uint64_t (*run_fn)(const workload *w, int impl);

static uint64_t run_enc(const workload *w, int impl) {
  return impl == 0 ? zttp_encode(w) : ng_encode(w);
}

static uint64_t run_dec(const workload *w, int impl) {
  return impl == 0 ? zttp_decode(w) : ng_decode(w, NULL);
}

/* time_one returns the median seconds per iteration of each impl. */
static void time_one(const workload *w, run_fn fn, int rounds, double secs,
                     double out[2]) {
  double *t[2] = {calloc((size_t)rounds, sizeof(double)),
                  calloc((size_t)rounds, sizeof(double))};
  for (int r = 0; r < rounds; r++) {
    for (int impl = 0; impl < 2; impl++) {
      long it = 0;
      double t0 = now(), el;
      do {
        sink += fn(w, impl);
        it++;
      } while ((el = now() - t0) < secs);
      t[impl][r] = el / (double)it;
    }
  }
  for (int impl = 0; impl < 2; impl++) {
    qsort(t[impl], (size_t)rounds, sizeof(double), cmp_d);
    out[impl] = t[impl][rounds / 2];
    free(t[impl]);
  }
}

int main(int argc, char **argv) {
  const char *dir = QPACK_VECTORS;
  int rounds = 5;
  double secs = 0.2;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--qifs") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      secs = atof(argv[++i]);
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      fprintf(stderr, "usage: qpack_bench [--qifs DIR] [--rounds N] "
                      "[--seconds S] [--only QIF]\n");
      return 2;
    }
  }
  if (rounds < 1) {
    rounds = 1;
  }
  workload ws[] = {{.qif = "netbsd-hq"},
                   {.qif = "fb-req-hq"},
                   {.qif = "fb-resp-hq"},
                   {.qif = "fb-req"},
                   {.qif = "fb-resp"}};
  size_t nw = sizeof(ws) / sizeof(ws[0]);
  if (only != NULL) {
    /* One workload (profiling). */
    size_t k = 0;
    while (k < nw && strcmp(ws[k].qif, only) != 0) {
      k++;
    }
    if (k == nw) {
      die("--only: no such workload");
    }
    ws[0] = ws[k];
    nw = 1;
  }
  for (size_t i = 0; i < nw; i++) {
    setup(&ws[i], dir);
    verify(&ws[i]);
    printf("%s: %zu field bytes; encoded bytes (sections + encoder stream): "
           "zttp %llu, nghttp3 %llu\n",
           ws[i].qif, ws[i].field_bytes,
           (unsigned long long)zttp_encode(&ws[i]),
           (unsigned long long)ng_encode(&ws[i]));
  }
  printf("verified: zttp and nghttp3 decode nghttp3's encoding to the QIFs; "
         "zttp's encoding decodes\n");
  printf("| workload | lists | zttp MB/s | nghttp3 MB/s | ratio |\n");
  printf("|---|---:|---:|---:|---:|\n");
  double geo[2] = {0, 0};
  int cnt[2] = {0, 0};
  for (int kind = 0; kind < 2; kind++) {
    for (size_t i = 0; i < nw; i++) {
      double t[2];
      time_one(&ws[i], kind == 0 ? run_enc : run_dec, rounds, secs, t);
      double mb = (double)ws[i].field_bytes / 1e6;
      printf("| %s %s | %zu | %.1f | %.1f | %.2fx |\n",
             kind == 0 ? "encode" : "decode", ws[i].qif, ws[i].q.num, mb / t[0],
             mb / t[1], t[1] / t[0]);
      geo[kind] += __builtin_log(t[1] / t[0]);
      cnt[kind]++;
    }
  }
  printf("geometric mean ratio: encode %.2fx, decode %.2fx (field bytes per "
         "second; ratio = nghttp3 time / zttp time)\n",
         __builtin_exp(geo[0] / cnt[0]), __builtin_exp(geo[1] / cnt[1]));
  return 0;
}
