/* The HTTP/1.1 message parser (RFC 9112): the strict parser, every state
 * and every rule.
 *
 * A head is parsed in one pass once it is complete. The first attempt is
 * optimistic (the whole head usually arrives at once); when it runs out of
 * input, a line scanner (memchr for LF) takes over and examines only new
 * bytes on every call, enforcing the size and count limits as bytes arrive,
 * until it sees the empty line; then the head is parsed once more, whole.
 * Feeding one byte at a time therefore costs O(n), not O(n^2).
 *
 * zttp_h1_parse() (parser_fast.c) sends a complete head of the common shape
 * through fast_head() before all that: one pass, no calls, the same result;
 * anything else it leaves, untouched, to zttp_h1_head_item() and
 * zttp_h1_parse_item() here.
 * SPDX-License-Identifier: MIT */
#include "h1/parser_internal.h"

/* Returned by the head parser when the input ends inside the head. */
#define INCOMPLETE 1

/* A chunk size has at most this many hex digits, leading zeros included:
 * enough for any size below 2^62, and no unbounded run of zeros. */
#define MAX_CHUNK_SIZE_DIGITS 16

void zttp_h1_parser_init(zttp_h1_parser *p, const zttp_mem *mem,
                         const zttp_settings *settings, int is_response) {
  memset(p, 0, sizeof(*p));
  p->mem = mem;
  p->settings = settings;
  p->is_response = (uint8_t)(is_response != 0);
}

void zttp_h1_parser_free(zttp_h1_parser *p) {
  zttp_mem_free(p->mem, p->fields);
  p->fields = NULL;
  p->fields_cap = 0;
}

void zttp_h1_parser_expect_response(zttp_h1_parser *p, int head_request,
                                    int connect_request) {
  p->req_head = (uint8_t)(head_request != 0);
  p->req_connect = (uint8_t)(connect_request != 0);
}

int zttp_h1_parser_idle(const zttp_h1_parser *p) {
  return p->state == ST_HEAD && !p->scanning;
}

/* ---- incremental line scanning (limits as bytes arrive) */

/* Scans the new bytes of an incomplete section. Returns 1 when the section's
 * empty line is in |buf|, 0 when more input is needed, or a limit error. */
static int32_t scan_section(zttp_h1_parser *p, const uint8_t *buf, size_t len,
                            int trailers) {
  size_t max_bytes =
      trailers ? LIMIT(p, MAX_TRAILER_BYTES) : LIMIT(p, MAX_HEADER_BYTES);
  size_t max_fields = trailers ? LIMIT(p, MAX_TRAILERS) : LIMIT(p, MAX_HEADERS);
  size_t max_start = LIMIT(p, H1_MAX_START_LINE);
  size_t line_start = p->scan_line_start;
  size_t i = p->scan_pos;
  uint32_t lines = p->scan_lines;
  while (i < len) {
    const uint8_t *lf = memchr(buf + i, '\n', len - i);
    if (lf == NULL) {
      break;
    }
    size_t pos = (size_t)(lf - buf);
    if (pos + 1 > max_bytes) {
      /* Lines are judged only within the size limit, as they would be if
       * the bytes came one at a time: that limit fires first. */
      break;
    }
    size_t line_len = pos - line_start;
    if (line_len == 0 || (line_len == 1 && buf[line_start] == '\r')) {
      return 1;
    }
    if (!trailers && line_start == 0) {
      if (pos + 1 > max_start) {
        return fail(p, ZTTP_ERR_LIMIT_START_LINE,
                    "start line exceeds ZTTP_LIMIT_H1_MAX_START_LINE");
      }
    } else if (!(LENIENT(p, OBS_FOLD) &&
                 (zttp_ctype[buf[line_start]] & ZTTP_CT_OWS))) {
      /* A fold line that lenient parsing joins (or skips) is no field. */
      lines++;
    }
    if (lines > max_fields) {
      return trailers ? fail(p, ZTTP_ERR_LIMIT_TRAILERS,
                             "trailer count exceeds ZTTP_LIMIT_MAX_TRAILERS")
                      : fail(p, ZTTP_ERR_LIMIT_HEADERS,
                             "header count exceeds ZTTP_LIMIT_MAX_HEADERS");
    }
    line_start = i = pos + 1;
  }
  /* Still no empty line: a section (or start line) that is complete at
   * exactly the limit would have ended in the LF at its last byte. */
  if (!trailers && line_start == 0 && len >= max_start &&
      max_start <= max_bytes) {
    return fail(p, ZTTP_ERR_LIMIT_START_LINE,
                "start line exceeds ZTTP_LIMIT_H1_MAX_START_LINE");
  }
  if (len >= max_bytes) {
    return trailers
               ? fail(p, ZTTP_ERR_LIMIT_TRAILER_BYTES,
                      "trailer section exceeds "
                      "ZTTP_LIMIT_MAX_TRAILER_BYTES")
               : fail(p, ZTTP_ERR_LIMIT_HEADER_BYTES,
                      "header section exceeds ZTTP_LIMIT_MAX_HEADER_BYTES");
  }
  p->scan_line_start = (uint32_t)line_start;
  p->scan_pos = (uint32_t)len;
  p->scan_lines = lines;
  return 0;
}

