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
    sm->link[i].held = calloc(SIM_MAX_HELD, sizeof(sim_dgram));
    if (sm->link[i].q == NULL || sm->link[i].held == NULL) {
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
    free(sm->link[i].held);
    sm->link[i].held = NULL;
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
  return zttp_quic_conn_new(&sm->conn[SIM_SERVER], sm->mem, &sm->settings,
                            ZTTP_SERVER, sm->ctx[SIM_SERVER], NULL, &h,
                            &sm->rx_path, sm->now);
}

static int chance(sim *sm, uint32_t ppm) {
  return ppm != 0 && sim_rand(sm) % 1000000 < ppm;
}

/* A uniform delay in (0, max]. */
static uint64_t jitter(sim *sm, uint64_t max) {
  return max == 0 ? 0 : 1 + sim_rand(sm) % max;
}

/* Holds a copy for delivery at |at|; 0 when the pool is full. */
static int hold(sim_link *l, const uint8_t *data, size_t len, zttp_tstamp at,
                const zttp_path *seen) {
  if (l->num_held == SIM_MAX_HELD) {
    return 0;
  }
  sim_dgram *d = &l->held[l->num_held++];
  d->at = at;
  d->len = len;
  d->path = *seen;
  memcpy(d->data, data, len);
  return 1;
}

void sim_addr_v4(sim_addr *a, uint32_t ip, uint16_t port) {
  memset(a, 0, sizeof(*a));
  a->b[0] = 2; /* AF_INET, little-endian sa_family_t */
  a->b[2] = (uint8_t)(port >> 8);
  a->b[3] = (uint8_t)port;
  a->b[4] = (uint8_t)(ip >> 24);
  a->b[5] = (uint8_t)(ip >> 16);
  a->b[6] = (uint8_t)(ip >> 8);
  a->b[7] = (uint8_t)ip;
  a->len = 16;
}

zttp_path sim_path(const sim_addr *from, const sim_addr *to) {
  zttp_path p;
  memset(&p, 0, sizeof(p));
  memcpy(p.local, to->b, to->len);
  p.local_len = to->len;
  memcpy(p.remote, from->b, from->len);
  p.remote_len = from->len;
  return p;
}

static void link_send(sim *sm, sim_link *l, const uint8_t *data, size_t len,
                      const zttp_path *seen) {
  uint64_t idx = l->dgrams++;
  int side = l == &sm->link[SIM_CLIENT] ? SIM_CLIENT : SIM_SERVER;
  l->bytes += len;
  uint8_t buf[SIM_MAX_DGRAM];
  if (len > SIM_MAX_DGRAM) {
    l->tail++;
    l->dropped++;
    return;
  }
  memcpy(buf, data, len);
  if ((idx < 64 && (l->drop_bits >> idx & 1) != 0) ||
      (sm->now >= l->down_from && sm->now < l->down_until) ||
      (l->filter != NULL &&
       l->filter(sm, side, idx, buf, len, l->filter_arg))) {
    l->chosen++;
    l->dropped++;
    return;
  }
  if (chance(sm, l->loss_ppm)) {
    l->lost++;
    l->dropped++;
    return;
  }
  if (l->num == SIM_MAX_QUEUE) {
    l->tail++;
    l->dropped++;
    return;
  }
  zttp_tstamp start = sm->now > l->free_at ? sm->now : l->free_at;
  if (l->bandwidth != 0) {
    start += (uint64_t)len * 1000000000ULL / l->bandwidth;
    l->free_at = start;
  }
  zttp_tstamp at = start + l->delay;
  if (len > 0 && chance(sm, l->corrupt_ppm)) {
    buf[sim_rand(sm) % len] ^= (uint8_t)(1 + sim_rand(sm) % 255);
    l->corrupted++;
  }
  if (chance(sm, l->dup_ppm) &&
      hold(l, buf, len, at + jitter(sm, l->dup_ns != 0 ? l->dup_ns : 1000000),
           seen)) {
    l->duplicated++;
  }
  if (chance(sm, l->reorder_ppm) &&
      hold(l, buf, len,
           at + jitter(sm, l->reorder_ns != 0 ? l->reorder_ns : l->delay),
           seen)) {
    l->reordered++;
    return;
  }
  sim_dgram *d = &l->q[(l->head + l->num++) % SIM_MAX_QUEUE];
  d->at = at;
  d->len = len;
  d->path = *seen;
  memcpy(d->data, buf, len);
}

/* The path the receiver sees for a datagram |side| sends now. */
static zttp_path side_path(const sim *sm, int side) {
  return side == SIM_CLIENT ? sim_path(&sm->client_addr, &sm->server_addr)
                            : sim_path(&sm->server_addr, &sm->client_addr);
}

void sim_send(sim *sm, int side, const uint8_t *data, size_t len) {
  zttp_path seen = side_path(sm, side);
  link_send(sm, &sm->link[side], data, len, &seen);
}

