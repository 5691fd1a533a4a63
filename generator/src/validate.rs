//! Structural checks of a spec, before anything is resolved or built. Pure; every problem is
//! reported with its service and field.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{ARTIFACTS_VOLUME, BuilderPlaygroundSpec, DependencyCondition, Protocol, ServiceSpec, StorageType};
use crate::duration;
use crate::error::SpecError;
use crate::names;

/// Every structural problem of `spec`, in spec order. Empty means the spec can be rendered
/// (template and dependency-graph problems are found while rendering).
pub fn validate(spec: &BuilderPlaygroundSpec) -> Vec<SpecError> {
    let mut errors = Vec::new();
    if spec.services.is_empty() && spec.generation().is_none() {
        errors.push(SpecError::field(
            "spec.services",
            "at least one service is required (or a recipe, or `generate`, to produce them)",
        ));
    }
    if spec.services.len() > MAX_SERVICES {
        errors.push(SpecError::field(
            "spec.services",
            format!("{} services; at most {MAX_SERVICES} fit in one playground", spec.services.len()),
        ));
    }
    validate_storage(spec, &mut errors);
    validate_artifacts(spec, &mut errors);
    validate_lifetime(spec, &mut errors);
    let mut containers: BTreeMap<String, &str> = BTreeMap::new();
    let services: BTreeMap<&str, &ServiceSpec> = spec.services.iter().map(|s| (s.name.as_str(), s)).collect();
    for (i, svc) in spec.services.iter().enumerate() {
        if svc.name.is_empty() {
            errors.push(SpecError::field(format!("spec.services[{i}].name"), "a service needs a name"));
            continue;
        }
        if spec.services[..i].iter().any(|s| s.name == svc.name) {
            errors.push(SpecError::service(&svc.name, "name", "duplicate service name"));
            continue;
        }
        if !svc.use_host_execution {
            let container = names::container_name(&svc.name);
            if !names::is_dns1123_label(&container) {
                errors.push(SpecError::service(
                    &svc.name,
                    "name",
                    format!(
                        "cannot become a container name: {container:?} is not a DNS-1123 label \
                         (lowercase letters, digits and '-', at most 63)"
                    ),
                ));
            } else if let Some(other) = containers.insert(container.clone(), &svc.name) {
                errors.push(SpecError::service(
                    &svc.name,
                    "name",
                    format!("container name {container:?} collides with service {other:?}"),
                ));
            }
        }
        validate_service(svc, &services, &mut errors);
    }
    if let Some(boot) = &spec.bootnode {
        if !services.contains_key(boot.service.as_str()) {
            errors.push(SpecError::field("spec.bootnode.service", format!("no service named {:?}", boot.service)));
        }
        if boot.id.is_empty() {
            errors.push(SpecError::field("spec.bootnode.id", "the bootnode's node id is empty"));
        }
    }
    errors
}

/// Whether a `local-path` playground's host directory lies under one of `roots` (the host
/// directories the cluster operator allows; the operator's `--allowed-host-paths`). Other
/// storage types use no host path. Paths compare component by component after dropping `.`,
/// empty components and trailing slashes; a `..` component is refused outright, since a
/// hostPath is resolved on the node, where it could climb out of a root.
pub fn host_path_allowed(spec: &BuilderPlaygroundSpec, roots: &[String]) -> Result<(), SpecError> {
    let storage = spec.storage.as_ref();
    if storage.and_then(|s| s.storage_type).unwrap_or_default() != StorageType::LocalPath {
        return Ok(());
    }
    let (field, path) = match storage.and_then(|s| s.path.as_deref()) {
        Some(path) => ("spec.storage.path", path),
        None => ("spec.storage.type", crate::podspec::DEFAULT_STORAGE_PATH),
    };
    let components = |p: &str| -> Option<Vec<String>> {
        let parts: Vec<String> = p.split('/').filter(|c| !c.is_empty() && *c != ".").map(str::to_owned).collect();
        (p.starts_with('/') && !parts.iter().any(|c| c == "..")).then_some(parts)
    };
    let allowed = components(path)
        .is_some_and(|wanted| roots.iter().filter_map(|r| components(r)).any(|root| wanted.starts_with(&root)));
    if allowed {
        return Ok(());
    }
    let shown = if roots.is_empty() { "none".to_owned() } else { roots.join(", ") };
    let what = if field == "spec.storage.path" {
        format!("{path:?} is outside")
    } else {
        format!("local-path storage uses {path} by default, which is outside")
    };
    Err(SpecError::field(
        field,
        format!(
            "{what} the host directories this cluster allows for playgrounds ({shown}): choose a path under one of them, or storage type pvc or ephemeral"
        ),
    ))
}

