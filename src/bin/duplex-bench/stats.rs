//! # Numbers from a noisy machine: percentiles, medians, ranges
//!
//! A shared two-core machine is noisy: another process, a timer, the
//! hypervisor can steal a few milliseconds at any time. So one run proves
//! little. Each scenario runs several times and reports the *median* (half
//! the runs did better, half worse; one freak run cannot move it) and the
//! *range* (the best and the worst), never the mean.
//!
//! Latencies are percentiles of every single sample: p50 is the typical
//! message, p99 the one-in-a-hundred that waited behind something.

use std::time::Duration;

use crate::procfs::Noise;

/// Every latency sample of a run, in nanoseconds (8 bytes each: a million
/// samples fit in 8 MB).
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn with_capacity(capacity: usize) -> Samples {
        Samples(Vec::with_capacity(capacity))
    }

    pub fn push(&mut self, latency: Duration) {
        self.0.push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The latency below which `fraction` of the samples lie, in µs.
    /// Sorts in place; cheap next to the run that produced the samples.
    pub fn percentile_us(&mut self, fraction: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let rank = ((self.0.len() as f64 * fraction).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1] as f64 / 1000.0
    }
}

/// Median and range of one figure over several runs.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return Spread { median: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        };
        Spread { median, min: sorted[0], max: sorted[sorted.len() - 1] }
    }

    /// `12345 (11000–13000)`, with as many decimals as the size calls for.
    pub fn show(&self) -> String {
        format!("{} ({}–{})", fmt(self.median), fmt(self.min), fmt(self.max))
    }
}

/// Three significant digits at most: measurements on this machine do not
/// carry more.
pub fn fmt(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_string();
    }
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        format!("{value:.0}")
    } else if magnitude >= 100.0 {
        format!("{value:.1}")
    } else if magnitude >= 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A growing `RESULT scenario=... key=value ...` line.
pub struct ResultLine(String);

impl ResultLine {
    pub fn new(scenario: &str) -> ResultLine {
        ResultLine(format!("RESULT scenario={scenario}"))
    }

    /// Adds how busy other processes kept the machine (`others_cpu=`, in
    /// cores: 0.5 means half a core was busy with someone else's work, on
    /// average) and the one-minute load average (`load=`). Figures taken
    /// while `others_cpu` is well above zero are suspect.
    pub fn noise(&mut self, noise: &Noise, servers: &[u32]) -> &mut ResultLine {
        let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let one_minute = text.split_whitespace().next().unwrap_or("nan").to_string();
        self.num("others_cpu", noise.others(servers)).add("load", one_minute)
    }

    pub fn add(&mut self, key: &str, value: impl std::fmt::Display) -> &mut ResultLine {
        self.0.push_str(&format!(" {key}={value}"));
        self
    }

    /// A figure that may be missing (`nan`) prints as `nan`, so scripts see
    /// a gap rather than a made-up zero.
    pub fn num(&mut self, key: &str, value: f64) -> &mut ResultLine {
        self.add(key, fmt(value))
    }

    pub fn print(&self) {
        println!("{}", self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_range() {
        let spread = Spread::of(&[3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!((spread.median, spread.min, spread.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[1.0, 2.0, 3.0, 4.0]).median, 2.5);
    }

    #[test]
    fn percentiles() {
        let mut samples = Samples::default();
        for micros in 1..=100 {
            samples.push(Duration::from_micros(micros));
        }
        assert_eq!(samples.percentile_us(0.5), 50.0);
        assert_eq!(samples.percentile_us(0.99), 99.0);
        assert_eq!(samples.percentile_us(1.0), 100.0);
    }
}
