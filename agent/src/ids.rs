//! IDs and timestamps as Docker makes them: 64 hex digits of randomness
//! for containers, layers, networks and exec instances, and RFC 3339 times
//! with nanoseconds. A leaf module: every layer of the agent may use it.

use rand::Rng;

/// A new random 256-bit ID in hex.
pub fn new_id() -> String {
    let bytes: [u8; 32] = rand::thread_rng().gen();
    hex::encode(bytes)
}

/// Now, as Docker prints times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
