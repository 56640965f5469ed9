/* SPDX-License-Identifier: MIT */
#include "common/msg.h"

#include <string.h>

#include "common/scan.h"

#define STR_EQ(p, n, lit)                                                      \
  ((n) == sizeof(lit) - 1 && memcmp((p), (lit), sizeof(lit) - 1) == 0)

int64_t zttp_msg_parse_uint(const char *s, size_t n) {
  if (n == 0 || n > 18) {
    return -1;
  }
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned d = (unsigned char)s[i] - '0';
    if (d > 9) {
      return -1;
    }
    v = v * 10 + d;
  }
  return v;
}

/* zttp_msg_check() calls this only for the lengths below: keep its
 * switch in step. */
int zttp_msg_connection_specific(const char *name, size_t len) {
  switch (len) {
  case 7:
    return memcmp(name, "upgrade", 7) == 0;
  case 10:
    return memcmp(name, "connection", 10) == 0 ||
           memcmp(name, "keep-alive", 10) == 0;
  case 16:
    return memcmp(name, "proxy-connection", 16) == 0;
  case 17:
    return memcmp(name, "transfer-encoding", 17) == 0;
  default:
    return 0;
  }
}

/* Field-name bytes: NC_TOKEN for every tchar (RFC 9110 §5.6.2), NC_LOWER
 * for the tchars HTTP/2 accepts on the wire (RFC 9113 §8.2.1: no
 * uppercase). One table so that a name is checked with one AND per byte,
 * four bytes per step. */
#define NC_TOKEN 0x1u
#define NC_LOWER 0x2u
#define NC_TL (NC_TOKEN | NC_LOWER)
#define NC4(c, v) [(c)] = (v), [(c) + 1] = (v), [(c) + 2] = (v), [(c) + 3] = (v)
static const uint8_t name_ct[256] = {
    ['!'] = NC_TL,      ['#'] = NC_TL,      ['$'] = NC_TL,
    ['%'] = NC_TL,      ['&'] = NC_TL,      ['\''] = NC_TL,
    ['*'] = NC_TL,      ['+'] = NC_TL,      ['-'] = NC_TL,
    ['.'] = NC_TL,      ['^'] = NC_TL,      ['_'] = NC_TL,
    ['`'] = NC_TL,      ['|'] = NC_TL,      ['~'] = NC_TL,
    NC4('0', NC_TL),    NC4('4', NC_TL),    ['8'] = NC_TL,
    ['9'] = NC_TL,      NC4('a', NC_TL),    NC4('e', NC_TL),
    NC4('i', NC_TL),    NC4('m', NC_TL),    NC4('q', NC_TL),
    NC4('u', NC_TL),    ['y'] = NC_TL,      ['z'] = NC_TL,
    NC4('A', NC_TOKEN), NC4('E', NC_TOKEN), NC4('I', NC_TOKEN),
    NC4('M', NC_TOKEN), NC4('Q', NC_TOKEN), NC4('U', NC_TOKEN),
    ['Y'] = NC_TOKEN,   ['Z'] = NC_TOKEN,
};
#undef NC4

#if defined(ZTTP_SCAN_SSE2)
/* The lanes of |v| holding a lowercase letter, a digit or '-' (what almost
 * every field name is made of; all are lowercase tchars). x - (c + 128) is
 * below k - 128 as a signed byte exactly when x - c is in 0..k-1. */
static inline unsigned name_common_vec(__m128i v) {
  __m128i az = _mm_cmplt_epi8(_mm_sub_epi8(v, _mm_set1_epi8((char)('a' + 128))),
                              _mm_set1_epi8((char)(26 - 128)));
  __m128i dg = _mm_cmplt_epi8(_mm_sub_epi8(v, _mm_set1_epi8((char)('0' + 128))),
                              _mm_set1_epi8((char)(10 - 128)));
  __m128i dash = _mm_cmpeq_epi8(v, _mm_set1_epi8('-'));
  return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(az, dg), dash));
}

