//! COMMAND GETKEYS and GETKEYSANDFLAGS: which arguments of a command are keys, and how the
//! command uses them, as Redis 7.0's key specs say (db.c `getKeysFromCommandWithSpecs`). The
//! specs themselves are Redis's, generated into keyspecs.rs.

use amber_resp::ReplyBuf;

use super::keyspecs::{TABLE, TIPS};
use super::{Command, Ctx, Error, Reply, NO_MANDATORY_KEYS};

/// Key-spec flags (Redis's CMD_KEY_*), in the order GETKEYSANDFLAGS names them.
pub(crate) mod flags {
    pub(crate) const RO: u16 = 1 << 0;
    pub(crate) const RW: u16 = 1 << 1;
    pub(crate) const OW: u16 = 1 << 2;
    pub(crate) const RM: u16 = 1 << 3;
    pub(crate) const ACCESS: u16 = 1 << 4;
    pub(crate) const UPDATE: u16 = 1 << 5;
    pub(crate) const INSERT: u16 = 1 << 6;
    pub(crate) const DELETE: u16 = 1 << 7;
    pub(crate) const NOT_KEY: u16 = 1 << 8;
    pub(crate) const INCOMPLETE: u16 = 1 << 9;
    pub(crate) const VARIABLE_FLAGS: u16 = 1 << 10;
}
use flags::*;

const FLAG_NAMES: &[(u16, &str)] = &[
    (RO, "RO"),
    (RW, "RW"),
    (OW, "OW"),
    (RM, "RM"),
    (ACCESS, "access"),
    (UPDATE, "update"),
    (INSERT, "insert"),
    (DELETE, "delete"),
    (NOT_KEY, "not_key"),
    (INCOMPLETE, "incomplete"),
    (VARIABLE_FLAGS, "variable_flags"),
];

/// Where a key spec starts looking: a fixed index, or after a keyword searched from
/// `startfrom` (forwards, or backwards from the end when negative).
pub(crate) enum BS {
    Index(i32),
    Keyword(&'static str, i32),
    Unknown,
}

/// How a key spec finds keys from there: Range(lastkey, step, limit) or
/// Keynum(keynumidx, firstkey, step).
pub(crate) enum FK {
    Range(i32, i32, i32),
    Keynum(i32, i32, i32),
    Unknown,
}

/// flags, begin search, find keys, notes.
pub(crate) struct KeySpec(
    pub(crate) u16,
    pub(crate) BS,
    pub(crate) FK,
    pub(crate) Option<&'static str>,
);

/// Redis's getkeys_proc callbacks, for commands whose specs cannot say it all.
#[derive(Clone, Copy)]
pub(crate) enum KeyProc {
    /// setGetKeys: the key, RW with GET, OW otherwise.
    Set,
    /// sortGetKeys: the key and the last STORE's target.
    Sort,
    /// sortROGetKeys: the key.
    SortRo,
    /// genericGetKeys(0, 1, 2, 1): numkeys at 1, keys from 2.
    NumKeys1,
    /// genericGetKeys(0, 2, 3, 1): numkeys at 2, keys from 3 (BLMPOP, BZMPOP).
    NumKeys2,
    /// genericGetKeys(1, 2, 3, 1): a destination at 1, numkeys at 2, keys from 3.
    StoreNumKeys,
    /// bitfieldGetKeys: the key, RO when only GETs (and OVERFLOWs) come before anything else.
    Bitfield,
    /// georadiusGetKeys: the key and the last STORE/STOREDIST target, without flags.
    Georadius,
    /// xreadGetKeys: the first half of what follows STREAMS (options before it skipped),
    /// without flags.
    Xread,
}

/// (argument position, key-spec flags) for each key of `argv` (argv[0] is the command name;
/// for a subcommand argv[1] is its name), or None when the arguments do not say.
pub(crate) fn keys_of(full_name: &str, argv: &[Vec<u8>]) -> Vec<(usize, u16)> {
    let Some((proc, specs)) = row(full_name) else {
        return Vec::new();
    };
    let all_or = specs.iter().fold(0, |f, s| f | s.0);
    let has_real_key = specs.iter().any(|s| s.0 & NOT_KEY == 0);
    if has_real_key && all_or & VARIABLE_FLAGS == 0 {
        if let Some(keys) = from_specs(specs, argv) {
            return keys;
        }
    }
    match proc {
        Some(p) => from_proc(p, argv),
        None => Vec::new(),
    }
}

/// Redis's doesCommandHaveKeys: a key-extraction procedure or a spec of a real key.
pub(crate) fn has_keys(full_name: &str) -> bool {
    row(full_name)
        .is_some_and(|(proc, specs)| proc.is_some() || specs.iter().any(|s| s.0 & NOT_KEY == 0))
}

/// The flag names of a key spec, as a set of simple strings.
fn write_flags(out: &mut ReplyBuf, fl: u16) {
    let names: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(b, _)| fl & b != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(names.len());
    for n in names {
        out.simple(n);
    }
}

/// COMMAND INFO's tips and key specs (its 8th and 9th fields), as Redis writes them.
pub(crate) fn write_tips_and_key_specs(out: &mut ReplyBuf, full_name: &str) {
    let tips = TIPS
        .binary_search_by(|r| r.0.cmp(full_name))
        .map_or(&[][..], |i| TIPS[i].1);
    out.set(tips.len());
    for t in tips {
        out.bulk(t.as_bytes());
    }
    let specs = row(full_name).map_or(&[][..], |r| r.1);
    out.set(specs.len());
    for KeySpec(fl, bs, fk, notes) in specs {
        out.map(3 + usize::from(notes.is_some()));
        if let Some(n) = notes {
            out.bulk(b"notes");
            out.bulk(n.as_bytes());
        }
        out.bulk(b"flags");
        write_flags(out, *fl);
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        match *bs {
            BS::Index(pos) => {
                out.bulk(b"index");
                out.bulk(b"spec");
                out.map(1);
                out.bulk(b"index");
                out.int(i64::from(pos));
            }
            BS::Keyword(kw, startfrom) => {
                out.bulk(b"keyword");
                out.bulk(b"spec");
                out.map(2);
                out.bulk(b"keyword");
                out.bulk(kw.as_bytes());
                out.bulk(b"startfrom");
                out.int(i64::from(startfrom));
            }
            BS::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
            }
        }
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        let fields: &[(&str, i32)] = match *fk {
            FK::Range(last, step, limit) => {
                out.bulk(b"range");
                &[("lastkey", last), ("keystep", step), ("limit", limit)]
            }
            FK::Keynum(idx, first, step) => {
                out.bulk(b"keynum");
                &[("keynumidx", idx), ("firstkey", first), ("keystep", step)]
            }
            FK::Unknown => {
                out.bulk(b"unknown");
                &[]
            }
        };
        out.bulk(b"spec");
        out.map(fields.len());
        for (k, v) in fields {
            out.bulk(k.as_bytes());
            out.int(i64::from(*v));
        }
    }
}

