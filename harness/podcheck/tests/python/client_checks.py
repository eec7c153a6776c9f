"""The official Kubernetes Python client (`kubernetes` on PyPI) against `podcheck up`.

Run by tests/python_client.rs with KUBECONFIG set. Prints `ok NAME` for each check that
passes; the first that does not prints `FAIL NAME: WHY` and exits 1.

    client_checks.py lifecycle     namespaces, pods, lists, selectors, watches, status, bindings
    client_checks.py gone OLD_RV   a watch and an exact list at OLD_RV, which the store has
                                   compacted away, answer 410 Expired
"""

import json
import sys
import time
import uuid

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NODE = "node-1"
DEADLINE = 30.0


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def check(name, fn, *args):
    """Runs one check; its `ok` line, or a FAIL line and exit 1."""
    try:
        result = fn(*args)
    except CheckFailed as e:
        print(f"FAIL {name}: {e}", flush=True)
        sys.exit(1)
    except ApiException as e:
        print(f"FAIL {name}: the API answered {e.status} {e.reason}: {e.body}", flush=True)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - any client error fails the check, with its type
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)
    return result


def until(what, probe, deadline=DEADLINE):
    """Polls `probe` until it returns something truthy; fails naming `what` at the deadline."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise CheckFailed(f"{what} within {deadline:.0f} s (last: {last!r})")


def status_of(e):
    """The Status object in an ApiException's body, or {}."""
    try:
        return json.loads(e.body)
    except (TypeError, ValueError):
        return {}


def pod_manifest(name, labels, scheduler=None):
    spec = client.V1PodSpec(
        containers=[
            client.V1Container(
                name="main",
                image="busybox",
                image_pull_policy="IfNotPresent",
                command=["sleep", "3600"],
            )
        ],
        scheduler_name=scheduler,
    )
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=spec,
    )


def names(pod_list):
    return sorted(p.metadata.name for p in pod_list.items)


