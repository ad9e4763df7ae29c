"""List commands, blocking included, against Redis 7.0.15.

Exactness is checked on raw RESP bytes: the same commands go to Amber and to the real Redis
(fixture `redis_server`) in RESP2 and RESP3, and every reply must be byte-identical. Blocking
scenarios run the same steps with several connections on both servers and compare transcripts.
redis-py tests (fixtures `r`/`rb`) cover the behaviour as a client library sees it."""

import select
import socket
import threading
import time

import pytest
import redis

# ---------------------------------------------------------------------------------------------
# A raw RESP connection: replies come back as the exact bytes the server sent.


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, (int, float)):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def reply_end(buf, pos=0):
    """Index just past the complete reply starting at `pos`, or None if incomplete."""
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        return None
    kind, line, after = buf[pos:pos + 1], buf[pos + 1:nl], nl + 2
    if kind in b"+-:_,#(":
        return after
    if kind in b"$=!":
        n = int(line)
        if n < 0:
            return after
        return after + n + 2 if len(buf) >= after + n + 2 else None
    if kind in b"*~>%|":
        n = int(line)
        if n < 0:
            return after
        if kind in b"%|":
            n *= 2
        for _ in range(n):
            after = reply_end(buf, after)
            if after is None:
                return None
        if kind == b"|":  # an attribute precedes the real reply
            return reply_end(buf, after)
        return after
    raise AssertionError(f"bad RESP at {pos}: {buf[pos:pos + 40]!r}")


class Raw:
    def __init__(self, port, proto=2):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        if proto == 3:
            assert self.cmd("HELLO", "3").startswith(b"%")

    def send(self, *args):
        self.sock.sendall(encode(args))

    def ready(self, wait=0.0):
        """Whether a complete reply arrives within `wait` seconds."""
        deadline = time.time() + wait
        while reply_end(self.buf) is None if self.buf else True:
            left = deadline - time.time()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return False
            data = self.sock.recv(65536)
            if not data:
                return False
            self.buf += data
        return True

    def read(self, wait=5.0):
        assert self.ready(wait), "no reply"
        end = reply_end(self.buf)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def cmd(self, *args):
        self.send(*args)
        return self.read()

    def close(self):
        self.sock.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto(request):
    return request.param


@pytest.fixture
def pair(proto, amber_server, redis_server):
    """Raw connections to Amber and to Redis, same protocol, both flushed."""
    a, b = Raw(amber_server.port, proto), Raw(redis_server.port, proto)
    assert a.cmd("FLUSHALL") == b.cmd("FLUSHALL") == b"+OK\r\n"
    yield a, b
    a.close()
    b.close()


def same(pair, *cmds):
    """Sends each command to both servers; every reply must be byte-identical. Returns them."""
    a, b = pair
    got = []
    for c in cmds:
        args = c.split() if isinstance(c, str) else list(c)
        ra, rb = a.cmd(*args), b.cmd(*args)
        assert ra == rb, f"{args}: amber {ra!r} != redis {rb!r}"
        got.append(ra)
    return got


WT = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

# ---------------------------------------------------------------------------------------------
# Exact replies, compared with Redis.

