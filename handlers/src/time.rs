//! Calendar conversions without a date library: RFC 3339 timestamps (Shopify's `updated_at`,
//! HubSpot's ISO dates) and IMF-fixdate HTTP dates (`Retry-After`), both to Unix time, and back
//! from Unix time to the ISO dates downstream APIs expect. Only UTC offsets of the form `Z` or
//! `±hh:mm` are needed; the proleptic Gregorian arithmetic follows Howard Hinnant's
//! `days_from_civil` and `civil_from_days`.

/// Days since 1970-01-01 for a Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn unix_seconds(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && h < 24
        && m < 60
        && s < 61;
    valid.then(|| days_from_civil(year, month, day) * 86_400 + i64::from(h * 3600 + m * 60 + s))
}

/// Parse a decimal ASCII integer with no sign, spaces or leading `+`. Providers' timestamps
/// are plain digits; anything else is malformed.
pub fn parse_decimal(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `2024-01-31T12:34:56Z`, `2024-01-31T12:34:56.789-05:00` → Unix milliseconds.
pub fn rfc3339_to_unix_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_at_checked(10)?;
    let mut date_parts = date.split('-');
    let year = i64::from(digits(date_parts.next()?)?);
    let month = digits(date_parts.next()?)?;
    let day = digits(date_parts.next()?)?;
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, zone) = rest.split_at_checked(8)?;
    let mut clock_parts = clock.split(':');
    let (h, m, s) = (
        digits(clock_parts.next()?)?,
        digits(clock_parts.next()?)?,
        digits(clock_parts.next()?)?,
    );
    let (millis, zone) = match zone.strip_prefix('.') {
        Some(fraction) => {
            let end = fraction
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(fraction.len());
            let (frac, zone) = fraction.split_at(end);
            let ms_text: String = frac.chars().chain("000".chars()).take(3).collect();
            (i64::from(digits(&ms_text)?), zone)
        }
        None => (0, zone),
    };
    let offset_secs = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let (oh, om) = zone.get(1..)?.split_once(':')?;
            let (oh, om) = (digits(oh)?, digits(om)?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * i64::from(oh * 3600 + om * 60)
        }
    };
    let seconds = unix_seconds(year, month, day, h, m, s)? - offset_secs;
    seconds.checked_mul(1000)?.checked_add(millis)
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP requires senders to use.
pub fn http_date_to_unix(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day = digits(parts.next()?)?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = i64::from(digits(parts.next()?)?);
    let mut clock = parts.next()?.split(':');
    let (h, m, s) = (
        digits(clock.next()?)?,
        digits(clock.next()?)?,
        digits(clock.next()?)?,
    );
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    unix_seconds(year, month, day, h, m, s)
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix seconds of 0001-01-01 and 9999-12-31T23:59:59: the range four-digit years can show.
const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_300_799;

/// `YYYY-MM-DD` (UTC) of a Unix time in seconds.
pub fn iso_date(unix_secs: i64) -> Option<String> {
    if !(MIN_SECS..=MAX_SECS).contains(&unix_secs) {
        return None;
    }
    let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a Unix time in milliseconds.
pub fn iso_datetime_ms(unix_ms: i64) -> Option<String> {
    let secs = unix_ms.div_euclid(1000);
    let date = iso_date(secs)?;
    let of_day = secs.rem_euclid(86_400);
    Some(format!(
        "{date}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        unix_ms.rem_euclid(1000)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_parsing_is_strict() {
        assert_eq!(parse_decimal("1700000000"), Some(1_700_000_000));
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1.0",
            "1e9",
            "0x10",
            "1234567890123456789",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_to_unix_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_to_unix_ms("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            rfc3339_to_unix_ms("2023-11-14T17:13:20-05:00"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            rfc3339_to_unix_ms("2023-11-14T22:13:20.5Z"),
            Some(1_700_000_000_500)
        );
        assert_eq!(
            rfc3339_to_unix_ms("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        for bad in [
            "",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20+5",
            "é023-11-14T22:13:20Z",
        ] {
            assert_eq!(rfc3339_to_unix_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            http_date_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            http_date_to_unix("Tue, 14 Nov 2023 22:13:20 GMT"),
            Some(1_700_000_000)
        );
        assert_eq!(http_date_to_unix("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(http_date_to_unix("120"), None);
    }

    #[test]
    fn dates_are_utc_and_bounded() {
        assert_eq!(iso_date(0).as_deref(), Some("1970-01-01"));
        assert_eq!(iso_date(951_782_400).as_deref(), Some("2000-02-29"));
        assert_eq!(iso_date(-1).as_deref(), Some("1969-12-31"));
        assert_eq!(
            iso_datetime_ms(1_700_000_000_123).as_deref(),
            Some("2023-11-14T22:13:20.123Z")
        );
        assert_eq!(
            iso_datetime_ms(-1).as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
        for extreme in [i64::MIN, i64::MAX, MAX_SECS + 1, MIN_SECS - 1] {
            assert_eq!(iso_date(extreme), None);
        }
        for extreme in [i64::MIN, i64::MAX, (MAX_SECS + 1) * 1000] {
            assert_eq!(iso_datetime_ms(extreme), None);
        }
        assert_eq!(iso_date(MAX_SECS).as_deref(), Some("9999-12-31"));
        assert_eq!(iso_date(MIN_SECS).as_deref(), Some("0001-01-01"));
    }
}
