"""What every desk shares: the database, the map, the categories, the words, the settings, the
time, and the bell that wakes the delivery worker. Built once, in bot/app.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import Category
from bot.geo import Router
from bot.i18n import Texts
from bot.settings import Settings
from storage.store import Store

Clock = Callable[[], datetime]


def _quiet() -> None:
    """No delivery worker to wake (in tests of the core alone)."""


@dataclass(frozen=True)
class Core:
    store: Store
    router: Router
    category_list: Sequence[Category]
    texts: Texts
    settings: Settings
    clock: Clock
    # Wakes the delivery worker once something was committed to the outbox.
    notify: Callable[[], None] = _quiet
    categories: Mapping[str, Category] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", {c.id: c for c in self.category_list})


class Desk:
    """A service over the core: the names every desk reads, set once."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.store = core.store
        self.router = core.router
        self.categories = core.categories
        self.texts = core.texts
        self.settings = core.settings
        self.clock = core.clock
        self.notify = core.notify
