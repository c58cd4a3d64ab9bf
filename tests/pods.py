"""A realistic pod (what a ReplicaSet creates for a real Sidekiq worker, opted in with a profile) and its AdmissionReview, for the benchmarks and the tests alike."""

from __future__ import annotations

import json
from typing import Any


def realistic_pod() -> dict[str, Any]:
    env = [{"name": f"APP_SETTING_{i:02d}", "value": f"value-{i:02d}-" + "x" * 24} for i in range(36)]
    env += [
        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "billing-db", "key": "url"}}},
        {"name": "REDIS_URL", "valueFrom": {"secretKeyRef": {"name": "billing-redis", "key": "url"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "billing-sidekiq-6f7c9d8b54-",
            "namespace": "billing",
            "labels": {
                "app.kubernetes.io/name": "sidekiq",
                "app.kubernetes.io/part-of": "billing",
                "pod-template-hash": "6f7c9d8b54",
                "workerguard.io/inject": "true",
            },
            "annotations": {
                "workerguard.io/profile": "sidekiq",
                "workerguard.io/prestop-sleep": "5s",
                "kubectl.kubernetes.io/default-container": "sidekiq",
                "kubectl.kubernetes.io/restartedAt": "2026-11-20T08:00:00Z",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "billing-sidekiq-6f7c9d8b54",
                    "uid": "c7b5e0d2-4a4f-4f39-9a51-2a6f0b1c9e11",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-11-20T08:00:01Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:generateName": {},
                            "f:labels": {".": {}, "f:app.kubernetes.io/name": {}},
                            "f:ownerReferences": {".": {}, 'k:{"uid":"c7b5e0d2"}': {}},
                        },
                        "f:spec": {
                            "f:containers": {'k:{"name":"sidekiq"}': {".": {}, "f:env": {".": {}}, "f:image": {}}},
                            "f:dnsPolicy": {},
                            "f:restartPolicy": {},
                        },
                    },
                }
            ],
        },
        "spec": {
            "volumes": [
                {
                    "name": "kube-api-access-7x2kq",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {
                                "downwardAPI": {
                                    "items": [
                                        {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                                    ]
                                }
                            },
                        ],
                    },
                }
            ],
            "containers": [
                {
                    "name": "sidekiq",
                    "image": "registry.example/billing:2026.11.20-1a2b3c4d",
                    "command": ["bundle", "exec", "sidekiq", "-C", "config/sidekiq.yml", "-e", "production", "-t", "25"],
                    "env": env,
                    "resources": {"requests": {"cpu": "500m", "memory": "768Mi"}, "limits": {"memory": "1536Mi"}},
                    "volumeMounts": [
                        {
                            "name": "kube-api-access-7x2kq",
                            "readOnly": True,
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        }
                    ],
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                },
                {
                    "name": "statsd-exporter",
                    "image": "prom/statsd-exporter:v0.26.0",
                    "ports": [{"containerPort": 9102, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                    "volumeMounts": [
                        {
                            "name": "kube-api-access-7x2kq",
                            "readOnly": True,
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        }
                    ],
                },
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "billing",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        },
    }


def admission_review(uid: str = "bench-0001") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "billing",
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "5b1f",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
            },
            "object": realistic_pod(),
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


if __name__ == "__main__":
    print(len(json.dumps(realistic_pod())), "bytes of pod JSON")
