//! A segment's raw bytes (before zstd): the replication stream as it arrived, in records
//! that carry the arrival time.
//!
//! ```text
//! "AMBRSEG1"
//! record*:  arrival_ms i64 LE | start u64 LE | len u32 LE | len bytes of whole commands
//!           (the bytes are the stream at offsets (start, start+len]; records follow each
//!           other without a gap)
//! ```
//!
//! A record holds whole commands only, and a MULTI ... EXEC block whole: the archiver keeps an
//! open transaction aside until its EXEC arrives and files the block at the EXEC's arrival
//! time. Every command of a record shares its time: that of the read that completed it.

use std::time::{Duration, Instant};

use amber_resp::parse::{parse_request, Limits, Parsed};

pub const MAGIC: &[u8; 8] = b"AMBRSEG1";
const HEADER: usize = 8 + 8 + 4;
/// The largest record a reader accepts (the archiver cuts segments far below this).
pub const MAX_RECORD: usize = 1 << 30;

/// A segment being filled.
pub struct Builder {
    pub raw: Vec<u8>,
    pub start_offset: u64,
    pub end_offset: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub commands: u64,
    /// Where the last record's header is, to extend it while the time stays the same.
    last: Option<usize>,
}

impl Builder {
    pub fn new(start_offset: u64) -> Builder {
        Builder {
            raw: MAGIC.to_vec(),
            start_offset,
            end_offset: start_offset,
            first_ms: 0,
            last_ms: 0,
            commands: 0,
            last: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.end_offset == self.start_offset
    }

    /// Appends `commands` whole commands (`bytes`) that arrived at `ms`.
    pub fn push(&mut self, ms: i64, bytes: &[u8], commands: u64) {
        if bytes.is_empty() {
            return;
        }
        let extend = match self.last {
            Some(h) => {
                self.last_ms == ms && (self.raw.len() - h - HEADER + bytes.len()) <= MAX_RECORD / 2
            }
            None => false,
        };
        if extend {
            let h = self.last.unwrap_or(0);
            let len = (self.raw.len() - h - HEADER + bytes.len()) as u32;
            self.raw[h + 16..h + 20].copy_from_slice(&len.to_le_bytes());
        } else {
            self.last = Some(self.raw.len());
            self.raw.extend_from_slice(&ms.to_le_bytes());
            self.raw.extend_from_slice(&self.end_offset.to_le_bytes());
            self.raw
                .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        }
        self.raw.extend_from_slice(bytes);
        if self.is_empty() {
            self.first_ms = ms;
        }
        self.last_ms = ms;
        self.end_offset += bytes.len() as u64;
        self.commands += commands;
    }
}

/// When the archiver closes the open segment: once it holds `bytes`, or once it has been
/// open for `flush` by the archiver's own clock (the `Instant` its first command was filed
/// at). Not by its commands' arrival times: when the archiver catches up with a backlog
/// those are all old, every segment would be due as soon as it got its first read, and a
/// segment per read makes the archiver slower still (the lag fed itself).
pub struct Closing {
    bytes: u64,
    flush: Duration,
    opened: Option<Instant>,
}

impl Closing {
    pub fn new(bytes: u64, flush: Duration) -> Closing {
        Closing {
            bytes,
            flush,
            opened: None,
        }
    }

    /// After a read was filed into `seg` at `now`: the segment's clock starts with its first
    /// command.
    pub fn filed(&mut self, seg: &Builder, now: Instant) {
        if !seg.is_empty() {
            self.opened.get_or_insert(now);
        }
    }

    /// Whether `seg` should be closed at `now` (the caller also keeps a transaction whole).
    pub fn due(&self, seg: &Builder, now: Instant) -> bool {
        let open_for = self
            .opened
            .map_or(Duration::ZERO, |o| now.saturating_duration_since(o));
        !seg.is_empty() && (seg.raw.len() as u64 >= self.bytes || open_for >= self.flush)
    }

    /// The segment was closed: the next one's clock starts with its first command.
    pub fn closed(&mut self) {
        self.opened = None;
    }
}

/// One record read back.
#[derive(Debug)]
pub struct Record<'a> {
    pub ms: i64,
    pub start: u64,
    pub bytes: &'a [u8],
}

