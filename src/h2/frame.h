/* HTTP/2 frames (RFC 9113 §4, §6): the frame header, the type, flag, error
 * and setting numbers, and writers for the frames the engine builds.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_H2_FRAME_H
#define ZTTP_H2_FRAME_H

#include "zttp/zttp.h"

#include "common/buf.h"

/* RFC 9113 §3.4 */
#define ZTTP_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define ZTTP_H2_PREFACE_LEN 24

#define ZTTP_H2_FRAME_HEADER_LEN 9
#define ZTTP_H2_DEFAULT_FRAME_SIZE 16384u
#define ZTTP_H2_MAX_FRAME_SIZE_CAP 16777215u
#define ZTTP_H2_DEFAULT_WINDOW 65535
#define ZTTP_H2_MAX_WINDOW 2147483647
#define ZTTP_H2_MAX_STREAM_ID 0x7fffffffu

/* RFC 9113 §6, RFC 9218 §7.1 */
enum {
  ZTTP_H2_DATA = 0x0,
  ZTTP_H2_HEADERS = 0x1,
  ZTTP_H2_PRIORITY = 0x2,
  ZTTP_H2_RST_STREAM = 0x3,
  ZTTP_H2_SETTINGS = 0x4,
  ZTTP_H2_PUSH_PROMISE = 0x5,
  ZTTP_H2_PING = 0x6,
  ZTTP_H2_GOAWAY = 0x7,
  ZTTP_H2_WINDOW_UPDATE = 0x8,
  ZTTP_H2_CONTINUATION = 0x9,
  ZTTP_H2_PRIORITY_UPDATE = 0x10
};

enum {
  ZTTP_H2_FLAG_END_STREAM = 0x1,
  ZTTP_H2_FLAG_ACK = 0x1,
  ZTTP_H2_FLAG_END_HEADERS = 0x4,
  ZTTP_H2_FLAG_PADDED = 0x8,
  ZTTP_H2_FLAG_PRIORITY = 0x20
};

/* Error codes and settings identifiers are public: ZTTP_H2_* in zttp.h. */

typedef struct zttp_h2_frame_header {
  uint32_t length;
  uint8_t type;
  uint8_t flags;
  uint32_t stream_id;
} zttp_h2_frame_header;

/* zttp_h2_frame_header_parse reads the 9 bytes at |p| (RFC 9113 §4.1; the
 * reserved bit is ignored). */
static inline void zttp_h2_frame_header_parse(zttp_h2_frame_header *h,
                                              const uint8_t *p) {
  h->length = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
  h->type = p[3];
  h->flags = p[4];
  h->stream_id = ((uint32_t)p[5] << 24 | (uint32_t)p[6] << 16 |
                  (uint32_t)p[7] << 8 | p[8]) &
                 ZTTP_H2_MAX_STREAM_ID;
}

static inline uint32_t zttp_h2_get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static inline uint8_t *zttp_h2_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
  return p + 4;
}

/* zttp_h2_frame_header_write writes a frame header at |p| and returns
 * p + 9. */
static inline uint8_t *zttp_h2_frame_header_write(uint8_t *p, uint32_t length,
                                                  uint8_t type, uint8_t flags,
                                                  uint32_t stream_id) {
  p[0] = (uint8_t)(length >> 16);
  p[1] = (uint8_t)(length >> 8);
  p[2] = (uint8_t)length;
  p[3] = type;
  p[4] = flags;
  return zttp_h2_put32(p + 5, stream_id);
}

/* The writers below append one frame to |out| after reserving room (the
 * limit is the caller's: control frames use the reserve above the output
 * limit). They return 0, ZTTP_ERR_BUFFER_FULL or ZTTP_ERR_NOMEM; on error
 * nothing was appended. */
int32_t zttp_h2_write_frame(zttp_buf *out, const zttp_mem *mem, uint8_t type,
                            uint8_t flags, uint32_t stream_id,
                            const uint8_t *payload, size_t len);
int32_t zttp_h2_write_rst_stream(zttp_buf *out, const zttp_mem *mem,
                                 uint32_t stream_id, uint32_t error_code);
int32_t zttp_h2_write_window_update(zttp_buf *out, const zttp_mem *mem,
                                    uint32_t stream_id, uint32_t increment);
int32_t zttp_h2_write_goaway(zttp_buf *out, const zttp_mem *mem,
                             uint32_t last_stream_id, uint32_t error_code,
                             const char *debug, size_t debug_len);

/* zttp_h2_wire_error maps a fatal ZTTP_ERR_* to the HTTP/2 error code a
 * GOAWAY carries (RFC 9113 §7). */
uint32_t zttp_h2_wire_error(int32_t err);

/* zttp_h2_base64url_decode decodes RFC 4648 §5 base64url without padding
 * (padding is tolerated) into |dst| (at least len * 3 / 4 bytes); returns
 * the decoded length or -1. */
int64_t zttp_h2_base64url_decode(uint8_t *dst, const char *src, size_t len);

#endif
