"""deploy/k8s: every manifest valid against the Kubernetes schemas (offline), the
kustomize base and overlays render, and the manifests agree with the image and
with the services' real endpoints and configuration."""
import re

import kubernetes_validate
import pytest
import yaml


from .deployfiles import (
    PlainLoader,
    K8S_BASE,
    K8S_OVERLAYS,
    SERVICES,
    config_variables,
    database_variable,
    exec_form,
    find,
    kustomize,
    load_manifests,
    parse_dockerfile,
    stage_env,
)

# The oldest Kubernetes release still commonly run, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
GRACEFUL_STOP_SECONDS = 25  # `clientfolio serve` stops within this after SIGTERM


def validate(resource, version):
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"{resource['kind']}/{resource['metadata'].get('name')} "
                             f"(Kubernetes {version}): {exc.message} at "
                             f"{'.'.join(map(str, exc.path))}") from None


def rendered():
    return {"base": kustomize(K8S_BASE),
            **{f"overlays/{o.name}": kustomize(o) for o in K8S_OVERLAYS}}


@pytest.fixture(scope="module")
def builds():
    return rendered()


@pytest.fixture(scope="module")
def base(builds):
    return builds["base"]


def test_there_is_a_production_overlay():
    assert "production" in [o.name for o in K8S_OVERLAYS]


def test_kustomization_lists_every_manifest_file():
    for directory in (K8S_BASE, *K8S_OVERLAYS):
        kustomization = yaml.load((directory / "kustomization.yaml").read_text(), Loader=PlainLoader)
        listed = {r for r in kustomization.get("resources", []) if r.endswith(".yaml")}
        files = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == files, f"{directory.name}: listed {listed}, files {files}"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_file_is_a_complete_valid_manifest(version):
    paths = [p for d in (K8S_BASE, *K8S_OVERLAYS) for p in sorted(d.glob("*.yaml"))
             if p.name != "kustomization.yaml"]
    assert len(paths) >= 8
    for path in paths:
        for resource in load_manifests(path):
            validate(resource, version)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_kustomize_build_is_valid(builds, version):
    for name, resources in builds.items():
        assert resources, name
        for resource in resources:
            validate(resource, version)


def test_validation_catches_mistakes(base):
    deployment = find(base, "Deployment", "clientfolio-gateway")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["pth"] = "/ready"
    with pytest.raises(AssertionError):
        validate(deployment, KUBERNETES_VERSIONS[-1])


