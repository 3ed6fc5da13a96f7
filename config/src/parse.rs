//! TOML parsing with errors that name the key and where it is.
//!
//! serde (with `deny_unknown_fields` on every section) does the parsing; the
//! parser reports a byte span, from which the section header above it and
//! the key on its line are recovered, so that every error can say
//! `storage.engin` rather than "line 12".

use crate::error::ConfigError;
use crate::file::Config;
use crate::validate::expectation;

/// Prefix of serde's message for a key no section knows.
const UNKNOWN_FIELD: &str = "unknown field `";

/// Parses `text` into a [`Config`] without validating it.
pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|error| explain(text, &error))
}

/// Turns a parser error into a [`ConfigError`] naming the key.
fn explain(text: &str, error: &toml::de::Error) -> ConfigError {
    let message = error.message().trim().to_string();
    let Some(span) = error.span() else {
        return ConfigError::Parse {
            line: None,
            message,
        };
    };
    let place = locate(text, span.start);
    if let Some(rest) = message.strip_prefix(UNKNOWN_FIELD) {
        let name = rest.split('`').next().unwrap_or(rest);
        let key = join(place.section.as_deref(), name);
        let hint = rest
            .split_once(", ")
            .map(|(_, accepted)| accepted.to_string())
            .unwrap_or_else(|| "this section takes no keys".to_string());
        return ConfigError::UnknownKey {
            key,
            section: match &place.section {
                Some(section) => format!("[{section}] (line {})", place.line),
                None => format!("the top level (line {})", place.line),
            },
            hint,
        };
    }
    match place.key {
        Some(key) => {
            let key = join(place.section.as_deref(), &key);
            let value = text
                .get(span.clone())
                .unwrap_or_default()
                .trim()
                .to_string();
            let expected = match expectation(&key) {
                Some(rule) => format!("{message}; expected {rule}"),
                None => message,
            };
            ConfigError::Invalid {
                key,
                value,
                expected,
            }
        }
        None => ConfigError::Parse {
            line: Some(place.line),
            message,
        },
    }
}

/// Where a byte offset of the document is.
struct Place {
    /// 1-based line number.
    line: usize,
    /// The `[section]` the line belongs to (`None` at the top level).
    section: Option<String>,
    /// The key assigned on the line, if the line is an assignment.
    key: Option<String>,
}

fn locate(text: &str, offset: usize) -> Place {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |at| at + 1);
    let line_end = text[offset..]
        .find('\n')
        .map_or(text.len(), |at| offset + at);
    let line_text = &text[line_start..line_end];
    let line = text[..line_start].matches('\n').count() + 1;
    let section = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|header| {
            header
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string()
        });
    let trimmed = line_text.trim();
    let key = if trimmed.starts_with('[') {
        None
    } else {
        trimmed
            .split_once('=')
            .map(|(key, _)| key.trim().trim_matches('"').to_string())
            .filter(|key| !key.is_empty())
    };
    Place { line, section, key }
}

fn join(section: Option<&str>, key: &str) -> String {
    match section {
        Some(section) => format!("{section}.{key}"),
        None => key.to_string(),
    }
}
