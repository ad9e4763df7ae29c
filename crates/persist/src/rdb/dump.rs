//! DUMP / RESTORE payloads, as Redis 7.0 makes them:
//!
//! ```text
//! <type byte> <value> <RDB version u16 LE> <CRC-64 LE of everything before it>
//! ```

use amber_store::Value;

use crate::crc64::crc64;
use crate::rdb::decode::Decoder;
use crate::rdb::encode::{write_value, EncodeOptions};
use crate::rdb::{RdbError, RdbType, RdbValue, MAX_READ_VERSION, RDB_VERSION};

/// The DUMP payload of a value (the CRC is always present, whatever `opts.checksum` says,
/// as in Redis).
pub fn create_dump(value: &Value, opts: &EncodeOptions) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    write_value(&mut buf, value, opts);
    push_footer(&mut buf, RDB_VERSION as u16);
    buf
}

/// The DUMP payload of a value whose bytes are cut from an RDB file as they are (type byte,
/// then the value's bytes, as `RdbEntry::rdb_type` and `value_offset` locate them), with the
/// footer of that file's RDB version.
pub fn dump_from_raw(rdb_type: u8, value: &[u8], rdb_version: u16) -> Vec<u8> {
    let mut buf = Vec::with_capacity(value.len() + 11);
    buf.push(rdb_type);
    buf.extend_from_slice(value);
    push_footer(&mut buf, rdb_version);
    buf
}

/// `<RDB version u16 LE> <CRC-64 LE of everything before it>`.
fn push_footer(buf: &mut Vec<u8>, rdb_version: u16) {
    buf.extend_from_slice(&rdb_version.to_le_bytes());
    let crc = crc64(0, buf);
    buf.extend_from_slice(&crc.to_le_bytes());
}

/// Checks a RESTORE payload as Redis does (footer, version not newer than what we read, CRC)
/// and decodes it with full validation. An empty collection, bytes left over after the value
/// or anything malformed is an error, never a crash.
pub fn verify_and_decode_dump(payload: &[u8]) -> Result<RdbValue, RdbError> {
    verify_and_decode_dump_typed(payload).map(|(_, v)| v)
}

/// Whether the payload's footer is right: long enough, a version we read, a matching CRC.
/// RESTORE tells these failures apart from a malformed value ("version or checksum are
/// wrong" versus "Bad data format"), as Redis does.
pub fn footer_ok(payload: &[u8]) -> bool {
    let n = payload.len();
    if n < 10 {
        return false;
    }
    let version = u32::from(u16::from_le_bytes([payload[n - 10], payload[n - 9]]));
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[n - 8..]);
    version <= MAX_READ_VERSION && crc64(0, &payload[..n - 8]) == u64::from_le_bytes(crc)
}

/// As `verify_and_decode_dump`, also returning the stored RDB type byte.
pub fn verify_and_decode_dump_typed(payload: &[u8]) -> Result<(u8, RdbValue), RdbError> {
    let n = payload.len();
    if n < 10 {
        return Err(RdbError::corrupt(0, "DUMP payload shorter than its footer"));
    }
    let body = &payload[..n - 10];
    let version = u32::from(u16::from_le_bytes([payload[n - 10], payload[n - 9]]));
    if version > MAX_READ_VERSION {
        return Err(RdbError::corrupt(
            (n - 10) as u64,
            format!("DUMP payload version {version} is newer than supported"),
        ));
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[n - 8..]);
    if crc64(0, &payload[..n - 8]) != u64::from_le_bytes(crc) {
        return Err(RdbError::corrupt(
            (n - 8) as u64,
            "DUMP payload checksum is wrong",
        ));
    }
    let Some((&t, _)) = body.split_first() else {
        return Err(RdbError::corrupt(0, "DUMP payload without a value"));
    };
    let Some(ty) = RdbType::from_u8(t) else {
        return Err(RdbError::corrupt(
            0,
            format!("DUMP payload with unknown type {t}"),
        ));
    };
    let mut d = Decoder::headless(&body[1..], version.max(1));
    let value = d.read_value(ty, None)?;
    let rest_empty = d.reader().at_end()?;
    let end = d.offset() + 1;
    match value {
        None => Err(RdbError::corrupt(
            end,
            "DUMP payload holds an empty collection",
        )),
        Some(_) if !rest_empty => Err(RdbError::corrupt(
            end,
            "DUMP payload has bytes after its value",
        )),
        Some(v) => Ok((t, v)),
    }
}

