/* DATAGRAM frames (RFC 9221): the payloads to send and those received, each
 * in a queue of fixed slots allocated once (no allocation per datagram),
 * bounded by zttp_quic_settings.datagram_queue.
 * SPDX-License-Identifier: MIT */
#include "quic/conn_internal.h"

#include <string.h>

#include "common/varint.h"
#include "quic/error.h"

/* Type and a 2-byte Length: the frame bytes beyond the payload we count on
 * (RFC 9221 §4; payloads fit in a datagram, so under 2^14). */
#define DG_FRAME_OVERHEAD 3

static int32_t dgq_init(zttp_quic_conn *qc, qc_dgq *q, size_t slot_size) {
  if (q->slots != NULL) {
    return 0;
  }
  size_t n = qc->s.datagram_queue;
  q->slots = zttp_mem_calloc(qc->mem, n, slot_size);
  q->lens = zttp_mem_calloc(qc->mem, n, sizeof(*q->lens));
  if (q->slots == NULL || q->lens == NULL) {
    zttp_mem_free(qc->mem, q->slots);
    zttp_mem_free(qc->mem, q->lens);
    q->slots = NULL;
    q->lens = NULL;
    return ZTTP_ERR_NOMEM;
  }
  q->slot_size = slot_size;
  q->num_slots = n;
  return 0;
}

static void dgq_free(zttp_quic_conn *qc, qc_dgq *q) {
  zttp_mem_free(qc->mem, q->slots);
  zttp_mem_free(qc->mem, q->lens);
  memset(q, 0, sizeof(*q));
}

static uint8_t *dgq_slot(const qc_dgq *q, size_t i) {
  return q->slots + ((q->head + i) % q->num_slots) * q->slot_size;
}

static void dgq_pop(qc_dgq *q) {
  q->head = (q->head + 1) % q->num_slots;
  q->num--;
}

/* Copies |len| bytes in at the tail; when full, the oldest goes first.
 * Returns 1 when one was dropped. */
static int dgq_push(qc_dgq *q, const uint8_t *data, size_t len) {
  int dropped = 0;
  if (q->num == q->num_slots) {
    dgq_pop(q);
    dropped = 1;
  }
  size_t i = (q->head + q->num) % q->num_slots;
  memcpy(q->slots + i * q->slot_size, data, len);
  q->lens[i] = len;
  q->num++;
  return dropped;
}

void qc_dgram_free(zttp_quic_conn *qc) {
  dgq_free(qc, &qc->dg_tx);
  dgq_free(qc, &qc->dg_rx);
}

int32_t qc_dgram_recv(zttp_quic_conn *qc, const zttp_quic_frame *f,
                      zttp_tstamp now) {
  /* RFC 9221 §3: not advertised, or a frame (type, length and payload)
   * larger than advertised: PROTOCOL_VIOLATION. */
  size_t frame_len = 1 + f->u.datagram.len;
  if (f->type == ZTTP_QUIC_FT_DATAGRAM_LEN) {
    frame_len += zttp_varint_len(f->u.datagram.len);
  }
  if (qc->s.max_datagram_frame_size == 0 ||
      frame_len > qc->s.max_datagram_frame_size) {
    qc_fail(qc, ZTTP_ERR_PROTOCOL, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION, f->type,
            qc->s.max_datagram_frame_size == 0 ? "DATAGRAM not negotiated"
                                               : "DATAGRAM over the limit",
            now);
    return ZTTP_ERR_PROTOCOL;
  }
  /* A packet is at most rxcap bytes, so is a payload. */
  int32_t rv = dgq_init(qc, &qc->dg_rx, qc->rxcap);
  if (rv != 0) {
    qc_fail(qc, rv, ZTTP_QUIC_ERR_INTERNAL_ERROR, f->type, "memory", now);
    return rv;
  }
  if (qc->dg_held) {
    /* The head was handed out; it goes now that the caller made another
     * call (the borrowing rule). */
    dgq_pop(&qc->dg_rx);
    qc->dg_held = 0;
  }
  qc->st.datagrams_recv++;
  if (dgq_push(&qc->dg_rx, f->u.datagram.data, f->u.datagram.len)) {
    qc->st.datagrams_dropped++;
  }
  return 0;
}

int qc_dgram_next(zttp_quic_conn *qc, zttp_quic_event *ev) {
  qc_dgq *q = &qc->dg_rx;
  if (qc->dg_held) {
    dgq_pop(q);
    qc->dg_held = 0;
  }
  if (q->num == 0) {
    return 0;
  }
  ev->kind = ZTTP_QUIC_EV_DATAGRAM;
  ev->data = dgq_slot(q, 0);
  ev->data_len = q->lens[q->head];
  qc->dg_held = 1;
  return 1;
}

/* The largest DATAGRAM payload of a packet: a short header with the
 * longest CID and packet number, the tag, the frame overhead. */
static size_t packet_payload_max(const zttp_quic_conn *qc) {
  size_t mtu = (size_t)qc->s.max_udp_payload_size;
  if (qc->have_peer_tp && qc->peer_tp.max_udp_payload_size < mtu) {
    mtu = (size_t)qc->peer_tp.max_udp_payload_size;
  }
  size_t overhead =
      1 + ZTTP_QUIC_MAX_CID_LEN + 4 + ZTTP_CRYPTO_TAG_LEN + DG_FRAME_OVERHEAD;
  return mtu > overhead ? mtu - overhead : 0;
}

size_t zttp_quic_conn_max_datagram(const zttp_quic_conn *qc) {
  if (!qc->hs_complete || !qc->have_peer_tp ||
      qc->peer_tp.max_datagram_frame_size <= DG_FRAME_OVERHEAD) {
    return 0;
  }
  uint64_t peer = qc->peer_tp.max_datagram_frame_size - DG_FRAME_OVERHEAD;
  size_t fit = packet_payload_max(qc);
  return peer < fit ? (size_t)peer : fit;
}

int32_t zttp_quic_conn_send_datagram(zttp_quic_conn *qc, const uint8_t *data,
                                     size_t len) {
  if (qc->state != QC_OPEN) {
    return ZTTP_ERR_INVALID_STATE;
  }
  size_t max = zttp_quic_conn_max_datagram(qc);
  if (max == 0) {
    return ZTTP_ERR_INVALID_STATE;
  }
  if (len > max) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  int32_t rv = dgq_init(qc, &qc->dg_tx, packet_payload_max(qc));
  if (rv != 0) {
    return rv;
  }
  if (qc->dg_tx.num == qc->dg_tx.num_slots) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  (void)dgq_push(&qc->dg_tx, data, len);
  return 0;
}

size_t qc_dgram_put(zttp_quic_conn *qc, uint8_t *p, size_t room) {
  qc_dgq *q = &qc->dg_tx;
  size_t off = 0;
  while (q->num > 0) {
    size_t len = q->lens[q->head];
    if (len > packet_payload_max(qc)) {
      /* No longer fits any packet (the peer lowered its size): dropped. */
      dgq_pop(q);
      qc->st.datagrams_dropped++;
      continue;
    }
    zttp_quic_frame f;
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_DATAGRAM_LEN;
    f.u.datagram.data = dgq_slot(q, 0);
    f.u.datagram.len = len;
    size_t n = zttp_quic_frame_encode(&f, p + off, room - off);
    if (n == 0) {
      break; /* the next packet */
    }
    off += n;
    dgq_pop(q);
    qc->st.datagrams_sent++;
  }
  return off;
}
