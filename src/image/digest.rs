//! Hashing helpers: `sha256:` digests, hashing readers, chain IDs and compression sniffing.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

/// Buffer size for every streaming copy in the image store.
pub const BUF_SIZE: usize = 1 << 20;

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Formats a finished hasher as `sha256:<hex>`.
pub fn finish(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The hex part of a `sha256:<hex>` digest (the whole string if it has no algorithm).
pub fn hex_part(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The 12-digit short form Docker prints (`stringid.TruncateID`).
pub fn short_id(id: &str) -> &str {
    let h = hex_part(id);
    &h[..h.len().min(12)]
}

/// Chain IDs of a layer stack (OCI image spec): `chain[0] = diff[0]`,
/// `chain[n] = sha256(chain[n-1] + " " + diff[n])`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256_digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads `inner` to its end (hashing it) and returns the digest and byte count.
    pub fn drain(mut self) -> io::Result<(String, u64)> {
        let mut buf = vec![0u8; 64 * 1024];
        while self.read(&mut buf)? != 0 {}
        Ok((finish(self.hasher), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// How a layer blob is compressed, decided by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Sniffs the compression from the first bytes of a blob.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The media type Docker uses for a layer blob compressed this way.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.docker.image.rootfs.diff.tar",
            Compression::Gzip => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// Wraps `r` in the matching decompressor.
    pub fn decoder<'a, R: Read + Send + 'a>(self, r: R) -> io::Result<Box<dyn Read + Send + 'a>> {
        Ok(match self {
            Compression::None => Box::new(r),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
                io::BufReader::with_capacity(BUF_SIZE, r),
            )),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(
                io::BufReader::with_capacity(BUF_SIZE, r),
            )?),
        })
    }
}

/// Whether the first bytes of a file look like a layer: compressed, or a tar (`ustar` at 257).
pub fn looks_like_layer(head: &[u8]) -> bool {
    Compression::detect(head) != Compression::None || head.get(257..262) == Some(b"ustar")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let a = sha256_digest(b"a");
        let b = sha256_digest(b"b");
        let chain = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chain[0], a);
        assert_eq!(chain[1], sha256_digest(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn hashing_reader_hashes_everything() {
        let r = HashingReader::new(&b"hello"[..]);
        let (d, n) = r.drain().unwrap();
        assert_eq!(n, 5);
        assert_eq!(d, sha256_digest(b"hello"));
        assert_eq!(short_id(&d).len(), 12);
    }

    #[test]
    fn compression_is_sniffed() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"{\"a\":1}"), Compression::None);
        assert!(!looks_like_layer(b"{}"));
    }
}
