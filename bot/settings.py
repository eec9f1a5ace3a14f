"""Settings: one frozen object, built once from the environment and `.env`, failing fast."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.domain import Language
from bot.errors import ConfigError

BUNDLED = Path(__file__).resolve().parent / "data"
TOKEN_SHAPE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$")


@dataclass(frozen=True, slots=True)
class Settings:
    bot_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///data/suishoubao.db"
    communities_file: Path = BUNDLED / "communities.geojson"
    categories_file: Path = BUNDLED / "categories.json"
    supervisor_chat_ids: tuple[int, ...] = ()
    admin_user_ids: tuple[int, ...] = ()
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    digest_time: time = time(8, 0)
    default_language: Language = Language.ZH
    routing_tolerance_m: float = 150.0
    max_note_length: int = 500
    max_photo_bytes: int = 20 * 1024 * 1024
    reports_per_hour: int = 10
    draft_ttl_hours: float = 24.0
    confirm_window_days: float = 3.0
    # Webhook mode (bot/web.py): on when webhook_url is set; its path is where updates arrive.
    webhook_url: str | None = None
    webhook_listen: tuple[str, int] = ("127.0.0.1", 8080)
    webhook_secret: str | None = None
    log_format: str = "text"  # "text" for a terminal, "json" (one object a line) in production

    @property
    def worker_name(self) -> str:
        """This worker's name on its inbox claims and delivery leases. A worker started again
        under the same name (same host and webhook port; polling has one worker per bot) takes
        them back at once instead of waiting for them to run out."""
        where = str(self.webhook_listen[1]) if self.webhook_url else "polling"
        return f"{socket.gethostname()}:{where}"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = None
    ) -> Settings:
        """Read the process environment over `.env`; a bad value raises ConfigError naming it."""
        values: dict[str, str] = {}
        dotenv = env_file if env_file is not None else Path(".env")
        if dotenv.is_file():
            values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str) -> str | None:
            raw = env.get(name)
            return raw.strip() if raw is not None and raw.strip() != "" else None

        base = cls()
        token = get("BOT_TOKEN")
        if token is not None and not TOKEN_SHAPE.match(token):
            raise ConfigError(
                "BOT_TOKEN does not look like a bot token (digits, a colon, then letters)."
            )
        for name in PROXY_VARIABLES:  # read by the Bot API transport itself (bot/http.py)
            for spelled in (name, name.lower()):
                _proxy(spelled, get(spelled))
        return cls(
            bot_token=token,
            telegram_api_url=_url(
                "TELEGRAM_API_URL", get("TELEGRAM_API_URL"), base.telegram_api_url
            ),
            database_url=_database_url(get("DATABASE_URL") or base.database_url),
            communities_file=_file(
                "COMMUNITIES_FILE", get("COMMUNITIES_FILE"), base.communities_file
            ),
            categories_file=_file("CATEGORIES_FILE", get("CATEGORIES_FILE"), base.categories_file),
            supervisor_chat_ids=_ids("SUPERVISOR_CHAT_IDS", get("SUPERVISOR_CHAT_IDS")),
            admin_user_ids=_ids("ADMIN_USER_IDS", get("ADMIN_USER_IDS")),
            timezone=_zone(get("TIMEZONE"), base.timezone),
            digest_time=_clock("DIGEST_TIME", get("DIGEST_TIME"), base.digest_time),
            default_language=_language(get("DEFAULT_LANGUAGE"), base.default_language),
            routing_tolerance_m=_number(
                "ROUTING_TOLERANCE_M", get("ROUTING_TOLERANCE_M"), base.routing_tolerance_m, 0, 5000
            ),
            max_note_length=int(
                _number("MAX_NOTE_LENGTH", get("MAX_NOTE_LENGTH"), base.max_note_length, 1, 900)
            ),
            reports_per_hour=int(
                _number(
                    "REPORTS_PER_HOUR", get("REPORTS_PER_HOUR"), base.reports_per_hour, 1, 10_000
                )
            ),
            confirm_window_days=_number(
                "CONFIRM_WINDOW_DAYS",
                get("CONFIRM_WINDOW_DAYS"),
                base.confirm_window_days,
                0.01,
                365,
            ),
            draft_ttl_hours=_number(
                "DRAFT_TTL_HOURS", get("DRAFT_TTL_HOURS"), base.draft_ttl_hours, 0.1, 24 * 30
            ),
            webhook_url=_webhook_url(get("WEBHOOK_URL")),
            webhook_listen=_listen(get("WEBHOOK_LISTEN"), base.webhook_listen),
            webhook_secret=_webhook_secret(get("WEBHOOK_SECRET"), get("WEBHOOK_URL") is not None),
            log_format=_log_format(get("LOG_FORMAT"), base.log_format),
        )


# The environment's proxy variables, as urllib (and PTB's httpx before) read them.
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")


def _url(name: str, raw: str | None, default: str) -> str:
    if raw is None:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{name} must be an http(s) URL such as https://api.telegram.org, not {raw!r}."
        )
    return raw.rstrip("/")


def _proxy(name: str, raw: str | None) -> None:
    """A proxy the Bot API calls would go through must be one aiohttp can use."""
    if raw is None:
        return
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{name} must be an http(s) proxy URL such as http://proxy.example.org:3128, "
            f"not {raw!r}."
        )


def _database_url(raw: str) -> str:
    if not (raw.startswith("sqlite+aiosqlite://") or raw.startswith("postgresql+asyncpg://")):
        raise ConfigError(
            "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://, "
            f"not {raw.split('://')[0]!r}."
        )
    return raw


def _file(name: str, raw: str | None, default: Path) -> Path:
    path = Path(raw) if raw is not None else default
    if not path.is_file():
        raise ConfigError(f"{name} names a file that does not exist: {path}.")
    return path


def _ids(name: str, raw: str | None) -> tuple[int, ...]:
    if raw is None:
        return ()
    ids: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ids.append(int(part))
        except ValueError:
            raise ConfigError(
                f"{name} must be comma-separated numeric ids, and {part!r} is not a number."
            ) from None
    return tuple(ids)


def _zone(raw: str | None, default: ZoneInfo) -> ZoneInfo:
    if raw is None:
        return default
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"TIMEZONE must be an IANA time zone such as Asia/Shanghai, not {raw!r}."
        ) from None


def _clock(name: str, raw: str | None, default: time) -> time:
    if raw is None:
        return default
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", raw)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(f"{name} must be a local time as HH:MM, such as 08:00, not {raw!r}.")
    return time(int(match[1]), int(match[2]))


def _language(raw: str | None, default: Language) -> Language:
    if raw is None:
        return default
    try:
        return Language(raw.lower())
    except ValueError:
        raise ConfigError(f"DEFAULT_LANGUAGE must be zh or en, not {raw!r}.") from None


def _number(name: str, raw: str | None, default: float, low: float, high: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, not {raw}.")
    return value


def _webhook_url(raw: str | None) -> str | None:
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"WEBHOOK_URL must be an http(s) URL such as https://bot.example.org/tg, not {raw!r}."
        )
    if not re.fullmatch(r"[A-Za-z0-9._~/%!$&'()*+,;=:@-]*", parts.path):
        raise ConfigError(f"WEBHOOK_URL has a character a URL path cannot hold: {parts.path!r}.")
    if parts.path in ("/healthz", "/metrics"):
        raise ConfigError(f"WEBHOOK_URL must not use the path {parts.path}, which serves itself.")
    return raw


def _listen(raw: str | None, default: tuple[str, int]) -> tuple[str, int]:
    if raw is None:
        return default
    host, _, port = raw.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(
            f"WEBHOOK_LISTEN must be host:port such as 127.0.0.1:8080 or 0.0.0.0:8443, not {raw!r}."
        )
    return host, int(port)


def _webhook_secret(raw: str | None, required: bool) -> str | None:
    if raw is None:
        if required:
            raise ConfigError(
                "WEBHOOK_SECRET must be set when WEBHOOK_URL is: 1-256 letters, digits, _ or -."
            )
        return None
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", raw):
        raise ConfigError(
            "WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)."
        )
    return raw


def _log_format(raw: str | None, default: str) -> str:
    if raw is None:
        return default
    if raw.lower() not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text or json, not {raw!r}.")
    return raw.lower()
