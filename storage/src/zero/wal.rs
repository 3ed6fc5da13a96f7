//! The write-ahead log: one CRC-framed record per write batch, in segment
//! files named by their first sequence number (LSN). Group commit: `append`
//! buffers, `sync` writes the buffer and a sync mark and fsyncs once.
//! Recovery replays every intact record and cuts a torn or corrupt tail; a
//! damaged record followed by any intact frame (a record or a sync mark)
//! was synced, and its loss is reported (FORMAT.md, "WAL").

use std::sync::Arc;

use super::codec::{self, TaggedOp};
use crate::vfs::{Vfs, VfsFile};
use crate::{StorageError, StorageResult, WriteBatch};

const SEGMENT_MAGIC: &[u8; 8] = b"ZDBWAL\0\x01";
/// Bytes of a segment header.
pub(crate) const SEGMENT_HEADER_LEN: usize = 32;
/// Bytes of a record frame before its payload: length, CRC, LSN.
const FRAME_HEADER_LEN: usize = 16;
/// The append buffer is written to the file (without sync) past this size.
const BUFFER_FLUSH_BYTES: usize = 1024 * 1024;
/// Largest payload a frame may claim; anything bigger is garbage.
const PAYLOAD_LEN_MAX: usize = 64 * 1024 * 1024;
/// The log file grows in steps of this many bytes, written as zeros, so that
/// most syncs find the file's size and blocks unchanged and `fdatasync` has
/// only data to flush.
const PREALLOCATE_BYTES: u64 = 1024 * 1024;
/// A recycled segment file keeps at most this many bytes of its old blocks.
const RECYCLED_LEN_MAX: u64 = 4 * PREALLOCATE_BYTES;
/// A frame header of all ones (an impossible length) marks the end of the
/// log; a header of zeros (preallocated space) ends it too.
const END_MARK: [u8; FRAME_HEADER_LEN] = [0xFF; FRAME_HEADER_LEN];

fn segment_name(first_lsn: u64) -> String {
    format!("wal-{first_lsn:016x}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn segment_header(first_lsn: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..16].copy_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..].copy_from_slice(&crc.to_le_bytes());
    h
}

fn header_ok(bytes: &[u8], first_lsn: u64) -> bool {
    bytes.len() >= SEGMENT_HEADER_LEN && bytes[..SEGMENT_HEADER_LEN] == segment_header(first_lsn)
}

fn frame_crc(len: &[u8], lsn: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(len), lsn), payload)
}

/// A frame parsed at some offset: its LSN, payload and total length.
fn parse_frame(bytes: &[u8], at: usize) -> Option<(u64, &[u8], usize)> {
    let head = bytes.get(at..at + FRAME_HEADER_LEN)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > PAYLOAD_LEN_MAX {
        return None;
    }
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let payload = bytes.get(at + FRAME_HEADER_LEN..at + FRAME_HEADER_LEN + len)?;
    if frame_crc(&head[0..4], &head[8..16], payload) != crc {
        return None;
    }
    let mut lsn = [0u8; 8];
    lsn.copy_from_slice(&head[8..16]);
    Some((u64::from_le_bytes(lsn), payload, FRAME_HEADER_LEN + len))
}

/// Whether a parsed frame is a sync mark: an empty payload (a batch
/// payload holds at least its op count) carrying the LSN of the record it
/// follows.
fn is_sync_mark(payload: &[u8]) -> bool {
    payload.is_empty()
}

/// What lies past a damaged record: intact frames with an LSN above the
/// last good one, evidence that the log went on past the damage.
#[derive(Debug, Default, PartialEq, Eq)]
struct Beyond {
    /// Intact records (sync marks not counted).
    records: u64,
    /// Whether any intact frame, a record or a sync mark, was found: the
    /// damaged record was written before something that was, so it may
    /// have been synced.
    evidence: bool,
}

