"""One settings object: env beats config.yaml beats defaults, per-run overrides beat env, the
proxy credentials stay out of reprs, nothing is read at import time, and the definitions
follow the settings they are built from. The override reaches the model through a real run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from essay_assets.defs.build import build_definitions
from essay_assets.defs.resources import EssaySettings
from essay_assets.instance import ensure_dagster_home
from essay_assets.settings import (
    DEFAULT_FEED_BASE,
    DEFAULT_OEMBED_URL,
    RUN_OVERRIDABLE,
    Settings,
    SettingsError,
)
from essay_assets.writing.prompts import BUNDLED_PROMPTS_DIR
from essay_assets_tests.support.chain import write_transcript

ROOT = Path(__file__).resolve().parents[1]

# The settings added to `Settings` by this change: env name, config.yaml name, an env value, a
# config value, the default, and the value `Settings` holds for a given raw value.
NEW_SETTINGS = [
    ("ESSAYS_STEP_RETRY_DELAY_S", "step_retry_delay_s", "0.5", 3, 10.0, float),
    ("ESSAYS_PROMPTS_DIR", "prompts_dir", "/env/prompts", "/file/prompts", None, Path),
    ("ESSAYS_OEMBED_URL", "oembed_url", "http://127.0.0.1:1/oembed", "http://127.0.0.1:2/oembed",
     DEFAULT_OEMBED_URL, str),
    ("ESSAYS_YOUTUBE_FEED_BASE", "youtube_feed_base", "http://127.0.0.1:1/feed.xml", "http://127.0.0.1:2/feed.xml",
     DEFAULT_FEED_BASE, str),
    ("ESSAYS_RUN_SIZE", "run_size", "25", 10, None, int),
]


def settings_in(data_dir: Path, config: str = "", **environ: str) -> Settings:
    (data_dir / "config.yaml").write_text(config)
    return Settings.from_env({"ESSAYS_DATA_DIR": str(data_dir), **environ})


@pytest.mark.parametrize("env_name, file_name, env_value, file_value, default, parse", NEW_SETTINGS)
def test_env_beats_config_file_beats_default(tmp_path, env_name, file_name, env_value, file_value, default, parse):
    assert getattr(settings_in(tmp_path), file_name) == default
    from_file = settings_in(tmp_path, f"{file_name}: {file_value}\n")
    assert getattr(from_file, file_name) == parse(file_value)
    from_env = settings_in(tmp_path, f"{file_name}: {file_value}\n", **{env_name: env_value})
    assert getattr(from_env, file_name) == parse(env_value)


def test_per_run_overrides_beat_env_and_are_validated_like_env_values(tmp_path):
    environ = {"ESSAYS_DATA_DIR": str(tmp_path), "ESSAYS_MODEL": "openai/gpt-4o", "ESSAYS_TEMPERATURE": "0.9",
               "ESSAYS_LANGUAGES": "de"}
    overridden = Settings.from_env(environ, overrides={
        "model": "openai/gpt-4o-mini", "temperature": "0.1", "languages": ["en", "fr"], "llm_concurrency": "3",
        "allow_translation": "yes", "essay_cost_ceiling_cents": 12, "max_output_tokens": None})
    assert overridden.model == "openai/gpt-4o-mini"
    assert overridden.temperature == 0.1  # parsed as an env value would be
    assert overridden.languages == ("en", "fr")
    assert overridden.llm_concurrency == 3  # parsed as an env value would be
    assert overridden.allow_translation is True and overridden.essay_cost_ceiling_cents == 12.0
    assert overridden.max_output_tokens is None  # None: not overridden

    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text("model: openai/from-the-other-config\n")
    moved = Settings.from_env({"ESSAYS_DATA_DIR": str(tmp_path)}, overrides={"data_dir": str(other)})
    assert moved.data_dir == other.resolve() and moved.model == "openai/from-the-other-config"

    with pytest.raises(SettingsError, match="must be `whole` or `sectioned`"):
        Settings.from_env(environ, overrides={"essay_style": "haiku"})
    with pytest.raises(SettingsError, match="ESSAYS_LLM_CONCURRENCY .* at least 1"):  # checked as an env value
        Settings.from_env(environ, overrides={"llm_concurrency": 0})
    with pytest.raises(SettingsError, match="cannot be overridden per run: schedule_cron"):
        Settings.from_env(environ, overrides={"schedule_cron": "* * * * *"})


def test_the_resource_offers_exactly_the_run_overridable_settings_and_no_secret():
    fields = set(EssaySettings.model_fields)
    assert fields == RUN_OVERRIDABLE
    assert not any(word in name for name in fields for word in ("password", "username", "api_key", "proxy", "secret"))


@pytest.mark.parametrize("value, expected", [("1", 1), ("25", 25), (" 10 ", 10), ("all", None), ("ALL", None),
                                             ("", None)])
def test_run_size_is_videos_per_run_or_all(tmp_path, value, expected):
    assert settings_in(tmp_path, ESSAYS_RUN_SIZE=value).run_size == expected


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many", "true"])
def test_a_run_size_out_of_range_is_refused_naming_the_setting(tmp_path, value):
    with pytest.raises(SettingsError) as refused:
        settings_in(tmp_path, ESSAYS_RUN_SIZE=value)
    message = str(refused.value)
    assert message.startswith("ESSAYS_RUN_SIZE (run_size in config.yaml)") and repr(value) in message
    assert "at least 1" in message and "`all`" in message
    with pytest.raises(SettingsError, match=r"ESSAYS_RUN_SIZE \(run_size in config.yaml\)"):
        settings_in(tmp_path, f"run_size: {value!r}\n")


def test_proxy_credentials_never_appear_in_a_repr(tmp_path):
    password, url_password = "Sup3rS3cretWebsharePw", "An0therS3cret"
    settings = settings_in(tmp_path, ESSAYS_WEBSHARE_USERNAME="essayuser", ESSAYS_WEBSHARE_PASSWORD=password,
                           ESSAYS_PROXY_HTTP_URL=f"http://alice:{url_password}@proxy.example:3128")
    assert settings.proxy is not None and settings.proxy.uses_webshare
    assert settings.proxy.webshare_password == password
    for text in (repr(settings), str(settings), repr(settings.proxy)):
        assert password not in text and url_password not in text and "essayuser" not in text
    assert "credentials hidden" in repr(settings)
    assert settings_in(tmp_path).proxy is None


def test_proxy_credentials_are_not_read_from_the_config_file(tmp_path):
    settings = settings_in(tmp_path, "webshare_username: u\nwebshare_password: p4ssw0rd\nproxy_https_url: http://x:1\n")
    assert settings.proxy is None


def test_the_postgres_url_is_read_from_the_environment_only_and_never_shown(tmp_path):
    url = "postgresql+psycopg2://essays:Pg-S3cret-Pw@db.example:5432/essays"
    settings = settings_in(tmp_path, ESSAYS_POSTGRES_URL=url)
    assert settings.postgres_url == url
    assert "Pg-S3cret-Pw" not in repr(settings) and "Pg-S3cret-Pw" not in str(settings)
    assert settings_in(tmp_path).postgres_url is None  # the default: SQLite files in DAGSTER_HOME
    assert settings_in(tmp_path, f"postgres_url: {url}\n").postgres_url is None  # a password has no place in a file


@pytest.mark.parametrize(("value", "expected"), [
    ("postgresql://essays:Pg-S3cret-Pw@db.example/essays", "start it with `postgresql+psycopg2://`"),
    ("postgres://essays:Pg-S3cret-Pw@db.example/essays", "instead of `postgres://`"),
    ("mysql://essays:Pg-S3cret-Pw@db.example/essays", "a PostgreSQL URL with a host and a database"),
    ("postgresql+psycopg2://essays:Pg-S3cret-Pw@db.example", "a PostgreSQL URL with a host and a database"),
])
def test_a_bad_postgres_url_names_the_setting_and_never_repeats_the_password(tmp_path, value, expected):
    with pytest.raises(SettingsError, match="ESSAYS_POSTGRES_URL") as raised:
        settings_in(tmp_path, ESSAYS_POSTGRES_URL=value)
    assert expected in str(raised.value)
    assert "Pg-S3cret-Pw" not in str(raised.value)


def test_importing_the_definitions_reads_no_setting(tmp_path):
    """With every setting unusable, importing still works: settings are read when definitions
    are built, not when modules are imported."""
    unusable = {**os.environ, "ESSAYS_PROMPTS_DIR": str(tmp_path / "missing"), "ESSAYS_STEP_RETRY_DELAY_S": "soon",
                "ESSAYS_SCHEDULE_CRON": "not a cron", "ESSAYS_DATA_DIR": str(tmp_path / "data"),
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    script = ("import essay_assets.defs.assets, essay_assets.defs.build, essay_assets.defs.checks, "
              "essay_assets.defs.schedules, essay_assets.defs.sensors, essay_assets.defs.resources, "
              "essay_assets.writing.prompts, essay_assets.intake.sources, essay_assets.cli.runner\n"
              "print('imported')")
    done = subprocess.run([sys.executable, "-c", script], env=unusable, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("imported")

    # ... and building them is where a bad setting is met
    building = subprocess.run([sys.executable, "-c", "import essay_assets.definitions"], env=unusable,
                              capture_output=True, text=True, timeout=120)
    assert building.returncode != 0


def test_definitions_follow_the_settings_they_are_built_from(tmp_path):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for name in ("third_guest", "chunk_notes"):
        (prompts / f"{name}.r7.md").write_text((BUNDLED_PROMPTS_DIR / f"{name}.r1.md").read_text())
    defs = build_definitions(Settings(data_dir=tmp_path, prompts_dir=prompts, schedule_cron="15 4 * * 1",
                                      step_retry_delay_s=0.25, run_size=25))

    versions = {key.to_user_string(): defs.resolve_assets_def(key).code_versions_by_key[key]
                for key in defs.resolve_all_asset_keys()}
    assert versions == {"transcript": "1", "essay_prompt": "r7", "llm_response": "r7", "essay": "r7"}
    assert defs.resolve_schedule_def("missing_or_stale_essays").cron_schedule == "15 4 * * 1"
    assert defs.resolve_assets_def("llm_response").op.retry_policy.delay == 0.25
    # one policy for the whole chain, so each run carries all four assets of its 25 videos
    assert {defs.resolve_assets_def(key).backfill_policy for key in defs.resolve_all_asset_keys()} == {
        dg.BackfillPolicy.multi_run(25)}


def test_a_launchpad_override_reaches_the_model_request(llm_server, data_dir):
    """The same run config the launchpad writes: resource overrides for this run only."""
    write_transcript(data_dir, "abcdefghijk")
    settings = Settings.from_env()
    assert settings.model == "openai/gpt-4o" and settings.temperature == 0.7  # what the environment says
    ensure_dagster_home(settings)
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("videos", ["abcdefghijk"])
    job = build_definitions(settings).resolve_job_def("essays_job")
    run_config = {"resources": {"essay_settings": {"config": {"model": "openai/gpt-4o-mini", "temperature": 0.25}}}}

    result = job.execute_in_process(instance=instance, partition_key="abcdefghijk", run_config=run_config)

    assert result.success
    assert llm_server.chat_requests, "the model was never called"
    for request in llm_server.chat_requests:
        assert request.json["model"] == "gpt-4o-mini"
        assert request.json["temperature"] == 0.25
    essay = (data_dir / "essays" / "abcdefghijk.md").read_text()
    assert "gpt-4o-mini" in essay
