//! The files a client reads and writes, checked the way the client would need them: a genesis
//! that parses and names its chain, a consensus testnet directory, a JWT secret, validator
//! keystores with their passwords, writable data directories.

use std::path::Path;

use crate::cli::Failure;
use crate::json;
use crate::jwt::{self, Secret};

/// `BP_STANDIN_FILES=warn` reports file problems instead of failing on them (for trying a
/// playground that carries no artifacts); flags, listeners and peers are checked all the same.
/// Unset (the stand-in images set nothing) or anything else: file problems are failures.
pub const FILES_ENV: &str = "BP_STANDIN_FILES";

/// Runs a stand-in's file checks and remembers what it saw.
pub struct Files {
    client: String,
    warn_only: bool,
    /// One line per file that passed (`--chain /data/genesis.json: genesis of chain 1337`).
    pub seen: Vec<String>,
    /// One line per problem reported instead of failing (warn mode).
    pub warnings: Vec<String>,
}

/// Whether `BP_STANDIN_FILES` asks for warnings instead of failures.
pub fn warn_from_env() -> bool {
    std::env::var(FILES_ENV).is_ok_and(|v| v.trim() == "warn")
}

impl Files {
    pub fn new(client: &str, warn_only: bool) -> Files {
        Files { client: client.into(), warn_only, seen: Vec::new(), warnings: Vec::new() }
    }

    /// Checks the file a flag names. A problem fails with `failure(reason)` (or, in warn mode,
    /// is printed and gives `None`); a file that passes is remembered with `what` it is.
    pub fn check<T>(
        &mut self,
        flag: &str,
        path: &str,
        check: impl FnOnce(&Path) -> Result<(T, String), String>,
        failure: impl FnOnce(String) -> Failure,
    ) -> Result<Option<T>, Failure> {
        // A positional argument is named `<like-this>`, an environment variable `$LIKE_THIS`.
        let label = if flag.starts_with(['<', '$']) { flag.to_string() } else { format!("--{flag}") };
        match check(Path::new(path)) {
            Ok((value, what)) => {
                self.seen.push(format!("{label} {path}: {what}"));
                Ok(Some(value))
            }
            Err(reason) if self.warn_only => {
                let line = format!("{label} {path}: {reason}");
                println!("bp-standin: {}: WARNING ({FILES_ENV}=warn, not failing): {line}", self.client);
                self.warnings.push(line);
                Ok(None)
            }
            Err(reason) => Err(failure(reason)),
        }
    }

    /// [`Files::check`] failing with exit code 1 and `<client>: --flag path: reason`.
    pub fn require<T>(
        &mut self,
        flag: &str,
        path: &str,
        check: impl FnOnce(&Path) -> Result<(T, String), String>,
    ) -> Result<Option<T>, Failure> {
        let client = self.client.clone();
        let label = if flag.starts_with(['<', '$']) { flag.to_string() } else { format!("--{flag}") };
        self.check(flag, path, check, |reason| {
            Failure::new(1, format!("bp-standin: {client}: {label} {path}: {reason}"))
        })
    }
}

/// What a genesis file says about its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Genesis {
    pub chain_id: u64,
    pub timestamp: u64,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

/// An execution-layer genesis (geth format): JSON with `config.chainId`.
pub fn genesis(path: &Path) -> Result<(Genesis, String), String> {
    let text = read(path)?;
    let value = json::parse(&text).ok_or("not a JSON document")?;
    let chain_id = value.at(&["config", "chainId"]).ok_or("no config.chainId in the genesis")?;
    let chain_id = chain_id.as_u64().ok_or_else(|| format!("config.chainId {} is not a number", chain_id.raw))?;
    let timestamp = value.member("timestamp").and_then(json::Value::as_u64).unwrap_or(0);
    Ok((Genesis { chain_id, timestamp }, format!("genesis of chain {chain_id}")))
}

/// A JSON file whose object has every member of `keys` (`rollup.json`).
pub fn json_with(path: &Path, keys: &[&str]) -> Result<(json::Value, String), String> {
    let text = read(path)?;
    let value = json::parse(&text).ok_or("not a JSON document")?;
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    if let Some(missing) = keys.iter().find(|k| value.member(k).is_none()) {
        return Err(format!("no {missing:?} member"));
    }
    Ok((value, format!("JSON with {}", keys.join(", "))))
}

