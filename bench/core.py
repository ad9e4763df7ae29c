#!/usr/bin/env python3
"""Server-core benchmark: Amber against Redis 7.0.15 on this machine, side by side.

Starts both servers with identical settings (no persistence, loopback, free ports), then runs
redis-benchmark against each: every test runs on both back to back, the order alternating by test
and by round; the ratio is the median of the per-round pairs. Also measures RSS after
DEBUG POPULATE 1000000.
Writes the table into bench/RESULTS.md (the "Server core" section) and prints it.

Also command lines of the newer types and of scripting (EVALSHA, FCALL, XADD, XRANGE, PFADD,
PFCOUNT, GEOADD, GEOSEARCH), SET and GET by a client AUTH-ed as an ACL user with rules
(`ACL_RULES`: a key pattern, categories, -@dangerous), and SET -P 16 with maxmemory reached, under allkeys-lru and allkeys-lfu: every new key
evicts one (a keyspace of 1M random keys over a limit that holds about a third of them).

    python3 bench/core.py [--rounds 5] [--requests 200000] [--no-write] [--eviction-only]
"""

import argparse
import csv
import datetime
import io
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import ServerProc  # noqa: E402

TESTS = ["set", "get", "incr", "lpush", "lpop", "hset", "sadd", "zadd", "mset"]
EVICTION_POLICIES = ["allkeys-lru", "allkeys-lfu"]
EVICTION_MAXMEMORY = "16mb"

# Scripting: a 3-command script by EVALSHA, and the same as a function by FCALL.
SCRIPT3 = ("redis.call('incr', KEYS[1]) redis.call('set', KEYS[2], ARGV[1]) "
           "return redis.call('get', KEYS[2])")
LIBRARY3 = ("#!lua name=benchlib\nredis.register_function('three', function(keys, args) "
            "redis.call('incr', keys[1]) redis.call('set', keys[2], args[1]) "
            "return redis.call('get', keys[2]) end)")
# Tests that are command lines (redis-benchmark's __rand_int__ placeholders), run in this order
# so that each read finds what the write before it stored: name -> (label in the table, argv).
SCRIPTED = ["evalsha", "fcall", "xadd", "xrange", "pfadd", "pfcount", "geoadd", "geosearch",
            "acl_set", "acl_get"]
# The ACL user of the acl_* tests: every command is checked against its rules, every key
# against its pattern (the default user skips both).
ACL_RULES = ["on", ">benchpw", "~key:*", "+@read", "+@write", "-@dangerous"]
ACL_AUTH = ["--user", "app", "-a", "benchpw"]


def prepare_scripting(client):
    """Loads the script and the library; every command-line test's (label, argv)."""
    sha = client.script_load(SCRIPT3)
    client.execute_command("ACL", "SETUSER", "app", "reset", *ACL_RULES)
    client.function_load(LIBRARY3, replace=True)
    keys = ["2", "counter:__rand_int__", "value:__rand_int__", "v"]
    return {
        "evalsha": ("EVALSHA (3 commands)", ["EVALSHA", sha] + keys),
        "fcall": ("FCALL (3 commands)", ["FCALL", "three"] + keys),
        "xadd": ("XADD", ["XADD", "bench:stream", "*", "field", "__rand_int__"]),
        "xrange": ("XRANGE - + COUNT 10", ["XRANGE", "bench:stream", "-", "+", "COUNT", "10"]),
        "pfadd": ("PFADD", ["PFADD", "bench:hll", "__rand_int__"]),
        "pfcount": ("PFCOUNT", ["PFCOUNT", "bench:hll"]),
        "geoadd": ("GEOADD", ["GEOADD", "bench:geo", "13.__rand_int__", "38.__rand_int__", "m:__rand_int__"]),
        "geosearch": ("GEOSEARCH BYRADIUS COUNT 10 ANY",
                      ["GEOSEARCH", "bench:geo", "FROMLONLAT", "13", "38", "BYRADIUS", "50", "km",
                       "COUNT", "10", "ANY"]),
        "acl_set": ("SET as an ACL user", ACL_AUTH + ["SET", "key:__rand_int__", "xxx"]),
        "acl_get": ("GET as an ACL user", ACL_AUTH + ["GET", "key:__rand_int__"]),
    }