/* ---- field lines */

/* Parses field lines from |*pos| up to and including the empty line.
 * Returns 0 with *num_fields set, INCOMPLETE, or an error. |hs| is NULL for
 * trailers. */
static inline __attribute__((always_inline)) int32_t
parse_fields(zttp_h1_parser *p, uint8_t *buf, size_t len, size_t *pos,
             size_t *num_fields, head_state *hs) {
  const uint8_t *end = buf + len;
  uint8_t *s = buf + *pos;
  size_t n = 0;
  size_t max = hs != NULL ? LIMIT(p, MAX_HEADERS) : LIMIT(p, MAX_TRAILERS);
  /* Fields that fit without fields_reserve(). */
  size_t room = p->fields_cap < max ? p->fields_cap : max;
  /* The name lengths field_semantics() acts on, when it runs per line. */
  uint32_t sem_lengths =
      hs != NULL && !LENIENT(p, OBS_FOLD) ? SEM_NAME_LENGTHS : 0;
  int32_t sem_err = 0;
  const char *sem_msg = NULL;
  for (;;) {
    /* field-name ":" OWS field-value OWS (RFC 9112 §5). A name found by
     * zttp_scan_name_fast() starts with a name byte, so the line is neither
     * the empty line nor a fold. */
    uint8_t *name = s;
    const uint8_t *colon = zttp_scan_name_fast(s, end);
    size_t name_len;
    if (colon != NULL && colon != name) {
      name_len = (size_t)(colon - name);
      s = buf + (colon - buf) + 1;
      goto value;
    }
    if (s == end) {
      return INCOMPLETE;
    }
    if (*s == '\r') {
      if (s + 1 == end) {
        return INCOMPLETE;
      }
      if (s[1] != '\n') {
        return fail(p, ZTTP_ERR_BARE_CR, "bare CR after the field lines");
      }
      s += 2;
      break;
    }
    if (*s == '\n') {
      if (!LENIENT(p, BARE_LF)) {
        return fail(p, ZTTP_ERR_BARE_LF, "empty line ends in a bare LF");
      }
      s += 1;
      break;
    }
    if (zttp_ctype[*s] & ZTTP_CT_OWS) {
      /* RFC 9112 §5.2: obs-fold; before the first field, RFC 9112 §2.2: a
       * whitespace-preceded line. Find the whole line before touching it. */
      if (!LENIENT(p, OBS_FOLD)) {
        return fail(p, ZTTP_ERR_OBS_FOLD,
                    n == 0 ? "whitespace before the first field line"
                           : "obsolete line folding");
      }
      const uint8_t *e = zttp_scan_value(s, end);
      if (e == end) {
        return INCOMPLETE;
      }
      uint8_t *q = buf + (e - buf);
      if (*q == '\r') {
        if (q + 1 == end) {
          return INCOMPLETE;
        }
        if (q[1] != '\n') {
          return fail(p, ZTTP_ERR_BARE_CR, "bare CR in a folded value");
        }
      } else if (*q == '\n') {
        if (!LENIENT(p, BARE_LF)) {
          return fail(p, ZTTP_ERR_BARE_LF, "field line ends in a bare LF");
        }
      } else {
        return fail(p, ZTTP_ERR_BAD_HEADER_VALUE,
                    "control character in a field value");
      }
      uint8_t *next = q + (*q == '\r' ? 2 : 1);
      if (n == 0) {
        /* RFC 9112 §2.2: consumed without further processing. */
        s = next;
        continue;
      }
      /* Join the continuation to the previous value with one SP and blank
       * what is left up to the line end, so that parsing the rewritten
       * bytes again gives the same fields (the buffer is ours). */
      uint8_t *c = s;
      while (c < q && (zttp_ctype[*c] & ZTTP_CT_OWS)) {
        c++;
      }
      uint8_t *ce = q;
      while (ce > c && (zttp_ctype[ce[-1]] & ZTTP_CT_OWS)) {
        ce--;
      }
      zttp_header *prev = &p->fields[n - 1];
      uint8_t *value = buf + ((const uint8_t *)prev->value - buf);
      uint8_t *vend = value + prev->value_len;
      if (ce > c) {
        if (vend > value) {
          *vend++ = ' ';
        }
        memmove(vend, c, (size_t)(ce - c));
        vend += ce - c;
      }
      prev->value_len = (size_t)(vend - value);
      memset(vend, ' ', (size_t)(q - vend));
      s = next;
      continue;
    }
    s = buf + (zttp_scan_token(s, end) - buf);
    if (s == end) {
      return INCOMPLETE;
    }
    name_len = (size_t)(s - name);
    if (*s != ':') {
      if (zttp_ctype[*s] & ZTTP_CT_OWS) {
        if (!LENIENT(p, SPACE_BEFORE_COLON)) {
          return fail(p, ZTTP_ERR_SPACE_BEFORE_COLON,
                      "whitespace between field name and colon");
        }
        while (s < end && (zttp_ctype[*s] & ZTTP_CT_OWS)) {
          s++;
        }
        if (s == end) {
          return INCOMPLETE;
        }
      }
      if (*s != ':') {
        return fail(p, ZTTP_ERR_BAD_HEADER_NAME,
                    "invalid character in a field name");
      }
    }
    if (name_len == 0) {
      return fail(p, ZTTP_ERR_BAD_HEADER_NAME, "empty field name");
    }
    s++;
  value:
    /* Leading OWS is skipped after the value is found (below). */
    if (s < end && *s == ' ') {
      s++;
    }
    uint8_t *value = s;
    uint8_t *vend;
    for (;;) {
      s = buf + (zttp_scan_value_in(buf, s, end) - buf);
      if (s == end) {
        return INCOMPLETE;
      }
      if (*s == '\r') {
        if (s + 1 == end) {
          return INCOMPLETE;
        }
        if (s[1] == '\n') {
          vend = s;
          s += 2;
          break;
        }
        if (!LENIENT(p, BARE_CR)) {
          return fail(p, ZTTP_ERR_BARE_CR, "bare CR in a field value");
        }
        *s++ = ' '; /* RFC 9112 §2.2 */
        continue;
      }
      if (*s == '\n') {
        if (!LENIENT(p, BARE_LF)) {
          return fail(p, ZTTP_ERR_BARE_LF, "field line ends in a bare LF");
        }
        vend = s;
        s += 1;
        break;
      }
      return fail(p, ZTTP_ERR_BAD_HEADER_VALUE,
                  "control character in a field value");
    }
    /* vend[-1] is at worst the ':' or the SP after it, and *value at worst
     * the CR or LF at vend: both readable, so each first test needs no
     * bound. */
    if (zttp_ctype[vend[-1]] & ZTTP_CT_OWS) {
      while (vend > value && (zttp_ctype[vend[-1]] & ZTTP_CT_OWS)) {
        vend--;
      }
    }
    /* OWS after the first SP (and a lenient bare CR that became SP). */
    if (zttp_ctype[*value] & ZTTP_CT_OWS) {
      while (value < vend && (zttp_ctype[*value] & ZTTP_CT_OWS)) {
        value++;
      }
    }
    if (n >= room) {
      int32_t rv = hs != NULL
                       ? fields_reserve(p, n, max, ZTTP_ERR_LIMIT_HEADERS,
                                        "header count exceeds "
                                        "ZTTP_LIMIT_MAX_HEADERS")
                       : fields_reserve(p, n, max, ZTTP_ERR_LIMIT_TRAILERS,
                                        "trailer count exceeds "
                                        "ZTTP_LIMIT_MAX_TRAILERS");
      if (rv != 0) {
        return rv;
      }
      room = p->fields_cap < max ? p->fields_cap : max;
    }
    zttp_header *f = &p->fields[n++];
    f->name = (const char *)name;
    f->name_len = name_len;
    f->value = (const char *)value;
    f->value_len = (size_t)(vend - value);
    f->flags = 0;
    f->reserved = 0;
    if (name_len < 32 && ((sem_lengths >> name_len) & 1u)) {
      /* The first error counts, but only once every line has parsed. */
      int32_t rv = field_semantics(p, hs, f);
      if (rv != 0 && sem_err == 0) {
        sem_err = rv;
        sem_msg = p->err;
      }
    }
  }
  if (sem_err != 0) {
    p->err = sem_msg;
    return sem_err;
  }
  /* With lenient obs-fold, field semantics run once the lines are complete,
   * so that a folded value is seen whole. */
  if (hs != NULL && sem_lengths == 0) {
    for (size_t i = 0; i < n; i++) {
      int32_t rv = field_semantics(p, hs, &p->fields[i]);
      if (rv != 0) {
        return rv;
      }
    }
  }
  *pos = (size_t)(s - buf);
  *num_fields = n;
  return 0;
}

