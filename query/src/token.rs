//! Tokens produced by the lexer: what kind, and where in the source.

use crate::ast::Span;

/// One lexed token with the byte range it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What the token is, with its decoded value for literals.
    pub kind: TokenKind,
    /// Byte range in the source text.
    pub span: Span,
}

/// The kinds of token. Literal kinds carry their decoded value so the
/// parser never re-reads source text for them.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// A plain word `[a-zA-Z_][a-zA-Z0-9_]*`. `Some` when it spells a
    /// keyword in any letter case; the parser decides from context whether
    /// a non-reserved keyword is used as a name.
    Word(Option<Keyword>),
    /// A backtick-quoted identifier; never a keyword.
    EscapedIdent(String),
    /// A parameter `$name`, without the `$`.
    Param(String),
    /// An integer literal (decimal, `0x`, `0o` or `0b`).
    Int(i64),
    /// A floating point literal; always finite.
    Float(f64),
    /// A string literal with escapes decoded.
    Str(String),
    /// A byte string literal `b"..."` with escapes decoded.
    Bytes(Vec<u8>),
    /// A duration literal such as `1h30m`, in nanoseconds.
    Duration(u64),
    /// A regex literal `//pattern//flags`; the pattern is kept as written.
    Regex {
        /// The pattern text between the delimiters.
        pattern: String,
        /// Flag letters after the closing delimiter.
        flags: String,
    },
    /// An operator or punctuation mark.
    Op(Op),
    /// End of input; always the last token.
    Eof,
}

/// Operators and punctuation, named by what they look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `(`
    ParenOpen,
    /// `)`
    ParenClose,
    /// `[`
    BracketOpen,
    /// `]`
    BracketClose,
    /// `{`
    BraceOpen,
    /// `}`
    BraceClose,
    /// `,`
    Comma,
    /// `;`
    Semicolon,
    /// `::`
    Scope,
    /// `:`
    Colon,
    /// `+=`
    AssignPlus,
    /// `-=`
    AssignMinus,
    /// `×=` or `*=`
    AssignMul,
    /// `÷=` or `/=`
    AssignDiv,
    /// `%=`
    AssignMod,
    /// `**=`
    AssignPow,
    /// `<<=`
    AssignShl,
    /// `>>=`
    AssignShr,
    /// `&=`
    AssignBitAnd,
    /// `|=`
    AssignBitOr,
    /// `^=`
    AssignBitXor,
    /// `~=`
    AssignBitNot,
    /// `->>`
    MultiArrowRight,
    /// `<<-`
    MultiArrowLeft,
    /// `->`
    ArrowRight,
    /// `<-`
    ArrowLeft,
    /// `**`
    Pow,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `×` or `*`
    Star,
    /// `/` or `÷`
    Div,
    /// `%`
    Mod,
    /// `~`
    Tilde,
    /// `!~`
    NotMatch,
    /// `<>`
    Similarity,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    /// `==`
    EqEq,
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `!`
    Bang,
    /// `<=`
    Lte,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `∋`
    ContainsSymbol,
    /// `∌`
    NotContainsSymbol,
    /// `⊅`
    ContainsNoneSymbol,
    /// `⊇`
    ContainsAllSymbol,
    /// `⊃`
    ContainsAnySymbol,
    /// `?.`
    SafeNav,
    /// `?:`
    NullCoalesce,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `.`
    Dot,
    /// `..=`
    RangeInclusive,
    /// `..`
    Range,
    /// `?`
    Question,
}

