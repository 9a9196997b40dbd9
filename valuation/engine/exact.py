"""Exact LinFiK scores: LinFiK(z) = <grad l(z), g_T>, g_T the mean target-sample gradient.

Featurize, then score: ``ExactLinFiK.target_gradient`` computes g_T once with plain
backward passes; ``ExactLinFiK.score`` then scores a whole batch at once without
materialising per-sample gradients, by one forward-mode JVP of the per-sample loss vector
L(theta) in R^B along g_T (its tangent output is <grad l(z_i), g_T> for every i).
The slow explicit references that tests and benchmarks check it against live in
``valuation.engine.reference``.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, jvp, vmap
from tqdm import tqdm

from valuation.engine.data import (
    DEFAULT_MAX_LENGTH,
    IGNORE_INDEX,
    Sample,
    TokenizedSample,
    collate,
    length_sorted_batches,
    pad_token_id,
    tokenize_sample,
)

ParamFilter = str | Callable[[str], bool] | None
Params = dict[str, torch.Tensor]
FAST_METHODS = ("jvp", "double_backward")
_MODEL_INPUTS = ("input_ids", "attention_mask", "position_ids")


def select_parameters(model: torch.nn.Module, param_filter: ParamFilter = None) -> Params:
    """Trainable parameters by name; ``param_filter`` is a regex (re.search) or a predicate.

    Tied weights appear once, under their first name.
    """
    if isinstance(param_filter, str):
        pattern = re.compile(param_filter)
        keep: Callable[[str], bool] = lambda name: pattern.search(name) is not None  # noqa: E731
    else:
        keep = param_filter or (lambda name: True)
    params = {
        name: param
        for name, param in model.named_parameters()
        if param.requires_grad and keep(name)
    }
    if not params:
        raise ValueError(f"parameter filter {param_filter!r} selects no trainable parameter")
    return params


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of each row over its own labelled positions, [B]."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # half-precision log-softmax over a large vocabulary is lossy
    shifted_labels = labels[:, 1:]
    token_loss = F.cross_entropy(
        logits[:, :-1].transpose(1, 2), shifted_labels, ignore_index=IGNORE_INDEX, reduction="none"
    )
    counts = (shifted_labels != IGNORE_INDEX).sum(dim=1)
    return token_loss.sum(dim=1) / counts


class _TokenCrossEntropy(torch.autograd.Function):
    """-log softmax(z)[y] per row, with a cheap JVP: <softmax(z) - onehot(y), z_dot>.

    The generic decomposition of log_softmax's JVP makes several extra passes over the
    [tokens, vocabulary] tangent, which dominates the fast path on large vocabularies.
    """

    @staticmethod
    def forward(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_normalizer = torch.logsumexp(logits, dim=1)
        return log_normalizer - logits.gather(1, targets[:, None])[:, 0], log_normalizer

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        logits, targets = inputs
        log_normalizer = output[1]
        ctx.mark_non_differentiable(log_normalizer)
        ctx.save_for_backward(logits, targets, log_normalizer)
        ctx.save_for_forward(logits, targets, log_normalizer)

    @staticmethod
    def backward(
        ctx: Any, grad_output: torch.Tensor, _grad_normalizer: Any
    ) -> tuple[torch.Tensor, None]:
        logits, targets, log_normalizer = ctx.saved_tensors
        grad = torch.exp(logits - log_normalizer[:, None])
        grad = grad - F.one_hot(targets, logits.shape[1]).to(grad.dtype)
        return grad * grad_output[:, None], None

    @staticmethod
    def jvp(ctx: Any, logits_tangent: torch.Tensor, _targets_tangent: Any) -> tuple:
        logits, targets, log_normalizer = ctx.saved_tensors
        probs = torch.exp(logits - log_normalizer[:, None])
        expected = torch.einsum("nv,nv->n", probs, logits_tangent)
        tangent = expected - logits_tangent.gather(1, targets[:, None])[:, 0]
        return tangent, None


def token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each row of ``logits`` [N, V] against ``targets`` [N]."""
    return _TokenCrossEntropy.apply(logits, targets)[0]


def _output_head_matches_logits(model: torch.nn.Module) -> bool:
    """Whether logits are exactly output_embeddings(base_model(x).last_hidden_state).

    Models that scale or soft-cap their logits fail this check and keep the full path.
    """
    body, head = getattr(model, "base_model", model), model.get_output_embeddings()
    if body is model or head is None:
        return False
    first = next(model.parameters())
    vocab = int(getattr(model.config, "vocab_size", 2))
    ids = (torch.arange(1, 9, device=first.device) % vocab)[None]
    try:
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits
            hidden = body(input_ids=ids, use_cache=False).last_hidden_state
            return torch.equal(head(hidden), logits)
    except (AttributeError, TypeError, RuntimeError, ValueError):
        return False


