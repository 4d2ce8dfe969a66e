//! The rustls configurations of both roles, wrapped for QUIC.
//!
//! Both: TLS 1.3 only (QUIC needs nothing else), ring, ed25519 handshake signatures
//! only, RFC 7250 raw public keys only, both sides present their key, no session
//! resumption (every connection runs a full handshake, so every connection is
//! authenticated by a fresh signature), no 0-RTT.

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::{AlwaysResolvesClientRawPublicKeys, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::server::{AlwaysResolvesServerRawPublicKeys, NoServerSessionStorage};

use super::TransportError;
use super::identity::Identity;
use super::verifier::RawKeyVerifier;

/// The server's TLS: presents `identity`, requires and verifies the client's raw key,
/// serves the ALPNs `alpns` (in order of preference; a client must offer one of them).
pub(crate) fn server_crypto(
    identity: &Identity,
    alpns: &[&[u8]],
) -> Result<Arc<QuicServerConfig>, TransportError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(RawKeyVerifier))
        .with_cert_resolver(Arc::new(AlwaysResolvesServerRawPublicKeys::new(
            identity.certified_key(),
        )));
    config.alpn_protocols = alpns.iter().map(|alpn| alpn.to_vec()).collect();
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    let quic =
        QuicServerConfig::try_from(config).map_err(|_| TransportError::NoInitialCipherSuite)?;
    Ok(Arc::new(quic))
}

/// The client's TLS for one connection: presents `identity`, verifies the server's raw
/// key, asks for the one ALPN `alpn`.
pub(crate) fn client_crypto(
    identity: &Identity,
    alpn: &[u8],
) -> Result<Arc<QuicClientConfig>, TransportError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        // rustls calls every custom verifier "dangerous"; this one checks the server's
        // key and signature (see `verifier`), and the caller checks which key it is.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RawKeyVerifier))
        .with_client_cert_resolver(Arc::new(AlwaysResolvesClientRawPublicKeys::new(
            identity.certified_key(),
        )));
    wrap_client(config, alpn)
}

/// Sets what every Parley client config shares (one ALPN, no SNI, no resumption) and
/// wraps it for QUIC.
fn wrap_client(
    mut config: rustls::ClientConfig,
    alpn: &[u8],
) -> Result<Arc<QuicClientConfig>, TransportError> {
    config.alpn_protocols = vec![alpn.to_vec()];
    // The server name is meaningless with raw keys; do not send it.
    config.enable_sni = false;
    config.resumption = Resumption::disabled();
    let quic =
        QuicClientConfig::try_from(config).map_err(|_| TransportError::NoInitialCipherSuite)?;
    Ok(Arc::new(quic))
}

/// ring, with its default TLS 1.3 cipher suites and key exchange groups.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Client configs that break the rules, for tests of the server's refusals.
#[cfg(test)]
pub(crate) mod misbehaving {
    use rustls::client::ResolvesClientCert;
    use rustls::pki_types::CertificateDer;
    use rustls::sign::CertifiedKey;

    use super::*;

    /// A client that presents no key at all.
    pub(crate) fn without_key(alpn: &[u8]) -> Arc<QuicClientConfig> {
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(RawKeyVerifier))
            .with_no_client_auth();
        wrap_client(config, alpn).unwrap()
    }

    /// A client that offers an X.509 certificate (here its raw key's bytes, declared as
    /// X.509) instead of a raw public key.
    pub(crate) fn with_x509(identity: &Identity, alpn: &[u8]) -> Arc<QuicClientConfig> {
        #[derive(Debug)]
        struct X509Resolver(Arc<CertifiedKey>);
        impl ResolvesClientCert for X509Resolver {
            fn resolve(
                &self,
                _hints: &[&[u8]],
                _schemes: &[rustls::SignatureScheme],
            ) -> Option<Arc<CertifiedKey>> {
                Some(self.0.clone())
            }
            fn has_certs(&self) -> bool {
                true
            }
        }
        let certified = identity.certified_key();
        let x509 = CertifiedKey::new(
            vec![CertificateDer::from(certified.cert[0].to_vec())],
            certified.key.clone(),
        );
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(RawKeyVerifier))
            .with_client_cert_resolver(Arc::new(X509Resolver(Arc::new(x509))));
        wrap_client(config, alpn).unwrap()
    }
}
