/* The public entry points: argument checks, the poisoning rule and dispatch
 * through one vtable per engine (DESIGN.md §3).
 * SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "h2/h2.h"

/* Sizes are capped so that offsets fit comfortably in 32 bits. */
#define SIZE_LIMIT_MAX ((uint64_t)1 << 31)

typedef struct limit_info {
  uint64_t def;
  uint64_t min;
  uint64_t max;
} limit_info;

static const limit_info limit_table[ZTTP_LIMIT_COUNT] = {
    [ZTTP_LIMIT_INPUT_BUFFER] = {131072, 256, SIZE_LIMIT_MAX},
    [ZTTP_LIMIT_OUTPUT_BUFFER] = {262144, 256, SIZE_LIMIT_MAX},
    [ZTTP_LIMIT_MAX_HEADERS] = {128, 1, 65535},
    [ZTTP_LIMIT_MAX_HEADER_BYTES] = {65536, 16, SIZE_LIMIT_MAX},
    [ZTTP_LIMIT_MAX_TRAILERS] = {32, 1, 65535},
    [ZTTP_LIMIT_MAX_TRAILER_BYTES] = {8192, 2, SIZE_LIMIT_MAX},
    [ZTTP_LIMIT_H1_MAX_START_LINE] = {8192, 16, SIZE_LIMIT_MAX},
    [ZTTP_LIMIT_H1_MAX_CHUNK_EXT] = {1024, 1, SIZE_LIMIT_MAX},
    [ZTTP_LIMIT_H1_MAX_PIPELINE] = {32, 1, 1024},
    [ZTTP_LIMIT_MAX_CONCURRENT_STREAMS] = {100, 1, 0x7fffffff},
    [ZTTP_LIMIT_STREAM_WINDOW] = {262144, 1, 0x7fffffff},
    [ZTTP_LIMIT_CONNECTION_WINDOW] = {1048576, 1, 0x7fffffff},
    [ZTTP_LIMIT_H2_MAX_FRAME_SIZE] = {16384, 16384, 16777215},
    [ZTTP_LIMIT_HEADER_TABLE_SIZE] = {4096, 0, (uint64_t)1 << 30},
    [ZTTP_LIMIT_ENCODER_TABLE_SIZE] = {4096, 0, (uint64_t)1 << 30},
    [ZTTP_LIMIT_H2_MAX_CONTINUATIONS] = {32, 1, 65535},
    [ZTTP_LIMIT_RESET_BURST] = {1000, 1, 1000000000},
    [ZTTP_LIMIT_RESET_RATE] = {33, 1, 1000000000},
    [ZTTP_LIMIT_GLITCH_BURST] = {1000, 1, 1000000000},
    [ZTTP_LIMIT_GLITCH_RATE] = {100, 1, 1000000000},
    [ZTTP_LIMIT_H2_MAX_QUEUED_CONTROL] = {1000, 1, 100000},
    [ZTTP_LIMIT_QPACK_BLOCKED_STREAMS] = {16, 0, 65535},
    [ZTTP_LIMIT_IDLE_TIMEOUT] = {30000, 0, 86400000},
};

/* Every enum zttp_option: its largest value (all default to 0). */
static const uint64_t option_max[ZTTP_OPTION_COUNT] = {
    [ZTTP_OPT_ENABLE_CONNECT_PROTOCOL] = 1,
    [ZTTP_OPT_TLS] = 1,
    [ZTTP_OPT_H3_DATAGRAM] = 1,
};

/* Every enum zttp_lenient bit: the bits are contiguous from bit 0, and
 * ZTTP_LENIENT_CHUNK_SIZE is the last one. */
#define LENIENT_ALL ((ZTTP_LENIENT_CHUNK_SIZE << 1) - 1)

static void settings_default(zttp_settings *s) {
  memset(s, 0, sizeof(*s));
  for (size_t i = 1; i < ZTTP_LIMIT_COUNT; i++) {
    s->limits[i] = limit_table[i].def;
  }
}

