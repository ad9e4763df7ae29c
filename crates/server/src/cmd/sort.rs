//! SORT and SORT_RO, as Redis 7.0's sort.c: BY (with `nosort`, and `key->field` of hashes),
//! LIMIT, GET (`#` for the element itself), ASC/DESC, ALPHA, STORE.

use super::notify;
use std::cmp::Ordering;
use std::sync::Arc;

use amber_store::list::List;
use amber_store::Value;

use super::{Command, Ctx, Error, Reply, DENYOOM, MOVABLEKEYS, READONLY, WRITE};

const SORT: &[&str] = &["@set", "@sortedset", "@list", "@dangerous"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new(
        "sort",
        -2,
        WRITE | DENYOOM | MOVABLEKEYS,
        (1, 1, 1),
        SORT,
        sort,
    ),
    Command::new(
        "sort_ro",
        -2,
        READONLY | MOVABLEKEYS,
        (1, 1, 1),
        SORT,
        sort_ro,
    ),
];

fn sort(ctx: &mut Ctx<'_>) -> Reply {
    sort_generic(ctx, false)
}

fn sort_ro(ctx: &mut Ctx<'_>) -> Reply {
    sort_generic(ctx, true)
}

/// One element being sorted: the element, and what it sorts by.
struct Item {
    ele: Vec<u8>,
    score: f64,
    /// ALPHA with BY: the looked-up value (None: missing, sorts first).
    by: Option<Vec<u8>>,
}

/// A value as C sees it: up to its first NUL.
fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(p) => &s[..p],
        None => s,
    }
}

/// Redis's strtod check for sort scores: the whole C string, no overflow or underflow, no NaN.
fn sort_score(s: &[u8]) -> Option<f64> {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    let c = std::ffi::CString::new(&s[..end]).ok()?;
    let mut eptr: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: strtod reads the NUL-terminated string we own and sets errno and eptr within it.
    let (v, errno, rest) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(c.as_ptr(), &mut eptr);
        (v, *libc::__errno_location(), *eptr)
    };
    (rest == 0 && errno != libc::ERANGE && !v.is_nan()).then_some(v)
}