fn row(full_name: &str) -> Option<(Option<KeyProc>, &'static [KeySpec])> {
    TABLE
        .binary_search_by(|r| r.0.cmp(full_name))
        .ok()
        .map(|i| (TABLE[i].1, TABLE[i].2))
}

/// getKeysUsingKeySpecs with the default search flags: None when a spec is invalid for these
/// arguments or incomplete.
fn from_specs(specs: &[KeySpec], argv: &[Vec<u8>]) -> Option<Vec<(usize, u16)>> {
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for KeySpec(fl, bs, fk, _) in specs {
        if fl & NOT_KEY != 0 {
            continue;
        }
        let mut first: i64 = match *bs {
            BS::Index(pos) => i64::from(pos),
            BS::Keyword(kw, startfrom) => match after_keyword(argv, kw, startfrom) {
                Some(f) => f,
                // No keyword: this spec finds no key.
                None => continue,
            },
            BS::Unknown => return None,
        };
        let (last, step) = match *fk {
            FK::Range(lastkey, step, limit) => {
                let (lastkey, limit) = (i64::from(lastkey), i64::from(limit));
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, i64::from(step))
            }
            FK::Keynum(idx, firstkey, step) => {
                let idx = i64::from(idx);
                if idx >= argc {
                    return None;
                }
                let at = usize::try_from(first + idx).ok()?;
                let numkeys = std::str::from_utf8(argv.get(at)?)
                    .ok()
                    .and_then(strict_i64)
                    .filter(|&n| n >= 0)?;
                first += i64::from(firstkey);
                (first + numkeys - 1, i64::from(step))
            }
            FK::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc || step < 1 {
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push((i as usize, *fl));
            i += step;
        }
        if fl & INCOMPLETE != 0 {
            return None;
        }
    }
    Some(keys)
}

