//! Durations in kubectl's syntax: Go's `time.ParseDuration` (`90s`, `10m`, `1h`, `1m30s`,
//! `1.5h`, `300ms`; units ns, us/µs, ms, s, m, h; an optional sign; `0` alone), so that a value
//! accepted here is one kubectl accepts too.

use std::time::Duration;

use crate::error::OpError;

/// The largest magnitude Go's `time.Duration` holds, in nanoseconds (about 292 years).
const MAX_NANOS: u128 = 1 << 63;

/// Why a text is not a Go duration, in Go's words.
#[derive(Debug, PartialEq, Eq)]
pub enum Invalid {
    Syntax,
    MissingUnit,
    UnknownUnit(String),
    TooLarge,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Syntax => f.write_str("not a duration"),
            Invalid::MissingUnit => f.write_str("missing unit in duration"),
            Invalid::UnknownUnit(unit) => write!(f, "unknown unit {unit:?} in duration"),
            Invalid::TooLarge => f.write_str("too large (the limit is about 292 years)"),
        }
    }
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Nanoseconds (negative for `-…`), exactly as Go's `time.ParseDuration` reads `text`.
pub fn parse_go(text: &str) -> Result<i128, Invalid> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(Invalid::Syntax);
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let whole = &rest[..whole_len];
        rest = &rest[whole_len..];
        let mut fraction = "";
        if let Some(after) = rest.strip_prefix('.') {
            let len = after.bytes().take_while(u8::is_ascii_digit).count();
            fraction = &after[..len];
            rest = &after[len..];
        }
        if whole.is_empty() && fraction.is_empty() {
            return Err(Invalid::Syntax);
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(Invalid::MissingUnit);
        }
        let scale = unit_nanos(unit).ok_or_else(|| Invalid::UnknownUnit(unit.to_string()))?;
        let mut value: u128 = 0;
        for digit in whole.bytes() {
            value = value * 10 + u128::from(digit - b'0');
            if value > MAX_NANOS {
                return Err(Invalid::TooLarge);
            }
        }
        value = value.checked_mul(scale).ok_or(Invalid::TooLarge)?;
        // Go keeps about 19 significant fraction digits; the rest cannot change the result.
        let fraction = &fraction[..fraction.len().min(19)];
        if !fraction.is_empty() {
            let digits: u128 = fraction.parse().map_err(|_| Invalid::Syntax)?;
            value += digits * scale / 10u128.pow(fraction.len() as u32);
        }
        total = total.checked_add(value).ok_or(Invalid::TooLarge)?;
        if total > MAX_NANOS {
            return Err(Invalid::TooLarge);
        }
    }
    if negative {
        Ok(-(total as i128))
    } else if total == MAX_NANOS {
        Err(Invalid::TooLarge)
    } else {
        Ok(total as i128)
    }
}

fn refused(flag: &str, text: &str, why: &str) -> anyhow::Error {
    OpError::config(format!("{flag} {text:?}: {why}"))
        .with_hint("durations are written as kubectl writes them: 90s, 10m, 1h, 1m30s, 500ms")
        .into()
}

/// Checks a value passed through to kubectl (`--timeout`): anything kubectl accepts.
pub fn check_kubectl(text: &str, flag: &str) -> anyhow::Result<()> {
    parse_go(text)
        .map(drop)
        .map_err(|why| refused(flag, text, &why.to_string()))
}

/// A duration op waits itself (`--poll-timeout`, `--interval`): kubectl's syntax, not negative.
pub fn parse(text: &str, flag: &str) -> anyhow::Result<Duration> {
    let nanos = parse_go(text).map_err(|why| refused(flag, text, &why.to_string()))?;
    let nanos = u64::try_from(nanos).map_err(|_| refused(flag, text, "must not be negative"))?;
    Ok(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn go_durations() {
        for (text, nanos) in [
            ("0", 0),
            ("-0", 0),
            ("0s", 0),
            ("90s", 90 * S),
            ("10m", 600 * S),
            ("1h", 3600 * S),
            ("1m30s", 90 * S),
            ("1h2m3s", 3723 * S),
            ("1.5h", 5400 * S),
            (".5s", S / 2),
            ("5.s", 5 * S),
            ("300ms", 300_000_000),
            ("2us", 2_000),
            ("2\u{b5}s", 2_000),
            ("7ns", 7),
            ("+3s", 3 * S),
            ("-1m", -60 * S),
            ("2562047h47m16.854775807s", i64::MAX as i128),
        ] {
            assert_eq!(parse_go(text), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn not_go_durations() {
        for (text, why) in [
            ("", Invalid::Syntax),
            ("30", Invalid::MissingUnit),
            ("1m30", Invalid::MissingUnit),
            ("5d", Invalid::UnknownUnit("d".into())),
            ("10 m", Invalid::UnknownUnit(" m".into())),
            ("10s ", Invalid::UnknownUnit("s ".into())),
            ("soon", Invalid::Syntax),
            (".s", Invalid::Syntax),
            ("-", Invalid::Syntax),
            ("2562047h47m16.854775808s", Invalid::TooLarge),
            ("99999999999999999999999h", Invalid::TooLarge),
            ("9223372036854775808ns", Invalid::TooLarge),
        ] {
            assert_eq!(parse_go(text), Err(why), "{text}");
        }
        assert_eq!(parse_go("-9223372036854775808ns"), Ok(i64::MIN as i128));
    }

    #[test]
    fn waits_are_not_negative() {
        assert_eq!(parse("1m30s", "--x").unwrap(), Duration::from_secs(90));
        let error = parse("-1s", "--interval").unwrap_err().to_string();
        assert!(
            error.contains("--interval \"-1s\": must not be negative"),
            "{error}"
        );
        assert!(check_kubectl("-1s", "--timeout").is_ok());
        let error = check_kubectl("30", "--timeout").unwrap_err().to_string();
        assert_eq!(error, "--timeout \"30\": missing unit in duration");
    }
}
