"""The trusted side of a probe: the student's objects as local stand-ins for remote ones.

A check's probe runs here, in the grader, with a :class:`RemoteBench`. The bench's inputs are
drawn here and kept here; ``bench.get("kl_divergence")`` gives a :class:`RemoteObject` whose
calls send those inputs to the sandboxed child and bring back raw results: tensors by value, a
module as a local *shadow* (the same torch.nn classes, attributes and parameter values, every
``forward`` sent back to the child). Gradients work across the boundary: a call on inputs that
require gradients becomes one node of the local autograd graph whose backward asks the child
for the vector-Jacobian product. So the probes and judges of :mod:`aekit.checks` run unchanged,
and every judgment, every expected value and every input the judge reads lives in this process.
"""

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from aekit.checks.core import Bench, Check, Mismatch, Missing, Outcome, Raised, probe_outcome
from autograder.sandbox.channel import Ref, modules_in, tensors_in
from autograder.sandbox.parent import ChildLost, Sandbox

_ERROR_KINDS = {"missing", "mismatch", "raised"}
TORCH_NN = {name: getattr(nn, name) for name in dir(nn) if isinstance(getattr(nn, name), type)}


def observe(sandbox: Sandbox, check: Check) -> Outcome:
    """Run ``check``'s probe here against the student's code in ``sandbox``."""
    why = sandbox.begin()
    if why is not None:
        return "error", {"kind": "skipped", "message": why}
    try:
        return probe_outcome(check, RemoteBench(sandbox, check))
    except ChildLost as lost:
        return "error", {"kind": lost.kind, "message": str(lost)}


