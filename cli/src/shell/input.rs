//! What the shell decides about the text typed so far, as pure functions:
//! whether a zeroql statement is complete or continues on the next line,
//! which words complete a prefix, whether a query changed the schema (so
//! the table names are fetched again), and where the history file is.

use std::ffi::OsString;
use std::path::PathBuf;

use zerodb_query::{Keyword, TokenKind, KEYWORDS};

/// Environment variable naming the history file (empty: no history file).
pub const HISTORY_ENV: &str = "ZERODB_HISTORY";
/// The history file's name in the home folder.
pub const HISTORY_FILE_NAME: &str = ".zerodb_history";

/// Where the scanner of [`statement_complete`] is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    Code,
    /// Inside a string opened by this quote (`'` or `"`).
    Quoted(char),
    /// Inside a `` `name` ``.
    Backticked,
    /// Inside a `-- comment`, until the end of the line.
    Comment,
    /// Inside a `//regex//`, which ends at the end of its line at the latest.
    Regex,
}

/// Whether `text` (zeroql, possibly several lines) is a complete entry:
/// its last token outside strings, backticked names, comments and regexes
/// is `;`, and every bracket it opened is closed. Until then the shell
/// reads another line. An entry with more closing than opening brackets is
/// complete once it ends with `;`: reading more cannot fix it, the node
/// will say where it is wrong.
pub fn statement_complete(text: &str) -> bool {
    let mut scan = Scan::Code;
    let mut depth: i64 = 0;
    let mut last_code = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match scan {
            Scan::Code => match c {
                '\'' | '"' => scan = Scan::Quoted(c),
                '`' => scan = Scan::Backticked,
                '-' if chars.peek() == Some(&'-') => scan = Scan::Comment,
                '/' if chars.peek() == Some(&'/') => {
                    chars.next();
                    scan = Scan::Regex;
                }
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            },
            Scan::Quoted(quote) => {
                if c == '\\' {
                    chars.next();
                } else if c == quote {
                    scan = Scan::Code;
                }
            }
            Scan::Backticked if c == '`' => scan = Scan::Code,
            Scan::Comment if c == '\n' => scan = Scan::Code,
            Scan::Regex if c == '\n' => scan = Scan::Code,
            Scan::Regex if c == '\\' => {
                chars.next_if(|next| *next != '\n');
            }
            Scan::Regex if c == '/' && chars.peek() == Some(&'/') => {
                chars.next();
                scan = Scan::Code;
            }
            Scan::Backticked | Scan::Comment | Scan::Regex => {}
        }
        // What counts as the end: code, and the closing mark of a string,
        // name or regex (none of which is `;`).
        if !c.is_whitespace() && matches!(scan, Scan::Code) {
            last_code = Some(c);
        }
    }
    let open = matches!(scan, Scan::Quoted(_) | Scan::Backticked);
    !open && depth <= 0 && last_code == Some(';')
}

/// Where the word under the cursor starts: the byte offset after the last
/// character before `position` that cannot be part of a name.
pub fn word_start(line: &str, position: usize) -> usize {
    line[..position]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(at, c)| at + c.len_utf8())
}

/// The words that complete `prefix`, sorted: zeroql keywords (in the
/// prefix's letter case: all lower case when the prefix is, upper case
/// otherwise), table names (exact case), and the shell's own command words
/// when the prefix starts the line (`shell_words`). An empty prefix
/// completes to nothing (a list of every keyword helps no one).
pub fn candidates(prefix: &str, tables: &[String], shell_words: &[&str]) -> Vec<String> {
    if prefix.is_empty() {
        return Vec::new();
    }
    let lower = prefix.to_ascii_lowercase();
    let lower_case = prefix.chars().all(|c| !c.is_ascii_uppercase());
    let mut found: Vec<String> = KEYWORDS
        .iter()
        .map(|keyword| keyword.as_str())
        .filter(|word| word.to_ascii_lowercase().starts_with(&lower))
        .map(|word| {
            if lower_case {
                word.to_ascii_lowercase()
            } else {
                word.to_string()
            }
        })
        .collect();
    found.extend(
        tables
            .iter()
            .filter(|table| table.starts_with(prefix))
            .cloned(),
    );
    found.extend(
        shell_words
            .iter()
            .filter(|word| word.starts_with(prefix))
            .map(|word| word.to_string()),
    );
    found.sort();
    found.dedup();
    // The word typed in full is no completion.
    found.retain(|word| word != prefix);
    found
}

/// Whether `text` defines or removes something, so that the table names
/// the shell completes may have changed. Text that does not lex is looked
/// at word by word.
pub fn changes_schema(text: &str) -> bool {
    let schema =
        |keyword: Option<Keyword>| matches!(keyword, Some(Keyword::Define | Keyword::Remove));
    match zerodb_query::lex(text) {
        Ok(tokens) => tokens
            .iter()
            .any(|token| matches!(token.kind, TokenKind::Word(keyword) if schema(keyword))),
        Err(_) => text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| schema(Keyword::from_word(word))),
    }
}

