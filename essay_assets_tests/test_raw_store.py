"""The raw store: values written atomically, durable or not, and what a crash may leave of a
file written without fsync (empty, cut short, zero-filled) read as missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from essay_assets.storage.raw_store import RawStore

VALUE = {"content": "Tell me — «naïve» 東京", "calls": [{"n": 1}, {"n": 2.5}], "none": None}


@pytest.mark.parametrize("durable", [True, False])
def test_a_value_reads_back_as_written_and_leaves_no_temp_file(tmp_path: Path, durable: bool):
    store = RawStore(tmp_path)
    path = store.plan_path("abcdefghijk", 2)
    store.write(path, VALUE, durable=durable)
    assert store.read(path) == VALUE
    store.write(path, {"replaced": True}, durable=durable)
    assert store.read(path) == {"replaced": True}
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("left", [b"", b'{"content": "Tell me', b'{"a": 1}' + b"\0" * 4096, b"\xff\xfe{"],
                         ids=["empty", "cut short", "zero-filled tail", "not UTF-8"])
def test_what_a_crash_leaves_of_a_file_written_without_fsync_reads_as_missing(tmp_path: Path, left: bytes):
    store = RawStore(tmp_path)
    path = store.response_path("abcdefghijk", 2)
    path.parent.mkdir(parents=True)
    path.write_bytes(left)
    assert store.read(path) is None
    store.write(path, VALUE, durable=False)  # the stage makes it again
    assert store.read(path) == VALUE


def test_a_missing_file_reads_as_none(tmp_path: Path):
    assert RawStore(tmp_path).read(tmp_path / "responses" / "nothing.r1.json") is None
