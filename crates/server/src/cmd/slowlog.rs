//! The slow log (Redis's slowlog.c): commands that ran for at least slowlog-log-slower-than
//! microseconds, newest first, at most slowlog-max-len of them; and SLOWLOG GET/LEN/RESET.

use std::collections::VecDeque;

use super::{Command, Ctx, Error, Reply, ADMIN, LOADING, STALE};
use crate::client::Client;

const NONE: &[&str] = &[];

/// Redis's limits on what an entry keeps of the command.
const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

pub(crate) static COMMANDS: &[Command] = &[Command::container("slowlog", -2, 0, SUBCOMMANDS)];

static SUBCOMMANDS: &[Command] = &[
    Command::new("get", -2, ADMIN | LOADING | STALE, (0, 0, 0), NONE, get),
    Command::new("len", 2, ADMIN | LOADING | STALE, (0, 0, 0), NONE, len),
    Command::new("reset", 2, ADMIN | LOADING | STALE, (0, 0, 0), NONE, reset),
    Command::new("help", 2, LOADING | STALE, (0, 0, 0), NONE, help),
];

pub(crate) struct Entry {
    id: u64,
    time: i64,
    duration_us: u64,
    args: Vec<Vec<u8>>,
    peer: String,
    name: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct SlowLog {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// Whether a command that took `duration_us` goes to the slow log (slowlog-log-slower-than;
/// negative: never).
pub(crate) fn is_slow(slower_than: i64, duration_us: u64) -> bool {
    slower_than >= 0 && (duration_us as i128) >= i128::from(slower_than)
}

impl SlowLog {
    /// Records a slow command (slowlogPushEntryIfNeeded, once `is_slow` said so). `cmd_name` is
    /// the full name ("config|set") for redaction.
    pub(crate) fn push(
        &mut self,
        max_len: u64,
        cmd_name: &str,
        args: &[Vec<u8>],
        duration_us: u64,
        cl: &Client,
    ) {
        let shown = args.len().min(MAX_ARGC);
        let mut kept = Vec::with_capacity(shown);
        for (i, a) in args.iter().take(shown).enumerate() {
            if i == MAX_ARGC - 1 && args.len() > MAX_ARGC {
                kept.push(
                    format!("... ({} more arguments)", args.len() - MAX_ARGC + 1).into_bytes(),
                );
                break;
            }
            if redacted(cmd_name, args, i) {
                kept.push(b"(redacted)".to_vec());
            } else if a.len() > MAX_STRING {
                let mut s = a[..MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                );
                kept.push(s);
            } else {
                kept.push(a.clone());
            }
        }
        self.entries.push_front(Entry {
            id: self.next_id,
            time: crate::server::unix_ms() / 1000,
            duration_us,
            args: kept,
            peer: cl.addr.clone(),
            name: cl.name.clone().unwrap_or_default(),
        });
        self.next_id += 1;
        // Beyond slowlog-max-len (also after it shrank) the oldest go.
        while self.entries.len() as u64 > max_len {
            self.entries.pop_back();
        }
    }
}

/// Arguments Redis 7.0 hides from the slow log and MONITOR: passwords (AUTH, HELLO ... AUTH, and CONFIG
/// SET of requirepass, masterauth, masteruser) and ACL SETUSER's user and rules.
pub(crate) fn redacted(cmd_name: &str, args: &[Vec<u8>], i: usize) -> bool {
    match cmd_name {
        "auth" => i >= 1,
        "acl|setuser" => i >= 2,
        "hello" => args
            .iter()
            .enumerate()
            .skip(2)
            .any(|(j, a)| a.eq_ignore_ascii_case(b"auth") && (i == j + 1 || i == j + 2)),
        "config|set" => {
            i >= 3
                && i % 2 == 1
                && matches!(
                    args[i - 1].to_ascii_lowercase().as_slice(),
                    b"requirepass" | b"masterauth" | b"masteruser"
                )
        }
        _ => false,
    }
}

fn get(ctx: &mut Ctx<'_>) -> Reply {
    let mut count: i64 = 10;
    if ctx.args.len() == 3 {
        let err = || Error::new("ERR count should be greater than or equal to -1");
        count = amber_store::value::parse_i64(&ctx.args[2]).ok_or_else(err)?;
        if count < -1 {
            return Err(err());
        }
    } else if ctx.args.len() > 3 {
        return Err(Error::syntax());
    }
    let log = &ctx.srv.slowlog;
    let n = if count == -1 {
        log.entries.len()
    } else {
        log.entries.len().min(count as usize)
    };
    let out = &mut ctx.cl.out;
    out.array(n);
    for e in log.entries.iter().take(n) {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.time);
        out.int(e.duration_us as i64);
        out.array(e.args.len());
        for a in &e.args {
            out.bulk(a);
        }
        out.bulk(e.peer.as_bytes());
        out.bulk(&e.name);
    }
    Ok(())
}

fn len(ctx: &mut Ctx<'_>) -> Reply {
    let n = ctx.srv.slowlog.entries.len();
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn reset(ctx: &mut Ctx<'_>) -> Reply {
    ctx.srv.slowlog.entries.clear();
    ctx.cl.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx<'_>) -> Reply {
    const LINES: &[&str] = &[
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.help_lines(LINES)
}
