/* The HTTP/1.1 message parser (RFC 9112): incremental, zero-copy, strict by
 * default. It parses one item (a head, a span of body, the end of a message)
 * per call from a buffer the caller owns; items point into that buffer.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_H1_PARSER_H
#define ZTTP_H1_PARSER_H

#include "engine.h"

enum zttp_h1_item_kind {
  ZTTP_H1_ITEM_NONE = 0, /* more input is needed */
  ZTTP_H1_ITEM_HEAD = 1, /* a request or response head */
  ZTTP_H1_ITEM_DATA = 2, /* one span of body bytes */
  ZTTP_H1_ITEM_END = 3   /* the message ended (trailers, maybe none) */
};

/* How the body of a parsed head is framed (RFC 9112 §6.3). */
enum zttp_h1_body {
  ZTTP_H1_BODY_NONE = 0,
  ZTTP_H1_BODY_LENGTH = 1,
  ZTTP_H1_BODY_CHUNKED = 2,
  ZTTP_H1_BODY_EOF = 3 /* response read until the connection closes */
};

/* zttp_h1_head flags. */
#define ZTTP_H1_F_CLOSE 0x1u      /* Connection: close (or HTTP/1.0 default) */
#define ZTTP_H1_F_KEEP_ALIVE 0x2u /* Connection: keep-alive */
#define ZTTP_H1_F_UPGRADE 0x4u    /* an Upgrade field is present */
#define ZTTP_H1_F_EXPECT_CONTINUE 0x8u /* Expect: 100-continue (request) */
#define ZTTP_H1_F_CONNECT 0x10u        /* method CONNECT (request) */
#define ZTTP_H1_F_HEAD 0x20u           /* method HEAD (request) */
#define ZTTP_H1_F_FORCE_CLOSE 0x40u    /* framing requires closing afterwards */
#define ZTTP_H1_F_CONN_UPGRADE 0x80u   /* Connection: upgrade */

typedef struct zttp_h1_head {
  zttp_str method;  /* request */
  zttp_str target;  /* request */
  zttp_str host;    /* request: the Host field value, if any */
  uint32_t status;  /* response */
  uint32_t version; /* 10 or 11 */
  zttp_str reason;  /* response */
  const zttp_header *headers;
  size_t num_headers;
  uint64_t content_length; /* when body == ZTTP_H1_BODY_LENGTH */
  uint32_t body;           /* enum zttp_h1_body */
  uint32_t flags;          /* ZTTP_H1_F_* */
} zttp_h1_head;

typedef struct zttp_h1_item {
  uint32_t kind; /* enum zttp_h1_item_kind */
  zttp_h1_head head;
  const uint8_t *data; /* DATA */
  size_t len;
  const zttp_header *trailers; /* END */
  size_t num_trailers;
} zttp_h1_item;

typedef struct zttp_h1_parser {
  const zttp_mem *mem;
  const zttp_settings *settings;
  uint8_t is_response;
  uint8_t state;
  /* Response parsing: what the request being answered was. */
  uint8_t req_head;
  uint8_t req_connect;
  /* Incremental section scanning, in offsets from the start of the
   * unconsumed input: where the search for LF resumes, where the current
   * line starts, and how many field lines lie before it. */
  uint32_t scan_pos;
  uint32_t scan_line_start;
  uint32_t scan_lines;
  uint8_t scanning;
  uint64_t remaining; /* body bytes left (LENGTH) or in this chunk */
  /* Field storage, reused for every message; grows up to the limits. */
  zttp_header *fields;
  size_t fields_cap;
  /* A static description of the last error. */
  const char *err;
} zttp_h1_parser;

/* zttp_h1_parser_init prepares |p| to parse requests (|is_response| 0) or
 * responses. |mem| and |settings| must outlive it. */
void zttp_h1_parser_init(zttp_h1_parser *p, const zttp_mem *mem,
                         const zttp_settings *settings, int is_response);

/* zttp_h1_parser_free releases the field storage. */
void zttp_h1_parser_free(zttp_h1_parser *p);

/* zttp_h1_parser_expect_response tells a response parser what the request
 * being answered was: HEAD and CONNECT change the body rules (RFC 9112
 * §6.3). */
void zttp_h1_parser_expect_response(zttp_h1_parser *p, int head_request,
                                    int connect_request);

/* zttp_h1_parse parses at most one item from |buf| (|len| bytes, the input
 * not yet consumed). Returns the number of bytes consumed (>= 0) with
 * item->kind set (ZTTP_H1_ITEM_NONE: more input is needed; the consumed
 * bytes were framing only), or a negative ZTTP_ERR_* with p->err set. Item
 * pointers point into |buf|. The caller must present the unconsumed bytes
 * again, at the same or another address, followed by new ones. |buf| is
 * rewritten in place only by the lenient obs-fold and bare-CR repairs. */
int64_t zttp_h1_parse(zttp_h1_parser *p, zttp_h1_item *item, uint8_t *buf,
                      size_t len);

/* zttp_h1_parse_eof reports the end of input: a body read until close ends
 * (item END, returns 1); between messages returns 0; inside a message
 * returns ZTTP_ERR_UNEXPECTED_EOF. */
int32_t zttp_h1_parse_eof(zttp_h1_parser *p, zttp_h1_item *item);

/* zttp_h1_parser_idle returns 1 between messages. */
int zttp_h1_parser_idle(const zttp_h1_parser *p);

#endif
