//! A compile-time check of systemd calendar expressions (`OnCalendar=`).
//!
//! It accepts the forms `systemd.time(7)` documents: the shorthands
//! (`hourly`, `daily`, ...), and `[WEEKDAYS] [DATE] [TIME] [TIMEZONE]` where
//! each date and time component is `*`, a number, a list (`1,15`), a range
//! (`1..5`) or a repetition (`*/15`, `0..59/5`). It checks every component's
//! bounds so that `*-13-01` or `25:00` fail at compile time instead of when
//! the unit is loaded on the device. Time zones are accepted by shape only.

mod cron;
pub use cron::CronError;

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
    #[error("`{0}` repeats from `*`, which systemd refuses; start from a value instead, as in `0/15` or `1/10`")]
    RepeatFromAny(String),
    #[error("unexpected `{0}`; the order is weekdays, date, time, time zone")]
    Unexpected(String),
}

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
/// time zone database: [`Calendar::parse`], keeping only the verdict.
pub fn validate_calendar(spec: &str) -> Result<(), CalendarError> {
    Calendar::parse(spec).map(|_| ())
}

/// What a shorthand stands for (`systemd.time(7)`).
fn shorthand(token: &str) -> Option<&'static str> {
    Some(match token.to_ascii_lowercase().as_str() {
        "minutely" => "*-*-* *:*:00",
        "hourly" => "*-*-* *:00:00",
        "daily" => "*-*-* 00:00:00",
        "weekly" => "Mon *-*-* 00:00:00",
        "monthly" => "*-*-01 00:00:00",
        "yearly" | "annually" => "*-01-01 00:00:00",
        "quarterly" => "*-01,04,07,10-01 00:00:00",
        "semiannually" => "*-01,07-01 00:00:00",
        _ => return None,
    })
}

fn parse_timezone(rest: &[&str]) -> Result<Option<String>, CalendarError> {
    match rest {
        [] => Ok(None),
        [tz] if tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '-'))
            && tz.starts_with(|c: char| c.is_ascii_alphabetic()) =>
        {
            Ok(Some(tz.to_string()))
        }
        [other, ..] => Err(CalendarError::Unexpected(other.to_string())),
    }
}

fn is_weekday_token(tok: &str) -> bool {
    tok.starts_with(|c: char| c.is_ascii_alphabetic()) && !tok.contains(':')
}

fn weekday_index(name: &str) -> Option<u32> {
    let lower = name.to_ascii_lowercase();
    WEEKDAYS
        .iter()
        .position(|(short, long)| *short == lower || *long == lower)
        .map(|i| i as u32)
}

/// `Mon`, `Mon,Wed`, `Mon..Fri` as a bit set (bit 0 = Monday). A range
/// runs forwards within one week, as systemd reads it: `Fri..Mon` is refused.
fn parse_weekdays(tok: &str) -> Result<u8, CalendarError> {
    let mut set = 0u8;
    for item in tok.split(',') {
        let bad = || CalendarError::Weekday(item.to_string());
        let (a, b) = match item.split_once("..") {
            Some((a, b)) => (
                weekday_index(a).ok_or_else(bad)?,
                weekday_index(b).ok_or_else(bad)?,
            ),
            None => {
                let d = weekday_index(item).ok_or_else(bad)?;
                (d, d)
            }
        };
        if a > b {
            return Err(bad());
        }
        for d in a..=b {
            set |= 1 << d;
        }
    }
    Ok(set)
}

fn number(text: &str, item: &str) -> Result<u32, CalendarError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CalendarError::Component(item.to_string()));
    }
    text.parse()
        .map_err(|_| CalendarError::Component(item.to_string()))
}

fn looks_like_date(tok: &str) -> bool {
    !tok.contains(':') && (tok.contains('-') || tok.contains('~'))
}

/// A wall-clock time without a time zone: what a calendar expression is
/// matched against (in local time, or UTC when the expression says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilTime {
    pub year: i32,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl CivilTime {
    /// The UTC civil time of a Unix time in seconds.
    pub fn from_unix_utc(secs: i64) -> CivilTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        CivilTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    /// The Unix time in seconds of this civil time read as UTC.
    pub fn to_unix_utc(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }

    /// 0 = Monday .. 6 = Sunday.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday (3).
        (days_from_civil(self.year, self.month, self.day) + 3).rem_euclid(7) as u32
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// One component of a calendar expression: `*`, or items that are each a
/// value or a range, optionally repeated (`0..59/5`, `*/15`, `8/2`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Component(Vec<Item>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    start: u32,
    end: u32,
    step: u32,
}

