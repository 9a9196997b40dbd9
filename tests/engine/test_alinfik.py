"""ALinFiK pipeline: stratified labelling, the label splits (single and cross-fitted) and
run_alinfik."""

from collections import Counter

import numpy as np
import pytest
import torch
from safetensors import safe_open

from valuation.engine.alinfik import AlinfikOptions, PoolFeatures, run_alinfik
from valuation.engine.crossfit import MIN_LABELS, cross_fit_splits, label_splits, split_labelled
from valuation.engine.data import Sample
from valuation.engine.embeddings import SentenceEncoder
from valuation.engine.exact import ExactLinFiK
from valuation.engine.fit import fidelity_report
from valuation.engine.heads import EnsembleHead, HeadConfig, RegressionHead
from valuation.engine.labels import length_strata, stratified_selection
from valuation.engine.metrics import spearman
from valuation.engine.proxy import LinFiKProxy, ProxyFileError
from valuation.engine.training import TrainConfig

FAST = TrainConfig(max_epochs=120, patience=20)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tiny models run fastest on one thread; on a shared, busy machine extra
    threads mostly spin (measured 4-20x slower). Restored after each test."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def synthetic_pool(n: int, seed: int = 0, dim: int = 24):
    """Samples, unit embeddings from 3 latent factors, token counts, and a learnable score."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 3))
    basis = np.random.default_rng(99).normal(size=(3, dim))
    embeddings = latent @ basis + 0.05 * rng.normal(size=(n, dim))
    embeddings = (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)).astype(np.float32)
    scores = 1e-2 * (latent[:, 0] + 0.3 * latent[:, 1] ** 2) + 1e-4 * rng.normal(size=n)
    samples = [Sample(f"s{i}", text=" ".join(["word"] * (1 + i % 17))) for i in range(n)]
    counts = np.array([3 + i % 17 for i in range(n)])
    return samples, embeddings, counts, scores


class RecordingLabels:
    """label_fn over a known score vector that records every call."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores
        self.calls: list[list[int]] = []

    def __call__(self, indices):
        self.calls.append(list(indices))
        return self.scores[np.asarray(indices, dtype=int)]


# ----- strata and selection -------------------------------------------------------------------


def test_length_strata_are_word_count_quartiles():
    samples = [Sample(f"s{i}", text=" ".join(["w"] * (i + 1))) for i in range(8)]
    assert list(length_strata(samples, n_buckets=4)) == [
        "length-q0",
        "length-q0",
        "length-q1",
        "length-q1",
        "length-q2",
        "length-q2",
        "length-q3",
        "length-q3",
    ]
    pair = Sample("p", prompt="one two", response="three")  # counts prompt and response
    assert list(length_strata([pair, samples[0]], n_buckets=2)) == ["length-q1", "length-q0"]
    # The service buckets stored token counts with the same rule.
    from valuation.services.pipeline.plan import token_strata

    assert list(token_strata(np.arange(1, 9), n_buckets=4)) == list(length_strata(samples, 4))
    with pytest.raises(ValueError, match="at least 1"):
        length_strata(samples, n_buckets=0)


def test_selection_allocates_by_largest_remainder_with_one_per_stratum():
    strata = ["A"] * 50 + ["B"] * 30 + ["C"] * 20
    chosen = stratified_selection(strata, 0.1, seed=0)
    # 10 labels: one each, then 7 spread over spare sizes 49/29/19 -> 3.54, 2.09, 1.37.
    assert Counter(strata[i] for i in chosen) == {"A": 5, "B": 3, "C": 2}
    assert list(chosen) == sorted(set(chosen.tolist()))


def test_selection_covers_small_strata_and_is_seeded():
    strata = ["big"] * 95 + ["tiny"] * 5
    chosen = stratified_selection(strata, 0.05, seed=3)
    assert Counter(strata[i] for i in chosen) == {"big": 4, "tiny": 1}
    np.testing.assert_array_equal(chosen, stratified_selection(strata, 0.05, seed=3))
    assert not np.array_equal(chosen, stratified_selection(strata, 0.05, seed=4))


