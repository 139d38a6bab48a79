"""A loopback stand-in for YouTube's Atom feeds and oEmbed endpoint.

    with YouTubeFeedServer() as server:
        server.feeds["channel_id=UC..."] = fixture("channel_long_conversations.xml")
        server.feeds["playlist_id=PL..."] = 500            # an HTTP error
        server.oembed["dQw4w9WgXcQ"] = {"title": ..., "author_name": ..., "author_url": ...}
        load_follow_file(path, feed_base=server.feed_base)

`GET /feeds/videos.xml?<query>` answers `feeds[<query>]`: bytes are served as Atom with
an ETag (a content hash) and Last-Modified, and `If-None-Match` with the current ETag
gets `304 Not Modified`, like YouTube's CDN. An int is answered as that HTTP status.
`GET /oembed?url=...watch?v=ID&format=json` answers `oembed[ID]`: a dict as JSON, bytes
as-is, an int as that status; unknown IDs get 404, each after `oembed_delay_s` (a round trip);
`oembed_most_at_once` is the most lookups it was answering at the same time. Requests are
recorded in `.requests`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "essay_assets_tests" / "fixtures" / "feeds"  # recorded feeds
LAST_MODIFIED = "Tue, 10 Feb 2026 17:05:00 GMT"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass(frozen=True)
class SeenRequest:
    path: str
    query: str
    headers: dict[str, str]


class YouTubeFeedServer:
    def __init__(self) -> None:
        self.feeds: dict[str, Any] = {}
        self.oembed: dict[str, Any] = {}
        self.oembed_delay_s = 0.0
        self.oembed_most_at_once = 0
        self._oembed_at_once = 0
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def feed_base(self) -> str:
        return f"{self.base_url}/feeds/videos.xml"

    @property
    def oembed_url(self) -> str:
        return f"{self.base_url}/oembed"

    def feed_requests(self, query: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == "/feeds/videos.xml" and r.query == query]

    def start(self) -> YouTubeFeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> YouTubeFeedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _make_handler(server: YouTubeFeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            with server._lock:
                server.requests.append(SeenRequest(parts.path, parts.query, dict(self.headers.items())))
            if parts.path == "/feeds/videos.xml":
                self._feed(server.feeds.get(parts.query, 404))
            elif parts.path == "/oembed":
                with server._lock:
                    server._oembed_at_once += 1
                    server.oembed_most_at_once = max(server.oembed_most_at_once, server._oembed_at_once)
                try:
                    time.sleep(server.oembed_delay_s)
                finally:
                    # Counted down before answering: once the client has its answer it may send its
                    # next lookup, which must not overlap this one in the count.
                    with server._lock:
                        server._oembed_at_once -= 1
                self._oembed(parse_qs(parts.query))
            else:
                self._send(404, b"not found", "text/plain")

        def _feed(self, answer: Any) -> None:
            if isinstance(answer, int):
                self._send(answer, b"<html><body>error</body></html>", "text/html")
                return
            etag = etag_of(answer)
            headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", None, headers)
                return
            self._send(200, answer, "application/atom+xml; charset=UTF-8", headers)

        def _oembed(self, params: dict[str, list[str]]) -> None:
            watch_url = (params.get("url") or [""])[0]
            video_id = (parse_qs(urlsplit(watch_url).query).get("v") or [""])[0]
            answer = server.oembed.get(video_id, 404)
            if isinstance(answer, int):
                self._send(answer, b"Not Found", "text/html")
            elif isinstance(answer, bytes):
                self._send(200, answer, "application/json")
            else:
                self._send(200, json.dumps(answer).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str | None, headers: dict | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if content_type:
                self.send_header("Content-Type", content_type)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep pytest output clean

    return Handler
