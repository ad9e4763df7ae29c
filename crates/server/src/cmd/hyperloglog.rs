//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST) as Redis 7.0.15's
//! hyperloglog.c: the sketch is a string value, in the byte layout of amber_store::hll.

use super::notify;
use amber_store::hll::{self, Corrupt, Encoding, Registers};
use amber_store::{Key, Value};

use super::strings::unshare;
use super::*;

const HLL: &[&str] = &["@hyperloglog"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("pfadd", -2, WRITE | DENYOOM | FAST, (1, 1, 1), HLL, pfadd),
    Command::new(
        "pfcount",
        -2,
        READONLY | MAY_REPLICATE,
        (1, -1, 1),
        HLL,
        pfcount,
    ),
    Command::new("pfmerge", -2, WRITE | DENYOOM, (1, -1, 1), HLL, pfmerge),
    Command::new(
        "pfdebug",
        3,
        WRITE | DENYOOM | ADMIN,
        (2, 2, 1),
        HLL,
        pfdebug,
    ),
    Command::new("pfselftest", 1, ADMIN, (0, 0, 0), HLL, pfselftest),
];

fn invalid_obj() -> Error {
    Error::new("INVALIDOBJ Corrupted HLL object detected")
}

impl From<Corrupt> for Error {
    fn from(_: Corrupt) -> Self {
        invalid_obj()
    }
}

/// isHLLObjectOrReply: a string holding a sketch, or the errors Redis gives.
fn check(v: &Value) -> Result<(), Error> {
    if !v.is_string() {
        return Err(Error::wrongtype());
    }
    match v.as_bytes() {
        Some(b) if hll::is_valid(&b) => Ok(()),
        _ => Err(Error::new(
            "WRONGTYPE Key is not a valid HyperLogLog string value.",
        )),
    }
}

/// PFADD key [element ...]: 1 if a register changed (or the key was created), else 0.
fn pfadd(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let max = ctx.srv.config.hll_sparse_max_bytes;
    let key = &ctx.args[1];
    let elements = &ctx.args[2..];
    let mut updated = 0u64;
    match ctx.srv.lookup_write(db, key) {
        None => {
            let mut v = hll::new_sparse();
            updated += 1;
            for e in elements {
                updated += u64::from(hll::add(&mut v, e, max)?);
            }
            hll::invalidate_cache(&mut v);
            ctx.srv.add_key(db, Key::from_slice(key), Value::raw(v));
        }
        Some(e) => {
            check(&e.value)?;
            let s = unshare(&mut e.value);
            for el in elements {
                updated += u64::from(hll::add(s, el, max)?);
            }
            if updated > 0 {
                hll::invalidate_cache(s);
            }
        }
    }
    if updated > 0 {
        ctx.changed(db, key, updated);
        ctx.notify(notify::STRING, "pfadd", key);
    }
    ctx.out().int(i64::from(updated > 0));
    Ok(())
}

