/* See qifs.h. SPDX-License-Identifier: MIT */
#include "qifs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int qf_read_file(const char *path, uint8_t **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return -1;
  }
  size_t cap = 65536, n = 0;
  uint8_t *b = malloc(cap + 1);
  size_t k;
  while ((k = fread(b + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) {
      cap *= 2;
      b = realloc(b, cap + 1);
    }
  }
  fclose(f);
  b[n] = 0;
  *data = b;
  *len = n;
  return 0;
}

int qf_qif_load(const char *path, qf_qif *q) {
  uint8_t *data;
  size_t len;
  memset(q, 0, sizeof(*q));
  if (qf_read_file(path, &data, &len) != 0) {
    return -1;
  }
  q->buf = (char *)data;
  size_t cap_lists = 0;
  size_t cap_fields = 0;
  qf_list *cur = NULL;
  char *p = q->buf;
  char *end = q->buf + len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *le = nl != NULL ? nl : end;
    char *next = nl != NULL ? nl + 1 : end;
    if (le > p && le[-1] == '\r') {
      le--;
    }
    if (p < le && *p == '#') {
      p = next;
      continue;
    }
    if (le == p) {
      cur = NULL; /* a blank line ends the list */
      p = next;
      continue;
    }
    if (cur == NULL) {
      if (q->num == cap_lists) {
        cap_lists = cap_lists ? cap_lists * 2 : 64;
        q->lists = realloc(q->lists, cap_lists * sizeof(*q->lists));
      }
      cur = &q->lists[q->num++];
      memset(cur, 0, sizeof(*cur));
      cap_fields = 0;
    }
    if (cur->num == cap_fields) {
      cap_fields = cap_fields ? cap_fields * 2 : 16;
      cur->fields = realloc(cur->fields, cap_fields * sizeof(zttp_header));
    }
    zttp_header *h = &cur->fields[cur->num++];
    memset(h, 0, sizeof(*h));
    char *tab = memchr(p, '\t', (size_t)(le - p));
    h->name = p;
    if (tab == NULL) {
      h->name_len = (size_t)(le - p);
      h->value = "";
    } else {
      h->name_len = (size_t)(tab - p);
      h->value = tab + 1;
      h->value_len = (size_t)(le - tab - 1);
    }
    p = next;
  }
  return 0;
}

void qf_qif_free(qf_qif *q) {
  for (size_t i = 0; i < q->num; i++) {
    free(q->lists[i].fields);
  }
  free(q->lists);
  free(q->buf);
  memset(q, 0, sizeof(*q));
}

int qf_encoded_load(const char *path, qf_encoded *e) {
  size_t len;
  memset(e, 0, sizeof(*e));
  if (qf_read_file(path, &e->buf, &len) != 0) {
    return -1;
  }
  size_t cap = 0;
  size_t off = 0;
  while (off < len) {
    if (len - off < 12) {
      return -1;
    }
    uint64_t sid = 0;
    uint32_t n = 0;
    for (int i = 0; i < 8; i++) {
      sid = sid << 8 | e->buf[off + i];
    }
    for (int i = 8; i < 12; i++) {
      n = n << 8 | e->buf[off + i];
    }
    off += 12;
    if (n > len - off) {
      return -1;
    }
    if (e->num == cap) {
      cap = cap ? cap * 2 : 64;
      e->recs = realloc(e->recs, cap * sizeof(*e->recs));
    }
    e->recs[e->num].stream = sid;
    e->recs[e->num].data = e->buf + off;
    e->recs[e->num].len = n;
    e->num++;
    off += n;
  }
  return 0;
}

void qf_encoded_free(qf_encoded *e) {
  free(e->recs);
  free(e->buf);
  memset(e, 0, sizeof(*e));
}

void qf_results_add(qf_results *r, uint64_t stream, const zttp_header *f,
                    size_t n) {
  if (r->num == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 64;
    r->v = realloc(r->v, r->cap * sizeof(*r->v));
  }
  qf_decoded *d = &r->v[r->num++];
  size_t total = 1;
  for (size_t i = 0; i < n; i++) {
    total += f[i].name_len + f[i].value_len;
  }
  d->stream = stream;
  d->bytes = malloc(total);
  d->list.num = n;
  d->list.fields = malloc((n ? n : 1) * sizeof(zttp_header));
  char *p = d->bytes;
  for (size_t i = 0; i < n; i++) {
    zttp_header *h = &d->list.fields[i];
    *h = f[i];
    if (f[i].name_len) {
      memcpy(p, f[i].name, f[i].name_len);
    }
    h->name = p;
    p += f[i].name_len;
    if (f[i].value_len) {
      memcpy(p, f[i].value, f[i].value_len);
    }
    h->value = p;
    p += f[i].value_len;
  }
}

void qf_results_free(qf_results *r) {
  for (size_t i = 0; i < r->num; i++) {
    free(r->v[i].bytes);
    free(r->v[i].list.fields);
  }
  free(r->v);
  memset(r, 0, sizeof(*r));
}

static int by_stream(const void *a, const void *b) {
  const qf_decoded *x = a, *y = b;
  return x->stream < y->stream ? -1 : x->stream > y->stream;
}

