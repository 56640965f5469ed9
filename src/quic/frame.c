/* SPDX-License-Identifier: MIT */
#include "quic/frame.h"

#include <string.h>

#include "common/varint.h"

/* ---- decoding -------------------------------------------------------------
 */

/* Reads a varint length and borrows that many bytes. */
static int rd_len_bytes(zttp_rd *rd, const uint8_t **out, size_t *len) {
  uint64_t n;
  if (!zttp_rd_varint(rd, &n) || n > zttp_rd_len(rd)) {
    return 0;
  }
  *len = (size_t)n;
  return zttp_rd_bytes(rd, out, (size_t)n);
}

/* RFC 9000 §19.3: the ranges, checked for underflow (§19.3.1) all the way
 * through even past |max_ranges|. */
static int decode_ack(zttp_rd *rd, zttp_quic_frame *f, uint64_t *err,
                      zttp_quic_ack_range *ranges, size_t max_ranges,
                      int *over) {
  uint64_t largest;
  uint64_t count;
  uint64_t first;
  *err = ZTTP_QUIC_ERR_FRAME_ENCODING_ERROR;
  if (!zttp_rd_varint(rd, &largest) ||
      !zttp_rd_varint(rd, &f->u.ack.ack_delay) || !zttp_rd_varint(rd, &count) ||
      !zttp_rd_varint(rd, &first) || first > largest) {
    return 0;
  }
  uint64_t smallest = largest - first;
  size_t stored = 0;
  if (max_ranges > 0) {
    ranges[stored].smallest = smallest;
    ranges[stored].largest = largest;
    stored++;
  }
  /* Each range takes at least 2 bytes, so the input bounds the loop. */
  for (uint64_t i = 0; i < count; i++) {
    uint64_t gap;
    uint64_t len;
    if (!zttp_rd_varint(rd, &gap) || !zttp_rd_varint(rd, &len)) {
      return 0;
    }
    /* largest = previous_smallest - gap - 2; smallest = largest - len */
    if (smallest < 2 || smallest - 2 < gap) {
      return 0;
    }
    largest = smallest - 2 - gap;
    if (len > largest) {
      return 0;
    }
    smallest = largest - len;
    if (stored < max_ranges) {
      ranges[stored].smallest = smallest;
      ranges[stored].largest = largest;
      stored++;
    }
  }
  if (f->type == ZTTP_QUIC_FT_ACK_ECN) {
    /* RFC 9000 §19.3.2 */
    if (!zttp_rd_varint(rd, &f->u.ack.ect0) ||
        !zttp_rd_varint(rd, &f->u.ack.ect1) ||
        !zttp_rd_varint(rd, &f->u.ack.ce)) {
      return 0;
    }
  }
  f->u.ack.ranges = ranges;
  f->u.ack.num_ranges = stored;
  f->u.ack.total_ranges = count + 1;
  *over = count + 1 > max_ranges;
  return 1;
}

