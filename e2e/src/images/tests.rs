use std::collections::BTreeMap;

use super::*;

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// One entry of an archive, as read back by the `tar` crate.
struct ReadEntry {
    /// Path as written (directories end in `/`).
    path: String,
    typeflag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: String,
    data: Vec<u8>,
}

fn read_entries(r: impl Read) -> Vec<ReadEntry> {
    let mut archive = Archive::new(r);
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let text = |b: std::borrow::Cow<[u8]>| String::from_utf8(b.into_owned()).unwrap();
        let h = entry.header().clone();
        let (path, link) = (text(entry.path_bytes()), entry.link_name_bytes().map(text).unwrap_or_default());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        entries.push(ReadEntry {
            path,
            typeflag: h.entry_type().as_byte(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mtime: h.mtime().unwrap(),
            link,
            data,
        });
    }
    entries
}

fn read_tar(path: &Path) -> Vec<ReadEntry> {
    read_entries(File::open(path).unwrap())
}

/// A layer with a host file, bytes, a sticky dir and a symlink; `dir` holds the host file.
fn sample_layer(dir: &Path, content: &[u8]) -> Layer {
    let source = dir.join("prog");
    fs::write(&source, content).unwrap();
    Layer::default()
        .file("/usr/local/bin/prog", &source, 0o755)
        .bytes("/etc/motd", "hi\n", 0o644)
        .dir("/tmp", 0o1777)
        .symlink("/usr/local/bin/alias", "prog")
}

fn spec(names: &[&str], layers: Vec<Layer>) -> ImageSpec {
    ImageSpec {
        names: names.iter().map(|s| s.to_string()).collect(),
        layers,
        entrypoint: vec!["/usr/local/bin/prog".into()],
        cmd: vec!["serve".into()],
        env: vec![STANDIN_PATH.into()],
        user: Some("65532:65532".into()),
        working_dir: Some("/".into()),
    }
}

#[test]
fn layer_digest_is_deterministic_and_follows_content() {
    let src = tempfile::tempdir().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let layer = sample_layer(src.path(), b"binary v1");
    let first = build_layer(&layer, a.path()).unwrap();
    // Another cache (so nothing is reused), entries in another order: the same bytes.
    let mut reversed = layer.clone();
    reversed.entries.reverse();
    let second = build_layer(&reversed, b.path()).unwrap();
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.size, second.size);
    assert_eq!(fs::read(&first.path).unwrap(), fs::read(&second.path).unwrap());
    assert_eq!(format!("sha256:{}", sha256_hex(&fs::read(&first.path).unwrap())), first.digest);

    // Same cache again: found by key; a different content gives a different digest.
    assert_eq!(build_layer(&layer, a.path()).unwrap(), first);
    let changed = sample_layer(src.path(), b"binary v2");
    assert_ne!(build_layer(&changed, a.path()).unwrap().digest, first.digest);
    // A different mode is a different layer too.
    let mut chmod = layer.clone();
    chmod.entries[0] = Entry::File { path: "/usr/local/bin/prog".into(), source: src.path().join("prog"), mode: 0o700 };
    assert_ne!(build_layer(&chmod, b.path()).unwrap().digest, first.digest);
}

/// The layer bytes are pinned: a change here changes image digests (and needs a new
/// `LAYER_FORMAT`), e.g. through another version of the `tar` crate.
#[test]
fn layer_bytes_are_pinned() {
    let src = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let blob = build_layer(&sample_layer(src.path(), b"binary"), cache.path()).unwrap();
    // The same bytes as the hand-written tar writer before the `tar` crate.
    assert_eq!(
        (blob.digest.as_str(), blob.size),
        ("sha256:ca8ac92288cf6f63502f82ea4d67474a43211530c1fccb56f49e8591ad9c799f", 6144)
    );
    let long = Layer::default().bytes(format!("/{}/f", "d".repeat(120)), "x", 0o644).symlink("/l", "t".repeat(150));
    let blob = build_layer(&long, cache.path()).unwrap();
    assert_eq!(
        (blob.digest.as_str(), blob.size),
        ("sha256:3faa1f0d6c83182e95770f7c33b609010007adfdbd06efc320cefa221bf39e26", 6144)
    );
}

