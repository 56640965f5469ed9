/* QUIC frames (RFC 9000 §12.4, §19; DATAGRAM, RFC 9221 §4): one decoder
 * and one encoder for every frame type, the packet-type table and the
 * ack-eliciting rule. Pure encode/decode: no connection state. Data fields
 * (STREAM, CRYPTO, NEW_TOKEN, DATAGRAM, reasons, CIDs, tokens) borrow the
 * decoded packet. SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_FRAME_H
#define ZTTP_QUIC_FRAME_H

#include "zttp/zttp.h"

#include <stddef.h>
#include <stdint.h>

#include "common/reader.h"
#include "quic/error.h"
#include "quic/packet.h"

/* Frame types (RFC 9000 §12.4 Table 3, RFC 9221 §4). */
#define ZTTP_QUIC_FT_PADDING 0x00u
#define ZTTP_QUIC_FT_PING 0x01u
#define ZTTP_QUIC_FT_ACK 0x02u
#define ZTTP_QUIC_FT_ACK_ECN 0x03u
#define ZTTP_QUIC_FT_RESET_STREAM 0x04u
#define ZTTP_QUIC_FT_STOP_SENDING 0x05u
#define ZTTP_QUIC_FT_CRYPTO 0x06u
#define ZTTP_QUIC_FT_NEW_TOKEN 0x07u
#define ZTTP_QUIC_FT_STREAM 0x08u /* 0x08-0x0f: | OFF | LEN | FIN */
#define ZTTP_QUIC_FT_MAX_DATA 0x10u
#define ZTTP_QUIC_FT_MAX_STREAM_DATA 0x11u
#define ZTTP_QUIC_FT_MAX_STREAMS_BIDI 0x12u
#define ZTTP_QUIC_FT_MAX_STREAMS_UNI 0x13u
#define ZTTP_QUIC_FT_DATA_BLOCKED 0x14u
#define ZTTP_QUIC_FT_STREAM_DATA_BLOCKED 0x15u
#define ZTTP_QUIC_FT_STREAMS_BLOCKED_BIDI 0x16u
#define ZTTP_QUIC_FT_STREAMS_BLOCKED_UNI 0x17u
#define ZTTP_QUIC_FT_NEW_CONNECTION_ID 0x18u
#define ZTTP_QUIC_FT_RETIRE_CONNECTION_ID 0x19u
#define ZTTP_QUIC_FT_PATH_CHALLENGE 0x1au
#define ZTTP_QUIC_FT_PATH_RESPONSE 0x1bu
#define ZTTP_QUIC_FT_CONNECTION_CLOSE 0x1cu     /* transport */
#define ZTTP_QUIC_FT_CONNECTION_CLOSE_APP 0x1du /* application */
#define ZTTP_QUIC_FT_HANDSHAKE_DONE 0x1eu
#define ZTTP_QUIC_FT_DATAGRAM 0x30u     /* data to the end of the packet */
#define ZTTP_QUIC_FT_DATAGRAM_LEN 0x31u /* with a Length field */

/* STREAM type bits (RFC 9000 §19.8). */
#define ZTTP_QUIC_STREAM_FIN 0x01u
#define ZTTP_QUIC_STREAM_LEN 0x02u
#define ZTTP_QUIC_STREAM_OFF 0x04u

/* RFC 9000 §19.11, §19.14: stream counts cannot exceed 2^60. */
#define ZTTP_QUIC_MAX_STREAMS (UINT64_C(1) << 60)

/* What zttp_quic_frame_decode() returns. */
enum zttp_quic_frame_result {
  ZTTP_QUIC_FRAME_ERROR = 0, /* *err says which QUIC error */
  ZTTP_QUIC_FRAME_OK = 1,
  /* A valid ACK frame with more ranges than the caller's array: the frame
   * was consumed and validated, the first (highest) max_ranges ranges are
   * stored; the caller applies its own limit. */
  ZTTP_QUIC_FRAME_ACK_LIMIT = 2
};

