//! Byte encodings shared by the WAL and the leaf pages: records and write
//! batches. Little-endian integers; see FORMAT.md.

use crate::{Record, Space, StorageError, StorageResult, Version, WriteBatch, WriteOp};

/// Largest user key in bytes (the space tag byte comes on top).
pub(crate) const KEY_LEN_MAX: usize = 4096;
/// Largest value in bytes.
pub(crate) const VALUE_LEN_MAX: usize = 16 * 1024 * 1024;

const FLAG_TOMBSTONE: u8 = 1;
const FLAG_EXPIRES: u8 = 2;
const FLAG_OVERFLOW: u8 = 4;

/// Where a stored record's value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueRef<'a> {
    /// A tombstone.
    None,
    /// The bytes are right here.
    Inline(&'a [u8]),
    /// `len` bytes in a chain of overflow pages starting at `first`.
    Overflow { len: u32, first: u64 },
}

/// A record as it sits in a page or a WAL record, not yet copied out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordRef<'a> {
    pub(crate) version: Version,
    pub(crate) expires_at_ms: Option<u64>,
    pub(crate) value: ValueRef<'a>,
}

pub(crate) fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> StorageError {
    StorageError::Corruption {
        what: what.into(),
        detail: detail.into(),
    }
}

/// A bounds-checked reader over a byte slice; every read past the end is a
/// corruption error naming `what`, never a panic.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, pos: 0, what }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> StorageResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let Some(end) = end else {
            return Err(corrupt(
                self.what,
                format!("{n} bytes at offset {} run past the end", self.pos),
            ));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> StorageResult<u8> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> StorageResult<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> StorageResult<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> StorageResult<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Appends `record`; with `overflow = Some(first)` the value is replaced by
/// a reference to the overflow chain starting at page `first`.
pub(crate) fn encode_record(record: &Record, overflow: Option<u64>, out: &mut Vec<u8>) {
    let mut flags = 0;
    if record.value.is_none() {
        flags |= FLAG_TOMBSTONE;
    }
    if record.expires_at_ms.is_some() {
        flags |= FLAG_EXPIRES;
    }
    if overflow.is_some() && record.value.is_some() {
        flags |= FLAG_OVERFLOW;
    }
    out.push(flags);
    out.extend_from_slice(&record.version.to_bytes());
    if let Some(at) = record.expires_at_ms {
        out.extend_from_slice(&at.to_le_bytes());
    }
    if let Some(v) = &record.value {
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        match overflow {
            Some(first) => out.extend_from_slice(&first.to_le_bytes()),
            None => out.extend_from_slice(v),
        }
    }
}

/// Reads one record.
pub(crate) fn decode_record<'a>(r: &mut Reader<'a>) -> StorageResult<RecordRef<'a>> {
    let flags = r.u8()?;
    if flags & !(FLAG_TOMBSTONE | FLAG_EXPIRES | FLAG_OVERFLOW) != 0 {
        return Err(corrupt(r.what, format!("unknown record flags {flags:#x}")));
    }
    let mut v = [0u8; Version::ENCODED_LEN];
    v.copy_from_slice(r.bytes(Version::ENCODED_LEN)?);
    let version = Version::from_bytes(v);
    let expires_at_ms = if flags & FLAG_EXPIRES != 0 {
        Some(r.u64()?)
    } else {
        None
    };
    let value = if flags & FLAG_TOMBSTONE != 0 {
        ValueRef::None
    } else {
        let len = r.u32()?;
        if len as usize > VALUE_LEN_MAX {
            return Err(corrupt(
                r.what,
                format!("value length {len} over the limit"),
            ));
        }
        if flags & FLAG_OVERFLOW != 0 {
            ValueRef::Overflow {
                len,
                first: r.u64()?,
            }
        } else {
            ValueRef::Inline(r.bytes(len as usize)?)
        }
    };
    Ok(RecordRef {
        version,
        expires_at_ms,
        value,
    })
}

