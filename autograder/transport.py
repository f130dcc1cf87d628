"""Messages between the trusted grader and the sandbox, in a format that cannot run code.

Observations travel as JSON plus raw array bytes. Unlike pickle, decoding never imports or
calls anything, so a hostile submission cannot make the judge execute code by returning a
crafted object. Only plain numeric dtypes are accepted.
"""

import json
import struct
from typing import Any

import numpy as np
import torch

DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"}
MAX_MESSAGE = 256 * 1024 * 1024  # bytes; larger observations are refused


class TransportError(ValueError):
    """A message that is malformed or too large."""


def pack(value: Any) -> bytes:
    """Encode ``value`` (dicts, lists, scalars, strings, tensors, arrays) into bytes."""
    buffers: list[bytes] = []

    def encode(item: Any) -> Any:
        if isinstance(item, torch.Tensor):
            item = item.detach().to("cpu").contiguous().numpy()
        if isinstance(item, np.ndarray):
            if str(item.dtype) not in DTYPES:
                raise TransportError(f"cannot send arrays of dtype {item.dtype}")
            buffers.append(np.ascontiguousarray(item).tobytes())
            return {"$array": [str(item.dtype), list(item.shape), len(buffers) - 1]}
        if isinstance(item, dict):
            return {str(key): encode(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return [encode(inner) for inner in item]
        if item is None or isinstance(item, bool | int | float | str):
            return item
        raise TransportError(f"cannot send a {type(item).__name__}")

    header = json.dumps(encode(value)).encode()
    parts = [struct.pack("<I", len(header)), header]
    for buffer in buffers:
        parts += [struct.pack("<Q", len(buffer)), buffer]
    return b"".join(parts)


def unpack(data: bytes) -> Any:
    """Decode bytes from :func:`pack`; arrays come back as CPU tensors."""
    if len(data) > MAX_MESSAGE:
        raise TransportError("message too large")
    try:
        (length,) = struct.unpack_from("<I", data, 0)
        header = json.loads(data[4 : 4 + length])
        offset, buffers = 4 + length, []
        while offset < len(data):
            (size,) = struct.unpack_from("<Q", data, offset)
            buffers.append(data[offset + 8 : offset + 8 + size])
            offset += 8 + size
    except (struct.error, ValueError, UnicodeDecodeError) as error:
        raise TransportError(f"malformed message: {error}") from None
    return _decode(header, buffers)


def _decode(item: Any, buffers: list[bytes]) -> Any:
    if isinstance(item, dict):
        if set(item) == {"$array"}:
            return _array(item["$array"], buffers)
        return {key: _decode(inner, buffers) for key, inner in item.items()}
    if isinstance(item, list):
        return [_decode(inner, buffers) for inner in item]
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
