"""Hidden checks of ``cardiac_autoencoders``: values against the reference, gradients,
structure at other sizes, and devices. Never shipped to students.

Judges that compare with the reference receive its observation of the same probe, computed
in the trusted process from the solutions in ``source/``. Where a typical mistake can be
computed from the probe's inputs (a softmax before the cross-entropy, the IoU instead of the
Dice), the judge computes it and names it.
"""

import torch
import torch.nn.functional as F
from torch import nn

from aekit.checks.cardiac import (
    conv_layers,
    conv_parameters,
    decoder_specs,
    encoder_specs,
    floats,
    heart_maps,
    label_maps,
    parameter_count,
    projection,
    seeded_cardiac_vae,
)
from aekit.checks.cardiac import fill_layers as fill
from aekit.checks.compare import PASS, Verdict, expect_close, fail, first_failure, is_close
from aekit.checks.core import Bench, Check, Mismatch, module, pair, tensor
from aekit.checks.fixtures import gradient_norms, run_on_meta
from autograder.hidden.mnist import (
    KlGradientsAndDevice,
    KlMonteCarlo,
    KlValues,
    ReferenceCheck,
    ReparameterizeExactForm,
    ReparameterizeFreshNoise,
    ReparameterizeGradients,
    ReparameterizeShapes,
)


def device_verdict(report: dict, what: str, dtype: str | None = None) -> Verdict:
    """A :func:`run_on_meta` report says the result stayed on its inputs' device (and dtype)."""
    if report["device"] != report["inputs"]:
        return fail(
            f"{what} is on {report['device']} while its inputs are on {report['inputs']}: create "
            "new tensors on the inputs' device (torch.zeros_like, device=x.device), never on a "
            "device of your own."
        )
    if dtype is not None and report["dtype"] != dtype:
        return fail(f"{what} is {report['dtype']}, expected {dtype}.")
    return PASS


# --- to_onehot ------------------------------------------------------------------------------


