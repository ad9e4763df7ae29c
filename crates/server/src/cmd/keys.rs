//! Keyspace commands: DEL UNLINK EXISTS TYPE RENAME RENAMENX KEYS SCAN RANDOMKEY MOVE SWAPDB
//! COPY TOUCH OBJECT, and expiry: EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME
//! PEXPIRETIME PERSIST.

use super::notify;
use amber_store::db::NO_EXPIRE;
use amber_store::value::Kind;
use amber_store::{Entry, Key, Value};

use super::args::{self, is};
use super::{Command, Ctx, Error, Reply, DENYOOM, FAST, LOADING, READONLY, STALE, WRITE};
use crate::server::Server;

const KS: &[&str] = &["@keyspace"];
const KS_DANGEROUS: &[&str] = &["@keyspace", "@dangerous"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("del", -2, WRITE, (1, -1, 1), KS, del),
    Command::new("unlink", -2, WRITE | FAST, (1, -1, 1), KS, unlink),
    Command::new("exists", -2, READONLY | FAST, (1, -1, 1), KS, exists),
    Command::new("type", 2, READONLY | FAST, (1, 1, 1), KS, type_cmd),
    Command::new("rename", 3, WRITE, (1, 2, 1), KS, rename),
    Command::new("renamenx", 3, WRITE | FAST, (1, 2, 1), KS, renamenx),
    Command::new("keys", 2, READONLY, (0, 0, 0), KS_DANGEROUS, keys),
    Command::new("scan", -2, READONLY, (0, 0, 0), KS, scan),
    Command::new("randomkey", 1, READONLY, (0, 0, 0), KS, randomkey),
    Command::new("move", 3, WRITE | FAST, (1, 1, 1), KS, move_cmd),
    Command::new("swapdb", 3, WRITE | FAST, (0, 0, 0), KS_DANGEROUS, swapdb),
    Command::new("copy", -3, WRITE | DENYOOM, (1, 2, 1), KS, copy),
    Command::new("touch", -2, READONLY | FAST, (1, -1, 1), KS, touch),
    Command::container("object", -2, 0, OBJECT_SUBCOMMANDS),
    Command::new("expire", -3, WRITE | FAST, (1, 1, 1), KS, expire),
    Command::new("pexpire", -3, WRITE | FAST, (1, 1, 1), KS, pexpire),
    Command::new("expireat", -3, WRITE | FAST, (1, 1, 1), KS, expireat),
    Command::new("pexpireat", -3, WRITE | FAST, (1, 1, 1), KS, pexpireat),
    Command::new("ttl", 2, READONLY | FAST, (1, 1, 1), KS, ttl),
    Command::new("pttl", 2, READONLY | FAST, (1, 1, 1), KS, pttl),
    Command::new("expiretime", 2, READONLY | FAST, (1, 1, 1), KS, expiretime),
    Command::new(
        "pexpiretime",
        2,
        READONLY | FAST,
        (1, 1, 1),
        KS,
        pexpiretime,
    ),
    Command::new("persist", 2, WRITE | FAST, (1, 1, 1), KS, persist),
];

static OBJECT_SUBCOMMANDS: &[Command] = &[
    Command::new("encoding", 3, READONLY, (2, 2, 1), KS, object_encoding),
    Command::new("freq", 3, READONLY, (2, 2, 1), KS, object_freq),
    Command::new("idletime", 3, READONLY, (2, 2, 1), KS, object_idletime),
    Command::new("refcount", 3, READONLY, (2, 2, 1), KS, object_refcount),
    Command::new("help", 2, LOADING | STALE, (0, 0, 0), KS, object_help),
];

/// Redis's OBJ_SHARED_REFCOUNT: the reference count OBJECT REFCOUNT shows for shared objects.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// Redis shares the integer objects 0..OBJ_SHARED_INTEGERS.
const SHARED_INTEGERS: i64 = 10_000;

/// A live key for a command that must not update the access clock (LOOKUP_NOTOUCH), counting
/// keyspace hits and misses, and announcing a miss ("keymiss") unless OBJECT asks
/// (LOOKUP_NONOTIFY).
fn lookup_notouch<'s>(srv: &'s mut Server, db: usize, key: &[u8]) -> Option<&'s Entry> {
    lookup_notouch_with(srv, db, key, true)
}

fn lookup_notouch_with<'s>(
    srv: &'s mut Server,
    db: usize,
    key: &[u8],
    announce_miss: bool,
) -> Option<&'s Entry> {
    srv.expire_if_needed(db, key);
    let found = srv.dbs[db].get(key).is_some();
    if found {
        srv.stats.keyspace_hits += 1;
    } else {
        srv.stats.keyspace_misses += 1;
        if announce_miss {
            srv.notify(notify::KEY_MISS, "keymiss", key, db);
        }
    }
    srv.dbs[db].get(key)
}

