//! struct (Roberto Ierusalimschy's lua_struct.c, as Redis bundles it): pack, unpack and
//! size of binary records; native order is little-endian, native long and size_t 8 bytes.

use std::ffi::c_int;

use super::super::ffi::*;
use super::Functions;

pub(super) static FUNCTIONS: Functions = &[(c"pack", pack), (c"unpack", unpack), (c"size", size)];

const MAXINTSIZE: usize = 32;
const MAXALIGN: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    big: bool,
    align: usize,
}

const DEFAULT: Header = Header {
    big: false,
    align: 1,
};

fn getnum(fmt: &[u8], i: &mut usize, df: usize) -> Result<usize, String> {
    if !fmt.get(*i).is_some_and(u8::is_ascii_digit) {
        return Ok(df);
    }
    let mut a: usize = 0;
    while let Some(d) = fmt.get(*i).filter(|c| c.is_ascii_digit()) {
        a = a
            .checked_mul(10)
            .and_then(|a| a.checked_add(usize::from(d - b'0')))
            .filter(|a| *a <= i32::MAX as usize)
            .ok_or("integral size overflow")?;
        *i += 1;
    }
    Ok(a)
}

fn optsize(opt: u8, fmt: &[u8], i: &mut usize) -> Result<usize, String> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' => 8,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => getnum(fmt, i, 1)?,
        b'i' | b'I' => {
            let sz = getnum(fmt, i, 4)?;
            if sz > MAXINTSIZE {
                return Err(format!(
                    "integral size {sz} is larger than limit of {MAXINTSIZE}"
                ));
            }
            sz
        }
        _ => 0,
    })
}

fn gettoalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn controloptions(
    opt: u8,
    fmt: &[u8],
    i: &mut usize,
    h: &mut Header,
    fname: &str,
) -> Result<(), String> {
    match opt {
        b' ' => {}
        b'>' => h.big = true,
        b'<' => h.big = false,
        b'!' => {
            let a = getnum(fmt, i, MAXALIGN)?;
            if !a.is_power_of_two() {
                return Err(format!("alignment {a} is not a power of 2"));
            }
            h.align = a;
        }
        _ => {
            return Err(format!(
                "bad argument #1 to '{fname}' (invalid format option '{}')",
                opt as char
            ))
        }
    }
    Ok(())
}

fn is_int(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

unsafe fn pack_b(l: State) -> LibResult {
    let fmt = unsafe { check_bytes(l, 1, "pack")? }.to_vec();
    let mut h = DEFAULT;
    let mut arg: c_int = 2;
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let mut size = optsize(opt, &fmt, &mut i)?;
        let toalign = gettoalign(out.len(), &h, opt, size);
        out.resize(out.len() + toalign, 0);
        if is_int(opt) {
            let n = unsafe { check_number(l, arg, "pack")? };
            arg += 1;
            // Redis's Uinttype is 64 bits: bytes past the 8th are zero.
            let mut v: u64 = if n < 0.0 {
                lua_number_to_i64(n) as u64
            } else {
                n as u64
            };
            let mut buf = vec![0u8; size];
            for k in 0..size {
                let idx = if h.big { size - 1 - k } else { k };
                buf[idx] = (v & 0xff) as u8;
                v >>= 8;
            }
            out.extend_from_slice(&buf);
        } else {
            match opt {
                b'x' => out.push(0),
                b'f' => {
                    let f = unsafe { check_number(l, arg, "pack")? } as f32;
                    arg += 1;
                    out.extend_from_slice(&if h.big {
                        f.to_be_bytes()
                    } else {
                        f.to_le_bytes()
                    });
                }
                b'd' => {
                    let d = unsafe { check_number(l, arg, "pack")? };
                    arg += 1;
                    out.extend_from_slice(&if h.big {
                        d.to_be_bytes()
                    } else {
                        d.to_le_bytes()
                    });
                }
                b'c' | b's' => {
                    let s = unsafe { check_bytes(l, arg, "pack")? };
                    arg += 1;
                    if size == 0 {
                        size = s.len();
                    }
                    if s.len() < size {
                        return Err(format!("bad argument #{arg} to 'pack' (string too short)"));
                    }
                    out.extend_from_slice(&s[..size]);
                    if opt == b's' {
                        out.push(0);
                    }
                }
                _ => controloptions(opt, &fmt, &mut i, &mut h, "pack")?,
            }
        }
    }
    unsafe { push_bytes(l, &out) };
    Ok(1)
}
lua_fn!(pack, pack_b);

