/* The one internal vtable every protocol engine implements, and the
 * connection and config state shared by src/conn.c and the engines.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_ENGINE_H
#define ZTTP_ENGINE_H

#include "zttp/zttp.h"

#include "common/mem.h"
#include "crypto/tls.h"

/* Number of enum zttp_limit ids + 1 (index 0 is unused). */
#define ZTTP_LIMIT_COUNT 24

/* Number of enum zttp_option ids + 1 (index 0 is unused). */
#define ZTTP_OPTION_COUNT 4

/* zttp_settings is the part of a zttp_config a connection copies. */
typedef struct zttp_settings {
  uint64_t limits[ZTTP_LIMIT_COUNT];
  uint64_t options[ZTTP_OPTION_COUNT];
  uint32_t lenient;
} zttp_settings;

struct zttp_config {
  zttp_mem mem;
  zttp_settings settings;
  char *tls_cert_file;
  char *tls_key_file;
  char *tls_ca_file;
  char *tls_ca_dir;
  char *server_name;
  size_t server_name_len;
  uint32_t tls_insecure;
  /* PEM copies (zttp_config_set_tls_cert_key_pem); exclusive with the
   * files above. */
  uint8_t *tls_cert_pem;
  size_t tls_cert_pem_len;
  uint8_t *tls_key_pem;
  size_t tls_key_pem_len;
  /* ALPN list in wire format (RFC 7301 §3.1); empty means "h3". */
  uint8_t *alpn;
  size_t alpn_len;
  uint32_t tls_ciphers; /* ZTTP_TLS_CIPHER_* bits, 0: all */
  char *tls_groups;     /* NULL: BoringSSL's default */
  uint32_t tls_backend; /* enum zttp_tls_backend; internal only */
  /* The TLS contexts built from the settings above, one per role: built by
   * the first QUIC connection of that role (zttp_config_tls_ctx), shared by
   * the later ones, dropped by every TLS setter and zttp_config_free. */
  zttp_tls_cache tls_cache;
};

/* zttp_config_tls_ctx stores in |*out| a new reference to the TLS context
 * of |role| built from |cfg|'s TLS settings (once per config and role;
 * safe from several threads at once). Returns what zttp_tls_ctx_new()
 * returns, with the message in |errmsg| (ZTTP_TLS_ERRMSG_MAX bytes; may be
 * NULL). */
int32_t zttp_config_tls_ctx(zttp_tls_ctx **out, const zttp_config *cfg,
                            uint32_t role, char *errmsg);

/* zttp_config_set_tls_backend selects the TLS implementation (enum
 * zttp_tls_backend) of |cfg|'s QUIC connections: ZTTP_TLS_NULL for the
 * fuzzers and the simulator's fast mode only. Not public API. Returns 0 or
 * ZTTP_ERR_INVALID_ARGUMENT. */
int32_t zttp_config_set_tls_backend(zttp_config *cfg, uint32_t backend);

/* Every entry is called by src/conn.c only, after its argument checks and the
 * poisoning rule. A NULL entry means the call is invalid for this protocol
 * (ZTTP_ERR_INVALID_STATE from conn.c). */
