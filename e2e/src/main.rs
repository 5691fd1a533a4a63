//! `bp-e2e`: a local Kubernetes (real control plane + a process-running node agent).

use std::path::PathBuf;
use std::process::ExitCode;

use bp_e2e::ImageMapping;
use bp_e2e::cli;
use bp_e2e::testproc::TestProc;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "bp-e2e",
    version,
    about = "Local Kubernetes for tests and demos: a real control plane and a node agent that runs containers as processes"
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
        /// IMAGE=BINDIR[:ENTRYPOINT]: run containers of IMAGE from local binaries.
        #[arg(long = "image")]
        images: Vec<ImageMapping>,
        /// Directory of YAML applied before the controller-manager starts (default: the
        /// workspace's crds/).
        #[arg(long)]
        crds: Option<PathBuf>,
        /// Control-plane binaries (default ~/.cache/bp-e2e/bin-<version>).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
    },
    /// Stop exactly the processes `up` started (and their containers).
    Down {
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Run the node agent in the foreground (started by `up`).
    Node {
        #[arg(long)]
        kubeconfig: PathBuf,
        #[arg(long)]
        state: PathBuf,
        #[arg(long, default_value = cli::NODE_NAME)]
        node_name: String,
        #[arg(long, default_value = "bpe2e-")]
        netns_prefix: String,
        #[arg(long = "image")]
        images: Vec<ImageMapping>,
    },
    /// Emulate a container: listen on its TCP ports and answer HTTP 200.
    #[command(hide = true)]
    Emulate {
        #[arg(long, default_value = "")]
        container: String,
        #[arg(long, default_value = "")]
        image: String,
        #[arg(long = "port")]
        ports: Vec<u16>,
        /// The container's command and args (logged only).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Helper programs for the harness's own tests.
    #[command(hide = true, subcommand)]
    Testproc(TestProc),
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(u8::try_from(c).unwrap_or(1))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Up { state, images, crds, bin_dir } => {
            cli::up(cli::UpArgs { state: state.unwrap_or_else(cli::default_state_dir), images, crds, bin_dir })
        }
        Cmd::Down { state } => cli::down(&state.unwrap_or_else(cli::default_state_dir)),
        Cmd::Node { kubeconfig, state, node_name, netns_prefix, images } => {
            cli::node(cli::NodeArgs { kubeconfig, state, node_name, netns_prefix, images })
        }
        Cmd::Emulate { container, image, ports, command } => {
            return code(bp_e2e::emulate::run(&image, &container, &ports, &command));
        }
        Cmd::Testproc(t) => return code(bp_e2e::testproc::run(t)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bp-e2e: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