def lifecycle():
    v1 = client.CoreV1Api()
    ns = f"pc-python-{uuid.uuid4().hex[:8]}"

    def create_namespace():
        created = v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        expect(created.metadata.name == ns, f"created namespace is {created.metadata.name}")
        expect(created.metadata.uid, "the created namespace has no uid")
        read = v1.read_namespace(ns)
        expect(read.status.phase == "Active", f"namespace phase {read.status.phase}")

    check("create-namespace", create_namespace)

    # The resourceVersion before the pods exist: the watch below starts here.
    before = v1.list_namespaced_pod(ns).metadata.resource_version

    def create_pods():
        expect(before and before.isdigit(), f"a list's resourceVersion is {before!r}")
        web = v1.create_namespaced_pod(ns, pod_manifest("web", {"app": "web", "tier": "front"}))
        expect(web.metadata.uid, "the created pod has no uid")
        expect(
            int(web.metadata.resource_version) > int(before),
            f"pod resourceVersion {web.metadata.resource_version} is not after {before}",
        )
        expect(web.status.phase == "Pending", f"a new pod's phase is {web.status.phase}")
        other = v1.create_namespaced_pod(ns, pod_manifest("other", {"app": "other"}))
        expect(other.metadata.name == "other", "the second pod was not created")
        return web

    web = check("create-pod", create_pods)

    def watch_added_then_modified():
        w = watch.Watch()
        seen = []
        for event in w.stream(
            v1.list_namespaced_pod,
            ns,
            resource_version=before,
            field_selector="metadata.name=web",
            timeout_seconds=int(DEADLINE),
        ):
            pod = event["object"]
            expect(isinstance(pod, client.V1Pod), f"a watch event holds a {type(pod).__name__}")
            seen.append((event["type"], pod.spec.node_name, pod.metadata.resource_version))
            if event["type"] == "MODIFIED" and pod.spec.node_name:
                w.stop()
        expect(seen, f"no event from resourceVersion {before}")
        expect(
            seen[0][0] == "ADDED" and seen[0][1] is None,
            f"the first event is not the unscheduled pod ADDED: {seen}",
        )
        expect(
            seen[0][2] == web.metadata.resource_version,
            f"ADDED carries resourceVersion {seen[0][2]}, the create answered {web.metadata.resource_version}",
        )
        expect(
            seen[-1][0] == "MODIFIED" and seen[-1][1] == NODE,
            f"the scheduler's binding was not seen as MODIFIED with nodeName {NODE}: {seen}",
        )
        revisions = [int(rv) for _, _, rv in seen]
        expect(revisions == sorted(set(revisions)), f"resourceVersions do not rise: {seen}")

    check("watch-added-then-modified", watch_added_then_modified)

    def list_pods():
        listed = v1.list_namespaced_pod(ns)
        expect(names(listed) == ["other", "web"], f"listed {names(listed)}")
        rv = listed.metadata.resource_version
        expect(rv and int(rv) >= int(web.metadata.resource_version), f"list resourceVersion {rv!r}")
        everywhere = v1.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={ns}")
        expect(names(everywhere) == ["other", "web"], f"all namespaces listed {names(everywhere)}")

    check("list-pods", list_pods)

    def list_label_selector():
        for selector, want in [
            ("app=web", ["web"]),
            ("app!=web", ["other"]),
            ("app in (web,other)", ["other", "web"]),
            ("tier", ["web"]),
            ("!tier", ["other"]),
            ("app=web,tier=back", []),
        ]:
            got = names(v1.list_namespaced_pod(ns, label_selector=selector))
            expect(got == want, f"labelSelector {selector!r} listed {got}, not {want}")

    check("list-label-selector", list_label_selector)

    def list_field_selector():
        for selector, want in [
            ("metadata.name=web", ["web"]),
            ("metadata.name=other", ["other"]),
            ("metadata.name!=web", ["other"]),
            ("metadata.name=nothing", []),
        ]:
            got = names(v1.list_namespaced_pod(ns, field_selector=selector))
            expect(got == want, f"fieldSelector {selector!r} listed {got}, not {want}")
        try:
            v1.list_namespaced_pod(ns, field_selector="spec.nonsense=1")
            raise CheckFailed("an unsupported field selector was accepted")
        except ApiException as e:
            expect(e.status == 400, f"an unsupported field selector answered {e.status}")

    check("list-field-selector", list_field_selector)

    def read_pod():
        pod = v1.read_namespaced_pod("web", ns)
        expect(pod.metadata.uid == web.metadata.uid, "read a different pod")
        expect(pod.spec.containers[0].image == "busybox", f"image {pod.spec.containers[0].image}")
        expect(pod.metadata.labels == {"app": "web", "tier": "front"}, f"labels {pod.metadata.labels}")
        running = until(
            "pod web Running with an IP",
            lambda: (lambda p: p if p.status.phase == "Running" and p.status.pod_ip else None)(
                v1.read_namespaced_pod("web", ns)
            ),
        )
        expect(running.spec.node_name == NODE, f"web runs on {running.spec.node_name}")
        try:
            v1.read_namespaced_pod("missing", ns)
            raise CheckFailed("reading a missing pod succeeded")
        except ApiException as e:
            body = status_of(e)
            expect(e.status == 404, f"a missing pod answered {e.status}")
            expect(
                body.get("kind") == "Status" and body.get("reason") == "NotFound",
                f"a missing pod's body: {e.body}",
            )
            expect(body.get("message") == 'pods "missing" not found', f"message {body.get('message')!r}")

    check("read-pod", read_pod)

    def patch_status():
        condition = {
            "type": "podcheck.dev/Checked",
            "status": "True",
            "reason": "PythonClient",
            "message": "patched by the official Python client",
        }
        # A dict body is sent as a strategic merge patch: conditions merge by type.
        patched = v1.patch_namespaced_pod_status("web", ns, {"status": {"conditions": [condition]}})
        types = [c.type for c in patched.status.conditions]
        expect("podcheck.dev/Checked" in types, f"the patch answered conditions {types}")
        for kept in ["PodScheduled", "Ready"]:
            expect(kept in types, f"the patch dropped condition {kept}: {types}")
        expect(patched.status.phase == "Running", f"the patch changed the phase to {patched.status.phase}")
        back = v1.read_namespaced_pod_status("web", ns)
        mine = [c for c in back.status.conditions if c.type == "podcheck.dev/Checked"]
        expect(len(mine) == 1, f"read back conditions {[c.type for c in back.status.conditions]}")
        expect(
            (mine[0].status, mine[0].reason, mine[0].message)
            == ("True", "PythonClient", "patched by the official Python client"),
            f"read back {mine[0]}",
        )
        expect(back.spec.containers[0].image == "busybox", "the status patch changed the spec")
        # A JSON patch (a list body) on status works too.
        labelled = v1.patch_namespaced_pod_status(
            "web",
            ns,
            [{"op": "replace", "path": "/status/conditions/" + str(types.index("podcheck.dev/Checked")) + "/reason", "value": "JsonPatch"}],
        )
        mine = [c for c in labelled.status.conditions if c.type == "podcheck.dev/Checked"]
        expect(mine and mine[0].reason == "JsonPatch", f"JSON patch answered {mine}")

    check("patch-pod-status", patch_status)

    def bind_manually():
        v1.create_namespaced_pod(ns, pod_manifest("manual", {"app": "manual"}, scheduler="nobody"))
        time.sleep(1.0)
        pending = v1.read_namespaced_pod("manual", ns)
        expect(
            pending.spec.node_name is None,
            f"a pod for scheduler 'nobody' was scheduled to {pending.spec.node_name}",
        )
        binding = client.V1Binding(
            metadata=client.V1ObjectMeta(name="manual"),
            target=client.V1ObjectReference(api_version="v1", kind="Node", name=NODE),
        )
        # The apiserver answers a Status, which this client cannot turn into a V1Binding
        # (kubernetes-client/python#547): read the raw response instead.
        resp = v1.create_namespaced_binding(ns, binding, _preload_content=False)
        expect(resp.status == 201, f"POST bindings answered {resp.status}")
        body = json.loads(resp.data)
        expect(
            body.get("kind") == "Status" and body.get("status") == "Success",
            f"POST bindings answered {body}",
        )
        bound = v1.read_namespaced_pod("manual", ns)
        expect(bound.spec.node_name == NODE, f"the bound pod's nodeName is {bound.spec.node_name}")
        scheduled = [c for c in bound.status.conditions or [] if c.type == "PodScheduled"]
        expect(scheduled and scheduled[0].status == "True", f"conditions {bound.status.conditions}")
        try:
            v1.create_namespaced_binding(ns, binding, _preload_content=False)
            raise CheckFailed("binding a bound pod again succeeded")
        except ApiException as e:
            expect(e.status == 409, f"binding a bound pod again answered {e.status}")
            expect("already assigned" in status_of(e).get("message", ""), f"body {e.body}")
        until(
            "the manually bound pod Running",
            lambda: v1.read_namespaced_pod("manual", ns).status.phase == "Running",
        )

    check("create-binding", bind_manually)

    def bind_subresource_default():
        v1.create_namespaced_pod(ns, pod_manifest("manual-2", {"app": "manual"}, scheduler="nobody"))
        binding = client.V1Binding(
            metadata=client.V1ObjectMeta(name="manual-2"),
            target=client.V1ObjectReference(api_version="v1", kind="Node", name=NODE),
        )
        # Without _preload_content=False the client fails to read the Status as a V1Binding,
        # after the binding happened (as against kube-apiserver).
        try:
            v1.create_namespaced_pod_binding("manual-2", ns, binding)
        except ValueError as e:
            expect("target" in str(e), f"unexpected ValueError: {e}")
        bound = v1.read_namespaced_pod("manual-2", ns)
        expect(bound.spec.node_name == NODE, f"pods/binding left nodeName {bound.spec.node_name}")

    check("create-pod-binding", bind_subresource_default)

    def delete_pod():
        deleted = v1.delete_namespaced_pod("web", ns)
        expect(isinstance(deleted, client.V1Pod), f"DELETE answered a {type(deleted).__name__}")
        expect(deleted.metadata.name == "web", f"DELETE answered {deleted.metadata.name}")

        def gone():
            try:
                v1.read_namespaced_pod("web", ns)
                return False
            except ApiException as e:
                if e.status != 404:
                    raise
                return True

        until("pod web gone (404)", gone)
        left = names(v1.list_namespaced_pod(ns))
        expect(left == ["manual", "manual-2", "other"], f"pods left {left}")

    check("delete-pod", delete_pod)

    def delete_namespace():
        v1.delete_namespace(ns)

        def gone():
            try:
                v1.read_namespace(ns)
                return False
            except ApiException as e:
                if e.status != 404:
                    raise
                return True

        until(f"namespace {ns} gone (404)", gone, deadline=60.0)
        left = v1.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={ns}")
        expect(not left.items, f"pods outlived their namespace: {names(left)}")

    check("delete-namespace", delete_namespace)


