//! Decimal text to `f64`, quickly for the common case and exactly like `str::parse` always.
//!
//! Feeds send short decimals ("36.709037", "1019.43"). For those, Clinger's fast path applies:
//! with at most 19 digits, a mantissa below 2^53 and at most 22 fraction digits, both the digits
//! and the power of ten are exact `f64` values, and one IEEE division rounds their quotient
//! correctly — the same result the full algorithm in `str::parse` gives, in a fraction of the
//! time. Everything else (exponents, long mantissas, a leading '+', "inf") goes to `str::parse`.

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

#[cfg(test)]
mod tests {
    use super::*;
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

    proptest! {
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