/// A consensus testnet directory (`--testnet-dir`): `config.yaml` with the chain's spec and a
/// non-empty `genesis.ssz`. Gives the spec's `KEY: value` pairs.
pub fn testnet_dir(path: &Path) -> Result<(Vec<(String, String)>, String), String> {
    if !path.is_dir() {
        return Err(if path.exists() { "not a directory".into() } else { "no such directory".into() });
    }
    let config = read(&path.join("config.yaml")).map_err(|e| format!("config.yaml: {e}"))?;
    let spec = yaml_pairs(&config);
    for key in ["PRESET_BASE", "GENESIS_FORK_VERSION", "SECONDS_PER_SLOT"] {
        if !spec.iter().any(|(k, _)| k == key) {
            return Err(format!("config.yaml has no {key}"));
        }
    }
    let ssz = std::fs::metadata(path.join("genesis.ssz")).map_err(|e| format!("genesis.ssz: {e}"))?;
    if !ssz.is_file() || ssz.len() == 0 {
        return Err("genesis.ssz is empty".into());
    }
    let name = spec.iter().find(|(k, _)| k == "CONFIG_NAME").map_or("?", |(_, v)| v.as_str());
    let what = format!("testnet {name:?}: config.yaml ({} keys), genesis.ssz ({} bytes)", spec.len(), ssz.len());
    Ok((spec, what))
}

