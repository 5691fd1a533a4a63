//! The restricted Pod Security profile for the containers the operator runs itself.

use k8s_openapi::api::core::v1::{Capabilities, Container, SeccompProfile, SecurityContext};

/// A container with the restricted securityContext: non-root, read-only root filesystem, no
/// privilege escalation, every capability dropped, the runtime's default seccomp profile.
pub fn restricted_container() -> Container {
    Container {
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
