"""Configuration: command-line flag > ``EXACTLINK_*`` environment > ``config.toml`` > default.

Nested keys map to environment variables with ``__`` (``EXACTLINK_SYNC__DIRECTION=outbound``). The app
registration also has the flat names the product documents: ``EXACTLINK_BASE_URL``,
``EXACTLINK_CLIENT_ID`` and ``EXACTLINK_REDIRECT_URI``. Secrets (the client secret, tokens) are never
read from ``config.toml``; see ``exactlink.auth``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from exactlink.errors import ConfigError
from exactlink.paths import get_paths, read_private_file

REGION_HOSTS: dict[str, str] = {
    "nl": "https://start.exactonline.nl",
    "be": "https://start.exactonline.be",
    "de": "https://start.exactonline.de",
    "uk": "https://start.exactonline.co.uk",
    "com": "https://start.exactonline.com",
    "es": "https://start.exactonline.es",
    "fr": "https://start.exactonline.fr",
}

SECRET_KEYS = frozenset({"client_secret", "access_token", "refresh_token", "token", "password"})
FLAT_ENV = {
    "EXACTLINK_BASE_URL": ("exact", "base_url"),
    "EXACTLINK_CLIENT_ID": ("exact", "client_id"),
    "EXACTLINK_REDIRECT_URI": ("exact", "redirect_uri"),
    "EXACTLINK_REGION": ("exact", "region"),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ExactSettings(_Section):
    """How to reach Exact Online and which app registration to use."""

    region: Literal["nl", "be", "de", "uk", "com", "es", "fr"] = "nl"
    base_url: str = ""
    client_id: str = ""
    redirect_uri: str = "http://127.0.0.1:8765/callback"
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_answer_megabytes: float = Field(default=32.0, gt=0, le=2048)
    max_pages: int = Field(default=10_000, ge=1)
    # "auto": 4 administrations at once, more only as far as the hourly run needs to finish within 10 minutes
    # (exactlink.domain.run_concurrency); a number always wins.
    max_concurrent_divisions: int | Literal["auto"] = Field(default="auto")
    token_storage: Literal["auto", "keyring", "file"] = "auto"
    login_timeout_seconds: float = Field(default=300.0, gt=0)

    @field_validator("max_concurrent_divisions")
    @classmethod
    def _divisions_at_once(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 64:
            raise ValueError('a number from 1 to 64, or "auto"')
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        from exactlink.urls import insecure_url_problem

        value = value.strip().rstrip("/")
        problem = insecure_url_problem(value) if value else None
        if problem:
            raise ValueError(f"{problem}; only a loopback address such as http://127.0.0.1 may use http")
        return value

    @property
    def max_answer_bytes(self) -> int:
        """``max_answer_megabytes`` in bytes."""
        return int(self.max_answer_megabytes * 1_000_000)

    @property
    def effective_base_url(self) -> str:
        """``base_url`` when set, otherwise the host of the configured region."""
        return self.base_url or REGION_HOSTS[self.region]


class RunSettings(_Section):
    """How long one run may hold the run lock (see ``exactlink.services.locking``)."""

    max_minutes: float = Field(default=120.0, gt=0)
    # Of the office administration's day limit, the share bulk work (link-admin --csv, suggest --accept) leaves
    # for match, sync and fetch-returns: it stops there and goes on after the day's reset.
    bulk_reserve_percent: float = Field(default=20.0, ge=0, le=100)


class SyncSettings(_Section):
    """Relation data synchronisation (`exactlink sync`)."""

    direction: Literal["inbound", "outbound"] = "inbound"
    direct: bool = False
    numbers_must_match: bool = False
    watch_interval_minutes: float = Field(default=5.0, gt=0)


class ReturnsSettings(_Section):
    """Which returns are fetched and processed into the CRM."""

    process_vat: bool = True
    process_payroll: bool = True
    process_vraagposten: bool = True
    window_days: int = Field(default=30, ge=1, le=30)
    vraagposten_description: str = "vraagpost"


class ScheduleSettings(_Section):
    """Office hours for the hourly cron run."""

    timezone: str = "Europe/Amsterdam"
    first_hour: int = Field(default=7, ge=0, le=23)
    last_hour: int = Field(default=20, ge=0, le=23)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # Checked here, so that every command refuses an unknown zone alike, not only `schedule`.
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class PrivacySettings(_Section):
    show_bsn: bool = False


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(BaseSettings):
    """All of exactlink's settings. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="EXACTLINK_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    exact: ExactSettings = ExactSettings()
    runs: RunSettings = RunSettings()
    sync: SyncSettings = SyncSettings()
    returns: ReturnsSettings = ReturnsSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    privacy: PrivacySettings = PrivacySettings()
    logging: LoggingSettings = LoggingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _FlatEnvSource(settings_cls),
            _TomlSource(settings_cls, get_paths().config_file),
        )


class _FlatEnvSource(PydanticBaseSettingsSource):
    """The documented flat variables (``EXACTLINK_BASE_URL`` …) for the ``[exact]`` section."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, dict[str, str]] = {}
        for variable, (section, key) in FLAT_ENV.items():
            if variable in os.environ:
                data.setdefault(section, {})[key] = os.environ[variable]
        return data


class _TomlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return read_config_file(self.path)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse ``config.toml``; refuse secrets in it, and a file another user owns or may change (exit 2).

    A missing file is an empty config.
    """
    try:
        raw = read_private_file(path, secret=False)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    for section, values in data.items():
        keys = values.keys() if isinstance(values, dict) else [section]
        leaked = SECRET_KEYS.intersection(keys)
        if leaked:
            name = sorted(leaked)[0]
            raise ConfigError(
                f"{path}: '{name}' must not be stored in config.toml",
                hint="set EXACTLINK_CLIENT_SECRET or store it with `exactlink login --store-secret`",
            )
    return data


def load_settings(**overrides: Any) -> Settings:
    """Load the effective settings; ``overrides`` are command-line flags (nested dicts per section)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the first bad key, e.g. ``sync.direction: Input should be 'inbound' or …``."""
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "config"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "value_error":
        message = message.removeprefix("Value error, ")  # our own validators' messages read as they are
    return (
        f"invalid configuration: {location}: {message} (and {len(exc.errors()) - 1} more)"
        if len(exc.errors()) > 1
        else f"invalid configuration: {location}: {message}"
    )


def settings_sources(settings: Settings) -> dict[str, str]:
    """Where each effective ``section.key`` came from: ``flag``, ``env``, ``config.toml`` or ``default``."""
    file_data = read_config_file(get_paths().config_file)
    sources: dict[str, str] = {}
    for section_name, section in settings:
        assert isinstance(section, BaseModel)
        for key in type(section).model_fields:
            dotted = f"{section_name}.{key}"
            env_names = [f"EXACTLINK_{section_name.upper()}__{key.upper()}"]
            env_names += [name for name, target in FLAT_ENV.items() if target == (section_name, key)]
            if any(name in os.environ for name in env_names):
                sources[dotted] = "env"
            elif key in file_data.get(section_name, {}):
                sources[dotted] = "config.toml"
            else:
                sources[dotted] = "default"
    return sources
