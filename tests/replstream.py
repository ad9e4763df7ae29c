"""A seeded random write stream for the replication tests: every type Amber has (strings,
bitmaps, lists, hashes, sets, sorted sets), expiries short and long, relative and absolute,
commands whose effect is random or a float (SPOP, INCRBYFLOAT ...), MULTI/EXEC, SELECT,
SWAPDB, MOVE, FLUSHDB and FLUSHALL. Errors (WRONGTYPE and such) are part of the stream."""

import random
import time

import redis

DBS = 3
KEYS = [f"k{i}" for i in range(24)]


class Stream:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def key(self):
        return self.rng.choice(KEYS)

    def val(self):
        r = self.rng.random()
        if r < 0.3:
            return str(self.rng.randint(-100, 100))
        if r < 0.4:
            return "x" * self.rng.randint(40, 90)
        return self.rng.choice(["a", "b", "c", "hello", "", "1.5", "\x00bin\r\n"])

    def member(self):
        return self.rng.choice(["a", "b", "c", "d", "e", "1", "2", "10", "m" * 70])

    def op(self):
        """One command (a list of arguments)."""
        k, v, m, r = self.key(), self.val(), self.member(), self.rng
        ops = [
            lambda: ["SET", k, v],
            lambda: ["SET", k, v, "EX", r.randint(100, 1000)],
            lambda: ["SET", k, v, "PX", r.randint(20, 400)],
            lambda: ["SET", k, v, "KEEPTTL"],
            lambda: ["SET", k, v, "NX", "GET"],
            lambda: ["SETEX", k, r.randint(100, 1000), v],
            lambda: ["PSETEX", k, r.randint(20, 400), v],
            lambda: ["APPEND", k, v],
            lambda: ["INCRBY", k, r.randint(-5, 5)],
            lambda: ["INCRBYFLOAT", k, r.choice(["1.5", "-0.25", "3e2"])],
            lambda: ["GETDEL", k],
            lambda: ["GETEX", k, "PX", r.randint(20, 400)],
            lambda: ["GETEX", k, "PERSIST"],
            lambda: ["SETRANGE", k, r.randint(0, 20), v],
            lambda: ["MSET", k, v, self.key(), self.val()],
            lambda: ["SETBIT", k, r.randint(0, 200), r.randint(0, 1)],
            lambda: ["EXPIRE", k, r.randint(100, 1000)],
            lambda: ["PEXPIRE", k, r.randint(20, 400)],
            lambda: ["EXPIREAT", k, int(time.time()) + r.randint(100, 1000)],
            lambda: ["PERSIST", k],
            lambda: ["DEL", k, self.key()],
            lambda: ["UNLINK", k],
            lambda: ["RENAME", k, self.key()],
            lambda: ["COPY", k, self.key(), "REPLACE"],
            lambda: ["MOVE", k, r.randrange(DBS)],
            lambda: ["LPUSH", k, m, self.member()],
            lambda: ["RPUSH", k, m],
            lambda: ["LPOP", k],
            lambda: ["RPOP", k, r.randint(1, 3)],
            lambda: ["LMOVE", k, self.key(), "LEFT", "RIGHT"],
            lambda: ["LSET", k, 0, m],
            lambda: ["LREM", k, 0, m],
            lambda: ["LTRIM", k, 0, r.randint(0, 5)],
            lambda: ["BLPOP", k, "0.01"],
            lambda: ["HSET", k, m, v, self.member(), self.val()],
            lambda: ["HDEL", k, m],
            lambda: ["HINCRBY", k, m, r.randint(-3, 3)],
            lambda: ["HINCRBYFLOAT", k, m, "0.5"],
            lambda: ["SADD", k, m, self.member(), self.member()],
            lambda: ["SREM", k, m],
            lambda: ["SPOP", k],
            lambda: ["SPOP", k, r.randint(1, 3)],
            lambda: ["SMOVE", k, self.key(), m],
            lambda: ["SINTERSTORE", k, self.key(), self.key()],
            lambda: ["SUNIONSTORE", k, self.key(), self.key()],
            lambda: ["ZADD", k, r.randint(-5, 5), m, r.random(), self.member()],
            lambda: ["ZINCRBY", k, "1.5", m],
            lambda: ["ZREM", k, m],
            lambda: ["ZPOPMIN", k],
            lambda: ["ZPOPMAX", k, 2],
            lambda: ["ZUNIONSTORE", k, 2, self.key(), self.key()],
            lambda: ["ZRANGESTORE", k, self.key(), 0, 2],
            lambda: ["ZREMRANGEBYSCORE", k, "-inf", r.randint(-5, 5)],
        ]
        return r.choice(ops)()

    def rare(self):
        """A command that changes a whole database, or None most of the time."""
        x = self.rng.random()
        if x < 0.02:
            return ["SELECT", self.rng.randrange(DBS)]
        if x < 0.025:
            return ["SWAPDB", self.rng.randrange(DBS), self.rng.randrange(DBS)]
        if x < 0.027:
            return ["FLUSHDB"]
        if x < 0.0285:
            return ["FLUSHALL"]
        return None

    def run(self, c, count):
        """Sends `count` units (commands or transactions) on the single-connection client `c`."""
        for _ in range(count):
            cmd = self.rare()
            if cmd is None and self.rng.random() < 0.06:
                self.transaction(c)
                continue
            send(c, cmd or self.op())

    def transaction(self, c):
        send(c, ["MULTI"])
        for _ in range(self.rng.randint(1, 5)):
            send(c, self.op())
        send(c, ["EXEC"])


def send(c, args):
    """Sends one command on the single-connection client `c` and reads its reply raw (no
    redis-py reply parsing: inside MULTI every reply is QUEUED)."""
    conn = c.connection
    conn.send_command(*args)
    try:
        conn.read_response()
    except redis.ResponseError:
        pass


def settle(master, replica, timeout=30):
    """Waits until the replica is linked and has applied everything the master streamed."""
    deadline = time.time() + timeout
    while True:
        m = master.info("replication")
        r = replica.info("replication")
        if r.get("master_link_status") == "up" and r.get("slave_repl_offset") == m["master_repl_offset"]:
            return m["master_repl_offset"]
        if time.time() > deadline:
            raise AssertionError(f"the replica did not catch up: master {m}, replica {r}")
        time.sleep(0.05)


def digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def contents(c):
    """Every key of every stream database, for a readable failure."""
    out = {}
    for db in range(DBS):
        c.execute_command("SELECT", db)
        for k in sorted(c.keys("*")):
            out[(db, k)] = (c.type(k), c.execute_command("DEBUG", "DIGEST-VALUE", k))
    c.execute_command("SELECT", 0)
    return out


def assert_same(master, replica):
    """Equal DEBUG DIGEST, or the keys that differ."""
    dm, dr = digest(master), digest(replica)
    if dm != dr:
        a, b = contents(master), contents(replica)
        diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
        raise AssertionError(f"digests differ ({dm} vs {dr}): {sorted(diff.items())[:10]}")
    return dm
