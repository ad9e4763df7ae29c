//! SYNC, PSYNC and REPLCONF: the full-resynchronization half of Redis's replication
//! handshake, enough for `redis-cli --rdb` and `amber backup create --from`: after
//! `REPLCONF rdb-only 1`, SYNC (or PSYNC, answered +FULLRESYNC) streams a point-in-time RDB
//! in Redis's diskless format (`$EOF:<40-byte mark>\r\n` RDB `<mark>`), then the connection
//! closes. Serving replicas a live stream of writes comes with replication; until then a
//! client that does not ask for rdb-only gets an error rather than a silent half-replica.
//! ROLE answers as a master without replicas, WAIT as a master whose replicas never ack.

use std::io::{self, Write};

use rand::Rng;

use super::args::is;
use super::{
    Command, Ctx, Error, Reply, ADMIN, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, NO_ASYNC_LOADING,
    NO_MULTI, STALE,
};
use crate::durability::save::{Format, SnapshotJob};

pub(crate) static COMMANDS: &[Command] = &[
    Command::new(
        "sync",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        (0, 0, 0),
        &[],
        sync,
    ),
    Command::new(
        "psync",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        (0, 0, 0),
        &[],
        psync,
    ),
    Command::new(
        "replconf",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
        (0, 0, 0),
        &[],
        replconf,
    ),
    Command::new("wait", 3, NOSCRIPT, (0, 0, 0), &["@connection"], wait),
    Command::new(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        (0, 0, 0),
        &["@admin", "@dangerous"],
        role,
    ),
];

/// WAIT numreplicas timeout: no replica ever acknowledges, so as Redis with none: 0 at once
/// when no replica is asked for (or inside MULTI), else 0 once the timeout passes (0: never).
fn wait(ctx: &mut Ctx<'_>) -> Reply {
    let wanted = super::args::int(&ctx.args[1])?;
    let ms = super::args::int_msg(&ctx.args[2], "timeout is not an integer or out of range")?;
    if ms < 0 {
        return Err(Error::new("ERR timeout is negative"));
    }
    if wanted <= 0 || !ctx.can_block() {
        ctx.cl.out.int(0);
        return Ok(());
    }
    ctx.block(Vec::new(), ms, |out| out.int(0));
    Ok(())
}

/// ROLE: a master without replicas (replication offset 0), as Redis answers it.
fn role(ctx: &mut Ctx<'_>) -> Reply {
    let out = &mut ctx.cl.out;
    out.array(3);
    out.bulk(b"master");
    out.int(0);
    out.array(0);
    Ok(())
}

/// REPLCONF <option> <value> ...: options are remembered (rdb-only) or accepted as Redis
/// accepts them from a replica.
fn replconf(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    if a.len().is_multiple_of(2) {
        return Err(Error::syntax());
    }
    for pair in a[1..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if is(opt, "rdb-only") {
            match val.as_slice() {
                b"0" => ctx.cl.rdb_only = false,
                b"1" => ctx.cl.rdb_only = true,
                _ => return Err(Error::new("ERR rdb-only must be 0 or 1")),
            }
        } else if is(opt, "listening-port")
            || is(opt, "ip-address")
            || is(opt, "capa")
            || is(opt, "rdb-filter-only")
        {
        } else if is(opt, "ack") || is(opt, "getack") {
            // Only replicas send these, and Amber has none yet: no reply, as Redis for ACK.
            return Ok(());
        } else {
            return Err(Error::new(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    ctx.cl.out.ok();
    Ok(())
}

fn sync(ctx: &mut Ctx<'_>) -> Reply {
    full_sync(ctx, false)
}

fn psync(ctx: &mut Ctx<'_>) -> Reply {
    full_sync(ctx, true)
}

/// Streams the RDB through a bounded channel so that a slow reader slows the encoder instead
/// of filling memory.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
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
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

fn full_sync(ctx: &mut Ctx<'_>, psync: bool) -> Reply {
    if !ctx.cl.rdb_only {
        return Err(Error::new(
            "ERR Amber does not serve replicas yet: only RDB transfers are served (send REPLCONF rdb-only 1 first, as redis-cli --rdb and amber backup do)",
        ));
    }
    ctx.srv
        .log
        .notice(&format!("Replica {} asks for synchronization", ctx.cl.addr));
    if psync {
        let line = format!("+FULLRESYNC {} 0\r\n", ctx.srv.run_id);
        ctx.cl.out.buf.extend_from_slice(line.as_bytes());
    }
    let mark: String = {
        let rng = &mut ctx.srv.rng;
        (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
            .collect()
    };
    let job = SnapshotJob::begin(ctx.srv, Format::Rdb { aof_base: false });
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let spawned = std::thread::Builder::new()
        .name("amber-sync".into())
        .spawn(move || {
            crate::durability::save::background_priority();
            let mut w = ChannelWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            };
            let r = (|| -> io::Result<()> {
                w.write_all(format!("$EOF:{mark}\r\n").as_bytes())?;
                job.write_to(&mut w)?;
                w.write_all(mark.as_bytes())?;
                w.flush()
            })();
            drop(job);
            r
        });
    if let Err(e) = spawned {
        return Err(Error::new(format!("ERR can't start the snapshot: {e}")));
    }
    ctx.srv.log.notice(&format!(
        "Starting BGSAVE for SYNC with target: replicas sockets (fork-less snapshot, {})",
        ctx.cl.addr
    ));
    ctx.cl.rdb_stream = Some(rx);
    Ok(())
}
