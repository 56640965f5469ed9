/* HTTP/3 frames and stream prefixes (RFC 9114 §6.2, §7; RFC 9218 §7.2;
 * RFC 9297 §2.1): the type, setting and error numbers, an incremental
 * frame reader for one stream, payload parsers and encoders. Pure wire
 * layer: no connection or stream state beyond one stream's reader.
 *
 * Conventions. Decoders return 0 or a negative ZTTP_ERR_* and, on failure,
 * store the HTTP/3 error code (ZTTP_H3_*) the connection must close with in
 * |*err|; they never advance or write other outputs on failure. Encoders
 * write at |p| (room for |cap| bytes) and return the bytes written, or 0
 * when the result does not fit or an argument is invalid (a local misuse,
 * nothing on the wire). Everything reads through common/reader.h.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_H3_FRAME_H
#define ZTTP_H3_FRAME_H

#include "zttp/zttp.h"

#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"
#include "common/reader.h"

/* ---- numbers -------------------------------------------------------------
 */

/* Frame types (RFC 9114 §7.2, §11.2.1; RFC 9218 §7.2). */
#define ZTTP_H3_FRAME_DATA 0x00u
#define ZTTP_H3_FRAME_HEADERS 0x01u
#define ZTTP_H3_FRAME_CANCEL_PUSH 0x03u
#define ZTTP_H3_FRAME_SETTINGS 0x04u
#define ZTTP_H3_FRAME_PUSH_PROMISE 0x05u
#define ZTTP_H3_FRAME_GOAWAY 0x07u
#define ZTTP_H3_FRAME_MAX_PUSH_ID 0x0du
#define ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST 0xf0700u
#define ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH 0xf0701u
/* HTTP/2 frame types with no HTTP/3 equivalent (RFC 9114 §7.2.8, §11.2.1):
 * receiving one is H3_FRAME_UNEXPECTED. */
#define ZTTP_H3_FRAME_H2_PRIORITY 0x02u
#define ZTTP_H3_FRAME_H2_PING 0x06u
#define ZTTP_H3_FRAME_H2_WINDOW_UPDATE 0x08u
#define ZTTP_H3_FRAME_H2_CONTINUATION 0x09u

/* Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2). */
#define ZTTP_H3_STREAM_CONTROL 0x00u
#define ZTTP_H3_STREAM_PUSH 0x01u
#define ZTTP_H3_STREAM_QPACK_ENCODER 0x02u
#define ZTTP_H3_STREAM_QPACK_DECODER 0x03u

/* Setting identifiers (RFC 9114 §7.2.4.1, RFC 9204 §5, RFC 9220 §3,
 * RFC 9297 §2.1.1). */
#define ZTTP_H3_SETTINGS_QPACK_MAX_TABLE_CAPACITY 0x01u
#define ZTTP_H3_SETTINGS_MAX_FIELD_SECTION_SIZE 0x06u
#define ZTTP_H3_SETTINGS_QPACK_BLOCKED_STREAMS 0x07u
#define ZTTP_H3_SETTINGS_ENABLE_CONNECT_PROTOCOL 0x08u
#define ZTTP_H3_SETTINGS_H3_DATAGRAM 0x33u
/* HTTP/2 setting ids with no HTTP/3 equivalent (RFC 9114 §7.2.4.1,
 * §11.2.2): receiving one is H3_SETTINGS_ERROR. */
#define ZTTP_H3_SETTINGS_H2_RESERVED_0 0x00u
#define ZTTP_H3_SETTINGS_H2_ENABLE_PUSH 0x02u
#define ZTTP_H3_SETTINGS_H2_MAX_CONCURRENT_STREAMS 0x03u
#define ZTTP_H3_SETTINGS_H2_INITIAL_WINDOW_SIZE 0x04u
#define ZTTP_H3_SETTINGS_H2_MAX_FRAME_SIZE 0x05u

/* HTTP/3 error codes (RFC 9114 §8.1; H3_DATAGRAM_ERROR, RFC 9297 §5.2)
 * are public: ZTTP_H3_* in zttp/zttp.h. Wire values, never return values
 * (STYLE.md). */

