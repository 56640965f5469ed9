/* SPDX-License-Identifier: MIT */
#include "h2_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void f_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

void f_frame(h_str *b, uint8_t type, uint8_t flags, uint32_t stream_id,
             const void *payload, size_t len) {
  uint8_t h[9] = {(uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, type,
                  flags};
  f_u32(h + 5, stream_id);
  h_str_add(b, h, 9);
  if (len != 0) {
    h_str_add(b, payload, len);
  }
}

void f_preface(h_str *b) {
  h_str_adds(b, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  f_frame(b, 0x4, 0, 0, NULL, 0);
}

/* RFC 7541 §5.1 */
static void hpack_int(h_str *b, uint8_t first, unsigned prefix, size_t v) {
  size_t max = ((size_t)1 << prefix) - 1;
  uint8_t c;
  if (v < max) {
    c = (uint8_t)(first | v);
    h_str_add(b, &c, 1);
    return;
  }
  c = (uint8_t)(first | max);
  h_str_add(b, &c, 1);
  v -= max;
  while (v >= 128) {
    c = (uint8_t)(v % 128 + 128);
    h_str_add(b, &c, 1);
    v /= 128;
  }
  c = (uint8_t)v;
  h_str_add(b, &c, 1);
}

void f_block(h_str *b, const char *const *nv) {
  for (size_t i = 0; nv[i] != NULL; i += 2) {
    uint8_t z = 0; /* literal without indexing, new name */
    h_str_add(b, &z, 1);
    hpack_int(b, 0, 7, strlen(nv[i]));
    h_str_adds(b, nv[i]);
    hpack_int(b, 0, 7, strlen(nv[i + 1]));
    h_str_adds(b, nv[i + 1]);
  }
}

void f_headers(h_str *b, uint32_t stream_id, uint8_t flags,
               const char *const *nv) {
  h_str blk = {0};
  f_block(&blk, nv);
  f_frame(b, 0x1, (uint8_t)(flags | 0x4), stream_id, blk.p, blk.len);
  h_str_free(&blk);
}

void f_data(h_str *b, uint32_t stream_id, uint8_t flags, const char *data) {
  f_frame(b, 0x0, flags, stream_id, data, strlen(data));
}

void f_window_update(h_str *b, uint32_t stream_id, uint32_t inc) {
  uint8_t p[4];
  f_u32(p, inc);
  f_frame(b, 0x8, 0, stream_id, p, 4);
}

void f_rst(h_str *b, uint32_t stream_id, uint32_t code) {
  uint8_t p[4];
  f_u32(p, code);
  f_frame(b, 0x3, 0, stream_id, p, 4);
}

void f_ping(h_str *b, uint8_t flags, const char *opaque8) {
  f_frame(b, 0x6, flags, 0, opaque8, 8);
}

void pump_init(pump *p, const zttp_config *ccfg, const zttp_config *scfg) {
  memset(p, 0, sizeof(*p));
  assert_int_equal(zttp_conn_new(&p->client, ccfg, ZTTP_CLIENT, ZTTP_HTTP2), 0);
  assert_int_equal(zttp_conn_new(&p->server, scfg, ZTTP_SERVER, ZTTP_HTTP2), 0);
  h_rec_init(&p->crec);
  h_rec_init(&p->srec);
}

int pump_run(pump *p) {
  int rounds = 0;
  for (;;) {
    const uint8_t *o;
    size_t c = zttp_conn_pending(p->client, &o);
    size_t s = 0;
    if (c > 0) {
      assert_true(h_transfer(p->client, p->server, &p->srec, p->server_cb,
                             p->server_arg) >= 0);
    } else {
      h_drain(p->server, &p->srec, p->server_cb, p->server_arg);
    }
    s = zttp_conn_pending(p->server, &o);
    if (s > 0) {
      assert_true(h_transfer(p->server, p->client, &p->crec, p->client_cb,
                             p->client_arg) >= 0);
    } else {
      h_drain(p->client, &p->crec, p->client_cb, p->client_arg);
    }
    rounds++;
    if (zttp_conn_pending(p->client, &o) == 0 &&
        zttp_conn_pending(p->server, &o) == 0) {
      return rounds;
    }
    assert_true(rounds < 100000);
  }
}

void pump_free(pump *p) {
  zttp_conn_free(p->client);
  zttp_conn_free(p->server);
  h_rec_free(&p->crec);
  h_rec_free(&p->srec);
}

static const char *type_name(uint8_t t) {
  static const char *names[] = {
      "DATA",         "HEADERS", "PRIORITY", "RST_STREAM",    "SETTINGS",
      "PUSH_PROMISE", "PING",    "GOAWAY",   "WINDOW_UPDATE", "CONTINUATION"};
  if (t < 10) {
    return names[t];
  }
  return t == 0x10 ? "PRIORITY_UPDATE" : "UNKNOWN";
}

char *frames_text(const uint8_t *p, size_t len) {
  h_str out = {0};
  size_t i = 0;
  if (len >= 24 && memcmp(p, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24) == 0) {
    h_str_adds(&out, "MAGIC\n");
    i = 24;
  }
  while (i + 9 <= len) {
    size_t n = (size_t)p[i] << 16 | (size_t)p[i + 1] << 8 | p[i + 2];
    uint32_t sid = ((uint32_t)p[i + 5] << 24 | (uint32_t)p[i + 6] << 16 |
                    (uint32_t)p[i + 7] << 8 | p[i + 8]) &
                   0x7fffffffu;
    const uint8_t *q = p + i + 9;
    if (p[i + 3] == 0x7 && n >= 8 && i + 9 + n <= len) {
      h_str_addf(&out, "GOAWAY last=%u code=%u debug=",
                 ((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
                  (uint32_t)q[2] << 8 | q[3]) &
                     0x7fffffffu,
                 (unsigned)q[7] | (unsigned)q[6] << 8);
      h_str_add_escaped(&out, q + 8, n - 8);
      h_str_adds(&out, "\n");
      i += 9 + n;
      continue;
    }
    h_str_addf(&out, "%s s=%u f=0x%x len=%zu", type_name(p[i + 3]), sid,
               p[i + 4], n);
    if (i + 9 + n <= len) {
      if (p[i + 3] == 0x3 && n == 4) {
        h_str_addf(&out, " code=%u", (unsigned)q[3] | (unsigned)q[2] << 8);
      } else if (p[i + 3] == 0x8 && n == 4) {
        h_str_addf(&out, " inc=%u",
                   ((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
                    (uint32_t)q[2] << 8 | q[3]) &
                       0x7fffffffu);
      } else if (p[i + 3] == 0x4) {
        for (size_t k = 0; k + 6 <= n; k += 6) {
          h_str_addf(&out, " %u=%u", (unsigned)q[k] << 8 | q[k + 1],
                     (uint32_t)q[k + 2] << 24 | (uint32_t)q[k + 3] << 16 |
                         (uint32_t)q[k + 4] << 8 | q[k + 5]);
        }
      } else if (p[i + 3] == 0x0 && n > 0 && n <= 64) {
        h_str_adds(&out, " ");
        h_str_add_escaped(&out, q, n);
      }
    }
    h_str_adds(&out, "\n");
    i += 9 + n;
  }
  if (i != len) {
    h_str_addf(&out, "PARTIAL %zu\n", len - i);
  }
  char *r = malloc(out.len + 1);
  assert_non_null(r);
  memcpy(r, h_str_cstr(&out), out.len + 1);
  h_str_free(&out);
  return r;
}