/// Looks for intact frames with an LSN above `after` anywhere in `bytes`
/// from `from` on.
fn valid_frames_after(bytes: &[u8], from: usize, after: u64) -> Beyond {
    let mut found = Beyond::default();
    let mut at = from;
    let mut last = after;
    while at + FRAME_HEADER_LEN <= bytes.len() {
        // Check the LSN before paying for a CRC: garbage rarely passes.
        let mut lsn = [0u8; 8];
        lsn.copy_from_slice(&bytes[at + 8..at + 16]);
        let lsn = u64::from_le_bytes(lsn);
        if lsn <= last || lsn - last > 1 << 32 {
            at += 1;
            continue;
        }
        match parse_frame(bytes, at) {
            Some((lsn, payload, total)) if lsn > last => {
                found.evidence = true;
                if !is_sync_mark(payload) {
                    found.records += 1;
                }
                last = lsn;
                at += total;
            }
            _ => at += 1,
        }
    }
    found
}

/// Whether the log cleanly ends at `at`: an end mark (or only zeros are
/// left), or an intact frame of an older life of a recycled file.
fn clean_end(bytes: &[u8], at: usize, lsn_expected: u64) -> bool {
    let rest = &bytes[at..];
    if rest.len() < FRAME_HEADER_LEN {
        return rest.iter().all(|b| *b == 0);
    }
    let head = &rest[..FRAME_HEADER_LEN];
    if head == END_MARK || head.iter().all(|b| *b == 0) {
        return true;
    }
    matches!(parse_frame(bytes, at), Some((lsn, _, _)) if lsn < lsn_expected)
}

/// The length of the sync mark at `at`, if one is there and seals the
/// record just read (`sealable`, whose LSN is `lsn_expected - 1`).
fn sync_mark_at(bytes: &[u8], at: usize, lsn_expected: u64, sealable: bool) -> Option<usize> {
    if !sealable {
        return None;
    }
    match parse_frame(bytes, at) {
        Some((lsn, payload, total)) if is_sync_mark(payload) && lsn + 1 == lsn_expected => {
            Some(total)
        }
        _ => None,
    }
}

/// What recovery found in the log.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    /// Records applied (LSN at or above the checkpoint's).
    pub(crate) replayed: u64,
    /// Records (or partial records) cut from the tail.
    pub(crate) dropped: u64,
    /// Whether records that may have been synced were lost: damage followed
    /// by intact records, or a gap after the checkpoint.
    pub(crate) synced_lost: bool,
}

/// The outcome of reading the log.
struct Scan {
    recovery: Recovery,
    segments: Vec<(u64, String)>,
    /// Where the surviving log ends: segment index and byte length.
    keep: Option<(usize, u64)>,
    /// The last intact LSN (checkpoint LSN - 1 when none).
    last: u64,
    /// Whether the surviving log ends with a record no sync mark seals.
    unsealed: bool,
}

/// The open log.
pub(crate) struct Wal {
    vfs: Arc<dyn Vfs>,
    dir: String,
    file: Box<dyn VfsFile>,
    name: String,
    file_len: u64,
    /// Bytes of the file already allocated (written at least once).
    allocated: u64,
    buf: Vec<u8>,
    /// LSN the next appended record gets.
    pub(crate) next_lsn: u64,
    /// Bytes appended since the last rotation (checkpoint).
    pub(crate) bytes: u64,
    /// LSN of the last durable record (0 when none).
    pub(crate) durable_lsn: u64,
    unsynced: bool,
}

impl Wal {
    fn io(&self, source: std::io::Error) -> StorageError {
        io_err(&self.dir, &self.name, source)
    }

