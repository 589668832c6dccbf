"""Our canonical JSON (orjson, sorted keys) is byte-identical to the canonicaljson library's."""

from __future__ import annotations

import random
from typing import Any

import pytest
from canonicaljson import encode_canonical_json

from qasid.core.pdu import canonical_json

# Every BMP character outside the surrogates, and a spread of astral ones.
CHARACTERS = [chr(c) for c in range(0xD800)] + [chr(c) for c in range(0xE000, 0x10000)] + [
    chr(c) for c in range(0x10000, 0x110000, 997)
]


def test_every_character_encodes_as_canonicaljson_does() -> None:
    for start in range(0, len(CHARACTERS), 512):
        chunk = CHARACTERS[start:start + 512]
        value = {ch: [ch, ch * 2] for ch in chunk}
        assert canonical_json(value) == encode_canonical_json(value)


@pytest.mark.parametrize("seed", range(5))
def test_nested_values_encode_as_canonicaljson_does(seed: int) -> None:
    rng = random.Random(seed)

    def value(depth: int) -> Any:
        kind = rng.randrange(7 if depth < 4 else 4)
        if kind == 0:
            return rng.randint(-(2**53) + 1, 2**53 - 1)
        if kind == 1:
            return "".join(rng.choice(CHARACTERS) for _ in range(rng.randrange(6)))
        if kind == 2:
            return rng.choice([True, False, None])
        if kind == 3:
            return rng.randrange(-5, 5)
        if kind == 4:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {"".join(rng.choice(CHARACTERS) for _ in range(rng.randrange(4))): value(depth + 1)
                for _ in range(rng.randrange(5))}

    for _ in range(300):
        sample = value(0)
        assert canonical_json(sample) == encode_canonical_json(sample)
