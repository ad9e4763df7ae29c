//! SYNC, PSYNC, REPLCONF, REPLICAOF, FAILOVER, WAIT and ROLE: the command table's side of replication; the
//! work is in `crate::replication` (see its drawing).

use super::{
    Command, Ctx, Reply, ADMIN, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI,
    STALE,
};

pub(crate) static COMMANDS: &[Command] = &[
    Command::new(
        "sync",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        (0, 0, 0),
        &[],
        sync,
    ),
    Command::new(
        "psync",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        (0, 0, 0),
        &[],
        psync,
    ),
    Command::new(
        "replconf",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
        (0, 0, 0),
        &[],
        replconf,
    ),
    Command::new(
        "replicaof",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        (0, 0, 0),
        &[],
        replicaof,
    ),
    Command::new(
        "slaveof",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        (0, 0, 0),
        &[],
        replicaof,
    ),
    Command::new(
        "failover",
        -1,
        ADMIN | NOSCRIPT | STALE,
        (0, 0, 0),
        &[],
        failover,
    ),
    Command::new("wait", 3, NOSCRIPT, (0, 0, 0), &["@connection"], wait),
    Command::new(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        (0, 0, 0),
        &["@admin", "@dangerous"],
        role,
    ),
];

fn failover(ctx: &mut Ctx<'_>) -> Reply {
    crate::replication::failover::command(ctx)
}

fn wait(ctx: &mut Ctx<'_>) -> Reply {
    crate::replication::master::wait(ctx)
}

fn role(ctx: &mut Ctx<'_>) -> Reply {
    crate::replication::role(ctx.srv, &mut ctx.cl.out);
    Ok(())
}

fn replicaof(ctx: &mut Ctx<'_>) -> Reply {
    crate::replication::replica::replicaof(ctx)
}

fn replconf(ctx: &mut Ctx<'_>) -> Reply {
    crate::replication::master::replconf(ctx)
}

fn sync(ctx: &mut Ctx<'_>) -> Reply {
    crate::replication::master::sync_command(ctx, false)
}

fn psync(ctx: &mut Ctx<'_>) -> Reply {
    crate::replication::master::sync_command(ctx, true)
}
