//! Hive partition paths: values escaped the way Hive's `FileUtils.escapePathName` does, so Athena,
//! Glue, Hive and Spark read back exactly the values written.

/// The value Hive, Glue and Athena use for a null or empty partition value.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Escapes a partition value for a path segment the way Hive's `FileUtils.escapePathName` does, so
/// data can never add directories (`/`), fake a key (`=`) or break the layout. `None` and `""`
/// become [`DEFAULT_PARTITION`].
pub fn escape_value(value: Option<&str>, out: &mut String) {
    let value = match value {
        None | Some("") => {
            out.push_str(DEFAULT_PARTITION);
            return;
        }
        Some(v) => v,
    };
    for ch in value.chars() {
        if needs_escape(ch) {
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        } else {
            out.push(ch);
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn needs_escape(ch: char) -> bool {
    matches!(
        ch,
        '\u{00}'
            ..='\u{1F}'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\u{7F}'
                | '{'
                | '['
                | ']'
                | '^'
    )
}

/// The longest path segment (`name=escaped value`) written, in bytes: the limit of common file
/// systems (ext4, XFS, APFS), so a table's layout is the same in a local directory and in S3.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// Why a value cannot be a partition value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionValueError {
    /// `__HIVE_DEFAULT_PARTITION__` itself: Hive, Glue and Athena read it back as null.
    Reserved,
    /// Its path segment is longer than [`MAX_SEGMENT_BYTES`].
    TooLong,
}

/// `year=2020/month=06/device_id=A/` for partition names and values (empty for no partitions).
/// Equal paths hold equal values (escaping is one-to-one), except that null and `""` are both
/// the default partition; a value that would be mistaken for it, or does not fit a segment, is
/// refused.
pub fn partition_path<'v>(
    names: &[String],
    values: impl IntoIterator<Item = Option<&'v str>>,
) -> Result<String, (usize, PartitionValueError)> {
    let mut out = String::new();
    for (i, (name, value)) in names.iter().zip(values).enumerate() {
        if value == Some(DEFAULT_PARTITION) {
            return Err((i, PartitionValueError::Reserved));
        }
        let start = out.len();
        out.push_str(name);
        out.push('=');
        escape_value(value, &mut out);
        if out.len() - start > MAX_SEGMENT_BYTES {
            return Err((i, PartitionValueError::TooLong));
        }
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn esc(v: Option<&str>) -> String {
        let mut s = String::new();
        escape_value(v, &mut s);
        s
    }

    #[test]
    fn escapes_like_hive() {
        assert_eq!(esc(Some("dev-0042")), "dev-0042");
        assert_eq!(esc(Some("a/b")), "a%2Fb");
        assert_eq!(esc(Some("k=v")), "k%3Dv");
        assert_eq!(esc(Some("100%")), "100%25");
        assert_eq!(esc(Some("it's \"x\"")), "it%27s %22x%22");
        assert_eq!(esc(Some("tab\there\n")), "tab%09here%0A");
        assert_eq!(esc(Some("..")), "..");
        assert_eq!(esc(Some("café")), "café");
        assert_eq!(esc(Some("")), DEFAULT_PARTITION);
        assert_eq!(esc(None), DEFAULT_PARTITION);
    }

    #[test]
    fn paths() {
        let names = ["year", "month", "device_id"].map(String::from);
        assert_eq!(
            partition_path(&names, [Some("2020"), Some("06"), Some("A/B")]),
            Ok("year=2020/month=06/device_id=A%2FB/".into())
        );
        assert_eq!(
            partition_path(&names, [Some("2020"), None, Some("")]),
            Ok(
                "year=2020/month=__HIVE_DEFAULT_PARTITION__/device_id=__HIVE_DEFAULT_PARTITION__/"
                    .into()
            )
        );
        assert_eq!(partition_path(&[], []), Ok(String::new()));
        assert_eq!(
            partition_path(&names, [Some("2020"), Some(DEFAULT_PARTITION), None]),
            Err((1, PartitionValueError::Reserved))
        );
        // "device_id=" is 10 bytes: 245 bytes of value fit, 246 do not, nor 82 escaped bytes.
        let fits = "x".repeat(245);
        let path = partition_path(&names[2..], [Some(fits.as_str())]).unwrap();
        assert_eq!(path.len(), MAX_SEGMENT_BYTES + 1);
        let long = "x".repeat(246);
        assert_eq!(
            partition_path(&names[2..], [Some(long.as_str())]),
            Err((0, PartitionValueError::TooLong))
        );
        let escaped = "/".repeat(82);
        assert_eq!(
            partition_path(&names[2..], [Some(escaped.as_str())]),
            Err((0, PartitionValueError::TooLong))
        );
    }

    proptest! {
        #[test]
        fn escaped_values_stay_one_segment_and_round_trip(v in any::<String>()) {
            let s = esc(Some(&v));
            prop_assert!(!s.contains('/'));
            prop_assert!(!s.contains('='));
            prop_assert!(!s.chars().any(|c| c.is_control()));
            prop_assert!(!s.is_empty());
            let back = (s != DEFAULT_PARTITION).then(|| super::super::percent_decode(&s, false).unwrap());
            if v.is_empty() { prop_assert_eq!(back, None) } else { prop_assert_eq!(back, Some(v)) }
        }
    }
}