static int decode_body(zttp_rd *rd, zttp_quic_frame *f, uint64_t *err,
                       zttp_quic_ack_range *ranges, size_t max_ranges,
                       int *over) {
  uint64_t t = f->type;
  *err = ZTTP_QUIC_ERR_FRAME_ENCODING_ERROR;
  if (t >= ZTTP_QUIC_FT_STREAM && t <= (ZTTP_QUIC_FT_STREAM | 7)) {
    /* RFC 9000 §19.8 */
    if (!zttp_rd_varint(rd, &f->u.stream.stream_id)) {
      return 0;
    }
    if ((t & ZTTP_QUIC_STREAM_OFF) &&
        !zttp_rd_varint(rd, &f->u.stream.offset)) {
      return 0;
    }
    if (t & ZTTP_QUIC_STREAM_LEN) {
      if (!rd_len_bytes(rd, &f->u.stream.data, &f->u.stream.len)) {
        return 0;
      }
    } else {
      f->u.stream.len = zttp_rd_len(rd);
      zttp_rd_bytes(rd, &f->u.stream.data, f->u.stream.len);
    }
    return f->u.stream.len <= ZTTP_VARINT_MAX - f->u.stream.offset;
  }
  switch (t) {
  case ZTTP_QUIC_FT_PADDING:
    /* RFC 9000 §19.1: the whole run at once. */
    f->u.padding.len = 1;
    while (rd->p != rd->end && rd->p[0] == 0) {
      rd->p++;
      f->u.padding.len++;
    }
    return 1;
  case ZTTP_QUIC_FT_PING:
  case ZTTP_QUIC_FT_HANDSHAKE_DONE:
    return 1;
  case ZTTP_QUIC_FT_ACK:
  case ZTTP_QUIC_FT_ACK_ECN:
    return decode_ack(rd, f, err, ranges, max_ranges, over);
  case ZTTP_QUIC_FT_RESET_STREAM:
    /* RFC 9000 §19.4 */
    return zttp_rd_varint(rd, &f->u.reset_stream.stream_id) &&
           zttp_rd_varint(rd, &f->u.reset_stream.error_code) &&
           zttp_rd_varint(rd, &f->u.reset_stream.final_size);
  case ZTTP_QUIC_FT_STOP_SENDING:
    /* RFC 9000 §19.5 */
    return zttp_rd_varint(rd, &f->u.stop_sending.stream_id) &&
           zttp_rd_varint(rd, &f->u.stop_sending.error_code);
  case ZTTP_QUIC_FT_CRYPTO:
    /* RFC 9000 §19.6: offset + length <= 2^62 - 1. */
    return zttp_rd_varint(rd, &f->u.crypto.offset) &&
           rd_len_bytes(rd, &f->u.crypto.data, &f->u.crypto.len) &&
           f->u.crypto.len <= ZTTP_VARINT_MAX - f->u.crypto.offset;
  case ZTTP_QUIC_FT_NEW_TOKEN:
    /* RFC 9000 §19.7: the token MUST NOT be empty. */
    return rd_len_bytes(rd, &f->u.new_token.token, &f->u.new_token.len) &&
           f->u.new_token.len != 0;
  case ZTTP_QUIC_FT_MAX_DATA:
  case ZTTP_QUIC_FT_DATA_BLOCKED:
    /* RFC 9000 §19.9, §19.12 */
    return zttp_rd_varint(rd, &f->u.limit.value);
  case ZTTP_QUIC_FT_MAX_STREAM_DATA:
  case ZTTP_QUIC_FT_STREAM_DATA_BLOCKED:
    /* RFC 9000 §19.10, §19.13 */
    return zttp_rd_varint(rd, &f->u.limit.stream_id) &&
           zttp_rd_varint(rd, &f->u.limit.value);
  case ZTTP_QUIC_FT_MAX_STREAMS_BIDI:
  case ZTTP_QUIC_FT_MAX_STREAMS_UNI:
  case ZTTP_QUIC_FT_STREAMS_BLOCKED_BIDI:
  case ZTTP_QUIC_FT_STREAMS_BLOCKED_UNI:
    /* RFC 9000 §19.11, §19.14: at most 2^60. */
    return zttp_rd_varint(rd, &f->u.limit.value) &&
           f->u.limit.value <= ZTTP_QUIC_MAX_STREAMS;
  case ZTTP_QUIC_FT_NEW_CONNECTION_ID: {
    /* RFC 9000 §19.15 */
    uint8_t n;
    if (!zttp_rd_varint(rd, &f->u.new_connection_id.seq) ||
        !zttp_rd_varint(rd, &f->u.new_connection_id.retire_prior_to) ||
        !zttp_rd_u8(rd, &n) || n < 1 || n > ZTTP_QUIC_MAX_CID_LEN ||
        !zttp_rd_bytes(rd, &f->u.new_connection_id.cid, n) ||
        !zttp_rd_bytes(rd, &f->u.new_connection_id.reset_token,
                       ZTTP_QUIC_RESET_TOKEN_LEN)) {
      return 0;
    }
    f->u.new_connection_id.cid_len = n;
    return f->u.new_connection_id.retire_prior_to <= f->u.new_connection_id.seq;
  }
  case ZTTP_QUIC_FT_RETIRE_CONNECTION_ID:
    /* RFC 9000 §19.16 */
    return zttp_rd_varint(rd, &f->u.retire_connection_id.seq);
  case ZTTP_QUIC_FT_PATH_CHALLENGE:
  case ZTTP_QUIC_FT_PATH_RESPONSE: {
    /* RFC 9000 §19.17, §19.18 */
    const uint8_t *d;
    if (!zttp_rd_bytes(rd, &d, 8)) {
      return 0;
    }
    memcpy(f->u.path.data, d, 8);
    return 1;
  }
  case ZTTP_QUIC_FT_CONNECTION_CLOSE:
  case ZTTP_QUIC_FT_CONNECTION_CLOSE_APP:
    /* RFC 9000 §19.19 */
    return zttp_rd_varint(rd, &f->u.close.error_code) &&
           (t == ZTTP_QUIC_FT_CONNECTION_CLOSE_APP ||
            zttp_rd_varint(rd, &f->u.close.frame_type)) &&
           rd_len_bytes(rd, &f->u.close.reason, &f->u.close.reason_len);
  case ZTTP_QUIC_FT_DATAGRAM:
    /* RFC 9221 §4 */
    f->u.datagram.len = zttp_rd_len(rd);
    return zttp_rd_bytes(rd, &f->u.datagram.data, f->u.datagram.len);
  case ZTTP_QUIC_FT_DATAGRAM_LEN:
    return rd_len_bytes(rd, &f->u.datagram.data, &f->u.datagram.len);
  default:
    /* RFC 9000 §12.4: unknown types are FRAME_ENCODING_ERROR. */
    return 0;
  }
}