/* ---- start lines */

/* Parses "HTTP/1.x" at |s|. Returns 10 or 11, INCOMPLETE, or an error. */
static int32_t parse_version(zttp_h1_parser *p, const uint8_t *s,
                             const uint8_t *end) {
  static const char prefix[] = "HTTP/1.";
  size_t avail = (size_t)(end - s);
  if (avail >= 8) {
    uint64_t v = load64(s);
    if (v == load64((const uint8_t *)"HTTP/1.1")) {
      return 11;
    }
    if (v == load64((const uint8_t *)"HTTP/1.0")) {
      return 10;
    }
  }
  size_t cmp = avail < 7 ? avail : 7;
  if (memcmp(s, prefix, cmp) != 0) {
    return fail(p, ZTTP_ERR_BAD_VERSION, "malformed HTTP version");
  }
  if (avail < 8) {
    return INCOMPLETE;
  }
  if (s[7] == '1') {
    return 11;
  }
  if (s[7] == '0') {
    return 10;
  }
  if (LENIENT(p, VERSION) && (zttp_ctype[s[7]] & ZTTP_CT_DIGIT)) {
    return 11;
  }
  return fail(p, ZTTP_ERR_BAD_VERSION, "unsupported HTTP version");
}

/* Consumes the CRLF ending a start line at |*s|. */
static int32_t start_line_end(zttp_h1_parser *p, const uint8_t **s,
                              const uint8_t *end, int32_t bad,
                              const char *bad_msg) {
  const uint8_t *q = *s;
  if (q == end) {
    return INCOMPLETE;
  }
  if (*q == '\r') {
    if (q + 1 == end) {
      return INCOMPLETE;
    }
    if (q[1] != '\n') {
      return fail(p, ZTTP_ERR_BARE_CR, "bare CR in the start line");
    }
    *s = q + 2;
    return 0;
  }
  if (*q == '\n') {
    if (!LENIENT(p, BARE_LF)) {
      return fail(p, ZTTP_ERR_BARE_LF, "start line ends in a bare LF");
    }
    *s = q + 1;
    return 0;
  }
  return fail(p, bad, bad_msg);
}

