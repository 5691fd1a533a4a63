//! A scanner for the subset of Go `text/template` that builder-playground recipes use.
//!
//! Recipes embed function-call actions anywhere in an argument or environment value:
//! `{{Port "http" 8545}}`, `{{PortUDP "p2p" 9000}}`, `{{Service "el" "authrpc" "http" ""}}`
//! (and the legacy three-argument form), `{{.Dir}}` and `{{Bootnode}}`. Arguments are Go
//! string literals (interpreted or raw) or integers. Anything else is rejected with a message
//! that says what and where, rather than rendered into a silently wrong string.

use std::fmt;

/// One piece of a template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text, copied as is.
    Text(String),
    /// An action to resolve.
    Action(Action),
}

/// A parsed `{{ ... }}` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `{{.Dir}}`: the artifacts directory.
    Dir,
    /// `{{Port "name" N}}` or `{{PortUDP "name" N}}`.
    Port { name: String, default: i64, udp: bool },
    /// `{{Service "svc" "port" "proto" "user"}}`; `user` is `None` for the legacy 3-argument form.
    Service { service: String, port: String, protocol: String, user: Option<String> },
    /// `{{Bootnode}}`: the enode URL of the playground's bootnode.
    Bootnode,
}

/// A template that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the offending action in the input.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for TemplateError {}

/// Splits `input` into literal text and actions.
pub fn parse(input: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut segments = Vec::new();
    let mut rest = input;
    let mut consumed = 0usize;
    let mut trim_next_text = false;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next_text {
            text = text.trim_start();
        }
        let after_open = &rest[open + 2..];
        // `{{- ` trims the whitespace before the action, as in Go.
        let (body_start, trim_before) = match after_open.strip_prefix("- ") {
            Some(_) => (2, true),
            None => (0, false),
        };
        if trim_before {
            text = text.trim_end();
        }
        push_text(&mut segments, text);
        let action_offset = consumed + open;
        let (action, body_len, trim_after) = parse_action(&after_open[body_start..], action_offset)?;
        segments.push(Segment::Action(action));
        let advance = open + 2 + body_start + body_len;
        consumed += advance;
        rest = &rest[advance..];
        trim_next_text = trim_after;
    }
    let text = if trim_next_text { rest.trim_start() } else { rest };
    push_text(&mut segments, text);
    Ok(segments)
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Segment::Text(last)) = segments.last_mut() {
        last.push_str(text);
    } else {
        segments.push(Segment::Text(text.to_owned()));
    }
}

/// A token inside an action.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Field(String),
    Str(String),
    Int(i64),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Ident(s) => format!("identifier {s}"),
            Token::Field(s) => format!("field .{s}"),
            Token::Str(s) => format!("string {s:?}"),
            Token::Int(n) => format!("number {n}"),
        }
    }
}

/// Parses the body of an action up to and including `}}`. Returns the action, the number of
/// bytes consumed and whether the closing delimiter trims the following text (`-}}`).
fn parse_action(body: &str, offset: usize) -> Result<(Action, usize, bool), TemplateError> {
    let err = |message: String| TemplateError { offset, message };
    let bytes = body.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0usize;
    let (end, trim_after) = loop {
        let Some(&c) = bytes.get(i) else {
            return Err(err("unclosed action: missing }}".into()));
        };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                if body[i..].trim_start().starts_with("-}}") && !tokens.is_empty() {
                    let skip = body[i..].len() - body[i..].trim_start().len();
                    break (i + skip + 3, true);
                }
                i += 1;
            }
            b'}' if body[i..].starts_with("}}") => break (i + 2, false),
            b'"' => {
                let (s, len) = unquote_interpreted(&body[i..]).map_err(&err)?;
                tokens.push(Token::Str(s));
                i += len;
            }
            b'`' => {
                let close = body[i + 1..].find('`').ok_or_else(|| err("unterminated raw string".into()))?;
                tokens.push(Token::Str(body[i + 1..i + 1 + close].to_owned()));
                i += close + 2;
            }
            b'.' => {
                let len = body[i + 1..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                    .unwrap_or(body.len() - i - 1);
                tokens.push(Token::Field(body[i + 1..i + 1 + len].to_owned()));
                i += 1 + len;
            }
            b'-' | b'0'..=b'9' => {
                let len = body[i + 1..]
                    .find(|ch: char| !ch.is_ascii_alphanumeric() && ch != '_')
                    .map_or(body.len() - i, |n| n + 1);
                let literal = &body[i..i + len];
                let value = parse_int(literal).ok_or_else(|| err(format!("malformed number {literal:?}")))?;
                tokens.push(Token::Int(value));
                i += len;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let len =
                    body[i..].find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).unwrap_or(body.len() - i);
                tokens.push(Token::Ident(body[i..i + len].to_owned()));
                i += len;
            }
            _ => {
                let ch = body[i..].chars().next().unwrap_or('?');
                return Err(err(format!(
                    "unsupported character {ch:?} in action (pipelines and expressions are not supported)"
                )));
            }
        }
    };
    Ok((build_action(tokens).map_err(err)?, end, trim_after))
}

