//! Running a compiled script or function for a client (luaCallFunction with
//! scriptPrepareForRun / scriptResetRun around it): the fake client, KEYS and ARGV, the
//! timeout hook, the reply or error, and the effects wrapped in MULTI/EXEC.

use std::ffi::{c_int, CStr};
use std::time::Instant;

use super::api::{RunCtx, RUN};
use super::convert::{error_info, reply_from_lua};
use super::ffi::*;
use crate::cmd::{Ctx, Error, Reply};

/// One invocation.
pub(crate) struct RunSpec<'a> {
    /// The registry name of the function ("f_<sha>" or the function's key).
    pub(crate) fname: &'a CStr,
    /// What error messages call it: the SHA1 of a script, the name of a function.
    pub(crate) funcname: &'a str,
    pub(crate) keys: &'a [Vec<u8>],
    pub(crate) argv: &'a [Vec<u8>],
    pub(crate) read_only: bool,
    /// EVAL (KEYS/ARGV globals) rather than FCALL (keys and args as arguments).
    pub(crate) is_eval: bool,
    /// The script declared allow-oom: its deny-oom commands run over maxmemory too.
    pub(crate) allow_oom: bool,
}

/// Runs the script and writes its reply (or returns its error).
pub(crate) fn run(ctx: &mut Ctx<'_>, spec: RunSpec<'_>) -> Reply {
    let Some(engine) = ctx.srv.scripting.engine_take(!spec.is_eval) else {
        return Err(Error::new("ERR scripting engine busy"));
    };
    let mut sc = ctx.srv.scripting.fake_client();
    sc.db = ctx.cl.db;
    // Commands the script calls are checked against the caller's ACL user.
    sc.user = ctx.cl.user.clone();
    sc.out.proto = amber_resp::Proto::Resp2;
    sc.out.buf.clear();
    let obey = ctx.cl.is_master || ctx.cl.id == crate::durability::aof::load::AOF_CLIENT_ID;
    let replica_refusal = if obey {
        None
    } else {
        crate::replication::refusal(ctx.srv, ctx.cl, true, true)
            .filter(|m| m.starts_with("READONLY"))
    };
    let mut rctx = RunCtx {
        srv: &mut *ctx.srv,
        caller_id: ctx.cl.id,
        sc: &mut *sc,
        read_only: spec.read_only,
        write_dirty: false,
        killed: false,
        is_eval: spec.is_eval,
        timed_out: false,
        start: Instant::now(),
        repl: 3,
        obey,
        replica_refusal,
        allow_oom: spec.allow_oom,
    };
    let threshold = super::busy::threshold_ms(ctx.srv);
    let propagated_before = ctx.srv.propagated.len();
    let l = engine.state();
    let outcome = {
        RUN.with(|r| r.set(&mut rctx));
        let nargs: c_int;
        unsafe {
            if threshold > 0 {
                lua_sethook(l, Some(super::busy::hook), LUA_MASKCOUNT, 100_000);
            }
            engine.push_handler();
            if spec.is_eval {
                engine.set_global_array(c"KEYS", spec.keys);
                engine.set_global_array(c"ARGV", spec.argv);
                nargs = 0;
            } else {
                nargs = 2;
            }
            let found = engine.push_function(spec.fname);
            if !found {
                lua_pushnil(l);
            }
            if !spec.is_eval {
                for items in [spec.keys, spec.argv] {
                    lua_createtable(l, items.len().min(1 << 20) as c_int, 0);
                    for (i, it) in items.iter().enumerate() {
                        push_bytes(l, it);
                        lua_rawseti_(l, -2, i as c_int + 1);
                    }
                }
            }
            let err = lua_pcall(l, nargs, 1, -2 - nargs);
            ctx.srv.scripting.calls += 1;
            if ctx.srv.scripting.calls.is_multiple_of(50) {
                engine.gc_step();
            }
            engine.collect_if_large(err == LUA_ERRMEM);
            let out = if err != 0 {
                match script_error(l, spec.funcname) {
                    // Raised by a command the script called, which counted it: the script
                    // fails without counting it again (ERR_REPLY_FLAG_NO_STATS_UPDATE).
                    (e, true) => {
                        ctx.cl.out.error(&e.0);
                        ctx.srv.reply_failed = true;
                        Ok(())
                    }
                    (e, false) => Err(e),
                }
            } else {
                let resp = sc.resp();
                let mut errs = Vec::new();
                reply_from_lua(l, &mut ctx.cl.out, resp, &mut errs);
                // An error in the reply (error_reply, a pcall's error) fails the command
                // and, unless a command counted it already, counts in the error stats.
                for e in &errs {
                    ctx.srv.reply_failed = true;
                    if let Some(msg) = e {
                        crate::cmd::count_error(ctx.srv, msg);
                    }
                }
                Ok(())
            };
            lua_pop(l, 1); // the handler
            if threshold > 0 {
                lua_sethook(l, None, 0, 0);
            }
            out
        }
    };
    RUN.with(|r| r.set(std::ptr::null_mut()));
    let timed_out = rctx.timed_out;
    ctx.srv.scripting.engine_put(engine, !spec.is_eval);
    ctx.srv.scripting.fake_put(sc);
    if timed_out {
        super::busy::end(ctx.srv, ctx.cl.id);
    }
    wrap_effects(ctx, propagated_before);
    outcome
}

/// The error a failed run replies with: "<err> script: <name>, on <source>:<line>." when
/// the handler found where, as Redis.
unsafe fn script_error(l: State, funcname: &str) -> (Error, bool) {
    unsafe {
        if lua_type(l, -1) != LUA_TTABLE {
            let msg = to_bytes(l, -1)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_else(|| "execution failure".into());
            lua_pop(l, 1);
            let short: String = msg.chars().take(100).collect();
            return (
                Error::new(format!("ERR Error running script {funcname}, {short}\n")),
                false,
            );
        }
        let info = error_info(l);
        lua_pop(l, 1);
        let mut msg = String::from_utf8_lossy(&info.msg).into_owned();
        if let (Some(line), Some(source)) = (info.line, info.source) {
            msg.push_str(&format!(" script: {funcname}, on {source}:{line}."));
        }
        (Error::new(msg), info.counted)
    }
}

/// Redis 7.0 propagates a script as its effects; more than one in a MULTI/EXEC (unless the
/// caller's own EXEC already wraps them).
fn wrap_effects(ctx: &mut Ctx<'_>, before: usize) {
    let srv = &mut *ctx.srv;
    srv.propagation_replaced = true;
    if srv.propagated.len() <= before + 1 || ctx.cl.in_multi() {
        return;
    }
    let db = srv.propagated[before].0;
    srv.propagated.insert(before, (db, vec![b"MULTI".to_vec()]));
    let last_db = srv.propagated.last().map_or(db, |p| p.0);
    srv.propagated.push((last_db, vec![b"EXEC".to_vec()]));
}
