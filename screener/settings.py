"""Screener settings: one TOML file plus ``SCREENER_*`` environment variables.

Settings are built once at start-up by :func:`load_settings` and passed down;
nothing here reads the environment at import time.

Precedence (highest first): keyword overrides, environment variables
(``SCREENER_DATABASE__URL``, nested with ``__``), the TOML file, defaults.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from screener.domain.vocabulary import Action, ClaimCategory, ScreenDefault

DEFAULT_CONFIG_PATH = Path("screener.toml")
CONFIG_ENV_VAR = "SCREENER_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///screener.db"
    auto_upgrade: bool = True
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split('://', 1)[0]!r})"
            )
        return value


class NumberSettings(_Section):
    region: str = "GB"

    @field_validator("region")
    @classmethod
    def _region_known(cls, value: str) -> str:
        import phonenumbers

        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not an ISO 3166 region phonenumbers knows")
        return value


class OfficeSettings(_Section):
    site: str = "main"
    own_numbers: list[str] = Field(default_factory=list)
    international_trunks: list[str] = Field(default_factory=list)

    @field_validator("site")
    @classmethod
    def _site_is_topic_safe(cls, value: str) -> str:
        if not value or any(ch in value for ch in "/#+ ") or len(value) > 64:
            raise ValueError("must be 1-64 characters without '/', '#', '+' or spaces")
        return value


class PolicySettings(_Section):
    """Action per reason code plus the thresholds of the history rules."""

    actions: dict[str, Action] = Field(default_factory=dict)
    repeat_calls: int = Field(default=4, ge=1)
    repeat_window_minutes: int = Field(default=10, ge=1)
    failed_challenge_block_minutes: int = Field(default=60, ge=0)
    passed_challenge_allow_minutes: int = Field(default=24 * 60, ge=0)
    sync_seconds: float = Field(default=2.0, gt=0, le=300)
    """How often a running service checks for policy changes made elsewhere."""

    @field_validator("actions")
    @classmethod
    def _known_reasons(cls, value: dict[str, Action]) -> dict[str, Action]:
        from screener.domain.rules import CONFIGURABLE

        known = {code.value for code in CONFIGURABLE}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"unknown or list-controlled reason {', '.join(unknown)} (a list's action is "
                f"set on the list); configurable reasons: {', '.join(sorted(known))}"
            )
        return value


class ChallengeSettings(_Section):
    attempts: int = Field(default=3, ge=1, le=10)
    digit_timeout_seconds: float = Field(default=6.0, gt=0)
    intro_prompts: list[str] = Field(default_factory=lambda: ["sound:privacy-unident"])
    digit_prompt_before: list[str] = Field(default_factory=lambda: ["sound:priv-callpending"])
    digit_prompt_template: str = "sound:digits/{digit}"
    retry_prompts: list[str] = Field(default_factory=lambda: ["sound:beeperr"])
    goodbye_prompts: list[str] = Field(default_factory=lambda: ["sound:vm-goodbye"])
    record_name: bool = True
    record_prompts: list[str] = Field(default_factory=lambda: ["sound:priv-recordintro"])
    record_max_seconds: int = Field(default=5, ge=1, le=60)
    record_max_silence_seconds: int = Field(default=2, ge=0, le=30)
    record_beep: bool = True
    record_format: str = "wav"
    passed_prompts: list[str] = Field(default_factory=lambda: ["sound:auth-thankyou"])


class BlockSettings(_Section):
    mode: Literal["hangup", "announce"] = "hangup"
    hangup_reason: Literal["normal", "busy", "congestion", "no_answer", "rejected"] = "busy"
    announcement_prompts: list[str] = Field(default_factory=lambda: ["sound:vm-goodbye"])


class ScreenSettings(_Section):
    """Live screening, the action ``screen`` (docs/screening.md)."""

    challenge_first: bool = False
    """Run the press-a-digit check before screening: a robot never reaches the board."""
    prompts: list[str] = Field(default_factory=lambda: ["sound:priv-recordintro"])
    """Asks the caller to say their name and why they are calling after the tone."""
    record_max_seconds: int = Field(default=10, ge=1, le=60)
    record_max_silence_seconds: int = Field(default=3, ge=0, le=30)
    record_beep: bool = True
    hold_prompts: list[str] = Field(default_factory=lambda: ["sound:pls-hold-while-try"])
    moh_class: str = Field(default="default", min_length=1, max_length=80)
    decision_timeout_seconds: float = Field(default=45.0, gt=0, le=600)
    default: ScreenDefault = ScreenDefault.RECEPTION
    """What happens when nobody decides in time, or nobody is watching the board."""
    voicemail_context: str = "screened"
    voicemail_extension: str = "voicemail"
    voicemail_priority: int = Field(default=1, ge=1)
    decline_prompts: list[str] = Field(default_factory=lambda: ["sound:vm-goodbye"])
    decline_hangup_reason: Literal["normal", "busy", "congestion", "no_answer", "rejected"] = (
        "normal"
    )
    name_prefix: str = Field(default="[screened]", max_length=40)
    """Put before the caller's name on reception's handset when a screened call rings."""
    watch_grace_seconds: float = Field(default=5.0, ge=0, le=300)
    """A board closed this recently still counts as watched (a page being reloaded)."""
    api_watch_seconds: float = Field(default=15.0, ge=0, le=600)
    """An API client that listed the waiting calls this recently counts as watching."""


class AriSettings(_Section):
    url: str = ""
    username: str = "screener"
    password: SecretStr = SecretStr("")
    app: str = "screener"
    continue_context: str = "screened"
    continue_extension: str = "s"
    continue_priority: int = 1
    caller_name_prefix: bool = False
    extra_variables: list[str] = Field(default_factory=list)
    max_call_seconds: float = Field(default=120.0, gt=0)
    fail_open: bool = True
    max_calls_in_progress: int = Field(default=1000, ge=1)
    """More calls than this with Screener at once (a flood of challenges, say): new calls go
    straight back to the dialplan, undecided, and are recorded as such."""
    max_records_behind: int = Field(default=20_000, ge=100)
    """More call-record writes than this waiting (the database is slow or locked): new
    calls go straight back to the dialplan the same way, so memory stays bounded."""
    follow_calls: bool = True
    """Follow each call put through to the dialplan (an ARI subscription to its channel) and
    record who answered it, after how long, or why nobody did."""
    reconnect_initial_seconds: float = Field(default=0.5, gt=0)
    reconnect_max_seconds: float = Field(default=30.0, gt=0)
    request_timeout_seconds: float = Field(default=5.0, gt=0)
    recordings_dir: str = "recordings"


class WebSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    secret_key: SecretStr = SecretStr("")
    secure_cookies: bool = True
    session_hours: int = Field(default=12, ge=1)
    login_attempts: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=300, ge=1)
    trusted_proxies: list[str] = Field(default_factory=list)
    """Reverse proxies (IP addresses or CIDR networks) whose ``X-Forwarded-For`` is believed."""
    ops_token: SecretStr = SecretStr("")
    """When set, ``/healthz`` and ``/metrics`` need ``Authorization: Bearer <ops_token>``."""
    time_zone: str = ""
    """IANA zone for the times the console shows (empty: the machine's local zone)."""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)"
                ) from None
        return [item.strip() for item in value]

    @field_validator("time_zone")
    @classmethod
    def _zone_known(cls, value: str) -> str:
        value = value.strip()
        if value:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"{value[:64]!r} is not an IANA time zone (e.g. Europe/London)"
                ) from None
        return value


