//! GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their _RO forms: Redis
//! 7.0.15's georadiusGeneric. The argument checks come in Redis's order (and give its texts),
//! the cells are scanned in its order, and the results are sorted by its algorithms, so the
//! replies and the stored sets are the same.

use amber_store::zset::{ScoreRange, ZSet};
use amber_store::{Blob, Value};

use super::hash::{self, Bits, Kind, Shape};
use super::{lon_lat, order, read_zset, reply_coord, reply_distance, unit};
use crate::cmd::args::{self, is};
use crate::cmd::{Ctx, Error, Reply};

/// Which command runs (Redis's RADIUS_* and GEOSEARCH* flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS[_RO] key lon lat radius unit ...
    Coords,
    /// GEORADIUSBYMEMBER[_RO] key member radius unit ...
    Member,
    /// GEOSEARCH key ...
    Search,
    /// GEOSEARCHSTORE dst key ...
    SearchStore,
}

impl Form {
    fn is_search(self) -> bool {
        matches!(self, Form::Search | Form::SearchStore)
    }
}

pub(super) fn georadius(ctx: &mut Ctx<'_>) -> Reply {
    generic(ctx, 1, Form::Coords, false)
}
pub(super) fn georadius_ro(ctx: &mut Ctx<'_>) -> Reply {
    generic(ctx, 1, Form::Coords, true)
}
pub(super) fn georadiusbymember(ctx: &mut Ctx<'_>) -> Reply {
    generic(ctx, 1, Form::Member, false)
}
pub(super) fn georadiusbymember_ro(ctx: &mut Ctx<'_>) -> Reply {
    generic(ctx, 1, Form::Member, true)
}
pub(super) fn geosearch(ctx: &mut Ctx<'_>) -> Reply {
    generic(ctx, 1, Form::Search, false)
}
pub(super) fn geosearchstore(ctx: &mut Ctx<'_>) -> Reply {
    generic(ctx, 2, Form::SearchStore, false)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// The options after the fixed arguments.
struct Opts<'a> {
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    /// 0: no limit.
    count: i64,
    store: Option<&'a [u8]>,
    storedist: bool,
}

/// One point found (Redis's geoPoint).
struct Point {
    member: Blob,
    lon: f64,
    lat: f64,
    dist: f64,
    score: f64,
}

/// A radius and its unit (extractDistanceOrReply): the unit's meters and the radius.
fn radius_arg(r: &[u8], u: &[u8]) -> Result<(f64, f64), Error> {
    let radius = args::parse_f64(r).ok_or_else(|| Error::new("ERR need numeric radius"))?;
    if radius < 0.0 {
        return Err(Error::new("ERR radius cannot be negative"));
    }
    Ok((unit(u)?, radius))
}

