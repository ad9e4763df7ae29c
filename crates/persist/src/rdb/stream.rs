//! Streams in the RDB (rdb.c's OBJ_STREAM, RDB_TYPE_STREAM_LISTPACKS 15 / _2 19 / _3 21).
//! Redis 7.0.15 writes type 19: the node listpacks as they are (keyed by their 16-byte master
//! ID), length, last ID, first ID, max deleted ID, entries added, then each group with its
//! PEL (ID, delivery time, count) and its consumers (name, seen time, PEL IDs).

use amber_store::stream::{Group, Stream, StreamId, INVALID_ENTRIES_READ};

use crate::rdb::encode::{write_len, write_string, EncodeOptions};

/// Appends the body of a stream value (after its type byte).
pub fn write_stream(buf: &mut Vec<u8>, s: &Stream, opts: &EncodeOptions) {
    write_len(buf, s.node_count() as u64);
    for (master, lp) in s.nodes() {
        write_string(buf, &master.encode(), opts);
        write_string(buf, lp, opts);
    }
    write_len(buf, s.length);
    write_id(buf, s.last_id);
    write_id(buf, s.first_id);
    write_id(buf, s.max_deleted_entry_id);
    write_len(buf, s.entries_added);
    write_len(buf, s.groups.len() as u64);
    for (name, g) in &s.groups {
        write_string(buf, name, opts);
        write_id(buf, g.last_id);
        // rdbSaveLen of a long long: -1 (unknown) is written as its 64-bit pattern.
        write_len(buf, g.entries_read as u64);
        write_group_pels(buf, g, opts);
    }
}

fn write_id(buf: &mut Vec<u8>, id: StreamId) {
    write_len(buf, id.ms);
    write_len(buf, id.seq);
}

fn write_group_pels(buf: &mut Vec<u8>, g: &Group, opts: &EncodeOptions) {
    write_len(buf, g.pel.len() as u64);
    for (id, n) in &g.pel {
        buf.extend_from_slice(&id.encode());
        buf.extend_from_slice(&n.delivery_time.to_le_bytes());
        write_len(buf, n.delivery_count);
    }
    write_len(buf, g.consumers.len() as u64);
    for (name, c) in &g.consumers {
        write_string(buf, name, opts);
        buf.extend_from_slice(&c.seen_time.to_le_bytes());
        write_len(buf, c.pel.len() as u64);
        for id in &c.pel {
            buf.extend_from_slice(&id.encode());
        }
    }
}

/// The group's entries_read as loaded: what a type-15 file lacks is unknown.
pub const UNKNOWN_ENTRIES_READ: i64 = INVALID_ENTRIES_READ;

