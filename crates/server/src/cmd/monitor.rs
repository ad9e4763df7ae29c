//! MONITOR: every command the server runs, as it runs, to the clients that asked, in Redis
//! 7.0's line format: `+1700000000.123456 [0 127.0.0.1:50334] "set" "k" "v"`.
//!
//! As Redis, a command is shown after it ran (so a transaction reads MULTI, its commands,
//! EXEC), in the database it left selected; administrative and SKIP_MONITOR commands are
//! never shown, nor commands replayed from the AOF or run again after blocking; passwords
//! show as "(redacted)".

use super::{Command, Ctx, Reply, ADMIN, LOADING, NOSCRIPT, STALE};
use crate::client::Client;
use crate::server::Server;

pub(crate) static COMMANDS: &[Command] = &[Command::new(
    "monitor",
    1,
    ADMIN | NOSCRIPT | LOADING | STALE,
    (0, 0, 0),
    &[],
    monitor,
)];

fn monitor(ctx: &mut Ctx<'_>) -> Reply {
    // A client that already monitors gets no reply, as in Redis.
    if ctx.cl.monitor {
        return Ok(());
    }
    ctx.cl.monitor = true;
    ctx.srv.monitors.push(ctx.cl.id);
    ctx.cl.out.ok();
    Ok(())
}

/// Redis's sdscatrepr: the argument in double quotes, escaped.
fn repr(out: &mut String, arg: &[u8]) {
    out.push('"');
    for &b in arg {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

/// Shows a command that just ran on `cl` to every monitor (replicationFeedMonitors).
pub(crate) fn feed(srv: &mut Server, cl: &mut Client, full_name: &str, args: &[Vec<u8>]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // replicationFeedMonitors: a script's commands show as "lua", not as a connection.
    let who = if cl.id == crate::scripting::SCRIPT_CLIENT_ID {
        "lua".to_string()
    } else if cl.is_unix {
        format!("unix:{}", srv.config.unixsocket)
    } else {
        cl.addr.clone()
    };
    let mut line = format!(
        "{}.{:06} [{} {}] ",
        now.as_secs(),
        now.subsec_micros(),
        cl.db,
        who
    );
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        if super::slowlog::redacted(full_name, args, i) {
            line.push_str("\"(redacted)\"");
        } else {
            repr(&mut line, a);
        }
    }
    let monitors = srv.monitors.clone();
    for id in monitors {
        super::pubsub::deliver(srv, Some(&mut *cl), id, |out| out.simple(&line));
    }
}

/// EVAL, EVALSHA, FCALL and their _RO forms show themselves to monitors when they start, so
/// the commands their script runs (shown as "lua") come after them; these commands are
/// SKIP_MONITOR for the usual feed after a command (evalCommand, fcallCommandGeneric).
pub(crate) fn feed_script_start(ctx: &mut super::dispatch::Ctx<'_>) {
    if ctx.srv.monitors.is_empty()
        || ctx.reprocessing
        || ctx.cl.id == crate::durability::aof::load::AOF_CLIENT_ID
    {
        return;
    }
    feed(ctx.srv, ctx.cl, ctx.cmd.name, ctx.args);
}

/// A client went away: it monitors no more.
pub(crate) fn forget(srv: &mut Server, cl: &Client) {
    if cl.monitor {
        srv.monitors.retain(|&id| id != cl.id);
    }
}
