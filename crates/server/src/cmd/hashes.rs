//! Hash commands: HSET HSETNX HGET HMGET HMSET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS HGETALL
//! HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN.

use super::notify;

use amber_store::hash::Hash;
use amber_store::{Entry, Key, Value};
use rand::Rng;

use super::{args, scan, Command, Ctx, Error, Reply, DENYOOM, FAST, READONLY, WRITE};
use crate::server::Server;

/// HINCRBYFLOAT's arithmetic: `cur + incr`, formatted as Redis's ld2string(LD_STR_HUMAN).
/// Validates `incr` first (call it with `cur = b"0"` to check an increment alone).
/// HINCRBYFLOAT's computation in x87 long double, as Redis: the increment is checked first,
/// then the current value, then the result.
fn incr_by_float(cur: &[u8], incr: &[u8]) -> Result<Vec<u8>, Error> {
    use crate::cmd::ldouble::LongDouble;
    let incr = LongDouble::parse(incr).ok_or_else(Error::not_float)?;
    if !incr.is_finite() {
        return Err(Error::new("ERR value is NaN or Infinity"));
    }
    let cur = LongDouble::parse(cur).ok_or_else(|| Error::new("ERR hash value is not a float"))?;
    let v = cur.plus(incr);
    if !v.is_finite() {
        return Err(Error::new("ERR increment would produce NaN or Infinity"));
    }
    Ok(v.format_human())
}

const HASH: &[&str] = &["@hash"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), HASH, hset),
    Command::new("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), HASH, hset),
    Command::new("hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), HASH, hsetnx),
    Command::new("hget", 3, READONLY | FAST, (1, 1, 1), HASH, hget),
    Command::new("hmget", -3, READONLY | FAST, (1, 1, 1), HASH, hmget),
    Command::new("hdel", -3, WRITE | FAST, (1, 1, 1), HASH, hdel),
    Command::new("hlen", 2, READONLY | FAST, (1, 1, 1), HASH, hlen),
    Command::new("hstrlen", 3, READONLY | FAST, (1, 1, 1), HASH, hstrlen),
    Command::new("hexists", 3, READONLY | FAST, (1, 1, 1), HASH, hexists),
    Command::new("hkeys", 2, READONLY, (1, 1, 1), HASH, hkeys),
    Command::new("hvals", 2, READONLY, (1, 1, 1), HASH, hvals),
    Command::new("hgetall", 2, READONLY, (1, 1, 1), HASH, hgetall),
    Command::new(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        HASH,
        hincrby,
    ),
    Command::new(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        HASH,
        hincrbyfloat,
    ),
    Command::new("hrandfield", -2, READONLY, (1, 1, 1), HASH, hrandfield),
    Command::new("hscan", -3, READONLY, (1, 1, 1), HASH, hscan),
];

/// The hash at `key` for a read command (counts hits/misses); WRONGTYPE for other types.
fn read_hash<'a>(srv: &'a mut Server, db: usize, key: &[u8]) -> Result<Option<&'a Hash>, Error> {
    match srv.lookup_read(db, key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(Error::wrongtype()),
    }
}

/// The hash at `key` for modification, created empty when missing and `create` is set
/// (hashTypeLookupWriteOrCreate). Callers must delete the key if they leave it empty.
fn write_hash<'a>(
    srv: &'a mut Server,
    db: usize,
    key: &[u8],
    create: bool,
) -> Result<Option<&'a mut Hash>, Error> {
    match srv
        .lookup_write(db, key)
        .map(|e| matches!(e.value, Value::Hash(_)))
    {
        Some(false) => return Err(Error::wrongtype()),
        Some(true) => {}
        None if create => {
            srv.add_key(db, Key::from_slice(key), Value::Hash(Default::default()));
        }
        None => return Ok(None),
    }
    match srv.db_mut(db).get_mut(key) {
        Some(Entry {
            value: Value::Hash(h),
            ..
        }) => Ok(Some(h)),
        _ => Ok(None),
    }
}

/// Deletes `key` if its hash was left empty; whether it did.
fn drop_if_empty(srv: &mut Server, db: usize, key: &[u8]) -> bool {
    let empty =
        matches!(srv.db(db).get(key), Some(Entry { value: Value::Hash(h), .. }) if h.is_empty());
    if empty {
        srv.db_mut(db).remove(key);
    }
    empty
}

fn hset(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    if a.len() % 2 == 1 {
        return Err(Error::new(format!(
            "ERR wrong number of arguments for '{}' command",
            ctx.cmd.name
        )));
    }
    let db = ctx.cl.db;
    let limits = ctx.srv.config.limits;
    let mut created = 0;
    if let Some(h) = write_hash(ctx.srv, db, &a[1], true)? {
        for pair in a[2..].chunks_exact(2) {
            if h.set(&pair[0], &pair[1], &limits) {
                created += 1;
            }
        }
    }
    ctx.changed(db, &a[1], ((a.len() - 2) / 2) as u64);
    ctx.notify(notify::HASH, "hset", &a[1]);
    if ctx.cmd.name == "hmset" {
        ctx.cl.out.ok();
    } else {
        ctx.cl.out.int(created);
    }
    Ok(())
}

