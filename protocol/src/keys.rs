//! Secret keys, signatures, and Parley's signature validity rule.
//!
//! A signature `(R, S)` by public key `A` on message `M` is valid under Parley's rule
//! (`spec/03-ids-and-signatures.md`) exactly when all of these hold:
//!
//! 1. `A` is the canonical encoding of a point on the curve, and that point is not of
//!    small order;
//! 2. `S`, read as a little-endian integer, is less than the group order `l`;
//! 3. `R` is the canonical encoding of a point on the curve, and that point is not of
//!    small order;
//! 4. the cofactorless equation `[S]B = R + [k]A` holds, with
//!    `k = SHA-512(R || A || M) mod l`.
//!
//! This is ed25519-dalek's `verify_strict` plus a canonical-`A` check. The checks are
//! ordered so that an invalid signature is rejected with the first rule it breaks.

use std::collections::BTreeMap;

use curve25519_dalek::Scalar;
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::encoding::fixed_bytes;
use crate::id::{NodeId, UserId};

/// An ed25519 signature: `R` (32 bytes) then `S` (32 bytes, little-endian).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "fixed_bytes")] pub [u8; 64]);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature(")?;
        for byte in &self.0[..8] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…)")
    }
}

/// Why a signature is not valid under Parley's rule, by the first rule it breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// `S` is not reduced modulo the group order (a malleable signature).
    #[error("signature scalar S is not below the group order (malleable signature)")]
    ScalarNotReduced,
    /// The public key is not the encoding of a curve point.
    #[error("public key is not a point on the curve")]
    KeyNotOnCurve,
    /// The public key is a non-canonical encoding of its point.
    #[error("public key is not canonically encoded")]
    KeyNotCanonical,
    /// The public key is a point of small order.
    #[error("public key is a point of small order")]
    KeySmallOrder,
    /// `R` is not the encoding of a curve point.
    #[error("signature point R is not on the curve")]
    RNotOnCurve,
    /// `R` is a non-canonical encoding of its point.
    #[error("signature point R is not canonically encoded")]
    RNotCanonical,
    /// `R` is a point of small order.
    #[error("signature point R is of small order")]
    RSmallOrder,
    /// The verification equation does not hold: the signature is not by this key over
    /// these bytes.
    #[error("signature does not match the key and the signed bytes")]
    Mismatch,
}

impl SignatureError {
    /// A stable snake_case name for this failure, for JSON output and test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ScalarNotReduced => "scalar_not_reduced",
            Self::KeyNotOnCurve => "key_not_on_curve",
            Self::KeyNotCanonical => "key_not_canonical",
            Self::KeySmallOrder => "key_small_order",
            Self::RNotOnCurve => "r_not_on_curve",
            Self::RNotCanonical => "r_not_canonical",
            Self::RSmallOrder => "r_small_order",
            Self::Mismatch => "mismatch",
        }
    }
}

/// A public key checked against rule 2 of the signature rule: decoded once, reusable
/// for many verifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Decodes and checks a public key: on the curve, canonical, not of small order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SignatureError> {
        // Decompression is the only failure `VerifyingKey::from_bytes` has.
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| SignatureError::KeyNotOnCurve)?;
        if !is_canonical_encoding(bytes) {
            return Err(SignatureError::KeyNotCanonical);
        }
        if key.is_weak() {
            return Err(SignatureError::KeySmallOrder);
        }
        Ok(Self(key))
    }

    /// The key's 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Checks `signature` on `message` under Parley's rule.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let s: [u8; 32] = signature.0[32..]
            .try_into()
            .map_err(|_| SignatureError::Mismatch)?;
        if bool::from(Scalar::from_canonical_bytes(s).is_none()) {
            return Err(SignatureError::ScalarNotReduced);
        }
        let dalek_signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        match self.0.verify_strict(message, &dalek_signature) {
            Ok(()) => Ok(()),
            Err(_) => Err(diagnose_r(&signature.0)),
        }
    }
}

