#!/usr/bin/env python3
"""Memory benchmark: RSS of Amber against Redis 7.0.15 holding the same data, side by side.

Each dataset is loaded into a freshly started server of each kind in turn (the order alternates
by dataset and by round); the RSS (VmRSS) is read once the data is in and the server is idle.
The ratio is the median of the per-round Amber/Redis pairs.

Datasets:
- strings: a Redis-written dump of N keys `key:<n>` with 10-, 100- and 1000-byte values (made
  once by Redis with DEBUG POPULATE N key SIZE and SAVE), loaded at start: 5M keys for 10 and
  100 bytes, 1M for 1000 bytes (5M would be 5 GB per server);
- DEBUG POPULATE 1000000 (values `value:<n>`, 7 to 12 bytes);
- 1M small hashes (10 fields `f<i>` of 10-byte values), 1M small sets of 10 strings and of 10
  integers, 1M small sorted sets (10 members, integer scores): Redis's listpack/intset range;
- 10k large hashes, sets and sorted sets of 1000 elements each (hash table / skiplist range);
- streams: one stream of 1M entries and 1000 streams of 1000 entries (XADD *, 2 fields);
- HyperLogLogs: 100k sparse ones (100 elements each) and 10k dense ones (3000 elements).
Collections are written with redis-cli --pipe from one generated command file per dataset.

    python3 bench/memory.py [--rounds 3] [--only strings100,hash_small] [--no-write]
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
from core import rss_kib, write_section  # noqa: E402

ARGS = ["--save", "", "--appendonly", "no"]


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def write_commands(path, keys, make):
    """Writes the commands `make(n)` for n in 0..keys to `path` (RESP, for redis-cli --pipe)."""
    with open(path, "wb") as f:
        buf = []
        for n in range(keys):
            buf.append(make(n))
            if len(buf) >= 10000:
                f.write(b"".join(buf))
                buf.clear()
        f.write(b"".join(buf))


def small_hash(n):
    args = ["HSET", f"hash:{n}"]
    for i in range(10):
        args += [f"f{i}", f"v{n:09d}"[:10]]
    return resp(*args)


def small_set_str(n):
    return resp("SADD", f"set:{n}", *[f"member:{i}" for i in range(10)])


def small_set_int(n):
    return resp("SADD", f"iset:{n}", *[str(n * 10 + i) for i in range(10)])


def small_zset(n):
    args = ["ZADD", f"zset:{n}"]
    for i in range(10):
        args += [str(i), f"member:{i}"]
    return resp(*args)


def large_hash(n):
    args = ["HSET", f"bighash:{n}"]
    for i in range(1000):
        args += [f"field:{i}", f"value:{i}"]
    return resp(*args)


def large_set(n):
    return resp("SADD", f"bigset:{n}", *[f"member:{i}" for i in range(1000)])


def large_zset(n):
    args = ["ZADD", f"bigzset:{n}"]
    for i in range(1000):
        args += [str(i), f"member:{i}"]
    return resp(*args)


def stream_entry(n):
    return resp("XADD", "stream", "*", "sensor", str(n % 1000), "value", str(n * 7 % 100003))


def stream_many(n):
    return resp("XADD", f"stream:{n % 1000}", "*", "sensor", str(n % 1000), "value", str(n))


def hll_sparse(n):
    return resp("PFADD", f"hll:{n}", *[f"e{n}:{i}" for i in range(100)])


def hll_dense(n):
    return resp("PFADD", f"hll:{n}", *[f"e{n}:{i}" for i in range(3000)])


# name: (label, kind, parameters)
DATASETS = {
    "strings10": ("5M keys x 10-byte values (Redis dump loaded)", "dump", (5_000_000, 10)),
    "strings100": ("5M keys x 100-byte values (Redis dump loaded)", "dump", (5_000_000, 100)),
    "strings1000": ("1M keys x 1000-byte values (Redis dump loaded)", "dump", (1_000_000, 1000)),
    "populate": ("DEBUG POPULATE 1000000", "populate", (1_000_000,)),
    "hash_small": ("1M hashes x 10 fields", "pipe", (1_000_000, small_hash)),
    "set_small": ("1M sets x 10 strings", "pipe", (1_000_000, small_set_str)),
    "intset_small": ("1M sets x 10 integers", "pipe", (1_000_000, small_set_int)),
    "zset_small": ("1M sorted sets x 10 members", "pipe", (1_000_000, small_zset)),
    "hash_large": ("10k hashes x 1000 fields", "pipe", (10_000, large_hash)),
    "set_large": ("10k sets x 1000 strings", "pipe", (10_000, large_set)),
    "zset_large": ("10k sorted sets x 1000 members", "pipe", (10_000, large_zset)),
    "stream_1m": ("1 stream x 1M entries (2 fields)", "pipe", (1_000_000, stream_entry)),
    "stream_many": ("1000 streams x 1000 entries (2 fields)", "pipe", (1_000_000, stream_many)),
    "hll_sparse": ("100k HyperLogLogs x 100 elements (sparse)", "pipe", (100_000, hll_sparse)),
    "hll_dense": ("10k HyperLogLogs x 3000 elements (dense)", "pipe", (10_000, hll_dense)),
}


def make_input(name, tmp):
    """The dump file or command file of a dataset, made once."""
    label, kind, params = DATASETS[name]
    if kind == "dump":
        keys, size = params
        path = tmp / f"{name}.rdb"
        if not path.exists():
            d = tmp / f"make-{name}"
            s = ServerProc("redis", d, ARGS).start()
            try:
                c = s.client(socket_timeout=600)
                c.execute_command("DEBUG", "POPULATE", str(keys), "key", str(size))
                c.execute_command("SAVE")
            finally:
                s.stop()
            shutil.move(str(d / "dump.rdb"), path)
            shutil.rmtree(d, ignore_errors=True)
        return path
    if kind == "pipe":
        keys, make = params
        path = tmp / f"{name}.resp"
        if not path.exists():
            write_commands(path, keys, make)
        return path
    return None


def measure(kind, name, tmp, inp):
    """RSS (KiB) of a `kind` server holding dataset `name`, and its key count."""
    d = tmp / f"run-{kind}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    _, how, params = DATASETS[name]
    extra = []
    if how == "dump":
        os.link(inp, d / "dump.rdb")
        extra = ["--dbfilename", "dump.rdb"]
    s = ServerProc(kind, d, ARGS + extra)
    s.start(timeout=600)
    try:
        c = s.client(socket_timeout=600)
        if how == "populate":
            c.execute_command("DEBUG", "POPULATE", str(params[0]))
        elif how == "pipe":
            with open(inp, "rb") as f:
                subprocess.run(["redis-cli", "-p", str(s.port), "--pipe"], stdin=f, check=True,
                               stdout=subprocess.DEVNULL)
        keys = c.dbsize()
        time.sleep(1.0)
        return rss_kib(s.pid), keys
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated dataset names")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n] or list(DATASETS)
    for n in names:
        if n not in DATASETS:
            sys.exit(f"unknown dataset {n}; known: {', '.join(DATASETS)}")
    tmp = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / "amber-bench-memory"
    tmp.mkdir(parents=True, exist_ok=True)
    results = {(k, n): [] for k in ("redis", "amber") for n in names}
    base = {}
    for k in ("redis", "amber"):
        s = ServerProc(k, tmp / f"base-{k}", ARGS).start()
        try:
            time.sleep(0.5)
            base[k] = rss_kib(s.pid)
        finally:
            s.stop()
    for i, n in enumerate(names):
        inp = make_input(n, tmp)
        for rnd in range(args.rounds):
            order = ["redis", "amber"] if (rnd + i) % 2 == 0 else ["amber", "redis"]
            got = {}
            for k in order:
                rss, keys = measure(k, n, tmp, inp)
                got[k] = keys
                results[(k, n)].append(rss)
            if got["redis"] != got["amber"]:
                raise RuntimeError(f"{n}: Redis holds {got['redis']} keys, Amber {got['amber']}")
            print(f"{n} round {rnd + 1}: amber {results[('amber', n)][-1] / 1024:.1f} MiB, "
                  f"redis {results[('redis', n)][-1] / 1024:.1f} MiB", flush=True)

    lines = [f"Measured {datetime.date.today().isoformat()} on this machine, RSS (VmRSS) of a fresh "
             f"server holding each dataset, {args.rounds} rounds in alternating order, medians; the "
             "ratio is the median of the per-round Amber/Redis pairs. `python3 bench/memory.py`.",
             "",
             "| dataset | Redis 7.0.15 | Amber | Amber/Redis |",
             "|---|---|---|---|"]
    for n in names:
        rs, as_ = results[("redis", n)], results[("amber", n)]
        ratio = statistics.median(a / r for a, r in zip(as_, rs))
        lines.append(f"| {DATASETS[n][0]} | {statistics.median(rs) / 1024:,.1f} MiB | "
                     f"{statistics.median(as_) / 1024:,.1f} MiB | {ratio:.2f} |")
    lines.append(f"| RSS at start | {base['redis'] / 1024:.1f} MiB | {base['amber'] / 1024:.1f} MiB | |")
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("Memory per key: latest run", table)


if __name__ == "__main__":
    main()
