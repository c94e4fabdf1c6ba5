//! Wall-clock helpers: Xelion's `yyyy-MM-dd HH:mm:ss` UTC format without a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Splits a Unix time into (year, month, day, hour, minute, second), UTC.
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-from-civil inverse: exact for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `2017-03-09 11:08:51`: the Xelion date format, UTC.
pub fn xelion_date(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(unix_seconds(t));
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `2018-09-12-09:50:43-00000002`: the shape of Xelion flow ids.
pub fn flow_id(t: SystemTime, seq: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix_seconds(t));
    format!(
        "{y:04}-{mo:02}-{d:02}-{h:02}:{mi:02}:{s:02}-{:08}",
        seq % 100_000_000
    )
}

/// `t` moved back by `secs` (saturating at the epoch).
pub fn before(t: SystemTime, secs: u64) -> SystemTime {
    t.checked_sub(Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_secs(1_489_057_731);
        assert_eq!(xelion_date(t), "2017-03-09 11:08:51");
        assert_eq!(xelion_date(UNIX_EPOCH), "1970-01-01 00:00:00");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(xelion_date(leap), "2000-02-29 00:00:00");
        let flow = UNIX_EPOCH + Duration::from_secs(1_536_745_843);
        assert_eq!(flow_id(flow, 2), "2018-09-12-09:50:43-00000002");
    }
}
