//! Just enough JSON to read JSON-RPC requests, genesis files and replies without a dependency:
//! values keep their raw text.

#[derive(Debug)]
pub struct Value {
    pub raw: String,
    pub kind: Kind,
}

#[derive(Debug)]
pub enum Kind {
    Object(Vec<(String, Value)>),
    Array(Vec<Value>),
    String(String),
    Other,
}

impl Value {
    pub fn member(&self, key: &str) -> Option<&Value> {
        match &self.kind {
            Kind::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn string(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The member at the end of `keys` (`["config", "chainId"]`).
    pub fn at(&self, keys: &[&str]) -> Option<&Value> {
        keys.iter().try_fold(self, |v, k| v.member(k))
    }

    /// A non-negative integer written as a JSON number, a decimal string or a `0x` hex string
    /// (genesis files use all three).
    pub fn as_u64(&self) -> Option<u64> {
        let text = match &self.kind {
            Kind::String(s) => s.as_str(),
            Kind::Other => self.raw.as_str(),
            _ => return None,
        };
        match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self.kind, Kind::Object(_))
    }
}

/// Parses one JSON document (nothing but whitespace may follow).
pub fn parse(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let (value, end) = value(text, bytes, skip_ws(bytes, 0))?;
    (skip_ws(bytes, end) == bytes.len()).then_some(value)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn value(text: &str, b: &[u8], start: usize) -> Option<(Value, usize)> {
    let (kind, end) = match *b.get(start)? {
        b'{' => {
            let mut members = Vec::new();
            let mut i = skip_ws(b, start + 1);
            if b.get(i) == Some(&b'}') {
                i += 1;
            } else {
                loop {
                    let (key, after_key) = string(b, i)?;
                    i = skip_ws(b, after_key);
                    (b.get(i) == Some(&b':')).then_some(())?;
                    let (v, after_value) = value(text, b, skip_ws(b, i + 1))?;
                    members.push((key, v));
                    i = skip_ws(b, after_value);
                    match b.get(i)? {
                        b',' => i = skip_ws(b, i + 1),
                        b'}' => break i += 1,
                        _ => return None,
                    }
                }
            }
            (Kind::Object(members), i)
        }
        b'[' => {
            let mut items = Vec::new();
            let mut i = skip_ws(b, start + 1);
            if b.get(i) == Some(&b']') {
                i += 1;
            } else {
                loop {
                    let (v, after) = value(text, b, i)?;
                    items.push(v);
                    i = skip_ws(b, after);
                    match b.get(i)? {
                        b',' => i = skip_ws(b, i + 1),
                        b']' => break i += 1,
                        _ => return None,
                    }
                }
            }
            (Kind::Array(items), i)
        }
        b'"' => {
            let (s, end) = string(b, start)?;
            (Kind::String(s), end)
        }
        _ => {
            let mut i = start;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b"+-.".contains(&b[i])) {
                i += 1;
            }
            let token = &text[start..i];
            let ok = matches!(token, "true" | "false" | "null") || token.parse::<f64>().is_ok();
            ok.then_some((Kind::Other, i))?
        }
    };
    Some((Value { raw: text[start..end].to_string(), kind }, end))
}

/// A string at `start` (which must be `"`): its content (escapes kept as written) and end.
fn string(b: &[u8], start: usize) -> Option<(String, usize)> {
    (b.get(start) == Some(&b'"')).then_some(())?;
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some((String::from_utf8_lossy(&b[start + 1..i]).into_owned(), i + 1)),
            _ => i += 1,
        }
    }
    None
}
