//! A small blocking RESP2 client: enough for the handshake, INFO, BGSAVE and pipelined RESTORE.
//! The reader is buffered and exposes the raw byte stream too, because the replication payload
//! that follows SYNC is not a RESP frame (redis-cli reads it with plain `read` for the same
//! reason).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use amber_resp::encode_command;

/// A reply. Errors are values (`Reply::Error`), not `Err`: the caller decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The text of a status, bulk or error reply.
    pub fn text(&self) -> String {
        match self {
            Reply::Status(s) | Reply::Error(s) => s.clone(),
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Reply::Int(n) => n.to_string(),
            Reply::Bulk(None) | Reply::Array(None) => "(nil)".into(),
            Reply::Array(Some(v)) => format!("({} elements)", v.len()),
        }
    }
}

/// Longest reply line or bulk accepted (INFO, CONFIG GET): anything bigger is not a server
/// we want to talk to.
const MAX_BULK: usize = 512 * 1024 * 1024;

pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: io::BufWriter<TcpStream>,
}

impl Client {
    pub fn connect(addr: &str, timeout: Duration) -> io::Result<Client> {
        let mut last = None;
        for sa in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&sa, timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(timeout))?;
                    let w = s.try_clone()?;
                    return Ok(Client {
                        reader: BufReader::with_capacity(1 << 20, s),
                        writer: io::BufWriter::with_capacity(1 << 20, w),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other(format!("{addr} resolves to nothing"))))
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.reader.get_ref().set_read_timeout(t)
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        self.send(args)?;
        self.writer.flush()?;
        self.read_reply().map_err(|e| {
            // A read timeout surfaces as EAGAIN ("Resource temporarily unavailable"): say what
            // it means.
            if !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                return e;
            }
            let t = self.reader.get_ref().read_timeout().ok().flatten();
            let secs = t.map(|t| t.as_secs_f64()).unwrap_or(0.0);
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the server accepted the connection but sent no reply to {} within {secs} s",
                    String::from_utf8_lossy(args.first().copied().unwrap_or_default())
                ),
            )
        })
    }

    /// Queues a command (flushed by `flush` or when the buffer fills).
    pub fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(64);
        encode_command(&mut buf, args);
        self.writer.write_all(&buf)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    /// Authenticates with `AUTH [user] pass` when a password is given.
    pub fn auth(
        &mut self,
        user: Option<&str>,
        pass: Option<&str>,
    ) -> io::Result<Result<(), String>> {
        let Some(pass) = pass else { return Ok(Ok(())) };
        let r = match user {
            Some(u) => self.call(&[b"AUTH", u.as_bytes(), pass.as_bytes()])?,
            None => self.call(&[b"AUTH", pass.as_bytes()])?,
        };
        Ok(match r {
            Reply::Error(e) => Err(e),
            _ => Ok(()),
        })
    }

    /// INFO <section> parsed into fields.
    pub fn info(&mut self, section: &str) -> io::Result<Result<Info, String>> {
        Ok(match self.call(&[b"INFO", section.as_bytes()])? {
            Reply::Bulk(Some(b)) => Ok(Info::parse(&String::from_utf8_lossy(&b))),
            other => Err(other.text()),
        })
    }

    /// One CRLF-terminated line, without the terminator.
    pub fn read_line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_BULK as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        if line.last() != Some(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "reply line too long",
            ));
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(line)
    }

    pub fn read_reply(&mut self) -> io::Result<Reply> {
        read_reply(&mut self.reader)
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("protocol error: {what}"),
    )
}

fn parse_int(b: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("a number was expected"))
}

fn line<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    let n = r.take(64 * 1024).read_until(b'\n', &mut v)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    if !v.ends_with(b"\r\n") {
        return Err(bad("reply line without CRLF"));
    }
    v.truncate(v.len() - 2);
    Ok(v)
}

/// Reads one RESP2 reply (RESP3 types are not requested, so not expected).
pub fn read_reply<R: BufRead>(r: &mut R) -> io::Result<Reply> {
    let l = line(r)?;
    let Some((&t, rest)) = l.split_first() else {
        return Err(bad("empty reply line"));
    };
    match t {
        b'+' => Ok(Reply::Status(String::from_utf8_lossy(rest).into_owned())),
        b'-' => Ok(Reply::Error(String::from_utf8_lossy(rest).into_owned())),
        b':' => Ok(Reply::Int(parse_int(rest)?)),
        b'$' => {
            let n = parse_int(rest)?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            let n = usize::try_from(n).map_err(|_| bad("bulk length"))?;
            if n > MAX_BULK {
                return Err(bad("bulk reply too large"));
            }
            let mut v = Vec::with_capacity(n.min(1 << 20));
            r.take(n as u64 + 2).read_to_end(&mut v)?;
            if v.len() != n + 2 || !v.ends_with(b"\r\n") {
                return Err(bad("bulk reply cut short"));
            }
            v.truncate(n);
            Ok(Reply::Bulk(Some(v)))
        }
        b'*' => {
            let n = parse_int(rest)?;
            if n < 0 {
                return Ok(Reply::Array(None));
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            for _ in 0..n {
                items.push(read_reply(r)?);
            }
            Ok(Reply::Array(Some(items)))
        }
        _ => Err(bad("unknown reply type")),
    }
}

/// INFO fields, in order.
#[derive(Debug, Default, Clone)]
pub struct Info {
    pub fields: Vec<(String, String)>,
}

impl Info {
    pub fn parse(text: &str) -> Info {
        let fields = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Info { fields }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn int(&self, k: &str) -> Option<i64> {
        self.get(k).and_then(|v| v.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_doctors_replies() {
        let mut r: &[u8] =
            b"+PONG\r\n-MISCONF no\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n";
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Status("PONG".into()));
        assert_eq!(
            read_reply(&mut r).unwrap(),
            Reply::Error("MISCONF no".into())
        );
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Int(42));
        assert_eq!(read_reply(&mut r).unwrap().text(), "abc");
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Bulk(None));
        assert_eq!(
            read_reply(&mut r).unwrap(),
            Reply::Array(Some(vec![Reply::Bulk(Some(b"a".to_vec())), Reply::Int(1)]))
        );
        assert!(read_reply(&mut r).is_err());
    }

    #[test]
    fn parses_replies() {
        let mut r: &[u8] =
            b"+OK\r\n-ERR no\r\n:42\r\n$3\r\na\r\n\r\n$-1\r\n*2\r\n$1\r\nx\r\n:1\r\n";
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Status("OK".into()));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Error("ERR no".into()));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Int(42));
        assert_eq!(
            read_reply(&mut r).unwrap(),
            Reply::Bulk(Some(b"a\r\n".to_vec()))
        );
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Bulk(None));
        assert_eq!(
            read_reply(&mut r).unwrap(),
            Reply::Array(Some(vec![Reply::Bulk(Some(b"x".to_vec())), Reply::Int(1)]))
        );
        let mut cut: &[u8] = b"$5\r\nab";
        assert!(read_reply(&mut cut).is_err());
    }

    #[test]
    fn info_fields() {
        let i = Info::parse("# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\n\r\n");
        assert_eq!(i.get("redis_version"), Some("7.0.15"));
        assert_eq!(i.get("run_id"), Some("abc"));
        assert_eq!(i.get("nope"), None);
    }
}
