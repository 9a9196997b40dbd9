"""Streaming readers for the four upload formats. Memory use does not grow with the file.

Each parser yields ``RawRow``s (1-based line numbers; Parquet: 1-based row numbers) and keeps
``done``/``total`` progress in ``unit`` ("bytes" or "rows"). Problems with one row become
row errors; problems with the whole file raise ``FileError``.

* **JSONL** (``.jsonl``, ``.ndjson``): one JSON object per line; blank lines are skipped;
  a UTF-8 BOM is allowed.
* **CSV** (``.csv``): a header row naming some of ``id``, ``text``, ``prompt``, ``response``
  (any other column is a file error); empty cells are absent values.
* **Plain text** (``.txt``): one sample per block of lines separated by blank lines.
* **Parquet** (``.parquet``): string columns named as for CSV, read with
  ``pyarrow.parquet.ParquetFile.iter_batches``.

Invalid UTF-8 is reported with the byte offset in the file and the line.

**Bounded memory.** What one upload can make the process allocate is bounded by ``Limits``,
checked before anything is decoded:

* a line (JSONL, CSV, plain text) longer than ``max_line_bytes`` is never held whole: it is
  read in pieces, skipped and reported as ``line_too_long``; a CSV field or a plain-text block
  is capped the same way; a JSON line nested deeper than ``MAX_JSON_DEPTH`` is refused before
  ``json.loads`` (no recursion), and numbers too long for Python's int are row errors;
* Parquet: before any page is decompressed, the footer's column-chunk sizes *and* every page
  header of every column chunk (read directly from the file, so a footer that lies is caught)
  are checked against ``parquet_max_chunk_bytes``; rows are then read in batches small enough
  that a dictionary-encoded column cannot expand past that bound, and a value longer than the
  longest allowed sample is reported without being turned into a Python string.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any

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
# A sample is a flat object of strings; anything nested this deep is refused unparsed.
MAX_JSON_DEPTH = 32
_SKIP_CHUNK = 64 * 1024
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKETS = re.compile(r"[\[\]{}]")


@dataclass(frozen=True)
class Limits:
    """How much of an upload a parser may hold at once (see the module docstring).

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


class TextParser(Parser):
    def rows(self) -> Iterator[RawRow]:
        limit = self.limits.max_line_bytes
        block: list[str] = []
        block_line = 0
        block_bytes = 0
        block_errors: list[RowError] = []
        for number, start, raw, length in self._lines():
            bad = None
            if raw is None:
                bad = _too_long_line(number, length, limit)
                line = ""
            else:
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad = _utf8_error(number, start, exc)
                    line = raw.decode("utf-8", "replace")
            if bad is not None:
                block_errors.append(bad)
            if line.strip() or bad:
                block_line = block_line or number
                block_bytes += length
                if block_bytes > limit and not block_errors:
                    block_errors.append(
                        RowError(
                            block_line,
                            "block_too_long",
                            f"line {block_line}: the block of lines starting here is over "
                            f"{limit:,} bytes; blocks are limited to {limit:,} bytes",
                        )
                    )
                if not block_errors:
                    block.append(line.rstrip("\r\n"))
                else:
                    block.clear()
                continue
            if block_line:
                yield self._block(block_line, block, block_errors)
                block, block_errors, block_line, block_bytes = [], [], 0, 0
        if block_line:
            yield self._block(block_line, block, block_errors)

    @staticmethod
    def _block(line: int, block: list[str], errors: list[RowError]) -> RawRow:
        if errors:
            return RawRow(line, None, errors)
        return RawRow(line, {"text": "\n".join(block)})


# --- Parquet: page headers are read before anything is decompressed -------------------------

_MAX_PAGE_HEADER_BYTES = 1024 * 1024


class _ThriftError(ValueError):
    pass


