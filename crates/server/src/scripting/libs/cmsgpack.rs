//! cmsgpack (lua-cmsgpack 0.4 as Redis bundles it): pack any number of values into one
//! MessagePack string, unpack a stream of values, unpack_one and unpack_limit with offsets.
//! Integral numbers pack as the smallest integer type, others as float when exact, else
//! double; a table of 1..n keys is an array, anything else a map; tables deeper than 16 pack
//! as nil.

use std::ffi::c_int;

use super::super::ffi::*;
use super::Functions;

pub(super) static FUNCTIONS: Functions = &[
    (c"pack", pack),
    (c"unpack", unpack),
    (c"unpack_one", unpack_one),
    (c"unpack_limit", unpack_limit),
];

const MAX_NESTING: usize = 16;

unsafe fn pack_b(l: State) -> LibResult {
    let nargs = unsafe { lua_gettop(l) };
    if nargs == 0 {
        return Err("bad argument #0 to 'pack' (MessagePack pack needs input.)".into());
    }
    let mut out = Vec::new();
    for i in 1..=nargs {
        unsafe {
            if lua_checkstack(l, 4) == 0 {
                return Err("stack overflow (in function mp_check)".into());
            }
            lua_pushvalue(l, i);
            encode(l, &mut out, 0);
        }
    }
    unsafe { push_bytes(l, &out) };
    Ok(1)
}
lua_fn!(pack, pack_b);

