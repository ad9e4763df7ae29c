#!/usr/bin/env python3
"""RDB benchmark: Amber against Redis 7.0.15 on this machine, side by side, alternating rounds,
medians. Writes the "RDB snapshots" section of bench/RESULTS.md.

- SAVE time and file size after DEBUG POPULATE 1M and 5M keys;
- load time of a Redis-written dump of 5M keys (process start until PING answers);
- BGSAVE under a heavy write load (redis-benchmark SET -P 16, 50 clients), two cases:
  overwrites (SET on random existing keys: the dataset does not grow) and inserts (3/5 of
  --bgsave-keys prefilled with 100-byte values, SET of 100-byte values over --bgsave-keys random
  keys, none of them prefilled: the dataset grows while the save runs). Extra memory during
  the save (sum of Pss_Anon over the process tree, sampled every 20 ms, peak minus the level
  just before), the save's duration, the longest reply time of a probe client sending SET
  once a millisecond around the save's start, and the probe's p99 while the save runs.

    python3 bench/rdb.py [--rounds 3] [--keys 1000000,5000000] [--load-keys 5000000] [--no-write]
    python3 bench/rdb.py --bgsave-only [--bgsave-keys 1000000] [--cases inserts]   (quick runs)
"""

import argparse
import datetime
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

import redis  # noqa: E402

ARGS = ["--save", "", "--appendonly", "no"]


def server(kind, d, extra=()):
    s = ServerProc(kind, d, ARGS + list(extra))
    s.start(timeout=600)
    return s


def wait_bgsave(c, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not c.info("persistence")["rdb_bgsave_in_progress"]:
            return
        time.sleep(0.005)
    raise RuntimeError("BGSAVE did not finish")


def save_time(kind, d, keys):
    s = server(kind, d)
    try:
        c = s.client(socket_timeout=600)
        c.execute_command("DEBUG", "POPULATE", str(keys))
        t = time.perf_counter()
        c.execute_command("SAVE")
        dt = time.perf_counter() - t
        size = (d / "dump.rdb").stat().st_size
        return dt, size
    finally:
        s.stop(timeout=600)
        shutil.rmtree(d, ignore_errors=True)


def load_time(kind, d, dump):
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(dump, d / "dump.rdb")
    subprocess.run(["sync"], check=True)
    t = time.perf_counter()
    s = server(kind, d)
    dt = time.perf_counter() - t
    try:
        n = s.client().dbsize()
        return dt, n
    finally:
        s.stop(timeout=600)
        shutil.rmtree(d, ignore_errors=True)


def pss_anon_kib(pid):
    """Pss_Anon of a process and its children (a forked saver counts)."""
    pids = [pid]
    try:
        kids = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss_Anon:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def benchmark_keys_file(keys, path):
    """SET commands for exactly the keys redis-benchmark -r KEYS writes (key:%012d, value xxx),
    so that the write load overwrites existing keys: the dataset does not grow during the save,
    and every write is one a snapshot has to preserve the old value of."""
    if path.exists():
        return path
    with open(path, "wb") as f:
        step = 100000
        for lo in range(0, keys, step):
            f.write(b"".join(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$3\r\nxxx\r\n" % i
                             for i in range(lo, min(keys, lo + step))))
    return path


def fill_benchmark_keys(server, client, keys, cache_dir):
    """Loads benchmark_keys_file(keys) into `server` with redis-cli --pipe (cached in cache_dir)."""
    cmds = benchmark_keys_file(keys, cache_dir / f"bench-keys-{keys}.resp")
    with open(cmds, "rb") as f:
        subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], stdin=f, check=True,
                       stdout=subprocess.DEVNULL)
    assert client.dbsize() == keys, client.dbsize()


