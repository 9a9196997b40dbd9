"""Exact LinFiK: fast paths against per-sample-gradient references and the SGD oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import GPT2LMHeadModel

from valuation.engine.data import IGNORE_INDEX, Sample, tokenize_sample
from valuation.engine.exact import (
    ExactLinFiK,
    per_sample_loss,
    select_parameters,
    token_cross_entropy,
)
from valuation.engine.models import LoadedModel
from valuation.engine.reference import one_step_oracle, score_loop, score_vmap


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def scorer_for(lm: LoadedModel, **kwargs) -> ExactLinFiK:
    return ExactLinFiK(lm.model, lm.tokenizer, **kwargs)


# Llama's RMSNorm computes in float32 even in a float64 model, so reverse- and
# forward-mode results agree only to float32 precision there; GPT-2 is float64 throughout.
PRECISION = {"tiny-gpt2": 1e-12, "tiny-llama": 1e-6}


def test_fast_paths_match_per_sample_gradient_references(
    tiny_lm: LoadedModel, train_samples, target_samples
) -> None:
    scorer = scorer_for(tiny_lm, batch_size=4)
    target = scorer.target_gradient(target_samples)
    loop = score_loop(scorer, train_samples, target)
    vmap = score_vmap(scorer, train_samples, target)
    jvp = scorer.score(train_samples, target)
    double_backward = scorer.score(train_samples, target, method="double_backward")
    assert np.all(np.abs(loop) > 1e-3)  # non-trivial scores, so relative error is meaningful
    # Same reverse-mode arithmetic, but batched: Llama's float32 RMSNorm rounds differently
    # for a batch than for one sample (7.5e-09 seen with transformers 5.24).
    assert relative_error(vmap, loop) < PRECISION[tiny_lm.name]
    for fast in (jvp, double_backward):
        assert relative_error(fast, loop) < PRECISION[tiny_lm.name]
        assert relative_error(fast, vmap) < PRECISION[tiny_lm.name]


def test_target_gradient_is_the_mean_of_sample_gradients(
    tiny_gpt2: LoadedModel, target_samples
) -> None:
    scorer = scorer_for(tiny_gpt2, batch_size=2)
    target = scorer.target_gradient(target_samples)
    assert target.n_samples == 3
    per_sample = [scorer.sample_gradient(s) for s in target_samples]
    for name, mean in target.grads.items():
        expected = sum(g[name] for g in per_sample) / 3
        torch.testing.assert_close(mean, expected, rtol=1e-12, atol=1e-14)


def test_score_of_the_target_itself_is_its_squared_gradient_norm(
    tiny_gpt2: LoadedModel, target_samples
) -> None:
    scorer = scorer_for(tiny_gpt2)
    target = scorer.target_gradient(target_samples[:1])
    (score,) = scorer.score(target_samples[:1], target)
    assert score == pytest.approx(target.norm() ** 2, rel=1e-12)
    assert score > 0


def test_one_step_oracle_converges_to_linfik_gpt2(
    tiny_gpt2: LoadedModel, train_samples, target_samples
) -> None:
    scorer = scorer_for(tiny_gpt2)
    target = scorer.target_gradient(target_samples)
    for sample, score in zip(
        train_samples[:3], scorer.score(train_samples[:3], target), strict=True
    ):
        errors = [
            abs(one_step_oracle(scorer, sample, target_samples, lr) - score) / abs(score)
            for lr in (1e-4, 1e-5)
        ]
        assert errors[1] < 1e-3
        # The gap is the second-order term lr/2 * g'Hg: ten times smaller lr, ten times smaller.
        assert 5 < errors[0] / errors[1] < 20


def test_one_step_oracle_agrees_on_llama(
    tiny_llama: LoadedModel, train_samples, target_samples
) -> None:
    scorer = scorer_for(tiny_llama)
    target = scorer.target_gradient(target_samples)
    scores = scorer.score(train_samples[:2], target)
    for sample, score in zip(train_samples[:2], scores, strict=True):
        oracle = one_step_oracle(scorer, sample, target_samples, 1e-4)
        assert abs(oracle - score) / abs(score) < 1e-3


def test_batch_composition_order_and_padding_do_not_change_scores(
    tiny_lm: LoadedModel, train_samples, target_samples
) -> None:
    target = scorer_for(tiny_lm).target_gradient(target_samples)
    alone = scorer_for(tiny_lm, batch_size=1).score(train_samples, target)  # no padding
    together = scorer_for(tiny_lm, batch_size=len(train_samples)).score(train_samples, target)
    reordered = scorer_for(tiny_lm, batch_size=3).score(train_samples[::-1], target)[::-1]
    subset = scorer_for(tiny_lm, batch_size=8).score([train_samples[i] for i in (4, 0)], target)
    np.testing.assert_allclose(together, alone, rtol=PRECISION[tiny_lm.name], atol=0)
    np.testing.assert_allclose(reordered, alone, rtol=PRECISION[tiny_lm.name], atol=0)
    np.testing.assert_allclose(subset, alone[[4, 0]], rtol=PRECISION[tiny_lm.name], atol=0)


def test_truncated_sample_scores_like_its_manual_truncation(
    tiny_gpt2: LoadedModel, target_samples
) -> None:
    sentence = "the quick red fish swam under the big green tree and then it ran"
    words = sentence.split()
    scorer_short = scorer_for(tiny_gpt2, max_length=6)
    scorer_full = scorer_for(tiny_gpt2)
    target = scorer_full.target_gradient(target_samples)
    long_text = Sample("long", text=sentence)
    manual = Sample("manual", text=" ".join(words[:5]))  # <bos> + 5 words = 6 tokens
    pair = Sample("pair", prompt="why is it", response=sentence)
    manual_pair = Sample("mpair", prompt="why is it", response=" ".join(words[:2]))
    truncated = scorer_short.score([long_text, pair], target)
    expected = scorer_full.score([manual, manual_pair], target)
    np.testing.assert_allclose(truncated, expected, rtol=1e-12)
    assert abs(scorer_full.score([long_text], target)[0] - truncated[0]) > 1e-6


def manual_response_loss(lm: LoadedModel, prompt: str, response: str) -> torch.Tensor:
    """Mean -log p(response token | prefix) computed directly from the model's logits."""
    prompt_ids = lm.tokenizer(prompt).input_ids
    response_ids = lm.tokenizer(response, add_special_tokens=False).input_ids
    ids = torch.tensor([prompt_ids + response_ids])
    log_probs = lm.model(input_ids=ids).logits[0].log_softmax(-1)
    terms = [-log_probs[len(prompt_ids) + k - 1, token] for k, token in enumerate(response_ids)]
    return torch.stack(terms).mean()


