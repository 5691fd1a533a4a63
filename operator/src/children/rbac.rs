//! The generator Job's identity: a ServiceAccount per playground, bound to a Role that can read
//! this one BuilderPlayground and write its one ConfigMap, nothing more.

use bp_generator::BuilderPlayground;
use bp_generator::api::GROUP;
use bp_generator::cluster::podspec_configmap_name;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::ResourceExt;

use super::child_meta;

/// Name of the generator's ServiceAccount, Role and RoleBinding.
pub fn generator_name(pg: &BuilderPlayground) -> String {
    format!("{}-generator", pg.name_any())
}

pub fn service_account(pg: &BuilderPlayground) -> ServiceAccount {
    ServiceAccount { metadata: child_meta(pg, generator_name(pg)), ..Default::default() }
}

pub fn role(pg: &BuilderPlayground) -> Role {
    let rule = |group: &str, resource: &str, name: String, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(vec![resource.to_owned()]),
        resource_names: Some(vec![name]),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..Default::default()
    };
    Role {
        metadata: child_meta(pg, generator_name(pg)),
        rules: Some(vec![
            // Reads the spec it renders.
            rule(GROUP, "builderplaygrounds", pg.name_any(), &["get"]),
            // Server-side applies the rendered PodSpec: a patch, which the API server also
            // authorizes as a create (of this name) when the ConfigMap does not exist yet.
            rule("", "configmaps", podspec_configmap_name(&pg.name_any()), &["get", "create", "patch"]),
        ]),
    }
}

pub fn role_binding(pg: &BuilderPlayground) -> RoleBinding {
    let name = generator_name(pg);
    RoleBinding {
        metadata: child_meta(pg, name.clone()),
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "Role".into(), name: name.clone() },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name,
            namespace: pg.namespace(),
            ..Default::default()
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::fixture::playground;

    #[test]
    fn least_privilege() {
        let pg = playground();
        let role = role(&pg);
        let rules = role.rules.unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].resource_names.as_deref(), Some(&["l1".to_owned()][..]));
        assert_eq!(rules[0].verbs, ["get"]);
        assert_eq!(rules[1].resource_names.as_deref(), Some(&["l1-podspec".to_owned()][..]));
        let binding = role_binding(&pg);
        assert_eq!(binding.role_ref.name, "l1-generator");
        let subject = &binding.subjects.unwrap()[0];
        assert_eq!((subject.name.as_str(), subject.namespace.as_deref()), ("l1-generator", Some("dev")));
        assert_eq!(service_account(&pg).metadata.name.as_deref(), Some("l1-generator"));
    }
}