int zttp_quic_frame_decode(zttp_rd *rd, zttp_quic_frame *frame, uint64_t *err,
                           zttp_quic_ack_range *ranges, size_t max_ranges) {
  zttp_rd r = *rd;
  zttp_quic_frame f;
  memset(&f, 0, sizeof(f));
  int over = 0;
  if (!zttp_rd_varint(&r, &f.type)) {
    *frame = f;
    *err = ZTTP_QUIC_ERR_FRAME_ENCODING_ERROR;
    return ZTTP_QUIC_FRAME_ERROR;
  }
  /* RFC 9000 §12.4: the type in its shortest encoding (a MAY). */
  if ((size_t)1 << (rd->p[0] >> 6) != zttp_varint_len(f.type)) {
    *frame = f;
    *err = ZTTP_QUIC_ERR_PROTOCOL_VIOLATION;
    return ZTTP_QUIC_FRAME_ERROR;
  }
  if (!decode_body(&r, &f, err, ranges, max_ranges, &over)) {
    /* Keep only the type: the rest may point at what it could not read. */
    uint64_t t = f.type;
    memset(&f, 0, sizeof(f));
    f.type = t;
    *frame = f;
    return ZTTP_QUIC_FRAME_ERROR;
  }
  *rd = r;
  *frame = f;
  return over ? ZTTP_QUIC_FRAME_ACK_LIMIT : ZTTP_QUIC_FRAME_OK;
}

/* ---- encoding -------------------------------------------------------------
 */

typedef struct wr {
  uint8_t *p;
  uint8_t *end;
  int ok;
} wr;

static void wr_init(wr *w, uint8_t *p, size_t cap) {
  w->p = p;
  w->end = cap != 0 ? p + cap : p;
  w->ok = 1;
}

static size_t wr_room(const wr *w) {
  return (size_t)(w->end - w->p);
}

