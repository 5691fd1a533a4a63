//! Artifacts bundles: builder-playground's output folder (genesis, testnet/, keystores, ...)
//! travelling with the playground as compressed Secrets.
//!
//! [`pack`] makes one deterministic tar.gz of the folder (sorted, owner 0, mtime 0; the
//! folder's `manifest.json`, `graph.dot` and `jwtsecret` left out: the first two are not
//! artifacts, and the JWT is the operator's per-playground Secret). [`secrets`] splits it into
//! Secrets of at most [`CHUNK_BYTES`] each, up to [`MAX_BUNDLE_BYTES`]. In the cluster,
//! [`check_parts`] verifies the parts against the digest the playground names (the generator
//! Job does so before rendering) and [`unpack`] writes the files onto the playground's storage
//! (the Pod's first init container does so, once per digest).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, KeyToPath, ProjectedVolumeSource, SeccompProfile, Secret, SecretProjection,
    SecurityContext, Volume, VolumeMount, VolumeProjection,
};
use kube::api::ObjectMeta;

use crate::api::{ARTIFACTS_VOLUME, ArtifactsSpec};
use sha2::{Digest, Sha256};

/// Bytes of the bundle per Secret: with base64 (4/3) and the object's metadata this stays
/// below the API server's 1 MiB limit for one object.
pub const CHUNK_BYTES: usize = 700 * 1024;
/// The largest bundle `convert` packs into Secrets (12 Secrets). A larger output folder
/// belongs on pvc storage, produced in the cluster by `generate`.
pub const MAX_BUNDLE_BYTES: usize = 12 * CHUNK_BYTES;
/// The key of each part in its Secret.
pub const PART_KEY: &str = "bundle.part";
/// Files of an output folder that are not packed.
pub const LEFT_OUT: [&str; 3] = ["manifest.json", "graph.dot", "jwtsecret"];

/// A packed output folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The tar.gz.
    pub bytes: Vec<u8>,
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    /// Regular files packed, and their total size before compression.
    pub files: usize,
    pub raw_bytes: u64,
}