fn validate_storage(spec: &BuilderPlaygroundSpec, errors: &mut Vec<SpecError>) {
    let storage_type = spec.storage.as_ref().and_then(|s| s.storage_type).unwrap_or_default();
    if let Some(generate) = &spec.generation() {
        if generate.image.as_deref().is_some_and(|i| i.trim().is_empty()) {
            errors.push(SpecError::field(
                "spec.generate.image",
                "is empty: name an image with the builder-playground binary, or leave it out for the operator's",
            ));
        }
        if generate.args.is_empty() && spec.recipe.as_deref().is_none_or(|r| r.trim().is_empty()) {
            errors.push(SpecError::field(
                "spec.generate.args",
                "names no builder-playground command: set spec.recipe (for `start <recipe>`) or spec.generate.args",
            ));
        }
        if storage_type == StorageType::Ephemeral {
            errors.push(SpecError::field(
                "spec.storage.type",
                "ephemeral storage cannot hold artifacts made by `generate`: the Job and the Pod do not share an emptyDir",
            ));
        }
    }
    let Some(storage) = &spec.storage else { return };
    if let Some(path) = &storage.path
        && !path.starts_with('/')
    {
        errors.push(SpecError::field("spec.storage.path", format!("{path:?} is not an absolute path")));
    }
    if let Some(size) = &storage.size
        && !is_quantity(size)
    {
        errors.push(SpecError::field("spec.storage.size", format!("{size:?} is not a quantity such as 10Gi")));
    }
}

fn validate_artifacts(spec: &BuilderPlaygroundSpec, errors: &mut Vec<SpecError>) {
    let Some(artifacts) = &spec.artifacts else { return };
    if spec.generation().is_some() {
        errors.push(SpecError::field(
            "spec.artifacts",
            "a playground has its artifacts either from a bundle or from `generate`, not both",
        ));
    }
    if artifacts.secrets.is_empty() {
        errors.push(SpecError::field("spec.artifacts.secrets", "names no Secret"));
    }
    for (i, secret) in artifacts.secrets.iter().enumerate() {
        if !names::is_dns1123_subdomain(secret) {
            errors.push(SpecError::field(
                format!("spec.artifacts.secrets[{i}]"),
                format!("{secret:?} is not a Secret name"),
            ));
        }
    }
    let hex = artifacts.digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        errors.push(SpecError::field(
            "spec.artifacts.digest",
            format!("{:?} is not sha256:<64 lowercase hex digits>", artifacts.digest),
        ));
    }
}

/// The longest `spec.lifetime`, in hours: ten years, far beyond any devnet, and a deletion time
/// every timestamp can hold.
pub const MAX_LIFETIME_HOURS: u64 = 87_600;

fn validate_lifetime(spec: &BuilderPlaygroundSpec, errors: &mut Vec<SpecError>) {
    let Some(lifetime) = &spec.lifetime else { return };
    match duration::parse(lifetime) {
        Err(e) => errors.push(SpecError::field("spec.lifetime", e)),
        Ok(0) => errors.push(SpecError::field(
            "spec.lifetime",
            format!("duration {lifetime:?} would delete the playground at once; leave lifetime out to keep it"),
        )),
        Ok(nanos) if nanos > MAX_LIFETIME_HOURS * 3_600_000_000_000 => errors.push(SpecError::field(
            "spec.lifetime",
            format!("duration {lifetime:?} is longer than {MAX_LIFETIME_HOURS}h (ten years)"),
        )),
        Ok(_) => {}
    }
}

/// A Kubernetes quantity: a decimal number with an optional binary or decimal suffix.
fn is_quantity(s: &str) -> bool {
    let number_len = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_len);
    let number_ok = !number.is_empty() && number != "." && number.matches('.').count() <= 1;
    let suffix_ok = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"]
        .contains(&suffix)
        || suffix.strip_prefix(['e', 'E']).is_some_and(|exp| {
            exp.trim_start_matches(['+', '-']).bytes().all(|b| b.is_ascii_digit()) && !exp.is_empty()
        });
    number_ok && suffix_ok
}

