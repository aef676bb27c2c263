"""`python -m depot.bench NAME [ARGS...]`: run the benchmark module ``depot.bench.NAME``'s ``main(argv)``."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("planner", "ocpp", "control", "reports", "fuzz")

USAGE = f"usage: python -m depot.bench {{{','.join(BENCHMARKS)}}} [options]  (NAME --help for its options)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"depot.bench.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"depot.bench.{name}":
            raise
        print(f"benchmark {name!r} is not available in this build\n{USAGE}", file=sys.stderr)
        return 2
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
