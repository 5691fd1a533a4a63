//! `bp-generator`: render and convert builder-playground devnets offline, print the CRD.
//!
//! Bad input gets one line on stderr naming the file, the service and the field, exit code 2,
//! and nothing on stdout.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bp_generator::api::{ArtifactsSpec, StorageSpec, StorageType};
use bp_generator::bundle;
use bp_generator::job::JobArgs;
use bp_generator::manifest::{self, ConvertOptions};
use bp_generator::{BuilderPlayground, RenderOptions, crd_yaml, podspec};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "bp-generator", version, about = "Render builder-playground devnets for Kubernetes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the Pod the operator would apply for a BuilderPlayground.
    Render {
        /// The BuilderPlayground YAML or JSON file (`-` for stdin).
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
        output: Format,
        /// Render for an API server older than Kubernetes 1.29 (no native sidecars).
        #[arg(long)]
        no_native_sidecars: bool,
    },
    /// Convert builder-playground's output into a BuilderPlayground. Given its output folder
    /// (`--output` of `start --dry-run`, with manifest.json inside), it prints the artifacts as
    /// compressed Secrets first, then the BuilderPlayground that names them: one stream for
    /// `kubectl apply -f -`.
    Convert {
        /// The output folder, or a manifest.json (`-` for stdin).
        manifest: PathBuf,
        /// metadata.name (default: the recipe).
        #[arg(long)]
        name: Option<String>,
        /// metadata.namespace.
        #[arg(long)]
        namespace: Option<String>,
        /// spec.recipe (default: inferred from the services).
        #[arg(long)]
        recipe: Option<String>,
        /// spec.storage.type.
        #[arg(long, value_enum)]
        storage_type: Option<StorageArg>,
        /// spec.storage.path (local-path).
        #[arg(long)]
        storage_path: Option<String>,
        /// spec.storage.storageClass (pvc).
        #[arg(long)]
        storage_class: Option<String>,
        /// spec.storage.size (pvc).
        #[arg(long)]
        storage_size: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
        output: Format,
    },
    /// Print the BuilderPlayground CustomResourceDefinition.
    Crd,
    /// In-cluster mode of the generator Job: render a BuilderPlayground into its ConfigMap.
    Job {
        /// Namespace of the BuilderPlayground.
        #[arg(long)]
        namespace: String,
        /// Name of the BuilderPlayground.
        #[arg(long)]
        name: String,
        /// Input hash the operator created the Job for.
        #[arg(long)]
        hash: String,
        /// builder-playground's manifest.json (when spec.generate produced one).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// The API server predates native sidecars (Kubernetes 1.29).
        #[arg(long)]
        no_native_sidecars: bool,
        /// Where the parts of the playground's artifacts bundle are mounted.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// The image that unpacks the artifacts bundle in the Pod.
        #[arg(long, default_value = podspec::DEFAULT_IMAGE)]
        unpack_image: String,
    },
    /// In-Pod mode: check an artifacts bundle against its digest and unpack it onto the
    /// storage, into a subdirectory of its digest (once).
    Unpack {
        /// sha256:<hex> the playground names.
        #[arg(long)]
        digest: String,
        /// The bundle's Secrets, in order, comma-separated (for messages).
        #[arg(long, value_delimiter = ',')]
        secrets: Vec<String>,
        /// Where the parts are mounted (part-000, part-001, ...).
        #[arg(long)]
        parts: PathBuf,
        /// The storage's root.
        #[arg(long)]
        storage: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum StorageArg {
    LocalPath,
    Pvc,
    Ephemeral,
}

/// A failure: where (the input file) and what.
struct Failure {
    source: String,
    message: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut warnings = Vec::new();
    let result = match cli.command {
        Command::Job { namespace, name, hash, manifest, no_native_sidecars, bundle, unpack_image } => {
            return run_job(JobArgs {
                namespace,
                name,
                hash,
                manifest,
                native_sidecars: !no_native_sidecars,
                bundle,
                unpack_image,
            });
        }
        Command::Unpack { digest, secrets, parts, storage } => return run_unpack(&digest, &secrets, &parts, &storage),
        Command::Crd => Ok(crd_yaml()),
        Command::Render { file, output, no_native_sidecars } => {
            render(&file, output, no_native_sidecars, &mut warnings)
        }
        Command::Convert {
            manifest: path,
            name,
            namespace,
            recipe,
            storage_type,
            storage_path,
            storage_class,
            storage_size,
            output,
        } => {
            let storage =
                (storage_type.is_some() || storage_path.is_some() || storage_class.is_some() || storage_size.is_some())
                    .then(|| StorageSpec {
                        storage_type: storage_type.map(|t| match t {
                            StorageArg::LocalPath => StorageType::LocalPath,
                            StorageArg::Pvc => StorageType::Pvc,
                            StorageArg::Ephemeral => StorageType::Ephemeral,
                        }),
                        path: storage_path,
                        storage_class,
                        size: storage_size,
                    });
            convert(&path, ConvertOptions { name, namespace, recipe, storage }, output, &mut warnings)
        }
    };
    match result {
        Ok(output) => {
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(output.as_bytes()).and_then(|()| stdout.flush()).is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(f) => {
            let message = f.message.replace('\n', " ");
            eprintln!("bp-generator: {}: {message}", f.source);
            ExitCode::from(2)
        }
    }
}

/// The Job's last log line is its termination message: the summary, or the reason it failed.
fn run_job(args: JobArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(bp_generator::job::run(&args)) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("{}", reason.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

/// The unpack step's last line is its termination message: what it did, or what is wrong.
fn run_unpack(digest: &str, secrets: &[String], parts: &Path, storage: &Path) -> ExitCode {
    let result = bp_generator::bundle::check_parts(parts, secrets, digest)
        .and_then(|bytes| bp_generator::bundle::unpack(&bytes, digest, storage));
    match result {
        Ok(bp_generator::bundle::Unpacked::Written(dir, files)) => {
            println!("unpacked {files} artifact files of {digest} into {}", dir.display());
            ExitCode::SUCCESS
        }
        Ok(bp_generator::bundle::Unpacked::Already(dir)) => {
            println!("artifacts of {digest} already unpacked in {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bp-generator: unpack: {e}");
            ExitCode::from(2)
        }
    }
}

/// `render`: the Pod the operator would apply.
fn render(
    file: &Path,
    output: Format,
    no_native_sidecars: bool,
    warnings: &mut Vec<String>,
) -> Result<String, Failure> {
    let source = display(file);
    let fail = |message: String| Failure { source: source.clone(), message };
    let text = read(file).map_err(fail)?;
    let playground = parse_playground(&text).map_err(fail)?;
    let options = RenderOptions { native_sidecars: !no_native_sidecars, ..Default::default() };
    let rendered = bp_generator::render(&playground, &options).map_err(|e| fail(e.to_string()))?;
    warnings.extend(rendered.warnings.iter().cloned());
    let pod = podspec::pod(&playground, &rendered);
    serialize(&pod, output).map_err(fail)
}

/// `convert`: a BuilderPlayground from a manifest.json; from an output folder, the
/// artifacts' Secrets too (first, so that the playground finds them when it is applied).
fn convert(
    path: &Path,
    options: ConvertOptions,
    output: Format,
    warnings: &mut Vec<String>,
) -> Result<String, Failure> {
    let source = display(path);
    let fail = |message: String| Failure { source: source.clone(), message };
    let folder = path != Path::new("-") && path.is_dir();
    let manifest_path = if folder { path.join("manifest.json") } else { path.to_path_buf() };
    let text = read(&manifest_path).map_err(|e| {
        fail(if folder { format!("manifest.json: {e} (is this builder-playground's output folder?)") } else { e })
    })?;
    let parsed = manifest::parse(&text).map_err(|e| fail(format!("not a builder-playground manifest: {e}")))?;
    let mut converted = manifest::convert(&parsed, &options).map_err(|e| fail(e.to_string()))?;
    let mut secrets = Vec::new();
    if folder {
        let name = converted.playground.metadata.name.clone().unwrap_or_default();
        let bundle = bundle::pack(path).map_err(|e| fail(e.to_string()))?;
        secrets = bundle::secrets(&name, options.namespace.as_deref(), &bundle).map_err(|e| fail(e.to_string()))?;
        converted.playground.spec.artifacts = Some(ArtifactsSpec {
            secrets: secrets.iter().filter_map(|s| s.metadata.name.clone()).collect(),
            digest: bundle.digest.clone(),
        });
        if path.join(bundle::LEFT_OUT[2]).exists() {
            warnings.push(format!(
                "{}: the folder's jwtsecret is not packed: the operator gives each playground a JWT Secret of its own",
                display(&path.join(bundle::LEFT_OUT[2]))
            ));
        }
    }
    // A conversion that would not render is not handed to the user.
    let rendered =
        bp_generator::render(&converted.playground, &RenderOptions::default()).map_err(|e| fail(e.to_string()))?;
    warnings.extend(converted.warnings);
    warnings.extend(rendered.warnings);
    if !folder {
        return serialize(&converted.playground, output).map_err(fail);
    }
    let mut objects: Vec<serde_json::Value> = Vec::new();
    for s in &secrets {
        objects.push(serde_json::to_value(s).map_err(|e| fail(e.to_string()))?);
    }
    objects.push(serde_json::to_value(&converted.playground).map_err(|e| fail(e.to_string()))?);
    match output {
        Format::Yaml => {
            let docs: Result<Vec<String>, String> =
                objects.iter().map(|o| serde_yaml_ng::to_string(o).map_err(|e| e.to_string())).collect();
            Ok(docs.map_err(fail)?.iter().map(|d| format!("---\n{d}")).collect())
        }
        Format::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
            serialize(&list, Format::Json).map_err(fail)
        }
    }
}

fn display(path: &Path) -> String {
    if path == Path::new("-") { "<stdin>".into() } else { path.display().to_string() }
}

fn read(path: &Path) -> Result<String, String> {
    let mut text = String::new();
    let result = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text)).map(|_| ())
    };
    result.map(|()| text).map_err(|e| format!("cannot read: {e}"))
}

