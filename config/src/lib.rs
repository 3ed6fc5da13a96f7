//! ZeroDB node configuration: the TOML file, its defaults, environment
//! overrides (`ZERODB_...`) and validation with errors that name the key.
//!
//! Owns: parsing and checking configuration. Does not own: anything that acts
//! on it.
#![forbid(unsafe_code)]
