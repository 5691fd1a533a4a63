//! Go `time.Duration` in its two forms: nanosecond integers (manifest.json) and strings such as
//! `1s`, `1m30s` or `10m0s` (the CRD, as Go's `Duration.String()` writes them).

/// Nanoseconds per unit, as Go's `time.ParseDuration` knows them.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration string into nanoseconds. Negative durations are rejected: no check
/// interval can be negative.
pub fn parse(input: &str) -> Result<u64, String> {
    let s = input.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(format!("duration {input:?} is negative"));
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {input:?} is missing a unit (ns, us, ms, s, m, h)"))?;
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(format!("duration {input:?} is malformed"));
        }
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| format!("duration {input:?} has unknown unit {unit:?} (ns, us, ms, s, m, h)"))?;
        rest = &rest[unit_len..];
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 =
            if whole.is_empty() { 0 } else { whole.parse().map_err(|_| format!("duration {input:?} is too large"))? };
        let mut value = whole.checked_mul(scale).ok_or_else(|| format!("duration {input:?} is too large"))?;
        let mut place = scale;
        for digit in frac.bytes() {
            place /= 10;
            value += u128::from(digit - b'0') * place;
        }
        total = total.checked_add(value).ok_or_else(|| format!("duration {input:?} is too large"))?;
    }
    u64::try_from(total).map_err(|_| format!("duration {input:?} is too large"))
}

/// Formats nanoseconds the way Go's `Duration.String()` does (`1s`, `10m0s`, `1h0m0s`,
/// `1.5s`, `500ms`).
pub fn format(nanos: u64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = match nanos {
            n if n < 1_000 => ("ns", 1),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `value / scale` with the fraction's trailing zeros dropped, as Go prints it.
fn fraction(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let rem = value % scale;
    if rem == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Whole seconds for a Kubernetes probe field (an int32): rounded up, never below `min`;
/// `None` when they do not fit.
pub fn ceil_seconds(nanos: u64, min: i32) -> Option<i32> {
    let secs = nanos.div_ceil(1_000_000_000);
    i32::try_from(secs).ok().map(|s| s.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(format(1_000_000_000), "1s");
        assert_eq!(format(600_000_000_000), "10m0s");
        assert_eq!(format(3_600_000_000_000), "1h0m0s");
        assert_eq!(format(1_500_000_000), "1.5s");
        assert_eq!(format(500_000_000), "500ms");
        assert_eq!(format(90_000_000_000), "1m30s");
        assert_eq!(format(0), "0s");
        assert_eq!(format(1_500), "1.5µs");
        assert_eq!((format(999), format(1_000), format(1_000_000)), ("999ns".into(), "1µs".into(), "1ms".into()));
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("1s"), Ok(1_000_000_000));
        assert_eq!(parse("10m0s"), Ok(600_000_000_000));
        assert_eq!(parse("1h2m3s"), Ok(3_723_000_000_000));
        assert_eq!(parse("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse("250ms"), Ok(250_000_000));
        assert_eq!(parse("0"), Ok(0));
        for bad in ["", "5", "1x", "-1s", "1..2s", "s", "99999999999999h"] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn round_trips() {
        for n in [1_000_000_000u64, 600_000_000_000, 1_500_000_000, 2_000_000, 7_384_000_000_000] {
            assert_eq!(parse(&format(n)), Ok(n));
        }
    }

    #[test]
    fn probe_seconds_round_up() {
        assert_eq!(ceil_seconds(1_500_000_000, 1), Some(2));
        assert_eq!(ceil_seconds(0, 1), Some(1));
        assert_eq!(ceil_seconds(0, 0), Some(0));
        assert_eq!(ceil_seconds(600_000_000_000, 1), Some(600));
        let max = u64::try_from(i32::MAX).unwrap() * 1_000_000_000;
        assert_eq!(ceil_seconds(max, 1), Some(i32::MAX));
        assert_eq!(ceil_seconds(max + 1, 1), None, "a nanosecond more is a second more than int32 holds");
    }
}
