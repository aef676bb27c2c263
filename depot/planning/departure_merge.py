"""PURE: what an uploaded file of departures would do to the saved ones: add, change, keep or remove.

No I/O, no clock. The planner page shows the `UploadDiff` before anything is saved; the dispatcher then
merges (the saved rows the file does not mention stay) or replaces (only the file's rows remain).

A row of the file *changes* a saved one when it is for the same vehicle and departs within `MATCH_WINDOW`
of it (the nearest one: the same shift); an identical row is unchanged; every other row is added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from depot.planning.departures import Departure

MATCH_WINDOW = timedelta(hours=12)


@dataclass(frozen=True)
class UploadDiff:
    added: tuple[Departure, ...]
    changed: tuple[tuple[Departure, Departure], ...]  # (saved, from the file)
    unchanged: tuple[Departure, ...]  # saved rows the file repeats as they are
    untouched: tuple[Departure, ...]  # saved rows the file does not mention: merge keeps, replace removes
    uploaded: tuple[Departure, ...]  # every row of the file, in its order

    def merged(self) -> list[Departure]:
        """The saved rows with the file's changes and additions."""
        rows = [*self.untouched, *self.unchanged, *(new for _, new in self.changed), *self.added]
        return sorted((replace(d, id=None) for d in rows), key=lambda d: (d.departure, d.vehicle_id))

    def replaced(self) -> list[Departure]:
        """Only the file's rows."""
        return [replace(d, id=None) for d in self.uploaded]

    def result(self, mode: str) -> list[Departure]:
        if mode not in ("merge", "replace"):
            raise ValueError(f"mode must be merge or replace, not {mode!r}")
        return self.merged() if mode == "merge" else self.replaced()

    def summary(self) -> str:
        """"3 to add, 1 to change, 2 to remove if you replace"."""
        parts = [f"{len(self.added)} to add", f"{len(self.changed)} to change"]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} unchanged")
        removed = len(self.untouched)
        parts.append(f"{removed} to remove if you replace" if removed else "nothing to remove")
        return ", ".join(parts)


def _same(a: Departure, b: Departure) -> bool:
    return replace(a, id=None, roster=False) == replace(b, id=None, roster=False)


def diff_upload(saved: Sequence[Departure], uploaded: Sequence[Departure]) -> UploadDiff:
    """Match each row of the file to the nearest unmatched saved row of its vehicle within MATCH_WINDOW."""
    free = list(saved)
    added: list[Departure] = []
    changed: list[tuple[Departure, Departure]] = []
    unchanged: list[Departure] = []
    for new in uploaded:
        candidates = [d for d in free if d.vehicle_id == new.vehicle_id
                      and abs(d.departure - new.departure) <= MATCH_WINDOW]
        if not candidates:
            added.append(new)
            continue
        old = min(candidates, key=lambda d: (abs(d.departure - new.departure), d.departure))
        free.remove(old)
        if _same(old, new):
            unchanged.append(old)
        else:
            changed.append((old, new))
    return UploadDiff(tuple(added), tuple(changed), tuple(unchanged), tuple(free), tuple(uploaded))
