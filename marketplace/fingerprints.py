"""Sample fingerprints: normalised-text hashes, MinHash signatures and LSH band keys.

* **Normalisation** (for duplicate detection): Unicode NFKC, ``casefold()``, every run of
  whitespace collapsed to one space, stripped. A prompt/response pair is fingerprinted as
  ``prompt + "\\n" + response``, so re-packaging another provider's pairs as plain text
  is still caught.
* **Exact duplicates** share ``norm_hash`` = sha256 of the normalised text (hex).
* **Near duplicates**: MinHash (``datasketch``, 128 permutations, seed 1) over the set of word
  3-shingles of the normalised text (a text of fewer than 3 words is one shingle). The
  signature is split into 16 bands of 8 rows; each band's hash is a ``SampleBand`` row, so
  candidates sharing any band are found with indexed lookups. With b=16, r=8 a pair with
  Jaccard 0.8 becomes a candidate with probability ~0.95 (0.7: ~0.6, 0.5: ~0.06).
  Candidates are then confirmed on the *exact* Jaccard similarity of their shingle sets
  (>= ``NEAR_DUPLICATE_THRESHOLD``, default 0.8), so the verdict is deterministic.
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
    template = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED)
    return template.permutations


def minhash_signature(shingle_set: Iterable[str]) -> bytes:
    minhash = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, permutations=_permutations())
    minhash.update_batch([item.encode("utf-8") for item in shingle_set])
    return minhash.hashvalues.astype("<u4").tobytes()


def signature_values(signature: bytes) -> np.ndarray:
    return np.frombuffer(bytes(signature), dtype="<u4")


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
