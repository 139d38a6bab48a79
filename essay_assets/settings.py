"""User settings, read from the environment (and optionally `<data dir>/config.yaml`).

Everything the pipeline can be told lives here, so that the CLI, the Dagster
definitions and the tests read one object, built once per process or resource
(`Settings.from_env`); no other module reads the environment. Environment variables
win over the config file; the config file wins over defaults; per-run overrides (the
Dagster resource's launchpad fields) win over everything. Model API keys stay in the
environment, where litellm reads them; the proxy credentials are on `Settings.proxy`,
whose repr never shows them, and they are read from the environment only, never from
the config file.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

LOCAL_MODEL = "local/smollm2-135m"
"""The embedded default model: SmolLM2-135M served in-process by xllamacpp."""


def keep_litellm_offline() -> None:
    """litellm fetches a price map from the internet at import unless told not to; offline
    that stalls for seconds. Called before anything imports litellm (setdefault lets a user
    opt in to the live map)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


DEFAULT_OEMBED_URL = "https://www.youtube.com/oembed"
# The variable choosing PostgreSQL for the Dagster instance. Dagster reads it itself when it
# opens the instance (dagster.yaml says `postgres_url: {env: ESSAYS_POSTGRES_URL}`), so the URL
# and its password are never written to a file.
POSTGRES_URL_VARIABLE = "ESSAYS_POSTGRES_URL"
POSTGRES_URL_SCHEME = "postgresql+psycopg2"  # the driver dagster-postgres installs and is tested with
DEFAULT_FEED_BASE = "https://www.youtube.com/feeds/videos.xml"

# Settings one Dagster run may override (the resource's launchpad fields): the model and how
# it writes, transcript languages, the per-essay ceiling, and the data folder. Never a secret,
# and nothing a declaration was built from (cron, retry delay, prompts folder).
RUN_OVERRIDABLE = frozenset({
    "data_dir", "model", "api_base", "temperature", "max_output_tokens", "essay_style", "context_window",
    "llm_concurrency", "languages", "allow_translation", "essay_cost_ceiling_cents", "quote_policy",
})

# What happens to a quotation the transcript does not confirm (README "How quotes are verified"):
# `repair`: one re-write call per affected section, then verified again, leftovers unquoted;
# `unquote`: the marks go, the words stay as paraphrase, no call; `fail`: the essay fails.
QUOTE_POLICIES = ("repair", "unquote", "fail")

_SECRET_NAME = re.compile(r"(API_KEY|_TOKEN|PASSWORD|SECRET|_KEY)$", re.IGNORECASE)


def secret_values_in_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the variables whose names say they are secrets, longest first (so a secret
    that contains another is replaced whole). Read at every call, not once: a key exported
    after start-up (litellm reads keys from the environment at call time) is still scrubbed."""
    env = os.environ if environ is None else environ
    return sorted(
        (v for k, v in env.items() if _SECRET_NAME.search(k) and v and len(v) >= 6),
        key=len,
        reverse=True,
    )


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message says which and how to fix it."""


