//! The small text form of transactions, its JSON form, and the shell's
//! word splitting.
//!
//! Text: statements separated by `;`:
//!
//! ```text
//! get a; assert b == "x"; put c 1; incr d 5; del e
//! assert k exists | missing | == "bytes" | == 5 | != 5 | < 5 | <= 5 | > 5 | >= 5
//! put session token ttl 30m
//! ```
//!
//! A quoted right-hand side of `==` compares bytes; an unquoted integer
//! compares integers (as `incr` stores them).
//!
//! JSON: `[{"op":"get","key":"a"}, {"op":"put","key":"c","value":"1"},
//! {"op":"incr","key":"d","by":5}, {"op":"del","key":"e"},
//! {"op":"assert","key":"b","cond":"==","value":"x"},
//! {"op":"put","key":"s","value":"t","ttl":"30m"}]`
//! (`cond`: `exists`, `missing`, `==` with a string value compares bytes,
//! comparisons with a number `value` compare integers).

use zerodb_txn::{CompareOp, Condition, Key, Op};

/// One word of input: its text and whether it was quoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The text, quotes removed and escapes resolved.
    pub text: String,
    /// Whether it was written in quotes.
    pub quoted: bool,
}

/// Splits a line into words and `;` separators (`;` as its own word,
/// unquoted). Quotes: `"..."` (with `\"` and `\\`) or `'...'`.
pub fn split_words(line: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == ';' {
            chars.next();
            words.push(Word {
                text: ";".into(),
                quoted: false,
            });
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated {c}quote{c}")),
                    Some(end) if end == c => break,
                    Some('\\') if c == '"' => match chars.next() {
                        Some(escaped) => text.push(escaped),
                        None => return Err("line ends after a backslash".into()),
                    },
                    Some(other) => text.push(other),
                }
            }
            words.push(Word { text, quoted: true });
        } else {
            let mut text = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == ';' || c == '"' || c == '\'' {
                    break;
                }
                text.push(c);
                chars.next();
            }
            words.push(Word {
                text,
                quoted: false,
            });
        }
    }
    Ok(words)
}

/// Builds keys from record ids (the command line's namespace, database and
/// table).
#[derive(Clone, Debug)]
pub struct KeySpace {
    /// Namespace.
    pub namespace: String,
    /// Database.
    pub database: String,
    /// Table.
    pub table: String,
}

impl KeySpace {
    /// The key of record `id`.
    pub fn key(&self, id: &str) -> Key {
        Key::new(&self.namespace, &self.database, &self.table, id.as_bytes())
    }
}

fn int(word: &str, what: &str) -> Result<i64, String> {
    word.parse()
        .map_err(|_| format!("{what} `{word}` is not an integer"))
}

fn compare_op(word: &str) -> Option<CompareOp> {
    Some(match word {
        "==" | "=" => CompareOp::Eq,
        "!=" => CompareOp::Ne,
        "<" => CompareOp::Lt,
        "<=" => CompareOp::Le,
        ">" => CompareOp::Gt,
        ">=" => CompareOp::Ge,
        _ => return None,
    })
}

fn statement(words: &[Word], space: &KeySpace) -> Result<Op, String> {
    let verb = words[0].text.to_lowercase();
    let args: Vec<&Word> = words[1..].iter().collect();
    let arity = |n: usize, usage: &str| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("`{verb}` takes {n} argument(s): {usage}"))
        }
    };
    match verb.as_str() {
        "get" => {
            arity(1, "get KEY")?;
            Ok(Op::Get(space.key(&args[0].text)))
        }
        "put" | "set" => {
            let usage = "put KEY VALUE [ttl DURATION]";
            let put =
                |key: &Word, value: &Word| (space.key(&key.text), value.text.as_bytes().to_vec());
            match &args[..] {
                [key, value] => {
                    let (key, value) = put(key, value);
                    Ok(Op::Put(key, value))
                }
                [key, value, word, ttl]
                    if word.text.eq_ignore_ascii_case("ttl") && !word.quoted =>
                {
                    let (key, value) = put(key, value);
                    Ok(Op::PutTtl(key, value, crate::ttl::parse_ttl(&ttl.text)?))
                }
                _ => Err(format!(
                    "`{verb}` takes 2 arguments, or 4 with a TTL: {usage}"
                )),
            }
        }
        "del" | "delete" => {
            arity(1, "del KEY")?;
            Ok(Op::Delete(space.key(&args[0].text)))
        }
        "incr" => {
            arity(2, "incr KEY N")?;
            Ok(Op::Incr(
                space.key(&args[0].text),
                int(&args[1].text, "increment")?,
            ))
        }
        "assert" => assertion(&args, space),
        other => Err(format!(
            "unknown operation `{other}`; use get, put, del, incr or assert"
        )),
    }
}

