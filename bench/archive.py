#!/usr/bin/env python3
"""RPO of `amber archive`: how long after the source acknowledges a write that write is durable
in the repository, under `redis-benchmark -t set -P 16` load on a Redis 7.0.15 source.

A probe client writes `SET rpo:<i> x` every 20 ms beside the benchmark and records when the
reply came and the source's master_repl_offset right after it (an offset at or past the probe's
write). A watcher lists the repository's segment entries as fast as it can (S3 on moto_server,
or a local directory) and records when an entry covering each offset first became visible. The
delay per probe is visible - acknowledged: p50 and p99. The archive's lag (source offset minus
archived offset) is sampled every second to show whether it grows.

    python3 bench/archive.py [--seconds 60 | --long] [--local] [--flush-ms 250]

--long: 5 minutes against a source with appendonly yes and appendfsync everysec (its
throughput under the everysec policy), the lag and the delays reported per minute (first
against last: a lag that grows shows there).

    python3 bench/archive.py --restore [--keys 5000000] [--commands 1000000] [--rounds 3] [--local]

--restore: an Amber source with appendonly yes holds --keys keys (DEBUG POPULATE, then
BGREWRITEAOF: the AOF base) and is archived; then --commands SETs (redis-benchmark -P 16) go
to both its AOF and the archive. Alternating rounds, medians: the time to ready of an
amber-server started on a copy of the source's AOF directory, against `amber restore
--to-time latest` from the archive followed by the same server start on what it wrote.

Prints the numbers; it does not write bench/RESULTS.md.
"""

import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import ServerProc  # noqa: E402


def amber_tool():
    t = os.environ.get("AMBER_TOOL") or str(ROOT / "target" / "release" / "amber")
    if not os.path.exists(t):
        raise RuntimeError(f"{t} is missing: cargo build --release")
    return t


class Watcher(threading.Thread):
    """Records (time first visible, end offset) of every segment entry as it appears. Segments
    follow each other: the next entry's key is known (its start is the last one's end), so
    the watcher asks for exactly that object, which costs the store one GET, not a listing."""

    def __init__(self, fetch, timeline, start):
        super().__init__(daemon=True)
        self.fetch, self.timeline, self.next = fetch, timeline, start
        self.visible = []  # (seen at, end offset), in order
        self.stop = False

    def run(self):
        while not self.stop:
            body = self.fetch(f"archive/{self.timeline}/seg/{self.next:020}.json")
            if body is None:
                time.sleep(0.005)
                continue
            end = json.loads(body)["end_offset"]
            self.visible.append((time.time(), end))
            self.next = end

    def durable_at(self, offset):
        for t, end in self.visible:
            if end >= offset:
                return t
        return None


