/* SPDX-License-Identifier: MIT */
#define _POSIX_C_SOURCE 200809L
#include "stories.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
  char *p; /* current line, NUL-terminated */
  char *next;
  size_t line;
  const char *path;
} reader;

static int next_line(reader *r) {
  if (r->next == NULL || *r->next == '\0') {
    return 0;
  }
  r->p = r->next;
  char *nl = strchr(r->p, '\n');
  if (nl != NULL) {
    *nl = '\0';
    r->next = nl + 1;
  } else {
    r->next = NULL;
  }
  r->line++;
  return 1;
}

static char *token(reader *r) {
  while (*r->p == ' ') {
    r->p++;
  }
  if (*r->p == '\0') {
    return NULL;
  }
  char *t = r->p;
  while (*r->p != ' ' && *r->p != '\0') {
    r->p++;
  }
  if (*r->p == ' ') {
    *r->p++ = '\0';
  }
  return t;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

/* Decodes hex ("-" is empty) into a malloc'd NUL-terminated buffer. */
static uint8_t *unhex(const char *t, size_t *len) {
  size_t n = strcmp(t, "-") == 0 ? 0 : strlen(t);
  if (n % 2 != 0) {
    return NULL;
  }
  uint8_t *b = malloc(n / 2 + 1);
  if (b == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval(t[2 * i]);
    int lo = hexval(t[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(b);
      return NULL;
    }
    b[i] = (uint8_t)(hi << 4 | lo);
  }
  b[n / 2] = 0;
  *len = n / 2;
  return b;
}

static int bad(const reader *r, const char *what) {
  fprintf(stderr, "%s:%zu: %s\n", r->path, r->line, what);
  return -1;
}

static int read_field(reader *r, const char *tag, zttp_header *h) {
  if (!next_line(r)) {
    return bad(r, "truncated");
  }
  char *t = token(r);
  char *n = token(r);
  char *v = token(r);
  if (t == NULL || strcmp(t, tag) != 0 || n == NULL || v == NULL) {
    return bad(r, "expected a field");
  }
  memset(h, 0, sizeof(*h));
  h->name = (const char *)unhex(n, &h->name_len);
  h->value = (const char *)unhex(v, &h->value_len);
  if (h->name == NULL || h->value == NULL) {
    return bad(r, "bad hex");
  }
  return 0;
}

static int read_case(reader *r, hs_case *c) {
  if (!next_line(r)) {
    return bad(r, "truncated");
  }
  char *t[7];
  for (int i = 0; i < 7; i++) {
    t[i] = token(r);
    if (t[i] == NULL) {
      return bad(r, "short case line");
    }
  }
  if (strcmp(t[0], "case") != 0) {
    return bad(r, "expected a case");
  }
  c->name = strdup(t[1]);
  c->table_size = strtoll(t[2], NULL, 10);
  if (strcmp(t[3], "-") != 0) {
    c->wire = unhex(t[3], &c->wire_len);
    if (c->wire == NULL) {
      return bad(r, "bad wire");
    }
  }
  c->num_headers = strtoull(t[4], NULL, 10);
  c->num_table = strtoll(t[5], NULL, 10);
  c->table_size_after = strtoll(t[6], NULL, 10);
  c->headers = calloc(c->num_headers + 1, sizeof(zttp_header));
  size_t nt = c->num_table > 0 ? (size_t)c->num_table : 0;
  c->table = calloc(nt + 1, sizeof(zttp_header));
  if (c->name == NULL || c->headers == NULL || c->table == NULL) {
    return bad(r, "out of memory");
  }
  for (size_t i = 0; i < c->num_headers; i++) {
    if (read_field(r, "h", &c->headers[i]) != 0) {
      return -1;
    }
  }
  for (size_t i = 0; i < nt; i++) {
    if (read_field(r, "t", &c->table[i]) != 0) {
      return -1;
    }
  }
  return 0;
}

int hs_load(hs_file *f, const char *path) {
  memset(f, 0, sizeof(*f));
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) {
    perror(path);
    return -1;
  }
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *text = malloc((size_t)size + 1);
  if (text == NULL || fread(text, 1, (size_t)size, fp) != (size_t)size) {
    fclose(fp);
    free(text);
    return -1;
  }
  fclose(fp);
  text[size] = '\0';

  reader r = {NULL, text, 0, path};
  size_t cap_ints = 0;
  size_t cap_stories = 0;
  int rv = 0;
  while (rv == 0 && next_line(&r)) {
    char *t = token(&r);
    if (t == NULL) {
      continue;
    }
    if (strcmp(t, "int") == 0) {
      if (f->num_ints == cap_ints) {
        cap_ints = cap_ints ? cap_ints * 2 : 8;
        f->ints = realloc(f->ints, cap_ints * sizeof(*f->ints));
      }
      hs_int *x = &f->ints[f->num_ints++];
      char *v = token(&r);
      char *pb = token(&r);
      char *w = token(&r);
      size_t n = 0;
      uint8_t *b = w != NULL ? unhex(w, &n) : NULL;
      if (v == NULL || pb == NULL || b == NULL || n > sizeof(x->wire)) {
        free(b);
        rv = bad(&r, "bad int line");
        break;
      }
      x->value = strtoull(v, NULL, 10);
      x->prefix = (unsigned)strtoul(pb, NULL, 10);
      memcpy(x->wire, b, n);
      x->wire_len = n;
      free(b);
    } else if (strcmp(t, "story") == 0) {
      if (f->num_stories == cap_stories) {
        cap_stories = cap_stories ? cap_stories * 2 : 64;
        f->stories = realloc(f->stories, cap_stories * sizeof(*f->stories));
      }
      hs_story *s = &f->stories[f->num_stories++];
      memset(s, 0, sizeof(*s));
      char *name = token(&r);
      char *nc = token(&r);
      char *mts = token(&r);
      if (name == NULL || nc == NULL || mts == NULL) {
        rv = bad(&r, "bad story line");
        break;
      }
      s->name = strdup(name);
      s->num_cases = strtoull(nc, NULL, 10);
      s->max_table_size = strtoull(mts, NULL, 10);
      s->cases = calloc(s->num_cases, sizeof(hs_case));
      for (size_t i = 0; rv == 0 && i < s->num_cases; i++) {
        rv = read_case(&r, &s->cases[i]);
      }
    } else {
      rv = bad(&r, "unknown line");
    }
  }
  free(text);
  if (rv != 0) {
    hs_free(f);
  }
  return rv;
}

static void free_fields(zttp_header *h, size_t n) {
  if (h == NULL) {
    return;
  }
  for (size_t i = 0; i < n; i++) {
    free((void *)(uintptr_t)h[i].name);
    free((void *)(uintptr_t)h[i].value);
  }
  free(h);
}

void hs_free(hs_file *f) {
  for (size_t i = 0; i < f->num_stories; i++) {
    hs_story *s = &f->stories[i];
    for (size_t j = 0; j < s->num_cases; j++) {
      hs_case *c = &s->cases[j];
      free(c->name);
      free(c->wire);
      free_fields(c->headers, c->num_headers);
      free_fields(c->table, c->num_table > 0 ? (size_t)c->num_table : 0);
    }
    free(s->cases);
    free(s->name);
  }
  free(f->stories);
  free(f->ints);
  memset(f, 0, sizeof(*f));
}

const hs_story *hs_find(const hs_file *f, const char *name) {
  for (size_t i = 0; i < f->num_stories; i++) {
    if (strcmp(f->stories[i].name, name) == 0) {
      return &f->stories[i];
    }
  }
  return NULL;
}
