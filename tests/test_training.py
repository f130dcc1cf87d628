"""fit, evaluate, fast mode and the metrics, on small synthetic problems."""

import pytest
import torch
from torch import nn

from aekit.metrics import fit_pca, pca_reconstruction_mse, reconstruction_mse, soft_dice_loss
from aekit.runtime import GradingSkip, fast_mode, pick_device
from aekit.training import History, TrainConfig, evaluate, fit


def autoencoder(encoder, decoder, x):
    x_hat = decoder(encoder(x))
    return (x_hat - x).pow(2).sum(dim=1).mean(), x_hat


def data(n: int = 256, seed: int = 0) -> torch.Tensor:
    """Points near a 2-D plane in 6-D: an autoencoder with a 2-D code can learn them."""
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randn(n, 2, generator=generator)
    return codes @ torch.randn(2, 6, generator=generator) + 0.01 * torch.randn(
        n, 6, generator=generator
    )


def models(seed: int = 0):
    torch.manual_seed(seed)
    return nn.Linear(6, 2), nn.Linear(2, 6)


def test_fit_lowers_the_loss_and_reports_every_epoch():
    config = TrainConfig(
        epochs=30, batch_size=32, learning_rate=1e-2, fast=False, progress=False, device="cpu"
    )
    points = data(320)
    history = fit(autoencoder, models(), points[:256], points[256:], config)
    assert isinstance(history, History) and len(history.train_loss) == len(history.val_loss) == 30
    assert (
        history.train_loss[-1] < 0.1 * history.train_loss[0]
        and history.val_loss[-1] < 0.1 * history.val_loss[0]
    )


def test_fit_is_reproducible_with_a_seed():
    config = TrainConfig(epochs=3, batch_size=16, fast=False, progress=False, device="cpu", seed=5)
    first, second = (
        fit(autoencoder, models(1), data(), None, config),
        fit(autoencoder, models(1), data(), None, config),
    )
    assert first.train_loss == second.train_loss


def test_convolutions_train_channels_last_on_the_cpu_and_still_learn():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 6))
    decoder = nn.Linear(6, 2 * 8 * 8)
    images = (torch.randn(64, 3) @ torch.randn(3, 2 * 8 * 8)).reshape(64, 2, 8, 8)  # rank 3

    def forward(encoder, decoder, x):
        x_hat = decoder(encoder(x))
        return (x_hat - x.flatten(start_dim=1)).pow(2).sum(dim=1).mean(), x_hat

    config = TrainConfig(
        epochs=20, batch_size=16, learning_rate=1e-2, fast=False, progress=False, device="cpu"
    )
    history = fit(forward, (encoder, decoder), images, None, config)
    assert encoder[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not encoder[0].weight.is_contiguous()  # really converted, not a no-op
    assert decoder.weight.is_contiguous()  # 2-D weights keep their layout
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]


def test_fast_mode_trains_on_a_subset_for_two_epochs(monkeypatch):
    monkeypatch.setenv("AEKIT_FAST", "1")
    history = fit(
        autoencoder,
        models(),
        data(2000),
        None,
        TrainConfig(epochs=50, progress=False, device="cpu"),
    )
    assert history.fast and len(history.train_loss) == 2


