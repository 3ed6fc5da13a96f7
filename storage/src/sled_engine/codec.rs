//! The byte layout of one record as the sled engine stores it.
//!
//! ```text
//! byte 0        format tag (FORMAT_V1)
//! byte 1        flags: bit 0 tombstone, bit 1 has expiry; other bits zero
//! bytes 2..18   version, big-endian (Version::to_bytes)
//! bytes 18..26  expiry in ms, big-endian, only when the expiry flag is set
//! rest          the value; must be empty for a tombstone
//! ```
//!
//! sled checksums its own log, so the codec carries no checksum of its own;
//! it still refuses any byte string it did not write, so that a damaged or
//! foreign value is reported as corruption instead of being misread.

use crate::{Record, StorageError, StorageResult, Version};

/// The only format this codec writes and reads.
const FORMAT_V1: u8 = 1;
const FLAG_TOMBSTONE: u8 = 0b01;
const FLAG_EXPIRY: u8 = 0b10;
const FLAGS_KNOWN: u8 = FLAG_TOMBSTONE | FLAG_EXPIRY;
const HEADER_LEN: usize = 2 + Version::ENCODED_LEN;
const EXPIRY_LEN: usize = 8;

/// Encodes `record` in the layout above.
pub(crate) fn encode(record: &Record) -> Vec<u8> {
    let value_len = record.value.as_ref().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(HEADER_LEN + EXPIRY_LEN + value_len);
    let mut flags = 0;
    if record.value.is_none() {
        flags |= FLAG_TOMBSTONE;
    }
    if record.expires_at_ms.is_some() {
        flags |= FLAG_EXPIRY;
    }
    out.push(FORMAT_V1);
    out.push(flags);
    out.extend_from_slice(&record.version.to_bytes());
    if let Some(at) = record.expires_at_ms {
        out.extend_from_slice(&at.to_be_bytes());
    }
    if let Some(value) = &record.value {
        out.extend_from_slice(value);
    }
    out
}

/// Decodes bytes written by [`encode`]; anything else is
/// [`StorageError::Corruption`] naming `what` (usually the key).
pub(crate) fn decode(bytes: &[u8], what: impl Fn() -> String) -> StorageResult<Record> {
    let corrupt = |detail: String| StorageError::Corruption {
        what: what(),
        detail,
    };
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(format!(
            "record is {} bytes, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    }
    if bytes[0] != FORMAT_V1 {
        return Err(corrupt(format!(
            "record format tag is {}, expected {FORMAT_V1}",
            bytes[0]
        )));
    }
    let flags = bytes[1];
    if flags & !FLAGS_KNOWN != 0 {
        return Err(corrupt(format!(
            "record flags {flags:#04x} has unknown bits"
        )));
    }
    let mut version = [0u8; Version::ENCODED_LEN];
    version.copy_from_slice(&bytes[2..HEADER_LEN]);
    let mut rest = &bytes[HEADER_LEN..];
    let expires_at_ms = if flags & FLAG_EXPIRY != 0 {
        let Some((at, tail)) = rest.split_first_chunk::<EXPIRY_LEN>() else {
            return Err(corrupt(format!(
                "expiry flag set but only {} bytes follow the header",
                rest.len()
            )));
        };
        rest = tail;
        Some(u64::from_be_bytes(*at))
    } else {
        None
    };
    let value = if flags & FLAG_TOMBSTONE != 0 {
        if !rest.is_empty() {
            return Err(corrupt(format!(
                "tombstone carries {} value bytes",
                rest.len()
            )));
        }
        None
    } else {
        Some(rest.to_vec())
    };
    Ok(Record {
        version: Version::from_bytes(version),
        value,
        expires_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version() -> Version {
        Version {
            physical_ms: 0x0102_0304_0506_0708,
            logical: 9,
            node: 10,
        }
    }

    fn what() -> String {
        "test record".to_string()
    }

    #[test]
    fn every_shape_round_trips() {
        let shapes = [
            Record::value(version(), b"hello".to_vec()),
            Record::value(version(), Vec::new()),
            Record::tombstone(version()),
            Record {
                version: version(),
                value: Some(b"ttl".to_vec()),
                expires_at_ms: Some(u64::MAX),
            },
            Record {
                version: Version::ZERO,
                value: None,
                expires_at_ms: Some(5),
            },
        ];
        for record in shapes {
            let bytes = encode(&record);
            assert_eq!(decode(&bytes, what).unwrap(), record);
        }
    }

    #[test]
    fn value_layout_is_compact() {
        let bytes = encode(&Record::value(version(), b"abc".to_vec()));
        assert_eq!(bytes.len(), HEADER_LEN + 3);
        assert_eq!(&bytes[..2], &[FORMAT_V1, 0]);
    }

    #[test]
    fn damaged_bytes_are_corruption_not_panics() {
        let good = encode(&Record {
            version: version(),
            value: None,
            expires_at_ms: Some(7),
        });
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            good[..HEADER_LEN - 1].to_vec(),
            good[..HEADER_LEN + 3].to_vec(),
            [&[2u8][..], &good[1..]].concat(),
            [&[FORMAT_V1, 0x80][..], &good[2..]].concat(),
            [&good[..], b"x"].concat(),
        ];
        for bytes in cases {
            let err = decode(&bytes, what).unwrap_err();
            assert!(
                matches!(&err, StorageError::Corruption { what, .. } if what == "test record"),
                "{bytes:?} gave {err}"
            );
        }
    }
}