/// Every operator spelling, longest first so that the lexer's first match
/// is the longest match (`<<=` before `<<` before `<`).
pub(crate) const OPERATOR_SPELLINGS: &[(&str, Op)] = &[
    ("**=", Op::AssignPow),
    ("<<=", Op::AssignShl),
    (">>=", Op::AssignShr),
    ("->>", Op::MultiArrowRight),
    ("<<-", Op::MultiArrowLeft),
    ("..=", Op::RangeInclusive),
    ("×=", Op::AssignMul),
    ("÷=", Op::AssignDiv),
    ("::", Op::Scope),
    ("+=", Op::AssignPlus),
    ("-=", Op::AssignMinus),
    ("*=", Op::AssignMul),
    ("/=", Op::AssignDiv),
    ("%=", Op::AssignMod),
    ("&=", Op::AssignBitAnd),
    ("|=", Op::AssignBitOr),
    ("^=", Op::AssignBitXor),
    ("~=", Op::AssignBitNot),
    ("->", Op::ArrowRight),
    ("<-", Op::ArrowLeft),
    ("**", Op::Pow),
    ("!~", Op::NotMatch),
    ("<>", Op::Similarity),
    ("&&", Op::AndAnd),
    ("||", Op::OrOr),
    ("==", Op::EqEq),
    ("!=", Op::NotEq),
    ("<=", Op::Lte),
    (">=", Op::Gte),
    ("?.", Op::SafeNav),
    ("?:", Op::NullCoalesce),
    ("<<", Op::Shl),
    (">>", Op::Shr),
    ("..", Op::Range),
    ("(", Op::ParenOpen),
    (")", Op::ParenClose),
    ("[", Op::BracketOpen),
    ("]", Op::BracketClose),
    ("{", Op::BraceOpen),
    ("}", Op::BraceClose),
    (",", Op::Comma),
    (";", Op::Semicolon),
    (":", Op::Colon),
    ("+", Op::Plus),
    ("-", Op::Minus),
    ("×", Op::Star),
    ("*", Op::Star),
    ("/", Op::Div),
    ("÷", Op::Div),
    ("%", Op::Mod),
    ("~", Op::Tilde),
    ("=", Op::Eq),
    ("!", Op::Bang),
    ("<", Op::Lt),
    (">", Op::Gt),
    ("∋", Op::ContainsSymbol),
    ("∌", Op::NotContainsSymbol),
    ("⊅", Op::ContainsNoneSymbol),
    ("⊇", Op::ContainsAllSymbol),
    ("⊃", Op::ContainsAnySymbol),
    ("&", Op::BitAnd),
    ("|", Op::BitOr),
    ("^", Op::BitXor),
    (".", Op::Dot),
    ("?", Op::Question),
];

impl Op {
    /// The canonical (ASCII where there is one) spelling of the operator.
    pub fn as_str(self) -> &'static str {
        // The first spelling in the table is the canonical one for every
        // operator except the two with a Unicode alternative listed first.
        match self {
            Op::AssignMul => "*=",
            Op::AssignDiv => "/=",
            Op::Star => "*",
            Op::Div => "/",
            _ => OPERATOR_SPELLINGS
                .iter()
                .find(|(_, op)| *op == self)
                .map(|(spelling, _)| *spelling)
                .unwrap_or("?"),
        }
    }
}

macro_rules! keywords {
    ($($variant:ident = $lower:literal $upper:literal $reserved:literal;)*) => {
        /// Words with a meaning in zeroql, matched in any letter case.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Keyword { $(#[doc = concat!("`", $upper, "`")] $variant,)* }

        /// Every keyword, for tests and completion.
        pub const KEYWORDS: &[Keyword] = &[$(Keyword::$variant,)*];

        impl Keyword {
            /// The keyword a word spells, in any letter case.
            pub fn from_word(word: &str) -> Option<Keyword> {
                // Keywords are short; anything longer is a name, which keeps
                // the lowercase copy below small.
                if word.len() > KEYWORD_LENGTH_MAX {
                    return None;
                }
                match word.to_ascii_lowercase().as_str() {
                    $($lower => Some(Keyword::$variant),)*
                    _ => None,
                }
            }

            /// The keyword in upper case, as the printer writes it.
            pub fn as_str(self) -> &'static str {
                match self { $(Keyword::$variant => $upper,)* }
            }

            /// Reserved keywords cannot be used as bare names (write them in
            /// backticks): they start statements, clauses or operators where
            /// a name could also stand, so allowing them would make queries
            /// such as `SELECT * FROM WHERE` parse into something surprising.
            pub fn is_reserved(self) -> bool {
                match self { $(Keyword::$variant => $reserved,)* }
            }
        }
    };
}

/// The longest keyword ("transaction"), in bytes.
const KEYWORD_LENGTH_MAX: usize = 11;