/// The `KEY: value` lines of a flat YAML file (a consensus `config.yaml`), quotes removed.
pub fn yaml_pairs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.starts_with(' '))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| {
            let v = v.split(" #").next().unwrap_or(v).trim();
            (k.trim().to_string(), v.trim_matches(['\'', '"']).to_string())
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// A JWT secret file.
pub fn jwt_file(path: &Path) -> Result<(Secret, String), String> {
    let secret = jwt::parse_secret(&read(path)?)?;
    Ok((secret, "JWT secret (32 bytes)".into()))
}

/// A secp256k1 key file (64 hex characters), as reth's `--p2p-secret-key` and geth's
/// `--nodekey` read it.
pub fn hex_key(path: &Path) -> Result<((), String), String> {
    jwt::parse_secret(&read(path)?)?;
    Ok(((), "private key (32 bytes hex)".into()))
}

/// A directory the client writes to: created when `create` (as the clients do for their data
/// directory), then a file written and removed in it.
pub fn writable_dir(path: &Path, create: bool) -> Result<((), String), String> {
    if create {
        std::fs::create_dir_all(path).map_err(|e| format!("cannot create it: {e}"))?;
    } else if !path.is_dir() {
        return Err(if path.exists() { "not a directory".into() } else { "no such directory".into() });
    }
    let probe = path.join(format!(".bp-standin-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"x").map_err(|e| format!("not writable: {e}"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(((), "writable directory".into()))
}

/// A directory the client reads (a web server's root): its entries are listed.
pub fn readable_dir(path: &Path) -> Result<(usize, String), String> {
    if !path.is_dir() {
        return Err(if path.exists() { "not a directory".into() } else { "no such directory".into() });
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("not readable: {e}"))?.count();
    Ok((entries, format!("readable directory ({entries} entries)")))
}

/// The directory a file will be created in (a socket, a database) is writable.
pub fn writable_parent(path: &Path) -> Result<((), String), String> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    writable_dir(parent, true).map(|_| ((), format!("{} is writable", parent.display())))
}

/// Lighthouse's validator keys: `validators_dir` holds `0x…` directories with a
/// `voting-keystore.json` (EIP-2335), each with its password in `secrets_dir/0x…` unless
/// `validator_definitions.yml` carries them; the validators directory must be writable (the
/// slashing protection database lives there).
pub fn keystores(validators_dir: &Path, secrets_dir: &Path) -> Result<(usize, String), String> {
    let entries = std::fs::read_dir(validators_dir).map_err(|e| format!("{}: {e}", validators_dir.display()))?;
    let definitions = validators_dir.join("validator_definitions.yml").is_file();
    let mut count = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("0x") || !entry.path().is_dir() {
            continue;
        }
        let keystore = entry.path().join("voting-keystore.json");
        let text = read(&keystore).map_err(|e| format!("{}: {e}", keystore.display()))?;
        let value = json::parse(&text).ok_or_else(|| format!("{}: not a JSON document", keystore.display()))?;
        if value.member("crypto").is_none() || value.member("pubkey").is_none() {
            return Err(format!("{}: not an EIP-2335 keystore (no crypto/pubkey)", keystore.display()));
        }
        if !definitions && !secrets_dir.join(&name).is_file() {
            return Err(format!("no password for {name} in {}", secrets_dir.display()));
        }
        count += 1;
    }
    if count == 0 {
        return Err(format!("no validator keystores (0x…/voting-keystore.json) in {}", validators_dir.display()));
    }
    writable_dir(validators_dir, false).map_err(|e| format!("{}: {e}", validators_dir.display()))?;
    Ok((count, format!("{count} validator keystores with passwords, writable")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("bp-standin-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn genesis_needs_config_chain_id() {
        let d = tmp("genesis");
        let g = d.join("genesis.json");
        std::fs::write(&g, r#"{"config":{"chainId":1337},"timestamp":"0x6b0ce90e","alloc":{}}"#).unwrap();
        assert_eq!(genesis(&g).unwrap().0, Genesis { chain_id: 1337, timestamp: 0x6b0ce90e });
        std::fs::write(&g, r#"{"config":{}}"#).unwrap();
        assert_eq!(genesis(&g).unwrap_err(), "no config.chainId in the genesis");
        std::fs::write(&g, "{").unwrap();
        assert_eq!(genesis(&g).unwrap_err(), "not a JSON document");
        assert!(genesis(&d.join("missing.json")).unwrap_err().contains("No such file or directory"));
        // The kubelet makes an empty directory for a subPath its volume lacks.
        assert!(genesis(&d).unwrap_err().contains("Is a directory"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn testnet_dirs_need_config_and_genesis_state() {
        let d = tmp("testnet");
        assert_eq!(testnet_dir(&d.join("nope")).unwrap_err(), "no such directory");
        assert!(testnet_dir(&d).unwrap_err().starts_with("config.yaml: "));
        std::fs::write(d.join("config.yaml"), "PRESET_BASE: 'mainnet'\nCONFIG_NAME: 'devnet'\nSECONDS_PER_SLOT: 12\n")
            .unwrap();
        assert_eq!(testnet_dir(&d).unwrap_err(), "config.yaml has no GENESIS_FORK_VERSION");
        std::fs::write(d.join("config.yaml"), "PRESET_BASE: 'mainnet'\nCONFIG_NAME: 'devnet'\nGENESIS_FORK_VERSION: 0x20000089 # fork\nSECONDS_PER_SLOT: 12\n").unwrap();
        assert!(testnet_dir(&d).unwrap_err().starts_with("genesis.ssz: "));
        std::fs::write(d.join("genesis.ssz"), [1u8; 10]).unwrap();
        let (spec, what) = testnet_dir(&d).unwrap();
        assert!(spec.contains(&("GENESIS_FORK_VERSION".into(), "0x20000089".into())), "{spec:?}");
        assert!(spec.contains(&("PRESET_BASE".into(), "mainnet".into())));
        assert_eq!(what, "testnet \"devnet\": config.yaml (4 keys), genesis.ssz (10 bytes)");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn keystores_need_passwords_and_a_writable_directory() {
        let d = tmp("keys");
        let (validators, secrets) = (d.join("validators"), d.join("secrets"));
        std::fs::create_dir_all(validators.join("0xaa")).unwrap();
        std::fs::create_dir_all(validators.join("logs")).unwrap();
        std::fs::create_dir_all(&secrets).unwrap();
        assert!(keystores(&validators, &secrets).unwrap_err().contains("voting-keystore.json"));
        std::fs::write(validators.join("0xaa/voting-keystore.json"), r#"{"crypto":{},"pubkey":"aa","version":4}"#)
            .unwrap();
        assert_eq!(
            keystores(&validators, &secrets).unwrap_err(),
            format!("no password for 0xaa in {}", secrets.display())
        );
        std::fs::write(secrets.join("0xaa"), "pw").unwrap();
        assert_eq!(keystores(&validators, &secrets).unwrap().0, 1);
        assert!(keystores(&d.join("none"), &secrets).is_err());
        std::fs::remove_dir_all(validators.join("0xaa")).unwrap();
        assert!(keystores(&validators, &secrets).unwrap_err().starts_with("no validator keystores"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn jwt_keys_and_writable_directories() {
        let d = tmp("misc");
        std::fs::write(d.join("jwt"), "0x".to_string() + &"ab".repeat(32)).unwrap();
        assert_eq!(jwt_file(&d.join("jwt")).unwrap().0, [0xab; 32]);
        std::fs::write(d.join("jwt"), "abc").unwrap();
        assert!(jwt_file(&d.join("jwt")).unwrap_err().contains("64 hex"));
        assert!(hex_key(&d.join("jwt")).is_err());
        assert!(writable_dir(&d.join("data/sub"), true).is_ok());
        assert_eq!(writable_dir(&d.join("absent"), false).unwrap_err(), "no such directory");
        assert_eq!(writable_dir(&d.join("jwt"), false).unwrap_err(), "not a directory");
        assert!(writable_parent(&d.join("data/reth.ipc")).is_ok());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn warn_mode_reports_instead_of_failing() {
        let mut strict = Files::new("reth node", false);
        let err = strict.require("chain", "/nonexistent/genesis.json", genesis).unwrap_err();
        assert_eq!(err.code, 1);
        assert!(
            err.message.starts_with("bp-standin: reth node: --chain /nonexistent/genesis.json: No such file"),
            "{}",
            err.message
        );
        let mut lenient = Files::new("reth node", true);
        assert_eq!(lenient.require("chain", "/nonexistent/genesis.json", genesis).unwrap(), None);
        assert_eq!(lenient.warnings.len(), 1);
    }
}
