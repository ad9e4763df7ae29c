//! What a cut drops: the complete commands between a cut offset and the end of a file.
//!
//! Reading stops where the bytes stop being the format, but a damaged entry in the middle of
//! a file usually has thousands of intact commands after it, and a cut drops them all. So
//! after damage the count resumes at the next line that starts a command (`\n*` and a
//! digit) and parses on from there, as many times as needed. A command is counted when it
//! parses completely; the damaged entry itself and a last one the bytes stop inside are not.
//!
//! Resuming tries each candidate line in turn, and a false candidate (a value holding
//! `\n*5...`) may read far before it fails; the work is capped at a few times the bytes
//! after the cut, past which the count is a lower bound (`exact` false).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::reader::{AofEntry, AofReader, ReaderOptions, Tail};
use crate::rdb::RdbError;

/// Complete commands after a cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub commands: u64,
    /// False when the resynchronisation budget ran out: `commands` is then a lower bound.
    pub exact: bool,
}

/// Bytes read by failed attempts allowed per byte after the cut (plus `EXTRA_BUDGET`).
const BUDGET_FACTOR: u64 = 4;
const EXTRA_BUDGET: u64 = 1 << 20;

/// The complete commands in `path` from byte `from` to its end (`from` is in the RESP part:
/// the start of an entry, as a cut offset always is).
pub fn commands_after(path: &Path, from: u64) -> io::Result<Dropped> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    let mut budget = size
        .saturating_sub(from)
        .saturating_mul(BUDGET_FACTOR)
        .saturating_add(EXTRA_BUDGET);
    let mut at = from;
    let mut commands = 0u64;
    while at < size {
        f.seek(SeekFrom::Start(at))?;
        let input = BufReader::with_capacity(1 << 16, (&f).take(size - at));
        let mut rd = AofReader::resp_only(input, ReaderOptions::default());
        // End of the last entry read: the start of the one that failed, if one does.
        let mut entry_end = 0u64;
        loop {
            match rd.next() {
                Ok(Some(AofEntry::Command { end, .. })) => {
                    commands += 1;
                    entry_end = end;
                }
                Ok(Some(AofEntry::Annotation(a))) => entry_end = a.end,
                Ok(Some(AofEntry::Rdb(_))) => {}
                Ok(None) => break,
                Err(RdbError::Io(e)) => return Err(e),
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
        if !matches!(rd.tail(), Some(Tail::Corrupt { .. })) {
            break;
        }
        let wasted = rd.offset().saturating_sub(entry_end);
        if wasted > budget {
            return Ok(Dropped {
                commands,
                exact: false,
            });
        }
        budget -= wasted;
        // Resume after the first byte of the entry that failed.
        let failed_at = at.saturating_add(entry_end);
        match next_command_line(&mut f, failed_at.saturating_add(1), size)? {
            Some(next) => at = next,
            None => break,
        }
    }
    Ok(Dropped {
        commands,
        exact: true,
    })
}

/// The offset of the first `*` at or after `from` that follows a `\n` and precedes a digit.
fn next_command_line(f: &mut File, from: u64, size: u64) -> io::Result<Option<u64>> {
    if from >= size {
        return Ok(None);
    }
    // Start one byte early to see the newline before `from`.
    let start = from - 1;
    f.seek(SeekFrom::Start(start))?;
    let mut r = BufReader::with_capacity(1 << 16, (&*f).take(size - start));
    let mut pos = start;
    // 0: nothing, 1: after '\n', 2: after "\n*".
    let mut state = 0u8;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let n = buf.len();
        for (i, &b) in buf.iter().enumerate() {
            state = match (state, b) {
                (2, b'0'..=b'9') => {
                    // The '*' is two bytes back; it is at or after `from` because the
                    // newline before it is at or after `start`.
                    return Ok(Some(pos + i as u64 - 1));
                }
                (_, b'\n') => 1,
                (1, b'*') => 2,
                _ => 0,
            };
        }
        pos += n as u64;
        r.consume(n);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::aof::command::{encode_command, encode_timestamp};

    fn file(data: &[u8]) -> (tempfile_dir::Dir, std::path::PathBuf) {
        let d = tempfile_dir::Dir::new();
        let p = d.path().join("a.aof");
        std::fs::write(&p, data).unwrap();
        (d, p)
    }

    /// A tiny self-cleaning temporary directory (no dev-dependency needed).
    mod tempfile_dir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU64, Ordering};
                static N: AtomicU64 = AtomicU64::new(0);
                let p = std::env::temp_dir().join(format!(
                    "amber-dropped-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn sets(b: &mut Vec<u8>, from: usize, n: usize) {
        for i in from..from + n {
            let k = format!("key:{i}");
            encode_command(b, &[b"SET", k.as_bytes(), b"value"]);
        }
    }

    #[test]
    fn counts_the_commands_after_damage_in_the_middle() {
        let mut b = Vec::new();
        sets(&mut b, 0, 100);
        let cut = b.len();
        sets(&mut b, 100, 50);
        // Damage the first command after `cut`: its key "key:100" is at cut + 17, so the
        // write also replaces the \r after it.
        let at = cut + 21;
        b[at..at + 4].copy_from_slice(b"X#7?");
        let (_d, p) = file(&b);
        let r = commands_after(&p, cut as u64).unwrap();
        assert_eq!(
            r,
            Dropped {
                commands: 49,
                exact: true
            }
        );
        // From a clean start, everything after it.
        assert_eq!(commands_after(&p, 0).unwrap().commands, 149);
    }

    #[test]
    fn counts_after_several_damaged_spots_and_a_truncated_end() {
        let mut b = Vec::new();
        sets(&mut b, 0, 10);
        let first = b.len();
        sets(&mut b, 10, 10);
        let second = b.len();
        sets(&mut b, 20, 10);
        b[first + 1] = b'x';
        b[second + 1] = b'x';
        b.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$2\r\nab");
        let (_d, p) = file(&b);
        let r = commands_after(&p, first as u64).unwrap();
        assert_eq!(r.commands, 18);
        assert!(r.exact);
    }

    #[test]
    fn counts_past_annotations_and_a_timestamp_cut() {
        let mut b = Vec::new();
        encode_timestamp(&mut b, 100);
        sets(&mut b, 0, 3);
        let cut = b.len();
        encode_timestamp(&mut b, 200);
        encode_command(&mut b, &[b"FLUSHALL"]);
        sets(&mut b, 3, 4);
        let (_d, p) = file(&b);
        assert_eq!(commands_after(&p, cut as u64).unwrap().commands, 5);
        assert_eq!(commands_after(&p, b.len() as u64).unwrap().commands, 0);
    }

    #[test]
    fn garbage_after_the_cut_counts_nothing_and_ends() {
        let mut b = Vec::new();
        sets(&mut b, 0, 2);
        let cut = b.len();
        b.extend_from_slice(b"\n*\n*x\n*9\r\n$99999999\r\nzz\n*-1\r\n");
        let (_d, p) = file(&b);
        assert_eq!(
            commands_after(&p, cut as u64).unwrap(),
            Dropped {
                commands: 0,
                exact: true
            }
        );
    }
}
