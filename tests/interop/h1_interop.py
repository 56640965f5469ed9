#!/usr/bin/python3
"""HTTP/1.1 interop: examples/zttp-server against curl, h2load and raw sockets.

Usage: h1_interop.py PATH/TO/zttp-server

Starts the server on 127.0.0.1 with --port 0 over a temporary root, runs every
check as an exact assertion and prints TAP. The clients run as separate
processes (they link OpenSSL, which must never share a process with libzttp).
Installs nothing: scripts/test installs curl and nghttp2-client.

SPDX-License-Identifier: MIT
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import interop_common as common
from interop_common import (HOST, Failure, expect, expect_eq,
                             expect_same_bytes, tail, text)

H2LOAD_REQUESTS = 100000
CLIENT_TIMEOUT = 120


class Server(common.Server):
    """The zttp-server process under test (cleartext port only)."""

    def __init__(self, exe, root, workdir):
        super().__init__(exe, ["--root", root, "--port", "0", "--addr", HOST],
                         workdir)
        self.port = None
        self.line = None

    def wait_listening(self, timeout=20.0):
        super().wait_listening(["http/1.1"], timeout)
        self.port = self.ports["http/1.1"]
        self.line = self.lines[0]

    def url(self, path):
        return "http://%s:%d%s" % (HOST, self.port, path)

def curl(*args):
    """Runs curl (HTTP/1.1, no ~/.curlrc, no proxy) and returns the result."""
    cmd = [
        "curl", "-q", "--silent", "--show-error", "--http1.1",
        "--noproxy", "*", "--max-time", str(CLIENT_TIMEOUT),
    ] + list(args)
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=CLIENT_TIMEOUT + 30, check=False)
    if res.returncode != 0:
        raise Failure("curl exited %d: %s" % (
            res.returncode, res.stderr.decode("utf-8", "replace").strip()))
    return res


def read_headers(path):
    """Parses a curl --dump-header file into a list of (status, {name: value})
    for every response head it holds, 1xx included."""
    with open(path, "rb") as f:
        text = f.read().decode("latin-1")
    heads = []
    for block in text.split("\r\n\r\n"):
        lines = block.split("\r\n")
        if not lines or not lines[0].startswith("HTTP/"):
            continue
        status = int(lines[0].split(" ")[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        heads.append((status, fields))
    return heads


def recv_until(sock, buf, pred, what):
    """Receives into |buf| until pred(buf) holds; returns the buffer and
    whether EOF was seen."""
    while not pred(buf):
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise Failure("timed out waiting for %s" % what) from None
        if not chunk:
            return buf, True
        buf += chunk
    return buf, False


def read_response(sock, buf):
    """Reads one Content-Length framed response from |sock|; returns
    (status, headers, body, rest, eof)."""
    buf, eof = recv_until(sock, buf, lambda b: b"\r\n\r\n" in b,
                          "a response head")
    expect(b"\r\n\r\n" in buf, "connection closed before a response head")
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    expect(parts[0] == "HTTP/1.1" and len(parts) >= 2,
           "bad status line %r" % lines[0])
    status = int(parts[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    expect("content-length" in fields,
           "response without Content-Length: %r" % head)
    n = int(fields["content-length"])
    buf, eof = recv_until(sock, buf, lambda b: len(b) >= n, "a response body")
    expect(len(buf) >= n, "body truncated: %d of %d bytes" % (len(buf), n))
    return status, fields, buf[:n], buf[n:], eof


class Suite:
    def __init__(self, exe):
        self.exe = exe
        self.tmp = tempfile.TemporaryDirectory(prefix="zttp-h1-interop-")
        self.work = self.tmp.name
        self.root = os.path.join(self.work, "root")
        os.mkdir(self.root)
        self.files = {}
        self.server = None

    def path(self, name):
        return os.path.join(self.work, name)

    def add_file(self, name, data):
        with open(os.path.join(self.root, name), "wb") as f:
            f.write(data)
        self.files[name] = data

    def make_root(self):
        self.add_file("small.txt", b"hello from zttp-server\n" * 4)
        self.add_file("big.bin", os.urandom(5 * 1024 * 1024))
        self.add_file("index.html", b"<!doctype html><title>zttp</title>\n")
        for name in ("a.txt", "b.txt", "c.txt"):
            self.add_file(name, ("this is %s\n" % name).encode() * 3)
        with open(self.path("upload-small.bin"), "wb") as f:
            f.write(os.urandom(100 * 1024 + 7))
        with open(self.path("upload-big.bin"), "wb") as f:
            f.write(os.urandom(3 * 1024 * 1024 + 11))

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    # --- checks ---------------------------------------------------------

    def t_start(self):
        """zttp-server starts and prints the listening line"""
        self.server = Server(self.exe, self.root, self.work)
        self.server.wait_listening()

    def t_get_small(self):
        """curl GET /small.txt: 200, type, Content-Length, same bytes"""
        res = curl("-o", self.path("out"), "-D", self.path("hdr"),
                   "-w", "%{http_code} %{size_download}",
                   self.server.url("/small.txt"))
        data = self.files["small.txt"]
        expect_eq(res.stdout.decode(), "200 %d" % len(data),
                  "status and size")
        (status, fields), = read_headers(self.path("hdr"))
        expect_eq(fields.get("content-length"), str(len(data)),
                  "Content-Length")
        expect_eq(fields.get("content-type"), "text/plain; charset=utf-8",
                  "Content-Type")
        expect_same_bytes(self.read("out"), data, "body")

    def t_get_big(self):
        """curl GET /big.bin (5 MiB): same bytes"""
        res = curl("-o", self.path("out"), "-w", "%{http_code}",
                   self.server.url("/big.bin"))
        expect_eq(res.stdout.decode(), "200", "status")
        expect_same_bytes(self.read("out"), self.files["big.bin"], "body")

    def t_head(self):
        """curl HEAD /big.bin: 200 and headers, no body"""
        res = curl("--head", "-o", self.path("out"), "-D", self.path("hdr"),
                   "-w", "%{http_code} %{size_download}",
                   self.server.url("/big.bin"))
        expect_eq(res.stdout.decode(), "200 0", "status and body size")
        (status, fields), = read_headers(self.path("hdr"))
        expect_eq(fields.get("content-length"),
                  str(len(self.files["big.bin"])), "Content-Length")
        expect_eq(fields.get("content-type"), "application/octet-stream",
                  "Content-Type")
        expect_eq(self.read("out"), self.read("hdr"),
                  "output (headers only)")

    def t_missing(self):
        """curl GET /missing.txt: 404"""
        res = curl("-o", self.path("out"), "-w", "%{http_code}",
                   self.server.url("/missing.txt"))
        expect_eq(res.stdout.decode(), "404", "status")

    def t_index(self):
        """curl GET / serves index.html as text/html"""
        res = curl("-o", self.path("out"),
                   "-w", "%{http_code} %{content_type}", self.server.url("/"))
        expect_eq(res.stdout.decode(), "200 text/html; charset=utf-8",
                  "status and type")
        expect_same_bytes(self.read("out"), self.files["index.html"], "body")

    def t_dotdot(self):
        """GET with a '..' segment (plain and percent-encoded): 400"""
        for path in ("/../small.txt", "/a/%2e%2E/small.txt", "/x%00y"):
            res = curl("--path-as-is", "-o", self.path("out"),
                       "-w", "%{http_code}", self.server.url(path))
            expect_eq(res.stdout.decode(), "400", "status for %s" % path)

    def t_method(self):
        """curl DELETE /small.txt: 405 with Allow: GET, HEAD"""
        res = curl("-X", "DELETE", "-o", self.path("out"),
                   "-D", self.path("hdr"), "-w", "%{http_code}",
                   self.server.url("/small.txt"))
        expect_eq(res.stdout.decode(), "405", "status")
        (status, fields), = read_headers(self.path("hdr"))
        expect_eq(fields.get("allow"), "GET, HEAD", "Allow")

    def t_echo(self):
        """curl POST /echo (100 KiB): echoed bytes identical"""
        res = curl("--data-binary", "@" + self.path("upload-small.bin"),
                   "-H", "Content-Type: application/x-test",
                   "-o", self.path("out"), "-D", self.path("hdr"),
                   "-w", "%{http_code}", self.server.url("/echo"))
        expect_eq(res.stdout.decode(), "200", "status")
        (status, fields), = read_headers(self.path("hdr"))
        expect_eq(fields.get("content-type"), "application/x-test",
                  "Content-Type")
        expect_same_bytes(self.read("out"), self.read("upload-small.bin"),
                          "echo")

    def t_echo_chunked(self):
        """curl chunked upload to /echo: echoed bytes identical"""
        res = curl("-H", "Transfer-Encoding: chunked",
                   "--data-binary", "@" + self.path("upload-big.bin"),
                   "-o", self.path("out"), "-w", "%{http_code}",
                   self.server.url("/echo"))
        expect_eq(res.stdout.decode(), "200", "status")
        expect_same_bytes(self.read("out"), self.read("upload-big.bin"),
                          "echo")

    def t_expect(self):
        """curl POST /echo with Expect: 100-continue (3 MiB): 100, echo"""
        res = curl("-H", "Expect: 100-continue",
                   "--expect100-timeout", "30",
                   "--data-binary", "@" + self.path("upload-big.bin"),
                   "-o", self.path("out"), "-D", self.path("hdr"),
                   "-w", "%{http_code}", self.server.url("/echo"))
        expect_eq(res.stdout.decode(), "200", "status")
        statuses = [status for status, _ in read_headers(self.path("hdr"))]
        expect_eq(statuses, [100, 200], "response heads")
        expect_same_bytes(self.read("out"), self.read("upload-big.bin"),
                          "echo")

    def t_keepalive(self):
        """curl with 3 URLs reuses one connection (num_connects)"""
        names = ["a.txt", "b.txt", "c.txt"]
        args = ["-w", "%{http_code} %{num_connects}\\n"]
        for i, name in enumerate(names):
            args += ["-o", self.path("ka%d" % i), self.server.url("/" + name)]
        res = curl(*args)
        lines = res.stdout.decode().split()
        expect_eq(lines, ["200", "1", "200", "0", "200", "0"],
                  "status and new connections per transfer")
        for i, name in enumerate(names):
            expect_same_bytes(self.read("ka%d" % i), self.files[name], name)

    def t_pipelining(self):
        """raw socket: 3 pipelined requests in one send(), answered in order"""
        names = ["c.txt", "a.txt", "b.txt"]
        req = b"".join(b"GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n"
                       % (n.encode(), HOST.encode()) for n in names)
        with socket.create_connection((HOST, self.server.port),
                                      timeout=30) as sock:
            sent = sock.send(req)
            expect_eq(sent, len(req), "bytes taken by one send()")
            buf = b""
            for name in names:
                status, _, body, buf, eof = read_response(sock, buf)
                expect_eq(status, 200, "status for %s" % name)
                expect_same_bytes(body, self.files[name], name)
            expect_eq(buf, b"", "bytes after the third response")
            # The connection stays open for more.
            sock.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body, buf, eof = read_response(sock, buf)
            expect_eq(status, 200, "status of a fourth request")

    def t_http10(self):
        """raw socket: HTTP/1.0 without keep-alive is answered and closed"""
        with socket.create_connection((HOST, self.server.port),
                                      timeout=10) as sock:
            sock.sendall(b"GET /small.txt HTTP/1.0\r\n\r\n")
            status, fields, body, buf, eof = read_response(sock, b"")
            expect_eq(status, 200, "status")
            expect_same_bytes(body, self.files["small.txt"], "body")
            expect_eq(fields.get("connection", "").lower(), "close",
                      "Connection")
            if not eof:
                buf, eof = recv_until(sock, buf, lambda b: False,
                                      "the server to close")
            expect(eof, "connection not closed")
            expect_eq(buf, b"", "bytes after the response")

    def t_h2load(self):
        """h2load --h1 -n 100000 -c 10 -m 10: all succeeded"""
        cmd = ["h2load", "--h1", "-n", str(H2LOAD_REQUESTS), "-c", "10",
               "-m", "10", self.server.url("/small.txt")]
        res = subprocess.run(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=500,
                             check=False)
        out = res.stdout.decode("utf-8", "replace")
        for line in out.splitlines():
            if line.startswith(("finished in", "requests:", "status codes:")):
                print("# h2load: " + line, flush=True)
        m = re.search(r"^requests: .*$", out, re.M)
        expect(m is not None, "no requests line in h2load output:\n" + out)
        want = "%d succeeded, 0 failed, 0 errored" % H2LOAD_REQUESTS
        expect(want in m.group(0),
               "expected %r in %r" % (want, m.group(0)))
        expect(re.search(r"^status codes: %d 2xx, 0 3xx, 0 4xx, 0 5xx$"
                         % H2LOAD_REQUESTS, out, re.M) is not None,
               "status codes not all 2xx:\n" + out)
        expect_eq(res.returncode, 0, "h2load exit status")

    def t_sigterm(self):
        """SIGTERM: zttp-server exits 0 within 5 s, stderr empty"""
        expect(self.server.alive(),
               "server died earlier (status %r)" % self.server.proc.poll())
        self.server.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.server.proc.wait(5)
        except subprocess.TimeoutExpired:
            raise Failure("still running 5 s after SIGTERM") from None
        expect_eq(rc, 0, "exit status")
        # Without --verbose the server writes nothing to stderr; anything
        # there is a sanitizer report or an error message.
        tail = self.server.stderr_tail()
        expect(not tail, "stderr is not empty:\n" + "\n".join(tail))

    # --- runner -----------------------------------------------------------

    def run(self):
        checks = [
            self.t_start, self.t_get_small, self.t_get_big, self.t_head,
            self.t_missing, self.t_index, self.t_dotdot, self.t_method,
            self.t_echo, self.t_echo_chunked, self.t_expect, self.t_keepalive,
            self.t_pipelining, self.t_http10, self.t_h2load, self.t_sigterm,
        ]
        print("1..%d" % len(checks), flush=True)
        failed = 0
        for i, check in enumerate(checks, 1):
            name = check.__doc__.strip()
            if i > 1 and (self.server is None or self.server.port is None):
                print("not ok %d - %s" % (i, name))
                print("#   skipped: the server did not start")
                failed += 1
                continue
            try:
                check()
            except Exception as e:  # every check reports, whatever broke
                failed += 1
                print("not ok %d - %s" % (i, name))
                text = str(e) if isinstance(e, Failure) else "%s: %s" % (
                    type(e).__name__, e)
                for line in text.splitlines():
                    print("#   " + line)
                if self.server is not None and not self.server.alive():
                    print("#   server exited with status %r"
                          % self.server.proc.poll())
            else:
                print("ok %d - %s" % (i, name))
            sys.stdout.flush()
        if failed and self.server is not None:
            for line in self.server.stderr_tail():
                print("# server stderr: " + line)
        return failed

    def close(self):
        if self.server is not None:
            self.server.stop()
        self.tmp.cleanup()


def main(argv):
    if len(argv) != 2:
        print("usage: %s PATH/TO/zttp-server" % argv[0], file=sys.stderr)
        return 2
    for tool in ("curl", "h2load"):
        if shutil.which(tool) is None:
            print("Bail out! %s is not installed (scripts/test installs it)"
                  % tool)
            return 1
    suite = Suite(os.path.abspath(argv[1]))
    try:
        suite.make_root()
        failed = suite.run()
    finally:
        suite.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
