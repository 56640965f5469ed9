#!/usr/bin/python3
"""HTTP/3 interop over real UDP on 127.0.0.1: examples/zttp-server and
examples/zttp-client against ngtcp2's gtlsclient and gtlsserver (GnuTLS) and
headless Chromium.

Usage: h3_interop.py PATH/TO/zttp-server PATH/TO/zttp-client PKI_DIR

The server uses the test PKI (PKI_DIR: server.pem, server.key, ca.pem for
localhost and 127.0.0.1) and serves HTTP/3 on UDP at its TLS port. Every file
is checked by SHA-256. Checks, each a TAP line:
  gtlsclient -> zttp-server: a 10 MiB file; 100 small files on one
    connection (-n); with our Retry (--retry); ChaCha20-only (--ciphers);
    --key-update; with 5% loss both ways through udp_loss_proxy.py; a client
    that migrates mid-download (--change-local-addr: it probes the new path,
    then moves with a new connection ID) and a NAT rebinding (the proxy
    changes its source port mid-download), both followed by the server
    (RFC 9000 §9, its log shows the path change and the validation).
  zttp-client -> gtlsserver: the same files; with its Retry (-V); with loss.
  Chromium (headless) loads a page from zttp-server over HTTP/3: the page's
    nextHopProtocol is "h3" and a 10 MiB fetch from it arrives complete.
Every peer is its own process (GnuTLS and Chromium's BoringSSL never share a
process with libzttp). Installs nothing: scripts/test installs ngtcp2-client,
ngtcp2-server, chromium and openssl.

SPDX-License-Identifier: MIT
"""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import interop_common as common
from interop_common import (HOST, Failure, expect, expect_eq,
                            expect_same_bytes, run, tail, text)

CLIENT_TIMEOUT = 120
BIG = 10 * 1024 * 1024
SMALL_FILES = 100
CHACHA_ONLY = "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305"
H3 = "h3, udp"
TLS = "h2, http/1.1"


def digest(data):
    return hashlib.sha256(data).hexdigest()


class Proxy:
    """udp_loss_proxy.py between a client and |target_port|."""

    def __init__(self, target_port, loss, seed, rebind=0):
        self.port = common.free_port(common.socket.SOCK_DGRAM)
        here = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(here, "udp_loss_proxy.py"),
             str(self.port), str(target_port), str(loss), str(seed),
             str(rebind)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        line = self.proc.stdout.readline()
        expect(line.strip() == b"ready", "loss proxy: %r" % line)

    def stop(self):
        common.stop_process(self.proc)
        return text(self.proc.stdout.read()).strip().replace("\n", "; ")


