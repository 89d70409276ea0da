#!/usr/bin/env python3
"""Serves a directory on loopback, as any static host would, plus two things a host must
add as response headers:
- the page's Content-Security-Policy (read from the meta tag in its index.html), so that
  the worker, which a meta tag does not reach, runs under the same policy;
- cross-origin isolation (COOP same-origin, COEP require-corp), without which browsers
  give no shared memory, so no threads.
Where a file has a precompressed copy beside it (FILE.br, FILE.gz: `./build.sh dist` writes
them, tools/compress.mjs) and the browser accepts that encoding, the copy is sent with
Content-Encoding, as nginx's brotli_static and gzip_static do: the tests then measure the
bytes a user of such a host downloads.

    python3 tools/serve.py DIR [PORT] [--not-isolated]
        PORT 0 picks a free one; the port is printed. A DIR whose index.html has no policy
        is served without one; --not-isolated leaves out COOP and COEP (a host that cannot
        set headers, as the single-threaded fallback sees it).
"""
import functools
import http.server
import os
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
        def send_head(self):
            path = self.translate_path(self.path)
            accepted = {e.split(";")[0].strip() for e in self.headers.get("Accept-Encoding", "").split(",")}
            for encoding, ext in (("br", ".br"), ("gzip", ".gz")):
                if encoding in accepted and os.path.isfile(path) and os.path.isfile(path + ext):
                    f = open(path + ext, "rb")
                    size = os.fstat(f.fileno()).st_size
                    self.send_response(200)
                    self.send_header("Content-Type", self.guess_type(path))
                    self.send_header("Content-Encoding", encoding)
                    self.send_header("Content-Length", str(size))
                    self.send_header("Vary", "Accept-Encoding")
                    self.end_headers()
                    return f
            return super().send_head()

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
