/* QPACK (RFC 9204): the decoder and encoder the HTTP/3 engine drives.
 *
 * Sans-IO: the engine hands in the bytes of the peer's encoder stream
 * (decoder side), of its decoder stream (encoder side) and of each encoded
 * field section (HEADERS frame payload), in any split for the two
 * unidirectional streams; it pulls what the local encoder and decoder
 * streams must carry from bounded buffers. Nothing here knows QUIC.
 *
 * Errors: every call returns 0 (or a non-negative count) or a negative
 * ZTTP_ERR_*. A fatal one (ZTTP_ERR_COMPRESSION, ZTTP_ERR_NOMEM,
 * ZTTP_ERR_LIMIT_INPUT_BUFFER) poisons the object: every later call returns
 * it again. zttp_qpack_decoder_wire_error() / zttp_qpack_encoder_wire_error()
 * give the HTTP/3 error code to close the connection (or reset the stream)
 * with (RFC 9204 §6, RFC 9114 §8.1).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QPACK_QPACK_H
#define ZTTP_QPACK_QPACK_H

#include "zttp/zttp.h"

#include "common/fieldbuf.h"
#include "common/mem.h"
#include "qpack/table.h"

/* The RFC 9204 §6 error codes are public (ZTTP_QPACK_* in zttp/zttp.h);
 * the RFC 9114 §8.1 ones QPACK reports: */
#define ZTTP_QPACK_H3_EXCESSIVE_LOAD 0x107u
#define ZTTP_QPACK_H3_MESSAGE_ERROR 0x10eu

/* zttp_qpack_decode(): the section waits for encoder-stream inserts. */
#define ZTTP_QPACK_BLOCKED 1

/* The decoded fields of one section. fields[i].name/value point into
 * |bytes| (or static memory) after a successful decode and stay valid until
 * the next decode into the same object or zttp_qpack_fields_free(). Names
 * are as on the wire. fields[i].flags has ZTTP_HEADER_NEVER_INDEX for
 * literals with the N bit (RFC 9204 §4.5.4-§4.5.6). Arrays grow by
 * doubling and are reused. */
typedef zttp_fieldbuf zttp_qpack_fields;

/* zttp_qpack_fields_free frees the arrays of |f| (allocated with |mem|)
 * and zeroes it; a zeroed |f| is a no-op. */
void zttp_qpack_fields_free(zttp_qpack_fields *f, const zttp_mem *mem);

/* ---- decoder ------------------------------------------------------------ */

/* The decoder's limits. What it advertises in SETTINGS
 * (SETTINGS_QPACK_MAX_TABLE_CAPACITY, SETTINGS_QPACK_BLOCKED_STREAMS,
 * SETTINGS_MAX_FIELD_SECTION_SIZE) is exactly what it enforces. */
typedef struct zttp_qpack_decoder_settings {
  /* SETTINGS_QPACK_MAX_TABLE_CAPACITY: the most the encoder may set the
   * table's capacity to (RFC 9204 §3.2.3). The table, and the buffer for
   * an incomplete encoder-stream instruction (4 * this + 64 bytes, enough
   * for the largest valid instruction even Huffman-coded), are allocated at
   * init. Default 4096. */
  size_t max_table_capacity;
  /* SETTINGS_QPACK_BLOCKED_STREAMS: sections that may wait for inserts
   * (RFC 9204 §2.1.2); one more is QPACK_DECOMPRESSION_FAILED. Default 16. */
  size_t max_blocked_streams;
  /* SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §4.2.2): the decoded
   * section's name + value + 32 per field; past it the section fails with
   * ZTTP_ERR_LIMIT_HEADER_BYTES (not fatal). Default 65536. */
  size_t max_field_section_size;
  /* Bytes of blocked sections held (copied) at once; past it
   * ZTTP_ERR_LIMIT_INPUT_BUFFER (fatal, H3_EXCESSIVE_LOAD). Default 65536. */
  size_t max_blocked_bytes;
  /* The decoder-stream output buffer; when an instruction does not fit,
   * the call that needs it returns ZTTP_ERR_BUFFER_FULL (not fatal; pull
   * the pending bytes and retry). Default 4096. */
  size_t max_decoder_stream_buffer;
} zttp_qpack_decoder_settings;

