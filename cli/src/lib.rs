//! The `zerodb` command line: `dev`, `start`, `certs`, the client commands,
//! `shell` and `bench`. [`main`] parses the arguments, runs the command
//! and returns the exit code (see [`exit`]).
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod bench;
pub mod commands;
pub mod connect;
pub mod dev;
pub mod exit;
pub mod meta;
pub mod server;
pub mod shell;
pub mod sql;
pub mod ttl;
pub mod txn_text;

use clap::{Parser, Subcommand};

use commands::{ClientCommand, Output};
use connect::{ConnectArgs, Session};
use exit::CliError;
use txn_text::KeySpace;

/// ZeroDB: a leaderless distributed database.
///
/// Quick start: `zerodb dev` runs a 3-node cluster on this machine (folder
/// ./zerodb-dev); in another terminal, from the same directory,
/// `zerodb put hello world` and `zerodb get hello`.
#[derive(Parser, Debug)]
#[command(name = "zerodb", version, after_help = exit::EXIT_CODES_HELP)]
pub struct Cli {
    /// Print answers as JSON (one document per command).
    #[arg(long, global = true)]
    pub json: bool,
    /// Namespace of the keys.
    #[arg(long, global = true, default_value = "default")]
    pub ns: String,
    /// Database of the keys.
    #[arg(long, global = true, default_value = "default")]
    pub db: String,
    /// Table of the keys.
    #[arg(long, global = true, default_value = "kv")]
    pub table: String,
    /// Where the cluster is and which certificate to use.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a local cluster (default 3 nodes on 127.0.0.1) in this process,
    /// with certificates and data in one folder reused on the next run.
    /// Opens a shell when stdin is a terminal; otherwise serves until
    /// SIGINT/SIGTERM.
    Dev(dev::DevArgs),
    /// Run a node from its configuration file.
    Start(server::StartArgs),
    /// Make the cluster CA and node or client certificates.
    Certs {
        /// Which certificate.
        #[command(subcommand)]
        command: server::CertsCommand,
    },
    /// An interactive shell over one connection.
    Shell,
    /// Run zeroql statements: `zerodb sql 'SELECT * FROM person'` (or the
    /// query on standard input). Prints a table per statement, or JSON
    /// with --json.
    Sql(sql::SqlArgs),
    /// A YCSB-like load against a running cluster.
    Bench(bench::BenchArgs),
    /// Client commands.
    #[command(flatten)]
    Client(ClientCommand),
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = match signal(SignalKind::terminate()) {
            Ok(terminate) => terminate,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Parses the process arguments, runs the command, returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => i32::from(exit::USAGE),
            };
        }
    };
    let serving = matches!(cli.command, Command::Dev(_) | Command::Start(_));
    init_logging(if serving { "info,quinn=warn" } else { "warn" });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return i32::from(exit::INTERNAL);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => i32::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            i32::from(error.code)
        }
    }
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> Result<u8, CliError> {
    let space = KeySpace {
        namespace: cli.ns.clone(),
        database: cli.db.clone(),
        table: cli.table.clone(),
    };
    let out = Output { json: cli.json };
    match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Start(args) => server::start(args).await,
        Command::Certs { command } => server::certs(command),
        Command::Shell => {
            shell::run(cli.connect).await;
            Ok(exit::OK)
        }
        Command::Bench(args) => bench::run(&cli.connect, &space, args).await,
        Command::Sql(args) => {
            let mut session = Session::new(&cli.connect)?;
            let result = sql::run(&args, &mut session, &cli.ns, &cli.db, cli.json).await;
            session.close().await;
            result
        }
        Command::Client(command) => {
            let mut session = Session::new(&cli.connect)?;
            let result = commands::run(&command, &mut session, &space, out).await;
            session.close().await;
            result
        }
    }
}
