//! Units of scenario files: humantime durations ("24h", "1h 30m", "500ms") and ether.

use alloy_primitives::U256;
use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// Deserializes a humantime duration ("24h", "1h 30m", "500ms").
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!("invalid duration {text:?}: {e} (write e.g. \"90s\", \"2h\")"))
    })
}

/// Deserializes an optional humantime duration.
pub fn optional_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

/// Serializes a duration as humantime text ("1h 30m"), the form scenario files use.
pub fn human<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_duration(*duration).to_string())
}

/// Ether, in wei.
pub fn ether(amount: u64) -> U256 {
    U256::from(amount) * U256::from(10u64).pow(U256::from(18))
}