/* A section waiting for inserts (RFC 9204 §2.1.2): a copy of its bytes. */
typedef struct zttp_qpack_blocked {
  uint64_t stream_id;
  uint64_t ric;  /* its Required Insert Count (§4.5.1.1) */
  uint64_t base; /* its Base (§4.5.1.2) */
  uint8_t *data; /* the field lines after the prefix */
  size_t len;
} zttp_qpack_blocked;

typedef struct zttp_qpack_decoder {
  zttp_qpack_table table;
  zttp_qpack_decoder_settings settings;
  uint64_t max_entries; /* RFC 9204 §4.5.1.1 MaxEntries */
  /* An incomplete encoder-stream instruction. */
  uint8_t *ibuf;
  size_t ibuf_len;
  size_t ibuf_cap;
  /* Scratch for an inserted name and value (grows, capped by ibuf_cap). */
  uint8_t *scratch;
  size_t scratch_cap;
  /* Decoder-stream output (RFC 9204 §4.4). */
  uint8_t *obuf;
  size_t obuf_len;
  /* The Known Received Count the encoder will have once it reads obuf
   * (§2.1.4); Insert Count Increments bring it up to inserts. */
  uint64_t known_received;
  zttp_qpack_blocked *blocked;
  size_t num_blocked;
  size_t blocked_bytes;
  int32_t err;         /* a fatal error: every later call returns it */
  uint64_t wire_error; /* the HTTP/3 code of the last error (0: none) */
  uint64_t err_stream; /* the stream of the last section error */
} zttp_qpack_decoder;

/* zttp_qpack_decoder_settings_default fills |s| with the defaults above. */
void zttp_qpack_decoder_settings_default(zttp_qpack_decoder_settings *s);

/* zttp_qpack_decoder_init sets up |d| with the limits |s| (copied; NULL:
 * the defaults) and allocator |mem| (kept). The table's capacity starts at
 * 0 (RFC 9204 §3.2.3). Returns 0 or ZTTP_ERR_NOMEM (nothing allocated then;
 * zttp_qpack_decoder_free() is a no-op). */
int32_t zttp_qpack_decoder_init(zttp_qpack_decoder *d, const zttp_mem *mem,
                                const zttp_qpack_decoder_settings *s);

/* zttp_qpack_decoder_free frees everything |d| holds (blocked sections
 * included). */
void zttp_qpack_decoder_free(zttp_qpack_decoder *d);

/* zttp_qpack_decoder_preset_capacity sets the table capacity as if a Set
 * Dynamic Table Capacity instruction had been received: for the qifs
 * interop files, which predate RFC 9204's rule that it starts at 0.
 * Returns 0 or ZTTP_ERR_INVALID_ARGUMENT (above max_table_capacity). */
int32_t zttp_qpack_decoder_preset_capacity(zttp_qpack_decoder *d,
                                           size_t capacity);

/* zttp_qpack_decoder_receive_encoder_stream processes |len| bytes of the
 * peer's encoder stream (RFC 9204 §4.3), any split: an incomplete
 * instruction is kept (copied) for the next call. Returns the number of
 * blocked sections that can now be decoded (zttp_qpack_decoder_next_ready)
 * or ZTTP_ERR_COMPRESSION (wire QPACK_ENCODER_STREAM_ERROR: a malformed
 * instruction, a capacity above max_table_capacity, a reference to a
 * missing entry, an entry larger than the capacity) or ZTTP_ERR_NOMEM. */
int32_t zttp_qpack_decoder_receive_encoder_stream(zttp_qpack_decoder *d,
                                                  const uint8_t *data,
                                                  size_t len);

