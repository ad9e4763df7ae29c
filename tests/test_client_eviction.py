"""maxmemory-clients against Redis 7.0.15: when the clients' buffers together pass the limit,
the biggest evictable client is disconnected (a half-sent big request, a subscriber that
stops reading), CLIENT NO-EVICT clients stay, INFO's evicted_clients counts, and the limit may
be a percentage of maxmemory."""

import socket
import time

import pytest

BIG = 1_200_000


def raw(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def ask(s, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(out)
    time.sleep(0.05)
    return s.recv(65536)


def half_sent_big_set(port, key):
    """A connection that sent all of a big SET but its last byte: its query buffer holds it."""
    s = raw(port)
    head = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(key), key, BIG)
    s.sendall(head + b"x" * (BIG - 1))
    return s


def closed(s, wait=3.0):
    """Whether the server closed the connection (what it had sent before is read first)."""
    s.settimeout(wait)
    try:
        while True:
            if s.recv(1 << 20) == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def scenario(server, limit_args):
    c = server.client()
    for k, v in limit_args:
        c.config_set(k, v)
    small = raw(server.port)
    assert ask(small, "PING") == b"+PONG\r\n"
    # A no-evict client with a half-sent request of half the victim's size: with the victim
    # the clients pass the limit, without it they do not.
    keeper = raw(server.port)
    assert ask(keeper, "CLIENT", "NO-EVICT", "on") == b"+OK\r\n"
    keeper.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nkeep\r\n$%d\r\n" % (BIG // 2) + b"y" * (BIG // 2 - 1))
    time.sleep(0.3)
    got = {"small_after_keeper": ask(small, "PING")}
    victim = half_sent_big_set(server.port, b"victim")
    time.sleep(0.3)
    got["small_after_victim"] = ask(small, "PING")
    got["victim_closed"] = closed(victim)
    got["keeper_closed"] = closed(keeper, 0.3)
    got["evicted_clients"] = c.info("stats")["evicted_clients"]
    # The keeper finishes its request and is served.
    keeper.sendall(b"y\r\n")
    time.sleep(0.2)
    got["keeper_reply"] = keeper.recv(100)
    got["victim_key"] = c.exists("victim")
    for s in (small, keeper, victim):
        s.close()
    c.config_set("maxmemory-clients", "0")
    c.close()
    return got


@pytest.mark.parametrize("limit", [
    [("maxmemory-clients", "1mb")],
    [("maxmemory", "4mb"), ("maxmemory-policy", "allkeys-lru"), ("maxmemory-clients", "25%")],
], ids=["bytes", "percent"])
def test_big_half_sent_request_is_evicted(amber_and_redis, limit):
    got = {s.kind: scenario(s, limit) for s in amber_and_redis}
    assert got["amber"] == got["redis"], got
    g = got["amber"]
    assert g["victim_closed"] and not g["keeper_closed"]
    assert g["evicted_clients"] == 1
    assert g["small_after_victim"] == b"+PONG\r\n"
    assert g["keeper_reply"] == b"+OK\r\n" and g["victim_key"] == 0


def test_a_percentage_of_a_tiny_maxmemory_still_gets_the_floor(amber_and_redis):
    """1% of a 50-byte maxmemory is 0 bytes: Redis still sets the 128 KiB floor (a percentage
    turns the limit on whenever maxmemory is set), so a half-sent 1.2 MB request is evicted."""
    got = {}
    for s in amber_and_redis:
        c = s.client()
        before = c.info("stats")["evicted_clients"]
        c.config_set("maxmemory", "50")
        c.config_set("maxmemory-clients", "1%")
        victim = half_sent_big_set(s.port, b"victim")
        time.sleep(0.3)
        got[s.kind] = {"victim_closed": closed(victim),
                       "evicted": c.info("stats")["evicted_clients"] - before,
                       "shown": c.config_get("maxmemory-clients")}
        victim.close()
        c.config_set("maxmemory-clients", "0")
        c.config_set("maxmemory", "0")
        c.close()
    assert got["amber"] == got["redis"], got
    assert got["amber"]["victim_closed"] and got["amber"]["evicted"] == 1, got


def subscriber_scenario(server):
    c = server.client()
    c.config_set("client-output-buffer-limit", "pubsub 0 0 0")
    c.config_set("maxmemory-clients", "1mb")
    sub = raw(server.port)
    sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sub_id = int(ask(sub, "CLIENT", "ID")[1:-2])
    assert ask(sub, "SUBSCRIBE", "feed").startswith(b"*3\r\n$9\r\nsubscribe")
    pub = server.client()
    # 100 KB messages, up to 40 MB: beyond what the kernel's socket buffers take in.
    payload = "p" * 100_000
    delivered = 0
    for _ in range(400):
        delivered = pub.publish("feed", payload)
        if delivered == 0:
            break
    # (Not read from the socket: what the kernel buffered takes minutes through a 4 KB window.)
    got = {"last_delivered": delivered, "evicted_clients": c.info("stats")["evicted_clients"],
           "subscriber_closed": c.client_list(client_id=[sub_id]) == []}
    sub.close()
    pub.close()
    c.config_set("maxmemory-clients", "0")
    c.close()
    return got


def test_subscriber_that_stops_reading_is_evicted(amber_and_redis):
    got = {s.kind: subscriber_scenario(s) for s in amber_and_redis}
    assert got["amber"] == got["redis"], got
    assert got["amber"] == {"last_delivered": 0, "evicted_clients": 1, "subscriber_closed": True}


def test_config_values_as_redis(amber_and_redis):
    for s in amber_and_redis:
        c = s.client()
        for v, shown in [("10%", "10%"), ("1mb", "1048576"), ("0", "0"), ("100%", "100%")]:
            c.config_set("maxmemory-clients", v)
            assert c.config_get("maxmemory-clients") == {"maxmemory-clients": shown}, (s.kind, v)
        c.close()


def test_recent_max_input_buffer_is_measured(amber_and_redis):
    """INFO's client_recent_max_input_buffer follows the biggest query buffer of the last
    seconds (it was a constant): a half-sent 100 KB request shows, on both servers."""
    for server in amber_and_redis:
        c = server.client()
        assert c.info("clients")["client_recent_max_input_buffer"] < 65536, server.kind
        s = half_sent_big_set(server.port, b"k")
        time.sleep(1.2)
        assert c.info("clients")["client_recent_max_input_buffer"] >= BIG - 1, server.kind
        s.close()
        c.close()
