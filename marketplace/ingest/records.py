"""Row-level validation shared by every file format, and the validation report.

A row becomes a ``Record`` (exactly one of ``text`` or ``prompt`` + ``response``, optional
``id``) or a list of ``RowError``s, each with the 1-based line (or Parquet row) number, a
stable ``code`` and a readable ``message`` that repeats where the problem is.

Rules:

* Allowed fields: ``id``, ``text``, ``prompt``, ``response``; any other is an error.
  ``null`` (JSON) / empty cell (CSV) / null (Parquet) means "absent".
* Values must be strings. ``text``, ``prompt`` and ``response`` must not be blank.
* No value may hold a NUL character (U+0000) or an unpaired surrogate (JSON ``\\ud800``):
  neither is text, and PostgreSQL cannot store them.
* Either ``text`` or both ``prompt`` and ``response`` -- not both kinds, not neither.
* ``len(text)`` (or ``len(prompt) + len(response)``) is at most ``SAMPLE_MAX_CHARS``.
* ``id`` is optional, at most 200 characters, unique within the file (the first occurrence
  wins; later ones are errors), and not of the reserved form ``auto-<digits>``: rows without
  an id get ``auto-<line>``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ALLOWED_FIELDS = ("id", "text", "prompt", "response")
ID_MAX_CHARS = 200
_RESERVED_ID = re.compile(r"^auto-\d+$")


@dataclass(frozen=True)
class RowError:
    line: int | None
    code: str
    message: str
    byte_offset: int | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"line": self.line, "code": self.code, "message": self.message}
        if self.byte_offset is not None:
            data["byte_offset"] = self.byte_offset
        if self.field is not None:
            data["field"] = self.field
        return data


class FileError(Exception):
    """A problem with the whole file (empty, unreadable, bad header): nothing can be ingested."""

    def __init__(self, code: str, message: str, *, line: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Record:
    line: int
    external_id: str | None
    text: str | None = None
    prompt: str | None = None
    response: str | None = None

    def id_or_generated(self) -> str:
        return self.external_id if self.external_id is not None else f"auto-{self.line}"


@dataclass
class RawRow:
    """What a parser read: the row's fields, or errors found while reading it."""

    line: int
    data: dict[str, Any] | None
    errors: list[RowError] = field(default_factory=list)


def _type_name(value: Any) -> str:
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_row(
    raw: RawRow, *, max_chars: int, seen_ids: dict[str, int]
) -> tuple[Record | None, list[RowError]]:
    """Validate one parsed row. ``seen_ids`` maps ids already seen to their line (updated)."""
    line = raw.line
    if raw.errors or raw.data is None:
        return None, list(raw.errors)
    data = raw.data
    errors: list[RowError] = []

    def error(code: str, message: str, field_name: str | None = None) -> None:
        errors.append(RowError(line, code, f"line {line}: {message}", field=field_name))

    extra = sorted(key for key in data if key not in ALLOWED_FIELDS)
    if extra:
        names = ", ".join(repr(key) for key in extra)
        error(
            "unexpected_field",
            f"unexpected field(s) {names}; allowed fields are id, text, prompt, response",
        )
    values: dict[str, str | None] = {}
    for name in ALLOWED_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            error("not_a_string", f"{name!r} must be a string, got {_type_name(value)}", name)
            value = None
        elif value is not None and "\x00" in value:
            error(
                "nul_character",
                f"{name!r} contains a NUL character (U+0000, at character "
                f"{value.index(chr(0)) + 1:,}); remove it",
                name,
            )
            value = None
        elif value is not None and not _encodable(value):
            error(
                "invalid_unicode",
                f"{name!r} contains an unpaired surrogate (a \\ud800-\\udfff escape without "
                "its pair), which is not text",
                name,
            )
            value = None
        values[name] = value

    text, prompt, response = values["text"], values["prompt"], values["response"]
    has_pair_field = prompt is not None or response is not None
    if text is not None and has_pair_field:
        error("text_and_pair", "has both 'text' and 'prompt'/'response'; use one or the other")
    elif text is None and not has_pair_field:
        if not any(data.get(name) is not None for name in ("text", "prompt", "response")):
            error("missing_text", "has neither 'text' nor 'prompt' + 'response'")
    elif text is None:
        for name, value in (("prompt", prompt), ("response", response)):
            if value is None and data.get(name) is None:
                other = "response" if name == "prompt" else "prompt"
                error("missing_field", f"has {other!r} but no {name!r}", name)

    for name, value in (("text", text), ("prompt", prompt), ("response", response)):
        if value is not None and not value.strip():
            error("empty_text", f"{name!r} is empty", name)
    length = len(text) if text is not None else len(prompt or "") + len(response or "")
    if length > max_chars:
        what = "'text'" if text is not None else "'prompt' + 'response'"
        error("too_long", f"{what} is {length:,} characters; the limit is {max_chars:,}")

    external_id = values["id"]
    if external_id is not None:
        if not external_id.strip():
            error("bad_id", "'id' is empty", "id")
        elif len(external_id) > ID_MAX_CHARS:
            error("bad_id", f"'id' is longer than {ID_MAX_CHARS} characters", "id")
        elif _RESERVED_ID.match(external_id):
            error("bad_id", f"'id' {external_id!r} is reserved for generated ids", "id")
        elif external_id in seen_ids:
            error(
                "duplicate_id",
                f"duplicate id {external_id!r} (first used on line {seen_ids[external_id]})",
                "id",
            )
        else:
            seen_ids[external_id] = line

    if errors:
        return None, errors
    return Record(line, external_id, text, prompt, response), []


class ReportBuilder:
    """Accumulates a validation report: totals, counts per error code, the first N errors."""

    def __init__(self, *, max_errors: int):
        self.max_errors = max_errors
        self.total_rows = 0
        self.valid_rows = 0
        self.invalid_rows = 0
        self.error_count = 0
        self.error_counts: Counter[str] = Counter()
        self.errors: list[dict[str, Any]] = []
        self.fatal: FileError | None = None

    def add(self, record: Record | None, errors: list[RowError]) -> None:
        self.total_rows += 1
        if record is not None:
            self.valid_rows += 1
            return
        self.invalid_rows += 1
        for row_error in errors:
            self.error_count += 1
            self.error_counts[row_error.code] += 1
            if len(self.errors) < self.max_errors:
                self.errors.append(row_error.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_rows": self.total_rows,
            "valid_rows": self.valid_rows,
            "invalid_rows": self.invalid_rows,
            "error_count": self.error_count,
            "error_counts": dict(sorted(self.error_counts.items())),
            "errors": self.errors,
            "errors_truncated": self.error_count > len(self.errors),
            "fatal": self.fatal.as_dict() if self.fatal else None,
        }
