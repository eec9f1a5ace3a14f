"""The Bot API as written in api.json, and the validation of requests against it.

Form data arrives as strings; JSON bodies arrive typed. Both are coerced to Python values of the
declared types, objects are checked field by field against `types`, and the length limits written
in the descriptions ("1-4096 characters", "1-64 bytes", "must include 2-10 items") are enforced.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakegram import formatting
from fakegram.errors import ApiError, bad_request

SHARED_API_JSON = Path(__file__).resolve().parents[2] / "shared/telegram-bot-api/api.json"
BUNDLED_API_JSON = Path(__file__).resolve().parent / "botapi_spec/api.json"
# The shared copy beside the repository when there is one, else the copy shipped with fakegram.
DEFAULT_API_JSON = SHARED_API_JSON if SHARED_API_JSON.is_file() else BUNDLED_API_JSON


def api_json_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("FAKEGRAM_API_JSON") or DEFAULT_API_JSON)


@dataclass(frozen=True, slots=True)
class Upload:
    """One file part of a multipart/form-data request."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    types: tuple[str, ...]
    required: bool
    description: str


@dataclass(frozen=True, slots=True)
class TypeSpec:
    name: str
    fields: tuple[Field, ...] | None
    subtypes: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True)
class Limit:
    low: int
    high: int
    unit: str  # "characters", "bytes" or "items"
    after_entities: bool


_STRING_LIMIT = re.compile(r"(\d+)-(\d+) (characters|bytes|Bytes)")
_ARRAY_LIMIT = re.compile(r"(\d+)-(\d+) (?:items|identifiers|answer options|tasks)\b")
_DISCRIMINATOR = re.compile(r"(?:must be|always) \W?\"?([A-Za-z_]+)")
_EXCLUSIVE = re.compile(r"(Exactly|At most) one of the fields other than (.+?) must be used")


def limit_of(field: Field) -> Limit | None:
    if any(t.startswith("Array of") for t in field.types):
        match = _ARRAY_LIMIT.search(field.description)
        if match:
            return Limit(int(match.group(1)), int(match.group(2)), "items", False)
        return None
    match = _STRING_LIMIT.search(field.description)
    if match is None:
        return None
    return Limit(
        int(match.group(1)),
        int(match.group(2)),
        match.group(3).lower(),
        "after entit" in field.description,
    )


# Telegram's own wording for the limits bots hit most; everything else gets a generic sentence.
_LIMIT_MESSAGES: dict[tuple[str, str], tuple[str, str]] = {
    # (field, where) -> (too long, empty)
    ("text", "message"): ("message is too long", "message text is empty"),
    ("caption", "message"): ("message caption is too long", "message caption is empty"),
    ("callback_data", "InlineKeyboardButton"): ("BUTTON_DATA_INVALID", "BUTTON_DATA_INVALID"),
    ("command", "BotCommand"): ("BOT_COMMAND_INVALID", "BOT_COMMAND_INVALID"),
    ("description", "BotCommand"): (
        "BOT_COMMAND_DESCRIPTION_INVALID",
        "BOT_COMMAND_DESCRIPTION_INVALID",
    ),
}
_MESSAGE_METHODS = re.compile(r"^(send|edit|copy)", re.IGNORECASE)
_FILE_PARAMS = (
    "photo",
    "document",
    "audio",
    "video",
    "animation",
    "voice",
    "video_note",
    "sticker",
)


