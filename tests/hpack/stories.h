/* The HPACK vectors in the line format of tests/hpack/stories.py (RFC 7541
 * Appendix C and the hpack-test-case stories), loaded for the tests and the
 * benchmark. Plain malloc; strings are also NUL-terminated.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_HPACK_STORIES_H
#define ZTTP_TESTS_HPACK_STORIES_H

#include <stddef.h>
#include <stdint.h>

#include "zttp/zttp.h"

typedef struct hs_case {
  char *name;
  int64_t table_size; /* SETTINGS_HEADER_TABLE_SIZE before it, or -1 */
  uint8_t *wire;      /* NULL in raw-data stories */
  size_t wire_len;
  zttp_header *headers;
  size_t num_headers;
  zttp_header *table; /* dynamic table after it, newest first (Appendix C) */
  int64_t num_table;  /* -1: not given */
  int64_t table_size_after;
} hs_case;

typedef struct hs_story {
  char *name; /* "nghttp2/story_00", "rfc7541/C.3" */
  hs_case *cases;
  size_t num_cases;
  size_t max_table_size;
} hs_story;

typedef struct hs_int {
  uint64_t value;
  unsigned prefix;
  uint8_t wire[16];
  size_t wire_len;
} hs_int;

typedef struct hs_file {
  hs_int *ints;
  size_t num_ints;
  hs_story *stories;
  size_t num_stories;
} hs_file;

/* hs_load reads |path|; returns 0, or -1 (with a message on stderr). */
int hs_load(hs_file *f, const char *path);
void hs_free(hs_file *f);
/* hs_find returns the story named |name| or NULL. */
const hs_story *hs_find(const hs_file *f, const char *name);

#endif
