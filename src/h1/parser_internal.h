/* The inside of the HTTP/1.1 parser, shared by parser.c (the strict parser:
 * every state and every rule, bytes as they arrive) and parser_fast.c
 * (zttp_h1_parse() and the one-pass path for complete common heads): the
 * states, and the small helpers both inline (loads, names, the meaning of
 * fields, framing) so that each file's hot code stays one function.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_H1_PARSER_INTERNAL_H
#define ZTTP_H1_PARSER_INTERNAL_H

#include "h1/parser.h"

#include <string.h>

#include "common/scan.h"
#include "h1/fields.h"

enum {
  ST_HEAD = 0,
  ST_END, /* the message is complete; the next call reports END */
  ST_BODY_LENGTH,
  ST_CHUNK_SIZE,
  ST_CHUNK_DATA,
  ST_CHUNK_CRLF,
  ST_TRAILERS,
  ST_BODY_EOF
};

#define LENIENT(p, f) (((p)->settings->lenient & ZTTP_LENIENT_##f) != 0)
#define LIMIT(p, id) ((p)->settings->limits[ZTTP_LIMIT_##id])

static inline int32_t fail(zttp_h1_parser *p, int32_t err, const char *msg) {
  p->err = msg;
  return err;
}

static inline uint16_t load16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline uint32_t load32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* The length of a common method followed by SP at |s| (5 bytes readable),
 * or 0. */
static inline size_t common_method(const uint8_t *s) {
  uint32_t w = load32(s);
  if (w == load32((const uint8_t *)"GET ")) {
    return 3;
  }
  if (w == load32((const uint8_t *)"PUT ")) {
    return 3;
  }
  if (s[4] == ' ' && (w == load32((const uint8_t *)"POST") ||
                      w == load32((const uint8_t *)"HEAD"))) {
    return 4;
  }
  return 0;
}

/* Case-insensitive comparison of a field name (a token) with a lowercase
 * name made of letters and '-': OR-ing 0x20 lowercases exactly the token
 * characters that could match (RFC 9110 §5.1: names are case-insensitive). */
static inline __attribute__((always_inline)) int
name_is(const uint8_t *a, const char *lower, size_t n) {
  const uint8_t *b = (const uint8_t *)lower;
  if (n >= 8) {
    /* 8-byte words, the last one overlapping its predecessor. */
    size_t i = 0;
    for (; i + 8 < n; i += 8) {
      if ((load64(a + i) | UINT64_C(0x2020202020202020)) != load64(b + i)) {
        return 0;
      }
    }
    return (load64(a + n - 8) | UINT64_C(0x2020202020202020)) ==
           load64(b + n - 8);
  }
  if (n >= 4) {
    uint32_t x;
    uint32_t y;
    uint32_t x2;
    uint32_t y2;
    memcpy(&x, a, 4);
    memcpy(&y, b, 4);
    memcpy(&x2, a + n - 4, 4);
    memcpy(&y2, b + n - 4, 4);
    return ((x | 0x20202020u) ^ y) == 0 && ((x2 | 0x20202020u) ^ y2) == 0;
  }
  for (size_t i = 0; i < n; i++) {
    if ((a[i] | 0x20) != b[i]) {
      return 0;
    }
  }
  return 1;
}

/* Makes room for field number |n| (0-based) under |max| fields. */
static inline int32_t fields_reserve(zttp_h1_parser *p, size_t n, size_t max,
                                     int32_t limit_err, const char *limit_msg) {
  if (n >= max) {
    return fail(p, limit_err, limit_msg);
  }
  if (n < p->fields_cap) {
    return 0;
  }
  size_t cap = p->fields_cap == 0 ? 16 : p->fields_cap * 2;
  if (cap > max) {
    cap = max;
  }
  zttp_header *f =
      zttp_mem_realloc(p->mem, p->fields, cap * sizeof(zttp_header));
  if (f == NULL) {
    return fail(p, ZTTP_ERR_NOMEM, "out of memory for header fields");
  }
  p->fields = f;
  p->fields_cap = cap;
  return 0;
}

/* ---- field semantics */

/* Per-head state while its fields are read. */
typedef struct head_state {
  uint32_t flags;
  uint32_t num_host;
  uint8_t have_cl;
  zttp_h1_te te;
  uint64_t content_length;
  zttp_str host;
} head_state;

