//! Streaming transfers to and from a repository (see `repo`): `ObjectWriter` uploads 8 MiB
//! parts with up to `IN_FLIGHT` of them under way while the caller produces the next, and
//! publishes the object only in `finish`; `ObjectReader` reads 8 MiB ranges, the next
//! `READ_AHEAD` of them requested while the caller consumes the current one.
//!
//! On S3 an upload is a multipart upload whose id is recorded in `uploads/` before the
//! first part goes out, and the record is removed once the upload is completed or aborted;
//! a killed writer leaves the record, and `prune` aborts the upload it names once it is
//! older than the grace period. A long upload rewrites its record every `TOUCH` so that its
//! age says when it last made progress (as a local staging file's mtime does).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{MultipartId, MultipartUpload, ObjectStoreExt, PutPayload};
use tokio::task::JoinHandle;

use super::repo::{marker_key, Backend, Repo, UploadMarker};

/// Bytes per multipart part and per ranged read (S3 wants at least 5 MiB but for the last;
/// at most 10,000 parts: 80 GB).
const PART: usize = 8 * 1024 * 1024;
/// Parts uploading at once (memory: this many parts plus the one being filled).
const IN_FLIGHT: usize = 4;
/// Ranged reads under way ahead of the one being consumed.
const READ_AHEAD: usize = 2;
/// How often an S3 upload in progress refreshes its record in uploads/.
const TOUCH: Duration = Duration::from_secs(60);

enum Upload {
    Local(Box<dyn MultipartUpload>),
    S3 {
        mp: Arc<PrefixStore<AmazonS3>>,
        path: Path,
        id: MultipartId,
        marker: String,
        record: Vec<u8>,
        touched: Instant,
    },
}

pub struct ObjectWriter<'a> {
    repo: &'a Repo,
    upload: Option<Upload>,
    buf: Vec<u8>,
    key: String,
    in_flight: VecDeque<JoinHandle<object_store::Result<Option<PartId>>>>,
    parts: Vec<PartId>,
}

impl Repo {
    /// A streaming upload of `key`; nothing is visible under the name until `finish`.
    pub fn writer(&self, key: &str) -> io::Result<ObjectWriter<'_>> {
        let path = Path::from(key);
        let upload = match &self.backend {
            Backend::Local { .. } => Upload::Local(
                self.rt
                    .block_on(self.store.put_multipart(&path))
                    .map_err(|e| self.err(key, e))?,
            ),
            Backend::S3 { mp, .. } => {
                let id = self
                    .rt
                    .block_on(mp.create_multipart(&path))
                    .map_err(|e| self.err(key, e))?;
                let marker = marker_key(key);
                let record = UploadMarker {
                    object: key.to_string(),
                    upload_id: id.clone(),
                };
                let record = serde_json::to_vec(&record).unwrap_or_default();
                if let Err(e) = self.put(&marker, record.clone(), false) {
                    // No part was sent: the empty upload holds no data. Abort it anyway.
                    let _ = self.rt.block_on(mp.abort_multipart(&path, &id));
                    return Err(e);
                }
                Upload::S3 {
                    mp: mp.clone(),
                    path,
                    id,
                    marker,
                    record,
                    touched: Instant::now(),
                }
            }
        };
        Ok(ObjectWriter {
            repo: self,
            upload: Some(upload),
            buf: Vec::with_capacity(PART),
            key: key.to_string(),
            in_flight: VecDeque::new(),
            parts: Vec::new(),
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
            ahead: VecDeque::new(),
        })
    }
}

fn finished() -> io::Error {
    io::Error::other("upload already finished")
}

