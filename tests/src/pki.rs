//! Certificates for tests of TLS: a CA, and certificates it signs for servers and clients.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// A CA and the certificates it signs, as PEM files in a dir (a temporary one of its own, or
/// one given).
pub struct Pki {
    dir: PathBuf,
    _temporary: Option<tempfile::TempDir>,
}

/// A CA's certificate file and what it signs with.
pub struct Ca {
    /// The CA's certificate, the file a peer is told to trust.
    pub file: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    /// In a temporary dir, removed with the value.
    pub fn temporary() -> Pki {
        let temporary = tempfile::tempdir().expect("a dir");
        Pki {
            dir: temporary.path().to_path_buf(),
            _temporary: Some(temporary),
        }
    }

    /// In `dir`, which outlives the value.
    pub fn at(dir: &Path) -> Pki {
        Pki {
            dir: dir.to_path_buf(),
            _temporary: None,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn ca(&self, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a key");
        let cert = params.self_signed(&key).expect("a CA certificate");
        let file = self.path(&format!("{name}.pem"));
        std::fs::write(&file, cert.pem()).expect("written");
        Ca {
            file,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` signed by `ca`, for `purpose`: its (certificate, key) files.
    pub fn leaf(
        &self,
        ca: &Ca,
        file: &str,
        names: &[&str],
        purpose: ExtendedKeyUsagePurpose,
    ) -> (PathBuf, PathBuf) {
        let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).expect("valid names");
        params.distinguished_name.push(DnType::CommonName, file);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &ca.issuer).expect("signed");
        let (cert_file, key_file) = (
            self.path(&format!("{file}.pem")),
            self.path(&format!("{file}-key.pem")),
        );
        std::fs::write(&cert_file, cert.pem()).expect("written");
        std::fs::write(&key_file, key.serialize_pem()).expect("written");
        (cert_file, key_file)
    }
}
