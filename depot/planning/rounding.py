"""From the LP's continuous powers to allowed ones: whole amps, the 0-or-[min, max] rule, repair, smoothing.

PURE: functions of numpy arrays (``_Arrays``, ``_Weights``), no I/O, no clock.

The LP's solution (a vertex, or close to one) is rounded down to whole amps (0 below the minimum)
and repaired greedily: energy lost to rounding is put back into the cheapest slots that still have
site headroom, priority vehicles first (``_round_and_repair``). ``_smooth`` then re-lays equal-price runs so each vehicle
charges in few blocks, at exactly the same cost, load and energies.
"""

from __future__ import annotations

import math

import numpy as np

from depot.planning.arrays import _Arrays, _Weights
from depot.planning.problem import READY_TOLERANCE_KWH


def _round_down(a: _Arrays, power: np.ndarray) -> np.ndarray:
    """Whole amps, rounded down; 0 below the vehicle's minimum; never above its need."""
    step = a.step[:, None]
    p = np.where(step > 0, np.floor(power / np.where(step > 0, step, 1.0) + 1e-7) * step, power)
    p = np.where(p < a.lo[:, None] - 1e-9, 0.0, p)
    p = np.where(p < 1e-7, 0.0, p)
    over = p.sum(axis=1) * a.dt - a.need
    for v in np.flatnonzero(over > 1e-9):  # rare (solver tolerance): trim the last charging slot
        p[v] = _trim_to_need(a, v, p[v])
    return p


def _trim_to_need(a: _Arrays, v: int, row: np.ndarray) -> np.ndarray:
    row = row.copy()
    for k in np.flatnonzero(row)[::-1]:
        excess = row.sum() * a.dt - a.need[v]
        if excess <= 1e-9:
            break
        row[k] = _level_at_most(a, v, row[k] - excess / a.dt)
    return row


def _level_at_most(a: _Arrays, v: int, kw: float) -> float:
    """Largest allowed power level of vehicle v not above ``kw`` (0 when below the minimum)."""
    kw = min(kw, a.hi[v])
    if a.step[v] > 0:
        kw = math.floor(kw / a.step[v] + 1e-7) * a.step[v]
    return kw if kw >= a.lo[v] - 1e-9 and kw > 1e-7 else 0.0


def _levels_floor(a: _Arrays, rows: np.ndarray, kw: np.ndarray) -> np.ndarray:
    """Largest allowed power levels not above ``kw`` for vehicles ``rows`` (vectorised)."""
    step, lo = a.step[rows][:, None], a.lo[rows][:, None]
    kw = np.minimum(kw, a.hi[rows][:, None])
    kw = np.where(step > 0, np.floor(kw / np.where(step > 0, step, 1.0) + 1e-7) * step, kw)
    return np.where((kw < lo - 1e-9) | (kw <= 1e-7), 0.0, kw)


def _repair(
    a: _Arrays, p: np.ndarray, cap: np.ndarray, w: _Weights, *, min_short_kwh: float = 0.0, max_rounds: int = 500,
    only: np.ndarray | None = None,
) -> np.ndarray:
    """Give back energy lost to rounding, in the cheapest slots with headroom, priority first.

    Vectorised over vehicles: each round every vehicle still short proposes its best slot (cheapest,
    then one where it already charges, so periods stay few) with the largest allowed increase;
    proposals for the same slot are accepted in priority order while the slot's headroom under
    ``cap`` lasts. Stops when no vehicle can add a whole level anywhere. Only vehicles short by
    more than ``min_short_kwh`` (and in ``only``, when given) take part.
    """
    p = p.copy()
    mask = a.window_mask()
    eligible = (a.need - p.sum(axis=1) * a.dt) > min_short_kwh
    if only is not None:
        eligible &= only
    extend = 2.0 * w.span  # beats the tie-break, never a real price difference
    for _ in range(max_rounds):
        headroom = np.maximum(cap - p.sum(axis=0), 0.0)
        want_kw = (a.need - p.sum(axis=1) * a.dt) / a.dt
        rows = np.flatnonzero((want_kw > 1e-6) & eligible)
        if not rows.size:
            break
        cur = p[rows]
        room = np.minimum(headroom[None, :], want_kw[rows][:, None] + 1e-9)
        inc = _levels_floor(a, rows, cur + room) - cur
        inc = np.where(mask[rows] & (inc > 1e-7), inc, 0.0)
        score = np.where(inc > 0, w.cost_rows(rows) + extend * (cur <= 0), np.inf)
        best = np.argmin(score, axis=1)
        ok = np.isfinite(score[np.arange(len(rows)), best])
        if not ok.any():
            break
        v, k = rows[ok], best[ok]
        add = inc[np.flatnonzero(ok), k]
        order = np.lexsort((-add, -w.shortfall[v], k))  # the heaviest shortfall weight first (ready set, priority)
        v, k, add = v[order], k[order], add[order]
        starts = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
        group_start = np.repeat(starts, np.diff(np.r_[starts, len(k)]))
        cum = np.cumsum(add)
        within = cum - (cum[group_start] - add[group_start])
        accept = within <= headroom[k] + 1e-9
        p[v[accept], k[accept]] += add[accept]
    return p


