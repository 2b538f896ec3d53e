//! A compile-time check of systemd calendar expressions (`OnCalendar=`).
//!
//! It accepts the forms `systemd.time(7)` documents: the shorthands
//! (`hourly`, `daily`, ...), and `[WEEKDAYS] [DATE] [TIME] [TIMEZONE]` where
//! each date and time component is `*`, a number, a list (`1,15`), a range
//! (`1..5`) or a repetition (`*/15`, `0..59/5`). It checks every component's
//! bounds so that `*-13-01` or `25:00` fail at compile time instead of when
//! the unit is loaded on the device. Time zones are accepted by shape only.

/// Why a calendar expression was rejected; shown after
/// "invalid calendar `...`: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("it is empty; write a shorthand like `daily` or a spec like `*-*-* 02:00:00`")]
    Empty,
    #[error("`{0}` is not a weekday; write `Mon`, `Tue`, ... or a range like `Mon..Fri`")]
    Weekday(String),
    #[error("`{0}` is not a date; write `YYYY-MM-DD`, `MM-DD` or `*-*-01`")]
    Date(String),
    #[error("`{0}` is not a time; write `HH:MM` or `HH:MM:SS`")]
    Time(String),
    #[error("{what} `{value}` is out of range {min}..{max}")]
    OutOfRange {
        what: &'static str,
        value: u32,
        min: u32,
        max: u32,
    },
    #[error("`{0}` is not a number, `*`, a list, a range or a repetition")]
    Component(String),
    #[error("unexpected `{0}`; the order is weekdays, date, time, time zone")]
    Unexpected(String),
}

const SHORTHANDS: &[&str] = &[
    "minutely",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "yearly",
    "annually",
    "quarterly",
    "semiannually",
];

const WEEKDAYS: &[(&str, &str)] = &[
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];

/// Checks a calendar expression as far as it can be checked without the
/// time zone database.
pub fn validate_calendar(spec: &str) -> Result<(), CalendarError> {
    let tokens: Vec<&str> = spec.split_whitespace().collect();
    if tokens.is_empty() {
        return Err(CalendarError::Empty);
    }
    let mut rest = &tokens[..];
    if SHORTHANDS.contains(&rest[0].to_ascii_lowercase().as_str()) {
        rest = &rest[1..];
        return check_timezone(rest);
    }
    if is_weekday_token(rest[0]) {
        check_weekdays(rest[0])?;
        rest = &rest[1..];
    }
    let mut seen_date_or_time = false;
    if let Some(tok) = rest.first() {
        if looks_like_date(tok) {
            check_date(tok)?;
            rest = &rest[1..];
            seen_date_or_time = true;
        }
    }
    if let Some(tok) = rest.first() {
        if tok.contains(':') {
            check_time(tok)?;
            rest = &rest[1..];
            seen_date_or_time = true;
        }
    }
    if !seen_date_or_time && rest.len() == tokens.len() {
        // Neither a weekday, a date nor a time came first.
        return Err(CalendarError::Unexpected(tokens[0].to_string()));
    }
    check_timezone(rest)
}

fn check_timezone(rest: &[&str]) -> Result<(), CalendarError> {
    match rest {
        [] => Ok(()),
        [tz] if tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '-'))
            && tz.starts_with(|c: char| c.is_ascii_alphabetic()) =>
        {
            Ok(())
        }
        [other, ..] => Err(CalendarError::Unexpected(other.to_string())),
    }
}

fn is_weekday_token(tok: &str) -> bool {
    tok.starts_with(|c: char| c.is_ascii_alphabetic()) && !tok.contains(':')
}

fn weekday_index(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    WEEKDAYS
        .iter()
        .position(|(short, long)| *short == lower || *long == lower)
}

fn check_weekdays(tok: &str) -> Result<(), CalendarError> {
    for item in tok.split(',') {
        let ok = match item.split_once("..") {
            Some((a, b)) => weekday_index(a).is_some() && weekday_index(b).is_some(),
            None => weekday_index(item).is_some(),
        };
        if !ok {
            return Err(CalendarError::Weekday(item.to_string()));
        }
    }
    Ok(())
}

