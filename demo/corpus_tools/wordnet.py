"""Read WordNet 3.0 (Debian's wordnet-base) into one entry per common single word."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_WORD = re.compile(r"^[a-z]{4,14}$")
_EXAMPLE = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class Entry:
    word: str
    pos: str  # "noun" | "verb" | "adj" | "adv"
    definition: str
    examples: tuple[str, ...]
    synonyms: tuple[str, ...]  # other single-word lemmas of the same synset


@dataclass(frozen=True)
class _IndexRow:
    word: str
    pos: str
    tagged_senses: int  # how often the word was sense-tagged in a corpus: a frequency proxy
    first_offset: int  # the most frequent sense comes first


def _index_rows(path: Path, pos: str) -> list[_IndexRow]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("  "):
            continue  # the licence header
        fields = line.split()
        pointer_count = int(fields[3])
        tagged = int(fields[5 + pointer_count])
        offset = int(fields[6 + pointer_count])
        rows.append(_IndexRow(fields[0], pos, tagged, offset))
    return rows


def _read_synset(data_path: Path, offset: int) -> tuple[list[str], str]:
    """(lemmas, gloss) of the synset at a byte offset of a data.* file."""
    with data_path.open("rb") as handle:
        handle.seek(offset)
        line = handle.readline().decode("utf-8")
    head, _, gloss = line.partition(" | ")
    fields = head.split()
    lemma_count = int(fields[3], 16)
    lemmas = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]) for i in range(lemma_count)]
    return lemmas, gloss.strip()


def split_gloss(gloss: str) -> tuple[str, tuple[str, ...]]:
    """'a definition; "an example"; "another"' -> ('a definition', ('an example', ...))."""
    definition = gloss.split('; "')[0].strip().rstrip(";").strip()
    rest = gloss[len(definition) :]
    examples = tuple(example.strip() for example in _EXAMPLE.findall(rest) if example.strip())
    return definition, examples


def read_entries(root: Path, min_tagged_senses: int = 2) -> list[Entry]:
    """One entry per word (its commonest part of speech and sense), sorted by word."""
    best: dict[str, _IndexRow] = {}
    for pos, suffix in POS_FILES.items():
        for row in _index_rows(root / f"index.{suffix}", pos):
            if not _WORD.match(row.word) or row.tagged_senses < min_tagged_senses:
                continue
            current = best.get(row.word)
            if current is None or row.tagged_senses > current.tagged_senses:
                best[row.word] = row
    entries = []
    for word in sorted(best):
        row = best[word]
        lemmas, gloss = _read_synset(root / f"data.{POS_FILES[row.pos]}", row.first_offset)
        definition, examples = split_gloss(gloss)
        synonyms = tuple(
            lemma.lower()
            for lemma in lemmas
            if lemma.lower() != word and _WORD.match(lemma.lower())
        )
        entries.append(Entry(word, POS_FILES[row.pos], definition, examples, synonyms))
    return entries
