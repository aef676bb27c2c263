"""Bay names of the floor plan, PURE: a bay is lane + position, and lanes sort naturally with Unplaced last.

Bays are named lane + position ("A01", "B12", "P2-07", "Bay 3"); the lane is everything before the
trailing number. Chargers without a bay (new chargers recorded in commissioning mode) go to the
"Unplaced" lane, drawn last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

UNPLACED = "Unplaced"


@dataclass(frozen=True)
class BayPos:
    lane: str  # "A"; "" for a bare number
    position: int | None  # None for a bay name without a trailing number
    digits: int = field(default=2, compare=False)  # how the number was written ("A01" -> 2)


_BAY = re.compile(r"^(?P<lane>.*?)[\s._/-]*(?P<pos>\d+)$")


def parse_bay(bay: str | None) -> BayPos | None:
    """ "A01" -> (A, 1); "p2-07" -> (P2, 7); "Wash" -> (WASH, None); None or blank -> None (unplaced)."""
    if bay is None:
        return None
    text = bay.strip().upper()
    if not text:
        return None
    m = _BAY.match(text)
    if m is None:
        return BayPos(text, None)
    return BayPos(m["lane"].strip(" ._/-"), int(m["pos"]), len(m["pos"]))


def bay_name(lane: str, position: int, digits: int = 2) -> str:
    return f"{lane}{position:0{digits}d}"


def natural_key(text: str) -> tuple:
    """Sort key: "A2" before "A10", and "Z" before "AA" (a shorter leading word first)."""
    parts = re.split(r"(\d+)", text)
    return (len(parts[0]), tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p))


def lane_key(lane: str) -> tuple:
    return (lane == UNPLACED, natural_key(lane))


def lane_title(name: str) -> str:
    if name == UNPLACED:
        return "Unplaced"
    return f"Lane {name}" if name else "Numbered bays"
