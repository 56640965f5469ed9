/* Helpers shared by the QUIC codec tests: hex, and a minimal reader of the
 * vector JSON (string values found by a path of keys).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_QUIC_UTIL_H
#define ZTTP_TESTS_QUIC_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decodes lowercase or uppercase hex (spaces skipped) into |out| (room for
 * |cap|) and returns the length; aborts on bad input. */
static inline size_t q_unhex(uint8_t *out, size_t cap, const char *hex) {
  size_t n = 0;
  int half = -1;
  for (const char *c = hex; *c != '\0'; c++) {
    int v;
    if (*c == ' ' || *c == '\n') {
      continue;
    }
    if (*c >= '0' && *c <= '9') {
      v = *c - '0';
    } else if (*c >= 'a' && *c <= 'f') {
      v = *c - 'a' + 10;
    } else if (*c >= 'A' && *c <= 'F') {
      v = *c - 'A' + 10;
    } else {
      abort();
    }
    if (half < 0) {
      half = v;
    } else {
      if (n >= cap) {
        abort();
      }
      out[n++] = (uint8_t)(half << 4 | v);
      half = -1;
    }
  }
  if (half >= 0) {
    abort();
  }
  return n;
}

/* The whole file at |path|, NUL-terminated (malloc'd), or NULL. */
static inline char *q_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return NULL;
  }
  size_t cap = 1 << 16;
  size_t len = 0;
  char *buf = malloc(cap);
  size_t n;
  while (buf != NULL && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len - 1 == 0) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (nb == NULL) {
        free(buf);
      }
      buf = nb;
    }
  }
  fclose(f);
  if (buf != NULL) {
    buf[len] = '\0';
  }
  return buf;
}

/* Finds the keys |k1|, |k2| (may be NULL), |k3| in that order in |json|
 * and decodes the hex string value of the last one into |out|. Returns the
 * length, or (size_t)-1 when not found. Good enough for the vector file,
 * whose keys are unique within their objects and ordered. */
static inline size_t q_json_hex(const char *json, const char *k1,
                                const char *k2, const char *k3, uint8_t *out,
                                size_t cap) {
  const char *keys[3] = {k1, k2, k3};
  const char *p = json;
  char pat[128];
  for (int i = 0; i < 3; i++) {
    if (keys[i] == NULL) {
      continue;
    }
    snprintf(pat, sizeof(pat), "\"%s\":", keys[i]);
    p = strstr(p, pat);
    if (p == NULL) {
      return (size_t)-1;
    }
    p += strlen(pat);
  }
  while (*p == ' ') {
    p++;
  }
  if (*p != '"') {
    return (size_t)-1;
  }
  const char *end = strchr(p + 1, '"');
  if (end == NULL) {
    return (size_t)-1;
  }
  size_t hexlen = (size_t)(end - p - 1);
  char *tmp = malloc(hexlen + 1);
  memcpy(tmp, p + 1, hexlen);
  tmp[hexlen] = '\0';
  size_t n = q_unhex(out, cap, tmp);
  free(tmp);
  return n;
}

#endif
