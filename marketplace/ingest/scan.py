"""One streaming pass over an uploaded file: parse, validate, yield records or row errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from marketplace.ingest.parsers import Limits, parser_for
from marketplace.ingest.records import FileError, Record, RowError, check_row


class Scan:
    """Iterate ``(record, errors)`` per row; ``progress()`` says how far the pass got.

    Raises ``FileError`` for file-level problems, including a file with no rows at all.
    """

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        fmt: str,
        size: int,
        max_chars: int,
        limits: Limits | None = None,
    ):
        limits = limits or Limits.for_max_chars(max_chars)
        self.parser = parser_for(fmt, fileobj, size=size, limits=limits)
        self.max_chars = max_chars
        self.seen_ids: dict[str, int] = {}
        self.rows = 0

    def progress(self) -> tuple[int, int, str]:
        return self.parser.done, self.parser.total, self.parser.unit

    def __iter__(self) -> Iterator[tuple[Record | None, list[RowError]]]:
        for raw in self.parser.rows():
            self.rows += 1
            yield check_row(raw, max_chars=self.max_chars, seen_ids=self.seen_ids)
        if self.rows == 0:
            raise FileError("empty_file", "the file is empty: it contains no samples")
