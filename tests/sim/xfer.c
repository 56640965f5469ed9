/* See xfer.h.
 * SPDX-License-Identifier: MIT */
#include "xfer.h"

#include <string.h>

uint8_t xfer1_byte(uint64_t off) {
  return (uint8_t)((off * 131u) ^ (off >> 9));
}

static void server_write(sim *sm, xfer1 *x) {
  zttp_quic_conn *qc = sm->conn[SIM_SERVER];
  uint8_t buf[4096];
  while (x->server_ready && x->sent < x->size) {
    size_t n = sizeof(buf);
    if (x->size - x->sent < n) {
      n = (size_t)(x->size - x->sent);
    }
    for (size_t i = 0; i < n; i++) {
      buf[i] = xfer1_byte(x->sent + i);
    }
    int64_t took = zttp_quic_conn_stream_write(qc, (uint64_t)x->stream_id, buf,
                                               n, x->sent + n == x->size);
    if (took <= 0) {
      return;
    }
    x->sent += (uint64_t)took;
  }
}

void xfer1_read(sim *sm, xfer1 *x) {
  zttp_quic_conn *qc = sm->conn[SIM_CLIENT];
  for (;;) {
    const uint8_t *p;
    int fin;
    int64_t n =
        zttp_quic_conn_stream_peek(qc, (uint64_t)x->stream_id, &p, &fin);
    if (n <= 0) {
      x->fin |= n == 0 && fin;
      return;
    }
    for (int64_t i = 0; i < n; i++) {
      if (p[i] != xfer1_byte(x->received + (uint64_t)i)) {
        x->mismatch = 1;
      }
    }
    x->received += (uint64_t)n;
    x->fin |= fin;
    if (zttp_quic_conn_stream_consume(qc, (uint64_t)x->stream_id, (size_t)n) !=
        0) {
      x->mismatch = 1;
      return;
    }
  }
}

static void on_event(sim *sm, int side, const zttp_quic_event *ev, void *arg) {
  xfer1 *x = arg;
  zttp_quic_conn *qc = sm->conn[side];
  if (ev != NULL) {
    if (ev->kind == ZTTP_QUIC_EV_CLOSED) {
      x->closed[side] = 1;
      x->close_error[side] = ev->error;
      x->close_code[side] = ev->error_code;
    } else if (side == SIM_CLIENT && ev->kind == ZTTP_QUIC_EV_STREAM_READABLE &&
               x->client_reads && (int64_t)ev->stream_id == x->stream_id) {
      xfer1_read(sm, x);
    } else if (side == SIM_SERVER && ev->kind == ZTTP_QUIC_EV_STREAM_READABLE) {
      const uint8_t *p;
      int fin;
      int64_t n = zttp_quic_conn_stream_peek(qc, ev->stream_id, &p, &fin);
      if (n > 0) {
        (void)zttp_quic_conn_stream_consume(qc, ev->stream_id, (size_t)n);
      }
      x->server_ready |= (int64_t)ev->stream_id == x->stream_id;
    }
    return;
  }
  /* Once per round: the applications write and read. */
  if (side == SIM_CLIENT && x->stream_id < 0 &&
      zttp_quic_conn_handshake_complete(qc) && !zttp_quic_conn_is_closing(qc) &&
      x->closed[SIM_CLIENT] == 0) {
    int64_t id = zttp_quic_conn_open_stream(qc, 1);
    if (id >= 0) {
      static const uint8_t req = 'G';
      (void)zttp_quic_conn_stream_write(qc, (uint64_t)id, &req, 1, 1);
      x->stream_id = id;
    }
  }
  if (side == SIM_SERVER && x->server_ready) {
    server_write(sm, x);
  }
  if (side == SIM_CLIENT && x->client_reads && x->stream_id >= 0) {
    xfer1_read(sm, x);
  }
}

void xfer1_init(xfer1 *x, sim *sm, uint64_t size) {
  memset(x, 0, sizeof(*x));
  x->size = size;
  x->client_reads = 1;
  x->stream_id = -1;
  sm->on_event = on_event;
  sm->arg = x;
}

int xfer1_done(sim *sm, void *arg) {
  (void)sm;
  const xfer1 *x = arg;
  return x->fin && x->received == x->size;
}