/// Whether a key's value may have clients blocked on it (lists and sorted sets).
fn may_unblock(v: &Value) -> bool {
    matches!(v.kind(), Kind::List | Kind::ZSet)
}

fn del(ctx: &mut Ctx<'_>) -> Reply {
    del_generic(ctx, crate::lazyfree::Why::UserDel)
}

/// UNLINK: DEL whose big values are always freed on the drop thread.
fn unlink(ctx: &mut Ctx<'_>) -> Reply {
    del_generic(ctx, crate::lazyfree::Why::Always)
}

fn del_generic(ctx: &mut Ctx<'_>, why: crate::lazyfree::Why) -> Reply {
    let db = ctx.cl.db;
    let mut n = 0;
    for k in &ctx.args[1..] {
        if ctx.srv.delete_key_for(db, k, why) {
            ctx.changed(db, k, 1);
            ctx.notify(notify::GENERIC, "del", k);
            n += 1;
        }
    }
    ctx.cl.out.int(n);
    Ok(())
}

fn exists(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let mut n = 0;
    for k in &ctx.args[1..] {
        if lookup_notouch(ctx.srv, db, k).is_some() {
            n += 1;
        }
    }
    ctx.cl.out.int(n);
    Ok(())
}

fn type_cmd(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let name = match lookup_notouch(ctx.srv, db, &ctx.args[1]) {
        Some(e) => e.value.kind().name(),
        None => "none",
    };
    ctx.cl.out.simple(name);
    Ok(())
}

fn rename_generic(ctx: &mut Ctx<'_>, nx: bool) -> Reply {
    let db = ctx.cl.db;
    let (src, dst) = (&ctx.args[1], &ctx.args[2]);
    if ctx.srv.lookup_write(db, src).is_none() {
        return Err(Error::no_such_key());
    }
    if src == dst {
        if nx {
            ctx.cl.out.int(0);
        } else {
            ctx.cl.out.ok();
        }
        return Ok(());
    }
    if ctx.srv.lookup_write(db, dst).is_some() {
        if nx {
            ctx.cl.out.int(0);
            return Ok(());
        }
        ctx.srv.db_mut(db).remove(dst);
    }
    let Some(old) = ctx.srv.db_mut(db).remove(src) else {
        return Err(Error::no_such_key());
    };
    ctx.srv.notify(notify::NEW, "new", dst, db);
    let wake = may_unblock(&old.value);
    // The value moves with its access clock, as Redis moves the object.
    let clock = old.lru();
    ctx.srv
        .db_mut(db)
        .insert(Key::from_slice(dst), old.value, old.expire, clock);
    if wake {
        ctx.srv.signal_ready(db, dst);
    }
    ctx.modified(db, src);
    ctx.changed(db, dst, 1);
    ctx.notify(notify::GENERIC, "rename_from", src);
    ctx.notify(notify::GENERIC, "rename_to", dst);
    if nx {
        ctx.cl.out.int(1);
    } else {
        ctx.cl.out.ok();
    }
    Ok(())
}

fn rename(ctx: &mut Ctx<'_>) -> Reply {
    rename_generic(ctx, false)
}

fn renamenx(ctx: &mut Ctx<'_>) -> Reply {
    rename_generic(ctx, true)
}

fn keys(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let now = ctx.now();
    let pattern = &ctx.args[1];
    let all = pattern.as_slice() == b"*";
    let out = &mut ctx.cl.out;
    let d = out.deferred_array();
    let mut n = 0;
    for e in ctx.srv.dbs[db].iter() {
        if e.is_expired(now) {
            continue;
        }
        if all || crate::cmd::glob::matches(pattern, &e.key, false) {
            out.bulk(&e.key);
            n += 1;
        }
    }
    out.set_deferred(d, n);
    Ok(())
}

