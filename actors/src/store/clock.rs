//! Timestamps as stored: `yyyy-MM-ddTHH:mm:ss.fffffffff` in UTC, the format of `createdAt`
//! in the CTI API document (`2021-10-25T17:17:58.394532900`). Fixed width, so the text
//! sorts in time order.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, formatted.
pub(crate) fn now_text() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_unix(since.as_secs(), since.subsec_nanos())
}

/// Unix seconds and nanoseconds, formatted.
pub(crate) fn format_unix(secs: u64, nanos: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_cti_document() {
        // 2021-10-25T17:17:58.394532900Z
        assert_eq!(
            format_unix(1_635_182_278, 394_532_900),
            "2021-10-25T17:17:58.394532900"
        );
        assert_eq!(format_unix(0, 0), "1970-01-01T00:00:00.000000000");
        // a leap day and the end of a year
        assert_eq!(format_unix(951_782_400, 1), "2000-02-29T00:00:00.000000001");
        assert_eq!(
            format_unix(1_704_067_199, 0),
            "2023-12-31T23:59:59.000000000"
        );
    }

    #[test]
    fn now_has_the_right_shape() {
        let now = now_text();
        assert_eq!(now.len(), "2021-10-25T17:17:58.394532900".len());
        assert_eq!(&now[10..11], "T");
        assert!(now.as_str() > "2024");
    }
}
