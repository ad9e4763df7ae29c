//! The `redis` table scripts see (script_lua.c's luaRegisterRedisAPI): call, pcall, log,
//! setresp, sha1hex, error_reply, status_reply, set_repl, replicate_commands, breakpoint,
//! debug, acl_check_cmd, the LOG_* and REPL_* constants and the version; and
//! math.random / math.randomseed on Redis's own generator.
//!
//! A command a script runs goes through `cmd::call` on the script's fake client, after the
//! checks of Redis's scriptCall (arity, deny-script, read-only scripts, writes refused on a
//! read-only replica or after a failed save).

use std::cell::Cell;
use std::ffi::c_int;
use std::time::Instant;

use super::convert::{push_error, push_reply};
use super::ffi::*;
use crate::client::Client;
use crate::cmd::{self, Command, DENYOOM, MAY_REPLICATE, NOSCRIPT, WRITE};
use crate::server::Server;

/// What a running script may touch. Lives on the stack of the EVAL / FCALL handler while
/// the script runs; `RUN` points at it meanwhile.
pub(crate) struct RunCtx {
    pub(crate) srv: *mut Server,
    pub(crate) caller_id: u64,
    pub(crate) sc: *mut Client,
    /// EVAL_RO / FCALL_RO or a no-writes script.
    pub(crate) read_only: bool,
    /// A write command ran: the script can no longer be killed.
    pub(crate) write_dirty: bool,
    pub(crate) killed: bool,
    pub(crate) is_eval: bool,
    pub(crate) timed_out: bool,
    pub(crate) start: Instant,
    /// redis.set_repl flags (REPL_AOF | REPL_REPLICA).
    pub(crate) repl: u8,
    /// The caller is the master or the AOF: never refused, never killed.
    pub(crate) obey: bool,
    /// Why this replica refuses writes from the caller (replica-read-only), if it does.
    pub(crate) replica_refusal: Option<String>,
    /// The script declared allow-oom (scriptVerifyOOM lets everything through).
    pub(crate) allow_oom: bool,
}

thread_local! {
    pub(crate) static RUN: Cell<*mut RunCtx> = const { Cell::new(std::ptr::null_mut()) };
    static RAND: Cell<u64> = const { Cell::new(0x1234_ABCD_330E) };
}

pub(crate) fn running() -> Option<*mut RunCtx> {
    let p = RUN.with(|r| r.get());
    (!p.is_null()).then_some(p)
}

const REPL_AOF: u8 = 1;
const REPL_REPLICA: u8 = 2;

/// Registers the `redis` global and Redis's math.random.
pub(crate) unsafe fn register(l: State) {
    unsafe {
        lua_newtable(l);
        let fns: [(&std::ffi::CStr, lua_CFunction); 12] = [
            (c"call", redis_call),
            (c"pcall", redis_pcall),
            (c"log", redis_log),
            (c"setresp", redis_setresp),
            (c"sha1hex", redis_sha1hex),
            (c"error_reply", redis_error_reply),
            (c"status_reply", redis_status_reply),
            (c"set_repl", redis_set_repl),
            (c"replicate_commands", redis_replicate_commands),
            (c"breakpoint", redis_breakpoint),
            (c"debug", redis_debug),
            (c"acl_check_cmd", redis_acl_check_cmd),
        ];
        for (name, f) in fns.iter() {
            lua_pushcfunction(l, *f);
            set_field(l, -1, name);
        }
        for (name, v) in [
            (c"REPL_NONE", 0.0),
            (c"REPL_AOF", 1.0),
            (c"REPL_SLAVE", 2.0),
            (c"REPL_REPLICA", 2.0),
            (c"REPL_ALL", 3.0),
        ] {
            lua_pushnumber(l, v);
            set_field(l, -1, name);
        }
        register_log_and_version(l);
        lua_setglobal(l, c"redis".as_ptr());
        lua_getglobal(l, c"math".as_ptr());
        lua_pushcfunction(l, math_random);
        set_field(l, -1, c"random");
        lua_pushcfunction(l, math_randomseed);
        set_field(l, -1, c"randomseed");
        lua_pop(l, 1);
    }
}

