"""Field validators for the request translation: each names the offending field path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from ._common import AnthropicRequestError


def fail(param: str, problem: str) -> NoReturn:
    raise AnthropicRequestError(f"{param}: {problem}", param)


def obj(value: Any, param: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        fail(param, "must be an object")
    return value


def array(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        fail(param, "must be an array")
    return value


def string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        fail(param, "is required and must be a string" if value is None else "must be a string")
    return value


def number(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(param, "must be a number")
    return float(value)


def boolean(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        fail(param, "must be a boolean")
    return value