static void wr_varint(wr *w, uint64_t v) {
  if (!w->ok || v > ZTTP_VARINT_MAX || wr_room(w) < zttp_varint_len(v)) {
    w->ok = 0;
    return;
  }
  w->p = zttp_varint_put(w->p, v);
}

static void wr_bytes(wr *w, const uint8_t *d, size_t n) {
  if (!w->ok || wr_room(w) < n) {
    w->ok = 0;
    return;
  }
  if (n != 0) {
    memcpy(w->p, d, n);
    w->p += n;
  }
}

static void wr_u8(wr *w, uint8_t v) {
  wr_bytes(w, &v, 1);
}

static void wr_len_bytes(wr *w, const uint8_t *d, size_t n) {
  wr_varint(w, n);
  wr_bytes(w, d, n);
}

/* The ACK frame's bytes besides the ACK Range Count and the ranges after
 * the first. */
static size_t ack_base_size(const zttp_quic_frame *f) {
  const zttp_quic_ack_range *r = f->u.ack.ranges;
  size_t n = 1 + zttp_varint_len(r[0].largest) +
             zttp_varint_len(f->u.ack.ack_delay) +
             zttp_varint_len(r[0].largest - r[0].smallest);
  if (f->type == ZTTP_QUIC_FT_ACK_ECN) {
    n += zttp_varint_len(f->u.ack.ect0) + zttp_varint_len(f->u.ack.ect1) +
         zttp_varint_len(f->u.ack.ce);
  }
  return n;
}

static int ack_valid(const zttp_quic_frame *f) {
  const zttp_quic_ack_range *r = f->u.ack.ranges;
  size_t n = f->u.ack.num_ranges;
  if ((f->type != ZTTP_QUIC_FT_ACK && f->type != ZTTP_QUIC_FT_ACK_ECN) ||
      n == 0 || r == NULL || f->u.ack.ack_delay > ZTTP_VARINT_MAX ||
      r[0].largest > ZTTP_VARINT_MAX) {
    return 0;
  }
  if (f->type == ZTTP_QUIC_FT_ACK_ECN &&
      (f->u.ack.ect0 > ZTTP_VARINT_MAX || f->u.ack.ect1 > ZTTP_VARINT_MAX ||
       f->u.ack.ce > ZTTP_VARINT_MAX)) {
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (r[i].smallest > r[i].largest) {
      return 0;
    }
    /* A gap of at least one packet (RFC 9000 §19.3.1: Gap >= 0). */
    if (i > 0 &&
        (r[i - 1].smallest < 2 || r[i].largest > r[i - 1].smallest - 2)) {
      return 0;
    }
  }
  return 1;
}

size_t zttp_quic_frame_encode_ack(const zttp_quic_frame *frame, uint8_t *p,
                                  size_t cap, size_t *num_written) {
  if (!ack_valid(frame)) {
    return 0;
  }
  const zttp_quic_ack_range *r = frame->u.ack.ranges;
  /* k ranges take base + varint(k - 1) + the k - 1 (Gap, Length) pairs. */
  size_t base = ack_base_size(frame);
  size_t pairs = 0;
  size_t k = 0;
  while (k < frame->u.ack.num_ranges) {
    size_t more = 0;
    if (k > 0) {
      more = zttp_varint_len(r[k - 1].smallest - r[k].largest - 2) +
             zttp_varint_len(r[k].largest - r[k].smallest);
    }
    if (base + pairs + more + zttp_varint_len(k) > cap) {
      break;
    }
    pairs += more;
    k++;
  }
  if (k == 0) {
    return 0;
  }
  wr w;
  wr_init(&w, p, cap);
  wr_u8(&w, (uint8_t)frame->type);
  wr_varint(&w, r[0].largest);
  wr_varint(&w, frame->u.ack.ack_delay);
  wr_varint(&w, k - 1);
  wr_varint(&w, r[0].largest - r[0].smallest);
  for (size_t i = 1; i < k; i++) {
    wr_varint(&w, r[i - 1].smallest - r[i].largest - 2);
    wr_varint(&w, r[i].largest - r[i].smallest);
  }
  if (frame->type == ZTTP_QUIC_FT_ACK_ECN) {
    wr_varint(&w, frame->u.ack.ect0);
    wr_varint(&w, frame->u.ack.ect1);
    wr_varint(&w, frame->u.ack.ce);
  }
  if (!w.ok) {
    return 0;
  }
  *num_written = k;
  return (size_t)(w.p - p);
}