/* The most bytes a frame header (type and length varints) takes. */
#define ZTTP_H3_FRAME_HEADER_MAX 16

/* RFC 9297 §2.1: the largest Quarter Stream ID, (2^62 - 1) / 4. */
#define ZTTP_H3_MAX_QUARTER_STREAM_ID ((UINT64_C(1) << 60) - 1)

/* Default caps for the frame reader's buffered payloads (the engine may
 * pass its configured limits instead). SETTINGS and PRIORITY_UPDATE:
 * 4096 bytes. HEADERS and PUSH_PROMISE: ZTTP_LIMIT_MAX_HEADER_BYTES'
 * default. */
#define ZTTP_H3_DEFAULT_MAX_CONTROL_PAYLOAD 4096u
#define ZTTP_H3_DEFAULT_MAX_FIELD_SECTION 65536u

/* The most parameters one SETTINGS frame may carry (RFC 9114 §10.5: a
 * limit on undefined SETTINGS parameters); more is H3_EXCESSIVE_LOAD. */
#define ZTTP_H3_MAX_SETTINGS 128u

/* zttp_h3_is_grease returns 1 when |v| is of the reserved form
 * 0x1f * N + 0x21 (frame types §7.2.8, settings §7.2.4.1, error codes
 * §8.1, stream types §6.2.3). */
static inline int zttp_h3_is_grease(uint64_t v) {
  return v >= 0x21 && (v - 0x21) % 0x1f == 0;
}

/* zttp_h3_grease returns the |n|th reserved value, 0x1f * n + 0x21; |n|
 * must be at most (2^62 - 1 - 0x21) / 0x1f. */
static inline uint64_t zttp_h3_grease(uint64_t n) {
  return 0x1f * n + 0x21;
}

/* zttp_h3_frame_is_h2_reserved returns 1 for 0x02, 0x06, 0x08 and 0x09. */
static inline int zttp_h3_frame_is_h2_reserved(uint64_t type) {
  return type == ZTTP_H3_FRAME_H2_PRIORITY || type == ZTTP_H3_FRAME_H2_PING ||
         type == ZTTP_H3_FRAME_H2_WINDOW_UPDATE ||
         type == ZTTP_H3_FRAME_H2_CONTINUATION;
}

/* zttp_h3_settings_is_h2_reserved returns 1 for 0x00 and 0x02-0x05. */
static inline int zttp_h3_settings_is_h2_reserved(uint64_t id) {
  return id == ZTTP_H3_SETTINGS_H2_RESERVED_0 ||
         (id >= ZTTP_H3_SETTINGS_H2_ENABLE_PUSH &&
          id <= ZTTP_H3_SETTINGS_H2_MAX_FRAME_SIZE);
}

/* zttp_h3_error_name returns the RFC name of an HTTP/3 error code
 * ("H3_FRAME_ERROR"), "H3_RESERVED" for the grease form, or "UNKNOWN";
 * static storage. */
const char *zttp_h3_error_name(uint64_t code);

/* zttp_h3_frame_name returns the RFC name of a frame type ("SETTINGS",
 * "PRIORITY_UPDATE" for both variants, "RESERVED" for grease and the
 * HTTP/2 types), or "UNKNOWN"; static storage. */
const char *zttp_h3_frame_name(uint64_t type);

/* ---- incremental varints (stream type prefixes) -------------------------
 */

/* A varint arriving in pieces. Zero it (or call
 * zttp_h3_varint_reader_init) before the first byte. */
typedef struct zttp_h3_varint_reader {
  uint64_t value; /* the result once complete */
  uint8_t have;   /* bytes seen */
  uint8_t need;   /* total length once the first byte is seen, else 0 */
} zttp_h3_varint_reader;

static inline void zttp_h3_varint_reader_init(zttp_h3_varint_reader *vr) {
  vr->value = 0;
  vr->have = 0;
  vr->need = 0;
}

/* zttp_h3_varint_read takes bytes of one varint from |data| (|len| bytes)
 * and returns how many it took (never past the varint's end). |*done| is
 * set to 1 when the varint is complete (vr->value holds it; later calls
 * take nothing), 0 otherwise. Never fails: any byte sequence is a varint. */