fn parse_int(literal: &str) -> Option<i64> {
    let (negative, digits) = match literal.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, literal),
    };
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    let value = if let Some(hex) = clean.strip_prefix("0x").or_else(|| clean.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = clean.strip_prefix("0b").or_else(|| clean.strip_prefix("0B")) {
        i64::from_str_radix(bin, 2).ok()?
    } else if let Some(oct) = clean.strip_prefix("0o").or_else(|| clean.strip_prefix("0O")) {
        i64::from_str_radix(oct, 8).ok()?
    } else if clean.len() > 1 && clean.starts_with('0') {
        i64::from_str_radix(&clean[1..], 8).ok()?
    } else {
        clean.parse().ok()?
    };
    Some(if negative { -value } else { value })
}

fn build_action(tokens: Vec<Token>) -> Result<Action, String> {
    let mut iter = tokens.into_iter();
    let head = iter.next().ok_or("empty action {{}}")?;
    let args: Vec<Token> = iter.collect();
    match head {
        Token::Field(name) if name == "Dir" && args.is_empty() => Ok(Action::Dir),
        Token::Field(name) => Err(format!("unknown field .{name} (only .Dir is defined)")),
        Token::Ident(func) => match func.as_str() {
            "Port" | "PortUDP" => {
                let udp = func == "PortUDP";
                match <[Token; 2]>::try_from(args) {
                    Ok([Token::Str(name), Token::Int(default)]) => Ok(Action::Port { name, default, udp }),
                    Ok([a, b]) => Err(format!(
                        "{func} takes a port name string and a port number, got {} and {}",
                        a.describe(),
                        b.describe()
                    )),
                    Err(args) => Err(format!("{func} takes 2 arguments (name, number), got {}", args.len())),
                }
            }
            "Service" => {
                let count = args.len();
                let mut strings = Vec::with_capacity(count);
                for arg in args {
                    match arg {
                        Token::Str(s) => strings.push(s),
                        other => return Err(format!("Service takes string arguments, got {}", other.describe())),
                    }
                }
                let mut it = strings.into_iter();
                match (it.next(), it.next(), it.next(), it.next(), count) {
                    (Some(service), Some(port), Some(protocol), user, 3 | 4) => {
                        Ok(Action::Service { service, port, protocol, user })
                    }
                    _ => Err(format!(
                        "Service takes 4 arguments (service, port, protocol, user) or the legacy 3, got {count}"
                    )),
                }
            }
            "Bootnode" if args.is_empty() => Ok(Action::Bootnode),
            "Bootnode" => Err(format!("Bootnode takes no arguments, got {}", args.len())),
            other => {
                Err(format!("unknown template function {other:?} (known: Port, PortUDP, Service, Bootnode, .Dir)"))
            }
        },
        other => Err(format!("an action must start with a function or .Dir, got {}", other.describe())),
    }
}

/// Decodes a Go interpreted string literal at the start of `s` (which begins with `"`).
/// Returns the value and the literal's length in bytes.
fn unquote_interpreted(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => return Err("newline in string literal".into()),
            '\\' => {
                let (_, esc) = chars.next().ok_or("unterminated string literal")?;
                match esc {
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' | 'u' | 'U' => {
                        let len = match esc {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..len).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == len)
                            .ok_or_else(|| format!("malformed \\{esc} escape in string literal"))?;
                        push_code(&mut out, code, esc == 'x')?;
                    }
                    '0'..='7' => {
                        let mut digits = String::from(esc);
                        for _ in 0..2 {
                            match chars.next() {
                                Some((_, d @ '0'..='7')) => digits.push(d),
                                _ => return Err("malformed octal escape in string literal".into()),
                            }
                        }
                        let code = u32::from_str_radix(&digits, 8).map_err(|e| e.to_string())?;
                        if code > 255 {
                            return Err("octal escape value > 255 in string literal".into());
                        }
                        push_code(&mut out, code, true)?;
                    }
                    other => return Err(format!("unknown escape sequence \\{other} in string literal")),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated string literal".into())
}

