//! Artifacts bundles, field by field: the Pod's unpack step and the volumes it mounts, the
//! Secrets `convert` prints, the tar.gz itself, and what `unpack` leaves on the storage.

mod common;

use std::path::Path;

use bp_generator::bundle::{self, Bundle, BundleError, CHUNK_BYTES, Unpacked};
use bp_generator::{RenderOptions, render};
use common::*;
use serde_json::json;

const DIGEST: &str = "sha256:0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";

#[test]
fn a_bundled_playground_unpacks_first_and_every_mount_points_into_the_bundle() {
    let mut pg = playground_spec(
        "l1",
        &format!(
            r#"
  storage: {{type: pvc}}
  artifacts: {{secrets: [l1-artifacts-0, l1-artifacts-1], digest: "{DIGEST}"}}
  services:
  - {{name: el, image: reth, files: [{{artifact: genesis.json, mountPath: /data/genesis.json}}]}}
  - {{name: beacon, image: lighthouse, dependencies: [{{name: el}}]}}
"#
        ),
    );
    pg.metadata.namespace = Some("dev".into());
    let options = RenderOptions { unpack_image: "op:1".into(), ..Default::default() };
    let r = render(&pg, &options).unwrap_or_else(|e| panic!("{e}"));
    let init: Vec<&str> = r.pod_spec.init_containers.iter().flatten().map(|c| c.name.as_str()).collect();
    assert_eq!(init, ["bp-unpack-artifacts", "el"], "unpacked before any service starts");
    assert_eq!(
        json_of(&r.pod_spec.init_containers.as_ref().unwrap()[0]),
        json!({
            "name": "bp-unpack-artifacts",
            "image": "op:1",
            "command": ["bp-generator"],
            "args": ["unpack", "--digest", DIGEST, "--secrets", "l1-artifacts-0,l1-artifacts-1",
                     "--parts", "/bundle", "--storage", "/storage"],
            "volumeMounts": [
                {"mountPath": "/bundle", "name": "bundle-parts", "readOnly": true},
                {"mountPath": "/storage", "name": "artifacts"}
            ],
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": true,
                "runAsNonRoot": false,
                "runAsUser": 0,
                "seccompProfile": {"type": "RuntimeDefault"}
            },
            "terminationMessagePolicy": "FallbackToLogsOnError"
        })
    );
    let part = |secret: &str, path: &str| json!({"secret": {"name": secret, "items": [{"key": "bundle.part", "path": path}], "optional": false}});
    assert_eq!(
        json_of(&r.pod_spec.volumes),
        json!([
            {"name": "artifacts", "persistentVolumeClaim": {"claimName": "l1-artifacts"}},
            {"name": "bundle-parts", "projected": {
                "defaultMode": 0o444,
                "sources": [part("l1-artifacts-0", "part-000"), part("l1-artifacts-1", "part-001")]
            }}
        ])
    );
    assert_eq!(
        json_of(&container(&r, "el").volume_mounts),
        json!([
            {"mountPath": "/artifacts", "name": "artifacts", "subPath": "bundle-0f0f0f0f0f0f0f0f"},
            {"mountPath": "/data/genesis.json", "name": "artifacts", "subPath": "bundle-0f0f0f0f0f0f0f0f/genesis.json"}
        ])
    );
    // The generator Job's own output directory wins over the bundle's.
    let options = RenderOptions { artifacts_subdir: Some("gen-1".into()), ..Default::default() };
    let r = render(&pg, &options).unwrap();
    assert_eq!(container(&r, "beacon").volume_mounts.as_ref().unwrap()[0].sub_path.as_deref(), Some("gen-1"));
    assert_eq!(
        r.pod_spec.init_containers.as_ref().unwrap()[0].image.as_deref(),
        Some(bp_generator::podspec::DEFAULT_IMAGE),
        "the operator's image by default"
    );
}

#[test]
fn no_service_may_take_the_unpack_containers_name() {
    let pg = playground_spec(
        "clash",
        r#"
  services: [{name: bp_unpack_artifacts, image: i}]
"#,
    );
    assert_eq!(
        render(&pg, &RenderOptions::default()).unwrap_err().to_string(),
        r#"service "bp_unpack_artifacts": name: "bp-unpack-artifacts" is the container that unpacks the artifacts; choose another name"#
    );
}

