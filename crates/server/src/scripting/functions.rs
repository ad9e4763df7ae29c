//! Redis 7.0 functions (functions.c, function_lua.c): libraries loaded with FUNCTION LOAD
//! from code that starts with `#!lua name=<library>` and calls redis.register_function;
//! FCALL / FCALL_RO; FUNCTION LIST, DELETE, FLUSH, DUMP, RESTORE, STATS, KILL, HELP.
//! Libraries live in their own interpreter (SCRIPT FLUSH does not touch them).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{c_int, CString};
use std::time::Instant;

use super::convert::push_error;
use super::engine::Engine;
use super::eval::{numkeys, prepare_checks, script_flag};
use super::ffi::*;
use super::run::{run, RunSpec};
use super::{SF_ALLOW_CROSS_SLOT, SF_ALLOW_OOM, SF_ALLOW_STALE, SF_NO_CLUSTER, SF_NO_WRITES};
use crate::cmd::{
    Command, Ctx, Error, Reply, ALLOW_BUSY, DENYOOM, MAY_REPLICATE, MOVABLEKEYS, NOSCRIPT,
    NO_MANDATORY_KEYS, READONLY, SKIP_MONITOR, STALE, WRITE,
};
use crate::server::Server;

/// FUNCTION LOAD's time limit for the library's top-level code (LOAD_TIMEOUT_MS).
const LOAD_TIMEOUT_MS: u128 = 500;

/// One registered function.
pub(crate) struct FunctionInfo {
    pub(crate) library: String,
    /// Its key in the interpreter's registry.
    reg: CString,
    pub(crate) flags: u32,
    pub(crate) desc: Option<Vec<u8>>,
}

/// One library: its code (shebang included) and the functions it registered, in order.
pub(crate) struct Library {
    pub(crate) code: Vec<u8>,
    pub(crate) functions: Vec<String>,
}

/// The function libraries and their interpreter.
#[derive(Default)]
pub(crate) struct Functions {
    pub(crate) libraries: BTreeMap<String, Library>,
    pub(crate) functions: BTreeMap<String, FunctionInfo>,
    /// Makes registry keys unique across loads.
    seq: u64,
}

/// What register_function collects while a library loads.
struct LoadCtx {
    start: Instant,
    timeout: bool,
    seq: u64,
    registered: Vec<(String, CString, u32, Option<Vec<u8>>)>,
}

thread_local! {
    static LOADING: RefCell<Option<LoadCtx>> = const { RefCell::new(None) };
}

