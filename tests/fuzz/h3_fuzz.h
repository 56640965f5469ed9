/* The HTTP/3 connection fuzz targets (h3_server.c, h3_client.c) share one
 * driver, and tests/fuzz/h3_seedgen.c uses the same application logic to
 * record their seed corpora. Everything goes through the public API
 * (zttp_conn_new(cfg, role, ZTTP_HTTP3), zttp_conn_receive_datagram, ...)
 * with the null TLS backend (ZTTP_TLS_NULL: a deterministic handshake and
 * identity packet protection), so an input can carry valid packets.
 *
 * Input layout:
 *   sel0 (1 byte)
 *     bits 0-1: limits profile (defaults; tight windows, streams, fields,
 *               output buffer and budgets without a QPACK dynamic table; a
 *               small QPACK table with 1 blocked stream and a 1 s idle
 *               timeout; large tables, no idle timeout)
 *     bit 2:    no CID substitution (feed the datagrams as they are)
 *     bit 3:    ZTTP_OPT_ENABLE_CONNECT_PROTOCOL; a client also sends a
 *               CONNECT (extended, :protocol connect-udp, when the server
 *               advertised it) with tunnel data
 *     bit 4:    ZTTP_OPT_H3_DATAGRAM; the client sends an HTTP datagram on
 *               each request, the server echoes every datagram
 *     bit 5:    linger: after the last record run the timers for 60 s
 *     bit 6:    close gracefully (GOAWAY): a server once its first response
 *               ended, a client once every request got its whole answer
 *     bit 7:    resets: a server resets every second request
 *               (H3_REQUEST_CANCELLED), a client its last request once its
 *               response head arrived
 *   sel1 (1 byte)
 *     bits 0-2: request body size (hf_body_sizes[])
 *     bits 3-4: number of requests - 1 (GET, POST with Content-Length,
 *               POST without, HEAD)
 *     bit 5:    message bodies end with trailers
 *     bit 6:    write_datagram gets a 1200-byte buffer (else 65536: GSO)
 *     bit 7:    lazy reader: data_consumed() once per message, at its end
 *   A (20 bytes), B (8 bytes): connection IDs as recorded (see below)
 *   then records, each:
 *     delta (2 bytes, big-endian): milliseconds to advance the clock, firing
 *       every timer due on the way (handle_timeout, then events and writes)
 *     flags_len (2 bytes, big-endian): bits 0-13 the datagram length (0: a
 *       clock step only; cut short at the end of the input), bit 14: it
 *       arrives from another remote address, bit 15: no CID substitution
 *     the datagram, given to the connection at the new time.
 *
 * CID substitution (fuzz_util.h): a server replaces A, a client A and B.
 *
 * The application reacts like a real one: a server answers every REQUEST
 * with a 200 and a small body, echoes the request body (and HTTP
 * datagrams), ends with the request (trailers by bit 5); a client sends its
 * requests at HANDSHAKE_DONE and consumes DATA with data_consumed().
 *
 * Invariants (abort with "h3 fuzz invariant: ..."): every call returns a
 * value in its documented set (error codes listed in zttp.h; a fatal error
 * only from receive_datagram, next_event, handle_timeout, write_datagram,
 * or NOMEM); after a fatal error every call returns that same error
 * (write_datagram may still return bytes of the CONNECTION_CLOSE, and
 * last_error names it); write_datagram returns at most the buffer, with
 * non-zero segments, reaches 0 and never returns 0 once poisoned; a due
 * timer moves after handle_timeout and the writes that follow; event
 * pointers and lengths are sane (DATA never empty, fields non-NULL when
 * counted) and their bytes readable; REQUEST, RESPONSE, DATA, END_MESSAGE,
 * STREAM_RESET, DATAGRAM and WINDOW_UPDATE name client-initiated
 * bidirectional streams (a client's: ones it opened; STREAM_RESET: ones the
 * application knows); a server's GOAWAY names one too; at most one
 * HANDSHAKE_DONE and one CONNECTION_CLOSED, nothing after it; data_consumed()
 * takes what a DATA event delivered; at most 64 MiB allocated and nothing
 * leaked. ZTTP_FUZZ_IGNORE=errors downgrades the error-set checks.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_TESTS_FUZZ_H3_FUZZ_H
#define ZTTP_TESTS_FUZZ_H3_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "zttp/zttp.h"

#include "fuzz_util.h"

#define HF_ALT_PATH 0x4000u
#define HF_MAX_DGRAM 0x3fffu /* the length mask of flags_len */
#define HF_MAX_STREAMS 32
#define HF_CID_LEN 8 /* zttp_quic_settings_default() */