unsafe fn unpack_b(l: State) -> LibResult {
    let fmt = unsafe { check_bytes(l, 1, "unpack")? }.to_vec();
    let data = unsafe { check_bytes(l, 2, "unpack")? }.to_vec();
    let ld = data.len();
    let mut pos = unsafe {
        if lua_isnoneornil(l, 3) != 0 {
            1
        } else {
            lua_number_to_i64(check_number(l, 3, "unpack")?)
        }
    };
    if pos <= 0 {
        return Err("bad argument #3 to 'unpack' (offset must be 1 or greater)".into());
    }
    pos -= 1;
    let mut pos = pos as usize;
    let mut h = DEFAULT;
    let mut n: c_int = 0;
    let mut i = 0;
    let short = || "bad argument #2 to 'unpack' (data string too short)".to_string();
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let mut size = optsize(opt, &fmt, &mut i)?;
        pos += gettoalign(pos, &h, opt, size);
        if !(size <= ld && pos <= ld - size) {
            return Err(short());
        }
        unsafe {
            if lua_checkstack(l, 2) == 0 {
                return Err("stack overflow (too many results)".into());
            }
            if is_int(opt) {
                let mut v: u64 = 0;
                for k in 0..size {
                    let b = if h.big {
                        data[pos + k]
                    } else {
                        data[pos + size - 1 - k]
                    };
                    v = (v << 8) | u64::from(b);
                }
                let res = if opt.is_ascii_lowercase() && size > 0 && size < 8 {
                    let shift = 64 - size * 8;
                    (((v << shift) as i64) >> shift) as f64
                } else if opt.is_ascii_lowercase() {
                    v as i64 as f64
                } else {
                    v as f64
                };
                lua_pushnumber(l, res);
                n += 1;
            } else {
                match opt {
                    b'x' => {}
                    b'f' => {
                        let mut b = [0u8; 4];
                        b.copy_from_slice(&data[pos..pos + 4]);
                        let f = if h.big {
                            f32::from_be_bytes(b)
                        } else {
                            f32::from_le_bytes(b)
                        };
                        lua_pushnumber(l, f64::from(f));
                        n += 1;
                    }
                    b'd' => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&data[pos..pos + 8]);
                        let d = if h.big {
                            f64::from_be_bytes(b)
                        } else {
                            f64::from_le_bytes(b)
                        };
                        lua_pushnumber(l, d);
                        n += 1;
                    }
                    b'c' => {
                        if size == 0 {
                            if n == 0 || lua_isnumber(l, -1) == 0 {
                                return Err("format 'c0' needs a previous size".into());
                            }
                            size = lua_tonumber(l, -1).max(0.0) as usize;
                            lua_pop(l, 1);
                            n -= 1;
                            if !(size <= ld && pos <= ld - size) {
                                return Err(short());
                            }
                        }
                        push_bytes(l, &data[pos..pos + size]);
                        n += 1;
                    }
                    b's' => {
                        let Some(e) = data[pos..].iter().position(|&b| b == 0) else {
                            return Err("unfinished string in data".into());
                        };
                        size = e + 1;
                        push_bytes(l, &data[pos..pos + e]);
                        n += 1;
                    }
                    _ => controloptions(opt, &fmt, &mut i, &mut h, "unpack")?,
                }
            }
        }
        pos += size;
    }
    unsafe { lua_pushnumber(l, (pos + 1) as f64) };
    Ok(n + 1)
}
lua_fn!(unpack, unpack_b);

unsafe fn size_b(l: State) -> LibResult {
    let fmt = unsafe { check_bytes(l, 1, "size")? }.to_vec();
    let mut h = DEFAULT;
    let mut pos = 0usize;
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let size = optsize(opt, &fmt, &mut i)?;
        pos += gettoalign(pos, &h, opt, size);
        if opt == b's' {
            return Err("bad argument #1 to 'size' (option 's' has no fixed size)".into());
        } else if opt == b'c' && size == 0 {
            return Err("bad argument #1 to 'size' (option 'c0' has no fixed size)".into());
        }
        if !opt.is_ascii_alphanumeric() {
            controloptions(opt, &fmt, &mut i, &mut h, "size")?;
        }
        pos += size;
    }
    unsafe { lua_pushnumber(l, pos as f64) };
    Ok(1)
}
lua_fn!(size, size_b);