/* How many of |len| data bytes fit in |avail| bytes after a Length field
 * for them; (size_t)-1 when not even an empty one fits. */
static size_t fit_with_len(size_t avail, size_t len) {
  if (avail == 0) {
    return (size_t)-1;
  }
  size_t n = len < avail ? len : avail;
  while (n > 0 && zttp_varint_len(n) + n > avail) {
    n--;
  }
  return n;
}

size_t zttp_quic_frame_encode_stream(uint8_t *p, size_t cap, uint64_t stream_id,
                                     uint64_t offset, const uint8_t *data,
                                     size_t len, int fin, int with_len,
                                     size_t *taken) {
  if (stream_id > ZTTP_VARINT_MAX || offset > ZTTP_VARINT_MAX) {
    return 0;
  }
  size_t hdr = 1 + zttp_varint_len(stream_id) +
               (offset != 0 ? zttp_varint_len(offset) : 0);
  if (hdr > cap) {
    return 0;
  }
  size_t avail = cap - hdr;
  size_t n;
  if (with_len) {
    n = fit_with_len(avail, len);
    if (n == (size_t)-1) {
      return 0;
    }
  } else {
    n = len < avail ? len : avail;
  }
  if ((len > 0 && n == 0) || n > ZTTP_VARINT_MAX - offset) {
    return 0;
  }
  uint64_t type = ZTTP_QUIC_FT_STREAM |
                  (offset != 0 ? ZTTP_QUIC_STREAM_OFF : 0) |
                  (with_len ? ZTTP_QUIC_STREAM_LEN : 0) |
                  (fin && n == len ? ZTTP_QUIC_STREAM_FIN : 0);
  wr w;
  wr_init(&w, p, cap);
  wr_u8(&w, (uint8_t)type);
  wr_varint(&w, stream_id);
  if (offset != 0) {
    wr_varint(&w, offset);
  }
  if (with_len) {
    wr_varint(&w, n);
  }
  wr_bytes(&w, data, n);
  if (!w.ok) {
    return 0;
  }
  *taken = n;
  return (size_t)(w.p - p);
}

size_t zttp_quic_frame_encode_crypto(uint8_t *p, size_t cap, uint64_t offset,
                                     const uint8_t *data, size_t len,
                                     size_t *taken) {
  if (offset > ZTTP_VARINT_MAX) {
    return 0;
  }
  size_t hdr = 1 + zttp_varint_len(offset);
  if (hdr > cap) {
    return 0;
  }
  size_t n = fit_with_len(cap - hdr, len);
  if (n == (size_t)-1 || (len > 0 && n == 0) || n > ZTTP_VARINT_MAX - offset) {
    return 0;
  }
  wr w;
  wr_init(&w, p, cap);
  wr_u8(&w, ZTTP_QUIC_FT_CRYPTO);
  wr_varint(&w, offset);
  wr_len_bytes(&w, data, n);
  if (!w.ok) {
    return 0;
  }
  *taken = n;
  return (size_t)(w.p - p);
}

