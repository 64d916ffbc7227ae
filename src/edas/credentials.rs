//! Access keys, kept in a type that never shows its secret.

use std::collections::BTreeMap;

pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// An EDAS access key. `Debug` and `Display` show the key id only; the secret and the STS token
/// are never formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: Option<String>,
    /// When temporary credentials (STS) stop working; `None` for long-lived keys.
    expiration: Option<std::time::SystemTime>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("{source_name}: missing key {key}")]
    Missing {
        source_name: String,
        key: &'static str,
    },
    #[error("{source_name}: key {key} is empty or not valid UTF-8")]
    Invalid {
        source_name: String,
        key: &'static str,
    },
}

impl Credentials {
    pub fn new(
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
        security_token: Option<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: security_token.filter(|t| !t.is_empty()),
            expiration: None,
        }
    }

    /// The same credentials, known to expire at `at`.
    pub fn with_expiration(mut self, at: std::time::SystemTime) -> Self {
        self.expiration = Some(at);
        self
    }

    pub fn expiration(&self) -> Option<std::time::SystemTime> {
        self.expiration
    }

    /// A digest of the secret parts (secret, token), to tell a rotated key from the old one
    /// without keeping or showing either.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            format!(
                "{}\0{}\0{}",
                self.access_key_id,
                self.access_key_secret,
                self.security_token.as_deref().unwrap_or("")
            )
            .as_bytes(),
        ))
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret, for the signer only.
    pub fn access_key_secret(&self) -> &str {
        &self.access_key_secret
    }

    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }

    /// From a lookup of the three variable names (environment or Secret data).
    pub fn from_lookup(
        source_name: &str,
        get: impl Fn(&'static str) -> Option<Result<String, ()>>,
    ) -> Result<Self, CredentialsError> {
        let required = |key: &'static str| -> Result<String, CredentialsError> {
            match get(key) {
                None => Err(CredentialsError::Missing {
                    source_name: source_name.to_string(),
                    key,
                }),
                Some(Ok(v)) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                Some(_) => Err(CredentialsError::Invalid {
                    source_name: source_name.to_string(),
                    key,
                }),
            }
        };
        let id = required(ENV_ACCESS_KEY_ID)?;
        let secret = required(ENV_ACCESS_KEY_SECRET)?;
        let token = match get(ENV_SECURITY_TOKEN) {
            None => None,
            Some(Ok(t)) => Some(t.trim().to_string()),
            Some(Err(())) => {
                return Err(CredentialsError::Invalid {
                    source_name: source_name.to_string(),
                    key: ENV_SECURITY_TOKEN,
                });
            }
        };
        Ok(Self::new(id, secret, token))
    }

    /// From the operator's own environment. `Ok(None)` when no key id is set at all.
    pub fn from_env() -> Result<Option<Self>, CredentialsError> {
        if std::env::var_os(ENV_ACCESS_KEY_ID).is_none() {
            return Ok(None);
        }
        Self::from_lookup("environment", |k| {
            std::env::var_os(k).map(|v| v.into_string().map_err(|_| ()))
        })
        .map(Some)
    }

    /// From a Kubernetes Secret's `data` (bytes).
    pub fn from_secret_data(
        secret_name: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, CredentialsError> {
        Self::from_lookup(&format!("Secret {secret_name}"), |k| {
            data.get(k)
                .map(|v| String::from_utf8(v.clone()).map_err(|_| ()))
        })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl std::fmt::Display for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "access key {} (secret redacted)", self.access_key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let c = Credentials::new("AKID", "s3cr3t-value", Some("sts-t0ken".into()));
        for s in [format!("{c:?}"), format!("{c}"), format!("{c:#?}")] {
            assert!(!s.contains("s3cr3t-value"), "{s}");
            assert!(!s.contains("sts-t0ken"), "{s}");
            assert!(s.contains("AKID"), "{s}");
        }
    }

    #[test]
    fn secret_data_with_missing_key_names_the_key() {
        let mut data = BTreeMap::new();
        data.insert(ENV_ACCESS_KEY_ID.to_string(), b"id".to_vec());
        let err = Credentials::from_secret_data("edas-creds", &data).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Secret edas-creds: missing key ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        );
        data.insert(ENV_ACCESS_KEY_SECRET.to_string(), vec![0xff, 0xfe]);
        let err = Credentials::from_secret_data("edas-creds", &data).unwrap_err();
        assert!(matches!(err, CredentialsError::Invalid { .. }));
        data.insert(ENV_ACCESS_KEY_SECRET.to_string(), b"sec\n".to_vec());
        let c = Credentials::from_secret_data("edas-creds", &data).unwrap();
        assert_eq!(c.access_key_secret(), "sec");
        assert_eq!(c.security_token(), None);
    }
}
