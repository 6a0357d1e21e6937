//! A JSON scanner that validates a whole record but materialises only the configured paths.
//!
//! Why not `serde_json::Value`: building a tree for every record costs more than the rest of the
//! transform. This scanner walks the bytes once, borrows strings and number text from the input
//! buffer, and hands the engine one [`Slot`] per configured field. Everything else is validated
//! and skipped; keys nobody asked for are reported as unknown fields (schema drift).

use std::borrow::Cow;

/// What the record held at one configured path.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot<'a> {
    /// The path is not in the record.
    Missing,
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as its JSON text.
    Number(&'a str),
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// An object, as its JSON text in the input (for a `json` column; others reject it).
    Object(&'a [u8]),
    /// An array, as its JSON text in the input.
    Array(&'a [u8]),
    /// Not there because the path met this kind of value (an array, a string…) where it goes on
    /// into an object: `payload.commits.sha` with `commits` an array. Read as missing, and counted.
    Unreached(&'static str),
}

impl Slot<'_> {
    /// The JSON kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Slot::Missing | Slot::Unreached(_) => "missing",
            Slot::Null => "null",
            Slot::Bool(_) => "boolean",
            Slot::Number(_) => "number",
            Slot::Str(_) => "string",
            Slot::Object(_) => "object",
            Slot::Array(_) => "array",
        }
    }
}

/// The configured paths as a tree of keys; a node may be a field (leaf) and have children.
///
/// Path `i` fills slot `i`. Several fields may read the same path (an `event_time` and an
/// `event_date` from one `ts`): the value goes to the first one's slot and is copied to the others.
#[derive(Debug, Clone, Default)]
pub struct PathTree {
    nodes: Vec<Node>,
    slot_count: usize,
}

#[derive(Debug, Clone, Default)]
struct Node {
    leaf: Option<usize>,
    /// Further slots of paths equal to the leaf's.
    also: Vec<usize>,
    children: Vec<Child>,
    /// Every slot at or below this node: a repeated key clears them first, so the last
    /// occurrence of a key decides everything below it (last wins, at every depth).
    subtree: Vec<usize>,
}

/// A key under a node, with its first eight bytes as one word: most keys differ there, so one
/// integer comparison settles most candidates.
#[derive(Debug, Clone)]
struct Child {
    head: u64,
    key: Box<[u8]>,
    node: usize,
}

impl Child {
    /// Whether the unescaped key `key`, whose first word is `head`, is this one.
    #[inline]
    fn is(&self, head: u64, key: &[u8]) -> bool {
        self.head == head
            && self.key.len() == key.len()
            && (key.len() <= 8 || self.key[8..] == key[8..])
    }
}

/// The first eight bytes of `buf[start..end]` (zero-padded) as a word, read in one load when the
/// buffer goes on for eight bytes (it nearly always does: a key is followed by its quote and colon).
#[inline]
fn head_at(buf: &[u8], start: usize, end: usize) -> u64 {
    match buf.get(start..start + 8) {
        Some(word) => {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            match end - start {
                len @ 0..=7 => word & ((1u64 << (len * 8)) - 1),
                _ => word,
            }
        }
        None => key_head(&buf[start..end]),
    }
}

/// The first eight bytes of `key` (zero-padded) as a word.
#[inline]
fn key_head(key: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = key.len().min(8);
    word[..n].copy_from_slice(&key[..n]);
    u64::from_le_bytes(word)
}

