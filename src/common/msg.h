/* The message rules HTTP/2 and HTTP/3 share (RFC 9113 §8, RFC 9114 §4.1-
 * §4.3): pseudo-header fields, field validity, connection-specific fields,
 * content-length, extended CONNECT's :protocol (RFC 8441, RFC 9220), and
 * the RFC 9218 priority field. Used by the receive and send sides of
 * src/h2 and src/h3.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_MSG_H
#define ZTTP_COMMON_MSG_H

#include "zttp/zttp.h"

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

#endif
