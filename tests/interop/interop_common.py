"""What the interop suites share: exact checks, running peers as separate
processes, free ports, and the examples/zttp-server process under test.

Every peer (curl, nghttp, h2load, gtlsclient, gtlsserver, Chromium) runs in
its own process: they link OpenSSL or GnuTLS, which must never share a
process with libzttp (TOOLCHAIN.md).

SPDX-License-Identifier: MIT
"""

import hashlib
import os
import re
import select
import socket
import subprocess
import time

HOST = "127.0.0.1"
LISTEN_RE = re.compile(r"^listening (https?)://127\.0\.0\.1:(\d+) \((.*)\)$")


class Failure(Exception):
    """A check failed; the message says what was expected and what came."""


def expect(cond, what):
    if not cond:
        raise Failure(what)


def expect_eq(actual, expected, what):
    if actual != expected:
        raise Failure("%s: expected %r, got %r" % (what, expected, actual))


def sha(data):
    return hashlib.sha256(data).hexdigest()[:16]


def expect_same_bytes(actual, expected, what):
    if actual != expected:
        raise Failure(
            "%s: expected %d bytes (sha256 %s), got %d bytes (sha256 %s)"
            % (what, len(expected), sha(expected), len(actual), sha(actual))
        )


def text(b):
    return b.decode("utf-8", "replace")


def tail(b, n=15):
    return "\n".join(text(b).strip().splitlines()[-n:])


def run(cmd, timeout=90, cwd=None, stdin=None):
    """Runs |cmd| and returns the CompletedProcess (stdout and stderr
    captured as bytes)."""
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=stdin if stdin is not None
                          else subprocess.DEVNULL,
                          timeout=timeout, cwd=cwd, check=False)


def free_port(kind=socket.SOCK_STREAM):
    """A port nothing is bound to right now, for peers without port 0."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    """Waits until something accepts TCP connections on |port|."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure("exited with status %r before listening"
                          % proc.returncode)
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise Failure("nothing listens on port %d after %.0f s" % (port, timeout))


def stop_process(proc, grace=5):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """The examples/zttp-server process under test. |args| are its options
    after the binary; wait_listening() reads its "listening" lines until
    each of |want| (protocol lists such as "http/1.1", "h2, http/1.1",
    "h3, udp") was announced and records the ports in self.ports."""

    def __init__(self, exe, args, workdir):
        self.stderr_path = os.path.join(workdir, "server.stderr")
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [exe] + list(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.ports = {}
        self.lines = []

    def wait_listening(self, want, timeout=20.0):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while not all(w in self.ports for w in want):
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = text(line)
                self.lines.append(line)
                m = LISTEN_RE.match(line)
                if m is None:
                    raise Failure("unexpected line %r" % line)
                self.ports[m.group(3)] = int(m.group(2))
            if all(w in self.ports for w in want):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("not listening for %r within %.0f s: %r"
                              % (want, timeout, self.lines))
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise Failure("server exited before listening (status %r)"
                              % self.proc.wait(5))
            buf += chunk
        for w in want:
            expect(0 < self.ports[w] < 65536,
                   "port %d out of range" % self.ports[w])

    def alive(self):
        return self.proc.poll() is None

    def stderr_tail(self, n=20):
        self.stderr.flush()
        try:
            with open(self.stderr_path, "rb") as f:
                lines = text(f.read()).splitlines()
        except OSError:
            return []
        return lines[-n:]

    def stop(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()
