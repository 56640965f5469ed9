/* Test harness: transcripts, every-split, failing allocator, guard page.
 * Public API only. SPDX-License-Identifier: MIT */
#define _DEFAULT_SOURCE 1

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

/* ---- h_str ------------------------------------------------------------- */

static void str_reserve(h_str *s, size_t extra) {
  if (s->len + extra + 1 <= s->cap) {
    return;
  }
  size_t cap = s->cap != 0 ? s->cap : 64;
  while (cap < s->len + extra + 1) {
    cap *= 2;
  }
  char *p = realloc(s->p, cap);
  if (p == NULL) {
    fail_msg("harness: out of memory");
  }
  s->p = p;
  s->cap = cap;
}

void h_str_add(h_str *s, const void *data, size_t len) {
  str_reserve(s, len);
  if (len != 0) {
    memcpy(s->p + s->len, data, len);
  }
  s->len += len;
  s->p[s->len] = '\0';
}

void h_str_adds(h_str *s, const char *cstr) {
  h_str_add(s, cstr, strlen(cstr));
}

void h_str_addf(h_str *s, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n < 0) {
    fail_msg("harness: bad format");
  }
  if ((size_t)n >= sizeof(buf)) {
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
      fail_msg("harness: out of memory");
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    h_str_add(s, big, (size_t)n);
    free(big);
    return;
  }
  h_str_add(s, buf, (size_t)n);
}

void h_str_add_escaped(h_str *s, const void *data, size_t len) {
  const uint8_t *p = data;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = p[i];
    switch (c) {
    case '\\':
      h_str_adds(s, "\\\\");
      break;
    case '\r':
      h_str_adds(s, "\\r");
      break;
    case '\n':
      h_str_adds(s, "\\n");
      break;
    case '\t':
      h_str_adds(s, "\\t");
      break;
    default:
      if (c < 0x20 || c >= 0x7f) {
        h_str_addf(s, "\\x%02x", c);
      } else {
        h_str_add(s, &c, 1);
      }
      break;
    }
  }
}

void h_str_free(h_str *s) {
  free(s->p);
  s->p = NULL;
  s->len = 0;
  s->cap = 0;
}

const char *h_str_cstr(const h_str *s) {
  return s->p != NULL ? s->p : "";
}

const char *h_errname(int64_t err) {
  static char buf[64];
  switch (err) {
  case 0:
    return "0";
#define H_ERRNAME_(name, value, fatal, msg)                                    \
  case value:                                                                  \
    return #name;
    ZTTP_ERROR_TABLE(H_ERRNAME_)
#undef H_ERRNAME_
  default:
    snprintf(buf, sizeof(buf), "UNKNOWN(%lld)", (long long)err);
    return buf;
  }
}

/* ---- configs ----------------------------------------------------------- */

zttp_config *h_cfg_new(uint32_t lenient, const h_limit *limits,
                       const zttp_allocator *alloc) {
  zttp_config *cfg = NULL;
  assert_int_equal(zttp_config_new(&cfg, alloc), 0);
  assert_non_null(cfg);
  assert_int_equal(zttp_config_set_lenient(cfg, lenient), 0);
  for (size_t i = 0; limits != NULL && limits[i].id != 0; i++) {
    int32_t rv = zttp_config_set_limit(cfg, limits[i].id, limits[i].value);
    if (rv != 0) {
      print_error("set_limit(%u, %llu) = %s\n", limits[i].id,
                  (unsigned long long)limits[i].value, h_errname(rv));
      fail();
    }
  }
  return cfg;
}

/* ---- recorder
 * ------------------------------------------------------------------ */

void h_rec_init(h_rec *r) {
  memset(r, 0, sizeof(*r));
}

void h_rec_free(h_rec *r) {
  h_str_free(&r->text);
  h_str_free(&r->data);
  h_str_free(&r->upgrade);
}

