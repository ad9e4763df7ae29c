//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (eval.c): the script cache keyed by SHA1,
//! `#!lua` shebang flags, and running a cached script for a client.

use std::ffi::CString;

use super::run::{run, RunSpec};
use super::{
    sha1hex, Script, SF_ALLOW_CROSS_SLOT, SF_ALLOW_OOM, SF_ALLOW_STALE, SF_EVAL_COMPAT,
    SF_NO_CLUSTER, SF_NO_WRITES,
};
use crate::cmd::{
    Command, Ctx, Error, Reply, ALLOW_BUSY, LOADING, MAY_REPLICATE, MOVABLEKEYS, NOSCRIPT,
    NO_MANDATORY_KEYS, READONLY, SKIP_MONITOR, STALE,
};
use crate::server::Server;

const SCRIPTING: &[&str] = &["@scripting"];

pub(crate) static SCRIPT_SUBCOMMANDS: &[Command] = &[
    Command::new("exists", -3, NOSCRIPT, (0, 0, 0), SCRIPTING, script_exists),
    Command::new(
        "flush",
        -2,
        NOSCRIPT | MAY_REPLICATE,
        (0, 0, 0),
        SCRIPTING,
        script_flush,
    ),
    Command::new(
        "help",
        2,
        LOADING | STALE,
        (0, 0, 0),
        SCRIPTING,
        script_help,
    ),
    Command::new(
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        (0, 0, 0),
        SCRIPTING,
        script_kill,
    ),
    Command::new(
        "load",
        3,
        NOSCRIPT | STALE,
        (0, 0, 0),
        SCRIPTING,
        script_load,
    ),
];

const EVAL_FLAGS: u32 =
    NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | NO_MANDATORY_KEYS | STALE | MOVABLEKEYS;
const EVAL_RO_FLAGS: u32 =
    NOSCRIPT | SKIP_MONITOR | NO_MANDATORY_KEYS | STALE | READONLY | MOVABLEKEYS;

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("eval", -3, EVAL_FLAGS, (0, 0, 0), SCRIPTING, eval),
    Command::new("evalsha", -3, EVAL_FLAGS, (0, 0, 0), SCRIPTING, evalsha),
    Command::new("eval_ro", -3, EVAL_RO_FLAGS, (0, 0, 0), SCRIPTING, eval_ro),
    Command::new(
        "evalsha_ro",
        -3,
        EVAL_RO_FLAGS,
        (0, 0, 0),
        SCRIPTING,
        evalsha_ro,
    ),
    Command::container("script", -2, 0, SCRIPT_SUBCOMMANDS),
];

fn eval(ctx: &mut Ctx<'_>) -> Reply {
    eval_generic(ctx, false, false)
}
fn evalsha(ctx: &mut Ctx<'_>) -> Reply {
    eval_generic(ctx, true, false)
}
fn eval_ro(ctx: &mut Ctx<'_>) -> Reply {
    eval_generic(ctx, false, true)
}
fn evalsha_ro(ctx: &mut Ctx<'_>) -> Reply {
    eval_generic(ctx, true, true)
}

