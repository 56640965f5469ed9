/* SPDX-License-Identifier: MIT */
#include "h1/writer.h"

#include <string.h>

#include "common/scan.h"
#include "h1/fields.h"
#include "h1/parser.h"

int zttp_h1_token_valid(const char *s, size_t len) {
  if (len == 0) {
    return 0;
  }
  for (size_t i = 0; i < len; i++) {
    if (!(zttp_ctype[(uint8_t)s[i]] & ZTTP_CT_TOKEN)) {
      return 0;
    }
  }
  return 1;
}

int zttp_h1_target_valid(const char *s, size_t len) {
  const uint8_t *p = (const uint8_t *)s;
  return len > 0 && zttp_scan_target(p, p + len) == p + len;
}

int zttp_h1_text_valid(const char *s, size_t len) {
  const uint8_t *p = (const uint8_t *)s;
  return zttp_scan_value(p, p + len) == p + len;
}

static int name_is(const zttp_header *f, const char *lower) {
  size_t n = strlen(lower);
  return f->name_len == n && zttp_h1_ieq((const uint8_t *)f->name, lower, n);
}

int32_t zttp_h1_check_fields(zttp_h1_fields_info *info, const char **why,
                             const zttp_header *fields, size_t n,
                             int trailers) {
  zttp_h1_te te;
  memset(info, 0, sizeof(*info));
  memset(&te, 0, sizeof(te));
  for (size_t i = 0; i < n; i++) {
    const zttp_header *f = &fields[i];
    const uint8_t *v = (const uint8_t *)f->value;
    if (!zttp_h1_token_valid(f->name, f->name_len)) {
      *why = "field name is not a token";
      return ZTTP_ERR_INVALID_FIELD;
    }
    if (!zttp_h1_text_valid(f->value, f->value_len)) {
      *why = "field value holds a control character";
      return ZTTP_ERR_INVALID_FIELD;
    }
    /* RFC 9110 §5.5: a receiver strips it, so the value would change. */
    if (f->value_len != 0 &&
        ((zttp_ctype[v[0]] & ZTTP_CT_OWS) ||
         (zttp_ctype[v[f->value_len - 1]] & ZTTP_CT_OWS))) {
      *why = "field value starts or ends with whitespace";
      return ZTTP_ERR_INVALID_FIELD;
    }
    if (name_is(f, "content-length")) {
      uint64_t val = 0;
      if (f->value_len == 0 || f->value_len > 18) {
        *why = "Content-Length is not 1*DIGIT";
        return ZTTP_ERR_INVALID_FIELD;
      }
      for (size_t k = 0; k < f->value_len; k++) {
        if (!(zttp_ctype[v[k]] & ZTTP_CT_DIGIT)) {
          *why = "Content-Length is not 1*DIGIT";
          return ZTTP_ERR_INVALID_FIELD;
        }
        val = val * 10 + (uint64_t)(v[k] - '0');
      }
      if (info->has_cl && info->content_length != val) {
        *why = "differing Content-Length values";
        return ZTTP_ERR_INVALID_FIELD;
      }
      info->has_cl = 1;
      info->content_length = val;
    } else if (name_is(f, "transfer-encoding")) {
      zttp_h1_te_parse(&te, v, f->value_len);
    } else if (name_is(f, "connection")) {
      info->has_connection = 1;
      info->conn_options |= zttp_h1_connection_options(v, f->value_len);
    } else if (name_is(f, "host")) {
      info->num_host++;
    } else if (name_is(f, "upgrade")) {
      info->has_upgrade = 1;
    }
  }
  info->has_te = te.present;
  if (te.present && !zttp_h1_te_chunked(&te)) {
    /* Only chunked framing is ever sent: a body delimited by the close
     * would lose the connection's persistence silently. */
    *why = "Transfer-Encoding must end in one chunked, without parameters";
    return ZTTP_ERR_INVALID_FIELD;
  }
  if (info->has_cl && info->has_te) {
    *why = "both Content-Length and Transfer-Encoding";
    return ZTTP_ERR_INVALID_FIELD;
  }
  if (trailers && (info->has_cl || info->has_te || info->num_host != 0 ||
                   info->has_connection)) {
    *why = "framing or routing field in trailers";
    return ZTTP_ERR_INVALID_FIELD;
  }
  return 0;
}

