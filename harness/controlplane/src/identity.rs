//! Who a request comes from: the users the apiserver knows, by bearer token.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use rand::Rng;

/// An authenticated user, as Kubernetes' `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn anonymous() -> Self {
        Identity {
            user: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    /// The control plane's administrator: a member of `system:masters`.
    pub fn admin() -> Self {
        Identity {
            user: "podcheck-admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }
}

/// A fresh random bearer token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bearer tokens and the identities they stand for. Shared: ServiceAccount tokens are
/// added while the apiserver runs (TokenRequest), each until its expiry.
#[derive(Debug, Default, Clone)]
pub struct TokenAuthenticator {
    tokens: Arc<RwLock<Tokens>>,
}

/// Token → (who, until when).
type Tokens = HashMap<String, (Identity, Option<Instant>)>;

impl TokenAuthenticator {
    pub fn insert(&self, token: String, identity: Identity) {
        self.write().insert(token, (identity, None));
    }

    /// A token that stops authenticating at `expires`.
    pub fn insert_expiring(&self, token: String, identity: Identity, expires: Instant) {
        self.write().insert(token, (identity, Some(expires)));
    }

    pub fn authenticate(&self, token: &str) -> Option<Identity> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        match tokens.get(token)? {
            (_, Some(expires)) if Instant::now() >= *expires => None,
            (identity, _) => Some(identity.clone()),
        }
    }

    fn write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<String, (Identity, Option<Instant>)>> {
        self.tokens.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Identity {
    /// A ServiceAccount's user and groups, as the ServiceAccount token authenticator
    /// gives them.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Identity {
            user: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }

    /// The user of a client certificate: CN is the user, each O a group.
    pub fn from_certificate(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let user = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        let mut groups: Vec<String> = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        groups.push("system:authenticated".into());
        Some(Identity { user, groups })
    }
}
