"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH, compared byte for byte with Redis 7.0.15 and
through redis-py in both protocols."""

import pytest
import redis

from test_connection import same_as_redis


@pytest.fixture(autouse=True)
def clean(amber_server, redis_server):
    for s in (amber_server, redis_server):
        s.client().flushall()


TX_CASES = [
    b"MULTI\r\nSET a 1\r\nGET a\r\nEXEC\r\n",
    b"MULTI\r\nMULTI\r\nSET a 1\r\nEXEC\r\n",
    b"EXEC\r\nDISCARD\r\nMULTI\r\nDISCARD\r\nDISCARD\r\n",
    b"MULTI\r\nSET a\r\nSET b 1\r\nEXEC\r\nGET b\r\n",
    b"MULTI\r\nNOSUCH\r\nEXEC\r\n",
    b"MULTI\r\nWATCH a\r\nEXEC\r\n",
    b"WATCH a\r\nMULTI\r\nSET a 1\r\nEXEC\r\n",
    b"MULTI\r\nSET a x\r\nINCR a\r\nGET a\r\nEXEC\r\n",
    b"MULTI\r\nSELECT 3\r\nSET a 3\r\nEXEC\r\nGET a\r\nSELECT 0\r\nGET a\r\n",
    b"MULTI\r\nPING\r\nECHO x\r\nEXEC\r\nMULTI\r\nEXEC\r\n",
    b"WATCH\r\nUNWATCH x\r\nMULTI x\r\nEXEC x\r\nDISCARD x\r\n",
    b"MULTI\r\nSUBSCRIBE ch\r\nEXEC\r\nPING\r\n",
    b"SET a 1\r\nWATCH a\r\nSET a 2\r\nMULTI\r\nGET a\r\nEXEC\r\n",
    b"SET a 1\r\nWATCH a\r\nUNWATCH\r\nSET a 2\r\nMULTI\r\nGET a\r\nEXEC\r\n",
    b"WATCH a\r\nFLUSHALL\r\nMULTI\r\nPING\r\nEXEC\r\n",
    b"SET a 1\r\nWATCH a\r\nFLUSHDB\r\nMULTI\r\nPING\r\nEXEC\r\n",
    b"WATCH nokey\r\nMULTI\r\nPING\r\nEXEC\r\n",
    b"MULTI\r\nSET a 1\r\nDISCARD\r\nGET a\r\n",
    b"MULTI\r\nQUIT\r\n",
]


@pytest.mark.parametrize("payload", TX_CASES)
def test_transactions_same_as_redis(amber_server, redis_server, payload):
    same_as_redis(amber_server, redis_server, payload)


def test_watch_fails_when_another_client_writes(r, amber_server):
    other = amber_server.client(decode_responses=True)
    r.set("bal", "10")
    with r.pipeline() as p:
        p.watch("bal")
        assert p.get("bal") == "10"
        other.set("bal", "20")
        p.multi()
        p.set("bal", "11")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("bal") == "20"


def test_watch_succeeds_when_untouched(r):
    r.set("bal", "10")
    with r.pipeline() as p:
        p.watch("bal")
        p.multi()
        p.incr("bal")
        p.get("bal")
        assert p.execute() == [11, "11"]


def test_watch_other_db_key_not_confused(r, amber_server):
    other = amber_server.client(decode_responses=True, db=1)
    r.set("k", "1")
    with r.pipeline() as p:
        p.watch("k")
        other.set("k", "x")  # same name, another database
        p.multi()
        p.set("k", "2")
        assert p.execute() == [True]


def test_exec_aborts_after_queue_error(r):
    with r.pipeline() as p:
        p.set("x", "1")
        p.execute_command("NOSUCH")
        with pytest.raises(redis.ResponseError):
            p.execute()
    assert r.get("x") is None


def test_runtime_errors_inside_exec_do_not_abort(r):
    with r.pipeline() as p:
        p.set("s", "text")
        p.incr("s")
        p.set("t", "ok")
        res = p.execute(raise_on_error=False)
    assert res[0] is True and isinstance(res[1], redis.ResponseError) and res[2] is True
    assert r.get("t") == "ok"
