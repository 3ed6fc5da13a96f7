//! TOML parsing with errors that name the key.

use crate::error::ConfigError;
use crate::file::Config;

/// Parses `text` into a [`Config`] without validating it.
pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|error| ConfigError::Parse {
        line: None,
        message: error.to_string(),
    })
}