def test_larger_fractions_keep_the_labels_of_smaller_ones():
    strata = [f"d{i % 4}" for i in range(1000)]
    previous: set[int] = set()
    for fraction in (0.01, 0.05, 0.1, 0.2):
        chosen = set(stratified_selection(strata, fraction, seed=11).tolist())
        assert len(chosen) == round(fraction * 1000)
        assert previous <= chosen
        previous = chosen


def test_selection_with_fewer_labels_than_strata_covers_the_largest():
    strata = ["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 1
    chosen = stratified_selection(strata, 0.15, seed=0)  # 1.8 rounds to 2 labels
    assert sorted(strata[i] for i in chosen) == ["a", "b"]


@pytest.mark.parametrize("fraction", [0.0, 1.2])
def test_selection_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="label_fraction must be in"):
        stratified_selection(["a"] * 10, fraction, seed=0)


def test_split_is_disjoint_complete_and_sized():
    split = split_labelled(50, seed=0)
    assert (len(split.train), len(split.validation), len(split.holdout)) == (30, 10, 10)
    together = np.concatenate([split.train, split.validation, split.holdout])
    assert sorted(together.tolist()) == list(range(50))
    small = split_labelled(MIN_LABELS, seed=0)
    assert (len(small.train), len(small.validation), len(small.holdout)) == (2, 2, 2)
    skewed = split_labelled(6, seed=0, fractions=(0.1, 0.45, 0.45))
    assert (len(skewed.train), len(skewed.validation), len(skewed.holdout)) == (2, 2, 2)


def test_split_explains_too_few_labels():
    with pytest.raises(ValueError, match="at least 6 labelled samples .* got 5"):
        split_labelled(5, seed=0)
    with pytest.raises(ValueError, match="summing to 1"):
        split_labelled(20, seed=0, fractions=(0.5, 0.5, 0.5))


def test_fidelity_report_keys_and_values():
    report = fidelity_report(np.arange(10.0), np.arange(10.0) ** 3)
    assert report == {
        "spearman": 1.0,
        "kendall_tau": pytest.approx(1.0, abs=1e-15),
        "precision_at_10pct": 1.0,
        "n_holdout": 10.0,
    }


# ----- run_alinfik on synthetic labels --------------------------------------------------------


def test_run_alinfik_keeps_exact_labels_and_predicts_the_rest():
    samples, embeddings, counts, scores = synthetic_pool(400)
    labels = RecordingLabels(scores)
    result = run_alinfik(
        samples=samples,
        label_fn=labels,
        options=AlinfikOptions(label_fraction=0.25, train_config=FAST),
        features=PoolFeatures(
            embeddings=embeddings, token_counts=counts, encoder_identity="sha256:e"
        ),
    )
    assert labels.calls == [result.labelled_indices.tolist()]  # one batched call
    assert len(result.labelled_indices) == 100
    assert result.scores.dtype == np.float64 and result.scores.shape == (400,)
    np.testing.assert_array_equal(np.flatnonzero(result.is_exact), result.labelled_indices)
    np.testing.assert_array_equal(result.scores[result.is_exact], scores[result.is_exact])
    unlabelled = ~result.is_exact
    np.testing.assert_array_equal(
        result.scores[unlabelled], result.proxy.predict(embeddings[unlabelled], counts[unlabelled])
    )
    assert spearman(scores[unlabelled], result.scores[unlabelled]) > 0.8
    assert result.fidelity["spearman"] > 0.7
    assert result.fidelity["n_holdout"] == 100.0  # cross-fitted: every label is held out once
    assert set(result.timings) == {
        "embed_seconds",
        "label_seconds",
        "train_seconds",
        "predict_seconds",
    }
    metadata = result.proxy.metadata
    assert (metadata.label_fraction, metadata.n_labelled, metadata.seed) == (0.25, 100, 0)
    assert metadata.fidelity == result.fidelity
    assert metadata.encoder_identity == "sha256:e" and not metadata.encoder_finetuned


def member_predictions(head: EnsembleHead, k: int, inputs: np.ndarray) -> np.ndarray:
    """Member k's own LinFiK-scale prediction, read through its stored scaler."""
    with torch.no_grad():
        z = head.members[k](torch.from_numpy(inputs)).double()
    return (z * head.member_std[k] + head.member_mean[k]).numpy()


