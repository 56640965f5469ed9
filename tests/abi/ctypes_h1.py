#!/usr/bin/python3
"""abi-ctypes-h1: the C ABI is bindable from Python ctypes alone
(DESIGN.md §4 "Bindability").

Only Debian's /usr/bin/python3 and its standard library: libzttp.so is
loaded with ctypes.CDLL, every public function gets argtypes/restype (checked
against the header's declarations), every public struct and the event union
are described as the header lays them out (checked against the C compiler's
own sizeof/offsetof, printed by tests/abi/layout.c, and against the x86_64
sizes computed by hand from the header). Then a whole HTTP/1.1 exchange runs
through the C ABI, with an allocator implemented in Python:

  client: send_request(POST, Content-Length) + send_data + end_message
  -> bytes -> server: REQUEST, DATA, END_MESSAGE (checked field by field)
  server: send_response (chunked) + send_data x2 + end_message(trailers)
  -> bytes -> client: RESPONSE, DATA, DATA, END_MESSAGE(trailers)

plus zttp_version(), zttp_strerror(), a local error (a CR in a header value
refused by the serializer) and a fatal one (a bare LF from the peer, with
zttp_conn_last_error() and the poisoning rule).

usage: ctypes_h1.py LIBZTTP [--layout LAYOUT_EXE] [--header zttp.h]
                    [--version X.Y.Z]
SPDX-License-Identifier: MIT
"""

import argparse
import ctypes as c
import os
import platform
import re
import subprocess
import sys
import traceback

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abilib  # noqa: E402  (TAP output and the header parser; stdlib only)

# --------------------------------------------------------------------------
# Constants (copied from zttp.h, as any binding must; abi-constants pins them)
# --------------------------------------------------------------------------
ZTTP_SERVER, ZTTP_CLIENT = 0, 1
ZTTP_HTTP1 = 1
ZTTP_ERR_INVALID_ARGUMENT = -1
ZTTP_ERR_INVALID_STATE = -2
ZTTP_ERR_NOMEM = -3
ZTTP_ERR_INVALID_FIELD = -6
ZTTP_ERR_BARE_LF = -29
ZTTP_LIMIT_MAX_HEADERS = 3
ZTTP_EVENT_NEED_DATA = 0
ZTTP_EVENT_REQUEST = 1
ZTTP_EVENT_RESPONSE = 2
ZTTP_EVENT_DATA = 3
ZTTP_EVENT_END_MESSAGE = 4
ZTTP_EVENT_CONNECTION_CLOSED = 5
ZTTP_SEND_FLAG_END_STREAM = 0x1
ZTTP_TSTAMP_NEVER = 2**64 - 1
KIND_NAMES = {0: "NEED_DATA", 1: "REQUEST", 2: "RESPONSE", 3: "DATA",
              4: "END_MESSAGE", 5: "CONNECTION_CLOSED", 6: "STREAM_RESET",
              7: "GOAWAY", 8: "SETTINGS", 9: "PING", 10: "WINDOW_UPDATE",
              11: "UPGRADE"}

# --------------------------------------------------------------------------
# Types, exactly as zttp.h declares them
# --------------------------------------------------------------------------
P = c.POINTER
u8, u32, i32, u64, i64, size_t = (c.c_uint8, c.c_uint32, c.c_int32, c.c_uint64,
                                  c.c_int64, c.c_size_t)


class ZttpStr(c.Structure):
    _fields_ = [("base", c.c_void_p), ("len", size_t)]


class ZttpHeader(c.Structure):
    _fields_ = [("name", c.c_void_p), ("name_len", size_t),
                ("value", c.c_void_p), ("value_len", size_t),
                ("flags", u32), ("reserved", u32)]


class ZttpPath(c.Structure):
    _fields_ = [("local", u8 * 32), ("local_len", u32),
                ("remote", u8 * 32), ("remote_len", u32)]


MALLOC_FN = c.CFUNCTYPE(c.c_void_p, size_t, c.c_void_p)
REALLOC_FN = c.CFUNCTYPE(c.c_void_p, c.c_void_p, size_t, c.c_void_p)
FREE_FN = c.CFUNCTYPE(None, c.c_void_p, c.c_void_p)


class ZttpAllocator(c.Structure):
    _fields_ = [("malloc", MALLOC_FN), ("realloc", REALLOC_FN),
                ("free", FREE_FN), ("user", c.c_void_p)]


class ZttpRequestEvent(c.Structure):
    _fields_ = [("method", ZttpStr), ("target", ZttpStr), ("path", ZttpStr),
                ("query", ZttpStr), ("authority", ZttpStr), ("scheme", ZttpStr),
                ("protocol", ZttpStr), ("headers", P(ZttpHeader)),
                ("num_headers", size_t), ("http_version", u32), ("reserved", u32)]


class ZttpResponseEvent(c.Structure):
    _fields_ = [("status", u32), ("http_version", u32), ("reason", ZttpStr),
                ("headers", P(ZttpHeader)), ("num_headers", size_t)]


