//! DUMP and RESTORE: one value as a Redis DUMP payload (RDB value + version + CRC64), with
//! Redis 7.0's options and errors. Payloads are validated whole before anything changes.

use super::notify;
use amber_persist::rdb::{self, EncodeOptions};
use amber_store::Key;

use super::args::{self, is};
use super::{Command, Ctx, Error, Reply, DENYOOM, READONLY, WRITE};

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("dump", 2, READONLY, (1, 1, 1), &["@keyspace"], dump),
    Command::new(
        "restore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        &["@keyspace", "@dangerous"],
        restore,
    ),
];

fn dump(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let opts = EncodeOptions {
        compression: ctx.srv.config.rdbcompression,
        checksum: true,
    };
    let payload = match ctx.srv.lookup_read(db, &ctx.args[1]) {
        Some(e) => rdb::create_dump(&e.value, &opts),
        None => {
            ctx.cl.out.null();
            return Ok(());
        }
    };
    ctx.cl.out.bulk(&payload);
    Ok(())
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
fn restore(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let mut replace = false;
    let mut absttl = false;
    let mut idle: Option<i64> = None;
    let mut freq: Option<i64> = None;
    let mut j = 4;
    while j < a.len() {
        let more = a.len() - j - 1;
        if is(&a[j], "replace") {
            replace = true;
        } else if is(&a[j], "absttl") {
            absttl = true;
        } else if is(&a[j], "idletime") && more >= 1 && freq.is_none() {
            let v = args::int(&a[j + 1])?;
            if v < 0 {
                return Err(Error::new("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            j += 1;
        } else if is(&a[j], "freq") && more >= 1 && idle.is_none() {
            let v = args::int(&a[j + 1])?;
            if !(0..=255).contains(&v) {
                return Err(Error::new(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(Error::syntax());
        }
        j += 1;
    }
    let db = ctx.cl.db;
    let key = &a[1];
    if !replace && ctx.srv.lookup_write(db, key).is_some() {
        return Err(Error::new("BUSYKEY Target key name already exists."));
    }
    let mut ttl = args::int(&a[2])?;
    if ttl < 0 {
        return Err(Error::new("ERR Invalid TTL value, must be >= 0"));
    }
    if !rdb::dump::footer_ok(&a[3]) {
        return Err(Error::new("ERR DUMP payload version or checksum are wrong"));
    }
    let value = match rdb::verify_and_decode_dump(&a[3]) {
        Ok(v) => rdb::to_value(v, &ctx.srv.config.limits),
        Err(_) => return Err(Error::new("ERR Bad data format")),
    };
    let deleted = replace && ctx.srv.delete_key(db, key);
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(ctx.now());
    }
    if ttl != 0 && ctx.already_expired(ttl) {
        // Already expired: the key is gone, as if deleted.
        if deleted {
            ctx.propagate(vec![b"DEL".to_vec(), key.clone()]);
            ctx.changed(db, key, 1);
            ctx.notify(notify::GENERIC, "del", key);
        }
        ctx.cl.out.ok();
        return Ok(());
    }
    ctx.srv.add_key(db, Key::from_slice(key), value);
    if ttl != 0 {
        ctx.srv.db_mut(db).set_expire(key, ttl);
        if !absttl {
            let mut argv = a.to_vec();
            argv[2] = ttl.to_string().into_bytes();
            argv.push(b"ABSTTL".to_vec());
            ctx.propagate(argv);
        }
    }
    // objectSetLRUOrLFU: FREQ counts under an LFU policy, IDLETIME under the others.
    let lfu = ctx.srv.config.maxmemory_policy.is_lfu();
    let word = match (lfu, freq, idle) {
        (true, Some(f), _) => Some(ctx.srv.new_lru() & !0xff | (f as u32 & 0xff)),
        (false, _, Some(idle)) => {
            let clock = ctx.srv.lru_clock();
            let secs = u32::try_from(idle.min(i64::from(u32::MAX))).unwrap_or(u32::MAX);
            Some(clock.wrapping_sub(secs) & ((1 << 24) - 1))
        }
        _ => None,
    };
    if let Some(word) = word {
        if let Some(e) = ctx.srv.db_mut(db).get(key) {
            e.touch(word);
        }
    }
    ctx.srv.signal_ready(db, key);
    ctx.changed(db, key, 1);
    ctx.notify(notify::GENERIC, "restore", key);
    ctx.cl.out.ok();
    Ok(())
}