/// Reads a BuilderPlayground from YAML or JSON. A spec written for PR #120's
/// `BuilderPlaygroundDeployment` is accepted as is.
fn parse_playground(text: &str) -> Result<BuilderPlayground, String> {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let Some(map) = value.as_mapping() else {
        return Err("expected a BuilderPlayground object".into());
    };
    let kind = map.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_owned();
    match kind.as_str() {
        "BuilderPlayground" | "BuilderPlaygroundDeployment" => {}
        "" => return Err("kind is missing; expected BuilderPlayground".into()),
        other => return Err(format!("kind is {other:?}; expected BuilderPlayground")),
    }
    // Deserialized again from the text, so that errors carry the field path and the line.
    let playground: BuilderPlayground =
        serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text))
            .map_err(|e| format!("invalid BuilderPlayground: {}: {}", e.path(), e.inner()))?;
    if playground.metadata.name.as_deref().unwrap_or_default().is_empty() {
        return Err("metadata.name is missing".into());
    }
    Ok(playground)
}

fn serialize<T: serde::Serialize>(value: &T, format: Format) -> Result<String, String> {
    match format {
        Format::Yaml => serde_yaml_ng::to_string(value).map_err(|e| e.to_string()),
        Format::Json => serde_json::to_string_pretty(value).map(|s| s + "\n").map_err(|e| e.to_string()),
    }
}