class RemoteBench(Bench):
    """A :class:`~aekit.checks.core.Bench` whose namespace lives in a sandboxed child.

    Inputs are drawn on the CPU, here; the child moves them to the grading device.
    """

    def __init__(self, sandbox, check: Check):
        super().__init__({}, check, "cpu")
        self.sandbox = sandbox
        self.handles: dict[int, tuple[torch.Tensor, int]] = {}  # id(local tensor) -> handle
        self.shadows: list[nn.Module] = []
        self.synced: dict[int, int] = {}  # id(shadow parameter) -> its _version when sent
        self.fresh = True  # the first request also tells the child to forget the last check
        self.seed: int | None = None  # a reseed not yet sent: it travels with the next request

    # --- the Bench interface ----------------------------------------------------------------

    def get(self, name: str | None = None) -> Any:
        name = name or self.check.exercise
        reply = self.ask({"op": "get", "name": name})
        value = self.adopt(reply.get("value"))
        if value is None:
            raise Missing(name)
        return value

    def reseed(self, offset: int = 0) -> None:
        # Nothing runs in the child until the next request, so the seed can wait for it: a
        # round trip less per reseed (a fifth of all requests).
        self.seed = self.check.seed + offset

    # --- requests ---------------------------------------------------------------------------

    def ask(self, message: dict) -> dict:
        """Send ``message``; the child's answer, or :class:`Raised` for the student's error."""
        if self.fresh:
            message, self.fresh = {**message, "reset": True}, False
        if self.seed is not None:
            message, self.seed = {**message, "seed": self.seed}, None
        reply = self.sandbox.request(message)
        if not isinstance(reply, dict):
            raise Mismatch("The sandbox answered something unreadable.")
        if reply.get("op") == "raised":
            raise Raised(_details(reply.get("details")))
        if reply.get("op") == "failed":
            raise Mismatch(f"Your result could not be sent back: {_text(reply.get('message'))}")
        return reply

    def call(self, target: "RemoteObject | nn.Module", args: tuple, kwargs: dict) -> Any:
        """``target(*args, **kwargs)`` in the child, as a node of the local autograd graph."""
        message = {
            "op": "call",
            "sets": self.changed_parameters(),
            "target": Ref(target._aekit_handle),
            "args": self.outgoing(args),
            "kwargs": self.outgoing(kwargs),
            "grad": torch.is_grad_enabled(),
        }
        leaves = _unique(t for t in tensors_in((target, args, kwargs)) if t.requires_grad)
        if torch.is_grad_enabled() and leaves:
            box: dict = {}
            flat = _RemoteCall.apply(self, message, box, *leaves)
            reply = box["reply"]
            if reply.get("leaves") != len(leaves):
                raise Mismatch("The gradients of your code could not be followed back.")
            result = _refill(box["structure"], iter(flat[:-1]))
        else:
            reply = self.ask(message)
            result = self.adopt(reply.get("value"))
        self.record(args, kwargs, reply.get("records"))
        return result

    def vjp(self, call: int, grads: tuple, leaves: int) -> list:
        reply = self.ask({"op": "vjp", "call": call, "grads": list(grads)})
        found = reply.get("value")
        if not isinstance(found, list) or len(found) != leaves:
            raise Mismatch("The gradients of your code came back malformed.")
        return [_tensor_or_none(grad) for grad in found]

    def changed_parameters(self) -> list:
        """[handle, {name: value}] of the shadow parameters changed here (seeded weights),
        which the child copies into the student's modules before the call they travel with."""
        changes = []
        for shadow in self.shadows:
            changed = {
                name: param
                for name, param in shadow._parameters.items()
                if param is not None and self.synced.get(id(param)) != param._version
            }
            if changed:
                changes.append([shadow._aekit_handle, {n: p.detach() for n, p in changed.items()}])
                self.mark_synced(changed.values())
        return changes

    def mark_synced(self, parameters) -> None:
        """The child holds these parameters' values as they are now."""
        self.synced.update({id(param): param._version for param in parameters})

    def method(self, shadow: nn.Module, name: str, **options) -> None:
        self.ask({"op": "method", "handle": shadow._aekit_handle, "name": name, **options})

    # --- values in and out ------------------------------------------------------------------

    def outgoing(self, value: Any) -> Any:
        """Local values for the child: remote objects by reference, the rest by value."""
        if isinstance(value, torch.Tensor):
            known = self.handles.get(id(value))
            if known is not None and known[0] is value:
                return Ref(known[1], value.requires_grad)
            return value.detach().clone().requires_grad_(value.requires_grad)
        if isinstance(value, RemoteObject) or hasattr(value, "_aekit_handle"):
            return Ref(value._aekit_handle)
        if isinstance(value, nn.Module):
            return value  # a seeded fixture of aekit.checks, sent by value
        if isinstance(value, tuple):
            return tuple(self.outgoing(item) for item in value)
        if isinstance(value, list):
            return [self.outgoing(item) for item in value]
        if isinstance(value, dict):
            return {key: self.outgoing(item) for key, item in value.items()}
        return value

    def adopt(self, value: Any, depth: int = 0) -> Any:
        """The child's raw answer as local values, every field checked."""
        if depth > 20:
            raise Mismatch("The result is nested too deeply.")
        if isinstance(value, dict):
            if "$tensor" in value:
                tensor = _tensor(value.get("value"))
                self.handles[id(tensor)] = (tensor, _int(value["$tensor"]))
                return tensor
            if "$module" in value:
                return self.shadow(value)
            if "$object" in value:
                return RemoteObject(self, _int(value["$object"]), _text(value.get("type")))
            if "$float" in value:
                return float(_text(value["$float"]) or "nan")
            return {str(key): self.adopt(item, depth + 1) for key, item in value.items()}
        if isinstance(value, tuple):
            return tuple(self.adopt(item, depth + 1) for item in value)
        if isinstance(value, list):
            return [self.adopt(item, depth + 1) for item in value]
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, torch.Tensor):  # meta tensors arrive as such
            return value
        raise Mismatch("The sandbox answered something unreadable.")

    def record(self, args: tuple, kwargs: dict, records: Any) -> None:
        """What seeded fixtures recorded in the child (the inputs an encoder received)."""
        modules = list(modules_in((args, kwargs)))
        if not isinstance(records, list) or len(records) != len(modules):
            return
        for module, found in zip(modules, records, strict=True):
            if hasattr(module, "received") and not hasattr(module, "_aekit_handle"):
                module.received = found if isinstance(found, list) else []

    def shadow(self, value: dict) -> nn.Module:
        """A local module tree mirroring the child's, every forward sent to the child."""
        described, built = value.get("modules"), {}
        if not isinstance(described, dict) or value.get("$module") not in described:
            raise Mismatch("The sandbox described a module unreadably.")

        def build(key: str, depth: int) -> nn.Module:
            if key in built:
                return built[key]
            if depth > 64 or key not in described:
                raise Mismatch("The sandbox described a module unreadably.")
            entry = described[key]
            module = _shadow_module(self, entry)
            built[key] = module
            for name, child in entry.get("children", []):
                module._modules[_text(name)] = build(_text(child), depth + 1)
            return module

        return build(value["$module"], 0)


