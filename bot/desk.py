"""The report desk: the one service every handler calls. It decides; handlers only present."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot import callbacks
from bot.callbacks import MyPage, PickCategory, PickLanguage, SkipNote, Verdict
from bot.core import Core, Desk
from bot.delivery import Kind
from bot.domain import (
    Action,
    Button,
    Draft,
    Language,
    Photo,
    Rider,
    RouteKind,
    Status,
    Step,
)
from bot.geo import CommunityArea
from bot.images import IMAGE_TYPES, NotAnImage, strip_metadata
from bot.render import local_time, status_name
from bot.workflow import Workflow
from storage.store import Tx

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Person:
    """Who sent an update, as far as the desk needs to know."""

    telegram_id: int
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class Say:
    """One message to send in reply, already in the reader's language."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    location_button: str | None = None
    remove_keyboard: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    says: tuple[Say, ...] = ()
    # For a button press: the short notice on the rider's screen, and the new text of the
    # message that carried the button (its buttons go, so it cannot be pressed twice).
    toast: str | None = None
    edit: str | None = None
    edit_buttons: tuple[tuple[Button, ...], ...] = ()


class ReportDesk(Desk):
    def __init__(self, core: Core, workflow: Workflow) -> None:
        super().__init__(core)
        self.workflow = workflow

    # riders ------------------------------------------------------------------------------------

    async def start(self, who: Person) -> Answer:
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
        return self._say(rider.language, "start")

    async def help(self, who: Person) -> Answer:
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
        return self._say(rider.language, "help")

    async def link_in_private(self, who: Person) -> Answer:
        """`/link` belongs in the staff group; say so in the rider's own language."""
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
        return self._say(rider.language, "link_private")

    async def unsupported(self, who: Person) -> Answer:
        """A sticker, voice note, contact or anything else that cannot be part of a report."""
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
            draft = await self._draft(tx, rider)
        if draft is not None:
            return self._hint_for(rider.language, draft)
        return self._say(rider.language, "hint_unsupported")

    async def choose_language(self, who: Person) -> Answer:
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
        buttons = (
            (
                Button("中文", callbacks.encode(PickLanguage(Language.ZH))),
                Button("English", callbacks.encode(PickLanguage(Language.EN))),
            ),
        )
        return Answer(says=(Say(self.texts(rider.language, "lang_choose"), buttons=buttons),))

    async def cancel(self, who: Person) -> Answer:
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
            dropped = await tx.drop_draft(rider.id)
        key = "cancelled" if dropped else "nothing_to_cancel"
        return Answer(says=(Say(self.texts(rider.language, key), remove_keyboard=True),))

    async def photo(self, who: Person, photo: Photo, caption: str | None) -> Answer:
        """A compressed photo: start a report, or replace the photo of the one in progress."""
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
            return await self._take_photo(tx, rider, photo, caption)

    async def image_file(
        self,
        who: Person,
        *,
        mime_type: str | None,
        size: int | None,
        fetch: Callable[[], Awaitable[bytes]],
        caption: str | None,
    ) -> Answer:
        """A photo sent as a file: checked, downloaded, stripped of metadata, then as a photo."""
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
        lang = rider.language
        if mime_type not in IMAGE_TYPES:
            return self._say(lang, "not_an_image")
        limit = self.settings.max_photo_bytes
        if size is not None and size > limit:
            return self._say(lang, "file_too_big", size=_mb(size), limit=_mb(limit))
        data = await fetch()
        if len(data) > limit:
            return self._say(lang, "file_too_big", size=_mb(len(data)), limit=_mb(limit))
        try:
            clean = strip_metadata(data)
        except NotAnImage:
            return self._say(lang, "image_unreadable")
        async with self.store.tx() as tx:
            refusal = await self._refuse_new_report(tx, rider)
            if refusal is not None:
                return refusal
            media_id = await tx.add_media(clean, "image/jpeg", self.clock())
            return await self._take_photo(tx, rider, Photo(media_id=media_id), caption)

    async def location(self, who: Person, lat: float, lon: float) -> Answer:
        """A location, a venue, or the first point of a live location."""
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat + lon):
                return self._say(rider.language, "bad_location")
            draft = await self._draft(tx, rider)
            if draft is None:
                refusal = await self._refuse_new_report(tx, rider)
                if refusal is not None:
                    return refusal
                draft = Draft(rider_id=rider.id)
            return await self._advance(tx, rider, replace(draft, lat=lat, lon=lon))

    async def text(self, who: Person, text: str) -> Answer:
        """Plain text: the note when one is asked for, otherwise a hint."""
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
            draft = await self._draft(tx, rider)
            if draft is None:
                return self._say(rider.language, "hint_idle")
            if draft.step is not Step.NOTE:
                return self._hint_for(rider.language, draft)
            note = text.strip()
            refusal = self._check_note(rider.language, note)
            if refusal is not None:
                return refusal
            return await self._advance(tx, rider, replace(draft, note=note))

    async def press(self, who: Person, data: str | None) -> Answer:
        """A button in the rider's chat; the data is re-checked against the draft."""
        press = callbacks.decode(data)
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
            lang = rider.language
            match press:
                case PickLanguage(language):
                    await tx.set_language(rider.id, language)
                    done = self.texts(language, "lang_set")
                    return Answer(toast=done, edit=done)
                case PickCategory(category_id) if category_id in self.categories:
                    draft = await self._draft(tx, rider)
                    if draft is None or draft.step not in (Step.CATEGORY, Step.NOTE):
                        return Answer(toast=self.texts(lang, "stale_button"), edit="")
                    label = self.categories[category_id].label(lang)
                    answer = await self._advance(tx, rider, replace(draft, category=category_id))
                    chosen = self.texts(lang, "chosen_category", category=label)
                    return replace(answer, toast=label, edit=chosen)
                case Verdict(number, fixed):
                    answer = await self._verdict(tx, rider, number, fixed)
                    self.notify()
                    return answer
                case MyPage(page):
                    text, buttons = await self._my_page(tx, rider, page)
                    return Answer(edit=text, edit_buttons=buttons)
                case SkipNote():
                    draft = await self._draft(tx, rider)
                    if draft is None or draft.step is not Step.NOTE:
                        return Answer(toast=self.texts(lang, "stale_button"), edit="")
                    answer = await self._advance(tx, rider, replace(draft, note=""))
                    skipped = self.texts(lang, "note_skipped")
                    return replace(answer, toast=skipped, edit=skipped)
            return Answer(toast=self.texts(lang, "stale_button"))

    async def my_reports(self, who: Person) -> Answer:
        """`/my`: the rider's reports of the last 30 days, newest first, a page at a time."""
        async with self.store.tx() as tx:
            rider = await self._rider(tx, who)
            text, buttons = await self._my_page(tx, rider, 0)
        return Answer(says=(Say(text, buttons=buttons),))

    async def _my_page(
        self, tx: Tx, rider: Rider, page: int
    ) -> tuple[str, tuple[tuple[Button, ...], ...]]:
        lang = rider.language
        size = 10
        since = self.clock() - timedelta(days=30)
        mine, total = await tx.reports_of_rider(rider.id, since, page * size, size)
        if total == 0:
            return self.texts(lang, "my_empty"), ()
        lines = [self.texts(lang, "my_title", total=total)]
        for report in mine:
            lines.append(
                self.texts(
                    lang,
                    "my_line",
                    number=report.number,
                    category=self.categories[report.category].label(lang),
                    community=self.workflow.name_of(report.community_id),
                    status=status_name(self.texts, lang, report.status),
                    filed=local_time(report.filed_at, self.settings.timezone),
                )
            )
        row: list[Button] = []
        if page > 0:
            row.append(Button(self.texts(lang, "btn_newer"), callbacks.encode(MyPage(page - 1))))
        if (page + 1) * size < total:
            row.append(Button(self.texts(lang, "btn_older"), callbacks.encode(MyPage(page + 1))))
        return "\n".join(lines), ((tuple(row),) if row else ())

    async def _verdict(self, tx: Tx, rider: Rider, number: int, fixed: bool) -> Answer:
        """The rider says whether it is really fixed: once per resolution, within the window."""
        lang = rider.language
        report = await tx.report(number)
        if report is None or report.rider_id != rider.id:
            return Answer(toast=self.texts(lang, "stale_button"))
        if report.status is not Status.RESOLVED or report.rider_answered:
            return Answer(toast=self.texts(lang, "verdict_already"), edit="")
        window = timedelta(days=self.settings.confirm_window_days)
        if report.resolved_at is not None and self.clock() - report.resolved_at > window:
            return Answer(toast=self.texts(lang, "verdict_expired", number=number), edit="")
        changes: dict[str, object]
        if fixed:
            action, to, changes = Action.CONFIRMED, Status.CONFIRMED, {"rider_answered": True}
        else:
            action, to = Action.REOPENED, Status.OPEN
            changes = {
                "rider_answered": True,
                "reopened": True,
                "holder_id": None,
                "held_since": None,
            }
        moved = await tx.transition(
            number,
            frm={Status.RESOLVED},
            to=to,
            action=action,
            actor=f"rider:{rider.id}",
            at=self.clock(),
            expect={"rider_answered": False},
            changes=changes,
        )
        if moved is None:
            return Answer(toast=self.texts(lang, "verdict_already"), edit="")
        await self.workflow.after(tx, moved, action)
        done = self.texts(lang, "verdict_thanks" if fixed else "verdict_reopened", number=number)
        return Answer(toast=done, says=(Say(done),), edit="")

    # the draft's progress ----------------------------------------------------------------------

    async def _take_photo(self, tx: Tx, rider: Rider, photo: Photo, caption: str | None) -> Answer:
        lang = rider.language
        note = caption.strip() if caption and caption.strip() else None
        if note is not None:
            refusal = self._check_note(lang, note)
            if refusal is not None:
                return refusal
        draft = await self._draft(tx, rider)
        prefix: tuple[Say, ...] = ()
        if draft is None:
            refusal = await self._refuse_new_report(tx, rider)
            if refusal is not None:
                return refusal
            draft = Draft(rider_id=rider.id)
        elif draft.photo is not None:
            prefix = (Say(self.texts(lang, "photo_replaced")),)
        draft = replace(draft, photo=photo, note=note if note is not None else draft.note)
        answer = await self._advance(tx, rider, draft)
        return replace(answer, says=prefix + answer.says)

    async def _advance(self, tx: Tx, rider: Rider, draft: Draft) -> Answer:
        """Save the draft and ask for what is missing, or file the report when nothing is."""
        lang = rider.language
        now = self.clock()
        if draft.photo is None:
            await tx.save_draft(replace(draft, step=Step.PHOTO), now)
            return self._say(lang, "ask_photo")
        if not draft.has_location:
            await tx.save_draft(replace(draft, step=Step.LOCATION), now)
            button = self.texts(lang, "ask_location_button")
            return Answer(says=(Say(self.texts(lang, "ask_location"), location_button=button),))
        if draft.category is None:
            await tx.save_draft(replace(draft, step=Step.CATEGORY), now)
            return Answer(says=(self._category_question(lang),))
        if draft.note is None:
            await tx.save_draft(replace(draft, step=Step.NOTE), now)
            skip = Button(self.texts(lang, "skip_button"), callbacks.encode(SkipNote()))
            return Answer(says=(Say(self.texts(lang, "ask_note"), buttons=((skip,),)),))
        saved = await tx.save_draft(draft, now)
        return await self._file(tx, rider, saved, now)

    async def _file(self, tx: Tx, rider: Rider, draft: Draft, now: datetime) -> Answer:
        assert draft.photo is not None and draft.lat is not None and draft.lon is not None
        assert draft.category is not None
        if not await tx.take_draft(draft):
            return Answer()  # another update of this rider filed or changed it a moment ago
        route = self.router.route(draft.lat, draft.lon)
        community = route.community_id
        report = await tx.add_report(
            rider_id=rider.id,
            category=draft.category,
            lat=draft.lat,
            lon=draft.lon,
            photo=draft.photo,
            note=draft.note or None,
            status=Status.OPEN if community is not None else Status.UNROUTED,
            community_id=community,
            route_kind=RouteKind(route.kind.value),
            route_distance_m=route.distance_m,
            now=now,
        )
        lang = rider.language
        label = self.categories[report.category].label(lang)
        if community is not None:
            n = report.number
            await self.workflow.post_card(tx, n, community, key=f"card:{n}:{community}")
            if self.categories[report.category].urgent:
                # Urgent (fire safety): supervisors see it at once, not when it is late.
                for supervisor in self.settings.supervisor_chat_ids:
                    await tx.enqueue(
                        key=f"urgent:{report.number}:{supervisor}",
                        kind=Kind.SUPERVISOR_CARD,
                        chat_id=supervisor,
                        report_id=report.number,
                        now=now,
                    )
            confirmation = self.texts(
                lang,
                "filed",
                number=report.number,
                category=label,
                community=self.router.area(community).name,
            )
        else:
            for chat_id in self.settings.supervisor_chat_ids:
                await tx.enqueue(
                    key=f"unrouted:{report.number}:{chat_id}",
                    kind=Kind.SUPERVISOR_CARD,
                    chat_id=chat_id,
                    report_id=report.number,
                    now=now,
                )
            confirmation = self.texts(lang, "filed_unrouted", number=report.number, category=label)
        await tx.enqueue(
            key=f"filed:{report.number}",
            kind=Kind.TEXT,
            chat_id=rider.telegram_id,
            report_id=report.number,
            payload={"text": confirmation, "remove_keyboard": True},
            now=now,
        )
        log.info("report filed", extra={"report": report.number, "community": community})
        self.notify()
        return Answer()

    # staff groups ------------------------------------------------------------------------------

    def community_language(self, community_id: str | None) -> Language:
        if community_id is None:
            return self.settings.default_language
        return Language(self.router.area(community_id).language)

    async def link(self, chat_id: int, user_id: int, arg: str | None, *, is_admin: bool) -> str:
        """Make this group the staff group of a community, if an admin of the group asks."""
        lang = self.settings.default_language
        known = "\n".join(f"• {a.id}: {a.name}" for a in self.router.areas)
        if not is_admin:
            return self.texts(lang, "link_not_admin")
        if not arg:
            return self.texts(lang, "link_usage", communities=known)
        community_id = arg.strip().lower()
        if community_id not in {a.id for a in self.router.areas}:
            return self.texts(lang, "link_unknown", id=arg.strip(), communities=known)
        now = self.clock()
        async with self.store.tx() as tx:
            await tx.link(community_id, chat_id, user_id, now)
            released = await tx.release_waiting(community_id, chat_id, now)
        lang = self.community_language(community_id)
        reply = self.texts(lang, "link_done", community=self.router.area(community_id).name)
        if released:
            reply += "\n" + self.texts(lang, "link_released", count=released)
            self.notify()
        return reply

    async def bot_left(self, chat_id: int) -> None:
        """The bot was removed from a group: stop sending there and tell the supervisors."""
        async with self.store.tx() as tx:
            community_id = await tx.unlink_chat(chat_id)
            await tx.hold_chat(chat_id)
            if community_id is not None:
                await self._tell_supervisors_removed(tx, community_id, chat_id)
        self.notify()

    async def _tell_supervisors_removed(self, tx: Tx, community_id: str, chat_id: int) -> None:
        now = self.clock()
        lang = self.settings.default_language
        text = self.texts(
            lang, "bot_removed", community=self.router.area(community_id).name, id=community_id
        )
        for supervisor in self.settings.supervisor_chat_ids:
            await tx.enqueue(
                key=f"removed:{community_id}:{chat_id}:{supervisor}:{now.isoformat()}",
                kind=Kind.TEXT,
                chat_id=supervisor,
                payload={"text": text},
                now=now,
            )

    async def chat_moved(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup; its link and queued messages follow it."""
        async with self.store.tx() as tx:
            await tx.move_chat(old_chat_id, new_chat_id)
        self.notify()

    async def seed_links(self, areas: Sequence[CommunityArea]) -> None:
        """Groups named in the communities file count as linked until /link says otherwise."""
        now = self.clock()
        async with self.store.tx() as tx:
            linked = await tx.links()
            taken = set(linked.values())
            for area in areas:
                if area.chat_id is not None and area.id not in linked and area.chat_id not in taken:
                    await tx.link(area.id, area.chat_id, None, now)
                    await tx.release_waiting(area.id, area.chat_id, now)

    # helpers -----------------------------------------------------------------------------------

    async def _rider(self, tx: Tx, who: Person) -> Rider:
        lang = Language.from_telegram(who.language_code, self.settings.default_language)
        return await tx.rider(who.telegram_id, lang, self.clock())

    async def _draft(self, tx: Tx, rider: Rider) -> Draft | None:
        """The rider's draft, unless it has been left alone for longer than a working day."""
        draft = await tx.draft(rider.id)
        if draft is None or draft.updated_at is None:
            return draft
        if self.clock() - draft.updated_at > timedelta(hours=self.settings.draft_ttl_hours):
            await tx.drop_draft(rider.id)
            return None
        return draft

    async def _refuse_new_report(self, tx: Tx, rider: Rider) -> Answer | None:
        now = self.clock()
        limit = self.settings.reports_per_hour
        window = timedelta(hours=1)
        if await tx.reports_filed_since(rider.id, now - window) < limit:
            return None
        return self._say(rider.language, "rate_limited", limit=limit, minutes=60)

    def _check_note(self, lang: Language, note: str) -> Answer | None:
        limit = self.settings.max_note_length
        if len(note) > limit:
            return self._say(lang, "note_too_long", length=len(note), limit=limit)
        return None

    def _category_question(self, lang: Language, key: str = "ask_category") -> Say:
        buttons = tuple(
            (Button(c.label(lang), callbacks.encode(PickCategory(c.id))),)
            for c in self.categories.values()
        )
        return Say(self.texts(lang, key), buttons=buttons)

    def _hint_for(self, lang: Language, draft: Draft) -> Answer:
        match draft.step:
            case Step.LOCATION:
                button = self.texts(lang, "ask_location_button")
                text = self.texts(lang, "hint_waiting_location")
                return Answer(says=(Say(text, location_button=button),))
            case Step.PHOTO:
                return self._say(lang, "hint_waiting_photo")
            case Step.CATEGORY:
                return Answer(says=(self._category_question(lang, "hint_waiting_category"),))
            case Step.NOTE:
                skip = Button(self.texts(lang, "skip_button"), callbacks.encode(SkipNote()))
                return Answer(says=(Say(self.texts(lang, "ask_note"), buttons=((skip,),)),))

    def _say(self, lang: Language, key: str, **params: object) -> Answer:
        return Answer(says=(Say(self.texts(lang, key, **params)),))


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.0f}"