typedef struct zttp_engine_vtbl {
  /* Bytes of engine state for |settings|; conn.c allocates them zeroed in
   * the same block as the connection and points conn->engine at them. */
  size_t (*state_size)(const zttp_settings *settings);
  /* Sets the engine state up; on failure it has freed what it allocated. */
  int32_t (*init)(zttp_conn *conn);
  /* Frees what the engine allocated (not the state block itself). */
  void (*free)(zttp_conn *conn);
  int64_t (*receive_data)(zttp_conn *conn, const uint8_t *data, size_t len);
  int32_t (*receive_datagram)(zttp_conn *conn, const uint8_t *data, size_t len,
                              const zttp_path *path, zttp_tstamp now);
  int32_t (*next_event)(zttp_conn *conn, zttp_event *ev);
  int64_t (*send_request)(zttp_conn *conn, zttp_str method, zttp_str target,
                          const zttp_header *headers, size_t num_headers,
                          uint32_t flags);
  int32_t (*send_response)(zttp_conn *conn, int64_t stream_id, uint32_t status,
                           zttp_str reason, const zttp_header *headers,
                           size_t num_headers, uint32_t flags);
  /* After a fatal peer error (the connection is poisoned): queue one last
   * final response with no body, then close. NULL where the protocol
   * answers errors itself (GOAWAY, CONNECTION_CLOSE). */
  int32_t (*send_error_response)(zttp_conn *conn, uint32_t status,
                                 zttp_str reason, const zttp_header *headers,
                                 size_t num_headers);
  int32_t (*send_informational)(zttp_conn *conn, int64_t stream_id,
                                uint32_t status, const zttp_header *headers,
                                size_t num_headers);
  int64_t (*send_data)(zttp_conn *conn, int64_t stream_id, const uint8_t *data,
                       size_t len, uint32_t flags);
  int32_t (*end_message)(zttp_conn *conn, int64_t stream_id,
                         const zttp_header *trailers, size_t num_trailers);
  int32_t (*reset_stream)(zttp_conn *conn, int64_t stream_id,
                          uint64_t error_code);
  int32_t (*close)(zttp_conn *conn, uint64_t error_code, uint32_t flags);
  int32_t (*should_close)(const zttp_conn *conn);
  int64_t (*send_window)(const zttp_conn *conn, int64_t stream_id);
  int32_t (*data_consumed)(zttp_conn *conn, int64_t stream_id, size_t len);
  size_t (*pending)(zttp_conn *conn, const uint8_t **out);
  int32_t (*consume)(zttp_conn *conn, size_t len);
  int64_t (*write_datagram)(zttp_conn *conn, zttp_path *path,
                            size_t *segment_size, uint8_t *buf, size_t buflen,
                            zttp_tstamp now);
  zttp_tstamp (*next_timeout)(const zttp_conn *conn);
  int32_t (*handle_timeout)(zttp_conn *conn, zttp_tstamp now);
  int32_t (*ping)(zttp_conn *conn, const uint8_t *opaque);
  int32_t (*set_priority)(zttp_conn *conn, int64_t stream_id, uint32_t urgency,
                          uint32_t incremental);
  /* HTTP/3 only (RFC 9297): one HTTP datagram on a request stream. */
  int32_t (*send_datagram)(zttp_conn *conn, int64_t stream_id,
                           const uint8_t *data, size_t len);
} zttp_engine_vtbl;

#define ZTTP_ERRMSG_MAX 160

struct zttp_conn {
  const zttp_engine_vtbl *vt;
  zttp_mem mem;
  zttp_settings settings;
  uint32_t role;
  /* The fatal error that poisoned the connection, or 0. */
  int32_t fatal;
  /* The last error reported, with its detail. */
  int32_t last_err;
  uint64_t err_wire_code;
  int64_t err_stream;
  char err_msg[ZTTP_ERRMSG_MAX];
  /* Set by zttp_conn_error() during one public call. */
  uint8_t err_recorded;
  /* The latest zttp_conn_set_time() value. */
  zttp_tstamp now;
  /* Engine state, owned by vt. */
  void *engine;
  /* The config zttp_conn_new() was given (NULL: defaults), for vt->init
   * only (HTTP/3 takes its TLS context and server name from it); NULL
   * afterwards. */
  const zttp_config *init_cfg;
};

/* zttp_conn_error records |err| (a ZTTP_ERR_*) with a printf-style detail,
 * poisons the connection if the error is fatal and returns |err|. */
int32_t zttp_conn_error(zttp_conn *conn, int32_t err, uint64_t wire_code,
                        int64_t stream_id, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

extern const zttp_engine_vtbl zttp_h1_engine;
extern const zttp_engine_vtbl zttp_h2_engine;
extern const zttp_engine_vtbl zttp_h3_engine;

#endif
