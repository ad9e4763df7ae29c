"""SORT and SORT_RO against Redis 7.0.15 on fixed cases: numeric conversions Redis refuses
(the differential stream tolerates a stale-errno refusal of Redis's, see tests/diff/runner.py,
so the refusals are pinned here), BY/GET patterns with hash fields, LIMIT, STORE."""

import pytest
import redis

CASES = [
    [["RPUSH", "n", "3", "1", "2"], ["SORT", "n"], ["SORT", "n", "DESC"], ["SORT", "n", "LIMIT", "1", "1"]],
    [["RPUSH", "bad", "1", "x"], ["SORT", "bad"], ["SORT", "bad", "ALPHA"]],
    [["RPUSH", "big", "1", "1e400"], ["SORT", "big"]],
    [["RPUSH", "odd", "", "0x10", " 5", "-inf", "inf", "1e-400"], ["SORT", "odd"]],
    [["RPUSH", "odd2", "", "0x10", " 5", "-inf", "inf"], ["SORT", "odd2"], ["SORT", "odd2", "DESC"]],
    [["RPUSH", "ids", "1", "2", "3"], ["SET", "w_1", "30"], ["SET", "w_2", "x"], ["SORT", "ids", "BY", "w_*"]],
    [["RPUSH", "ids2", "1", "2", "3"], ["SET", "w2_1", "30"], ["SET", "w2_2", "10"],
     ["HSET", "o_1", "name", "one"], ["HSET", "o_3", "name", "three"],
     ["SORT", "ids2", "BY", "w2_*", "GET", "#", "GET", "o_*->name", "GET", "w2_*"],
     ["SORT", "ids2", "BY", "o_*->name", "ALPHA", "DESC", "GET", "o_*->name"],
     ["SORT", "ids2", "BY", "nosort", "DESC", "LIMIT", "0", "2"],
     ["SORT", "ids2", "BY", "w2_*", "STORE", "dst"], ["LRANGE", "dst", "0", "-1"], ["TYPE", "dst"],
     ["SORT_RO", "ids2", "STORE", "dst"], ["SORT", "nokey", "STORE", "dst"], ["EXISTS", "dst"]],
    [["SADD", "s", "b", "a", "c"], ["SORT", "s", "BY", "nosort", "STORE", "sd"], ["LRANGE", "sd", "0", "-1"],
     ["SORT", "s", "LIMIT", "x", "1"], ["SORT", "s", "FOO"], ["SORT", "s", "ALPHA", "LIMIT", "5", "1"]],
    [["ZADD", "z", "1", "b", "2", "a"], ["OBJECT", "ENCODING", "z"], ["SORT_RO", "z", "BY", "nosort", "DESC"],
     ["OBJECT", "ENCODING", "z"], ["SET", "str", "1"], ["SORT", "str"]],
]


def run(c, steps):
    out = []
    for cmd in steps:
        try:
            out.append(c.execute_command(*cmd))
        except redis.ResponseError as e:
            out.append(("error", str(e)))
    return out


@pytest.mark.parametrize("steps", CASES, ids=[c[0][1] for c in CASES])
def test_sort_as_redis(amber_server, redis_server, steps):
    a, r = amber_server.client(), redis_server.client()
    for c in (a, r):
        c.flushall()
    got_a, got_r = run(a, steps), run(r, steps)
    assert got_a == got_r
    assert a.execute_command("DEBUG", "DIGEST") == r.execute_command("DEBUG", "DIGEST")
