/* QPACK prefix integers (RFC 9204 §4.1.1, the RFC 7541 §5.1 encoding of
 * src/common/prefix_int.h) with QPACK's cap of 2^62 - 1, read through the
 * bounds-checked reader. Shared by the decoder, the encoder and the tests.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QPACK_INT_H
#define ZTTP_QPACK_INT_H

#include "zttp/zttp.h"

#include "common/prefix_int.h"
#include "common/reader.h"

/* The most bytes zttp_qpack_int_put() writes. */
#define ZTTP_QPACK_INT_MAX_LEN ZTTP_PREFIX_INT_MAX_LEN

/* The largest integer zttp accepts: 2^62 - 1 (stream IDs, RFC 9000 §2.1). */
#define ZTTP_QPACK_INT_MAX ((UINT64_C(1) << 62) - 1)

/* Results of zttp_qpack_int_read(). */
#define ZTTP_QPACK_INT_OK ZTTP_PREFIX_INT_OK
#define ZTTP_QPACK_INT_SHORT ZTTP_PREFIX_INT_SHORT /* the input ends inside */
#define ZTTP_QPACK_INT_BAD ZTTP_PREFIX_INT_BAD /* above ZTTP_QPACK_INT_MAX */

/* zttp_qpack_int_read_more finishes an integer whose prefix bits were all
 * 1s (|v| is the prefix value) from the continuation bytes at the reader.
 * Returns ZTTP_QPACK_INT_OK and advances, or ZTTP_QPACK_INT_SHORT /
 * ZTTP_QPACK_INT_BAD leaving the reader where it was. */
int zttp_qpack_int_read_more(zttp_rd *rd, uint64_t v, uint64_t *out);

/* zttp_qpack_int_read reads an integer with a |prefix|-bit prefix (1..8)
 * whose first byte is the reader's next byte. Returns ZTTP_QPACK_INT_OK and
 * advances, or ZTTP_QPACK_INT_SHORT (also for an empty reader) or
 * ZTTP_QPACK_INT_BAD, leaving the reader where it was. */
static inline int zttp_qpack_int_read(zttp_rd *rd, unsigned prefix,
                                      uint64_t *out) {
  uint8_t b;
  zttp_rd save = *rd;
  if (!zttp_rd_u8(rd, &b)) {
    return ZTTP_QPACK_INT_SHORT;
  }
  uint64_t mask = (1u << prefix) - 1;
  uint64_t v = b & mask;
  if (__builtin_expect(v < mask, 1)) {
    *out = v;
    return ZTTP_QPACK_INT_OK;
  }
  int rv = zttp_qpack_int_read_more(rd, v, out);
  if (rv != ZTTP_QPACK_INT_OK) {
    *rd = save;
  }
  return rv;
}

/* zttp_qpack_int_len is zttp_prefix_int_len(). */
static inline size_t zttp_qpack_int_len(unsigned prefix, uint64_t v) {
  return zttp_prefix_int_len(prefix, v);
}

/* zttp_qpack_int_put is zttp_prefix_int_put(). */
static inline uint8_t *zttp_qpack_int_put(uint8_t *o, uint8_t first,
                                          unsigned prefix, uint64_t v) {
  return zttp_prefix_int_put(o, first, prefix, v);
}

#endif
