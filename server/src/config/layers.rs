//! Merging the configuration sources into one TOML table before it is typed.
//!
//! Invariant: the table holds, for every key, the value of the highest-priority source that set it
//! (file < environment < CLI flags), and `origins` remembers which source that was, so a rejected value
//! can be reported with where it came from. Values from the environment and flags are inserted as
//! strings; the typed layer (`values.rs`) accepts strings for every kind of value.

use std::collections::BTreeMap;
use std::path::Path;

use super::ConfigError;

/// Environment variables starting with this prefix configure the node: `VECTORIZER__SECTION__KEY`.
pub const ENV_PREFIX: &str = "VECTORIZER__";

/// The merged, still untyped configuration.
#[derive(Debug, Default)]
pub struct Layers {
    table: toml::Table,
    origins: BTreeMap<String, String>,
}

impl Layers {
    /// Starts from the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.to_owned(), source })?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| ConfigError::Syntax { path: path.to_owned(), message: e.to_string() })?;
        let mut origins = BTreeMap::new();
        for (section, value) in &table {
            if let Some(keys) = value.as_table() {
                for key in keys.keys() {
                    origins.insert(format!("{section}.{key}"), format!("config file {}", path.display()));
                }
            }
        }
        Ok(Self { table, origins })
    }

    /// Overlays every `VECTORIZER__SECTION__KEY` variable of `vars` (other variables are ignored).
    pub fn apply_env<I>(&mut self, vars: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let mut parts = rest.split("__");
            let (Some(section), Some(key), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(ConfigError::EnvName { var: name });
            };
            if section.is_empty() || key.is_empty() {
                return Err(ConfigError::EnvName { var: name });
            }
            let origin = format!("environment variable {name}");
            self.set(&section.to_ascii_lowercase(), &key.to_ascii_lowercase(), value, origin)?;
        }
        Ok(())
    }

    /// Sets `section.key` to a string value coming from `origin`, replacing any earlier value.
    pub fn set(&mut self, section: &str, key: &str, value: String, origin: String) -> Result<(), ConfigError> {
        let entry = self.table.entry(section.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(keys) = entry.as_table_mut() else {
            return Err(ConfigError::Invalid {
                key: section.to_owned(),
                message: format!("expected a table [{section}], got a {}", entry.type_str()),
                origin: self.origins.get(section).cloned(),
            });
        };
        keys.insert(key.to_owned(), toml::Value::String(value));
        self.origins.insert(format!("{section}.{key}"), origin);
        Ok(())
    }

    /// Where `key` (`section.key`) was last set, if any source set it.
    pub fn origin(&self, key: &str) -> Option<&str> {
        self.origins.get(key).map(String::as_str)
    }

    /// The merged table.
    pub fn table(&self) -> &toml::Table {
        &self.table
    }
}
