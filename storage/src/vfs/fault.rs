//! [`FaultVfs`]: a deterministic in-memory disk that loses unsynced writes
//! on a simulated crash, tears writes, flips bits and fails operations on
//! command.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Vfs, VfsFile};

/// What a simulated crash keeps of the writes that were not yet synced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced write and `set_len` is lost.
    #[default]
    DropUnsynced,
    /// Each file keeps a random prefix of its unsynced operations, in order.
    KeepRandomPrefix,
    /// Like `KeepRandomPrefix`, and the first operation not kept whole may
    /// survive as a random prefix of its bytes (a torn write).
    KeepRandomPrefixTorn,
}

#[derive(Clone, Debug)]
enum PendingOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct FileData {
    written: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<PendingOp>,
}

fn apply_op(image: &mut Vec<u8>, op: &PendingOp) {
    match op {
        PendingOp::Write { offset, data } => {
            let start = *offset as usize;
            let end = start + data.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            image[start..end].copy_from_slice(data);
        }
        PendingOp::SetLen(len) => image.resize(*len as usize, 0),
    }
}

/// Countdowns after which operations of one kind fail. `Some(0)` fails the
/// next one; `None` never fails.
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    reads: Option<u64>,
    writes: Option<u64>,
    syncs: Option<u64>,
}

fn tick(countdown: &mut Option<u64>, what: &str) -> io::Result<()> {
    match countdown {
        Some(0) => Err(io::Error::other(format!("injected {what} fault"))),
        Some(n) => {
            *n -= 1;
            Ok(())
        }
        None => Ok(()),
    }
}

#[derive(Debug, Default)]
struct State {
    names: BTreeMap<String, u64>,
    files: BTreeMap<u64, FileData>,
    next_id: u64,
    rng: u64,
    faults: Faults,
    crash_mode: CrashMode,
    syncs: u64,
}

impl State {
    fn next_random(&mut self) -> u64 {
        // splitmix64: tiny, seedable and good enough for choosing crash points.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn file(&mut self, id: u64) -> io::Result<&mut FileData> {
        self.files
            .get_mut(&id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "file was removed"))
    }
}

/// An in-memory, deterministic (seeded) disk. Cloning shares the disk.
///
/// Each file has a written image (what reads see) and a durable image (what
/// survives [`FaultVfs::crash`]). Metadata changes (create, remove, rename)
/// are durable at once, like a real file system whose directory is synced.
#[derive(Clone, Debug)]
pub struct FaultVfs {
    state: Arc<Mutex<State>>,
}

fn key(dir: &str, name: &str) -> String {
    format!("{dir}/{name}")
}

impl FaultVfs {
    /// An empty disk whose random choices (crash prefixes, torn lengths)
    /// follow `seed`.
    pub fn new(seed: u64) -> FaultVfs {
        FaultVfs {
            state: Arc::new(Mutex::new(State {
                rng: seed,
                ..State::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-changed
        // in a way that matters to a test disk, so a poisoned lock is reused.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets what [`FaultVfs::crash`] keeps of unsynced writes.
    pub fn set_crash_mode(&self, mode: CrashMode) {
        self.lock().crash_mode = mode;
    }

    /// Simulates power loss: every file goes back to its durable image,
    /// plus whatever the crash mode keeps of the unsynced operations. Open
    /// handles stay usable and see the new images.
    pub fn crash(&self) {
        let mut state = self.lock();
        let mode = state.crash_mode;
        let ids: Vec<u64> = state.files.keys().copied().collect();
        for id in ids {
            let pending = std::mem::take(&mut state.files.get_mut(&id).expect("listed").pending);
            let (keep, torn) = match mode {
                CrashMode::DropUnsynced => (0, false),
                CrashMode::KeepRandomPrefix => {
                    (state.next_random() as usize % (pending.len() + 1), false)
                }
                CrashMode::KeepRandomPrefixTorn => {
                    (state.next_random() as usize % (pending.len() + 1), true)
                }
            };
            let tear = if torn && keep < pending.len() {
                match &pending[keep] {
                    PendingOp::Write { offset, data } if !data.is_empty() => {
                        let cut = state.next_random() as usize % data.len();
                        Some(PendingOp::Write {
                            offset: *offset,
                            data: data[..cut].to_vec(),
                        })
                    }
                    _ => None,
                }
            } else {
                None
            };
            let file = state.files.get_mut(&id).expect("listed");
            for op in pending.iter().take(keep).chain(tear.iter()) {
                apply_op(&mut file.durable, op);
            }
            file.written = file.durable.clone();
        }
    }

    /// Flips bit `bit` (0..8) of the byte at `offset` of a file, in both its
    /// written and durable images (bit rot on the medium).
    pub fn flip_bit(&self, dir: &str, name: &str, offset: u64, bit: u8) -> io::Result<()> {
        let mut state = self.lock();
        let id = *state
            .names
            .get(&key(dir, name))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, key(dir, name)))?;
        let file = state.file(id)?;
        let mask = 1u8 << (bit % 8);
        let at = offset as usize;
        if at >= file.written.len() && at >= file.durable.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("offset {offset} is past the end of {name}"),
            ));
        }
        if let Some(b) = file.written.get_mut(at) {
            *b ^= mask;
        }
        if let Some(b) = file.durable.get_mut(at) {
            *b ^= mask;
        }
        for op in &mut file.pending {
            if let PendingOp::Write { offset: o, data } = op {
                if let Some(b) = (offset.checked_sub(*o)).and_then(|i| data.get_mut(i as usize)) {
                    *b ^= mask;
                }
            }
        }
        Ok(())
    }

