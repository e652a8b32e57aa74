//! Cloudflare Access JWTs (`Cf-Access-Jwt-Assertion`): reading one into its parts, reading the
//! team's signing keys (the JWKS at `…/cdn-cgi/access/certs`), and the claim checks. A token is
//! accepted when its header names `RS256` and a key id (`kid`) of the team's keys, the runtime's
//! WebCrypto verifies its RSASSA-PKCS1-v1_5 / SHA-256 signature over `header.payload` with that
//! key (the shell does this), its `aud` holds one of `ACCESS_AUD`'s tags, its `iss` is the team
//! domain, it is not expired (`exp`) nor early (`nbf`), each with [`LEEWAY_SECONDS`] of clock
//! skew, and `ACCESS_ROLES_JSON` gives its email or a group a role. Each failure has a reason
//! code ([`AccessRefusal`]), counted and logged like the other failed sign-ins.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use super::roles::{Identity, Role, Via};
use super::settings::AccessSettings;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 60;
/// Longest assertion read (Access JWTs are a few KB).
pub const MAX_JWT_BYTES: usize = 16 * 1024;

/// Why an Access JWT was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRefusal {
    /// Not three base64url parts of JSON, too long, or no `kid`.
    Malformed,
    /// A header `alg` other than `RS256`.
    UnsupportedAlgorithm,
    /// No key of the team's JWKS has the token's `kid` (after a refresh).
    UnknownKey,
    /// The signature does not verify with the key.
    BadSignature,
    Expired,
    NotYetValid,
    /// `aud` holds none of `ACCESS_AUD`'s tags.
    WrongAudience,
    /// `iss` is not the team domain.
    WrongIssuer,
    /// `ACCESS_ROLES_JSON` gives the identity no role.
    NoRole,
    /// The team's keys could not be fetched (network, status, body).
    KeysUnavailable,
}

impl AccessRefusal {
    /// The reason code, as counted (under `admin`) and logged.
    pub fn code(self) -> &'static str {
        match self {
            AccessRefusal::Malformed => "access_malformed",
            AccessRefusal::UnsupportedAlgorithm => "access_unsupported_alg",
            AccessRefusal::UnknownKey => "access_unknown_key",
            AccessRefusal::BadSignature => "access_bad_signature",
            AccessRefusal::Expired => "access_expired",
            AccessRefusal::NotYetValid => "access_not_yet_valid",
            AccessRefusal::WrongAudience => "access_wrong_audience",
            AccessRefusal::WrongIssuer => "access_wrong_issuer",
            AccessRefusal::NoRole => "access_no_role",
            AccessRefusal::KeysUnavailable => "access_keys_unavailable",
        }
    }
}

/// The claims edgehooks reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub aud: Vec<String>,
    pub iss: Option<String>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub email: Option<String>,
    /// `groups`, or `custom.groups` (an identity provider's claims passed through by Access).
    pub groups: Vec<String>,
    pub sub: Option<String>,
}

/// A JWT read into what its verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwt {
    pub kid: String,
    /// `header.payload`: the bytes the signature covers.
    pub signed: Vec<u8>,
    pub signature: Vec<u8>,
    pub claims: Claims,
}

/// Read a compact JWT (no signature check).
pub fn parse(token: &str) -> Result<Jwt, AccessRefusal> {
    use AccessRefusal::Malformed;
    let token = token.trim();
    if token.len() > MAX_JWT_BYTES {
        return Err(Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed);
    };
    let header = json_part(header)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(AccessRefusal::UnsupportedAlgorithm);
    }
    let kid = header.get("kid").and_then(Value::as_str).ok_or(Malformed)?;
    let claims = claims_of(&json_part(payload)?);
    let signed_len = token.len() - signature.len() - 1;
    Ok(Jwt {
        kid: kid.to_string(),
        signed: token
            .as_bytes()
            .get(..signed_len)
            .ok_or(Malformed)?
            .to_vec(),
        signature: URL_SAFE_NO_PAD.decode(signature).map_err(|_| Malformed)?,
        claims,
    })
}

fn json_part(part: &str) -> Result<Value, AccessRefusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AccessRefusal::Malformed)?;
    let value = json_text(&bytes).ok_or(AccessRefusal::Malformed)?;
    value
        .is_object()
        .then_some(value)
        .ok_or(AccessRefusal::Malformed)
}

