/* Stream data buffers for QUIC streams and CRYPTO streams (RFC 9000 §2.2,
 * §4.5, §13.3): reassembly of received data that arrives out of order, and
 * retention of sent data until it is acknowledged, with retransmission of
 * what was lost. Both are bounded: the receive side by the flow-control
 * limit the caller passes and a cap on fragments, the send side by a byte
 * limit. SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_SBUF_H
#define ZTTP_QUIC_SBUF_H

#include "zttp/zttp.h"

#include "common/mem.h"
#include "common/ranges.h"

#define ZTTP_QUIC_NO_FINAL_SIZE UINT64_MAX

/* Results of zttp_quic_recvbuf_write() besides 0 and ZTTP_ERR_NOMEM. */
enum {
  ZTTP_QUIC_RB_FLOW = -1000,       /* past |max_offset|: FLOW_CONTROL_ERROR */
  ZTTP_QUIC_RB_FINAL_SIZE = -1001, /* RFC 9000 §4.5: FINAL_SIZE_ERROR */
  ZTTP_QUIC_RB_FRAGMENTS = -1002   /* more holes than the fragment cap */
};

/* Received data: bytes [base, base + contiguous) are ready; others wait. */
typedef struct zttp_quic_recvbuf {
  uint8_t *data; /* data[start] holds stream offset |base| */
  size_t start;
  size_t cap;
  uint64_t base;       /* the next offset the application reads */
  uint64_t highest;    /* the end of the highest data received */
  uint64_t final_size; /* ZTTP_QUIC_NO_FINAL_SIZE until known */
  zttp_ranges have;    /* received ranges at or above base */
} zttp_quic_recvbuf;

void zttp_quic_recvbuf_init(zttp_quic_recvbuf *rb, size_t max_fragments);
void zttp_quic_recvbuf_free(zttp_quic_recvbuf *rb, const zttp_mem *mem);

/* zttp_quic_recvbuf_reuse empties |rb| for a new stream with |max_fragments|
 * like zttp_quic_recvbuf_init(), but keeps its allocations (the data buffer
 * only when it is at most |keep| bytes): a reused stream allocates nothing.
 */
void zttp_quic_recvbuf_reuse(zttp_quic_recvbuf *rb, const zttp_mem *mem,
                             size_t max_fragments, size_t keep);

/* zttp_quic_recvbuf_write stores |len| bytes at stream |offset| (duplicates
 * and overlaps are fine; RFC 9000 §2.2 lets us assume the peer sends the
 * same bytes), with |fin| when the frame carries the final size. Data below
 * |base| is ignored. Nothing may end past |max_offset| (the flow-control
 * limit we advertised). Returns 0, ZTTP_QUIC_RB_FLOW, ZTTP_QUIC_RB_FINAL_SIZE,
 * ZTTP_QUIC_RB_FRAGMENTS or ZTTP_ERR_NOMEM; on error nothing changed. */
int32_t zttp_quic_recvbuf_write(zttp_quic_recvbuf *rb, const zttp_mem *mem,
                                uint64_t offset, const uint8_t *data,
                                size_t len, int fin, uint64_t max_offset);

/* zttp_quic_recvbuf_final_size records a final size from RESET_STREAM
 * (RFC 9000 §4.5). Returns 0 or ZTTP_QUIC_RB_FINAL_SIZE. */
int32_t zttp_quic_recvbuf_final_size(zttp_quic_recvbuf *rb, uint64_t size);

/* zttp_quic_recvbuf_peek points |*p| at the bytes ready to read and returns
 * how many (0: none). Valid until the next write or consume. */
size_t zttp_quic_recvbuf_peek(const zttp_quic_recvbuf *rb, const uint8_t **p);

/* zttp_quic_recvbuf_consume marks |n| (at most what peek returned) as read. */
void zttp_quic_recvbuf_consume(zttp_quic_recvbuf *rb, size_t n);

/* 1 when every byte up to the final size was read. */
static inline int zttp_quic_recvbuf_done(const zttp_quic_recvbuf *rb) {
  return rb->final_size != ZTTP_QUIC_NO_FINAL_SIZE &&
         rb->base == rb->final_size;
}

/* Sent data kept until acknowledged. Offsets [base, written) are held;
 * [base, sent) went out at least once; |lost| lists ranges to send again. */