class ZttpDataEvent(c.Structure):
    _fields_ = [("data", c.c_void_p), ("len", size_t)]


class ZttpEndEvent(c.Structure):
    _fields_ = [("trailers", P(ZttpHeader)), ("num_trailers", size_t)]


class ZttpClosedEvent(c.Structure):
    _fields_ = [("error", i32), ("reserved", u32), ("wire_error_code", u64),
                ("reason", ZttpStr)]


class ZttpResetEvent(c.Structure):
    _fields_ = [("error_code", u64)]


class ZttpGoawayEvent(c.Structure):
    _fields_ = [("last_stream_id", i64), ("error_code", u64),
                ("debug_data", ZttpStr)]


class ZttpSetting(c.Structure):
    _fields_ = [("id", u64), ("value", u64)]


class ZttpSettingsEvent(c.Structure):
    _fields_ = [("settings", P(ZttpSetting)), ("num_settings", size_t)]


class ZttpPingEvent(c.Structure):
    _fields_ = [("opaque_data", u8 * 8)]


class ZttpWindowEvent(c.Structure):
    _fields_ = [("available", u64)]


class ZttpPathEvent(c.Structure):
    _fields_ = [("path", ZttpPath), ("validated", u32), ("reserved", u32)]


class ZttpPriorityEvent(c.Structure):
    _fields_ = [("urgency", u32), ("incremental", u32)]


class ZttpEventUnion(c.Union):
    _fields_ = [("request", ZttpRequestEvent), ("response", ZttpResponseEvent),
                ("data", ZttpDataEvent), ("end", ZttpEndEvent),
                ("closed", ZttpClosedEvent), ("reset", ZttpResetEvent),
                ("goaway", ZttpGoawayEvent), ("settings", ZttpSettingsEvent),
                ("ping", ZttpPingEvent), ("window", ZttpWindowEvent),
                ("path", ZttpPathEvent), ("priority", ZttpPriorityEvent),
                ("reserved", u64 * 32)]


class ZttpEndpointStats(c.Structure):
    _fields_ = [("routed", u64), ("accepted", u64), ("refused", u64),
                ("retries", u64), ("bad_tokens", u64),
                ("version_negotiations", u64), ("stateless_resets", u64),
                ("dropped", u64)]


class ZttpEvent(c.Structure):
    _fields_ = [("kind", u32), ("flags", u32), ("stream_id", i64),
                ("u", ZttpEventUnion)]


# C type name (as tests/abi/layout.c prints it) -> ctypes description.
LAYOUT_TYPES = {
    "zttp_str": ZttpStr, "zttp_header": ZttpHeader, "zttp_path": ZttpPath,
    "zttp_allocator": ZttpAllocator, "zttp_request_event": ZttpRequestEvent,
    "zttp_response_event": ZttpResponseEvent, "zttp_data_event": ZttpDataEvent,
    "zttp_end_event": ZttpEndEvent, "zttp_closed_event": ZttpClosedEvent,
    "zttp_reset_event": ZttpResetEvent, "zttp_goaway_event": ZttpGoawayEvent,
    "zttp_setting": ZttpSetting, "zttp_settings_event": ZttpSettingsEvent,
    "zttp_ping_event": ZttpPingEvent, "zttp_window_event": ZttpWindowEvent,
    "zttp_path_event": ZttpPathEvent, "zttp_priority_event": ZttpPriorityEvent,
    "zttp_event_union": ZttpEventUnion,
    "zttp_event": ZttpEvent,
}

# sizeof on x86_64 (LP64, SysV), computed by hand from the header's rules:
# pointers and size_t 8 bytes, each member aligned to its own size.
X86_64_SIZES = {
    ZttpStr: 16,            # pointer + size_t
    ZttpHeader: 40,         # 2 x (pointer + size_t) + 2 x uint32_t
    ZttpPath: 72,           # 32 + 4 + 32 + 4, alignment 4
    ZttpAllocator: 32,      # 3 function pointers + user
    ZttpRequestEvent: 136,  # 7 x zttp_str + pointer + size_t + 2 x uint32_t
    ZttpResponseEvent: 40,  # 2 x uint32_t + zttp_str + pointer + size_t
    ZttpDataEvent: 16, ZttpEndEvent: 16,
    ZttpClosedEvent: 32,    # int32 + uint32 + uint64 + zttp_str
    ZttpResetEvent: 8, ZttpGoawayEvent: 32, ZttpSetting: 16,
    ZttpSettingsEvent: 16, ZttpPingEvent: 8, ZttpWindowEvent: 8,
    ZttpPathEvent: 80,      # zttp_path (72) + 2 x uint32_t
    ZttpPriorityEvent: 8,   # 2 x uint32_t
    ZttpEventUnion: 256,    # uint64_t reserved[32] is the largest member
    ZttpEvent: 272,         # kind, flags (8) + stream_id (8) + union (256)
}

