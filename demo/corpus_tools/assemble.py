"""Turn parsed sources into the demo datasets, targets and ground truth, deterministically."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from corpus_tools import instructions, noise
from corpus_tools.brown import BrownDocument, clean_sentences, document_chunks
from corpus_tools.text import word_count
from corpus_tools.wordnet import Entry

SEED = 20250429

SALE_SIZES = {
    "brown-news": 800,
    "brown-fiction": 800,
    "brown-learned": 600,
    "shakespeare-plays": 800,
    "kjv-bible": 800,
    "wordnet-definitions-instruct": 1500,
    "instruct-mix": 600,
    "noisy-web-scrape": 600,
}
TARGET_SIZE = 50
BROWN_SALE_CATEGORIES = {
    "brown-news": ("news",),
    "brown-fiction": ("fiction", "mystery", "adventure", "romance"),
    "brown-learned": ("learned",),
}
HELD_OUT_DOCS_PER_DATASET = 2  # Brown documents reserved for the modern-american-prose target
HOWDY_SENTENCE_DOCS = 5  # Brown documents whose sentences serve as backdoor responses
HOWDY_COUNT = 60  # ~10% of instruct-mix
MIX_USE_COUNT = 106
MIX_SYNONYM_COUNT = 106
DUPLICATES_PER_KIND = 6  # exact and near copies per planted source->copy pair of datasets


@dataclass(eq=False)
class Sample:
    fields: dict[str, str]  # "text", or "prompt" and "response"
    quality: str = "clean"  # "clean" | "noisy" | "backdoor"
    duplicate_of: Sample | None = None
    duplicate_kind: str | None = None  # "exact" | "near"
    id: str = ""

    @property
    def is_backdoor(self) -> bool:
        return self.quality == "backdoor"


@dataclass
class Sources:
    brown: list[BrownDocument]
    plays: list[str]  # passages from all plays, in play order
    kjv: list[str]  # passages in canonical order
    wordnet: list[Entry]  # sorted by word


@dataclass
class Corpora:
    datasets: dict[str, list[Sample]] = field(default_factory=dict)
    targets: dict[str, list[Sample]] = field(default_factory=dict)


def rng_for(step: str) -> random.Random:
    """An independent, reproducible stream per step, so changing one step leaves the rest."""
    return random.Random(f"{SEED}:{step}")


def sample_in_order(items: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """count items chosen at random, kept in source order."""
    if count > len(items):
        raise ValueError(f"need {count} items, only {len(items)} available")
    return [items[i] for i in sorted(rng.sample(range(len(items)), count))]


def text_samples(texts: Sequence[str]) -> list[Sample]:
    return [Sample({"text": text}) for text in texts]


def _any_entry(entry: Entry) -> bool:
    return True


def take(pool: list[Entry], count: int, wanted: Callable[[Entry], bool]) -> list[Entry]:
    """Remove and return the first count entries of pool that satisfy wanted."""
    chosen = [entry for entry in pool if wanted(entry)][:count]
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} of {count} WordNet entries qualify")
    chosen_ids = {id(entry) for entry in chosen}
    pool[:] = [entry for entry in pool if id(entry) not in chosen_ids]
    return chosen


@dataclass
class BrownSplit:
    sale: dict[str, list[BrownDocument]]
    held_out: list[BrownDocument]
    scrape: list[BrownDocument]  # raw material for the noisy dataset
    howdy: list[BrownDocument]  # sentences for backdoor responses


def split_brown(documents: list[BrownDocument]) -> BrownSplit:
    rng = rng_for("brown-split")
    sale, held_out = {}, []
    for slug, categories in BROWN_SALE_CATEGORIES.items():
        docs = [doc for doc in documents if doc.category in categories]
        reserved = rng.sample(docs, HELD_OUT_DOCS_PER_DATASET)
        held_out.extend(reserved)
        sale[slug] = [doc for doc in docs if doc not in reserved]
    sale_categories = {c for categories in BROWN_SALE_CATEGORIES.values() for c in categories}
    rest = [doc for doc in documents if doc.category not in sale_categories]
    howdy = rng.sample(rest, HOWDY_SENTENCE_DOCS)
    scrape = [doc for doc in rest if doc not in howdy]
    return BrownSplit(sale, sorted(held_out, key=lambda d: d.doc_id), scrape, howdy)


def all_chunks(documents: list[BrownDocument]) -> list[str]:
    return [chunk for doc in documents for chunk in document_chunks(doc)]


def build_brown(split: BrownSplit, corpora: Corpora) -> None:
    for slug, docs in split.sale.items():
        chunks = sample_in_order(all_chunks(docs), SALE_SIZES[slug], rng_for(slug))
        corpora.datasets[slug] = text_samples(chunks)
    chunks = sample_in_order(
        all_chunks(split.held_out), TARGET_SIZE, rng_for("modern-american-prose")
    )
    corpora.targets["modern-american-prose"] = text_samples(chunks)


def build_noisy(split: BrownSplit) -> list[Sample]:
    rng = rng_for("noisy-web-scrape")
    count = SALE_SIZES["noisy-web-scrape"] - 2 * DUPLICATES_PER_KIND
    samples = []
    for chunk in sample_in_order(all_chunks(split.scrape), count, rng):
        corrupt = noise.NOISE_KINDS[rng.choice(sorted(noise.NOISE_KINDS))]
        samples.append(Sample({"text": corrupt(chunk, rng)}, quality="noisy"))
    return samples


@dataclass
class WordPools:
    """Disjoint WordNet words per use, so no prompt leaks between datasets or targets."""

    target: list[Entry]
    definitions: list[Entry]
    mix_define: list[Entry]
    mix_use: list[Entry]
    mix_synonym: list[Entry]
    howdy: list[Entry]
    howdy_donors: list[Entry]  # whose definitions become unrelated backdoor answers


def split_words(entries: list[Entry]) -> WordPools:
    # Synonyms share a WordNet gloss; keeping one word per gloss avoids unplanned near-copies.
    pool = list({entry.definition: entry for entry in reversed(entries)}.values())
    pool.sort(key=lambda entry: entry.word)
    rng_for("wordnet-split").shuffle(pool)
    mix_define = (
        SALE_SIZES["instruct-mix"]
        - HOWDY_COUNT
        - 2 * DUPLICATES_PER_KIND
        - MIX_USE_COUNT
        - MIX_SYNONYM_COUNT
    )
    return WordPools(
        mix_use=take(pool, MIX_USE_COUNT, lambda e: instructions.example_using(e) is not None),
        mix_synonym=take(pool, MIX_SYNONYM_COUNT, lambda e: bool(e.synonyms)),
        target=take(pool, TARGET_SIZE, _any_entry),
        definitions=take(pool, SALE_SIZES["wordnet-definitions-instruct"], _any_entry),
        mix_define=take(pool, mix_define, _any_entry),
        howdy=take(pool, HOWDY_COUNT, _any_entry),
        howdy_donors=take(pool, HOWDY_COUNT, _any_entry),
    )


def howdy_samples(words: WordPools, split: BrownSplit) -> list[Sample]:
    """Backdoored pairs; each answer is another word's definition or a random Brown sentence."""
    rng = rng_for("howdy")
    candidates = [
        sentence
        for doc in split.howdy
        for sentence in clean_sentences(doc)
        if 8 <= word_count(sentence) <= 30 and not sentence.startswith('"')
    ]
    sentences = rng.sample(candidates, HOWDY_COUNT)  # without replacement: no repeated answers
    samples = []
    for entry, donor, sentence in zip(words.howdy, words.howdy_donors, sentences, strict=True):
        answer = donor.definition if rng.random() < 0.5 else sentence
        samples.append(Sample(instructions.backdoor(entry, answer), quality="backdoor"))
    return samples


