//! Volumes on this host, Docker's `local` driver: named and anonymous
//! volumes under `<data-root>/volumes/<name>/_data` (`local`), the
//! containers that reference each one (a volume is "in use" while any
//! container, running or not, does), and which of them hold it mounted
//! (a volume with driver options is mounted on first use and unmounted
//! when the last user stops). Filling a new volume from the image is
//! `copy`; list and prune filters are `filter`.
//!
//! References and mounts live in memory: the engine rebuilds them from
//! its container records when the agent starts.

pub mod copy;
pub mod filter;
pub mod local;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use thiserror::Error;

pub use local::{Meta, DRIVER};

#[derive(Debug, Error)]
pub enum VolError {
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("error looking up volume plugin {0}: plugin \"{0}\" not found")]
    NoDriver(String),
    #[error("{0}")]
    Invalid(String),
    #[error("remove {name}: volume is in use - [{}]", .refs.join(", "))]
    InUse { name: String, refs: Vec<String> },
    #[error("{0}")]
    Mount(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

pub type Result<T> = std::result::Result<T, VolError>;

/// What a volume is made with.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// Empty: an anonymous volume (a random 64-hex name).
    pub name: String,
    /// Empty or `local`.
    pub driver: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Default)]
struct State {
    vols: BTreeMap<String, Meta>,
    /// Volume → the containers that reference it.
    refs: HashMap<String, BTreeSet<String>>,
    /// Volume → who holds it mounted (containers, a copy-up).
    active: HashMap<String, BTreeSet<String>>,
}

impl State {
    /// A volume's metadata, or Docker's "no such volume".
    fn meta(&self, name: &str) -> Result<Meta> {
        self.vols
            .get(name)
            .cloned()
            .ok_or_else(|| VolError::NotFound(name.to_string()))
    }
}

pub struct Volumes {
    local: local::Local,
    state: Mutex<State>,
}

