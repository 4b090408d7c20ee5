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


@schemathesis.hook("map_body").apply_to(operation_id="ContainerCreate")
def create_from_busybox(context, body):
    if isinstance(body, dict) and every_other("create"):
        body["Image"] = "busybox"
    return body


@schemathesis.hook("map_path_parameters").apply_to(operation_id="ImageTag")
def tag_busybox(context, params):
    if isinstance(params, dict) and every_other("tag-source"):
        params["name"] = "busybox"
    return params


@schemathesis.hook("map_query").apply_to(operation_id="ImageTag")
def tag_throwaway(context, query):
    if every_other("tag-repo"):
        query = dict(query or {})
        query["repo"] = "oapi-throwaway"
    return query


def take(kind, key, params):
    if isinstance(params, dict) and MADE[kind] and every_other(kind):
        params[key] = MADE[kind].pop()
    return params


@schemathesis.hook("map_path_parameters").apply_to(operation_id="ContainerDelete")
def remove_container(context, params):
    return take("container", "id", params)


@schemathesis.hook("map_path_parameters").apply_to(operation_id="NetworkDelete")
def remove_network(context, params):
    return take("network", "id", params)


@schemathesis.hook("map_path_parameters").apply_to(operation_id="VolumeDelete")
def remove_volume(context, params):
    return take("volume", "name", params)


@schemathesis.hook("map_path_parameters").apply_to(operation_id="ImageDelete")
def remove_tag(context, params):
    return take("tag", "name", params)


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