/// redis.log, the LOG_* levels and the version, into the table on top of the stack
/// (luaRegisterLogFunction + luaRegisterVersion: also what a loading library sees).
pub(crate) unsafe fn register_log_and_version(l: State) {
    unsafe {
        lua_pushcfunction(l, redis_log);
        set_field(l, -1, c"log");
        for (name, v) in [
            (c"LOG_DEBUG", 0.0),
            (c"LOG_VERBOSE", 1.0),
            (c"LOG_NOTICE", 2.0),
            (c"LOG_WARNING", 3.0),
            (c"REDIS_VERSION_NUM", 0x07000f as f64),
        ] {
            lua_pushnumber(l, v);
            set_field(l, -1, name);
        }
        push_str(l, "7.0.15");
        set_field(l, -1, c"REDIS_VERSION");
    }
}

/// Raises Redis's error table for `msg` (luaPushError + luaError).
unsafe fn raise_error(l: State, msg: &str) -> c_int {
    unsafe {
        push_error(l, msg.as_bytes());
        lua_error(l)
    }
}

unsafe extern "C-unwind" fn redis_call(l: State) -> c_int {
    unsafe { generic_call(l, true) }
}

unsafe extern "C-unwind" fn redis_pcall(l: State) -> c_int {
    unsafe { generic_call(l, false) }
}

/// What a call left for Lua: the reply bytes, or a refusal text (luaPushError's input).
enum Outcome {
    Reply(Vec<u8>),
    Refused(String),
}

/// luaRedisGenericCommand.
unsafe fn generic_call(l: State, raise: bool) -> c_int {
    let Some(ctx) = running() else {
        return unsafe {
            raise_error(
                l,
                "redis.call/pcall can only be called inside a script invocation",
            )
        };
    };
    let outcome = {
        let argc = unsafe { lua_gettop(l) };
        if argc == 0 {
            Outcome::Refused("Please specify at least one argument for this redis lib call".into())
        } else {
            let mut args: Vec<Vec<u8>> = Vec::with_capacity(argc as usize);
            for j in 1..=argc {
                unsafe {
                    if lua_type(l, j) == LUA_TNUMBER {
                        let d = lua_tonumber(l, j);
                        args.push(amber_resp::reply::format_g(d, 17).into_bytes());
                    } else if lua_type(l, j) == LUA_TSTRING {
                        args.push(to_bytes(l, j).unwrap_or_default().to_vec());
                    } else {
                        break;
                    }
                }
            }
            unsafe { lua_settop(l, 0) };
            if args.len() != argc as usize {
                Outcome::Refused(
                    "Lua redis lib command arguments must be strings or integers".into(),
                )
            } else {
                // SAFETY: the context lives on the handler's stack for the whole run.
                execute(unsafe { &mut *ctx }, args)
            }
        }
    };
    match outcome {
        Outcome::Refused(msg) => {
            unsafe {
                push_error(l, msg.as_bytes());
                lua_pushboolean(l, 1);
                set_field(l, -1, c"ignore_error_stats_update");
            }
            drop(msg);
            if raise {
                unsafe { lua_error(l) }
            } else {
                1
            }
        }
        Outcome::Reply(bytes) => {
            let is_err = bytes.first() == Some(&b'-');
            unsafe { push_reply(l, &bytes) };
            drop(bytes);
            if raise && is_err {
                unsafe { lua_error(l) }
            } else {
                1
            }
        }
    }
}

/// Looks a command up as Redis's lookupCommand does for scripts: a container needs a known
/// subcommand.
fn lookup(srv: &Server, args: &[Vec<u8>]) -> Option<(&'static Command, &'static Command)> {
    let top = srv.commands.lookup(&args[0])?;
    if top.subcommands.is_empty() || (args.len() == 1 && top.arity == -1) {
        return Some((top, top));
    }
    let sub = cmd::subcommand(top, args)?;
    Some((top, sub))
}

