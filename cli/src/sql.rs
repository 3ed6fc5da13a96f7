//! `zerodb sql`: runs zeroql statements on the node connected to and
//! prints one result per statement, as tables (default) or JSON (`--json`).

use std::io::Read;

use clap::Args;
use serde_json::{json, Value as Json};
use zerodb_client::{QueryErrorKind, QueryOutput, Value};

use super::connect::Session;
use super::exit::{self, CliError};

/// Most bytes of a query read from standard input (the node refuses
/// larger texts anyway).
const STDIN_QUERY_BYTES_MAX: u64 = 1 << 20;

/// `zerodb sql`.
#[derive(Args, Clone, Debug)]
#[command(after_help = SQL_HELP)]
pub struct SqlArgs {
    /// The zeroql statements, separated by `;` (read from standard input
    /// when left out).
    pub query: Option<String>,
    /// A parameter, `NAME=JSON` (e.g. `--param min=35`, `--param
    /// 'who="Tobie"'`): the query reads it as `$NAME`. Repeatable.
    #[arg(long = "param", value_name = "NAME=JSON")]
    pub params: Vec<String>,
    /// Print each statement's value as zeroql writes it, one line per
    /// statement (for scripts and tests; `--json` wins over it).
    #[arg(long)]
    pub raw: bool,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Arrays of objects as tables, other values as zeroql prints them.
    Table,
    /// One JSON array of the values.
    Json,
    /// One line per value, as zeroql prints it.
    Raw,
}

const SQL_HELP: &str = "\
Statements start in the --ns namespace and --db database (default: default/default);
`USE NS n DB d` changes them. Each statement, or each BEGIN ... COMMIT block, is one
transaction; a failed statement stops the query (earlier ones stay committed).
The language: query/GRAMMAR.md and query/EXECUTION.md.

Examples:
  zerodb sql 'DEFINE TABLE person SCHEMALESS; DEFINE INDEX age ON person FIELDS age'
  zerodb sql \"CREATE person:tobie SET name = 'Tobie', age = 33\"
  zerodb sql 'SELECT name FROM person WHERE age > $min' --param min=30
  echo 'SELECT * FROM person' | zerodb sql --json
  zerodb sql --raw 'SELECT name FROM person:tobie'   # [{ name: 'Tobie' }]

Exit codes: 2 the query does not parse or cannot run, 3 it broke a rule of the data
(record exists, unique index, field type) or kept conflicting: nothing of the failed
statement was written; 4, 5, 6, 7 as for the other commands.";

/// Runs `zerodb sql`.
pub async fn run(
    args: &SqlArgs,
    session: &mut Session,
    namespace: &str,
    database: &str,
    json: bool,
) -> Result<u8, CliError> {
    let text = match &args.query {
        Some(text) => text.clone(),
        None => read_stdin()?,
    };
    let mut params = Vec::with_capacity(args.params.len());
    for param in &args.params {
        params.push(parse_param(param)?);
    }
    let format = match (json, args.raw) {
        (true, _) => Format::Json,
        (false, true) => Format::Raw,
        (false, false) => Format::Table,
    };
    run_text_as(session, namespace, database, &text, &params, format).await
}

/// Runs `text` with `params` and prints the results as tables or JSON;
/// returns the exit code.
pub async fn run_text(
    session: &mut Session,
    namespace: &str,
    database: &str,
    text: &str,
    params: &[(String, Value)],
    json: bool,
) -> Result<u8, CliError> {
    let format = if json { Format::Json } else { Format::Table };
    run_text_as(session, namespace, database, text, params, format).await
}

/// Runs `text` with `params` and prints the results in `format`; returns
/// the exit code.
pub async fn run_text_as(
    session: &mut Session,
    namespace: &str,
    database: &str,
    text: &str,
    params: &[(String, Value)],
    format: Format,
) -> Result<u8, CliError> {
    let borrowed: Vec<(&str, Value)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.clone()))
        .collect();
    let output = session
        .client()
        .query_answer(namespace, database, text, &borrowed)
        .await
        .map_err(exit::client_failure)?;
    print_output(&output, format)
}

fn read_stdin() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .take(STDIN_QUERY_BYTES_MAX)
        .read_to_string(&mut text)
        .map_err(|error| CliError::usage(format!("cannot read the query from stdin: {error}")))?;
    if text.trim().is_empty() {
        return Err(CliError::usage(
            "no query: give it as an argument or on standard input",
        ));
    }
    Ok(text)
}

/// `NAME=JSON` as a parameter.
pub fn parse_param(param: &str) -> Result<(String, Value), CliError> {
    let (name, text) = param.split_once('=').ok_or_else(|| {
        CliError::usage(format!("--param {param:?}: write NAME=JSON, e.g. min=35"))
    })?;
    let name = name.trim().trim_start_matches('$');
    let json: Json = serde_json::from_str(text).map_err(|error| {
        CliError::usage(format!(
            "--param {name}: {text:?} is not JSON ({error}); quote strings: {name}='\"text\"'"
        ))
    })?;
    Ok((name.to_string(), from_json(&json)))
}