typedef struct zttp_quic_sendbuf {
  uint8_t *data; /* data[start] holds stream offset |base| */
  size_t start;
  size_t cap;
  size_t limit;      /* bytes [base, written) may not exceed it */
  uint64_t base;     /* everything below is acknowledged */
  uint64_t written;  /* the end of what the application wrote */
  uint64_t sent;     /* the end of what was sent at least once */
  zttp_ranges acked; /* acknowledged ranges above base */
  zttp_ranges lost;  /* ranges to retransmit */
  uint8_t fin;       /* the application ended the stream at |written| */
  uint8_t fin_sent;
  uint8_t fin_acked;
  uint8_t fin_lost;
} zttp_quic_sendbuf;

void zttp_quic_sendbuf_init(zttp_quic_sendbuf *sb, size_t limit,
                            size_t max_ranges);
void zttp_quic_sendbuf_free(zttp_quic_sendbuf *sb, const zttp_mem *mem);

/* zttp_quic_sendbuf_reuse is zttp_quic_sendbuf_init() keeping the
 * allocations (the data buffer only when it is at most |keep| bytes). */
void zttp_quic_sendbuf_reuse(zttp_quic_sendbuf *sb, const zttp_mem *mem,
                             size_t limit, size_t max_ranges, size_t keep);

/* zttp_quic_sendbuf_write appends up to |len| bytes (what the limit allows)
 * and returns how many it took, or ZTTP_ERR_NOMEM. With |fin| the stream
 * ends once all |len| bytes were taken. Returns ZTTP_ERR_INVALID_STATE
 * after fin. */
int64_t zttp_quic_sendbuf_write(zttp_quic_sendbuf *sb, const zttp_mem *mem,
                                const uint8_t *data, size_t len, int fin);

/* zttp_quic_sendbuf_room returns how many more bytes write would take. */
size_t zttp_quic_sendbuf_room(const zttp_quic_sendbuf *sb);

/* What to send next: lost data first (lowest offset), then new data below
 * |new_limit| (the peer's flow-control limit). */
typedef struct zttp_quic_chunk {
  uint64_t offset;
  const uint8_t *data;
  size_t len;
  int fin;        /* this chunk carries the FIN */
  int retransmit; /* it was sent before */
} zttp_quic_chunk;

/* zttp_quic_sendbuf_next fills |c| with at most |max_len| bytes and returns
 * 1, or 0 when there is nothing to send (a bare FIN is a chunk of length
 * 0). It does not change the buffer: call zttp_quic_sendbuf_on_sent with
 * what was actually put in a packet. */
int zttp_quic_sendbuf_next(const zttp_quic_sendbuf *sb, zttp_quic_chunk *c,
                           size_t max_len, uint64_t new_limit);

/* zttp_quic_sendbuf_on_sent records that a chunk zttp_quic_sendbuf_next()
 * returned, [offset, offset + len) (and the FIN), went out in a packet;
 * |len| may be shorter than the chunk's. */
void zttp_quic_sendbuf_on_sent(zttp_quic_sendbuf *sb, uint64_t offset,
                               size_t len, int fin);

/* zttp_quic_sendbuf_on_acked: [offset, offset + len) (and the FIN) arrived;
 * memory below the acknowledged prefix is released. Returns 0,
 * ZTTP_ERR_BUFFER_FULL (too many acknowledged holes: the caller may keep
 * the range as unacknowledged, which only costs a retransmission) or
 * ZTTP_ERR_NOMEM. */
int32_t zttp_quic_sendbuf_on_acked(zttp_quic_sendbuf *sb, const zttp_mem *mem,
                                   uint64_t offset, size_t len, int fin);

/* zttp_quic_sendbuf_on_lost: [offset, offset + len) (and the FIN) must be
 * sent again (what was acknowledged meanwhile is not). Returns 0 or
 * ZTTP_ERR_NOMEM / ZTTP_ERR_BUFFER_FULL (the caller treats it as fatal). */
int32_t zttp_quic_sendbuf_on_lost(zttp_quic_sendbuf *sb, const zttp_mem *mem,
                                  uint64_t offset, size_t len, int fin);

/* 1 when everything written, and the FIN, was acknowledged. */
static inline int zttp_quic_sendbuf_done(const zttp_quic_sendbuf *sb) {
  return sb->fin && sb->fin_acked && sb->base == sb->written;
}

#endif