/// The records of a raw segment, checked: magic, bounds, and that they continue each other
/// from `start` (an error says where the segment stops making sense).
pub fn records(raw: &[u8], start: u64) -> Result<Vec<Record<'_>>, String> {
    let body = raw
        .strip_prefix(MAGIC.as_slice())
        .ok_or("not an archive segment (bad magic)")?;
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut at = start;
    while pos < body.len() {
        let h = body
            .get(pos..pos + HEADER)
            .ok_or_else(|| format!("record header cut short at byte {}", pos + 8))?;
        let ms = i64::from_le_bytes(h[0..8].try_into().unwrap_or_default());
        let rs = u64::from_le_bytes(h[8..16].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(h[16..20].try_into().unwrap_or_default()) as usize;
        if rs != at {
            return Err(format!("record at offset {rs} where {at} was expected"));
        }
        if len > MAX_RECORD {
            return Err(format!("record of {len} bytes is too large"));
        }
        let bytes = body
            .get(pos + HEADER..pos + HEADER + len)
            .ok_or_else(|| format!("record at offset {rs} cut short"))?;
        out.push(Record {
            ms,
            start: rs,
            bytes,
        });
        pos += HEADER + len;
        at += len as u64;
    }
    Ok(out)
}

/// Stream commands that change no data: the source's PINGs and GETACKs, and pub/sub
/// messages (replicated, never written to an AOF).
pub fn no_data(name: &[u8]) -> bool {
    matches!(name, b"ping" | b"replconf" | b"publish" | b"spublish" | b"")
}

/// One command found in a buffer without copying it: its length and the byte ranges of its
/// first two arguments (the name, and REPLCONF's subcommand).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub len: usize,
    pub name: (usize, usize),
    pub arg1: Option<(usize, usize)>,
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let i = from + buf.get(from..)?.iter().position(|&b| b == b'\n')?;
    (i > from && buf[i - 1] == b'\r').then_some(i - 1)
}

fn header_num(buf: &[u8], at: usize, kind: u8) -> Result<Option<(i64, usize)>, String> {
    match buf.get(at) {
        None => return Ok(None),
        Some(&b) if b != kind => {
            return Err(format!(
                "the replication stream does not parse: '{}' where '{}' was expected",
                b as char, kind as char
            ))
        }
        _ => {}
    }
    if buf.len() - at > 32 && line_end(&buf[..at + 32], at).is_none() {
        return Err("the replication stream does not parse: header line too long".into());
    }
    let Some(e) = line_end(buf, at) else {
        return Ok(None);
    };
    let n = amber_resp::parse::string2ll(&buf[at + 1..e])
        .ok_or("the replication stream does not parse: bad length")?;
    Ok(Some((n, e + 2)))
}

/// Finds the command at the front of `buf` (multibulk, as every replication stream sends;
/// anything else goes through the full parser). `Ok(None)`: not whole yet.
pub fn scan(buf: &[u8]) -> Result<Option<Found>, String> {
    if buf.first() != Some(&b'*') {
        return Ok(split_one(buf)?.map(|p| Found {
            len: p.consumed,
            name: (0, 0),
            arg1: None,
        }));
    }
    let Some((n, mut pos)) = header_num(buf, 0, b'*')? else {
        return Ok(None);
    };
    if !(0..=1024 * 1024).contains(&n) {
        return Err(format!(
            "the replication stream does not parse: {n} arguments"
        ));
    }
    let (mut name, mut arg1) = ((0, 0), None);
    for i in 0..n {
        let Some((len, start)) = header_num(buf, pos, b'$')? else {
            return Ok(None);
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_RECORD)
            .ok_or("the replication stream does not parse: bad bulk length")?;
        let end = start + len;
        match buf.get(end..end + 2) {
            None | Some([_]) => return Ok(None),
            Some(b"\r\n") => {}
            Some(_) => {
                return Err("the replication stream does not parse: bulk without CRLF".into())
            }
        }
        if i == 0 {
            name = (start, end);
        } else if i == 1 {
            arg1 = Some((start, end));
        }
        pos = end + 2;
    }
    Ok(Some(Found {
        len: pos,
        name,
        arg1,
    }))
}

fn split_one(buf: &[u8]) -> Result<Option<Parsed>, String> {
    parse_request(buf, &Limits::default())
        .map_err(|e| format!("the replication stream does not parse: {e}"))
}

/// Every whole command at the front of `buf`, found by `scan`: (them, bytes used). A
/// command's ranges are relative to its own start.
pub fn scan_all(buf: &[u8]) -> Result<(Vec<Found>, usize), String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match scan(&buf[pos..])? {
            Some(f) => {
                pos += f.len;
                out.push(f);
            }
            None => break,
        }
    }
    Ok((out, pos))
}

