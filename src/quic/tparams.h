/* QUIC transport parameters (RFC 9000 §7.4, §18; max_datagram_frame_size,
 * RFC 9221 §3; version_information, RFC 9368 §3): the codec of the
 * quic_transport_parameters TLS extension's body, the value checks, and
 * the connection ID authentication of RFC 9000 §7.3. No connection state.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_TPARAMS_H
#define ZTTP_QUIC_TPARAMS_H

#include "zttp/zttp.h"

#include <stddef.h>
#include <stdint.h>

#include "quic/error.h"
#include "quic/packet.h"

/* Parameter ids (RFC 9000 §18.2, RFC 9368 §3, RFC 9221 §3). */
#define ZTTP_QUIC_TP_ORIGINAL_DCID 0x00u
#define ZTTP_QUIC_TP_MAX_IDLE_TIMEOUT 0x01u
#define ZTTP_QUIC_TP_STATELESS_RESET_TOKEN 0x02u
#define ZTTP_QUIC_TP_MAX_UDP_PAYLOAD_SIZE 0x03u
#define ZTTP_QUIC_TP_INITIAL_MAX_DATA 0x04u
#define ZTTP_QUIC_TP_INITIAL_MAX_STREAM_DATA_BIDI_LOCAL 0x05u
#define ZTTP_QUIC_TP_INITIAL_MAX_STREAM_DATA_BIDI_REMOTE 0x06u
#define ZTTP_QUIC_TP_INITIAL_MAX_STREAM_DATA_UNI 0x07u
#define ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_BIDI 0x08u
#define ZTTP_QUIC_TP_INITIAL_MAX_STREAMS_UNI 0x09u
#define ZTTP_QUIC_TP_ACK_DELAY_EXPONENT 0x0au
#define ZTTP_QUIC_TP_MAX_ACK_DELAY 0x0bu
#define ZTTP_QUIC_TP_DISABLE_ACTIVE_MIGRATION 0x0cu
#define ZTTP_QUIC_TP_PREFERRED_ADDRESS 0x0du
#define ZTTP_QUIC_TP_ACTIVE_CONNECTION_ID_LIMIT 0x0eu
#define ZTTP_QUIC_TP_INITIAL_SCID 0x0fu
#define ZTTP_QUIC_TP_RETRY_SCID 0x10u
#define ZTTP_QUIC_TP_VERSION_INFORMATION 0x11u
#define ZTTP_QUIC_TP_MAX_DATAGRAM_FRAME_SIZE 0x20u

/* Presence flags: bit (1 << id) for ids 0x00-0x11, and one for 0x20. */
#define ZTTP_QUIC_TP_BIT(id) (UINT32_C(1) << (id))
#define ZTTP_QUIC_TP_BIT_MAX_DATAGRAM_FRAME_SIZE (UINT32_C(1) << 31)

/* RFC 9000 §18.2 defaults and bounds. */
#define ZTTP_QUIC_TP_DEFAULT_MAX_UDP_PAYLOAD_SIZE 65527u
#define ZTTP_QUIC_TP_MIN_MAX_UDP_PAYLOAD_SIZE 1200u
#define ZTTP_QUIC_TP_DEFAULT_ACK_DELAY_EXPONENT 3u
#define ZTTP_QUIC_TP_MAX_ACK_DELAY_EXPONENT 20u
#define ZTTP_QUIC_TP_DEFAULT_MAX_ACK_DELAY 25u
#define ZTTP_QUIC_TP_MAX_MAX_ACK_DELAY ((1u << 14) - 1)
#define ZTTP_QUIC_TP_DEFAULT_ACTIVE_CID_LIMIT 2u

/* The parsed Available Versions kept in the struct; the raw bytes hold all
 * of them. */
#define ZTTP_QUIC_TP_MAX_VERSIONS 16

/* RFC 9000 §18.2 Figure 22 */
typedef struct zttp_quic_preferred_address {
  uint8_t ipv4[4];
  uint16_t ipv4_port;
  uint8_t ipv6[16];
  uint16_t ipv6_port;
  zttp_quic_cid cid; /* 1-20 bytes */
  uint8_t reset_token[ZTTP_QUIC_RESET_TOKEN_LEN];
} zttp_quic_preferred_address;

/* One endpoint's transport parameters. A field counts only when its bit
 * (ZTTP_QUIC_TP_BIT(id)) is in |present|; zttp_quic_tparams_init() puts the
 * RFC defaults in the fields of absent ones. Everything is copied except
 * version_info, which borrows the decoded input. */
