/* HPACK (RFC 7541): the decoder and encoder the HTTP/2 engine uses.
 *
 * Contract with src/h2 (do not change signatures without updating h2):
 *  - Both tables are rings preallocated at init to their maximum size, so
 *    decoding and encoding never allocate except to grow the output arrays
 *    of a zttp_hpack_fields, and a failed call leaves the table consistent
 *    with what the peer (decoder) or the wire (encoder) has seen.
 *  - The decoder takes one complete header block (HEADERS + CONTINUATION
 *    fragments concatenated by the engine).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_HPACK_HPACK_H
#define ZTTP_HPACK_HPACK_H

#include "zttp/zttp.h"

#include "common/fieldbuf.h"
#include "common/ftable.h"
#include "common/mem.h"

/* RFC 7541 §4.1: an entry's size is its name and value lengths plus 32. */
#define ZTTP_HPACK_ENTRY_OVERHEAD ZTTP_FTABLE_ENTRY_OVERHEAD

/* One entry of a dynamic table. */
typedef struct zttp_hpack_entry {
  uint32_t off;      /* ring offset of the name in |bytes|; the value follows */
  uint32_t name_len; /* the entry's bytes may wrap around the ring's end */
  uint32_t value_len;
  uint32_t hash; /* encoder: hash of the name */
  uint64_t next; /* encoder: sequence number of the next older entry in
                    the same hash bucket */
} zttp_hpack_entry;

/* One dynamic table: a ring of entries over a byte ring, |max_size| bytes of
 * RFC 7541 §4.1 size at most. Every array is allocated at init: the byte
 * ring holds |capacity| bytes, which is enough because each entry's RFC size
 * is 32 more than its bytes. Entries are numbered in insertion order
 * (sequence numbers); the encoder chains them per name hash, newest first,
 * and a chain ends at the first sequence number that is no longer in the
 * table (so eviction never touches the chains). */
typedef struct zttp_hpack_table {
  const zttp_mem *mem;
  uint8_t *bytes;         /* entry bytes (name then value), ring */
  zttp_hpack_entry *ents; /* entries, ring */
  uint64_t *buckets;      /* encoder: newest sequence number per bucket */
  size_t ents_cap;        /* max entries: capacity / 32 + 1 */
  size_t num_buckets;     /* encoder: a power of two (0 in a decoder) */
  size_t first;           /* ring index of the oldest entry */
  size_t num;             /* entries in the table */
  size_t size;            /* current RFC size */
  size_t max_size;        /* current maximum (<= capacity) */
  size_t capacity;        /* the most max_size can ever be */
  size_t bytes_head;      /* ring offset of the next entry's bytes */
  uint64_t next_seq;      /* sequence number of the next entry */
} zttp_hpack_table;

/* The decoded fields of one block. fields[i].name/value point into |bytes|
 * (or static memory) after a successful decode and stay valid until the next
 * decode into the same object or zttp_hpack_fields_free(). Decoded names are
 * exactly as on the wire (HPACK carries lowercase names; the engine checks
 * case). fields[i].flags has ZTTP_HEADER_NEVER_INDEX for never-indexed
 * literals. Arrays grow by doubling and are reused. */
typedef zttp_fieldbuf zttp_hpack_fields;

void zttp_hpack_fields_free(zttp_hpack_fields *f, const zttp_mem *mem);

typedef struct zttp_hpack_decoder {
  zttp_hpack_table table;
  /* The size we advertise (SETTINGS_HEADER_TABLE_SIZE): a size update above
   * it (or above the preallocated capacity) is a COMPRESSION_ERROR. Set it
   * when the peer acknowledges the SETTINGS; while the table's current
   * maximum is above it, the next block must start with a size update
   * (RFC 7541 §4.2), else COMPRESSION_ERROR. */
  size_t settings_max;
} zttp_hpack_decoder;

/* zttp_hpack_decoder_init preallocates a table of |max_table_size| bytes
 * (may be 0) and sets settings_max to it; the table's maximum starts at
 * min(max_table_size, 4096), the peer encoder's RFC 7541 initial size.
 * Returns 0 or ZTTP_ERR_NOMEM (nothing allocated then; freeing |d| is a
 * no-op). */
