//! The programs the stand-in image answers for. Shared by `images` (which links each name to
//! `bp-standin` in the image) and the `bp-standin` binary (which recognises `bp-standin <name>`),
//! so this file must stay plain data without dependencies.

/// Program names the devnets run, as they are invoked: builder-playground's entrypoints
/// (c473a6a `components.go`, SPEC §3), programs called inside `/bin/sh -c` scripts (op-geth's
/// `geth init … && exec geth …`), and the default programs of images that have no entrypoint
/// in the manifest (caddy's args start with `caddy`), the images' entrypoints (`docker-entrypoint.sh`)
/// and the tools their probes run (`pg_isready`). Each becomes `/usr/local/bin/<name>`.
pub const CLIENTS: &[&str] = &[
    "attested-tls-proxy",
    "base-client",
    "bproxy",
    "builder-hub",
    "builder-hub-mock-proxy",
    "caddy",
    "chain-monitor",
    "cl-proxy",
    "contender",
    "curl",
    "docker-entrypoint.sh",
    "flashblocks-rpc",
    "geth",
    "healthmon",
    "lighthouse",
    "mev-boost",
    "mev-boost-relay",
    "nginx",
    "op-batcher",
    "op-geth",
    "op-node",
    "op-rbuilder",
    "op-reth",
    "pg_isready",
    "postgres",
    "prometheus",
    "rbuilder",
    "reth",
    "rollup-boost",
    "websocket-rpc",
];

/// Absolute entrypoints and commands outside `/usr/local/bin` that must exist at exactly that
/// path: builder-playground's `WithEntrypoint("/app/base-client")` (ghcr.io/base/node-reth-dev)
/// and the images' own (`e2e/src/images/mod.rs`, `STANDIN_CONFIGS`).
pub const ABSOLUTE_ENTRYPOINTS: &[&str] = &[
    "/app/base-client",
    "/app/builder-hub",
    "/app/mev-boost",
    "/app/rbuilder",
    "/bin/prometheus",
    "/docker-entrypoint.sh",
];
