/* SPDX-License-Identifier: MIT */
#include "common/evq.h"

int32_t zttp_evq_grow(zttp_evq *q, const zttp_mem *mem) {
  size_t cap = q->cap == 0 ? 8 : q->cap * 2;
  zttp_evq_rec *recs = zttp_mem_calloc(mem, cap, sizeof(*recs));
  if (recs == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  for (size_t i = 0; i < q->len; i++) {
    recs[i] = q->recs[(q->head + i) & (q->cap - 1)];
  }
  zttp_mem_free(mem, q->recs);
  q->recs = recs;
  q->cap = cap;
  q->head = 0;
  return 0;
}

void zttp_evq_free(zttp_evq *q, const zttp_mem *mem) {
  zttp_mem_free(mem, q->recs);
  zttp_evq_init(q, NULL, 0);
}

int zttp_evq_push(zttp_evq *q, uint32_t kind, uint32_t flags, int64_t stream_id,
                  uint64_t code) {
  if (q->len == q->cap) {
    return -1;
  }
  /* |cap| is a power of two: a mask, not a division. */
  zttp_evq_rec *r = &q->recs[(q->head + q->len) & (q->cap - 1)];
  r->kind = kind;
  r->flags = flags;
  r->stream_id = stream_id;
  r->code = code;
  q->len++;
  return 0;
}

void zttp_evq_purge(zttp_evq *q, int64_t stream_id) {
  size_t kept = 0;
  for (size_t i = 0; i < q->len; i++) {
    zttp_evq_rec r = q->recs[(q->head + i) & (q->cap - 1)];
    if (r.stream_id != stream_id) {
      q->recs[(q->head + kept++) & (q->cap - 1)] = r;
    }
  }
  q->len = kept;
}

int zttp_evq_pop(zttp_evq *q, zttp_event *ev) {
  if (q->len == 0) {
    return 0;
  }
  const zttp_evq_rec *r = &q->recs[q->head];
  q->head = (q->head + 1) & (q->cap - 1);
  q->len--;
  ev->kind = r->kind;
  ev->flags = r->flags;
  ev->stream_id = r->stream_id;
  switch (r->kind) {
  case ZTTP_EVENT_STREAM_RESET:
    ev->u.reset.error_code = r->code;
    break;
  case ZTTP_EVENT_WINDOW_UPDATE:
    ev->u.window.available = r->code;
    break;
  case ZTTP_EVENT_END_MESSAGE:
    ev->u.end.trailers = NULL;
    ev->u.end.num_trailers = 0;
    break;
  case ZTTP_EVENT_PRIORITY:
    ev->u.priority.urgency = (uint32_t)(r->code >> 1);
    ev->u.priority.incremental = (uint32_t)(r->code & 1u);
    break;
  default:
    break;
  }
  return 1;
}
