"""`amber archive prune`: retention of archive timelines, on a local directory and on S3
(moto_server). Timelines come from `amber archive --base-every`, which starts a new one (a
full resync, a new base) at that interval while it runs.

What must hold: a timeline's base and segments go together; the newest timeline is never
removed (even while the archiver extends it); `--keep-within` cuts the window at the newest
base at or before its start; a dry run (the default, or --dry-run) changes nothing; what is
kept still restores to the source's digest."""

import json
import os
import time

import pytest

from test_archive import Archiver, Load, archivers, restore, restored_digest, run, run_json, source  # noqa: F401
from test_backup import digest, servers, start  # noqa: F401
from test_backup_s3 import moto, bucket  # noqa: F401


def objects(where, repo, moto, bucket, tl):
    """The keys of timeline `tl`'s objects."""
    if where == "local":
        d = repo / "archive" / tl
        return sorted(str(p.relative_to(repo)) for p in d.rglob("*") if p.is_file()) if d.exists() else []
    s3 = moto.client()
    prefix = repo.split("/", 3)[3] + f"/archive/{tl}/"
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def timelines(env, repo):
    return run_json(env, "archive", "status", "--repo", repo)["timelines"]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_prune_keeps_the_window_and_the_newest_timeline(tmp_path, servers, archivers, moto, bucket, where):
    env = moto.env()
    src = start(servers, source(tmp_path / "src", "redis"))
    c = src.client()
    load = Load(seed=5)
    repo = f"s3://{bucket}/prune-{where}" if where == "s3" else tmp_path / "repo"
    arch = Archiver(tmp_path, env, src, repo)
    arch.extra = ["--base-every", "3s"]
    arch.start()
    archivers.append(arch)
    deadline = time.time() + 90
    while arch.proc.poll() is None and not (arch.spool / "status.json").exists():
        assert time.time() < deadline
        time.sleep(0.1)
    load.run_for(c, 1)
    while len(timelines(env, repo)) < 4:
        assert time.time() < deadline and arch.proc.poll() is None, arch.log_text()
        load.run_for(c, 0.5)
    arch.wait_caught_up()
    arch.stop()
    tls = timelines(env, repo)
    assert all(t["problem"] is None for t in tls) and len(tls) >= 4
    before = {t["id"]: objects(where, repo, moto, bucket, t["id"]) for t in tls}
    assert all(any(k.endswith("base.rdb.zst") for k in v) and any(k.endswith("timeline.json") for k in v)
               for v in before.values()), before

    # Dry runs, by default and said: the verdicts, nothing deleted.
    for extra in ([], ["--dry-run"]):
        r = run_json(env, "archive", "prune", "--repo", repo, "--keep-last", "2", *extra)
        assert not r["applied"] and r["removed"] == [t["id"] for t in tls[:-2]], r
        assert [i["keep"] for i in r["timelines"]] == [False] * (len(tls) - 2) + [True, True]
        assert r["removed_objects"] == sum(len(before[t["id"]]) for t in tls[:-2])
    assert {t["id"]: objects(where, repo, moto, bucket, t["id"]) for t in tls} == before

    # --keep-within: a window starting between the bases of timelines 1 and 2 keeps 1 onwards
    # (1 restores the window's first moments), whole; timeline 0 goes whole.
    start_ms = (tls[1]["restorable_from_ms"] + tls[2]["restorable_from_ms"]) / 2
    within = int((time.time() * 1000 - start_ms) / 1000) + 1
    old_moment = (tls[0]["restorable_from_ms"] + tls[1]["restorable_from_ms"]) / 2000
    r = run_json(env, "archive", "prune", "--repo", repo, "--keep-within", f"{within}s", "--apply")
    assert r["applied"] and r["removed"] == [tls[0]["id"]], r
    assert r["timelines"][1]["reasons"] == ["within"]
    assert objects(where, repo, moto, bucket, tls[0]["id"]) == []
    for t in tls[1:]:
        assert objects(where, repo, moto, bucket, t["id"]) == before[t["id"]]
    assert [t["id"] for t in timelines(env, repo)] == [t["id"] for t in tls[1:]]
    assert run_json(env, "archive", "verify", "--repo", repo)["ok"]
    # A moment of the removed timeline no longer restores; the window's start still does.
    p = run(env, "restore", "--repo", repo, "--data-dir", tmp_path / "gone", "--to-time", f"{old_moment:.3f}")
    assert p.returncode != 0 and "nothing archived at or before" in p.stdout + p.stderr, p
    r = restore(env, repo, tmp_path / "edge", "--to-time", f"{start_ms / 1000:.3f}")
    assert r["timeline"] == tls[1]["id"] and not r["partial"]

    # --keep-last 1 while the archiver extends the newest timeline: only that one stays, and
    # the archive goes on and restores to the source.
    arch.extra = []
    arch.start()
    load.run_for(c, 1)
    arch.wait_caught_up()
    newest = timelines(env, repo)[-1]["id"]
    r = run_json(env, "archive", "prune", "--repo", repo, "--keep-last", "1", "--apply")
    assert r["timelines"][-1]["id"] == newest and r["timelines"][-1]["keep"]
    load.run_for(c, 1)
    arch.wait_caught_up()
    arch.stop()
    assert [t["id"] for t in timelines(env, repo)] == [newest]
    restore(env, repo, tmp_path / "latest", "--to-time", "latest")
    assert restored_digest(tmp_path, servers, tmp_path / "latest") == digest(src)


