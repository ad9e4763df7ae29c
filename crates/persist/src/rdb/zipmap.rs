//! Zipmaps: the packed hash of Redis before 2.6. Read-only.
//!
//! ```text
//! <count: 1 byte, 254 = unknown> { <len> field <len> <free: 1 byte> value <free bytes> }* 0xff
//! len = 1 byte < 254, or 254 + u32 LE
//! ```

fn read_len(z: &[u8], p: &mut usize) -> Result<usize, &'static str> {
    let b = *z.get(*p).ok_or("zipmap entry overflows")?;
    if b < 254 {
        *p += 1;
        return Ok(usize::from(b));
    }
    if b == 254 {
        let d = z.get(*p + 1..*p + 5).ok_or("zipmap entry overflows")?;
        *p += 5;
        return Ok(u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize);
    }
    Err("zipmap length with an invalid encoding")
}

/// (field, value) pairs borrowed from the zipmap.
pub type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Decodes and validates a zipmap into its (field, value) pairs in order.
pub fn decode(z: &[u8]) -> Result<Pairs<'_>, &'static str> {
    let declared = *z.first().ok_or("empty zipmap")?;
    let mut p = 1usize;
    let mut out = Vec::new();
    loop {
        let b = *z.get(p).ok_or("zipmap without its terminator")?;
        if b == 0xff {
            p += 1;
            break;
        }
        let flen = read_len(z, &mut p)?;
        let fend = p.checked_add(flen).ok_or("zipmap field overflows")?;
        let field = z.get(p..fend).ok_or("zipmap field overflows")?;
        p = fend;
        let vlen = read_len(z, &mut p)?;
        let free = usize::from(*z.get(p).ok_or("zipmap entry overflows")?);
        p += 1;
        let vend = p.checked_add(vlen).ok_or("zipmap value overflows")?;
        let value = z.get(p..vend).ok_or("zipmap value overflows")?;
        p = vend.checked_add(free).ok_or("zipmap value overflows")?;
        if p > z.len() {
            return Err("zipmap free space overflows");
        }
        out.push((field, value));
    }
    if p != z.len() {
        return Err("zipmap has bytes after its terminator");
    }
    if declared < 254 && usize::from(declared) != out.len() {
        return Err("zipmap element count does not match its header");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decodes_and_rejects() {
        // {"foo": "bar", "k": "hello"} with 2 free bytes after "hello".
        let z = b"\x02\x03foo\x03\x00bar\x01k\x05\x02helloXX\xff";
        let pairs = decode(z).unwrap();
        assert_eq!(
            pairs,
            vec![(&b"foo"[..], &b"bar"[..]), (&b"k"[..], &b"hello"[..])]
        );
        for i in 0..z.len() {
            assert!(decode(&z[..i]).is_err());
        }
        let mut bad = z.to_vec();
        bad[0] = 3;
        assert!(decode(&bad).is_err());
        let mut bad = z.to_vec();
        bad[1] = 0xfd;
        assert!(decode(&bad).is_err());
    }
}
