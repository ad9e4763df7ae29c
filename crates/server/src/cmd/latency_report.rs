//! LATENCY DOCTOR, GRAPH and HISTOGRAM (Redis's latency.c and sparkline.c): the report and the
//! ASCII graph read the latency monitor's events; HISTOGRAM reads the per-command latency
//! histograms kept with the command statistics.

use std::fmt::Write as _;

use super::latency::Series;
use super::latency_hist::{log_step_top, LOG_STEPS};
use super::{CmdName, Ctx, Error, Reply};
use crate::config::AppendFsync;
use crate::server::Server;

/// LATENCY HISTOGRAM [command ...]: for each command with a histogram, its calls and the
/// cumulative count at each latency step reached (in microseconds).
pub(crate) fn histogram(ctx: &mut Ctx<'_>) -> Reply {
    let stats = &ctx.srv.stats.commands;
    let has = |n: &CmdName| {
        stats
            .get(n)
            .and_then(|s| s.latency.as_ref())
            .is_some_and(|h| h.total() > 0)
    };
    let mut names: Vec<CmdName> = Vec::new();
    if ctx.args.len() == 2 {
        names.extend(stats.keys().copied().filter(has));
    } else {
        for a in &ctx.args[2..] {
            let Some((cmd, parent)) = lookup(ctx.srv, a) else {
                continue;
            };
            let name = CmdName::of(parent, cmd);
            if has(&name) {
                names.push(name);
            }
            for sub in cmd.subcommands {
                let name = CmdName::of(Some(cmd), sub);
                if has(&name) {
                    names.push(name);
                }
            }
        }
    }
    let out = &mut ctx.cl.out;
    out.map(names.len());
    for n in names {
        let Some(h) = stats.get(&n).and_then(|s| s.latency.as_ref()) else {
            continue;
        };
        let hist = h.log_steps();
        out.bulk(n.to_string().as_bytes());
        out.map(2);
        out.bulk(b"calls");
        out.int(h.total() as i64);
        out.bulk(b"histogram_usec");
        let steps: Vec<(u64, u64)> = (0..LOG_STEPS)
            .scan(0u64, |cum, i| {
                *cum += hist[i];
                Some((log_step_top(i) / 1000, *cum, hist[i]))
            })
            .filter(|s| s.2 > 0)
            .map(|s| (s.0, s.1))
            .collect();
        out.map(steps.len());
        for (usec, cum) in steps {
            out.int(usec as i64);
            out.int(cum as i64);
        }
    }
    Ok(())
}

/// "get" or "config|get" as Redis's lookupCommandBySds finds it.
fn lookup(
    srv: &Server,
    name: &[u8],
) -> Option<(&'static super::Command, Option<&'static super::Command>)> {
    match name.iter().position(|&b| b == b'|') {
        None => srv.commands.lookup(name).map(|c| (c, None)),
        Some(i) => {
            let parent = srv.commands.lookup(&name[..i])?;
            let sub = parent
                .subcommands
                .iter()
                .find(|s| s.name.as_bytes().eq_ignore_ascii_case(&name[i + 1..]))?;
            Some((sub, Some(parent)))
        }
    }
}

/// Redis's latencyStats for one event.
struct EventStats {
    samples: u64,
    avg: u64,
    mad: u64,
    period: i64,
}

fn analyze(s: &Series) -> EventStats {
    let n = s.samples.len() as u64;
    if n == 0 {
        return EventStats {
            samples: 0,
            avg: 0,
            mad: 0,
            period: 0,
        };
    }
    let sum: u64 = s.samples.iter().map(|x| x.1).sum();
    let avg = sum / n;
    let oldest = s.samples.iter().map(|x| x.0).min().unwrap_or(0);
    let period = (crate::server::unix_ms() / 1000 - oldest).max(1);
    let mad = s
        .samples
        .iter()
        .map(|x| (avg as i64 - x.1 as i64).unsigned_abs())
        .sum::<u64>()
        / n;
    EventStats {
        samples: n,
        avg,
        mad,
        period,
    }
}

/// Bytes of transparent huge pages the process holds (AnonHugePages in smaps).
fn anon_huge_pages() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps_rollup") else {
        return 0;
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("AnonHugePages:"))
        .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// LATENCY DOCTOR: Redis's createLatencyReport over Amber's events.
pub(crate) fn doctor(ctx: &mut Ctx<'_>) -> Reply {
    let text = report(ctx.srv);
    ctx.cl.out.verbatim(text.as_bytes());
    Ok(())
}

