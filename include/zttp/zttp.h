/*
 * zttp: a sans-IO HTTP/1.1, HTTP/2 and HTTP/3 protocol engine.
 *
 * This is the only public header. Bytes (or UDP datagrams) go in, events come
 * out, bytes (or datagrams) to send are pulled out. zttp never touches a
 * socket, a thread or a clock: time is an argument.
 *
 * Conventions that hold for every function below:
 *  - Return values: 0 or a non-negative count on success, a negative
 *    ZTTP_ERR_* on failure. zttp_strerror() names every code.
 *  - Inputs are borrowed for the duration of the call; anything zttp keeps,
 *    it copies.
 *  - Every pointer zttp hands out (in an event, from zttp_conn_pending(),
 *    from zttp_conn_last_error()) points into memory the connection owns and
 *    stays valid until the next call on the same connection that can change
 *    it: zttp_conn_receive_data(), zttp_conn_receive_datagram(),
 *    zttp_conn_next_event(), zttp_conn_consume() (for pending output only) and
 *    zttp_conn_free().
 *  - A fatal error (zttp_error_is_fatal()) poisons the connection: every later
 *    call on it returns the same error. Output that the protocol owes the
 *    peer (a GOAWAY, a CONNECTION_CLOSE) stays readable through
 *    zttp_conn_pending().
 *  - A connection is not thread-safe; distinct connections are independent.
 *
 * Only fixed-width integers, size_t, pointers and plain structs of those cross
 * this ABI, so ctypes/cffi can describe all of it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZTTP_ZTTP_H
#define ZTTP_ZTTP_H

#include <stddef.h>
#include <stdint.h>

#include <zttp/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(ZTTP_BUILDING)
#define ZTTP_EXTERN __declspec(dllexport)
#elif defined(_WIN32)
#define ZTTP_EXTERN __declspec(dllimport)
#elif defined(__GNUC__)
#define ZTTP_EXTERN __attribute__((visibility("default")))
#else
#define ZTTP_EXTERN
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * ZTTP_ERROR_TABLE is the one table of error codes: X(NAME, value, fatal,
 * message). It generates enum zttp_error below, zttp_strerror() and
 * zttp_error_is_fatal(). Values are never renumbered or reused; new codes are
 * appended. "fatal" errors poison the connection; the others are local
 * errors (a misuse or a full buffer) after which the connection is intact.
 */
#define ZTTP_ERROR_TABLE(X)                                                    \
  X(INVALID_ARGUMENT, -1, 0, "invalid argument")                               \
  X(INVALID_STATE, -2, 0, "call not valid in the current state")               \
  X(NOMEM, -3, 1, "out of memory")                                             \
  X(UNSUPPORTED, -4, 0, "not supported by this protocol or build")             \
  X(BUFFER_FULL, -5, 0, "output buffer full; consume pending output first")    \
  X(INVALID_FIELD, -6, 0, "field refused by the serializer")                   \
  X(FRAMING, -7, 0, "body length does not match the message framing")          \
  X(STREAM_NOT_FOUND, -8, 0, "no such stream")                                 \
  X(CLOSED, -9, 0, "connection is closed or shutting down")                    \
  X(STREAM_LIMIT, -10, 0,                                                      \
    "the peer's limit of concurrent streams is reached; retry later")          \
  X(TLS_CONFIG, -11, 0,                                                        \
    "TLS settings refused: unreadable file, bad PEM, key not matching the "    \
    "certificate, or a required setting missing")                              \
  X(PROTOCOL, -20, 1, "peer violated the protocol")                            \
  X(UNEXPECTED_EOF, -21, 1, "connection closed in the middle of a message")    \
  X(UNEXPECTED_DATA, -22, 1, "data received when no message was expected")     \
  X(BAD_METHOD, -23, 1, "malformed method")                                    \
  X(BAD_TARGET, -24, 1, "malformed request target")                            \
  X(BAD_VERSION, -25, 1, "malformed or unsupported HTTP version")              \
  X(BAD_STATUS, -26, 1, "malformed status line")                               \
  X(BAD_HEADER_NAME, -27, 1, "malformed header field name")                    \
  X(BAD_HEADER_VALUE, -28, 1, "malformed header field value")                  \
  X(BARE_LF, -29, 1, "line ends in a bare LF")                                 \
  X(BARE_CR, -30, 1, "bare CR not followed by LF")                             \
  X(OBS_FOLD, -31, 1, "obsolete line folding")                                 \
  X(SPACE_BEFORE_COLON, -32, 1, "whitespace between field name and colon")     \
  X(BAD_CONTENT_LENGTH, -33, 1, "malformed Content-Length")                    \
  X(CONFLICTING_CONTENT_LENGTH, -34, 1, "differing Content-Length values")     \
  X(CL_AND_TE, -35, 1, "both Content-Length and Transfer-Encoding")            \
  X(BAD_TRANSFER_ENCODING, -36, 1,                                             \
    "chunked is not the final coding, or repeated")                            \
  X(BAD_CHUNK, -37, 1, "malformed chunk size, extension or terminator")        \
  X(BAD_HOST, -38, 1, "missing or repeated Host on an HTTP/1.1 request")       \
  X(COMPRESSION, -39, 1, "header block could not be decoded")                  \
  X(FLOW_CONTROL, -40, 1, "peer exceeded a flow-control window")               \
  X(FRAME_SIZE, -41, 1, "frame of invalid size")                               \
  X(ENHANCE_YOUR_CALM, -42, 1, "peer exceeded a reset rate or glitch budget")  \
  X(BAD_PREFACE, -43, 1, "connection preface missing or malformed")            \
  X(STREAM_CLOSED, -44, 1, "frame on a stream in the wrong state")             \
  X(TLS_HANDSHAKE, -45, 1,                                                     \
    "TLS handshake failed; the wire code is 0x100 + the TLS alert")            \
  X(QUIC_VERSION, -46, 1,                                                      \
    "the server supports none of our QUIC versions (Version Negotiation)")     \
  X(LIMIT_START_LINE, -50, 1,                                                  \
    "start line longer than ZTTP_LIMIT_H1_MAX_START_LINE")                     \
  X(LIMIT_HEADERS, -51, 1, "more header fields than ZTTP_LIMIT_MAX_HEADERS")   \
  X(LIMIT_HEADER_BYTES, -52, 1,                                                \
    "header section larger than ZTTP_LIMIT_MAX_HEADER_BYTES")                  \
  X(LIMIT_TRAILERS, -53, 1,                                                    \
    "more trailer fields than ZTTP_LIMIT_MAX_TRAILERS")                        \
  X(LIMIT_TRAILER_BYTES, -54, 1,                                               \
    "trailer section larger than ZTTP_LIMIT_MAX_TRAILER_BYTES")                \
  X(LIMIT_CHUNK_EXT, -55, 1,                                                   \
    "chunk extensions longer than ZTTP_LIMIT_H1_MAX_CHUNK_EXT")                \
  X(LIMIT_INPUT_BUFFER, -56, 1, "input larger than ZTTP_LIMIT_INPUT_BUFFER")   \
  X(LIMIT_CONTINUATIONS, -57, 1,                                               \
    "header block in more frames than ZTTP_LIMIT_H2_MAX_CONTINUATIONS")

/**
 * zttp_error lists every error code: 0 is success, every error is negative.
 * @since 0.1.0
 */
enum zttp_error {
  ZTTP_OK = 0,
#define ZTTP_ERROR_ENUM_(name, value, fatal, msg) ZTTP_ERR_##name = value,
  ZTTP_ERROR_TABLE(ZTTP_ERROR_ENUM_)
#undef ZTTP_ERROR_ENUM_
};

/**
 * zttp_strerror returns a static, NUL-terminated description of |err| (one of
 * enum zttp_error, or 0). Unknown codes give "unknown error". Never NULL.
 * @since 0.1.0
 */
ZTTP_EXTERN const char *zttp_strerror(int32_t err);

/**
 * zttp_error_is_fatal returns 1 if |err| poisons the connection that
 * returned it, 0 if it is a local error (or not an error).
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_error_is_fatal(int32_t err);

/**
 * zttp_version returns the library's version string ("MAJOR.MINOR.PATCH",
 * static storage) and, if |num| is not NULL, stores
 * MAJOR << 16 | MINOR << 8 | PATCH in it. Compare with ZTTP_VERSION_NUM from
 * <zttp/version.h> to detect a header/library mismatch.
 * @since 0.1.0
 */
ZTTP_EXTERN const char *zttp_version(uint32_t *num);

