"""Bech32 (BIP 173), as age uses it for ``age1...`` and ``AGE-SECRET-KEY-1...`` keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

_BECH32_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GEN: Final = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: Sequence[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ value
        for i, gen in enumerate(_BECH32_GEN):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _bech32_hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Sequence[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & mask)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & mask)
    elif bits >= from_bits or (acc << (to_bits - bits)) & mask:
        raise ValueError("invalid padding")
    return out


def _bech32_encode(hrp: str, data: bytes) -> str:
    """Lowercase Bech32 (not Bech32m); age lifts the 90-character limit, which we never reach."""
    values = _convert_bits(data, 8, 5, pad=True)
    poly = _bech32_polymod([*_bech32_hrp_expand(hrp), *values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(poly >> (5 * (5 - i))) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[v] for v in values + checksum)


def _bech32_decode(text: str) -> tuple[str, bytes]:
    """Return (lowercase hrp, data); raises ValueError on any defect."""
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise ValueError("invalid character")
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixed case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1 or sep + 7 > len(text):
        raise ValueError("separator misplaced")
    hrp, rest = text[:sep], text[sep + 1 :]
    try:
        values = [_BECH32_CHARSET.index(c) for c in rest]
    except ValueError:
        raise ValueError("invalid data character") from None
    if _bech32_polymod([*_bech32_hrp_expand(hrp), *values]) != 1:
        raise ValueError("bad checksum")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, pad=False))