# --------------------------------------------------------------------------
# Functions: (restype, argtypes) for every ZTTP_EXTERN function
# --------------------------------------------------------------------------
H = c.c_void_p  # zttp_config *, zttp_conn *, zttp_endpoint *: opaque handles
SIGNATURES = {
    "zttp_strerror": (c.c_char_p, [i32]),
    "zttp_error_is_fatal": (i32, [i32]),
    "zttp_version": (c.c_char_p, [P(u32)]),
    "zttp_config_new": (i32, [P(H), P(ZttpAllocator)]),
    "zttp_config_free": (None, [H]),
    "zttp_config_set_limit": (i32, [H, u32, u64]),
    "zttp_config_get_limit": (i32, [H, P(u64), u32]),
    "zttp_config_set_lenient": (i32, [H, u32]),
    "zttp_config_set_option": (i32, [H, u32, u64]),
    "zttp_config_set_tls_cert_key": (i32, [H, c.c_char_p, c.c_char_p]),
    "zttp_config_set_tls_ca": (i32, [H, c.c_char_p, c.c_char_p]),
    "zttp_config_set_tls_insecure_no_verify": (i32, [H, u32]),
    "zttp_config_set_server_name": (i32, [H, c.c_char_p, size_t]),
    "zttp_config_set_tls_cert_key_pem": (i32, [H, c.c_char_p, size_t,
                                               c.c_char_p, size_t]),
    "zttp_config_set_alpn": (i32, [H, P(ZttpStr), size_t]),
    "zttp_config_set_tls_ciphers": (i32, [H, u32]),
    "zttp_config_set_tls_groups": (i32, [H, c.c_char_p]),
    "zttp_conn_new": (i32, [P(H), H, u32, u32]),
    "zttp_conn_free": (None, [H]),
    "zttp_conn_receive_data": (i64, [H, c.c_char_p, size_t]),
    "zttp_conn_receive_datagram": (i32, [H, c.c_char_p, size_t, P(ZttpPath), u64]),
    "zttp_conn_next_event": (i32, [H, P(ZttpEvent)]),
    "zttp_conn_send_request": (i64, [H, c.c_char_p, size_t, c.c_char_p, size_t,
                                     P(ZttpHeader), size_t, u32]),
    "zttp_conn_send_response": (i32, [H, i64, u32, c.c_char_p, size_t,
                                      P(ZttpHeader), size_t, u32]),
    "zttp_conn_send_informational": (i32, [H, i64, u32, P(ZttpHeader), size_t]),
    "zttp_conn_send_data": (i64, [H, i64, c.c_char_p, size_t, u32]),
    "zttp_conn_end_message": (i32, [H, i64, P(ZttpHeader), size_t]),
    "zttp_conn_reset_stream": (i32, [H, i64, u64]),
    "zttp_conn_close": (i32, [H, u64, u32]),
    "zttp_conn_should_close": (i32, [H]),
    "zttp_conn_send_window": (i64, [H, i64]),
    "zttp_conn_data_consumed": (i32, [H, i64, size_t]),
    "zttp_conn_pending": (size_t, [H, P(c.c_void_p)]),
    "zttp_conn_consume": (i32, [H, size_t]),
    "zttp_conn_write_datagram": (i64, [H, P(ZttpPath), P(size_t), c.c_void_p,
                                       size_t, u64]),
    "zttp_conn_next_timeout": (u64, [H]),
    "zttp_conn_handle_timeout": (i32, [H, u64]),
    "zttp_conn_set_time": (i32, [H, u64]),
    "zttp_conn_ping": (i32, [H, c.c_char_p]),
    "zttp_conn_set_priority": (i32, [H, i64, u32, u32]),
    "zttp_conn_new_h2c_upgrade": (i32, [P(H), H, c.c_char_p, size_t,
                                        c.c_char_p, size_t]),
    "zttp_conn_last_error": (i32, [H, P(c.c_char_p), P(u64), P(i64)]),
    "zttp_conn_send_datagram": (i32, [H, i64, c.c_void_p, size_t]),
    "zttp_endpoint_new": (i32, [P(H), H, size_t, u32]),
    "zttp_endpoint_free": (None, [H]),
    "zttp_endpoint_set_keys": (i32, [H, c.c_void_p, c.c_void_p]),
    "zttp_endpoint_receive": (i32, [H, P(H), c.c_void_p, size_t, P(size_t),
                                    c.c_void_p, size_t, P(ZttpPath), u64]),
    "zttp_endpoint_update": (i32, [H, H]),
    "zttp_endpoint_remove": (i32, [H, H]),
    "zttp_endpoint_num_connections": (size_t, [H]),
    "zttp_endpoint_get_stats": (P(ZttpEndpointStats), [H]),
}

_SCALARS = {"int32_t": i32, "uint32_t": u32, "int64_t": i64, "uint64_t": u64,
            "zttp_tstamp": u64, "size_t": size_t}