/* ------------------------------------------------------------------------ */
/* Basic types                                                              */
/* ------------------------------------------------------------------------ */

/** zttp_tstamp is a point in time in nanoseconds of a monotonic clock that
 * the caller reads; zttp never reads a clock. @since 0.1.0 */
typedef uint64_t zttp_tstamp;

/** ZTTP_TSTAMP_NEVER is the zttp_tstamp for "no deadline". @since 0.1.0 */
#define ZTTP_TSTAMP_NEVER UINT64_MAX

/** zttp_role values: which side of the connection the engine plays.
 * @since 0.1.0 */
enum zttp_role { ZTTP_SERVER = 0, ZTTP_CLIENT = 1 };

/** zttp_protocol values: which engine a connection runs. @since 0.1.0 */
enum zttp_protocol { ZTTP_HTTP1 = 1, ZTTP_HTTP2 = 2, ZTTP_HTTP3 = 3 };

/**
 * zttp_str is a byte string that is not NUL-terminated: |len| bytes at
 * |base|. An absent value has base == NULL and len == 0.
 * @since 0.1.0
 */
typedef struct zttp_str {
  const char *base;
  size_t len;
} zttp_str;

/**
 * zttp_header is one header or trailer field. In events, name and value
 * point into connection-owned memory (see the borrowing rule above) and the
 * name keeps its wire case on HTTP/1.1. On the send side the caller owns
 * them; zttp copies what it sends. |flags| is a set of ZTTP_HEADER_* bits;
 * |reserved| and unknown flag bits must be 0 (send calls refuse others with
 * ZTTP_ERR_INVALID_ARGUMENT), so that they can gain a meaning later.
 * @since 0.1.0
 */
typedef struct zttp_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
  uint32_t flags;
  uint32_t reserved;
} zttp_header;

/** ZTTP_HEADER_NEVER_INDEX marks a sensitive field that HPACK/QPACK must
 * never add to a compression table (ignored on HTTP/1.1). @since 0.1.0 */
#define ZTTP_HEADER_NEVER_INDEX 0x1u

/**
 * zttp_path names the two ends of a UDP path as opaque socket-address bytes
 * (a struct sockaddr_in or sockaddr_in6 copied verbatim); zttp only compares
 * and stores them.
 * @since 0.1.0
 */
typedef struct zttp_path {
  uint8_t local[32];
  uint32_t local_len;
  uint8_t remote[32];
  uint32_t remote_len;
} zttp_path;

/**
 * zttp_allocator replaces malloc/realloc/free for everything a config and
 * the connections made from it allocate. Each hook receives |user|.
 * realloc(NULL, n) must behave as malloc(n); free(NULL) must be a no-op.
 * @since 0.1.0
 */
typedef struct zttp_allocator {
  void *(*malloc)(size_t size, void *user);
  void *(*realloc)(void *ptr, size_t size, void *user);
  void (*free)(void *ptr, void *user);
  void *user;
} zttp_allocator;

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

/** zttp_config is an opaque set of settings, copied into every connection
 * created from it. @since 0.1.0 */
typedef struct zttp_config zttp_config;

/**
 * zttp_limit names every limit a connection enforces, for
 * zttp_config_set_limit(). Exceeding a limit set on received data is an
 * error naming it: fatal on HTTP/1.1 and for connection-wide limits; on
 * HTTP/2 and HTTP/3 a header or trailer section over MAX_HEADERS,
 * MAX_HEADER_BYTES, MAX_TRAILERS or MAX_TRAILER_BYTES only ends its stream
 * (RST_STREAM / RESET_STREAM, reported as ZTTP_EVENT_STREAM_RESET; an HTTP/2
 * server answers a request over them with 431). Ids are never renumbered;
 * new ones are appended.
 * @since 0.1.0
 */
enum zttp_limit {
  /** Bytes of received data the connection buffers (HTTP/1.1: one head
   * must fit, so it must be at least MAX_HEADER_BYTES and
   * MAX_TRAILER_BYTES). When it is full, zttp_conn_receive_data() takes
   * less; an element that can never fit (a chunk-size line with long
   * extensions, say) fails with ZTTP_ERR_LIMIT_INPUT_BUFFER. Default
   * 131072. */
  ZTTP_LIMIT_INPUT_BUFFER = 1,
  /** Bytes of pending output the connection holds before send calls
   * answer ZTTP_ERR_BUFFER_FULL or take less. Default 262144. */
  ZTTP_LIMIT_OUTPUT_BUFFER = 2,
  /** Header fields in one received header section. Default 128. */
  ZTTP_LIMIT_MAX_HEADERS = 3,
  /** Bytes of one received header section (HTTP/1.1: the start line, the
   * fields and their line ends). Default 65536. */
  ZTTP_LIMIT_MAX_HEADER_BYTES = 4,
  /** Fields in one received trailer section. Default 32. */
  ZTTP_LIMIT_MAX_TRAILERS = 5,
  /** Bytes of one received trailer section. Default 8192. */
  ZTTP_LIMIT_MAX_TRAILER_BYTES = 6,
  /** HTTP/1.1: bytes of a request or status line, CRLF included.
   * Default 8192. */
  ZTTP_LIMIT_H1_MAX_START_LINE = 7,
  /** HTTP/1.1: bytes of the extensions on one chunk-size line.
   * Default 1024. */
  ZTTP_LIMIT_H1_MAX_CHUNK_EXT = 8,
  /** HTTP/1.1 server: requests received but not yet answered; when reached,
   * the server stops reading pipelined requests (zttp_conn_receive_data()
   * takes less) until a response completes. HTTP/1.1 client: requests sent
   * and not yet answered. Default 32. */
  ZTTP_LIMIT_H1_MAX_PIPELINE = 9,
  /** HTTP/2, HTTP/3: streams the peer may have open at once, advertised as
   * SETTINGS_MAX_CONCURRENT_STREAMS (HTTP/2) or initial_max_streams_bidi
   * (HTTP/3); a stream beyond it is refused (REFUSED_STREAM). Default 100,
   * at most 2^31 - 1. */
  ZTTP_LIMIT_MAX_CONCURRENT_STREAMS = 10,
  /** HTTP/2, HTTP/3: the receive window of each stream in bytes, advertised
   * as SETTINGS_INITIAL_WINDOW_SIZE (HTTP/2). Credit returns as the
   * application calls zttp_conn_data_consumed(). Default 262144, at most
   * 2^31 - 1. */
  ZTTP_LIMIT_STREAM_WINDOW = 11,
  /** HTTP/2, HTTP/3: the connection's receive window in bytes. Default
   * 1048576, at most 2^31 - 1. */
  ZTTP_LIMIT_CONNECTION_WINDOW = 12,
  /** HTTP/2: the largest frame payload accepted, advertised as
   * SETTINGS_MAX_FRAME_SIZE; 16384..16777215, and at most
   * ZTTP_LIMIT_INPUT_BUFFER - 9. Default 16384. */
  ZTTP_LIMIT_H2_MAX_FRAME_SIZE = 13,
  /** HTTP/2, HTTP/3: the size of the decoder's dynamic table, advertised as
   * SETTINGS_HEADER_TABLE_SIZE (HPACK) or
   * SETTINGS_QPACK_MAX_TABLE_CAPACITY; may be 0. Default 4096, at most
   * 2^30. */
  ZTTP_LIMIT_HEADER_TABLE_SIZE = 14,
  /** HTTP/2, HTTP/3: the most of the peer's allowed dynamic table size our
   * encoder uses; may be 0 (no dynamic table). Default 4096, at most
   * 2^30. */
  ZTTP_LIMIT_ENCODER_TABLE_SIZE = 15,
  /** HTTP/2: CONTINUATION frames after one HEADERS or PUSH_PROMISE frame
   * (the block's bytes are capped by MAX_HEADER_BYTES). Default 32. */
  ZTTP_LIMIT_H2_MAX_CONTINUATIONS = 16,
  /** HTTP/2, HTTP/3: stream resets the peer may cause in a burst (its
   * RST_STREAM frames, and resets we send because of its stream errors:
   * CVE-2023-44487, CVE-2025-8671); a token bucket refilled at
   * ZTTP_LIMIT_RESET_RATE per second of zttp_conn_set_time() time. Running
   * out is ENHANCE_YOUR_CALM. Default 1000. */
  ZTTP_LIMIT_RESET_BURST = 17,
  /** Tokens per second refilling ZTTP_LIMIT_RESET_BURST. Default 33. */
  ZTTP_LIMIT_RESET_RATE = 18,
  /** HTTP/2, HTTP/3: "glitches" the peer may cause in a burst: frames that
   * cost work and carry nothing (empty DATA or header blocks without
   * END_STREAM, SETTINGS and PING floods, PRIORITY frames, frames on closed
   * streams, WINDOW_UPDATE of 0 on a stream): CVE-2019-9512, -9515, -9516,
   * -9518. A token bucket refilled at ZTTP_LIMIT_GLITCH_RATE per second;
   * running out is ENHANCE_YOUR_CALM. Default 1000. */
  ZTTP_LIMIT_GLITCH_BURST = 19,
  /** Tokens per second refilling ZTTP_LIMIT_GLITCH_BURST. Default 100. */
  ZTTP_LIMIT_GLITCH_RATE = 20,
  /** HTTP/2: frames the peer made us queue (SETTINGS and PING
   * acknowledgements, RST_STREAM, 431 responses) since our output was last
   * drained; more is ENHANCE_YOUR_CALM, so a peer that never reads cannot
   * grow our output (CVE-2019-9512, -9515). Default 1000, at most 100000. */
  ZTTP_LIMIT_H2_MAX_QUEUED_CONTROL = 21,
  /** HTTP/3: header sections that may wait for QPACK encoder-stream inserts
   * at once, advertised as SETTINGS_QPACK_BLOCKED_STREAMS (RFC 9204 §2.1.2);
   * one more is QPACK_DECOMPRESSION_FAILED. 0..65535, default 16. */
  ZTTP_LIMIT_QPACK_BLOCKED_STREAMS = 22,
  /** HTTP/3: the QUIC idle timeout in milliseconds, advertised as
   * max_idle_timeout (RFC 9000 §10.1); 0 means none. At most 86400000,
   * default 30000. */
  ZTTP_LIMIT_IDLE_TIMEOUT = 23
};

