//! OCI images built offline, without a daemon or a registry, for the real node's containerd.
//!
//! [`build_archive`] writes an OCI image-layout tar (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) that `ctr images import` accepts, and [`import`] runs that import. Layers
//! are deterministic tars, written with the `tar` crate through [`tar::append`] (sorted, owned
//! by 0:0, fixed mtime, parent directories added) and uncompressed, so the same [`Layer`]
//! always has the same digest and images that share a layer share it in containerd's content
//! store.
//!
//! Everything is cached under one directory (by default [`default_cache_dir`]):
//! - `blobs/sha256/<hex>`: layer tars, found again through `layers/<key>`, where the key hashes
//!   every entry's path, mode, kind and content;
//! - `hashes/<key>`: the sha256 of a source file, keyed by its device, inode, size, mtime and
//!   ctime, so unchanged 100 MB binaries are not read again;
//! - `<index digest>.tar`: the archives themselves, named by their content;
//! - `strip/<hex>`: stripped copies of binaries (see [`glibc_layer`]).
//!
//! Files not used for [`PRUNE_AFTER`] are removed when an archive is built.
//!
//! The images themselves: [`busybox_image`], [`project_image`] (the operator's image, like
//! `Dockerfile`), [`pause_image`] (the sandbox image) and [`standin_images`], which carry every
//! devnet image name ([`STANDIN_IMAGES`]), each with its real image's entrypoint and cmd, and run
//! `bp-standin`, a stand-in that checks the Pod's wiring under the real program's name.

mod clients;
pub mod tar;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use ::tar::{Archive, Builder, EntryType};
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use clients::{ABSOLUTE_ENTRYPOINTS, CLIENTS};

/// One file in a layer. Paths are absolute paths in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file copied from the host (symlinks are followed).
    File { path: String, source: PathBuf, mode: u32 },
    /// A regular file with the given content.
    Bytes { path: String, data: Vec<u8>, mode: u32 },
    /// A directory (parents of other entries are added with mode 0755 when not listed).
    Dir { path: String, mode: u32 },
    /// A symbolic link.
    Symlink { path: String, target: String },
}

/// A filesystem layer; its tar is deterministic: sorted by path, uid/gid 0, a fixed mtime,
/// parent directories added automatically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    pub entries: Vec<Entry>,
}

impl Layer {
    pub fn file(mut self, path: impl Into<String>, source: impl Into<PathBuf>, mode: u32) -> Self {
        self.entries.push(Entry::File { path: path.into(), source: source.into(), mode });
        self
    }

    pub fn bytes(mut self, path: impl Into<String>, data: impl Into<Vec<u8>>, mode: u32) -> Self {
        self.entries.push(Entry::Bytes { path: path.into(), data: data.into(), mode });
        self
    }

    pub fn dir(mut self, path: impl Into<String>, mode: u32) -> Self {
        self.entries.push(Entry::Dir { path: path.into(), mode });
        self
    }

    pub fn symlink(mut self, path: impl Into<String>, target: impl Into<String>) -> Self {
        self.entries.push(Entry::Symlink { path: path.into(), target: target.into() });
        self
    }
}

/// An image: its names (full, normalized references such as
/// `docker.io/library/busybox:1.35`, see [`normalize_ref`]), layers (bottom first) and config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSpec {
    pub names: Vec<String>,
    pub layers: Vec<Layer>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
}

/// A layer tar in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// `sha256:<hex>`: the blob digest and, the layer being uncompressed, its diff_id.
    pub digest: String,
    pub size: u64,
    pub path: PathBuf,
}

/// Name of the sandbox image ([`pause_image`]); containerd's `sandbox_image`.
pub const PAUSE_IMAGE: &str = "bp-e2e.local/pause:1";
/// Name of [`busybox_image`] (Debian's busybox-static is 1.35.0).
pub const BUSYBOX_IMAGE: &str = "docker.io/library/busybox:1.35";
/// PATH of the busybox and stand-in images.
pub const STANDIN_PATH: &str = "PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin";
/// Where the stand-in binary lives in its images.
pub const STANDIN_BIN: &str = "/usr/local/bin/bp-standin";
/// Files unused this long are pruned from the cache.
pub const PRUNE_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);

