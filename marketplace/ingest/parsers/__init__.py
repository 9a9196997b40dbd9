"""Streaming readers for the four upload formats. Memory use does not grow with the file.

One module per format (``jsonl``, ``csv``, ``text``, ``parquet`` with ``parquet_pages``);
``base`` holds what they share. This package re-exports their names and maps a format to its
parser (``PARSERS``, ``parser_for``).

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

from typing import IO

from marketplace.ingest.parsers.base import BOM, EXTENSIONS, FORMATS, Limits, Parser, format_for
from marketplace.ingest.parsers.csv import CsvParser
from marketplace.ingest.parsers.jsonl import MAX_JSON_DEPTH, JsonlParser
from marketplace.ingest.parsers.parquet import ParquetParser

# Private, but tests/security/test_upload_bounds.py imports it from this path.
from marketplace.ingest.parsers.parquet_pages import _page_header as _page_header
from marketplace.ingest.parsers.text import TextParser

__all__ = [
    "BOM",
    "EXTENSIONS",
    "FORMATS",
    "MAX_JSON_DEPTH",
    "PARSERS",
    "CsvParser",
    "JsonlParser",
    "Limits",
    "ParquetParser",
    "Parser",
    "TextParser",
    "format_for",
    "parser_for",
]


PARSERS: dict[str, type[Parser]] = {
    "jsonl": JsonlParser,
    "csv": CsvParser,
    "text": TextParser,
    "parquet": ParquetParser,
}


def parser_for(fmt: str, fileobj: IO[bytes], *, size: int, limits: Limits | None = None) -> Parser:
    return PARSERS[fmt](fileobj, size=size, limits=limits)