/**
 * zttp_option names a connection option for zttp_config_set_option(). Ids
 * are never renumbered; new ones are appended.
 * @since 0.1.0
 */
enum zttp_option {
  /** 1: an HTTP/2 or HTTP/3 server advertises
   * SETTINGS_ENABLE_CONNECT_PROTOCOL and accepts extended CONNECT requests
   * (RFC 8441, RFC 9220) with a :protocol. Default 0. */
  ZTTP_OPT_ENABLE_CONNECT_PROTOCOL = 1,
  /** 1: the byte stream runs over TLS, so an HTTP/2 client sends
   * :scheme https unless the request names one (0: http). Servers report
   * the :scheme they receive and ignore this option. Default 0. */
  ZTTP_OPT_TLS = 2,
  /** 1: an HTTP/3 connection advertises SETTINGS_H3_DATAGRAM and QUIC
   * max_datagram_frame_size (RFC 9297, RFC 9221): HTTP datagrams arrive as
   * ZTTP_EVENT_DATAGRAM and zttp_conn_send_datagram() sends them once the
   * peer enabled them too. Default 0. */
  ZTTP_OPT_H3_DATAGRAM = 3
};

/**
 * zttp_lenient bits relax one HTTP/1.1 strictness rule each. All are off by
 * default; each accepts input that RFC 9112 lets a recipient reject and that
 * request smuggling and response splitting exploit. Enable only for a peer
 * you trust.
 * @since 0.1.0
 */
enum zttp_lenient {
  /** Accept Content-Length with Transfer-Encoding: the coding wins and the
   * connection closes after the message (RFC 9112 §6.3 item 3). */
  ZTTP_LENIENT_CL_AND_TE = 1u << 0,
  /** Accept differing Content-Length values; the first one is used. */
  ZTTP_LENIENT_CONFLICTING_CONTENT_LENGTH = 1u << 1,
  /** Accept chunked that is not the final coding or appears twice; the
   * message is then read as chunked and the connection closes after it. */
  ZTTP_LENIENT_TRANSFER_ENCODING = 1u << 2,
  /** Accept a bare LF as a line end. */
  ZTTP_LENIENT_BARE_LF = 1u << 3,
  /** Accept a bare CR inside a field value; it is replaced by SP
   * (RFC 9112 §2.2). */
  ZTTP_LENIENT_BARE_CR = 1u << 4,
  /** Accept obs-fold: each fold becomes one SP (RFC 9112 §5.2); a
   * whitespace-preceded line before the first field is ignored
   * (RFC 9112 §2.2). */
  ZTTP_LENIENT_OBS_FOLD = 1u << 5,
  /** Accept whitespace between a field name and its colon; it is removed. */
  ZTTP_LENIENT_SPACE_BEFORE_COLON = 1u << 6,
  /** Accept a leading '+' and surrounding whitespace in Content-Length
   * (hex and overflow are never accepted). */
  ZTTP_LENIENT_CONTENT_LENGTH = 1u << 7,
  /** Accept any HTTP/1.<digit> version, handled as HTTP/1.1. */
  ZTTP_LENIENT_VERSION = 1u << 8,
  /** Accept an HTTP/1.1 request with no Host or several. */
  ZTTP_LENIENT_HOST = 1u << 9,
  /** Accept whitespace between a chunk size and its line end or
   * extensions. */
  ZTTP_LENIENT_CHUNK_SIZE = 1u << 10
};

/**
 * zttp_config_new allocates a config with every default into |*out|, using
 * |alloc| (copied; NULL means the C library's malloc/realloc/free) for it and
 * for every connection created from it. Free it with zttp_config_free().
 * Returns 0, ZTTP_ERR_INVALID_ARGUMENT or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_new(zttp_config **out,
                                    const zttp_allocator *alloc);

/**
 * zttp_config_free frees |cfg|; connections created from it are unaffected.
 * NULL is a no-op.
 * @since 0.1.0
 */
ZTTP_EXTERN void zttp_config_free(zttp_config *cfg);

/**
 * zttp_config_set_limit sets limit |id| (enum zttp_limit) to |value|.
 * Returns 0, or ZTTP_ERR_INVALID_ARGUMENT for an unknown id or a value
 * outside the limit's documented range (only the table sizes,
 * ZTTP_LIMIT_QPACK_BLOCKED_STREAMS and ZTTP_LIMIT_IDLE_TIMEOUT may be 0;
 * sizes are capped at 2^31). Combinations are checked by zttp_conn_new().
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_limit(zttp_config *cfg, uint32_t id,
                                          uint64_t value);

/**
 * zttp_config_get_limit stores the current value of limit |id| in |*value|.
 * Returns 0 or ZTTP_ERR_INVALID_ARGUMENT.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_get_limit(const zttp_config *cfg,
                                          uint64_t *value, uint32_t id);

/**
 * zttp_config_set_option sets option |id| (enum zttp_option) to |value|.
 * Returns 0, or ZTTP_ERR_INVALID_ARGUMENT for an unknown id or a value
 * outside the option's documented range.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_option(zttp_config *cfg, uint32_t id,
                                           uint64_t value);

/**
 * zttp_config_set_lenient replaces the set of enum zttp_lenient bits.
 * Returns 0, or ZTTP_ERR_INVALID_ARGUMENT for an unknown bit.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_lenient(zttp_config *cfg, uint32_t flags);

/**
 * zttp_config_set_tls_cert_key names the PEM certificate chain (leaf first)
 * and private key files a QUIC/HTTP/3 server presents (copied; replaces PEM
 * set with zttp_config_set_tls_cert_key_pem()). Both files are read and
 * checked at once; they are loaded again, once for all connections of
 * |cfg|, when its first QUIC server connection is created. Returns 0,
 * ZTTP_ERR_TLS_CONFIG (a file cannot be read, holds no PEM certificate or
 * key, or the key does not match the certificate; |cfg| is unchanged),
 * ZTTP_ERR_INVALID_ARGUMENT or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_tls_cert_key(zttp_config *cfg,
                                                 const char *cert_file,
                                                 const char *key_file);

/**
 * zttp_config_set_tls_cert_key_pem sets the certificate chain (leaf first,
 * |cert_len| bytes of PEM at |cert_pem|) and private key (|key_len| bytes
 * of PEM at |key_pem|) a QUIC/HTTP/3 server presents, both copied; replaces
 * files set with zttp_config_set_tls_cert_key(). Checked at once as that
 * call checks files. Returns 0, ZTTP_ERR_TLS_CONFIG (no PEM certificate or
 * key, or the key does not match the certificate; |cfg| is unchanged),
 * ZTTP_ERR_INVALID_ARGUMENT or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_tls_cert_key_pem(zttp_config *cfg,
                                                     const char *cert_pem,
                                                     size_t cert_len,
                                                     const char *key_pem,
                                                     size_t key_len);

/**
 * zttp_config_set_tls_ca names a PEM CA bundle file and/or a hashed CA
 * directory (either may be NULL; both NULL means the system store,
 * /etc/ssl/certs, or $SSL_CERT_FILE and $SSL_CERT_DIR) a QUIC/HTTP/3 client
 * verifies the server's certificate chain against (copied). A file is read
 * and checked at once. Returns 0, ZTTP_ERR_TLS_CONFIG (the file cannot be
 * read or holds no certificate; |cfg| is unchanged) or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_tls_ca(zttp_config *cfg,
                                           const char *ca_file,
                                           const char *ca_dir);

/**
 * zttp_config_set_tls_insecure_no_verify turns the client's verification
 * of the server's certificate chain and host name off when |insecure| is 1.
 * The default, 0, verifies: a QUIC/HTTP/3 client then needs a server name
 * (zttp_config_set_server_name()). Returns 0 or ZTTP_ERR_INVALID_ARGUMENT.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_tls_insecure_no_verify(zttp_config *cfg,
                                                           uint32_t insecure);

/**
 * zttp_config_set_server_name sets the host name (or IPv4/IPv6 address) a
 * QUIC/HTTP/3 client sends in SNI (not for an address) and verifies the
 * server's certificate against (copied, |len| bytes, 1..255, no NUL).
 * Returns 0, ZTTP_ERR_INVALID_ARGUMENT or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_server_name(zttp_config *cfg,
                                                const char *name, size_t len);

/**
 * zttp_config_set_alpn sets the ALPN protocols (RFC 7301) of QUIC
 * connections, in preference order: a client offers them, a server picks
 * the first of its own list that the client offered and fails the
 * handshake with no_application_protocol (QUIC error 0x178, RFC 9001 §8.1)
 * when there is none. |protocols| holds |num_protocols| names of 1..255
 * bytes each (copied; at most 65535 bytes in all with a length byte per
 * name); 0 protocols restores the default, "h3". Returns 0,
 * ZTTP_ERR_INVALID_ARGUMENT or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_alpn(zttp_config *cfg,
                                         const zttp_str *protocols,
                                         size_t num_protocols);

/** ZTTP_TLS_CIPHER_AES_128_GCM_SHA256 names TLS_AES_128_GCM_SHA256 for
 * zttp_config_set_tls_ciphers(). @since 0.1.0 */
