/* The public HTTP/3 server endpoint (zttp.h, zttp_endpoint_*): routes each
 * UDP payload of one socket to its connection by Destination Connection ID
 * (RFC 9000 §5.2) through a table it keeps in step with every connection's
 * connection IDs, creates a connection for a new client's Initial (after a
 * Retry when asked, RFC 9000 §8.1.2), and answers what belongs to no
 * connection statelessly: Version Negotiation (§6), Stateless Reset
 * (§10.3). It is the public face of src/quic/endpoint.h.
 * SPDX-License-Identifier: MIT */
#include "zttp/zttp.h"

#include <string.h>

#include "common/mem.h"
#include "crypto/crypto.h"
#include "engine.h"
#include "h3/h3.h"
#include "quic/endpoint.h"

/* The length of the connection IDs our QUIC connections choose
 * (zttp_quic_settings.cid_len's default): how a short header is routed. */
#define EP_CID_LEN 8
/* Retry tokens live this long (RFC 9000 §8.1.3: short, to limit replay). */
#define EP_TOKEN_LIFETIME (10ull * 1000000000ull)

/* One connection and the connection IDs it is routed by: the client's first
 * DCID (slot 0, until the connection goes) and those it issued. */
typedef struct ep_route {
  zttp_conn *conn;
  uint64_t version; /* zttp_quic_conn_local_cids_version at the last sync */
  size_t num;
  zttp_quic_cid cids[ZTTP_QUIC_MAX_ACTIVE_CIDS + 1];
} ep_route;

struct zttp_endpoint {
  zttp_mem mem;
  const zttp_config *cfg;
  uint32_t flags;
  uint8_t token_key[ZTTP_QUIC_EP_KEY_LEN];
  uint8_t reset_key[ZTTP_QUIC_EP_KEY_LEN];
  zttp_quic_cid_table *table;
  ep_route **routes;
  size_t num_routes;
  size_t max_routes;
  zttp_endpoint_stats st;
};

