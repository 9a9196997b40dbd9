"""Deterministic corruptions that turn clean prose into typical low-quality web scrape."""

from __future__ import annotations

import html
import random
import re
from collections.abc import Callable

# Invented boilerplate of the kind a careless scraper keeps.
_HEADERS = (
    "Home | News | Sports | Weather | Contact Us | Login",
    "Skip to main content. Menu. Search this site.",
    "BREAKING: Sign up for our newsletter and never miss a story!!!",
    "You are here: Home > Archive > Articles > Page 3 of 17",
)
_FOOTERS = (
    "Share this: Facebook | Twitter | Email | Print. (c) All rights reserved.",
    "We use cookies to improve your experience. Accept all cookies? Yes / No",
    "Click here to read more... Advertisement. Related posts: none found.",
    "Posted by admin | 0 comments | Tags: misc, uncategorized, archive",
)
_PAGES = (
    "404 Not Found. The page you requested could not be found. Return to homepage.",
    "Loading... Please enable JavaScript to view this page. Loading...",
    "Subscribe now! Subscribe now! Limited offer. Click here. Click here. Click here.",
    "Access denied. You must be logged in to view this content. Register | Log in",
)
# A one-word change keeps a near-duplicate fluent; articles and connectives are the fallback.
_SWAPS = {
    "said": "stated",
    "big": "large",
    "large": "big",
    "small": "little",
    "little": "small",
    "began": "started",
    "started": "began",
    "often": "frequently",
    "many": "numerous",
    "quickly": "rapidly",
    "very": "quite",
    "house": "home",
    "city": "town",
    "car": "automobile",
    "women": "ladies",
    "children": "kids",
    "new": "recent",
    "old": "aged",
    "told": "informed",
    "help": "aid",
    "need": "require",
    "get": "obtain",
    "show": "display",
    "about": "roughly",
}
_FALLBACK_SWAPS = {"the": "this", "a": "one", "an": "one", "and": "or", "of": "for"}
_WORD = re.compile(r"[A-Za-z]+")


def shuffled_words(text: str, rng: random.Random) -> str:
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


def with_boilerplate(text: str, rng: random.Random) -> str:
    return "\n".join([rng.choice(_HEADERS), text, rng.choice(_FOOTERS)])


def repeated_lines(text: str, rng: random.Random) -> str:
    """One sentence echoed several times, as when a scraper re-reads a sticky banner."""
    sentences = re.split(r"(?<=[.!?]) ", text)
    echo = rng.choice(sentences)
    return "\n".join([echo] * rng.randint(3, 5) + sentences)


def truncated_fragment(text: str, rng: random.Random) -> str:
    """A few words that stop mid-word."""
    words = text.split()[: rng.randint(5, 14)]
    last = words[-1]
    words[-1] = last[: max(1, len(last) // 2)]
    return " ".join(words)


def html_markup(text: str, rng: random.Random) -> str:
    body = html.escape(text, quote=True).replace(". ", ".&nbsp; ")
    tag = rng.choice(("div", "span", "td"))
    return f'<{tag} class="post-body"><p>{body}</p></{tag}><script>trackView();</script>'


def boilerplate_page(text: str, rng: random.Random) -> str:
    """Hardly any content: the scraper kept an error or paywall page under the page title."""
    title = " ".join(text.split()[:6])
    return " ".join([f"{title} -", *rng.sample(_PAGES, 2)])


NOISE_KINDS: dict[str, Callable[[str, random.Random], str]] = {
    "shuffled": shuffled_words,
    "boilerplate": with_boilerplate,
    "repeated": repeated_lines,
    "truncated": truncated_fragment,
    "markup": html_markup,
    "page": boilerplate_page,
}


def _swappable(text: str) -> tuple[list[re.Match[str]], dict[str, str]]:
    """Words that could be swapped, from the first table that has any, and that table."""
    matches = list(_WORD.finditer(text))
    for table in (_SWAPS, _FALLBACK_SWAPS):
        candidates = [match for match in matches if match.group().lower() in table]
        if candidates:
            return candidates, table
    return [], {}


def can_change_one_word(text: str) -> bool:
    return bool(_swappable(text)[0])


def change_one_word(text: str, rng: random.Random) -> str:
    """Swap one word for a near-synonym (or an article/connective) to make a near-duplicate."""
    candidates, table = _swappable(text)
    if not candidates:
        raise ValueError(f"no word to change in {text[:60]!r}")
    match = rng.choice(candidates)
    replacement = table[match.group().lower()]
    if match.group()[0].isupper():
        replacement = replacement.capitalize()
    return text[: match.start()] + replacement + text[match.end() :]
