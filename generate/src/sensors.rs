//! Synthetic IoT sensor readings (seed 002): a fleet of devices, each with a type and a
//! place, reporting temperature, humidity, pressure and battery. Deterministic for a
//! seed; with a bad ratio, some readings are malformed JSON, lack a value, or report
//! what no sensor can (humidity 140 %, −300 °C). Good readings give their time in several
//! formats and offsets, as a mixed fleet does; silver normalises them to UTC.

use super::RecordSource;
use super::draw::{cut_short, pick, time_of};
use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Device types, with their share of the fleet.
const DEVICE_TYPES: &[(&str, u32)] = &[
    ("thermostat", 40),
    ("weather_station", 25),
    ("air_quality", 20),
    ("cold_storage", 15),
];

/// Places, with their usual temperature (°C).
const LOCATIONS: &[(&str, f64)] = &[
    ("warehouse-a", 17.0),
    ("warehouse-b", 15.0),
    ("office-1", 22.0),
    ("office-2", 21.5),
    ("server-room", 24.0),
    ("greenhouse", 27.0),
    ("rooftop", 11.0),
    ("lab", 20.0),
];

/// The kinds of bad readings, in the order `bad_kind` draws them.
const BAD_KINDS: u32 = 6;

/// One reading as a device sends it.
#[derive(Debug, Serialize)]
pub struct Reading {
    pub sensor_id: Option<String>,
    pub device_type: String,
    pub location: String,
    pub temperature: Option<f64>,
    pub humidity: f64,
    pub pressure: f64,
    pub battery: f64,
    /// The time, as text or as Unix seconds.
    pub ts: serde_json::Value,
}

/// How readings are made.
#[derive(Debug, Clone)]
pub struct SensorOptions {
    pub seed: u64,
    /// Readings are spread over `[start, start + span)` in order, `count` of them...
    pub count: u64,
    pub start: DateTime<Utc>,
    pub span: Duration,
    /// ...unless they are live: then each is stamped with the time it is made.
    pub live: bool,
    /// Devices in the fleet.
    pub devices: u32,
    /// Share of bad readings.
    pub bad_ratio: f64,
}

/// One device of the fleet.
struct Device {
    id: String,
    kind: &'static str,
    location: &'static str,
    base_temperature: f64,
    battery: f64,
}

/// An endless, deterministic source of sensor readings (JSON text) keyed by sensor.
pub struct SensorGenerator {
    rng: StdRng,
    options: SensorOptions,
    fleet: Vec<Device>,
    produced: u64,
}

impl SensorGenerator {
    /// A generator for these options.
    pub fn new(options: SensorOptions) -> Result<Self, String> {
        if options.devices == 0 {
            return Err("--devices must be at least 1".into());
        }
        let mut rng = StdRng::seed_from_u64(options.seed);
        let fleet = (0..options.devices)
            .map(|i| {
                let (location, base_temperature) = LOCATIONS[rng.random_range(0..LOCATIONS.len())];
                Device {
                    id: format!("sensor-{i:05}"),
                    kind: pick(&mut rng, DEVICE_TYPES),
                    location,
                    base_temperature,
                    battery: rng.random_range(40.0..100.0),
                }
            })
            .collect();
        Ok(Self {
            rng,
            options,
            fleet,
            produced: 0,
        })
    }

    fn reading(&mut self, n: u64) -> Reading {
        let o = &self.options;
        let at = time_of(n, o.count, o.start, o.span, o.live);
        let i = self.rng.random_range(0..self.fleet.len());
        let drain = self.rng.random_range(0.0..0.01);
        let device = &mut self.fleet[i];
        device.battery = (device.battery - drain).max(1.0);
        let (id, kind, location) = (device.id.clone(), device.kind, device.location);
        let (base, battery) = (device.base_temperature, device.battery);
        let round = |x: f64, digits: i32| (x * 10f64.powi(digits)).round() / 10f64.powi(digits);
        let ts = self.time_text(at);
        Reading {
            sensor_id: Some(id),
            device_type: kind.to_string(),
            location: location.to_string(),
            temperature: Some(round(base + self.rng.random_range(-4.0..4.0), 2)),
            humidity: round(self.rng.random_range(25.0..75.0), 1),
            pressure: round(self.rng.random_range(985.0..1035.0), 1),
            battery: round(battery, 1),
            ts,
        }
    }

