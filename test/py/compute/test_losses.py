import math

import pytest
import torch

from mcl_worker.errors import InvalidArgument
from mcl_worker.losses import (
    LOSSES, clip_loss, dcl, fixed_logit_scale, get_loss, label_graph, nt_xent, supcon, token_graph, xsample, xsample_loss,
)


def naive_loss(name: str, z_a: torch.Tensor, z_b: torch.Tensor, tau: float, labels: torch.Tensor | None = None) -> float:
    """Per-anchor loop straight from the papers' definitions, in Python floats."""
    z = torch.nn.functional.normalize(torch.cat([z_a, z_b]).double(), dim=1).tolist()
    n, b = len(z), z_a.shape[0]
    y = None if labels is None else labels.tolist() * 2

    def s(i: int, k: int) -> float:
        return sum(p * q for p, q in zip(z[i], z[k])) / tau

    total = 0.0
    for i in range(n):
        pos = (i + b) % n
        others = sum(math.exp(s(i, k)) for k in range(n) if k != i)
        if name == "nt-xent":
            total += -math.log(math.exp(s(i, pos)) / others)
        elif name == "dcl":
            negatives = sum(math.exp(s(i, k)) for k in range(n) if k not in (i, pos))
            total += -s(i, pos) + math.log(negatives)
        else:
            positives = [q for q in range(n) if q != i and y[q] == y[i]]
            total += -sum(math.log(math.exp(s(i, q)) / others) for q in positives) / len(positives)
    return total / n


@pytest.mark.parametrize("name", ["nt-xent", "dcl", "supcon"])
@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_matches_the_per_sample_definition(name: str, tau: float) -> None:
    g = torch.Generator().manual_seed(1)
    z_a, z_b = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 2, 1, 0]) if name == "supcon" else None
    got = get_loss(name)(z_a, z_b, temperature=tau, labels=labels)
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(naive_loss(name, z_a, z_b, tau, labels), rel=1e-10)


def test_supcon_with_distinct_labels_is_nt_xent() -> None:
    g = torch.Generator().manual_seed(2)
    z_a, z_b = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    expected = nt_xent(z_a, z_b, temperature=0.3)
    assert torch.allclose(supcon(z_a, z_b, temperature=0.3, labels=torch.arange(8)), expected)


@pytest.mark.parametrize("tau", [0.1, 0.2, 0.5])
def test_identical_views_with_orthogonal_others_reach_the_closed_form(tau: float) -> None:
    # Positive similarity 1/τ, every other pair 0: NT-Xent = log(1 + (2B−2) e^{−1/τ}),
    # DCL = −1/τ + log(2B−2).
    b = 4
    z = torch.eye(b, 6, dtype=torch.float64) * 3.0  # scale must not matter
    assert float(nt_xent(z, z, temperature=tau)) == pytest.approx(math.log1p((2 * b - 2) * math.exp(-1 / tau)))
    assert float(dcl(z, z, temperature=tau)) == pytest.approx(-1 / tau + math.log(2 * b - 2))


def test_aligned_views_score_lower_than_random_ones_and_lower_with_smaller_temperature() -> None:
    g = torch.Generator().manual_seed(3)
    z = torch.randn(16, 32, generator=g)
    noisy = z + 0.05 * torch.randn(16, 32, generator=g)
    unrelated = torch.randn(16, 32, generator=g)
    for loss in LOSSES.values():
        labels = torch.arange(16) if loss in (supcon, xsample) else None
        aligned = loss(z, noisy, temperature=0.2, labels=labels)
        assert aligned < loss(z, unrelated, temperature=0.2, labels=labels)
        assert loss(z, noisy, temperature=0.1, labels=labels) < aligned


