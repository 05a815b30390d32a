//! A minimal JSON reader and writer for the graph export format.
//!
//! The crate has no dependencies, so this is the small subset of JSON the
//! export needs, done carefully: the parser accepts any RFC 8259 document
//! whose numbers are non-negative integers that fit a `u64`, rejects the
//! rest with the byte offset of the problem, never panics, and bounds its
//! nesting depth ([`MAX_DEPTH`]) so hostile input cannot overflow the stack.
//! Every parsed value remembers where it started, so a caller validating the
//! document can point at the offending value too.

use core::fmt::{self, Write as _};

/// The deepest nesting of arrays and objects [`parse`] accepts.
pub(crate) const MAX_DEPTH: usize = 128;

/// A parsed JSON value and the byte offset where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Value {
    /// Byte offset of the value's first character in the parsed text.
    pub at: usize,
    /// What the value is.
    pub kind: Kind,
}

/// The kinds of JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A non-negative integer.
    Number(u64),
    /// A string, escapes resolved.
    Str(String),
    /// An array.
    Array(Vec<Value>),
    /// An object's members, in document order; keys are unique.
    Object(Vec<(String, Value)>),
}

/// A parse or validation error: where, and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Error {
    /// Byte offset into the text.
    pub offset: usize,
    /// What was wrong there.
    pub message: String,
}

impl Error {
    /// An error at `offset`.
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Error {
        Error {
            offset,
            message: message.into(),
        }
    }
}

impl Kind {
    /// The kind's name for messages: "a string", "an object", ...
    fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }
}

/// A JSON object being read, with its path in the document (`edges[3]`,
/// empty for the root) so that errors name what is wrong.
pub(crate) struct Object<'a> {
    members: &'a [(String, Value)],
    at: usize,
    path: String,
}

impl<'a> Object<'a> {
    /// `value`, found at `path`, as an object.
    pub(crate) fn new(value: &'a Value, path: String) -> Result<Object<'a>, Error> {
        match &value.kind {
            Kind::Object(members) => Ok(Object {
                members,
                at: value.at,
                path,
            }),
            _ => Err(Field { value, path }.mismatch("an object")),
        }
    }

    /// The member `key`; an error at the object if it is missing.
    pub(crate) fn get(&self, key: &str) -> Result<Field<'a>, Error> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        match self.members.iter().find(|(k, _)| k == key) {
            Some((_, value)) => Ok(Field { value, path }),
            None => Err(Error::new(self.at, format!("{path}: missing"))),
        }
    }
}

/// A value and its path in the document, with typed getters whose errors
/// name the path and point at the value.
pub(crate) struct Field<'a> {
    /// The value.
    pub value: &'a Value,
    /// Its path (`edges[3].kind`, empty for the root).
    pub path: String,
}

impl<'a> Field<'a> {
    /// An error at the value: "{path}: {message}".
    pub(crate) fn error(&self, message: impl fmt::Display) -> Error {
        let path = if self.path.is_empty() {
            "the document"
        } else {
            &self.path
        };
        Error::new(self.value.at, format!("{path}: {message}"))
    }

    fn mismatch(&self, expected: &str) -> Error {
        self.error(format_args!(
            "expected {expected}, found {}",
            self.value.kind.describe()
        ))
    }

    /// The value as a string.
    pub(crate) fn str(&self) -> Result<&'a str, Error> {
        match &self.value.kind {
            Kind::Str(s) => Ok(s),
            _ => Err(self.mismatch("a string")),
        }
    }

    /// The value as a string, or `None` for `null`.
    pub(crate) fn opt_str(&self) -> Result<Option<&'a str>, Error> {
        match &self.value.kind {
            Kind::Str(s) => Ok(Some(s)),
            Kind::Null => Ok(None),
            _ => Err(self.mismatch("a string or null")),
        }
    }

    /// The value as an integer.
    pub(crate) fn u64(&self) -> Result<u64, Error> {
        match self.value.kind {
            Kind::Number(n) => Ok(n),
            _ => Err(self.mismatch("an integer")),
        }
    }

    /// The value as a boolean.
    pub(crate) fn bool(&self) -> Result<bool, Error> {
        match self.value.kind {
            Kind::Bool(b) => Ok(b),
            _ => Err(self.mismatch("a boolean")),
        }
    }

    /// The value as an array's elements, each an object with path `path[i]`.
    pub(crate) fn objects(&self) -> Result<Vec<Object<'a>>, Error> {
        let Kind::Array(items) = &self.value.kind else {
            return Err(self.mismatch("an array"));
        };
        let path = |i| format!("{}[{i}]", self.path);
        (items.iter().enumerate())
            .map(|(i, v)| Object::new(v, path(i)))
            .collect()
    }
}

