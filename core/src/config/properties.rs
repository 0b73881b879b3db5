//! Kafka-style `key=value` properties with typed getters that name the property on error.
//!
//! Every getter marks its key as used; [`Properties::finish`] then rejects whatever is left,
//! so a misspelt property fails at construction instead of being silently ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::error::{KafkaError, Result};

/// Properties being parsed.
#[derive(Debug, Default)]
pub struct Properties {
    values: BTreeMap<String, String>,
    used: BTreeSet<String>,
}

impl Properties {
    pub fn new<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Properties {
        Properties {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            used: BTreeSet::new(),
        }
    }

    fn raw(&mut self, key: &str) -> Option<String> {
        self.used.insert(key.to_string());
        self.values.get(key).map(|v| v.trim().to_string())
    }

    /// Marks a property as known without reading it (accepted for compatibility, no effect).
    pub fn ignore(&mut self, key: &str) {
        self.used.insert(key.to_string());
    }

    pub fn string(&mut self, key: &str, default: &str) -> String {
        self.raw(key).unwrap_or_else(|| default.to_string())
    }

    pub fn optional_string(&mut self, key: &str) -> Option<String> {
        self.raw(key).filter(|v| !v.is_empty())
    }

    pub fn bool(&mut self, key: &str, default: bool) -> Result<bool> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(KafkaError::config(
                    key,
                    format!("`{v}` is not true or false"),
                )),
            },
        }
    }

    /// An integer within `[min, max]`.
    pub fn int(&mut self, key: &str, default: i64, min: i64, max: i64) -> Result<i64> {
        let v = match self.raw(key) {
            None => return Ok(default),
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| KafkaError::config(key, format!("`{v}` is not a whole number")))?,
        };
        if v < min || v > max {
            return Err(KafkaError::config(
                key,
                format!("{v} is outside the allowed range [{min}, {max}]"),
            ));
        }
        Ok(v)
    }

    /// A millisecond duration (non-negative).
    pub fn millis(&mut self, key: &str, default: u64) -> Result<Duration> {
        Ok(Duration::from_millis(
            self.int(key, default as i64, 0, i64::MAX)? as u64,
        ))
    }

    /// A comma-separated list.
    pub fn list(&mut self, key: &str, default: &[&str]) -> Vec<String> {
        match self.raw(key) {
            None => default.iter().map(|s| s.to_string()).collect(),
            Some(v) => v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }

    /// One of `allowed` (case-insensitive); returns the allowed spelling.
    pub fn choice(&mut self, key: &str, default: &str, allowed: &[&str]) -> Result<String> {
        let v = self.string(key, default);
        allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(&v))
            .map(|a| a.to_string())
            .ok_or_else(|| {
                KafkaError::config(key, format!("`{v}` is not one of {}", allowed.join(", ")))
            })
    }

    /// Fails on the first property no getter asked for.
    pub fn finish(self) -> Result<()> {
        match self.values.keys().find(|k| !self.used.contains(*k)) {
            Some(k) => Err(KafkaError::config(k, "unknown configuration property")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_getters_and_unknown_names() {
        let mut p = Properties::new([("linger.ms", "7"), ("acks", "ALL"), ("lingr.ms", "1")]);
        assert_eq!(p.millis("linger.ms", 5).unwrap(), Duration::from_millis(7));
        assert_eq!(
            p.choice("acks", "all", &["0", "1", "all", "-1"]).unwrap(),
            "all"
        );
        assert_eq!(p.int("retries", 3, 0, 10).unwrap(), 3);
        match p.finish().unwrap_err() {
            KafkaError::Config { property, .. } => assert_eq!(property, "lingr.ms"),
            e => panic!("{e}"),
        }
        let mut p = Properties::new([("batch.size", "-4")]);
        match p.int("batch.size", 16384, 0, i32::MAX as i64).unwrap_err() {
            KafkaError::Config { property, .. } => assert_eq!(property, "batch.size"),
            e => panic!("{e}"),
        }
    }
}
