/* SPDX-License-Identifier: MIT */
#include "h2/frame.h"

#include <string.h>

int32_t zttp_h2_write_frame(zttp_buf *out, const zttp_mem *mem, uint8_t type,
                            uint8_t flags, uint32_t stream_id,
                            const uint8_t *payload, size_t len) {
  int32_t rv = zttp_buf_reserve(out, mem, ZTTP_H2_FRAME_HEADER_LEN + len);
  if (rv != 0) {
    return rv;
  }
  uint8_t *p = out->data + out->end;
  zttp_h2_frame_header_write(p, (uint32_t)len, type, flags, stream_id);
  out->end += ZTTP_H2_FRAME_HEADER_LEN;
  zttp_buf_put(out, payload, len);
  return 0;
}

int32_t zttp_h2_write_rst_stream(zttp_buf *out, const zttp_mem *mem,
                                 uint32_t stream_id, uint32_t error_code) {
  uint8_t p[4];
  zttp_h2_put32(p, error_code);
  return zttp_h2_write_frame(out, mem, ZTTP_H2_RST_STREAM, 0, stream_id, p, 4);
}

int32_t zttp_h2_write_window_update(zttp_buf *out, const zttp_mem *mem,
                                    uint32_t stream_id, uint32_t increment) {
  uint8_t p[4];
  zttp_h2_put32(p, increment & ZTTP_H2_MAX_STREAM_ID);
  return zttp_h2_write_frame(out, mem, ZTTP_H2_WINDOW_UPDATE, 0, stream_id, p,
                             4);
}

int32_t zttp_h2_write_goaway(zttp_buf *out, const zttp_mem *mem,
                             uint32_t last_stream_id, uint32_t error_code,
                             const char *debug, size_t debug_len) {
  int32_t rv =
      zttp_buf_reserve(out, mem, ZTTP_H2_FRAME_HEADER_LEN + 8 + debug_len);
  if (rv != 0) {
    return rv;
  }
  uint8_t *p = out->data + out->end;
  p = zttp_h2_frame_header_write(p, (uint32_t)(8 + debug_len), ZTTP_H2_GOAWAY,
                                 0, 0);
  p = zttp_h2_put32(p, last_stream_id & ZTTP_H2_MAX_STREAM_ID);
  p = zttp_h2_put32(p, error_code);
  if (debug_len != 0) {
    memcpy(p, debug, debug_len);
  }
  out->end += ZTTP_H2_FRAME_HEADER_LEN + 8 + debug_len;
  return 0;
}

uint32_t zttp_h2_wire_error(int32_t err) {
  switch (err) {
  case ZTTP_ERR_FLOW_CONTROL:
    return ZTTP_H2_FLOW_CONTROL_ERROR;
  case ZTTP_ERR_FRAME_SIZE:
    return ZTTP_H2_FRAME_SIZE_ERROR;
  case ZTTP_ERR_COMPRESSION:
    return ZTTP_H2_COMPRESSION_ERROR;
  case ZTTP_ERR_STREAM_CLOSED:
    return ZTTP_H2_STREAM_CLOSED;
  case ZTTP_ERR_ENHANCE_YOUR_CALM:
  case ZTTP_ERR_LIMIT_CONTINUATIONS:
  case ZTTP_ERR_LIMIT_HEADER_BYTES:
  case ZTTP_ERR_LIMIT_HEADERS:
  case ZTTP_ERR_LIMIT_TRAILERS:
  case ZTTP_ERR_LIMIT_TRAILER_BYTES:
    return ZTTP_H2_ENHANCE_YOUR_CALM;
  case ZTTP_ERR_NOMEM:
    return ZTTP_H2_INTERNAL_ERROR;
  default:
    return ZTTP_H2_PROTOCOL_ERROR;
  }
}

static int b64url_value(int c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '-') {
    return 62;
  }
  if (c == '_') {
    return 63;
  }
  return -1;
}

int64_t zttp_h2_base64url_decode(uint8_t *dst, const char *src, size_t len) {
  while (len > 0 && src[len - 1] == '=') {
    len--;
  }
  if (len % 4 == 1) {
    return -1;
  }
  size_t o = 0;
  uint32_t acc = 0;
  unsigned bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64url_value((unsigned char)src[i]);
    if (v < 0) {
      return -1;
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      dst[o++] = (uint8_t)(acc >> bits);
    }
  }
  /* RFC 4648 §3.5: leftover bits must be zero. */
  if ((acc & ((1u << bits) - 1)) != 0) {
    return -1;
  }
  return (int64_t)o;
}