class ApiSpec:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.version: str = str(raw.get("version", "?"))
        self.methods: dict[str, tuple[Field, ...]] = {
            name: tuple(_field(f) for f in method.get("fields", []))
            for name, method in raw["methods"].items()
        }
        self._lower = {name.lower(): name for name in self.methods}
        self.types: dict[str, TypeSpec] = {
            name: TypeSpec(
                name,
                tuple(_field(f) for f in t["fields"]) if "fields" in t else None,
                tuple(t.get("subtypes", [])),
                " ".join(t.get("description", [])),
            )
            for name, t in raw["types"].items()
        }

    @classmethod
    def load(cls, path: Path) -> ApiSpec:
        with path.open(encoding="utf-8") as handle:
            return cls(json.load(handle))

    def canonical(self, method: str) -> str | None:
        return self._lower.get(method.lower())

    def skeleton(self, type_name: str, **known: Any) -> dict[str, Any]:
        """An object of this type: the known values, and zero values for other required fields.

        Clients such as python-telegram-bot refuse objects that lack a required field, so every
        answer is built through here and stays complete as api.json grows.
        """
        spec = self.types[type_name]
        result: dict[str, Any] = {}
        for field in spec.fields or ():
            value = known.get(field.name)
            if value is not None:
                result[field.name] = value
            elif field.required:
                result[field.name] = self._zero(field.types[0])
        return result

    def _zero(self, type_name: str) -> Any:
        zeros: dict[str, Any] = {"Integer": 0, "Float": 0.0, "Boolean": False, "String": ""}
        if type_name in zeros:
            return zeros[type_name]
        if type_name.startswith("Array of"):
            return []
        spec = self.types.get(type_name)
        if spec is not None and spec.subtypes:
            return self.skeleton(spec.subtypes[0]) if spec.subtypes[0] in self.types else {}
        return self.skeleton(type_name) if spec is not None else {}

    # ---- requests -----------------------------------------------------------------------

    def validate(
        self, method: str, raw: dict[str, Any], uploads: dict[str, Upload]
    ) -> dict[str, Any]:
        """Coerce and check the parameters of a call; returns them as typed Python values."""
        fields = {f.name: f for f in self.methods[method]}
        attached = _attach_names(raw)
        for name in raw:
            if name not in fields:
                raise bad_request(f"unknown parameter {name}")
        for name in uploads:
            if name not in fields and name not in attached.values():
                raise bad_request(f"unknown parameter {name}")
        params: dict[str, Any] = {}
        for field in fields.values():
            value: Any = raw.get(field.name)
            if value is None and field.name in uploads:
                value = uploads[field.name]
            if value is None or (
                value == "" and not field.required and "String" not in field.types
            ):
                if field.required:
                    raise _missing(method, field.name)
                continue
            params[field.name] = self._top(field, value)
        for name, attach in attached.items():
            if attach not in uploads:
                raise bad_request(f"file attach://{attach} not found in the request ({name})")
        self._check_limits(method, fields.values(), params, method)
        return params

    def _top(self, field: Field, value: Any) -> Any:
        errors: list[ApiError] = []
        for type_name in field.types:
            try:
                return self._coerce(type_name, value, field.name, top=True)
            except ApiError as error:
                errors.append(error)
        raise _best(errors, field.name, field.types)

    def _coerce(self, type_name: str, value: Any, path: str, *, top: bool) -> Any:
        if type_name == "Integer":
            return _integer(value, path)
        if type_name == "Float":
            return _float(value, path)
        if type_name == "Boolean":
            return _boolean(value, path, lenient=top)
        if type_name == "String":
            if isinstance(value, str):
                return value
            if top and isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
            raise _wrong_type(path, "String")
        if type_name == "InputFile":
            if isinstance(value, Upload):
                return value
            raise _wrong_type(path, "InputFile (a multipart/form-data upload)")
        if isinstance(value, Upload):
            raise _wrong_type(path, type_name)
        if type_name.startswith("Array of "):
            items = _json_if_string(value, path) if top else value
            if not isinstance(items, list):
                raise _shape(path, f"can't parse {path}: expected a JSON array")
            inner = type_name.removeprefix("Array of ")
            return [
                self._coerce(inner, item, f"{path}[{i}]", top=False) for i, item in enumerate(items)
            ]
        return self._object(type_name, _json_if_string(value, path) if top else value, path)

    def _object(self, type_name: str, value: Any, path: str) -> Any:
        spec = self.types.get(type_name)
        if spec is None:
            raise _shape(path, f"can't parse {path}: unknown type {type_name}")
        if spec.subtypes:
            return self._subtype(spec, value, path)
        if isinstance(value, str) and "String can be used instead of this object" in (
            spec.description
        ):
            return {"text": value}
        if not isinstance(value, dict):
            raise _shape(path, f"can't parse {path}: expected a JSON object ({type_name})")
        if spec.fields is None:
            return value
        fields = {f.name: f for f in spec.fields}
        for key in value:
            if key not in fields:
                raise _shape(path, f'can\'t parse {path}: unknown field "{key}" in {type_name}')
        result: dict[str, Any] = {}
        for field in spec.fields:
            item = value.get(field.name)
            if item is None:
                if field.required:
                    raise _shape(
                        path,
                        f'can\'t parse {path}: field "{field.name}" of {type_name} is required',
                    )
                continue
            result[field.name] = self._nested(field, item, f"{path}.{field.name}")
        try:
            _check_exclusive(spec, result, path)
            self._check_limits(type_name, spec.fields, result, path)
        except ApiError as error:
            error.depth = _shape(path, "").depth + 1
            raise
        return result

    def _nested(self, field: Field, value: Any, path: str) -> Any:
        errors: list[ApiError] = []
        for type_name in field.types:
            try:
                return self._coerce(type_name, value, path, top=False)
            except ApiError as error:
                errors.append(error)
        raise _best(errors, path, field.types)

    def _subtype(self, spec: TypeSpec, value: Any, path: str) -> Any:
        candidates: list[str] = []
        if isinstance(value, dict):
            for sub in spec.subtypes:
                wanted = self._discriminator(sub)
                if wanted is not None and value.get(wanted[0]) == wanted[1]:
                    candidates.append(sub)
        if not candidates:
            known = [self._discriminator(sub) for sub in spec.subtypes]
            keys = {d[0] for d in known if d is not None}
            if isinstance(value, dict) and None not in known and len(keys) == 1:
                key = keys.pop()
                raise _shape(path, f'can\'t parse {path}: unsupported {key} "{value.get(key)}"')
            candidates = list(spec.subtypes)
        errors: list[ApiError] = []
        for sub in candidates:
            try:
                if sub in self.types:
                    return self._object(sub, value, path)
                return self._coerce(sub, value, path, top=False)
            except ApiError as error:
                errors.append(error)
        if len(candidates) == 1 or not isinstance(value, dict):
            raise errors[0]
        raise _shape(path, f"can't parse {path}: not a valid {spec.name}")

    def _discriminator(self, type_name: str) -> tuple[str, str] | None:
        spec = self.types.get(type_name)
        if spec is None or spec.fields is None:
            return None
        for field in spec.fields:
            if field.name in ("type", "status", "source"):
                match = _DISCRIMINATOR.search(field.description)
                if match:
                    return field.name, match.group(1)
        return None

    def _check_limits(
        self, where: str, fields: Iterable[Field], values: dict[str, Any], path: str
    ) -> None:
        for field in fields:
            value = values.get(field.name)
            limit = limit_of(field)
            if value is None or limit is None:
                continue
            if limit.unit == "items":
                if isinstance(value, list) and not limit.low <= len(value) <= limit.high:
                    raise bad_request(f"{field.name} must include {limit.low}-{limit.high} items")
                continue
            if not isinstance(value, str):
                continue
            text = value
            if limit.after_entities:
                mode_key = f"{field.name}_parse_mode"
                mode = values.get(mode_key, values.get("parse_mode"))
                entities_key = "entities" if field.name == "text" else f"{field.name}_entities"
                text, _ = formatting.formatted(value, mode, values.get(entities_key))
            size = len(text.encode("utf-8")) if limit.unit == "bytes" else len(text)
            if limit.low <= size <= limit.high:
                continue
            key_where = (
                "message"
                if _MESSAGE_METHODS.match(where) or where.startswith("InputMedia")
                else where
            )
            label = field.name if path == where else f"{path}.{field.name}"
            generic = f"{label} must be {limit.low}-{limit.high} {limit.unit} long"
            long_msg, empty_msg = _LIMIT_MESSAGES.get((field.name, key_where), (generic, generic))
            raise bad_request(long_msg if size > limit.high else empty_msg)
        if where == "BotCommand":
            command = values.get("command", "")
            if isinstance(command, str) and not re.fullmatch(r"[a-z0-9_]{1,32}", command):
                raise bad_request("BOT_COMMAND_INVALID")
        secret = values.get("secret_token")
        if (
            where == "setWebhook"
            and isinstance(secret, str)
            and not re.fullmatch(r"[A-Za-z0-9_-]*", secret)
        ):
            raise bad_request("secret token contains unallowed characters")


