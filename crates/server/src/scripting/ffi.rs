//! Small helpers over Lua 5.1's C API (through mlua's bindings): pushing and reading byte
//! strings, raising errors as Redis's C code does, and the adapter that turns a Rust function
//! returning `Result` into a Lua C function.
//!
//! Errors are raised with `lua_error`, a longjmp: every helper here makes sure no Rust value
//! with a destructor is alive in the frames it jumps over (the message is pushed first, the
//! Rust string dropped, then the jump).

use std::ffi::{c_int, CStr};

pub(crate) use mlua::ffi::*;

pub(crate) type State = *mut lua_State;

/// Pushes a byte string.
pub(crate) unsafe fn push_bytes(l: State, b: &[u8]) {
    // SAFETY: the caller holds a live state; Lua copies the bytes.
    unsafe { lua_pushlstring_(l, b.as_ptr().cast(), b.len()) }
}

pub(crate) unsafe fn push_str(l: State, s: &str) {
    unsafe { push_bytes(l, s.as_bytes()) }
}

/// The bytes of the string (or number, converted in place as Lua does) at `idx`.
pub(crate) unsafe fn to_bytes<'a>(l: State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    // SAFETY: Lua keeps the string alive while it is on the stack; callers copy or use it
    // before popping.
    let p = unsafe { lua_tolstring(l, idx, &mut len) };
    if p.is_null() {
        None
    } else {
        Some(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
    }
}

/// `t[k] = v` for a string key and the value on top of the stack (popped); `t` is a
/// negative index counted before the value was pushed.
pub(crate) unsafe fn set_field(l: State, t: c_int, k: &CStr) {
    unsafe { lua_setfield(l, t - 1, k.as_ptr()) }
}

/// What a library function returns: how many results it pushed, or an error message that is
/// raised as luaL_error does (prefixed by the caller's position, "user_script:1: ").
pub(crate) type LibResult = Result<c_int, String>;

/// Runs `f` and raises its error (with position) after dropping every Rust value.
pub(crate) unsafe fn lib_call(l: State, f: unsafe fn(State) -> LibResult) -> c_int {
    let r = std::panic::catch_unwind(|| unsafe { f(l) })
        .unwrap_or_else(|_| Err("internal error in a library function".to_string()));
    match r {
        Ok(n) => n,
        Err(msg) => {
            unsafe {
                luaL_where(l, 1);
                push_bytes(l, msg.as_bytes());
            }
            drop(msg);
            unsafe {
                lua_concat(l, 2);
                lua_error(l)
            }
        }
    }
}

/// Declares a Lua C function that runs a `LibResult` body through `lib_call`.
macro_rules! lua_fn {
    ($name:ident, $body:path) => {
        pub(crate) unsafe extern "C-unwind" fn $name(
            l: $crate::scripting::ffi::State,
        ) -> std::ffi::c_int {
            unsafe { $crate::scripting::ffi::lib_call(l, $body) }
        }
    };
}
pub(crate) use lua_fn;

/// Number argument `idx` (luaL_checknumber's rule: a number or a numeric string).
pub(crate) unsafe fn check_number(l: State, idx: c_int, fname: &str) -> Result<f64, String> {
    unsafe {
        if lua_isnumber(l, idx) != 0 {
            Ok(lua_tonumber(l, idx))
        } else {
            Err(bad_arg(l, idx, fname, "number"))
        }
    }
}

/// luaL_typerror's text: "bad argument #1 to 'f' (number expected, got nil)".
pub(crate) unsafe fn bad_arg(l: State, idx: c_int, fname: &str, expected: &str) -> String {
    let got = unsafe { type_name(l, idx) };
    format!("bad argument #{idx} to '{fname}' ({expected} expected, got {got})")
}

pub(crate) unsafe fn type_name(l: State, idx: c_int) -> &'static str {
    match unsafe { lua_type(l, idx) } {
        LUA_TNONE => "no value",
        LUA_TNIL => "nil",
        LUA_TBOOLEAN => "boolean",
        LUA_TLIGHTUSERDATA | LUA_TUSERDATA => "userdata",
        LUA_TNUMBER => "number",
        LUA_TSTRING => "string",
        LUA_TTABLE => "table",
        LUA_TFUNCTION => "function",
        LUA_TTHREAD => "thread",
        _ => "?",
    }
}

/// String argument `idx` (numbers convert, as luaL_checklstring).
pub(crate) unsafe fn check_bytes<'a>(
    l: State,
    idx: c_int,
    fname: &str,
) -> Result<&'a [u8], String> {
    unsafe {
        match lua_type(l, idx) {
            LUA_TSTRING | LUA_TNUMBER => Ok(to_bytes(l, idx).unwrap_or_default()),
            _ => Err(bad_arg(l, idx, fname, "string")),
        }
    }
}

/// C's `(long long)d` as x86-64 computes it: out of range (and NaN) is i64::MIN, which is
/// what Redis replies for `return math.huge`.
pub(crate) fn lua_number_to_i64(d: f64) -> i64 {
    // 2^63: the first double past i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}
