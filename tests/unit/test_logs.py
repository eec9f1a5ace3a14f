"""Log lines: JSON objects in production, readable text in a terminal, never a token."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.logs import QUIET, about, bind, configure_logging, log_context

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
Lines = Callable[[], list[str]]


@pytest.fixture
def logged() -> Iterator[Callable[..., Lines]]:
    """configure_logging into a buffer; the root logger is put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET}

    def configure(fmt: str, **kw: Any) -> Lines:
        buffer = io.StringIO()
        configure_logging(fmt, stream=buffer, **kw)
        return lambda: buffer.getvalue().splitlines()

    yield configure
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, was in quiet.items():
        logging.getLogger(name).setLevel(was)
    bind()


def test_json_lines_are_objects_with_the_report_and_chat(logged: Callable[..., Lines]) -> None:
    lines = logged("json")
    log = logging.getLogger("bot.delivery")
    log.info("sent card of #%s", 12, extra=about(report=12, chat=-1001))
    log.warning("plain line")
    first, second = (json.loads(line) for line in lines())
    assert first["msg"] == "sent card of #12"
    assert first["level"] == "INFO" and first["logger"] == "bot.delivery"
    assert first["report"] == 12 and first["chat"] == -1001
    assert first["ts"].endswith("+00:00")
    assert "report" not in second and "chat" not in second


def test_json_lines_carry_the_exception_on_the_same_line(logged: Callable[..., Lines]) -> None:
    lines = logged("json")
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logging.getLogger("bot").exception("update failed", extra=about(chat=7))
    (line,) = lines()
    record = json.loads(line)
    assert record["msg"] == "update failed" and record["chat"] == 7
    assert "RuntimeError: boom" in record["exc"] and "Traceback" in record["exc"]


def test_bound_report_and_chat_tag_every_line_until_changed(logged: Callable[..., Lines]) -> None:
    lines = logged("json")
    log = logging.getLogger("bot")
    bind(chat=42)
    log.info("one")
    with log_context(report=9):
        log.info("two")
        log.info("three", extra=about(report=10))  # the call's own extra wins
    log.info("four")
    bind()
    log.info("five")
    tags = [(r.get("report"), r.get("chat")) for r in map(json.loads, lines())]
    assert tags == [(None, 42), (9, 42), (10, 42), (None, 42), (None, None)]


class Url:
    """Like httpx.URL: a token inside an argument that is not a string."""

    def __str__(self) -> str:
        return f"https://api.telegram.org/bot{TOKEN}/getUpdates"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_no_token_reaches_a_line(logged: Callable[..., Lines], fmt: str) -> None:
    lines = logged(fmt, secrets=["hook-secret-value"])
    log = logging.getLogger("telegram.ext.Updater")
    log.warning(f"in the message bot{TOKEN}/sendMessage")
    log.warning("in an argument %s", Url())
    log.warning("in a mapping %(url)s", {"url": f"bot{TOKEN}"})
    log.warning("url-encoded %s", TOKEN.replace(":", "%3A"))
    log.warning("the webhook secret hook-secret-value")
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{TOKEN}/getMe")
    except ConnectionError:
        log.exception("in the exception")
    log.warning("in the stack", stack_info=True, extra=about(chat=1))
    text = "\n".join(lines())
    assert TOKEN not in text
    assert TOKEN.split(":")[1] not in text
    assert "hook-secret-value" not in text
    assert text.count("<token>") >= 5
    assert "<secret>" in text
    assert "cannot reach https://api.telegram.org/bot<token>/getMe" in text


def test_httpx_request_lines_are_not_logged(logged: Callable[..., Lines]) -> None:
    lines = logged("text")
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot.../getMe")
    logging.getLogger("httpx").warning("a real problem")
    assert [line.split(": ", 1)[1] for line in lines()] == ["a real problem"]


def test_text_lines_are_readable(logged: Callable[..., Lines]) -> None:
    lines = logged("text", level=logging.DEBUG)
    log = logging.getLogger("bot.desk")
    log.info("filed", extra=about(report=12, chat=-1001))
    log.debug("no tags")
    tagged, plain = lines()
    assert tagged.endswith("INFO    bot.desk [#12 chat -1001]: filed")
    assert plain.endswith("DEBUG   bot.desk: no tags")
    assert tagged[:4].isdigit() and tagged[10] == " "  # starts with the local date and time


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="json or text"):
        configure_logging("yaml")
