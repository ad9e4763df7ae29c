//! The set operations: ZUNION ZINTER ZDIFF, their STORE forms, and ZINTERCARD.

use amber_store::set::Set;
use amber_store::zset::ZSet;
use amber_store::{Blob, Value};

use super::range::store_result;
use super::reply_entries;
use crate::cmd::args::{self, is};
use crate::cmd::{Ctx, Error, Reply};

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

enum Src {
    Empty,
    Z(ZSet),
    S(Set),
}

impl Src {
    fn len(&self) -> usize {
        match self {
            Src::Empty => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64) -> bool) {
        match self {
            Src::Empty => {}
            Src::Z(z) => {
                for (m, s) in z.iter() {
                    if !f(m, s) {
                        return;
                    }
                }
            }
            Src::S(s) => match s {
                Set::Ints(v) => {
                    for n in v.iter() {
                        if !f(n.to_string().as_bytes(), 1.0) {
                            return;
                        }
                    }
                }
                Set::Table(t) => {
                    for (m, _) in t.iter() {
                        if !f(m, 1.0) {
                            return;
                        }
                    }
                }
            },
        }
    }

    fn find(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Empty => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => {
                let found = match s {
                    Set::Ints(v) => amber_store::value::parse_i64(m).is_some_and(|n| v.contains(n)),
                    Set::Table(t) => t.contains(m),
                };
                found.then_some(1.0)
            }
        }
    }
}

fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

pub(super) fn zunion(ctx: &mut Ctx<'_>) -> Reply {
    setop_generic(ctx, None, 1, SetOp::Union, false)
}
pub(super) fn zinter(ctx: &mut Ctx<'_>) -> Reply {
    setop_generic(ctx, None, 1, SetOp::Inter, false)
}
pub(super) fn zdiff(ctx: &mut Ctx<'_>) -> Reply {
    setop_generic(ctx, None, 1, SetOp::Diff, false)
}
pub(super) fn zunionstore(ctx: &mut Ctx<'_>) -> Reply {
    let dst = ctx.args[1].clone();
    setop_generic(ctx, Some(dst), 2, SetOp::Union, false)
}
pub(super) fn zinterstore(ctx: &mut Ctx<'_>) -> Reply {
    let dst = ctx.args[1].clone();
    setop_generic(ctx, Some(dst), 2, SetOp::Inter, false)
}
pub(super) fn zdiffstore(ctx: &mut Ctx<'_>) -> Reply {
    let dst = ctx.args[1].clone();
    setop_generic(ctx, Some(dst), 2, SetOp::Diff, false)
}
pub(super) fn zintercard(ctx: &mut Ctx<'_>) -> Reply {
    setop_generic(ctx, None, 1, SetOp::Inter, true)
}

/// Redis's zunionInterDiffGenericCommand.
fn setop_generic(
    ctx: &mut Ctx<'_>,
    dst: Option<Vec<u8>>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> Reply {
    let a = ctx.args;
    let setnum = args::int(&a[numkeys_idx])?;
    if setnum < 1 {
        return Err(Error::new(format!(
            "ERR at least 1 input key is needed for '{}' command",
            ctx.cmd.name
        )));
    }
    let avail = (a.len() - numkeys_idx - 1) as i64;
    if setnum > avail {
        return Err(Error::syntax());
    }
    let setnum = setnum as usize;
    let db = ctx.cl.db;
    let mut srcs: Vec<(Src, f64)> = Vec::with_capacity(setnum);
    for k in &a[numkeys_idx + 1..numkeys_idx + 1 + setnum] {
        // lookupKeyRead, as Redis 7.0.15, with a destination too.
        let src = match ctx.srv.lookup_read(db, k).map(|e| &e.value) {
            None => Src::Empty,
            Some(Value::ZSet(z)) => Src::Z(z.clone()),
            Some(Value::Set(s)) => Src::S(s.clone()),
            Some(_) => return Err(Error::wrongtype()),
        };
        srcs.push((src, 1.0));
    }
    let mut j = numkeys_idx + 1 + setnum;
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: i64 = 0;
    while j < a.len() {
        let remaining = a.len() - j;
        let o = &a[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && is(o, "weights") {
            j += 1;
            for src in srcs.iter_mut() {
                src.1 = args::parse_f64(&a[j])
                    .ok_or_else(|| Error::new("ERR weight value is not a float"))?;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && is(o, "aggregate") {
            let v = &a[j + 1];
            how = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(Error::syntax());
            };
            j += 2;
        } else if dst.is_none() && !card_only && is(o, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(o, "limit") {
            limit = args::int(&a[j + 1])
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| Error::new("ERR LIMIT can't be negative"))?;
            j += 2;
        } else {
            return Err(Error::syntax());
        }
    }
    if op != SetOp::Diff {
        srcs.sort_by_key(|s| s.0.len());
    }
    let mut result: Vec<(Blob, f64)> = Vec::new();
    let mut cardinality: i64 = 0;
    match op {
        SetOp::Inter => {
            let (first, w0) = &srcs[0];
            if first.len() > 0 {
                first.for_each(|m, s| {
                    let mut score = w0 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for (src, w) in &srcs[1..] {
                        match src.find(m) {
                            // Unlike the first set's score, a NaN product (inf x 0) goes into
                            // the aggregate as it is, as in Redis: SUM turns it into 0, MIN and
                            // MAX ignore it.
                            Some(v) => aggregate(&mut score, v * w, how),
                            None => return true,
                        }
                    }
                    if card_only {
                        cardinality += 1;
                        return !(limit > 0 && cardinality >= limit);
                    }
                    result.push((Blob::from_slice(m), score));
                    true
                });
            }
        }
        SetOp::Union => {
            let mut acc: hashbrown::HashMap<Blob, usize> = hashbrown::HashMap::new();
            for (src, w) in &srcs {
                src.for_each(|m, s| {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get(m) {
                        Some(&i) => aggregate(&mut result[i].1, score, how),
                        None => {
                            acc.insert(Blob::from_slice(m), result.len());
                            result.push((Blob::from_slice(m), score));
                        }
                    }
                    true
                });
            }
        }
        SetOp::Diff => {
            let (first, _) = &srcs[0];
            first.for_each(|m, s| {
                if !srcs[1..].iter().any(|(src, _)| src.find(m).is_some()) {
                    result.push((Blob::from_slice(m), s));
                }
                true
            });
        }
    }
    drop(srcs);
    if card_only {
        ctx.cl.out.int(cardinality);
        return Ok(());
    }
    if let Some(dst) = dst {
        let event = match op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            SetOp::Diff => "zdiffstore",
        };
        store_result(ctx, db, &dst, result, event, ZSet::from_entries);
        return Ok(());
    }
    result.sort_by(|x, y| amber_store::zset::cmp_entry(x.1, &x.0, y.1, &y.0));
    reply_entries(&mut ctx.cl.out, &result, withscores);
    Ok(())
}
