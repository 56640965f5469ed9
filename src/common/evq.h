/* A ring of pointer-free events, queued behind the event being returned
 * (an END_MESSAGE after a HEADERS with END_STREAM, a STREAM_RESET, ...).
 * Shared by the HTTP/2 engine (storage it grows on demand) and the HTTP/3
 * engine (a fixed array it owns: a full queue is an error there).
 * Internal: never installed.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_EVQ_H
#define ZTTP_COMMON_EVQ_H

#include "zttp/zttp.h"

#include "common/mem.h"

/* One queued event: |code| is the error code of ZTTP_EVENT_STREAM_RESET,
 * the window of ZTTP_EVENT_WINDOW_UPDATE, or urgency << 1 | incremental of
 * ZTTP_EVENT_PRIORITY. */
typedef struct zttp_evq_rec {
  uint32_t kind;
  uint32_t flags;
  int64_t stream_id;
  uint64_t code;
} zttp_evq_rec;

/* |cap| is 0 or a power of two. */
typedef struct zttp_evq {
  zttp_evq_rec *recs;
  size_t cap;
  size_t head;
  size_t len;
} zttp_evq;

/* zttp_evq_init makes |q| an empty queue over |storage| (|cap| records, a
 * power of two, kept by the caller), or over nothing (NULL, 0) for
 * zttp_evq_grow() to allocate. */
static inline void zttp_evq_init(zttp_evq *q, zttp_evq_rec *storage,
                                 size_t cap) {
  q->recs = storage;
  q->cap = cap;
  q->head = 0;
  q->len = 0;
}

static inline int zttp_evq_full(const zttp_evq *q) {
  return q->len == q->cap;
}

/* zttp_evq_clear drops every queued event. */
static inline void zttp_evq_clear(zttp_evq *q) {
  q->len = 0;
}

/* zttp_evq_grow doubles the storage of a queue that zttp_evq_grow()
 * allocated (8 records the first time). Returns 0 or ZTTP_ERR_NOMEM (|q|
 * unchanged). */
int32_t zttp_evq_grow(zttp_evq *q, const zttp_mem *mem);

/* zttp_evq_free releases storage allocated by zttp_evq_grow(). */
void zttp_evq_free(zttp_evq *q, const zttp_mem *mem);

/* zttp_evq_push appends an event: 0, or -1 when |q| is full. */
int zttp_evq_push(zttp_evq *q, uint32_t kind, uint32_t flags, int64_t stream_id,
                  uint64_t code);

/* zttp_evq_purge drops the queued events of |stream_id| (the application
 * reset it: it hears nothing more of it), keeping the others in order. */
void zttp_evq_purge(zttp_evq *q, int64_t stream_id);

/* zttp_evq_pop moves the oldest event into |ev| (kind, flags, stream and
 * the member of ev->u its kind uses): 1, or 0 when |q| is empty. */
int zttp_evq_pop(zttp_evq *q, zttp_event *ev);

#endif
