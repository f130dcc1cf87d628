"""aekit.latent: batched passes over a split and the 2-D principal plane of the codes."""

import pytest
import torch

from aekit.latent import LatentPlane, batched
from aekit.runtime import GradingSkip


def test_batched_equals_one_pass_whatever_the_batch_size():
    data = torch.randn(23, 4)
    weight = torch.randn(4, 3)
    for size in (1, 5, 23, 100):
        assert torch.allclose(batched(lambda x: x @ weight, data, batch_size=size), data @ weight)


def test_batched_joins_tuples_part_by_part():
    data = torch.arange(10.0).reshape(10, 1)
    first, second = batched(lambda x: (x, 2 * x), data, batch_size=3)
    assert torch.equal(first, data) and torch.equal(second, 2 * data)


def test_batched_tracks_no_gradient_and_returns_cpu_tensors():
    layer = torch.nn.Linear(3, 2)
    result = batched(layer, torch.randn(7, 3), batch_size=2)
    assert not result.requires_grad
    assert result.device.type == "cpu"


def test_batched_moves_each_batch_to_the_device():
    seen = []

    def record(batch: torch.Tensor) -> torch.Tensor:
        seen.append(batch.device.type)
        return torch.zeros(len(batch))

    batched(record, torch.zeros(4, 1), batch_size=2, device="meta")
    assert seen == ["meta", "meta"]


@pytest.mark.parametrize("size", [0, -3])
def test_batched_refuses_a_batch_size_below_one(size):
    with pytest.raises(ValueError, match="batch_size"):
        batched(lambda x: x, torch.zeros(3, 1), batch_size=size)


def test_batched_refuses_empty_data():
    with pytest.raises(ValueError, match="at least one sample"):
        batched(lambda x: x, torch.zeros(0, 3))


def planar_codes(count: int = 200) -> torch.Tensor:
    """Codes in 5-D that vary mostly along two directions."""
    generator = torch.Generator().manual_seed(0)
    spread = torch.randn(count, 5, generator=generator) * torch.tensor([3.0, 2.0, 0.1, 0.1, 0.1])
    rotation, _ = torch.linalg.qr(torch.randn(5, 5, generator=generator))
    return spread @ rotation + torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])


def test_plane_keeps_most_of_the_variance_of_nearly_planar_codes():
    codes = planar_codes()
    plane = LatentPlane.fit(codes)
    assert plane.explained(codes) > 0.99
    assert torch.allclose(plane.axes @ plane.axes.T, torch.eye(2, dtype=torch.float64), atol=1e-8)


def test_plane_round_trip_is_close_for_codes_near_the_plane():
    codes = planar_codes()
    plane = LatentPlane.fit(codes)
    back = plane.from_plane(plane.to_plane(codes))
    assert back.shape == codes.shape and back.dtype == torch.float32
    assert (back - codes).norm(dim=1).mean() < 0.3


def test_plane_origin_maps_to_the_mean_code():
    codes = planar_codes()
    plane = LatentPlane.fit(codes)
    assert torch.allclose(plane.from_plane(torch.zeros(1, 2))[0], codes.mean(0), atol=1e-5)
    assert torch.allclose(plane.to_plane(codes).mean(0), torch.zeros(2), atol=1e-4)


def test_plane_refuses_codes_it_cannot_fit():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        LatentPlane.fit(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        LatentPlane.fit(torch.randn(10, 1))


def test_batched_is_refused_inside_the_grading_sandbox(monkeypatch):
    monkeypatch.setenv("AEKIT_GRADING", "1")
    with pytest.raises(GradingSkip):
        batched(lambda x: x, torch.zeros(3, 2))