/// A box and its unit (extractBoxOrReply): the unit's meters, width and height.
fn box_arg(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), Error> {
    let width = args::parse_f64(w).ok_or_else(|| Error::new("ERR need numeric width"))?;
    let height = args::parse_f64(h).ok_or_else(|| Error::new("ERR need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(Error::new("ERR height or width cannot be negative"));
    }
    Ok((unit(u)?, width, height))
}

/// The position of a member (longLatFromMember).
fn member_xy(z: &ZSet, member: &[u8]) -> Result<[f64; 2], Error> {
    z.score(member)
        .map(hash::decode_score)
        .ok_or_else(|| Error::new("ERR could not decode requested zset member"))
}

/// Redis's georadiusGeneric: `src` is the index of the source key.
fn generic(ctx: &mut Ctx<'_>, src: usize, form: Form, nostore: bool) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let z = read_zset(ctx.srv, db, &a[src])?;
    let mut shape = Shape {
        xy: [0.0; 2],
        conversion: 0.0,
        kind: Kind::Radius(0.0),
    };
    let base_args = match form {
        Form::Coords => {
            shape.xy = lon_lat(&a[2], &a[3])?;
            let (conversion, radius) = radius_arg(&a[4], &a[5])?;
            shape.conversion = conversion;
            shape.kind = Kind::Radius(radius);
            6
        }
        // No source: the arguments are still parsed, to know which empty reply to give.
        Form::Member if z.is_none() => 5,
        Form::Member => {
            if let Some(z) = &z {
                shape.xy = member_xy(z, &a[2])?;
            }
            let (conversion, radius) = radius_arg(&a[3], &a[4])?;
            shape.conversion = conversion;
            shape.kind = Kind::Radius(radius);
            5
        }
        Form::Search => 2,
        Form::SearchStore => 3,
    };
    let opts = parse_options(a, base_args, form, nostore, z.as_ref(), &mut shape)?;
    let Some(z) = z else {
        match opts.store {
            Some(dst) => {
                if ctx.srv.delete_key(db, dst) {
                    ctx.changed(db, dst, 1);
                    ctx.notify(crate::cmd::notify::GENERIC, "del", dst);
                }
                ctx.cl.out.int(0);
            }
            None => ctx.cl.out.array(0),
        }
        return Ok(());
    };
    let mut opts = opts;
    // COUNT without an order returns the nearest ones (but ANY takes the first found).
    if opts.count != 0 && opts.sort == Sort::None && !opts.any {
        opts.sort = Sort::Asc;
    }
    let limit = if opts.any { opts.count as usize } else { 0 };
    let points = members_of_cells(&z, &shape.cells(), &shape, limit);
    drop(z);
    if points.is_empty() && opts.store.is_none() {
        ctx.cl.out.array(0);
        return Ok(());
    }
    let returned = match usize::try_from(opts.count) {
        Ok(c) if c != 0 && c < points.len() => c,
        _ => points.len(),
    };
    let ordered = sorted(&points, opts.sort, returned);
    let chosen = ordered[..returned].iter().map(|&i| &points[i]);
    match opts.store {
        None => reply_points(ctx, chosen, returned, &opts, shape.conversion),
        Some(dst) => {
            let entries: Vec<(Blob, f64)> = chosen
                .map(|p| {
                    let score = if opts.storedist {
                        p.dist / shape.conversion
                    } else {
                        p.score
                    };
                    (p.member.clone(), score)
                })
                .collect();
            let event = if matches!(form, Form::Search | Form::SearchStore) {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            store(ctx, db, dst, entries, event);
        }
    }
    Ok(())
}

/// Parses the options from `base` on, in Redis's order of checks. FROMMEMBER and FROMLONLAT
/// set the centre of `shape`, BYRADIUS and BYBOX its kind.
fn parse_options<'a>(
    a: &'a [Vec<u8>],
    base: usize,
    form: Form,
    nostore: bool,
    z: Option<&ZSet>,
    shape: &mut Shape,
) -> Result<Opts<'a>, Error> {
    let mut o = Opts {
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
        store: (form == Form::SearchStore).then(|| a[1].as_slice()),
        storedist: false,
    };
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let search = form.is_search();
    let can_store = !nostore && !search;
    let remaining = a.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let arg = &a[base + i];
        let next = |k: usize| &a[base + i + k];
        if is(arg, "withdist") {
            o.withdist = true;
        } else if is(arg, "withhash") {
            o.withhash = true;
        } else if is(arg, "withcoord") {
            o.withcoord = true;
        } else if is(arg, "any") {
            o.any = true;
        } else if is(arg, "asc") {
            o.sort = Sort::Asc;
        } else if is(arg, "desc") {
            o.sort = Sort::Desc;
        } else if is(arg, "count") && i + 1 < remaining {
            o.count = args::int(next(1))?;
            if o.count <= 0 {
                return Err(Error::new("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist")) && i + 1 < remaining && can_store {
            o.store = Some(next(1));
            o.storedist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && form == Form::SearchStore {
            o.storedist = true;
        } else if is(arg, "frommember") && i + 1 < remaining && search && !fromloc {
            // Without a source the member is not looked for: the reply is empty anyway.
            if let Some(z) = z {
                shape.xy = member_xy(z, next(1))?;
            }
            frommember = true;
            i += 1;
        } else if is(arg, "fromlonlat") && i + 2 < remaining && search && !frommember {
            shape.xy = lon_lat(next(1), next(2))?;
            fromloc = true;
            i += 2;
        } else if is(arg, "byradius") && i + 2 < remaining && search && !bybox {
            let (conversion, radius) = radius_arg(next(1), next(2))?;
            shape.conversion = conversion;
            shape.kind = Kind::Radius(radius);
            byradius = true;
            i += 2;
        } else if is(arg, "bybox") && i + 3 < remaining && search && !byradius {
            let (conversion, width, height) = box_arg(next(1), next(2), next(3))?;
            shape.conversion = conversion;
            shape.kind = Kind::Box { width, height };
            bybox = true;
            i += 3;
        } else {
            return Err(Error::syntax());
        }
        i += 1;
    }
    if o.store.is_some() && (o.withdist || o.withhash || o.withcoord) {
        let what = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Error::new(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    // Redis names the command as the client spelled it.
    let name = || String::from_utf8_lossy(&a[0]).into_owned();
    if search && !(frommember || fromloc) {
        return Err(Error::new(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        )));
    }
    if search && !(byradius || bybox) {
        return Err(Error::new(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        )));
    }
    if o.any && o.count == 0 {
        return Err(Error::new("ERR the ANY argument requires COUNT argument"));
    }
    Ok(o)
}

/// The points of the cells inside the shape, in Redis's scan order (membersOfAllNeighbors).
/// `limit` (ANY's count, 0 for none) stops the scan once that many are found.
fn members_of_cells(z: &ZSet, cells: &[Bits; 9], shape: &Shape, limit: usize) -> Vec<Point> {
    let mut found = Vec::new();
    let full = |found: &Vec<Point>| limit != 0 && found.len() >= limit;
    // Redis skips a cell equal to the last one scanned; its "none yet" is cell 0, so the
    // centre is never compared.
    let mut last = 0;
    for (i, &cell) in cells.iter().enumerate() {
        if cell.is_zero() || (last != 0 && cell == cells[last]) {
            continue;
        }
        if full(&found) {
            break;
        }
        let (min, max) = hash::score_span(cell);
        let range = z.score_range(&ScoreRange {
            min,
            max,
            minex: false,
            maxex: true,
        });
        for rank in range {
            let Some((member, score)) = z.entry(rank) else {
                break;
            };
            let [lon, lat] = hash::decode_score(score);
            if let Some(dist) = shape.contains(lon, lat) {
                found.push(Point {
                    member: Blob::from_slice(member),
                    lon,
                    lat,
                    dist,
                    score,
                });
            }
            if full(&found) {
                break;
            }
        }
        last = i;
    }
    found
}

/// The order of the points: as found, or by distance with qsort (all returned) or pqsort
/// (the first `returned`), with Redis's comparators.
fn sorted(points: &[Point], sort: Sort, returned: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..points.len()).collect();
    let asc = |a: usize, b: usize| {
        let (x, y) = (points[a].dist, points[b].dist);
        if x > y {
            1
        } else if x == y {
            0
        } else {
            -1
        }
    };
    let desc = |a: usize, b: usize| -asc(a, b);
    let cmp: order::Cmp<'_> = match sort {
        Sort::None => return v,
        Sort::Asc => &asc,
        Sort::Desc => &desc,
    };
    if returned == points.len() {
        order::merge_sort(&mut v, cmp);
    } else {
        order::partial_sort(&mut v, cmp, 0, returned - 1);
    }
    v
}

