//! The interactive shell: the client commands, one per line, over one
//! connection; `help`, `history` (kept in memory), `exit`. A line that
//! does not start with a shell command is zeroql (`sql` can say so too).

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
  SELECT ... | CREATE ... | any other line: zeroql, in the default
                   namespace and database (`sql QUERY` also works; a zeroql
                   USE applies to the rest of its line only)
  json on|off      print JSON
  history          show this session's commands
  help | exit";

/// First words of the shell's own commands; any other line is zeroql.
const SHELL_WORDS: &[&str] = &[
    "get", "put", "del", "delete", "scan", "txn", "status", "ns", "user", "grant", "revoke",
    "admin", "json", "history", "help", "exit", "quit",
];

/// The zeroql text of `line`, if it is zeroql: `sql TEXT`, or a line that
/// does not start with a shell command (`use TABLE` is the shell's; zeroql's
/// `USE NS .. DB ..` has more words).
fn zeroql(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    let first = words.next()?;
    if first == "sql" {
        return Some(line[3..].trim());
    }
    let shell = SHELL_WORDS.contains(&first) || (first == "use" && words.count() == 1);
    (!shell).then_some(line)
}

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
        if let Some(text) = zeroql(line) {
            let (namespace, database) = (&space.namespace, &space.database);
            if let Err(error) =
                super::sql::run_text(&mut session, namespace, database, text, &[], out.json).await
            {
                eprintln!("error: {error}");
            }
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::zeroql;

    #[test]
    fn lines_that_are_not_shell_commands_are_zeroql() {
        assert_eq!(zeroql("get k"), None);
        assert_eq!(zeroql("use orders"), None);
        assert_eq!(zeroql("json on"), None);
        assert_eq!(zeroql("SELECT * FROM person"), Some("SELECT * FROM person"));
        assert_eq!(
            zeroql("USE NS a DB b; RETURN 1"),
            Some("USE NS a DB b; RETURN 1")
        );
        assert_eq!(zeroql("sql get"), Some("get"));
    }
}