/* One acknowledged range, both ends included (RFC 9000 §19.3.1). */
typedef struct zttp_quic_ack_range {
  uint64_t smallest;
  uint64_t largest;
} zttp_quic_ack_range;

typedef struct zttp_quic_frame {
  uint64_t type; /* ZTTP_QUIC_FT_*: the wire type, flag bits included */
  union {
    struct {
      size_t len; /* the run of consecutive PADDING bytes (>= 1) */
    } padding;
    /* ACK, ACK_ECN (RFC 9000 §19.3): ranges[0] is {largest - First ACK
     * Range, Largest Acknowledged}, then in decreasing order. */
    struct {
      uint64_t ack_delay; /* raw, before the ack_delay_exponent */
      zttp_quic_ack_range *ranges;
      size_t num_ranges;     /* entries of |ranges| in use */
      uint64_t total_ranges; /* on the wire: ACK Range Count + 1 */
      uint64_t ect0;         /* ACK_ECN only */
      uint64_t ect1;
      uint64_t ce;
    } ack;
    struct {
      uint64_t stream_id;
      uint64_t error_code;
      uint64_t final_size;
    } reset_stream;
    struct {
      uint64_t stream_id;
      uint64_t error_code;
    } stop_sending;
    struct {
      uint64_t offset;
      const uint8_t *data;
      size_t len;
    } crypto;
    struct {
      const uint8_t *token;
      size_t len; /* >= 1 */
    } new_token;
    /* STREAM: FIN, LEN and OFF are the type bits; without OFF, offset is
     * 0; without LEN, the data runs to the end of the packet. */
    struct {
      uint64_t stream_id;
      uint64_t offset;
      const uint8_t *data;
      size_t len;
    } stream;
    /* MAX_DATA, MAX_STREAM_DATA, MAX_STREAMS (both), DATA_BLOCKED,
     * STREAM_DATA_BLOCKED, STREAMS_BLOCKED (both): stream_id is used by
     * the two per-stream ones only. */
    struct {
      uint64_t stream_id;
      uint64_t value;
    } limit;
    struct {
      uint64_t seq;
      uint64_t retire_prior_to;
      const uint8_t *cid;
      size_t cid_len;             /* 1-20 */
      const uint8_t *reset_token; /* 16 bytes */
    } new_connection_id;
    struct {
      uint64_t seq;
    } retire_connection_id;
    /* PATH_CHALLENGE, PATH_RESPONSE (copied). */
    struct {
      uint8_t data[8];
    } path;
    /* CONNECTION_CLOSE 0x1c (with frame_type) and 0x1d (without). */
    struct {
      uint64_t error_code;
      uint64_t frame_type;
      const uint8_t *reason;
      size_t reason_len;
    } close;
    struct {
      const uint8_t *data;
      size_t len;
    } datagram;
  } u;
} zttp_quic_frame;

/* zttp_quic_frame_decode reads one frame from |rd| (positioned in a
 * decrypted packet payload) into |frame|. ACK ranges go to the caller's
 * |ranges| (room for |max_ranges|; may be NULL when 0), which
 * frame->u.ack.ranges then points to. Other data borrows |rd|'s input.
 *
 * Returns enum zttp_quic_frame_result. On ZTTP_QUIC_FRAME_ERROR, |*err| is
 * the connection error (RFC 9000 §12.4, §19): FRAME_ENCODING_ERROR for an
 * unknown type, a truncated frame, a value out of range (offset + length
 * over 2^62 - 1, MAX_STREAMS / STREAMS_BLOCKED over 2^60, a
 * NEW_CONNECTION_ID length outside 1-20 or Retire Prior To over the
 * sequence number, an empty NEW_TOKEN, an ACK range below 0), and
 * PROTOCOL_VIOLATION for a frame type not in its shortest encoding (a MAY
 * of §12.4); frame->type then holds the type read (0 if none could be).
 * |rd| advances only on success (and on ACK_LIMIT). Non-minimal varints
 * elsewhere are accepted (§16). Whether the frame may appear in the packet
 * type is zttp_quic_frame_allowed()'s. */
