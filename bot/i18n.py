"""Words live in catalogues, one per language; this finds them and fills them in."""

from __future__ import annotations

import html
import json
import string
from collections.abc import Mapping
from pathlib import Path

from bot.domain import Language

LOCALES = Path(__file__).resolve().parent / "locales"


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
        return template.format(**{k: html.escape(str(v), quote=False) for k, v in params.items()})

    def keys(self, lang: Language) -> set[str]:
        return set(self.catalogues[lang])


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
