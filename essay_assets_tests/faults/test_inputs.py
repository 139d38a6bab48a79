"""Fault suite, bad input: unreadable transcripts, bad settings, stray files and paths, and SQL
that reaches outside the warehouse each give one clear line and cost nothing; no tracebacks."""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from essay_assets.settings import Settings, SettingsError, unknown_config_keys
from essay_assets.storage.sql import confine
from essay_assets.storage.warehouse import warehouse_for
from essay_assets_tests.support.chain import run_chain, write_transcript

VIDEO = "abcdefghijk"


# ---- 9. an unreadable transcript is a permanent failure, recorded at once -----------------------

def test_deeply_nested_json_transcript_fails_once_without_retries(llm_server, data_dir):
    depth = 100_000
    (data_dir / "transcripts" / f"{VIDEO}.json").write_text("[" * depth + "]" * depth)
    started = time.monotonic()
    summary = run_chain([VIDEO])
    elapsed = time.monotonic() - started
    assert "nested too deeply" in summary.failures[VIDEO]
    assert f"{VIDEO}.json" in summary.failures[VIDEO]
    assert llm_server.call_count == 0
    rows = warehouse_for(Settings.from_env()).query("SELECT stage, reason FROM failures")
    assert rows == [{"stage": "transcript", "reason": "bad_transcript_file"}]
    assert elapsed < 60  # was retried as transient for 127 s


@pytest.mark.slow
def test_transcript_that_is_a_folder_or_has_a_huge_number_fails_permanently(llm_server, data_dir):
    other = "bcdefghijkl"
    (data_dir / "transcripts" / f"{VIDEO}.json").mkdir()
    (data_dir / "transcripts" / f"{other}.json").write_text('[{"text": "hi", "start": 1' + "0" * 5000 + "}]")
    summary = run_chain([VIDEO, other])
    assert "cannot be read" in summary.failures[VIDEO]
    assert "cannot be read as JSON" in summary.failures[other]
    assert llm_server.call_count == 0
    rows = warehouse_for(Settings.from_env()).query("SELECT DISTINCT reason FROM failures")
    assert rows == [{"reason": "bad_transcript_file"}]


# ---- 10. one clear line, never a traceback ----------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def essays_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    environ = {**os.environ, **(env or {}),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "essay_assets.cli", *args], env=environ, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_clear_line(done: subprocess.CompletedProcess, *names: str) -> str:
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and 'File "' not in done.stderr, done.stderr[-3000:]
    ours = [line for line in done.stderr.splitlines() if line.startswith("essays")]
    assert len(ours) == 1, done.stderr[-3000:]
    for name in names:
        assert name in ours[0], ours[0]
    return ours[0]


def test_a_bad_cron_names_the_setting(data_dir):
    line = assert_one_clear_line(essays_cli("run", VIDEO, env={"ESSAYS_SCHEDULE_CRON": "not a cron"}),
                                 "ESSAYS_SCHEDULE_CRON", "not a cron")
    assert "0 6 * * *" in line  # an example of what works
    # what only Dagster knows (there is no 30 February) is reported the same way
    assert_one_clear_line(essays_cli("run", VIDEO, env={"ESSAYS_SCHEDULE_CRON": "0 6 30 2 *"}),
                          "ESSAYS_SCHEDULE_CRON", "0 6 30 2 *")


@pytest.mark.slow
def test_an_empty_prompts_folder_names_the_setting_and_the_folder(data_dir, tmp_path):
    empty = tmp_path / "my_prompts"
    empty.mkdir()
    line = assert_one_clear_line(essays_cli("run", VIDEO, env={"ESSAYS_PROMPTS_DIR": str(empty)}),
                                 "ESSAYS_PROMPTS_DIR", str(empty))
    assert "third_guest.r<N>.md" in line
    assert_one_clear_line(essays_cli("status", env={"ESSAYS_PROMPTS_DIR": str(tmp_path / "nowhere")}),
                          "ESSAYS_PROMPTS_DIR", "not a folder")


