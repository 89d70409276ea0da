#!/usr/bin/env python3
"""Serves a directory on loopback, as any static host would, plus the page's
Content-Security-Policy as a response header (read from the meta tag in its index.html),
so that the worker, which a meta tag does not reach, runs under the same policy.

    python3 tools/serve.py DIR [PORT]     PORT 0 picks a free one; the port is printed
                                          (a DIR whose index.html has no policy is served plainly)
"""
import functools
import http.server
import re
import sys
from pathlib import Path


def policy(root):
    """The policy of ROOT/index.html's meta tag; None for a folder without one (another
    site, such as a test's own)."""
    index = Path(root) / "index.html"
    if not index.exists():
        return None
    m = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', index.read_text(encoding="utf-8"))
    return m.group(1) if m else None


def main():
    root = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8080
    csp = policy(root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self):
            if csp:
                self.send_header("Content-Security-Policy", csp)
            super().end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=root))
    print(f"Serving {root} on http://127.0.0.1:{server.server_address[1]}/ port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
