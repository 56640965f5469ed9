/* The HTTP/2 engine's entry points outside its vtable.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_H2_H2_H
#define ZTTP_H2_H2_H

#include "engine.h" /* src/engine.h */

/* zttp_h2_upgrade seeds a new server connection after an HTTP/1.1
 * `Upgrade: h2c` (RFC 7540 §3.2): applies the base64url HTTP2-Settings
 * payload as the client's SETTINGS and opens stream 1, half-closed
 * (remote), for the upgraded request with |method|. Returns 0,
 * ZTTP_ERR_PROTOCOL (malformed settings) or ZTTP_ERR_NOMEM. */
int32_t zttp_h2_upgrade(zttp_conn *conn, zttp_str method, const char *settings,
                        size_t settings_len);

#endif
