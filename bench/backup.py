#!/usr/bin/env python3
"""Backup benchmark: `amber backup create --from` against what it replaces, `redis-cli --rdb`
followed by `zstd -3`, from the same Redis 7.0.15 server holding N keys, alternating rounds,
medians. Writes the "Backup" section of bench/RESULTS.md.

With --s3: `amber backup create` into a local-directory repository against the same into an
s3:// repository on moto's S3 server (`moto_server`, started here on a free port), alternating
rounds, medians, with the CPU seconds of the tool and of the S3 server during each S3 backup
(which side bounds the rate). Writes the "Backup to S3" section.

    python3 bench/backup.py [--rounds 3] [--keys 5000000] [--s3 [--random-values BYTES]] [--no-write]
"""

import argparse
import datetime
import os
import pathlib
import resource
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


def cpu_seconds(pid):
    """User + system CPU seconds of a running process (/proc/PID/stat)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_cpu(argv, env=None):
    """Wall seconds and the child's CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main_s3(args):
    from test_backup_s3 import Moto  # noqa: E402

    tmp = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"amber-backup-s3-bench-{os.getpid()}"
    tmp.mkdir(parents=True)
    moto = Moto(tmp)
    s = ServerProc("redis", tmp / "src", ["--save", "", "--repl-diskless-sync-delay", "0"]).start()
    rows = {"local": [], "s3": []}
    try:
        s3 = moto.client()
        s3.create_bucket(Bucket="bench")
        env = moto.env()
        c = s.client(socket_timeout=600)
        if args.random_values:
            # Incompressible: the stored object is as large as the RDB, the upload is what costs.
            for start in range(0, args.keys, 10000):
                p = c.pipeline(transaction=False)
                for i in range(start, min(args.keys, start + 10000)):
                    p.set(f"key:{i}".encode(), os.urandom(args.random_values))
                p.execute()
            dataset = f"{args.keys:,} keys of {args.random_values} random bytes"
        else:
            c.execute_command("DEBUG", "POPULATE", str(args.keys), "key", "100")
            dataset = f"DEBUG POPULATE {args.keys:,} key 100"
        src = f"127.0.0.1:{s.port}"
        raw = stored = 0
        for rnd in range(args.rounds):
            for kind in (["local", "s3"] if rnd % 2 == 0 else ["s3", "local"]):
                repo = str(tmp / "repo") if kind == "local" else f"s3://bench/r{rnd}"
                moto_cpu = cpu_seconds(moto.proc.pid)
                wall, cpu = timed_cpu([amber_tool(), "backup", "create", "--from", src, "--repo", repo, "-q"], env)
                moto_cpu = cpu_seconds(moto.proc.pid) - moto_cpu
                listed = subprocess.run([amber_tool(), "backup", "list", "--repo", repo, "--json"], check=True,
                                        capture_output=True, env=env, text=True).stdout
                e = __import__("json").loads(listed)["backups"][0]
                raw, stored = e["raw_size"], e["stored_size"]
                rows[kind].append((wall, cpu, moto_cpu))
                if kind == "local":
                    shutil.rmtree(repo)
                else:
                    for o in s3.list_objects_v2(Bucket="bench", Prefix=f"r{rnd}/").get("Contents", []):
                        s3.delete_object(Bucket="bench", Key=o["Key"])
                print(f"round {rnd + 1} {kind}: {wall:.2f}s wall, amber {cpu:.2f}s CPU, moto {moto_cpu:.2f}s CPU",
                      flush=True)
    finally:
        s.stop(timeout=300)
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(kind, i):
        return statistics.median(r[i] for r in rows[kind])

    lw, sw = med("local", 0), med("s3", 0)
    mib = raw / 2**20
    lines = [f"Measured {datetime.date.today().isoformat()} on this machine ({os.cpu_count()} cores), "
             f"{args.rounds} alternating rounds, medians. Source: Redis 7.0.15 with {dataset} "
             f"(RDB {mib:.0f} MiB, stored {stored / 2**20:.1f} MiB zstd -3), "
             "`amber backup create --from` into each repository; the S3 server is moto's server mode "
             "(Python) on loopback.", "",
             "| repository | time | RDB MiB/s | amber CPU s | S3 server CPU s |", "|---|---|---|---|---|",
             f"| local directory | {lw:.2f} s | {mib / lw:.1f} | {med('local', 1):.2f} | - |",
             f"| s3:// (moto_server) | {sw:.2f} s | {mib / sw:.1f} | {med('s3', 1):.2f} | {med('s3', 2):.2f} |",
             "", f"Rate ratio S3 / local: {lw / sw:.2f} (target ≥ 0.9)."]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("Backup to S3" + (" (incompressible values)" if args.random_values else ""), table)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=5000000)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--s3", action="store_true", help="local-directory repository against s3:// on moto_server")
    ap.add_argument("--random-values", type=int, default=0, metavar="BYTES",
                    help="with --s3: --keys keys of this many random bytes instead of DEBUG POPULATE")
    args = ap.parse_args()
    if args.s3:
        return main_s3(args)
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
