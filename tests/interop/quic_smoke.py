#!/usr/bin/python3
"""QUIC smoke test against real peers: tests/interop/quic_smoke.c against
ngtcp2's gtlsserver and gtlsclient (Debian ngtcp2-server, ngtcp2-client), over
UDP on 127.0.0.1 with ALPN h3.

Usage: quic_smoke.py PATH/TO/quic_smoke PKI_DIR

1. gtlsserver with the test PKI's server.pem/server.key; `quic_smoke client`
   must complete the handshake verifying the server against ca.pem and
   receive the server's HTTP/3 control stream (0x00) with its SETTINGS (0x04).
2. `quic_smoke server`; gtlsclient must complete the handshake with it (the
   zttp server reports it and gtlsclient negotiates ALPN h3). No HTTP/3 on
   our side yet: the zttp server closes with H3_NO_ERROR after a moment.

Every peer runs as its own process (OpenSSL/GnuTLS never share a process with
libzttp), each with a timeout. Prints TAP. Installs nothing: scripts/test
installs ngtcp2-server and ngtcp2-client. A missing peer skips its checks.

SPDX-License-Identifier: MIT
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
TIMEOUT = 15


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop(proc):
    """Ends a peer process we started (by its pid) and returns its output."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    out = proc.stdout.read() if proc.stdout else ""
    return out


def run(cmd, timeout=TIMEOUT):
    """Runs |cmd|; returns (exit status or None on timeout, output)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        return None, out


def diag(text):
    for line in text.splitlines()[-40:]:
        print("# " + line)


def main():
    smoke, pki = sys.argv[1], sys.argv[2]
    cert = os.path.join(pki, "server.pem")
    key = os.path.join(pki, "server.key")
    ca = os.path.join(pki, "ca.pem")
    gserver = shutil.which("gtlsserver") or (
        "/usr/sbin/gtlsserver" if os.path.exists("/usr/sbin/gtlsserver")
        else None)
    gclient = shutil.which("gtlsclient")
    print("1..4")
    failed = 0
    htdocs = tempfile.mkdtemp(prefix="zttp-quic-smoke-")
    try:
        # 1-2: zttp client -> gtlsserver.
        if gserver is None:
            print("ok 1 # SKIP gtlsserver not installed (ngtcp2-server)")
            print("ok 2 # SKIP gtlsserver not installed (ngtcp2-server)")
        else:
            port = free_udp_port()
            server = subprocess.Popen(
                [gserver, "-q", "--htdocs=" + htdocs, HOST, str(port), key,
                 cert],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                errors="replace")
            try:
                time.sleep(0.3)
                rc, out = run([smoke, "client", HOST, str(port), ca])
            finally:
                sout = stop(server)
            # Verification is on: the same client refuses a valid leaf of
            # the test CA for another name (other.pem: example.com).
            port2 = free_udp_port()
            wrong = subprocess.Popen(
                [gserver, "-q", "--htdocs=" + htdocs, HOST, str(port2), key,
                 os.path.join(pki, "other.pem")],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                errors="replace")
            try:
                time.sleep(0.3)
                wrc, wout = run([smoke, "client", HOST, str(port2), ca])
            finally:
                stop(wrong)
            refused = wrc == 1 and "handshake complete" not in wout
            hs = "client: handshake complete, ALPN h3" in out
            settings = "HTTP/3 control stream with SETTINGS" in out
            print(("ok" if hs and refused else "not ok") +
                  " 1 - zttp client completes the handshake with gtlsserver "
                  "(certificate verified against the test CA; a certificate "
                  "for example.com is refused)")
            print("# against other.pem (exit %r):" % wrc)
            diag("\n".join(l for l in wout.splitlines()
                           if "CLOSED" in l or "FAIL" in l))
            print(("ok" if settings and rc == 0 else "not ok") +
                  " 2 - gtlsserver's control stream (0x00) with SETTINGS "
                  "(0x04) arrives on a unidirectional stream")
            diag(out)
            if not (hs and refused and settings and rc == 0):
                failed += 1
                print("# exit status %r; gtlsserver output:" % rc)
                diag(sout)

        # 3-4: gtlsclient -> zttp server.
        if gclient is None:
            print("ok 3 # SKIP gtlsclient not installed (ngtcp2-client)")
            print("ok 4 # SKIP gtlsclient not installed (ngtcp2-client)")
        else:
            port = free_udp_port()
            server = subprocess.Popen(
                [smoke, "server", str(port), cert, key],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                errors="replace")
            try:
                time.sleep(0.3)
                url = "https://%s:%d/" % (HOST, port)
                crc, cout = run([gclient, "--no-quic-dump", "--no-http-dump",
                                 "--exit-on-all-streams-close", "--timeout=5s",
                                 HOST, str(port), url])
                try:
                    server.wait(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
            finally:
                sout = stop(server)
            shs = "server: handshake complete, ALPN h3" in sout
            chs = "Negotiated ALPN is h3" in cout
            print(("ok" if shs and server.returncode == 0 else "not ok") +
                  " 3 - zttp server (admitted by endpoint.c) completes the "
                  "handshake with gtlsclient")
            print(("ok" if chs and crc == 0 else "not ok") +
                  " 4 - gtlsclient reports the handshake (ALPN h3)")
            diag(sout)
            print("# gtlsclient (exit %r):" % crc)
            keep = ("handshake has", "Negotiated", "CONNECTION_CLOSE",
                    "HANDSHAKE_DONE", "ERR_", "rror")
            diag("\n".join(l for l in cout.splitlines()
                           if any(k in l for k in keep) and "ecret" not in l))
            if not (shs and chs and crc == 0 and server.returncode == 0):
                failed += 1
    finally:
        shutil.rmtree(htdocs, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
