//! `zerodb-harness`: runs a real cluster under faults and checks it.
//! Exit status: 0 when no anomaly was found, 1 on anomalies or an
//! inconclusive check, 2 when the run could not be carried out.

use std::process::ExitCode;

use clap::Parser;
use zerodb_harness::run::{self, Args};

fn main() -> ExitCode {
    let args = Args::parse();
    if args.cleanup {
        zerodb_harness::net::cleanup();
        eprintln!(
            "removed every zdbh-* namespace and link, and the processes inside them \
             (run folders zdbh-<seed>-<pid> under the temporary directory are kept: they hold the logs)"
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run::run(args)) {
        Ok(summary) => {
            println!("{summary}");
            if summary.anomalies.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("zerodb-harness: {error}");
            ExitCode::from(2)
        }
    }
}
