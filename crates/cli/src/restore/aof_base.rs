//! A fresh AOF directory whose base is the restored RDB, for a server with `appendonly yes`
//! (it loads the AOF, not dump.rdb, at start). Exactly what Redis 7.0.15 writes for a new
//! AOF (checked by starting redis-server --appendonly yes in an empty directory):
//!
//! ```text
//! appendonlydir/
//!   appendonly.aof.1.base.rdb     the RDB
//!   appendonly.aof.1.incr.aof     empty
//!   appendonly.aof.manifest       "file appendonly.aof.1.base.rdb seq 1 type b\n"
//!                                 "file appendonly.aof.1.incr.aof seq 1 type i\n"
//! ```
//!
//! The names and the manifest come from persist's manifest module (the server's own).

use amber_persist::aof::manifest::{manifest_file_name, Manifest};

/// Names Redis would write without quoting, with no '/': anything else is refused rather
/// than risk a file outside the data directory or a name the server reads differently.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('/')
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\')
}

/// A new AOF: an RDB base and an empty incr, both of sequence 1, and their manifest.
pub struct FreshAof {
    pub manifest: Manifest,
    pub base_name: String,
    pub incr_name: String,
    pub manifest_name: String,
}

impl FreshAof {
    pub fn new(appendfilename: &str) -> FreshAof {
        let mut manifest = Manifest::new();
        let base_name = manifest.next_base(appendfilename, true).name_lossy();
        let incr_name = manifest.next_incr(appendfilename).name_lossy();
        FreshAof {
            manifest,
            base_name,
            incr_name,
            manifest_name: manifest_file_name(appendfilename),
        }
    }

    /// The three files, in the order they are reported.
    pub fn file_names(&self) -> [&str; 3] {
        [&self.base_name, &self.incr_name, &self.manifest_name]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_as_redis_writes_it() {
        let f = FreshAof::new("appendonly.aof");
        assert_eq!(
            f.manifest.to_text(),
            "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        assert_eq!(
            f.file_names(),
            [
                "appendonly.aof.1.base.rdb",
                "appendonly.aof.1.incr.aof",
                "appendonly.aof.manifest"
            ]
        );
        assert!(plain_name("appendonly.aof"));
        assert!(!plain_name("my aof"));
        assert!(!plain_name("../x"));
    }
}