int32_t zttp_hpack_decoder_init(zttp_hpack_decoder *d, const zttp_mem *mem,
                                size_t max_table_size);
void zttp_hpack_decoder_free(zttp_hpack_decoder *d);

/* zttp_hpack_decode decodes the complete block |in| (|len| bytes) into |out|
 * (previous contents dropped). Limits: at most |max_fields| fields and a
 * header list size (RFC 9113 §6.5.2: sum of name + value + 32) of at most
 * |max_list_size|. Returns:
 *  - 0 on success;
 *  - ZTTP_ERR_COMPRESSION for any malformed block (bad index, integer
 *    overflow past 2^32 - 1 or past the input, bad Huffman padding or EOS,
 *    size update above settings_max or not at the start of the block,
 *    truncated block): a connection error, the table may be inconsistent;
 *  - ZTTP_ERR_LIMIT_HEADERS / ZTTP_ERR_LIMIT_HEADER_BYTES when a limit was
 *    exceeded: the WHOLE block was still processed, so the dynamic table
 *    stays in sync and the engine may reset only the stream; the work and
 *    memory spent stay bounded by |len| and the table size (fields past the
 *    limit are not stored); the first limit exceeded is reported;
 *  - ZTTP_ERR_NOMEM (growing |out|): a connection error, the table may be
 *    inconsistent.
 * On any error |out| holds no fields (num_fields is 0). */
int32_t zttp_hpack_decode(zttp_hpack_decoder *d, zttp_hpack_fields *out,
                          const uint8_t *in, size_t len, size_t max_fields,
                          size_t max_list_size);

typedef struct zttp_hpack_encoder {
  zttp_hpack_table table;
  /* Our own cap (ZTTP_LIMIT_ENCODER_TABLE_SIZE). */
  size_t local_max;
  /* Smallest and last peer-allowed size since the last block: emitted as
   * dynamic table size updates at the start of the next block (RFC 7541
   * §4.2). */
  size_t pending_min;
  size_t pending_last;
  int pending_update;
} zttp_hpack_encoder;

/* zttp_hpack_encoder_init preallocates a table of |local_max| bytes; the
 * table starts at min(local_max, 4096) (the RFC 7541 initial size the peer
 * allows until its SETTINGS say otherwise). Returns 0 or ZTTP_ERR_NOMEM. */
int32_t zttp_hpack_encoder_init(zttp_hpack_encoder *e, const zttp_mem *mem,
                                size_t local_max);
void zttp_hpack_encoder_free(zttp_hpack_encoder *e);

/* zttp_hpack_encoder_set_peer_max records the peer's
 * SETTINGS_HEADER_TABLE_SIZE; the next block starts with the size
 * update(s) RFC 7541 §4.2 requires (min(local_max, peer)). */
void zttp_hpack_encoder_set_peer_max(zttp_hpack_encoder *e, size_t peer_max);

/* zttp_hpack_encode_bound returns an upper bound of the bytes
 * zttp_hpack_encode() writes for these fields (including size updates). */
size_t zttp_hpack_encode_bound(const zttp_hpack_encoder *e,
                               const zttp_header *fields, size_t num_fields);

/* zttp_hpack_encode writes the block for |fields| (names must already be
 * lowercase; pseudo-headers first, as given) into |dst|, which has at least
 * zttp_hpack_encode_bound() bytes, and returns the bytes written. It never
 * fails: the caller reserved the room and the table never allocates.
 * Indexing policy: static/dynamic exact matches are indexed; name matches
 * use the indexed name; fields with ZTTP_HEADER_NEVER_INDEX, authorization,
 * proxy-authorization, cookie values under 20 bytes and set-cookie are
 * never-indexed literals; :path, content-length, etag, if-modified-since,
 * if-none-match, location, age, date, last-modified and values larger than
 * 3/4 of the table are literals without indexing; everything else is
 * inserted. Huffman is used when it is shorter. */
size_t zttp_hpack_encode(zttp_hpack_encoder *e, uint8_t *dst,
                         const zttp_header *fields, size_t num_fields);

#endif
