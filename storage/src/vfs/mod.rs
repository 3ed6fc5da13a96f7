//! The file layer under the ZeroDB engine: files by name within a
//! directory, read and written at offsets, made durable by `sync`.
//!
//! [`RealVfs`] is the operating system's file system; [`FaultVfs`] is an
//! in-memory disk for tests and the simulator that keeps each file's written
//! image apart from its durable image, so a simulated crash loses exactly the
//! unsynced writes (and can tear the last one), and that flips bits and fails
//! operations on command. Engines hold an `Arc<dyn Vfs>` so that the same
//! engine code runs on either.

mod fault;
mod real;

use std::fmt::Debug;
use std::io;

pub use fault::{CrashMode, FaultVfs};
pub use real::RealVfs;

/// One open file. Offsets are bytes from the start of the file.
pub trait VfsFile: Send + Sync + Debug {
    /// Fills `buf` from `offset`; fails with `UnexpectedEof` if the file
    /// ends before `buf` is full.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// Writes all of `data` at `offset`, growing the file if needed (a gap
    /// reads as zeros). Not durable until [`VfsFile::sync`].
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;

    /// The file's current length.
    fn len(&self) -> io::Result<u64>;

    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Truncates or extends (with zeros) the file. Not durable until `sync`.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Makes every earlier write and `set_len` of this file durable.
    fn sync(&self) -> io::Result<()>;
}

/// A file system: files by name within a directory. Names are plain file
/// names (no separators). Creating, removing and renaming a file are durable
/// when the call returns (the real file system syncs the directory).
pub trait Vfs: Send + Sync + Debug {
    /// Creates the directory (and its parents) if missing.
    fn create_dir_all(&self, dir: &str) -> io::Result<()>;

    /// Opens `name` in `dir` for reading and writing; creates it empty when
    /// `create` is set and it does not exist, else fails with `NotFound`.
    fn open(&self, dir: &str, name: &str, create: bool) -> io::Result<Box<dyn VfsFile>>;

    /// Whether `name` exists in `dir`.
    fn exists(&self, dir: &str, name: &str) -> io::Result<bool>;

    /// Removes `name` from `dir`.
    fn remove(&self, dir: &str, name: &str) -> io::Result<()>;

    /// The names of the files in `dir`, sorted.
    fn list(&self, dir: &str) -> io::Result<Vec<String>>;

    /// Renames `from` to `to` within `dir`, replacing `to` if it exists.
    fn rename(&self, dir: &str, from: &str, to: &str) -> io::Result<()>;
}
