//! Lua scripting as Redis 7.0: EVAL and its family, SCRIPT, the `redis` API inside scripts,
//! and the sandbox. Lua 5.1 is the interpreter Redis embeds (mlua's vendored build, driven
//! through the C API so that errors, tables and texts behave as in Redis's C code).
//!
//! - `engine`: the interpreter, its libraries and sandbox, the bounded allocator
//! - `api`: the `redis` table (call, pcall, log, ...) and how a script runs a command
//! - `convert`: replies into Lua values and Lua values into replies
//! - `run`: one invocation (fake client, hook, reply, effects in MULTI/EXEC)
//! - `busy`: a script past busy-reply-threshold, SCRIPT KILL
//! - `eval`: EVAL / EVALSHA / *_RO and SCRIPT
//! - `libs`: cjson, bit, struct, cmsgpack

mod api;
mod busy;
mod convert;
mod engine;
mod eval;
mod ffi;
mod functions;
mod libs;
mod run;

use hashbrown::HashMap;

use crate::client::Client;

pub(crate) use eval::COMMANDS as EVAL_COMMANDS;
pub(crate) use functions::COMMANDS as FUNCTION_COMMANDS;

// Script flags (Redis's SCRIPT_FLAG_*).
pub(crate) const SF_NO_WRITES: u32 = 1 << 0;
pub(crate) const SF_ALLOW_OOM: u32 = 1 << 1;
pub(crate) const SF_ALLOW_STALE: u32 = 1 << 2;
pub(crate) const SF_NO_CLUSTER: u32 = 1 << 3;
/// A script without a shebang: the flags of the commands it runs decide.
pub(crate) const SF_EVAL_COMPAT: u32 = 1 << 4;
pub(crate) const SF_ALLOW_CROSS_SLOT: u32 = 1 << 5;

/// A cached EVAL script (its code is in the interpreter, compiled).
pub(crate) struct Script {
    pub(crate) flags: u32,
}

/// The scripting state of the server.
pub(crate) struct Scripting {
    /// Out only while a script runs (the run owns it then).
    engine: Option<Box<engine::Engine>>,
    /// The interpreter of function libraries (its own, as Redis: SCRIPT FLUSH spares it).
    fengine: Option<Box<engine::Engine>>,
    pub(crate) funcs: functions::Functions,
    pub(crate) scripts: HashMap<String, Script>,
    /// Bytes of the cached bodies and their SHA1s (used_memory_scripts_eval).
    pub(crate) scripts_mem: usize,
    fake: Option<Box<Client>>,
    /// Invocations so far (a GC step every 50).
    calls: u64,
}

/// The flags a script declares for EVAL, EVALSHA and FCALL (and their _RO forms) about to
/// run with `args` (evalGetCommandFlags, fcallGetCommandFlags): None when it declares none
/// (no shebang), is not known yet (EVALSHA of a missing script, FCALL of a missing
/// function), or the command is not one of those.
pub(crate) fn declared_flags(
    srv: &crate::server::Server,
    name: &str,
    args: &[Vec<u8>],
) -> Option<u32> {
    let body = args.get(1)?;
    let flags = match name {
        "eval" | "eval_ro" => match srv.scripting.scripts.get(&sha1hex(body)) {
            Some(s) => s.flags,
            None => eval::shebang_flags(body).ok()?.0,
        },
        "evalsha" | "evalsha_ro" if body.len() == 40 => {
            let sha = String::from_utf8_lossy(body).to_ascii_lowercase();
            srv.scripting.scripts.get(&sha)?.flags
        }
        "fcall" | "fcall_ro" => {
            let name = String::from_utf8_lossy(body);
            srv.scripting.funcs.functions.get(name.as_ref())?.flags
        }
        _ => return None,
    };
    (flags & SF_EVAL_COMPAT == 0).then_some(flags)
}

/// scriptFlagsToCmdFlags' CMD_DENYOOM: a script that declares flags may not start over
/// maxmemory unless it says allow-oom or no-writes (None: the command's own flags decide).
pub(crate) fn declared_denyoom(
    srv: &crate::server::Server,
    name: &str,
    args: &[Vec<u8>],
) -> Option<bool> {
    declared_flags(srv, name, args).map(|f| f & (SF_ALLOW_OOM | SF_NO_WRITES) == 0)
}

/// The id of the client scripts run commands as.
pub(crate) const SCRIPT_CLIENT_ID: u64 = u64::MAX - 2;

