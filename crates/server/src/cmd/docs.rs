//! COMMAND DOCS: the documentation table and its reply.
//!
//! redis-cli 7.0 builds its interactive hints and `HELP` text from the `COMMAND DOCS` reply, so
//! the shape of that reply (field order, map/set/array types, simple-string flags) follows Redis
//! 7.0 exactly. The facts (summaries, versions, argument names, types and tokens) are Redis's
//! interface, checked against a real 7.0.15 server by tests/test_command_docs.py.
//!
//! Each command's arguments are written as one compact syntax line, parsed on first use into
//! the argument tree that `COMMAND DOCS` returns. The grammar:
//!
//! ```text
//! line    := elem (' ' elem)*
//! elem    := leaf | '[' leaf ']' | group
//! leaf    := word ['=' word] [':' type] suffix*
//!              `NX`            pure token NX named "nx" (a bare word starting uppercase)
//!              `ALPHA=sorting` pure token ALPHA named "sorting"
//!              `EX=seconds:i`  token EX followed by an integer named "seconds"
//!              `member`        a string named "member" (a bare word starting lowercase)
//!              `key:k`         a key named "key"
//! group   := [word] ('[' body ']' | '(' body ')') '=' word [':o' | ':b'] suffix*
//!              `[NX|XX]=condition`   an optional oneof named "condition"
//!              `(score:d member)=d`  a required block named "d"
//!              `LIMIT[offset:i count:i]=offset_count`  a block introduced by the token LIMIT
//!            A body with '|' is a oneof, otherwise a block; ':o'/':b' force the kind when the
//!            body has a single element.
//! body    := elems ('|' elems)*
//! type    := 's' string | 'i' integer | 'd' double | 'k' key | 'p' pattern | 't' unix-time
//! suffix  := '#' n       key_spec_index (a key without one has 0)
//!          | '@' version since
//!          | '!' version deprecated_since
//!          | '*'         multiple
//!          | '+'         multiple_token
//! word    := [A-Za-z0-9_/-]+ | "'" any text but "'" "'"
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

use amber_resp::ReplyBuf;

use super::{full_name, Command};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    OneOf,
    Block,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Double => "double",
            Kind::Key => "key",
            Kind::Pattern => "pattern",
            Kind::UnixTime => "unix-time",
            Kind::PureToken => "pure-token",
            Kind::OneOf => "oneof",
            Kind::Block => "block",
        }
    }

    fn from_code(c: u8) -> Option<Kind> {
        Some(match c {
            b's' => Kind::String,
            b'i' => Kind::Integer,
            b'd' => Kind::Double,
            b'k' => Kind::Key,
            b'p' => Kind::Pattern,
            b't' => Kind::UnixTime,
            _ => return None,
        })
    }
}

/// One node of an argument tree, as COMMAND DOCS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Arg {
    name: String,
    kind: Kind,
    /// Keys always have one (0 unless written); a pattern naming keys may have one too.
    key_spec_index: Option<u32>,
    token: Option<&'static str>,
    since: Option<&'static str>,
    deprecated_since: Option<&'static str>,
    optional: bool,
    multiple: bool,
    multiple_token: bool,
    args: Vec<Arg>,
}

impl Arg {
    fn new(name: &str, kind: Kind) -> Arg {
        Arg {
            name: name.to_string(),
            kind,
            key_spec_index: None,
            token: None,
            since: None,
            deprecated_since: None,
            optional: false,
            multiple: false,
            multiple_token: false,
            args: Vec::new(),
        }
    }
}

/// A recursive-descent parser over one syntax line.
struct Parser {
    s: &'static str,
    pos: usize,
}

type Parsed<T> = Result<T, String>;

impl Parser {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn fail<T>(&self, what: &str) -> Parsed<T> {
        Err(format!("{what} at byte {} of {:?}", self.pos, self.s))
    }

