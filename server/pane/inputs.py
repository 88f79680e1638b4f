"""Validation of the pane's JSON input: every bad value becomes an ApiError with a code the
pane (and the API tests) can rely on. Pure: no database, no Flask request."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..crm.base import RecordRef
from ..errors import ApiError
from ..mail.base import parse_participant

RECORD_TYPES = ("contact", "lead", "account", "opportunity")
MAX_RECORD_ID = 64
MAX_LINKS = 50
# C0 and C1 control characters (tab and line breaks included): never part of an id, an address,
# a name or a one-line setting, and a way to smuggle line breaks into logs and headers.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def require_object(value: Any, what: str = "request body") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ApiError(400, "invalid_json", f"{what} must be a JSON object")
    return value


def field(
    data: Mapping[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    *,
    required: bool = True,
    default: Any = None,
    max_length: int | None = None,
    oversize_status: int = 400,
    single_line: bool = False,
) -> Any:
    """One field of a JSON object, type-checked (bool is not an int here); `single_line`
    strings may hold no control character."""
    if name not in data or data[name] is None:
        if required:
            raise ApiError(400, "missing_field", f"{name} is required", field=name)
        return default
    value = data[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ApiError(400, "wrong_type", f"{name} must be {_kind_name(kinds)}", field=name)
    if not isinstance(value, kinds):
        raise ApiError(400, "wrong_type", f"{name} must be {_kind_name(kinds)}", field=name)
    if max_length is not None and isinstance(value, str | list) and len(value) > max_length:
        code = "too_large" if oversize_status == 413 else "too_long"
        raise ApiError(oversize_status, code, f"{name} is longer than {max_length}", field=name)
    if single_line and isinstance(value, str) and _CONTROL.search(value):
        raise ApiError(
            400, "invalid_string", f"{name} must not hold control characters", field=name
        )
    return value


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        list: "a list",
        dict: "an object",
        float: "a number",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def text(
    data: Mapping[str, Any], name: str, *, max_length: int, required: bool = True, default: str = ""
) -> str:
    value = field(
        data,
        name,
        str,
        required=required,
        default=default,
        max_length=max_length,
        single_line=True,
    )
    if required and not value.strip():
        raise ApiError(400, "missing_field", f"{name} is required", field=name)
    return value


def email_address(data: Mapping[str, Any], name: str) -> str:
    """A required, syntactically valid address, lower-cased."""
    raw = text(data, name, max_length=320)
    found = parse_participant(raw)
    if not found.valid:
        raise ApiError(
            400, "invalid_address", f'"{raw[:100]}" is not a valid email address', field=name
        )
    return found.address


def record_ref(value: Any, name: str = "record") -> RecordRef:
    data = require_object(value, name)
    kind = field(data, "type", str)
    if kind not in RECORD_TYPES:
        raise ApiError(
            400,
            "invalid_record_type",
            f"{name}.type must be one of {', '.join(RECORD_TYPES)}",
            field=name,
        )
    raw_id = field(data, "id", (str, int), single_line=True)
    record = str(raw_id).strip()
    if not record or len(record) > MAX_RECORD_ID:
        raise ApiError(400, "invalid_record_id", f"{name}.id is not a record id", field=name)
    return RecordRef(kind, record)  # type: ignore[arg-type]


def record_refs(value: Any, name: str = "links", *, allow_empty: bool = False) -> list[RecordRef]:
    if not isinstance(value, list):
        raise ApiError(400, "wrong_type", f"{name} must be a list", field=name)
    if len(value) > MAX_LINKS:
        raise ApiError(413, "too_large", f"at most {MAX_LINKS} {name}", field=name)
    refs = list(dict.fromkeys(record_ref(v, f"{name}[{i}]") for i, v in enumerate(value)))
    if not refs and not allow_empty:
        raise ApiError(400, "missing_field", f"choose at least one record in {name}", field=name)
    return refs