/// zeroql values as JSON and back: the node's conversion, which the
/// console's query endpoint answers with too.
pub use zerodb_node::runtime::console::values::{from_json, to_json};

/// The exit code of a query that stopped.
pub fn error_code(kind: QueryErrorKind) -> u8 {
    match kind {
        QueryErrorKind::Invalid | QueryErrorKind::Refused => exit::USAGE,
        QueryErrorKind::Violation | QueryErrorKind::Conflict => exit::CONFLICT,
        QueryErrorKind::Unavailable => exit::UNAVAILABLE,
        QueryErrorKind::OutcomeUnknown => exit::UNKNOWN_OUTCOME,
        // The client prepares again on this error; it reaches no one.
        QueryErrorKind::Internal | QueryErrorKind::UnknownStatement => exit::INTERNAL,
    }
}

fn kind_name(kind: QueryErrorKind) -> &'static str {
    match kind {
        QueryErrorKind::Invalid => "invalid",
        QueryErrorKind::Violation => "violation",
        QueryErrorKind::Conflict => "conflict",
        QueryErrorKind::Unavailable => "unavailable",
        QueryErrorKind::OutcomeUnknown => "outcome_unknown",
        QueryErrorKind::Refused => "refused",
        QueryErrorKind::Internal => "internal",
        QueryErrorKind::UnknownStatement => "unknown_statement",
    }
}

/// Prints the results (and the error), returns the exit code. JSON: an
/// array with one value per statement; when a statement failed, an object
/// `{"results": [...], "error": {"kind", "message"}, "code"}`.
fn print_output(output: &QueryOutput, format: Format) -> Result<u8, CliError> {
    let results: Vec<Json> = output.results.iter().map(to_json).collect();
    let Some(error) = &output.error else {
        match format {
            Format::Json => println!("{}", Json::Array(results)),
            Format::Raw => output.results.iter().for_each(|v| println!("{v}")),
            Format::Table => {
                for (index, value) in output.results.iter().enumerate() {
                    if output.results.len() > 1 {
                        println!("-- statement {}", index + 1);
                    }
                    print!("{}", render_table(value));
                }
            }
        }
        return Ok(exit::OK);
    };
    let code = error_code(error.kind);
    match format {
        Format::Json => println!(
            "{}",
            json!({"results": results, "error": {"kind": kind_name(error.kind), "message": error.message}, "code": code})
        ),
        Format::Raw => output.results.iter().for_each(|v| println!("{v}")),
        Format::Table => {
            for value in &output.results {
                print!("{}", render_table(value));
            }
        }
    }
    // The rendered message starts like the command line's own "error: ".
    let message = error.message.trim_end();
    let message = message.strip_prefix("error: ").unwrap_or(message);
    Err(CliError::new(code, message.to_string()))
}

/// A result as text: an array of objects as a table (one column per field,
/// in the order of first appearance), anything else as zeroql prints it.
pub fn render_table(value: &Value) -> String {
    let rows = match value {
        Value::Array(items) if !items.is_empty() && items.iter().all(is_object) => items,
        Value::Array(items) if items.is_empty() => return "(no rows)\n".to_string(),
        // DEFINE, USE, LET, ...: nothing to show.
        Value::None => return "OK\n".to_string(),
        other => return format!("{other}\n"),
    };
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(map) = row {
            for key in map.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|column| match row.field(column) {
                    Value::None => String::new(),
                    Value::Str(s) => s,
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(at, column)| {
            cells
                .iter()
                .map(|row| row[at].chars().count())
                .chain([column.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: &[String]| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(value, width)| format!("{value:<width$}"))
            .collect();
        format!("{}\n", padded.join(" | ").trim_end())
    };
    let mut out = line(&columns);
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    out.push_str(&format!("{}\n", rule.join("-+-")));
    for row in &cells {
        out.push_str(&line(row));
    }
    out.push_str(&format!(
        "({} row{})\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    out
}

fn is_object(value: &Value) -> bool {
    matches!(value, Value::Object(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_of_documents_prints_as_a_table_with_every_field() {
        let rows = from_json(&json!([{"name": "Jaime", "age": 40}, {"name": "Tobie"}]));
        let text = render_table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "age | name");
        assert_eq!(lines[2], "40  | Jaime");
        assert_eq!(lines[3], "    | Tobie");
        assert_eq!(lines[4], "(2 rows)");
        assert_eq!(render_table(&Value::Array(Vec::new())), "(no rows)\n");
        assert_eq!(render_table(&Value::Int(3)), "3\n");
    }

    #[test]
    fn json_converts_both_ways() {
        let json = json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}});
        assert_eq!(to_json(&from_json(&json)), json);
        assert_eq!(parse_param("min=35").unwrap().1, Value::Int(35));
        assert_eq!(
            parse_param("$who=\"Tobie\"").unwrap(),
            ("who".to_string(), Value::Str("Tobie".into()))
        );
        assert_eq!(parse_param("who=Tobie").unwrap_err().code, exit::USAGE);
        assert_eq!(parse_param("nothing").unwrap_err().code, exit::USAGE);
    }
}