static void add_flags(h_str *s, uint32_t flags) {
  static const struct {
    uint32_t bit;
    const char *name;
  } names[] = {
      {ZTTP_EVENT_FLAG_END_STREAM, "es"},
      {ZTTP_EVENT_FLAG_EXPECT_CONTINUE, "ec"},
      {ZTTP_EVENT_FLAG_UPGRADE, "up"},
      {ZTTP_EVENT_FLAG_CLOSE, "close"},
      {ZTTP_EVENT_FLAG_ACK, "ack"},
  };
  h_str_adds(s, "f=");
  if (flags == 0) {
    h_str_adds(s, "-");
    return;
  }
  int first = 1;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (flags & names[i].bit) {
      h_str_addf(s, "%s%s", first ? "" : ",", names[i].name);
      first = 0;
      flags &= ~names[i].bit;
    }
  }
  if (flags != 0) {
    h_str_addf(s, "%s0x%x", first ? "" : ",", flags);
  }
}

static void flush_data(h_rec *r) {
  if (!r->has_data) {
    return;
  }
  h_str_addf(&r->text, "DATA s=%lld ", (long long)r->data_stream);
  h_str_add_escaped(&r->text, r->data.p, r->data.len);
  h_str_adds(&r->text, "\n");
  r->data.len = 0;
  r->has_data = 0;
}

static void flush_upgrade(h_rec *r) {
  if (!r->has_upgrade) {
    return;
  }
  h_str_addf(&r->text, "UPGRADE s=%lld ", (long long)r->upgrade_stream);
  h_str_add_escaped(&r->text, r->upgrade.p, r->upgrade.len);
  h_str_adds(&r->text, "\n");
  r->has_upgrade = 0;
}

static void flush_all(h_rec *r) {
  flush_data(r);
  flush_upgrade(r);
}

/* Appends " <key>=<value>" when the string is present. */
static void add_opt(h_str *s, const char *key, zttp_str v) {
  if (v.base == NULL) {
    if (v.len != 0) {
      h_str_addf(s, " BUG:%s-null-with-len-%zu", key, v.len);
    }
    return;
  }
  h_str_addf(s, " %s=", key);
  h_str_add_escaped(s, v.base, v.len);
}

static void add_str(h_str *s, zttp_str v) {
  if (v.base == NULL) {
    h_str_adds(s, v.len != 0 ? "BUG:null-with-len" : "(null)");
    return;
  }
  h_str_add_escaped(s, v.base, v.len);
}

static void add_fields(h_str *s, const char *prefix, const zttp_header *h,
                       size_t n) {
  if (n != 0 && h == NULL) {
    h_str_addf(s, "BUG %s list NULL with %zu entries\n", prefix, n);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    h_str_addf(s, "  %s", prefix);
    if (h[i].name == NULL || h[i].name_len == 0) {
      h_str_adds(s, "BUG:empty-name");
    } else {
      h_str_add_escaped(s, h[i].name, h[i].name_len);
    }
    h_str_adds(s, "=");
    if (h[i].value == NULL && h[i].value_len != 0) {
      h_str_adds(s, "BUG:null-value");
    } else if (h[i].value_len != 0) {
      h_str_add_escaped(s, h[i].value, h[i].value_len);
    }
    h_str_adds(s, "\n");
  }
}

