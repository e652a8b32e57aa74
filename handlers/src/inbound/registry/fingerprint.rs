//! A source secret's fingerprint: the short name the admin API shows instead of the secret and a
//! rotation's `remove` names it by. It is keyed: the first 12 hex digits of HMAC-SHA256 under a
//! key derived from `SECRETS_KEY` (which every source write has: secrets are sealed under it),
//! so a viewer who sees it cannot test guesses offline (for `token`, `basic` and `gitlab` the
//! secret is the credential itself). Rows written before kept the unkeyed form (the first 12 hex
//! digits of the secret's SHA-256, [`unkeyed`]): it stays shown until the source is next
//! written, and a rotation's `remove` still takes it.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// What the fingerprint key is derived for (the sealing key is used for nothing else by HMAC).
const DERIVATION_LABEL: &[u8] = b"edgehooks registry secret fingerprint v1";

/// The fingerprint of `secret` under `secrets_key` (`SECRETS_KEY`'s 32 bytes).
pub fn fingerprint(secrets_key: &[u8; 32], secret: &str) -> String {
    let derived = mac(secrets_key, DERIVATION_LABEL);
    hex::encode(
        mac(&derived, secret.as_bytes())
            .get(..6)
            .unwrap_or_default(),
    )
}

/// The unkeyed form rows written before keyed fingerprints hold.
pub fn unkeyed(secret: &str) -> String {
    hex::encode(&Sha256::digest(secret.as_bytes())[..6])
}

/// True when `print` names `secret`, in the keyed form or the older unkeyed one.
pub fn names(secrets_key: &[u8; 32], secret: &str, print: &str) -> bool {
    print == fingerprint(secrets_key, secret) || print == unkeyed(secret)
}

fn mac(key: &[u8], message: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes a key of any length.
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [42; 32];

    #[test]
    fn a_fingerprint_is_keyed_short_and_stable() {
        let print = fingerprint(&KEY, "token-weak");
        assert_eq!(print.len(), 12);
        assert!(print.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(print, fingerprint(&KEY, "token-weak"));
        // Without the key, a guess cannot be checked: the unkeyed digest is not it, and another
        // key gives another print.
        assert_ne!(print, unkeyed("token-weak"));
        assert_ne!(print, fingerprint(&[7; 32], "token-weak"));
        assert_ne!(print, fingerprint(&KEY, "token-weal"));
    }

    #[test]
    fn a_print_names_its_secret_in_either_form() {
        assert!(names(&KEY, "s", &fingerprint(&KEY, "s")));
        assert!(names(&KEY, "s", &unkeyed("s")));
        assert!(!names(&KEY, "s", &fingerprint(&KEY, "t")));
        assert!(!names(&KEY, "s", ""));
    }
}