const char *zttp_h1_reason(uint32_t status) {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 102:
    return "Processing";
  case 103:
    return "Early Hints";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 203:
    return "Non-Authoritative Information";
  case 204:
    return "No Content";
  case 205:
    return "Reset Content";
  case 206:
    return "Partial Content";
  case 300:
    return "Multiple Choices";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 411:
    return "Length Required";
  case 412:
    return "Precondition Failed";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 416:
    return "Range Not Satisfiable";
  case 417:
    return "Expectation Failed";
  case 421:
    return "Misdirected Request";
  case 422:
    return "Unprocessable Content";
  case 426:
    return "Upgrade Required";
  case 428:
    return "Precondition Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "";
  }
}

int32_t zttp_h1_write_head(zttp_buf *out, const zttp_mem *mem,
                           const zttp_str *start_line, size_t num_parts,
                           const zttp_header *fields, size_t n,
                           const zttp_h1_extra *extra) {
  size_t size = 2 + 2;
  for (size_t i = 0; i < num_parts; i++) {
    size += start_line[i].len;
  }
  for (size_t i = 0; i < n; i++) {
    size += fields[i].name_len + fields[i].value_len + 4;
  }
  for (size_t i = 0; i < extra->num; i++) {
    size += strlen(extra->lines[i]) + 2;
  }
  if (extra->tail != NULL) {
    size += strlen(extra->tail);
  }
  int32_t rv = zttp_buf_reserve(out, mem, size);
  if (rv != 0) {
    return rv;
  }
  for (size_t i = 0; i < num_parts; i++) {
    zttp_buf_put(out, start_line[i].base, start_line[i].len);
  }
  zttp_buf_put(out, "\r\n", 2);
  for (size_t i = 0; i < n; i++) {
    zttp_buf_put(out, fields[i].name, fields[i].name_len);
    zttp_buf_put(out, ": ", 2);
    zttp_buf_put(out, fields[i].value, fields[i].value_len);
    zttp_buf_put(out, "\r\n", 2);
  }
  for (size_t i = 0; i < extra->num; i++) {
    zttp_buf_put(out, extra->lines[i], strlen(extra->lines[i]));
    zttp_buf_put(out, "\r\n", 2);
  }
  zttp_buf_put(out, "\r\n", 2);
  if (extra->tail != NULL) {
    zttp_buf_put(out, extra->tail, strlen(extra->tail));
  }
  return 0;
}

int32_t zttp_h1_write_status(zttp_buf *out, const zttp_mem *mem,
                             uint32_t status, zttp_str reason,
                             const zttp_header *fields, size_t n,
                             const zttp_h1_extra *extra) {
  if (reason.base == NULL) {
    reason.base = zttp_h1_reason(status);
    reason.len = strlen(reason.base);
  }
  char code[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                  (char)('0' + status % 10), ' '};
  const zttp_str line[] = {{"HTTP/1.1 ", 9}, {code, 4}, reason};
  return zttp_h1_write_head(out, mem, line, 3, fields, n, extra);
}

size_t zttp_h1_chunk_overhead(size_t len) {
  size_t digits = 1;
  while (len >>= 4) {
    digits++;
  }
  return digits + 4;
}

void zttp_h1_write_chunk(zttp_buf *out, const uint8_t *data, size_t len) {
  static const char hex[] = "0123456789abcdef";
  char tmp[2 * sizeof(size_t) + 2];
  size_t i = sizeof(tmp) - 2;
  tmp[sizeof(tmp) - 2] = '\r';
  tmp[sizeof(tmp) - 1] = '\n';
  size_t v = len;
  do {
    tmp[--i] = hex[v & 15];
    v >>= 4;
  } while (v != 0);
  zttp_buf_put(out, tmp + i, sizeof(tmp) - i);
  zttp_buf_put(out, data, len);
  zttp_buf_put(out, "\r\n", 2);
}

int32_t zttp_h1_write_last_chunk(zttp_buf *out, const zttp_mem *mem,
                                 const zttp_header *trailers, size_t n) {
  static const zttp_str last = {"0", 1};
  static const zttp_h1_extra none = {{NULL, NULL}, 0, NULL};
  return zttp_h1_write_head(out, mem, &last, 1, trailers, n, &none);
}
