//! DEBUG: the subcommands tests and tools use (Redis's debug.c): DIGEST and DIGEST-VALUE,
//! POPULATE, OBJECT, RELOAD, LOADAOF, SLEEP, SET-ACTIVE-EXPIRE, and the crash triggers
//! SEGFAULT, PANIC and ASSERT (each ends the server with a crash report in the log); the
//! test aids for clients and tools are in aids.rs.

mod aids;

use amber_store::{Key, Value};

use super::args::{self, is};
use super::{Command, Ctx, Error, Reply, ADMIN, LOADING, NOSCRIPT, STALE};
use crate::cmd::digest;

pub(crate) static COMMANDS: &[Command] = &[Command::new(
    "debug",
    -2,
    ADMIN | NOSCRIPT | LOADING | STALE,
    (0, 0, 0),
    &["@server"],
    debug,
)];

fn debug(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "sleep" if a.len() == 3 => {
            // Redis reads the duration with strtod and no error check: junk means 0.
            let secs = args::parse_f64(&a[2]).unwrap_or(0.0);
            if secs > 0.0 {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(1e6)));
            }
            ctx.cl.out.ok();
        }
        "populate" if (3..=5).contains(&a.len()) => return populate(ctx),
        "digest" if a.len() == 2 => {
            ctx.cl
                .out
                .simple(&digest::hex(&digest::dataset_digest(&ctx.srv.dbs)));
        }
        "digest-value" => {
            // Like Redis, a raw lookup: a logically expired key that is still stored counts.
            let db = &ctx.srv.dbs[ctx.cl.db];
            ctx.cl.out.array(a.len() - 2);
            for k in &a[2..] {
                let d = db.get(k).map(digest::value_digest).unwrap_or_default();
                ctx.cl.out.simple(&digest::hex(&d));
            }
        }
        // As Redis: each ends the server with a crash report in the log.
        "segfault" => crate::sys::crash::segfault(),
        "panic" => panic!(
            "DEBUG PANIC called at Unix time {}",
            crate::server::unix_ms() / 1000
        ),
        "assert" => std::panic::panic_any(crate::sys::crash::Assertion {
            expr: "1 == 2",
            file: file!(),
            line: line!(),
        }),
        "set-active-expire" if a.len() == 3 => {
            let v = args::int(&a[2])?;
            ctx.srv.active_expire_enabled = v != 0;
            ctx.cl.out.ok();
        }
        "object" if a.len() == 3 => return object(ctx),
        "loadaof" if a.len() == 2 => {
            if let Err(why) = crate::durability::aof::load::reload(ctx.srv) {
                ctx.srv.log.warning(&why);
                std::process::exit(1);
            }
            ctx.srv
                .log
                .warning("Append Only File loaded by DEBUG LOADAOF");
            ctx.cl.out.ok();
        }
        "reload" => return reload(ctx),
        "error" if a.len() == 3 => return aids::error(ctx),
        "protocol" if a.len() == 3 => return aids::protocol(ctx),
        "change-repl-id" if a.len() == 2 => return aids::change_repl_id(ctx),
        "quicklist-packed-threshold" if a.len() == 3 => {
            return aids::quicklist_packed_threshold(ctx)
        }
        "stringmatch-test" if a.len() == 2 => return aids::stringmatch_test(ctx),
        "listpack" if a.len() == 3 => return aids::listpack(ctx),
        "quicklist" if a.len() == 3 || a.len() == 4 => return aids::quicklist(ctx),
        "htstats" if a.len() == 3 => return aids::htstats(ctx),
        "htstats-key" if a.len() == 3 => return aids::htstats_key(ctx),
        "help" => return help(ctx),
        _ => {
            return Err(Error::new(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                String::from_utf8_lossy(&a[1])
            )))
        }
    }
    Ok(())
}

/// DEBUG POPULATE count [prefix] [size]: string keys `prefix:N`, skipping existing ones.
fn populate(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let count = args::positive(&a[2])?;
    let prefix: &[u8] = a.get(3).map(|p| p.as_slice()).unwrap_or(b"key");
    let size = match a.get(4) {
        Some(s) => args::positive(s)? as usize,
        None => 0,
    };
    let db = ctx.cl.db;
    ctx.srv.dbs[db].reserve(usize::try_from(count).unwrap_or(0).min(1 << 32));
    let mut key = Vec::with_capacity(prefix.len() + 21);
    for j in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        if ctx.srv.lookup_quiet(db, &key).is_some() {
            continue;
        }
        let text = format!("value:{j}");
        let val = if size == 0 {
            Value::string_no_int(text.as_bytes())
        } else {
            let mut v = vec![0u8; size];
            let n = size.min(text.len());
            v[..n].copy_from_slice(&text.as_bytes()[..n]);
            Value::string_no_int(&v)
        };
        ctx.srv.add_key(db, Key::from_slice(&key), val);
    }
    ctx.cl.out.ok();
    Ok(())
}

