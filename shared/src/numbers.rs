//! Decimal text to numbers, exactly.
//!
//! To `f64`: quickly for the common case and exactly like `str::parse` always. Feeds send short
//! decimals ("36.709037", "1019.43"). For those, Clinger's fast path applies: with at most 19
//! digits, a mantissa below 2^53 and at most 22 fraction digits, both the digits and the power of
//! ten are exact `f64` values, and one IEEE division rounds their quotient correctly — the same
//! result the full algorithm in `str::parse` gives, in a fraction of the time. Everything else
//! (exponents, long mantissas, a leading '+', "inf") goes to `str::parse`.
//!
//! To integers and epoch instants: through [`Decimal`], the text's exact value, never through
//! binary floating point (`9007199254740993.0` is 9007199254740993, `1e-400` is not an integer).

/// Powers of ten that `f64` represents exactly.
const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `text` as an `f64`, with `str::parse`'s result and acceptance.
#[inline]
pub fn parse_f64(text: &str) -> Option<f64> {
    match short_decimal(text.as_bytes()) {
        Some(v) => Some(v),
        None => text.parse().ok(),
    }
}

/// `[-]digits[.digits]` within the exact range, else `None` (the caller takes the slow path).
#[inline]
fn short_decimal(text: &[u8]) -> Option<f64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // Longer texts cannot take the fast path; a mantissa past 19 digits may wrap, and is refused
    // below by its digit count.
    if digits.len() > 20 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut i = 0;
    take_digits(digits, &mut i, &mut mantissa);
    // "1." and ".5" keep str::parse's own answer.
    let integer_digits = i;
    let mut fraction_digits = 0;
    if digits.get(i) == Some(&b'.') {
        i += 1;
        fraction_digits = take_digits(digits, &mut i, &mut mantissa);
        if fraction_digits == 0 {
            return None;
        }
    }
    if i != digits.len() || integer_digits == 0 || integer_digits + fraction_digits > 19 {
        return None;
    }
    if mantissa > 1 << 53 || fraction_digits >= EXACT_POW10.len() {
        return None;
    }
    let value = mantissa as f64 / EXACT_POW10[fraction_digits];
    Some(if negative { -value } else { value })
}

/// Appends the decimal digits of `text` from `*i` on to `mantissa`, moving `*i` past them; returns
/// how many there were.
#[inline]
pub(crate) fn take_digits(text: &[u8], i: &mut usize, mantissa: &mut u64) -> usize {
    let from = *i;
    while let Some(d) = text
        .get(*i)
        .map(|b| b.wrapping_sub(b'0'))
        .filter(|&d| d < 10)
    {
        *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
        *i += 1;
    }
    *i - from
}

/// A decimal text's exact value: `digits × 10^exponent`, negated when `negative`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// The sign (also of a zero: `-0`).
    pub negative: bool,
    /// The first [`Decimal::MAX_DIGITS`] significant digits.
    pub digits: u128,
    /// The power of ten of the last digit kept.
    pub exponent: i64,
    /// Non-zero digits came after the ones kept (the value lies strictly between `digits` and
    /// `digits + 1` in units of the last digit kept).
    pub inexact: bool,
}

impl Decimal {
    /// Significant digits kept; any more and the value is far outside every integer column.
    pub const MAX_DIGITS: u32 = 38;

    /// Parses what `str::parse::<f64>` accepts as a finite number: `[+-]digits[.digits][e[+-]digits]`,
    /// either side of the point may be empty but not both. `None` for anything else (also `inf`
    /// and `NaN`).
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let (negative, mut i) = match b.first() {
            Some(b'-') => (true, 1),
            Some(b'+') => (false, 1),
            _ => (false, 0),
        };
        let mut d = Decimal {
            negative,
            digits: 0,
            exponent: 0,
            inexact: false,
        };
        let mut kept = 0;
        let mut any_digit = false;
        let mut after_point = false;
        while let Some(&c) = b.get(i) {
            match c {
                b'0'..=b'9' => {
                    any_digit = true;
                    let digit = u128::from(c - b'0');
                    if kept < Self::MAX_DIGITS {
                        d.digits = d.digits * 10 + digit;
                        if d.digits != 0 {
                            kept += 1;
                        }
                        if after_point {
                            d.exponent -= 1;
                        }
                    } else {
                        d.inexact |= digit != 0;
                        if !after_point {
                            d.exponent += 1;
                        }
                    }
                }
                b'.' if !after_point => after_point = true,
                _ => break,
            }
            i += 1;
        }
        if !any_digit {
            return None;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            let exp_negative = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            let mut exp: i64 = 0;
            while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                // Saturates far past any meaningful exponent (the digits are at most 10^38).
                exp = (exp * 10 + i64::from(c - b'0')).min(1 << 40);
                i += 1;
            }
            if i == start {
                return None;
            }
            d.exponent += if exp_negative { -exp } else { exp };
        }
        (i == b.len()).then_some(d)
    }

    /// The digits without trailing zeros, and their exponent (zero stays zero).
    fn normalised(&self) -> (u128, i64) {
        let (mut digits, mut exponent) = (self.digits, self.exponent);
        if digits == 0 {
            return (0, 0);
        }
        while digits % 10 == 0 {
            digits /= 10;
            exponent += 1;
        }
        (digits, exponent)
    }

    /// The value as an `i64` when it is an integer in range; `None` when it has a fraction or
    /// overflows. Exact: `42.0`, `4.2e1` and `9223372036854775807.0` are integers, `42.5`,
    /// `1.00000000000000001` and `1e-400` are not.
    pub fn to_i64(&self) -> Option<i64> {
        let (digits, exponent) = self.normalised();
        if self.inexact || exponent < 0 {
            return None;
        }
        let magnitude = digits.checked_mul(10u128.checked_pow(u32::try_from(exponent).ok()?)?)?;
        signed(self.negative, magnitude)
    }

    /// `floor(value × 10^scale)` as an `i64` (an epoch in seconds to microseconds: `scale` 6; in
    /// nanoseconds: -3); `None` when it overflows.
    pub fn floor_scaled(&self, scale: i32) -> Option<i64> {
        let (digits, exponent) = self.normalised();
        let exponent = exponent + i64::from(scale);
        if digits == 0 {
            return Some(0);
        }
        if exponent >= 0 {
            if self.inexact {
                return None; // at least 10^38
            }
            let magnitude =
                digits.checked_mul(10u128.checked_pow(u32::try_from(exponent).ok()?)?)?;
            return signed(self.negative, magnitude);
        }
        let (whole, fraction) = match 10u128.checked_pow(u32::try_from(-exponent).ok()?) {
            Some(divisor) => (digits / divisor, digits % divisor != 0 || self.inexact),
            None => (0, true), // 10^-39 and finer
        };
        if self.negative {
            signed(true, whole + u128::from(fraction))
        } else {
            signed(false, whole)
        }
    }
}

