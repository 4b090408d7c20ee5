//! Containers and exec instances: `/containers/…` and `/exec/…`.
//! IDs and names are percent-encoded into the path.

use hyper::body::Incoming;
use hyper::{Method, Response};
use serde_json::Value;
use skiff_api::{
    ContainerInspect, ContainerSummary, CreateRequest, CreateResponse, ExecConfig, ExecStart, IdResponse, UpdateConfig,
    UpdateResponse, WaitResponse,
};

use crate::{enc, Body, Client, Filters, Hijacked, Query, Result};

/// `/containers/{id}{rest}`.
fn container(id: &str, rest: &str) -> String {
    format!("/containers/{}{rest}", enc(id))
}

/// `/exec/{id}{rest}`.
fn exec(id: &str, rest: &str) -> String {
    format!("/exec/{}{rest}", enc(id))
}

/// `GET /containers/json`: which containers.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Stopped ones too.
    pub all: bool,
    /// The last N created.
    pub limit: Option<i64>,
    pub filters: Filters,
}

/// `POST /containers/create`'s query: the name, and (through a controller)
/// where the container may go.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    pub constraints: Vec<String>,
    pub placement: Option<String>,
}

/// `GET /containers/{id}/logs`: stdout and stderr, from `since` to `until`
/// (unix seconds), the last `tail` lines (all if `None`).
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub timestamps: bool,
    pub tail: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// Extra attributes (log-opt labels and env) before each line.
    pub details: bool,
}

impl Client {
    /// `GET /containers/json`.
    pub async fn containers_list(&self, o: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let q = Query::new()
            .flag("all", o.all)
            .opt("limit", o.limit)
            .filters(&o.filters);
        self.get(&q.on("/containers/json")).await
    }

    /// `POST /containers/create`.
    pub async fn container_create(&self, req: &CreateRequest, o: &CreateOptions) -> Result<CreateResponse> {
        let mut q = Query::new().opt("name", o.name.as_deref());
        for c in &o.constraints {
            q = q.add("constraint", c);
        }
        let q = q.opt("placement", o.placement.as_deref());
        self.json(Method::POST, &q.on("/containers/create"), Body::json(req)?)
            .await
    }

    /// `GET /containers/{id}/json`.
    pub async fn container_inspect(&self, id: &str) -> Result<ContainerInspect> {
        self.get(&container(id, "/json")).await
    }

    /// `GET /containers/{id}/json` as the daemon wrote it (for `inspect`).
    pub async fn container_inspect_raw(&self, id: &str) -> Result<Value> {
        self.get(&container(id, "/json")).await
    }

    /// `POST /containers/{id}/start`.
    pub async fn container_start(&self, id: &str) -> Result<()> {
        self.post(&container(id, "/start"), Body::Empty).await
    }

    /// `POST /containers/{id}/stop[?t=N]`.
    pub async fn container_stop(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        let q = Query::new().opt("t", timeout);
        self.post(&q.on(&container(id, "/stop")), Body::Empty).await
    }

    /// `POST /containers/{id}/restart[?t=N]`.
    pub async fn container_restart(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        let q = Query::new().opt("t", timeout);
        self.post(&q.on(&container(id, "/restart")), Body::Empty).await
    }

    /// `POST /containers/{id}/kill[?signal=S]`.
    pub async fn container_kill(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let q = Query::new().opt("signal", signal);
        self.post(&q.on(&container(id, "/kill")), Body::Empty).await
    }

    /// `POST /containers/{id}/pause`.
    pub async fn container_pause(&self, id: &str) -> Result<()> {
        self.post(&container(id, "/pause"), Body::Empty).await
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn container_unpause(&self, id: &str) -> Result<()> {
        self.post(&container(id, "/unpause"), Body::Empty).await
    }

    /// `DELETE /containers/{id}[?force=1][&v=1]`: `volumes` removes its
    /// anonymous volumes too.
    pub async fn container_remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let q = Query::new()
            .opt("force", force.then_some(1))
            .opt("v", volumes.then_some(1));
        self.call(Method::DELETE, &q.on(&container(id, "")), Body::Empty).await
    }

    /// `POST /containers/{id}/update`: new limits or restart policy; the
    /// daemon's warnings.
    pub async fn container_update(&self, id: &str, config: &UpdateConfig) -> Result<UpdateResponse> {
        self.json(Method::POST, &container(id, "/update"), Body::json(config)?)
            .await
    }

    /// `POST /containers/{id}/rename?name=NEW`.
    pub async fn container_rename(&self, id: &str, new_name: &str) -> Result<()> {
        let q = Query::new().add("name", new_name);
        self.post(&q.on(&container(id, "/rename")), Body::Empty).await
    }

    /// `POST /containers/{id}/wait[?condition=…]` (`next-exit`, `removed`).
    pub async fn container_wait(&self, id: &str, condition: Option<&str>) -> Result<WaitResponse> {
        let q = Query::new().opt("condition", condition);
        self.json(Method::POST, &q.on(&container(id, "/wait")), Body::Empty)
            .await
    }

