//! The storage layer's errors.

use std::path::PathBuf;

/// Result alias for the storage layer.
pub type StorageResult<T> = Result<T, StorageError>;

/// Everything that can go wrong in an engine. An I/O error poisons the engine:
/// it refuses further writes until reopened, rather than guessing what
/// reached the disk.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The operating system failed a read, write or sync.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A page, WAL record or superblock failed its checksum or format check.
    #[error("corruption in {what}: {detail}")]
    Corruption {
        /// Which structure, e.g. `page 17` or `wal segment 3`.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A key or value is larger than the engine accepts.
    #[error("{what} is {len} bytes: must be at most {max} bytes")]
    TooLarge {
        /// `key` or `value`.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An earlier I/O error made the engine refuse writes; reopen it.
    #[error("engine is read-only after an earlier I/O error: {0}; reopen it")]
    Poisoned(String),
    /// The engine was closed.
    #[error("engine is closed")]
    Closed,
    /// An error from the sled engine.
    #[error("sled: {0}")]
    Sled(String),
}
