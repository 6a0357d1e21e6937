//! Reading points in time the way real feeds send them, normalised to UTC microseconds.
//!
//! ISO 8601 / RFC 3339 and epoch numbers are parsed by hand (they are on the hot path); a custom
//! strftime pattern goes through chrono.

use serde::Deserialize;

/// Unit of epoch numbers (a field's `epoch_unit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EpochUnit {
    /// Seconds since 1970-01-01T00:00:00Z.
    Seconds,
    /// Milliseconds since the epoch.
    Millis,
    /// Microseconds since the epoch.
    Micros,
    /// Nanoseconds since the epoch (OpenTelemetry's `timeUnixNano`, Go's `UnixNano`). Times are
    /// kept to the microsecond; an `int64` column in nanoseconds keeps an integer epoch whole.
    Nanos,
}

/// How a field's text is read as a point in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// ISO 8601 / RFC 3339 strings, and epoch numbers (in the field's `epoch_unit`, else seconds).
    Auto,
    /// Only ISO 8601 / RFC 3339 strings.
    Iso8601,
    /// Only epoch numbers (JSON numbers or numeric strings) in this unit.
    Epoch(EpochUnit),
    /// A chrono strftime pattern; without an offset (`%z`) the time is taken as UTC.
    Pattern(String),
}

impl TimeFormat {
    /// Parses the `format` key of a field definition.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "auto" => Self::Auto,
            "iso8601" | "rfc3339" => Self::Iso8601,
            "epoch_seconds" => Self::Epoch(EpochUnit::Seconds),
            "epoch_millis" => Self::Epoch(EpochUnit::Millis),
            "epoch_micros" => Self::Epoch(EpochUnit::Micros),
            "epoch_nanos" => Self::Epoch(EpochUnit::Nanos),
            pattern if pattern.contains('%') => {
                use chrono::format::{Item, StrftimeItems};
                if StrftimeItems::new(pattern).any(|i| matches!(i, Item::Error)) {
                    return Err(format!("{pattern:?} is not a valid strftime pattern"));
                }
                Self::Pattern(pattern.to_string())
            }
            other => {
                return Err(format!(
                    "unknown format {other:?}: use auto, iso8601, epoch_seconds, epoch_millis, epoch_micros, epoch_nanos or a strftime pattern like \"%d/%m/%Y %H:%M:%S\""
                ))
            }
        })
    }

    /// Reads a JSON string as a point in time (UTC microseconds, years 0001 to 9999).
    pub fn read_str(&self, s: &str, unit: EpochUnit) -> Option<i64> {
        let s = s.trim();
        let micros = match self {
            Self::Auto => parse_iso8601(s).or_else(|| auto_epoch_to_micros(s, unit)),
            Self::Iso8601 => parse_iso8601(s),
            Self::Epoch(u) => epoch_to_micros(s, *u),
            Self::Pattern(p) => parse_pattern(s, p),
        };
        micros.filter(|m| SUPPORTED_MICROS.contains(m))
    }

    /// Reads a JSON number as a point in time (UTC microseconds, years 0001 to 9999).
    pub fn read_number(&self, n: &str, unit: EpochUnit) -> Option<i64> {
        let micros = match self {
            Self::Auto => auto_epoch_to_micros(n, unit),
            Self::Epoch(u) => epoch_to_micros(n, *u),
            Self::Iso8601 | Self::Pattern(_) => None,
        };
        micros.filter(|m| SUPPORTED_MICROS.contains(m))
    }

    /// An epoch number as a point in time expressed in `unit` (floored): what an `epoch_unit`
    /// int64 column holds. Same acceptance as [`Self::read_number`].
    pub fn read_number_as(&self, n: &str, unit: EpochUnit) -> Option<i64> {
        // `None`: decided by the number (auto).
        let explicit_unit = match self {
            Self::Auto => None,
            Self::Epoch(u) => Some(*u),
            Self::Iso8601 | Self::Pattern(_) => return None,
        };
        // The common case: an integer already in the column's unit needs no conversion. Its
        // digits are read once, for both its value and its unit.
        // Nanoseconds take 19 digits, past the shortcut's 18: read whole, not through micros.
        let integer = plain_integer(n.as_bytes()).or_else(|| {
            let digits = n.strip_prefix(['-', '+']).unwrap_or(n).len();
            n.parse::<i64>().ok().map(|i| (i, digits))
        });
        if let Some((i, digits)) = integer {
            if explicit_unit.unwrap_or_else(|| auto_unit_for(digits, unit)) == unit {
                let micros = to_micros(i, unit)?;
                return SUPPORTED_MICROS.contains(&micros).then_some(i);
            }
        }
        let micros = self.read_number(n, unit)?;
        from_micros(micros, unit)
    }
}

