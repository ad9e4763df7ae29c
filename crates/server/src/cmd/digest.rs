//! DEBUG DIGEST and DEBUG DIGEST-VALUE: a SHA-1 based fingerprint of the dataset, computed
//! exactly as Redis 7.0.15 computes it, so that Amber and Redis holding the same data report the
//! same 40 hex digits (the differential tests compare datasets with it).
//!
//! Two primitives over a 20-byte state `d`, both built on SHA-1:
//!
//! ```text
//! xor(d, data):  d ^= SHA1(data)              order-insensitive: xor(a) then xor(b) == xor(b) then xor(a)
//! mix(d, data):  d  = SHA1(d ^ SHA1(data))    order-sensitive, and "fo","obar" != "foo","bar"
//! ```
//!
//! One key (`key_digest`):
//!
//! ```text
//! d = 0
//! mix(d, key bytes)                         (the dataset digest only; DIGEST-VALUE leaves it out)
//! mix(d, type as 4 bytes big-endian)        string 0, list 1, set 2, zset 3, hash 4
//! string: mix(d, bytes)                     an int-encoded string as its decimal text
//! list:   mix(d, element) head to tail
//! set:    xor(d, member) for each member
//! hash:   e = 0; mix(e, field); mix(e, value); xor(d, e)   for each pair
//! zset:   e = 0; mix(e, member); mix(e, %.17g of the score); xor(d, e)   for each member
//! expire: xor(d, "!!expire!!") when the key has a TTL (its value does not enter)
//! ```
//!
//! The dataset: `f = 0`; for each database with at least one key, in index order:
//! mix(f, index as 4 bytes big-endian), then xor(f, key digest) for every key. An empty dataset
//! is therefore 20 zero bytes.
//!
//! Zset scores: Redis 7.0 formats both encodings with `snprintf("%.17g")` (later versions use
//! a shortest round-trip conversion, which gives different text, e.g. "0.1" instead of
//! "0.10000000000000001"). The score is the stored double: a listpack keeps scores as text that
//! reads back -0 as 0 (the store already normalises that), a skiplist keeps -0, which prints "-0".
//!
//! Logically expired keys: Redis walks the keyspace dictionary directly, so a key whose TTL has
//! passed but that neither lazy nor active expiry has removed yet is still counted, and
//! DIGEST-VALUE finds it too (it deliberately skips the expiring lookup). Amber does the same:
//! the digest describes what the keyspace physically holds, and computing it deletes nothing.
//! Nothing else reports such keys; two servers agree on the digest when both have removed the
//! same expired keys (tests that need that disable active expiry on both, or use TTLs that do
//! not run out during the test).

use amber_store::hash::Hash;
use amber_store::set::Set;
use amber_store::stream::{node::text, StreamId};
use amber_store::zset::ZSet;
use amber_store::{Db, Entry, Value};

/// A digest: 20 bytes, all zero for "nothing".
pub(crate) type Digest = [u8; 20];

/// Redis's object type numbers (OBJ_STRING ...), which enter every key's digest.
const TYPE_STRING: u32 = 0;
const TYPE_LIST: u32 = 1;
const TYPE_SET: u32 = 2;
const TYPE_ZSET: u32 = 3;
const TYPE_HASH: u32 = 4;
const TYPE_STREAM: u32 = 6;

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// d ^= SHA1(data)
fn xor_digest(d: &mut Digest, data: &[u8]) {
    for (a, b) in d.iter_mut().zip(sha1(data)) {
        *a ^= b;
    }
}

/// d = SHA1(d ^ SHA1(data))
fn mix_digest(d: &mut Digest, data: &[u8]) {
    xor_digest(d, data);
    *d = sha1(d);
}

/// The digest of the whole dataset (DEBUG DIGEST): 20 zero bytes when every database is empty.
pub(crate) fn dataset_digest(dbs: &[Db]) -> Digest {
    let mut f = [0u8; 20];
    for (i, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        // The database index enters the mix, so the same keys in another database differ.
        mix_digest(&mut f, &u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes());
        for e in db.iter() {
            let mut d = [0u8; 20];
            mix_digest(&mut d, &e.key);
            add_value(&mut d, e);
            xor_digest(&mut f, &d);
        }
    }
    f
}

/// The digest of one key's value and TTL presence, without its name (DEBUG DIGEST-VALUE).
pub(crate) fn value_digest(e: &Entry) -> Digest {
    let mut d = [0u8; 20];
    add_value(&mut d, e);
    d
}

