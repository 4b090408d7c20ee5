"""Schemathesis hooks for tests/tests/openapi.rs and deploy/api-fuzz.sh.

Random requests mostly name objects that do not exist. These hooks aim
part of them at real, throw-away objects of the test agent, so that
creates and removals do real work: every other container is created from
busybox, every other tag is of busybox into the `oapi-throwaway`
repository, and every other removal takes an object an earlier create in
the same run made. They only rewrite generated requests; the checks are
schemathesis's own.
"""

import schemathesis

@schemathesis.serializer("application/x-tar")
class Tar:
    """Generated tar bodies go out as the bytes they are (schemathesis has
    a serializer for application/octet-stream only); they are never valid
    archives, which is the point."""

    def as_requests(self, context, value):
        return {"data": value if isinstance(value, bytes) else str(value).encode()}

    def as_werkzeug(self, context, value):
        return self.as_requests(context, value)


# What creates answered, by kind, for later removals to take.
MADE = {"container": [], "network": [], "volume": [], "tag": []}
COUNT = {}


def every_other(key):
    COUNT[key] = COUNT.get(key, 0) + 1
    return COUNT[key] % 2 == 1


def turn(key, every):
    """Which of `every` turns this call of `key` is (0 first)."""
    COUNT[key] = COUNT.get(key, 0) + 1
    return COUNT[key] % every


def op_id(context):
    op = getattr(context, "operation", None)
    return op.definition.raw.get("operationId") if op is not None else None


# Hooks are dispatched by operationId here: `apply_to` filters do not
# hold in schemathesis 3.39 (every filtered hook applies everywhere).


@schemathesis.hook
def map_body(context, body):
    if not isinstance(body, dict):
        return body
    op = op_id(context)
    if op == "ContainerCreate":
        # A generated config from busybox, or a small one that gets created.
        t = turn("create", 3)
        if t == 2:
            body = {k: body[k] for k in ("Env", "Cmd", "Labels", "Tty", "OpenStdin") if k in body}
        if t in (1, 2):
            # The imported busybox has no CMD of its own.
            body["Image"] = "busybox"
            body["Cmd"] = body.get("Cmd") or ["true"]
    elif op == "NetworkCreate" and every_other("network"):
        # A plain bridge with a generated name and labels.
        body = {k: body[k] for k in ("Name", "Labels", "Internal", "Attachable") if k in body}
    return body


@schemathesis.hook
def map_query(context, query):
    op = op_id(context)
    query = dict(query or {})
    if op in ("ContainerArchive", "ContainerArchiveInfo") and every_other("archive"):
        query["path"] = "/etc"
    elif op == "ImageGetAll" and every_other("save"):
        query["names"] = ["busybox"]
    elif op == "ImageTag" and every_other("tag-repo"):
        query["repo"] = "oapi-throwaway"
        query["tag"] = f"t{COUNT['tag-repo']}"
    return query or None


def take(kind, key, params):
    if MADE[kind] and every_other(kind):
        params[key] = MADE[kind].pop()
    return params


@schemathesis.hook
def map_path_parameters(context, params):
    if not isinstance(params, dict):
        return params
    op = op_id(context)
    if op == "ImageTag" and every_other("tag-source"):
        params["name"] = "busybox"
    elif op == "ContainerDelete":
        take("container", "id", params)
    elif op == "NetworkDelete":
        take("network", "id", params)
    elif op == "VolumeDelete":
        take("volume", "name", params)
    elif op == "ImageDelete":
        take("tag", "name", params)
    return params


@schemathesis.hook
def after_call(context, case, response):
    """Remember what creates made."""
    if response.status_code != 201:
        return
    op = case.operation.definition.raw.get("operationId")
    try:
        if op == "ContainerCreate":
            MADE["container"].append(response.json()["Id"])
        elif op == "NetworkCreate":
            MADE["network"].append(response.json()["Id"])
        elif op == "VolumeCreate":
            MADE["volume"].append(response.json()["Name"])
        elif op == "ImageTag":
            q = case.query or {}
            tag = q.get("tag") or "latest"
            MADE["tag"].append(f"{q.get('repo', '')}:{tag}")
    except (ValueError, KeyError, TypeError):
        pass