    /// A bare or quoted word; the flag says whether it was quoted.
    fn word(&mut self) -> Parsed<(&'static str, bool)> {
        let s = self.s;
        if self.eat(b'\'') {
            let start = self.pos;
            match s[start..].find('\'') {
                Some(len) => {
                    self.pos = start + len + 1;
                    Ok((&s[start..start + len], true))
                }
                None => self.fail("unterminated quote"),
            }
        } else {
            let start = self.pos;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'/' | b'-'))
            {
                self.pos += 1;
            }
            if self.pos == start {
                return self.fail("expected a word");
            }
            Ok((&s[start..self.pos], false))
        }
    }

    /// A version such as 2.6.12, after '@' or '!'.
    fn version(&mut self) -> Parsed<&'static str> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail("expected a version");
        }
        Ok(&self.s[start..self.pos])
    }

    fn suffixes(&mut self, arg: &mut Arg) -> Parsed<()> {
        loop {
            match self.peek() {
                Some(b'#') => {
                    self.pos += 1;
                    let v = self.version()?;
                    arg.key_spec_index = match v.parse() {
                        Ok(n) => Some(n),
                        Err(_) => return self.fail("bad key_spec_index"),
                    };
                }
                Some(b'@') => {
                    self.pos += 1;
                    arg.since = Some(self.version()?);
                }
                Some(b'!') => {
                    self.pos += 1;
                    arg.deprecated_since = Some(self.version()?);
                }
                Some(b'*') => {
                    self.pos += 1;
                    arg.multiple = true;
                }
                Some(b'+') => {
                    self.pos += 1;
                    arg.multiple_token = true;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Elements up to `close` (or the end of the line when `close` is None), split into
    /// alternatives at '|'.
    fn body(&mut self, close: Option<u8>) -> Parsed<Vec<Vec<Arg>>> {
        let mut alts = vec![Vec::new()];
        loop {
            if let Some(last) = alts.last_mut() {
                last.push(self.elem()?);
            }
            match self.peek() {
                Some(b' ') => self.pos += 1,
                Some(b'|') if close.is_some() => {
                    self.pos += 1;
                    alts.push(Vec::new());
                }
                c if c == close => {
                    self.pos += 1;
                    return Ok(alts);
                }
                _ => return self.fail("unexpected character"),
            }
        }
    }

    fn elem(&mut self) -> Parsed<Arg> {
        match self.peek() {
            Some(b'[' | b'(') => self.group(None),
            _ => {
                let (w, quoted) = self.word()?;
                if matches!(self.peek(), Some(b'[' | b'(')) {
                    self.group(Some(w))
                } else {
                    self.leaf(w, quoted)
                }
            }
        }
    }

    fn leaf(&mut self, first: &'static str, quoted: bool) -> Parsed<Arg> {
        let mut arg = if self.eat(b'=') {
            let (name, _) = self.word()?;
            let mut a = Arg::new(name, Kind::PureToken);
            a.token = Some(first);
            a
        } else if !quoted && first.starts_with(|c: char| c.is_ascii_uppercase()) {
            let mut a = Arg::new(&first.to_ascii_lowercase(), Kind::PureToken);
            a.token = Some(first);
            a
        } else {
            Arg::new(first, Kind::String)
        };
        if self.eat(b':') {
            match self.peek().and_then(Kind::from_code) {
                Some(k) => {
                    self.pos += 1;
                    arg.kind = k;
                    if k == Kind::Key {
                        arg.key_spec_index = Some(0);
                    }
                }
                None => return self.fail("unknown type code"),
            }
        }
        self.suffixes(&mut arg)?;
        Ok(arg)
    }

    fn group(&mut self, token: Option<&'static str>) -> Parsed<Arg> {
        let optional = self.peek() == Some(b'[');
        let close = if optional { b']' } else { b')' };
        self.pos += 1;
        let mut alts = self.body(Some(close))?;
        if !self.eat(b'=') {
            // Brackets around a single leaf: an optional argument, not a group.
            return match (token, optional, alts.pop(), alts.is_empty()) {
                (None, true, Some(mut only), true) if only.len() == 1 => match only.pop() {
                    Some(mut a) => {
                        a.optional = true;
                        Ok(a)
                    }
                    None => self.fail("empty brackets"),
                },
                _ => self.fail("a group needs a name"),
            };
        }
        let (name, _) = self.word()?;
        let mut kind = if alts.len() > 1 {
            Kind::OneOf
        } else {
            Kind::Block
        };
        if self.eat(b':') {
            kind = match self.peek() {
                Some(b'o') => Kind::OneOf,
                Some(b'b') => Kind::Block,
                _ => return self.fail("unknown group kind"),
            };
            self.pos += 1;
        }
        let mut arg = Arg::new(name, kind);
        arg.token = token;
        arg.optional = optional;
        arg.args = match kind {
            Kind::OneOf => {
                let mut v = Vec::with_capacity(alts.len());
                for mut alt in alts {
                    match (alt.pop(), alt.is_empty()) {
                        (Some(a), true) => v.push(a),
                        _ => return self.fail("a oneof alternative is a single element"),
                    }
                }
                v
            }
            _ => match (alts.pop(), alts.is_empty()) {
                (Some(v), true) => v,
                _ => return self.fail("a block has no alternatives"),
            },
        };
        self.suffixes(&mut arg)?;
        Ok(arg)
    }
}

fn parse(line: &'static str) -> Parsed<Vec<Arg>> {
    if line.is_empty() {
        return Ok(Vec::new());
    }
    let mut p = Parser { s: line, pos: 0 };
    p.body(None)
        .and_then(|mut alts| match (alts.pop(), alts.is_empty()) {
            (Some(v), true) => Ok(v),
            _ => p.fail("'|' outside a group"),
        })
}

/// One command's documentation, ready to reply with.
struct Doc {
    row: &'static Row,
    args: Vec<Arg>,
    history: Vec<(&'static str, &'static str)>,
    doc_flags: Vec<&'static str>,
    deprecated_since: Option<&'static str>,
    replaced_by: Option<&'static str>,
}

/// name, since, group, complexity ("" when Redis has none), summary, arguments.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

fn table() -> &'static HashMap<&'static str, Doc> {
    static TABLE: OnceLock<HashMap<&'static str, Doc>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut docs: HashMap<&'static str, Doc> = ROWS
            .iter()
            .map(|row| {
                // A line that does not parse is a bug in the table (the unit test catches it);
                // the command then gets its summary without arguments rather than a panic.
                let args = parse(row.5).unwrap_or_default();
                let doc = Doc {
                    row,
                    args,
                    history: Vec::new(),
                    doc_flags: Vec::new(),
                    deprecated_since: None,
                    replaced_by: None,
                };
                (row.0, doc)
            })
            .collect();
        for &(name, version, change) in HISTORY {
            if let Some(d) = docs.get_mut(name) {
                d.history.push((version, change));
            }
        }
        for &(name, since, by) in DEPRECATED {
            if let Some(d) = docs.get_mut(name) {
                d.deprecated_since = Some(since);
                d.replaced_by = Some(by);
            }
        }
        for &(name, flag) in DOC_FLAGS {
            if let Some(d) = docs.get_mut(name) {
                d.doc_flags.push(flag);
            }
        }
        docs
    })
}

fn write_arg(out: &mut ReplyBuf, a: &Arg) {
    let nested = matches!(a.kind, Kind::OneOf | Kind::Block);
    let has_flags = a.optional || a.multiple || a.multiple_token;
    let n = 2
        + usize::from(a.key_spec_index.is_some())
        + usize::from(a.token.is_some())
        + usize::from(a.since.is_some())
        + usize::from(a.deprecated_since.is_some())
        + usize::from(has_flags)
        + usize::from(nested);
    out.map(n);
    out.bulk(b"name");
    out.bulk(a.name.as_bytes());
    out.bulk(b"type");
    out.bulk(a.kind.name().as_bytes());
    if let Some(i) = a.key_spec_index {
        out.bulk(b"key_spec_index");
        out.int(i64::from(i));
    }
    if let Some(t) = a.token {
        out.bulk(b"token");
        out.bulk(t.as_bytes());
    }
    if let Some(s) = a.since {
        out.bulk(b"since");
        out.bulk(s.as_bytes());
    }
    if let Some(s) = a.deprecated_since {
        out.bulk(b"deprecated_since");
        out.bulk(s.as_bytes());
    }
    if has_flags {
        out.bulk(b"flags");
        let flags = [
            (a.optional, "optional"),
            (a.multiple, "multiple"),
            (a.multiple_token, "multiple_token"),
        ];
        out.set(flags.iter().filter(|f| f.0).count());
        for (_, f) in flags.iter().filter(|f| f.0) {
            out.simple(f);
        }
    }
    if nested {
        out.bulk(b"arguments");
        write_args(out, &a.args);
    }
}

fn write_args(out: &mut ReplyBuf, args: &[Arg]) {
    out.array(args.len());
    for a in args {
        write_arg(out, a);
    }
}

/// Writes one command's name and documentation map. `group_of` names the group of a command
/// the table does not cover.
fn write_doc(
    out: &mut ReplyBuf,
    c: &Command,
    parent: Option<&Command>,
    group_of: fn(&Command) -> &'static str,
) {
    let name = full_name(parent, c);
    out.bulk(name.as_bytes());
    let subs = !c.subcommands.is_empty();
    let Some(d) = table().get(name.as_str()) else {
        out.map(3 + usize::from(subs));
        out.bulk(b"summary");
        out.bulk(format!("The {} command", name.to_ascii_uppercase()).as_bytes());
        out.bulk(b"since");
        out.bulk(b"1.0.0");
        out.bulk(b"group");
        out.bulk(group_of(parent.unwrap_or(c)).as_bytes());
        write_subcommands(out, c, group_of);
        return;
    };
    let (_, since, group, complexity, summary, _) = *d.row;
    let n = 3
        + usize::from(!complexity.is_empty())
        + usize::from(!d.doc_flags.is_empty())
        + usize::from(d.deprecated_since.is_some())
        + usize::from(d.replaced_by.is_some())
        + usize::from(!d.history.is_empty())
        + usize::from(!d.args.is_empty())
        + usize::from(subs);
    out.map(n);
    out.bulk(b"summary");
    out.bulk(summary.as_bytes());
    out.bulk(b"since");
    out.bulk(since.as_bytes());
    out.bulk(b"group");
    out.bulk(group.as_bytes());
    if !complexity.is_empty() {
        out.bulk(b"complexity");
        out.bulk(complexity.as_bytes());
    }
    if !d.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        out.set(d.doc_flags.len());
        for f in &d.doc_flags {
            out.simple(f);
        }
    }
    if let Some(s) = d.deprecated_since {
        out.bulk(b"deprecated_since");
        out.bulk(s.as_bytes());
    }
    if let Some(s) = d.replaced_by {
        out.bulk(b"replaced_by");
        out.bulk(s.as_bytes());
    }
    if !d.history.is_empty() {
        out.bulk(b"history");
        out.set(d.history.len());
        for (version, change) in &d.history {
            out.array(2);
            out.bulk(version.as_bytes());
            out.bulk(change.as_bytes());
        }
    }
    if !d.args.is_empty() {
        out.bulk(b"arguments");
        write_args(out, &d.args);
    }
    write_subcommands(out, c, group_of);
}

fn write_subcommands(out: &mut ReplyBuf, c: &Command, group_of: fn(&Command) -> &'static str) {
    if c.subcommands.is_empty() {
        return;
    }
    out.bulk(b"subcommands");
    out.map(c.subcommands.len());
    for s in c.subcommands {
        write_doc(out, s, Some(c), group_of);
    }
}

/// The COMMAND DOCS reply for `list` (command, parent when it is a subcommand).
pub(crate) fn reply(
    out: &mut ReplyBuf,
    list: &[(&'static Command, Option<&'static Command>)],
    group_of: fn(&Command) -> &'static str,
) {
    out.map(list.len());
    for &(c, parent) in list {
        write_doc(out, c, parent, group_of);
    }
}

// The tables. Groups in Redis's order of families, commands by name, each container followed
// by its subcommands.

