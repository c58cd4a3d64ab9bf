# workerguard: build the virtualenv in one stage, copy only it into a clean slim image.
# Every dependency ships binary wheels, so neither stage needs a compiler.
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/workerguard
WORKDIR /src
# The probe helpers come first: they change less often than webhook/, so an edit there reuses their
# layers. The static busybox that `workerguard.io/probe-shell: bundled` copies into pods whose image has
# no shell; and workerguard-probe, the sidecar that answers `probe-transport: http` probes: static (no
# libc in the sidecar's image), from Debian's Go, the module alone and never the network.
RUN apt-get update \
 && apt-get install -y --no-install-recommends busybox-static \
 && apt-get install -y --no-install-recommends golang-go \
 && mkdir -p /opt/probe-helper \
 && cp /bin/busybox /opt/probe-helper/busybox \
 && /opt/probe-helper/busybox true
COPY probe-server ./probe-server
RUN cd probe-server \
 && CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=off go build -trimpath -ldflags='-s -w' -o /opt/probe-helper/workerguard-probe . \
 && /opt/probe-helper/workerguard-probe --help >/dev/null
COPY pyproject.toml README.md ./
COPY webhook ./webhook
RUN /opt/workerguard/bin/pip install --only-binary=:all: . \
 && /opt/workerguard/bin/workerguard --version

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/workerguard/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /opt/workerguard /opt/workerguard
COPY --from=build /opt/probe-helper/busybox /usr/local/lib/workerguard/busybox
COPY --from=build /opt/probe-helper/workerguard-probe /usr/local/lib/workerguard/workerguard-probe
# A numeric non-root user, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["workerguard", "serve"]
