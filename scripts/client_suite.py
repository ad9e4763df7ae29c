#!/usr/bin/env python3
"""A client library's own test suite against Redis 7.0.15 and against Amber, side by side.

Tries Amber the way a new user would: redis-py's tests (from its source release on PyPI, the
version installed here unless --version says otherwise) run once against a fresh Redis 7.0.15
and once against a fresh Amber (both on free ports of 127.0.0.1, stopped by PID), in RESP2 and
RESP3; then every test that passes on Redis and does not pass on Amber is listed with its error.
Exit status: 0 when no such test, 1 when some, 2 when the suite could not run.

    python3 scripts/client_suite.py [--version 8.2.0] [--protocol 2,3] [--json]
                                    [--files tests/test_commands.py,...]

Not part of scripts/test (a run takes 10-20 minutes per protocol); its figures go to the
closing notes of the issues that add what it finds missing.
"""

import argparse
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tarfile
import urllib.request
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import ServerProc  # noqa: E402

CACHE = pathlib.Path.home() / ".cache" / "amber" / "client-suites"

# The files that test the server (not cluster, sentinel, modules, TLS or cloud features).
FILES = [
    "tests/test_commands.py", "tests/test_pipeline.py", "tests/test_pubsub.py",
    "tests/test_scripting.py", "tests/test_function.py", "tests/test_lock.py",
    "tests/test_encoding.py", "tests/test_monitor.py", "tests/test_keyspace_notifications.py",
    "tests/test_hash.py", "tests/test_connection.py", "tests/test_connection_pool.py",
    "tests/test_cache.py", "tests/test_data_structure.py", "tests/test_retry.py",
    "tests/test_asyncio/test_commands.py", "tests/test_asyncio/test_pubsub.py",
    "tests/test_asyncio/test_scripting.py", "tests/test_asyncio/test_lock.py",
    "tests/test_asyncio/test_pipeline.py", "tests/test_asyncio/test_encoding.py",
    "tests/test_asyncio/test_monitor.py", "tests/test_asyncio/test_connection.py",
]


def source(version):
    """redis-py's source release (with its tests), downloaded once."""
    dest = CACHE / f"redis-py-{version}"
    if (dest / "tests" / "conftest.py").exists():
        return dest
    CACHE.mkdir(parents=True, exist_ok=True)
    # The package index pip itself reads (PEP 503): its link to the source release.
    name = f"redis-{version}.tar.gz"
    page = urllib.request.urlopen("https://pypi.org/simple/redis/", timeout=60).read().decode()
    found = re.search(r'href="([^"#]*/' + re.escape(name) + r')#sha256=([0-9a-f]{64})"', page)
    if found is None:
        sys.exit(f"client_suite: redis {version} has no source release on PyPI; pick another --version")
    url, sha = found.groups()
    archive = CACHE / name
    urllib.request.urlretrieve(url, archive)
    if hashlib.sha256(archive.read_bytes()).hexdigest() != sha:
        archive.unlink()
        sys.exit(f"client_suite: {name} does not match the index's sha256; run again")
    with tarfile.open(archive) as t:
        t.extractall(CACHE, filter="data")
    top = CACHE / f"redis-{version}"
    top.rename(dest)
    return dest


def outcomes(xml_path):
    """test id -> ("pass" | "fail" | "skip", message)."""
    out = {}
    for tc in ET.parse(xml_path).getroot().iter("testcase"):
        name = f"{tc.get('classname')}::{tc.get('name')}"
        state, msg = "pass", ""
        for ch in tc:
            if ch.tag in ("failure", "error"):
                lines = (ch.get("message") or "").splitlines()
                state, msg = "fail", (lines[0][:200] if lines else "")
                break
            if ch.tag == "skipped":
                state = "skip"
        out[name] = (state, msg)
    return out


def run_suite(src, kind, protocol, files, work):
    """Runs the suite against a fresh `kind` server; returns its outcomes."""
    d = work / f"{kind}-resp{protocol}"
    server = ServerProc(kind, d, ["--save", "", "--appendonly", "no"]).start()
    xml = work / f"{kind}-resp{protocol}.xml"
    try:
        cmd = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider",
               f"--protocol={protocol}", f"--redis-url=redis://127.0.0.1:{server.port}/0",
               f"--junitxml={xml}"]
        env = {**os.environ, "PYTHONPATH": str(src)}
        log = work / f"{kind}-resp{protocol}.log"
        with open(log, "wb") as f:
            subprocess.run(cmd, cwd=src, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=3600)
    finally:
        server.stop()
    if not xml.exists():
        sys.exit(f"client_suite: the suite did not run against {kind}; see {log}")
    return outcomes(xml)


def main():
    import redis

    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default=redis.__version__)
    ap.add_argument("--protocol", default="2,3")
    ap.add_argument("--files", default=",".join(FILES))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        import pytest_asyncio  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pytest-asyncio"], check=True)
    src = source(args.version)
    files = [f for f in args.files.split(",") if f]
    work = CACHE / "runs"
    work.mkdir(parents=True, exist_ok=True)
    report = {"client": f"redis-py {args.version}", "protocols": {}}
    for proto in [p for p in args.protocol.split(",") if p]:
        r = run_suite(src, "redis", proto, files, work)
        a = run_suite(src, "amber", proto, files, work)
        passing = [t for t, (s, _) in r.items() if s == "pass"]
        lost = {t: a.get(t, ("missing", ""))[1] for t in passing if a.get(t, ("missing",))[0] != "pass"}
        report["protocols"][f"RESP{proto}"] = {
            "pass_on_redis": len(passing), "fail_on_amber": len(lost), "tests": lost}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for p, rep in report["protocols"].items():
            print(f"{report['client']}, {p}: {rep['pass_on_redis']} tests pass on Redis 7.0.15, "
                  f"{rep['fail_on_amber']} of them do not pass on Amber")
            for t, msg in rep["tests"].items():
                print(f"  {t}: {msg}")
    sys.exit(1 if any(r["fail_on_amber"] for r in report["protocols"].values()) else 0)


if __name__ == "__main__":
    main()