class OnehotOtherClasses(Check):
    exercise = "to_onehot"
    title = "follows num_classes (6 classes, even when the maps use only 0 … 3)"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        labels = label_maps(bench, 2, 5, 7)
        return {
            "onehot": tensor(bench.get()(labels, num_classes=6), "the one-hot maps"),
            "labels": labels,
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        labels, onehot = seen["labels"], seen["onehot"]
        if tuple(onehot.shape) == (2, 4, 5, 7):
            return fail(
                "With num_classes = 6 you returned 4 channels: use the argument, and not "
                "labels.max() + 1 either (a batch may lack the last classes)."
            )
        expected = torch.stack([(labels == c) for c in range(6)], dim=1).to(torch.float64)
        return expect_close(floats(onehot), expected, "With num_classes = 6 the one-hot tensor")


class OnehotDevice(Check):
    exercise = "to_onehot"
    title = "keeps the labels' device (so it runs on a GPU too)"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        return run_on_meta(
            bench.get(),
            lambda device: (torch.zeros(2, 5, 5, dtype=torch.int64, device=device),),
            "the one-hot maps",
        )

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [2, 4, 5, 5]:
            return fail(
                f"For (2, 5, 5) labels of zeros the shape is {tuple(seen['shape'])}, expected "
                "(2, 4, 5, 5): the number of channels is num_classes, whatever labels are present."
            )
        return device_verdict(seen, "The one-hot tensor", "torch.float32")


# --- downsampling_block / upsampling_block -----------------------------------------------------


def block_output(bench: Bench, block: nn.Module, channels: int, size: int) -> torch.Tensor:
    """The block's float64 output on a seeded input, with seeded convolution weights."""
    layers = conv_layers(block)
    if len(layers) != 2:
        raise Mismatch(f"the block should hold two convolutions, found {len(layers)}.")
    block = block.to(bench.device, torch.float64)
    fill(bench, layers)
    with torch.no_grad():
        return tensor(
            block(bench.randn(2, channels, size, size, dtype=torch.float64)), "the output"
        )


def judge_block(seen: dict, reference: dict, order: str) -> Verdict:
    output = seen["output"]
    if output.shape == reference["output"].shape and output.min() < 0:
        return fail(f"The block's output has negative values: end with a ReLU ({order}).")
    return expect_close(
        output,
        reference["output"],
        "With the same weights, the block's output",
        otherwise=f"The order is {order}, with nothing else in between.",
    )


class DownValues(ReferenceCheck):
    exercise = "downsampling_block"
    title = "computes Conv → ReLU → Conv → ReLU, as the reference does (float64)"

    def probe(self, bench: Bench) -> dict:
        block = module(bench.get()(3, 5), "downsampling_block(3, 5)")
        return {"output": block_output(bench, block, 3, 8)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return judge_block(seen, reference, "Conv2d (stride 2) → ReLU → Conv2d → ReLU")


def module_on_meta(bench: Bench, build, shape: tuple[int, ...], what: str) -> dict:
    """Run a freshly built module on a zero input of ``shape`` on the meta device."""
    return run_on_meta(
        lambda model, x: model(x),
        lambda device: (module(build(), what).to(device), torch.zeros(*shape, device=device)),
        what,
    )


class DownDevice(Check):
    exercise = "downsampling_block"
    title = "runs on whatever device its input is on"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        return module_on_meta(
            bench, lambda: bench.get()(2, 3), (1, 2, 8, 8), "downsampling_block(2, 3)"
        )

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [1, 3, 4, 4]:
            return fail(f"(1, 2, 8, 8) became {tuple(seen['shape'])}, expected (1, 3, 4, 4).")
        return device_verdict(seen, "The block's output")


class UpValues(ReferenceCheck):
    exercise = "upsampling_block"
    title = "computes ConvTranspose → ReLU → Conv → ReLU, as the reference does (float64)"

    def probe(self, bench: Bench) -> dict:
        block = module(bench.get()(5, 3), "upsampling_block(5, 3)")
        return {"output": block_output(bench, block, 5, 4)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return judge_block(seen, reference, "ConvTranspose2d → ReLU → Conv2d → ReLU")


class UpDevice(Check):
    exercise = "upsampling_block"
    title = "runs on whatever device its input is on"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        return module_on_meta(
            bench, lambda: bench.get()(3, 2), (1, 3, 4, 4), "upsampling_block(3, 2)"
        )

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [1, 2, 8, 8]:
            return fail(f"(1, 3, 4, 4) became {tuple(seen['shape'])}, expected (1, 2, 8, 8).")
        return device_verdict(seen, "The block's output")


# --- ConvVAEEncoder -------------------------------------------------------------------------

OTHER_ENCODER = {"in_channels": 3, "image_size": 16, "latent_dim": 5, "channels": (4, 6, 8)}


def encoder_parts(encoder: nn.Module) -> tuple[nn.Module, nn.Linear, nn.Linear]:
    parts = tuple(getattr(encoder, name, None) for name in ("features", "mu_head", "logvar_head"))
    if not isinstance(parts[0], nn.Module) or not all(isinstance(p, nn.Linear) for p in parts[1:]):
        raise Mismatch(
            "ConvVAEEncoder needs `features` (an nn.Sequential) and two nn.Linear heads."
        )
    return parts


class EncoderDefaults(Check):
    exercise = "ConvVAEEncoder"
    title = "has the contract's size by default (channels 16 → 128, 128 × 128 maps, latent 32)"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "ConvVAEEncoder()")
        features, mu_head, _ = encoder_parts(encoder)
        return {
            "parameters": parameter_count(encoder),
            "head": [mu_head.in_features, mu_head.out_features],
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        heads = 2 * (128 * 8 * 8 * 32 + 32)
        count = conv_parameters(encoder_specs(4, (16, 32, 64, 128))) + heads
        if seen["head"] != [8192, 32]:
            return fail(
                f"By default the heads are Linear{tuple(seen['head'])}, expected Linear(8192, 32): "
                "four blocks take 128 to 8 pixels, and 128 channels × 8 × 8 = 8192."
            )
        if seen["parameters"] != count:
            return fail(
                f"ConvVAEEncoder() has {seen['parameters']:,} parameters, expected {count:,}: "
                "four downsampling_blocks (4 → 16 → 32 → 64 → 128) and the two heads, nothing else."
            )
        return PASS


class EncoderValues(ReferenceCheck):
    exercise = "ConvVAEEncoder"
    title = "matches the reference with the same weights (3 blocks, 16 × 16 maps, float64)"

    def probe(self, bench: Bench) -> dict:
        encoder = module(
            bench.get()(**OTHER_ENCODER), "ConvVAEEncoder(in_channels=3, image_size=16, ...)"
        )
        features, mu_head, logvar_head = encoder_parts(encoder)
        layers = conv_layers(features)
        if len(layers) != 6:
            raise Mismatch(
                f"`features` should hold 3 blocks of two convolutions, found {len(layers)} convolutions."
            )
        encoder.to(bench.device, torch.float64)
        fill(bench, [*layers, mu_head, logvar_head])
        with torch.no_grad():
            mu, logvar = pair(
                encoder(bench.uniform(4, 3, 16, 16, dtype=torch.float64)), "ConvVAEEncoder.forward"
            )
        return {"mu": tensor(mu, "mu"), "logvar": tensor(logvar, "logvar")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if is_close(seen["mu"], reference["logvar"]) and is_close(seen["logvar"], reference["mu"]):
            return fail(
                "mu and logvar are swapped: mu comes from mu_head, logvar from logvar_head."
            )
        for name in ("mu", "logvar"):
            verdict = expect_close(
                seen[name],
                reference[name],
                f"With the same weights, {name}",
                otherwise=f"{name} = {name}_head(features(x).flatten(1)): flatten each sample's "
                "(C, s, s) features in that order (no permute), and no activation after the heads.",
            )
            if not verdict.passed:
                return verdict
        return PASS


class EncoderSharedFeatures(Check):
    exercise = "ConvVAEEncoder"
    title = "both heads send gradients into the shared features"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder = module(
            bench.get()(**OTHER_ENCODER), "ConvVAEEncoder(in_channels=3, image_size=16, ...)"
        )
        features, _, _ = encoder_parts(encoder)
        encoder.to(bench.device)
        x = bench.uniform(2, 3, 16, 16)
        seen = {}
        for index, name in enumerate(("mu", "logvar")):
            encoder.zero_grad(set_to_none=True)
            tensor(pair(encoder(x), "ConvVAEEncoder.forward")[index], name).sum().backward()
            seen[name] = gradient_norms(features)
        return seen

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name in ("mu", "logvar"):
            if not seen[name] > 0:
                return fail(
                    f"{name} sends no gradient into `features`: compute both heads from self.features(x)."
                )
        return PASS


class EncoderDevice(Check):
    exercise = "ConvVAEEncoder"
    title = "runs on whatever device its input is on"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        build = lambda: bench.get()(**OTHER_ENCODER)  # noqa: E731
        return run_on_meta(
            lambda model, x: pair(model(x), "ConvVAEEncoder.forward")[0],
            lambda device: (
                module(build(), "ConvVAEEncoder").to(device),
                torch.zeros(2, 3, 16, 16, device=device),
            ),
            "mu",
        )

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [2, 5]:
            return fail(f"mu has shape {tuple(seen['shape'])}, expected (2, 5).")
        return device_verdict(seen, "mu")


# --- ConvDecoder ----------------------------------------------------------------------------

OTHER_DECODER = {"out_channels": 3, "image_size": 16, "latent_dim": 5, "channels": (8, 6, 4)}


def decoder_parts(decoder: nn.Module) -> tuple[nn.Linear, nn.Module, nn.Module]:
    parts = tuple(getattr(decoder, name, None) for name in ("fc", "blocks", "head"))
    if not isinstance(parts[0], nn.Linear) or not all(isinstance(p, nn.Module) for p in parts[1:]):
        raise Mismatch("ConvDecoder needs `fc` (an nn.Linear), `blocks` and `head` (nn.Modules).")
    return parts


class DecoderComposition(Check):
    exercise = "ConvDecoder"
    title = "computes head(blocks(fc(z) reshaped to (N, channels[0], s, s))), no activation between"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(**OTHER_DECODER), "ConvDecoder(image_size=16, ...)").to(
            bench.device
        )
        fc, blocks, head = decoder_parts(decoder)
        z = bench.randn(3, 5, scale=2.0)
        with torch.no_grad():
            logits = tensor(decoder(z), "the logits")
            start = fc(z)
            want = head(blocks(start.reshape(3, 8, 2, 2)))
            relu = head(blocks(torch.relu(start).reshape(3, 8, 2, 2)))
        return {"logits": logits, "want": want, "relu": relu}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        logits, want = seen["logits"], seen["want"]
        if logits.shape == want.shape and not is_close(logits, want):
            if is_close(logits, seen["relu"]):
                return fail(
                    "There is a ReLU between fc and the reshape: the contract has no activation "
                    "there (the tutorial's ReLU is left out)."
                )
            if is_close(logits, torch.softmax(want, dim=1)):
                return fail("The decoder applies a softmax: return the head's raw logits.")
        return expect_close(
            logits,
            want,
            "The decoder's output",
            otherwise="forward(z) = head(blocks(fc(z).reshape(N, channels[0], s, s))) with "
            "s = image_size // 2**len(channels).",
        )


class DecoderDefaults(Check):
    exercise = "ConvDecoder"
    title = "has the contract's size by default (channels 128 → 16, 128 × 128 maps, latent 32)"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(), "ConvDecoder()")
        fc, _, _ = decoder_parts(decoder)
        return {"parameters": parameter_count(decoder), "fc": [fc.in_features, fc.out_features]}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        count = conv_parameters(decoder_specs(4, (128, 64, 32, 16))) + 32 * 8192 + 8192
        if seen["fc"] != [32, 8192]:
            return fail(
                f"By default fc is Linear{tuple(seen['fc'])}, expected Linear(32, 8192): "
                "s = 128 // 2**4 = 8 and channels[0] = 128, so 128 × 8 × 8 = 8192."
            )
        if seen["parameters"] != count:
            return fail(
                f"ConvDecoder() has {seen['parameters']:,} parameters, expected {count:,}: fc, "
                "four upsampling_blocks (128 → 64 → 32 → 16 → 16) and the head, nothing else."
            )
        return PASS


class DecoderValues(ReferenceCheck):
    exercise = "ConvDecoder"
    title = "matches the reference with the same weights (3 blocks, 16 × 16 maps, float64)"

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(**OTHER_DECODER), "ConvDecoder(image_size=16, ...)")
        fc, blocks, head = decoder_parts(decoder)
        layers = conv_layers(blocks)
        if len(layers) != 6 or not isinstance(head, nn.Conv2d):
            raise Mismatch(
                f"`blocks` should hold 3 blocks of two convolutions (found {len(layers)} "
                "convolutions) and `head` should be an nn.Conv2d."
            )
        decoder.to(bench.device, torch.float64)
        fill(bench, [fc, *layers, head])
        with torch.no_grad():
            logits = decoder(bench.randn(3, 5, dtype=torch.float64))
        return {"logits": tensor(logits, "the logits")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_close(
            seen["logits"],
            reference["logits"],
            "With the same weights, the logits tensor",
            otherwise="fc, reshape to (N, channels[0], s, s), the upsampling blocks in order "
            "(the last keeps channels[-1]), then the head.",
        )


class DecoderDevice(Check):
    exercise = "ConvDecoder"
    title = "runs on whatever device its input is on"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        build = lambda: bench.get()(**OTHER_DECODER)  # noqa: E731
        return run_on_meta(
            lambda model, z: model(z),
            lambda device: (
                module(build(), "ConvDecoder").to(device),
                torch.zeros(2, 5, device=device),
            ),
            "the logits",
        )

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [2, 3, 16, 16]:
            return fail(f"The logits have shape {tuple(seen['shape'])}, expected (2, 3, 16, 16).")
        return device_verdict(seen, "The logits")


# --- segmentation_loss ----------------------------------------------------------------------


def loss_inputs(bench: Bench, shape=(3, 4, 6, 5), dtype=torch.float64):
    count, classes, height, width = shape
    logits = bench.randn(*shape, scale=2.0, dtype=dtype)
    return logits, label_maps(bench, count, height, width, classes)


def summed(per_pixel: torch.Tensor) -> torch.Tensor:
    return per_pixel.reshape(len(per_pixel), -1).sum(dim=1)


def loss_mistakes(logits: torch.Tensor, labels: torch.Tensor) -> list:
    """Wrong losses a student might compute, with what each one means."""
    pixels = labels[0].numel()
    right = summed(F.cross_entropy(logits, labels, reduction="none"))
    onehot = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
    return [
        (
            right / pixels,
            "you averaged over the pixels; the contract sums them (reduction='none', then sum over H and W).",
        ),
        (
            summed(F.cross_entropy(logits.softmax(dim=1), labels, reduction="none")),
            "you applied a softmax before F.cross_entropy, which applies log-softmax itself: pass the raw logits.",
        ),
        (
            summed(F.nll_loss(logits, labels, reduction="none")),
            "F.nll_loss needs log-probabilities: use F.cross_entropy on the logits (or log_softmax first).",
        ),
        (
            summed(F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")),
            "this is a binary cross-entropy per class: the classes compete, so use the multi-class "
            "F.cross_entropy (softmax over dim 1).",
        ),
        (-right, "the sign is flipped: the cross-entropy is -log p(label) ≥ 0."),
    ]


class LossValues(ReferenceCheck):
    exercise = "segmentation_loss"
    title = "matches the summed cross-entropy on random logits (float64)"

    def probe(self, bench: Bench) -> dict:
        logits, labels = loss_inputs(bench)
        return {
            "loss": tensor(bench.get()(logits, labels), "the loss"),
            "logits": logits,
            "labels": labels,
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_close(
            seen["loss"],
            reference["loss"],
            "On random logits the loss",
            mistakes=loss_mistakes(seen["logits"], seen["labels"]),
            otherwise="Per pixel -log softmax(logits)[label], summed over the pixels of each map.",
        )


class LossOtherShapes(ReferenceCheck):
    exercise = "segmentation_loss"
    title = "works for any number of classes and non-square maps"

    def probe(self, bench: Bench) -> dict:
        seen = {}
        for name, shape in (("three", (2, 3, 5, 7)), ("six", (2, 6, 4, 9))):
            logits, labels = loss_inputs(bench, shape)
            seen[name] = tensor(bench.get()(logits, labels), "the loss")
        return seen

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name, label in (
            ("three", "3 classes on 5 × 7 maps"),
            ("six", "6 classes on 4 × 9 maps"),
        ):
            verdict = expect_close(
                seen[name],
                reference[name],
                f"For {label} the loss",
                otherwise="Do not assume 4 classes or square maps: F.cross_entropy(logits, labels, "
                "reduction='none') is (N, H, W) whatever they are.",
            )
            if not verdict.passed:
                return verdict
        return PASS


class LossGradient(Check):
    exercise = "segmentation_loss"
    title = "sends the gradient softmax(logits) - onehot(labels) to every pixel's logits"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        logits, labels = loss_inputs(bench, (2, 4, 5, 5))
        logits.requires_grad_()
        tensor(bench.get()(logits, labels), "the loss").sum().backward()
        grad = logits.grad if logits.grad is not None else torch.zeros(0)
        return {"logits": logits, "labels": labels, "grad": grad}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["grad"].numel() == 0:
            return fail("No gradient reaches the logits: do not detach them or take an argmax.")
        logits, labels = seen["logits"], seen["labels"]
        onehot = F.one_hot(labels, 4).permute(0, 3, 1, 2).to(torch.float64)
        expected = logits.softmax(dim=1) - onehot
        return expect_close(
            seen["grad"],
            expected,
            "d loss / d logits",
            mistakes=[
                (
                    expected / 25,
                    "it is 25 times too small: you averaged over the 25 pixels; sum them.",
                )
            ],
            otherwise="With the summed cross-entropy it is softmax(logits) - onehot(labels) per pixel.",
        )


class LossDevice(Check):
    exercise = "segmentation_loss"
    title = "keeps the logits' dtype and device"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        logits, labels = loss_inputs(bench, (2, 4, 3, 3))
        dtype = str(tensor(bench.get()(logits, labels), "the loss").dtype)
        report = run_on_meta(
            bench.get(),
            lambda device: (
                torch.zeros(2, 4, 3, 3, device=device),
                torch.zeros(2, 3, 3, dtype=torch.int64, device=device),
            ),
            "the loss",
        )
        return {"dtype": dtype, "device": report}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["dtype"] != "torch.float64":
            return fail(f"For float64 logits the loss is {seen['dtype']}: keep the logits' dtype.")
        return device_verdict(seen["device"], "The loss")


# --- dice_score -----------------------------------------------------------------------------


def dice_inputs(bench: Bench, count: int = 6, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Toy hearts as targets and noisy copies as predictions; one pair lacks the RV in both
    maps, one prediction has no LV at all."""
    target = heart_maps(count, size, bench.device)
    noise = label_maps(bench, count, size, size)
    flip = bench.uniform(count, size, size) < 0.15
    pred = torch.where(flip, noise, target)
    pred[-1][pred[-1] == 1] = 0  # the last target has no RV: absent from both maps
    pred[0][pred[0] == 3] = 2  # the first prediction has no LV: Dice 0 for LV
    return pred, target


def dice_variants(pred: torch.Tensor, target: torch.Tensor, classes: int = 4) -> dict:
    """The Dice and its usual look-alikes, per sample and class 1 … classes - 1."""
    inter, sizes, union = [], [], []
    for c in range(1, classes):
        p, t = pred == c, target == c
        inter.append((p & t).flatten(1).sum(1))
        sizes.append(p.flatten(1).sum(1) + t.flatten(1).sum(1))
        union.append((p | t).flatten(1).sum(1))
    inter, sizes, union = (torch.stack(x, dim=1).to(torch.float64) for x in (inter, sizes, union))
    empty = sizes == 0
    ratio = lambda num, den: torch.where(empty, 1.0, num / den.clamp(min=1))  # noqa: E731
    return {
        "dice": ratio(2 * inter, sizes),
        "iou": ratio(inter, union),
        "absent_zero": torch.where(empty, 0.0, 2 * inter / sizes.clamp(min=1)),
        "smoothed": lambda epsilon: (2 * inter + epsilon) / (sizes + epsilon),
        "inter": inter,
        "sizes": sizes,
    }


def smoothing_of(dice: torch.Tensor, variants: dict) -> float | None:
    """The ε of a Dice computed as (2·|P∩T| + ε) / (|P| + |T| + ε), or None: solved from each
    entry with |P| + |T| > 0 and a Dice below 1, then the median."""
    inter, sizes = variants["inter"], variants["sizes"]
    usable = (sizes > 0) & (dice < 1 - 1e-9) & torch.isfinite(dice)
    if not bool(usable.any()):
        return None
    estimates = (dice * sizes - 2 * inter)[usable] / (1 - dice[usable])
    epsilon = float(estimates.median())
    return epsilon if epsilon > 1e-7 else None


def smoothing(epsilon: float) -> str:
    return (
        f"this is a smoothed Dice, (2·|P∩T| + ε) / (|P| + |T| + ε) with ε ≈ {epsilon:.3g}: "
        "the smoothing shifts every score. The contract's Dice has none; score a class absent "
        "from both maps 1.0 by a rule (torch.where), not by ε."
    )


class DiceValues(ReferenceCheck):
    exercise = "dice_score"
    title = "matches the reference per sample and structure, absent classes included"

    def probe(self, bench: Bench) -> dict:
        pred, target = dice_inputs(bench)
        return {
            "dice": tensor(bench.get()(pred, target), "the Dice"),
            "pred": pred,
            "target": target,
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return judge_dice(seen, reference, 4, "On noisy toy hearts the Dice")


def judge_dice(seen: dict, reference: dict, classes: int, what: str) -> Verdict:
    """Compare with the reference; name the IoU, a missing absent-class rule or NaNs."""
    variants = dice_variants(seen["pred"], seen["target"], classes)
    dice = seen["dice"]
    if tuple(dice.shape) == (len(seen["pred"]), classes):
        return fail(
            f"You returned {classes} columns: leave the background out, the columns are the "
            "classes 1 … num_classes - 1."
        )
    if dice.shape == reference["dice"].shape and not torch.isfinite(floats(dice)).all():
        return fail(
            "Some Dice values are NaN: a class absent from both maps gives 0 / 0. The "
            "contract scores it 1.0."
        )
    expected = floats(reference["dice"])
    epsilon = smoothing_of(floats(dice), variants) if dice.shape == expected.shape else None
    smoothed = [] if epsilon is None else [(variants["smoothed"](epsilon), smoothing(epsilon))]
    return expect_close(
        floats(dice),
        expected,
        what,
        dtype=dice.dtype,  # held to the tolerance of the dtype the code produced
        mistakes=[
            (variants["iou"], "this is the IoU |P∩T| / |P∪T|; Dice is 2·|P∩T| / (|P| + |T|)."),
            (variants["absent_zero"], "a class absent from both maps must score 1.0, not 0."),
            *smoothed,
        ],
        otherwise="Per sample and class c = 1 … num_classes - 1 (do not assume 4): "
        "2·|P∩T| / (|P| + |T|), counting pixels with pred == c and target == c; 1.0 when "
        "both are empty.",
    )


class DiceOtherClasses(ReferenceCheck):
    exercise = "dice_score"
    title = "follows num_classes and works on non-square maps"

    def probe(self, bench: Bench) -> dict:
        pred, target = label_maps(bench, 3, 5, 7, classes=6), label_maps(bench, 3, 5, 7, classes=6)
        target[1][target[1] == 5] = 0
        pred[1][pred[1] == 5] = 0
        dice = tensor(bench.get()(pred, target, num_classes=6), "the Dice")
        return {"dice": dice, "pred": pred, "target": target}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return judge_dice(seen, reference, 6, "With num_classes = 6 on 5 × 7 maps the Dice")


class DiceDevice(Check):
    exercise = "dice_score"
    title = "keeps the maps' device (so it runs on a GPU too)"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        return run_on_meta(
            bench.get(),
            lambda device: (
                torch.zeros(2, 6, 6, dtype=torch.int64, device=device),
                torch.ones(2, 6, 6, dtype=torch.int64, device=device),
            ),
            "the Dice",
        )

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [2, 3]:
            return fail(f"The Dice has shape {tuple(seen['shape'])}, expected (2, 3).")
        return device_verdict(seen, "The Dice")


# --- cardiac_vae_forward --------------------------------------------------------------------


def forward_pass(bench: Bench, beta: float) -> dict:
    encoder, decoder = seeded_cardiac_vae(bench)
    labels = heart_maps(4, 8, bench.device)
    bench.reseed()
    loss, logits = pair(bench.get()(encoder, decoder, labels, beta=beta), "cardiac_vae_forward")
    return {"loss": tensor(loss, "the loss"), "logits": tensor(logits, "the logits")}


class ForwardValues(ReferenceCheck):
    exercise = "cardiac_vae_forward"
    title = "matches the reference at beta = 1 (loss and logits)"

    def probe(self, bench: Bench) -> dict:
        return forward_pass(bench, 1.0)

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return first_failure(
            expect_close(
                seen["logits"],
                reference["logits"],
                "The logits tensor",
                mistakes=[
                    (
                        reference["logits"].softmax(dim=1),
                        "you return probabilities: return the raw logits.",
                    )
                ],
                otherwise="mu, logvar = encoder(to_onehot(labels)); z = reparameterize(mu, logvar); "
                "logits = decoder(z), sampling z once.",
            ),
            expect_close(seen["loss"], reference["loss"], "At beta = 1 the loss"),
        )


class ForwardBeta(ReferenceCheck):
    exercise = "cardiac_vae_forward"
    title = "weighs only the KL term by beta (beta = 0 and beta = 4)"

    def probe(self, bench: Bench) -> dict:
        return {f"loss_{beta}": forward_pass(bench, beta)["loss"] for beta in (0, 4)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for beta in (0, 4):
            verdict = expect_close(
                seen[f"loss_{beta}"],
                reference[f"loss_{beta}"],
                f"With beta = {beta} the loss",
                otherwise="loss = (segmentation_loss(logits, labels) + beta * kl_divergence(mu, "
                "logvar)).mean(): beta multiplies the KL term only.",
            )
            if not verdict.passed:
                return verdict
        return PASS


class ForwardSamples(Check):
    exercise = "cardiac_vae_forward"
    title = "decodes a sample z = reparameterize(mu, logvar), not mu"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder, decoder, labels = projection(bench)
        bench.reseed()
        first = tensor(
            pair(bench.get()(encoder, decoder, labels), "cardiac_vae_forward")[1], "the logits"
        )
        second = tensor(
            pair(bench.get()(encoder, decoder, labels), "cardiac_vae_forward")[1], "the logits"
        )
        with torch.no_grad():
            onehot = F.one_hot(labels, 4).permute(0, 3, 1, 2).float()
            from_mean = decoder(encoder(onehot)[0])
        return {"first": first, "second": second, "from_mean": from_mean}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if is_close(seen["first"], seen["from_mean"]):
            return fail(
                "The logits are the decode of mu: while training, decode z = reparameterize(mu, logvar)."
            )
        if torch.equal(seen["first"], seen["second"]):
            return fail("Two passes gave the same logits: sample z afresh at every call.")
        return PASS


class ForwardGradients(Check):
    exercise = "cardiac_vae_forward"
    title = "sends gradients to both encoder heads and to the decoder"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_cardiac_vae(bench)
        bench.reseed()
        loss, _ = pair(
            bench.get()(encoder, decoder, heart_maps(3, 8, bench.device)), "cardiac_vae_forward"
        )
        tensor(loss, "the loss").backward()
        return {
            "mu_head": gradient_norms(encoder.mu_head),
            "logvar_head": gradient_norms(encoder.logvar_head),
            "decoder": gradient_norms(decoder),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for part in ("mu_head", "logvar_head", "decoder"):
            if not seen[part] > 0:
                return fail(
                    f"No gradient reaches the {part.replace('_', ' ')}: do not detach mu, logvar, z "
                    "or the logits, and do not compute the loss under torch.no_grad()."
                )
        return PASS


# --- project_segmentation -------------------------------------------------------------------


class ProjectValues(ReferenceCheck):
    exercise = "project_segmentation"
    title = "is the argmax of the decoded mean, as the reference computes it"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder, labels = projection(bench, wide=False)
        bench.reseed()
        return {"maps": tensor(bench.get()(encoder, decoder, labels), "the projected maps")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_close(
            floats(seen["maps"]),
            floats(reference["maps"]),
            "The projection",
            otherwise="mu, _ = encoder(to_onehot(labels)); return decoder(mu).argmax(dim=1).",
        )


class ProjectDevice(Check):
    exercise = "project_segmentation"
    title = "keeps the maps' device (so it runs on a GPU too)"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        def make_inputs(device):
            encoder, decoder = seeded_cardiac_vae(bench)
            labels = torch.zeros(2, 8, 8, dtype=torch.int64, device=device)
            return encoder.to(device), decoder.to(device), labels

        return run_on_meta(bench.get(), make_inputs, "the projected maps")

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [2, 8, 8]:
            return fail(f"The projection has shape {tuple(seen['shape'])}, expected (2, 8, 8).")
        return device_verdict(seen, "The projection", "torch.int64")


CHECKS: list[Check] = [
    OnehotOtherClasses(),
    OnehotDevice(),
    DownValues(),
    DownDevice(),
    UpValues(),
    UpDevice(),
    EncoderDefaults(),
    EncoderValues(),
    EncoderSharedFeatures(),
    EncoderDevice(),
    DecoderComposition(),
    DecoderDefaults(),
    DecoderValues(),
    DecoderDevice(),
    LossValues(),
    LossOtherShapes(),
    LossGradient(),
    LossDevice(),
    DiceValues(),
    DiceOtherClasses(),
    DiceDevice(),
    ReparameterizeFreshNoise(),
    ReparameterizeExactForm(),
    ReparameterizeGradients(),
    ReparameterizeShapes(),
    KlValues(),
    KlMonteCarlo(),
    KlGradientsAndDevice(),
    ForwardValues(),
    ForwardBeta(),
    ForwardSamples(),
    ForwardGradients(),
    ProjectValues(),
    ProjectDevice(),
]
