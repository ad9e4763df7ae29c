//! Geo commands, as Redis 7.0.15's geo.c: GEOADD GEOPOS GEODIST GEOHASH here; GEOSEARCH,
//! GEOSEARCHSTORE and the GEORADIUS family in search.rs; the geohash arithmetic in hash.rs;
//! the orders results are sorted in (glibc's qsort, Redis's pqsort) in order.rs.
//!
//! A geo set is a sorted set whose scores are 52-bit interleaved geohashes: the commands read
//! and write it through amber_store's sorted-set API. GEOADD is Redis's ZADD with the
//! coordinates made scores, and reaches the AOF and replicas as that ZADD, as in Redis.

mod hash;
mod order;
mod search;

use amber_resp::ReplyBuf;
use amber_store::zset::ZSet;
use amber_store::Value;

use super::args::{self, is};
use super::ldouble::LongDouble;
use super::{Command, Ctx, Error, Reply, DENYOOM, MOVABLEKEYS, READONLY, WRITE};
use crate::server::Server;

const GEO: &[&str] = &["@geo"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("geoadd", -5, WRITE | DENYOOM, (1, 1, 1), GEO, geoadd),
    Command::new("geodist", -4, READONLY, (1, 1, 1), GEO, geodist),
    Command::new("geohash", -2, READONLY, (1, 1, 1), GEO, geohash),
    Command::new("geopos", -2, READONLY, (1, 1, 1), GEO, geopos),
    Command::new(
        "georadius",
        -6,
        WRITE | DENYOOM | MOVABLEKEYS,
        (1, 1, 1),
        GEO,
        search::georadius,
    ),
    Command::new(
        "georadius_ro",
        -6,
        READONLY,
        (1, 1, 1),
        GEO,
        search::georadius_ro,
    ),
    Command::new(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM | MOVABLEKEYS,
        (1, 1, 1),
        GEO,
        search::georadiusbymember,
    ),
    Command::new(
        "georadiusbymember_ro",
        -5,
        READONLY,
        (1, 1, 1),
        GEO,
        search::georadiusbymember_ro,
    ),
    Command::new("geosearch", -7, READONLY, (1, 1, 1), GEO, search::geosearch),
    Command::new(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        (1, 2, 1),
        GEO,
        search::geosearchstore,
    ),
];

// ---- shared helpers ------------------------------------------------------------------------

/// The sorted set at `key` for a read (lookupKeyRead + checkType), as a shared handle.
fn read_zset(srv: &mut Server, db: usize, key: &[u8]) -> Result<Option<ZSet>, Error> {
    match srv.lookup_read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z.clone())),
            _ => Err(Error::wrongtype()),
        },
    }
}

/// A longitude and a latitude argument (extractLongLatOrReply).
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], Error> {
    let xy = [args::float(lon)?, args::float(lat)?];
    if !(hash::LONG_MIN..=hash::LONG_MAX).contains(&xy[0])
        || !(hash::LAT_MIN..=hash::LAT_MAX).contains(&xy[1])
    {
        return Err(Error::new(format!(
            "ERR invalid longitude,latitude pair {:.6},{:.6}",
            xy[0], xy[1]
        )));
    }
    Ok(xy)
}

/// A unit's size in meters (extractUnitOrReply).
fn unit(a: &[u8]) -> Result<f64, Error> {
    [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)]
        .into_iter()
        .find(|(name, _)| is(a, name))
        .map(|(_, meters)| meters)
        .ok_or_else(|| Error::new("ERR unsupported unit provided. please use M, KM, FT, MI"))
}

/// A distance as Redis replies it: four decimals, rounded as llrint (addReplyDoubleDistance).
fn reply_distance(out: &mut ReplyBuf, d: f64) {
    out.bulk(format_distance(d).as_bytes());
}

/// fixedpoint_d2string(d, 4).
fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let v = hash::c_llrint(d * 10000.0);
    let sign = if v < 0 { "-" } else { "" };
    let u = v.unsigned_abs();
    format!("{sign}{}.{:04}", u / 10000, u % 10000)
}

/// A coordinate as Redis replies it (addReplyHumanLongDouble): "%.17Lf" with the trailing
/// zeros cut, as a bulk string in RESP2 and a double in RESP3.
fn reply_coord(out: &mut ReplyBuf, x: f64) {
    let text = LongDouble::from_f64(x).format_human();
    if out.resp3() {
        out.raw(b",");
        out.raw(&text);
        out.raw(b"\r\n");
    } else {
        out.bulk(&text);
    }
}