def test_prompt_tokens_are_context_only(tiny_llama: LoadedModel, target_samples) -> None:
    scorer = scorer_for(tiny_llama)
    target = scorer.target_gradient(target_samples)
    pair = Sample("p", prompt="what is the sky", response="the sky is blue")
    manual_loss = manual_response_loss(tiny_llama, pair.prompt, pair.response)
    assert scorer.losses([pair])[0] == pytest.approx(manual_loss.item(), rel=1e-12)

    params = select_parameters(tiny_llama.model)
    grads = torch.autograd.grad(manual_loss, list(params.values()))
    manual_score = sum((g * target.grads[n]).sum() for n, g in zip(params, grads, strict=True))
    assert scorer.score([pair], target)[0] == pytest.approx(float(manual_score), rel=1e-6)
    # Scoring the same tokens as plain text would also train on the prompt: a different value.
    as_text = Sample("t", text=f"{pair.prompt} {pair.response}")
    assert abs(scorer.score([as_text], target)[0] - float(manual_score)) > 1e-3


def test_per_sample_loss_averages_each_rows_own_tokens() -> None:
    logits = torch.randn(2, 4, 5, dtype=torch.float64)
    labels = torch.tensor([[1, 2, 3, 4], [1, 2, IGNORE_INDEX, IGNORE_INDEX]])
    losses = per_sample_loss(logits, labels)
    log_probs = logits.log_softmax(-1)
    row0 = -(log_probs[0, 0, 2] + log_probs[0, 1, 3] + log_probs[0, 2, 4]) / 3
    row1 = -log_probs[1, 0, 2]
    torch.testing.assert_close(losses, torch.stack([row0, row1]), rtol=1e-12, atol=0)


def test_scores_are_bitwise_deterministic(make_tiny_model, train_samples, target_samples) -> None:
    runs = []
    for _ in range(2):
        lm = make_tiny_model("llama", dtype="float32", seed=3)
        scorer = scorer_for(lm, batch_size=4)
        runs.append(scorer.score(train_samples, scorer.target_gradient(target_samples)))
    assert runs[0].tobytes() == runs[1].tobytes()


