//! Standard Webhooks signing, for deliveries edgehooks makes to `http` destinations. A delivery
//! carries `webhook-id` (stable across retries of one message), `webhook-timestamp` (Unix
//! seconds) and `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` entries over
//! `"{id}.{timestamp}.{body}"`, one per active secret while a secret is being rotated. A secret
//! is `whsec_` followed by the base64 of the key bytes; the prefix is optional on input. The
//! verifier is the receiver's side of the same rules, used to check what we send and to accept
//! Standard Webhooks senders.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Header names, lowercase as the spec writes them.
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// Shortest key the spec allows (24 bytes) and longest it recommends (64 bytes).
const MIN_KEY_BYTES: usize = 24;
const MAX_KEY_BYTES: usize = 64;

/// A destination's signing key, decoded from its `whsec_` form.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// Why a secret cannot be used. Never carries the secret itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretError {
    NotBase64,
    WrongLength,
}

impl SecretError {
    pub fn code(self) -> &'static str {
        match self {
            SecretError::NotBase64 => "secret_not_base64",
            SecretError::WrongLength => "secret_wrong_length",
        }
    }
}

impl SigningKey {
    /// Decode `whsec_<base64>` (the prefix may be omitted): 24 to 64 key bytes.
    pub fn from_secret(secret: &str) -> Result<SigningKey, SecretError> {
        let encoded = secret
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .unwrap_or(secret.trim());
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(SecretError::WrongLength);
        }
        Ok(SigningKey(key))
    }

    /// A new secret in `whsec_` form from `bytes` of randomness (the shell supplies them).
    pub fn encode_secret(bytes: &[u8; 32]) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
    }

    /// The key's fingerprint under `secrets_key` (`SECRETS_KEY`), shown to operators instead of
    /// the secret: keyed over the key bytes, so `whsec_` given or not names the same key
    /// ([`crate::sealed::fingerprint`]).
    pub fn fingerprint(&self, secrets_key: &[u8; 32]) -> String {
        crate::sealed::fingerprint::fingerprint(secrets_key, &self.0)
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        // Any key length is valid for HMAC: `new_from_slice` cannot fail here.
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }
}

/// The three headers of one delivery, signed with every key (space-separated signatures, the
/// newest key first), as `(name, value)` pairs.
pub fn delivery_headers(
    keys: &[SigningKey],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let signatures: Vec<String> = keys.iter().map(|k| k.sign(id, timestamp, body)).collect();
    [
        (ID_HEADER, id.to_string()),
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, signatures.join(" ")),
    ]
}

/// Why a received delivery does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    MalformedTimestamp,
    TimestampOutOfTolerance,
    NoMatchingSignature,
}

/// Check a delivery: the timestamp within `tolerance_secs` of `now_unix` both ways, and any
/// `v1` signature in `signature_header` made with any of `keys` (other versions are ignored).
pub fn verify(
    keys: &[SigningKey],
    id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let timestamp =
        crate::time::parse_decimal(timestamp_header).ok_or(VerifyError::MalformedTimestamp)?;
    if now_unix.abs_diff(timestamp) > tolerance_secs {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    let candidates: Vec<Vec<u8>> = signature_header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect();
    for key in keys {
        let expected = key.mac(id, timestamp, body).finalize().into_bytes();
        if candidates
            .iter()
            .any(|c| bool::from(c.as_slice().ct_eq(expected.as_slice())))
        {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatchingSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from the Standard Webhooks specification's reference implementations.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn spec_key() -> SigningKey {
        SigningKey::from_secret(SPEC_SECRET).unwrap()
    }

    #[test]
    fn signs_the_specification_example() {
        assert_eq!(
            spec_key().sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
    }

    #[test]
    fn the_prefix_is_optional_and_bad_secrets_are_refused() {
        let bare = SPEC_SECRET.strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(SigningKey::from_secret(bare).unwrap(), spec_key());
        assert_eq!(
            SigningKey::from_secret("whsec_not base64!").unwrap_err(),
            SecretError::NotBase64
        );
        assert_eq!(
            SigningKey::from_secret("whsec_c2hvcnQ=").unwrap_err(),
            SecretError::WrongLength
        );
    }

    #[test]
    fn rotation_sends_one_signature_per_key_and_either_verifies() {
        let new_key = SigningKey::from_secret(&SigningKey::encode_secret(&[7u8; 32])).unwrap();
        let keys = [new_key.clone(), spec_key()];
        let headers = delivery_headers(&keys, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
        assert_eq!(headers[0], (ID_HEADER, SPEC_ID.to_string()));
        assert_eq!(headers[1], (TIMESTAMP_HEADER, SPEC_TIMESTAMP.to_string()));
        let signatures: Vec<&str> = headers[2].1.split(' ').collect();
        assert_eq!(signatures.len(), 2);
        assert_eq!(signatures[1], SPEC_SIGNATURE);
        for receiver in [vec![new_key], vec![spec_key()]] {
            let result = verify(
                &receiver,
                SPEC_ID,
                &SPEC_TIMESTAMP.to_string(),
                &headers[2].1,
                SPEC_BODY,
                SPEC_TIMESTAMP,
                300,
            );
            assert_eq!(result, Ok(()));
        }
    }

    #[test]
    fn verification_refuses_tampering_and_stale_timestamps() {
        let key = [spec_key()];
        let ts = SPEC_TIMESTAMP.to_string();
        let check =
            |body: &[u8], now: i64, sig: &str| verify(&key, SPEC_ID, &ts, sig, body, now, 300);
        assert_eq!(check(SPEC_BODY, SPEC_TIMESTAMP, SPEC_SIGNATURE), Ok(()));
        assert_eq!(
            check(b"{\"test\": 1}", SPEC_TIMESTAMP, SPEC_SIGNATURE),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            check(SPEC_BODY, SPEC_TIMESTAMP + 301, SPEC_SIGNATURE),
            Err(VerifyError::TimestampOutOfTolerance)
        );
        assert_eq!(
            check(
                SPEC_BODY,
                SPEC_TIMESTAMP,
                "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
            ),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            verify(
                &key,
                SPEC_ID,
                "1614265330.5",
                SPEC_SIGNATURE,
                SPEC_BODY,
                0,
                300
            ),
            Err(VerifyError::MalformedTimestamp)
        );
    }
}
