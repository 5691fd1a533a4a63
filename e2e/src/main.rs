//! `bp-e2e`: a local Kubernetes (real control plane and a real node).

use std::path::PathBuf;
use std::process::ExitCode;

use bp_e2e::cli;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "bp-e2e",
    version,
    about = "Local Kubernetes for tests and demos: a control plane and a node (kubelet, containerd, runc) built from source"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Start a cluster in the background (provisioning binaries if needed); the last line
    /// printed is `export KUBECONFIG=...`.
    Up {
        /// State directory (default ~/.cache/bp-e2e/state/default).
        #[arg(long)]
        state: Option<PathBuf>,
        /// Directory of YAML applied before the controller-manager starts (default: the
        /// workspace's crds/).
        #[arg(long)]
        crds: Option<PathBuf>,
        /// Kubernetes binaries (default ~/.cache/bp-e2e/bin-<version>).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        /// Where bp-operator, bp-generator and bp-standin are (default: beside bp-e2e).
        #[arg(long)]
        workspace_bins: Option<PathBuf>,
        /// Extra tag of the project image (it always has the workspace version's).
        #[arg(long = "project-tag")]
        project_tags: Vec<String>,
    },
    /// Stop exactly what `up` started (and the node's containers).
    Down {
        #[arg(long)]
        state: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Up { state, crds, bin_dir, workspace_bins, project_tags } => cli::up(cli::UpArgs {
            state: state.unwrap_or_else(cli::default_state_dir),
            crds,
            bin_dir,
            workspace_bins,
            project_tags,
        }),
        Cmd::Down { state } => cli::down(&state.unwrap_or_else(cli::default_state_dir)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bp-e2e: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
