//! The `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` a container sees:
//! generated into its run dir by the supervisor and bind-mounted over the
//! image's files by the init, as Docker does. The rules follow libnetwork's
//! `etchosts` and `resolvconf` packages (dockerd 20.10).

use std::io;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::spec::EtcSpec;
use crate::fsutil::atomic_write;

/// The generated files, by name in the run dir and under the container's `/etc`.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// The address the embedded resolver answers on inside a container.
pub const EMBEDDED_DNS: &str = "127.0.0.11";

/// Nameservers Docker falls back to when the host only has loopback ones.
pub const FALLBACK_DNS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n\
     ::1\tlocalhost ip6-localhost ip6-loopback\n\
     fe00::0\tip6-localnet\n\
     ff00::0\tip6-mcastprefix\n\
     ff02::1\tip6-allnodes\n\
     ff02::2\tip6-allrouters\n";

/// Docker's `/etc/hosts`: the loopback entries, the `ExtraHosts` (`name:ip`),
/// then the hostname on the container's first address (127.0.0.1 without
/// one); a dotted hostname is listed with its first label too.
pub fn hosts(hostname: &str, etc: &EtcSpec) -> String {
    let mut out = DEFAULT_HOSTS.to_owned();
    for entry in &etc.extra_hosts {
        if let Some((name, ip)) = entry.split_once(':') {
            out.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    let ip = etc.addresses.first().map_or("127.0.0.1", String::as_str);
    match hostname.split_once('.') {
        Some((short, _)) => out.push_str(&format!("{ip}\t{hostname} {short}\n")),
        None => out.push_str(&format!("{ip}\t{hostname}\n")),
    }
    out
}

/// The values of the `keyword` lines of a resolv.conf (comments skipped).
fn values<'a>(content: &'a str, keyword: &str) -> Vec<&'a str> {
    content
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(keyword)).then(|| words.collect::<Vec<_>>())
        })
        .flatten()
        .collect()
}