#define ZTTP_TLS_CIPHER_AES_128_GCM_SHA256 0x1u
/** ZTTP_TLS_CIPHER_AES_256_GCM_SHA384 names TLS_AES_256_GCM_SHA384.
 * @since 0.1.0 */
#define ZTTP_TLS_CIPHER_AES_256_GCM_SHA384 0x2u
/** ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256 names
 * TLS_CHACHA20_POLY1305_SHA256. @since 0.1.0 */
#define ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256 0x4u

/**
 * zttp_config_set_tls_ciphers sets the TLS 1.3 cipher suites QUIC
 * connections accept: a set of ZTTP_TLS_CIPHER_* bits, 0 for all three
 * (the default). This BoringSSL cannot restrict the suites it offers or
 * picks, so the set is checked when the handshake has chosen one: a suite
 * outside it fails the handshake with handshake_failure (QUIC error
 * 0x128). A client therefore cannot steer the server's choice, which
 * follows the client's order (AES-GCM first on CPUs with AES instructions).
 * Returns 0 or ZTTP_ERR_INVALID_ARGUMENT (an unknown bit).
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_tls_ciphers(zttp_config *cfg,
                                                uint32_t mask);

/**
 * zttp_config_set_tls_groups sets the key-exchange groups QUIC connections
 * use, in preference order, as a NUL-terminated, colon-separated list such
 * as "X25519:P-256" (names: X25519, P-256, P-384, P-521; copied). NULL
 * restores BoringSSL's default. Returns 0, ZTTP_ERR_INVALID_ARGUMENT (an
 * empty list or a name BoringSSL does not know) or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_config_set_tls_groups(zttp_config *cfg,
                                               const char *list);

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

/** zttp_conn is one opaque connection: one engine in one role.
 * @since 0.1.0 */
typedef struct zttp_conn zttp_conn;

/**
 * zttp_conn_new creates a connection in |role| (enum zttp_role) running
 * |protocol| (enum zttp_protocol) with a copy of |cfg| (NULL: defaults)
 * into |*out|. HTTP/3: a client starts its QUIC connection at once (server
 * name, ALPN and verification from |cfg|); a server starts it with the
 * first client Initial given to zttp_conn_receive_datagram(). Returns 0,
 * ZTTP_ERR_INVALID_ARGUMENT, ZTTP_ERR_NOMEM, ZTTP_ERR_TLS_CONFIG (HTTP/3:
 * the TLS settings cannot make a context) or ZTTP_ERR_UNSUPPORTED for a
 * protocol this build does not implement yet.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_new(zttp_conn **out, const zttp_config *cfg,
                                  uint32_t role, uint32_t protocol);

/**
 * zttp_conn_free frees |conn| and everything it owns; every pointer it
 * handed out becomes invalid. NULL is a no-op.
 * @since 0.1.0
 */
ZTTP_EXTERN void zttp_conn_free(zttp_conn *conn);

/**
 * zttp_conn_receive_data hands |len| bytes received on the byte stream
 * (HTTP/1.1, HTTP/2) to |conn|; |len| == 0 means the peer closed its
 * sending side (EOF). It invalidates pointers from earlier events.
 * Returns the number of bytes taken, which is less than |len| only when the
 * input buffer (ZTTP_LIMIT_INPUT_BUFFER) is full or the engine stopped
 * reading (pipelining limit, a pending upgrade, the connection closing):
 * drain events with zttp_conn_next_event() and offer the rest again.
 * Errors: ZTTP_ERR_INVALID_STATE (HTTP/3, or input after EOF or an
 * upgrade), ZTTP_ERR_NOMEM, or the connection's fatal error.
 * @since 0.1.0
 */
ZTTP_EXTERN int64_t zttp_conn_receive_data(zttp_conn *conn, const uint8_t *data,
                                           size_t len);

/**
 * zttp_conn_receive_datagram hands one UDP payload received on |path| at
 * |now| to an HTTP/3 connection. A server's first datagram must carry a
 * client Initial (QUIC v1) of at least 1200 bytes; anything else before it
 * is dropped (0). |path| is the datagram's real source and destination
 * (RFC 9000 §9): a server follows a client whose address changes once the
 * handshake is confirmed (ZTTP_EVENT_PATH) and answers path probes where
 * they came from; a client drops datagrams from any address other than
 * its server's (learnt from the first one if the connection was created
 * without it). Returns 0, ZTTP_ERR_INVALID_STATE (HTTP/1.1, HTTP/2) or a
 * fatal error (the peer broke QUIC or HTTP/3; the CONNECTION_CLOSE goes out
 * with zttp_conn_write_datagram()).
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_receive_datagram(zttp_conn *conn,
                                               const uint8_t *data, size_t len,
                                               const zttp_path *path,
                                               zttp_tstamp now);

/* Event kinds. Numbers are never renumbered or reused. */
/** No event is ready: feed more input. */
#define ZTTP_EVENT_NEED_DATA 0u
/** A request head (server role): u.request. */
#define ZTTP_EVENT_REQUEST 1u
/** A response head, 1xx included (client role): u.response. */
#define ZTTP_EVENT_RESPONSE 2u
/** One span of body data: u.data. */
#define ZTTP_EVENT_DATA 3u
/** The message on stream_id is complete: u.end (trailers, maybe none). */
#define ZTTP_EVENT_END_MESSAGE 4u
/** The peer closed the connection: u.closed. No event follows. */
#define ZTTP_EVENT_CONNECTION_CLOSED 5u
/** stream_id was reset (HTTP/2, HTTP/3): u.reset. Either the peer reset it,
 * or zttp did because the peer broke a stream rule (the code says which
 * error was sent), or a GOAWAY said the peer never processed it
 * (REFUSED_STREAM: safe to retry). Not reported for resets the application
 * asked for. */
#define ZTTP_EVENT_STREAM_RESET 6u
/** The peer is shutting down (HTTP/2 GOAWAY, HTTP/3 GOAWAY): u.goaway. */
#define ZTTP_EVENT_GOAWAY 7u
/** The peer's settings arrived (HTTP/2, HTTP/3): u.settings. */
#define ZTTP_EVENT_SETTINGS 8u
/** A PING arrived or was acknowledged (HTTP/2): u.ping. */
#define ZTTP_EVENT_PING 9u
/** stream_id can take more data after zttp_conn_send_data() took less than
 * offered: u.window. stream_id 0 means the connection window opened: retry
 * every stream that was short. Output that drains (zttp_conn_consume())
 * makes room too, without an event. */
