//! Who a request comes from: the users the apiserver knows, by bearer token.

use std::collections::HashMap;

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

/// Bearer tokens and the identities they stand for.
#[derive(Debug, Default, Clone)]
pub struct TokenAuthenticator {
    tokens: HashMap<String, Identity>,
}

impl TokenAuthenticator {
    pub fn insert(&mut self, token: String, identity: Identity) {
        self.tokens.insert(token, identity);
    }

    pub fn authenticate(&self, token: &str) -> Option<Identity> {
        self.tokens.get(token).cloned()
    }
}
