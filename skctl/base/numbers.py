"""Numbers typed by a user: ASCII digits only.

Python's int() and float() accept any Unicode decimal digits ("١٢٣" is 123, "１２" is 12) and
surrounding whitespace; a flag value in Arabic-Indic or full-width digits is almost always a
paste accident, and no other tool (kubectl, GNU date) reads them. Every flag and time parser
converts through here, so all refuse them alike (ValueError, as int() would).
"""

from __future__ import annotations


def parse_int(text: str) -> int:
    """int(text) for ASCII text only; ValueError otherwise (or beyond 4,300 digits, as int())."""
    if not text.isascii():
        raise ValueError(f"not an ASCII number: {text!r}")
    return int(text)


def parse_float(text: str) -> float:
    """float(text) for ASCII text only; ValueError otherwise."""
    if not text.isascii():
        raise ValueError(f"not an ASCII number: {text!r}")
    return float(text)
