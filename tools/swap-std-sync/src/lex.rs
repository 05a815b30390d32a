//! A Rust lexer just fine enough to tell code from comments and literals.
//!
//! It yields every token but whitespace, with its byte range: paths are made
//! of `Ident` and `PathSep` tokens; strings, chars and numbers are one
//! `Literal` each, so nothing inside them looks like a path.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An identifier or keyword (`r#raw` included).
    Ident,
    /// `::`.
    PathSep,
    /// Any other single punctuation character.
    Punct,
    /// A string, byte string, C string, raw string, char or number.
    Literal,
    /// `'a`, a lifetime or a label.
    Lifetime,
    /// A comment that documents nothing: `//`, `/* */`, `////`.
    Comment,
    /// `//!` or `/*!`: documents the enclosing item.
    InnerDoc,
    /// `///` or `/**`: documents the next item.
    OuterDoc,
}

/// A token: its kind and byte range in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Token {
    /// The token's text in `src`.
    pub fn text<'s>(&self, src: &'s str) -> &'s str {
        &src[self.start..self.end]
    }

    /// Whether it is comment or doc comment, not code.
    pub fn is_comment(&self) -> bool {
        matches!(self.kind, Kind::Comment | Kind::InnerDoc | Kind::OuterDoc)
    }
}

/// A source the lexer cannot read to its end (an unterminated literal or comment).
#[derive(Debug, PartialEq, Eq)]
pub struct LexError {
    /// Where the unterminated token starts.
    pub offset: usize,
    /// What is unterminated.
    pub what: &'static str,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn ident_end(src: &str, mut i: usize) -> usize {
    while let Some(c) = src[i..].chars().next() {
        if !is_ident_continue(c) {
            break;
        }
        i += c.len_utf8();
    }
    i
}

/// If a raw string (`r"`, `r#"`, `br"`, `cr#"`, ...) starts at `i`, its end.
fn raw_string_end(src: &str, i: usize) -> Option<Result<usize, LexError>> {
    let rest = &src[i..];
    let after_prefix = ["r", "br", "cr"]
        .iter()
        .find_map(|p| rest.strip_prefix(p))?;
    let hashes = after_prefix.len() - after_prefix.trim_start_matches('#').len();
    if !after_prefix[hashes..].starts_with('"') {
        return None;
    }
    let body = i + (rest.len() - after_prefix.len()) + hashes + 1;
    let close = format!("\"{}", "#".repeat(hashes));
    Some(match src[body..].find(&close) {
        Some(n) => Ok(body + n + close.len()),
        None => Err(LexError {
            offset: i,
            what: "raw string",
        }),
    })
}

/// The end of a string whose opening quote ends at `i`.
fn string_end(src: &str, start: usize, mut i: usize) -> Result<usize, LexError> {
    while let Some(c) = src[i..].chars().next() {
        i += c.len_utf8();
        match c {
            '"' => return Ok(i),
            '\\' => {
                if let Some(e) = src[i..].chars().next() {
                    i += e.len_utf8();
                }
            }
            _ => {}
        }
    }
    Err(LexError {
        offset: start,
        what: "string",
    })
}