/* 1 when the |n| >= 4 bytes at |p| are all lowercase letters, digits or
 * '-': 16 bytes per load, shorter names with two overlapping loads, never
 * reading outside the name. */
static inline int name_common(const uint8_t *p, size_t n) {
  if (n >= 16) {
    unsigned m = name_common_vec(
        _mm_loadu_si128((const __m128i *)(const void *)(p + n - 16)));
    for (size_t i = 0; i + 16 <= n && m == 0xffffu; i += 16) {
      m = name_common_vec(
          _mm_loadu_si128((const __m128i *)(const void *)(p + i)));
    }
    return m == 0xffffu;
  }
  if (n >= 8) {
    __m128i v = _mm_unpacklo_epi64(
        _mm_loadl_epi64((const __m128i *)(const void *)p),
        _mm_loadl_epi64((const __m128i *)(const void *)(p + n - 8)));
    return name_common_vec(v) == 0xffffu;
  }
  int32_t a, b;
  memcpy(&a, p, 4);
  memcpy(&b, p + n - 4, 4);
  __m128i v = _mm_unpacklo_epi32(_mm_cvtsi32_si128(a), _mm_cvtsi32_si128(b));
  return (name_common_vec(v) & 0xffu) == 0xffu;
}
#endif

/* The AND of name_ct over the |n| bytes at |p| (0 for an empty name). */
static inline unsigned name_class(const uint8_t *p, size_t n) {
#if defined(ZTTP_SCAN_SSE2)
  if (n >= 4 && name_common(p, n)) {
    return NC_TL;
  }
#endif
  unsigned all = n > 0 ? NC_TL : 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    all &= (unsigned)(name_ct[p[i]] & name_ct[p[i + 1]] & name_ct[p[i + 2]] &
                      name_ct[p[i + 3]]);
  }
  for (; i < n; i++) {
    all &= name_ct[p[i]];
  }
  return all;
}

/* RFC 9113 §8.2.1: a field name is a token of lowercase characters. */
static int name_valid_recv(const uint8_t *p, size_t n) {
  return (name_class(p, n) & NC_LOWER) != 0;
}

int zttp_msg_name_valid_send(const char *name, size_t len, int *upper) {
  unsigned c = name_class((const uint8_t *)name, len);
  *upper = (c & NC_LOWER) == 0;
  return (c & NC_TOKEN) != 0;
}

#if defined(ZTTP_SCAN_SSE2)
/* zttp_scan_value_bad16() on bytes already in a register. */
static inline unsigned value_bad_vec(__m128i v) {
  __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
  __m128i bad = _mm_or_si128(
      _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x09)), ctl),
      _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
  return (unsigned)_mm_movemask_epi8(bad);
}

static inline __m128i load32_vec(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm_cvtsi32_si128(v);
}
#endif

/* 1 when none of the |n| bytes at |p| is a CTL other than HTAB, or DEL
 * (zttp_scan_value() reaching the end): 16 bytes at a time, the last 16
 * with one load that ends at the end; 4..15 bytes with two overlapping
 * loads (first and last 8 or 4 bytes), never reading outside the value. */
static inline int value_chars_ok(const uint8_t *p, size_t n) {
#if defined(ZTTP_SCAN_SSE2)
  if (n >= 16) {
    unsigned bad = zttp_scan_value_bad16(p + n - 16);
    for (size_t i = 0; i + 16 <= n && bad == 0; i += 16) {
      bad = zttp_scan_value_bad16(p + i);
    }
    return bad == 0;
  }
  if (n >= 8) {
    __m128i v = _mm_unpacklo_epi64(
        _mm_loadl_epi64((const __m128i *)(const void *)p),
        _mm_loadl_epi64((const __m128i *)(const void *)(p + n - 8)));
    return value_bad_vec(v) == 0;
  }
  if (n >= 4) {
    /* The upper 8 lanes are zeros, which count as bad: not looked at. */
    __m128i v = _mm_unpacklo_epi32(load32_vec(p), load32_vec(p + n - 4));
    return (value_bad_vec(v) & 0xffu) == 0;
  }
  if (n == 0) {
    return 1;
  }
  /* 1..3 bytes: the first, middle and last are all of them. */
  return (zttp_ctype[p[0]] & zttp_ctype[p[n / 2]] & zttp_ctype[p[n - 1]] &
          ZTTP_CT_VALUE) != 0;
#else
  unsigned all = ZTTP_CT_VALUE;
  for (size_t i = 0; i < n; i++) {
    all &= zttp_ctype[p[i]];
  }
  return (all & ZTTP_CT_VALUE) != 0;
#endif
}