/// Lower-case hex, as Redis prints a digest.
pub(crate) fn hex(d: &Digest) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(40);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Mixes the type, the contents and the TTL presence of `e` into `d`.
fn add_value(d: &mut Digest, e: &Entry) {
    match &e.value {
        Value::Int(n) => {
            mix_digest(d, &TYPE_STRING.to_be_bytes());
            mix_digest(d, n.to_string().as_bytes());
        }
        Value::Emb(b) => {
            mix_digest(d, &TYPE_STRING.to_be_bytes());
            mix_digest(d, b);
        }
        Value::Raw(v) => {
            mix_digest(d, &TYPE_STRING.to_be_bytes());
            mix_digest(d, v);
        }
        Value::List(l) => {
            mix_digest(d, &TYPE_LIST.to_be_bytes());
            for item in &l.items {
                mix_digest(d, item);
            }
        }
        Value::Set(s) => {
            mix_digest(d, &TYPE_SET.to_be_bytes());
            match s {
                Set::Ints(v) => {
                    for n in v.iter() {
                        xor_digest(d, n.to_string().as_bytes());
                    }
                }
                Set::Table(_) => {
                    for m in s.iter() {
                        xor_digest(d, &m.bytes());
                    }
                }
            }
        }
        Value::ZSet(z) => {
            mix_digest(d, &TYPE_ZSET.to_be_bytes());
            add_zset(d, z);
        }
        Value::Hash(h) => {
            mix_digest(d, &TYPE_HASH.to_be_bytes());
            add_hash(d, h);
        }
        Value::Stream(s) => {
            mix_digest(d, &TYPE_STREAM.to_be_bytes());
            // The entries only (groups are not part of it), ID as "ms.seq".
            s.range(StreamId::MIN, StreamId::MAX, false, |id, pairs| {
                mix_digest(d, format!("{}.{}", id.ms, id.seq).as_bytes());
                for (f, v) in pairs {
                    mix_digest(d, &text(*f));
                    mix_digest(d, &text(*v));
                }
                true
            });
        }
    }
    if e.has_expire() {
        xor_digest(d, b"!!expire!!");
    }
}

fn add_zset(d: &mut Digest, z: &ZSet) {
    let mut add = |member: &[u8], score: f64| {
        let mut e = [0u8; 20];
        mix_digest(&mut e, member);
        mix_digest(&mut e, format_g17(score).as_bytes());
        xor_digest(d, &e);
    };
    // Order does not matter (the digests of the elements are XORed): the cheapest walk.
    for (m, s) in z.iter_unordered() {
        add(m, s);
    }
}

fn add_hash(d: &mut Digest, h: &Hash) {
    for (field, value) in h.iter() {
        let mut e = [0u8; 20];
        mix_digest(&mut e, field);
        mix_digest(&mut e, value);
        xor_digest(d, &e);
    }
}

/// C's `printf("%.17g", x)`: 17 significant digits, correctly rounded (ties to even, as glibc
/// does on the exact binary value), fixed notation when the decimal exponent is in [-4, 17),
/// scientific otherwise ("1e+20", "1.5000000000000001e-07"), trailing zeros removed.
pub(crate) fn format_g17(x: f64) -> String {
    const P: i32 = 17;
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // The exponent %g decides with is the one of the value rounded to P digits.
    let sci = format!("{:.*e}", (P - 1) as usize, x);
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..P).contains(&exp) {
        let fixed = format!("{:.*}", usize::try_from(P - 1 - exp).unwrap_or(0), x);
        trim_fraction(&fixed).to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!(
            "{}e{}{:02}",
            trim_fraction(mantissa),
            sign,
            exp.unsigned_abs()
        )
    }
}

