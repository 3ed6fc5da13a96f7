//! ZeroDB deterministic cluster simulator: simulated network, clocks and
//! disks, fault injection, workloads and history checkers (DESIGN.md
//! section 11).
#![forbid(unsafe_code)]
