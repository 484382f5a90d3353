//! TLS from PEM files, for HTTPS and for remote consoles: the one reader of certificates and
//! keys, the daemon's and the console's rustls settings (ring), and what a failed handshake means.

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{AlertDescription, ClientConfig, RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file, in order (a chain: the leaf first).
fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("cannot read certificates from {}", path.display()))?;
    anyhow::ensure!(
        !certificates.is_empty(),
        "{} holds no certificate: give a PEM file with -----BEGIN CERTIFICATE-----",
        path.display()
    );
    Ok(certificates)
}

fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).with_context(|| {
        format!(
            "cannot read a private key from {}: give a PEM file with -----BEGIN PRIVATE KEY-----",
            path.display()
        )
    })
}

/// The certificates of a CA file, as trust anchors.
fn trust_anchors(ca: &Path) -> anyhow::Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(ca)? {
        roots
            .add(certificate)
            .with_context(|| format!("{} holds a certificate that is not a CA", ca.display()))?;
    }
    Ok(Arc::new(roots))
}

/// What the daemon shows its clients (`cert`, `key`), and with `client_ca`, the CA a client's
/// own certificate must be signed by (mutual TLS).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<ServerConfig> {
    let chain = certificates(cert)?;
    let key_der = private_key(key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("the TLS library offers no protocol version")?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(trust_anchors(ca)?, provider())
                .build()
                .with_context(|| format!("cannot verify clients with {}", ca.display()))?,
        ),
    };
    builder.with_single_cert(chain, key_der).with_context(|| {
        format!(
            "cannot use the TLS certificate {} with the key {}",
            cert.display(),
            key.display()
        )
    })
}

/// What a console trusts (the CAs in `ca`) and, when the daemon asks for one, the certificate
/// and key it shows.
pub fn client_config(ca: &Path, identity: Option<(&Path, &Path)>) -> anyhow::Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("the TLS library offers no protocol version")?
        .with_root_certificates(trust_anchors(ca)?);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .with_context(|| {
                format!(
                    "cannot use the certificate {} with the key {}",
                    cert.display(),
                    key.display()
                )
            }),
    }
}

/// Why a TLS connection failed, as far as a person can act on it.
#[derive(Debug)]
pub enum Failure<'a> {
    /// The peer's certificate did not verify against what this side trusts.
    Untrusted(&'a rustls::Error),
    /// The peer refused this side's certificate, or the lack of one.
    Refused(&'a rustls::Error),
    /// Anything else: the network, or not TLS at all.
    Other,
}

/// Reads a TLS stream's I/O error (however many layers of I/O errors wrap it, as the wire's
/// framing adds one): the rustls error inside says whose certificate failed.
pub fn failure(error: &std::io::Error) -> Failure<'_> {
    let mut layer: &(dyn std::error::Error + 'static) = error;
    let tls = loop {
        if let Some(tls) = layer.downcast_ref::<rustls::Error>() {
            break tls;
        }
        match layer
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => layer = inner,
            None => return Failure::Other,
        }
    };
    match tls {
        rustls::Error::InvalidCertificate(_) => Failure::Untrusted(tls),
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied,
        ) => Failure::Refused(tls),
        _ => Failure::Other,
    }
}
