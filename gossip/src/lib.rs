//! ZeroDB membership and failure detection on SWIM (foca), node metadata
//! and the clockwise view exchange (DESIGN.md section 4).
//!
//! Sans-IO: no clock, no sockets, no threads; time and randomness come in.
#![forbid(unsafe_code)]
