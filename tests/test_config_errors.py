"""A redis.conf with several refused lines is reported whole in one start: every refused line
in Redis's FATAL CONFIG FILE ERROR block (file, line number, the line, the reason) with what to
do, then exit 1."""

import subprocess

from conftest import amber_bin, free_port


def start(tmp_path, conf_text, *extra):
    conf = tmp_path / "amber.conf"
    conf.write_text(conf_text)
    p = subprocess.run(
        [amber_bin(), str(conf), "--port", str(free_port()), "--bind", "127.0.0.1", "--dir", str(tmp_path), *extra],
        capture_output=True, text=True, timeout=20, cwd=tmp_path,
    )
    return conf, p


def blocks(output):
    """(header line, location line, '>>> line', reason, hint) for each block."""
    lines = output.splitlines()
    out = []
    for i, l in enumerate(lines):
        if l.startswith("*** FATAL CONFIG FILE ERROR"):
            out.append(tuple(lines[i:i + 5]))
    return out


def test_four_bad_lines_of_four_kinds_in_one_start(tmp_path):
    text = (
        "# a config with four mistakes\n"
        "port 0\n"
        "appendonlyy yes\n"  # 3: unknown directive (a typo)
        "hz 20\n"
        "appendfsync sometimes\n"  # 5: bad value
        "tls-port 6380\n"  # 6: a feature Amber refuses
        "databases 16 32\n"  # 7: wrong number of arguments
        "loglevel notice\n"
    )
    conf, p = start(tmp_path, text)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    found = blocks(out)
    assert [b[1] for b in found] == [
        f"Reading the configuration file '{conf}', at line {n}" for n in (3, 5, 6, 7)
    ], out
    assert [b[2] for b in found] == [
        ">>> 'appendonlyy yes'",
        ">>> 'appendfsync sometimes'",
        ">>> 'tls-port 6380'",
        ">>> 'databases 16 32'",
    ]
    assert found[0][3] == "Bad directive or wrong number of arguments"
    assert found[1][3] == "argument(s) must be one of the following: always, everysec, no"
    assert "TLS" in found[2][3] and "Amber" in found[2][3]
    assert found[3][3] == "wrong number of arguments"
    for b in found:
        assert b[4].startswith("What to do: "), b
    assert "'everysec'" in found[1][4]  # the default to fall back to
    assert "'0'" in found[2][4]
    assert out.rstrip().endswith("4 configuration lines refused; fix them all and start again.")


def test_refused_features_and_options_are_reported_together(tmp_path):
    text = (
        "cluster-enabled yes\n"
        "user alice on >secret ~* +@all bogus\n"
        "rename-command NOSUCH foo\n"
        "rename-command CONFIG cfg\n"  # valid, and a later line depends on it
        "rename-command CONFIG again\n"  # CONFIG is now called cfg: refused
        "rename-command cfg again\n"  # valid
    )
    conf, p = start(tmp_path, text, "--tls-port", "6380")
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    found = blocks(out)
    assert [b[2] for b in found] == [
        ">>> 'cluster-enabled yes'",
        ">>> 'user alice on >secret ~* +@all bogus'",
        ">>> 'rename-command NOSUCH foo'",
        ">>> 'rename-command CONFIG again'",
        ">>> 'tls-port 6380'",
    ], out
    assert "only 'no' is accepted" in found[0][3]
    assert "'no'" in found[0][4]
    assert found[1][3] == "Error in user declaration '~*': Syntax error"  # Redis names argv[j]
    assert found[2][3] == "No such command in rename-command"
    # Command-line options become lines after --port, --bind and --dir, as in Redis: no file name.
    assert found[4][1] == "Reading the configuration file, at line 4"


def test_a_refused_line_in_an_included_file_names_that_file(tmp_path):
    inc = tmp_path / "inc.conf"
    inc.write_text("hz 10\nbogus-directive 1\n")
    conf, p = start(tmp_path, f"include {inc}\nappendonly maybe\n")
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    found = blocks(out)
    assert [b[1] for b in found] == [
        f"Reading the configuration file '{inc}', at line 2",
        f"Reading the configuration file '{conf}', at line 2",
    ], out


def test_a_good_config_still_starts(tmp_path):
    # No refusal: the server starts (and is stopped by the timeout of a short run).
    conf = tmp_path / "ok.conf"
    conf.write_text("hz 20\nappendfsync everysec\nmaxmemory-policy noeviction\nreplicaof no one\n")
    port = free_port()
    p = subprocess.Popen([amber_bin(), str(conf), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        import redis
        import time
        deadline = time.time() + 15
        while True:
            try:
                assert redis.Redis(port=port, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                assert p.poll() is None and time.time() < deadline
                time.sleep(0.05)
    finally:
        p.terminate()
        p.wait(15)


def test_append_names_that_are_paths_are_refused_as_redis_words_it(tmp_path):
    # Redis 7.0.15's texts (config.c isValidAOFfilename / isValidAOFdirname callers).
    conf, p = start(tmp_path, 'appendfilename a/b.aof\nappenddirname "x\\\\y"\nappendfilename ""\ndbfilename "d\\\\u.rdb"\n')
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    reasons = [b[3] for b in blocks(out)]
    assert reasons == [
        "appendfilename can't be a path, just a filename",
        "appenddirname can't be a path, just a dirname",
        "appendfilename can't be empty",
        "dbfilename can't be a path, just a filename",
    ], out
