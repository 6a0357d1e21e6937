//! Source paths: member names into objects, then optionally steps into arrays
//! (`payload.commits[0].sha`, `items[-1]`, `entities.hashtags[*].text`,
//! `attributes[key=service.name].value.stringValue`, `tags[0=level][1]`).

use std::fmt;

/// One step of a path after its first bracket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The member of an object with this name.
    Key(String),
    /// The element of an array at this position; negative counts from the end (`-1` the last).
    Index(i64),
    /// Every element of an array: the column is an `array<T>` of what the rest of the path finds
    /// in each element.
    Each,
    /// The first element of an array whose value at `at` (member names and positions inside the
    /// element) is the scalar `value`.
    Match {
        /// Where inside each element the value is compared.
        at: Vec<Step>,
        /// The text compared with: a string's own text, a number as written, `true`/`false`.
        value: String,
    },
}

/// A parsed path: the member names the decoder follows, then the steps into arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePath {
    /// Member names from the record down to the first bracket.
    pub keys: Vec<String>,
    /// Steps from the first bracket on (empty for a path of member names only).
    pub steps: Vec<Step>,
}

impl SourcePath {
    /// Reads a dotted path (`a.b[0].c`): `.` separates member names, `[...]` steps into an array.
    pub fn dotted(text: &str) -> Result<Self, String> {
        let mut steps = Vec::new();
        let mut rest = text;
        let mut after_bracket = false;
        loop {
            if let Some(inner) = rest.strip_prefix('[') {
                let (step, after) = bracket(inner, text)?;
                steps.push(step);
                rest = after;
                after_bracket = true;
                continue;
            }
            if after_bracket {
                match rest.strip_prefix('.') {
                    Some(after) => rest = after,
                    None if rest.is_empty() => break,
                    None => return Err(format!("{text:?}: expected '.' or '[' after ']'")),
                }
            }
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.is_empty() {
                return Err(format!(
                    "{text:?}: empty member name; use [\"a.b\", \"c\"] for names with dots"
                ));
            }
            steps.push(Step::Key(key.to_string()));
            rest = &rest[end..];
            after_bracket = false;
            match rest.strip_prefix('.') {
                Some(after) => rest = after,
                None if rest.is_empty() => break,
                None => {}
            }
            if rest.is_empty() {
                return Err(format!("{text:?}: the path ends with '.'"));
            }
        }
        Self::from_steps(steps, text)
    }

    /// Reads a path given one entry per member name (for names with dots or brackets in them);
    /// an entry that is a whole bracket (`"[0]"`, `"[*]"`) is a step into an array.
    pub fn segments(entries: &[String]) -> Result<Self, String> {
        let text = entries.join(".");
        let mut steps = Vec::with_capacity(entries.len());
        for entry in entries {
            if entry.is_empty() {
                return Err(format!("{entries:?}: empty member name"));
            }
            match entry.strip_prefix('[').filter(|_| entry.ends_with(']')) {
                Some(inner) => {
                    let (step, rest) = bracket(inner, &text)?;
                    if !rest.is_empty() {
                        return Err(format!("{entry:?}: one step per entry"));
                    }
                    steps.push(step);
                }
                None => steps.push(Step::Key(entry.clone())),
            }
        }
        Self::from_steps(steps, &text)
    }

    fn from_steps(steps: Vec<Step>, text: &str) -> Result<Self, String> {
        let first_bracket = steps
            .iter()
            .position(|s| !matches!(s, Step::Key(_)))
            .unwrap_or(steps.len());
        if first_bracket == 0 {
            return Err(format!(
                "{text:?}: a path starts with a member name (records are objects)"
            ));
        }
        let mut keys = steps;
        let steps = keys.split_off(first_bracket);
        let keys = keys
            .into_iter()
            .map(|s| match s {
                Step::Key(k) => k,
                _ => unreachable!("only keys before the first bracket"),
            })
            .collect();
        Ok(SourcePath { keys, steps })
    }

    /// Whether a step takes every element of an array.
    pub fn has_each(&self) -> bool {
        self.steps.contains(&Step::Each)
    }

    /// Every step of the path, its member names as [`Step::Key`]s.
    pub fn all_steps(&self) -> Vec<Step> {
        let keys = self.keys.iter().map(|k| Step::Key(k.clone()));
        keys.chain(self.steps.iter().cloned()).collect()
    }

    /// The path of `steps` taken from inside an array's element: its leading member names (none
    /// when it starts at the element itself or with a position) and the steps after them.
    pub fn within_element(steps: &[Step]) -> Self {
        let names = steps
            .iter()
            .take_while(|s| matches!(s, Step::Key(_)))
            .count();
        let keys = steps[..names]
            .iter()
            .map(|s| match s {
                Step::Key(k) => k.clone(),
                _ => unreachable!("only keys counted"),
            })
            .collect();
        SourcePath {
            keys,
            steps: steps[names..].to_vec(),
        }
    }
}

/// The text of a sequence of steps as a path (`payload.commits[*]`).
pub fn path_text(steps: &[Step]) -> String {
    let mut text = String::new();
    for step in steps {
        let part = step.to_string();
        match part.strip_prefix('.') {
            Some(name) if text.is_empty() => text.push_str(name),
            _ => text.push_str(&part),
        }
    }
    text
}

