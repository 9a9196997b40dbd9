"""The platform tokenizer: SmolLM2's, cached as tokenizer.json, deterministic."""

from __future__ import annotations

from pathlib import Path

from marketplace import tokens
from marketplace.language import guess_language


def test_counts_are_smollm2_tokens_without_special_tokens():
    assert tokens.count_tokens(["Hello world, this is a test.", ""]) == [8, 0]
    assert tokens.get_tokenizer().get_vocab_size() == 49152
    assert tokens.count_sample_tokens(
        [("Hello world, this is a test.", None, None), (None, "Hello world,", " this is a test.")]
    ) == [8, 8]


def test_tokenizer_is_cached_as_json_and_per_process(settings):
    path = tokens.tokenizer_cache_path()
    assert path == Path(settings.VAR_DIR) / "tokenizers" / tokens.CACHE_NAME
    tokens.get_tokenizer()
    assert path.exists()
    assert tokens.get_tokenizer() is tokens.get_tokenizer()


def test_language_guess():
    assert guess_language(["The cat sat on the mat and it was happy with the fish."]) == "en"
    assert guess_language(["Le chat est sur la table et il ne veut pas manger avec nous."]) == "fr"
    assert guess_language(["Привет, как дела? Это русский текст."]) == "ru"
    assert guess_language(["これは日本語の文章です。"]) == "ja"
    assert guess_language(["12345 !!!"]) == "und"
    assert guess_language(["xyzzy plugh"]) == "und"