/* zttp_qpack_decode decodes the complete encoded field section |data|
 * (|len| bytes, borrowed) of stream |stream_id| into |out| (previous
 * contents dropped). Returns:
 *  - 0: decoded; a Section Acknowledgment is queued when its Required
 *    Insert Count is not 0 (RFC 9204 §4.4.1);
 *  - ZTTP_QPACK_BLOCKED: it needs inserts not received yet; it was copied
 *    and comes back from zttp_qpack_decoder_next_ready();
 *  - ZTTP_ERR_COMPRESSION (fatal; wire QPACK_DECOMPRESSION_FAILED): a
 *    malformed section, a bad Required Insert Count or Base, a reference
 *    out of range or to an evicted entry, one blocked stream too many;
 *  - ZTTP_ERR_LIMIT_HEADER_BYTES (not fatal; wire H3_MESSAGE_ERROR): past
 *    max_field_section_size; the engine abandons the stream and calls
 *    zttp_qpack_decoder_cancel_stream();
 *  - ZTTP_ERR_LIMIT_INPUT_BUFFER (fatal; H3_EXCESSIVE_LOAD): blocked
 *    sections would hold more than max_blocked_bytes;
 *  - ZTTP_ERR_BUFFER_FULL (not fatal, nothing done): no room in the
 *    decoder-stream buffer for the acknowledgment;
 *  - ZTTP_ERR_INVALID_STATE: the stream already has a blocked section;
 *  - ZTTP_ERR_NOMEM (fatal).
 * On any error |out| holds no fields. */
int32_t zttp_qpack_decode(zttp_qpack_decoder *d, zttp_qpack_fields *out,
                          uint64_t stream_id, const uint8_t *data, size_t len);

/* zttp_qpack_decoder_next_ready decodes the oldest blocked section whose
 * inserts have all arrived into |out| and sets *stream_id. Returns 1 (one
 * decoded), 0 (none ready), or an error of zttp_qpack_decode() (the
 * section is dropped unless it is ZTTP_ERR_BUFFER_FULL; *stream_id says
 * whose). */
int32_t zttp_qpack_decoder_next_ready(zttp_qpack_decoder *d,
                                      zttp_qpack_fields *out,
                                      uint64_t *stream_id);

/* zttp_qpack_decoder_cancel_stream forgets stream |stream_id| (reset or
 * abandoned): drops its blocked section and queues a Stream Cancellation
 * (RFC 9204 §4.4.2) unless max_table_capacity is 0. Returns 0 or
 * ZTTP_ERR_BUFFER_FULL (nothing done). */
int32_t zttp_qpack_decoder_cancel_stream(zttp_qpack_decoder *d,
                                         uint64_t stream_id);

/* zttp_qpack_decoder_stream_pending returns how many bytes the decoder
 * stream must carry and points *out at them (valid until the next call on
 * |d|). It first appends an Insert Count Increment (RFC 9204 §4.4.3) for
 * the inserts not yet acknowledged by a Section Acknowledgment. */
size_t zttp_qpack_decoder_stream_pending(zttp_qpack_decoder *d,
                                         const uint8_t **out);

/* zttp_qpack_decoder_stream_consume drops the first |n| pending bytes (n <=
 * what zttp_qpack_decoder_stream_pending() returned). */
void zttp_qpack_decoder_stream_consume(zttp_qpack_decoder *d, size_t n);

/* zttp_qpack_decoder_wire_error returns the HTTP/3 error code of the last
 * error (0: none). */
static inline uint64_t
zttp_qpack_decoder_wire_error(const zttp_qpack_decoder *d) {
  return d->wire_error;
}

/* ---- encoder ------------------------------------------------------------ */

