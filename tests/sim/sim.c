/* The in-memory QUIC network simulator (sim.h).
 * SPDX-License-Identifier: MIT */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quic/packet.h"

static const uint8_t h3_alpn[] = {2, 'h', '3'};

/* xorshift64*: deterministic for a seed. */
static uint64_t sim_rand(sim *sm) {
  uint64_t x = sm->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  sm->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

int32_t sim_init(sim *sm, uint32_t backend, const char *pki_dir, uint64_t seed,
                 uint64_t delay_ms, uint32_t loss_ppm, const zttp_mem *mem) {
  memset(sm, 0, sizeof(*sm));
  sm->mem = mem != NULL ? mem : zttp_mem_default();
  sm->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
  sm->now = 1000000000ULL;
  sm->min_client_initial = SIZE_MAX;
  for (int i = 0; i < 2; i++) {
    sm->link[i].delay = delay_ms * 1000000ULL;
    sm->link[i].loss_ppm = loss_ppm;
    sm->link[i].q = calloc(SIM_MAX_QUEUE, sizeof(sim_dgram));
    if (sm->link[i].q == NULL) {
      return ZTTP_ERR_NOMEM;
    }
  }
  zttp_quic_settings_default(&sm->settings);
  char cert[512], key[512], ca[512];
  snprintf(cert, sizeof(cert), "%s/server.pem", pki_dir);
  snprintf(key, sizeof(key), "%s/server.key", pki_dir);
  snprintf(ca, sizeof(ca), "%s/ca.pem", pki_dir);
  for (uint32_t role = 0; role < 2; role++) {
    zttp_tls_settings s;
    memset(&s, 0, sizeof(s));
    s.backend = backend;
    s.alpn = h3_alpn;
    s.alpn_len = sizeof(h3_alpn);
    if (backend == ZTTP_TLS_BORINGSSL) {
      if (role == ZTTP_SERVER) {
        s.cert_file = cert;
        s.key_file = key;
      } else {
        s.ca_file = ca;
      }
    }
    char err[ZTTP_TLS_ERRMSG_MAX];
    int side = role == ZTTP_CLIENT ? SIM_CLIENT : SIM_SERVER;
    int32_t rv = zttp_tls_ctx_new(&sm->ctx[side], sm->mem, &s, role, err);
    if (rv != 0) {
      fprintf(stderr, "# tls ctx: %d %s\n", rv, err);
      return rv;
    }
  }
  sm->server_name = "localhost";
  zttp_path path;
  memset(&path, 0, sizeof(path));
  return zttp_quic_conn_new(&sm->conn[SIM_CLIENT], sm->mem, &sm->settings,
                            ZTTP_CLIENT, sm->ctx[SIM_CLIENT], sm->server_name,
                            NULL, &path, sm->now);
}

void sim_free(sim *sm) {
  for (int i = 0; i < 2; i++) {
    zttp_quic_conn_free(sm->conn[i]);
    sm->conn[i] = NULL;
    zttp_tls_ctx_unref(sm->ctx[i]);
    sm->ctx[i] = NULL;
    free(sm->link[i].q);
    sm->link[i].q = NULL;
  }
}

int32_t sim_accept_default(sim *sm, const uint8_t *data, size_t len,
                           void *arg) {
  (void)arg;
  zttp_quic_hdr h;
  if (zttp_quic_hdr_parse(&h, data, len, 8) != ZTTP_QUIC_HDR_OK ||
      h.type != ZTTP_QUIC_PKT_INITIAL || len < ZTTP_QUIC_MIN_INITIAL_DATAGRAM) {
    return 0; /* RFC 9000 §14.1: a server drops short Initials */
  }
  zttp_path path;
  memset(&path, 0, sizeof(path));
  return zttp_quic_conn_new(&sm->conn[SIM_SERVER], sm->mem, &sm->settings,
                            ZTTP_SERVER, sm->ctx[SIM_SERVER], NULL, &h, &path,
                            sm->now);
}

static void link_send(sim *sm, sim_link *l, const uint8_t *data, size_t len) {
  l->dgrams++;
  l->bytes += len;
  if (l->loss_ppm != 0 && sim_rand(sm) % 1000000 < l->loss_ppm) {
    l->dropped++;
    return;
  }
  if (l->num == SIM_MAX_QUEUE || len > SIM_MAX_DGRAM) {
    l->dropped++;
    return;
  }
  zttp_tstamp start = sm->now > l->free_at ? sm->now : l->free_at;
  if (l->bandwidth != 0) {
    start += (uint64_t)len * 1000000000ULL / l->bandwidth;
    l->free_at = start;
  }
  sim_dgram *d = &l->q[(l->head + l->num++) % SIM_MAX_QUEUE];
  d->at = start + l->delay;
  d->len = len;
  memcpy(d->data, data, len);
}

void sim_send(sim *sm, int side, const uint8_t *data, size_t len) {
  link_send(sm, &sm->link[side], data, len);
}

/* Writes everything |side| has to send. Returns datagrams written or a
 * negative error. */
static int64_t flush_side(sim *sm, int side) {
  zttp_quic_conn *qc = sm->conn[side];
  if (qc == NULL) {
    return 0;
  }
  uint8_t buf[SIM_MAX_DGRAM];
  int64_t count = 0;
  for (int k = 0; k < 100000; k++) {
    zttp_path path;
    int validated = zttp_quic_conn_address_validated(qc);
    int64_t n = zttp_quic_conn_write(qc, buf, sizeof(buf), &path, sm->now);
    if (n < 0) {
      return n;
    }
    if (n == 0) {
      break;
    }
    count++;
    if (side == SIM_CLIENT && (buf[0] & 0xb0) == 0x80) {
      /* A v1 long header of type Initial first in the datagram. */
      sm->num_client_initials++;
      if ((size_t)n < sm->min_client_initial) {
        sm->min_client_initial = (size_t)n;
      }
    }
    if (side == SIM_SERVER && !validated) {
      sm->server_sent_unval += (uint64_t)n;
      if (sm->server_sent_unval > 3 * sm->server_recv) {
        sm->amplification_violated = 1;
      }
    }
    link_send(sm, &sm->link[side], buf, (size_t)n);
  }
  return count;
}

static int32_t deliver(sim *sm, int to, const sim_dgram *d) {
  zttp_path path;
  memset(&path, 0, sizeof(path));
  if (to == SIM_SERVER) {
    sm->server_recv += d->len;
    if (sm->conn[SIM_SERVER] == NULL) {
      int32_t rv = sm->accept != NULL
                       ? sm->accept(sm, d->data, d->len, sm->accept_arg)
                       : sim_accept_default(sm, d->data, d->len, NULL);
      if (rv != 0) {
        return rv;
      }
      if (sm->conn[SIM_SERVER] == NULL) {
        return 0;
      }
    }
  }
  int32_t rv =
      zttp_quic_conn_recv(sm->conn[to], d->data, d->len, &path, sm->now);
  if (rv != 0) {
    sm->last_error[to] = rv;
  }
  return 0;
}

static int drain_events(sim *sm) {
  int n = 0;
  for (int side = 0; side < 2; side++) {
    if (sm->conn[side] == NULL) {
      continue;
    }
    zttp_quic_event ev;
    while (zttp_quic_conn_next_event(sm->conn[side], &ev)) {
      n++;
      if (sm->on_event != NULL) {
        sm->on_event(sm, side, &ev, sm->arg);
      }
    }
    if (sm->on_event != NULL && sm->conn[side] != NULL) {
      sm->on_event(sm, side, NULL, sm->arg);
    }
  }
  return n;
}

int sim_run(sim *sm, int (*done)(sim *sm, void *arg), void *arg,
            zttp_tstamp max_ns) {
  zttp_tstamp end = sm->now + max_ns;
  int stalls = 0;
  for (;;) {
    int busy = 0;
    for (int side = 0; side < 2; side++) {
      int64_t n = flush_side(sm, side);
      if (n < 0) {
        return (int)n;
      }
      busy |= n > 0;
    }
    for (int l = 0; l < 2; l++) {
      sim_link *lk = &sm->link[l];
      while (lk->num > 0 && lk->q[lk->head].at <= sm->now) {
        int32_t rv = deliver(sm, 1 - l, &lk->q[lk->head]);
        lk->head = (lk->head + 1) % SIM_MAX_QUEUE;
        lk->num--;
        if (rv < 0) {
          return rv;
        }
        busy = 1;
      }
    }
    busy |= drain_events(sm) > 0;
    if (done(sm, arg)) {
      return 1;
    }
    if (busy) {
      continue;
    }
    zttp_tstamp next = ZTTP_TSTAMP_NEVER;
    for (int l = 0; l < 2; l++) {
      if (sm->link[l].num > 0 && sm->link[l].q[sm->link[l].head].at < next) {
        next = sm->link[l].q[sm->link[l].head].at;
      }
    }
    for (int side = 0; side < 2; side++) {
      if (sm->conn[side] != NULL) {
        zttp_tstamp t = zttp_quic_conn_next_timeout(sm->conn[side]);
        if (t < next) {
          next = t;
        }
      }
    }
    if (next == ZTTP_TSTAMP_NEVER || next > end) {
      return 0;
    }
    if (next > sm->now) {
      sm->now = next;
      stalls = 0;
    } else if (++stalls > 1000) {
      fprintf(stderr, "# sim: a timer stays due without progress\n");
      return -1000; /* a timer that stays due without progress */
    }
    for (int side = 0; side < 2; side++) {
      if (sm->conn[side] != NULL &&
          zttp_quic_conn_next_timeout(sm->conn[side]) <= sm->now) {
        int32_t rv = zttp_quic_conn_handle_timeout(sm->conn[side], sm->now);
        if (rv < 0) {
          return rv;
        }
      }
    }
  }
}
