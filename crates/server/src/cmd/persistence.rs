//! SAVE, BGSAVE and LASTSAVE, with Redis 7.0's replies. The work is in `crate::save`.

use super::args::is;
use super::{
    Command, Ctx, Error, Reply, ADMIN, FAST, LOADING, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI, STALE,
};

pub static COMMANDS: &[Command] = &[
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
    match crate::save::save_now(ctx.srv) {
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
    if in_exec {
        ctx.srv.rdb.scheduled = true;
        ctx.cl.out.simple("Background saving scheduled");
        return Ok(());
    }
    let _ = schedule;
    match crate::save::bgsave_start(ctx.srv) {
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
