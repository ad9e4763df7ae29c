//! The backup repository: a handful of objects behind the `object_store` crate, in a local
//! directory (with fsync of files and directories on every publish) or on S3-compatible
//! object storage (`s3://bucket/prefix`, see `s3`). The layout and the rules are the same:
//!
//! ```text
//! REPO/
//!   data/<id>.rdb.zst      the snapshot, zstd-compressed (written first, multipart)
//!   catalog/<id>.json      what the snapshot holds; written last, create-only: an entry
//!                          exists only for data that was stored whole
//!   uploads/<id>.rdb.zst.json   S3 only: the multipart upload in progress for data/<id>
//!                          (its upload id), so that `prune` can abort one a killed
//!                          `backup create` left (its parts are invisible to listings)
//! ```
//!
//! What atomicity relies on: a data object becomes visible whole or not at all (a local
//! staging file renamed into place; S3's CompleteMultipartUpload), and the catalog entry is
//! written after it with a create-only put (a hard link, never a replace, on a directory;
//! `If-None-Match: *` on S3; a HEAD then a PUT on a store that answers 501 to it, or with
//! AWS_CONDITIONAL_PUT=disabled, which spares the retries of the 501), itself
//! a single PUT that S3 makes visible whole. S3 has been strongly read-after-write
//! consistent since 2020, so a listed entry's data is readable.
//!
//! The async API is driven from a tokio runtime owned by the `Repo`; every call blocks.
//! Transfers go through `ObjectWriter` (8 MiB parts, a few in flight) and `ObjectReader`
//! (8 MiB ranged reads), so no object is ever held whole in memory (see `transfer`).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::aws::AmazonS3;
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

pub use super::transfer::ObjectWriter;
use super::{s3, RepoArg};
use crate::Failure;

pub(super) enum Backend {
    /// Where the local backend keeps its files (for the staging-file sweep of `prune`).
    Local { root: PathBuf },
    S3 {
        mp: Arc<PrefixStore<AmazonS3>>,
        target: s3::Target,
    },
}

pub struct Repo {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) backend: Backend,
    pub(super) rt: Runtime,
    pub location: String,
}

pub fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

/// A backup that did not finish uploading: a local staging file, or an S3 multipart upload.
pub struct Unfinished {
    /// What to call it in reports.
    pub name: String,
    pub modified_ms: i64,
    what: UnfinishedKind,
}

enum UnfinishedKind {
    StagingFile(PathBuf),
    Marker(String),
}

/// `uploads/<name>.json`: the multipart upload under way for `object`.
#[derive(Serialize, Deserialize)]
pub(super) struct UploadMarker {
    pub object: String,
    pub upload_id: String,
}

pub(super) fn marker_key(object: &str) -> String {
    let name = object.rsplit('/').next().unwrap_or(object);
    format!("uploads/{name}.json")
}

/// The store refused a conditional write as unsupported (501 NotImplemented).
/// or AWS_CONDITIONAL_PUT=disabled said not to try.
fn not_implemented(e: &object_store::Error) -> bool {
    if matches!(e, object_store::Error::NotImplemented { .. }) {
        return true;
    }
    let t = e.to_string();
    t.contains("NotImplemented") || t.contains("501 Not Implemented")
}

fn runtime() -> Result<Runtime, Failure> {
    // Two workers: parts upload while the caller compresses the next one.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("can't start the I/O runtime: {e}")))
}

/// Objects read and parsed: (key, value) of those that parsed, "<key>: <why>" of the others.
pub type Parsed<T> = (Vec<(String, T)>, Vec<String>);

impl Repo {
    /// Opens the repository `arg` names, creating it when `create` (backup create does,
    /// every other command wants an existing one).
    pub fn open(arg: &RepoArg, create: bool) -> Result<Repo, Failure> {
        match s3::parse_location(&arg.repo)? {
            s3::Location::Local(dir) => Self::open_local(&dir, create),
            s3::Location::S3 { bucket, prefix } => Self::open_s3(arg, &bucket, &prefix, create),
        }
    }