def run_synthetic(scores, embeddings, counts, samples, **options):
    return run_alinfik(
        samples=samples,
        label_fn=RecordingLabels(scores),
        options=AlinfikOptions(label_fraction=0.2, train_config=FAST, **options),
        features=PoolFeatures(embeddings=embeddings, token_counts=counts),
    )


def test_cross_fitted_fidelity_is_measured_on_every_label_by_the_members_that_never_saw_it():
    samples, embeddings, counts, scores = synthetic_pool(300)
    result = run_synthetic(scores, embeddings, counts, samples)
    head = result.proxy.head
    # 5 folds x 3 rounds (the defaults): 15 members, each label held out from 3 of them.
    assert isinstance(head, EnsembleHead) and len(head.members) == len(result.splits) == 15
    labelled = result.labelled_indices
    inputs = np.hstack([embeddings, np.log(counts)[:, None]]).astype(np.float32)
    by_label = np.zeros((len(labelled), 15))
    held = np.zeros((len(labelled), 15), dtype=bool)
    for k, split in enumerate(result.splits):
        by_label[split.holdout, k] = member_predictions(head, k, inputs[labelled[split.holdout]])
        held[split.holdout, k] = True
    assert np.all(held.sum(axis=1) == 3)
    assert np.all(held.reshape(len(labelled), 3, 5).sum(axis=2) == 1)  # once per round
    np.testing.assert_allclose(result.heldout_predictions, by_label.sum(axis=1) / 3, rtol=1e-5)
    expected = fidelity_report(scores[labelled], result.heldout_predictions)
    assert result.fidelity == {**expected, "folds": 5.0, "repeats": 3.0}
    assert result.fidelity["n_holdout"] == 60.0
    # The pool is scored by the members' mean on the LinFiK scale.
    unlabelled = np.flatnonzero(~result.is_exact)[:7]
    mean = np.mean([member_predictions(head, k, inputs[unlabelled]) for k in range(15)], axis=0)
    np.testing.assert_allclose(result.scores[unlabelled], mean, rtol=1e-5)


def test_repeated_cross_fitting_reshuffles_each_round_and_keeps_the_first():
    rounds = label_splits(53, 5, seed=3, repeats=3)
    assert len(rounds) == 15
    first = cross_fit_splits(53, folds=5, seed=3)
    for mine, reference in zip(rounds[:5], first, strict=True):
        for part in ("train", "validation", "holdout"):
            np.testing.assert_array_equal(getattr(mine, part), getattr(reference, part))
    for r in range(3):
        holdouts = np.concatenate([split.holdout for split in rounds[5 * r : 5 * r + 5]])
        assert sorted(holdouts) == list(range(53))  # each round partitions the labels
    assert not np.array_equal(rounds[0].holdout, rounds[5].holdout)
    assert not np.array_equal(rounds[5].holdout, rounds[10].holdout)
    with pytest.raises(ValueError, match="repeats need cross-fitting"):
        label_splits(53, 1, seed=3, repeats=2)
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        label_splits(53, 5, seed=3, repeats=0)


def test_a_members_holdout_labels_never_influence_that_member():
    samples, embeddings, counts, scores = synthetic_pool(300)
    first = run_synthetic(scores, embeddings, counts, samples)
    held_by_first = first.labelled_indices[first.splits[0].holdout]
    changed = scores.copy()
    changed[held_by_first] = np.random.default_rng(1).normal(size=len(held_by_first))
    second = run_synthetic(changed, embeddings, counts, samples)
    members = first.proxy.head.members, second.proxy.head.members
    for key, value in members[0][0].state_dict().items():
        assert torch.equal(value, members[1][0].state_dict()[key])
    # Every other member trained on those labels, so it changed.
    assert not torch.equal(members[0][1].layers[0].weight, members[1][1].layers[0].weight)
    assert first.fidelity != second.fidelity


