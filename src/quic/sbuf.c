/* SPDX-License-Identifier: MIT */
#include "quic/sbuf.h"

#include <string.h>

/* Makes data[start .. start + need) addressable (|used| bytes live at
 * |start|); the allocation stays under twice the largest |need|. */
static int32_t reserve(uint8_t **data, size_t *start, size_t *cap,
                       const zttp_mem *mem, size_t used, size_t need) {
  if (*start + need <= *cap) {
    return 0;
  }
  /* Sliding to the front costs |used| bytes: only when at least as many
   * were consumed since (amortised O(1) per byte). Otherwise the buffer
   * doubles, which stops once it holds twice the largest |need|. */
  if (need <= *cap && *start >= used) {
    memmove(*data, *data + *start, used);
    *start = 0;
    return 0;
  }
  size_t ncap = *cap == 0 ? 4096 : 2 * *cap;
  while (ncap < need) {
    ncap *= 2;
  }
  uint8_t *d = zttp_mem_malloc(mem, ncap);
  if (d == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  if (used > 0) {
    memcpy(d, *data + *start, used);
  }
  zttp_mem_free(mem, *data);
  *data = d;
  *start = 0;
  *cap = ncap;
  return 0;
}

/* ---- receiving ------------------------------------------------------------
 */

void zttp_quic_recvbuf_init(zttp_quic_recvbuf *rb, size_t max_fragments) {
  memset(rb, 0, sizeof(*rb));
  rb->final_size = ZTTP_QUIC_NO_FINAL_SIZE;
  zttp_ranges_init(&rb->have, max_fragments);
}

void zttp_quic_recvbuf_free(zttp_quic_recvbuf *rb, const zttp_mem *mem) {
  zttp_mem_free(mem, rb->data);
  rb->data = NULL;
  rb->cap = rb->start = 0;
  zttp_ranges_free(&rb->have, mem);
}

/* Empties |s| keeping its array. */
static void ranges_reuse(zttp_ranges *s, size_t max_num) {
  s->num = 0;
  s->max_num = max_num;
}

void zttp_quic_recvbuf_reuse(zttp_quic_recvbuf *rb, const zttp_mem *mem,
                             size_t max_fragments, size_t keep) {
  if (rb->cap > keep) {
    zttp_mem_free(mem, rb->data);
    rb->data = NULL;
    rb->cap = 0;
  }
  rb->start = 0;
  rb->base = 0;
  rb->highest = 0;
  rb->final_size = ZTTP_QUIC_NO_FINAL_SIZE;
  ranges_reuse(&rb->have, max_fragments);
}

int32_t zttp_quic_recvbuf_final_size(zttp_quic_recvbuf *rb, uint64_t size) {
  /* RFC 9000 §4.5: a final size never changes and is never below what was
   * received. */
  if ((rb->final_size != ZTTP_QUIC_NO_FINAL_SIZE && rb->final_size != size) ||
      size < rb->highest) {
    return ZTTP_QUIC_RB_FINAL_SIZE;
  }
  rb->final_size = size;
  return 0;
}

int32_t zttp_quic_recvbuf_write(zttp_quic_recvbuf *rb, const zttp_mem *mem,
                                uint64_t offset, const uint8_t *data,
                                size_t len, int fin, uint64_t max_offset) {
  uint64_t end = offset + len;
  if (end > max_offset) {
    return ZTTP_QUIC_RB_FLOW;
  }
  if (fin) {
    if ((rb->final_size != ZTTP_QUIC_NO_FINAL_SIZE && rb->final_size != end) ||
        end < rb->highest) {
      return ZTTP_QUIC_RB_FINAL_SIZE;
    }
  } else if (end > rb->final_size) {
    return ZTTP_QUIC_RB_FINAL_SIZE;
  }
  if (end > rb->base) {
    if (offset < rb->base) {
      data += rb->base - offset;
      offset = rb->base;
    }
    size_t at = (size_t)(offset - rb->base);
    size_t n = (size_t)(end - offset);
    size_t used = (size_t)(rb->highest > rb->base ? rb->highest - rb->base : 0);
    size_t need = at + n > used ? at + n : used;
    int32_t rv = reserve(&rb->data, &rb->start, &rb->cap, mem, used, need);
    if (rv != 0) {
      return rv;
    }
    rv = zttp_ranges_add(&rb->have, mem, offset, end);
    if (rv != 0) {
      return rv == ZTTP_ERR_BUFFER_FULL ? ZTTP_QUIC_RB_FRAGMENTS : rv;
    }
    memcpy(rb->data + rb->start + at, data, n);
    if (end > rb->highest) {
      rb->highest = end;
    }
  }
  if (fin) {
    rb->final_size = end;
  }
  return 0;
}

size_t zttp_quic_recvbuf_peek(const zttp_quic_recvbuf *rb, const uint8_t **p) {
  uint64_t ready = zttp_ranges_covered(&rb->have, rb->base);
  *p = rb->data != NULL ? rb->data + rb->start : NULL;
  return (size_t)(ready - rb->base);
}

void zttp_quic_recvbuf_consume(zttp_quic_recvbuf *rb, size_t n) {
  rb->base += n;
  rb->start += n;
  zttp_ranges_remove_below(&rb->have, rb->base);
  if (rb->highest <= rb->base) {
    rb->start = 0; /* empty: restart at the front */
  }
}

/* ---- sending --------------------------------------------------------------
 */

void zttp_quic_sendbuf_init(zttp_quic_sendbuf *sb, size_t limit,
                            size_t max_ranges) {
  memset(sb, 0, sizeof(*sb));
  sb->limit = limit;
  zttp_ranges_init(&sb->acked, max_ranges);
  zttp_ranges_init(&sb->lost, max_ranges);
}

void zttp_quic_sendbuf_free(zttp_quic_sendbuf *sb, const zttp_mem *mem) {
  zttp_mem_free(mem, sb->data);
  sb->data = NULL;
  sb->cap = sb->start = 0;
  zttp_ranges_free(&sb->acked, mem);
  zttp_ranges_free(&sb->lost, mem);
}

void zttp_quic_sendbuf_reuse(zttp_quic_sendbuf *sb, const zttp_mem *mem,
                             size_t limit, size_t max_ranges, size_t keep) {
  uint8_t *data = sb->data;
  size_t cap = sb->cap;
  if (cap > keep) {
    zttp_mem_free(mem, data);
    data = NULL;
    cap = 0;
  }
  zttp_ranges acked = sb->acked;
  zttp_ranges lost = sb->lost;
  memset(sb, 0, sizeof(*sb));
  sb->data = data;
  sb->cap = cap;
  sb->limit = limit;
  sb->acked = acked;
  sb->lost = lost;
  ranges_reuse(&sb->acked, max_ranges);
  ranges_reuse(&sb->lost, max_ranges);
}

size_t zttp_quic_sendbuf_room(const zttp_quic_sendbuf *sb) {
  size_t held = (size_t)(sb->written - sb->base);
  return held < sb->limit && !sb->fin ? sb->limit - held : 0;
}

int64_t zttp_quic_sendbuf_write(zttp_quic_sendbuf *sb, const zttp_mem *mem,
                                const uint8_t *data, size_t len, int fin) {
  if (sb->fin) {
    return ZTTP_ERR_INVALID_STATE;
  }
  size_t room = zttp_quic_sendbuf_room(sb);
  size_t n = len < room ? len : room;
  if (n > 0) {
    size_t used = (size_t)(sb->written - sb->base);
    int32_t rv = reserve(&sb->data, &sb->start, &sb->cap, mem, used, used + n);
    if (rv != 0) {
      return rv;
    }
    memcpy(sb->data + sb->start + used, data, n);
    sb->written += n;
  }
  if (fin && n == len) {
    sb->fin = 1;
  }
  return (int64_t)n;
}

static int fin_due(const zttp_quic_sendbuf *sb) {
  return sb->fin && !sb->fin_acked && (!sb->fin_sent || sb->fin_lost);
}

int zttp_quic_sendbuf_next(const zttp_quic_sendbuf *sb, zttp_quic_chunk *c,
                           size_t max_len, uint64_t new_limit) {
  if (!zttp_ranges_empty(&sb->lost)) {
    const zttp_range *r = &sb->lost.r[0];
    uint64_t len = r->end - r->start;
    c->offset = r->start;
    c->len = len < max_len ? (size_t)len : max_len;
    c->data = sb->data + sb->start + (size_t)(r->start - sb->base);
    c->fin = c->offset + c->len == sb->written && fin_due(sb);
    c->retransmit = 1;
    return c->len > 0;
  }
  uint64_t lim = new_limit < sb->written ? new_limit : sb->written;
  if (sb->sent < lim && max_len > 0) {
    uint64_t len = lim - sb->sent;
    c->offset = sb->sent;
    c->len = len < max_len ? (size_t)len : max_len;
    c->data = sb->data + sb->start + (size_t)(sb->sent - sb->base);
    c->fin = c->offset + c->len == sb->written && fin_due(sb);
    c->retransmit = 0;
    return 1;
  }
  if (sb->sent == sb->written && fin_due(sb)) {
    /* A bare FIN (STREAM frame of length 0). */
    c->offset = sb->written;
    c->len = 0;
    c->data = NULL;
    c->fin = 1;
    c->retransmit = sb->fin_sent;
    return 1;
  }
  return 0;
}

void zttp_quic_sendbuf_on_sent(zttp_quic_sendbuf *sb, uint64_t offset,
                               size_t len, int fin) {
  uint64_t end = offset + len;
  if (end > sb->sent) {
    sb->sent = end;
  }
  /* Retransmissions come from the front of the first lost range. */
  if (len > 0 && !zttp_ranges_empty(&sb->lost) &&
      sb->lost.r[0].start == offset) {
    if (end >= sb->lost.r[0].end) {
      zttp_ranges_remove_first(&sb->lost);
    } else {
      sb->lost.r[0].start = end;
    }
  }
  if (fin) {
    sb->fin_sent = 1;
    sb->fin_lost = 0;
  }
}

int32_t zttp_quic_sendbuf_on_acked(zttp_quic_sendbuf *sb, const zttp_mem *mem,
                                   uint64_t offset, size_t len, int fin) {
  uint64_t end = offset + len;
  if (fin) {
    sb->fin_acked = 1;
    sb->fin_lost = 0;
  }
  if (end <= sb->base || len == 0) {
    return 0;
  }
  if (offset < sb->base) {
    offset = sb->base;
  }
  int32_t rv = zttp_ranges_add(&sb->acked, mem, offset, end);
  if (rv != 0) {
    return rv;
  }
  uint64_t nb = zttp_ranges_covered(&sb->acked, sb->base);
  if (nb > sb->base) {
    sb->start += (size_t)(nb - sb->base);
    sb->base = nb;
    zttp_ranges_remove_below(&sb->acked, nb);
    zttp_ranges_remove_below(&sb->lost, nb);
    if (sb->base == sb->written) {
      sb->start = 0;
    }
  }
  return 0;
}

int32_t zttp_quic_sendbuf_on_lost(zttp_quic_sendbuf *sb, const zttp_mem *mem,
                                  uint64_t offset, size_t len, int fin) {
  if (fin && !sb->fin_acked) {
    sb->fin_lost = 1;
  }
  uint64_t end = offset + len;
  if (end > sb->sent) {
    end = sb->sent;
  }
  if (offset < sb->base) {
    offset = sb->base;
  }
  /* Add [offset, end) minus the acknowledged ranges. */
  size_t i = 0;
  while (offset < end) {
    while (i < sb->acked.num && sb->acked.r[i].end <= offset) {
      i++;
    }
    uint64_t stop = end;
    if (i < sb->acked.num && sb->acked.r[i].start < end) {
      if (sb->acked.r[i].start <= offset) {
        offset = sb->acked.r[i].end;
        continue;
      }
      stop = sb->acked.r[i].start;
    }
    int32_t rv = zttp_ranges_add(&sb->lost, mem, offset, stop);
    if (rv != 0) {
      return rv;
    }
    offset = stop;
  }
  return 0;
}