class SequenceLosses(torch.nn.Module):
    """Per-sample losses [B] of a batch, as a module so functional_call can swap parameters.

    With ``gather`` the output head runs only on the hidden states of predicted positions
    (no padding, prompt or final position), and the loss uses ``token_cross_entropy``.
    Without it, the model's own full logits go through ``per_sample_loss``.
    """

    def __init__(self, model: torch.nn.Module, gather: bool) -> None:
        super().__init__()
        self.model = model
        self.gather = gather

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        inputs = {key: batch[key] for key in _MODEL_INPUTS}
        if not self.gather:
            logits = self.model(**inputs, use_cache=False).logits
            return per_sample_loss(logits, batch["labels"])
        hidden = self.model.base_model(**inputs, use_cache=False).last_hidden_state
        targets = batch["labels"][:, 1:]
        rows, positions = (targets != IGNORE_INDEX).nonzero(as_tuple=True)
        logits = self.model.get_output_embeddings()(hidden[rows, positions])
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        token_loss = token_cross_entropy(logits, targets[rows, positions])
        sums = token_loss.new_zeros(targets.shape[0]).index_add(0, rows, token_loss)
        return sums / (targets != IGNORE_INDEX).sum(dim=1)


@dataclass(frozen=True)
class TargetGradient:
    """g_T: the mean over target samples of each sample's loss gradient."""

    grads: dict[str, torch.Tensor]
    n_samples: int

    def norm(self) -> float:
        return float(torch.sqrt(sum((g.double() ** 2).sum() for g in self.grads.values())))


