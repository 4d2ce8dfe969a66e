//! The ed25519 key as a TLS identity: the DER forms rustls needs (RFC 7250 raw public
//! keys), and the strict parse of a peer's key.
//!
//! - Secret: PKCS#8 v1 (RFC 8410) is a fixed 16-byte prefix, then the 32-byte seed.
//! - Public: a SubjectPublicKeyInfo (RFC 8410) is a fixed 12-byte prefix, then the
//!   32-byte key. A peer's raw public key is exactly these 44 bytes, nothing else.

use std::sync::Arc;

use parley_protocol::SignatureError;
use parley_protocol::keys::PublicKey;
use parley_protocol::{NodeId, SecretKey};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use super::TransportError;

/// DER of a PKCS#8 v1 `PrivateKeyInfo` for Ed25519 (OID 1.3.101.112) up to the seed:
/// SEQUENCE(46) { INTEGER 0, SEQUENCE { OID }, OCTET STRING(34) { OCTET STRING(32) } }.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// DER of a `SubjectPublicKeyInfo` for Ed25519 up to the key:
/// SEQUENCE(42) { SEQUENCE { OID 1.3.101.112 }, BIT STRING(33) { 0 unused bits } }.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Length of an Ed25519 `SubjectPublicKeyInfo`: the prefix and the 32-byte key.
const SPKI_ED25519_LEN: usize = SPKI_ED25519_PREFIX.len() + 32;

/// Why a peer's raw public key is not a usable ed25519 key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerKeyError {
    /// The SubjectPublicKeyInfo has the wrong length for an ed25519 key.
    #[error("the key info is {len} bytes, an ed25519 key info is {SPKI_ED25519_LEN}")]
    WrongLength {
        /// Its length.
        len: usize,
    },
    /// The SubjectPublicKeyInfo is not the ed25519 one (another algorithm, or another
    /// encoding of it).
    #[error("the key info is not an ed25519 key")]
    NotEd25519,
    /// The 32 bytes are not a usable ed25519 point (off the curve, non-canonical or of
    /// small order).
    #[error("the ed25519 key is invalid: {0}")]
    InvalidKey(SignatureError),
}

/// The `SubjectPublicKeyInfo` DER of an ed25519 public key.
pub fn spki_der(public_key: &[u8; 32]) -> [u8; SPKI_ED25519_LEN] {
    let mut der = [0u8; SPKI_ED25519_LEN];
    der[..SPKI_ED25519_PREFIX.len()].copy_from_slice(&SPKI_ED25519_PREFIX);
    der[SPKI_ED25519_PREFIX.len()..].copy_from_slice(public_key);
    der
}

/// The ed25519 key in a peer's `SubjectPublicKeyInfo` DER. Strict: exactly the 44
/// bytes [`spki_der`] writes, and a key that passes Parley's key rule (on the curve,
/// canonical, not of small order).
pub fn parse_spki(der: &[u8]) -> Result<[u8; 32], PeerKeyError> {
    if der.len() != SPKI_ED25519_LEN {
        return Err(PeerKeyError::WrongLength { len: der.len() });
    }
    let (prefix, key) = der.split_at(SPKI_ED25519_PREFIX.len());
    if prefix != SPKI_ED25519_PREFIX {
        return Err(PeerKeyError::NotEd25519);
    }
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| PeerKeyError::WrongLength { len: der.len() })?;
    PublicKey::from_bytes(&key).map_err(PeerKeyError::InvalidKey)?;
    Ok(key)
}

/// A secret key made ready for rustls: its signing key and its raw public key, which
/// is the one "certificate" it presents.
#[derive(Clone)]
pub(crate) struct Identity {
    certified: Arc<CertifiedKey>,
    id: NodeId,
}

