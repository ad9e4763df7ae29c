//! LuaBitOp (bit.*): 32-bit operations on numbers, as Redis bundles it.

use std::ffi::c_int;

use super::super::ffi::*;
use super::Functions;

pub(super) static FUNCTIONS: Functions = &[
    (c"tobit", tobit),
    (c"bnot", bnot),
    (c"band", band),
    (c"bor", bor),
    (c"bxor", bxor),
    (c"lshift", lshift),
    (c"rshift", rshift),
    (c"arshift", arshift),
    (c"rol", rol),
    (c"ror", ror),
    (c"bswap", bswap),
    (c"tohex", tohex),
];

/// barg: the number's low 32 bits (LuaBitOp adds 2^52+2^51 to get them exactly).
unsafe fn arg(l: State, idx: c_int, fname: &str) -> Result<u32, String> {
    let d = unsafe { check_number(l, idx, fname)? };
    let b = d + 6_755_399_441_055_744.0;
    Ok(b.to_bits() as u32)
}

unsafe fn push(l: State, v: u32) -> LibResult {
    unsafe { lua_pushnumber(l, f64::from(v as i32)) };
    Ok(1)
}

unsafe fn tobit_b(l: State) -> LibResult {
    unsafe { push(l, arg(l, 1, "tobit")?) }
}
unsafe fn bnot_b(l: State) -> LibResult {
    unsafe { push(l, !arg(l, 1, "bnot")?) }
}
unsafe fn fold(l: State, fname: &str, f: fn(u32, u32) -> u32) -> LibResult {
    unsafe {
        let mut v = arg(l, 1, fname)?;
        for i in 2..=lua_gettop(l) {
            v = f(v, arg(l, i, fname)?);
        }
        push(l, v)
    }
}
unsafe fn band_b(l: State) -> LibResult {
    unsafe { fold(l, "band", |a, b| a & b) }
}
unsafe fn bor_b(l: State) -> LibResult {
    unsafe { fold(l, "bor", |a, b| a | b) }
}
unsafe fn bxor_b(l: State) -> LibResult {
    unsafe { fold(l, "bxor", |a, b| a ^ b) }
}
unsafe fn shift(l: State, fname: &str, f: fn(u32, u32) -> u32) -> LibResult {
    unsafe {
        let v = arg(l, 1, fname)?;
        let n = arg(l, 2, fname)? & 31;
        push(l, f(v, n))
    }
}
unsafe fn lshift_b(l: State) -> LibResult {
    unsafe { shift(l, "lshift", |v, n| v << n) }
}
unsafe fn rshift_b(l: State) -> LibResult {
    unsafe { shift(l, "rshift", |v, n| v >> n) }
}
unsafe fn arshift_b(l: State) -> LibResult {
    unsafe { shift(l, "arshift", |v, n| ((v as i32) >> n) as u32) }
}
unsafe fn rol_b(l: State) -> LibResult {
    unsafe { shift(l, "rol", |v, n| v.rotate_left(n)) }
}
unsafe fn ror_b(l: State) -> LibResult {
    unsafe { shift(l, "ror", |v, n| v.rotate_right(n)) }
}
unsafe fn bswap_b(l: State) -> LibResult {
    unsafe { push(l, arg(l, 1, "bswap")?.swap_bytes()) }
}
unsafe fn tohex_b(l: State) -> LibResult {
    unsafe {
        let v = arg(l, 1, "tohex")?;
        let mut n: i32 = if lua_isnoneornil(l, 2) != 0 {
            8
        } else {
            arg(l, 2, "tohex")? as i32
        };
        let upper = n < 0;
        if upper {
            n = n.wrapping_neg();
        }
        let n = n.clamp(1, 8) as usize;
        let s = if upper {
            format!("{:08X}", v)
        } else {
            format!("{:08x}", v)
        };
        push_str(l, &s[8 - n..]);
    }
    Ok(1)
}

lua_fn!(tobit, tobit_b);
lua_fn!(bnot, bnot_b);
lua_fn!(band, band_b);
lua_fn!(bor, bor_b);
lua_fn!(bxor, bxor_b);
lua_fn!(lshift, lshift_b);
lua_fn!(rshift, rshift_b);
lua_fn!(arshift, arshift_b);
lua_fn!(rol, rol_b);
lua_fn!(ror, ror_b);
lua_fn!(bswap, bswap_b);
lua_fn!(tohex, tohex_b);
