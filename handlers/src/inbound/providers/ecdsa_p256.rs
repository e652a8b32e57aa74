//! ECDSA P-256 / SHA-256 as SendGrid uses it, split so the primitive can run outside the core.
//! This file owns the byte formats: a P-256 SubjectPublicKeyInfo (the shape WebCrypto's
//! `importKey("spki")` takes), and the conversion of a DER `SEQUENCE { r, s }` signature to the
//! IEEE P1363 `r || s` that WebCrypto's `verify` takes, with the range checks (`0 < r, s < n`)
//! that `p256` applies, so both primitives refuse the same signatures as malformed. The wasm
//! build runs the primitive through `crypto.subtle` (see the shell's `webcrypto` module); native
//! builds run [`verify_native`] (RustCrypto `p256`), which is also the tests' oracle.

/// SubjectPublicKeyInfo of an uncompressed P-256 point, up to the point's `04` tag:
/// `SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) }`.
const SPKI_PREFIX: [u8; 27] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
];

/// Length of a DER SubjectPublicKeyInfo of an uncompressed P-256 point.
pub const SPKI_LEN: usize = SPKI_PREFIX.len() + 64;

/// The order `n` of the P-256 group, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// A DER-encoded P-256 signature is at most 72 bytes (two 33-byte integers and three headers).
pub const MAX_DER_SIGNATURE_BYTES: usize = 72;

/// A signature as WebCrypto wants it: `r || s`, 32 bytes each, big-endian.
pub type RawSignature = [u8; 64];

/// Whether `der` is the SubjectPublicKeyInfo of an uncompressed P-256 point (structure and curve
/// only; whether the point is on the curve is the primitive's check).
pub fn is_p256_spki(der: &[u8]) -> bool {
    der.len() == SPKI_LEN && der.starts_with(&SPKI_PREFIX)
}

/// The SubjectPublicKeyInfo of an uncompressed SEC1 point (`04 || x || y`).
pub fn spki_from_uncompressed_point(point: &[u8; 65]) -> Vec<u8> {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(&point[1..]);
    der
}

/// Strict DER `SEQUENCE { INTEGER r, INTEGER s }` → `r || s`: short-form lengths, minimal
/// positive integers, nothing after the sequence, and `0 < r, s < n`. `None` when malformed.
pub fn der_to_raw(der: &[u8]) -> Option<RawSignature> {
    if der.len() > MAX_DER_SIGNATURE_BYTES {
        return None;
    }
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || len >= 0x80 || usize::from(len) != body.len() {
        return None;
    }
    let (r, rest) = der_integer(body)?;
    let (s, rest) = der_integer(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let mut raw = [0u8; 64];
    raw[32 - r.len()..32].copy_from_slice(r);
    raw[64 - s.len()..].copy_from_slice(s);
    let in_range = |scalar: &[u8]| scalar.iter().any(|&b| b != 0) && scalar < &ORDER[..];
    (in_range(&raw[..32]) && in_range(&raw[32..])).then_some(raw)
}

/// One minimal positive DER INTEGER of at most 32 significant bytes: its magnitude (without the
/// sign byte) and what follows it.
fn der_integer(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
        return None;
    }
    let (value, after) = rest.split_at(len);
    let first = *value.first()?;
    if first & 0x80 != 0 {
        return None; // negative
    }
    let magnitude = match value {
        [0, next, ..] if next & 0x80 != 0 => &value[1..],
        [0, _, ..] => return None, // non-minimal leading zero
        _ => value,
    };
    (magnitude.len() <= 32).then_some((magnitude, after))
}

/// RustCrypto's verification of `raw` over `message` with `spki` (native builds and tests). The
/// signature's S is normalised to its low form first: SendGrid emits high-S signatures, which
/// `p256` 0.13 accepts today but a low-S-enforcing verifier would not.
#[cfg(not(target_arch = "wasm32"))]
pub fn verify_native(key: &p256::ecdsa::VerifyingKey, raw: &RawSignature, digest: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let Ok(signature) = p256::ecdsa::Signature::from_slice(raw) else {
        return false;
    };
    let signature = signature.normalize_s().unwrap_or(signature);
    key.verify_prehash(digest, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::DecodePublicKey;
    use proptest::prelude::*;

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed.max(1); 32]).unwrap()
    }

    #[test]
    fn spki_prefix_is_what_p256_encodes() {
        // SendGrid's SDK test key, as its dashboard shows keys.
        let der = STANDARD.decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==").unwrap();
        assert!(is_p256_spki(&der));
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(&der).unwrap();
        let point: [u8; 65] = key.to_encoded_point(false).as_bytes().try_into().unwrap();
        assert_eq!(spki_from_uncompressed_point(&point), der);
        assert!(!is_p256_spki(&der[1..]));
    }

    #[test]
    fn der_round_trips_to_the_raw_p256_encodes() {
        for seed in 1..=20u8 {
            let signature: Signature = signing_key(seed).sign(&[seed; 10]);
            let der = signature.to_der();
            assert_eq!(
                der_to_raw(der.as_bytes()),
                Some(<[u8; 64]>::from(signature.to_bytes()))
            );
        }
    }

    #[test]
    fn malformed_der_is_refused() {
        let signature: Signature = signing_key(3).sign(b"m");
        let der = signature.to_der().as_bytes().to_vec();
        let mut trailing = der.clone();
        trailing.push(0);
        let mut long_form = der.clone();
        long_form.splice(1..2, [0x81, der[1]]);
        for bad in [
            &[][..],
            &der[..der.len() - 1],
            &trailing[..],
            &long_form[..],
            &signature.to_bytes()[..], // raw r || s is not DER
            &[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01], // r = 0
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x81], // s negative
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01], // non-minimal r
        ] {
            assert_eq!(der_to_raw(bad), None, "{bad:02x?}");
        }
        let mut order = vec![0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00];
        order.extend_from_slice(&ORDER);
        assert_eq!(der_to_raw(&order), None, "s = n");
    }

    proptest! {
        /// Any single-byte change of a valid DER signature: ours accepts exactly what `p256`'s
        /// strict DER parser accepts, with the same scalars.
        #[test]
        fn agrees_with_p256_on_mutated_der(seed in 1u8..50, at in 0usize..72, byte in any::<u8>()) {
            let signature: Signature = signing_key(seed).sign(&[seed]);
            let mut der = signature.to_der().as_bytes().to_vec();
            let at = at % der.len();
            der[at] = byte;
            let theirs = Signature::from_der(&der).ok().map(|s| <[u8; 64]>::from(s.to_bytes()));
            prop_assert_eq!(der_to_raw(&der), theirs);
        }
    }
}
