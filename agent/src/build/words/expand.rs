//! The expansion engine behind [`super::Lexer`]: Docker's `ProcessWord`
//! (BuildKit `frontend/dockerfile/shell/lex.go`) reimplemented over a
//! `char` buffer, plus the shell-glob matching its `#`, `%` and `/`
//! modifiers use.
//!
//! Deliberate differences from BuildKit, all in corners no working
//! Dockerfile relies on:
//! - `${NAME` cut off at the end of the input reports "missing '}'"
//!   (BuildKit prints "unsupported modifier (\u{FFFD}) in substitution").
//! - The word list of `ProcessWords` keeps what preceded a `${VAR:-…}`
//!   in the same word (BuildKit shares one buffer with the nested call
//!   and loses it).

use std::collections::BTreeSet;

use super::ExpandError;

/// A variable lookup: `Some(value)` when the variable is set.
pub(super) type Env<'e> = &'e dyn Fn(&str) -> Option<String>;

/// What one expansion produced.
pub(super) struct Outcome {
    pub result: String,
    pub words: Vec<String>,
    pub matched: BTreeSet<String>,
    pub unmatched: BTreeSet<String>,
}

/// Expands `word` with `escape` as the escape character.
pub(super) fn expand(word: &str, escape: char, env: Env<'_>) -> Result<Outcome, ExpandError> {
    let mut engine = Engine {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        env,
        raw_escapes: false,
        matched: BTreeSet::new(),
        unmatched: BTreeSet::new(),
    };
    let (result, words) = engine.stop_on(None, false)?;
    Ok(Outcome {
        result,
        words,
        matched: engine.matched,
        unmatched: engine.unmatched,
    })
}

/// Splits expanded text into words the way BuildKit's `wordsStruct` does:
/// text from variables splits on whitespace, quoted and escaped text does not.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if !ch.is_whitespace() {
            self.add_raw_char(ch);
        } else if self.in_word && !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
            self.in_word = false;
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