int qf_results_check(qf_results *r, const qf_qif *q, char *msg, size_t len) {
  qsort(r->v, r->num, sizeof(*r->v), by_stream);
  if (r->num != q->num) {
    snprintf(msg, len, "%zu lists decoded, %zu expected", r->num, q->num);
    return -1;
  }
  for (size_t i = 0; i < r->num; i++) {
    const qf_list *a = &r->v[i].list, *b = &q->lists[i];
    if (a->num != b->num) {
      snprintf(msg, len, "list %zu (stream %llu): %zu fields, %zu expected", i,
               (unsigned long long)r->v[i].stream, a->num, b->num);
      return -1;
    }
    for (size_t k = 0; k < a->num; k++) {
      const zttp_header *x = &a->fields[k], *y = &b->fields[k];
      if (x->name_len != y->name_len || x->value_len != y->value_len ||
          memcmp(x->name, y->name, x->name_len) != 0 ||
          memcmp(x->value, y->value, x->value_len) != 0) {
        snprintf(msg, len,
                 "list %zu field %zu: [%.*s: %.*s] expected [%.*s: %.*s]", i, k,
                 (int)x->name_len, x->name, (int)x->value_len, x->value,
                 (int)y->name_len, y->name, (int)y->value_len, y->value);
        return -1;
      }
    }
  }
  return 0;
}

/* drain pulls the decoder stream into |ds|. */
static void drain(zttp_qpack_decoder *d, uint8_t *ds, size_t *ds_len) {
  const uint8_t *p;
  size_t n = zttp_qpack_decoder_stream_pending(d, &p);
  if (ds != NULL && *ds_len + n <= (1u << 20)) {
    memcpy(ds + *ds_len, p, n);
    *ds_len += n;
  }
  zttp_qpack_decoder_stream_consume(d, n);
}

/* feed_enc feeds encoder-stream bytes, then decodes what became ready. */
static int32_t feed_enc(zttp_qpack_decoder *d, const uint8_t *p, size_t n,
                        zttp_qpack_fields *out, qf_results *r, uint8_t *ds,
                        size_t *ds_len) {
  int32_t rv = zttp_qpack_decoder_receive_encoder_stream(d, p, n);
  if (rv < 0) {
    return rv;
  }
  for (;;) {
    uint64_t sid;
    rv = zttp_qpack_decoder_next_ready(d, out, &sid);
    if (rv == ZTTP_ERR_BUFFER_FULL) {
      drain(d, ds, ds_len);
      continue;
    }
    if (rv <= 0) {
      return rv;
    }
    qf_results_add(r, sid, out->fields, out->num_fields);
  }
}

int32_t qf_decode_records(zttp_qpack_decoder *d, const qf_record *recs,
                          size_t num, long split, qf_results *r,
                          uint8_t *dstream, size_t *dstream_len) {
  zttp_qpack_fields out;
  memset(&out, 0, sizeof(out));
  int32_t rv = 0;
  size_t enc_off = 0; /* encoder-stream bytes before this record */
  size_t ds_len0 = 0;
  if (dstream_len == NULL) {
    dstream_len = &ds_len0;
  }
  for (size_t i = 0; i < num && rv >= 0; i++) {
    const qf_record *rc = &recs[i];
    if (rc->stream == 0) {
      if (split == QF_BYTES) {
        for (size_t k = 0; k < rc->len && rv >= 0; k++) {
          rv = feed_enc(d, rc->data + k, 1, &out, r, dstream, dstream_len);
        }
      } else if (split >= 0 && (size_t)split > enc_off &&
                 (size_t)split < enc_off + rc->len) {
        size_t k = (size_t)split - enc_off;
        rv = feed_enc(d, rc->data, k, &out, r, dstream, dstream_len);
        if (rv >= 0) {
          rv = feed_enc(d, rc->data + k, rc->len - k, &out, r, dstream,
                        dstream_len);
        }
      } else {
        rv = feed_enc(d, rc->data, rc->len, &out, r, dstream, dstream_len);
      }
      enc_off += rc->len;
    } else {
      for (;;) {
        rv = zttp_qpack_decode(d, &out, rc->stream, rc->data, rc->len);
        if (rv == ZTTP_ERR_BUFFER_FULL) {
          drain(d, dstream, dstream_len);
          continue;
        }
        break;
      }
      if (rv == 0) {
        qf_results_add(r, rc->stream, out.fields, out.num_fields);
      }
    }
    if (rv >= 0) {
      drain(d, dstream, dstream_len);
    }
  }
  zttp_qpack_fields_free(&out, d->table.mem);
  return rv < 0 ? rv : 0;
}

int qf_parse_name(const char *file, char *qif, size_t qif_len, unsigned long *t,
                  unsigned long *b, unsigned long *a) {
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  const char *o = strstr(base, ".out.");
  if (o == NULL || (size_t)(o - base) + 1 > qif_len) {
    return -1;
  }
  memcpy(qif, base, (size_t)(o - base));
  qif[o - base] = 0;
  if (sscanf(o + 5, "%lu.%lu.%lu", t, b, a) != 3) {
    return -1;
  }
  return 0;
}
