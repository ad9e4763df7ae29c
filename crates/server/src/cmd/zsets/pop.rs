//! The pops: ZPOPMIN ZPOPMAX ZMPOP and the blocking BZPOPMIN BZPOPMAX BZMPOP.

use amber_store::{Blob, Key, Value};

use super::parse::range_long;
use super::{after_removal, write_zset};
use crate::cmd::args::{self, is};
use crate::cmd::{Ctx, Error, Reply};

pub(super) fn zpopmin(ctx: &mut Ctx<'_>) -> Reply {
    zpop_cmd(ctx, false)
}

pub(super) fn zpopmax(ctx: &mut Ctx<'_>) -> Reply {
    zpop_cmd(ctx, true)
}

fn zpop_cmd(ctx: &mut Ctx<'_>, max: bool) -> Reply {
    if ctx.args.len() > 3 {
        return Err(Error::syntax());
    }
    let count = match ctx.args.get(2) {
        // getPositiveLongFromObjectOrReply: one message for both failures.
        Some(c) => args::int(c)
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| Error::new("ERR value is out of range, must be positive"))?,
        None => -1,
    };
    let nested = ctx.cl.out.resp3() && count != -1;
    let keys = [ctx.args[1].clone()];
    zpop_generic(ctx, &keys, max, false, count, nested, false)?;
    Ok(())
}

/// Redis's genericZpopCommand: pops from the first existing key. Returns the key popped from.
fn zpop_generic(
    ctx: &mut Ctx<'_>,
    keys: &[Vec<u8>],
    max: bool,
    emitkey: bool,
    count: i64,
    nested: bool,
    nil_when_empty: bool,
) -> Result<Option<Vec<u8>>, Error> {
    let db = ctx.cl.db;
    let mut found = None;
    for k in keys {
        match ctx.srv.lookup_write(db, k) {
            None => continue,
            Some(e) if matches!(e.value, Value::ZSet(_)) => {
                found = Some(k);
                break;
            }
            Some(_) => return Err(Error::wrongtype()),
        }
    }
    let Some(key) = found else {
        if nil_when_empty {
            ctx.cl.out.null_array();
        } else {
            ctx.cl.out.array(0);
        }
        return Ok(None);
    };
    if count == 0 {
        ctx.cl.out.array(0);
        return Ok(None);
    }
    let count = if count < 0 { 1 } else { count as usize };
    let Some(z) = write_zset(ctx.srv, db, key)? else {
        return Ok(None);
    };
    let n = count.min(z.len());
    let range = if max { z.len() - n..z.len() } else { 0..n };
    let mut items: Vec<(Blob, f64)> = range
        .clone()
        .filter_map(|i| z.entry(i).map(|(m, s)| (Blob::from_slice(m), s)))
        .collect();
    if max {
        items.reverse();
    }
    z.remove_ranks(range);
    let out = &mut ctx.cl.out;
    match (nested, emitkey) {
        (false, false) => out.array(n * 2),
        (true, false) => out.array(n),
        (false, true) => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        (true, true) => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    for (m, s) in &items {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
    after_removal(ctx, db, key, n, if max { "zpopmax" } else { "zpopmin" });
    Ok(Some(key.clone()))
}

fn pop_name(max: bool) -> Vec<u8> {
    if max {
        b"ZPOPMAX".to_vec()
    } else {
        b"ZPOPMIN".to_vec()
    }
}

pub(super) fn bzpopmin(ctx: &mut Ctx<'_>) -> Reply {
    bzpop_cmd(ctx, false)
}

pub(super) fn bzpopmax(ctx: &mut Ctx<'_>) -> Reply {
    bzpop_cmd(ctx, true)
}

fn bzpop_cmd(ctx: &mut Ctx<'_>, max: bool) -> Reply {
    let n = ctx.args.len();
    let timeout = args::timeout_secs(&ctx.args[n - 1])?;
    let keys = ctx.args[1..n - 1].to_vec();
    blocking_pop(ctx, &keys, max, timeout, -1, false)
}

/// Redis's blockingGenericZpopCommand: pops from the first non-empty key, or blocks.
/// `count` -1 is BZPOPMIN/BZPOPMAX (propagated as ZPOPMIN key), else BZMPOP (ZPOPMIN key count).
fn blocking_pop(
    ctx: &mut Ctx<'_>,
    keys: &[Vec<u8>],
    max: bool,
    timeout: i64,
    count: i64,
    nested: bool,
) -> Reply {
    let db = ctx.cl.db;
    for k in ctx.serving_first(keys) {
        match ctx.srv.lookup_write(db, k) {
            None => continue,
            Some(e) => match &e.value {
                Value::ZSet(z) if !z.is_empty() => {}
                Value::ZSet(_) => continue,
                // A key that changed type while we waited does not serve us (Redis only
                // serves zset keys), but it is an error up front.
                _ if ctx.reprocessing => continue,
                _ => return Err(Error::wrongtype()),
            },
        }
        let one = [k.clone()];
        zpop_generic(ctx, &one, max, true, count, nested, false)?;
        let mut argv = vec![pop_name(max), k.clone()];
        if count != -1 {
            argv.push(count.max(1).to_string().into_bytes());
        }
        ctx.propagate(argv);
        return Ok(());
    }
    if !ctx.can_block() {
        ctx.cl.out.null_array();
        return Ok(());
    }
    let keys: Vec<Key> = keys.iter().map(|k| Key::from_slice(k)).collect();
    ctx.block(keys, timeout, |out| out.null_array());
    Ok(())
}

/// Parses `numkeys key... MIN|MAX [COUNT count]` from `numkeys_idx`.
fn parse_mpop(a: &[Vec<u8>], numkeys_idx: usize) -> Result<(Vec<Vec<u8>>, bool, i64), Error> {
    let numkeys = range_long(
        &a[numkeys_idx],
        1,
        i64::MAX,
        Some("numkeys should be greater than 0"),
    )?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
        .filter(|w| *w < a.len())
        .ok_or_else(Error::syntax)?;
    let max = if is(&a[where_idx], "min") {
        false
    } else if is(&a[where_idx], "max") {
        true
    } else {
        return Err(Error::syntax());
    };
    let mut count = -1;
    let mut j = where_idx + 1;
    while j < a.len() {
        let more = j + 1 < a.len();
        if count == -1 && is(&a[j], "count") && more {
            j += 1;
            count = range_long(&a[j], 1, i64::MAX, Some("count should be greater than 0"))?;
        } else {
            return Err(Error::syntax());
        }
        j += 1;
    }
    if count == -1 {
        count = 1;
    }
    Ok((a[numkeys_idx + 1..where_idx].to_vec(), max, count))
}

pub(super) fn zmpop(ctx: &mut Ctx<'_>) -> Reply {
    let (keys, max, count) = parse_mpop(ctx.args, 1)?;
    if let Some(key) = zpop_generic(ctx, &keys, max, true, count, true, true)? {
        ctx.propagate(vec![pop_name(max), key, count.to_string().into_bytes()]);
    }
    Ok(())
}

pub(super) fn bzmpop(ctx: &mut Ctx<'_>) -> Reply {
    let timeout = args::timeout_secs(&ctx.args[1])?;
    let (keys, max, count) = parse_mpop(ctx.args, 2)?;
    blocking_pop(ctx, &keys, max, timeout, count, true)
}