/* RFC 9110 §8.6: Content-Length = 1*DIGIT; a list of identical values is
 * accepted as one (§8.6 "MAY"); differing values are an error. Not inlined
 * (nor was it when the parser was one file): it is long and rarely needed. */
static __attribute__((noinline)) int32_t parse_content_length(zttp_h1_parser *p,
                                                              head_state *hs,
                                                              const uint8_t *v,
                                                              size_t n) {
  size_t i = 0;
  for (;;) {
    /* One list element. */
    size_t s = i;
    int lenient = LENIENT(p, CONTENT_LENGTH);
    if (lenient) {
      while (s < n && (zttp_ctype[v[s]] & ZTTP_CT_OWS)) {
        s++;
      }
      if (s < n && v[s] == '+') {
        s++;
      }
    }
    size_t e = s;
    uint64_t val = 0;
    /* 18 digits cannot overflow 2^63-1: check only beyond them. */
    size_t quick = n - s < 18 ? n : s + 18;
    while (e < quick && (zttp_ctype[v[e]] & ZTTP_CT_DIGIT)) {
      val = val * 10 + (uint64_t)(v[e] - '0');
      e++;
    }
    while (e < n && (zttp_ctype[v[e]] & ZTTP_CT_DIGIT)) {
      uint64_t d = (uint64_t)(v[e] - '0');
      if (val > (UINT64_C(0x7fffffffffffffff) - d) / 10) {
        return fail(p, ZTTP_ERR_BAD_CONTENT_LENGTH,
                    "Content-Length overflows 2^63-1");
      }
      val = val * 10 + d;
      e++;
    }
    if (e == s) {
      return fail(p, ZTTP_ERR_BAD_CONTENT_LENGTH,
                  "Content-Length is not 1*DIGIT");
    }
    size_t t = e;
    if (lenient) {
      while (t < n && (zttp_ctype[v[t]] & ZTTP_CT_OWS)) {
        t++;
      }
    }
    if (t < n && v[t] != ',') {
      return fail(p, ZTTP_ERR_BAD_CONTENT_LENGTH,
                  "Content-Length is not 1*DIGIT");
    }
    if (hs->have_cl && hs->content_length != val) {
      if (!LENIENT(p, CONFLICTING_CONTENT_LENGTH)) {
        return fail(p, ZTTP_ERR_CONFLICTING_CONTENT_LENGTH,
                    "differing Content-Length values");
      }
    } else {
      hs->content_length = val;
      hs->have_cl = 1;
    }
    if (t == n) {
      return 0;
    }
    /* ", " before the next element. */
    i = t + 1;
    while (i < n && (zttp_ctype[v[i]] & ZTTP_CT_OWS)) {
      i++;
    }
  }
}

/* The lengths of the names field_semantics() looks at. */
#define SEM_NAME_LENGTHS                                                       \
  ((1u << 4) | (1u << 6) | (1u << 7) | (1u << 10) | (1u << 14) | (1u << 17))

/* Applies the meaning of one header field of a head (not a trailer). */
static inline __attribute__((always_inline)) int32_t
field_semantics(zttp_h1_parser *p, head_state *hs, const zttp_header *f) {
  const uint8_t *name = (const uint8_t *)f->name;
  const uint8_t *v = (const uint8_t *)f->value;
  switch (f->name_len) {
  case 4:
    if (name_is(name, "host", 4)) {
      hs->num_host++;
      hs->host.base = f->value;
      hs->host.len = f->value_len;
    }
    return 0;
  case 6:
    if (name_is(name, "expect", 6) && f->value_len == 12 &&
        zttp_h1_ieq(v, "100-continue", 12)) {
      hs->flags |= ZTTP_H1_F_EXPECT_CONTINUE;
    }
    return 0;
  case 7:
    if (name_is(name, "upgrade", 7)) {
      hs->flags |= ZTTP_H1_F_UPGRADE;
    }
    return 0;
  case 10:
    if (name_is(name, "connection", 10)) {
      /* One option alone is the common case. Values hold no CR, which OR
       * 0x20 would turn into '-', so name_is() compares them exactly. */
      if (f->value_len == 10 && name_is(v, "keep-alive", 10)) {
        hs->flags |= ZTTP_H1_F_KEEP_ALIVE;
      } else if (f->value_len == 5 && name_is(v, "close", 5)) {
        hs->flags |= ZTTP_H1_F_CLOSE;
      } else {
        hs->flags |= zttp_h1_connection_options(v, f->value_len);
      }
    }
    return 0;
  case 14:
    if (name_is(name, "content-length", 14)) {
      return parse_content_length(p, hs, v, f->value_len);
    }
    return 0;
  case 17:
    if (name_is(name, "transfer-encoding", 17)) {
      zttp_h1_te_parse(&hs->te, v, f->value_len);
    }
    return 0;
  default:
    return 0;
  }
}