impl Component {
    fn any(min: u32, max: u32) -> Component {
        Component(vec![Item {
            start: min,
            end: max,
            step: 1,
        }])
    }

    fn exact(v: u32) -> Component {
        Component(vec![Item {
            start: v,
            end: v,
            step: 1,
        }])
    }

    /// Parses a component and checks every value against `min..=max`.
    fn parse(text: &str, what: &'static str, min: u32, max: u32) -> Result<Self, CalendarError> {
        if text.is_empty() {
            return Err(CalendarError::Component(text.to_string()));
        }
        let in_range = |v: u32| {
            if (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(CalendarError::OutOfRange {
                    what,
                    value: v,
                    min,
                    max,
                })
            }
        };
        let mut items = Vec::new();
        for item in text.split(',') {
            let bad = || CalendarError::Component(item.to_string());
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => match number(s, item)? {
                    0 => return Err(bad()),
                    n => (r, Some(n)),
                },
                None => (item, None),
            };
            let (start, end) = match range.split_once("..") {
                _ if range == "*" && step.is_some() => {
                    return Err(CalendarError::RepeatFromAny(item.to_string()))
                }
                _ if range == "*" => (min, max),
                Some((a, b)) => {
                    let (a, b) = (in_range(number(a, item)?)?, in_range(number(b, item)?)?);
                    if a > b {
                        return Err(bad());
                    }
                    (a, b)
                }
                // `8/2` repeats from 8 to the end; `8` is only 8.
                None => {
                    let v = in_range(number(range, item)?)?;
                    (v, if step.is_some() { max } else { v })
                }
            };
            items.push(Item {
                start,
                end,
                step: step.unwrap_or(1),
            });
        }
        Ok(Component(items))
    }

    fn matches(&self, v: u32) -> bool {
        self.0
            .iter()
            .any(|i| v >= i.start && v <= i.end && (v - i.start) % i.step == 0)
    }

    /// The smallest matching value in `from..=max`.
    fn next(&self, from: u32, max: u32) -> Option<u32> {
        (from..=max).find(|&v| self.matches(v))
    }
}

/// A parsed calendar expression (`OnCalendar=`), for computing when it
/// next elapses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Bit 0 = Monday .. bit 6 = Sunday.
    weekdays: u8,
    year: Component,
    month: Component,
    day: Component,
    /// `~`: days count back from the end of the month (`~1` is the last).
    from_end: bool,
    hour: Component,
    minute: Component,
    second: Component,
    timezone: Option<String>,
}

impl Calendar {
    /// Parses an expression, checking every component's bounds: the one
    /// parser behind [`validate_calendar`] and `cargo bgapp run`'s timers.
    pub fn parse(spec: &str) -> Result<Calendar, CalendarError> {
        let tokens: Vec<&str> = spec.split_whitespace().collect();
        let Some(first) = tokens.first() else {
            return Err(CalendarError::Empty);
        };
        if let Some(expanded) = shorthand(first) {
            let mut cal = Calendar::parse(expanded)?;
            cal.timezone = parse_timezone(&tokens[1..])?;
            return Ok(cal);
        }
        let mut cal = Calendar {
            weekdays: 0x7f,
            year: Component::any(1970, 2199),
            month: Component::any(1, 12),
            day: Component::any(1, 31),
            from_end: false,
            hour: Component::exact(0),
            minute: Component::exact(0),
            second: Component::exact(0),
            timezone: None,
        };
        let mut rest = &tokens[..];
        if is_weekday_token(first) {
            cal.weekdays = parse_weekdays(first)?;
            rest = &rest[1..];
        }
        if let Some(tok) = rest.first().filter(|t| looks_like_date(t)) {
            cal.parse_date(tok)?;
            rest = &rest[1..];
        }
        if let Some(tok) = rest.first().filter(|t| t.contains(':')) {
            cal.parse_time(tok)?;
            rest = &rest[1..];
        }
        if rest.len() == tokens.len() {
            // Neither a weekday, a date nor a time came first.
            return Err(CalendarError::Unexpected(first.to_string()));
        }
        cal.timezone = parse_timezone(rest)?;
        Ok(cal)
    }

