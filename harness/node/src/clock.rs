//! Timestamps as the API writes them (RFC 3339, seconds, UTC).

use k8s_openapi::jiff::Timestamp;

pub fn timestamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn now() -> String {
    timestamp(Timestamp::now())
}
