/* QUIC transport error codes (RFC 9000 §20.1, RFC 9368 §10.2). They are
 * wire values carried in CONNECTION_CLOSE frames (type 0x1c) and in the
 * |err| outputs of the QUIC decoders, never return values (STYLE.md).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_ERROR_H
#define ZTTP_QUIC_ERROR_H

#include <stdint.h>

/* RFC 9000 §20.1 */
enum zttp_quic_error {
  ZTTP_QUIC_ERR_NO_ERROR = 0x00,
  ZTTP_QUIC_ERR_INTERNAL_ERROR = 0x01,
  ZTTP_QUIC_ERR_CONNECTION_REFUSED = 0x02,
  ZTTP_QUIC_ERR_FLOW_CONTROL_ERROR = 0x03,
  ZTTP_QUIC_ERR_STREAM_LIMIT_ERROR = 0x04,
  ZTTP_QUIC_ERR_STREAM_STATE_ERROR = 0x05,
  ZTTP_QUIC_ERR_FINAL_SIZE_ERROR = 0x06,
  ZTTP_QUIC_ERR_FRAME_ENCODING_ERROR = 0x07,
  ZTTP_QUIC_ERR_TRANSPORT_PARAMETER_ERROR = 0x08,
  ZTTP_QUIC_ERR_CONNECTION_ID_LIMIT_ERROR = 0x09,
  ZTTP_QUIC_ERR_PROTOCOL_VIOLATION = 0x0a,
  ZTTP_QUIC_ERR_INVALID_TOKEN = 0x0b,
  ZTTP_QUIC_ERR_APPLICATION_ERROR = 0x0c,
  ZTTP_QUIC_ERR_CRYPTO_BUFFER_EXCEEDED = 0x0d,
  ZTTP_QUIC_ERR_KEY_UPDATE_ERROR = 0x0e,
  ZTTP_QUIC_ERR_AEAD_LIMIT_REACHED = 0x0f,
  ZTTP_QUIC_ERR_NO_VIABLE_PATH = 0x10,
  /* RFC 9368 §10.2 */
  ZTTP_QUIC_ERR_VERSION_NEGOTIATION_ERROR = 0x11,
  /* 0x0100-0x01ff: CRYPTO_ERROR + the TLS alert (RFC 9001 §4.8). */
  ZTTP_QUIC_ERR_CRYPTO_ERROR = 0x100
};

/* zttp_quic_error_crypto returns the CRYPTO_ERROR code carrying the TLS
 * |alert| (RFC 9001 §4.8). */
static inline uint64_t zttp_quic_error_crypto(uint8_t alert) {
  return (uint64_t)ZTTP_QUIC_ERR_CRYPTO_ERROR + alert;
}

/* zttp_quic_error_name returns the RFC name of a transport error code
 * ("CRYPTO_ERROR" for the whole 0x100-0x1ff range, "UNKNOWN" otherwise);
 * static storage. */
static inline const char *zttp_quic_error_name(uint64_t code) {
  static const char *const names[] = {
      "NO_ERROR",
      "INTERNAL_ERROR",
      "CONNECTION_REFUSED",
      "FLOW_CONTROL_ERROR",
      "STREAM_LIMIT_ERROR",
      "STREAM_STATE_ERROR",
      "FINAL_SIZE_ERROR",
      "FRAME_ENCODING_ERROR",
      "TRANSPORT_PARAMETER_ERROR",
      "CONNECTION_ID_LIMIT_ERROR",
      "PROTOCOL_VIOLATION",
      "INVALID_TOKEN",
      "APPLICATION_ERROR",
      "CRYPTO_BUFFER_EXCEEDED",
      "KEY_UPDATE_ERROR",
      "AEAD_LIMIT_REACHED",
      "NO_VIABLE_PATH",
      "VERSION_NEGOTIATION_ERROR",
  };
  if (code < sizeof(names) / sizeof(names[0])) {
    return names[code];
  }
  if (code >= 0x100 && code <= 0x1ff) {
    return "CRYPTO_ERROR";
  }
  return "UNKNOWN";
}

#endif