@dataclasses.dataclass(frozen=True)
class ModelPrice:
    """User-configured list price of a model, in USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None
    reasoning: float | None = None


@dataclasses.dataclass(frozen=True)
class ProxySettings:
    """How to reach YouTube through a proxy: Webshare credentials, or proxy URLs (which may
    carry `user:pass@`). Every field is a credential, so none is in the repr; never serialize
    a Settings whole (`dataclasses.asdict` would include them)."""

    webshare_username: str | None = dataclasses.field(default=None, repr=False)
    webshare_password: str | None = dataclasses.field(default=None, repr=False)
    http_url: str | None = dataclasses.field(default=None, repr=False)
    https_url: str | None = dataclasses.field(default=None, repr=False)

    @property
    def uses_webshare(self) -> bool:
        return bool(self.webshare_username and self.webshare_password)

    def __repr__(self) -> str:
        kind = "webshare" if self.uses_webshare else "urls" if (self.http_url or self.https_url) else "incomplete"
        return f"ProxySettings({kind}, credentials hidden)"


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path
    model: str = LOCAL_MODEL
    api_base: str | None = None
    temperature: float = 0.7
    # Essay length cap in tokens; default 1500, or 600 for the embedded model (it is slow
    # to generate on 2 cores and drifts in long outputs).
    max_output_tokens: int | None = None
    # Map-reduce sizes (tokens), when a transcript does not fit the context. The embedded model
    # gets short chunks and notes: on 2 cores its generation slows from ~50 to ~16 tokens/s as
    # the context grows from 500 to 2,000 tokens (docs/benchmarks.md).
    chunk_tokens: int | None = None
    notes_tokens: int | None = None
    # "whole" (one call writes the essay) or "sectioned" (one call per section, assembled by us:
    # the embedded 135M model cannot hold an outline). Default: sectioned for the embedded model.
    essay_style: str | None = None
    # repair | unquote | fail (QUOTE_POLICIES); None = unquote for the embedded model (a 135M model
    # cannot follow a repair instruction), repair for every other model.
    quote_policy: str | None = None
    # Context window override for models litellm does not know (tokens).
    context_window: int | None = None
    llm_concurrency: int = 8
    llm_timeout_s: float = 600.0
    # All attempts of one model call (timeouts and backoff included) end within this many seconds.
    llm_call_deadline_s: float = 1800.0
    # Model calls are refused when the raw store's disk has less free space than this (MB):
    # a paid answer must always have somewhere to go.
    min_free_disk_mb: float = 50.0
    # Transient model errors (429, 5xx, timeouts): attempts per call, first backoff in seconds.
    llm_max_attempts: int = 4
    llm_retry_base_s: float = 2.0
    # Transcript intake
    languages: tuple[str, ...] = ("en",)
    allow_translation: bool = False
    youtube_min_interval_s: float = 1.0
    # Money, in US cents (None = no ceiling)
    essay_cost_ceiling_cents: float | None = None
    daily_cost_ceiling_cents: float | None = None
    model_prices: dict[str, ModelPrice] = dataclasses.field(default_factory=dict)
    # Essay checks
    min_essay_words: int = 150
    max_essay_words: int = 6000
    schedule_cron: str = "0 6 * * *"
    # First delay before Dagster retries a step that hit transient errors (exponential, jitter).
    step_retry_delay_s: float = 10.0
    # Videos per run of a backfill; None = all of them in one run (the fastest: each run pays
    # seconds of process start-up). Smaller runs cost more start-ups, but a failed step retries
    # fewer videos and, on Kubernetes, no single pod has to hold the whole backfill.
    run_size: int | None = None
    # A folder of your own prompt files; None = the package's own prompts.
    prompts_dir: Path | None = None
    # Where video titles and followed feeds are read (a mirror; tests use loopback servers).
    oembed_url: str = DEFAULT_OEMBED_URL
    youtube_feed_base: str = DEFAULT_FEED_BASE
    # None = no proxy. Read from the environment only (credentials do not belong in config.yaml).
    proxy: ProxySettings | None = None
    # The Dagster instance's storage: None = SQLite files in DAGSTER_HOME; a postgresql:// URL =
    # runs, event log and schedules in that database. Read from the environment only (the URL
    # may carry a password), and Dagster reads it from there too: dagster.yaml names the variable.
    postgres_url: str | None = dataclasses.field(default=None, repr=False)

    # ---- derived paths -------------------------------------------------
    @property
    def transcripts_dir(self) -> Path:
        """User-supplied transcripts: `<video_id>.json` or `<video_id>.txt`."""
        return self.data_dir / "transcripts"

    @property
    def raw_dir(self) -> Path:
        """What the pipeline fetched or computed and must never fetch or pay for twice."""
        return self.data_dir / "raw"

    @property
    def essays_dir(self) -> Path:
        return self.data_dir / "essays"

    @property
    def warehouse_dir(self) -> Path:
        """Per-partition Parquet files: the pipeline's only write target for tables."""
        return self.data_dir / "warehouse"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "essays.duckdb"

    @property
    def follow_file(self) -> Path:
        return self.data_dir / "follow.yaml"

    @property
    def uses_local_model(self) -> bool:
        return self.model == LOCAL_MODEL

    @property
    def essay_max_tokens(self) -> int:
        if self.max_output_tokens is not None:
            return self.max_output_tokens
        return 600 if self.uses_local_model else 1500

    @property
    def chunk_max_tokens(self) -> int:
        return self.chunk_tokens or (1000 if self.uses_local_model else 6000)

    @property
    def resolved_essay_style(self) -> str:
        return self.essay_style or ("sectioned" if self.uses_local_model else "whole")

    @property
    def resolved_quote_policy(self) -> str:
        return self.quote_policy or ("unquote" if self.uses_local_model else "repair")

    @property
    def notes_max_tokens(self) -> int:
        return self.notes_tokens or (100 if self.uses_local_model else 400)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 overrides: Mapping[str, Any] | None = None) -> "Settings":
        """Read every setting once: `overrides` (per run; None values mean "not overridden")
        beat the environment, which beats `<data dir>/config.yaml`, which beats defaults.
        Overrides are parsed and validated like environment values."""
        env = os.environ if environ is None else environ
        given = {name: value for name, value in (overrides or {}).items() if value is not None}
        unknown = sorted(set(given) - RUN_OVERRIDABLE)
        if unknown:
            raise SettingsError(f"These settings cannot be overridden per run: {', '.join(unknown)}. "
                                f"Those that can: {', '.join(sorted(RUN_OVERRIDABLE))}.")
        data_dir = Path(given.get("data_dir") or env.get("ESSAYS_DATA_DIR") or "data").expanduser().resolve()
        file_values = _read_config_file(data_dir / "config.yaml")

        def pick(name: str, env_name: str, default: Any) -> Any:
            if name in given:
                return given[name]
            if env.get(env_name) not in (None, ""):
                return env[env_name]
            return file_values.get(name, default)

        try:
            settings = cls(
                data_dir=data_dir,
                model=str(pick("model", "ESSAYS_MODEL", LOCAL_MODEL)),
                api_base=_opt_url("ESSAYS_API_BASE", pick("api_base", "ESSAYS_API_BASE", None)),
                temperature=_number("temperature", pick("temperature", "ESSAYS_TEMPERATURE", 0.7), float, 0, 2),
                max_output_tokens=_opt_positive_int("max_output_tokens",
                                                    pick("max_output_tokens", "ESSAYS_MAX_OUTPUT_TOKENS", None)),
                chunk_tokens=_opt_positive_int("chunk_tokens", pick("chunk_tokens", "ESSAYS_CHUNK_TOKENS", None)),
                notes_tokens=_opt_positive_int("notes_tokens", pick("notes_tokens", "ESSAYS_NOTES_TOKENS", None)),
                essay_style=_opt_style(pick("essay_style", "ESSAYS_ESSAY_STYLE", None)),
                quote_policy=_opt_quote_policy(pick("quote_policy", "ESSAYS_QUOTE_POLICY", None)),
                context_window=_opt_positive_int("context_window",
                                                 pick("context_window", "ESSAYS_CONTEXT_WINDOW", None)),
                llm_concurrency=_number("llm_concurrency", pick("llm_concurrency", "ESSAYS_LLM_CONCURRENCY", 8), int, 1),
                llm_timeout_s=_number("llm_timeout_s", pick("llm_timeout_s", "ESSAYS_LLM_TIMEOUT_S", 600), float,
                                      0, exclusive_low=True),
                llm_call_deadline_s=_number("llm_call_deadline_s", pick(
                    "llm_call_deadline_s", "ESSAYS_LLM_CALL_DEADLINE_S", 1800), float, 0, exclusive_low=True),
                min_free_disk_mb=_number("min_free_disk_mb", pick("min_free_disk_mb", "ESSAYS_MIN_FREE_DISK_MB", 50),
                                         float, 0),
                llm_max_attempts=_number("llm_max_attempts", pick("llm_max_attempts", "ESSAYS_LLM_MAX_ATTEMPTS", 4),
                                         int, 1),
                llm_retry_base_s=_number("llm_retry_base_s", pick("llm_retry_base_s", "ESSAYS_LLM_RETRY_BASE_S", 2.0),
                                         float, 0),
                languages=_as_tuple(pick("languages", "ESSAYS_LANGUAGES", ("en",))),
                allow_translation=_as_bool(pick("allow_translation", "ESSAYS_ALLOW_TRANSLATION", False)),
                youtube_min_interval_s=_number("youtube_min_interval_s", pick(
                    "youtube_min_interval_s", "ESSAYS_YOUTUBE_MIN_INTERVAL_S", 1.0), float, 0),
                essay_cost_ceiling_cents=_opt_ceiling("essay_cost_ceiling_cents", pick(
                    "essay_cost_ceiling_cents", "ESSAYS_ESSAY_COST_CEILING_CENTS", None)),
                daily_cost_ceiling_cents=_opt_ceiling("daily_cost_ceiling_cents", pick(
                    "daily_cost_ceiling_cents", "ESSAYS_DAILY_COST_CEILING_CENTS", None)),
                model_prices=_parse_prices(file_values.get("model_prices") or {}),
                min_essay_words=_number("min_essay_words", pick("min_essay_words", "ESSAYS_MIN_ESSAY_WORDS", 150),
                                        int, 0),
                max_essay_words=_number("max_essay_words", pick("max_essay_words", "ESSAYS_MAX_ESSAY_WORDS", 6000),
                                        int, 1),
                schedule_cron=_cron(pick("schedule_cron", "ESSAYS_SCHEDULE_CRON", "0 6 * * *")),
                step_retry_delay_s=_number("step_retry_delay_s", pick(
                    "step_retry_delay_s", "ESSAYS_STEP_RETRY_DELAY_S", 10.0), float, 0),
                run_size=_opt_run_size(pick("run_size", "ESSAYS_RUN_SIZE", None)),
                prompts_dir=_opt_path(pick("prompts_dir", "ESSAYS_PROMPTS_DIR", None)),
                oembed_url=str(pick("oembed_url", "ESSAYS_OEMBED_URL", DEFAULT_OEMBED_URL)),
                youtube_feed_base=str(pick("youtube_feed_base", "ESSAYS_YOUTUBE_FEED_BASE", DEFAULT_FEED_BASE)).rstrip("?"),
                proxy=_proxy_from_env(env),
                postgres_url=_opt_postgres_url(env.get(POSTGRES_URL_VARIABLE)),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SettingsError):
                raise
            raise SettingsError(
                f"A setting could not be read ({exc}). Check the ESSAYS_* environment "
                f"variables and {data_dir / 'config.yaml'}."
            ) from exc
        if settings.min_essay_words > settings.max_essay_words:
            raise SettingsError(
                f"{_name('min_essay_words')} ({settings.min_essay_words}) is above {_name('max_essay_words')} "
                f"({settings.max_essay_words}); set the minimum at or below the maximum.")
        return settings