    /// Reads the log in `dir` without changing it, passing to `apply` every
    /// intact record with LSN >= `checkpoint_lsn` up to the first damage.
    fn scan(
        vfs: &dyn Vfs,
        dir: &str,
        checkpoint_lsn: u64,
        mut apply: impl FnMut(Vec<TaggedOp>),
    ) -> StorageResult<Scan> {
        let names = vfs.list(dir).map_err(|e| io_err(dir, "", e))?;
        let mut segments: Vec<(u64, String)> = names
            .into_iter()
            .filter_map(|n| parse_segment_name(&n).map(|lsn| (lsn, n)))
            .collect();
        segments.sort();
        let mut rec = Recovery::default();
        // The last LSN seen (checkpoint_lsn - 1 before any record).
        let mut last = checkpoint_lsn.wrapping_sub(1);
        let mut expected: Option<u64> = None;
        // Where the surviving log ends: segment index and byte length.
        let mut keep: Option<(usize, u64)> = None;
        let mut broken = false;
        let mut unsealed = false;
        for (i, (first, name)) in segments.iter().enumerate() {
            let file = vfs
                .open(dir, name, false)
                .map_err(|e| io_err(dir, name, e))?;
            let len = file.len().map_err(|e| io_err(dir, name, e))?;
            let mut bytes = vec![0u8; len as usize];
            file.read_at(0, &mut bytes)
                .map_err(|e| io_err(dir, name, e))?;
            if broken {
                if header_ok(&bytes, *first) {
                    let later = valid_frames_after(&bytes, SEGMENT_HEADER_LEN, 0);
                    rec.dropped += later.records;
                    rec.synced_lost |= later.evidence;
                }
                continue;
            }
            let continues = expected.is_none_or(|e| e == *first);
            if !header_ok(&bytes, *first) || !continues {
                broken = true;
                // A damaged header holds no record itself (a segment is
                // created and synced before any record goes into it).
                let later = valid_frames_after(&bytes, 0, last);
                rec.dropped += later.records;
                rec.synced_lost |= later.evidence;
                continue;
            }
            if expected.is_none() && *first > checkpoint_lsn {
                // Records between the checkpoint and this segment are gone.
                rec.synced_lost = true;
            }
            let mut at = SEGMENT_HEADER_LEN;
            let mut lsn_expected = *first;
            // Whether a record was just read, so that a sync mark may follow.
            let mut sealable = false;
            while at < bytes.len() {
                if let Some(total) = sync_mark_at(&bytes, at, lsn_expected, sealable) {
                    at += total;
                    sealable = false;
                    continue;
                }
                if clean_end(&bytes, at, lsn_expected) {
                    break;
                }
                let frame = parse_frame(&bytes, at)
                    .filter(|(lsn, payload, _)| *lsn == lsn_expected && !is_sync_mark(payload));
                let ops = frame.and_then(|(lsn, payload, total)| {
                    codec::decode_batch(payload)
                        .ok()
                        .map(|ops| (lsn, ops, total))
                });
                let Some((lsn, ops, total)) = ops else {
                    broken = true;
                    rec.dropped += 1;
                    let later = valid_frames_after(&bytes, at + 1, lsn_expected.wrapping_sub(1));
                    rec.dropped += later.records;
                    rec.synced_lost |= later.evidence;
                    break;
                };
                if lsn >= checkpoint_lsn {
                    apply(ops);
                    rec.replayed += 1;
                }
                last = lsn;
                lsn_expected = lsn + 1;
                at += total;
                sealable = true;
            }
            expected = Some(lsn_expected);
            keep = Some((i, at as u64));
            unsealed = sealable;
        }
        Ok(Scan {
            recovery: rec,
            segments,
            keep,
            last,
            unsealed,
        })
    }

    /// Like recovery, but changes nothing on disk (for repair).
    pub(crate) fn read_only(
        vfs: &dyn Vfs,
        dir: &str,
        checkpoint_lsn: u64,
        apply: impl FnMut(Vec<TaggedOp>),
    ) -> StorageResult<Recovery> {
        Ok(Wal::scan(vfs, dir, checkpoint_lsn, apply)?.recovery)
    }