/// scriptCall: the checks, then the command on the fake client; its reply bytes.
fn execute(ctx: &mut RunCtx, args: Vec<Vec<u8>>) -> Outcome {
    // SAFETY: both pointers are valid for the run; nothing else uses them meanwhile.
    let srv = unsafe { &mut *ctx.srv };
    let sc = unsafe { &mut *ctx.sc };
    let Some((top, c)) = lookup(srv, &args) else {
        return Outcome::Refused("Unknown Redis command called from script".into());
    };
    let argc = args.len() as i32;
    if (c.arity > 0 && c.arity != argc) || argc < -c.arity {
        return Outcome::Refused("Wrong number of args calling Redis command from script".into());
    }
    if (c.flags | top.flags) & NOSCRIPT != 0 {
        return Outcome::Refused("This Redis command is not allowed from script".into());
    }
    if !ctx.obey {
        if let Some(msg) = crate::acl::check_script_call(srv, sc, c, &args) {
            return Outcome::Refused(msg);
        }
    }
    let flags = c.flags | top.flags;
    if ctx.read_only && flags & (WRITE | MAY_REPLICATE) != 0 {
        return Outcome::Refused("Write commands are not allowed from read-only scripts.".into());
    }
    if flags & WRITE != 0 && !ctx.write_dirty {
        if let Some(msg) = &ctx.replica_refusal {
            return Outcome::Refused(format!("-{msg}"));
        }
        if crate::durability::save::writes_denied(srv) {
            return Outcome::Refused(format!("-{}", crate::durability::save::MISCONF));
        }
        if let Some(msg) = crate::durability::aof::writes_denied(srv) {
            return Outcome::Refused(format!("-{msg}"));
        }
    }
    // scriptVerifyOOM: over maxmemory when the script started, its first deny-oom command
    // is refused, unless it wrote already (it cannot be stopped half way then).
    if flags & DENYOOM != 0
        && !ctx.allow_oom
        && !ctx.obey
        && !ctx.write_dirty
        && srv.config.maxmemory != 0
        && srv.evict.pre_command_oom
    {
        return Outcome::Refused(format!("-{}", crate::evict::OOM));
    }
    if flags & WRITE != 0 {
        ctx.write_dirty = true;
    }
    sc.out.buf.clear();
    let before = srv.propagated.len();
    cmd::call(srv, sc, top, &args, false);
    if ctx.repl & (REPL_AOF | REPL_REPLICA) == 0 {
        // redis.set_repl(redis.REPL_NONE): the effects are not replicated.
        srv.propagated.truncate(before);
    }
    Outcome::Reply(std::mem::take(&mut sc.out.buf))
}

unsafe extern "C-unwind" fn redis_sha1hex(l: State) -> c_int {
    unsafe {
        if lua_gettop(l) != 1 {
            return raise_error(l, "wrong number of arguments");
        }
        let hex = {
            let b = to_bytes(l, 1).unwrap_or_default();
            super::sha1hex(b)
        };
        push_str(l, &hex);
        drop(hex);
        1
    }
}

unsafe extern "C-unwind" fn redis_error_reply(l: State) -> c_int {
    unsafe {
        if lua_gettop(l) != 1 || lua_type(l, -1) != LUA_TSTRING {
            push_error(l, b"wrong number or type of arguments");
            return 1;
        }
        let e = {
            let s = to_bytes(l, -1).unwrap_or_default();
            let mut e = Vec::with_capacity(s.len() + 1);
            if s.first() != Some(&b'-') {
                e.push(b'-');
            }
            e.extend_from_slice(s);
            e
        };
        push_error(l, &e);
        drop(e);
        1
    }
}

unsafe extern "C-unwind" fn redis_status_reply(l: State) -> c_int {
    unsafe {
        if lua_gettop(l) != 1 || lua_type(l, -1) != LUA_TSTRING {
            push_error(l, b"wrong number or type of arguments");
            return 1;
        }
        lua_newtable(l);
        lua_pushvalue(l, -2);
        set_field(l, -1, c"ok");
        1
    }
}

unsafe extern "C-unwind" fn redis_set_repl(l: State) -> c_int {
    let Some(ctx) = running() else {
        return unsafe {
            raise_error(
                l,
                "redis.set_repl can only be called inside a script invocation",
            )
        };
    };
    unsafe {
        if lua_gettop(l) != 1 {
            return raise_error(l, "redis.set_repl() requires two arguments.");
        }
        let flags = lua_number_to_i64(lua_tonumber(l, -1));
        if flags & !3 != 0 {
            return raise_error(
                l,
                "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
            );
        }
        (*ctx).repl = flags as u8;
    }
    0
}

unsafe extern "C-unwind" fn redis_replicate_commands(l: State) -> c_int {
    // Redis 7.0 always replicates effects: kept for old scripts, always true.
    unsafe { lua_pushboolean(l, 1) };
    1
}

unsafe extern "C-unwind" fn redis_breakpoint(l: State) -> c_int {
    // Only the Lua debugger stops here; outside it Redis returns false.
    unsafe { lua_pushboolean(l, 0) };
    1
}

unsafe extern "C-unwind" fn redis_debug(_l: State) -> c_int {
    // Logs to the Lua debugger only; outside it, nothing.
    0
}

