"""OCPP load benchmark: `python -m depot.bench ocpp --chargers 500 [--seconds 60] [--interval 10]`.

One real `CentralSystem` runs in its own process, like production (`python -m depot.bench.ocpp _serve`), on
127.0.0.1 and a free port, persisting to a temporary SQLite file seeded with the charger ids. N lightweight
chargers (real OCPP-J clients over websockets, half 1.6 and half 2.0.1, hand-built frames so the clients
cost little CPU) run in `--procs` client processes. Each sends BootNotification, answers the server's
capability request, then every `--interval` s (staggered) a Heartbeat and a MeterValues, one CALL at a time
as a charger does, for `--seconds`. Then it waits up to `--grace` s for answers still due.

Printed: connect time (until every BootNotification was answered), messages sent and answered, messages/s,
round-trip p50/p99/max, lost messages (sent, never answered), errors (CALLERRORs, refused or dropped
connections), the clients' worst event-loop lag (so a slow round trip can be told from a busy client), the
server's CPU time, and the store's rows afterwards: the meter_samples count must equal the MeterValues
answered (each carries one meterValue), which shows that nothing acknowledged was lost.
Exit status 0 when nothing was lost, no error occurred and the counts match.

This module is the command and its table; the server side is `depot.bench.ocpp_serve`, the clients
`depot.bench.ocpp_load`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from depot.bench.ocpp_load import (
    ClientStats,
    collect_stats,
    kill_clients,
    start_clients,
    start_run,
    wait_ready,
)
from depot.bench.ocpp_serve import (
    HOST,
    count_rows,
    cpu_seconds,
    launch_server,
    seed_db,
    serve,
    server_port,
    stop_server,
)

P99_TARGET_MS = 250.0


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(q / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def run(n: int, seconds: float, interval: float, procs: int, grace: float, seed: int, out=sys.stdout) -> int:
    ids = [(f"BENCH-{i:04d}", "ocpp1.6" if i % 2 else "ocpp2.0.1") for i in range(1, n + 1)]
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="depot-bench-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        seed_db(db_url, ids)
        server = launch_server(db_url)
        server_cpu = None
        workers: list = []
        try:
            start_clients(workers, ids, procs, interval, grace, seed)  # they import while the server starts
            url = f"ws://{HOST}:{server_port(server)}/ocpp"
            wait_ready(workers)
            cpu_before = cpu_seconds(server.pid)  # its start-up (imports, migrations check) is not counted
            t_start = time.time() + 0.2
            start_run(workers, url, t_start, seconds)
            stats = collect_stats(workers, t_start + seconds + grace + interval + 90)
            cpu_after = cpu_seconds(server.pid)
            if cpu_before is not None and cpu_after is not None:
                server_cpu = cpu_after - cpu_before
        finally:
            kill_clients(workers)
            stop_server(server)
        rows = count_rows(db_url)
    return _report(n, seconds, interval, procs, stats, rows, server_cpu, load, out)


def _report(n, seconds, interval, procs, stats: list[ClientStats], rows, server_cpu, load, out) -> int:
    rtt = sorted(x for s in stats for x in s.rtt_ms)
    connect_all = max((x for s in stats for x in s.connect_s), default=math.nan)
    # the steady state: what is sent once every charger booted and went through its first round
    steady = sorted(x for s in stats for x, at in zip(s.rtt_ms, s.rtt_sent_at, strict=True)
                    if at >= connect_all + interval)
    boot_rtt = sorted(x for s in stats for x in s.boot_rtt_ms)
    sent = sum(s.sent for s in stats)
    answered = sum(s.answered for s in stats)
    lost = sum(s.lost for s in stats)
    errors = sum(s.errors for s in stats)
    connected = sum(s.connected for s in stats)
    meter_answered = sum(s.meter_answered for s in stats)
    first = min((s.first_send for s in stats), default=math.nan)
    last = max((s.last_answer for s in stats), default=math.nan)
    elapsed = last - first if last > first else math.nan
    lag = max((s.max_lag_ms for s in stats), default=0.0)
    lag_connect = max((s.max_lag_connect_ms for s in stats), default=0.0)
    p99 = _percentile(rtt, 99)
    samples_ok = rows["meter_samples"] == meter_answered
    table = [
        ("chargers", f"{n} ({(n + 1) // 2} × 1.6, {n // 2} × 2.0.1) in {procs} client process{'es' if procs > 1 else ''}"),
        ("run", f"{seconds:g} s, Heartbeat + MeterValues every {interval:g} s per charger"),
        ("connected", f"{connected}/{n}"),
        ("connect time (all booted)", f"{connect_all:.2f} s"),
        ("messages sent", f"{sent}"),
        ("messages answered", f"{answered}"),
        ("messages/s", f"{answered / elapsed:.1f}" if elapsed == elapsed else "n/a"),
        ("round trip p50", f"{_percentile(rtt, 50):.1f} ms (Heartbeat, MeterValues)"),
        ("round trip p99", f"{p99:.1f} ms (target ≤ {P99_TARGET_MS:g} ms)"),
        ("round trip max", f"{rtt[-1] if rtt else math.nan:.1f} ms"),
        ("steady p50 / p99 / max", f"{_percentile(steady, 50):.1f} / {_percentile(steady, 99):.1f} / "
                                   f"{steady[-1] if steady else math.nan:.1f} ms (sent after boot + one round)"),
        ("BootNotification p50 / max", f"{_percentile(boot_rtt, 50):.1f} / "
                                       f"{boot_rtt[-1] if boot_rtt else math.nan:.1f} ms (all at once)"),
        ("lost (sent, never answered)", f"{lost}"),
        ("errors", f"{errors}"),
        ("client loop lag max", f"{lag:.1f} ms (while connecting {lag_connect:.1f} ms)"),
        ("client CPU", f"{sum(s.cpu_s for s in stats):.1f} s"),
        ("server CPU (during the run)", f"{server_cpu:.1f} s, {1000 * server_cpu / max(1, answered):.1f} ms per message answered"
                       if server_cpu is not None else "n/a"),
        ("MeterValues answered", f"{meter_answered}"),
        ("store: meter_samples", f"{rows['meter_samples']} ({'=' if samples_ok else '≠'} MeterValues answered)"),
        ("store: chargers / connectors", f"{rows['chargers']} / {rows['connectors']}"),
        ("store: events (raw frames)", f"{rows['events']}"),
        ("load average before", " ".join(f"{x:.2f}" for x in load) + f" on {os.cpu_count()} cores"),
    ]
    _print_table(table, stats, out)
    ok = lost == 0 and errors == 0 and samples_ok and connected == n
    verdict = "OK" if ok and p99 <= P99_TARGET_MS else ("OK, but p99 above target" if ok else "FAILED")
    print(f"result: {verdict}", file=out)
    return 0 if ok else 1


def _print_table(table: list[tuple[str, str]], stats: list[ClientStats], out) -> None:
    width = max(len(k) for k, _ in table)
    print("OCPP central system benchmark (server in its own process, loopback)", file=out)
    print(f"| {'metric'.ljust(width)} | value", file=out)
    print(f"|{'-' * (width + 2)}|{'-' * 40}", file=out)
    for k, v in table:
        print(f"| {k.ljust(width)} | {v}", file=out)
    for s in stats:
        for e in s.error_samples:
            print(f"error: {e}", file=out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m depot.bench ocpp",
                                description="Load the OCPP central system (its own process) with N chargers over "
                                            "loopback and print round trips, losses and the store's rows.")
    p.add_argument("--chargers", type=int, default=500, help="simulated chargers (default 500)")
    p.add_argument("--seconds", type=float, default=60.0, help="how long the chargers send (default 60)")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between a charger's rounds (default 10)")
    p.add_argument("--procs", type=int, default=0, help="client processes (default: 1 per 500 chargers)")
    p.add_argument("--grace", type=float, default=15.0, help="seconds to wait for answers still due (default 15)")
    p.add_argument("--seed", type=int, default=7)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_serve"]:
        return serve(argv[1])
    args = build_parser().parse_args(argv)
    if args.chargers <= 0 or args.seconds <= 0 or args.interval <= 0:
        print("--chargers, --seconds and --interval must be > 0", file=sys.stderr)
        return 2
    procs = args.procs or max(1, math.ceil(args.chargers / 500))
    return run(args.chargers, args.seconds, args.interval, procs, args.grace, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