#[rustfmt::skip]
const ROWS: &[Row] = &[
    ("append", "2.0.0", "string", "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.", "Append a value to a key",
     "key:k value"),
    ("decr", "1.0.0", "string", "O(1)", "Decrement the integer value of a key by one",
     "key:k"),
    ("decrby", "1.0.0", "string", "O(1)", "Decrement the integer value of a key by the given number",
     "key:k decrement:i"),
    ("get", "1.0.0", "string", "O(1)", "Get the value of a key",
     "key:k"),
    ("getdel", "6.2.0", "string", "O(1)", "Get the value of a key and delete the key",
     "key:k"),
    ("getex", "6.2.0", "string", "O(1)", "Get the value of a key and optionally set its expiration",
     "key:k [EX=seconds:i|PX=milliseconds:i|EXAT=unix-time-seconds:t|PXAT=unix-time-milliseconds:t|PERSIST]=expiration"),
    ("getrange", "2.4.0", "string", "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.", "Get a substring of the string stored at a key",
     "key:k start:i end:i"),
    ("getset", "1.0.0", "string", "O(1)", "Set the string value of a key and return its old value",
     "key:k value"),
    ("incr", "1.0.0", "string", "O(1)", "Increment the integer value of a key by one",
     "key:k"),
    ("incrby", "1.0.0", "string", "O(1)", "Increment the integer value of a key by the given amount",
     "key:k increment:i"),
    ("incrbyfloat", "2.6.0", "string", "O(1)", "Increment the float value of a key by the given amount",
     "key:k increment:d"),
    ("sort", "1.0.0", "generic", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", "Sort the elements in a list, set or sorted set",
     "key:k [BY=pattern:p#1] [LIMIT[offset:i count:i]=offset_count] [GET=pattern:p#1*+] [ASC|DESC]=order [ALPHA=sorting] [STORE=destination:k#2]"),
    ("sort_ro", "7.0.0", "generic", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
     "key:k [BY=pattern:p#1] [LIMIT[offset:i count:i]=offset_count] [GET=pattern:p#1*+] [ASC|DESC]=order [ALPHA=sorting]"),
    ("setbit", "2.2.0", "bitmap", "O(1)", "Sets or clears the bit at offset in the string value stored at key",
     "key:k offset:i value:i"),
    ("getbit", "2.2.0", "bitmap", "O(1)", "Returns the bit value at offset in the string value stored at key",
     "key:k offset:i"),
    ("pfadd", "2.8.9", "hyperloglog", "O(1) to add every element.", "Adds the specified elements to the specified HyperLogLog.",
     "key:k [element*]"),
    ("pfcount", "2.8.9", "hyperloglog", "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.", "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
     "key:k*"),
    ("pfmerge", "2.8.9", "hyperloglog", "O(N) to merge N HyperLogLogs, but with high constant times.", "Merge N different HyperLogLogs into a single one.",
     "destkey:k sourcekey:k#1*"),
    ("pfdebug", "2.8.9", "hyperloglog", "N/A", "Internal commands for debugging HyperLogLog values",
     "subcommand key:k"),
    ("pfselftest", "2.8.9", "hyperloglog", "N/A", "An internal command for testing HyperLogLog values",
     ""),
    ("bitfield", "3.2.0", "bitmap", "O(1) for each subcommand specified", "Perform arbitrary bitfield integer operations on strings",
     "key:k [GET(encoding offset:i)=encoding_offset|(OVERFLOW[WRAP|SAT|FAIL]=wrap_sat_fail (SET(encoding offset:i value:i)=encoding_offset_value|INCRBY(encoding offset:i increment:i)=encoding_offset_increment)=write_operation)=write]=operation*"),
    ("bitfield_ro", "6.0.0", "bitmap", "O(1) for each subcommand specified", "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
     "key:k GET[encoding offset:i]=encoding_offset*+"),
    ("geoadd", "3.2.0", "geo", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", "Add one or more geospatial items in the geospatial index represented using a sorted set",
     "key:k [NX|XX]=condition@6.2.0 [CH=change@6.2.0] (longitude:d latitude:d member)=longitude_latitude_member*"),
    ("geodist", "3.2.0", "geo", "O(log(N))", "Returns the distance between two members of a geospatial index",
     "key:k member1 member2 [M=m|KM=km|FT=ft|MI=mi]=unit"),
    ("geohash", "3.2.0", "geo", "O(log(N)) for each member requested, where N is the number of elements in the sorted set.", "Returns members of a geospatial index as standard geohash strings",
     "key:k member*"),
    ("geopos", "3.2.0", "geo", "O(N) where N is the number of members requested.", "Returns longitude and latitude of members of a geospatial index",
     "key:k member*"),
    ("georadius", "3.2.0", "geo", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point",
     "key:k longitude:d latitude:d radius:d (M=m|KM=km|FT=ft|MI=mi)=unit [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT=count:i [ANY@6.2.0]]=count [ASC|DESC]=order [STORE=key:k#1] [STOREDIST=key:k#2]"),
    ("georadius_ro", "3.2.10", "geo", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", "A read-only variant for GEORADIUS",
     "key:k longitude:d latitude:d radius:d (M=m|KM=km|FT=ft|MI=mi)=unit [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT=count:i [ANY@6.2.0]]=count [ASC|DESC]=order"),
    ("georadiusbymember", "3.2.0", "geo", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member",
     "key:k member radius:d (M=m|KM=km|FT=ft|MI=mi)=unit [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT=count:i [ANY]]=count [ASC|DESC]=order [STORE=key:k#1] [STOREDIST=key:k#2]"),
    ("georadiusbymember_ro", "3.2.10", "geo", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", "A read-only variant for GEORADIUSBYMEMBER",
     "key:k member radius:d (M=m|KM=km|FT=ft|MI=mi)=unit [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT=count:i [ANY]]=count [ASC|DESC]=order"),
    ("geosearch", "6.2.0", "geo", "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
     "key:k (FROMMEMBER=member:s|FROMLONLAT(longitude:d latitude:d)=longitude_latitude)=from ((BYRADIUS=radius:d (M=m|KM=km|FT=ft|MI=mi)=unit)=circle|(BYBOX=width:d height:d (M=m|KM=km|FT=ft|MI=mi)=unit)=box)=by [ASC|DESC]=order [COUNT=count:i [ANY]]=count [WITHCOORD] [WITHDIST] [WITHHASH]"),
    ("geosearchstore", "6.2.0", "geo", "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.",
     "destination:k source:k#1 (FROMMEMBER=member:s|FROMLONLAT(longitude:d latitude:d)=longitude_latitude)=from ((BYRADIUS=radius:d (M=m|KM=km|FT=ft|MI=mi)=unit)=circle|(BYBOX=width:d height:d (M=m|KM=km|FT=ft|MI=mi)=unit)=box)=by [ASC|DESC]=order [COUNT=count:i [ANY]]=count [STOREDIST]"),
    ("bitcount", "2.6.0", "bitmap", "O(N)", "Count set bits in a string",
     "key:k [start:i end:i [BYTE|BIT]=index_unit@7.0.0]=index"),
    ("bitpos", "2.8.7", "bitmap", "O(N)", "Find first bit set or clear in a string",
     "key:k bit:i [start:i [end:i [BYTE|BIT]=index_unit@7.0.0]=end_index]=index"),
    ("bitop", "2.6.0", "bitmap", "O(N)", "Perform bitwise operations between strings",
     "operation destkey:k key:k#1*"),
    ("lcs", "7.0.0", "string", "O(N*M) where N and M are the lengths of s1 and s2, respectively", "Find longest common substring",
     "key1:k key2:k [LEN] [IDX] [MINMATCHLEN=len:i] [WITHMATCHLEN]"),
    ("mget", "1.0.0", "string", "O(N) where N is the number of keys to retrieve.", "Get the values of all the given keys",
     "key:k*"),
    ("mset", "1.0.1", "string", "O(N) where N is the number of keys to set.", "Set multiple keys to multiple values",
     "(key:k value)=key_value*"),
    ("msetnx", "1.0.1", "string", "O(N) where N is the number of keys to set.", "Set multiple keys to multiple values, only if none of the keys exist",
     "(key:k value)=key_value*"),
    ("psetex", "2.6.0", "string", "O(1)", "Set the value and expiration in milliseconds of a key",
     "key:k milliseconds:i value"),
    ("set", "1.0.0", "string", "O(1)", "Set the string value of a key",
     "key:k value [NX|XX]=condition@2.6.12 [GET@6.2.0] [EX=seconds:i@2.6.12|PX=milliseconds:i@2.6.12|EXAT=unix-time-seconds:t@6.2.0|PXAT=unix-time-milliseconds:t@6.2.0|KEEPTTL@6.0.0]=expiration"),
    ("setex", "2.0.0", "string", "O(1)", "Set the value and expiration of a key",
     "key:k seconds:i value"),
    ("setnx", "1.0.0", "string", "O(1)", "Set the value of a key, only if the key does not exist",
     "key:k value"),
    ("setrange", "2.2.0", "string", "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.", "Overwrite part of a string at key starting at the specified offset",
     "key:k offset:i value"),
    ("strlen", "2.2.0", "string", "O(1)", "Get the length of the value stored in a key",
     "key:k"),
    ("substr", "1.0.0", "string", "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.", "Get a substring of the string stored at a key",
     "key:k start:i end:i"),
    ("copy", "6.2.0", "generic", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.", "Copy a key",
     "source:k destination:k#1 [DB=destination-db:i] [REPLACE]"),
    ("del", "1.0.0", "generic", "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).", "Delete a key",
     "key:k*"),
    ("dump", "2.6.0", "generic", "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).", "Return a serialized version of the value stored at the specified key.",
     "key:k"),
    ("exists", "1.0.0", "generic", "O(N) where N is the number of keys to check.", "Determine if a key exists",
     "key:k*"),
    ("expire", "1.0.0", "generic", "O(1)", "Set a key's time to live in seconds",
     "key:k seconds:i [NX|XX|GT|LT]=condition@7.0.0"),
    ("expireat", "1.2.0", "generic", "O(1)", "Set the expiration for a key as a UNIX timestamp",
     "key:k unix-time-seconds:t [NX|XX|GT|LT]=condition@7.0.0"),
    ("expiretime", "7.0.0", "generic", "O(1)", "Get the expiration Unix timestamp for a key",
     "key:k"),
    ("keys", "1.0.0", "generic", "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.", "Find all keys matching the given pattern",
     "pattern:p"),
    ("migrate", "2.6.0", "generic", "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.", "Atomically transfer a key from a Redis instance to another one.",
     "host port:i (key:k|''=empty_string)=key_or_empty_string destination-db:i timeout:i [COPY@3.0.0] [REPLACE@3.0.0] [[AUTH=password:s@4.0.7]|AUTH2[username password]=username_password@6.0.0]=authentication [KEYS=key:k#1@3.0.6*]"),
    ("move", "1.0.0", "generic", "O(1)", "Move a key to another database",
     "key:k db:i"),
    ("object", "2.2.3", "generic", "Depends on subcommand.", "A container for object introspection commands",
     ""),
    ("object|encoding", "2.2.3", "generic", "O(1)", "Inspect the internal encoding of a Redis object",
     "key:k"),
    ("object|freq", "4.0.0", "generic", "O(1)", "Get the logarithmic access frequency counter of a Redis object",
     "key:k"),
    ("object|help", "6.2.0", "generic", "O(1)", "Show helpful text about the different subcommands",
     ""),
    ("object|idletime", "2.2.3", "generic", "O(1)", "Get the time since a Redis object was last accessed",
     "key:k"),
    ("object|refcount", "2.2.3", "generic", "O(1)", "Get the number of references to the value of the key",
     "key:k"),
    ("persist", "2.2.0", "generic", "O(1)", "Remove the expiration from a key",
     "key:k"),
    ("pexpire", "2.6.0", "generic", "O(1)", "Set a key's time to live in milliseconds",
     "key:k milliseconds:i [NX|XX|GT|LT]=condition@7.0.0"),
    ("pexpireat", "2.6.0", "generic", "O(1)", "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
     "key:k unix-time-milliseconds:t [NX|XX|GT|LT]=condition@7.0.0"),
    ("pexpiretime", "7.0.0", "generic", "O(1)", "Get the expiration Unix timestamp for a key in milliseconds",
     "key:k"),
    ("pttl", "2.6.0", "generic", "O(1)", "Get the time to live for a key in milliseconds",
     "key:k"),
    ("randomkey", "1.0.0", "generic", "O(1)", "Return a random key from the keyspace",
     ""),
    ("rename", "1.0.0", "generic", "O(1)", "Rename a key",
     "key:k newkey:k#1"),
    ("renamenx", "1.0.0", "generic", "O(1)", "Rename a key, only if the new key does not exist",
     "key:k newkey:k#1"),
    ("restore", "2.6.0", "generic", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).", "Create a key using the provided serialized value, previously obtained using DUMP.",
     "key:k ttl:i serialized-value [REPLACE@3.0.0] [ABSTTL@5.0.0] [IDLETIME=seconds:i@5.0.0] [FREQ=frequency:i@5.0.0]"),
    ("scan", "2.8.0", "generic", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", "Incrementally iterate the keys space",
     "cursor:i [MATCH=pattern:p] [COUNT=count:i] [TYPE=type:s@6.0.0]"),
    ("sort", "1.0.0", "generic", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", "Sort the elements in a list, set or sorted set",
     "key:k [BY=pattern:p#1] LIMIT[offset:i count:i]=offset_count [GET=pattern:p#1*+] [ASC|DESC]=order [ALPHA=sorting] [STORE=destination:k#2]"),
    ("sort_ro", "7.0.0", "generic", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
     "key:k [BY=pattern:p#1] LIMIT[offset:i count:i]=offset_count [GET=pattern:p#1*+] [ASC|DESC]=order [ALPHA=sorting]"),
    ("touch", "3.2.1", "generic", "O(N) where N is the number of keys that will be touched.", "Alters the last access time of a key(s). Returns the number of existing keys specified.",
     "key:k*"),
    ("ttl", "1.0.0", "generic", "O(1)", "Get the time to live for a key in seconds",
     "key:k"),
    ("type", "1.0.0", "generic", "O(1)", "Determine the type stored at key",
     "key:k"),
    ("unlink", "4.0.0", "generic", "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
     "key:k*"),
    ("wait", "3.0.0", "generic", "O(1)", "Wait for the synchronous replication of all the write commands sent in the context of the current connection",
     "numreplicas:i timeout:i"),
    ("blmove", "6.2.0", "list", "O(1)", "Pop an element from a list, push it to another list and return it; or block until one is available",
     "source:k destination:k#1 (LEFT|RIGHT)=wherefrom (LEFT|RIGHT)=whereto timeout:d"),
    ("blmpop", "7.0.0", "list", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", "Pop elements from a list, or block until one is available",
     "timeout:d numkeys:i key:k* (LEFT|RIGHT)=where [COUNT=count:i]"),
    ("blpop", "2.0.0", "list", "O(N) where N is the number of provided keys.", "Remove and get the first element in a list, or block until one is available",
     "key:k* timeout:d"),
    ("brpop", "2.0.0", "list", "O(N) where N is the number of provided keys.", "Remove and get the last element in a list, or block until one is available",
     "key:k* timeout:d"),
    ("brpoplpush", "2.2.0", "list", "O(1)", "Pop an element from a list, push it to another list and return it; or block until one is available",
     "source:k destination:k#1 timeout:d"),
    ("lindex", "1.0.0", "list", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).", "Get an element from a list by its index",
     "key:k index:i"),
    ("linsert", "2.2.0", "list", "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).", "Insert an element before or after another element in a list",
     "key:k (BEFORE|AFTER)=where pivot element"),
    ("llen", "1.0.0", "list", "O(1)", "Get the length of a list",
     "key:k"),
    ("lmove", "6.2.0", "list", "O(1)", "Pop an element from a list, push it to another list and return it",
     "source:k destination:k#1 (LEFT|RIGHT)=wherefrom (LEFT|RIGHT)=whereto"),
    ("lmpop", "7.0.0", "list", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", "Pop elements from a list",
     "numkeys:i key:k* (LEFT|RIGHT)=where [COUNT=count:i]"),
    ("lpop", "1.0.0", "list", "O(N) where N is the number of elements returned", "Remove and get the first elements in a list",
     "key:k [count:i@6.2.0]"),
    ("lpos", "6.0.6", "list", "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.", "Return the index of matching elements on a list",
     "key:k element [RANK=rank:i] [COUNT=num-matches:i] [MAXLEN=len:i]"),
    ("lpush", "1.0.0", "list", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "Prepend one or multiple elements to a list",
     "key:k element*"),
    ("lpushx", "2.2.0", "list", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "Prepend an element to a list, only if the list exists",
     "key:k element*"),
    ("lrange", "1.0.0", "list", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.", "Get a range of elements from a list",
     "key:k start:i stop:i"),
    ("lrem", "1.0.0", "list", "O(N+M) where N is the length of the list and M is the number of elements removed.", "Remove elements from a list",
     "key:k count:i element"),
    ("lset", "1.0.0", "list", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).", "Set the value of an element in a list by its index",
     "key:k index:i element"),
    ("ltrim", "1.0.0", "list", "O(N) where N is the number of elements to be removed by the operation.", "Trim a list to the specified range",
     "key:k start:i stop:i"),
    ("rpop", "1.0.0", "list", "O(N) where N is the number of elements returned", "Remove and get the last elements in a list",
     "key:k [count:i@6.2.0]"),
    ("rpoplpush", "1.2.0", "list", "O(1)", "Remove the last element in a list, prepend it to another list and return it",
     "source:k destination:k#1"),
    ("rpush", "1.0.0", "list", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "Append one or multiple elements to a list",
     "key:k element*"),
    ("rpushx", "2.2.0", "list", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "Append an element to a list, only if the list exists",
     "key:k element*"),
    ("hdel", "2.0.0", "hash", "O(N) where N is the number of fields to be removed.", "Delete one or more hash fields",
     "key:k field*"),
    ("hexists", "2.0.0", "hash", "O(1)", "Determine if a hash field exists",
     "key:k field"),
    ("hget", "2.0.0", "hash", "O(1)", "Get the value of a hash field",
     "key:k field"),
    ("hgetall", "2.0.0", "hash", "O(N) where N is the size of the hash.", "Get all the fields and values in a hash",
     "key:k"),
    ("hincrby", "2.0.0", "hash", "O(1)", "Increment the integer value of a hash field by the given number",
     "key:k field increment:i"),
    ("hincrbyfloat", "2.6.0", "hash", "O(1)", "Increment the float value of a hash field by the given amount",
     "key:k field increment:d"),
    ("hkeys", "2.0.0", "hash", "O(N) where N is the size of the hash.", "Get all the fields in a hash",
     "key:k"),
    ("hlen", "2.0.0", "hash", "O(1)", "Get the number of fields in a hash",
     "key:k"),
    ("hmget", "2.0.0", "hash", "O(N) where N is the number of fields being requested.", "Get the values of all the given hash fields",
     "key:k field*"),
    ("hmset", "2.0.0", "hash", "O(N) where N is the number of fields being set.", "Set multiple hash fields to multiple values",
     "key:k (field value)=field_value*"),
    ("hrandfield", "6.2.0", "hash", "O(N) where N is the number of fields returned", "Get one or multiple random fields from a hash",
     "key:k [count:i [WITHVALUES]]=options"),
    ("hscan", "2.8.0", "hash", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", "Incrementally iterate hash fields and associated values",
     "key:k cursor:i [MATCH=pattern:p] [COUNT=count:i]"),
    ("hset", "2.0.0", "hash", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.", "Set the string value of a hash field",
     "key:k (field value)=field_value*"),
    ("hsetnx", "2.0.0", "hash", "O(1)", "Set the value of a hash field, only if the field does not exist",
     "key:k field value"),
    ("hstrlen", "3.2.0", "hash", "O(1)", "Get the length of the value of a hash field",
     "key:k field"),
    ("hvals", "2.0.0", "hash", "O(N) where N is the size of the hash.", "Get all the values in a hash",
     "key:k"),
    ("sadd", "1.0.0", "set", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "Add one or more members to a set",
     "key:k member*"),
    ("scard", "1.0.0", "set", "O(1)", "Get the number of members in a set",
     "key:k"),
    ("sdiff", "1.0.0", "set", "O(N) where N is the total number of elements in all given sets.", "Subtract multiple sets",
     "key:k*"),
    ("sdiffstore", "1.0.0", "set", "O(N) where N is the total number of elements in all given sets.", "Subtract multiple sets and store the resulting set in a key",
     "destination:k key:k#1*"),
    ("sinter", "1.0.0", "set", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", "Intersect multiple sets",
     "key:k*"),
    ("sintercard", "7.0.0", "set", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", "Intersect multiple sets and return the cardinality of the result",
     "numkeys:i key:k* [LIMIT=limit:i]"),
    ("sinterstore", "1.0.0", "set", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", "Intersect multiple sets and store the resulting set in a key",
     "destination:k key:k#1*"),
    ("sismember", "1.0.0", "set", "O(1)", "Determine if a given value is a member of a set",
     "key:k member"),
    ("smembers", "1.0.0", "set", "O(N) where N is the set cardinality.", "Get all the members in a set",
     "key:k"),
    ("smismember", "6.2.0", "set", "O(N) where N is the number of elements being checked for membership", "Returns the membership associated with the given elements for a set",
     "key:k member*"),
    ("smove", "1.0.0", "set", "O(1)", "Move a member from one set to another",
     "source:k destination:k#1 member"),
    ("spop", "1.0.0", "set", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.", "Remove and return one or multiple random members from a set",
     "key:k [count:i@3.2.0]"),
    ("srandmember", "1.0.0", "set", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.", "Get one or multiple random members from a set",
     "key:k [count:i@2.6.0]"),
    ("srem", "1.0.0", "set", "O(N) where N is the number of members to be removed.", "Remove one or more members from a set",
     "key:k member*"),
    ("sscan", "2.8.0", "set", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", "Incrementally iterate Set elements",
     "key:k cursor:i [MATCH=pattern:p] [COUNT=count:i]"),
    ("sunion", "1.0.0", "set", "O(N) where N is the total number of elements in all given sets.", "Add multiple sets",
     "key:k*"),
    ("sunionstore", "1.0.0", "set", "O(N) where N is the total number of elements in all given sets.", "Add multiple sets and store the resulting set in a key",
     "destination:k key:k#1*"),
    ("bzmpop", "7.0.0", "sorted-set", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", "Remove and return members with scores in a sorted set or block until one is available",
     "timeout:d numkeys:i key:k* (MIN|MAX)=where [COUNT=count:i]"),
    ("bzpopmax", "5.0.0", "sorted-set", "O(log(N)) with N being the number of elements in the sorted set.", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
     "key:k* timeout:d"),
    ("bzpopmin", "5.0.0", "sorted-set", "O(log(N)) with N being the number of elements in the sorted set.", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
     "key:k* timeout:d"),
    ("zadd", "1.2.0", "sorted-set", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", "Add one or more members to a sorted set, or update its score if it already exists",
     "key:k [NX|XX]=condition@3.0.2 [GT|LT]=comparison@6.2.0 [CH=change@3.0.2] [INCR=increment@3.0.2] (score:d member)=score_member*"),
    ("zcard", "1.2.0", "sorted-set", "O(1)", "Get the number of members in a sorted set",
     "key:k"),
    ("zcount", "2.0.0", "sorted-set", "O(log(N)) with N being the number of elements in the sorted set.", "Count the members in a sorted set with scores within the given values",
     "key:k min:d max:d"),
    ("zdiff", "6.2.0", "sorted-set", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", "Subtract multiple sorted sets",
     "numkeys:i key:k* [WITHSCORES]"),
    ("zdiffstore", "6.2.0", "sorted-set", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", "Subtract multiple sorted sets and store the resulting sorted set in a new key",
     "destination:k numkeys:i key:k#1*"),
    ("zincrby", "1.2.0", "sorted-set", "O(log(N)) where N is the number of elements in the sorted set.", "Increment the score of a member in a sorted set",
     "key:k increment:i member"),
    ("zinter", "6.2.0", "sorted-set", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", "Intersect multiple sorted sets",
     "numkeys:i key:k* [WEIGHTS=weight:i*] AGGREGATE[SUM|MIN|MAX]=aggregate [WITHSCORES]"),
    ("zintercard", "7.0.0", "sorted-set", "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.", "Intersect multiple sorted sets and return the cardinality of the result",
     "numkeys:i key:k* [LIMIT=limit:i]"),
    ("zinterstore", "2.0.0", "sorted-set", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", "Intersect multiple sorted sets and store the resulting sorted set in a new key",
     "destination:k numkeys:i key:k#1* [WEIGHTS=weight:i*] AGGREGATE[SUM|MIN|MAX]=aggregate"),
    ("zlexcount", "2.8.9", "sorted-set", "O(log(N)) with N being the number of elements in the sorted set.", "Count the number of members in a sorted set between a given lexicographical range",
     "key:k min max"),
    ("zmpop", "7.0.0", "sorted-set", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", "Remove and return members with scores in a sorted set",
     "numkeys:i key:k* (MIN|MAX)=where [COUNT=count:i]"),
    ("zmscore", "6.2.0", "sorted-set", "O(N) where N is the number of members being requested.", "Get the score associated with the given members in a sorted set",
     "key:k member*"),
    ("zpopmax", "5.0.0", "sorted-set", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", "Remove and return members with the highest scores in a sorted set",
     "key:k [count:i]"),
    ("zpopmin", "5.0.0", "sorted-set", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", "Remove and return members with the lowest scores in a sorted set",
     "key:k [count:i]"),
    ("zrandmember", "6.2.0", "sorted-set", "O(N) where N is the number of elements returned", "Get one or multiple random elements from a sorted set",
     "key:k [count:i [WITHSCORES]]=options"),
    ("zrange", "1.2.0", "sorted-set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", "Return a range of members in a sorted set",
     "key:k start stop [BYSCORE|BYLEX]=sortby@6.2.0 [REV@6.2.0] LIMIT[offset:i count:i]=offset_count@6.2.0 [WITHSCORES]"),
    ("zrangebylex", "2.8.9", "sorted-set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", "Return a range of members in a sorted set, by lexicographical range",
     "key:k min max LIMIT[offset:i count:i]=offset_count"),
    ("zrangebyscore", "1.0.5", "sorted-set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", "Return a range of members in a sorted set, by score",
     "key:k min:d max:d [WITHSCORES@2.0.0] LIMIT[offset:i count:i]=offset_count"),
    ("zrangestore", "6.2.0", "sorted-set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.", "Store a range of members from sorted set into another key",
     "dst:k src:k#1 min max [BYSCORE|BYLEX]=sortby [REV] LIMIT[offset:i count:i]=offset_count"),
    ("zrank", "2.0.0", "sorted-set", "O(log(N))", "Determine the index of a member in a sorted set",
     "key:k member"),
    ("zrem", "1.2.0", "sorted-set", "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.", "Remove one or more members from a sorted set",
     "key:k member*"),
    ("zremrangebylex", "2.8.9", "sorted-set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", "Remove all members in a sorted set between the given lexicographical range",
     "key:k min max"),
    ("zremrangebyrank", "2.0.0", "sorted-set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", "Remove all members in a sorted set within the given indexes",
     "key:k start:i stop:i"),
    ("zremrangebyscore", "1.2.0", "sorted-set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", "Remove all members in a sorted set within the given scores",
     "key:k min:d max:d"),
    ("zrevrange", "1.2.0", "sorted-set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", "Return a range of members in a sorted set, by index, with scores ordered from high to low",
     "key:k start:i stop:i [WITHSCORES]"),
    ("zrevrangebylex", "2.8.9", "sorted-set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
     "key:k max min LIMIT[offset:i count:i]=offset_count"),
    ("zrevrangebyscore", "2.2.0", "sorted-set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", "Return a range of members in a sorted set, by score, with scores ordered from high to low",
     "key:k max:d min:d [WITHSCORES] LIMIT[offset:i count:i]=offset_count"),
    ("zrevrank", "2.0.0", "sorted-set", "O(log(N))", "Determine the index of a member in a sorted set, with scores ordered from high to low",
     "key:k member"),
    ("zscan", "2.8.0", "sorted-set", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", "Incrementally iterate sorted sets elements and associated scores",
     "key:k cursor:i [MATCH=pattern:p] [COUNT=count:i]"),
    ("zscore", "1.2.0", "sorted-set", "O(1)", "Get the score associated with the given member in a sorted set",
     "key:k member"),
    ("zunion", "6.2.0", "sorted-set", "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", "Add multiple sorted sets",
     "numkeys:i key:k* [WEIGHTS=weight:i*] AGGREGATE[SUM|MIN|MAX]=aggregate [WITHSCORES]"),
    ("zunionstore", "2.0.0", "sorted-set", "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", "Add multiple sorted sets and store the resulting sorted set in a new key",
     "destination:k numkeys:i key:k#1* [WEIGHTS=weight:i*] AGGREGATE[SUM|MIN|MAX]=aggregate"),
    ("discard", "2.0.0", "transactions", "O(N), when N is the number of queued commands", "Discard all commands issued after MULTI",
     ""),
    ("exec", "1.2.0", "transactions", "Depends on commands in the transaction", "Execute all commands issued after MULTI",
     ""),
    ("multi", "1.2.0", "transactions", "O(1)", "Mark the start of a transaction block",
     ""),
    ("unwatch", "2.2.0", "transactions", "O(1)", "Forget about all watched keys",
     ""),
    ("watch", "2.2.0", "transactions", "O(1) for every key.", "Watch the given keys to determine execution of the MULTI/EXEC block",
     "key:k*"),
    ("psubscribe", "2.0.0", "pubsub", "O(N) where N is the number of patterns the client is already subscribed to.", "Listen for messages published to channels matching the given patterns",
     "(pattern:p)=pattern:b*"),
    ("publish", "2.0.0", "pubsub", "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).", "Post a message to a channel",
     "channel message"),
    ("pubsub", "2.8.0", "pubsub", "Depends on subcommand.", "A container for Pub/Sub commands",
     ""),
    ("pubsub|channels", "2.8.0", "pubsub", "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", "List active channels",
     "[pattern:p]"),
    ("pubsub|help", "6.2.0", "pubsub", "O(1)", "Show helpful text about the different subcommands",
     ""),
    ("pubsub|numpat", "2.8.0", "pubsub", "O(1)", "Get the count of unique patterns pattern subscriptions",
     ""),
    ("pubsub|numsub", "2.8.0", "pubsub", "O(N) for the NUMSUB subcommand, where N is the number of requested channels", "Get the count of subscribers for channels",
     "[channel*]"),
    ("pubsub|shardchannels", "7.0.0", "pubsub", "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).", "List active shard channels",
     "[pattern:p]"),
    ("pubsub|shardnumsub", "7.0.0", "pubsub", "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels", "Get the count of subscribers for shard channels",
     "[shardchannel*]"),
    ("punsubscribe", "2.0.0", "pubsub", "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).", "Stop listening for messages posted to channels matching the given patterns",
     "[pattern:p*]"),
    ("spublish", "7.0.0", "pubsub", "O(N) where N is the number of clients subscribed to the receiving shard channel.", "Post a message to a shard channel",
     "shardchannel message"),
    ("ssubscribe", "7.0.0", "pubsub", "O(N) where N is the number of shard channels to subscribe to.", "Listen for messages published to the given shard channels",
     "shardchannel*"),
    ("subscribe", "2.0.0", "pubsub", "O(N) where N is the number of channels to subscribe to.", "Listen for messages published to the given channels",
     "channel*"),
    ("sunsubscribe", "7.0.0", "pubsub", "O(N) where N is the number of clients already subscribed to a shard channel.", "Stop listening for messages posted to the given shard channels",
     "[shardchannel*]"),
    ("unsubscribe", "2.0.0", "pubsub", "O(N) where N is the number of clients already subscribed to a channel.", "Stop listening for messages posted to the given channels",
     "[channel*]"),
    ("auth", "1.0.0", "connection", "O(N) where N is the number of passwords defined for the user", "Authenticate to the server",
     "[username@6.0.0] password"),
    ("client", "2.4.0", "connection", "Depends on subcommand.", "A container for client connection commands",
     ""),
    ("client|caching", "6.0.0", "connection", "O(1)", "Instruct the server about tracking or not keys in the next request",
     "(YES|NO)=mode"),
    ("client|getname", "2.6.9", "connection", "O(1)", "Get the current connection name",
     ""),
    ("client|getredir", "6.0.0", "connection", "O(1)", "Get tracking notifications redirection client ID if any",
     ""),
    ("client|help", "5.0.0", "connection", "O(1)", "Show helpful text about the different subcommands",
     ""),
    ("client|id", "5.0.0", "connection", "O(1)", "Returns the client ID for the current connection",
     ""),
    ("client|info", "6.2.0", "connection", "O(1)", "Returns information about the current client connection.",
     ""),
    ("client|kill", "2.4.0", "connection", "O(N) where N is the number of client connections", "Kill the connection of a client",
     "('ip:port'!2.8.12|([ID=client-id:i@2.8.12]|TYPE[NORMAL|MASTER@3.2.0|SLAVE|REPLICA@5.0.0|PUBSUB]=normal_master_slave_pubsub@2.8.12|[USER=username:s]|[ADDR='ip:port':s]|[LADDR='ip:port':s@6.2.0]|[SKIPME=yes/no:s])=new-format*)=filter"),
    ("client|list", "2.4.0", "connection", "O(N) where N is the number of client connections", "Get the list of client connections",
     "TYPE[NORMAL|MASTER|REPLICA|PUBSUB]=normal_master_replica_pubsub@5.0.0 ID[client-id:i*]=id:b@6.2.0"),
    ("client|no-evict", "7.0.0", "connection", "O(1)", "Set client eviction mode for the current connection",
     "(ON|OFF)=enabled"),
    ("client|pause", "2.9.50", "connection", "O(1)", "Stop processing commands from clients for some time",
     "timeout:i [WRITE|ALL]=mode@6.2.0"),
    ("client|reply", "3.2.0", "connection", "O(1)", "Instruct the server whether to reply to commands",
     "(ON|OFF|SKIP)=on_off_skip"),
    ("client|setname", "2.6.9", "connection", "O(1)", "Set the current connection name",
     "connection-name"),
    ("client|tracking", "6.0.0", "connection", "O(1). Some options may introduce additional complexity.", "Enable or disable server assisted client side caching support",
     "(ON|OFF)=status [REDIRECT=client-id:i] [PREFIX=prefix:s*+] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]"),
    ("client|trackinginfo", "6.2.0", "connection", "O(1)", "Return information about server assisted client side caching for the current connection",
     ""),
    ("client|unblock", "5.0.0", "connection", "O(log N) where N is the number of client connections", "Unblock a client blocked in a blocking command from a different connection",
     "client-id:i [TIMEOUT|ERROR]=timeout_error"),
    ("client|unpause", "6.2.0", "connection", "O(N) Where N is the number of paused clients", "Resume processing of clients that were paused",
     ""),
    ("echo", "1.0.0", "connection", "O(1)", "Echo the given string",
     "message"),
    ("hello", "6.0.0", "connection", "O(1)", "Handshake with Redis",
     "[protover:i AUTH[username password]=username_password [SETNAME=clientname:s]]=arguments"),
    ("ping", "1.0.0", "connection", "O(1)", "Ping the server",
     "[message]"),
    ("quit", "1.0.0", "connection", "O(1)", "Close the connection",
     ""),
    ("reset", "6.2.0", "connection", "O(1)", "Reset the connection",
     ""),
    ("select", "1.0.0", "connection", "O(1)", "Change the selected database for the current connection",
     "index:i"),
    ("acl", "6.0.0", "server", "Depends on subcommand.", "A container for Access List Control commands ",
     ""),
    ("acl|cat", "6.0.0", "server", "O(1) since the categories and commands are a fixed set.", "List the ACL categories or the commands inside a category",
     "[categoryname]"),
    ("acl|deluser", "6.0.0", "server", "O(1) amortized time considering the typical user.", "Remove the specified ACL users and the associated rules",
     "username*"),
    ("acl|dryrun", "7.0.0", "server", "O(1).", "Returns whether the user can execute the given command without executing the command.",
     "username command [arg*]"),
    ("acl|genpass", "6.0.0", "server", "O(1)", "Generate a pseudorandom secure password to use for ACL users",
     "[bits:i]"),
    ("acl|getuser", "6.0.0", "server", "O(N). Where N is the number of password, command and pattern rules that the user has.", "Get the rules for a specific ACL user",
     "username"),
    ("acl|help", "6.0.0", "server", "O(1)", "Show helpful text about the different subcommands",
     ""),
    ("acl|list", "6.0.0", "server", "O(N). Where N is the number of configured users.", "List the current ACL rules in ACL config file format",
     ""),
    ("acl|load", "6.0.0", "server", "O(N). Where N is the number of configured users.", "Reload the ACLs from the configured ACL file",
     ""),
    ("acl|log", "6.0.0", "server", "O(N) with N being the number of entries shown.", "List latest events denied because of ACLs in place",
     "[count:i|RESET]=operation"),
    ("acl|save", "6.0.0", "server", "O(N). Where N is the number of configured users.", "Save the current ACL rules in the configured ACL file",
     ""),
    ("acl|setuser", "6.0.0", "server", "O(N). Where N is the number of rules provided.", "Modify or create the rules for a specific ACL user",
     "username [rule*]"),
    ("acl|users", "6.0.0", "server", "O(N). Where N is the number of configured users.", "List the username of all the configured ACL rules",
     ""),
    ("acl|whoami", "6.0.0", "server", "O(1)", "Return the name of the user associated to the current connection",
     ""),
    ("bgrewriteaof", "1.0.0", "server", "O(1)", "Asynchronously rewrite the append-only file",
     ""),
    ("bgsave", "1.0.0", "server", "O(1)", "Asynchronously save the dataset to disk",
     "[SCHEDULE@3.2.2]"),
    ("command", "2.8.13", "server", "O(N) where N is the total number of Redis commands", "Get array of Redis command details",
     ""),
    ("command|count", "2.8.13", "server", "O(1)", "Get total number of Redis commands",
     ""),
    ("command|docs", "7.0.0", "server", "O(N) where N is the number of commands to look up", "Get array of specific Redis command documentation",
     "[command-name*]"),
    ("command|getkeys", "2.8.13", "server", "O(N) where N is the number of arguments to the command", "Extract keys given a full Redis command",
     ""),
    ("command|getkeysandflags", "7.0.0", "server", "O(N) where N is the number of arguments to the command", "Extract keys and access flags given a full Redis command",
     ""),
    ("command|help", "5.0.0", "server", "O(1)", "Show helpful text about the different subcommands",
     ""),
    ("command|info", "2.8.13", "server", "O(N) where N is the number of commands to look up", "Get array of specific Redis command details, or all when no argument is given.",
     "[command-name*]"),
    ("command|list", "7.0.0", "server", "O(N) where N is the total number of Redis commands", "Get an array of Redis command names",
     "FILTERBY[MODULE=module-name:s|ACLCAT=category:s|PATTERN=pattern:p]=filterby"),
    ("config", "2.0.0", "server", "Depends on subcommand.", "A container for server configuration commands",
     ""),
    ("config|get", "2.0.0", "server", "O(N) when N is the number of configuration parameters provided", "Get the values of configuration parameters",
     "(parameter)=parameter:b*"),
    ("config|help", "5.0.0", "server", "O(1)", "Show helpful text about the different subcommands",
     ""),
    ("config|resetstat", "2.0.0", "server", "O(1)", "Reset the stats returned by INFO",
     ""),
    ("config|rewrite", "2.8.0", "server", "O(1)", "Rewrite the configuration file with the in memory configuration",
     ""),
    ("config|set", "2.0.0", "server", "O(N) when N is the number of configuration parameters provided", "Set configuration parameters to the given values",
     "(parameter value)=parameter_value*"),
    ("dbsize", "1.0.0", "server", "O(1)", "Return the number of keys in the selected database",
     ""),
    ("debug", "1.0.0", "server", "Depends on subcommand.", "A container for debugging commands",
     ""),
    ("failover", "6.2.0", "server", "O(1)", "Start a coordinated failover between this server and one of its replicas.",
     "TO[host port:i [FORCE]]=target [ABORT] [TIMEOUT=milliseconds:i]"),
    ("flushall", "1.0.0", "server", "O(N) where N is the total number of keys in all databases", "Remove all keys from all databases",
     "[ASYNC@4.0.0|SYNC@6.2.0]=async"),
    ("flushdb", "1.0.0", "server", "O(N) where N is the number of keys in the selected database", "Remove all keys from the current database",
     "[ASYNC@4.0.0|SYNC@6.2.0]=async"),
    ("info", "1.0.0", "server", "O(1)", "Get information and statistics about the server",
     "[section*]"),
    ("lastsave", "1.0.0", "server", "O(1)", "Get the UNIX time stamp of the last successful save to disk",
     ""),
    ("latency", "2.8.13", "server", "Depends on subcommand.", "A container for latency diagnostics commands",
     ""),
    ("latency|doctor", "2.8.13", "server", "O(1)", "Return a human readable latency analysis report.",
     ""),
    ("latency|graph", "2.8.13", "server", "O(1)", "Return a latency graph for the event.",
     "event"),
    ("latency|help", "2.8.13", "server", "O(1)", "Show helpful text about the different subcommands.",
     ""),
    ("latency|histogram", "7.0.0", "server", "O(N) where N is the number of commands with latency information being retrieved.", "Return the cumulative distribution of latencies of a subset of commands or all.",
     "[command*]"),
    ("latency|history", "2.8.13", "server", "O(1)", "Return timestamp-latency samples for the event.",
     "event"),
    ("latency|latest", "2.8.13", "server", "O(1)", "Return the latest latency samples for all events.",
     ""),
    ("latency|reset", "2.8.13", "server", "O(1)", "Reset latency data for one or more events.",
     "[event*]"),
    ("lolwut", "5.0.0", "server", "", "Display some computer art and the Redis version",
     "[VERSION=version:i]"),
    ("memory", "4.0.0", "server", "Depends on subcommand.", "A container for memory diagnostics commands",
     ""),
    ("memory|doctor", "4.0.0", "server", "O(1)", "Outputs memory problems report",
     ""),
    ("memory|help", "4.0.0", "server", "O(1)", "Show helpful text about the different subcommands",
     ""),
    ("memory|malloc-stats", "4.0.0", "server", "Depends on how much memory is allocated, could be slow", "Show allocator internal stats",
     ""),
    ("memory|purge", "4.0.0", "server", "Depends on how much memory is allocated, could be slow", "Ask the allocator to release memory",
     ""),
    ("memory|stats", "4.0.0", "server", "O(1)", "Show memory usage details",
     ""),
    ("memory|usage", "4.0.0", "server", "O(N) where N is the number of samples.", "Estimate the memory usage of a key",
     "key:k [SAMPLES=count:i]"),
    ("module", "4.0.0", "server", "Depends on subcommand.", "A container for module commands",
     ""),
    ("module|help", "5.0.0", "server", "O(1)", "Show helpful text about the different subcommands",
     ""),
    ("module|list", "4.0.0", "server", "O(N) where N is the number of loaded modules.", "List all modules loaded by the server",
     ""),
    ("module|load", "4.0.0", "server", "O(1)", "Load a module",
     "path [arg*]"),
    ("module|loadex", "7.0.0", "server", "O(1)", "Load a module with extended parameters",
     "path CONFIG[name value]=configs*+ ARGS[arg]=args:b*"),
    ("module|unload", "4.0.0", "server", "O(1)", "Unload a module",
     "name"),
    ("monitor", "1.0.0", "server", "", "Listen for all requests received by the server in real time",
     ""),
    ("psync", "2.8.0", "server", "", "Internal command used for replication",
     "replicationid offset:i"),
    ("replconf", "3.0.0", "server", "O(1)", "An internal command for configuring the replication stream",
     ""),
    ("replicaof", "5.0.0", "server", "O(1)", "Make the server a replica of another instance, or promote it as master.",
     "((host port:i)=host-port|(NO ONE)=no-one)=args"),
    ("restore-asking", "3.0.0", "server", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).", "An internal command for migrating keys in a cluster",
     "key:k ttl:i serialized-value [REPLACE@3.0.0] [ABSTTL@5.0.0] [IDLETIME=seconds:i@5.0.0] [FREQ=frequency:i@5.0.0]"),
    ("role", "2.8.12", "server", "O(1)", "Return the role of the instance in the context of replication",
     ""),
    ("save", "1.0.0", "server", "O(N) where N is the total number of keys in all databases", "Synchronously save the dataset to disk",
     ""),
    ("shutdown", "1.0.0", "server", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)", "Synchronously save the dataset to disk and then shut down the server",
     "[NOSAVE|SAVE]=nosave_save [NOW@7.0.0] [FORCE@7.0.0] [ABORT@7.0.0]"),
    ("slaveof", "1.0.0", "server", "O(1)", "Make the server a replica of another instance, or promote it as master.",
     "((host port:i)=host-port|(NO ONE)=no-one)=args"),
    ("slowlog", "2.2.12", "server", "Depends on subcommand.", "A container for slow log commands",
     ""),
    ("slowlog|get", "2.2.12", "server", "O(N) where N is the number of entries returned", "Get the slow log's entries",
     "[count:i]"),
    ("slowlog|help", "6.2.0", "server", "O(1)", "Show helpful text about the different subcommands",
     ""),
    ("slowlog|len", "2.2.12", "server", "O(1)", "Get the slow log's length",
     ""),
    ("slowlog|reset", "2.2.12", "server", "O(N) where N is the number of entries in the slowlog", "Clear all entries from the slow log",
     ""),
    ("swapdb", "4.0.0", "server", "O(N) where N is the count of clients watching or blocking on keys from both databases.", "Swaps two Redis databases",
     "index1:i index2:i"),
    ("sync", "1.0.0", "server", "", "Internal command used for replication",
     ""),
    ("time", "2.6.0", "server", "O(1)", "Return the current server time",
     ""),
];