size_t zttp_h3_varint_read(zttp_h3_varint_reader *vr, int *done,
                           const uint8_t *data, size_t len);

/* zttp_h3_encode_stream_type writes the unidirectional stream header
 * (RFC 9114 §6.2: one varint, |type| <= 2^62 - 1). Push streams (type 0x01)
 * continue with the Push ID: encode it the same way. */
size_t zttp_h3_encode_stream_type(uint8_t *p, size_t cap, uint64_t type);

/* ---- the frame reader ----------------------------------------------------
 */

/* What zttp_h3_frame_read() reports in ev->kind. */
enum zttp_h3_frame_event_kind {
  /* All the input was taken; nothing to report. */
  ZTTP_H3_FEV_NEED_DATA = 0,
  /* A frame header is complete: ev->type, ev->length. Reported for every
   * frame (unknown and grease ones included) before its payload, so the
   * engine checks whether the type is allowed on this stream before any
   * payload is buffered. */
  ZTTP_H3_FEV_HEADER = 1,
  /* DATA: ev->data / ev->len (>= 1) is the next piece of the payload,
   * borrowed from the caller's input (zero-copy); ev->end is 1 on the piece
   * that completes the frame. A DATA frame of length 0 has a HEADER event
   * only. */
  ZTTP_H3_FEV_DATA = 2,
  /* A buffered frame (HEADERS, PUSH_PROMISE, CANCEL_PUSH, SETTINGS, GOAWAY,
   * MAX_PUSH_ID, PRIORITY_UPDATE) is complete: ev->data / ev->len is its
   * whole payload (possibly empty), for the payload parsers below. */
  ZTTP_H3_FEV_PAYLOAD = 3
};

typedef struct zttp_h3_frame_event {
  uint32_t kind;       /* enum zttp_h3_frame_event_kind */
  int end;             /* DATA: this piece ends the frame */
  uint64_t type;       /* HEADER, DATA, PAYLOAD: the frame's type */
  uint64_t length;     /* its declared payload length */
  const uint8_t *data; /* DATA, PAYLOAD (NULL when len is 0) */
  size_t len;
} zttp_h3_frame_event;

/* The frame reader of one stream: a small state struct, no allocation per
 * frame. Buffered payloads that arrive in one piece are handed out in
 * place; only payloads split across calls are copied, into one buffer
 * allocated with |mem| on first need, grown up to the caps and reused
 * until zttp_h3_frame_reader_free(). Unknown and grease frames are skipped
 * without buffering whatever their length. */
typedef struct zttp_h3_frame_reader {
  const zttp_mem *mem;
  uint64_t max_control; /* cap on SETTINGS, PRIORITY_UPDATE payloads */
  uint64_t max_fields;  /* cap on HEADERS, PUSH_PROMISE payloads */
  uint64_t type;        /* the current frame */
  uint64_t length;
  uint64_t left; /* payload bytes still to come */
  zttp_h3_varint_reader vr;
  uint8_t state;
  int32_t error;  /* sticky ZTTP_ERR_*, 0 while healthy */
  uint64_t werr;  /* its HTTP/3 code */
  uint8_t *buf;   /* partial buffered payload */
  size_t buf_len; /* bytes in |buf| */
  size_t buf_cap;
} zttp_h3_frame_reader;

/* zttp_h3_frame_reader_init prepares |r| for a new stream. |mem| (kept,
 * must outlive |r|) allocates the payload buffer. |max_control| caps the
 * payload of SETTINGS and PRIORITY_UPDATE frames, |max_fields| that of
 * HEADERS and PUSH_PROMISE (both at most SIZE_MAX; see the
 * ZTTP_H3_DEFAULT_* values). Allocates nothing. */
void zttp_h3_frame_reader_init(zttp_h3_frame_reader *r, const zttp_mem *mem,
                               uint64_t max_control, uint64_t max_fields);

/* zttp_h3_frame_reader_free releases the payload buffer; |r| may then be
 * initialized again. Safe on a zeroed or already freed reader. */
