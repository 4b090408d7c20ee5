//! The image service: what the engine and the API ask of images, after
//! moby's `ImageService`: import an archive, remove by name with Docker's
//! rules, and each container's root filesystem (prepare, mount, hold,
//! unmount, release). Pull, push, save, load and commit land here. It
//! never imports the engine: who uses an image is asked through
//! `ImageUsers`.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::driver::Held;
use super::store::{parse_reference, Image, ImageError, ImageStore, NamedTag};

/// The containers that use images (the engine answers).
pub trait ImageUsers {
    /// Containers made from `image_id`: (container ID, running).
    fn users_of(&self, image_id: &str) -> Vec<(String, bool)>;
}

/// One line of `DELETE /images/{name}`'s answer.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(String),
}

/// What `import` is given besides the archive.
#[derive(Default)]
pub struct ImportOptions {
    /// `--change` instructions.
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub tag: Option<NamedTag>,
    /// RFC 3339; now if absent.
    pub created: Option<String>,
}

impl ImageStore {
    /// `docker import` of the archive at `path` (plain or gzip): one layer,
    /// the config from `--change`. Blocking.
    pub fn import_archive(&self, path: &Path, opts: ImportOptions) -> Result<String, ImageError> {
        let cfg = super::changes::apply(&opts.changes)?;
        let mut f = std::fs::File::open(path)?;
        let mut magic = [0u8; 2];
        let n = f.read(&mut magic)?;
        drop(f);
        let f = std::fs::File::open(path)?;
        let reader: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
            Box::new(flate2::read::GzDecoder::new(f))
        } else {
            Box::new(io::BufReader::new(f))
        };
        let r = self.import(reader, cfg, opts.message, opts.tag.as_ref(), opts.created);
        // Give back what extraction freed: glibc keeps it in this thread's
        // arena otherwise, and an idle agent should stay small.
        // SAFETY: malloc_trim has no preconditions.
        unsafe { libc::malloc_trim(0) };
        r
    }

    /// `docker rmi NAME`: untag while other tags hold the image; delete it
    /// (and the layers nothing else uses) when no tag and no container
    /// does; refuse, as Docker, what containers use unless forced (never
    /// while one runs). Returns the image ID and what was done.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        users: &dyn ImageUsers,
    ) -> Result<(String, Vec<Removed>), ImageError> {
        let img = self.resolve(name)?;
        let short = img.id.trim_start_matches("sha256:")[..12].to_string();
        let users = users.users_of(&img.id);
        let tags = self.tags_of(&img.id);
        let by_tag = parse_reference(name).ok().filter(|t| tags.contains(&t.to_string()));
        if let Some(t) = &by_tag {
            if tags.len() > 1 {
                self.untag(t)?;
                return Ok((img.id, vec![Removed::Untagged(t.to_string())]));
            }
            if let Some((cid, _)) = users.first().filter(|_| !force) {
                return Err(ImageError::InUse {
                    reference: name.to_string(),
                    container: cid[..12].to_string(),
                    image: short,
                });
            }
        } else if tags.len() > 1 && !force {
            return Err(ImageError::MultipleTags(short));
        }
        if let Some((cid, running)) = users.first() {
            if *running || !force {
                return Err(ImageError::UsedByContainer {
                    image: short,
                    container: cid[..12].to_string(),
                    running: *running,
                });
            }
        }
        let mut out = Vec::new();
        for t in tags {
            if let Ok(nt) = parse_reference(&t) {
                self.untag(&nt)?;
                out.push(Removed::Untagged(t));
            }
        }
        for d in self.digests_of(&img.id) {
            self.forget(&d)?;
            out.push(Removed::Untagged(d));
        }
        if users.is_empty() {
            out.extend(self.delete(&img.id)?.into_iter().map(Removed::Deleted));
        }
        Ok((img.id, out))
    }

    /// `docker image prune`: every image no container uses, only untagged
    /// ones unless `all`, those the caller's filters (`allowed`) let go.
    /// Returns what was done and the bytes freed.
    pub fn prune(
        &self,
        all: bool,
        allowed: &dyn Fn(&Image) -> bool,
        users: &dyn ImageUsers,
    ) -> Result<(Vec<Removed>, u64), ImageError> {
        let mut out = Vec::new();
        let mut freed = 0u64;
        for id in self.ids() {
            let Ok(img) = self.load(&id) else { continue };
            let tags = self.tags_of(&img.id);
            if (!all && !tags.is_empty()) || !users.users_of(&img.id).is_empty() {
                continue;
            }
            if !allowed(&img) {
                continue;
            }
            let sizes: Vec<(String, u64)> = img
                .chain_ids()
                .iter()
                .filter_map(|c| self.layers.get(c).ok())
                .map(|l| (l.diff_id, l.size))
                .collect();
            for name in tags.into_iter().chain(self.digests_of(&img.id)) {
                self.forget(&name)?;
                out.push(Removed::Untagged(name));
            }
            for gone in self.delete(&img.id)? {
                freed += sizes.iter().filter(|(d, _)| *d == gone).map(|(_, n)| n).sum::<u64>();
                out.push(Removed::Deleted(gone));
            }
        }
        Ok((out, freed))
    }

    /// Make a container's read-write layer `id` on the image's init layer,
    /// holding at most `size` bytes if given (`--storage-opt size=`); a
    /// `remapped` container's files are owned through the agent's map.
    pub fn prepare(
        &self,
        id: &str,
        image_layer: Option<&str>,
        size: Option<u64>,
        remapped: bool,
    ) -> Result<(), ImageError> {
        let init = self.layers.init_layer(image_layer)?;
        let driver = &self.layers.driver;
        driver.create_container(id, Some(&init), remapped)?;
        if let Some(bytes) = size {
            if let Err(e) = driver.limit(id, bytes) {
                let _ = driver.remove(id);
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Mount a container's root filesystem for one more holder (paired
    /// with `unmount`).
    pub fn mount(&self, id: &str) -> io::Result<PathBuf> {
        self.layers.driver.mount(id)
    }

    /// Mount a container's root filesystem while the guard lives.
    pub fn hold(&self, id: &str) -> io::Result<Held<'_>> {
        self.layers.driver.hold(id)
    }

    pub fn unmount(&self, id: &str) -> io::Result<()> {
        self.layers.driver.unmount(id)
    }

    /// Remove a container's read-write layer (and its own init layer, for
    /// containers made before init layers were shared).
    pub fn release(&self, id: &str) -> io::Result<()> {
        self.layers.driver.remove(id)?;
        self.layers.driver.remove(&format!("{id}-init"))
    }
}
