//! A small SQL tokenizer: enough to rewrite `?` placeholders as PostgreSQL's `$n`, split a
//! migration into statements, and find a statement's leading keywords and the names it uses.
//!
//! It understands what changes the meaning of a `?` or a `;`: string literals (`'…'`, with
//! `''` inside), quoted identifiers (`"…"`, with `""`), line comments (`-- …`), block comments
//! (`/* … */`, nested as PostgreSQL nests them) and dollar-quoted strings (`$tag$…$tag$`).
//! It does not parse SQL: the database does that.

use super::error::SqlError;

/// A piece of a statement, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// A keyword or an unquoted name (letters, digits, `_`, `$` after the first character).
    Word(&'a str),
    /// A quoted name, with its quotes.
    QuotedName(&'a str),
    /// A string literal (or dollar-quoted string), with its quotes.
    Literal(&'a str),
    /// A number.
    Number(&'a str),
    /// A `?` placeholder, possibly numbered (`?3`): the text as written.
    Placeholder(&'a str),
    /// A `$n`, `:name` or `@name` parameter: not allowed in plugin SQL.
    NamedParameter(&'a str),
    /// A `;`.
    Semicolon,
    /// A comment, with its markers.
    Comment(&'a str),
    /// Anything else: operators, parentheses, commas, whitespace.
    Other(&'a str),
}

/// Splits `sql` into tokens; an unterminated literal, name or comment is a syntax error.
pub fn tokenize(sql: &str) -> Result<Vec<Token<'_>>, SqlError> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let token = match c {
            b'\'' => {
                i = quoted_end(bytes, i, b'\'').ok_or_else(|| unterminated("string literal"))?;
                Token::Literal(&sql[start..i])
            }
            b'"' => {
                i = quoted_end(bytes, i, b'"').ok_or_else(|| unterminated("quoted name"))?;
                Token::QuotedName(&sql[start..i])
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p + 1);
                Token::Comment(&sql[start..i])
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = block_comment_end(bytes, i).ok_or_else(|| unterminated("comment"))?;
                Token::Comment(&sql[start..i])
            }
            b'?' => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                Token::Placeholder(&sql[start..i])
            }
            b'$' => match dollar_quote_end(sql, i) {
                Some(Ok(end)) => {
                    i = end;
                    Token::Literal(&sql[start..i])
                }
                Some(Err(())) => return Err(unterminated("dollar-quoted string")),
                None => {
                    i += 1;
                    while i < bytes.len() && is_word_byte(bytes[i]) {
                        i += 1;
                    }
                    Token::NamedParameter(&sql[start..i])
                }
            },
            b':' | b'@' if bytes.get(i + 1).is_some_and(|b| is_word_start(*b)) => {
                // `::` is a cast, not a parameter.
                if c == b':' && start > 0 && bytes[start - 1] == b':' {
                    i += 1;
                    Token::Other(&sql[start..i])
                } else {
                    i += 1;
                    while i < bytes.len() && is_word_byte(bytes[i]) {
                        i += 1;
                    }
                    Token::NamedParameter(&sql[start..i])
                }
            }
            b';' => {
                i += 1;
                Token::Semicolon
            }
            _ if is_word_start(c) => {
                while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'$') {
                    i += 1;
                }
                Token::Word(&sql[start..i])
            }
            _ if c.is_ascii_digit() => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                Token::Number(&sql[start..i])
            }
            _ => {
                // One character (a whole UTF-8 sequence).
                i += sql[i..].chars().next().map_or(1, char::len_utf8);
                Token::Other(&sql[start..i])
            }
        };
        tokens.push(token);
    }
    Ok(tokens)
}

fn unterminated(what: &str) -> SqlError {
    SqlError::Syntax(format!("unterminated {what}"))
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The end (exclusive) of a literal opened by `quote` at `start`; a doubled quote is part of it.
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

fn block_comment_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// For a `$` at `start`: `None` when it does not open a dollar-quoted string, else its end.
fn dollar_quote_end(sql: &str, start: usize) -> Option<Result<usize, ()>> {
    let bytes = sql.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
        i += 1;
    }
    if bytes.get(i) != Some(&b'$') {
        return None;
    }
    let tag = &sql[start..=i];
    Some(
        sql[i + 1..]
            .find(tag)
            .map(|p| i + 1 + p + tag.len())
            .ok_or(()),
    )
}