fn assertion(args: &[&Word], space: &KeySpace) -> Result<Op, String> {
    let usage = "assert KEY exists|missing|== VALUE|!= N|< N|<= N|> N|>= N";
    let key = args.first().ok_or_else(|| usage.to_string())?;
    let key = space.key(&key.text);
    let condition = match &args[1..] {
        [word] if word.text == "exists" => Condition::Exists,
        [word] if word.text == "missing" => Condition::NotExists,
        [op, value] => {
            let op = compare_op(&op.text)
                .ok_or_else(|| format!("unknown comparison `{}`; {usage}", op.text))?;
            match (op, value.quoted, value.text.parse::<i64>()) {
                (_, false, Ok(number)) => Condition::IntCompare { op, value: number },
                (CompareOp::Eq, _, _) => Condition::ValueEquals(value.text.as_bytes().to_vec()),
                _ => return Err(format!("`{}` needs an integer; {usage}", value.text)),
            }
        }
        _ => return Err(usage.to_string()),
    };
    Ok(Op::Assert(key, condition))
}

/// Parses the text form.
pub fn parse_text(text: &str, space: &KeySpace) -> Result<Vec<Op>, String> {
    let words = split_words(text)?;
    let mut ops = Vec::new();
    for statement_words in words.split(|word| word.text == ";" && !word.quoted) {
        if statement_words.is_empty() {
            continue;
        }
        ops.push(statement(statement_words, space)?);
    }
    if ops.is_empty() {
        return Err("empty transaction; e.g. 'get a; put b 1'".into());
    }
    Ok(ops)
}