def gone(old_rv):
    v1 = client.CoreV1Api()

    def raw_watch_error_event():
        # What the server sends: 200, then one ERROR event carrying a 410 Expired Status.
        resp = v1.list_namespaced_pod(
            "default", watch=True, resource_version=old_rv, timeout_seconds=10, _preload_content=False
        )
        expect(resp.status == 200, f"the watch answered HTTP {resp.status}")
        lines = [line for line in resp.data.decode().splitlines() if line.strip()]
        expect(len(lines) == 1, f"expected one ERROR event, got {lines}")
        event = json.loads(lines[0])
        status = event.get("object", {})
        expect(event.get("type") == "ERROR", f"event {event}")
        expect(
            (status.get("kind"), status.get("status"), status.get("reason"), status.get("code"))
            == ("Status", "Failure", "Expired", 410),
            f"the ERROR event's object is {status}",
        )
        expect(
            status.get("message", "").startswith(f"too old resource version: {old_rv} ("),
            f"message {status.get('message')!r}",
        )

    check("watch-410-error-event", raw_watch_error_event)

    def watch_raises_410():
        # The client turns the ERROR event into ApiException(410); with timeout_seconds it
        # does not retry first.
        w = watch.Watch()
        try:
            for event in w.stream(v1.list_namespaced_pod, "default", resource_version=old_rv, timeout_seconds=10):
                raise CheckFailed(f"an expired watch delivered {event['type']}")
            raise CheckFailed("an expired watch ended without an error")
        except ApiException as e:
            expect(e.status == 410, f"the watch raised {e.status}")
            expect(e.reason.startswith("Expired: too old resource version"), f"reason {e.reason!r}")

    check("watch-410-raises", watch_raises_410)

    def watch_retries_then_raises_410():
        # Without timeout_seconds the client retries once from the same resourceVersion,
        # then gives up with the 410.
        w = watch.Watch()
        try:
            for event in w.stream(v1.list_namespaced_pod, "default", resource_version=old_rv):
                raise CheckFailed(f"an expired watch delivered {event['type']}")
            raise CheckFailed("an expired watch ended without an error")
        except ApiException as e:
            expect(e.status == 410, f"the watch raised {e.status}")

    check("watch-410-after-retry", watch_retries_then_raises_410)

    def exact_list_410():
        try:
            v1.list_namespaced_pod("default", resource_version=old_rv, resource_version_match="Exact")
            raise CheckFailed("a list at a compacted resourceVersion succeeded")
        except ApiException as e:
            body = status_of(e)
            expect(e.status == 410, f"the list answered {e.status}")
            expect(body.get("reason") == "Expired", f"body {e.body}")

    check("list-410", exact_list_410)

    def relist_and_rewatch():
        # The recovery a client makes: list for a fresh resourceVersion and watch from it.
        listed = v1.list_namespaced_pod("default")
        rv = listed.metadata.resource_version
        v1.create_namespaced_pod("default", pod_manifest("after-410", {"app": "after"}))
        w = watch.Watch()
        seen = []
        for event in w.stream(v1.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=int(DEADLINE)):
            seen.append((event["type"], event["object"].metadata.name))
            w.stop()
        expect(seen == [("ADDED", "after-410")], f"the fresh watch saw {seen}")
        v1.delete_namespaced_pod("after-410", "default")

    check("relist-after-410", relist_and_rewatch)


def main():
    config.load_kube_config()
    mode = sys.argv[1] if len(sys.argv) > 1 else "lifecycle"
    if mode == "lifecycle":
        lifecycle()
    elif mode == "gone" and len(sys.argv) == 3:
        gone(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
