"""The channel between the trusted grader and a sandboxed child.

The two directions are not alike. What the child sends is untrusted: it travels as a bounded
JSON header plus raw array bytes, and decoding it never imports or calls anything, so a hostile
submission cannot make the grader run code, exhaust its stack or its memory by returning a
crafted object. What the grader sends (inputs, seeded fixture modules) is trusted by the child
and travels as a pickle, which the child loads with an unpickler that only resolves torch,
numpy, builtins and the kit's public fixtures: a stray reference to the autograder's own code
fails loudly instead of importing it into the student's process.
"""

import io
import json
import pickle
import struct
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch

DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"}
MAX_MESSAGE = 64 * 1024 * 1024  # bytes in one message from the child; larger ones are refused
MAX_HEADER = 1024 * 1024  # bytes of JSON in one message
MAX_DEPTH = 32  # nesting of lists and mappings
MAX_ITEMS = 200_000  # values in one header, all levels together
MAX_STRING = 100_000  # characters of one string


class TransportError(ValueError):
    """A message that is malformed, too large or too deep."""


# --- child -> grader: bounded JSON and raw arrays ------------------------------------------------


def pack(value: Any) -> bytes:
    """Encode ``value``: mappings with string keys, lists, tuples, scalars, strings, tensors.

    Tuples keep their type ({"$tuple": [...]}); meta tensors travel as their shape and dtype.
    """
    buffers: list[bytes] = []

    def encode(item: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise TransportError("it is nested too deeply")
        if isinstance(item, torch.Tensor):
            if item.device.type == "meta":
                return {"$meta": [str(item.dtype).removeprefix("torch."), list(item.shape)]}
            item = _array_of(item)
        if isinstance(item, np.ndarray):
            if str(item.dtype) not in DTYPES:
                raise TransportError(f"it holds an array of {item.dtype}")
            buffers.append(np.ascontiguousarray(item).tobytes())
            return {"$array": [str(item.dtype), list(item.shape), len(buffers) - 1]}
        if isinstance(item, dict):
            return {str(key): encode(inner, depth + 1) for key, inner in item.items()}
        if isinstance(item, tuple):
            return {"$tuple": [encode(inner, depth + 1) for inner in item]}
        if isinstance(item, list):
            return [encode(inner, depth + 1) for inner in item]
        if item is None or isinstance(item, bool | int | float | str):
            return item
        raise TransportError(f"it holds a {type(item).__name__}")

    header = json.dumps(encode(value, 0)).encode()
    parts = [struct.pack("<I", len(header)), header]
    for buffer in buffers:
        parts += [struct.pack("<Q", len(buffer)), buffer]
    return b"".join(parts)


def _array_of(tensor: torch.Tensor) -> np.ndarray:
    """A dense tensor's values as an array, or a :class:`TransportError` that says what to
    return instead: checked before anything is copied (a view expanded to a billion values
    would take the child past its memory limit)."""
    dtype = str(tensor.dtype).removeprefix("torch.")
    if tensor.is_nested:
        raise TransportError("it is a nested tensor: return one tensor of the expected shape")
    if tensor.layout != torch.strided:
        raise TransportError(f"it is a {tensor.layout} tensor: return a dense one (.to_dense())")
    if dtype not in DTYPES:
        raise TransportError(
            f"it is a {dtype} tensor: return the dtype of the inputs (float32 or float64)"
        )
    if tensor.numel() * tensor.element_size() > MAX_MESSAGE:
        raise TransportError(
            f"it holds {tensor.numel():,} values, more than the {MAX_MESSAGE >> 20} MB the "
            "grader reads"
        )
    return tensor.detach().to("cpu").contiguous().numpy()


def unpack(data: bytes) -> Any:
    """Decode bytes from :func:`pack` within the bounds above; arrays become CPU tensors."""
    if len(data) > MAX_MESSAGE:
        raise TransportError(f"message of {len(data):,} bytes, over the {MAX_MESSAGE:,} allowed")
    try:
        (length,) = struct.unpack_from("<I", data, 0)
    except struct.error:
        raise TransportError("malformed message: no header") from None
    if length > MAX_HEADER:  # outside the try below, which would hide this reason
        raise TransportError(f"header of {length:,} bytes, over the {MAX_HEADER:,} allowed")
    try:
        header = json.loads(data[4 : 4 + length])
        offset, buffers = 4 + length, []
        while offset < len(data):
            (size,) = struct.unpack_from("<Q", data, offset)
            buffers.append(data[offset + 8 : offset + 8 + size])
            offset += 8 + size
    except (struct.error, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise TransportError(f"malformed message: {type(error).__name__}") from None
    return _decode(header, buffers, 0)


def _decode(item: Any, buffers: list[bytes], depth: int, budget: list[int] | None = None) -> Any:
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if depth > MAX_DEPTH + 2:  # $tuple and $array wrappers add a level each
        raise TransportError("value nested too deeply")
    if budget[0] < 0:
        raise TransportError("message holds too many values")
    if isinstance(item, dict):
        if set(item) == {"$array"}:
            return _array(item["$array"], buffers)
        if set(item) == {"$meta"}:
            return _meta(item["$meta"])
        if set(item) == {"$tuple"} and isinstance(item["$tuple"], list):
            return tuple(_decode(inner, buffers, depth + 1, budget) for inner in item["$tuple"])
        return {key: _decode(inner, buffers, depth + 1, budget) for key, inner in item.items()}
    if isinstance(item, list):
        return [_decode(inner, buffers, depth + 1, budget) for inner in item]
    if isinstance(item, str) and len(item) > MAX_STRING:
        raise TransportError("string too long")
    return item


def _array(spec: Any, buffers: list[bytes]) -> torch.Tensor:
    try:
        dtype, shape, index = spec
        if dtype not in DTYPES or not all(isinstance(size, int) and size >= 0 for size in shape):
            raise TransportError("bad array header")
        array = np.frombuffer(buffers[index], dtype=np.dtype(dtype)).reshape(shape)
    except (ValueError, TypeError, IndexError) as error:
        raise TransportError(f"malformed array: {error}") from None
    return torch.from_numpy(array.copy())


def _meta(spec: Any) -> torch.Tensor:
    try:
        dtype, shape = spec
        if dtype not in DTYPES or not all(isinstance(size, int) and size >= 0 for size in shape):
            raise TransportError("bad meta header")
        return torch.empty(shape, dtype=getattr(torch, dtype), device="meta")
    except (ValueError, TypeError) as error:
        raise TransportError(f"malformed meta tensor: {error}") from None


# --- grader -> child: pickles that resolve only allowed names ------------------------------------

_ALLOWED_MODULES = ("torch", "numpy", "builtins", "collections", "copyreg", "aekit.checks")
_ALLOWED_EXACT = {"_codecs", "autograder.sandbox.channel"}


class Ref(NamedTuple):
    """An object the child handed out earlier, by its handle; ``grad``: as a leaf that
    requires gradients (tensors only)."""

    handle: int
    grad: bool = False


def dumps(value: Any) -> bytes:
    """A trusted message for the child (inputs, fixture modules, answers to its piece calls)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


class _Pickler(pickle.Pickler):
    """Tensors as raw arrays: torch's own pickling goes through torch.save, ten times slower."""

    def reducer_override(self, item: Any) -> Any:
        if type(item) not in (torch.Tensor, torch.nn.Parameter):
            return NotImplemented
        dtype = str(item.dtype).removeprefix("torch.")
        if item.device.type == "meta":
            return _meta_tensor, (list(item.shape), dtype)
        if dtype not in DTYPES:
            return NotImplemented
        array = item.detach().to("cpu").contiguous().numpy()
        parameter = type(item) is torch.nn.Parameter
        return _tensor, (array, item.requires_grad, parameter)


def _tensor(array: np.ndarray, requires_grad: bool, parameter: bool) -> torch.Tensor:
    value = torch.from_numpy(np.array(array))
    if parameter:
        return torch.nn.Parameter(value, requires_grad=requires_grad)
    return value.requires_grad_(requires_grad and value.is_floating_point())


def _meta_tensor(shape: list[int], dtype: str) -> torch.Tensor:
    return torch.empty(shape, dtype=getattr(torch, dtype), device="meta")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        top_level = module in _ALLOWED_EXACT or any(
            module == allowed or module.startswith(allowed + ".") for allowed in _ALLOWED_MODULES
        )
        if not top_level:
            raise pickle.UnpicklingError(f"the sandbox does not load {module}.{name}")
        return super().find_class(module, name)


def loads(data: bytes) -> Any:
    """Load a message of :func:`dumps` (in the child)."""
    return _Unpickler(io.BytesIO(data)).load()


# --- the order both sides walk a call's values in -----------------------------------------------


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    """Tensors inside ``value``, depth first, mapping keys sorted, a module contributing its
    parameters: the grader and the child list a call's inputs and outputs in this order."""
    yield from _walk(value, torch.Tensor, lambda module: module.parameters())


def modules_in(value: Any) -> Iterator[torch.nn.Module]:
    """Modules inside ``value``, in the same order."""
    yield from _walk(value, torch.nn.Module, lambda module: [module])


def _walk(value: Any, kind: type, of_module) -> Iterator:
    if isinstance(value, torch.nn.Module):
        yield from of_module(value)
    elif isinstance(value, kind):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _walk(item, kind, of_module)
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _walk(value[key], kind, of_module)
