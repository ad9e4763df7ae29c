//! CLIENT subcommands that change how a connection is served (networking.c): REPLY ON|OFF|SKIP,
//! UNBLOCK [TIMEOUT|ERROR] and NO-EVICT (the tracking subcommands are in tracking/).

use super::args::{self, is};
use super::{Ctx, Error, Reply};
use crate::client::ReplyMode;

/// CLIENT REPLY ON|OFF|SKIP. OFF and SKIP reply nothing; SKIP drops the next command's reply
/// (and is ignored while replies are off).
pub(crate) fn client_reply(ctx: &mut Ctx<'_>) -> Reply {
    let a = &ctx.args[2];
    if is(a, "on") {
        ctx.cl.reply_mode = ReplyMode::On;
        ctx.cl.out.ok();
    } else if is(a, "off") {
        ctx.cl.reply_mode = ReplyMode::Off;
    } else if is(a, "skip") {
        if ctx.cl.reply_mode != ReplyMode::Off {
            ctx.cl.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(Error::syntax());
    }
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's block as its timeout would, or
/// with an -UNBLOCKED error. 1 when the client was blocked, 0 otherwise.
pub(crate) fn client_unblock(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let mut as_error = false;
    if a.len() == 4 {
        if is(&a[3], "timeout") {
            as_error = false;
        } else if is(&a[3], "error") {
            as_error = true;
        } else {
            return Err(Error::new(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    } else if a.len() != 3 {
        return Err(Error::new(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&a[1])
        )));
    }
    let id = args::int(&a[2])?;
    let target = u64::try_from(id)
        .ok()
        .and_then(|id| ctx.srv.clients.get(&id).cloned());
    let mut unblocked = false;
    if let Some(rc) = target {
        // The caller itself is borrowed (and is not blocked, since it runs a command).
        if let Ok(mut other) = rc.try_borrow_mut() {
            if let Some(b) = other.blocked.as_ref() {
                let (on_timeout, cmd, on_keys) = (b.on_timeout, b.cmd, !b.keys.is_empty());
                if on_keys {
                    ctx.srv
                        .stats
                        .commands
                        .entry(super::CmdName::of(None, cmd))
                        .or_default()
                        .calls += 1;
                }
                super::unregister_blocked(ctx.srv, &mut other);
                let mark = other.out.len();
                if as_error {
                    let msg = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
                    super::count_error(ctx.srv, msg.as_bytes());
                    other.out.error(msg);
                } else {
                    on_timeout(&mut other.out);
                }
                other.end_command(mark);
                other.notify.notify_one();
                unblocked = true;
            }
        }
    }
    ctx.out().int(i64::from(unblocked));
    Ok(())
}

/// CLIENT NO-EVICT ON|OFF: the flag (CLIENT LIST's `e`).
pub(crate) fn client_no_evict(ctx: &mut Ctx<'_>) -> Reply {
    let a = &ctx.args[2];
    if is(a, "on") {
        ctx.cl.no_evict = true;
    } else if is(a, "off") {
        ctx.cl.no_evict = false;
    } else {
        return Err(Error::syntax());
    }
    ctx.cl.out.ok();
    Ok(())
}
