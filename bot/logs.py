"""Structured logs: one JSON object a line in production, one readable line in a terminal.

A line that concerns a report or a chat carries them: pass `extra={"report": n, "chat": id}`
(see `about()`), or bind them for a stretch of work with `log_context()`/`bind()`. No bot token
ever reaches a log: every handler redacts token-shaped strings (and any secret it is given) from
the message, its arguments, the exception text and the stack.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TextIO

# A bot token: the bot's id, a colon (perhaps URL-encoded), then the secret part.
TOKEN_PATTERN = re.compile(r"\d{5,}(?::|%3A|%3a)[A-Za-z0-9_-]{30,}")
REDACTED = "<token>"
SECRET_REDACTED = "<secret>"

FIELDS = ("report", "chat")
_bound: dict[str, ContextVar[int | None]] = {
    name: ContextVar(f"log_{name}", default=None) for name in FIELDS
}

# Loggers that say too much at INFO: httpx logs every request URL (which holds the token).
QUIET = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "alembic": logging.WARNING,
    # Two lines a minute for the deadline job, and PTB says what matters itself.
    "apscheduler": logging.WARNING,
}


def about(report: int | None = None, chat: int | None = None) -> dict[str, int]:
    """The `extra=` of a log call about a report and/or a chat."""
    extra: dict[str, int] = {}
    if report is not None:
        extra["report"] = report
    if chat is not None:
        extra["chat"] = chat
    return extra


def bind(report: int | None = None, chat: int | None = None) -> None:
    """Tag every later line of this task (and of tasks it starts) with the report and chat."""
    _bound["report"].set(report)
    _bound["chat"].set(chat)


@contextlib.contextmanager
def log_context(report: int | None = None, chat: int | None = None) -> Iterator[None]:
    """Tag every line logged inside the block; fields not given keep their outer value."""
    tokens: list[tuple[ContextVar[int | None], Token[int | None]]] = []
    for name, value in (("report", report), ("chat", chat)):
        if value is not None:
            tokens.append((_bound[name], _bound[name].set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class Redact(logging.Filter):
    """Replace bot tokens (and the given secrets) in everything a record will print.

    Installed on handlers, so it sees the records of every logger (httpx, PTB, uvicorn too).
    The message is rendered once with its arguments and redacted, so a token inside any
    argument (a URL object, an exception) is caught as well.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        # Too short a string would blank out ordinary words; a token-shaped one is caught anyway.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, SECRET_REDACTED)
        return TOKEN_PATTERN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: show what there is rather than lose the line
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class Tag(logging.Filter):
    """Give a record the report and chat bound with `bind()`/`log_context()`, unless its own
    `extra=` already names them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in FIELDS:
            if getattr(record, name, None) is None:
                value = _bound[name].get()
                if value is not None:
                    setattr(record, name, value)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _exception_text(record: logging.LogRecord) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    return record.exc_text or None


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, and report, chat, exc, stack if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        exc = _exception_text(record)
        if exc:
            line["exc"] = exc
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2026-11-20 10:00:00.123 INFO  bot.delivery [#12 chat -1001]: message`."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
        tags = []
        report = getattr(record, "report", None)
        chat = getattr(record, "chat", None)
        if report is not None:
            tags.append(f"#{report}")
        if chat is not None:
            tags.append(f"chat {chat}")
        where = f" [{' '.join(tags)}]" if tags else ""
        line = (
            f"{when}.{int(record.msecs):03d} {record.levelname:<7} {record.name}{where}: "
            f"{record.getMessage()}"
        )
        exc = _exception_text(record)
        if exc:
            line += "\n" + exc
        if record.stack_info:
            line += "\n" + record.stack_info
        return line


def configure_logging(
    fmt: str = "text",
    level: int = logging.INFO,
    *,
    secrets: Iterable[str | None] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log line to `stream` (stderr) as `fmt` ("json" or "text"); returns the handler.

    secrets: exact strings never to print besides token-shaped ones (the bot token, the
    webhook secret). Replaces the root logger's handlers, so calling it again is harmless.
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {fmt!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(Tag())
    handler.addFilter(Redact(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(quiet)
    return handler
