"""Hidden checks of ``cardiac_autoencoders``: values against the reference, gradients,
structure at other sizes, and devices. Never shipped to students.

Judges that compare with the reference receive its observation of the same probe, computed
in the trusted process from the solutions in ``source/``. Where a typical mistake can be
computed from the probe's inputs (a softmax before the cross-entropy, the IoU instead of the
Dice), the judge computes it and names it.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from aekit.checks import cardiac as public
from aekit.checks.cardiac import (
    conv_layers,
    conv_parameters,
    decoder_specs,
    encoder_specs,
    fill_model,
    floats,
    heart_maps,
    label_maps,
    projection,
    seeded_cardiac_vae,
)
from aekit.checks.cardiac import fill_layers as fill
from aekit.checks.compare import (
    PASS,
    Verdict,
    expect_all_close,
    expect_close,
    fail,
    first_failure,
    is_close,
)
from aekit.checks.core import (
    Bench,
    Check,
    Mismatch,
    identified,
    module,
    pair,
    parameter_count,
    tensor,
)
from aekit.checks.families import KeepsDevice, device_verdict, family
from aekit.checks.fixtures import gradient_of, run_on_meta
from autograder.hidden import vae
from autograder.hidden.families import (
    DecodesSample,
    HeadGradients,
    HiddenCheck,
    LossGradients,
    MatchesReference,
    ReferenceCheck,
    WeighsOnlyKl,
    heads_and_decoder,
    heads_swapped,
)

# --- to_onehot ------------------------------------------------------------------------------


class OnehotOtherClasses(HiddenCheck):
    exercise = "to_onehot"
    title = "follows num_classes (6 classes, even when the maps use only 0 … 3)"

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


@family
class BlockValues(ReferenceCheck):
    """``exercise(*channels)``, given seeded weights, computes what the reference's block does
    on a float64 input of ``size`` × ``size``."""

    exercise: str
    title: str
    channels: tuple[int, int]
    size: int
    order: str  # the layers, as the messages name them

    def probe(self, bench: Bench) -> dict:
        block = module(bench.get()(*self.channels), f"{self.exercise}{self.channels}")
        return {"output": block_output(bench, block, self.channels[0], self.size)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        output = seen["output"]
        if output.shape == reference["output"].shape and output.min() < 0:
            return fail(f"The block's output has negative values: end with a ReLU ({self.order}).")
        return expect_close(
            output,
            reference["output"],
            "With the same weights, the block's output",
            otherwise=f"The order is {self.order}, with nothing else in between.",
        )


def built_on(built: str, input_shape: tuple[int, ...], *arguments, **keywords) -> Callable:
    """The inputs of a device check of a module factory: the module the exercise builds from
    ``arguments`` and ``keywords`` (``built`` in a Mismatch), and zeros of ``input_shape``."""

    def inputs(bench: Bench, device: torch.device) -> tuple:
        model = module(bench.get()(*arguments, **keywords), built).to(device)
        return model, torch.zeros(*input_shape, device=device)

    return inputs


def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the device check of a module factory runs: the module on the input."""
    return model(x)


def on_device(**fields) -> KeepsDevice:
    """A hidden :class:`KeepsDevice` check."""
    return KeepsDevice(hidden=True, **fields)


def block_on_device(exercise: str, channels: tuple[int, int], before: tuple, after: tuple):
    """The device check of ``exercise(*channels)``, which maps ``before`` to ``after``."""
    built = f"{exercise}{channels}"
    return on_device(
        exercise=exercise,
        call=forward,
        inputs=built_on(built, before, *channels),
        shape=after,
        wrong_shape=f"{before} became {{found}}, expected {after}.",
        result=built,
        subject="The block's output",
    )


# --- ConvVAEEncoder -------------------------------------------------------------------------

OTHER_ENCODER = {"in_channels": 3, "image_size": 16, "latent_dim": 5, "channels": (4, 6, 8)}


def encoder_parts(encoder: nn.Module) -> tuple[nn.Module, nn.Linear, nn.Linear]:
    parts = tuple(getattr(encoder, name, None) for name in ("features", "mu_head", "logvar_head"))
    if not isinstance(parts[0], nn.Module) or not all(isinstance(p, nn.Linear) for p in parts[1:]):
        raise Mismatch(
            "ConvVAEEncoder needs `features` (an nn.Sequential) and two nn.Linear heads."
        )
    return parts


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
        swapped = heads_swapped(seen, reference)
        if not swapped.passed:
            return swapped
        return expect_all_close(
            seen,
            reference,
            {name: f"With the same weights, {name}" for name in ("mu", "logvar")},
            otherwise={
                name: f"{name} = {name}_head(features(x).flatten(1)): flatten each sample's "
                "(C, s, s) features in that order (no permute), and no activation after the heads."
                for name in ("mu", "logvar")
            },
        )


