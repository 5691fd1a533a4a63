//! A small deterministic tar writer (ustar headers, PAX records for names over 100 bytes) and
//! a reader for what it writes. Every entry is owned by 0:0 with a fixed mtime, so the same
//! input always gives the same bytes.

use std::io::{self, Read, Write};

/// The mtime of every entry: 2020-01-01T00:00:00Z.
pub const MTIME: u64 = 1_577_836_800;

const BLOCK: usize = 512;

/// Kind of a tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

impl Kind {
    fn typeflag(self) -> u8 {
        match self {
            Kind::File => b'0',
            Kind::Dir => b'5',
            Kind::Symlink => b'2',
        }
    }
}

/// Writes the header(s) of one entry: a PAX record first when `path` or `link` does not fit
/// the ustar fields. `path` is relative (no leading `/`); directories get a trailing `/`.
pub fn write_header(out: &mut impl Write, path: &str, kind: Kind, mode: u32, size: u64, link: &str) -> io::Result<()> {
    let name = if kind == Kind::Dir { format!("{path}/") } else { path.to_string() };
    if name.len() > 100 || link.len() > 100 {
        let mut records = Vec::new();
        if name.len() > 100 {
            records.extend(pax_record("path", &name));
        }
        if link.len() > 100 {
            records.extend(pax_record("linkpath", link));
        }
        let pax_name = format!("PaxHeaders/{}", truncate(name.rsplit('/').find(|s| !s.is_empty()).unwrap_or("x"), 80));
        out.write_all(&ustar_header(&pax_name, b'x', 0o644, records.len() as u64, ""))?;
        out.write_all(&records)?;
        write_padding(out, records.len() as u64)?;
    }
    out.write_all(&ustar_header(truncate(&name, 100), kind.typeflag(), mode, size, truncate(link, 100)))
}

/// Pads an entry's data of `size` bytes to a whole block.
pub fn write_padding(out: &mut impl Write, size: u64) -> io::Result<()> {
    let rem = (size % BLOCK as u64) as usize;
    if rem != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
    }
    Ok(())
}

/// The two zero blocks that end an archive.
pub fn write_end(out: &mut impl Write) -> io::Result<()> {
    out.write_all(&[0u8; 2 * BLOCK])
}

/// A whole file entry from bytes in memory.
pub fn write_file(out: &mut impl Write, path: &str, mode: u32, data: &[u8]) -> io::Result<()> {
    write_header(out, path, Kind::File, mode, data.len() as u64, "")?;
    out.write_all(data)?;
    write_padding(out, data.len() as u64)
}

