"""The Kubernetes manifests: every overlay renders, validates against the official schemas, and says what we promise."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.conftest import make_pod, validate, workload_of, WORKLOADS
from webhook.adapters.certs import inspect_pair, service_sans
from webhook.adapters.rulesfile import parse_rules_text
from webhook.server.config import _FLAGS

MANIFESTS = Path(__file__).parent.parent / "manifests"
CRD_KINDS = {"Issuer", "Certificate"}  # cert-manager's: no official Kubernetes schema to validate against


def kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render the manifests"
    done = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[dict[str, Any]], Path]]:
    root = tmp_path_factory.mktemp("manifests")
    tree = root / "manifests"
    shutil.copytree(MANIFESTS, tree, ignore=shutil.ignore_patterns("generated"))
    certs = root / "certs"
    run = [sys.executable, "-m", "webhook"]
    assert subprocess.run([*run, "certs", "--out", str(certs)], capture_output=True).returncode == 0
    made = subprocess.run(
        [*run, "manifests", "--certs", str(certs), "--out", str(tree / "overlays/self-signed")], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    yield kustomize(tree / "overlays/self-signed"), certs


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return kustomize(MANIFESTS / "base")


@pytest.fixture(scope="module")
def cert_manager() -> list[dict[str, Any]]:
    return kustomize(MANIFESTS / "overlays/cert-manager")


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [obj for obj in objects if obj["kind"] == kind]
    return found


def entry(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """One webhook of a configuration, by its name."""
    [found] = [webhook for webhook in one(objects, kind)["webhooks"] if webhook["name"] == name]
    return found


MUTATING, VALIDATING = "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"


def test_every_resource_of_every_overlay_validates_strictly(
    base: list[dict[str, Any]], cert_manager: list[dict[str, Any]], self_signed: tuple[list[dict[str, Any]], Path]
) -> None:
    rendered = {"base": base, "cert-manager": cert_manager, "self-signed": self_signed[0]}
    for name, objects in rendered.items():
        kinds = sorted(obj["kind"] for obj in objects)
        assert {
            "Namespace",
            "ServiceAccount",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "ConfigMap",
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        } <= set(kinds), name
        for obj in objects:
            if obj["kind"] not in CRD_KINDS:
                validate(obj)
    assert {"Issuer", "Certificate"} <= {obj["kind"] for obj in cert_manager}
    assert "Secret" in {obj["kind"] for obj in self_signed[0]}


def test_the_webhook_configuration_is_what_the_readme_promises(base: list[dict[str, Any]]) -> None:
    webhook = entry(base, MUTATING, "inject.workerguard.io")
    assert webhook["objectSelector"] == {"matchLabels": {"workerguard.io/inject": "true"}}
    expressions = {e["key"]: e for e in webhook["namespaceSelector"]["matchExpressions"]}
    assert expressions["kubernetes.io/metadata.name"]["operator"] == "NotIn"
    assert set(expressions["kubernetes.io/metadata.name"]["values"]) == {"kube-system", "kube-public", "workerguard"}
    assert expressions["workerguard.io/inject"] == {"key": "workerguard.io/inject", "operator": "NotIn", "values": ["disabled"]}
    assert expressions["workerguard.io/mode"] == {"key": "workerguard.io/mode", "operator": "NotIn", "values": ["shadow"]}
    assert webhook["sideEffects"] == "None"
    assert webhook["admissionReviewVersions"] == ["v1"]
    assert webhook["reinvocationPolicy"] == "IfNeeded"
    assert 1 <= webhook["timeoutSeconds"] <= 5
    assert webhook["failurePolicy"] in ("Fail", "Ignore")
    assert webhook["rules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "Namespaced"}
    ]
    service_ref = webhook["clientConfig"]["service"]
    service = one(base, "Service")
    assert (service_ref["name"], service_ref["namespace"], service_ref["path"]) == (
        service["metadata"]["name"],
        service["metadata"]["namespace"],
        "/mutate",
    )
    assert service["spec"]["ports"][0]["port"] == service_ref["port"] == 443


def test_the_validating_webhook_sees_workloads_only_and_never_their_subresources(base: list[dict[str, Any]]) -> None:
    webhook = entry(base, VALIDATING, "validate.workerguard.io")
    mutating = entry(base, MUTATING, "inject.workerguard.io")
    assert webhook["clientConfig"]["service"] == {**mutating["clientConfig"]["service"], "path": "/validate"}
    assert webhook["namespaceSelector"] == mutating["namespaceSelector"]
    assert (webhook["sideEffects"], webhook["failurePolicy"], webhook["timeoutSeconds"]) == ("None", "Ignore", 3)
    resources = {(group, resource) for rule in webhook["rules"] for group in rule["apiGroups"] for resource in rule["resources"]}
    assert resources == {
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("apps", "replicasets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    }
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in webhook["rules"])
    assert not any("/" in resource for _, resource in resources)  # no /scale, no /status


def _opted(kind: str, label: object) -> dict[str, Any]:
    labels = {} if label is None else {"workerguard.io/inject": label}
    return workload_of(kind, make_pod(labels=labels)) if label is not None else _without_label(kind)


def _without_label(kind: str) -> dict[str, Any]:
    obj = workload_of(kind, make_pod())
    template = obj["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else obj["spec"]["template"]
    del template["metadata"]["labels"]["workerguard.io/inject"]
    return obj


@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_the_match_condition_sends_exactly_the_opted_in_templates(base: list[dict[str, Any]], kind: str) -> None:
    """Evaluated by a CEL implementation (cel-python) as the apiserver evaluates matchConditions: all must
    be true for the request to be sent."""
    import celpy

    webhook = entry(base, VALIDATING, "validate.workerguard.io")
    environment = celpy.Environment()
    programs = [environment.program(environment.compile(c["expression"])) for c in webhook["matchConditions"]]

    def sent(obj: dict[str, Any]) -> bool:
        return all(bool(program.evaluate({"object": celpy.json_to_cel(obj)})) for program in programs)

    assert sent(_opted(kind, "true"))
    assert not sent(_opted(kind, "false"))
    assert not sent(_without_label(kind))
    bare = _without_label(kind)
    template = bare["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else bare["spec"]["template"]
    del template["metadata"]
    assert not sent(bare)
    on_the_workload = _without_label(kind)
    on_the_workload["metadata"]["labels"] = {"workerguard.io/inject": "true"}  # the workload's own labels do not count
    assert not sent(on_the_workload)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A namespaceSelector of In and NotIn expressions, as the apiserver reads one: NotIn also holds
    when the label is absent."""
    for expression in selector["matchExpressions"]:
        assert expression["operator"] in ("In", "NotIn"), expression
        value = labels.get(expression["key"])
        if (value in expression["values"]) != (expression["operator"] == "In"):
            return False
    return selector.get("matchLabels", {}).items() <= labels.items()


