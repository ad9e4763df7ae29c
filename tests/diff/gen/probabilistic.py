"""Families hll (PFADD / PFCOUNT / PFMERGE, the HLL string itself, corrupted HLLs), geo (GEOADD,
GEODIST, GEOHASH, GEOPOS, GEOSEARCH[STORE], GEORADIUS[BYMEMBER][_RO]) and bitfield (BITFIELD,
BITFIELD_RO on the string keys)."""

from .common import GEO_KEYS, HLL_KEYS, STR_KEYS, Op

# Places (lon, lat) near each other and far apart, and a few at the limits.
PLACES = [("13.361389", "38.115556", "Palermo"), ("15.087269", "37.502669", "Catania"),
          ("2.349014", "48.864716", "Paris"), ("-0.127758", "51.507351", "London"),
          ("-122.419416", "37.774929", "SF"), ("139.691706", "35.689487", "Tokyo"),
          ("0", "0", "null-island"), ("180", "85.05112878", "corner"), ("-180", "-85.05112878", "south"),
          ("13.5", "38.2", "near"), ("13.36", "38.11", "nearer")]
BAD_PLACES = [("181", "10"), ("10", "86"), ("abc", "1"), ("1", "nan"), ("inf", "0")]
UNITS = ["m", "km", "mi", "ft", "M", "KM", "yd"]