@family
class DefaultSize(HiddenCheck):
    """With its default arguments the model has the contract's size: one of its Linear layers
    (``linear(model)``) is ``expected``, and it holds ``count`` parameters."""

    exercise: str
    title: str
    built: str  # the constructor call: "ConvVAEEncoder()"
    linear: Callable[[nn.Module], nn.Linear]
    expected: tuple[int, int]
    count: int
    wrong_linear: str  # the message for another Linear layer, with {found}
    wrong_count: str  # the message for another count, with {found} and {count}

    def probe(self, bench: Bench) -> dict:
        model = module(bench.get()(), self.built)
        linear = self.linear(model)
        return {
            "parameters": parameter_count(model),
            "linear": [linear.in_features, linear.out_features],
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["linear"] != list(self.expected):
            return fail(self.wrong_linear.format(found=tuple(seen["linear"])))
        if seen["parameters"] != self.count:
            return fail(self.wrong_count.format(found=seen["parameters"], count=self.count))
        return PASS


# --- ConvDecoder ----------------------------------------------------------------------------

OTHER_DECODER = {"out_channels": 3, "image_size": 16, "latent_dim": 5, "channels": (8, 6, 4)}


def decoder_parts(decoder: nn.Module) -> tuple[nn.Linear, nn.Module, nn.Module]:
    parts = tuple(getattr(decoder, name, None) for name in ("fc", "blocks", "head"))
    if not isinstance(parts[0], nn.Linear) or not all(isinstance(p, nn.Module) for p in parts[1:]):
        raise Mismatch("ConvDecoder needs `fc` (an nn.Linear), `blocks` and `head` (nn.Modules).")
    return parts


class DecoderComposition(HiddenCheck):
    exercise = "ConvDecoder"
    title = "computes head(blocks(fc(z) reshaped to (N, channels[0], s, s))), no activation between"

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(**OTHER_DECODER), "ConvDecoder(image_size=16, ...)").to(
            bench.device
        )
        fc, blocks, head = decoder_parts(decoder)
        fill_model(bench, decoder)  # else a ReLU's trace can vanish under the tolerance
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


# --- segmentation_loss ----------------------------------------------------------------------


def loss_inputs(bench: Bench, shape=(3, 4, 6, 5), dtype=torch.float64):
    count, classes, height, width = shape
    logits = bench.randn(*shape, scale=2.0, dtype=dtype)
    return logits, label_maps(bench, count, height, width, classes)


def onehot(labels: torch.Tensor, classes: int, dtype: torch.dtype) -> torch.Tensor:
    """(N, classes, H, W) one-hot maps of (N, H, W) labels, the layout of the contract's
    to_onehot."""
    return F.one_hot(labels, classes).permute(0, 3, 1, 2).to(dtype)


def summed(per_pixel: torch.Tensor) -> torch.Tensor:
    return per_pixel.reshape(len(per_pixel), -1).sum(dim=1)


def loss_mistakes(logits: torch.Tensor, labels: torch.Tensor) -> list:
    """Wrong losses a student might compute, with what each one means."""
    pixels = labels[0].numel()
    right = summed(F.cross_entropy(logits, labels, reduction="none"))
    targets = onehot(labels, logits.shape[1], logits.dtype)
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
            summed(F.binary_cross_entropy_with_logits(logits, targets, reduction="none")),
            "this is a binary cross-entropy per class: the classes compete, so use the multi-class "
            "F.cross_entropy (softmax over dim 1).",
        ),
        (-right, "the sign is flipped: the cross-entropy is -log p(label) ≥ 0."),
    ]


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
        return expect_all_close(
            seen,
            reference,
            {
                "three": "For 3 classes on 5 × 7 maps the loss",
                "six": "For 6 classes on 4 × 9 maps the loss",
            },
            otherwise="Do not assume 4 classes or square maps: F.cross_entropy(logits, labels, "
            "reduction='none') is (N, H, W) whatever they are.",
        )


