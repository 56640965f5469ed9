/* The message rules HTTP/2 and HTTP/3 share (RFC 9113 §8, RFC 9114 §4.1-
 * §4.3): pseudo-header fields, field validity, connection-specific fields,
 * content-length, extended CONNECT's :protocol (RFC 8441, RFC 9220), and
 * the RFC 9218 priority field; the request and response events built from
 * a checked section, and the outgoing field sections (pseudo-header
 * assembly, validation, lowercasing). Used by the receive and send sides
 * of src/h2 and src/h3, which keep the framing and their own defaults.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_MSG_H
#define ZTTP_COMMON_MSG_H

#include "zttp/zttp.h"

#include <string.h>

#include "common/mem.h"

/* What a received header block says. */
typedef struct zttp_msg {
  zttp_str method;
  zttp_str scheme;
  zttp_str authority;
  zttp_str path;
  zttp_str protocol;
  uint32_t status;
  /* Index of the first regular field; the pseudo-header fields precede it. */
  size_t first_regular;
  /* -1 when absent. */
  int64_t content_length;
  uint8_t has_host;
  uint8_t expect_continue;
  uint8_t has_priority;
  uint8_t urgency;
  uint8_t incremental;
} zttp_msg;

enum { ZTTP_MSG_REQUEST, ZTTP_MSG_RESPONSE, ZTTP_MSG_TRAILERS };

/* zttp_msg_check validates a decoded field section of |kind| and fills
 * |msg|. Returns 0, or -1 with |*why| set when the message is malformed
 * (RFC 9113 §8.1.1: a stream error of type PROTOCOL_ERROR; RFC 9114 §4.1.2:
 * H3_MESSAGE_ERROR). |connect_protocol| says whether we accept :protocol
 * (RFC 8441 §4, RFC 9220 §3). */
int zttp_msg_check(zttp_msg *msg, const char **why, const zttp_header *fields,
                   size_t num_fields, int kind, int connect_protocol);

/* zttp_msg_priority_parse reads an RFC 9218 §4 Priority field value into
 * |urgency| and |incremental| (left unchanged for members that are absent or
 * invalid). */
void zttp_msg_priority_parse(uint8_t *urgency, uint8_t *incremental,
                             const char *v, size_t n);

/* zttp_msg_name_valid_send returns 1 when |name| is a valid field name once
 * lowercased, and sets |*upper| when it has uppercase letters. */
int zttp_msg_name_valid_send(const char *name, size_t len, int *upper);

/* zttp_msg_value_valid_send returns 1 when |value| has no CTL (other than
 * HTAB) or DEL. */
int zttp_msg_value_valid_send(const char *value, size_t len);

/* zttp_msg_connection_specific returns 1 for the lowercase names RFC 9113
 * §8.2.2 forbids (te is checked separately). */
int zttp_msg_connection_specific(const char *name, size_t len);

/* zttp_msg_parse_uint parses 1*DIGIT without overflow past 2^62; -1 if not. */
int64_t zttp_msg_parse_uint(const char *s, size_t n);

/* zttp_msg_is_connect returns 1 when |method| is CONNECT (RFC 9113 §8.5,
 * RFC 9114 §4.4). */
static inline int zttp_msg_is_connect(zttp_str method) {
  return method.len == 7 && memcmp(method.base, "CONNECT", 7) == 0;
}

/* zttp_msg_request_event fills |ev| with the request that |msg| describes
 * (zttp_msg_check() of the |num| decoded |fields|, ZTTP_MSG_REQUEST) on
 * |stream_id|: its flags (END_STREAM when |end_stream|, EXPECT_CONTINUE,
 * UPGRADE for CONNECT) and every member of ev->u.request. The target is
 * :path, or :authority for a plain CONNECT; :authority becomes a host field
 * when there is none (RFC 9113 §8.3.1, RFC 9114 §4.3.1), written over the
 * last pseudo-header entry of |fields|. The event points into |fields| and
 * what they point to. */
void zttp_msg_request_event(zttp_event *ev, zttp_header *fields, size_t num,
                            const zttp_msg *msg, int64_t stream_id,
                            int end_stream, uint32_t http_version);

/* zttp_msg_response_event fills |ev| with the response that |msg|
 * describes (ZTTP_MSG_RESPONSE, from the |num| decoded |fields|) on
 * |stream_id| with |flags|: every member of ev->u.response, no reason
 * phrase. The event points into |fields|. */