class RemoteObject:
    """A function, class or other object that lives in the child; calling it calls it there."""

    def __init__(self, bench: RemoteBench, handle: int, kind: str):
        self._aekit_bench, self._aekit_handle = bench, handle
        self._aekit_type = kind or "object"  # its type in the child, for core.type_name

    def __call__(self, *args, **kwargs):
        return self._aekit_bench.call(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<remote {self._aekit_type}>"


class _RemoteCall(torch.autograd.Function):
    """One call in the child as one node of the local graph: backward asks the child."""

    @staticmethod
    def forward(ctx, bench: RemoteBench, message: dict, box: dict, *leaves):
        reply = bench.ask(message)
        result = bench.adopt(reply.get("value"))
        flat = list(tensors_in(result))
        box["reply"], box["structure"] = reply, result
        ctx.bench, ctx.call, ctx.leaves = bench, _int(reply.get("call")), len(leaves)
        flags = {id(t): flag for t, flag in _tensor_flags(reply.get("value"), result)}
        # Fresh outputs, which autograd owns; the handles follow them. The last one is a
        # placeholder, since a Function must return a tensor even when the code returned none.
        outputs = [t.clone() for t in flat] + [torch.zeros(())]
        for original, output in zip(flat + [outputs[-1]], outputs, strict=True):
            if not (flags.get(id(original)) and original.is_floating_point()):
                ctx.mark_non_differentiable(output)
            handle = bench.handles.pop(id(original), None)
            if handle is not None:
                bench.handles[id(output)] = (output, handle[1])
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        grads = tuple(None if grad is None else grad.detach() for grad in grads)
        return (None, None, None, *ctx.bench.vjp(ctx.call, grads[:-1], ctx.leaves))


# --- shadows -----------------------------------------------------------------------------------


def _shadow_module(bench: RemoteBench, entry: dict) -> nn.Module:
    """One submodule: an instance of the same torch.nn class (or a stand-in named like the
    student's class), with the child's attributes and parameter values."""
    if not isinstance(entry, dict):
        raise Mismatch("The sandbox described a module unreadably.")
    base = TORCH_NN.get(_text(entry.get("base")).removeprefix("torch.nn."))
    name = _text(entry.get("type")) or "Module"
    if base is None or not issubclass(base, nn.Module) or base.__name__ != name:
        kind = _student_class(name, base if base is not None else nn.Module)
    else:
        kind = base
    module = kind.__new__(kind)
    nn.Module.__init__(module)
    for key, item in (entry.get("attrs") or {}).items():
        if isinstance(key, str) and not key.startswith("_") and key not in vars(module):
            object.__setattr__(module, key, item)
    module.training = bool(entry.get("training", True))
    for key, pair in (entry.get("params") or {}).items():
        value, grad = pair if isinstance(pair, list | tuple) and len(pair) == 2 else (None, True)
        module._parameters[_text(key)] = nn.Parameter(_tensor(value), requires_grad=bool(grad))
    for key, value in (entry.get("buffers") or {}).items():
        module._buffers[_text(key)] = _tensor(value)
    handle = _int(entry.get("handle"))
    object.__setattr__(module, "_aekit_handle", handle)
    object.__setattr__(module, "_aekit_bench", bench)
    # Instance attributes win over the class's: the real torch.nn class, remote behaviour.
    object.__setattr__(module, "forward", lambda *a, **k: bench.call(module, a, k))
    object.__setattr__(module, "to", lambda *a, **k: _moved(module, *a, **k))
    object.__setattr__(module, "cuda", lambda *a, **k: _moved(module))
    object.__setattr__(module, "cpu", lambda *a, **k: _moved(module))
    object.__setattr__(module, "double", lambda: _moved(module, torch.float64))
    object.__setattr__(module, "float", lambda: _moved(module, torch.float32))
    object.__setattr__(module, "train", lambda mode=True: _trained(module, mode))
    object.__setattr__(module, "eval", lambda: _trained(module, False))
    bench.shadows.append(module)
    bench.mark_synced(module._parameters.values())
    return module


_STUDENT_CLASSES: dict[tuple[str, type], type] = {}


def _student_class(name: str, base: type) -> type:
    """A local class named like the student's, deriving from its nearest torch.nn class."""
    key = (name, base)
    if key not in _STUDENT_CLASSES:
        _STUDENT_CLASSES[key] = type(name, (base,), {"__module__": "__notebook__"})
    return _STUDENT_CLASSES[key]


def _moved(module: nn.Module, *args, **kwargs) -> nn.Module:
    """``module.to(...)``: the child moves its module to the grading device (or to the meta
    device, when asked) and converts its dtype; the shadow converts its own values alike."""
    device, dtype, *_ = torch._C._nn._parse_to(*args, **kwargs)
    meta = device is not None and torch.device(device).type == "meta"
    bench = module._aekit_bench
    bench.method(
        module, "to", meta=meta, dtype=str(dtype).removeprefix("torch.") if dtype else None
    )
    if dtype is not None:
        for part in module.modules():
            for param in part._parameters.values():
                if param is not None and param.is_floating_point():
                    param.data = param.data.to(dtype)
                    bench.mark_synced([param])
    return module


def _trained(module: nn.Module, mode: bool) -> nn.Module:
    module._aekit_bench.method(module, "train", mode=bool(mode))
    for part in module.modules():
        part.training = bool(mode)
    return module


# --- helpers -----------------------------------------------------------------------------------


def _tensor_flags(raw: Any, adopted: Any) -> Iterator[tuple[torch.Tensor, bool]]:
    """(local tensor, requires_grad in the child) for the tensors of an answer."""
    if isinstance(raw, dict) and "$tensor" in raw and isinstance(adopted, torch.Tensor):
        yield adopted, bool(raw.get("grad"))
    elif isinstance(raw, list | tuple) and isinstance(adopted, list | tuple):
        for inner_raw, inner in zip(raw, adopted, strict=False):
            yield from _tensor_flags(inner_raw, inner)
    elif isinstance(raw, dict) and isinstance(adopted, dict) and "$module" not in raw:
        for key in adopted:
            yield from _tensor_flags(raw.get(key), adopted[key])


def _refill(structure: Any, flat: Iterator[torch.Tensor]) -> Any:
    """``structure`` with its tensors replaced, in order, by those of ``flat``."""
    if isinstance(structure, torch.Tensor):
        return next(flat)
    if isinstance(structure, nn.Module):
        for _ in structure.parameters():
            next(flat)
        return structure
    if isinstance(structure, tuple):
        return tuple(_refill(item, flat) for item in structure)
    if isinstance(structure, list):
        return [_refill(item, flat) for item in structure]
    if isinstance(structure, dict):
        refilled = {}
        for key in sorted(structure, key=str):
            refilled[key] = _refill(structure[key], flat)
        return {key: refilled[key] for key in structure}
    return structure


def _unique(tensors) -> list[torch.Tensor]:
    return list({id(tensor): tensor for tensor in tensors}.values())


def _tensor(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Mismatch("The sandbox answered something unreadable.")
    return value


def _tensor_or_none(value: Any) -> torch.Tensor | None:
    return None if value is None else _tensor(value)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Mismatch("The sandbox answered something unreadable.")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _details(value: Any) -> dict[str, str]:
    """An error's details from the child, reduced to short strings of known keys."""
    if not isinstance(value, dict):
        return {"kind": "raised", "type": "Error", "message": "your code failed"}
    details = {
        key: _text(value.get(key))[:500]
        for key in ("kind", "type", "family", "message", "where", "function")
    }
    if details["kind"] not in _ERROR_KINDS:
        details["kind"] = "raised"
    return details
