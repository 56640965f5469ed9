/* Field-value grammars shared by the HTTP/1.1 parser and serializer.
 * SPDX-License-Identifier: MIT */
#include "h1/fields.h"

#include "common/scan.h"
#include "h1/parser.h"

int zttp_h1_ieq(const uint8_t *a, const char *lower, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t c = a[i];
    if (c >= 'A' && c <= 'Z') {
      c = (uint8_t)(c + 32);
    }
    if (c != (uint8_t)lower[i]) {
      return 0;
    }
  }
  return 1;
}

/* Skips "; name=value" transfer-parameters (RFC 9110 §10.1.4) at |*i|,
 * with the whitespace after them. Returns 0 if they are malformed. */
static int skip_parameters(const uint8_t *v, size_t n, size_t *i) {
  size_t k = *i;
  while (k < n && v[k] == ';') {
    k++;
    while (k < n && (zttp_ctype[v[k]] & ZTTP_CT_OWS)) {
      k++;
    }
    size_t s = k;
    while (k < n && (zttp_ctype[v[k]] & ZTTP_CT_TOKEN)) {
      k++;
    }
    while (k < n && (zttp_ctype[v[k]] & ZTTP_CT_OWS)) {
      k++;
    }
    if (k == s || k == n || v[k] != '=') {
      return 0;
    }
    k++;
    while (k < n && (zttp_ctype[v[k]] & ZTTP_CT_OWS)) {
      k++;
    }
    if (k < n && v[k] == '"') {
      for (k++;; k++) {
        if (k == n) {
          return 0;
        }
        if (v[k] == '\\') {
          /* quoted-pair = "\\" ( HTAB / SP / VCHAR / obs-text ) */
          if (k + 1 == n) {
            return 0;
          }
          k++;
          continue;
        }
        if (v[k] == '"') {
          k++;
          break;
        }
      }
    } else {
      s = k;
      while (k < n && (zttp_ctype[v[k]] & ZTTP_CT_TOKEN)) {
        k++;
      }
      if (k == s) {
        return 0;
      }
    }
    while (k < n && (zttp_ctype[v[k]] & ZTTP_CT_OWS)) {
      k++;
    }
  }
  *i = k;
  return 1;
}

/* RFC 9112 §6.1: Transfer-Encoding is a list of codings; chunked must be
 * the last one, appear once and carry no parameters (RFC 9112 §7). */
void zttp_h1_te_parse(zttp_h1_te *te, const uint8_t *v, size_t n) {
  size_t i = 0;
  te->present = 1;
  while (i < n) {
    while (i < n && (v[i] == ',' || (zttp_ctype[v[i]] & ZTTP_CT_OWS))) {
      i++;
    }
    if (i == n) {
      break;
    }
    size_t s = i;
    while (i < n && (zttp_ctype[v[i]] & ZTTP_CT_TOKEN)) {
      i++;
    }
    int chunked = i - s == 7 && zttp_h1_ieq(v + s, "chunked", 7);
    size_t e = i;
    while (i < n && (zttp_ctype[v[i]] & ZTTP_CT_OWS)) {
      i++;
    }
    if (e == s || (chunked && i < n && v[i] == ';') ||
        !skip_parameters(v, n, &i) || (i < n && v[i] != ',')) {
      te->invalid = 1;
      return;
    }
    if (chunked) {
      te->chunked_count++;
    }
    te->chunked_last = (uint8_t)chunked;
  }
}

/* RFC 9110 §7.6.1: Connection is a list of options. */
uint32_t zttp_h1_connection_options(const uint8_t *v, size_t n) {
  uint32_t flags = 0;
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ',' || (zttp_ctype[v[i]] & ZTTP_CT_OWS))) {
      i++;
    }
    size_t s = i;
    while (i < n && v[i] != ',' && !(zttp_ctype[v[i]] & ZTTP_CT_OWS)) {
      i++;
    }
    if (i - s == 5 && zttp_h1_ieq(v + s, "close", 5)) {
      flags |= ZTTP_H1_F_CLOSE;
    } else if (i - s == 10 && zttp_h1_ieq(v + s, "keep-alive", 10)) {
      flags |= ZTTP_H1_F_KEEP_ALIVE;
    } else if (i - s == 7 && zttp_h1_ieq(v + s, "upgrade", 7)) {
      flags |= ZTTP_H1_F_CONN_UPGRADE;
    }
  }
  return flags;
}