fn reply_points<'p>(
    ctx: &mut Ctx<'_>,
    points: impl Iterator<Item = &'p Point>,
    n: usize,
    o: &Opts<'_>,
    conversion: f64,
) {
    let out = &mut ctx.cl.out;
    let extra = usize::from(o.withdist) + usize::from(o.withcoord) + usize::from(o.withhash);
    out.array(n);
    for p in points {
        if extra > 0 {
            out.array(extra + 1);
        }
        out.bulk(&p.member);
        if o.withdist {
            reply_distance(out, p.dist / conversion);
        }
        if o.withhash {
            out.int(hash::c_i64(p.score));
        }
        if o.withcoord {
            out.array(2);
            reply_coord(out, p.lon);
            reply_coord(out, p.lat);
        }
    }
}

/// Replaces `dst` with the results (or deletes it when there are none) and replies their
/// number. Redis builds a skiplist and converts it to a listpack when it fits.
fn store(ctx: &mut Ctx<'_>, db: usize, dst: &[u8], entries: Vec<(Blob, f64)>, event: &str) {
    let n = entries.len();
    if n == 0 {
        if ctx.srv.delete_key(db, dst) {
            ctx.changed(db, dst, 1);
            ctx.notify(crate::cmd::notify::GENERIC, "del", dst);
        }
    } else {
        let limits = ctx.srv.config.limits;
        let z = ZSet::from_entries(entries, &limits);
        ctx.srv.set_key(db, dst, Value::ZSet(z), false);
        ctx.changed(db, dst, n as u64);
        ctx.notify(crate::cmd::notify::ZSET, event, dst);
        ctx.srv.signal_ready(db, dst);
    }
    ctx.cl.out.int(n as i64);
}
