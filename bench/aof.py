#!/usr/bin/env python3
"""AOF benchmark: Amber against Redis 7.0.15 on this machine, side by side, alternating rounds,
medians. Writes the "AOF" section of bench/RESULTS.md.

- SET throughput with appendonly yes, appendfsync everysec and always, -P 1 and -P 16, 50
  clients (redis-benchmark);
- replay of an AOF of N commands written by Redis (process start until PING answers);
- BGREWRITEAOF of K keys under a write load: time, and extra memory during the rewrite
  (Pss_Anon summed over the process tree, peak minus the level just before).

    python3 bench/aof.py [--rounds 3] [--requests 100000] [--replay 2000000] [--rewrite-keys 5000000]
"""

import argparse
import csv
import datetime
import io
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from conftest import ServerProc  # noqa: E402
from core import write_section  # noqa: E402
from rdb import fill_benchmark_keys  # noqa: E402
from rdb import pss_anon_kib  # noqa: E402


def server(kind, d, extra=()):
    s = ServerProc(kind, d, ["--save", "", "--appendonly", "yes"] + list(extra))
    s.start(timeout=900)
    return s


def set_throughput(port, pipeline, requests):
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50", "-n", str(requests),
         "-P", str(pipeline), "-r", "100000", "-t", "set", "--csv"],
        check=True, capture_output=True, text=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return float(rows[1][1])


