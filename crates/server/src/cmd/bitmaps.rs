//! Bitmap commands on string values: SETBIT GETBIT BITCOUNT BITPOS BITOP, as Redis 7.0's
//! bitops.c (bit 0 is the most significant bit of the first byte; a missing key is an endless
//! string of zero bits; ranges in bytes, or in bits with BIT).

use super::notify;
use std::borrow::Cow;

use amber_store::{Key, Value};

use super::strings::unshare;
use super::{Command, Ctx, Error, Reply, DENYOOM, FAST, READONLY, WRITE};

const BITMAP: &[&str] = &["@bitmap"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("setbit", 4, WRITE | DENYOOM, (1, 1, 1), BITMAP, setbit),
    Command::new("getbit", 3, READONLY | FAST, (1, 1, 1), BITMAP, getbit),
    Command::new("bitcount", -2, READONLY, (1, 1, 1), BITMAP, bitcount),
    Command::new("bitpos", -3, READONLY, (1, 1, 1), BITMAP, bitpos),
    Command::new("bitop", -4, WRITE | DENYOOM, (2, -1, 1), BITMAP, bitop),
];

/// A bit offset argument (getBitOffsetFromArgument): 0 up to the largest string's bits.
fn bit_offset(ctx: &Ctx<'_>, arg: &[u8]) -> Result<u64, Error> {
    bit_offset_arg(ctx, arg, 0)
}

/// A bit offset; with `hash_bits` > 0 (BITFIELD) also `#N`, meaning N times that width. The
/// size limit does not apply to what the master or the AOF sends (mustObeyClient).
pub(super) fn bit_offset_arg(ctx: &Ctx<'_>, arg: &[u8], hash_bits: u32) -> Result<u64, Error> {
    let err = || Error::new("ERR bit offset is not an integer or out of range");
    let (digits, times) = match arg.split_first() {
        Some((b'#', rest)) if hash_bits > 0 => (rest, i64::from(hash_bits)),
        _ => (arg, 1),
    };
    let v = amber_store::value::parse_i64(digits)
        .and_then(|v| v.checked_mul(times))
        .ok_or_else(err)?;
    let obeyed = ctx.cl.is_master || ctx.cl.id == crate::durability::aof::load::AOF_CLIENT_ID;
    if v < 0 || (!obeyed && (v >> 3) >= ctx.srv.config.proto_max_bulk_len) {
        return Err(err());
    }
    Ok(v as u64)
}

fn bit_at(s: &[u8], offset: u64) -> u8 {
    let byte = (offset >> 3) as usize;
    match s.get(byte) {
        Some(b) => (b >> (7 - (offset & 7) as u8)) & 1,
        None => 0,
    }
}

fn setbit(ctx: &mut Ctx<'_>) -> Reply {
    let offset = bit_offset(ctx, &ctx.args[2])?;
    let on = match ctx.args[3].as_slice() {
        b"0" => false,
        b"1" => true,
        _ => return Err(Error::new("ERR bit is not an integer or out of range")),
    };
    let db = ctx.cl.db;
    let key = ctx.args[1].clone();
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7) as u8);
    let exists = match ctx.srv.lookup_write(db, &key) {
        Some(e) if !e.value.is_string() => return Err(Error::wrongtype()),
        Some(_) => true,
        None => false,
    };
    if !exists {
        let mut buf = vec![0u8; byte + 1];
        if on {
            buf[byte] |= mask;
        }
        ctx.srv.add_key(db, Key::from_slice(&key), Value::raw(buf));
        ctx.changed(db, &key, 1);
        ctx.notify(notify::STRING, "setbit", &key);
        ctx.cl.out.int(0);
        return Ok(());
    }
    let Some(e) = ctx.srv.db_mut(db).get_mut(&key) else {
        return Err(Error::new("ERR no such key"));
    };
    let buf = unshare(&mut e.value);
    let grew = buf.len() <= byte;
    if grew {
        buf.resize(byte + 1, 0);
    }
    let old = u8::from(buf[byte] & mask != 0);
    if on {
        buf[byte] |= mask;
    } else {
        buf[byte] &= !mask;
    }
    // As Redis 7.0.15: a SETBIT that changes nothing is no write (no event, not logged).
    if grew || (old == 1) != on {
        ctx.changed(db, &key, 1);
        ctx.notify(notify::STRING, "setbit", &key);
    }
    ctx.cl.out.int(i64::from(old));
    Ok(())
}