/// The history file: `ZERODB_HISTORY` when set (set and empty: none),
/// else `.zerodb_history` in `HOME`; none when neither is set, so that a
/// shell run by a service without a home writes nowhere.
pub fn history_path(history_env: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    match history_env {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(PathBuf::from(path)),
        None => home
            .filter(|home| !home.is_empty())
            .map(|home| PathBuf::from(home).join(HISTORY_FILE_NAME)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_complete_when_it_ends_with_a_semicolon_outside_quotes_and_brackets() {
        assert!(!statement_complete("SELECT * FROM t"));
        assert!(statement_complete("SELECT * FROM t;"));
        assert!(statement_complete("SELECT * FROM t;  \n"));
        assert!(statement_complete("SELECT *\nFROM t\nWHERE a > 1;"));
        assert!(!statement_complete(""));
        // A `;` inside a string, a name, a comment or a regex ends nothing.
        assert!(!statement_complete("SELECT * FROM t WHERE name = 'a;"));
        assert!(!statement_complete("SELECT * FROM t WHERE name = \"a;"));
        assert!(!statement_complete("SELECT * FROM `odd;"));
        assert!(!statement_complete("SELECT * FROM t -- done;"));
        assert!(statement_complete("SELECT * FROM t -- not yet\n;"));
        assert!(!statement_complete("SELECT * FROM t WHERE a ~ //x;//"));
        assert!(statement_complete("SELECT * FROM t WHERE a ~ //x;//;"));
        // An escaped quote does not close its string.
        assert!(!statement_complete("RETURN 'it\\'s;"));
        assert!(statement_complete("RETURN 'it\\'s';"));
        assert!(statement_complete("RETURN \"a 'b' c\";"));
    }

    #[test]
    fn an_open_bracket_continues_the_statement_past_a_semicolon() {
        assert!(!statement_complete("CREATE t CONTENT { a: [1, 2;"));
        assert!(!statement_complete("CREATE t CONTENT {\n  a: 1;"));
        assert!(statement_complete("CREATE t CONTENT {\n  a: 1\n};"));
        assert!(statement_complete("RETURN (SELECT * FROM t);"));
        // Too many closing brackets: more text cannot help.
        assert!(statement_complete("RETURN 1);"));
    }

    #[test]
    fn keywords_complete_in_the_case_typed_and_tables_exactly() {
        let tables = vec!["person".to_string(), "Place".to_string()];
        assert_eq!(candidates("SEL", &tables, &[]), vec!["SELECT"]);
        assert_eq!(candidates("sel", &tables, &[]), vec!["select"]);
        assert_eq!(
            candidates("sche", &tables, &[]),
            vec!["schemafull", "schemaless"]
        );
        assert_eq!(candidates("pe", &tables, &[]), vec!["person"]);
        assert_eq!(candidates("Pl", &tables, &[]), vec!["Place"]);
        assert_eq!(candidates("pl", &tables, &[]), Vec::<String>::new());
        assert_eq!(candidates("", &tables, &[]), Vec::<String>::new());
        // A full word is no completion; a longer one is.
        assert_eq!(
            candidates("IN", &tables, &[]),
            vec!["INDEX", "INDEXES", "INDICES", "INFO", "INSERT", "INTO"]
        );
        assert_eq!(
            candidates("he", &tables, &["help", "history"]),
            vec!["help"]
        );
        // Every keyword of the lexer is offered.
        for keyword in KEYWORDS {
            let word = keyword.as_str();
            let prefix = &word[..word.len() - 1];
            assert!(
                candidates(prefix, &[], &[]).contains(&word.to_string()),
                "{word}"
            );
        }
    }

    #[test]
    fn the_word_under_the_cursor_starts_after_the_last_separator() {
        assert_eq!(word_start("SELECT * FROM pe", 16), 14);
        assert_eq!(word_start("SEL", 3), 0);
        assert_eq!(word_start("SELECT ", 7), 7);
        assert_eq!(word_start("RETURN person:to", 16), 14);
        assert_eq!(word_start("a é_b", 6), 4);
    }

    #[test]
    fn definitions_and_removals_change_the_schema() {
        assert!(changes_schema("DEFINE TABLE person"));
        assert!(changes_schema("define index a on t fields a"));
        assert!(changes_schema("SELECT 1; REMOVE TABLE person"));
        assert!(!changes_schema("SELECT * FROM person"));
        // Inside a string the word means nothing.
        assert!(!changes_schema("CREATE t SET note = 'define'"));
        // Text that does not lex is read word by word.
        assert!(changes_schema("DEFINE TABLE 'unterminated"));
    }

    #[test]
    fn the_history_file_comes_from_the_environment_or_the_home_folder() {
        let some = |text: &str| Some(OsString::from(text));
        assert_eq!(
            history_path(None, some("/home/ada")),
            Some(PathBuf::from("/home/ada/.zerodb_history"))
        );
        assert_eq!(
            history_path(some("/tmp/h"), some("/home/ada")),
            Some(PathBuf::from("/tmp/h"))
        );
        assert_eq!(history_path(some(""), some("/home/ada")), None);
        assert_eq!(history_path(None, None), None);
        assert_eq!(history_path(None, some("")), None);
    }
}