_STRUCTS = {"zttp_event": ZttpEvent, "zttp_header": ZttpHeader,
            "zttp_path": ZttpPath, "zttp_allocator": ZttpAllocator,
            "zttp_str": ZttpStr, "zttp_endpoint_stats": ZttpEndpointStats}


def _same_ctype(a, b):
    """ctypes aliases c_int64/c_long etc. on LP64: same size and type code."""
    if a is b:
        return True
    if a is None or b is None:
        return False
    return c.sizeof(a) == c.sizeof(b) and getattr(a, "_type_", 0) == getattr(b, "_type_", 1)


def ctype_ok(ctext, ct):
    """Is ctypes type |ct| a faithful description of C type |ctext|?"""
    t = " ".join(ctext.replace("const", " ").replace("*", " * ").split())
    stars = t.count("*")
    base = t.replace("*", "").strip()
    if stars == 0:
        if base == "void":
            return ct is None
        return base in _SCALARS and _same_ctype(ct, _SCALARS[base])
    if stars == 1:
        if base == "char":
            return ct is c.c_char_p
        if base == "uint8_t":
            return ct in (c.c_char_p, c.c_void_p)  # byte buffers
        if base in ("zttp_conn", "zttp_config", "zttp_endpoint"):
            return ct is H
        if base in _STRUCTS:
            return ct is P(_STRUCTS[base])
        if base in _SCALARS:
            return ct is P(_SCALARS[base])
        return False
    if stars == 2:
        if base in ("zttp_conn", "zttp_config", "zttp_endpoint", "uint8_t"):
            return ct is P(c.c_void_p)
        if base == "char":
            return ct is P(c.c_char_p)
    return False


def split_decl(decl):
    """'int32_t f(zttp_conn *conn, size_t len)' -> ('int32_t', ['zttp_conn *',
    'size_t'])."""
    m = re.match(r"^(.*?)\b(\w+)\s*\((.*)\)$", decl)
    ret, params = m.group(1).strip(), m.group(3).strip()
    types = []
    if params and params != "void":
        for p in params.split(","):
            p = p.strip()
            pm = re.match(r"^(.*?[\s*])(\w+)$", p)
            types.append(pm.group(1).strip() if pm else p)
    return ret, types


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------


class Failed(Exception):
    pass


def s(zs):
    """A zttp_str as bytes, None when absent (base NULL)."""
    if not zs.base:
        return None if zs.len == 0 else ("NULL base, len %d" % zs.len)
    return c.string_at(zs.base, zs.len)


def headers_of(ptr, n):
    out = []
    for i in range(n):
        h = ptr[i]
        out.append((c.string_at(h.name, h.name_len) if h.name else b"",
                    c.string_at(h.value, h.value_len) if h.value else b"",
                    h.flags))
    return out


def make_headers(pairs):
    """Returns (ZttpHeader array, keepalive) for [(name, value)]."""
    keep = []
    arr = (ZttpHeader * max(1, len(pairs)))()
    for i, (n, v) in enumerate(pairs):
        nb, vb = c.create_string_buffer(n, len(n)), c.create_string_buffer(v, len(v))
        keep += [nb, vb]
        arr[i].name, arr[i].name_len = c.cast(nb, c.c_void_p), len(n)
        arr[i].value, arr[i].value_len = c.cast(vb, c.c_void_p), len(v)
        arr[i].flags = arr[i].reserved = 0
    return arr, keep


def event_to_py(ev):
    """Copies one event out of connection memory (valid until the next call)."""
    k = ev.kind
    d = {"kind": KIND_NAMES.get(k, k), "stream_id": ev.stream_id, "flags": ev.flags}
    if k == ZTTP_EVENT_REQUEST:
        r = ev.u.request
        d.update(method=s(r.method), target=s(r.target), path=s(r.path),
                 query=s(r.query), authority=s(r.authority), scheme=s(r.scheme),
                 protocol=s(r.protocol), http_version=r.http_version,
                 headers=headers_of(r.headers, r.num_headers))
    elif k == ZTTP_EVENT_RESPONSE:
        r = ev.u.response
        d.update(status=r.status, reason=s(r.reason), http_version=r.http_version,
                 headers=headers_of(r.headers, r.num_headers))
    elif k == ZTTP_EVENT_DATA:
        d.update(data=c.string_at(ev.u.data.data, ev.u.data.len) if ev.u.data.len else b"")
    elif k == ZTTP_EVENT_END_MESSAGE:
        d.update(trailers=headers_of(ev.u.end.trailers, ev.u.end.num_trailers))
    elif k == ZTTP_EVENT_CONNECTION_CLOSED:
        d.update(error=ev.u.closed.error, wire_error_code=ev.u.closed.wire_error_code,
                 reason=s(ev.u.closed.reason))
    return d


