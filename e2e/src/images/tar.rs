//! Deterministic entries for the `tar` crate's [`Builder`]: ustar headers owned by 0:0 with a
//! fixed mtime and no user or group name, PAX records (the crate's) for names over 100 bytes,
//! so the same input always gives the same bytes.

use std::io::{self, Read, Write};

use ::tar::{Builder, EntryType, Header};

/// The mtime of every entry: 2020-01-01T00:00:00Z.
pub const MTIME: u64 = 1_577_836_800;

/// Length of the ustar `name` and `linkname` fields.
const FIELD: usize = 100;

/// Appends one entry: its header and `data`, which must be exactly `size` bytes (zero for a
/// directory or a symlink). `path` is relative (no leading `/`); a directory's gets a trailing
/// `/`. A path or `link` too long for the ustar fields goes into a PAX extended header first;
/// the ustar fields then hold a truncated copy.
pub fn append<W: Write>(
    out: &mut Builder<W>,
    path: &str,
    kind: EntryType,
    mode: u32,
    link: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let name = if kind.is_dir() { format!("{path}/") } else { path.to_string() };
    let long: Vec<(&str, &[u8])> = [("path", name.as_str()), ("linkpath", link)]
        .into_iter()
        .filter(|(_, v)| v.len() > FIELD)
        .map(|(k, v)| (k, v.as_bytes()))
        .collect();
    out.append_pax_extensions(long)?;

    let mut header = Header::new_ustar();
    if name.len() <= FIELD {
        header.set_path(&name)?;
    } else {
        let short = truncate(&name, FIELD);
        header.as_old_mut().name[..short.len()].copy_from_slice(short.as_bytes());
    }
    header.set_link_name_literal(truncate(link, FIELD))?;
    header.set_entry_type(kind);
    header.set_mode(mode & 0o7777);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(size);
    header.set_mtime(MTIME);
    header.set_device_major(0)?;
    header.set_device_minor(0)?;
    header.set_cksum();
    // GNU tar's layout of the checksum field (six digits, NUL, space) rather than the crate's
    // (seven digits, NUL): the same value, and the same bytes as the archives built before.
    let sum = header.cksum()?;
    header.as_old_mut().cksum.copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.append(&header, data)
}

/// A regular file from bytes in memory.
pub fn append_bytes<W: Write>(out: &mut Builder<W>, path: &str, mode: u32, data: &[u8]) -> io::Result<()> {
    append(out, path, EntryType::Regular, mode, "", data.len() as u64, data)
}

/// Cuts `s` to at most `max` bytes on a char boundary (only for fields a PAX record overrides).
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_round_trip_and_gnu_tar_agrees() {
        let long_dir = format!("a/{}", "d".repeat(120));
        let long_file = format!("{long_dir}/f");
        let long_target = format!("/{}", "t".repeat(150));
        let mut out = Builder::new(Vec::new());
        append(&mut out, "a", EntryType::Directory, 0o755, "", 0, io::empty()).unwrap();
        append(&mut out, &long_dir, EntryType::Directory, 0o1777, "", 0, io::empty()).unwrap();
        append_bytes(&mut out, &long_file, 0o640, b"hello").unwrap();
        append(&mut out, "a/l", EntryType::Symlink, 0o777, &long_target, 0, io::empty()).unwrap();
        let buf = out.into_inner().unwrap();
        assert_eq!(buf.len() % 512, 0);

        let mut archive = ::tar::Archive::new(&buf[..]);
        let mut read = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let h = entry.header().clone();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()), (0, 0, MTIME));
            assert_eq!((h.username_bytes(), h.groupname_bytes()), (Some(&b""[..]), Some(&b""[..])));
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            let link = entry.link_name_bytes().map(|l| String::from_utf8(l.into_owned()).unwrap());
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            read.push((path, h.mode().unwrap(), link, data));
        }
        let names: Vec<_> = read.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["a/", &format!("{long_dir}/") as &str, &long_file, "a/l"]);
        assert_eq!(read[1].1, 0o1777);
        assert_eq!(read[2].3, b"hello");
        assert_eq!(read[3].2.as_deref(), Some(long_target.as_str()));

        // GNU tar (always on Debian) reads the same names, modes and link target, silently.
        let dir = tempfile::tempdir().unwrap();
        let tar_path = dir.path().join("t.tar");
        std::fs::write(&tar_path, &buf).unwrap();
        let out = std::process::Command::new("tar").arg("-tvf").arg(&tar_path).output().unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
        let listing = String::from_utf8(out.stdout).unwrap();
        assert!(listing.contains(&long_file), "{listing}");
        assert!(listing.contains(&format!("a/l -> {long_target}")), "{listing}");
        assert!(listing.contains("drwxrwxrwt"), "{listing}");
        assert!(listing.contains("-rw-r----- 0/0"), "{listing}");
    }

    #[test]
    fn header_checksum_has_gnu_tar_layout() {
        let mut out = Builder::new(Vec::new());
        append_bytes(&mut out, "f", 0o644, b"x").unwrap();
        let buf = out.into_inner().unwrap();
        let header = Header::from_byte_slice(&buf[..512]);
        let sum = header.cksum().unwrap();
        assert_eq!(&header.as_old().cksum, format!("{sum:06o}\0 ").as_bytes());
        let mut check = buf[..512].to_vec();
        check[148..156].fill(b' ');
        assert_eq!(check.iter().map(|&b| u32::from(b)).sum::<u32>(), sum);
    }
}