/// 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999Z: what Athena and most readers accept.
const SUPPORTED_MICROS: std::ops::RangeInclusive<i64> =
    -62_135_596_800_000_000..=253_402_300_799_999_999;

/// Epoch numbers in `auto` mode: in `unit`, except that a "seconds" value too large to be seconds
/// (10^11 s is the year 5138) is read as milliseconds, microseconds past 10^14, nanoseconds past
/// 10^17 (as microseconds those would be after the year 5138 too): feeds mix them.
fn auto_epoch_to_micros(n: &str, unit: EpochUnit) -> Option<i64> {
    epoch_to_micros(n, auto_unit(n, unit))
}

/// The unit `auto` reads an epoch number `n` in, given the field's `unit`.
fn auto_unit(n: &str, unit: EpochUnit) -> EpochUnit {
    let digits = n.strip_prefix(['-', '+']).unwrap_or(n).as_bytes();
    let integer_digits = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    auto_unit_for(integer_digits, unit)
}

/// The unit `auto` reads an epoch number with `integer_digits` digits before any point in.
#[inline]
fn auto_unit_for(integer_digits: usize, unit: EpochUnit) -> EpochUnit {
    if unit != EpochUnit::Seconds {
        return unit;
    }
    match integer_digits {
        0..=11 => EpochUnit::Seconds,
        12..=14 => EpochUnit::Millis,
        15..=17 => EpochUnit::Micros,
        _ => EpochUnit::Nanos,
    }
}

/// `[-]digits` with at most 18 digits (so it cannot overflow): its value and digit count.
#[inline]
fn plain_integer(text: &[u8]) -> Option<(i64, usize)> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let (mut end, mut value) = (0, 0u64);
    crate::numbers::take_digits(digits, &mut end, &mut value);
    // At most 18 digits: below 10^18, so the value fits.
    let value = value as i64;
    (end == digits.len()).then_some((if negative { -value } else { value }, end))
}

/// Microseconds in a second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// The power of ten that turns `unit` into microseconds (6 for seconds, -3 for nanoseconds).
fn micro_scale(unit: EpochUnit) -> i32 {
    match unit {
        EpochUnit::Seconds => 6,
        EpochUnit::Millis => 3,
        EpochUnit::Micros => 0,
        EpochUnit::Nanos => -3,
    }
}

/// An integer epoch in `unit` as microseconds (nanoseconds floored, towards the past); `None` on
/// overflow.
pub fn to_micros(value: i64, unit: EpochUnit) -> Option<i64> {
    match micro_scale(unit) {
        s if s >= 0 => value.checked_mul(10i64.pow(s as u32)),
        s => Some(value.div_euclid(10i64.pow(s.unsigned_abs()))),
    }
}

/// Microseconds as an integer epoch in `unit` (floored, towards the past); `None` on overflow.
pub fn from_micros(micros: i64, unit: EpochUnit) -> Option<i64> {
    match micro_scale(unit) {
        s if s >= 0 => Some(micros.div_euclid(10i64.pow(s as u32))),
        s => micros.checked_mul(10i64.pow(s.unsigned_abs())),
    }
}

