"""Words for counts in user-facing text, PURE: "1 departure", "2 departures", "1,200 sessions".

Every message the product shows or prints counts with `count`, so no page says "1 departures".
"""

from __future__ import annotations

_IRREGULAR = {"entry": "entries", "battery": "batteries", "is": "are", "was": "were", "this": "these",
              "bus": "buses", "match": "matches"}


def plural(n: int | float, word: str, many: str | None = None) -> str:
    """`word` for one, its plural otherwise (given, a known irregular one, or word + "s")."""
    if n == 1:
        return word
    return many or _IRREGULAR.get(word) or word + "s"


def count(n: int | float, word: str, many: str | None = None) -> str:
    """ "1 departure", "0 departures", "1,200 sessions"; `many` for a plural that is not word + "s"."""
    number = f"{n:,}" if isinstance(n, int) else f"{n:,g}"
    return f"{number} {plural(n, word, many)}"