    /// Opens the log in `dir`, replays into `apply` every intact record with
    /// LSN >= `checkpoint_lsn`, cuts what follows the first damaged record,
    /// and leaves the log ready for appends.
    pub(crate) fn recover(
        vfs: Arc<dyn Vfs>,
        dir: &str,
        checkpoint_lsn: u64,
        apply: impl FnMut(Vec<TaggedOp>),
    ) -> StorageResult<(Wal, Recovery)> {
        let Scan {
            recovery: rec,
            segments,
            keep,
            last,
            unsealed,
        } = Wal::scan(&*vfs, dir, checkpoint_lsn, apply)?;
        let next_lsn = last.wrapping_add(1).max(checkpoint_lsn);
        if rec.synced_lost {
            // Leave the damaged log as it is: it is the only evidence of the
            // loss until the caller's checkpoint has stored a new
            // incarnation (cutting it first, a crash before that checkpoint
            // would reopen the old incarnation without the lost records).
            // New records go to a fresh segment past every LSN read; the
            // checkpoint's rotation then removes the old segments.
            let mut first = next_lsn.max(checkpoint_lsn + 1);
            while vfs
                .exists(dir, &segment_name(first))
                .map_err(|e| io_err(dir, "", e))?
            {
                first += 1;
            }
            let wal = Wal::create_segment(vfs, dir, first, None)?;
            return Ok((wal, rec));
        }
        // Remove what follows the surviving log, newest first, so a crash
        // midway leaves a log that recovery reads the same way.
        let keep_index = keep.map(|(i, _)| i);
        for (i, (_, name)) in segments.iter().enumerate().rev() {
            if keep_index.is_none_or(|k| i > k) {
                vfs.remove(dir, name).map_err(|e| io_err(dir, name, e))?;
            }
        }
        if let Some((i, end)) = keep {
            let (_, name) = &segments[i];
            if last.wrapping_add(1) >= checkpoint_lsn {
                let file = vfs
                    .open(dir, name, false)
                    .map_err(|e| io_err(dir, name, e))?;
                if rec.dropped > 0 {
                    // Cut the damaged tail so it is never read again.
                    file.set_len(end).map_err(|e| io_err(dir, name, e))?;
                    file.sync().map_err(|e| io_err(dir, name, e))?;
                }
                let allocated = file.len().map_err(|e| io_err(dir, name, e))?;
                let mut wal = Wal {
                    vfs,
                    dir: dir.to_string(),
                    file,
                    name: name.clone(),
                    file_len: end,
                    allocated,
                    buf: Vec::new(),
                    next_lsn,
                    bytes: end - SEGMENT_HEADER_LEN as u64,
                    durable_lsn: next_lsn.saturating_sub(1),
                    unsynced: false,
                };
                if unsealed {
                    wal.seal()?;
                }
                return Ok((wal, rec));
            }
        }
        let mut wal = Wal::create_segment(vfs, dir, next_lsn, None)?;
        wal.remove_other_segments()?;
        Ok((wal, rec))
    }

    /// Appends a sync mark after the records recovery kept but no mark
    /// sealed (unsynced writes a crash happened to keep): the store now
    /// holds them, its node may act on them, so from now on a damaged one
    /// must count as a synced loss, not a torn tail.
    fn seal(&mut self) -> StorageResult<()> {
        self.append_frame(self.next_lsn - 1, |_| {});
        self.write_buffer()?;
        self.file.sync().map_err(|e| self.io(e))
    }

    /// Creates segment `first_lsn`, reusing the file `recycle` (an old
    /// segment whose records a checkpoint holds) when given, so its blocks
    /// stay allocated.
    fn create_segment(
        vfs: Arc<dyn Vfs>,
        dir: &str,
        first_lsn: u64,
        recycle: Option<&str>,
    ) -> StorageResult<Wal> {
        let name = segment_name(first_lsn);
        let err = |e| io_err(dir, &name, e);
        if let Some(old) = recycle {
            vfs.rename(dir, old, &name).map_err(err)?;
        }
        let file = vfs.open(dir, &name, true).map_err(err)?;
        if recycle.is_none() {
            file.set_len(0).map_err(err)?;
        } else if file.len().map_err(err)? > RECYCLED_LEN_MAX {
            // Keep a recycled file's blocks, but not more than this.
            file.set_len(RECYCLED_LEN_MAX).map_err(err)?;
        }
        let mut header = segment_header(first_lsn).to_vec();
        header.extend_from_slice(&END_MARK);
        file.write_at(0, &header).map_err(err)?;
        file.sync().map_err(err)?;
        let allocated = file.len().map_err(err)?;
        Ok(Wal {
            vfs,
            dir: dir.to_string(),
            file,
            name,
            file_len: SEGMENT_HEADER_LEN as u64,
            allocated,
            buf: Vec::new(),
            next_lsn: first_lsn,
            bytes: 0,
            durable_lsn: first_lsn.saturating_sub(1),
            unsynced: false,
        })
    }