/// Bounds the CRD declares too (they keep its CEL rules' cost within the API server's budget).
pub const MAX_SERVICES: usize = 32;
const MAX_PORTS: usize = 32;
const MAX_DEPENDENCIES: usize = 16;
const MAX_VOLUMES: usize = 16;
const MAX_FILES: usize = 64;
const MAX_NAME: usize = 63;

fn validate_service(svc: &ServiceSpec, services: &BTreeMap<&str, &ServiceSpec>, errors: &mut Vec<SpecError>) {
    let err = |field: String, message: String| SpecError::service(&svc.name, field, message);
    if svc.name.len() > MAX_NAME {
        errors.push(err("name".into(), format!("{} bytes; at most {MAX_NAME}", svc.name.len())));
    }
    for (field, count, max) in [
        ("ports", svc.ports.len(), MAX_PORTS),
        ("dependencies", svc.dependencies.len(), MAX_DEPENDENCIES),
        ("volumes", svc.volumes.len(), MAX_VOLUMES),
        ("files", svc.files.len(), MAX_FILES),
    ] {
        if count > max {
            errors.push(err(field.into(), format!("{count} entries; at most {max}")));
        }
    }
    if svc.image.trim().is_empty() {
        errors.push(err("image".into(), "the image is empty".into()));
    }
    if svc.tag.as_deref().is_some_and(|t| t.contains(['/', ' ', ':'])) {
        errors.push(err("tag".into(), format!("{:?} is not an image tag", svc.tag.as_deref().unwrap_or(""))));
    }
    let mut seen: BTreeMap<(&str, Protocol), usize> = BTreeMap::new();
    let mut numbers: BTreeMap<&str, i32> = BTreeMap::new();
    for (i, port) in svc.ports.iter().enumerate() {
        if port.name.is_empty() {
            errors.push(err(format!("ports[{i}].name"), "a port needs a name".into()));
            continue;
        }
        if !(1..=65535).contains(&port.port) {
            errors.push(err(format!("ports[{i}].port"), format!("{} is out of range 1-65535", port.port)));
        }
        let udp = port.protocol == Protocol::Udp;
        let port_name = names::port_name(&port.name, udp);
        if !names::is_iana_svc_name(&port_name) {
            errors.push(err(
                format!("ports[{i}].name"),
                format!("{port_name:?} cannot be a container port name (at most 15 lowercase letters, digits or '-', one letter at least)"),
            ));
        }
        if let Some(first) = seen.insert((&port.name, port.protocol), i) {
            errors.push(err(
                format!("ports[{i}].name"),
                format!("duplicate port name {:?} (also ports[{first}])", port.name),
            ));
        }
        if let Some(number) = numbers.insert(&port.name, port.port)
            && number != port.port
        {
            errors.push(err(
                format!("ports[{i}].port"),
                format!(
                    "port {:?} is declared as {number} and {}; tcp and udp of one name share a number",
                    port.name, port.port
                ),
            ));
        }
    }
    for (i, dep) in svc.dependencies.iter().enumerate() {
        if dep.name == svc.name {
            errors.push(err(format!("dependencies[{i}].name"), "a service cannot depend on itself".into()));
        } else if !services.contains_key(dep.name.as_str()) {
            errors.push(err(format!("dependencies[{i}].name"), format!("unknown service {:?}", dep.name)));
        }
        if dep.condition == DependencyCondition::Healthy
            && let Some(target) = services.get(dep.name.as_str())
            && target.ready_check.is_none()
        {
            errors.push(err(
                format!("dependencies[{i}].condition"),
                format!("depends on {:?} being healthy, but {:?} has no readyCheck", dep.name, dep.name),
            ));
        }
    }
    if let Some(check) = &svc.ready_check {
        for (field, value) in
            [("interval", &check.interval), ("timeout", &check.timeout), ("startPeriod", &check.start_period)]
        {
            if let Some(v) = value
                && let Err(e) = duration::parse(v)
            {
                errors.push(err(format!("readyCheck.{field}"), e));
            }
        }
        if check.retries.is_some_and(|r| r < 0) {
            errors.push(err("readyCheck.retries".into(), "must not be negative".into()));
        }
        match check.test.first().map(String::as_str) {
            Some("CMD") | Some("CMD-SHELL") if check.test.len() < 2 => {
                errors.push(err("readyCheck.test".into(), format!("{} needs a command", check.test[0])));
            }
            _ => {}
        }
        if let Some(url) = &check.query_url
            && crate::podspec::parse_url(url).is_none()
        {
            errors.push(err("readyCheck.queryURL".into(), format!("{url:?} is not an http(s) URL with host and port")));
        }
    }
    for (key, _) in svc.env.iter() {
        if key.is_empty() || key.contains('=') {
            errors.push(err(format!("env[{key:?}]"), "not a valid environment variable name".into()));
        }
    }
    let mut paths = BTreeSet::new();
    for (i, volume) in svc.volumes.iter().enumerate() {
        if volume.name != ARTIFACTS_VOLUME && !names::is_dns1123_label(&format!("vol-{}", volume.name)) {
            errors.push(err(
                format!("volumes[{i}].name"),
                format!("{:?} cannot be a volume name (DNS-1123 label)", volume.name),
            ));
        }
        check_mount_path(&volume.mount_path, format!("volumes[{i}].mountPath"), &mut paths, &err, errors);
        if let Some(sub) = &volume.sub_path {
            check_relative(sub, format!("volumes[{i}].subPath"), &err, errors);
        }
    }
    for (i, file) in svc.files.iter().enumerate() {
        check_relative(&file.artifact, format!("files[{i}].artifact"), &err, errors);
        check_mount_path(&file.mount_path, format!("files[{i}].mountPath"), &mut paths, &err, errors);
    }
}