/// An epoch number (integer, decimal or exponent form) in `unit`, as microseconds: exactly, with
/// digits finer than a microsecond dropped towards the past (as in ISO 8601 fractions).
pub fn epoch_to_micros(n: &str, unit: EpochUnit) -> Option<i64> {
    if let Ok(i) = n.parse::<i64>() {
        return to_micros(i, unit);
    }
    crate::numbers::Decimal::parse(n)?.floor_scaled(micro_scale(unit))
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Calendar parts of a UTC instant given in microseconds: (year, month, day, hour).
pub fn utc_parts(micros: i64) -> (i64, u32, u32, u32) {
    let (y, m, d) = civil_from_days(micros_to_days(micros));
    (y, m, d, hour_of_day(micros))
}

/// The UTC hour (0–23) of an instant in microseconds.
pub fn hour_of_day(micros: i64) -> u32 {
    (micros.rem_euclid(MICROS_PER_DAY) / (3_600 * MICROS_PER_SECOND)) as u32
}

/// Days since the epoch of a UTC instant in microseconds.
pub fn micros_to_days(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at + n)?;
    part.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// ISO 8601 / RFC 3339: `2020-04-16`, `2020-04-16 11:33:23`, `2020-04-16T11:33:23.5Z`,
/// `2020-04-16T11:33:23+09:00`, `...+0900`. A time without an offset is taken as UTC.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (digits(b, 5, 2)?, digits(b, 8, 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let mut micros = days * MICROS_PER_DAY;
    if b.len() == 10 {
        return Some(micros);
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let minute = digits(b, 14, 2)?;
    let mut i = 16;
    let mut second = 0;
    if b.get(i) == Some(&b':') {
        second = digits(b, 17, 2)?;
        i = 19;
    }
    // 60 tolerates a leap second, folded into the next minute as most systems do.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    micros += i64::from(hour * 3600 + minute * 60 + second) * MICROS_PER_SECOND;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        let start = i;
        let mut frac: i64 = 0;
        let mut scale = 100_000;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            frac += i64::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
        micros += frac;
    }
    match b.get(i) {
        None => Some(micros),
        Some(b'Z' | b'z') if i + 1 == b.len() => Some(micros),
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            let rest = &b[i + 3..];
            let om = match rest {
                [] => 0,
                [b':', ..] if rest.len() == 3 => digits(rest, 1, 2)?,
                _ if rest.len() == 2 => digits(rest, 0, 2)?,
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let offset = i64::from(oh * 3600 + om * 60) * MICROS_PER_SECOND;
            Some(if sign == b'+' {
                micros - offset
            } else {
                micros + offset
            })
        }
        _ => None,
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn parse_pattern(s: &str, pattern: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(t) = DateTime::parse_from_str(s, pattern) {
        return Some(t.timestamp_micros());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, pattern) {
        return Some(t.and_utc().timestamp_micros());
    }
    NaiveDate::parse_from_str(s, pattern).ok().map(|d| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_micros()
    })
}

/// A system time as RFC 3339 in UTC with milliseconds (`2026-12-01T10:00:00.000Z`).
pub fn rfc3339_of(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_593_007_044 * MICROS_PER_SECOND; // 2020-06-24T13:57:24Z

    #[test]
    fn iso8601_variants_normalise_to_utc() {
        assert_eq!(parse_iso8601("2020-06-24T13:57:24Z"), Some(T));
        assert_eq!(parse_iso8601("2020-06-24 13:57:24"), Some(T));
        assert_eq!(parse_iso8601("2020-06-24t13:57:24z"), Some(T));
        assert_eq!(parse_iso8601("2020-06-24T22:57:24+09:00"), Some(T));
        assert_eq!(parse_iso8601("2020-06-24T22:57:24+0900"), Some(T));
        assert_eq!(parse_iso8601("2020-06-24T08:57:24-05"), Some(T));
        assert_eq!(parse_iso8601("2020-06-24T13:57:24.250Z"), Some(T + 250_000));
        assert_eq!(
            parse_iso8601("2020-06-24T13:57:24.123456789Z"),
            Some(T + 123_456)
        );
        assert_eq!(
            parse_iso8601("2020-06-24T13:57"),
            Some(T - 24 * MICROS_PER_SECOND)
        );
        assert_eq!(
            parse_iso8601("2020-06-24"),
            Some(days_from_civil(2020, 6, 24) * MICROS_PER_DAY)
        );
    }

    #[test]
    fn iso8601_rejects_impossible_or_trailing_text() {
        for bad in [
            "2020-13-01",
            "2020-02-30",
            "2019-02-29",
            "2020-06-24T24:00:00",
            "2020-06-24T13:57:24Zjunk",
            "2020-06-24T13:57:24.",
            "2020-06-24X13:57:24",
            "20-06-24",
            "2020-06-24T13:57:24+9",
            "",
            "1593007044",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
        assert!(parse_iso8601("2020-02-29").is_some());
    }

    #[test]
    fn epoch_numbers_in_each_unit() {
        // `auto` counts digits after a sign of either kind.
        let auto = TimeFormat::Auto;
        assert_eq!(auto.read_str("+1593007044000", EpochUnit::Seconds), Some(T));
        assert_eq!(auto.read_str("1593007044000", EpochUnit::Seconds), Some(T));
        assert_eq!(epoch_to_micros("1593007044", EpochUnit::Seconds), Some(T));
        assert_eq!(epoch_to_micros("1593007044000", EpochUnit::Millis), Some(T));
        assert_eq!(
            epoch_to_micros("1593007044.5", EpochUnit::Seconds),
            Some(T + 500_000)
        );
        assert_eq!(
            epoch_to_micros("1.593007044e9", EpochUnit::Seconds),
            Some(T)
        );
        assert_eq!(
            epoch_to_micros("-1", EpochUnit::Seconds),
            Some(-MICROS_PER_SECOND)
        );
        assert_eq!(epoch_to_micros("abc", EpochUnit::Seconds), None);
        assert_eq!(
            epoch_to_micros("9223372036854775807", EpochUnit::Seconds),
            None
        );
        assert_eq!(epoch_to_micros("1e300", EpochUnit::Seconds), None);
    }

    #[test]
    fn formats_choose_what_they_accept() {
        let s = EpochUnit::Seconds;
        assert_eq!(TimeFormat::Auto.read_str("1593007044", s), Some(T));
        assert_eq!(TimeFormat::Auto.read_number("1593007044000", s), Some(T));
        assert_eq!(TimeFormat::Auto.read_number("1593007044000000", s), Some(T));
        assert_eq!(
            TimeFormat::Epoch(s).read_number("1593007044000", s),
            None,
            "year 52385"
        );
        assert_eq!(TimeFormat::Auto.read_str("10000-01-01", s), None);
        assert_eq!(
            TimeFormat::Auto.read_str(" 2020-06-24T13:57:24Z ", s),
            Some(T)
        );
        assert_eq!(TimeFormat::Iso8601.read_str("1593007044", s), None);
        assert_eq!(TimeFormat::Iso8601.read_number("1593007044", s), None);
        let ms = TimeFormat::parse("epoch_millis").unwrap();
        assert_eq!(ms.read_number("1593007044000", s), Some(T));
        let pattern = TimeFormat::parse("%d/%m/%Y %H:%M:%S").unwrap();
        assert_eq!(pattern.read_str("24/06/2020 13:57:24", s), Some(T));
        let with_offset = TimeFormat::parse("%d/%m/%Y %H:%M:%S %z").unwrap();
        assert_eq!(
            with_offset.read_str("24/06/2020 15:57:24 +0200", s),
            Some(T)
        );
        let date_only = TimeFormat::parse("%Y%m%d").unwrap();
        assert_eq!(
            date_only.read_str("20200624", s),
            Some(days_from_civil(2020, 6, 24) * MICROS_PER_DAY)
        );
        assert!(TimeFormat::parse("yyyy-mm-dd").is_err());
        assert!(TimeFormat::parse("%Q").is_err());
    }

    #[test]
    fn civil_round_trip_and_parts() {
        for days in [-719_468, -1, 0, 1, 18_437, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(utc_parts(T), (2020, 6, 24, 13));
        assert_eq!(utc_parts(-1), (1969, 12, 31, 23));
    }

    /// Integers at the edges of the one-pass reading (sign, zeros, digit counts where `auto`
    /// changes unit and where the shortcut stops) read the same as on the general path.
    #[test]
    fn read_number_as_agrees_at_the_edges_of_its_shortcut() {
        let units = [EpochUnit::Seconds, EpochUnit::Millis, EpochUnit::Micros];
        for n in [
            "0",
            "-0",
            "007",
            "+5",
            "-",
            "",
            "1593007044",
            "-1593007044",
            "99999999999",
            "100000000000",
            "99999999999999",
            "100000000000000",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "12a",
            "1.0",
        ] {
            for unit in units {
                for format in [
                    TimeFormat::Auto,
                    TimeFormat::Epoch(unit),
                    TimeFormat::Iso8601,
                ] {
                    let expected = format
                        .read_number(n, unit)
                        .and_then(|m| from_micros(m, unit));
                    assert_eq!(
                        format.read_number_as(n, unit),
                        expected,
                        "{n} {unit:?} {format:?}"
                    );
                }
            }
        }
        assert_eq!(
            TimeFormat::Auto.read_number_as("1593007044", EpochUnit::Seconds),
            Some(1_593_007_044)
        );
        assert_eq!(
            TimeFormat::Auto.read_number_as("-0", EpochUnit::Seconds),
            Some(0)
        );
    }

    /// OpenTelemetry's `timeUnixNano`: 19 digits, read exactly; times keep the microsecond,
    /// floored; an int64 nanosecond column keeps an integer whole.
    #[test]
    fn nanoseconds_are_an_epoch_unit() {
        let nanos = EpochUnit::Nanos;
        let otlp = "1544712660300000123";
        assert_eq!(epoch_to_micros(otlp, nanos), Some(1_544_712_660_300_000));
        assert_eq!(
            epoch_to_micros("-1", nanos),
            Some(-1),
            "floored towards the past"
        );
        assert_eq!(epoch_to_micros("1999.9", nanos), Some(1));
        assert_eq!(epoch_to_micros("1.5e3", nanos), Some(1));
        assert_eq!(
            TimeFormat::parse("epoch_nanos"),
            Ok(TimeFormat::Epoch(nanos))
        );
        for format in [TimeFormat::Auto, TimeFormat::Epoch(nanos)] {
            assert_eq!(
                format.read_number_as(otlp, nanos),
                Some(1_544_712_660_300_000_123)
            );
            assert_eq!(format.read_number(otlp, nanos), Some(1_544_712_660_300_000));
        }
        // `auto` with the default unit: 18 digits and more are nanoseconds.
        let auto = TimeFormat::Auto;
        assert_eq!(
            auto.read_number(otlp, EpochUnit::Seconds),
            Some(1_544_712_660_300_000)
        );
        assert_eq!(
            auto.read_number("154471266030000012", EpochUnit::Seconds),
            Some(154_471_266_030_000),
            "1974, not the year 6864 in microseconds"
        );
        assert_eq!(
            auto.read_number("154471266030000", EpochUnit::Seconds),
            Some(154_471_266_030_000),
            "15 digits are still microseconds"
        );
        // A string time into a nanosecond column: its microseconds, scaled.
        assert_eq!(from_micros(1, nanos), Some(1_000));
        assert_eq!(from_micros(i64::MAX / 10, nanos), None);
        assert_eq!(to_micros(-1_001, nanos), Some(-2));
    }

    proptest::proptest! {
        /// The int64 epoch column's shortcut reads what the general path reads, then converts.
        #[test]
        fn read_number_as_agrees_with_read_number_then_converting(
            int in i64::MIN..=i64::MAX,
            digits in 0u32..19,
            fraction in proptest::option::of(0u32..1000),
            unit in proptest::sample::select(vec![EpochUnit::Seconds, EpochUnit::Millis, EpochUnit::Micros]),
            explicit in proptest::bool::ANY,
        ) {
            let int = int / 10i64.pow(digits);
            let n = match fraction {
                Some(f) => format!("{int}.{f}"),
                None => int.to_string(),
            };
            for format in [TimeFormat::Auto, TimeFormat::Epoch(if explicit { unit } else { EpochUnit::Millis })] {
                let expected = format.read_number(&n, unit).and_then(|m| from_micros(m, unit));
                proptest::prop_assert_eq!(format.read_number_as(&n, unit), expected, "{} {:?}", n, unit);
            }
        }
    }
}
