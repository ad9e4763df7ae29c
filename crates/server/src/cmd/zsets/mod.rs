//! Sorted set commands: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT, the ZRANGE
//! family (ZRANGE ZRANGESTORE ZREVRANGE Z[REV]RANGEBYSCORE Z[REV]RANGEBYLEX), ZRANK ZREVRANK,
//! ZREMRANGEBY{RANK,SCORE,LEX}, the pops (ZPOPMIN ZPOPMAX ZMPOP and their blocking forms),
//! ZRANDMEMBER, the set operations (ZUNION ZINTER ZDIFF, their STORE forms, ZINTERCARD) and
//! ZSCAN, with Redis 7.0's replies and errors (t_zset.c).
//!
//! This file holds the command table and what every family shares (typed lookups, the
//! (member, score) reply). The families: `add` (ZADD ZINCRBY), `read` (point reads, ZREM,
//! ZSCAN), `range` (the ZRANGE family and ZREMRANGEBY*), `pop` (ZPOP*, ZMPOP and the blocking
//! forms), `random` (ZRANDMEMBER), `setops` (ZUNION ZINTER ZDIFF ZINTERCARD); `parse` reads
//! score and lex bounds.

mod add;
mod parse;
mod pop;
mod random;
mod range;
mod read;
mod setops;

use super::notify;

use amber_resp::ReplyBuf;
use amber_store::zset::ZSet;
use amber_store::{Blob, Value};

use super::{Command, Ctx, Error, BLOCKING, DENYOOM, FAST, NOSCRIPT, READONLY, WRITE};
use crate::server::Server;
pub(crate) use add::zadd;
use add::zincrby;
use pop::{bzmpop, bzpopmax, bzpopmin, zmpop, zpopmax, zpopmin};
use random::zrandmember;
use range::{
    zrange, zrangebylex, zrangebyscore, zrangestore, zremrangebylex, zremrangebyrank,
    zremrangebyscore, zrevrange, zrevrangebylex, zrevrangebyscore,
};
use read::{zcard, zcount, zlexcount, zmscore, zrank, zrem, zrevrank, zscan, zscore};
use setops::{zdiff, zdiffstore, zinter, zintercard, zinterstore, zunion, zunionstore};