void sim_send_path(sim *sm, int side, const uint8_t *data, size_t len,
                   const zttp_path *seen) {
  link_send(sm, &sm->link[side], data, len, seen);
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
    if (sm->trace != NULL) {
      sm->trace(sm, side, SIM_STEP_WRITE, sm->trace_arg);
    }
    /* The client's source is whatever its NAT gives it now; the server
     * sends where its connection says. */
    zttp_path seen = side_path(sm, side);
    if (side == SIM_SERVER) {
      memset(&seen, 0, sizeof(seen));
      memcpy(seen.local, path.remote, sizeof(seen.local));
      seen.local_len = path.remote_len;
      memcpy(seen.remote, path.local, sizeof(seen.remote));
      seen.remote_len = path.local_len;
    }
    link_send(sm, &sm->link[side], buf, (size_t)n, &seen);
  }
  return count;
}

static int addr_is(const uint8_t *b, uint32_t len, const sim_addr *a) {
  return len == a->len && memcmp(b, a->b, len) == 0;
}

static int32_t deliver(sim *sm, int to, const sim_dgram *d) {
  zttp_path path = d->path;
  int fresh = 0;
  if (to == SIM_CLIENT &&
      !(addr_is(path.local, path.local_len, &sm->client_addr) &&
        !sm->client_deaf) &&
      !(sm->client_alt.len != 0 &&
        addr_is(path.local, path.local_len, &sm->client_alt))) {
    sm->misrouted++;
    sm->misrouted_bytes += d->len;
    return 0;
  }
  sm->rx_path = path;
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
      fresh = sm->accept == NULL;
    }
  }
  int32_t rv =
      zttp_quic_conn_recv(sm->conn[to], d->data, d->len, &path, sm->now);
  if (rv != 0) {
    sm->last_error[to] = rv;
  } else if (fresh &&
             zttp_quic_conn_get_stats(sm->conn[SIM_SERVER])->pkts_recv == 0) {
    /* Nothing in it could be opened (corrupted): a server keeps no state
     * for such a datagram. */
    zttp_quic_conn_free(sm->conn[SIM_SERVER]);
    sm->conn[SIM_SERVER] = NULL;
    sm->servers_discarded++;
    return 0;
  }
  if (sm->trace != NULL) {
    sm->trace(sm, to, SIM_STEP_RECV, sm->trace_arg);
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

/* The held datagram due first (the oldest of equals), or SIZE_MAX. */
static size_t next_held(const sim_link *l) {
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < l->num_held; i++) {
    if (best == SIZE_MAX || l->held[i].at < l->held[best].at) {
      best = i;
    }
  }
  return best;
}

uint32_t sim_dgram_types(const uint8_t *data, size_t len) {
  uint32_t types = 0;
  while (len > 0) {
    zttp_quic_hdr h;
    /* Short headers end the datagram: their DCID length does not matter. */
    if (zttp_quic_hdr_parse(&h, data, len, 0) != ZTTP_QUIC_HDR_OK) {
      break;
    }
    types |= 1u << h.type;
    if (h.packet_len == 0 || h.packet_len > len) {
      break;
    }
    data += h.packet_len;
    len -= h.packet_len;
  }
  return types;
}

size_t sim_corrupt_packets(uint8_t *data, size_t len, uint32_t types) {
  size_t n = 0;
  while (len > 0) {
    zttp_quic_hdr h;
    if (zttp_quic_hdr_parse(&h, data, len, 0) != ZTTP_QUIC_HDR_OK ||
        h.packet_len == 0 || h.packet_len > len) {
      break;
    }
    if ((types & (1u << h.type)) != 0) {
      data[h.packet_len - 1] ^= 0x5a;
      n++;
    }
    data += h.packet_len;
    len -= h.packet_len;
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
      for (;;) {
        size_t h = next_held(lk);
        int from_q = lk->num > 0 && lk->q[lk->head].at <= sm->now &&
                     (h == SIZE_MAX || lk->q[lk->head].at <= lk->held[h].at);
        int32_t rv;
        if (from_q) {
          rv = deliver(sm, 1 - l, &lk->q[lk->head]);
          lk->head = (lk->head + 1) % SIM_MAX_QUEUE;
          lk->num--;
        } else if (h != SIZE_MAX && lk->held[h].at <= sm->now) {
          sim_dgram d = lk->held[h];
          lk->held[h] = lk->held[--lk->num_held];
          rv = deliver(sm, 1 - l, &d);
        } else {
          break;
        }
        lk->delivered++;
        if (rv < 0) {
          return rv;
        }
        busy = 1;
      }
    }
    busy |= drain_events(sm) > 0;
    if (sm->trace != NULL) {
      sm->trace(sm, -1, SIM_STEP_ROUND, sm->trace_arg);
    }
    if (done(sm, arg)) {
      return 1;
    }
    if (busy) {
      continue;
    }
    zttp_tstamp next = ZTTP_TSTAMP_NEVER;
    for (int l = 0; l < 2; l++) {
      sim_link *lk = &sm->link[l];
      if (lk->num > 0 && lk->q[lk->head].at < next) {
        next = lk->q[lk->head].at;
      }
      size_t h = next_held(lk);
      if (h != SIZE_MAX && lk->held[h].at < next) {
        next = lk->held[h].at;
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
        if (sm->trace != NULL) {
          sm->trace(sm, side, SIM_STEP_TIMEOUT, sm->trace_arg);
        }
      }
    }
  }
}