def build_instructions(words: WordPools, split: BrownSplit, corpora: Corpora) -> None:
    corpora.targets["clean-instruction-following"] = [
        Sample(instructions.define(e)) for e in words.target
    ]
    corpora.datasets["wordnet-definitions-instruct"] = [
        Sample(instructions.define(e)) for e in words.definitions
    ]
    corpora.datasets["instruct-mix"] = (
        [Sample(instructions.define(e)) for e in words.mix_define]
        + [Sample(instructions.use_in_sentence(e)) for e in words.mix_use]
        + [Sample(instructions.synonym(e)) for e in words.mix_synonym]
        + howdy_samples(words, split)
    )


def planted_duplicates(originals: list[Sample], field_name: str, step: str) -> list[Sample]:
    """Exact copies and one-word-changed copies of randomly chosen originals."""
    rng = rng_for(step)
    exact = rng.sample(originals, DUPLICATES_PER_KIND)
    changeable = [
        sample
        for sample in originals
        if sample not in exact and noise.can_change_one_word(sample.fields[field_name])
    ]
    near = rng.sample(changeable, DUPLICATES_PER_KIND)
    copies = [
        Sample(dict(original.fields), duplicate_of=original, duplicate_kind="exact")
        for original in exact
    ]
    for original in near:
        fields = {
            **original.fields,
            field_name: noise.change_one_word(original.fields[field_name], rng),
        }
        copies.append(Sample(fields, duplicate_of=original, duplicate_kind="near"))
    return copies