/// Version and change, in Redis's order, for commands whose behaviour changed over time.
#[rustfmt::skip]
const HISTORY: &[(&str, &str, &str)] = &[
    ("set", "2.6.12", "Added the `EX`, `PX`, `NX` and `XX` options."),
    ("set", "6.0.0", "Added the `KEEPTTL` option."),
    ("set", "6.2.0", "Added the `GET`, `EXAT` and `PXAT` option."),
    ("set", "7.0.0", "Allowed the `NX` and `GET` options to be used together."),
    ("exists", "3.0.3", "Accepts multiple `key` arguments."),
    ("expire", "7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`."),
    ("expireat", "7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`."),
    ("migrate", "3.0.0", "Added the `COPY` and `REPLACE` options."),
    ("migrate", "3.0.6", "Added the `KEYS` option."),
    ("migrate", "4.0.7", "Added the `AUTH` option."),
    ("migrate", "6.0.0", "Added the `AUTH2` option."),
    ("pexpire", "7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`."),
    ("pexpireat", "7.0.0", "Added options: `NX`, `XX`, `GT` and `LT`."),
    ("pttl", "2.8.0", "Added the -2 reply."),
    ("renamenx", "3.2.0", "The command no longer returns an error when source and destination names are the same."),
    ("restore", "3.0.0", "Added the `REPLACE` modifier."),
    ("restore", "5.0.0", "Added the `ABSTTL` modifier."),
    ("restore", "5.0.0", "Added the `IDLETIME` and `FREQ` options."),
    ("scan", "6.0.0", "Added the `TYPE` subcommand."),
    ("ttl", "2.8.0", "Added the -2 reply."),
    ("blpop", "6.0.0", "`timeout` is interpreted as a double instead of an integer."),
    ("brpop", "6.0.0", "`timeout` is interpreted as a double instead of an integer."),
    ("brpoplpush", "6.0.0", "`timeout` is interpreted as a double instead of an integer."),
    ("lpop", "6.2.0", "Added the `count` argument."),
    ("lpush", "2.4.0", "Accepts multiple `element` arguments."),
    ("lpushx", "4.0.0", "Accepts multiple `element` arguments."),
    ("rpop", "6.2.0", "Added the `count` argument."),
    ("rpush", "2.4.0", "Accepts multiple `element` arguments."),
    ("rpushx", "4.0.0", "Accepts multiple `element` arguments."),
    ("hdel", "2.4.0", "Accepts multiple `field` arguments."),
    ("hset", "4.0.0", "Accepts multiple `field` and `value` arguments."),
    ("sadd", "2.4.0", "Accepts multiple `member` arguments."),
    ("spop", "3.2.0", "Added the `count` argument."),
    ("srandmember", "2.6.0", "Added the optional `count` argument."),
    ("srem", "2.4.0", "Accepts multiple `member` arguments."),
    ("bzpopmax", "6.0.0", "`timeout` is interpreted as a double instead of an integer."),
    ("bzpopmin", "6.0.0", "`timeout` is interpreted as a double instead of an integer."),
    ("zadd", "2.4.0", "Accepts multiple elements."),
    ("zadd", "3.0.2", "Added the `XX`, `NX`, `CH` and `INCR` options."),
    ("zadd", "6.2.0", "Added the `GT` and `LT` options."),
    ("zrange", "6.2.0", "Added the `REV`, `BYSCORE`, `BYLEX` and `LIMIT` options."),
    ("zrangebyscore", "2.0.0", "Added the `WITHSCORES` modifier."),
    ("zrem", "2.4.0", "Accepts multiple elements."),
    ("zrevrangebyscore", "2.1.6", "`min` and `max` can be exclusive."),
    ("auth", "6.0.0", "Added ACL style (username and password)."),
    ("client|kill", "2.8.12", "Added new filter format."),
    ("client|kill", "2.8.12", "`ID` option."),
    ("client|kill", "3.2.0", "Added `master` type in for `TYPE` option."),
    ("client|kill", "5.0.0", "Replaced `slave` `TYPE` with `replica`. `slave` still supported for backward compatibility."),
    ("client|kill", "6.2.0", "`LADDR` option."),
    ("client|list", "2.8.12", "Added unique client `id` field."),
    ("client|list", "5.0.0", "Added optional `TYPE` filter."),
    ("client|list", "6.0.0", "Added `user` field."),
    ("client|list", "6.2.0", "Added `argv-mem`, `tot-mem`, `laddr` and `redir` fields and the optional `ID` filter."),
    ("client|list", "7.0.0", "Added `resp`, `multi-mem`, `rbs` and `rbp` fields."),
    ("client|list", "7.0.3", "Added `ssub` field."),
    ("client|pause", "6.2.0", "`CLIENT PAUSE WRITE` mode added along with the `mode` option."),
    ("hello", "6.2.0", "`protover` made optional; when called without arguments the command reports the current connection's context."),
    ("acl|getuser", "6.2.0", "Added Pub/Sub channel patterns."),
    ("acl|getuser", "7.0.0", "Added selectors and changed the format of key and channel patterns from a list to their rule representation."),
    ("acl|setuser", "6.2.0", "Added Pub/Sub channel patterns."),
    ("acl|setuser", "7.0.0", "Added selectors and key based permissions."),
    ("bgsave", "3.2.2", "Added the `SCHEDULE` option."),
    ("command|info", "7.0.0", "Allowed to be called with no argument to get info on all commands."),
    ("config|get", "7.0.0", "Added the ability to pass multiple pattern parameters in one call"),
    ("config|set", "7.0.0", "Added the ability to set multiple parameters in one call."),
    ("flushall", "4.0.0", "Added the `ASYNC` flushing mode modifier."),
    ("flushall", "6.2.0", "Added the `SYNC` flushing mode modifier."),
    ("flushdb", "4.0.0", "Added the `ASYNC` flushing mode modifier."),
    ("flushdb", "6.2.0", "Added the `SYNC` flushing mode modifier."),
    ("info", "7.0.0", "Added support for taking multiple section arguments."),
    ("restore-asking", "3.0.0", "Added the `REPLACE` modifier."),
    ("restore-asking", "5.0.0", "Added the `ABSTTL` modifier."),
    ("restore-asking", "5.0.0", "Added the `IDLETIME` and `FREQ` options."),
    ("shutdown", "7.0.0", "Added the `NOW`, `FORCE` and `ABORT` modifiers."),
    ("slowlog|get", "4.0.0", "Added client IP address, port and name to the reply."),
    ("geoadd", "6.2.0", "Added the `CH`, `NX` and `XX` options."),
    ("georadius", "6.2.0", "Added the `ANY` option for `COUNT`."),
    ("georadius", "7.0.0", "Added support for uppercase unit names."),
    ("georadius_ro", "6.2.0", "Added the `ANY` option for `COUNT`."),
    ("georadiusbymember", "7.0.0", "Added support for uppercase unit names."),
    ("geosearch", "7.0.0", "Added support for uppercase unit names."),
    ("geosearchstore", "7.0.0", "Added support for uppercase unit names."),
    ("bitcount", "7.0.0", "Added the `BYTE|BIT` option."),
    ("bitpos", "7.0.0", "Added the `BYTE|BIT` option."),
];

