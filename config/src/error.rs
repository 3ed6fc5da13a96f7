//! The errors of configuration loading.

use std::path::PathBuf;

/// A configuration problem. Every message names the key (or environment
/// variable), the bad value and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key holds a value outside its rules.
    #[error("{key} = {value}: {expected}")]
    Invalid {
        /// Dotted key path, e.g. `node.tokens`.
        key: String,
        /// The offending value as written.
        value: String,
        /// What the key accepts.
        expected: String,
    },

    /// The file holds a key the configuration does not know.
    #[error("unknown key `{key}` in {section}: {hint}")]
    UnknownKey {
        /// Dotted path of the unknown key, e.g. `storage.engin`.
        key: String,
        /// Where it was found, e.g. `[storage]` or `the top level`.
        section: String,
        /// The keys that are accepted there.
        hint: String,
    },

    /// The file is not valid TOML or a value has the wrong type.
    #[error("invalid configuration{}: {message}", location_suffix(.line))]
    Parse {
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// The parser's description, naming the key when it knows it.
        message: String,
    },

    /// An environment variable holds an unusable value.
    #[error("environment variable {variable}={value}: {expected}")]
    Env {
        /// The variable name, e.g. `ZERODB_NODE_ID`.
        variable: String,
        /// Its value.
        value: String,
        /// What it accepts.
        expected: String,
    },

    /// The configuration file could not be read.
    #[error("cannot read configuration file {}: {reason}; check the path or run without a file to use defaults", .path.display())]
    Io {
        /// The path given.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
}

fn location_suffix(line: &Option<usize>) -> String {
    match line {
        Some(line) => format!(" at line {line}"),
        None => String::new(),
    }
}
