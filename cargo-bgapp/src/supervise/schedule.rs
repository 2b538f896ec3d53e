//! A timer task's schedule, as its `.timer` unit says: `every` is
//! `OnBootSec=` + `OnUnitActiveSec=` (see `core/trigger.rs` for when it
//! elapses); `calendar` is `OnCalendar=`, computed here with
//! [`bgapp_manifest::Calendar`] in local time, or in UTC when the
//! expression ends in `UTC`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use bgapp_manifest::{Calendar, CivilTime};

pub enum Schedule {
    Every(Duration),
    Calendar(Calendar),
}

impl Schedule {
    pub fn new(schedule: &bgapp_manifest::Schedule) -> anyhow::Result<Schedule> {
        Ok(match schedule {
            bgapp_manifest::Schedule::Every(every) => Schedule::Every(*every),
            bgapp_manifest::Schedule::Calendar(cal) => Schedule::Calendar(
                Calendar::parse(cal).map_err(|e| anyhow!("invalid calendar `{cal}`: {e}"))?,
            ),
        })
    }

    /// A note for a calendar in a time zone this supervisor does not read.
    pub fn timezone_note(&self) -> Option<String> {
        match self {
            Schedule::Calendar(cal) => cal
                .timezone()
                .filter(|tz| !tz.eq_ignore_ascii_case("UTC"))
                .map(|tz| format!("time zone `{tz}` is read as local time by `cargo bgapp run`")),
            Schedule::Every(_) => None,
        }
    }
}

/// The calendar's first elapse strictly after `after` (to the second).
pub fn calendar_next(cal: &Calendar, after: SystemTime) -> Option<SystemTime> {
    let secs = i64::try_from(after.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    let utc = matches!(cal.timezone(), Some(tz) if tz.eq_ignore_ascii_case("UTC"));
    let next = if utc {
        cal.next_after(CivilTime::from_unix_utc(secs))?
            .to_unix_utc()
    } else {
        unix_of_local(cal.next_after(local_civil(secs)?)?)?
    };
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(next).ok()?))
}

fn local_civil(secs: i64) -> Option<CivilTime> {
    // SAFETY: localtime_r fills the zeroed struct from a valid time_t.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t: libc::time_t = secs as libc::time_t;
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some(CivilTime {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec.min(59) as u32,
    })
}

/// The Unix time of a local civil time; a time in a daylight-saving gap
/// moves forward, as `mktime` does.
fn unix_of_local(t: CivilTime) -> Option<i64> {
    // SAFETY: mktime reads and normalises the struct we own.
    let secs = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = t.year - 1900;
        tm.tm_mon = t.month as i32 - 1;
        tm.tm_mday = t.day as i32;
        tm.tm_hour = t.hour as i32;
        tm.tm_min = t.minute as i32;
        tm.tm_sec = t.second as i32;
        tm.tm_isdst = -1;
        libc::mktime(&mut tm)
    };
    (secs != -1).then_some(secs as i64)
}

/// `TRIGGER_TIMER_REALTIME_USEC` and `TRIGGER_TIMER_MONOTONIC_USEC` for an
/// elapse now, as systemd 251+ passes them.
pub fn trigger_usec() -> (u64, u64) {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    // SAFETY: clock_gettime fills the zeroed struct.
    let mono = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
    };
    (real, mono)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_elapses_within_its_period() {
        let now = SystemTime::now();
        let minutely = Calendar::parse("minutely").unwrap();
        let next = calendar_next(&minutely, now).unwrap();
        assert!(next > now && next <= now + Duration::from_secs(61));
        let utc = Calendar::parse("*-*-* *:*:00/10 UTC").unwrap();
        let next = calendar_next(&utc, now).unwrap();
        assert!(next > now && next <= now + Duration::from_secs(11));
        // 2024-01-01 00:00:25 UTC: the next multiple of 10 s is 5 s later.
        let at = UNIX_EPOCH + Duration::from_secs(1_704_067_225);
        assert_eq!(calendar_next(&utc, at), Some(at + Duration::from_secs(5)));
        let schedule = |cal: &str| Schedule::new(&bgapp_manifest::Schedule::Calendar(cal.into()));
        assert!(schedule("*-*-* *:*:00/10 UTC")
            .unwrap()
            .timezone_note()
            .is_none());
        assert!(schedule("daily Europe/Berlin")
            .unwrap()
            .timezone_note()
            .is_some());
        let err = schedule("not a calendar").err().unwrap().to_string();
        assert!(
            err.starts_with("invalid calendar `not a calendar`: "),
            "{err}"
        );
    }
}
