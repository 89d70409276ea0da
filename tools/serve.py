#!/usr/bin/env python3
"""Serves a directory on loopback, as any static host would, plus two things a host must
add as response headers:
- the page's Content-Security-Policy (read from the meta tag in its index.html), so that
  the worker, which a meta tag does not reach, runs under the same policy;
- cross-origin isolation (COOP same-origin, COEP require-corp), without which browsers
  give no shared memory, so no threads.

    python3 tools/serve.py DIR [PORT] [--not-isolated]
        PORT 0 picks a free one; the port is printed. A DIR whose index.html has no policy
        is served without one; --not-isolated leaves out COOP and COEP (a host that cannot
        set headers, as the single-threaded fallback sees it).
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
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    isolated = "--not-isolated" not in sys.argv
    root = args[0]
    port = int(args[1]) if len(args) > 1 else 8080
    csp = policy(root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self):
            if csp:
                self.send_header("Content-Security-Policy", csp)
            if isolated:
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            super().end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=root))
    print(f"Serving {root} on http://127.0.0.1:{server.server_address[1]}/ port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