/// Checks the limits on a batch before anything of it is applied.
pub(crate) fn check_batch(batch: &WriteBatch) -> StorageResult<()> {
    for (_, key, op) in &batch.ops {
        if key.len() > KEY_LEN_MAX {
            return Err(StorageError::TooLarge {
                what: "key",
                len: key.len(),
                max: KEY_LEN_MAX,
            });
        }
        if let WriteOp::Put(Record { value: Some(v), .. }) = op {
            if v.len() > VALUE_LEN_MAX {
                return Err(StorageError::TooLarge {
                    what: "value",
                    len: v.len(),
                    max: VALUE_LEN_MAX,
                });
            }
        }
    }
    Ok(())
}

/// Appends the WAL payload of a batch: op count, then per op the space tag,
/// key, kind (0 put, 1 remove) and, for a put, the record.
pub(crate) fn encode_batch(batch: &WriteBatch, out: &mut Vec<u8>) {
    out.extend_from_slice(&(batch.ops.len() as u32).to_le_bytes());
    for (space, key, op) in &batch.ops {
        out.push(space.tag());
        out.extend_from_slice(&(key.len() as u16).to_le_bytes());
        out.extend_from_slice(key);
        match op {
            WriteOp::Put(record) => {
                out.push(0);
                encode_record(record, None, out);
            }
            WriteOp::Remove => out.push(1),
        }
    }
}

/// One decoded WAL operation: the tagged key and the record (`None` = remove).
pub(crate) type TaggedOp = (Vec<u8>, Option<Record>);

/// Inverse of [`encode_batch`], producing tagged keys.
pub(crate) fn decode_batch(payload: &[u8]) -> StorageResult<Vec<TaggedOp>> {
    let mut r = Reader::new(payload, "wal record");
    let count = r.u32()? as usize;
    let mut ops = Vec::with_capacity(count.min(payload.len()));
    for _ in 0..count {
        let tag = r.u8()?;
        if Space::from_tag(tag).is_none() {
            return Err(corrupt("wal record", format!("unknown space tag {tag:#x}")));
        }
        let len = r.u16()? as usize;
        let mut key = Vec::with_capacity(len + 1);
        key.push(tag);
        key.extend_from_slice(r.bytes(len)?);
        match r.u8()? {
            0 => {
                let rec = decode_record(&mut r)?;
                let value = match rec.value {
                    ValueRef::None => None,
                    ValueRef::Inline(v) => Some(v.to_vec()),
                    ValueRef::Overflow { .. } => {
                        return Err(corrupt("wal record", "overflow reference in the WAL"))
                    }
                };
                ops.push((
                    key,
                    Some(Record {
                        version: rec.version,
                        value,
                        expires_at_ms: rec.expires_at_ms,
                    }),
                ));
            }
            1 => ops.push((key, None)),
            other => return Err(corrupt("wal record", format!("unknown op kind {other}"))),
        }
    }
    if r.pos() != payload.len() {
        return Err(corrupt("wal record", "trailing bytes after the last op"));
    }
    Ok(ops)
}

/// The key with its space tag in front.
pub(crate) fn tagged(space: Space, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(space.tag());
    k.extend_from_slice(key);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip() {
        let v = Version {
            physical_ms: 7,
            logical: 2,
            node: 3,
        };
        let mut b = WriteBatch::new();
        b.put(
            Space::Data,
            b"k".to_vec(),
            Record::value(v, b"val".to_vec()),
        );
        b.put(
            Space::System,
            b"".to_vec(),
            Record {
                version: v,
                value: None,
                expires_at_ms: Some(99),
            },
        );
        b.remove(Space::Data, b"gone".to_vec());
        let mut out = Vec::new();
        encode_batch(&b, &mut out);
        let ops = decode_batch(&out).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0].0, b"dk".to_vec());
        assert_eq!(
            ops[0].1.as_ref().unwrap().value.as_deref(),
            Some(&b"val"[..])
        );
        assert_eq!(ops[1].1.as_ref().unwrap().expires_at_ms, Some(99));
        assert!(ops[2].1.is_none());
        assert!(decode_batch(&out[..out.len() - 1]).is_err());
    }
}