#define ZTTP_EVENT_WINDOW_UPDATE 10u
/** The connection was upgraded or became a tunnel (HTTP/1.1 101 or 2xx to
 * CONNECT): u.data holds the bytes received after the head, untouched.
 * The engine reads no further input; pending output may still be sent. */
#define ZTTP_EVENT_UPGRADE 11u
/** The QUIC handshake completed (HTTP/3). */
#define ZTTP_EVENT_HANDSHAKE_DONE 12u
/** A TLS session ticket for resumption arrived (HTTP/3): u.data. */
#define ZTTP_EVENT_SESSION_TICKET 13u
/** An unreliable datagram arrived (HTTP/3, RFC 9297): u.data. */
#define ZTTP_EVENT_DATAGRAM 14u
/** The path a server sends on changed or was validated (HTTP/3, RFC 9000
 * §9): u.path. validated 0: the client moved (a NAT rebinding or a
 * migration) and zttp now sends to u.path.path while it validates it (at
 * most three times what arrived from it until then); validated 1: u.path.path
 * is proven, or validation failed and zttp fell back to the previous path,
 * u.path.path. zttp_conn_write_datagram() already reports the path of every
 * datagram: the event is for logging and per-address accounting. */
#define ZTTP_EVENT_PATH 15u
/** The peer changed the priority of stream_id (RFC 9218 PRIORITY_UPDATE;
 * HTTP/2, HTTP/3): u.priority. A request's priority header field is in its
 * headers and already applies; no event repeats it. */
#define ZTTP_EVENT_PRIORITY 16u

/* HTTP/2 error codes (RFC 9113 §7): for zttp_conn_reset_stream() and
 * zttp_conn_close(), and as reported in ZTTP_EVENT_STREAM_RESET,
 * ZTTP_EVENT_GOAWAY and zttp_conn_last_error(). */
#define ZTTP_H2_NO_ERROR 0x0u
#define ZTTP_H2_PROTOCOL_ERROR 0x1u
#define ZTTP_H2_INTERNAL_ERROR 0x2u
#define ZTTP_H2_FLOW_CONTROL_ERROR 0x3u
#define ZTTP_H2_SETTINGS_TIMEOUT 0x4u
#define ZTTP_H2_STREAM_CLOSED 0x5u
#define ZTTP_H2_FRAME_SIZE_ERROR 0x6u
#define ZTTP_H2_REFUSED_STREAM 0x7u
#define ZTTP_H2_CANCEL 0x8u
#define ZTTP_H2_COMPRESSION_ERROR 0x9u
#define ZTTP_H2_CONNECT_ERROR 0xau
#define ZTTP_H2_ENHANCE_YOUR_CALM 0xbu
#define ZTTP_H2_INADEQUATE_SECURITY 0xcu
#define ZTTP_H2_HTTP_1_1_REQUIRED 0xdu

/* HTTP/2 setting identifiers (RFC 9113 §6.5.2, RFC 8441 §3, RFC 9218 §2.1)
 * as reported in ZTTP_EVENT_SETTINGS. */
#define ZTTP_H2_SETTINGS_HEADER_TABLE_SIZE 0x1u
#define ZTTP_H2_SETTINGS_ENABLE_PUSH 0x2u
#define ZTTP_H2_SETTINGS_MAX_CONCURRENT_STREAMS 0x3u
#define ZTTP_H2_SETTINGS_INITIAL_WINDOW_SIZE 0x4u
#define ZTTP_H2_SETTINGS_MAX_FRAME_SIZE 0x5u
#define ZTTP_H2_SETTINGS_MAX_HEADER_LIST_SIZE 0x6u
#define ZTTP_H2_SETTINGS_ENABLE_CONNECT_PROTOCOL 0x8u
#define ZTTP_H2_SETTINGS_NO_RFC7540_PRIORITIES 0x9u

/* HTTP/3 error codes (RFC 9114 §8.1, RFC 9204 §6, RFC 9297 §5.2): for
 * zttp_conn_reset_stream() and zttp_conn_close() on HTTP/3, and as
 * reported in ZTTP_EVENT_STREAM_RESET, ZTTP_EVENT_CONNECTION_CLOSED and
 * zttp_conn_last_error(). */
#define ZTTP_H3_NO_ERROR 0x100u
#define ZTTP_H3_GENERAL_PROTOCOL_ERROR 0x101u
#define ZTTP_H3_INTERNAL_ERROR 0x102u
#define ZTTP_H3_STREAM_CREATION_ERROR 0x103u
#define ZTTP_H3_CLOSED_CRITICAL_STREAM 0x104u
#define ZTTP_H3_FRAME_UNEXPECTED 0x105u
#define ZTTP_H3_FRAME_ERROR 0x106u
#define ZTTP_H3_EXCESSIVE_LOAD 0x107u
#define ZTTP_H3_ID_ERROR 0x108u
#define ZTTP_H3_SETTINGS_ERROR 0x109u
#define ZTTP_H3_MISSING_SETTINGS 0x10au
#define ZTTP_H3_REQUEST_REJECTED 0x10bu
#define ZTTP_H3_REQUEST_CANCELLED 0x10cu
#define ZTTP_H3_REQUEST_INCOMPLETE 0x10du
#define ZTTP_H3_MESSAGE_ERROR 0x10eu
#define ZTTP_H3_CONNECT_ERROR 0x10fu
#define ZTTP_H3_VERSION_FALLBACK 0x110u
#define ZTTP_QPACK_DECOMPRESSION_FAILED 0x200u
#define ZTTP_QPACK_ENCODER_STREAM_ERROR 0x201u
#define ZTTP_QPACK_DECODER_STREAM_ERROR 0x202u
#define ZTTP_H3_DATAGRAM_ERROR 0x33u

/* Event flags (zttp_event.flags). */
/** No body follows this head on this stream (END_MESSAGE still follows). */
#define ZTTP_EVENT_FLAG_END_STREAM 0x1u
/** The request carries Expect: 100-continue. */
#define ZTTP_EVENT_FLAG_EXPECT_CONTINUE 0x2u
/** The request asks to switch protocols (an HTTP/1.1 Upgrade field with
 * the "upgrade" connection option, RFC 9110 §7.8), or is a CONNECT. */
#define ZTTP_EVENT_FLAG_UPGRADE 0x4u
/** The connection closes after this exchange (HTTP/1.1). */
#define ZTTP_EVENT_FLAG_CLOSE 0x8u
/** ZTTP_EVENT_PING: this is an acknowledgement. */
#define ZTTP_EVENT_FLAG_ACK 0x10u

/** zttp_request_event: a request head. http_version is 10, 11, 20 or 30.
 * target is the request-target as received (HTTP/2 and HTTP/3: :path);
 * path and query split it at the first '?' (query excludes it); authority
 * is the Host field or :authority; scheme and protocol are set on HTTP/2
 * and HTTP/3 only. @since 0.1.0 */
typedef struct zttp_request_event {
  zttp_str method;
  zttp_str target;
  zttp_str path;
  zttp_str query;
  zttp_str authority;
  zttp_str scheme;
  zttp_str protocol;
  const zttp_header *headers;
  size_t num_headers;
  uint32_t http_version;
  uint32_t reserved;
} zttp_request_event;

/** zttp_response_event: a response head; status 100..599. @since 0.1.0 */
typedef struct zttp_response_event {
  uint32_t status;
  uint32_t http_version;
  zttp_str reason;
  const zttp_header *headers;
  size_t num_headers;
} zttp_response_event;

/** zttp_data_event: |len| bytes at |data|. @since 0.1.0 */
typedef struct zttp_data_event {
  const uint8_t *data;
  size_t len;
} zttp_data_event;

/** zttp_end_event: the trailer fields, if any. @since 0.1.0 */
typedef struct zttp_end_event {
  const zttp_header *trailers;
  size_t num_trailers;
} zttp_end_event;

/** zttp_closed_event: |error| is 0 for a clean close, else the ZTTP_ERR_*
 * that ended it (an HTTP/1.1 client whose requests went unanswered gets
 * ZTTP_ERR_UNEXPECTED_EOF, so it can decide to retry them); wire_error_code
 * is the protocol's code (HTTP/2, QUIC). @since 0.1.0 */
