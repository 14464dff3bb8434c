"""Every frame vector of protocols/vectors decodes as annotated, re-encodes to the same bytes, or fails with its
named error (wire-v1.md §9.1)."""

import pytest

from switchyard import wire
from vectors import exchanges, frame_vectors

VECTORS = frame_vectors()
ERROR_NAMES = {"badMagic", "badVersion", "reservedNotZero", "frameTooLarge", "unexpectedFrame", "unknownFrameType",
               "unknownFlags", "malformedPayload", "limitExceeded", "badTensor", "truncatedFrame", "unknownRequest"}


def test_every_error_name_has_a_vector():
    named = {v.expect for v in VECTORS if v.expect != "ok"} | {e.expect for e in exchanges() if e.expect != "ok"}
    assert named == ERROR_NAMES


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_vector(vector):
    if vector.expect == "ok":
        frame = wire.decode(vector.data)
        assert frame.text() == vector.text
        if isinstance(frame, wire.Skipped):
            return  # an unknown extension is skipped, never re-encoded
        assert wire.encode(frame) == (vector.reencoded if vector.reencoded is not None else vector.data)
    else:
        with pytest.raises(wire.FrameError) as caught:
            wire.decode(vector.data)
        assert caught.value.name == vector.expect