impl PathTree {
    /// Builds the tree; path `i` fills slot `i`.
    pub fn new<'p>(paths: impl IntoIterator<Item = &'p [String]>) -> Self {
        let mut tree = PathTree {
            nodes: vec![Node::default()],
            slot_count: 0,
        };
        for (slot, path) in paths.into_iter().enumerate() {
            tree.slot_count += 1;
            let mut node = 0;
            let mut visited = vec![0];
            for key in path {
                let bytes = key.as_bytes();
                node = match tree.child_position(node, key_head(bytes), bytes) {
                    Some(p) => tree.nodes[node].children[p].node,
                    None => {
                        tree.nodes.push(Node::default());
                        let n = tree.nodes.len() - 1;
                        tree.nodes[node].children.push(Child {
                            head: key_head(key.as_bytes()),
                            key: key.as_bytes().into(),
                            node: n,
                        });
                        n
                    }
                };
                visited.push(node);
            }
            match tree.nodes[node].leaf {
                Some(_) => tree.nodes[node].also.push(slot),
                None => tree.nodes[node].leaf = Some(slot),
            }
            for n in visited {
                tree.nodes[n].subtree.push(slot);
            }
        }
        tree
    }

    /// Marks the slots of paths that go on below `node` as [`Slot::Unreached`], because `node`
    /// holds a `kind` value instead of an object (a `null` there is only missing).
    #[cold]
    fn unreached_below(&self, node: usize, slots: &mut [Slot<'_>], kind: &'static str) {
        if kind == "null" {
            return;
        }
        let n = &self.nodes[node];
        for &s in &n.subtree {
            if n.leaf != Some(s) && !n.also.contains(&s) {
                slots[s] = Slot::Unreached(kind);
            }
        }
    }

    /// How many slots a record fills (one per path).
    pub fn slot_count(&self) -> usize {
        self.slot_count
    }

    /// The position among `node`'s children of the unescaped `key` whose first word is `head`.
    #[inline]
    fn child_position(&self, node: usize, head: u64, key: &[u8]) -> Option<usize> {
        self.nodes[node]
            .children
            .iter()
            .position(|c| c.is(head, key))
    }
}

/// Counts keys that no configured path asked for, by dotted path. Bounded: past
/// [`UnknownFields::MAX_NAMES`] distinct names, further ones are counted under `"(other)"`.
#[derive(Debug, Clone, Default)]
pub struct UnknownFields {
    /// Occurrences per dotted path.
    pub counts: ahash::AHashMap<String, u64>,
    scratch: Vec<u8>,
}

impl UnknownFields {
    /// Distinct names kept before counting the rest together.
    pub const MAX_NAMES: usize = 1_000;

    /// Adds the counts of `other`, found inside the elements at `prefix` (`payload.commits[*]`),
    /// under their names from the record.
    pub fn absorb(&mut self, other: UnknownFields, prefix: &str) {
        for (name, n) in other.counts {
            let name = if name == "(other)" {
                name
            } else {
                format!("{prefix}.{name}")
            };
            self.add(name, n);
        }
    }

    /// Moves the counts of `other` into these, emptying `other`.
    pub fn merge_from(&mut self, other: &mut UnknownFields) {
        for (name, n) in other.counts.drain() {
            self.add(name, n);
        }
    }

    /// Forgets the counts (of a value that turned out not to be JSON).
    pub fn clear(&mut self) {
        self.counts.clear();
    }

    /// Counts one occurrence of `name` (UTF-8 from checked JSON; anything else is replaced).
    pub fn count(&mut self, name: &[u8]) {
        let name = String::from_utf8_lossy(name);
        if let Some(n) = self.counts.get_mut(name.as_ref()) {
            *n += 1;
        } else {
            self.add(name.into_owned(), 1);
        }
    }

    fn add(&mut self, name: String, n: u64) {
        if let Some(count) = self.counts.get_mut(&name) {
            *count += n;
        } else if self.counts.len() < Self::MAX_NAMES {
            self.counts.insert(name, n);
        } else {
            *self.counts.entry("(other)".into()).or_default() += n;
        }
    }

    fn record(&mut self, parents: &[&[u8]], key: &[u8]) {
        self.scratch.clear();
        for p in parents {
            self.scratch.extend_from_slice(p);
            self.scratch.push(b'.');
        }
        self.scratch.extend_from_slice(key);
        let name = String::from_utf8_lossy(&self.scratch);
        if let Some(n) = self.counts.get_mut(name.as_ref()) {
            *n += 1;
        } else if self.counts.len() < Self::MAX_NAMES {
            self.counts.insert(name.into_owned(), 1);
        } else {
            *self.counts.entry("(other)".into()).or_default() += 1;
        }
    }
}

/// Why a value could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// The buffer ended inside the value; more input may complete it.
    Incomplete,
    /// Not valid JSON at byte `at` of the buffer.
    Invalid {
        /// Offset in the buffer.
        at: usize,
        /// What was expected or found.
        what: &'static str,
    },
}

/// The top-level shape of a scanned record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An object: slots are filled.
    Object,
    /// Some other JSON value (kind name).
    Other(&'static str),
}