typedef struct zttp_closed_event {
  int32_t error;
  uint32_t reserved;
  uint64_t wire_error_code;
  zttp_str reason;
} zttp_closed_event;

/** zttp_reset_event: the peer's wire error code. @since 0.1.0 */
typedef struct zttp_reset_event {
  uint64_t error_code;
} zttp_reset_event;

/** zttp_goaway_event: the last stream the peer will process, its error
 * code and debug data. HTTP/3 (RFC 9114 §5.2): last_stream_id is the
 * GOAWAY's id, the first request stream (from a server) or push id (from a
 * client) the peer will not process; error_code is H3_NO_ERROR.
 * @since 0.1.0 */
typedef struct zttp_goaway_event {
  int64_t last_stream_id;
  uint64_t error_code;
  zttp_str debug_data;
} zttp_goaway_event;

/** zttp_setting is one (identifier, value) pair. @since 0.1.0 */
typedef struct zttp_setting {
  uint64_t id;
  uint64_t value;
} zttp_setting;

/** zttp_settings_event: the settings in the order received.
 * @since 0.1.0 */
typedef struct zttp_settings_event {
  const zttp_setting *settings;
  size_t num_settings;
} zttp_settings_event;

/** zttp_ping_event: the 8 opaque bytes. @since 0.1.0 */
typedef struct zttp_ping_event {
  uint8_t opaque_data[8];
} zttp_ping_event;

/** zttp_window_event: how many bytes zttp_conn_send_data() would now take
 * on the stream. @since 0.1.0 */
typedef struct zttp_window_event {
  uint64_t available;
} zttp_window_event;

/** zttp_priority_event: RFC 9218 urgency (0..7, lower is more urgent)
 * and incremental (0 or 1). @since 0.1.0 */
typedef struct zttp_priority_event {
  uint32_t urgency;
  uint32_t incremental;
} zttp_priority_event;

/** zttp_path_event: the path concerned and whether its peer address is
 * validated (ZTTP_EVENT_PATH). @since 0.1.0 */
typedef struct zttp_path_event {
  zttp_path path;
  uint32_t validated;
  uint32_t reserved;
} zttp_path_event;

/**
 * zttp_event is one event from zttp_conn_next_event(): |kind| (a
 * ZTTP_EVENT_* value) selects the member of |u|; |flags| holds
 * ZTTP_EVENT_FLAG_* bits; every event names its stream (HTTP/1.1 uses 0).
 * The union keeps reserved room so new kinds never change its size.
 * @since 0.1.0
 */
typedef struct zttp_event {
  uint32_t kind;
  uint32_t flags;
  int64_t stream_id;
  union {
    zttp_request_event request;
    zttp_response_event response;
    zttp_data_event data;
    zttp_end_event end;
    zttp_closed_event closed;
    zttp_reset_event reset;
    zttp_goaway_event goaway;
    zttp_settings_event settings;
    zttp_ping_event ping;
    zttp_window_event window;
    zttp_path_event path;
    zttp_priority_event priority;
    uint64_t reserved[32];
  } u;
} zttp_event;

/**
 * zttp_conn_next_event fills |*ev| with the next event. Returns 1 when an
 * event was produced, 0 when none is ready (ev->kind is then
 * ZTTP_EVENT_NEED_DATA), or a negative error: a fatal one (the peer broke
 * the protocol or a limit; see zttp_conn_last_error()) or ZTTP_ERR_NOMEM.
 * The event's pointers are valid until the next call that can change them
 * (see the file comment).
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_next_event(zttp_conn *conn, zttp_event *ev);

/* Send flags. */
/** The message ends with this call: no body (or no more body) follows. */
#define ZTTP_SEND_FLAG_END_STREAM 0x1u

/**
 * zttp_conn_send_request queues a request head (client role). |method| and
 * |target| are the request line's; |headers| are sent in order (HTTP/1.1
 * needs exactly one Host; HTTP/2 and HTTP/3 turn it into :authority and
 * accept leading :scheme, :authority and :protocol entries). Framing: a
 * Content-Length or Transfer-Encoding: chunked header is honoured; without
 * either, HTTP/1.1 uses chunked unless |flags| has ZTTP_SEND_FLAG_END_STREAM.
 * HTTP/1.1: a CONNECT request carries no content, its message ends with
 * the head. HTTP/2: the CONNECT stream carries the tunnel in send_data and
 * DATA events (RFC 9113 §8.5); no :scheme or :path is sent.
 * HTTP/2 and HTTP/3 send names lowercased and refuse connection-specific
 * fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
 * Upgrade; TE other than "trailers").
 * Returns the new stream id (HTTP/1.1: 0), or ZTTP_ERR_INVALID_FIELD (a
 * byte or field the serializer refuses; nothing is queued),
 * ZTTP_ERR_INVALID_STATE (wrong role, the previous request's body is not
 * finished, the pipeline is full, stream ids are exhausted),
 * ZTTP_ERR_STREAM_LIMIT (HTTP/2: the peer's SETTINGS_MAX_CONCURRENT_STREAMS
 * streams are open; retry when one closes), ZTTP_ERR_CLOSED (the
 * connection is closing: a GOAWAY was sent or received),
 * ZTTP_ERR_BUFFER_FULL, ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int64_t zttp_conn_send_request(zttp_conn *conn, const char *method,
                                           size_t method_len,
                                           const char *target,
                                           size_t target_len,
                                           const zttp_header *headers,
                                           size_t num_headers, uint32_t flags);

/**
 * zttp_conn_send_response queues a final response head (status 200..599) on
 * |stream_id| (server role; HTTP/1.1 answers requests in order on stream 0).
 * |reason| (may be NULL: the standard phrase) is used on HTTP/1.1 only.
 * Framing as for zttp_conn_send_request(); bodyless responses (HEAD, 204,
 * 304, 2xx to CONNECT) take none. HTTP/1.1 adds Connection: close when the
 * exchange requires it. Returns 0 or the errors of
 * zttp_conn_send_request(), plus ZTTP_ERR_STREAM_NOT_FOUND.
 * The one exception to poisoning: after a fatal error caused by the peer, an
 * HTTP/1.1 server may still queue one response with status 400..599 and
 * ZTTP_SEND_FLAG_END_STREAM (no body, no Content-Length, Transfer-Encoding
 * or Connection field) when no response is under way; zttp adds
 * Content-Length: 0 and Connection: close. Otherwise it returns the
 * connection's error.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_send_response(zttp_conn *conn, int64_t stream_id,
                                            uint32_t status, const char *reason,
                                            size_t reason_len,
                                            const zttp_header *headers,
                                            size_t num_headers, uint32_t flags);

/**
 * zttp_conn_send_informational queues a 1xx response head (100..199, not
 * 101 on HTTP/2 and HTTP/3) on |stream_id| before the final response. On
 * HTTP/1.1, 101 accepts the request's Upgrade: once it is queued, the next
 * event is ZTTP_EVENT_UPGRADE. Returns 0 or the errors of
 * zttp_conn_send_response().
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_send_informational(zttp_conn *conn,
                                                 int64_t stream_id,
                                                 uint32_t status,
                                                 const zttp_header *headers,
                                                 size_t num_headers);

/**
 * zttp_conn_send_data queues up to |len| body bytes on |stream_id| (copied)
 * and returns how many it took: fewer than |len| when the output buffer or
 * the flow-control window is short (zttp_conn_send_window() tells how many
 * it would take). With ZTTP_SEND_FLAG_END_STREAM the message ends once all
 * |len| bytes were taken. Errors: ZTTP_ERR_FRAMING (more than the declared
 * Content-Length, or a body on a bodyless message), ZTTP_ERR_INVALID_STATE,
 * ZTTP_ERR_STREAM_NOT_FOUND, ZTTP_ERR_CLOSED (HTTP/3: the connection is
 * closing), ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int64_t zttp_conn_send_data(zttp_conn *conn, int64_t stream_id,
                                        const uint8_t *data, size_t len,
                                        uint32_t flags);

/**
 * zttp_conn_end_message ends the message on |stream_id| with |trailers|
 * (num_trailers may be 0; HTTP/1.1 sends trailers only in a chunked body).
 * Returns 0, ZTTP_ERR_FRAMING (fewer bytes sent than the Content-Length,
 * or trailers that the framing cannot carry), ZTTP_ERR_INVALID_FIELD,
 * ZTTP_ERR_INVALID_STATE, ZTTP_ERR_BUFFER_FULL, ZTTP_ERR_STREAM_NOT_FOUND,
 * ZTTP_ERR_CLOSED (HTTP/3: the connection is closing), ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_end_message(zttp_conn *conn, int64_t stream_id,
                                          const zttp_header *trailers,
                                          size_t num_trailers);

/**
 * zttp_conn_reset_stream abandons |stream_id| with the wire |error_code|
 * (HTTP/2 RST_STREAM, HTTP/3 RESET_STREAM/STOP_SENDING). HTTP/1.1 has no
 * streams: it drops unsent output and the connection must close
 * (zttp_conn_should_close() turns 1). On HTTP/3 both directions are
 * abandoned (RESET_STREAM and STOP_SENDING, RFC 9114 §4.1.1) and 0 means
 * ZTTP_H3_REQUEST_CANCELLED. Returns 0, ZTTP_ERR_STREAM_NOT_FOUND or
 * ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_reset_stream(zttp_conn *conn, int64_t stream_id,
                                           uint64_t error_code);

/** zttp_conn_close flag: finish the exchanges in progress, then close. */
#define ZTTP_CLOSE_FLAG_GRACEFUL 0x1u