def test_parameter_filter_restricts_the_inner_product(
    tiny_gpt2: LoadedModel, train_samples, target_samples
) -> None:
    pattern = r"\.h\.1\.mlp\."
    scorer = scorer_for(tiny_gpt2, param_filter=pattern)
    assert sorted(scorer.params) == [
        "transformer.h.1.mlp.c_fc.bias",
        "transformer.h.1.mlp.c_fc.weight",
        "transformer.h.1.mlp.c_proj.bias",
        "transformer.h.1.mlp.c_proj.weight",
    ]
    assert scorer.n_params == 32 * 128 + 128 + 128 * 32 + 32
    target = scorer.target_gradient(target_samples)
    assert sorted(target.grads) == sorted(scorer.params)
    fast = scorer.score(train_samples, target)
    np.testing.assert_allclose(fast, score_loop(scorer, train_samples, target), rtol=1e-10)
    full = scorer_for(tiny_gpt2)
    full_scores = full.score(train_samples, full.target_gradient(target_samples))
    assert np.all(np.abs(full_scores - fast) > 1e-6)


def test_parameter_filter_matching_nothing_is_an_error(tiny_gpt2: LoadedModel) -> None:
    with pytest.raises(ValueError, match="selects no trainable parameter"):
        scorer_for(tiny_gpt2, param_filter="no_such_layer")


def test_unknown_fast_method_is_rejected(tiny_gpt2: LoadedModel, target_samples) -> None:
    scorer = scorer_for(tiny_gpt2)
    with pytest.raises(ValueError, match="unknown fast method 'hvp'"):
        scorer.score(target_samples, scorer.target_gradient(target_samples), method="hvp")


def test_bfloat16_scores_track_float64(make_tiny_model, train_samples, target_samples) -> None:
    scores = {}
    for dtype in ("float64", "bfloat16"):
        scorer = scorer_for(make_tiny_model("gpt2", dtype=dtype))
        scores[dtype] = scorer.score(train_samples, scorer.target_gradient(target_samples))
    assert relative_error(scores["bfloat16"], scores["float64"]) < 0.1


def test_tokenized_samples_are_accepted_as_is(
    tiny_gpt2: LoadedModel, train_samples, target_samples
) -> None:
    scorer = scorer_for(tiny_gpt2)
    target = scorer.target_gradient(target_samples)
    tokenized = [tokenize_sample(s, tiny_gpt2.tokenizer) for s in train_samples]
    assert (
        scorer.score(tokenized, target).tobytes() == scorer.score(train_samples, target).tobytes()
    )


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_token_cross_entropy_value_gradient_and_jvp_match_torch() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 11, dtype=torch.float64)
    targets = torch.tensor([0, 3, 10, 3, 7])
    tangent = torch.randn_like(logits)

    def reference(z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(z, targets, reduction="none")

    value, jvp_out = torch.func.jvp(
        lambda z: token_cross_entropy(z, targets), (logits,), (tangent,)
    )
    expected_value, expected_jvp = torch.func.jvp(reference, (logits,), (tangent,))
    torch.testing.assert_close(value, expected_value, rtol=1e-12, atol=0)
    torch.testing.assert_close(jvp_out, expected_jvp, rtol=1e-12, atol=1e-15)
    weights = torch.randn(5, dtype=torch.float64)
    (grad,) = torch.autograd.grad(
        (token_cross_entropy(logits.requires_grad_(), targets) * weights).sum(), logits
    )
    (expected_grad,) = torch.autograd.grad((reference(logits) * weights).sum(), logits)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-15)


class ScaledLogitsGPT2(GPT2LMHeadModel):
    """Logits scaled after the head (as some models do): the gathered head must not be used."""

    def forward(self, *args, **kwargs):
        output = super().forward(*args, **kwargs)
        output.logits = output.logits * 2.0
        return output


def test_gathered_head_only_when_it_reproduces_the_logits(
    tiny_gpt2: LoadedModel, train_samples, target_samples
) -> None:
    assert scorer_for(tiny_gpt2).gather_logits
    assert not scorer_for(tiny_gpt2, gather_logits=False).gather_logits

    torch.manual_seed(0)
    scaled = ScaledLogitsGPT2(tiny_gpt2.model.config).double().eval()
    scorer = ExactLinFiK(scaled, tiny_gpt2.tokenizer)
    assert not scorer.gather_logits
    target = scorer.target_gradient(target_samples)
    np.testing.assert_allclose(
        scorer.score(train_samples, target), score_loop(scorer, train_samples, target), rtol=1e-10
    )
