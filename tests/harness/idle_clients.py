#!/usr/bin/env python3
"""Holds many connections to the API that never finish what they started (a slow-loris client).

Usage: idle_clients.py PORT SOURCE COUNT MODE CACERT STATUS_FILE HOLD_SECONDS
MODE is one of:
  idle          connect and send nothing
  partial-hello send the first bytes of a real TLS ClientHello, then stall
  partial-http  finish the TLS handshake, send half a request head, then stall
Connections come from SOURCE (a loopback address). After opening them all the script writes
"ready" to STATUS_FILE, then rewrites "open=N closed=M" there whenever a connection is closed by
the server, and exits after HOLD_SECONDS (or on SIGTERM). Every wait is bounded.
"""
import os
import select
import socket
import ssl
import sys
import time

PORT, SOURCE, COUNT, MODE, CACERT, STATUS, HOLD = sys.argv[1:8]
COUNT, HOLD = int(COUNT), float(HOLD)


def write_status(text):
    with open(STATUS + ".tmp", "w", encoding="utf-8") as f:
        f.write(text + "\n")
    # rename: a reader never sees half a line.
    os.replace(STATUS + ".tmp", STATUS)


def client_hello_prefix():
    """The first bytes of a real ClientHello, from an in-memory TLS client."""
    ctx = ssl.create_default_context(cafile=CACERT)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    return hello[: len(hello) // 2]


def connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((SOURCE, 0))
    s.settimeout(15)
    s.connect(("127.0.0.1", int(PORT)))
    return s


def open_one(hello):
    s = connect()
    if MODE == "partial-hello":
        s.sendall(hello)
    elif MODE == "partial-http":
        ctx = ssl.create_default_context(cafile=CACERT)
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    s.setblocking(False)
    return s


def is_closed(s):
    try:
        data = s.recv(1)
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except (ConnectionError, ssl.SSLError, OSError):
        return True
    return data == b""


def main():
    hello = client_hello_prefix() if MODE == "partial-hello" else b""
    conns = []
    for _ in range(COUNT):
        try:
            conns.append(open_one(hello))
        except (OSError, ssl.SSLError):
            conns.append(None)  # refused or closed during the handshake: counts as closed
    opened = [c for c in conns if c is not None]
    closed = COUNT - len(opened)
    write_status("ready open=%d closed=%d" % (len(opened), closed))
    end = time.monotonic() + HOLD
    while opened and time.monotonic() < end:
        readable, _, _ = select.select(opened, [], [], 0.2)
        gone = [s for s in readable if is_closed(s)]
        for s in gone:
            opened.remove(s)
            s.close()
        if gone:
            closed += len(gone)
            write_status("ready open=%d closed=%d" % (len(opened), closed))
    if not opened:
        time.sleep(max(0.0, end - time.monotonic()))


if __name__ == "__main__":
    main()
