/* HTTP/2 streams (RFC 9113 §5.1): per-stream state and the table that finds
 * a stream by id. Closed streams leave the table at once; the engine knows a
 * stream id was used and closed because it is below the next id of its
 * initiator. SPDX-License-Identifier: MIT */
#ifndef ZTTP_H2_STREAM_H
#define ZTTP_H2_STREAM_H

#include "zttp/zttp.h"

#include "common/buf.h"

/* The receive side of a stream. */
enum {
  ZTTP_H2_RECV_HEADERS, /* client: waiting for the response head */
  ZTTP_H2_RECV_BODY,    /* head received; DATA or trailers may follow */
  ZTTP_H2_RECV_DONE     /* END_STREAM received (half-closed remote) */
};

/* The send side of a stream. */
enum {
  ZTTP_H2_SEND_HEADERS, /* server: no final response yet */
  ZTTP_H2_SEND_BODY,    /* head sent; DATA or trailers may follow */
  ZTTP_H2_SEND_DONE     /* END_STREAM sent or queued (half-closed local) */
};

enum {
  ZTTP_H2_SF_HEAD = 0x01,          /* the request is HEAD */
  ZTTP_H2_SF_BLOCKED = 0x02,       /* the application is waiting for window */
  ZTTP_H2_SF_QUEUED_END = 0x04,    /* END_STREAM after the queued data */
  ZTTP_H2_SF_SCHEDULED = 0x08,     /* on the scheduler list */
  ZTTP_H2_SF_RECV_BODYLESS = 0x10, /* the received message has no content */
  ZTTP_H2_SF_CONNECT = 0x20,       /* CONNECT: no content-length rules */
  ZTTP_H2_SF_SEEN_BY_APP = 0x40    /* its head was reported in an event */
};

typedef struct zttp_h2_stream {
  uint32_t id;
  uint8_t recv;
  uint8_t send;
  uint8_t flags;
  uint8_t urgency;
  uint8_t incremental;
  /* Receive side: declared content-length (-1: none), DATA bytes so far. */
  int64_t recv_cl;
  uint64_t recv_bytes;
  /* Our receive window left, credit consumed but not yet returned, and
   * bytes handed to the application but not yet consumed. */
  int64_t recv_window;
  uint64_t recv_unacked;
  uint64_t recv_unconsumed;
  /* Send side: declared content-length (-1: none), bytes accepted so far,
   * and the peer's window for us (may go negative, RFC 9113 §6.9.2). */
  int64_t send_cl;
  uint64_t sent;
  int64_t send_window;
  /* DATA accepted by zttp_conn_send_data() but not yet framed. */
  zttp_buf queue;
  struct zttp_h2_stream *sched_next;
  struct zttp_h2_stream *free_next;
} zttp_h2_stream;

/* Open addressing, linear probing, backward-shift deletion; grows by
 * doubling to keep the load under 1/2. */
typedef struct zttp_h2_stream_table {
  zttp_h2_stream **slots;
  size_t cap;
  size_t num;
} zttp_h2_stream_table;

void zttp_h2_stream_table_free(zttp_h2_stream_table *t, const zttp_mem *mem);

zttp_h2_stream *zttp_h2_stream_find(const zttp_h2_stream_table *t, uint32_t id);

/* zttp_h2_stream_insert adds |s| (its id is not in the table). Returns 0 or
 * ZTTP_ERR_NOMEM (nothing changed). */
int32_t zttp_h2_stream_insert(zttp_h2_stream_table *t, const zttp_mem *mem,
                              zttp_h2_stream *s);

void zttp_h2_stream_remove(zttp_h2_stream_table *t, uint32_t id);

#endif