    /// `YYYY-MM-DD`, `MM-DD`; `~` counts days from the end of the month
    /// (`*-02~03`).
    fn parse_date(&mut self, tok: &str) -> Result<(), CalendarError> {
        let (main, from_end) = match tok.split_once('~') {
            Some((m, d)) => (m, Some(d)),
            None => (tok, None),
        };
        let parts: Vec<&str> = main.split('-').collect();
        let (year, month, day) = match (parts.as_slice(), from_end) {
            ([y, m, d], None) => (Some(*y), *m, *d),
            ([m, d], None) => (None, *m, *d),
            ([y, m], Some(d)) => (Some(*y), *m, d),
            ([m], Some(d)) => (None, *m, d),
            _ => return Err(CalendarError::Date(tok.to_string())),
        };
        if let Some(y) = year {
            self.year = Component::parse(y, "year", 1970, 2199)?;
        }
        self.month = Component::parse(month, "month", 1, 12)?;
        self.day = Component::parse(day, "day", 1, 31)?;
        self.from_end = from_end.is_some();
        Ok(())
    }

    /// `HH:MM` or `HH:MM:SS`; seconds may carry a fraction (`00:00:00.5`),
    /// dropped here: timers have one-second precision.
    fn parse_time(&mut self, tok: &str) -> Result<(), CalendarError> {
        let parts: Vec<&str> = tok.split(':').collect();
        let (h, m, s) = match parts.as_slice() {
            [h, m] => (*h, *m, None),
            [h, m, s] => (*h, *m, Some(*s)),
            _ => return Err(CalendarError::Time(tok.to_string())),
        };
        self.hour = Component::parse(h, "hour", 0, 23)?;
        self.minute = Component::parse(m, "minute", 0, 59)?;
        if let Some(s) = s {
            let whole = s.split('.').next().unwrap_or(s);
            self.second = Component::parse(whole, "second", 0, 59)?;
        }
        Ok(())
    }

    /// The time zone the expression names (`UTC`, `Europe/Berlin`), if any;
    /// without one it is local time.
    pub fn timezone(&self) -> Option<&str> {
        self.timezone.as_deref()
    }

    fn day_matches(&self, t: CivilTime) -> bool {
        let dim = days_in_month(t.year, t.month);
        if t.day > dim {
            return false;
        }
        let day = if self.from_end {
            dim - t.day + 1
        } else {
            t.day
        };
        self.day.matches(day) && self.weekdays & (1 << t.weekday()) != 0
    }