fn scan(ctx: &mut Ctx<'_>) -> Reply {
    let opts = super::scan::parse(ctx.args, 1, true)?;
    let db = ctx.cl.db;
    let now = ctx.now();
    let mut found: Vec<(Key, Kind, bool)> = Vec::new();
    let next = ctx.srv.dbs[db].scan(opts.cursor, opts.count, |e| {
        if opts.matches(&e.key) {
            found.push((e.key.clone(), e.value.kind(), e.is_expired(now)));
        }
    });
    let mut keys = Vec::with_capacity(found.len());
    for (k, kind, expired) in found {
        if let Some(t) = &opts.type_name {
            if t.as_str() != kind.name() {
                continue;
            }
        }
        if expired {
            // SCAN deletes the expired keys it meets.
            ctx.srv.expire_if_needed(db, &k);
            continue;
        }
        keys.push(k);
    }
    let out = &mut ctx.cl.out;
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(keys.len());
    for k in &keys {
        out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let now = ctx.now();
    loop {
        let srv = &mut *ctx.srv;
        let Some(e) = srv.dbs[db].random_entry(&mut srv.rng) else {
            ctx.cl.out.null();
            return Ok(());
        };
        let key = e.key.clone();
        if e.is_expired(now) {
            srv.expire_if_needed(db, &key);
            continue;
        }
        ctx.cl.out.bulk(&key);
        return Ok(());
    }
}

/// A database index argument: an int (getIntFromObjectOrReply) within range.
fn db_index(ctx: &Ctx<'_>, arg: &[u8]) -> Result<usize, Error> {
    let id = args::int(arg)?;
    if id < i64::from(i32::MIN) || id > i64::from(i32::MAX) {
        return Err(Error::new(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if id < 0 || id as usize >= ctx.srv.dbs.len() {
        return Err(Error::new("ERR DB index is out of range"));
    }
    Ok(id as usize)
}

fn same_object() -> Error {
    Error::new("ERR source and destination objects are the same")
}

fn move_cmd(ctx: &mut Ctx<'_>) -> Reply {
    let src = ctx.cl.db;
    let dst = db_index(ctx, &ctx.args[2])?;
    if src == dst {
        return Err(same_object());
    }
    let key = &ctx.args[1];
    if ctx.srv.lookup_write(src, key).is_none() || ctx.srv.lookup_write(dst, key).is_some() {
        ctx.cl.out.int(0);
        return Ok(());
    }
    let Some(old) = ctx.srv.db_mut(src).remove(key) else {
        ctx.cl.out.int(0);
        return Ok(());
    };
    ctx.srv.notify(notify::NEW, "new", key, dst);
    let wake = may_unblock(&old.value);
    let clock = old.lru();
    ctx.srv
        .db_mut(dst)
        .insert(old.key, old.value, old.expire, clock);
    if wake {
        ctx.srv.signal_ready(dst, key);
    }
    ctx.modified(src, key);
    ctx.changed(dst, key, 1);
    ctx.notify_db(notify::GENERIC, "move_from", key, src);
    ctx.notify_db(notify::GENERIC, "move_to", key, dst);
    ctx.cl.out.int(1);
    Ok(())
}

fn copy(ctx: &mut Ctx<'_>) -> Reply {
    let src = ctx.cl.db;
    let mut dst = src;
    let mut replace = false;
    let mut j = 3;
    while j < ctx.args.len() {
        if is(&ctx.args[j], "REPLACE") {
            replace = true;
        } else if is(&ctx.args[j], "DB") && j + 1 < ctx.args.len() {
            dst = db_index(ctx, &ctx.args[j + 1])?;
            j += 1;
        } else {
            return Err(Error::syntax());
        }
        j += 1;
    }
    let (key, newkey) = (&ctx.args[1], &ctx.args[2]);
    if src == dst && key == newkey {
        return Err(same_object());
    }
    let Some(e) = ctx.srv.lookup_read(src, key) else {
        ctx.cl.out.int(0);
        return Ok(());
    };
    let (value, expire) = (e.value.clone(), e.expire);
    if ctx.srv.lookup_write(dst, newkey).is_some() {
        if !replace {
            ctx.cl.out.int(0);
            return Ok(());
        }
        ctx.srv.db_mut(dst).remove(newkey);
    }
    ctx.srv.notify(notify::NEW, "new", newkey, dst);
    let wake = may_unblock(&value);
    let clock = ctx.srv.new_lru();
    ctx.srv
        .db_mut(dst)
        .insert(Key::from_slice(newkey), value, expire, clock);
    if wake {
        ctx.srv.signal_ready(dst, newkey);
    }
    ctx.changed(dst, newkey, 1);
    ctx.notify_db(notify::GENERIC, "copy_to", newkey, dst);
    ctx.cl.out.int(1);
    Ok(())
}

fn swapdb(ctx: &mut Ctx<'_>) -> Reply {
    let parse = |arg: &[u8], msg: &'static str| -> Result<i64, Error> {
        let id = amber_store::value::parse_i64(arg)
            .filter(|v| *v >= i64::from(i32::MIN) && *v <= i64::from(i32::MAX))
            .ok_or_else(|| Error::new(format!("ERR {msg}")))?;
        Ok(id)
    };
    let id1 = parse(&ctx.args[1], "invalid first DB index")?;
    let id2 = parse(&ctx.args[2], "invalid second DB index")?;
    let n = ctx.srv.dbs.len() as i64;
    if id1 < 0 || id1 >= n || id2 < 0 || id2 >= n {
        return Err(Error::new("ERR DB index is out of range"));
    }
    let (a, b) = (id1 as usize, id2 as usize);
    if a != b {
        // A watched key of either database that exists on either side changes under its
        // watchers (touchAllWatchedKeysInDb both ways).
        let mut dirty_ids = Vec::new();
        for ((d, k), ids) in &ctx.srv.watched {
            if (*d == a || *d == b)
                && (ctx.srv.dbs[a].get(k).is_some() || ctx.srv.dbs[b].get(k).is_some())
            {
                dirty_ids.extend_from_slice(ids);
            }
        }
        for id in dirty_ids {
            if id == ctx.cl.id {
                ctx.cl.dirty_cas = true;
            } else if let Some(c) = ctx.srv.clients.get(&id) {
                if let Ok(mut c) = c.try_borrow_mut() {
                    c.dirty_cas = true;
                }
            }
        }
        ctx.srv.dbs.swap(a, b);
        // Clients blocked on a key that now exists in their database may be served.
        let mut ready = Vec::new();
        for (d, k) in ctx.srv.blocking.by_key.keys() {
            if *d == a || *d == b {
                if let Some(e) = ctx.srv.dbs[*d].get(k) {
                    if may_unblock(&e.value) {
                        ready.push((*d, k.clone()));
                    }
                }
            }
        }
        for (d, k) in ready {
            ctx.srv.signal_ready(d, &k);
        }
    }
    ctx.dirty(1);
    ctx.cl.out.ok();
    Ok(())
}

fn touch(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let mut n = 0;
    for k in &ctx.args[1..] {
        if ctx.srv.lookup_read(db, k).is_some() {
            n += 1;
        }
    }
    ctx.cl.out.int(n);
    Ok(())
}

fn object_encoding(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    match lookup_notouch_with(ctx.srv, db, &ctx.args[2], false) {
        Some(e) => ctx.cl.out.bulk(e.value.encoding().as_bytes()),
        None => ctx.cl.out.null(),
    }
    Ok(())
}

fn object_refcount(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    match lookup_notouch_with(ctx.srv, db, &ctx.args[2], false) {
        // Small integers are Redis's shared objects.
        Some(e) => match e.value {
            Value::Int(n) if (0..SHARED_INTEGERS).contains(&n) => ctx.cl.out.int(SHARED_REFCOUNT),
            _ => ctx.cl.out.int(1),
        },
        None => ctx.cl.out.null(),
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let now = ctx.srv.cmd_time_ms;
    let lfu = ctx.srv.config.maxmemory_policy.is_lfu();
    let Some(e) = lookup_notouch_with(ctx.srv, db, &ctx.args[2], false) else {
        ctx.cl.out.null();
        return Ok(());
    };
    if lfu {
        return Err(Error::new("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let idle = crate::evict::idle_ms(e.lru(), now) / 1000;
    ctx.cl.out.int(idle as i64);
    Ok(())
}

fn object_freq(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let now = ctx.srv.cmd_time_ms;
    let (lfu, decay) = (
        ctx.srv.config.maxmemory_policy.is_lfu(),
        ctx.srv.config.lfu_decay_time,
    );
    let Some(e) = lookup_notouch_with(ctx.srv, db, &ctx.args[2], false) else {
        ctx.cl.out.null();
        return Ok(());
    };
    if !lfu {
        return Err(Error::new("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let freq = crate::evict::lfu_counter(e.lru(), decay, now);
    ctx.cl.out.int(i64::from(freq));
    Ok(())
}

fn object_help(ctx: &mut Ctx<'_>) -> Reply {
    const LINES: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.help_lines(LINES)
}

// EXPIRE's NX XX GT LT flags.
const E_NX: u8 = 1;
const E_XX: u8 = 2;
const E_GT: u8 = 4;
const E_LT: u8 = 8;

fn expire_flags(args: &[Vec<u8>]) -> Result<u8, Error> {
    let mut flags = 0;
    for a in &args[3..] {
        // Option words compare as C strings: up to the first NUL.
        let word = match a.iter().position(|b| *b == 0) {
            Some(i) => &a[..i],
            None => &a[..],
        };
        flags |= if word.eq_ignore_ascii_case(b"NX") {
            E_NX
        } else if word.eq_ignore_ascii_case(b"XX") {
            E_XX
        } else if word.eq_ignore_ascii_case(b"GT") {
            E_GT
        } else if word.eq_ignore_ascii_case(b"LT") {
            E_LT
        } else {
            return Err(Error::new(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(word)
            )));
        };
    }
    if flags & E_NX != 0 && flags & (E_XX | E_GT | E_LT) != 0 {
        return Err(Error::new(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if flags & E_GT != 0 && flags & E_LT != 0 {
        return Err(Error::new(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(flags)
}

/// expireGenericCommand: `relative` adds the command time, `seconds` scales by 1000.
fn expire_generic(ctx: &mut Ctx<'_>, relative: bool, seconds: bool) -> Reply {
    let flags = expire_flags(ctx.args)?;
    let mut when = args::int(&ctx.args[2])?;
    let invalid = || {
        Error::new(format!(
            "ERR invalid expire time in '{}' command",
            ctx.cmd.name
        ))
    };
    if seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    if relative {
        when = when.checked_add(ctx.now()).ok_or_else(invalid)?;
    }
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    let Some(e) = ctx.srv.lookup_write(db, key) else {
        ctx.cl.out.int(0);
        return Ok(());
    };
    let current = e.expire;
    let refused = (flags & E_NX != 0 && current != NO_EXPIRE)
        || (flags & E_XX != 0 && current == NO_EXPIRE)
        || (flags & E_GT != 0 && (current == NO_EXPIRE || when <= current))
        || (flags & E_LT != 0 && current != NO_EXPIRE && when >= current);
    if refused {
        ctx.cl.out.int(0);
        return Ok(());
    }
    if ctx.already_expired(when) {
        ctx.srv.db_mut(db).remove(key);
        ctx.propagate(vec![b"DEL".to_vec(), key.clone()]);
    } else {
        ctx.srv.db_mut(db).set_expire(key, when);
        let mut argv = vec![
            b"PEXPIREAT".to_vec(),
            key.clone(),
            when.to_string().into_bytes(),
        ];
        argv.extend(ctx.args[3..].iter().cloned());
        ctx.propagate(argv);
    }
    ctx.changed(db, key, 1);
    let event = if ctx.srv.db(db).get(key).is_some() {
        "expire"
    } else {
        "del"
    };
    ctx.notify(notify::GENERIC, event, key);
    ctx.cl.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx<'_>) -> Reply {
    expire_generic(ctx, true, true)
}

fn pexpire(ctx: &mut Ctx<'_>) -> Reply {
    expire_generic(ctx, true, false)
}

fn expireat(ctx: &mut Ctx<'_>) -> Reply {
    expire_generic(ctx, false, true)
}

fn pexpireat(ctx: &mut Ctx<'_>) -> Reply {
    expire_generic(ctx, false, false)
}

/// ttlGenericCommand: -2 when missing, -1 without expiry, else the TTL or the absolute time,
/// in ms or rounded to seconds.
fn ttl_generic(ctx: &mut Ctx<'_>, ms: bool, absolute: bool) -> Reply {
    let db = ctx.cl.db;
    let now = ctx.now();
    let expire = match lookup_notouch(ctx.srv, db, &ctx.args[1]) {
        None => {
            ctx.cl.out.int(-2);
            return Ok(());
        }
        Some(e) => e.expire,
    };
    if expire == NO_EXPIRE {
        ctx.cl.out.int(-1);
        return Ok(());
    }
    let t = if absolute { expire } else { expire - now }.max(0);
    // Rounded to the nearest second, without overflow near i64::MAX.
    let secs = ((i128::from(t) + 500) / 1000) as i64;
    ctx.cl.out.int(if ms { t } else { secs });
    Ok(())
}

fn ttl(ctx: &mut Ctx<'_>) -> Reply {
    ttl_generic(ctx, false, false)
}

fn pttl(ctx: &mut Ctx<'_>) -> Reply {
    ttl_generic(ctx, true, false)
}

fn expiretime(ctx: &mut Ctx<'_>) -> Reply {
    ttl_generic(ctx, false, true)
}

fn pexpiretime(ctx: &mut Ctx<'_>) -> Reply {
    ttl_generic(ctx, true, true)
}

fn persist(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let key = &ctx.args[1];
    let had = ctx
        .srv
        .lookup_write(db, key)
        .is_some_and(|e| e.has_expire());
    if had {
        ctx.srv.db_mut(db).set_expire(key, NO_EXPIRE);
        ctx.changed(db, key, 1);
        ctx.notify(notify::GENERIC, "persist", key);
    }
    ctx.cl.out.int(i64::from(had));
    Ok(())
}
