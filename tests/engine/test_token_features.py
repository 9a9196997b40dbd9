"""The proxy's model-token features and their path through run_alinfik and a saved proxy."""

import numpy as np
import pytest
import torch

from valuation.engine.alinfik import AlinfikOptions, PoolFeatures, run_alinfik
from valuation.engine.data import Sample, tokenize_samples
from valuation.engine.heads import HeadConfig
from valuation.engine.proxy import LinFiKProxy
from valuation.engine.token_features import (
    FEATURE_NAME,
    token_embedding_features,
    token_feature_dim,
)
from valuation.engine.training import TrainConfig

from .test_alinfik import RecordingLabels, synthetic_pool

FAST = TrainConfig(max_epochs=60, patience=15)


def test_features_average_the_predicted_tokens_only(tokenizer) -> None:
    table = torch.arange(tokenizer.vocab_size * 2, dtype=torch.float64).reshape(-1, 2)
    samples = [
        Sample("plain", text="the cat sat"),
        Sample("pair", prompt="what is a cat", response="a big cat"),
    ]
    tokenized = tokenize_samples(samples, tokenizer, max_length=16)
    features = token_embedding_features(tokenized, table)

    assert features.shape == (2, token_feature_dim(table)) == (2, 3)
    assert features.dtype == np.float32
    # Plain text: <bos> is never predicted, so "the cat sat" all count.
    plain = [tokenizer.convert_tokens_to_ids(word) for word in ("the", "cat", "sat")]
    np.testing.assert_allclose(features[0, :2], table[plain].mean(0).numpy())
    np.testing.assert_allclose(features[0, 2], np.log(3))
    # Pair: only the response's tokens are in the loss.
    response = [tokenizer.convert_tokens_to_ids(word) for word in ("a", "big", "cat")]
    np.testing.assert_allclose(features[1, :2], table[response].mean(0).numpy())
    np.testing.assert_allclose(features[1, 2], np.log(3))


def test_features_follow_truncation(tokenizer) -> None:
    table = torch.randn(tokenizer.vocab_size, 4, generator=torch.Generator().manual_seed(0))
    sample = [Sample("long", text="the cat sat on the mat in the sky")]
    short = token_embedding_features(tokenize_samples(sample, tokenizer, max_length=3), table)
    ids = [tokenizer.convert_tokens_to_ids(word) for word in ("the", "cat")]
    np.testing.assert_allclose(short[0, :4], table[ids].mean(0).numpy(), rtol=1e-6)
    assert short[0, 4] == pytest.approx(np.log(2))


def test_bad_tables_and_token_ids_are_refused(tokenizer) -> None:
    tokenized = tokenize_samples([Sample("s", text="the cat")], tokenizer, max_length=8)
    with pytest.raises(ValueError, match=r"must be \[vocab, dim\]"):
        token_embedding_features(tokenized, torch.zeros(5))
    with pytest.raises(ValueError, match="sample 's' has token id .* outside the 3-row"):
        token_embedding_features(tokenized, torch.zeros(3, 2))


def test_run_alinfik_reads_extra_columns_and_saves_them_in_the_proxy(tmp_path) -> None:
    samples, _, counts, scores = synthetic_pool(300, seed=3)
    # The score is only in the extra columns: the (random) embeddings alone cannot see it.
    rng = np.random.default_rng(5)
    extra = np.column_stack([scores * 100, rng.normal(size=300)]).astype(np.float32)
    blind = rng.normal(size=(300, 4)).astype(np.float32)

    result = run_alinfik(
        samples=samples,
        label_fn=RecordingLabels(scores),
        options=AlinfikOptions(label_fraction=0.4, train_config=FAST),
        features=PoolFeatures(
            embeddings=blind,
            token_counts=counts,
            extra_features=extra,
            extra_feature_name=FEATURE_NAME,
        ),
    )
    without = run_alinfik(
        samples=samples,
        label_fn=RecordingLabels(scores),
        options=AlinfikOptions(label_fraction=0.4, train_config=FAST),
        features=PoolFeatures(embeddings=blind, token_counts=counts),
    )

    assert result.proxy.metadata.head.extra_dim == 2
    assert result.proxy.metadata.head.n_inputs == 4 + 1 + 2
    assert result.proxy.metadata.extra_features == FEATURE_NAME
    assert without.proxy.metadata.extra_features == ""
    assert result.fidelity["spearman"] > 0.9 > without.fidelity["spearman"]

    path = result.proxy.save(tmp_path / "proxy.safetensors")
    loaded = LinFiKProxy.load(path)
    unlabelled = ~result.is_exact
    np.testing.assert_array_equal(
        loaded.predict(blind, counts, extra_features=extra)[unlabelled], result.scores[unlabelled]
    )
    with pytest.raises(ValueError, match="reads 2 extra feature columns"):
        loaded.predict(blind, counts)
    with pytest.raises(ValueError, match=r"extra_features have shape \(300, 1\)"):
        loaded.predict(blind, counts, extra_features=extra[:, :1])


def test_run_alinfik_refuses_inconsistent_extra_features() -> None:
    samples, embeddings, counts, scores = synthetic_pool(40)
    common = {
        "samples": samples,
        "label_fn": RecordingLabels(scores),
        "options": AlinfikOptions(label_fraction=0.5, train_config=FAST),
    }

    def features(extra: np.ndarray) -> PoolFeatures:
        return PoolFeatures(embeddings=embeddings, token_counts=counts, extra_features=extra)

    with pytest.raises(ValueError, match="one row per sample"):
        run_alinfik(features=features(np.zeros((39, 2), dtype=np.float32)), **common)
    broken = np.zeros((40, 2), dtype=np.float32)
    broken[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7 has a non-finite value"):
        run_alinfik(features=features(broken), **common)
    with pytest.raises(ValueError, match="extra_dim is 3 but extra_features have 2"):
        run_alinfik(
            samples=common["samples"],
            label_fn=common["label_fn"],
            options=AlinfikOptions(
                label_fraction=0.5,
                train_config=FAST,
                head_config=HeadConfig(input_dim=embeddings.shape[1], extra_dim=3),
            ),
            features=features(np.zeros((40, 2), dtype=np.float32)),
        )
    with pytest.raises(ValueError, match="frozen encoder only"):
        run_alinfik(
            samples=common["samples"],
            label_fn=common["label_fn"],
            options=AlinfikOptions(label_fraction=0.5, train_config=FAST, finetune_encoder=True),
            features=features(np.zeros((40, 2), dtype=np.float32)),
        )
    assert common["label_fn"].calls == []  # refused before any exact label was paid for
