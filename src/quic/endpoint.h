/* Stateless QUIC server helpers (RFC 9000 §5.2, §6, §8.1, §10.3; RFC 8999;
 * RFC 9001 §5.8): classify a datagram without connection state, route it
 * by Destination Connection ID, and build Version Negotiation, Retry and
 * Stateless Reset packets statelessly. A server with many connections runs
 * every datagram through these before any connection object exists, so
 * junk never allocates one.
 *
 * Typical use (one UDP socket, many connections):
 *   zttp_quic_ep_classify(&info, dgram, len, cid_len);
 *   conn = zttp_quic_cid_table_find(table, info.dcid, info.dcid_len);
 *   if conn: zttp_quic_conn_recv(conn, ...)
 *   else switch (info.action): CREATE -> (token check, Retry) then
 *   zttp_quic_conn_new(..., &info.hdr, ...), add its CID, recv; SEND_VN ->
 *   zttp_quic_ep_vn_build; SEND_RESET -> zttp_quic_ep_reset_build with the
 *   token of zttp_quic_ep_reset_token; DROP -> nothing.
 *
 * Sans-IO: time is an argument; randomness comes from zttp_crypto_random.
 * Keys are the caller's (32 bytes, random, kept across restarts if tokens
 * and resets must survive them). SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_ENDPOINT_H
#define ZTTP_QUIC_ENDPOINT_H

#include "zttp/zttp.h"

#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"
#include "quic/packet.h"

/* Bytes of the static keys of Retry tokens and stateless reset tokens. */
#define ZTTP_QUIC_EP_KEY_LEN 32
/* Shortest client DCID a server accepts in a first Initial (RFC 9000
 * §7.2: at least 8 bytes). */
#define ZTTP_QUIC_EP_MIN_INITIAL_DCID 8
/* Largest Stateless Reset zttp_quic_ep_reset_len() picks: RFC 9000 §10.3
 * recommends one byte less than triggers of up to 43 bytes. */
#define ZTTP_QUIC_EP_RESET_MAX_LEN 43
/* Retry token layout (see zttp_quic_ep_retry_build):
 *   magic 0x52 ('R')            1 byte
 *   expiry (ns, big-endian)     8 bytes
 *   odcid_len, odcid            1 + 0..20 bytes
 *   rscid_len, rscid            1 + 1..20 bytes
 *   HMAC-SHA256                 32 bytes
 * The MAC, under the caller's 32-byte key, covers every byte before it,
 * then the QUIC version (4 bytes, big-endian), then the client address
 * (1-byte length and path->remote bytes), which are not carried. */
#define ZTTP_QUIC_EP_TOKEN_MAGIC 0x52
#define ZTTP_QUIC_EP_TOKEN_MAX_LEN                                             \
  (1 + 8 + 1 + ZTTP_QUIC_MAX_CID_LEN + 1 + ZTTP_QUIC_MAX_CID_LEN + 32)
/* Hard cap on zttp_quic_cid_table_new()'s max_entries. */
#define ZTTP_QUIC_CID_TABLE_MAX_ENTRIES (1u << 22)

/* What to do with a datagram whose DCID matches no connection. */
enum zttp_quic_ep_action {
  /* Nothing: too short, malformed, a Version Negotiation packet (never
   * answered, RFC 9000 §6.1), a 0-RTT/Handshake/Retry packet, a short
   * header too short to trigger a reset. */
  ZTTP_QUIC_EP_DROP = 0,
  /* A v1 or v2 Initial in a datagram of at least 1200 bytes (RFC 9000
   * §14.1) with a DCID of at least 8 bytes (§7.2): a new connection
   * (after the caller's token check and Retry decision). info.hdr is the
   * parsed header to give zttp_quic_conn_new(). */
  ZTTP_QUIC_EP_CREATE = 1,
  /* A long header of an unsupported version in a datagram of at least
   * 1200 bytes (RFC 9000 §5.2.2, §6.1): answer with
   * zttp_quic_ep_vn_build(). */
  ZTTP_QUIC_EP_SEND_VN = 2,
  /* A short header for an unknown DCID, long enough (> 21 bytes) that a
   * smaller Stateless Reset exists (RFC 9000 §10.3.3): the caller may send
   * one (zttp_quic_ep_reset_len(), zttp_quic_ep_reset_build()), rate
   * limited as it sees fit. */
  ZTTP_QUIC_EP_SEND_RESET = 3
};

/* The routable part of a datagram's first packet. Pointers borrow the
 * datagram given to zttp_quic_ep_classify(). */
