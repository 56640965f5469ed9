/* The HTTP/2 fuzz targets (h2_server.c, h2_client.c) share one driver.
 *
 * Input layout: one selector byte, then the bytes the peer sends.
 *   bits 0-2: split pattern for the second feed (1, 2, 3, 7, 13 or 64 bytes
 *             at a time, or 9-byte frame-header-sized pieces, or halves)
 *   bit 3:    prepend the peer's preface (client magic + empty SETTINGS, or
 *             an empty SETTINGS from a server) so the fuzzer starts inside
 *             the frame layer
 *   bits 4-5: limit profile (defaults; small windows, frames, tables and
 *             budgets; tiny header limits; extended CONNECT on)
 *   bit 6:    the application answers at REQUEST (else at END_MESSAGE)
 *   bit 7:    salt: vary the answers (trailers, 103, resets, bodies)
 *
 * Each input runs twice on fresh connections, fed whole and in pieces; both
 * must give the same events and the same error (abort() otherwise).
 * Invariants: received field names are lowercase tokens and values hold no
 * NUL, CR or LF; DATA is never empty; a fatal error poisons every later
 * call; pending output stays under the output limit plus the control
 * reserve; nothing follows CONNECTION_CLOSED.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_FUZZ_H2_FUZZ_H
#define ZTTP_TESTS_FUZZ_H2_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int h2_fuzz_one(uint32_t role, const uint8_t *data, size_t size);

#endif
