//! TLS from PEM files: the one reader of certificates and keys (the daemon's HTTPS and remote
//! console listeners read theirs here too), a console's rustls settings (ring), and what a
//! failed handshake means.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why TLS cannot be set up from the files given, naming the file to mend.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read certificates from {}", path.display())]
    Certificates {
        path: PathBuf,
        #[source]
        cause: rustls::pki_types::pem::Error,
    },
    #[error(
        "{} holds no certificate: give a PEM file with -----BEGIN CERTIFICATE-----",
        path.display()
    )]
    NoCertificate { path: PathBuf },
    #[error(
        "cannot read a private key from {}: give a PEM file with -----BEGIN PRIVATE KEY-----",
        path.display()
    )]
    PrivateKey {
        path: PathBuf,
        #[source]
        cause: rustls::pki_types::pem::Error,
    },
    #[error("{} holds a certificate that is not a CA", path.display())]
    NotCa {
        path: PathBuf,
        #[source]
        cause: rustls::Error,
    },
    #[error("the TLS library offers no protocol version")]
    NoProtocolVersion(#[source] rustls::Error),
    #[error("cannot use the certificate {} with the key {}", cert.display(), key.display())]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        cause: rustls::Error,
    },
}

/// The cryptography both ends use: ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file, in order (a chain: the leaf first).
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, SetupError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|cause| SetupError::Certificates {
            path: path.to_path_buf(),
            cause,
        })?;
    if certificates.is_empty() {
        return Err(SetupError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

/// The private key of a PEM file.
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, SetupError> {
    PrivateKeyDer::from_pem_file(path).map_err(|cause| SetupError::PrivateKey {
        path: path.to_path_buf(),
        cause,
    })
}

/// The certificates of a CA file, as trust anchors.
pub fn trust_anchors(ca: &Path) -> Result<Arc<RootCertStore>, SetupError> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(ca)? {
        roots.add(certificate).map_err(|cause| SetupError::NotCa {
            path: ca.to_path_buf(),
            cause,
        })?;
    }
    Ok(Arc::new(roots))
}

/// What a console trusts (the CAs in `ca`) and, when the daemon asks for one, the certificate
/// and key it shows.
pub fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<ClientConfig, SetupError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(SetupError::NoProtocolVersion)?
        .with_root_certificates(trust_anchors(ca)?);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|cause| SetupError::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                cause,
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
