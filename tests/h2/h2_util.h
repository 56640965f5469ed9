/* Frame builders for the HTTP/2 tests: raw frames, and header blocks encoded
 * as HPACK literals without indexing (RFC 7541 §6.2.2), so that a test's
 * bytes do not depend on any encoder. SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_H2_UTIL_H
#define ZTTP_TESTS_H2_UTIL_H

#include "harness.h"

/* f_frame appends one frame. */
void f_frame(h_str *b, uint8_t type, uint8_t flags, uint32_t stream_id,
             const void *payload, size_t len);
/* f_preface appends the client magic and an empty SETTINGS frame. */
void f_preface(h_str *b);
/* f_block appends an HPACK block for the NULL-terminated name, value,
 * name, value, ... list (literals without indexing, no Huffman). */
void f_block(h_str *b, const char *const *nv);
/* f_headers appends one HEADERS frame (END_HEADERS set) carrying f_block. */
void f_headers(h_str *b, uint32_t stream_id, uint8_t flags,
               const char *const *nv);
void f_data(h_str *b, uint32_t stream_id, uint8_t flags, const char *data);
void f_u32(uint8_t *p, uint32_t v);
void f_window_update(h_str *b, uint32_t stream_id, uint32_t inc);
void f_rst(h_str *b, uint32_t stream_id, uint32_t code);
void f_ping(h_str *b, uint8_t flags, const char *opaque8);
#define NV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A whole exchange between a zttp client and a zttp server in memory. */
typedef struct pump {
  zttp_conn *client;
  zttp_conn *server;
  h_rec crec;
  h_rec srec;
  h_event_fn server_cb;
  void *server_arg;
  h_event_fn client_cb;
  void *client_arg;
} pump;

void pump_init(pump *p, const zttp_config *ccfg, const zttp_config *scfg);
/* pump_run moves output both ways until neither side has any. Returns the
 * number of rounds. */
int pump_run(pump *p);
void pump_free(pump *p);

/* frames_text decodes |len| bytes of HTTP/2 frames into one line per frame:
 * "<TYPE> s=<id> f=0x<flags> len=<n>" (payload not shown). Skips the client
 * magic at the start. Caller frees. */
char *frames_text(const uint8_t *p, size_t len);

#endif
