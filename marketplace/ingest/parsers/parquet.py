"""Parquet (``.parquet``): string columns read with bounded memory, every size checked first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from marketplace.ingest.parsers.base import Parser, _check_columns
from marketplace.ingest.parsers.parquet_pages import _page_header, _ThriftError
from marketplace.ingest.records import FileError, RawRow, RowError


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