/**
 * zttp_conn_close starts closing the connection with the wire |error_code|
 * (HTTP/2 GOAWAY, QUIC CONNECTION_CLOSE; HTTP/1.1 ignores it; on HTTP/3
 * 0 means H3_NO_ERROR, 0x100, and a graceful close sends GOAWAY (RFC 9114
 * §5.2) and closes with H3_NO_ERROR once the streams below it finished;
 * if the GOAWAY cannot be queued, the close is immediate). With
 * ZTTP_CLOSE_FLAG_GRACEFUL, messages in progress finish first (HTTP/1.1: the
 * response in progress gets Connection: close and no further request is
 * read); without it, unsent output is dropped at once. Close the transport
 * when zttp_conn_should_close() is 1 and no output is pending.
 * Returns 0 or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_close(zttp_conn *conn, uint64_t error_code,
                                    uint32_t flags);

/**
 * zttp_conn_should_close returns 1 when the caller should close the
 * transport once zttp_conn_pending() is 0 (HTTP/1.1: Connection: close, an
 * HTTP/1.0 exchange without keep-alive, a close-delimited body; HTTP/2: an
 * immediate zttp_conn_close(), a final GOAWAY sent or received with no
 * stream left open; both: EOF from the peer, a fatal error; HTTP/3: the QUIC
 * closing or draining period ended), else 0.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_should_close(const zttp_conn *conn);

/**
 * zttp_conn_send_window returns how many body bytes zttp_conn_send_data()
 * would take now on |stream_id| (0 when no body can be sent on it now), or
 * ZTTP_ERR_STREAM_NOT_FOUND.
 * @since 0.1.0
 */
ZTTP_EXTERN int64_t zttp_conn_send_window(const zttp_conn *conn,
                                          int64_t stream_id);

/**
 * zttp_conn_data_consumed tells |conn| the application has processed |len|
 * body bytes of |stream_id|, which reopens flow-control credit (HTTP/2,
 * HTTP/3 send WINDOW_UPDATE / MAX_STREAM_DATA once half a window was
 * consumed). Until then the peer can send at most the windows
 * (ZTTP_LIMIT_STREAM_WINDOW, ZTTP_LIMIT_CONNECTION_WINDOW): this is how a
 * slow reader applies backpressure. When a stream closes, what was not
 * consumed returns to the connection window by itself and later calls for
 * it return 0. HTTP/1.1 has no window: it returns 0. Returns 0,
 * ZTTP_ERR_INVALID_ARGUMENT (more than was received), ZTTP_ERR_STREAM_NOT_FOUND
 * (a stream never opened) or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_data_consumed(zttp_conn *conn, int64_t stream_id,
                                            size_t len);

/**
 * zttp_conn_pending points |*out| at the bytes to write to the byte stream
 * (HTTP/1.1, HTTP/2) and returns their count (0: nothing to send). The
 * bytes stay valid until zttp_conn_consume() or another call that queues
 * output. HTTP/2 frames queued body data here, most urgent stream first
 * (RFC 9218), so after zttp_conn_consume() call it again until it returns
 * 0. Returns 0 on HTTP/3.
 * @since 0.1.0
 */
ZTTP_EXTERN size_t zttp_conn_pending(zttp_conn *conn, const uint8_t **out);

/**
 * zttp_conn_consume marks the first |len| pending bytes as written.
 * Returns 0, or ZTTP_ERR_INVALID_ARGUMENT if |len| exceeds the pending
 * count.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_consume(zttp_conn *conn, size_t len);

/**
 * zttp_conn_write_datagram writes the next UDP payload(s) of an HTTP/3
 * connection into |buf| (|buflen| bytes) at |now|: one datagram, or several
 * of |*segment_size| bytes each (the last may be shorter) for GSO, to send on
 * |*path|; a server's paths change as its client moves (ZTTP_EVENT_PATH),
 * and a batch never mixes paths. Returns the bytes written (0: nothing to
 * send), ZTTP_ERR_INVALID_ARGUMENT (|buflen| under 1200) or
 * ZTTP_ERR_INVALID_STATE (HTTP/1.1, HTTP/2). After a fatal error it still
 * writes the CONNECTION_CLOSE the protocol owes the peer (and returns the error
 * once nothing is left), as zttp_conn_pending() does on a byte stream.
 * @since 0.1.0
 */
ZTTP_EXTERN int64_t zttp_conn_write_datagram(zttp_conn *conn, zttp_path *path,
                                             size_t *segment_size, uint8_t *buf,
                                             size_t buflen, zttp_tstamp now);

/**
 * zttp_conn_next_timeout returns when zttp_conn_handle_timeout() must next be
 * called, or ZTTP_TSTAMP_NEVER (HTTP/1.1 and HTTP/2 have no timers).
 * @since 0.1.0
 */
ZTTP_EXTERN zttp_tstamp zttp_conn_next_timeout(const zttp_conn *conn);

/**
 * zttp_conn_handle_timeout runs the timers that expired by |now|.
 * Returns 0 or a fatal error (an idle timeout closes the connection).
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_handle_timeout(zttp_conn *conn, zttp_tstamp now);

/**
 * zttp_conn_set_time tells |conn| the current time |now| (nanoseconds of a
 * monotonic clock). HTTP/2 refills its reset and glitch budgets from it
 * (ZTTP_LIMIT_RESET_RATE, ZTTP_LIMIT_GLITCH_RATE); a connection whose time
 * never advances never refills them. Call it before zttp_conn_receive_data()
 * whenever the clock moved. Earlier times than the last one are ignored.
 * Returns 0.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_set_time(zttp_conn *conn, zttp_tstamp now);

/**
 * zttp_conn_ping queues an HTTP/2 PING with the 8 bytes at |opaque|
 * (copied); its acknowledgement arrives as ZTTP_EVENT_PING with
 * ZTTP_EVENT_FLAG_ACK. Returns 0, ZTTP_ERR_INVALID_STATE (not HTTP/2),
 * ZTTP_ERR_BUFFER_FULL or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_ping(zttp_conn *conn, const uint8_t *opaque);

/**
 * zttp_conn_set_priority sets the RFC 9218 priority of |stream_id|:
 * |urgency| 0..7 (lower is more urgent, default 3) and |incremental| 0 or 1.
 * A server's scheduler uses it for the response on that stream; a client
 * sends it to the server in a PRIORITY_UPDATE frame. Returns 0,
 * ZTTP_ERR_INVALID_ARGUMENT, ZTTP_ERR_INVALID_STATE (HTTP/1.1),
 * ZTTP_ERR_STREAM_NOT_FOUND, ZTTP_ERR_BUFFER_FULL or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_set_priority(zttp_conn *conn, int64_t stream_id,
                                           uint32_t urgency,
                                           uint32_t incremental);

/**
 * zttp_conn_new_h2c_upgrade creates, into |*out|, an HTTP/2 server
 * connection that continues an HTTP/1.1 server connection after an
 * `Upgrade: h2c` request (RFC 7540 §3.2; RFC 9113 §3.1 deprecates the
 * mechanism but clients still use it). Create it first (so a malformed
 * HTTP2-Settings can still be answered on HTTP/1.1), then answer the request
 * with a 101 (Connection: Upgrade, Upgrade: h2c) on the HTTP/1.1
 * connection, write that connection's pending output, take the bytes from
 * its ZTTP_EVENT_UPGRADE, and only then free it.
 * |http2_settings| is the request's HTTP2-Settings value (base64url SETTINGS
 * payload, |settings_len| bytes), applied as the client's first SETTINGS;
 * |method| is the request's method (HEAD makes the response bodyless).
 * Stream 1 is that request, half-closed (remote): answer it with
 * zttp_conn_send_response(conn, 1, ...). Then hand the bytes from the
 * upgrade event (the client's preface) to zttp_conn_receive_data(). A
 * request with a body cannot be upgraded this way. Returns 0,
 * ZTTP_ERR_INVALID_ARGUMENT, ZTTP_ERR_PROTOCOL (a malformed HTTP2-Settings)
 * or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_new_h2c_upgrade(
    zttp_conn **out, const zttp_config *cfg, const char *method,
    size_t method_len, const char *http2_settings, size_t settings_len);

/**
 * zttp_conn_last_error returns the last error |conn| reported (0 if none)
 * and, for each non-NULL output, its detail: |*message| a NUL-terminated
 * description owned by the connection (valid until the next call on it),
 * |*wire_error_code| the protocol's code sent or received (HTTP/2, HTTP/3,
 * QUIC; 0 on HTTP/1.1), |*stream_id| the stream concerned or -1.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_last_error(const zttp_conn *conn,
                                         const char **message,
                                         uint64_t *wire_error_code,
                                         int64_t *stream_id);

/* ------------------------------------------------------------------------ */
/* HTTP/3 server endpoint                                                   */
/* ------------------------------------------------------------------------ */

