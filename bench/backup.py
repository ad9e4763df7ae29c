#!/usr/bin/env python3
"""Backup benchmark: `amber backup create --from` against what it replaces, `redis-cli --rdb`
followed by `zstd -3`, from the same Redis 7.0.15 server holding N keys, alternating rounds,
medians. Writes the "Backup" section of bench/RESULTS.md.

    python3 bench/backup.py [--rounds 3] [--keys 5000000]
"""

import argparse
import datetime
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from conftest import ServerProc  # noqa: E402
from core import write_section  # noqa: E402


def amber_tool():
    t = os.environ.get("AMBER_TOOL") or str(ROOT / "target" / "release" / "amber")
    if not os.path.exists(t):
        raise RuntimeError(f"{t} is missing: cargo build --release")
    return t


def timed(argv):
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=5000000)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if not shutil.which("zstd"):
        raise RuntimeError("zstd is needed: apt-get install zstd")
    tmp = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"amber-backup-bench-{os.getpid()}"
    tmp.mkdir(parents=True)
    s = ServerProc("redis", tmp / "src", ["--save", "", "--repl-diskless-sync-delay", "0"]).start()
    try:
        c = s.client(socket_timeout=600)
        c.execute_command("DEBUG", "POPULATE", str(args.keys), "key", "100")
        cli, amber, size = [], [], 0
        for rnd in range(args.rounds):
            for kind in (["cli", "amber"] if rnd % 2 == 0 else ["amber", "cli"]):
                if kind == "cli":
                    out = tmp / "cli.rdb"
                    t = timed(["redis-cli", "-p", str(s.port), "--rdb", str(out)])
                    size = out.stat().st_size
                    t += timed(["zstd", "-3", "-q", "-f", str(out), "-o", str(tmp / "cli.rdb.zst")])
                    out.unlink()
                    (tmp / "cli.rdb.zst").unlink()
                    cli.append(t)
                else:
                    repo = tmp / "repo"
                    amber.append(timed([amber_tool(), "backup", "create", "--from", f"127.0.0.1:{s.port}",
                                        "--repo", str(repo)]))
                    shutil.rmtree(repo)
                print(f"round {rnd + 1} {kind}: {(cli if kind == 'cli' else amber)[-1]:.2f}s", flush=True)
    finally:
        s.stop(timeout=300)
        shutil.rmtree(tmp, ignore_errors=True)
    ct, at = statistics.median(cli), statistics.median(amber)
    lines = [f"Measured {datetime.date.today().isoformat()} on this machine ({os.cpu_count()} cores), "
             f"{args.rounds} alternating rounds, medians. Source: Redis 7.0.15 with DEBUG POPULATE "
             f"{args.keys:,} key 100 (RDB {size / 2**20:.0f} MiB), repl-diskless-sync-delay 0.", "",
             "| backup | time | throughput (RDB MiB/s) |", "|---|---|---|",
             f"| redis-cli --rdb + zstd -3 | {ct:.2f} s | {size / 2**20 / ct:.1f} |",
             f"| amber backup create --from (sha256, zstd, full decode and CRC check while streaming) | {at:.2f} s | {size / 2**20 / at:.1f} |",
             "", f"Throughput ratio amber / (redis-cli + zstd): {ct / at:.2f} (target ≥ 0.9)."]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("Backup", table)


if __name__ == "__main__":
    main()