/// Cuts `s` to at most `max` bytes on a char boundary (only for fields a PAX record overrides).
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One PAX record, `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while len.to_string().len() + body.len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

fn ustar_header(name: &str, typeflag: u8, mode: u32, size: u64, link: &str) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], MTIME);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    // The checksum is computed with its own field as spaces: six octal digits, NUL, space.
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let digits = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(digits.as_bytes());
    h
}

/// Zero-padded octal digits filling `field` but its last byte, which stays NUL.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let digits = format!("{value:0width$o}");
    field[..width].copy_from_slice(&digits.as_bytes()[digits.len() - width..]);
    field[width] = 0;
}

/// One entry read back from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadEntry {
    /// Path as written (directories end in `/`).
    pub path: String,
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    pub link: String,
    /// The data, when the caller asked for it.
    pub data: Option<Vec<u8>>,
}

/// Reads every entry of an archive (ustar and PAX `path`/`linkpath` records); the data of the
/// entries for which `want` is true is kept, the rest is skipped.
pub fn read_entries(mut r: impl Read, want: impl Fn(&str) -> bool) -> io::Result<Vec<ReadEntry>> {
    let mut entries = Vec::new();
    let mut pax_path = None;
    let mut pax_link = None;
    loop {
        let mut h = [0u8; BLOCK];
        if !read_block(&mut r, &mut h)? || h.iter().all(|&b| b == 0) {
            return Ok(entries);
        }
        let stored: u32 = parse_octal(&h[148..156])? as u32;
        let mut check = h;
        check[148..156].fill(b' ');
        if check.iter().map(|&b| u32::from(b)).sum::<u32>() != stored {
            return Err(invalid("tar header checksum mismatch"));
        }
        let size = parse_octal(&h[124..136])?;
        let typeflag = h[156];
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        if typeflag == b'x' {
            let mut records = vec![0u8; padded as usize];
            r.read_exact(&mut records)?;
            records.truncate(size as usize);
            for (key, value) in parse_pax(&records)? {
                match key.as_str() {
                    "path" => pax_path = Some(value),
                    "linkpath" => pax_link = Some(value),
                    _ => {}
                }
            }
            continue;
        }
        let path = pax_path.take().unwrap_or_else(|| cstr(&h[0..100]));
        let link = pax_link.take().unwrap_or_else(|| cstr(&h[157..257]));
        let data = if want(&path) {
            let mut data = vec![0u8; padded as usize];
            r.read_exact(&mut data)?;
            data.truncate(size as usize);
            Some(data)
        } else {
            io::copy(&mut (&mut r).take(padded), &mut io::sink())?;
            None
        };
        entries.push(ReadEntry {
            path,
            typeflag,
            mode: parse_octal(&h[100..108])? as u32,
            uid: parse_octal(&h[108..116])?,
            gid: parse_octal(&h[116..124])?,
            mtime: parse_octal(&h[136..148])?,
            size,
            link,
            data,
        });
    }
}

/// Reads one block; false at a clean end of input.
fn read_block(r: &mut impl Read, block: &mut [u8; BLOCK]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < BLOCK {
        match r.read(&mut block[filled..])? {
            0 if filled == 0 => return Ok(false),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => filled += n,
        }
    }
    Ok(true)
}

fn parse_octal(field: &[u8]) -> io::Result<u64> {
    let s = cstr(field);
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| invalid("bad octal field in tar header"))
}

fn parse_pax(mut records: &[u8]) -> io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    while !records.is_empty() {
        let space = records.iter().position(|&b| b == b' ').ok_or_else(|| invalid("bad PAX record"))?;
        let len: usize = std::str::from_utf8(&records[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&l| l > space && l <= records.len())
            .ok_or_else(|| invalid("bad PAX record length"))?;
        let record = std::str::from_utf8(&records[space + 1..len - 1]).map_err(|_| invalid("PAX record not UTF-8"))?;
        let (key, value) = record.split_once('=').ok_or_else(|| invalid("PAX record without '='"))?;
        out.push((key.to_string(), value.to_string()));
        records = &records[len..];
    }
    Ok(out)
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_record("path", "abc");
        assert_eq!(r, b"12 path=abc\n");
        let long = "x".repeat(95);
        let r = pax_record("path", &long);
        assert_eq!(String::from_utf8(r.clone()).unwrap().split(' ').next().unwrap().parse::<usize>().unwrap(), r.len());
    }

    #[test]
    fn round_trip_with_long_names_and_gnu_tar_agrees() {
        let long_dir = format!("a/{}", "d".repeat(120));
        let long_file = format!("{long_dir}/f");
        let long_target = format!("/{}", "t".repeat(150));
        let mut buf = Vec::new();
        write_header(&mut buf, "a", Kind::Dir, 0o755, 0, "").unwrap();
        write_header(&mut buf, &long_dir, Kind::Dir, 0o1777, 0, "").unwrap();
        write_file(&mut buf, &long_file, 0o640, b"hello").unwrap();
        write_header(&mut buf, "a/l", Kind::Symlink, 0o777, 0, &long_target).unwrap();
        write_end(&mut buf).unwrap();
        assert_eq!(buf.len() % BLOCK, 0);

        let entries = read_entries(&buf[..], |_| true).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["a/", &format!("{long_dir}/") as &str, &long_file, "a/l"]);
        assert_eq!(entries[1].mode, 0o1777);
        assert_eq!(entries[2].data.as_deref(), Some(&b"hello"[..]));
        assert_eq!(entries[3].link, long_target);
        assert!(entries.iter().all(|e| e.uid == 0 && e.gid == 0 && e.mtime == MTIME));

        // GNU tar (always on Debian) reads the same names, modes and link target.
        let dir = tempfile::tempdir().unwrap();
        let tar_path = dir.path().join("t.tar");
        std::fs::write(&tar_path, &buf).unwrap();
        let out = std::process::Command::new("tar").arg("-tvf").arg(&tar_path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listing = String::from_utf8(out.stdout).unwrap();
        assert!(listing.contains(&long_file), "{listing}");
        assert!(listing.contains(&format!("a/l -> {long_target}")), "{listing}");
        assert!(listing.contains("drwxrwxrwt"), "{listing}");
        assert!(listing.contains("-rw-r----- 0/0"), "{listing}");
    }
}