    /// `GET /containers/{id}/top[?ps_args=…]`: `Titles` and `Processes`.
    pub async fn container_top(&self, id: &str, ps_args: Option<&str>) -> Result<Value> {
        let q = Query::new().opt("ps_args", ps_args);
        self.get(&q.on(&container(id, "/top"))).await
    }

    /// `GET /containers/{id}/changes`: `[{"Path", "Kind"}]`.
    pub async fn container_changes(&self, id: &str) -> Result<Vec<Value>> {
        let v: Value = self.get(&container(id, "/changes")).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// `POST /commit`: the new image's ID.
    pub async fn container_commit(&self, o: &CommitOptions) -> Result<String> {
        let (repo, tag) = match &o.reference {
            Some(r) => {
                let (n, t) = crate::images::split_reference(r);
                let t = if r.ends_with(&format!(":{t}")) { t } else { "" };
                (n, t)
            }
            None => ("", ""),
        };
        let mut q = Query::new()
            .add("container", &o.container)
            .add("repo", repo)
            .add("tag", tag)
            .opt("comment", o.comment.as_deref())
            .opt("author", o.author.as_deref())
            .add("pause", if o.pause { "1" } else { "0" });
        for c in &o.changes {
            q = q.add("changes", c);
        }
        let v: Value = self.json(Method::POST, &q.on("/commit"), Body::Empty).await?;
        Ok(v["Id"].as_str().unwrap_or_default().to_string())
    }

    /// `POST /containers/prune` with `until`, `label`, `label!` filters:
    /// `ContainersDeleted`, `SpaceReclaimed`.
    pub async fn containers_prune(&self, filters: &Filters) -> Result<Value> {
        let q = Query::new().filters(filters);
        self.json(Method::POST, &q.on("/containers/prune"), Body::Empty).await
    }

    /// `GET /containers/{id}/logs`: the stream (multiplexed without a TTY).
    pub async fn container_logs(&self, id: &str, o: &LogsOptions) -> Result<Response<Incoming>> {
        let q = Query::new()
            .flag("stdout", true)
            .flag("stderr", true)
            .flag("follow", o.follow)
            .flag("timestamps", o.timestamps)
            .flag("details", o.details)
            .opt("tail", o.tail.as_deref())
            .opt("since", o.since.as_deref())
            .opt("until", o.until.as_deref());
        self.send(Method::GET, &q.on(&container(id, "/logs")), Body::Empty)
            .await
    }

    /// `GET /containers/{id}/export`: the root filesystem as a tar stream.
    pub async fn container_export(&self, id: &str) -> Result<Response<Incoming>> {
        self.send(Method::GET, &container(id, "/export"), Body::Empty).await
    }

    /// `GET /containers/{id}/stats?stream=…`: one sample, or a line each.
    pub async fn container_stats(&self, id: &str, stream: bool) -> Result<Response<Incoming>> {
        let q = Query::new().flag("stream", stream);
        self.send(Method::GET, &q.on(&container(id, "/stats")), Body::Empty)
            .await
    }

    /// `POST /containers/{id}/attach`: stdout and stderr, stdin if asked.
    pub async fn container_attach(&self, id: &str, stdin: bool) -> Result<Hijacked> {
        let q = Query::new()
            .flag("stream", true)
            .flag("stdin", stdin)
            .flag("stdout", true)
            .flag("stderr", true);
        self.hijack(&q.on(&container(id, "/attach")), Body::Empty).await
    }

    /// `POST /containers/{id}/resize?h=…&w=…`.
    pub async fn container_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let q = Query::new().add("h", height).add("w", width);
        self.post(&q.on(&container(id, "/resize")), Body::Empty).await
    }

    /// `POST /containers/{id}/exec`: the new exec instance's ID.
    pub async fn exec_create(&self, id: &str, config: &ExecConfig) -> Result<String> {
        let r: IdResponse = self
            .json(Method::POST, &container(id, "/exec"), Body::json(config)?)
            .await?;
        Ok(r.id)
    }

    /// `POST /exec/{id}/start`, detached: the process runs on its own.
    pub async fn exec_start(&self, id: &str, start: &ExecStart) -> Result<()> {
        self.post(&exec(id, "/start"), Body::json(start)?).await
    }

    /// `POST /exec/{id}/start`, attached: the process's streams.
    pub async fn exec_attach(&self, id: &str, start: &ExecStart) -> Result<Hijacked> {
        self.hijack(&exec(id, "/start"), Body::json(start)?).await
    }

    /// `POST /exec/{id}/resize?h=…&w=…`.
    pub async fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let q = Query::new().add("h", height).add("w", width);
        self.post(&q.on(&exec(id, "/resize")), Body::Empty).await
    }

    /// `GET /exec/{id}/json`: `Running`, `ExitCode`, ….
    pub async fn exec_inspect(&self, id: &str) -> Result<Value> {
        self.get(&exec(id, "/json")).await
    }
}

/// `docker commit`'s options.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub container: String,
    /// `repo[:tag]` for the new image.
    pub reference: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub pause: bool,
    /// Dockerfile instructions (`--change`).
    pub changes: Vec<String>,
}