def test_single_split_fidelity_is_measured_on_its_holdout_only():
    samples, embeddings, counts, scores = synthetic_pool(300)
    result = run_synthetic(scores, embeddings, counts, samples, folds=1)
    assert isinstance(result.proxy.head, RegressionHead) and len(result.splits) == 1
    holdout = result.splits[0].holdout
    rows = result.labelled_indices[holdout]
    expected = fidelity_report(scores[rows], result.proxy.predict(embeddings[rows], counts[rows]))
    assert result.fidelity == {**expected, "folds": 1.0, "repeats": 1.0}
    judged = np.flatnonzero(np.isfinite(result.heldout_predictions))
    np.testing.assert_array_equal(judged, holdout)


def test_single_split_holdout_labels_never_influence_training():
    samples, embeddings, counts, scores = synthetic_pool(300)
    first = run_synthetic(scores, embeddings, counts, samples, folds=1)
    holdout = first.labelled_indices[first.splits[0].holdout]
    changed = scores.copy()
    changed[holdout] = np.random.default_rng(1).normal(size=len(holdout))
    second = run_synthetic(changed, embeddings, counts, samples, folds=1)
    for key, value in first.proxy.head.state_dict().items():
        assert torch.equal(value, second.proxy.head.state_dict()[key])
    assert first.fidelity != second.fidelity


def test_cross_fit_splits_partition_the_labels_and_shrink_on_small_sets():
    splits = cross_fit_splits(53, folds=5, seed=3)
    holdouts = np.concatenate([split.holdout for split in splits])
    assert sorted(holdouts.tolist()) == list(range(53))  # each label held out exactly once
    assert [len(split.holdout) for split in splits] == [11, 11, 11, 10, 10]
    # A quarter of the other 42 or 43 labels validates, rounded half up: 10.5 and 10.75 -> 11.
    assert [len(split.validation) for split in splits] == [11] * 5
    for split in splits:
        together = np.concatenate([split.train, split.validation, split.holdout])
        assert sorted(together.tolist()) == list(range(53))
    small = cross_fit_splits(MIN_LABELS, folds=5, seed=0)
    assert [(len(s.train), len(s.validation), len(s.holdout)) for s in small] == [(2, 2, 2)] * 3
    assert [s.holdout.tolist() for s in cross_fit_splits(53, 5, 3)] == [
        s.holdout.tolist() for s in splits
    ]


def test_cross_fit_splits_explain_bad_requests():
    with pytest.raises(ValueError, match="at least 6 labelled samples, got 5"):
        cross_fit_splits(5, folds=5, seed=0)
    with pytest.raises(ValueError, match="at least 2 folds, got 1"):
        cross_fit_splits(50, folds=1, seed=0)


def test_finetuning_needs_the_single_split():
    samples, embeddings, counts, scores = synthetic_pool(60)
    labels = RecordingLabels(scores)
    with pytest.raises(ValueError, match="pass folds=1"):
        run_alinfik(
            samples=samples, label_fn=labels, options=AlinfikOptions(finetune_encoder=True, folds=5)
        )
    with pytest.raises(ValueError, match="folds must be at least 1, got 0"):
        run_alinfik(
            samples=samples,
            label_fn=labels,
            options=AlinfikOptions(folds=0),
            features=PoolFeatures(embeddings=embeddings),
        )
    assert labels.calls == []


def test_run_alinfik_is_bitwise_deterministic_and_seed_sensitive():
    samples, embeddings, counts, scores = synthetic_pool(300)

    def run(seed):
        return run_alinfik(
            samples=samples,
            label_fn=RecordingLabels(scores),
            options=AlinfikOptions(seed=seed, label_fraction=0.2, train_config=FAST),
            features=PoolFeatures(embeddings=embeddings, token_counts=counts),
        )

    first, second, other = run(7), run(7), run(8)
    assert first.scores.tobytes() == second.scores.tobytes()
    assert first.fidelity == second.fidelity
    assert not np.array_equal(first.labelled_indices, other.labelled_indices)


