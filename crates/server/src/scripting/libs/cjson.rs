//! cjson (lua-cjson 2.1 as Redis bundles it): encode and decode with its defaults and
//! error texts: numbers with 14 significant digits, '/' escaped, empty tables as objects,
//! excessively sparse arrays refused, nesting limited to 1000, cjson.null for null.

use std::ffi::c_int;

use super::super::ffi::*;
use super::Functions;

pub(super) static FUNCTIONS: Functions = &[(c"encode", encode), (c"decode", decode)];

const MAX_DEPTH: usize = 1000;

/// cjson.null: a NULL light userdata.
pub(super) unsafe fn add_null(l: State) {
    unsafe {
        lua_getglobal(l, c"cjson".as_ptr());
        lua_pushlightuserdata(l, std::ptr::null_mut());
        set_field(l, -1, c"null");
        lua_pop(l, 1);
    }
}

unsafe fn encode_b(l: State) -> LibResult {
    unsafe {
        if lua_gettop(l) != 1 {
            return Err("bad argument #1 to 'encode' (expected 1 argument)".into());
        }
        let mut out = Vec::new();
        encode_value(l, &mut out, 0)?;
        push_bytes(l, &out);
    }
    Ok(1)
}
lua_fn!(encode, encode_b);

fn unsupported(what: &str, why: &str) -> String {
    format!("Cannot serialise {what}: {why}")
}

/// Appends the value on top of the stack (not popped).
unsafe fn encode_value(l: State, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    unsafe {
        match lua_type(l, -1) {
            LUA_TSTRING => encode_string(out, to_bytes(l, -1).unwrap_or_default()),
            LUA_TNUMBER => encode_number(out, lua_tonumber(l, -1))?,
            LUA_TBOOLEAN => out.extend_from_slice(if lua_toboolean(l, -1) != 0 {
                b"true"
            } else {
                b"false"
            }),
            LUA_TNIL => out.extend_from_slice(b"null"),
            LUA_TLIGHTUSERDATA if lua_touserdata(l, -1).is_null() => out.extend_from_slice(b"null"),
            LUA_TTABLE => {
                let depth = depth + 1;
                if depth > MAX_DEPTH {
                    return Err(format!("Cannot serialise, excessive nesting ({depth})"));
                }
                if lua_checkstack(l, 3) == 0 {
                    return Err("Cannot serialise, excessive nesting".into());
                }
                let len = array_length(l)?;
                if len > 0 {
                    encode_array(l, out, len, depth)?;
                } else {
                    encode_object(l, out, depth)?;
                }
            }
            t => {
                let name = match t {
                    LUA_TFUNCTION => "function",
                    LUA_TUSERDATA | LUA_TLIGHTUSERDATA => "userdata",
                    LUA_TTHREAD => "thread",
                    _ => "value",
                };
                return Err(unsupported(name, "type not supported"));
            }
        }
    }
    Ok(())
}

fn encode_number(out: &mut Vec<u8>, d: f64) -> Result<(), String> {
    if d.is_nan() || d.is_infinite() {
        return Err(unsupported("number", "must not be NaN or Inf"));
    }
    out.extend_from_slice(amber_resp::reply::format_g(d, 14).as_bytes());
    Ok(())
}

fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// lua_array_length: the array size when every key is a positive integer, 0 for an object
/// (or an empty table); an excessively sparse array is an error.
unsafe fn array_length(l: State) -> Result<usize, String> {
    let mut max = 0f64;
    let mut items = 0usize;
    unsafe {
        lua_pushnil(l);
        while lua_next(l, -2) != 0 {
            if lua_type(l, -2) == LUA_TNUMBER {
                let k = lua_tonumber(l, -2);
                if k.floor() == k && k >= 1.0 {
                    if k > max {
                        max = k;
                    }
                    items += 1;
                    lua_pop(l, 1);
                    continue;
                }
            }
            lua_pop(l, 2);
            return Ok(0);
        }
    }
    // encode_sparse_array defaults: convert off, ratio 2, safe 10.
    if max > 10.0 && max > (items * 2) as f64 {
        return Err(unsupported("table", "excessively sparse array"));
    }
    Ok(max as usize)
}