/// DEBUG OBJECT key: the low-level line Redis prints (encoding, serialized length, LRU).
fn object(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let db = ctx.cl.db;
    let clock = ctx.srv.lru_clock();
    let ql_max = ctx.srv.config.limits.list_max_listpack_size;
    let opts = amber_persist::rdb::EncodeOptions {
        compression: ctx.srv.config.rdbcompression,
        checksum: true,
    };
    let Some(e) = ctx.srv.lookup_quiet(db, &a[2]) else {
        return Err(Error::no_such_key());
    };
    let enc = e.value.encoding();
    let lru = e.lru();
    let idle = clock.wrapping_sub(lru) & ((1 << 24) - 1);
    let extra = match &e.value {
            Value::List(l) => format!(
                " ql_nodes:{} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:0 ql_uncompressed_size:{}",
                l.len().div_ceil(128).max(1),
                l.len() as f64 / l.len().div_ceil(128).max(1) as f64,
                ql_max,
                l.items.iter().map(|i| i.len() + 2).sum::<usize>()
            ),
            _ => String::new(),
        };
    let mut buf = Vec::new();
    amber_persist::rdb::write_value(&mut buf, &e.value, &opts);
    // rdbSavedObjectLen: the value without its type byte.
    let len = buf.len().saturating_sub(1);
    let line = format!(
        "Value at:0x{:x} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}{}",
        e as *const _ as usize, enc, len, lru, idle, extra
    );
    ctx.cl.out.simple(&line);
    Ok(())
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, flush and load the RDB again.
fn reload(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let (mut flush, mut save, mut merge) = (true, true, false);
    for opt in &a[2..] {
        if is(opt, "MERGE") {
            merge = true;
        } else if is(opt, "NOFLUSH") {
            flush = false;
        } else if is(opt, "NOSAVE") {
            save = false;
        } else {
            return Err(Error::new(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    crate::durability::save::bgsave_cancel(ctx.srv);
    if save && crate::durability::save::save_now(ctx.srv).is_err() {
        return Err(Error::new("ERR"));
    }
    if let Err(why) = crate::durability::rdb_load::reload(ctx.srv, flush, merge) {
        ctx.srv.log.warning(&why);
        return Err(Error::new("ERR Error trying to load the RDB dump"));
    }
    ctx.srv.log.warning("DB reloaded by DEBUG RELOAD");
    ctx.cl.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx<'_>) -> Reply {
    ctx.help_lines(&[
        "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ASSERT",
        "    Crash by assertion failed.",
        "CHANGE-REPL-ID",
        "    Change the replication IDs of the instance.",
        "    Dangerous: should be used only for testing the replication subsystem.",
        "DIGEST",
        "    Output a hex signature representing the current DB content.",
        "DIGEST-VALUE <key> [<key> ...]",
        "    Output a hex signature of the values of all the specified keys.",
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
        "HTSTATS <dbid>",
        "    Return hash table statistics of the specified Redis database.",
        "HTSTATS-KEY <key>",
        "    Like HTSTATS but for the hash table stored at <key>'s value.",
        "LOADAOF",
        "    Flush the AOF buffers on disk and reload the AOF in memory.",
        "OBJECT <key>",
        "    Show low level info about `key` and associated value.",
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named key:<num>. If <prefix> is specified then",
        "    it is used instead of the 'key' prefix. These are not propagated to",
        "    replicas. Cluster slots are not respected so keys not belonging to the",
        "    current node can be created in cluster mode.",
        "PANIC",
        "    Crash the server simulating a panic.",
        "PROTOCOL <type>",
        "    Reply with a test value of the specified type. <type> can be: string,",
        "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
        "    true, false.",
        "RELOAD [option ...]",
        "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
        "    * MERGE: conflicting keys will be loaded from RDB.",
        "    * NOFLUSH: the existing database will not be removed before load, but",
        "      conflicting keys will generate an exception and kill the server.",
        "    * NOSAVE: the database will be loaded from an existing RDB file.",
        "    Examples:",
        "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
        "      the database.",
        "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
        "      existing RDB file.",
        "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
        "      file to the database.",
        "SEGFAULT",
        "    Crash the server with sigsegv.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "QUICKLIST-PACKED-THRESHOLD <size>",
        "    Sets the threshold for elements to be inserted as plain vs packed nodes",
        "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
        "STRINGMATCH-TEST",
        "    Run a fuzz tester against the stringmatchlen() function.",
        "LISTPACK <key>",
        "    Show low level info about the listpack encoding of <key>.",
        "QUICKLIST <key> [<0|1>]",
        "    Show low level info about the quicklist encoding of <key>.",
        "    The optional argument (0 by default) sets the level of detail",
        "HELP",
        "    Prints this help.",
    ])
}
