//! The value parsers: comma-separated secret lists (several active secrets allow rotation without
//! downtime), numbers and flags, and [`ConfigError`]. Errors name the setting and the problem but
//! never repeat a value.

use std::fmt;

/// A setting that could not be used. `detail` is safe to log and to return to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: &'static str,
    pub detail: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.detail)
    }
}

/// Split a comma-separated secret list. Surrounding whitespace is trimmed; an unset or blank
/// value yields an empty list (the provider is disabled); an empty entry between commas is an
/// error, because it almost always means a copy-paste mistake during rotation.
pub fn secret_list(setting: &'static str, raw: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    raw.split(',')
        .enumerate()
        .map(|(index, entry)| {
            let entry = entry.trim();
            if entry.is_empty() {
                Err(ConfigError {
                    setting,
                    detail: format!("entry {index} of the comma-separated list is empty"),
                })
            } else {
                Ok(entry.to_string())
            }
        })
        .collect()
}

/// A non-negative integer setting with a default when unset or blank.
pub fn number(setting: &'static str, raw: Option<&str>, default: u64) -> Result<u64, ConfigError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(default),
        Some(text) => text.parse().map_err(|_| ConfigError {
            setting,
            detail: "must be a non-negative whole number".into(),
        }),
    }
}

/// A boolean setting: `true`/`false`/`1`/`0`/`yes`/`no` (any case), default when unset.
pub fn flag(setting: &'static str, raw: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    match raw.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(_) => Err(ConfigError {
            setting,
            detail: "must be true or false".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_lists() {
        assert_eq!(secret_list("S", None).unwrap(), Vec::<String>::new());
        assert_eq!(secret_list("S", Some("  ")).unwrap(), Vec::<String>::new());
        assert_eq!(
            secret_list("S", Some("a, b ,c")).unwrap(),
            vec!["a", "b", "c"]
        );
        let err = secret_list("S", Some("whsec_secret,,b")).unwrap_err();
        assert!(err.detail.contains("entry 1"));
        assert!(!err.to_string().contains("whsec_secret"));
    }

    #[test]
    fn numbers_and_flags() {
        assert_eq!(number("N", None, 300).unwrap(), 300);
        assert_eq!(number("N", Some(" 60 "), 300).unwrap(), 60);
        assert!(number("N", Some("5m"), 300).is_err());
        assert!(number("N", Some("-1"), 300).is_err());
        assert!(flag("F", Some("TRUE"), false).unwrap());
        assert!(!flag("F", None, false).unwrap());
        assert!(flag("F", Some("maybe"), false).is_err());
    }
}