/// Splits whole commands off the front of `buf`: (the parsed commands, bytes used).
pub fn split(buf: &[u8]) -> Result<(Vec<Parsed>, usize), String> {
    let limits = Limits::default();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match parse_request(&buf[pos..], &limits) {
            Ok(Some(p)) => {
                pos += p.consumed;
                out.push(p);
            }
            Ok(None) => break,
            Err(e) => return Err(format!("the replication stream does not parse: {e}")),
        }
    }
    Ok((out, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str]) -> Vec<u8> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let mut b = Vec::new();
        amber_resp::encode_command(&mut b, &a);
        b
    }

    #[test]
    fn records_round_trip_and_damage_is_named() {
        let mut b = Builder::new(100);
        let x = cmd(&["SET", "a", "1"]);
        let y = cmd(&["DEL", "a"]);
        b.push(5, &x, 1);
        b.push(5, &y, 1); // same time: the same record
        b.push(9, &x, 1);
        assert_eq!(b.end_offset, 100 + (2 * x.len() + y.len()) as u64);
        assert_eq!((b.first_ms, b.last_ms, b.commands), (5, 9, 3));
        let r = records(&b.raw, 100).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].bytes.len(), x.len() + y.len());
        assert_eq!((r[1].ms, r[1].start), (9, 100 + (x.len() + y.len()) as u64));
        let (cmds, used) = split(r[0].bytes).unwrap();
        assert_eq!((cmds.len(), used), (2, r[0].bytes.len()));
        assert!(records(&b.raw, 99).unwrap_err().contains("expected"));
        assert!(records(&b.raw[..b.raw.len() - 1], 100)
            .unwrap_err()
            .contains("cut short"));
        assert!(records(b"AMBRSEG0", 0).is_err());
        let (c, used) = split(&x[..x.len() - 1]).unwrap();
        assert_eq!((c.len(), used), (0, 0));
        // The scanner agrees with the parser on every prefix.
        let mut wire = x.clone();
        wire.extend_from_slice(&cmd(&["REPLCONF", "GETACK", "*"]));
        wire.extend_from_slice(&cmd(&["PING"]));
        for cut in 0..=wire.len() {
            let (found, used) = scan_all(&wire[..cut]).unwrap();
            let (parsed, used2) = split(&wire[..cut]).unwrap();
            assert_eq!((found.len(), used), (parsed.len(), used2), "cut {cut}");
        }
        let (found, _) = scan_all(&wire).unwrap();
        let at = x.len();
        let (a, b) = found[1].name;
        assert_eq!(&wire[at + a..at + b], b"REPLCONF");
        let (a, b) = found[1].arg1.unwrap();
        assert_eq!(&wire[at + a..at + b], b"GETACK");
        assert!(scan(b"*1\r\n$3\r\nabcXY").is_err());
        assert!(scan(b"*1\r\n+3\r\n").is_err());
    }

    /// The archiver catching up with a backlog (commit af084b3): 20 000 reads that arrived a
    /// minute ago are filed in one burst of 20 ms by the archiver's clock. The segments are
    /// closed by size only (the burst is shorter than the flush time), so there are few of
    /// them; a rule by arrival times (`now - first_ms >= flush`) closed one per read.
    #[test]
    fn a_backlog_with_old_arrival_times_fills_few_segments() {
        use super::super::stream::Stream;
        let flush = Duration::from_millis(100);
        let bytes: u64 = 16 * 1024;
        let t0 = Instant::now();
        let old_ms = crate::backup::catalog::now_ms() - 60_000;
        let mut st = Stream::new(0);
        let mut seg = Builder::new(0);
        let mut closing = Closing::new(bytes, flush);
        let mut closed: Vec<Builder> = Vec::new();
        let set = cmd(&["SET", "key:000", "value"]);
        // A transaction split over two reads: no segment may end inside it.
        let multi = [cmd(&["MULTI"]), cmd(&["INCR", "n"])].concat();
        let exec = [cmd(&["INCR", "n"]), cmd(&["EXEC"])].concat();
        let mut now = t0;
        for i in 0..20_000u64 {
            let data = match i % 10 {
                3 => &multi,
                4 => &exec,
                _ => &set,
            };
            now = t0 + Duration::from_micros(i);
            st.feed(data, old_ms + (i / 100) as i64, &mut seg).unwrap();
            closing.filed(&seg, now);
            if !st.in_tx() && closing.due(&seg, now) {
                let next = Builder::new(seg.end_offset);
                closed.push(std::mem::replace(&mut seg, next));
                closing.closed();
            }
        }
        let total = st.offset;
        assert!(total > 20 * bytes, "{total}");
        assert!(
            closed.len() as u64 <= total / bytes + 1,
            "{} segments for {total} bytes",
            closed.len()
        );
        assert!(closed.len() as u64 >= total / (2 * bytes));
        for s in &closed {
            // Each closed by size, each starting where the previous ended, transactions whole.
            assert!(s.raw.len() as u64 >= bytes);
            let recs = records(&s.raw, s.start_offset).unwrap();
            let (cmds, _) = split(recs[0].bytes).unwrap();
            assert!(!cmds[0].args[0].eq_ignore_ascii_case(b"incr"));
        }
        // The time rule still holds: the open segment closes once open for `flush` here.
        assert!(!seg.is_empty() && !closing.due(&seg, now));
        assert!(closing.due(&seg, now + flush));
        assert!(!closing.due(&Builder::new(0), now + flush));
    }
}