class RetentionSettings(_Section):
    """How long call records and the audit log are kept (0: for ever)."""

    calls_days: int = Field(default=90, ge=0)
    audit_days: int = Field(default=730, ge=0)
    interval_hours: float = Field(default=6.0, gt=0, le=24 * 7)


class MqttSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    tls: bool = False
    ca_file: str = ""
    topic_prefix: str = "screener"
    queue_size: int = Field(default=1000, ge=1)
    reconnect_max_seconds: float = Field(default=30.0, gt=0)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, value: str) -> str:
        value = value.strip("/")
        if not value or any(ch in value for ch in "#+\x00") or len(value) > 128:
            raise ValueError("must be 1-128 characters without '#' or '+'")
        return value


class AgiSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=4573, ge=1, le=65535)


class DemoSettings(_Section):
    """The built-in PBX simulator (``screener demo``) runs on a database of its own."""

    database_url: str = "sqlite+aiosqlite:///screener-demo.db"

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        return DatabaseSettings._known_driver(value)


ComputeType = Literal["int8", "int8_float32", "int16", "float32", "default"]


def _check_terms(phrases: list[str]) -> None:
    if phrases:
        from screener.speech.claims import check_term  # only when there are terms to check

        for phrase in phrases:
            check_term(phrase)


class SpeechSettings(_Section):
    """``[speech]``: transcribing the caller's recorded name and reason, and the claim lists.

    Speech to text runs only when ``enabled`` and faster-whisper and the model are there;
    otherwise the feature reports itself off and everything else works as before."""

    enabled: bool = True
    model: str = "tiny.en"
    """A model name faster-whisper fetches into its cache on first use (``tiny.en``,
    ``base.en``, ``Systran/faster-whisper-tiny.en``), or a directory holding a converted
    model (``model.bin``, ``config.json``, ``tokenizer.json``, ``vocabulary.*``)."""
    download_root: str = ""
    """Where a model given by name is cached ("" = the Hugging Face cache)."""
    compute_type: ComputeType = "int8"
    workers: int = Field(default=1, ge=1, le=16)
    """Worker processes; each holds one copy of the model."""
    cpu_threads: int = Field(default=2, ge=0, le=64)
    """Threads per worker for the model (0 = let CTranslate2 choose)."""
    worker_nice: int = Field(default=10, ge=0, le=19)
    """Workers run at this lower CPU priority so call handling always comes first."""
    queue_size: int = Field(default=8, ge=1, le=1000)
    """Recordings in flight (being read, waiting for a worker or transcribed); one more is
    skipped and counted."""
    clip_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """A clip still running after this is abandoned (counted ``timed_out``), its worker
    restarted."""
    start_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    """Starting the workers and loading the model must finish within this."""
    max_clip_seconds: float = Field(default=60.0, gt=0, le=600)
    """Audio after this point of a clip is not transcribed."""
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")
    beam_size: int = Field(default=5, ge=1, le=10)
    """5 finds more claims than 1 on telephone audio for about the same CPU time."""
    vad_filter: bool = True
    """Skip silence with the voice-activity detector that ships with faster-whisper."""
    extra_claim_terms: dict[ClaimCategory, list[str]] = Field(default_factory=dict)
    """More phrases per claim category, e.g. ``police = ["Kent Police Fraud Unit"]``."""
    extra_lookalikes: list[str] = Field(default_factory=list)
    """More phrases that contain a claim term but must not count as a claim."""

    @field_validator("model")
    @classmethod
    def _model_given(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must be a model name (tiny.en) or a model directory")
        return value

    @field_validator("extra_claim_terms")
    @classmethod
    def _terms_usable(cls, value: dict[ClaimCategory, list[str]]) -> dict[ClaimCategory, list[str]]:
        for phrases in value.values():
            _check_terms(phrases)
        return value

    @field_validator("extra_lookalikes")
    @classmethod
    def _lookalikes_usable(cls, value: list[str]) -> list[str]:
        _check_terms(value)
        return value


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = False


class Settings(BaseSettings):
    """All of Screener's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="SCREENER_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    numbers: NumberSettings = Field(default_factory=NumberSettings)
    office: OfficeSettings = Field(default_factory=OfficeSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    challenge: ChallengeSettings = Field(default_factory=ChallengeSettings)
    block: BlockSettings = Field(default_factory=BlockSettings)
    screen: ScreenSettings = Field(default_factory=ScreenSettings)
    ari: AriSettings = Field(default_factory=AriSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    agi: AgiSettings = Field(default_factory=AgiSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


class SettingsError(Exception):
    """The configuration is unusable; the message says which key and why."""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror}") from exc


def _format_validation_error(
    exc: ValidationError, origin: str, unknown_env: Mapping[tuple[str, ...], str] | None = None
) -> str:
    """Every error of ``exc``, then the unknown variables (whose own errors are not repeated)."""
    unknown_env = unknown_env or {}
    lines = [f"invalid settings ({origin}):"]
    for error in exc.errors():
        loc = tuple(str(part).lower() for part in error["loc"])
        if error["type"] == "extra_forbidden" and loc in unknown_env:
            continue
        key = ".".join(str(part) for part in error["loc"]) or "(root)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"  {key}: {message}")
    lines += unknown_env.values()
    return "\n".join(lines)


OTHER_SCREENER_VARIABLES = frozenset(
    {
        CONFIG_ENV_VAR,
        "SCREENER_SECRET_KEY",
        "SCREENER_SITE",
        "SCREENER_SECURE_COOKIES",
        "SCREENER_OPS_TOKEN",
    }
)
"""``SCREENER_*`` variables that are not settings: the settings file's path, and the ones
Docker Compose reads from ``.env`` (``.env.example``) to fill in the settings it passes on
(an admin who loads ``.env`` into a shell has them too)."""


def _env_names(model: type[BaseModel], name: str) -> Iterator[str]:
    """Every variable name that sets a field of ``model`` (``name`` is the model's own)."""
    for field_name, info in model.model_fields.items():
        full = f"{name}{field_name.upper()}"
        yield full
        inner = info.annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            yield from _env_names(inner, full + "__")


def _unknown_env_variables(environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """``SCREENER_*`` variables that set nothing, by the setting they would be (lower case),
    each with a line naming it and the closest variable that exists.

    pydantic-settings ignores a variable whose first part is no section
    (``SCREENER_ARI_URL`` for ``SCREENER_ARI__URL``), so the names are checked here,
    as the file's keys are; names are not case-sensitive, as pydantic-settings reads them.
    """
    prefix = str(Settings.model_config.get("env_prefix", "SCREENER_")).upper()
    delimiter = str(Settings.model_config.get("env_nested_delimiter", "__"))
    known: list[str] | None = None
    unknown: dict[tuple[str, ...], str] = {}
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(prefix) or upper in OTHER_SCREENER_VARIABLES:
            continue
        parts = tuple(part.lower() for part in upper[len(prefix) :].split(delimiter))
        model: type[BaseModel] | None = Settings
        for depth, part in enumerate(parts):
            if model is None:
                break  # inside a value (a table such as policy.actions): checked by its type
            info = model.model_fields.get(part)
            if info is None:
                if known is None:
                    known = list(_env_names(Settings, prefix))
                close = difflib.get_close_matches(upper, known, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                unknown[parts[: depth + 1]] = f"  {variable}: unknown setting{hint}"
                break
            inner = info.annotation
            model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return unknown


def config_path_from_env(environ: dict[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    value = env.get(CONFIG_ENV_VAR)
    return Path(value) if value else None


class _FileBackedSettings(Settings):
    """Settings whose keyword values come from the TOML file and rank below the environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


def load_settings(path: Path | None = None) -> Settings:
    """Build the settings once: defaults, then the TOML file, then the environment.

    ``path`` defaults to ``$SCREENER_CONFIG`` or ``./screener.toml``; a missing
    default file is fine (built-in defaults apply), a missing explicit one is not.
    Raises :class:`SettingsError` naming every bad key, and every ``SCREENER_*``
    variable that sets nothing (with the closest name that does).
    """
    explicit = path or config_path_from_env()
    file_path = explicit or DEFAULT_CONFIG_PATH
    file_values: dict[str, Any] = {}
    if file_path.exists():
        file_values = _read_toml(file_path)
    elif explicit is not None:
        raise SettingsError(f"{file_path}: configuration file not found")
    origin = f"{file_path} and SCREENER_* environment" if file_values else "SCREENER_* environment"
    unknown_env = _unknown_env_variables(os.environ)
    try:
        built = _FileBackedSettings(**file_values)
    except ValidationError as exc:
        raise SettingsError(_format_validation_error(exc, origin, unknown_env)) from exc
    if unknown_env:
        raise SettingsError("\n".join([f"invalid settings ({origin}):", *unknown_env.values()]))
    return Settings.model_construct(
        **{name: getattr(built, name) for name in Settings.model_fields}
    )