def test_each_service_has_a_deployment_with_everything_operators_need(base):
    for service in SERVICES:
        deployment = find(base, "Deployment", f"clientfolio-{service}")
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == ["serve", service], "the image's command, per service"
        assert "command" not in container, "the image's ENTRYPOINT is kept"
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
        assert pod["terminationGracePeriodSeconds"] >= 30
        prestop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        delay = int(prestop["command"][-1]) if prestop else 0
        assert pod["terminationGracePeriodSeconds"] >= delay + GRACEFUL_STOP_SECONDS + 5
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_probes_use_the_real_health_endpoints_on_the_http_port(base):
    config_map = find(base, "ConfigMap", "clientfolio-config")
    http_port = int(config_map["data"]["CLIENTFOLIO_HTTP_PORT"])
    for service in SERVICES:
        pod = find(base, "Deployment", f"clientfolio-{service}")["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["http"] == http_port
        expected = {"readinessProbe": "/ready", "livenessProbe": "/health",
                    "startupProbe": "/health"}
        for probe, path in expected.items():
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{service} {probe}"
            assert get["port"] in ("http", http_port), f"{service} {probe}"
        # A failing /ready (broker or database down) must not get the pod killed.
        assert container["livenessProbe"]["httpGet"]["path"] != "/ready"
        service_object = find(base, "Service", f"clientfolio-{service}")
        assert service_object["spec"]["ports"][0]["targetPort"] in ("http", http_port)
        assert service_object["spec"]["selector"] == \
            find(base, "Deployment", f"clientfolio-{service}")["spec"]["selector"]["matchLabels"]


def test_configuration_comes_from_a_config_map_and_a_secret(base):
    known = config_variables()
    config_map = find(base, "ConfigMap", "clientfolio-config")
    secret = find(base, "Secret", "clientfolio-secrets")
    assert set(config_map["data"]) <= set(known)
    assert config_map["data"]["CLIENTFOLIO_EVENT_QUEUE_TYPE"] == "quorum", \
        "event queues are quorum queues on the RabbitMQ cluster"
    secret_keys = set(secret["stringData"])
    assert secret_keys == {"AMQP_URI", *(database_variable(s) for s in SERVICES),
                           "CLIENTFOLIO_CONSISTENCY_SECRET"}
    assert not set(config_map["data"]) & secret_keys, "credentials stay out of the ConfigMap"
    for workload in find(base, "Deployment") + find(base, "Job"):
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": "clientfolio-config"}}]
        for variable in container["env"]:
            assert variable["name"] in known
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["name"] == "clientfolio-secrets"
            assert reference["key"] in secret_keys and reference["key"] == variable["name"]


def test_each_service_gets_only_its_own_database(base):
    for service in SERVICES:
        pod = find(base, "Deployment", f"clientfolio-{service}")["spec"]["template"]["spec"]
        names = {v["name"] for v in pod["containers"][0]["env"]}
        # The gateway also seals Consistency-Tokens with the secret its replicas share.
        sealing = {"CLIENTFOLIO_CONSISTENCY_SECRET"} if service == "gateway" else set()
        assert names == {"AMQP_URI", database_variable(service), *sealing}


def test_migrations_run_as_a_job_over_every_database(base):
    (job,) = find(base, "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert {v["name"] for v in container["env"]} == {database_variable(s) for s in SERVICES}
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert job["spec"]["backoffLimit"] >= 1


def test_gateway_autoscales_and_every_service_has_a_disruption_budget(base):
    hpa = find(base, "HorizontalPodAutoscaler", "clientfolio-gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "clientfolio-gateway"}
    assert hpa["spec"]["minReplicas"] >= 2
    gateway = find(base, "Deployment", "clientfolio-gateway")
    assert "replicas" not in gateway["spec"], "the autoscaler owns the gateway's replica count"
    for service in SERVICES:
        budget = find(base, "PodDisruptionBudget", f"clientfolio-{service}")
        selector = find(base, "Deployment", f"clientfolio-{service}")["spec"]["selector"]
        assert budget["spec"]["selector"] == selector


def test_every_workload_uses_the_one_image(builds):
    runtime = parse_dockerfile()[-1]
    assert exec_form(runtime.last("ENTRYPOINT")) == ["clientfolio"]
    for name, resources in builds.items():
        images = {c["image"]
                  for r in resources if r["kind"] in ("Deployment", "Job")
                  for c in r["spec"]["template"]["spec"]["containers"]}
        assert len(images) == 1, f"{name}: {images}"
        assert re.search(r"(^|/)clientfolio:[\w.-]+$", images.pop())


def test_production_overlay(builds):
    production = builds["overlays/production"]
    assert find(production, "Secret") == [], "no placeholder credentials in production"
    assert find(production, "Namespace", "clientfolio")
    for resource in production:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == "clientfolio"
    for service in ("contacts", "projects", "billing"):
        assert find(production, "Deployment", f"clientfolio-{service}")["spec"]["replicas"] >= 2


def test_contacts_files_live_on_a_shared_volume_at_the_image_data_dir(base):
    data_dir = stage_env(parse_dockerfile()[-1], {})["CLIENTFOLIO_DATA_DIR"]
    pod = find(base, "Deployment", "clientfolio-contacts")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts[data_dir]]["persistentVolumeClaim"]["claimName"]
    pvc = find(base, "PersistentVolumeClaim", claim)
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "every replica sees the same files"
    assert pod["securityContext"]["fsGroup"] == 10001, "the image's user can write to it"
