"""A seeded fuzz of the OCPP central system over loopback (both protocols, real websockets): every hostile
frame gets the answer its category prescribes, the server logs no error, a second charger's heartbeats all
succeed meanwhile, and no impossible value reaches the ledger (`depot.bench.fuzz`, which the
`python -m depot.bench fuzz` benchmark runs with 10,000 frames)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from depot.bench.fuzz import fuzz
from depot.bench.fuzz_frames import CATEGORIES, RESULT, SILENT, V16, V201, frames

pytestmark = pytest.mark.databases

FRAMES = 3000


def test_generator_is_seeded_and_covers_every_category():
    now = datetime(2026, 12, 7, tzinfo=UTC)
    a, b = frames(V16, 450, 7, now), frames(V16, 450, 7, now)
    assert a == b and frames(V16, 450, 8, now) != a
    assert {f.category for f in a} == set(CATEGORIES)
    assert {f.expect for f in frames(V201, 450, 7, now)} >= {RESULT, SILENT, "FormatViolation", "RpcFrameworkError"}


def test_fuzz_every_frame_answered_as_the_spec_says(store, settings):
    result = asyncio.run(fuzz(store, settings, FRAMES, seed_=11))
    assert sum(result.sent.values()) == FRAMES
    assert set(result.sent) == set(CATEGORIES)
    assert result.mismatches == []
    assert result.crashes == 0, result.logged_errors[:5]
    codes = {code for (_, code) in result.answers}
    assert {"FormationViolation", "FormatViolation", "TypeConstraintViolation", "PropertyConstraintViolation",
            "NotImplemented", "NotSupported", RESULT, "silent"} <= codes
    assert result.heartbeat_failures == 0 and len(result.heartbeat_ms) > 20
    assert result.stored_impossible == {"meter samples": 0, "sessions": 0, "connectors": 0}
    # kept apart instead: every impossible value and replaced timestamp (a message may carry several)
    assert result.quarantined >= result.sent["impossible value"] + result.sent["bad timestamp"]
