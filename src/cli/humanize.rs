//! Docker's human-readable sizes and durations, reimplemented from go-units so
//! that `berth` tables match `docker` tables character for character.

use std::time::Duration;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Scales `size` down by `base` until it fits, like go-units' getSizeAndUnit.
fn size_and_unit(mut size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// Go's `fmt.Sprintf("%.*g", precision, v)` for non-negative finite `v`:
/// at most `precision` significant digits, no trailing zeros, and Go's
/// exponent form (`1e+03`) when the exponent is below -4 or reaches `precision`.
pub fn format_g(v: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if v == 0.0 {
        return "0".to_string();
    }
    // Round to `precision` significant digits first; the exponent of the
    // rounded value decides between the two notations, as in Go.
    let sci = format!("{:.*e}", precision - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{v:.decimals$}")).to_string()
    }
}

/// Drops trailing zeros after a decimal point, and the point itself if bare.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// go-units `HumanSizeWithPrecision`: decimal units, `precision` significant digits ("1.21MB").
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (size, unit) = size_and_unit(size, 1000.0, &DECIMAL_UNITS);
    format!("{}{unit}", format_g(size, precision))
}

/// go-units `HumanSize`: decimal units with four significant digits.
pub fn human_size(size: f64) -> String {
    human_size_with_precision(size, 4)
}

/// go-units `BytesSize`: binary units with four significant digits ("15.54GiB").
pub fn bytes_size(size: f64) -> String {
    let (size, unit) = size_and_unit(size, 1024.0, &BINARY_UNITS);
    format!("{}{unit}", format_g(size, 4))
}

/// go-units `HumanDuration` ("About an hour", "3 days").
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go's Duration.Round(time.Hour) rounds halfway values away from zero.
    let hours = (d.as_nanos() + 1_800_000_000_000) / 3_600_000_000_000;
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", seconds / 3600 / 24 / 365)
}

/// "2 hours ago" for a Unix timestamp, measured from `now` (both in seconds).
pub fn time_ago(created: i64, now: i64) -> String {
    let secs = now.saturating_sub(created).max(0) as u64;
    format!("{} ago", human_duration(Duration::from_secs(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size_with_precision(0.0, 3), "0B");
        assert_eq!(human_size_with_precision(999.0, 3), "999B");
        assert_eq!(human_size_with_precision(1000.0, 3), "1kB");
        assert_eq!(human_size_with_precision(1_210_000.0, 3), "1.21MB");
        assert_eq!(human_size_with_precision(4_261_234.0, 3), "4.26MB");
        assert_eq!(human_size_with_precision(77_800_000.0, 3), "77.8MB");
        assert_eq!(human_size_with_precision(123_456_789.0, 3), "123MB");
        assert_eq!(human_size_with_precision(2_000_000_000.0, 3), "2GB");
        // Go switches to exponent form once rounding reaches 10^precision.
        assert_eq!(human_size_with_precision(999_600.0, 3), "1e+03kB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(bytes_size(16_685_637_632.0), "15.54GiB");
        assert_eq!(bytes_size(1024.0), "1KiB");
    }

    #[test]
    fn format_g_small_and_large() {
        assert_eq!(format_g(0.5, 3), "0.5");
        assert_eq!(format_g(0.00001234, 3), "1.23e-05");
        assert_eq!(format_g(12.0, 3), "12");
        assert_eq!(format_g(1.005, 3), "1");
    }

    #[test]
    fn durations_match_go_units() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(500)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(60)), "About a minute");
        assert_eq!(human_duration(s(119)), "About a minute");
        assert_eq!(human_duration(s(120)), "2 minutes");
        assert_eq!(human_duration(s(59 * 60 + 59)), "59 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(90 * 60 - 1)), "About an hour");
        assert_eq!(human_duration(s(90 * 60)), "2 hours");
        assert_eq!(human_duration(s(47 * 3600)), "47 hours");
        assert_eq!(human_duration(s(48 * 3600)), "2 days");
        assert_eq!(human_duration(s(14 * 24 * 3600)), "2 weeks");
        assert_eq!(human_duration(s(60 * 24 * 3600)), "2 months");
        assert_eq!(human_duration(s(730 * 24 * 3600)), "2 years");
        assert_eq!(time_ago(1000, 1000 + 7200), "2 hours ago");
        assert_eq!(time_ago(2000, 1000), "Less than a second ago");
    }
}
