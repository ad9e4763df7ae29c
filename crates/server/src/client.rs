//! One connected client: identity, selected database, protocol, output buffer, and the state of
//! MULTI, WATCH, pub/sub and blocking operations.

use std::rc::Rc;
use std::time::Instant;

use amber_resp::{Proto, ReplyBuf};
use amber_store::{Blob, Key};
use hashbrown::HashSet;
use tokio::sync::Notify;

use crate::cmd::Command;

pub(crate) type ClientId = u64;

/// A command queued inside MULTI.
pub(crate) struct Queued {
    pub(crate) cmd: &'static Command,
    pub(crate) args: Vec<Vec<u8>>,
}

#[derive(Default)]
pub(crate) struct MultiState {
    pub(crate) queue: Vec<Queued>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub(crate) dirty_exec: bool,
}

/// Why and how a client waits (BLPOP and friends).
pub(crate) struct BlockState {
    pub(crate) db: usize,
    pub(crate) keys: Vec<Key>,
    pub(crate) deadline: Option<Instant>,
    /// The command to run again when one of `keys` becomes ready.
    pub(crate) cmd: &'static Command,
    pub(crate) args: Vec<Vec<u8>>,
    /// Writes the reply given when the timeout fires.
    pub(crate) on_timeout: fn(&mut ReplyBuf),
}

pub(crate) struct Client {
    pub(crate) id: ClientId,
    /// The AOF offset this client's commands reached: its replies go out only once the AOF
    /// is durable up to here (by the appendfsync policy).
    pub(crate) aof_need: u64,
    /// The AOF offset at the end of this client's own last write (what its replies wait
    /// for while a failed write is retried).
    pub(crate) aof_own: u64,
    /// The AOF batch this client last waited for (`aof::wait_point`).
    pub(crate) aof_batch: u64,
    pub(crate) addr: String,
    pub(crate) laddr: String,
    pub(crate) fd: i32,
    pub(crate) name: Option<Vec<u8>>,
    pub(crate) db: usize,
    pub(crate) out: ReplyBuf,
    pub(crate) authenticated: bool,
    /// The ACL user this client runs as (acl/); None: the default user.
    pub(crate) user: Option<crate::acl::UserRef>,
    /// Send what is buffered, then close (QUIT, protocol errors).
    pub(crate) close_after_reply: bool,
    /// REPLCONF rdb-only 1: SYNC/PSYNC sends just the RDB (redis-cli --rdb, backups).
    pub(crate) rdb_only: bool,
    /// The RDB stream of a SYNC: the connection sends it and then closes.
    pub(crate) rdb_stream: Option<tokio::sync::mpsc::Receiver<Vec<u8>>>,
    /// The client applying our master's stream (we are a replica).
    pub(crate) is_master: bool,
    /// A replica of ours (after SYNC/PSYNC): it receives the replication stream.
    pub(crate) replica: bool,
    /// What it said with REPLCONF before becoming a replica.
    pub(crate) repl_hs: Option<Box<crate::replication::master::Handshake>>,
    /// The replication offset after this client's last command (what WAIT waits for).
    pub(crate) repl_woff: u64,
    /// Close without sending more (CLIENT KILL).
    pub(crate) close_asap: bool,
    /// Since when the pending output is at or over its class's soft limit (net::output_limit).
    pub(crate) obuf_soft_since: Option<std::time::Instant>,
    pub(crate) multi: Option<MultiState>,
    pub(crate) watched: Vec<(usize, Key)>,
    /// A watched key was modified: EXEC must fail.
    pub(crate) dirty_cas: bool,
    pub(crate) channels: HashSet<Blob>,
    pub(crate) patterns: HashSet<Blob>,
    /// Shard channels (SSUBSCRIBE).
    pub(crate) shard_channels: HashSet<Blob>,
    pub(crate) blocked: Option<BlockState>,
    pub(crate) created: Instant,
    pub(crate) last_interaction: Instant,
    /// The last command run (CLIENT LIST's `cmd=`), None before the first.
    pub(crate) last_cmd: Option<crate::cmd::CmdName>,
    /// Wakes the connection task: output was queued by someone else, or it was unblocked/killed.
    pub(crate) notify: Rc<Notify>,
    /// Bytes waiting in the query buffer (for CLIENT LIST).
    pub(crate) qbuf_len: usize,
    /// Reply bytes the connection is writing now (taken out of `out`, not yet all sent).
    pub(crate) out_writing: usize,
    pub(crate) is_unix: bool,
    pub(crate) is_local: bool,
    /// MONITOR was called: every command run is shown to this client.
    pub(crate) monitor: bool,
    /// CLIENT REPLY: whether this client's replies are sent.
    pub(crate) reply_mode: ReplyMode,
    /// CLIENT NO-EVICT ON (CLIENT LIST flag `e`).
    pub(crate) no_evict: bool,
    /// This client's share of `Server::clients_mem` (client eviction's running total).
    pub(crate) mem_counted: u64,
    /// The client scripts run commands as: blocking commands do not block.
    pub(crate) deny_blocking: bool,
    /// Input read while a script was busy (scripting/busy.rs) and not yet a whole request:
    /// the connection continues from it.
    pub(crate) busy_in: Vec<u8>,
    /// CLIENT TRACKING: the mode and redirection (tracking/).
    pub(crate) tracking: crate::tracking::ClientTracking,
}

