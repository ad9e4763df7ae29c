//! One value in the keyspace and the string encodings Redis reports.

use std::sync::Arc;

use crate::hash::Hash;
use crate::list::List;
use crate::set::Set;
use crate::stream::Stream;
use crate::zset::ZSet;

pub use crate::blob::Blob;
pub use crate::raw::RawStr;
pub use crate::short_bytes::{EmbStr, Key};

/// Redis's largest "embstr" string; longer strings are "raw".
pub const EMBSTR_MAX: usize = 44;

/// A value, 16 bytes. A snapshot shares each collection with the live key, and a write after
/// the snapshot copies only the collection it touches: lists and streams sit behind `Arc`
/// (`Arc::make_mut`); hashes, sets and sorted sets hold their one block directly, a packed
/// encoding's bytes after a count (never written in place, see `shared.rs`) or a table behind
/// a copy-on-write pointer, so a small one costs one block, not an `Arc` block and its
/// contents.
#[derive(Clone, Debug)]
pub enum Value {
    /// A string holding a 64-bit integer in canonical form (encoding "int").
    Int(i64),
    /// A string of at most 44 bytes created whole (encoding "embstr").
    Emb(EmbStr),
    /// A string modified in place or longer than 44 bytes (encoding "raw").
    Raw(RawStr),
    List(Arc<List>),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    Stream(Arc<Stream>),
}

/// The value types TYPE reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    List,
    Hash,
    Set,
    ZSet,
    Stream,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Hash => "hash",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Stream => "stream",
        }
    }
}

/// Parses a canonical integer as Redis's string2ll does (no '+', no leading zeros, no spaces):
/// the protocol crate's parser, the one place that rule lives.
pub use amber_resp::parse::string2ll as parse_i64;

impl Value {
    /// A string value encoded as Redis's `tryObjectEncoding` would: int, embstr or raw.
    pub fn string(s: &[u8]) -> Value {
        if let Some(n) = parse_i64(s) {
            return Value::Int(n);
        }
        if s.len() <= EMBSTR_MAX {
            Value::Emb(EmbStr::from_slice(s))
        } else {
            Value::Raw(RawStr::from_slice(s))
        }
    }

    /// A string value that Redis would create without trying the int encoding
    /// (embstr when short, raw otherwise), e.g. the result of INCRBYFLOAT.
    pub fn string_no_int(s: &[u8]) -> Value {
        if s.len() <= EMBSTR_MAX {
            Value::Emb(EmbStr::from_slice(s))
        } else {
            Value::Raw(RawStr::from_slice(s))
        }
    }

    /// A raw-encoded string, as APPEND and SETRANGE leave it.
    pub fn raw(s: Vec<u8>) -> Value {
        Value::Raw(RawStr::from_slice(&s))
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Int(_) | Value::Emb(_) | Value::Raw(_) => Kind::String,
            Value::List(_) => Kind::List,
            Value::Hash(_) => Kind::Hash,
            Value::Set(_) => Kind::Set,
            Value::ZSet(_) => Kind::ZSet,
            Value::Stream(_) => Kind::Stream,
        }
    }

    pub fn is_string(&self) -> bool {
        self.kind() == Kind::String
    }

    /// The string's bytes (integers are formatted), `None` for other types.
    pub fn as_bytes(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        match self {
            Value::Int(n) => Some(std::borrow::Cow::Owned(n.to_string().into_bytes())),
            Value::Emb(b) => Some(std::borrow::Cow::Borrowed(&b[..])),
            Value::Raw(v) => Some(std::borrow::Cow::Borrowed(&v[..])),
            _ => None,
        }
    }

    /// What OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Emb(_) => "embstr",
            Value::Raw(_) => "raw",
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_compact() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        // The collections a value holds directly: a tag and a 12-byte packed block handle.
        assert_eq!(std::mem::size_of::<Hash>(), 13);
        assert_eq!(std::mem::size_of::<Set>(), 13);
        assert_eq!(std::mem::size_of::<ZSet>(), 13);
    }

    #[test]
    fn clones_share_collections_and_writes_copy() {
        let l = crate::Limits::default();
        let mut s = Set::default();
        for i in 0..10 {
            s.add(i.to_string().as_bytes(), &l);
        }
        let mut v = Value::Set(s);
        let snap = v.clone();
        let Value::Set(live) = &mut v else {
            unreachable!()
        };
        assert!(live.is_shared());
        live.add(b"10", &l);
        live.convert();
        live.add(b"x", &l);
        let Value::Set(old) = &snap else {
            unreachable!()
        };
        assert!(!old.is_shared() && !live.is_shared());
        assert_eq!((old.len(), old.encoding()), (10, "intset"));
        assert_eq!((live.len(), live.encoding()), (12, "hashtable"));
        // A table is shared too, and copied by the first write.
        let snap2 = v.clone();
        let Value::Set(live) = &mut v else {
            unreachable!()
        };
        assert!(live.is_shared());
        live.remove(b"x");
        let Value::Set(old) = &snap2 else {
            unreachable!()
        };
        assert!(old.contains(b"x") && !live.contains(b"x"));
    }

    #[test]
    fn string_encodings_follow_redis() {
        assert_eq!(Value::string(b"12345").encoding(), "int");
        assert_eq!(Value::string(b"-9223372036854775808").encoding(), "int");
        assert_eq!(Value::string(b"9223372036854775808").encoding(), "embstr");
        assert_eq!(Value::string(b"007").encoding(), "embstr");
        assert_eq!(Value::string(&[b'x'; 44]).encoding(), "embstr");
        assert_eq!(Value::string(&[b'x'; 45]).encoding(), "raw");
        assert_eq!(Value::string(b"12").as_bytes().unwrap().as_ref(), b"12");
    }
}
