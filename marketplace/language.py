"""A light, deterministic language guess for a dataset (not a real language identifier).

How it works: the detector is fed text (``LanguageGuesser.feed``) up to ``MAX_CHARS``
characters in total. Letters are classified by script; if most letters are not Latin the
script decides (Cyrillic -> ``ru``, Greek -> ``el``, Arabic -> ``ar``, Hebrew -> ``he``,
Devanagari -> ``hi``, Hangul -> ``ko``, kana -> ``ja``, Han -> ``zh``). For Latin text, words
are matched against short stop-word lists of English, German, French, Spanish, Italian,
Portuguese and Dutch; the language with most hits wins if it has at least 5 hits and at least
1.5x the runner-up. Anything else is ``und`` (undetermined, ISO 639-2).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

MAX_CHARS = 200_000
UNDETERMINED = "und"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the and of to in is that it was for with as on be by this are at from have not "
        "but or which you they we his her their an were has been"
    ),
    "de": _words(
        "der die das und ist nicht ein eine zu den von mit sich des auf für im dem auch "
        "es an werden aus er hat dass sie nach wird bei"
    ),
    "fr": _words(
        "le la les et des est une un du en que qui dans pour pas sur au avec ce il elle "
        "sont nous vous ne se par plus"
    ),
    "es": _words(
        "el la los las y de que en un una es por con para se del al lo como más pero sus "
        "le ya o fue este ha sí porque está"
    ),
    "it": _words(
        "il lo la gli le di che e è un una per non con del della sono si da al nel ma "
        "come anche alla più questo"
    ),
    "pt": _words(
        "o a os as e de que em um uma é para com não do da dos das por se na no mais "
        "como mas foi ao ele ela"
    ),
    "nl": _words(
        "de het een en van is dat op te in zijn niet met voor die er maar om aan ook als "
        "bij ze nog wel naar"
    ),
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_SCRIPTS = (
    ("CYRILLIC", "ru"),
    ("GREEK", "el"),
    ("ARABIC", "ar"),
    ("HEBREW", "he"),
    ("DEVANAGARI", "hi"),
    ("HANGUL", "ko"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("CJK", "zh"),
)


class LanguageGuesser:
    def __init__(self) -> None:
        self.chars = 0
        self.hits: Counter[str] = Counter()
        self.scripts: Counter[str] = Counter()

    @property
    def full(self) -> bool:
        return self.chars >= MAX_CHARS

    def feed(self, text: str) -> None:
        if self.full:
            return
        text = text[: MAX_CHARS - self.chars]
        self.chars += len(text)
        for char in text:
            if char.isalpha():
                self.scripts["LATIN" if char < "\u0250" else _script(char)] += 1
        for word in _WORD.findall(text.casefold()):
            for language, words in STOP_WORDS.items():
                if word in words:
                    self.hits[language] += 1

    def result(self) -> str:
        letters = sum(self.scripts.values())
        if not letters:
            return UNDETERMINED
        if self.scripts["LATIN"] < letters / 2:
            script, _count = max(
                ((name, count) for name, count in self.scripts.items() if name != "LATIN"),
                key=lambda item: (item[1], item[0]),
            )
            if self.scripts["HIRAGANA"] + self.scripts["KATAKANA"] > 0 and script == "CJK":
                return "ja"
            return dict(_SCRIPTS).get(script, UNDETERMINED)
        ranked = self.hits.most_common()
        if not ranked or ranked[0][1] < 5:
            return UNDETERMINED
        if len(ranked) > 1 and ranked[0][1] < 1.5 * ranked[1][1]:
            return UNDETERMINED
        return ranked[0][0]


def _script(char: str) -> str:
    try:
        name = unicodedata.name(char)
    except ValueError:
        return "OTHER"
    if name.startswith("LATIN"):
        return "LATIN"
    for script, _language in _SCRIPTS:
        if name.startswith(script):
            return script
    return "OTHER"


def guess_language(texts: list[str] | tuple[str, ...]) -> str:
    guesser = LanguageGuesser()
    for text in texts:
        guesser.feed(text)
        if guesser.full:
            break
    return guesser.result()
