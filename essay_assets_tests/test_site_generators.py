"""Essays that site generators can publish: `title` and `date` in the front matter, one file
per video in data/essays/ (revisions in data/essays/revisions/), and a real Hugo build."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import frontmatter
import pytest

from essay_assets.essay_record import REFERENCE_FIELDS
from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.publishing import (
    essay_files,
    move_revisions_into_their_folder,
)
from essay_assets.writing.rendering import essay_title
from essay_assets_tests.support.chain import run_chain, write_transcript
from essay_assets_tests.support.essay_schema import schema_errors

REFERENCE = Path(__file__).parent / "fixtures" / "reference_000_59b128734f937062.txt"
VIDEOS = ["abcdefghijk", "keepvideo01"]


def produce_essays(data_dir: Path) -> Path:
    for seed, video_id in enumerate(VIDEOS):
        write_transcript(data_dir, video_id, words=450 + 50 * seed, seed=seed)
    summary = run_chain(VIDEOS)
    assert summary.ok, summary.failures
    return data_dir / "essays"


def assert_publishable(path: Path) -> frontmatter.Post:
    """What a site generator needs of one essay file, read the way python-frontmatter reads it."""
    post = frontmatter.load(path)
    assert schema_errors(post.metadata) == [], path
    assert list(post.metadata)[: len(REFERENCE_FIELDS)] == list(REFERENCE_FIELDS)  # the contract's order
    assert post["title"] == essay_title(post.content) != ""
    assert post["date"] == post["createdAt"]
    return post


def test_every_essay_parses_validates_and_the_folder_holds_one_file_per_video(llm_server, data_dir):
    essays = produce_essays(data_dir)

    assert sorted(p.name for p in essays.iterdir() if not p.name.startswith(".")) == sorted(
        ["revisions"] + [f"{v}.md" for v in VIDEOS])
    revisions = sorted(p.name for p in (essays / "revisions").iterdir())
    assert len(revisions) == len(VIDEOS) and all(name.startswith(tuple(VIDEOS)) for name in revisions)
    for path in sorted(essays.rglob("*.md")):
        post = assert_publishable(path)
        assert post["schemaVersion"] == "0.2.0"

    rows = warehouse_for(Settings.from_env()).query(
        'SELECT "youtubeVideoId" AS video_id, title, path FROM essay_metadata ORDER BY 1')
    for row in rows:
        post = frontmatter.load(row["path"])  # the row's path is the revision file
        assert Path(row["path"]).parent == essays / "revisions"
        assert row["title"] == post["title"]


def old_layout_essay(video_id: str, heading: str) -> str:
    """An essay as data dirs from before 0.2.0 hold them: no title, no date."""
    text = REFERENCE.read_text().replace("aR20FWCCjAs", video_id)
    front, _, _ = text.partition("\n---\n")
    return f"{front}\n---\n# {heading}\n\nSome prose.\n"


def test_revisions_left_next_to_the_current_essays_move_into_their_folder_at_publish(llm_server, data_dir):
    essays = data_dir / "essays"
    essays.mkdir()
    (essays / "oldvideo001.md").write_text(old_layout_essay("oldvideo001", "Second thoughts"))
    (essays / "oldvideo001.r1.md").write_text(old_layout_essay("oldvideo001", "First thoughts"))
    (essays / "oldvideo001.r2.md").write_text(old_layout_essay("oldvideo001", "Second thoughts"))
    before = {name: (essays / name).read_text() for name in ("oldvideo001.r1.md", "oldvideo001.r2.md")}

    produce_essays(data_dir)

    assert sorted(p.name for p in essays.glob("*.md")) == sorted(["oldvideo001.md"] + [f"{v}.md" for v in VIDEOS])
    for name, text in before.items():
        assert (essays / "revisions" / name).read_text() == text  # moved, not rewritten
    assert [p.relative_to(essays).as_posix() for p in essay_files(essays, "oldvideo001")] == [
        "oldvideo001.md", "revisions/oldvideo001.r1.md", "revisions/oldvideo001.r2.md"]

    # Idempotent; and a revision already in revisions/ with other content is never overwritten.
    assert move_revisions_into_their_folder(essays) == []
    (essays / "oldvideo001.r1.md").write_text(old_layout_essay("oldvideo001", "A different first try"))
    assert move_revisions_into_their_folder(essays) == []
    assert (essays / "revisions" / "oldvideo001.r1.md").read_text() == before["oldvideo001.r1.md"]
    assert "oldvideo001.r1.md" in [p.name for p in essay_files(essays, "oldvideo001") if p.parent == essays]
    # The same file in both places is a leftover of an interrupted move: one copy is enough.
    (essays / "oldvideo001.r1.md").write_text(before["oldvideo001.r1.md"])
    assert move_revisions_into_their_folder(essays) == [essays / "revisions" / "oldvideo001.r1.md"]
    assert not (essays / "oldvideo001.r1.md").exists()


# A minimal site, as docs/publishing.md describes it: the essays folder mounted as the content,
# revisions excluded; the layouts print what Hugo understood of each essay.
HUGO_CONFIG = """\
baseURL = "https://essays.example.org/"
title = "Essays"
disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]

[[module.mounts]]
source = "{essays}"
target = "content"
excludeFiles = "revisions/**"
"""
SINGLE_LAYOUT = '<p class="essay">{{ .Title }}|{{ .Date.Format "2006-01-02" }}</p>\n'
LIST_LAYOUT = '{{ range .Pages }}<a href="{{ .RelPermalink }}">{{ .Title }}</a>\n{{ end }}'


def hugo_binary() -> str:
    hugo = shutil.which("hugo")
    if hugo is None:
        if os.environ.get("CI"):
            pytest.fail("hugo is missing in CI: .ci/run installs it")
        pytest.skip("hugo is not installed (apt-get install -y hugo)")
    return hugo


@pytest.mark.slow  # the pipeline for two videos, then a Hugo process
def test_a_hugo_site_over_the_essays_folder_shows_each_title_and_date_and_no_revision(
        llm_server, data_dir, tmp_path):
    hugo = hugo_binary()
    essays = produce_essays(data_dir)
    site = tmp_path / "site"
    (site / "layouts" / "_default").mkdir(parents=True)
    (site / "hugo.toml").write_text(HUGO_CONFIG.format(essays=essays.as_posix()))
    (site / "layouts" / "_default" / "single.html").write_text(SINGLE_LAYOUT)
    (site / "layouts" / "_default" / "list.html").write_text(LIST_LAYOUT)

    built = subprocess.run([hugo, "--source", str(site), "--destination", str(site / "public")],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr

    public = site / "public"
    pages = sorted(p.parent.relative_to(public).as_posix() for p in public.rglob("index.html"))
    assert pages == ["."] + sorted(VIDEOS)  # the home page and one page per video: none for revisions
    home = (public / "index.html").read_text()
    for video_id in VIDEOS:
        post = frontmatter.load(essays / f"{video_id}.md")
        html = (public / video_id / "index.html").read_text()
        title = post["title"].replace("&", "&amp;").replace("'", "&#39;").replace('"', "&#34;")
        assert f'<p class="essay">{title}|{post["date"][:10]}</p>' in html, html
        assert f'href="/{video_id}/"' in home
