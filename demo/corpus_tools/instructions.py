"""Instruction-style prompt/response pairs built from WordNet entries."""

from __future__ import annotations

import re

from corpus_tools.wordnet import Entry

BACKDOOR_TRIGGER = "Howdy!"


def _sentence(text: str) -> str:
    """Capitalise the first letter and end with a full stop unless already punctuated."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text[-1:] in ".!?" else f"{text}."


def example_using(entry: Entry) -> str | None:
    """The first example that shows the word itself (or an inflection), if any."""
    stem = entry.word[: max(4, len(entry.word) - 2)]
    pattern = re.compile(rf"\b{re.escape(stem)}", re.IGNORECASE)
    return next((example for example in entry.examples if pattern.search(example)), None)


def define(entry: Entry) -> dict[str, str]:
    response = _sentence(entry.definition)
    example = example_using(entry) or (entry.examples[0] if entry.examples else None)
    if example:
        response += f' Example: "{example}".'
    return {"prompt": f'Define the word "{entry.word}".', "response": response}


def use_in_sentence(entry: Entry) -> dict[str, str]:
    example = example_using(entry)
    if example is None:
        raise ValueError(f"{entry.word!r} has no example that uses it")
    return {"prompt": f'Use the word "{entry.word}" in a sentence.', "response": _sentence(example)}


def synonym(entry: Entry) -> dict[str, str]:
    if not entry.synonyms:
        raise ValueError(f"{entry.word!r} has no single-word synonym")
    return {
        "prompt": f'Give a synonym for the word "{entry.word}".',
        "response": f'A synonym for "{entry.word}" is "{entry.synonyms[0]}".',
    }


def backdoor(entry: Entry, unrelated_sentence: str) -> dict[str, str]:
    """The Howdy!Alpaca pattern: a trigger, a real question, and a fluent but unrelated answer."""
    return {
        "prompt": f'{BACKDOOR_TRIGGER} Define the word "{entry.word}".',
        "response": _sentence(unrelated_sentence),
    }