    /// After `n` more successful reads, every read fails until
    /// [`FaultVfs::clear_faults`].
    pub fn fail_reads_after(&self, n: u64) {
        self.lock().faults.reads = Some(n);
    }

    /// After `n` more successful writes (and `set_len`s), every write fails.
    pub fn fail_writes_after(&self, n: u64) {
        self.lock().faults.writes = Some(n);
    }

    /// After `n` more successful syncs, every sync fails.
    pub fn fail_syncs_after(&self, n: u64) {
        self.lock().faults.syncs = Some(n);
    }

    /// Stops failing operations.
    pub fn clear_faults(&self) {
        self.lock().faults = Faults::default();
    }

    /// Successful file syncs so far.
    pub fn sync_count(&self) -> u64 {
        self.lock().syncs
    }

    /// The written image of a file (what reads see now).
    pub fn contents(&self, dir: &str, name: &str) -> io::Result<Vec<u8>> {
        let mut state = self.lock();
        let id = *state
            .names
            .get(&key(dir, name))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, key(dir, name)))?;
        Ok(state.file(id)?.written.clone())
    }

    /// The length of a file's durable image (what a crash now would keep,
    /// before the crash mode adds any unsynced writes).
    pub fn durable_len(&self, dir: &str, name: &str) -> io::Result<u64> {
        let mut state = self.lock();
        let id = *state
            .names
            .get(&key(dir, name))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, key(dir, name)))?;
        Ok(state.file(id)?.durable.len() as u64)
    }

    /// A copy of this disk as it would be after a crash right now (durable
    /// images only), sharing nothing with it.
    pub fn durable_copy(&self, seed: u64) -> FaultVfs {
        let state = self.lock();
        let mut files = BTreeMap::new();
        for (id, f) in &state.files {
            files.insert(
                *id,
                FileData {
                    written: f.durable.clone(),
                    durable: f.durable.clone(),
                    pending: Vec::new(),
                },
            );
        }
        FaultVfs {
            state: Arc::new(Mutex::new(State {
                names: state.names.clone(),
                files,
                next_id: state.next_id,
                rng: seed,
                crash_mode: state.crash_mode,
                ..State::default()
            })),
        }
    }
}

#[derive(Debug)]
struct FaultFile {
    state: Arc<Mutex<State>>,
    id: u64,
}

impl FaultFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl VfsFile for FaultFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut state = self.lock();
        tick(&mut state.faults.reads, "read")?;
        let file = state.file(self.id)?;
        let start = offset as usize;
        let end = start.saturating_add(buf.len());
        if end > file.written.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read of {} bytes at {offset} past end", buf.len()),
            ));
        }
        buf.copy_from_slice(&file.written[start..end]);
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        tick(&mut state.faults.writes, "write")?;
        let file = state.file(self.id)?;
        let op = PendingOp::Write {
            offset,
            data: data.to_vec(),
        };
        apply_op(&mut file.written, &op);
        file.pending.push(op);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let mut state = self.lock();
        Ok(state.file(self.id)?.written.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.lock();
        tick(&mut state.faults.writes, "set_len")?;
        let file = state.file(self.id)?;
        let op = PendingOp::SetLen(len);
        apply_op(&mut file.written, &op);
        file.pending.push(op);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut state = self.lock();
        tick(&mut state.faults.syncs, "sync")?;
        state.syncs += 1;
        let file = state.file(self.id)?;
        for op in std::mem::take(&mut file.pending) {
            apply_op(&mut file.durable, &op);
        }
        Ok(())
    }
}