@pytest.mark.parametrize("name", ["nt-xent", "dcl", "supcon"])
def test_symmetric_in_the_two_views_with_finite_gradients(name: str) -> None:
    g = torch.Generator().manual_seed(4)
    z_a = torch.randn(10, 8, generator=g, requires_grad=True)
    z_b = torch.randn(10, 8, generator=g, requires_grad=True)
    labels = torch.randint(0, 3, (10,), generator=g) if name == "supcon" else None
    loss = get_loss(name)
    forward = loss(z_a, z_b, temperature=0.1, labels=labels)
    assert torch.allclose(forward, loss(z_b, z_a, temperature=0.1, labels=labels))
    forward.backward()
    assert z_a.grad is not None and z_b.grad is not None
    assert torch.isfinite(z_a.grad).all() and torch.isfinite(z_b.grad).all()
    assert z_a.grad.abs().sum() > 0


def test_half_precision_inputs_are_computed_in_float32() -> None:
    z = torch.randn(8, 16).to(torch.bfloat16)
    assert nt_xent(z, z.flip(0)).dtype == torch.float32


def test_bad_input_is_named() -> None:
    z = torch.randn(4, 3)
    with pytest.raises(InvalidArgument, match="same shape") as error:
        nt_xent(z, torch.randn(5, 3))
    assert error.value.code == "INVALID_BODY" and error.value.details == {"path": "z_b"}
    with pytest.raises(InvalidArgument, match="at least 2 samples"):
        dcl(z[:1], z[:1])
    for tau in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(InvalidArgument, match="temperature"):
            nt_xent(z, z, temperature=tau)
    with pytest.raises(InvalidArgument, match="supcon needs"):
        supcon(z, z)
    with pytest.raises(InvalidArgument, match=r"shape \[4\]"):
        supcon(z, z, labels=torch.zeros(3, dtype=torch.int64))
    with pytest.raises(InvalidArgument, match="takes no labels"):
        nt_xent(z, z, labels=torch.arange(4))
    with pytest.raises(InvalidArgument, match="dcl, nt-xent, supcon, xsample") as unknown:
        get_loss("infonce")
    assert unknown.value.field == "loss"


# --- CLIP and X-Sample ---------------------------------------------------------------------


def naive_cross_entropy(
    z_a: torch.Tensor, z_b: torch.Tensor, scale: float, targets: list[list[float]], column_targets: list[list[float]] | None = None
) -> float:
    """½ Σ over both directions of the mean soft cross-entropy, in Python floats; the b → a
    direction takes `column_targets` (default: `targets`)."""
    a = torch.nn.functional.normalize(z_a.double(), dim=1).tolist()
    b = torch.nn.functional.normalize(z_b.double(), dim=1).tolist()
    n = len(a)
    s = [[scale * sum(p * q for p, q in zip(a[i], b[j])) for j in range(n)] for i in range(n)]
    total = 0.0
    for rows, targets in ((s, targets), ([list(col) for col in zip(*s)], column_targets or targets)):
        for i in range(n):
            log_norm = math.log(sum(math.exp(v) for v in rows[i]))
            total += -sum(targets[i][j] * (rows[i][j] - log_norm) for j in range(n)) / n
    return total / 2


def test_clip_loss_matches_the_definition_and_uses_the_scale_as_it_is() -> None:
    g = torch.Generator().manual_seed(5)
    z_a, z_b = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    eye = torch.eye(5).tolist()
    assert float(clip_loss(z_a, z_b, math.log(1 / 0.07))) == pytest.approx(naive_cross_entropy(z_a, z_b, 1 / 0.07, eye), rel=1e-10)
    # Above the cap of 100 as well: the training loop clamps the parameter, not the loss.
    assert float(clip_loss(z_a, z_b, math.log(110.0))) == pytest.approx(naive_cross_entropy(z_a, z_b, 110.0, eye), rel=1e-10)
    scale = torch.tensor(math.log(110.0), requires_grad=True)
    clip_loss(z_a.float(), z_b.float(), scale).backward()
    assert scale.grad is not None and float(scale.grad) != 0.0


def test_clip_loss_trains_its_temperature() -> None:
    g = torch.Generator().manual_seed(6)
    z = torch.randn(8, 16, generator=g)
    scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    clip_loss(z, z + 0.01 * torch.randn(8, 16, generator=g), scale).backward()
    assert scale.grad is not None and float(scale.grad) < 0  # aligned pairs: a sharper softmax lowers the loss