/// Deprecated commands: deprecated_since and replaced_by.
#[rustfmt::skip]
const DEPRECATED: &[(&str, &str, &str)] = &[
    ("getset", "6.2.0", "`SET` with the `!GET` argument"),
    ("substr", "2.0.0", "`GETRANGE`"),
    ("brpoplpush", "6.2.0", "`BLMOVE` with the `RIGHT` and `LEFT` arguments"),
    ("rpoplpush", "6.2.0", "`LMOVE` with the `RIGHT` and `LEFT` arguments"),
    ("hmset", "4.0.0", "`HSET` with multiple field-value pairs"),
    ("zrangebylex", "6.2.0", "`ZRANGE` with the `BYLEX` argument"),
    ("zrangebyscore", "6.2.0", "`ZRANGE` with the `BYSCORE` argument"),
    ("zrevrange", "6.2.0", "`ZRANGE` with the `REV` argument"),
    ("zrevrangebylex", "6.2.0", "`ZRANGE` with the `REV` and `BYLEX` arguments"),
    ("zrevrangebyscore", "6.2.0", "`ZRANGE` with the `REV` and `BYSCORE` arguments"),
    ("georadius", "6.2.0", "`GEOSEARCH` and `GEOSEARCHSTORE` with the `BYRADIUS` argument"),
    ("georadius_ro", "6.2.0", "`GEOSEARCH` with the `BYRADIUS` argument"),
    ("georadiusbymember", "6.2.0", "`GEOSEARCH` and `GEOSEARCHSTORE` with the `BYRADIUS` and `FROMMEMBER` arguments"),
    ("georadiusbymember_ro", "6.2.0", "`GEOSEARCH` with the `BYRADIUS` and `FROMMEMBER` arguments"),
    ("slaveof", "5.0.0", "`REPLICAOF`"),
];