/// The key layouts a [`Scanner`] learnt (see its `layouts`), kept from one scan to the next of
/// values of the same shape: the elements of an array the rows are taken from.
#[derive(Debug, Default)]
pub struct Layouts(Vec<Vec<LearnedKey>>);

/// The deepest nesting accepted: the record itself is level 1, a value inside a container one
/// level deeper than the container.
pub const MAX_DEPTH: usize = 128;
const TOO_DEEP: &str = "nesting no deeper than 128 levels";

/// Scans JSON values in `buf` starting at `pos`.
pub struct Scanner<'a> {
    buf: &'a [u8],
    /// Current offset in `buf`.
    pub pos: usize,
    /// Whether `buf` ends the input (so running out of bytes is an error, not "need more").
    eof: bool,
    /// Newlines skipped as whitespace since the caller last reset this (in valid JSON every
    /// newline is whitespace, so the reader counts lines without a pass of its own).
    pub newlines: u64,
    /// Offset just past the last newline counted in `newlines`.
    pub last_line_start: usize,
    /// Keys of the objects being walked, for naming unknown fields; reused across records.
    parents: Vec<&'a [u8]>,
    /// Per tree node, the keys the last object there had, in order, as written. Records from one
    /// producer list their keys in the same order and spelling, so the next key is first compared
    /// in place, bytes against bytes, with the one expected there: no scan for its closing quote,
    /// no search among the configured keys, no tree lookups.
    layouts: Vec<Vec<LearnedKey>>,
    /// Branch nodes whose key this record has had, one bit each (see `KeyAction::Configured`):
    /// only a repeated one has slots to clear, and nearly all records repeat no key.
    branches_seen: u64,
    /// Objects being walked whose whole value a field keeps as well (a `json` or nested column
    /// with paths below it): keys inside them are not unknown.
    inside_kept: u32,
}

/// A key as it was written at one place of an object, and what it means there.
#[derive(Debug, Clone)]
struct LearnedKey {
    /// The raw key bytes, the closing quote and, when it followed at once, the colon.
    pattern: Box<[u8]>,
    /// The first sixteen bytes of `pattern` as two words, with masks of the bytes that count.
    words: [u64; 2],
    masks: [u64; 2],
    /// Length of the raw key.
    key_len: usize,
    /// Whether `pattern` ends with the colon.
    colon: bool,
    action: KeyAction,
}

impl LearnedKey {
    fn new(raw_key: &[u8], colon: bool, action: KeyAction) -> Self {
        let mut pattern = raw_key.to_vec();
        pattern.push(b'"');
        if colon {
            pattern.push(b':');
        }
        let mut padded = [0u8; 16];
        let n = pattern.len().min(16);
        padded[..n].copy_from_slice(&pattern[..n]);
        let mut mask_bytes = [0u8; 16];
        mask_bytes[..n].fill(0xFF);
        let word = |b: &[u8; 16], half: usize| {
            u64::from_le_bytes(b[half * 8..half * 8 + 8].try_into().expect("eight bytes"))
        };
        Self {
            words: [word(&padded, 0), word(&padded, 1)],
            masks: [word(&mask_bytes, 0), word(&mask_bytes, 1)],
            pattern: pattern.into(),
            key_len: raw_key.len(),
            colon,
            action,
        }
    }
}

/// What a key's value is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyAction {
    /// No configured path names it: counted as an unknown field and skipped.
    Unknown,
    /// A configured path goes through or ends at tree node `node`.
    Configured {
        node: usize,
        /// The slot when a path ends here.
        leaf: Option<usize>,
        /// Whether paths go on below (an object value is walked).
        branch: bool,
        /// Whether other slots read the same path (the value is copied to them).
        shared: bool,
        /// For a branch, its bit in [`Scanner::branches_seen`] (all bits for nodes past 63:
        /// cleared whenever any branch was seen, which is always correct, only slower).
        seen_bit: u64,
    },
}

impl KeyAction {
    fn of(tree: &PathTree, node: usize, position: Option<usize>) -> Self {
        match position {
            None => KeyAction::Unknown,
            Some(p) => {
                let child = tree.nodes[node].children[p].node;
                KeyAction::Configured {
                    node: child,
                    leaf: tree.nodes[child].leaf,
                    branch: !tree.nodes[child].children.is_empty(),
                    shared: !tree.nodes[child].also.is_empty(),
                    seen_bit: 1u64.checked_shl(child as u32).unwrap_or(u64::MAX),
                }
            }
        }
    }
}