int zttp_msg_value_valid_send(const char *value, size_t len) {
  return value_chars_ok((const uint8_t *)value, len);
}

/* RFC 9113 §8.2.1: no NUL, CR or LF, and no leading or trailing SP/HTAB.
 * Other CTLs are refused as well (RFC 9110 §5.5 field-vchar). */
static int value_valid_recv(const uint8_t *p, size_t n) {
  if (n == 0) {
    return 1;
  }
  if (p[0] == ' ' || p[0] == '\t' || p[n - 1] == ' ' || p[n - 1] == '\t') {
    return 0;
  }
  return value_chars_ok(p, n);
}

static int ieq(const char *a, size_t n, const char *lower) {
  size_t m = strlen(lower);
  if (n != m) {
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)a[i];
    if (c >= 'A' && c <= 'Z') {
      c = (unsigned char)(c + 32);
    }
    if (c != (unsigned char)lower[i]) {
      return 0;
    }
  }
  return 1;
}

void zttp_msg_priority_parse(uint8_t *urgency, uint8_t *incremental,
                             const char *v, size_t n) {
  /* RFC 9218 §4 over RFC 8941 §3.2 dictionaries: members separated by
   * commas; "u" is an integer 0..7, "i" a boolean (bare key = ?1). Members
   * with other keys, parameters or types are ignored. */
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) {
      i++;
    }
    size_t k = i;
    while (i < n && v[i] != '=' && v[i] != ',' && v[i] != ';') {
      i++;
    }
    size_t klen = i - k;
    const char *val = NULL;
    size_t vlen = 0;
    if (i < n && v[i] == '=') {
      val = v + ++i;
      while (i < n && v[i] != ',' && v[i] != ';') {
        i++;
      }
      vlen = (size_t)(v + i - val);
    }
    while (i < n && v[i] != ',') {
      i++;
    }
    while (vlen > 0 && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t')) {
      vlen--;
    }
    if (klen == 1 && v[k] == 'u' && vlen == 1 && val[0] >= '0' &&
        val[0] <= '7') {
      *urgency = (uint8_t)(val[0] - '0');
    } else if (klen == 1 && v[k] == 'i') {
      if (val == NULL || (vlen == 2 && val[0] == '?' && val[1] == '1')) {
        *incremental = 1;
      } else if (vlen == 2 && val[0] == '?' && val[1] == '0') {
        *incremental = 0;
      }
    }
  }
}

/* Pseudo-header bits. */
enum {
  PS_METHOD = 1,
  PS_SCHEME = 2,
  PS_AUTHORITY = 4,
  PS_PATH = 8,
  PS_PROTOCOL = 16,
  PS_STATUS = 32
};

static int pseudo_bit(const char *n, size_t len) {
  switch (len) {
  case 5:
    return STR_EQ(n, len, ":path") ? PS_PATH : 0;
  case 7:
    if (STR_EQ(n, len, ":method")) {
      return PS_METHOD;
    }
    if (STR_EQ(n, len, ":scheme")) {
      return PS_SCHEME;
    }
    return STR_EQ(n, len, ":status") ? PS_STATUS : 0;
  case 9:
    return STR_EQ(n, len, ":protocol") ? PS_PROTOCOL : 0;
  case 10:
    return STR_EQ(n, len, ":authority") ? PS_AUTHORITY : 0;
  default:
    return 0;
  }
}