void h_rec_event(h_rec *r, const zttp_event *ev) {
  h_str *t = &r->text;
  r->num_events++;
  if (ev->kind == ZTTP_EVENT_DATA) {
    flush_upgrade(r);
    if (r->has_data && r->data_stream != ev->stream_id) {
      flush_data(r);
    }
    if (ev->u.data.len == 0 || ev->u.data.data == NULL) {
      flush_data(r);
      h_str_addf(t, "BUG empty DATA event (len %zu)\n", ev->u.data.len);
      return;
    }
    if (ev->flags != 0) {
      flush_data(r);
      h_str_addf(t, "BUG DATA flags 0x%x\n", ev->flags);
    }
    h_str_add(&r->data, ev->u.data.data, ev->u.data.len);
    r->data_stream = ev->stream_id;
    r->has_data = 1;
    return;
  }
  flush_all(r);
  switch (ev->kind) {
  case ZTTP_EVENT_REQUEST: {
    const zttp_request_event *q = &ev->u.request;
    r->num_requests++;
    h_str_addf(t, "REQUEST s=%lld ", (long long)ev->stream_id);
    add_flags(t, ev->flags);
    h_str_adds(t, " ");
    add_str(t, q->method);
    h_str_adds(t, " ");
    add_str(t, q->target);
    h_str_adds(t, " path=");
    add_str(t, q->path);
    add_opt(t, "query", q->query);
    add_opt(t, "host", q->authority);
    add_opt(t, "scheme", q->scheme);
    add_opt(t, "protocol", q->protocol);
    h_str_addf(t, " v=%u\n", q->http_version);
    add_fields(t, "", q->headers, q->num_headers);
    break;
  }
  case ZTTP_EVENT_RESPONSE: {
    const zttp_response_event *p = &ev->u.response;
    h_str_addf(t, "RESPONSE s=%lld ", (long long)ev->stream_id);
    add_flags(t, ev->flags & ~r->resp_flags_ignore);
    h_str_addf(t, " %u v=%u reason=", p->status, p->http_version);
    if (p->reason.base == NULL && p->reason.len != 0) {
      h_str_adds(t, "BUG:null-reason");
    } else if (p->reason.len != 0) {
      h_str_add_escaped(t, p->reason.base, p->reason.len);
    }
    h_str_adds(t, "\n");
    add_fields(t, "", p->headers, p->num_headers);
    break;
  }
  case ZTTP_EVENT_END_MESSAGE:
    r->num_ends++;
    h_str_addf(t, "END s=%lld", (long long)ev->stream_id);
    if (ev->flags != 0) {
      h_str_adds(t, " ");
      add_flags(t, ev->flags);
    }
    h_str_adds(t, "\n");
    add_fields(t, "trailer ", ev->u.end.trailers, ev->u.end.num_trailers);
    break;
  case ZTTP_EVENT_CONNECTION_CLOSED:
    r->closed = 1;
    h_str_addf(t, "CLOSED error=%s wire=%llu", h_errname(ev->u.closed.error),
               (unsigned long long)ev->u.closed.wire_error_code);
    if (ev->u.closed.reason.len != 0) {
      h_str_adds(t, " reason=");
      add_str(t, ev->u.closed.reason);
    }
    h_str_adds(t, "\n");
    break;
  case ZTTP_EVENT_UPGRADE:
    if (r->upgraded) {
      h_str_adds(t, "BUG second UPGRADE\n");
    }
    r->upgraded = 1;
    r->has_upgrade = 1;
    r->upgrade_stream = ev->stream_id;
    r->upgrade.len = 0;
    if (ev->u.data.len != 0) {
      if (ev->u.data.data == NULL) {
        h_str_adds(t, "BUG UPGRADE data NULL\n");
      } else {
        h_str_add(&r->upgrade, ev->u.data.data, ev->u.data.len);
      }
    }
    break;
  case ZTTP_EVENT_STREAM_RESET:
    h_str_addf(t, "RESET s=%lld code=%llu\n", (long long)ev->stream_id,
               (unsigned long long)ev->u.reset.error_code);
    break;
  case ZTTP_EVENT_GOAWAY:
    h_str_addf(t, "GOAWAY last=%lld code=%llu",
               (long long)ev->u.goaway.last_stream_id,
               (unsigned long long)ev->u.goaway.error_code);
    if (ev->u.goaway.debug_data.len != 0) {
      h_str_adds(t, " debug=");
      add_str(t, ev->u.goaway.debug_data);
    }
    h_str_adds(t, "\n");
    break;
  case ZTTP_EVENT_SETTINGS:
    h_str_adds(t, "SETTINGS");
    if (ev->u.settings.settings == NULL && ev->u.settings.num_settings != 0) {
      h_str_adds(t, " BUG:null-settings");
    } else {
      for (size_t i = 0; i < ev->u.settings.num_settings; i++) {
        h_str_addf(t, " %llu=%llu",
                   (unsigned long long)ev->u.settings.settings[i].id,
                   (unsigned long long)ev->u.settings.settings[i].value);
      }
    }
    h_str_adds(t, "\n");
    break;
  case ZTTP_EVENT_PING:
    h_str_adds(t, "PING ");
    add_flags(t, ev->flags);
    h_str_adds(t, " ");
    h_str_add_escaped(t, ev->u.ping.opaque_data, 8);
    h_str_adds(t, "\n");
    break;
  case ZTTP_EVENT_WINDOW_UPDATE:
    h_str_addf(t, "WINDOW s=%lld available=%llu\n", (long long)ev->stream_id,
               (unsigned long long)ev->u.window.available);
    break;
  case ZTTP_EVENT_PRIORITY:
    h_str_addf(t, "PRIORITY s=%lld u=%u i=%u\n", (long long)ev->stream_id,
               ev->u.priority.urgency, ev->u.priority.incremental);
    break;
  default:
    h_str_addf(t, "EVENT kind=%u s=%lld ", ev->kind, (long long)ev->stream_id);
    add_flags(t, ev->flags);
    h_str_adds(t, "\n");
    break;
  }
}