/// JSON bytes as a value, read through `&str` so the wasm holds one serde_json reader (a
/// `from_slice` would compile a second one; BENCHMARKS.md, issue 25).
fn json_text(bytes: &[u8]) -> Option<Value> {
    serde_json::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

fn claims_of(payload: &Value) -> Claims {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let strings = |v: Option<&Value>| match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    };
    let groups = match payload.get("groups") {
        Some(groups) => strings(Some(groups)),
        None => strings(payload.get("custom").and_then(|c| c.get("groups"))),
    };
    Claims {
        aud: strings(payload.get("aud")),
        iss: text(payload.get("iss")),
        exp: payload.get("exp").and_then(Value::as_i64),
        nbf: payload.get("nbf").and_then(Value::as_i64),
        email: text(payload.get("email")),
        groups,
        sub: text(payload.get("sub")),
    }
}

/// Check a (signature-verified) token's claims at `now_secs` and give its identity a role.
/// A token without `exp` is refused as expired: Access always sets one. The identity is named by
/// its email, lowercased (or `access:<sub>` for a service token without one).
pub fn identity(
    claims: &Claims,
    settings: &AccessSettings,
    now_secs: i64,
) -> Result<Identity, AccessRefusal> {
    if !claims
        .aud
        .iter()
        .any(|aud| settings.audiences.iter().any(|a| a == aud))
    {
        return Err(AccessRefusal::WrongAudience);
    }
    if claims.iss.as_deref().map(|i| i.trim_end_matches('/')) != Some(settings.issuer.as_str()) {
        return Err(AccessRefusal::WrongIssuer);
    }
    match claims.exp {
        Some(exp) if exp + LEEWAY_SECONDS > now_secs => {}
        _ => return Err(AccessRefusal::Expired),
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf - LEEWAY_SECONDS > now_secs)
    {
        return Err(AccessRefusal::NotYetValid);
    }
    let role: Role = settings
        .roles
        .role_of(claims.email.as_deref(), &claims.groups)
        .ok_or(AccessRefusal::NoRole)?;
    let who = claims
        .email
        .as_deref()
        .map(|e| e.trim().to_ascii_lowercase())
        .or_else(|| claims.sub.as_ref().map(|s| format!("access:{s}")))
        .ok_or(AccessRefusal::NoRole)?;
    Ok(Identity {
        who,
        via: Via::Access,
        role,
    })
}

/// One RSA signing key of the team's JWKS: its id and its public modulus and exponent
/// (base64url, as WebCrypto's JWK import takes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    pub kid: String,
    pub n: String,
    pub e: String,
}

/// The RSA keys of a JWKS document (`{"keys": [...]}`); entries of another type, or without a
/// `kid`, `n` or `e`, are skipped. `None`: the body is not a JWKS.
pub fn parse_jwks(body: &[u8]) -> Option<Vec<RsaKey>> {
    let value = json_text(body)?;
    let keys = value.get("keys")?.as_array()?;
    let text = |k: &Value, f: &str| k.get(f).and_then(Value::as_str).map(str::to_string);
    Some(
        keys.iter()
            .filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))
            .filter_map(|k| {
                Some(RsaKey {
                    kid: text(k, "kid")?,
                    n: text(k, "n")?,
                    e: text(k, "e")?,
                })
            })
            .collect(),
    )
}

/// Most fetches of the team's keys an isolate makes in [`REFRESH_WINDOW_MS`]: a token naming a
/// key the cache lacks refetches the keys (Access rotates them), but a stream of tokens with
/// made-up key ids must not turn into a stream of fetches.
pub const MAX_REFRESHES: usize = 5;
pub const REFRESH_WINDOW_MS: i64 = 60_000;

