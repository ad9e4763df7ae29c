//! Conversions as Redis's script_lua.c: a command's reply (RESP2 or RESP3 bytes, as the
//! script's fake client received it) into Lua values, and a script's return value into the
//! caller's reply.
//!
//! Reply → Lua: integer → number, bulk → string, null bulk / null array → false, array →
//! table, status → {ok=...}, error → {err=...}; RESP3 adds map → {map={...}}, set →
//! {set={k=true}}, double → {double=n}, null → nil, boolean, big number → {big_number=s},
//! verbatim → {verbatim_string={format=..., string=...}}.
//!
//! Lua → reply: string → bulk, number → integer (truncated), boolean → 1 / null (RESP2
//! script client) or a boolean, {err=...}, {ok=...}, {double=...}, {big_number=...},
//! {verbatim_string=...}, {map=...}, {set=...}, otherwise an array up to the first nil.

use std::ffi::c_int;

use amber_resp::ReplyBuf;

use super::ffi::*;

/// Pushes the Lua value of the reply at the start of `r`; returns the bytes it used.
/// The reply was produced by this server, so it is well formed; a malformed one pushes nil.
pub(crate) unsafe fn push_reply(l: State, r: &[u8]) -> usize {
    let mut pos = 0;
    unsafe { push_value(l, r, &mut pos, true) };
    pos
}

fn line<'a>(r: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let start = *pos;
    let rest = r.get(start..).unwrap_or_default();
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            *pos = start + i + 2;
            &rest[..i]
        }
        None => {
            *pos = r.len();
            rest
        }
    }
}

fn num(b: &[u8]) -> i64 {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Pushes one value (or, with `push` false, only skips it: RESP3 attributes).
unsafe fn push_value(l: State, r: &[u8], pos: &mut usize, push: bool) {
    let Some(&kind) = r.get(*pos) else {
        if push {
            unsafe { lua_pushnil(l) };
        }
        return;
    };
    *pos += 1;
    let head = line(r, pos);
    unsafe {
        if push && lua_checkstack(l, 5) == 0 {
            // The Lua stack cannot grow: Redis panics here; we push nothing more.
            return;
        }
        match kind {
            b':' => {
                if push {
                    lua_pushnumber(l, num(head) as f64)
                }
            }
            b'$' | b'=' => {
                let n = num(head);
                if n < 0 {
                    if push {
                        lua_pushboolean(l, 0)
                    }
                    return;
                }
                let n = n as usize;
                let body = r.get(*pos..(*pos + n).min(r.len())).unwrap_or_default();
                *pos = (*pos + n + 2).min(r.len());
                if !push {
                    return;
                }
                if kind == b'$' {
                    push_bytes(l, body);
                } else {
                    let (fmt, s) = if body.len() >= 4 {
                        body.split_at(4)
                    } else {
                        (body, &b""[..])
                    };
                    lua_createtable(l, 0, 1);
                    lua_createtable(l, 0, 2);
                    push_bytes(l, s);
                    set_field(l, -1, c"string");
                    push_bytes(l, &fmt[..fmt.len().min(3)]);
                    set_field(l, -1, c"format");
                    set_field(l, -1, c"verbatim_string");
                }
            }
            b'+' => {
                if push {
                    lua_createtable(l, 0, 1);
                    push_bytes(l, head);
                    set_field(l, -1, c"ok");
                }
            }
            b'-' => {
                if push {
                    let mut e = Vec::with_capacity(head.len() + 1);
                    e.push(b'-');
                    e.extend_from_slice(head);
                    push_error(l, &e);
                    drop(e);
                    lua_pushboolean(l, 1);
                    set_field(l, -1, c"ignore_error_stats_update");
                }
            }
            b'*' | b'~' | b'%' | b'>' => {
                let n = num(head);
                if n < 0 {
                    if push {
                        lua_pushboolean(l, 0)
                    }
                    return;
                }
                let n = n as usize;
                match kind {
                    b'%' => {
                        if push {
                            lua_createtable(l, 0, 1);
                            lua_createtable(l, 0, n.min(1024) as c_int);
                        }
                        for _ in 0..n {
                            push_value(l, r, pos, push);
                            push_value(l, r, pos, push);
                            if push {
                                lua_settable(l, -3);
                            }
                        }
                        if push {
                            set_field(l, -1, c"map");
                        }
                    }
                    b'~' => {
                        if push {
                            lua_createtable(l, 0, 1);
                            lua_createtable(l, 0, n.min(1024) as c_int);
                        }
                        for _ in 0..n {
                            push_value(l, r, pos, push);
                            if push {
                                lua_pushboolean(l, 1);
                                lua_settable(l, -3);
                            }
                        }
                        if push {
                            set_field(l, -1, c"set");
                        }
                    }
                    _ => {
                        if push {
                            lua_createtable(l, n.min(1024) as c_int, 0);
                        }
                        for j in 0..n {
                            if push {
                                lua_pushnumber(l, (j + 1) as f64);
                            }
                            push_value(l, r, pos, push);
                            if push {
                                lua_settable(l, -3);
                            }
                        }
                    }
                }
            }
            b'_' => {
                if push {
                    lua_pushnil(l)
                }
            }
            b'#' => {
                if push {
                    lua_pushboolean(l, c_int::from(head == b"t"))
                }
            }
            b',' => {
                if push {
                    let d = parse_double(head);
                    lua_createtable(l, 0, 1);
                    lua_pushnumber(l, d);
                    set_field(l, -1, c"double");
                }
            }
            b'(' => {
                if push {
                    lua_createtable(l, 0, 1);
                    push_bytes(l, head);
                    set_field(l, -1, c"big_number");
                }
            }
            b'|' => {
                for _ in 0..num(head).max(0) {
                    push_value(l, r, pos, false);
                    push_value(l, r, pos, false);
                }
                push_value(l, r, pos, push);
            }
            _ => {
                if push {
                    lua_pushnil(l)
                }
            }
        }
    }
}

fn parse_double(b: &[u8]) -> f64 {
    match b {
        b"inf" => f64::INFINITY,
        b"-inf" => f64::NEG_INFINITY,
        b"nan" | b"-nan" => f64::NAN,
        _ => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0),
    }
}