int zttp_msg_check(zttp_msg *msg, const char **why, const zttp_header *fields,
                   size_t num_fields, int kind, int connect_protocol) {
  /* Field by field: a memset of the struct compiles to "rep stos", whose
   * start-up cost was 10% of this function's time. */
  _Static_assert(sizeof(zttp_msg) == sizeof(struct {
                   zttp_str s[5];
                   uint32_t u;
                   size_t z;
                   int64_t i;
                   uint8_t b[5];
                 }),
                 "zttp_msg changed: initialise the new members here");
  msg->method = msg->scheme = msg->authority = msg->path = msg->protocol =
      (zttp_str){NULL, 0};
  msg->status = 0;
  msg->first_regular = 0;
  msg->content_length = -1;
  msg->has_host = 0;
  msg->expect_continue = 0;
  msg->has_priority = 0;
  msg->urgency = 3;
  msg->incremental = 0;
  unsigned seen = 0;
  size_t i = 0;
  /* RFC 9113 §8.3: pseudo-header fields come first, each at most once. */
  for (; i < num_fields && fields[i].name_len > 0 && fields[i].name[0] == ':';
       i++) {
    const zttp_header *f = &fields[i];
    int bit = pseudo_bit(f->name, f->name_len);
    if (bit == 0 || (seen & (unsigned)bit)) {
      *why = bit == 0 ? "unknown pseudo-header field"
                      : "repeated pseudo-header field";
      return -1;
    }
    if (!value_valid_recv((const uint8_t *)f->value, f->value_len)) {
      *why = "invalid pseudo-header field value";
      return -1;
    }
    seen |= (unsigned)bit;
    zttp_str v = {f->value, f->value_len};
    switch (bit) {
    case PS_METHOD:
      msg->method = v;
      break;
    case PS_SCHEME:
      msg->scheme = v;
      break;
    case PS_AUTHORITY:
      msg->authority = v;
      break;
    case PS_PATH:
      msg->path = v;
      break;
    case PS_PROTOCOL:
      msg->protocol = v;
      break;
    default: {
      int64_t st = zttp_msg_parse_uint(v.base, v.len);
      if (v.len != 3 || st < 100 || st > 599) {
        *why = "invalid :status";
        return -1;
      }
      msg->status = (uint32_t)st;
      break;
    }
    }
  }
  msg->first_regular = i;
  switch (kind) {
  case ZTTP_MSG_REQUEST: {
    if (seen & PS_STATUS) {
      *why = ":status in a request";
      return -1;
    }
    if (!(seen & PS_METHOD)) {
      *why = "missing :method";
      return -1;
    }
    int connect = STR_EQ(msg->method.base, msg->method.len, "CONNECT");
    if (seen & PS_PROTOCOL) {
      /* RFC 8441 §4: extended CONNECT, only when we enabled it. */
      if (!connect_protocol || !connect) {
        *why = ":protocol without extended CONNECT";
        return -1;
      }
      if ((seen & (PS_SCHEME | PS_PATH | PS_AUTHORITY)) !=
          (PS_SCHEME | PS_PATH | PS_AUTHORITY)) {
        *why = "extended CONNECT without :scheme, :path or :authority";
        return -1;
      }
    } else if (connect) {
      /* RFC 9113 §8.5 */
      if ((seen & (PS_SCHEME | PS_PATH)) || !(seen & PS_AUTHORITY)) {
        *why = "CONNECT needs :authority and no :scheme or :path";
        return -1;
      }
    } else if ((seen & (PS_SCHEME | PS_PATH)) != (PS_SCHEME | PS_PATH)) {
      *why = "missing :scheme or :path";
      return -1;
    }
    if ((seen & PS_PATH) && msg->path.len == 0) {
      *why = "empty :path";
      return -1;
    }
    /* RFC 9113 §8.3.1: "*" only for OPTIONS; otherwise an origin-form or
     * absolute path (http and https). */
    if ((seen & PS_PATH) && msg->path.base[0] != '/' &&
        !(msg->path.len == 1 && msg->path.base[0] == '*' &&
          STR_EQ(msg->method.base, msg->method.len, "OPTIONS"))) {
      *why = "invalid :path";
      return -1;
    }
    /* A token (uppercase allowed); not empty. */
    if (!(name_class((const uint8_t *)msg->method.base, msg->method.len) &
          NC_TOKEN)) {
      *why = "invalid :method";
      return -1;
    }
    break;
  }
  case ZTTP_MSG_RESPONSE:
    if (seen != PS_STATUS) {
      *why = "a response needs :status and no other pseudo-header";
      return -1;
    }
    break;
  default:
    if (seen != 0) {
      *why = "pseudo-header field in trailers";
      return -1;
    }
    break;
  }
  for (; i < num_fields; i++) {
    const zttp_header *f = &fields[i];
    const char *n = f->name;
    size_t nl = f->name_len;
    if (!name_valid_recv((const uint8_t *)n, nl)) {
      *why = nl > 0 && n[0] == ':' ? "pseudo-header field after a regular one"
                                   : "invalid field name";
      return -1;
    }
    if (!value_valid_recv((const uint8_t *)f->value, f->value_len)) {
      *why = "invalid field value";
      return -1;
    }
    switch (nl) {
    case 7:
    case 10:
    case 16:
    case 17:
      /* The lengths of the connection-specific names. */
      if (zttp_msg_connection_specific(n, nl)) {
        *why = "connection-specific field";
        return -1;
      }
      break;
    case 2:
      /* RFC 9113 §8.2.2: te may only say "trailers". */
      if (n[0] == 't' && n[1] == 'e' &&
          !ieq(f->value, f->value_len, "trailers")) {
        *why = "te other than trailers";
        return -1;
      }
      break;
    case 4:
      if (memcmp(n, "host", 4) == 0) {
        msg->has_host = 1;
        if (msg->authority.base == NULL) {
          msg->authority.base = f->value;
          msg->authority.len = f->value_len;
        }
      }
      break;
    case 6:
      if (memcmp(n, "expect", 6) == 0 &&
          ieq(f->value, f->value_len, "100-continue")) {
        msg->expect_continue = 1;
      }
      break;
    case 8:
      if (memcmp(n, "priority", 8) == 0) {
        msg->has_priority = 1;
        zttp_msg_priority_parse(&msg->urgency, &msg->incremental, f->value,
                                f->value_len);
      }
      break;
    case 14:
      if (memcmp(n, "content-length", 14) == 0) {
        int64_t cl = zttp_msg_parse_uint(f->value, f->value_len);
        if (cl < 0 || (msg->content_length >= 0 && msg->content_length != cl)) {
          *why = "invalid or differing content-length";
          return -1;
        }
        msg->content_length = cl;
      }
      break;
    default:
      break;
    }
  }
  return 0;
}