def s3_fetch(s3, bucket, prefix):
    def fetch(key):
        try:
            return s3.get_object(Bucket=bucket, Key=prefix + key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
    return fetch


def local_fetch(root):
    def fetch(key):
        try:
            return (root / key).read_bytes()
        except FileNotFoundError:
            return None
    return fetch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--long", action="store_true", help="5 minutes, reported per minute")
    ap.add_argument("--restore", action="store_true", help="restore --to-time against loading an AOF")
    ap.add_argument("--keys", type=int, default=5000000)
    ap.add_argument("--commands", type=int, default=1000000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--local", action="store_true", help="a local-directory repository instead of S3")
    ap.add_argument("--flush-ms", type=int, default=None, help="the archiver's --flush-ms (default: its own)")
    args = ap.parse_args()
    if args.restore:
        return main_restore(args)
    if args.long:
        args.seconds = 300
    tmp = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"amber-archive-bench-{os.getpid()}"
    tmp.mkdir(parents=True)
    aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if args.long else []
    src = ServerProc("redis", tmp / "src", ["--repl-diskless-sync-delay", "0", *aof]).start()
    moto = None
    procs = []
    try:
        env = dict(os.environ)
        if args.local:
            repo = tmp / "repo"
            fetch = local_fetch(repo)
        else:
            from test_backup_s3 import Moto  # noqa: E402
            moto = Moto(tmp)
            s3 = moto.client()
            s3.create_bucket(Bucket="bench")
            env = moto.env()
            repo = "s3://bench/a"
            fetch = s3_fetch(s3, "bench", "a/")
        argv = [amber_tool(), "archive", "--from", f"127.0.0.1:{src.port}", "--repo", str(repo),
                "--spool", str(tmp / "spool"), "-q"]
        if args.flush_ms:
            argv += ["--flush-ms", str(args.flush_ms)]
        arch = subprocess.Popen(argv, env=env, stderr=open(tmp / "archiver.log", "wb"))
        procs.append(arch)
        c = src.client()
        deadline = time.time() + 30
        while not (tmp / "spool" / "status.json").exists():
            assert time.time() < deadline and arch.poll() is None, (tmp / "archiver.log").read_text()
            time.sleep(0.1)
        live = json.loads((tmp / "spool" / "status.json").read_text())
        while not live.get("timeline"):
            time.sleep(0.1)
            live = json.loads((tmp / "spool" / "status.json").read_text())
        tl = fetch(f"archive/{live['timeline']}/timeline.json")
        watcher = Watcher(fetch, live["timeline"], json.loads(tl)["start_offset"])
        watcher.start()
        bench = subprocess.Popen(["redis-benchmark", "-p", str(src.port), "-t", "set", "-P", "16", "-r", "100000",
                                  "-d", "64", "-n", "1000000000", "-q"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        procs.append(bench)
        probes = []  # (acknowledged at, offset)
        lag = []  # (time, source offset - archived offset)
        end = time.time() + args.seconds
        i = 0
        next_lag = time.time() + 1
        first_offset = c.info("replication")["master_repl_offset"]
        while time.time() < end:
            c.set(f"rpo:{i}", "x")
            acked = time.time()
            off = c.info("replication")["master_repl_offset"]
            probes.append((acked, off))
            i += 1
            if time.time() >= next_lag:
                next_lag += 1
                archived = max((e for _, e in watcher.visible), default=first_offset)
                lag.append((time.time(), off - archived))
            time.sleep(0.02)
        total = c.info("replication")["master_repl_offset"] - first_offset
        os.kill(bench.pid, signal.SIGTERM)
        bench.wait(10)
        # Let the tail become durable.
        deadline = time.time() + 60
        while watcher.durable_at(probes[-1][1]) is None and time.time() < deadline:
            time.sleep(0.05)
        watcher.stop = True
        delays = []
        missing = 0
        for acked, off in probes:
            t = watcher.durable_at(off)
            if t is None:
                missing += 1
            else:
                delays.append(max(0.0, t - acked))
        # The worst delay of each 5-second window: a stall shows where it happened.
        t0 = probes[0][0]
        windows = {}
        for acked, off in probes:
            t = watcher.durable_at(off)
            if t is not None:
                w = int((acked - t0) // 5)
                windows[w] = max(windows.get(w, 0), t - acked)
        print("worst delay per 5 s window (ms):", [round(windows[w] * 1000) for w in sorted(windows)])
        delays.sort()
        q = statistics.quantiles(delays, n=100)
        mb_s = total / args.seconds / 1e6
        half = len(lag) // 2
        print(f"source: Redis 7.0.15{', appendonly yes, appendfsync everysec' if args.long else ''}; "
              f"repository: {'local directory' if args.local else 's3 (moto_server)'}; "
              f"flush-ms {args.flush_ms or 'default (250)'}; {args.seconds:.0f} s of redis-benchmark SET -P 16 "
              f"({mb_s:.1f} MB/s of replication stream)")
        print(f"probes: {len(probes)}, not durable at the end: {missing}")
        print(f"RPO (acknowledged -> durable in the repository): p50 {q[49] * 1000:.0f} ms, "
              f"p99 {q[98] * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")
        if lag:
            first = statistics.mean(x for _, x in lag[:half] or lag)
            last = statistics.mean(x for _, x in lag[half:])
            print(f"lag behind the source (bytes): first half mean {first:.0f}, second half mean {last:.0f}")
        if args.seconds >= 120:
            per_minute(probes, lag, watcher, t0)
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(40)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
        src.stop()
        if moto:
            moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def per_minute(probes, lag, watcher, t0):
    """Delay p50/p99 and mean lag of each whole minute of the run."""
    minutes = {}
    for acked, off in probes:
        t = watcher.durable_at(off)
        if t is not None:
            minutes.setdefault(int((acked - t0) // 60), []).append(t - acked)
    lags = {}
    for t, x in lag:
        lags.setdefault(int((t - t0) // 60), []).append(x)
    print("minute | probes | p50 ms | p99 ms | mean lag bytes | max lag bytes")
    for m in sorted(minutes):
        d = sorted(minutes[m])
        q = statistics.quantiles(d, n=100) if len(d) > 1 else [d[0]] * 99
        lg = lags.get(m, [0])
        print(f"{m + 1} | {len(d)} | {q[49] * 1000:.0f} | {q[98] * 1000:.0f} | {statistics.mean(lg):.0f} | {max(lg)}")


def ready_seconds(d, extra=()):
    """Seconds from exec to the first PING answered (not LOADING) of an amber-server on `d`."""
    t = time.perf_counter()
    s = ServerProc("amber", d, ["--appendonly", "yes", "--save", "", *extra]).start(timeout=900)
    took = time.perf_counter() - t
    return s, took


def wait_offset(spool, want, timeout=900):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            live = json.loads((spool / "status.json").read_text())
        except (OSError, ValueError):
            live = {}
        if (live.get("archived_offset") or 0) >= want:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the archive did not reach offset {want} within {timeout}s")


def main_restore(args):
    tmp = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"amber-pitr-bench-{os.getpid()}"
    tmp.mkdir(parents=True)
    src = ServerProc("amber", tmp / "src", ["--appendonly", "yes", "--save", "",
                                            "--repl-diskless-sync-delay", "0"]).start()
    moto = None
    arch = None
    rows = {"aof": [], "restore": [], "load": []}
    try:
        env = dict(os.environ)
        if args.local:
            repo = str(tmp / "repo")
        else:
            from test_backup_s3 import Moto  # noqa: E402
            moto = Moto(tmp)
            moto.client().create_bucket(Bucket="bench")
            env = moto.env()
            repo = "s3://bench/a"
        c = src.client(socket_timeout=900)
        c.execute_command("DEBUG", "POPULATE", str(args.keys), "key", "100")
        c.execute_command("BGREWRITEAOF")
        while True:
            p = c.info("persistence")
            if not p["aof_rewrite_in_progress"] and not p["aof_rewrite_scheduled"]:
                break
            time.sleep(0.2)
        spool = tmp / "spool"
        arch = subprocess.Popen([amber_tool(), "archive", "--from", f"127.0.0.1:{src.port}", "--repo", repo,
                                 "--spool", str(spool), "-q"], env=env, stderr=open(tmp / "archiver.log", "wb"))
        wait_offset(spool, c.info("replication")["master_repl_offset"])
        subprocess.run(["redis-benchmark", "-p", str(src.port), "-t", "set", "-P", "16", "-n", str(args.commands),
                        "-r", str(args.keys), "-d", "100", "-q"], check=True, capture_output=True)
        wait_offset(spool, c.info("replication")["master_repl_offset"])
        os.kill(arch.pid, signal.SIGTERM)
        arch.wait(60)
        keys = c.dbsize()
        want = c.execute_command("DEBUG", "DIGEST")
        src.stop(timeout=300)
        aof_dir = src.dir / "appendonlydir"
        aof_mib = sum(f.stat().st_size for f in aof_dir.iterdir()) / 2**20
        for rnd in range(args.rounds):
            for kind in (["aof", "restore"] if rnd % 2 == 0 else ["restore", "aof"]):
                d = tmp / f"{kind}{rnd}"
                if kind == "aof":
                    d.mkdir()
                    shutil.copytree(aof_dir, d / "appendonlydir")
                    s, took = ready_seconds(d)
                    rows["aof"].append(took)
                else:
                    t = time.perf_counter()
                    subprocess.run([amber_tool(), "restore", "--repo", repo, "--data-dir", str(d), "--to-time",
                                    "latest", "-q"], check=True, capture_output=True, env=env)
                    rows["restore"].append(time.perf_counter() - t)
                    s, took = ready_seconds(d)
                    rows["load"].append(took)
                if rnd == 0:
                    got = s.client(socket_timeout=900).execute_command("DEBUG", "DIGEST")
                    assert got == want, f"{kind}: digest {got} != the source's {want}"
                s.stop(timeout=300)
                shutil.rmtree(d)
                line = f"{rows[kind][-1]:.2f}s" if kind == "aof" else \
                    f"restore {rows['restore'][-1]:.2f}s + load {rows['load'][-1]:.2f}s"
                print(f"round {rnd + 1} {kind}: {line}", flush=True)
    finally:
        if arch and arch.poll() is None:
            os.kill(arch.pid, signal.SIGKILL)
        src.stop(timeout=300)
        if moto:
            moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    aof = statistics.median(rows["aof"])
    rest = statistics.median(rows["restore"])
    load = statistics.median(rows["load"])
    total = statistics.median(r + l for r, l in zip(rows["restore"], rows["load"]))
    print(f"dataset: {keys:,} keys ({args.keys:,} DEBUG POPULATE + {args.commands:,} SETs), AOF {aof_mib:.0f} MiB; "
          f"repository: {'local directory' if args.local else 's3 (moto_server)'}; {args.rounds} rounds, medians")
    print(f"amber-server on the source's AOF, to ready: {aof:.2f} s")
    print(f"amber restore --to-time latest: {rest:.2f} s, then amber-server on it, to ready: {load:.2f} s; "
          f"together {total:.2f} s")
    pairs = [(r + l) / x for r, l, x in zip(rows["restore"], rows["load"], rows["aof"])]
    print(f"ratio (restore + load) / AOF load: {total / aof:.2f} of the medians, "
          f"{statistics.median(pairs):.2f} median of the rounds' ratios "
          f"({', '.join(f'{x:.2f}' for x in pairs)}) (target <= 1.2)")


if __name__ == "__main__":
    main()
