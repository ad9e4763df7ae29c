"""client-output-buffer-limit for pub/sub and normal clients, against Redis 7.0.15: a
subscriber that stops reading is disconnected at the hard limit, or once over the soft limit
for longer than its seconds; the server's memory stays bounded; CLIENT LIST and INFO show the
pending output."""

import socket
import time

from conftest import ServerProc, resp

MSG = b"x" * (100 * 1024)


def stalled_subscriber(port, name):
    """A subscriber that never reads: a small receive buffer, and no recv after SUBSCRIBE."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(resp("CLIENT", "SETNAME", name) + resp("SUBSCRIBE", "ch"))
    time.sleep(0.2)
    return s


def listed(c, name):
    return [x for x in c.client_list() if x["name"] == name]


def publish_until_gone(c, name, pause, deadline_s, peak):
    start = time.time()
    while time.time() - start < deadline_s:
        c.publish("ch", MSG)
        here = listed(c, name)
        if not here:
            return time.time() - start
        peak[0] = max(peak[0], int(here[0]["omem"]))
        time.sleep(pause)
    return None


def test_stalled_subscriber_is_dropped_at_the_hard_limit(tmp_path):
    for kind in ("amber", "redis"):
        s = ServerProc(kind, tmp_path / kind, ["--client-output-buffer-limit", "pubsub 2mb 0 0"]).start()
        try:
            c = s.client(decode_responses=True)
            base = c.info("memory")["used_memory"]
            sub = stalled_subscriber(s.port, "slow")
            peak = [0]
            took = publish_until_gone(c, "slow", 0.0, 20, peak)
            assert took is not None, kind
            # The pending output grew up to the limit, and is gone with the client.
            assert 0 < peak[0] <= 2 * 1024 * 1024 + len(MSG) + 1024, (kind, peak)
            assert c.info("memory")["used_memory"] < base + 8 * 1024 * 1024, kind
            assert c.info("clients")["connected_clients"] == 1
            # More messages go nowhere and cost nothing.
            for _ in range(50):
                assert c.publish("ch", MSG) == 0
            sub.close()
        finally:
            s.stop()


def test_stalled_subscriber_is_dropped_after_the_soft_limit_seconds(tmp_path):
    for kind in ("amber", "redis"):
        s = ServerProc(kind, tmp_path / kind, ["--client-output-buffer-limit", "pubsub 0 512kb 2"]).start()
        try:
            c = s.client(decode_responses=True)
            sub = stalled_subscriber(s.port, "slow")
            peak = [0]
            took = publish_until_gone(c, "slow", 0.05, 15, peak)
            assert took is not None, kind
            # Over the soft limit for more than 2 s (Redis counts whole seconds), and not
            # dropped before: no hard limit is set.
            assert took >= 2.0, (kind, took)
            assert peak[0] >= 512 * 1024, (kind, peak)
            sub.close()
        finally:
            s.stop()


def test_recent_max_output_buffer_and_normal_class(new_amber):
    s = new_amber("--client-output-buffer-limit", "normal 1mb 0 0")
    c = s.client(decode_responses=True)
    sub = stalled_subscriber(s.port, "slow")
    for _ in range(100):
        c.publish("ch", MSG)
    time.sleep(0.5)
    # The cron sampled the subscriber's pending output.
    assert c.info("clients")["client_recent_max_output_buffer"] > 0
    sub.close()
    # A normal client whose reply passes the normal class's hard limit is closed.
    c.set("big", "z" * (2 * 1024 * 1024))
    with socket.create_connection(("127.0.0.1", s.port)) as raw:
        raw.sendall(resp("GET", "big"))
        got = b""
        while True:
            chunk = raw.recv(65536)
            if not chunk:
                break
            got += chunk
        assert len(got) < 2 * 1024 * 1024
    assert c.ping()
