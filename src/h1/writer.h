/* The HTTP/1.1 serializer: field validation, framing analysis and wire
 * formatting of heads and chunks (RFC 9112). Nothing is written unless all
 * of it is valid and fits. SPDX-License-Identifier: MIT */
#ifndef ZTTP_H1_WRITER_H
#define ZTTP_H1_WRITER_H

#include "common/buf.h"
#include "engine.h"

/* What the caller's header fields say about framing and persistence. */
typedef struct zttp_h1_fields_info {
  uint8_t has_cl;
  uint8_t has_te;
  uint8_t has_connection;
  uint8_t has_upgrade;
  uint32_t conn_options; /* ZTTP_H1_F_CLOSE / _KEEP_ALIVE / _CONN_UPGRADE */
  uint32_t num_host;
  uint64_t content_length;
} zttp_h1_fields_info;

/* zttp_h1_check_fields validates |n| fields (names are tokens, values hold
 * no CTL but HTAB and no DEL) and fills |info|. Trailers (|trailers| 1) may
 * not carry framing or routing fields (RFC 9110 §6.5.1). Ambiguous framing
 * (Content-Length with Transfer-Encoding, differing Content-Length values,
 * a Transfer-Encoding that does not end in one chunked) is refused. Returns
 * 0 or ZTTP_ERR_INVALID_FIELD with *why set. */
int32_t zttp_h1_check_fields(zttp_h1_fields_info *info, const char **why,
                             const zttp_header *fields, size_t n, int trailers);

/* zttp_h1_token_valid: 1*tchar. */
int zttp_h1_token_valid(const char *s, size_t len);

/* zttp_h1_target_valid: 1*(0x21..0x7E). */
int zttp_h1_target_valid(const char *s, size_t len);

/* zttp_h1_text_valid: *(HTAB / SP / VCHAR / obs-text) (reason phrases). */
int zttp_h1_text_valid(const char *s, size_t len);

/* zttp_h1_reason returns the standard reason phrase for |status| ("" if
 * none). */
const char *zttp_h1_reason(uint32_t status);

/* The fields zttp adds after the caller's (at most two). */
typedef struct zttp_h1_extra {
  const char *lines[2];
  size_t num;
  const char *tail; /* bytes after the empty line (a last chunk), or NULL */
} zttp_h1_extra;

/* zttp_h1_write_head appends |start_line| (without CRLF), the fields, the
 * extra lines, the empty line and extra->tail to |out|. Returns 0,
 * ZTTP_ERR_BUFFER_FULL or ZTTP_ERR_NOMEM; on error |out| is unchanged. */
int32_t zttp_h1_write_head(zttp_buf *out, const zttp_mem *mem,
                           const zttp_str *start_line, size_t num_parts,
                           const zttp_header *fields, size_t n,
                           const zttp_h1_extra *extra);

/* zttp_h1_write_status writes a response head: "HTTP/1.1 |status|
 * |reason|" (reason.base NULL: the standard phrase), then as
 * zttp_h1_write_head(). */
int32_t zttp_h1_write_status(zttp_buf *out, const zttp_mem *mem,
                             uint32_t status, zttp_str reason,
                             const zttp_header *fields, size_t n,
                             const zttp_h1_extra *extra);

/* zttp_h1_chunk_overhead is the framing a chunk of |len| bytes adds. */
size_t zttp_h1_chunk_overhead(size_t len);

/* zttp_h1_write_chunk appends "<hex>\r\n<data>\r\n" (|len| > 0). The caller
 * reserved the room. */
void zttp_h1_write_chunk(zttp_buf *out, const uint8_t *data, size_t len);

/* zttp_h1_write_last_chunk appends "0\r\n", the trailers and "\r\n".
 * Returns 0, ZTTP_ERR_BUFFER_FULL or ZTTP_ERR_NOMEM; on error |out| is
 * unchanged. */
int32_t zttp_h1_write_last_chunk(zttp_buf *out, const zttp_mem *mem,
                                 const zttp_header *trailers, size_t n);

#endif
