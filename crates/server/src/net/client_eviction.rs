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

/// getClientEvictionLimit: maxmemory-clients in bytes, or as a percentage of maxmemory; at
/// least 128 KiB so a bad setting cannot cut every connection; 0 when off.
pub(crate) fn limit(srv: &Server) -> u64 {
    let Some(v) = srv.config.accepted.get("maxmemory-clients") else {
        return 0;
    };
    let bytes = match v.strip_suffix('%') {
        Some(p) if srv.config.maxmemory > 0 => {
            let pct = p.parse::<f64>().unwrap_or(0.0);
            (srv.config.maxmemory as f64 * pct / 100.0) as u64
        }
        Some(_) => return 0,
        None => v.parse::<u64>().unwrap_or(0),
    };
    if bytes == 0 {
        return 0;
    }
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

/// evictClients: disconnects the biggest evictable clients while the clients' memory is at or
/// over the limit. `current` is the client whose command is being processed (borrowed by
/// the caller, so not reachable through the server's table). Returns whether `current` was
/// evicted: its command must not run.
pub(crate) fn evict(srv: &mut Server, mut current: Option<&mut Client>) -> bool {
    let max = limit(srv);
    if max == 0 {
        return false;
    }
    // (memory, bucket, id) of every client that counts; the current one comes from the caller.
    let mut total = 0u64;
    let mut candidates: Vec<(u32, u64, u64)> = Vec::new();
    let mut note = |cl: &Client, total: &mut u64| {
        if !counted(cl) || cl.close_asap {
            return;
        }
        let mem = client_mem(cl);
        *total += mem;
        if evictable(cl) {
            candidates.push((bucket(mem), cl.id, mem));
        }
    };
    if let Some(c) = current.as_deref() {
        note(c, &mut total);
    }
    let current_id = current.as_deref().map(|c| c.id);
    for (id, rc) in &srv.clients {
        if Some(*id) == current_id {
            continue;
        }
        if let Ok(c) = rc.try_borrow() {
            note(&c, &mut total);
        }
    }
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