pub(crate) const NOSCRIPT_ERR: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// The numkeys argument at `at`, checked against the arguments that follow it.
pub(crate) fn numkeys(args: &[Vec<u8>], at: usize) -> Result<usize, Error> {
    let n = std::str::from_utf8(&args[at])
        .ok()
        .and_then(|s| amber_resp::parse::string2ll(s.as_bytes()))
        .ok_or_else(Error::not_int)?;
    if n > (args.len() - at - 1) as i64 {
        return Err(Error::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(Error::new("ERR Number of keys can't be negative"));
    }
    Ok(n as usize)
}

fn eval_generic(ctx: &mut Ctx<'_>, evalsha: bool, ro: bool) -> Reply {
    crate::cmd::monitor::feed_script_start(ctx);
    let nk = numkeys(ctx.args, 2)?;
    let sha = if evalsha {
        if ctx.args[1].len() != 40 {
            return Err(Error::new(NOSCRIPT_ERR));
        }
        String::from_utf8_lossy(&ctx.args[1]).to_ascii_lowercase()
    } else {
        sha1hex(&ctx.args[1])
    };
    if !ctx.srv.scripting.scripts.contains_key(&sha) {
        if evalsha {
            return Err(Error::new(NOSCRIPT_ERR));
        }
        let body = ctx.args[1].clone();
        create_script(ctx.srv, body)?;
    }
    let flags = ctx.srv.scripting.scripts.get(&sha).map_or(0, |s| s.flags);
    prepare_checks(ctx, flags, ro)?;
    let fname = CString::new(format!("f_{sha}")).map_err(|_| Error::new("ERR bad script name"))?;
    let read_only = ro || (flags & SF_EVAL_COMPAT == 0 && flags & SF_NO_WRITES != 0);
    let (keys, argv) = ctx.args[3..].split_at(nk);
    run(
        ctx,
        RunSpec {
            fname: &fname,
            funcname: &sha,
            keys,
            argv,
            read_only,
            is_eval: true,
            allow_oom: flags & SF_EVAL_COMPAT == 0 && flags & SF_ALLOW_OOM != 0,
        },
    )
}

/// scriptPrepareForRun's refusals for a script that declared its flags.
pub(crate) fn prepare_checks(ctx: &mut Ctx<'_>, flags: u32, ro: bool) -> Reply {
    if flags & SF_EVAL_COMPAT != 0 {
        return Ok(());
    }
    let obey = ctx.cl.is_master || ctx.cl.id == crate::durability::aof::load::AOF_CLIENT_ID;
    if flags & SF_NO_WRITES == 0 {
        if !obey {
            if let Some(msg) = crate::replication::refusal(ctx.srv, ctx.cl, true, true) {
                if msg.starts_with("READONLY") {
                    return Err(Error::new(
                        "READONLY Can not run script with write flag on readonly replica",
                    ));
                }
            }
            if crate::durability::save::writes_denied(ctx.srv) {
                return Err(Error::new("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts."));
            }
            if let Some(msg) = crate::durability::aof::writes_denied(ctx.srv) {
                let why = msg.rsplit("AOF error: ").next().unwrap_or("").to_string();
                return Err(Error::new(format!("MISCONF Redis is configured to persist data to AOF, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts. AOF error: {why}")));
            }
        }
        if ro {
            return Err(Error::new(
                "ERR Can not execute a script with write flag using *_ro command.",
            ));
        }
    }
    // The no-writes flag implies allow-oom.
    if ctx.srv.evict.pre_command_oom
        && ctx.srv.config.maxmemory != 0
        && flags & (SF_ALLOW_OOM | SF_NO_WRITES) == 0
    {
        return Err(Error::new("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'"));
    }
    Ok(())
}

/// evalExtractShebangFlags: the flags and how many bytes the shebang line takes (its line
/// feed stays, so line numbers do not move).
pub(crate) fn shebang_flags(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((SF_EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let parts = match amber_resp::split_args(&body[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid engine in script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!(
            "Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut flags = 0;
    for p in &parts[1..] {
        let Some(list) = p.strip_prefix(b"flags=") else {
            return Err(format!(
                "Unknown lua shebang option: {}",
                String::from_utf8_lossy(p)
            ));
        };
        for f in list.split(|&b| b == b',') {
            flags |= script_flag(f).ok_or_else(|| {
                format!(
                    "Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(f)
                )
            })?;
        }
    }
    Ok((flags, end))
}

/// A script flag by its name (scripts_flags_def).
pub(crate) fn script_flag(name: &[u8]) -> Option<u32> {
    Some(match name {
        b"no-writes" => SF_NO_WRITES,
        b"allow-oom" => SF_ALLOW_OOM,
        b"allow-stale" => SF_ALLOW_STALE,
        b"no-cluster" => SF_NO_CLUSTER,
        b"allow-cross-slot-keys" => SF_ALLOW_CROSS_SLOT,
        _ => return None,
    })
}

/// luaCreateFunction: compiles and caches `body`; returns its SHA1.
fn create_script(srv: &mut Server, body: Vec<u8>) -> Result<String, Error> {
    let sha = sha1hex(&body);
    if srv.scripting.scripts.contains_key(&sha) {
        return Ok(sha);
    }
    let (flags, skip) = shebang_flags(&body).map_err(|e| Error::new(format!("ERR {e}")))?;
    let fname = CString::new(format!("f_{sha}")).map_err(|_| Error::new("ERR bad script name"))?;
    srv.scripting
        .engine()?
        .compile(&fname, &body[skip..], c"@user_script")
        .map_err(|e| Error::new(format!("ERR Error compiling script (new function): {e}")))?;
    srv.scripting.scripts_mem += sha.len() + body.len();
    srv.scripting.scripts.insert(sha.clone(), Script { flags });
    Ok(sha)
}

fn script_load(ctx: &mut Ctx<'_>) -> Reply {
    let body = ctx.args[2].clone();
    let sha = create_script(ctx.srv, body)?;
    ctx.out().bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx<'_>) -> Reply {
    let n = ctx.args.len() - 2;
    ctx.cl.out.array(n);
    for a in &ctx.args[2..] {
        let sha = String::from_utf8_lossy(a).to_ascii_lowercase();
        let found = ctx.srv.scripting.scripts.contains_key(&sha);
        ctx.cl.out.int(i64::from(found));
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx<'_>) -> Reply {
    if !super::flush_mode_ok(ctx.args) {
        return Err(Error::new(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    let old = ctx
        .srv
        .scripting
        .flush_eval()
        .map_err(|e| Error::new(format!("ERR {e}")))?;
    if super::flush_async(ctx.srv, ctx.args) {
        let n = old.len();
        ctx.srv.lazyfree.free_many(old, n);
    }
    ctx.out().ok();
    Ok(())
}

fn script_kill(_ctx: &mut Ctx<'_>) -> Reply {
    // A script that runs answers SCRIPT KILL from inside its hook (busy.rs): here none runs.
    Err(Error::new("NOTBUSY No scripts in execution right now."))
}

fn script_help(ctx: &mut Ctx<'_>) -> Reply {
    ctx.help_lines(&[
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ])
}
