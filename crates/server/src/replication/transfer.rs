//! Sending a full resynchronization's RDB: a fork-less snapshot (taken on the main thread in
//! microseconds) is encoded on a helper thread and handed to the connection in chunks through
//! a bounded channel, so a slow replica slows the encoder instead of filling memory.
//!
//! ```text
//!  diskless (repl-diskless-sync yes, the replica has capa eof):
//!      $EOF:<40-byte mark>\r\n  RDB  <mark>
//!  disk-based (otherwise): the RDB is written to a temporary file in `dir` first, then
//!      $<length>\r\n  RDB          (the file is removed once sent)
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::durability::save::{Format, SnapshotJob};
use crate::server::Server;

/// How the RDB is framed on the wire.
pub(crate) enum Framing {
    /// `$EOF:<mark>`: the length is not known in advance.
    Eof(String),
    /// `$<len>`: written to this temporary file first.
    Disk(PathBuf),
}

/// Writes into bounded channels in chunks: one per replica sharing the transfer (the
/// slowest one sets the pace, as a pipe to several replicas does); a replica that went away
/// is dropped, and the transfer fails only when none is left.
struct ChannelWriter {
    txs: Vec<mpsc::Sender<Vec<u8>>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let txs = std::mem::take(&mut self.txs);
        let n = txs.len();
        for (i, tx) in txs.into_iter().enumerate() {
            // The last one takes the chunk itself: one transfer copies nothing.
            let c = if i + 1 == n {
                std::mem::take(&mut chunk)
            } else {
                chunk.clone()
            };
            if tx.blocking_send(c).is_ok() {
                self.txs.push(tx);
            }
        }
        if self.txs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the replica went away",
            ));
        }
        Ok(())
    }
}

/// Takes the snapshot now and starts the thread that frames and sends it; each of the
/// `outputs` receivers yields the same bytes, for one connection to write.
pub(crate) fn start(
    srv: &mut Server,
    framing: Framing,
    outputs: usize,
) -> io::Result<Vec<mpsc::Receiver<Vec<u8>>>> {
    let mut job = SnapshotJob::begin(srv, Format::Rdb { aof_base: false });
    // As Redis: where the stream that follows continues (a replica passes on its master's
    // stream, which selected this database last), and the history the data belongs to.
    for (k, v) in super::resume::transfer_info(srv) {
        job.add_aux(k, v);
    }
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..outputs.max(1))
        .map(|_| mpsc::channel::<Vec<u8>>(8))
        .unzip();
    let log = srv.log.clone();
    std::thread::Builder::new()
        .name("amber-sync".into())
        .spawn(move || {
            crate::durability::save::background_priority();
            let mut w = ChannelWriter {
                txs,
                buf: Vec::with_capacity(CHUNK),
            };
            let r = match &framing {
                Framing::Eof(mark) => send_eof_marked(&job, &mut w, mark),
                Framing::Disk(path) => {
                    let r = send_from_file(&job, &mut w, path);
                    let _ = std::fs::remove_file(path);
                    r
                }
            };
            drop(job);
            if let Err(e) = r {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    log.warning(&format!("Replication snapshot failed: {e}"));
                }
            }
        })?;
    Ok(rxs)
}

fn send_eof_marked(job: &SnapshotJob, w: &mut ChannelWriter, mark: &str) -> io::Result<()> {
    w.write_all(format!("$EOF:{mark}\r\n").as_bytes())?;
    job.write_to(&mut *w)?;
    w.write_all(mark.as_bytes())?;
    w.flush()
}

fn send_from_file(job: &SnapshotJob, w: &mut ChannelWriter, path: &PathBuf) -> io::Result<()> {
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let mut bw = BufWriter::with_capacity(CHUNK, &file);
    job.write_to(&mut bw)?;
    bw.flush()?;
    drop(bw);
    let len = file.metadata()?.len();
    w.write_all(format!("${len}\r\n").as_bytes())?;
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n])?;
    }
    w.flush()
}