int32_t zttp_endpoint_new(zttp_endpoint **out, const zttp_config *cfg,
                          size_t max_connections, uint32_t flags) {
  if (out == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (cfg == NULL || max_connections == 0 ||
      max_connections >
          ZTTP_QUIC_CID_TABLE_MAX_ENTRIES / (ZTTP_QUIC_MAX_ACTIVE_CIDS + 1) ||
      (flags & ~(uint32_t)ZTTP_ENDPOINT_RETRY) != 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  const zttp_mem *mem = &cfg->mem;
  zttp_endpoint *ep = zttp_mem_calloc(mem, 1, sizeof(*ep));
  if (ep == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  ep->mem = *mem;
  ep->cfg = cfg;
  ep->flags = flags;
  ep->max_routes = max_connections;
  int32_t rv = ZTTP_ERR_NOMEM;
  if (!zttp_crypto_random(ep->token_key, sizeof(ep->token_key)) ||
      !zttp_crypto_random(ep->reset_key, sizeof(ep->reset_key))) {
    rv = ZTTP_ERR_INVALID_STATE;
    goto fail;
  }
  rv = zttp_quic_cid_table_new(
      &ep->table, &ep->mem, max_connections * (ZTTP_QUIC_MAX_ACTIVE_CIDS + 1));
  if (rv != 0) {
    goto fail;
  }
  *out = ep;
  return 0;

fail:
  zttp_endpoint_free(ep);
  return rv;
}

void zttp_endpoint_free(zttp_endpoint *ep) {
  if (ep == NULL) {
    return;
  }
  for (size_t i = 0; i < ep->num_routes; i++) {
    zttp_mem_free(&ep->mem, ep->routes[i]);
  }
  zttp_mem_free(&ep->mem, ep->routes);
  zttp_quic_cid_table_free(ep->table);
  zttp_tls_wipe(ep->token_key, sizeof(ep->token_key));
  zttp_tls_wipe(ep->reset_key, sizeof(ep->reset_key));
  zttp_mem mem = ep->mem;
  zttp_mem_free(&mem, ep);
}

int32_t zttp_endpoint_set_keys(zttp_endpoint *ep, const uint8_t *token_key,
                               const uint8_t *reset_key) {
  if (ep == NULL || token_key == NULL || reset_key == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (ep->num_routes > 0) {
    return ZTTP_ERR_INVALID_STATE; /* connections hold the old reset key */
  }
  memcpy(ep->token_key, token_key, sizeof(ep->token_key));
  memcpy(ep->reset_key, reset_key, sizeof(ep->reset_key));
  return 0;
}

const zttp_endpoint_stats *zttp_endpoint_get_stats(const zttp_endpoint *ep) {
  return &ep->st;
}

size_t zttp_endpoint_num_connections(const zttp_endpoint *ep) {
  return ep->num_routes;
}

/* ---- the routing table -------------------------------------------------- */

static size_t route_index(const zttp_endpoint *ep, const ep_route *r) {
  for (size_t i = 0; i < ep->num_routes; i++) {
    if (ep->routes[i] == r) {
      return i;
    }
  }
  return ep->num_routes;
}

static ep_route *route_of(const zttp_endpoint *ep, const zttp_conn *conn) {
  for (size_t i = 0; i < ep->num_routes; i++) {
    if (ep->routes[i]->conn == conn) {
      return ep->routes[i];
    }
  }
  return NULL;
}

/* Brings |r|'s table entries in step with its connection's CIDs (RFC 9000
 * §5.1: issued ones added, retired ones removed). */
static void route_sync(zttp_endpoint *ep, ep_route *r) {
  zttp_quic_conn *qc = zttp_h3_quic(r->conn);
  if (qc == NULL) {
    return;
  }
  uint64_t v = zttp_quic_conn_local_cids_version(qc);
  if (v == r->version && r->num > 1) {
    return;
  }
  zttp_quic_cid now_cids[ZTTP_QUIC_MAX_ACTIVE_CIDS];
  size_t n = zttp_quic_conn_local_cids(qc, now_cids, ZTTP_QUIC_MAX_ACTIVE_CIDS);
  if (n > ZTTP_QUIC_MAX_ACTIVE_CIDS) {
    n = ZTTP_QUIC_MAX_ACTIVE_CIDS;
  }
  for (size_t i = 1; i < r->num; i++) {
    (void)zttp_quic_cid_table_remove(ep->table, r->cids[i].data,
                                     r->cids[i].len);
  }
  r->num = 1;
  for (size_t i = 0; i < n; i++) {
    /* The table has room for every connection's full set. */
    if (zttp_quic_cid_table_add(ep->table, now_cids[i].data, now_cids[i].len,
                                r) == 0) {
      r->cids[r->num++] = now_cids[i];
    }
  }
  r->version = v;
}

static void route_drop(zttp_endpoint *ep, ep_route *r) {
  for (size_t i = 0; i < r->num; i++) {
    (void)zttp_quic_cid_table_remove(ep->table, r->cids[i].data,
                                     r->cids[i].len);
  }
  size_t i = route_index(ep, r);
  if (i < ep->num_routes) {
    ep->routes[i] = ep->routes[--ep->num_routes];
  }
  zttp_mem_free(&ep->mem, r);
}

int32_t zttp_endpoint_remove(zttp_endpoint *ep, zttp_conn *conn) {
  if (ep == NULL || conn == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ep_route *r = route_of(ep, conn);
  if (r == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  route_drop(ep, r);
  return 0;
}

/* A connection for the client Initial |info| (|odcid| after a Retry). */
static int32_t accept_conn(zttp_endpoint *ep, zttp_conn **out,
                           const zttp_quic_ep_info *info,
                           const zttp_quic_cid *odcid, const zttp_path *path,
                           zttp_tstamp now) {
  if (ep->num_routes == ep->max_routes) {
    ep->st.refused++;
    return ZTTP_ERR_BUFFER_FULL;
  }
  ep_route **grown = zttp_mem_realloc(&ep->mem, ep->routes,
                                      (ep->num_routes + 1) * sizeof(*grown));
  if (grown == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  ep->routes = grown;
  ep_route *r = zttp_mem_calloc(&ep->mem, 1, sizeof(*r));
  if (r == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  zttp_conn *conn = NULL;
  int32_t rv = zttp_conn_new(&conn, ep->cfg, ZTTP_SERVER, ZTTP_HTTP3);
  if (rv == 0) {
    rv = zttp_h3_accept(conn, &info->hdr, odcid, ep->reset_key, path, now);
  }
  if (rv == 0) {
    zttp_quic_cid_set(&r->cids[0], info->dcid, info->dcid_len);
    r->num = 1;
    rv = zttp_quic_cid_table_add(ep->table, info->dcid, info->dcid_len, r);
  }
  if (rv != 0) {
    zttp_conn_free(conn);
    zttp_mem_free(&ep->mem, r);
    return rv;
  }
  r->conn = conn;
  ep->routes[ep->num_routes++] = r;
  ep->st.accepted++;
  *out = conn;
  return 0;
}

/* The Destination Connection ID a datagram is routed by (RFC 8999 §5). */
static int route_dcid(const uint8_t *data, size_t len, const uint8_t **dcid,
                      size_t *dcid_len) {
  if (len == 0) {
    return 0;
  }
  if ((data[0] & 0x80) == 0) {
    if (len < 1 + EP_CID_LEN) {
      return 0;
    }
    *dcid = data + 1;
    *dcid_len = EP_CID_LEN;
    return 1;
  }
  if (len < 6 || data[5] > ZTTP_QUIC_MAX_CID_LEN || len < 6u + data[5]) {
    return 0;
  }
  *dcid = data + 6;
  *dcid_len = data[5];
  return 1;
}

int32_t zttp_endpoint_receive(zttp_endpoint *ep, zttp_conn **conn,
                              uint8_t *reply, size_t reply_cap,
                              size_t *reply_len, const uint8_t *data,
                              size_t len, const zttp_path *path,
                              zttp_tstamp now) {
  if (ep == NULL || conn == NULL || reply_len == NULL || path == NULL ||
      (data == NULL && len > 0) || (reply == NULL && reply_cap > 0)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *conn = NULL;
  *reply_len = 0;
  const uint8_t *dcid;
  size_t dcid_len;
  if (route_dcid(data, len, &dcid, &dcid_len)) {
    ep_route *r = zttp_quic_cid_table_find(ep->table, dcid, dcid_len);
    if (r != NULL) {
      (void)zttp_conn_receive_datagram(r->conn, data, len, path, now);
      route_sync(ep, r);
      *conn = r->conn;
      ep->st.routed++;
      return ZTTP_ENDPOINT_CONN;
    }
  }
  zttp_quic_ep_info info;
  int64_t n;
  switch (zttp_quic_ep_classify(&info, data, len, EP_CID_LEN)) {
  case ZTTP_QUIC_EP_CREATE: {
    zttp_quic_cid odcid;
    uint32_t tr = zttp_quic_ep_token_validate(&odcid, NULL, &info, path,
                                              ep->token_key, now);
    if (tr == ZTTP_QUIC_EP_TOKEN_INVALID || tr == ZTTP_QUIC_EP_TOKEN_EXPIRED) {
      /* RFC 9000 §8.1.3: a Retry token we cannot accept; without a
       * connection there is nothing to close: dropped. */
      ep->st.bad_tokens++;
      return ZTTP_ENDPOINT_DROP;
    }
    if (tr == ZTTP_QUIC_EP_TOKEN_NOT_RETRY &&
        (ep->flags & ZTTP_ENDPOINT_RETRY) != 0) {
      uint8_t rscid[EP_CID_LEN];
      if (!zttp_crypto_random(rscid, sizeof(rscid))) {
        return ZTTP_ERR_INVALID_STATE;
      }
      n = zttp_quic_ep_retry_build(reply, reply_cap, &info, path, ep->token_key,
                                   rscid, sizeof(rscid), EP_TOKEN_LIFETIME,
                                   now);
      if (n < 0) {
        return (int32_t)n;
      }
      *reply_len = (size_t)n;
      ep->st.retries++;
      return ZTTP_ENDPOINT_REPLY;
    }
    int32_t rv =
        accept_conn(ep, conn, &info,
                    tr == ZTTP_QUIC_EP_TOKEN_OK ? &odcid : NULL, path, now);
    if (rv == ZTTP_ERR_BUFFER_FULL) {
      return ZTTP_ENDPOINT_DROP;
    }
    if (rv != 0) {
      return rv;
    }
    ep_route *r = ep->routes[ep->num_routes - 1];
    (void)zttp_conn_receive_datagram(*conn, data, len, path, now);
    route_sync(ep, r);
    return ZTTP_ENDPOINT_NEW_CONN;
  }
  case ZTTP_QUIC_EP_SEND_VN:
    n = zttp_quic_ep_vn_build(reply, reply_cap, &info);
    if (n < 0) {
      return (int32_t)n;
    }
    *reply_len = (size_t)n;
    ep->st.version_negotiations++;
    return ZTTP_ENDPOINT_REPLY;
  case ZTTP_QUIC_EP_SEND_RESET: {
    uint8_t token[ZTTP_QUIC_RESET_TOKEN_LEN];
    if (zttp_quic_ep_reset_token(token, ep->reset_key, info.dcid,
                                 info.dcid_len) != 0) {
      return ZTTP_ERR_INVALID_STATE;
    }
    n = zttp_quic_ep_reset_build(reply, reply_cap, zttp_quic_ep_reset_len(len),
                                 len, token);
    zttp_tls_wipe(token, sizeof(token));
    if (n < 0) {
      return (int32_t)n;
    }
    *reply_len = (size_t)n;
    ep->st.stateless_resets++;
    return ZTTP_ENDPOINT_REPLY;
  }
  default:
    ep->st.dropped++;
    return ZTTP_ENDPOINT_DROP;
  }
}

int32_t zttp_endpoint_update(zttp_endpoint *ep, zttp_conn *conn) {
  if (ep == NULL || conn == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ep_route *r = route_of(ep, conn);
  if (r == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  route_sync(ep, r);
  return 0;
}
