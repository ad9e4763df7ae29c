//! Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE
//! SINTER SINTERSTORE SINTERCARD SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN.

use super::notify;

use amber_resp::ReplyBuf;
use amber_store::set::{Member, Set};
use amber_store::{Blob, Entry, Key, Value};

use super::hashes::{sample_distinct, write_scan_reply};
use super::{args, scan, Command, Ctx, Error, Reply, DENYOOM, FAST, READONLY, WRITE};
use crate::server::Server;

const SET: &[&str] = &["@set"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), SET, sadd),
    Command::new("srem", -3, WRITE | FAST, (1, 1, 1), SET, srem),
    Command::new("smembers", 2, READONLY, (1, 1, 1), SET, smembers),
    Command::new("sismember", 3, READONLY | FAST, (1, 1, 1), SET, sismember),
    Command::new(
        "smismember",
        -3,
        READONLY | FAST,
        (1, 1, 1),
        SET,
        smismember,
    ),
    Command::new("scard", 2, READONLY | FAST, (1, 1, 1), SET, scard),
    Command::new("spop", -2, WRITE | FAST, (1, 1, 1), SET, spop),
    Command::new("srandmember", -2, READONLY, (1, 1, 1), SET, srandmember),
    Command::new("smove", 4, WRITE | FAST, (1, 2, 1), SET, smove),
    Command::new("sinter", -2, READONLY, (1, -1, 1), SET, sinter),
    Command::new(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        SET,
        sinterstore,
    ),
    Command::new(
        "sintercard",
        -3,
        READONLY | super::MOVABLEKEYS,
        (0, 0, 0),
        SET,
        sintercard,
    ),
    Command::new("sunion", -2, READONLY, (1, -1, 1), SET, sunion),
    Command::new(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        SET,
        sunionstore,
    ),
    Command::new("sdiff", -2, READONLY, (1, -1, 1), SET, sdiff),
    Command::new(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        SET,
        sdiffstore,
    ),
    Command::new("sscan", -3, READONLY, (1, 1, 1), SET, sscan),
];

/// SPOP rebuilds the remainder instead of popping once `remaining * SPOP_MOVE_STRATEGY_MUL`
/// is at most `count` (Redis's threshold; it decides the remainder's encoding).
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

fn read_set<'a>(srv: &'a mut Server, db: usize, key: &[u8]) -> Result<Option<&'a Set>, Error> {
    match srv.lookup_read(db, key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(Error::wrongtype()),
    }
}

/// The set at `key` for modification, created empty when missing and `create` is set.
fn write_set<'a>(
    srv: &'a mut Server,
    db: usize,
    key: &[u8],
    create: bool,
) -> Result<Option<&'a mut Set>, Error> {
    match srv
        .lookup_write(db, key)
        .map(|e| matches!(e.value, Value::Set(_)))
    {
        Some(false) => return Err(Error::wrongtype()),
        Some(true) => {}
        None if create => srv.add_key(db, Key::from_slice(key), Value::Set(Default::default())),
        None => return Ok(None),
    }
    match srv.db_mut(db).get_mut(key) {
        Some(Entry {
            value: Value::Set(s),
            ..
        }) => Ok(Some(s)),
        _ => Ok(None),
    }
}

/// Deletes `key` if its set was left empty, with the "del" event.
fn drop_if_empty(ctx: &mut Ctx<'_>, key: &[u8]) {
    let db = ctx.cl.db;
    let empty =
        matches!(ctx.srv.db(db).get(key), Some(Entry { value: Value::Set(s), .. }) if s.is_empty());
    if empty {
        ctx.srv.db_mut(db).remove(key);
        ctx.notify(notify::GENERIC, "del", key);
    }
}

fn member(out: &mut ReplyBuf, m: Member<'_>) {
    match m {
        Member::Int(n) => out.bulk_i64(n),
        Member::Str(s) => out.bulk(s),
    }
}

