//! Days and daily times in an application's time zone: what "a day" means to an agency's reports.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// An IANA time zone by name (`America/Chicago`, `UTC`), from the tz database built into CIP.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("{name:?} is not a time zone: write an IANA name like America/Chicago or UTC")
    })
}

/// A day as `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Result<Date, String> {
    let day = text.trim();
    let well_formed = day.len() == 10 && day.as_bytes()[4] == b'-' && day.as_bytes()[7] == b'-';
    day.parse::<Date>()
        .ok()
        .filter(|_| well_formed)
        .ok_or_else(|| format!("{text:?} is not a day: write it as YYYY-MM-DD"))
}

/// A day, or a day and a time of day: `YYYY-MM-DD` or `YYYY-MM-DD HH:MM` (or with a `T`).
pub fn parse_day_at(text: &str) -> Result<(Date, Option<Time>), String> {
    let text = text.trim();
    match text.split_once([' ', 'T']) {
        None => Ok((parse_day(text)?, None)),
        Some((day, at)) => Ok((parse_day(day)?, Some(parse_daily_at(at.trim())?))),
    }
}

/// When `day`'s minute `at` begins in `zone`, in milliseconds (see [`day_start_ms`]).
pub fn minute_start_ms(zone: &TimeZone, day: Date, at: Time) -> i64 {
    day.to_datetime(at)
        .to_zoned(zone.clone())
        .map_or(i64::MIN, |z| z.timestamp().as_millisecond())
}

/// A time of day as `HH:MM` (24-hour clock).
pub fn parse_daily_at(text: &str) -> Result<Time, String> {
    let refused = || format!("{text:?} is not a time of day: write it as HH:MM, like 18:30");
    let (hour, minute) = text.split_once(':').ok_or_else(refused)?;
    let number = |s: &str| {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i8>().ok())
            .flatten()
    };
    let (hour, minute) = number(hour).zip(number(minute)).ok_or_else(refused)?;
    Time::new(hour, minute, 0, 0).map_err(|_| refused())
}

/// When `day` begins in `zone`, in milliseconds since the Unix epoch (the first instant of the
/// day where a clock change skips midnight).
pub fn day_start_ms(zone: &TimeZone, day: Date) -> i64 {
    day.to_zoned(zone.clone())
        .map_or(i64::MIN, |z| z.timestamp().as_millisecond())
}

/// The instants `[start, end)` of `day` in `zone`, in milliseconds.
pub fn day_bounds_ms(zone: &TimeZone, day: Date) -> (i64, i64) {
    let next = day.checked_add(1.day()).unwrap_or(day);
    (day_start_ms(zone, day), day_start_ms(zone, next))
}

/// A moment as a person in `zone` reads it: `2027-01-15 02:00 CST`.
pub fn local_minute(zone: &TimeZone, ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(
        |_| ms.to_string(),
        |t| {
            t.to_zoned(zone.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string()
        },
    )
}

/// The day `ms` falls on in `zone`.
pub fn day_of(zone: &TimeZone, ms: i64) -> Date {
    Timestamp::from_millisecond(ms).map_or(Date::MIN, |t| t.to_zoned(zone.clone()).date())
}

/// The latest instant at or before `now_ms` when the clock in `zone` read `at`; a time a clock
/// change skips counts as the instant just after it.
pub fn last_due_ms(zone: &TimeZone, at: Time, now_ms: i64) -> i64 {
    let today = day_of(zone, now_ms);
    let due_on = |day: Date| {
        day.to_datetime(at)
            .to_zoned(zone.clone())
            .map_or(i64::MIN, |z| z.timestamp().as_millisecond())
    };
    let due = due_on(today);
    if due <= now_ms {
        due
    } else {
        today.checked_sub(1.day()).map_or(i64::MIN, due_on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_day_is_the_agency_s_local_day() {
        let chicago = zone("America/Chicago").unwrap();
        let day = parse_day("2026-11-29").unwrap();
        assert_eq!(
            day_bounds_ms(&chicago, day),
            (ms("2026-11-29T06:00:00Z"), ms("2026-11-30T06:00:00Z"))
        );
        // The day clocks go back is 25 hours long.
        let (start, end) = day_bounds_ms(&chicago, parse_day("2026-11-01").unwrap());
        assert_eq!(end - start, 25 * 3_600_000);
        assert_eq!(day_of(&chicago, ms("2026-11-30T05:59:59Z")), day);
    }

    #[test]
    fn the_daily_run_is_due_at_its_local_time() {
        let chicago = zone("America/Chicago").unwrap();
        let at = parse_daily_at("18:30").unwrap();
        assert_eq!(
            last_due_ms(&chicago, at, ms("2026-11-30T00:30:00Z")),
            ms("2026-11-30T00:30:00Z")
        );
        assert_eq!(
            last_due_ms(&chicago, at, ms("2026-11-30T00:29:59Z")),
            ms("2026-11-29T00:30:00Z")
        );
        // 02:30 does not exist on 2026-03-08 in Chicago: the run is due just after the gap.
        let skipped = parse_daily_at("02:30").unwrap();
        assert_eq!(
            last_due_ms(&chicago, skipped, ms("2026-03-08T12:00:00Z")),
            ms("2026-03-08T08:30:00Z")
        );
    }

    #[test]
    fn words_that_are_not_days_zones_or_times_are_refused_by_name() {
        for text in ["2026-13-01", "2026-1-1", "29/11/2026", ""] {
            assert!(
                parse_day(text).unwrap_err().contains("YYYY-MM-DD"),
                "{text}"
            );
        }
        for text in ["24:00", "6pm", "18:3", "18-30"] {
            assert!(
                parse_daily_at(text).unwrap_err().contains("HH:MM"),
                "{text}"
            );
        }
        assert!(zone("Mars/Olympus").unwrap_err().contains("IANA"));
        assert!(zone("UTC").is_ok());
    }
    #[test]
    fn a_bound_is_a_day_or_a_minute_of_it_in_the_agency_s_zone() {
        let chicago = zone("America/Chicago").unwrap();
        let (day, at) = parse_day_at("2026-11-29 09:30").unwrap();
        assert_eq!(
            minute_start_ms(&chicago, day, at.unwrap()),
            ms("2026-11-29T15:30:00Z")
        );
        assert_eq!(parse_day_at("2026-11-29T09:30").unwrap(), (day, at));
        assert_eq!(parse_day_at(" 2026-11-29 ").unwrap(), (day, None));
        assert!(
            parse_day_at("2026-11-29 9h30")
                .unwrap_err()
                .contains("HH:MM")
        );
        assert!(
            parse_day_at("29/11/2026")
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
    }
}