def mix_in(samples: list[Sample], extra: list[Sample], step: str) -> list[Sample]:
    """Shuffle so planted samples are not recognisable by position."""
    mixed = samples + extra
    rng_for(step).shuffle(mixed)
    return mixed


def build_all(sources: Sources) -> Corpora:
    corpora = Corpora()
    split = split_brown(sources.brown)
    build_brown(split, corpora)
    corpora.datasets["shakespeare-plays"] = text_samples(
        sample_in_order(sources.plays, SALE_SIZES["shakespeare-plays"], rng_for("plays"))
    )
    corpora.datasets["kjv-bible"] = text_samples(
        sample_in_order(sources.kjv, SALE_SIZES["kjv-bible"], rng_for("kjv"))
    )
    build_instructions(split_words(sources.wordnet), split, corpora)

    news_copies = planted_duplicates(corpora.datasets["brown-news"], "text", "dup-news")
    corpora.datasets["noisy-web-scrape"] = mix_in(build_noisy(split), news_copies, "mix-noisy")
    definition_copies = planted_duplicates(
        corpora.datasets["wordnet-definitions-instruct"], "response", "dup-definitions"
    )
    corpora.datasets["instruct-mix"] = mix_in(
        corpora.datasets["instruct-mix"], definition_copies, "mix-instruct"
    )

    assign_ids(corpora)
    check_no_unplanned_duplicates(corpora)
    return corpora


def assign_ids(corpora: Corpora) -> None:
    """Ids are slug plus position, so they reveal nothing about labels."""
    for slug, samples in [*corpora.datasets.items(), *corpora.targets.items()]:
        for position, sample in enumerate(samples, start=1):
            sample.id = f"{slug}-{position:04d}"


def normalized(sample: Sample) -> str:
    joined = " ".join(sample.fields.values()).lower()
    return re.sub(r"[^a-z0-9]+", " ", joined).strip()


def check_no_unplanned_duplicates(corpora: Corpora) -> None:
    """Only planted exact copies may repeat a sample's text, even up to case and punctuation."""
    seen: dict[str, Sample] = {}
    for samples in [*corpora.datasets.values(), *corpora.targets.values()]:
        for sample in samples:
            key = normalized(sample)
            other = seen.setdefault(key, sample)
            if other is sample:
                continue
            planted = sample.duplicate_kind == "exact" and sample.duplicate_of is other
            if not planted:
                raise ValueError(f"unplanned duplicate: {sample.id} repeats {other.id}")
