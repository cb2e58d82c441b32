# Locust with this project's scenarios, for distributed runs inside the cluster
# (`nox -s perf -- --workers N`). Built on the run's Python base (upstream or the
# one built offline); the locustfile itself comes from a ConfigMap at run time.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
ARG EXTRA_CA_CERTS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
COPY requirements-locust.txt /app/requirements-locust.txt
RUN python -m venv /opt/venv \
 && if [ -n "$EXTRA_CA_CERTS" ]; then \
      cat "$(/opt/venv/bin/python -c 'import pip._vendor.certifi as c; print(c.where())')" \
        > /opt/pip-ca.pem \
      && printf '%s\n' "$EXTRA_CA_CERTS" >> /opt/pip-ca.pem \
      && printf '[global]\ncert = /opt/pip-ca.pem\n' > /opt/venv/pip.conf; \
    fi \
 && /opt/venv/bin/pip install -r /app/requirements-locust.txt \
 && rm -f /opt/venv/pip.conf /opt/pip-ca.pem
COPY perf/ /app/perf/
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app HOME=/tmp PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /tmp