def test_export_to_a_file_or_under_proc_names_the_path(data_dir, tmp_path):
    a_file = tmp_path / "exports.txt"
    a_file.write_text("not a folder")
    assert_one_clear_line(essays_cli("export", str(a_file)), str(a_file), "is a file")
    assert_one_clear_line(essays_cli("export", "/proc/essays-export"), "/proc/essays-export")
    assert_one_clear_line(essays_cli("export", "/proc/self"), "/proc/self")
    assert a_file.read_text() == "not a folder"


def test_a_binary_config_file_is_named(data_dir):
    (data_dir / "config.yaml").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(128, 256)))
    assert_one_clear_line(essays_cli("status"), str(data_dir / "config.yaml"), "not UTF-8")
    (data_dir / "config.yaml").write_text("model: [unclosed\n")
    line = assert_one_clear_line(essays_cli("status"), str(data_dir / "config.yaml"), "not valid YAML")
    assert "line " in line


@pytest.mark.slow
def test_a_failed_video_is_one_line_and_the_stack_only_with_verbose(llm_server, data_dir):
    good = "goodvideo01"
    write_transcript(data_dir, good)
    (data_dir / "transcripts" / f"{VIDEO}.json").write_text('{"oops": 1}')
    done = essays_cli("run", good, VIDEO)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr
    assert [line for line in done.stdout.splitlines() if good in line] == [f"{good}: {data_dir / 'essays' / good}.md"]
    about_it = [line for line in done.stderr.splitlines() if VIDEO in line]
    assert len(about_it) == 1 and "FAILED at transcript" in about_it[0] and "expected a JSON list" in about_it[0]
    pointer = [line for line in done.stderr.splitlines() if line.startswith("Full log: run ")]
    assert len(pointer) == 1 and "essays ui" in pointer[0] and "--verbose" in pointer[0]
    output = [line for line in (done.stdout + done.stderr).splitlines() if "Warning" not in line
              and not line.startswith("  ")]  # library warnings (quieted elsewhere) are not ours
    assert len(output) <= 4, output  # "Writing 2 essay(s)...", the essay, the failure, where the log is
    paid = llm_server.call_count
    assert paid > 0

    verbose = essays_cli("run", VIDEO, "--verbose")
    assert verbose.returncode == 1
    assert "STEP_FAILURE" in verbose.stderr and "Stack Trace" in verbose.stderr
    assert llm_server.call_count == paid  # nothing was sent again


# ---- 11. every value checked at start, with the setting's name ---------------------------------

def settings_from(tmp_path: Path, config: str = "", **environ: str) -> Settings:
    (tmp_path / "config.yaml").write_text(config)
    return Settings.from_env({"ESSAYS_DATA_DIR": str(tmp_path), **environ})


@pytest.mark.parametrize("variable, value", [
    ("ESSAYS_MAX_OUTPUT_TOKENS", "0"), ("ESSAYS_MAX_OUTPUT_TOKENS", "-5"), ("ESSAYS_MAX_OUTPUT_TOKENS", "1.5"),
    ("ESSAYS_CHUNK_TOKENS", "0"), ("ESSAYS_NOTES_TOKENS", "-1"), ("ESSAYS_CONTEXT_WINDOW", "0"),
    ("ESSAYS_LLM_CONCURRENCY", "0"), ("ESSAYS_LLM_MAX_ATTEMPTS", "0"), ("ESSAYS_LLM_MAX_ATTEMPTS", "many"),
    ("ESSAYS_LLM_RETRY_BASE_S", "-1"), ("ESSAYS_STEP_RETRY_DELAY_S", "-0.5"), ("ESSAYS_YOUTUBE_MIN_INTERVAL_S", "-1"),
    ("ESSAYS_STEP_RETRY_DELAY_S", "nan"), ("ESSAYS_LLM_TIMEOUT_S", "0"), ("ESSAYS_LLM_TIMEOUT_S", "inf"),
    ("ESSAYS_TEMPERATURE", "-0.1"), ("ESSAYS_TEMPERATURE", "2.5"), ("ESSAYS_TEMPERATURE", "hot"),
    ("ESSAYS_MIN_ESSAY_WORDS", "-1"), ("ESSAYS_MAX_ESSAY_WORDS", "0"),
    ("ESSAYS_ESSAY_COST_CEILING_CENTS", "-1"), ("ESSAYS_DAILY_COST_CEILING_CENTS", "-0.01"),
])
def test_a_number_out_of_range_is_refused_naming_the_setting(tmp_path, variable, value):
    with pytest.raises(SettingsError) as refused:
        settings_from(tmp_path, **{variable: value})
    message = str(refused.value)
    assert message.startswith(variable) and repr(value) in message
    assert "\n" not in message


