//! Server commands: COMMAND CONFIG DEBUG INFO DBSIZE FLUSHDB FLUSHALL TIME SHUTDOWN.

use std::sync::{Arc, OnceLock};

use amber_store::{Key, Value};
use tokio::sync::Notify;

use super::args::{self, is};
use super::{
    Command, Ctx, Error, Reply, ADMIN, FAST, LOADING, NOSCRIPT, NO_MULTI, READONLY, STALE, WRITE,
};
use crate::cmd::digest;
use crate::config::{self, Config};

const SRV: &[&str] = &["@server"];
const KS: &[&str] = &["@keyspace"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::container_with_handler(
        "command",
        -1,
        LOADING | STALE,
        &["@connection"],
        command_all,
        COMMAND_SUBCOMMANDS,
    ),
    Command::container("config", -2, 0, CONFIG_SUBCOMMANDS),
    Command::new(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        SRV,
        debug,
    ),
    Command::new(
        "info",
        -1,
        LOADING | STALE,
        (0, 0, 0),
        &["@dangerous"],
        crate::cmd::info::info_command,
    ),
    Command::new("dbsize", 1, READONLY | FAST, (0, 0, 0), KS, dbsize),
    Command::new(
        "flushdb",
        -1,
        WRITE,
        (0, 0, 0),
        &["@keyspace", "@dangerous"],
        flushdb,
    ),
    Command::new(
        "flushall",
        -1,
        WRITE,
        (0, 0, 0),
        &["@keyspace", "@dangerous"],
        flushall,
    ),
    Command::new(
        "time",
        1,
        LOADING | STALE | FAST,
        (0, 0, 0),
        &["@fast"],
        time,
    ),
    Command::new(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | super::SENTINEL | super::ALLOW_BUSY,
        (0, 0, 0),
        SRV,
        shutdown,
    ),
];

static COMMAND_SUBCOMMANDS: &[Command] = &[
    Command::new(
        "count",
        2,
        LOADING | STALE,
        (0, 0, 0),
        &["@connection"],
        command_count,
    ),
    Command::new(
        "info",
        -2,
        LOADING | STALE,
        (0, 0, 0),
        &["@connection"],
        command_info,
    ),
    Command::new(
        "docs",
        -2,
        LOADING | STALE,
        (0, 0, 0),
        &["@connection"],
        command_docs,
    ),
    Command::new(
        "list",
        -2,
        LOADING | STALE,
        (0, 0, 0),
        &["@connection"],
        command_list,
    ),
    Command::new(
        "help",
        2,
        LOADING | STALE,
        (0, 0, 0),
        &["@connection"],
        command_help,
    ),
];

static CONFIG_SUBCOMMANDS: &[Command] = &[
    Command::new(
        "get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        SRV,
        config_get,
    ),
    Command::new(
        "set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        SRV,
        config_set,
    ),
    Command::new(
        "resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        SRV,
        config_resetstat,
    ),
    Command::new(
        "rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        SRV,
        config_rewrite,
    ),
    Command::new("help", 2, LOADING | STALE, (0, 0, 0), SRV, config_help),
];

/// Wakes the main loop to shut down (SHUTDOWN).
pub(crate) fn shutdown_notify() -> Arc<Notify> {
    static N: OnceLock<Arc<Notify>> = OnceLock::new();
    N.get_or_init(|| Arc::new(Notify::new())).clone()
}

// ---- COMMAND ----

/// Every command row (top level), sorted by name for stable output.
fn all_commands() -> Vec<&'static Command> {
    let mut v: Vec<&'static Command> = super::families().iter().flat_map(|f| f.iter()).collect();
    v.sort_by_key(|c| c.name);
    v
}

/// COMMAND: every command's COMMAND INFO.
fn command_all(ctx: &mut Ctx<'_>) -> Reply {
    let all = all_commands();
    let out = &mut ctx.cl.out;
    out.array(all.len());
    for c in all {
        write_command_info(out, c, None);
    }
    Ok(())
}

fn command_count(ctx: &mut Ctx<'_>) -> Reply {
    let n = all_commands().len() as i64;
    ctx.out().int(n);
    Ok(())
}

