//! One connected client: identity, selected database, protocol, output buffer, and the state of
//! MULTI, WATCH, pub/sub and blocking operations.

use std::rc::Rc;
use std::time::Instant;

use amber_resp::{Proto, ReplyBuf};
use amber_store::{Blob, Key};
use hashbrown::HashSet;
use tokio::sync::Notify;

use crate::cmd::Command;

pub type ClientId = u64;

/// A command queued inside MULTI.
pub struct Queued {
    pub cmd: &'static Command,
    pub args: Vec<Vec<u8>>,
}

#[derive(Default)]
pub struct MultiState {
    pub queue: Vec<Queued>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub dirty_exec: bool,
}

/// Why and how a client waits (BLPOP and friends).
pub struct BlockState {
    pub db: usize,
    pub keys: Vec<Key>,
    pub deadline: Option<Instant>,
    /// The command to run again when one of `keys` becomes ready.
    pub cmd: &'static Command,
    pub args: Vec<Vec<u8>>,
    /// Writes the reply given when the timeout fires.
    pub on_timeout: fn(&mut ReplyBuf),
}

pub struct Client {
    pub id: ClientId,
    /// The AOF offset this client's commands reached: its replies go out only once the AOF
    /// is durable up to here (by the appendfsync policy).
    pub aof_need: u64,
    /// The AOF offset at the end of this client's own last write (what its replies wait
    /// for while a failed write is retried).
    pub aof_own: u64,
    /// The AOF batch this client last waited for (`aof::wait_point`).
    pub aof_batch: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub name: Option<Vec<u8>>,
    pub db: usize,
    pub out: ReplyBuf,
    pub authenticated: bool,
    /// Send what is buffered, then close (QUIT, protocol errors).
    pub close_after_reply: bool,
    /// REPLCONF rdb-only 1: SYNC/PSYNC sends just the RDB (redis-cli --rdb, backups).
    pub rdb_only: bool,
    /// The RDB stream of a SYNC: the connection sends it and then closes.
    pub rdb_stream: Option<tokio::sync::mpsc::Receiver<Vec<u8>>>,
    /// Close without sending more (CLIENT KILL).
    pub close_asap: bool,
    pub multi: Option<MultiState>,
    pub watched: Vec<(usize, Key)>,
    /// A watched key was modified: EXEC must fail.
    pub dirty_cas: bool,
    pub channels: HashSet<Blob>,
    pub patterns: HashSet<Blob>,
    pub blocked: Option<BlockState>,
    pub created: Instant,
    pub last_interaction: Instant,
    /// The last command run (CLIENT LIST's `cmd=`), None before the first.
    pub last_cmd: Option<crate::cmd::CmdName>,
    /// Wakes the connection task: output was queued by someone else, or it was unblocked/killed.
    pub notify: Rc<Notify>,
    /// Bytes waiting in the query buffer (for CLIENT LIST).
    pub qbuf_len: usize,
    pub is_unix: bool,
    pub is_local: bool,
    /// MONITOR was called: every command run is shown to this client.
    pub monitor: bool,
}

impl Client {
    pub fn new(id: ClientId, addr: String, laddr: String, fd: i32, authenticated: bool) -> Self {
        let now = Instant::now();
        let is_local =
            addr.starts_with("127.") || addr.starts_with("[::1]") || addr.starts_with("/");
        Client {
            id,
            aof_need: 0,
            aof_own: 0,
            aof_batch: 0,
            addr,
            laddr,
            fd,
            name: None,
            db: 0,
            out: ReplyBuf::new(Proto::Resp2),
            authenticated,
            close_after_reply: false,
            rdb_only: false,
            rdb_stream: None,
            close_asap: false,
            multi: None,
            watched: Vec::new(),
            dirty_cas: false,
            channels: HashSet::new(),
            patterns: HashSet::new(),
            blocked: None,
            created: now,
            last_interaction: now,
            last_cmd: None,
            notify: Rc::new(Notify::new()),
            qbuf_len: 0,
            is_unix: false,
            is_local,
            monitor: false,
        }
    }

    pub fn resp(&self) -> u8 {
        match self.out.proto {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        }
    }

    /// Subscribed to anything (RESP2 clients are then limited to the pub/sub commands).
    pub fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }
}
