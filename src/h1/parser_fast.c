/* The HTTP/1.1 parser's entry point and its fast path. zttp_h1_parse()
 * takes an END and a span of a Content-Length body itself and sends a head to
 * fast_head(): a complete head of the common shape is parsed there in one
 * pass, no calls, with the result the strict parser (parser.c) would give;
 * anything else it leaves, untouched, to zttp_h1_head_item() or
 * zttp_h1_parse_item(), which parse it from the start under every rule.
 * SPDX-License-Identifier: MIT */
#include "h1/parser_internal.h"

/* The end of a head that fast_head() parsed up to and including its empty
 * line (|pos| bytes) when a field needs more than fast_head() reads itself:
 * the meaning of every field, then the framing, as parse_head() decides
 * them. Anything parse_head() would refuse goes to zttp_h1_head_item(). */
static __attribute__((noinline)) int64_t fast_head_end(zttp_h1_parser *p,
                                                       zttp_h1_item *item,
                                                       uint8_t *buf, size_t len,
                                                       size_t pos) {
  zttp_h1_head *h = &item->head;
  head_state hs;
  memset(&hs, 0, sizeof(hs));
  for (const zttp_header *f = h->headers, *e = f + h->num_headers; f < e; f++) {
    size_t nl = f->name_len;
    if (nl < 32 && ((SEM_NAME_LENGTHS >> nl) & 1u) &&
        field_semantics(p, &hs, f) != 0) {
      goto slow;
    }
  }
  h->flags = hs.flags;
  if (p->is_response) {
    if (response_framing(p, h, &hs) != 0) {
      goto slow;
    }
  } else if (request_head_end(p, h, &hs, buf, 1) != 0) {
    goto slow;
  }
  head_persistence(h);
  start_body(p, h);
  item->kind = ZTTP_H1_ITEM_HEAD;
  return (int64_t)pos;
slow:
  item->kind = ZTTP_H1_ITEM_NONE;
  return zttp_h1_head_item(p, item, buf, len);
}

static int64_t fast_head(zttp_h1_parser *p, zttp_h1_item *item, uint8_t *buf,
                         size_t len);

/* The first head of a parser: fast_head() once there is the storage
 * parse_fields() would allocate for a first field. If that fails, the slow
 * path decides (a head without fields needs none). */
static __attribute__((noinline, cold)) int64_t
fast_head_first(zttp_h1_parser *p, zttp_h1_item *item, uint8_t *buf,
                size_t len) {
  size_t max = LIMIT(p, MAX_HEADERS);
  const char *err = p->err;
  if (max == 0 ||
      fields_reserve(p, 0, max, ZTTP_ERR_LIMIT_HEADERS, NULL) != 0) {
    p->err = err;
    item->kind = ZTTP_H1_ITEM_NONE;
    return zttp_h1_head_item(p, item, buf, len);
  }
  return fast_head(p, item, buf, len);
}

/* The common head, parsed in one pass with fewer branches: a request line
 * of a common method, a target of visible ASCII and HTTP/1.1 or HTTP/1.0,
 * or a status line of HTTP/1.x, three digits and a reason; field lines of
 * token names and values ending in CRLF; an empty line in CRLF. It accepts
 * a head only when parse_head() would accept it, and gives the same head;
 * anything else (an error, input that ends early, a lenient repair, more
 * fields than the storage holds) goes to zttp_h1_parse_item() or
 * zttp_h1_head_item(), which parse it from the start under every rule. The
 * common field values that mean something (Host, Connection, Content-Length,
 * Transfer-Encoding) are read here;
 * a head with any other ends in fast_head_end(). Nothing is called on the
 * way (only tail calls), so that few registers need saving. */
