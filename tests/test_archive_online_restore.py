"""`amber restore --to-time T | --to-offset N --into HOST:PORT`: point-in-time recovery into a
running server (issue 19), against the offline restore of the same point.

The archive is test_archive.py's: its seeded random write load (every type, expiries,
MULTI/EXEC, FLUSHDB), archived from Amber (local repository) and from Redis 7.0.15 (S3, moto).
For several instants T, `restore --to-time T --into` a fresh empty Amber and a fresh Redis
7.0.15 reaches the same point (offset, last command) as `restore --to-time T --data-dir`, and
the target's DEBUG DIGEST equals the offline restore's, started as a server; the restore's own
report carries that digest. Then the refusals and failures: a target that holds keys is
refused without --replace (and nothing is written), and a command the target rejects (plain,
or inside MULTI/EXEC) is reported with its offset and the restore exits 1.

AMBER_ONLINE_SECONDS sets the load's length (default 6), AMBER_ONLINE_INSTANTS how many random
instants are restored (default 3)."""

import os
import random
import time

import pytest

from conftest import ServerProc
from test_archive import (Archiver, Load, archivers, execute, reference_digest, restore, restored_digest, run,  # noqa: F401
                          run_json, source)
from test_backup import addr, digest, servers, start  # noqa: F401
from test_backup_s3 import bucket, moto  # noqa: F401

SECONDS = float(os.environ.get("AMBER_ONLINE_SECONDS", "6"))
INSTANTS = int(os.environ.get("AMBER_ONLINE_INSTANTS", "3"))


def online(env, repo, target, *args, check=0):
    return run_json(env, "restore", "--repo", repo, "--into", addr(target), *args, check=check)


def fresh(servers, tmp_path, kind, name):
    return start(servers, ServerProc(kind, tmp_path / f"{name}-{kind}").start())


def send_op(load, c, cmds):
    """One given operation, recorded as Load.one records its random ones."""
    sent = time.time()
    execute(c, cmds)
    acked = time.time()
    load.ops.append((cmds, sent, acked, c.info("replication")["master_repl_offset"]))


def archived(tmp_path, servers, archivers, env, kind, repo, seed):
    """A source of `kind` with part of the load in the base and the rest archived: the load,
    and the times it began and ended."""
    src = start(servers, source(tmp_path / "src", kind))
    c = src.client()
    load = Load(seed=seed)
    load.send(c, 150)  # in the base
    arch = Archiver(tmp_path, env, src, repo).start()
    archivers.append(arch)
    time.sleep(1)
    began = time.time()
    load.run_for(c, SECONDS / 2)
    # Certain to be archived, whatever the random draw: a transaction that writes in another
    # database (SELECT inside MULTI) and a FLUSHDB.
    send_op(load, c, [["MULTI"], ["SELECT", "2"], ["SET", "d2:s", "v"], ["RPUSH", "d2:l", "a", "b"],
                      ["SELECT", "0"], ["EXEC"]])
    send_op(load, c, [["FLUSHDB"]])
    load.run_for(c, SECONDS / 2)
    ended = time.time()
    arch.wait_caught_up()
    arch.stop()
    return src, load, began, ended


def same_point(online_r, offline_r):
    for k in ("timeline", "restored_to", "commands_applied", "segments_applied", "partial"):
        assert online_r[k] == offline_r[k], (k, online_r[k], offline_r[k])


