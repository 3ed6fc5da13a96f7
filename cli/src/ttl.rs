//! `--ttl` values: a number with a unit (`500ms`, `30s`, `10m`, `2h`,
//! `7d`), or several added together (`1h30m`).

use zerodb_txn::request::{check_ttl, TTL_MS_MAX};

/// Parses a TTL into milliseconds (1 ms to 100 years).
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let invalid = |why: &str| {
        format!("invalid TTL {text:?}: {why} (examples: 500ms, 30s, 10m, 2h, 7d, 1h30m)")
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid("it is empty"));
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid("expected a number"));
        }
        let amount: u64 = rest[..digits]
            .parse()
            .map_err(|_| invalid("the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(invalid("a number needs a unit: ms, s, m, h or d")),
            other => return Err(invalid(&format!("unknown unit {other:?}"))),
        };
        rest = &rest[unit_len..];
        total = amount
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .filter(|ms| *ms <= TTL_MS_MAX)
            .ok_or_else(|| invalid("longer than 100 years"))?;
    }
    check_ttl(total).map_err(|why| invalid(&why))?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_sums_parse_to_milliseconds() {
        assert_eq!(parse_ttl("500ms"), Ok(500));
        assert_eq!(parse_ttl("30s"), Ok(30_000));
        assert_eq!(parse_ttl("10m"), Ok(600_000));
        assert_eq!(parse_ttl("2h"), Ok(7_200_000));
        assert_eq!(parse_ttl("7d"), Ok(604_800_000));
        assert_eq!(parse_ttl("1h30m"), Ok(5_400_000));
    }

    #[test]
    fn bad_ttls_are_refused_with_the_reason() {
        for (text, why) in [
            ("", "empty"),
            ("30", "needs a unit"),
            ("5y", "unknown unit \"y\""),
            ("h", "expected a number"),
            ("0s", "at least 1 ms"),
            ("40000d", "longer than 100 years"),
            ("99999999999999999999s", "too large"),
        ] {
            let error = parse_ttl(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }
}
