//! `bp-operator`: the BuilderPlayground controller (work in progress, see issue "The operator").

fn main() {
    eprintln!("bp-operator {}: the controller is not built yet", env!("CARGO_PKG_VERSION"));
    std::process::exit(1);
}
