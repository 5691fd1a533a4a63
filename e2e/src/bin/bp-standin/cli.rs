//! Command lines parsed the way the real clients parse them: clap for the Rust clients (reth,
//! lighthouse), Go's `flag` package directly (healthmon) or under urfave/cli (geth, op-node,
//! op-batcher), and cobra/pflag (mev-boost-relay). A flag set is a word list written for the
//! stand-in (see [`Spec::new`]); an argument the client would refuse fails with that parser's
//! kind of message and exit code.

/// Which command-line parser a client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Rust's clap: `error: unexpected argument '--foo' found`, exit code 2.
    Clap,
    /// Go's `flag` package with `ExitOnError`: `flag provided but not defined: -foo`, exit code 2.
    GoFlag,
    /// urfave/cli over Go's `flag` package: the same messages, returned as the program's
    /// error (exit code 1).
    Urfave,
    /// cobra over pflag: `unknown flag: --foo`, exit code 1.
    Cobra,
}

/// What a flag takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arity {
    /// A switch (clap `SetTrue`, Go `BoolFlag`).
    Switch,
    /// One value (`--name v`, `--name=v`).
    Value,
    /// Zero or one value (clap `num_args(0..=1)`): the next argument when it is not a flag.
    Optional,
    /// Zero or one value given only as `--name=v` (clap `require_equals`).
    EqualsOnly,
    /// A counted switch (`-vvv`).
    Count,
    /// One or two values (clap `num_args(1..=2)`).
    UpToTwo,
}

#[derive(Debug)]
struct Flag {
    /// The canonical name first, then aliases.
    names: Vec<&'static str>,
    short: Option<char>,
    arity: Arity,
}

/// The flags a client (sub)command accepts.
#[derive(Debug)]
pub struct Spec {
    flags: Vec<Flag>,
}

impl Spec {
    /// A flag set from whitespace-separated words, one per flag: `name` is a switch, `name=`
    /// takes a value, `name?` an optional value, `name~` an optional value given with `=`
    /// only, `name#` is a counted switch, `name+` takes one or two values; `a|b` are a name
    /// and its alias, `x/name` gives the flag the short form `-x`.
    pub fn new(words: &[&'static str]) -> Spec {
        let flags = words
            .iter()
            .flat_map(|w| w.split_whitespace())
            .map(|word| {
                let (short, rest) = match word.split_once('/') {
                    Some((s, rest)) if s.chars().count() == 1 => (s.chars().next(), rest),
                    _ => (None, word),
                };
                let (names, arity) = match rest.as_bytes().last() {
                    Some(b'=') => (&rest[..rest.len() - 1], Arity::Value),
                    Some(b'?') => (&rest[..rest.len() - 1], Arity::Optional),
                    Some(b'~') => (&rest[..rest.len() - 1], Arity::EqualsOnly),
                    Some(b'#') => (&rest[..rest.len() - 1], Arity::Count),
                    Some(b'+') => (&rest[..rest.len() - 1], Arity::UpToTwo),
                    _ => (rest, Arity::Switch),
                };
                Flag { names: names.split('|').collect(), short, arity }
            })
            .collect();
        Spec { flags }
    }

    fn long(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.names.contains(&name))
    }

    fn short(&self, c: char) -> Option<&Flag> {
        self.flags.iter().find(|f| f.short == Some(c))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.flags.len()
    }
}

/// What to do with an argument that is not a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positionals {
    /// An error (a clap command without positional arguments).
    Refuse,
    /// Stop parsing there: it and everything after it are positional (a subcommand, or Go's
    /// `flag` package, which always stops at the first non-flag).
    Stop,
    /// Keep parsing flags after it (clap with positionals, pflag).
    Interspersed,
}

/// A parsed command line.
#[derive(Debug, Default)]
pub struct Parsed {
    /// `(canonical name, value)` in order; a switch has no value, a counted switch one per use.
    pub flags: Vec<(String, Option<String>)>,
    pub positionals: Vec<String>,
}

impl Parsed {
    /// The last value of a flag.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }

    /// Every value of a flag, comma-separated lists split.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.as_deref())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Whether a switch is on: present, and not given as `=false`.
    pub fn on(&self, name: &str) -> bool {
        self.flags.iter().rev().find(|(n, _)| n == name).is_some_and(|(_, v)| !matches!(v.as_deref(), Some("false")))
    }

    /// The parsed flags as `--name value` arguments (for the port parser): what the client
    /// really took as flags, without the arguments it ignored.
    pub fn as_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in &self.flags {
            match value {
                Some(v) => out.push(format!("--{name}={v}")),
                None => out.push(format!("--{name}")),
            }
        }
        out
    }
}

/// A refused command line or a failed check: what the client prints and its exit code.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

/// Parses `args` as the client's parser would. `usage` names the command in clap and cobra
/// messages (`reth node [OPTIONS]`), `program` in Go's (`healthmon`).
pub fn parse(
    style: Style,
    program: &str,
    usage: &str,
    spec: &Spec,
    args: &[String],
    positionals: Positionals,
) -> Result<Parsed, Failure> {
    let result = match style {
        Style::Clap => parse_clap(spec, args, positionals),
        Style::GoFlag | Style::Urfave => parse_go(spec, args),
        Style::Cobra => parse_pflag(spec, args),
    };
    result.map_err(|message| refusal(style, program, usage, &message))
}

/// The parser's complaint as the client prints it.
fn refusal(style: Style, program: &str, usage: &str, message: &str) -> Failure {
    match style {
        Style::Clap => {
            Failure::new(2, format!("error: {message}\n\nUsage: {usage}\n\nFor more information, try '--help'."))
        }
        Style::GoFlag => Failure::new(2, format!("{message}\nUsage of {program}:")),
        Style::Urfave => Failure::new(1, format!("Incorrect Usage: {message}\n\n{message}")),
        Style::Cobra => Failure::new(1, format!("Error: {message}\nUsage:\n  {usage} [flags]\n\n{message}")),
    }
}

fn value_name(name: &str) -> String {
    name.to_ascii_uppercase().replace(['.', '-'], "_")
}

fn looks_like_flag(arg: &str) -> bool {
    arg.starts_with('-') && arg != "-"
}

/// `name=value` → `(name, Some(value))`, `name` → `(name, None)`.
fn split_inline(flag: &str) -> (&str, Option<String>) {
    match flag.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (flag, None),
    }
}

/// The flag a `--name[=value]` argument (without its dashes) names, its name as written and
/// its inline value; `unknown` words the complaint about a name the spec lacks.
fn long_flag<'s, 'a>(
    spec: &'s Spec,
    long: &'a str,
    unknown: impl Fn(&str) -> String,
) -> Result<(&'s Flag, &'a str, Option<String>), String> {
    let (name, inline) = split_inline(long);
    let flag = spec.long(name).ok_or_else(|| unknown(name))?;
    Ok((flag, name, inline))
}