/**
 * zttp_endpoint is the stateless side of an HTTP/3 server on one UDP
 * socket: it routes each datagram to its connection by Destination
 * Connection ID (RFC 9000 §5.2), following every connection ID the
 * connections issue and retire; creates a connection for a new client
 * (after a Retry with ZTTP_ENDPOINT_RETRY, RFC 9000 §8.1.2); answers what
 * belongs to no connection without creating one: Version Negotiation for
 * unknown versions (§6), a Stateless Reset for unknown short headers
 * (§10.3), nothing for the rest. Sans-IO like a zttp_conn; not thread-safe.
 * @since 0.1.0
 */
typedef struct zttp_endpoint zttp_endpoint;

/** ZTTP_ENDPOINT_RETRY, a flag of zttp_endpoint_new(): validate every new
 * client's address with a Retry first (RFC 9000 §8.1.2). @since 0.1.0 */
#define ZTTP_ENDPOINT_RETRY 0x1u

/** What zttp_endpoint_receive() did with a datagram. @since 0.1.0 */
enum zttp_endpoint_result {
  /** Nothing to do: not for us, malformed, or refused. */
  ZTTP_ENDPOINT_DROP = 0,
  /** It went to the existing connection *conn. */
  ZTTP_ENDPOINT_CONN = 1,
  /** A new connection *conn was created for it and took it: the caller now
   * owns *conn (drive it, then zttp_endpoint_remove() and zttp_conn_free()
   * it). */
  ZTTP_ENDPOINT_NEW_CONN = 2,
  /** Send the |*reply_len| bytes written to |reply| back to the datagram's
   * sender (a Version Negotiation, Retry or Stateless Reset packet). */
  ZTTP_ENDPOINT_REPLY = 3
};

/** zttp_endpoint_stats counts what an endpoint did. @since 0.1.0 */
typedef struct zttp_endpoint_stats {
  uint64_t routed;     /* datagrams handed to an existing connection */
  uint64_t accepted;   /* connections created */
  uint64_t refused;    /* new clients dropped at the connection cap */
  uint64_t retries;    /* Retry packets sent */
  uint64_t bad_tokens; /* Initials with an invalid or expired Retry token */
  uint64_t version_negotiations;
  uint64_t stateless_resets;
  uint64_t dropped;
} zttp_endpoint_stats;

/**
 * zttp_endpoint_new creates an endpoint into |*out| whose connections are
 * made from |cfg| (kept, not copied: it must outlive the endpoint), with at
 * most |max_connections| at once (a new client beyond them is dropped) and
 * |flags| (ZTTP_ENDPOINT_RETRY). Its Retry-token and Stateless-Reset keys
 * are random; zttp_endpoint_set_keys() shares them between processes.
 * Returns 0, ZTTP_ERR_INVALID_ARGUMENT, ZTTP_ERR_INVALID_STATE (no random
 * source) or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_endpoint_new(zttp_endpoint **out,
                                      const zttp_config *cfg,
                                      size_t max_connections, uint32_t flags);

/**
 * zttp_endpoint_free frees |ep| (not its connections: free those first or
 * after, they do not refer to it). NULL is a no-op.
 * @since 0.1.0
 */
ZTTP_EXTERN void zttp_endpoint_free(zttp_endpoint *ep);

/**
 * zttp_endpoint_set_keys sets the 32-byte keys (copied) that authenticate
 * Retry tokens (|token_key|) and derive Stateless Reset tokens
 * (|reset_key|, RFC 9000 §10.3.2), so that several processes serving one
 * address recognise each other's tokens. Only before the first connection.
 * Returns 0, ZTTP_ERR_INVALID_ARGUMENT or ZTTP_ERR_INVALID_STATE.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_endpoint_set_keys(zttp_endpoint *ep,
                                           const uint8_t *token_key,
                                           const uint8_t *reset_key);

/**
 * zttp_endpoint_receive takes one UDP payload (|len| bytes at |data|,
 * borrowed) received on |path| at |now| and routes it: to the connection
 * whose connection ID it names (zttp_conn_receive_datagram() is called;
 * the connection reports its own errors through its calls), to a new
 * connection for a client's first Initial, or to a stateless reply written
 * into |reply| (|reply_cap| bytes; 1200 is always enough) with its length
 * in |*reply_len|. |*conn| is the connection concerned, or NULL. Returns an
 * enum zttp_endpoint_result, or ZTTP_ERR_INVALID_ARGUMENT,
 * ZTTP_ERR_BUFFER_FULL (|reply_cap| too small), ZTTP_ERR_NOMEM, or an error
 * of zttp_conn_new() (a TLS configuration error, say).
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_endpoint_receive(zttp_endpoint *ep, zttp_conn **conn,
                                          uint8_t *reply, size_t reply_cap,
                                          size_t *reply_len,
                                          const uint8_t *data, size_t len,
                                          const zttp_path *path,
                                          zttp_tstamp now);

/**
 * zttp_endpoint_update brings the routes of |conn| (one of |ep|'s) in step
 * with its connection IDs. zttp_endpoint_receive() does it for the
 * connection it delivers to; call it after zttp_conn_handle_timeout() and
 * the send calls on a connection. Returns 0 or ZTTP_ERR_INVALID_ARGUMENT
 * (not one of |ep|'s).
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_endpoint_update(zttp_endpoint *ep, zttp_conn *conn);

/**
 * zttp_endpoint_remove forgets |conn| (call it before zttp_conn_free()):
 * datagrams for its connection IDs are answered with a Stateless Reset from
 * then on. Returns 0 or ZTTP_ERR_INVALID_ARGUMENT (not one of |ep|'s).
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_endpoint_remove(zttp_endpoint *ep, zttp_conn *conn);

/** zttp_endpoint_num_connections returns how many connections |ep| routes.
 * @since 0.1.0 */
ZTTP_EXTERN size_t zttp_endpoint_num_connections(const zttp_endpoint *ep);

/** zttp_endpoint_get_stats returns |ep|'s counters (valid until
 * zttp_endpoint_free()). @since 0.1.0 */
ZTTP_EXTERN const zttp_endpoint_stats *
zttp_endpoint_get_stats(const zttp_endpoint *ep);

/**
 * zttp_conn_send_datagram queues one HTTP datagram (RFC 9297) of |len|
 * bytes (copied) for request stream |stream_id| of an HTTP/3 connection,
 * sent unreliably in a QUIC DATAGRAM frame (RFC 9221). Both sides must have
 * enabled ZTTP_OPT_H3_DATAGRAM. Returns 0, ZTTP_ERR_INVALID_STATE (not
 * HTTP/3, datagrams not enabled by both sides, handshake not complete),
 * ZTTP_ERR_INVALID_ARGUMENT (larger than a packet takes), ZTTP_ERR_BUFFER_FULL
 * (the datagram queue is full), ZTTP_ERR_STREAM_NOT_FOUND, ZTTP_ERR_CLOSED
 * or ZTTP_ERR_NOMEM.
 * @since 0.1.0
 */
ZTTP_EXTERN int32_t zttp_conn_send_datagram(zttp_conn *conn, int64_t stream_id,
                                            const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* ZTTP_ZTTP_H */
