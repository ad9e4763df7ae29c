//! Reading a damaged RDB for what can be kept: every entry that decodes (the decoder
//! validates each value, packed encodings entry by entry) in file order, optionally written
//! into a new RDB with a correct CRC; the walk stops at the first structural error.
//!
//! What "intact" can mean here: the CRC-64 covers the whole file, so a mismatch says some
//! byte changed but not where. A changed byte inside a string's bytes still decodes, so the
//! decoder alone cannot tell which value is altered. When exactly one changed byte explains
//! the mismatch (`crc64::locate_byte_error`), its offset is known and `entry_at` names the
//! key that holds it; otherwise nobody can tell which value is altered.
//!
//! There is no resynchronisation after a structural error: an RDB has no markers between
//! entries, and any byte can start something that looks like an entry, so whatever came
//! after the error is reported lost rather than guessed at.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};

use amber_store::Limits;

use crate::crc64::locate_byte_error;
use crate::rdb::{to_value, Decoder, Encoder, Item, RdbEntry, RdbError};

/// What the CRC trailer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// Stored and computed agree.
    Ok,
    /// Stored as zero (saved with rdbchecksum no): nothing to check against.
    NotStored,
    /// Version < 5: the format has no checksum.
    NotInFormat,
    /// They differ. `changed_byte` when one changed byte explains it.
    Mismatch {
        stored: u64,
        computed: u64,
        changed_byte: Option<ChangedByte>,
    },
    /// The walk stopped before the end.
    NotReached,
}

/// The one byte whose change explains a CRC mismatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedByte {
    pub offset: u64,
    /// The byte was XORed with this: the original is the current byte XOR `xor`.
    pub xor: u8,
    /// The byte is in the stored CRC itself: the data before it is as written.
    pub in_trailer: bool,
}

/// Where the walk stopped on a structural error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub offset: u64,
    pub message: String,
    /// Valid RDB content Amber cannot hold (a stream, a module value, a function), rather
    /// than damage.
    pub unsupported: bool,
}

/// The outcome of a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvaged {
    pub version: u32,
    /// Entries kept, per database.
    pub kept: BTreeMap<u64, u64>,
    /// Keys met a second time in a database (the loader refuses those): dropped, first few.
    pub duplicates: Vec<(u64, Vec<u8>)>,
    pub duplicates_dropped: u64,
    pub empty_keys_skipped: u64,
    /// The sum of the RESIZEDB hints read: how many keys the writer said each database had.
    pub announced: BTreeMap<u64, u64>,
    /// The last key kept, to find the spot of a stop.
    pub last_key: Option<(u64, Vec<u8>)>,
    /// Offset of the EOF opcode (the CRC covers everything up to and including it).
    pub eof_offset: Option<u64>,
    pub checksum: Checksum,
    pub stop: Option<Stop>,
}

impl Salvaged {
    pub fn kept_total(&self) -> u64 {
        self.kept.values().sum()
    }

    /// Keys announced by RESIZEDB and not kept (an estimate of what a stop lost; 0 when the
    /// writer gave no hints or the walk reached the end).
    pub fn announced_not_kept(&self) -> u64 {
        if self.stop.is_none() {
            return 0;
        }
        self.announced
            .iter()
            .map(|(db, n)| n.saturating_sub(self.kept.get(db).copied().unwrap_or(0)))
            .sum()
    }
}

/// Most duplicate key names kept for the report.
const SHOW_DUPLICATES: usize = 10;

