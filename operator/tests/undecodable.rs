//! An object the operator cannot decode is reported and skipped; the watch keeps working.
//! Its own test binary (and cluster): it loosens the CRD's schema so such an object can be
//! stored, as one written under an older schema would be.

mod common;

use std::time::Duration;

use bp_generator::BuilderPlayground;
use common::*;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_object_is_reported_and_skipped() {
    let env = env().await;
    let client = client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd_name = "builderplaygrounds.playground.flashbots.io";
    let mut crd = crds.get(crd_name).await.unwrap();
    let schema = crd.spec.versions[0].schema.as_mut().unwrap().open_api_v3_schema.as_mut().unwrap();
    let spec = schema.properties.as_mut().unwrap().get_mut("spec").unwrap();
    *spec = serde_json::from_value(serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))
        .unwrap();
    crd.metadata.managed_fields = None;
    crds.replace(crd_name, &Default::default(), &crd).await.unwrap();

    let ns = env.cluster.create_namespace("undecodable").await.unwrap();
    let resource = ApiResource::erase::<BuilderPlayground>(&());
    let dynamic: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    let bad: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "playground.flashbots.io/v1alpha1",
        "kind": "BuilderPlayground",
        "metadata": {"name": "bad"},
        "spec": {"services": "not a list"}
    }))
    .unwrap();
    wait_for(
        "the loosened schema in effect",
        Duration::from_secs(30),
        async || {
            dynamic
                .patch("bad", &PatchParams::apply("e2e-test").force(), &Patch::Apply(&bad))
                .await
                .map_err(|e| e.to_string())
        },
        |r| r.as_ref().ok().map(|_| ()),
    )
    .await;

    let event = wait_for(
        "an Undecodable warning",
        Duration::from_secs(60),
        async || events(&client, &ns).await,
        |evs| evs.iter().find(|e| e.reason.as_deref() == Some("Undecodable")).cloned(),
    )
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.involved_object.name.as_deref(), Some("bad"));
    assert!(event.message.unwrap_or_default().contains("the operator cannot read this object"));
    let page = metrics_page().await;
    assert!(metric(&page, "bp_reconcile_errors_total{reason=\"Undecodable\"}").unwrap_or(0.0) >= 1.0, "{page}");

    // The watch still works: a good playground beside it becomes Ready.
    apply(&client, &example("examples/l1.yaml", "good", &ns)).await;
    wait_condition(&client, &ns, "good", "Ready", "True", None, Duration::from_secs(120)).await;
    env.cluster.delete_namespace(&ns).await.unwrap();
}
