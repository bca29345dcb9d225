"""Numbers in the article text: the Jinja filters that print them as the figures do.

`{{ "%.2f"|format(x) }}` in the article goes through `format_number`: a minus is the true minus sign
(U+2212, as the figures' views write it), a value that rounds to zero reads "0.00", never "−0.00", and
e-notation reads as a power of ten ("4.0 × 10<sup>−8</sup>"). `{{ n|of(total, "photos") }}` says
"all 3 photos", "2 of the 3 photos" or "none of the 3 photos"; `{{ names|and_list }}` says "a, b and c".
"""
from __future__ import annotations

import math
import re

MINUS = "\u2212"
NUMBER_RE = re.compile(r"(?<![\w.])-(?=\.?\d)([\d.,]*\d)")
EXP_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?)(\d+)\b")


def typographic(text: str) -> str:
    """Return printed numbers with true minus signs, no negative zero and e-notation as a power of ten."""
    def exp(m: re.Match) -> str:
        power = int(m.group(3))
        if power == 0:
            return m.group(1)
        return f"{m.group(1)} × 10<sup>{MINUS if m.group(2) == '-' and power else ''}{power}</sup>"

    def sign(m: re.Match) -> str:
        digits = m.group(1)
        return digits if not re.search(r"[1-9]", digits) else MINUS + digits

    return NUMBER_RE.sub(sign, EXP_RE.sub(exp, text))


def format_number(fmt: str, *args, **kwargs) -> str:
    """Jinja's `format` filter (`fmt % args`) with the result made typographic (see `typographic`)."""
    if args and kwargs:
        raise TypeError("format: give positional or keyword arguments, not both")
    return typographic(fmt % (kwargs or args))


def count_of(n, total, noun: str = "photos", one: str | None = None) -> str:
    """Return how many of `total` things: "all 3 photos", "both photos", "2 of the 3 photos", "none of the
    3 photos"; for a single thing, "the photo" or "not the photo" (`one` is its singular, default `noun`
    without a final s)."""
    if math.isnan(float(n)) or math.isnan(float(total)):   # a figure not built yet: say so, as its numbers do
        return f"nan {noun}"
    n, total = int(n), int(total)
    if not 0 <= n <= total:
        raise ValueError(f"count_of: {n} of {total}")
    if total == 1:
        single = one or noun.removesuffix("s")
        return f"the {single}" if n else f"not the {single}"
    if n == total:
        return f"both {noun}" if total == 2 else f"all {total} {noun}"
    return f"none of the {total} {noun}" if n == 0 else f"{n} of the {total} {noun}"


def and_list(items) -> str:
    """Return items as prose: "a", "a and b", "a, b and c"."""
    items = [str(i) for i in items]
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


FILTERS = {"format": format_number, "of": count_of, "and_list": and_list}
