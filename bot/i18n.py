"""Words live in catalogues, one per language; this finds them and fills them in."""

from __future__ import annotations

import html
import json
import string
from collections.abc import Mapping
from pathlib import Path

from bot.domain import Language

LOCALES = Path(__file__).resolve().parent / "locales"


class Html(str):
    """A parameter that is already HTML (a mention, a link) and must not be escaped again."""

    __slots__ = ()


def mention(user_id: int, name: str) -> Html:
    return Html(f'<a href="tg://user?id={user_id}">{html.escape(name, quote=False)}</a>')


class Texts:
    def __init__(self, catalogues: Mapping[Language, Mapping[str, str]]) -> None:
        self.catalogues = catalogues

    @classmethod
    def load(cls, folder: Path = LOCALES) -> Texts:
        return cls(
            {
                lang: json.loads((folder / f"{lang.value}.json").read_text(encoding="utf-8"))
                for lang in Language
            }
        )

    def __call__(self, lang: Language, key: str, /, **params: object) -> str:
        """The text for key in lang, with params HTML-escaped: every message is sent as HTML."""
        template = self.catalogues[lang][key]
        return template.format(
            **{
                k: v if isinstance(v, Html) else html.escape(str(v), quote=False)
                for k, v in params.items()
            }
        )

    def keys(self, lang: Language) -> set[str]:
        return set(self.catalogues[lang])


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