def _reshape(a: _Arrays, p: np.ndarray, cap: np.ndarray, w: _Weights, only: np.ndarray | None = None) -> np.ndarray:
    """Deliver leftovers smaller than the minimum power: open one slot at the minimum and take the
    excess back from the dearest slot already charging (a vehicle 0.5 kWh short whose minimum is
    4.14 kW cannot otherwise get it without exceeding its need)."""
    p = p.copy()
    headroom = cap - p.sum(axis=0)
    short_kw = (a.need - p.sum(axis=1) * a.dt) / a.dt
    grain = np.maximum(a.step, 1e-6)
    short = (short_kw >= grain - 1e-9) & (short_kw < a.lo)
    candidates = np.flatnonzero(short if only is None else short & only)
    for v in candidates[np.argsort(-w.shortfall[candidates], kind="stable")]:
        ks = np.arange(a.first[v], a.end[v])
        opens = ks[(p[v, ks] <= 0) & (headroom[ks] >= a.lo[v] - 1e-9)]
        if not opens.size:
            continue
        cut = a.lo[v] - short_kw[v]
        if a.step[v] > 0:
            cut = math.ceil(cut / a.step[v] - 1e-7) * a.step[v]
        rest = p[v, ks] - cut
        donors = ks[(p[v, ks] > 0) & ((rest >= a.lo[v] - 1e-9) | (np.abs(rest) <= 1e-9))]
        if not donors.size:
            continue
        k0 = opens[np.argmin(w.energy_cost(v, opens))]
        k1 = donors[np.argmax(w.energy_cost(v, donors))]
        p[v, k0], p[v, k1] = a.lo[v], max(p[v, k1] - cut, 0.0)
        headroom[k0] -= a.lo[v]
        headroom[k1] += cut
    return p


def _protect(a: _Arrays, p: np.ndarray, cap: np.ndarray, w: _Weights, ready: np.ndarray) -> np.ndarray:
    """Refill the vehicles chosen to be ready first, tier by tier (their shortfall weights, highest first:
    priority order), each tier as if every lighter vehicle were not there; then make room: in each slot
    over ``cap``, lighter vehicles step down (lightest, then most power first) until the slot fits.
    Rounding down must not cost a vehicle its readiness while a lighter one holds the power."""
    for tier in np.unique(w.shortfall[ready])[::-1].tolist():
        mine = w.shortfall >= tier
        if not (mine & ((a.need - p.sum(axis=1) * a.dt) > 1e-6)).any():
            continue
        theirs = p * ~mine[:, None]
        out = _repair(a, p * mine[:, None], cap, w, only=mine)  # headroom counts this tier and heavier only
        out = _reshape(a, out, cap, w, only=mine)
        p = _make_room(a, out + theirs, cap, w, ~mine)
    return p


def _make_room(a: _Arrays, p: np.ndarray, cap: np.ndarray, w: _Weights, movable: np.ndarray) -> np.ndarray:
    """In every slot over ``cap``, ``movable`` vehicles step down (lightest weight, then most power first)."""
    over = p.sum(axis=0) - cap
    for k in np.flatnonzero(over > 1e-9):
        rows = np.flatnonzero(movable & (p[:, k] > 0))
        for v in rows[np.lexsort((-p[rows, k], w.shortfall[rows]))]:
            if over[k] <= 1e-9:
                break
            new = _level_at_most(a, v, p[v, k] - over[k] - 1e-9)
            over[k] -= p[v, k] - new
            p[v, k] = new
    return p