/// Pushes Redis's error table {err="CODE msg"} (luaPushErrorBuff): "-CODE msg" keeps its
/// code, a text without '-' gets "ERR"; trailing CR/LF are trimmed.
pub(crate) unsafe fn push_error(l: State, e: &[u8]) {
    let (code, msg): (&[u8], &[u8]) = match e.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", e),
    };
    let mut msg = msg;
    while let Some((&first, rest)) = msg.split_first() {
        if first == b'\r' || first == b'\n' {
            msg = rest;
        } else {
            break;
        }
    }
    while let Some((&last, rest)) = msg.split_last() {
        if last == b'\r' || last == b'\n' {
            msg = rest;
        } else {
            break;
        }
    }
    let mut full = Vec::with_capacity(code.len() + 1 + msg.len());
    full.extend_from_slice(code);
    full.push(b' ');
    full.extend_from_slice(msg);
    unsafe {
        lua_createtable(l, 0, 1);
        push_bytes(l, &full);
        set_field(l, -1, c"err");
    }
}

/// What a failed script left: the message and, when the handler found them, where.
pub(crate) struct ErrorInfo {
    /// The bytes as the script gave them (Redis does not require UTF-8 here).
    pub(crate) msg: Vec<u8>,
    pub(crate) source: Option<String>,
    pub(crate) line: Option<String>,
    /// A command the script called replied this error and counted it already
    /// (ignore_error_stats_update).
    pub(crate) counted: bool,
}

unsafe fn field_bytes(l: State, idx: c_int, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    unsafe {
        lua_getfield(l, idx, name.as_ptr());
        let v = if lua_isstring(l, -1) != 0 {
            to_bytes(l, -1).map(|b| b.to_vec())
        } else {
            None
        };
        lua_pop(l, 1);
        v
    }
}

unsafe fn field_string(l: State, idx: c_int, name: &std::ffi::CStr) -> Option<String> {
    unsafe { field_bytes(l, idx, name).map(|b| String::from_utf8_lossy(&b).into_owned()) }
}

/// luaExtractErrorInformation for the table on top of the stack (not popped).
pub(crate) unsafe fn error_info(l: State) -> ErrorInfo {
    unsafe {
        ErrorInfo {
            msg: field_bytes(l, -1, c"err").unwrap_or_default(),
            source: field_string(l, -1, c"source"),
            line: field_string(l, -1, c"line"),
            counted: {
                lua_getfield(l, -1, c"ignore_error_stats_update".as_ptr());
                let b = lua_toboolean(l, -1) != 0;
                lua_pop(l, 1);
                b
            },
        }
    }
}

/// Writes the value on top of the Lua stack as a reply to `out` and pops it
/// (luaReplyToRedisReply). `script_resp` is the protocol the script chose (redis.setresp).
pub(crate) unsafe fn reply_from_lua(
    l: State,
    out: &mut ReplyBuf,
    script_resp: u8,
    errs: &mut Vec<Option<Vec<u8>>>,
) {
    unsafe {
        if lua_checkstack(l, 4) == 0 {
            out.error("ERR reached lua stack limit");
            lua_pop(l, 1);
            return;
        }
        match lua_type(l, -1) {
            LUA_TSTRING => out.bulk(to_bytes(l, -1).unwrap_or_default()),
            LUA_TBOOLEAN => {
                let b = lua_toboolean(l, -1) != 0;
                if script_resp == 2 {
                    if b {
                        out.int(1)
                    } else {
                        out.null()
                    }
                } else {
                    out.boolean(b)
                }
            }
            LUA_TNUMBER => out.int(lua_number_to_i64(lua_tonumber(l, -1))),
            LUA_TTABLE => {
                table_reply(l, out, script_resp, errs);
                return;
            }
            _ => out.null(),
        }
        lua_pop(l, 1);
    }
}