/* ---- heads */

/* Decides the body framing of a request (RFC 9112 §6.3 items 3-7). */
static inline __attribute__((always_inline)) int32_t
request_framing(zttp_h1_parser *p, zttp_h1_head *h, head_state *hs,
                const uint8_t *buf, int check_host) {
  if (check_host && !LENIENT(p, HOST)) {
    if (h->version == 11 && hs->num_host != 1) {
      return fail(p, ZTTP_ERR_BAD_HOST,
                  hs->num_host == 0 ? "HTTP/1.1 request without Host"
                                    : "HTTP/1.1 request with several Host");
    }
    /* RFC 9112 §3.2: Host = uri-host [ ":" port ]. */
    if (hs->host.len != 0 &&
        !zttp_scan_host_valid(buf, (const uint8_t *)hs->host.base,
                              hs->host.len)) {
      return fail(p, ZTTP_ERR_BAD_HOST, "invalid character in Host");
    }
  }
  if ((h->flags & ZTTP_H1_F_CONNECT) && (hs->have_cl || hs->te.present)) {
    /* RFC 9110 §9.3.6: a CONNECT request has no content; framing fields on
     * one would make a peer that honours them see a different message. */
    return hs->have_cl ? fail(p, ZTTP_ERR_BAD_CONTENT_LENGTH,
                              "Content-Length on a CONNECT request")
                       : fail(p, ZTTP_ERR_BAD_TRANSFER_ENCODING,
                              "Transfer-Encoding on a CONNECT request");
  }
  if (hs->te.present) {
    if (hs->have_cl) {
      if (!LENIENT(p, CL_AND_TE)) {
        return fail(p, ZTTP_ERR_CL_AND_TE,
                    "both Content-Length and Transfer-Encoding");
      }
      h->flags |= ZTTP_H1_F_FORCE_CLOSE;
    }
    int ok = zttp_h1_te_chunked(&hs->te) && h->version == 11;
    if (!ok) {
      if (!LENIENT(p, TRANSFER_ENCODING) || hs->te.chunked_count == 0) {
        return fail(p, ZTTP_ERR_BAD_TRANSFER_ENCODING,
                    "request Transfer-Encoding must end in one chunked");
      }
      h->flags |= ZTTP_H1_F_FORCE_CLOSE;
    }
    h->body = ZTTP_H1_BODY_CHUNKED;
  } else if (hs->have_cl && hs->content_length > 0) {
    h->body = ZTTP_H1_BODY_LENGTH;
    h->content_length = hs->content_length;
  } else {
    h->body = ZTTP_H1_BODY_NONE;
  }
  return 0;
}

/* Decides the body framing of a response (RFC 9112 §6.3 items 1-7). */
static inline __attribute__((always_inline)) int32_t
response_framing(zttp_h1_parser *p, zttp_h1_head *h, head_state *hs) {
  uint32_t st = h->status;
  if (hs->te.present && hs->have_cl) {
    if (!LENIENT(p, CL_AND_TE)) {
      return fail(p, ZTTP_ERR_CL_AND_TE,
                  "both Content-Length and Transfer-Encoding");
    }
    h->flags |= ZTTP_H1_F_FORCE_CLOSE;
  }
  if (hs->te.present && (hs->te.invalid || (hs->te.chunked_count > 0 &&
                                            !zttp_h1_te_chunked(&hs->te)))) {
    if (!LENIENT(p, TRANSFER_ENCODING)) {
      return fail(p, ZTTP_ERR_BAD_TRANSFER_ENCODING,
                  "chunked is not the final coding, or repeated");
    }
    h->flags |= ZTTP_H1_F_FORCE_CLOSE;
  }
  if (st < 200 || st == 204 || st == 304 || p->req_head ||
      (p->req_connect && st < 300)) {
    h->body = ZTTP_H1_BODY_NONE;
  } else if (hs->te.present) {
    if (hs->te.chunked_count > 0 && h->version == 11) {
      h->body = ZTTP_H1_BODY_CHUNKED;
    } else {
      h->body = ZTTP_H1_BODY_EOF;
      h->flags |= ZTTP_H1_F_FORCE_CLOSE;
    }
  } else if (hs->have_cl) {
    h->body = hs->content_length > 0 ? ZTTP_H1_BODY_LENGTH : ZTTP_H1_BODY_NONE;
    h->content_length = hs->content_length;
  } else {
    h->body = ZTTP_H1_BODY_EOF;
    h->flags |= ZTTP_H1_F_FORCE_CLOSE;
  }
  return 0;
}

