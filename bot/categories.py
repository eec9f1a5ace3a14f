"""The category catalogue: which queues reports are filed in, their names, SLA and urgency."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.domain import Category, Language
from bot.errors import ConfigError


def load_categories(path: Path) -> tuple[Category, ...]:
    """Read the categories file; a wrong entry raises ConfigError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"CATEGORIES_FILE {path} is not readable JSON: {exc}.") from None
    if not isinstance(data, list) or not data:
        raise ConfigError(f"CATEGORIES_FILE {path} must hold a non-empty JSON list of categories.")
    categories: list[Category] = []
    for index, item in enumerate(data, start=1):
        where = f"CATEGORIES_FILE {path}: entry {index}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} is not an object.")
        cid = item.get("id")
        if not isinstance(cid, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", cid):
            raise ConfigError(f"{where} needs an id of lowercase letters, digits and _.")
        if any(c.id == cid for c in categories):
            raise ConfigError(f"{where} repeats the id {cid!r}.")
        names = {lang: item.get(lang.value) for lang in Language}
        if not all(isinstance(n, str) and n.strip() for n in names.values()):
            raise ConfigError(f"{where} ({cid}) needs a name in every language: zh and en.")
        sla = item.get("sla_hours")
        if isinstance(sla, bool) or not isinstance(sla, int | float) or sla <= 0:
            raise ConfigError(f"{where} ({cid}) needs sla_hours, a positive number.")
        categories.append(
            Category(
                id=cid,
                emoji=str(item.get("emoji", "")),
                names={lang: str(name) for lang, name in names.items()},
                sla_hours=float(sla),
                urgent=bool(item.get("urgent", False)),
            )
        )
    return tuple(categories)