/// Walks `input` without trusting its CRC (every value is still validated). Each item read
/// whole goes to `observe`; with `out`, entries are written there (database switches and
/// AUX fields too), and the caller finishes the encoder, which writes a correct CRC. An I/O
/// error of the input or the output is returned as such; damage ends the walk with `stop`.
pub fn salvage<R: Read, W: Write>(
    input: R,
    mut out: Option<&mut Encoder<W>>,
    limits: &Limits,
    mut observe: impl FnMut(&Item),
) -> io::Result<Salvaged> {
    let mut s = Salvaged {
        version: 0,
        kept: BTreeMap::new(),
        duplicates: Vec::new(),
        duplicates_dropped: 0,
        empty_keys_skipped: 0,
        announced: BTreeMap::new(),
        last_key: None,
        eof_offset: None,
        checksum: Checksum::NotReached,
        stop: None,
    };
    let mut dec = match Decoder::new(input) {
        Ok(d) => d,
        Err(e) => {
            s.stop = Some(stop_of(e)?);
            return Ok(s);
        }
    };
    dec.verify_checksum(false);
    s.version = dec.version();
    let mut db = 0u64;
    let mut seen: HashSet<(u64, Vec<u8>)> = HashSet::new();
    loop {
        let at = dec.offset();
        let item = match dec.next() {
            Ok(Some(item)) => item,
            Ok(None) => {
                s.stop = Some(Stop {
                    offset: dec.offset(),
                    message: format!(
                        "corrupt RDB at offset {}: the file ends without the EOF marker",
                        dec.offset()
                    ),
                    unsupported: false,
                });
                break;
            }
            Err(e) => {
                s.stop = Some(stop_of(e)?);
                break;
            }
        };
        observe(&item);
        match item {
            Item::Aux { key, value } => {
                if let (Some(enc), Ok(k)) = (out.as_deref_mut(), std::str::from_utf8(&key)) {
                    enc.aux(k, &value)?;
                }
            }
            Item::Function(code) => {
                if let Some(enc) = out.as_deref_mut() {
                    enc.function(&code)?;
                }
            }
            Item::SelectDb(n) => {
                db = n;
                if let Some(enc) = out.as_deref_mut() {
                    enc.select_db(n)?;
                }
            }
            Item::ResizeDb { keys, .. } => {
                let a = s.announced.entry(db).or_default();
                *a = a.saturating_add(keys);
            }
            Item::Entry(e) => keep(&mut s, &mut seen, db, e, out.as_deref_mut(), limits)?,
            Item::Eof {
                stored_crc,
                computed_crc,
            } => {
                s.eof_offset = Some(at);
                s.checksum = checksum(stored_crc, computed_crc, at);
                break;
            }
        }
    }
    s.empty_keys_skipped = dec.empty_keys_skipped();
    Ok(s)
}

fn keep<W: Write>(
    s: &mut Salvaged,
    seen: &mut HashSet<(u64, Vec<u8>)>,
    db: u64,
    e: RdbEntry,
    out: Option<&mut Encoder<W>>,
    limits: &Limits,
) -> io::Result<()> {
    let id = (db, e.key);
    if seen.contains(&id) {
        s.duplicates_dropped += 1;
        if s.duplicates.len() < SHOW_DUPLICATES {
            s.duplicates.push(id);
        }
        return Ok(());
    }
    if let Some(enc) = out {
        enc.entry(&id.1, &to_value(e.value, limits), e.expire_ms)?;
    }
    *s.kept.entry(db).or_default() += 1;
    s.last_key = Some(id.clone());
    seen.insert(id);
    Ok(())
}

/// Damage becomes a stop; an I/O error of the input stays an error (except a short read).
fn stop_of(e: RdbError) -> io::Result<Stop> {
    match e {
        RdbError::Io(io) if io.kind() != io::ErrorKind::UnexpectedEof => Err(io),
        e => {
            let (offset, unsupported) = match &e {
                RdbError::Corrupt { offset, .. } => (*offset, false),
                RdbError::Unsupported { offset, .. } => (*offset, true),
                RdbError::Io(_) => (0, false),
            };
            Ok(Stop {
                offset,
                message: e.to_string(),
                unsupported,
            })
        }
    }
}

/// The checksum verdict, locating a single changed byte on a mismatch. `eof_at` is the
/// offset of the EOF opcode: the CRC covers `eof_at + 1` bytes, the trailer follows.
fn checksum(stored: Option<u64>, computed: u64, eof_at: u64) -> Checksum {
    let stored = match stored {
        None => return Checksum::NotInFormat,
        Some(0) => return Checksum::NotStored,
        Some(c) if c == computed => return Checksum::Ok,
        Some(c) => c,
    };
    let covered = eof_at + 1;
    let diff = stored ^ computed;
    let i = diff.trailing_zeros() / 8;
    let changed_byte = if diff >> (i * 8) < 256 {
        // One byte of the trailer differs: the trailer is damaged, the data is as written.
        Some(ChangedByte {
            offset: covered + u64::from(i),
            xor: (diff >> (i * 8)) as u8,
            in_trailer: true,
        })
    } else {
        locate_byte_error(diff, covered).map(|(offset, xor)| ChangedByte {
            offset,
            xor,
            in_trailer: false,
        })
    };
    Checksum::Mismatch {
        stored,
        computed,
        changed_byte,
    }
}

/// What holds the byte at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// An entry: its database, key, and byte range `[start, end)`.
    Entry {
        db: u64,
        key: Vec<u8>,
        start: u64,
        end: u64,
    },
    /// The header, an AUX field or an opcode (SELECTDB, RESIZEDB, EOF).
    Other,
}

