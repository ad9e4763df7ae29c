//! client-output-buffer-limit: the hard and soft limits of a client's pending output per
//! class (normal, replica, pubsub), as Redis's checkClientOutputBufferLimits, and the
//! recent peak of the clients' output buffers (INFO's client_recent_max_output_buffer).

use std::time::Instant;

use crate::client::Client;
use crate::server::Server;

/// One class's limits (0: no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutputLimit {
    pub(crate) hard: u64,
    pub(crate) soft: u64,
    pub(crate) soft_seconds: u64,
}

/// Redis's client classes of client-output-buffer-limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Normal,
    Replica,
    Pubsub,
}

impl Class {
    /// Its name in the directive's value, and Redis's defaults.
    fn spec(self) -> (&'static str, OutputLimit) {
        let l = |hard, soft, soft_seconds| OutputLimit {
            hard,
            soft,
            soft_seconds,
        };
        match self {
            Class::Normal => ("normal", l(0, 0, 0)),
            Class::Replica => ("slave", l(268_435_456, 67_108_864, 60)),
            Class::Pubsub => ("pubsub", l(33_554_432, 8_388_608, 60)),
        }
    }

    /// getClientType for the limits: a replica, a subscriber, or a normal client.
    pub(crate) fn of(cl: &Client) -> Class {
        if cl.replica && !cl.monitor {
            Class::Replica
        } else if cl.subscriptions() > 0 {
            Class::Pubsub
        } else {
            Class::Normal
        }
    }
}

/// The limits of `class` in force (the directive keeps its value as text, in bytes).
pub(crate) fn limit(srv: &Server, class: Class) -> OutputLimit {
    let (name, default) = class.spec();
    let Some(v) = srv.config.accepted.get("client-output-buffer-limit") else {
        return default;
    };
    let w: Vec<&str> = v.split_whitespace().collect();
    let Some(c) = w.chunks(4).find(|c| c.len() == 4 && c[0] == name) else {
        return default;
    };
    let num = |i: usize| c[i].parse::<u64>().unwrap_or(0);
    OutputLimit {
        hard: num(1),
        soft: num(2),
        soft_seconds: num(3),
    }
}

impl OutputLimit {
    /// Whether `used` pending bytes pass the limit: the hard one at once, the soft one when
    /// still reached more than its seconds after it was first seen (`soft_since` keeps when).
    pub(crate) fn reached(self, used: u64, soft_since: &mut Option<Instant>) -> bool {
        let hard = self.hard > 0 && used >= self.hard;
        let soft = if self.soft > 0 && used >= self.soft {
            let since = *soft_since.get_or_insert_with(Instant::now);
            since.elapsed().as_secs() > self.soft_seconds
        } else {
            *soft_since = None;
            false
        };
        hard || soft
    }
}

/// closeClientOnOutputBufferLimitReached: a normal or pub/sub client whose pending output
/// passed its class's limit is closed at once (its connection stops writing) and its output
/// dropped, so that a client that stops reading cannot make the server grow. Returns whether
/// it was closed now. (Replicas are limited on their stream, replication::master.)
pub(crate) fn enforce(srv: &Server, cl: &mut Client) -> bool {
    if cl.close_asap {
        return false;
    }
    let class = Class::of(cl);
    if class == Class::Replica {
        return false;
    }
    let l = limit(srv, class);
    if !l.reached(cl.pending_output() as u64, &mut cl.obuf_soft_since) {
        return false;
    }
    srv.log.warning(&format!(
        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
        crate::cmd::connection::client_line(cl, false)
    ));
    cl.close_asap = true;
    cl.out.buf = Vec::new();
    cl.notify.notify_one();
    true
}

/// The largest client output buffer of the last seconds, sampled by the cron
/// (clientsCronTrackExpansiveClients: one slot per second, 8 slots).
#[derive(Default)]
pub(crate) struct Peaks {
    slots: [(i64, usize); 8],
}

impl Peaks {
    pub(crate) fn sample(&mut self, now_s: i64, used: usize) {
        let slot = &mut self.slots[now_s.rem_euclid(8) as usize];
        if slot.0 != now_s {
            *slot = (now_s, 0);
        }
        slot.1 = slot.1.max(used);
    }

    pub(crate) fn recent_max(&self, now_s: i64) -> usize {
        self.slots
            .iter()
            .filter(|(t, _)| now_s - t < 8)
            .map(|s| s.1)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_at_once_soft_after_its_seconds() {
        let l = OutputLimit {
            hard: 100,
            soft: 10,
            soft_seconds: 0,
        };
        let mut since = None;
        assert!(!l.reached(5, &mut since));
        assert!(l.reached(100, &mut None));
        // The soft limit is first seen, then passed once more than 0 seconds went by.
        assert!(!l.reached(20, &mut since));
        assert!(since.is_some());
        since = since.map(|t: Instant| t - std::time::Duration::from_secs(2));
        assert!(l.reached(20, &mut since));
        assert!(!l.reached(5, &mut since));
        assert!(since.is_none());
    }

    #[test]
    fn peaks_forget_after_eight_seconds() {
        let mut p = Peaks::default();
        p.sample(100, 50);
        p.sample(101, 10);
        assert_eq!(p.recent_max(101), 50);
        // Second 100 is 8 seconds old at 108: only second 101's sample is recent.
        assert_eq!(p.recent_max(108), 10);
        assert_eq!(p.recent_max(109), 0);
        p.sample(109, 7);
        assert_eq!(p.recent_max(109), 7);
    }
}