/// What went wrong with a bundle, and where.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error(
        "the artifacts are {size} bytes compressed, more than the {max} bytes that fit in Secrets: use pvc storage (spec.storage.type: pvc) with spec.generate to produce them in the cluster"
    )]
    TooLarge { size: usize, max: usize },
    #[error("{path}: {kind} in the output folder is not supported (only regular files and directories)")]
    Unsupported { path: String, kind: &'static str },
    #[error("artifacts bundle part {index} (Secret {secret}, key {PART_KEY}) is missing")]
    MissingPart { index: usize, secret: String },
    #[error(
        "artifacts bundle digest is {actual}, but spec.artifacts.digest says {expected}: a Secret changed since it was made"
    )]
    DigestMismatch { expected: String, actual: String },
    #[error("artifacts bundle is corrupt: {0}")]
    Corrupt(String),
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> BundleError {
    BundleError::Io { path: path.display().to_string(), reason: e.to_string() }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The storage subdirectory a bundle is unpacked into: one per digest, so a new bundle never
/// mixes with the files of an older one.
pub fn subdir(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("bundle-{}", &hex[..hex.len().min(16)])
}

/// Every packable path below `dir` (relative, `/`-separated, sorted; directories first).
fn walk(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>, BundleError> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    while let Some((rel, path)) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&path)
            .map_err(|e| io_err(&path, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| io_err(&path, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel_child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if rel.is_empty() && LEFT_OUT.contains(&name.as_str()) {
                continue;
            }
            let file_type = entry.file_type().map_err(|e| io_err(&entry.path(), e))?;
            if file_type.is_dir() {
                out.push((rel_child.clone(), entry.path(), true));
                stack.push((rel_child, entry.path()));
            } else if file_type.is_file() {
                out.push((rel_child, entry.path(), false));
            } else {
                let kind = if file_type.is_symlink() { "a symbolic link" } else { "a special file" };
                return Err(BundleError::Unsupported { path: entry.path().display().to_string(), kind });
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Packs the output folder `dir` (see the module's doc for what is left out).
pub fn pack(dir: &Path) -> Result<Bundle, BundleError> {
    let entries = walk(dir)?;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let (mut files, mut raw_bytes) = (0, 0u64);
    for (rel, path, is_dir) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        if is_dir {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            tar.append_data(&mut header, format!("{rel}/"), std::io::empty()).map_err(|e| io_err(&path, e))?;
        } else {
            let data = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            tar.append_data(&mut header, &rel, data.as_slice()).map_err(|e| io_err(&path, e))?;
            files += 1;
            raw_bytes += data.len() as u64;
        }
    }
    let bytes = tar.into_inner().and_then(|gz| gz.finish()).map_err(|e| io_err(dir, e))?;
    Ok(Bundle { digest: digest(&bytes), bytes, files, raw_bytes })
}

/// The names of the Secrets holding a bundle of `size` bytes for playground `name`.
pub fn secret_names(name: &str, size: usize) -> Vec<String> {
    let parts = size.div_ceil(CHUNK_BYTES).max(1);
    (0..parts).map(|i| format!("{name}-artifacts-{i}")).collect()
}

/// The Secrets that carry `bundle` for playground `name` (in `namespace`, when given).
pub fn secrets(name: &str, namespace: Option<&str>, bundle: &Bundle) -> Result<Vec<Secret>, BundleError> {
    if bundle.bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge { size: bundle.bytes.len(), max: MAX_BUNDLE_BYTES });
    }
    let names = secret_names(name, bundle.bytes.len());
    let chunks: Vec<&[u8]> =
        if bundle.bytes.is_empty() { vec![&[][..]] } else { bundle.bytes.chunks(CHUNK_BYTES).collect() };
    let mut labels = crate::standard_labels(name);
    labels.insert("app.kubernetes.io/component".into(), "artifacts".into());
    Ok(names
        .into_iter()
        .zip(chunks)
        .enumerate()
        .map(|(i, (secret, chunk))| Secret {
            metadata: ObjectMeta {
                name: Some(secret),
                namespace: namespace.map(str::to_owned),
                labels: Some(labels.clone()),
                annotations: Some(BTreeMap::from([
                    ("playground.flashbots.io/bundle-digest".to_owned(), bundle.digest.clone()),
                    ("playground.flashbots.io/bundle-part".to_owned(), i.to_string()),
                ])),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(BTreeMap::from([(PART_KEY.to_owned(), ByteString(chunk.to_vec()))])),
            ..Default::default()
        })
        .collect())
}

/// The file name of part `index` where the parts are mounted (a projected volume).
pub fn part_file(index: usize) -> String {
    format!("part-{index:03}")
}

/// Reads the parts of a bundle mounted in `dir` (files [`part_file`]), checks them against
/// `expected` and returns the bundle. `secrets` names each part's Secret for the messages.
pub fn check_parts(dir: &Path, secrets: &[String], expected: &str) -> Result<Vec<u8>, BundleError> {
    let mut bytes = Vec::new();
    for (index, secret) in secrets.iter().enumerate() {
        let path = dir.join(part_file(index));
        match std::fs::read(&path) {
            Ok(part) => bytes.extend(part),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BundleError::MissingPart { index, secret: secret.clone() });
            }
            Err(e) => return Err(io_err(&path, e)),
        }
    }
    let actual = digest(&bytes);
    if actual != expected {
        return Err(BundleError::DigestMismatch { expected: expected.to_owned(), actual });
    }
    Ok(bytes)
}

/// The volume of a bundle's parts, and where containers mount it.
pub const PARTS_VOLUME: &str = "bundle-parts";
pub const PARTS_DIR: &str = "/bundle";
/// The container that unpacks a bundle, first of the playground's Pod.
pub const UNPACK_CONTAINER: &str = "bp-unpack-artifacts";
/// Where the unpack container mounts the storage (its root, not a bundle's subdirectory).
pub const STORAGE_DIR: &str = "/storage";

/// The Secrets of `artifacts` as one projected volume: part `i` at [`part_file`]`(i)`.
/// `optional` parts may be missing (the generator Job mounts them so, to report which one is).
pub fn parts_volume(artifacts: &ArtifactsSpec, optional: bool) -> Volume {
    let sources = artifacts
        .secrets
        .iter()
        .enumerate()
        .map(|(i, secret)| VolumeProjection {
            secret: Some(SecretProjection {
                name: secret.clone(),
                items: Some(vec![KeyToPath { key: PART_KEY.into(), path: part_file(i), mode: None }]),
                optional: Some(optional),
            }),
            ..Default::default()
        })
        .collect();
    Volume {
        name: PARTS_VOLUME.into(),
        projected: Some(ProjectedVolumeSource { sources: Some(sources), default_mode: Some(0o444) }),
        ..Default::default()
    }
}

/// The mount of [`parts_volume`].
pub fn parts_mount() -> VolumeMount {
    VolumeMount { name: PARTS_VOLUME.into(), mount_path: PARTS_DIR.into(), read_only: Some(true), ..Default::default() }
}

/// The arguments of `bp-generator unpack` for `artifacts`, parts at [`PARTS_DIR`].
pub fn unpack_args(artifacts: &ArtifactsSpec) -> Vec<String> {
    vec![
        "unpack".into(),
        "--digest".into(),
        artifacts.digest.clone(),
        "--secrets".into(),
        artifacts.secrets.join(","),
        "--parts".into(),
        PARTS_DIR.into(),
        "--storage".into(),
        STORAGE_DIR.into(),
    ]
}

/// The Pod's first init container: checks the parts and unpacks them onto the storage (see
/// [`unpack`]), so no service starts without its artifacts. It runs as root (the storage of
/// a hostPath belongs to root) with no capabilities and a read-only root filesystem.
pub fn unpack_container(artifacts: &ArtifactsSpec, image: &str) -> Container {
    Container {
        name: UNPACK_CONTAINER.into(),
        image: Some(image.to_owned()),
        command: Some(vec!["bp-generator".into()]),
        args: Some(unpack_args(artifacts)),
        volume_mounts: Some(vec![
            parts_mount(),
            VolumeMount { name: ARTIFACTS_VOLUME.into(), mount_path: STORAGE_DIR.into(), ..Default::default() },
        ]),
        security_context: Some(root_without_capabilities()),
        // Its last line says what is wrong with the bundle.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    }
}

/// Root (the storage of a hostPath belongs to root) without capabilities, privilege
/// escalation or a writable root filesystem.
pub fn root_without_capabilities() -> SecurityContext {
    SecurityContext {
        run_as_user: Some(0),
        run_as_non_root: Some(false),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
        ..Default::default()
    }
}

/// A relative path inside the bundle, or an error for anything that could leave it.
fn safe_relative(path: &Path) -> Result<PathBuf, BundleError> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return Err(BundleError::Corrupt(format!("entry {} leaves the bundle", path.display()))),
        }
    }
    Ok(out)
}