impl Scripting {
    pub(crate) fn new() -> Scripting {
        let new = |functions: bool| match engine::Engine::new(functions) {
            Ok(e) => Some(Box::new(e)),
            Err(e) => {
                eprintln!("Can't initialize Lua: {e}");
                None
            }
        };
        let (engine, fengine) = (new(false), new(true));
        let mut fake = Client::new(SCRIPT_CLIENT_ID, String::new(), String::new(), -1, true);
        fake.deny_blocking = true;
        Scripting {
            engine,
            fengine,
            funcs: functions::Functions::default(),
            scripts: HashMap::new(),
            scripts_mem: 0,
            fake: Some(Box::new(fake)),
            calls: 0,
        }
    }

    fn engine_take(&mut self, functions: bool) -> Option<Box<engine::Engine>> {
        if functions {
            self.fengine.take()
        } else {
            self.engine.take()
        }
    }

    fn engine_put(&mut self, e: Box<engine::Engine>, functions: bool) {
        if functions {
            self.fengine = Some(e);
        } else {
            self.engine = Some(e);
        }
    }

    /// FUNCTION FLUSH: a fresh interpreter and no libraries; returns the old ones.
    pub(crate) fn flush_functions(&mut self) -> Result<functions::Functions, String> {
        self.fengine = Some(Box::new(engine::Engine::new(true)?));
        Ok(std::mem::take(&mut self.funcs))
    }

    /// The libraries' code, for a snapshot.
    pub(crate) fn library_codes(&self) -> Vec<Vec<u8>> {
        self.funcs
            .libraries
            .values()
            .map(|l| l.code.clone())
            .collect()
    }

    fn fake_client(&mut self) -> Box<Client> {
        self.fake.take().unwrap_or_else(|| {
            let mut c = Client::new(SCRIPT_CLIENT_ID, String::new(), String::new(), -1, true);
            c.deny_blocking = true;
            Box::new(c)
        })
    }

    fn fake_put(&mut self, c: Box<Client>) {
        self.fake = Some(c);
    }

    fn engine(&self) -> Result<&engine::Engine, crate::cmd::Error> {
        self.engine
            .as_deref()
            .ok_or_else(|| crate::cmd::Error::new("ERR the Lua engine is not available"))
    }

    /// SCRIPT FLUSH: a fresh interpreter and an empty cache; returns the old cache.
    pub(crate) fn flush_eval(&mut self) -> Result<HashMap<String, Script>, String> {
        self.engine = Some(Box::new(engine::Engine::new(false)?));
        self.scripts_mem = 0;
        Ok(std::mem::take(&mut self.scripts))
    }

    /// used_memory_lua.
    pub(crate) fn lua_memory(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| e.used_memory())
    }

    /// used_memory_vm_functions.
    pub(crate) fn functions_memory(&self) -> usize {
        self.fengine.as_ref().map_or(0, |e| e.used_memory())
    }

    /// used_memory_scripts_eval (Redis adds its dict overhead; the cached bytes here).
    pub(crate) fn scripts_memory(&self) -> usize {
        self.scripts_mem + self.scripts.len() * 64
    }
}

impl Default for Scripting {
    fn default() -> Self {
        Self::new()
    }
}

/// The lowercase hex SHA1 of `b` (scripts are named by it).
pub(crate) fn sha1hex(b: &[u8]) -> String {
    sha1_smol::Sha1::from(b).digest().to_string()
}

/// Puts a loaded RDB's function libraries in place of the current ones (a library that does
/// not load is logged and skipped).
pub(crate) fn install_libraries(srv: &mut crate::server::Server, codes: Vec<Vec<u8>>) {
    if codes.is_empty() && srv.scripting.funcs.libraries.is_empty() {
        return;
    }
    if let Err(e) = srv.scripting.flush_functions() {
        srv.log
            .warning(&format!("Failed resetting the functions: {e}"));
        return;
    }
    for code in codes {
        if let Err(e) = functions::create_library(srv, &code, false, false) {
            srv.log.warning(&format!("Failed loading library: {e}"));
        }
    }
}

/// Whether SCRIPT FLUSH / FUNCTION FLUSH frees asynchronously: ASYNC, SYNC, or without an
/// argument lazyfree-lazy-user-flush.
fn flush_async(srv: &crate::server::Server, args: &[Vec<u8>]) -> bool {
    match args.get(2) {
        Some(a) => a.eq_ignore_ascii_case(b"async"),
        None => crate::lazyfree::is_lazy(&srv.config, crate::lazyfree::Why::UserFlush),
    }
}

/// SCRIPT FLUSH / FUNCTION FLUSH take no argument or one of SYNC and ASYNC.
fn flush_mode_ok(args: &[Vec<u8>]) -> bool {
    match args.len() {
        2 => true,
        3 => args[2].eq_ignore_ascii_case(b"sync") || args[2].eq_ignore_ascii_case(b"async"),
        _ => false,
    }
}