fn valid_name(n: &[u8]) -> bool {
    !n.is_empty() && n.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}`.
pub(crate) unsafe extern "C-unwind" fn register_function(l: State) -> c_int {
    let loading = LOADING.with(|c| c.borrow().as_ref().map(|c| c.seq));
    let Some(seq) = loading else {
        unsafe {
            push_error(
                l,
                b"redis.register_function can only be called on FUNCTION LOAD command",
            )
        };
        unsafe { lua_error(l) }
    };
    let r = unsafe { read_register_args(l, seq) };
    match r {
        Ok(()) => 0,
        Err(msg) => {
            unsafe { push_error(l, msg.as_bytes()) };
            drop(msg);
            unsafe { lua_error(l) }
        }
    }
}

unsafe fn read_register_args(l: State, seq: u64) -> Result<(), String> {
    let argc = unsafe { lua_gettop(l) };
    if !(1..=2).contains(&argc) {
        return Err("wrong number of arguments to redis.register_function".into());
    }
    let mut name: Option<Vec<u8>> = None;
    let mut desc = None;
    let mut flags = 0;
    let mut have_cb = false;
    unsafe {
        if argc == 2 {
            if lua_isstring(l, 1) == 0 {
                return Err("first argument to redis.register_function must be a string".into());
            }
            if lua_type(l, 2) != LUA_TFUNCTION {
                return Err("second argument to redis.register_function must be a function".into());
            }
            name = to_bytes(l, 1).map(<[u8]>::to_vec);
            lua_pushvalue(l, 2);
        } else {
            if lua_type(l, 1) != LUA_TTABLE {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".into());
            }
            lua_pushnil(l);
            while lua_next(l, 1) != 0 {
                if lua_isstring(l, -2) == 0 {
                    lua_pop(l, 2);
                    return Err(
                        "named argument key given to redis.register_function is not a string"
                            .into(),
                    );
                }
                let key = to_bytes(l, -2).unwrap_or_default().to_ascii_lowercase();
                match key.as_slice() {
                    b"function_name" => {
                        if lua_isstring(l, -1) == 0 {
                            lua_pop(l, 2);
                            return Err("function_name argument given to redis.register_function must be a string".into());
                        }
                        name = to_bytes(l, -1).map(<[u8]>::to_vec);
                    }
                    b"description" => {
                        if lua_isstring(l, -1) == 0 {
                            lua_pop(l, 2);
                            return Err("description argument given to redis.register_function must be a string".into());
                        }
                        desc = to_bytes(l, -1).map(<[u8]>::to_vec);
                    }
                    b"callback" => {
                        if lua_type(l, -1) != LUA_TFUNCTION {
                            lua_pop(l, 2);
                            return Err("callback argument given to redis.register_function must be a function".into());
                        }
                        // Kept below the iteration: moved under the key.
                        lua_pushvalue(l, -1);
                        lua_insert(l, -3);
                        have_cb = true;
                    }
                    b"flags" => {
                        if lua_type(l, -1) != LUA_TTABLE {
                            lua_pop(l, 2);
                            return Err("flags argument to redis.register_function must be a table representing function flags".into());
                        }
                        match read_flags(l) {
                            Some(f) => flags = f,
                            None => {
                                lua_pop(l, 2);
                                return Err("unknown flag given".into());
                            }
                        }
                    }
                    _ => {
                        lua_pop(l, 2);
                        return Err("unknown argument given to redis.register_function".into());
                    }
                }
                lua_pop(l, 1);
            }
            let Some(_) = name else {
                return Err("redis.register_function must get a function name argument".into());
            };
            if !have_cb {
                return Err("redis.register_function must get a callback argument".into());
            }
        }
    }
    let name = name.unwrap_or_default();
    if !valid_name(&name) {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    let dup = LOADING.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|c| c.registered.iter().any(|r| r.0 == name))
    });
    if dup {
        return Err("Function already exists in the library".into());
    }
    let reg =
        CString::new(format!("fn{seq}_{name}")).map_err(|_| "bad function name".to_string())?;
    // The callback is on top of the stack.
    unsafe { lua_setfield(l, LUA_REGISTRYINDEX, reg.as_ptr()) };
    LOADING.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            c.registered.push((name, reg, flags, desc));
        }
    });
    Ok(())
}

/// The flags table on top of the stack (strings, case-insensitive); None on an unknown one.
unsafe fn read_flags(l: State) -> Option<u32> {
    let mut flags = 0;
    let mut j = 1;
    unsafe {
        loop {
            lua_rawgeti_(l, -1, j);
            j += 1;
            if lua_type(l, -1) == LUA_TNIL {
                lua_pop(l, 1);
                return Some(flags);
            }
            let f = if lua_isstring(l, -1) != 0 {
                script_flag(&to_bytes(l, -1).unwrap_or_default().to_ascii_lowercase())
            } else {
                None
            };
            lua_pop(l, 1);
            flags |= f?;
        }
    }
}

/// The hook while a library's code runs: FUNCTION LOAD timeout.
unsafe extern "C-unwind" fn load_hook(l: State, _ar: *mut lua_Debug) {
    let late = LOADING.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|c| c.timeout && c.start.elapsed().as_millis() > LOAD_TIMEOUT_MS)
    });
    if late {
        unsafe {
            push_error(l, b"FUNCTION LOAD timeout");
            lua_error(l);
        }
    }
}

/// functionExtractLibMetaData: the library name and where its code starts.
fn lib_metadata(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match amber_resp::split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(parts[0].get(2..).unwrap_or_default()).into_owned();
    let mut name = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&p[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(p)
        ));
    }
    let name = name.ok_or("Library name was not given")?;
    Ok((name, engine, end))
}

/// functionsCreateWithLibraryCtx: loads (or with `replace`, replaces) a library; its name.
pub(crate) fn create_library(
    srv: &mut Server,
    code: &[u8],
    replace: bool,
    timeout: bool,
) -> Result<String, String> {
    let (name, engine_name, skip) = lib_metadata(code)?;
    if !valid_name(name.as_bytes()) {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine_name.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine_name}' not found"));
    }
    let sc = &mut srv.scripting;
    if sc.funcs.libraries.contains_key(&name) && !replace {
        return Err(format!("Library '{name}' already exists"));
    }
    sc.funcs.seq += 1;
    let seq = sc.funcs.seq;
    let engine = sc
        .fengine
        .as_deref()
        .ok_or("the Lua engine is not available")?;
    let registered = load_code(engine, &code[skip..], seq, timeout)?;
    let drop_new = |engine: &Engine, regs: &[(String, CString, u32, Option<Vec<u8>>)]| {
        for r in regs {
            engine.drop_function(&r.1);
        }
    };
    if registered.is_empty() {
        return Err("No functions registered".into());
    }
    for r in &registered {
        if sc
            .funcs
            .functions
            .get(&r.0)
            .is_some_and(|f| f.library != name)
        {
            drop_new(engine, &registered);
            return Err(format!("Function {} already exists", r.0));
        }
    }
    if let Some(old) = sc.funcs.libraries.remove(&name) {
        for f in old.functions {
            if let Some(fi) = sc.funcs.functions.remove(&f) {
                engine.drop_function(&fi.reg);
            }
        }
    }
    let mut names = Vec::new();
    for (fname, reg, flags, desc) in registered {
        names.push(fname.clone());
        sc.funcs.functions.insert(
            fname,
            FunctionInfo {
                library: name.clone(),
                reg,
                flags,
                desc,
            },
        );
    }
    sc.funcs.libraries.insert(
        name.clone(),
        Library {
            code: code.to_vec(),
            functions: names,
        },
    );
    Ok(name)
}

/// Runs the library's top-level code; what it registered.
#[allow(clippy::type_complexity)]
fn load_code(
    engine: &Engine,
    body: &[u8],
    seq: u64,
    timeout: bool,
) -> Result<Vec<(String, CString, u32, Option<Vec<u8>>)>, String> {
    let l = engine.state();
    unsafe {
        if luaL_loadbuffer(
            l,
            body.as_ptr().cast(),
            body.len(),
            c"@user_function".as_ptr(),
        ) != 0
        {
            let msg = to_bytes(l, -1)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            lua_pop(l, 1);
            return Err(format!("Error compiling function: {msg}"));
        }
    }
    LOADING.with(|c| {
        *c.borrow_mut() = Some(LoadCtx {
            start: Instant::now(),
            timeout,
            seq,
            registered: Vec::new(),
        })
    });
    engine.set_library_globals(true);
    let err = unsafe {
        lua_sethook(l, Some(load_hook), LUA_MASKCOUNT, 100_000);
        let e = lua_pcall(l, 0, 0, 0);
        lua_sethook(l, None, 0, 0);
        engine.set_library_globals(false);
        if e != 0 {
            let msg = if lua_type(l, -1) == LUA_TTABLE {
                let info = super::convert::error_info(l);
                String::from_utf8_lossy(&info.msg).into_owned()
            } else {
                // luaExtractErrorInformation: a plain string gets "ERR ".
                let s = to_bytes(l, -1).map(|b| String::from_utf8_lossy(b).into_owned());
                format!("ERR {}", s.unwrap_or_default())
            };
            lua_pop(l, 1);
            Some(msg)
        } else {
            None
        }
    };
    let ctx = LOADING.with(|c| c.borrow_mut().take());
    let registered = ctx.map(|c| c.registered).unwrap_or_default();
    if let Some(msg) = err {
        for r in &registered {
            engine.drop_function(&r.1);
        }
        return Err(format!("Error registering functions: {msg}"));
    }
    Ok(registered)
}

const FUNCTION_FLAGS: u32 =
    NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | NO_MANDATORY_KEYS | STALE | MOVABLEKEYS;
const FUNCTION_RO_FLAGS: u32 =
    NOSCRIPT | SKIP_MONITOR | NO_MANDATORY_KEYS | STALE | READONLY | MOVABLEKEYS;
const SCRIPTING: &[&str] = &["@scripting"];

static SUBCOMMANDS: &[Command] = &[
    Command::new(
        "delete",
        3,
        NOSCRIPT | WRITE,
        (0, 0, 0),
        SCRIPTING,
        function_delete,
    ),
    Command::new("dump", 2, NOSCRIPT, (0, 0, 0), SCRIPTING, function_dump),
    Command::new(
        "flush",
        -2,
        NOSCRIPT | WRITE,
        (0, 0, 0),
        SCRIPTING,
        function_flush,
    ),
    Command::new(
        "help",
        2,
        super::super::cmd::LOADING | STALE,
        (0, 0, 0),
        SCRIPTING,
        function_help,
    ),
    Command::new(
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        (0, 0, 0),
        SCRIPTING,
        function_kill,
    ),
    Command::new("list", -2, NOSCRIPT, (0, 0, 0), SCRIPTING, function_list),
    Command::new(
        "load",
        -3,
        NOSCRIPT | WRITE | DENYOOM,
        (0, 0, 0),
        SCRIPTING,
        function_load,
    ),
    Command::new(
        "restore",
        -3,
        NOSCRIPT | WRITE | DENYOOM,
        (0, 0, 0),
        SCRIPTING,
        function_restore,
    ),
    Command::new(
        "stats",
        2,
        NOSCRIPT | ALLOW_BUSY,
        (0, 0, 0),
        SCRIPTING,
        function_stats,
    ),
];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("fcall", -3, FUNCTION_FLAGS, (0, 0, 0), SCRIPTING, fcall),
    Command::new(
        "fcall_ro",
        -3,
        FUNCTION_RO_FLAGS,
        (0, 0, 0),
        SCRIPTING,
        fcall_ro,
    ),
    Command::container("function", -2, 0, SUBCOMMANDS),
];

fn fcall(ctx: &mut Ctx<'_>) -> Reply {
    fcall_generic(ctx, false)
}
fn fcall_ro(ctx: &mut Ctx<'_>) -> Reply {
    fcall_generic(ctx, true)
}

fn fcall_generic(ctx: &mut Ctx<'_>, ro: bool) -> Reply {
    crate::cmd::monitor::feed_script_start(ctx);
    let name = String::from_utf8_lossy(&ctx.args[1]).into_owned();
    let Some(f) = ctx.srv.scripting.funcs.functions.get(&name) else {
        return Err(Error::new("ERR Function not found"));
    };
    let (flags, reg) = (f.flags, f.reg.clone());
    let nk = numkeys(ctx.args, 2).map_err(|e| {
        if e.0.starts_with("ERR value is not an integer") {
            Error::new("ERR Bad number of keys provided")
        } else {
            e
        }
    })?;
    prepare_checks(ctx, flags, ro)?;
    let read_only = ro || flags & SF_NO_WRITES != 0;
    let (keys, argv) = ctx.args[3..].split_at(nk);
    run(
        ctx,
        RunSpec {
            fname: &reg,
            funcname: &name,
            keys,
            argv,
            read_only,
            is_eval: false,
            allow_oom: flags & SF_ALLOW_OOM != 0,
        },
    )
}

fn function_load(ctx: &mut Ctx<'_>) -> Reply {
    let mut replace = false;
    let mut i = 2;
    while i < ctx.args.len() - 1 {
        if ctx.args[i].eq_ignore_ascii_case(b"replace") {
            replace = true;
            i += 1;
            continue;
        }
        return Err(Error::new(format!(
            "ERR Unknown option given: {}",
            String::from_utf8_lossy(&ctx.args[i])
        )));
    }
    if i >= ctx.args.len() {
        return Err(Error::new("ERR Function code is missing"));
    }
    let obey = ctx.cl.is_master || ctx.cl.id == crate::durability::aof::load::AOF_CLIENT_ID;
    let code = ctx.args[i].clone();
    let name = create_library(ctx.srv, &code, replace, !obey)
        .map_err(|e| Error::new(format!("ERR {e}")))?;
    ctx.dirty(1);
    ctx.out().bulk(name.as_bytes());
    Ok(())
}

fn function_delete(ctx: &mut Ctx<'_>) -> Reply {
    let name = String::from_utf8_lossy(&ctx.args[2]).into_owned();
    let sc = &mut ctx.srv.scripting;
    let Some(lib) = sc.funcs.libraries.remove(&name) else {
        return Err(Error::new("ERR Library not found"));
    };
    for f in lib.functions {
        if let (Some(fi), Some(e)) = (sc.funcs.functions.remove(&f), sc.fengine.as_deref()) {
            e.drop_function(&fi.reg);
        }
    }
    ctx.dirty(1);
    ctx.out().ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx<'_>) -> Reply {
    // As functionFlushCommand: too many arguments is a subcommand syntax error, a wrong mode
    // the SYNC|ASYNC one.
    if ctx.args.len() > 3 {
        return Err(crate::cmd::streams::subcommand_syntax(
            "FUNCTION",
            &ctx.args[1],
        ));
    }
    if !super::flush_mode_ok(ctx.args) {
        return Err(Error::new(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    let old = ctx
        .srv
        .scripting
        .flush_functions()
        .map_err(|e| Error::new(format!("ERR {e}")))?;
    if super::flush_async(ctx.srv, ctx.args) {
        let n = old.functions.len();
        ctx.srv.lazyfree.free_many(old, n);
    }
    ctx.dirty(1);
    ctx.out().ok();
    Ok(())
}

fn function_kill(_ctx: &mut Ctx<'_>) -> Reply {
    // A running function answers FUNCTION KILL from its hook (busy.rs): here none runs.
    Err(Error::new("NOTBUSY No scripts in execution right now."))
}

fn function_stats(ctx: &mut Ctx<'_>) -> Reply {
    let (libs, funcs) = (
        ctx.srv.scripting.funcs.libraries.len(),
        ctx.srv.scripting.funcs.functions.len(),
    );
    let out = &mut ctx.cl.out;
    out.map(2);
    out.bulk(b"running_script");
    out.null();
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(funcs as i64);
    Ok(())
}

fn function_list(ctx: &mut Ctx<'_>) -> Reply {
    let mut with_code = false;
    let mut pattern: Option<Vec<u8>> = None;
    let mut i = 2;
    while i < ctx.args.len() {
        let a = &ctx.args[i];
        if !with_code && a.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
            if i >= ctx.args.len() - 1 {
                return Err(Error::new("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(ctx.args[i].clone());
        } else {
            return Err(Error::new(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let funcs = &ctx.srv.scripting.funcs;
    let libs: Vec<(&String, &Library)> = funcs
        .libraries
        .iter()
        .filter(|(n, _)| {
            pattern
                .as_ref()
                .is_none_or(|p| crate::cmd::glob::matches(p, n.as_bytes(), true))
        })
        .collect();
    let out = &mut ctx.cl.out;
    out.array(libs.len());
    for (name, lib) in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            let Some(fi) = funcs.functions.get(f) else {
                continue;
            };
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.as_bytes());
            out.bulk(b"description");
            match &fi.desc {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names = flag_names(fi.flags);
            out.set(names.len());
            for n in names {
                out.simple(n);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

/// The flags' names in scripts_flags_def order.
fn flag_names(flags: u32) -> Vec<&'static str> {
    [
        (SF_NO_WRITES, "no-writes"),
        (SF_ALLOW_OOM, "allow-oom"),
        (SF_ALLOW_STALE, "allow-stale"),
        (SF_NO_CLUSTER, "no-cluster"),
        (SF_ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ]
    .iter()
    .filter(|(f, _)| flags & f != 0)
    .map(|(_, n)| *n)
    .collect()
}

/// FUNCTION DUMP's payload: each library as RDB_OPCODE_FUNCTION2 + its code, then the RDB
/// version and CRC64 as a DUMP payload.
fn function_dump(ctx: &mut Ctx<'_>) -> Reply {
    let codes: Vec<&[u8]> = ctx
        .srv
        .scripting
        .funcs
        .libraries
        .values()
        .map(|l| l.code.as_slice())
        .collect();
    let opts = amber_persist::rdb::EncodeOptions {
        compression: ctx.srv.config.rdbcompression,
        checksum: true,
    };
    let payload = amber_persist::rdb::dump::create_function_dump(&codes, &opts);
    ctx.out().bulk(&payload);
    Ok(())
}

fn function_restore(ctx: &mut Ctx<'_>) -> Reply {
    let policy =
        match ctx.args.get(3) {
            None => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"flush") => Policy::Flush,
            Some(p) if p.eq_ignore_ascii_case(b"append") => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"replace") => Policy::Replace,
            Some(_) => return Err(Error::new(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    use amber_persist::rdb::dump::{read_function_dump, FunctionDumpError};
    let codes = read_function_dump(&ctx.args[2]).map_err(|e| {
        Error::new(match e {
            FunctionDumpError::Footer => "ERR DUMP payload version or checksum are wrong",
            FunctionDumpError::NotAFunction => "ERR given type is not a function",
            FunctionDumpError::Malformed => "ERR failed loading the given functions payload",
        })
    })?;
    restore_libraries(ctx.srv, codes, policy).map_err(|e| Error::new(format!("ERR {e}")))?;
    ctx.dirty(1);
    ctx.out().ok();
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Policy {
    Flush,
    Append,
    Replace,
}

/// Loads `codes` as FUNCTION RESTORE does: FLUSH first, APPEND refusing any existing
/// library or function, REPLACE replacing same-named libraries; all or nothing.
pub(crate) fn restore_libraries(
    srv: &mut Server,
    codes: Vec<Vec<u8>>,
    policy: Policy,
) -> Result<(), String> {
    let saved: Vec<Vec<u8>> = srv
        .scripting
        .funcs
        .libraries
        .values()
        .map(|l| l.code.clone())
        .collect();
    if policy == Policy::Flush {
        srv.scripting.flush_functions()?;
    }
    let mut result = Ok(());
    for code in &codes {
        if let Err(e) = create_library(srv, code, policy == Policy::Replace, false) {
            result = Err(e);
            break;
        }
    }
    if result.is_err() {
        // Back to what was there.
        srv.scripting.flush_functions()?;
        for code in &saved {
            let _ = create_library(srv, code, false, false);
        }
    }
    result
}

fn function_help(ctx: &mut Ctx<'_>) -> Reply {
    ctx.help_lines(&[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ])
}