/// The nameserver addresses of a resolv.conf.
pub fn nameservers(content: &str) -> Vec<IpAddr> {
    values(content, "nameserver")
        .into_iter()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// Where the embedded resolver forwards names it does not know: the
/// container's `Dns` if given, else the host's nameservers without loopback
/// ones, else Docker's fallback servers.
pub fn upstream_servers(host_resolv: &str, dns: &[String]) -> Vec<IpAddr> {
    let given: Vec<IpAddr> = dns.iter().filter_map(|d| d.parse().ok()).collect();
    let list = if given.is_empty() {
        nameservers(host_resolv)
    } else {
        given
    };
    let list: Vec<IpAddr> = list.into_iter().filter(|a| !a.is_loopback()).collect();
    if list.is_empty() {
        FALLBACK_DNS.iter().filter_map(|a| a.parse().ok()).collect()
    } else {
        list
    }
}

/// libnetwork's `resolvconf.Build`: search, nameservers, options.
fn build(dns: &[String], search: &[String], options: &[String]) -> String {
    let mut out = String::new();
    if !search.is_empty() && search.join(" ").trim() != "." {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for ns in dns {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if !options.is_empty() && !options.join(" ").trim().is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// libnetwork's `FilterResolvDNS`: drops loopback nameservers; when none is
/// left, appends the fallback servers.
fn filter_loopback(host: &str) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        let loopback = words.next() == Some("nameserver")
            && words
                .next()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .is_some_and(|a| a.is_loopback());
        if !loopback {
            out.push_str(line);
            out.push('\n');
        }
    }
    if nameservers(&out).is_empty() {
        out.push('\n');
        for ns in FALLBACK_DNS {
            out.push_str(&format!("nameserver {ns}\n"));
        }
    }
    out
}

/// Docker's `/etc/resolv.conf` for a container, from the host's `host`.
pub fn resolv_conf(host: &str, etc: &EtcSpec) -> String {
    let owned = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
    let pick = |given: &[String], keyword| {
        if given.is_empty() {
            owned(values(host, keyword))
        } else {
            given.to_vec()
        }
    };
    let customised =
        !etc.dns.is_empty() || !etc.dns_search.is_empty() || !etc.dns_options.is_empty();
    let base = if customised {
        build(
            &pick(&etc.dns, "nameserver"),
            &pick(&etc.dns_search, "search"),
            &pick(&etc.dns_options, "options"),
        )
    } else if etc.host_files {
        host.to_owned()
    } else {
        filter_loopback(host)
    };
    if !etc.embedded_dns {
        return base;
    }
    // The resolver answers for the network and forwards the rest; IPv6
    // servers stay listed since it only listens on IPv4.
    let mut dns = vec![EMBEDDED_DNS.to_owned()];
    dns.extend(
        nameservers(&base)
            .into_iter()
            .filter(IpAddr::is_ipv6)
            .map(|a| a.to_string()),
    );
    let mut options = owned(values(&base, "options"));
    let user_ndots = options.iter().any(|o| {
        o.strip_prefix("ndots:")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n > 0)
    });
    if !user_ndots {
        options.push("ndots:0".to_owned());
    }
    build(&dns, &owned(values(&base, "search")), &options)
}

fn read_or_empty(path: &Path) -> io::Result<String> {
    match std::fs::read(path) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// Writes the three files into `dir`, world-readable (they are bound into
/// the container, whose user may not be root), from the host's
/// `host_resolv` and (with [`EtcSpec::host_files`]) `host_hosts`.
pub fn write_files(
    dir: &Path,
    hostname: &str,
    etc: &EtcSpec,
    host_resolv: &Path,
    host_hosts: &Path,
) -> io::Result<()> {
    let resolv = resolv_conf(&read_or_empty(host_resolv)?, etc);
    let hosts = if etc.host_files {
        read_or_empty(host_hosts)?
    } else {
        hosts(hostname, etc)
    };
    let contents = [format!("{hostname}\n"), hosts, resolv];
    for (name, text) in FILES.iter().zip(contents) {
        let path = dir.join(name);
        atomic_write(&path, text.as_bytes())?;
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
        let absent = dir.path().join("absent");
        write_files(dir.path(), "box1", &EtcSpec::default(), &host, &absent).unwrap();
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
        write_files(dir.path(), "box1", &EtcSpec::default(), &absent, &absent).unwrap();
        assert_eq!(
            read("resolv.conf"),
            "\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn hosts_name_the_container_address_after_extra_hosts() {
        let etc = EtcSpec {
            addresses: vec!["10.0.0.2".into()],
            extra_hosts: vec!["db:10.9.9.9".into()],
            ..EtcSpec::default()
        };
        let h = hosts("web.example", &etc);
        assert!(h.starts_with(DEFAULT_HOSTS));
        assert!(
            h.ends_with("10.9.9.9\tdb\n10.0.0.2\tweb.example web\n"),
            "{h}"
        );
    }

    #[test]
    fn loopback_nameservers_are_replaced_like_docker() {
        let host = "# generated\nsearch lan\nnameserver 127.0.0.53\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, &EtcSpec::default()),
            "# generated\nsearch lan\noptions edns0\n\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let host = "nameserver 127.0.0.1\nnameserver 192.0.2.53\n";
        assert_eq!(
            resolv_conf(host, &EtcSpec::default()),
            "nameserver 192.0.2.53\n"
        );
        let host_mode = EtcSpec {
            host_files: true,
            ..EtcSpec::default()
        };
        assert_eq!(resolv_conf(host, &host_mode), host);
    }

    #[test]
    fn dns_settings_replace_the_hosts_values() {
        let host = "search lan\nnameserver 192.0.2.53\noptions edns0\n";
        let etc = EtcSpec {
            dns: vec!["192.0.2.1".into()],
            dns_options: vec!["timeout:2".into()],
            ..EtcSpec::default()
        };
        assert_eq!(
            resolv_conf(host, &etc),
            "search lan\nnameserver 192.0.2.1\noptions timeout:2\n"
        );
    }

    #[test]
    fn embedded_dns_is_the_only_ipv4_nameserver_with_ndots_0() {
        let host = "search lan\nnameserver 192.0.2.53\nnameserver 2001:db8::1\n";
        let etc = EtcSpec {
            embedded_dns: true,
            ..EtcSpec::default()
        };
        assert_eq!(
            resolv_conf(host, &etc),
            "search lan\nnameserver 127.0.0.11\nnameserver 2001:db8::1\noptions ndots:0\n"
        );
        let etc = EtcSpec {
            embedded_dns: true,
            dns_options: vec!["ndots:2".into()],
            ..EtcSpec::default()
        };
        assert_eq!(
            resolv_conf(host, &etc),
            "search lan\nnameserver 127.0.0.11\nnameserver 2001:db8::1\noptions ndots:2\n"
        );
    }

    #[test]
    fn upstreams_skip_loopback_and_fall_back() {
        let v = |s: &[&str]| {
            s.iter()
                .map(|a| a.parse().unwrap())
                .collect::<Vec<IpAddr>>()
        };
        assert_eq!(
            upstream_servers("nameserver 127.0.0.53\nnameserver 192.0.2.1\n", &[]),
            v(&["192.0.2.1"])
        );
        assert_eq!(
            upstream_servers("nameserver 127.0.0.53\n", &[]),
            v(&["8.8.8.8", "8.8.4.4"])
        );
        assert_eq!(
            upstream_servers("nameserver 192.0.2.1\n", &["198.51.100.1".into()]),
            v(&["198.51.100.1"])
        );
    }
}
