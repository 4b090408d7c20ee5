//! `docker diff` and `docker commit` of a container: the engine's part is
//! the container (its config, its image, pausing it while its layer is
//! read); the layer work is the image service's (`images/commit.rs`).

use std::sync::Arc;

use skiff_api::ContainerConfig;

use super::{Engine, EngineError, Result};
use crate::images::commit::CommitOptions;
use crate::images::store::parse_reference;

/// What `POST /commit` asks for.
#[derive(Default)]
pub struct CommitRequest {
    /// `repo[:tag]`, if the new image gets a name.
    pub reference: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub pause: bool,
    /// `--change` Dockerfile instructions.
    pub changes: Vec<String>,
    /// Config fields that override the container's (the request body).
    pub config: Option<ContainerConfig>,
}

/// The container's config with the request's fields laid over it.
fn merged(base: &ContainerConfig, over: Option<ContainerConfig>) -> ContainerConfig {
    let mut c = base.clone();
    let Some(o) = over else { return c };
    if !o.cmd.is_empty() {
        c.cmd = o.cmd;
    }
    if !o.entrypoint.is_empty() {
        c.entrypoint = o.entrypoint;
    }
    for e in o.env {
        let key = e.split('=').next().unwrap_or_default().to_string();
        c.env.retain(|x| x.split('=').next() != Some(key.as_str()));
        c.env.push(e);
    }
    c.labels.extend(o.labels);
    if !o.working_dir.is_empty() {
        c.working_dir = o.working_dir;
    }
    if !o.user.is_empty() {
        c.user = o.user;
    }
    if let Some(p) = o.exposed_ports {
        c.exposed_ports.get_or_insert_with(Default::default).extend(p);
    }
    c
}

impl Engine {
    /// `GET /containers/{id}/changes`.
    pub fn changes(&self, key: &str) -> Result<Vec<(String, u8)>> {
        let c = self.get(key)?;
        let top = self
            .images
            .load(&c.record().inspect.image)
            .ok()
            .and_then(|i| i.top_layer());
        Ok(self.images.changes(&c.id, top.as_deref())?)
    }

    /// `POST /commit`: the new image's ID.
    pub async fn commit(self: &Arc<Self>, key: &str, req: CommitRequest) -> Result<String> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        let rec = c.record().clone();
        let ins = &rec.inspect;
        let base = self.images.load(&ins.image)?;
        let tag = req.reference.as_deref().map(parse_reference).transpose()?;
        let mut config = merged(&ins.config, req.config);
        crate::images::changes::apply_to(&mut config, &req.changes)?;
        let created_by = std::iter::once(ins.path.clone())
            .chain(ins.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let opts = CommitOptions {
            config,
            comment: req.comment,
            author: req.author,
            created_by,
            tag,
        };
        let freeze = req.pause && ins.state.running && !ins.state.paused;
        if freeze {
            self.freeze(&c, true)?;
        }
        let engine = self.clone();
        let id = c.id.clone();
        let made = tokio::task::spawn_blocking(move || engine.images.commit(&id, &base, opts))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()));
        if freeze {
            self.freeze(&c, false)?;
        }
        let image = made??;
        self.emit_container(&c, "commit", &[("comment", String::new())]);
        Ok(image)
    }
}