// Bytes that end the fast path of a string scan: quote, backslash and the control characters
// (U+0000..U+001F), which RFC 8259 forbids raw inside a string; a raw newline there means, in
// NDJSON, a truncated line.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t
};

impl<'a> Scanner<'a> {
    /// A scanner over `buf` from `pos`; `eof` says no more bytes will follow.
    pub fn new(buf: &'a [u8], pos: usize, eof: bool) -> Self {
        Self {
            buf,
            pos,
            eof,
            newlines: 0,
            last_line_start: 0,
            parents: Vec::new(),
            layouts: Vec::new(),
            branches_seen: 0,
            inside_kept: 0,
        }
    }

    /// A scanner over the checked JSON value `buf` (an element of an array), with the layouts an
    /// earlier one learnt from values of the same tree.
    pub fn resume(buf: &'a [u8], layouts: Layouts) -> Self {
        Self {
            layouts: layouts.0,
            ..Self::new(buf, 0, true)
        }
    }

    /// The layouts learnt, for the next [`Scanner::resume`].
    pub fn into_layouts(self) -> Layouts {
        Layouts(self.layouts)
    }

    fn short(&self) -> JsonError {
        if self.eof {
            JsonError::Invalid {
                at: self.buf.len(),
                what: "more input (the input ends inside a value)",
            }
        } else {
            JsonError::Incomplete
        }
    }

    fn invalid(&self, what: &'static str) -> JsonError {
        JsonError::Invalid { at: self.pos, what }
    }