/// The step inside `[...]` (`inner` starts after the `[`), and the text after the `]`.
fn bracket<'t>(inner: &'t str, whole: &str) -> Result<(Step, &'t str), String> {
    let bad = |why: &str| {
        format!(
            "{whole:?}: {why}; write [0], [-1], [*], [name=value] or [0=value] after a member name"
        )
    };
    // A quoted value may hold ']' itself: `[name="a]b"]`.
    let close = match inner.find("=\"") {
        Some(eq) if inner[..eq].find(']').is_none() => {
            let quoted = &inner[eq + 1..];
            let end = closing_quote(quoted).ok_or_else(|| bad("an unterminated quoted value"))?;
            eq + 1 + end + 1
        }
        _ => 0,
    };
    let len = close
        + inner[close..]
            .find(']')
            .ok_or_else(|| bad("a '[' without its ']'"))?;
    let body = &inner[..len];
    let rest = &inner[len + 1..];
    let step = if body == "*" {
        Step::Each
    } else if let Some((at, value)) = body.split_once('=') {
        let at = at
            .split('.')
            .map(|part| match part.parse::<i64>() {
                Ok(i) => Ok(Step::Index(i)),
                Err(_) if part.is_empty() => Err(bad("an empty name before '='")),
                Err(_) => Ok(Step::Key(part.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let value = match value.strip_prefix('"') {
            Some(_) => serde_json::from_str::<String>(value)
                .map_err(|_| bad("a quoted value that is a JSON string"))?,
            None => value.to_string(),
        };
        Step::Match { at, value }
    } else {
        Step::Index(
            body.trim()
                .parse()
                .map_err(|_| bad(&format!("[{body}] is not a position")))?,
        )
    };
    Ok((step, rest))
}

/// The position of the quote that closes the JSON string `quoted` (which starts with its own).
fn closing_quote(quoted: &str) -> Option<usize> {
    let bytes = quoted.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Key(k) => write!(f, ".{k}"),
            Step::Index(i) => write!(f, "[{i}]"),
            Step::Each => f.write_str("[*]"),
            Step::Match { at, value } => {
                let at: Vec<String> = at
                    .iter()
                    .map(|s| match s {
                        Step::Key(k) => k.clone(),
                        other => other.to_string().trim_matches(['[', ']']).to_string(),
                    })
                    .collect();
                write!(f, "[{}={value}]", at.join("."))
            }
        }
    }
}

impl fmt::Display for SourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keys.join("."))?;
        for step in &self.steps {
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Step {
        Step::Key(k.into())
    }

    #[test]
    fn member_names_then_steps_into_arrays() {
        let p = SourcePath::dotted("payload.commits[0].sha").unwrap();
        assert_eq!(p.keys, ["payload", "commits"]);
        assert_eq!(p.steps, [Step::Index(0), key("sha")]);

        let p = SourcePath::dotted("items[-1]").unwrap();
        assert_eq!(p.steps, [Step::Index(-1)]);

        let p = SourcePath::dotted("entities.hashtags[*].text").unwrap();
        assert_eq!(p.steps, [Step::Each, key("text")]);

        let p = SourcePath::dotted("attributes[key=service.name].value.stringValue").unwrap();
        assert_eq!(p.keys, ["attributes"]);
        assert_eq!(
            p.steps,
            [
                Step::Match {
                    at: vec![key("key")],
                    value: "service.name".into()
                },
                key("value"),
                key("stringValue")
            ]
        );
        assert_eq!(
            p.to_string(),
            "attributes[key=service.name].value.stringValue"
        );

        let p = SourcePath::dotted("tags[0=level][1]").unwrap();
        assert_eq!(
            p.steps,
            [
                Step::Match {
                    at: vec![Step::Index(0)],
                    value: "level".into()
                },
                Step::Index(1)
            ]
        );

        let p = SourcePath::dotted(r#"a[name="x]\"y"].b"#).unwrap();
        assert_eq!(
            p.steps,
            [
                Step::Match {
                    at: vec![key("name")],
                    value: "x]\"y".into()
                },
                key("b")
            ]
        );
        assert_eq!(
            SourcePath::dotted("location.lat").unwrap(),
            SourcePath {
                keys: vec!["location".into(), "lat".into()],
                steps: vec![]
            }
        );
    }

    #[test]
    fn segments_keep_dots_and_take_whole_brackets() {
        let entries: Vec<String> = ["meta.v1", "[*]", "lat"].map(String::from).to_vec();
        let p = SourcePath::segments(&entries).unwrap();
        assert_eq!(p.keys, ["meta.v1"]);
        assert_eq!(p.steps, [Step::Each, key("lat")]);
    }

    #[test]
    fn bad_paths_are_refused_with_the_path() {
        for text in [
            "a..b", "a.", ".a", "[0].a", "a[0", "a[x]", "a[0]b", "a[=v]", "a[k=\"v]",
        ] {
            let message = SourcePath::dotted(text).unwrap_err();
            assert!(message.contains(&format!("{text:?}")), "{text}: {message}");
        }
    }
}
