//! Time as the APIs write it: Xelion's `yyyy-MM-dd HH:mm:ss` (UTC), the CTI document's
//! `createdAt` (`yyyy-MM-ddTHH:mm:ss.fffffffff`, UTC; fixed width, so the text sorts in time
//! order), unix seconds, and [`Timestamp`] (unix milliseconds, what the outbox stores).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time in milliseconds since the unix epoch: how the outbox stores, compares and
/// orders times (an integer column, cheap to index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Now.
    pub fn now() -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    /// The same instant as a `SystemTime` (times before the epoch become the epoch).
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }

    /// A `SystemTime`, to the millisecond.
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// `d` later (saturating).
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms(d)))
    }

    /// `d` earlier (saturating).
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(duration_ms(d)))
    }

    /// As a `createdAt` value, e.g. `2021-10-25T17:17:58.394000000`.
    pub fn as_created_at(self) -> String {
        created_at(
            self.0.div_euclid(1000),
            (self.0.rem_euclid(1000) as u32) * 1_000_000,
        )
    }

    /// Reads a `createdAt` value or Xelion's `yyyy-MM-dd HH:mm:ss` (UTC), with an optional
    /// fraction of up to nine digits and an optional trailing `Z`.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let secs = parse_xelion_date(text)?;
        let t = text.trim().trim_end_matches('Z');
        let millis = match t.split_once('.') {
            None => 0,
            Some((_, frac)) => {
                if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let padded = format!("{frac:0<3}");
                padded[..3].parse::<i64>().ok()?
            }
        };
        Some(Timestamp(secs.checked_mul(1000)?.checked_add(millis)?))
    }
}

/// A duration in whole milliseconds, saturating.
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Seconds since the unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Formats unix seconds as `yyyy-MM-dd HH:mm:ss` (UTC), Xelion's date format.
pub fn xelion_date(unix: i64) -> String {
    let (date, secs) = split(unix);
    format!(
        "{date} {:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Now as a `createdAt` value, e.g. `2021-10-25T17:17:58.394532900`.
pub fn created_at_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    created_at(since.as_secs() as i64, since.subsec_nanos())
}

/// Unix seconds and nanoseconds as a `createdAt` value.
pub fn created_at(unix: i64, nanos: u32) -> String {
    let (date, secs) = split(unix);
    format!(
        "{date}T{:02}:{:02}:{:02}.{nanos:09}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Reads Xelion's `yyyy-MM-dd HH:mm:ss` (UTC) as unix seconds; ISO-8601's `T` separator, a
/// trailing `Z` and fractional seconds are accepted too (the upstream format is only partly
/// documented).
pub fn parse_xelion_date(text: &str) -> Option<i64> {
    let t = text.trim().trim_end_matches('Z');
    let (date, time) = t.split_once([' ', 'T'])?;
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let time = time.split('.').next()?;
    let mut h = time.splitn(3, ':');
    let hh: i64 = h.next()?.parse().ok()?;
    let mm: i64 = h.next()?.parse().ok()?;
    let ss: i64 = h.next().unwrap_or("0").parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of `civil_from_days`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `yyyy-MM-dd` and the seconds into that day.
fn split(unix: i64) -> (String, i64) {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    (format!("{y:04}-{m:02}-{d:02}"), unix.rem_euclid(86_400))
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xelion_dates_read_back() {
        for unix in [0, 951_782_400, 1_489_057_731, 1_764_460_800, 4_102_444_799] {
            assert_eq!(parse_xelion_date(&xelion_date(unix)), Some(unix));
        }
        assert_eq!(
            parse_xelion_date("2017-03-09T11:08:51.123Z"),
            parse_xelion_date("2017-03-09 11:08:51")
        );
        assert_eq!(parse_xelion_date("2017-13-09 11:08:51"), None);
        assert_eq!(parse_xelion_date("soon"), None);
    }

    #[test]
    fn formats_like_xelion() {
        assert_eq!(xelion_date(0), "1970-01-01 00:00:00");
        assert_eq!(xelion_date(1_544_781_325), "2018-12-14 09:55:25");
        assert_eq!(xelion_date(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn timestamps_read_and_print_with_milliseconds() {
        let t = Timestamp(1_635_182_278_394);
        assert_eq!(t.as_created_at(), "2021-10-25T17:17:58.394000000");
        assert_eq!(Timestamp::parse(&t.as_created_at()), Some(t));
        assert_eq!(
            Timestamp::parse("2021-10-25T17:17:58.3945Z"),
            Some(Timestamp(1_635_182_278_394))
        );
        assert_eq!(
            Timestamp::parse("2021-10-25 17:17:58"),
            Some(Timestamp(1_635_182_278_000))
        );
        assert_eq!(Timestamp::parse("2021-10-25T17:17:58.x"), None);
        assert_eq!(Timestamp::parse("2021-10-25T17:17:58."), None);
        assert_eq!(Timestamp::parse("yesterday"), None);
        assert_eq!(
            t.plus(Duration::from_secs(2))
                .minus(Duration::from_millis(5))
                .0,
            t.0 + 1995
        );
        assert_eq!(
            Timestamp(0).as_created_at(),
            "1970-01-01T00:00:00.000000000"
        );
    }

    #[test]
    fn formats_created_at_like_the_cti_document() {
        assert_eq!(
            created_at(1_635_182_278, 394_532_900),
            "2021-10-25T17:17:58.394532900"
        );
        assert_eq!(created_at(0, 0), "1970-01-01T00:00:00.000000000");
        assert_eq!(created_at(951_782_400, 1), "2000-02-29T00:00:00.000000001");
        assert_eq!(
            created_at(1_704_067_199, 0),
            "2023-12-31T23:59:59.000000000"
        );
        assert_eq!(created_at_now().len(), 29);
    }
}
