//! builder-playground devnets on Kubernetes: the offline core.
//!
//! Pure functions from a `BuilderPlayground` (or builder-playground's `manifest.json`) to the
//! PodSpec of the playground's one Pod: [`manifest`] reads and converts manifests,
//! [`template`] parses builder-playground's templates, [`ports`] allocates Pod-unique port
//! numbers, [`resolve`] resolves templates against them, [`podspec`] builds the PodSpec and
//! [`validate`] reports what is wrong with a spec, and where.

pub mod api;
pub mod bundle;
pub mod cluster;
pub mod duration;
pub mod error;
pub mod job;
pub mod manifest;
pub mod names;
pub mod podspec;
pub mod ports;
pub mod resolve;
pub mod template;
pub mod validate;

pub use api::{BuilderPlayground, BuilderPlaygroundSpec, BuilderPlaygroundStatus};
pub use error::{SpecError, SpecErrors};
pub use podspec::{RenderOptions, Rendered, render};

use kube::CustomResourceExt;

/// The CRD of `BuilderPlayground` as YAML, exactly as committed under `crds/`.
pub fn crd_yaml() -> String {
    // Serializing a CRD built from typed values cannot fail.
    serde_yaml_ng::to_string(&crd()).unwrap_or_default()
}

/// The CRD of `BuilderPlayground`, its field descriptions made paragraphs: doc comments wrap
/// their lines at the source's width, and `kubectl explain` would print those breaks in the
/// middle of its own lines.
pub fn crd() -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    let mut crd = BuilderPlayground::crd();
    for version in &mut crd.spec.versions {
        if let Some(schema) = version.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) {
            reflow_descriptions(schema);
        }
    }
    crd
}

/// Makes every description below `schema` paragraphs (see [`paragraphs`]).
fn reflow_descriptions(
    schema: &mut k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps,
) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
    };
    if let Some(description) = schema.description.as_mut() {
        *description = paragraphs(description);
    }
    let children = schema
        .properties
        .iter_mut()
        .flat_map(|p| p.values_mut())
        .chain(schema.all_of.iter_mut().flatten())
        .chain(schema.any_of.iter_mut().flatten())
        .chain(schema.one_of.iter_mut().flatten());
    for child in children {
        reflow_descriptions(child);
    }
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => reflow_descriptions(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().for_each(reflow_descriptions),
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
        reflow_descriptions(extra);
    }
}

/// Joins the lines of each paragraph of `text` with spaces; blank lines still separate
/// paragraphs, and a line that starts a list item (`- `, `* `, `1. `) or is indented keeps its
/// own line, as in the descriptions of Kubernetes' own types.
pub fn paragraphs(text: &str) -> String {
    let starts_own_line = |line: &str| {
        let trimmed = line.trim_start();
        let numbered =
            trimmed.split_once(". ").is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        line.starts_with([' ', '\t']) || trimmed.starts_with("- ") || trimmed.starts_with("* ") || numbered
    };
    text.split("\n\n")
        .map(|paragraph| {
            let mut out = String::with_capacity(paragraph.len());
            for (i, line) in paragraph.lines().enumerate() {
                if i > 0 {
                    out.push(if starts_own_line(line) { '\n' } else { ' ' });
                }
                out.push_str(if starts_own_line(line) { line.trim_end() } else { line.trim() });
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The labels every object of a playground carries.
pub fn standard_labels(playground: &str) -> std::collections::BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name", "builder-playground"),
        ("app.kubernetes.io/instance", playground),
        ("app.kubernetes.io/managed-by", "bp-operator"),
        ("app.kubernetes.io/component", "devnet"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_join_wrapped_lines_and_keep_breaks_lists_and_indents() {
        assert_eq!(paragraphs("one line"), "one line");
        assert_eq!(
            paragraphs("A sentence wrapped\nat the source's width.\n\nA second\nparagraph."),
            "A sentence wrapped at the source's width.\n\nA second paragraph."
        );
        assert_eq!(paragraphs("Items:\n- a\n- b\n* c\n1. d\n  indented"), "Items:\n- a\n- b\n* c\n1. d\n  indented");
        assert_eq!(paragraphs("1.5 is\na number"), "1.5 is a number", "a number is no list item");
        assert_eq!(paragraphs("trailing \n space"), "trailing\n space", "a leading space is an indent");
    }

    /// Every description in the CRD is already paragraphs; the wrapped doc comments are joined.
    #[test]
    fn every_description_of_the_crd_is_paragraphs() {
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        match (k.as_str(), v) {
                            ("description", serde_json::Value::String(d)) => out.push(d.clone()),
                            _ => walk(v, out),
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut descriptions = Vec::new();
        walk(&serde_json::to_value(crd()).unwrap(), &mut descriptions);
        assert!(descriptions.len() > 100, "{}", descriptions.len());
        let storage_path = descriptions.iter().find(|d| d.starts_with("local-path: the root directory")).unwrap();
        assert_eq!(
            storage_path,
            "local-path: the root directory on the node; the playground uses `<path>/<namespace>/<name>`. Default \
             /data/builder-playground."
        );
        for d in &descriptions {
            assert_eq!(&paragraphs(d), d, "not reflowed");
        }
        let wrapped = descriptions.iter().filter(|d| d.contains('\n') && !d.contains("\n\n")).count();
        assert_eq!(wrapped, 0, "a description with a line break but no paragraph break");
    }
}