impl ObjectWriter<'_> {
    /// Starts uploading what is buffered; waits for the oldest part when too many are out.
    fn send_part(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = PutPayload::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PART)));
        let idx = self.parts.len() + self.in_flight.len();
        let task = match self.upload.as_mut().ok_or_else(finished)? {
            Upload::Local(up) => {
                let f = up.put_part(data);
                self.repo.rt.spawn(async move { f.await.map(|()| None) })
            }
            Upload::S3 {
                mp,
                path,
                id,
                marker,
                record,
                touched,
            } => {
                if touched.elapsed() >= TOUCH {
                    // Best effort: a failed refresh only makes the upload look older.
                    let _ = self.repo.put(marker, record.clone(), false);
                    *touched = Instant::now();
                }
                let (mp, path, id) = (mp.clone(), path.clone(), id.clone());
                self.repo
                    .rt
                    .spawn(async move { mp.put_part(&path, &id, idx, data).await.map(Some) })
            }
        };
        self.in_flight.push_back(task);
        while self.in_flight.len() >= IN_FLIGHT {
            self.wait_oldest()?;
        }
        Ok(())
    }

    fn wait_oldest(&mut self) -> io::Result<()> {
        let Some(task) = self.in_flight.pop_front() else {
            return Ok(());
        };
        match self.repo.rt.block_on(task) {
            Ok(Ok(part)) => {
                self.parts.extend(part);
                Ok(())
            }
            Ok(Err(e)) => Err(self.repo.err(&self.key, e)),
            Err(e) => Err(io::Error::other(format!("{}: upload task: {e}", self.key))),
        }
    }

    /// Uploads what is buffered and publishes the object.
    pub fn finish(mut self) -> io::Result<()> {
        self.send_part()?;
        while !self.in_flight.is_empty() {
            self.wait_oldest()?;
        }
        let repo = self.repo;
        let key = self.key.clone();
        let parts = std::mem::take(&mut self.parts);
        // On failure the upload stays, for Drop to abort.
        match self.upload.as_mut().ok_or_else(finished)? {
            Upload::Local(up) => {
                repo.rt
                    .block_on(up.complete())
                    .map_err(|e| repo.err(&key, e))?;
            }
            Upload::S3 {
                mp,
                path,
                id,
                marker,
                ..
            } => {
                repo.rt
                    .block_on(mp.complete_multipart(path, id, parts))
                    .map_err(|e| repo.err(&key, e))?;
                // The object is whole; a record left behind (this delete failed) is swept
                // by prune, whose abort then finds no such upload.
                let _ = repo.delete(marker);
            }
        }
        self.upload = None;
        Ok(())
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
        // Not finished: abort, so the staging file (or the uploaded parts) go too.
        for t in self.in_flight.drain(..) {
            t.abort();
            let _ = self.repo.rt.block_on(t);
        }
        match self.upload.take() {
            Some(Upload::Local(mut up)) => {
                let _ = self.repo.rt.block_on(up.abort());
            }
            Some(Upload::S3 {
                mp,
                path,
                id,
                marker,
                ..
            }) => {
                let aborted = self.repo.rt.block_on(mp.abort_multipart(&path, &id));
                // The record stays when the abort failed: prune tries again.
                if aborted.is_ok() {
                    let _ = self.repo.delete(&marker);
                }
            }
            None => {}
        }
    }
}

pub struct ObjectReader<'a> {
    repo: &'a Repo,
    path: Path,
    size: u64,
    /// Where the next range to request starts.
    pos: u64,
    chunk: Bytes,
    /// Ranges requested, in order: (expected length, the request).
    ahead: VecDeque<(u64, JoinHandle<object_store::Result<Bytes>>)>,
}

impl Drop for ObjectReader<'_> {
    fn drop(&mut self) {
        for (_, t) in self.ahead.drain(..) {
            t.abort();
        }
    }
}

impl ObjectReader<'_> {
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl ObjectReader<'_> {
    /// Requests ranges until `READ_AHEAD` + 1 are under way or the object is covered.
    fn request(&mut self) {
        while self.ahead.len() <= READ_AHEAD && self.pos < self.size {
            let end = (self.pos + PART as u64).min(self.size);
            let (store, path, range) = (self.repo.store.clone(), self.path.clone(), self.pos..end);
            let t = self
                .repo
                .rt
                .spawn(async move { store.get_range(&path, range).await });
            self.ahead.push_back((end - self.pos, t));
            self.pos = end;
        }
    }
}

impl Read for ObjectReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.chunk.is_empty() {
            self.request();
            let Some((want, t)) = self.ahead.pop_front() else {
                return Ok(0);
            };
            let b = match self.repo.rt.block_on(t) {
                Ok(r) => r.map_err(|e| self.repo.err(self.path.as_ref(), e))?,
                Err(e) => return Err(io::Error::other(format!("{}: read task: {e}", self.path))),
            };
            if b.len() as u64 != want {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} is shorter than its listed size", self.path),
                ));
            }
            self.chunk = b;
            self.request();
        }
        let k = out.len().min(self.chunk.len());
        out[..k].copy_from_slice(&self.chunk[..k]);
        let _ = self.chunk.split_to(k);
        Ok(k)
    }
}
