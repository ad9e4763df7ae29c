//! The backup repository: a handful of objects behind the `object_store` crate, so that an
//! object-storage target is a change of configuration, not of code. Today the backend is the
//! local filesystem (with fsync of files and directories on every publish).
//!
//! ```text
//! REPO/
//!   data/<id>.rdb.zst      the snapshot, zstd-compressed (written first, multipart)
//!   catalog/<id>.json      what the snapshot holds; written last, atomically: an entry
//!                          exists only for data that was stored whole
//! ```
//!
//! The async API is driven from a current-thread tokio runtime owned by the `Repo`; every
//! call blocks. Transfers go through `ObjectWriter` (8 MiB parts) and `ObjectReader`
//! (8 MiB ranged reads), so no object is ever held whole in memory.

use std::io::{self, Read, Write};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use tokio::runtime::Runtime;

use crate::Failure;

/// Bytes per multipart part and per ranged read.
const PART: usize = 8 * 1024 * 1024;

pub struct Repo {
    store: Arc<dyn ObjectStore>,
    rt: Runtime,
    /// Where the local backend keeps its files (for the staging-file sweep of `prune`).
    root: PathBuf,
    pub location: String,
}

fn os_err(what: &str, e: object_store::Error) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

pub fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

fn map_err(what: &str, e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => {
            io::Error::new(io::ErrorKind::NotFound, format!("{what}: not found"))
        }
        object_store::Error::AlreadyExists { .. } => io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{what}: already exists"),
        ),
        e => os_err(what, e),
    }
}

impl Repo {
    /// Opens the repository at `dir`, creating it when `create` (backup create does, every
    /// other command wants an existing one).
    pub fn open(dir: &FsPath, create: bool) -> Result<Repo, Failure> {
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
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| Failure(format!("can't start the I/O runtime: {e}")))?;
        Ok(Repo {
            store: Arc::new(fs),
            rt,
            location: root.display().to_string(),
            root,
        })
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
        self.rt
            .block_on(
                self.store
                    .put_opts(&Path::from(key), PutPayload::from(data), opts),
            )
            .map(|_| ())
            .map_err(|e| map_err(key, e))
    }

    /// A small object, whole.
    pub fn get(&self, key: &str) -> io::Result<Vec<u8>> {
        self.rt
            .block_on(async {
                let r = self.store.get(&Path::from(key)).await?;
                r.bytes().await
            })
            .map(|b| b.to_vec())
            .map_err(|e| map_err(key, e))
    }

    pub fn head(&self, key: &str) -> io::Result<ObjectMeta> {
        self.rt
            .block_on(self.store.head(&Path::from(key)))
            .map_err(|e| map_err(key, e))
    }

    pub fn delete(&self, key: &str) -> io::Result<()> {
        self.rt
            .block_on(self.store.delete(&Path::from(key)))
            .map_err(|e| map_err(key, e))
    }

    /// Every object under `prefix` ("data" or "catalog").
    pub fn list(&self, prefix: &str) -> io::Result<Vec<ObjectMeta>> {
        let p = Path::from(prefix);
        self.rt.block_on(async {
            let mut s = self.store.list(Some(&p));
            let mut out = Vec::new();
            while let Some(m) = s.next().await {
                out.push(m.map_err(|e| map_err(prefix, e))?);
            }
            out.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
            Ok(out)
        })
    }

    /// Uploads left behind by a killed `backup create` (the local backend stages them as
    /// `<name>#<n>` next to the target; listing never shows them).
    pub fn staging_leftovers(&self) -> Vec<(PathBuf, std::time::SystemTime)> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.root.join("data")) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().contains('#') {
                    let t = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    out.push((e.path(), t));
                }
            }
        }
        out.sort();
        out
    }

    /// A streaming upload of `key`; nothing is visible under the name until `finish`.
    pub fn writer(&self, key: &str) -> io::Result<ObjectWriter<'_>> {
        let upload = self
            .rt
            .block_on(self.store.put_multipart(&Path::from(key)))
            .map_err(|e| map_err(key, e))?;
        Ok(ObjectWriter {
            repo: self,
            upload: Some(upload),
            buf: Vec::with_capacity(PART),
            key: key.to_string(),
        })
    }

    /// A streaming download of `key`.
    pub fn reader(&self, key: &str) -> io::Result<ObjectReader<'_>> {
        let size = self.head(key)?.size;
        Ok(ObjectReader {
            repo: self,
            path: Path::from(key),
            size,
            pos: 0,
            chunk: Bytes::new(),
        })
    }
}

pub struct ObjectWriter<'a> {
    repo: &'a Repo,
    upload: Option<Box<dyn MultipartUpload>>,
    buf: Vec<u8>,
    key: String,
}

impl ObjectWriter<'_> {
    fn send_part(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(PART));
        let up = self
            .upload
            .as_mut()
            .ok_or_else(|| io::Error::other("upload already finished"))?;
        let fut = up.put_part(PutPayload::from(data));
        self.repo
            .rt
            .block_on(fut)
            .map_err(|e| map_err(&self.key, e))
    }

    /// Uploads what is buffered and publishes the object.
    pub fn finish(mut self) -> io::Result<()> {
        self.send_part()?;
        let mut up = self
            .upload
            .take()
            .ok_or_else(|| io::Error::other("upload already finished"))?;
        self.repo
            .rt
            .block_on(up.complete())
            .map(|_| ())
            .map_err(|e| map_err(&self.key, e))
    }
}

impl Write for ObjectWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = PART - self.buf.len();
        let k = room.min(data.len());
        self.buf.extend_from_slice(&data[..k]);
        if self.buf.len() >= PART {
            self.send_part()?;
        }
        Ok(k)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ObjectWriter<'_> {
    fn drop(&mut self) {
        // Not finished: abort, so the staging file goes too.
        if let Some(mut up) = self.upload.take() {
            let _ = self.repo.rt.block_on(up.abort());
        }
    }
}

pub struct ObjectReader<'a> {
    repo: &'a Repo,
    path: Path,
    size: u64,
    pos: u64,
    chunk: Bytes,
}

impl ObjectReader<'_> {
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Read for ObjectReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.chunk.is_empty() {
            if self.pos >= self.size {
                return Ok(0);
            }
            let end = (self.pos + PART as u64).min(self.size);
            let b = self
                .repo
                .rt
                .block_on(self.repo.store.get_range(&self.path, self.pos..end))
                .map_err(|e| map_err(self.path.as_ref(), e))?;
            if b.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} is shorter than its listed size", self.path),
                ));
            }
            self.pos += b.len() as u64;
            self.chunk = b;
        }
        let k = out.len().min(self.chunk.len());
        out[..k].copy_from_slice(&self.chunk[..k]);
        let _ = self.chunk.split_to(k);
        Ok(k)
    }
}
