//! A real registry (Debian's `docker-registry`) inside a test agent's
//! network namespace, on its loopback at 127.0.0.1:5000, storing under the
//! test's root; and a small uploader that pushes images into it with curl
//! (blobs, manifests, indexes), so pulls are tested against content skiff
//! did not make itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::Agent;

pub const ADDR: &str = "127.0.0.1:5000";

pub struct Registry {
    child: Child,
    netns: String,
    /// Where it keeps its blobs.
    pub storage: PathBuf,
    work: PathBuf,
    /// `http://127.0.0.1:5000` or `https://127.0.0.1:5443`.
    pub base: String,
    /// Credentials and TLS options for curl.
    curl_extra: Vec<String>,
}

pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A layer as pushed: its blob (what the manifest names) and its diff ID.
pub struct Blob {
    pub data: Vec<u8>,
    pub media_type: &'static str,
    pub diff_id: String,
}

impl Blob {
    /// A gzip-compressed layer of `tar`.
    pub fn gzip(tar: &[u8]) -> Blob {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, tar).expect("gzip");
        Blob {
            data: gz.finish().expect("gzip"),
            media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip",
            diff_id: digest(tar),
        }
    }

    /// A zstd-compressed OCI layer of `tar`, in `frames` zstd frames one
    /// after another (as a parallel compressor writes them).
    pub fn zstd(tar: &[u8], frames: usize) -> Blob {
        let mut data = Vec::new();
        for part in tar.chunks(tar.len().div_ceil(frames.max(1))) {
            data.extend(zstd::encode_all(part, 3).expect("zstd"));
        }
        Blob {
            data,
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd",
            diff_id: digest(tar),
        }
    }

    /// An uncompressed OCI layer.
    pub fn plain(tar: &[u8]) -> Blob {
        Blob {
            data: tar.to_vec(),
            media_type: "application/vnd.oci.image.layer.v1.tar",
            diff_id: digest(tar),
        }
    }

    pub fn digest(&self) -> String {
        digest(&self.data)
    }
}

/// A tar holding the given files (path, content), mode 0644.
pub fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, path, content.as_bytes()).expect("tar");
    }
    b.into_inner().expect("tar")
}

/// How a test registry is set up beyond the defaults (plain HTTP, no
/// auth, at `ADDR`).
#[derive(Default)]
pub struct Options {
    /// `user:password` accepted through an htpasswd file (bcrypt).
    pub user: Option<(String, String)>,
    /// Serve HTTPS at 127.0.0.1:5443 with this certificate and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// An `auth:` section of the registry's config as is (the bearer-token
    /// mode: `token::TokenIssuer::registry_auth`).
    pub auth: Option<String>,
    /// With `tls`: require a client certificate signed by this CA (PEM);
    /// the harness's own requests present (cert, key).
    pub client_ca: Option<(PathBuf, PathBuf, PathBuf)>,
}

impl Registry {
    /// Start a registry in `a`'s network namespace and wait until it answers.
    pub fn start(a: &Agent) -> Registry {
        Self::start_with(a, Options::default())
    }

