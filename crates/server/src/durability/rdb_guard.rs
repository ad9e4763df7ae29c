//! The classic recovery mistake: only `dump.rdb` put back into a data directory whose
//! configuration says `appendonly yes`. The server loads the AOF (here: none, or one holding
//! nothing) and not the RDB, so it starts empty, and its next save would replace the user's
//! dump with that empty dataset.
//!
//! Amber says so in the first line of its log (before the banner), reports the file in INFO
//! (`amber_rdb_not_loaded`), and before its first save to `dbfilename` renames the file it did
//! not load to `<dbfilename>.not-loaded-<unix time>`, so that no save destroys it.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use amber_persist::rdb::decode::{Decoder, Item};

use crate::config::Config;
use crate::server::Server;

/// An RDB file present at start that the server did not load.
#[derive(Debug)]
pub(crate) struct NotLoaded {
    /// `dbfilename`, relative to `dir` (the working directory once the server runs).
    name: String,
    dev: u64,
    ino: u64,
    /// Where it was moved before the first save replaced `name`.
    kept_as: Option<String>,
}

impl NotLoaded {
    /// Where the file is now, for INFO.
    pub(crate) fn path(&self) -> &str {
        self.kept_as.as_deref().unwrap_or(&self.name)
    }
}

/// Start-up with appendonly yes, before anything is logged: an RDB file with keys in `dir`
/// while the AOF holds nothing. Returns it and the warning to log first.
pub(crate) fn check_at_start(config: &Config) -> Option<(NotLoaded, String)> {
    if !config.appendonly {
        return None;
    }
    let dir = Path::new(if config.dir.is_empty() {
        "."
    } else {
        &config.dir
    });
    let rdb = dir.join(&config.dbfilename);
    let meta = std::fs::metadata(&rdb).ok()?;
    if !meta.is_file() || !rdb_has_keys(&rdb) || aof_holds_data(dir, config) {
        return None;
    }
    let name = config.dbfilename.clone();
    let warning = format!(
        "WARNING: appendonly is yes and the AOF holds no data, so {name} ({} bytes, with keys) \
         is NOT loaded: the server starts EMPTY. To start from {name}: stop the server, start \
         it once with appendonly no (it loads {name}), then CONFIG SET appendonly yes and wait \
         for aof_rewrite_in_progress:0 (the AOF is written from the loaded data). {name} is not \
         overwritten: the first save renames it to {name}.not-loaded-<unix time> first.",
        meta.len()
    );
    Some((
        NotLoaded {
            name,
            dev: meta.dev(),
            ino: meta.ino(),
            kept_as: None,
        },
        warning,
    ))
}

/// The file decodes as an RDB up to at least one key (only the start of it is read).
fn rdb_has_keys(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let Ok(mut dec) = Decoder::new(BufReader::new(f)) else {
        return false;
    };
    loop {
        match dec.next() {
            Ok(Some(Item::Entry(_))) => return true,
            Ok(Some(Item::Eof { .. })) | Ok(None) | Err(_) => return false,
            Ok(Some(_)) => {}
        }
    }
}

/// What the server loads at start holds something: an old-style AOF, or a manifest whose
/// base has keys (or commands) or whose incr files are not empty. When in doubt (a manifest
/// that does not parse: the server refuses to start on it anyway), it does.
fn aof_holds_data(dir: &Path, config: &Config) -> bool {
    let name = &config.appendfilename;
    if std::fs::metadata(dir.join(name)).is_ok_and(|m| m.len() > 0) {
        return true;
    }
    let aof_dir = dir.join(&config.appenddirname);
    let manifest = match crate::durability::aof::load::read_manifest(&aof_dir, name) {
        Ok(Some(m)) => m,
        Ok(None) => return false,
        Err(_) => return true,
    };
    let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let base_data = manifest.base.as_ref().is_some_and(|b| {
        let p = b.path_in(&aof_dir);
        if starts_with_rdb_magic(&p) {
            rdb_has_keys(&p)
        } else {
            size(&p) > 0
        }
    });
    base_data
        || manifest
            .incrs
            .iter()
            .any(|i| size(&i.path_in(&aof_dir)) > 0)
}

fn starts_with_rdb_magic(p: &Path) -> bool {
    let mut magic = [0u8; 5];
    File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"REDIS"
}

/// Before a save writes `dbfilename`: the RDB the server did not load at start, if it is
/// still there, is renamed aside (and the directory fsynced) so that the save cannot replace
/// it. The first save only; logged.
pub(crate) fn keep_aside(srv: &mut Server) {
    let Some(nl) = srv.rdb_not_loaded.as_mut() else {
        return;
    };
    if nl.kept_as.is_some() || srv.config.dbfilename != nl.name {
        return;
    }
    let same = std::fs::metadata(&nl.name).is_ok_and(|m| m.dev() == nl.dev && m.ino() == nl.ino);
    if !same {
        // Removed or replaced since start: nothing of it left to keep.
        srv.rdb_not_loaded = None;
        return;
    }
    let aside = format!("{}.not-loaded-{}", nl.name, crate::server::unix_ms() / 1000);
    match std::fs::rename(&nl.name, &aside) {
        Ok(()) => {
            if let Ok(d) = File::open(".") {
                let _ = d.sync_all();
            }
            srv.log.warning(&format!(
                "{} was not loaded at start (appendonly yes): kept as {aside} before this save \
                 replaces it. To load it: stop the server, rename it back to {}, start once with \
                 appendonly no, then CONFIG SET appendonly yes.",
                nl.name, nl.name
            ));
            nl.kept_as = Some(aside);
        }
        Err(e) => srv.log.warning(&format!(
            "Can't keep {} (not loaded at start) aside as {aside}: {e}. The save replaces it.",
            nl.name
        )),
    }
}