def reexec_with_sanitizer_runtime(lib):
    """A library built with gcc -fsanitize=address needs the ASan runtime
    first in the process: re-run this script with it in LD_PRELOAD. Leak
    detection is off for the interpreter (its own allocations would be
    reported); zttp's are checked through the Python allocator instead."""
    if os.environ.get("ZTTP_CTYPES_REEXEC"):
        return
    try:
        out = subprocess.run(["ldd", lib], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True).stdout
    except OSError:
        return
    m = re.search(r"^\s*libasan\.so\S*\s*=>\s*(/\S+)", out, re.M)
    if not m:
        return
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(x for x in (m.group(1), env.get("LD_PRELOAD")) if x)
    env["ASAN_OPTIONS"] = ":".join(x for x in (env.get("ASAN_OPTIONS"), "detect_leaks=0") if x)
    env["ZTTP_CTYPES_REEXEC"] = "1"
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--layout", default="")
    ap.add_argument("--header", default="")
    ap.add_argument("--version", default="")
    args = ap.parse_args()
    reexec_with_sanitizer_runtime(args.lib)
    tap = abilib.Tap()
    if os.environ.get("ZTTP_CTYPES_REEXEC"):
        tap.diag("running with LD_PRELOAD=%s (sanitizer build)" % os.environ.get("LD_PRELOAD"))

    # --- load and bind ----------------------------------------------------------
    L = c.CDLL(os.path.abspath(args.lib))
    missing = []
    for name, (res, argt) in SIGNATURES.items():
        try:
            f = getattr(L, name)
        except AttributeError:
            missing.append(name)
            continue
        f.restype, f.argtypes = res, argt
    tap.ok(not missing, "ctypes binds all %d functions by name" % len(SIGNATURES),
           "missing: " + ", ".join(missing) if missing else None)
    if missing:
        return tap.done()

    if args.header:
        exported, _, _ = abilib.parse_header(args.header)
        tap.ok(set(exported) == set(SIGNATURES),
               "the bindings cover exactly the header's ZTTP_EXTERN functions",
               None if set(exported) == set(SIGNATURES) else
               "header only: %s; bindings only: %s" % (
                   sorted(set(exported) - set(SIGNATURES)),
                   sorted(set(SIGNATURES) - set(exported))))
        bad = []
        for name, (_, decl) in sorted(exported.items()):
            if name not in SIGNATURES:
                continue
            ret, params = split_decl(decl)
            res, argt = SIGNATURES[name]
            if not ctype_ok(ret, res):
                bad.append("%s: return %r vs %r" % (name, ret, res))
            if len(params) != len(argt):
                bad.append("%s: %d parameters vs %d argtypes" % (name, len(params), len(argt)))
                continue
            for i, (pt, ct) in enumerate(zip(params, argt)):
                if not ctype_ok(pt, ct):
                    bad.append("%s: parameter %d %r vs %r" % (name, i + 1, pt, ct))
        tap.ok(not bad, "every argtypes/restype matches the header's C declaration",
               "\n".join(bad) if bad else None)

    # --- layout ----------------------------------------------------------------------
    if args.layout:
        out = subprocess.run([args.layout], stdout=subprocess.PIPE,
                             universal_newlines=True, check=True).stdout
        bad = []
        nfields = 0
        for line in out.splitlines():
            parts = line.split()
            t = LAYOUT_TYPES.get(parts[1])
            if t is None:
                bad.append("no ctypes description of %s" % parts[1])
                continue
            if parts[0] == "S":
                size, align = int(parts[2]), int(parts[3])
                if (c.sizeof(t), c.alignment(t)) != (size, align):
                    bad.append("%s: C sizeof %d alignof %d, ctypes %d %d" % (
                        parts[1], size, align, c.sizeof(t), c.alignment(t)))
            else:
                nfields += 1
                fld = getattr(t, parts[2], None)
                off, size = int(parts[3]), int(parts[4])
                if fld is None:
                    bad.append("%s.%s missing in ctypes" % (parts[1], parts[2]))
                elif (fld.offset, fld.size) != (off, size):
                    bad.append("%s.%s: C offset %d size %d, ctypes %d %d" % (
                        parts[1], parts[2], off, size, fld.offset, fld.size))
        counted = {p.split()[1] for p in out.splitlines()}
        for name, t in LAYOUT_TYPES.items():
            if name not in counted:
                bad.append("layout helper does not list %s" % name)
            else:
                cfields = sum(1 for l in out.splitlines()
                              if l.startswith("F %s " % name))
                if cfields != len(t._fields_):
                    bad.append("%s: C lists %d members, ctypes %d" % (
                        name, cfields, len(t._fields_)))
        tap.ok(not bad, "ctypes layouts == C sizeof/alignof/offsetof of %d types, %d members"
               % (len(LAYOUT_TYPES), nfields), "\n".join(bad) if bad else None)
    else:
        tap.skip("ctypes layouts == C layouts", "no layout helper given")
    if platform.machine() in ("x86_64", "AMD64") and c.sizeof(c.c_void_p) == 8:
        bad = ["%s: %d, expected %d" % (t.__name__, c.sizeof(t), n)
               for t, n in X86_64_SIZES.items() if c.sizeof(t) != n]
        tap.ok(not bad, "sizeof(zttp_event) == 272 and the other x86_64 sizes from the header",
               "\n".join(bad) if bad else None)
        offs = [(f, getattr(ZttpEvent, f).offset) for f in ("kind", "flags", "stream_id", "u")]
        tap.eq(offs, [("kind", 0), ("flags", 4), ("stream_id", 8), ("u", 16)],
               "zttp_event member offsets on x86_64")
    else:
        tap.skip("x86_64 sizes", "not x86_64")

    # --- version and errors ------------------------------------------------------
    num = u32(0)
    ver = L.zttp_version(c.byref(num))
    tap.ok(isinstance(ver, bytes) and re.match(rb"^\d+\.\d+\.\d+$", ver) is not None,
           "zttp_version() returns MAJOR.MINOR.PATCH: %r" % ver)
    if ver and re.match(rb"^\d+\.\d+\.\d+$", ver):
        a, b, p = (int(x) for x in ver.split(b"."))
        tap.eq(num.value, a << 16 | b << 8 | p, "zttp_version() number matches its string")
    if args.version:
        tap.eq(ver, args.version.encode(), "zttp_version() is meson's project version")
    tap.eq(L.zttp_version(None), ver, "zttp_version(NULL) is allowed")
    tap.eq(L.zttp_strerror(ZTTP_ERR_NOMEM), b"out of memory", "zttp_strerror(ZTTP_ERR_NOMEM)")
    tap.eq((L.zttp_strerror(0), L.zttp_strerror(-12345)), (b"success", b"unknown error"),
           "zttp_strerror(0) and of an unknown code")
    tap.eq((L.zttp_error_is_fatal(ZTTP_ERR_NOMEM), L.zttp_error_is_fatal(ZTTP_ERR_INVALID_FIELD),
            L.zttp_error_is_fatal(ZTTP_ERR_BARE_LF)), (1, 0, 1), "zttp_error_is_fatal()")

    # --- an allocator written in Python -----------------------------------------------
    libc = c.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = c.c_void_p, [size_t]
    libc.realloc.restype, libc.realloc.argtypes = c.c_void_p, [c.c_void_p, size_t]
    libc.free.restype, libc.free.argtypes = None, [c.c_void_p]
    USER = 0x5A17
    live, stats, alloc_errors = {}, {"malloc": 0, "realloc": 0, "free": 0}, []

    def py_malloc(size, user):
        if user != USER:
            alloc_errors.append("malloc user %r" % user)
        stats["malloc"] += 1
        p = libc.malloc(size or 1)
        if p:
            live[p] = size
        return p

    def py_realloc(ptr, size, user):
        if user != USER:
            alloc_errors.append("realloc user %r" % user)
        if ptr and ptr not in live:
            alloc_errors.append("realloc of unknown %#x" % ptr)
        stats["realloc"] += 1
        p = libc.realloc(ptr, size or 1)
        if p:
            live.pop(ptr, None)
            live[p] = size
        return p

    def py_free(ptr, user):
        if user != USER:
            alloc_errors.append("free user %r" % user)
        if ptr:
            stats["free"] += 1
            if live.pop(ptr, None) is None:
                alloc_errors.append("free of unknown %#x" % ptr)
            libc.free(ptr)

    allocator = ZttpAllocator(MALLOC_FN(py_malloc), REALLOC_FN(py_realloc),
                              FREE_FN(py_free), USER)

    cfg = H()
    conns = []

    def conn_new(role):
        h = H()
        rv = L.zttp_conn_new(c.byref(h), cfg, role, ZTTP_HTTP1)
        if rv != 0 or not h:
            raise Failed("zttp_conn_new(%d) = %d" % (role, rv))
        conns.append(h)
        return h

    def take_output(conn):
        p = c.c_void_p()
        n = L.zttp_conn_pending(conn, c.byref(p))
        data = c.string_at(p.value, n) if n else b""
        rv = L.zttp_conn_consume(conn, n)
        if rv != 0:
            raise Failed("zttp_conn_consume(%d) = %d" % (n, rv))
        return data

    def feed(conn, data):
        rv = L.zttp_conn_receive_data(conn, data, len(data))
        if rv != len(data):
            raise Failed("zttp_conn_receive_data(%d bytes) = %d" % (len(data), rv))

    def drain_events(conn, limit=64):
        """Returns (events, final rv): pulls until 0 (NEED_DATA) or an error."""
        evs = []
        ev = ZttpEvent()
        for _ in range(limit):
            rv = L.zttp_conn_next_event(conn, c.byref(ev))
            if rv != 1:
                if rv == 0 and ev.kind != ZTTP_EVENT_NEED_DATA:
                    evs.append({"kind": "bad: returned 0 with kind %d" % ev.kind})
                return evs, rv
            evs.append(event_to_py(ev))
        return evs, "no NEED_DATA after %d events" % limit

    def last_error(conn):
        msg, wire, sid = c.c_char_p(), u64(0), i64(0)
        code = L.zttp_conn_last_error(conn, c.byref(msg), c.byref(wire), c.byref(sid))
        return code, msg.value, wire.value, sid.value

    try:
        rv = L.zttp_config_new(c.byref(cfg), c.byref(allocator))
        tap.ok(rv == 0 and cfg, "zttp_config_new() with a Python allocator")
        if rv != 0:
            raise Failed("zttp_config_new = %d" % rv)
        v = u64(0)
        tap.eq((L.zttp_config_get_limit(cfg, c.byref(v), ZTTP_LIMIT_MAX_HEADERS), v.value),
               (0, 128), "zttp_config_get_limit(MAX_HEADERS) = 128 (the default)")
        tap.eq(L.zttp_config_set_limit(cfg, 0, 1), ZTTP_ERR_INVALID_ARGUMENT,
               "zttp_config_set_limit() refuses limit id 0")

        client = conn_new(ZTTP_CLIENT)
        server = conn_new(ZTTP_SERVER)

        # --- the request -------------------------------------------------------------
        body = b"hello world"
        req_headers = [(b"Host", b"example.com"), (b"Content-Type", b"text/plain"),
                       (b"Content-Length", b"%d" % len(body)), (b"X-Trace", b"abc 123")]
        hdrs, keep = make_headers(req_headers)
        sid = L.zttp_conn_send_request(client, b"POST", 4, b"/upload?x=1", 11,
                                       hdrs, len(req_headers), 0)
        tap.eq(sid, 0, "client: zttp_conn_send_request() returns stream 0")
        tap.eq(L.zttp_conn_send_data(client, 0, body, len(body), 0), len(body),
               "client: zttp_conn_send_data() takes the whole body")
        tap.eq(L.zttp_conn_end_message(client, 0, None, 0), 0,
               "client: zttp_conn_end_message()")
        del keep
        wire = take_output(client)
        tap.eq(wire, b"POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\n"
               b"Content-Type: text/plain\r\nContent-Length: 11\r\nX-Trace: abc 123\r\n"
               b"\r\nhello world", "client: the request bytes")
        tap.eq(L.zttp_conn_pending(client, c.byref(c.c_void_p())), 0,
               "client: nothing pending after zttp_conn_consume()")

        feed(server, wire)
        evs, rv = drain_events(server)
        want = [
            {"kind": "REQUEST", "stream_id": 0, "flags": 0, "method": b"POST",
             "target": b"/upload?x=1", "path": b"/upload", "query": b"x=1",
             "authority": b"example.com", "scheme": None, "protocol": None,
             "http_version": 11,
             "headers": [(n, v, 0) for n, v in req_headers]},
            {"kind": "DATA", "stream_id": 0, "flags": 0, "data": body},
            {"kind": "END_MESSAGE", "stream_id": 0, "flags": 0, "trailers": []},
        ]
        tap.eq(evs, want, "server: REQUEST, DATA, END_MESSAGE exactly")
        tap.eq(rv, 0, "server: then NEED_DATA (next_event returns 0)")

        # --- the response ---------------------------------------------------------------
        resp_headers = [(b"Content-Type", b"text/plain"), (b"Trailer", b"X-Checksum")]
        hdrs, keep = make_headers(resp_headers)
        tap.eq(L.zttp_conn_send_response(server, 0, 200, b"OK", 2, hdrs,
                                         len(resp_headers), 0), 0,
               "server: zttp_conn_send_response(200, no framing: chunked)")
        tap.eq([L.zttp_conn_send_data(server, 0, d, len(d), 0) for d in (b"response ", b"body")],
               [9, 4], "server: two zttp_conn_send_data() calls")
        trl, keep2 = make_headers([(b"X-Checksum", b"abc123")])
        tap.eq(L.zttp_conn_end_message(server, 0, trl, 1), 0,
               "server: zttp_conn_end_message() with a trailer")
        del keep, keep2
        wire = take_output(server)
        tap.eq(wire, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: X-Checksum\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n9\r\nresponse \r\n4\r\nbody\r\n"
               b"0\r\nX-Checksum: abc123\r\n\r\n", "server: the response bytes")

        feed(client, wire)
        evs, rv = drain_events(client)
        want = [
            {"kind": "RESPONSE", "stream_id": 0, "flags": 0, "status": 200,
             "reason": b"OK", "http_version": 11,
             "headers": [(n, v, 0) for n, v in resp_headers] +
                        [(b"Transfer-Encoding", b"chunked", 0)]},
            {"kind": "DATA", "stream_id": 0, "flags": 0, "data": b"response "},
            {"kind": "DATA", "stream_id": 0, "flags": 0, "data": b"body"},
            {"kind": "END_MESSAGE", "stream_id": 0, "flags": 0,
             "trailers": [(b"X-Checksum", b"abc123", 0)]},
        ]
        tap.eq(evs, want, "client: RESPONSE, DATA, DATA, END_MESSAGE(trailer) exactly")
        tap.eq(rv, 0, "client: then NEED_DATA")
        tap.eq((L.zttp_conn_should_close(client), L.zttp_conn_should_close(server)), (0, 0),
               "both sides keep the connection open")

        # --- EOF between messages --------------------------------------------------------
        tap.eq(L.zttp_conn_receive_data(server, None, 0), 0, "server: EOF (len 0)")
        evs, rv = drain_events(server)
        tap.eq((evs, rv), ([{"kind": "CONNECTION_CLOSED", "stream_id": 0, "flags": 0,
                             "error": 0, "wire_error_code": 0, "reason": None}], 0),
               "server: CONNECTION_CLOSED (error 0) then NEED_DATA")

        # --- H1 has no datagrams and no timers --------------------------------------------
        path = ZttpPath()
        tap.eq(L.zttp_conn_receive_datagram(client, b"x", 1, c.byref(path), 0),
               ZTTP_ERR_INVALID_STATE, "zttp_conn_receive_datagram() on HTTP/1.1")
        seg = size_t(0)
        buf = c.create_string_buffer(1500)
        tap.eq(L.zttp_conn_write_datagram(client, c.byref(path), c.byref(seg), buf, 1500, 0),
               ZTTP_ERR_INVALID_STATE, "zttp_conn_write_datagram() on HTTP/1.1")
        tap.eq(L.zttp_conn_next_timeout(client), ZTTP_TSTAMP_NEVER,
               "zttp_conn_next_timeout() is ZTTP_TSTAMP_NEVER")

        # --- a local error: the serializer refuses a CR ---------------------------------
        c2 = conn_new(ZTTP_CLIENT)
        hdrs, keep = make_headers([(b"Host", b"example.com"), (b"X-Bad", b"a\r\nInjected: 1")])
        rv = L.zttp_conn_send_request(c2, b"GET", 3, b"/", 1, hdrs, 2, ZTTP_SEND_FLAG_END_STREAM)
        tap.eq(rv, ZTTP_ERR_INVALID_FIELD, "a CR LF in a header value: ZTTP_ERR_INVALID_FIELD")
        tap.eq(L.zttp_conn_pending(c2, c.byref(c.c_void_p())), 0, "nothing was queued")
        code, msg, _, _ = last_error(c2)
        tap.ok(code == ZTTP_ERR_INVALID_FIELD and msg,
               "zttp_conn_last_error(): %d %r" % (code, msg))
        rv = L.zttp_conn_send_request(c2, b"GET", 3, b"/", 1, hdrs, 1, ZTTP_SEND_FLAG_END_STREAM)
        tap.eq((rv, take_output(c2)), (0, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
               "the connection is intact after a local error")
        del keep

        # --- a fatal error: the peer sends a bare LF ---------------------------------------
        s2 = conn_new(ZTTP_SERVER)
        bad = b"GET / HTTP/1.1\nHost: a\n\n"
        rv = L.zttp_conn_receive_data(s2, bad, len(bad))
        if rv >= 0:
            evs, rv = drain_events(s2)
            tap.eq(evs, [], "no event before the error")
        tap.eq(rv, ZTTP_ERR_BARE_LF, "a bare LF is rejected: ZTTP_ERR_BARE_LF")
        code, msg, wirecode, sid = last_error(s2)
        tap.diag("zttp_conn_last_error: code %d, message %r, wire code %d, stream %d"
                 % (code, msg, wirecode, sid))
        tap.ok(code == ZTTP_ERR_BARE_LF and isinstance(msg, bytes) and len(msg) > 0
               and wirecode == 0,
               "zttp_conn_last_error(): ZTTP_ERR_BARE_LF with a message, wire code 0")
        tap.eq((L.zttp_conn_receive_data(s2, b"x", 1), L.zttp_conn_should_close(s2)),
               (ZTTP_ERR_BARE_LF, 1), "the connection is poisoned and should close")
    except Exception as e:  # noqa: BLE001 - report, then the allocator check
        tap.ok(False, "the exchange ran to the end",
               "%s\n%s" % (e, traceback.format_exc()))
    finally:
        for h in conns:
            L.zttp_conn_free(h)
        L.zttp_conn_free(None)
        L.zttp_config_free(cfg)
        L.zttp_config_free(None)
    tap.ok(stats["malloc"] > 0 and not live and not alloc_errors,
           "the Python allocator saw every allocation freed (%d malloc, %d realloc, %d free)"
           % (stats["malloc"], stats["realloc"], stats["free"]),
           "leaked %d blocks; %s" % (len(live), alloc_errors[:5])
           if live or alloc_errors else None)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