static void encode_body(wr *w, const zttp_quic_frame *f) {
  uint64_t t = f->type;
  if (t >= ZTTP_QUIC_FT_STREAM && t <= (ZTTP_QUIC_FT_STREAM | 7)) {
    if ((!(t & ZTTP_QUIC_STREAM_OFF) && f->u.stream.offset != 0) ||
        f->u.stream.offset > ZTTP_VARINT_MAX ||
        f->u.stream.len > ZTTP_VARINT_MAX - f->u.stream.offset) {
      w->ok = 0;
      return;
    }
    wr_varint(w, f->u.stream.stream_id);
    if (t & ZTTP_QUIC_STREAM_OFF) {
      wr_varint(w, f->u.stream.offset);
    }
    if (t & ZTTP_QUIC_STREAM_LEN) {
      wr_varint(w, f->u.stream.len);
    }
    wr_bytes(w, f->u.stream.data, f->u.stream.len);
    return;
  }
  switch (t) {
  case ZTTP_QUIC_FT_PADDING:
    /* The type byte is already written. */
    if (f->u.padding.len == 0 || wr_room(w) < f->u.padding.len - 1) {
      w->ok = 0;
      return;
    }
    memset(w->p, 0, f->u.padding.len - 1);
    w->p += f->u.padding.len - 1;
    return;
  case ZTTP_QUIC_FT_PING:
  case ZTTP_QUIC_FT_HANDSHAKE_DONE:
    return;
  case ZTTP_QUIC_FT_ACK:
  case ZTTP_QUIC_FT_ACK_ECN:
    /* zttp_quic_frame_encode() handles ACK. */
    w->ok = 0;
    return;
  case ZTTP_QUIC_FT_RESET_STREAM:
    wr_varint(w, f->u.reset_stream.stream_id);
    wr_varint(w, f->u.reset_stream.error_code);
    wr_varint(w, f->u.reset_stream.final_size);
    return;
  case ZTTP_QUIC_FT_STOP_SENDING:
    wr_varint(w, f->u.stop_sending.stream_id);
    wr_varint(w, f->u.stop_sending.error_code);
    return;
  case ZTTP_QUIC_FT_CRYPTO:
    if (f->u.crypto.offset > ZTTP_VARINT_MAX ||
        f->u.crypto.len > ZTTP_VARINT_MAX - f->u.crypto.offset) {
      w->ok = 0;
      return;
    }
    wr_varint(w, f->u.crypto.offset);
    wr_len_bytes(w, f->u.crypto.data, f->u.crypto.len);
    return;
  case ZTTP_QUIC_FT_NEW_TOKEN:
    if (f->u.new_token.len == 0) {
      w->ok = 0;
      return;
    }
    wr_len_bytes(w, f->u.new_token.token, f->u.new_token.len);
    return;
  case ZTTP_QUIC_FT_MAX_DATA:
  case ZTTP_QUIC_FT_DATA_BLOCKED:
    wr_varint(w, f->u.limit.value);
    return;
  case ZTTP_QUIC_FT_MAX_STREAM_DATA:
  case ZTTP_QUIC_FT_STREAM_DATA_BLOCKED:
    wr_varint(w, f->u.limit.stream_id);
    wr_varint(w, f->u.limit.value);
    return;
  case ZTTP_QUIC_FT_MAX_STREAMS_BIDI:
  case ZTTP_QUIC_FT_MAX_STREAMS_UNI:
  case ZTTP_QUIC_FT_STREAMS_BLOCKED_BIDI:
  case ZTTP_QUIC_FT_STREAMS_BLOCKED_UNI:
    if (f->u.limit.value > ZTTP_QUIC_MAX_STREAMS) {
      w->ok = 0;
      return;
    }
    wr_varint(w, f->u.limit.value);
    return;
  case ZTTP_QUIC_FT_NEW_CONNECTION_ID:
    if (f->u.new_connection_id.cid_len < 1 ||
        f->u.new_connection_id.cid_len > ZTTP_QUIC_MAX_CID_LEN ||
        f->u.new_connection_id.retire_prior_to > f->u.new_connection_id.seq) {
      w->ok = 0;
      return;
    }
    wr_varint(w, f->u.new_connection_id.seq);
    wr_varint(w, f->u.new_connection_id.retire_prior_to);
    wr_u8(w, (uint8_t)f->u.new_connection_id.cid_len);
    wr_bytes(w, f->u.new_connection_id.cid, f->u.new_connection_id.cid_len);
    wr_bytes(w, f->u.new_connection_id.reset_token, ZTTP_QUIC_RESET_TOKEN_LEN);
    return;
  case ZTTP_QUIC_FT_RETIRE_CONNECTION_ID:
    wr_varint(w, f->u.retire_connection_id.seq);
    return;
  case ZTTP_QUIC_FT_PATH_CHALLENGE:
  case ZTTP_QUIC_FT_PATH_RESPONSE:
    wr_bytes(w, f->u.path.data, 8);
    return;
  case ZTTP_QUIC_FT_CONNECTION_CLOSE:
  case ZTTP_QUIC_FT_CONNECTION_CLOSE_APP:
    wr_varint(w, f->u.close.error_code);
    if (t == ZTTP_QUIC_FT_CONNECTION_CLOSE) {
      wr_varint(w, f->u.close.frame_type);
    }
    wr_len_bytes(w, f->u.close.reason, f->u.close.reason_len);
    return;
  case ZTTP_QUIC_FT_DATAGRAM:
    wr_bytes(w, f->u.datagram.data, f->u.datagram.len);
    return;
  case ZTTP_QUIC_FT_DATAGRAM_LEN:
    wr_len_bytes(w, f->u.datagram.data, f->u.datagram.len);
    return;
  default:
    w->ok = 0;
    return;
  }
}

