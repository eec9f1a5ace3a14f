"""Settings read the environment; each bad value stops start-up with one sentence naming it."""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path

import pytest

from bot.domain import Language
from bot.errors import ConfigError
from bot.settings import Settings

TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi"


def test_defaults_match_the_spec() -> None:
    settings = Settings.from_mapping({})
    assert settings.bot_token is None
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.database_url == "sqlite+aiosqlite:///data/suishoubao.db"
    assert settings.communities_file.name == "communities.geojson"
    assert settings.supervisor_chat_ids == ()
    assert str(settings.timezone) == "Asia/Shanghai"
    assert settings.digest_time == time(8, 0)
    assert settings.default_language is Language.ZH


def test_every_setting_is_read() -> None:
    settings = Settings.from_mapping(
        {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
            "DATABASE_URL": "postgresql+asyncpg://u@h/db",
            "SUPERVISOR_CHAT_IDS": "-1001, -1002",
            "ADMIN_USER_IDS": "7",
            "TIMEZONE": "Europe/Berlin",
            "DIGEST_TIME": "7:30",
            "DEFAULT_LANGUAGE": "en",
        }
    )
    assert settings.bot_token == TOKEN
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.supervisor_chat_ids == (-1001, -1002)
    assert settings.admin_user_ids == (7,)
    assert str(settings.timezone) == "Europe/Berlin"
    assert settings.digest_time == time(7, 30)
    assert settings.default_language is Language.EN


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOT_TOKEN", "not-a-token"),
        ("TELEGRAM_API_URL", "api.telegram.org"),
        ("DATABASE_URL", "mysql://x"),
        ("COMMUNITIES_FILE", "/nowhere/areas.geojson"),
        ("CATEGORIES_FILE", "/nowhere/categories.json"),
        ("SUPERVISOR_CHAT_IDS", "-100,abc"),
        ("ADMIN_USER_IDS", "1;2"),
        ("TIMEZONE", "Mars/Olympus"),
        ("DIGEST_TIME", "25:00"),
        ("DEFAULT_LANGUAGE", "fr"),
        ("ROUTING_TOLERANCE_M", "-5"),
        ("MAX_NOTE_LENGTH", "lots"),
        ("REPORTS_PER_HOUR", "0"),
    ],
)
def test_a_bad_value_is_one_sentence_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_mapping({name: value})
    message = str(error.value)
    assert message.startswith(name)
    assert message.endswith(".") and "\n" not in message


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("DEFAULT_LANGUAGE=en\nDIGEST_TIME=09:15\n", encoding="utf-8")
    settings = Settings.from_env({"DIGEST_TIME": "06:00"}, env_file=env)
    assert settings.default_language is Language.EN
    assert settings.digest_time == time(6, 0)


def test_a_proxy_in_dotenv_reaches_the_environment_where_the_transport_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.__main__ import main

    for name in ("HTTPS_PROXY", "NO_PROXY", "BOT_TOKEN"):
        monkeypatch.setenv(name, "")  # recorded, so the test leaves the environment as it was
        monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "localhost")  # the process environment wins over .env
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HTTPS_PROXY=http://proxy.example.org:3128\nNO_PROXY=x\n")
    assert main() == 2  # no BOT_TOKEN: it stops there, after reading .env
    assert os.environ["HTTPS_PROXY"] == "http://proxy.example.org:3128"
    assert os.environ["NO_PROXY"] == "localhost"


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
@pytest.mark.parametrize("raw", ["proxy.example.org:3128", "socks5://proxy:1080", "http://"])
def test_a_proxy_the_transport_cannot_use_stops_start_up_naming_it(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name} must be an http\\(s\\) proxy URL"):
        Settings.from_mapping({name: raw})


def test_an_http_proxy_is_accepted() -> None:
    Settings.from_mapping({"HTTPS_PROXY": "http://user:pw@proxy.example.org:3128"})