impl Identity {
    /// The TLS identity of `key`.
    pub(crate) fn new(key: &SecretKey) -> Result<Self, TransportError> {
        let mut pkcs8 = [0u8; PKCS8_ED25519_PREFIX.len() + 32];
        pkcs8[..PKCS8_ED25519_PREFIX.len()].copy_from_slice(&PKCS8_ED25519_PREFIX);
        let mut seed = key.to_seed();
        pkcs8[PKCS8_ED25519_PREFIX.len()..].copy_from_slice(&seed);
        let signing =
            rustls::crypto::ring::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(&pkcs8[..]));
        // Best effort: do not leave copies of the seed on the stack (ring keeps its own).
        seed.fill(0);
        pkcs8.fill(0);
        std::hint::black_box((&seed, &pkcs8));
        let public = key.node_id();
        let spki = CertificateDer::from(spki_der(public.as_bytes()).to_vec());
        Ok(Self {
            certified: Arc::new(CertifiedKey::new(vec![spki], signing?)),
            id: public,
        })
    }

    /// The rustls form: the raw public key as the only "certificate", and the signer.
    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        self.certified.clone()
    }

    /// An identity that presents `presented`'s public key but signs with `signer`:
    /// what an impostor holding only someone's public key would look like.
    #[cfg(test)]
    pub(crate) fn impostor(presented: &SecretKey, signer: &SecretKey) -> Self {
        let honest = Self::new(presented).unwrap();
        let other = Self::new(signer).unwrap();
        Self {
            certified: Arc::new(CertifiedKey::new(
                honest.certified.cert.clone(),
                other.certified.key.clone(),
            )),
            id: honest.id,
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_prefixes_are_rfc_8410() {
        assert_eq!(
            hex::encode(PKCS8_ED25519_PREFIX),
            "302e020100300506032b657004220420"
        );
        assert_eq!(hex::encode(SPKI_ED25519_PREFIX), "302a300506032b6570032100");
    }

    #[test]
    fn our_key_info_is_the_one_rustls_derives_from_the_secret() {
        for seed in [[0u8; 32], [7; 32], [0xff; 32]] {
            let key = SecretKey::from_seed(&seed);
            let identity = Identity::new(&key).unwrap();
            let from_rustls = identity.certified.key.public_key().unwrap();
            assert_eq!(
                from_rustls.as_ref(),
                &spki_der(key.node_id().as_bytes())[..]
            );
            assert_eq!(
                identity.certified.end_entity_cert().unwrap().as_ref(),
                from_rustls.as_ref()
            );
            assert_eq!(identity.id, key.node_id());
        }
    }

    #[test]
    fn key_info_round_trips() {
        let key = SecretKey::from_seed(&[9; 32]).node_id();
        assert_eq!(parse_spki(&spki_der(key.as_bytes())), Ok(key.0));
    }

    #[test]
    fn anything_but_an_ed25519_key_info_is_refused() {
        let key = SecretKey::from_seed(&[9; 32]).node_id().0;
        let good = spki_der(&key);
        assert_eq!(
            parse_spki(&good[..43]),
            Err(PeerKeyError::WrongLength { len: 43 })
        );
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(
            parse_spki(&long),
            Err(PeerKeyError::WrongLength { len: 45 })
        );
        assert_eq!(parse_spki(&[]), Err(PeerKeyError::WrongLength { len: 0 }));
        // X25519 (OID 1.3.101.110) has the same shape.
        let mut x25519 = good;
        x25519[8] = 0x6e;
        assert_eq!(parse_spki(&x25519), Err(PeerKeyError::NotEd25519));
        // Bit string with unused bits.
        let mut unused_bits = good;
        unused_bits[11] = 0x01;
        assert_eq!(parse_spki(&unused_bits), Err(PeerKeyError::NotEd25519));
        // A small-order point is well formed DER but no key.
        assert_eq!(
            parse_spki(&spki_der(&[0; 32])),
            Err(PeerKeyError::InvalidKey(SignatureError::KeySmallOrder))
        );
    }

    #[test]
    fn debug_shows_only_the_public_key() {
        let key = SecretKey::from_seed(&[0xab; 32]);
        let text = format!("{:?}", Identity::new(&key).unwrap());
        assert!(text.contains(&key.node_id().to_string()), "{text}");
        assert!(!text.contains("abab"), "{text}");
    }
}