impl<R: std::io::Read> crate::rdb::decode::Decoder<R> {
    /// Reads a stream body of type 15, 19 or 21, checked as Redis's deep sanitization does:
    /// every node listpack entry by entry, IDs in order, counts consistent, no duplicate
    /// groups, consumers or PEL entries, every consumer PEL entry in its group's PEL and every
    /// group PEL entry owned by a consumer.
    pub(crate) fn read_stream(&mut self, ty: u8) -> Result<Stream, crate::rdb::RdbError> {
        let v2 = ty >= 19;
        let v3 = ty >= 21;
        let mut s = Stream::new();
        let nodes = self.read_len("the stream node count")?;
        let mut live: u64 = 0;
        for _ in 0..nodes {
            let key = self.read_string("a stream node key")?;
            let Some(master) = StreamId::decode(&key) else {
                return Err(self.corrupt_at("stream node key is not the size of a stream ID"));
            };
            let lp = self.read_string("a stream node listpack")?;
            let n = s.push_node(master, lp).map_err(|e| self.corrupt_at(e))?;
            live = live.saturating_add(n);
        }
        s.length = self.read_len("the stream length")?;
        if s.length != live {
            return Err(self.corrupt_at("stream length does not match its nodes"));
        }
        s.last_id = self.read_id("the stream last ID")?;
        if let Some(top) = s.edge_id(false) {
            if top > s.last_id {
                return Err(self.corrupt_at("stream last ID is below its entries"));
            }
        }
        if v2 {
            s.first_id = self.read_id("the stream first ID")?;
            s.max_deleted_entry_id = self.read_id("the stream max deleted ID")?;
            s.entries_added = self.read_len("the stream entries added")?;
        } else {
            s.entries_added = s.length;
            s.first_id = s.edge_id(true).unwrap_or(StreamId::MIN);
        }
        let ngroups = self.read_len("the stream group count")?;
        for _ in 0..ngroups {
            let name = self.read_string("a consumer group name")?;
            let last_id = self.read_id("a consumer group ID")?;
            let entries_read = if v2 {
                self.read_len("a consumer group entries read")? as i64
            } else {
                s.estimate_distance(last_id)
            };
            let mut g = Group::new(last_id, entries_read);
            self.read_group_pel(&mut g)?;
            self.read_consumers(&mut g, v3)?;
            if s.groups.insert(name, g).is_some() {
                return Err(self.corrupt_at("duplicated consumer group name"));
            }
        }
        Ok(s)
    }

    fn read_id(&mut self, what: &str) -> Result<StreamId, crate::rdb::RdbError> {
        let ms = self.read_len(what)?;
        let seq = self.read_len(what)?;
        Ok(StreamId::new(ms, seq))
    }

    fn read_raw_id(&mut self, what: &str) -> Result<StreamId, crate::rdb::RdbError> {
        let raw = self.read_fixed16(what)?;
        StreamId::decode(&raw).ok_or_else(|| self.corrupt_at("bad stream ID"))
    }

    fn read_group_pel(&mut self, g: &mut Group) -> Result<(), crate::rdb::RdbError> {
        let n = self.read_len("the group PEL size")?;
        for _ in 0..n {
            let id = self.read_raw_id("a group PEL ID")?;
            let time = i64::from_le_bytes(self.read_fixed8("a PEL delivery time")?);
            let count = self.read_len("a PEL delivery count")?;
            let nack = amber_store::stream::Nack {
                delivery_time: time,
                delivery_count: count,
                consumer: Vec::new(),
            };
            if g.pel.insert(id, nack).is_some() {
                return Err(self.corrupt_at("duplicated global PEL entry"));
            }
        }
        Ok(())
    }

    fn read_consumers(&mut self, g: &mut Group, v3: bool) -> Result<(), crate::rdb::RdbError> {
        let n = self.read_len("the consumer count")?;
        let mut owned = std::collections::HashSet::new();
        for _ in 0..n {
            let name = self.read_string("a consumer name")?;
            let seen = i64::from_le_bytes(self.read_fixed8("a consumer seen time")?);
            if v3 {
                // 7.2's active time: Redis 7.0 has no such field.
                self.read_fixed8("a consumer active time")?;
            }
            if !g.create_consumer(&name, seen) {
                return Err(self.corrupt_at("duplicate stream consumer"));
            }
            let pel = self.read_len("a consumer PEL size")?;
            for _ in 0..pel {
                let id = self.read_raw_id("a consumer PEL ID")?;
                match g.pel.get_mut(&id) {
                    Some(nack) if owned.insert(id) => nack.consumer = name.clone(),
                    Some(_) => {
                        return Err(self.corrupt_at("stream PEL entry owned by two consumers"))
                    }
                    None => {
                        return Err(self
                            .corrupt_at("consumer PEL entry not found in the group's global PEL"))
                    }
                }
                if let Some(c) = g.consumers.get_mut(&name) {
                    c.pel.insert(id);
                }
            }
        }
        if owned.len() != g.pel.len() {
            return Err(self.corrupt_at("stream group PEL entry without a consumer"));
        }
        Ok(())
    }
}