    pub fn start_with(a: &Agent, o: Options) -> Registry {
        let work = a.root.join("registry");
        let storage = work.join("storage");
        std::fs::create_dir_all(&storage).expect("registry dir");
        let addr = if o.tls.is_some() { "127.0.0.1:5443" } else { ADDR };
        let mut cfg_text = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        let mut curl_extra = Vec::new();
        if let Some((cert, key)) = &o.tls {
            cfg_text.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            if let Some((ca, cert, key)) = &o.client_ca {
                cfg_text.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
                for (flag, f) in [("--cert", cert), ("--key", key)] {
                    curl_extra.push(flag.to_string());
                    curl_extra.push(f.display().to_string());
                }
            }
        }
        if let Some((user, pass)) = &o.user {
            let hash = bcrypt::hash(pass, 4).expect("bcrypt");
            let file = work.join("htpasswd");
            std::fs::write(&file, format!("{user}:{hash}\n")).expect("htpasswd");
            cfg_text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: skiff-test\n    path: {}\n",
                file.display()
            ));
            curl_extra.push("-u".to_string());
            curl_extra.push(format!("{user}:{pass}"));
        }
        if let Some(section) = &o.auth {
            cfg_text.push_str(section);
        }
        if o.tls.is_some() {
            curl_extra.push("-k".to_string());
        }
        // Behind token auth the registry answers 401 until a client has a token.
        let up = if o.auth.is_some() { "401" } else { "200" };
        let cfg = work.join("config.yml");
        std::fs::write(&cfg, cfg_text).expect("registry config");
        let log = std::fs::File::create(work.join("registry.log")).expect("registry log");
        let access = std::fs::File::create(work.join("access.log")).expect("registry access log");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", a.netns))
            .args(["docker-registry", "serve"])
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(access)
            .stderr(log)
            .spawn()
            .expect("start docker-registry (apt install docker-registry)");
        let scheme = if o.tls.is_some() { "https" } else { "http" };
        let r = Registry {
            child,
            netns: a.netns.clone(),
            storage,
            work,
            base: format!("{scheme}://{addr}"),
            curl_extra,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while r
            .curl(&[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("{}/v2/", r.base),
            ])
            .1
            != up
        {
            assert!(Instant::now() < deadline, "registry did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// The registry's access log so far (Apache combined format: request
    /// line, status, bytes sent).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.work.join("access.log")).unwrap_or_default()
    }

    /// curl inside the namespace: exit code and stdout.
    pub fn curl(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg("curl")
            .args(&self.curl_extra)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("curl");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    fn upload(&self, repo: &str, data: &[u8]) -> String {
        let d = digest(data);
        let file = self.work.join(format!("upload-{}", &d[7..19]));
        std::fs::write(&file, data).expect("blob file");
        // Start an upload session, then finish it with the whole blob.
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let (_, headers) = self.curl(&["-s", "-D", "-", "-o", "/dev/null", "-X", "POST", &start]);
        let location = headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("location").then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no upload location: {headers}"));
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={d}");
        let (code, out) = self.put_file("PUT", &url, "application/octet-stream", &file);
        assert!(code == 0 && out.starts_with("201"), "blob upload {d}: {out}");
        d
    }

    fn put_file(&self, method: &str, url: &str, content_type: &str, file: &Path) -> (i32, String) {
        self.curl(&[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            method,
            "-H",
            &format!("Content-Type: {content_type}"),
            "--data-binary",
            &format!("@{}", file.display()),
            url,
        ])
    }

    /// Push an image of `layers` (bottom first) for `arch` as `repo:tag`
    /// (a Docker schema 2 manifest); returns the manifest's digest and
    /// its bytes.
    pub fn push(&self, repo: &str, tag: &str, layers: &[&Blob], arch: &str) -> (String, Vec<u8>) {
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": layers.iter().map(|_| serde_json::json!({"created": "2026-01-01T00:00:00Z", "created_by": "test"})).collect::<Vec<_>>(),
        }))
        .expect("config");
        let config_digest = self.upload(repo, &config);
        let mut descs = Vec::new();
        for l in layers {
            let d = self.upload(repo, &l.data);
            descs.push(serde_json::json!({"mediaType": l.media_type, "size": l.data.len(), "digest": d}));
        }
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": config_digest},
            "layers": descs,
        }))
        .expect("manifest");
        let d = self.put_manifest(
            repo,
            tag,
            &manifest,
            "application/vnd.docker.distribution.manifest.v2+json",
        );
        (d, manifest)
    }

    /// Push a manifest list naming `entries` (manifest digest and bytes,
    /// architecture) as `repo:tag`.
    pub fn push_index(&self, repo: &str, tag: &str, entries: &[(&str, &[u8], &str)]) -> String {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(d, raw, arch)| {
                serde_json::json!({"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "size": raw.len(), "digest": d, "platform": {"architecture": arch, "os": "linux"}})
            })
            .collect();
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": manifests,
        }))
        .expect("index");
        self.put_manifest(
            repo,
            tag,
            &index,
            "application/vnd.docker.distribution.manifest.list.v2+json",
        )
    }

    fn put_manifest(&self, repo: &str, reference: &str, raw: &[u8], media: &str) -> String {
        let file = self.work.join("manifest.json");
        std::fs::write(&file, raw).expect("manifest file");
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let (code, out) = self.put_file("PUT", &url, media, &file);
        assert!(code == 0 && out.starts_with("201"), "manifest put: {out}");
        digest(raw)
    }

    /// The file the registry serves a blob from (to corrupt it).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
