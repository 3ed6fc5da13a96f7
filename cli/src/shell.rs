//! The interactive shell: the client commands, one per line, over one
//! connection; `help`, `history` (this session's entries), `exit`. A line
//! that does not start with a shell command is zeroql (`sql` can say so
//! too).
//!
//! On a terminal the lines come from a line editor ([`editor`]): editing
//! keys, a history kept across sessions in a file, tab completion of
//! zeroql keywords and table names, and zeroql that continues over several
//! lines until it ends with `;` ([`input::statement_complete`]). Piped
//! input is read line by line, each line one entry, as scripts expect.

mod editor;
pub mod input;

use std::io::IsTerminal;

use clap::Parser;
use zerodb_client::Value;

use super::commands::{self, ClientCommand, Output};
use super::connect::{ConnectArgs, Session};
use super::txn_text::{split_words, KeySpace};
use editor::{EditorThread, LineSource, Read, Tables};
use input::{changes_schema, history_path, statement_complete, HISTORY_ENV};

/// Most entries kept in the history (this session's, and the file's).
const HISTORY_MAX: usize = 1000;

/// The statement the shell asks for the table names it completes.
const TABLES_QUERY: &str = "INFO FOR DB";

const HELP: &str = "\
Commands (same as the command line):
  get KEY | put KEY VALUE | del KEY | scan [--start S] [--end E] [--limit N]
  txn 'get a; assert b == \"x\"; put c 1; incr d 5'
  status | admin info | admin checkpoint | admin validate
  use TABLE        switch table (namespace and database stay)
  SELECT ... | CREATE ... | any other line: zeroql, in the default
                   namespace and database (a zeroql USE applies to the rest
                   of its entry only)
  sql QUERY        zeroql on one line, run at once
  json on|off      print JSON
  history          show this session's entries
  help | exit
On a terminal, zeroql continues on the next line (prompt `->`) until it ends
with `;` outside quotes, brackets and comments; shell commands are one line.
Ctrl-C drops the entry being typed, Ctrl-D leaves. Tab completes keywords,
table names and commands. History is kept in $ZERODB_HISTORY, else
$HOME/.zerodb_history (empty ZERODB_HISTORY: none). Piped input runs each
line as it comes.";

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
    let tables = Tables::default();
    let mut source = line_source(&tables);
    let terminal = matches!(source, LineSource::Terminal(_));
    // Table names are fetched while the user types the next line, and
    // again after a definition or removal (on a terminal only: piped input
    // completes nothing).
    let mut tables_stale = terminal;
    let mut history: Vec<String> = Vec::new();
    loop {
        let prompt = match session.node().await {
            Some(node) => format!("zerodb n{node} {}> ", space.table),
            None => format!("zerodb {}> ", space.table),
        };
        let read = if tables_stale {
            tables_stale = false;
            let (read, ()) = tokio::join!(
                source.read(&prompt),
                refresh_tables(&session, &space, &tables)
            );
            read
        } else {
            source.read(&prompt).await
        };
        let line = match read {
            Read::Line(line) => line,
            Read::Interrupted => continue,
            Read::End => {
                println!();
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let entry = if terminal && continues(line) {
            match read_rest(&mut source, line, &prompt).await {
                Some(entry) => entry,
                None => continue,
            }
        } else {
            line.to_string()
        };
        source.remember(&entry);
        if history.len() == HISTORY_MAX {
            history.remove(0);
        }
        history.push(entry.clone());
        if let Some(text) = zeroql(&entry) {
            let (namespace, database) = (&space.namespace, &space.database);
            if let Err(error) =
                super::sql::run_text(&mut session, namespace, database, text, &[], out.json).await
            {
                eprintln!("error: {error}");
            }
            tables_stale = terminal && changes_schema(text);
            continue;
        }
        let words = match split_words(&entry) {
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

/// The line editor on a terminal (plain lines if it cannot start), plain
/// lines otherwise.
fn line_source(tables: &Tables) -> LineSource {
    if !std::io::stdin().is_terminal() {
        return LineSource::piped();
    }
    let history_file = history_path(std::env::var_os(HISTORY_ENV), std::env::var_os("HOME"));
    match EditorThread::start(history_file, tables.clone()) {
        Ok(editor) => LineSource::Terminal(editor),
        Err(error) => {
            eprintln!("warning: {error}; reading plain lines");
            LineSource::piped()
        }
    }
}

/// Whether `line` starts a zeroql entry that continues on the next line:
/// zeroql not written with `sql` (which runs its line at once) and not
/// complete yet.
fn continues(line: &str) -> bool {
    let with_sql = line.split_whitespace().next() == Some("sql");
    !with_sql && zeroql(line).is_some() && !statement_complete(line)
}

/// Reads the lines that complete the zeroql entry `first`, under a
/// continuation prompt as wide as `prompt`. `None` when Ctrl-C drops the
/// entry or the input ends before it is complete (nothing runs).
async fn read_rest(source: &mut LineSource, first: &str, prompt: &str) -> Option<String> {
    let width = prompt.chars().count();
    let continuation = format!("{:>width$}", "-> ");
    let mut entry = first.to_string();
    while !statement_complete(&entry) {
        match source.read(&continuation).await {
            Read::Line(line) => {
                entry.push('\n');
                entry.push_str(line.trim_end());
            }
            Read::Interrupted | Read::End => return None,
        }
    }
    Some(entry)
}

/// Fetches the table names of the shell's database for completion. A
/// failure (no cluster, no permission) keeps the names there were.
async fn refresh_tables(session: &Session, space: &KeySpace, tables: &Tables) {
    let answer = session
        .client()
        .query_in(&space.namespace, &space.database, TABLES_QUERY, &[])
        .await;
    let Ok(results) = answer else {
        return;
    };
    let Some(Value::Array(names)) = results.first().map(|info| info.field("tables")) else {
        return;
    };
    let names = names
        .into_iter()
        .filter_map(|name| match name {
            Value::Str(name) => Some(name),
            _ => None,
        })
        .collect();
    *tables
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = names;
}

#[cfg(test)]
mod tests {
    use super::{continues, zeroql};

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

    #[test]
    fn only_unfinished_zeroql_continues_on_the_next_line() {
        assert!(continues("SELECT * FROM person"));
        assert!(continues("CREATE person CONTENT {"));
        assert!(!continues("SELECT * FROM person;"));
        // Shell commands, and zeroql written with `sql`, are one line.
        assert!(!continues("get k"));
        assert!(!continues("use orders"));
        assert!(!continues("sql RETURN 1"));
    }
}
