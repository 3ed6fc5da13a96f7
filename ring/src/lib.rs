//! ZeroDB cluster ring: tokens, placement, replica rings, partitioning and
//! range diffs (DESIGN.md section 3).
//!
//! Pure and deterministic: the ring is a function of the membership view.
#![forbid(unsafe_code)]