def dot_params(left: Mapping[str, torch.Tensor], right: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Sum over parameters of elementwise products; a leading batch dim on ``left`` is kept."""
    if not left:
        raise ValueError("cannot take a dot product over no parameters")
    terms = []
    for name, tensor in left.items():
        other = right[name].to(tensor.dtype)
        batched = tensor.dim() == other.dim() + 1
        terms.append(tensor.flatten(1) @ other.flatten() if batched else (tensor * other).sum())
    return torch.stack(terms).sum(dim=0)


class ExactLinFiK:
    """Exact LinFiK scorer for one causal LM at its current parameters."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = 8,
        param_filter: ParamFilter = None,
        progress: bool = False,
        gather_logits: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.params = select_parameters(model, param_filter)
        self.progress = progress
        self.pad_id = pad_token_id(tokenizer)
        first = next(iter(self.params.values()))
        self.device, self.dtype = first.device, first.dtype
        # The fast path and g_T use the gathered head when it reproduces the model's logits;
        # the references always go through the model's full logits.
        self.gather_logits = gather_logits and _output_head_matches_logits(model)
        self._fast_losses = SequenceLosses(model, self.gather_logits)
        self._full_losses = SequenceLosses(model, gather=False)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.params.values())

    # ----- inputs -------------------------------------------------------------------------

    def tokenize(self, samples: Sequence[Sample | TokenizedSample]) -> list[TokenizedSample]:
        return [
            s
            if isinstance(s, TokenizedSample)
            else tokenize_sample(s, self.tokenizer, self.max_length)
            for s in samples
        ]

    def _batches(
        self, tokenized: Sequence[TokenizedSample], desc: str, batch_size: int | None = None
    ) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
        groups = length_sorted_batches(tokenized, batch_size or self.batch_size)
        bar = tqdm(
            total=len(tokenized),
            desc=desc,
            unit="sample",
            file=sys.stderr,
            disable=not self.progress,
        )
        with bar:
            for indices in groups:
                batch = collate([tokenized[i] for i in indices], self.pad_id)
                yield indices, {k: v.to(self.device) for k, v in batch.items()}
                bar.update(len(indices))

    def _losses(
        self,
        params: Mapping[str, torch.Tensor],
        batch: Mapping[str, torch.Tensor],
        *,
        full: bool = False,
    ) -> torch.Tensor:
        """Per-sample losses at ``params``; ``full`` forces the model's own full logits."""
        module = self._full_losses if full else self._fast_losses
        prefixed = {f"model.{name}": tensor for name, tensor in params.items()}
        return functional_call(module, prefixed, args=(batch,))

    def primals(self) -> Params:
        """The scored parameters, detached."""
        return {name: p.detach() for name, p in self.params.items()}

    def tangents(self, target: TargetGradient) -> Params:
        """g_T on the scored parameters' devices and dtypes."""
        missing = self.params.keys() - target.grads.keys()
        if missing:
            raise ValueError(f"target gradient lacks parameters {sorted(missing)[:3]}...")
        return {
            name: target.grads[name].to(device=p.device, dtype=p.dtype)
            for name, p in self.params.items()
        }

    # ----- featurize: target gradient ------------------------------------------------------

    def target_gradient(
        self,
        targets: Sequence[Sample | TokenizedSample],
        *,
        between_batches: Callable[[], None] | None = None,
    ) -> TargetGradient:
        """g_T = mean_i grad l(z'_i), by plain backward passes over target batches.
        ``between_batches`` is called before each batch (it may raise to stop the work)."""
        tokenized = self.tokenize(targets)
        if not tokenized:
            raise ValueError("target set is empty")
        # Half-precision models accumulate g_T in float32.
        accum_dtype = torch.float32 if self.dtype in (torch.float16, torch.bfloat16) else self.dtype
        total = {
            n: torch.zeros(p.shape, dtype=accum_dtype, device=p.device)
            for n, p in self.params.items()
        }
        for _, batch in self._batches(tokenized, "target gradient"):
            if between_batches is not None:
                between_batches()
            with torch.enable_grad():
                loss_sum = self._losses(self.params, batch).sum()
                grads = torch.autograd.grad(loss_sum, list(self.params.values()), allow_unused=True)
            for name, g in zip(self.params, grads, strict=True):
                if g is not None:
                    total[name] += g.to(accum_dtype)
        return TargetGradient({n: t / len(tokenized) for n, t in total.items()}, len(tokenized))

    # ----- score: fast paths ---------------------------------------------------------------

    def score(
        self,
        samples: Sequence[Sample | TokenizedSample],
        target: TargetGradient,
        *,
        method: str = "jvp",
        between_batches: Callable[[], None] | None = None,
    ) -> np.ndarray:
        """LinFiK of every sample, float64, in input order, without per-sample gradients.
        ``between_batches`` is called before each batch (it may raise to stop the work)."""
        batch_scores = {"jvp": self._jvp_scores, "double_backward": self._double_backward_scores}
        if method not in batch_scores:
            raise ValueError(f"unknown fast method {method!r}; use one of {FAST_METHODS}")
        tokenized = self.tokenize(samples)
        tangents = self.tangents(target)
        scores = np.empty(len(tokenized), dtype=np.float64)
        for indices, batch in self._batches(tokenized, f"LinFiK ({method})"):
            if between_batches is not None:
                between_batches()
            scores[indices] = batch_scores[method](batch, tangents).double().cpu().numpy()
        return scores

    def _jvp_scores(self, batch: Mapping[str, torch.Tensor], tangents: Params) -> torch.Tensor:
        # Forward-mode AD stores no activations for a backward pass, so no_grad is safe.
        # torch's own JVP decompositions use torch.jit.script, deprecated: not our warning.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", "`torch.jit.script` is deprecated", DeprecationWarning
            )
            _, scores = jvp(lambda p: self._losses(p, batch), (self.primals(),), (tangents,))
        return scores

    def _double_backward_scores(
        self, batch: Mapping[str, torch.Tensor], tangents: Params
    ) -> torch.Tensor:
        # d/du <grad_theta sum_i u_i l_i, g_T> = (<grad l_i, g_T>)_i, by reverse-over-reverse.
        with torch.enable_grad():
            losses = self._losses(self.params, batch)
            weights = torch.ones_like(losses, requires_grad=True)
            grads = torch.autograd.grad(
                (losses * weights).sum(),
                list(self.params.values()),
                create_graph=True,
                allow_unused=True,
            )
            used = {n: g for n, g in zip(self.params, grads, strict=True) if g is not None}
            (scores,) = torch.autograd.grad(dot_params(used, tangents), weights)
        return scores.detach()

    # ----- references: explicit per-sample gradients ---------------------------------------

    def per_sample_gradients(
        self, samples: Sequence[Sample | TokenizedSample], *, chunk_size: int | None = None
    ) -> Iterator[tuple[list[int], Params]]:
        """(indices, {name: [b, *shape]}) per batch, by torch.func vmap(grad(.))."""
        tokenized = self.tokenize(samples)
        per_sample_grad = vmap(
            grad(self._single_loss), in_dims=(None, 0, 0, 0, 0), chunk_size=chunk_size
        )
        for indices, batch in self._batches(tokenized, "per-sample gradients"):
            columns = [batch[key] for key in (*_MODEL_INPUTS, "labels")]
            # grad() ignores an outer no_grad; it keeps unselected parameters out of autograd.
            with torch.no_grad():
                grads = per_sample_grad(self.primals(), *columns)
            yield indices, grads

    def _single_loss(
        self,
        params: Params,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        # Under vmap each row is its own batch of one, padding included (masked).
        batch = {
            "input_ids": input_ids[None],
            "attention_mask": attention_mask[None],
            "position_ids": position_ids[None],
            "labels": labels[None],
        }
        return self._losses(params, batch, full=True)[0]

    def sample_gradient(self, sample: Sample | TokenizedSample) -> Params:
        """grad l(z) of one unpadded sample by a plain backward pass."""
        (tokenized,) = self.tokenize([sample])
        batch = {k: v.to(self.device) for k, v in collate([tokenized], self.pad_id).items()}
        with torch.enable_grad():
            loss = self._losses(self.params, batch, full=True)[0]
            grads = torch.autograd.grad(loss, list(self.params.values()), allow_unused=True)
        return {
            name: torch.zeros_like(p) if g is None else g
            for (name, p), g in zip(self.params.items(), grads, strict=True)
        }

    # ----- losses ---------------------------------------------------------------------------

    def losses(
        self, samples: Sequence[Sample | TokenizedSample], params: Params | None = None
    ) -> np.ndarray:
        """Per-sample losses l(z), float64, in input order."""
        tokenized = self.tokenize(samples)
        params = self.primals() if params is None else params
        out = np.empty(len(tokenized), dtype=np.float64)
        with torch.no_grad():
            for indices, batch in self._batches(tokenized, "losses"):
                out[indices] = self._losses(params, batch, full=True).double().cpu().numpy()
        return out