/// Drops trailing zeros of a fraction, and the point when nothing is left after it.
fn trim_fraction(s: &str) -> &str {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use amber_store::db::NO_EXPIRE;
    use amber_store::Key;

    #[test]
    fn g17_matches_c_printf() {
        // Expected texts are glibc's printf("%.17g").
        let cases: &[(f64, &str)] = &[
            (0.1, "0.10000000000000001"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (1e20, "1e+20"),
            (1.5e-7, "1.4999999999999999e-07"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (12345678901234567.0, "12345678901234568"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1.0 / 3.0, "0.33333333333333331"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "4.9406564584124654e-324"),
            // An exact tie at the 17th digit: glibc rounds to even.
            (2f64.powi(50) + 0.25, "1125899906842624.2"),
            (2f64.powi(50) + 0.75, "1125899906842624.8"),
            (99999999999999999.0, "1e+17"),
            (9007199254740993.0, "9007199254740992"),
        ];
        for &(x, want) in cases {
            assert_eq!(format_g17(x), want, "{x:e}");
        }
    }

    fn entry(key: &str, value: Value, expire: i64) -> Entry {
        Entry::new(Key::from_slice(key.as_bytes()), value, expire, 0)
    }

    // Expected digests were read from Redis 7.0.15 (DEBUG DIGEST / DEBUG DIGEST-VALUE).
    #[test]
    fn string_digests_match_redis() {
        assert_eq!(
            hex(&value_digest(&entry("n", Value::Int(123), NO_EXPIRE))),
            "89f7f51b707418f666d5b45e053bd5bbbf82ac2b"
        );
        // An int-encoded string digests as its text.
        assert_eq!(
            value_digest(&entry("n", Value::Int(123), NO_EXPIRE)),
            value_digest(&entry("n", Value::string_no_int(b"123"), NO_EXPIRE))
        );
        let mut dbs = vec![Db::new(), Db::new(), Db::new()];
        assert_eq!(hex(&dataset_digest(&dbs)), "0".repeat(40));
        dbs[0].insert(Key::from_slice(b"k"), Value::string(b"v"), NO_EXPIRE, 0);
        dbs[0].insert(Key::from_slice(b"n"), Value::string(b"123"), NO_EXPIRE, 0);
        dbs[1].insert(Key::from_slice(b"k"), Value::string(b"v"), 4102444800000, 0);
        assert_eq!(
            hex(&dataset_digest(&dbs)),
            "8e91dfd8ad5b83edd1c776e1f0c3fa4356eea272"
        );
    }

    #[test]
    fn zset_digests_match_redis() {
        let limits = amber_store::Limits::default();
        let items: &[(&str, f64)] = &[
            ("a", 0.1),
            ("b", 1.0),
            ("c", -2.5),
            ("d", f64::INFINITY),
            ("e", f64::NEG_INFINITY),
            ("f", 1e20),
            ("g", 1.5e-7),
            ("h", 123456789012345678.0),
        ];
        let mut pack = ZSet::default();
        for (m, s) in items {
            pack.insert(m.as_bytes(), *s, &limits);
        }
        let mut skip = pack.clone();
        skip.convert_to_skiplist();
        assert_eq!(skip.encoding(), "skiplist");
        for z in [pack, skip] {
            let e = entry("z", Value::ZSet(z), NO_EXPIRE);
            assert_eq!(
                hex(&value_digest(&e)),
                "56d1405fae2b064a9d4497e5f88c98e071122975"
            );
        }
        // -0 in a skiplist prints "-0"; a listpack reads it back as 0.
        let mut z = ZSet::Skip(Default::default());
        z.insert(b"a", -0.0, &limits);
        let e = entry("nz", Value::ZSet(z), NO_EXPIRE);
        assert_eq!(
            hex(&value_digest(&e)),
            "c9ab76967bcda336b21df9199d49f17d5c44ca5f"
        );
        let mut z = ZSet::default();
        z.insert(b"a", -0.0, &limits);
        let e = entry("nz", Value::ZSet(z), NO_EXPIRE);
        assert_eq!(
            hex(&value_digest(&e)),
            "8d8d88c2cfb8d9411b8d9973c96538bd6378d446"
        );
    }

    #[test]
    fn order_matters_for_lists_only() {
        let limits = amber_store::Limits::default();
        let list = |items: &[&str]| {
            let mut l = amber_store::list::List::new();
            for i in items {
                l.push(amber_store::list::End::Right, i.as_bytes());
            }
            entry("l", Value::List(std::sync::Arc::new(l)), NO_EXPIRE)
        };
        assert_ne!(
            value_digest(&list(&["a", "b"])),
            value_digest(&list(&["b", "a"]))
        );
        assert_ne!(
            value_digest(&list(&["fo", "obar"])),
            value_digest(&list(&["foo", "bar"]))
        );
        let set = |items: &[&str]| {
            let mut s = Set::default();
            for i in items {
                s.add(i.as_bytes(), &limits);
            }
            entry("s", Value::Set(s), NO_EXPIRE)
        };
        assert_eq!(
            value_digest(&set(&["a", "b", "1"])),
            value_digest(&set(&["1", "b", "a"]))
        );
        // Intset and hashtable encodings of the same members agree.
        let ints = set(&["3", "1", "2"]);
        let mut t = Set::default();
        for i in ["1", "2", "3"] {
            t.add(i.as_bytes(), &limits);
        }
        t.convert();
        assert_eq!(
            value_digest(&ints),
            value_digest(&entry("s", Value::Set(t), NO_EXPIRE))
        );
        // A TTL changes the digest, its value does not.
        let a = value_digest(&entry("k", Value::string(b"v"), 1));
        let b = value_digest(&entry("k", Value::string(b"v"), 2));
        assert_eq!(a, b);
        assert_ne!(a, value_digest(&entry("k", Value::string(b"v"), NO_EXPIRE)));
    }
}
