//! `bp-e2e testproc ...`: small programs the harness's own tests run as containers.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

#[derive(Subcommand, Debug, Clone)]
pub enum TestProc {
    /// Print a line, optionally wait, and exit with `code`.
    Exit {
        #[arg(long, default_value_t = 0)]
        code: i32,
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        #[arg(long)]
        message: Option<String>,
    },
    /// Wait `delay_ms`, then answer HTTP 200 on 0.0.0.0:`port` forever.
    Listen {
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// Start `children` child processes, write all PIDs (own first) to `pid_file`, sleep.
    Sleep {
        #[arg(long)]
        pid_file: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        children: u32,
    },
    /// List ConfigMaps in `namespace` with the KUBECONFIG from the environment: exit 0 on
    /// success, 4 when forbidden (403), 5 on any other error.
    KubeList {
        #[arg(long)]
        namespace: String,
    },
    /// Print the named environment variables and the remaining arguments, then exit 0.
    Env {
        #[arg(long = "var")]
        vars: Vec<String>,
        rest: Vec<String>,
    },
}

pub fn run(cmd: TestProc) -> i32 {
    match cmd {
        TestProc::Exit { code, delay_ms, message } => {
            println!("testproc exit: code {code}");
            if let Some(m) = message {
                eprintln!("{m}");
            }
            std::thread::sleep(Duration::from_millis(delay_ms));
            code
        }
        TestProc::Listen { port, delay_ms } => {
            println!("testproc listen: waiting {delay_ms}ms before listening on :{port}");
            let _ = std::io::stdout().flush();
            std::thread::sleep(Duration::from_millis(delay_ms));
            match TcpListener::bind(("0.0.0.0", port)) {
                Ok(l) => {
                    println!("testproc listen: listening on :{port}");
                    let _ = std::io::stdout().flush();
                    crate::emulate::serve(l);
                    0
                }
                Err(e) => {
                    eprintln!("testproc listen: bind :{port}: {e}");
                    1
                }
            }
        }
        TestProc::Sleep { pid_file, children } => {
            let mut pids = vec![std::process::id()];
            let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
            let mut kids = Vec::new();
            for _ in 0..children {
                match std::process::Command::new(&exe).args(["testproc", "sleep"]).spawn() {
                    Ok(c) => {
                        pids.push(c.id());
                        kids.push(c);
                    }
                    Err(e) => {
                        eprintln!("testproc sleep: spawning child: {e}");
                        return 1;
                    }
                }
            }
            if let Some(path) = pid_file {
                let text: String = pids.iter().map(|p| format!("{p}\n")).collect();
                // Write then rename, so readers never see a partial file.
                let tmp = path.with_extension("tmp");
                if let Err(e) = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, &path)) {
                    eprintln!("testproc sleep: writing {}: {e}", path.display());
                    return 1;
                }
            }
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        TestProc::KubeList { namespace } => kube_list(&namespace),
        TestProc::Env { vars, rest } => {
            for v in vars {
                println!("{v}={}", std::env::var(&v).unwrap_or_else(|_| "<unset>".into()));
            }
            println!("ARGS={}", rest.join("|"));
            0
        }
    }
}

fn kube_list(namespace: &str) -> i32 {
    crate::install_crypto_provider();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("testproc kube-list: runtime: {e}");
            return 5;
        }
    };
    rt.block_on(async {
        let client = match kube::Client::try_default().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("testproc kube-list: client: {e}");
                return 5;
            }
        };
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(client, namespace);
        match api.list(&Default::default()).await {
            Ok(list) => {
                println!("listed {} configmaps in {namespace}", list.items.len());
                0
            }
            Err(kube::Error::Api(e)) if e.code == 403 => {
                eprintln!("forbidden (403): {}", e.message);
                4
            }
            Err(e) => {
                eprintln!("testproc kube-list: {e}");
                5
            }
        }
    })
}
