//! maxmemory-clients: when the normal and pub/sub clients together hold more than the limit
//! (their query and output buffers), the biggest of them are disconnected until the total is
//! under it again, as Redis 7.0's evictClients. Clients with CLIENT NO-EVICT on, replicas and
//! the master link are never evicted (their memory still counts).

use crate::client::Client;
use crate::server::Server;

use super::output_limit::Class;

/// What a client holds besides its buffers (the struct and its fixed buffers), as CLIENT
/// LIST's tot-mem shows it.
pub(crate) const CLIENT_BASE_MEM: u64 = 20_000;

/// A client's memory as client eviction counts it (CLIENT LIST's tot-mem).
pub(crate) fn client_mem(cl: &Client) -> u64 {
    (cl.pending_output() + cl.qbuf_len) as u64 + CLIENT_BASE_MEM
}

/// The maxmemory-clients directive: a byte count (0: no limit) or a percentage of maxmemory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    Bytes(u64),
    PercentOfMaxmemory(u32),
}

impl Limit {
    /// Parses a directive value as Redis does: a memory value, or 0-100 followed by `%`
    /// (`0%` reads back as `0`).
    pub(crate) fn parse(s: &str) -> Result<Limit, String> {
        let wrong = || "argument must be a memory or percent value".to_string();
        if let Some(p) = s.strip_suffix('%') {
            if amber_resp::parse::string2ll(p.as_bytes()).is_none() {
                return Err(wrong());
            }
            return Ok(match crate::config::parse_int(p, 0, 100)? {
                0 => Limit::Bytes(0),
                v => Limit::PercentOfMaxmemory(v as u32),
            });
        }
        let v = crate::config::parse_memory(s).ok_or_else(wrong)?;
        u64::try_from(v).map(Limit::Bytes).map_err(|_| wrong())
    }

    /// What CONFIG GET shows.
    pub(crate) fn shown(self) -> String {
        match self {
            Limit::Bytes(b) => b.to_string(),
            Limit::PercentOfMaxmemory(p) => format!("{p}%"),
        }
    }
}

/// getClientEvictionLimit: maxmemory-clients in bytes, or as a percentage of maxmemory; at
/// least 128 KiB so a bad setting cannot cut every connection; 0 when off (a percentage
/// without maxmemory is off too).
pub(crate) fn limit(srv: &Server) -> u64 {
    let bytes = match srv.config.maxmemory_clients {
        Limit::Bytes(0) => return 0,
        Limit::Bytes(b) => b,
        Limit::PercentOfMaxmemory(_) if srv.config.maxmemory == 0 => return 0,
        // A percentage that rounds to 0 bytes still gets the floor, as in Redis.
        Limit::PercentOfMaxmemory(p) => {
            (u128::from(srv.config.maxmemory) * u128::from(p) / 100) as u64
        }
    };
    bytes.max(128 * 1024)
}

/// Redis's memory usage buckets: log2 of the memory, between 2^15 and 2^33. Clients are
/// evicted from the highest bucket down.
fn bucket(mem: u64) -> u32 {
    (64 - mem.leading_zeros()).clamp(15, 33)
}

fn counted(cl: &Client) -> bool {
    !cl.is_master && Class::of(cl) != Class::Replica
}

fn evictable(cl: &Client) -> bool {
    counted(cl) && !cl.no_evict && !cl.close_asap
}

/// Brings `cl`'s share of the running total up to date (updateClientMemUsageAndBucket): after
/// it reads, after its command, and when output is queued for it by another's (pub/sub).
pub(crate) fn account(srv: &Server, cl: &mut Client) {
    let mem = if counted(cl) && !cl.close_asap {
        client_mem(cl)
    } else {
        0
    };
    let total = (srv.clients_mem.get() + mem).saturating_sub(cl.mem_counted);
    srv.clients_mem.set(total);
    cl.mem_counted = mem;
}

/// A client that is going away leaves the total.
pub(crate) fn forget(srv: &Server, cl: &mut Client) {
    srv.clients_mem
        .set(srv.clients_mem.get().saturating_sub(cl.mem_counted));
    cl.mem_counted = 0;
}

/// evictClients for the cron: every client re-accounted, the biggest evicted while over.
pub(crate) fn evict_all(srv: &mut Server) {
    if limit(srv) > 0 {
        evict(srv, None);
    }
}

/// evictClients: disconnects the biggest evictable clients while the clients' memory is at or
/// over the limit. `current` is the client whose command is being processed (borrowed by
/// the caller, so not reachable through the server's table). Returns whether `current` was
/// evicted: its command must not run.
///
/// The running total decides whether to look: a client is accounted when it reads or runs a
/// command, and everyone by the cron; only a total at or over the limit costs a scan of every
/// client (which also brings each one's share up to date).
pub(crate) fn evict(srv: &mut Server, mut current: Option<&mut Client>) -> bool {
    let max = limit(srv);
    if max == 0 {
        return false;
    }
    if let Some(c) = current.as_deref_mut() {
        account(srv, c);
        if srv.clients_mem.get() < max {
            return false;
        }
    }
    // (bucket, id, memory) of every evictable client; the current one comes from the caller.
    let mut total = 0u64;
    let mut candidates: Vec<(u32, u64, u64)> = Vec::new();
    let mut note = |cl: &mut Client, total: &mut u64| {
        if !counted(cl) || cl.close_asap {
            cl.mem_counted = 0;
            return;
        }
        let mem = client_mem(cl);
        cl.mem_counted = mem;
        *total += mem;
        if evictable(cl) {
            candidates.push((bucket(mem), cl.id, mem));
        }
    };
    if let Some(c) = current.as_deref_mut() {
        note(c, &mut total);
    }
    let current_id = current.as_deref().map(|c| c.id);
    for (id, rc) in &srv.clients {
        if Some(*id) == current_id {
            continue;
        }
        // One borrowed elsewhere keeps its last accounted share.
        if let Ok(mut c) = rc.try_borrow_mut() {
            note(&mut c, &mut total);
        }
    }
    srv.clients_mem.set(total);
    if total < max {
        return false;
    }
    // Highest bucket first; inside a bucket, the oldest connection first.
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut evicted_current = false;
    for (_, id, mem) in candidates {
        if total < max {
            break;
        }
        let line = if Some(id) == current_id {
            let Some(c) = current.as_deref_mut() else {
                continue;
            };
            evicted_current = true;
            close(c)
        } else {
            let Some(rc) = srv.clients.get(&id).cloned() else {
                continue;
            };
            let Ok(mut c) = rc.try_borrow_mut() else {
                continue;
            };
            close(&mut c)
        };
        srv.log.notice(&format!("Evicting client: {line}"));
        srv.stats.evicted_clients += 1;
        total = total.saturating_sub(mem);
    }
    srv.clients_mem.set(total);
    if total >= max {
        srv.log
            .warning("Over client maxmemory after evicting all evictable clients");
    }
    evicted_current
}

/// Marks a client to close now (its connection stops at once) and drops its output; returns
/// its CLIENT LIST line as it was.
fn close(c: &mut Client) -> String {
    let line = crate::cmd::connection::client_line(c, false);
    c.close_asap = true;
    c.mem_counted = 0;
    c.out.buf = Vec::new();
    c.notify.notify_one();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log2_clamped() {
        assert_eq!(bucket(0), 15);
        assert_eq!(bucket(20_000), 15);
        assert_eq!(bucket(1 << 20), 21);
        assert_eq!(bucket(u64::MAX), 33);
    }
}