fn getbit(ctx: &mut Ctx<'_>) -> Reply {
    let offset = bit_offset(ctx, &ctx.args[2])?;
    let db = ctx.cl.db;
    let bit = match ctx.srv.lookup_read(db, &ctx.args[1]) {
        None => 0,
        Some(e) => {
            let s = e.value.as_bytes().ok_or_else(Error::wrongtype)?;
            bit_at(&s, offset)
        }
    };
    ctx.cl.out.int(i64::from(bit));
    Ok(())
}

/// A start/end range resolved as Redis resolves it: negative indexes count from the end,
/// both clamped into the string. `None`: the range is empty. In bits when `bits`.
fn resolve_range(start: i64, end: i64, total: i64) -> Option<(i64, i64)> {
    let mut start = if start < 0 { total + start } else { start };
    let mut end = if end < 0 { total + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    (start <= end).then_some((start, end))
}

/// BYTE or BIT at `args[i]`: whether the range is in bits.
fn unit(arg: &[u8]) -> Result<bool, Error> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Ok(false)
    } else {
        Err(Error::syntax())
    }
}

fn count_bits(s: &[u8], first_bit: u64, last_bit: u64) -> u64 {
    let (fb, lb) = ((first_bit >> 3) as usize, (last_bit >> 3) as usize);
    let mut n: u64 = s[fb..=lb].iter().map(|b| u64::from(b.count_ones())).sum();
    // Take out the bits of the edge bytes that lie outside the range.
    let head = s[fb] & !(0xffu8 >> (first_bit & 7));
    let tail = s[lb] & (0xffu16 >> ((last_bit & 7) + 1)) as u8;
    n -= u64::from(head.count_ones()) + u64::from(tail.count_ones());
    n
}

fn bitcount(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let argc = ctx.args.len();
    let s: Vec<u8> = match ctx.srv.lookup_read(db, &ctx.args[1]) {
        None => {
            ctx.cl.out.int(0);
            return Ok(());
        }
        Some(e) => e
            .value
            .as_bytes()
            .ok_or_else(Error::wrongtype)?
            .into_owned(),
    };
    let len = s.len() as i64;
    let range = match argc {
        2 => (len > 0).then(|| (0, len * 8 - 1)),
        4 | 5 => {
            let start = super::args::int(&ctx.args[2])?;
            let end = super::args::int(&ctx.args[3])?;
            if start < 0 && end < 0 && start > end {
                ctx.cl.out.int(0);
                return Ok(());
            }
            let bits = if argc == 5 {
                unit(&ctx.args[4])?
            } else {
                false
            };
            if bits {
                resolve_range(start, end, len * 8)
            } else {
                resolve_range(start, end, len).map(|(a, b)| (a * 8, b * 8 + 7))
            }
        }
        _ => return Err(Error::syntax()),
    };
    let n = match range {
        Some((a, b)) => count_bits(&s, a as u64, b as u64),
        None => 0,
    };
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn bitpos(ctx: &mut Ctx<'_>) -> Reply {
    let bit = super::args::int(&ctx.args[2])?;
    if bit != 0 && bit != 1 {
        return Err(Error::new("ERR The bit argument must be 1 or 0."));
    }
    let bit = bit as u8;
    let db = ctx.cl.db;
    let argc = ctx.args.len();
    let s: Cow<'_, [u8]> = match ctx.srv.lookup_read(db, &ctx.args[1]) {
        None => {
            ctx.cl.out.int(if bit == 1 { -1 } else { 0 });
            return Ok(());
        }
        Some(e) => Cow::Owned(
            e.value
                .as_bytes()
                .ok_or_else(Error::wrongtype)?
                .into_owned(),
        ),
    };
    let len = s.len() as i64;
    let mut end_given = false;
    let range = match argc {
        3 => (len > 0).then(|| (0, len * 8 - 1)),
        4..=6 => {
            let start = super::args::int(&ctx.args[3])?;
            let bits = if argc == 6 {
                unit(&ctx.args[5])?
            } else {
                false
            };
            let total = if bits { len * 8 } else { len };
            let end = if argc >= 5 {
                end_given = true;
                super::args::int(&ctx.args[4])?
            } else {
                total - 1
            };
            let r = resolve_range(start, end, total);
            if bits {
                r
            } else {
                r.map(|(a, b)| (a * 8, b * 8 + 7))
            }
        }
        _ => return Err(Error::syntax()),
    };
    let Some((first, last)) = range else {
        ctx.cl.out.int(-1);
        return Ok(());
    };
    let pos = match find_bit(&s, first, last, bit) {
        Some(p) => p,
        // Looking for a clear bit with no end given: the string goes on with zeros.
        None if bit == 0 && !end_given => last + 1,
        None => -1,
    };
    ctx.cl.out.int(pos);
    Ok(())
}