fn signed(negative: bool, magnitude: u128) -> Option<i64> {
    if negative {
        i64::try_from(-i128::try_from(magnitude).ok()?).ok()
    } else {
        i64::try_from(magnitude).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::floor_by_text;
    use proptest::prelude::*;

    #[test]
    fn common_decimals_take_the_fast_path() {
        for (text, value) in [
            ("36.709037", 36.709037),
            ("-139.773288", -139.773288),
            ("1019.43", 1019.43),
            ("0", 0.0),
            ("007.50", 7.5),
            ("9007199254740992", 9_007_199_254_740_992.0),
        ] {
            assert_eq!(short_decimal(text.as_bytes()), Some(value), "{text}");
        }
        assert!(short_decimal(b"-0").unwrap().is_sign_negative());
    }

    #[test]
    fn everything_else_is_left_to_str_parse() {
        for text in [
            "1e5",
            "+1.5",
            "1.",
            ".5",
            "-",
            "",
            "1.2.3",
            "inf",
            "NaN",
            "1_0",
            "12345678901234567890",
            "9007199254740993",
            "0.12345678901234567890123",
        ] {
            assert_eq!(short_decimal(text.as_bytes()), None, "{text}");
            let std = text.parse::<f64>().ok().map(f64::to_bits);
            assert_eq!(parse_f64(text).map(f64::to_bits), std, "{text}");
        }
    }

    #[test]
    fn decimals_follow_str_parse_grammar() {
        for text in [
            "1", "+1", "-1", "1.", ".5", "-.5", "+.5", "1.e5", "1e+5", "1E-5", "0", "00.00",
        ] {
            assert!(Decimal::parse(text).is_some(), "{text}");
            assert!(text.parse::<f64>().is_ok(), "{text}");
        }
        for text in [
            "", ".", "-", "+", "e5", "1e", "1e+", "1..2", "1.2.3", "inf", "NaN", " 1", "1 ", "0x1",
            "1_0",
        ] {
            assert!(Decimal::parse(text).is_none(), "{text}");
        }
    }

    proptest! {
        /// Integers, and epochs scaled to microseconds, agree with moving the point in the text.
        #[test]
        fn decimals_are_exact(
            sign in "[-+]?",
            whole in "[0-9]{0,24}",
            fraction in proptest::option::of("[0-9]{0,24}"),
            exp in proptest::option::of(-45i64..45),
        ) {
            let mut text = format!("{sign}{whole}");
            if let Some(f) = &fraction {
                text.push('.');
                text.push_str(f);
            }
            let mantissa = text.clone();
            if let Some(e) = exp {
                text.push_str(&format!("e{e}"));
            }
            let ours = Decimal::parse(&text);
            prop_assert_eq!(ours.is_some(), text.parse::<f64>().is_ok(), "{}", &text);
            let Some(d) = ours else { return Ok(()) };
            let integer = floor_by_text(&text)
                .filter(|&(_, integral)| integral)
                .and_then(|(v, _)| i64::try_from(v).ok());
            prop_assert_eq!(d.to_i64(), integer, "{}", &text);
            let micros_text = format!("{mantissa}e{}", exp.unwrap_or(0) + 6);
            let micros = floor_by_text(&micros_text).and_then(|(v, _)| i64::try_from(v).ok());
            prop_assert_eq!(d.floor_scaled(6), micros, "{}", &text);
        }

        #[test]
        fn agrees_with_str_parse(
            negative in any::<bool>(),
            integer in "[0-9]{1,12}",
            fraction in proptest::option::of("[0-9]{0,12}"),
        ) {
            let mut text = String::new();
            if negative {
                text.push('-');
            }
            text.push_str(&integer);
            if let Some(f) = fraction {
                text.push('.');
                text.push_str(&f);
            }
            let ours = parse_f64(&text).map(f64::to_bits);
            let std = text.parse::<f64>().ok().map(f64::to_bits);
            prop_assert_eq!(ours, std, "{}", text);
        }
    }
}