void h_rec_line(h_rec *r, const char *line) {
  flush_all(r);
  h_str_adds(&r->text, line);
  h_str_adds(&r->text, "\n");
}

void h_rec_error(h_rec *r, int64_t err) {
  flush_all(r);
  r->error = (int32_t)err;
  h_str_addf(&r->text, "ERROR %s\n", h_errname(err));
}

const char *h_rec_text(h_rec *r) {
  flush_all(r);
  return h_str_cstr(&r->text);
}

int64_t h_drain(zttp_conn *conn, h_rec *r, h_event_fn cb, void *arg) {
  int64_t n = 0;
  for (int guard = 0; guard < 10000000; guard++) {
    zttp_event ev;
    memset(&ev, 0xa5, sizeof(ev));
    int32_t rv = zttp_conn_next_event(conn, &ev);
    if (rv < 0) {
      h_rec_error(r, rv);
      return rv;
    }
    if (rv == 0) {
      if (ev.kind != ZTTP_EVENT_NEED_DATA) {
        flush_all(r);
        h_str_addf(&r->text, "BUG next_event 0 with kind %u\n", ev.kind);
      }
      return n;
    }
    if (rv != 1 || ev.kind == ZTTP_EVENT_NEED_DATA) {
      flush_all(r);
      h_str_addf(&r->text, "BUG next_event returned %d kind %u\n", rv, ev.kind);
      return n;
    }
    h_rec_event(r, &ev);
    n++;
    if (cb != NULL) {
      cb(conn, &ev, arg);
    }
  }
  h_rec_line(r, "BUG endless events");
  return n;
}

/* ---- guard page
 * -------------------------------------------------------------- */

static size_t page_size(void) {
  long ps = sysconf(_SC_PAGESIZE);
  return ps > 0 ? (size_t)ps : 4096;
}

void h_guard_init(h_guard *g, size_t cap) {
  size_t ps = page_size();
  size_t body = (cap + ps - 1) / ps * ps;
  if (body == 0) {
    body = ps;
  }
  g->map_len = body + ps;
  void *m = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    fail_msg("harness: mmap failed");
  }
  g->map = m;
  if (mprotect(g->map + body, ps, PROT_NONE) != 0) {
    fail_msg("harness: mprotect failed");
  }
  g->cap = body;
}

const uint8_t *h_guard_place(h_guard *g, const void *data, size_t len) {
  assert_true(len <= g->cap);
  uint8_t *dst = g->map + g->cap - len;
  if (len != 0) {
    memcpy(dst, data, len);
  }
  return dst;
}

void h_guard_free(h_guard *g) {
  if (g->map != NULL) {
    munmap(g->map, g->map_len);
  }
  memset(g, 0, sizeof(*g));
}

/* One guard mapping reused by every feed, grown on demand. */
static h_guard feed_guard;