    /// Skips JSON whitespace, counting newlines.
    #[inline]
    pub fn skip_ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            // Compact JSON has no blanks: one comparison settles the common case.
            if b > b' ' {
                return;
            }
            match b {
                b' ' | b'\t' | b'\r' => {}
                b'\n' => {
                    self.newlines += 1;
                    self.last_line_start = self.pos + 1;
                }
                _ => return,
            }
            self.pos += 1;
        }
    }

    /// The next byte, without consuming it.
    #[inline]
    pub fn peek(&self) -> Result<u8, JsonError> {
        self.buf.get(self.pos).copied().ok_or_else(|| self.short())
    }

    /// Scans one record (any JSON value); for an object, fills `slots` from `tree`.
    pub fn record(
        &mut self,
        tree: &PathTree,
        slots: &mut [Slot<'a>],
        unknown: &mut UnknownFields,
    ) -> Result<Shape, JsonError> {
        match self.peek()? {
            b'{' => {
                self.parents.clear();
                self.branches_seen = 0;
                // A record that failed inside a kept object left it counted.
                self.inside_kept = 0;
                if self.layouts.len() < tree.nodes.len() {
                    self.layouts.resize(tree.nodes.len(), Vec::new());
                }
                self.object(tree, 0, slots, unknown, 1)?;
                Ok(Shape::Object)
            }
            _ => {
                let kind = self.skip_value(1)?;
                if matches!(kind, "number" | "boolean" | "null") {
                    // A number or literal has no closing bracket: what follows must end it, or
                    // `007` and `truex` would read as several records (serde_json's rule too).
                    match self.buf.get(self.pos) {
                        None if !self.eof => return Err(JsonError::Incomplete),
                        None
                        | Some(
                            b' ' | b'\n' | b'\t' | b'\r' | b'"' | b'[' | b']' | b'{' | b'}' | b','
                            | b':',
                        ) => {}
                        Some(_) => {
                            return Err(self.invalid("a blank or a new record after a value"))
                        }
                    }
                }
                Ok(Shape::Other(kind))
            }
        }
    }

    fn object(
        &mut self,
        tree: &PathTree,
        node: usize,
        slots: &mut [Slot<'a>],
        unknown: &mut UnknownFields,
        depth: usize,
    ) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.invalid(TOO_DEEP));
        }
        self.pos += 1; // '{'
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(());
        }
        let mut key_index = 0;
        loop {
            self.skip_ws();
            if self.peek()? != b'"' {
                return Err(self.invalid("a '\"' to start an object key"));
            }
            let (raw_key, action, colon_read) = match self.learned_key(node, key_index) {
                Some(hit) => hit,
                None => {
                    let (raw_key, position) = self.key(tree, node)?;
                    let action = KeyAction::of(tree, node, position);
                    self.learn_key(node, key_index, raw_key, action);
                    (raw_key, action, false)
                }
            };
            key_index += 1;
            if !colon_read {
                self.skip_ws();
                if self.peek()? != b':' {
                    return Err(self.invalid("':' after an object key"));
                }
                self.pos += 1;
            }
            self.skip_ws();
            match action {
                KeyAction::Configured {
                    node: c,
                    leaf,
                    branch,
                    shared,
                    seen_bit,
                } => {
                    if branch {
                        // A repeated key replaces what an earlier occurrence filled below it.
                        if self.branches_seen & seen_bit != 0 {
                            for &s in &tree.nodes[c].subtree {
                                slots[s] = Slot::Missing;
                            }
                        }
                        self.branches_seen |= seen_bit;
                    }
                    if branch && self.peek()? == b'{' {
                        let start = self.pos;
                        self.parents.push(raw_key);
                        let kept = u32::from(leaf.is_some());
                        self.inside_kept += kept;
                        self.object(tree, c, slots, unknown, depth + 1)?;
                        self.inside_kept -= kept;
                        self.parents.pop();
                        if let Some(i) = leaf {
                            slots[i] = Slot::Object(&self.buf[start..self.pos]);
                        }
                    } else if let Some(i) = leaf {
                        slots[i] = self.scalar(depth + 1)?;
                        if branch {
                            tree.unreached_below(c, slots, slots[i].kind());
                        }
                    } else {
                        // A branch of configured paths holds a non-object: the paths through it
                        // do not go on.
                        let kind = self.skip_value(depth + 1)?;
                        tree.unreached_below(c, slots, kind);
                    }
                    if shared {
                        if let Some(i) = leaf {
                            for &j in &tree.nodes[c].also {
                                slots[j] = slots[i].clone();
                            }
                        }
                    }
                }
                KeyAction::Unknown => {
                    if self.inside_kept == 0 {
                        unknown.record(&self.parents, raw_key);
                    }
                    self.skip_value(depth + 1)?;
                }
            }
            self.skip_ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.invalid("',' or '}' after an object value")),
            }
        }
    }

    /// The key at `pos` (on its opening quote) when its bytes are the ones learnt at `index` of an
    /// object at `node`: its raw bytes, action and whether the colon was consumed too; else
    /// `None`, nothing consumed. Equal bytes up to an unescaped closing quote are the same key.
    #[inline]
    fn learned_key(&mut self, node: usize, index: usize) -> Option<(&'a [u8], KeyAction, bool)> {
        let learned = self.layouts.get(node)?.get(index)?;
        let start = self.pos + 1;
        // Sixteen bytes at once; near the end of the buffer the general path takes over.
        let window = self.buf.get(start..start + 16)?;
        let w0 = u64::from_le_bytes(window[..8].try_into().expect("eight bytes"));
        let w1 = u64::from_le_bytes(window[8..].try_into().expect("eight bytes"));
        let differ = ((w0 ^ learned.words[0]) & learned.masks[0])
            | ((w1 ^ learned.words[1]) & learned.masks[1]);
        if differ != 0 {
            return None;
        }
        let end = start + learned.pattern.len();
        if learned.pattern.len() > 16 && self.buf.get(start + 16..end)? != &learned.pattern[16..] {
            return None;
        }
        let (key_end, action, colon) = (start + learned.key_len, learned.action, learned.colon);
        self.pos = end;
        Some((&self.buf[start..key_end], action, colon))
    }

    /// Scans the key at `pos`: its raw bytes and, if configured, its child position under `node`.
    fn key(
        &mut self,
        tree: &PathTree,
        node: usize,
    ) -> Result<(&'a [u8], Option<usize>), JsonError> {
        let (start, end, escaped) = self.string_span()?;
        let raw_key = &self.buf[start..end];
        let position = if escaped {
            let key = unescape(raw_key).ok_or(JsonError::Invalid {
                at: start,
                what: "a valid escape sequence in the key",
            })?;
            tree.child_position(node, key_head(key.as_bytes()), key.as_bytes())
        } else {
            tree.child_position(node, head_at(self.buf, start, end), raw_key)
        };
        Ok((raw_key, position))
    }

    /// Remembers that the key at `index` of an object at `node` was written as `raw_key` (the
    /// scanner is just past its closing quote) and means `action`.
    fn learn_key(&mut self, node: usize, index: usize, raw_key: &[u8], action: KeyAction) {
        let colon = self.buf.get(self.pos) == Some(&b':');
        let Some(layout) = self.layouts.get_mut(node) else {
            return;
        };
        layout.truncate(index);
        if layout.len() == index {
            layout.push(LearnedKey::new(raw_key, colon, action));
        }
    }

    /// The value at `pos`, at nesting level `depth`. Inlined into the record's scan, its hot
    /// path, though [`raw::slot_of`] calls it too.
    #[inline(always)]
    pub(crate) fn scalar(&mut self, depth: usize) -> Result<Slot<'a>, JsonError> {
        Ok(match self.peek()? {
            b'"' => {
                let (start, end, escaped, ascii) = self.string_span_ascii()?;
                let raw = &self.buf[start..end];
                if escaped {
                    Slot::Str(Cow::Owned(unescape(raw).ok_or(JsonError::Invalid {
                        at: start,
                        what: "valid escape sequences and UTF-8 in a string",
                    })?))
                } else {
                    let text = if ascii {
                        // SAFETY: ASCII is valid UTF-8.
                        unsafe { std::str::from_utf8_unchecked(raw) }
                    } else {
                        std::str::from_utf8(raw).map_err(|_| JsonError::Invalid {
                            at: start,
                            what: "valid UTF-8 in a string",
                        })?
                    };
                    Slot::Str(Cow::Borrowed(text))
                }
            }
            b'-' | b'0'..=b'9' => Slot::Number(self.number()?),
            b't' => {
                self.literal(b"true")?;
                Slot::Bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                Slot::Bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                Slot::Null
            }
            b'{' => {
                let start = self.pos;
                self.skip_value(depth)?;
                Slot::Object(&self.buf[start..self.pos])
            }
            b'[' => {
                let start = self.pos;
                self.skip_value(depth)?;
                Slot::Array(&self.buf[start..self.pos])
            }
            _ => return Err(self.invalid("a JSON value")),
        })
    }

    /// The name of an object member at `pos` (on its opening quote), unescaped, and the colon
    /// after it: the scanner is left on the member's value.
    pub fn member_name(&mut self) -> Result<Cow<'a, [u8]>, JsonError> {
        if self.peek()? != b'"' {
            return Err(self.invalid("a '\"' to start an object key"));
        }
        let (start, end, escaped) = self.string_span()?;
        let name = if escaped {
            Cow::Owned(
                unescape(&self.buf[start..end])
                    .ok_or(JsonError::Invalid {
                        at: start,
                        what: "a valid escape sequence in the key",
                    })?
                    .into_bytes(),
            )
        } else {
            Cow::Borrowed(&self.buf[start..end])
        };
        self.skip_ws();
        if self.peek()? != b':' {
            return Err(self.invalid("':' after an object key"));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(name)
    }

    /// Skips one value at nesting level `depth` (the record itself is level 1), validating it;
    /// returns its kind.
    pub fn skip_value(&mut self, depth: usize) -> Result<&'static str, JsonError> {
        match self.peek()? {
            b'"' => {
                self.string_span()?;
                Ok("string")
            }
            b'-' | b'0'..=b'9' => {
                self.number()?;
                Ok("number")
            }
            b't' => self.literal(b"true").map(|_| "boolean"),
            b'f' => self.literal(b"false").map(|_| "boolean"),
            b'n' => self.literal(b"null").map(|_| "null"),
            open @ (b'{' | b'[') => {
                if depth > MAX_DEPTH {
                    return Err(self.invalid(TOO_DEEP));
                }
                self.pos += 1;
                let close = if open == b'{' { b'}' } else { b']' };
                self.skip_ws();
                if self.peek()? == close {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip_ws();
                        if open == b'{' {
                            if self.peek()? != b'"' {
                                return Err(self.invalid("a '\"' to start an object key"));
                            }
                            self.string_span()?;
                            self.skip_ws();
                            if self.peek()? != b':' {
                                return Err(self.invalid("':' after an object key"));
                            }
                            self.pos += 1;
                            self.skip_ws();
                        }
                        self.skip_value(depth + 1)?;
                        self.skip_ws();
                        match self.peek()? {
                            b',' => self.pos += 1,
                            c if c == close => {
                                self.pos += 1;
                                break;
                            }
                            _ if open == b'{' => {
                                return Err(self.invalid("',' or '}' after an object value"))
                            }
                            _ => return Err(self.invalid("',' or ']' after an array element")),
                        }
                    }
                }
                Ok(if open == b'{' { "object" } else { "array" })
            }
            _ => Err(self.invalid("a JSON value")),
        }
    }

    /// Scans a string at `pos` (on its opening quote); returns the span between the quotes,
    /// whether it contains escapes and whether it is all ASCII.
    fn string_span(&mut self) -> Result<(usize, usize, bool), JsonError> {
        self.string_span_ascii()
            .map(|(start, end, escaped, _)| (start, end, escaped))
    }

    /// [`Self::string_span`], and whether the string is all ASCII. Every string is checked whole,
    /// wanted or not, so the same bytes get the same verdict whatever the dataset maps: UTF-8,
    /// escapes (a `\u` surrogate only as a high-low pair), no raw control characters.
    #[inline(always)]
    fn string_span_ascii(&mut self) -> Result<(usize, usize, bool, bool), JsonError> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        let mut high = 0;
        loop {
            i = find_string_stop(self.buf, i, &mut high);
            match self.buf.get(i) {
                None => {
                    self.pos = i;
                    return Err(self.short());
                }
                Some(b'"') => {
                    self.pos = i + 1;
                    if high != 0 && !is_utf8(&self.buf[start..i]) {
                        return Err(JsonError::Invalid {
                            at: start,
                            what: "valid UTF-8 in a string",
                        });
                    }
                    return Ok((start, i, escaped, high == 0));
                }
                Some(b'\\') => {
                    escaped = true;
                    match self.buf.get(i + 1) {
                        None => {
                            self.pos = i;
                            return Err(self.short());
                        }
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => i = self.unicode_escape(i)?,
                        Some(_) => {
                            return Err(JsonError::Invalid {
                                at: i,
                                what: "a valid escape sequence (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                            })
                        }
                    }
                }
                Some(b'\n') => {
                    return Err(JsonError::Invalid {
                        at: i,
                        what: "a closing '\"' before the end of the line",
                    })
                }
                Some(_) => {
                    return Err(JsonError::Invalid {
                        at: i,
                        what: "no raw control character in a string (escape it as \\u00XX)",
                    })
                }
            }
        }
    }

    /// Checks the `\uXXXX` escape at `i` (and the low surrogate a high one must be followed by);
    /// returns the offset after it.
    #[inline(never)]
    fn unicode_escape(&mut self, i: usize) -> Result<usize, JsonError> {
        let Some(hex) = self.buf.get(i + 2..i + 6) else {
            self.pos = i;
            return Err(self.short());
        };
        let code = hex4(hex).ok_or(JsonError::Invalid {
            at: i,
            what: "four hex digits after \\u",
        })?;
        match code {
            0xD800..=0xDBFF => {
                // What may follow: `\u` and a low surrogate, DC00..DFFF.
                let low = &self.buf[i + 6..self.buf.len().min(i + 12)];
                let fits = low.iter().enumerate().all(|(k, &b)| match k {
                    0 => b == b'\\',
                    1 => b == b'u',
                    2 => matches!(b, b'd' | b'D'),
                    3 => matches!(b, b'c'..=b'f' | b'C'..=b'F'),
                    _ => b.is_ascii_hexdigit(),
                });
                if !fits {
                    return Err(JsonError::Invalid {
                        at: i,
                        what: "a low surrogate (\\uDC00-\\uDFFF) after a high one",
                    });
                }
                if low.len() < 6 {
                    self.pos = i;
                    return Err(self.short());
                }
                Ok(i + 12)
            }
            0xDC00..=0xDFFF => Err(JsonError::Invalid {
                at: i,
                what: "a high surrogate (\\uD800-\\uDBFF) before a low one",
            }),
            _ => Ok(i + 6),
        }
    }

    /// Scans a number; returns its text.
    #[inline(always)]
    fn number(&mut self) -> Result<&'a str, JsonError> {
        let b = self.buf;
        let start = self.pos;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i += digit_run(b, i + 1) + 1,
            Some(_) => {
                return Err(JsonError::Invalid {
                    at: i,
                    what: "a digit",
                })
            }
            None => return Err(self.short()),
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let n = digit_run(b, i);
            if n == 0 {
                return self.number_end(i, "a digit after '.'");
            }
            i += n;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let n = digit_run(b, i);
            if n == 0 {
                return self.number_end(i, "a digit in the exponent");
            }
            i += n;
        }
        if i == b.len() && !self.eof {
            // More digits may follow in the next read.
            return Err(JsonError::Incomplete);
        }
        self.pos = i;
        // SAFETY: only ASCII digits, signs, '.' and 'e'/'E' were accepted above.
        Ok(unsafe { std::str::from_utf8_unchecked(&b[start..i]) })
    }

    fn number_end(&self, i: usize, what: &'static str) -> Result<&'a str, JsonError> {
        if i == self.buf.len() && !self.eof {
            Err(JsonError::Incomplete)
        } else {
            Err(JsonError::Invalid { at: i, what })
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), JsonError> {
        let end = self.pos + word.len();
        match self.buf.get(self.pos..end) {
            Some(w) if w == word => {
                self.pos = end;
                Ok(())
            }
            Some(_) => Err(self.invalid("true, false or null")),
            None if word.starts_with(&self.buf[self.pos..]) => Err(self.short()),
            None => Err(self.invalid("true, false or null")),
        }
    }
}

/// Whether `bytes` are UTF-8; out of line, as strings in records are nearly all ASCII.
#[inline(never)]
fn is_utf8(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok()
}

/// How many ASCII digits `buf` has from `i` on. Eight bytes per step, like [`find_string_stop`].
#[inline(always)]
fn digit_run(buf: &[u8], i: usize) -> usize {
    const NIBBLE_HIGHS: u64 = u64::from_ne_bytes([0xF0; 8]);
    const THREES: u64 = u64::from_ne_bytes([0x30; 8]);
    const SIXES: u64 = u64::from_ne_bytes([0x06; 8]);
    let mut j = i;
    while let Some(chunk) = buf.get(j..j + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // A digit is 0x30..=0x39: high nibble 3, and adding 6 leaves it 3. Non-zero nibbles mark
        // the other bytes; a carry can only come out of a byte that is already marked, so the
        // lowest marked byte is exact.
        let marks =
            ((w & NIBBLE_HIGHS) ^ THREES) | ((w.wrapping_add(SIXES) & NIBBLE_HIGHS) ^ THREES);
        if marks != 0 {
            return j - i + (marks.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    while j < buf.len() && buf[j].is_ascii_digit() {
        j += 1;
    }
    j - i
}

/// The offset of the first quote, backslash or control character in `buf` at or after `i`
/// (`buf.len()` if none); the high bits of the bytes before it are or-ed into `high` (zero: all
/// ASCII). Eight bytes per step: strings in records are short, too short for `memchr`'s set-up.
#[inline]
fn find_string_stop(buf: &[u8], mut i: usize, high: &mut u64) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
    // Marks the bytes of `w` equal to `b`, and those below 0x20 (each exact for the lowest marked
    // byte, which is all we use).
    let marks = |w: u64, b: u8| {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let below_space = |w: u64| w.wrapping_sub(SPACES) & !w & HIGHS;
    while let Some(chunk) = buf.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let m = marks(w, b'"') | marks(w, b'\\') | below_space(w);
        if m != 0 {
            let stop = m.trailing_zeros() / 8;
            // The bytes below the stop: its lowest bit position is 8 * stop.
            *high |= w & HIGHS & ((1u64 << (stop * 8)) - 1);
            return i + stop as usize;
        }
        *high |= w & HIGHS;
        i += 8;
    }
    while i < buf.len() && !STRING_STOP[buf[i] as usize] {
        *high |= u64::from(buf[i] & 0x80);
        i += 1;
    }
    i
}

/// Decodes a JSON string body with escapes; `None` on a bad escape, lone surrogate or bad UTF-8.
pub fn unescape(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1)?;
        i += 2;
        let simple = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = hex4(raw.get(i..i + 4)?)?;
                i += 4;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if raw.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(raw.get(i + 2..i + 6)?)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                let ch = char::from_u32(code)?;
                let mut tmp = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                continue;
            }
            _ => return None,
        };
        out.push(simple);
    }
    String::from_utf8(out).ok()
}

fn hex4(h: &[u8]) -> Option<u32> {
    h.iter().try_fold(0, |code, &b| {
        char::from(b).to_digit(16).map(|digit| code * 16 + digit)
    })
}

pub mod raw;
#[cfg(test)]
mod tests;