/* What a request head's fields mean once they are all read: the method
 * flags, Upgrade and Expect, and the framing (parse_head() and
 * fast_head_end() share it; the fast path checks Host itself, before). */
static inline __attribute__((always_inline)) int32_t
request_head_end(zttp_h1_parser *p, zttp_h1_head *h, head_state *hs,
                 const uint8_t *buf, int check_host) {
  h->host = hs->host;
  if (h->method.len == 4 && memcmp(h->method.base, "HEAD", 4) == 0) {
    h->flags |= ZTTP_H1_F_HEAD;
  } else if (h->method.len == 7 && memcmp(h->method.base, "CONNECT", 7) == 0) {
    h->flags |= ZTTP_H1_F_CONNECT;
  }
  /* RFC 9110 §7.8: Upgrade counts only with the "upgrade" connection
   * option, and never in HTTP/1.0; RFC 9110 §10.1.1: neither does
   * Expect in HTTP/1.0. */
  if (!(h->flags & ZTTP_H1_F_CONN_UPGRADE) || h->version == 10) {
    h->flags &= ~ZTTP_H1_F_UPGRADE;
  }
  if (h->version == 10) {
    h->flags &= ~ZTTP_H1_F_EXPECT_CONTINUE;
  }
  return request_framing(p, h, hs, buf, check_host);
}

/* RFC 9112 §9.3: persistence. */
static inline void head_persistence(zttp_h1_head *h) {
  if (h->version == 10 && !(h->flags & ZTTP_H1_F_KEEP_ALIVE)) {
    h->flags |= ZTTP_H1_F_CLOSE;
  }
  if (h->flags & ZTTP_H1_F_FORCE_CLOSE) {
    h->flags |= ZTTP_H1_F_CLOSE;
  }
}

static inline void start_body(zttp_h1_parser *p, const zttp_h1_head *h) {
  switch (h->body) {
  case ZTTP_H1_BODY_LENGTH:
    p->state = ST_BODY_LENGTH;
    p->remaining = h->content_length;
    break;
  case ZTTP_H1_BODY_CHUNKED:
    p->state = ST_CHUNK_SIZE;
    break;
  case ZTTP_H1_BODY_EOF:
    p->state = ST_BODY_EOF;
    break;
  default:
    /* A 1xx response is followed by another head for the same request. */
    p->state = (p->is_response && h->status < 200) ? ST_HEAD : ST_END;
    break;
  }
}

/* The message ended without trailers: an END item, then the next head. */
static inline void end_item(zttp_h1_parser *p, zttp_h1_item *item) {
  item->kind = ZTTP_H1_ITEM_END;
  item->trailers = NULL;
  item->num_trailers = 0;
  p->state = ST_HEAD;
}

/* A span of a Content-Length body or of a chunk (|n| > 0). Returns the
 * bytes taken. */
static inline size_t body_span(zttp_h1_parser *p, zttp_h1_item *item,
                               const uint8_t *s, size_t n) {
  size_t take = n < p->remaining ? n : (size_t)p->remaining;
  p->remaining -= take;
  if (p->remaining == 0) {
    p->state = p->state == ST_BODY_LENGTH ? ST_END : ST_CHUNK_CRLF;
  }
  item->kind = ZTTP_H1_ITEM_DATA;
  item->data = s;
  item->len = take;
  return take;
}

/* Defined in parser.c, called by parser_fast.c. */

/* zttp_h1_head_item parses a head at |buf| (no empty lines before it left to
 * skip) under every rule: a HEAD item, 0 for more input, or an error. */
int64_t zttp_h1_head_item(zttp_h1_parser *p, zttp_h1_item *item, uint8_t *buf,
                          size_t len);

/* zttp_h1_parse_item parses one item in any state, as zttp_h1_parse() does,
 * without the fast path. */
int64_t zttp_h1_parse_item(zttp_h1_parser *p, zttp_h1_item *item, uint8_t *buf,
                           size_t len);

#endif
