//! Points in time as release listings give them: RFC 3339 (`2026-11-30T10:00:00Z`, GitHub and
//! Cloud Storage) and HTTP dates (`Mon, 30 Nov 2026 10:00:00 GMT`, `Last-Modified`), as seconds
//! since the Unix epoch; and how to show them and an age to a person.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day number from [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn number(text: &str, digits: usize) -> Option<i64> {
    (text.len() == digits && text.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn seconds_of(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..=60).contains(&second);
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// `2026-11-30T10:00:00Z`, with optional fractional seconds and a `Z` or `±HH:MM` offset.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut date_parts = date.split('-');
    let year = number(date_parts.next()?, 4)?;
    let month = number(date_parts.next()?, 2)?;
    let day = number(date_parts.next()?, 2)?;
    if date_parts.next().is_some() || time.len() < 8 {
        return None;
    }
    let (clock, zone) = time.split_at(8);
    let mut clock_parts = clock.split(':');
    let hour = number(clock_parts.next()?, 2)?;
    let minute = number(clock_parts.next()?, 2)?;
    let second = number(clock_parts.next()?, 2)?;
    let zone = match zone.strip_prefix('.') {
        Some(fraction) => {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            &fraction[digits..]
        }
        None => zone,
    };
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (hours, minutes) = zone[1..].split_once(':')?;
            sign * (number(hours, 2)? * 3600 + number(minutes, 2)? * 60)
        }
    };
    Some(seconds_of(year, month, day, hour, minute, second)? - offset)
}

/// An HTTP date (RFC 9110's IMF-fixdate): `Mon, 30 Nov 2026 10:00:00 GMT`.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let (_, rest) = text.trim().split_once(", ")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, clock, "GMT"] = fields[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|name| *name == month)? as i64 + 1;
    let mut clock_parts = clock.split(':');
    let hour = number(clock_parts.next()?, 2)?;
    let minute = number(clock_parts.next()?, 2)?;
    let second = number(clock_parts.next()?, 2)?;
    seconds_of(
        number(year, 4)?,
        month,
        number(day, 2)?,
        hour,
        minute,
        second,
    )
}

/// `2026-11-30T10:00:00Z`.
pub fn format_rfc3339(seconds: i64) -> String {
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// A short age or wait for people: `45s`, `12m`, `5h`, `3d`, `2d 4h`.
pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h", seconds / 3600),
        _ if seconds % 86_400 >= 3600 && seconds < 7 * 86_400 => {
            format!("{}d {}h", seconds / 86_400, seconds % 86_400 / 3600)
        }
        _ => format!("{}d", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_http_dates() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        let moment = parse_rfc3339("2026-11-30T10:00:00Z").unwrap();
        assert_eq!(format_rfc3339(moment), "2026-11-30T10:00:00Z");
        assert_eq!(parse_rfc3339("2026-11-30T10:00:00.123Z"), Some(moment));
        assert_eq!(parse_rfc3339("2026-11-30T12:00:00+02:00"), Some(moment));
        assert_eq!(
            parse_http_date("Mon, 30 Nov 2026 10:00:00 GMT"),
            Some(moment)
        );
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-11-30",
            "2026-11-30T10:00:00",
            "2026-11-30T10:00:00.Z",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_http_date("30 Nov 2026 10:00:00 GMT"), None);
    }

    #[test]
    fn ages_for_people() {
        let secs = Duration::from_secs;
        assert_eq!(human(secs(59)), "59s");
        assert_eq!(human(secs(3599)), "59m");
        assert_eq!(human(secs(5 * 3600)), "5h");
        assert_eq!(human(secs(2 * 86_400 + 4 * 3600)), "2d 4h");
        assert_eq!(human(secs(40 * 86_400)), "40d");
    }
}
