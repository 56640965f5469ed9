/* SPDX-License-Identifier: MIT */
#include "common/ranges.h"

#include <string.h>

void zttp_ranges_free(zttp_ranges *s, const zttp_mem *mem) {
  zttp_mem_free(mem, s->r);
  s->r = NULL;
  s->num = s->cap = 0;
}

/* The index of the first range whose end >= |x| (it may contain x, touch
 * it, or lie above it), or num. */
static size_t lower(const zttp_ranges *s, uint64_t x) {
  size_t lo = 0;
  size_t hi = s->num;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->r[mid].end < x) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

int32_t zttp_ranges_add(zttp_ranges *s, const zttp_mem *mem, uint64_t start,
                        uint64_t end) {
  /* Ranges [i, j) overlap or touch [start, end). */
  size_t i = lower(s, start);
  size_t j = i;
  while (j < s->num && s->r[j].start <= end) {
    j++;
  }
  if (i == j) {
    /* A new range at i. */
    if (s->num == s->max_num) {
      return ZTTP_ERR_BUFFER_FULL;
    }
    if (s->num == s->cap) {
      size_t cap = s->cap == 0 ? 8 : s->cap * 2;
      if (cap > s->max_num) {
        cap = s->max_num;
      }
      zttp_range *r = zttp_mem_realloc(mem, s->r, cap * sizeof(*r));
      if (r == NULL) {
        return ZTTP_ERR_NOMEM;
      }
      s->r = r;
      s->cap = cap;
    }
    memmove(s->r + i + 1, s->r + i, (s->num - i) * sizeof(*s->r));
    s->r[i].start = start;
    s->r[i].end = end;
    s->num++;
    return 0;
  }
  /* Merge [i, j) and the new range into i. */
  if (s->r[i].start < start) {
    start = s->r[i].start;
  }
  if (s->r[j - 1].end > end) {
    end = s->r[j - 1].end;
  }
  s->r[i].start = start;
  s->r[i].end = end;
  memmove(s->r + i + 1, s->r + j, (s->num - j) * sizeof(*s->r));
  s->num -= j - i - 1;
  return 0;
}

void zttp_ranges_remove_below(zttp_ranges *s, uint64_t x) {
  size_t i = 0;
  while (i < s->num && s->r[i].end <= x) {
    i++;
  }
  if (i > 0) {
    memmove(s->r, s->r + i, (s->num - i) * sizeof(*s->r));
    s->num -= i;
  }
  if (s->num > 0 && s->r[0].start < x) {
    s->r[0].start = x;
  }
}

void zttp_ranges_remove_first(zttp_ranges *s) {
  if (s->num > 0) {
    memmove(s->r, s->r + 1, (s->num - 1) * sizeof(*s->r));
    s->num--;
  }
}

int zttp_ranges_contains(const zttp_ranges *s, uint64_t x) {
  size_t i = lower(s, x + 1);
  return i < s->num && s->r[i].start <= x && x < s->r[i].end;
}

uint64_t zttp_ranges_covered(const zttp_ranges *s, uint64_t from) {
  size_t i = lower(s, from + 1);
  if (i < s->num && s->r[i].start <= from && from < s->r[i].end) {
    return s->r[i].end;
  }
  return from;
}
