#!/usr/bin/env python3
"""Power cuts on a loop-mounted ext4, the long run: N cycles per appendfsync policy and N cuts
during SAVE/BGSAVE, with the checks of tests/test_power_cut.py (the machinery is
tests/power_cut.py), printed as the tables of bench/RESULTS.md. Needs root (loop device).

    sudo python3 bench/power_cut.py [--cycles 20] [--runs always,everysec,no,rdb]
                                    [--server amber|redis] [--seed 1] [--verbose]

--server redis runs Redis 7.0.15 through the same harness, for comparison (the file-system
behaviour the checks rest on is then shown not to be Amber's).
"""

import argparse
import pathlib
import shutil
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import power_cut as pc  # noqa: E402

RUNS = ("always", "everysec", "no", "rdb")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--runs", default=",".join(RUNS), help="comma-separated: " + ", ".join(RUNS))
    ap.add_argument("--server", choices=("amber", "redis"), default="amber")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true", help="one line per cycle")
    args = ap.parse_args()
    runs = [r for r in args.runs.split(",") if r]
    unknown = [r for r in runs if r not in RUNS]
    if unknown or args.cycles < 1:
        ap.error(f"unknown runs {unknown}" if unknown else "--cycles must be at least 1")
    aof_rows, rdb = [], None
    for name in runs:
        t0 = time.monotonic()
        d = tempfile.mkdtemp(prefix=f"amber-power-cut-{name}-", dir="/var/tmp")
        try:
            if name == "rdb":
                rdb = pc.run_rdb(args.cycles, d, seed=args.seed, kind=args.server)
                results = rdb
            else:
                results = pc.run_aof(name, args.cycles, d, seed=args.seed, kind=args.server)
                aof_rows.append(pc.aof_row(name, results))
        except BaseException:
            print(f"{name}: failed; logs kept in {d}", file=sys.stderr)
            raise
        shutil.rmtree(d)
        print(f"{name}: {args.cycles} cycles in {time.monotonic() - t0:.0f} s", file=sys.stderr)
        if args.verbose:
            for r in results:
                print(f"  {r}", file=sys.stderr)
    print(f"Power cuts, {args.server}, {args.cycles} cycles each (seed {args.seed})\n")
    if aof_rows:
        print(pc.AOF_HEADER + "\n" + "\n".join(aof_rows) + "\n")
    if rdb is not None:
        print(pc.rdb_table(rdb))


if __name__ == "__main__":
    main()