typedef struct zttp_quic_ep_info {
  uint32_t action; /* enum zttp_quic_ep_action */
  int is_long;
  uint32_t version; /* long headers; 0 for short headers */
  /* enum zttp_quic_pkt_type: known for short headers, Version
   * Negotiation and long headers of v1/v2; ZTTP_QUIC_PKT_INITIAL with
   * version left as read for an unsupported version (meaningless). */
  uint32_t type;
  const uint8_t *dcid; /* up to 255 bytes in a long header (RFC 8999) */
  size_t dcid_len;
  const uint8_t *scid; /* long headers */
  size_t scid_len;
  const uint8_t *token; /* Initial of v1/v2: the Token field */
  size_t token_len;
  size_t datagram_len;
  /* v1/v2 long headers and short headers that parsed: the full header
   * (zttp_quic_hdr_parse()), for zttp_quic_conn_new(). */
  int hdr_ok;
  zttp_quic_hdr hdr;
} zttp_quic_ep_info;

/* zttp_quic_ep_classify reads the routable part (RFC 8999 §5, RFC 9000
 * §5.2) of the datagram |data| (|len| bytes; pointers in |*info| borrow
 * it) and decides, in info->action, what a server does with it if its
 * DCID matches no connection. |short_dcid_len| (<= 20) is the length of
 * the server's connection IDs. No state is read or kept. Returns
 * info->action (never fails: unparsable input is ZTTP_QUIC_EP_DROP). */
uint32_t zttp_quic_ep_classify(zttp_quic_ep_info *info, const uint8_t *data,
                               size_t len, size_t short_dcid_len);

/* ---- connection ID table ----------------------------------------------- */

/* A hash map from connection ID bytes (0-20) to an opaque, non-NULL
 * connection handle, keyed with a random SipHash-2-4 key so that peers
 * choosing CIDs (a client's first DCID) cannot make chains collide. Holds
 * at most |max_entries| entries. Not thread-safe. */
typedef struct zttp_quic_cid_table zttp_quic_cid_table;

/* zttp_quic_cid_table_new creates an empty table into |*out| (allocated
 * with |mem|, kept: it must outlive the table) holding at most
 * |max_entries| (1..ZTTP_QUIC_CID_TABLE_MAX_ENTRIES). Returns 0,
 * ZTTP_ERR_INVALID_ARGUMENT or ZTTP_ERR_NOMEM. */
int32_t zttp_quic_cid_table_new(zttp_quic_cid_table **out, const zttp_mem *mem,
                                size_t max_entries);

/* zttp_quic_cid_table_free frees |t| (not the handles). NULL is a no-op. */
void zttp_quic_cid_table_free(zttp_quic_cid_table *t);

/* zttp_quic_cid_table_add maps |cid| (|cid_len| <= 20 bytes, copied) to
 * |handle| (not NULL; stored, never dereferenced). Returns 0,
 * ZTTP_ERR_INVALID_ARGUMENT (bad length, NULL handle),
 * ZTTP_ERR_INVALID_STATE (the CID is already mapped), ZTTP_ERR_BUFFER_FULL
 * (max_entries reached) or ZTTP_ERR_NOMEM. */
int32_t zttp_quic_cid_table_add(zttp_quic_cid_table *t, const uint8_t *cid,
                                size_t cid_len, void *handle);

/* zttp_quic_cid_table_find returns the handle mapped to |cid|, or NULL. */
void *zttp_quic_cid_table_find(const zttp_quic_cid_table *t, const uint8_t *cid,
                               size_t cid_len);

/* zttp_quic_cid_table_remove unmaps |cid|. Returns 1 when it was mapped,
 * 0 when not. */
int zttp_quic_cid_table_remove(zttp_quic_cid_table *t, const uint8_t *cid,
                               size_t cid_len);

/* zttp_quic_cid_table_count returns the number of mapped CIDs. */
size_t zttp_quic_cid_table_count(const zttp_quic_cid_table *t);

/* ---- Version Negotiation (RFC 9000 §6, §17.2.1; RFC 8999 §6) ----------- */

/* zttp_quic_ep_vn_build writes into |buf| (|cap| bytes) the Version
 * Negotiation answer to the long-header packet |info| describes: DCID =
 * its SCID, SCID = its DCID, random unused bits, and the versions v1, v2
 * and one random reserved version 0x?a?a?a?a (RFC 9000 §6.3, §15) in a
 * random position. Returns the length, or ZTTP_ERR_INVALID_ARGUMENT (not
 * ZTTP_QUIC_EP_SEND_VN), ZTTP_ERR_BUFFER_FULL (|cap| too small) or
 * ZTTP_ERR_INVALID_STATE (the random source failed). */
int64_t zttp_quic_ep_vn_build(uint8_t *buf, size_t cap,
                              const zttp_quic_ep_info *info);

/* ---- Retry and address validation tokens (RFC 9000 §8.1.2-8.1.4) ------- */

