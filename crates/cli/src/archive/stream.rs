//! The replication stream as it arrives, into whole commands filed in the open segment.
//!
//! Bytes that do not complete a command wait in `pending`; a MULTI opens a transaction whose
//! commands wait aside until EXEC (or DISCARD) and are then filed together at that arrival
//! time. Only filed bytes count in `offset` (what the archiver acknowledges and resumes from),
//! so after a lost link the partial command and the open transaction are simply received
//! again from the source's backlog.

use super::segment::{self, Builder};

pub struct Stream {
    /// The last stream byte filed in a segment.
    pub offset: u64,
    pending: Vec<u8>,
    /// An open MULTI: its bytes so far and how many commands.
    tx: Option<(Vec<u8>, u64)>,
}

/// The largest transaction or partial command held in memory.
const MAX_PENDING: usize = 1 << 30;

impl Stream {
    pub fn new(offset: u64) -> Stream {
        Stream {
            offset,
            pending: Vec::new(),
            tx: None,
        }
    }

    /// Whether a MULTI is open (a segment may not be closed before its EXEC).
    pub fn in_tx(&self) -> bool {
        self.tx.is_some()
    }

    /// Forgets what was not filed (the link was lost: the source sends it again).
    pub fn reset_partial(&mut self) {
        self.pending.clear();
        self.tx = None;
    }

    /// Files the whole commands `data` completes into `seg`, at arrival time `ms`. Returns
    /// whether the source asked for an acknowledgement (REPLCONF GETACK).
    pub fn feed(&mut self, data: &[u8], ms: i64, seg: &mut Builder) -> Result<bool, String> {
        self.pending.extend_from_slice(data);
        let (cmds, used) = segment::scan_all(&self.pending)?;
        let mut getack = false;
        let mut pos = 0;
        // Plain commands in a row: (where they start, how many), filed as one push.
        let mut run: Option<(usize, u64)> = None;
        for p in cmds {
            let end = pos + p.len;
            let name = &self.pending[pos + p.name.0..pos + p.name.1];
            if let Some((tx, n)) = &mut self.tx {
                tx.extend_from_slice(&self.pending[pos..end]);
                *n += 1;
                if name.eq_ignore_ascii_case(b"exec") || name.eq_ignore_ascii_case(b"discard") {
                    if let Some((tx, n)) = self.tx.take() {
                        seg.push(ms, &tx, n);
                        self.offset += tx.len() as u64;
                    }
                }
            } else if name.eq_ignore_ascii_case(b"multi") {
                if let Some((start, n)) = run.take() {
                    seg.push(ms, &self.pending[start..pos], n);
                    self.offset += (pos - start) as u64;
                }
                self.tx = Some((self.pending[pos..end].to_vec(), 1));
            } else {
                run = Some(match run {
                    Some((start, n)) => (start, n + 1),
                    None => (pos, 1),
                });
                if name.eq_ignore_ascii_case(b"replconf")
                    && p.arg1.is_some_and(|(a, b)| {
                        self.pending[pos + a..pos + b].eq_ignore_ascii_case(b"getack")
                    })
                {
                    getack = true;
                }
            }
            pos = end;
        }
        if let Some((start, n)) = run {
            seg.push(ms, &self.pending[start..pos], n);
            self.offset += (pos - start) as u64;
        }
        self.pending.drain(..used);
        let held = self.pending.len() + self.tx.as_ref().map_or(0, |t| t.0.len());
        if held > MAX_PENDING {
            return Err(format!(
                "more than {MAX_PENDING} bytes of one command or transaction"
            ));
        }
        debug_assert_eq!(self.offset, seg.end_offset);
        Ok(getack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::segment::records;

    fn cmd(args: &[&str]) -> Vec<u8> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let mut b = Vec::new();
        amber_resp::encode_command(&mut b, &a);
        b
    }

    #[test]
    fn transactions_are_filed_whole_at_exec_time() {
        let mut seg = Builder::new(10);
        let mut s = Stream::new(10);
        let set = cmd(&["SET", "a", "1"]);
        let multi = cmd(&["MULTI"]);
        let incr = cmd(&["INCR", "n"]);
        let exec = cmd(&["EXEC"]);
        let mut wire = set.clone();
        wire.extend_from_slice(&multi);
        wire.extend_from_slice(&incr);
        // First read: SET whole, MULTI and INCR of an open transaction, half of EXEC.
        let cut = wire.len() + 3;
        wire.extend_from_slice(&exec);
        wire.extend_from_slice(&cmd(&["REPLCONF", "GETACK", "*"]));
        assert!(!s.feed(&wire[..cut], 1, &mut seg).unwrap());
        assert_eq!(s.offset, 10 + set.len() as u64);
        assert!(s.in_tx());
        assert!(s.feed(&wire[cut..], 2, &mut seg).unwrap());
        assert!(!s.in_tx());
        assert_eq!(s.offset, 10 + wire.len() as u64);
        assert_eq!(seg.end_offset, s.offset);
        let r = records(&seg.raw, 10).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].ms, r[0].bytes), (1, &set[..]));
        assert_eq!(r[1].ms, 2);
        assert!(r[1].bytes.starts_with(&multi));
        assert_eq!(seg.commands, 5);
        // A lost link forgets the open transaction: the offset stays before its MULTI.
        let mut t = multi.clone();
        t.extend_from_slice(&incr);
        s.feed(&t, 3, &mut seg).unwrap();
        let before = s.offset;
        s.reset_partial();
        assert!(!s.in_tx());
        s.feed(&set, 4, &mut seg).unwrap();
        assert_eq!(s.offset, before + set.len() as u64);
    }
}
