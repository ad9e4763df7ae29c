"""The check tools and backup commands in a disaster (issue 12, items 3, 5, 11 and 14):
check-aof counts exactly what a cut drops and says so before asking; a closed stdout ends the
tools silently; a damaged RDB base gets advice that works; `amber backup` verify names a
checksum mismatch, labels versions apart, finds the data directory itself with --local, and
is silent with --quiet on success.

The tool is target/release/amber, or $AMBER_TOOL; the server as in conftest ($AMBER_BIN)."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import ServerProc
from test_backup import amber, amber_json, tool


def resp_commands(data):
    """(start, end) of each RESP command in an AOF's bytes (annotations skipped)."""
    out, i = [], 0
    while i < len(data):
        if data[i:i + 1] == b"#":
            i = data.index(b"\n", i) + 1
            continue
        assert data[i:i + 1] == b"*", i
        start = i
        j = data.index(b"\r\n", i)
        argc = int(data[i + 1:j])
        i = j + 2
        for _ in range(argc):
            j = data.index(b"\r\n", i)
            n = int(data[i + 1:j])
            i = j + 2 + n + 2
        out.append((start, i))
    return out


def aof_server(dir, *extra):
    return ServerProc("amber", dir, ["--appendonly", "yes", "--save", "", *extra]).start()


def fill_sets(s, n, prefix="key"):
    c = s.client()
    p = c.pipeline(transaction=False)
    for i in range(n):
        p.set(f"{prefix}:{i}", "v" * 30)
    p.execute()


def incr_file(dir):
    [f] = list((dir / "appendonlydir").glob("*.incr.aof"))
    return f


def lost_in(text):
    m = re.search(r"\(([\d,]+) complete commands? lost\)", text)
    assert m, text
    return int(m.group(1).replace(",", ""))