def bench_command(port, pipeline, requests, argv, clients=50):
    """redis-benchmark running one command line (with __rand_int__ keys)."""
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-n", str(requests),
         "-P", str(pipeline), "-r", "100000", "--csv"] + argv,
        check=True, capture_output=True, text=True,
    ).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return float(rows[1][1])


def bench(port, pipeline, requests, tests, clients=50, keyspace=100000):
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-n", str(requests),
         "-P", str(pipeline), "-r", str(keyspace), "-t", ",".join(tests), "--csv"],
        check=True, capture_output=True, text=True,
    ).stdout
    rows = list(csv.reader(io.StringIO(out)))
    result = {}
    for row in rows[1:]:
        name = row[0].split()[0].lower()
        result[name] = float(row[1])
    return result


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def populate_rss(kind, tmp):
    s = ServerProc(kind, tmp / f"mem-{kind}", ["--save", ""]).start()
    try:
        c = s.client()
        base = rss_kib(s.pid)
        c.execute_command("DEBUG", "POPULATE", "1000000")
        assert c.dbsize() == 1000000
        time.sleep(0.5)
        return base, rss_kib(s.pid)
    finally:
        s.stop()


def eviction_bench(tmp, rounds, requests):
    """SET -P 16 at the memory limit, per policy: {(server, policy): [requests/s per round]}.
    Each round starts both servers afresh, fills them past the limit, then measures."""
    results = {(k, pol): [] for k in ("redis", "amber") for pol in EVICTION_POLICIES}
    for rnd in range(rounds):
        for i, pol in enumerate(EVICTION_POLICIES):
            order = ["redis", "amber"] if (rnd + i) % 2 == 0 else ["amber", "redis"]
            for k in order:
                s = ServerProc(k, tmp / f"evict-{k}", ["--save", "", "--maxmemory", EVICTION_MAXMEMORY,
                                                       "--maxmemory-policy", pol]).start()
                try:
                    # Past the limit first, so that the measured run evicts all along.
                    bench(s.port, 16, requests * 5, ["set"], keyspace=1000000)
                    assert s.client().info("stats")["evicted_keys"] > 0
                    results[(k, pol)].append(bench(s.port, 16, requests * 5, ["set"], keyspace=1000000)["set"])
                finally:
                    s.stop()
            print(f"round {rnd + 1} SET -P 16 at maxmemory {pol}: "
                  f"{results[('amber', pol)][-1]:.0f}/{results[('redis', pol)][-1]:.0f}", flush=True)
    return results


