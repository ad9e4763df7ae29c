#!/usr/bin/env python3
"""RESTORE benchmark: Amber against Redis 7.0.15 on this machine, side by side. Writes the
"RESTORE" section of bench/RESULTS.md.

(a) N pipelined `RESTORE key 0 <payload>` on one connection into an empty server (FLUSHALL
    before each run, not timed), from the first byte sent to the last reply read; small
    payloads (a 17-byte string) and medium ones (a 100-field hash, a listpack of ~1.4 KB);
(b) `amber restore <backup> --into` of a backup of K keys (Redis, DEBUG POPULATE K key 100)
    into an empty server: the same tool and the same backup into each.

Each test runs on both servers back to back, the order alternating by test and by round; the
ratio reported is the median of the per-round pairs (Amber's throughput / Redis's, so >= 1.0
means Amber is at least as fast).

    python3 bench/restore.py [--rounds 3] [--small 200000] [--medium 50000] [--keys 1000000] [--no-write]
"""

import argparse
import datetime
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from backup import amber_tool  # noqa: E402
from conftest import ServerProc, resp  # noqa: E402
from core import write_section  # noqa: E402


def payloads(src):
    """DUMP payloads made by `src` (Redis): small and medium."""
    c = src.client()
    c.set("p:small", "hello world value")
    c.hset("p:medium", mapping={f"field:{i}": f"value:{i}" for i in range(100)})
    out = {"small": c.dump("p:small"), "medium": c.dump("p:medium")}
    c.delete("p:small", "p:medium")
    return out


def pipelined_restores(port, payload, n):
    """Seconds from the first byte sent to the n-th reply, every RESTORE on one connection
    (a thread sends while this one reads, so neither side's buffers stall the other)."""
    data = b"".join(resp("RESTORE", f"key:{i}", 0, payload) for i in range(n))
    want = b"+OK\r\n" * n
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter()
    sender = threading.Thread(target=s.sendall, args=(data,))
    sender.start()
    got = bytearray()
    while len(got) < len(want):
        chunk = s.recv(1 << 20)
        if not chunk:
            raise RuntimeError("connection closed")
        got += chunk
    t = time.perf_counter() - t0
    sender.join()
    s.close()
    if bytes(got) != want:
        raise RuntimeError(f"unexpected replies: {bytes(got[:200])!r}")
    return t


def tool_restore(backup_id, repo, port):
    t0 = time.perf_counter()
    p = subprocess.run([amber_tool(), "restore", backup_id, "--repo", str(repo), "--into", f"127.0.0.1:{port}",
                        "--json"], capture_output=True, text=True)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"amber restore exited {p.returncode}: {p.stdout[-2000:]} {p.stderr[-2000:]}")
    return t, json.loads(p.stdout)


def flush(s):
    c = s.client(socket_timeout=600)
    c.flushall()
    assert c.dbsize() == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", type=int, default=200000, help="RESTOREs of the small payload per run")
    ap.add_argument("--medium", type=int, default=50000, help="RESTOREs of the medium payload per run")
    ap.add_argument("--keys", type=int, default=1000000, help="keys in the backup for amber restore --into")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    tmp = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"amber-restore-bench-{os.getpid()}"
    tmp.mkdir(parents=True)
    servers = {k: ServerProc(k, tmp / k, ["--save", ""]).start() for k in ("redis", "amber")}
    src = ServerProc("redis", tmp / "src", ["--save", "", "--repl-diskless-sync-delay", "0"]).start()
    tests = [("small", args.small), ("medium", args.medium), ("tool", args.keys)]
    times = {(k, t): [] for k in servers for t, _ in tests}
    try:
        pl = payloads(src)
        src.client(socket_timeout=600).execute_command("DEBUG", "POPULATE", str(args.keys), "key", "100")
        repo = tmp / "repo"
        p = subprocess.run([amber_tool(), "backup", "create", "--from", f"127.0.0.1:{src.port}", "--repo",
                            str(repo), "--json"], check=True, capture_output=True, text=True)
        backup_id = json.loads(p.stdout)["entry"]["id"]
        src.stop(timeout=300)
        for rnd in range(args.rounds):
            for ti, (test, n) in enumerate(tests):
                order = ["redis", "amber"] if (rnd + ti) % 2 == 0 else ["amber", "redis"]
                for kind in order:
                    s = servers[kind]
                    flush(s)
                    if test == "tool":
                        t, report = tool_restore(backup_id, repo, s.port)
                        assert report["tally"]["restored"] == n, report
                    else:
                        t = pipelined_restores(s.port, pl[test], n)
                    assert s.client().dbsize() == n
                    times[(kind, test)].append(t)
                    print(f"round {rnd + 1} {test} {kind}: {t:.3f}s ({n / t:,.0f}/s)", flush=True)
    finally:
        for s in (*servers.values(), src):
            s.stop(timeout=300)
        shutil.rmtree(tmp, ignore_errors=True)

    def ratio(test):
        # Amber's throughput over Redis's in each round, then the median.
        return statistics.median(r / a for r, a in zip(times[("redis", test)], times[("amber", test)]))

    names = {
        "small": f"{args.small:,} pipelined RESTORE, {len(pl['small'])}-byte payload (string)",
        "medium": f"{args.medium:,} pipelined RESTORE, {len(pl['medium'])}-byte payload (100-field hash)",
        "tool": f"`amber restore --into`, {args.keys:,} keys (DEBUG POPULATE, 100-byte values)",
    }
    lines = [f"Measured {datetime.date.today().isoformat()} on this machine ({os.cpu_count()} cores), "
             f"{args.rounds} rounds alternating which server goes first, medians; the ratio is the median "
             "of the per-round Amber/Redis throughput pairs. Each run starts on an empty server.", "",
             "| RESTORE into an empty server | Redis 7.0.15 | Amber | Amber/Redis |", "|---|---|---|---|"]
    for test, n in tests:
        r, a = statistics.median(times[("redis", test)]), statistics.median(times[("amber", test)])
        lines.append(f"| {names[test]} | {r:.2f} s ({n / r:,.0f}/s) | {a:.2f} s ({n / a:,.0f}/s) | {ratio(test):.2f} |")
    lines += ["", "Target: Amber/Redis >= 1.0. Before the fix (issue 12), each RESTORE zeroed a fresh 1 MiB read "
              "buffer: 20,000 small RESTOREs took 12-18 s (0.5-0.9 ms each, Redis 0.1-0.5 s) and "
              "`amber restore --into` of 200,001 keys 104.8 s (Redis 1.1 s). The 100-field hash misses the "
              "target: Redis copies the payload's listpack as it is (~0.9 KB a key), Amber decodes it into "
              "its compact hash, an array of 22-byte inline fields and values (~4.8 KB a key: 2.3x the "
              "memory, whose fresh pages alone are about a quarter of the time); closing that gap is the "
              "store's compact encoding, not RESTORE."]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("RESTORE", table)


if __name__ == "__main__":
    main()
