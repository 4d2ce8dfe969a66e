//! The peer check of both TLS roles: the peer presents one raw public key (RFC 7250),
//! a well-formed ed25519 key, and its TLS 1.3 `CertificateVerify` signature verifies
//! with that key under Parley's signature rule. That signature is the authentication:
//! it proves the peer holds the secret key of the public key it presented.
//!
//! Any well-formed key passes here; which keys are welcome (the expected node, the
//! registered users, the node's own key for admin) is decided right after the
//! handshake, from [`peer_key`](super::peer_key).
//!
//! rustls names its verifier traits `danger`: implementing them is how a
//! raw-public-key identity is checked at all. Nothing here skips a check.

use std::sync::Arc;

use parley_protocol::Signature;
use parley_protocol::keys::verify_signature;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError,
    PeerIncompatible, PeerMisbehaved, SignatureScheme,
};

use super::identity::{PeerKeyError, parse_spki};

/// Verifies a peer's raw ed25519 public key and its handshake signature, as a client
/// (of the server's key) and as a server (of the client's key, which it requires).
#[derive(Debug)]
pub(crate) struct RawKeyVerifier;

impl ServerCertVerifier for RawKeyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        check_presented_key(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::PeerIncompatible(PeerIncompatible::Tls12NotOffered))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_handshake_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

impl ClientCertVerifier for RawKeyVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        check_presented_key(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::PeerIncompatible(PeerIncompatible::Tls12NotOffered))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_handshake_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// The peer presented exactly one raw public key, and it is a well-formed ed25519 key.
fn check_presented_key(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Result<(), Error> {
    if !intermediates.is_empty() {
        return Err(Error::InvalidCertificate(CertificateError::BadEncoding));
    }
    parse_spki(end_entity.as_ref()).map_err(bad_key)?;
    Ok(())
}

/// The handshake transcript signature `dss` verifies with the raw key `cert`.
fn verify_handshake_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, Error> {
    verify_signed(message, cert.as_ref(), dss.scheme, dss.signature())?;
    Ok(HandshakeSignatureValid::assertion())
}

/// `signature` by the key in `spki` over `message` (what TLS 1.3 signs, RFC 8446
/// 4.4.3; ed25519 signs it unhashed) is valid under Parley's signature rule.
fn verify_signed(
    message: &[u8],
    spki: &[u8],
    scheme: SignatureScheme,
    signature: &[u8],
) -> Result<(), Error> {
    if scheme != SignatureScheme::ED25519 {
        return Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
    }
    let key = parse_spki(spki).map_err(bad_key)?;
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadSignature))?;
    verify_signature(&key, message, &Signature(signature))
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadSignature))
}

/// The rustls error for a presented key that is not a usable ed25519 key; it carries
/// our reason, so the failure names it.
fn bad_key(error: PeerKeyError) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(error))))
}

#[cfg(test)]
mod tests {
    use parley_protocol::SecretKey;

    use super::*;
    use crate::transport::identity::spki_der;

    #[test]
    fn the_signature_must_be_by_the_presented_key() {
        let key = SecretKey::from_seed(&[1; 32]);
        let other = SecretKey::from_seed(&[2; 32]);
        let spki = spki_der(key.node_id().as_bytes());
        let message = b"tls 1.3 content to sign";
        let ed25519 = SignatureScheme::ED25519;
        let good = key.sign(message).0;
        assert!(verify_signed(message, &spki, ed25519, &good).is_ok());
        let by_other = other.sign(message).0;
        assert!(verify_signed(message, &spki, ed25519, &by_other).is_err());
        assert!(verify_signed(b"other content", &spki, ed25519, &good).is_err());
        assert!(verify_signed(message, &spki, ed25519, &good[..63]).is_err());
        let ecdsa = SignatureScheme::ECDSA_NISTP256_SHA256;
        assert!(verify_signed(message, &spki, ecdsa, &good).is_err());
        let small_order = spki_der(&[0; 32]);
        assert!(verify_signed(message, &small_order, ed25519, &good).is_err());
    }

    #[test]
    fn one_well_formed_key_is_required() {
        let key = SecretKey::from_seed(&[1; 32]).node_id();
        let cert = CertificateDer::from(spki_der(key.as_bytes()).to_vec());
        assert!(check_presented_key(&cert, &[]).is_ok());
        assert!(check_presented_key(&cert, std::slice::from_ref(&cert)).is_err());
        let small_order = CertificateDer::from(spki_der(&[0; 32]).to_vec());
        let error = check_presented_key(&small_order, &[]).unwrap_err();
        assert!(error.to_string().contains("KeySmallOrder"), "{error}");
        assert!(check_presented_key(&CertificateDer::from(vec![0x30, 0x00]), &[]).is_err());
    }
}
