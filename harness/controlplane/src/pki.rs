//! The control plane's own certificate authority: it signs the apiserver's serving
//! certificate, and the kubeconfig trusts nothing else.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::Error;

/// A CA and a serving certificate for loopback.
pub struct Pki {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A client certificate and its key, PEM-encoded, for a kubeconfig.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

impl Pki {
    /// A fresh CA, and a certificate for 127.0.0.1, localhost and the `kubernetes` Service's
    /// names (in `cluster_domain`) and ClusterIP, as kubeadm's apiserver certificate. The keys
    /// live only in this process, so rcgen's default validity is fine.
    pub fn generate(cluster_domain: &str, service_ip: std::net::Ipv4Addr) -> Result<Pki, Error> {
        let pki = |e: rcgen::Error| Error::Pki(e.to_string());
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "podcheck-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(pki)?)
            .map_err(pki)?;

        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            format!("kubernetes.default.svc.{cluster_domain}"),
        ])
        .map_err(pki)?;
        for ip in [std::net::Ipv4Addr::LOCALHOST, service_ip] {
            params.subject_alt_names.push(SanType::IpAddress(ip.into()));
        }
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate().map_err(pki)?;
        let cert = params.signed_by(&key, &ca).map_err(pki)?;
        Ok(Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server_chain: vec![cert.der().clone(), ca.der().clone()],
            server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            issuer: ca,
        })
    }

    /// A client certificate signed by the CA: CN is the user, one O per group, as
    /// kube-apiserver's x509 authenticator reads them.
    pub fn client_certificate(
        &self,
        user: &str,
        groups: &[String],
    ) -> Result<ClientCertificate, Error> {
        let pki = |e: rcgen::Error| Error::Pki(e.to_string());
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, user);
        for g in groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, g.as_str());
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(pki)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(pki)?;
        Ok(ClientCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName;

    #[test]
    fn the_serving_certificate_names_the_kubernetes_service_of_this_cluster() {
        let pki = Pki::generate("corp.example", std::net::Ipv4Addr::new(10, 100, 0, 1)).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&pki.server_chain[0]).unwrap();
        let sans = cert.subject_alternative_name().unwrap().unwrap();
        let names: Vec<String> = sans
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(ip) => format!("{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert!(
            names.contains(&"kubernetes.default.svc.corp.example".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&format!("{:?}", [10u8, 100, 0, 1])),
            "{names:?}"
        );
        assert!(
            names.contains(&format!("{:?}", [127u8, 0, 0, 1])),
            "{names:?}"
        );
    }
}