typedef struct zttp_quic_tparams {
  uint32_t present;
  zttp_quic_cid original_dcid;                              /* server only */
  uint64_t max_idle_timeout;                                /* ms, 0: none */
  uint8_t stateless_reset_token[ZTTP_QUIC_RESET_TOKEN_LEN]; /* server only */
  uint64_t max_udp_payload_size;
  uint64_t initial_max_data;
  uint64_t initial_max_stream_data_bidi_local;
  uint64_t initial_max_stream_data_bidi_remote;
  uint64_t initial_max_stream_data_uni;
  uint64_t initial_max_streams_bidi;
  uint64_t initial_max_streams_uni;
  uint64_t ack_delay_exponent;
  uint64_t max_ack_delay; /* ms */
  /* disable_active_migration: presence only. */
  zttp_quic_preferred_address preferred_address; /* server only */
  uint64_t active_connection_id_limit;
  zttp_quic_cid initial_scid;
  zttp_quic_cid retry_scid;         /* server only */
  uint64_t max_datagram_frame_size; /* 0: no DATAGRAM support */
  /* version_information (RFC 9368 §3). Decoding sets version_info /
   * version_info_len to the raw value (borrowed from the input), the
   * Chosen Version and the first ZTTP_QUIC_TP_MAX_VERSIONS Available
   * Versions (num_available_versions counts them all; entry i is also at
   * version_info + 4 + 4 * i). Encoding writes chosen_version and
   * available_versions[0..num_available_versions) (at most
   * ZTTP_QUIC_TP_MAX_VERSIONS) and ignores the raw pointer. */
  uint32_t chosen_version;
  uint32_t available_versions[ZTTP_QUIC_TP_MAX_VERSIONS];
  size_t num_available_versions;
  const uint8_t *version_info;
  size_t version_info_len;
} zttp_quic_tparams;

/* zttp_quic_tparams_init clears |tp| (nothing present) and sets the
 * defaults: max_udp_payload_size 65527, ack_delay_exponent 3, max_ack_delay
 * 25, active_connection_id_limit 2, the rest 0. */
void zttp_quic_tparams_init(zttp_quic_tparams *tp);

/* zttp_quic_tparams_has returns 1 when parameter |id| is present. */
int zttp_quic_tparams_has(const zttp_quic_tparams *tp, uint64_t id);

/* zttp_quic_tparams_set_present marks parameter |id| present (a known id;
 * others are ignored). */
void zttp_quic_tparams_set_present(zttp_quic_tparams *tp, uint64_t id);

/* zttp_quic_tparams_encode writes the parameters present in |tp|, sent by
 * an endpoint of |role| (enum zttp_role), in increasing id order, at |p|
 * (|cap| bytes). Returns the length (0 for an empty set),
 * ZTTP_ERR_BUFFER_FULL, or ZTTP_ERR_INVALID_ARGUMENT when a value is one
 * the peer would reject (out of range, a server-only parameter from a
 * client, a zero-length preferred-address CID, version_information without
 * a version or with a zero one). */
int64_t zttp_quic_tparams_encode(const zttp_quic_tparams *tp, uint32_t role,
                                 uint8_t *p, size_t cap);

/* zttp_quic_tparams_decode parses the peer's parameters at |p| (|len|
 * bytes), sent by an endpoint of |sender_role| (enum zttp_role), into |tp|
 * (initialised first, so absent ones have their defaults). Unknown ids,
 * reserved ones (31 * N + 27) among them, are skipped (RFC 9000 §18.1).
 * Returns 1, or 0 with |*err| = TRANSPORT_PARAMETER_ERROR and |*why| a
 * static description (RFC 9000 §7.4, §18.2; RFC 9368 §4; |why| may be
 * NULL): a truncated parameter, a duplicate known id, a value whose length
 * does not match its type, an out-of-range value (max_udp_payload_size <
 * 1200, ack_delay_exponent > 20, max_ack_delay >= 2^14,
 * active_connection_id_limit < 2, initial_max_streams_* > 2^60, a CID over
 * 20 bytes), a malformed preferred_address or one with a zero-length CID
 * or from a server whose own CID is empty, a server-only parameter from a
 * client, a malformed version_information (length not 4k >= 4, a zero
 * version, a client's Chosen Version missing from its Available
 * Versions). After a failure |tp| holds what was read before it. */
int zttp_quic_tparams_decode(zttp_quic_tparams *tp, uint32_t sender_role,
                             const uint8_t *p, size_t len, uint64_t *err,
                             const char **why);

/* zttp_quic_tparams_check_cids authenticates the connection IDs of the
 * handshake (RFC 9000 §7.3) from the |peer|'s decoded parameters, at an
 * endpoint of |local_role| (enum zttp_role):
 *   both: initial_source_connection_id is present and equals |peer_scid|,
 *         the Source Connection ID of the peer's Initial packets;
 *   client: original_destination_connection_id is present and equals
 *         |odcid|, the DCID of the client's first Initial;
 *         retry_source_connection_id is present iff a Retry was accepted
 *         (|retry_scid| != NULL) and then equals it.
 * |odcid| and |retry_scid| are ignored at a server. Returns 1, or 0 with
 * |*err| = TRANSPORT_PARAMETER_ERROR (RFC 9000 §7.3 allows it for every
 * case; PROTOCOL_VIOLATION is never used here) and |*why| (may be NULL). */
int zttp_quic_tparams_check_cids(const zttp_quic_tparams *peer,
                                 uint32_t local_role,
                                 const zttp_quic_cid *peer_scid,
                                 const zttp_quic_cid *odcid,
                                 const zttp_quic_cid *retry_scid, uint64_t *err,
                                 const char **why);

#endif
