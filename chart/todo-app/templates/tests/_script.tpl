{{/* Python helper shared by the test pods: call(method, url) with a few retries, and check(). Only modules the application image ships: httpx2 (a runtime dependency), not httpx (test-only). */}}
{{- define "todo-app.tests.prelude" -}}
import os
import sys
import time

import httpx2


def call(method, url, **kwargs):
    last = None
    for _ in range(10):
        try:
            return httpx2.request(method, url, timeout=5, **kwargs)
        except httpx2.HTTPError as exc:
            last = exc
            time.sleep(2)
    sys.exit(f"FAIL {method} {url}: {last!r}")


def check(what, response, status):
    if response.status_code != status:
        sys.exit(f"FAIL {what}: want {status}, got {response.status_code} {response.text[:300]}")
    print(f"ok   {what}: {response.status_code}")
{{- end }}

{{/* Pod spec pieces every test pod shares; call with (dict "ctx" $ "component" "...") . */}}
{{- define "todo-app.tests.podSpec" -}}
restartPolicy: Never
automountServiceAccountToken: false
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "todo-app.podSecurityContext" .ctx | nindent 2 }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 16Mi
{{- end }}

{{/* Container pieces every test container shares (image, security, resources, /tmp). */}}
{{- define "todo-app.tests.container" -}}
image: {{ include "todo-app.image" (dict "ctx" . "image" .Values.backend.image "app" true) }}
imagePullPolicy: {{ include "todo-app.imagePullPolicy" (dict "ctx" . "image" .Values.backend.image "app" true) }}
securityContext:
  {{- include "todo-app.containerSecurityContext" . | nindent 2 }}
resources:
  {{- toYaml .Values.tests.resources | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}
