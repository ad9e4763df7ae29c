//! Keyspace commands: DEL UNLINK EXISTS TYPE RENAME ... EXPIRE TTL PERSIST.

use super::{Command, Ctx, Reply, FAST, READONLY, WRITE};

const KS: &[&str] = &["@keyspace"];

pub static COMMANDS: &[Command] = &[
    Command::new("del", -2, WRITE, (1, -1, 1), KS, del),
    Command::new("unlink", -2, WRITE | FAST, (1, -1, 1), KS, del),
    Command::new("exists", -2, READONLY | FAST, (1, -1, 1), KS, exists),
];

fn del(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let mut n = 0;
    for k in &ctx.args[1..] {
        if ctx.srv.delete_key(db, k) {
            ctx.modified(db, k);
            ctx.dirty(1);
            n += 1;
        }
    }
    ctx.out().int(n);
    Ok(())
}

fn exists(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let mut n = 0;
    for k in &ctx.args[1..] {
        if ctx.srv.lookup_read(db, k).is_some() {
            n += 1;
        }
    }
    ctx.out().int(n);
    Ok(())
}
