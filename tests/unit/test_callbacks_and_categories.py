"""Callback data round-trips and refuses anything forged; the categories file is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import callbacks
from bot.callbacks import PickCategory, PickLanguage, SkipNote
from bot.categories import load_categories
from bot.domain import Language
from bot.errors import ConfigError
from bot.settings import BUNDLED


@pytest.mark.parametrize(
    "press", [PickCategory("sanitation"), SkipNote(), PickLanguage(Language.EN)]
)
def test_presses_round_trip_within_telegrams_64_bytes(press: callbacks.Press) -> None:
    data = callbacks.encode(press)
    assert len(data.encode()) <= 64
    assert callbacks.decode(data) == press


@pytest.mark.parametrize(
    "data",
    [None, "", "v0:skip", "v1", "v1:lang:fr", "v1:cat:", "x:y:z", "v1:k:claim:9999999999"],
)
def test_malformed_data_decodes_to_nothing(data: str | None) -> None:
    assert callbacks.decode(data) is None


@given(st.text(max_size=64))
def test_decoding_never_raises(data: str) -> None:
    callbacks.decode(data)


def test_bundled_categories_are_the_spec_defaults() -> None:
    categories = {c.id: c for c in load_categories(BUNDLED / "categories.json")}
    assert list(categories) == ["sanitation", "fire_safety", "public_order"]
    assert categories["fire_safety"].urgent
    assert categories["fire_safety"].sla_hours == 4
    assert categories["sanitation"].label(Language.ZH) == "🧹 环境卫生"
    assert categories["public_order"].label(Language.EN) == "🚨 Public order"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json", "not readable JSON"),
        ("[]", "non-empty"),
        ('[{"id": "Bad Id", "zh": "a", "en": "b", "sla_hours": 1}]', "entry 1"),
        ('[{"id": "a", "zh": "a", "sla_hours": 1}]', "every language"),
        ('[{"id": "a", "zh": "a", "en": "b", "sla_hours": 0}]', "sla_hours"),
        (
            json.dumps([{"id": "a", "zh": "a", "en": "b", "sla_hours": 1}] * 2),
            "repeats",
        ),
    ],
)
def test_a_wrong_categories_file_names_the_entry(
    tmp_path: Path, content: str, fragment: str
) -> None:
    path = tmp_path / "categories.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        load_categories(path)