/// Parses the JSON form.
pub fn parse_json(text: &str, space: &KeySpace) -> Result<Vec<Op>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| format!("transaction JSON: {error}"))?;
    let items = value
        .as_array()
        .ok_or("transaction JSON: expected an array of operations")?;
    let mut ops = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let field = |name: &str| item.get(name);
        let text = |name: &str| {
            field(name)
                .and_then(|v| v.as_str())
                .ok_or_else(|| format!("operation {index}: `{name}` must be a string"))
        };
        let key = space.key(text("key")?);
        let op = match text("op")? {
            "get" => Op::Get(key),
            "put" | "set" => {
                let value = text("value")?.as_bytes().to_vec();
                match field("ttl") {
                    None => Op::Put(key, value),
                    Some(_) => Op::PutTtl(
                        key,
                        value,
                        crate::ttl::parse_ttl(text("ttl")?)
                            .map_err(|error| format!("operation {index}: {error}"))?,
                    ),
                }
            }
            "del" | "delete" => Op::Delete(key),
            "incr" => Op::Incr(
                key,
                field("by")
                    .and_then(|v| v.as_i64())
                    .ok_or_else(|| format!("operation {index}: `by` must be an integer"))?,
            ),
            "assert" => {
                let condition = match text("cond")? {
                    "exists" => Condition::Exists,
                    "missing" => Condition::NotExists,
                    cond => {
                        let op = compare_op(cond)
                            .ok_or_else(|| format!("operation {index}: unknown cond `{cond}`"))?;
                        match field("value") {
                            Some(serde_json::Value::String(s)) if op == CompareOp::Eq => {
                                Condition::ValueEquals(s.as_bytes().to_vec())
                            }
                            Some(v) if v.is_i64() => Condition::IntCompare {
                                op,
                                value: v.as_i64().unwrap_or_default(),
                            },
                            _ => {
                                return Err(format!(
                                "operation {index}: `value` must be a string (==) or an integer"
                            ))
                            }
                        }
                    }
                };
                Op::Assert(key, condition)
            }
            other => return Err(format!("operation {index}: unknown op `{other}`")),
        };
        ops.push(op);
    }
    if ops.is_empty() {
        return Err("empty transaction".into());
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> KeySpace {
        KeySpace {
            namespace: "n".into(),
            database: "d".into(),
            table: "t".into(),
        }
    }

    #[test]
    fn a_put_may_carry_a_ttl_in_both_forms() {
        let k = |id: &str| space().key(id);
        let want = vec![Op::PutTtl(k("s"), b"t".to_vec(), 1_800_000)];
        assert_eq!(parse_text("put s t ttl 30m", &space()).unwrap(), want);
        let json = r#"[{"op":"put","key":"s","value":"t","ttl":"30m"}]"#;
        assert_eq!(parse_json(json, &space()).unwrap(), want);
        let error = parse_text("put s t ttl 5y", &space()).unwrap_err();
        assert!(error.contains("unknown unit"), "{error}");
        let error = parse_text("put s", &space()).unwrap_err();
        assert!(error.contains("put KEY VALUE [ttl DURATION]"), "{error}");
        let error = parse_text("put s t for 5s", &space()).unwrap_err();
        assert!(error.contains("4 with a TTL"), "{error}");
        let error = parse_json(r#"[{"op":"put","key":"s","value":"t","ttl":5}]"#, &space());
        assert!(error.unwrap_err().contains("`ttl` must be a string"));
    }

    #[test]
    fn the_text_form_parses_every_operation() {
        let ops = parse_text(
            r#"get a; assert b == "x"; put c 1; incr d 5; del e; assert f > 3; assert g missing"#,
            &space(),
        )
        .unwrap();
        let k = |id: &str| space().key(id);
        assert_eq!(
            ops,
            vec![
                Op::Get(k("a")),
                Op::Assert(k("b"), Condition::ValueEquals(b"x".to_vec())),
                Op::Put(k("c"), b"1".to_vec()),
                Op::Incr(k("d"), 5),
                Op::Delete(k("e")),
                Op::Assert(
                    k("f"),
                    Condition::IntCompare {
                        op: CompareOp::Gt,
                        value: 3
                    }
                ),
                Op::Assert(k("g"), Condition::NotExists),
            ]
        );
    }

    #[test]
    fn bad_text_is_refused_with_a_reason() {
        assert!(parse_text("frob a", &space()).unwrap_err().contains("frob"));
        assert!(parse_text("put a", &space())
            .unwrap_err()
            .contains("put KEY VALUE"));
        assert!(parse_text("incr a x", &space())
            .unwrap_err()
            .contains("integer"));
        assert!(parse_text("put a \"x", &space())
            .unwrap_err()
            .contains("unterminated"));
        assert!(parse_text(" ; ", &space()).is_err());
    }

    #[test]
    fn the_json_form_matches_the_text_form() {
        let json = r#"[{"op":"get","key":"a"},{"op":"assert","key":"b","cond":"==","value":"x"},
            {"op":"put","key":"c","value":"1"},{"op":"incr","key":"d","by":5}]"#;
        assert_eq!(
            parse_json(json, &space()).unwrap(),
            parse_text(r#"get a; assert b == "x"; put c 1; incr d 5"#, &space()).unwrap()
        );
        assert!(parse_json("{}", &space()).is_err());
    }

    #[test]
    fn quoted_words_keep_spaces_and_semicolons() {
        let words = split_words(r#"put k "a; b" 'c d'"#).unwrap();
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, vec!["put", "k", "a; b", "c d"]);
    }
}
