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
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
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


class Parser:
    unit = "bytes"

    def __init__(self, fileobj: IO[bytes], *, size: int):
        # Django's File wrappers split lines on a lone "\r" too; read the raw file object.
        self.fileobj = getattr(fileobj, "file", fileobj)
        if hasattr(self.fileobj, "seek"):
            self.fileobj.seek(0)
        self.total = size
        self.done = 0

    def rows(self) -> Iterator[RawRow]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _lines(self) -> Iterator[tuple[int, int, bytes]]:
        """(line number, byte offset of the line, raw bytes without BOM)."""
        offset = 0
        for number, raw in enumerate(self.fileobj, start=1):
            start = offset
            offset += len(raw)
            self.done = offset
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
                start += len(BOM)
            yield number, start, raw


class JsonlParser(Parser):
    def rows(self) -> Iterator[RawRow]:
        for number, start, raw in self._lines():
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield RawRow(number, None, [_utf8_error(number, start, exc)])
                continue
            if not line.strip():
                continue
            try:
                data = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                message = f"line {number}: bad JSON: {exc.msg} (column {exc.colno})"
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
    def __init__(self, fileobj: IO[bytes], *, size: int):
        super().__init__(fileobj, size=size)
        self.bad_lines: dict[int, RowError] = {}

    def _decoded(self) -> Iterator[str]:
        for number, start, raw in self._lines():
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.bad_lines[number] = _utf8_error(number, start, exc)
                yield raw.decode("utf-8", "replace")

    def rows(self) -> Iterator[RawRow]:
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
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
                if header is None:
                    raise FileError("bad_csv", message, line=first_line) from exc
                for number in range(first_line, last_line + 1):
                    self.bad_lines.pop(number, None)
                yield RawRow(first_line, None, [RowError(first_line, "bad_csv", message)])
                continue
            first_line, last_line = last_line + 1, reader.line_num
            encoding_errors = [
                self.bad_lines.pop(number)
                for number in range(first_line, last_line + 1)
                if number in self.bad_lines
            ]
            if header is None:
                if encoding_errors:
                    raise FileError(
                        "invalid_utf8", encoding_errors[0].message, line=encoding_errors[0].line
                    )
                if not row:
                    continue
                header = [column.strip().lower() for column in row]
                _check_columns(header, where=f"line {first_line} (CSV header)", line=first_line)
                continue
            if not row or (len(row) == 1 and not row[0].strip() and len(header) > 1):
                continue
            if encoding_errors:
                yield RawRow(first_line, None, encoding_errors)
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
        block: list[str] = []
        block_line = 0
        block_errors: list[RowError] = []
        for number, start, raw in self._lines():
            try:
                line = raw.decode("utf-8")
                bad = None
            except UnicodeDecodeError as exc:
                bad = _utf8_error(number, start, exc)
                block_errors.append(bad)
                line = raw.decode("utf-8", "replace")
            if line.strip() or bad:
                block_line = block_line or number
                block.append(line.rstrip("\r\n"))
                continue
            if block_line:
                yield self._block(block_line, block, block_errors)
                block, block_errors, block_line = [], [], 0
        if block_line:
            yield self._block(block_line, block, block_errors)

    @staticmethod
    def _block(line: int, block: list[str], errors: list[RowError]) -> RawRow:
        if errors:
            return RawRow(line, None, errors)
        return RawRow(line, {"text": "\n".join(block)})


class ParquetParser(Parser):
    unit = "rows"
    BATCH_ROWS = 1024

    def rows(self) -> Iterator[RawRow]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.fileobj)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise FileError("bad_parquet", f"not a readable Parquet file: {exc}") from exc
        schema = parquet.schema_arrow
        columns = [name.strip().lower() for name in schema.names]
        _check_columns(columns, where="Parquet schema", line=None)
        for name, arrow_field in zip(columns, schema, strict=True):
            kind = arrow_field.type
            is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
            if not (is_text or pa.types.is_null(kind)):
                raise FileError(
                    "not_a_string", f"Parquet column {name!r} has type {kind}; expected string"
                )
        self.total = parquet.metadata.num_rows
        number = 0
        try:
            for batch in parquet.iter_batches(batch_size=self.BATCH_ROWS):
                table: dict[str, list[Any]] = {
                    name: batch.column(index).to_pylist() for index, name in enumerate(columns)
                }
                for offset in range(batch.num_rows):
                    number += 1
                    data = {
                        name: table[name][offset]
                        for name in columns
                        if table[name][offset] is not None
                    }
                    self.done = number
                    yield RawRow(number, data)
        except pa.ArrowException as exc:
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


def parser_for(fmt: str, fileobj: IO[bytes], *, size: int) -> Parser:
    return PARSERS[fmt](fileobj, size=size)