/// What [`unpack`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Unpacked {
    /// The files are there already (a marker of this digest exists).
    Already(PathBuf),
    /// `files` files were written into the directory.
    Written(PathBuf, usize),
}

/// The marker written last into an unpacked bundle.
pub const COMPLETE_MARKER: &str = ".bundle-complete";

/// Unpacks `bundle` (already checked) into `<storage>/<subdir(digest)>`, through a temporary
/// directory renamed into place, so a half-written bundle is never seen as complete.
pub fn unpack(bundle: &[u8], digest: &str, storage: &Path) -> Result<Unpacked, BundleError> {
    let target = storage.join(subdir(digest));
    if target.join(COMPLETE_MARKER).is_file() {
        return Ok(Unpacked::Already(target));
    }
    let temp = storage.join(format!(".{}.tmp-{}", subdir(digest), std::process::id()));
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir_all(&temp).map_err(|e| io_err(&temp, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
    let mut files = 0;
    let entries = archive.entries().map_err(|e| BundleError::Corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| BundleError::Corrupt(e.to_string()))?;
        let rel = safe_relative(&entry.path().map_err(|e| BundleError::Corrupt(e.to_string()))?)?;
        let dest = temp.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&dest).map_err(|e| io_err(&dest, e))?,
            tar::EntryType::Regular => {
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
                }
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(|e| BundleError::Corrupt(e.to_string()))?;
                let mut f = std::fs::File::create(&dest).map_err(|e| io_err(&dest, e))?;
                f.write_all(&data).map_err(|e| io_err(&dest, e))?;
                files += 1;
            }
            other => {
                return Err(BundleError::Corrupt(format!("entry {} is of type {other:?}", rel.display())));
            }
        }
    }
    let marker = temp.join(COMPLETE_MARKER);
    std::fs::write(&marker, digest).map_err(|e| io_err(&marker, e))?;
    // A concurrent unpacker of the same digest may have won: its result is as good.
    if let Err(e) = std::fs::rename(&temp, &target) {
        let _ = std::fs::remove_dir_all(&temp);
        if target.join(COMPLETE_MARKER).is_file() {
            return Ok(Unpacked::Already(target));
        }
        return Err(io_err(&target, e));
    }
    Ok(Unpacked::Written(target, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("genesis.json"), br#"{"config":{"chainId":1337}}"#).unwrap();
        std::fs::write(d.path().join("jwtsecret"), "0xsecret").unwrap();
        std::fs::write(d.path().join("manifest.json"), "{}").unwrap();
        std::fs::create_dir_all(d.path().join("testnet")).unwrap();
        std::fs::write(d.path().join("testnet/config.yaml"), "PRESET_BASE: minimal\n").unwrap();
        std::fs::create_dir_all(d.path().join("data_validator/keys/0xab")).unwrap();
        std::fs::write(d.path().join("data_validator/keys/0xab/voting-keystore.json"), "{}").unwrap();
        d
    }

    #[test]
    fn pack_is_deterministic_and_leaves_out_what_is_not_an_artifact() {
        let (a, b) = (folder(), folder());
        let (pa, pb) = (pack(a.path()).unwrap(), pack(b.path()).unwrap());
        assert_eq!(pa.digest, pb.digest, "same files, same bundle");
        assert_eq!(pa.files, 3);
        assert_eq!(pa.raw_bytes, 27 + 21 + 2);
        let storage = tempfile::tempdir().unwrap();
        let Unpacked::Written(dir, files) = unpack(&pa.bytes, &pa.digest, storage.path()).unwrap() else {
            panic!("fresh storage")
        };
        assert_eq!(files, 3);
        assert_eq!(std::fs::read_to_string(dir.join("testnet/config.yaml")).unwrap(), "PRESET_BASE: minimal\n");
        assert!(dir.join("data_validator/keys/0xab/voting-keystore.json").is_file());
        for left_out in LEFT_OUT {
            assert!(!dir.join(left_out).exists(), "{left_out} is not packed");
        }
        assert_eq!(dir, storage.path().join(subdir(&pa.digest)));
        // A changed file is another bundle.
        std::fs::write(a.path().join("genesis.json"), "{}").unwrap();
        assert_ne!(pack(a.path()).unwrap().digest, pb.digest);
    }

    #[test]
    fn unpacking_twice_keeps_the_first_and_never_mixes_bundles() {
        let f = folder();
        let b = pack(f.path()).unwrap();
        let storage = tempfile::tempdir().unwrap();
        let first = unpack(&b.bytes, &b.digest, storage.path()).unwrap();
        let Unpacked::Written(dir, _) = first else { panic!("{first:?}") };
        assert_eq!(unpack(&b.bytes, &b.digest, storage.path()).unwrap(), Unpacked::Already(dir.clone()));
        std::fs::write(f.path().join("genesis.json"), "{}").unwrap();
        let other = pack(f.path()).unwrap();
        let Unpacked::Written(other_dir, _) = unpack(&other.bytes, &other.digest, storage.path()).unwrap() else {
            panic!("a new digest is unpacked")
        };
        assert_ne!(other_dir, dir);
        assert_eq!(std::fs::read_to_string(other_dir.join("genesis.json")).unwrap(), "{}");
        let leftovers: Vec<_> = std::fs::read_dir(storage.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn secrets_split_the_bundle_and_the_parts_check_against_the_digest() {
        let bytes: Vec<u8> = (0..(2 * CHUNK_BYTES + 10)).map(|i| (i * 7 % 251) as u8).collect();
        let bundle = Bundle { digest: digest(&bytes), bytes: bytes.clone(), files: 1, raw_bytes: 1 };
        let secrets = secrets("l1", Some("dev"), &bundle).unwrap();
        let names: Vec<_> = secrets.iter().map(|s| s.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["l1-artifacts-0", "l1-artifacts-1", "l1-artifacts-2"]);
        assert_eq!(names, secret_names("l1", bytes.len()));
        let sizes: Vec<usize> = secrets.iter().map(|s| s.data.as_ref().unwrap()[PART_KEY].0.len()).collect();
        assert_eq!(sizes, [CHUNK_BYTES, CHUNK_BYTES, 10]);
        assert!(secrets.iter().all(|s| s.metadata.namespace.as_deref() == Some("dev")));
        // Mounted as a projected volume: part-000, part-001, ...
        let mounted = tempfile::tempdir().unwrap();
        for (i, s) in secrets.iter().enumerate() {
            std::fs::write(mounted.path().join(part_file(i)), &s.data.as_ref().unwrap()[PART_KEY].0).unwrap();
        }
        assert_eq!(check_parts(mounted.path(), &names, &bundle.digest).unwrap(), bytes);
        std::fs::remove_file(mounted.path().join(part_file(1))).unwrap();
        assert_eq!(
            check_parts(mounted.path(), &names, &bundle.digest).unwrap_err(),
            BundleError::MissingPart { index: 1, secret: "l1-artifacts-1".into() }
        );
        std::fs::write(mounted.path().join(part_file(1)), b"changed").unwrap();
        let err = check_parts(mounted.path(), &names, &bundle.digest).unwrap_err();
        assert!(matches!(err, BundleError::DigestMismatch { .. }), "{err}");
    }

    #[test]
    fn a_bundle_past_the_cap_names_the_way_out() {
        let bytes = vec![0u8; MAX_BUNDLE_BYTES + 1];
        let bundle = Bundle { digest: digest(&bytes), bytes, files: 1, raw_bytes: 1 };
        let err = secrets("big", None, &bundle).unwrap_err().to_string();
        assert!(err.contains("pvc") && err.contains("spec.generate"), "{err}");
        let at_cap = vec![0u8; MAX_BUNDLE_BYTES];
        let ok = Bundle { digest: digest(&at_cap), bytes: at_cap, files: 1, raw_bytes: 1 };
        assert_eq!(secrets("big", None, &ok).unwrap().len(), 12);
    }

    #[test]
    fn corrupt_or_escaping_bundles_are_refused() {
        let storage = tempfile::tempdir().unwrap();
        let err = unpack(b"not a gzip", "sha256:00", storage.path()).unwrap_err();
        assert!(matches!(err, BundleError::Corrupt(_)), "{err}");
        // A tar whose entry climbs out of the bundle directory.
        let mut raw = Vec::new();
        {
            let gz = flate2::write::GzEncoder::new(&mut raw, flate2::Compression::fast());
            let mut t = tar::Builder::new(gz);
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_entry_type(tar::EntryType::Regular);
            // Written raw: the tar crate refuses to build such a path itself.
            h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
            h.set_cksum();
            t.append(&h, &b"x"[..]).unwrap();
            t.into_inner().unwrap().finish().unwrap();
        }
        let err = unpack(&raw, "sha256:01", storage.path()).unwrap_err();
        assert!(err.to_string().contains("leaves the bundle"), "{err}");
        assert!(!storage.path().parent().unwrap().join("escape").exists());
    }

    #[test]
    fn symlinks_in_the_output_folder_are_named() {
        let f = folder();
        std::os::unix::fs::symlink("/etc/passwd", f.path().join("link")).unwrap();
        let err = pack(f.path()).unwrap_err().to_string();
        assert!(err.contains("link") && err.contains("symbolic link"), "{err}");
    }

    #[test]
    fn the_subdirectory_is_named_by_the_digest() {
        assert_eq!(subdir("sha256:0123456789abcdef0123"), "bundle-0123456789abcdef");
    }
}