fn report(srv: &Server) -> String {
    let cfg = &srv.config;
    let events = &srv.latency.events;
    if events.is_empty() && cfg.latency_monitor_threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
    }
    let mut r = String::new();
    let (mut slowlog_enabled, mut slowlog_tuning, mut slowlog_inspect) = (false, false, false);
    let (mut scheduler, mut relax_fsync, mut hz, mut large_objects) = (false, false, false, false);
    let mut advices = 0;
    let mut eventnum = 0;
    for (name, s) in events {
        eventnum += 1;
        if eventnum == 1 {
            r.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let ls = analyze(s);
        let _ = write!(
            r,
            "{eventnum}. {name}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            ls.samples,
            ls.avg,
            ls.mad,
            ls.period as f64 / ls.samples.max(1) as f64,
            s.max
        );
        match *name {
            "command" => {
                if cfg.slowlog_log_slower_than < 0 {
                    slowlog_enabled = true;
                    advices += 1;
                } else if cfg.slowlog_log_slower_than / 1000 > cfg.latency_monitor_threshold {
                    slowlog_tuning = true;
                    advices += 1;
                }
                slowlog_inspect = true;
                large_objects = true;
                advices += 2;
            }
            "fast-command" => {
                scheduler = true;
                advices += 1;
            }
            "aof-fsync-always" => {
                relax_fsync = true;
                advices += 1;
            }
            "expire-cycle" => {
                hz = true;
                large_objects = true;
                advices += 2;
            }
            _ => {}
        }
        r.push('\n');
    }
    let thp = anon_huge_pages() > 0;
    if thp {
        advices += 1;
    }
    if eventnum == 0 && advices == 0 {
        r.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if eventnum > 0 && advices == 0 {
        r.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        r.push_str("\nI have a few advices for you:\n\n");
        let threshold_us = cfg.latency_monitor_threshold.max(0) as u64 * 1000;
        if slowlog_enabled {
            let _ = writeln!(r, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {threshold_us}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.");
        }
        if slowlog_tuning {
            let _ = writeln!(r, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {threshold_us}'.");
        }
        if slowlog_inspect {
            r.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if scheduler {
            r.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if relax_fsync && cfg.appendfsync == AppendFsync::Always {
            r.push_str("- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n");
        }
        if hz && cfg.hz < 100 {
            r.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
        }
        if large_objects {
            r.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        if thp {
            r.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
        }
    }
    r
}

/// Columns of the LATENCY GRAPH sparkline.
const GRAPH_COLS: usize = 80;

/// LATENCY GRAPH event: the event's samples as Redis's sparkline (4 rows, filled), labelled
/// with how long ago each happened.
pub(crate) fn graph(ctx: &mut Ctx<'_>) -> Reply {
    let name = String::from_utf8_lossy(&ctx.args[2]).into_owned();
    let Some((event, s)) = ctx.srv.latency.events.iter().find(|(e, _)| **e == name) else {
        return Err(Error::new(format!(
            "ERR No samples available for event '{name}'"
        )));
    };
    let now = crate::server::unix_ms() / 1000;
    let mut seq = Sequence::default();
    let (mut min, mut max) = (0u64, 0u64);
    for (i, &(t, ms)) in s.samples.iter().enumerate() {
        if i == 0 {
            (min, max) = (ms, ms);
        } else {
            max = max.max(ms);
            min = min.min(ms);
        }
        let elapsed = now - t;
        let label = if elapsed < 60 {
            format!("{elapsed}s")
        } else if elapsed < 3600 {
            format!("{}m", elapsed / 60)
        } else if elapsed < 3600 * 24 {
            format!("{}h", elapsed / 3600)
        } else {
            format!("{}d", elapsed / (3600 * 24))
        };
        seq.add(ms as f64, label);
    }
    let mut g = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
        s.max
    );
    g.push_str(&"-".repeat(GRAPH_COLS));
    g.push('\n');
    seq.render(&mut g, GRAPH_COLS, 4);
    ctx.cl.out.verbatim(g.as_bytes());
    Ok(())
}

/// sparkline.c's sequence, rendered with SPARKLINE_FILL.
#[derive(Default)]
struct Sequence {
    samples: Vec<(f64, String)>,
    min: f64,
    max: f64,
    labels: usize,
}

impl Sequence {
    fn add(&mut self, v: f64, label: String) {
        if self.samples.is_empty() {
            (self.min, self.max) = (v, v);
        } else if v < self.min {
            self.min = v;
        } else if v > self.max {
            self.max = v;
        }
        if !label.is_empty() {
            self.labels += 1;
        }
        self.samples.push((v, label));
    }

    fn render(&self, out: &mut String, columns: usize, rows: usize) {
        let mut j = 0;
        while j < self.samples.len() {
            let len = (self.samples.len() - j).min(columns);
            if j != 0 {
                out.push('\n');
            }
            self.render_range(out, rows, j, len);
            j += columns;
        }
    }

    fn render_range(&self, out: &mut String, rows: usize, offset: usize, len: usize) {
        const FILL: &[u8] = b"_o#";
        const MARGIN_TOP: usize = 1;
        let cl = FILL.len() as i64;
        let range = self.max - self.min;
        let relmax = if range == 0.0 { 1.0 } else { range };
        let steps = cl * rows as i64;
        let mut row = 0usize;
        loop {
            let mut again = false;
            let mut chars = vec![b' '; len];
            for (j, ch) in chars.iter_mut().enumerate() {
                let (v, label) = &self.samples[j + offset];
                let relval = v - self.min;
                let step = (((relval * steps as f64) as i64) as f64 / relmax) as i64;
                let step = step.clamp(0, steps - 1);
                if row < rows {
                    let idx = step - (rows - row - 1) as i64 * cl;
                    again = true;
                    if (0..cl).contains(&idx) {
                        *ch = FILL[idx as usize];
                    } else if idx >= cl {
                        *ch = b'|';
                    }
                } else {
                    if self.labels > 0 && row - rows < MARGIN_TOP {
                        again = true;
                        break;
                    }
                    let lc = row - rows - MARGIN_TOP;
                    if let Some(&b) = label.as_bytes().get(lc) {
                        again = true;
                        *ch = b;
                    }
                }
            }
            if !again {
                break;
            }
            row += 1;
            out.push_str(&String::from_utf8_lossy(&chars));
            out.push('\n');
        }
    }
}
