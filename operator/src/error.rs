//! One error type for the reconciler. Each variant maps to a bounded reason used by the status
//! condition, the Warning event and the `bp_reconcile_errors_total` label.

/// Why a reconciliation failed. Invalid specs are not errors: they are a status, and the
/// reconciler waits for a change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the Kubernetes API failed.
    #[error("{action}: {}", bp_generator::cluster::api_error_message(source))]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// The generator wrote a ConfigMap the operator cannot read.
    #[error("ConfigMap {name}: {message}")]
    BadConfigMap { name: String, message: String },
    /// The object lacks what every stored object has.
    #[error("BuilderPlayground {0} has no namespace")]
    NoNamespace(String),
}

impl Error {
    /// A bounded CamelCase reason, for conditions, events and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube { source: kube::Error::Api(status), .. } if status.code == 403 => "Forbidden",
            Error::Kube { source: kube::Error::Api(status), .. } if status.code == 409 => "Conflict",
            Error::Kube { .. } => "KubeApiError",
            Error::BadConfigMap { .. } => "BadConfigMap",
            Error::NoNamespace(_) => "NoNamespace",
        }
    }
}

impl Error {
    /// The API refused because the namespace is being deleted (and the playground with it).
    pub fn namespace_terminating(&self) -> bool {
        match self {
            Error::Kube { source: kube::Error::Api(status), .. } => {
                status.code == 403
                    && status
                        .details
                        .as_ref()
                        .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
            }
            _ => false,
        }
    }
}

/// Attaches what was being done to a kube error.
pub trait Context<T> {
    fn during(self, action: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Context<T> for Result<T, kube::Error> {
    fn during(self, action: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|source| Error::Kube { action: action(), source })
    }
}
