//! The latency monitor (Redis's latency.c): with latency-monitor-threshold > 0, every event
//! that took at least that many milliseconds is recorded: "command" and "fast-command" (a
//! command's run), "aof-write" and "aof-fsync-always" (the AOF's write and, under `always`,
//! its fsync: where a slow disk shows), "expire-cycle". One sample per second per event (the
//! highest), the last 160 kept. LATENCY LATEST / HISTORY / RESET / HELP read it here;
//! DOCTOR, GRAPH and HISTOGRAM (per-command histograms) are in latency_report.rs.

use std::collections::{BTreeMap, VecDeque};

use super::{Command, Ctx, Error, Reply, ADMIN, LOADING, NOSCRIPT, STALE};

/// Samples kept per event (LATENCY_TS_LEN).
const KEEP: usize = 160;

pub(crate) static COMMANDS: &[Command] = &[Command::container("latency", -2, 0, SUBCOMMANDS)];

static SUBCOMMANDS: &[Command] = &[
    Command::new(
        "latest",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        &[],
        latest,
    ),
    Command::new(
        "history",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        &[],
        history,
    ),
    Command::new(
        "reset",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        &[],
        reset,
    ),
    Command::new(
        "doctor",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        &[],
        super::latency_report::doctor,
    ),
    Command::new(
        "graph",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        &[],
        super::latency_report::graph,
    ),
    Command::new(
        "histogram",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        &[],
        super::latency_report::histogram,
    ),
    Command::new("help", 2, LOADING | STALE, (0, 0, 0), &[], help),
];

#[derive(Default)]
pub(crate) struct Series {
    /// (unix seconds, milliseconds), oldest first.
    pub(crate) samples: VecDeque<(i64, u64)>,
    pub(crate) max: u64,
}

#[derive(Default)]
pub(crate) struct LatencyMonitor {
    pub(crate) events: BTreeMap<&'static str, Series>,
}

impl LatencyMonitor {
    /// latencyAddSampleIfNeeded: records `ms` for `event` when the threshold is on and reached.
    pub(crate) fn note(&mut self, threshold_ms: i64, event: &'static str, ms: u64) {
        if threshold_ms <= 0 || (ms as i128) < i128::from(threshold_ms) {
            return;
        }
        let now = crate::server::unix_ms() / 1000;
        let s = self.events.entry(event).or_default();
        s.max = s.max.max(ms);
        if let Some(last) = s.samples.back_mut() {
            if last.0 == now {
                last.1 = last.1.max(ms);
                return;
            }
        }
        s.samples.push_back((now, ms));
        if s.samples.len() > KEEP {
            s.samples.pop_front();
        }
    }
}

fn latest(ctx: &mut Ctx<'_>) -> Reply {
    let events = &ctx.srv.latency.events;
    let out = &mut ctx.cl.out;
    out.array(events.len());
    for (name, s) in events {
        let (t, ms) = s.samples.back().copied().unwrap_or((0, 0));
        out.array(4);
        out.bulk(name.as_bytes());
        out.int(t);
        out.int(ms as i64);
        out.int(s.max as i64);
    }
    Ok(())
}

fn history(ctx: &mut Ctx<'_>) -> Reply {
    let name = String::from_utf8_lossy(&ctx.args[2]).into_owned();
    let samples: Vec<(i64, u64)> = ctx
        .srv
        .latency
        .events
        .get(name.as_str())
        .map(|s| s.samples.iter().copied().collect())
        .unwrap_or_default();
    let out = &mut ctx.cl.out;
    out.array(samples.len());
    for (t, ms) in samples {
        out.array(2);
        out.int(t);
        out.int(ms as i64);
    }
    Ok(())
}

fn reset(ctx: &mut Ctx<'_>) -> Reply {
    let events = &mut ctx.srv.latency.events;
    let n = if ctx.args.len() == 2 {
        let n = events.len();
        events.clear();
        n
    } else {
        let mut n = 0;
        for a in &ctx.args[2..] {
            let name = String::from_utf8_lossy(a);
            if events.remove(name.as_ref()).is_some() {
                n += 1;
            }
        }
        n
    };
    ctx.cl.out.int(n as i64);
    Ok(())
}

fn help(ctx: &mut Ctx<'_>) -> Reply {
    const LINES: &[&str] = &[
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
        "HELP",
        "    Prints this help.",
    ];
    if ctx.args.len() != 2 {
        return Err(Error::syntax());
    }
    ctx.help_lines(LINES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_and_threshold() {
        let mut m = LatencyMonitor::default();
        m.note(0, "command", 500);
        assert!(m.events.is_empty(), "threshold 0 is off");
        m.note(10, "command", 5);
        assert!(m.events.is_empty());
        m.note(10, "command", 20);
        m.note(10, "command", 40);
        m.note(10, "command", 30);
        let s = &m.events["command"];
        assert_eq!(s.samples.len(), 1);
        assert_eq!((s.samples[0].1, s.max), (40, 40));
    }
}
