//! Durations as task attributes spell them: `"500ms"`, `"5s"`, `"15m"`,
//! `"1h30m"`, `"2d"`. Parsed at compile time by the macro and stored as
//! milliseconds in the manifest.

use std::fmt;
use std::time::Duration;

/// Why a duration string was rejected. The message is meant to be shown
/// after "invalid duration `...`: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("it is empty; write a number and a unit, like `5s`")]
    Empty,
    #[error("`{0}` has no unit; write `{0}s`, `{0}m` or `{0}ms`")]
    MissingUnit(String),
    #[error("expected a number before `{0}`")]
    MissingNumber(String),
    #[error("unknown unit `{0}`; expected one of `ms`, `s`, `m`, `h`, `d`")]
    UnknownUnit(String),
    #[error("the unit `{0}` appears twice")]
    RepeatedUnit(String),
    #[error("units must go from largest to smallest, as in `1h30m`")]
    UnitOrder,
    #[error("it is too large")]
    Overflow,
    #[error("`{text}` has a fraction, which durations do not take; write {suggestion}")]
    Fraction { text: String, suggestion: String },
}

const UNITS: &[(&str, u64)] = &[
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a duration such as `"1h30m"` into milliseconds' precision.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last_rank: Option<usize> = None;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let num_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let number = &s[num_start..i];
        if bytes.get(i) == Some(&b'.') {
            return Err(fraction(&s[num_start..]));
        }
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[unit_start..i];
        if number.is_empty() {
            let rest = s[unit_start..].split(' ').next().unwrap_or("");
            if rest.is_empty() {
                break;
            }
            return Err(DurationError::MissingNumber(rest.to_string()));
        }
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(number.to_string()));
        }
        let Some(rank) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(DurationError::UnknownUnit(unit.to_string()));
        };
        match last_rank {
            Some(prev) if prev == rank => {
                return Err(DurationError::RepeatedUnit(unit.to_string()))
            }
            Some(prev) if prev > rank => return Err(DurationError::UnitOrder),
            _ => {}
        }
        last_rank = Some(rank);
        let value: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
        let ms = value
            .checked_mul(UNITS[rank].1)
            .ok_or(DurationError::Overflow)?;
        total = total.checked_add(ms).ok_or(DurationError::Overflow)?;
    }
    Ok(Duration::from_millis(total))
}

/// The error for `1.5s`, suggesting the same time in a smaller unit
/// (`1500ms`) when there is one.
fn fraction(rest: &str) -> DurationError {
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, after) = rest.split_at(end);
    let unit_len = after
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(after.len());
    let unit = &after[..unit_len];
    let text = format!("{number}{unit}");
    let exact = || -> Option<String> {
        let (whole, frac) = number.split_once('.')?;
        let per = UNITS.iter().find(|(u, _)| *u == unit)?.1;
        let scale = 10u64.checked_pow(u32::try_from(frac.len()).ok()?)?;
        let digits: u64 = format!("{whole}{frac}").parse().ok()?;
        let ms = digits.checked_mul(per)?;
        if ms % scale != 0 {
            return None;
        }
        let ms = ms / scale;
        // The largest unit that holds it whole: `90m`, not `5400s`.
        let (u, p) = UNITS.iter().find(|(_, p)| ms % p == 0)?;
        Some(format!("`{}{u}`", ms / p))
    };
    DurationError::Fraction {
        suggestion: exact()
            .unwrap_or_else(|| "a whole number of a smaller unit, like `1500ms`".into()),
        text,
    }
}

/// Formats a duration the way an attribute would spell it (`"1h30m"`).
pub fn format_duration(d: Duration) -> String {
    DisplayDuration(d).to_string()
}

/// Formats a duration in systemd's time-span syntax (`"1h 30min"`), which
/// unit files accept for `TimeoutStopSec=`, `OnUnitActiveSec=` and friends.
pub fn format_systemd(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0".to_string();
    }
    let mut parts = Vec::new();
    for (unit, per) in [
        ("d", 86_400_000u64),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= per {
            parts.push(format!("{}{}", ms / per, unit));
            ms %= per;
        }
    }
    parts.join(" ")
}

struct DisplayDuration(Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, per) in UNITS {
            if ms >= *per {
                write!(f, "{}{}", ms / per, unit)?;
                ms %= per;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> u128 {
        parse_duration(text).unwrap().as_millis()
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("5s"), 5_000);
        assert_eq!(ms("15m"), 900_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("1h 30m"), 5_400_000);
        assert_eq!(ms("2d"), 172_800_000);
        assert_eq!(ms("1m30s250ms"), 90_250);
    }

    #[test]
    fn rejects_malformed_durations() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("5"),
            Err(DurationError::MissingUnit("5".into()))
        );
        assert_eq!(
            parse_duration("5x"),
            Err(DurationError::UnknownUnit("x".into()))
        );
        assert_eq!(
            parse_duration("s"),
            Err(DurationError::MissingNumber("s".into()))
        );
        assert_eq!(
            parse_duration("5s5s"),
            Err(DurationError::RepeatedUnit("s".into()))
        );
        assert_eq!(parse_duration("30m1h"), Err(DurationError::UnitOrder));
        assert_eq!(
            parse_duration("5min"),
            Err(DurationError::UnknownUnit("min".into()))
        );
        assert_eq!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn fractions_get_the_same_time_in_a_smaller_unit() {
        let suggest = |text: &str| match parse_duration(text) {
            Err(DurationError::Fraction { suggestion, .. }) => suggestion,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(suggest("1.5s"), "`1500ms`");
        assert_eq!(suggest("1.5h"), "`90m`");
        assert_eq!(suggest("0.25s"), "`250ms`");
        assert_eq!(suggest("2.0m"), "`2m`");
        assert_eq!(
            suggest("1.0005s"),
            "a whole number of a smaller unit, like `1500ms`"
        );
        assert_eq!(
            parse_duration("1h 1.5m").unwrap_err().to_string(),
            "`1.5m` has a fraction, which durations do not take; write `90s`"
        );
    }

    #[test]
    fn formats_round_trip() {
        for text in ["500ms", "5s", "15m", "1h30m", "2d", "1m30s250ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
        assert_eq!(format_systemd(Duration::from_millis(5_400_000)), "1h 30min");
        assert_eq!(format_systemd(Duration::from_millis(1_500)), "1s 500ms");
    }
}
