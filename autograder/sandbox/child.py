"""The sandboxed child: load a notebook's definitions, then call them on the grader's data.

The child knows no check, no reference and no expected value. It answers requests of a few
kinds: load the notebook; ``get`` a name; ``call`` an object on inputs the grader sent; return
gradients of an earlier call (``vjp``); copy parameter values into a module; seed torch's
generator. Every answer is raw: tensors by value, a module's structure as data, an exception's
type and message. The grader, which keeps its own copy of every input, judges.

For composite exercises the pieces they call (``reparameterize`` inside ``vae_forward``, say)
are replaced by stand-ins that forward each call, and its gradient, to the grader, which has
them evaluated by the reference in a process of its own. No line of the reference enters here.

This module imports only the loader, the channel and the public part of the kit, so nothing
secret sits in ``sys.modules`` of a process that runs student code.
"""

import contextlib
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aekit.checks.core import Mismatch, Missing, raised, type_name
from aekit.checks.fixtures import meta_device
from autograder import loader
from autograder.sandbox import channel
from autograder.sandbox.channel import Ref, modules_in, tensors_in

MAX_MODULES = 2_000  # submodules described in one answer
MAX_TEXT = 500  # characters of a message or a repr in an answer
# The grader's code that calls the student's (this package, the loader): never where an
# error "happened" for the student.
GRADER_CODE = (str(Path(__file__).parents[1]),)


def child_main(connection, config: dict) -> None:
    """Entry point of a sandboxed child, forked from the zygote."""
    os.environ.clear()
    os.environ.update(config["environment"])
    fences = _raise_fences(config)
    os.chdir(os.environ.get("TMPDIR", "/tmp"))
    if not config.get("debug"):  # AEKIT_SANDBOX_DEBUG=1 keeps the child's stderr for debugging
        _silence_output()
    torch.set_num_threads(1)  # jobs run in parallel; one thread each also makes sums deterministic
    if config["device"] == "cuda":
        torch.backends.cuda.matmul.fp32_precision = "ieee"  # TF32 off: CPU and GPU agree
        torch.backends.cudnn.conv.fp32_precision = "ieee"
    Worker(connection, config["device"], fences).serve()


def _raise_fences(config: dict) -> list[str]:
    from autograder.sandbox import fences

    memory = config["memory_mb"] << 20 if config["device"] == "cpu" else None
    if config.get("weak"):
        return fences.enter_child_weak(memory)
    return fences.enter_child(memory)


def _silence_output() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1, 2):
        os.dup2(devnull, descriptor)
    # input() gets EOF at once; prints, however many, cost nothing and reach no one.
    sys.stdin = open(os.devnull)  # noqa: SIM115
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115