/* The encoder's own limits. */
typedef struct zttp_qpack_encoder_settings {
  /* The most dynamic table the encoder keeps (memory, allocated at init):
   * it uses min(this, the peer's SETTINGS_QPACK_MAX_TABLE_CAPACITY).
   * Default 4096. */
  size_t max_table_capacity;
  /* The encoder-stream output buffer: an insert that does not fit is not
   * made (the field goes as a literal). Default 16384. */
  size_t max_encoder_stream_buffer;
  /* Field sections with dynamic references awaiting acknowledgment that
   * are tracked; past it sections use no dynamic entries. Default 1024. */
  size_t max_unacked_sections;
  /* Huffman-code strings when shorter (RFC 9204 §4.1.2). Default 1. */
  int huffman;
} zttp_qpack_encoder_settings;

/* Entries of zttp_qpack_encoder.history (a power of two). */
#define ZTTP_QPACK_HISTORY 256

/* The static table's entries by name-and-value hash: open addressing, a
 * power of two above twice RFC 9204 Appendix A's 99 entries. */
#define ZTTP_QPACK_STATIC_SLOTS 1024

/* A field section with dynamic references, awaiting acknowledgment. */
typedef struct zttp_qpack_section {
  uint64_t stream_id;
  uint64_t ric;     /* its Required Insert Count */
  uint64_t min_ref; /* the smallest absolute index it references */
} zttp_qpack_section;

typedef struct zttp_qpack_encoder {
  zttp_qpack_table table;
  zttp_qpack_encoder_settings settings;
  uint64_t max_entries;    /* from the peer's max table capacity */
  size_t peer_blocked;     /* the peer's SETTINGS_QPACK_BLOCKED_STREAMS */
  uint64_t known_received; /* Known Received Count (RFC 9204 §2.1.4) */
  /* Unacknowledged sections, oldest first. */
  zttp_qpack_section *secs;
  size_t num_secs;
  size_t cap_secs;
  /* Cached: the smallest min_ref and the blocking streams (§2.1.2),
   * recomputed when stale. */
  uint64_t min_ref;
  size_t num_blocking;
  int stale;
  /* Encoder-stream output (RFC 9204 §4.3). */
  uint8_t *obuf;
  size_t obuf_len;
  /* Name-and-value hashes of date and last-modified fields recently sent
   * as literals, direct-mapped: once inserting means evicting, only such a
   * field seen before is inserted (a value that never repeats would only
   * churn the table). */
  uint32_t history[ZTTP_QPACK_HISTORY];
  /* The name-and-value hash of each static entry, and the entries (index
   * + 1, 0 for none) by that hash, for exact static matches. */
  uint32_t static_hv[99];
  uint8_t static_slots[ZTTP_QPACK_STATIC_SLOTS];
  /* An incomplete decoder-stream instruction. */
  uint8_t ibuf[16];
  size_t ibuf_len;
  int32_t err;
  uint64_t wire_error;
} zttp_qpack_encoder;

/* zttp_qpack_encoder_settings_default fills |s| with the defaults above. */
void zttp_qpack_encoder_settings_default(zttp_qpack_encoder_settings *s);

/* zttp_qpack_encoder_init sets up |e| (settings |s| copied, NULL: the
 * defaults). Until zttp_qpack_encoder_set_peer_settings() it uses no
 * dynamic table (the peer's capacity is 0 until its SETTINGS arrive).
 * Returns 0 or ZTTP_ERR_NOMEM (nothing allocated then). */
int32_t zttp_qpack_encoder_init(zttp_qpack_encoder *e, const zttp_mem *mem,
                                const zttp_qpack_encoder_settings *s);

/* zttp_qpack_encoder_free frees what |e| holds. */
void zttp_qpack_encoder_free(zttp_qpack_encoder *e);

/* zttp_qpack_encoder_set_peer_settings applies the peer's
 * SETTINGS_QPACK_MAX_TABLE_CAPACITY and SETTINGS_QPACK_BLOCKED_STREAMS
 * (once, when its SETTINGS arrive): the table's capacity becomes
 * min(max_table_capacity, |max_table_capacity|) and a Set Dynamic Table
 * Capacity is queued when that is not 0 (RFC 9204 §3.2.3). Returns 0 or
 * ZTTP_ERR_INVALID_STATE (called twice). */