def test_length_feature_lets_the_head_learn_length_driven_scores():
    samples, _, counts, _ = synthetic_pool(300)
    noise = np.random.default_rng(5).normal(size=(300, 24)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)  # embeddings carry no length signal
    scores = 1.0 / counts + 1e-6 * np.random.default_rng(6).normal(size=300)

    def unlabelled_rho(head_config):
        result = run_alinfik(
            samples=samples,
            label_fn=RecordingLabels(scores),
            options=AlinfikOptions(label_fraction=0.3, head_config=head_config, train_config=FAST),
            features=PoolFeatures(embeddings=noise, token_counts=counts),
        )
        assert result.proxy.metadata.head == result.proxy.head.config
        return spearman(scores[~result.is_exact], result.scores[~result.is_exact])

    assert unlabelled_rho(None) > 0.7  # default head: embedding plus length feature
    assert abs(unlabelled_rho(HeadConfig(input_dim=24))) < 0.3


def test_given_strata_each_get_a_label():
    samples, embeddings, counts, scores = synthetic_pool(200)
    strata = ["provider-a"] * 190 + ["provider-b"] * 10
    result = run_alinfik(
        samples=samples,
        label_fn=RecordingLabels(scores),
        options=AlinfikOptions(label_fraction=0.05, train_config=FAST),
        features=PoolFeatures(strata=strata, embeddings=embeddings, token_counts=counts),
    )
    assert Counter(strata[i] for i in result.labelled_indices) == {"provider-a": 9, "provider-b": 1}


def test_saved_proxy_from_a_run_reproduces_its_scores(tmp_path):
    samples, embeddings, counts, scores = synthetic_pool(200)
    result = run_alinfik(
        samples=samples,
        label_fn=RecordingLabels(scores),
        options=AlinfikOptions(
            label_fraction=0.2, train_config=FAST, model_identity="sha256:m", target_hash="sha256:t"
        ),
        features=PoolFeatures(embeddings=embeddings, token_counts=counts),
    )
    loaded = LinFiKProxy.load(result.proxy.save(tmp_path / "p.safetensors"))
    assert (loaded.metadata.model_identity, loaded.metadata.target_hash) == ("sha256:m", "sha256:t")
    unlabelled = ~result.is_exact
    np.testing.assert_array_equal(
        loaded.predict(embeddings, counts)[unlabelled], result.scores[unlabelled]
    )


@pytest.mark.parametrize(
    ("label_fn", "message"),
    [
        (lambda idx: np.zeros(len(idx) + 1), "label_fn returned shape"),
        (
            lambda idx: np.where(np.arange(len(idx)) == 2, np.nan, 0.0),
            "non-finite score for sample index",
        ),
    ],
)
def test_bad_labels_are_reported(label_fn, message):
    samples, embeddings, counts, _ = synthetic_pool(60)
    with pytest.raises(ValueError, match=message):
        run_alinfik(
            samples=samples,
            label_fn=label_fn,
            options=AlinfikOptions(label_fraction=0.2),
            features=PoolFeatures(embeddings=embeddings, token_counts=counts),
        )


def test_bad_inputs_are_reported():
    samples, embeddings, counts, scores = synthetic_pool(60)
    labels = RecordingLabels(scores)
    with pytest.raises(ValueError, match=r"expected one row per sample \(60\)"):
        run_alinfik(
            samples=samples,
            label_fn=labels,
            features=PoolFeatures(embeddings=embeddings[:50], token_counts=counts),
        )
    with pytest.raises(ValueError, match="3 strata labels for 60 samples"):
        run_alinfik(
            samples=samples,
            label_fn=labels,
            features=PoolFeatures(embeddings=embeddings, token_counts=counts, strata=["a"] * 3),
        )
    with pytest.raises(ValueError, match="at least 6 labelled samples"):
        run_alinfik(
            samples=samples,
            label_fn=labels,
            options=AlinfikOptions(label_fraction=0.05),
            features=PoolFeatures(embeddings=embeddings, token_counts=counts),
        )
    with pytest.raises(ValueError, match="at least one sample"):
        run_alinfik(samples=[], label_fn=labels)
    assert labels.calls == []  # nothing was labelled for a run that could not train


# ----- end to end: MiniLM embeddings and exact LinFiK on a tiny GPT-2 -------------------------