class Worker:
    """The child's state: the notebook's namespace and the objects handed to the grader."""

    def __init__(self, connection, device: str, fences: list[str] = ()):
        self.connection = connection
        self.device = torch.device(device)
        self.fences = list(fences)
        self.namespace: dict[str, Any] = {"__name__": "__notebook__"}
        self.objects: dict[int, Any] = {}  # handle -> object the grader may refer to
        self.calls: dict[int, tuple[list, list]] = {}  # call handle -> (outputs, leaves)

    def serve(self) -> None:
        while True:
            try:
                request = channel.loads(self.connection.recv_bytes())
            except EOFError:
                return
            self.answer(request)
            if request.get("op") == "exit":
                return

    def answer(self, request: dict) -> None:
        try:
            reply = self.handle(request)
        except (Missing, Mismatch) as error:
            reply = {"op": "raised", "details": _refusal(error)}
        except BaseException as error:  # noqa: BLE001 - the student's code may raise anything
            if isinstance(error, KeyboardInterrupt):
                raise
            reply = {"op": "raised", "details": _clip(raised(error, GRADER_CODE))}
        try:
            message = channel.pack(reply)
        except channel.TransportError as error:
            message = channel.pack({"op": "failed", "message": f"{error}."})
        except Exception as error:  # noqa: BLE001 - a tensor subclass of the student's may raise
            why = f"copying it raised {type(error).__name__}: {str(error)[:200]}."
            message = channel.pack({"op": "failed", "message": why})
        self.connection.send_bytes(message)

    def handle(self, request: dict) -> dict:
        if request.get("reset"):  # a new check: nothing handed out for the last one survives
            self.op_reset(request)
        if "seed" in request:  # torch's global generator, reset before the request runs
            torch.manual_seed(int(request["seed"]))
        operation = request.get("op")
        handler = getattr(self, f"op_{operation}", None)
        if handler is None:
            return {"op": "bye"}
        return handler(request)

    # --- requests ---------------------------------------------------------------------------

    def op_exit(self, request: dict) -> dict:
        return {"op": "bye"}

    def op_load(self, request: dict) -> dict:
        statements, notes = loader.plan([(cell, source) for cell, source in request["cells"]])

        def report(statement: loader.Statement) -> None:
            self.connection.send_bytes(channel.pack({"op": "progress", "at": list(statement.key)}))

        skip = frozenset(tuple(key) for key in request["skip"])
        slow: list[tuple[int, int]] = []
        notes += loader.execute(
            statements,
            self.namespace,
            skip=skip,
            seconds=request["statement_seconds"],
            before=report,
            slow=slow,
        )
        return {"op": "loaded", "notes": notes, "fences": self.fences, "slow": slow}

    def op_pieces(self, request: dict) -> dict:
        """Replace the named pieces by stand-ins that ask the grader for the reference's answer."""
        for name in request["names"]:
            self.namespace[name] = _piece(self, name)
        return {"op": "done"}

    def op_reset(self, request: dict) -> dict:
        self.objects.clear()
        self.calls.clear()
        return {"op": "done"}

    def op_get(self, request: dict) -> dict:
        value = self.namespace.get(request["name"])
        if value is None:
            raise Missing(request["name"])
        return {"op": "value", "value": self.export(value)}

    def op_call(self, request: dict) -> dict:
        for handle, values in request["sets"]:
            self.set_parameters(handle, values)
        target = self.resolve(request["target"])
        args = self.resolve(request["args"])
        kwargs = self.resolve(request["kwargs"])
        leaves = [leaf for leaf in tensors_in((target, args, kwargs)) if leaf.requires_grad]
        leaves = list({id(leaf): leaf for leaf in leaves}.values())
        with torch.set_grad_enabled(bool(request["grad"])), _meta_aware(args, kwargs):
            result = target(*args, **kwargs)
        outputs = [value for value in tensors_in(result)]
        handle = self.keep(result)
        self.calls[handle] = (outputs, leaves)
        records = [getattr(item, "received", None) for item in modules_in((args, kwargs))]
        return {
            "op": "value",
            "value": self.export(result),
            "call": handle,
            "leaves": len(leaves),
            "records": records,
        }

    def op_vjp(self, request: dict) -> dict:
        outputs, leaves = self.calls[int(request["call"])]
        pairs = [
            (output, grad)
            for output, grad in zip(outputs, request["grads"], strict=False)
            if grad is not None and output.requires_grad
        ]
        if not pairs or not leaves:
            return {"op": "value", "value": [None] * len(leaves)}
        grads = torch.autograd.grad(
            [output for output, _ in pairs],
            leaves,
            [grad.to(output.device, output.dtype) for output, grad in pairs],
            retain_graph=True,
            allow_unused=True,
        )
        return {"op": "value", "value": [None if grad is None else grad for grad in grads]}

    def set_parameters(self, handle: int, values: dict) -> None:
        """Copy the grader's values into a module's parameters (seeded weights)."""
        parameters = dict(self.objects[int(handle)].named_parameters(recurse=False))
        with torch.no_grad():
            for name, value in values.items():
                parameters[name].copy_(value)

    def op_method(self, request: dict) -> dict:
        """``to``, ``train`` or ``eval`` on a module the grader holds."""
        module = self.objects[int(request["handle"])]
        name = request["name"]
        if name == "to":
            dtype = request.get("dtype")
            module.to("meta" if request.get("meta") else self.device)
            if dtype in {"float16", "float32", "float64"}:
                module.to(getattr(torch, dtype))
        elif name == "train":
            module.train(bool(request["mode"]))
        return {"op": "done"}

    def op_piece(self, request: dict) -> dict:
        """(In the reference's child.) Call a piece with the student child's generator state."""
        _set_rng(request["rng"])
        args, kwargs = self.resolve(request["args"]), self.resolve(request["kwargs"])
        function = self.namespace[request["name"]]
        with torch.no_grad(), _meta_aware(args, kwargs):
            result = function(*args, **kwargs)
        return {"op": "value", "value": _plain(result), "rng": _rng()}

    def op_piece_vjp(self, request: dict) -> dict:
        """(In the reference's child.) Gradients of a piece's outputs with respect to its inputs."""
        _set_rng(request["rng"])
        args, kwargs = self.resolve(request["args"]), self.resolve(request["kwargs"])
        leaves = [
            tensor.requires_grad_()
            for tensor in tensors_in((args, kwargs))
            if tensor.is_floating_point()
        ]
        outputs = list(tensors_in(self.namespace[request["name"]](*args, **kwargs)))
        pairs = [(o, g) for o, g in zip(outputs, request["grads"], strict=False) if g is not None]
        pairs = [(o, g) for o, g in pairs if o.requires_grad]
        if not pairs or not leaves:
            return {"op": "value", "value": [None] * len(leaves)}
        grads = torch.autograd.grad(
            [o for o, _ in pairs], leaves, [g for _, g in pairs], allow_unused=True
        )
        return {"op": "value", "value": list(grads)}

    # --- objects in and out ------------------------------------------------------------------

    def keep(self, value: Any) -> int:
        handle = len(self.objects) + 1
        self.objects[handle] = value
        return handle

    def resolve(self, value: Any) -> Any:
        """The grader's message with references replaced by the objects they name, and
        tensors moved to the grading device as fresh leaves."""
        if isinstance(value, Ref):
            found = self.objects[value.handle]
            if isinstance(found, torch.Tensor):
                return _leaf(found.detach(), value.grad)
            return found
        if isinstance(value, torch.Tensor):
            if value.device.type == "meta":
                return value
            return _leaf(value.detach().to(self.device), value.requires_grad)
        if isinstance(value, nn.Module):
            return value.to(self.device)
        if isinstance(value, tuple):
            return tuple(self.resolve(item) for item in value)
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        return value

    def export(self, value: Any, depth: int = 0) -> Any:
        """``value`` as raw data for the grader: tensors, modules as data, handles for the rest."""
        if depth > channel.MAX_DEPTH // 2:
            raise Mismatch("The result is nested too deeply to be graded.")
        if isinstance(value, torch.Tensor):
            return {
                "$tensor": self.keep(value),
                "value": value.detach(),
                "grad": value.requires_grad,
            }
        if isinstance(value, nn.Module):
            return self.describe(value)
        if isinstance(value, tuple | list):
            items = [self.export(item, depth + 1) for item in value]
            return tuple(items) if isinstance(value, tuple) else items
        if isinstance(value, dict) and all(isinstance(key, str) for key in value):
            return {key: self.export(item, depth + 1) for key, item in value.items()}
        if value is None or isinstance(value, bool | int | str):
            return value if not isinstance(value, str) else value[: channel.MAX_STRING]
        if isinstance(value, float):
            return value if math.isfinite(value) else {"$float": repr(value)}
        return {
            "$object": self.keep(value),
            "type": type_name(value)[:MAX_TEXT],
            "callable": callable(value),
        }

    def describe(self, root: nn.Module) -> dict:
        """A module tree as data: per submodule its class, plain attributes, parameters,
        buffers and children, each submodule with a handle of its own."""
        described: dict[int, dict] = {}
        order: list[int] = []

        def visit(module: nn.Module) -> str:
            key = id(module)
            if key in described:
                return str(key)
            if len(described) >= MAX_MODULES:
                raise Mismatch(f"The module has more than {MAX_MODULES} submodules.")
            described[key] = {}
            order.append(key)
            described[key] = {
                "handle": self.keep(module),
                "type": type(module).__name__[:MAX_TEXT],
                "base": _torch_base(type(module)),
                "attrs": _plain_attributes(module),
                "training": bool(module.training),
                "params": {
                    name: [param.detach(), bool(param.requires_grad)]
                    for name, param in module._parameters.items()
                    if param is not None
                },
                "buffers": {
                    name: buffer.detach()
                    for name, buffer in module._buffers.items()
                    if buffer is not None
                },
                "children": [
                    [name, visit(child)]
                    for name, child in module._modules.items()
                    if child is not None
                ],
            }
            return str(key)

        root_key = visit(root)
        return {"$module": root_key, "modules": {str(key): described[key] for key in order}}


