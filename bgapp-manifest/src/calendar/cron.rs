//! A calendar expression as a cron schedule (Kubernetes CronJob's
//! `schedule`, five fields: minute hour day-of-month month day-of-week),
//! or the part cron cannot say.
//!
//! Cron fires on whole minutes, has no year, no "days from the end of
//! the month", and when both the day of the month and the weekday are
//! restricted it fires on either (crontab(5)), where systemd requires
//! both: each of these is refused, naming the part.

use super::{Calendar, Component};

/// What of a calendar expression cron cannot say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("the seconds: cron fires on whole minutes")]
    Seconds,
    #[error("the year: cron has no year field")]
    Year,
    #[error("`~` (days counted from the end of the month): cron has no such field")]
    FromEnd,
    #[error("a weekday and a day of the month together: cron fires on either, systemd on both")]
    DayAndWeekday,
}

impl Component {
    /// `*`, or the items as cron writes them (`5`, `1-5`, `0-59/15`).
    fn cron(&self, min: u32, max: u32) -> String {
        if *self == Component::any(min, max) {
            return "*".to_string();
        }
        let items: Vec<String> = self
            .0
            .iter()
            .map(|i| match (i.start == i.end, i.step) {
                (true, _) => i.start.to_string(),
                (false, 1) => format!("{}-{}", i.start, i.end),
                (false, step) => format!("{}-{}/{step}", i.start, i.end),
            })
            .collect();
        items.join(",")
    }
}

impl Calendar {
    /// The five cron fields; the time zone is [`Calendar::timezone`].
    pub fn to_cron(&self) -> Result<String, CronError> {
        if self.second != Component::exact(0) {
            return Err(CronError::Seconds);
        }
        if self.year != Component::any(1970, 2199) {
            return Err(CronError::Year);
        }
        if self.from_end {
            return Err(CronError::FromEnd);
        }
        let day = self.day.cron(1, 31);
        let weekdays = if self.weekdays == 0x7f {
            "*".to_string()
        } else {
            // systemd: bit 0 = Monday; cron: 0 = Sunday.
            let days: Vec<String> = (0..7)
                .filter(|b| self.weekdays & (1 << b) != 0)
                .map(|b| ((b + 1) % 7).to_string())
                .collect();
            days.join(",")
        };
        if day != "*" && weekdays != "*" {
            return Err(CronError::DayAndWeekday);
        }
        Ok(format!(
            "{} {} {day} {} {weekdays}",
            self.minute.cron(0, 59),
            self.hour.cron(0, 23),
            self.month.cron(1, 12),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(spec: &str) -> Result<String, CronError> {
        Calendar::parse(spec).unwrap().to_cron()
    }

    #[test]
    fn what_cron_can_say() {
        assert_eq!(cron("daily").unwrap(), "0 0 * * *");
        assert_eq!(cron("hourly").unwrap(), "0 * * * *");
        assert_eq!(cron("weekly").unwrap(), "0 0 * * 1");
        assert_eq!(cron("monthly").unwrap(), "0 0 1 * *");
        assert_eq!(cron("Mon..Fri 09:00").unwrap(), "0 9 * * 1,2,3,4,5");
        assert_eq!(cron("Sat,Sun 10:30").unwrap(), "30 10 * * 6,0");
        assert_eq!(cron("*-*-* *:0/15").unwrap(), "0-59/15 * * * *");
        assert_eq!(cron("*-01,07-01 06:00 UTC").unwrap(), "0 6 1 1,7 *");
        assert_eq!(
            Calendar::parse("daily Europe/Berlin").unwrap().timezone(),
            Some("Europe/Berlin")
        );
    }

    #[test]
    fn what_it_cannot() {
        assert_eq!(cron("*-*-* 00:00:30"), Err(CronError::Seconds));
        assert_eq!(cron("2030-*-* 00:00"), Err(CronError::Year));
        assert_eq!(cron("*-*~01 00:00"), Err(CronError::FromEnd));
        assert_eq!(cron("Mon *-*-01 00:00"), Err(CronError::DayAndWeekday));
        assert_eq!(cron("minutely"), Ok("* * * * *".into()));
    }
}