void zttp_msg_response_event(zttp_event *ev, const zttp_header *fields,
                             size_t num, const zttp_msg *msg, int64_t stream_id,
                             uint32_t flags, uint32_t http_version);

/* ---- outgoing field sections ----------------------------------------------
 *
 * The send side of HTTP/2 and HTTP/3 builds each field section in one
 * scratch list: pseudo-header fields first, then the caller's fields,
 * validated and lowercased (RFC 9113 §8.2, §8.3; RFC 9114 §4.2, §4.3). The
 * engine encodes the list (HPACK, QPACK) and frames it. */

/* The scratch, kept by the engine and reused for every section: it grows
 * with the largest section and is freed with zttp_msg_out_free(). The
 * entries point into the caller's fields, into |lower| (lowercased names)
 * and into |status|: valid until the next build or the caller's fields
 * change. */
typedef struct zttp_msg_out {
  zttp_header *fields;
  size_t cap;
  char *lower;
  size_t lower_cap;
  char status[4]; /* the :status digits */
} zttp_msg_out;

/* What building a section found. */
typedef struct zttp_msg_built {
  size_t num_fields;      /* entries of zttp_msg_out.fields to encode */
  int64_t content_length; /* the content-length sent, -1: none */
  uint8_t connect;        /* a CONNECT request (plain or extended) */
  const char *why;        /* ZTTP_ERR_INVALID_FIELD: what was refused, */
  size_t at;              /* and the index of the field (0 for the head) */
} zttp_msg_built;

/* zttp_msg_out_free releases the scratch of |o| (zeroed or used). */
void zttp_msg_out_free(zttp_msg_out *o, const zttp_mem *mem);

/* zttp_msg_out_reserve grows |o| to hold |num| fields and |bytes|
 * lowercased name bytes. Returns 0 or ZTTP_ERR_NOMEM (|o| unchanged). */
int32_t zttp_msg_out_reserve(zttp_msg_out *o, const zttp_mem *mem, size_t num,
                             size_t bytes);

/* zttp_msg_out_put writes entry |*n| of |o| (reserved) and advances |*n|.
 * The strings are borrowed. */
void zttp_msg_out_put(zttp_msg_out *o, size_t *n, const char *name, size_t nlen,
                      const char *value, size_t vlen, uint32_t flags);

/* zttp_msg_out_request builds the section of a request for |method| and
 * |target| (a path, or the authority of a plain CONNECT): the pseudo-header
 * fields (RFC 9113 §8.3.1, RFC 9114 §4.3.1) from the leading :scheme,
 * :authority and :protocol entries of |headers| (each at most once), the
 * host field (moved to :authority when there is no :authority) or the
 * CONNECT target, and |default_scheme| when there is no :scheme; then the
 * regular fields. :protocol needs CONNECT and |peer_connect_protocol|
 * (RFC 8441 §4, RFC 9220 §3); CONNECT carries :authority only unless
 * extended (RFC 9113 §8.5, RFC 9114 §4.4). Fills |b|. Returns 0,
 * ZTTP_ERR_NOMEM, or ZTTP_ERR_INVALID_FIELD with b->why and b->at. */
int32_t zttp_msg_out_request(zttp_msg_out *o, zttp_msg_built *b,
                             const zttp_mem *mem, zttp_str method,
                             zttp_str target, const zttp_header *headers,
                             size_t num_headers, zttp_str default_scheme,
                             int peer_connect_protocol);

/* zttp_msg_out_status builds the section of a response head: :status
 * (three digits of |status|, 100..999) and the regular |headers|. Fills
 * |b|; returns as zttp_msg_out_request(). */
int32_t zttp_msg_out_status(zttp_msg_out *o, zttp_msg_built *b,
                            const zttp_mem *mem, uint32_t status,
                            const zttp_header *headers, size_t num_headers);

/* zttp_msg_out_trailers builds a trailer section from |trailers| (regular
 * fields; content-length is not interpreted). Fills |b|; returns as
 * zttp_msg_out_request(). */
int32_t zttp_msg_out_trailers(zttp_msg_out *o, zttp_msg_built *b,
                              const zttp_mem *mem, const zttp_header *trailers,
                              size_t num_trailers);

#endif