def test_xsample_matches_the_definition_with_soft_targets() -> None:
    g = torch.Generator().manual_seed(7)
    z_a, z_b = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    graph = torch.rand(6, 6, generator=g, dtype=torch.float64)
    graph = (graph + graph.T) / 2
    q = torch.softmax(graph / 0.3, dim=1).tolist()
    got = xsample_loss(z_a, z_b, graph, logit_scale=math.log(5.0), target_temperature=0.3)
    assert float(got) == pytest.approx(naive_cross_entropy(z_a, z_b, 5.0, q), rel=1e-10)


def test_xsample_takes_the_column_targets_from_the_transposed_graph() -> None:
    # Caption j may describe image i better than caption i describes image j: G_ij != G_ji.
    g = torch.Generator().manual_seed(9)
    z_a, z_b = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    graph = torch.rand(5, 5, generator=g, dtype=torch.float64)
    assert not torch.allclose(graph, graph.T)
    rows, columns = torch.softmax(graph / 0.2, dim=1).tolist(), torch.softmax(graph.T / 0.2, dim=1).tolist()
    got = xsample_loss(z_a, z_b, graph, logit_scale=math.log(4.0), target_temperature=0.2)
    assert float(got) == pytest.approx(naive_cross_entropy(z_a, z_b, 4.0, rows, columns), rel=1e-10)
    # Swapping the two towers transposes the graph.
    swapped = xsample_loss(z_b, z_a, graph.T, logit_scale=math.log(4.0), target_temperature=0.2)
    assert float(swapped) == pytest.approx(float(got), rel=1e-12)
    assert float(got) != pytest.approx(naive_cross_entropy(z_a, z_b, 4.0, rows), rel=1e-6)


def test_xsample_with_distinct_labels_is_clip_and_shared_labels_soften_it() -> None:
    g = torch.Generator().manual_seed(8)
    z_a, z_b = torch.randn(8, 4, generator=g, dtype=torch.float64), torch.randn(8, 4, generator=g, dtype=torch.float64)
    hard = xsample(z_a, z_b, temperature=0.2, labels=torch.arange(8), target_temperature=0.01)
    assert float(hard) == pytest.approx(float(clip_loss(z_a, z_b, math.log(5.0))), rel=1e-9)
    # Two samples with the same label: matching one to the other is no longer an error.
    z = torch.randn(4, 8, generator=g, dtype=torch.float64)
    swapped = z[[1, 0, 2, 3]]
    labels = torch.tensor([0, 0, 1, 2])
    assert xsample(z, swapped, temperature=0.1, labels=labels) < xsample(z, swapped, temperature=0.1, labels=torch.arange(4))
    assert torch.equal(label_graph(labels)[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))


# Token ids as the worker pads them: <start>=8 ... <end>=9, then 0.
START, END = 8, 9


def _rows(*captions: list[int], length: int = 7) -> torch.Tensor:
    return torch.tensor([[START, *c, END] + [0] * (length - len(c) - 2) for c in captions])


def test_token_graph_is_the_jaccard_index_of_the_token_sets() -> None:
    captions = [[1, 2, 3], [3, 2, 1, 1], [1, 4], [5], []]
    graph = token_graph(_rows(*captions), sot=START, eot=END)
    for i, a in enumerate(captions):
        for j, b in enumerate(captions):
            union = set(a) | set(b)
            expected = len(set(a) & set(b)) / len(union) if union else 1.0
            assert float(graph[i, j]) == pytest.approx(expected), (i, j)
    # Padding, start and end are no words: counted, [5] and the empty caption would share them.
    assert float(graph[3, 4]) == 0.0


