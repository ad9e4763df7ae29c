//! DUMP payloads cut straight from the RDB bytes, for online restore: the value's bytes are
//! exactly what the source server wrote (its encodings, its LZF), so nothing is re-encoded.
//!
//! ```text
//! entry in the RDB:   [EXPIRETIME_MS t | EXPIRETIME t] [IDLE n | FREQ b] <type> <key> <value>
//! DUMP payload:       <type> <value> <RDB version u16 LE> <CRC-64 LE of everything before>
//! ```
//!
//! `Tap` records the bytes the decoder reads, so once it has returned an entry (validated
//! whole, its value's offset known: `RdbEntry::value_offset`) the value's bytes can be sliced
//! out; persist's `dump_from_raw` adds the footer. A payload is cut only when the target
//! reads it as is: RDB version ≤ 10 (Redis 7.0) and a type Redis 7.0 knows; anything else
//! is re-encoded by the caller.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

use amber_persist::rdb::dump::dump_from_raw;

/// The bytes read through the tap not yet released, and the stream offset of the first.
#[derive(Default)]
pub struct Recorded {
    base: u64,
    bytes: Vec<u8>,
}

impl Recorded {
    /// The bytes at stream offsets [start, end), if still held.
    pub fn slice(&self, start: u64, end: u64) -> Option<&[u8]> {
        let a = usize::try_from(start.checked_sub(self.base)?).ok()?;
        let b = usize::try_from(end.checked_sub(self.base)?).ok()?;
        self.bytes.get(a..b)
    }

    /// Forgets everything before `offset`. The bytes move only once the released part is
    /// large: an entry is often a few bytes, the read-ahead a megabyte.
    pub fn release(&mut self, offset: u64) {
        let Some(k) = offset
            .checked_sub(self.base)
            .and_then(|k| usize::try_from(k).ok())
        else {
            return;
        };
        let k = k.min(self.bytes.len());
        if k >= 4 << 20 || k * 2 >= self.bytes.len() {
            self.bytes.drain(..k);
            self.base += k as u64;
        }
    }
}

pub struct Tap<R> {
    pub inner: R,
    pub rec: Rc<RefCell<Recorded>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(b)?;
        self.rec.borrow_mut().bytes.extend_from_slice(&b[..k]);
        Ok(k)
    }
}

/// Types a Redis 7.0 RESTORE accepts as they are.
fn restorable_type(t: u8) -> bool {
    matches!(t, 0..=5 | 9..=14 | 16..=18)
}

/// The DUMP payload of an entry whose value bytes (`RdbEntry::value_offset` up to the
/// decoder's offset after it) are `value`, or None when it can't be cut (the caller
/// re-encodes).
pub fn payload(rdb_type: u8, value: &[u8], rdb_version: u32) -> Option<Vec<u8>> {
    if rdb_version > 10 || !restorable_type(rdb_type) || value.is_empty() {
        return None;
    }
    Some(dump_from_raw(rdb_type, value, rdb_version as u16))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amber_persist::rdb::{
        create_dump, to_value, verify_and_decode_dump, Decoder, EncodeOptions, Encoder, Item,
    };
    use amber_store::{Limits, Value};

    #[test]
    fn cut_payloads_equal_dump() {
        let opts = EncodeOptions::default();
        let long = "abcdefgh".repeat(100);
        let values: Vec<(Vec<u8>, Value, Option<i64>)> = vec![
            (b"int".to_vec(), Value::Int(-12345), None),
            (b"123".to_vec(), Value::Int(7), Some(4_102_444_800_000)),
            (
                long.clone().into_bytes(),
                to_value(
                    amber_persist::rdb::RdbValue::String(long.clone().into_bytes()),
                    &Limits::default(),
                ),
                None,
            ),
            (
                vec![b'k'; 20000],
                to_value(
                    amber_persist::rdb::RdbValue::List(
                        (0..3000).map(|i| format!("e{i}").into_bytes()).collect(),
                    ),
                    &Limits::default(),
                ),
                Some(1),
            ),
            (
                b"h".to_vec(),
                to_value(
                    amber_persist::rdb::RdbValue::Hash(
                        (0..600)
                            .map(|i| (format!("f{i}").into_bytes(), long.clone().into_bytes()))
                            .collect(),
                    ),
                    &Limits::default(),
                ),
                None,
            ),
        ];
        let mut enc = Encoder::new(Vec::new(), opts).unwrap();
        enc.select_db(0).unwrap();
        for (k, v, t) in &values {
            enc.entry(k, v, *t).unwrap();
        }
        let file = enc.finish().unwrap();
        let rec = Rc::new(RefCell::new(Recorded::default()));
        let mut dec = Decoder::new(Tap {
            inner: &file[..],
            rec: rec.clone(),
        })
        .unwrap();
        let mut n = 0;
        while let Some(item) = dec.next().unwrap() {
            if let Item::Entry(e) = item {
                let end = dec.offset();
                let raw = rec.borrow().slice(e.value_offset, end).unwrap().to_vec();
                let cut = payload(e.rdb_type, &raw, 10).unwrap();
                let (_, v, _) = &values[n];
                assert_eq!(cut, create_dump(v, &opts), "entry {n}");
                assert!(verify_and_decode_dump(&cut).is_ok());
                rec.borrow_mut().release(end);
                n += 1;
            }
        }
        assert_eq!(n, values.len());
        // Not cut: versions or types a Redis 7.0 RESTORE would refuse.
        assert!(payload(0, b"\x01v", 11).is_none());
        assert!(payload(20, b"\x01v", 10).is_none());
        assert!(payload(0, b"", 10).is_none());
    }
}
