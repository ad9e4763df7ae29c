"""Families scripting (EVAL / EVALSHA / EVAL_RO / SCRIPT with a corpus of scripts, some of which
run a random command of the other families) and functions (seeded random libraries: FUNCTION
LOAD [REPLACE], FCALL / FCALL_RO, LIST, DELETE, FLUSH, DUMP + RESTORE, STATS, error cases)."""

import hashlib

from .common import Op

# Scripts that run the command given in ARGV: the reply goes Redis -> Lua -> Redis.
CALL_SCRIPTS = [
    "return redis.call(unpack(ARGV))",
    "return redis.pcall(unpack(ARGV))",
    "redis.setresp(3); return redis.call(unpack(ARGV))",
    "redis.setresp(3); return redis.pcall(unpack(ARGV))",
    "local r = redis.pcall(unpack(ARGV)); if type(r) == 'table' and r.err then return 'caught: ' .. r.err end; return r",
]
# Scripts with a fixed behaviour: conversions, errors, the libraries.
FIXED_SCRIPTS = [
    "return {1, 'two', {3, 'four', {5}}, 3.99, true, false, nil, 'after-nil'}",
    "return 3.99",
    "return {0.5, -0.5, -3.7, 2^53, 1e15}",
    "return true",
    "return false",
    "return nil",
    "return {}",
    "return redis.error_reply('my error')",
    "return redis.error_reply('-PREFIXED with dash')",
    "return redis.status_reply('FINE')",
    "return {err='table error'}",
    "return {ok='table status'}",
    "return {err='ERR'}",
    "redis.setresp(3); return {double=3.25}",
    "redis.setresp(3); return {map={a=1}}",
    "redis.setresp(3); return {set={x=true}}",
    "redis.setresp(3); return {big_number='123456789012345678901234567890'}",
    "redis.setresp(3); return {verbatim_string={format='txt', string='hi'}}",
    "redis.setresp(3); return redis.call('DEBUG', 'PROTOCOL', ARGV[1] or 'double')",
    "return redis.call('DEBUG', 'PROTOCOL', ARGV[1] or 'map')",
    "return redis.call('NOSUCH')",
    "return redis.pcall('NOSUCH')",
    "error('boom')",
    "error({err='custom error'})",
    "return nonexisting_global",
    "newglobal = 5",
    "return redis.call('INCR')",
    "return redis.pcall('INCR', KEYS[1] or 's0')",
    "return redis.call('SET', KEYS[1] or 's0', 'from-script')",
    "return redis.call('GET', KEYS[1] or 's0')",
    "return redis.sha1hex(ARGV[1] or '')",
    "return cjson.encode({ARGV[1] or 'x'})",
    "return cjson.decode('[1,2,{\"a\":3}]')[3].a",
    "return cmsgpack.unpack(cmsgpack.pack({1, 2, 'three'}))",
    "return bit.band(tonumber(ARGV[1]) or 0, 255)",
    "return struct.unpack('>I2', struct.pack('>I2', 7))",
    "return redis.setresp(4)",
    "return tostring(0.1 + 0.2)",
    "return type(redis.REDIS_VERSION_NUM)",
    "return redis.call('EVAL', 'return 1', 0)",
    "return redis.call('SUBSCRIBE', 'x')",
    "redis.log(redis.LOG_WARNING, 'diff'); return 'logged'",
    "local t = {}; for i = 1, 5 do t[i] = i * i end; return t",
    "return #KEYS + #ARGV",
    "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1] or 's0')",
    "#!lua flags=no-writes\nreturn redis.call('SET', KEYS[1] or 's0', 'x')",
    "#!lua flags=no-writes,allow-oom\nreturn 1",
    "#!lua flags=nope\nreturn 1",
    "#!lua name=x\nreturn 1",
    "#!lua\nreturn 2",
    "return 1 +",
    "return string.rep('x', 3)",
    "return os.time()",
    "return loadstring('return 1')()",
    "return getmetatable('').__index == string",
]
SCRIPT_FAMILIES = ("strings", "lists", "hashes", "sets", "zsets", "keys", "bitmaps", "streams", "hll",
                   "geo", "bitfield")

