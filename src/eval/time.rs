//! RFC 3339 times as the `before`/`after` operators read context values,
//! parsed without allocating.
//!
//! `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with `t`, `z` or a space also
//! accepted as separators (as RFC 3339 allows), up to nine fraction digits,
//! and a leap second `:60` read as `:59` (as `jiff` does). Operands in flag
//! files are parsed by `jiff` when a snapshot is compiled; the tests check
//! that both agree.

/// Nanoseconds since the Unix epoch.
pub(crate) type Nanos = i128;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

fn digits(bytes: &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for &byte in bytes {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(byte - b'0');
    }
    Some(value)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses an RFC 3339 time into nanoseconds since the Unix epoch.
pub(crate) fn parse_rfc3339(text: &str) -> Option<Nanos> {
    let bytes = text.trim().as_bytes();
    let (date, rest) = bytes.split_at_checked(10)?;
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *date else {
        return None;
    };
    let year = i64::from(digits(&[y0, y1, y2, y3])?);
    let month = digits(&[m0, m1])?;
    let day = digits(&[d0, d1])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let (time, rest) = rest.split_at_checked(9)?;
    let [b'T' | b't' | b' ', h0, h1, b':', n0, n1, b':', s0, s1] = *time else {
        return None;
    };
    let hour = digits(&[h0, h1])?;
    let minute = digits(&[n0, n1])?;
    let second = digits(&[s0, s1])?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let second = second.min(59);
    let mut rest = rest;
    let mut nanos: i128 = 0;
    if let Some((b'.', fraction)) = rest.split_first() {
        let count = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if count == 0 || count > 9 {
            return None;
        }
        let (fraction, after) = fraction.split_at_checked(count)?;
        let mut scaled = i128::from(digits(fraction)?);
        for _ in count..9 {
            scaled *= 10;
        }
        nanos = scaled;
        rest = after;
    }
    let offset_seconds: i64 = match *rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), o0, o1, b':', p0, p1] => {
            let hours = digits(&[o0, o1])?;
            let minutes = digits(&[p0, p1])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = i64::from(hours * 3600 + minutes * 60);
            if sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset_seconds;
    Some(i128::from(seconds) * NANOS_PER_SECOND + nanos)
}

/// Nanoseconds since the epoch of a number of seconds (`None` for NaN or
/// values too large to be a time).
pub(crate) fn from_unix_seconds(seconds: f64) -> Option<Nanos> {
    // jiff's range is about ±8000 years; anything beyond is not a time.
    if !seconds.is_finite() || seconds.abs() > 400_000_000_000.0 {
        return None;
    }
    // Exact: range checked above.
    let nanos = (seconds * 1e9).round() as i128;
    Some(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jiff(text: &str) -> Option<Nanos> {
        // As validation reads operands: trimmed.
        text.trim()
            .parse::<jiff::Timestamp>()
            .ok()
            .map(jiff::Timestamp::as_nanosecond)
    }

    #[test]
    fn agrees_with_jiff() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2026-12-01T00:00:00Z",
            "2026-12-01t00:00:00z",
            "2026-12-01 10:20:30+02:00",
            "2024-02-29T23:59:59.999999999-08:30",
            "2000-02-29T12:00:00.5Z",
            "1969-12-31T23:59:59.000000001Z",
            "0001-01-01T00:00:00Z",
            "9999-12-30T21:59:59Z",
            "2016-12-31T23:59:60Z",
            " 2026-01-01T00:00:00Z ",
        ] {
            assert_eq!(parse_rfc3339(text), jiff(text), "{text}");
            assert!(parse_rfc3339(text).is_some(), "{text}");
        }
    }

    #[test]
    fn beyond_jiff_range() {
        // jiff's timestamps end on 9999-12-30; context values may go further.
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59Z"),
            Some(253_402_300_799_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("0000-01-01T00:00:00Z"),
            Some(-62_167_219_200_000_000_000)
        );
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for text in [
            "",
            "2026-12-01",
            "2026-12-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T00:60:00Z",
            "2026-12-01T00:00:61Z",
            "2026-12-01T00:00:00.Z",
            "2026-12-01T00:00:00.1234567890Z",
            "2026-12-01T00:00:00+2400",
            "2026-12-01T00:00:00+24:00",
            "2026-12-01X00:00:00Z",
            "2026-12-01T00:00:00Zjunk",
            "२०२६-12-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text}");
        }
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(from_unix_seconds(1.5), Some(1_500_000_000));
        assert_eq!(from_unix_seconds(f64::NAN), None);
        assert_eq!(from_unix_seconds(1e300), None);
    }

    proptest::proptest! {
        #[test]
        fn generated_times_agree_with_jiff(
            year in 1i64..=9998,
            month in 1u32..=12,
            day in 1u32..=31,
            hour in 0u32..=23,
            minute in 0u32..=59,
            second in 0u32..=59,
            fraction in proptest::option::of("[0-9]{1,9}"),
            separator in proptest::sample::select(vec!['T', 't', ' ']),
            offset in proptest::option::of((proptest::bool::ANY, 0u32..=23, 0u32..=59)),
        ) {
            let fraction = fraction.map(|digits| format!(".{digits}")).unwrap_or_default();
            let offset = match offset {
                None => "Z".to_owned(),
                Some((negative, hours, minutes)) => {
                    format!("{}{hours:02}:{minutes:02}", if negative { '-' } else { '+' })
                }
            };
            let text = format!("{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{offset}");
            let valid_day = day <= days_in_month(year, month);
            proptest::prop_assert_eq!(parse_rfc3339(&text).is_some(), valid_day, "{}", text);
            if valid_day {
                proptest::prop_assert_eq!(parse_rfc3339(&text), jiff(&text), "{}", text);
            }
        }

        #[test]
        fn whatever_parses_agrees_with_jiff(text in "[0-9T:.+Zz -]{10,35}") {
            if let Some(nanos) = parse_rfc3339(&text) {
                proptest::prop_assert_eq!(Some(nanos), jiff(&text), "{}", text);
            }
        }
    }
}