    fn remove_other_segments(&mut self) -> StorageResult<()> {
        let names = self.vfs.list(&self.dir).map_err(|e| self.io(e))?;
        for n in names {
            if parse_segment_name(&n).is_some() && n != self.name {
                self.vfs.remove(&self.dir, &n).map_err(|e| self.io(e))?;
            }
        }
        Ok(())
    }

    /// Appends one batch; returns its LSN. Buffered until `sync` (or until
    /// the buffer is large).
    pub(crate) fn append(&mut self, batch: &WriteBatch) -> StorageResult<u64> {
        let lsn = self.next_lsn;
        self.append_frame(lsn, |buf| codec::encode_batch(batch, buf));
        self.next_lsn += 1;
        self.unsynced = true;
        if self.buf.len() >= BUFFER_FLUSH_BYTES {
            self.write_buffer()?;
        }
        Ok(lsn)
    }

    /// Appends one frame to the buffer: a header for `lsn` and the payload
    /// `encode` writes.
    fn append_frame(&mut self, lsn: u64, encode: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
        encode(&mut self.buf);
        let payload_len = (self.buf.len() - start - FRAME_HEADER_LEN) as u32;
        let len = payload_len.to_le_bytes();
        let lsn_bytes = lsn.to_le_bytes();
        let crc = frame_crc(&len, &lsn_bytes, &self.buf[start + FRAME_HEADER_LEN..]);
        self.buf[start..start + 4].copy_from_slice(&len);
        self.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        self.buf[start + 8..start + 16].copy_from_slice(&lsn_bytes);
        self.bytes += (self.buf.len() - start) as u64;
    }

    fn write_buffer(&mut self) -> StorageResult<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data_len = self.buf.len() as u64;
        // The end mark after the data is overwritten by the next write.
        self.buf.extend_from_slice(&END_MARK);
        let end = self.file_len + self.buf.len() as u64;
        if end > self.allocated {
            let grown = end.div_ceil(PREALLOCATE_BYTES) * PREALLOCATE_BYTES;
            let zeros = vec![0u8; (grown - end) as usize];
            self.file
                .write_at(end, &zeros)
                .map_err(|e| io_err(&self.dir, &self.name, e))?;
            self.allocated = grown;
        }
        self.file
            .write_at(self.file_len, &self.buf)
            .map_err(|e| io_err(&self.dir, &self.name, e))?;
        self.file_len += data_len;
        self.buf.clear();
        Ok(())
    }

    /// Makes every appended record durable with one fsync. Returns whether
    /// there was anything to sync.
    pub(crate) fn sync(&mut self) -> StorageResult<bool> {
        if !self.unsynced {
            return Ok(false);
        }
        // The mark seals the last record: should that record be damaged
        // later, the intact mark after it shows it was synced, so recovery
        // reports a loss instead of cutting it as a torn tail.
        self.append_frame(self.next_lsn - 1, |_| {});
        self.write_buffer()?;
        self.file.sync().map_err(|e| self.io(e))?;
        self.durable_lsn = self.next_lsn - 1;
        self.unsynced = false;
        Ok(true)
    }

    /// Starts a new segment at `first_lsn` (at least `next_lsn`) and
    /// removes the old ones; called once a checkpoint holding every record
    /// so far is durable, with the checkpoint's `next_lsn`.
    pub(crate) fn rotate(&mut self, first_lsn: u64) -> StorageResult<()> {
        self.sync()?;
        debug_assert!(first_lsn >= self.next_lsn);
        let old = self.name.clone();
        if segment_name(first_lsn) == old {
            // The segment already starts there and holds no record: keep it.
            debug_assert_eq!(self.file_len, SEGMENT_HEADER_LEN as u64);
            return self.remove_other_segments();
        }
        let fresh = Wal::create_segment(Arc::clone(&self.vfs), &self.dir, first_lsn, Some(&old))?;
        *self = fresh;
        self.remove_other_segments()
    }

    /// Bytes of the log on disk plus buffered.
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.file_len + self.buf.len() as u64
    }
}

fn io_err(dir: &str, name: &str, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: std::path::Path::new(dir).join(name),
        source,
    }
}

#[cfg(test)]
#[path = "wal_tests.rs"]
mod tests;
