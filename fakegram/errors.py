"""The one error type the Bot API side raises; the server turns it into Telegram's JSON shape."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer of the form `{"ok": false, "error_code": ..., "description": ...}`."""

    # How deep inside a parameter's JSON the problem was found; among the alternatives of a
    # union type, the deepest failure is the one that explains the mistake.
    depth: int = 0

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(problem: str, parameters: dict[str, Any] | None = None) -> ApiError:
    return ApiError(400, f"Bad Request: {problem}", parameters)


def forbidden(problem: str) -> ApiError:
    return ApiError(403, f"Forbidden: {problem}")
