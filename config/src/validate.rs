//! The rules every configuration must satisfy.

use crate::error::ConfigError;
use crate::file::Config;

impl Config {
    /// Checks every rule; the first broken one is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