def test_the_same_checks_apply_to_config_file_values(tmp_path):
    with pytest.raises(SettingsError, match=r"ESSAYS_MAX_OUTPUT_TOKENS \(max_output_tokens in config.yaml\)"):
        settings_from(tmp_path, "max_output_tokens: 0\n")
    with pytest.raises(SettingsError, match=r"model_prices.my/model.output .* at least 0"):
        settings_from(tmp_path, "model_prices:\n  my/model: {input: 1, output: -2}\n")


def test_edges_of_the_ranges_are_accepted(tmp_path):
    settings = settings_from(tmp_path, ESSAYS_MAX_OUTPUT_TOKENS="1", ESSAYS_TEMPERATURE="0",
                             ESSAYS_LLM_RETRY_BASE_S="0", ESSAYS_STEP_RETRY_DELAY_S="0",
                             ESSAYS_YOUTUBE_MIN_INTERVAL_S="0", ESSAYS_LLM_TIMEOUT_S="0.5",
                             ESSAYS_ESSAY_COST_CEILING_CENTS="0", ESSAYS_DAILY_COST_CEILING_CENTS="0",
                             ESSAYS_MIN_ESSAY_WORDS="300", ESSAYS_MAX_ESSAY_WORDS="300", ESSAYS_LLM_CONCURRENCY="1")
    assert (settings.max_output_tokens, settings.temperature, settings.llm_timeout_s) == (1, 0.0, 0.5)
    assert settings.essay_cost_ceiling_cents == 0.0 and settings.min_essay_words == settings.max_essay_words == 300
    assert settings_from(tmp_path, "temperature: 2\nllm_max_attempts: 1\n").temperature == 2.0


def test_min_essay_words_above_max_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="ESSAYS_MIN_ESSAY_WORDS .*2000.* above ESSAYS_MAX_ESSAY_WORDS .*1000"):
        settings_from(tmp_path, ESSAYS_MIN_ESSAY_WORDS="2000", ESSAYS_MAX_ESSAY_WORDS="1000")


@pytest.mark.parametrize("cron", ["0 6 * * *", "*/15 2-4 1,15 jan-jun mon-fri", "0 0 L * *", "@daily", "5 4 * * 0#2"])
def test_valid_crons_pass(tmp_path, cron):
    assert settings_from(tmp_path, ESSAYS_SCHEDULE_CRON=cron).schedule_cron == cron


@pytest.mark.parametrize("cron", ["not a cron", "0 6 * *", "0 6 * * * *", "60 6 * * *", "0 24 * * *",
                                  "0 6 0 * *", "0 6 * 13 *", "0 6 * * 8", "0 6 * * funday", ""])
def test_invalid_crons_are_refused_naming_the_setting(tmp_path, cron):
    environ = {"ESSAYS_SCHEDULE_CRON": cron} if cron else {}
    config = "schedule_cron: ''\n" if not cron else ""
    with pytest.raises(SettingsError, match="ESSAYS_SCHEDULE_CRON"):
        settings_from(tmp_path, config, **environ)


def test_misspelled_config_keys_are_named_with_the_closest_known_key(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="essay_assets.settings"):
        settings = settings_from(tmp_path, "max_output_token: 900\nmodle: openai/gpt-4o\ncompletely_unrelated: 1\n"
                                           "temperature: 0.2\n")
    assert settings.max_output_tokens is None and settings.temperature == 0.2
    warnings = "\n".join(record.getMessage() for record in caplog.records)
    assert "`max_output_token`" in warnings and "did you mean `max_output_tokens`?" in warnings
    assert "`modle`" in warnings and "did you mean `model`?" in warnings
    assert "`completely_unrelated`" in warnings and "README.md" in warnings
    assert "temperature" not in warnings
    messages = unknown_config_keys(tmp_path / "config.yaml", {"llm_concurency": 2, "model": "x"})
    assert len(messages) == 1 and "did you mean `llm_concurrency`?" in messages[0]


