"""The staff desk: what community staff do with a report, decided here and checked every time.

Callback data is never trusted: each press is checked against the report's community, the group
it came from, the presser's membership of that group, the message it was pressed on, and the
report's state, which the database changes only from the expected state.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import callbacks
from bot.callbacks import CardAction, OnCard, TransferTo
from bot.core import Core, Desk
from bot.desk import Say
from bot.domain import (
    Action,
    Button,
    Language,
    PendingInput,
    Report,
    Staff,
    Status,
)
from bot.i18n import Html, mention
from bot.render import (
    Buttons,
    age,
    card_buttons,
    local_time,
    reject_menu,
    status_name,
    transfer_menu,
)
from bot.workflow import Workflow
from storage.store import Tx

Clock = Callable[[], datetime]
MemberCheck = Callable[[int, int], Awaitable[bool]]
ACTIVE = frozenset({Status.OPEN, Status.CLAIMED})
# The oldest this many per category fit a Telegram message (4096 characters) with room to spare.
QUEUE_PER_CATEGORY = 20


@dataclass(frozen=True, slots=True)
class StaffAnswer:
    toast: str | None = None
    # New buttons for the pressed message (a menu, or none once a question is settled).
    markup: Buttons | None = None
    # A question posted in the group as a reply to the pressed card.
    prompt: Say | None = None
    # A reply to the staff member's own message (when their answer to a question was wrong).
    reply: str | None = None


class Refusal(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class StaffDesk(Desk):
    def __init__(self, core: Core, workflow: Workflow, *, is_member: MemberCheck) -> None:
        super().__init__(core)
        self.workflow = workflow
        self.is_member = is_member

    # presses -----------------------------------------------------------------------------------

    async def press(
        self, chat_id: int, staff: Staff, message_id: int, data: str | None
    ) -> StaffAnswer:
        press = callbacks.decode(data)
        async with self.store.tx() as tx:
            lang = await self._group_language(tx, chat_id)
            if not isinstance(press, OnCard | TransferTo):
                return StaffAnswer(toast=self.texts(lang, "stale_button"))
            try:
                report = await self._authorize(tx, chat_id, staff, press.report, message_id, lang)
                answer = await self._act(tx, chat_id, staff, message_id, report, press, lang)
            except Refusal as refusal:
                return StaffAnswer(toast=refusal.text)
        self.notify()
        return answer

    async def _act(
        self,
        tx: Tx,
        chat_id: int,
        staff: Staff,
        message_id: int,
        report: Report,
        press: OnCard | TransferTo,
        lang: Language,
    ) -> StaffAnswer:
        n = report.number
        if isinstance(press, TransferTo):
            await self._on_card(tx, chat_id, message_id, report, lang)
            return await self._transfer(tx, staff, report, press.community, lang)
        if press.action in (CardAction.SKIP, CardAction.CANCEL):
            return await self._settle_question(tx, chat_id, staff, report, press.action, lang)
        await self._on_card(tx, chat_id, message_id, report, lang)
        now = self.clock()
        match press.action:
            case CardAction.CLAIM:
                changed = await self._move(
                    tx,
                    report,
                    {Status.OPEN},
                    Status.CLAIMED,
                    Action.CLAIMED,
                    staff,
                    changes={"holder_id": staff.telegram_id, "held_since": now},
                )
                return StaffAnswer(toast=self.texts(lang, "toast_claimed"), markup=changed)
            case CardAction.RELEASE:
                if report.status is Status.CLAIMED and report.holder_id != staff.telegram_id:
                    return StaffAnswer(toast=self.texts(lang, "toast_not_holder"))
                changed = await self._move(
                    tx,
                    report,
                    {Status.CLAIMED},
                    Status.OPEN,
                    Action.RELEASED,
                    staff,
                    expect={"holder_id": staff.telegram_id},
                    changes={"holder_id": None, "held_since": None},
                )
                return StaffAnswer(toast=self.texts(lang, "toast_released"), markup=changed)
            case CardAction.TAKE_OVER:
                if report.holder_id == staff.telegram_id:
                    return StaffAnswer(toast=self.texts(lang, "toast_you_hold"))
                changed = await self._move(
                    tx,
                    report,
                    {Status.CLAIMED},
                    Status.CLAIMED,
                    Action.TAKEN_OVER,
                    staff,
                    expect={"holder_id": report.holder_id},
                    changes={"holder_id": staff.telegram_id, "held_since": now},
                )
                return StaffAnswer(toast=self.texts(lang, "toast_taken_over"), markup=changed)
            case CardAction.RESOLVE:
                self._require(report, ACTIVE, lang)
                return await self._ask(tx, chat_id, staff, report, "proof", lang)
            case CardAction.REJECT:
                self._require(report, ACTIVE, lang)
                return StaffAnswer(
                    toast=self.texts(lang, "toast_choose_reason"),
                    markup=reject_menu(self.texts, lang, n),
                )
            case CardAction.BACK:
                return StaffAnswer(
                    markup=card_buttons(self.texts, lang, report, report.community_id)
                )
            case CardAction.DUPLICATE:
                self._require(report, ACTIVE, lang)
                answer = await self._ask(tx, chat_id, staff, report, "duplicate", lang)
                return _with_markup(
                    answer, card_buttons(self.texts, lang, report, report.community_id)
                )
            case CardAction.INVALID:
                self._require(report, ACTIVE, lang)
                answer = await self._ask(tx, chat_id, staff, report, "invalid", lang)
                return _with_markup(
                    answer, card_buttons(self.texts, lang, report, report.community_id)
                )
            case CardAction.NOT_OURS:
                self._require(report, ACTIVE, lang)
                others = [(a.id, a.name) for a in self.router.areas if a.id != report.community_id]
                return StaffAnswer(
                    toast=self.texts(lang, "toast_choose_community"),
                    markup=transfer_menu(self.texts, lang, n, others),
                )
        return StaffAnswer(toast=self.texts(lang, "stale_button"))

    # replies to the bot's questions ------------------------------------------------------------

    async def reply(
        self,
        chat_id: int,
        staff: Staff,
        replied_message_id: int,
        replied_data: Sequence[str],
        *,
        text: str | None,
        photo_file_id: str | None,
    ) -> StaffAnswer | None:
        """A staff member's reply to a card or to one of the bot's questions; None to ignore."""
        async with self.store.tx() as tx:
            card = await tx.card_at(chat_id, replied_message_id)
            number = card.report_number if card else None
            for data in replied_data:
                number = number or callbacks.report_of(data)
            if number is None:
                return None
            pending = await tx.pending(number)
            if (
                pending is None
                or pending.chat_id != chat_id
                or pending.staff_id != staff.telegram_id
            ):
                return None  # conversation among staff, not an answer to the bot
            report = await tx.report(number)
            assert report is not None
            lang = await self._group_language(tx, chat_id)
            note = (text or "").strip() or None
            if note is not None and len(note) > self.settings.max_note_length:
                limit = self.settings.max_note_length
                return StaffAnswer(
                    reply=self.texts(lang, "note_too_long", length=len(note), limit=limit)
                )
            try:
                match pending.kind:
                    case "proof":
                        await self._resolve(tx, staff, report, note, photo_file_id, lang)
                    case "invalid":
                        await self._reject_invalid(tx, staff, report, note, lang)
                    case "duplicate":
                        refusal = await self._reject_duplicate(tx, staff, report, note, lang)
                        if refusal is not None:
                            return StaffAnswer(reply=refusal)
            except Refusal as refusal:
                await tx.answered(number)
                return StaffAnswer(reply=refusal.text)
        self.notify()
        return StaffAnswer()

    # transitions -------------------------------------------------------------------------------

    async def _move(
        self,
        tx: Tx,
        report: Report,
        frm: set[Status],
        to: Status,
        action: Action,
        staff: Staff,
        *,
        note: str | None = None,
        expect: dict[str, Any] | None = None,
        changes: dict[str, Any] | None = None,
        previous_community: str | None = None,
    ) -> Buttons | None:
        """Make the transition or explain why not; returns the card's buttons right away."""
        lang = self.workflow.language_of(report.community_id)
        moved = await tx.transition(
            report.number,
            frm=frm,
            to=to,
            action=action,
            actor=f"staff:{staff.telegram_id}",
            at=self.clock(),
            note=note,
            expect=expect,
            changes=changes,
        )
        if moved is None:
            raise Refusal(await self._why_not(tx, report.number, lang))
        await self.workflow.after(tx, moved, action, previous_community=previous_community)
        # The card is edited through the outbox too; the buttons change at once for the presser.
        return card_buttons(self.texts, lang, moved, previous_community or moved.community_id)

    async def _why_not(self, tx: Tx, number: int, lang: Language) -> str:
        """The loser of a race is told who won; a stale press is told the state."""
        now = await tx.report(number)
        assert now is not None
        if now.status is Status.CLAIMED and now.holder_id is not None:
            name = await tx.staff_name(now.holder_id) or "?"
            return self.texts(lang, "toast_already_claimed", staff=name)
        events = await tx.events_of(number)
        last = events[-1]
        if last.actor.startswith("staff:") and now.status not in ACTIVE:
            name = await tx.staff_name(int(last.actor.split(":")[1])) or "?"
            return self.texts(lang, "refuse_done_by", staff=name)
        return self.texts(
            lang, "refuse_state", number=number, status=status_name(self.texts, lang, now.status)
        )

    async def _resolve(
        self,
        tx: Tx,
        staff: Staff,
        report: Report,
        note: str | None,
        photo: str | None,
        lang: Language,
    ) -> None:
        await self._move(
            tx,
            report,
            set(ACTIVE),
            Status.RESOLVED,
            Action.RESOLVED,
            staff,
            note=note,
            changes={
                "holder_id": staff.telegram_id,
                "resolved_at": self.clock(),
                "resolution_note": note,
                "after_photo_file_id": photo,
                "rider_answered": False,
            },
        )
        await tx.answered(report.number)

    async def _reject_invalid(
        self, tx: Tx, staff: Staff, report: Report, note: str | None, lang: Language
    ) -> None:
        await self._move(
            tx,
            report,
            set(ACTIVE),
            Status.REJECTED,
            Action.INVALID,
            staff,
            note=note,
            changes={"holder_id": staff.telegram_id, "resolution_note": note},
        )
        await tx.answered(report.number)

    async def _reject_duplicate(
        self, tx: Tx, staff: Staff, report: Report, text: str | None, lang: Language
    ) -> str | None:
        match = re.fullmatch(r"#?\s*(\d{1,9})", (text or "").strip())
        if match is None:
            return self.texts(lang, "dup_bad_number")
        original = int(match[1])
        if original == report.number:
            return self.texts(lang, "dup_self")
        other = await tx.report(original)
        if other is None or other.community_id != report.community_id:
            return self.texts(lang, "dup_unknown", original=original)
        await self._move(
            tx,
            report,
            set(ACTIVE),
            Status.REJECTED,
            Action.DUPLICATE,
            staff,
            note=f"#{original}",
            changes={"holder_id": staff.telegram_id, "duplicate_of": original},
        )
        await tx.answered(report.number)
        return None

    async def _transfer(
        self, tx: Tx, staff: Staff, report: Report, target: str, lang: Language
    ) -> StaffAnswer:
        if target == report.community_id or target not in {a.id for a in self.router.areas}:
            return StaffAnswer(toast=self.texts(lang, "stale_button"))
        self._require(report, ACTIVE, lang)
        await self._move(
            tx,
            report,
            set(ACTIVE),
            Status.OPEN,
            Action.TRANSFERRED,
            staff,
            note=f"{report.community_id}→{target}",
            expect={"community_id": report.community_id},
            changes={"community_id": target, "holder_id": None, "held_since": None},
            previous_community=report.community_id,
        )
        await tx.answered(report.number)
        name = self.workflow.name_of(target)
        return StaffAnswer(toast=self.texts(lang, "toast_transferred", community=name), markup=())

    async def _ask(
        self, tx: Tx, chat_id: int, staff: Staff, report: Report, kind: str, lang: Language
    ) -> StaffAnswer:
        """Persist the question first, then it is posted as a reply to the card."""
        await tx.ask(PendingInput(report.number, kind, staff.telegram_id, chat_id, self.clock()))
        who = mention(staff.telegram_id, staff.name)
        n = report.number

        def button(key: str, action: CardAction) -> Button:
            return Button(self.texts(lang, key), callbacks.encode(OnCard(action, n)))

        match kind:
            case "proof":
                text = self.texts(lang, "prompt_proof", staff=who, number=n)
                buttons: Buttons = ((button("skip_button", CardAction.SKIP),),)
                toast = self.texts(lang, "toast_send_proof")
            case "invalid":
                text = self.texts(lang, "prompt_invalid", staff=who, number=n)
                buttons = (
                    (
                        button("skip_button", CardAction.SKIP),
                        button("btn_cancel", CardAction.CANCEL),
                    ),
                )
                toast = self.texts(lang, "toast_reply_needed")
            case _:
                text = self.texts(lang, "prompt_duplicate", staff=who, number=n)
                buttons = ((button("btn_cancel", CardAction.CANCEL),),)
                toast = self.texts(lang, "toast_reply_needed")
        return StaffAnswer(toast=toast, prompt=Say(text, buttons=buttons))

    async def _settle_question(
        self,
        tx: Tx,
        chat_id: int,
        staff: Staff,
        report: Report,
        action: CardAction,
        lang: Language,
    ) -> StaffAnswer:
        pending = await tx.pending(report.number)
        if pending is None or pending.chat_id != chat_id or pending.staff_id != staff.telegram_id:
            return StaffAnswer(toast=self.texts(lang, "stale_button"), markup=())
        if action is CardAction.CANCEL:
            await tx.answered(report.number)
            return StaffAnswer(toast=self.texts(lang, "toast_cancelled"), markup=())
        if pending.kind == "proof":
            await self._resolve(tx, staff, report, None, None, lang)
            return StaffAnswer(toast=self.texts(lang, "toast_resolved"), markup=())
        if pending.kind == "invalid":
            await self._reject_invalid(tx, staff, report, None, lang)
            return StaffAnswer(toast=self.texts(lang, "toast_rejected"), markup=())
        return StaffAnswer(toast=self.texts(lang, "toast_reply_needed"))

    # checks ------------------------------------------------------------------------------------

    async def _authorize(
        self, tx: Tx, chat_id: int, staff: Staff, number: int, message_id: int, lang: Language
    ) -> Report:
        report = await tx.report(number)
        if report is None:
            raise Refusal(self.texts(lang, "refuse_unknown"))
        links = await tx.links()
        if report.community_id is None or links.get(report.community_id) != chat_id:
            card = await tx.card_at(chat_id, message_id)
            if card is not None and card.report_number == number:  # a card it has left behind
                name = self.workflow.name_of(report.community_id)
                raise Refusal(self.texts(lang, "toast_transferred", community=name))
            raise Refusal(self.texts(lang, "refuse_wrong_chat"))
        if not await self.is_member(chat_id, staff.telegram_id):
            raise Refusal(self.texts(lang, "refuse_not_member"))
        await tx.remember_staff(staff, self.clock())
        return report

    async def _on_card(
        self, tx: Tx, chat_id: int, message_id: int, report: Report, lang: Language
    ) -> None:
        """The press must come from this report's own card in this group."""
        card = await tx.card_at(chat_id, message_id)
        if card is None or card.report_number != report.number:
            raise Refusal(self.texts(lang, "stale_button"))
        if card.community_id != report.community_id:
            name = self.workflow.name_of(report.community_id)
            raise Refusal(self.texts(lang, "toast_transferred", community=name))

    def _require(self, report: Report, states: frozenset[Status], lang: Language) -> None:
        if report.status not in states:
            status = status_name(self.texts, lang, report.status)
            raise Refusal(self.texts(lang, "refuse_state", number=report.number, status=status))

    async def _group_language(self, tx: Tx, chat_id: int) -> Language:
        links = await tx.links()
        community = next((c for c, chat in links.items() if chat == chat_id), None)
        return self.workflow.language_of(community)

    async def _community_of(self, tx: Tx, chat_id: int) -> str | None:
        links = await tx.links()
        return next((c for c, chat in links.items() if chat == chat_id), None)

    # lists -------------------------------------------------------------------------------------

    async def queue(self, chat_id: int) -> str:
        """The community's open and claimed reports, by category, oldest first."""
        now = self.clock()
        async with self.store.tx() as tx:
            community = await self._community_of(tx, chat_id)
            lang = self.workflow.language_of(community)
            if community is None:
                return self.texts(lang, "not_linked")
            active = await tx.active_reports(community)
            shown = [
                r
                for category in self.categories
                for r in [r for r in active if r.category == category][:QUEUE_PER_CATEGORY]
            ]
            cards = await tx.cards_in(community, [r.number for r in shown])
            holders = {r.holder_id: await tx.staff_name(r.holder_id) for r in shown if r.holder_id}
        name = self.workflow.name_of(community)
        if not active:
            return self.texts(lang, "queue_empty", community=name)
        lines = [self.texts(lang, "queue_title", community=name, count=len(active))]
        for category in self.categories.values():
            mine = [r for r in active if r.category == category.id]
            if not mine:
                continue
            lines.append("")
            lines.append(
                self.texts(lang, "queue_category", category=category.label(lang), count=len(mine))
            )
            for report in mine[:QUEUE_PER_CATEGORY]:
                state = ""
                if report.holder_id:
                    state += self.texts(
                        lang, "queue_holder", staff=holders.get(report.holder_id) or "?"
                    )
                if report.reopened:
                    state += self.texts(lang, "queue_reopened")
                card = cards.get(report.number)
                link = _message_link(chat_id, card) if card else None
                key = "queue_line_link" if link else "queue_line"
                lines.append(
                    self.texts(
                        lang,
                        key,
                        number=report.number,
                        age=age(self.texts, lang, now - report.filed_at),
                        state=Html(state),  # built from catalogue texts, escaped already
                        link=link or "",
                    )
                )
            if len(mine) > QUEUE_PER_CATEGORY:
                more = len(mine) - QUEUE_PER_CATEGORY
                lines.append(self.texts(lang, "queue_more", count=more))
        return "\n".join(lines)

    async def history(self, chat_id: int, arg: str | None) -> str:
        """`/report <number>`: one report's history, for the group that handles it."""
        async with self.store.tx() as tx:
            community = await self._community_of(tx, chat_id)
            lang = self.workflow.language_of(community)
            match = re.fullmatch(r"#?(\d{1,9})", (arg or "").strip())
            if match is None:
                return self.texts(lang, "history_usage")
            report = await tx.report(int(match[1]))
            if report is None or community is None or report.community_id != community:
                return self.texts(lang, "refuse_wrong_chat" if report else "refuse_unknown")
            events = await tx.events_of(report.number)
            rider = await tx.rider_by_id(report.rider_id)
            names = {
                e.actor: await tx.staff_name(int(e.actor.split(":")[1]))
                for e in events
                if e.actor.startswith("staff:")
            }
        category = self.categories[report.category].label(lang)
        lines = [
            self.texts(
                lang,
                "history_title",
                number=report.number,
                category=category,
                community=self.workflow.name_of(report.community_id),
                status=status_name(self.texts, lang, report.status),
            )
        ]
        for event in events:
            if event.actor.startswith("rider:"):
                actor = self.texts(lang, "actor_rider", rider=rider.pseudonym)
            elif event.actor.startswith("staff:"):
                actor = names.get(event.actor) or "?"
            else:
                actor = self.texts(lang, "actor_system")
            lines.append(
                self.texts(
                    lang,
                    "history_line",
                    at=local_time(event.at, self.settings.timezone),
                    action=self.texts(lang, f"action_{event.action.value}"),
                    actor=actor,
                )
            )
            if event.note:
                lines.append(self.texts(lang, "history_note", note=event.note))
        return "\n".join(lines)


def _with_markup(answer: StaffAnswer, markup: Buttons) -> StaffAnswer:
    return StaffAnswer(toast=answer.toast, markup=markup, prompt=answer.prompt, reply=answer.reply)


def _message_link(chat_id: int, message_id: int) -> str | None:
    """t.me links reach messages of supergroups only (ids -100…)."""
    text = str(chat_id)
    if not text.startswith("-100"):
        return None
    return f"https://t.me/c/{text[4:]}/{message_id}"