#[test]
fn layer_tar_is_sorted_owned_by_root_with_parents() {
    let src = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let blob = build_layer(&sample_layer(src.path(), b"binary"), cache.path()).unwrap();
    let entries = read_tar(&blob.path);
    let listing: Vec<(&str, u8, u32)> = entries.iter().map(|e| (e.path.as_str(), e.typeflag, e.mode)).collect();
    assert_eq!(
        listing,
        [
            ("etc/", b'5', 0o755),
            ("etc/motd", b'0', 0o644),
            ("tmp/", b'5', 0o1777),
            ("usr/", b'5', 0o755),
            ("usr/local/", b'5', 0o755),
            ("usr/local/bin/", b'5', 0o755),
            ("usr/local/bin/alias", b'2', 0o777),
            ("usr/local/bin/prog", b'0', 0o755),
        ]
    );
    assert!(entries.iter().all(|e| e.uid == 0 && e.gid == 0 && e.mtime == tar::MTIME));
    assert_eq!(entries[6].link, "prog");
    assert_eq!(entries[7].data, b"binary");

    // GNU tar extracts the same tree.
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("tar").arg("-xf").arg(&blob.path).arg("-C").arg(out.path()).status().unwrap();
    assert!(status.success());
    assert_eq!(fs::read(out.path().join("usr/local/bin/prog")).unwrap(), b"binary");
    assert_eq!(fs::read_link(out.path().join("usr/local/bin/alias")).unwrap(), Path::new("prog"));
}

#[test]
fn archive_is_a_valid_oci_layout_with_one_entry_per_name() {
    let src = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let base = Layer::default().bytes("/etc/passwd", PASSWD, 0o644);
    let names = ["docker.io/sigp/lighthouse:v8.1.0", "ghcr.io/paradigmxyz/reth:v1.9.3", "bp-e2e.local/x@sha256:0123"];
    let spec = spec(&names, vec![base.clone(), sample_layer(src.path(), b"binary"), base]);
    let archive = build_archive(&spec, cache.path()).unwrap();

    let entries = read_tar(&archive);
    let files: BTreeMap<&str, &[u8]> =
        entries.iter().filter(|e| e.typeflag == b'0').map(|e| (e.path.as_str(), e.data.as_slice())).collect();
    assert_eq!(entries[0].path, "oci-layout");
    assert_eq!(entries[1].path, "index.json");
    let json = |path: &str| -> Value { serde_json::from_slice(files[path]).unwrap() };
    assert_eq!(json("oci-layout")["imageLayoutVersion"], "1.0.0");
    // Every blob is stored under its own sha256.
    let blob = |desc: &Value| -> &[u8] {
        let hex = desc["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap();
        let data = files.get(format!("blobs/sha256/{hex}").as_str()).copied().expect("blob in archive");
        assert_eq!(sha256_hex(data), hex);
        assert_eq!(desc["size"].as_u64().unwrap(), data.len() as u64);
        data
    };

    let index = json("index.json");
    assert_eq!(index["schemaVersion"], 2);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 3);
    for (m, name) in manifests.iter().zip(names) {
        assert_eq!(m["mediaType"], MEDIA_MANIFEST);
        assert_eq!(m["digest"], manifests[0]["digest"], "one manifest for every name");
        assert_eq!(m["annotations"]["io.containerd.image.name"], name);
        assert_eq!(m["platform"]["os"], "linux");
    }
    assert_eq!(manifests[0]["annotations"]["org.opencontainers.image.ref.name"], "v8.1.0");
    assert_eq!(manifests[2]["annotations"]["org.opencontainers.image.ref.name"], "sha256:0123");
    assert_eq!(archive_names(&archive).unwrap(), names);

    let manifest: Value = serde_json::from_slice(blob(&manifests[0])).unwrap();
    assert_eq!(manifest["config"]["mediaType"], MEDIA_CONFIG);
    let config: Value = serde_json::from_slice(blob(&manifest["config"])).unwrap();
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["config"]["Entrypoint"], json!(["/usr/local/bin/prog"]));
    assert_eq!(config["config"]["Cmd"], json!(["serve"]));
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["WorkingDir"], "/");
    assert_eq!(config["config"]["Env"], json!([STANDIN_PATH]));
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert_eq!(layers[0]["digest"], layers[2]["digest"], "the same layer twice has one digest");
    for (layer, diff_id) in layers.iter().zip(config["rootfs"]["diff_ids"].as_array().unwrap()) {
        assert_eq!(layer["mediaType"], MEDIA_LAYER);
        assert_eq!(&layer["digest"], diff_id, "uncompressed: diff_id = digest");
        // Each layer is itself a tar that reads back.
        let entries = read_entries(blob(layer));
        assert!(entries.iter().any(|e| e.path == "etc/passwd" || e.path == "usr/local/bin/prog"));
    }
    // Shared layer stored once: config, manifest, two distinct layers.
    assert_eq!(files.keys().filter(|p| p.starts_with("blobs/sha256/")).count(), 4);

    // Named by content, reused as is.
    let index_hex = sha256_hex(files["index.json"]);
    assert_eq!(archive.file_name().unwrap().to_str().unwrap(), format!("{index_hex}.tar"));
    let inode = fs::metadata(&archive).unwrap().ino();
    assert_eq!(build_archive(&spec, cache.path()).unwrap(), archive);
    assert_eq!(fs::metadata(&archive).unwrap().ino(), inode);
    // A second identical cache builds a byte-identical archive.
    let other = tempfile::tempdir().unwrap();
    let again = build_archive(&spec, other.path()).unwrap();
    assert_eq!(fs::read(&again).unwrap(), fs::read(&archive).unwrap());
}

