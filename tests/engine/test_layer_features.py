"""Proxy features from the scored model's first layers (a truncated forward pass)."""

import numpy as np
import pytest
import torch

from valuation.engine.data import IGNORE_INDEX, Sample, pad_token_id, tokenize_samples
from valuation.engine.layer_features import decoder_layers, hidden_state_features

from .conftest import build_gpt2, build_llama

SAMPLES = [
    Sample("plain", text="the cat sat on the mat"),
    Sample("pair", prompt="what is a cat", response="a big cat"),
    Sample("short", text="the dog"),
    Sample("long", text="the cat sat on the mat and the dog sat on the cat and ran"),
]


def reference(model, tokenized, layers):
    """Each sample alone, through the whole model, read from output_hidden_states (below the
    last layer, whose entry there has the final norm applied)."""
    rows = []
    with torch.no_grad():
        for sample in tokenized:
            ids = torch.tensor([sample.input_ids])
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[layers][0]
            predicts = [
                i for i in range(len(sample.labels) - 1) if sample.labels[i + 1] != IGNORE_INDEX
            ]
            rows.append(hidden[predicts].mean(dim=0).numpy())
    return np.stack(rows)


@pytest.mark.parametrize("build", [build_gpt2, build_llama])
def test_features_are_the_mean_hidden_state_over_loss_positions(build, tokenizer):
    model = build(n_layer=3).double().eval()
    tokenized = tokenize_samples(SAMPLES, tokenizer, max_length=32)
    pad = pad_token_id(tokenizer)
    for layers in (1, 2):
        # Batched, padded and length-sorted against each sample alone: the same rows.
        features = hidden_state_features(model, tokenized, pad_id=pad, layers=layers, batch_size=3)
        assert features.shape == (4, model.config.hidden_size) and features.dtype == np.float32
        np.testing.assert_allclose(
            features, reference(model, tokenized, layers), rtol=1e-5, atol=1e-6
        )
    first, second = (hidden_state_features(model, tokenized, pad_id=pad, layers=k) for k in (1, 2))
    assert not np.allclose(first, second)


def test_pair_features_ignore_the_prompt_positions(tokenizer):
    model = build_gpt2().double().eval()
    pad = pad_token_id(tokenizer)
    pair = tokenize_samples(
        [Sample("p", prompt="what is a cat", response="a big cat")], tokenizer, 32
    )
    other_prompt = tokenize_samples(
        [Sample("p", prompt="the dog ran", response="a big cat")], tokenizer, 32
    )
    # Different prompts change the context, so the response states differ, but a prompt
    # position never enters the mean: the reference reads only the loss positions.
    np.testing.assert_allclose(
        hidden_state_features(model, pair, pad_id=pad, layers=1),
        reference(model, pair, 1),
        rtol=1e-5,
        atol=1e-6,
    )
    changed = hidden_state_features(model, other_prompt, pad_id=pad, layers=1)
    assert not np.allclose(hidden_state_features(model, pair, pad_id=pad, layers=1), changed)


def test_model_mode_is_restored_and_bad_requests_are_explained(tokenizer):
    model = build_llama().train()
    tokenized = tokenize_samples(SAMPLES[:2], tokenizer, max_length=32)
    hidden_state_features(model, tokenized, pad_id=0, layers=1)
    assert model.training  # put back as found; dropout was off while reading
    assert len(decoder_layers(model)) == model.config.num_hidden_layers
    with pytest.raises(ValueError, match="layers must be in 1..2, got 3"):
        hidden_state_features(model, tokenized, pad_id=0, layers=3)
    no_loss = tokenized[0].__class__("x", tokenized[0].input_ids, (IGNORE_INDEX,) * 3)
    with pytest.raises(ValueError, match="sample 'x' has no predicted token"):
        hidden_state_features(model, [no_loss], pad_id=0, layers=1)
