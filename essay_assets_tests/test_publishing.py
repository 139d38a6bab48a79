"""Where an essay's files live: one owner for the `<id>.md` / `revisions/<id>.r<N>.md` layout."""

from __future__ import annotations

from pathlib import Path

from essay_assets.writing.publishing import essay_files, essay_path


def test_essay_path_names_the_current_essay_and_each_revision():
    essays = Path("data/essays")
    assert essay_path(essays, "abcdefghijk") == essays / "abcdefghijk.md"
    assert essay_path(essays, "abcdefghijk", 3) == essays / "revisions" / "abcdefghijk.r3.md"


def test_essay_files_are_the_videos_own_and_no_other_videos(tmp_path):
    for name in ("abc.md", "abc.r1.md", "abc.r12.md", "abcd.md", "abcd.r1.md", "abc.rx.md", "abc.txt"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in essay_files(tmp_path, "abc")] == ["abc.md", "abc.r1.md", "abc.r12.md"]
    assert essay_files(tmp_path, "nothing") == []