#[test]
fn missing_source_is_an_error_naming_it() {
    let cache = tempfile::tempdir().unwrap();
    let missing = cache.path().join("no-such-binary");
    let layer = Layer::default().file("/usr/local/bin/x", &missing, 0o755);
    let err = format!("{:#}", build_archive(&spec(&["docker.io/library/x:1"], vec![layer]), cache.path()).unwrap_err());
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("/usr/local/bin/x"), "{err}");
    assert!(err.contains("docker.io/library/x:1"), "{err}");
}

#[test]
fn source_that_changed_size_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("f");
    fs::write(&source, "12345").unwrap();
    let append = |size| append_file(&mut Builder::new(Vec::new()), "f", 0o644, &source, size);
    assert!(append(5).is_ok());
    for size in [4, 6] {
        let err = format!("{:#}", append(size).unwrap_err());
        assert!(err.contains("changed while the image was built"), "{err}");
    }
}

#[test]
fn bad_layers_and_names_are_rejected() {
    let cache = tempfile::tempdir().unwrap();
    let build = |layer: Layer| format!("{:#}", build_layer(&layer, cache.path()).unwrap_err());
    assert!(build(Layer::default().dir("/a", 0o755).dir("/a/", 0o700)).contains("listed twice"));
    assert!(build(Layer::default().symlink("/lib", "usr/lib").bytes("/lib/x", "", 0o644)).contains("not a directory"));
    assert!(build(Layer::default().bytes("etc/x", "", 0o644)).contains("absolute"));
    assert!(build(Layer::default().bytes("/etc/../x", "", 0o644)).contains("'..'"));
    let err = build_archive(&spec(&["sigp/lighthouse:v8.1.0"], vec![]), cache.path()).unwrap_err();
    assert!(err.to_string().contains("docker.io/sigp/lighthouse:v8.1.0"), "{err}");
    assert!(build_archive(&spec(&[], vec![]), cache.path()).is_err());
}