/// The value a BY or GET pattern names for `ele` (lookupKeyByPattern): `#` is the element;
/// the first `*` is replaced by it; `key->field` reads a hash field. Only strings (or the hash
/// field) count.
fn by_pattern(ctx: &mut Ctx<'_>, pattern: &[u8], ele: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(ele.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after.windows(2).position(|w| w == b"->");
    let (postfix, field) = match arrow {
        Some(i) if i + 2 < after.len() => (&after[..i], Some(&after[i + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + ele.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(ele);
    key.extend_from_slice(postfix);
    let db = ctx.cl.db;
    let e = ctx.srv.lookup_read(db, &key)?;
    match field {
        Some(f) => match &e.value {
            Value::Hash(h) => h.get(f).map(<[u8]>::to_vec),
            _ => None,
        },
        None => e.value.as_bytes().map(|b| b.into_owned()),
    }
}

/// SORT's options, as given.
#[derive(Default)]
struct SortOpts {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<Vec<u8>>,
    by: Option<Vec<u8>>,
    /// BY with a pattern without '*' (`BY nosort`): the elements keep their order.
    dontsort: bool,
    gets: Vec<Vec<u8>>,
}

/// `full_access`: the user may read any key (ACL), which BY and GET patterns need.
fn parse_opts(args: &[Vec<u8>], readonly: bool, full_access: bool) -> Result<SortOpts, Error> {
    let mut o = SortOpts::default();
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = args[j].to_ascii_lowercase();
        match a.as_slice() {
            b"asc" => o.desc = false,
            b"desc" => o.desc = true,
            b"alpha" => o.alpha = true,
            b"limit" if left >= 2 => {
                let off = super::args::int(&args[j + 1])?;
                let cnt = super::args::int(&args[j + 2])?;
                o.limit = Some((off, cnt));
                j += 2;
            }
            b"store" if left >= 1 && !readonly => {
                o.store = Some(args[j + 1].clone());
                j += 1;
            }
            b"by" if left >= 1 => {
                let p = args[j + 1].clone();
                o.dontsort = !p.contains(&b'*');
                if !o.dontsort && !full_access {
                    return Err(Error::new(
                        "ERR BY option of SORT denied due to insufficient ACL permissions.",
                    ));
                }
                o.by = Some(p);
                j += 1;
            }
            b"get" if left >= 1 => {
                if !full_access {
                    return Err(Error::new(
                        "ERR GET option of SORT denied due to insufficient ACL permissions.",
                    ));
                }
                o.gets.push(args[j + 1].clone());
                j += 1;
            }
            _ => return Err(Error::syntax()),
        }
        j += 1;
    }
    Ok(o)
}

/// The elements of the sorted key, in the order the value holds them, and its type.
fn elements(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<(Vec<Vec<u8>>, &'static str), Error> {
    let db = ctx.cl.db;
    // Redis 7.0.15 reads the sorted key with lookupKeyRead, STORE or not.
    let found = ctx.srv.lookup_read(db, key).map(|e| &e.value);
    let got = match found {
        None => (Vec::new(), "list"),
        Some(Value::List(l)) => (
            l.items.iter().map(|b| b.as_slice().to_vec()).collect(),
            "list",
        ),
        Some(Value::Set(s)) => (
            s.iter().map(|m| m.to_blob().as_slice().to_vec()).collect(),
            "set",
        ),
        Some(Value::ZSet(z)) => (z.iter().map(|(m, _)| m.to_vec()).collect(), "zset"),
        Some(_) => return Err(Error::wrongtype()),
    };
    // As Redis, a sorted set being sorted is converted to its skiplist encoding for good.
    if got.1 == "zset" {
        if let Some(e) = ctx.srv.db_mut(db).get_mut(key) {
            if let Value::ZSet(z) = &mut e.value {
                if z.encoding() != "skiplist" {
                    z.convert_to_skiplist();
                }
            }
        }
    }
    Ok(got)
}

/// LIMIT offset count as the inclusive index range Redis takes (`start > end`: nothing).
fn limit_range(n: i64, limit: Option<(i64, i64)>) -> (i64, i64) {
    let (off, cnt) = limit.unwrap_or((0, -1));
    let mut start = off.max(0);
    let mut end = if cnt < 0 {
        n - 1
    } else {
        start.saturating_add(cnt - 1)
    };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    if end >= n {
        end = n - 1;
    }
    (start, end)
}

/// Each element with what it is sorted by: its BY value (ALPHA) or its score.
fn weigh(ctx: &mut Ctx<'_>, o: &SortOpts, items: Vec<Vec<u8>>) -> Result<Vec<Item>, Error> {
    let mut weighed = Vec::with_capacity(items.len());
    for ele in items {
        let mut it = Item {
            ele,
            score: 0.0,
            by: None,
        };
        if !o.dontsort {
            let by_val = match &o.by {
                Some(p) => by_pattern(ctx, p, &it.ele),
                None => None,
            };
            if o.alpha {
                it.by = by_val;
            } else {
                let src = if o.by.is_some() {
                    by_val
                } else {
                    Some(it.ele.clone())
                };
                if let Some(v) = src {
                    it.score = sort_score(&v).ok_or_else(|| {
                        Error::new("ERR One or more scores can't be converted into double")
                    })?;
                }
            }
        }
        weighed.push(it);
    }
    Ok(weighed)
}

/// Sorts as Redis does: by score then element, or ALPHA by the BY value or the element.
fn order(items: &mut [Item], o: &SortOpts) {
    let by_pattern_alpha = o.alpha && o.by.is_some();
    // ALPHA compares as Redis does: binary-safe when storing, else with strcoll, which
    // stops at a NUL byte (byte order under the C locale).
    let binary = o.store.is_some();
    let text = |x: &[u8], y: &[u8]| -> Ordering {
        if binary {
            x.cmp(y)
        } else {
            c_str(x).cmp(c_str(y))
        }
    };
    items.sort_by(|a, b| {
        let c = if !o.alpha {
            a.score
                .partial_cmp(&b.score)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.ele.cmp(&b.ele))
        } else if by_pattern_alpha {
            match (&a.by, &b.by) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => text(x, y),
            }
        } else {
            text(&a.ele, &b.ele)
        };
        if o.desc {
            c.reverse()
        } else {
            c
        }
    });
}

fn sort_generic(ctx: &mut Ctx<'_>, readonly: bool) -> Reply {
    let full_access = crate::acl::reads_all_keys(ctx.srv, ctx.cl, ctx.cmd, ctx.args);
    let mut o = parse_opts(ctx.args, readonly, full_access)?;
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    let (mut items, kind) = elements(ctx, key)?;
    // A set has no order of its own: when the result is stored (and so replayed), sort it.
    if o.dontsort && kind == "set" && o.store.is_some() {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    // Without sorting, a list or sorted set comes in its own order, reversed by DESC.
    if o.dontsort && o.desc && kind != "set" {
        items.reverse();
    }
    let (start, end) = limit_range(items.len() as i64, o.limit);
    let mut sorted = weigh(ctx, &o, items)?;
    if !o.dontsort {
        order(&mut sorted, &o);
    }
    let range: &[Item] = if start <= end && end >= 0 {
        &sorted[start as usize..=end as usize]
    } else {
        &[]
    };
    // What each element contributes: itself, or one value per GET (None: missing).
    let mut rows: Vec<Option<Vec<u8>>> = Vec::new();
    for it in range {
        if o.gets.is_empty() {
            rows.push(Some(it.ele.clone()));
        }
        for g in &o.gets {
            rows.push(by_pattern(ctx, g, &it.ele));
        }
    }
    match o.store {
        None => {
            let out = &mut ctx.cl.out;
            out.array(rows.len());
            for r in &rows {
                match r {
                    Some(v) => out.bulk(v),
                    None => out.null(),
                }
            }
        }
        Some(dest) => {
            let len = rows.len();
            if len > 0 {
                let mut list = List::new();
                for r in &rows {
                    list.push(
                        amber_store::list::End::Right,
                        r.as_deref().unwrap_or_default(),
                    );
                }
                ctx.srv
                    .set_key(db, &dest, Value::List(Arc::new(list)), false);
                ctx.changed(db, &dest, len as u64);
                ctx.notify(notify::LIST, "sortstore", &dest);
            } else if ctx.srv.delete_key(db, &dest) {
                ctx.changed(db, &dest, 1);
                ctx.notify(notify::GENERIC, "del", &dest);
            }
            ctx.cl.out.int(len as i64);
        }
    }
    Ok(())
}
