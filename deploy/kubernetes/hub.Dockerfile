# The hub image of the Kubernetes deployment (Pulumi program in pulumi/): JupyterHub,
# KubeSpawner, repo2docker and VersaHub, installed from this repository. Tag it with
# VersaHub's version, the default of the stack key versahub:hubImage:
#
#   docker build -f deploy/kubernetes/hub.Dockerfile -t versahub/hub:0.1.0 .
#   docker push <your registry>/versahub/hub:0.1.0   # and set versahub:hubImage to it
#
# The hub runs as uid/gid 1000 (the pod's securityContext says so too), reads
# /etc/versahub/{site.yaml,jupyterhub_config.py} from its ConfigMap and keeps its state in
# /srv/versahub (a claim). Images are built by the Docker engine in the builder container
# of the same pod (docker:dind), reached over the socket in DOCKER_HOST; this image holds
# no Docker engine, no proxy (configurable-http-proxy has its own Deployment) and no OPA.
FROM python:3.11.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/versahub
COPY pyproject.toml README.md ./
COPY versahub ./versahub
RUN pip install --no-cache-dir . \
    && groupadd --gid 1000 versahub \
    && useradd --uid 1000 --gid 1000 --home-dir /srv/versahub --no-create-home versahub \
    && mkdir -p /srv/versahub && chown 1000:1000 /srv/versahub

USER 1000:1000
WORKDIR /srv/versahub
EXPOSE 8081
ENTRYPOINT ["tini", "--"]
CMD ["jupyterhub", "--config", "/etc/versahub/jupyterhub_config.py"]