/// The table on top of the stack (popped): error, status, double, big number, verbatim,
/// map, set, or an array.
unsafe fn table_reply(
    l: State,
    out: &mut ReplyBuf,
    script_resp: u8,
    errs: &mut Vec<Option<Vec<u8>>>,
) {
    unsafe {
        if raw_field_type(l, c"err") == LUA_TSTRING {
            lua_pop(l, 1);
            let info = error_info(l);
            out.error_bytes(&info.msg);
            // Counted in the error stats unless a command the script called counted it.
            errs.push((!info.counted).then_some(info.msg));
            lua_pop(l, 1);
            return;
        }
        lua_pop(l, 1);
        if raw_field_type(l, c"ok") == LUA_TSTRING {
            let s = String::from_utf8_lossy(to_bytes(l, -1).unwrap_or_default())
                .replace(['\r', '\n'], " ");
            out.simple(&s);
            lua_pop(l, 2);
            return;
        }
        lua_pop(l, 1);
        if raw_field_type(l, c"double") == LUA_TNUMBER {
            out.double(lua_tonumber(l, -1));
            lua_pop(l, 2);
            return;
        }
        lua_pop(l, 1);
        if raw_field_type(l, c"big_number") == LUA_TSTRING {
            let s: Vec<u8> = to_bytes(l, -1)
                .unwrap_or_default()
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                .collect();
            if out.resp3() {
                out.raw(b"(");
                out.raw(&s);
                out.raw(b"\r\n");
            } else {
                out.bulk(&s);
            }
            lua_pop(l, 2);
            return;
        }
        lua_pop(l, 1);
        if raw_field_type(l, c"verbatim_string") == LUA_TTABLE {
            if raw_field_type(l, c"format") == LUA_TSTRING {
                if raw_field_type_at(l, -2, c"string") == LUA_TSTRING {
                    let s = to_bytes(l, -1).unwrap_or_default();
                    let fmt = to_bytes(l, -2).unwrap_or_default();
                    if out.resp3() {
                        let mut f = [b' '; 3];
                        for (d, s) in f.iter_mut().zip(fmt.iter()) {
                            *d = *s;
                        }
                        out.raw(format!("={}\r\n", s.len() + 4).as_bytes());
                        out.raw(&f);
                        out.raw(b":");
                        out.raw(s);
                        out.raw(b"\r\n");
                    } else {
                        out.bulk(s);
                    }
                    lua_pop(l, 4);
                    return;
                }
                lua_pop(l, 1);
            }
            lua_pop(l, 1);
        }
        lua_pop(l, 1);
        if raw_field_type(l, c"map") == LUA_TTABLE {
            let d = out.deferred_map();
            let mut n = 0;
            lua_pushnil(l);
            while lua_next(l, -2) != 0 {
                lua_pushvalue(l, -2);
                reply_from_lua(l, out, script_resp, errs);
                reply_from_lua(l, out, script_resp, errs);
                n += 1;
            }
            out.set_deferred(d, n);
            lua_pop(l, 2);
            return;
        }
        lua_pop(l, 1);
        if raw_field_type(l, c"set") == LUA_TTABLE {
            let d = out.deferred_set();
            let mut n = 0;
            lua_pushnil(l);
            while lua_next(l, -2) != 0 {
                lua_pop(l, 1);
                lua_pushvalue(l, -1);
                reply_from_lua(l, out, script_resp, errs);
                n += 1;
            }
            out.set_deferred(d, n);
            lua_pop(l, 2);
            return;
        }
        lua_pop(l, 1);
        let d = out.deferred_array();
        let mut n = 0;
        let mut j = 1;
        loop {
            lua_rawgeti_(l, -1, j);
            j += 1;
            if lua_type(l, -1) == LUA_TNIL {
                lua_pop(l, 1);
                break;
            }
            reply_from_lua(l, out, script_resp, errs);
            n += 1;
        }
        out.set_deferred(d, n);
        lua_pop(l, 1);
    }
}

/// Pushes `t[name]` (raw) for the table on top of the stack and returns its type.
unsafe fn raw_field_type(l: State, name: &std::ffi::CStr) -> c_int {
    unsafe { raw_field_type_at(l, -1, name) }
}

unsafe fn raw_field_type_at(l: State, idx: c_int, name: &std::ffi::CStr) -> c_int {
    unsafe {
        lua_pushstring(l, name.as_ptr());
        lua_rawget(l, idx - 1);
        lua_type(l, -1)
    }
}