// ---- GEOADD --------------------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] lon lat member ...: as Redis, it becomes ZADD key [options]
/// score member ... and runs that, so the replies, the key's encoding, the events and what is
/// propagated are ZADD's.
fn geoadd(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let mut longidx = 2;
    while longidx < a.len() && ["nx", "xx", "ch"].iter().any(|o| is(&a[longidx], o)) {
        longidx += 1;
    }
    let (nx, xx) = (
        a[2..longidx].iter().any(|o| is(o, "nx")),
        a[2..longidx].iter().any(|o| is(o, "xx")),
    );
    let triples = &a[longidx..];
    if !triples.len().is_multiple_of(3) || (xx && nx) {
        return Err(Error::syntax());
    }
    let mut zadd = Vec::with_capacity(longidx + triples.len() / 3 * 2);
    zadd.push(b"zadd".to_vec());
    zadd.extend(a[1..longidx].iter().cloned());
    for t in triples.chunks_exact(3) {
        let [lon, lat] = lon_lat(&t[0], &t[1])?;
        zadd.push(hash::score_of(lon, lat).to_string().into_bytes());
        zadd.push(t[2].clone());
    }
    let dirty_before = ctx.srv.dirty;
    let mut inner = Ctx {
        srv: &mut *ctx.srv,
        cl: &mut *ctx.cl,
        args: &zadd,
        cmd: ctx.cmd,
        reprocessing: ctx.reprocessing,
        touched: false,
    };
    let res = super::zsets::zadd(&mut inner);
    ctx.touched |= inner.touched;
    if ctx.srv.dirty > dirty_before {
        ctx.propagate(zadd);
    }
    res
}

// ---- GEOPOS GEOHASH GEODIST ----------------------------------------------------------------

fn geopos(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let z = read_zset(ctx.srv, db, &ctx.args[1])?;
    let out = &mut ctx.cl.out;
    out.array(ctx.args.len() - 2);
    for m in &ctx.args[2..] {
        match z.as_ref().and_then(|z| z.score(m)) {
            None => out.null_array(),
            Some(score) => {
                let [lon, lat] = hash::decode_score(score);
                out.array(2);
                reply_coord(out, lon);
                reply_coord(out, lat);
            }
        }
    }
    Ok(())
}

fn geohash(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let z = read_zset(ctx.srv, db, &ctx.args[1])?;
    let out = &mut ctx.cl.out;
    out.array(ctx.args.len() - 2);
    for m in &ctx.args[2..] {
        match z.as_ref().and_then(|z| z.score(m)) {
            None => out.null(),
            Some(score) => out.bulk(&hash::geohash_string(score)),
        }
    }
    Ok(())
}

fn geodist(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let to_meters = match a.len() {
        4 => 1.0,
        5 => unit(&a[4])?,
        _ => return Err(Error::syntax()),
    };
    let db = ctx.cl.db;
    let z = read_zset(ctx.srv, db, &a[1])?;
    let scores = z.and_then(|z| Some((z.score(&a[2])?, z.score(&a[3])?)));
    let out = &mut ctx.cl.out;
    match scores {
        None => out.null(),
        Some((s1, s2)) => {
            let [x1, y1] = hash::decode_score(s1);
            let [x2, y2] = hash::decode_score(s2);
            reply_distance(out, hash::distance(x1, y1, x2, y2) / to_meters);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_as_fixedpoint_d2string() {
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(-0.0), "0.0000");
        assert_eq!(format_distance(0.775), "0.7750");
        assert_eq!(format_distance(0.00005), "0.0000");
        assert_eq!(format_distance(166274.15156960033), "166274.1516");
        assert_eq!(format_distance(-1.5), "-1.5000");
        // llrint of NaN is LLONG_MIN: Redis prints its magnitude.
        assert_eq!(format_distance(f64::NAN), "-922337203685477.5808");
    }

    #[test]
    fn coordinate_errors_print_as_percent_f() {
        let e = lon_lat(b"200", b"-100").unwrap_err();
        assert_eq!(
            e.0,
            "ERR invalid longitude,latitude pair 200.000000,-100.000000"
        );
        assert!(lon_lat(b"180", b"85.05112878").is_ok());
        assert!(lon_lat(b"x", b"0").is_err());
    }
}
