"""What everyone must see after a report changes: card edits, the rider's news, group notices.

Every effect is queued in the outbox inside the transaction that made the change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot import callbacks
from bot.callbacks import Verdict
from bot.core import Core
from bot.delivery import Kind
from bot.domain import Action, Language, Report
from storage.store import Tx

Clock = Callable[[], datetime]


class Workflow:
    def __init__(self, core: Core) -> None:
        self.router = core.router
        self.categories = core.categories
        self.texts = core.texts
        self.settings = core.settings
        self.clock = core.clock

    def language_of(self, community_id: str | None) -> Language:
        if community_id is None:
            return self.settings.default_language
        return Language(self.router.area(community_id).language)

    def name_of(self, community_id: str | None) -> str:
        if community_id is None:
            return self.texts(self.settings.default_language, "no_community")
        return self.router.area(community_id).name

    async def after(
        self, tx: Tx, report: Report, action: Action, *, previous_community: str | None = None
    ) -> None:
        """Queue the card edits and notices that follow `action` on `report`."""
        now = self.clock()
        step = len(await tx.events_of(report.number))
        links = await tx.links()
        if action is Action.TRANSFERRED:
            assert previous_community is not None and report.community_id is not None
            n, old, new = report.number, previous_community, report.community_id
            await self.edit_card(tx, n, old, key=f"edit:{n}:{old}:{step}")
            await self.post_card(tx, n, new, key=f"card:{n}:{new}:{step}")
        elif report.community_id is not None:
            n, here = report.number, report.community_id
            await self.edit_card(tx, n, here, key=f"edit:{n}:{here}:{step}")
        if action is Action.REOPENED and report.community_id is not None:
            lang = self.language_of(report.community_id)
            await tx.enqueue(
                key=f"reopened:{report.number}:{step}",
                kind=Kind.TEXT,
                chat_id=links.get(report.community_id),
                community_id=report.community_id,
                report_id=report.number,
                payload={
                    "text": self.texts(lang, "group_reopened", number=report.number),
                    "reply_to_card": report.community_id,
                },
                now=now,
            )
        await self._tell_rider(tx, report, action, step, now)

    async def post_card(self, tx: Tx, number: int, community_id: str, *, key: str) -> None:
        """Queue the report's card for the community's group; it waits if none is linked."""
        await self._card(tx, Kind.CARD, number, community_id, key)

    async def edit_card(self, tx: Tx, number: int, community_id: str, *, key: str) -> None:
        """Queue an edit of the report's card in that group, to show the report as it is then."""
        await self._card(tx, Kind.CARD_EDIT, number, community_id, key)

    async def _card(self, tx: Tx, kind: str, number: int, community_id: str, key: str) -> None:
        await tx.enqueue(
            key=key,
            kind=kind,
            chat_id=(await tx.links()).get(community_id),
            community_id=community_id,
            report_id=number,
            now=self.clock(),
        )

    async def _tell_rider(
        self, tx: Tx, report: Report, action: Action, step: int, now: datetime
    ) -> None:
        rider = await tx.rider_by_id(report.rider_id)
        lang = rider.language
        n = report.number
        payload: dict[str, object]
        match action:
            case Action.CLAIMED:
                earlier = [e for e in await tx.events_of(n) if e.action is Action.CLAIMED]
                if len(earlier) > 1:
                    return  # the rider heard it the first time; re-claims are staff business
                payload = {"text": self.texts(lang, "rider_claimed", number=n)}
            case Action.RESOLVED:
                lines = [self.texts(lang, "rider_resolved", number=n)]
                if report.resolution_note:
                    lines.append(
                        self.texts(lang, "rider_resolved_note", note=report.resolution_note)
                    )
                lines.append(self.texts(lang, "rider_ask_verdict"))
                buttons = [
                    [
                        _button(self.texts(lang, "btn_fixed"), callbacks.encode(Verdict(n, True))),
                        _button(
                            self.texts(lang, "btn_not_fixed"), callbacks.encode(Verdict(n, False))
                        ),
                    ]
                ]
                payload = {"text": "\n".join(lines), "buttons": buttons}
                if report.after_photo_file_id:
                    payload["photo"] = report.after_photo_file_id
            case Action.DUPLICATE:
                text = self.texts(
                    lang, "rider_rejected_duplicate", number=n, original=report.duplicate_of
                )
                payload = {"text": text}
            case Action.INVALID:
                lines = [self.texts(lang, "rider_rejected_invalid", number=n)]
                if report.resolution_note:
                    lines.append(
                        self.texts(lang, "rider_rejected_note", note=report.resolution_note)
                    )
                payload = {"text": "\n".join(lines)}
            case Action.TRANSFERRED:
                community = self.name_of(report.community_id)
                payload = {
                    "text": self.texts(lang, "rider_transferred", number=n, community=community)
                }
            case _:
                return
        await tx.enqueue(
            key=f"rider:{n}:{step}",
            kind=Kind.TEXT,
            chat_id=rider.telegram_id,
            report_id=n,
            payload=payload,
            now=now,
        )


def _button(text: str, data: str) -> dict[str, str]:
    return {"text": text, "data": data}