keywords! {
    All = "all" "ALL" false;
    And = "and" "AND" true;
    Any = "any" "ANY" false;
    As = "as" "AS" true;
    Asc = "asc" "ASC" false;
    Assert = "assert" "ASSERT" false;
    At = "at" "AT" false;
    Begin = "begin" "BEGIN" false;
    By = "by" "BY" false;
    Cancel = "cancel" "CANCEL" false;
    Commit = "commit" "COMMIT" false;
    Contains = "contains" "CONTAINS" true;
    Content = "content" "CONTENT" false;
    Create = "create" "CREATE" true;
    Database = "database" "DATABASE" false;
    Db = "db" "DB" false;
    Define = "define" "DEFINE" true;
    Delete = "delete" "DELETE" true;
    Desc = "desc" "DESC" false;
    Describe = "describe" "DESCRIBE" true;
    Edge = "edge" "EDGE" false;
    Exist = "exist" "EXIST" false;
    Exists = "exists" "EXISTS" false;
    Explain = "explain" "EXPLAIN" false;
    False = "false" "FALSE" true;
    Field = "field" "FIELD" false;
    Fields = "fields" "FIELDS" false;
    For = "for" "FOR" false;
    From = "from" "FROM" true;
    Group = "group" "GROUP" true;
    If = "if" "IF" false;
    In = "in" "IN" true;
    Index = "index" "INDEX" false;
    Indexes = "indexes" "INDEXES" false;
    Indices = "indices" "INDICES" false;
    Info = "info" "INFO" false;
    Insert = "insert" "INSERT" true;
    Into = "into" "INTO" false;
    Is = "is" "IS" true;
    Let = "let" "LET" false;
    Limit = "limit" "LIMIT" true;
    Match = "match" "MATCH" true;
    Merge = "merge" "MERGE" false;
    Namespace = "namespace" "NAMESPACE" false;
    No = "no" "NO" false;
    None = "none" "NONE" true;
    Not = "not" "NOT" true;
    Ns = "ns" "NS" false;
    Null = "null" "NULL" true;
    Omit = "omit" "OMIT" true;
    On = "on" "ON" false;
    Or = "or" "OR" true;
    Order = "order" "ORDER" true;
    Readonly = "readonly" "READONLY" false;
    Relate = "relate" "RELATE" true;
    Remove = "remove" "REMOVE" true;
    Return = "return" "RETURN" false;
    Schemafull = "schemafull" "SCHEMAFULL" false;
    Schemaless = "schemaless" "SCHEMALESS" false;
    Select = "select" "SELECT" true;
    Set = "set" "SET" true;
    Start = "start" "START" false;
    Table = "table" "TABLE" false;
    To = "to" "TO" false;
    Transaction = "transaction" "TRANSACTION" false;
    True = "true" "TRUE" true;
    Type = "type" "TYPE" false;
    Unique = "unique" "UNIQUE" false;
    Update = "update" "UPDATE" true;
    Use = "use" "USE" false;
    Value = "value" "VALUE" false;
    Values = "values" "VALUES" false;
    Where = "where" "WHERE" true;
    With = "with" "WITH" false;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_have_uppercase_spellings_and_round_trip() {
        for keyword in KEYWORDS {
            assert_eq!(Keyword::from_word(keyword.as_str()), Some(*keyword));
            let lower = keyword.as_str().to_ascii_lowercase();
            assert_eq!(Keyword::from_word(&lower), Some(*keyword));
            assert!(lower.len() <= KEYWORD_LENGTH_MAX);
        }
        for word in ["select", "SeLeCt", "transaction", "schemaless", "in"] {
            let keyword = Keyword::from_word(word).expect("a keyword");
            assert_eq!(keyword.as_str(), word.to_ascii_uppercase());
            assert_eq!(Keyword::from_word(keyword.as_str()), Some(keyword));
        }
        assert_eq!(Keyword::from_word("person"), None);
    }

    #[test]
    fn operator_spellings_are_longest_first_among_shared_prefixes() {
        for (index, (spelling, _)) in OPERATOR_SPELLINGS.iter().enumerate() {
            for (earlier, _) in &OPERATOR_SPELLINGS[..index] {
                assert!(
                    !spelling.starts_with(earlier) || spelling == earlier,
                    "{spelling} is shadowed by {earlier}"
                );
            }
        }
    }
}