/* ---- events ------------------------------------------------------------- */

void zttp_msg_request_event(zttp_event *ev, zttp_header *fields, size_t num,
                            const zttp_msg *msg, int64_t stream_id,
                            int end_stream, uint32_t http_version) {
  int connect = zttp_msg_is_connect(msg->method);
  zttp_header *h = fields + msg->first_regular;
  size_t nh = num - msg->first_regular;
  if (msg->authority.base != NULL && !msg->has_host && msg->first_regular > 0) {
    h--;
    nh++;
    h->name = "host";
    h->name_len = 4;
    h->value = msg->authority.base;
    h->value_len = msg->authority.len;
    h->flags = 0;
    h->reserved = 0;
  }
  ev->kind = ZTTP_EVENT_REQUEST;
  ev->stream_id = stream_id;
  ev->flags = 0;
  if (end_stream) {
    ev->flags |= ZTTP_EVENT_FLAG_END_STREAM;
  }
  if (msg->expect_continue) {
    ev->flags |= ZTTP_EVENT_FLAG_EXPECT_CONTINUE;
  }
  if (connect) {
    ev->flags |= ZTTP_EVENT_FLAG_UPGRADE;
  }
  zttp_request_event *r = &ev->u.request;
  /* Every member is set below (no memset: it compiles to "rep stos"). */
  r->query.base = NULL;
  r->query.len = 0;
  r->reserved = 0;
  r->method = msg->method;
  r->target =
      connect && msg->protocol.base == NULL ? msg->authority : msg->path;
  r->path = r->target;
  const char *q = r->target.base != NULL
                      ? memchr(r->target.base, '?', r->target.len)
                      : NULL;
  if (q != NULL) {
    r->path.len = (size_t)(q - r->target.base);
    r->query.base = q + 1;
    r->query.len = r->target.len - r->path.len - 1;
  }
  r->authority = msg->authority;
  r->scheme = msg->scheme;
  r->protocol = msg->protocol;
  r->headers = h;
  r->num_headers = nh;
  r->http_version = http_version;
}