def _field(raw: dict[str, Any]) -> Field:
    return Field(raw["name"], tuple(raw["types"]), bool(raw["required"]), raw["description"])


def _missing(method: str, name: str) -> ApiError:
    if name == "text" and _MESSAGE_METHODS.match(method):
        return bad_request("message text is empty")
    if name in _FILE_PARAMS:
        return bad_request(f"there is no {name} in the request")
    return bad_request(f"{name} is empty")


def _wrong_type(path: str, expected: str) -> ApiError:
    return _shape(path, f'wrong type of the parameter "{path}": expected {expected}')


def _best(errors: list[ApiError], path: str, types: tuple[str, ...]) -> ApiError:
    """The most informative failure among the alternatives of a union type: the deepest one."""
    if len(errors) == 1:
        return errors[0]
    own = f'Bad Request: wrong type of the parameter "{path}"'
    inner = [e for e in errors if not e.description.startswith(own)]
    if not inner:
        return _wrong_type(path, " or ".join(types))
    return max(inner, key=lambda e: e.depth)


def _shape(path: str, problem: str) -> ApiError:
    error = bad_request(problem)
    error.depth = 1 + path.count(".") + path.count("[")
    return error


def _integer(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise _wrong_type(path, "Integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise _wrong_type(path, "Integer")


def _float(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise _wrong_type(path, "Float")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _wrong_type(path, "Float")


def _boolean(value: Any, path: str, *, lenient: bool) -> bool:
    if isinstance(value, bool):
        return value
    if lenient and isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if lenient and value in (0, 1) and not isinstance(value, float):
        return bool(value)
    raise _wrong_type(path, "Boolean")


def _json_if_string(value: Any, path: str) -> Any:
    """Objects and arrays arrive JSON-serialized in form data (and sometimes in JSON bodies)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _shape(path, f"can't parse {path} JSON object") from None


def _check_exclusive(spec: TypeSpec, values: dict[str, Any], path: str) -> None:
    match = _EXCLUSIVE.search(spec.description)
    if match is None or spec.fields is None:
        return
    free = set(re.findall(r"[a-z_]+", match.group(2))) - {"and"}
    chosen = [name for name in values if name not in free]
    if spec.name == "InlineKeyboardButton":
        if not chosen:
            raise bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline "
                "keyboard"
            )
        if len(chosen) > 1:
            raise bad_request(
                f"can't parse inline keyboard button: only one of {', '.join(chosen)} may be set"
            )
    elif len(chosen) > 1:
        raise bad_request(f"can't parse {path}: only one of {', '.join(chosen)} may be set")


_ATTACH = re.compile(r"^attach://(.+)$")


def _attach_names(raw: dict[str, Any]) -> dict[str, str]:
    """attach://<name> references anywhere in the (possibly JSON-serialized) parameters."""
    found: dict[str, str] = {}

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str):
            match = _ATTACH.match(value)
            if match:
                found[where] = match.group(1)
            elif value[:1] in "[{":
                try:
                    walk(json.loads(value), where)
                except ValueError:
                    return
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}")

    for name, value in raw.items():
        walk(value, name)
    return found
