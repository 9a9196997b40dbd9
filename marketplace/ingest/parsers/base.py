"""What every upload parser shares: the bounds (``Limits``), format detection, the line
reader (``Parser``) and the row errors and column checks more than one format uses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO

from marketplace.ingest.records import ALLOWED_FIELDS, FileError, RawRow, RowError

BOM = b"\xef\xbb\xbf"
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".txt": "text",
    ".text": "text",
    ".parquet": "parquet",
}
FORMATS = ("jsonl", "csv", "text", "parquet")
_SKIP_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """How much of an upload a parser may hold at once (see the package docstring).

    ``max_chars``: the longest sample (SAMPLE_MAX_CHARS); ``max_line_bytes``: the longest line
    or CSV field or text block read; ``parquet_max_chunk_bytes``: the most bytes one Parquet
    column chunk may hold once decompressed, and the most one batch of rows may decode to.
    """

    max_chars: int = 32_000
    max_line_bytes: int = 16 * 32_000 + 65_536
    parquet_max_chunk_bytes: int = 128 * 1024 * 1024

    @classmethod
    def for_max_chars(cls, max_chars: int, **overrides: int) -> Limits:
        """The default bounds for a sample limit: a line may spend 16 bytes per character
        (JSON escapes of astral characters take 12), plus 64 KiB for ids and keys."""
        values = {"max_chars": max_chars, "max_line_bytes": 16 * max_chars + 65_536}
        return cls(**{**values, **overrides})


def format_for(*, filename: str, declared: str | None = None) -> str:
    """The format named by ``declared``, else by the file extension; ``FileError`` if neither."""
    if declared:
        if declared not in FORMATS:
            raise FileError(
                "unknown_format",
                f"unknown format {declared!r}; use one of {', '.join(FORMATS)}",
            )
        return declared
    suffix = PurePath(filename or "").suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    raise FileError(
        "unknown_format",
        f"cannot tell the format of {filename!r} from its extension {suffix or '(none)'}; "
        f"use .jsonl, .csv, .txt or .parquet (or name the format)",
    )


def _utf8_error(line: int, line_start: int, exc: UnicodeDecodeError) -> RowError:
    offset = line_start + exc.start
    return RowError(
        line,
        "invalid_utf8",
        f"line {line}: invalid UTF-8 at byte offset {offset} "
        f"(byte {exc.start + 1} of the line); save the file as UTF-8",
        byte_offset=offset,
    )


def _too_long_line(line: int, length: int, limit: int) -> RowError:
    return RowError(
        line,
        "line_too_long",
        f"line {line}: the line is {length:,} bytes; lines are limited to {limit:,} bytes",
    )


class Parser:
    unit = "bytes"

    def __init__(self, fileobj: IO[bytes], *, size: int, limits: Limits | None = None):
        # Django's File wrappers split lines on a lone "\r" too; read the raw file object.
        self.fileobj = getattr(fileobj, "file", fileobj)
        if hasattr(self.fileobj, "seek"):
            self.fileobj.seek(0)
        self.total = size
        self.done = 0
        self.limits = limits or Limits()

    def rows(self) -> Iterator[RawRow]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _lines(self) -> Iterator[tuple[int, int, bytes | None, int]]:
        """(line number, byte offset of the line, raw bytes without BOM, length in bytes).

        A line longer than ``max_line_bytes`` is read in pieces and skipped: its raw bytes
        are ``None`` (the caller reports it), so no line is ever held whole past the limit.
        """
        limit = self.limits.max_line_bytes
        offset = 0
        number = 0
        while True:
            raw = self.fileobj.readline(limit + 1)
            if not raw:
                return
            number += 1
            start = offset
            length = len(raw)
            if length > limit and not raw.endswith(b"\n"):
                while True:
                    piece = self.fileobj.readline(_SKIP_CHUNK)
                    length += len(piece)
                    if not piece or piece.endswith(b"\n"):
                        break
                offset += length
                self.done = offset
                yield number, start, None, length
                continue
            offset += length
            self.done = offset
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
                start += len(BOM)
            yield number, start, raw, length


def _check_columns(columns: list[str], *, where: str, line: int | None) -> None:
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise FileError("bad_header", f"{where}: column {column!r} appears twice", line=line)
        seen.add(column)
    unknown = [column for column in columns if column not in ALLOWED_FIELDS]
    if unknown:
        names = ", ".join(repr(column) for column in unknown)
        raise FileError(
            "unexpected_field",
            f"{where}: unexpected column(s) {names}; allowed columns are "
            "id, text, prompt, response",
            line=line,
        )
    if "text" not in seen and not {"prompt", "response"} <= seen:
        raise FileError(
            "missing_field",
            f"{where}: needs a 'text' column or both 'prompt' and 'response' columns",
            line=line,
        )