/// Encodes the value on top of the stack and pops it.
unsafe fn encode(l: State, out: &mut Vec<u8>, level: usize) {
    unsafe {
        let mut t = lua_type(l, -1);
        if t == LUA_TTABLE && level == MAX_NESTING {
            t = LUA_TNIL;
        }
        match t {
            LUA_TSTRING => encode_bytes(out, to_bytes(l, -1).unwrap_or_default()),
            LUA_TBOOLEAN => out.push(if lua_toboolean(l, -1) != 0 {
                0xc3
            } else {
                0xc2
            }),
            LUA_TNUMBER => {
                let n = lua_tonumber(l, -1);
                if !n.is_infinite() && !n.is_nan() && (lua_number_to_i64(n) as f64) == n {
                    encode_int(out, lua_number_to_i64(n));
                } else if (n as f32) as f64 == n || n.is_nan() {
                    out.push(0xca);
                    out.extend_from_slice(&(n as f32).to_be_bytes());
                } else {
                    out.push(0xcb);
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
            LUA_TTABLE if lua_checkstack(l, 3) != 0 => {
                if is_array(l) {
                    let len = lua_objlen(l, -1);
                    header(out, len, 0x90, 0xdc, 0xdd);
                    for j in 1..=len {
                        lua_pushnumber(l, j as f64);
                        lua_gettable(l, -2);
                        encode(l, out, level + 1);
                    }
                } else {
                    let mut len = 0;
                    lua_pushnil(l);
                    while lua_next(l, -2) != 0 {
                        lua_pop(l, 1);
                        len += 1;
                    }
                    header(out, len, 0x80, 0xde, 0xdf);
                    lua_pushnil(l);
                    while lua_next(l, -2) != 0 {
                        lua_pushvalue(l, -2);
                        encode(l, out, level + 1);
                        encode(l, out, level + 1);
                    }
                }
            }
            _ => out.push(0xc0),
        }
        lua_pop(l, 1);
    }
}

/// table_is_an_array: every key a positive integral number and the largest one the count.
unsafe fn is_array(l: State) -> bool {
    let (mut count, mut max) = (0f64, 0f64);
    unsafe {
        let top = lua_gettop(l);
        lua_pushnil(l);
        while lua_next(l, -2) != 0 {
            lua_pop(l, 1);
            let ok = lua_type(l, -1) == LUA_TNUMBER && {
                let n = lua_tonumber(l, -1);
                n > 0.0 && n.floor() == n && n <= f64::from(i32::MAX)
            };
            if !ok {
                lua_settop(l, top);
                return false;
            }
            max = lua_tonumber(l, -1).max(max);
            count += 1.0;
        }
        lua_settop(l, top);
    }
    max == count
}

fn header(out: &mut Vec<u8>, n: usize, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.push(0xd9);
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        let u = n as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -(1 << 31) {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

enum DecodeError {
    Eof,
    BadFormat,
}

struct Cur<'a> {
    b: &'a [u8],
    p: usize,
}

impl Cur<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .p
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or(DecodeError::Eof)?;
        let s = &self.b[self.p..end];
        self.p = end;
        Ok(s)
    }
    fn uint(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }
}

/// Decodes one value and pushes it.
unsafe fn decode(l: State, c: &mut Cur<'_>) -> Result<(), DecodeError> {
    let t = c.take(1)?[0];
    unsafe {
        if lua_checkstack(l, 3) == 0 {
            return Err(DecodeError::BadFormat);
        }
        match t {
            0x00..=0x7f => lua_pushnumber(l, f64::from(t)),
            0xe0..=0xff => lua_pushnumber(l, f64::from(t as i8)),
            0xcc..=0xcf => {
                let n = 1usize << (t - 0xcc);
                lua_pushnumber(l, c.uint(n)? as f64)
            }
            0xd0 => lua_pushnumber(l, f64::from(c.uint(1)? as u8 as i8)),
            0xd1 => lua_pushnumber(l, f64::from(c.uint(2)? as u16 as i16)),
            0xd2 => lua_pushnumber(l, f64::from(c.uint(4)? as u32 as i32)),
            0xd3 => lua_pushnumber(l, c.uint(8)? as i64 as f64),
            0xc0 => lua_pushnil(l),
            0xc2 => lua_pushboolean(l, 0),
            0xc3 => lua_pushboolean(l, 1),
            0xca => lua_pushnumber(l, f64::from(f32::from_bits(c.uint(4)? as u32))),
            0xcb => lua_pushnumber(l, f64::from_bits(c.uint(8)?)),
            0xa0..=0xbf | 0xd9 | 0xda | 0xdb => {
                let n = match t {
                    0xd9 => c.uint(1)?,
                    0xda => c.uint(2)?,
                    0xdb => c.uint(4)?,
                    _ => u64::from(t & 0x1f),
                };
                let s = c.take(n as usize)?;
                push_bytes(l, s);
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                let n = match t {
                    0xdc => c.uint(2)?,
                    0xdd => c.uint(4)?,
                    _ => u64::from(t & 0xf),
                };
                lua_createtable(l, n.min(1024) as c_int, 0);
                for i in 1..=n {
                    lua_pushnumber(l, i as f64);
                    if let Err(e) = decode(l, c) {
                        lua_pop(l, 2);
                        return Err(e);
                    }
                    lua_settable(l, -3);
                }
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let n = match t {
                    0xde => c.uint(2)?,
                    0xdf => c.uint(4)?,
                    _ => u64::from(t & 0xf),
                };
                lua_createtable(l, 0, n.min(1024) as c_int);
                for _ in 0..n {
                    if let Err(e) = decode(l, c) {
                        lua_pop(l, 1);
                        return Err(e);
                    }
                    if let Err(e) = decode(l, c) {
                        lua_pop(l, 2);
                        return Err(e);
                    }
                    if lua_type(l, -2) == LUA_TNIL {
                        // Lua cannot index by nil; the C library raises here.
                        lua_pop(l, 3);
                        return Err(DecodeError::BadFormat);
                    }
                    lua_settable(l, -3);
                }
            }
            _ => return Err(DecodeError::BadFormat),
        }
    }
    Ok(())
}

/// mp_unpack_full: up to `limit` values from `offset` (0 and 0: all, without the offset).
unsafe fn unpack_full(l: State, limit: i64, offset: i64) -> LibResult {
    let s = unsafe { check_bytes(l, 1, "unpack")? }.to_vec();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            s.len()
        ));
    } else if offset as usize > s.len() {
        return Err(format!(
            "Start offset {offset} greater than input length {}.",
            s.len()
        ));
    }
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    unsafe { lua_settop(l, 1) };
    let mut c = Cur {
        b: &s,
        p: offset as usize,
    };
    let mut cnt: c_int = 0;
    while c.p < s.len() && i64::from(cnt) < limit {
        match unsafe { decode(l, &mut c) } {
            Ok(()) => cnt += 1,
            Err(DecodeError::Eof) => return Err("Missing bytes in input.".into()),
            Err(DecodeError::BadFormat) => return Err("Bad data format in input.".into()),
        }
    }
    if !decode_all {
        unsafe {
            let next = if c.p == s.len() { -1.0 } else { c.p as f64 };
            lua_pushnumber(l, next);
            lua_insert(l, 2);
        }
        cnt += 1;
    }
    Ok(cnt)
}

unsafe fn unpack_b(l: State) -> LibResult {
    unsafe { unpack_full(l, 0, 0) }
}
lua_fn!(unpack, unpack_b);

unsafe fn opt_int(l: State, idx: c_int, fname: &str) -> Result<i64, String> {
    unsafe {
        if lua_isnoneornil(l, idx) != 0 {
            Ok(0)
        } else {
            Ok(lua_number_to_i64(check_number(l, idx, fname)?))
        }
    }
}

unsafe fn unpack_one_b(l: State) -> LibResult {
    unsafe {
        let offset = opt_int(l, 2, "unpack_one")?;
        unpack_full(l, 1, offset)
    }
}
lua_fn!(unpack_one, unpack_one_b);

unsafe fn unpack_limit_b(l: State) -> LibResult {
    unsafe {
        let limit = lua_number_to_i64(check_number(l, 2, "unpack_limit")?);
        let offset = opt_int(l, 3, "unpack_limit")?;
        unpack_full(l, limit, offset)
    }
}
lua_fn!(unpack_limit, unpack_limit_b);
