"""Messages from the sandbox decode without running code."""

import pytest
import torch

from autograder.sandbox.channel import TransportError, pack, unpack


def test_round_trip_keeps_values_dtypes_and_structure():
    message = {
        "loss": torch.tensor(1.5, dtype=torch.float64),
        "maps": torch.arange(6).reshape(2, 3),
        "flags": torch.tensor([True, False]),
        "nested": [{"shape": [2, 3], "name": "x", "none": None}],
    }
    decoded = unpack(pack(message))
    assert torch.equal(decoded["maps"], message["maps"]) and decoded["maps"].dtype == torch.int64
    assert decoded["loss"].dtype == torch.float64 and decoded["loss"].item() == 1.5
    assert decoded["nested"] == [{"shape": [2, 3], "name": "x", "none": None}]
    assert decoded["flags"].tolist() == [True, False]


def test_objects_that_are_not_data_are_refused():
    class Sneaky:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(TransportError):
        pack({"x": Sneaky()})


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x00", b"\x05\x00\x00\x00{bad}", b'\x1a\x00\x00\x00{"$array": ["object", [1], 0]}'],
)
def test_malformed_messages_raise_transport_error(data):
    with pytest.raises(TransportError):
        unpack(data)
