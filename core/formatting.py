"""How figures read on every page: one function per kind of figure, shared by templates
(``core/templatetags/values.py``) and by Python code that prepares text."""

from __future__ import annotations

import math

MINUS = "\u2212"  # a true minus sign, as wide as the plus sign in tabular figures


def value_text(value: float | int | str | None, *, signed: bool = False) -> str:
    """A LinFiK value with three significant digits, whole numbers from 1,000 on:
    0.0134, −0.00021, 5, 122, 1,234, −98,765; ``signed`` adds "+" to positive values.
    None, "" and non-finite values read "—"."""
    if value is None or value == "":
        return "—"
    number = float(value)
    if not math.isfinite(number):
        return "—"
    sign = "+" if signed else ""
    text = f"{number:{sign},.0f}" if abs(number) >= 1000 else f"{number:{sign}.3g}"
    return text.replace("-", MINUS, 1) if text.startswith("-") else text
