//! The `zerodb` command line.
