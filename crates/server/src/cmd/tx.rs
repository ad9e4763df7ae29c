//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH.

use amber_store::Key;

use super::{Command, Ctx, Error, Reply, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, SKIP_SLOWLOG, STALE};
use crate::client::{Client, MultiState};
use crate::server::Server;

const TX: &[&str] = &["@transaction"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        TX,
        multi,
    ),
    Command::new(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        (0, 0, 0),
        TX,
        exec,
    ),
    Command::new(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        TX,
        discard,
    ),
    Command::new(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (1, -1, 1),
        TX,
        watch,
    ),
    Command::new(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        TX,
        unwatch,
    ),
];

fn multi(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.cl.in_multi() {
        return Err(Error::new("ERR MULTI calls can not be nested"));
    }
    ctx.cl.multi = Some(MultiState::default());
    ctx.cl.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx<'_>) -> Reply {
    if !ctx.cl.in_multi() {
        return Err(Error::new("ERR DISCARD without MULTI"));
    }
    ctx.cl.multi = None;
    unwatch_all(ctx.srv, ctx.cl);
    ctx.cl.out.ok();
    Ok(())
}

fn exec(ctx: &mut Ctx<'_>) -> Reply {
    let Some(state) = ctx.cl.multi.as_mut() else {
        return Err(Error::new("ERR EXEC without MULTI"));
    };
    if state.dirty_exec {
        ctx.cl.multi = None;
        unwatch_all(ctx.srv, ctx.cl);
        return Err(Error::new(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let queue = std::mem::take(&mut state.queue);
    if ctx.cl.dirty_cas || watched_key_expired(ctx.srv, ctx.cl) {
        ctx.cl.multi = None;
        unwatch_all(ctx.srv, ctx.cl);
        ctx.cl.out.null_array();
        return Ok(());
    }
    // Watched keys no longer matter once EXEC runs; release them first, as Redis does.
    unwatch_all(ctx.srv, ctx.cl);
    let wrap = queue.iter().any(|q| q.cmd.is_write());
    if wrap {
        ctx.srv.propagate(ctx.cl.db, vec![b"MULTI".to_vec()]);
    }
    ctx.cl.out.array(queue.len());
    for q in &queue {
        // The rules may have changed since the command was queued (ACL SETUSER).
        let c = if q.cmd.subcommands.is_empty() {
            q.cmd
        } else {
            super::subcommand(q.cmd, &q.args).unwrap_or(q.cmd)
        };
        if let Some(msg) = crate::acl::check_queued(ctx.srv, ctx.cl, c, &q.args) {
            // An error reply like any other: in the error stats, and EXEC's failed_calls
            // (Redis counts it against the next call() to end, EXEC when it is the last).
            super::count_error(ctx.srv, msg.as_bytes());
            ctx.srv.reply_failed = true;
            ctx.cl.out.error(&msg);
            continue;
        }
        super::call(ctx.srv, ctx.cl, q.cmd, &q.args, false);
    }
    if wrap {
        ctx.srv.propagate(ctx.cl.db, vec![b"EXEC".to_vec()]);
    }
    ctx.cl.multi = None;
    Ok(())
}

/// A watched key that has logically expired since WATCH makes EXEC fail (Redis 7.0).
fn watched_key_expired(srv: &mut Server, cl: &Client) -> bool {
    let now = srv.cmd_time_ms;
    cl.watched.iter().any(|(db, k)| {
        srv.dbs[*db].get(k).is_some_and(|e| e.is_expired(now)) && srv.watch_saw_live(cl.id, *db, k)
    })
}

fn watch(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.cl.in_multi() {
        return Err(Error::new("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.cl.db;
    for key in &ctx.args[1..] {
        if ctx
            .cl
            .watched
            .iter()
            .any(|(d, k)| *d == db && k.as_slice() == key.as_slice())
        {
            continue;
        }
        let k = Key::from_slice(key);
        let live = ctx.srv.dbs[db]
            .get(key)
            .is_some_and(|e| !e.is_expired(ctx.srv.cmd_time_ms));
        ctx.srv
            .watched
            .entry((db, k.clone()))
            .or_default()
            .push(ctx.cl.id);
        if live {
            ctx.srv.watch_live.insert((ctx.cl.id, db, k.clone()));
        }
        ctx.cl.watched.push((db, k));
    }
    ctx.cl.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx<'_>) -> Reply {
    unwatch_all(ctx.srv, ctx.cl);
    ctx.cl.dirty_cas = false;
    ctx.cl.out.ok();
    Ok(())
}

/// Forgets every key the client watches and clears its dirty flag.
pub(crate) fn unwatch_all(srv: &mut Server, cl: &mut Client) {
    for (db, k) in cl.watched.drain(..) {
        let key = (db, k);
        if let Some(ids) = srv.watched.get_mut(&key) {
            ids.retain(|id| *id != cl.id);
            if ids.is_empty() {
                srv.watched.remove(&key);
            }
        }
        srv.watch_live.remove(&(cl.id, key.0, key.1));
    }
    cl.dirty_cas = false;
}
