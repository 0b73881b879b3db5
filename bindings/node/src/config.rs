//! JS config objects to Kafka properties.
//!
//! A config is an object of Kafka property names (`{ "bootstrap.servers": "...", "linger.ms":
//! 5, "enable.idempotence": true }`); values become the strings Kafka's config parser reads.
//! Validation (unknown names, bad values) is the core's, so an error names the property
//! exactly as Kafka does.

use std::collections::HashMap;

use napi::bindgen_prelude::Either3;

/// A property value: string, number or boolean.
pub type Value = Either3<String, f64, bool>;

/// A JS config object, as napi reads it.
pub type Config = HashMap<String, Value>;

fn value_string(v: &Value) -> String {
    match v {
        Either3::A(s) => s.clone(),
        Either3::B(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => format!("{}", *n as i64),
        Either3::B(n) => n.to_string(),
        Either3::C(b) => b.to_string(),
    }
}

/// The properties of `config`, sorted by name (so errors are deterministic).
pub fn properties(config: &Config) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.clone(), value_string(v)))
        .collect();
    out.sort();
    out
}