@pytest.mark.parametrize("kind,where", [("amber", "local"), ("redis", "s3")])
def test_online_restores_equal_the_offline_restore_of_the_same_point(
        tmp_path, servers, archivers, moto, bucket, kind, where):
    env = moto.env()
    repo = f"s3://{bucket}/arch" if where == "s3" else tmp_path / "repo"
    src, load, began, ended = archived(tmp_path, servers, archivers, env, kind, repo,
                                       seed=55 if kind == "amber" else 66)
    rng = random.Random(7)
    points = [("--to-time", f"{rng.uniform(began, ended):.6f}") for _ in range(INSTANTS)]
    points.append(("--to-offset", load.ops[len(load.ops) // 3][3]))
    points.append(("--to-time", "latest"))
    for i, (flag, value) in enumerate(points):
        off = restore(env, repo, tmp_path / f"off{i}", flag, value)
        assert off["ok"] and not off["partial"], off
        want = restored_digest(tmp_path, servers, tmp_path / f"off{i}")
        for target_kind in ("amber", "redis"):
            t = fresh(servers, tmp_path, target_kind, f"t{i}")
            r = online(env, repo, t, flag, value)
            assert r["ok"] and not r["refused"] and r["problem"] is None, r
            same_point(r, off)
            assert r["rejected"] == [] and r["rejected_total"] == 0
            got = digest(t)
            assert got == want, (flag, value, target_kind, r["restored_to"])
            assert r["digest"] == got.decode()
            assert any("after the base" in v for v in r["verified"]), r["verified"]
            assert any("acknowledged without an error" in v for v in r["verified"]), r["verified"]
            t.stop()
    # latest is the source as it is now.
    assert want == digest(src)
    # And the point is the reference's: the operations up to the reported offset.
    t = fresh(servers, tmp_path, "amber", "ref")
    mid = load.ops[len(load.ops) // 2][3]
    r = online(env, repo, t, "--to-offset", mid)
    n = load.upto(r["restored_to"]["offset"])
    assert n == load.upto(mid)
    assert digest(t) == reference_digest(tmp_path, servers, load.ops[:n])
    # The text report names the point, the last command and what was verified.
    t2 = fresh(servers, tmp_path, "redis", "text")
    text = run(env, "restore", "--repo", repo, "--into", addr(t2), "--to-offset", mid, check=0).stdout
    assert f"offset {r['restored_to']['offset']}" in text and "last command applied: " in text, text
    assert "verified: " in text and f"DEBUG DIGEST of {addr(t2)}: {digest(t2).decode()}" in text, text


def test_a_target_that_holds_keys_is_refused_without_replace(tmp_path, servers, archivers):
    env = dict(os.environ)
    repo = tmp_path / "repo"
    src, load, began, ended = archived(tmp_path, servers, archivers, env, "amber", repo, seed=77)
    t = fresh(servers, tmp_path, "redis", "busy")
    c = t.client()
    c.select(3)
    c.set("unrelated", "1")
    r = online(env, repo, t, "--to-time", "latest", check=1)
    assert r["refused"] and not r["ok"] and "db3: 1" in r["problem"] and "--replace" in r["problem"], r
    assert t.client().dbsize() == 0 and c.dbsize() == 1  # nothing written
    text = run(env, "restore", "--repo", repo, "--into", addr(t), "--to-time", "latest", check=1).stdout
    assert text.startswith("REFUSED: ") and "already holds 1 keys" in text, text
    # With --replace: restored over it; the key that was there stays, and the rest is the
    # source's (the digest is not the archive's alone, and the report says so).
    r = online(env, repo, t, "--to-time", "latest", "--replace")
    assert r["ok"], r
    assert c.get("unrelated") == b"1"
    c.delete("unrelated")
    assert digest(t) == digest(src)
    assert not any("after the base" in v for v in r["verified"])
    assert any("held keys before" in n for n in r["notes"]), r["notes"]


def test_a_rejected_command_is_reported_with_its_offset_and_fails(tmp_path, servers, archivers):
    env = dict(os.environ)
    repo = tmp_path / "repo"
    src = start(servers, source(tmp_path / "src", "amber"))
    c = src.client()
    c.set("in-base", "1")
    arch = Archiver(tmp_path, env, src, repo).start()
    archivers.append(arch)
    time.sleep(1)
    c.set("before", "1")
    c.lpush("lst", "a")
    at_lpush = c.info("replication")["master_repl_offset"]
    p = c.pipeline(transaction=True)
    p.set("tx-a", "1")
    p.rpush("lst2", "b")
    p.execute()
    c.set("after", "1")
    arch.wait_caught_up()
    arch.stop()
    # The target holds lst and lst2 as strings: LPUSH and the RPUSH inside the transaction
    # answer WRONGTYPE.
    t = fresh(servers, tmp_path, "amber", "wrong")
    tc = t.client()
    tc.set("lst", "x")
    tc.set("lst2", "y")
    r = online(env, repo, t, "--to-time", "latest", "--replace", check=1)
    assert not r["ok"] and r["rejected_total"] == 2, r
    plain, in_tx = r["rejected"]
    assert plain["command"] == "LPUSH lst a" and plain["offset"] == at_lpush, plain
    assert plain["error"].startswith("WRONGTYPE"), plain
    assert in_tx["command"] == "RPUSH lst2 b" and in_tx["error"].startswith("WRONGTYPE"), in_tx
    assert plain["offset"] < in_tx["offset"] < r["restored_to"]["offset"] + 1
    assert "rejected 2 archived command(s), the first at offset" in r["problem"], r
    assert not any("acknowledged" in v for v in r["verified"])
    assert tc.get("before") == b"1" and tc.get("tx-a") == b"1"
    text = run(env, "restore", "--repo", repo, "--into", addr(t), "--to-time", "latest", "--replace", check=1).stdout
    assert f"REJECTED at offset {at_lpush}: LPUSH lst a: WRONGTYPE" in text and "PROBLEM: " in text, text


def test_a_target_without_debug_restores_and_says_the_digest_is_not_taken(tmp_path, servers, archivers):
    env = dict(os.environ)
    repo = tmp_path / "repo"
    src = start(servers, source(tmp_path / "src", "redis"))
    c = src.client()
    c.hset("h", mapping={"a": "1", "b": "2"})
    arch = Archiver(tmp_path, env, src, repo).start()
    archivers.append(arch)
    time.sleep(1)
    c.zadd("z", {"m": 1.5})
    arch.wait_caught_up()
    arch.stop()
    # Redis 7.0's default: DEBUG refused. The restore is done and checked by its replies.
    t = start(servers, ServerProc("redis", tmp_path / "nodebug", ["--enable-debug-command", "no"]).start())
    r = online(env, repo, t, "--to-time", "latest")
    assert r["ok"] and r["digest"] is None, r
    assert any(v.startswith("DEBUG DIGEST: ") for v in r["not_verified"]), r["not_verified"]
    assert t.client().zscore("z", "m") == 1.5 and t.client().hgetall("h") == {b"a": b"1", b"b": b"2"}
