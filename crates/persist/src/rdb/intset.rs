//! Intsets: a sorted array of distinct integers of one width.
//!
//! ```text
//! <encoding u32 LE: 2, 4 or 8> <length u32 LE> <length values of that width, LE, ascending>
//! ```

use amber_store::intset::width_of;

/// Appends the intset of `values` (sorted, distinct) to `out`, with the narrowest width that
/// holds them all, as Redis's intset upgrades do.
pub fn encode<I>(values: I, out: &mut Vec<u8>)
where
    I: ExactSizeIterator<Item = i64> + DoubleEndedIterator + Clone,
{
    let (min, max) = match (values.clone().next(), values.clone().next_back()) {
        (Some(a), Some(b)) => (a, b),
        _ => (0, 0),
    };
    let width = width_of(min).max(width_of(max));
    out.reserve(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

/// Decodes and validates an intset (width, size, strictly ascending values).
pub fn decode(b: &[u8]) -> Result<Vec<i64>, &'static str> {
    if b.len() < 8 {
        return Err("intset shorter than its header");
    }
    let width = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err("intset with an invalid encoding");
    }
    let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    let body = &b[8..];
    if len.checked_mul(width) != Some(body.len()) {
        return Err("intset size does not match its length");
    }
    let mut out = Vec::with_capacity(len);
    for c in body.chunks_exact(width) {
        let v = match width {
            2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
            4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            _ => {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                i64::from_le_bytes(a)
            }
        };
        if out.last().is_some_and(|&p| p >= v) {
            return Err("intset values are not ascending and distinct");
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn roundtrip_and_widths() {
        for (vals, width) in [
            (vec![], 2u8),
            (vec![-5, 1, 300], 2),
            (vec![-40000, 1], 4),
            (vec![1, i64::MAX], 8),
            (vec![i64::MIN, 0], 8),
        ] {
            let mut b = Vec::new();
            encode(vals.iter().copied(), &mut b);
            assert_eq!(b[0], width);
            assert_eq!(decode(&b).unwrap(), vals);
        }
        // SADD s 1 2 3 in Redis: encoding 2, length 3.
        assert_eq!(
            decode(b"\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00").unwrap(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn corrupt_intsets_are_rejected() {
        let mut b = Vec::new();
        encode([1i64, 2, 3].into_iter(), &mut b);
        assert!(decode(&b[..b.len() - 1]).is_err());
        let mut bad = b.clone();
        bad[0] = 3;
        assert!(decode(&bad).is_err());
        let mut bad = b.clone();
        bad[10] = 1; // 1, 1, 3
        assert!(decode(&bad).is_err());
        let mut bad = b.clone();
        bad[4] = 0xff;
        bad[7] = 0xff;
        assert!(decode(&bad).is_err());
    }
}