fn bundle_of(bytes: Vec<u8>) -> Bundle {
    Bundle { digest: bundle::digest(&bytes), bytes, files: 1, raw_bytes: 1 }
}

#[test]
fn secrets_carry_labels_digest_and_part_number() {
    let b = bundle_of(b"abc".to_vec());
    let secrets = bundle::secrets("l1", None, &b).unwrap();
    assert_eq!(
        json_of(&secrets),
        json!([{
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "l1-artifacts-0",
                "labels": {
                    "app.kubernetes.io/component": "artifacts",
                    "app.kubernetes.io/instance": "l1",
                    "app.kubernetes.io/managed-by": "bp-operator",
                    "app.kubernetes.io/name": "builder-playground"
                },
                "annotations": {
                    "playground.flashbots.io/bundle-digest": b.digest,
                    "playground.flashbots.io/bundle-part": "0"
                }
            },
            "type": "Opaque",
            "data": {"bundle.part": "YWJj"}
        }])
    );
    let empty = bundle::secrets("e", None, &bundle_of(Vec::new())).unwrap();
    assert_eq!(empty.len(), 1, "an empty bundle is still one part");
    assert_eq!(empty[0].data.as_ref().unwrap()["bundle.part"].0, Vec::<u8>::new());
}

#[test]
fn one_secret_per_started_chunk() {
    let count = |size| bundle::secret_names("x", size).len();
    assert_eq!([count(0), count(1), count(CHUNK_BYTES), count(CHUNK_BYTES + 1)], [1, 1, 1, 2]);
    let parts: Vec<String> = (0..3).map(bundle::part_file).collect();
    assert_eq!(parts, ["part-000", "part-001", "part-002"]);
    assert_eq!(
        bundle::secrets("big", None, &bundle_of(vec![0; bundle::MAX_BUNDLE_BYTES + 1])).unwrap_err(),
        BundleError::TooLarge { size: bundle::MAX_BUNDLE_BYTES + 1, max: 12 * CHUNK_BYTES }
    );
}

#[test]
fn the_subdirectory_takes_sixteen_hex_digits_with_or_without_the_prefix() {
    assert_eq!(bundle::subdir(DIGEST), "bundle-0f0f0f0f0f0f0f0f");
    assert_eq!(bundle::subdir("abc"), "bundle-abc");
}

/// (path, entry type, mode, uid, gid, mtime, size) of every entry of a tar.gz.
fn entries(bytes: &[u8]) -> Vec<(String, char, u32, u64, u64, u64, u64)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let kind = if h.entry_type().is_dir() { 'd' } else { 'f' };
            let path = e.path().unwrap().to_string_lossy().into_owned();
            (path, kind, h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap(), h.size().unwrap())
        })
        .collect()
}

#[test]
fn a_bundle_is_sorted_owned_by_root_and_timeless() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, data: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    write("b.json", "{}");
    write("a/z.txt", "zz");
    write("a/y/x.txt", "x");
    write("manifest.json", "not an artifact");
    write("graph.dot", "not an artifact");
    write("jwtsecret", "the operator's");
    // Only the top-level jwtsecret is the JWT; one further down is an artifact like any other.
    write("a/jwtsecret", "nested");
    let b = bundle::pack(dir.path()).unwrap();
    assert_eq!(
        entries(&b.bytes),
        [
            ("a/".into(), 'd', 0o755, 0, 0, 0, 0),
            ("a/jwtsecret".into(), 'f', 0o644, 0, 0, 0, 6),
            ("a/y/".into(), 'd', 0o755, 0, 0, 0, 0),
            ("a/y/x.txt".into(), 'f', 0o644, 0, 0, 0, 1),
            ("a/z.txt".into(), 'f', 0o644, 0, 0, 0, 2),
            ("b.json".into(), 'f', 0o644, 0, 0, 0, 2),
        ]
    );
    assert_eq!((b.files, b.raw_bytes), (4, 6 + 1 + 2 + 2));
    assert_eq!(b.digest, bundle::digest(&b.bytes));
}