int32_t zttp_conn_error(zttp_conn *conn, int32_t err, uint64_t wire_code,
                        int64_t stream_id, const char *fmt, ...) {
  va_list ap;
  conn->last_err = err;
  conn->err_wire_code = wire_code;
  conn->err_stream = stream_id;
  conn->err_recorded = 1;
  va_start(ap, fmt);
  vsnprintf(conn->err_msg, sizeof(conn->err_msg), fmt, ap);
  va_end(ap);
  if (zttp_error_is_fatal(err) && conn->fatal == 0) {
    conn->fatal = err;
  }
  return err;
}

/* ---- config ------------------------------------------------------------- */

int32_t zttp_config_new(zttp_config **out, const zttp_allocator *alloc) {
  if (out == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (alloc != NULL && (alloc->malloc == NULL || alloc->realloc == NULL ||
                        alloc->free == NULL)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  const zttp_mem *mem = alloc != NULL ? alloc : zttp_mem_default();
  zttp_config *cfg = zttp_mem_calloc(mem, 1, sizeof(*cfg));
  if (cfg == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  cfg->mem = *mem;
  settings_default(&cfg->settings);
  *out = cfg;
  return 0;
}

void zttp_config_free(zttp_config *cfg) {
  if (cfg == NULL) {
    return;
  }
  zttp_mem mem = cfg->mem;
  zttp_mem_free(&mem, cfg->tls_cert_file);
  zttp_mem_free(&mem, cfg->tls_key_file);
  zttp_mem_free(&mem, cfg->tls_ca_file);
  zttp_mem_free(&mem, cfg->tls_ca_dir);
  zttp_mem_free(&mem, cfg->server_name);
  zttp_mem_free(&mem, cfg->tls_cert_pem);
  zttp_tls_wipe(cfg->tls_key_pem, cfg->tls_key_pem_len);
  zttp_mem_free(&mem, cfg->tls_key_pem);
  zttp_mem_free(&mem, cfg->alpn);
  zttp_mem_free(&mem, cfg->tls_groups);
  /* Connections keep their own references to the contexts. */
  zttp_tls_cache_clear(&cfg->tls_cache);
  zttp_mem_free(&mem, cfg);
}

static int settings_valid(const zttp_settings *s) {
  /* HTTP/1.1 needs a whole head in the input buffer. */
  uint64_t in = s->limits[ZTTP_LIMIT_INPUT_BUFFER];
  return in >= s->limits[ZTTP_LIMIT_MAX_HEADER_BYTES] &&
         in >= s->limits[ZTTP_LIMIT_MAX_TRAILER_BYTES];
}

int32_t zttp_config_set_limit(zttp_config *cfg, uint32_t id, uint64_t value) {
  if (cfg == NULL || id == 0 || id >= ZTTP_LIMIT_COUNT ||
      value < limit_table[id].min || value > limit_table[id].max) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  cfg->settings.limits[id] = value;
  return 0;
}

int32_t zttp_config_get_limit(const zttp_config *cfg, uint64_t *value,
                              uint32_t id) {
  if (cfg == NULL || value == NULL || id == 0 || id >= ZTTP_LIMIT_COUNT) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *value = cfg->settings.limits[id];
  return 0;
}

int32_t zttp_config_set_option(zttp_config *cfg, uint32_t id, uint64_t value) {
  if (cfg == NULL || id == 0 || id >= ZTTP_OPTION_COUNT ||
      value > option_max[id]) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  cfg->settings.options[id] = value;
  return 0;
}

int32_t zttp_config_set_lenient(zttp_config *cfg, uint32_t flags) {
  if (cfg == NULL || (flags & ~LENIENT_ALL) != 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  cfg->settings.lenient = flags;
  return 0;
}

/* ---- TLS settings (src/crypto/tls.h) ------------------------------------ */

/* The ALPN list QUIC connections use when none is configured. */
static const uint8_t default_alpn[] = {2, 'h', '3'};

/* Fills |s| with a view of |cfg|'s TLS settings. */
static void tls_settings_of(const zttp_config *cfg, zttp_tls_settings *s) {
  memset(s, 0, sizeof(*s));
  s->backend = cfg->tls_backend;
  s->cert_file = cfg->tls_cert_file;
  s->key_file = cfg->tls_key_file;
  s->cert_pem = cfg->tls_cert_pem;
  s->cert_pem_len = cfg->tls_cert_pem_len;
  s->key_pem = cfg->tls_key_pem;
  s->key_pem_len = cfg->tls_key_pem_len;
  s->ca_file = cfg->tls_ca_file;
  s->ca_dir = cfg->tls_ca_dir;
  s->insecure_no_verify = cfg->tls_insecure;
  s->alpn = cfg->alpn_len != 0 ? cfg->alpn : default_alpn;
  s->alpn_len = cfg->alpn_len != 0 ? cfg->alpn_len : sizeof(default_alpn);
  s->ciphers = cfg->tls_ciphers;
  s->groups = cfg->tls_groups;
}

/* Builds (and frees) a BoringSSL context of |role| from |s|: the setters
 * load what they name at once, so that a bad file fails the call that named
 * it. */
static int32_t tls_check(const zttp_config *cfg, const zttp_tls_settings *s,
                         uint32_t role) {
  zttp_tls_settings check = *s;
  check.backend = ZTTP_TLS_BORINGSSL;
  zttp_tls_ctx *ctx = NULL;
  int32_t rv = zttp_tls_ctx_new(&ctx, &cfg->mem, &check, role, NULL);
  zttp_tls_ctx_unref(ctx);
  return rv;
}

int32_t zttp_config_tls_ctx(zttp_tls_ctx **out, const zttp_config *cfg,
                            uint32_t role, char *errmsg) {
  zttp_tls_settings s;
  tls_settings_of(cfg, &s);
  return zttp_tls_cache_get(out, &cfg->tls_cache, &cfg->mem, &s, role, errmsg);
}

int32_t zttp_config_set_tls_backend(zttp_config *cfg, uint32_t backend) {
  if (cfg == NULL ||
      (backend != ZTTP_TLS_BORINGSSL && backend != ZTTP_TLS_NULL)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  cfg->tls_backend = backend;
  zttp_tls_cache_clear(&cfg->tls_cache);
  return 0;
}

/* Copies |len| bytes into a new allocation (NULL when |len| is 0). */
static int32_t copy_bytes(zttp_config *cfg, uint8_t **out, const void *p,
                          size_t len) {
  *out = NULL;
  if (len == 0) {
    return 0;
  }
  *out = zttp_mem_malloc(&cfg->mem, len);
  if (*out == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  memcpy(*out, p, len);
  return 0;
}

/* Copies a NUL-terminated string (NULL stays NULL). */
static int32_t copy_string(zttp_config *cfg, char **out, const char *s) {
  *out = NULL;
  if (s == NULL) {
    return 0;
  }
  *out = zttp_mem_strdup(&cfg->mem, s);
  return *out != NULL ? 0 : ZTTP_ERR_NOMEM;
}

/* Installs a checked certificate and key: files or PEM, never both. */
static void set_cert_key(zttp_config *cfg, char *cert_file, char *key_file,
                         uint8_t *cert_pem, size_t cert_pem_len,
                         uint8_t *key_pem, size_t key_pem_len) {
  zttp_mem_free(&cfg->mem, cfg->tls_cert_file);
  zttp_mem_free(&cfg->mem, cfg->tls_key_file);
  zttp_mem_free(&cfg->mem, cfg->tls_cert_pem);
  zttp_tls_wipe(cfg->tls_key_pem, cfg->tls_key_pem_len);
  zttp_mem_free(&cfg->mem, cfg->tls_key_pem);
  cfg->tls_cert_file = cert_file;
  cfg->tls_key_file = key_file;
  cfg->tls_cert_pem = cert_pem;
  cfg->tls_cert_pem_len = cert_pem_len;
  cfg->tls_key_pem = key_pem;
  cfg->tls_key_pem_len = key_pem_len;
  zttp_tls_cache_clear(&cfg->tls_cache);
}

int32_t zttp_config_set_tls_cert_key(zttp_config *cfg, const char *cert_file,
                                     const char *key_file) {
  if (cfg == NULL || cert_file == NULL || key_file == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_tls_settings s;
  tls_settings_of(cfg, &s);
  s.cert_file = cert_file;
  s.key_file = key_file;
  s.cert_pem = s.key_pem = NULL;
  s.cert_pem_len = s.key_pem_len = 0;
  int32_t rv = tls_check(cfg, &s, ZTTP_SERVER);
  if (rv != 0) {
    return rv;
  }
  char *cert = NULL;
  char *key = NULL;
  if (copy_string(cfg, &cert, cert_file) != 0 ||
      copy_string(cfg, &key, key_file) != 0) {
    zttp_mem_free(&cfg->mem, cert);
    return ZTTP_ERR_NOMEM;
  }
  set_cert_key(cfg, cert, key, NULL, 0, NULL, 0);
  return 0;
}

int32_t zttp_config_set_tls_cert_key_pem(zttp_config *cfg, const char *cert_pem,
                                         size_t cert_len, const char *key_pem,
                                         size_t key_len) {
  if (cfg == NULL || cert_pem == NULL || cert_len == 0 || key_pem == NULL ||
      key_len == 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_tls_settings s;
  tls_settings_of(cfg, &s);
  s.cert_file = s.key_file = NULL;
  s.cert_pem = (const uint8_t *)cert_pem;
  s.cert_pem_len = cert_len;
  s.key_pem = (const uint8_t *)key_pem;
  s.key_pem_len = key_len;
  int32_t rv = tls_check(cfg, &s, ZTTP_SERVER);
  if (rv != 0) {
    return rv;
  }
  uint8_t *cert = NULL;
  uint8_t *key = NULL;
  if (copy_bytes(cfg, &cert, cert_pem, cert_len) != 0 ||
      copy_bytes(cfg, &key, key_pem, key_len) != 0) {
    zttp_mem_free(&cfg->mem, cert);
    return ZTTP_ERR_NOMEM;
  }
  set_cert_key(cfg, NULL, NULL, cert, cert_len, key, key_len);
  return 0;
}

int32_t zttp_config_set_tls_ca(zttp_config *cfg, const char *ca_file,
                               const char *ca_dir) {
  if (cfg == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (ca_file != NULL || ca_dir != NULL) {
    zttp_tls_settings s;
    tls_settings_of(cfg, &s);
    s.ca_file = ca_file;
    s.ca_dir = ca_dir;
    s.insecure_no_verify = 0; /* load the store even if not verifying now */
    int32_t rv = tls_check(cfg, &s, ZTTP_CLIENT);
    if (rv != 0) {
      return rv;
    }
  }
  char *file = NULL;
  char *dir = NULL;
  if (copy_string(cfg, &file, ca_file) != 0 ||
      copy_string(cfg, &dir, ca_dir) != 0) {
    zttp_mem_free(&cfg->mem, file);
    return ZTTP_ERR_NOMEM;
  }
  zttp_mem_free(&cfg->mem, cfg->tls_ca_file);
  zttp_mem_free(&cfg->mem, cfg->tls_ca_dir);
  cfg->tls_ca_file = file;
  cfg->tls_ca_dir = dir;
  zttp_tls_cache_clear(&cfg->tls_cache);
  return 0;
}

int32_t zttp_config_set_tls_insecure_no_verify(zttp_config *cfg,
                                               uint32_t insecure) {
  if (cfg == NULL || insecure > 1) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  cfg->tls_insecure = insecure;
  zttp_tls_cache_clear(&cfg->tls_cache);
  return 0;
}

int32_t zttp_config_set_server_name(zttp_config *cfg, const char *name,
                                    size_t len) {
  if (cfg == NULL || name == NULL || len == 0 || len > 255 ||
      memchr(name, 0, len) != NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  char *copy = zttp_mem_malloc(&cfg->mem, len + 1);
  if (copy == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  memcpy(copy, name, len);
  copy[len] = '\0';
  zttp_mem_free(&cfg->mem, cfg->server_name);
  cfg->server_name = copy;
  cfg->server_name_len = len;
  return 0;
}

int32_t zttp_config_set_alpn(zttp_config *cfg, const zttp_str *protocols,
                             size_t num_protocols) {
  if (cfg == NULL || (protocols == NULL && num_protocols != 0)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  size_t total = 0;
  for (size_t i = 0; i < num_protocols; i++) {
    if (protocols[i].base == NULL || protocols[i].len == 0 ||
        protocols[i].len > 255) {
      return ZTTP_ERR_INVALID_ARGUMENT;
    }
    total += 1 + protocols[i].len;
    if (total > 65535) { /* RFC 7301 §3.1: ProtocolNameList<2..2^16-1> */
      return ZTTP_ERR_INVALID_ARGUMENT;
    }
  }
  uint8_t *wire = NULL;
  if (total != 0) {
    wire = zttp_mem_malloc(&cfg->mem, total);
    if (wire == NULL) {
      return ZTTP_ERR_NOMEM;
    }
    uint8_t *p = wire;
    for (size_t i = 0; i < num_protocols; i++) {
      *p++ = (uint8_t)protocols[i].len;
      memcpy(p, protocols[i].base, protocols[i].len);
      p += protocols[i].len;
    }
  }
  zttp_mem_free(&cfg->mem, cfg->alpn);
  cfg->alpn = wire;
  cfg->alpn_len = total;
  zttp_tls_cache_clear(&cfg->tls_cache);
  return 0;
}

#define TLS_CIPHERS_ALL                                                        \
  (ZTTP_TLS_CIPHER_AES_128_GCM_SHA256 | ZTTP_TLS_CIPHER_AES_256_GCM_SHA384 |   \
   ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256)

int32_t zttp_config_set_tls_ciphers(zttp_config *cfg, uint32_t mask) {
  if (cfg == NULL || (mask & ~(uint32_t)TLS_CIPHERS_ALL) != 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  cfg->tls_ciphers = mask;
  zttp_tls_cache_clear(&cfg->tls_cache);
  return 0;
}

int32_t zttp_config_set_tls_groups(zttp_config *cfg, const char *list) {
  if (cfg == NULL ||
      (list != NULL && (list[0] == '\0' || !zttp_tls_groups_valid(list)))) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  char *copy = NULL;
  if (copy_string(cfg, &copy, list) != 0) {
    return ZTTP_ERR_NOMEM;
  }
  zttp_mem_free(&cfg->mem, cfg->tls_groups);
  cfg->tls_groups = copy;
  zttp_tls_cache_clear(&cfg->tls_cache);
  return 0;
}

/* ---- connections -------------------------------------------------------- */

static const zttp_engine_vtbl *engine_for(uint32_t protocol) {
  switch (protocol) {
  case ZTTP_HTTP1:
    return &zttp_h1_engine;
  case ZTTP_HTTP2:
    return &zttp_h2_engine;
  case ZTTP_HTTP3:
    return &zttp_h3_engine;
  default:
    return NULL;
  }
}

int32_t zttp_conn_new(zttp_conn **out, const zttp_config *cfg, uint32_t role,
                      uint32_t protocol) {
  if (out == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (role != ZTTP_SERVER && role != ZTTP_CLIENT) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (protocol != ZTTP_HTTP1 && protocol != ZTTP_HTTP2 &&
      protocol != ZTTP_HTTP3) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  const zttp_engine_vtbl *vt = engine_for(protocol);
  if (vt == NULL) {
    return ZTTP_ERR_UNSUPPORTED;
  }
  const zttp_mem *mem = cfg != NULL ? &cfg->mem : zttp_mem_default();
  zttp_settings settings;
  if (cfg != NULL) {
    settings = cfg->settings;
  } else {
    settings_default(&settings);
  }
  if (!settings_valid(&settings)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  /* One block: the connection, then the engine's state (aligned). */
  size_t align = _Alignof(max_align_t);
  size_t head = (sizeof(zttp_conn) + align - 1) & ~(align - 1);
  zttp_conn *conn = zttp_mem_calloc(mem, 1, head + vt->state_size(&settings));
  if (conn == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  conn->engine = (char *)conn + head;
  conn->vt = vt;
  conn->mem = *mem;
  conn->settings = settings;
  conn->role = role;
  conn->err_stream = -1;
  conn->init_cfg = cfg;
  int32_t rv = vt->init(conn);
  conn->init_cfg = NULL;
  if (rv != 0) {
    zttp_mem_free(mem, conn);
    return rv;
  }
  *out = conn;
  return 0;
}

void zttp_conn_free(zttp_conn *conn) {
  if (conn == NULL) {
    return;
  }
  conn->vt->free(conn);
  zttp_mem mem = conn->mem;
  zttp_mem_free(&mem, conn);
}

/* Starts a public call: the poisoning rule. */
#define ENTER(conn)                                                            \
  do {                                                                         \
    if ((conn)->fatal != 0) {                                                  \
      return (conn)->fatal;                                                    \
    }                                                                          \
    (conn)->err_recorded = 0;                                                  \
  } while (0)

/* Ends a public call: an error the engine did not describe gets the generic
 * text, and a fatal one poisons the connection. */
static int64_t leave(zttp_conn *conn, int64_t rv) {
  if (rv < 0 && !conn->err_recorded) {
    zttp_conn_error(conn, (int32_t)rv, 0, -1, "%s", zttp_strerror((int32_t)rv));
  }
  return rv;
}

static int32_t invalid_state(zttp_conn *conn, const char *call) {
  return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                         "%s is not available on this protocol", call);
}

static int headers_ok(const zttp_header *headers, size_t num) {
  if (num != 0 && headers == NULL) {
    return 0;
  }
  for (size_t i = 0; i < num; i++) {
    if ((headers[i].name == NULL && headers[i].name_len != 0) ||
        (headers[i].value == NULL && headers[i].value_len != 0) ||
        (headers[i].flags & ~ZTTP_HEADER_NEVER_INDEX) != 0 ||
        headers[i].reserved != 0) {
      return 0;
    }
  }
  return 1;
}

int64_t zttp_conn_receive_data(zttp_conn *conn, const uint8_t *data,
                               size_t len) {
  if (conn == NULL || (data == NULL && len != 0)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  if (conn->vt->receive_data == NULL) {
    return invalid_state(conn, "receive_data");
  }
  return leave(conn, conn->vt->receive_data(conn, data, len));
}

int32_t zttp_conn_receive_datagram(zttp_conn *conn, const uint8_t *data,
                                   size_t len, const zttp_path *path,
                                   zttp_tstamp now) {
  if (conn == NULL || data == NULL || len == 0 || path == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  if (conn->vt->receive_datagram == NULL) {
    return invalid_state(conn, "receive_datagram");
  }
  return (int32_t)leave(conn,
                        conn->vt->receive_datagram(conn, data, len, path, now));
}

int32_t zttp_conn_next_event(zttp_conn *conn, zttp_event *ev) {
  if (conn == NULL || ev == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  /* Engines fill the union member of the kind they report. */
  ev->kind = ZTTP_EVENT_NEED_DATA;
  ev->flags = 0;
  ev->stream_id = 0;
  ENTER(conn);
  return (int32_t)leave(conn, conn->vt->next_event(conn, ev));
}

int64_t zttp_conn_send_request(zttp_conn *conn, const char *method,
                               size_t method_len, const char *target,
                               size_t target_len, const zttp_header *headers,
                               size_t num_headers, uint32_t flags) {
  if (conn == NULL || method == NULL || method_len == 0 || target == NULL ||
      target_len == 0 || !headers_ok(headers, num_headers) ||
      (flags & ~ZTTP_SEND_FLAG_END_STREAM) != 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  if (conn->role != ZTTP_CLIENT) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "send_request needs the client role");
  }
  zttp_str m = {method, method_len};
  zttp_str t = {target, target_len};
  return leave(conn,
               conn->vt->send_request(conn, m, t, headers, num_headers, flags));
}

int32_t zttp_conn_send_response(zttp_conn *conn, int64_t stream_id,
                                uint32_t status, const char *reason,
                                size_t reason_len, const zttp_header *headers,
                                size_t num_headers, uint32_t flags) {
  if (conn == NULL || stream_id < 0 || status < 200 || status > 599 ||
      (reason == NULL && reason_len != 0) ||
      !headers_ok(headers, num_headers) ||
      (flags & ~ZTTP_SEND_FLAG_END_STREAM) != 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_str r = {reason, reason_len};
  if (conn->fatal != 0) {
    /* The one exception to poisoning: an HTTP/1.1 server may still tell
     * the peer what it got wrong (DESIGN.md §2: "a 400 is the caller's
     * choice on H1"). */
    if (conn->vt->send_error_response == NULL || conn->role != ZTTP_SERVER ||
        conn->fatal == ZTTP_ERR_NOMEM || status < 400 ||
        !(flags & ZTTP_SEND_FLAG_END_STREAM)) {
      return conn->fatal;
    }
    return conn->vt->send_error_response(conn, status, r, headers, num_headers);
  }
  ENTER(conn);
  if (conn->role != ZTTP_SERVER) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "send_response needs the server role");
  }
  return (int32_t)leave(conn,
                        conn->vt->send_response(conn, stream_id, status, r,
                                                headers, num_headers, flags));
}

int32_t zttp_conn_send_informational(zttp_conn *conn, int64_t stream_id,
                                     uint32_t status,
                                     const zttp_header *headers,
                                     size_t num_headers) {
  if (conn == NULL || stream_id < 0 || status < 100 || status > 199 ||
      !headers_ok(headers, num_headers)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  if (conn->role != ZTTP_SERVER) {
    return zttp_conn_error(conn, ZTTP_ERR_INVALID_STATE, 0, -1,
                           "send_informational needs the server role");
  }
  return (int32_t)leave(conn,
                        conn->vt->send_informational(conn, stream_id, status,
                                                     headers, num_headers));
}

int64_t zttp_conn_send_data(zttp_conn *conn, int64_t stream_id,
                            const uint8_t *data, size_t len, uint32_t flags) {
  if (conn == NULL || stream_id < 0 || (data == NULL && len != 0) ||
      (flags & ~ZTTP_SEND_FLAG_END_STREAM) != 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  return leave(conn, conn->vt->send_data(conn, stream_id, data, len, flags));
}

int32_t zttp_conn_end_message(zttp_conn *conn, int64_t stream_id,
                              const zttp_header *trailers,
                              size_t num_trailers) {
  if (conn == NULL || stream_id < 0 || !headers_ok(trailers, num_trailers)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  return (int32_t)leave(
      conn, conn->vt->end_message(conn, stream_id, trailers, num_trailers));
}

int32_t zttp_conn_reset_stream(zttp_conn *conn, int64_t stream_id,
                               uint64_t error_code) {
  if (conn == NULL || stream_id < 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  return (int32_t)leave(conn,
                        conn->vt->reset_stream(conn, stream_id, error_code));
}

int32_t zttp_conn_close(zttp_conn *conn, uint64_t error_code, uint32_t flags) {
  if (conn == NULL || (flags & ~ZTTP_CLOSE_FLAG_GRACEFUL) != 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  return (int32_t)leave(conn, conn->vt->close(conn, error_code, flags));
}

int32_t zttp_conn_should_close(const zttp_conn *conn) {
  if (conn == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (conn->fatal != 0) {
    return 1;
  }
  return conn->vt->should_close(conn);
}

int64_t zttp_conn_send_window(const zttp_conn *conn, int64_t stream_id) {
  if (conn == NULL || stream_id < 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (conn->fatal != 0) {
    return conn->fatal;
  }
  return conn->vt->send_window(conn, stream_id);
}

int32_t zttp_conn_data_consumed(zttp_conn *conn, int64_t stream_id,
                                size_t len) {
  if (conn == NULL || stream_id < 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  return (int32_t)leave(conn, conn->vt->data_consumed(conn, stream_id, len));
}

/* Pending output stays readable after a fatal error: it may carry what the
 * protocol owes the peer. */
size_t zttp_conn_pending(zttp_conn *conn, const uint8_t **out) {
  if (out != NULL) {
    *out = NULL;
  }
  if (conn == NULL || out == NULL || conn->vt->pending == NULL) {
    return 0;
  }
  return conn->vt->pending(conn, out);
}

int32_t zttp_conn_consume(zttp_conn *conn, size_t len) {
  if (conn == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (conn->vt->consume == NULL) {
    return len == 0 ? 0 : ZTTP_ERR_INVALID_ARGUMENT;
  }
  return conn->vt->consume(conn, len);
}

int64_t zttp_conn_write_datagram(zttp_conn *conn, zttp_path *path,
                                 size_t *segment_size, uint8_t *buf,
                                 size_t buflen, zttp_tstamp now) {
  if (conn == NULL || path == NULL || segment_size == NULL || buf == NULL ||
      buflen == 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *segment_size = 0;
  if (conn->fatal != 0 && conn->vt->write_datagram != NULL) {
    /* Like pending output on a byte stream: the CONNECTION_CLOSE the
     * protocol owes the peer stays writable after a fatal error. */
    int64_t n =
        conn->vt->write_datagram(conn, path, segment_size, buf, buflen, now);
    return n > 0 ? n : conn->fatal;
  }
  ENTER(conn);
  if (conn->vt->write_datagram == NULL) {
    return invalid_state(conn, "write_datagram");
  }
  return leave(conn, conn->vt->write_datagram(conn, path, segment_size, buf,
                                              buflen, now));
}

zttp_tstamp zttp_conn_next_timeout(const zttp_conn *conn) {
  if (conn == NULL || conn->vt->next_timeout == NULL ||
      (conn->fatal != 0 && conn->vt->write_datagram == NULL)) {
    return ZTTP_TSTAMP_NEVER;
  }
  return conn->vt->next_timeout(conn);
}

int32_t zttp_conn_handle_timeout(zttp_conn *conn, zttp_tstamp now) {
  if (conn == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (conn->fatal != 0 && conn->vt->handle_timeout != NULL &&
      conn->vt->write_datagram != NULL) {
    /* HTTP/3: the closing period still runs (RFC 9000 §10.2). */
    conn->vt->handle_timeout(conn, now);
    return conn->fatal;
  }
  ENTER(conn);
  if (conn->vt->handle_timeout == NULL) {
    return 0;
  }
  return (int32_t)leave(conn, conn->vt->handle_timeout(conn, now));
}

int32_t zttp_conn_set_time(zttp_conn *conn, zttp_tstamp now) {
  if (conn == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (now > conn->now) {
    conn->now = now;
  }
  return 0;
}

int32_t zttp_conn_ping(zttp_conn *conn, const uint8_t *opaque) {
  if (conn == NULL || opaque == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  if (conn->vt->ping == NULL) {
    return invalid_state(conn, "ping");
  }
  return (int32_t)leave(conn, conn->vt->ping(conn, opaque));
}

int32_t zttp_conn_set_priority(zttp_conn *conn, int64_t stream_id,
                               uint32_t urgency, uint32_t incremental) {
  if (conn == NULL || stream_id < 0 || urgency > 7 || incremental > 1) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  if (conn->vt->set_priority == NULL) {
    return invalid_state(conn, "set_priority");
  }
  return (int32_t)leave(
      conn, conn->vt->set_priority(conn, stream_id, urgency, incremental));
}

int32_t zttp_conn_new_h2c_upgrade(zttp_conn **out, const zttp_config *cfg,
                                  const char *method, size_t method_len,
                                  const char *http2_settings,
                                  size_t settings_len) {
  if (out == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (method == NULL || method_len == 0 ||
      (http2_settings == NULL && settings_len != 0)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_conn *conn;
  int32_t rv = zttp_conn_new(&conn, cfg, ZTTP_SERVER, ZTTP_HTTP2);
  if (rv != 0) {
    return rv;
  }
  zttp_str m = {method, method_len};
  rv = zttp_h2_upgrade(conn, m, http2_settings, settings_len);
  if (rv != 0) {
    zttp_conn_free(conn);
    return rv;
  }
  *out = conn;
  return 0;
}

int32_t zttp_conn_send_datagram(zttp_conn *conn, int64_t stream_id,
                                const uint8_t *data, size_t len) {
  if (conn == NULL || stream_id < 0 || (data == NULL && len != 0)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  ENTER(conn);
  if (conn->vt->send_datagram == NULL) {
    return invalid_state(conn, "send_datagram");
  }
  return (int32_t)leave(conn,
                        conn->vt->send_datagram(conn, stream_id, data, len));
}

int32_t zttp_conn_last_error(const zttp_conn *conn, const char **message,
                             uint64_t *wire_error_code, int64_t *stream_id) {
  if (conn == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (message != NULL) {
    *message = conn->last_err != 0 ? conn->err_msg : "";
  }
  if (wire_error_code != NULL) {
    *wire_error_code = conn->err_wire_code;
  }
  if (stream_id != NULL) {
    *stream_id = conn->err_stream;
  }
  return conn->last_err;
}

const char *zttp_version(uint32_t *num) {
  if (num != NULL) {
    *num = ZTTP_VERSION_NUM;
  }
  return ZTTP_VERSION_STR;
}
