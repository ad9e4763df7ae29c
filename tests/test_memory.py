"""MEMORY USAGE / DOCTOR / PURGE / HELP against Redis 7.0.15. The byte counts are Amber's own
layout, so they are compared with Redis's only for scale (same order of magnitude); the
argument checks and the nil for a missing key are Redis's exactly."""

import redis


def run(c, *args):
    try:
        return c.execute_command(*args)
    except redis.ResponseError as e:
        return ("error", str(e))


def test_memory_as_redis(amber_and_redis):
    views, sizes = [], []
    for s in amber_and_redis:
        c = s.client()
        view = [run(c, "MEMORY", "USAGE", "nokey"), run(c, "MEMORY", "USAGE", "nokey", "SAMPLES", "-1"),
                run(c, "MEMORY", "USAGE", "nokey", "FOO", "1"), run(c, "MEMORY", "USAGE", "nokey", "SAMPLES", "x"),
                run(c, "MEMORY", "USAGE"), run(c, "MEMORY", "DOCTOR"), run(c, "MEMORY", "PURGE"),
                run(c, "MEMORY", "NOSUCH")]
        c.set("small", "1")
        c.set("big", "x" * 10000)
        c.rpush("list", *[f"element-{i:05}" for i in range(2000)])
        c.hset("hash", mapping={f"field-{i}": "v" * 50 for i in range(1000)})
        c.sadd("ints", *range(100))
        c.zadd("zset", {f"member-{i}": i for i in range(500)})
        got = {k: run(c, "MEMORY", "USAGE", k) for k in ("small", "big", "list", "hash", "ints", "zset")}
        got["list-all"] = run(c, "MEMORY", "USAGE", "list", "SAMPLES", "0")
        sizes.append(got)
        views.append(view)
    assert views[0] == views[1]
    amber, red = sizes
    assert amber["small"] < amber["big"] and amber["big"] >= 10000
    for k in red:
        assert red[k] / 4 <= amber[k] <= red[k] * 4, (k, amber[k], red[k])
    # Uniform elements: sampling 5 or all gives about the same estimate.
    assert abs(amber["list"] - amber["list-all"]) <= amber["list"] // 10


def test_memory_help_lists_what_answers(amber_server):
    c = amber_server.client()
    lines = [line.decode() for line in c.execute_command("MEMORY", "HELP")]
    for sub in [l.split()[0] for l in lines[1:] if not l.startswith(" ")]:
        if sub != "HELP":
            assert not isinstance(run(c, "MEMORY", sub, *(["x"] if sub == "USAGE" else [])), tuple), sub
