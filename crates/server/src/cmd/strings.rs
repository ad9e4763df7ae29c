//! String commands: GET SET ... INCRBYFLOAT GETRANGE SETRANGE.

use amber_store::Value;

use super::{Command, Ctx, Error, Reply, DENYOOM, FAST, READONLY, WRITE};

const STR: &[&str] = &["@string"];

pub static COMMANDS: &[Command] = &[
    Command::new("get", 2, READONLY | FAST, (1, 1, 1), STR, get),
    Command::new("set", -3, WRITE | DENYOOM, (1, 1, 1), STR, set),
];

fn get(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    match ctx.srv.lookup_read(db, &ctx.args[1]).map(|e| &e.value) {
        None => ctx.cl.out.null(),
        Some(Value::Int(n)) => ctx.cl.out.bulk_i64(*n),
        Some(Value::Emb(b)) => ctx.cl.out.bulk(b),
        Some(Value::Raw(b)) => ctx.cl.out.bulk(b),
        Some(_) => return Err(Error::wrongtype()),
    }
    Ok(())
}

fn set(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    if ctx.args.len() != 3 {
        return Err(Error::syntax());
    }
    let key = &ctx.args[1];
    ctx.srv.set_key(db, key, Value::string(&ctx.args[2]), false);
    ctx.modified(db, key);
    ctx.dirty(1);
    ctx.cl.out.ok();
    Ok(())
}