#[test]
fn changed_file_is_hashed_again() {
    let dir = tempfile::tempdir().unwrap();
    let memo = dir.path().join("memo");
    let file = dir.path().join("f");
    fs::write(&file, "one").unwrap();
    assert_eq!(content_hash(&file, &memo).unwrap(), (sha256_hex(b"one"), 3));
    assert_eq!(content_hash(&file, &memo).unwrap(), (sha256_hex(b"one"), 3));
    fs::write(&file, "two").unwrap();
    assert_eq!(content_hash(&file, &memo).unwrap(), (sha256_hex(b"two"), 3));
}

#[test]
fn normalize_ref_follows_containerd() {
    let cases = [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.35", "docker.io/library/busybox:1.35"),
        ("caddy:2-alpine", "docker.io/library/caddy:2-alpine"),
        ("sigp/lighthouse:v8.1.0", "docker.io/sigp/lighthouse:v8.1.0"),
        ("flashbots/mev-boost", "docker.io/flashbots/mev-boost:latest"),
        ("docker.io/busybox:1", "docker.io/library/busybox:1"),
        ("index.docker.io/sigp/lighthouse:v8.1.0", "docker.io/sigp/lighthouse:v8.1.0"),
        ("docker.io/flashbots/playground-utils:cc6f", "docker.io/flashbots/playground-utils:cc6f"),
        ("ghcr.io/paradigmxyz/reth:v1.9.3", "ghcr.io/paradigmxyz/reth:v1.9.3"),
        ("ghcr.io/paradigmxyz/reth", "ghcr.io/paradigmxyz/reth:latest"),
        (
            "us-docker.pkg.dev/oplabs-tools-artifacts/images/op-node:v1.16.3",
            "us-docker.pkg.dev/oplabs-tools-artifacts/images/op-node:v1.16.3",
        ),
        ("localhost/foo", "localhost/foo:latest"),
        ("localhost:5000/foo/bar", "localhost:5000/foo/bar:latest"),
        ("registry:5000/foo:1", "registry:5000/foo:1"),
        ("busybox@sha256:abcd", "docker.io/library/busybox@sha256:abcd"),
        ("ghcr.io/a/b:1.0@sha256:abcd", "ghcr.io/a/b@sha256:abcd"),
        ("bp-e2e.local/pause:1", "bp-e2e.local/pause:1"),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_ref(input), want, "{input}");
        assert_eq!(normalize_ref(want), want, "idempotent on {want}");
    }
}

#[test]
fn standin_image_names_are_normalized_and_unique() {
    let mut seen = std::collections::BTreeSet::new();
    for name in STANDIN_IMAGES {
        assert_eq!(normalize_ref(name), *name);
        assert!(seen.insert(name), "{name} twice");
    }
    // Every image of the examples, normalized as the kubelet's CRI would.
    let examples = crate::paths::workspace_dir().join("examples");
    for file in ["l1.yaml", "opstack.yaml"] {
        let text = fs::read_to_string(examples.join(file)).unwrap();
        let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
        for svc in doc["spec"]["services"].as_array().unwrap() {
            let image = format!("{}:{}", svc["image"].as_str().unwrap(), svc["tag"].as_str().unwrap());
            assert!(STANDIN_IMAGES.contains(&normalize_ref(&image).as_str()), "{file}: {image}");
        }
    }
}

#[test]
fn client_links_cover_every_entrypoint_and_script_program() {
    let links = client_links();
    let has = |path: &str| links.entries.iter().any(|e| matches!(e, Entry::Symlink { path: p, .. } if p == path));
    for program in [
        "/usr/local/bin/reth",
        "/usr/local/bin/lighthouse",
        "/usr/local/bin/healthmon",
        "/usr/local/bin/mev-boost-relay",
        "/usr/local/bin/geth",
        "/usr/local/bin/op-node",
        "/usr/local/bin/op-batcher",
        "/usr/local/bin/caddy",
        "/usr/local/bin/docker-entrypoint.sh",
        "/usr/local/bin/postgres",
        "/usr/local/bin/pg_isready",
        "/usr/local/bin/nginx",
        "/usr/local/bin/curl",
        "/docker-entrypoint.sh",
        "/app/builder-hub",
        "/app/base-client",
    ] {
        assert!(has(program), "{program}");
    }
    let cache = tempfile::tempdir().unwrap();
    assert!(build_layer(&links, cache.path()).is_ok());
}