/// FUNCTION DUMP's payload: each library's code after RDB_OPCODE_FUNCTION2, then the
/// footer.
pub fn create_function_dump(codes: &[&[u8]], opts: &EncodeOptions) -> Vec<u8> {
    let mut buf = Vec::new();
    for code in codes {
        buf.push(crate::rdb::Opcode::Function2 as u8);
        crate::rdb::encode::write_string(&mut buf, code, opts);
    }
    push_footer(&mut buf, RDB_VERSION as u16);
    buf
}

/// Why a FUNCTION RESTORE payload is refused, with Redis's texts.
#[derive(Debug, PartialEq, Eq)]
pub enum FunctionDumpError {
    /// "DUMP payload version or checksum are wrong"
    Footer,
    /// "given type is not a function"
    NotAFunction,
    /// "failed loading the given functions payload"
    Malformed,
}

/// The library codes in a FUNCTION DUMP payload.
pub fn read_function_dump(payload: &[u8]) -> Result<Vec<Vec<u8>>, FunctionDumpError> {
    if !footer_ok(payload) {
        return Err(FunctionDumpError::Footer);
    }
    let n = payload.len();
    let version = u32::from(u16::from_le_bytes([payload[n - 10], payload[n - 9]]));
    let body = &payload[..n - 10];
    let mut d = Decoder::headless(body, version.max(1));
    let mut codes = Vec::new();
    loop {
        match d.reader().at_end() {
            Ok(true) => return Ok(codes),
            Ok(false) => {}
            Err(_) => return Err(FunctionDumpError::Malformed),
        }
        let t = d
            .byte("a function opcode")
            .map_err(|_| FunctionDumpError::Malformed)?;
        if t != crate::rdb::Opcode::Function2 as u8 {
            return Err(FunctionDumpError::NotAFunction);
        }
        let code = d
            .read_string("a function library")
            .map_err(|_| FunctionDumpError::Malformed)?;
        codes.push(code);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decodes_redis_payloads() {
        // DUMP of SET s 123 and of RPUSH l a b 1 2 300000 -5, from Redis 7.0.15.
        let s = b"\x00\xc0{\n\x00H\xe2S\xe1\x00zg\xb9";
        assert_eq!(
            verify_and_decode_dump(s).unwrap(),
            RdbValue::String(b"123".to_vec())
        );
        let l = b"\x12\x01\x02\x19\x19\x00\x00\x00\x06\x00\x81a\x02\x81b\x02\x01\x01\x02\x01\xf2\xe0\x93\x04\x04\xdf\xfb\x02\xff\n\x00\xf8\xad\x19\x8dy#\x9e>";
        let want: Vec<Vec<u8>> = ["a", "b", "1", "2", "300000", "-5"]
            .iter()
            .map(|x| x.as_bytes().to_vec())
            .collect();
        assert_eq!(verify_and_decode_dump(l).unwrap(), RdbValue::List(want));
        assert_eq!(create_dump(&Value::Int(123), &EncodeOptions::default()), s);
    }

    #[test]
    fn function_dump_round_trip() {
        let code: &[u8] = b"#!lua name=lib\nredis.register_function('f', function() return 1 end)";
        let p = create_function_dump(&[code, b"#!lua name=x\n"], &EncodeOptions::default());
        assert_eq!(
            read_function_dump(&p).unwrap(),
            vec![code.to_vec(), b"#!lua name=x\n".to_vec()]
        );
        let mut bad = p.clone();
        bad[0] = 0;
        assert_eq!(read_function_dump(&bad), Err(FunctionDumpError::Footer));
        let not_fn = create_dump(&Value::Int(1), &EncodeOptions::default());
        assert_eq!(
            read_function_dump(&not_fn),
            Err(FunctionDumpError::NotAFunction)
        );
    }

    #[test]
    fn a_payload_is_decoded_without_a_file_sized_buffer() {
        // RESTORE decodes one payload per call: a read buffer sized for files (1 MiB, zeroed)
        // made every call cost 0.5 ms whatever the payload.
        let payload = create_dump(&Value::Int(123), &EncodeOptions::default());
        let body = &payload[1..payload.len() - 10];
        let mut d = Decoder::headless(body, RDB_VERSION);
        assert!(d.reader().buffer_len() <= body.len());
    }

    #[test]
    fn every_truncation_and_flip_is_an_error() {
        let l = b"\x12\x01\x02\x19\x19\x00\x00\x00\x06\x00\x81a\x02\x81b\x02\x01\x01\x02\x01\xf2\xe0\x93\x04\x04\xdf\xfb\x02\xff\n\x00\xf8\xad\x19\x8dy#\x9e>";
        for i in 0..l.len() {
            assert!(verify_and_decode_dump(&l[..i]).is_err());
            let mut m = l.to_vec();
            m[i] ^= 0x5a;
            assert!(verify_and_decode_dump(&m).is_err());
        }
    }
}
