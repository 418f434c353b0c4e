"""Run every benchmark (``make bench``) and print one table. ``--quick`` runs tiny sizes once."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from harness import print_table  # noqa: E402


def modules() -> list[str]:
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("only", nargs="*", help="benchmark modules to run (default: all)")
    args = parser.parse_args()
    rows = []
    for name in args.only or modules():
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += importlib.import_module(name).run(quick=args.quick)
    print_table(rows)


if __name__ == "__main__":
    main()
