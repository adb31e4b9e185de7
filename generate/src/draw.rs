//! What the generators draw alike: ids, weighted choices, the time of the n-th record,
//! and a record cut short.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;

/// A random version-4 UUID.
pub fn uuid(rng: &mut StdRng) -> String {
    let v: u128 = rng.random();
    let v = (v & !(0xF000u128 << 64)) | (0x4000u128 << 64); // version 4
    let v = (v & !(0xC000u128 << 48)) | (0x8000u128 << 48); // RFC 4122 variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        v >> 96,
        (v >> 80) & 0xffff,
        (v >> 64) & 0xffff,
        (v >> 48) & 0xffff,
        v & 0xffff_ffff_ffff
    )
}

/// One of `weighted`'s names, each as often as its weight says.
pub fn pick<'a>(rng: &mut StdRng, weighted: &'a [(&'a str, u32)]) -> &'a str {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (name, w) in weighted {
        if x < *w {
            return name;
        }
        x -= w;
    }
    weighted[0].0
}

/// The time of the n-th of `count` records spread evenly over `[start, start + span)`,
/// or now for a live stream.
pub fn time_of(
    n: u64,
    count: u64,
    start: DateTime<Utc>,
    span: Duration,
    live: bool,
) -> DateTime<Utc> {
    if live {
        return Utc::now();
    }
    let step = span.num_milliseconds().max(1) as f64 / count.max(1) as f64;
    start + Duration::milliseconds((n as f64 * step) as i64)
}

/// The first half of a record's JSON text: JSON no parser accepts.
pub fn cut_short(record: &impl Serialize) -> String {
    let text = serde_json::to_string(record).unwrap_or_default();
    text[..text.len() / 2].to_string()
}
