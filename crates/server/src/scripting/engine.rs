//! The Lua 5.1 interpreter as Redis 7.0 sets it up: the libraries it loads (base, table,
//! string, math, cjson, struct, cmsgpack, bit), the sandbox (a read-only global table that
//! refuses unknown names, read-only library tables, no os/io/loadfile/dofile/print, no
//! bytecode), the error handler that records where a script failed, and a bounded allocator.
//!
//! Redis patches Lua with read-only tables; plain Lua 5.1 has none, so the globals and each
//! library table are seen through proxies whose `__newindex` refuses, and `rawset` /
//! `setmetatable` refuse the protected tables. The texts are Redis's.

use std::ffi::{c_int, c_void, CStr};

use super::ffi::*;

/// The most the interpreter may allocate (Redis has no bound; a runaway script here gets
/// "not enough memory" instead of taking the machine).
pub(crate) const LUA_MEMORY_LIMIT: usize = 1 << 30;

struct AllocState {
    used: usize,
    limit: usize,
}

unsafe extern "C-unwind" fn lua_alloc(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    // SAFETY: `ud` is the AllocState the engine owns for the state's whole life.
    let st = unsafe { &mut *ud.cast::<AllocState>() };
    if nsize == 0 {
        if !ptr.is_null() {
            st.used = st.used.saturating_sub(osize);
            unsafe { libc::free(ptr) };
        }
        return std::ptr::null_mut();
    }
    let old = if ptr.is_null() { 0 } else { osize };
    if nsize > old && st.used.saturating_add(nsize - old) > st.limit {
        return std::ptr::null_mut();
    }
    let p = unsafe { libc::realloc(ptr, nsize) };
    if !p.is_null() {
        st.used = st.used.saturating_sub(old).saturating_add(nsize);
    }
    p
}

/// The sandbox, run once with the full base library at hand. It receives the real global
/// table and returns the proxy scripts see as their globals and the error handler.
const SANDBOX: &str = r#"
local real_G, dbg, guard, lib_redis = ...
local rawset0, setmt0, getmt0, error0, type0, tostring0 = rawset, setmetatable, getmetatable, error, type, tostring
local pcall0, loadstring0, load0, select0 = pcall, loadstring, load, select
local RO = 'Attempt to modify a readonly table'
local protected = setmt0({}, {__mode = 'k'})
local function ro_newindex() error0(RO, 2) end
local function proxy(t)
  local p = {}
  local mt = {__index = t, __newindex = ro_newindex}
  local shown = setmt0({}, {__index = mt, __newindex = ro_newindex, __metatable = false})
  mt.__metatable = shown
  protected[p] = true; protected[t] = true; protected[shown] = true
  return setmt0(p, mt), mt
end
rawset = guard(protected, rawset0)
setmetatable = guard(protected, setmt0)
local function no_binary(s)
  return type0(s) == 'string' and s:byte(1) == 27
end
loadstring = function(s, ...)
  if no_binary(s) then return nil, 'binary chunks are not allowed' end
  return loadstring0(s, ...)
end
load = function(f, ...)
  local first = true
  local reader = function()
    local piece = f()
    if first and piece ~= nil then
      first = false
      if no_binary(piece) then error0('binary chunks are not allowed', 0) end
    end
    return piece
  end
  return load0(reader, ...)