def test_zero_output_tokens_are_refused_before_any_request(llm_server, data_dir):
    write_transcript(data_dir, VIDEO)
    (data_dir / "config.yaml").write_text("max_output_tokns: 900\n")
    done = essays_cli("run", VIDEO, env={"ESSAYS_MAX_OUTPUT_TOKENS": "0"})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "ESSAYS_MAX_OUTPUT_TOKENS" in done.stderr and "at least 1" in done.stderr
    assert "did you mean `max_output_tokens`?" in done.stderr  # the misspelling is named too
    assert llm_server.call_count == 0
    assert not (data_dir / "essays").exists() or not list((data_dir / "essays").glob("*.md"))


# ---- 12. essays sql reads the warehouse and nothing else ---------------------------------------

class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"a,b\n1,2\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def counting_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    _CountingHandler.hits = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_sql_escapes_are_refused_and_warehouse_queries_work(data_dir, tmp_path, capsys, counting_server):
    from essay_assets.cli.main import main

    warehouse = warehouse_for(Settings.from_env())
    warehouse.write("failures", [{"failure_id": "f1", "video_id": VIDEO, "stage": "transcript",
                                  "reason": "bad_transcript_file", "message": "m", "run_id": "r",
                                  "failed_at": datetime.now(timezone.utc)}])
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret\n")
    (tmp_path / "secret.csv").write_text("a,b\n1,2\n")
    url = f"http://127.0.0.1:{counting_server.server_address[1]}/x.csv"
    escapes = [f"SELECT * FROM read_blob('{secret}')", f"SELECT * FROM read_text('{secret}')",
               "SELECT * FROM read_blob('/etc/shadow')", "SELECT * FROM glob('/root/*')",
               f"SELECT * FROM glob('{tmp_path}/*')", f"SELECT * FROM read_csv('{tmp_path / 'secret.csv'}')",
               f"SELECT * FROM read_csv('{url}')", "SELECT * FROM read_json('https://example.com/x.json')",
               f"SELECT * FROM read_blob('{warehouse.root}/../config.yaml')",
               "SELECT * FROM read_blob('/proc/self/environ')"]
    for query in escapes:
        code = main(["sql", query])
        captured = capsys.readouterr()
        assert code != 0, query
        assert "top secret" not in captured.out and "1,2" not in captured.out
        assert "reads the warehouse's tables and views only" in captured.err, (query, captured.err)
        assert "Traceback" not in captured.err
    assert _CountingHandler.hits == 0  # nothing reached the network

    assert main(["sql", "SELECT video_id, reason FROM failures", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["video_id,reason", f"{VIDEO},bad_transcript_file"]
    # the views read the warehouse's own Parquet files, by any spelling of its path
    assert main(["sql", f"SELECT count(*) AS n FROM read_parquet('{warehouse.root}/failures/*.parquet')"]) == 0
    assert "1" in capsys.readouterr().out


def test_the_sql_session_cannot_turn_access_back_on(data_dir):
    warehouse = warehouse_for(Settings.from_env())
    with contextlib.closing(warehouse.connect()) as con:
        confine(con, warehouse.root)
        settings = dict(con.sql("SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
                                "'autoload_known_extensions', 'autoinstall_known_extensions', "
                                "'lock_configuration')").fetchall())
        assert settings == {"enable_external_access": "false", "autoload_known_extensions": "false",
                            "autoinstall_known_extensions": "false", "lock_configuration": "true"}
        for statement in ("SET enable_external_access = true", "SET autoinstall_known_extensions = true",
                          "RESET lock_configuration"):
            with pytest.raises(duckdb.Error, match="locked"):
                con.execute(statement)
        with pytest.raises(duckdb.Error):
            con.execute("LOAD httpfs")
        assert con.execute("SELECT count(*) FROM essay_metadata").fetchall() == [(0,)]
