"""SimKube's hash of a JSON value (sk-core `jsonutils::hash`), bit for bit.

SimKube keys pod lifecycles with it, so a trace skctl records is read by SimKube's driver
and a SimKube trace by skctl's, with the same keys:

- SipHash-1-3 with a zero key (Rust's `DefaultHasher::new()`), fed the way Rust's
  `Hash` feeds a `serde_json::Value`: strings as UTF-8 bytes plus 0xFF, numbers as 8
  little-endian bytes (u64, i64, or the f64 bits), booleans as one byte, null as the
  8-byte discriminant 0, arrays as their elements, objects as key, value pairs in
  sorted key order (serde_json's default BTreeMap).
"""

from __future__ import annotations

import struct
from typing import Any

_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_M = 0xFFFFFFFFFFFFFFFF


def json_hash(value: Any) -> int:
    """SimKube's `jsonutils::hash` of a JSON value (see the module doc)."""
    out = bytearray()
    _feed(value, out)
    return siphash13(bytes(out))


def _feed(value: Any, out: bytearray) -> None:
    if value is None:
        out += b"\0" * 8
    elif value is True or value is False:
        out.append(1 if value else 0)
    elif isinstance(value, int):
        out += _U64.pack(value) if value >= 0 else _I64.pack(value)
    elif isinstance(value, float):
        out += _F64.pack(0.0 if value == 0.0 else value)
    elif isinstance(value, str):
        out += value.encode("utf-8", "surrogatepass")
        out.append(0xFF)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _feed(item, out)
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            out += str(key).encode("utf-8", "surrogatepass")
            out.append(0xFF)
            _feed(value[key], out)
    else:
        raise TypeError(f"not JSON: {type(value).__name__}")


def siphash13(data: bytes, k0: int = 0, k1: int = 0, c_rounds: int = 1, d_rounds: int = 3) -> int:
    """SipHash-c-d (default 1-3, Rust's DefaultHasher) of `data`."""
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rounds(n: int) -> None:
        nonlocal v0, v1, v2, v3
        for _ in range(n):
            v0 = (v0 + v1) & _M
            v1 = ((v1 << 13) | (v1 >> 51)) & _M
            v1 ^= v0
            v0 = ((v0 << 32) | (v0 >> 32)) & _M
            v2 = (v2 + v3) & _M
            v3 = ((v3 << 16) | (v3 >> 48)) & _M
            v3 ^= v2
            v0 = (v0 + v3) & _M
            v3 = ((v3 << 21) | (v3 >> 43)) & _M
            v3 ^= v0
            v2 = (v2 + v1) & _M
            v1 = ((v1 << 17) | (v1 >> 47)) & _M
            v1 ^= v2
            v2 = ((v2 << 32) | (v2 >> 32)) & _M

    whole = len(data) - len(data) % 8
    for (m,) in _U64.iter_unpack(data[:whole]):
        v3 ^= m
        rounds(c_rounds)
        v0 ^= m
    last = int.from_bytes(data[whole:], "little") | ((len(data) & 0xFF) << 56)
    v3 ^= last
    rounds(c_rounds)
    v0 ^= last
    v2 ^= 0xFF
    rounds(d_rounds)
    return v0 ^ v1 ^ v2 ^ v3