struct Engine<'e> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: Env<'e>,
    /// Keep escape characters in the output (inside `${VAR#…}`,
    /// `${VAR%…}` and `${VAR/…/…}`, whose patterns need them).
    raw_escapes: bool,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl Engine<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        let value = (self.env)(name);
        let set = if value.is_some() {
            &mut self.matched
        } else {
            &mut self.unmatched
        };
        set.insert(name.to_string());
        value
    }

    /// Processes up to (and consuming) `stop`, or to the end of input when
    /// `stop` is `None`; returns the text and its words.
    fn stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), ExpandError> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let out = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    words.add_str(&value);
                }
                '<' | '\'' | '"' => {
                    let value = match ch {
                        '<' => self.possible_heredoc(),
                        '\'' => self.single_quote()?,
                        _ => self.double_quote()?,
                    };
                    result.push_str(&value);
                    words.add_raw_str(&value);
                }
                _ => {
                    self.pos += 1;
                    let mut ch = ch;
                    if ch == self.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            Some(escaped) => ch = escaped,
                            None => break,
                        }
                        words.add_raw_char(ch);
                    } else {
                        words.add_char(ch);
                    }
                    result.push(ch);
                }
            }
        }
        match stop {
            Some(stop) => Err(ExpandError::Unterminated(stop.to_string())),
            None => Ok((result, words.finish())),
        }
    }

    /// `'…'`: everything literal up to the next single quote.
    fn single_quote(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut result = String::new();
        loop {
            match self.next() {
                None => return Err(ExpandError::Unterminated("single-quote".into())),
                Some('\'') => return Ok(result),
                Some(ch) => result.push(ch),
            }
        }
    }

    /// `"…"`: literal except `$` expansions; the escape character escapes
    /// only `"`, `$` and itself, and is kept before anything else.
    fn double_quote(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut result = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError::Unterminated("double-quote".into())),
                Some('"') => {
                    self.pos += 1;
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                ch = next;
                                self.pos += 1;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// `<<` (and the blanks after it) stays one piece in word splitting.
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut result = String::from("<<");
        while let Some(ch @ ('\t' | '\r' | ' ')) = self.peek() {
            result.push(ch);
            self.pos += 1;
        }
        result
    }

    /// A variable name: letters, digits and `_`; or a run of digits
    /// (positional parameter); or one special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(digit) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(digit);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !ch.is_numeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }

    /// After `$`: `$NAME`, `${NAME}` or `${NAME<modifier>…}`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.get_env(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        match self.next() {
            None => Err(ExpandError::MissingBrace),
            Some('}') => Ok(self.get_env(&name).unwrap_or_default()),
            Some(':') => match self.next() {
                None => Err(ExpandError::MissingBrace),
                Some(op) => self.modifier(&name, true, op),
            },
            Some(op @ ('+' | '-' | '?' | '#' | '%')) => self.modifier(&name, false, op),
            Some('/') => self.substitute(&name),
            Some(other) => Err(ExpandError::UnsupportedModifier(other.to_string())),
        }
    }

    /// Processes up to `stop`; an error at the end of input becomes `at_eof`.
    fn argument(&mut self, stop: char, raw_escapes: bool, at_eof: ExpandError) -> Result<String, ExpandError> {
        match self.stop_on(Some(stop), raw_escapes) {
            Ok((text, _)) => Ok(text),
            Err(_) if self.peek().is_none() => Err(at_eof),
            Err(err) => Err(err),
        }
    }

    /// `${NAME[:]op word}` for op in `- + ? # %`.
    fn modifier(&mut self, name: &str, null_is_unset: bool, op: char) -> Result<String, ExpandError> {
        let shown = if null_is_unset {
            format!(":{op}")
        } else {
            op.to_string()
        };
        let pattern_op = op == '#' || op == '%';
        if null_is_unset && pattern_op {
            return Err(ExpandError::UnsupportedModifier(shown));
        }
        let word = self.argument('}', pattern_op, ExpandError::MissingBrace)?;
        let value = self.get_env(name);
        let unset_or_null = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            '-' if unset_or_null => Ok(word),
            '-' => Ok(value.unwrap_or_default()),
            '+' if unset_or_null => Ok(String::new()),
            '+' => Ok(word),
            '?' if unset_or_null => {
                let message = match (&value, word.is_empty()) {
                    (_, false) => word,
                    (None, true) => "is not allowed to be unset".into(),
                    (Some(_), true) => "is not allowed to be empty".into(),
                };
                Err(ExpandError::Required {
                    name: name.to_string(),
                    message,
                })
            }
            '?' => Ok(value.unwrap_or_default()),
            '#' | '%' => {
                let value = value.unwrap_or_default();
                let (greedy, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                if op == '#' {
                    trim_prefix(pattern, &value, greedy)
                } else {
                    trim_suffix(pattern, &value, greedy)
                }
            }
            _ => Err(ExpandError::UnsupportedModifier(shown)),
        }
    }

    /// `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}`.
    fn substitute(&mut self, name: &str) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = self.argument('/', true, ExpandError::MissingSlash)?;
        let replacement = self.argument('}', true, ExpandError::MissingBrace)?;
        let value: Vec<char> = self.get_env(name).unwrap_or_default().chars().collect();
        let glob = parse_glob(&pattern)?;
        let mut matcher = Matcher::new(&glob, &value, true);
        if !all {
            return Ok(match matcher.find(0) {
                Some((start, end)) => {
                    let mut out: String = value[..start].iter().collect();
                    out.push_str(&replacement);
                    out.extend(&value[end..]);
                    out
                }
                None => value.iter().collect(),
            });
        }
        let mut out = String::new();
        let (mut search, mut last_end) = (0, 0);
        while search <= value.len() {
            let Some((start, end)) = matcher.find(search) else {
                break;
            };
            out.extend(&value[last_end..start]);
            // No second replacement for an empty match right after a match.
            if end > last_end || start == 0 {
                let matched: String = value[start..end].iter().collect();
                expand_template(&mut out, &replacement, &matched);
            }
            last_end = end;
            search = if end > search { end } else { search + 1 };
        }
        out.extend(&value[last_end..]);
        Ok(out)
    }
}

/// One element of a shell pattern.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Glob {
    Lit(char),
    /// `?`: any one character but a newline.
    One,
    /// `*`: any run of characters without a newline.
    Any,
}