def word_pool(tokenizer, n: int, seed: int = 0) -> list[Sample]:
    """Sentences over the tiny tokenizer's (non-special) vocabulary, 3 to 20 words long."""
    words = sorted(w for w in tokenizer.get_vocab() if not w.startswith("<"))
    rng = np.random.default_rng(seed)
    return [
        Sample(f"w{i}", text=" ".join(rng.choice(words, size=rng.integers(3, 21))))
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def minilm() -> SentenceEncoder:
    return SentenceEncoder()


@pytest.mark.slow
def test_end_to_end_with_exact_linfik_on_tiny_gpt2(minilm, tiny_gpt2, tokenizer, target_samples):
    samples = word_pool(tokenizer, 200)
    scorer = ExactLinFiK(tiny_gpt2.model, tiny_gpt2.tokenizer, max_length=32, batch_size=16)
    target = scorer.target_gradient(target_samples)
    exact_all = scorer.score(samples, target)

    def label_fn(indices):
        return scorer.score([samples[i] for i in indices], target)

    config = TrainConfig(max_epochs=100, patience=20, max_length=32)
    first = run_alinfik(
        samples=samples,
        label_fn=label_fn,
        encoder=minilm,
        options=AlinfikOptions(
            label_fraction=0.5, train_config=config, model_identity=tiny_gpt2.identity
        ),
    )
    second = run_alinfik(
        samples=samples,
        label_fn=label_fn,
        encoder=minilm,
        options=AlinfikOptions(
            label_fraction=0.5, train_config=config, model_identity=tiny_gpt2.identity
        ),
    )
    assert first.scores.tobytes() == second.scores.tobytes()
    np.testing.assert_allclose(
        first.scores[first.is_exact], exact_all[first.is_exact], rtol=1e-9, atol=0
    )
    assert first.proxy.metadata.model_identity == tiny_gpt2.identity
    assert first.proxy.metadata.encoder_identity == minilm.identity
    assert set(first.fidelity) == {
        "spearman",
        "kendall_tau",
        "precision_at_10pct",
        "n_holdout",
        "folds",
        "repeats",
    }
    unlabelled = ~first.is_exact
    # LinFiK here depends on which words a sentence uses, which MiniLM partly sees: on 100
    # unlabelled samples chance gives |rho| ~ 0.1, so 0.3 is clearly learned signal.
    rho = spearman(exact_all[unlabelled], first.scores[unlabelled])
    print(f"tiny GPT-2 unlabelled Spearman {rho:.3f}, holdout {first.fidelity}")
    assert rho > 0.3


@pytest.mark.slow
def test_finetuned_encoder_run_saves_and_reloads(minilm, tmp_path):
    samples, _, _, _ = synthetic_pool(60)
    lengths = np.array([len(s.display_text) for s in samples], dtype=np.float64)
    digest_before = minilm.weights_digest()
    config = TrainConfig(max_epochs=30, finetune_max_epochs=1, finetune_layers=1, max_length=32)
    result = run_alinfik(
        samples=samples,
        label_fn=RecordingLabels(lengths),
        encoder=minilm,
        options=AlinfikOptions(
            label_fraction=0.5, finetune_encoder=True, folds=1, train_config=config
        ),
    )
    assert minilm.weights_digest() == digest_before  # the caller's encoder is not tuned
    metadata = result.proxy.metadata
    assert metadata.encoder_finetuned and metadata.finetuned_layers == 1
    assert metadata.encoder_identity.startswith(minilm.identity + "+finetuned:sha256:")
    assert metadata.base_encoder_identity == minilm.identity
    path = result.proxy.save(tmp_path / "ft.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        encoder_keys = [key for key in handle.keys() if key.startswith("encoder.")]  # noqa: SIM118
    # Only the tuned last layer travels with the proxy; the rest comes from the base encoder.
    assert encoder_keys and all(k.startswith("encoder.encoder.layer.5.") for k in encoder_keys)
    loaded = LinFiKProxy.load(path, encoder=minilm)
    assert loaded.encoder is not None and loaded.encoder.identity == metadata.encoder_identity
    texts = [s.display_text for s in samples]
    np.testing.assert_array_equal(
        loaded.predict_texts(texts)[~result.is_exact], result.scores[~result.is_exact]
    )
    impostor = minilm.copy()
    impostor.base_identity = "sha256:other"
    with pytest.raises(ProxyFileError, match="fine-tuned from encoder"):
        LinFiKProxy.load(path, encoder=impostor)
