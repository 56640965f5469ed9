#!/usr/bin/python3
"""A UDP proxy that drops datagrams: for interop runs with loss, and that can
act as a NAT that rebinds.

Usage: udp_loss_proxy.py LISTEN_PORT TARGET_PORT LOSS_PERCENT SEED [REBIND]

Listens on 127.0.0.1:LISTEN_PORT; datagrams from a client go to
127.0.0.1:TARGET_PORT from one socket per client, and the answers go back to
that client. Each datagram, either way, is dropped with probability
LOSS_PERCENT / 100, drawn from a PRNG seeded with SEED (deterministic for a
given order of arrival). With REBIND > 0, once REBIND datagrams of a client
went up, its socket towards the target is closed and a new one (a new source
port) takes over, as a NAT that lost its mapping: answers to the old port
are lost (RFC 9000 §9.3 NAT rebinding). Prints "ready" once listening,
then, at exit (SIGTERM), one line: "forwarded N dropped M" per direction,
and "rebound K" with REBIND.

SPDX-License-Identifier: MIT
"""

import random
import selectors
import signal
import socket
import sys

HOST = "127.0.0.1"


def main(argv):
    listen_port, target_port = int(argv[1]), int(argv[2])
    loss = float(argv[3]) / 100.0
    rng = random.Random(int(argv[4]))
    rebind_after = int(argv[5]) if len(argv) > 5 else 0
    ups = {}  # client address -> datagrams it sent up
    rebound = [0]
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind((HOST, listen_port))
    front.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(front, selectors.EVENT_READ, None)
    backs = {}  # client address -> its socket towards the target
    stats = {"up": [0, 0], "down": [0, 0]}  # forwarded, dropped
    running = [True]

    def stop(signum, frame):
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)
    while running[0]:
        for key, _ in sel.select(timeout=0.2):
            sock = key.fileobj
            while True:
                try:
                    data, addr = sock.recvfrom(65536)
                except BlockingIOError:
                    break
                except OSError:
                    break
                if key.data is None:  # from a client
                    way = stats["up"]
                    back = backs.get(addr)
                    ups[addr] = ups.get(addr, 0) + 1
                    if back is not None and ups[addr] == rebind_after + 1:
                        sel.unregister(back)
                        back.close()
                        back = None
                        rebound[0] += 1
                    if back is None:
                        back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        back.bind((HOST, 0))
                        back.setblocking(False)
                        backs[addr] = back
                        sel.register(back, selectors.EVENT_READ, addr)
                    dest, out = (HOST, target_port), back
                else:  # from the target, for the client key.data
                    way = stats["down"]
                    dest, out = key.data, front
                if rng.random() < loss:
                    way[1] += 1
                    continue
                way[0] += 1
                try:
                    out.sendto(data, dest)
                except OSError:
                    pass
    for name in ("up", "down"):
        print("%s forwarded %d dropped %d" % (name, stats[name][0],
                                              stats[name][1]), flush=True)
    if rebind_after > 0:
        print("rebound %d" % rebound[0], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
