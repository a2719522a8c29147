//! `tickwire-swarm`: see `docs/load-testing.md`.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use tickwire_swarm::{Args, run};

fn main() -> ExitCode {
    // clap exits with status 2 on bad arguments.
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if args.threads > 0 {
        runtime.worker_threads(args.threads);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime.block_on(run(&args)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.json.as_deref() != Some("-") {
        print!("{}", report.table());
    }
    if let Some(path) = &args.json {
        let json = match serde_json::to_string_pretty(&report) {
            Ok(j) => j,
            Err(e) => {
                eprintln!("error: cannot encode the report: {e}");
                return ExitCode::from(2);
            }
        };
        let written = if path == "-" {
            writeln!(std::io::stdout(), "{json}")
        } else {
            std::fs::write(path, json + "\n")
        };
        if let Err(e) = written {
            eprintln!("error: cannot write the report to {path}: {e}");
            return ExitCode::from(2);
        }
    }
    if report.holds {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