size_t zttp_quic_frame_encode(const zttp_quic_frame *frame, uint8_t *p,
                              size_t cap) {
  if (frame->type == ZTTP_QUIC_FT_ACK || frame->type == ZTTP_QUIC_FT_ACK_ECN) {
    size_t k = 0;
    size_t n = zttp_quic_frame_encode_ack(frame, p, cap, &k);
    return n != 0 && k == frame->u.ack.num_ranges ? n : 0;
  }
  if (frame->type > 0x3f) {
    return 0; /* none of ours needs more than one byte */
  }
  wr w;
  wr_init(&w, p, cap);
  wr_u8(&w, (uint8_t)frame->type);
  if (w.ok) {
    encode_body(&w, frame);
  }
  return w.ok ? (size_t)(w.p - p) : 0;
}

/* ---- classification -------------------------------------------------------
 */

/* Table 3 "Pkts" as bits. */
#define PK_I 1u
#define PK_H 2u
#define PK_0 4u
#define PK_1 8u

static unsigned pkts_of(uint64_t t) {
  if (t >= ZTTP_QUIC_FT_STREAM && t <= (ZTTP_QUIC_FT_STREAM | 7)) {
    return PK_0 | PK_1;
  }
  switch (t) {
  case ZTTP_QUIC_FT_PADDING:
  case ZTTP_QUIC_FT_PING:
  case ZTTP_QUIC_FT_CONNECTION_CLOSE:
    return PK_I | PK_H | PK_0 | PK_1;
  case ZTTP_QUIC_FT_ACK:
  case ZTTP_QUIC_FT_ACK_ECN:
  case ZTTP_QUIC_FT_CRYPTO:
    return PK_I | PK_H | PK_1;
  case ZTTP_QUIC_FT_RESET_STREAM:
  case ZTTP_QUIC_FT_STOP_SENDING:
  case ZTTP_QUIC_FT_MAX_DATA:
  case ZTTP_QUIC_FT_MAX_STREAM_DATA:
  case ZTTP_QUIC_FT_MAX_STREAMS_BIDI:
  case ZTTP_QUIC_FT_MAX_STREAMS_UNI:
  case ZTTP_QUIC_FT_DATA_BLOCKED:
  case ZTTP_QUIC_FT_STREAM_DATA_BLOCKED:
  case ZTTP_QUIC_FT_STREAMS_BLOCKED_BIDI:
  case ZTTP_QUIC_FT_STREAMS_BLOCKED_UNI:
  case ZTTP_QUIC_FT_NEW_CONNECTION_ID:
  case ZTTP_QUIC_FT_RETIRE_CONNECTION_ID:
  case ZTTP_QUIC_FT_PATH_CHALLENGE:
  /* "ih": only 0x1c in Initial and Handshake. */
  case ZTTP_QUIC_FT_CONNECTION_CLOSE_APP:
  /* RFC 9221 §4 */
  case ZTTP_QUIC_FT_DATAGRAM:
  case ZTTP_QUIC_FT_DATAGRAM_LEN:
    return PK_0 | PK_1;
  case ZTTP_QUIC_FT_NEW_TOKEN:
  case ZTTP_QUIC_FT_PATH_RESPONSE:
  case ZTTP_QUIC_FT_HANDSHAKE_DONE:
    return PK_1;
  default:
    return 0;
  }
}