static const uint8_t *guarded(const void *data, size_t len) {
  if (feed_guard.map == NULL || feed_guard.cap < len) {
    h_guard_free(&feed_guard);
    h_guard_init(&feed_guard, len);
  }
  return h_guard_place(&feed_guard, data, len);
}

/* ---- feeding
 * -------------------------------------------------------------------- */

int64_t h_feed(zttp_conn *conn, h_rec *r, const uint8_t *data, size_t len,
               h_event_fn cb, void *arg) {
  if (r->upgraded) {
    h_str_add(&r->upgrade, data, len);
    return 1;
  }
  if (len == 0) {
    /* Nothing to hand over: just pull what is ready. */
    int64_t n = h_drain(conn, r, cb, arg);
    if (n < 0) {
      return n;
    }
    return r->upgraded ? 1 : 0;
  }
  const uint8_t *p = guarded(data, len);
  size_t off = 0;
  unsigned idle = 0; /* rounds in a row that took no byte */
  while (off < len) {
    int64_t rv = zttp_conn_receive_data(conn, p + off, len - off);
    if (rv < 0) {
      h_rec_error(r, rv);
      return rv;
    }
    if ((uint64_t)rv > len - off) {
      flush_all(r);
      h_str_addf(&r->text, "BUG receive_data took %lld of %zu\n", (long long)rv,
                 len - off);
      return 2;
    }
    off += (size_t)rv;
    int64_t n = h_drain(conn, r, cb, arg);
    if (n < 0) {
      return n;
    }
    if (r->upgraded) {
      /* The application reads the tunnel from here on. */
      h_str_add(&r->upgrade, data + off, len - off);
      return 1;
    }
    if (rv == 0 && n == 0) {
      h_rec_line(r, "STALL");
      return 2;
    }
    idle = rv == 0 ? idle + 1 : 0;
    if (idle > 10000) {
      h_rec_line(r, "BUG events keep coming but no input is taken");
      return 2;
    }
  }
  return 0;
}

int64_t h_feed_eof(zttp_conn *conn, h_rec *r, h_event_fn cb, void *arg) {
  static const uint8_t dummy = 0;
  if (r->upgraded) {
    return 0;
  }
  int64_t rv = zttp_conn_receive_data(conn, &dummy, 0);
  if (rv < 0) {
    h_rec_error(r, rv);
    return rv;
  }
  if (rv != 0) {
    flush_all(r);
    h_str_addf(&r->text, "BUG EOF returned %lld\n", (long long)rv);
  }
  int64_t n = h_drain(conn, r, cb, arg);
  return n < 0 ? n : 0;
}

/* ---- transcripts
 * ---------------------------------------------------------------- */

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d == NULL) {
    fail_msg("harness: out of memory");
  }
  memcpy(d, s, n);
  return d;
}

char *h_transcript(const h_script *s, const void *data, size_t len,
                   const size_t *cuts, size_t num_cuts) {
  const uint8_t *bytes = data;
  zttp_conn *conn = NULL;
  int32_t rv = zttp_conn_new(&conn, s->cfg, s->role,
                             s->protocol != 0 ? s->protocol : ZTTP_HTTP1);
  if (rv != 0) {
    print_error("zttp_conn_new: %s\n", h_errname(rv));
    fail();
  }
  if (s->setup != NULL) {
    s->setup(conn, s->arg);
  }
  h_rec r;
  h_rec_init(&r);
  r.resp_flags_ignore = s->resp_flags_ignore;
  size_t start = 0;
  int stopped = 0;
  for (size_t i = 0; i <= num_cuts; i++) {
    size_t end = i < num_cuts ? cuts[i] : len;
    assert_true(end >= start && end <= len);
    if (!stopped) {
      int64_t f =
          h_feed(conn, &r, bytes + start, end - start, s->on_event, s->arg);
      if (f != 0 && f != 1) {
        stopped = 1;
      }
    }
    start = end;
  }
  if (!stopped && !r.upgraded && s->eof) {
    h_feed_eof(conn, &r, s->on_event, s->arg);
  }
  if (r.upgraded && r.error == 0) {
    static const uint8_t x = 'x';
    int64_t after = zttp_conn_receive_data(conn, &x, 1);
    if (after != ZTTP_ERR_INVALID_STATE) {
      flush_all(&r);
      h_str_addf(&r.text, "BUG receive_data after UPGRADE returned %s\n",
                 after < 0 ? h_errname(after) : "a count");
    }
  }
  if (s->describe_output != NULL) {
    const uint8_t *o;
    size_t n = zttp_conn_pending(conn, &o);
    char *d = s->describe_output(o, n);
    h_rec_line(&r, "OUTPUT");
    h_str_adds(&r.text, d);
    free(d);
  }
  char *out = xstrdup(h_rec_text(&r));
  h_rec_free(&r);
  zttp_conn_free(conn);
  return out;
}