NAMESPACES = {
    "billing": {},
    "billing-shadow": {"workerguard.io/mode": "shadow"},
    "billing-enforce": {"workerguard.io/mode": "enforce"},
    "disabled-shadow": {"workerguard.io/mode": "shadow", "workerguard.io/inject": "disabled"},
    "kube-system": {"workerguard.io/mode": "shadow"},
    "workerguard": {"workerguard.io/inject": "disabled"},
}


# Each configuration's enforcing entry and its shadow twin.
SHADOW_PAIRS = [
    (MUTATING, "inject.workerguard.io", "inject-shadow.workerguard.io"),
    (VALIDATING, "validate.workerguard.io", "validate-shadow.workerguard.io"),
]


@pytest.mark.parametrize(("kind", "enforce", "shadow"), SHADOW_PAIRS)
def test_a_shadow_namespace_goes_to_the_shadow_path_and_only_there(
    base: list[dict[str, Any]], kind: str, enforce: str, shadow: str
) -> None:
    enforcing, shadowing = entry(base, kind, enforce), entry(base, kind, shadow)
    reached = {}
    for name, labels in NAMESPACES.items():
        labels = {**labels, "kubernetes.io/metadata.name": name}
        reached[name] = [
            webhook["clientConfig"]["service"]["path"]
            for webhook in (enforcing, shadowing)
            if selects(webhook["namespaceSelector"], labels)
        ]
    path = enforcing["clientConfig"]["service"]["path"]
    assert reached == {
        "billing": [path],
        "billing-shadow": [f"{path}-shadow"],
        "billing-enforce": [path],
        "disabled-shadow": [],
        "kube-system": [],
        "workerguard": [],
    }


