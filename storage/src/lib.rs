//! ZeroDB local storage: the `Engine` trait every node keeps its data behind,
//! and the engines that implement it (DESIGN.md section 8).
//!
//! Owns: records, write batches, durability (`sync`), checkpoints, TTL at
//! read time, and the reserved system keyspace where the transaction layer
//! keeps its locks and decision records. Does not own: versions' meaning
//! (the "never replace with a lower version" rule belongs to `txn`), or any
//! network or clock: `now` is passed in.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod engine;
mod error;
mod memory;
mod record;
mod sled_engine;
pub mod vfs;
mod zero;

pub use engine::{Direction, Engine, EngineStats, OpenReport, ScanRange, WriteBatch, WriteOp};
pub use error::{StorageError, StorageResult};
pub use memory::MemoryEngine;
pub use record::{Incarnation, Record, Space, Version};
pub use sled_engine::{SledEngine, SLED_KEY_MAX_BYTES, SLED_VALUE_MAX_BYTES};
pub use vfs::{CrashMode, FaultVfs, RealVfs, Vfs, VfsFile};
pub use zero::{
    EngineOptions, RepairReport, ValidationReport, ZeroEngine, MAIN_FILE as ZERO_MAIN_FILE,
    PAGE_SIZE,
};