# Function bodies (Lua) a generated library may register.
BODIES = [
    "function(keys, args) return redis.call(unpack(args)) end",
    "function(keys, args) return #keys + #args end",
    "function(keys, args) return {keys, args} end",
    "function(keys, args) return redis.pcall('INCR', keys[1] or 's0') end",
    "function(keys, args) return redis.call('SET', keys[1] or 's0', args[1] or 'v') end",
    "function(keys, args) return redis.call('GET', keys[1] or 's0') end",
    "function(keys, args) error('boom') end",
    "function(keys, args) redis.setresp(3); return redis.call('ZRANGE', keys[1] or 'z0', 0, -1, 'WITHSCORES') end",
    "function(keys, args) redis.setresp(3); return redis.pcall('XINFO', 'STREAM', keys[1] or 'x0') end",
    "function(keys, args) return {1.5, true, false, {err='in table'}} end",
    "function(keys, args) return redis.error_reply('fn error') end",
]
FLAGS = ["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"]
LIBS = ["lib0", "lib1", "lib2", "lib3"]
FUNCS = [f"f{i}" for i in range(6)]


def sha1(text):
    return hashlib.sha1(text.encode() if isinstance(text, str) else text).hexdigest()


class ScriptingMixin:
    def script_text(self):
        return self.pick(FIXED_SCRIPTS)

    def inner_command(self):
        """A single-reply command of the data families, as a Lua script would call it."""
        fams = [f for f in SCRIPT_FAMILIES if f in self.families] or ["strings"]
        for _ in range(20):
            saved = (self.db, self.proto, list(self.channels), list(self.patterns))
            ops = getattr(self, "fam_" + self.pick(fams))()
            self.db, self.proto, self.channels, self.patterns = saved
            op = ops[0]
            if len(ops) == 1 and op.kind == "cmd" and op.nframes == 1 and op.cmp not in ("hello", "exec") \
                    and op.conn == "main":
                return op
        return Op(["PING"])

    def fam_scripting(self):
        r = self.rng.random()
        if r < 0.45:
            inner = self.inner_command()
            script = self.pick(CALL_SCRIPTS)
            name = self.pick(["EVAL", "EVAL", "EVAL_RO"])
            if self.chance(0.3):
                name = "EVALSHA" if name == "EVAL" else "EVALSHA_RO"
                script = sha1(script)
            args = [name, script, "0"] + inner.args
            cmp = inner.cmp if inner.cmp != "sort_num" else "exact"
            if "pcall(unpack(ARGV)); if" in script:
                cmp = "exact" if cmp in ("enc_set", "enc_vals", "enc_pairs") else cmp
            return [Op(args, cmp=cmp, key=inner.key)]
        if r < 0.75:
            text = self.script_text()
            nkeys = self.pick(["0", "0", "1", "2"])
            keys = [self.pick(["s0", "s1", "h0"]) for _ in range(int(nkeys))]
            argv = [self.pick(["1", "string", "double", "map", "set", "true", "null", "attrib", "bignum",
                               "verbatim", "array", "integer", "push", "", "300"])
                    for _ in range(self.rng.randint(0, 2))]
            name = self.pick(["EVAL", "EVAL", "EVAL_RO", "EVALSHA", "EVALSHA_RO"])
            body = sha1(text) if name.startswith("EVALSHA") else text
            return [Op([name, body, nkeys] + keys + argv)]
        if r < 0.85:
            text = self.pick(FIXED_SCRIPTS + CALL_SCRIPTS)
            return [Op(["SCRIPT", "LOAD", text])]
        if r < 0.93:
            shas = [sha1(self.pick(FIXED_SCRIPTS + CALL_SCRIPTS)) for _ in range(self.rng.randint(1, 3))]
            return [Op(["SCRIPT", "EXISTS"] + shas + ([self.pick(["abc", "0" * 40])] if self.chance(0.2) else []))]
        if r < 0.96:
            return [Op(["SCRIPT", "FLUSH"] + ([self.pick(["SYNC", "ASYNC", "x"])] if self.chance(0.4) else []))]
        return [Op(self.pick([["EVAL"], ["EVAL", "return 1"], ["EVAL", "return 1", "x"], ["EVAL", "return 1", "-1"],
                              ["EVAL", "return 1", "2", "a"], ["EVALSHA", "nosuchsha", "0"],
                              ["SCRIPT", "NOPE"], ["SCRIPT", "KILL"], ["SCRIPT", "HELP"]]))]

    # ---- functions ---------------------------------------------------------------------------
    def function_decl(self):
        name = self.pick(FUNCS) if self.chance(0.95) else self.pick(["bad name", "", "f-1"])
        body = self.pick(BODIES)
        if self.chance(0.5):
            return f"redis.register_function('{name}', {body})"
        flags = self.rng.sample(FLAGS, self.rng.randint(0, 2))
        if self.chance(0.05):
            flags.append("bad-flag")
        fl = ", ".join(f"'{f}'" for f in flags)
        extra = self.pick(["", "", ", description='d'", ", nope=1"]) if self.chance(0.2) else ""
        return f"redis.register_function{{function_name='{name}', callback={body}, flags={{{fl}}}{extra}}}"

    def library(self):
        r = self.rng.random()
        lib = self.pick(LIBS)
        if r < 0.05:
            return f"#!js name={lib}\nreturn 1"
        if r < 0.08:
            return f"redis.register_function('f0', function() return 1 end)"
        if r < 0.11:
            return f"#!lua name={lib}\nreturn 1"
        if r < 0.13:
            return f"#!lua name={lib}\nredis.register_function('f0', function() return 1 end"
        if r < 0.15:
            return f"#!lua name={lib}\nredis.call('SET', 'x', 1)"
        if r < 0.17:
            return f"#!lua name=bad-name!\nredis.register_function('f0', function() return 1 end)"
        if r < 0.19:
            return f"#!lua name={lib} foo=bar\nredis.register_function('f0', function() return 1 end)"
        decls = [self.function_decl() for _ in range(self.rng.randint(1, 3))]
        return f"#!lua name={lib}\n" + "\n".join(decls)

    def fam_functions(self):
        r = self.rng.random()
        if r < 0.25:
            args = ["FUNCTION", "LOAD"]
            if self.chance(0.4):
                args.append("REPLACE")
            return [Op(args + [self.library()], cmp="fload")]
        if r < 0.6:
            name = self.pick(FUNCS + ["nofunc"])
            nkeys = self.pick(["0", "0", "1", "2"])
            keys = [self.pick(["s0", "s1", "h0", "l0"]) for _ in range(int(nkeys))]
            if name in ("f0", "f1") and self.chance(0.5):
                inner = self.inner_command()
                return [Op([self.pick(["FCALL", "FCALL_RO"]), name, nkeys] + keys + inner.args,
                           cmp="exact" if inner.cmp.startswith("enc_") or inner.cmp == "sort_num" else inner.cmp)]
            argv = [self.pick(["v", "1", "x"]) for _ in range(self.rng.randint(0, 2))]
            return [Op([self.pick(["FCALL", "FCALL", "FCALL_RO"]), name, nkeys] + keys + argv)]
        if r < 0.72:
            args = ["FUNCTION", "LIST"]
            if self.chance(0.3):
                args += ["LIBRARYNAME", self.pick(["lib*", "lib1", "nolib", "*1"])]
            if self.chance(0.4):
                args.append("WITHCODE")
            if self.chance(0.03):
                args.append("NOPE")
            return [Op(args, cmp="funclist")]
        if r < 0.8:
            return [Op(["FUNCTION", "DELETE", self.pick(LIBS + ["nolib"])])]
        if r < 0.84:
            return [Op(["FUNCTION", "FLUSH"] + ([self.pick(["SYNC", "ASYNC", "x"])] if self.chance(0.3) else []))]
        if r < 0.92:
            policy = self.pick([[], ["FLUSH"], ["APPEND"], ["REPLACE"], ["NOPE"]])
            return [Op(["FUNCTION", "RESTORE", "(own dump)"] + policy, kind="frestore",
                       extra={"flush_first": self.chance(0.3)})]
        if r < 0.95:
            return [Op(["FUNCTION", "STATS"])]
        return [Op(self.pick([["FUNCTION", "RESTORE", "garbage"], ["FUNCTION", "NOPE"], ["FCALL"],
                              ["FCALL", "f0"], ["FCALL", "f0", "x"], ["FCALL", "f0", "3", "a"],
                              ["FUNCTION", "LOAD"], ["FUNCTION", "KILL"], ["FUNCTION", "HELP"],
                              ["FUNCTION", "DUMP", "x"]]))]