/// Every devnet image the stand-in image is imported under, normalized the way containerd's
/// CRI normalizes a Pod's image (`sigp/lighthouse:v8.1.0` → `docker.io/sigp/lighthouse:v8.1.0`),
/// with the tags the devnets use. Sources: `examples/*.yaml`, the fixtures
/// `real-c473a6a/{l1,op,bn}-default.manifest.json`, and SPEC §3 (optional components of
/// builder-playground c473a6a, and the 2025-05 and 2025-07 manifests it describes).
pub const STANDIN_IMAGES: &[&str] = &[
    // l1 and opstack (examples, real-c473a6a)
    "ghcr.io/paradigmxyz/reth:v1.9.3",
    "docker.io/flashbots/playground-utils:cc6f172493d7ef6b88a5b7895f4b8619806c99f9",
    "docker.io/sigp/lighthouse:v8.1.0",
    "us-docker.pkg.dev/oplabs-tools-artifacts/images/op-geth:v1.101604.0",
    "us-docker.pkg.dev/oplabs-tools-artifacts/images/op-node:v1.16.3",
    "us-docker.pkg.dev/oplabs-tools-artifacts/images/op-batcher:v1.16.3",
    // buildernet (real-c473a6a bn-default)
    "docker.io/flashbots/builder-hub-db:0.3.1-alpha1",
    "docker.io/flashbots/builder-hub:0.3.1-alpha1",
    "docker.io/flashbots/builder-hub-mock-proxy:0.3.1-alpha1",
    "docker.io/library/caddy:2-alpine",
    "docker.io/alpine/curl:latest",
    // optional components (SPEC §3 flags; builder-playground c473a6a)
    "docker.io/flashbots/mev-boost:latest",
    "ghcr.io/flashbots/rbuilder:sha-7efdc0b",
    "docker.io/flashbots/contender:0.7.2",
    "docker.io/prom/prometheus:latest",
    "docker.io/flashbots/rollup-boost:v0.7.12-rc1",
    "ghcr.io/paradigmxyz/op-reth:v1.9.3",
    "ghcr.io/flashbots/op-rbuilder:v0.2.13",
    "ghcr.io/flashbots/bproxy:v0.1.2",
    "docker.io/flashbots/flashblocks-rpc:sha-7caffb9",
    "ghcr.io/base/node-reth-dev:main",
    "docker.io/mikawamp/websocket-rpc:latest",
    "ghcr.io/flashbots/chain-monitor:v0.0.54",
    "ghcr.io/flashbots/attested-tls-proxy:1.0.1",
    // older manifests (SPEC §3: 2025-05 nm-sam-01, 2025-07 cbarbieru)
    "docker.io/flashbots/playground-utils:latest",
    "ghcr.io/paradigmxyz/reth:v1.3.1",
    "ghcr.io/paradigmxyz/reth:v1.4.8",
    "docker.io/sigp/lighthouse:v7.0.0-beta.0",
    "us-docker.pkg.dev/oplabs-tools-artifacts/images/op-geth:v1.101503.2-rc.5",
    "us-docker.pkg.dev/oplabs-tools-artifacts/images/op-node:v1.13.0-rc.1",
    "us-docker.pkg.dev/oplabs-tools-artifacts/images/op-batcher:v1.12.0-rc.1",
    "docker.io/flashbots/rollup-boost:0.7.0",
];

/// `/etc/passwd` and `/etc/group` of every image: root, nonroot (distroless' 65532), nobody.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnonroot:x:65532:\nnobody:x:65534:\n";

const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Bumped when the layer tar format changes, so cached layers are not reused across it (v2: the
/// `tar` crate's PAX header for names over 100 bytes; other layers kept their bytes).
const LAYER_FORMAT: &str = "bp-e2e-layer-v2";

/// `<bp-e2e cache>/images` (`~/.cache/bp-e2e/images`, or under `$BP_E2E_CACHE`).
pub fn default_cache_dir() -> PathBuf {
    crate::paths::cache_root().join("images")
}

// ---------------------------------------------------------------------------------------------
// Archives

/// Writes an OCI image-layout tar (oci-layout, index.json, blobs/sha256/...) for `spec` into
/// `cache_dir`, named by the digest of its content, and returns its path; when that file
/// already exists it is reused (so a second call with the same inputs costs only hashing).
///
/// `index.json` lists the manifest once per name, annotated with `io.containerd.image.name`
/// (the full reference, which `ctr images import` uses as the image name) and
/// `org.opencontainers.image.ref.name` (the tag).
pub fn build_archive(spec: &ImageSpec, cache_dir: &Path) -> Result<PathBuf> {
    let first = spec.names.first().context("an image needs at least one name")?;
    for name in &spec.names {
        let normalized = normalize_ref(name);
        ensure!(
            normalized == *name,
            "image name {name:?} is not normalized (containerd's CRI looks up {normalized:?})"
        );
    }
    let mut layers = Vec::with_capacity(spec.layers.len());
    for (i, layer) in spec.layers.iter().enumerate() {
        layers.push(build_layer(layer, cache_dir).with_context(|| format!("image {first}: layer {i}"))?);
    }

    let mut config = serde_json::Map::new();
    let mut set = |key: &str, v: Value| {
        config.insert(key.to_string(), v);
    };
    if !spec.entrypoint.is_empty() {
        set("Entrypoint", json!(spec.entrypoint));
    }
    if !spec.cmd.is_empty() {
        set("Cmd", json!(spec.cmd));
    }
    if !spec.env.is_empty() {
        set("Env", json!(spec.env));
    }
    if let Some(user) = &spec.user {
        set("User", json!(user));
    }
    if let Some(dir) = &spec.working_dir {
        set("WorkingDir", json!(dir));
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.digest).collect::<Vec<_>>()},
        "history": layers.iter().map(|_| json!({"created_by": "bp-e2e images"})).collect::<Vec<_>>(),
    }))?;
    let config_digest = sha256_digest(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": MEDIA_LAYER, "digest": l.digest, "size": l.size})).collect::<Vec<_>>(),
    }))?;
    let manifest_digest = sha256_digest(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": spec.names.iter().map(|name| json!({
            "mediaType": MEDIA_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": ref_tag(name),
            },
        })).collect::<Vec<_>>(),
    }))?;

    let archive = cache_dir.join(format!("{}.tar", hex_of(&sha256_digest(&index))));
    if archive.is_file() {
        touch(&archive);
        return Ok(archive);
    }
    // Small blobs from memory, layers from the cache; each blob once, in digest order.
    let mut blobs: BTreeMap<String, BlobSource> = BTreeMap::new();
    blobs.insert(hex_of(&config_digest).to_string(), BlobSource::Bytes(&config));
    blobs.insert(hex_of(&manifest_digest).to_string(), BlobSource::Bytes(&manifest));
    for l in &layers {
        blobs.insert(hex_of(&l.digest).to_string(), BlobSource::File(&l.path, l.size));
    }
    write_atomically(&archive, |out| {
        let mut out = Builder::new(out);
        tar::append_bytes(&mut out, "oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        tar::append_bytes(&mut out, "index.json", 0o644, &index)?;
        for dir in ["blobs", "blobs/sha256"] {
            tar::append(&mut out, dir, EntryType::Directory, 0o755, "", 0, io::empty())?;
        }
        for (hex, blob) in &blobs {
            let path = format!("blobs/sha256/{hex}");
            match blob {
                BlobSource::Bytes(data) => tar::append_bytes(&mut out, &path, 0o644, data)?,
                BlobSource::File(source, size) => append_file(&mut out, &path, 0o644, source, *size)?,
            }
        }
        out.into_inner()?;
        Ok(())
    })
    .with_context(|| format!("image {first}: writing {}", archive.display()))?;
    prune(cache_dir, PRUNE_AFTER);
    Ok(archive)
}

