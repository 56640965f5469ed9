/* The HTTP/3 pump (pump.h).
 * SPDX-License-Identifier: MIT */
#include "pump.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h" /* zttp_config_set_tls_backend (test-only) */

#define DG_BUF 65536

int32_t p_init(pump *p, int real_tls, void (*cfg_fn)(zttp_config *, int),
               const zttp_allocator *alloc) {
  memset(p, 0, sizeof(*p));
  p->now = 1000000000ull;
  p->rng = 0x9e3779b97f4a7c15ull;
  p->auto_consume = 1;
  p->record[0] = p->record[1] = 1;
  h_rec_init(&p->rec[0]);
  h_rec_init(&p->rec[1]);
  for (int side = 0; side < 2; side++) {
    int32_t rv = zttp_config_new(&p->cfg[side], alloc);
    if (rv != 0) {
      return rv;
    }
    zttp_config *cfg = p->cfg[side];
    if (!real_tls) {
      zttp_config_set_tls_backend(cfg, ZTTP_TLS_NULL);
      if (side == P_CLIENT) {
        zttp_config_set_tls_insecure_no_verify(cfg, 1);
      }
    } else if (side == P_SERVER) {
      rv = zttp_config_set_tls_cert_key(cfg, ZTTP_TEST_PKI "/server.pem",
                                        ZTTP_TEST_PKI "/server.key");
      if (rv != 0) {
        return rv;
      }
    } else {
      if ((rv = zttp_config_set_tls_ca(cfg, ZTTP_TEST_PKI "/ca.pem", NULL)) !=
              0 ||
          (rv = zttp_config_set_server_name(cfg, "localhost", 9)) != 0) {
        return rv;
      }
    }
    if (cfg_fn != NULL) {
      cfg_fn(cfg, side);
    }
  }
  int32_t rv = zttp_conn_new(&p->conn[P_SERVER], p->cfg[P_SERVER], ZTTP_SERVER,
                             ZTTP_HTTP3);
  if (rv != 0) {
    return rv;
  }
  return zttp_conn_new(&p->conn[P_CLIENT], p->cfg[P_CLIENT], ZTTP_CLIENT,
                       ZTTP_HTTP3);
}

void p_free(pump *p) {
  for (int i = 0; i < 2; i++) {
    zttp_conn_free(p->conn[i]);
    zttp_config_free(p->cfg[i]);
    h_rec_free(&p->rec[i]);
    p->conn[i] = NULL;
    p->cfg[i] = NULL;
  }
}

void p_body_start(pump *p, int side, int64_t stream, uint64_t total,
                  int trailers) {
  for (size_t i = 0; i < P_MAX_BODIES; i++) {
    if (!p->bodies[i].active) {
      p->bodies[i] = (p_body){side, stream, total, 0, trailers, 1};
      return;
    }
  }
  fail_msg("too many bodies");
}

const char *p_text(pump *p, int side) {
  return h_rec_text(&p->rec[side]);
}

