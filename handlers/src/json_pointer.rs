//! JSON Pointer text (RFC 6901), read one way for every part of the core that takes a pointer
//! from an operator: the connection filters' conditions, the transforms' operations and header
//! placeholders, and the event search. `""` is the whole document; otherwise `/`-separated
//! reference tokens in which `~1` stands for `/` and `~0` for `~` (unescaped in that order, so
//! `~01` is `~1`), any other `~` refused; an array index is `0` or a decimal without a leading
//! zero. What a pointer then reads or writes, and how long it may be, is each user's.

/// Why a text is not a JSON Pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerError {
    /// Neither empty nor starting with `/`.
    NoLeadingSlash,
    /// A `~` not followed by `0` or `1`.
    BadEscape,
}

impl PointerError {
    /// What is wrong, as an error's detail says it of the field.
    pub fn problem(self) -> &'static str {
        match self {
            PointerError::NoLeadingSlash => "must be empty or start with `/`",
            PointerError::BadEscape => "has a `~` that is not `~0` or `~1`",
        }
    }
}

/// The reference tokens of `text`, unescaped (none for `""`, the whole document).
pub fn tokens(text: &str) -> Result<Vec<String>, PointerError> {
    let Some(rest) = text.strip_prefix('/') else {
        return match text.is_empty() {
            true => Ok(Vec::new()),
            false => Err(PointerError::NoLeadingSlash),
        };
    };
    rest.split('/')
        .map(unescape)
        .collect::<Option<Vec<String>>>()
        .ok_or(PointerError::BadEscape)
}

/// One token with `~1` and `~0` unescaped, in that order (RFC 6901 §4); `None` for a bad `~`.
fn unescape(token: &str) -> Option<String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => return None,
        }
    }
    Some(out)
}

/// The array index a token names: `0` or a decimal without a leading zero (no sign, no `-`).
pub fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    let canonical = token == "0" || !token.starts_with('0');
    (digits && canonical).then(|| token.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_unescape_tilde_one_before_tilde_zero() {
        assert_eq!(tokens(""), Ok(vec![]));
        assert_eq!(tokens("/"), Ok(vec![String::new()]));
        assert_eq!(tokens("/a~1b/c~0d/~01").unwrap(), ["a/b", "c~d", "~1"]);
        assert_eq!(tokens("/a//b").unwrap(), ["a", "", "b"]);
    }

    #[test]
    fn texts_that_are_not_pointers_say_why() {
        for text in ["a", "data/x", " /a"] {
            assert_eq!(tokens(text), Err(PointerError::NoLeadingSlash), "{text}");
        }
        for text in ["/~2", "/a~", "/~", "/a/~x"] {
            assert_eq!(tokens(text), Err(PointerError::BadEscape), "{text}");
        }
    }

    #[test]
    fn array_indices_are_canonical_decimals() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("12"), Some(12));
        for not in [
            "",
            "01",
            "-",
            "-1",
            "+1",
            "1e0",
            "x",
            "99999999999999999999999",
        ] {
            assert_eq!(array_index(not), None, "{not}");
        }
    }
}