/// CLIENT REPLY ON|OFF|SKIP (Redis's CLIENT_REPLY_OFF, _SKIP_NEXT and _SKIP flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum ReplyMode {
    #[default]
    On,
    Off,
    /// CLIENT REPLY SKIP ran: the next command's reply is dropped.
    SkipNext,
    /// This command's reply is dropped.
    Skip,
}

impl Client {
    /// A command ended, its reply written from `mark` on: under CLIENT REPLY OFF or SKIP the
    /// reply is dropped, and a SKIP moves on (Redis's prepareClientToWrite and resetClient).
    /// A command that blocks ends when it is served or times out.
    pub(crate) fn end_command(&mut self, mark: usize) {
        if self.reply_mode.silent() {
            self.out.buf.truncate(mark.min(self.out.buf.len()));
        }
        self.reply_mode = self.reply_mode.next();
    }
}

impl ReplyMode {
    /// Replies written while in this mode are dropped.
    pub(crate) fn silent(self) -> bool {
        matches!(self, ReplyMode::Off | ReplyMode::Skip)
    }

    /// The mode for the next command (Redis's resetClient).
    pub(crate) fn next(self) -> Self {
        match self {
            ReplyMode::Skip => ReplyMode::On,
            ReplyMode::SkipNext => ReplyMode::Skip,
            m => m,
        }
    }
}

impl Client {
    pub(crate) fn new(
        id: ClientId,
        addr: String,
        laddr: String,
        fd: i32,
        authenticated: bool,
    ) -> Self {
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
            user: None,
            close_after_reply: false,
            rdb_only: false,
            rdb_stream: None,
            is_master: false,
            replica: false,
            repl_hs: None,
            repl_woff: 0,
            close_asap: false,
            obuf_soft_since: None,
            multi: None,
            watched: Vec::new(),
            dirty_cas: false,
            channels: HashSet::new(),
            shard_channels: HashSet::new(),
            patterns: HashSet::new(),
            blocked: None,
            created: now,
            last_interaction: now,
            last_cmd: None,
            notify: Rc::new(Notify::new()),
            qbuf_len: 0,
            out_writing: 0,
            is_unix: false,
            is_local,
            monitor: false,
            reply_mode: ReplyMode::On,
            no_evict: false,
            mem_counted: 0,
            deny_blocking: false,
            busy_in: Vec::new(),
            tracking: Default::default(),
        }
    }

    pub(crate) fn resp(&self) -> u8 {
        match self.out.proto {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        }
    }

    /// Reply bytes not yet sent: waiting in `out`, or being written (CLIENT LIST's omem, the
    /// output buffer limits, client eviction).
    pub(crate) fn pending_output(&self) -> usize {
        self.out.len() + self.out_writing
    }

    /// Subscribed to anything, shard channels included (Redis's CLIENT_PUBSUB: RESP2 clients
    /// are then limited to the pub/sub commands).
    pub(crate) fn subscriptions(&self) -> usize {
        self.global_subscriptions() + self.shard_channels.len()
    }

    /// Channels and patterns: the count SUBSCRIBE and PSUBSCRIBE confirmations carry.
    pub(crate) fn global_subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    pub(crate) fn in_multi(&self) -> bool {
        self.multi.is_some()
    }
}
