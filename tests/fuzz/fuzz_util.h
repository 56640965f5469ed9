/* What the fuzz targets share whatever they fuzz: the ZTTP_FUZZ_IGNORE
 * list, the CHECK macro of the decoder targets, a counting allocator with
 * a cap, the filler bytes the applications send, and, for the connection
 * targets over QUIC (quic_fuzz.h, h3_fuzz.h), their common input layout:
 *
 *   sel0, sel1 (1 byte each): the target's selectors
 *   A (20 bytes), B (8 bytes): connection IDs as recorded
 *   then records, each:
 *     delta (2 bytes, big-endian): milliseconds to advance the clock
 *     flags_len (2 bytes, big-endian): the datagram length under the
 *       target's mask (cut short at the end of the input), the target's
 *       flags above it, bit 15 always FUZZ_REC_NO_SUBST
 *     the datagram.
 *
 * CID substitution: a connection picks its CIDs with zttp_crypto_random,
 * so recorded datagrams name other CIDs than a fresh connection's. The
 * driver learns the connection's CIDs from the first long-header datagram
 * it writes (fuzz_cids_learn) and replaces the recorded bytes with the live
 * ones in every datagram it feeds (fuzz_cids_substitute): A (the SCID, its
 * first cid_len bytes) wherever it occurs, and on a client B too (its
 * original DCID, which the server echoes in its transport parameters, RFC
 * 9000 §7.3).
 *
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_FUZZ_UTIL_H
#define ZTTP_TESTS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "zttp/zttp.h"

#include "quic/packet.h"

/* ZTTP_FUZZ_IGNORE=tag,tag... turns the checks with those tags into log
 * lines, to keep fuzzing past a known, reported bug. */
int fuzz_ignored(const char *tag);

/* ---- decoder checks ----------------------------------------------------- */

/* A target that defines FUZZ_TARGET (its name, a string literal) before
 * including this header gets CHECK(cond, fmt, ...): abort with the
 * condition and the message unless |cond| holds. */
#ifdef FUZZ_TARGET
#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, FUZZ_TARGET ": %s:%d: check failed: %s: ", __FILE__,     \
              __LINE__, #cond);                                                \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      abort();                                                                 \
    }                                                                          \
  } while (0)
#endif

/* ---- counting allocator ------------------------------------------------- */

#define FUZZ_MEM_CAP (64u << 20)

/* Counts the live bytes and calls |fail| ("more than 64 MiB allocated")
 * past FUZZ_MEM_CAP. */
typedef struct fuzz_mem {
  zttp_allocator alloc;
  size_t live;
  size_t peak;
  void (*fail)(const char *what);
} fuzz_mem;

void fuzz_mem_init(fuzz_mem *m, void (*fail)(const char *what));

/* ---- filler ------------------------------------------------------------- */

#define FUZZ_PATTERN_LEN 4096

/* fuzz_pattern returns FUZZ_PATTERN_LEN bytes "abc...zab...". */
const uint8_t *fuzz_pattern(void);

/* ---- the datagram records (layout above) -------------------------------- */

#define FUZZ_REC_HDR_LEN (2 + ZTTP_QUIC_MAX_CID_LEN + 8)
#define FUZZ_REC_LEN 4
#define FUZZ_REC_NO_SUBST 0x8000u
#define FUZZ_T0 1000000000ull /* the clock at the start */
#define FUZZ_NS_PER_MS 1000000ull

typedef struct fuzz_records {
  const uint8_t *data;
  size_t size;
  size_t off;
  uint32_t len_mask;
} fuzz_records;

typedef struct fuzz_record {
  zttp_tstamp delta; /* nanoseconds */
  uint32_t flags;    /* flags_len above the length mask */
  const uint8_t *d;  /* borrowed from the input */
  size_t n;
} fuzz_record;

typedef struct fuzz_cids fuzz_cids;

/* fuzz_records_start returns 0 when the input is shorter than its header;
 * the datagram lengths are flags_len & |len_mask| (at most 0x7fff). */
int fuzz_records_start(fuzz_records *in, const uint8_t *data, size_t size,
                       uint32_t len_mask);
/* fuzz_records_next reads the next record into |rec|; 0 at the end. */
int fuzz_records_next(fuzz_records *in, fuzz_record *rec);
/* fuzz_records_take returns a copy of |rec|'s datagram (valid until the
 * next call) in which the recorded CIDs are replaced with |c|'s
 * (fuzz_cids_substitute) unless the record's FUZZ_REC_NO_SUBST or the
 * selectors (|subst| 0) say not to. */
uint8_t *fuzz_records_take(const fuzz_records *in, const fuzz_record *rec,
                           const fuzz_cids *c, uint32_t role, int subst);

/* ---- CID substitution ---------------------------------------------------- */

struct fuzz_cids {
  int known;
  zttp_quic_cid scid;
  zttp_quic_cid dcid;
};

/* fuzz_cids_learn takes the CIDs from |d| (a datagram the connection
 * wrote) when none are known yet and it starts with a long header whose
 * SCID is |cid_len| bytes. */
void fuzz_cids_learn(fuzz_cids *c, const uint8_t *d, size_t n, size_t cid_len);
/* fuzz_cids_substitute replaces, in |d|, the recorded A (and on a client
 * B) of the input with the live CIDs, once they are known. */
void fuzz_cids_substitute(const fuzz_cids *c, uint32_t role,
                          const fuzz_records *in, uint8_t *d, size_t n);

#endif