fn looks_like_date(tok: &str) -> bool {
    !tok.contains(':') && (tok.contains('-') || tok.contains('~'))
}

fn check_date(tok: &str) -> Result<(), CalendarError> {
    // `~` counts days from the end of the month: `*-02~03`.
    let (main, from_end) = match tok.split_once('~') {
        Some((m, d)) => (m, Some(d)),
        None => (tok, None),
    };
    let parts: Vec<&str> = main.split('-').collect();
    let (year, month, day) = match (parts.as_slice(), from_end) {
        ([y, m, d], None) => (Some(*y), *m, Some(*d)),
        ([m, d], None) => (None, *m, Some(*d)),
        ([y, m], Some(_)) => (Some(*y), *m, None),
        ([m], Some(_)) => (None, *m, None),
        _ => return Err(CalendarError::Date(tok.to_string())),
    };
    if let Some(y) = year {
        check_component(y, "year", 1970, 2199)?;
    }
    check_component(month, "month", 1, 12)?;
    if let Some(d) = day {
        check_component(d, "day", 1, 31)?;
    }
    if let Some(d) = from_end {
        check_component(d, "day", 1, 31)?;
    }
    Ok(())
}

fn check_time(tok: &str) -> Result<(), CalendarError> {
    let parts: Vec<&str> = tok.split(':').collect();
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (*h, *m, None),
        [h, m, s] => (*h, *m, Some(*s)),
        _ => return Err(CalendarError::Time(tok.to_string())),
    };
    check_component(h, "hour", 0, 23)?;
    check_component(m, "minute", 0, 59)?;
    if let Some(s) = s {
        // Seconds may carry a fraction: `05:00:00.5`.
        let whole = s.split('.').next().unwrap_or(s);
        check_component(whole, "second", 0, 59)?;
    }
    Ok(())
}

fn check_component(
    text: &str,
    what: &'static str,
    min: u32,
    max: u32,
) -> Result<(), CalendarError> {
    if text.is_empty() {
        return Err(CalendarError::Component(text.to_string()));
    }
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            let n = number(step, item)?;
            if n == 0 {
                return Err(CalendarError::Component(item.to_string()));
            }
        }
        if range == "*" {
            continue;
        }
        let bounds: Vec<&str> = match range.split_once("..") {
            Some((a, b)) => vec![a, b],
            None => vec![range],
        };
        for b in bounds {
            let v = number(b, item)?;
            if v < min || v > max {
                return Err(CalendarError::OutOfRange {
                    what,
                    value: v,
                    min,
                    max,
                });
            }
        }
    }
    Ok(())
}

fn number(text: &str, item: &str) -> Result<u32, CalendarError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CalendarError::Component(item.to_string()));
    }
    text.parse()
        .map_err(|_| CalendarError::Component(item.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_systemd_forms() {
        for spec in [
            "daily",
            "hourly",
            "weekly UTC",
            "*-*-* 02:00:00",
            "Mon..Fri 09:00",
            "Sat,Sun *-*-* 10:30",
            "*-*-01 00:00:00",
            "2026-06-01 12:00:00 UTC",
            "*:0/15",
            "*-*-* *:00/5:00",
            "*-02~03",
            "12-24 18:00 Europe/Berlin",
            "Mon *-*-* 00:00:00.5",
        ] {
            assert_eq!(validate_calendar(spec), Ok(()), "{spec}");
        }
    }

    #[test]
    fn rejects_out_of_range_and_garbage() {
        assert!(matches!(
            validate_calendar("*-13-01"),
            Err(CalendarError::OutOfRange {
                what: "month",
                value: 13,
                ..
            })
        ));
        assert!(matches!(
            validate_calendar("25:00"),
            Err(CalendarError::OutOfRange { what: "hour", .. })
        ));
        assert_eq!(validate_calendar(""), Err(CalendarError::Empty));
        assert_eq!(
            validate_calendar("Funday 10:00"),
            Err(CalendarError::Weekday("Funday".into()))
        );
        assert!(validate_calendar("every day").is_err());
        assert!(validate_calendar("*:0/0").is_err());
        assert!(validate_calendar("10:00 extra words").is_err());
    }
}