# --- helpers ---------------------------------------------------------------------------------


def _rng() -> dict:
    """torch's global generator states (the CPU's, and CUDA's once CUDA is in use)."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _leaf(tensor: torch.Tensor, grad: bool) -> torch.Tensor:
    if grad and tensor.is_floating_point():
        return tensor.requires_grad_()
    return tensor


def _meta_aware(args: Any, kwargs: Any):
    """torch.distributions' argument validation off when inputs live on the meta device."""
    meta = any(tensor.device.type == "meta" for tensor in tensors_in((args, kwargs)))
    return meta_device() if meta else contextlib.nullcontext()


def _torch_base(kind: type) -> str | None:
    """The nearest torch.nn class ``kind`` derives from, as ``torch.nn.Linear``."""
    for base in kind.__mro__:
        if base.__module__.startswith("torch.nn.modules") and base is not nn.Module:
            return f"torch.nn.{base.__name__}"
    return None


def _plain_attributes(module: nn.Module, private: bool = False) -> dict:
    attributes = {}
    for name, value in vars(module).items():
        if (name.startswith("_") and not private) or name == "training":
            continue
        if _is_plain(value):
            attributes[name] = value
    return attributes


def _is_plain(value: Any, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if value is None or isinstance(value, bool | int | str):
        return not isinstance(value, str) or len(value) <= MAX_TEXT
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, tuple | list):
        return len(value) <= 64 and all(_is_plain(item, depth + 1) for item in value)
    return False