class Gtlsserver:
    """ngtcp2's HTTP/3 server on |root|."""

    def __init__(self, root, workdir, cert, key, retry=False):
        self.port = common.free_port(common.socket.SOCK_DGRAM)
        cmd = ["gtlsserver", "-q", "--htdocs=" + root]
        if retry:
            cmd.append("-V")
        cmd += [HOST, str(self.port), key, cert]
        self.log = open(os.path.join(workdir, "gtlsserver.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        time.sleep(0.3)
        expect(self.proc.poll() is None,
               "gtlsserver exited at once (status %r)" % self.proc.returncode)

    def stop(self):
        common.stop_process(self.proc)
        self.log.close()


class Suite:
    def __init__(self, server_exe, client_exe, pki):
        self.server_exe = server_exe
        self.client_exe = client_exe
        self.cert = os.path.join(pki, "server.pem")
        self.key = os.path.join(pki, "server.key")
        self.ca = os.path.join(pki, "ca.pem")
        self.tmp = tempfile.TemporaryDirectory(prefix="zttp-h3-interop-")
        self.work = self.tmp.name
        self.root = os.path.join(self.work, "root")
        os.mkdir(self.root)
        self.files = {}
        self.results = []

    def path(self, *names):
        return os.path.join(self.work, *names)

    def add_file(self, name, data):
        with open(os.path.join(self.root, name), "wb") as f:
            f.write(data)
        self.files[name] = data

    def make_root(self):
        self.add_file("big.bin", os.urandom(BIG))
        for i in range(SMALL_FILES):
            self.add_file("s%03d.txt" % i, ("small file %d\n" % i).encode()
                          * (1 + i % 7))
        # Chromium: a page that records its protocol, then fetches big.txt
        # (ASCII, so a synchronous XHR can hand it over as text) and records
        # its length and a checksum before the load event ends.
        big_txt = (b"0123456789abcdef" * (BIG // 16))
        self.add_file("big.txt", big_txt)
        self.add_file("page.html", PAGE.encode())

    def start_server(self, *extra):
        server = common.Server(
            self.server_exe,
            ["--root", self.root, "--port", "0", "--addr", HOST,
             "--tls-port", "0", "--cert", self.cert, "--key", self.key,
             "--verbose"] + list(extra),
            self.work)
        try:
            server.wait_listening(["http/1.1", TLS, H3])
        except Failure:
            server.stop()
            raise
        expect_eq(server.ports[H3], server.ports[TLS],
                  "UDP port of HTTP/3 (same number as TLS)")
        return server

    # ---- gtlsclient against zttp-server ----------------------------------

    def gtlsclient(self, port, names, *opts, quiet=True, name="dl"):
        out = self.path(name)
        shutil.rmtree(out, ignore_errors=True)
        os.mkdir(out)
        cmd = ["gtlsclient"]
        if quiet:
            cmd.append("-q")
        cmd += ["--exit-on-all-streams-close", "--download=" + out,
                "--timeout=30s"] + list(opts)
        if len(names) > 1:
            cmd.append("-n%d" % len(names))
        cmd += [HOST, str(port)]
        cmd += ["https://%s:%d/%s" % (HOST, port, n) for n in names]
        res = run(cmd, timeout=CLIENT_TIMEOUT)
        got = {}
        for n in set(names):
            p = os.path.join(out, n)
            expect(os.path.exists(p),
                   "gtlsclient saved no %s (exit %d): %s"
                   % (n, res.returncode, tail(res.stdout + res.stderr)))
            with open(p, "rb") as f:
                got[n] = f.read()
        for n, data in got.items():
            expect_same_bytes(data, self.files[n], "gtlsclient " + n)
        return res

    def check_gtlsclient(self):
        server = self.start_server()
        try:
            port = server.ports[H3]
            self.check("gtlsclient: 10 MiB", lambda: self.gtlsclient(
                port, ["big.bin"]))
            smalls = ["s%03d.txt" % i for i in range(SMALL_FILES)]
            self.check("gtlsclient: 100 small files on one connection (-n)",
                       lambda: self.gtlsclient(port, smalls))

            def chacha():
                res = self.gtlsclient(port, ["big.bin"],
                                      "--ciphers=" + CHACHA_ONLY, quiet=False)
                out = text(res.stdout + res.stderr)
                expect("CHACHA20" in out.upper(),
                       "gtlsclient did not report ChaCha20: %s"
                       % tail(res.stdout + res.stderr, 5))
            self.check("gtlsclient: ChaCha20-Poly1305 only", chacha)
            self.check("gtlsclient: --key-update", lambda: self.gtlsclient(
                port, ["big.bin"], "--key-update=10ms"))

            def lossy():
                proxy = Proxy(port, 5, 1)
                try:
                    self.gtlsclient(proxy.port, ["big.bin"])
                finally:
                    self.note("proxy: " + proxy.stop())
            self.check("gtlsclient: 10 MiB with 5% loss both ways", lossy)

            def path_lines():
                return [ln for ln in server.stderr_tail(100000)
                        if ": path " in ln]

            def expect_moved(before, how):
                lines = path_lines()[len(before):]
                expect(any("path changed, validating:" in ln
                           for ln in lines) and
                       any("path validated:" in ln for ln in lines),
                       "zttp-server did not follow the %s: %s"
                       % (how, lines[-4:]))

            def migration():
                before = path_lines()
                self.gtlsclient(port, ["big.bin"], "--change-local-addr=20ms")
                expect_moved(before, "migration")
            self.check("gtlsclient: migrates to a new address mid-download "
                       "(--change-local-addr; RFC 9000 §9)", migration)

            def rebinding():
                before = path_lines()
                proxy = Proxy(port, 0, 1, rebind=300)
                try:
                    self.gtlsclient(proxy.port, ["big.bin"])
                finally:
                    note = proxy.stop()
                    self.note("proxy: " + note)
                expect("rebound 1" in note, "the proxy did not rebind: " + note)
                expect_moved(before, "NAT rebinding")
            self.check("gtlsclient: NAT rebinding mid-download (the proxy "
                       "changes its source port)", rebinding)
            expect(server.alive(), "zttp-server died")
        finally:
            server.stop()
        server = self.start_server("--retry")
        try:
            def retry():
                self.gtlsclient(server.ports[H3], ["big.bin"])
                log = "\n".join(server.stderr_tail(200))
                expect("retry" in log.lower(),
                       "the server logged no Retry: %s" % log[-400:])
            self.check("gtlsclient: with Retry (zttp-server --retry)", retry)
        finally:
            server.stop()

    # ---- zttp-client against gtlsserver ----------------------------------

    def zttp_client(self, port, names, *opts):
        """Fetches |names| over one HTTP/3 connection (concurrent streams),
        one output file each, and checks every file's bytes."""
        out_dir = self.path("zc")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.mkdir(out_dir)
        cmd = [self.client_exe, "--h3", "--cacert", self.ca] + list(opts)
        for n in names:
            cmd += ["-o", os.path.join(out_dir, n)]
        cmd += ["https://localhost:%d/%s" % (port, n) for n in names]
        res = run(cmd, timeout=CLIENT_TIMEOUT)
        expect_eq(res.returncode, 0, "zttp-client exit status (%s)"
                  % tail(res.stderr))
        lines = text(res.stdout).splitlines()
        expect_eq(len(lines), len(names), "zttp-client result lines")
        for line in lines:
            expect(line.endswith(" h3") and " 200 " in line,
                   "zttp-client result %r" % line)
        for n in names:
            with open(os.path.join(out_dir, n), "rb") as f:
                expect_same_bytes(f.read(), self.files[n], "zttp-client " + n)

    def check_zttp_client(self):
        gs = Gtlsserver(self.root, self.work, self.cert, self.key)
        try:
            self.check("zttp-client -> gtlsserver: 10 MiB",
                       lambda: self.zttp_client(gs.port, ["big.bin"]))
            smalls = ["s%03d.txt" % i for i in range(SMALL_FILES)]
            self.check("zttp-client -> gtlsserver: 100 small files on one "
                       "connection", lambda: self.zttp_client(gs.port, smalls))

            def lossy():
                proxy = Proxy(gs.port, 5, 2)
                try:
                    self.zttp_client(proxy.port, ["big.bin"])
                finally:
                    self.note("proxy: " + proxy.stop())
            self.check("zttp-client -> gtlsserver: 10 MiB with 5% loss",
                       lossy)
        finally:
            gs.stop()
        gs = Gtlsserver(self.root, self.work, self.cert, self.key, retry=True)
        try:
            self.check("zttp-client -> gtlsserver -V (Retry)",
                       lambda: self.zttp_client(gs.port, ["big.bin"]))
        finally:
            gs.stop()

    # ---- Chromium --------------------------------------------------------

    def check_chromium(self):
        chromium = shutil.which("chromium")
        if chromium is None:
            self.check("chromium", lambda: expect(False, "not installed"))
            return
        spki = spki_hash(self.cert)
        server = self.start_server()
        try:
            def page():
                port = server.ports[H3]
                profile = tempfile.mkdtemp(prefix="chromium-", dir=self.work)
                cmd = [chromium, "--headless=new", "--no-sandbox",
                       "--disable-gpu", "--enable-quic",
                       "--origin-to-force-quic-on=localhost:%d" % port,
                       "--ignore-certificate-errors-spki-list=" + spki,
                       "--host-resolver-rules=MAP localhost 127.0.0.1, "
                       "MAP * ~NOTFOUND",
                       "--user-data-dir=" + profile,
                       "--disable-background-networking",
                       "--disable-component-update", "--disable-sync",
                       "--no-first-run", "--dump-dom",
                       "https://localhost:%d/page.html" % port]
                res = run(cmd, timeout=CLIENT_TIMEOUT)
                dom = text(res.stdout)
                expect('<p id="proto">h3</p>' in dom,
                       "nextHopProtocol is not h3: %s / %s"
                       % (dom[-300:], tail(res.stderr, 5)))
                want = '<p id="big">%d %d</p>' % (
                    len(self.files["big.txt"]),
                    checksum(self.files["big.txt"]))
                expect(want in dom, "10 MiB fetch: expected %s in %s"
                       % (want, dom[-300:]))
            self.check("chromium: page over h3, 10 MiB fetch complete", page)
        finally:
            server.stop()

    # ---- TAP -------------------------------------------------------------

    def note(self, line):
        print("# " + line, flush=True)

    def check(self, name, fn):
        try:
            fn()
            self.results.append((name, True))
            print("ok %d - %s" % (len(self.results), name), flush=True)
        except (Failure, OSError, subprocess.TimeoutExpired) as e:
            self.results.append((name, False))
            print("not ok %d - %s" % (len(self.results), name), flush=True)
            for line in str(e).splitlines()[-20:]:
                print("# " + line, flush=True)


def checksum(data):
    """The page's checksum: the sum of the bytes modulo 2^32."""
    return sum(data) % (1 << 32)


def spki_hash(cert):
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey",
                          "-noout"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"],
                         input=pub, capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


PAGE = """<!DOCTYPE html>
<html><head><title>zttp h3</title></head><body>
<p id="proto">?</p><p id="big">?</p>
<script>
var nav = performance.getEntriesByType('navigation')[0];
document.getElementById('proto').textContent = nav.nextHopProtocol;
var x = new XMLHttpRequest();
x.open('GET', '/big.txt', false);
x.send();
var s = x.responseText, sum = 0;
for (var i = 0; i < s.length; i++) { sum = (sum + s.charCodeAt(i)) >>> 0; }
document.getElementById('big').textContent = s.length + ' ' + sum;
</script>
</body></html>
"""


def main(argv):
    if len(argv) != 4:
        print("usage: h3_interop.py zttp-server zttp-client PKI_DIR",
              file=sys.stderr)
        return 2
    for tool in ("gtlsclient", "gtlsserver", "openssl"):
        if shutil.which(tool) is None:
            print("1..0 # SKIP %s not installed" % tool)
            return 0
    suite = Suite(argv[1], argv[2], argv[3])
    suite.make_root()
    suite.check_gtlsclient()
    suite.check_zttp_client()
    suite.check_chromium()
    print("1..%d" % len(suite.results))
    return 0 if all(ok for _, ok in suite.results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