unsafe fn encode_array(
    l: State,
    out: &mut Vec<u8>,
    len: usize,
    depth: usize,
) -> Result<(), String> {
    out.push(b'[');
    for i in 1..=len {
        if i > 1 {
            out.push(b',');
        }
        unsafe {
            lua_rawgeti_(l, -1, i as c_int);
            let r = encode_value(l, out, depth);
            lua_pop(l, 1);
            r?;
        }
    }
    out.push(b']');
    Ok(())
}

unsafe fn encode_object(l: State, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    out.push(b'{');
    let mut first = true;
    unsafe {
        lua_pushnil(l);
        while lua_next(l, -2) != 0 {
            if !first {
                out.push(b',');
            }
            first = false;
            match lua_type(l, -2) {
                LUA_TSTRING => encode_string(out, to_bytes(l, -2).unwrap_or_default()),
                LUA_TNUMBER => {
                    out.push(b'"');
                    let r = encode_number(out, lua_tonumber(l, -2));
                    if r.is_err() {
                        lua_pop(l, 2);
                        r?;
                    }
                    out.push(b'"');
                }
                _ => {
                    let t = type_name(l, -2);
                    lua_pop(l, 2);
                    return Err(unsupported(t, "table key must be a number or string"));
                }
            }
            out.push(b':');
            let r = encode_value(l, out, depth);
            if r.is_err() {
                lua_pop(l, 2);
                r?;
            }
            lua_pop(l, 1);
        }
    }
    out.push(b'}');
    Ok(())
}

unsafe fn decode_b(l: State) -> LibResult {
    unsafe {
        if lua_gettop(l) != 1 {
            return Err("bad argument #1 to 'decode' (expected 1 argument)".into());
        }
        let text = check_bytes(l, 1, "decode")?.to_vec();
        let mut p = Parser {
            s: &text,
            pos: 0,
            l,
        };
        p.value(0)?;
        let t = p.token();
        if !matches!(t.kind, Tok::End) {
            lua_pop(l, 1);
            return Err(p.expected("the end", &t));
        }
    }
    Ok(1)
}
lua_fn!(decode, decode_b);

#[derive(Clone, Copy, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num,
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

struct Token {
    kind: Tok,
    at: usize,
    str_val: Vec<u8>,
    num: f64,
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    l: State,
}