#[test]
fn glibc_layer_carries_stripped_binary_libraries_and_loader() {
    let host = Path::new("/bin/true");
    if !host.is_file() {
        return;
    }
    let strip = tempfile::tempdir().unwrap();
    let layer = glibc_layer_in(strip.path(), &[(host.to_path_buf(), "/usr/local/bin/true".into())]).unwrap();
    let files: BTreeMap<&str, (&Path, u32)> = layer
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::File { path, source, mode } => Some((path.as_str(), (source.as_path(), *mode))),
            _ => None,
        })
        .collect();
    let (stripped, mode) = files["/usr/local/bin/true"];
    assert_eq!(mode, 0o755);
    assert!(stripped.starts_with(strip.path()), "a stripped copy, not the host file");
    assert!(files.contains_key("/lib64/ld-linux-x86-64.so.2"), "{files:?}");
    assert!(files.keys().any(|p| p.ends_with("/libc.so.6")), "{files:?}");
    assert!(layer.entries.contains(&Entry::Dir { path: "/tmp".into(), mode: 0o1777 }));
    assert!(layer.entries.iter().any(|e| matches!(e, Entry::Bytes { path, data, .. }
        if path == "/etc/passwd" && String::from_utf8_lossy(data).contains(":65532:65532:"))));
    // The stripped copy is reused on the next call.
    let again = glibc_layer_in(strip.path(), &[(host.to_path_buf(), "/usr/local/bin/true".into())]).unwrap();
    assert_eq!(again, layer);
}

#[test]
fn busybox_layer_links_every_applet() {
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        return;
    }
    let layer = busybox_layer_from(busybox).unwrap();
    let link = |name: &str| {
        layer.entries.iter().any(
            |e| matches!(e, Entry::Symlink { path, target } if path == &format!("/bin/{name}") && target == "busybox"),
        )
    };
    for applet in ["sh", "wget", "sleep", "cat"] {
        assert!(link(applet), "{applet}");
    }
    assert!(!link("busybox"));
    assert!(layer.entries.contains(&Entry::Dir { path: "/tmp".into(), mode: 0o1777 }));
    let cache = tempfile::tempdir().unwrap();
    let blob = build_layer(&layer, cache.path()).unwrap();
    let entries = read_tar(&blob.path);
    let passwd = entries.into_iter().find(|e| e.path == "etc/passwd").unwrap().data;
    let passwd = String::from_utf8(passwd).unwrap();
    for user in ["root:x:0:0:", "nobody:x:65534:65534:", "nonroot:x:65532:65532:"] {
        assert!(passwd.contains(user), "{passwd}");
    }
}

#[test]
fn prune_removes_only_old_cache_files() {
    let cache = tempfile::tempdir().unwrap();
    let keep = cache.path().join("notes.txt");
    let archive = cache.path().join("abc.tar");
    let blob = cache.path().join("blobs/sha256/abc");
    fs::create_dir_all(blob.parent().unwrap()).unwrap();
    for f in [&keep, &archive, &blob] {
        fs::write(f, "x").unwrap();
    }
    prune(cache.path(), Duration::from_secs(3600));
    assert!(archive.exists() && blob.exists(), "recent files stay");
    prune(cache.path(), Duration::ZERO);
    assert!(!archive.exists() && !blob.exists());
    assert!(keep.exists(), "files that are not ours stay");
}

