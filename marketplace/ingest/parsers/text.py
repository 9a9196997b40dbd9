"""Plain text (``.txt``, ``.text``): one sample per block of lines separated by blank lines."""

from __future__ import annotations

from collections.abc import Iterator

from marketplace.ingest.parsers.base import Parser, _too_long_line, _utf8_error
from marketplace.ingest.records import RawRow, RowError


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