    /// The time as one of the fleet's formats: UTC with `Z`, a local offset, no offset
    /// (UTC), or Unix seconds.
    fn time_text(&mut self, at: DateTime<Utc>) -> serde_json::Value {
        match self.rng.random_range(0..8) {
            0 => {
                let offset = FixedOffset::east_opt(self.rng.random_range(-10..=12) * 3600)
                    .unwrap_or(FixedOffset::east_opt(0).expect("zero is a valid offset"));
                at.with_timezone(&offset)
                    .to_rfc3339_opts(SecondsFormat::Millis, false)
                    .into()
            }
            1 => at.format("%Y-%m-%d %H:%M:%S%.3f").to_string().into(),
            2 => serde_json::json!(at.timestamp_millis() as f64 / 1000.0),
            _ => at.to_rfc3339_opts(SecondsFormat::Millis, true).into(),
        }
    }

    /// A reading silver must quarantine; the kind is drawn from `BAD_KINDS`.
    fn bad(&mut self, mut reading: Reading) -> String {
        match self.rng.random_range(0..BAD_KINDS) {
            0 => {
                return cut_short(&reading);
            }
            1 => reading.sensor_id = None,
            2 => reading.temperature = None,
            3 => reading.humidity = 140.0,
            4 => reading.temperature = Some(-300.0),
            _ => reading.ts = "not-a-time".into(),
        }
        serde_json::to_string(&reading).unwrap_or_default()
    }
}

impl RecordSource for SensorGenerator {
    fn next_record(&mut self) -> (String, String) {
        let n = self.produced;
        self.produced += 1;
        let reading = self.reading(n);
        let key = reading.sensor_id.clone().unwrap_or_default();
        let json = if self.rng.random_bool(self.options.bad_ratio) {
            self.bad(reading)
        } else {
            serde_json::to_string(&reading).unwrap_or_default()
        };
        (key, json)
    }

    fn name(&self) -> &'static str {
        "sensor_data"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(seed: u64, bad_ratio: f64) -> SensorOptions {
        SensorOptions {
            seed,
            count: 5_000,
            start: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            span: Duration::hours(2),
            live: false,
            devices: 50,
            bad_ratio,
        }
    }

    fn records(seed: u64, bad_ratio: f64) -> Vec<(String, String)> {
        let mut g = SensorGenerator::new(options(seed, bad_ratio)).unwrap();
        (0..5_000).map(|_| g.next_record()).collect()
    }

    #[test]
    fn same_seed_same_readings_and_every_good_one_is_sane() {
        assert_eq!(records(3, 0.0), records(3, 0.0));
        assert_ne!(records(3, 0.0)[0], records(4, 0.0)[0]);
        let mut formats = std::collections::HashSet::new();
        for (key, json) in records(3, 0.0) {
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v["sensor_id"], key.as_str());
            let t = v["temperature"].as_f64().unwrap();
            let h = v["humidity"].as_f64().unwrap();
            assert!(
                (-50.0..=60.0).contains(&t) && (0.0..=100.0).contains(&h),
                "{json}"
            );
            formats.insert(match &v["ts"] {
                serde_json::Value::Number(_) => "seconds",
                serde_json::Value::String(s) if s.ends_with('Z') => "utc",
                serde_json::Value::String(s) if s.contains(' ') => "no offset",
                _ => "offset",
            });
        }
        assert_eq!(formats.len(), 4, "{formats:?}");
    }

    #[test]
    fn bad_ratio_plants_each_kind_of_bad_reading() {
        let all = records(9, 0.2);
        let broken = all
            .iter()
            .filter(|(_, j)| serde_json::from_str::<serde_json::Value>(j).is_err())
            .count();
        let valid: Vec<serde_json::Value> = all
            .iter()
            .filter_map(|(_, j)| serde_json::from_str(j).ok())
            .collect();
        let count = |f: &dyn Fn(&serde_json::Value) -> bool| valid.iter().filter(|v| f(v)).count();
        let kinds = [
            broken,
            count(&|v| v["sensor_id"].is_null()),
            count(&|v| v["temperature"].is_null()),
            count(&|v| v["humidity"] == 140.0),
            count(&|v| v["temperature"] == -300.0),
            count(&|v| v["ts"] == "not-a-time"),
        ];
        // 20 % of 5,000 in six kinds: about 167 each.
        for (i, n) in kinds.iter().enumerate() {
            assert!((100..240).contains(n), "kind {i}: {n} ({kinds:?})");
        }
    }
}