def _round_and_repair(a: _Arrays, lp_power: np.ndarray, w: _Weights, ready: np.ndarray | None = None) -> np.ndarray:
    """Round the LP's powers to allowed levels and put the energy lost back (see the module docstring);
    ``ready``: the vehicles chosen to be ready (``depot.planning.readiness``), refilled first."""
    p = _round_down(a, lp_power)
    if ready is not None and not ready.all():
        p = _protect(a, p, a.limit, w, ready)
    if a.demand <= 0:
        return _reshape(a, _repair(a, p, a.limit, w), a.limit, w)
    # Within the LP's peak first, so rounding does not raise the demand charge; above it only to make
    # a vehicle ready (crumbs are not worth a higher demand charge), raising the cap gradually.
    peak = float(lp_power.sum(axis=0).max(initial=0.0))
    cap = np.minimum(a.limit, peak + 1e-9)
    p = _reshape(a, _repair(a, p, cap, w), cap, w)
    raise_kw = max(float(a.lo.max(initial=0.0)), 1.0)
    while (a.need - p.sum(axis=1) * a.dt > READY_TOLERANCE_KWH).any() and (cap < a.limit).any():
        cap = np.minimum(a.limit, cap + raise_kw)
        p = _reshape(a, _repair(a, p, cap, w, min_short_kwh=READY_TOLERANCE_KWH), cap, w)
        raise_kw *= 2.0
    return p


def _relay(
    bits: np.ndarray, blocked: np.ndarray, before: np.ndarray, after: np.ndarray, continuity: float = 2.0
) -> np.ndarray | None:
    """Re-lay interchangeable on/off slots: same slots per vehicle (row sums) and vehicles per slot
    (column sums) as ``bits``, never in a ``blocked`` slot. Slot by slot it chooses first the
    vehicles that must charge in every slot they have left, then those already charging (so runs
    continue; weight ``continuity``), then those with the least slack; vehicles that charge right
    after the run start as late as they can. None if it gets stuck."""
    m, width = bits.shape
    need = bits.sum(axis=1).astype(np.int64)
    counts = bits.sum(axis=0)
    free = ~blocked
    free_left = np.cumsum(free[:, ::-1], axis=1)[:, ::-1]  # free slots from j to the end
    out = np.zeros_like(bits)
    prev = before.copy()
    for j in range(width):
        c = int(counts[j])
        live = (need > 0) & free[:, j]
        forced = live & (need >= free_left[:, j])
        if c > live.sum() or forced.sum() > c:
            return None
        slack = free_left[:, j] - need
        score = np.where(live, 8.0 * forced + continuity * (prev & live) + 1.0 * ~after - slack / (width + 1.0),
                         -1.0)
        if c:
            pick = np.argpartition(-score, c - 1)[:c]
            out[pick, j] = True
            need[pick] -= 1
        prev = out[:, j]
    return None if need.any() else out


def _smooth(a: _Arrays, p: np.ndarray) -> np.ndarray:
    """Fewer charging-profile periods at exactly the same cost, load and energies.

    Inside each run of equal prices, the slots in which vehicles charge at one power level L are
    interchangeable between them slot by slot (within their windows, around their other levels);
    the LP's vertex leaves them in an arbitrary checkerboard. Re-lay them per level (``_relay``:
    how many charge at L in each slot and how many slots each gets stay the same) and keep the
    result only where it has fewer power changes.
    """
    p = p.copy()
    edges = np.flatnonzero(np.diff(a.price) != 0) + 1
    bounds = np.r_[0, edges, a.n_slots]
    mask = a.window_mask()
    for k0, k1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if k1 - k0 < 3:
            continue
        for level in np.unique(np.round(p[:, k0:k1][p[:, k0:k1] > 1e-9], 6)):
            sub = p[:, k0:k1]
            on, eq = sub > 1e-9, np.abs(sub - level) < 1e-6
            rows = np.flatnonzero(eq.any(axis=1))
            bits = eq[rows]
            runs = (bits[:, 1:] & ~bits[:, :-1]).sum(axis=1) + bits[:, 0]
            if len(rows) < 2 or not (runs > 1).any():  # nobody at this level has more than one run
                continue
            before = p[rows, k0 - 1] if k0 > 0 else np.zeros(len(rows))
            after = p[rows, k1] if k1 < a.n_slots else np.zeros(len(rows))
            blocked = ~mask[rows, k0:k1] | (on[rows] & ~eq[rows])
            for continuity in (2.0, 0.5):  # the second, slack-first, gets stuck less often
                new_bits = _relay(bits, blocked, before > 0, after > 0, continuity)
                if new_bits is not None:
                    break
            else:
                continue
            old = sub[rows]
            new = np.where(new_bits, level, np.where(blocked, old, 0.0))
            if _changes(new, before, after) < _changes(old, before, after):
                p[rows, k0:k1] = new
    return p


def _changes(block: np.ndarray, before: np.ndarray, after: np.ndarray) -> int:
    """Power changes along each row, counting the neighbouring slots outside the block."""
    full = np.concatenate([before[:, None], block, after[:, None]], axis=1)
    return int((np.abs(np.diff(full, axis=1)) > 1e-6).sum())
