//! ZADD and ZINCRBY.

use amber_store::zset::ZSet;
use amber_store::{Key, Value};

use super::write_zset;
use crate::cmd::args::{self, is};
use crate::cmd::{Ctx, Error, Reply};

pub(crate) fn zadd(ctx: &mut Ctx<'_>) -> Reply {
    zadd_generic(ctx, false)
}

pub(super) fn zincrby(ctx: &mut Ctx<'_>) -> Reply {
    zadd_generic(ctx, true)
}

fn zadd_generic(ctx: &mut Ctx<'_>, zincrby: bool) -> Reply {
    let a = ctx.args;
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, zincrby);
    let mut idx = 2;
    if !zincrby {
        while idx < a.len() {
            let o = &a[idx];
            if is(o, "nx") {
                nx = true;
            } else if is(o, "xx") {
                xx = true;
            } else if is(o, "ch") {
                ch = true;
            } else if is(o, "incr") {
                incr = true;
            } else if is(o, "gt") {
                gt = true;
            } else if is(o, "lt") {
                lt = true;
            } else {
                break;
            }
            idx += 1;
        }
    }
    let elements = a.len() - idx;
    if !elements.is_multiple_of(2) || elements == 0 {
        return Err(Error::syntax());
    }
    let elements = elements / 2;
    if nx && xx {
        return Err(Error::new(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(Error::new(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && elements > 1 {
        return Err(Error::new(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut scores = Vec::with_capacity(elements);
    for j in 0..elements {
        scores.push(args::float(&a[idx + j * 2])?);
    }
    let db = ctx.cl.db;
    let key = &a[1];
    let limits = ctx.srv.config.limits;
    let exists = match ctx.srv.lookup_write(db, key) {
        None => false,
        Some(e) if matches!(e.value, Value::ZSet(_)) => true,
        Some(_) => return Err(Error::wrongtype()),
    };
    if !exists {
        if xx {
            if incr {
                ctx.cl.out.null();
            } else {
                ctx.cl.out.int(0);
            }
            return Ok(());
        }
        let z = ZSet::for_new_key(&limits, a[idx + 1].len());
        ctx.srv.add_key(db, Key::from_slice(key), Value::ZSet(z));
    }
    let Some(z) = write_zset(ctx.srv, db, key)? else {
        return Ok(());
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut nan = false;
    for (j, &score0) in scores.iter().enumerate() {
        let member = &a[idx + 1 + j * 2];
        let mut score = score0;
        match z.score(member) {
            Some(cur) => {
                if nx {
                    continue;
                }
                if incr {
                    score += cur;
                    if score.is_nan() {
                        nan = true;
                        break;
                    }
                }
                if (lt && score >= cur) || (gt && score <= cur) {
                    continue;
                }
                if score != cur {
                    z.update(member, score);
                    updated += 1;
                }
                processed += 1;
                last = score;
            }
            None => {
                if xx {
                    continue;
                }
                z.insert(member, score, &limits);
                added += 1;
                processed += 1;
                last = score;
            }
        }
    }
    if added + updated > 0 {
        ctx.changed(db, key, (added + updated) as u64);
        ctx.notify(
            crate::cmd::notify::ZSET,
            if incr { "zincr" } else { "zadd" },
            key,
        );
        ctx.srv.signal_ready(db, key);
    }
    if nan {
        return Err(Error::new("ERR resulting score is not a number (NaN)"));
    }
    if incr {
        if processed > 0 {
            ctx.cl.out.double(last);
        } else {
            ctx.cl.out.null();
        }
    } else {
        ctx.cl.out.int(if ch { added + updated } else { added });
    }
    Ok(())
}
