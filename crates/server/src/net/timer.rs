//! A sub-millisecond timer for the event loop (tokio's own timers tick in whole
//! milliseconds): one Linux timerfd, awaited through the runtime's reactor.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub(crate) struct Timer {
    fd: AsyncFd<OwnedFd>,
}

impl Timer {
    pub(crate) fn new() -> std::io::Result<Timer> {
        // SAFETY: timerfd_create takes no pointers; the descriptor is owned right away.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the AsyncFd owns the descriptor, which stays open as long as it does.
        let fd = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        Ok(Timer { fd })
    }

    /// Waits `after` (at least a microsecond). Cancel-safe: an expiry left over from an
    /// abandoned wait is discarded by the next one.
    pub(crate) async fn sleep(&self, after: Duration) {
        self.drain();
        let ns = after.as_nanos().clamp(1_000, 1_000_000_000_000);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: a valid timerfd and a properly initialised itimerspec.
        let r =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if r != 0 {
            return;
        }
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return;
            };
            if self.drain() {
                return;
            }
            guard.clear_ready();
        }
    }

    /// Reads a pending expiry count; whether there was one.
    fn drain(&self) -> bool {
        let mut n = 0u64;
        // SAFETY: reads 8 bytes into a u64 on the stack.
        let r = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut n as *mut u64).cast::<libc::c_void>(),
                8,
            )
        };
        r == 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn sleeps_at_least_the_time_asked() {
        rt().block_on(async {
            let t = Timer::new().unwrap();
            for us in [1u64, 300, 2_500] {
                let start = Instant::now();
                t.sleep(Duration::from_micros(us)).await;
                assert!(start.elapsed() >= Duration::from_micros(us));
            }
        });
    }

    #[test]
    fn an_abandoned_expiry_does_not_end_the_next_sleep() {
        rt().block_on(async {
            let t = Timer::new().unwrap();
            // Abandon a short sleep, let it expire unread, then sleep longer.
            let _ =
                tokio::time::timeout(Duration::from_micros(1), t.sleep(Duration::from_millis(1)))
                    .await;
            std::thread::sleep(Duration::from_millis(3));
            let start = Instant::now();
            t.sleep(Duration::from_millis(20)).await;
            assert!(start.elapsed() >= Duration::from_millis(20));
        });
    }
}
