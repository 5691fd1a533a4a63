//! One error type for the reconciler. Each variant maps to a bounded reason used by the status
//! condition, the Warning event and the `bp_reconcile_errors_total` label.

/// Why a reconciliation failed. Invalid specs are not errors: they are a status, and the
/// reconciler waits for a change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the Kubernetes API failed.
    #[error("{action}: {}{}", bp_generator::cluster::api_error_message(source), pod_security_advice(source))]
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

/// Every reason of [`Error::reason`], and `Undecodable` (an object the watch skips): the
/// values of `bp_reconcile_errors_total{reason}`, each exported at 0 from the start.
pub const REASONS: [&str; 7] =
    ["PodSecurityRefused", "Forbidden", "Conflict", "KubeApiError", "BadConfigMap", "NoNamespace", "Undecodable"];

impl Error {
    /// A bounded CamelCase reason, for conditions, events and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube { source, .. } if refused_by_pod_security(source) => "PodSecurityRefused",
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

/// The namespace's Pod Security admission refused the object (`violates PodSecurity`).
fn refused_by_pod_security(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 403 && status.message.contains("violates PodSecurity"))
}

/// What to do about a Pod Security refusal: local-path storage is a hostPath volume, which the
/// `baseline` and `restricted` levels refuse.
fn pod_security_advice(e: &kube::Error) -> &'static str {
    match e {
        kube::Error::Api(status) if refused_by_pod_security(e) && status.message.contains("hostPath") => {
            "; local-path storage is a hostPath volume, which this namespace's Pod Security level refuses: use spec.storage.type pvc (or ephemeral), or a namespace whose pod-security.kubernetes.io/enforce level is privileged"
        }
        _ if refused_by_pod_security(e) => {
            "; the devnet's images need what this namespace's Pod Security level refuses: use a namespace whose pod-security.kubernetes.io/enforce level is privileged"
        }
        _ => "",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The error of a request the API server refused with `code` (and a cause, if given).
    fn refused(code: u16, cause: Option<&str>) -> Error {
        let mut status = serde_json::json!({"status": "Failure", "code": code, "message": "denied", "reason": "x"});
        if let Some(reason) = cause {
            status["details"] = serde_json::json!({"causes": [{"reason": reason, "message": "m"}]});
        }
        let status: kube::core::Status = serde_json::from_value(status).expect("a Status");
        Err::<(), _>(kube::Error::Api(Box::new(status))).during(|| "applying Pod dev/l1".into()).unwrap_err()
    }

    #[test]
    fn every_error_has_one_bounded_reason() {
        assert_eq!(refused(403, None).reason(), "Forbidden");
        assert_eq!(refused(409, None).reason(), "Conflict");
        assert_eq!(refused(500, None).reason(), "KubeApiError");
        let bad = Error::BadConfigMap { name: "l1-podspec".into(), message: "no rendered.json".into() };
        assert_eq!(bad.reason(), "BadConfigMap");
        assert_eq!(Error::NoNamespace("l1".into()).reason(), "NoNamespace");
        assert_eq!(refused(409, None).to_string(), "applying Pod dev/l1: denied (409)");
        let pod_security = r#"pods "l1" is forbidden: violates PodSecurity "baseline:latest": hostPath"#;
        let status =
            serde_json::json!({"status": "Failure", "code": 403, "message": pod_security, "reason": "Forbidden"});
        let status: kube::core::Status = serde_json::from_value(status).unwrap();
        let pod_security = Err::<(), _>(kube::Error::Api(Box::new(status))).during(|| "a".into()).unwrap_err();
        let all = [
            pod_security,
            refused(403, None),
            refused(409, None),
            refused(500, None),
            bad,
            Error::NoNamespace("l1".into()),
        ];
        let reasons: Vec<&str> = all.iter().map(Error::reason).collect();
        assert_eq!(reasons, REASONS[..6], "REASONS lists every reason, in this order");
    }

    #[test]
    fn a_pod_security_refusal_says_what_to_use_instead() {
        let refusal = |code: u16, message: &str| {
            let status =
                serde_json::json!({"status": "Failure", "code": code, "message": message, "reason": "Forbidden"});
            let status: kube::core::Status = serde_json::from_value(status).expect("a Status");
            Err::<(), _>(kube::Error::Api(Box::new(status))).during(|| "apply Pod dev/l1".into()).unwrap_err()
        };
        let host_path =
            r#"pods "l1" is forbidden: violates PodSecurity "baseline:latest": hostPath volumes (volume "artifacts")"#;
        let e = refusal(403, host_path);
        assert_eq!(e.reason(), "PodSecurityRefused");
        assert_eq!(
            e.to_string(),
            format!(
                "apply Pod dev/l1: {host_path} (403); local-path storage is a hostPath volume, which this namespace's Pod Security level refuses: use spec.storage.type pvc (or ephemeral), or a namespace whose pod-security.kubernetes.io/enforce level is privileged"
            )
        );
        let caps = r#"pods "l1" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true"#;
        let e = refusal(403, caps);
        assert_eq!(e.reason(), "PodSecurityRefused");
        assert!(e.to_string().ends_with("(403); the devnet's images need what this namespace's Pod Security level refuses: use a namespace whose pod-security.kubernetes.io/enforce level is privileged"), "{e}");
        // Other refusals are what they are.
        let quota = r#"pods "l1" is forbidden: exceeded quota: q"#;
        assert_eq!(refusal(403, quota).reason(), "Forbidden");
        assert_eq!(refusal(403, quota).to_string(), format!("apply Pod dev/l1: {quota} (403)"));
        assert_eq!(refusal(422, host_path).reason(), "KubeApiError", "only a 403 is an admission refusal");
        assert!(!refusal(422, host_path).to_string().contains("local-path"));
    }

    #[test]
    fn only_a_forbidden_request_into_a_terminating_namespace_is_one() {
        assert!(refused(403, Some("NamespaceTerminating")).namespace_terminating());
        assert!(!refused(403, Some("FieldValueForbidden")).namespace_terminating());
        assert!(!refused(403, None).namespace_terminating());
        assert!(!refused(409, Some("NamespaceTerminating")).namespace_terminating());
        assert!(!Error::NoNamespace("l1".into()).namespace_terminating());
    }
}