int32_t zttp_qpack_encoder_set_peer_settings(zttp_qpack_encoder *e,
                                             uint64_t max_table_capacity,
                                             uint64_t blocked_streams);

/* zttp_qpack_encode_bound returns an upper bound of the bytes
 * zttp_qpack_encode() writes for these fields. */
size_t zttp_qpack_encode_bound(const zttp_qpack_encoder *e,
                               const zttp_header *fields, size_t num_fields);

/* zttp_qpack_encode writes the encoded field section for |fields| (names
 * already lowercase) on stream |stream_id| into |dst|, which has at least
 * zttp_qpack_encode_bound() bytes, queues the inserts it makes on the
 * encoder stream, and returns the section's length. Policy: static and
 * dynamic exact matches are indexed; fields with ZTTP_HEADER_NEVER_INDEX,
 * authorization, proxy-authorization, cookie values under 20 bytes and
 * set-cookie are never-indexed literals (N bit, RFC 9204 §7.1.3);
 * content-length, age, etag, if-modified-since, if-none-match, location
 * and entries larger than 3/4 of the table are literals; anything else is
 * inserted when the table can make room without evicting an entry that is
 * unacknowledged or referenced by an unacknowledged section (§2.1.1) and
 * the encoder-stream buffer has room, except that once inserting means
 * evicting, :path and names outside the static table are not inserted, and
 * date and last-modified only when the same field was sent recently.
 * Unacknowledged entries are referenced only while the peer's blocked
 * streams limit allows (§2.1.2); entries close to eviction are duplicated
 * first (§2.1.1.1). Huffman is used when shorter. Returns the length or
 * ZTTP_ERR_NOMEM (tracking the section; the section is then not usable,
 * the encoder is poisoned). */
int64_t zttp_qpack_encode(zttp_qpack_encoder *e, uint8_t *dst,
                          uint64_t stream_id, const zttp_header *fields,
                          size_t num_fields);

/* zttp_qpack_encoder_insert inserts name/value into the dynamic table now
 * (a speculative insert, RFC 9204 Appendix B.3), with a name reference when
 * it can. Returns 0 or ZTTP_ERR_BUFFER_FULL (no room in the table or the
 * encoder-stream buffer; nothing done). */
int32_t zttp_qpack_encoder_insert(zttp_qpack_encoder *e, const uint8_t *name,
                                  size_t name_len, const uint8_t *value,
                                  size_t value_len);

/* zttp_qpack_encoder_receive_decoder_stream processes |len| bytes of the
 * peer's decoder stream (RFC 9204 §4.4), any split. Returns 0,
 * ZTTP_ERR_COMPRESSION (wire QPACK_DECODER_STREAM_ERROR: a Section
 * Acknowledgment for a stream with nothing outstanding, an Insert Count
 * Increment of 0 or past the inserts sent, an integer overflow). */
int32_t zttp_qpack_encoder_receive_decoder_stream(zttp_qpack_encoder *e,
                                                  const uint8_t *data,
                                                  size_t len);

/* zttp_qpack_encoder_stream_pending returns how many bytes the encoder
 * stream must carry and points *out at them (valid until the next call on
 * |e|). */
size_t zttp_qpack_encoder_stream_pending(const zttp_qpack_encoder *e,
                                         const uint8_t **out);

/* zttp_qpack_encoder_stream_consume drops the first |n| pending bytes. */
void zttp_qpack_encoder_stream_consume(zttp_qpack_encoder *e, size_t n);

/* zttp_qpack_encoder_wire_error returns the HTTP/3 error code of the last
 * error (0: none). */
static inline uint64_t
zttp_qpack_encoder_wire_error(const zttp_qpack_encoder *e) {
  return e->wire_error;
}

#endif