fn check_mount_path<'a>(
    path: &'a str,
    field: String,
    seen: &mut BTreeSet<&'a str>,
    err: &impl Fn(String, String) -> SpecError,
    errors: &mut Vec<SpecError>,
) {
    if !path.starts_with('/') {
        errors.push(err(field, format!("{path:?} is not an absolute path")));
    } else if !seen.insert(path.trim_end_matches('/')) {
        errors.push(err(field, format!("{path:?} is mounted twice")));
    }
}

fn check_relative(path: &str, field: String, err: &impl Fn(String, String) -> SpecError, errors: &mut Vec<SpecError>) {
    if path.is_empty() || path.starts_with('/') || path.split('/').any(|p| p == "..") {
        errors.push(err(field, format!("{path:?} must be a relative path inside the artifacts directory")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        DependencySpec, FileMountSpec, GenerateSpec, PortSpec, ReadyCheckSpec, StorageSpec, VolumeMountSpec,
    };

    fn svc(name: &str) -> ServiceSpec {
        ServiceSpec { name: name.into(), image: "img".into(), ..Default::default() }
    }

    fn spec(services: Vec<ServiceSpec>) -> BuilderPlaygroundSpec {
        BuilderPlaygroundSpec { services, ..Default::default() }
    }

    fn messages(spec: &BuilderPlaygroundSpec) -> Vec<String> {
        validate(spec).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn valid_spec_has_no_errors() {
        assert!(validate(&spec(vec![svc("el"), svc("el_healthmon")])).is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(
            messages(&spec(vec![])),
            ["spec.services: at least one service is required (or a recipe, or `generate`, to produce them)"]
        );
        let m = messages(&spec(vec![svc("el"), svc("el")]));
        assert_eq!(m, [r#"service "el": name: duplicate service name"#]);
        let m = messages(&spec(vec![svc("el-hm"), svc("el_hm")]));
        assert_eq!(m, [r#"service "el_hm": name: container name "el-hm" collides with service "el-hm""#]);
        let m = messages(&spec(vec![svc("EL")]));
        assert!(m[0].starts_with(r#"service "EL": name: cannot become a container name"#), "{m:?}");
    }

    #[test]
    fn a_lifetime_is_a_positive_go_duration_of_ten_years_at_most() {
        let with = |lifetime: &str| {
            let mut s = spec(vec![svc("el")]);
            s.lifetime = Some(lifetime.into());
            messages(&s)
        };
        for fine in ["20s", "2h", "1h30m", "0.5s", "87600h"] {
            assert_eq!(with(fine), Vec::<String>::new(), "{fine}");
        }
        assert_eq!(with("banana"), [r#"spec.lifetime: duration "banana" is malformed"#]);
        assert_eq!(with("20"), [r#"spec.lifetime: duration "20" is missing a unit (ns, us, ms, s, m, h)"#]);
        assert_eq!(with("-1h"), [r#"spec.lifetime: duration "-1h" is negative"#]);
        let zero = r#"spec.lifetime: duration "0s" would delete the playground at once; leave lifetime out to keep it"#;
        assert_eq!(with("0s"), [zero]);
        assert_eq!(with("87600h1ns"), [r#"spec.lifetime: duration "87600h1ns" is longer than 87600h (ten years)"#]);
        assert_eq!(with("99999999999999h").len(), 1, "too large to parse is one error");
    }

    #[test]
    fn images_ports_dependencies() {
        let mut s = svc("el");
        s.image = " ".into();
        s.ports = vec![
            PortSpec { name: "http".into(), port: 70000, ..Default::default() },
            PortSpec { name: "http".into(), port: 8545, ..Default::default() },
            PortSpec { name: "averyveryverylongname".into(), port: 1, ..Default::default() },
        ];
        s.dependencies = vec![
            DependencySpec { name: "nope".into(), condition: DependencyCondition::Running },
            DependencySpec { name: "el".into(), condition: DependencyCondition::Running },
        ];
        let m = messages(&spec(vec![s]));
        assert_eq!(
            m,
            [
                r#"service "el": image: the image is empty"#,
                r#"service "el": ports[0].port: 70000 is out of range 1-65535"#,
                r#"service "el": ports[1].name: duplicate port name "http" (also ports[0])"#,
                r#"service "el": ports[1].port: port "http" is declared as 70000 and 8545; tcp and udp of one name share a number"#,
                r#"service "el": ports[2].name: "averyveryverylongname" cannot be a container port name (at most 15 lowercase letters, digits or '-', one letter at least)"#,
                r#"service "el": dependencies[0].name: unknown service "nope""#,
                r#"service "el": dependencies[1].name: a service cannot depend on itself"#,
            ]
        );
    }

    #[test]
    fn storage_and_generate() {
        let mut s = spec(vec![svc("a")]);
        s.generate = Some(GenerateSpec { image: Some("bp".into()), args: vec!["start".into(), "l1".into()] });
        s.storage = Some(StorageSpec {
            storage_type: Some(StorageType::Ephemeral),
            path: Some("rel".into()),
            size: Some("ten".into()),
            ..Default::default()
        });
        let m = messages(&s);
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(m[0].starts_with("spec.storage.type: ephemeral storage cannot hold artifacts"));
        assert!(m[1].starts_with("spec.storage.path"));
        assert!(m[2].starts_with("spec.storage.size"));
        assert!(is_quantity("10Gi") && is_quantity("1.5G") && is_quantity("100") && is_quantity("1e3"));
        assert!(!is_quantity("Gi") && !is_quantity("10 Gi") && !is_quantity("10gb"));
    }

    #[test]
    fn a_recipe_alone_is_generated_and_generate_needs_a_command() {
        let mut s = spec(vec![]);
        s.recipe = Some("l1".into());
        assert!(messages(&s).is_empty(), "{:?}", messages(&s));
        let generate = s.generation().unwrap();
        assert_eq!((generate.image.as_deref(), s.generate_args(&generate)), (None, vec!["start".into(), "l1".into()]));
        // Services listed: the recipe is a name only.
        let listed = BuilderPlaygroundSpec { services: vec![svc("a")], ..s.clone() };
        assert!(listed.generation().is_none());
        s.recipe = Some("  ".into());
        assert_eq!(
            messages(&s),
            ["spec.services: at least one service is required (or a recipe, or `generate`, to produce them)"]
        );
        s.generate = Some(GenerateSpec { image: Some(" ".into()), args: vec![] });
        let m = messages(&s);
        assert!(m[0].starts_with("spec.generate.image: is empty"), "{m:?}");
        assert!(m[1].starts_with("spec.generate.args: names no builder-playground command"), "{m:?}");
        s.generate = Some(GenerateSpec { image: None, args: vec!["cook".into(), "opstack".into()] });
        assert!(messages(&s).is_empty());
        assert_eq!(s.generate_args(s.generate.as_ref().unwrap()), ["cook", "opstack"]);
        s.artifacts = Some(crate::api::ArtifactsSpec {
            secrets: vec!["x-artifacts-0".into()],
            digest: format!("sha256:{}", "ab".repeat(32)),
        });
        assert_eq!(
            messages(&s),
            ["spec.artifacts: a playground has its artifacts either from a bundle or from `generate`, not both"]
        );
    }

    #[test]
    fn an_artifacts_bundle_needs_secret_names_and_a_sha256_digest() {
        let mut s = spec(vec![svc("a")]);
        s.artifacts = Some(crate::api::ArtifactsSpec { secrets: vec![], digest: "md5:00".into() });
        assert_eq!(
            messages(&s),
            [
                "spec.artifacts.secrets: names no Secret",
                "spec.artifacts.digest: \"md5:00\" is not sha256:<64 lowercase hex digits>"
            ]
        );
        s.artifacts = Some(crate::api::ArtifactsSpec {
            secrets: vec!["Bad_Name".into()],
            digest: format!("sha256:{}", "AB".repeat(32)),
        });
        let m = messages(&s);
        assert_eq!(m[0], "spec.artifacts.secrets[0]: \"Bad_Name\" is not a Secret name");
        assert!(m[1].starts_with("spec.artifacts.digest"), "uppercase hex is refused: {m:?}");
        s.artifacts = Some(crate::api::ArtifactsSpec {
            secrets: vec!["l1-artifacts-0".into()],
            digest: format!("sha256:{}", "0f".repeat(32)),
        });
        assert!(messages(&s).is_empty());
    }

    #[test]
    fn checks_and_mounts() {
        let mut s = svc("a");
        s.ready_check = Some(ReadyCheckSpec {
            interval: Some("1x".into()),
            test: vec!["CMD".into()],
            query_url: Some("localhost".into()),
            ..Default::default()
        });
        s.files = vec![
            FileMountSpec { artifact: "../etc/passwd".into(), mount_path: "/data/x".into() },
            FileMountSpec { artifact: "genesis.json".into(), mount_path: "/data/x".into() },
            FileMountSpec { artifact: "genesis.json".into(), mount_path: "data/y".into() },
        ];
        let m = messages(&spec(vec![s]));
        assert_eq!(m.len(), 6, "{m:?}");
        assert!(m[0].contains("readyCheck.interval"));
        assert!(m[1].contains("readyCheck.test: CMD needs a command"));
        assert!(m[2].contains("readyCheck.queryURL"));
        assert!(m[3].contains("files[0].artifact"));
        assert!(m[4].contains("files[1].mountPath: \"/data/x\" is mounted twice"));
        assert!(m[5].contains("files[2].mountPath: \"data/y\" is not an absolute path"));
    }

    #[test]
    fn host_paths_stay_under_the_allowed_roots() {
        let roots = vec!["/data/builder-playground".to_owned(), "/mnt/devnets/".to_owned()];
        let spec = |storage_type: Option<StorageType>, path: Option<&str>| BuilderPlaygroundSpec {
            storage: Some(StorageSpec { storage_type, path: path.map(str::to_owned), ..Default::default() }),
            ..Default::default()
        };
        let local = |path: &str| spec(None, Some(path));
        for ok in [
            "/data/builder-playground",
            "/data/builder-playground/",
            "/data/builder-playground/team-a",
            "//data/./builder-playground//x",
            "/mnt/devnets",
            "/mnt/devnets/ci",
        ] {
            assert_eq!(host_path_allowed(&local(ok), &roots), Ok(()), "{ok}");
        }
        assert_eq!(host_path_allowed(&BuilderPlaygroundSpec::default(), &roots), Ok(()), "the default path");
        let refused = |path: &str| host_path_allowed(&local(path), &roots).unwrap_err();
        for bad in [
            "/",
            "/etc",
            "/data",
            "/data/builder-playground-other",
            "/data/builder-playground/../../etc",
            "/data/builder-playground/..",
            "/mnt",
            "data/builder-playground",
        ] {
            let e = refused(bad);
            assert_eq!(e.field, "spec.storage.path", "{bad}");
            assert_eq!(
                e.message,
                format!(
                    "{bad:?} is outside the host directories this cluster allows for playgrounds (/data/builder-playground, /mnt/devnets/): choose a path under one of them, or storage type pvc or ephemeral"
                )
            );
        }
        // Only local-path storage uses the node's disk.
        for other in [StorageType::Pvc, StorageType::Ephemeral] {
            assert_eq!(host_path_allowed(&spec(Some(other), Some("/")), &roots), Ok(()));
        }
        assert_eq!(host_path_allowed(&spec(Some(StorageType::LocalPath), Some("/mnt/devnets/x")), &roots), Ok(()));
        // The default path itself may be outside what the cluster allows.
        let e = host_path_allowed(&BuilderPlaygroundSpec::default(), &["/srv".to_owned()]).unwrap_err();
        assert_eq!(e.field, "spec.storage.type");
        assert!(e.message.starts_with("local-path storage uses /data/builder-playground by default, which is outside the host directories this cluster allows for playgrounds (/srv)"), "{e}");
        let e = host_path_allowed(&BuilderPlaygroundSpec::default(), &[]).unwrap_err();
        assert!(e.message.contains("playgrounds (none)"), "{e}");
        // A root that is not absolute allows nothing.
        assert!(host_path_allowed(&local("/x/y"), &["x".to_owned()]).is_err());
    }

    #[test]
    fn the_bounds_the_crd_declares_are_the_generators_too() {
        let services = |n: usize| spec((0..n).map(|i| svc(&format!("s{i}"))).collect());
        assert!(validate(&services(MAX_SERVICES)).is_empty(), "{MAX_SERVICES} services fit");
        assert_eq!(
            messages(&services(MAX_SERVICES + 1)),
            ["spec.services: 33 services; at most 32 fit in one playground"]
        );
        let named = |len: usize| spec(vec![ServiceSpec { use_host_execution: true, ..svc(&"a".repeat(len)) }]);
        assert!(validate(&named(MAX_NAME)).is_empty(), "63 bytes fit");
        assert_eq!(
            messages(&named(MAX_NAME + 1)),
            [format!("service \"{}\": name: 64 bytes; at most 63", "a".repeat(64))]
        );
        let ports = |n: usize| {
            let ports = (0..n).map(|i| PortSpec { name: format!("p{i}"), port: 1000 + i as i32, ..Default::default() });
            spec(vec![ServiceSpec { ports: ports.collect(), ..svc("el") }])
        };
        assert!(validate(&ports(MAX_PORTS)).is_empty(), "32 ports fit");
        assert_eq!(messages(&ports(MAX_PORTS + 1)), ["service \"el\": ports: 33 entries; at most 32"]);
    }

    #[test]
    fn a_quantity_has_one_decimal_point_at_most() {
        for ok in ["10Gi", "1.5Gi", "500M", "1e3", "0.5"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["1.2.3Gi", ".", "Gi", "", "ten gigs", "10GB"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn env_names_volume_names_and_relative_paths_each_alone() {
        let with = |f: &dyn Fn(&mut ServiceSpec)| {
            let mut s = svc("el");
            f(&mut s);
            messages(&spec(vec![s]))
        };
        for key in ["", "A=B"] {
            let m = with(&|s: &mut ServiceSpec| {
                s.env.insert(key.into(), "x".into());
            });
            assert_eq!(m, [format!("service \"el\": env[{key:?}]: not a valid environment variable name")]);
        }
        let volume = |name: &str| VolumeMountSpec { name: name.into(), mount_path: "/v".into(), sub_path: None };
        assert!(with(&|s: &mut ServiceSpec| s.volumes = vec![volume("artifacts")]).is_empty());
        assert!(with(&|s: &mut ServiceSpec| s.volumes = vec![volume("data")]).is_empty());
        assert_eq!(
            with(&|s: &mut ServiceSpec| s.volumes = vec![volume("Vol_1")]),
            ["service \"el\": volumes[0].name: \"Vol_1\" cannot be a volume name (DNS-1123 label)"]
        );
        for artifact in ["", "/etc/passwd", "a/../../b"] {
            let m = with(&|s: &mut ServiceSpec| {
                s.files = vec![FileMountSpec { artifact: artifact.into(), mount_path: "/f".into() }]
            });
            assert_eq!(
                m,
                [format!(
                    "service \"el\": files[0].artifact: {artifact:?} must be a relative path inside the artifacts directory"
                )]
            );
        }
    }
}