/// Lexes `src` into tokens (whitespace dropped, comments kept).
pub fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = src[i..].chars().next() {
        let start = i;
        let rest = &src[i..];
        let kind = if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        } else if rest.starts_with("//") {
            i = rest.find('\n').map_or(src.len(), |n| i + n);
            let text = &src[start..i];
            if text.starts_with("//!") {
                Kind::InnerDoc
            } else if text.starts_with("///") && !text.starts_with("////") {
                Kind::OuterDoc
            } else {
                Kind::Comment
            }
        } else if rest.starts_with("/*") {
            let mut depth = 0usize;
            loop {
                let r = &src[i..];
                if r.starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if r.starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else if let Some(ch) = r.chars().next() {
                    i += ch.len_utf8();
                } else {
                    return Err(LexError {
                        offset: start,
                        what: "block comment",
                    });
                }
            }
            let text = &src[start..i];
            if text.starts_with("/*!") {
                Kind::InnerDoc
            } else if text.starts_with("/**") && !text.starts_with("/***") && text != "/**/" {
                Kind::OuterDoc
            } else {
                Kind::Comment
            }
        } else if c == '"' {
            i = string_end(src, start, i + 1)?;
            Kind::Literal
        } else if c == '\'' {
            let after = &src[i + 1..];
            match after.chars().next() {
                Some('\\') => {
                    // An escaped char: skip the escaped character, then up to the quote.
                    let mut j = i + 2;
                    if let Some(e) = src[j..].chars().next() {
                        j += e.len_utf8();
                    }
                    match src[j..].find('\'') {
                        Some(n) => i = j + n + 1,
                        None => {
                            return Err(LexError {
                                offset: start,
                                what: "char literal",
                            })
                        }
                    }
                    Kind::Literal
                }
                Some(ch) if after[ch.len_utf8()..].starts_with('\'') => {
                    i += 1 + ch.len_utf8() + 1;
                    Kind::Literal
                }
                Some(_) => {
                    let j = if after.starts_with("r#") {
                        i + 3
                    } else {
                        i + 1
                    };
                    i = ident_end(src, j);
                    Kind::Lifetime
                }
                None => {
                    return Err(LexError {
                        offset: start,
                        what: "char literal",
                    })
                }
            }
        } else if let Some(end) = raw_string_end(src, i) {
            i = end?;
            Kind::Literal
        } else if rest.starts_with("r#") && rest[2..].chars().next().is_some_and(is_ident_start) {
            i = ident_end(src, i + 2);
            Kind::Ident
        } else if is_ident_start(c) {
            // `b"..."`, `c"..."` and `b'x'` lex as the ident `b`/`c` and a literal.
            i = ident_end(src, i);
            Kind::Ident
        } else if c.is_ascii_digit() {
            i = ident_end(src, i);
            Kind::Literal
        } else if rest.starts_with("::") {
            i += 2;
            Kind::PathSep
        } else {
            i += c.len_utf8();
            Kind::Punct
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, &str)> {
        lex(src)
            .unwrap()
            .iter()
            .map(|t| (t.kind, t.text(src)))
            .collect()
    }

    #[test]
    fn paths_are_idents_and_separators() {
        assert_eq!(
            kinds("::std::sync"),
            [
                (Kind::PathSep, "::"),
                (Kind::Ident, "std"),
                (Kind::PathSep, "::"),
                (Kind::Ident, "sync")
            ]
        );
    }

    #[test]
    fn literals_hide_their_contents() {
        let src = r####"a "std::sync \" x" r#"std::sync " "# b"std::sync" '"' '\'' b'\\' c'x"####;
        let k = kinds(src);
        assert_eq!(
            k.iter().filter(|(k, _)| *k == Kind::Literal).count(),
            6,
            "{k:?}"
        );
        assert!(!k.iter().any(|(_, t)| *t == "sync"), "{k:?}");
    }

    #[test]
    fn lifetimes_are_not_chars() {
        let k = kinds("fn f<'a>(x: &'a str) -> char { 'x' }");
        assert!(k.contains(&(Kind::Lifetime, "'a")));
        assert!(k.contains(&(Kind::Literal, "'x'")));
    }

    #[test]
    fn comments_nest_and_are_classified() {
        let k = kinds("/* a /* std::sync */ b */ //! inner\n/// outer\n//// plain\nx");
        assert_eq!(
            k,
            [
                (Kind::Comment, "/* a /* std::sync */ b */"),
                (Kind::InnerDoc, "//! inner"),
                (Kind::OuterDoc, "/// outer"),
                (Kind::Comment, "//// plain"),
                (Kind::Ident, "x"),
            ]
        );
    }

    #[test]
    fn raw_idents_are_one_token() {
        assert_eq!(kinds("r#use"), [(Kind::Ident, "r#use")]);
    }

    #[test]
    fn unterminated_literals_are_errors() {
        assert_eq!(
            lex("x \"abc").unwrap_err(),
            LexError {
                offset: 2,
                what: "string"
            }
        );
        assert_eq!(lex("/* /* */").unwrap_err().what, "block comment");
        assert_eq!(lex("r#\"abc\"").unwrap_err().what, "raw string");
    }
}