int zttp_quic_frame_allowed(uint64_t frame_type, uint32_t pkt_type) {
  unsigned pk = 0;
  switch ((enum zttp_quic_pkt_type)pkt_type) {
  case ZTTP_QUIC_PKT_INITIAL:
    pk = PK_I;
    break;
  case ZTTP_QUIC_PKT_HANDSHAKE:
    pk = PK_H;
    break;
  case ZTTP_QUIC_PKT_ZERO_RTT:
    pk = PK_0;
    break;
  case ZTTP_QUIC_PKT_SHORT:
    pk = PK_1;
    break;
  case ZTTP_QUIC_PKT_RETRY:
  case ZTTP_QUIC_PKT_VERSION_NEGOTIATION:
    return 0;
  }
  return (pkts_of(frame_type) & pk) != 0;
}

int zttp_quic_frame_ack_eliciting(uint64_t frame_type) {
  switch (frame_type) {
  case ZTTP_QUIC_FT_PADDING:
  case ZTTP_QUIC_FT_ACK:
  case ZTTP_QUIC_FT_ACK_ECN:
  case ZTTP_QUIC_FT_CONNECTION_CLOSE:
  case ZTTP_QUIC_FT_CONNECTION_CLOSE_APP:
    return 0;
  default:
    return 1;
  }
}

int zttp_quic_frame_probing(uint64_t frame_type) {
  switch (frame_type) {
  case ZTTP_QUIC_FT_PADDING:
  case ZTTP_QUIC_FT_NEW_CONNECTION_ID:
  case ZTTP_QUIC_FT_PATH_CHALLENGE:
  case ZTTP_QUIC_FT_PATH_RESPONSE:
    return 1;
  default:
    return 0;
  }
}

const char *zttp_quic_frame_name(uint64_t frame_type) {
  static const char *const names[] = {
      "PADDING",
      "PING",
      "ACK",
      "ACK_ECN",
      "RESET_STREAM",
      "STOP_SENDING",
      "CRYPTO",
      "NEW_TOKEN",
      "STREAM",
      "STREAM",
      "STREAM",
      "STREAM",
      "STREAM",
      "STREAM",
      "STREAM",
      "STREAM",
      "MAX_DATA",
      "MAX_STREAM_DATA",
      "MAX_STREAMS_BIDI",
      "MAX_STREAMS_UNI",
      "DATA_BLOCKED",
      "STREAM_DATA_BLOCKED",
      "STREAMS_BLOCKED_BIDI",
      "STREAMS_BLOCKED_UNI",
      "NEW_CONNECTION_ID",
      "RETIRE_CONNECTION_ID",
      "PATH_CHALLENGE",
      "PATH_RESPONSE",
      "CONNECTION_CLOSE",
      "CONNECTION_CLOSE_APP",
      "HANDSHAKE_DONE",
  };
  if (frame_type < sizeof(names) / sizeof(names[0])) {
    return names[frame_type];
  }
  if (frame_type == ZTTP_QUIC_FT_DATAGRAM ||
      frame_type == ZTTP_QUIC_FT_DATAGRAM_LEN) {
    return "DATAGRAM";
  }
  return "UNKNOWN";
}