#define HF_SEL_NO_SUBST 0x04
#define HF_SEL_CONNECT 0x08
#define HF_SEL_DATAGRAM 0x10
#define HF_SEL_LINGER 0x20
#define HF_SEL_CLOSE 0x40
#define HF_SEL_RESET 0x80

#define HF_SEL1_TRAILERS 0x20
#define HF_SEL1_SMALL_BUF 0x40
#define HF_SEL1_LAZY 0x80

typedef struct hf_stream {
  int64_t id;
  int used;
  int kind;      /* HF_K_* */
  int head_sent; /* server: response head; client: request head */
  int end_sent;
  int got_head;
  int got_end;
  int reset; /* abandoned by either side */
  int trailers;
  uint64_t owed; /* body bytes still to send */
  int want_end;  /* end the message once |owed| is 0 */
  uint64_t unconsumed;
} hf_stream;

typedef struct hf_side hf_side;

/* Where a side's written datagrams go (seedgen: a simulated link). */
typedef void (*hf_emit_fn)(hf_side *sd, const uint8_t *d, size_t n,
                           const zttp_path *path, zttp_tstamp now);

struct hf_side {
  uint32_t role;
  uint8_t sel0, sel1;
  int log;
  int lax; /* ZTTP_FUZZ_IGNORE=errors */
  fuzz_mem *mem;
  zttp_config *cfg;
  zttp_conn *conn;
  zttp_path path;     /* as the peer sees it: local = ours */
  zttp_path alt_path; /* another remote address */
  zttp_tstamp now;
  size_t buflen;
  hf_stream st[HF_MAX_STREAMS];
  int32_t fatal; /* the poisoning error, once seen */
  int hs_done;
  int settings_seen;
  int peer_connect;
  int peer_datagram;
  int closed_ev;
  int closing; /* close() called, or CONNECTION_CLOSED seen */
  int close_sent;
  int goaway_seen;
  int requests_sent; /* client: requests queued so far */
  int connect_sent;
  int num_requests; /* server: REQUEST events; client: requests to send */
  int answered;
  int64_t last_req_id;
  fuzz_cids cids; /* learned from the first long header written */
  hf_emit_fn emit;
  uint64_t sink;
};

extern const uint32_t hf_body_sizes[8];

void hf_fail(const char *what);
/* hf_side_init sets up |sd|: a config from sel0/sel1 and a connection (a
 * client writes its Initial to |emit|, which may be NULL). */
void hf_side_init(hf_side *sd, fuzz_mem *m, uint32_t role, uint8_t sel0,
                  uint8_t sel1, hf_emit_fn emit);
void hf_side_free(hf_side *sd);
/* hf_advance fires every timer due up to |target|, then sets now. */
void hf_advance(hf_side *sd, zttp_tstamp target);
/* hf_feed gives one datagram to the connection at sd->now (from the
 * alternate remote address when |alt|). */
void hf_feed(hf_side *sd, const uint8_t *d, size_t n, int alt);
/* hf_service drains events, pushes the application's output and writes
 * datagrams until none is left. */
void hf_service(hf_side *sd);

/* hf_fuzz_one runs one fuzz input (layout above) against |role|. */
int hf_fuzz_one(uint32_t role, const uint8_t *data, size_t size);

#endif