/// Parses a shell pattern (`*`, `?`, `\` escaping `*`, `?` and `\`; `\}`
/// and `\/` mean `}` and `/`). The escape here is always `\`.
fn parse_glob(pattern: &str) -> Result<Vec<Glob>, ExpandError> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        out.push(match ch {
            '*' => Glob::Any,
            '?' => Glob::One,
            '\\' if matches!(chars.peek(), Some('}' | '/')) => continue,
            '\\' => match chars.next() {
                Some(c @ ('*' | '?' | '\\')) => Glob::Lit(c),
                other => {
                    return Err(ExpandError::InvalidPattern {
                        pattern: pattern.to_string(),
                        reason: format!("invalid escape '\\{}'", other.unwrap_or('\u{FFFD}')),
                    })
                }
            },
            c => Glob::Lit(c),
        });
    }
    Ok(out)
}

/// Backtracking matcher with a regex engine's leftmost-first priorities:
/// `*` tries the longest run first when greedy, the shortest otherwise.
/// Memoised on (pattern index, text position), so polynomial.
struct Matcher<'a> {
    glob: &'a [Glob],
    text: &'a [char],
    greedy: bool,
    memo: Vec<Option<Option<usize>>>,
}

impl<'a> Matcher<'a> {
    fn new(glob: &'a [Glob], text: &'a [char], greedy: bool) -> Self {
        let memo = vec![None; (glob.len() + 1) * (text.len() + 1)];
        Matcher {
            glob,
            text,
            greedy,
            memo,
        }
    }

    /// The end of the preferred match of `glob[gi..]` starting at `pos`.
    fn match_at(&mut self, gi: usize, pos: usize) -> Option<usize> {
        if gi == self.glob.len() {
            return Some(pos);
        }
        let key = gi * (self.text.len() + 1) + pos;
        if let Some(known) = self.memo[key] {
            return known;
        }
        let here = self.text.get(pos).copied();
        let end = match self.glob[gi] {
            Glob::Lit(c) if here == Some(c) => self.match_at(gi + 1, pos + 1),
            Glob::One if here.is_some_and(|c| c != '\n') => self.match_at(gi + 1, pos + 1),
            Glob::Lit(_) | Glob::One => None,
            Glob::Any => {
                let line = self.text[pos..].iter().take_while(|c| **c != '\n').count();
                if self.greedy {
                    (pos..=pos + line).rev().find_map(|e| self.match_at(gi + 1, e))
                } else {
                    (pos..=pos + line).find_map(|e| self.match_at(gi + 1, e))
                }
            }
        };
        self.memo[key] = Some(end);
        end
    }

    /// The leftmost match starting at or after `from`.
    fn find(&mut self, from: usize) -> Option<(usize, usize)> {
        (from..=self.text.len()).find_map(|start| self.match_at(0, start).map(|end| (start, end)))
    }
}

/// `${VAR#pattern}` / `${VAR##pattern}`: drop the shortest / longest
/// matching prefix.
fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, ExpandError> {
    let glob = parse_glob(pattern)?;
    let text: Vec<char> = value.chars().collect();
    let end = Matcher::new(&glob, &text, greedy).match_at(0, 0);
    Ok(text[end.unwrap_or(0)..].iter().collect())
}

/// `${VAR%pattern}` / `${VAR%%pattern}`: a prefix trim of the reversed
/// value with the reversed pattern (escape pairs kept in order).
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, ExpandError> {
    let reversed: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern but keeps each `\x` pair as `\x`.
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = vec!['\0'; chars.len()];
    let last = chars.len().saturating_sub(1);
    let mut i = 0;
    while i < chars.len() {
        let at = last - i;
        if chars[i] == '\\' && i != last {
            out[at - 1] = '\\';
            out[at] = chars[i + 1];
            i += 2;
        } else {
            out[at] = chars[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// Go's `Regexp.Expand` for a pattern without groups: `$$` is `$`, `$0` /
/// `${0}` the whole match, any other `$name` / `${name}` empty, and a `$`
/// not followed by a name literal.
fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let (braced, body) = match rest.strip_prefix('{') {
            Some(body) => (true, body),
            None => (false, rest),
        };
        let len: usize = body
            .chars()
            .take_while(|c| c.is_alphabetic() || c.is_numeric() || *c == '_')
            .map(char::len_utf8)
            .sum();
        let closed = !braced || body[len..].starts_with('}');
        if len == 0 || !closed {
            out.push('$');
            continue;
        }
        if &body[..len] == "0" {
            out.push_str(matched);
        }
        rest = &body[len + usize::from(braced)..];
    }
    out.push_str(rest);
}