int zttp_quic_frame_decode(zttp_rd *rd, zttp_quic_frame *frame, uint64_t *err,
                           zttp_quic_ack_range *ranges, size_t max_ranges);

/* zttp_quic_frame_encode writes |frame| at |p| (|cap| bytes) in minimal
 * varints. ACK takes frame->u.ack.ranges (num_ranges >= 1, decreasing,
 * separated by gaps of at least one packet); STREAM follows the type bits
 * (offset must be 0 without OFF); PADDING writes u.padding.len zero bytes.
 * Returns the bytes written, or 0 when the frame does not fit or is not
 * valid (unknown type, out-of-range values). */
size_t zttp_quic_frame_encode(const zttp_quic_frame *frame, uint8_t *p,
                              size_t cap);

/* zttp_quic_frame_encode_ack writes an ACK (or ACK_ECN, per frame->type)
 * frame with as many of frame->u.ack.ranges, from the highest, as fit in
 * |cap|, and stores how many in |*num_written|. Returns the bytes written,
 * or 0 when not even the first range fits or the ranges are invalid. */
size_t zttp_quic_frame_encode_ack(const zttp_quic_frame *frame, uint8_t *p,
                                  size_t cap, size_t *num_written);

/* zttp_quic_frame_encode_stream writes a STREAM frame for |stream_id| at
 * |offset| with as much of |data| (|len| bytes) as fits in |cap|, with a
 * Length field when |with_len| (without, the frame must end the packet),
 * an Offset field when |offset| != 0, and FIN when |fin| and all the data
 * fit. Stores the data bytes taken in |*taken|. Returns the bytes written,
 * or 0 when nothing fits (or |len| > 0 and no data byte fits), or offset +
 * len exceeds 2^62 - 1. */
size_t zttp_quic_frame_encode_stream(uint8_t *p, size_t cap, uint64_t stream_id,
                                     uint64_t offset, const uint8_t *data,
                                     size_t len, int fin, int with_len,
                                     size_t *taken);

/* zttp_quic_frame_encode_crypto is the same for a CRYPTO frame (always
 * with its Length field). Returns the bytes written, or 0. */
size_t zttp_quic_frame_encode_crypto(uint8_t *p, size_t cap, uint64_t offset,
                                     const uint8_t *data, size_t len,
                                     size_t *taken);

/* zttp_quic_frame_allowed returns 1 when a frame of |frame_type| may appear
 * in a packet of |pkt_type| (enum zttp_quic_pkt_type) per RFC 9000 §12.4
 * Table 3 (DATAGRAM: 0-RTT and 1-RTT, RFC 9221 §4), 0 otherwise: a
 * PROTOCOL_VIOLATION. Unknown types, Retry and VN give 0. */
int zttp_quic_frame_allowed(uint64_t frame_type, uint32_t pkt_type);

/* zttp_quic_frame_ack_eliciting returns 1 unless |frame_type| is ACK,
 * PADDING or CONNECTION_CLOSE (RFC 9000 §13.2, Table 3 "N"). */
int zttp_quic_frame_ack_eliciting(uint64_t frame_type);

/* zttp_quic_frame_probing returns 1 for the frames of Table 3 marked "P"
 * (PATH_CHALLENGE, PATH_RESPONSE, NEW_CONNECTION_ID) and PADDING (RFC 9000
 * §9.1). */
int zttp_quic_frame_probing(uint64_t frame_type);

/* zttp_quic_frame_name returns the RFC name of |frame_type| ("STREAM" for
 * 0x08-0x0f), or "UNKNOWN"; static storage. */
const char *zttp_quic_frame_name(uint64_t frame_type);

#endif
