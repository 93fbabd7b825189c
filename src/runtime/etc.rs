//! The `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` a container sees:
//! generated into its run dir by the supervisor and bind-mounted over the
//! image's files by the init, as Docker does.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::fsutil::atomic_write;

/// The generated files, by name in the run dir and under the container's `/etc`.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// Docker's `/etc/hosts` for a container named `hostname` with no network
/// address yet: the loopback entries, then the hostname on 127.0.0.1.
pub fn hosts(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n\
         127.0.0.1\t{hostname}\n"
    )
}

/// Writes the three files into `dir`, world-readable (they are bound into
/// the container, whose user may not be root); `resolv.conf` is a copy of
/// the host's (empty when the host has none).
pub fn write_files(dir: &Path, hostname: &str, host_resolv: &Path) -> io::Result<()> {
    let resolv = match std::fs::read(host_resolv) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let contents = [
        format!("{hostname}\n").into_bytes(),
        hosts(hostname).into_bytes(),
        resolv,
    ];
    for (name, bytes) in FILES.iter().zip(contents) {
        let path = dir.join(name);
        atomic_write(&path, &bytes)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_generated_like_dockers() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host-resolv");
        std::fs::write(&host, "nameserver 192.0.2.1\n").unwrap();
        write_files(dir.path(), "box1", &host).unwrap();
        let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
        assert_eq!(read("hostname"), "box1\n");
        let mode = std::fs::metadata(dir.path().join("hosts"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        assert!(
            read("hosts")
                .starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        );
        assert!(read("hosts").ends_with("127.0.0.1\tbox1\n"));
        assert_eq!(read("resolv.conf"), "nameserver 192.0.2.1\n");
        write_files(dir.path(), "box1", &dir.path().join("absent")).unwrap();
        assert_eq!(read("resolv.conf"), "");
    }
}
