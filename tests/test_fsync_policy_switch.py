"""CONFIG SET appendfsync at runtime, in every direction, with writes before and after: each
write is answered (the AOF's writer thread is told the new policy on every flush; a switch
to `always` once left the queued bytes unwritten and the client waiting forever), and after
a restart every acknowledged write is there."""

import itertools

from conftest import ServerProc

POLICIES = ["everysec", "always", "no"]


def test_every_policy_switch_keeps_answering_and_loses_nothing(tmp_path):
    s = ServerProc("amber", tmp_path, ["--appendonly", "yes", "--appendfsync", "everysec"]).start()
    try:
        c = s.client(socket_timeout=5)
        n = 0
        for before, after in itertools.permutations(POLICIES, 2):
            assert c.config_set("appendfsync", before)
            for _ in range(50):
                n += 1
                c.rpush("journal", n)
            assert c.config_set("appendfsync", after)
            # A timeout here (5 s) is the hang this test is about.
            for _ in range(50):
                n += 1
                c.rpush("journal", n)
            pipe = c.pipeline(transaction=False)
            for _ in range(100):
                n += 1
                pipe.rpush("journal", n)
            pipe.execute()
        assert c.llen("journal") == n
        s.kill9()
        s = ServerProc("amber", tmp_path, ["--appendonly", "yes"]).start()
        got = [int(x) for x in s.client().lrange("journal", 0, -1)]
        assert got == list(range(1, n + 1))
    finally:
        s.stop()
