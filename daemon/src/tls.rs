//! The daemon's side of TLS, for HTTPS and for remote consoles: what it shows its clients and
//! which client certificates it takes. PEM files are read by `cip_client::tls`, for both ends.

use anyhow::Context as _;
use cip_client::tls::{SetupError, certificates, private_key, provider, trust_anchors};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use std::path::Path;

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
        .map_err(SetupError::NoProtocolVersion)?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(trust_anchors(ca)?, provider())
                .build()
                .with_context(|| format!("cannot verify clients with {}", ca.display()))?,
        ),
    };
    let config =
        builder
            .with_single_cert(chain, key_der)
            .map_err(|cause| SetupError::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                cause,
            })?;
    Ok(config)
}