/// Whether the 32 bytes of a point that decodes are its canonical encoding, the one
/// re-encoding the point gives back: the y-coordinate (the low 255 bits) is below
/// `p = 2^255 - 19`, and the sign bit is clear when `x = 0`, which is when `y` is 1
/// or `p - 1`. Read from the bytes, this costs no field inversion, unlike re-encoding
/// (about 3 µs, a twelfth of a verification, measured by `benches/verify.rs`);
/// `tests::canonical_encoding_matches_re_encoding` checks it against re-encoding.
fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    /// `1`, little-endian.
    const ONE: [u8; 32] = {
        let mut one = [0; 32];
        one[0] = 1;
        one
    };
    /// `p - 1`, little-endian.
    const P_MINUS_ONE: [u8; 32] = {
        let mut p_minus_one = [0xff; 32];
        p_minus_one[0] = 0xec;
        p_minus_one[31] = 0x7f;
        p_minus_one
    };
    let sign_bit_set = bytes[31] & 0x80 != 0;
    let mut y = *bytes;
    y[31] &= 0x7f;
    // y >= p exactly when y is one of p, ..., 2^255 - 1: ed..ff, then 30 bytes ff, then 7f.
    let y_at_least_p = y[31] == 0x7f && y[1..31].iter().all(|&b| b == 0xff) && y[0] >= 0xed;
    !y_at_least_p && !(sign_bit_set && (y == ONE || y == P_MINUS_ONE))
}

/// Names why `verify_strict` refused a signature whose key and `S` passed: a bad `R`
/// or, failing that, the equation.
fn diagnose_r(signature: &[u8; 64]) -> SignatureError {
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    let Some(point) = CompressedEdwardsY(r).decompress() else {
        return SignatureError::RNotOnCurve;
    };
    if point.compress().to_bytes() != r {
        return SignatureError::RNotCanonical;
    }
    if point.is_small_order() {
        return SignatureError::RSmallOrder;
    }
    SignatureError::Mismatch
}

/// Checks a signature by raw key bytes under Parley's rule (rules 1 to 4 above).
pub fn verify_signature(
    public_key: &[u8; 32],
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    PublicKey::from_bytes(public_key)?.verify(message, signature)
}

/// Checks many signatures, each exactly as [`verify_signature`] would: the result at
/// index `i` is the verdict on `items[i]`, naming the first rule it breaks. A key that
/// signs several items is decoded and checked once.
///
/// This is not a randomized batch verification, on purpose. A batch checks
/// `sum z_i * E_i = 0` for random `z_i`, where `E_i = [S_i]B - R_i - [k_i]A_i` is each
/// signature's error. When `E_i` is a nonzero point of small order (an `R` or `A`
/// with a torsion component; neither is small order itself, so rules 2 and 3 pass),
/// `z_i * E_i` vanishes whenever the order of `E_i` divides `z_i`: one batch in eight
/// for an order-8 error, one in two for order 2. Such a batch accepts a signature that
/// the cofactorless single check (rule 4) refuses, and ed25519-dalek's `verify_batch`
/// does so in practice (`tests/signature_vectors.rs`). Making a batch exact would mean
/// proving every `R` and `A` torsion-free, a scalar multiplication each, which costs
/// what the batch saves. Parley's validity must not depend on which path checked a
/// post, so every path runs the single check.
pub fn verify_many(items: &[(&[u8; 32], &[u8], &Signature)]) -> Vec<Result<(), SignatureError>> {
    let mut keys: BTreeMap<[u8; 32], Result<PublicKey, SignatureError>> = BTreeMap::new();
    items
        .iter()
        .map(|(public_key, message, signature)| {
            let key = *keys
                .entry(**public_key)
                .or_insert_with(|| PublicKey::from_bytes(public_key));
            key.and_then(|key| key.verify(message, signature))
        })
        .collect()
}

