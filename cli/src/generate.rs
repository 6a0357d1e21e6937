//! The benchmark's standard data set, deterministic from a fixed seed: IoT readings from 50 devices
//! `dev-0000..dev-0049`, timestamps spread evenly over 2020-04-01..2020-06-30 UTC in time order,
//! latitude/longitude as JSON strings with 6 decimals, temperature/humidity/pressure as numbers.

use std::io::{self, Write};

/// Output layouts.
#[derive(Clone, Copy)]
pub enum Layout {
    Ndjson,
    Gzip,
    Array,
}

const DEVICES: u64 = 50;
const START: u64 = 1_585_699_200; // 2020-04-01T00:00:00Z
const END: u64 = 1_593_561_600; // 2020-07-01T00:00:00Z

/// SplitMix64: tiny, fast and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Writes `records` records; returns the bytes written (before compression).
pub fn write(records: u64, layout: Layout, out: impl Write) -> io::Result<u64> {
    match layout {
        Layout::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
            let n = write_records(records, false, &mut gz)?;
            gz.finish()?.flush()?;
            Ok(n)
        }
        Layout::Ndjson => write_records(records, false, out),
        Layout::Array => write_records(records, true, out),
    }
}

fn write_records(records: u64, array: bool, mut out: impl Write) -> io::Result<u64> {
    let mut rng = Rng(0x5EED_2020);
    let mut written = 0u64;
    let mut line = String::with_capacity(256);
    if array {
        out.write_all(b"[\n")?;
        written += 2;
    }
    for i in 0..records {
        let device = rng.next() % DEVICES;
        let timestamp = START + (END - START) * i / records.max(1);
        // Each device sits near its own place in Japan and wanders a little.
        let lat = 33.0 + device as f64 * 0.1 + rng.unit() * 0.01;
        let long = 130.0 + device as f64 * 0.2 + rng.unit() * 0.01;
        let temperature = ((15.0 + rng.unit() * 20.0) * 10.0).round() / 10.0;
        let humidity = ((30.0 + rng.unit() * 50.0) * 100.0).round() / 100.0;
        let pressure = ((990.0 + rng.unit() * 40.0) * 100.0).round() / 100.0;
        line.clear();
        use std::fmt::Write as _;
        let _ = write!(
            line,
            "{{\"device_id\":\"dev-{device:04}\",\"timestamp\":{timestamp},\"location\":{{\"lat\":\"{lat:.6}\",\"long\":\"{long:.6}\"}},\"temperature\":{temperature},\"humidity\":{humidity},\"pressure\":{pressure}}}"
        );
        if array && i + 1 < records {
            line.push(',');
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    if array {
        out.write_all(b"]\n")?;
        written += 2;
    }
    out.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_the_documented_shape() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write(1000, Layout::Ndjson, &mut a).unwrap();
        write(1000, Layout::Ndjson, &mut b).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        let mut last = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let device = v["device_id"].as_str().unwrap();
            assert!(device.starts_with("dev-00") && device.len() == 8);
            let ts = v["timestamp"].as_u64().unwrap();
            assert!((START..END).contains(&ts) && ts >= last);
            last = ts;
            let lat = v["location"]["lat"].as_str().unwrap();
            assert_eq!(lat.split('.').nth(1).unwrap().len(), 6);
            assert!(v["temperature"].is_f64() || v["temperature"].is_u64());
        }
        let mut arr = Vec::new();
        write(10, Layout::Array, &mut arr).unwrap();
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&arr).unwrap();
        assert_eq!(parsed.len(), 10);
    }
}