fn sadd(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let limits = ctx.srv.config.limits;
    let mut added = 0;
    if let Some(s) = write_set(ctx.srv, db, &a[1], true)? {
        for m in &a[2..] {
            if s.add(m, &limits) {
                added += 1;
            }
        }
    }
    if added > 0 {
        ctx.modified(db, &a[1]);
        ctx.notify(notify::SET, "sadd", &a[1]);
    }
    ctx.dirty(added);
    ctx.cl.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let mut removed = 0;
    if let Some(s) = write_set(ctx.srv, db, &a[1], false)? {
        for m in &a[2..] {
            if s.remove(m) {
                removed += 1;
                if s.is_empty() {
                    break;
                }
            }
        }
    }
    if removed > 0 {
        ctx.notify(notify::SET, "srem", &a[1]);
        drop_if_empty(ctx, &a[1]);
        ctx.changed(db, &a[1], removed);
    }
    ctx.cl.out.int(removed as i64);
    Ok(())
}

fn smembers(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let s = read_set(ctx.srv, db, &ctx.args[1])?;
    let out = &mut ctx.cl.out;
    out.set(s.map_or(0, Set::len));
    if let Some(s) = s {
        for m in s.iter() {
            member(out, m);
        }
    }
    Ok(())
}

fn sismember(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let yes = read_set(ctx.srv, db, &ctx.args[1])?.is_some_and(|s| s.contains(&ctx.args[2]));
    ctx.cl.out.int(i64::from(yes));
    Ok(())
}

fn smismember(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let a = ctx.args;
    let s = read_set(ctx.srv, db, &a[1])?;
    let out = &mut ctx.cl.out;
    out.array(a.len() - 2);
    for m in &a[2..] {
        out.int(i64::from(s.is_some_and(|s| s.contains(m))));
    }
    Ok(())
}

fn scard(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let n = read_set(ctx.srv, db, &ctx.args[1])?.map_or(0, Set::len);
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn spop(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    match a.len() {
        2 => {}
        3 => return spop_count(ctx),
        _ => return Err(Error::syntax()),
    }
    let Some(s) = write_set(ctx.srv, db, &a[1], false)? else {
        ctx.cl.out.null();
        return Ok(());
    };
    let Some(m) = s.pop_random(&mut rand::thread_rng()) else {
        ctx.cl.out.null();
        return Ok(());
    };
    ctx.notify(notify::SET, "spop", &a[1]);
    drop_if_empty(ctx, &a[1]);
    ctx.changed(db, &a[1], 1);
    ctx.cl.out.bulk(&m);
    ctx.propagate(vec![b"SREM".to_vec(), a[1].clone(), m.to_vec()]);
    Ok(())
}

fn spop_count(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let limits = ctx.srv.config.limits;
    let count = match amber_store::value::parse_i64(&a[2]) {
        Some(n) if n >= 0 => n as usize,
        _ => return Err(Error::new("ERR value is out of range, must be positive")),
    };
    let Some(s) = write_set(ctx.srv, db, &a[1], false)? else {
        ctx.cl.out.set(0);
        return Ok(());
    };
    if count == 0 {
        ctx.cl.out.set(0);
        return Ok(());
    }
    let size = s.len();
    let out = &mut ctx.cl.out;
    if count >= size {
        // Everything goes: the reply is the whole set and the effect a DEL.
        out.set(size);
        for m in s.iter() {
            member(out, m);
        }
        ctx.srv.db_mut(db).remove(&a[1]);
        ctx.changed(db, &a[1], size as u64);
        ctx.notify(notify::SET, "spop", &a[1]);
        ctx.notify(notify::GENERIC, "del", &a[1]);
        ctx.propagate(vec![b"DEL".to_vec(), a[1].clone()]);
        return Ok(());
    }
    let mut rng = rand::thread_rng();
    let remaining = size - count;
    let popped: Vec<Blob> = if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        (0..count).filter_map(|_| s.pop_random(&mut rng)).collect()
    } else {
        // Few remain: pick those and rebuild the set from them, so the remainder gets the
        // encoding a new set of those members would have (as in Redis).
        let mut old = std::mem::take(s);
        let kept: Vec<Blob> = (0..remaining)
            .filter_map(|_| old.pop_random(&mut rng))
            .collect();
        *s = Set::from_members(kept.iter().map(|m| Member::Str(m)), &limits);
        old.iter().map(|m| m.to_blob()).collect()
    };
    out.set(popped.len());
    for m in &popped {
        out.bulk(m);
    }
    ctx.changed(db, &a[1], popped.len() as u64);
    ctx.notify(notify::SET, "spop", &a[1]);
    for m in popped {
        ctx.propagate(vec![b"SREM".to_vec(), a[1].clone(), m.to_vec()]);
    }
    Ok(())
}