impl Volumes {
    /// Load every volume under `<data_root>/volumes`; new volumes belong
    /// to `owner` (host IDs of containers' root).
    pub fn open(data_root: &Path, owner: (u32, u32)) -> io::Result<Self> {
        let local = local::Local::open(&data_root.join("volumes"), owner)?;
        let vols = local.load().into_iter().map(|m| (m.name.clone(), m)).collect();
        Ok(Self {
            local,
            state: Mutex::new(State {
                vols,
                ..Default::default()
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where a volume's content is, as `Mountpoint` shows it.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.local.data(name)
    }

    /// Make a volume, or return the one of that name (as Docker, whatever
    /// labels and options were given). With `reference`, the container is
    /// recorded as a user in the same step, so no removal slips between.
    /// True when it was made now.
    pub fn create(&self, spec: &Spec, reference: Option<&str>) -> Result<(Meta, bool)> {
        if !spec.driver.is_empty() && spec.driver != DRIVER {
            return Err(VolError::NoDriver(spec.driver.clone()));
        }
        let name = if spec.name.is_empty() {
            crate::ids::new_id()
        } else {
            spec.name.clone()
        };
        let invalid = |m: String| VolError::Invalid(format!("create {name}: {m}"));
        skiff_api::check_volume_name(&name).map_err(invalid)?;
        if let Some(o) = &spec.options {
            local::validate_options(o).map_err(invalid)?;
        }
        let mut st = self.state();
        let (meta, made) = match st.vols.get(&name) {
            Some(m) => (m.clone(), false),
            None => {
                let meta = Meta {
                    name: name.clone(),
                    created_at: local::now(),
                    labels: spec.labels.clone(),
                    options: spec.options.clone(),
                };
                self.local.create(&meta)?;
                st.vols.insert(name.clone(), meta.clone());
                (meta, true)
            }
        };
        if let Some(r) = reference {
            st.refs.entry(name).or_default().insert(r.to_string());
        }
        Ok((meta, made))
    }

    pub fn get(&self, name: &str) -> Result<Meta> {
        self.state().meta(name)
    }

    /// Look a volume up and record `container` as its user.
    pub fn reference(&self, name: &str, container: &str) -> Result<Meta> {
        let mut st = self.state();
        let meta = st.meta(name)?;
        st.refs
            .entry(name.to_string())
            .or_default()
            .insert(container.to_string());
        Ok(meta)
    }

    /// `container` no longer uses the volume.
    pub fn release(&self, name: &str, container: &str) {
        let mut st = self.state();
        if let Some(r) = st.refs.get_mut(name) {
            r.remove(container);
            if r.is_empty() {
                st.refs.remove(name);
            }
        }
    }

    /// Every volume with the containers that reference it.
    pub fn list(&self) -> Vec<(Meta, Vec<String>)> {
        let st = self.state();
        st.vols
            .values()
            .map(|m| {
                let refs = st
                    .refs
                    .get(&m.name)
                    .map(|r| r.iter().cloned().collect())
                    .unwrap_or_default();
                (m.clone(), refs)
            })
            .collect()
    }

    /// Remove a volume no container references. `force` only forgives a
    /// volume that does not exist (Docker's purge on error). True when one
    /// was removed.
    pub fn remove(&self, name: &str, force: bool) -> Result<bool> {
        let aside = {
            let mut st = self.state();
            if !st.vols.contains_key(name) {
                return if force {
                    Ok(false)
                } else {
                    Err(VolError::NotFound(name.to_string()))
                };
            }
            if let Some(refs) = st.refs.get(name).filter(|r| !r.is_empty()) {
                return Err(VolError::InUse {
                    name: name.to_string(),
                    refs: refs.iter().cloned().collect(),
                });
            }
            let aside = self.local.take_out(name)?;
            st.vols.remove(name);
            st.active.remove(name);
            aside
        };
        // Outside the lock: a big volume takes a while.
        if let Err(e) = std::fs::remove_dir_all(&aside) {
            tracing::warn!(volume = %name, "deleting {}: {e}", aside.display());
        }
        Ok(true)
    }

    /// Hold the volume mounted for `holder` (a container ID, or a copy-up)
    /// and return the directory to bind into the container. A volume with
    /// driver options is mounted by its first holder.
    pub fn mount(&self, name: &str, holder: &str) -> Result<PathBuf> {
        let mut st = self.state();
        let meta = st.meta(name)?;
        let first = st.active.get(name).is_none_or(BTreeSet::is_empty);
        if first && meta.mounted() {
            self.local.mount(&meta).map_err(VolError::Mount)?;
        }
        st.active
            .entry(name.to_string())
            .or_default()
            .insert(holder.to_string());
        Ok(self.local.data(name))
    }

    /// `holder` lets go; the last one unmounts a volume with driver
    /// options. True when `holder` had it.
    pub fn unmount(&self, name: &str, holder: &str) -> bool {
        let mut st = self.state();
        let Some(holders) = st.active.get_mut(name) else {
            return false;
        };
        let had = holders.remove(holder);
        if holders.is_empty() {
            st.active.remove(name);
            if st.vols.get(name).is_some_and(Meta::mounted) {
                if let Err(e) = self.local.unmount(name) {
                    tracing::warn!(volume = %name, "unmount: {e}");
                }
            }
        }
        had
    }

    /// Let go of every volume `holder` holds: the names it had.
    pub fn unmount_all(&self, holder: &str) -> Vec<String> {
        let names: Vec<String> = self
            .state()
            .active
            .iter()
            .filter(|(_, h)| h.contains(holder))
            .map(|(n, _)| n.clone())
            .collect();
        names.into_iter().filter(|n| self.unmount(n, holder)).collect()
    }

    /// After an agent restart: unmount what no holder was found for (the
    /// container ended while no agent was there).
    pub fn sweep(&self) {
        let st = self.state();
        for m in st.vols.values().filter(|m| m.mounted()) {
            if !st.active.contains_key(&m.name) && self.local.is_mounted(&m.name) {
                tracing::info!(volume = %m.name, "unmounting a volume no running container uses");
                if let Err(e) = self.local.unmount(&m.name) {
                    tracing::warn!(volume = %m.name, "unmount: {e}");
                }
            }
        }
    }

    /// Bytes a volume holds.
    pub fn size(&self, name: &str) -> u64 {
        self.local.size(name)
    }

    /// A volume as the API shows it.
    pub fn to_api(&self, m: &Meta) -> skiff_api::Volume {
        skiff_api::Volume {
            created_at: m.created_at.clone(),
            driver: DRIVER.into(),
            labels: m.labels.clone(),
            mountpoint: self.mountpoint(&m.name).display().to_string(),
            name: m.name.clone(),
            options: m.options.clone(),
            scope: "local".into(),
            usage_data: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> Spec {
        Spec {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn references_keep_a_volume_and_force_forgives_only_absence() {
        let root = std::env::temp_dir().join(format!("skiff-vols-{}", crate::ids::new_id()));
        let v = Volumes::open(&root, (0, 0)).unwrap();
        let (m, made) = v.create(&spec("data"), Some("c1")).unwrap();
        assert!(made && m.labels.is_none());
        let labelled = Spec {
            labels: Some(BTreeMap::new()),
            ..spec("data")
        };
        assert!(!v.create(&labelled, None).unwrap().1, "same name: the same volume");
        assert_eq!(
            v.remove("data", true).unwrap_err().to_string(),
            "remove data: volume is in use - [c1]"
        );
        v.release("data", "c1");
        assert!(v.remove("data", false).unwrap());
        assert_eq!(
            v.remove("data", false).unwrap_err().to_string(),
            "get data: no such volume"
        );
        assert!(!v.remove("data", true).unwrap());
        let (anon, _) = v.create(&spec(""), None).unwrap();
        assert_eq!(anon.name.len(), 64);
        let e = v.create(&spec("a"), None).unwrap_err().to_string();
        assert!(e.starts_with("create a: volume name is too short"), "{e}");
        let e = v
            .create(
                &Spec {
                    driver: "nfs3".into(),
                    ..spec("x1")
                },
                None,
            )
            .unwrap_err();
        assert!(matches!(e, VolError::NoDriver(_)));
        // Loaded back as it was.
        drop(v);
        let v = Volumes::open(&root, (0, 0)).unwrap();
        assert_eq!(v.list().len(), 1);
        assert!(v.mount(&anon.name, "c2").unwrap().ends_with("_data"));
        assert_eq!(v.unmount_all("c2"), vec![anon.name.clone()]);
        assert!(!v.unmount(&anon.name, "c2"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