void zttp_msg_response_event(zttp_event *ev, const zttp_header *fields,
                             size_t num, const zttp_msg *msg, int64_t stream_id,
                             uint32_t flags, uint32_t http_version) {
  ev->kind = ZTTP_EVENT_RESPONSE;
  ev->stream_id = stream_id;
  ev->flags = flags;
  zttp_response_event *r = &ev->u.response;
  /* Every member is set here (no memset: it compiles to "rep stos"). */
  r->reason.base = NULL;
  r->reason.len = 0;
  r->status = msg->status;
  r->http_version = http_version;
  r->headers = fields + msg->first_regular;
  r->num_headers = num - msg->first_regular;
}

/* ---- outgoing field sections ------------------------------------------- */

void zttp_msg_out_free(zttp_msg_out *o, const zttp_mem *mem) {
  zttp_mem_free(mem, o->fields);
  zttp_mem_free(mem, o->lower);
  o->fields = NULL;
  o->lower = NULL;
  o->cap = 0;
  o->lower_cap = 0;
}

int32_t zttp_msg_out_reserve(zttp_msg_out *o, const zttp_mem *mem, size_t num,
                             size_t bytes) {
  if (num > o->cap) {
    size_t cap = o->cap == 0 ? 32 : o->cap;
    while (cap < num) {
      cap *= 2;
    }
    zttp_header *f = zttp_mem_realloc(mem, o->fields, cap * sizeof(*f));
    if (f == NULL) {
      return ZTTP_ERR_NOMEM;
    }
    o->fields = f;
    o->cap = cap;
  }
  if (bytes > o->lower_cap) {
    size_t cap = o->lower_cap == 0 ? 1024 : o->lower_cap;
    while (cap < bytes) {
      cap *= 2;
    }
    char *lower = zttp_mem_realloc(mem, o->lower, cap);
    if (lower == NULL) {
      return ZTTP_ERR_NOMEM;
    }
    o->lower = lower;
    o->lower_cap = cap;
  }
  return 0;
}

void zttp_msg_out_put(zttp_msg_out *o, size_t *n, const char *name, size_t nlen,
                      const char *value, size_t vlen, uint32_t flags) {
  zttp_header *h = &o->fields[(*n)++];
  h->name = name;
  h->name_len = nlen;
  h->value = value;
  h->value_len = vlen;
  h->flags = flags;
  h->reserved = 0;
}

static int32_t refuse(zttp_msg_built *b, const char *why, size_t at) {
  b->why = why;
  b->at = at;
  return ZTTP_ERR_INVALID_FIELD;
}

/* Validates the caller's regular fields and appends them from entry
 * b->num_fields on, lowercased (RFC 9113 §8.2.1, §8.2.2; RFC 9114 §4.2):
 * no connection-specific field, te only "trailers". Unless |trailers|,
 * content-length goes to b->content_length. |host| (requests) receives a
 * host field instead of the list. */