/* What zttp_quic_ep_token_validate() makes of an Initial's token. */
enum zttp_quic_ep_token_result {
  /* A Retry token we issued, unexpired, for this address, version and
   * DCID: the address is validated (RFC 9000 §8.1.2). */
  ZTTP_QUIC_EP_TOKEN_OK = 0,
  /* Empty or not a Retry token of this format (a NEW_TOKEN token of
   * another scheme, say): treat the Initial as carrying no token. */
  ZTTP_QUIC_EP_TOKEN_NOT_RETRY = 1,
  /* Our format but forged, modified, truncated, for another address,
   * version or DCID: drop the packet or close with INVALID_TOKEN (RFC 9000
   * §8.1.3). */
  ZTTP_QUIC_EP_TOKEN_INVALID = 2,
  /* Authentic but past its expiry: as INVALID (the client can not
   * recover with it). */
  ZTTP_QUIC_EP_TOKEN_EXPIRED = 3
};

/* zttp_quic_ep_retry_build writes into |buf| (|cap| bytes) a Retry packet
 * (RFC 9000 §17.2.5) answering the client Initial |info| (CREATE) that
 * arrived on |path|: DCID = the client's SCID, SCID = |rscid| (|rscid_len|
 * 1-20 bytes, chosen by the caller, not equal to the client's DCID,
 * §17.2.5.2), a token (format at ZTTP_QUIC_EP_TOKEN_MAGIC) binding
 * path->remote, the client's original DCID, |rscid|, the version and the
 * expiry |now| + |lifetime| under |key| (ZTTP_QUIC_EP_KEY_LEN bytes), and
 * the integrity tag (RFC 9001 §5.8, RFC 9369 §3.3.3). The connection the
 * client then opens must send original_destination_connection_id = the
 * ODCID and retry_source_connection_id = |rscid| (RFC 9000 §7.3). Returns
 * the length, or ZTTP_ERR_INVALID_ARGUMENT (not a v1/v2 Initial, bad CID
 * lengths), ZTTP_ERR_BUFFER_FULL or ZTTP_ERR_INVALID_STATE (crypto
 * failure). */
int64_t zttp_quic_ep_retry_build(uint8_t *buf, size_t cap,
                                 const zttp_quic_ep_info *info,
                                 const zttp_path *path, const uint8_t *key,
                                 const uint8_t *rscid, size_t rscid_len,
                                 uint64_t lifetime, zttp_tstamp now);

/* zttp_quic_ep_token_validate checks the Initial |info| (its token,
 * version and DCID, which must equal the token's Retry SCID) that arrived
 * on |path| at |now| against |key|. On ZTTP_QUIC_EP_TOKEN_OK stores the
 * client's original DCID in |*odcid| and the Retry SCID in |*rscid|
 * (either may be NULL); otherwise they are untouched. The MAC is compared
 * in constant time. A token expires after now > expiry. Returns enum
 * zttp_quic_ep_token_result. */
uint32_t zttp_quic_ep_token_validate(zttp_quic_cid *odcid, zttp_quic_cid *rscid,
                                     const zttp_quic_ep_info *info,
                                     const zttp_path *path, const uint8_t *key,
                                     zttp_tstamp now);

/* ---- Stateless Reset (RFC 9000 §10.3) ----------------------------------- */

/* zttp_quic_ep_reset_token derives the Stateless Reset Token of |cid|
 * (|cid_len| <= 20) into |token| (16 bytes): HMAC-SHA256(|key|, cid)
 * truncated to 16 bytes (RFC 9000 §10.3.2: a static key and the CID). A
 * connection advertising tokens for its CIDs (the stateless_reset_token
 * transport parameter, NEW_CONNECTION_ID) must derive them with this same
 * function and key so that a server that lost the state can still reset.
 * Returns 0 or ZTTP_ERR_INVALID_ARGUMENT (|cid_len| > 20) or
 * ZTTP_ERR_INVALID_STATE (crypto failure). */
int32_t zttp_quic_ep_reset_token(uint8_t *token, const uint8_t *key,
                                 const uint8_t *cid, size_t cid_len);

/* zttp_quic_ep_reset_len returns the length of the Stateless Reset to send
 * for a trigger datagram of |trigger_len| bytes: |trigger_len| - 1 up to
 * ZTTP_QUIC_EP_RESET_MAX_LEN (RFC 9000 §10.3, §10.3.3: always smaller
 * than the trigger, so two endpoints cannot loop), or 0 when the trigger
 * is too short (<= 21 bytes) to answer. */
size_t zttp_quic_ep_reset_len(size_t trigger_len);

/* zttp_quic_ep_reset_build writes a Stateless Reset of |len| bytes into
 * |buf| (|cap| bytes): a short-header first byte (fixed bit set, the rest
 * random), random bytes, and |token| (16 bytes) last. |len| must be >= 21
 * and < |trigger_len|. Returns |len|, ZTTP_ERR_INVALID_ARGUMENT (length
 * rules), ZTTP_ERR_BUFFER_FULL or ZTTP_ERR_INVALID_STATE (random source).
 */
int64_t zttp_quic_ep_reset_build(uint8_t *buf, size_t cap, size_t len,
                                 size_t trigger_len, const uint8_t *token);

#endif
