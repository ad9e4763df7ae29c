"""Family streams: XADD (explicit and partial IDs, NOMKSTREAM, MAXLEN/MINID with = and ~,
LIMIT), ranges, XDEL, XTRIM, XREAD, consumer groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM,
XAUTOCLAIM), XINFO, XSETID, and blocking XREAD / XREADGROUP on the second connection.

IDs are never `*` (each server would take its own clock): the generator keeps a millisecond
counter that only grows, so most explicit IDs are accepted, and sometimes goes back to hit the
"equal or smaller" error. Idle times and delivery times are compared by the `xtime` mode (masked);
min-idle arguments are 0 or huge, so which entries qualify does not depend on timing."""

from .common import FIELDS, STREAM_KEYS, VALUES, Op

GROUPS = ["g1", "g2", "g3"]
CONSUMERS = ["c1", "c2", "c3"]
HUGE_IDLE = "999999999999"  # no delivery is this old: selects nothing, on both servers


class StreamsMixin:
    xms = 1  # the generator's stream clock (milliseconds part of new IDs)

    def stream_key(self):
        return self.key(STREAM_KEYS)

    def new_id(self):
        """An ID for XADD: mostly past every earlier one."""
        r = self.rng.random()
        self.xms += self.rng.choice([0, 0, 1, 1, 2, 5])
        if r < 0.55:
            return f"{self.xms}-{self.rng.randint(0, 3)}"
        if r < 0.8:
            return f"{self.xms}-*"
        if r < 0.9:
            return str(self.xms)
        if self.chance(0.2):
            # The last sequence of this millisecond. (Then the clock moves on: "ms-*" after it
            # gets an errno-dependent error in Redis 7.0, see tests/test_diff_regressions.py.)
            self.xms += 1
            return f"{self.xms - 1}-18446744073709551615"
        # (Not a huge milliseconds part: every later XADD to that key would fail.)
        return self.pick(["0-0", "0-1", "1-0", "abc", "1-x", "-1", f"{max(1, self.xms - 3)}-1",
                          "5-18446744073709551616", "18446744073709551616-0"])

    def good_id(self):
        """An ID past every earlier one (what wakes a blocked reader)."""
        self.xms += 1
        return f"{self.xms}-{self.rng.randint(0, 3)}"

    def some_id(self, special=("-", "+")):
        """An ID for ranges, XDEL, XACK, XCLAIM...: around the IDs in use."""
        r = self.rng.random()
        ms = self.rng.randint(0, self.xms + 1)
        if r < 0.15 and special:
            return self.pick(list(special))
        if r < 0.6:
            return f"{ms}-{self.rng.randint(0, 3)}"
        if r < 0.8:
            return str(ms)
        if r < 0.9:
            return f"({ms}-{self.rng.randint(0, 3)}"
        return self.pick(["0", "0-0", "abc", "(", "(+", "(-", "18446744073709551615-18446744073709551615",
                          "1-2-3", ""])

    def fields(self):
        out = []
        for _ in range(self.rng.randint(1, 3)):
            out += [self.pick(FIELDS), self.pick(VALUES)]
        return out

    def trim_args(self):
        strat = self.pick(["MAXLEN", "MAXLEN", "MINID", "maxlen"])
        args = [strat]
        mark = self.pick(["", "", "=", "~", "~"])
        if mark:
            args.append(mark)
        if strat.upper() == "MAXLEN":
            args.append(self.pick(["0", "1", "2", "3", "5", "10", "50", "-1", "x"]))
        else:
            args.append(self.some_id(special=()))
        if self.chance(0.2):
            args += ["LIMIT", self.pick(["0", "1", "2", "10", "100", "-1"])]
        return args

    def group(self):
        return self.pick(GROUPS) if self.chance(0.95) else "nogroup"

    def consumer(self):
        return self.pick(CONSUMERS)

    def fam_streams(self):
        k = self.stream_key()
        c = self.rng.choices(
            ["xadd", "xrange", "xlen", "xdel", "xtrim", "xread", "xgroup", "xreadgroup", "xack",
             "xpending", "xclaim", "xautoclaim", "xinfo", "xsetid", "block"],
            [30, 8, 2, 3, 3, 4, 8, 8, 3, 4, 3, 3, 4, 1, 6])[0]
        if c == "xadd":
            args = ["XADD", k]
            if self.chance(0.1):
                args.append("NOMKSTREAM")
            if self.chance(0.25):
                args += self.trim_args()
            return [Op(args + [self.new_id()] + self.fields())]
        if c == "xrange":
            name = self.pick(["XRANGE", "XREVRANGE"])
            args = [name, k, self.some_id(), self.some_id()]
            if self.chance(0.4):
                args += ["COUNT", self.pick(["0", "1", "2", "5", "-1", "x"])]
            return [Op(args)]
        if c == "xlen":
            return [Op(["XLEN", k])]
        if c == "xdel":
            return [Op(["XDEL", k] + [self.some_id(special=()) for _ in range(self.rng.randint(1, 3))])]
        if c == "xtrim":
            return [Op(["XTRIM", k] + self.trim_args())]
        if c == "xread":
            ks = [self.stream_key() for _ in range(self.rng.randint(1, 2))]
            args = ["XREAD"]
            if self.chance(0.4):
                args += ["COUNT", self.pick(["1", "2", "10", "0", "-1"])]
            ids = [self.pick(["0", "0-0", "$", self.some_id(special=())]) for _ in ks]
            if self.chance(0.05):
                ids = ids[:-1]  # unbalanced
            return [Op(args + ["STREAMS"] + ks + ids)]
        if c == "xgroup":
            return [self.xgroup_op(k)]
        if c == "xreadgroup":
            return [Op(self.xreadgroup_args(block=None))]
        if c == "xack":
            return [Op(["XACK", k, self.group()] + [self.some_id(special=()) for _ in range(self.rng.randint(1, 3))])]
        if c == "xpending":
            args = ["XPENDING", k, self.group()]
            if self.chance(0.6):
                if self.chance(0.3):
                    args += ["IDLE", self.pick(["0", HUGE_IDLE, "-1", "x"])]
                args += [self.some_id(special=("-", "+")), self.some_id(special=("+",)),
                         self.pick(["1", "3", "10", "0", "-1"])]
                if self.chance(0.4):
                    args.append(self.consumer())
            return [Op(args, cmp="xtime")]
        if c == "xclaim":
            args = ["XCLAIM", k, self.group(), self.consumer(), self.pick(["0", "0", HUGE_IDLE, "-1"])]
            args += [self.some_id(special=()) for _ in range(self.rng.randint(1, 3))]
            for opt, vals in (("IDLE", ["0", "5000", "1000000000000", "-1"]), ("TIME", ["0", "1000", "-5"]),
                              ("RETRYCOUNT", ["0", "3", "-1", "x"]), ("LASTID", [self.some_id(special=())])):
                if self.chance(0.12):
                    args += [opt, self.pick(vals)]
            for flag in ("FORCE", "JUSTID"):
                if self.chance(0.2):
                    args.append(flag)
            return [Op(args, cmp="xtime")]
        if c == "xautoclaim":
            args = ["XAUTOCLAIM", k, self.group(), self.consumer(), self.pick(["0", "0", HUGE_IDLE, "-1"]),
                    self.some_id(special=("-", "0", "0-0"))]
            if self.chance(0.4):
                args += ["COUNT", self.pick(["1", "2", "10", "0", "-1"])]
            if self.chance(0.25):
                args.append("JUSTID")
            return [Op(args, cmp="xtime")]
        if c == "xinfo":
            r = self.rng.random()
            if r < 0.3:
                return [Op(["XINFO", "STREAM", k], cmp="xtime")]
            if r < 0.5:
                args = ["XINFO", "STREAM", k, "FULL"]
                if self.chance(0.5):
                    args += ["COUNT", self.pick(["0", "1", "2", "-1"])]
                return [Op(args, cmp="xtime")]
            if r < 0.75:
                return [Op(["XINFO", "GROUPS", k])]
            if r < 0.95:
                return [Op(["XINFO", "CONSUMERS", k, self.group()], cmp="xtime")]
            return [Op(["XINFO", self.pick(["HELP", "NOPE"])])]
        if c == "xsetid":
            ms = self.rng.randint(0, self.xms + 2)
            args = ["XSETID", k, self.pick([f"{ms}-{self.rng.randint(0, 3)}", str(ms), "0-0", "abc"])]
            if self.chance(0.3):
                args += ["ENTRIESADDED", self.pick(["0", "5", "100", "-1"])]
            if self.chance(0.3):
                args += ["MAXDELETEDID", self.some_id(special=())]
            return [Op(args)]
        if c == "block":
            return self.stream_block_unit()
        raise AssertionError(c)

    def xgroup_op(self, k):
        sub = self.rng.choices(["CREATE", "CREATECONSUMER", "DELCONSUMER", "DESTROY", "SETID", "HELP"],
                               [8, 3, 2, 2, 3, 1])[0]
        if sub == "CREATE":
            args = ["XGROUP", "CREATE", k, self.group(), self.pick(["$", "0", "0-0", self.some_id(special=())])]
            if self.chance(0.3):
                args.append("MKSTREAM")
            if self.chance(0.2):
                args += ["ENTRIESREAD", self.pick(["0", "1", "3", "-1", "-2", "x"])]
            return Op(args)
        if sub in ("CREATECONSUMER", "DELCONSUMER"):
            return Op(["XGROUP", sub, k, self.group(), self.consumer()])
        if sub == "DESTROY":
            return Op(["XGROUP", "DESTROY", k, self.group()])
        if sub == "SETID":
            args = ["XGROUP", "SETID", k, self.group(), self.pick(["$", "0", self.some_id(special=())])]
            if self.chance(0.3):
                args += ["ENTRIESREAD", self.pick(["0", "2", "-1", "x"])]
            return Op(args)
        return Op(["XGROUP", "HELP"])

    def xreadgroup_args(self, block):
        ks = [self.stream_key() for _ in range(self.rng.randint(1, 2))]
        args = ["XREADGROUP", "GROUP", self.group(), self.consumer()]
        if self.chance(0.4):
            args += ["COUNT", self.pick(["1", "2", "10", "0", "-1"])]
        if block is not None:
            args += ["BLOCK", block]
        if self.chance(0.15):
            args.append("NOACK")
        if block is not None:
            ids = [">" for _ in ks]
        else:
            ids = [self.pick([">", ">", "0", self.some_id(special=())]) for _ in ks]
        return args + ["STREAMS"] + ks + ids

    def stream_block_unit(self):
        """XREAD / XREADGROUP with BLOCK on the other connection, woken by an XADD on the main
        one (or by a deletion / group removal, or not at all: the timeout)."""
        ops = self.other_select()
        r = self.rng.random()
        timeout = "3000" if r < 0.7 else self.pick(["0.5", "50", "100"])
        if self.chance(0.5):
            ks = [self.stream_key() for _ in range(self.rng.randint(1, 2))]
            args = ["XREAD"]
            if self.chance(0.4):
                args += ["COUNT", self.pick(["1", "2"])]
            args += ["BLOCK", timeout, "STREAMS"] + ks + [self.pick(["$", "$", "0", f"{self.xms}-9"]) for _ in ks]
        else:
            args = self.xreadgroup_args(block=timeout)
            i = args.index("STREAMS")
            ks = args[i + 1: i + 1 + (len(args) - i - 1) // 2]
        push = []
        if r < 0.7:
            k = self.pick(ks)
            w = self.rng.random()
            if w < 0.8:
                push.append(Op(["XADD", k, self.good_id()] + self.fields()))
            elif w < 0.87:
                push.append(Op(["DEL", k]))
            elif w < 0.93 and args[0] == "XREADGROUP":
                push.append(Op(["XGROUP", "DESTROY", k, args[2]]))
            else:
                push.append(Op(["XADD", k, "NOMKSTREAM", self.good_id()] + self.fields()))
            if push[0].args[0] != b"XADD" or push[-1].args[2] == b"NOMKSTREAM":
                # The client may still be blocked: wake it (or let it time out) the ordinary way.
                push.append(Op(["XADD", self.pick(ks), self.good_id()] + self.fields()))
        ops.append(Op(args, conn="other", kind="block", extra={"push": push}))
        return ops