def _plain(value: Any) -> Any:
    """A piece's result for the grader (in the reference's child): tensors and modules."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, nn.Module):
        return {"$module_state": _module_state(value)}
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _module_state(module: nn.Module) -> dict:
    """A module made only of torch.nn layers, as data the grader can rebuild."""
    base = _torch_base(type(module))
    if base is None or type(module).__module__.split(".")[0] != "torch":
        raise TypeError(
            f"a reference piece returned a {type(module).__name__}, not a torch.nn layer"
        )
    return {
        "type": type(module).__name__,
        "attrs": _plain_attributes(module, private=True),
        "params": {name: p.detach() for name, p in module._parameters.items() if p is not None},
        "buffers": {name: b.detach() for name, b in module._buffers.items() if b is not None},
        "children": [[name, _module_state(child)] for name, child in module._modules.items()],
    }


def _refusal(error: Exception) -> dict:
    kind = "missing" if isinstance(error, Missing) else "mismatch"
    kind_type = "NameError" if kind == "missing" else "Mismatch"
    return {"kind": kind, "type": kind_type, "message": str(error)[:MAX_TEXT]}


def _clip(details: dict) -> dict:
    return {key: str(value)[:MAX_TEXT] for key, value in details.items()}


def _piece(worker: Worker, name: str):
    """A stand-in for the piece ``name``: the reference's answer, gradients included."""

    def call(*args, **kwargs):
        tensors = list(tensors_in((args, kwargs)))
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return _PieceCall.apply(worker, name, args, kwargs, *tensors)
        return _ask(worker, "piece", name, args, kwargs, _rng(), update=True)

    call.__name__ = call.__qualname__ = name
    return call


def _ask(worker: Worker, op: str, name: str, args, kwargs, rng, update: bool = False, grads=None):
    """Send a piece request to the grader and wait for its answer (the reference's)."""
    message = {
        "op": op,
        "name": name,
        "args": _outgoing(args),
        "kwargs": _outgoing(kwargs),
        "rng": rng,
    }
    if grads is not None:
        message["grads"] = grads
    worker.connection.send_bytes(channel.pack(message))
    answer = channel.loads(worker.connection.recv_bytes())
    if answer.get("op") == "raised":
        raise RuntimeError(answer.get("message", "the reference piece failed"))
    if update:
        _set_rng(answer["rng"])
    return _incoming(answer["value"], worker.device, args)


def _outgoing(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, tuple | list):
        items = [_outgoing(item) for item in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {str(key): _outgoing(item) for key, item in value.items()}
    return value


def _incoming(value: Any, device: torch.device, args) -> Any:
    """The reference's answer, on the device the student's tensors live on."""
    devices = [t.device for t in tensors_in(args)]
    target = devices[0] if devices else device
    if isinstance(value, torch.Tensor):
        return value if value.device.type == "meta" else value.to(target)
    if isinstance(value, nn.Module):
        return value
    if isinstance(value, tuple):
        return tuple(_incoming(item, device, args) for item in value)
    if isinstance(value, list):
        return [_incoming(item, device, args) for item in value]
    return value


class _PieceCall(torch.autograd.Function):
    """A reference piece in the student's autograd graph: forward and backward by request."""

    @staticmethod
    def forward(ctx, worker, name, args, kwargs, *tensors):
        ctx.worker, ctx.name, ctx.args, ctx.kwargs = worker, name, args, kwargs
        ctx.rng = _rng()
        ctx.floating = [t.is_floating_point() for t in tensors]
        result = _ask(worker, "piece", name, args, kwargs, ctx.rng, update=True)
        outputs = list(tensors_in(result))
        if not (len(outputs) == 1 and isinstance(result, torch.Tensor)):
            raise TypeError(f"the stand-in for {name} supports one tensor result")
        return outputs[0]

    @staticmethod
    def backward(ctx, grad):
        grads = _ask(
            ctx.worker, "piece_vjp", ctx.name, ctx.args, ctx.kwargs, ctx.rng, grads=[grad.detach()]
        )
        floating = iter(grads)
        per_tensor = [next(floating, None) if is_float else None for is_float in ctx.floating]
        return (None, None, None, None, *per_tensor)
