"""Small text utilities shared by the corpus readers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

MIN_WORDS = 40
MAX_WORDS = 120


def word_count(text: str) -> int:
    return len(text.split())


def chunk_units(
    units: Iterable[str | None],
    min_words: int = MIN_WORDS,
    max_words: int = MAX_WORDS,
    max_units: int = 5,
) -> Iterator[list[str]]:
    """Group consecutive units (sentences, verses, speeches) into runs of min..max words.

    None marks a break (a dropped sentence, a new chapter) that no run may span. A unit
    longer than max_words is dropped, and so is a short run, so every run is within bounds.
    """
    run: list[str] = []
    run_words = 0
    for unit in [*units, None]:
        words = 0 if unit is None else word_count(unit)
        if run and (unit is None or run_words + words > max_words or len(run) >= max_units):
            if run_words >= min_words:
                yield run
            run, run_words = [], 0
        if unit is None or words > max_words:
            continue
        run.append(unit)
        run_words += words