class _CompactReader:
    """Just enough of Thrift's compact protocol to read a Parquet ``PageHeader``'s sizes."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _ThriftError("truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise _ThriftError("varint too long")

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def skip(self, kind: int, depth: int = 0) -> None:
        if depth > 32:
            raise _ThriftError("nested too deeply")
        if kind in (1, 2, 3):  # a byte; booleans inside containers take one byte too
            self.byte()
        elif kind in (4, 5, 6):
            self.varint()
        elif kind == 7:
            self.pos += 8
        elif kind == 8:
            length = self.varint()  # read before moving: ``pos += varint()`` adds to the old pos
            self.pos += length
        elif kind in (9, 10):
            header = self.byte()
            count = header >> 4
            if count == 15:
                count = self.varint()
            for _ in range(count):
                self.skip(header & 0x0F, depth + 1)
        elif kind == 11:
            count = self.varint()
            if count:
                types = self.byte()
                for _ in range(count):
                    self.skip(types >> 4, depth + 1)
                    self.skip(types & 0x0F, depth + 1)
        elif kind == 12:
            self.struct_fields(depth + 1, skip_all=True)
        else:
            raise _ThriftError(f"unknown type {kind}")
        if self.pos > len(self.data):
            raise _ThriftError("truncated")

    def struct_fields(self, depth: int = 0, *, skip_all: bool = False) -> dict[int, int]:
        """Integer fields of one struct (others skipped): field id -> value."""
        fields: dict[int, int] = {}
        last = 0
        while True:
            header = self.byte()
            if header == 0:
                return fields
            kind, delta = header & 0x0F, header >> 4
            field_id = last + delta if delta else self.zigzag()
            last = field_id
            if kind == 5 and not skip_all:
                fields[field_id] = self.zigzag()
            elif kind in (1, 2):
                continue  # a boolean field carries its value in the header
            else:
                self.skip(kind, depth)


def _page_header(fileobj: IO[bytes], offset: int) -> tuple[int, int, int, int]:
    """(header length, page type, uncompressed size, compressed size) of the page at offset."""
    size = 512
    while True:
        fileobj.seek(offset)
        data = fileobj.read(size)
        reader = _CompactReader(data)
        try:
            fields = reader.struct_fields()
        except _ThriftError:
            if len(data) < size or size >= _MAX_PAGE_HEADER_BYTES:
                raise
            size *= 8
            continue
        if not {1, 2, 3} <= fields.keys():
            raise _ThriftError("a page header without its type and sizes")
        return reader.pos, fields[1], fields[2], fields[3]


class ParquetParser(Parser):
    unit = "rows"

    def _chunk_sizes(self, chunk, *, where: str) -> int:
        """Walk the column chunk's page headers; refuse it if it decompresses past the limit."""
        limit = self.limits.parquet_max_chunk_bytes
        advice = (
            f"the limit is {limit:,} bytes per column chunk; write smaller row groups "
            "(e.g. pyarrow.parquet.write_table(..., row_group_size=50_000))"
        )
        if chunk.total_uncompressed_size > limit:
            raise FileError(
                "parquet_too_large",
                f"{where} holds {chunk.total_uncompressed_size:,} bytes once decompressed; "
                + advice,
            )
        offsets = [chunk.data_page_offset]
        if chunk.has_dictionary_page and chunk.dictionary_page_offset:
            offsets.append(chunk.dictionary_page_offset)
        position = min(offsets)
        end = position + chunk.total_compressed_size
        if position < 0 or end > self.file_bytes:
            raise FileError("bad_parquet", f"{where}: its pages lie outside the file")
        total = 0
        try:
            while position < end:
                length, _kind, uncompressed, compressed = _page_header(self.fileobj, position)
                if uncompressed < 0 or compressed < 0:
                    raise _ThriftError("a negative page size")
                total += length + uncompressed  # as the footer counts: headers too
                if total > limit:
                    raise FileError(
                        "parquet_too_large",
                        f"{where}: its pages hold more than {limit:,} bytes once "
                        "decompressed (the page headers say so, whatever the footer says); "
                        + advice,
                    )
                position += length + compressed
        except _ThriftError as exc:
            raise FileError(
                "bad_parquet", f"{where}: unreadable page header at byte {position:,}: {exc}"
            ) from exc
        return total

    def _column_stream(
        self, chunked, max_bytes: int, *, name: str
    ) -> Iterator[tuple[Any, Callable[[int], RowError] | None]]:
        """(value, None) per row, or (None, problem) where ``problem(row)`` is the row's error:
        a value over ``max_bytes`` (never turned into a Python string) or invalid UTF-8.
        Columns are read dictionary-encoded, so a value repeated on many rows is held once,
        however many rows use it."""
        import pyarrow as pa
        import pyarrow.compute as pc

        max_chars = self.limits.max_chars

        def too_long(size: int) -> Callable[[int], RowError]:
            return lambda row: RowError(
                row,
                "too_long",
                f"line {row}: {name!r} is {size:,} bytes; the limit is {max_chars:,} characters",
                field=name,
            )

        def bad_utf8(offset: int) -> Callable[[int], RowError]:
            return lambda row: RowError(
                row,
                "invalid_utf8",
                f"line {row}: {name!r} is not valid UTF-8 (byte {offset + 1} of the value)",
                field=name,
            )

        for chunk in chunked.chunks:
            if pa.types.is_null(chunk.type):
                for _ in range(len(chunk)):
                    yield None, None
                continue
            if not pa.types.is_dictionary(chunk.type):
                chunk = chunk.dictionary_encode()
            dictionary = chunk.dictionary
            lengths = pc.binary_length(dictionary)
            over = pc.greater(lengths, max_bytes)
            problems: dict[int, Callable[[int], RowError]] = {}
            if len(dictionary) and pc.any(over).as_py():
                for at, size in enumerate(lengths.to_pylist()):
                    if size is not None and size > max_bytes:
                        problems[at] = too_long(size)
                dictionary = pc.if_else(over, pa.scalar(None, dictionary.type), dictionary)
            # Arrow does not check UTF-8 when reading: decode each distinct value here.
            entries: list[str | None] = []
            for at, raw in enumerate(dictionary.cast(pa.large_binary()).to_pylist()):
                try:
                    entries.append(None if raw is None else raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    entries.append(None)
                    problems[at] = bad_utf8(exc.start)
            for start in range(0, len(chunk), 4096):
                for at in chunk.indices.slice(start, 4096).to_pylist():
                    if at is None:
                        yield None, None
                    elif at in problems:
                        yield None, problems[at]
                    else:
                        yield entries[at], None

    def rows(self) -> Iterator[RawRow]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.fileobj.seek(0, 2)
        self.file_bytes = self.fileobj.tell()
        self.fileobj.seek(0)
        try:
            parquet = pq.ParquetFile(self.fileobj)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise FileError("bad_parquet", f"not a readable Parquet file: {exc}") from exc
        schema = parquet.schema_arrow
        names = list(schema.names)
        columns = [name.strip().lower() for name in names]
        _check_columns(columns, where="Parquet schema", line=None)
        text_columns = []
        for name, original, arrow_field in zip(columns, names, schema, strict=True):
            kind = arrow_field.type
            if pa.types.is_dictionary(kind):
                kind = kind.value_type
            is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
            if not (is_text or pa.types.is_null(kind)):
                raise FileError(
                    "not_a_string", f"Parquet column {name!r} has type {kind}; expected string"
                )
            if is_text:
                text_columns.append(original)
        metadata = parquet.metadata
        if metadata.num_columns != len(columns):
            raise FileError("bad_parquet", "the Parquet schema has nested columns")
        # Every size is checked before the first page is decompressed: the footer's, then
        # each page header's. A row group is then read whole, dictionary-encoded: its
        # dictionaries hold at most the chunks' bytes, its indices 4 bytes a row.
        limit = self.limits.parquet_max_chunk_bytes
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            if row_group.num_rows > limit // 8:
                raise FileError(
                    "parquet_too_large",
                    f"Parquet row group {group + 1} has {row_group.num_rows:,} rows; the limit "
                    f"is {limit // 8:,} rows per row group; write smaller row groups",
                )
            for index, name in enumerate(columns):
                where = f"Parquet row group {group + 1}, column {name!r}"
                self._chunk_sizes(row_group.column(index), where=where)
        self.fileobj.seek(0)

        self.total = metadata.num_rows
        max_bytes = 4 * self.limits.max_chars  # UTF-8: more bytes than this is too many chars
        number = 0
        try:
            parquet = pq.ParquetFile(self.fileobj, read_dictionary=text_columns)
            for group in range(metadata.num_row_groups):
                table = parquet.read_row_group(group, columns=names)
                streams = [
                    self._column_stream(table.column(index), max_bytes, name=columns[index])
                    for index in range(len(names))
                ]
                for cells in zip(*streams, strict=True):
                    number += 1
                    self.done = number
                    errors = [problem(number) for _value, problem in cells if problem is not None]
                    if errors:
                        yield RawRow(number, None, errors)
                        continue
                    yield RawRow(
                        number,
                        {
                            name: value
                            for name, (value, _size) in zip(columns, cells, strict=True)
                            if value is not None
                        },
                    )
                del table, streams
        except (pa.ArrowException, OSError) as exc:
            raise FileError(
                "bad_parquet",
                f"cannot read Parquet data after row {number}: {exc}",
                line=number + 1,
            ) from exc


PARSERS: dict[str, type[Parser]] = {
    "jsonl": JsonlParser,
    "csv": CsvParser,
    "text": TextParser,
    "parquet": ParquetParser,
}


def parser_for(fmt: str, fileobj: IO[bytes], *, size: int, limits: Limits | None = None) -> Parser:
    return PARSERS[fmt](fileobj, size=size, limits=limits)
