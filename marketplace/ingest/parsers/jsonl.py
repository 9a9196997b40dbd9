"""JSONL (``.jsonl``, ``.ndjson``): one JSON object per line, nesting refused before parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from marketplace.ingest.parsers.base import Parser, _too_long_line, _utf8_error
from marketplace.ingest.records import RawRow, RowError

# A sample is a flat object of strings; anything nested this deep is refused unparsed.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKETS = re.compile(r"[\[\]{}]")


def _json_depth(line: str) -> int:
    """Deepest bracket nesting of a JSON text, strings left out (C-speed regexes)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKETS.findall(_JSON_STRING.sub("", line)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


class JsonlParser(Parser):
    def rows(self) -> Iterator[RawRow]:
        for number, start, raw, length in self._lines():
            if raw is None:
                error = _too_long_line(number, length, self.limits.max_line_bytes)
                yield RawRow(number, None, [error])
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield RawRow(number, None, [_utf8_error(number, start, exc)])
                continue
            if not line.strip():
                continue
            if (line.count("[") + line.count("{") > MAX_JSON_DEPTH) and (
                _json_depth(line) > MAX_JSON_DEPTH
            ):
                message = (
                    f"line {number}: JSON nested deeper than {MAX_JSON_DEPTH} levels; "
                    "a sample is one flat object of strings"
                )
                yield RawRow(number, None, [RowError(number, "too_deep", message)])
                continue
            try:
                data = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                message = f"line {number}: bad JSON: {exc.msg} (column {exc.colno})"
                yield RawRow(number, None, [RowError(number, "bad_json", message)])
                continue
            except (ValueError, RecursionError) as exc:
                # Integers longer than Python converts (4,300 digits), or nesting the
                # bracket count above did not see: still this line's error, never a crash.
                message = f"line {number}: bad JSON: {str(exc)[:200]}"
                yield RawRow(number, None, [RowError(number, "bad_json", message)])
                continue
            if not isinstance(data, dict):
                message = f"line {number}: expected a JSON object, got {type(data).__name__}"
                yield RawRow(number, None, [RowError(number, "not_an_object", message)])
                continue
            yield RawRow(number, data)
