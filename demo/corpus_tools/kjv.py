"""Read the King James Bible from Debian's bible-kjv-text, decoded by bible-kjv's reader."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from corpus_tools.text import chunk_units

_VERSE_LINE = re.compile(r"^(?P<book>\d?[A-Za-z]+)(?P<chapter>\d+):(?P<verse>\d+) (?P<text>.+)$")


@dataclass(frozen=True)
class Verse:
    book: str  # the reader's abbreviation, e.g. "Ge", "1Sam"
    chapter: int
    verse: int
    text: str


def dump_verses(reader_root: Path, data_root: Path) -> str:
    """Every verse, one per line ("Ge1:1 In the beginning ..."), via the packaged reader.

    The data file is in the reader's own compressed format, so the reader (run from its
    extracted .deb, not installed) is the faithful way to decode it.
    """
    command = [
        str(reader_root / "usr/bin/bible"),
        "-f",  # -f: one "Ref text" line per verse
        "-p",
        str(data_root / "usr/lib"),
        "gen1:1-rev22:21",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=True
    )
    return result.stdout


def parse_verses(dump: str) -> list[Verse]:
    verses = []
    for line in dump.splitlines():
        match = _VERSE_LINE.match(line.strip())
        if match is None:
            raise ValueError(f"unexpected reader output line: {line!r}")
        verses.append(
            Verse(
                match["book"],
                int(match["chapter"]),
                int(match["verse"]),
                " ".join(match["text"].split()),
            )
        )
    return verses


def passages(verses: list[Verse]) -> list[str]:
    """Consecutive verses of one chapter grouped into 40-120-word passages."""
    units: list[str | None] = []
    previous_chapter: tuple[str, int] | None = None
    for verse in verses:
        chapter = (verse.book, verse.chapter)
        if chapter != previous_chapter:
            units.append(None)
            previous_chapter = chapter
        units.append(verse.text)
    return [" ".join(run) for run in chunk_units(units, max_units=6)]