/// The position after `kw`, searched as getKeysUsingKeySpecs does: from `startfrom` to the
/// last argument but one, or backwards from argc + `startfrom` down to argument 1.
fn after_keyword(argv: &[Vec<u8>], kw: &str, startfrom: i32) -> Option<i64> {
    let argc = argv.len() as i64;
    let start = if startfrom > 0 {
        i64::from(startfrom)
    } else {
        argc + i64::from(startfrom)
    };
    let end = if startfrom > 0 { argc - 1 } else { 0 };
    let mut i = start;
    while i != end {
        if i >= argc || i < 1 {
            return None;
        }
        if argv[i as usize].eq_ignore_ascii_case(kw.as_bytes()) {
            return Some(i + 1);
        }
        i += if start <= end { 1 } else { -1 };
    }
    None
}

/// Redis's string2ll: an optional '-', digits, no leading zeros or spaces, within i64.
fn strict_i64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || (digits.len() > 1 && digits.starts_with('0'))
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// C's atoi on an argument: leading spaces, a sign, then digits up to the first other byte.
fn atoi(a: &[u8]) -> i64 {
    let mut it = a.iter().skip_while(|b| b.is_ascii_whitespace()).peekable();
    let neg = match it.peek() {
        Some(b'-') => {
            it.next();
            true
        }
        Some(b'+') => {
            it.next();
            false
        }
        _ => false,
    };
    let mut n: i64 = 0;
    for b in it.take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

fn from_proc(p: KeyProc, argv: &[Vec<u8>]) -> Vec<(usize, u16)> {
    match p {
        KeyProc::NumKeys1 => generic(0, 1, 2, argv),
        KeyProc::NumKeys2 => generic(0, 2, 3, argv),
        KeyProc::StoreNumKeys => generic(1, 2, 3, argv),
        KeyProc::SortRo => vec![(1, RO | ACCESS)],
        KeyProc::Sort => {
            let mut store = None;
            let mut i = 2;
            while i < argv.len() {
                let a = &argv[i];
                if a.eq_ignore_ascii_case(b"limit") {
                    i += 2;
                } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
                    i += 1;
                } else if a.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
                    store = Some(i + 1);
                }
                i += 1;
            }
            let mut keys = vec![(1, RO | ACCESS)];
            keys.extend(store.map(|s| (s, OW | UPDATE)));
            keys
        }
        KeyProc::Bitfield => {
            let mut readonly = true;
            let mut i = 2;
            while i < argv.len() {
                let left = argv.len() - i - 1;
                let a = &argv[i];
                if a.eq_ignore_ascii_case(b"get") && left >= 2 {
                    i += 2;
                } else if a.eq_ignore_ascii_case(b"overflow") && left >= 1 {
                    i += 1;
                } else {
                    // SET/INCRBY, or a syntax error: assumed not read-only.
                    readonly = false;
                    break;
                }
                i += 1;
            }
            let flags = if readonly {
                RO | ACCESS
            } else {
                RW | ACCESS | UPDATE
            };
            vec![(1, flags)]
        }
        KeyProc::Xread => {
            let mut streams = None;
            let mut i = 1;
            while i < argv.len() {
                let a = &argv[i];
                if a.eq_ignore_ascii_case(b"block") || a.eq_ignore_ascii_case(b"count") {
                    i += 1;
                } else if a.eq_ignore_ascii_case(b"group") {
                    i += 2;
                } else if a.eq_ignore_ascii_case(b"streams") {
                    streams = Some(i);
                    break;
                } else if !a.eq_ignore_ascii_case(b"noack") {
                    break;
                }
                i += 1;
            }
            let Some(at) = streams else {
                return Vec::new();
            };
            let num = argv.len() - at - 1;
            if num == 0 || !num.is_multiple_of(2) {
                return Vec::new();
            }
            (at + 1..at + 1 + num / 2).map(|k| (k, 0)).collect()
        }
        KeyProc::Georadius => {
            let mut stored = None;
            let mut i = 5;
            while i < argv.len() {
                let a = &argv[i];
                if (a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"))
                    && i + 1 < argv.len()
                {
                    stored = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            let mut keys = vec![(1, 0)];
            keys.extend(stored.map(|s| (s, 0)));
            keys
        }
        KeyProc::Set => {
            let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            vec![(
                1,
                if get {
                    RW | ACCESS | UPDATE
                } else {
                    OW | UPDATE
                },
            )]
        }
    }
}

/// genericGetKeys: numkeys by atoi at `count_at`, keys from `first`, a destination at `store`
/// (0: none) listed last; nothing when numkeys is out of range.
fn generic(store: usize, count_at: usize, first: usize, argv: &[Vec<u8>]) -> Vec<(usize, u16)> {
    let num = argv.get(count_at).map_or(0, |a| atoi(a));
    let avail = argv.len().saturating_sub(first) as i64;
    if num < 1 || num > avail {
        return Vec::new();
    }
    let mut keys: Vec<(usize, u16)> = (0..num as usize).map(|i| (first + i, 0)).collect();
    if store != 0 {
        keys.push((store, 0));
    }
    keys
}

fn getkeys_generic(ctx: &mut Ctx<'_>, with_flags: bool) -> Reply {
    let inner = &ctx.args[2..];
    let Some((cmd, parent)) = lookup(ctx, inner) else {
        return Err(Error::new("ERR Invalid command specified"));
    };
    let name = super::full_name(parent, cmd);
    if !has_keys(&name) {
        return Err(Error::new("ERR The command has no key arguments"));
    }
    let n = inner.len() as i64;
    let arity = i64::from(cmd.arity);
    if (arity > 0 && arity != n) || n < -arity {
        return Err(Error::new(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let keys = keys_of(&name, inner);
    if keys.is_empty() {
        if cmd.flags & NO_MANDATORY_KEYS != 0 {
            ctx.out().array(0);
            return Ok(());
        }
        return Err(Error::new("ERR Invalid arguments specified for command"));
    }
    let out = &mut ctx.cl.out;
    out.array(keys.len());
    for (pos, fl) in keys {
        if with_flags {
            out.array(2);
        }
        out.bulk(&inner[pos]);
        if with_flags {
            write_flags(out, fl);
        }
    }
    Ok(())
}

/// Redis's lookupCommand over the inner arguments: a container with a second argument
/// resolves to its subcommand (None when there is no such subcommand).
fn lookup(
    ctx: &Ctx<'_>,
    inner: &[Vec<u8>],
) -> Option<(&'static Command, Option<&'static Command>)> {
    let base = ctx.srv.commands.lookup(inner.first()?)?;
    if inner.len() == 1 || base.subcommands.is_empty() {
        return Some((base, None));
    }
    let sub = base
        .subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(&inner[1]))?;
    Some((sub, Some(base)))
}

pub(crate) fn command_getkeys(ctx: &mut Ctx<'_>) -> Reply {
    getkeys_generic(ctx, false)
}

pub(crate) fn command_getkeysandflags(ctx: &mut Ctx<'_>) -> Reply {
    getkeys_generic(ctx, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn table_is_sorted_and_covers_every_command_with_keys() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        for fam in super::super::families() {
            for c in fam {
                let subs = c.subcommands.iter().map(|s| (s, Some(c)));
                for (cmd, parent) in std::iter::once((c, None)).chain(subs) {
                    let name = super::super::full_name(parent, cmd);
                    if cmd.first_key != 0 || cmd.flags & super::super::MOVABLEKEYS != 0 {
                        // A key spec, or (SSUBSCRIBE, SPUBLISH) channel specs in key positions.
                        assert!(row(&name).is_some(), "{name} has keys but no key spec");
                    }
                }
            }
        }
    }

    #[test]
    fn specs_and_procs() {
        assert_eq!(
            keys_of("mset", &argv("mset a 1 b 2")),
            vec![(1, OW | UPDATE), (3, OW | UPDATE)]
        );
        assert_eq!(
            keys_of("set", &argv("set k v get")),
            vec![(1, RW | ACCESS | UPDATE)]
        );
        assert_eq!(keys_of("set", &argv("set k v")), vec![(1, OW | UPDATE)]);
        assert_eq!(
            keys_of("zunionstore", &argv("zunionstore d 2 a b")),
            vec![(1, OW | UPDATE), (3, RO | ACCESS), (4, RO | ACCESS)]
        );
        assert_eq!(keys_of("zunionstore", &argv("zunionstore d x a b")), vec![]);
        assert_eq!(
            keys_of("sort", &argv("sort k by w store d")),
            vec![(1, RO | ACCESS), (5, OW | UPDATE)]
        );
        assert!(keys_of("lmpop", &argv("lmpop 5 a b left")).is_empty());
        assert_eq!(
            keys_of("lmpop", &argv("lmpop 2 a b left")),
            vec![(2, RW | ACCESS | DELETE), (3, RW | ACCESS | DELETE)]
        );
    }
}
