"""Sentence embeddings, the regression head, its training, and proxy save/load."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from valuation.engine.embeddings import (
    EmbeddingFileError,
    SentenceEncoder,
    encoder_identity,
    load_embeddings,
    save_embeddings,
)
from valuation.engine.heads import (
    EnsembleHead,
    HeadConfig,
    RegressionHead,
    TargetScaler,
    feature_statistics,
    length_column,
    proxy_inputs,
)
from valuation.engine.metrics import spearman
from valuation.engine.proxy import LinFiKProxy, ProxyFileError, ProxyMetadata
from valuation.engine.training import TrainConfig, pairwise_ranking_loss, train_head


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tiny models run fastest on one thread; on a shared, busy machine extra
    threads mostly spin (measured 4-20x slower). Restored after each test."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


SENTENCES = [
    "The cat sat quietly on the warm mat.",
    "A kitten was resting on the rug.",
    "Stock markets fell sharply after the announcement.",
    "The central bank raised interest rates again.",
    "She planted tomatoes and beans in the garden.",
    "Photosynthesis turns sunlight into chemical energy.",
    "The committee will meet on Tuesday to discuss the budget.",
    "He scored the winning goal in the final minute.",
    "Rain is expected across the north later this week.",
    "The recipe needs two eggs, flour and a pinch of salt.",
    "Quantum computers use qubits instead of bits.",
    "The old lighthouse guided ships along the rocky coast.",
]


def latent_dataset(n: int, seed: int = 0, dim: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings driven by 4 latent factors, and a smooth nonlinear score of them."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 4))
    basis = np.random.default_rng(1234).normal(size=(4, dim))
    x = latent @ basis + 0.05 * rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = 2.0 * x[:, :4] @ basis[:, 0] + np.tanh(x @ basis[1]) + 0.02 * rng.normal(size=n)
    return x.astype(np.float32), 1e-3 * y + 5e-4  # LinFiK-like small magnitudes


def small_config(**overrides) -> TrainConfig:
    return TrainConfig(**{"max_epochs": 150, "patience": 25, **overrides})


def trained_proxy(seed: int = 0) -> tuple[LinFiKProxy, np.ndarray]:
    x, y = latent_dataset(300, seed=3)
    head, scaler, report = train_head(
        x[:200], y[:200], x[200:250], y[200:250], config=small_config(), seed=seed
    )
    metadata = ProxyMetadata(
        head=head.config,
        target_mean=scaler.mean,
        target_std=scaler.std,
        encoder_identity="sha256:enc",
        base_encoder_identity="sha256:enc",
        model_identity="sha256:model",
        target_hash="sha256:target",
        seed=seed,
        label_fraction=0.1,
        n_labelled=250,
        fidelity={
            "spearman": 0.9,
            "kendall_tau": 0.7,
            "precision_at_10pct": 0.6,
            "n_holdout": 50.0,
        },
        training={"best_epoch": report.best_epoch},
    )
    return LinFiKProxy(head, metadata), x[250:]


# ----- embedding identity and storage (no model needed) --------------------------------------


def fake_model_dir(root: Path) -> Path:
    root.mkdir()
    for name, content in {
        "config.json": b"{}",
        "model.safetensors": b"weights",
        "tokenizer.json": b"{}",
        "README.md": b"docs",
    }.items():
        (root / name).write_bytes(content)
    return root


def test_encoder_identity_tracks_weight_bytes_but_not_docs(tmp_path):
    model_dir = fake_model_dir(tmp_path / "m")
    first = encoder_identity(model_dir)
    assert first.startswith("sha256:") and len(first) == 7 + 64
    assert encoder_identity(model_dir) == first
    (model_dir / "README.md").write_bytes(b"other docs")
    assert encoder_identity(model_dir) == first
    (model_dir / "model.safetensors").write_bytes(b"weightz")
    assert encoder_identity(model_dir) != first


def test_encoder_rejects_incomplete_model_directory(tmp_path):
    model_dir = fake_model_dir(tmp_path / "m")
    (model_dir / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="lacks tokenizer.json"):
        SentenceEncoder(model_dir)


def test_embeddings_round_trip_memory_mapped(tmp_path):
    matrix = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    ids = ["a", "b", "c", "d", "e"]
    path = save_embeddings(tmp_path / "pool.npy", ids, matrix, "sha256:enc")
    stored = load_embeddings(path)
    assert stored.ids == tuple(ids)
    assert stored.encoder_identity == "sha256:enc"
    assert isinstance(stored.matrix, np.memmap)
    np.testing.assert_array_equal(stored.matrix, matrix)
    np.testing.assert_array_equal(stored.rows_for(["d", "a"]), matrix[[3, 0]])
    with pytest.raises(KeyError, match="1 sample id"):
        stored.rows_for(["a", "zz"])


@pytest.mark.parametrize(
    ("name", "ids", "matrix", "message"),
    [
        ("x.npz", ["a"], np.zeros((1, 2), np.float32), "must end in .npy"),
        ("x.npy", ["a"], np.zeros((1, 2), np.float64), "float32"),
        ("x.npy", ["a", "b"], np.zeros((1, 2), np.float32), "2 ids for 1 embedding rows"),
        ("x.npy", ["a", "a"], np.zeros((2, 2), np.float32), "unique"),
    ],
)
def test_save_embeddings_rejects_bad_input(tmp_path, name, ids, matrix, message):
    with pytest.raises(ValueError, match=message):
        save_embeddings(tmp_path / name, ids, matrix, "sha256:enc")


def test_embeddings_store_keeps_token_counts(tmp_path):
    matrix = np.zeros((3, 2), np.float32)
    path = save_embeddings(tmp_path / "p.npy", ["a", "b", "c"], matrix, "e", token_counts=[5, 1, 9])
    stored = load_embeddings(path)
    np.testing.assert_array_equal(stored.token_counts, [5, 1, 9])
    assert stored.positions(["c", "a"]) == [2, 0]
    assert (
        load_embeddings(save_embeddings(tmp_path / "q.npy", ["a"], matrix[:1], "e")).token_counts
        is None
    )
    with pytest.raises(ValueError, match="2 token counts for 3 ids"):
        save_embeddings(tmp_path / "r.npy", ["a", "b", "c"], matrix, "e", token_counts=[1, 2])


def test_load_embeddings_reports_missing_and_mismatched_files(tmp_path):
    with pytest.raises(EmbeddingFileError, match="file not found"):
        load_embeddings(tmp_path / "none.npy")
    path = save_embeddings(tmp_path / "p.npy", ["a", "b"], np.zeros((2, 2), np.float32), "e")
    np.save(path, np.zeros((3, 2), np.float32))
    with pytest.raises(EmbeddingFileError, match=r"shape \(3, 2\) does not match 2 ids"):
        load_embeddings(path)


# ----- head, scaler, losses -------------------------------------------------------------------


def test_head_config_validation_and_output_shape():
    with pytest.raises(ValueError, match="dropout"):
        HeadConfig(dropout=1.0)
    with pytest.raises(ValueError, match="positive"):
        HeadConfig(hidden_dims=(0,))
    head = RegressionHead(HeadConfig(input_dim=7, hidden_dims=(5, 3)))
    assert head(torch.zeros(4, 7)).shape == (4,)
    assert [m.out_features for m in head.modules() if isinstance(m, torch.nn.Linear)] == [5, 3, 1]


def test_feature_statistics_chunked_with_a_floor_for_constant_features():
    x = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 2.0], [5.0, 5.0, 4.0]], dtype=np.float32)
    mean, scale = feature_statistics(x, chunk_size=2)
    np.testing.assert_allclose(mean, [3.0, 5.0, 2.0])
    std = math.sqrt(8 / 3)
    # Feature 1 is constant: its scale is floored at 1% of the median std.
    np.testing.assert_allclose(scale, [std, 0.01 * std, std * 2 / 2])


def test_head_standardises_inputs_with_its_buffers():
    head = RegressionHead(HeadConfig(input_dim=2, hidden_dims=(3,)))
    head.eval()
    head.set_input_statistics(np.array([1.0, -2.0]), np.array([2.0, 0.5]))
    raw = torch.tensor([[3.0, -1.0]])
    with torch.no_grad():
        expected = head.layers(torch.tensor([[1.0, 2.0]])).squeeze(-1)
        np.testing.assert_allclose(head(raw).numpy(), expected.numpy(), rtol=1e-6)
    assert {"input_mean", "input_scale"} <= set(head.state_dict())


def test_target_scaler_round_trip_and_constant_targets():
    scaler = TargetScaler.fit(np.array([1.0, 2.0, 3.0]))
    assert scaler.mean == 2.0
    assert scaler.std == pytest.approx(math.sqrt(2 / 3))
    z = math.sqrt(3 / 2)
    np.testing.assert_allclose(scaler.transform([1.0, 3.0]), [-z, z])
    np.testing.assert_allclose(scaler.inverse(scaler.transform([0.5, 7.0])), [0.5, 7.0])
    assert TargetScaler.fit(np.array([4.0, 4.0])) == TargetScaler(4.0, 1.0)


def test_pairwise_ranking_loss_hand_values():
    # One ordered pair (0 over 1) with equal predictions: softplus(0) = ln 2.
    loss = pairwise_ranking_loss(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0]))
    assert float(loss) == pytest.approx(math.log(2))
    # Correct order with margin 3: softplus(-3); wrong order: softplus(3).
    right = pairwise_ranking_loss(torch.tensor([3.0, 0.0]), torch.tensor([1.0, 0.0]))
    wrong = pairwise_ranking_loss(torch.tensor([0.0, 3.0]), torch.tensor([1.0, 0.0]))
    assert float(right) == pytest.approx(math.log1p(math.exp(-3)))
    assert float(wrong) == pytest.approx(math.log1p(math.exp(3)))
    # All targets tied: no ordered pair, no loss.
    assert float(pairwise_ranking_loss(torch.tensor([1.0, 2.0]), torch.ones(2))) == 0.0


def test_train_config_rejects_nonsense():
    with pytest.raises(ValueError, match="TrainConfig.batch_size must be at least 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="ranking_weight"):
        TrainConfig(ranking_weight=-1)
    with pytest.raises(ValueError, match="finetune_layers"):
        TrainConfig(finetune_layers=0)


def test_length_column_caps_at_max_length_and_takes_the_log():
    column = length_column(np.array([1, 8, 64, 500]), max_length=64)
    assert column.shape == (4, 1) and column.dtype == np.float32
    np.testing.assert_allclose(column[:, 0], np.log([1.0, 8.0, 64.0, 64.0]), rtol=1e-7)
    with pytest.raises(ValueError, match="token counts must be >= 1, got 0 at index 1"):
        length_column(np.array([3, 0]), max_length=64)


def test_proxy_inputs_append_the_length_column_only_when_configured():
    x = np.ones((2, 3), dtype=np.float32)
    plain = HeadConfig(input_dim=3)
    with_length = HeadConfig(input_dim=3, length_feature=True)
    assert with_length.n_inputs == 4 and plain.n_inputs == 3
    np.testing.assert_array_equal(proxy_inputs(x, None, plain, 64), x)
    both = proxy_inputs(x, np.array([4, 200]), with_length, 64)
    np.testing.assert_allclose(both[:, 3], np.log([4.0, 64.0]), rtol=1e-7)
    with pytest.raises(ValueError, match="token_counts are required"):
        proxy_inputs(x, None, with_length, 64)
    with pytest.raises(ValueError, match="1 token counts for 2 embeddings"):
        proxy_inputs(x, np.array([4]), with_length, 64)


def test_length_feature_proxy_round_trip_needs_counts(tmp_path):
    x, y = latent_dataset(120)
    counts = np.arange(120) % 30 + 1
    config = HeadConfig(input_dim=32, hidden_dims=(16,), length_feature=True)
    inputs = proxy_inputs(x, counts, config, 64)
    head, scaler, _ = train_head(
        inputs[:80], y[:80], inputs[80:], y[80:], head_config=config, config=small_config()
    )
    metadata = ProxyMetadata(
        head=config,
        target_mean=scaler.mean,
        target_std=scaler.std,
        encoder_identity="e",
        base_encoder_identity="e",
        max_length=64,
    )
    proxy = LinFiKProxy(head, metadata)
    with pytest.raises(ValueError, match="token_counts are required"):
        proxy.predict(x)
    loaded = LinFiKProxy.load(proxy.save(tmp_path / "p.safetensors"))
    assert loaded.metadata.head.length_feature
    np.testing.assert_array_equal(loaded.predict(x, counts), proxy.predict(x, counts))
    assert loaded.head.input_mean.shape == (33,)


# ----- training -------------------------------------------------------------------------------


def test_train_head_learns_a_smooth_score():
    x, y = latent_dataset(400)
    head, scaler, report = train_head(
        x[:200], y[:200], x[200:260], y[200:260], config=small_config()
    )
    with torch.no_grad():
        predicted = scaler.inverse(head(torch.from_numpy(x[260:])).double().numpy())
    assert spearman(y[260:], predicted) > 0.9
    assert 0 <= report.best_epoch < report.epochs_run <= 150
    # Early stopping: training ran at most `patience` epochs past the best one.
    assert report.epochs_run == 150 or report.epochs_run - 1 - report.best_epoch == 25


def test_train_head_is_deterministic_and_leaves_global_rng_alone():
    x, y = latent_dataset(120)
    rng_before = torch.get_rng_state()
    first, _, _ = train_head(x[:80], y[:80], x[80:], y[80:], config=small_config(), seed=5)
    second, _, _ = train_head(x[:80], y[:80], x[80:], y[80:], config=small_config(), seed=5)
    other, _, _ = train_head(x[:80], y[:80], x[80:], y[80:], config=small_config(), seed=6)
    assert torch.equal(torch.get_rng_state(), rng_before)
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key])
    assert not torch.equal(first.layers[0].weight, other.layers[0].weight)


def test_ranking_term_changes_training_and_still_learns():
    x, y = latent_dataset(300)
    args = (x[:150], y[:150], x[150:200], y[150:200])
    plain, _, _ = train_head(*args, config=small_config())
    ranked, _, _ = train_head(*args, config=small_config(ranking_weight=1.0))
    assert not torch.equal(plain.layers[0].weight, ranked.layers[0].weight)
    with torch.no_grad():
        predicted = ranked(torch.from_numpy(x[200:])).numpy()
    assert spearman(y[200:], predicted) > 0.85


def test_train_head_rejects_mismatched_inputs():
    x, y = latent_dataset(20)
    with pytest.raises(ValueError, match="training set: 10 inputs for targets of shape"):
        train_head(x[:10], y[:9], x[10:], y[10:])
    with pytest.raises(ValueError, match="validation set: targets contain a non-finite"):
        train_head(x[:10], y[:10], x[10:], np.full(10, np.nan))
    with pytest.raises(ValueError, match="head expects"):
        train_head(x[:10], y[:10], x[10:], y[10:], head_config=HeadConfig(input_dim=3))


# ----- proxy prediction and persistence -------------------------------------------------------


def test_predict_is_on_linfik_scale_and_chunking_agrees():
    proxy, x = trained_proxy()
    whole = proxy.predict(x)
    assert whole.dtype == np.float64 and whole.shape == (len(x),)
    with torch.no_grad():
        z = proxy.head(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(
        whole, z * proxy.metadata.target_std + proxy.metadata.target_mean, rtol=1e-6
    )
    # float32 matmuls may round differently per chunk shape: compare on the z scale.
    tolerance = 1e-5 * proxy.metadata.target_std
    np.testing.assert_allclose(proxy.predict(x, chunk_size=7), whole, rtol=0, atol=tolerance)


def test_predict_rejects_bad_embeddings():
    proxy, x = trained_proxy()
    with pytest.raises(ValueError, match=r"proxy expects \[N, 32\]"):
        proxy.predict(x[:, :5])
    broken = x.copy()
    broken[3, 1] = np.inf
    with pytest.raises(ValueError, match="embedding row 3 has a non-finite value"):
        proxy.predict(broken, chunk_size=2)
    with pytest.raises(ValueError, match="needs the encoder"):
        proxy.predict_texts(["some text"])


def test_saved_proxy_loads_back_with_identical_predictions(tmp_path):
    proxy, x = trained_proxy()
    path = proxy.save(tmp_path / "proxy.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        recorded = json.loads(handle.metadata()["alinfik"])
        names = sorted(handle.keys())  # noqa: SIM118
    assert names == sorted(f"head.{key}" for key in proxy.head.state_dict())
    assert recorded["model_identity"] == "sha256:model"
    assert recorded["target_hash"] == "sha256:target"
    assert recorded["head"] == {
        "input_dim": 32,
        "hidden_dims": [512, 128],
        "dropout": 0.1,
        "length_feature": False,
        "extra_dim": 0,
        "members": 1,
    }
    assert recorded["extra_features"] == ""
    assert recorded["target_std"] == proxy.metadata.target_std
    loaded = LinFiKProxy.load(path)
    assert loaded.metadata == proxy.metadata
    np.testing.assert_array_equal(loaded.predict(x), proxy.predict(x))


def test_a_proxy_saved_before_ensembles_existed_still_loads(tmp_path):
    proxy, x = trained_proxy()
    path = proxy.save(tmp_path / "proxy.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        recorded = json.loads(handle.metadata()["alinfik"])
    del recorded["head"]["members"]  # files written before HeadConfig.members
    save_file(tensors, str(path), metadata={"alinfik": json.dumps(recorded)})
    loaded = LinFiKProxy.load(path)
    assert isinstance(loaded.head, RegressionHead) and loaded.metadata.head.members == 1
    np.testing.assert_array_equal(loaded.predict(x), proxy.predict(x))


def ensemble_proxy() -> tuple[LinFiKProxy, np.ndarray, list]:
    """Two members trained on different halves, with different target scalers."""
    x, y = latent_dataset(300, seed=3)
    members = [
        train_head(x[:100], y[:100], x[100:150], y[100:150], config=small_config(), seed=0),
        train_head(x[150:250], 3 * y[150:250], x[250:], 3 * y[250:], config=small_config()),
    ]
    head = EnsembleHead(HeadConfig(input_dim=32, members=2))
    for target, (member, _, _) in zip(head.members, members, strict=True):
        target.load_state_dict(member.state_dict())
    head.set_scalers([scaler for _, scaler, _ in members], TargetScaler(mean=1e-3, std=2e-3))
    metadata = ProxyMetadata(
        head=head.config,
        target_mean=1e-3,
        target_std=2e-3,
        encoder_identity="sha256:enc",
        base_encoder_identity="sha256:enc",
    )
    return LinFiKProxy(head.eval(), metadata), x, members


def test_ensemble_proxy_predicts_the_members_mean_and_round_trips(tmp_path):
    proxy, x, members = ensemble_proxy()
    with torch.no_grad():
        each = [
            scaler.inverse(member.eval()(torch.from_numpy(x)).double().numpy())
            for member, scaler, _ in members
        ]
    np.testing.assert_allclose(proxy.predict(x), (each[0] + each[1]) / 2, rtol=1e-5)
    loaded = LinFiKProxy.load(proxy.save(tmp_path / "ensemble.safetensors"))
    assert isinstance(loaded.head, EnsembleHead) and len(loaded.head.members) == 2
    np.testing.assert_array_equal(loaded.predict(x), proxy.predict(x))


def test_ensemble_head_rejects_a_wrong_number_of_scalers():
    head = EnsembleHead(HeadConfig(input_dim=4, members=3))
    with pytest.raises(ValueError, match="2 member scalers for 3 members"):
        head.set_scalers([TargetScaler(0.0, 1.0)] * 2, TargetScaler(0.0, 1.0))
    with pytest.raises(ValueError, match="members must be at least 1, got 0"):
        HeadConfig(members=0)


def test_load_rejects_files_that_are_not_proxies(tmp_path):
    with pytest.raises(ProxyFileError, match="file not found"):
        LinFiKProxy.load(tmp_path / "missing.safetensors")
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ProxyFileError, match="no 'alinfik' metadata"):
        LinFiKProxy.load(plain)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(ProxyFileError, match="not a readable safetensors file"):
        LinFiKProxy.load(garbage)
    future = tmp_path / "future.safetensors"
    save_file({"w": torch.zeros(2)}, str(future), metadata={"alinfik": '{"format_version": 99}'})
    with pytest.raises(ProxyFileError, match="unsupported proxy format_version 99"):
        LinFiKProxy.load(future)


# ----- the real MiniLM encoder ----------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> SentenceEncoder:
    return SentenceEncoder()


@pytest.mark.slow
def test_minilm_embeddings_are_unit_float32_and_deterministic(minilm):
    first = minilm.encode(SENTENCES, batch_size=4, max_length=64)
    second = minilm.encode(SENTENCES, batch_size=4, max_length=64)
    assert first.shape == (len(SENTENCES), 384) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, second)
    assert minilm.identity == encoder_identity(minilm.model_dir)


@pytest.mark.slow
def test_minilm_pooling_matches_a_manual_mean_and_ignores_padding(minilm):
    alone = minilm.encode([SENTENCES[0]], max_length=64)[0]
    padded = minilm.encode([SENTENCES[0], SENTENCES[6] * 3], batch_size=2, max_length=64)[0]
    batch = minilm.tokenize([SENTENCES[0]], max_length=64)
    with torch.no_grad():
        hidden = minilm.model(**batch).last_hidden_state[0]
    manual = hidden.mean(dim=0)
    manual = (manual / manual.norm()).numpy()
    np.testing.assert_allclose(alone, manual, atol=1e-6)
    np.testing.assert_allclose(padded, alone, atol=1e-5)


@pytest.mark.slow
def test_minilm_places_paraphrases_closer_than_unrelated_text(minilm):
    cat, kitten, markets = minilm.encode(SENTENCES[:3], max_length=64)
    assert float(cat @ kitten) > 0.5
    assert float(cat @ kitten) > float(cat @ markets) + 0.3


@pytest.mark.slow
def test_minilm_token_counts_include_special_tokens_and_ignore_max_length(minilm):
    counts = minilm.token_counts(["hello world", "the " * 300])
    assert counts.dtype == np.int64
    assert list(counts) == [4, 302]  # [CLS] hello world [SEP]; never truncated
    assert minilm.token_counts([]).shape == (0,)


@pytest.mark.slow
def test_minilm_encode_rejects_bad_texts(minilm):
    with pytest.raises(TypeError, match="not a single string"):
        minilm.encode("one string")
    with pytest.raises(TypeError, match="text at index 1 is NoneType"):
        minilm.encode(["ok", None])