def test_token_graph_counts_id_0_inside_a_caption_and_not_the_padding_after_it() -> None:
    # BPE gives "!" the id 0 that also pads a row after its end token.
    graph = token_graph(_rows([0, 1], [0, 2], [3], []), sot=START, eot=END)
    assert float(graph[0, 1]) == pytest.approx(1 / 3)
    assert float(graph[2, 3]) == 0.0 and float(graph[3, 3]) == 1.0
    truncated = torch.tensor([[START, 4, 5, END], [START, 4, 0, END]])  # cut to the context length, the end token kept
    assert float(token_graph(truncated, sot=START, eot=END)[0, 1]) == pytest.approx(1 / 3)


def test_token_graph_targets_are_equal_for_identical_captions_and_peaked_on_disjoint_ones() -> None:
    tau = 0.1
    same = torch.softmax(token_graph(_rows([1, 2], [1, 2], [1, 2], [3]), sot=START, eot=END) / tau, dim=1)
    torch.testing.assert_close(same.sum(1), torch.ones(4))
    assert torch.equal(same[0], same[1]) and same[0, 0] == same[0, 1] == same[0, 2] > same[0, 3]
    disjoint = torch.softmax(token_graph(_rows([1], [2], [3, 4], [5]), sot=START, eot=END) / tau, dim=1)
    torch.testing.assert_close(disjoint.sum(1), torch.ones(4))
    assert torch.equal(disjoint.argmax(1), torch.arange(4)) and float(disjoint.diagonal().min()) > 0.99
    # Disjoint captions with a sharp target temperature: X-Sample is CLIP's loss.
    g = torch.Generator().manual_seed(10)
    z_a, z_b = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    graph = token_graph(_rows([1], [2], [3, 4], [5]), sot=START, eot=END).double()
    hard = xsample_loss(z_a, z_b, graph, logit_scale=math.log(5.0), target_temperature=0.01)
    assert float(hard) == pytest.approx(float(clip_loss(z_a, z_b, math.log(5.0))), rel=1e-9)


def test_token_graph_loss_trains_the_towers_and_not_the_targets() -> None:
    tokens = _rows([1, 2], [1, 2], [2, 3], [4])
    graph = token_graph(tokens, sot=START, eot=END)
    assert not graph.requires_grad
    g = torch.Generator().manual_seed(11)
    z_a = torch.randn(4, 3, generator=g, requires_grad=True)
    z_b = torch.randn(4, 3, generator=g, requires_grad=True)
    scale = torch.tensor(math.log(10.0), requires_grad=True)
    xsample_loss(z_a, z_b, graph, logit_scale=scale, target_temperature=0.1).backward()
    assert all(t.grad is not None and bool(t.grad.abs().sum() > 0) for t in (z_a, z_b, scale))
    # Captions 0 and 1 are the same: swapping which of their texts is which leaves the loss alone.
    swapped = z_b.detach()[[1, 0, 2, 3]]
    assert float(xsample_loss(z_a.detach(), swapped, graph, logit_scale=2.0, target_temperature=0.1)) == pytest.approx(
        float(xsample_loss(z_a.detach(), z_b.detach(), graph, logit_scale=2.0, target_temperature=0.1)), rel=1e-6)
    with pytest.raises(InvalidArgument, match="tokens"):
        token_graph(torch.ones(4, 3), sot=START, eot=END)


def test_xsample_bad_input_is_named() -> None:
    z = torch.randn(4, 3)
    with pytest.raises(InvalidArgument, match="graph"):
        xsample_loss(z, z, torch.ones(3, 3), logit_scale=1.0, target_temperature=0.1)
    with pytest.raises(InvalidArgument, match="target_temperature"):
        xsample_loss(z, z, torch.ones(4, 4), logit_scale=1.0, target_temperature=0.0)
    with pytest.raises(InvalidArgument, match="xsample needs one integer label"):
        get_loss("xsample")(z, z, temperature=0.2)
    for tau in (0.0, -0.1, math.nan, math.inf):
        with pytest.raises(InvalidArgument, match=r"temperature: must be a finite number > 0"):
            xsample(z, z, temperature=tau, labels=torch.arange(4))
    # A fixed temperature is used as it is, below 1/100 too (only the learnable scale is clamped).
    assert fixed_logit_scale(0.005) == pytest.approx(math.log(200.0))
