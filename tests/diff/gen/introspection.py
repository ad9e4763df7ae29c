"""Families introspection (COMMAND GETKEYS / GETKEYSANDFLAGS of random commands, COMMAND INFO /
COUNT / DOCS, OBJECT FREQ / REFCOUNT, CLIENT REPLY ON / OFF / SKIP, DEBUG PROTOCOL) and notify
(CONFIG SET notify-keyspace-events: the subscriber connection listens to every keyspace and
keyevent channel, and the messages are compared in order; see runner.py)."""

from .common import ALL_KEYS, Op

# (Not commands Amber does not have yet: MIGRATE, CLUSTER, ASKING, READONLY, READWRITE,
# RESTORE-ASKING, SCRIPT DEBUG, nor COMMAND COUNT, which counts them;
# nor the DOCS of EVAL, EVALSHA[_RO], EVAL_RO, FCALL[_RO], FUNCTION and SCRIPT, whose rows Amber's
# docs table lacks. tests/diff/README.md lists these.)
COMMAND_NAMES = ["get", "set", "xadd", "xreadgroup", "geosearch", "pfadd", "bitfield", "zadd", "sort", "blpop",
                 "lmpop", "object", "georadius", "xinfo", "spublish", "nosuchcommand", "GET", "config|get",
                 "client|reply", "xgroup|create", "memory", "command|getkeys", "pfcount", "ssubscribe",
                 "xautoclaim", "xclaim", "geoadd", "bitfield_ro", "pfmerge", "xgroup", "acl", "acl|setuser",
                 "acl|dryrun", "client|tracking", "client|caching", "client|trackinginfo"]
INFO_ONLY_NAMES = ["eval", "fcall", "function|load", "script|flush", "function"]
PROTOCOL_TYPES = ["string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push",
                  "verbatim", "true", "false", "nope"]
# (Not "m", keymiss: SORT BY / GET looks keys up in its element order, a set's hash order in
# Redis, and Amber differs in which keys it looks up; tests/diff/README.md lists it.)
NOTIFY_FLAGS = ["KEA", "KEA", "Kg$", "El", "AKE", "Kx", "Et", "Kz", "Eh", "Es", "KEd", "", "Kn", "KEAn",
                "x", "bad!"]


class IntrospectionMixin:
    def fam_introspection(self):
        r = self.rng.random()
        if r < 0.3:
            inner = self.inner_command()
            sub = self.pick(["GETKEYS", "GETKEYSANDFLAGS"])
            return [Op(["COMMAND", sub] + inner.args)]
        if r < 0.42:
            names = [self.pick(COMMAND_NAMES + INFO_ONLY_NAMES) for _ in range(self.rng.randint(1, 3))]
            return [Op(["COMMAND", "INFO"] + names, cmp="cmdinfo")]
        if r < 0.5:
            names = [self.pick(COMMAND_NAMES) for _ in range(self.rng.randint(1, 2))]
            return [Op(["COMMAND", "DOCS"] + names, cmp="cmddocs")]
        if r < 0.58:
            return [Op(["OBJECT", self.pick(["FREQ", "REFCOUNT"]), self.pick(ALL_KEYS)])]
        if r < 0.75:
            return self.client_reply_unit()
        if r < 0.95:
            t = self.pick(PROTOCOL_TYPES)
            # RESP3's push comes with a real reply after it.
            return [Op(["DEBUG", "PROTOCOL", t], nframes=2 if t == "push" and self.proto == 3 else 1)]
        return [Op(self.pick([["COMMAND", "GETKEYS"], ["COMMAND", "GETKEYS", "get"], ["COMMAND", "GETKEYS", "nosuch", "x"],
                              ["COMMAND", "GETKEYS", "ping"], ["COMMAND", "NOPE"], ["CLIENT", "REPLY", "MAYBE"],
                              ["COMMAND", "GETKEYSANDFLAGS", "set"]]))]

    def client_reply_unit(self):
        """CLIENT REPLY OFF / SKIP silence the replies that follow: nothing is read for them."""
        mode = self.pick(["OFF", "SKIP", "ON"])
        if mode == "ON":
            return [Op(["CLIENT", "REPLY", "ON"])]
        ops = [Op(["CLIENT", "REPLY", mode], nframes=0)]
        n = 1 if mode == "SKIP" else self.rng.randint(1, 4)
        for _ in range(n):
            inner = self.inner_command()
            ops.append(Op(inner.args, nframes=0))
        if mode == "OFF":
            ops.append(Op(["CLIENT", "REPLY", "ON"]))
        # What the silenced commands did shows in the next reply.
        ops.append(Op(["DBSIZE"]))
        return ops

    def fam_notify(self):
        # (Never with an argument dropped or added: Amber's CONFIG SET answers an odd argument
        # count with an arity error where Redis 7.0 says "syntax error"; config/ is not the
        # differential's to change. tests/diff/README.md lists it.)
        return [Op(["CONFIG", "SET", "notify-keyspace-events", self.pick(NOTIFY_FLAGS)], extra={"whole": True})]