fn srandmember(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    if a.len() > 3 {
        return Err(Error::syntax());
    }
    let mut rng = rand::thread_rng();
    if a.len() == 2 {
        match read_set(ctx.srv, db, &a[1])?.and_then(|s| s.random(&mut rng)) {
            Some(m) => member(&mut ctx.cl.out, m),
            None => ctx.cl.out.null(),
        }
        return Ok(());
    }
    let l = args::int(&a[2])?;
    if l == i64::MIN {
        return Err(Error::new(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let Some(s) = read_set(ctx.srv, db, &a[1])? else {
        ctx.cl.out.array(0);
        return Ok(());
    };
    let out = &mut ctx.cl.out;
    if l < 0 {
        let n = l.unsigned_abs() as usize;
        out.array(n);
        for _ in 0..n {
            if let Some(m) = s.random(&mut rng) {
                member(out, m);
            }
        }
        return Ok(());
    }
    let n = l as usize;
    if n >= s.len() {
        out.array(s.len());
        for m in s.iter() {
            member(out, m);
        }
        return Ok(());
    }
    let picked = sample_distinct(s.iter(), s.len(), n, &mut rng, |r| s.random(r));
    out.array(picked.len());
    for m in picked {
        member(out, m);
    }
    Ok(())
}

fn smove(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let limits = ctx.srv.config.limits;
    let (src, dst, ele) = (&a[1], &a[2], &a[3]);
    let src_is_set = ctx
        .srv
        .lookup_write(db, src)
        .map(|e| matches!(e.value, Value::Set(_)));
    let dst_is_set = ctx
        .srv
        .lookup_write(db, dst)
        .map(|e| matches!(e.value, Value::Set(_)));
    let Some(src_is_set) = src_is_set else {
        ctx.cl.out.int(0);
        return Ok(());
    };
    if !src_is_set || dst_is_set == Some(false) {
        return Err(Error::wrongtype());
    }
    if src == dst {
        let yes = read_set_quiet(ctx.srv, db, src).is_some_and(|s| s.contains(ele));
        ctx.cl.out.int(i64::from(yes));
        return Ok(());
    }
    let removed = write_set(ctx.srv, db, src, false)?.is_some_and(|s| s.remove(ele));
    if !removed {
        ctx.cl.out.int(0);
        return Ok(());
    }
    ctx.notify(notify::SET, "srem", src);
    drop_if_empty(ctx, src);
    ctx.changed(db, src, 1);
    let added = write_set(ctx.srv, db, dst, true)?.is_some_and(|s| s.add(ele, &limits));
    if added {
        ctx.changed(db, dst, 1);
        ctx.notify(notify::SET, "sadd", dst);
    }
    ctx.cl.out.int(1);
    Ok(())
}

fn read_set_quiet<'a>(srv: &'a Server, db: usize, key: &[u8]) -> Option<&'a Set> {
    match srv.db(db).get(key).map(|e| &e.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

/// Looks up every key in order (lookupKeyRead, as Redis 7.0.15 does for the *STORE forms
/// too), failing with WRONGTYPE on the first non-set; then returns the sets, `None` for
/// missing keys.
fn lookup_sets<'a>(
    srv: &'a mut Server,
    db: usize,
    keys: &[Vec<u8>],
) -> Result<Vec<Option<&'a Set>>, Error> {
    for k in keys {
        let is_set = srv
            .lookup_read(db, k)
            .map(|e| matches!(e.value, Value::Set(_)));
        if is_set == Some(false) {
            return Err(Error::wrongtype());
        }
    }
    let srv: &'a Server = srv;
    Ok(keys.iter().map(|k| read_set_quiet(srv, db, k)).collect())
}

/// The members of the intersection, in the order of the smallest set, stopping at `limit`.
fn intersect<'a>(sets: &[Option<&'a Set>], limit: usize) -> Vec<Member<'a>> {
    let mut sets: Vec<&Set> = match sets.iter().copied().collect::<Option<Vec<_>>>() {
        Some(v) => v,
        None => return Vec::new(),
    };
    sets.sort_by_key(|s| s.len());
    let Some((first, rest)) = sets.split_first() else {
        return Vec::new();
    };
    let mut res = Vec::new();
    for m in first.iter() {
        if limit > 0 && res.len() >= limit {
            break;
        }
        if rest.iter().all(|s| s.contains_member(m)) {
            res.push(m);
        }
    }
    res
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