@pytest.mark.parametrize(
    ("epochs", "cooldown", "expected"),
    [(4, 0, [1e-2] * 4), (4, 2, [1e-2, 1e-2, 1e-3, 1e-3]), (2, 5, [1e-2, 1e-3])],
)
def test_the_cooldown_ends_training_at_a_tenth_of_the_rate(epochs, cooldown, expected):
    config = TrainConfig(
        epochs=epochs,
        cooldown_epochs=cooldown,
        learning_rate=1e-2,
        fast=False,
        progress=False,
        device="cpu",
    )
    history = fit(autoencoder, models(), data(64), None, config)
    assert history.learning_rates == pytest.approx(expected)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, False),
        ({"AEKIT_FAST": "1"}, True),
        ({"NBGRADER_EXECUTION": "autograde"}, True),
        ({"NBGRADER_EXECUTION": "validate", "AEKIT_FAST": "0"}, False),
    ],
)
def test_fast_mode_follows_the_environment(monkeypatch, variables, expected):
    for name in ("AEKIT_FAST", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert fast_mode() is expected


def test_a_diverging_loss_stops_with_advice():
    def broken(encoder, decoder, x):
        return torch.log(torch.zeros(())) + 0 * encoder(x).sum(), x

    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(
            broken,
            models(),
            data(),
            None,
            TrainConfig(epochs=1, fast=False, progress=False, device="cpu"),
        )


def test_training_is_refused_inside_the_grading_sandbox(monkeypatch):
    monkeypatch.setenv("AEKIT_GRADING", "1")
    with pytest.raises(GradingSkip):
        fit(autoencoder, models(), data(), None, TrainConfig(progress=False))


def test_evaluate_weights_batches_by_their_size():
    encoder, decoder = models()
    everything = evaluate(autoencoder, (encoder, decoder), data(100), batch_size=100)
    uneven = evaluate(autoencoder, (encoder, decoder), data(100), batch_size=30)
    assert uneven == pytest.approx(everything, rel=1e-5)


def test_pca_with_every_component_reconstructs_exactly_and_beats_fewer():
    points = data(300)
    assert pca_reconstruction_mse(points, points, 6) == pytest.approx(0.0, abs=1e-9)
    assert pca_reconstruction_mse(points, points, 2) < pca_reconstruction_mse(points, points, 1)
    mean, axes = fit_pca(points, 2)
    assert axes.shape == (2, 6) and torch.allclose(
        axes @ axes.T, torch.eye(2, dtype=axes.dtype), atol=1e-6
    )
    assert torch.allclose(mean.float(), points.mean(dim=0), atol=1e-5)


def test_reconstruction_mse_is_per_pixel():
    images = torch.full((4, 1, 2, 2), 0.5)
    assert reconstruction_mse(lambda x: x, images) == 0.0
    assert reconstruction_mse(lambda x: torch.zeros_like(x), images, batch_size=3) == pytest.approx(
        0.25
    )


def confident(labels: torch.Tensor, classes: int = 4) -> torch.Tensor:
    """Logits that put nearly all probability on ``labels``."""
    return 50.0 * nn.functional.one_hot(labels, classes).permute(0, 3, 1, 2).float()


def test_soft_dice_loss_is_zero_for_a_perfect_map_and_one_for_a_wrong_one():
    labels = torch.zeros(2, 8, 8, dtype=torch.int64)
    labels[:, 2:6, 2:6] = 3
    labels[:, 2:6, 6] = 1
    labels[:, 1, 2:6] = 2
    assert soft_dice_loss(confident(labels), labels).item() == pytest.approx(0.0, abs=1e-4)
    shifted = torch.where(labels > 0, labels % 3 + 1, 0)  # every structure labelled as another
    assert soft_dice_loss(confident(shifted), labels).item() > 0.9  # 1 but for the smoothing


def test_soft_dice_loss_weighs_a_small_structure_like_a_large_one():
    labels = torch.zeros(1, 16, 16, dtype=torch.int64)
    labels[0, 2:14, 2:14] = 3  # a large LV
    labels[0, 0, 2:14] = 1  # a one-pixel-thin RV
    labels[0, 15, 2:14] = 2
    without_rv = torch.where(labels == 1, 0, labels)
    without_lv = torch.where(labels == 3, 0, labels)
    small = soft_dice_loss(confident(without_rv), labels).item()
    large = soft_dice_loss(confident(without_lv), labels).item()
    assert small == pytest.approx(large, abs=0.15) and small > 0.25
    # a summed cross-entropy, by contrast, weighs them by their areas (12 and 144 pixels)
    ce = lambda maps: nn.functional.cross_entropy(confident(maps), labels, reduction="sum")  # noqa: E731
    assert ce(without_rv) < ce(without_lv) / 10


def test_soft_dice_loss_weighs_each_map_alone():
    big = torch.zeros(1, 16, 16, dtype=torch.int64)
    big[0, 0:8, :] = 1  # a 128-pixel RV
    small = torch.zeros(1, 16, 16, dtype=torch.int64)
    small[0, 0, 2:14] = 1  # a 12-pixel RV in the other map
    labels = torch.cat([big, small])
    both = confident(labels)
    missed_small = confident(torch.cat([big, torch.zeros_like(small)]))
    missed_big = confident(torch.cat([torch.zeros_like(big), small]))
    # summed over the batch, the small RV would cost a tenth of the big one
    assert soft_dice_loss(both, labels).item() == pytest.approx(0.0, abs=1e-4)
    assert soft_dice_loss(missed_small, labels).item() == pytest.approx(
        soft_dice_loss(missed_big, labels).item(), rel=0.1
    )


def test_soft_dice_loss_charges_a_structure_where_the_map_has_none():
    labels = torch.zeros(1, 8, 8, dtype=torch.int64)
    labels[0, 2:6, 2:6] = 3
    stray = labels.clone()
    stray[0, 0, 0:4] = 1  # four pixels of RV in a map without one
    clean = soft_dice_loss(confident(labels), labels).item()
    assert clean == pytest.approx(0.0, abs=1e-4)
    assert soft_dice_loss(confident(stray), labels).item() > clean + 0.2


def test_soft_dice_loss_has_gradients_and_checks_shapes():
    labels = torch.randint(0, 4, (3, 8, 8))
    logits = torch.randn(3, 4, 8, 8, requires_grad=True)
    soft_dice_loss(logits, labels).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="expected logits"):
        soft_dice_loss(logits, labels[0])


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