class LossGradient(HiddenCheck):
    exercise = "segmentation_loss"
    title = "sends the gradient softmax(logits) - onehot(labels) to every pixel's logits"

    def probe(self, bench: Bench) -> dict:
        logits, labels = loss_inputs(bench, (2, 4, 5, 5))
        logits.requires_grad_()
        tensor(bench.get()(logits, labels), "the loss").sum().backward()
        return {"logits": logits, "labels": labels, "grad": gradient_of(logits)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["grad"].numel() == 0:
            return fail("No gradient reaches the logits: do not detach them or take an argmax.")
        logits, labels = seen["logits"], seen["labels"]
        expected = logits.softmax(dim=1) - onehot(labels, 4, torch.float64)
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


class LossDevice(HiddenCheck):
    exercise = "segmentation_loss"
    title = "keeps the logits' dtype and device"

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


@family
class MatchesDice(ReferenceCheck):
    """The Dice of seeded pairs of maps is the reference's; look-alikes are named."""

    exercise: str
    title: str
    inputs: Callable[[Bench], tuple[torch.Tensor, torch.Tensor]]
    what: str
    num_classes: int = 4  # passed on only when it is not the default

    def probe(self, bench: Bench) -> dict:
        pred, target = self.inputs(bench)
        classes = {} if self.num_classes == 4 else {"num_classes": self.num_classes}
        dice = tensor(bench.get()(pred, target, **classes), "the Dice")
        return {"dice": dice, "pred": pred, "target": target}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return judge_dice(seen, reference, self.num_classes, self.what)


def six_class_maps(bench: Bench) -> tuple[torch.Tensor, torch.Tensor]:
    """Random 5 × 7 maps of 6 classes; in the second pair the last class is in neither map."""
    pred, target = label_maps(bench, 3, 5, 7, classes=6), label_maps(bench, 3, 5, 7, classes=6)
    target[1][target[1] == 5] = 0
    pred[1][pred[1] == 5] = 0
    return pred, target


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


def decode_mean(encoder: nn.Module, decoder: nn.Module, labels: torch.Tensor) -> torch.Tensor:
    return decoder(encoder(onehot(labels, 4, torch.float32))[0])


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


def zero_and_one_maps(bench: Bench, device: torch.device) -> tuple:
    zeros = torch.zeros(2, 6, 6, dtype=torch.int64, device=device)
    return zeros, torch.ones(2, 6, 6, dtype=torch.int64, device=device)


def projection_on(bench: Bench, device: torch.device) -> tuple:
    encoder, decoder = seeded_cardiac_vae(bench)
    labels = torch.zeros(2, 8, 8, dtype=torch.int64, device=device)
    return encoder.to(device), decoder.to(device), labels


CHECKS: list[Check] = identified(
    {
        "onehot-other-classes": OnehotOtherClasses(),
        "onehot-device": on_device(
            exercise="to_onehot",
            title="keeps the labels' device (so it runs on a GPU too)",
            inputs=lambda bench, device: (torch.zeros(2, 5, 5, dtype=torch.int64, device=device),),
            shape=(2, 4, 5, 5),
            wrong_shape="For (2, 5, 5) labels of zeros the shape is {found}, expected "
            "(2, 4, 5, 5): the number of channels is num_classes, whatever labels are present.",
            result="the one-hot maps",
            subject="The one-hot tensor",
            dtype="torch.float32",
        ),
        "down-values": BlockValues(
            exercise="downsampling_block",
            title="computes Conv → ReLU → Conv → ReLU, as the reference does (float64)",
            channels=(3, 5),
            size=8,
            order="Conv2d (stride 2) → ReLU → Conv2d → ReLU",
        ),
        "down-device": block_on_device("downsampling_block", (2, 3), (1, 2, 8, 8), (1, 3, 4, 4)),
        "up-values": BlockValues(
            exercise="upsampling_block",
            title="computes ConvTranspose → ReLU → Conv → ReLU, as the reference does (float64)",
            channels=(5, 3),
            size=4,
            order="ConvTranspose2d → ReLU → Conv2d → ReLU",
        ),
        "up-device": block_on_device("upsampling_block", (3, 2), (1, 3, 4, 4), (1, 2, 8, 8)),
        "encoder-defaults": DefaultSize(
            exercise="ConvVAEEncoder",
            title="has the contract's size by default (channels 16 → 128, 128 × 128 maps, latent 32)",
            built="ConvVAEEncoder()",
            linear=lambda encoder: encoder_parts(encoder)[1],
            expected=(8192, 32),
            count=conv_parameters(encoder_specs(4, (16, 32, 64, 128))) + 2 * (8192 * 32 + 32),
            wrong_linear="By default the heads are Linear{found}, expected Linear(8192, 32): "
            "four blocks take 128 to 8 pixels, and 128 channels × 8 × 8 = 8192.",
            wrong_count="ConvVAEEncoder() has {found:,} parameters, expected {count:,}: "
            "four downsampling_blocks (4 → 16 → 32 → 64 → 128) and the two heads, nothing else.",
        ),
        "encoder-values": EncoderValues(),
        "encoder-shared-features": HeadGradients(
            exercise="ConvVAEEncoder",
            title="both heads send gradients into the shared features",
            arguments=OTHER_ENCODER,
            built="ConvVAEEncoder(in_channels=3, image_size=16, ...)",
            shared=lambda encoder: encoder_parts(encoder)[0],
            inputs=lambda bench: bench.uniform(2, 3, 16, 16),
            missing="{part} sends no gradient into `features`: compute both heads from "
            "self.features(x).",
        ),
        "encoder-device": on_device(
            exercise="ConvVAEEncoder",
            call=lambda model, x: pair(model(x), "ConvVAEEncoder.forward")[0],
            inputs=built_on("ConvVAEEncoder", (2, 3, 16, 16), **OTHER_ENCODER),
            shape=(2, 5),
            wrong_shape="mu has shape {found}, expected (2, 5).",
            result="mu",
            subject="mu",
        ),
        "decoder-composition": DecoderComposition(),
        "decoder-defaults": DefaultSize(
            exercise="ConvDecoder",
            title="has the contract's size by default (channels 128 → 16, 128 × 128 maps, latent 32)",
            built="ConvDecoder()",
            linear=lambda decoder: decoder_parts(decoder)[0],
            expected=(32, 8192),
            count=conv_parameters(decoder_specs(4, (128, 64, 32, 16))) + 32 * 8192 + 8192,
            wrong_linear="By default fc is Linear{found}, expected Linear(32, 8192): "
            "s = 128 // 2**4 = 8 and channels[0] = 128, so 128 × 8 × 8 = 8192.",
            wrong_count="ConvDecoder() has {found:,} parameters, expected {count:,}: fc, "
            "four upsampling_blocks (128 → 64 → 32 → 16 → 16) and the head, nothing else.",
        ),
        "decoder-values": DecoderValues(),
        "decoder-device": on_device(
            exercise="ConvDecoder",
            call=forward,
            inputs=built_on("ConvDecoder", (2, 5), **OTHER_DECODER),
            shape=(2, 3, 16, 16),
            wrong_shape="The logits have shape {found}, expected (2, 3, 16, 16).",
            result="the logits",
            subject="The logits",
        ),
        "ce-values": MatchesReference(
            exercise="segmentation_loss",
            title="matches the summed cross-entropy on random logits (float64)",
            inputs=loss_inputs,
            result="the loss",
            what="On random logits the loss",
            mistakes=lambda inputs, want: loss_mistakes(*inputs),
            otherwise="Per pixel -log softmax(logits)[label], summed over the pixels of each map.",
        ),
        "ce-other-shapes": LossOtherShapes(),
        "ce-gradient": LossGradient(),
        "ce-device": LossDevice(),
        "dice-values": MatchesDice(
            exercise="dice_score",
            title="matches the reference per sample and structure, absent classes included",
            inputs=dice_inputs,
            what="On noisy toy hearts the Dice",
        ),
        "dice-other-classes": MatchesDice(
            exercise="dice_score",
            title="follows num_classes and works on non-square maps",
            inputs=six_class_maps,
            what="With num_classes = 6 on 5 × 7 maps the Dice",
            num_classes=6,
        ),
        "dice-device": on_device(
            exercise="dice_score",
            title="keeps the maps' device (so it runs on a GPU too)",
            inputs=zero_and_one_maps,
            shape=(2, 3),
            wrong_shape="The Dice has shape {found}, expected (2, 3).",
            result="the Dice",
            subject="The Dice",
        ),
        "forward-values": ForwardValues(),
        "forward-beta": WeighsOnlyKl(
            exercise="cardiac_vae_forward",
            loss=lambda bench, beta: forward_pass(bench, beta)["loss"],
            betas=(0, 4),
            otherwise="loss = (segmentation_loss(logits, labels) + beta * kl_divergence(mu, "
            "logvar)).mean(): beta multiplies the KL term only.",
        ),
        "forward-decodes-sample": DecodesSample(
            exercise="cardiac_vae_forward",
            setup=projection,
            decode_mean=decode_mean,
            output="the logits",
            of_mean="The logits are the decode of mu: while training, decode z = "
            "reparameterize(mu, logvar).",
            repeated="Two passes gave the same logits: sample z afresh at every call.",
        ),
        "forward-gradients": LossGradients(
            exercise="cardiac_vae_forward",
            title="sends gradients to both encoder heads and to the decoder",
            fixtures=seeded_cardiac_vae,
            inputs=lambda bench: heart_maps(3, 8, bench.device),
            parts=heads_and_decoder,
            missing="No gradient reaches the {part}: do not detach mu, logvar, z or the logits, "
            "and do not compute the loss under torch.no_grad().",
        ),
        "project-values": ProjectValues(),
        "project-device": on_device(
            exercise="project_segmentation",
            title="keeps the maps' device (so it runs on a GPU too)",
            inputs=projection_on,
            shape=(2, 8, 8),
            wrong_shape="The projection has shape {found}, expected (2, 8, 8).",
            result="the projected maps",
            subject="The projection",
            dtype="torch.int64",
        ),
    },
    vae.TABLE,
    beside=public.CHECKS,
)