/// Redis's ACL categories in the order COMMAND INFO lists them.
const ACL_ORDER: &[&str] = &[
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

fn acl_categories(c: &Command) -> Vec<String> {
    let f = c.flags;
    let mut cats: Vec<&str> = c.acl.to_vec();
    let implied = [
        (WRITE, "@write"),
        (READONLY, "@read"),
        (ADMIN, "@admin"),
        (ADMIN, "@dangerous"),
        (super::PUBSUB, "@pubsub"),
        (FAST, "@fast"),
        (super::BLOCKING, "@blocking"),
    ];
    for (bit, cat) in implied {
        if f & bit != 0 {
            cats.push(cat);
        }
    }
    if f & FAST == 0 {
        cats.push("@slow");
    }
    let mut out: Vec<String> = Vec::new();
    for cat in ACL_ORDER {
        if cats.contains(cat) {
            out.push((*cat).to_string());
        }
    }
    out
}

fn write_command_info(out: &mut amber_resp::ReplyBuf, c: &Command, parent: Option<&Command>) {
    out.array(10);
    out.bulk(super::full_name(parent, c).as_bytes());
    out.int(i64::from(c.arity));
    let flags: Vec<&str> = super::FLAG_NAMES
        .iter()
        .filter(|(b, _)| c.flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
    out.int(i64::from(c.first_key));
    out.int(i64::from(c.last_key));
    out.int(i64::from(c.step));
    let cats = acl_categories(c);
    out.set(cats.len());
    for cat in cats {
        out.simple(&cat);
    }
    out.set(0);
    out.array(0);
    out.array(c.subcommands.len());
    for s in c.subcommands {
        write_command_info(out, s, Some(c));
    }
}

fn command_info(ctx: &mut Ctx<'_>) -> Reply {
    let table = &ctx.srv.commands;
    if ctx.args.len() == 2 {
        let all = all_commands();
        let out = &mut ctx.cl.out;
        out.array(all.len());
        for c in all {
            write_command_info(out, c, None);
        }
        return Ok(());
    }
    let names = &ctx.args[2..];
    let found: Vec<Option<(&'static Command, Option<&'static Command>)>> =
        names.iter().map(|n| lookup_full(table, n)).collect();
    let out = &mut ctx.cl.out;
    out.array(found.len());
    for f in found {
        match f {
            Some((c, parent)) => write_command_info(out, c, parent),
            None => out.null(),
        }
    }
    Ok(())
}

/// Finds "get" or "config|get".
fn lookup_full(
    table: &super::CommandTable,
    name: &[u8],
) -> Option<(&'static Command, Option<&'static Command>)> {
    match name.iter().position(|&b| b == b'|') {
        None => table.lookup(name).map(|c| (c, None)),
        Some(i) => {
            let parent = table.lookup(&name[..i])?;
            let sub = parent
                .subcommands
                .iter()
                .find(|s| s.name.as_bytes().eq_ignore_ascii_case(&name[i + 1..]))?;
            Some((sub, Some(parent)))
        }
    }
}

fn group_of(c: &Command) -> &'static str {
    let cat = c.acl.first().copied().unwrap_or("@server");
    match cat {
        "@string" => "string",
        "@list" => "list",
        "@hash" => "hash",
        "@set" => "set",
        "@sortedset" => "sorted-set",
        "@keyspace" => "generic",
        "@pubsub" => "pubsub",
        "@transaction" => "transactions",
        "@connection" => "connection",
        _ => "server",
    }
}

fn command_docs(ctx: &mut Ctx<'_>) -> Reply {
    let list: Vec<(&'static Command, Option<&'static Command>)> = if ctx.args.len() == 2 {
        all_commands().into_iter().map(|c| (c, None)).collect()
    } else {
        ctx.args[2..]
            .iter()
            .filter_map(|n| lookup_full(&ctx.srv.commands, n))
            .collect()
    };
    super::docs::reply(&mut ctx.cl.out, &list, group_of);
    Ok(())
}

fn command_list(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let mut names: Vec<String> = Vec::new();
    for c in all_commands() {
        names.push(c.name.to_string());
        for s in c.subcommands {
            names.push(super::full_name(Some(c), s));
        }
    }
    if a.len() == 5 && is(&a[2], "FILTERBY") {
        if is(&a[3], "PATTERN") {
            names.retain(|n| crate::cmd::glob::matches(&a[4], n.as_bytes(), true));
        } else if is(&a[3], "ACLCAT") {
            let cat = format!("@{}", String::from_utf8_lossy(&a[4]).to_ascii_lowercase());
            names.retain(|n| {
                lookup_full(&ctx.srv.commands, n.as_bytes())
                    .is_some_and(|(c, _)| acl_categories(c).contains(&cat))
            });
        } else if is(&a[3], "MODULE") {
            names.clear();
        } else {
            return Err(Error::syntax());
        }
    } else if a.len() != 2 {
        return Err(Error::syntax());
    }
    let out = &mut ctx.cl.out;
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
    Ok(())
}

fn command_help(ctx: &mut Ctx<'_>) -> Reply {
    ctx.help_lines(&[
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "HELP",
        "    Print this help.",
    ])
}

// ---- CONFIG ----

fn config_get(ctx: &mut Ctx<'_>) -> Reply {
    let mut pairs = Vec::new();
    for p in &ctx.args[2..] {
        ctx.srv.config.get_matching(p, &mut pairs);
    }
    let out = &mut ctx.cl.out;
    out.map(pairs.len());
    for (k, v) in pairs {
        out.bulk(k.as_bytes());
        out.bulk(v.as_bytes());
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    if !a.len().is_multiple_of(2) {
        return Err(Error::new(
            "ERR wrong number of arguments for 'config|set' command",
        ));
    }
    let mut next: Config = ctx.srv.config.clone();
    let mut seen: Vec<&'static str> = Vec::new();
    for pair in a[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).into_owned();
        let Some(d) = config::find(&name) else {
            return Err(Error::new(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        };
        let fail = |why: &str| {
            Error::new(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))
        };
        if seen.contains(&d.name()) {
            return Err(fail("duplicate parameter"));
        }
        seen.push(d.name());
        if d.flags() & config::IMMUTABLE != 0 {
            return Err(fail("can't set immutable config"));
        }
        if d.flags() & config::PROTECTED != 0 {
            let allowed = match ctx.srv.config.enable_protected_configs {
                config::Protection::Yes => true,
                config::Protection::Local => ctx.cl.is_local,
                config::Protection::No => false,
            };
            if !allowed {
                return Err(fail("can't set protected config"));
            }
        }
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        let values: Vec<String> = if d.flags() & config::MULTI_ARG != 0 {
            value.split_whitespace().map(str::to_string).collect()
        } else {
            vec![value]
        };
        d.set(&mut next, &values).map_err(|e| fail(&e))?;
        if d.name() == "dir" {
            if let Err(e) = std::env::set_current_dir(&next.dir) {
                return Err(fail(&e.to_string()));
            }
        }
    }
    if next.port != ctx.srv.config.port || next.bind != ctx.srv.config.bind {
        // Bind the new addresses before letting go of the old ones, so a failure changes nothing.
        match crate::net::bind_all(&next.bind, next.port, next.tcp_backlog) {
            Ok(listeners) => {
                if let Some(rc) = ctx.srv.self_ref.upgrade() {
                    // The server is borrowed by this command: swap the listeners once it returns.
                    tokio::task::spawn_local(
                        async move { crate::net::start_listeners(&rc, listeners) },
                    );
                }
            }
            Err(e) => {
                ctx.srv.log.warning(&e);
                let which = if next.port != ctx.srv.config.port {
                    "port"
                } else {
                    "bind"
                };
                return Err(Error::new(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{which}') - Unable to listen on this port"
                )));
            }
        }
    }
    if next.loglevel != ctx.srv.config.loglevel {
        ctx.srv.log.set_level(next.loglevel);
    }
    let aof_change = next.appendonly != ctx.srv.config.appendonly;
    let old = std::mem::replace(&mut ctx.srv.config, next);
    if aof_change {
        if ctx.srv.config.appendonly {
            if let Err(e) = crate::durability::aof::start_at_runtime(ctx.srv) {
                ctx.srv.log.warning(&e);
                ctx.srv.config = old;
                return Err(Error::new("ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. Check server logs."));
            }
        } else {
            crate::durability::aof::stop_at_runtime(ctx.srv);
        }
    }
    ctx.cl.out.ok();
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx<'_>) -> Reply {
    ctx.srv.stats = crate::server::Stats::default();
    ctx.cl.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx<'_>) -> Reply {
    match ctx.srv.config.rewrite() {
        Ok(()) => {
            ctx.srv.log.notice("CONFIG REWRITE executed with success.");
            ctx.cl.out.ok();
            Ok(())
        }
        Err(e) if ctx.srv.config.file.is_none() => Err(Error::new(format!("ERR {e}"))),
        Err(e) => {
            ctx.srv.log.warning(&format!("CONFIG REWRITE failed: {e}"));
            Err(Error::new(format!("ERR Rewriting config file: {e}")))
        }
    }
}

fn config_help(ctx: &mut Ctx<'_>) -> Reply {
    ctx.help_lines(&[
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Print this help.",
    ])
}

// ---- keyspace-wide ----

fn dbsize(ctx: &mut Ctx<'_>) -> Reply {
    let n = ctx.srv.dbs[ctx.cl.db].len() as i64;
    ctx.out().int(n);
    Ok(())
}

fn flush_flags(a: &[Vec<u8>]) -> Reply {
    if a.len() > 2 || (a.len() == 2 && !is(&a[1], "ASYNC") && !is(&a[1], "SYNC")) {
        return Err(Error::syntax());
    }
    Ok(())
}

fn flushdb(ctx: &mut Ctx<'_>) -> Reply {
    flush_flags(ctx.args)?;
    let db = ctx.cl.db;
    ctx.srv.touch_all_watched_in_db(db, None, ctx.cl);
    let n = ctx.srv.dbs[db].len() as u64;
    ctx.srv.dbs[db].clear();
    ctx.dirty(n + 1);
    ctx.cl.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx<'_>) -> Reply {
    flush_flags(ctx.args)?;
    let mut n = 0;
    for db in 0..ctx.srv.dbs.len() {
        ctx.srv.touch_all_watched_in_db(db, None, ctx.cl);
        n += ctx.srv.dbs[db].len() as u64;
        ctx.srv.dbs[db].clear();
    }
    // As Redis's flushAllDataAndResetRDB: the keys removed count as changes, a save in
    // progress is abandoned, and with save points the empty dataset is saved at once, which
    // (when it succeeds) leaves rdb_changes_since_last_save at 0.
    ctx.dirty(n);
    crate::durability::save::bgsave_cancel(ctx.srv);
    if !ctx.srv.config.save_params.is_empty() {
        let _ = crate::durability::save::save_now(ctx.srv);
    }
    // forceCommandPropagation: the FLUSHALL reaches the AOF even when nothing was removed or
    // the save reset the counter (under Redis's name when called by a renamed one).
    let mut logged = ctx.args.to_vec();
    if !logged[0].eq_ignore_ascii_case(ctx.cmd.name.as_bytes()) {
        logged[0] = ctx.cmd.name.as_bytes().to_vec();
    }
    ctx.propagate(logged);
    ctx.cl.out.ok();
    Ok(())
}

fn time(ctx: &mut Ctx<'_>) -> Reply {
    let us = crate::server::unix_us();
    let out = ctx.out();
    out.array(2);
    out.bulk((us / 1_000_000).to_string().as_bytes());
    out.bulk((us % 1_000_000).to_string().as_bytes());
    Ok(())
}

fn shutdown(ctx: &mut Ctx<'_>) -> Reply {
    let mut flags = crate::durability::save::ShutdownFlags::default();
    let mut abort = false;
    for a in &ctx.args[1..] {
        if is(a, "NOSAVE") {
            flags.nosave = true;
        } else if is(a, "SAVE") {
            flags.save = true;
        } else if is(a, "NOW") {
            flags.now = true;
        } else if is(a, "FORCE") {
            flags.force = true;
        } else if is(a, "ABORT") {
            abort = true;
        } else {
            return Err(Error::syntax());
        }
    }
    if (abort && ctx.args.len() > 2) || (flags.nosave && flags.save) {
        return Err(Error::syntax());
    }
    if abort {
        return Err(Error::new("ERR No shutdown in progress."));
    }
    if !crate::durability::save::prepare_for_shutdown(ctx.srv, flags) {
        return Err(Error::new("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    ctx.srv.shutdown_asap = true;
    shutdown_notify().notify_one();
    ctx.cl.close_after_reply = true;
    Ok(())
}

// ---- DEBUG ----

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
        "populate" if (3..=5).contains(&a.len()) => {
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
        }
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
        "object" if a.len() == 3 => {
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
        }
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
        "reload" => {
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
        }
        "help" => {
            return ctx.help_lines(&[
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "LOADAOF",
                "    Flush the AOF buffers on disk and reload the AOF in memory.",
                "ASSERT",
                "    Crash by assertion failed.",
                "OBJECT <key>",
                "    Show low level info about `key` and associated value.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created in cluster mode.",
                "PANIC",
                "    Crash the server simulating a panic.",
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
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
                "HELP",
                "    Print this help.",
            ]);
        }
        _ => {
            return Err(Error::new(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                String::from_utf8_lossy(&a[1])
            )))
        }
    }
    Ok(())
}