char *h_transcript_whole(const h_script *s, const void *data, size_t len) {
  return h_transcript(s, data, len, NULL, 0);
}

static int check_split(const h_script *s, const void *data, size_t len,
                       const char *whole, const size_t *cuts, size_t n,
                       const char *what) {
  char *got = h_transcript(s, data, len, cuts, n);
  if (strcmp(got, whole) == 0) {
    free(got);
    return 1;
  }
  h_str d = {0};
  for (size_t i = 0; i < n && i < 8; i++) {
    h_str_addf(&d, "%s%zu", i ? "," : "", cuts[i]);
  }
  if (n > 8) {
    h_str_adds(&d, ",...");
  }
  print_error("every-split: %s (cuts %s) differs from the whole feed\n"
              "--- whole:\n%s--- split:\n%s---\n",
              what, h_str_cstr(&d), whole, got);
  h_str_free(&d);
  free(got);
  return 0;
}

void h_every_split(const h_script *s, const void *data, size_t len,
                   const char *expected) {
  char *whole = h_transcript(s, data, len, NULL, 0);
  if (expected != NULL && strcmp(whole, expected) != 0) {
    print_error("transcript differs from the expected one\n"
                "--- expected:\n%s--- actual:\n%s---\n",
                expected, whole);
    free(whole);
    fail();
  }
  int ok = 1;
  if (len > 1) {
    size_t *cuts = malloc((len - 1) * sizeof(*cuts));
    assert_non_null(cuts);
    for (size_t i = 1; i < len; i++) {
      cuts[i - 1] = i;
    }
    ok = check_split(s, data, len, whole, cuts, len - 1, "byte by byte");
    free(cuts);
  }
  for (size_t i = 1; ok && i < len; i++) {
    size_t c[1] = {i};
    ok = check_split(s, data, len, whole, c, 1, "two pieces");
  }
  if (len > 2) {
    size_t step = len <= 40 ? 1 : len / 20;
    for (size_t i = 1; ok && i + 1 < len; i += step) {
      for (size_t j = i + 1; ok && j < len; j += step) {
        size_t c[2] = {i, j};
        ok = check_split(s, data, len, whole, c, 2, "three pieces");
      }
    }
    /* Pieces that end right at the end. */
    for (size_t i = 1; ok && i + 1 < len; i += step) {
      size_t c[2] = {i, len - 1};
      ok = check_split(s, data, len, whole, c, 2, "three pieces");
    }
  }
  free(whole);
  if (!ok) {
    fail();
  }
}

void h_every_split_s(const h_script *s, const char *data,
                     const char *expected) {
  h_every_split(s, data, strlen(data), expected);
}

/* ---- failing allocator
 * ---------------------------------------------------------- */

#define FA_MAGIC 0x5a77a11cu
#define FA_DEAD 0xdeadf7eeu

typedef union fa_hdr {
  max_align_t align;
  struct {
    size_t size;
    uint32_t magic;
  } h;
} fa_hdr;