/// What a container of each stand-in image runs when it gives no command: the program must be
/// in the image (busybox's `sh`, or a link to bp-standin under the program's name), and for the
/// images buildernet runs without a command it is the real image's.
#[test]
fn every_standin_image_starts_its_real_program() {
    let links = client_links();
    let linked = |path: &str| links.entries.iter().any(|e| matches!(e, Entry::Symlink { path: p, .. } if p == path));
    for name in STANDIN_IMAGES {
        let config = standin_config(name).unwrap_or_else(|| panic!("{name}: no config"));
        let program =
            config.entrypoint.first().or(config.cmd.first()).unwrap_or_else(|| panic!("{name}: runs nothing"));
        let found = match program.strip_prefix('/') {
            Some(_) => linked(program),
            None => *program == "sh" || CLIENTS.contains(program),
        };
        assert!(found, "{name}: {program} is not in the image");
        assert!(config.working_dir.starts_with('/'), "{name}");
    }
    let want: &[(&str, &[&str], &[&str])] = &[
        ("docker.io/flashbots/builder-hub-db:0.3.1-alpha1", &["docker-entrypoint.sh"], &["postgres"]),
        ("docker.io/flashbots/builder-hub:0.3.1-alpha1", &[], &["/app/builder-hub"]),
        (
            "docker.io/flashbots/builder-hub-mock-proxy:0.3.1-alpha1",
            &["/docker-entrypoint.sh"],
            &["nginx", "-g", "daemon off;"],
        ),
        (
            "docker.io/library/caddy:2-alpine",
            &[],
            &["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"],
        ),
        ("docker.io/alpine/curl:latest", &["curl"], &[]),
        ("ghcr.io/paradigmxyz/reth:v1.4.8", &["/usr/local/bin/reth"], &[]),
        ("docker.io/sigp/lighthouse:v8.1.0", &[], &["lighthouse"]),
        ("us-docker.pkg.dev/oplabs-tools-artifacts/images/op-node:v1.16.3", &[], &["op-node"]),
        ("docker.io/flashbots/rollup-boost:0.7.0", &["/usr/local/bin/rollup-boost"], &[]),
        ("docker.io/flashbots/rollup-boost:v0.7.12-rc1", &["/usr/local/bin/rollup-boost"], &[]),
        ("ghcr.io/paradigmxyz/op-reth:v1.9.3", &["/usr/local/bin/op-reth"], &[]),
        // op-rbuilder's Dockerfile copies its binary to /app/rbuilder.
        ("ghcr.io/flashbots/op-rbuilder:v0.2.13", &["/app/rbuilder"], &[]),
        ("docker.io/flashbots/mev-boost:latest", &["/app/mev-boost"], &[]),
        ("docker.io/flashbots/contender:0.7.2", &["contender"], &["--help"]),
    ];
    for (name, entrypoint, cmd) in want {
        let c = standin_config(name).unwrap();
        assert_eq!((c.entrypoint, c.cmd), (*entrypoint, *cmd), "{name}");
    }
    for name in [
        "docker.io/flashbots/builder-hub:0.3.1-alpha1",
        "docker.io/flashbots/rollup-boost:0.7.0",
        "ghcr.io/paradigmxyz/op-reth:v1.9.3",
        "docker.io/flashbots/mev-boost:latest",
    ] {
        assert_eq!(standin_config(name).unwrap().working_dir, "/app", "{name}");
    }
    assert!(standin_config("docker.io/library/nginx:1.27").is_none());
}