@pytest.mark.parametrize(("kind", "enforce", "shadow"), SHADOW_PAIRS)
def test_the_shadow_entries_see_the_same_objects_and_never_block_them(
    base: list[dict[str, Any]], kind: str, enforce: str, shadow: str
) -> None:
    """The same rules, objectSelector and matchConditions as enforce; failing open, since shadow mode
    changes nothing and its outage must not either."""
    enforcing, shadowing = entry(base, kind, enforce), entry(base, kind, shadow)
    for key in ("rules", "objectSelector", "matchConditions", "sideEffects", "matchPolicy", "admissionReviewVersions"):
        assert shadowing.get(key) == enforcing.get(key), key
    assert shadowing["clientConfig"]["service"] == {
        **enforcing["clientConfig"]["service"],
        "path": enforcing["clientConfig"]["service"]["path"] + "-shadow",
    }
    assert shadowing["failurePolicy"] == "Ignore"
    assert shadowing.get("reinvocationPolicy", "Never") == "Never"


def test_our_namespace_is_labelled_out_of_injection(base: list[dict[str, Any]]) -> None:
    namespace = one(base, "Namespace")
    assert namespace["metadata"]["name"] == "workerguard"
    assert namespace["metadata"]["labels"]["workerguard.io/inject"] == "disabled"
    assert all(obj["metadata"].get("namespace") in (None, "workerguard") for obj in base)


def test_the_webhooks_own_deployment_practises_what_we_preach(base: list[dict[str, Any]]) -> None:
    deployment = one(base, "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert spec["replicas"] >= 2
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} >= {"kubernetes.io/hostname"}
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    drain = float(env["WORKERGUARD_DRAIN_SECONDS"]["value"]) + float(env["WORKERGUARD_SHUTDOWN_TIMEOUT"]["value"])
    assert pod["terminationGracePeriodSeconds"] > drain
    assert all("subPath" not in mount for mount in container["volumeMounts"])
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "workerguard-tls"
    assert volumes["rules"]["configMap"]["name"] == one(base, "ConfigMap")["metadata"]["name"]
    assert env["WORKERGUARD_OWN_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    known = {"WORKERGUARD_" + flag.replace("-", "_").upper() for flag, _, _ in _FLAGS}
    assert set(env) <= known, set(env) - known
    assert container["ports"] == [{"name": "https", "containerPort": int(env["WORKERGUARD_PORT"]["value"]), "protocol": "TCP"}]
    pdb = one(base, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pdb["spec"]["minAvailable"] >= 1


def test_the_shipped_rules_file_is_valid(base: list[dict[str, Any]]) -> None:
    rules = parse_rules_text(one(base, "ConfigMap")["data"]["rules.yaml"])
    assert "long-sidekiq" in rules.profiles


def test_cert_manager_issues_the_secret_the_deployment_mounts(cert_manager: list[dict[str, Any]]) -> None:
    certificate = one(cert_manager, "Certificate")
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    assert certificate["spec"]["secretName"] == "workerguard-tls"
    assert certificate["spec"]["dnsNames"] == service_sans("workerguard", "workerguard")
    assert certificate["spec"]["issuerRef"]["name"] == one(cert_manager, "Issuer")["metadata"]["name"]
    webhook_config = one(cert_manager, "MutatingWebhookConfiguration")
    namespace, name = webhook_config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].split("/")
    assert (namespace, name) == (certificate["metadata"]["namespace"], certificate["metadata"]["name"])


def test_self_signed_overlay_carries_our_pair_and_its_ca(self_signed: tuple[list[dict[str, Any]], Path]) -> None:
    objects, certs = self_signed
    secret = one(objects, "Secret")
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"], secret["type"]) == (
        "workerguard-tls",
        "workerguard",
        "kubernetes.io/tls",
    )
    cert, key = (base64.b64decode(secret["data"][name]) for name in ("tls.crt", "tls.key"))
    assert inspect_pair(cert, key).key_matches
    bundles = {
        (kind, webhook["name"]): base64.b64decode(webhook["clientConfig"].get("caBundle", ""))
        for kind in (MUTATING, VALIDATING)
        for webhook in one(objects, kind)["webhooks"]
    }
    assert len(bundles) == 4 and set(bundles.values()) == {(certs / "ca.crt").read_bytes()}, bundles.keys()
    ca_bundle = bundles[(MUTATING, "inject.workerguard.io")]
    x509.load_pem_x509_certificate(cert).verify_directly_issued_by(x509.load_pem_x509_certificate(ca_bundle))