def eviction_lines(results):
    lines = ["", f"SET -P 16 with maxmemory {EVICTION_MAXMEMORY} reached (1M random keys, each new one evicts):", "",
             "| policy | Redis 7.0.15 | Amber | Amber/Redis |", "|---|---|---|---|"]
    worst = 10.0
    for pol in EVICTION_POLICIES:
        rs, as_ = results[("redis", pol)], results[("amber", pol)]
        ratio = statistics.median(a / r for a, r in zip(as_, rs))
        worst = min(worst, ratio)
        lines.append(f"| {pol} | {statistics.median(rs):,.0f} | {statistics.median(as_):,.0f} | {ratio:.2f} |")
    return lines, worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--eviction-only", action="store_true", help="only the maxmemory case; writes nothing")
    args = ap.parse_args()
    tmp = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"amber-bench-{os.getpid()}"
    if args.eviction_only:
        lines, worst = eviction_lines(eviction_bench(tmp, args.rounds, args.requests))
        print("\n".join(lines + ["", f"Lowest ratio: {worst:.2f} (target ≥ 0.9)."]))
        return
    servers = {k: ServerProc(k, tmp / k, ["--save", ""]).start() for k in ("redis", "amber")}
    # results[(server, pipeline, test)]: one number per round. Each test runs on both servers
    # back to back (the order alternates by test and by round), so that each pair of numbers
    # shares the machine's state of the moment; the ratio reported is the median of the
    # per-round pair ratios.
    results = {(k, p, t): [] for k in servers for p in (1, 16) for t in TESTS + SCRIPTED}
    scripted = {k: prepare_scripting(servers[k].client()) for k in servers}
    try:
        for rnd in range(args.rounds):
            for p in (1, 16):
                n = args.requests * (5 if p == 16 else 1)
                # Both servers see the same sequence of tests on the same data (LPOP pops
                # what LPUSH pushed, as in a plain redis-benchmark run).
                for k in servers:
                    servers[k].client().flushall()
                for i, t in enumerate(TESTS):
                    order = ["redis", "amber"] if (rnd + i) % 2 == 0 else ["amber", "redis"]
                    for k in order:
                        results[(k, p, t)].append(bench(servers[k].port, p, n, [t])[t])
                for i, t in enumerate(SCRIPTED):
                    order = ["redis", "amber"] if (rnd + i) % 2 == 0 else ["amber", "redis"]
                    for k in order:
                        results[(k, p, t)].append(bench_command(servers[k].port, p, n, scripted[k][t][1]))
                print(f"round {rnd + 1} -P {p}: " + " ".join(
                    f"{t}={results[('amber', p, t)][-1]:.0f}/{results[('redis', p, t)][-1]:.0f}"
                    for t in TESTS + SCRIPTED),
                    flush=True)
    finally:
        for s in servers.values():
            s.stop()
    evict_lines, evict_worst = eviction_lines(eviction_bench(tmp, args.rounds, args.requests))
    mem = {k: populate_rss(k, tmp) for k in ("redis", "amber")}

    lines = []
    lines.append(f"Measured {datetime.date.today().isoformat()} on this machine ({os.cpu_count()} cores), "
                 f"redis-benchmark, 50 clients, {args.rounds} rounds, requests/s (medians). Each test runs "
                 "on both servers back to back, in alternating order; the ratio is the median of the "
                 "per-round Amber/Redis pairs.")
    lines.append("")
    lines.append("| test | pipeline | Redis 7.0.15 | Amber | Amber/Redis |")
    lines.append("|---|---|---|---|---|")
    worst = 10.0
    for p in (1, 16):
        for t in TESTS + SCRIPTED:
            rs, as_ = results[("redis", p, t)], results[("amber", p, t)]
            rv, av = statistics.median(rs), statistics.median(as_)
            ratio = statistics.median(a / r for a, r in zip(as_, rs))
            worst = min(worst, ratio)
            name = scripted["amber"][t][0] if t in SCRIPTED else t.upper()
            lines.append(f"| {name} | {p} | {rv:,.0f} | {av:,.0f} | {ratio:.2f} |")
    lines.extend(evict_lines)
    worst = min(worst, evict_worst)
    lines.append("")
    (rb, ra), (ab, aa) = mem["redis"], mem["amber"]
    lines.append("| memory | Redis 7.0.15 | Amber | Amber/Redis |")
    lines.append("|---|---|---|---|")
    lines.append(f"| RSS after DEBUG POPULATE 1000000 | {ra / 1024:.1f} MiB | {aa / 1024:.1f} MiB | {aa / ra:.2f} |")
    lines.append(f"| RSS at start | {rb / 1024:.1f} MiB | {ab / 1024:.1f} MiB | |")
    lines.append("")
    lines.append(f"Lowest throughput ratio: {worst:.2f} (target ≥ 0.9). Memory ratio: {aa / ra:.2f} (target ≤ 1.3).")
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("Server core", table)


def write_section(title, body):
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n\nAmber against Redis 7.0.15, side by side on the same machine.\n"
    head = f"## {title}\n"
    section = head + "\n" + body + "\n\n"
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        text = text[:start] + section + (text[nxt + 1:] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()
