"""Parquet page headers read straight from the file (a minimal Thrift compact reader), so
their sizes are checked before anything is decompressed."""

from __future__ import annotations

from typing import IO

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
