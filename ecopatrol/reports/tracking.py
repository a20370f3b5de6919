"""Tracking codes and their QR codes.

A code is 16 symbols of Crockford's base-32 alphabet (no I, L, O or U) drawn with ``secrets``:
80 random bits, shown as ``7KQ2-M9XD-4T1B-HC0R``. Reading one back forgives case, spaces, dashes
and the look-alikes O → 0, I/L → 1, so a code read aloud or typed from paper still works.
"""

from __future__ import annotations

import io
import re
import secrets

import segno

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
GROUP = 4
CODE_BITS = CODE_LENGTH * 5
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_.]+")
_VALID = re.compile(f"^[{ALPHABET}]{{{CODE_LENGTH}}}$")


def new_code() -> str:
    """A fresh random code in canonical form (16 symbols, no dashes)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def display_code(code: str) -> str:
    """``7KQ2M9XD4T1BHC0R`` → ``7KQ2-M9XD-4T1B-HC0R``."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalize_code(text: str) -> str | None:
    """The canonical code for what a person typed, or None when it cannot be a code."""
    if len(text) > 64:
        return None
    canonical = _SEPARATORS.sub("", text).upper().translate(_LOOKALIKES)
    return canonical if _VALID.match(canonical) else None


def qr_svg(url: str) -> bytes:
    """An SVG QR code (error correction M) of ``url``."""
    buffer = io.BytesIO()
    segno.make_qr(url, error="m").save(
        buffer, kind="svg", scale=6, border=2, xmldecl=False, title="report status", dark="#111", light="#fff"
    )
    return buffer.getvalue()