impl Parser<'_> {
    fn expected(&self, what: &str, t: &Token) -> String {
        // json_token_type_name, or the text of an invalid token.
        let found = match t.kind {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Num => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(e) => e,
        };
        format!(
            "Expected {what} but found {found} at character {}",
            t.at + 1
        )
    }

    fn token(&mut self) -> Token {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let at = self.pos;
        let mut t = Token {
            kind: Tok::End,
            at,
            str_val: Vec::new(),
            num: 0.0,
        };
        let Some(&c) = self.s.get(at) else {
            return t;
        };
        t.kind = match c {
            b'{' => Tok::ObjBegin,
            b'}' => Tok::ObjEnd,
            b'[' => Tok::ArrBegin,
            b']' => Tok::ArrEnd,
            b':' => Tok::Colon,
            b',' => Tok::Comma,
            b'"' => {
                return self.string(t);
            }
            b'-' | b'0'..=b'9' => {
                let end = self.s[at..]
                    .iter()
                    .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .map_or(self.s.len(), |i| at + i);
                match std::str::from_utf8(&self.s[at..end])
                    .ok()
                    .and_then(|x| x.parse::<f64>().ok())
                {
                    Some(n) => {
                        self.pos = end;
                        t.num = n;
                        t.kind = Tok::Num;
                    }
                    None => t.kind = Tok::Error("invalid number"),
                }
                return t;
            }
            _ => {
                for (word, kind) in [
                    (&b"true"[..], Tok::Bool(true)),
                    (b"false", Tok::Bool(false)),
                    (b"null", Tok::Null),
                ] {
                    if self.s[at..].starts_with(word) {
                        self.pos = at + word.len();
                        t.kind = kind;
                        return t;
                    }
                }
                Tok::Error("invalid token")
            }
        };
        if !matches!(t.kind, Tok::Error(_)) {
            self.pos += 1;
        }
        t
    }

    fn string(&mut self, mut t: Token) -> Token {
        let mut i = t.at + 1;
        let mut v = Vec::new();
        loop {
            // Errors point where lua-cjson's cursor stood: the end, or the backslash.
            let Some(&c) = self.s.get(i) else {
                t.kind = Tok::Error("unexpected end of string");
                t.at = self.s.len();
                return t;
            };
            i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    t.at = i - 1;
                    let Some(&e) = self.s.get(i) else {
                        t.kind = Tok::Error("unexpected end of string");
                        t.at = self.s.len();
                        return t;
                    };
                    i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => v.push(e),
                        b'b' => v.push(8),
                        b'f' => v.push(12),
                        b'n' => v.push(b'\n'),
                        b'r' => v.push(b'\r'),
                        b't' => v.push(b'\t'),
                        b'u' => match self.unicode(&mut i) {
                            Some(ch) => {
                                let mut b = [0u8; 4];
                                v.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                            }
                            None => {
                                t.kind = Tok::Error("invalid unicode escape code");
                                return t;
                            }
                        },
                        _ => {
                            t.kind = Tok::Error("invalid escape code");
                            return t;
                        }
                    }
                }
                _ => v.push(c),
            }
        }
        self.pos = i;
        t.kind = Tok::Str;
        t.str_val = v;
        t
    }

    fn hex4(&self, i: usize) -> Option<u32> {
        let h = self.s.get(i..i + 4)?;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    fn unicode(&self, i: &mut usize) -> Option<char> {
        let hi = self.hex4(*i)?;
        *i += 4;
        if (0xD800..0xDC00).contains(&hi) {
            if self.s.get(*i..*i + 2)? != b"\\u" {
                return None;
            }
            let lo = self.hex4(*i + 2)?;
            if !(0xDC00..0xE000).contains(&lo) {
                return None;
            }
            *i += 6;
            return char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
        }
        if (0xDC00..0xE000).contains(&hi) {
            return None;
        }
        char::from_u32(hi)
    }

    /// Parses one value and pushes it.
    unsafe fn value(&mut self, depth: usize) -> Result<(), String> {
        let t = self.token();
        unsafe { self.value_from(t, depth) }
    }

    unsafe fn value_from(&mut self, t: Token, depth: usize) -> Result<(), String> {
        let l = self.l;
        unsafe {
            match t.kind {
                Tok::Str => push_bytes(l, &t.str_val),
                Tok::Num => lua_pushnumber(l, t.num),
                Tok::Bool(b) => lua_pushboolean(l, c_int::from(b)),
                Tok::Null => lua_pushlightuserdata(l, std::ptr::null_mut()),
                Tok::ObjBegin | Tok::ArrBegin => {
                    let depth = depth + 1;
                    if depth > MAX_DEPTH || lua_checkstack(l, 4) == 0 {
                        return Err(format!(
                            "Found too many nested data structures ({depth}) at character {}",
                            t.at + 1
                        ));
                    }
                    lua_newtable(l);
                    let r = if t.kind == Tok::ObjBegin {
                        self.object(depth)
                    } else {
                        self.array(depth)
                    };
                    if r.is_err() {
                        lua_pop(l, 1);
                    }
                    r?;
                }
                _ => return Err(self.expected("value", &t)),
            }
        }
        Ok(())
    }

    unsafe fn object(&mut self, depth: usize) -> Result<(), String> {
        let l = self.l;
        let mut t = self.token();
        if t.kind == Tok::ObjEnd {
            return Ok(());
        }
        loop {
            if t.kind != Tok::Str {
                return Err(self.expected("object key string", &t));
            }
            unsafe { push_bytes(l, &t.str_val) };
            let c = self.token();
            if c.kind != Tok::Colon {
                unsafe { lua_pop(l, 1) };
                return Err(self.expected("colon", &c));
            }
            if let Err(e) = unsafe { self.value(depth) } {
                unsafe { lua_pop(l, 1) };
                return Err(e);
            }
            unsafe { lua_rawset(l, -3) };
            let n = self.token();
            match n.kind {
                Tok::ObjEnd => return Ok(()),
                Tok::Comma => t = self.token(),
                _ => return Err(self.expected("comma or object end", &n)),
            }
        }
    }

    unsafe fn array(&mut self, depth: usize) -> Result<(), String> {
        let l = self.l;
        let mut t = self.token();
        if t.kind == Tok::ArrEnd {
            return Ok(());
        }
        let mut i: c_int = 1;
        loop {
            unsafe {
                self.value_from(t, depth)?;
                lua_rawseti_(l, -2, i);
            }
            i = i.saturating_add(1);
            let n = self.token();
            match n.kind {
                Tok::ArrEnd => return Ok(()),
                Tok::Comma => t = self.token(),
                _ => return Err(self.expected("comma or array end", &n)),
            }
        }
    }
}