const ZS: &[&str] = &["@sortedset"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), ZS, zadd),
    Command::new("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), ZS, zincrby),
    Command::new("zrem", -3, WRITE | FAST, (1, 1, 1), ZS, zrem),
    Command::new("zscore", 3, READONLY | FAST, (1, 1, 1), ZS, zscore),
    Command::new("zmscore", -3, READONLY | FAST, (1, 1, 1), ZS, zmscore),
    Command::new("zcard", 2, READONLY | FAST, (1, 1, 1), ZS, zcard),
    Command::new("zcount", 4, READONLY | FAST, (1, 1, 1), ZS, zcount),
    Command::new("zlexcount", 4, READONLY | FAST, (1, 1, 1), ZS, zlexcount),
    Command::new("zrange", -4, READONLY, (1, 1, 1), ZS, zrange),
    Command::new(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        (1, 2, 1),
        ZS,
        zrangestore,
    ),
    Command::new("zrevrange", -4, READONLY, (1, 1, 1), ZS, zrevrange),
    Command::new("zrangebyscore", -4, READONLY, (1, 1, 1), ZS, zrangebyscore),
    Command::new(
        "zrevrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        ZS,
        zrevrangebyscore,
    ),
    Command::new("zrangebylex", -4, READONLY, (1, 1, 1), ZS, zrangebylex),
    Command::new(
        "zrevrangebylex",
        -4,
        READONLY,
        (1, 1, 1),
        ZS,
        zrevrangebylex,
    ),
    Command::new("zrank", 3, READONLY | FAST, (1, 1, 1), ZS, zrank),
    Command::new("zrevrank", 3, READONLY | FAST, (1, 1, 1), ZS, zrevrank),
    Command::new("zremrangebyrank", 4, WRITE, (1, 1, 1), ZS, zremrangebyrank),
    Command::new(
        "zremrangebyscore",
        4,
        WRITE,
        (1, 1, 1),
        ZS,
        zremrangebyscore,
    ),
    Command::new("zremrangebylex", 4, WRITE, (1, 1, 1), ZS, zremrangebylex),
    Command::new("zpopmin", -2, WRITE | FAST, (1, 1, 1), ZS, zpopmin),
    Command::new("zpopmax", -2, WRITE | FAST, (1, 1, 1), ZS, zpopmax),
    Command::new(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        (1, -2, 1),
        ZS,
        bzpopmin,
    ),
    Command::new(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        (1, -2, 1),
        ZS,
        bzpopmax,
    ),
    Command::new(
        "zmpop",
        -4,
        WRITE | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        zmpop,
    ),
    Command::new(
        "bzmpop",
        -5,
        WRITE | BLOCKING | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        bzmpop,
    ),
    Command::new("zrandmember", -2, READONLY, (1, 1, 1), ZS, zrandmember),
    Command::new(
        "zunion",
        -3,
        READONLY | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        zunion,
    ),
    Command::new(
        "zinter",
        -3,
        READONLY | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        zinter,
    ),
    Command::new(
        "zdiff",
        -3,
        READONLY | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        zdiff,
    ),
    Command::new(
        "zunionstore",
        -4,
        WRITE | DENYOOM | super::MOVABLEKEYS,
        (1, 1, 1),
        ZS,
        zunionstore,
    ),
    Command::new(
        "zinterstore",
        -4,
        WRITE | DENYOOM | super::MOVABLEKEYS,
        (1, 1, 1),
        ZS,
        zinterstore,
    ),
    Command::new(
        "zdiffstore",
        -4,
        WRITE | DENYOOM | super::MOVABLEKEYS,
        (1, 1, 1),
        ZS,
        zdiffstore,
    ),
    Command::new(
        "zintercard",
        -3,
        READONLY | super::MOVABLEKEYS,
        (0, 0, 0),
        ZS,
        zintercard,
    ),
    Command::new("zscan", -3, READONLY, (1, 1, 1), ZS, zscan),
];

// ---- lookups -------------------------------------------------------------------------------

fn read_zset<'a>(srv: &'a mut Server, db: usize, key: &[u8]) -> Result<Option<&'a ZSet>, Error> {
    match srv.lookup_read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(Error::wrongtype()),
        },
    }
}

/// The set behind `key` as a shared handle (cheap), for commands that also need `srv`.
fn read_zset_arc(srv: &mut Server, db: usize, key: &[u8]) -> Result<Option<ZSet>, Error> {
    match srv.lookup_read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z.clone())),
            _ => Err(Error::wrongtype()),
        },
    }
}

fn write_zset<'a>(
    srv: &'a mut Server,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a mut ZSet>, Error> {
    match srv.lookup_write(db, key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(Error::wrongtype()),
        },
    }
}

/// After removing elements: the `event`, then the key's deletion (and its "del" event) when
/// the set became empty, and the change recorded.
fn after_removal(ctx: &mut Ctx<'_>, db: usize, key: &[u8], removed: usize, event: &str) {
    if removed == 0 {
        return;
    }
    ctx.notify(notify::ZSET, event, key);
    let empty = matches!(ctx.srv.db(db).get(key).map(|e| &e.value),
        Some(Value::ZSet(z)) if z.is_empty());
    if empty {
        ctx.srv.db_mut(db).remove(key);
        ctx.notify(notify::GENERIC, "del", key);
    }
    ctx.changed(db, key, removed as u64);
}

// ---- replies -------------------------------------------------------------------------------

/// Writes (member, score) pairs: flat in RESP2, [member, score] pairs in RESP3 with scores.
fn reply_entries(out: &mut ReplyBuf, items: &[(Blob, f64)], withscores: bool) {
    if withscores && !out.resp3() {
        out.array(items.len() * 2);
    } else {
        out.array(items.len());
    }
    for (m, s) in items {
        if withscores && out.resp3() {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(*s);
        }
    }
}