fn parse_clap(spec: &Spec, args: &[String], positionals: Positionals) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            out.positionals.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (flag, name, inline) = long_flag(spec, long, |n| format!("unexpected argument '--{n}' found"))?;
            let canonical = flag.names[0].to_string();
            match flag.arity {
                Arity::Switch | Arity::Count => {
                    if let Some(v) = inline {
                        return Err(format!("unexpected value '{v}' for '--{name}' found; no more were expected"));
                    }
                    out.flags.push((canonical, None));
                }
                Arity::EqualsOnly => out.flags.push((canonical, inline)),
                Arity::Optional => {
                    let value = inline.or_else(|| take_value(args, &mut i));
                    out.flags.push((canonical, value));
                }
                Arity::Value | Arity::UpToTwo => {
                    let value = inline.or_else(|| take_value(args, &mut i)).ok_or_else(|| {
                        format!("a value is required for '--{name} <{}>' but none was supplied", value_name(name))
                    })?;
                    out.flags.push((canonical.clone(), Some(value)));
                    if flag.arity == Arity::UpToTwo
                        && let Some(second) = take_value(args, &mut i)
                    {
                        out.flags.push((canonical, Some(second)));
                    }
                }
            }
            continue;
        }
        if looks_like_flag(arg) {
            // A cluster of short flags: `-vvv`, `-d`, `-t DIR`, `-tDIR`.
            let cluster: Vec<char> = arg[1..].chars().collect();
            let mut j = 0;
            while j < cluster.len() {
                let c = cluster[j];
                let flag = spec.short(c).ok_or_else(|| format!("unexpected argument '-{c}' found"))?;
                let canonical = flag.names[0].to_string();
                j += 1;
                match flag.arity {
                    Arity::Switch | Arity::Count => out.flags.push((canonical, None)),
                    _ => {
                        let rest: String = cluster[j..].iter().collect();
                        let rest = rest.strip_prefix('=').map(str::to_string).unwrap_or(rest);
                        let value = if rest.is_empty() { take_value(args, &mut i) } else { Some(rest) };
                        if value.is_none() && matches!(flag.arity, Arity::Value | Arity::UpToTwo) {
                            return Err(format!(
                                "a value is required for '--{} <{}>' but none was supplied",
                                flag.names[0],
                                value_name(flag.names[0])
                            ));
                        }
                        out.flags.push((canonical, value));
                        break;
                    }
                }
            }
            continue;
        }
        match positionals {
            Positionals::Refuse => return Err(format!("unexpected argument '{arg}' found")),
            Positionals::Stop => {
                out.positionals.extend(args[i - 1..].iter().cloned());
                break;
            }
            Positionals::Interspersed => out.positionals.push(arg.clone()),
        }
    }
    Ok(out)
}

/// The next argument as a value, unless it is a flag (clap does not take `-x` as a value).
fn take_value(args: &[String], i: &mut usize) -> Option<String> {
    let next = args.get(*i).filter(|a| !looks_like_flag(a))?;
    *i += 1;
    Some(next.clone())
}

/// Go's `flag` package: `-name` or `--name`, `=value` or the next argument (whatever it looks
/// like), booleans only with `=`; parsing stops at the first argument that is not a flag.
fn parse_go(spec: &Spec, args: &[String]) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            out.positionals.extend(args[i + 1..].iter().cloned());
            break;
        }
        if !looks_like_flag(arg) {
            out.positionals.extend(args[i..].iter().cloned());
            break;
        }
        i += 1;
        let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(format!("bad flag syntax: {arg}"));
        }
        let (name, inline) = split_inline(body);
        if name == "h" || name == "help" {
            return Err("flag: help requested".into());
        }
        let flag = spec.long(name).ok_or_else(|| format!("flag provided but not defined: -{name}"))?;
        let canonical = flag.names[0].to_string();
        if flag.arity == Arity::Switch {
            if let Some(v) = &inline
                && !matches!(
                    v.as_str(),
                    "1" | "0" | "t" | "f" | "T" | "F" | "true" | "false" | "TRUE" | "FALSE" | "True" | "False"
                )
            {
                return Err(format!("invalid boolean value \"{v}\" for -{name}: parse error"));
            }
            out.flags.push((canonical, inline.map(|v| normalize_bool(&v))));
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                let v = args.get(i).cloned().ok_or_else(|| format!("flag needs an argument: -{name}"))?;
                i += 1;
                v
            }
        };
        out.flags.push((canonical, Some(value)));
    }
    Ok(out)
}

fn normalize_bool(v: &str) -> String {
    if matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True") { "true".into() } else { "false".into() }
}