/// Finds what holds byte `offset` by decoding `input` again up to it (CRC not checked).
pub fn entry_at<R: Read>(input: R, offset: u64) -> Result<Holder, RdbError> {
    let mut dec = Decoder::new(input)?;
    dec.verify_checksum(false);
    let mut db = 0;
    loop {
        if dec.offset() > offset {
            return Ok(Holder::Other);
        }
        match dec.next()? {
            None => return Ok(Holder::Other),
            Some(Item::SelectDb(n)) => db = n,
            Some(Item::Entry(e)) => {
                let end = dec.offset();
                if (e.offset..end).contains(&offset) {
                    return Ok(Holder::Entry {
                        db,
                        key: e.key,
                        start: e.offset,
                        end,
                    });
                }
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::{EncodeOptions, RdbValue};

    const MARK: &[u8] = b"the-value-of-key-b-is-here";

    /// A file of four keys in db 0 and one in db 3, uncompressed so values are findable.
    fn sample() -> Vec<u8> {
        let limits = Limits::default();
        let opts = EncodeOptions {
            compression: false,
            checksum: true,
        };
        let mut e = Encoder::new(Vec::new(), opts).unwrap();
        e.aux("redis-ver", b"7.0.15").unwrap();
        e.select_db(0).unwrap();
        e.resize_db(4, 1).unwrap();
        let s = |v: &[u8]| to_value(RdbValue::String(v.to_vec()), &limits);
        e.entry(b"a", &s(b"first value"), None).unwrap();
        e.entry(b"b", &s(MARK), Some(4_000_000_000_000)).unwrap();
        let h = RdbValue::HashListpack(vec![
            (b"f1".to_vec(), b"v1".to_vec()),
            (b"f2".to_vec(), b"v2".to_vec()),
        ]);
        e.entry(b"c", &to_value(h, &limits), None).unwrap();
        e.entry(b"d", &s(b"last of db 0"), None).unwrap();
        e.select_db(3).unwrap();
        e.resize_db(1, 0).unwrap();
        e.entry(b"z", &s(b"in db 3"), None).unwrap();
        e.finish().unwrap()
    }

    fn find(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).position(|w| w == needle).unwrap()
    }

    fn run(bytes: &[u8]) -> (Salvaged, Vec<u8>) {
        let mut enc = Encoder::new(Vec::new(), EncodeOptions::default()).unwrap();
        let s = salvage(bytes, Some(&mut enc), &Limits::default(), |_| {}).unwrap();
        (s, enc.finish().unwrap())
    }

    /// Decodes with the CRC verified: (db, key, value) of every entry.
    fn entries(bytes: &[u8]) -> Vec<(u64, Vec<u8>, RdbValue)> {
        let mut d = Decoder::new(bytes).unwrap();
        let mut db = 0;
        let mut v = Vec::new();
        loop {
            match d.next().unwrap().unwrap() {
                Item::SelectDb(n) => db = n,
                Item::Entry(e) => v.push((db, e.key, e.value)),
                Item::Eof { .. } => return v,
                _ => {}
            }
        }
    }

    #[test]
    fn an_intact_file_is_copied_whole() {
        let f = sample();
        let (s, out) = run(&f);
        assert_eq!(s.checksum, Checksum::Ok);
        assert_eq!(s.stop, None);
        assert_eq!(s.kept, BTreeMap::from([(0, 4), (3, 1)]));
        assert_eq!(entries(&out), entries(&f));
    }

    #[test]
    fn a_changed_byte_in_a_value_is_kept_located_and_named() {
        let mut f = sample();
        let at = find(&f, MARK) + 5;
        f[at] ^= 0x21;
        // The default decoder refuses it; without verification every value decodes.
        let mut d = Decoder::new(&f[..]).unwrap();
        let refused = loop {
            match d.next() {
                Err(e) => break e.to_string(),
                Ok(Some(_)) => {}
                Ok(None) => panic!("accepted"),
            }
        };
        assert!(refused.contains("checksum mismatch"), "{refused}");
        let (s, out) = run(&f);
        assert_eq!(s.kept_total(), 5);
        assert_eq!(s.stop, None);
        let Checksum::Mismatch { changed_byte, .. } = &s.checksum else {
            panic!("{:?}", s.checksum)
        };
        let cb = changed_byte.clone().unwrap();
        assert_eq!((cb.offset, cb.xor, cb.in_trailer), (at as u64, 0x21, false));
        match entry_at(&f[..], cb.offset).unwrap() {
            Holder::Entry {
                db,
                key,
                start,
                end,
            } => {
                assert_eq!((db, key.as_slice()), (0, &b"b"[..]));
                assert!(start <= at as u64 && (at as u64) < end);
            }
            Holder::Other => panic!("not found"),
        }
        // The new file has a correct CRC and holds the values as read (the altered one too).
        let got = entries(&out);
        assert_eq!(got.len(), 5);
        let mut altered = MARK.to_vec();
        altered[5] ^= 0x21;
        assert_eq!(got[1].2, RdbValue::String(altered));
    }

    #[test]
    fn a_changed_byte_in_the_trailer_is_told_apart() {
        let mut f = sample();
        let n = f.len();
        f[n - 3] ^= 0x80;
        let (s, _) = run(&f);
        let Checksum::Mismatch { changed_byte, .. } = s.checksum.clone() else {
            panic!()
        };
        let cb = changed_byte.unwrap();
        assert!(cb.in_trailer);
        assert_eq!((cb.offset, cb.xor), ((n - 3) as u64, 0x80));
        assert_eq!(s.kept_total(), 5);
    }

    #[test]
    fn a_structural_error_keeps_what_came_before() {
        let mut f = sample();
        // The hash's listpack: break its terminator so the value does not decode.
        let lp = find(&f, b"f1") - 7;
        let total = u32::from_le_bytes(f[lp..lp + 4].try_into().unwrap()) as usize;
        assert_eq!(f[lp + total - 1], 0xff);
        f[lp + total - 1] = 0xfe;
        let (s, out) = run(&f);
        let stop = s.stop.clone().unwrap();
        assert!(!stop.unsupported);
        assert!(stop.message.contains("'c'"), "{}", stop.message);
        assert_eq!(s.kept, BTreeMap::from([(0, 2)]));
        assert_eq!(s.last_key, Some((0, b"b".to_vec())));
        assert_eq!(s.checksum, Checksum::NotReached);
        assert_eq!(s.announced_not_kept(), 2);
        let got = entries(&out);
        assert_eq!(got.len(), 2);
        assert_eq!(got, entries(&sample())[..2]);
    }

    #[test]
    fn a_truncated_file_and_a_bad_header_stop_cleanly() {
        let f = sample();
        for cut in [0, 4, 9, 20, f.len() / 2, f.len() - 9, f.len() - 1] {
            let (s, out) = run(&f[..cut]);
            assert!(s.stop.is_some(), "cut {cut}");
            assert!(entries(&out).len() <= 5);
        }
    }

    #[test]
    fn a_duplicate_key_is_dropped_and_named() {
        let limits = Limits::default();
        let mut e = Encoder::new(Vec::new(), EncodeOptions::default()).unwrap();
        let v = to_value(RdbValue::String(b"x".to_vec()), &limits);
        e.entry(b"k", &v, None).unwrap();
        e.entry(b"k", &v, None).unwrap();
        e.select_db(1).unwrap();
        e.entry(b"k", &v, None).unwrap();
        let f = e.finish().unwrap();
        let (s, out) = run(&f);
        assert_eq!(s.duplicates, vec![(0, b"k".to_vec())]);
        assert_eq!(s.duplicates_dropped, 1);
        assert_eq!(entries(&out).len(), 2);
    }

    #[test]
    fn a_file_saved_without_checksum_is_not_a_mismatch() {
        let mut e = Encoder::new(
            Vec::new(),
            EncodeOptions {
                compression: true,
                checksum: false,
            },
        )
        .unwrap();
        e.entry(
            b"k",
            &to_value(RdbValue::String(b"v".to_vec()), &Limits::default()),
            None,
        )
        .unwrap();
        let (s, _) = run(&e.finish().unwrap());
        assert_eq!(s.checksum, Checksum::NotStored);
    }

    /// What the fuzz target (fuzz/fuzz_targets/rdb_salvage.rs) checks, on seeded damage:
    /// no panic, and whatever is written decodes with its CRC verified, `kept` entries.
    #[test]
    fn random_damage_always_salvages_into_a_valid_file() {
        use rand::{rngs::SmallRng, Rng, SeedableRng};
        let f = sample();
        let mut rng = SmallRng::seed_from_u64(12);
        for round in 0..3000 {
            let mut bad = f.clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(9..bad.len());
                match rng.gen_range(0..3) {
                    0 => bad[at] ^= 1 << rng.gen_range(0..8),
                    1 => bad[at] = rng.gen(),
                    _ => bad.truncate(at),
                }
                if bad.len() <= 9 {
                    break;
                }
            }
            let (s, out) = run(&bad);
            assert_eq!(entries(&out).len() as u64, s.kept_total(), "round {round}");
            let _ = entry_at(&bad[..], rng.gen_range(0..bad.len() as u64 + 2));
        }
    }
}
