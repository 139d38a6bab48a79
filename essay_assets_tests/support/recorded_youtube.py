"""YouTube's recorded answers, served to the real youtube-transcript-api without a network.

The library ships real recorded YouTube responses (watch page, innertube player JSON,
caption XML and the error variants) in `youtube_transcript_api/test/assets/`. A
`requests` transport adapter answers the three URLs the library requests from those
files, so the library's own parsing and error detection run unchanged, with no network:

    GET  https://www.youtube.com/watch?v=ID        -> watch page HTML (has INNERTUBE_API_KEY)
    POST https://www.youtube.com/youtubei/v1/player -> innertube player JSON (caption tracks)
    GET  https://www.youtube.com/api/timedtext?...  -> caption XML
"""

from __future__ import annotations

from pathlib import Path

import requests
import youtube_transcript_api
from requests.adapters import BaseAdapter

from essay_assets.intake.youtube import FetchedTranscriptData, fetch_transcript

ASSETS = Path(youtube_transcript_api.__file__).parent / "test" / "assets"
VIDEO_ID = "GJLlxj_dtq8"  # the video the recorded responses belong to


def asset(name: str) -> bytes:
    return (ASSETS / f"{name}.static").read_bytes()


class RecordedYouTube(BaseAdapter):
    """Transport adapter answering YouTube URLs from recorded bodies (or raising)."""

    def __init__(self, **overrides):
        super().__init__()
        # route -> bytes body, int status, or an exception instance to raise
        self.routes = {
            "watch": asset("youtube.html"),
            "player": asset("youtube.innertube.json"),
            "timedtext": asset("transcript.xml"),
        }
        self.routes.update(overrides)
        self.calls: list[requests.PreparedRequest] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.calls.append(request)
        route = self._route(request)
        answer = self.routes[route]
        if isinstance(answer, Exception):
            raise answer
        status, body = (answer, b"") if isinstance(answer, int) else (200, answer)
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.url = request.url
        response.request = request
        response.reason = "OK" if status == 200 else "Error"
        response.encoding = "utf-8"
        return response

    @staticmethod
    def _route(request) -> str:
        url = request.url
        if request.method == "GET" and url.startswith("https://www.youtube.com/watch?"):
            return "watch"
        if request.method == "POST" and url.startswith("https://www.youtube.com/youtubei/v1/player"):
            return "player"
        if request.method == "GET" and url.startswith("https://www.youtube.com/api/timedtext?"):
            return "timedtext"
        raise AssertionError(f"unexpected request {request.method} {url}")

    def close(self):
        pass


def session_for(adapter: RecordedYouTube) -> requests.Session:
    session = requests.Session()
    # Mounted on the host prefix, not "https://": with a proxy config whose
    # retries_when_blocked > 0 (Webshare) the library mounts its own HTTPAdapter on
    # "https://", and requests picks the longest matching prefix.
    session.mount("https://www.youtube.com/", adapter)
    return session


def fetch_with(adapter: RecordedYouTube, video_id: str = VIDEO_ID, **kwargs) -> FetchedTranscriptData:
    return fetch_transcript(video_id, http_client=session_for(adapter), **kwargs)