/// An ed25519 secret key. It signs; it is never printed or serialized by this crate.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key with this 32-byte seed (RFC 8032's secret key). Callers pass randomness
    /// in; this crate reads no entropy of its own.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for storing the key in a file the caller protects.
    pub fn to_seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key as a user id.
    pub fn user_id(&self) -> UserId {
        UserId(self.0.verifying_key().to_bytes())
    }

    /// The public key as a node id.
    pub fn node_id(&self) -> NodeId {
        NodeId(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` (RFC 8032 Ed25519, deterministic).
    pub fn sign(&self, message: &[u8]) -> Signature {
        use ed25519_dalek::Signer as _;
        Signature(self.0.sign(message).to_bytes())
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({} …redacted)", self.user_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify() {
        let key = SecretKey::from_seed(&[3; 32]);
        let signature = key.sign(b"hello");
        assert_eq!(
            verify_signature(&key.user_id().0, b"hello", &signature),
            Ok(())
        );
        assert_eq!(
            verify_signature(&key.user_id().0, b"hellO", &signature),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malleated_scalar_is_refused() {
        // S + l verifies under the cofactorless equation but breaks rule 1.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let key = SecretKey::from_seed(&[4; 32]);
        let mut signature = key.sign(b"m");
        let mut carry = 0u16;
        for (i, l) in L.iter().enumerate() {
            let sum = u16::from(signature.0[32 + i]) + u16::from(*l) + carry;
            signature.0[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(
            verify_signature(&key.user_id().0, b"m", &signature),
            Err(SignatureError::ScalarNotReduced)
        );
    }

    #[test]
    fn verify_many_gives_each_item_its_single_verdict() {
        let alice = SecretKey::from_seed(&[5; 32]);
        let bob = SecretKey::from_seed(&[6; 32]);
        let (a, b) = (alice.user_id().0, bob.user_id().0);
        let (sig_a1, sig_a2, sig_b) = (alice.sign(b"one"), alice.sign(b"two"), bob.sign(b"three"));
        let small_order = [0u8; 32];
        let items: [(&[u8; 32], &[u8], &Signature); 5] = [
            (&a, b"one", &sig_a1),
            (&b, b"three", &sig_b),
            (&a, b"two", &sig_a1),
            (&small_order, b"one", &sig_a1),
            (&a, b"two", &sig_a2),
        ];
        let expected: Vec<_> = items
            .iter()
            .map(|(k, m, s)| verify_signature(k, m, s))
            .collect();
        assert_eq!(verify_many(&items), expected);
        assert_eq!(
            expected,
            vec![
                Ok(()),
                Ok(()),
                Err(SignatureError::Mismatch),
                Err(SignatureError::KeySmallOrder),
                Ok(())
            ]
        );
        assert!(verify_many(&[]).is_empty());
    }

    #[test]
    fn canonical_encoding_matches_re_encoding() {
        // Every y near 0 and near 2^255 (where y >= p lives), with both sign bits, and
        // pseudo-random encodings; only bytes that decode are meaningful.
        let mut encodings: Vec<[u8; 32]> = Vec::new();
        for small in 0u8..64 {
            let mut low = [0u8; 32];
            low[0] = small;
            let mut high = [0xffu8; 32];
            high[0] = 0xff - small;
            high[31] = 0x7f;
            encodings.extend([low, high]);
        }
        for i in 0u32..512 {
            encodings.push(*blake3::hash(&i.to_le_bytes()).as_bytes());
        }
        let mut decoded = 0;
        for mut bytes in encodings {
            for sign in [0u8, 0x80] {
                bytes[31] = (bytes[31] & 0x7f) | sign;
                if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                    decoded += 1;
                    let canonical = point.compress().to_bytes() == bytes;
                    assert_eq!(is_canonical_encoding(&bytes), canonical, "{bytes:02x?}");
                }
            }
        }
        assert!(
            decoded > 500,
            "enough encodings decode to make the test meaningful"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = SecretKey::from_seed(&[0xab; 32]);
        assert!(!format!("{key:?}").contains("abab"));
    }
}
