//! References for tests, written from the rules of the systems we feed and from the documented
//! casts, by another route than the code they check.

/// The string literals of a Hive statement, in order, as its lexer finds them (`'…'` or `"…"`,
/// a backslash taking the next character with it), each unescaped by [`hive_unescape`].
pub fn hive_string_literals(statement: &str) -> Vec<String> {
    let chars: Vec<char> = statement.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let quote = chars[i];
        if quote != '\'' && quote != '"' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < chars.len() && chars[i] != quote {
            i += if chars[i] == '\\' { 2 } else { 1 };
        }
        let token: String = chars[start..=i.min(chars.len() - 1)].iter().collect();
        out.push(hive_unescape(&token));
        i += 1;
    }
    out
}

/// Hive's `BaseSemanticAnalyzer.unescapeSQLString`, rule for rule (Hive 2.x/3.x, what Athena's
/// DDL runs on), over UTF-16 code units as Java strings are: the reference every literal we
/// write must come back through unchanged.
pub fn hive_unescape(literal: &str) -> String {
    let b: Vec<u16> = literal.encode_utf16().collect();
    let at = |i: usize| char::from_u32(u32::from(b[i])).unwrap_or('\u{FFFD}');
    let mut out: Vec<u16> = Vec::new();
    let mut enclosure: Option<u16> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let Some(quote) = enclosure else {
            if c == u16::from(b'\'') || c == u16::from(b'"') {
                enclosure = Some(c);
            }
            i += 1;
            continue;
        };
        if c == quote {
            enclosure = None;
            i += 1;
            continue;
        }
        let backslash = c == u16::from(b'\\');
        if backslash && i + 6 < b.len() && at(i + 1) == 'u' {
            let code = (0..4).fold(0u32, |code, j| {
                (code << 4) + at(i + 2 + j).to_digit(16).map_or(u32::MAX, |d| d)
                // Java: -1
            });
            out.push(code as u16);
            i += 6;
            continue;
        }
        if backslash && i + 4 < b.len() {
            let (i1, i2, i3) = (at(i + 1), at(i + 2), at(i + 3));
            if ('0'..='1').contains(&i1) && ('0'..='7').contains(&i2) && ('0'..='7').contains(&i3) {
                let byte = (i1 as u32 - 48) * 64 + (i2 as u32 - 48) * 8 + (i3 as u32 - 48);
                out.push(byte as u16);
                i += 4;
                continue;
            }
        }
        if backslash && i + 2 < b.len() {
            let n = at(i + 1);
            let replacement: &str = match n {
                '0' => "\0",
                '\'' => "'",
                '"' => "\"",
                'b' => "\u{8}",
                'n' => "\n",
                'r' => "\r",
                't' => "\t",
                'Z' => "\u{1A}",
                '\\' => "\\",
                '%' => "\\%",
                '_' => "\\_",
                _ => "",
            };
            if replacement.is_empty() {
                out.push(b[i + 1]);
            } else {
                out.extend(replacement.encode_utf16());
            }
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    String::from_utf16_lossy(&out)
}

/// The floor of a decimal text's value and whether it is an integer, by a route of its own:
/// the digits as a string, with the point moved. `None` past 38 digits.
pub fn floor_by_text(text: &str) -> Option<(i128, bool)> {
    let (negative, body) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], body[at + 1..].parse::<i64>().ok()?),
        None => (body, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits = format!("{whole}{fraction}");
    if digits.bytes().all(|b| b == b'0') {
        return Some((0, true));
    }
    let mut point = whole.len() as i64 + exp; // digits before the point
    if point > 80 {
        return None;
    }
    while (digits.len() as i64) < point {
        digits.push('0');
    }
    if point < 0 {
        digits.insert_str(0, &"0".repeat((-point) as usize));
        point = 0;
    }
    let (int, frac) = digits.split_at(point as usize);
    let integral = frac.bytes().all(|b| b == b'0');
    let int = int.trim_start_matches('0');
    if int.len() > 38 {
        return None;
    }
    let v: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    Some(match (negative, integral) {
        (false, _) => (v, integral),
        (true, true) => (-v, true),
        (true, false) => (-v - 1, false),
    })
}