def bgsave_under_load(kind, d, keys, case="overwrites"):
    """`case` "overwrites": `keys` keys, SET over those same keys (3-byte values). "inserts":
    3/5 of `keys` prefilled by DEBUG POPULATE (keys key:N, 100-byte values), SET of 100-byte
    values over `keys` random keys key:%012d, all new at first."""
    s = server(kind, d)
    try:
        c = s.client(socket_timeout=600)
        if case == "overwrites":
            fill_benchmark_keys(s, c, keys, d.parent)
            value_args = []
        else:
            c.execute_command("DEBUG", "POPULATE", str(keys * 3 // 5), "key", "100")
            value_args = ["-d", "100"]
        load = subprocess.Popen(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(s.port), "-c", "50", "-P", "16",
             "-n", "200000000", "-r", str(keys), "-t", "set", "-q"] + value_args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe_lat = []
        marks = {}
        stop = threading.Event()

        def probe():
            p = s.client(socket_timeout=60)
            while not stop.is_set():
                t = time.perf_counter()
                p.set("probe", "x")
                probe_lat.append((t, time.perf_counter() - t))
                time.sleep(0.001)

        samples = []

        def sampler():
            while not stop.is_set():
                samples.append((time.perf_counter(), pss_anon_kib(s.pid)))
                time.sleep(0.02)

        threads = [threading.Thread(target=probe), threading.Thread(target=sampler)]
        time.sleep(2)  # let the load settle
        for t in threads:
            t.start()
        time.sleep(1)
        keys_before = c.dbsize()
        marks["start"] = time.perf_counter()
        c.execute_command("BGSAVE")
        wait_bgsave(c)
        marks["end"] = time.perf_counter()
        keys_added = c.dbsize() - keys_before
        fork_usec = int(c.info("stats")["latest_fork_usec"])
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        load.terminate()
        load.wait()
        before = [v for t, v in samples if t < marks["start"]]
        during = [v for t, v in samples if marks["start"] <= t <= marks["end"]]
        base = before[-1] if before else samples[0][1]
        extra = max(during + [base]) - base
        window = [lat for t, lat in probe_lat if marks["start"] - 0.01 <= t <= marks["start"] + 0.5]
        # The same probe in the half second before the save: the noise floor of this load.
        quiet = [lat for t, lat in probe_lat if marks["start"] - 0.51 <= t < marks["start"] - 0.01]
        in_save = sorted(lat for t, lat in probe_lat if marks["start"] <= t <= marks["end"])
        p99 = in_save[int(len(in_save) * 0.99)] if in_save else 0.0
        if os.environ.get("BENCH_DEBUG"):
            top = sorted(((lat, t - marks["start"]) for t, lat in probe_lat), reverse=True)[:8]
            print(kind, "slowest probes (ms, offset s):", [(round(a * 1000, 1), round(b, 3)) for a, b in top])
        return {"extra_kib": extra, "base_kib": base, "start_pause_ms": max(window) * 1000 if window else 0.0,
                "quiet_max_ms": max(quiet) * 1000 if quiet else 0.0, "fork_ms": fork_usec / 1000,
                "p99_ms": p99 * 1000, "save_s": marks["end"] - marks["start"],
                "keys_added": keys_added}
    finally:
        stop.set()
        s.stop(timeout=600)
        shutil.rmtree(d, ignore_errors=True)


def med(xs):
    return statistics.median(xs)


def load_rows(keys, rounds, tmp):
    """Load time of a Redis-written dump of `keys` keys, start until PING answers."""
    src = server("redis", tmp / "src")
    try:
        c = src.client(socket_timeout=600)
        c.execute_command("DEBUG", "POPULATE", str(keys))
        c.execute_command("SAVE")
    finally:
        src.stop(timeout=600)
    dump = tmp / "src" / "dump.rdb"
    res = {"redis": [], "amber": []}
    for rnd in range(rounds):
        for kind in (["redis", "amber"] if rnd % 2 == 0 else ["amber", "redis"]):
            dt, n = load_time(kind, tmp / f"load-{kind}", dump)
            assert n == keys, (kind, n)
            res[kind].append(dt)
            print(f"load {kind}: {dt:.2f}s", flush=True)
    rt, at = med(res["redis"]), med(res["amber"])
    shutil.rmtree(tmp / "src", ignore_errors=True)
    return [f"| load a Redis dump of {keys:,} keys (start until PING) | {rt:.2f} s | {at:.2f} s | {at / rt:.2f} |"]


BGSAVE_CASES = {
    "overwrites": "BGSAVE of {keys:,} keys under redis-benchmark SET -P 16 -c 50 -r {keys:,} "
                  "(overwriting those same keys: the dataset does not grow):",
    "inserts": "BGSAVE of {prefill:,} keys (DEBUG POPULATE, 100-byte values) under redis-benchmark "
               "SET -P 16 -c 50 -d 100 -r {keys:,} (other keys: new ones arrive while the save runs):",
}


def bgsave_rows(case, keys, rounds, tmp):
    """The table of one BGSAVE-under-writes case, alternating rounds, medians."""
    res = {"redis": [], "amber": []}
    for rnd in range(rounds):
        for kind in (["redis", "amber"] if rnd % 2 == 0 else ["amber", "redis"]):
            res[kind].append(bgsave_under_load(kind, tmp / f"bg-{kind}", keys, case))
            print(f"BGSAVE under load, {case}, {kind}: {res[kind][-1]}", flush=True)
    lines = ["", BGSAVE_CASES[case].format(keys=keys, prefill=keys * 3 // 5), "",
             f"| BGSAVE under writes ({case}) | Redis 7.0.15 | Amber | Amber/Redis |", "|---|---|---|---|"]
    rows = [("extra_kib", "extra memory during the save (Pss_Anon, process tree)", "MiB"),
            ("fork_ms", "pause of the main thread to start the save (INFO latest_fork_usec)", "ms"),
            ("start_pause_ms", "longest probe reply in the 0.5 s after the save's start", "ms"),
            ("quiet_max_ms", "longest probe reply in the 0.5 s before the save (noise floor)", "ms"),
            ("p99_ms", "probe p99 reply time during the save", "ms"),
            ("save_s", "save duration", "s")]
    if case == "inserts":
        rows.append(("keys_added", "keys added while the save ran", "keys"))
    for key, label, unit in rows:
        rv, av = med(x[key] for x in res["redis"]), med(x[key] for x in res["amber"])
        if unit == "MiB":
            rv, av = rv / 1024, av / 1024
        ratio = f"{av / rv:.3f}" if rv else "n/a"
        shown = (f"{rv:,.0f}", f"{av:,.0f}") if unit == "keys" else (f"{rv:.2f} {unit}", f"{av:.2f} {unit}")
        lines.append(f"| {label} | {shown[0]} | {shown[1]} | {ratio} |")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", default="1000000,5000000")
    ap.add_argument("--load-keys", type=int, default=5000000)
    ap.add_argument("--bgsave-keys", type=int, default=5000000)
    ap.add_argument("--cases", default="overwrites,inserts",
                    help="BGSAVE-under-writes cases: overwrites, inserts (comma-separated)")
    ap.add_argument("--bgsave-only", action="store_true",
                    help="only the BGSAVE-under-writes cases; prints, does not write RESULTS.md")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    unknown = set(args.cases.split(",")) - set(BGSAVE_CASES)
    if unknown:
        ap.error(f"unknown --cases {sorted(unknown)}: choose among {sorted(BGSAVE_CASES)}")
    tmp = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"amber-rdb-bench-{os.getpid()}"
    tmp.mkdir(parents=True)
    lines = [f"Measured {datetime.date.today().isoformat()} on this machine ({os.cpu_count()} cores), "
             f"{args.rounds} alternating rounds, medians.", ""]

    if args.bgsave_only:
        args.keys, args.load_keys, args.no_write = "", 0, True

    # SAVE
    if args.keys:
        lines += ["| SAVE | Redis 7.0.15 | Amber | Amber/Redis |", "|---|---|---|---|"]
    for keys in [int(k) for k in args.keys.split(",") if k]:
        res = {"redis": [], "amber": []}
        for rnd in range(args.rounds):
            for kind in (["redis", "amber"] if rnd % 2 == 0 else ["amber", "redis"]):
                res[kind].append(save_time(kind, tmp / f"save-{kind}", keys))
                print(f"SAVE {keys} {kind}: {res[kind][-1]}", flush=True)
        rt, at = med(x[0] for x in res["redis"]), med(x[0] for x in res["amber"])
        rs, as_ = res["redis"][0][1], res["amber"][0][1]
        lines.append(f"| time, {keys:,} keys | {rt:.2f} s | {at:.2f} s | {at / rt:.2f} |")
        lines.append(f"| file size, {keys:,} keys | {rs / 1e6:.1f} MB | {as_ / 1e6:.1f} MB | {as_ / rs:.3f} |")

    if args.load_keys:
        lines += load_rows(args.load_keys, args.rounds, tmp)

    for case in args.cases.split(","):
        lines += bgsave_rows(case, args.bgsave_keys, args.rounds, tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("RDB snapshots", table)


if __name__ == "__main__":
    main()