static int32_t add_fields(zttp_msg_out *o, zttp_msg_built *b,
                          const zttp_mem *mem, const zttp_header *headers,
                          size_t num, zttp_str *host, int trailers) {
  size_t lower_bytes = 0;
  for (size_t i = 0; i < num; i++) {
    const zttp_header *h = &headers[i];
    int upper;
    if (!zttp_msg_name_valid_send(h->name, h->name_len, &upper)) {
      return refuse(b, "invalid name", i);
    }
    if (!zttp_msg_value_valid_send(h->value, h->value_len)) {
      return refuse(b, "invalid value", i);
    }
    if (upper) {
      lower_bytes += h->name_len;
    }
  }
  int32_t rv = zttp_msg_out_reserve(o, mem, b->num_fields + num, lower_bytes);
  if (rv != 0) {
    return rv;
  }
  char *lower = o->lower;
  for (size_t i = 0; i < num; i++) {
    const zttp_header *h = &headers[i];
    const char *name = h->name;
    int upper = 0;
    if (lower_bytes > 0) {
      /* Some name has uppercase letters (the first pass found it). */
      zttp_msg_name_valid_send(h->name, h->name_len, &upper);
    }
    if (upper) {
      for (size_t k = 0; k < h->name_len; k++) {
        char c = h->name[k];
        lower[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
      }
      name = lower;
      lower += h->name_len;
    }
    size_t nl = h->name_len;
    if (zttp_msg_connection_specific(name, nl)) {
      return refuse(b, "connection-specific field", i);
    }
    if (nl == 2 && name[0] == 't' && name[1] == 'e' &&
        !(h->value_len == 8 && memcmp(h->value, "trailers", 8) == 0)) {
      return refuse(b, "te other than trailers", i);
    }
    if (!trailers && nl == 14 && memcmp(name, "content-length", 14) == 0) {
      int64_t cl = zttp_msg_parse_uint(h->value, h->value_len);
      if (cl < 0 || (b->content_length >= 0 && b->content_length != cl)) {
        return refuse(b, "invalid content-length", i);
      }
      b->content_length = cl;
    }
    if (host != NULL && nl == 4 && memcmp(name, "host", 4) == 0) {
      if (host->base != NULL) {
        return refuse(b, "repeated host", i);
      }
      host->base = h->value;
      host->len = h->value_len;
      continue;
    }
    zttp_msg_out_put(o, &b->num_fields, name, nl, h->value, h->value_len,
                     h->flags);
  }
  return 0;
}

static void built_init(zttp_msg_built *b) {
  b->num_fields = 0;
  b->content_length = -1;
  b->connect = 0;
  b->why = NULL;
  b->at = 0;
}

int32_t zttp_msg_out_request(zttp_msg_out *o, zttp_msg_built *b,
                             const zttp_mem *mem, zttp_str method,
                             zttp_str target, const zttp_header *headers,
                             size_t num_headers, zttp_str default_scheme,
                             int peer_connect_protocol) {
  built_init(b);
  int upper;
  if (!zttp_msg_name_valid_send(method.base, method.len, &upper) ||
      !zttp_msg_value_valid_send(target.base, target.len)) {
    return refuse(b, "invalid method or target", 0);
  }
  /* Leading :scheme, :authority and :protocol entries. */
  zttp_str scheme = {NULL, 0};
  zttp_str authority = {NULL, 0};
  zttp_str protocol = {NULL, 0};
  size_t k = 0;
  for (;
       k < num_headers && headers[k].name_len > 0 && headers[k].name[0] == ':';
       k++) {
    zttp_str v = {headers[k].value, headers[k].value_len};
    const char *n = headers[k].name;
    size_t nl = headers[k].name_len;
    if (!zttp_msg_value_valid_send(v.base, v.len)) {
      return refuse(b, "invalid value", k);
    }
    if (nl == 7 && memcmp(n, ":scheme", 7) == 0 && scheme.base == NULL) {
      scheme = v;
    } else if (nl == 10 && memcmp(n, ":authority", 10) == 0 &&
               authority.base == NULL) {
      authority = v;
    } else if (nl == 9 && memcmp(n, ":protocol", 9) == 0 &&
               protocol.base == NULL) {
      protocol = v;
    } else {
      return refuse(b, "pseudo-header not allowed here", k);
    }
  }
  int connect = zttp_msg_is_connect(method);
  if (protocol.base != NULL && (!connect || !peer_connect_protocol)) {
    /* RFC 8441 §4, RFC 9220 §3 */
    return refuse(b,
                  ":protocol needs CONNECT and the peer's "
                  "SETTINGS_ENABLE_CONNECT_PROTOCOL",
                  0);
  }
  int32_t rv = zttp_msg_out_reserve(o, mem, num_headers + 5, 0);
  if (rv != 0) {
    return rv;
  }
  /* Four pseudo-header slots (the usual count), filled below; the regular
   * fields follow them and move only when there are not four. */
  b->num_fields = 4;
  zttp_str host = {NULL, 0};
  if ((rv = add_fields(o, b, mem, headers + k, num_headers - k, &host, 0)) !=
      0) {
    return rv;
  }
  if (authority.base == NULL) {
    authority = connect && protocol.base == NULL ? target : host;
  }
  if (scheme.base == NULL) {
    scheme = default_scheme;
  }
  /* RFC 9113 §8.3.1, §8.5; RFC 9114 §4.3.1, §4.4: CONNECT carries
   * :authority only. */
  if (authority.base == NULL && connect) {
    return refuse(b, "CONNECT needs an authority", 0);
  }
  int with_path = !connect || protocol.base != NULL;
  size_t p = 1 + 2 * (size_t)with_path + (authority.base != NULL) +
             (protocol.base != NULL);
  /* The regular fields start right after the pseudo-headers, which are
   * written in place (a local array copied over compiled to "rep movs"). */
  size_t n = b->num_fields;
  if (p != 4) {
    memmove(o->fields + p, o->fields + 4, (n - 4) * sizeof(*o->fields));
  }
  size_t slot = 0;
  zttp_msg_out_put(o, &slot, ":method", 7, method.base, method.len, 0);
  if (with_path) {
    zttp_msg_out_put(o, &slot, ":scheme", 7, scheme.base, scheme.len, 0);
  }
  if (authority.base != NULL) {
    zttp_msg_out_put(o, &slot, ":authority", 10, authority.base, authority.len,
                     0);
  }
  if (with_path) {
    zttp_msg_out_put(o, &slot, ":path", 5, target.base, target.len, 0);
  }
  if (protocol.base != NULL) {
    zttp_msg_out_put(o, &slot, ":protocol", 9, protocol.base, protocol.len, 0);
  }
  b->num_fields = n - 4 + p;
  b->connect = (uint8_t)connect;
  return 0;
}

int32_t zttp_msg_out_status(zttp_msg_out *o, zttp_msg_built *b,
                            const zttp_mem *mem, uint32_t status,
                            const zttp_header *headers, size_t num_headers) {
  built_init(b);
  int32_t rv = zttp_msg_out_reserve(o, mem, num_headers + 1, 0);
  if (rv != 0) {
    return rv;
  }
  o->status[0] = (char)('0' + status / 100);
  o->status[1] = (char)('0' + status / 10 % 10);
  o->status[2] = (char)('0' + status % 10);
  o->status[3] = 0;
  zttp_msg_out_put(o, &b->num_fields, ":status", 7, o->status, 3, 0);
  return add_fields(o, b, mem, headers, num_headers, NULL, 0);
}

int32_t zttp_msg_out_trailers(zttp_msg_out *o, zttp_msg_built *b,
                              const zttp_mem *mem, const zttp_header *trailers,
                              size_t num_trailers) {
  built_init(b);
  int32_t rv = zttp_msg_out_reserve(o, mem, num_trailers, 0);
  if (rv != 0) {
    return rv;
  }
  return add_fields(o, b, mem, trailers, num_trailers, NULL, 1);
}
