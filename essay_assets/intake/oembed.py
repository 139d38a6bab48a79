"""A single public video's title and channel from YouTube's oEmbed endpoint (no API key),
for videos that did not come from a followed feed."""

from __future__ import annotations

import http.client
from typing import Any

import requests

from essay_assets.intake.video_refs import watch_url
from essay_assets.intake.videos import VideoMetadata
from essay_assets.settings import DEFAULT_OEMBED_URL


def oembed_session(base_url: str = DEFAULT_OEMBED_URL) -> requests.Session:
    """One HTTP session for a step's lookups, with what requests would read from the environment
    for every request (proxies and no_proxy, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, ~/.netrc) read
    once: every lookup goes to `base_url`, and reading them per lookup cost more CPU than a
    lookup answered at once."""
    session = requests.Session()
    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(found["proxies"])
    session.verify, session.cert = found["verify"], found["cert"]
    session.auth = requests.utils.get_netrc_auth(base_url)
    session.trust_env = False  # all read above
    return session


def fetch_oembed_metadata(
    video_id: str,
    *,
    base_url: str = DEFAULT_OEMBED_URL,
    timeout: float = 10,
    session: requests.Session | None = None,
) -> VideoMetadata | None:
    """Title and channel of a public video from oEmbed; None on any failure.

    oEmbed has no channel ID or publication date, so those stay None. Private videos and
    videos with embedding disabled answer 401/403/404: metadata is a nicety, the essay
    does not depend on it, hence None rather than an exception.
    """
    url = watch_url(video_id)
    client = session or requests
    try:
        response = client.get(base_url, params={"url": url, "format": "json"}, timeout=timeout)
        if response.status_code != 200:
            return None
        data = response.json()
    except (requests.RequestException, ValueError, http.client.HTTPException, OSError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("title"), str):
        return None
    return VideoMetadata(
        video_id=video_id,
        title=data["title"],
        channel_name=_str_or_none(data.get("author_name")),
        channel_id=None,
        published_at=None,
        url=url,
        channel_url=_str_or_none(data.get("author_url")),
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
