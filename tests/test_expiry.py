"""Expiry: lazy (an expired key is never returned) and active (the cycle removes keys nobody
reads), millisecond accuracy, and DEBUG SET-ACTIVE-EXPIRE."""

import time


def test_expired_key_never_returned(r):
    r.set("k", "v", px=60)
    assert r.get("k") == "v"
    time.sleep(0.08)
    assert r.get("k") is None
    assert r.exists("k") == 0
    assert r.ttl("k") == -2


def test_millisecond_accuracy(r):
    r.set("k", "v", px=150)
    pttl = r.pttl("k")
    assert 100 < pttl <= 150
    time.sleep(0.1)
    assert r.get("k") == "v"
    time.sleep(0.1)
    assert r.get("k") is None


def test_active_cycle_removes_unread_keys(r):
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    pipe = r.pipeline(transaction=False)
    # 1 s to live: a loaded machine must not expire them before DBSIZE counts them.
    for i in range(2000):
        pipe.set(f"v{i}", "x", px=1000)
    for i in range(100):
        pipe.set(f"p{i}", "x")
    pipe.execute()
    assert r.dbsize() == 2100
    deadline = time.time() + 10
    while r.dbsize() > 100 and time.time() < deadline:
        time.sleep(0.05)
    # DBSIZE counts keys still in the table: only the active cycle can have removed them.
    assert r.dbsize() == 100
    assert r.info("stats")["expired_keys"] >= 2000


def test_active_expire_can_be_disabled(r):
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        for i in range(50):
            r.set(f"d{i}", "x", px=20)
        time.sleep(0.3)
        assert r.dbsize() == 50
        assert r.get("d1") is None  # lazily expired on access
        assert r.dbsize() == 49
    finally:
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