/// A `Display` adapter that writes a string as a quoted JSON string.
///
/// Quotes, backslashes and control characters are escaped; everything else,
/// non-ASCII included, is written as is (the output is UTF-8).
pub(crate) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// Parses one JSON document (surrounding whitespace allowed).
pub(crate) fn parse(text: &str) -> Result<Value, Error> {
    let mut p = Parser { text, pos: 0 };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.error("unexpected text after the JSON document"));
    }
    Ok(v)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// The text not read yet (`pos` is always a char boundary; be safe anyway).
    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::new(self.pos, message)
    }

    /// "found 'x'" or "found the end of the text", for messages.
    fn found(&self) -> String {
        match self.rest().chars().next() {
            Some(c) => format!("found {c:?}"),
            None => "found the end of the text".to_string(),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        let at = self.pos;
        let kind = match self.peek() {
            Some(b'{') => self.object(depth + 1)?,
            Some(b'[') => self.array(depth + 1)?,
            Some(b'"') => Kind::Str(self.string()?),
            Some(b'0'..=b'9') => Kind::Number(self.number()?),
            Some(b'-') => return Err(self.error("negative numbers are not supported")),
            Some(b't') => self.literal("true", Kind::Bool(true))?,
            Some(b'f') => self.literal("false", Kind::Bool(false))?,
            Some(b'n') => self.literal("null", Kind::Null)?,
            _ => return Err(self.error(format!("expected a value, {}", self.found()))),
        };
        Ok(Value { at, kind })
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Kind, Error> {
        if self.rest().starts_with(word) {
            self.pos += word.len();
            Ok(kind)
        } else {
            Err(self.error(format!("expected `{word}`")))
        }
    }

    fn enter(&self, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    }

    fn array(&mut self, depth: usize) -> Result<Kind, Error> {
        self.enter(depth)?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Kind::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Kind::Array(items));
                }
                _ => return Err(self.error(format!("expected ',' or ']', {}", self.found()))),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Kind, Error> {
        self.enter(depth)?;
        self.pos += 1; // '{'
        let mut members: Vec<(String, Value)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Kind::Object(members));
        }
        loop {
            self.skip_ws();
            let key_at = self.pos;
            if self.peek() != Some(b'"') {
                return Err(self.error(format!("expected a member name, {}", self.found())));
            }
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                return Err(Error::new(
                    key_at,
                    format!("duplicate member {}", Quoted(&key)),
                ));
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error(format!("expected ':', {}", self.found())));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Kind::Object(members));
                }
                _ => return Err(self.error(format!("expected ',' or '}}', {}", self.found()))),
            }
        }
    }

    fn number(&mut self) -> Result<u64, Error> {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        let digits = &self.text[start..self.pos];
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(Error::new(start, "numbers must not have leading zeros"));
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return Err(Error::new(
                start,
                "only integers are supported (no fractions or exponents)",
            ));
        }
        digits
            .parse::<u64>()
            .map_err(|_| Error::new(start, "number too large (the limit is 2^64 - 1)"))
    }

    fn string(&mut self) -> Result<String, Error> {
        let open = self.pos;
        self.pos += 1; // '"'
        let mut out = String::new();
        loop {
            // Copy the run of plain characters. It starts and ends next to an
            // ASCII byte (or the text's end), so both ends are char boundaries.
            let run = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => out.push(self.escape()?),
                Some(_) => return Err(self.error("control character in a string (escape it)")),
                None => return Err(Error::new(open, "unterminated string")),
            }
        }
    }

    /// Parses one escape sequence (at the backslash), two for a surrogate pair.
    fn escape(&mut self) -> Result<char, Error> {
        let at = self.pos;
        self.pos += 1; // '\\'
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                return self.unicode_escape(at);
            }
            _ => return Err(Error::new(at, "invalid escape sequence")),
        };
        self.pos += 1;
        Ok(c)
    }

    /// The rest of a `\uXXXX` escape that started at `at`.
    fn unicode_escape(&mut self, at: usize) -> Result<char, Error> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.rest().starts_with("\\u") {
                    return Err(Error::new(at, "unpaired high surrogate in \\u escape"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(Error::new(at, "high surrogate not followed by a low one"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => {
                return Err(Error::new(at, "unpaired low surrogate in \\u escape"));
            }
            c => c,
        };
        char::from_u32(code).ok_or_else(|| Error::new(at, "invalid \\u escape"))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self.rest().get(..4).unwrap_or("");
        let value = (digits.len() == 4)
            .then(|| {
                digits
                    .chars()
                    .try_fold(0, |v, c| Some(v * 16 + c.to_digit(16)?))
            })
            .flatten()
            .ok_or_else(|| self.error("expected four hex digits after \\u"))?;
        self.pos += 4;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Kind {
        let fail = |e: Error| panic!("{text:?} failed at {}: {}", e.offset, e.message);
        parse(text).unwrap_or_else(fail).kind
    }

    fn err(text: &str) -> Error {
        let e = parse(text).expect_err(text);
        assert!(e.offset <= text.len(), "{text:?}: offset past the end");
        e
    }

    fn s(x: &str) -> Kind {
        Kind::Str(x.to_string())
    }

    #[test]
    fn scalars() {
        assert_eq!(ok("null"), Kind::Null);
        assert_eq!(ok(" true "), Kind::Bool(true));
        assert_eq!(ok("false"), Kind::Bool(false));
        assert_eq!(ok("0"), Kind::Number(0));
        assert_eq!(ok("[]"), Kind::Array(vec![]));
        assert_eq!(ok("{ }"), Kind::Object(vec![]));
        assert_eq!(ok("18446744073709551615"), Kind::Number(u64::MAX));
        assert_eq!(
            ok(r#""a\"b\\c\/\n\t\r\b\f""#),
            s("a\"b\\c/\n\t\r\u{8}\u{c}")
        );
    }

    #[test]
    fn unicode_escapes_and_raw_utf8() {
        assert_eq!(ok(r#""\u00e9\u4e2d""#), s("é中"));
        assert_eq!(ok(r#""\ud83d\ude00""#), s("😀"));
        assert_eq!(ok(r#""\uD83D\uDE00""#), s("😀"));
        assert_eq!(ok("\"é😀x\""), s("é😀x"));
        assert_eq!(err(r#""\ud83d""#).offset, 1);
        assert_eq!(err(r#""\ud83dx""#).offset, 1);
        assert_eq!(err(r#""\ud83d\u0041""#).offset, 1);
        assert_eq!(err(r#""\ude00""#).offset, 1);
        err(r#""\u12""#);
        err(r#""\u12g4""#);
        err(r#""\u+123""#);
        err("\"\\u00é\"");
    }

    #[test]
    fn reader_errors_name_the_path_and_point_at_the_value() {
        let v = parse(r#"{"xs": [{"n": 1}, {"n": "one"}, 3], "s": null}"#).unwrap();
        let root = Object::new(&v, String::new()).unwrap();
        assert_eq!(
            root.members.iter().map(|m| &m.0).collect::<Vec<_>>(),
            ["xs", "s"]
        );
        assert_eq!(root.get("s").unwrap().value.at, 41);
        let e = root.get("xs").unwrap().objects().err().unwrap();
        assert_eq!(
            e,
            Error::new(32, "xs[2]: expected an object, found a number")
        );
        let Kind::Array(items) = &root.get("xs").unwrap().value.kind else {
            panic!("{v:?}")
        };
        let second = Object::new(&items[1], "xs[1]".into()).unwrap();
        let e = second.get("n").unwrap().u64().unwrap_err();
        assert_eq!(
            e,
            Error::new(24, "xs[1].n: expected an integer, found a string")
        );
        assert_eq!(
            second.get("m").err(),
            Some(Error::new(18, "xs[1].m: missing"))
        );
        assert_eq!(root.get("s").unwrap().opt_str(), Ok(None));
        assert!(root.get("s").unwrap().str().is_err());
        assert!(root.get("s").unwrap().bool().is_err());
        let e = Object::new(&items[2], String::new()).err().unwrap();
        assert_eq!(
            e.message,
            "the document: expected an object, found a number"
        );
    }

    #[test]
    fn write_then_parse_round_trips() {
        let samples = [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "line\nfeed\ttab\rret\u{0}\u{1f}\u{7f}",
            "ünïcödé 中文 😀 \u{2028}",
        ];
        for sample in samples {
            let out = Quoted(sample).to_string();
            assert_eq!(ok(&out), s(sample), "{out}");
        }
    }

    #[test]
    fn rejects_what_it_does_not_support() {
        assert!(err("-1").message.contains("negative"));
        assert!(err("1.5").message.contains("integers"));
        assert!(err("1e3").message.contains("integers"));
        assert!(err("18446744073709551616").message.contains("too large"));
        assert!(err("01").message.contains("leading zeros"));
        assert!(err(r#"{"a":1,"a":2}"#).message.contains("duplicate"));
    }

    #[test]
    fn malformed_input_is_an_error() {
        #[rustfmt::skip]
        let bad = [
            "", " ", "{", "[", "[1,", "[1 2]", "[1,]", "{\"a\"}", "{\"a\":}", "{a:1}",
            "{\"a\":1,}", "\"abc", "\"a\nb\"", "\"\\x\"", "tru", "nul", "True", "1 2",
            "}", "]", ",", "\"\\", "{\"a\":1", "[\"\\u", "\u{feff}{}", "[1]]", "{}x",
        ];
        for text in bad {
            err(text);
        }
    }

    #[test]
    fn every_truncation_of_a_document_is_an_error() {
        let doc = r#"{"k": [true, false, null, 12, "s\u00e9\"", {"x": []}], "é": "😀"}"#;
        ok(doc);
        for (end, _) in doc.char_indices().skip(1) {
            err(&doc[..end]);
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A small deterministic generator over JSON-ish characters.
        let alphabet: Vec<char> = "{}[]\",:\\u0123456789abcdefnlrstx -.eE\n é😀"
            .chars()
            .collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let len = (seed % 24) as usize;
            let mut text = String::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            if let Err(e) = parse(&text) {
                assert!(e.offset <= text.len());
            }
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        ok(&deep(MAX_DEPTH));
        assert!(err(&deep(MAX_DEPTH + 1)).message.contains("nesting"));
        // Far deeper than any stack would survive unbounded, truncated or not.
        err(&"[".repeat(1_000_000));
        err(&"{\"a\":".repeat(1_000_000));
        err(&deep(100_000));
    }
}
