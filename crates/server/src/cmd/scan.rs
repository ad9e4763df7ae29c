//! The options shared by SCAN, HSCAN, SSCAN and ZSCAN: cursor, MATCH, COUNT (and TYPE for SCAN).

use super::args::is;
use super::Error;

pub struct ScanOpts {
    pub cursor: u64,
    pub pattern: Option<Vec<u8>>,
    pub count: usize,
    /// SCAN's TYPE filter, lowercase.
    pub type_name: Option<String>,
}

/// Parses `cursor [MATCH pattern] [COUNT count] [TYPE type]` starting at `args[cursor_at]`.
/// TYPE is accepted only when `allow_type` (plain SCAN).
pub fn parse(args: &[Vec<u8>], cursor_at: usize, allow_type: bool) -> Result<ScanOpts, Error> {
    let cursor = parse_cursor(&args[cursor_at])?;
    let mut opts = ScanOpts {
        cursor,
        pattern: None,
        count: 10,
        type_name: None,
    };
    let mut i = cursor_at + 1;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "COUNT") && more {
            let n = super::args::int(&args[i + 1])?;
            if n < 1 {
                return Err(Error::syntax());
            }
            opts.count = n as usize;
        } else if is(&args[i], "MATCH") && more {
            let p = &args[i + 1];
            // "*" matches everything: skip the matching work, as Redis does.
            opts.pattern = if p.as_slice() == b"*" {
                None
            } else {
                Some(p.clone())
            };
        } else if allow_type && is(&args[i], "TYPE") && more {
            opts.type_name = Some(String::from_utf8_lossy(&args[i + 1]).to_ascii_lowercase());
        } else {
            return Err(Error::syntax());
        }
        i += 2;
    }
    Ok(opts)
}

/// A cursor is an unsigned 64-bit decimal number (Redis's parseScanCursorOrReply).
pub fn parse_cursor(arg: &[u8]) -> Result<u64, Error> {
    let invalid = || Error::new("ERR invalid cursor");
    if arg.is_empty() || arg.len() > 20 || !arg.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(invalid)
}

impl ScanOpts {
    pub fn matches(&self, s: &[u8]) -> bool {
        match &self.pattern {
            None => true,
            Some(p) => crate::glob::matches(p, s, false),
        }
    }
}
