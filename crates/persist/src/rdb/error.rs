//! Errors of the RDB codec. Corruption and I/O stay apart: a replica may retry an I/O error,
//! nobody retries corruption.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum RdbError {
    /// The bytes are not a valid RDB stream. `offset` is where the problem was noticed,
    /// `context` says what was being read, in words.
    Corrupt {
        offset: u64,
        context: String,
    },
    /// Valid RDB that Amber cannot represent (streams, modules, functions, ...): refused,
    /// never dropped silently.
    Unsupported {
        what: String,
        key: Option<Vec<u8>>,
        offset: u64,
    },
    Io(io::Error),
}

impl RdbError {
    pub fn corrupt(offset: u64, context: impl Into<String>) -> RdbError {
        RdbError::Corrupt {
            offset,
            context: context.into(),
        }
    }

    pub fn is_corrupt(&self) -> bool {
        matches!(self, RdbError::Corrupt { .. })
    }
}

impl From<io::Error> for RdbError {
    fn from(e: io::Error) -> Self {
        RdbError::Io(e)
    }
}

/// Shows a key for humans: printable ASCII as is, other bytes as \xNN, long keys cut.
pub fn show_key(key: &[u8]) -> String {
    let mut s = String::new();
    for &b in key.iter().take(64) {
        if (0x20..0x7f).contains(&b) && b != b'\\' && b != b'\'' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    if key.len() > 64 {
        s.push_str("...");
    }
    s
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::Corrupt { offset, context } => {
                write!(f, "corrupt RDB at offset {offset}: {context}")
            }
            RdbError::Unsupported { what, key, offset } => {
                write!(f, "unsupported RDB content at offset {offset}: {what}")?;
                if let Some(k) = key {
                    write!(f, " (key '{}')", show_key(k))?;
                }
                Ok(())
            }
            RdbError::Io(e) => write!(f, "I/O error reading RDB: {e}"),
        }
    }
}

impl std::error::Error for RdbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RdbError::Io(e) => Some(e),
            _ => None,
        }
    }
}