/// Appends an escaped code point. Byte escapes (`\x`, octal) above 0x7f would produce invalid
/// UTF-8 in Go; they are rejected rather than guessed at.
fn push_code(out: &mut String, code: u32, byte_escape: bool) -> Result<(), String> {
    if byte_escape && code > 0x7f {
        return Err(format!("byte escape \\x{code:02x} is not valid UTF-8 on its own"));
    }
    let ch = char::from_u32(code).ok_or_else(|| format!("escape U+{code:X} is not a valid character"))?;
    out.push(ch);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_from_the_start_of_the_input() {
        let e = parse(r#"{{.Dir}} and {{Nope}}"#).unwrap_err();
        assert_eq!(e.offset, 13, "the second action starts at byte 13: {e}");
        let e = parse(r#"ab {{.Dir}}{{.Dir}} {{"#).unwrap_err();
        assert_eq!(e.offset, 20, "{e}");
    }

    #[test]
    fn a_single_brace_does_not_close_an_action() {
        assert!(parse("{{.Dir}x}}").is_err());
        assert!(parse("{{Port \"http\" 1 } }}").is_err());
    }

    #[test]
    fn a_trimming_close_after_spaces_consumes_them() {
        let segments = parse("{{.Dir   -}}   tail").unwrap();
        assert_eq!(segments, vec![Segment::Action(Action::Dir), Segment::Text("tail".into())]);
        let segments = parse("x {{.Dir -}}  y").unwrap();
        assert_eq!(segments, vec![Segment::Text("x ".into()), Segment::Action(Action::Dir), Segment::Text("y".into())]);
    }

    #[test]
    fn wrong_tokens_are_named_in_errors() {
        let e = parse("{{Port 8545 8545}}").unwrap_err();
        assert!(e.message.contains("number 8545"), "{e}");
        let e = parse("{{Service foo}}").unwrap_err();
        assert!(e.message.contains("identifier foo"), "{e}");
        let e = parse(r#"{{"x"}}"#).unwrap_err();
        assert!(e.message.contains(r#"string "x""#), "{e}");
        let e = parse("{{.Other}}").unwrap_err();
        assert!(e.message.contains(".Other"), "{e}");
    }

    #[test]
    fn numbers_as_go_reads_them() {
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("-0"), Some(0));
        assert_eq!(parse_int("010"), Some(8), "a leading zero is octal");
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int("1_000"), Some(1000));
        assert_eq!(parse_int("09"), None);
    }

    #[test]
    fn only_names_start_with_a_letter_or_underscore() {
        for action in ["{{Port + 1}}", "{{.Dir | printf}}", "{{Port \"http\" 1 @}}"] {
            let e = parse(action).unwrap_err();
            assert!(e.message.starts_with("unsupported character"), "{action}: {e}");
        }
        // A name may start with `_`: it is read as one (and is no function).
        let e = parse("{{_x}}").unwrap_err();
        assert!(!e.message.starts_with("unsupported character"), "{e}");
    }

    #[test]
    fn octal_escapes_stop_at_255() {
        assert_eq!(unquote_interpreted(r#""\101\060""#), Ok(("A0".to_owned(), 10)));
        assert_eq!(unquote_interpreted(r#""\400""#).unwrap_err(), "octal escape value > 255 in string literal");
        // 255 passes the octal check (as a byte it is not UTF-8: another error, or none).
        let at_255 = unquote_interpreted(r#""\377""#);
        assert_ne!(at_255.err().as_deref(), Some("octal escape value > 255 in string literal"));
    }

    #[test]
    fn byte_escapes_are_ascii_only() {
        let mut out = String::new();
        assert_eq!(push_code(&mut out, 0x7f, true), Ok(()), "DEL is ASCII");
        assert_eq!(push_code(&mut out, 0x41, true), Ok(()));
        assert_eq!(out, "\u{7f}A");
        assert_eq!(push_code(&mut out, 0x80, true).unwrap_err(), "byte escape \\x80 is not valid UTF-8 on its own");
        assert_eq!(push_code(&mut out, 0xe9, false), Ok(()), "a \\u escape may be any character");
        assert_eq!(out, "\u{7f}Aé");
    }

    #[test]
    fn errors_say_where() {
        let e = TemplateError { offset: 7, message: "unclosed action".into() };
        assert_eq!(e.to_string(), "unclosed action (at byte 7)");
    }

    fn service(s: &str, p: &str, proto: &str, user: Option<&str>) -> Action {
        Action::Service { service: s.into(), port: p.into(), protocol: proto.into(), user: user.map(Into::into) }
    }

    #[test]
    fn plain_text_is_one_segment() {
        assert_eq!(parse("--http").unwrap(), vec![Segment::Text("--http".into())]);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn actions_embedded_in_text() {
        let segs = parse(r#"0.0.0.0:{{Port "metrics" 9090}}/x"#).unwrap();
        assert_eq!(
            segs,
            vec![
                Segment::Text("0.0.0.0:".into()),
                Segment::Action(Action::Port { name: "metrics".into(), default: 9090, udp: false }),
                Segment::Text("/x".into()),
            ]
        );
    }

    #[test]
    fn service_forms() {
        assert_eq!(
            parse(r#"{{Service "el" "authrpc" "http" ""}}"#).unwrap(),
            vec![Segment::Action(service("el", "authrpc", "http", Some("")))]
        );
        assert_eq!(
            parse(r#"{{ Service "el" "authrpc" "http" }}"#).unwrap(),
            vec![Segment::Action(service("el", "authrpc", "http", None))]
        );
        assert_eq!(
            parse(r#"{{PortUDP "p2p" 9000}}"#).unwrap(),
            vec![Segment::Action(Action::Port { name: "p2p".into(), default: 9000, udp: true })]
        );
        assert_eq!(parse("{{.Dir}}/jwtsecret").unwrap()[0], Segment::Action(Action::Dir));
        assert_eq!(parse("{{Bootnode}}").unwrap(), vec![Segment::Action(Action::Bootnode)]);
    }

    #[test]
    fn go_string_escapes() {
        let segs = parse(r#"{{Service "a\"b" "p\x41\u00e9\101" `raw\n` "\t"}}"#).unwrap();
        assert_eq!(segs, vec![Segment::Action(service("a\"b", "pAéA", "raw\\n", Some("\t")))]);
    }

    #[test]
    fn close_delimiter_inside_string_does_not_end_action() {
        let segs = parse(r#"{{Service "a}}b" "p" "http" ""}}!"#).unwrap();
        assert_eq!(segs[0], Segment::Action(service("a}}b", "p", "http", Some(""))));
        assert_eq!(segs[1], Segment::Text("!".into()));
    }

    #[test]
    fn trim_markers() {
        let segs = parse("a  {{- .Dir -}}  b").unwrap();
        assert_eq!(segs, vec![Segment::Text("a".into()), Segment::Action(Action::Dir), Segment::Text("b".into())]);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_int("8545"), Some(8545));
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("1_000"), Some(1000));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("-5"), Some(-5));
        assert_eq!(parse_int("12ab"), None);
    }

    #[test]
    fn errors_say_what() {
        let cases = [
            ("{{Foo}}", "unknown template function \"Foo\""),
            ("x {{Port \"http\" 8545", "unclosed action"),
            ("{{Port \"http\"}}", "Port takes 2 arguments"),
            ("{{Port 8545 \"http\"}}", "Port takes a port name string and a port number"),
            ("{{Service \"a\" \"b\"}}", "Service takes 4 arguments"),
            ("{{Service \"a\" \"b\" \"c\" \"d\" \"e\"}}", "Service takes 4 arguments"),
            ("{{.Foo}}", "unknown field .Foo"),
            ("{{}}", "empty action"),
            ("{{Port \"a\" 1 | x}}", "unsupported character '|'"),
            ("{{Port \"a\\q\" 1}}", "unknown escape sequence \\q"),
            ("{{Port \"a 1}}", "unterminated string literal"),
            ("{{Service 1 \"b\" \"c\"}}", "Service takes string arguments"),
            ("{{Bootnode \"x\"}}", "Bootnode takes no arguments"),
        ];
        for (input, want) in cases {
            let e = parse(input).expect_err(input);
            assert!(e.message.contains(want), "{input}: got {:?}, want {want:?}", e.message);
        }
        assert_eq!(parse("ab {{Foo}}").unwrap_err().offset, 3);
    }
}
