#!/usr/bin/env python3
"""A real local HTTP receiver for webhook tests.

Usage: webhook_receiver.py OUT_FILE
Listens on 127.0.0.1 (kernel-chosen port), prints the port on stdout, then appends every POSTed
body as one line of OUT_FILE (with the request path before a tab) and answers 200. Stops on
SIGTERM. Bodies are limited to 64 KiB.
"""
import http.server
import sys

OUT = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        if length > 65536:
            self.send_response(413)
            self.end_headers()
            return
        body = self.rfile.read(length).decode("utf-8", "replace").replace("\n", " ")
        with open(OUT, "a", encoding="utf-8") as f:
            f.write(self.path + "\t" + body + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