#[test]
fn special_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    assert_eq!(
        bundle::pack(dir.path()).unwrap_err().to_string(),
        format!(
            "{}: a special file in the output folder is not supported (only regular files and directories)",
            fifo.display()
        )
    );
    let missing = dir.path().join("missing");
    assert!(
        matches!(bundle::pack(&missing), Err(BundleError::Io { path, .. }) if path == missing.display().to_string())
    );
}

fn packed(files: &[(&str, &str)]) -> Bundle {
    let dir = tempfile::tempdir().unwrap();
    for (rel, data) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    bundle::pack(dir.path()).unwrap()
}

#[test]
fn unpack_counts_files_marks_completion_and_cleans_a_stale_attempt() {
    let b = packed(&[("genesis.json", "{}"), ("testnet/config.yaml", "x: 1\n")]);
    let storage = tempfile::tempdir().unwrap();
    let stale = storage.path().join(format!(".{}.tmp-{}", bundle::subdir(&b.digest), std::process::id()));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("half-written"), "x").unwrap();
    let target = storage.path().join(bundle::subdir(&b.digest));
    assert_eq!(bundle::unpack(&b.bytes, &b.digest, storage.path()).unwrap(), Unpacked::Written(target.clone(), 2));
    assert_eq!(std::fs::read_to_string(target.join(bundle::COMPLETE_MARKER)).unwrap(), b.digest);
    assert!(!target.join("half-written").exists() && !stale.exists(), "the stale attempt is gone");
    let mut names: Vec<String> =
        std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, [".bundle-complete", "genesis.json", "testnet"]);
    // A directory without the marker is not a finished bundle: it is not taken as one.
    std::fs::remove_file(target.join(bundle::COMPLETE_MARKER)).unwrap();
    let err = bundle::unpack(&b.bytes, &b.digest, storage.path()).unwrap_err();
    assert!(matches!(&err, BundleError::Io { path, .. } if path == &target.display().to_string()), "{err}");
}

#[test]
fn links_inside_a_bundle_are_corrupt() {
    let mut raw = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut raw, flate2::Compression::fast());
        let mut t = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        t.append_link(&mut h, "link", "/etc/passwd").unwrap();
        t.into_inner().unwrap().finish().unwrap();
    }
    let storage = tempfile::tempdir().unwrap();
    assert_eq!(
        bundle::unpack(&raw, DIGEST, storage.path()).unwrap_err(),
        BundleError::Corrupt("entry link is of type Symlink".into())
    );
}

/// A gzipped tar of one regular file whose header names `path` as given, unnormalized.
fn raw_tar(path: &[u8], data: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    let gz = flate2::write::GzEncoder::new(&mut raw, flate2::Compression::fast());
    let mut t = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path);
    h.set_cksum();
    t.append(&h, data).unwrap();
    t.into_inner().unwrap().finish().unwrap();
    raw
}

#[test]
fn entries_may_start_with_a_dot_directory() {
    let storage = tempfile::tempdir().unwrap();
    let Unpacked::Written(dir, files) =
        bundle::unpack(&raw_tar(b"./genesis.json", b"{}"), DIGEST, storage.path()).unwrap()
    else {
        panic!("fresh storage")
    };
    assert_eq!(files, 1);
    assert_eq!(std::fs::read(dir.join("genesis.json")).unwrap(), b"{}");
}

#[test]
fn parts_are_joined_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let write = |i: usize, data: &[u8]| std::fs::write(dir.path().join(bundle::part_file(i)), data).unwrap();
    write(0, b"ab");
    write(1, b"cd");
    let secrets = ["s-0".to_owned(), "s-1".to_owned()];
    assert_eq!(bundle::check_parts(dir.path(), &secrets, &bundle::digest(b"abcd")).unwrap(), b"abcd");
    assert_eq!(
        bundle::check_parts(dir.path(), &secrets, &bundle::digest(b"cdab")).unwrap_err(),
        BundleError::DigestMismatch { expected: bundle::digest(b"cdab"), actual: bundle::digest(b"abcd") }
    );
    // A part that cannot be read (here: a directory) is named.
    std::fs::remove_file(dir.path().join("part-001")).unwrap();
    std::fs::create_dir(dir.path().join("part-001")).unwrap();
    let err = bundle::check_parts(dir.path(), &secrets, DIGEST).unwrap_err();
    assert!(matches!(&err, BundleError::Io { path, .. } if Path::new(path).ends_with("part-001")), "{err}");
}
