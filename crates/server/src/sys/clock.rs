//! Cheap clocks for the command path.
//!
//! Wall-clock time is read once per batch of commands (`Server::cmd_time_ms`), as Redis caches
//! `server.mstime`. Command durations for INFO commandstats come from the CPU's time-stamp
//! counter where there is one, calibrated once against the monotonic clock, as Redis's
//! `getMonotonicUs` does: reading the system clock twice per command costs ~10% of throughput.

use std::sync::OnceLock;
use std::time::Instant;

struct Calibration {
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    base: Instant,
    #[cfg(target_arch = "x86_64")]
    ticks_per_us: f64,
}

fn calibration() -> &'static Calibration {
    static C: OnceLock<Calibration> = OnceLock::new();
    C.get_or_init(|| {
        let base = Instant::now();
        #[cfg(target_arch = "x86_64")]
        {
            let t0 = ticks();
            std::thread::sleep(std::time::Duration::from_millis(5));
            let us = base.elapsed().as_secs_f64() * 1e6;
            let ticks_per_us = ((ticks().wrapping_sub(t0)) as f64 / us).max(1.0);
            Calibration { base, ticks_per_us }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Calibration { base }
    })
}

#[cfg(target_arch = "x86_64")]
fn ticks() -> u64 {
    // SAFETY: rdtsc has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Calibrates the counter (call once at start, before serving).
pub(crate) fn init() {
    let _ = calibration();
}

/// A monotonic timestamp in microseconds, cheap to read.
pub(crate) fn monotonic_us() -> u64 {
    let c = calibration();
    #[cfg(target_arch = "x86_64")]
    {
        (ticks() as f64 / c.ticks_per_us) as u64
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        c.base.elapsed().as_micros() as u64
    }
}
