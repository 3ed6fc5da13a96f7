//! The interactive shell: the client commands, one per line, over one
//! connection; `help`, `history` (kept in memory), `exit`.

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::commands::{self, ClientCommand, Output};
use super::connect::{ConnectArgs, Session};
use super::txn_text::{split_words, KeySpace};

/// Most lines kept in the history.
const HISTORY_MAX: usize = 1000;

const HELP: &str = "\
Commands (same as the command line):
  get KEY | put KEY VALUE | del KEY | scan [--start S] [--end E] [--limit N]
  txn 'get a; assert b == \"x\"; put c 1; incr d 5'
  status | admin info | admin checkpoint | admin validate
  use TABLE        switch table (namespace and database stay)
  json on|off      print JSON
  history          show this session's commands
  help | exit";

#[derive(Parser, Debug)]
#[command(name = "", no_binary_name = true, disable_help_flag = true)]
struct Line {
    #[command(subcommand)]
    command: ClientCommand,
}

/// Runs the shell until `exit` or the end of input.
pub async fn run(connect: ConnectArgs) {
    let mut space = KeySpace {
        namespace: "default".into(),
        database: "default".into(),
        table: "kv".into(),
    };
    let mut out = Output { json: false };
    let mut session = match Session::new(&connect) {
        Ok(session) => session,
        Err(error) => {
            eprintln!("error: {error}");
            return;
        }
    };
    println!("ZeroDB shell. Type `help` for commands, `exit` to leave.");
    let mut history: Vec<String> = Vec::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let prompt = match session.node().await {
            Some(node) => format!("zerodb n{node} {}> ", space.table),
            None => format!("zerodb {}> ", space.table),
        };
        let mut stdout = tokio::io::stdout();
        let _ = stdout.write_all(prompt.as_bytes()).await;
        let _ = stdout.flush().await;
        let Ok(Some(line)) = lines.next_line().await else {
            println!();
            break;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if history.len() == HISTORY_MAX {
            history.remove(0);
        }
        history.push(line.to_string());
        let words = match split_words(line) {
            Ok(words) => words.into_iter().map(|w| w.text).collect::<Vec<_>>(),
            Err(error) => {
                eprintln!("error: {error}");
                continue;
            }
        };
        match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["exit"] | ["quit"] => break,
            ["help"] => println!("{HELP}"),
            ["history"] => {
                for (index, entry) in history.iter().enumerate() {
                    println!("{:>4}  {entry}", index + 1);
                }
            }
            ["use", table] => space.table = table.to_string(),
            ["json", "on"] => out.json = true,
            ["json", "off"] => out.json = false,
            _ => match Line::try_parse_from(&words) {
                Ok(parsed) => match commands::run(&parsed.command, &mut session, &space, out).await
                {
                    Ok(super::exit::NOT_FOUND) | Ok(_) => {}
                    Err(error) => eprintln!("error: {error}"),
                },
                Err(error) => eprintln!("{}", error.render()),
            },
        }
    }
    session.close().await;
}