    /// The first civil time strictly after `after` (to the second) that the
    /// expression matches, or `None` if there is none before 2200.
    pub fn next_after(&self, after: CivilTime) -> Option<CivilTime> {
        let mut t = CivilTime::from_unix_utc(after.to_unix_utc() + 1);
        let start_of_day = |t: &mut CivilTime| {
            t.hour = 0;
            t.minute = 0;
            t.second = 0;
        };
        let next_day = |t: &mut CivilTime| {
            *t =
                CivilTime::from_unix_utc(days_from_civil(t.year, t.month, t.day) * 86_400 + 86_400);
        };
        loop {
            if t.year > 2199 {
                return None;
            }
            if !self.year.matches(t.year.max(0) as u32) {
                let year = self.year.next(t.year.max(0) as u32 + 1, 2199)?;
                t = CivilTime {
                    year: year as i32,
                    month: 1,
                    day: 1,
                    hour: 0,
                    minute: 0,
                    second: 0,
                };
                continue;
            }
            if !self.month.matches(t.month) {
                match self.month.next(t.month + 1, 12) {
                    Some(m) => {
                        t.month = m;
                        t.day = 1;
                    }
                    None => {
                        t.year += 1;
                        t.month = 1;
                        t.day = 1;
                    }
                }
                start_of_day(&mut t);
                continue;
            }
            if !self.day_matches(t) {
                next_day(&mut t);
                continue;
            }
            if !self.hour.matches(t.hour) {
                match self.hour.next(t.hour + 1, 23) {
                    Some(h) => {
                        t.hour = h;
                        t.minute = 0;
                        t.second = 0;
                    }
                    None => next_day(&mut t),
                }
                continue;
            }
            if !self.minute.matches(t.minute) {
                match self.minute.next(t.minute + 1, 59) {
                    Some(m) => {
                        t.minute = m;
                        t.second = 0;
                    }
                    None => {
                        t = CivilTime::from_unix_utc(
                            t.to_unix_utc() + 3600 - i64::from(t.minute * 60 + t.second),
                        )
                    }
                }
                continue;
            }
            if !self.second.matches(t.second) {
                match self.second.next(t.second + 1, 59) {
                    Some(s) => t.second = s,
                    None => {
                        t = CivilTime::from_unix_utc(t.to_unix_utc() + 60 - i64::from(t.second))
                    }
                }
                continue;
            }
            return Some(t);
        }
    }
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
        assert_eq!(
            validate_calendar("*:*/5"),
            Err(CalendarError::RepeatFromAny("*/5".into()))
        );
        assert!(validate_calendar("Fri..Mon 10:00").is_err());
        assert!(validate_calendar("*-*-* 5..3:00").is_err());
        assert!(validate_calendar("10:00 extra words").is_err());
    }

    fn civil(text: &str) -> CivilTime {
        let (date, time) = text.split_once(' ').unwrap();
        let d: Vec<u32> = date.split('-').map(|x| x.parse().unwrap()).collect();
        let t: Vec<u32> = time.split(':').map(|x| x.parse().unwrap()).collect();
        CivilTime {
            year: d[0] as i32,
            month: d[1],
            day: d[2],
            hour: t[0],
            minute: t[1],
            second: t[2],
        }
    }

    fn next(spec: &str, after: &str) -> Option<CivilTime> {
        Calendar::parse(spec).unwrap().next_after(civil(after))
    }

    #[test]
    fn civil_time_round_trips_through_unix_time() {
        for secs in [0, 951_782_400, 1_700_000_000, 4_102_444_799, -86_400] {
            assert_eq!(CivilTime::from_unix_utc(secs).to_unix_utc(), secs);
        }
        assert_eq!(CivilTime::from_unix_utc(0), civil("1970-01-01 00:00:00"));
        // 2000-02-29, a leap day, was a Tuesday.
        assert_eq!(civil("2000-02-29 12:00:00").weekday(), 1);
        assert_eq!(civil("2000-02-29 00:00:00").to_unix_utc(), 951_782_400);
    }

    #[test]
    fn next_elapse_follows_systemd() {
        for (spec, after, expected) in [
            ("daily", "2024-03-10 12:00:00", "2024-03-11 00:00:00"),
            ("hourly", "2024-03-10 12:00:00", "2024-03-10 13:00:00"),
            ("minutely", "2024-12-31 23:59:30", "2025-01-01 00:00:00"),
            ("weekly", "2024-03-10 12:00:00", "2024-03-11 00:00:00"),
            ("monthly", "2024-01-31 00:00:00", "2024-02-01 00:00:00"),
            ("quarterly", "2024-05-01 00:00:00", "2024-07-01 00:00:00"),
            ("yearly UTC", "2024-05-01 00:00:00", "2025-01-01 00:00:00"),
            (
                "*-*-* 02:00:00",
                "2024-03-10 02:00:00",
                "2024-03-11 02:00:00",
            ),
            (
                "*-*-* 02:00:00",
                "2024-03-10 01:59:59",
                "2024-03-10 02:00:00",
            ),
            (
                "Mon..Fri 09:00",
                "2024-03-08 09:00:00",
                "2024-03-11 09:00:00",
            ),
            (
                "Sat,Sun *-*-* 10:30",
                "2024-03-11 00:00:00",
                "2024-03-16 10:30:00",
            ),
            ("*:0/15", "2024-03-10 12:07:00", "2024-03-10 12:15:00"),
            ("*:0/15", "2024-03-10 12:45:00", "2024-03-10 13:00:00"),
            (
                "*-*-* *:00/5:00",
                "2024-03-10 12:58:00",
                "2024-03-10 13:00:00",
            ),
            ("*-02~01", "2024-01-15 00:00:00", "2024-02-29 00:00:00"),
            ("*-02~03", "2023-01-15 00:00:00", "2023-02-26 00:00:00"),
            ("*-*-31", "2024-04-01 00:00:00", "2024-05-31 00:00:00"),
            ("*-02-29", "2025-01-01 00:00:00", "2028-02-29 00:00:00"),
            (
                "2026-06-01 12:00:00 UTC",
                "2024-01-01 00:00:00",
                "2026-06-01 12:00:00",
            ),
            (
                "12-24 18:00 Europe/Berlin",
                "2024-12-24 18:00:00",
                "2025-12-24 18:00:00",
            ),
            (
                "*-*-* 08..10:30",
                "2024-03-10 10:30:00",
                "2024-03-11 08:30:00",
            ),
            (
                "*-*-* *:*:10,40",
                "2024-03-10 10:30:15",
                "2024-03-10 10:30:40",
            ),
            (
                "Mon *-*-* 00:00:00.5",
                "2024-03-10 00:00:00",
                "2024-03-11 00:00:00",
            ),
        ] {
            assert_eq!(
                next(spec, after),
                Some(civil(expected)),
                "{spec} after {after}"
            );
        }
        assert_eq!(next("2026-06-01 12:00:00", "2026-06-01 12:00:00"), None);
        assert_eq!(
            Calendar::parse("weekly UTC").unwrap().timezone(),
            Some("UTC")
        );
        assert_eq!(Calendar::parse("daily").unwrap().timezone(), None);
        assert!(Calendar::parse("*-13-01").is_err());
    }
}
