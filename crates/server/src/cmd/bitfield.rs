//! BITFIELD and BITFIELD_RO as Redis 7.0.15's bitops.c: signed (i1..i64) and unsigned
//! (u1..u63) integers at any bit offset of a string (plain or `#N` for N times the width),
//! read with GET, written with SET and INCRBY under OVERFLOW WRAP (default), SAT or FAIL.
//! Bit 0 is the most significant bit of the first byte, as SETBIT; integers are big endian.

use super::notify;
use amber_store::{Key, Value};

use super::bitmaps::bit_offset_arg;
use super::strings::unshare;
use super::{Command, Ctx, Error, Reply, DENYOOM, FAST, READONLY, WRITE};

const BITMAP: &[&str] = &["@bitmap"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("bitfield", -2, WRITE | DENYOOM, (1, 1, 1), BITMAP, bitfield),
    Command::new(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        (1, 1, 1),
        BITMAP,
        bitfield_ro,
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Get,
    Set,
    IncrBy,
}

struct Op {
    kind: OpKind,
    offset: u64,
    /// SET's value or INCRBY's increment.
    arg: i64,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

/// The operations of a BITFIELD call, checked whole before any runs (as Redis).
struct Parsed {
    ops: Vec<Op>,
    /// No SET or INCRBY.
    readonly: bool,
    /// The last bit a write reaches.
    highest: u64,
}

/// `i16`, `u8`, ... (getBitfieldTypeFromArgument): (signed, bits).
fn field_type(arg: &[u8]) -> Result<(bool, u32), Error> {
    let err = || {
        Error::new(
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let bits = amber_store::value::parse_i64(&arg[1..]).ok_or_else(err)?;
    if bits < 1 || bits > if signed { 64 } else { 63 } {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

fn parse(ctx: &Ctx<'_>) -> Result<Parsed, Error> {
    let args = ctx.args;
    let mut p = Parsed {
        ops: Vec::new(),
        readonly: true,
        highest: 0,
    };
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let sub = args[j].to_ascii_lowercase();
        let kind = match sub.as_slice() {
            b"get" if left >= 2 => OpKind::Get,
            b"set" if left >= 3 => OpKind::Set,
            b"incrby" if left >= 3 => OpKind::IncrBy,
            b"overflow" if left >= 1 => {
                overflow = match args[j + 1].to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(Error::new("ERR Invalid OVERFLOW type specified")),
                };
                j += 2;
                continue;
            }
            _ => return Err(Error::syntax()),
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset_arg(ctx, &args[j + 2], bits)?;
        let mut arg = 0;
        if kind != OpKind::Get {
            p.readonly = false;
            p.highest = p.highest.max(offset + u64::from(bits) - 1);
            arg = super::args::int(&args[j + 3])?;
        }
        p.ops.push(Op {
            kind,
            offset,
            arg,
            overflow,
            bits,
            signed,
        });
        j += if kind == OpKind::Get { 3 } else { 4 };
    }
    Ok(p)
}

fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..u64::from(bits) {
        let o = offset + i;
        let byte = s.get((o >> 3) as usize).copied().unwrap_or(0);
        v = (v << 1) | u64::from((byte >> (7 - (o & 7))) & 1);
    }
    v
}

fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(s, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

/// Writes the low `bits` of `v`; the string already reaches the last bit.
fn set_bits(s: &mut [u8], offset: u64, bits: u32, v: u64) {
    for i in 0..u64::from(bits) {
        let bit = (v >> (u64::from(bits) - 1 - i)) & 1;
        let o = offset + i;
        let byte = &mut s[(o >> 3) as usize];
        let shift = 7 - (o & 7);
        *byte = (*byte & !(1u8 << shift)) | ((bit as u8) << shift);
    }
}

/// checkUnsignedBitfieldOverflow: None when `value + incr` fits, else the value to store
/// (wrapped or saturated; None inside for FAIL).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<u64>> {
    let max = (1u64 << bits) - 1;
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || (value.wrapping_add(incr as u64)) & !(u64::MAX << bits);
    let (over, sat) = if value > max || (incr > 0 && incr > maxincr) {
        (true, max)
    } else if incr < 0 && incr < minincr {
        (true, 0)
    } else {
        (false, 0)
    };
    over.then(|| match ow {
        Overflow::Wrap => Some(wrap()),
        Overflow::Sat => Some(sat),
        Overflow::Fail => None,
    })
}

/// checkSignedBitfieldOverflow, in the same shape as `unsigned_overflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<i64>> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wide = bits != 64;
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    let sat = if value > max
        || (wide && incr > maxincr)
        || (value >= 0 && incr > 0 && incr > maxincr)
    {
        max
    } else if value < min || (wide && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        min
    } else {
        return None;
    };
    Some(match ow {
        Overflow::Wrap => Some(wrap()),
        Overflow::Sat => Some(sat),
        Overflow::Fail => None,
    })
}

/// Runs a SET or INCRBY on the string: the reply (None for a FAIL overflow) and whether the
/// field's bits changed.
fn write_op(s: &mut [u8], op: &Op) -> (Option<i64>, bool) {
    if op.signed {
        let old = get_signed(s, op.offset, op.bits);
        let (candidate, incr) = match op.kind {
            OpKind::IncrBy => (old, op.arg),
            _ => (op.arg, 0),
        };
        let new = match signed_overflow(candidate, incr, op.bits, op.overflow) {
            None => candidate.wrapping_add(incr),
            Some(Some(limited)) => limited,
            Some(None) => return (None, false),
        };
        set_bits(s, op.offset, op.bits, new as u64);
        let reply = if op.kind == OpKind::IncrBy { new } else { old };
        (Some(reply), old != new)
    } else {
        let old = get_unsigned(s, op.offset, op.bits);
        let (candidate, incr) = match op.kind {
            OpKind::IncrBy => (old, op.arg),
            _ => (op.arg as u64, 0),
        };
        let new = match unsigned_overflow(candidate, incr, op.bits, op.overflow) {
            None => candidate.wrapping_add(incr as u64),
            Some(Some(limited)) => limited,
            Some(None) => return (None, false),
        };
        set_bits(s, op.offset, op.bits, new);
        let reply = if op.kind == OpKind::IncrBy { new } else { old };
        (Some(reply as i64), old != new)
    }
}

fn get_op(s: &[u8], op: &Op) -> i64 {
    if op.signed {
        get_signed(s, op.offset, op.bits)
    } else {
        get_unsigned(s, op.offset, op.bits) as i64
    }
}

fn bitfield(ctx: &mut Ctx<'_>) -> Reply {
    run(ctx, false)
}

fn bitfield_ro(ctx: &mut Ctx<'_>) -> Reply {
    run(ctx, true)
}

fn run(ctx: &mut Ctx<'_>, ro_command: bool) -> Reply {
    let p = parse(ctx)?;
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    if p.readonly {
        let s = match ctx.srv.lookup_read(db, key) {
            None => Vec::new(),
            Some(e) => e
                .value
                .as_bytes()
                .ok_or_else(Error::wrongtype)?
                .into_owned(),
        };
        let out = &mut ctx.cl.out;
        out.array(p.ops.len());
        for op in &p.ops {
            out.int(get_op(&s, op));
        }
        return Ok(());
    }
    if ro_command {
        return Err(Error::new(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    // lookupStringForBitCommand: create or zero-pad the string up to the last bit written.
    let need = (p.highest >> 3) as usize + 1;
    let mut grew = false;
    match ctx.srv.lookup_write(db, key) {
        Some(e) if !e.value.is_string() => return Err(Error::wrongtype()),
        Some(_) => {}
        None => {
            ctx.srv
                .add_key(db, Key::from_slice(key), Value::raw(vec![0u8; need]));
            grew = true;
        }
    }
    let Some(e) = ctx.srv.db_mut(db).get_mut(key) else {
        return Err(Error::no_such_key());
    };
    let s = unshare(&mut e.value);
    if s.len() < need {
        s.resize(need, 0);
        grew = true;
    }
    let mut replies = Vec::with_capacity(p.ops.len());
    let mut changes = 0u64;
    for op in &p.ops {
        if op.kind == OpKind::Get {
            replies.push(Some(get_op(s, op)));
            continue;
        }
        let (reply, changed) = write_op(s, op);
        if reply.is_some() && (grew || changed) {
            changes += 1;
        }
        replies.push(reply);
    }
    if changes > 0 {
        ctx.changed(db, key, changes);
        ctx.notify(notify::STRING, "setbit", key);
    }
    let out = &mut ctx.cl.out;
    out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => out.int(v),
            None => out.null(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_at_odd_offsets() {
        let mut s = vec![0u8; 16];
        for (off, bits, v) in [(3u64, 5u32, 0b10110u64), (13, 64, u64::MAX - 5), (1, 1, 1)] {
            set_bits(&mut s, off, bits, v);
            assert_eq!(get_unsigned(&s, off, bits), v);
        }
        assert_eq!(get_signed(&[0xff], 0, 8), -1);
        assert_eq!(get_signed(&[0x7f], 0, 8), 127);
        assert_eq!(get_unsigned(&[0x80], 0, 64), 1 << 63); // past the end reads zeros
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), Some(Some(4)));
        assert_eq!(
            unsigned_overflow(250, 10, 8, Overflow::Sat),
            Some(Some(255))
        );
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), Some(Some(0)));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Fail), Some(None));
        assert_eq!(unsigned_overflow(5, 10, 8, Overflow::Fail), None);
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), Some(Some(-128)));
        assert_eq!(
            signed_overflow(-128, -1, 8, Overflow::Sat),
            Some(Some(-128))
        );
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(Some(i64::MIN))
        );
        assert_eq!(signed_overflow(0, i64::MIN, 64, Overflow::Fail), None);
    }
}
