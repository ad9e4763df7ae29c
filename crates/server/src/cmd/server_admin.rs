//! Server commands: COMMAND CONFIG INFO DBSIZE FLUSHDB FLUSHALL TIME SHUTDOWN (DEBUG is in
//! debug.rs).

use super::args::is;
use super::{
    Command, Ctx, Error, Reply, ADMIN, FAST, LOADING, NOSCRIPT, NO_MULTI, READONLY, STALE, WRITE,
};
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
        "getkeys",
        -4,
        LOADING | STALE | super::SENTINEL,
        (0, 0, 0),
        &["@connection"],
        super::getkeys::command_getkeys,
    ),
    Command::new(
        "getkeysandflags",
        -4,
        LOADING | STALE | super::SENTINEL,
        (0, 0, 0),
        &["@connection"],
        super::getkeys::command_getkeysandflags,
    ),
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

pub(crate) fn acl_categories(c: &Command) -> Vec<String> {
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
        // As Redis's setImplicitACLCategories: a read-only scripting command (EVAL_RO,
        // FCALL_RO) is not @read.
        if f & bit != 0 && !(cat == "@read" && c.acl.contains(&"@scripting")) {
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
    super::getkeys::write_tips_and_key_specs(out, &super::full_name(parent, c));
    // As addReplyCommandSubCommands: no subcommands is an empty set (RESP3 `~0`).
    if c.subcommands.is_empty() {
        out.set(0);
        return;
    }
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
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
        "HELP",
        "    Prints this help.",
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

/// Sets one directive from CONFIG SET's text (several words for a multi-argument one).
fn set_directive(d: config::Dir, c: &mut Config, value: String) -> Result<(), String> {
    let values: Vec<String> = if d.flags() & config::MULTI_ARG != 0 {
        value.split_whitespace().map(str::to_string).collect()
    } else {
        vec![value]
    };
    d.set(c, &values)
}

fn config_set(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    if !a.len().is_multiple_of(2) {
        return Err(Error::new("ERR syntax error"));
    }
    let mut next: Config = ctx.srv.config.clone();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut tried: Vec<config::Dir> = Vec::new();
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
        tried.push(d);
        let mut why = set_directive(d, &mut next, value).err();
        if why.is_none() && d.name() == "dir" {
            why = std::env::set_current_dir(&next.dir)
                .err()
                .map(|e| e.to_string());
        }
        if let Some(why) = why {
            // restoreBackupConfig: Redis sets each config it tried back from the text its
            // CONFIG GET shows, which is not always what was set (notify-keyspace-events
            // "KEAn" reads back as "AKE": a failed CONFIG SET drops the n).
            for t in &tried {
                let old = t.get(&ctx.srv.config);
                let _ = set_directive(*t, &mut ctx.srv.config, old);
                if t.name() == "dir" {
                    let _ = std::env::set_current_dir(&ctx.srv.config.dir);
                }
            }
            return Err(fail(&why));
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
    let pass_change = next.requirepass != ctx.srv.config.requirepass;
    let maxmemory_change = next.maxmemory != ctx.srv.config.maxmemory;
    let old = std::mem::replace(&mut ctx.srv.config, next);
    if maxmemory_change {
        crate::evict::limit_changed(ctx.srv);
    }
    if pass_change {
        let pass = ctx.srv.config.requirepass.clone();
        crate::acl::set_default_password(ctx.srv, pass.as_deref());
    }
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
    ctx.srv.evict.reset_stats();
    ctx.srv.lazyfree.reset_stats();
    ctx.cl.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx<'_>) -> Reply {
    let users = crate::acl::file::config_user_lines(ctx.srv);
    match ctx.srv.config.rewrite(users.as_deref()) {
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
        "    Prints this help.",
    ])
}

// ---- keyspace-wide ----

fn dbsize(ctx: &mut Ctx<'_>) -> Reply {
    let n = ctx.srv.dbs[ctx.cl.db].len() as i64;
    ctx.out().int(n);
    Ok(())
}

/// getFlushCommandFlags: whether the flush frees the keys on the drop thread (ASYNC, or
/// neither option and lazyfree-lazy-user-flush yes).
fn flush_flags(srv: &crate::server::Server, a: &[Vec<u8>]) -> Result<bool, Error> {
    if a.len() > 2 || (a.len() == 2 && !is(&a[1], "ASYNC") && !is(&a[1], "SYNC")) {
        return Err(Error::syntax());
    }
    Ok(match a.get(1) {
        Some(opt) => is(opt, "ASYNC"),
        None => crate::lazyfree::is_lazy(&srv.config, crate::lazyfree::Why::UserFlush),
    })
}

fn flushdb(ctx: &mut Ctx<'_>) -> Reply {
    let lazy = flush_flags(ctx.srv, ctx.args)?;
    let db = ctx.cl.db;
    ctx.srv.touch_all_watched_in_db(db, None, ctx.cl);
    let n = ctx.srv.dbs[db].len() as u64;
    ctx.srv.empty_db(db, lazy);
    crate::tracking::invalidate_all(ctx.srv, Some(&mut *ctx.cl));
    ctx.dirty(n + 1);
    ctx.cl.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx<'_>) -> Reply {
    let lazy = flush_flags(ctx.srv, ctx.args)?;
    let mut n = 0;
    for db in 0..ctx.srv.dbs.len() {
        ctx.srv.touch_all_watched_in_db(db, None, ctx.cl);
        n += ctx.srv.dbs[db].len() as u64;
        ctx.srv.empty_db(db, lazy);
    }
    crate::tracking::invalidate_all(ctx.srv, Some(&mut *ctx.cl));
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
    let mut flags = crate::net::shutdown::ShutdownFlags::default();
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
    if !crate::net::shutdown::prepare_for_shutdown(ctx.srv, flags) {
        return Err(Error::new("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    ctx.srv.shutdown_asap = true;
    crate::net::shutdown::shutdown_notify().notify_one();
    ctx.cl.close_after_reply = true;
    Ok(())
}
