"""Contrastive losses, all with one signature.

    loss(z_a, z_b, *, temperature=0.2, labels=None) -> scalar Tensor

z_a and z_b are the projections of the two augmented views of the same B samples ([B, D],
row i of each is sample i). They are L2-normalised here and the loss is computed in at least
float32 whatever the autocast dtype, so call a loss outside any autocast region. Notation in
the formulas: the 2B rows z = [z_a; z_b], s_ij = cos(z_i, z_j) / τ, p(i) the other view of i.
Every loss is the mean over the 2B anchors, so it is symmetric in the two views.

The two-tower losses at the end (clip_loss, xsample_loss) compare an image batch with its
caption batch instead, with CLIP's learnable logit scale; `xsample` wraps X-Sample in the
signature above for unimodal runs, its similarity graph built from the labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import InvalidArgument


class ContrastiveLoss(Protocol):
    def __call__(
        self, z_a: Tensor, z_b: Tensor, *, temperature: float = 0.2, labels: Tensor | None = None
    ) -> Tensor: ...


def _similarities(z_a: Tensor, z_b: Tensor, temperature: float) -> Tensor:
    """s = cos(z_i, z_j) / τ over the 2B rows, [2B, 2B], with -inf on the diagonal."""
    if z_a.dim() != 2 or z_a.shape != z_b.shape:
        raise InvalidArgument(
            "z_b", f"the two views must both be [B, D] with the same shape, got "
            f"{tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    if z_a.shape[0] < 2:
        raise InvalidArgument("z_a", f"a contrastive loss needs at least 2 samples, got {z_a.shape[0]}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise InvalidArgument("temperature", f"must be a finite number > 0, got {temperature!r}")
    z = torch.cat([z_a, z_b])
    if z.dtype != torch.float64:
        z = z.float()
    z = F.normalize(z, dim=1)
    s = z @ z.T / temperature
    return s.fill_diagonal_(float("-inf"))


def _positive_index(batch: int, device: torch.device) -> Tensor:
    """p(i): row i of z_a pairs with row i of z_b, i.e. i <-> i + B."""
    i = torch.arange(batch, device=device)
    return torch.cat([i + batch, i])


def _no_labels(name: str, labels: Tensor | None) -> None:
    if labels is not None:
        raise InvalidArgument(
            "labels", f"{name} is self-supervised and takes no labels; use 'supcon' for labels"
        )


# NT-Xent / InfoNCE (SimCLR):  ℓ_i = −log( exp(s_i,p(i)) / Σ_{k≠i} exp(s_ik) )
def nt_xent(
    z_a: Tensor, z_b: Tensor, *, temperature: float = 0.2, labels: Tensor | None = None
) -> Tensor:
    _no_labels("nt-xent", labels)
    s = _similarities(z_a, z_b, temperature)
    return F.cross_entropy(s, _positive_index(z_a.shape[0], s.device))


# Supervised contrastive, L_out of Khosla et al. 2020, P(i) = {p ≠ i : y_p = y_i} (both views):
#   ℓ_i = −1/|P(i)| Σ_{p∈P(i)} log( exp(s_ip) / Σ_{k≠i} exp(s_ik) )
# (no τ/τ_base rescaling). With all labels distinct it equals NT-Xent.
def supcon(
    z_a: Tensor, z_b: Tensor, *, temperature: float = 0.2, labels: Tensor | None = None
) -> Tensor:
    if labels is None:
        raise InvalidArgument("labels", "supcon needs one integer label per sample, [B]")
    batch = z_a.shape[0]
    if labels.shape != (batch,) or labels.is_floating_point() or labels.is_complex():
        raise InvalidArgument(
            "labels", f"must be an integer tensor of shape [{batch}], got {labels.dtype} "
            f"{tuple(labels.shape)}"
        )
    s = _similarities(z_a, z_b, temperature)
    y = torch.cat([labels, labels]).to(s.device)
    positives = y[:, None] == y[None, :]
    positives.fill_diagonal_(False)
    log_prob = s - torch.logsumexp(s, dim=1, keepdim=True)
    per_anchor = log_prob.masked_fill(~positives, 0.0).sum(1) / positives.sum(1)
    return -per_anchor.mean()


# Decoupled contrastive (DCL, Yeh et al. 2022): the positive leaves the denominator:
#   ℓ_i = −s_i,p(i) + log Σ_{k∉{i, p(i)}} exp(s_ik)
def dcl(
    z_a: Tensor, z_b: Tensor, *, temperature: float = 0.2, labels: Tensor | None = None
) -> Tensor:
    _no_labels("dcl", labels)
    s = _similarities(z_a, z_b, temperature)
    rows = torch.arange(s.shape[0], device=s.device)
    positive_col = _positive_index(z_a.shape[0], s.device)
    positive = s[rows, positive_col]
    negatives = s.index_put((rows, positive_col), torch.tensor(float("-inf"), dtype=s.dtype, device=s.device))
    return (torch.logsumexp(negatives, dim=1) - positive).mean()


# --- two-tower losses (CLIP) and soft targets ------------------------------------------------
# Here z_a and z_b are two different encodings of the same B samples (an image and its caption,
# or two views): only cross pairs are compared, s_ij = cos(a_i, b_j) · scale, a [B, B] matrix.

# CLIP training keeps its learnable log inverse temperature in [0, ln 100] by clamping the
# parameter after each optimizer step (models.clip.CLIP.clamp_logit_scale_), never in the loss.


def fixed_logit_scale(temperature: float) -> float:
    """The log inverse temperature of a fixed `temperature` (finite, > 0), used as it is."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise InvalidArgument("temperature", f"must be a finite number > 0, got {temperature!r}")
    return -math.log(temperature)