/// One image per distinct config, every name in exactly one, the same base layers under each
/// (so containerd stores them once); the archive's config is what the kubelet's runtime reads.
#[test]
fn standin_images_share_their_layers_with_one_config_each() {
    let src = tempfile::tempdir().unwrap();
    let base = vec![sample_layer(src.path(), b"bp-standin"), Layer::default().bytes("/etc/motd", "x", 0o644)];
    let names = standin_names();
    let images = standin_images_on(base.clone(), &names).unwrap();
    let mut seen: Vec<&String> = images.iter().flat_map(|i| &i.names).collect();
    seen.sort();
    let mut all: Vec<&String> = names.iter().collect();
    all.sort();
    assert_eq!(seen, all, "every name once");
    let configs: std::collections::BTreeSet<_> =
        names.iter().map(|n| format!("{:?}", standin_config(n).unwrap())).collect();
    assert_eq!(images.len(), configs.len());
    for image in &images {
        assert_eq!(image.layers[..2], base[..], "{:?}", image.names);
        assert_eq!(image.env[0], STANDIN_PATH);
        assert!(!image.env.iter().any(|e| e.starts_with("BP_STANDIN_FILES")), "files are checked");
        let first = standin_config(&image.names[0]).unwrap();
        assert!(image.names.iter().all(|n| standin_config(n) == Some(first)), "{:?}", image.names);
    }
    let image = |name: &str| images.iter().find(|i| i.names.iter().any(|n| n == name)).unwrap();
    let reth = image("ghcr.io/paradigmxyz/reth:v1.9.3");
    assert!(reth.names.contains(&"ghcr.io/paradigmxyz/reth:v1.3.1".to_string()), "tags share their image");
    let proxy = image("docker.io/flashbots/builder-hub-mock-proxy:0.3.1-alpha1");
    assert_eq!(proxy.layers.len(), 3, "the mock proxy's nginx site on top");
    assert!(proxy.layers[2].entries.contains(&Entry::Bytes {
        path: "/etc/nginx/conf.d/default.conf".into(),
        data: NGINX_MOCK_PROXY_CONF.into(),
        mode: 0o644
    }));
    assert!(
        NGINX_MOCK_PROXY_CONF.contains("listen 8888;")
            && NGINX_MOCK_PROXY_CONF.contains("proxy_pass http://builder-hub-api:8080;")
    );

    // The configs as containerd reads them from the archives.
    let cache = tempfile::tempdir().unwrap();
    let config_of = |spec: &ImageSpec| -> (Value, Vec<String>) {
        let archive = build_archive(spec, cache.path()).unwrap();
        let entries = read_tar(&archive);
        let blob = |digest: &str| {
            let path = format!("blobs/sha256/{}", digest.strip_prefix("sha256:").unwrap());
            entries.iter().find(|e| e.path == path).unwrap().data.clone()
        };
        let index: Value = serde_json::from_slice(&entries[1].data).unwrap();
        let manifest: Value = serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
        let config: Value = serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
        let layers = manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string());
        (config["config"].clone(), layers.collect())
    };
    let (db, db_layers) = config_of(image("docker.io/flashbots/builder-hub-db:0.3.1-alpha1"));
    assert_eq!(db["Entrypoint"], json!(["docker-entrypoint.sh"]));
    assert_eq!(db["Cmd"], json!(["postgres"]));
    assert_eq!(
        db["Env"],
        json!([
            STANDIN_PATH,
            "PGDATA=/var/lib/postgresql/data",
            "POSTGRES_DB=postgres",
            "POSTGRES_HOST_AUTH_METHOD=trust"
        ])
    );
    let (caddy, caddy_layers) = config_of(image("docker.io/library/caddy:2-alpine"));
    assert!(caddy.get("Entrypoint").is_none(), "{caddy}");
    assert_eq!(caddy["Cmd"][0], "caddy");
    assert_eq!(caddy["WorkingDir"], "/srv");
    assert_eq!(db_layers, caddy_layers, "the same layer digests");
    let (proxy_config, proxy_layers) = config_of(proxy);
    assert_eq!(proxy_config["Entrypoint"], json!(["/docker-entrypoint.sh"]));
    assert_eq!(proxy_layers[..2], db_layers[..]);
    let err = standin_images_on(base, &["docker.io/library/nginx:1.27".to_string()]).unwrap_err();
    assert!(err.to_string().contains("no stand-in config for image docker.io/library/nginx:1.27"), "{err}");
}