/* RFC 9112 §3: request-line = method SP request-target SP HTTP-version. */
static int32_t parse_request_line(zttp_h1_parser *p, zttp_h1_head *h,
                                  const uint8_t *buf, const uint8_t **sp,
                                  const uint8_t *end) {
  size_t known = end - buf >= 5 ? common_method(buf) : 0;
  const uint8_t *s = known != 0 ? buf + known : zttp_scan_token(buf, end);
  if (s == end) {
    return INCOMPLETE;
  }
  if (*s != ' ' || s == buf) {
    return fail(p, ZTTP_ERR_BAD_METHOD, "malformed method");
  }
  h->method.base = (const char *)buf;
  h->method.len = (size_t)(s - buf);
  const uint8_t *t = ++s;
  s = zttp_scan_target(s, end);
  if (s == end) {
    return INCOMPLETE;
  }
  if (*s != ' ' || s == t) {
    return fail(p, ZTTP_ERR_BAD_TARGET, "malformed request target");
  }
  h->target.base = (const char *)t;
  h->target.len = (size_t)(s - t);
  s++;
  int32_t v = parse_version(p, s, end);
  if (v < 10) {
    return v;
  }
  h->version = (uint32_t)v;
  s += 8;
  int32_t rv = start_line_end(p, &s, end, ZTTP_ERR_BAD_VERSION,
                              "malformed HTTP version");
  if (rv != 0) {
    return rv;
  }
  *sp = s;
  return 0;
}