fn hsetnx(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let limits = ctx.srv.config.limits;
    let Some(h) = write_hash(ctx.srv, db, &a[1], true)? else {
        return Err(Error::wrongtype());
    };
    if h.contains(&a[2]) {
        ctx.cl.out.int(0);
        return Ok(());
    }
    h.set(&a[2], &a[3], &limits);
    ctx.changed(db, &a[1], 1);
    ctx.notify(notify::HASH, "hset", &a[1]);
    ctx.cl.out.int(1);
    Ok(())
}

fn hget(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    match read_hash(ctx.srv, db, &ctx.args[1])?.and_then(|h| h.get(&ctx.args[2])) {
        Some(v) => ctx.cl.out.bulk(v),
        None => ctx.cl.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let a = ctx.args;
    let h = read_hash(ctx.srv, db, &a[1])?;
    let out = &mut ctx.cl.out;
    out.array(a.len() - 2);
    for f in &a[2..] {
        match h.and_then(|h| h.get(f)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    Ok(())
}

fn hdel(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let a = ctx.args;
    let mut n = 0;
    if let Some(h) = write_hash(ctx.srv, db, &a[1], false)? {
        for f in &a[2..] {
            if h.remove(f) {
                n += 1;
            }
        }
    }
    if n > 0 {
        let gone = drop_if_empty(ctx.srv, db, &a[1]);
        ctx.changed(db, &a[1], n as u64);
        ctx.notify(notify::HASH, "hdel", &a[1]);
        if gone {
            ctx.notify(notify::GENERIC, "del", &a[1]);
        }
    }
    ctx.cl.out.int(n);
    Ok(())
}

fn hlen(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let n = read_hash(ctx.srv, db, &ctx.args[1])?.map_or(0, Hash::len);
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let n = read_hash(ctx.srv, db, &ctx.args[1])?
        .and_then(|h| h.get(&ctx.args[2]))
        .map_or(0, <[u8]>::len);
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let yes = read_hash(ctx.srv, db, &ctx.args[1])?.is_some_and(|h| h.contains(&ctx.args[2]));
    ctx.cl.out.int(i64::from(yes));
    Ok(())
}

/// HKEYS, HVALS, HGETALL.
fn hgetall_generic(ctx: &mut Ctx<'_>, keys: bool, vals: bool) -> Reply {
    let db = ctx.cl.db;
    let h = read_hash(ctx.srv, db, &ctx.args[1])?;
    let out = &mut ctx.cl.out;
    let n = h.map_or(0, Hash::len);
    if keys && vals {
        out.map(n);
    } else {
        out.array(n);
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            if keys {
                out.bulk(f);
            }
            if vals {
                out.bulk(v);
            }
        }
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx<'_>) -> Reply {
    hgetall_generic(ctx, true, false)
}

fn hvals(ctx: &mut Ctx<'_>) -> Reply {
    hgetall_generic(ctx, false, true)
}

fn hgetall(ctx: &mut Ctx<'_>) -> Reply {
    hgetall_generic(ctx, true, true)
}

fn hincrby(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let limits = ctx.srv.config.limits;
    let incr = args::int(&a[3])?;
    let Some(h) = write_hash(ctx.srv, db, &a[1], true)? else {
        return Err(Error::wrongtype());
    };
    let cur = match h.get(&a[2]) {
        Some(v) => amber_store::value::parse_i64(v)
            .ok_or_else(|| Error::new("ERR hash value is not an integer"))?,
        None => 0,
    };
    let Some(new) = cur.checked_add(incr) else {
        drop_if_empty(ctx.srv, db, &a[1]);
        return Err(Error::new("ERR increment or decrement would overflow"));
    };
    h.set(&a[2], new.to_string().as_bytes(), &limits);
    ctx.changed(db, &a[1], 1);
    ctx.notify(notify::HASH, "hincrby", &a[1]);
    ctx.cl.out.int(new);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let limits = ctx.srv.config.limits;
    // The increment is judged before the key, as in Redis.
    incr_by_float(b"0", &a[3])?;
    let Some(h) = write_hash(ctx.srv, db, &a[1], true)? else {
        return Err(Error::wrongtype());
    };
    let new = match incr_by_float(h.get(&a[2]).unwrap_or(b"0"), &a[3]) {
        Ok(v) => v,
        Err(e) => {
            drop_if_empty(ctx.srv, db, &a[1]);
            return Err(e);
        }
    };
    h.set(&a[2], &new, &limits);
    ctx.changed(db, &a[1], 1);
    ctx.notify(notify::HASH, "hincrbyfloat", &a[1]);
    ctx.cl.out.bulk(&new);
    // Replicas and the AOF get the result, never the float arithmetic.
    ctx.propagate(vec![b"HSET".to_vec(), a[1].clone(), a[2].clone(), new]);
    Ok(())
}

fn hrandfield(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    if a.len() == 2 {
        let srv = &mut *ctx.srv;
        let h = read_hash(srv, db, &a[1])?;
        match h.and_then(|h| h.random(&mut rand::thread_rng())) {
            Some((f, _)) => ctx.cl.out.bulk(f),
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
    let withvalues = match a.len() {
        3 => false,
        4 if args::is(&a[3], "WITHVALUES") => true,
        _ => return Err(Error::syntax()),
    };
    // The reply would hold 2 * |count| strings: refuse what cannot be counted.
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(Error::new("ERR value is out of range"));
    }
    let Some(h) = read_hash(ctx.srv, db, &a[1])? else {
        ctx.cl.out.array(0);
        return Ok(());
    };
    let out = &mut ctx.cl.out;
    let resp3 = out.resp3();
    let emit = |out: &mut amber_resp::ReplyBuf, f: &[u8], v: &[u8]| {
        if withvalues && resp3 {
            out.array(2);
        }
        out.bulk(f);
        if withvalues {
            out.bulk(v);
        }
    };
    let header = |out: &mut amber_resp::ReplyBuf, n: usize| {
        if withvalues && !resp3 {
            out.array(n * 2);
        } else {
            out.array(n);
        }
    };
    let mut rng = rand::thread_rng();
    if l < 0 {
        // Repetitions allowed: |count| independent picks.
        let n = l.unsigned_abs() as usize;
        header(out, n);
        for _ in 0..n {
            if let Some((f, v)) = h.random(&mut rng) {
                emit(out, f, v);
            }
        }
        return Ok(());
    }
    let n = l as usize;
    if n >= h.len() {
        header(out, h.len());
        for (f, v) in h.iter() {
            emit(out, f, v);
        }
        return Ok(());
    }
    header(out, n);
    for (f, v) in sample_distinct(h.iter(), h.len(), n, &mut rng, |r| h.random(r)) {
        emit(out, f, v);
    }
    Ok(())
}

/// `n` distinct elements out of `len` (n < len): a partial shuffle when `n` is a large share,
/// repeated random picks with a seen-set otherwise.
pub(crate) fn sample_distinct<T, R>(
    all: impl Iterator<Item = T>,
    len: usize,
    n: usize,
    rng: &mut R,
    mut pick: impl FnMut(&mut R) -> Option<T>,
) -> Vec<T>
where
    T: Copy + Eq + std::hash::Hash,
    R: Rng,
{
    if n.saturating_mul(3) > len {
        let mut v: Vec<T> = all.collect();
        let n = n.min(v.len());
        for i in 0..n {
            let j = rng.gen_range(i..v.len());
            v.swap(i, j);
        }
        v.truncate(n);
        return v;
    }
    let mut seen = hashbrown::HashSet::new();
    let mut res = Vec::with_capacity(n);
    while res.len() < n {
        let Some(t) = pick(rng) else {
            break;
        };
        if seen.insert(t) {
            res.push(t);
        }
    }
    res
}

fn hscan(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    scan::parse_cursor(&a[2])?;
    let Some(h) = read_hash(ctx.srv, db, &a[1])? else {
        write_scan_reply(&mut ctx.cl.out, 0, &[]);
        return Ok(());
    };
    let opts = scan::parse(a, 2, false)?;
    let mut items: Vec<&[u8]> = Vec::new();
    let next = h.scan(opts.cursor, opts.count, |f, v| {
        if opts.matches(f) {
            items.push(f);
            items.push(v);
        }
    });
    write_scan_reply(&mut ctx.cl.out, next, &items);
    Ok(())
}

/// `[cursor, [elements...]]`, the same in RESP2 and RESP3.
pub(crate) fn write_scan_reply(out: &mut amber_resp::ReplyBuf, cursor: u64, items: &[&[u8]]) {
    out.array(2);
    out.bulk(cursor.to_string().as_bytes());
    out.array(items.len());
    for i in items {
        out.bulk(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incr_by_float_formats_like_redis() {
        assert_eq!(incr_by_float(b"10.5", b"0.25").unwrap(), b"10.75");
        assert_eq!(incr_by_float(b"0", b"3").unwrap(), b"3");
        assert_eq!(incr_by_float(b"3", b"-3").unwrap(), b"0");
        assert_eq!(incr_by_float(b"0", b"1.0e1").unwrap(), b"10");
        assert_eq!(incr_by_float(b"-0.5", b"0").unwrap(), b"-0.5");
        assert!(incr_by_float(b"0", b"inf").is_err());
        assert!(incr_by_float(b"abc", b"1").is_err());
        assert!(incr_by_float(b"inf", b"1").is_err());
    }
}
