#!/usr/bin/env python3
"""Replication benchmark: an Amber master against a Redis 7.0.15 master on this machine, side by
side, each with the same kind of replica (a Redis 7.0.15 replica), alternating rounds, medians.

- full sync of K keys to one replica, under a write load on the same keys (redis-benchmark SET
  -P 16, 50 clients): time from REPLICAOF until the replica is online with every key; the master's extra memory during the sync (Pss_Anon over the process tree, a forked
  child included, peak minus the level just before); the master's longest reply to a probe
  client sending PING in a loop during the sync;
- SET throughput, -P 16, 50 clients (redis-benchmark), with the replica attached.

Both masters sync diskless without delay (repl-diskless-sync yes, repl-diskless-sync-delay 0).

    python3 bench/replication.py [--rounds 3] [--keys 5000000] [--requests 1000000] [--write]

--write puts the table in bench/RESULTS.md ("Replication" section); otherwise it is printed.
"""

import argparse
import datetime
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from aof import set_throughput  # noqa: E402
from conftest import ServerProc  # noqa: E402
from core import write_section  # noqa: E402
from rdb import fill_benchmark_keys, pss_anon_kib  # noqa: E402

SYNC = ["--save", "", "--appendonly", "no", "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]


class Probe(threading.Thread):
    """PINGs the master in a loop and keeps the slowest reply (ms) and the memory peak."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.c = server.client(socket_timeout=600)
        self.pid = server.pid
        self.stop = threading.Event()
        self.slowest = 0.0
        self.peak = 0

    def run(self):
        n = 0
        while not self.stop.is_set():
            t = time.perf_counter()
            self.c.ping()
            self.slowest = max(self.slowest, (time.perf_counter() - t) * 1000)
            n += 1
            if n % 20 == 0:
                self.peak = max(self.peak, pss_anon_kib(self.pid))
            time.sleep(0.001)


def full_sync(kind, d, keys):
    m = ServerProc(kind, d / "master", SYNC).start(timeout=900)
    r = ServerProc("redis", d / "replica", ["--repl-diskless-load", "disabled"]).start(timeout=900)
    try:
        c = m.client(socket_timeout=600)
        fill_benchmark_keys(m, c, keys, d.parent)
        time.sleep(1)
        before = pss_anon_kib(m.pid)
        # A write load on the same keys during the sync: what a fork's copy-on-write costs.
        load = subprocess.Popen(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(m.port), "-c", "50", "-P", "16",
             "-n", "2000000000", "-r", str(keys), "-t", "set", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        probe = Probe(m)
        probe.start()
        rc = r.client(socket_timeout=600)
        t = time.perf_counter()
        rc.execute_command("REPLICAOF", "127.0.0.1", m.port)
        while True:
            info = rc.info("replication")
            if info.get("master_link_status") == "up" and rc.dbsize() == keys:
                break
            time.sleep(0.01)
        secs = time.perf_counter() - t
        probe.stop.set()
        probe.join()
        load.terminate()
        load.wait()
        return secs, max(0, probe.peak - before) / 1024, probe.slowest, m, r
    except BaseException:
        m.stop()
        r.stop()
        raise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=5_000_000)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    res = {k: {"sync": [], "mem": [], "lat": [], "set": []} for k in ("redis", "amber")}
    base = pathlib.Path(tempfile.mkdtemp(prefix="amber-bench-repl-"))
    try:
        for rnd in range(a.rounds):
            for kind in (("redis", "amber") if rnd % 2 == 0 else ("amber", "redis")):
                d = base / f"{kind}{rnd}"
                secs, mem, lat, m, r = full_sync(kind, d, a.keys)
                try:
                    qps = set_throughput(m.port, 16, a.requests)
                finally:
                    m.stop()
                    r.stop()
                shutil.rmtree(d, ignore_errors=True)
                for k, v in (("sync", secs), ("mem", mem), ("lat", lat), ("set", qps)):
                    res[kind][k].append(v)
                print(f"round {rnd} {kind}: sync {secs:.2f}s, extra memory {mem:.0f} MiB, "
                      f"longest reply {lat:.1f} ms, SET -P 16 {qps:,.0f}/s", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    med = {k: {m: statistics.median(v) for m, v in res[k].items()} for k in res}
    rows = [
        ("Full sync of %s keys to one replica (s, lower is better)" % f"{a.keys:,}", "sync", "%.2f", True),
        ("Master's extra memory during the sync (MiB)", "mem", "%.0f", True),
        ("Master's longest reply to a probe during the sync (ms)", "lat", "%.1f", True),
        ("SET -P 16, 50 clients, one replica attached (ops/s)", "set", "%.0f", False),
    ]
    lines = ["| | Redis 7.0.15 | Amber | Amber / Redis |", "|---|---:|---:|---:|"]
    for title, k, fmt, _lower in rows:
        r_, a_ = med["redis"][k], med["amber"][k]
        ratio = f"{a_ / r_:.2f}x" if r_ else "-"
        lines.append(f"| {title} | {fmt % r_} | {fmt % a_} | {ratio} |")
    body = (f"Medians of {a.rounds} alternating rounds, {datetime.date.today()}, "
            f"{os.cpu_count()} CPUs shared; the replica is a Redis 7.0.15 replica in both cases "
            "(diskless sync, no delay).\n\n" + "\n".join(lines))
    print(body)
    if a.write:
        write_section("Replication", body)


if __name__ == "__main__":
    main()