    fn open_local(dir: &std::path::Path, create: bool) -> Result<Repo, Failure> {
        if create {
            for sub in ["data", "catalog"] {
                std::fs::create_dir_all(dir.join(sub)).map_err(|e| {
                    Failure(format!(
                        "can't create the repository {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        } else if !dir.join("catalog").is_dir() {
            return Err(Failure(format!(
                "{} is not a backup repository (no catalog/ directory)",
                dir.display()
            )));
        }
        let root = std::fs::canonicalize(dir)
            .map_err(|e| Failure(format!("can't open {}: {e}", dir.display())))?;
        let fs = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| Failure(format!("can't open {}: {e}", dir.display())))?
            .with_fsync(true);
        Ok(Repo {
            store: Arc::new(fs),
            rt: runtime()?,
            location: root.display().to_string(),
            backend: Backend::Local { root },
        })
    }

    /// One listing of the prefix checks endpoint, credentials and bucket before any work.
    fn open_s3(arg: &RepoArg, bucket: &str, prefix: &str, create: bool) -> Result<Repo, Failure> {
        let (store, target) = s3::build(arg, bucket, prefix)?;
        let mp = Arc::new(store);
        let repo = Repo {
            store: mp.clone(),
            rt: runtime()?,
            location: target.url.clone(),
            backend: Backend::S3 { mp, target },
        };
        let top = repo
            .rt
            .block_on(repo.store.list_with_delimiter(None))
            .map_err(|e| {
                Failure(format!(
                    "can't open {}: {}",
                    repo.location,
                    repo.explain(&e)
                ))
            })?;
        let known = ["catalog", "data", "uploads", "archive"];
        let is_repo = top
            .common_prefixes
            .iter()
            .any(|p| known.contains(&p.as_ref()));
        if !create && !is_repo {
            return Err(Failure(format!(
                "{} is not a backup repository (nothing under catalog/ or data/; `amber backup create` makes one)",
                repo.location
            )));
        }
        Ok(repo)
    }

    /// The error, with what to fix when it is one of the S3 errors we know.
    pub(super) fn explain(&self, e: &object_store::Error) -> String {
        match &self.backend {
            Backend::S3 { target, .. } => s3::hint(target, e).unwrap_or_else(|| e.to_string()),
            Backend::Local { .. } => e.to_string(),
        }
    }

    /// An object_store error as io::Error: NotFound and AlreadyExists keep their kind.
    pub(super) fn err(&self, what: &str, e: object_store::Error) -> io::Error {
        if let Backend::S3 { target, .. } = &self.backend {
            if let Some(h) = s3::hint(target, &e) {
                return io::Error::other(format!("{what}: {h}"));
            }
        }
        match e {
            object_store::Error::NotFound { .. } => {
                io::Error::new(io::ErrorKind::NotFound, format!("{what}: not found"))
            }
            object_store::Error::AlreadyExists { .. } => io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{what}: already exists"),
            ),
            e => io::Error::other(format!("{what}: {e}")),
        }
    }

    /// Stores a small object atomically; `create_only` fails if it exists.
    pub fn put(&self, key: &str, data: Vec<u8>, create_only: bool) -> io::Result<()> {
        let opts = PutOptions {
            mode: if create_only {
                PutMode::Create
            } else {
                PutMode::Overwrite
            },
            ..PutOptions::default()
        };
        let path = Path::from(key);
        let data = bytes::Bytes::from(data);
        match self.rt.block_on(
            self.store
                .put_opts(&path, PutPayload::from(data.clone()), opts),
        ) {
            Ok(_) => Ok(()),
            // An S3-compatible store without conditional writes (If-None-Match): a HEAD
            // first, then a plain PUT. Ids are unique (time and a random salt), so the
            // window between the two is no risk in practice.
            Err(e) if create_only && not_implemented(&e) => match self.head(key) {
                Ok(_) => Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{key}: already exists"),
                )),
                Err(h) if is_not_found(&h) => self.put(key, data.to_vec(), false),
                Err(h) => Err(h),
            },
            Err(e) => Err(self.err(key, e)),
        }
    }

    /// Stores several small objects at once (each atomically, plain overwriting PUTs), all
    /// under way together: one result per object, in order.
    pub fn put_all(&self, items: Vec<(String, Vec<u8>)>) -> Vec<io::Result<()>> {
        let tasks: Vec<_> = items
            .into_iter()
            .map(|(key, data)| {
                let store = self.store.clone();
                let path = Path::from(key.as_str());
                let task = self
                    .rt
                    .spawn(async move { store.put(&path, PutPayload::from(data)).await });
                (task, key)
            })
            .collect();
        tasks
            .into_iter()
            .map(|(task, key)| match self.rt.block_on(task) {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(self.err(&key, e)),
                Err(e) => Err(io::Error::other(format!("{key}: upload task: {e}"))),
            })
            .collect()
    }

    /// A small object, whole.
    pub fn get(&self, key: &str) -> io::Result<Vec<u8>> {
        self.rt
            .block_on(async {
                let r = self.store.get(&Path::from(key)).await?;
                r.bytes().await
            })
            .map(|b| b.to_vec())
            .map_err(|e| self.err(key, e))
    }

    pub fn head(&self, key: &str) -> io::Result<ObjectMeta> {
        self.rt
            .block_on(self.store.head(&Path::from(key)))
            .map_err(|e| self.err(key, e))
    }

    pub fn delete(&self, key: &str) -> io::Result<()> {
        self.rt
            .block_on(self.store.delete(&Path::from(key)))
            .map_err(|e| self.err(key, e))
    }

    /// The objects under `prefix` whose names end with `suffix`, each read and parsed: the
    /// keys and values that parsed, and "<key>: <why>" for those that did not (a failed
    /// listing fails as a whole).
    pub fn read_parsed<T>(
        &self,
        prefix: &str,
        suffix: &str,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> io::Result<Parsed<T>> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for m in self.list(prefix)? {
            let key = m.location.to_string();
            if !key.ends_with(suffix) {
                continue;
            }
            match self
                .get(&key)
                .map_err(|e| e.to_string())
                .and_then(|b| parse(&b))
            {
                Ok(v) => out.push((key, v)),
                Err(e) => bad.push(format!("{key}: {e}")),
            }
        }
        Ok((out, bad))
    }

    /// Every object under `prefix` ("data", "catalog", "uploads").
    pub fn list(&self, prefix: &str) -> io::Result<Vec<ObjectMeta>> {
        let p = Path::from(prefix);
        self.rt.block_on(async {
            let mut s = self.store.list(Some(&p));
            let mut out = Vec::new();
            while let Some(m) = s.next().await {
                out.push(m.map_err(|e| self.err(prefix, e))?);
            }
            out.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
            Ok(out)
        })
    }

    /// Uploads left behind by a killed `backup create` (or one under way): the local
    /// backend stages them as `data/<name>#<n>`, which listings never show; on S3 each has
    /// a marker in uploads/.
    pub fn unfinished(&self) -> io::Result<Vec<Unfinished>> {
        let mut out = Vec::new();
        match &self.backend {
            Backend::Local { root } => {
                if let Ok(rd) = std::fs::read_dir(root.join("data")) {
                    for e in rd.flatten() {
                        if e.file_name().to_string_lossy().contains('#') {
                            let t = e
                                .metadata()
                                .and_then(|m| m.modified())
                                .unwrap_or(std::time::UNIX_EPOCH);
                            let ms = t
                                .duration_since(std::time::UNIX_EPOCH)
                                .map(|d| d.as_millis() as i64)
                                .unwrap_or(0);
                            out.push(Unfinished {
                                name: e.path().display().to_string(),
                                modified_ms: ms,
                                what: UnfinishedKind::StagingFile(e.path()),
                            });
                        }
                    }
                }
            }
            Backend::S3 { .. } => {
                for m in self.list("uploads")? {
                    let key = m.location.to_string();
                    let object = key
                        .strip_prefix("uploads/")
                        .and_then(|n| n.strip_suffix(".json"))
                        .map(|n| format!("data/{n}"))
                        .unwrap_or_else(|| key.clone());
                    out.push(Unfinished {
                        name: format!("{object} (multipart upload, {key})"),
                        modified_ms: m.last_modified.timestamp_millis(),
                        what: UnfinishedKind::Marker(key),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes an unfinished upload: the staging file, or the S3 upload's parts (abort)
    /// and then its marker.
    pub fn remove_unfinished(&self, u: &Unfinished) -> io::Result<()> {
        match (&u.what, &self.backend) {
            (UnfinishedKind::StagingFile(p), _) => std::fs::remove_file(p),
            (UnfinishedKind::Marker(key), Backend::S3 { mp, .. }) => {
                let m: UploadMarker = match self.get(key) {
                    Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidData, format!("{key}: {e}"))
                    })?,
                    Err(e) if is_not_found(&e) => return Ok(()),
                    Err(e) => return Err(e),
                };
                let path = Path::from(m.object.as_str());
                let id = m.upload_id.clone();
                match self.rt.block_on(mp.abort_multipart(&path, &id)) {
                    // NoSuchUpload: already completed or aborted.
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.err(&m.object, e)),
                }
                match self.delete(key) {
                    Err(e) if !is_not_found(&e) => Err(e),
                    _ => Ok(()),
                }
            }
            (UnfinishedKind::Marker(_), Backend::Local { .. }) => Ok(()),
        }
    }
}
