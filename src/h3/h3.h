/* The HTTP/3 engine's entry points outside its vtable, for the QUIC
 * endpoint code (a server that routes datagrams to connections).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_H3_H3_H
#define ZTTP_H3_H3_H

#include "engine.h" /* src/engine.h */
#include "quic/conn.h"
#include "quic/packet.h"

/* zttp_h3_accept starts the QUIC connection of the HTTP/3 server
 * connection |conn| (created with zttp_conn_new(SERVER, HTTP3), no QUIC
 * connection yet) for the client Initial whose parsed header is |initial|
 * (borrowed), received on |path| at |now|; hand that datagram to
 * zttp_conn_receive_datagram() next. |odcid| is NULL, or the client's
 * original DCID from a Retry token the caller validated
 * (zttp_quic_conn_new_retried). |reset_key| (32 bytes, or NULL for the
 * connection's own) derives its Stateless Reset tokens: the endpoint's, so
 * that its stateless resets match (RFC 9000 §10.3.2). Returns 0,
 * ZTTP_ERR_INVALID_STATE (not an HTTP/3 server, or already started),
 * ZTTP_ERR_INVALID_ARGUMENT, ZTTP_ERR_TLS_CONFIG or ZTTP_ERR_NOMEM. */
int32_t zttp_h3_accept(zttp_conn *conn, const zttp_quic_hdr *initial,
                       const zttp_quic_cid *odcid, const uint8_t *reset_key,
                       const zttp_path *path, zttp_tstamp now);

/* zttp_h3_quic returns the QUIC connection of an HTTP/3 connection (for
 * routing tables and statistics; owned by |conn|), or NULL before a
 * server's first Initial and on other protocols. */
zttp_quic_conn *zttp_h3_quic(const zttp_conn *conn);

#endif
