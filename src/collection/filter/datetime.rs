//! Qdrant's datetime values: strings parsed to microseconds since the Unix epoch (UTC), as the
//! datetime index and datetime `range` conditions compare them.
//!
//! Accepted forms (payload values and range bounds alike): RFC 3339 (`2024-01-01T00:00:00Z`,
//! `…+02:00`, any number of fractional digits), `2024-01-01 00:00:00 UTC`, an offset without a
//! colon or without minutes (`+0200`, `+02`), and naive forms taken as UTC:
//! `2024-01-01T00:00:00[.f]`, `2024-01-01 00:00:00[.f]`, `2024-01-01 00:00`, `2024-01-01`.
//! Digits past the microsecond are dropped.

/// Microseconds since the epoch (UTC) of a datetime string, or `None` when it is not one of the
/// accepted forms.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let days = date(b.get(..10)?)?;
    let rest = &b[10..];
    let Some((&sep, rest)) = rest.split_first() else { return Some(days * DAY) };
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    let hour = two(rest.get(..2)?).filter(|h| *h < 24)?;
    if rest.get(2) != Some(&b':') {
        return None;
    }
    let minute = two(rest.get(3..5)?).filter(|m| *m < 60)?;
    let mut rest = &rest[5..];
    let hm = days * DAY + (hour * 60 + minute) * MINUTE;
    if rest.is_empty() {
        // `%Y-%m-%d %H:%M` is accepted with a space only.
        return (sep == b' ').then_some(hm);
    }
    if rest.first() != Some(&b':') {
        return None;
    }
    let second = two(rest.get(1..3)?).filter(|s| *s <= 60)?;
    rest = &rest[3..];
    let mut micros = 0i64;
    if rest.first() == Some(&b'.') {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in rest[1..=digits].iter().enumerate() {
            if i < 6 {
                micros = micros * 10 + i64::from(c - b'0');
            }
        }
        for _ in digits..6 {
            micros *= 10;
        }
        rest = &rest[1 + digits..];
    }
    let local = hm + second * SECOND + micros;
    Some(local - offset(rest)?)
}

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const DAY: i64 = 86_400 * SECOND;

/// The zone suffix as microseconds east of UTC: none (UTC), `Z`, ` UTC`, `±HH:MM`, `±HHMM`, `±HH`.
fn offset(b: &[u8]) -> Option<i64> {
    match b {
        [] | [b'Z' | b'z'] => Some(0),
        b" UTC" => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2] => (two(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (two(&[*h1, *h2])?, two(&[*m1, *m2])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let x = (h * 60 + m) * MINUTE;
            Some(if *sign == b'-' { -x } else { x })
        }
        _ => None,
    }
}

fn two(b: &[u8]) -> Option<i64> {
    match b {
        [a, c] if a.is_ascii_digit() && c.is_ascii_digit() => Some(i64::from((a - b'0') * 10 + (c - b'0'))),
        _ => None,
    }
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
fn date(b: &[u8]) -> Option<i64> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = two(&b[0..2])? * 100 + two(&b[2..4])?;
    let month = two(&b[5..7])?;
    let day = two(&b[8..10])?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month {
        return None;
    }
    // Days from civil (proleptic Gregorian), shifted so the year starts in March.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN1: i64 = 1_704_067_200 * SECOND;

    #[test]
    fn accepted_forms() {
        let cases = [
            ("2024-01-01T00:00:00Z", JAN1),
            ("2024-01-01t00:00:00z", JAN1),
            ("2024-01-01", JAN1),
            ("2024-01-01 00:30:00", JAN1 + 30 * MINUTE),
            ("2024-01-01 00:30", JAN1 + 30 * MINUTE),
            ("2024-01-01T01:00:00+02:00", JAN1 - HOUR),
            ("2024-01-01T01:00:00+0200", JAN1 - HOUR),
            ("2024-01-01T01:00:00+02", JAN1 - HOUR),
            ("2023-12-31T23:00:00-01:00", JAN1),
            ("2024-01-01 00:00:00 UTC", JAN1),
            ("2024-01-01T00:00:00.5Z", JAN1 + SECOND / 2),
            ("2024-01-01T00:00:00.123456789", JAN1 + 123_456),
            ("2024-01-01 00:00:01.000001+00:00", JAN1 + SECOND + 1),
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59Z", -SECOND),
            ("2000-02-29", 951_782_400 * SECOND),
        ];
        for (s, want) in cases {
            assert_eq!(parse_datetime(s), Some(want), "{s}");
        }
    }

    const HOUR: i64 = 60 * MINUTE;

    #[test]
    fn rejected_forms() {
        for s in [
            "",
            "2024",
            "2024-1-01",
            "2024-01-01T00:00",
            "2024-13-01",
            "2023-02-29",
            "2024-01-32",
            "2024-01-01T24:00:00",
            "2024-01-01T00:00:00.",
            "2024-01-01T00:00:00+2",
            "2024-01-01T00:00:00 UTC+1",
            "2024-01-01X00:00:00",
            "yesterday",
            "1704067200",
        ] {
            assert_eq!(parse_datetime(s), None, "{s}");
        }
    }
}