# Every key data/config.yaml may hold: the settings above in lower case, without `ESSAYS_`.
CONFIG_FILE_KEYS = frozenset({
    "model", "api_base", "temperature", "max_output_tokens", "chunk_tokens", "notes_tokens", "essay_style",
    "context_window", "llm_concurrency", "llm_timeout_s", "llm_max_attempts", "llm_retry_base_s", "languages",
    "allow_translation", "youtube_min_interval_s", "essay_cost_ceiling_cents", "daily_cost_ceiling_cents",
    "model_prices", "min_essay_words", "max_essay_words", "schedule_cron", "step_retry_delay_s", "prompts_dir",
    "oembed_url", "youtube_feed_base", "run_size",
})

_log = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()  # (config file, key): warned once per process, not per run


def unknown_config_keys(path: Path, values: Mapping[str, Any]) -> list[str]:
    """A warning per key of config.yaml that is no setting (a misspelling would otherwise be
    silently ignored), naming the closest known key. Logged once per process, not per run."""
    messages = []
    for key in sorted(str(k) for k in values if str(k) not in CONFIG_FILE_KEYS):
        close = difflib.get_close_matches(key.lower(), sorted(CONFIG_FILE_KEYS), n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else "the known keys are in README.md's Settings table."
        message = f"essays: warning: {path} has an unknown setting `{key}`, which is ignored; {hint}"
        messages.append(message)
        if (str(path), key) not in _warned:
            _warned.add((str(path), key))
            _log.warning(message)
    return messages


def _name(field: str) -> str:
    return f"ESSAYS_{field.upper()} ({field} in config.yaml)"


def _number(field: str, value: Any, kind: type, low: float, high: float | None = None, *,
            exclusive_low: bool = False) -> Any:
    """`value` as an int or float in range, or a SettingsError naming the setting and the range."""
    wanted = ("a whole number" if kind is int else "a number") + (
        f" above {low:g}" if exclusive_low else f" from {low:g} to {high:g}" if high is not None else f" of at least {low:g}")
    try:
        if isinstance(value, bool):
            raise ValueError
        if kind is int:
            number: Any = int(value) if not isinstance(value, float) or value.is_integer() else None
            if number is None:
                raise ValueError
        else:
            number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SettingsError(f"{_name(field)} must be {wanted}, got {value!r}.") from None
    if not math.isfinite(number) or number < low or (exclusive_low and number == low) or (
            high is not None and number > high):
        raise SettingsError(f"{_name(field)} must be {wanted}, got {value!r}.")
    return number


def _opt_positive_int(field: str, value: Any) -> int | None:
    return None if value in (None, "") else _number(field, value, int, 1)


RUN_SIZE_ALL = "all"  # ESSAYS_RUN_SIZE's default spelled out: every video of a backfill in one run


def _opt_run_size(value: Any) -> int | None:
    """Videos per backfill run: a whole number from 1, or `all` (also empty) for one run."""
    if value in (None, "") or str(value).strip().lower() == RUN_SIZE_ALL:
        return None
    try:
        return _number("run_size", value, int, 1)
    except SettingsError:
        raise SettingsError(f"{_name('run_size')} must be a whole number of at least 1 (videos per run) "
                            f"or `{RUN_SIZE_ALL}` (one run for the whole backfill), got {value!r}.") from None


def _opt_ceiling(field: str, value: Any) -> float | None:
    return None if value in (None, "") else _number(field, value, float, 0)


# One cron field: `*` or a value or range (names for months and weekdays, `L`/`W`/`#` as croniter
# reads them), each with an optional `/step`, comma-separated. Dagster checks the rest at load.
_CRON_ITEM = re.compile(r"^(\*|\?|[0-9a-z]+(-[0-9a-z]+)?|[0-9]+[lw]|[0-9a-z]+#[1-5]|l|lw)(/[0-9]+)?$")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_NAMES = (set(), set(), set(), set(_MONTHS), set(_WEEKDAYS))
_CRON_ALIASES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def _cron(value: Any) -> str:
    text = " ".join(str(value).split())
    problem = _cron_problem(text.lower())
    if problem:
        raise SettingsError(
            f"{_name('schedule_cron')} is not a cron expression ({problem}): {value!r}. Use five fields, "
            "minute hour day-of-month month day-of-week, e.g. `0 6 * * *` for 06:00 every day.")
    return text


def _cron_problem(text: str) -> str | None:
    if text in _CRON_ALIASES:
        return None
    fields = text.split(" ")
    if len(fields) != 5:
        return f"{len(fields)} field{'s' if len(fields) != 1 else ''}, not 5"
    labels = ("minute", "hour", "day of month", "month", "day of week")
    for field, label, (low, high), names in zip(fields, labels, _CRON_RANGES, _CRON_NAMES):
        for item in field.split(","):
            if not _CRON_ITEM.match(item):
                return f"the {label} field `{field}`"
            base = item.partition("/")[0].partition("#")[0]
            if re.fullmatch(r"[0-9]+[lw]", base):  # `5L`: the last Friday; `15W`: the weekday nearest the 15th
                base = base[:-1]
            bounds = [] if base in ("*", "?", "l", "lw") else base.split("-")
            if any(b not in names and not (b.isdigit() and low <= int(b) <= high) for b in bounds):
                return f"the {label} field `{field}`: values run from {low} to {high}"
    return None


def _proxy_from_env(env: Mapping[str, str]) -> ProxySettings | None:
    values = {field: (env.get(name) or "").strip() or None for field, name in (
        ("webshare_username", "ESSAYS_WEBSHARE_USERNAME"), ("webshare_password", "ESSAYS_WEBSHARE_PASSWORD"),
        ("http_url", "ESSAYS_PROXY_HTTP_URL"), ("https_url", "ESSAYS_PROXY_HTTPS_URL"))}
    return ProxySettings(**values) if any(values.values()) else None


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                            "it should be a YAML file of `setting: value` lines. Fix it or delete it.") from None
    except OSError as exc:
        raise SettingsError(f"{path} cannot be read ({exc.strerror or exc}); it should be a YAML file of "
                            "`setting: value` lines. Fix it or delete it.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SettingsError(f"{path} is not valid YAML ({problem}{where}). Fix it or delete it.") from None
    if not isinstance(loaded, dict):
        raise SettingsError(f"{path} must hold a mapping of setting: value, got {type(loaded).__name__}.")
    unknown_config_keys(path, loaded)
    return loaded


def _parse_prices(raw: dict[str, Any]) -> dict[str, ModelPrice]:
    prices = {}
    for model, spec in raw.items():
        if not isinstance(spec, dict) or "input" not in spec or "output" not in spec:
            raise SettingsError(
                f"model_prices.{model} needs at least `input` and `output` (USD per million tokens)."
            )
        prices[str(model)] = ModelPrice(
            input=_price(model, spec, "input"), output=_price(model, spec, "output"),
            cached_input=_price(model, spec, "cached_input"), reasoning=_price(model, spec, "reasoning"))
    return prices


def _price(model: Any, spec: Mapping[str, Any], part: str) -> float | None:
    """One price of `model_prices.<model>`: USD per million tokens, at least 0 (optional parts may be absent)."""
    value = spec.get(part)
    if value in (None, "") and part in ("cached_input", "reasoning"):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise SettingsError(f"model_prices.{model}.{part} in config.yaml must be a number of at least 0 "
                            f"(USD per million tokens), got {value!r}.")
    return number


def _as_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    items = tuple(str(v) for v in value if str(v))
    if not items:
        raise SettingsError("ESSAYS_LANGUAGES needs at least one language code, e.g. `en` or `en,de`.")
    return items


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _opt_style(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if value not in ("whole", "sectioned"):
        raise SettingsError(f"ESSAYS_ESSAY_STYLE must be `whole` or `sectioned`, got {value!r}.")
    return value


def _opt_quote_policy(value: Any) -> str | None:
    if value in (None, ""):
        return None
    value = str(value).strip().lower()
    if value not in QUOTE_POLICIES:
        raise SettingsError(f"ESSAYS_QUOTE_POLICY must be one of {', '.join(QUOTE_POLICIES)}, got {value!r}.")
    return value


def _opt_path(value: Any) -> Path | None:
    return None if value in (None, "") else Path(str(value)).expanduser()



def _opt_postgres_url(value: str | None) -> str | None:
    """A postgresql+psycopg2:// URL naming a host and a database, or None. The message never
    repeats the value: it may carry a password."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    parsed = urllib.parse.urlsplit(text)
    example = f"{POSTGRES_URL_SCHEME}://essays:PASSWORD@127.0.0.1:5432/essays"
    if parsed.scheme in ("postgresql", "postgres"):
        # SQLAlchemy 2.1 reads a bare postgresql:// as the psycopg 3 driver, which dagster-postgres
        # neither installs nor fully supports (its retry of clashing table creation reads psycopg2's
        # error codes): name the driver.
        raise SettingsError(f"{POSTGRES_URL_VARIABLE} must name the psycopg2 driver: start it with "
                            f"`{POSTGRES_URL_SCHEME}://` instead of `{parsed.scheme}://`, e.g. {example}.")
    if parsed.scheme != POSTGRES_URL_SCHEME or not parsed.hostname or not parsed.path.strip("/"):
        raise SettingsError(f"{POSTGRES_URL_VARIABLE} must be a PostgreSQL URL with a host and a database, e.g. "
                            f"{example} (unset it to keep the instance in SQLite files in DAGSTER_HOME).")
    return text


def _opt_url(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or any(c.isspace() for c in text):
        raise SettingsError(f"{name} must be the endpoint's http(s) URL, e.g. http://127.0.0.1:11434/v1; "
                            f"got {text!r}.")
    return text


def blank_variables(names: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Those of `names` that are set in the environment but empty (an empty API key)."""
    env = os.environ if environ is None else environ
    return [name for name in dict.fromkeys(names) if name in env and not env[name].strip()]
