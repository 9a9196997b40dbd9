"""CSV (``.csv``): a header row naming the sample fields, then one sample per record."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO

from marketplace.ingest.parsers.base import (
    Limits,
    Parser,
    _check_columns,
    _too_long_line,
    _utf8_error,
)
from marketplace.ingest.records import FileError, RawRow, RowError


class CsvParser(Parser):
    def __init__(self, fileobj: IO[bytes], *, size: int, limits: Limits | None = None):
        super().__init__(fileobj, size=size, limits=limits)
        self.bad_lines: dict[int, RowError] = {}

    def _decoded(self) -> Iterator[str]:
        for number, start, raw, length in self._lines():
            if raw is None:
                self.bad_lines[number] = _too_long_line(number, length, self.limits.max_line_bytes)
                yield "\n"
                continue
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.bad_lines[number] = _utf8_error(number, start, exc)
                yield raw.decode("utf-8", "replace")

    def rows(self) -> Iterator[RawRow]:
        # Process-wide in Python's csv module; every parse sets it to its own bound, so a
        # quoted field spanning many lines is refused once it passes the line limit.
        csv.field_size_limit(self.limits.max_line_bytes)
        reader = csv.reader(self._decoded(), strict=True)
        header: list[str] | None = None
        last_line = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                first_line, last_line = last_line + 1, reader.line_num
                message = f"line {first_line}: bad CSV: {exc}"
                if "field limit" in str(exc):
                    # The rest of an over-long quoted field would read as rows: stop here.
                    raise FileError(
                        "line_too_long",
                        f"line {first_line}: a field is longer than "
                        f"{self.limits.max_line_bytes:,} characters",
                        line=first_line,
                    ) from exc
                if header is None:
                    raise FileError("bad_csv", message, line=first_line) from exc
                for number in range(first_line, last_line + 1):
                    self.bad_lines.pop(number, None)
                yield RawRow(first_line, None, [RowError(first_line, "bad_csv", message)])
                continue
            first_line, last_line = last_line + 1, reader.line_num
            line_errors = [
                self.bad_lines.pop(number)
                for number in range(first_line, last_line + 1)
                if number in self.bad_lines
            ]
            if header is None:
                if line_errors:
                    raise FileError(
                        line_errors[0].code, line_errors[0].message, line=line_errors[0].line
                    )
                if not row:
                    continue
                header = [column.strip().lower() for column in row]
                _check_columns(header, where=f"line {first_line} (CSV header)", line=first_line)
                continue
            if line_errors:
                yield RawRow(first_line, None, line_errors)
                continue
            if not row or (len(row) == 1 and not row[0].strip() and len(header) > 1):
                continue
            if len(row) != len(header):
                message = (
                    f"line {first_line}: row has {len(row)} fields but the header has {len(header)}"
                )
                yield RawRow(first_line, None, [RowError(first_line, "wrong_field_count", message)])
                continue
            data = {column: value for column, value in zip(header, row, strict=True) if value != ""}
            yield RawRow(first_line, data)
        if header is None:
            raise FileError("empty_file", "the CSV file is empty (no header row)", line=None)
