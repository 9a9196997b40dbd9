"""Sample fingerprints: normalised-text hashes, MinHash signatures and LSH band keys.

* **Normalisation** (for duplicate detection): Unicode NFKC, ``casefold()``, every run of
  whitespace collapsed to one space, stripped. A prompt/response pair is fingerprinted as
  ``prompt + "\\n" + response``, so re-packaging another provider's pairs as plain text
  is still caught.
* **Exact duplicates** share ``norm_hash`` = sha256 of the normalised text (hex).
* **Near duplicates**: MinHash (``datasketch`` >= 2, scheme affine32, 128 permutations,
  seed 1) over the set of word 3-shingles of the normalised text (a text of fewer than 3
  words is one shingle). The signature is split into 16 bands of 8 rows; each band's hash is
  a ``SampleBand`` key, so candidates sharing any band are found with indexed lookups. With
  b=16, r=8 a pair with Jaccard 0.8 becomes a candidate with probability ~0.95 (0.7: ~0.6,
  0.5: ~0.06).
  Word 3-shingles cannot see a one-word edit in a *short* text (8 words, one changed: Jaccard
  0.5), so texts of 5-32 words also get *one-edit keys*: the hash of the word sequence with
  each single word deleted, plus the whole sequence. Two short texts one word substitution,
  insertion or deletion apart always share a key.
  Candidates are confirmed deterministically on the texts themselves: near duplicates when
  the exact Jaccard similarity of their 3-shingle sets, or their word-level edit similarity
  (``1 - word Levenshtein distance / longer length``), is at least
  ``NEAR_DUPLICATE_THRESHOLD`` (default 0.8).
* **Content digest** (for a version's ``content_hash``): sha256 of a canonical JSON of the
  sample content (NFC-normalised, CRLF -> LF, ids excluded).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
from datasketch import MinHash

NUM_PERM = 128
BANDS = 16
ROWS_PER_BAND = 8
MINHASH_SEED = 1
# datasketch >= 2.0 permutation scheme; stored signatures are only comparable within one scheme.
MINHASH_SCHEME = "affine32"
SHINGLE_WORDS = 3
_WHITESPACE = re.compile(r"\s+")

assert BANDS * ROWS_PER_BAND == NUM_PERM


def joined_text(*, text: str | None, prompt: str | None, response: str | None) -> str:
    if text is not None:
        return text
    return f"{prompt}\n{response}"


def normalise(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).casefold()
    return _WHITESPACE.sub(" ", value).strip()


def norm_hash(normalised: str) -> str:
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def shingles(normalised: str) -> set[str]:
    words = normalised.split(" ") if normalised else []
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words)}
    return {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    template = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme=MINHASH_SCHEME)
    return template.permutations


def minhash_signature(shingle_set: Iterable[str]) -> bytes:
    minhash = MinHash(
        num_perm=NUM_PERM, seed=MINHASH_SEED, permutations=_permutations(), scheme=MINHASH_SCHEME
    )
    minhash.update_batch([item.encode("utf-8") for item in shingle_set])
    return minhash.hashvalues.astype("<u4").tobytes()


def signature_values(signature: bytes) -> np.ndarray:
    return np.frombuffer(bytes(signature), dtype="<u4")


EDIT_KEY_MIN_WORDS = 5
EDIT_KEY_MAX_WORDS = 32
EDIT_SIMILARITY_MAX_WORDS = 400


def _key(payload: bytes, person: bytes) -> int:
    digest = hashlib.blake2b(payload, digest_size=8, person=person).digest()
    return int.from_bytes(digest, "big", signed=True)


def near_keys(normalised: str, signature: bytes) -> list[int]:
    """Every near-duplicate index key of a sample: LSH bands, then one-edit keys."""
    keys = band_keys(signature)
    words = normalised.split(" ") if normalised else []
    if EDIT_KEY_MIN_WORDS <= len(words) <= EDIT_KEY_MAX_WORDS:
        variants = {" ".join(words)} | {
            " ".join(words[:i] + words[i + 1 :]) for i in range(len(words))
        }
        keys.extend(sorted(_key(v.encode("utf-8"), b"one-edit") for v in variants))
    return keys


def word_edit_similarity(a: str, b: str) -> float:
    """``1 - word-level Levenshtein distance / longer length`` of two normalised texts."""
    left, right = a.split(" "), b.split(" ")
    longest = max(len(left), len(right))
    if longest == 0:
        return 1.0
    if longest > EDIT_SIMILARITY_MAX_WORDS:
        return 0.0
    previous = list(range(len(right) + 1))
    for i, word in enumerate(left, start=1):
        current = [i]
        for j, other in enumerate(right, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return 1.0 - previous[-1] / longest


def is_near_duplicate(a: str, b: str, *, threshold: float) -> bool:
    """Whether two normalised texts are near duplicates (see the module docstring)."""
    if jaccard(shingles(a), shingles(b)) >= threshold:
        return True
    left, right = a.count(" ") + 1, b.count(" ") + 1
    if min(left, right) < threshold * max(left, right):
        return False  # too different in length for the edit similarity to reach threshold
    return word_edit_similarity(a, b) >= threshold


def band_keys(signature: bytes) -> list[int]:
    """The signed 64-bit hash of each band, with the band number mixed in."""
    raw = bytes(signature)
    width = ROWS_PER_BAND * 4
    keys = []
    for band in range(BANDS):
        digest = hashlib.blake2b(
            raw[band * width : (band + 1) * width], digest_size=8, person=band.to_bytes(16, "big")
        ).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return keys


def content_digest(*, text: str | None, prompt: str | None, response: str | None) -> bytes:
    def canon(value: str) -> str:
        return unicodedata.normalize("NFC", value.replace("\r\n", "\n"))

    if text is not None:
        payload = {"text": canon(text)}
    else:
        payload = {"prompt": canon(prompt or ""), "response": canon(response or "")}
    return hashlib.sha256(
        json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    ).digest()


class ContentHasher:
    """Order-independent multiset hash of sample digests.

    ``content_hash = sha256(f"{count}:{sum of digests mod 2**256:064x}")``: the same samples
    in any order give the same hash; a repeated sample counts twice (unlike XOR). Constant
    memory, so it streams with the ingest.
    """

    _MOD = 1 << 256

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add(self, digest: bytes) -> None:
        self.total = (self.total + int.from_bytes(digest, "big")) % self._MOD
        self.count += 1

    def hexdigest(self) -> str:
        return hashlib.sha256(f"{self.count}:{self.total:064x}".encode()).hexdigest()


def content_hash_of(digests: Sequence[bytes]) -> str:
    hasher = ContentHasher()
    for digest in digests:
        hasher.add(digest)
    return hasher.hexdigest()
