/* Field-value grammars shared by the HTTP/1.1 parser and serializer: the
 * Transfer-Encoding and Connection lists. SPDX-License-Identifier: MIT */
#ifndef ZTTP_H1_FIELDS_H
#define ZTTP_H1_FIELDS_H

#include <stddef.h>
#include <stdint.h>

/* What the Transfer-Encoding fields of one message say, accumulated over
 * every field line in order (RFC 9112 §6.1). */
typedef struct zttp_h1_te {
  uint8_t present;
  uint8_t invalid;       /* a malformed element, or chunked with parameters */
  uint8_t chunked_count; /* how often chunked appears */
  uint8_t chunked_last;  /* chunked is the last coding so far */
} zttp_h1_te;

/* zttp_h1_te_parse adds one Transfer-Encoding field value to |te|. */
void zttp_h1_te_parse(zttp_h1_te *te, const uint8_t *v, size_t n);

/* zttp_h1_te_chunked returns 1 when the codings end in one chunked without
 * parameters: the only Transfer-Encoding a request may carry. */
static inline int zttp_h1_te_chunked(const zttp_h1_te *te) {
  return !te->invalid && te->chunked_count == 1 && te->chunked_last;
}

/* zttp_h1_connection_options returns the ZTTP_H1_F_CLOSE,
 * ZTTP_H1_F_KEEP_ALIVE and ZTTP_H1_F_CONN_UPGRADE options that a Connection
 * field value lists (RFC 9110 §7.6.1). */
uint32_t zttp_h1_connection_options(const uint8_t *v, size_t n);

/* zttp_h1_ieq compares |n| bytes case-insensitively with |lower|. */
int zttp_h1_ieq(const uint8_t *a, const char *lower, size_t n);

#endif