def test_leftovers_rules_and_errors(tmp_path, servers, archivers):
    env = dict(os.environ)
    src = start(servers, source(tmp_path / "src", "amber"))
    repo = tmp_path / "repo"
    arch = Archiver(tmp_path, env, src, repo).start()
    archivers.append(arch)
    time.sleep(1)
    src.client().set("k", "v")
    arch.wait_caught_up()
    arch.stop()
    [tl] = timelines(env, repo)
    # The newest (here the only) timeline stays, and says why.
    r = run_json(env, "archive", "prune", "--repo", repo, "--keep-within", "1s", "--apply")
    assert r["removed"] == [] and "newest" in r["timelines"][0]["reasons"]
    # Objects of a timeline without an entry (a killed prune, or a base being stored): kept
    # while young, removed past --orphan-grace.
    stray = repo / "archive" / "20200101T000000Z-0000" / "base.rdb.zst"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"partial")
    r = run_json(env, "archive", "prune", "--repo", repo, "--keep-last", "1", "--apply")
    assert r["orphans_kept_young"] and not r["orphans_removed"] and stray.exists()
    old = time.time() - 7200
    os.utime(stray, (old, old))
    r = run_json(env, "archive", "prune", "--repo", repo, "--keep-last", "1")
    assert r["orphans_removed"] and stray.exists()  # a dry run
    r = run_json(env, "archive", "prune", "--repo", repo, "--keep-last", "1", "--apply")
    assert r["orphans_removed"] and not stray.exists()
    assert [t["id"] for t in timelines(env, repo)] == [tl["id"]]
    text = run(env, "archive", "prune", "--repo", repo, "--keep-last", "1", check=0).stdout
    assert f"keep   timeline {tl['id']}" in text and "Dry run, would remove: 0 of 1 timelines" in text
    # Usage errors: no rule, a rule that keeps nothing, bad durations, --apply with --dry-run.
    for args, says in [([], "give at least one of --keep-last, --keep-within"),
                       (["--keep-last", "0"], "--keep-last 0"),
                       (["--keep-within", "soon"], "bad duration 'soon'"),
                       (["--keep-last", "1", "--apply", "--dry-run"], "cannot be used with")]:
        p = run(env, "archive", "prune", "--repo", repo, *args)
        assert p.returncode == 2 and says in p.stderr, (args, p.stderr)
    p = run(env, "archive", "--from", "127.0.0.1:1", "--repo", repo, "--spool", tmp_path / "s", "--base-every", "x")
    assert p.returncode == 2 and "bad duration 'x'" in p.stderr, p.stderr
