//! The path and query of an inbound request, read from the absolute URL string the runtime hands
//! the worker (`request.url`, already normalized by workerd's WHATWG URL parser). Owning this here
//! keeps the `url` crate's parser out of the wasm: with it came the IDNA/Unicode tables of `idna`
//! and `icu_normalizer` (~60 KB of code and data) for host names the worker never looks at.
//! Query values are decoded per the URL spec's `application/x-www-form-urlencoded` parser:
//! split on `&`, skip empty sequences, split each at the first `=`, `+` becomes a space, then
//! percent-decode to bytes and decode those as UTF-8 with replacement.

/// The path of `url`: everything after the authority up to `?` or `#`, still percent-encoded
/// (as `url::Url::path` returns it). `/` when the URL has no path.
pub fn path(url: &str) -> &str {
    let after_scheme = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => return path_only(url),
    };
    match after_scheme.find(['/', '?', '#']) {
        Some(i) if after_scheme[i..].starts_with('/') => path_only(&after_scheme[i..]),
        _ => "/",
    }
}

fn path_only(rest: &str) -> &str {
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    match &rest[..end] {
        "" => "/",
        p => p,
    }
}

/// The raw query of `url` (between `?` and `#`, without either), if it has one.
pub fn query(url: &str) -> Option<&str> {
    let before_fragment = url.split('#').next().unwrap_or(url);
    before_fragment.split_once('?').map(|(_, q)| q)
}

/// The name/value pairs of `url`'s query, decoded, in order (repeats kept).
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    query(url).map(form_urlencoded_pairs).unwrap_or_default()
}

/// `application/x-www-form-urlencoded` parsing of `input` (URL spec, section 5.1).
pub fn form_urlencoded_pairs(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|sequence| !sequence.is_empty())
        .map(|sequence| {
            let (name, value) = sequence.split_once('=').unwrap_or((sequence, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

/// `+` → space, `%XX` → byte (a `%` not followed by two hex digits stays as is), then UTF-8
/// with U+FFFD for invalid sequences.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex_pair = (
            bytes.get(i + 1).and_then(|h| hex_value(*h)),
            bytes.get(i + 2).and_then(|h| hex_value(*h)),
        );
        match (b, hex_pair) {
            (b'%', (Some(high), Some(low))) => {
                out.push(high << 4 | low);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn path_is_what_follows_the_authority_up_to_query_or_fragment() {
        for (url, expected) in [
            ("https://example.com/", "/"),
            ("https://example.com/webhooks/stripe", "/webhooks/stripe"),
            (
                "http://127.0.0.1:8787/admin/api/events?limit=5",
                "/admin/api/events",
            ),
            ("https://example.com/foo#/frag?x", "/foo"),
            ("https://example.com/a%3F%23%2Fb?c", "/a%3F%23%2Fb"),
            ("https://example.com?query", "/"),
            ("https://example.com#frag", "/"),
            ("https://example.com", "/"),
            ("/already/a/path?x=1", "/already/a/path"),
            ("", "/"),
        ] {
            assert_eq!(path(url), expected, "{url}");
        }
    }

    #[test]
    fn query_stops_at_the_fragment() {
        assert_eq!(query("https://x.test/p?a=1#b=2"), Some("a=1"));
        assert_eq!(query("https://x.test/p#frag?a=1"), None);
        assert_eq!(query("https://x.test/p?"), Some(""));
        assert_eq!(query("https://x.test/p"), None);
    }

    #[test]
    fn query_pairs_follow_the_form_urlencoded_rules() {
        assert_eq!(
            query_pairs("https://x.test/p?a=1&&b=two+words&a=%41%2b&flag&=v&c=x=y"),
            pairs(&[
                ("a", "1"),
                ("b", "two words"),
                ("a", "A+"),
                ("flag", ""),
                ("", "v"),
                ("c", "x=y"),
            ])
        );
    }

    #[test]
    fn bad_percent_escapes_stay_literal_and_bad_utf8_becomes_replacement() {
        assert_eq!(
            form_urlencoded_pairs("a=%zz&b=%4&c=100%&d=%C3%A9&e=%FF"),
            pairs(&[
                ("a", "%zz"),
                ("b", "%4"),
                ("c", "100%"),
                ("d", "é"),
                ("e", "\u{FFFD}")
            ])
        );
    }

    #[test]
    fn names_are_decoded_like_values() {
        assert_eq!(
            form_urlencoded_pairs("dry%5Frun=true&st+atus=dead"),
            pairs(&[("dry_run", "true"), ("st atus", "dead")])
        );
    }
}

#[cfg(test)]
mod oracle {
    //! The `url` crate (what the worker used before) as the oracle on arbitrary inputs.
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn query_pairs_match_the_url_crate(query in "[a-z0-9=&+%_.~é/ -]{0,40}") {
            let ours = super::form_urlencoded_pairs(&query);
            let theirs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn path_matches_the_url_crate(path in "(/[a-z0-9%._-]{0,8}){0,4}", q in "(\\?[a-z=&/]{0,8})?") {
            let full = format!("https://example.com:8443{path}{q}");
            let parsed = url::Url::parse(&full).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // The runtime hands the worker normalized URLs; compare on those.
            let normalized = parsed.as_str();
            prop_assert_eq!(super::path(normalized), parsed.path());
            prop_assert_eq!(super::query(normalized), parsed.query());
        }
    }
}