/// The first bit equal to `bit` in `first..=last` (whole bytes that cannot hold it are
/// skipped a byte at a time).
fn find_bit(s: &[u8], first: i64, last: i64, bit: u8) -> Option<i64> {
    let skip = if bit == 1 { 0x00 } else { 0xff };
    let mut i = first;
    while i <= last {
        if i & 7 == 0 && i + 7 <= last && s.get((i >> 3) as usize).copied().unwrap_or(0) == skip {
            i += 8;
            continue;
        }
        if bit_at(s, i as u64) == bit {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn bitop(ctx: &mut Ctx<'_>) -> Reply {
    #[derive(PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match ctx.args[1].to_ascii_lowercase().as_slice() {
        b"and" => Op::And,
        b"or" => Op::Or,
        b"xor" => Op::Xor,
        b"not" => Op::Not,
        _ => return Err(Error::syntax()),
    };
    if op == Op::Not && ctx.args.len() != 4 {
        return Err(Error::new(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let db = ctx.cl.db;
    let mut sources: Vec<Vec<u8>> = Vec::with_capacity(ctx.args.len() - 3);
    for i in 3..ctx.args.len() {
        let v = match ctx.srv.lookup_read(db, &ctx.args[i]) {
            None => Vec::new(),
            Some(e) => e
                .value
                .as_bytes()
                .ok_or_else(Error::wrongtype)?
                .into_owned(),
        };
        sources.push(v);
    }
    let maxlen = sources.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![0u8; maxlen];
    if op == Op::Not {
        for (o, b) in out.iter_mut().zip(&sources[0]) {
            *o = !b;
        }
    } else {
        for (j, o) in out.iter_mut().enumerate() {
            let mut it = sources.iter().map(|s| s.get(j).copied().unwrap_or(0));
            let first = it.next().unwrap_or(0);
            *o = it.fold(first, |acc, b| match op {
                Op::And => acc & b,
                Op::Or => acc | b,
                _ => acc ^ b,
            });
        }
    }
    let dest = ctx.args[2].clone();
    // As Redis: an empty result deletes the destination (a change only if it existed).
    let changed = if maxlen > 0 {
        ctx.srv.set_key(db, &dest, Value::raw(out), false);
        true
    } else {
        ctx.srv.delete_key(db, &dest)
    };
    if changed {
        ctx.changed(db, &dest, 1);
        let (class, event) = if maxlen > 0 {
            (notify::STRING, "set")
        } else {
            (notify::GENERIC, "del")
        };
        ctx.notify(class, event, &dest);
    }
    ctx.cl.out.int(maxlen as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bits_inside_a_bit_range_only() {
        let s = [0xffu8, 0x0f, 0xf0];
        assert_eq!(count_bits(&s, 0, 23), 16);
        assert_eq!(count_bits(&s, 1, 7), 7);
        assert_eq!(count_bits(&s, 4, 11), 4);
        assert_eq!(count_bits(&s, 12, 12), 1);
        assert_eq!(count_bits(&s, 8, 11), 0);
        assert_eq!(count_bits(&s, 17, 19), 3);
    }

    #[test]
    fn ranges_resolve_as_redis() {
        assert_eq!(resolve_range(0, -1, 3), Some((0, 2)));
        assert_eq!(resolve_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(resolve_range(2, 1, 3), None);
        assert_eq!(resolve_range(0, -1, 0), None);
    }
}