static void *fa_malloc(size_t size, void *user) {
  h_failalloc *fa = user;
  long idx = fa->count++;
  if (idx == fa->fail_at) {
    fa->injected = 1;
    return NULL;
  }
  fa_hdr *h = malloc(sizeof(*h) + size);
  if (h == NULL) {
    return NULL;
  }
  h->h.size = size;
  h->h.magic = FA_MAGIC;
  fa->live_allocs++;
  fa->live_bytes += size;
  if (fa->live_bytes > fa->peak_bytes) {
    fa->peak_bytes = fa->live_bytes;
  }
  return h + 1;
}

static void *fa_realloc(void *ptr, size_t size, void *user) {
  h_failalloc *fa = user;
  if (ptr == NULL) {
    return fa_malloc(size, user);
  }
  fa_hdr *h = (fa_hdr *)ptr - 1;
  if (h->h.magic != FA_MAGIC) {
    fa->bad_frees++;
    return NULL;
  }
  long idx = fa->count++;
  if (idx == fa->fail_at) {
    fa->injected = 1;
    return NULL;
  }
  /* Always move, so that a stale pointer into the old block is caught. */
  fa_hdr *n = malloc(sizeof(*n) + size);
  if (n == NULL) {
    return NULL;
  }
  size_t old = h->h.size;
  memcpy(n + 1, h + 1, old < size ? old : size);
  n->h.size = size;
  n->h.magic = FA_MAGIC;
  h->h.magic = FA_DEAD;
  free(h);
  fa->live_bytes = fa->live_bytes - old + size;
  if (fa->live_bytes > fa->peak_bytes) {
    fa->peak_bytes = fa->live_bytes;
  }
  return n + 1;
}

static void fa_free(void *ptr, void *user) {
  h_failalloc *fa = user;
  if (ptr == NULL) {
    return;
  }
  fa_hdr *h = (fa_hdr *)ptr - 1;
  if (h->h.magic != FA_MAGIC) {
    fa->bad_frees++;
    return;
  }
  h->h.magic = FA_DEAD;
  fa->live_allocs--;
  fa->live_bytes -= h->h.size;
  free(h);
}

void h_failalloc_init(h_failalloc *fa, long fail_at) {
  memset(fa, 0, sizeof(*fa));
  fa->alloc.malloc = fa_malloc;
  fa->alloc.realloc = fa_realloc;
  fa->alloc.free = fa_free;
  fa->alloc.user = fa;
  fa->fail_at = fail_at;
}

void h_expect_poisoned(zttp_conn *conn, uint32_t role, int32_t err) {
  static const uint8_t x = 'x';
  zttp_event ev;
  assert_int_equal(zttp_conn_next_event(conn, &ev), err);
  assert_int_equal(zttp_conn_next_event(conn, &ev), err);
  assert_int_equal(zttp_conn_receive_data(conn, &x, 1), err);
  assert_int_equal(zttp_conn_receive_data(conn, &x, 0), err);
  if (role == ZTTP_SERVER) {
    assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0,
                                             ZTTP_SEND_FLAG_END_STREAM),
                     err);
    assert_int_equal(zttp_conn_send_informational(conn, 0, 100, NULL, 0), err);
  } else {
    zttp_header h = h_hdr("Host", "a");
    assert_int_equal(zttp_conn_send_request(conn, "GET", 3, "/", 1, &h, 1,
                                            ZTTP_SEND_FLAG_END_STREAM),
                     err);
  }
  assert_int_equal(zttp_conn_send_data(conn, 0, &x, 1, 0), err);
  assert_int_equal(zttp_conn_end_message(conn, 0, NULL, 0), err);
  const char *msg = NULL;
  uint64_t wire = 1;
  int64_t sid = 7;
  assert_int_equal(zttp_conn_last_error(conn, &msg, &wire, &sid), err);
  assert_non_null(msg);
  assert_true(strlen(msg) > 0);
  /* HTTP/1.1 has no wire codes; HTTP/2 says INTERNAL_ERROR for NOMEM. */
  assert_true(wire == 0 || (err == ZTTP_ERR_NOMEM && wire == 2));
  assert_int_equal(zttp_conn_should_close(conn), 1);
}