/// Whether the keys may be fetched again at `now`, given the times of the fetches so far.
pub fn refresh_allowed(fetched_at: &[i64], now: i64) -> bool {
    let recent = fetched_at
        .iter()
        .filter(|at| now - **at < REFRESH_WINDOW_MS)
        .count();
    recent < MAX_REFRESHES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::roles::RoleMap;
    use serde_json::json;

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn token(header: Value, payload: Value) -> String {
        format!(
            "{}.{}.{}",
            b64(&header),
            b64(&payload),
            URL_SAFE_NO_PAD.encode([1, 2, 3])
        )
    }

    fn settings() -> AccessSettings {
        AccessSettings {
            issuer: "https://team.cloudflareaccess.com".into(),
            audiences: vec!["aud-tag".into()],
            certs_url: String::new(),
            roles: RoleMap::parse(r#"{"alice@example.com":"admin","group:ops":"operator"}"#)
                .unwrap(),
        }
    }

    fn claims(extra: Value) -> Claims {
        let mut payload = json!({
            "aud": ["aud-tag"], "iss": "https://team.cloudflareaccess.com", "exp": 2_000,
            "nbf": 1_000, "email": "alice@example.com", "sub": "u-1",
        });
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        let jwt = token(json!({"alg": "RS256", "kid": "k1"}), payload);
        parse(&jwt).unwrap().claims
    }

    #[test]
    fn parts_and_signed_bytes() {
        let jwt = token(
            json!({"alg": "RS256", "kid": "k1"}),
            json!({"aud": "a", "exp": 5}),
        );
        let parsed = parse(&jwt).unwrap();
        assert_eq!(parsed.kid, "k1");
        assert_eq!(parsed.signature, vec![1, 2, 3]);
        let dot = jwt.rfind('.').unwrap();
        assert_eq!(parsed.signed, jwt.as_bytes()[..dot].to_vec());
        assert_eq!(parsed.claims.aud, vec!["a".to_string()]);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good_payload = json!({"exp": 5});
        for (jwt, refusal) in [
            ("a.b".to_string(), AccessRefusal::Malformed),
            ("a.b.c.d".to_string(), AccessRefusal::Malformed),
            ("!!.!!.!!".to_string(), AccessRefusal::Malformed),
            (
                token(json!({"alg": "HS256", "kid": "k"}), good_payload.clone()),
                AccessRefusal::UnsupportedAlgorithm,
            ),
            (
                token(json!({"alg": "none"}), good_payload.clone()),
                AccessRefusal::UnsupportedAlgorithm,
            ),
            (
                token(json!({"alg": "RS256"}), good_payload.clone()),
                AccessRefusal::Malformed,
            ),
            (
                token(json!({"alg": "RS256", "kid": "k"}), json!([1])),
                AccessRefusal::Malformed,
            ),
            ("x".repeat(MAX_JWT_BYTES + 1), AccessRefusal::Malformed),
        ] {
            assert_eq!(parse(&jwt), Err(refusal), "{jwt:.40}");
        }
    }

    #[test]
    fn claims_are_checked() {
        let s = settings();
        let who = identity(&claims(json!({"email": "Alice@Example.com"})), &s, 1_500).unwrap();
        assert_eq!(
            (who.who.as_str(), who.role, who.via),
            ("alice@example.com", Role::Admin, Via::Access)
        );
        let refused = |extra: Value, now: i64| identity(&claims(extra), &s, now).unwrap_err();
        assert_eq!(
            refused(json!({}), 2_000 + LEEWAY_SECONDS),
            AccessRefusal::Expired
        );
        assert!(
            identity(&claims(json!({})), &s, 2_000 + LEEWAY_SECONDS - 1).is_ok(),
            "leeway"
        );
        assert_eq!(refused(json!({"exp": null}), 1_500), AccessRefusal::Expired);
        assert_eq!(
            refused(json!({}), 1_000 - LEEWAY_SECONDS - 1),
            AccessRefusal::NotYetValid
        );
        assert_eq!(
            refused(json!({"aud": "other"}), 1_500),
            AccessRefusal::WrongAudience
        );
        assert_eq!(
            refused(json!({"aud": []}), 1_500),
            AccessRefusal::WrongAudience
        );
        assert_eq!(
            refused(json!({"iss": "https://evil.cloudflareaccess.com"}), 1_500),
            AccessRefusal::WrongIssuer
        );
        assert_eq!(
            refused(json!({"email": "bob@example.com"}), 1_500),
            AccessRefusal::NoRole
        );
    }

    #[test]
    fn groups_map_to_roles() {
        let s = settings();
        for extra in [
            json!({"email": "bob@x.io", "groups": ["ops"]}),
            json!({"email": "bob@x.io", "custom": {"groups": ["ops"]}}),
        ] {
            let who = identity(&claims(extra), &s, 1_500).unwrap();
            assert_eq!((who.who.as_str(), who.role), ("bob@x.io", Role::Operator));
        }
    }

    #[test]
    fn refreshes_are_bounded_per_minute() {
        assert!(refresh_allowed(&[], 0));
        let five = [0, 1, 2, 3, 4];
        assert!(!refresh_allowed(&five, 10));
        assert!(
            refresh_allowed(&five, REFRESH_WINDOW_MS + 1),
            "the oldest left the window"
        );
        assert!(refresh_allowed(&five[..4], 10));
    }

    #[test]
    fn jwks_keys() {
        let body = json!({"keys": [
            {"kid": "k1", "kty": "RSA", "alg": "RS256", "n": "nn", "e": "AQAB"},
            {"kid": "k2", "kty": "EC", "crv": "P-256", "x": "x", "y": "y"},
            {"kty": "RSA", "n": "nn", "e": "AQAB"},
        ], "public_cert": {"kid": "k1", "cert": "..."}});
        let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            keys,
            vec![RsaKey {
                kid: "k1".into(),
                n: "nn".into(),
                e: "AQAB".into()
            }]
        );
        assert_eq!(parse_jwks(b"{}"), None);
        assert_eq!(parse_jwks(b"nope"), None);
    }
}
