//! ZeroDB Rust client library: connects with a client certificate to a
//! random coordinator and speaks the txn protocol.
#![forbid(unsafe_code)]