def wait_rewrite(c, timeout=900):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = c.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        time.sleep(0.005)
    raise RuntimeError("rewrite did not finish")


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--replay", type=int, default=2000000)
    ap.add_argument("--rewrite-keys", type=int, default=5000000)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    tmp = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"amber-aof-bench-{os.getpid()}"
    tmp.mkdir(parents=True)
    lines = [f"Measured {datetime.date.today().isoformat()} on this machine ({os.cpu_count()} cores, "
             f"disk: {tmp}), {args.rounds} alternating rounds, medians; throughput ratios are medians of "
             "per-round pairs run back to back.", "",
             "| SET, appendonly yes | pipeline | Redis 7.0.15 | Amber | Amber/Redis |", "|---|---|---|---|---|"]

    # Both servers run side by side, fresh for each round and policy; each (policy, pipeline)
    # runs on both back to back, the order alternating, so that each pair shares the machine's
    # state of the moment. The ratio is the median of the per-round pair ratios.
    for policy in ("everysec", "always"):
        res = {(k, p): [] for k in ("redis", "amber") for p in (1, 16)}
        for rnd in range(args.rounds):
            srv = {kind: server(kind, tmp / f"{policy}-{kind}", ["--appendfsync", policy,
                                                                "--auto-aof-rewrite-percentage", "0"])
                   for kind in ("redis", "amber")}
            try:
                for i, p in enumerate((1, 16)):
                    n = args.requests * (4 if p == 16 else 1)
                    if policy == "always" and p == 1:
                        n = max(args.requests // 2, 5000)
                    for kind in (["redis", "amber"] if (rnd + i) % 2 == 0 else ["amber", "redis"]):
                        res[(kind, p)].append(set_throughput(srv[kind].port, p, n))
                        print(f"{policy} -P {p} {kind}: {res[(kind, p)][-1]:.0f}", flush=True)
            finally:
                for kind, s in srv.items():
                    s.stop(timeout=120)
                    shutil.rmtree(tmp / f"{policy}-{kind}", ignore_errors=True)
        for p in (1, 16):
            rs, as_ = res[("redis", p)], res[("amber", p)]
            ratio = med([a / r for a, r in zip(as_, rs)])
            lines.append(f"| appendfsync {policy} | {p} | {med(rs):,.0f} | {med(as_):,.0f} | {ratio:.2f} |")

    # replay of a Redis-written AOF (commands only)
    src = server("redis", tmp / "src", ["--aof-use-rdb-preamble", "no", "--appendfsync", "no",
                                        "--auto-aof-rewrite-percentage", "0"])
    try:
        subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(src.port), "-c", "50", "-P", "64",
                        "-n", str(args.replay), "-r", "1000000", "-t", "set", "-q"], check=True,
                       capture_output=True)
    finally:
        src.stop(timeout=120)
    aofdir = tmp / "src" / "appendonlydir"
    size = sum(f.stat().st_size for f in aofdir.iterdir())
    res = {"redis": [], "amber": []}
    for rnd in range(args.rounds):
        for kind in (["redis", "amber"] if rnd % 2 == 0 else ["amber", "redis"]):
            d = tmp / f"replay-{kind}"
            d.mkdir()
            shutil.copytree(aofdir, d / "appendonlydir")
            subprocess.run(["sync"], check=True)
            t = time.perf_counter()
            s = server(kind, d, ["--aof-use-rdb-preamble", "no"])
            dt = time.perf_counter() - t
            n = s.client().dbsize()
            s.stop(timeout=120)
            shutil.rmtree(d, ignore_errors=True)
            res[kind].append(dt)
            print(f"replay {kind}: {dt:.2f}s ({n} keys)", flush=True)
    rv, av = med(res["redis"]), med(res["amber"])
    lines += ["", "| AOF | Redis 7.0.15 | Amber | Amber/Redis |", "|---|---|---|---|",
              f"| replay {args.replay:,} SET commands ({size / 1e6:.0f} MB), start until PING | {rv:.2f} s | {av:.2f} s | {av / rv:.2f} |"]
    shutil.rmtree(tmp / "src", ignore_errors=True)

    # rewrite under writes
    res = {"redis": [], "amber": []}
    for rnd in range(args.rounds):
        for kind in (["redis", "amber"] if rnd % 2 == 0 else ["amber", "redis"]):
            d = tmp / f"rw-{kind}"
            s = server(kind, d, ["--auto-aof-rewrite-percentage", "0", "--appendfsync", "no"])
            try:
                c = s.client(socket_timeout=900)
                # The keys redis-benchmark -r writes, so that the load overwrites them: the
                # dataset does not grow during the rewrite (see rdb.benchmark_keys_file).
                fill_benchmark_keys(s, c, args.rewrite_keys, tmp)
                load = subprocess.Popen(
                    ["redis-benchmark", "-h", "127.0.0.1", "-p", str(s.port), "-c", "50", "-P", "16",
                     "-n", "200000000", "-r", str(args.rewrite_keys), "-t", "set", "-q"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                samples, stop = [], threading.Event()

                def sampler():
                    while not stop.is_set():
                        samples.append((time.perf_counter(), pss_anon_kib(s.pid)))
                        time.sleep(0.02)

                th = threading.Thread(target=sampler)
                th.start()
                time.sleep(1.5)
                t0 = time.perf_counter()
                c.execute_command("BGREWRITEAOF")
                wait_rewrite(c)
                t1 = time.perf_counter()
                stop.set()
                th.join()
                load.terminate()
                load.wait()
                before = [v for t, v in samples if t < t0]
                during = [v for t, v in samples if t0 <= t <= t1]
                base = before[-1] if before else samples[0][1]
                res[kind].append((t1 - t0, max(during + [base]) - base))
                print(f"rewrite {kind}: {res[kind][-1]}", flush=True)
            finally:
                stop.set()
                s.stop(timeout=300)
                shutil.rmtree(d, ignore_errors=True)
    rt, at = med(x[0] for x in res["redis"]), med(x[0] for x in res["amber"])
    rm, am = med(x[1] for x in res["redis"]) / 1024, med(x[1] for x in res["amber"]) / 1024
    lines.append(f"| BGREWRITEAOF of {args.rewrite_keys:,} keys under SET -P 16 load (overwriting them): time | {rt:.2f} s | {at:.2f} s | {at / rt:.2f} |")
    lines.append(f"| same: extra memory during the rewrite (Pss_Anon) | {rm:.1f} MiB | {am:.1f} MiB | {am / rm if rm else 0:.3f} |")
    shutil.rmtree(tmp, ignore_errors=True)
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("AOF", table)


if __name__ == "__main__":
    main()