void zttp_h3_frame_reader_free(zttp_h3_frame_reader *r);

/* zttp_h3_frame_read takes stream bytes from |data| (|len| bytes, borrowed
 * for the call; any split of the stream is fine) up to and including the
 * first event, stores the event in |*ev| and returns how many bytes it
 * took (<= len). Call it again with the rest of the input until it reports
 * ZTTP_H3_FEV_NEED_DATA (then every byte was taken); an event may take 0
 * bytes (the PAYLOAD of an empty frame). ev->data points into |data| or
 * into |r|'s buffer: valid until the next call on |r| and, for input
 * spans, while |data| is.
 *
 * Errors (sticky: every later call fails the same way), with |*err|:
 *  - ZTTP_ERR_PROTOCOL, H3_FRAME_UNEXPECTED: a reserved HTTP/2 frame type
 *    (RFC 9114 §7.2.8), reported as soon as the type varint is complete;
 *  - ZTTP_ERR_FRAME_SIZE, H3_FRAME_ERROR: CANCEL_PUSH, GOAWAY or
 *    MAX_PUSH_ID whose length is not 1, 2, 4 or 8 (one varint, §7.1: the
 *    frame can only be malformed);
 *  - ZTTP_ERR_ENHANCE_YOUR_CALM, H3_EXCESSIVE_LOAD: SETTINGS or
 *    PRIORITY_UPDATE longer than max_control;
 *  - ZTTP_ERR_LIMIT_HEADER_BYTES, H3_EXCESSIVE_LOAD: HEADERS or PUSH_PROMISE
 *    longer than max_fields. Such frames are well formed, so not
 *    H3_FRAME_ERROR; §10.5 lets a receiver refuse what it will not commit
 *    memory to with H3_EXCESSIVE_LOAD (for HEADERS the engine may prefer a
 *    stream error or a 431, §4.2.2);
 *  - ZTTP_ERR_NOMEM, H3_INTERNAL_ERROR: the buffer could not be allocated.
 * Length checks happen when the header is complete, before the HEADER
 * event. Whether a frame is allowed on this stream, and payload layout,
 * are the engine's and the parsers' business. */
int64_t zttp_h3_frame_read(zttp_h3_frame_reader *r, zttp_h3_frame_event *ev,
                           uint64_t *err, const uint8_t *data, size_t len);

/* zttp_h3_frame_reader_finish checks that the stream may end here (its
 * FIN arrived, and zttp_h3_frame_read() last reported NEED_DATA): 0 at a
 * frame boundary, else ZTTP_ERR_FRAME_SIZE with H3_FRAME_ERROR in |*err|
 * (RFC 9114 §7.1: a truncated last frame). A reader in error returns its
 * error. */
int32_t zttp_h3_frame_reader_finish(const zttp_h3_frame_reader *r,
                                    uint64_t *err);

/* ---- payload parsers -----------------------------------------------------
 */

/* Known settings and their values after zttp_h3_settings_parse(). Absent
 * ones keep the default: 0, except max_field_section_size, which is
 * UINT64_MAX for "unlimited" (RFC 9114 §7.2.4.1). */
typedef struct zttp_h3_settings {
  uint64_t qpack_max_table_capacity;
  uint64_t max_field_section_size;
  uint64_t qpack_blocked_streams;
  uint64_t enable_connect_protocol; /* 0 or 1 */
  uint64_t h3_datagram;             /* 0 or 1 */
  uint32_t present;                 /* ZTTP_H3_SETTINGS_HAS_* bits */
  size_t num_params;                /* parameters in the frame */
  size_t num_unknown;               /* of which ignored (unknown ids, grease) */
} zttp_h3_settings;

#define ZTTP_H3_SETTINGS_HAS_QPACK_MAX_TABLE_CAPACITY 0x01u
#define ZTTP_H3_SETTINGS_HAS_MAX_FIELD_SECTION_SIZE 0x02u
#define ZTTP_H3_SETTINGS_HAS_QPACK_BLOCKED_STREAMS 0x04u
#define ZTTP_H3_SETTINGS_HAS_ENABLE_CONNECT_PROTOCOL 0x08u
#define ZTTP_H3_SETTINGS_HAS_H3_DATAGRAM 0x10u

