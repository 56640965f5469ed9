#!/usr/bin/python3
"""HTTP/2 interop: examples/zttp-server and examples/zttp-client against curl,
nghttp, nghttpd and h2load.

Usage: h2_interop.py PATH/TO/zttp-server PATH/TO/zttp-client

Generates a self-signed certificate with the openssl CLI, starts the server on
127.0.0.1 with a cleartext port (HTTP/1.1, h2c by prior knowledge and by
Upgrade) and a TLS port (ALPN h2, http/1.1), runs every check as an exact
assertion and prints TAP. zttp-client is also run against nghttpd, with and
without TLS. The peers run as separate processes (they link OpenSSL, which
must never share a process with libzttp). Installs nothing: scripts/test
installs curl, nghttp2-client (nghttp, h2load), nghttp2-server (nghttpd) and
openssl.

SPDX-License-Identifier: MIT
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import interop_common as common
from interop_common import (HOST, Failure, expect, expect_eq,
                             expect_same_bytes, free_port, run, tail, text,
                             wait_port)

H2LOAD_REQUESTS = 100000
CLIENT_TIMEOUT = 60
TOOLS = ("curl", "nghttp", "nghttpd", "h2load", "openssl")


class Server(common.Server):
    """The zttp-server process under test: a cleartext and a TLS port."""

    def __init__(self, exe, root, workdir, cert, key):
        super().__init__(exe, ["--root", root, "--port", "0", "--addr", HOST,
                               "--tls-port", "0", "--cert", cert, "--key",
                               key], workdir)
        self.port = None
        self.tls_port = None

    def wait_listening(self, timeout=20.0):
        super().wait_listening(["http/1.1", "h2, http/1.1"], timeout)
        self.port = self.ports["http/1.1"]
        self.tls_port = self.ports["h2, http/1.1"]

    def url(self, path):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def tls_url(self, path):
        # "localhost": the certificate names it, and SNI needs a name.
        return "https://localhost:%d%s" % (self.tls_port, path)

class Nghttpd:
    """An nghttpd peer for zttp-client, cleartext or TLS."""

    def __init__(self, root, workdir, cert=None, key=None):
        self.port = free_port()
        cmd = ["nghttpd", "-a", HOST, "-d", root, "--echo-upload"]
        if cert is None:
            cmd.append("--no-tls")
        cmd.append(str(self.port))
        if cert is not None:
            cmd += [key, cert]
        self.log = open(os.path.join(workdir, "nghttpd.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        try:
            wait_port(self.port, self.proc)
        except Failure:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def curl(*args):
    """Runs curl (no ~/.curlrc, no proxy) and returns the result."""
    cmd = [
        "curl", "-q", "--silent", "--show-error", "--noproxy", "*",
        "--max-time", str(CLIENT_TIMEOUT),
    ] + list(args)
    res = run(cmd)
    if res.returncode != 0:
        raise Failure("curl exited %d: %s" % (res.returncode,
                                              text(res.stderr).strip()))
    return res


def read_headers(path):
    """Parses a curl --dump-header file into a list of (status, {name:
    value}) for every response head it holds."""
    with open(path, "rb") as f:
        data = f.read().decode("latin-1")
    heads = []
    for block in data.split("\r\n\r\n"):
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


class Suite:
    def __init__(self, server_exe, client_exe):
        self.server_exe = server_exe
        self.client_exe = client_exe
        self.tmp = tempfile.TemporaryDirectory(prefix="zttp-h2-interop-")
        self.work = self.tmp.name
        self.root = os.path.join(self.work, "root")
        os.mkdir(self.root)
        self.files = {}
        self.server = None
        self.cert = self.path("server.crt")
        self.key = self.path("server.key")

    def path(self, name):
        return os.path.join(self.work, name)

    def add_file(self, name, data):
        with open(os.path.join(self.root, name), "wb") as f:
            f.write(data)
        self.files[name] = data

    def make_root(self):
        self.add_file("small.txt", b"hello from zttp-server\n")
        self.add_file("1mib.bin", os.urandom(1024 * 1024))
        self.add_file("index.html", b"<!doctype html><title>zttp</title>\n")
        for i in range(8):
            self.add_file("f%d.bin" % i, os.urandom(1000 + 37 * 1024 * i))
        with open(self.path("upload.bin"), "wb") as f:
            f.write(os.urandom(1024 * 1024 + 3))

    def make_cert(self):
        res = run(["openssl", "req", "-x509", "-newkey", "ec",
                   "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                   "-keyout", self.key, "-out", self.cert, "-days", "30",
                   "-subj", "/CN=localhost", "-addext",
                   "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        if res.returncode != 0:
            raise Failure("openssl req exited %d: %s"
                          % (res.returncode, tail(res.stderr)))

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def many(self):
        return ["f%d.bin" % i for i in range(8)]

    # --- helpers ----------------------------------------------------------

    def curl_get(self, url, name, *args, version="2"):
        """curl GET |url|: 200, HTTP version |version|, body == |name|."""
        res = curl("-o", self.path("out"),
                   "-w", "%{http_code} %{http_version}", *args, url)
        expect_eq(text(res.stdout), "200 " + version,
                  "status and HTTP version")
        expect_same_bytes(self.read("out"), self.files[name], "body")

    def curl_echo(self, url, *args):
        res = curl("--data-binary", "@" + self.path("upload.bin"),
                   "-H", "content-type: application/x-test",
                   "-o", self.path("out"), "-D", self.path("hdr"),
                   "-w", "%{http_code} %{http_version}", *args, url)
        expect_eq(text(res.stdout), "200 2", "status and HTTP version")
        (_, fields), = read_headers(self.path("hdr"))
        expect_eq(fields.get("content-type"), "application/x-test",
                  "content-type")
        expect_same_bytes(self.read("out"), self.read("upload.bin"), "echo")

    def curl_many(self, url_of, *args, parallel=True):
        """curl with several URLs (-Z: in parallel): all on one HTTP/2
        connection."""
        names = self.many()
        cmd = ["-Z"] if parallel else []
        cmd += ["-w", "%{http_code} %{http_version} %{num_connects}\\n"]
        for i, name in enumerate(names):
            cmd += ["-o", self.path("many%d" % i), url_of("/" + name)]
        res = curl(*(list(args) + cmd))
        lines = text(res.stdout).split("\n")[:-1]
        expect_eq(len(lines), len(names), "transfers")
        connects = 0
        for line in lines:
            code, version, n = line.split()
            expect_eq((code, version), ("200", "2"), "status and version")
            connects += int(n)
        expect_eq(connects, 1, "connections opened")
        for i, name in enumerate(names):
            expect_same_bytes(self.read("many%d" % i), self.files[name], name)

    def client(self, *args, expect_rc=0):
        """Runs zttp-client; returns {URL: (status, bytes, protocol)}."""
        res = run([self.client_exe, "--timeout", str(CLIENT_TIMEOUT)]
                  + list(args))
        lines = {}
        for line in text(res.stdout).splitlines():
            parts = line.split(" ")
            expect(len(parts) == 4, "bad status line %r" % line)
            lines[parts[0]] = (parts[1], int(parts[2]), parts[3])
        if res.returncode != expect_rc:
            raise Failure("zttp-client exited %d (expected %d):\n%s"
                          % (res.returncode, expect_rc, tail(res.stderr)))
        return lines, res

    def client_fetch(self, url_of, proto, *args):
        """zttp-client with several URLs (and a 404) in one run."""
        names = ["1mib.bin"] + self.many()
        urls = [url_of("/" + n) for n in names] + [url_of("/missing.txt")]
        outs = []
        for i in range(len(urls)):
            outs += ["-o", self.path("zc%d" % i)]
        lines, _ = self.client(*(list(args) + outs + urls))
        for i, name in enumerate(names):
            want = ("200", len(self.files[name]), proto)
            expect_eq(lines.get(urls[i]), want, "status line of " + name)
            expect_same_bytes(self.read("zc%d" % i), self.files[name], name)
        got = lines.get(urls[-1])
        expect(got is not None and got[0] == "404" and got[2] == proto,
               "status line of missing.txt: %r" % (got,))

    def client_echo(self, url, proto, *args, count=3):
        outs = []
        for i in range(count):
            outs += ["-o", self.path("ze%d" % i)]
        urls = [url] * count
        lines, _ = self.client("--data", self.path("upload.bin"),
                               *(list(args) + outs + urls))
        expect_eq(lines.get(url),
                  ("200", len(self.read("upload.bin")), proto),
                  "status line")
        for i in range(count):
            expect_same_bytes(self.read("ze%d" % i), self.read("upload.bin"),
                              "echo %d" % i)

    def h2load(self, url):
        cmd = ["h2load", "-n", str(H2LOAD_REQUESTS), "-c", "10", "-m", "10",
               url]
        res = subprocess.run(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=150,
                             check=False)
        out = text(res.stdout)
        for line in out.splitlines():
            if line.startswith(("finished in", "requests:", "status codes:",
                                "Application protocol:")):
                print("# h2load: " + line, flush=True)
        m = re.search(r"^requests: .*$", out, re.M)
        expect(m is not None, "no requests line in h2load output:\n" + out)
        want = "%d succeeded, 0 failed, 0 errored" % H2LOAD_REQUESTS
        expect(want in m.group(0), "expected %r in %r" % (want, m.group(0)))
        expect(re.search(r"^status codes: %d 2xx, 0 3xx, 0 4xx, 0 5xx$"
                         % H2LOAD_REQUESTS, out, re.M) is not None,
               "status codes not all 2xx:\n" + out)
        expect(re.search(r"^Application protocol: h2c?$", out, re.M)
               is not None, "not HTTP/2:\n" + out)
        expect_eq(res.returncode, 0, "h2load exit status")

    # --- checks -------------------------------------------------------------

    def t_start(self):
        """zttp-server --tls-port starts and prints both listening lines"""
        self.make_cert()
        self.server = Server(self.server_exe, self.root, self.work,
                             self.cert, self.key)
        self.server.wait_listening()

    def t_nghttp(self):
        """nghttp -nv (h2c prior knowledge): exit 0, 200, body identical"""
        url = self.server.url("/1mib.bin")
        res = run(["nghttp", "-nv", url])
        expect_eq(res.returncode, 0, "nghttp -nv exit status: "
                  + tail(res.stdout + res.stderr))
        out = text(res.stdout)
        expect(re.search(r"recv \(stream_id=\d+\) :status: 200", out),
               "no :status: 200 in:\n" + tail(res.stdout))
        res = run(["nghttp", url])
        expect_eq(res.returncode, 0, "nghttp exit status")
        expect_same_bytes(res.stdout, self.files["1mib.bin"], "body")

    def t_nghttp_upgrade(self):
        """nghttp -nvu (h2c by Upgrade): 101, 200 on stream 1, body"""
        url = self.server.url("/1mib.bin")
        res = run(["nghttp", "-nvu", url])
        expect_eq(res.returncode, 0, "nghttp -nvu exit status: "
                  + tail(res.stdout + res.stderr))
        out = text(res.stdout)
        expect("HTTP Upgrade success" in out,
               "no upgrade in:\n" + tail(res.stdout))
        expect("recv (stream_id=1) :status: 200" in out,
               "no 200 on stream 1 in:\n" + tail(res.stdout))
        res = run(["nghttp", "-u", url])
        expect_eq(res.returncode, 0, "nghttp -u exit status")
        expect_same_bytes(res.stdout, self.files["1mib.bin"], "body")

    def t_curl_get(self):
        """curl --http2-prior-knowledge GET /1mib.bin: HTTP/2 200, sha256"""
        self.curl_get(self.server.url("/1mib.bin"), "1mib.bin",
                      "--http2-prior-knowledge")

    def t_curl_head(self):
        """curl --http2-prior-knowledge HEAD: 200, content-length, no body"""
        res = curl("--http2-prior-knowledge", "--head",
                   "-o", self.path("out"), "-D", self.path("hdr"),
                   "-w", "%{http_code} %{http_version} %{size_download}",
                   self.server.url("/1mib.bin"))
        expect_eq(text(res.stdout), "200 2 0", "status, version, body size")
        (_, fields), = read_headers(self.path("hdr"))
        expect_eq(fields.get("content-length"), str(1024 * 1024),
                  "content-length")

    def t_curl_404(self):
        """curl --http2-prior-knowledge GET /missing.txt: 404"""
        res = curl("--http2-prior-knowledge", "-o", self.path("out"),
                   "-w", "%{http_code} %{http_version}",
                   self.server.url("/missing.txt"))
        expect_eq(text(res.stdout), "404 2", "status and version")

    def t_curl_echo(self):
        """curl --http2-prior-knowledge POST /echo (1 MiB): echo identical"""
        self.curl_echo(self.server.url("/echo"), "--http2-prior-knowledge")

    def t_curl_many(self):
        """curl --http2 -Z http://, 8 files: Upgrade, one connection, sha256"""
        # The first transfer upgrades, the others share its connection.
        # Not --http2-prior-knowledge: curl 7.88 then fails every transfer
        # but the first on a reused connection with "Error in the HTTP2
        # framing layer", against nghttpd as well.
        self.curl_many(self.server.url, "--http2")

    def t_nghttp_many(self):
        """nghttp -nv with 8 URLs (h2c, concurrent streams): 200, sizes"""
        names = self.many()
        res = run(["nghttp", "-nv"] + [self.server.url("/" + n)
                                       for n in names])
        expect_eq(res.returncode, 0, "nghttp exit status: "
                  + tail(res.stdout + res.stderr))
        paths = {}
        status = {}
        sizes = {}
        stream = None
        for line in text(res.stdout).splitlines():
            m = re.search(r"send HEADERS frame <.*stream_id=(\d+)>", line)
            if m:
                stream = int(m.group(1))
                continue
            m = re.match(r"\s+:path: (\S+)$", line)
            if m and stream is not None:
                paths[stream] = m.group(1)
                stream = None
                continue
            m = re.search(r"recv \(stream_id=(\d+)\) :status: (\d+)", line)
            if m:
                status[int(m.group(1))] = int(m.group(2))
                continue
            m = re.search(r"recv DATA frame <length=(\d+), flags=0x[0-9a-f]+, "
                          r"stream_id=(\d+)>", line)
            if m:
                sid = int(m.group(2))
                sizes[sid] = sizes.get(sid, 0) + int(m.group(1))
        by_path = {path: sid for sid, path in paths.items()}
        for name in names:
            sid = by_path.get("/" + name)
            expect(sid is not None, "no request for /%s" % name)
            expect_eq(status.get(sid), 200, "status of /" + name)
            expect_eq(sizes.get(sid, 0), len(self.files[name]),
                      "DATA bytes of /" + name)

    def t_curl_upgrade(self):
        """curl --http2 http:// (Upgrade: h2c) GET /1mib.bin: HTTP/2, sha256"""
        self.curl_get(self.server.url("/1mib.bin"), "1mib.bin", "--http2")

    def t_tls_get(self):
        """curl --http2 https:// GET /1mib.bin: ALPN h2, sha256"""
        self.curl_get(self.server.tls_url("/1mib.bin"), "1mib.bin",
                      "--http2", "--cacert", self.cert)

    def t_tls_echo(self):
        """curl --http2 https:// POST /echo (1 MiB): echo identical"""
        self.curl_echo(self.server.tls_url("/echo"), "--http2",
                       "--cacert", self.cert)

    def t_tls_many(self):
        """curl --http2 https:// -Z, 8 files: one connection, sha256"""
        self.curl_many(self.server.tls_url, "--http2", "--cacert", self.cert)

    def t_tls_http11(self):
        """curl --http1.1 https:// (ALPN http/1.1): HTTP/1.1 200, sha256"""
        self.curl_get(self.server.tls_url("/1mib.bin"), "1mib.bin",
                      "--http1.1", "--cacert", self.cert, version="1.1")

    def t_client_h2c(self):
        """zttp-client --http2 (h2c): 9 files and a 404 at once, sha256"""
        self.client_fetch(self.server.url, "h2c", "--http2")

    def t_client_h2(self):
        """zttp-client https:// (ALPN h2): 9 files and a 404, sha256"""
        self.client_fetch(self.server.tls_url, "h2", "--cacert", self.cert)

    def t_client_h2_echo(self):
        """zttp-client --http2 --data: 3 concurrent 1 MiB echoes"""
        self.client_echo(self.server.url("/echo"), "h2c", "--http2")

    def t_client_h1(self):
        """zttp-client --http1: pipelined files and a 404, echo, sha256"""
        self.client_fetch(self.server.url, "http/1.1", "--http1")
        self.client_echo(self.server.url("/echo"), "http/1.1", "--http1",
                         count=2)

    def t_client_h1_tls(self):
        """zttp-client --http1 https:// (ALPN http/1.1): files, echo"""
        self.client_fetch(self.server.tls_url, "http/1.1", "--http1",
                          "--cacert", self.cert)
        self.client_echo(self.server.tls_url("/echo"), "http/1.1",
                         "--http1", "--cacert", self.cert, count=2)

    def t_client_verify(self):
        """zttp-client https:// without --cacert: verification fails, exit 1"""
        url = self.server.tls_url("/small.txt")
        lines, res = self.client("-o", self.path("out"), url, expect_rc=1)
        expect_eq(lines.get(url, (None,))[0], "000", "status")
        expect("certificate" in text(res.stderr),
               "no certificate error in %r" % text(res.stderr))
        lines, _ = self.client("--insecure", "-o", self.path("out"), url)
        expect_eq(lines.get(url), ("200", len(self.files["small.txt"]), "h2"),
                  "status line with --insecure")

    def t_client_nghttpd(self):
        """zttp-client --http2 against nghttpd --no-tls: files, echo"""
        peer = Nghttpd(self.root, self.work)
        try:
            def url_of(path):
                return "http://%s:%d%s" % (HOST, peer.port, path)
            self.client_fetch(url_of, "h2c", "--http2")
            self.client_echo(url_of("/echo"), "h2c", "--http2")
        finally:
            peer.stop()

    def t_client_nghttpd_tls(self):
        """zttp-client https:// against nghttpd (TLS, same cert): files"""
        peer = Nghttpd(self.root, self.work, self.cert, self.key)
        try:
            def url_of(path):
                return "https://localhost:%d%s" % (peer.port, path)
            self.client_fetch(url_of, "h2", "--cacert", self.cert)
            self.client_echo(url_of("/echo"), "h2", "--cacert", self.cert)
        finally:
            peer.stop()

    def t_h2load(self):
        """h2load -n 100000 -c 10 -m 10 (h2c): all succeeded"""
        self.h2load(self.server.url("/small.txt"))

    def t_h2load_tls(self):
        """h2load -n 100000 -c 10 -m 10 (https, h2): all succeeded"""
        self.h2load("https://%s:%d/small.txt" % (HOST, self.server.tls_port))

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
        lines = self.server.stderr_tail()
        expect(not lines, "stderr is not empty:\n" + "\n".join(lines))

    # --- runner -----------------------------------------------------------

    def run(self):
        checks = [
            self.t_start, self.t_nghttp, self.t_nghttp_upgrade,
            self.t_curl_get, self.t_curl_head, self.t_curl_404,
            self.t_curl_echo, self.t_curl_many, self.t_nghttp_many,
            self.t_curl_upgrade,
            self.t_tls_get, self.t_tls_echo, self.t_tls_many,
            self.t_tls_http11, self.t_client_h2c, self.t_client_h2,
            self.t_client_h2_echo, self.t_client_h1, self.t_client_h1_tls,
            self.t_client_verify, self.t_client_nghttpd,
            self.t_client_nghttpd_tls, self.t_h2load, self.t_h2load_tls,
            self.t_sigterm,
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
            start = time.monotonic()
            try:
                check()
            except Exception as e:  # every check reports, whatever broke
                failed += 1
                print("not ok %d - %s" % (i, name))
                msg = str(e) if isinstance(e, Failure) else "%s: %s" % (
                    type(e).__name__, e)
                for line in msg.splitlines():
                    print("#   " + line)
                if self.server is not None and not self.server.alive():
                    print("#   server exited with status %r"
                          % self.server.proc.poll())
            else:
                print("ok %d - %s" % (i, name))
            print("#   %.2f s" % (time.monotonic() - start))
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
    if len(argv) != 3:
        print("usage: %s PATH/TO/zttp-server PATH/TO/zttp-client" % argv[0],
              file=sys.stderr)
        return 2
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        print("Bail out! not installed: %s (scripts/test installs curl, "
              "nghttp2-client, nghttp2-server, openssl)" % " ".join(missing))
        return 1
    suite = Suite(os.path.abspath(argv[1]), os.path.abspath(argv[2]))
    try:
        suite.make_root()
        failed = suite.run()
    finally:
        suite.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
