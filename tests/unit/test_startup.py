"""`python -m bot` stops with one sentence naming what is wrong, before touching Telegram."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi"


def run_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env there
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_token_it_says_so_in_one_sentence(tmp_path: Path) -> None:
    result = run_bot(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("BOT_TOKEN is not set")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TIMEZONE": "Nowhere/Atlantis"}, "TIMEZONE"),
        ({"DIGEST_TIME": "8am"}, "DIGEST_TIME"),
        ({"SUPERVISOR_CHAT_IDS": "boss"}, "SUPERVISOR_CHAT_IDS"),
        ({"COMMUNITIES_FILE": "missing.geojson"}, "COMMUNITIES_FILE"),
        ({"COMMUNITIES_FILE": "bad.geojson"}, "COMMUNITIES_FILE bad.geojson: feature 1"),
    ],
)
def test_a_configuration_error_stops_start_up_naming_the_setting(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    (tmp_path / "bad.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        '{"id": "x", "name": "X"}, "geometry": {"type": "LineString", "coordinates": '
        "[[113.2, 36.1], [113.3, 36.2]]}}]}",
        encoding="utf-8",
    )
    result = run_bot(tmp_path, BOT_TOKEN=TOKEN, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