int32_t h_fa_nomem(h_fa_run *run, zttp_conn *conn, uint32_t role) {
  if (!run->fa->injected) {
    print_error("k=%ld: ZTTP_ERR_NOMEM without an injected failure\n", run->k);
    fail();
  }
  if (conn != NULL) {
    h_expect_poisoned(conn, role, ZTTP_ERR_NOMEM);
  }
  return ZTTP_ERR_NOMEM;
}

int32_t h_fa_check(h_fa_run *run, zttp_conn *conn, uint32_t role, int64_t rv,
                   const char *what) {
  if (rv == ZTTP_ERR_NOMEM) {
    return h_fa_nomem(run, conn, role);
  }
  if (rv < 0) {
    print_error("k=%ld (failure %s): %s returned %s\n", run->k,
                run->fa->injected ? "injected" : "not injected", what,
                h_errname(rv));
    fail();
  }
  return 0;
}

long h_fa_drive(h_fa_scenario scenario, void *arg) {
  for (long k = 0; k < 1000000; k++) {
    h_failalloc fa;
    h_failalloc_init(&fa, k);
    h_fa_run run;
    memset(&run, 0, sizeof(run));
    run.fa = &fa;
    run.k = k;
    run.arg = arg;
    int32_t rv = scenario(&run);
    for (size_t i = 0; i < H_FA_MAX_CONNS; i++) {
      zttp_conn_free(run.conns[i]);
    }
    zttp_config_free(run.cfg);
    if (rv != 0 && rv != ZTTP_ERR_NOMEM) {
      print_error("k=%ld: scenario returned %s\n", k, h_errname(rv));
      fail();
    }
    if (rv == ZTTP_ERR_NOMEM && !fa.injected) {
      print_error("k=%ld: NOMEM without an injected failure\n", k);
      fail();
    }
    if (fa.live_allocs != 0 || fa.live_bytes != 0 || fa.bad_frees != 0) {
      print_error("k=%ld (%s): %zu allocations (%zu bytes) leaked, %zu bad "
                  "frees\n",
                  k, rv == 0 ? "success" : "NOMEM", fa.live_allocs,
                  fa.live_bytes, fa.bad_frees);
      fail();
    }
    if (!fa.injected) {
      assert_int_equal(rv, 0);
      return fa.count;
    }
  }
  fail_msg("failing allocator: scenario never completed");
  return -1;
}

/* ---- helpers
 * -------------------------------------------------------------------- */

zttp_header h_hdr(const char *name, const char *value) {
  zttp_header h;
  memset(&h, 0, sizeof(h));
  h.name = name;
  h.name_len = strlen(name);
  h.value = value;
  h.value_len = strlen(value);
  return h;
}

char *h_take_output(zttp_conn *conn, size_t *len) {
  const uint8_t *p = NULL;
  size_t n = zttp_conn_pending(conn, &p);
  char *out = malloc(n + 1);
  assert_non_null(out);
  if (n != 0) {
    assert_non_null(p);
    memcpy(out, p, n);
  }
  out[n] = '\0';
  assert_int_equal(zttp_conn_consume(conn, n), 0);
  if (len != NULL) {
    *len = n;
  }
  return out;
}

void h_send_req(zttp_conn *conn, const char *method, const char *target,
                const char *host) {
  zttp_header h = h_hdr("Host", host != NULL ? host : "");
  int64_t rv = zttp_conn_send_request(conn, method, strlen(method), target,
                                      strlen(target), &h, host != NULL ? 1 : 0,
                                      ZTTP_SEND_FLAG_END_STREAM);
  if (rv != 0) {
    print_error("send_request(%s %s) = %s\n", method, target, h_errname(rv));
    fail();
  }
  free(h_take_output(conn, NULL));
}

int64_t h_transfer(zttp_conn *from, zttp_conn *to, h_rec *r, h_event_fn cb,
                   void *arg) {
  size_t n = 0;
  char *out = h_take_output(from, &n);
  int64_t rv = h_feed(to, r, (const uint8_t *)out, n, cb, arg);
  free(out);
  return rv;
}