#[rustfmt::skip]
const DOC_FLAGS: &[(&str, &str)] = &[
    ("getset", "deprecated"),
    ("substr", "deprecated"),
    ("brpoplpush", "deprecated"),
    ("rpoplpush", "deprecated"),
    ("hmset", "deprecated"),
    ("zrangebylex", "deprecated"),
    ("zrangebyscore", "deprecated"),
    ("zrevrange", "deprecated"),
    ("zrevrangebylex", "deprecated"),
    ("zrevrangebyscore", "deprecated"),
    ("georadius", "deprecated"),
    ("georadius_ro", "deprecated"),
    ("georadiusbymember", "deprecated"),
    ("georadiusbymember_ro", "deprecated"),
    ("debug", "syscmd"),
    ("pfdebug", "syscmd"),
    ("pfselftest", "syscmd"),
    ("replconf", "syscmd"),
    ("restore-asking", "syscmd"),
    ("slaveof", "deprecated"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_parses() {
        for row in ROWS {
            if let Err(e) = parse(row.5) {
                panic!("{}: {e}", row.0);
            }
        }
    }

    #[test]
    fn set_tree() {
        let args = parse("key:k value [NX|XX]=condition@2.6.12 [GET@6.2.0]").unwrap_or_default();
        assert_eq!(args.len(), 4);
        assert_eq!(args[0].kind, Kind::Key);
        assert_eq!(args[1].kind, Kind::String);
        assert_eq!(args[2].kind, Kind::OneOf);
        assert!(args[2].optional);
        assert_eq!(args[2].since, Some("2.6.12"));
        assert_eq!(args[2].args[1].token, Some("XX"));
        assert_eq!(args[2].args[1].name, "xx");
        assert_eq!(args[3].kind, Kind::PureToken);
        assert!(args[3].optional);
    }

    #[test]
    fn tokens_blocks_and_quotes() {
        let args = parse(
            "LIMIT[offset:i count:i]=offset_count [GET=pattern:p*+] ('ip:port'!2.8.12|''=e)=f",
        )
        .unwrap_or_default();
        assert_eq!(args.len(), 3);
        assert_eq!(args[0].kind, Kind::Block);
        assert_eq!(args[0].token, Some("LIMIT"));
        assert!(args[0].optional);
        assert_eq!(args[0].args[1].kind, Kind::Integer);
        assert!(args[1].multiple && args[1].multiple_token && args[1].optional);
        assert_eq!(args[1].kind, Kind::Pattern);
        assert_eq!(args[2].args[0].name, "ip:port");
        assert_eq!(args[2].args[0].deprecated_since, Some("2.8.12"));
        assert_eq!(args[2].args[1].token, Some(""));
        assert_eq!(args[2].args[1].kind, Kind::PureToken);
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in ["[a b]", "(a)", "a|b", "[a", "x:z", "'open", "[a|b]=", "k#x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
