//! SAVE, BGSAVE, LASTSAVE and BGREWRITEAOF, with Redis 7.0's replies. The work is in
//! `crate::durability::save` and `crate::durability::aof::rewrite`.

use super::args::is;
use super::{
    Command, Ctx, Error, Reply, ADMIN, FAST, LOADING, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI, STALE,
};

pub(crate) static COMMANDS: &[Command] = &[
    Command::new(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        (0, 0, 0),
        &[],
        save,
    ),
    Command::new(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        (0, 0, 0),
        &[],
        bgsave,
    ),
    Command::new(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        (0, 0, 0),
        &[],
        bgrewriteaof,
    ),
    Command::new(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        (0, 0, 0),
        &["@admin", "@dangerous"],
        lastsave,
    ),
];

fn save(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.srv.rdb.bgsave.is_some() {
        return Err(Error::new("ERR Background save already in progress"));
    }
    match crate::durability::save::save_now(ctx.srv) {
        Ok(_) => {
            ctx.cl.out.ok();
            Ok(())
        }
        // Redis answers a failed SAVE with a bare "ERR"; the log has the reason and its code.
        Err(_) => Err(Error::new("ERR")),
    }
}

/// BGSAVE [SCHEDULE]. Inside a transaction the save is scheduled for after it, so that the
/// snapshot never holds half a transaction.
fn bgsave(ctx: &mut Ctx<'_>) -> Reply {
    let schedule = match ctx.args.len() {
        1 => false,
        2 if is(&ctx.args[1], "schedule") => true,
        _ => return Err(Error::syntax()),
    };
    if ctx.srv.rdb.bgsave.is_some() {
        return Err(Error::new("ERR Background save already in progress"));
    }
    let in_exec = ctx.cl.multi.is_some();
    let aof_rewriting = ctx.srv.aof_rewrite.running.is_some();
    if in_exec || aof_rewriting {
        if !(schedule || in_exec) {
            return Err(Error::new("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."));
        }
        ctx.srv.rdb.scheduled = true;
        ctx.cl.out.simple("Background saving scheduled");
        return Ok(());
    }
    match crate::durability::save::bgsave_start(ctx.srv) {
        Ok(()) => {
            ctx.cl.out.simple("Background saving started");
            Ok(())
        }
        Err(f) => {
            ctx.srv.log.warning(&f.log_line());
            Err(Error::new("ERR"))
        }
    }
}

fn lastsave(ctx: &mut Ctx<'_>) -> Reply {
    let t = ctx.srv.rdb.lastsave;
    ctx.out().int(t);
    Ok(())
}

/// BGREWRITEAOF, with appendonly yes or no (with no, it writes a base and a manifest naming
/// only it in appenddirname, as Redis does).
fn bgrewriteaof(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.srv.aof_rewrite.running.is_some() {
        return Err(Error::new(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    if ctx.cl.multi.is_some() || ctx.srv.rdb.bgsave.is_some() {
        ctx.srv.aof_rewrite.scheduled = true;
        ctx.srv.aof_status.rewrites_consecutive_failures = 0;
        ctx.cl
            .out
            .simple("Background append only file rewriting scheduled");
        return Ok(());
    }
    match crate::durability::aof::rewrite::start(ctx.srv) {
        Ok(()) => {
            ctx.cl
                .out
                .simple("Background append only file rewriting started");
            Ok(())
        }
        Err(e) => {
            ctx.srv.log.warning(&e);
            Err(Error::new("ERR Can't execute an AOF background rewriting. Please check the server logs for more information."))
        }
    }
}