static uint64_t rnd(pump *p) {
  uint64_t x = p->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  p->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static void note_err(pump *p, int side, int64_t rv) {
  if (rv < 0 && p->err[side] == 0) {
    p->err[side] = (int32_t)rv;
  }
}

/* Drains |side|'s events. Returns the count. */
static int drain(pump *p, int side) {
  zttp_conn *c = p->conn[side];
  int n = 0;
  for (int i = 0; i < 100000 && c != NULL; i++) {
    zttp_event ev;
    int32_t rv = zttp_conn_next_event(c, &ev);
    if (rv <= 0) {
      note_err(p, side, rv);
      break;
    }
    n++;
    int quiet = ev.kind == ZTTP_EVENT_WINDOW_UPDATE ||
                ev.kind == ZTTP_EVENT_SESSION_TICKET ||
                ev.kind == ZTTP_EVENT_DATAGRAM ||
                (!p->verbose && (ev.kind == ZTTP_EVENT_HANDSHAKE_DONE ||
                                 ev.kind == ZTTP_EVENT_SETTINGS));
    if (ev.kind == ZTTP_EVENT_DATA) {
      int64_t s = ev.stream_id;
      if (s >= 0 && s / 4 < P_MAX_STREAMS) {
        uint64_t off = p->got[side][s / 4];
        for (size_t k = 0; k < ev.u.data.len; k++) {
          if (ev.u.data.data[k] != p_byte(s, off + k)) {
            p->mismatches++;
            break;
          }
        }
        p->got[side][s / 4] += ev.u.data.len;
      }
      if (p->auto_consume) {
        note_err(p, side, zttp_conn_data_consumed(c, s, ev.u.data.len));
      }
      quiet = !p->record[side] || ev.u.data.len > 4096 ||
              p->got[side][s / 4] > 4096;
    }
    if (ev.kind == ZTTP_EVENT_END_MESSAGE && ev.stream_id / 4 < P_MAX_STREAMS) {
      p->ended[side][ev.stream_id / 4] = 1;
    }
    if (ev.kind == ZTTP_EVENT_HANDSHAKE_DONE) {
      p->hs_done[side] = 1;
    }
    if (ev.kind == ZTTP_EVENT_CONNECTION_CLOSED) {
      p->closed[side] = 1;
      p->closed_wire[side] = ev.u.closed.wire_error_code;
    }
    if (ev.kind == ZTTP_EVENT_DATAGRAM && p->record[side]) {
      char line[128];
      snprintf(line, sizeof(line), "DATAGRAM s=%lld %.*s",
               (long long)ev.stream_id, (int)ev.u.data.len,
               (const char *)ev.u.data.data);
      h_rec_line(&p->rec[side], line);
    }
    if (!quiet && p->record[side]) {
      h_rec_event(&p->rec[side], &ev);
    }
    if (p->on_event != NULL) {
      p->on_event(p, side, &ev);
    }
  }
  return n;
}

/* Moves |from|'s datagrams to the other side. */
static int deliver(pump *p, int from) {
  static uint8_t buf[DG_BUF];
  int moved = 0;
  zttp_conn *src = p->conn[from];
  zttp_conn *dst = p->conn[1 - from];
  for (int i = 0; i < 10000 && src != NULL; i++) {
    zttp_path path;
    size_t seg = 0;
    int64_t n =
        zttp_conn_write_datagram(src, &path, &seg, buf, sizeof(buf), p->now);
    if (n <= 0) {
      if (n < 0 && p->err[from] == 0) {
        note_err(p, from, n);
      }
      break;
    }
    moved = 1;
    if (seg == 0) {
      seg = (size_t)n;
    }
    for (size_t off = 0; off < (size_t)n; off += seg) {
      size_t len = (size_t)n - off < seg ? (size_t)n - off : seg;
      if (p->loss_ppm != 0 && rnd(p) % 1000000 < p->loss_ppm) {
        p->dropped++;
        continue;
      }
      p->delivered++;
      if (dst != NULL) {
        note_err(
            p, 1 - from,
            zttp_conn_receive_datagram(dst, buf + off, len, &path, p->now));
      }
    }
  }
  return moved;
}

/* Pushes queued bodies. */
static void push_bodies(pump *p) {
  static uint8_t chunk[65536];
  for (size_t i = 0; i < P_MAX_BODIES; i++) {
    p_body *b = &p->bodies[i];
    if (!b->active) {
      continue;
    }
    zttp_conn *c = p->conn[b->side];
    for (int round = 0; round < 64 && b->sent < b->total; round++) {
      size_t n = b->total - b->sent < sizeof(chunk)
                     ? (size_t)(b->total - b->sent)
                     : sizeof(chunk);
      for (size_t k = 0; k < n; k++) {
        chunk[k] = p_byte(b->stream, b->sent + k);
      }
      int64_t took = zttp_conn_send_data(c, b->stream, chunk, n, 0);
      if (took <= 0) {
        if (took < 0) {
          note_err(p, b->side, took);
          b->active = 0;
        }
        break;
      }
      b->sent += (uint64_t)took;
    }
    if (b->active && b->sent == b->total) {
      int32_t rv;
      if (b->trailers) {
        char v[32];
        snprintf(v, sizeof(v), "%llu", (unsigned long long)b->total);
        zttp_header t = h_hdr("x-sum", v);
        rv = zttp_conn_end_message(c, b->stream, &t, 1);
      } else {
        rv = zttp_conn_end_message(c, b->stream, NULL, 0);
      }
      if (rv != ZTTP_ERR_BUFFER_FULL) {
        note_err(p, b->side, rv);
        b->active = 0;
      }
    }
  }
}

int p_run(pump *p, int (*done)(pump *), int max_rounds) {
  for (int r = 0; r < max_rounds; r++) {
    int moved = drain(p, P_CLIENT) + drain(p, P_SERVER);
    push_bodies(p);
    if (done != NULL && done(p)) {
      return 1;
    }
    moved += deliver(p, P_CLIENT);
    moved += drain(p, P_SERVER);
    push_bodies(p);
    moved += deliver(p, P_SERVER);
    if (moved == 0) {
      zttp_tstamp t = ZTTP_TSTAMP_NEVER;
      for (int s = 0; s < 2; s++) {
        zttp_tstamp ts = zttp_conn_next_timeout(p->conn[s]);
        if (ts < t) {
          t = ts;
        }
      }
      if (t == ZTTP_TSTAMP_NEVER ||
          (done == NULL && t > p->now + 1000000000ull)) {
        /* Without a goal, stop before idle timers fire. */
        return done != NULL ? done(p) : 0;
      }
      if (t > p->now) {
        p->now = t;
      }
      for (int s = 0; s < 2; s++) {
        if (zttp_conn_next_timeout(p->conn[s]) <= p->now) {
          note_err(p, s, zttp_conn_handle_timeout(p->conn[s], p->now));
        }
      }
    }
  }
  return done != NULL ? done(p) : 0;
}
