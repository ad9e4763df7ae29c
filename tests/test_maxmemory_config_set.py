"""CONFIG SET maxmemory below the memory in use evicts at once, as Redis 7.0.15's updateMaxmemory
(startEvictionTimeProc): the keys go without waiting for another command, announced as
`evicted` events, and the log warns that the new limit is under the usage."""

import time

from tests.diff.resp import Conn


def evicted_without_commands(port):
    """Fills 200 keys, subscribes to evicted events, sets a tiny maxmemory and then sends
    nothing more on any connection: returns the number of evicted events seen in 3 s."""
    c = Conn(port, timeout=10)
    sub = Conn(port, timeout=10)
    try:
        c.call("FLUSHALL")
        c.call("CONFIG", "SET", "notify-keyspace-events", "Ee")
        c.call("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
        for i in range(200):
            c.call("SET", f"key{i}", "x" * 1000)
        sub.send(["SUBSCRIBE", "__keyevent@0__:evicted"])
        sub.read()
        assert c.call("CONFIG", "SET", "maxmemory", "1").raw == b"+OK\r\n"
        seen = 0
        deadline = time.monotonic() + 3
        while seen < 200 and time.monotonic() < deadline:
            if sub.ready():
                seen += 1
                sub.read()
            else:
                time.sleep(0.01)
        return seen
    finally:
        c.call("CONFIG", "SET", "maxmemory", "0")
        c.close()
        sub.close()


def test_config_set_maxmemory_evicts_at_once_like_redis(amber_and_redis):
    got = [evicted_without_commands(s.port) for s in amber_and_redis]
    assert got == [200, 200], got
    log = amber_and_redis[0].log_path.read_text()
    assert "WARNING: the new maxmemory value set via CONFIG SET (1) is smaller than the current memory usage" in log
