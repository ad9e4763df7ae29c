"""Family keys: the generic keyspace commands."""

from .common import ALL_KEYS, Op


class KeysMixin:
    def fam_keys(self):
        k = self.key(ALL_KEYS)
        c = self.rng.choices(
            ["del", "unlink", "exists", "type", "rename", "renamenx", "copy", "move", "expire",
             "pexpire", "expireat", "pexpireat", "ttl", "pttl", "expiretime", "pexpiretime", "persist",
             "keys", "scan", "randomkey", "encoding", "touch", "swapdb", "dbsize", "object"],
            [5, 2, 4, 4, 3, 2, 3, 2, 5, 3, 3, 2, 4, 3, 2, 2, 3, 3, 3, 2, 6, 2, 1, 2, 1])[0]
        if c in ("del", "unlink", "exists", "touch"):
            return [Op([c.upper()] + self.keys(ALL_KEYS, 1, 4))]
        if c == "type":
            return [Op(["TYPE", k])]
        if c in ("rename", "renamenx"):
            dst = k if self.chance(0.1) else self.key(ALL_KEYS)
            return [Op([c.upper(), k, dst])]
        if c == "copy":
            args = ["COPY", k, self.key(ALL_KEYS)]
            if self.chance(0.3):
                args += ["DB", self.pick(["0", "1", "2", "3", "16", "-1", "x"])]
            if self.chance(0.4):
                args.append("REPLACE")
            return [Op(args)]
        if c == "move":
            return [Op(["MOVE", k, self.pick(["0", "1", "2", "3", "16", "abc"])])]
        if c in ("expire", "pexpire", "expireat", "pexpireat"):
            if c == "expire":
                t = self.pick(["100", "1000", "86400", "0", "-1", "abc", "9223372036854775807",
                               "9223372036854775", "1.5"])
            elif c == "pexpire":
                t = self.pick(["100000", "86400000", "0", "-100", "9223372036854775807"])
            elif c == "expireat":
                t = self.pick(["1", "1000000", "1600000000", "4102444800", "4102444801", "0",
                               "9223372036854775807"])
            else:
                t = self.pick(["1", "1600000000000", "4102444800000", "4102444800001", "-1"])
            opts = [self.pick(["NX", "XX", "GT", "LT", "FOO"])] if self.chance(0.3) else []
            if self.chance(0.05):
                opts += [self.pick(["NX", "XX", "GT", "LT"])]
            return [Op([c.upper(), k, t] + opts)]
        if c == "ttl":
            return [Op(["TTL", k], cmp="ttl")]
        if c == "pttl":
            return [Op(["PTTL", k], cmp="pttl")]
        if c == "expiretime":
            return [Op(["EXPIRETIME", k], cmp="exptime")]
        if c == "pexpiretime":
            return [Op(["PEXPIRETIME", k], cmp="pexptime")]
        if c == "persist":
            return [Op(["PERSIST", k])]
        if c == "keys":
            return [Op(["KEYS", self.pick(["*", "s*", "?0", "[lh]*", "*1", "nomatch", "\\*", ""])],
                       cmp="set")]
        if c == "scan":
            opts = []
            if self.chance(0.5):
                opts += ["MATCH", self.pick(["*", "s*", "?1", "[tz]*", "x*"])]
            if self.chance(0.5):
                opts += ["COUNT", self.pick(["1", "3", "10", "100"])]
            if self.chance(0.3):
                opts += ["TYPE", self.pick(["string", "list", "hash", "set", "zset", "nosuchtype"])]
            if self.chance(0.05):
                return [Op(["SCAN", self.pick(["abc", "-1x", "18446744073709551616"])] + opts)]
            if self.chance(0.05):
                opts += self.pick([["COUNT", "0"], ["COUNT", "abc"], ["MATCH"], ["FOO", "1"]])
            return [Op(["SCAN", "0"] + opts, kind="scan")]
        if c == "randomkey":
            return [Op(["RANDOMKEY"], kind="random", extra={"ctx": "keys"})]
        if c == "encoding":
            return [Op(["OBJECT", "ENCODING", k])]
        if c == "object":
            return [Op(["OBJECT", self.pick(["HELP", "NOSUCH", "ENCODING"])])]
        if c == "swapdb":
            return [Op(["SWAPDB", self.pick(["0", "1", "2", "3", "16", "x"]), self.pick(["0", "1", "2"])])]
        if c == "dbsize":
            return [Op(["DBSIZE"])]
        raise AssertionError(c)