/// PFCOUNT key [key ...]: one key answers (and caches) its estimate; several, the union's.
fn pfcount(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    if ctx.args.len() > 2 {
        let mut regs = Registers::default();
        for key in &ctx.args[1..] {
            if let Some(e) = ctx.srv.lookup_read(db, key) {
                check(&e.value)?;
                let b = e.value.as_bytes().unwrap_or_default();
                regs.merge(&b)?;
            }
        }
        let n = regs.count();
        ctx.out().int(n as i64);
        return Ok(());
    }
    let key = &ctx.args[1];
    let (card, cached) = match ctx.srv.lookup_read(db, key) {
        None => (0, true),
        Some(e) => {
            check(&e.value)?;
            let b = e.value.as_bytes().unwrap_or_default();
            match hll::cached_count(&b) {
                Some(c) => (c, true),
                None => (hll::count(&b)?, false),
            }
        }
    };
    if !cached {
        // The cache lives in the value: a read that changes it, replicated as Redis does
        // (PFCOUNT goes to the AOF and the replicas as it was received).
        if let Some(e) = ctx.srv.db_mut(db).get_mut(key) {
            hll::set_cached_count(unshare(&mut e.value), card);
        }
        ctx.changed(db, key, 1);
        ctx.propagate(ctx.args.to_vec());
    }
    ctx.out().int(card as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]: the destination (itself merged) gets every register's max.
fn pfmerge(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let max = ctx.srv.config.hll_sparse_max_bytes;
    let mut regs = Registers::default();
    let mut use_dense = false;
    for key in &ctx.args[1..] {
        if let Some(e) = ctx.srv.lookup_read(db, key) {
            check(&e.value)?;
            let b = e.value.as_bytes().unwrap_or_default();
            use_dense |= hll::encoding(&b) == Encoding::Dense;
            regs.merge(&b)?;
        }
    }
    let key = &ctx.args[1];
    if ctx.srv.lookup_write(db, key).is_none() {
        ctx.srv
            .add_key(db, Key::from_slice(key), Value::raw(hll::new_sparse()));
    }
    let Some(e) = ctx.srv.db_mut(db).get_mut(key) else {
        return Err(Error::new("ERR no such key"));
    };
    let s = unshare(&mut e.value);
    if use_dense {
        hll::to_dense(s)?;
    }
    for (i, &r) in regs.0.iter().enumerate() {
        if r > 0 {
            // As Redis, a register that cannot be set in a damaged sketch is passed over.
            let _ = hll::set_register(s, i, r, max);
        }
    }
    hll::invalidate_cache(s);
    ctx.changed(db, key, 1);
    ctx.notify(notify::STRING, "pfadd", key);
    ctx.out().ok();
    Ok(())
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
fn pfdebug(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let sub = String::from_utf8_lossy(&ctx.args[1]).into_owned();
    let key = &ctx.args[2];
    let Some(e) = ctx.srv.lookup_write(db, key) else {
        return Err(Error::new("ERR The specified key does not exist"));
    };
    check(&e.value)?;
    let s = unshare(&mut e.value);
    let sparse = hll::encoding(s) == Encoding::Sparse;
    match sub.to_ascii_lowercase().as_str() {
        "getreg" => {
            if sparse {
                hll::to_dense(s)?;
            }
            let regs = hll::registers(s)?;
            if sparse {
                // The conversion is a change: it reaches the AOF and the replicas.
                ctx.changed(db, key, 1);
            }
            let out = ctx.out();
            out.array(hll::REGISTERS);
            for &r in regs.0.iter() {
                out.int(i64::from(r));
            }
        }
        "decode" => {
            if !sparse {
                return Err(Error::new("ERR HLL encoding is not sparse"));
            }
            let text = hll::decode_sparse(s);
            ctx.out().bulk(text.as_bytes());
        }
        "encoding" => {
            ctx.out().simple(if sparse { "sparse" } else { "dense" });
        }
        "todense" => {
            if sparse {
                hll::to_dense(s)?;
                ctx.changed(db, key, 1);
            }
            ctx.out().int(i64::from(sparse));
        }
        _ => {
            return Err(Error::new(format!(
                "ERR Unknown PFDEBUG subcommand '{sub}'"
            )))
        }
    }
    Ok(())
}

/// PFSELFTEST: the register packing, then dense and sparse sketches fed the same 10 million
/// elements, agreeing, within the error bounds Redis checks.
fn pfselftest(ctx: &mut Ctx<'_>) -> Reply {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut values = Box::new([0u8; hll::REGISTERS]);
    for _ in 0..1000 {
        rng.fill(&mut values[..]);
        if let Err((i, want, got)) = hll::dense_roundtrip(&values) {
            return Err(Error::new(format!(
                "TESTFAILED Register {i} should be {want} but is {got}"
            )));
        }
    }
    let max = ctx.srv.config.hll_sparse_max_bytes;
    let mut dense = hll::new_dense();
    let mut sparse = hll::new_sparse();
    let relerr = 1.04 / (hll::REGISTERS as f64).sqrt();
    let seed: u64 = rng.gen();
    let mut checkpoint: u64 = 1;
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        hll::add(&mut dense, &ele, max)?;
        hll::add(&mut sparse, &ele, max)?;
        if j != checkpoint {
            continue;
        }
        if j < (max / 2) as u64 && hll::encoding(&sparse) != Encoding::Sparse {
            return Err(Error::new("TESTFAILED sparse encoding not used"));
        }
        let d = hll::count(&dense)?;
        if d != hll::count(&sparse)? {
            return Err(Error::new("TESTFAILED dense/sparse disagree"));
        }
        let mut maxerr = (relerr * 6.0 * checkpoint as f64).ceil() as u64;
        if j == 10 {
            maxerr = 1;
        }
        let abserr = checkpoint.abs_diff(d);
        if abserr > maxerr {
            return Err(Error::new(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            )));
        }
        checkpoint *= 10;
    }
    ctx.out().ok();
    Ok(())
}