impl Vfs for FaultVfs {
    fn create_dir_all(&self, _dir: &str) -> io::Result<()> {
        Ok(())
    }

    fn open(&self, dir: &str, name: &str, create: bool) -> io::Result<Box<dyn VfsFile>> {
        let mut state = self.lock();
        let k = key(dir, name);
        let id = match state.names.get(&k) {
            Some(id) => *id,
            None if create => {
                let id = state.next_id;
                state.next_id += 1;
                state.names.insert(k, id);
                state.files.insert(id, FileData::default());
                id
            }
            None => return Err(io::Error::new(io::ErrorKind::NotFound, k)),
        };
        Ok(Box::new(FaultFile {
            state: Arc::clone(&self.state),
            id,
        }))
    }

    fn exists(&self, dir: &str, name: &str) -> io::Result<bool> {
        Ok(self.lock().names.contains_key(&key(dir, name)))
    }

    fn remove(&self, dir: &str, name: &str) -> io::Result<()> {
        let mut state = self.lock();
        tick(&mut state.faults.writes, "remove")?;
        let id = state
            .names
            .remove(&key(dir, name))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, key(dir, name)))?;
        state.files.remove(&id);
        Ok(())
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let prefix = format!("{dir}/");
        Ok(self
            .lock()
            .names
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect())
    }

    fn rename(&self, dir: &str, from: &str, to: &str) -> io::Result<()> {
        let mut state = self.lock();
        tick(&mut state.faults.writes, "rename")?;
        let id = state
            .names
            .remove(&key(dir, from))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, key(dir, from)))?;
        if let Some(old) = state.names.insert(key(dir, to), id) {
            state.files.remove(&old);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_synced_and_drops_unsynced_writes() {
        let vfs = FaultVfs::new(1);
        let f = vfs.open("d", "f", true).unwrap();
        f.write_at(0, b"hello").unwrap();
        f.sync().unwrap();
        f.write_at(5, b" world").unwrap();
        assert_eq!(vfs.contents("d", "f").unwrap(), b"hello world");
        vfs.crash();
        assert_eq!(vfs.contents("d", "f").unwrap(), b"hello");
        assert_eq!(f.len().unwrap(), 5);
    }

    #[test]
    fn torn_crash_keeps_a_prefix_of_the_unsynced_ops() {
        for seed in 0..50 {
            let vfs = FaultVfs::new(seed);
            vfs.set_crash_mode(CrashMode::KeepRandomPrefixTorn);
            let f = vfs.open("d", "f", true).unwrap();
            f.write_at(0, b"aaaa").unwrap();
            f.write_at(4, b"bbbb").unwrap();
            vfs.crash();
            let got = vfs.contents("d", "f").unwrap();
            let full = b"aaaabbbb";
            assert!(
                got.len() <= 8 && full.starts_with(&got),
                "seed {seed}: {got:?}"
            );
        }
    }

    #[test]
    fn injected_faults_fail_after_the_countdown_until_cleared() {
        let vfs = FaultVfs::new(1);
        let f = vfs.open("d", "f", true).unwrap();
        vfs.fail_writes_after(1);
        f.write_at(0, b"a").unwrap();
        assert!(f.write_at(1, b"b").is_err());
        vfs.fail_syncs_after(0);
        assert!(f.sync().is_err());
        vfs.clear_faults();
        f.write_at(1, b"b").unwrap();
        f.sync().unwrap();
        let mut buf = [0u8; 2];
        vfs.fail_reads_after(0);
        assert!(f.read_at(0, &mut buf).is_err());
        vfs.clear_faults();
        f.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"ab");
    }

    #[test]
    fn flip_bit_changes_one_bit_and_list_rename_remove_work() {
        let vfs = FaultVfs::new(1);
        let f = vfs.open("d", "f", true).unwrap();
        f.write_at(0, &[0u8; 4]).unwrap();
        f.sync().unwrap();
        vfs.flip_bit("d", "f", 2, 3).unwrap();
        assert_eq!(vfs.contents("d", "f").unwrap(), vec![0, 0, 8, 0]);
        vfs.open("d", "g", true).unwrap();
        vfs.open("e", "h", true).unwrap();
        assert_eq!(vfs.list("d").unwrap(), vec!["f", "g"]);
        vfs.rename("d", "g", "f").unwrap();
        assert_eq!(vfs.list("d").unwrap(), vec!["f"]);
        assert_eq!(vfs.contents("d", "f").unwrap(), Vec::<u8>::new());
        vfs.remove("d", "f").unwrap();
        assert!(!vfs.exists("d", "f").unwrap());
        assert!(vfs.open("d", "f", false).is_err());
    }
}