end
local function pcall_result(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type0(e) == 'table' and type0(e.err) == 'string' then e = e.err end
  return false, e
end
pcall = function(f, ...) return pcall_result(pcall0(f, ...)) end
for _, name in ipairs({'print', 'dofile', 'loadfile', 'setfenv', 'getfenv', 'newproxy', 'module', 'require', 'debug'}) do
  rawset0(real_G, name, nil)
end
for _, lib in ipairs({'string', 'math', 'table', 'coroutine', 'cjson', 'bit', 'struct', 'cmsgpack', 'redis'}) do
  local t = rawget(real_G, lib)
  if t then rawset0(real_G, lib, proxy(t)) end
end
local smt = dbg.getmetatable('')
smt.__index = rawget(real_G, 'string')
smt.__metatable = proxy(smt)
local G, G_mt = proxy(real_G)
rawset0(real_G, '_G', G)
local function nonexistent(_, k)
  error0("Script attempted to access nonexistent global variable '" .. tostring0(k) .. "'", 2)
end
setmt0(real_G, {__index = nonexistent, __newindex = ro_newindex, __metatable = false})
-- What a function library's code sees while it loads: only redis.register_function, log
-- and the version (function_lua.c's library API).
local lib_api
if lib_redis then
  local function strict(t)
    local p = setmt0({}, {__index = function(_, k)
      local v = rawget(t, k)
      if v == nil then
        error0("Script attempted to access nonexistent global variable '" .. tostring0(k) .. "'", 2)
      end
      return v
    end, __newindex = ro_newindex, __metatable = false})
    protected[p] = true
    return p
  end
  lib_api = strict({redis = strict(lib_redis)})
end
local getinfo = dbg.getinfo
local function handler(err)
  local lvl = 2
  local i = getinfo(lvl, 'nSl')
  if i and i.what == 'C' then lvl = 3; i = getinfo(lvl, 'nSl') end
  while i and i.source == '=[redis]' do lvl = lvl + 1; i = getinfo(lvl, 'nSl') end
  if type0(err) ~= 'table' then err = {err = 'ERR ' .. tostring0(err)} end
  if i then err['source'] = i.source; err['line'] = i.currentline end
  return err
end
return G, handler, G_mt, lib_api
"#;

/// One Lua interpreter with Redis's libraries and sandbox.
pub(crate) struct Engine {
    l: State,
    alloc: Box<AllocState>,
    /// Registry references: the error handler and the real global table (KEYS, ARGV).
    handler_ref: c_int,
    globals_ref: c_int,
    /// The metatable of the globals' proxy, and what its __index is while a function
    /// library loads (nil for the EVAL interpreter).
    globals_mt_ref: c_int,
    lib_api_ref: c_int,
}

impl Engine {
    /// With `functions`, `redis.register_function` is there (the functions' interpreter).
    pub(crate) fn new(functions: bool) -> Result<Engine, String> {
        let mut alloc = Box::new(AllocState {
            used: 0,
            limit: LUA_MEMORY_LIMIT,
        });
        let ud: *mut AllocState = &mut *alloc;
        // SAFETY: the allocator state outlives the Lua state (dropped after lua_close).
        let l = unsafe { lua_newstate(lua_alloc, ud.cast()) };
        if l.is_null() {
            return Err("cannot create the Lua state".into());
        }
        let mut e = Engine {
            l,
            alloc,
            handler_ref: 0,
            globals_ref: 0,
            globals_mt_ref: 0,
            lib_api_ref: 0,
        };
        unsafe { e.setup(functions)? };
        Ok(e)
    }

    unsafe fn setup(&mut self, functions: bool) -> Result<(), String> {
        let l = self.l;
        unsafe {
            for (name, f) in [
                (c"", luaopen_base as lua_CFunction),
                (c"table", luaopen_table),
                (c"string", luaopen_string),
                (c"math", luaopen_math),
                (c"debug", luaopen_debug),
            ] {
                lua_pushcfunction(l, f);
                lua_pushstring(l, name.as_ptr());
                lua_call(l, 1, 0);
            }
            super::libs::open_all(l);
            super::api::register(l);
            // The real global table, kept for KEYS / ARGV.
            lua_pushvalue(l, LUA_GLOBALSINDEX);
            self.globals_ref = luaL_ref(l, LUA_REGISTRYINDEX);
            if luaL_loadbuffer(
                l,
                SANDBOX.as_ptr().cast(),
                SANDBOX.len(),
                c"=[redis]".as_ptr(),
            ) != 0
            {
                return Err(pop_message(l));
            }
            lua_pushvalue(l, LUA_GLOBALSINDEX);
            lua_getglobal(l, c"debug".as_ptr());
            lua_pushcfunction(l, make_guard);
            if functions {
                lua_newtable(l);
                lua_pushcfunction(l, super::functions::register_function);
                set_field(l, -1, c"register_function");
                super::api::register_log_and_version(l);
            } else {
                lua_pushnil(l);
            }
            if lua_pcall(l, 4, 4, 0) != 0 {
                return Err(pop_message(l));
            }
            // Stack: proxy globals, handler, the globals' metatable, the library API.
            self.lib_api_ref = luaL_ref(l, LUA_REGISTRYINDEX);
            self.globals_mt_ref = luaL_ref(l, LUA_REGISTRYINDEX);
            self.handler_ref = luaL_ref(l, LUA_REGISTRYINDEX);
            lua_replace(l, LUA_GLOBALSINDEX);
        }
        Ok(())
    }

    pub(crate) fn state(&self) -> State {
        self.l
    }

    /// While a function library loads, its code sees only the library API; then again the
    /// globals (luaEngineCreate swaps the globals' __index the same way).
    pub(crate) fn set_library_globals(&self, loading: bool) {
        let l = self.l;
        unsafe {
            lua_rawgeti_(l, LUA_REGISTRYINDEX, self.globals_mt_ref);
            push_str(l, "__index");
            let r = if loading {
                self.lib_api_ref
            } else {
                self.globals_ref
            };
            lua_rawgeti_(l, LUA_REGISTRYINDEX, r);
            lua_rawset(l, -3);
            lua_pop(l, 1);
        }
    }

    /// Bytes the interpreter holds (used_memory_lua).
    pub(crate) fn used_memory(&self) -> usize {
        self.alloc.used
    }

    pub(crate) fn push_handler(&self) {
        unsafe { lua_rawgeti_(self.l, LUA_REGISTRYINDEX, self.handler_ref) };
    }

    /// Sets `name` (KEYS or ARGV) in the real global table to an array of `items`.
    pub(crate) fn set_global_array(&self, name: &CStr, items: &[Vec<u8>]) {
        let l = self.l;
        unsafe {
            lua_rawgeti_(l, LUA_REGISTRYINDEX, self.globals_ref);
            lua_pushstring(l, name.as_ptr());
            lua_createtable(l, items.len().min(1 << 20) as c_int, 0);
            for (i, it) in items.iter().enumerate() {
                push_bytes(l, it);
                lua_rawseti_(l, -2, i as c_int + 1);
            }
            lua_rawset(l, -3);
            lua_pop(l, 1);
        }
    }

    /// Compiles `code` as a function stored in the registry under `name`. The error is
    /// Lua's message ("user_script:1: ...").
    pub(crate) fn compile(&self, name: &CStr, code: &[u8], chunk: &CStr) -> Result<(), String> {
        let l = self.l;
        unsafe {
            if luaL_loadbuffer(l, code.as_ptr().cast(), code.len(), chunk.as_ptr()) != 0 {
                return Err(pop_message(l));
            }
            lua_setfield(l, LUA_REGISTRYINDEX, name.as_ptr());
        }
        Ok(())
    }

    /// Pushes the registry function `name`; false when there is none.
    pub(crate) fn push_function(&self, name: &CStr) -> bool {
        unsafe {
            lua_getfield(self.l, LUA_REGISTRYINDEX, name.as_ptr());
            if lua_type(self.l, -1) == LUA_TFUNCTION {
                true
            } else {
                lua_pop(self.l, 1);
                false
            }
        }
    }

    /// Forgets the registry function `name`.
    pub(crate) fn drop_function(&self, name: &CStr) {
        unsafe {
            lua_pushnil(self.l);
            lua_setfield(self.l, LUA_REGISTRYINDEX, name.as_ptr());
        }
    }

    /// An incremental garbage collection step (Redis does one every 50 scripts).
    pub(crate) fn gc_step(&self) {
        unsafe { lua_gc(self.l, LUA_GCSTEP, 50) };
    }

    /// A full collection when a script left the heap past half the limit (a refused memory
    /// bomb leaves its garbage behind, and the next script would find no room).
    pub(crate) fn collect_if_large(&self, out_of_memory: bool) {
        if out_of_memory || self.alloc.used > self.alloc.limit / 2 {
            unsafe { lua_gc(self.l, LUA_GCCOLLECT, 0) };
        }
    }
}

/// `guard(protected, f)`: a C function that refuses a protected first argument and calls
/// `f` otherwise (rawset and setmetatable on read-only tables). A C function, so the error
/// points at the script's line as Redis's patched Lua does.
unsafe extern "C-unwind" fn make_guard(l: State) -> c_int {
    unsafe {
        lua_settop(l, 2);
        lua_pushcclosure(l, guarded, 2);
    }
    1
}

unsafe extern "C-unwind" fn guarded(l: State) -> c_int {
    unsafe {
        lua_pushvalue(l, 1);
        lua_rawget(l, lua_upvalueindex(1));
        let refused = lua_toboolean(l, -1) != 0;
        lua_pop(l, 1);
        if refused {
            push_str(l, "Attempt to modify a readonly table");
            lua_error(l);
        }
        let n = lua_gettop(l);
        lua_pushvalue(l, lua_upvalueindex(2));
        lua_insert(l, 1);
        lua_call(l, n, LUA_MULTRET);
        lua_gettop(l)
    }
}

unsafe fn pop_message(l: State) -> String {
    let s = unsafe { to_bytes(l, -1) }
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_else(|| "unknown error".into());
    unsafe { lua_pop(l, 1) };
    s
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: the state is ours and no script runs while the engine is dropped.
        unsafe { lua_close(self.l) };
    }
}