def _cross_similarities(z_a: Tensor, z_b: Tensor, logit_scale: Tensor | float) -> Tensor:
    if z_a.dim() != 2 or z_a.shape != z_b.shape:
        raise InvalidArgument(
            "z_b", f"the two encodings must both be [B, D] with the same shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    if z_a.shape[0] < 2:
        raise InvalidArgument("z_a", f"a contrastive loss needs at least 2 samples, got {z_a.shape[0]}")
    dtype = torch.float64 if z_a.dtype == torch.float64 else torch.float32
    t = logit_scale.to(z_a.device, dtype) if isinstance(logit_scale, Tensor) else torch.tensor(logit_scale, dtype=dtype, device=z_a.device)
    # exp(t) as it is, as open_clip's ClipLoss: a clamp here would cut the scale's gradient.
    scale = t.exp()
    return scale * F.normalize(z_a.to(dtype), dim=1) @ F.normalize(z_b.to(dtype), dim=1).T


# CLIP (Radford et al. 2021), symmetric InfoNCE over B pairs, s_ij = exp(t) · cos(a_i, b_j),
# t the learnable log inverse temperature:  L = ½ [ CE_rows(s, i) + CE_rows(sᵀ, i) ]
def clip_loss(z_a: Tensor, z_b: Tensor, logit_scale: Tensor | float) -> Tensor:
    s = _cross_similarities(z_a, z_b, logit_scale)
    target = torch.arange(s.shape[0], device=s.device)
    return 0.5 * (F.cross_entropy(s, target) + F.cross_entropy(s.T, target))


# X-Sample contrastive (Sobal et al. 2024): soft targets from a sample-similarity graph G [B, B],
# G_ij how much b_j is a match for a_i (the captions' token overlap or cosine similarity, or 1 for
# equal labels else 0):
#   L = ½ [ −Σ_j softmax_j(G_ij / τ_s) log softmax_j(s_ij) − Σ_j softmax_j(G_ji / τ_s) log softmax_j(s_ji) ]
# with s as in clip_loss. The column term (b_i against every a_j) takes its targets from Gᵀ, so a
# graph need not be symmetric, and L(a, b, G) = L(b, a, Gᵀ).
def xsample_loss(z_a: Tensor, z_b: Tensor, graph: Tensor, *, logit_scale: Tensor | float, target_temperature: float) -> Tensor:
    s = _cross_similarities(z_a, z_b, logit_scale)
    if graph.shape != s.shape or not graph.is_floating_point():
        raise InvalidArgument("graph", f"must be a float [B, B] = {tuple(s.shape)} similarity matrix, got {graph.dtype} {tuple(graph.shape)}")
    if not (isinstance(target_temperature, (int, float)) and math.isfinite(target_temperature) and target_temperature > 0):
        raise InvalidArgument("target_temperature", f"must be a finite number > 0, got {target_temperature!r}")
    g = graph.to(s.device, s.dtype) / target_temperature
    rows = -(torch.softmax(g, dim=1) * F.log_softmax(s, dim=1)).sum(1).mean()
    columns = -(torch.softmax(g.T, dim=1) * F.log_softmax(s.T, dim=1)).sum(1).mean()
    return 0.5 * (rows + columns)


def label_graph(labels: Tensor) -> Tensor:
    """G_ij = 1 where samples i and j share a label, else 0."""
    return (labels[:, None] == labels[None, :]).float()


# Token overlap of two captions, the Jaccard index of their token sets T_i (the ids between the
# start token and the first end token; the padding after it is id 0, which BPE also gives "!"):
#   G_ij = |T_i ∩ T_j| / |T_i ∪ T_j|, 1 where both sets are empty.
# It comes from the captions alone, not from the model being trained.
def token_graph(tokens: Tensor, *, sot: int, eot: int) -> Tensor:
    if tokens.dim() != 2 or tokens.is_floating_point():
        raise InvalidArgument("tokens", f"must be integer token ids [B, L], got {tokens.dtype} {tuple(tokens.shape)}")
    words = ((tokens == eot).cumsum(1) == 0) & (tokens != sot)
    ids, position = torch.unique(torch.where(words, tokens, -1), return_inverse=True)
    present = torch.zeros(tokens.shape[0], ids.numel(), dtype=torch.float32, device=tokens.device)
    present.scatter_(1, position, 1.0)
    present[:, ids == -1] = 0.0
    shared = present @ present.T
    sizes = present.sum(1)
    union = sizes[:, None] + sizes[None, :] - shared
    return torch.where(union > 0, shared / union.clamp(min=1.0), torch.ones_like(shared))


DEFAULT_TARGET_TEMPERATURE = 0.1


# X-Sample for unimodal runs: the two views, G from class labels, s_ij = cos(a_i, b_j) / τ.
def xsample(
    z_a: Tensor, z_b: Tensor, *, temperature: float = 0.2, labels: Tensor | None = None,
    target_temperature: float = DEFAULT_TARGET_TEMPERATURE,
) -> Tensor:
    if labels is None or labels.shape != (z_a.shape[0],) or labels.is_floating_point():
        raise InvalidArgument("labels", f"xsample needs one integer label per sample, [{z_a.shape[0]}], for its similarity graph")
    graph = label_graph(labels.to(z_a.device))
    return xsample_loss(z_a, z_b, graph, logit_scale=fixed_logit_scale(temperature), target_temperature=target_temperature)


LOSSES: dict[str, ContrastiveLoss] = {"nt-xent": nt_xent, "supcon": supcon, "dcl": dcl, "xsample": xsample}


def get_loss(name: str, args: Mapping[str, Any] | None = None) -> ContrastiveLoss:
    """A built-in loss by name, or a plugin py:<module>:<attr> with its keyword arguments `args`."""
    if name.startswith("py:"):
        from .plugins import load_loss  # imported only when a plugin is named

        return load_loss(name, args or {})
    if args:
        raise InvalidArgument("loss", f"{name} takes no arguments (only a py:<module>:<attr> plugin does); leave args out")
    try:
        return LOSSES[name]
    except KeyError:
        raise InvalidArgument(
            "loss", f"unknown loss {name!r}; valid names: {', '.join(sorted(LOSSES))}"
        ) from None
