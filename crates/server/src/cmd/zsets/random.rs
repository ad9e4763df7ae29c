//! ZRANDMEMBER.

use amber_resp::ReplyBuf;
use amber_store::{Blob, Value};
use rand::Rng;

use super::parse::range_long;
use super::{read_zset, read_zset_arc};
use crate::cmd::args::is;
use crate::cmd::{Ctx, Error, Reply};

pub(super) fn zrandmember(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    if a.len() < 3 {
        let Some(z) = read_zset(ctx.srv, db, &a[1])? else {
            ctx.cl.out.null();
            return Ok(());
        };
        let n = z.len();
        let i = ctx.srv.rng.gen_range(0..n.max(1));
        let m = ctx
            .srv
            .db(db)
            .get(&a[1])
            .and_then(|e| match &e.value {
                Value::ZSet(z) => z.entry(i).map(|e| Blob::from_slice(e.0)),
                _ => None,
            })
            .unwrap_or_default();
        ctx.cl.out.bulk(&m);
        return Ok(());
    }
    let l = range_long(&a[2], -i64::MAX, i64::MAX, None)?;
    let mut withscores = false;
    if a.len() > 4 || (a.len() == 4 && !is(&a[3], "withscores")) {
        return Err(Error::syntax());
    } else if a.len() == 4 {
        withscores = true;
        if !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
            return Err(Error::new("ERR value is out of range"));
        }
    }
    let Some(z) = read_zset_arc(ctx.srv, db, &a[1])? else {
        ctx.cl.out.array(0);
        return Ok(());
    };
    let size = z.len();
    let (count, uniq) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    if count == 0 {
        ctx.cl.out.array(0);
        return Ok(());
    }
    let rng = &mut ctx.srv.rng;
    let out = &mut ctx.cl.out;
    let emit = |out: &mut ReplyBuf, i: usize| {
        if let Some((m, s)) = z.entry(i) {
            if withscores && out.resp3() {
                out.array(2);
            }
            out.bulk(m);
            if withscores {
                out.double(s);
            }
        }
    };
    let header = |out: &mut ReplyBuf, n: usize| {
        if withscores && !out.resp3() {
            out.array(n * 2);
        } else {
            out.array(n);
        }
    };
    if !uniq || count == 1 {
        let n = usize::try_from(count).unwrap_or(usize::MAX);
        header(out, n);
        for _ in 0..n {
            let i = rng.gen_range(0..size);
            emit(out, i);
        }
        return Ok(());
    }
    if count >= size as u64 {
        // The whole set, highest first, as Redis 7.0 replies.
        header(out, size);
        for i in (0..size).rev() {
            emit(out, i);
        }
        return Ok(());
    }
    let count = count as usize;
    let picks = rand::seq::index::sample(rng, size, count).into_vec();
    header(out, count);
    for i in picks {
        emit(out, i);
    }
    Ok(())
}
