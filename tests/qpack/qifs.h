/* QPACK interop files (vectors/qifs, see its README.md): QIF header lists,
 * encoded record files, and a driver that decodes records with zttp's
 * decoder. Shared by the QPACK tests and bench/qpack.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_QPACK_QIFS_H
#define ZTTP_TESTS_QPACK_QIFS_H

#include <stddef.h>
#include <stdint.h>

#include "qpack/qpack.h"

/* One header list. */
typedef struct qf_list {
  zttp_header *fields;
  size_t num;
} qf_list;

/* A QIF file: its header lists in order; names and values point into
 * |buf|. */
typedef struct qf_qif {
  qf_list *lists;
  size_t num;
  char *buf;
} qf_qif;

/* One record of an encoded file: stream 0 is the encoder stream. */
typedef struct qf_record {
  uint64_t stream;
  const uint8_t *data;
  size_t len;
} qf_record;

typedef struct qf_encoded {
  uint8_t *buf;
  qf_record *recs;
  size_t num;
} qf_encoded;

/* qf_read_file reads a whole file (malloc'd; *data NUL-terminated).
 * Returns 0 or -1. */
int qf_read_file(const char *path, uint8_t **data, size_t *len);

/* qf_qif_load parses the QIF file |path|. Returns 0 or -1. */
int qf_qif_load(const char *path, qf_qif *q);
void qf_qif_free(qf_qif *q);

/* qf_encoded_load parses an encoded file. Returns 0 or -1 (malformed). */
int qf_encoded_load(const char *path, qf_encoded *e);
void qf_encoded_free(qf_encoded *e);

/* The decoded header lists of a run, by stream (deep copies). */
typedef struct qf_decoded {
  uint64_t stream;
  qf_list list;
  char *bytes;
} qf_decoded;

typedef struct qf_results {
  qf_decoded *v;
  size_t num;
  size_t cap;
} qf_results;

/* qf_results_add deep-copies a decoded list. */
void qf_results_add(qf_results *r, uint64_t stream, const zttp_header *f,
                    size_t n);
void qf_results_free(qf_results *r);

/* qf_results_check sorts |r| by stream and compares it with the lists of
 * |q| (names, values, count). Returns 0 or -1 with a message in |msg|. */
int qf_results_check(qf_results *r, const qf_qif *q, char *msg, size_t len);

/* Split modes of qf_decode_records(). */
#define QF_WHOLE (-1L) /* each record in one call */
#define QF_BYTES (-2L) /* encoder-stream records one byte per call */

/* qf_decode_records feeds |recs| to |d| in order (|split|: QF_WHOLE,
 * QF_BYTES, or k >= 0: the encoder stream split in two calls at its byte
 * k), decoding each section now or when its inserts arrive, collecting the
 * lists in |r| and appending the decoder-stream bytes to |dstream| (may be
 * NULL; |dstream_len| updated, room for 1 MiB assumed). Returns 0 or the
 * first error. */
int32_t qf_decode_records(zttp_qpack_decoder *d, const qf_record *recs,
                          size_t num, long split, qf_results *r,
                          uint8_t *dstream, size_t *dstream_len);

/* qf_parse_name parses "<qif>.out.T.B.A" from an encoded file's name.
 * Returns 0 or -1. */
int qf_parse_name(const char *file, char *qif, size_t qif_len, unsigned long *t,
                  unsigned long *b, unsigned long *a);

#endif
