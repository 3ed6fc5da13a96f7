//! ZeroDB replication and transaction protocol: HLC versions, messages,
//! and the coordinator and replica state machines (DESIGN.md sections 5-7).
//!
//! Sans-IO: no clock, no sockets, no threads; time and randomness come in.
#![forbid(unsafe_code)]