class ProbabilisticMixin:
    def hll_elems(self):
        r = self.rng.random()
        if r < 0.7:
            return [f"e{self.rng.randint(0, 300)}" for _ in range(self.rng.randint(1, 5))]
        if r < 0.9:
            # Enough to go past hll-sparse-max-bytes: the dense representation.
            base = self.rng.randint(0, 5000)
            return [f"d{base + i}" for i in range(self.rng.randint(100, 600))]
        return [self.pick(["", "a", "\x00", "L" * 100])]

    def fam_hll(self):
        k = self.key(HLL_KEYS)
        c = self.rng.choices(["pfadd", "pfcount", "pfcountmany", "pfmerge", "get", "dump", "corrupt",
                              "append", "pfdebug"], [20, 8, 4, 4, 3, 2, 2, 1, 2])[0]
        if c == "pfadd":
            return [Op(["PFADD", k] + (self.hll_elems() if self.chance(0.95) else []))]
        if c == "pfcount":
            return [Op(["PFCOUNT", k])]
        if c == "pfcountmany":
            return [Op(["PFCOUNT"] + self.keys(HLL_KEYS, 2, 3))]
        if c == "pfmerge":
            return [Op(["PFMERGE", self.key(HLL_KEYS)] + self.keys(HLL_KEYS, 0, 3))]
        if c == "get":
            return [Op(["GET", k])]
        if c == "dump":
            return [Op(["DUMP", k], cmp="dump")]
        if c == "corrupt":
            # A damaged header, a damaged sparse opcode, or a damaged dense register.
            off = self.pick(["0", "3", "4", "5", "15", "16", "17", "18", "20", "100", "12000"])
            val = self.pick([b"\xff", b"\x00", b"X", b"\x7f\xff", b"HYLL", b"\x01"])
            return [Op(["SETRANGE", k, off, val])]
        if c == "append":
            return [Op(["APPEND", k, self.pick(["x", "\x00\x00"])])]
        sub = self.pick(["GETREG", "DECODE", "ENCODING", "TODENSE", "NOPE"])
        return [Op(["PFDEBUG", sub, k])]

    def place(self):
        if self.chance(0.95):
            return self.pick(PLACES)
        lon, lat = self.pick(BAD_PLACES)
        return lon, lat, "bad"

    def geo_member(self):
        return self.pick([p[2] for p in PLACES] + ["nomember"])

    def geo_shape(self):
        if self.chance(0.5):
            return ["BYRADIUS", self.pick(["0", "1", "100", "500", "2000", "20000", "-1", "x"]), self.pick(UNITS)]
        return ["BYBOX", self.pick(["1", "200", "1000", "40000"]), self.pick(["1", "300", "40000", "-1"]),
                self.pick(UNITS)]

    def geo_opts(self, store=False):
        opts = []
        if not store:
            for o in ("WITHCOORD", "WITHDIST", "WITHHASH"):
                if self.chance(0.3):
                    opts.append(o)
        if self.chance(0.3):
            opts += ["COUNT", self.pick(["1", "2", "5", "0", "-1"])]
            if self.chance(0.3):
                opts.append("ANY")
        if self.chance(0.6):
            opts.append(self.pick(["ASC", "DESC"]))
        return opts

    def fam_geo(self):
        k = self.key(GEO_KEYS)
        c = self.rng.choices(["geoadd", "geodist", "geohash", "geopos", "geosearch", "geosearchstore",
                              "georadius", "georadiusbymember", "zrange"], [12, 4, 3, 3, 8, 3, 4, 4, 2])[0]
        if c == "geoadd":
            args = ["GEOADD", k]
            for fl in ("NX", "XX", "CH"):
                if self.chance(0.1):
                    args.append(fl)
            for _ in range(self.rng.randint(1, 3)):
                args += list(self.place())
            return [Op(args)]
        if c == "geodist":
            args = ["GEODIST", k, self.geo_member(), self.geo_member()]
            if self.chance(0.6):
                args.append(self.pick(UNITS))
            return [Op(args)]
        if c in ("geohash", "geopos"):
            return [Op([c.upper(), k] + [self.geo_member() for _ in range(self.rng.randint(0, 3))])]
        if c in ("geosearch", "geosearchstore"):
            if self.chance(0.5):
                center = ["FROMMEMBER", self.geo_member()]
            else:
                lon, lat, _ = self.place()
                center = ["FROMLONLAT", lon, lat]
            head = ["GEOSEARCH", k] if c == "geosearch" else ["GEOSEARCHSTORE", self.key(GEO_KEYS), k]
            args = head + center + self.geo_shape() + self.geo_opts(store=c == "geosearchstore")
            if c == "geosearchstore" and self.chance(0.4):
                args.append("STOREDIST")
            return [Op(args)]
        if c in ("georadius", "georadiusbymember"):
            ro = self.chance(0.3)
            name = c.upper() + ("_RO" if ro else "")
            if c == "georadius":
                lon, lat, _ = self.place()
                args = [name, k, lon, lat]
            else:
                args = [name, k, self.geo_member()]
            args += [self.pick(["1", "100", "500", "2000", "-1"]), self.pick(UNITS)]
            args += self.geo_opts()
            if not ro and self.chance(0.2):
                args += [self.pick(["STORE", "STOREDIST"]), self.key(GEO_KEYS)]
            return [Op(args)]
        return [Op(["ZRANGE", k, "0", "-1", "WITHSCORES"])]

    def bitfield_type(self):
        sign = self.pick(["i", "u"])
        width = self.pick(["1", "2", "3", "7", "8", "15", "16", "31", "32", "63", "64", "0", "65"])
        return sign + width if self.chance(0.97) else self.pick(["x8", "i", "u64"])

    def bitfield_offset(self):
        r = self.rng.random()
        if r < 0.6:
            return str(self.rng.randint(0, 100))
        if r < 0.9:
            return f"#{self.rng.randint(0, 10)}"
        # (Not the largest valid offsets: a 512 MB string slows both servers down for nothing.)
        return self.pick(["-1", "#-1", "abc", "4294967296", "#", "#99999999999", "1.5"])

    def fam_bitfield(self):
        k = self.key(STR_KEYS)
        if self.chance(0.2):
            args = ["BITFIELD_RO", k]
            for _ in range(self.rng.randint(0, 3)):
                args += ["GET", self.bitfield_type(), self.bitfield_offset()]
            if self.chance(0.05):
                args += ["SET", "i8", "0", "1"]
            return [Op(args)]
        args = ["BITFIELD", k]
        for _ in range(self.rng.randint(0, 4)):
            sub = self.pick(["GET", "SET", "INCRBY", "INCRBY", "OVERFLOW"])
            if sub == "OVERFLOW":
                args += ["OVERFLOW", self.pick(["WRAP", "SAT", "FAIL", "wrap", "NOPE"])]
            elif sub == "GET":
                args += ["GET", self.bitfield_type(), self.bitfield_offset()]
            else:
                args += [sub, self.bitfield_type(), self.bitfield_offset(),
                         self.int_arg(-300, 300) if self.chance(0.8) else
                         self.pick(["9223372036854775807", "-9223372036854775808", "255", "-128", "x"])]
        return [Op(args)]