SCRIPTS = {
    "push": [
        "LPUSH k a b c", "RPUSH k d e", "LRANGE k 0 -1", "LPUSHX k z", "RPUSHX k y",
        "LPUSHX nokey a", "RPUSHX nokey a", "EXISTS nokey", "LLEN k", "LLEN nokey",
        "RPUSH k 12345 -7", "LRANGE k -2 -1",
        "SET s v", "LPUSH s a", "RPUSH s a", "LPUSHX s a", "RPUSHX s a", "LLEN s",
        "LPUSH k", "LPUSHX k", "RPUSH",
    ],
    "pop": [
        "RPUSH k a b c d e", "LPOP k", "RPOP k", "LPOP k 0", "RPOP k 0", "LPOP k 2",
        "RPOP k 10", "EXISTS k", "LPOP k", "LPOP k 1", "LPOP k 0", "RPOP k", "RPOP k 3",
        "RPUSH k a", "LPOP k -1", "LPOP k x", "RPOP k 1.5", "LPOP k 1 2", "RPOP k 1 2 3",
        "LPOP k 9223372036854775807", "EXISTS k", "SET s v", "LPOP s", "RPOP s 2", "LPOP s -1",
        "LPOP s 0",
    ],
    "index_set": [
        "RPUSH k a b c", "LINDEX k 0", "LINDEX k -1", "LINDEX k 3", "LINDEX k -4",
        "LINDEX k x", "LINDEX nokey x", "LINDEX nokey 0", "LINDEX k 9223372036854775807",
        "LINDEX k -9223372036854775808", "LSET k 1 B", "LSET k -1 C", "LRANGE k 0 -1",
        "LSET k 3 x", "LSET k -4 x", "LSET k x y", "LSET nokey x y", "LSET nokey 0 y",
        "SET s v", "LINDEX s 0", "LINDEX s x", "LSET s 0 x", "LSET s x x",
    ],
    "range_trim": [
        "RPUSH k 0 1 2 3 4 5 6 7 8 9", "LRANGE k 0 -1", "LRANGE k 2 4", "LRANGE k -3 -1",
        "LRANGE k -100 2", "LRANGE k 5 2", "LRANGE k 10 20", "LRANGE k 8 100",
        "LRANGE k -9223372036854775808 9223372036854775807", "LRANGE k a 1", "LRANGE k 1 b",
        "LRANGE nokey 0 -1", "LRANGE nokey a 1", "LTRIM k 1 -2", "LRANGE k 0 -1",
        "LTRIM k -3 100", "LRANGE k 0 -1", "LTRIM k a 1", "LTRIM nokey 0 1", "LTRIM nokey a 1",
        "LTRIM k 5 1", "EXISTS k", "RPUSH k a", "LTRIM k 0 0", "LRANGE k 0 -1",
        "SET s v", "LRANGE s 0 1", "LRANGE s a 1", "LTRIM s 0 1",
    ],
    "insert_rem": [
        "RPUSH k a b c b", "LINSERT k BEFORE b X", "LINSERT k after b Y", "LRANGE k 0 -1",
        "LINSERT k before nope Z", "LINSERT k middle b Z", "LINSERT nokey before a b",
        "LINSERT nokey middle a b", "EXISTS nokey", "RPUSH r a b a c a b a",
        "LREM r 2 a", "LRANGE r 0 -1", "LREM r -1 a", "LRANGE r 0 -1", "LREM r 0 b",
        "LREM r 0 zz", "LREM r x a", "LREM nokey x a", "LREM nokey 1 a", "LREM r 0 a",
        "LREM r 0 c", "EXISTS r", "SET s v", "LINSERT s before a b", "LINSERT s x a b",
        "LREM s 1 a", "LREM s x a",
    ],
    "lpos": [
        "RPUSH k a b a c a d", "LPOS k a", "LPOS k a RANK 2", "LPOS k a RANK -1",
        "LPOS k a RANK -3", "LPOS k a RANK 4", "LPOS k a COUNT 0", "LPOS k a COUNT 2",
        "LPOS k a RANK -1 COUNT 2", "LPOS k a RANK 2 COUNT 0 MAXLEN 3", "LPOS k a MAXLEN 1",
        "LPOS k a RANK -1 MAXLEN 1", "LPOS k x", "LPOS k x COUNT 1", "LPOS k a RANK 0",
        "LPOS k a RANK x", "LPOS k a COUNT -1", "LPOS k a COUNT x", "LPOS k a MAXLEN -1",
        "LPOS k a MAXLEN x", "LPOS k a FOO", "LPOS k a RANK", "LPOS k a COUNT 1 COUNT 3",
        "LPOS k a rank 1 rank 3", "LPOS k a RANK -9223372036854775808",
        "LPOS k a RANK -9223372036854775807", "LPOS k a RANK 9223372036854775807",
        "LPOS nokey a", "LPOS nokey a COUNT 0", "LPOS nokey a RANK 0", "LPOS nokey a FOO",
        "SET s v", "LPOS s a", "LPOS s a COUNT 1", "LPOS s a RANK 0",
    ],
    "move": [
        "RPUSH src a b c", "LMOVE src dst LEFT RIGHT", "LMOVE src dst right left",
        "LRANGE src 0 -1", "LRANGE dst 0 -1", "RPOPLPUSH src dst", "EXISTS src",
        "RPOPLPUSH src dst", "LMOVE src dst LEFT LEFT", "LMOVE dst dst LEFT RIGHT",
        "LRANGE dst 0 -1", "RPUSH one x", "RPOPLPUSH one one", "LRANGE one 0 -1",
        "LMOVE src dst UP LEFT", "LMOVE src dst LEFT DOWN", "LMOVE nokey dst up left",
        "SET s v", "LMOVE s dst LEFT LEFT", "LMOVE dst s LEFT LEFT", "LRANGE dst 0 -1",
        "RPOPLPUSH dst s", "RPOPLPUSH nokey s", "RPOPLPUSH s nokey", "EXISTS nokey",
    ],
    "lmpop": [
        "RPUSH a 1 2 3", "RPUSH b 4 5 6 7", "LMPOP 2 nokey a LEFT", "LMPOP 2 a b RIGHT COUNT 10",
        "EXISTS a", "LMPOP 2 a b left count 2", "LMPOP 1 b RIGHT COUNT 1", "LMPOP 1 b LEFT",
        "LMPOP 2 a b LEFT", "LMPOP 0 a LEFT", "LMPOP -1 a LEFT", "LMPOP x a LEFT",
        "LMPOP 2 a LEFT", "LMPOP 1 a MIDDLE", "LMPOP 1 a LEFT COUNT 0", "LMPOP 1 a LEFT COUNT -1",
        "LMPOP 1 a LEFT COUNT x", "LMPOP 1 a LEFT COUNT 1 COUNT 2", "LMPOP 1 a LEFT FOO",
        "LMPOP 1 a LEFT COUNT", "LMPOP 9223372036854775807 a LEFT", "LMPOP 2147483648 a LEFT",
        "LMPOP 1", "LMPOP 1 a", "SET s v", "RPUSH c x", "LMPOP 2 s c LEFT", "LMPOP 2 c s LEFT",
        "LMPOP 1 s LEFT", "LMPOP 1 c LEFT",
    ],
    "blocking_no_wait": [
        "RPUSH a 1 2 3", "RPUSH b x", "BLPOP nokey a b 0", "BRPOP nokey a 0.5", "BLPOP b a 1",
        "EXISTS b", "BLPOP nokey 0.01", "BRPOP nokey 0.01", "BLMPOP 0.01 2 nokey a RIGHT COUNT 5",
        "RPUSH a 1 2 3", "BLMPOP 0 1 a LEFT", "BLMOVE a d LEFT RIGHT 0", "BRPOPLPUSH a d 0",
        "BLMOVE nokey d LEFT RIGHT 0.01", "BRPOPLPUSH nokey d 0.01", "LRANGE d 0 -1",
        "SET s v", "BLPOP nokey s 0", "BLPOP d s 0", "BRPOP s 0", "BLMOVE s d LEFT LEFT 0",
        "BLMOVE d s LEFT LEFT 0", "BRPOPLPUSH s d 0", "BRPOPLPUSH d s 0", "BLMPOP 0 1 s LEFT",
        "BLPOP k x", "BLPOP k -1", "BLPOP k nan", "BLPOP k inf", "BLPOP k 1e400",
        "BLPOP k 9.3e15", "BLPOP k 1e5000", "BRPOPLPUSH k d x", "BLMOVE k d LEFT LEFT -1",
        "BLMOVE k d LEFT UP x", "BLMOVE k d UP LEFT -1", "BLMPOP x 1 k LEFT", "BLMPOP -1 1 k LEFT",
        "BLMPOP x 0 k LEFT", "BLMPOP x 1 k MIDDLE", "BLMPOP x 1 k LEFT COUNT 0", "BLMPOP 0 1",
        "BLPOP k", "BLMOVE k d LEFT LEFT", "BRPOPLPUSH k d",
    ],
    "multi": [
        "MULTI", "BLPOP e 0", "BRPOP e 0", "BLMOVE e d left left 0", "BRPOPLPUSH e d 0",
        "BLMPOP 0 1 e left", "BLPOP e x", "RPUSH e v", "BLPOP e 0", "EXEC",
        "MULTI", "LPUSH k a", "BRPOPLPUSH k d 0", "BLMOVE d k RIGHT LEFT 10", "EXEC",
        "LRANGE k 0 -1", "LRANGE d 0 -1",
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_replies_as_redis(pair, name):
    same(pair, *SCRIPTS[name])


def test_binary_and_large_elements(pair):
    big = "x" * 5000
    same(pair, ("RPUSH", "k", "", big, "a\r\nb", "\x00\xff", "12", "-0", "3.0"), ("LRANGE", "k", "0", "-1"),
         ("LPOS", "k", big), ("LPOS", "k", ""), ("LREM", "k", "0", "12"), ("LINSERT", "k", "AFTER", "", "e"),
         ("LRANGE", "k", "0", "-1"), ("LINDEX", "k", "1"))


def test_arity_errors(pair):
    same(pair, "LLEN", "LLEN a b", "LINDEX a", "LSET a 1", "LRANGE a 0", "LTRIM a 0", "LREM a 0",
         "LINSERT a before x", "RPOPLPUSH a", "LMOVE a b left", "BLMOVE a b left right",
         "BRPOPLPUSH a b", "BLPOP a", "BRPOP", "BLMPOP 0 1", "LPOS a", "LPOP", "RPOP")


def test_long_list(r):
    r.rpush("big", *[str(i) * 20 for i in range(600)])
    assert r.llen("big") == 600
    assert r.lindex("big", -1) == "599" * 20
    assert r.lpos("big", "5" * 20) == 5


# ---------------------------------------------------------------------------------------------
# Behaviour through redis-py.


def test_push_pop_roundtrip(r):
    assert r.lpush("k", "a", "b") == 2
    assert r.rpush("k", "c") == 3
    assert r.lrange("k", 0, -1) == ["b", "a", "c"]
    assert r.lpop("k") == "b"
    assert r.rpop("k", 5) == ["c", "a"]
    assert r.exists("k") == 0
    assert r.lpop("k") is None
    assert r.lpop("k", 2) is None
    assert r.lpushx("k", "a") == 0
    assert r.exists("k") == 0


def test_wrongtype_everywhere(r):
    r.set("s", "v")
    for call in (lambda: r.lpush("s", 1), lambda: r.llen("s"), lambda: r.lrange("s", 0, 1),
                 lambda: r.lmove("s", "d"), lambda: r.blpop(["s"], 0.1), lambda: r.lpos("s", "a")):
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            call()


def test_lmove_rotation(rb):
    rb.rpush("k", "a", "b", "c")
    assert rb.lmove("k", "k", "LEFT", "RIGHT") == b"a"
    assert rb.lrange("k", 0, -1) == [b"b", b"c", b"a"]
    assert rb.rpoplpush("k", "k") == b"a"
    assert rb.lrange("k", 0, -1) == [b"a", b"b", b"c"]


def test_writes_touch_watched_keys(r, amber_server):
    r.rpush("k", "a", "b")
    other = amber_server.client(decode_responses=True)
    for change in (lambda: other.rpush("k", "c"), lambda: other.ltrim("k", 0, -1),
                   lambda: other.lset("k", 0, "z"), lambda: other.lpop("k")):
        p = r.pipeline()
        p.watch("k")
        change()
        p.multi()
        p.llen("k")
        with pytest.raises(redis.WatchError):
            p.execute()
    # A no-op LREM does not touch the key.
    p = r.pipeline()
    p.watch("k")
    other.lrem("k", 0, "nothing")
    p.multi()
    p.llen("k")
    assert p.execute() == [2]
    other.close()


def test_keyspace_hits_count_reads_only(r):
    r.config_resetstat()
    r.rpush("k", "a")
    r.lrange("k", 0, -1)
    r.lrange("none", 0, -1)
    r.lpop("none")
    info = r.info("stats")
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (1, 1)


# ---------------------------------------------------------------------------------------------
# Blocking: the same scenario on both servers, transcripts compared.


def on_both(amber_server, redis_server, proto, scenario):
    out = []
    for srv in (amber_server, redis_server):
        conns = []

        def conn():
            c = Raw(srv.port, proto)
            conns.append(c)
            return c

        admin = conn()
        admin.cmd("FLUSHALL")
        try:
            out.append(scenario(conn))
        finally:
            for c in conns:
                c.close()
    assert out[0] == out[1], f"amber {out[0]!r} != redis {out[1]!r}"
    return out[0]


def settle():
    time.sleep(0.05)


def test_wakeup_fifo_order(amber_server, redis_server, proto):
    def scenario(conn):
        a, b, c, p = conn(), conn(), conn(), conn()
        a.send("BLPOP", "k", "0")
        settle()
        b.send("BRPOP", "k", "0")
        settle()
        c.send("BLPOP", "k", "0")
        settle()
        got = [p.cmd("RPUSH", "k", "1", "2")]
        got += [a.read(), b.read()]
        got.append(c.ready(0.1))
        got.append(p.cmd("LPUSH", "k", "3"))
        got.append(c.read())
        got.append(p.cmd("EXISTS", "k"))
        return got

    t = on_both(amber_server, redis_server, proto, scenario)
    assert t[1].endswith(b"$1\r\n1\r\n") and t[2].endswith(b"$1\r\n2\r\n") and t[3] is False


def test_timeout_replies(amber_server, redis_server, proto):
    def scenario(conn):
        c = conn()
        got = []
        for cmd in (["BLPOP", "e", "f", "0.1"], ["BRPOP", "e", "0.1"], ["BLMOVE", "e", "d", "LEFT", "RIGHT", "0.1"],
                    ["BRPOPLPUSH", "e", "d", "0.1"], ["BLMPOP", "0.1", "2", "e", "f", "LEFT", "COUNT", "3"]):
            start = time.time()
            c.send(*cmd)
            assert not c.ready(0.05)
            got.append(c.read(2))
            assert 0.08 <= time.time() - start < 1.5
        got.append(c.cmd("PING"))
        return got

    t = on_both(amber_server, redis_server, proto, scenario)
    null = b"*-1\r\n" if proto == 2 else b"_\r\n"
    assert t[:5] == [null] * 5


def test_multi_key_and_ready_key_preference(amber_server, redis_server, proto):
    def scenario(conn):
        a, b, p = conn(), conn(), conn()
        a.send("BLPOP", "k1", "k2", "0")
        settle()
        b.send("BLPOP", "k1", "0")
        settle()
        # k2 becomes ready first: a is served from k2 although k1 also has data.
        got = [p.cmd("MULTI"), p.cmd("RPUSH", "k2", "x"), p.cmd("RPUSH", "k1", "y"), p.cmd("EXEC")]
        got += [a.read(), b.read()]
        a.send("BRPOP", "k3", "k4", "0")
        settle()
        got.append(p.cmd("RPUSH", "k4", "z"))
        got.append(a.read())
        return got

    t = on_both(amber_server, redis_server, proto, scenario)
    assert b"k2" in t[4] and b"k1" in t[5] and b"k4" in t[7]


def test_wrong_type_or_emptied_key_keeps_clients_waiting(amber_server, redis_server, proto):
    def scenario(conn):
        a, b, p = conn(), conn(), conn()
        a.send("BLPOP", "k", "0")
        settle()
        b.send("BLPOP", "k", "0")
        settle()
        got = [p.cmd("MULTI"), p.cmd("RPUSH", "k", "x"), p.cmd("LPOP", "k"), p.cmd("EXEC")]
        got.append(a.ready(0.1))
        got += [p.cmd("MULTI"), p.cmd("RPUSH", "k", "x"), p.cmd("DEL", "k"), p.cmd("SET", "k", "s"), p.cmd("EXEC")]
        got.append(a.ready(0.1))
        got += [p.cmd("DEL", "k"), p.cmd("RPUSH", "k", "y")]
        got.append(a.read())  # still first in line
        got.append(b.ready(0.1))
        got.append(p.cmd("RPUSH", "k", "z"))
        got.append(b.read())
        return got

    t = on_both(amber_server, redis_server, proto, scenario)
    assert t[4] is False and t[10] is False and t[14] is False
    assert t[13].endswith(b"y\r\n") and t[16].endswith(b"z\r\n")


def test_blmove_chain(amber_server, redis_server, proto):
    def scenario(conn):
        a, b, c, p = conn(), conn(), conn(), conn()
        a.send("BLMOVE", "k1", "k2", "RIGHT", "LEFT", "0")
        settle()
        b.send("BRPOPLPUSH", "k2", "k3", "0")
        settle()
        c.send("BLMPOP", "0", "2", "k4", "k3", "LEFT", "COUNT", "5")
        settle()
        got = [p.cmd("RPUSH", "k1", "v", "w")]
        got += [a.read(), b.read(), c.read()]
        got += [p.cmd("LRANGE", "k1", "0", "-1"), p.cmd("EXISTS", "k2", "k3")]
        return got

    t = on_both(amber_server, redis_server, proto, scenario)
    assert t[1] == t[2] == b"$1\r\nw\r\n"
    assert b"k3" in t[3] and t[4].endswith(b"v\r\n")


def test_blmove_to_wrong_type_destination(amber_server, redis_server, proto):
    def scenario(conn):
        a, p = conn(), conn()
        a.send("BLMOVE", "src", "dst", "LEFT", "LEFT", "0")
        settle()
        got = [p.cmd("SET", "dst", "str"), p.cmd("RPUSH", "src", "v"), a.read(), p.cmd("LLEN", "src")]
        return got

    t = on_both(amber_server, redis_server, proto, scenario)
    assert t[2] == WT and t[3] == b":1\r\n"


def test_pipelined_commands_wait_behind_blocked_one(amber_server, redis_server, proto):
    def scenario(conn):
        a, p = conn(), conn()
        a.sock.sendall(encode(["BLPOP", "k", "0"]) + encode(["PING"]))
        settle()
        got = [a.ready(0.05), p.cmd("LPUSH", "k", "v"), a.read(), a.read()]
        return got

    t = on_both(amber_server, redis_server, proto, scenario)
    assert t[0] is False and t[3] in (b"+PONG\r\n",)


def test_blocking_in_other_db(amber_server, redis_server, proto):
    def scenario(conn):
        a, p = conn(), conn()
        a.cmd("SELECT", "3")
        a.send("BLPOP", "k", "0")
        settle()
        got = [p.cmd("RPUSH", "k", "db0"), a.ready(0.1), p.cmd("SELECT", "3"), p.cmd("RPUSH", "k", "db3")]
        got.append(a.read())
        got.append(a.cmd("LLEN", "k"))
        return got

    t = on_both(amber_server, redis_server, proto, scenario)
    assert t[1] is False and t[4].endswith(b"db3\r\n")


def test_disconnected_blocked_client_is_removed(r, amber_server):
    a = Raw(amber_server.port)
    a.send("BLPOP", "k", "0")
    b = Raw(amber_server.port)
    b.send("BLPOP", "k", "0")
    settle()
    assert r.info("clients")["blocked_clients"] == 2
    a.close()
    deadline = time.time() + 2
    while r.info("clients")["blocked_clients"] != 1 and time.time() < deadline:
        time.sleep(0.01)
    assert r.info("clients")["blocked_clients"] == 1
    assert r.rpush("k", "v") == 1
    assert b.read().endswith(b"$1\r\nv\r\n")
    assert r.exists("k") == 0
    b.close()


def test_blocking_with_threads_redis_py(r, amber_server):
    """Three redis-py clients: two blocked in threads, served in order by one push."""
    results = {}

    def waiter(name, fn):
        c = amber_server.client(decode_responses=True)
        results[name] = fn(c)
        c.close()

    t1 = threading.Thread(target=waiter, args=("a", lambda c: c.brpop(["q"], 5)))
    t1.start()
    time.sleep(0.1)
    t2 = threading.Thread(target=waiter, args=("b", lambda c: c.blmpop(5, 1, "q", direction="LEFT", count=2)))
    t2.start()
    time.sleep(0.1)
    r.rpush("q", "1", "2", "3")
    t1.join(5)
    t2.join(5)
    assert tuple(results["a"]) == ("q", "3")
    assert list(results["b"]) == ["q", ["1", "2"]]
    assert r.blpop(["q"], 0.1) is None
    assert r.blmove("q", "d", 0.1) is None


def test_command_stats_count_blocking_call_once(r, amber_server):
    r.config_resetstat()
    assert r.blpop(["e"], 0.1) is None
    a = Raw(amber_server.port)
    a.send("BLPOP", "e", "0")
    settle()
    r.rpush("e", "v")
    assert a.read().endswith(b"v\r\n")
    a.close()
    stats = r.info("commandstats")
    assert stats["cmdstat_blpop"]["calls"] == 2


def random_command(rng):
    keys = ["k1", "k2", "k3", "s"]
    vals = ["a", "b", "c", "1", "-2", "", "x" * 20]
    k = lambda: rng.choice(keys)
    v = lambda: rng.choice(vals)
    i = lambda: str(rng.choice([0, 1, 2, -1, -2, -3, 5, -10, 100]))
    side = lambda: rng.choice(["LEFT", "right", "Left", "up"])
    choices = [
        lambda: ["LPUSH", k()] + [v() for _ in range(rng.randint(1, 4))],
        lambda: ["RPUSH", k()] + [v() for _ in range(rng.randint(1, 4))],
        lambda: [rng.choice(["LPUSHX", "RPUSHX"]), k(), v()],
        lambda: [rng.choice(["LPOP", "RPOP"]), k()] + ([i()] if rng.random() < 0.5 else []),
        lambda: ["LLEN", k()],
        lambda: ["LINDEX", k(), i()],
        lambda: ["LSET", k(), i(), v()],
        lambda: ["LRANGE", k(), i(), i()],
        lambda: ["LTRIM", k(), i(), i()],
        lambda: ["LINSERT", k(), rng.choice(["BEFORE", "after", "x"]), v(), v()],
        lambda: ["LREM", k(), i(), v()],
        lambda: ["LPOS", k(), v()] + rng.choice([[], ["RANK", i()], ["COUNT", i()], ["MAXLEN", i()],
                                                   ["RANK", i(), "COUNT", "0"]]),
        lambda: ["LMOVE", k(), k(), side(), side()],
        lambda: ["RPOPLPUSH", k(), k()],
        lambda: ["LMPOP", str(rng.randint(1, 3)), k(), k(), k(), side()][: rng.randint(4, 6)]
        + (["COUNT", i()] if rng.random() < 0.5 else []),
        lambda: ["BLPOP", k(), k(), "0.01"],
        lambda: ["BRPOP", k(), "0.01"],
        lambda: ["BLMOVE", k(), k(), side(), side(), "0.01"],
        lambda: ["BLMPOP", "0.01", "2", k(), k(), side(), "COUNT", "2"],
        lambda: ["SET", "s", v()],
        lambda: ["DEL", k()],
    ]
    return rng.choice(choices)()


def test_random_stream_matches_redis(pair):
    import random

    rng = random.Random(7015)
    same(pair, *[random_command(rng) for _ in range(600)])