unsafe extern "C-unwind" fn redis_acl_check_cmd(l: State) -> c_int {
    let Some(ctx) = running() else {
        return unsafe {
            raise_error(
                l,
                "redis.acl_check_cmd can only be called inside a script invocation",
            )
        };
    };
    let found = unsafe {
        let argc = lua_gettop(l);
        if argc == 0 {
            return raise_error(
                l,
                "Please specify at least one argument for this redis lib call",
            );
        }
        let mut args = Vec::new();
        for j in 1..=argc {
            args.push(to_bytes(l, j).unwrap_or_default().to_vec());
        }
        lookup(&*(*ctx).srv, &args).is_some()
    };
    unsafe {
        if !found {
            return raise_error(l, "Invalid command passed to redis.acl_check_cmd()");
        }
        // Every client is the default user, who may run everything.
        lua_pushboolean(l, 1);
    }
    1
}

unsafe extern "C-unwind" fn redis_log(l: State) -> c_int {
    unsafe {
        let argc = lua_gettop(l);
        if argc < 2 {
            return raise_error(l, "redis.log() requires two arguments or more.");
        }
        if lua_isnumber(l, 1) == 0 {
            return raise_error(l, "First argument must be a number (log level).");
        }
        let level = lua_number_to_i64(lua_tonumber(l, 1));
        if !(0..=3).contains(&level) {
            return raise_error(l, "Invalid debug level.");
        }
        if let Some(ctx) = running() {
            let mut text = String::new();
            for j in 2..=argc {
                if let Some(b) = to_bytes(l, j) {
                    if j != 2 {
                        text.push(' ');
                    }
                    text.push_str(&String::from_utf8_lossy(b));
                }
            }
            let lvl = match level {
                0 => crate::config::LogLevel::Debug,
                1 => crate::config::LogLevel::Verbose,
                2 => crate::config::LogLevel::Notice,
                _ => crate::config::LogLevel::Warning,
            };
            (*(*ctx).srv).log.log(lvl, &text);
        }
    }
    0
}

unsafe extern "C-unwind" fn redis_setresp(l: State) -> c_int {
    let Some(ctx) = running() else {
        return unsafe {
            raise_error(
                l,
                "redis.setresp can only be called inside a script invocation",
            )
        };
    };
    unsafe {
        if lua_gettop(l) != 1 {
            return raise_error(l, "redis.setresp() requires one argument.");
        }
        let resp = lua_number_to_i64(lua_tonumber(l, 1));
        if resp != 2 && resp != 3 {
            return raise_error(l, "RESP version must be 2 or 3.");
        }
        (*(*ctx).sc).out.proto = if resp == 3 {
            amber_resp::Proto::Resp3
        } else {
            amber_resp::Proto::Resp2
        };
    }
    0
}

/// Redis's redisLrand48 (rand.c): the 48-bit generator of drand48, the same sequence on
/// every platform.
fn lrand48() -> i32 {
    RAND.with(|r| {
        let x = r.get().wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & ((1 << 48) - 1);
        r.set(x);
        (x >> 17) as i32
    })
}

pub(crate) fn srand48(seed: i32) {
    RAND.with(|r| r.set((((seed as u32) as u64) << 16) | 0x330E));
}

unsafe fn random_body(l: State) -> LibResult {
    if running().is_none() {
        return Err("math.random can only be called inside a script invocation".into());
    }
    let r = f64::from(lrand48() % i32::MAX) / f64::from(i32::MAX);
    unsafe {
        match lua_gettop(l) {
            0 => lua_pushnumber(l, r),
            1 => {
                let u = check_number(l, 1, "random")? as i32;
                if u < 1 {
                    return Err("bad argument #1 to 'random' (interval is empty)".into());
                }
                lua_pushnumber(l, (r * f64::from(u)).floor() + 1.0);
            }
            2 => {
                let lo = check_number(l, 1, "random")? as i32;
                let up = check_number(l, 2, "random")? as i32;
                if lo > up {
                    return Err("bad argument #2 to 'random' (interval is empty)".into());
                }
                lua_pushnumber(
                    l,
                    (r * (f64::from(up) - f64::from(lo) + 1.0)).floor() + f64::from(lo),
                );
            }
            _ => return Err("wrong number of arguments".into()),
        }
    }
    Ok(1)
}
lua_fn!(math_random, random_body);

unsafe fn randomseed_body(l: State) -> LibResult {
    if running().is_none() {
        return Err("math.randomseed can only be called inside a script invocation".into());
    }
    let seed = unsafe { check_number(l, 1, "randomseed")? } as i32;
    srand48(seed);
    Ok(0)
}
lua_fn!(math_randomseed, randomseed_body);
