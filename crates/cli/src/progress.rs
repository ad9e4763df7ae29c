//! A progress bar on stderr for long operations, drawn only when stderr is a terminal (so
//! scripts and `--json` consumers never see it), at most ten times a second.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::human;

pub struct Progress {
    label: &'static str,
    total: u64,
    enabled: bool,
    last: Option<Instant>,
    started: Instant,
}

impl Progress {
    pub fn new(label: &'static str, total: u64, quiet: bool) -> Progress {
        // SAFETY: isatty only inspects the file descriptor.
        let tty = unsafe { libc::isatty(2) } == 1;
        Progress {
            label,
            total,
            enabled: tty && !quiet,
            last: None,
            started: Instant::now(),
        }
    }

    pub fn set_total(&mut self, total: u64) {
        self.total = total;
    }

    pub fn update(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        if self.total == 0 {
            // Size unknown (a diskless transfer): bytes and rate only.
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r{} {} ({}/s)  ",
                self.label,
                human::size(done),
                human::size(rate as u64)
            );
            let _ = err.flush();
            return;
        }
        let frac = if self.total > 0 {
            (done as f64 / self.total as f64).min(1.0)
        } else {
            0.0
        };
        let width = 30;
        let filled = (frac * width as f64) as usize;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{}{}] {:5.1}% {} / {} ({}/s)  ",
            self.label,
            "#".repeat(filled),
            " ".repeat(width - filled),
            frac * 100.0,
            human::size(done),
            human::size(self.total),
            human::size(rate as u64)
        );
        let _ = err.flush();
    }

    pub fn finish(&mut self) {
        if self.enabled && self.last.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}\r", " ".repeat(100));
            let _ = err.flush();
        }
    }
}