/// `sql` with each `?` replaced by `$1`, `$2`, … in order, and the number of placeholders.
/// Numbered (`?3`) and named (`$1`, `:name`, `@name`) parameters are refused, as on SQLite.
pub fn number_placeholders(sql: &str) -> Result<(String, usize), SqlError> {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut count = 0;
    for token in tokenize(sql)? {
        match token {
            Token::Placeholder("?") => {
                count += 1;
                out.push('$');
                out.push_str(&count.to_string());
            }
            Token::Placeholder(name) | Token::NamedParameter(name) => {
                return Err(named_placeholder(name));
            }
            other => out.push_str(text(&other)),
        }
    }
    Ok((out, count))
}

/// The error for a placeholder other than a bare `?` (the same words on both backends).
pub fn named_placeholder(name: &str) -> SqlError {
    SqlError::Refused(format!(
        "placeholder {name} is not allowed: use positional ? placeholders"
    ))
}

/// A token's text as written.
pub fn text<'a>(token: &Token<'a>) -> &'a str {
    match token {
        Token::Word(s)
        | Token::QuotedName(s)
        | Token::Literal(s)
        | Token::Number(s)
        | Token::Placeholder(s)
        | Token::NamedParameter(s)
        | Token::Comment(s)
        | Token::Other(s) => s,
        Token::Semicolon => ";",
    }
}

/// The statements of `sql`, split at top-level semicolons, without empty ones (only
/// whitespace and comments).
pub fn statements(sql: &str) -> Result<Vec<Vec<Token<'_>>>, SqlError> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for token in tokenize(sql)? {
        if token == Token::Semicolon {
            if has_content(&current) {
                out.push(std::mem::take(&mut current));
            } else {
                current.clear();
            }
        } else {
            current.push(token);
        }
    }
    if has_content(&current) {
        out.push(current);
    }
    Ok(out)
}

fn has_content(tokens: &[Token<'_>]) -> bool {
    tokens.iter().any(|t| !is_blank(t))
}

fn is_blank(token: &Token<'_>) -> bool {
    match token {
        Token::Comment(_) => true,
        Token::Other(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The words of a statement in order, upper-cased, skipping everything else.
pub fn words(tokens: &[Token<'_>]) -> Vec<String> {
    tokens
        .iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(w.to_ascii_uppercase()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_outside_literals_names_and_comments() {
        let (sql, n) = number_placeholders(
            "SELECT '?', \"a?\", x -- ?\n FROM t /* ? /* ? */ */ WHERE a = ? AND b = ?",
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT '?', \"a?\", x -- ?\n FROM t /* ? /* ? */ */ WHERE a = $1 AND b = $2"
        );
        assert_eq!(n, 2);
        let (sql, n) = number_placeholders("SELECT 'it''s ?' || ?").unwrap();
        assert_eq!((sql.as_str(), n), ("SELECT 'it''s ?' || $1", 1));
        let (sql, n) = number_placeholders("SELECT $$ ? $$, x::text, ?").unwrap();
        assert_eq!((sql.as_str(), n), ("SELECT $$ ? $$, x::text, $1", 1));
    }

    #[test]
    fn refuses_numbered_and_named_parameters() {
        for sql in ["SELECT ?1", "SELECT $1", "SELECT :name", "SELECT @name"] {
            assert!(
                matches!(number_placeholders(sql), Err(SqlError::Refused(_))),
                "{sql}"
            );
        }
    }

    #[test]
    fn unterminated_pieces_are_syntax_errors() {
        for sql in ["SELECT 'x", "SELECT \"x", "SELECT /* x", "SELECT $a$ x"] {
            assert!(matches!(tokenize(sql), Err(SqlError::Syntax(_))), "{sql}");
        }
    }

    #[test]
    fn splits_statements_at_top_level_semicolons() {
        let parts =
            statements("CREATE TABLE a (x TEXT DEFAULT ';'); -- c;\n ; CREATE INDEX i ON a (x)")
                .unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(words(&parts[0])[..2], ["CREATE", "TABLE"]);
        assert_eq!(words(&parts[1])[..2], ["CREATE", "INDEX"]);
    }
}