enum BlobSource<'a> {
    Bytes(&'a [u8]),
    File(&'a Path, u64),
}

/// Imports an archive into containerd (namespace k8s.io) through its socket with
/// `ctr images import`, which unpacks each image into the default snapshotter, then checks
/// that every name of the archive's `index.json` is an image. Errors name the archive and
/// carry ctr's output.
pub fn import(ctr_socket: &Path, archive: &Path) -> Result<()> {
    let names = archive_names(archive)?;
    let ctr = |args: &[&OsStr]| -> Result<String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(ctr_socket)
            .args(["--namespace", "k8s.io", "--connect-timeout", "10s", "--timeout", "300s"])
            .args(args)
            .output()
            .context("running ctr (Debian package containerd)")?;
        if !out.status.success() {
            bail!(
                "ctr {} failed ({}): {}{}",
                args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let context = || format!("importing {} into containerd at {}", archive.display(), ctr_socket.display());
    let arg = OsStr::new;
    ctr(&[arg("images"), arg("import"), archive.as_os_str()]).with_context(context)?;
    let listed = ctr(&[arg("images"), arg("ls"), arg("--quiet")]).with_context(context)?;
    let missing: Vec<_> = names.iter().filter(|n| !listed.lines().any(|l| l.trim() == n.as_str())).collect();
    ensure!(missing.is_empty(), "{}: ctr succeeded but these images are missing: {missing:?}", context());
    Ok(())
}

/// The image names (`io.containerd.image.name`) an archive's `index.json` lists.
pub fn archive_names(archive: &Path) -> Result<Vec<String>> {
    let file = File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let index = (|| -> io::Result<Option<Vec<u8>>> {
        for entry in Archive::new(io::BufReader::new(file)).entries()? {
            let mut entry = entry?;
            if *entry.path_bytes() == *b"index.json" {
                let mut index = Vec::new();
                entry.read_to_end(&mut index)?;
                return Ok(Some(index));
            }
        }
        Ok(None)
    })()
    .with_context(|| format!("reading {}", archive.display()))?
    .with_context(|| format!("{}: no index.json", archive.display()))?;
    let index: Value = serde_json::from_slice(&index).with_context(|| format!("{}: index.json", archive.display()))?;
    let names = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["annotations"]["io.containerd.image.name"].as_str().map(String::from))
        .collect();
    Ok(names)
}

// ---------------------------------------------------------------------------------------------
// Layers

/// What a layer path holds once the entries are normalized.
enum Node<'a> {
    Dir { mode: u32 },
    File { source: &'a Path, mode: u32, size: u64, sha256: String },
    Bytes { data: &'a [u8], mode: u32 },
    Symlink { target: &'a str },
}

/// Builds (or finds in the cache) the tar of `layer` and returns its digest and location.
/// The cache key covers every entry's path, kind, mode, symlink target and content hash.
pub fn build_layer(layer: &Layer, cache_dir: &Path) -> Result<LayerBlob> {
    let nodes = normalize(layer, cache_dir)?;
    let mut key = Sha256::new();
    key.update(LAYER_FORMAT);
    for (path, node) in &nodes {
        let line = match node {
            Node::Dir { mode } => format!("d {path} {mode:o}"),
            Node::File { mode, size, sha256, .. } => format!("f {path} {mode:o} {size} {sha256}"),
            Node::Bytes { data, mode } => {
                format!("f {path} {mode:o} {} {}", data.len(), hex::encode(Sha256::digest(data)))
            }
            Node::Symlink { target } => format!("l {path} {target}"),
        };
        key.update(line.len().to_le_bytes());
        key.update(line);
    }
    let key = hex::encode(key.finalize());
    let blobs = cache_dir.join("blobs").join("sha256");
    let key_file = cache_dir.join("layers").join(&key);
    if let Some(blob) = cached_layer(&key_file, &blobs) {
        return Ok(blob);
    }

    fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    let tmp = temp_path(&blobs);
    let written = (|| -> Result<()> {
        let mut out = Builder::new(BufWriter::with_capacity(1 << 20, File::create(&tmp)?));
        for (path, node) in &nodes {
            match node {
                Node::Dir { mode } => tar::append(&mut out, path, EntryType::Directory, *mode, "", 0, io::empty())?,
                Node::Symlink { target } => {
                    tar::append(&mut out, path, EntryType::Symlink, 0o777, target, 0, io::empty())?
                }
                Node::Bytes { data, mode } => tar::append_bytes(&mut out, path, *mode, data)?,
                Node::File { source, mode, size, .. } => {
                    append_file(&mut out, path, *mode, source, *size).with_context(|| format!("/{path}"))?
                }
            }
        }
        out.into_inner()?.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e.context(format!("writing layer tar {}", tmp.display())));
    }
    let hex = sha256_file(&tmp)?;
    let size = fs::metadata(&tmp)?.len();
    let path = blobs.join(&hex);
    fs::rename(&tmp, &path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    write_atomically(&key_file, |out| Ok(write!(out, "sha256:{hex} {size}")?))?;
    Ok(LayerBlob { digest: format!("sha256:{hex}"), size, path })
}

/// The layer recorded under `key_file`, if its blob is still there with the recorded size.
fn cached_layer(key_file: &Path, blobs: &Path) -> Option<LayerBlob> {
    let record = fs::read_to_string(key_file).ok()?;
    let (digest, size) = record.trim().split_once(' ')?;
    let size: u64 = size.parse().ok()?;
    let path = blobs.join(digest.strip_prefix("sha256:")?);
    if fs::metadata(&path).ok()?.len() != size {
        return None;
    }
    touch(key_file);
    touch(&path);
    Some(LayerBlob { digest: digest.to_string(), size, path })
}

/// Checks and sorts a layer's entries and adds missing parent directories.
fn normalize<'a>(layer: &'a Layer, cache_dir: &Path) -> Result<BTreeMap<String, Node<'a>>> {
    let mut nodes = BTreeMap::new();
    for entry in &layer.entries {
        let (path, node) = match entry {
            Entry::Dir { path, mode } => (path, Node::Dir { mode: mode & 0o7777 }),
            Entry::Bytes { path, data, mode } => (path, Node::Bytes { data: data.as_slice(), mode: mode & 0o7777 }),
            Entry::Symlink { path, target } => {
                ensure!(!target.is_empty(), "layer entry {path}: empty symlink target");
                (path, Node::Symlink { target: target.as_str() })
            }
            Entry::File { path, source, mode } => {
                let (sha256, size) = content_hash(source, &cache_dir.join("hashes"))
                    .with_context(|| format!("layer entry {path}: source {}", source.display()))?;
                (path, Node::File { source: source.as_path(), mode: mode & 0o7777, size, sha256 })
            }
        };
        let rel = relative(path)?;
        if rel.is_empty() {
            ensure!(matches!(node, Node::Dir { .. }), "layer entry {path:?}: only a directory can be /");
            continue;
        }
        if nodes.insert(rel, node).is_some() {
            bail!("layer entry {path}: listed twice");
        }
    }
    let paths: Vec<String> = nodes.keys().cloned().collect();
    for path in paths {
        let mut parent = path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            parent = p;
            match nodes.get(parent) {
                None => {
                    nodes.insert(parent.to_string(), Node::Dir { mode: 0o755 });
                }
                Some(Node::Dir { .. }) => {}
                Some(_) => bail!("layer entry /{path}: its parent /{parent} is not a directory in the layer"),
            }
        }
    }
    Ok(nodes)
}

/// `/a/b/` → `a/b`; rejects relative paths, `.` and `..`.
fn relative(path: &str) -> Result<String> {
    ensure!(path.starts_with('/'), "layer entry {path:?}: the path must be absolute");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    ensure!(!parts.iter().any(|p| *p == "." || *p == ".."), "layer entry {path:?}: '.' and '..' are not allowed");
    Ok(parts.join("/"))
}

/// Appends `source` as a regular file of `size` bytes; a file that changed size is an error
/// (the archive being written is then discarded).
fn append_file(out: &mut Builder<impl Write>, path: &str, mode: u32, source: &Path, size: u64) -> Result<()> {
    let mut file = File::open(source).with_context(|| format!("opening {}", source.display()))?;
    tar::append(out, path, EntryType::Regular, mode, "", size, (&mut file).take(size))
        .with_context(|| format!("reading {}", source.display()))?;
    ensure!(
        file.stream_position()? == size && file.read(&mut [0u8; 1])? == 0,
        "{} changed while the image was built (expected {size} bytes)",
        source.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Hashing and cache files

/// sha256 (hex) and size of a file's content. The hash is remembered in `memo_dir` under the
/// file's device, inode, size, mtime and ctime (any write or replacement changes one of them).
fn content_hash(source: &Path, memo_dir: &Path) -> Result<(String, u64)> {
    let md = fs::metadata(source)?;
    ensure!(md.is_file(), "not a regular file");
    let stamp = format!(
        "{} {} {} {}.{} {}.{}",
        md.dev(),
        md.ino(),
        md.len(),
        md.mtime(),
        md.mtime_nsec(),
        md.ctime(),
        md.ctime_nsec()
    );
    let memo = memo_dir.join(hex::encode(Sha256::digest(stamp.as_bytes())));
    if let Ok(hex) = fs::read_to_string(&memo)
        && hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        touch(&memo);
        return Ok((hex, md.len()));
    }
    let hex = sha256_file(source)?;
    fs::create_dir_all(memo_dir)?;
    write_atomically(&memo, |out| Ok(out.write_all(hex.as_bytes())?))?;
    Ok((hex, md.len()))
}

/// sha256 (hex) of a file. The workspace builds sha2 optimized even in dev and test profiles
/// (root `Cargo.toml`), so this is fast in tests too.
fn sha256_file(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// A unique temporary path in `dir` (same filesystem, so a rename publishes it atomically).
fn temp_path(dir: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    dir.join(format!(".tmp-{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// Writes `path` through a temporary file and a rename, so readers never see a partial file.
fn write_atomically(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let dir = path.parent().context("path without parent")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = temp_path(dir);
    let result = (|| -> Result<()> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        write(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(fs::rename(&tmp, path)?)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e.context(format!("writing {}", path.display())));
    }
    Ok(())
}

/// Marks a cache file as used (its mtime drives [`prune`]); best effort. At most once a day:
/// touching changes the ctime, which invalidates the file's hash memo (stripped binaries are
/// layer sources).
fn touch(path: &Path) {
    let day_old = SystemTime::now().checked_sub(Duration::from_secs(24 * 3600));
    let recent = fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|t| day_old.is_some_and(|d| t > d));
    if recent {
        return;
    }
    if let Ok(f) = File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Removes cache files not used for `age`: archives, layer blobs and records, hash memos,
/// stripped binaries and stale temporary files. Best effort.
fn prune(cache_dir: &Path, age: Duration) {
    let Some(cutoff) = SystemTime::now().checked_sub(age) else { return };
    let dirs = [
        cache_dir.to_path_buf(),
        cache_dir.join("blobs").join("sha256"),
        cache_dir.join("layers"),
        cache_dir.join("hashes"),
        cache_dir.join("strip"),
    ];
    for (i, dir) in dirs.iter().enumerate() {
        let Ok(entries) = fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // In the cache root itself only archives and temporaries are ours.
            if i == 0 && !(name.ends_with(".tar") || name.starts_with(".tmp-")) {
                continue;
            }
            let old = entry
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .and_then(|m| m.modified().ok())
                .is_some_and(|t| t < cutoff);
            if old {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// References

/// Normalizes an image reference the way containerd's CRI does (docker reference rules):
/// `busybox` → `docker.io/library/busybox:latest`, `sigp/lighthouse:v8.1.0` →
/// `docker.io/sigp/lighthouse:v8.1.0`; a first segment with `.` or `:`, or `localhost`, is a
/// registry and stays; `:latest` is added when there is neither tag nor digest; a reference
/// with both keeps only the digest (as containerd does).
pub fn normalize_ref(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let (mut repo, tag) = match name.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t)),
        _ => (name.to_string(), None),
    };
    let domain = repo.split_once('/').map(|(d, _)| d).filter(|d| d.contains(['.', ':']) || *d == "localhost");
    match domain {
        None => repo = format!("docker.io/{}{repo}", if repo.contains('/') { "" } else { "library/" }),
        Some("index.docker.io" | "docker.io") => {
            let rest = repo.split_once('/').map(|(_, r)| r.to_string()).unwrap_or_default();
            repo = format!("docker.io/{}{rest}", if rest.contains('/') { "" } else { "library/" });
        }
        Some(_) => {}
    }
    match (tag, digest) {
        (_, Some(d)) => format!("{repo}@{d}"),
        (Some(t), None) => format!("{repo}:{t}"),
        (None, None) => format!("{repo}:latest"),
    }
}

/// The tag of a normalized reference (`org.opencontainers.image.ref.name`), or its digest.
fn ref_tag(name: &str) -> &str {
    if let Some((_, digest)) = name.split_once('@') {
        return digest;
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    last.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest")
}

// ---------------------------------------------------------------------------------------------
// The images

/// Debian's static busybox (package busybox-static) at /bin/busybox with a symlink
/// /bin/<applet> for every applet it lists, /etc/passwd and /etc/group (root, nonroot 65532,
/// nobody 65534), /tmp (1777) and /root.
pub fn busybox_layer() -> Result<Layer> {
    busybox_layer_from(Path::new("/bin/busybox"))
}

fn busybox_layer_from(busybox: &Path) -> Result<Layer> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .with_context(|| format!("running {} --list (Debian package busybox-static)", busybox.display()))?;
    ensure!(out.status.success(), "{} --list failed: {}", busybox.display(), String::from_utf8_lossy(&out.stderr));
    let mut layer = base_files().file("/bin/busybox", busybox, 0o755).dir("/root", 0o700);
    let applets = String::from_utf8_lossy(&out.stdout);
    let mut applets: Vec<&str> =
        applets.lines().map(str::trim).filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/')).collect();
    applets.sort_unstable();
    applets.dedup();
    ensure!(applets.contains(&"sh"), "{} --list has no sh applet", busybox.display());
    for applet in applets {
        layer = layer.symlink(format!("/bin/{applet}"), "busybox");
    }
    Ok(layer)
}

/// /etc/passwd, /etc/group and /tmp, the same in every image (an upper layer's copy replaces
/// a lower one's, so they must not differ).
fn base_files() -> Layer {
    Layer::default().bytes("/etc/passwd", PASSWD, 0o644).bytes("/etc/group", GROUP, 0o644).dir("/tmp", 0o1777)
}

/// `docker.io/library/busybox:1.35`: [`busybox_layer`], Cmd `sh`.
pub fn busybox_image() -> Result<ImageSpec> {
    Ok(ImageSpec {
        names: vec![BUSYBOX_IMAGE.to_string()],
        layers: vec![busybox_layer()?],
        cmd: vec!["sh".into()],
        env: vec![STANDIN_PATH.into()],
        ..ImageSpec::default()
    })
}

/// A layer for dynamically linked (glibc) programs, like distroless/cc: the binaries (as
/// stripped copies, cached under [`default_cache_dir`]`/strip` by content hash) at their image
/// paths, every shared library `ldd` reports for them copied (dereferenced) at the same
/// absolute path, the dynamic loader at /lib64/ld-linux-x86-64.so.2, /etc/passwd and
/// /etc/group (root, nonroot 65532, nobody), /tmp (1777) and the host's
/// /etc/ssl/certs/ca-certificates.crt when present.
pub fn glibc_layer(binaries: &[(PathBuf, String)]) -> Result<Layer> {
    glibc_layer_in(&default_cache_dir().join("strip"), binaries)
}

fn glibc_layer_in(strip_dir: &Path, binaries: &[(PathBuf, String)]) -> Result<Layer> {
    let mut layer = base_files();
    let mut libs = BTreeMap::new();
    for (host, image_path) in binaries {
        let stripped = stripped_copy(host, strip_dir)?;
        for lib in shared_libraries(&stripped).with_context(|| format!("ldd {}", host.display()))? {
            libs.insert(lib.clone(), lib);
        }
        layer = layer.file(image_path.clone(), stripped, 0o755);
    }
    const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
    if !libs.is_empty() && Path::new(LOADER).exists() {
        libs.insert(LOADER.to_string(), LOADER.to_string());
    }
    for (path, source) in libs {
        let mode = fs::metadata(&source).with_context(|| format!("library {source}"))?.mode() & 0o755;
        layer = layer.file(path, source, mode);
    }
    let certs = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if certs.is_file() {
        layer = layer.file("/etc/ssl/certs/ca-certificates.crt", certs, 0o644);
    }
    Ok(layer)
}

/// A stripped copy of `binary` in `strip_dir`, named by the original's content hash.
fn stripped_copy(binary: &Path, strip_dir: &Path) -> Result<PathBuf> {
    let (hex, _) =
        content_hash(binary, &strip_dir.join("hashes")).with_context(|| format!("binary {}", binary.display()))?;
    let out = strip_dir.join(&hex);
    if out.is_file() {
        touch(&out);
        return Ok(out);
    }
    fs::create_dir_all(strip_dir).with_context(|| format!("creating {}", strip_dir.display()))?;
    let tmp = temp_path(strip_dir);
    let status = Command::new("strip")
        .arg("-o")
        .arg(&tmp)
        .arg(binary)
        .output()
        .context("running strip (Debian package binutils)")?;
    if !status.status.success() {
        let _ = fs::remove_file(&tmp);
        bail!("strip {} failed: {}", binary.display(), String::from_utf8_lossy(&status.stderr).trim());
    }
    fs::rename(&tmp, &out)?;
    Ok(out)
}

/// Absolute paths of the shared libraries `ldd` lists (none for a static binary).
fn shared_libraries(binary: &Path) -> Result<Vec<String>> {
    let out = Command::new("ldd").arg(binary).output().context("running ldd")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stdout.contains("not a dynamic executable") || stderr.contains("not a dynamic executable") {
        return Ok(Vec::new());
    }
    ensure!(out.status.success(), "ldd failed: {}", stderr.trim());
    let mut libs = Vec::new();
    for line in stdout.lines() {
        let line = line.trim();
        if line.contains("not found") {
            bail!("missing library: {line}");
        }
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`;
        // `linux-vdso.so.1 (0x…)` has no file.
        let path = line.split_once("=>").map(|(_, p)| p).unwrap_or(line).split_whitespace().next().unwrap_or("");
        if path.starts_with('/') {
            libs.push(path.to_string());
        }
    }
    Ok(libs)
}

/// The operator's image, as `Dockerfile` builds it on distroless/cc nonroot: bp-operator and
/// bp-generator from `bin_dir` (cargo's target directory) at /usr/local/bin/, entrypoint
/// bp-operator, user 65532:65532 (numeric, as the restricted profile's runAsNonRoot needs).
pub fn project_image(bin_dir: &Path, names: &[String]) -> Result<ImageSpec> {
    let binaries: Vec<(PathBuf, String)> =
        ["bp-operator", "bp-generator"].iter().map(|b| (bin_dir.join(b), format!("/usr/local/bin/{b}"))).collect();
    for (host, _) in &binaries {
        ensure!(host.is_file(), "{} not found (build it with cargo build)", host.display());
    }
    Ok(ImageSpec {
        names: names.to_vec(),
        layers: vec![glibc_layer(&binaries)?],
        entrypoint: vec!["/usr/local/bin/bp-operator".into()],
        env: vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".into(),
        ],
        user: Some("65532:65532".into()),
        ..ImageSpec::default()
    })
}

/// The sandbox image [`PAUSE_IMAGE`]: bp-standin's glibc layer (shared with
/// [`standin_images`]) and /pause → bp-standin, which then acts as pause; user 65535.
pub fn pause_image(standin: &Path) -> Result<ImageSpec> {
    Ok(ImageSpec {
        names: vec![PAUSE_IMAGE.to_string()],
        layers: vec![standin_layer(standin)?, Layer::default().symlink("/pause", STANDIN_BIN)],
        entrypoint: vec!["/pause".into()],
        user: Some("65535:65535".into()),
        ..ImageSpec::default()
    })
}

/// How one devnet image starts when a container gives no `command` (and, for an image with an
/// entrypoint, no `args`): its entrypoint, cmd, extra environment and working directory, as the
/// real image's config has them, so that the stand-in runs under the same program name with the
/// same arguments as the real program would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandinConfig {
    pub entrypoint: &'static [&'static str],
    pub cmd: &'static [&'static str],
    /// Besides [`STANDIN_PATH`].
    pub env: &'static [&'static str],
    pub working_dir: &'static str,
}

impl StandinConfig {
    const fn entrypoint(entrypoint: &'static [&'static str]) -> StandinConfig {
        StandinConfig { entrypoint, cmd: &[], env: &[], working_dir: "/" }
    }

    const fn cmd(cmd: &'static [&'static str]) -> StandinConfig {
        StandinConfig { entrypoint: &[], cmd, env: &[], working_dir: "/" }
    }
}

/// The config of each stand-in image by repository (the name without its tag): the real
/// image's Entrypoint/Cmd (from its Dockerfile) where known; where not, a guess, marked so.
pub const STANDIN_CONFIGS: &[(&str, StandinConfig)] = &[
    // reth's Dockerfile: ENTRYPOINT ["/usr/local/bin/reth"].
    ("ghcr.io/paradigmxyz/reth", StandinConfig::entrypoint(&["/usr/local/bin/reth"])),
    // reth's DockerfileOp: WORKDIR /app, ENTRYPOINT ["/usr/local/bin/op-reth"].
    (
        "ghcr.io/paradigmxyz/op-reth",
        StandinConfig { working_dir: "/app", ..StandinConfig::entrypoint(&["/usr/local/bin/op-reth"]) },
    ),
    // builder-playground's Dockerfile: FROM golang (Debian), binaries in /usr/local/bin, no
    // ENTRYPOINT/CMD, so Debian's CMD ["bash"]; busybox has no bash: sh.
    ("docker.io/flashbots/playground-utils", StandinConfig { working_dir: "/app", ..StandinConfig::cmd(&["sh"]) }),
    // Lighthouse's Dockerfile: FROM ubuntu, /usr/local/bin/lighthouse, no ENTRYPOINT/CMD (so
    // ubuntu's CMD ["/bin/bash"], which busybox lacks): the program itself instead.
    ("docker.io/sigp/lighthouse", StandinConfig::cmd(&["lighthouse"])),
    // op-geth's Dockerfile: ENTRYPOINT ["geth"].
    ("us-docker.pkg.dev/oplabs-tools-artifacts/images/op-geth", StandinConfig::entrypoint(&["geth"])),
    // optimism's ops/docker/op-stack-go/Dockerfile: CMD ["op-node"], CMD ["op-batcher"].
    ("us-docker.pkg.dev/oplabs-tools-artifacts/images/op-node", StandinConfig::cmd(&["op-node"])),
    ("us-docker.pkg.dev/oplabs-tools-artifacts/images/op-batcher", StandinConfig::cmd(&["op-batcher"])),
    // builder-hub v0.3.1-alpha1 docker/database/Dockerfile: FROM postgres:15 (ENTRYPOINT
    // ["docker-entrypoint.sh"], CMD ["postgres"], PGDATA), ENV POSTGRES_DB=postgres and
    // POSTGRES_HOST_AUTH_METHOD=trust.
    (
        "docker.io/flashbots/builder-hub-db",
        StandinConfig {
            entrypoint: &["docker-entrypoint.sh"],
            cmd: &["postgres"],
            env: &["PGDATA=/var/lib/postgresql/data", "POSTGRES_DB=postgres", "POSTGRES_HOST_AUTH_METHOD=trust"],
            working_dir: "/",
        },
    ),
    // docker/httpserver/Dockerfile: WORKDIR /app, CMD ["/app/builder-hub"].
    (
        "docker.io/flashbots/builder-hub",
        StandinConfig { working_dir: "/app", ..StandinConfig::cmd(&["/app/builder-hub"]) },
    ),
    // docker/mock-proxy/Dockerfile: FROM nginx:1.27 (ENTRYPOINT ["/docker-entrypoint.sh"], CMD
    // ["nginx", "-g", "daemon off;"]) with its conf.d/default.conf ([`NGINX_MOCK_PROXY_CONF`]).
    (
        "docker.io/flashbots/builder-hub-mock-proxy",
        StandinConfig {
            entrypoint: &["/docker-entrypoint.sh"],
            cmd: &["nginx", "-g", "daemon off;"],
            env: &[],
            working_dir: "/",
        },
    ),
    // caddy's image: no ENTRYPOINT, this CMD, XDG directories, WORKDIR /srv.
    (
        "docker.io/library/caddy",
        StandinConfig {
            entrypoint: &[],
            cmd: &["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"],
            env: &["XDG_CONFIG_HOME=/config", "XDG_DATA_HOME=/data"],
            working_dir: "/srv",
        },
    ),
    ("docker.io/alpine/curl", StandinConfig::entrypoint(&["curl"])),
    // mev-boost's Dockerfile (v1.8): WORKDIR /app, ENTRYPOINT ["/app/mev-boost"].
    (
        "docker.io/flashbots/mev-boost",
        StandinConfig { working_dir: "/app", ..StandinConfig::entrypoint(&["/app/mev-boost"]) },
    ),
    // rbuilder's Dockerfile: ENTRYPOINT ["/app/rbuilder"].
    ("ghcr.io/flashbots/rbuilder", StandinConfig::entrypoint(&["/app/rbuilder"])),
    // prom/prometheus: ENTRYPOINT ["/bin/prometheus"] with its default flags as CMD.
    (
        "docker.io/prom/prometheus",
        StandinConfig {
            entrypoint: &["/bin/prometheus"],
            cmd: &["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
            env: &[],
            working_dir: "/prometheus",
        },
    ),
    // rollup-boost v0.7.0's Dockerfile: distroless, ENTRYPOINT ["/usr/local/bin/rollup-boost"]. From
    // rollup-boost/v0.7.12-rc1 on it is ENTRYPOINT ["/usr/local/bin/entrypoint"], a copy of the same
    // binary (also at /usr/local/bin/rollup-boost): the stand-in keeps the rollup-boost name, which
    // is what tells it which contract to check.
    // Both: WORKDIR /app.
    (
        "docker.io/flashbots/rollup-boost",
        StandinConfig { working_dir: "/app", ..StandinConfig::entrypoint(&["/usr/local/bin/rollup-boost"]) },
    ),
    ("ghcr.io/base/node-reth-dev", StandinConfig::entrypoint(&["/app/base-client"])),
    // op-rbuilder v0.2.13's Dockerfile (RBUILDER_BIN=op-rbuilder): the binary copied to
    // /app/rbuilder, ENTRYPOINT ["/app/rbuilder"] (the stand-in takes `rbuilder node …` as
    // op-rbuilder).
    ("ghcr.io/flashbots/op-rbuilder", StandinConfig::entrypoint(&["/app/rbuilder"])),
    // contender v0.7.2's Dockerfile: ENTRYPOINT ["contender"], CMD ["--help"] (on its PATH).
    ("docker.io/flashbots/contender", StandinConfig { cmd: &["--help"], ..StandinConfig::entrypoint(&["contender"]) }),
    // Unverified: each image's program under its own name in /usr/local/bin.
    ("ghcr.io/flashbots/bproxy", StandinConfig::entrypoint(&["/usr/local/bin/bproxy"])),
    ("docker.io/flashbots/flashblocks-rpc", StandinConfig::entrypoint(&["/usr/local/bin/flashblocks-rpc"])),
    ("docker.io/mikawamp/websocket-rpc", StandinConfig::entrypoint(&["/usr/local/bin/websocket-rpc"])),
    ("ghcr.io/flashbots/chain-monitor", StandinConfig::entrypoint(&["/usr/local/bin/chain-monitor"])),
    ("ghcr.io/flashbots/attested-tls-proxy", StandinConfig::entrypoint(&["/usr/local/bin/attested-tls-proxy"])),
];

/// builder-hub-mock-proxy's nginx site (v0.3.1-alpha1 `docker/mock-proxy/nginx-default.conf`,
/// rewritten): port 80 and 8888 proxy to builder-hub-api:8080 with mock attestation headers.
/// It names its upstream itself: the `TARGET` builder-playground sets is not read.
pub const NGINX_MOCK_PROXY_CONF: &str = "server {\n  listen 80;\n  listen 8888;\n\n  location / {\n    \
proxy_pass http://builder-hub-api:8080;\n    proxy_set_header X-Flashbots-Attestation-Type 'test';\n    \
proxy_set_header X-Flashbots-Measurement '{}';\n    proxy_set_header X-Forwarded-For '1.2.3.4';\n  }\n}\n";

/// The config of a stand-in image ([`STANDIN_CONFIGS`] by repository); `None` for a name the
/// table lacks.
pub fn standin_config(name: &str) -> Option<StandinConfig> {
    let repo = name.split('@').next().unwrap_or(name);
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    STANDIN_CONFIGS.iter().find(|(r, _)| *r == repo).map(|(_, c)| *c)
}

/// The stand-in images for `names` (normally [`STANDIN_IMAGES`]): one image per distinct
/// config ([`standin_config`]), all with the same layers: busybox (for shell scripts and
/// `wget` probes), bp-standin's glibc layer, and a layer linking every client name
/// ([`CLIENTS`]: /usr/local/bin/<name>) and absolute entrypoint ([`ABSOLUTE_ENTRYPOINTS`]) to
/// bp-standin; the mock proxy's image also has its nginx site. Layers are content-addressed,
/// so the images share them in containerd. A name without a config is an error.
pub fn standin_images(standin: &Path, names: &[String]) -> Result<Vec<ImageSpec>> {
    standin_images_on(vec![busybox_layer()?, standin_layer(standin)?, client_links()], names)
}

/// [`standin_images`] on the given base layers.
fn standin_images_on(base: Vec<Layer>, names: &[String]) -> Result<Vec<ImageSpec>> {
    let mut images: Vec<(StandinConfig, ImageSpec)> = Vec::new();
    for name in names {
        let config = standin_config(name).with_context(|| format!("no stand-in config for image {name}"))?;
        if let Some((_, image)) = images.iter_mut().find(|(c, _)| *c == config) {
            image.names.push(name.clone());
            continue;
        }
        let mut layers = base.clone();
        if config.cmd.first() == Some(&"nginx") {
            layers.push(Layer::default().bytes("/etc/nginx/conf.d/default.conf", NGINX_MOCK_PROXY_CONF, 0o644));
        }
        // Every file a flag names is checked (bp-standin's `BP_STANDIN_FILES` defaults to
        // `check`): every devnet here carries its artifacts.
        let mut env = vec![STANDIN_PATH.to_string()];
        env.extend(config.env.iter().map(|e| e.to_string()));
        let image = ImageSpec {
            names: vec![name.clone()],
            layers,
            entrypoint: config.entrypoint.iter().map(|s| s.to_string()).collect(),
            cmd: config.cmd.iter().map(|s| s.to_string()).collect(),
            env,
            user: None,
            working_dir: Some(config.working_dir.into()),
        };
        images.push((config, image));
    }
    Ok(images.into_iter().map(|(_, i)| i).collect())
}

/// [`STANDIN_IMAGES`] as owned names, for [`standin_images`].
pub fn standin_names() -> Vec<String> {
    STANDIN_IMAGES.iter().map(|s| s.to_string()).collect()
}

/// /usr/local/bin/<client> → bp-standin for every client, and the absolute entrypoints.
fn client_links() -> Layer {
    let mut links = Layer::default();
    for client in CLIENTS {
        links = links.symlink(format!("/usr/local/bin/{client}"), "bp-standin");
    }
    for path in ABSOLUTE_ENTRYPOINTS {
        links = links.symlink(*path, STANDIN_BIN);
    }
    links
}

fn standin_layer(standin: &Path) -> Result<Layer> {
    ensure!(standin.is_file(), "{} not found (cargo build -p bp-e2e --bin bp-standin)", standin.display());
    glibc_layer(&[(standin.to_path_buf(), STANDIN_BIN.to_string())])
}

#[cfg(test)]
mod tests;
