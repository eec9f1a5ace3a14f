"""Every language has every key, with the same placeholders, and HTML that Telegram accepts."""

from __future__ import annotations

import re

import pytest

from bot.domain import Language
from bot.i18n import Texts, placeholders

TEXTS = Texts.load()


def test_every_language_has_every_key() -> None:
    zh, en = TEXTS.keys(Language.ZH), TEXTS.keys(Language.EN)
    assert zh - en == set(), "missing in en"
    assert en - zh == set(), "missing in zh"


@pytest.mark.parametrize("key", sorted(TEXTS.keys(Language.ZH)))
def test_placeholders_match_across_languages(key: str) -> None:
    zh = TEXTS.catalogues[Language.ZH][key]
    en = TEXTS.catalogues[Language.EN][key]
    assert placeholders(zh) == placeholders(en)


@pytest.mark.parametrize("lang", list(Language))
def test_catalogue_html_uses_only_tags_telegram_knows(lang: Language) -> None:
    for key, template in TEXTS.catalogues[lang].items():
        for tag in re.findall(r"</?([a-zA-Z-]+)", template):
            assert tag in {"b", "i", "u", "s", "a", "code", "pre", "blockquote"}, (key, tag)


def test_user_text_is_escaped_where_it_enters_html() -> None:
    text = TEXTS(Language.EN, "card_note", note="<b>bins</b> & more")
    assert text == "📝 &lt;b&gt;bins&lt;/b&gt; &amp; more"


def test_category_names_in_the_spec_reach_the_catalogue_of_each_language() -> None:
    assert "跳过" in TEXTS.catalogues[Language.ZH]["skip_button"]
    assert "Skip" in TEXTS.catalogues[Language.EN]["skip_button"]
