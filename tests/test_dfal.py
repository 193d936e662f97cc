"""DFAL: DeepFool's perturbation flips a linear model's prediction at the analytic distance."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from alrun.models.nets import MLP
from alrun.strategies import Dfal
from alrun.strategies.adversarial import STEP_EPS, deepfool
from alrun.strategies.base import QueryContext


@pytest.fixture
def linear() -> nn.Linear:
    torch.manual_seed(0)  # only this test's toy model
    return nn.Linear(5, 4).double().eval()


def analytic_distance(net: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Distance of each row to the nearest boundary of its class region: min_k |f_k - f_k0| / ‖w_k - w_k0‖."""
    out = net(x).detach()
    k0 = out.argmax(1)
    w = net.weight.detach()
    dist = torch.full(out.shape, torch.inf, dtype=x.dtype)
    for i in range(len(x)):
        for k in range(out.shape[1]):
            if k != k0[i]:
                dist[i, k] = (out[i, k] - out[i, k0[i]]).abs() / (w[k] - w[k0[i]]).norm()
    return dist.min(1).values


@pytest.mark.parametrize("overshoot", [0.0, 0.02])
def test_perturbation_flips_a_linear_model_at_the_analytic_distance(linear, overshoot):
    x = torch.randn(64, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    r = deepfool(linear, x, overshoot=overshoot)
    expected = (1 + overshoot) * (analytic_distance(linear, x) + STEP_EPS)
    torch.testing.assert_close(r.norm(dim=1), expected, rtol=1e-9, atol=1e-12)
    assert (linear(x + r).argmax(1) != linear(x).argmax(1)).all()
    # along r, the boundary lies at the analytic distance: just short of it the class is kept
    short = r * ((analytic_distance(linear, x) - 1e-9) / r.norm(dim=1))[:, None]
    assert (linear(x + short).argmax(1) == linear(x).argmax(1)).all()


def test_batched_perturbations_equal_one_item_at_a_time_and_leave_the_net_untouched():
    torch.manual_seed(0)
    net = MLP((6,), 3, hidden=(16,)).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(20, 6, generator=torch.Generator().manual_seed(2))
    together = deepfool(net, x)
    alone = torch.cat([deepfool(net, x[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
    assert (net(x + together).argmax(1) != net(x).argmax(1)).all()
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())


def test_dfal_picks_the_item_nearest_the_boundary(linear):
    x = torch.randn(30, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(0)
    ctx = QueryContext(x=x, net=linear, chunk_size=8, tiebreak=gen, acquisition=gen)
    picked = Dfal().select(ctx, 3)
    assert picked.index.tolist() == analytic_distance(linear, x).argsort()[:3].tolist()
    assert picked.score.dtype == torch.float64 and (picked.score < 0).all()