/// SINTER SUNION SDIFF and their *STORE forms. `dst` is the destination for the *STORE forms.
fn set_op(ctx: &mut Ctx<'_>, op: SetOp, store: bool) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let limits = ctx.srv.config.limits;
    let keys = if store { &a[2..] } else { &a[1..] };
    let sets = lookup_sets(ctx.srv, db, keys)?;
    let out = &mut ctx.cl.out;
    let result: Set = match op {
        SetOp::Inter => {
            let members = intersect(&sets, 0);
            if !store {
                // Redis replies while walking the smallest set, without building a result.
                out.set(members.len());
                for m in members {
                    member(out, m);
                }
                return Ok(());
            }
            Set::from_members(members, &limits)
        }
        SetOp::Union => Set::from_members(sets.iter().flatten().flat_map(|s| s.iter()), &limits),
        SetOp::Diff => match sets.first() {
            Some(Some(first)) => {
                let rest: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
                Set::from_members(
                    first
                        .iter()
                        .filter(|m| !rest.iter().any(|s| s.contains_member(*m))),
                    &limits,
                )
            }
            _ => Set::default(),
        },
    };
    if !store {
        out.set(result.len());
        for m in result.iter() {
            member(out, m);
        }
        return Ok(());
    }
    let dst = &a[1];
    let n = result.len();
    if n == 0 {
        if ctx.srv.delete_key(db, dst) {
            ctx.changed(db, dst, 1);
            ctx.notify(notify::GENERIC, "del", dst);
        }
    } else {
        ctx.srv.set_key(db, dst, Value::Set(result), false);
        ctx.changed(db, dst, 1);
        let event = match op {
            SetOp::Inter => "sinterstore",
            SetOp::Union => "sunionstore",
            SetOp::Diff => "sdiffstore",
        };
        ctx.notify(notify::SET, event, dst);
    }
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn sinter(ctx: &mut Ctx<'_>) -> Reply {
    set_op(ctx, SetOp::Inter, false)
}

fn sinterstore(ctx: &mut Ctx<'_>) -> Reply {
    set_op(ctx, SetOp::Inter, true)
}

fn sunion(ctx: &mut Ctx<'_>) -> Reply {
    set_op(ctx, SetOp::Union, false)
}

fn sunionstore(ctx: &mut Ctx<'_>) -> Reply {
    set_op(ctx, SetOp::Union, true)
}

fn sdiff(ctx: &mut Ctx<'_>) -> Reply {
    set_op(ctx, SetOp::Diff, false)
}

fn sdiffstore(ctx: &mut Ctx<'_>) -> Reply {
    set_op(ctx, SetOp::Diff, true)
}

fn sintercard(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let numkeys = match amber_store::value::parse_i64(&a[1]) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(Error::new("ERR numkeys should be greater than 0")),
    };
    if numkeys > a.len() - 2 {
        return Err(Error::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let keys = &a[2..2 + numkeys];
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < a.len() {
        if args::is(&a[i], "LIMIT") && i + 1 < a.len() {
            limit = match amber_store::value::parse_i64(&a[i + 1]) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err(Error::new("ERR LIMIT can't be negative")),
            };
            i += 2;
        } else {
            return Err(Error::syntax());
        }
    }
    let sets = lookup_sets(ctx.srv, db, keys)?;
    let n = intersect(&sets, limit).len();
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn sscan(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    scan::parse_cursor(&a[2])?;
    let Some(s) = read_set(ctx.srv, db, &a[1])? else {
        write_scan_reply(&mut ctx.cl.out, 0, &[]);
        return Ok(());
    };
    let opts = scan::parse(a, 2, false)?;
    let mut items: Vec<Vec<u8>> = Vec::new();
    let next = s.scan(opts.cursor, opts.count, |m| {
        let b = m.bytes();
        if opts.matches(&b) {
            items.push(b.into_owned());
        }
    });
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    write_scan_reply(&mut ctx.cl.out, next, &refs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::client::Client;
    use crate::cmd::Ctx;
    use crate::config::{Config, LogLevel};
    use crate::server::Server;
    use crate::sys::log::Logger;

    fn server() -> (Server, Client) {
        let log = Logger::open(LogLevel::Warning, "").expect("stdout logger");
        let srv = Server::new(Config::default(), log);
        let cl = Client::new(1, "127.0.0.1:1".into(), "127.0.0.1:2".into(), -1, true);
        (srv, cl)
    }

    /// Runs one command's handler and returns its reply and what it propagated.
    fn run(srv: &mut Server, cl: &mut Client, args: &[&str]) -> (Vec<u8>, Vec<Vec<String>>) {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let cmd = srv.commands.lookup(&args[0]).expect("known command");
        srv.propagated.clear();
        cl.out.buf.clear();
        let mut ctx = Ctx {
            srv: &mut *srv,
            cl: &mut *cl,
            args: &args,
            cmd,
            reprocessing: false,
            touched: false,
        };
        if let Err(e) = (cmd.handler)(&mut ctx) {
            cl.out.error(&e.0);
        }
        let prop = srv
            .propagated
            .iter()
            .map(|(_, v)| {
                v.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .collect();
        (std::mem::take(&mut cl.out.buf), prop)
    }

    #[test]
    fn spop_propagates_srem_or_del() {
        let (mut srv, mut cl) = server();
        let members: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let mut sadd = vec!["SADD", "s"];
        sadd.extend(members.iter().map(String::as_str));
        run(&mut srv, &mut cl, &sadd);
        let (reply, prop) = run(&mut srv, &mut cl, &["SPOP", "s"]);
        assert_eq!(prop.len(), 1);
        assert_eq!(prop[0][..2], ["SREM", "s"]);
        assert!(String::from_utf8_lossy(&reply).contains(&prop[0][2]));
        let (_, prop) = run(&mut srv, &mut cl, &["SPOP", "s", "2"]);
        assert_eq!(prop.len(), 2);
        assert!(prop.iter().all(|p| p.len() == 3 && p[0] == "SREM"));
        // Case 3 (rebuilding the remainder) also removes member by member.
        let (_, prop) = run(&mut srv, &mut cl, &["SPOP", "s", "15"]);
        assert_eq!(prop.len(), 15);
        assert!(prop.iter().all(|p| p.len() == 3 && p[0] == "SREM"));
        let (_, prop) = run(&mut srv, &mut cl, &["SPOP", "s", "5"]);
        assert_eq!(prop, vec![vec!["DEL".to_string(), "s".to_string()]]);
        let (_, prop) = run(&mut srv, &mut cl, &["SPOP", "s", "5"]);
        assert!(prop.is_empty());
    }

    #[test]
    fn hincrbyfloat_propagates_hset_with_the_result() {
        let (mut srv, mut cl) = server();
        run(&mut srv, &mut cl, &["HSET", "h", "f", "10.5"]);
        let (reply, prop) = run(&mut srv, &mut cl, &["HINCRBYFLOAT", "h", "f", "0.25"]);
        assert_eq!(reply, b"$5\r\n10.75\r\n");
        assert_eq!(prop, vec![vec!["HSET", "h", "f", "10.75"]]);
        let (_, prop) = run(&mut srv, &mut cl, &["HINCRBY", "h", "g", "1"]);
        assert!(prop.is_empty(), "HINCRBY propagates as received");
    }

    #[test]
    fn dirty_counts_follow_redis() {
        let (mut srv, mut cl) = server();
        let mut step = |args: &[&str]| {
            let before = srv.dirty;
            run(&mut srv, &mut cl, args);
            srv.dirty - before
        };
        assert_eq!(step(&["HSET", "h", "a", "1", "b", "2", "a", "3"]), 3);
        assert_eq!(step(&["HSETNX", "h", "a", "1"]), 0);
        assert_eq!(step(&["HDEL", "h", "a", "zz", "b"]), 2);
        assert_eq!(step(&["SADD", "s", "1", "2", "3", "1"]), 3);
        assert_eq!(step(&["SREM", "s", "1", "99"]), 1);
        assert_eq!(step(&["SMOVE", "s", "t", "2"]), 2);
        assert_eq!(step(&["SADD", "t", "3"]), 1);
        assert_eq!(step(&["SMOVE", "s", "t", "3"]), 1);
        assert_eq!(step(&["SINTERSTORE", "d", "t", "t"]), 1);
        assert_eq!(step(&["SINTERSTORE", "d", "nokey"]), 1);
        assert_eq!(step(&["SINTERSTORE", "d", "nokey"]), 0);
        assert_eq!(step(&["SPOP", "t", "0"]), 0);
        assert_eq!(step(&["SPOP", "t", "10"]), 2);
    }
}