/* RFC 9112 §4: status-line = HTTP-version SP status-code SP [reason]. A
 * missing SP and reason after the code is accepted (common in practice). */
static int32_t parse_status_line(zttp_h1_parser *p, zttp_h1_head *h,
                                 const uint8_t *buf, const uint8_t **sp,
                                 const uint8_t *end) {
  const uint8_t *s = buf;
  int32_t v = parse_version(p, s, end);
  if (v < 10) {
    return v;
  }
  h->version = (uint32_t)v;
  s += 8;
  if (s < end && *s != ' ') {
    return fail(p, ZTTP_ERR_BAD_VERSION, "malformed HTTP version");
  }
  if ((size_t)(end - s) < 4) {
    for (const uint8_t *q = s; q < end; q++) {
      if (q == s ? *q != ' ' : !(zttp_ctype[*q] & ZTTP_CT_DIGIT)) {
        return fail(p, ZTTP_ERR_BAD_STATUS, "malformed status line");
      }
    }
    return INCOMPLETE;
  }
  if (s[0] != ' ' || !(zttp_ctype[s[1]] & ZTTP_CT_DIGIT) ||
      !(zttp_ctype[s[2]] & ZTTP_CT_DIGIT) ||
      !(zttp_ctype[s[3]] & ZTTP_CT_DIGIT)) {
    return fail(p, ZTTP_ERR_BAD_STATUS, "malformed status line");
  }
  uint32_t status =
      (uint32_t)((s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'));
  if (status < 100 || status > 599) {
    return fail(p, ZTTP_ERR_BAD_STATUS, "status code out of range");
  }
  h->status = status;
  s += 4;
  if (s == end) {
    return INCOMPLETE;
  }
  const uint8_t *r = s;
  if (*s == ' ') {
    r = ++s;
    s = zttp_scan_value(s, end);
  }
  h->reason.base = (const char *)r;
  h->reason.len = (size_t)(s - r);
  int32_t rv =
      start_line_end(p, &s, end, ZTTP_ERR_BAD_STATUS, "malformed status line");
  if (rv != 0) {
    return rv;
  }
  *sp = s;
  return 0;
}

/* ---- heads */

/* Parses a complete head at |buf|. Returns the head's length, INCOMPLETE
 * (as 0 with *incomplete set) or an error. */
static int64_t parse_head(zttp_h1_parser *p, zttp_h1_item *item, uint8_t *buf,
                          size_t len, int *incomplete) {
  zttp_h1_head *h = &item->head;
  const uint8_t *end = buf + len;
  const uint8_t *s = buf;
  head_state hs;
  memset(&hs, 0, sizeof(hs));
  /* Every member of the head is set on success: here those that the start
   * line of this kind does not set, the others below. */
  h->content_length = 0;
  h->flags = 0;
  int32_t rv;
  if (p->is_response) {
    h->method.base = NULL;
    h->method.len = 0;
    h->target.base = NULL;
    h->target.len = 0;
    h->host.base = NULL;
    h->host.len = 0;
    rv = parse_status_line(p, h, buf, &s, end);
  } else {
    h->status = 0;
    h->reason.base = NULL;
    h->reason.len = 0;
    rv = parse_request_line(p, h, buf, &s, end);
  }
  if (rv == 0 && (size_t)(s - buf) > LIMIT(p, H1_MAX_START_LINE)) {
    rv = fail(p, ZTTP_ERR_LIMIT_START_LINE,
              "start line exceeds ZTTP_LIMIT_H1_MAX_START_LINE");
  }
  size_t pos = (size_t)(s - buf);
  size_t num = 0;
  if (rv == 0) {
    rv = parse_fields(p, buf, len, &pos, &num, &hs);
  }
  if (rv == INCOMPLETE) {
    *incomplete = 1;
    return 0;
  }
  if (rv != 0) {
    return rv;
  }
  if (pos > LIMIT(p, MAX_HEADER_BYTES)) {
    return fail(p, ZTTP_ERR_LIMIT_HEADER_BYTES,
                "header section exceeds ZTTP_LIMIT_MAX_HEADER_BYTES");
  }
  h->headers = p->fields;
  h->num_headers = num;
  h->flags |= hs.flags;
  if (p->is_response) {
    rv = response_framing(p, h, &hs);
  } else {
    rv = request_head_end(p, h, &hs, buf, 1);
  }
  if (rv != 0) {
    return rv;
  }
  head_persistence(h);
  return (int64_t)pos;
}

static void reset_scan(zttp_h1_parser *p) {
  p->scanning = 0;
  p->scan_pos = 0;
  p->scan_line_start = 0;
  p->scan_lines = 0;
}

/* Parses a head or a trailer section at |buf|: optimistically at once, else
 * by scanning lines as they arrive. Returns the section length (> 0), 0 for
 * more input, or an error. */
static inline __attribute__((always_inline)) int64_t
section(zttp_h1_parser *p, zttp_h1_item *item, uint8_t *buf, size_t len,
        int trailers) {
  if (p->scanning) {
    int32_t rv = scan_section(p, buf, len, trailers);
    if (rv <= 0) {
      return rv;
    }
  }
  int incomplete = 0;
  int64_t n;
  if (trailers) {
    size_t pos = 0;
    size_t num = 0;
    int32_t rv = parse_fields(p, buf, len, &pos, &num, NULL);
    if (rv == INCOMPLETE) {
      incomplete = 1;
      n = 0;
    } else if (rv != 0) {
      n = rv;
    } else if (pos > LIMIT(p, MAX_TRAILER_BYTES)) {
      n = fail(p, ZTTP_ERR_LIMIT_TRAILER_BYTES,
               "trailer section exceeds ZTTP_LIMIT_MAX_TRAILER_BYTES");
    } else {
      item->trailers = p->fields;
      item->num_trailers = num;
      n = (int64_t)pos;
    }
  } else {
    n = parse_head(p, item, buf, len, &incomplete);
  }
  if (n < 0 && !p->scanning && n != ZTTP_ERR_NOMEM) {
    /* A malformed section counts only once all of it has arrived, and after
     * the limits the line scanner enforces as bytes arrive: the same input
     * then gives the same result however it is split. */
    int32_t err = (int32_t)n;
    const char *msg = p->err;
    int32_t rv = scan_section(p, buf, len, trailers);
    if (rv < 0) {
      reset_scan(p);
      return rv;
    }
    if (rv == 0) {
      p->scanning = 1;
      return 0;
    }
    p->err = msg;
    reset_scan(p);
    return err;
  }
  if (incomplete) {
    if (p->scanning) {
      /* The scanner saw the empty line, so the section cannot be
       * incomplete. */
      return fail(p, ZTTP_ERR_PROTOCOL, "internal: section scan mismatch");
    }
    p->scanning = 1;
    int32_t rv = scan_section(p, buf, len, trailers);
    if (rv > 0) {
      return fail(p, ZTTP_ERR_PROTOCOL, "internal: section scan mismatch");
    }
    return rv;
  }
  reset_scan(p);
  return n;
}

/* A head at |buf| (no empty lines before it left to skip): a HEAD item, 0
 * for more input, or an error. Out of line, so that zttp_h1_parse_item(), its
 * one caller here, keeps a small frame. */
__attribute__((noinline)) int64_t zttp_h1_head_item(zttp_h1_parser *p,
                                                    zttp_h1_item *item,
                                                    uint8_t *buf, size_t len) {
  int64_t r = section(p, item, buf, len, 0);
  if (r <= 0) {
    return r;
  }
  item->kind = ZTTP_H1_ITEM_HEAD;
  start_body(p, &item->head);
  return r;
}

/* ---- chunked coding (RFC 9112 §7.1) */

/* Validates chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 * in [s, end). */
static int chunk_ext_valid(const uint8_t *s, const uint8_t *end) {
  while (s < end) {
    while (s < end && (zttp_ctype[*s] & ZTTP_CT_OWS)) {
      s++;
    }
    if (s == end || *s != ';') {
      return 0;
    }
    s++;
    while (s < end && (zttp_ctype[*s] & ZTTP_CT_OWS)) {
      s++;
    }
    const uint8_t *n = s;
    while (s < end && (zttp_ctype[*s] & ZTTP_CT_TOKEN)) {
      s++;
    }
    if (s == n) {
      return 0;
    }
    const uint8_t *q = s;
    while (q < end && (zttp_ctype[*q] & ZTTP_CT_OWS)) {
      q++;
    }
    if (q == end || *q != '=') {
      continue;
    }
    s = q + 1;
    while (s < end && (zttp_ctype[*s] & ZTTP_CT_OWS)) {
      s++;
    }
    if (s < end && *s == '"') {
      /* quoted-string (RFC 9110 §5.6.4) */
      s++;
      for (;;) {
        if (s == end) {
          return 0;
        }
        if (*s == '"') {
          s++;
          break;
        }
        if (*s == '\\') {
          if (s + 1 == end || !(zttp_ctype[s[1]] & ZTTP_CT_VALUE)) {
            return 0;
          }
          s += 2;
          continue;
        }
        if (!(zttp_ctype[*s] & ZTTP_CT_QDTEXT)) {
          return 0;
        }
        s++;
      }
    } else {
      const uint8_t *v = s;
      while (s < end && (zttp_ctype[*s] & ZTTP_CT_TOKEN)) {
        s++;
      }
      if (s == v) {
        return 0;
      }
    }
  }
  return 1;
}

/* Parses a chunk-size line. Returns its length (> 0), 0 for more input, or
 * an error; sets p->remaining. */
static int64_t chunk_size_line(zttp_h1_parser *p, const uint8_t *buf,
                               size_t len) {
  size_t max_ext = LIMIT(p, H1_MAX_CHUNK_EXT);
  const uint8_t *end = buf + len;
  const uint8_t *s = buf;
  uint64_t size = 0;
  size_t digits = 0;
  while (s < end && (zttp_ctype[*s] & ZTTP_CT_HEX)) {
    uint8_t c = *s;
    uint64_t d =
        c <= '9' ? (uint64_t)(c - '0') : (uint64_t)((c | 0x20) - 'a' + 10);
    if (size >> 59) {
      return fail(p, ZTTP_ERR_BAD_CHUNK, "chunk size overflows");
    }
    size = size << 4 | d;
    s++;
    if (++digits > MAX_CHUNK_SIZE_DIGITS) {
      return fail(p, ZTTP_ERR_BAD_CHUNK, "chunk size has too many digits");
    }
  }
  if (s == end) {
    return 0;
  }
  if (digits == 0) {
    return fail(p, ZTTP_ERR_BAD_CHUNK, "chunk size is not 1*HEXDIG");
  }
  if (size > (UINT64_C(1) << 62)) {
    return fail(p, ZTTP_ERR_BAD_CHUNK, "chunk size overflows");
  }
  /* Lenient whitespace before the extensions counts toward their limit. */
  const uint8_t *ext = s;
  if (LENIENT(p, CHUNK_SIZE)) {
    while (ext < end && (zttp_ctype[*ext] & ZTTP_CT_OWS)) {
      ext++;
    }
  }
  /* Find the line end within the extension limit. */
  size_t avail = (size_t)(end - s);
  size_t look = avail < max_ext + 2 ? avail : max_ext + 2;
  const uint8_t *lf = memchr(s, '\n', look);
  if (lf == NULL) {
    if (avail >= max_ext + 2) {
      return fail(p, ZTTP_ERR_LIMIT_CHUNK_EXT,
                  "chunk extensions exceed ZTTP_LIMIT_H1_MAX_CHUNK_EXT");
    }
    return 0;
  }
  const uint8_t *eol = lf;
  if (eol > s && eol[-1] == '\r') {
    eol--;
  } else if (!LENIENT(p, BARE_LF)) {
    return fail(p, ZTTP_ERR_BARE_LF, "chunk-size line ends in a bare LF");
  }
  if ((size_t)(eol - s) > max_ext) {
    return fail(p, ZTTP_ERR_LIMIT_CHUNK_EXT,
                "chunk extensions exceed ZTTP_LIMIT_H1_MAX_CHUNK_EXT");
  }
  if (eol != ext) {
    /* Strict: the extensions start right after the size (RFC 9112 §7.1.1
     * allows BWS there, but whitespace after a chunk size is a known request
     * smuggling vector; ZTTP_LENIENT_CHUNK_SIZE accepts it). */
    if (*ext != ';') {
      return fail(p, ZTTP_ERR_BAD_CHUNK, "invalid character after chunk size");
    }
    if (memchr(ext, '\r', (size_t)(eol - ext)) != NULL) {
      return fail(p, ZTTP_ERR_BARE_CR, "bare CR in a chunk-size line");
    }
    if (!chunk_ext_valid(ext, eol)) {
      return fail(p, ZTTP_ERR_BAD_CHUNK, "malformed chunk extension");
    }
  }
  p->remaining = size;
  return (int64_t)(lf + 1 - buf);
}

/* ---- the item loop */

/* Every state; zttp_h1_parse() handles the two cheapest ones itself, so
 * that an END or a span of a Content-Length body does not pay for the
 * frame this function needs, and sends a head to fast_head() first. */
__attribute__((noinline)) int64_t zttp_h1_parse_item(zttp_h1_parser *p,
                                                     zttp_h1_item *item,
                                                     uint8_t *buf, size_t len) {
  size_t off = 0;
  for (;;) {
    uint8_t *s = buf + off;
    size_t n = len - off;
    switch (p->state) {
    case ST_HEAD: {
      if (!p->scanning) {
        /* RFC 9112 §2.2: empty lines before a request-line are ignored. */
        while (n > 0 && !p->is_response &&
               (s[0] == '\n' || (s[0] == '\r' && n >= 2 && s[1] == '\n'))) {
          size_t k = s[0] == '\n' ? 1 : 2;
          if (k == 1 && !LENIENT(p, BARE_LF)) {
            return fail(p, ZTTP_ERR_BARE_LF, "bare LF before a request");
          }
          off += k;
          s += k;
          n -= k;
        }
        if (n == 0 || (n == 1 && s[0] == '\r' && !p->is_response)) {
          return (int64_t)off;
        }
      }
      int64_t r = zttp_h1_head_item(p, item, s, n);
      return r < 0 ? r : (int64_t)off + r;
    }
    case ST_END:
      end_item(p, item);
      return (int64_t)off;
    case ST_BODY_LENGTH:
    case ST_CHUNK_DATA:
      return n == 0 ? (int64_t)off : (int64_t)(off + body_span(p, item, s, n));
    case ST_BODY_EOF:
      if (n == 0) {
        return (int64_t)off;
      }
      item->kind = ZTTP_H1_ITEM_DATA;
      item->data = s;
      item->len = n;
      return (int64_t)len;
    case ST_CHUNK_SIZE: {
      int64_t r = chunk_size_line(p, s, n);
      if (r <= 0) {
        return r < 0 ? r : (int64_t)off;
      }
      off += (size_t)r;
      p->state = p->remaining > 0 ? ST_CHUNK_DATA : ST_TRAILERS;
      continue;
    }
    case ST_CHUNK_CRLF:
      if (n == 0 || (n == 1 && s[0] == '\r')) {
        return (int64_t)off;
      }
      if (s[0] == '\r' && s[1] == '\n') {
        off += 2;
      } else if (s[0] == '\n') {
        if (!LENIENT(p, BARE_LF)) {
          return fail(p, ZTTP_ERR_BARE_LF, "chunk data ends in a bare LF");
        }
        off += 1;
      } else {
        return fail(p, ZTTP_ERR_BAD_CHUNK, "chunk data not followed by CRLF");
      }
      p->state = ST_CHUNK_SIZE;
      continue;
    case ST_TRAILERS: {
      int64_t r = section(p, item, s, n, 1);
      if (r <= 0) {
        return r < 0 ? r : (int64_t)off;
      }
      item->kind = ZTTP_H1_ITEM_END;
      p->state = ST_HEAD;
      return (int64_t)off + r;
    }
    default:
      return fail(p, ZTTP_ERR_PROTOCOL, "internal: bad parser state");
    }
  }
}

int32_t zttp_h1_parse_eof(zttp_h1_parser *p, zttp_h1_item *item) {
  item->kind = ZTTP_H1_ITEM_NONE;
  if (p->state == ST_BODY_EOF) {
    end_item(p, item);
    return 1;
  }
  if (p->state == ST_HEAD && !p->scanning) {
    return 0;
  }
  return fail(p, ZTTP_ERR_UNEXPECTED_EOF,
              "connection closed in the middle of a message");
}
