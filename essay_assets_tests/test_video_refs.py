import pytest

from essay_assets.intake.video_refs import (
    InvalidVideoReference,
    parse_video_ref,
    parse_video_refs,
)

VID = "dQw4w9WgXcQ"
VID2 = "a-B_c1D2e3F"

VALID = [
    # bare IDs
    (VID, VID),
    (VID2, VID2),
    (f"  {VID}\n", VID),
    # watch URLs, v anywhere among other parameters
    (f"https://www.youtube.com/watch?v={VID}", VID),
    (f"http://www.youtube.com/watch?v={VID}", VID),
    (f"https://youtube.com/watch?v={VID}", VID),
    (f"www.youtube.com/watch?v={VID}", VID),
    (f"youtube.com/watch?v={VID}", VID),
    (f"https://www.youtube.com/watch?v={VID}&t=42s", VID),
    (f"https://www.youtube.com/watch?t=42&v={VID}", VID),
    (f"https://www.youtube.com/watch?list=PLabcdefghijklmnop&index=3&v={VID}", VID),
    (f"https://www.youtube.com/watch?feature=shared&si=AbCdEfGh&v={VID}&pp=ygU", VID),
    (f"https://www.youtube.com/watch?v={VID}#t=1m30s", VID),
    (f"https://www.youtube.com/watch/?v={VID}", VID),
    (f"https://m.youtube.com/watch?v={VID}&feature=youtu.be", VID),
    (f"https://music.youtube.com/watch?v={VID}&list=RDAMVM{VID}", VID),
    (f"https://WWW.YouTube.com/watch?v={VID}", VID),
    (f"\t https://www.youtube.com/watch?v={VID} \n", VID),
    # youtu.be
    (f"https://youtu.be/{VID}", VID),
    (f"youtu.be/{VID}", VID),
    (f"http://youtu.be/{VID}?si=AbCdEfGhIjKl", VID),
    (f"https://youtu.be/{VID}?t=120", VID),
    (f"https://youtu.be/{VID}/", VID),
    # path forms
    (f"https://www.youtube.com/shorts/{VID}", VID),
    (f"https://youtube.com/shorts/{VID}?feature=share", VID),
    (f"https://m.youtube.com/shorts/{VID}", VID),
    (f"https://www.youtube.com/live/{VID}?si=xyz", VID),
    (f"https://www.youtube.com/embed/{VID}", VID),
    (f"https://www.youtube.com/embed/{VID}?start=10&autoplay=1", VID),
    (f"https://www.youtube-nocookie.com/embed/{VID}", VID),
    (f"youtube-nocookie.com/embed/{VID}?rel=0", VID),
    (f"https://www.youtube.com/v/{VID}?version=3", VID),
    (f"//www.youtube.com/embed/{VID}", VID),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_parse_video_ref_accepts(text, expected):
    assert parse_video_ref(text) == expected


INVALID = [
    ("", "empty"),
    ("   \n", "empty"),
    ("dQw4w9WgXc", "10 characters long; a video ID has exactly 11"),
    ("dQw4w9WgXcQQ", "12 characters long"),
    ("dQw4w9WgX!Q", "only letters, digits, - and _"),
    ("dQw4w9 WgXcQ", "spaces"),
    (f"https://vimeo.com/{VID}", "'vimeo.com' is not YouTube"),
    (f"https://youtube.com.evil.com/watch?v={VID}", "'youtube.com.evil.com' is not YouTube"),
    (f"https://evilyoutube.com/watch?v={VID}", "is not YouTube"),
    (f"https://www.youtube.com@evil.com/watch?v={VID}", "user information"),
    ("https://www.youtube.com/watch", "no v= parameter"),
    ("https://www.youtube.com/watch?list=PLabcdefghijklmnop", "no v= parameter"),
    (f"https://www.youtube.com/watch?v={VID}&v={VID2}", "several different v="),
    ("https://www.youtube.com/watch?v=short", "'short' is not an 11-character video ID"),
    (f"https://www.youtube.com/watch?v={VID}x", "is not an 11-character video ID"),
    ("https://www.youtube.com/@somechannel", "channel"),
    ("https://www.youtube.com/channel/UCabcdefghijklmnopqrstuv", "channel"),
    ("https://www.youtube.com/playlist?list=PLabcdefghijklmnop", "playlist"),
    ("https://www.youtube.com/embed/videoseries?list=PLabcdefghijklmnop", "'videoseries' is not a video ID"),
    ("https://www.youtube.com/", "does not name a video"),
    (f"https://www.youtube.com/shorts/{VID}/extra", "does not name a video"),
    (f"https://www.youtube-nocookie.com/watch?v={VID}", "youtube-nocookie.com links must be /embed/ID"),
    (f"https://youtu.be/{VID}/{VID}", "youtu.be links must be"),
    ("https://youtu.be/", "youtu.be links must be"),
    (f"javascript:alert('{VID}')", "scheme 'javascript' is not http or https"),
    (f"data:text/html,{VID}", "scheme 'data'"),
    (f"ftp://youtube.com/watch?v={VID}", "scheme 'ftp'"),
    (f"file:///home/me/{VID}.mp4", "scheme 'file'"),
    (f"https://www.youtube.com:abc/watch?v={VID}", "port"),
    ("not a url at all", "spaces"),
    ("hello", "5 characters long"),
    ("https://", "neither a video ID nor a URL"),
]


@pytest.mark.parametrize(("text", "why"), INVALID)
def test_parse_video_ref_rejects(text, why):
    with pytest.raises(InvalidVideoReference) as caught:
        parse_video_ref(text)
    message = str(caught.value)
    assert why in message
    assert repr(text) in message
    assert "Accepted:" in message and "youtu.be/ID" in message
    assert isinstance(caught.value, ValueError)


def test_rejection_shows_received_text_as_repr():
    with pytest.raises(InvalidVideoReference) as caught:
        parse_video_ref("https://vimeo.com/123")
    assert "'https://vimeo.com/123'" in str(caught.value)


def test_long_input_is_truncated_in_message():
    text = "x" * 5000
    with pytest.raises(InvalidVideoReference) as caught:
        parse_video_ref(text)
    message = str(caught.value)
    assert "(5000 characters)" in message
    assert len(message) < 700


def test_non_string_is_rejected_cleanly():
    with pytest.raises(InvalidVideoReference, match="expected a string, got NoneType"):
        parse_video_ref(None)  # type: ignore[arg-type]


def test_parse_video_refs_dedups_preserving_order():
    refs = [f"https://youtu.be/{VID2}", VID, f"https://www.youtube.com/watch?v={VID2}&t=1", VID]
    assert parse_video_refs(refs) == [VID2, VID]
    assert parse_video_refs([]) == []


def test_parse_video_refs_reports_every_bad_input_at_once():
    refs = [VID, "https://vimeo.com/1", "", "tooshort", VID2]
    with pytest.raises(InvalidVideoReference) as caught:
        parse_video_refs(refs)
    error = caught.value
    assert [text for text, _ in error.invalid] == ["https://vimeo.com/1", "", "tooshort"]
    message = str(error)
    assert message.startswith("3 inputs are not YouTube video references:")
    for shown in ("'https://vimeo.com/1'", "'': it is empty", "'tooshort'"):
        assert shown in message
    assert message.count("Accepted:") == 1


def test_parse_video_refs_refuses_a_single_string():
    with pytest.raises(TypeError, match="parse_video_ref"):
        parse_video_refs(VID)  # type: ignore[arg-type]


# ---- playlist and channel URLs (`essays run` takes the videos in their feed) -------------
PLAYLIST_ID = "PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG"
CHANNEL_ID = "UCSHZKyawb77ixDdsGog4iWA"


@pytest.mark.parametrize("text, expected", [
    (f"https://www.youtube.com/playlist?list={PLAYLIST_ID}", ("playlist", PLAYLIST_ID)),
    (f"youtube.com/playlist?list={PLAYLIST_ID}&si=abc", ("playlist", PLAYLIST_ID)),
    (f"https://m.youtube.com/playlist?feature=share&list={PLAYLIST_ID}", ("playlist", PLAYLIST_ID)),
    (f"https://www.youtube.com/channel/{CHANNEL_ID}", ("channel", CHANNEL_ID)),
    (f"https://www.youtube.com/channel/{CHANNEL_ID}/videos", ("channel", CHANNEL_ID)),
    (f"  www.youtube.com/channel/{CHANNEL_ID}/  ", ("channel", CHANNEL_ID)),
])
def test_playlist_and_channel_urls_name_their_feed(text, expected):
    from essay_assets.intake.video_refs import parse_feed_ref

    assert parse_feed_ref(text) == expected


@pytest.mark.parametrize("text", [
    VID,                                                              # a video, not a feed
    f"https://www.youtube.com/watch?v={VID}&list={PLAYLIST_ID}",      # a video inside a playlist
    "https://www.youtube.com/@lexfridman",                            # a handle: no channel ID offline
    "https://www.youtube.com/playlist?list=notaplaylist",
    f"https://www.youtube.com/playlist?list={PLAYLIST_ID}&list=PLabcdefghijklmnop",
    f"https://www.youtube.com/channel/{CHANNEL_ID}/about/more",
    f"https://www.youtube.com.evil.com/playlist?list={PLAYLIST_ID}",
    f"https://youtube.com@evil.com/playlist?list={PLAYLIST_ID}",
    f"ftp://www.youtube.com/playlist?list={PLAYLIST_ID}",
    "",
])
def test_other_inputs_name_no_feed(text):
    from essay_assets.intake.video_refs import parse_feed_ref

    assert parse_feed_ref(text) is None


def test_a_channel_handle_is_refused_with_the_way_to_its_channel_id():
    with pytest.raises(InvalidVideoReference, match=r"youtube.com/channel/UC.*Copy channel ID"):
        parse_video_ref("https://www.youtube.com/@lexfridman")
