//! Where the shell's lines come from. On a terminal: a `rustyline` editor
//! (editing keys, history across sessions, tab completion) on a thread of
//! its own, since reading a key blocks. Otherwise (piped input): plain
//! lines from standard input, each after the prompt, as scripts expect.

use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Config, Context, Editor, Helper};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, Stdin};
use tokio::sync::oneshot;

use super::input::{candidates, word_start};
use super::{HISTORY_MAX, SHELL_WORDS};

/// What one read gave.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Read {
    /// A line, without its end.
    Line(String),
    /// Ctrl-C: drop what is being typed.
    Interrupted,
    /// Ctrl-D, the end of input, or a terminal failure: leave.
    End,
}

/// The table names completion offers, refreshed by the shell.
pub(super) type Tables = Arc<Mutex<Vec<String>>>;

/// The shell's source of lines.
pub(super) enum LineSource {
    /// A terminal, through the editor thread.
    Terminal(EditorThread),
    /// Anything else: line by line.
    Piped(Lines<BufReader<Stdin>>),
}

impl LineSource {
    /// Piped lines from standard input.
    pub(super) fn piped() -> LineSource {
        LineSource::Piped(BufReader::new(tokio::io::stdin()).lines())
    }

    /// Shows `prompt` and reads one line.
    pub(super) async fn read(&mut self, prompt: &str) -> Read {
        match self {
            LineSource::Terminal(editor) => editor.read(prompt).await,
            LineSource::Piped(lines) => {
                let mut stdout = tokio::io::stdout();
                let _ = stdout.write_all(prompt.as_bytes()).await;
                let _ = stdout.flush().await;
                match lines.next_line().await {
                    Ok(Some(line)) => Read::Line(line),
                    _ => Read::End,
                }
            }
        }
    }

    /// Adds `entry` to the history (and its file) on a terminal.
    pub(super) fn remember(&mut self, entry: &str) {
        if let LineSource::Terminal(editor) = self {
            let _ = editor.asks.send(Ask::Remember(entry.to_string()));
        }
    }
}

enum Ask {
    Read {
        prompt: String,
        reply: oneshot::Sender<Read>,
    },
    Remember(String),
}

/// The editor on its thread. A std thread, not a blocking tokio task: a
/// read waits for a key for as long as the user likes, and the runtime
/// waits for its blocking tasks when it stops (`zerodb dev` stops on
/// SIGTERM while the shell waits). Dropping this ends the thread after its
/// current read.
pub(super) struct EditorThread {
    asks: mpsc::Sender<Ask>,
}

impl EditorThread {
    /// Starts the editor with the history of `history_file` (created on
    /// the first entry; unreadable: a warning, and no history file) and
    /// completion over the keywords, `tables` and the shell's words.
    pub(super) fn start(
        history_file: Option<PathBuf>,
        tables: Tables,
    ) -> Result<EditorThread, String> {
        let config = Config::builder()
            .max_history_size(HISTORY_MAX)
            .map_err(|error| format!("history size: {error}"))?
            .auto_add_history(false)
            .build();
        let mut editor: Editor<ShellHelper, DefaultHistory> =
            Editor::with_config(config).map_err(|error| format!("terminal: {error}"))?;
        editor.set_helper(Some(ShellHelper { tables }));
        let history_file = history_file.filter(|path| match editor.load_history(path) {
            Ok(()) => true,
            Err(_) if !path.exists() => true,
            Err(error) => {
                eprintln!(
                    "warning: history file {}: {error}; this session's history is not kept",
                    path.display()
                );
                false
            }
        });
        let (asks, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("shell-editor".into())
            .spawn(move || serve(editor, history_file, receiver))
            .map_err(|error| format!("cannot start the line editor: {error}"))?;
        Ok(EditorThread { asks })
    }

    async fn read(&mut self, prompt: &str) -> Read {
        let (reply, answer) = oneshot::channel();
        let ask = Ask::Read {
            prompt: prompt.to_string(),
            reply,
        };
        if self.asks.send(ask).is_err() {
            return Read::End;
        }
        answer.await.unwrap_or(Read::End)
    }
}

/// The editor thread: reads and history entries, in the order asked.
fn serve(
    mut editor: Editor<ShellHelper, DefaultHistory>,
    history_file: Option<PathBuf>,
    asks: mpsc::Receiver<Ask>,
) {
    let mut warned = false;
    for ask in asks {
        match ask {
            Ask::Read { prompt, reply } => {
                let read = match editor.readline(&prompt) {
                    Ok(line) => Read::Line(line),
                    Err(rustyline::error::ReadlineError::Interrupted) => Read::Interrupted,
                    Err(_) => Read::End,
                };
                let _ = reply.send(read);
            }
            Ask::Remember(entry) => {
                let _ = editor.add_history_entry(entry);
                // Appended at once, so that a shell that is killed keeps
                // what was typed before.
                if let Some(path) = &history_file {
                    if let Err(error) = editor.append_history(path) {
                        if !warned {
                            eprintln!("warning: history file {}: {error}", path.display());
                            warned = true;
                        }
                    }
                }
            }
        }
    }
}

/// Tab completion for the editor (no hints, colours or validation).
struct ShellHelper {
    tables: Tables,
}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        position: usize,
        _context: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let start = word_start(line, position);
        let prefix = &line[start..position];
        // The shell's own words (and `sql`, `use`) only start a line.
        let at_line_start = line[..start].trim().is_empty();
        let shell_words = if at_line_start {
            [SHELL_WORDS, &["sql", "use"]].concat()
        } else {
            Vec::new()
        };
        let tables = self
            .tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok((start, candidates(prefix, &tables, &shell_words)))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}
