"""Entity parsing as Telegram does it: HTML strictly, MarkdownV2 and Markdown roughly.

Each parser returns the plain text and its MessageEntity list (offsets in UTF-16 code units),
or raises ApiError 400 "can't parse entities: ..." with Telegram's wording where known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fakegram.errors import ApiError, bad_request

Entity = dict[str, Any]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _cant_parse(problem: str) -> ApiError:
    return bad_request(f"can't parse entities: {problem}")


@dataclass
class _Open:
    tag: str
    start: int  # UTF-16 offset in the output
    attrs: dict[str, str]
    byte_offset: int


_HTML_KINDS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME = re.compile(r"[A-Za-z0-9-]*")
_ATTR_NAME = re.compile(r"[A-Za-z0-9_-]+")


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0  # UTF-16 units emitted so far
        self.entities: list[Entity] = []

    def emit(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.length > start:
            self.entities.append(
                {"type": kind, "offset": start, "length": self.length - start}
                | {k: v for k, v in extra.items() if v is not None}
            )

    def result(self) -> tuple[str, list[Entity]]:
        ordered = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ordered


_CHAR_REF = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);")


def _unescape_html(text: str, start: int) -> tuple[str, int]:
    """Decode one `&...;` at text[start]; returns (decoded, next index). Unknown: literal '&'."""
    match = _CHAR_REF.match(text, start)
    if match is None:
        return "&", start + 1
    name = match.group(1)
    if name.startswith("#x"):
        return chr(int(name[2:], 16)), match.end()
    if name.startswith("#"):
        return chr(int(name[1:])), match.end()
    if name in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[name], match.end()
    return "&", start + 1


def _unescape_attr(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            decoded, i = _unescape_html(value, i)
            out.append(decoded)
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse_html(text: str) -> tuple[str, list[Entity]]:
    out = _Builder()
    stack: list[_Open] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            decoded, i = _unescape_html(text, i)
            out.emit(decoded)
        elif char != "<":
            j = i
            while j < n and text[j] not in "<&":
                j += 1
            out.emit(text[i:j])
            i = j
        elif text.startswith("</", i):
            offset = _byte_offset(text, i)
            end = text.find(">", i)
            if end < 0:
                raise _cant_parse(f"Unclosed end tag at byte offset {offset}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise _cant_parse(f"Unexpected end tag at byte offset {offset}")
            top = stack.pop()
            if top.tag != name:
                raise _cant_parse(
                    f'Unmatched end tag at byte offset {offset}, expected "</{top.tag}>", '
                    f'found "</{name}>"'
                )
            _close_html(top, stack, out)
            i = end + 1
        else:
            i = _open_html(text, i, stack, out)
    if stack:
        raise _cant_parse(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return out.result()


def _open_html(text: str, i: int, stack: list[_Open], out: _Builder) -> int:
    offset = _byte_offset(text, i)
    name_match = _TAG_NAME.match(text, i + 1)
    assert name_match is not None
    name = name_match.group(0).lower()
    if name not in _HTML_KINDS:
        raise _cant_parse(f'Unsupported start tag "{name}" at byte offset {offset}')
    j = name_match.end()
    attrs: dict[str, str] = {}
    while True:
        while j < len(text) and text[j].isspace():
            j += 1
        if j >= len(text):
            raise _cant_parse(f"Unclosed start tag at byte offset {offset}")
        if text[j] == ">":
            j += 1
            break
        attr = _ATTR_NAME.match(text, j)
        if attr is None:
            raise _cant_parse(f'Unexpected character in the tag "{name}" at byte offset {offset}')
        j = attr.end()
        value = ""
        if j < len(text) and text[j] == "=":
            j += 1
            if j < len(text) and text[j] in "\"'":
                close = text.find(text[j], j + 1)
                if close < 0:
                    raise _cant_parse(f"Unclosed start tag at byte offset {offset}")
                value = text[j + 1 : close]
                j = close + 1
            else:
                k = j
                while k < len(text) and not text[k].isspace() and text[k] != ">":
                    k += 1
                value, j = text[j:k], k
        attrs[attr.group(0).lower()] = _unescape_attr(value)
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise _cant_parse(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    if name == "tg-emoji" and not attrs.get("emoji-id"):
        raise _cant_parse(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}')
    stack.append(_Open(name, out.length, attrs, offset))
    return j


def _close_html(top: _Open, stack: list[_Open], out: _Builder) -> None:
    kind = _HTML_KINDS[top.tag]
    if kind == "text_link":
        href = top.attrs.get("href", "")
        if href:
            out.entity("text_link", top.start, url=href)
    elif kind == "code":
        language = top.attrs.get("class", "")
        parent = stack[-1] if stack else None
        if parent is not None and parent.tag == "pre" and language.startswith("language-"):
            parent.attrs["language"] = language.removeprefix("language-")
        else:
            out.entity("code", top.start)
    elif kind == "pre":
        out.entity("pre", top.start, language=top.attrs.get("language") or None)
    elif kind == "blockquote":
        out.entity(
            "expandable_blockquote" if "expandable" in top.attrs else "blockquote", top.start
        )
    elif kind == "custom_emoji":
        out.entity("custom_emoji", top.start, custom_emoji_id=top.attrs.get("emoji-id"))
    elif kind == "date_time":
        unix = top.attrs.get("unix", "")
        out.entity(
            "date_time",
            top.start,
            unix_time=int(unix) if unix.isdigit() else None,
            date_time_format=top.attrs.get("format") or None,
        )
    else:
        out.entity(kind, top.start)


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "*": ("bold", "Bold"),
    "_": ("italic", "Italic"),
    "__": ("underline", "Underline"),
    "~": ("strikethrough", "Strikethrough"),
    "||": ("spoiler", "Spoiler"),
}


def parse_markdown_v2(text: str) -> tuple[str, list[Entity]]:
    """Rough MarkdownV2: enforces the escaping rule bots trip over most, builds simple entities."""
    out = _Builder()
    stack: list[tuple[str, int, int]] = []  # (marker, start, byte offset)
    link: tuple[int, int] | None = None
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        char = text[i]
        offset = _byte_offset(text, i)
        if char == "\\" and i + 1 < n and 0 < ord(text[i + 1]) < 127:
            out.emit(text[i + 1])
            i += 2
        elif char == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = _find_unescaped(text, fence, i + len(fence))
            if end < 0:
                kind = "Pre" if fence == "```" else "Code"
                raise _cant_parse(f"Can't find end of {kind} entity at byte offset {offset}")
            body = text[i + len(fence) : end]
            language = None
            if fence == "```" and "\n" in body:
                first, rest = body.split("\n", 1)
                if first and " " not in first:
                    language, body = first, rest
            start = out.length
            out.emit(re.sub(r"\\([`\\])", r"\1", body))
            out.entity("pre" if fence == "```" else "code", start, language=language)
            i = end + len(fence)
        elif char in "*_~|":
            marker = text[i : i + 2] if text.startswith(("__", "||"), i) else char
            if marker == "|":
                raise _cant_parse(
                    "Character '|' is reserved and must be escaped with the preceding '\\'"
                )
            if stack and stack[-1][0] == marker:
                _, start, _ = stack.pop()
                out.entity(_MDV2_NAMES[marker][0], start)
            else:
                stack.append((marker, out.length, offset))
            i += len(marker)
        elif char == "[" and link is None:
            link = (out.length, offset)
            i += 1
        elif char == "]" and link is not None:
            if i + 1 >= n or text[i + 1] != "(":
                raise _cant_parse(f"Can't find end of a URL at byte offset {link[1]}")
            close = _find_unescaped(text, ")", i + 2)
            if close < 0:
                raise _cant_parse(f"Can't find end of a URL at byte offset {link[1]}")
            url = re.sub(r"\\(.)", r"\1", text[i + 2 : close])
            out.entity("text_link", link[0], url=url)
            link = None
            i = close + 1
        elif char == ">" and at_line_start:
            i += 1
        elif char in _MDV2_RESERVED:
            raise _cant_parse(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            out.emit(char)
            i += 1
        at_line_start = char == "\n"
    if link is not None:
        raise _cant_parse(f"Can't find end of a URL at byte offset {link[1]}")
    if stack:
        marker, _, offset = stack[-1]
        raise _cant_parse(
            f"Can't find end of {_MDV2_NAMES[marker][1]} entity at byte offset {offset}"
        )
    return out.result()


def _find_unescaped(text: str, needle: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(needle, i):
            return i
        i += 1
    return -1


def parse_markdown(text: str) -> tuple[str, list[Entity]]:
    """Rough legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url)."""
    out = _Builder()
    i, n = 0, len(text)
    kinds = {"*": "bold", "_": "italic"}
    while i < n:
        char = text[i]
        offset = _byte_offset(text, i)
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.emit(text[i + 1])
            i += 2
        elif char in "*_`[":
            fence = "```" if text.startswith("```", i) else char
            closer = "]" if char == "[" else fence
            end = text.find(closer, i + len(fence))
            if end < 0:
                raise _cant_parse(f"Can't find end of the entity starting at byte offset {offset}")
            start = out.length
            out.emit(text[i + len(fence) : end])
            if char == "[":
                url_end = text.find(")", end) if text.startswith("(", end + 1) else -1
                if url_end >= 0:
                    out.entity("text_link", start, url=text[end + 2 : url_end])
                    end = url_end
            elif char == "`":
                out.entity("pre" if fence == "```" else "code", start)
            else:
                out.entity(kinds[char], start)
            i = end + len(closer) if char != "[" else end + 1
        else:
            out.emit(char)
            i += 1
    return out.result()


def parse(text: str, parse_mode: str | None) -> tuple[str, list[Entity]]:
    mode = (parse_mode or "").lower()
    if mode == "":
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise bad_request("unsupported parse_mode")


def strip(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim surrounding whitespace as Telegram does, keeping entities on their characters."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    size = utf16_len(stripped)
    kept: list[Entity] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            kept.append(entity | {"offset": start, "length": end - start})
    return stripped, kept


def formatted(
    text: str, parse_mode: str | None, entities: list[Entity] | None
) -> tuple[str, list[Entity]]:
    """The text a message will hold: explicit entities win over parse_mode, as in Telegram."""
    if entities is not None:
        return strip(text, entities)
    return strip(*parse(text, parse_mode))
