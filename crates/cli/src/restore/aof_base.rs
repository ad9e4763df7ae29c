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
//! Deliberately small: the full manifest module (crates/persist/src/aof) replaces this.

/// Names Redis would write without quoting: anything else is refused rather than risk a
/// manifest the server reads differently.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('/')
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\')
}

pub fn base_name(appendfilename: &str) -> String {
    format!("{appendfilename}.1.base.rdb")
}

pub fn incr_name(appendfilename: &str) -> String {
    format!("{appendfilename}.1.incr.aof")
}

pub fn manifest_name(appendfilename: &str) -> String {
    format!("{appendfilename}.manifest")
}

pub fn manifest(appendfilename: &str) -> String {
    format!(
        "file {} seq 1 type b\nfile {} seq 1 type i\n",
        base_name(appendfilename),
        incr_name(appendfilename)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_as_redis_writes_it() {
        assert_eq!(
            manifest("appendonly.aof"),
            "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        assert!(plain_name("appendonly.aof"));
        assert!(!plain_name("my aof"));
        assert!(!plain_name("../x"));
    }
}