def test_check_aof_counts_the_commands_after_damage_in_the_middle(tmp_path):
    d = tmp_path / "a"
    s = aof_server(d)
    fill_sets(s, 20000)
    s.stop()
    incr = incr_file(d)
    data = incr.read_bytes()
    at = 880023
    damaged = next(k for k, (a, b) in enumerate(resp_commands(data)) if a <= at < b)
    cmds = resp_commands(data)
    expected = len(cmds) - damaged - 1
    assert expected > 6000
    with open(incr, "r+b") as f:
        f.seek(at)
        f.write(b"X#7?")
    manifest = d / "appendonlydir" / "appendonly.aof.manifest"
    p = amber("check-aof", manifest, check=1)
    assert lost_in(p.stdout) == expected, p.stdout
    j = json.loads(amber("check-aof", manifest, "--json", check=1).stdout)
    assert j["files"][1]["commands_cut"] == expected and j["files"][1]["commands_exact"] is True
    assert j["files"][1]["commands"] == len(cmds) - 1  # all but the damaged one
    # Asked first: the count is on the question, and "no" changes nothing.
    p = subprocess.run([tool(), "check-aof", "--fix", str(manifest)], input="n\n", capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1
    question = p.stdout[:p.stdout.index("Continue? [y/N]")]
    assert lost_in(question.splitlines()[-1]) == expected
    assert incr.read_bytes()[at:at + 4] == b"X#7?"
    amber("check-aof", "--fix", "--yes", manifest, check=0)
    # What the server loads after the cut: everything before the damaged command.
    s = aof_server(d)
    kept = s.client().dbsize()
    s.stop()
    assert 20000 - kept - 1 == expected


def test_check_aof_counts_what_truncate_to_timestamp_drops(tmp_path):
    d = tmp_path / "a"
    s = aof_server(d, "--aof-timestamp-enabled", "yes")
    fill_sets(s, 300, "before")
    limit = int(time.time())
    while int(time.time()) == limit:
        time.sleep(0.05)
    c = s.client()
    c.flushall()
    fill_sets(s, 200, "after")
    s.stop()
    manifest = d / "appendonlydir" / "appendonly.aof.manifest"
    p = subprocess.run([tool(), "check-aof", "--truncate-to-timestamp", str(limit), str(manifest)],
                       input="n\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Continue? [y/N]" in p.stdout
    # FLUSHALL and the 200 SETs after it.
    assert lost_in(p.stdout) == 201, p.stdout
    amber("check-aof", "--truncate-to-timestamp", limit, "--yes", manifest, check=0)
    s = aof_server(d)
    assert s.client().dbsize() == 300
    s.stop()


def test_check_aof_takes_the_aof_directory(tmp_path):
    d = tmp_path / "a"
    s = aof_server(d)
    fill_sets(s, 10)
    s.stop()
    p = amber("check-aof", d / "appendonlydir", check=0)
    assert "AOF is valid" in p.stdout
    assert "appendonly.aof.manifest" in p.stdout
    p = amber("check-aof", tmp_path, check=2)
    assert "no AOF manifest" in p.stderr


def closed_pipe_run(args, timeout=120):
    """Runs the tool with stdout a pipe nobody reads (closed before it starts)."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([tool(), *map(str, args)], stdout=w, stderr=subprocess.PIPE, timeout=timeout)
    finally:
        os.close(w)
    return p


def test_a_closed_stdout_ends_the_tools_silently(tmp_path):
    d = tmp_path / "a"
    s = aof_server(d)
    fill_sets(s, 3000)
    s.client().bgsave()
    time.sleep(1)
    try:
        runs = {
            "doctor": ["doctor", "--server", f"127.0.0.1:{s.port}"],
            "check-aof": ["check-aof", d / "appendonlydir"],
            "check-rdb --json": ["check-rdb", "--json", d / "dump.rdb"],
        }
        for name, args in runs.items():
            p = closed_pipe_run(args)
            assert p.returncode == -signal.SIGPIPE, (name, p.returncode, p.stderr)
            assert p.stderr == b"", (name, p.stderr)
        # Through a real pipeline too: `| head -1` prints one line and nothing else complains
        # (141 when the tool wrote after head left, 0 when it was done before).
        sh = subprocess.run(f"'{tool()}' check-aof '{d / 'appendonlydir'}' | head -1; echo \"${{PIPESTATUS[0]}}\"",
                            shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60)
        assert sh.stderr == "" and "Checking" in sh.stdout and sh.stdout.split()[-1] in ("0", "141"), sh
    finally:
        s.stop()


def test_a_damaged_rdb_base_gets_advice_that_repairs_it(tmp_path):
    d = tmp_path / "a"
    s = aof_server(d)
    fill_sets(s, 2000)
    c = s.client()
    c.bgrewriteaof()
    for _ in range(100):
        if c.info("persistence")["aof_rewrite_in_progress"] == 0:
            break
        time.sleep(0.05)
    c.set("after", "1")
    repo = tmp_path / "repo"
    backup_id = amber_json("backup", "create", "--from", f"127.0.0.1:{s.port}", "--repo", repo)["entry"]["id"]
    s.stop()
    [base] = list((d / "appendonlydir").glob("*.base.rdb"))
    b = bytearray(base.read_bytes())
    b[len(b) // 2:len(b) // 2 + 4] = b"ZZZZ"
    base.write_bytes(bytes(b))
    # check-aof: P003, truncation cannot fix it, and what can.
    p = amber("check-aof", d / "appendonlydir" / "appendonly.aof.manifest", check=1)
    assert "truncating cannot fix it" in p.stdout
    assert f"amber check-rdb {base}" in p.stdout and "amber restore" in p.stdout
    assert "use --fix" not in p.stdout
    # The advice is right: check-rdb shows where it breaks.
    p = amber("check-rdb", base, check=1)
    assert "RDB is NOT OK" in p.stdout
    # The server refuses, without pointing at --fix.
    srv = ServerProc("amber", d, ["--appendonly", "yes", "--save", ""])
    with pytest.raises(RuntimeError):
        srv.start(timeout=10)
    srv.log.close()
    log = srv.log_path.read_text()
    line = next(x for x in log.splitlines() if "P003" in x)
    assert "check-aof --fix" not in line.replace("amber check-aof --fix cannot", "")
    assert "amber check-rdb" in line and "amber restore" in line
    # And restoring from the backup, as advised, gives a server that starts with the data.
    amber("restore", backup_id, "--repo", repo, "--data-dir", d, check=0)
    s = aof_server(d)
    assert s.client().dbsize() == 2001
    s.stop()


def test_verify_names_the_sha256_mismatch_of_a_flipped_backup(tmp_path):
    s = ServerProc("amber", tmp_path / "src", ["--save", ""]).start()
    try:
        fill_sets(s, 2000)
        repo = tmp_path / "repo"
        e = amber_json("backup", "create", "--from", f"127.0.0.1:{s.port}", "--repo", repo)["entry"]
    finally:
        s.stop()
    obj = repo / "data" / f"{e['id']}.rdb.zst"
    b = bytearray(obj.read_bytes())
    b[len(b) // 2] ^= 0x01
    obj.write_bytes(bytes(b))
    out = amber_json("backup", "verify", e["id"], "--repo", repo, check=1)
    problems = out["results"][0]["problems"]
    import hashlib
    found = hashlib.sha256(bytes(b)).hexdigest()
    assert "SHA-256 mismatch" in problems[0], problems
    assert e["stored_sha256"] in problems[0] and found in problems[0], problems
    assert not any("does not decode" in p for p in problems), problems


def test_backup_labels_amber_and_redis_versions_apart(tmp_path):
    s = ServerProc("amber", tmp_path / "src", ["--save", ""]).start()
    try:
        info = s.client().info("server")
        p = amber("backup", "create", "--from", f"127.0.0.1:{s.port}", "--repo", tmp_path / "repo", "-q", check=0)
        p = amber("backup", "show", "latest", "--repo", tmp_path / "repo", check=0)
    finally:
        s.stop()
    line = next(x for x in p.stdout.splitlines() if "source:" in x)
    assert f"amber {info['amber_version']} (Redis {info['redis_version']} compatible)" in line, line
    assert info["amber_version"] != info["redis_version"]


def test_backup_local_finds_the_data_directory_as_doctor_does(tmp_path):
    d = tmp_path / "data"
    s = ServerProc("amber", d, ["--save", ""]).start()
    try:
        fill_sets(s, 500)
        repo = tmp_path / "repo"
        j = amber_json("backup", "create", "--local", "--from", f"127.0.0.1:{s.port}", "--repo", repo)
        assert j["ok"] and j["entry"]["keys"] == 500
        assert os.path.realpath(j["entry"]["source"]["file"]) == os.path.realpath(d / "dump.rdb")
        # A --dir that is not the server's is still refused.
        other = tmp_path / "other"
        other.mkdir()
        p = amber("backup", "create", "--local", "--dir", other, "--from", f"127.0.0.1:{s.port}", "--repo", repo,
                  check=2)
        assert "is --dir right?" in p.stderr
    finally:
        s.stop()


def test_json_and_quiet_have_help_text():
    for sub in ("list", "show", "verify", "prune"):
        p = amber("backup", sub, "--help", check=0)
        for flag in ("--json", "--quiet") if sub in ("verify", "prune") else ("--json",):
            line = next(x for x in p.stdout.splitlines() if x.strip().startswith(flag) or f", {flag}" in x)
            text = line.split(flag, 1)[1].strip()
            assert text, f"backup {sub} {flag} has no help: {line!r}"


def test_the_cron_line_prints_nothing_on_success_and_errors_on_failure(tmp_path):
    s = ServerProc("amber", tmp_path / "src", ["--save", ""]).start()
    try:
        fill_sets(s, 500)
        repo = tmp_path / "repo"
        env = {**os.environ, "AMBER_BACKUP_REPO": str(repo)}
        line = (f"'{tool()}' backup create --from 127.0.0.1:{s.port} --quiet && "
                f"'{tool()}' backup verify --all --quiet && "
                f"'{tool()}' backup prune --keep-daily 7 --keep-weekly 4 --apply --quiet")
        for _ in range(2):
            p = subprocess.run(line, shell=True, capture_output=True, text=True, env=env, timeout=120)
            assert p.returncode == 0 and p.stdout == "" and p.stderr == "", (p.stdout, p.stderr)
        # Prune kept the newest of each UTC day: one backup, or two when the runs straddled
        # midnight (a CI run did).
        days = [b["time"][:10] for b in amber_json("backup", "list", "--repo", repo)["backups"]]
        assert len(days) == len(set(days)) >= 1, days
        # A damaged backup makes the same line speak up and fail.
        obj = sorted((repo / "data").glob("*.zst"))[0]
        b = bytearray(obj.read_bytes())
        b[len(b) // 2] ^= 0x01
        obj.write_bytes(bytes(b))
        p = subprocess.run(line, shell=True, capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 1 and "NOT OK" in p.stdout and "SHA-256 mismatch" in p.stdout, p.stdout
    finally:
        s.stop()