static __attribute__((noinline)) int64_t
fast_head(zttp_h1_parser *p, zttp_h1_item *item, uint8_t *buf, size_t len) {
  const uint8_t *end = buf + len;
  zttp_h1_head *h = &item->head;
  const uint8_t *s;
  uint32_t version;
  size_t ml = 0;
  if (p->scanning || len < 16) {
    goto slow;
  }
  if (p->fields_cap == 0) {
    return fast_head_first(p, item, buf, len);
  }
  if (!p->is_response) {
    /* method SP request-target SP HTTP-version CRLF */
    ml = common_method(buf);
    if (ml == 0) {
      goto slow;
    }
    const uint8_t *t = buf + ml + 1;
    s = zttp_scan_target_in16(buf, t, end);
    if (s == t || end - s < 11 || *s != ' ' ||
        load16(s + 9) != load16((const uint8_t *)"\r\n")) {
      goto slow;
    }
    uint64_t vw = load64(s + 1);
    if (vw == load64((const uint8_t *)"HTTP/1.1")) {
      version = 11;
    } else if (vw == load64((const uint8_t *)"HTTP/1.0")) {
      version = 10;
    } else {
      goto slow;
    }
    h->method.base = (const char *)buf;
    h->method.len = ml;
    h->target.base = (const char *)t;
    h->target.len = (size_t)(s - t);
    h->status = 0;
    h->reason.base = NULL;
    h->reason.len = 0;
    s += 11;
  } else {
    /* HTTP-version SP 3DIGIT (SP reason)? CRLF */
    uint64_t vw = load64(buf);
    if (vw == load64((const uint8_t *)"HTTP/1.1")) {
      version = 11;
    } else if (vw == load64((const uint8_t *)"HTTP/1.0")) {
      version = 10;
    } else {
      goto slow;
    }
    unsigned d0 = (unsigned)buf[9] - '0';
    unsigned d1 = (unsigned)buf[10] - '0';
    unsigned d2 = (unsigned)buf[11] - '0';
    if (buf[8] != ' ' || d0 - 1 > 4 || d1 > 9 || d2 > 9) {
      goto slow;
    }
    const uint8_t *r = buf + 12;
    s = r;
    if (*s == ' ') {
      r = ++s;
      s = zttp_scan_value_in16(buf, s, end);
    }
    if (end - s < 2 || s[0] != '\r' || s[1] != '\n') {
      goto slow;
    }
    h->method.base = NULL;
    h->method.len = 0;
    h->target.base = NULL;
    h->target.len = 0;
    h->host.base = NULL;
    h->host.len = 0;
    h->status = d0 * 100 + d1 * 10 + d2;
    h->reason.base = (const char *)r;
    h->reason.len = (size_t)(s - r);
    s += 2;
  }
  if ((size_t)(s - buf) > LIMIT(p, H1_MAX_START_LINE)) {
    goto slow;
  }
  h->version = version;
  /* The field lines. */
  zttp_header *fields = p->fields;
  size_t max = LIMIT(p, MAX_HEADERS);
  size_t room = p->fields_cap < max ? p->fields_cap : max;
  size_t n = 0;
  /* Set when a field needs what fast_head_end() does. */
  int sem = 0;
  /* Only what the loop below sets: no call sees it, so the compiler keeps
   * it in registers and drops the Transfer-Encoding branches. */
  head_state hs;
  memset(&hs, 0, sizeof(hs));
  for (;;) {
    const uint8_t *colon = zttp_scan_name_fast(s, end);
    if (colon == NULL || colon == s) {
      if (s == end) {
        goto slow;
      }
      if (*s == '\r') {
        break;
      }
      colon = zttp_scan_token(s, end);
      if (colon == s || colon == end || *colon != ':') {
        goto slow;
      }
    }
    const uint8_t *value = colon + 1;
    if (value < end && *value == ' ') {
      value++;
    }
    const uint8_t *vend = zttp_scan_value_in16(buf, value, end);
    if (end - vend < 2 || vend[0] != '\r' || vend[1] != '\n') {
      goto slow;
    }
    const uint8_t *next = vend + 2;
    /* The trimming of parse_fields(). No byte up to the CR at vend is a
     * control other than HTAB, and vend[-1] is at worst the ':': so a byte
     * there is SP or HTAB exactly when it is <= ' ' (or is that CR, when
     * the value is empty, which the loops then leave alone). */
    if (vend[-1] <= ' ') {
      while (vend > value && (zttp_ctype[vend[-1]] & ZTTP_CT_OWS)) {
        vend--;
      }
    }
    if (*value <= ' ') {
      while (value < vend && (zttp_ctype[*value] & ZTTP_CT_OWS)) {
        value++;
      }
    }
    if (n == room) {
      goto slow;
    }
    zttp_header *f = &fields[n++];
    size_t name_len = (size_t)(colon - s);
    f->name = (const char *)s;
    f->name_len = name_len;
    f->value = (const char *)value;
    f->value_len = (size_t)(vend - value);
    f->flags = 0;
    f->reserved = 0;
    /* field_semantics() for the common cases of the names it acts on. */
    size_t vlen = (size_t)(vend - value);
    if (name_len == 4) {
      if (name_is(s, "host", 4)) {
        hs.num_host++;
        hs.host.base = (const char *)value;
        hs.host.len = vlen;
      }
    } else if (name_len < 32 && ((SEM_NAME_LENGTHS >> name_len) & 1u)) {
      switch (name_len) {
      case 6:
        sem |= name_is(s, "expect", 6);
        break;
      case 7:
        sem |= name_is(s, "upgrade", 7);
        break;
      case 10:
        if (name_is(s, "connection", 10)) {
          if (vlen == 10 && name_is(value, "keep-alive", 10)) {
            hs.flags |= ZTTP_H1_F_KEEP_ALIVE;
          } else if (vlen == 5 && name_is(value, "close", 5)) {
            hs.flags |= ZTTP_H1_F_CLOSE;
          } else {
            sem = 1;
          }
        }
        break;
      case 14:
        if (name_is(s, "content-length", 14)) {
          /* 1 to 18 digits, nothing else; and no differing earlier one. */
          uint64_t cl = 0;
          size_t k = 0;
          while (k < vlen && k < 18 && (unsigned)(value[k] - '0') < 10) {
            cl = cl * 10 + (unsigned)(value[k] - '0');
            k++;
          }
          if (k == 0 || k != vlen || (hs.have_cl && hs.content_length != cl)) {
            sem = 1;
          }
          hs.have_cl = 1;
          hs.content_length = cl;
        }
        break;
      case 17:
        if (name_is(s, "transfer-encoding", 17)) {
          /* zttp_h1_te_parse() of one "chunked" alone. */
          if (hs.te.present || vlen != 7 || !name_is(value, "chunked", 7)) {
            sem = 1;
          }
          hs.te.present = 1;
          hs.te.chunked_count = 1;
          hs.te.chunked_last = 1;
        }
        break;
      default:
        break;
      }
    }
    s = next;
  }
  if (end - s < 2 || s[1] != '\n') {
    goto slow;
  }
  s += 2;
  size_t pos = (size_t)(s - buf);
  if (pos > LIMIT(p, MAX_HEADER_BYTES)) {
    goto slow;
  }
  h->headers = fields;
  h->num_headers = n;
  h->content_length = 0;
  if (sem) {
    return fast_head_end(p, item, buf, len, pos);
  }
  if (p->is_response) {
    /* What parse_head() decides from here on, with |hs| as it would have
     * it. */
    h->flags = hs.flags;
    if (response_framing(p, h, &hs) != 0) {
      goto slow;
    }
    head_persistence(h);
    start_body(p, h);
    item->kind = ZTTP_H1_ITEM_HEAD;
    return (int64_t)pos;
  }
  /* What request_head_end(), head_persistence() and start_body() decide
   * when the flags can hold only KEEP_ALIVE and CLOSE, Transfer-Encoding
   * is at most one "chunked" and the method is a common one (not
   * CONNECT). */
  if (!LENIENT(p, HOST)) {
    if (version == 11 && hs.num_host != 1) {
      goto slow;
    }
    if (hs.host.len != 0 &&
        !zttp_scan_host_valid(buf, (const uint8_t *)hs.host.base,
                              hs.host.len)) {
      goto slow;
    }
  }
  if (hs.te.present) {
    /* A chunked request body, unless request_framing() objects. */
    if (hs.have_cl || version != 11) {
      return fast_head_end(p, item, buf, len, pos);
    }
  }
  h->host = hs.host;
  /* HEAD is the only common method of four letters starting with 'H'. */
  uint32_t flags = hs.flags | (ml == 4 && buf[0] == 'H' ? ZTTP_H1_F_HEAD : 0);
  if (version == 10 && !(flags & ZTTP_H1_F_KEEP_ALIVE)) {
    flags |= ZTTP_H1_F_CLOSE;
  }
  h->flags = flags;
  if (hs.te.present) {
    h->body = ZTTP_H1_BODY_CHUNKED;
    p->state = ST_CHUNK_SIZE;
  } else if (hs.have_cl && hs.content_length > 0) {
    h->body = ZTTP_H1_BODY_LENGTH;
    h->content_length = hs.content_length;
    p->state = ST_BODY_LENGTH;
    p->remaining = hs.content_length;
  } else {
    h->body = ZTTP_H1_BODY_NONE;
    p->state = ST_END;
  }
  item->kind = ZTTP_H1_ITEM_HEAD;
  return (int64_t)pos;
slow:
  item->kind = ZTTP_H1_ITEM_NONE;
  if (buf[0] == '\r' || buf[0] == '\n') {
    return zttp_h1_parse_item(p, item, buf, len);
  }
  return zttp_h1_head_item(p, item, buf, len);
}

int64_t zttp_h1_parse(zttp_h1_parser *p, zttp_h1_item *item, uint8_t *buf,
                      size_t len) {
  uint8_t state = p->state;
  if (state == ST_HEAD && len != 0) {
    return fast_head(p, item, buf, len);
  }
  if (state == ST_BODY_LENGTH) {
    if (len != 0) {
      return (int64_t)body_span(p, item, buf, len);
    }
    item->kind = ZTTP_H1_ITEM_NONE;
    return 0;
  }
  item->kind = ZTTP_H1_ITEM_NONE;
  if (state == ST_END) {
    end_item(p, item);
    return 0;
  }
  return zttp_h1_parse_item(p, item, buf, len);
}
