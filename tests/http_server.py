"""A real HTTP server on a free loopback port for the tests, in a thread: ``serving(handler)``
yields its base address (``http://127.0.0.1:PORT``) and shuts it down afterwards. Used by
``tests/test_publish.py`` (the published tree under a sub-path) and ``tests/test_ci_workflow.py``
(the stand-in for GitHub's comments API)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer


@contextmanager
def serving(handler: Callable[..., object]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