/* zttp_h3_settings_defaults fills |s| with the defaults, nothing present. */
void zttp_h3_settings_defaults(zttp_h3_settings *s);

/* zttp_h3_settings_parse validates a SETTINGS payload and fills |s| (from
 * the defaults). Errors, with |*err|:
 *  - ZTTP_ERR_FRAME_SIZE, H3_FRAME_ERROR: the payload ends inside an
 *    identifier or value (§7.1);
 *  - ZTTP_ERR_PROTOCOL, H3_SETTINGS_ERROR: a reserved HTTP/2 id
 *    (§7.2.4.1), an id seen twice (§7.2.4: we take the MAY), or
 *    ENABLE_CONNECT_PROTOCOL (RFC 8441 §3, RFC 9220 §3) or H3_DATAGRAM
 *    (RFC 9297 §2.1.1) other than 0 or 1;
 *  - ZTTP_ERR_ENHANCE_YOUR_CALM, H3_EXCESSIVE_LOAD: more than
 *    ZTTP_H3_MAX_SETTINGS parameters (§10.5).
 * Unknown ids are ignored (§7.2.4) but counted; zttp_h3_settings_next()
 * walks every parameter in order. */
int32_t zttp_h3_settings_parse(zttp_h3_settings *s, uint64_t *err,
                               const uint8_t *p, size_t len);

/* zttp_h3_settings_next reads the next (id, value) of a SETTINGS payload
 * that zttp_h3_settings_parse() accepted, from |rd| (start it with
 * zttp_rd_init on the payload): 1 and advances, or 0 at the end. */
int zttp_h3_settings_next(zttp_rd *rd, uint64_t *id, uint64_t *value);

/* zttp_h3_varint_payload_parse reads a payload made of exactly one varint:
 * GOAWAY (Stream ID / Push ID, §7.2.6), MAX_PUSH_ID (§7.2.7), CANCEL_PUSH
 * (§7.2.3). ZTTP_ERR_FRAME_SIZE with H3_FRAME_ERROR when it is empty,
 * truncated or followed by more bytes (§7.1). Whether the id is valid for
 * the role (a GOAWAY from a server must name a client bidirectional stream,
 * H3_ID_ERROR) is the engine's check. */
int32_t zttp_h3_varint_payload_parse(uint64_t *value, uint64_t *err,
                                     const uint8_t *p, size_t len);

/* A PRIORITY_UPDATE payload (RFC 9218 §7.2); field_value borrows the
 * payload. */
typedef struct zttp_h3_priority_update {
  uint64_t element_id; /* a stream id (0xf0700) or a push id (0xf0701) */
  const uint8_t *field_value;
  size_t field_value_len;
} zttp_h3_priority_update;

/* zttp_h3_priority_update_parse reads the payload of a PRIORITY_UPDATE of
 * frame |type| (0xf0700 or 0xf0701). Errors, with |*err|:
 *  - ZTTP_ERR_FRAME_SIZE, H3_FRAME_ERROR: no complete element id (§7.1);
 *  - ZTTP_ERR_PROTOCOL, H3_ID_ERROR: 0xf0700 naming a stream that is not
 *    client-initiated bidirectional (RFC 9218 §7.2 MUST);
 *  - ZTTP_ERR_PROTOCOL, H3_GENERAL_PROTOCOL_ERROR: a field value byte that
 *    is not printable ASCII (0x20-0x7e) or HTAB, which no Structured Field
 *    can contain (RFC 8941 §4.2, RFC 9218 §7: "failure to parse ...
 *    H3_GENERAL_PROTOCOL_ERROR"). Parsing the Structured Field itself is
 *    left to the priority code.
 * Whether a push id was promised (H3_ID_ERROR) is the engine's check. */
int32_t zttp_h3_priority_update_parse(zttp_h3_priority_update *pu,
                                      uint64_t *err, uint64_t type,
                                      const uint8_t *p, size_t len);

