"""ops/k8s/: every manifest is valid against the Kubernetes API's schemas (offline, from kubernetes-validate),
and each stage's autoscaler scales that stage's Deployment on that stage's consumer group."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT

K8S = ROOT / "ops/k8s"
KUBERNETES_VERSION = "1.37.0"
STAGE_INPUTS = {"fetcher": "crawl.urls", "parser": "crawl.pages", "sink": "crawl.products"}


def documents() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("path, doc", documents(), ids=lambda v: v.name if isinstance(v, Path) else v["kind"])
def test_manifest_is_valid_kubernetes(path: Path, doc: dict):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("stage", sorted(STAGE_INPUTS))
def test_each_stage_has_a_deployment_scaled_on_its_own_lag(stage: str):
    docs = [doc for _, doc in documents()]
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == f"crawlpipe-{stage}")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == [stage]
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler"
               and d["spec"]["scaleTargetRef"]["name"] == f"crawlpipe-{stage}")
    metric = hpa["spec"]["metrics"][0]["external"]["metric"]
    assert metric["selector"]["matchLabels"] == {"consumergroup": f"crawlpipe-{stage}", "topic": STAGE_INPUTS[stage]}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