/// pflag (cobra): `--name`, `--name=v` or `--name v`; `-x` shorthands; arguments that are not
/// flags may come anywhere.
fn parse_pflag(spec: &Spec, args: &[String]) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            out.positionals.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (flag, name, inline) = long_flag(spec, long, |n| format!("unknown flag: --{n}"))?;
            let canonical = flag.names[0].to_string();
            let value = match (flag.arity, inline) {
                (Arity::Switch, v) => v,
                (_, Some(v)) => Some(v),
                (_, None) => {
                    let v = args.get(i).cloned().ok_or_else(|| format!("flag needs an argument: --{name}"))?;
                    i += 1;
                    Some(v)
                }
            };
            out.flags.push((canonical, value));
        } else if looks_like_flag(arg) {
            // `-b`, a cluster of switches `-bt`, or a shorthand with its value: `-r DIR`,
            // `-rDIR`, `-r=DIR`.
            let cluster: Vec<char> = arg[1..].chars().collect();
            for (j, &c) in cluster.iter().enumerate() {
                let flag = spec.short(c).ok_or_else(|| format!("unknown shorthand flag: '{c}' in {arg}"))?;
                if flag.arity == Arity::Switch || flag.arity == Arity::Count {
                    out.flags.push((flag.names[0].to_string(), None));
                    continue;
                }
                let rest: String = cluster[j + 1..].iter().collect();
                let value = match rest.strip_prefix('=').unwrap_or(&rest) {
                    "" => {
                        let v = args.get(i).cloned().ok_or_else(|| format!("flag needs an argument: '{c}' in -{c}"))?;
                        i += 1;
                        v
                    }
                    inline => inline.to_string(),
                };
                out.flags.push((flag.names[0].to_string(), Some(value)));
                break;
            }
        } else {
            out.positionals.push(arg.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn spec() -> Spec {
        Spec::new(&[
            "chain= http d/datadir= v/verbosity# tracing-otlp~ log-color? enr-address+ execution-jwt|jwt-secrets=",
        ])
    }

    #[test]
    fn word_lists_become_flags() {
        let s = spec();
        assert_eq!(s.len(), 8);
        assert_eq!(s.long("jwt-secrets").unwrap().names[0], "execution-jwt");
        assert_eq!(s.short('d').unwrap().arity, Arity::Value);
        assert_eq!(s.long("verbosity").unwrap().arity, Arity::Count);
    }

    #[test]
    fn clap_accepts_its_forms() {
        let p = parse(
            Style::Clap,
            "x",
            "x [OPTIONS]",
            &spec(),
            &args(&[
                "--chain",
                "/g.json",
                "--http",
                "-vvv",
                "-d/data",
                "--tracing-otlp",
                "--log-color",
                "false",
                "--enr-address",
                "127.0.0.1",
                "::1",
                "--jwt-secrets=/j",
            ]),
            Positionals::Refuse,
        )
        .unwrap();
        assert_eq!(p.value("chain"), Some("/g.json"));
        assert_eq!(p.value("datadir"), Some("/data"));
        assert_eq!(p.flags.iter().filter(|(n, _)| n == "verbosity").count(), 3);
        assert_eq!(p.value("log-color"), Some("false"));
        assert_eq!(p.values("enr-address"), ["127.0.0.1", "::1"]);
        assert_eq!(p.value("execution-jwt"), Some("/j"), "an alias counts as its flag");
        assert!(p.on("http") && p.on("tracing-otlp"));
    }

    #[test]
    fn clap_refuses_like_clap() {
        let refuse = |a: &[&str]| {
            parse(Style::Clap, "reth", "reth node [OPTIONS]", &spec(), &args(a), Positionals::Refuse).unwrap_err()
        };
        let unknown = refuse(&["--http", "--foo", "1"]);
        assert_eq!(unknown.code, 2);
        assert_eq!(
            unknown.message,
            "error: unexpected argument '--foo' found\n\nUsage: reth node [OPTIONS]\n\nFor more information, try '--help'."
        );
        assert!(
            refuse(&["--chain"])
                .message
                .starts_with("error: a value is required for '--chain <CHAIN>' but none was supplied")
        );
        assert!(refuse(&["--chain", "--http"]).message.contains("a value is required for '--chain"));
        assert!(refuse(&["--http=yes"]).message.starts_with("error: unexpected value 'yes' for '--http' found"));
        assert!(refuse(&["-x"]).message.starts_with("error: unexpected argument '-x' found"));
        assert!(refuse(&["stray"]).message.starts_with("error: unexpected argument 'stray' found"));
        let sub =
            parse(Style::Clap, "l", "l", &spec(), &args(&["-d", "/x", "bn", "--http"]), Positionals::Stop).unwrap();
        assert_eq!(sub.positionals, ["bn", "--http"]);
    }

    #[test]
    fn go_flag_parsing_stops_at_the_first_argument_that_is_not_a_flag() {
        let s = Spec::new(&["l1= p2p.ban.peers pprof.enabled safedb.path= metrics.enabled"]);
        let p = parse(
            Style::Urfave,
            "op-node",
            "op-node",
            &s,
            &args(&["-l1", "http://x", "--metrics.enabled=1", "--p2p.ban.peers", "true", "--pprof.enabled"]),
            Positionals::Stop,
        )
        .unwrap();
        assert_eq!(p.value("l1"), Some("http://x"));
        assert_eq!(p.value("metrics.enabled"), Some("true"));
        assert!(p.on("p2p.ban.peers"));
        assert!(!p.on("pprof.enabled"), "never parsed");
        assert_eq!(p.positionals, ["true", "--pprof.enabled"]);
        // A value flag takes the next argument whatever it looks like.
        let p = parse(Style::Urfave, "x", "x", &s, &args(&["--l1", "--metrics.enabled"]), Positionals::Stop).unwrap();
        assert_eq!(p.value("l1"), Some("--metrics.enabled"));
    }

    #[test]
    fn go_clients_refuse_like_go() {
        let s = Spec::new(&["chain= url= service.addr= blocktime= verbose"]);
        let refuse =
            |style, a: &[&str]| parse(style, "healthmon", "healthmon", &s, &args(a), Positionals::Stop).unwrap_err();
        let e = refuse(Style::GoFlag, &["--chain", "beacon", "--foo"]);
        assert_eq!((e.code, e.message.as_str()), (2, "flag provided but not defined: -foo\nUsage of healthmon:"));
        assert_eq!(
            refuse(Style::Urfave, &["-foo=1"]).message,
            "Incorrect Usage: flag provided but not defined: -foo\n\nflag provided but not defined: -foo"
        );
        assert_eq!(refuse(Style::Urfave, &["-foo=1"]).code, 1);
        assert!(refuse(Style::GoFlag, &["--url"]).message.starts_with("flag needs an argument: -url"));
        assert!(
            refuse(Style::GoFlag, &["--verbose=maybe"])
                .message
                .starts_with("invalid boolean value \"maybe\" for -verbose")
        );
        assert!(refuse(Style::GoFlag, &["---x"]).message.starts_with("bad flag syntax: ---x"));
    }

    #[test]
    fn cobra_refuses_like_cobra() {
        let s = Spec::new(&["api-listen-addr= api-listen-port= beacon-client-addr= validation-server-addr= h/help"]);
        let p = parse(
            Style::Cobra,
            "r",
            "r",
            &s,
            &args(&["--api-listen-port", "5555", "x", "--api-listen-addr=0.0.0.0"]),
            Positionals::Interspersed,
        )
        .unwrap();
        assert_eq!((p.value("api-listen-port"), p.value("api-listen-addr")), (Some("5555"), Some("0.0.0.0")));
        assert_eq!(p.positionals, ["x"]);
        let e = parse(
            Style::Cobra,
            "r",
            "local-mev-boost-relay",
            &s,
            &args(&["--builder-url", "u"]),
            Positionals::Interspersed,
        )
        .unwrap_err();
        assert_eq!(e.code, 1);
        assert!(
            e.message.starts_with("Error: unknown flag: --builder-url\nUsage:\n  local-mev-boost-relay [flags]"),
            "{}",
            e.message
        );
        let e =
            parse(Style::Cobra, "r", "r", &s, &args(&["--beacon-client-addr"]), Positionals::Interspersed).unwrap_err();
        assert!(e.message.starts_with("Error: flag needs an argument: --beacon-client-addr"));
        let e = parse(Style::Cobra, "r", "r", &s, &args(&["-x"]), Positionals::Interspersed).unwrap_err();
        assert!(e.message.starts_with("Error: unknown shorthand flag: 'x' in -x"));
    }
}