/* zttp_h3_push_promise_parse splits a PUSH_PROMISE payload (§7.2.5) into
 * its Push ID and the encoded field section (borrowed, may be empty).
 * ZTTP_ERR_FRAME_SIZE with H3_FRAME_ERROR when the Push ID is truncated. */
int32_t zttp_h3_push_promise_parse(uint64_t *push_id, const uint8_t **fields,
                                   size_t *fields_len, uint64_t *err,
                                   const uint8_t *p, size_t len);

/* ---- encoders ------------------------------------------------------------
 */

/* zttp_h3_encode_frame_header writes the Type and Length varints of a frame
 * (|p| needs at most ZTTP_H3_FRAME_HEADER_MAX bytes), so that the engine
 * writes a DATA or HEADERS header and then the payload without copying it.
 * Both must be <= 2^62 - 1; a reserved HTTP/2 type is refused. */
size_t zttp_h3_encode_frame_header(uint8_t *p, size_t cap, uint64_t type,
                                   uint64_t length);

/* zttp_h3_encode_frame writes a whole frame: header and |len| bytes of
 * |payload| (for grease and extension frames). */
size_t zttp_h3_encode_frame(uint8_t *p, size_t cap, uint64_t type,
                            const uint8_t *payload, size_t len);

/* One setting for zttp_h3_encode_settings(). */
typedef struct zttp_h3_setting {
  uint64_t id;
  uint64_t value;
} zttp_h3_setting;

/* zttp_h3_encode_settings writes a SETTINGS frame with the |num_settings|
 * parameters of |settings|, in order. Refused (0): a reserved HTTP/2 id, an
 * id twice, ENABLE_CONNECT_PROTOCOL or H3_DATAGRAM not 0 or 1, a value over
 * 2^62 - 1, more than ZTTP_H3_MAX_SETTINGS parameters. */
size_t zttp_h3_encode_settings(uint8_t *p, size_t cap,
                               const zttp_h3_setting *settings,
                               size_t num_settings);

/* zttp_h3_encode_varint_frame writes a frame whose payload is one varint:
 * |type| must be GOAWAY, MAX_PUSH_ID or CANCEL_PUSH. */
size_t zttp_h3_encode_varint_frame(uint8_t *p, size_t cap, uint64_t type,
                                   uint64_t value);

/* zttp_h3_encode_priority_update writes a PRIORITY_UPDATE frame of |type|
 * (0xf0700 or 0xf0701) for |element_id| with |len| bytes of |field_value|
 * (Priority Field Value syntax, e.g. "u=1, i"). Refused: another type, a
 * request-stream variant whose id is not client-initiated bidirectional,
 * a byte the parser would refuse. */
size_t zttp_h3_encode_priority_update(uint8_t *p, size_t cap, uint64_t type,
                                      uint64_t element_id,
                                      const uint8_t *field_value, size_t len);

/* ---- HTTP/3 datagrams (RFC 9297 §2.1) ------------------------------------
 */

/* zttp_h3_datagram_decode splits the Datagram Data of a QUIC DATAGRAM frame
 * into the request stream id (Quarter Stream ID * 4, always a
 * client-initiated bidirectional stream) and the HTTP Datagram Payload
 * (borrowed, may be empty). ZTTP_ERR_PROTOCOL with H3_DATAGRAM_ERROR when
 * the Quarter Stream ID is truncated or over 2^60 - 1 (§2.1). Whether the
 * stream exists is the engine's business (§2.1: drop, buffer or
 * H3_ID_ERROR). */
int32_t zttp_h3_datagram_decode(uint64_t *stream_id, const uint8_t **payload,
                                size_t *payload_len, uint64_t *err,
                                const uint8_t *data, size_t len);

/* zttp_h3_encode_datagram_prefix writes the Quarter Stream ID of
 * |stream_id|, which must be a client-initiated bidirectional stream id
 * (a multiple of 4) <= 2^62 - 1; the payload follows it. */
size_t zttp_h3_encode_datagram_prefix(uint8_t *p, size_t cap,
                                      uint64_t stream_id);

#endif
