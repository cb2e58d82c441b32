{{/* Chart name, overridable with nameOverride. */}}
{{- define "todo-app.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix: fullnameOverride, else the release name if it contains the chart name, else "<release>-<chart>". Truncated so suffixed names stay within 63 characters. */}}
{{- define "todo-app.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "todo-app.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels common to every object. */}}
{{- define "todo-app.labels" -}}
helm.sh/chart: {{ include "todo-app.chart" . }}
app.kubernetes.io/name: {{ include "todo-app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: todo-app
{{- end }}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "backend"). */}}
{{- define "todo-app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo-app.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of one component's pod template: the selector labels and the labels that never change with a chart or app version. helm.sh/chart and app.kubernetes.io/version stay off pod templates: a chart bump alone must restart no pod (PostgreSQL least of all). Call with (dict "ctx" $ "component" "backend"). */}}
{{- define "todo-app.podLabels" -}}
{{ include "todo-app.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: todo-app
{{- end }}

{{/* Full labels of one component; call with (dict "ctx" $ "component" "backend"). */}}
{{- define "todo-app.componentLabels" -}}
{{ include "todo-app.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Name of the backend objects. */}}
{{- define "todo-app.backend.fullname" -}}
{{- printf "%s-backend" (include "todo-app.fullname" .) }}
{{- end }}

{{/* Name of the MCP server objects. */}}
{{- define "todo-app.mcpServer.fullname" -}}
{{- printf "%s-mcp-server" (include "todo-app.fullname" .) }}
{{- end }}

{{/* Name of the web front end's objects. */}}
{{- define "todo-app.frontend.fullname" -}}
{{- printf "%s-frontend" (include "todo-app.fullname" .) }}
{{- end }}

{{/* Name of the Secret holding the front end's SESSION_SECRET (frontend.secret.name, else "<fullname>-frontend"). */}}
{{- define "todo-app.frontend.secretName" -}}
{{- default (include "todo-app.frontend.fullname" .) .Values.frontend.secret.name }}
{{- end }}

{{/* SESSION_COOKIE_SECURE of the front end: "always" when asked, or when its Ingress terminates TLS; else "auto" (Secure when the request came over TLS). */}}
{{- define "todo-app.frontend.cookieSecure" -}}
{{- $ingress := .Values.frontend.ingress }}
{{- if or (eq .Values.frontend.secureCookies "always") (and $ingress.enabled $ingress.tls.secretName) }}always{{ else }}auto{{ end }}
{{- end }}

{{/* Checksum of the front end's session key when the chart creates it, so a new key rolls the front end pods (and only them). */}}
{{- define "todo-app.frontend.secretChecksum" -}}
{{- include "todo-app.generated" . }}
{{- .Values._generated.SESSION_SECRET | default "" | sha256sum }}
{{- end }}

{{/* In-cluster URL of the backend, given to the front end as BACKEND_URL. */}}
{{- define "todo-app.backend.url" -}}
{{- printf "http://%s:%d" (include "todo-app.backend.fullname" .) (int .Values.backend.service.port) }}
{{- end }}

{{/* Name of the PostgreSQL objects. */}}
{{- define "todo-app.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "todo-app.fullname" .) }}
{{- end }}

{{/* Name of the headless Service that governs the PostgreSQL StatefulSet (stable pod DNS names). */}}
{{- define "todo-app.postgresql.headlessName" -}}
{{- printf "%s-headless" (include "todo-app.postgresql.fullname" .) }}
{{- end }}

{{/* The PostgreSQL StatefulSet's fields Kubernetes never lets an update change, as YAML: serviceName, size and storageClass of the `data` claim template, and `live` (whether a StatefulSet exists). From the live StatefulSet when there is one, so an upgrade never asks to change them (a release installed by an earlier chart keeps its regular governing Service and its volume size); else from values. */}}
{{- define "todo-app.postgresql.immutable" -}}
{{- $persistence := .Values.postgresql.persistence }}
{{- $out := dict "live" false "serviceName" (include "todo-app.postgresql.headlessName" .) "size" (toString $persistence.size) "storageClass" $persistence.storageClass }}
{{- with include "todo-app.live" (list . "apps/v1" "StatefulSet" (include "todo-app.postgresql.fullname" .)) | fromYaml }}
{{- $_ := set $out "live" true }}
{{- $_ := set $out "serviceName" .spec.serviceName }}
{{- range .spec.volumeClaimTemplates }}
{{- if eq .metadata.name "data" }}
{{- $_ := set $out "size" (toString .spec.resources.requests.storage) }}
{{- $_ := set $out "storageClass" (.spec.storageClassName | default "") }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* In-cluster URL of the MCP server, given to the backend as MCP_SERVER_URL. */}}
{{- define "todo-app.mcpServer.url" -}}
{{- printf "http://%s:%d" (include "todo-app.mcpServer.fullname" .) (int .Values.mcpServer.service.port) }}
{{- end }}

{{/* Host header values the MCP server's /mcp accepts: the Service's DNS names, each with and without a port, plus mcpServer.extraAllowedHosts. */}}
{{- define "todo-app.mcpServer.allowedHosts" -}}
{{- $svc := include "todo-app.mcpServer.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list }}
{{- range (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain)) }}
{{- $hosts = append $hosts . }}
{{- $hosts = append $hosts (printf "%s:*" .) }}
{{- end }}
{{- concat $hosts .Values.mcpServer.extraAllowedHosts | uniq | join "," }}
{{- end }}

{{/* Name of the database Secret (database.secret.name, else "<fullname>-postgresql"). */}}
{{- define "todo-app.database.secretName" -}}
{{- default (include "todo-app.postgresql.fullname" .) .Values.database.secret.name }}
{{- end }}

{{/* Name of the auth Secret (auth.secret.name, else "<fullname>-auth"). */}}
{{- define "todo-app.auth.secretName" -}}
{{- default (printf "%s-auth" (include "todo-app.fullname" .)) .Values.auth.secret.name }}
{{- end }}

{{/* Database host: the in-release PostgreSQL Service, else database.host. */}}
{{- define "todo-app.database.host" -}}
{{- if .Values.postgresql.enabled }}
{{- include "todo-app.postgresql.fullname" . }}
{{- else }}
{{- .Values.database.host }}
{{- end }}
{{- end }}

{{/* Database port: the in-release PostgreSQL Service port, else database.port. */}}
{{- define "todo-app.database.port" -}}
{{- if .Values.postgresql.enabled }}
{{- .Values.postgresql.port }}
{{- else }}
{{- .Values.database.port }}
{{- end }}
{{- end }}

{{/* Image reference; call with (dict "ctx" $ "image" <component image values> "app" true|false). App images fall back to .Values.image and the chart appVersion; global.image.tag applies to app images only. */}}
{{- define "todo-app.image" -}}
{{- $g := .ctx.Values.global.image }}
{{- $root := .ctx.Values.image }}
{{- $repo := .image.repository }}
{{- $tag := .image.tag }}
{{- if .app }}
{{- $repo = default $root.repository $repo }}
{{- $tag = default (default .ctx.Chart.AppVersion $root.tag) $tag }}
{{- if $g.tag }}{{ $tag = $g.tag }}{{ end }}
{{- end }}
{{- if $g.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $g.registry) $repo (toString $tag) }}
{{- else }}
{{- printf "%s:%s" $repo (toString $tag) }}
{{- end }}
{{- end }}

{{/* Image pull policy; same arguments as todo-app.image. */}}
{{- define "todo-app.imagePullPolicy" -}}
{{- $policy := .image.pullPolicy }}
{{- if .app }}
{{- $policy = default .ctx.Values.image.pullPolicy $policy }}
{{- end }}
{{- default $policy .ctx.Values.global.image.pullPolicy }}
{{- end }}

{{/* Container security context of the Pod Security Standard "restricted" (shared by every container). */}}
{{- define "todo-app.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pod security context of the application pods (backend, MCP server, tests). */}}
{{- define "todo-app.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Database environment of the app containers: POSTGRES_USER/PASSWORD/DB come from the Secret (envFrom), host and port are plain values here. No URL is built: the app assembles it safely. */}}
{{- define "todo-app.databaseEnv" -}}
- name: POSTGRES_HOST
  value: {{ include "todo-app.database.host" . | quote }}
- name: POSTGRES_PORT
  value: {{ include "todo-app.database.port" . | quote }}
{{- end }}

{{/* Checksum of the credentials in the Secrets the chart creates, so new credentials roll the app pods. It hashes the values only, not the rendered Secrets, whose chart-version labels would roll every pod on a chart bump. */}}
{{- define "todo-app.secretChecksum" -}}
{{- include "todo-app.generated" . }}
{{- $data := dict "generated" (omit .Values._generated "SESSION_SECRET") }}
{{- if .Values.database.secret.create }}
{{- $_ := set $data "database" (list .Values.database.user .Values.database.name) }}
{{- end }}
{{- toJson $data | sha256sum }}
{{- end }}

{{/* Checks JSON Schema cannot express (comparisons between values); fails with a message naming the field. */}}
{{- define "todo-app.validateValues" -}}
{{- $as := .Values.mcpServer.autoscaling }}
{{- if gt (int $as.minReplicas) (int $as.maxReplicas) }}
{{- fail (printf "mcpServer.autoscaling.minReplicas (%d) must be less than or equal to mcpServer.autoscaling.maxReplicas (%d)" (int $as.minReplicas) (int $as.maxReplicas)) }}
{{- end }}
{{- if and (not .Values.postgresql.enabled) (not .Values.database.host) }}
{{- fail "database.host is required when postgresql.enabled is false (the chart then uses an external PostgreSQL)" }}
{{- end }}
{{- if and (not .Values.database.secret.create) (not .Values.database.secret.name) }}
{{- fail "database.secret.name is required when database.secret.create is false (name of an existing Secret with POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB)" }}
{{- end }}
{{- if and .Values.frontend.enabled (not .Values.frontend.secret.create) (not .Values.frontend.secret.name) }}
{{- fail "frontend.secret.name is required when frontend.secret.create is false (name of an existing Secret with SESSION_SECRET)" }}
{{- end }}
{{- with .Values.frontend.ingress }}
{{- if and .enabled .tls.secretName (not .host) }}
{{- fail "frontend.ingress.host is required when frontend.ingress.tls.secretName is set (the certificate is for a host name)" }}
{{- end }}
{{- end }}
{{- if and (not (kindIs "invalid" .Values.frontend.service.nodePort)) (eq .Values.frontend.service.type "ClusterIP") }}
{{- fail "frontend.service.nodePort is set but frontend.service.type is ClusterIP (use NodePort)" }}
{{- end }}
{{- if and (not .Values.auth.secret.create) (not .Values.auth.secret.name) }}
{{- fail "auth.secret.name is required when auth.secret.create is false (name of an existing Secret with JWT_SECRET, MCP_SERVICE_TOKEN)" }}
{{- end }}
{{- if and (not (kindIs "invalid" .Values.backend.service.nodePort)) (eq .Values.backend.service.type "ClusterIP") }}
{{- fail "backend.service.nodePort is set but backend.service.type is ClusterIP (use NodePort)" }}
{{- end }}
{{- include "todo-app.checkConnectionBudget" . }}
{{- end }}

{{/* Pods a Deployment can run at once: its most replicas, plus the one extra pod of a rolling update (maxSurge 1), or none when it runs no pod. */}}
{{- define "todo-app.podsAtMost" -}}
{{- if gt (int .) 0 }}{{ add1 (int .) }}{{ else }}0{{ end }}
{{- end }}

{{/* Fail when the apps' connection pools could open more connections than the server accepts: for the backend and the MCP server, (most pods + 1 during a rollout) x (dbPool.size + dbPool.maxOverflow), plus database.reservedConnections, must stay within database.maxConnections. */}}
{{- define "todo-app.checkConnectionBudget" -}}
{{- $b := .Values.backend }}
{{- $m := .Values.mcpServer }}
{{- $bPods := include "todo-app.podsAtMost" $b.replicaCount | int }}
{{- $bEach := add $b.dbPool.size $b.dbPool.maxOverflow | int }}
{{- $mPods := 0 }}
{{- $mFrom := "mcpServer.enabled=false" }}
{{- if $m.enabled }}
{{- $mMost := ternary $m.autoscaling.maxReplicas $m.replicaCount $m.autoscaling.enabled }}
{{- $mFrom = ternary "mcpServer.autoscaling.maxReplicas" "mcpServer.replicaCount" $m.autoscaling.enabled }}
{{- $mPods = include "todo-app.podsAtMost" $mMost | int }}
{{- end }}
{{- $mEach := add $m.dbPool.size $m.dbPool.maxOverflow | int }}
{{- $reserved := int .Values.database.reservedConnections }}
{{- $needed := add (mul $bPods $bEach) (mul $mPods $mEach) $reserved }}
{{- $max := int .Values.database.maxConnections }}
{{- if gt (int $needed) $max }}
{{- fail (printf "database.maxConnections (%d) is below what the connection pools can open: %d = backend %d pods (backend.replicaCount + 1 during a rollout) x %d (backend.dbPool.size + maxOverflow) + MCP server %d pods (%s + 1 during a rollout) x %d (mcpServer.dbPool.size + maxOverflow) + %d (database.reservedConnections). Raise database.maxConnections (with PostgreSQL's memory), or lower the pool sizes or replica counts" $max (int $needed) $bPods $bEach $mPods $mFrom $mEach $reserved) }}
{{- end }}
{{- end }}

{{/* `replicas` of the MCP server Deployment while its HPA is on, or "" to leave the field out. Rendered when this render can read the cluster: the live count (what the HPA scaled to, or the pods running before autoscaling was switched on) kept within minReplicas..maxReplicas, else minReplicas. Leaving the field out instead would drop the Deployment to Kubernetes' default of one pod when autoscaling is switched on. A render that cannot read the cluster (a GitOps tool) leaves it out: a fixed count there would undo the HPA's scaling on every sync. */}}
{{- define "todo-app.mcpServer.autoscaledReplicas" -}}
{{- $as := .Values.mcpServer.autoscaling }}
{{- $live := include "todo-app.live" (list . "apps/v1" "Deployment" (include "todo-app.mcpServer.fullname" .)) | fromYaml }}
{{- with ($live.spec).replicas }}
{{- max (int .) (int $as.minReplicas) | min (int $as.maxReplicas) }}
{{- else }}
{{- if include "todo-app.clusterReadable" . }}{{ $as.minReplicas }}{{ end }}
{{- end }}
{{- end }}

{{/* Topology spread constraints of one component's pods; a constraint without labelSelector gets the component's selector labels. Call with (dict "ctx" $ "component" "backend" "constraints" <list>). */}}
{{- define "todo-app.topologySpreadConstraints" -}}
{{- $selector := include "todo-app.selectorLabels" (dict "ctx" .ctx "component" .component) | fromYaml }}
{{- range .constraints }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
- {{ toYaml $constraint | indent 2 | trim }}
{{- end }}
{{- end }}

{{/* Whether the egress NetworkPolicies are on: "true" or "". */}}
{{- define "todo-app.egress.enabled" -}}
{{- if and .Values.networkPolicy.enabled .Values.networkPolicy.egress.enabled }}true{{ end }}
{{- end }}

{{/* Egress rule: the cluster DNS (networkPolicy.egress.dnsTo) on port 53, UDP and TCP. */}}
{{- define "todo-app.egress.dns" -}}
- to:
    {{- toYaml .Values.networkPolicy.egress.dnsTo | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{/* Egress rule: the database, i.e. the release's PostgreSQL pods on 5432, else networkPolicy.egress.externalDatabaseTo (any address when empty) on database.port. */}}
{{- define "todo-app.egress.database" -}}
{{- if .Values.postgresql.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "todo-app.selectorLabels" (dict "ctx" . "component" "postgresql") | nindent 10 }}
  ports:
    - port: 5432
      protocol: TCP
{{- else -}}
- ports:
    - port: {{ .Values.database.port }}
      protocol: TCP
  {{- with .Values.networkPolicy.egress.externalDatabaseTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Egress rule: one component's pods of this release on one port; call with (dict "ctx" $ "component" "mcp-server" "port" 8001). */}}
{{- define "todo-app.egress.component" -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "todo-app.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 10 }}
  ports:
    - port: {{ .port }}
      protocol: TCP
{{- end }}

{{/* Whether the MCP server can run more than one pod (then a PodDisruptionBudget makes sense): "true" or "". */}}
{{- define "todo-app.mcpServer.multiReplica" -}}
{{- $as := .Values.mcpServer.autoscaling }}
{{- if or (gt (int .Values.mcpServer.replicaCount) 1) (and $as.enabled (gt (int $as.maxReplicas) 1)) }}true{{ end }}
{{- end }}

{{/* One object of the cluster as YAML ("{}" when absent, or when the render cannot read the cluster); the chart's only `lookup`. Call with (list $ "<apiVersion>" "<kind>" "<name>"); namespaced kinds are read in the release namespace. Use as (include "todo-app.live" (list ...) | fromYaml). */}}
{{- define "todo-app.live" -}}
{{- $ctx := index . 0 }}
{{- lookup (index . 1) (index . 2) $ctx.Release.Namespace (index . 3) | toYaml }}
{{- end }}

{{/* Whether this render can read the cluster: "true" or "". Probes the release namespace's `default` ServiceAccount, else (the namespace may be created by this very install) the kube-system Namespace. `helm template`, client-side dry runs and GitOps tools that render with `helm template` see neither: their `lookup` returns nothing. */}}
{{- define "todo-app.clusterReadable" -}}
{{- if or (include "todo-app.live" (list . "v1" "ServiceAccount" "default") | fromYaml) (include "todo-app.live" (list . "v1" "Namespace" "kube-system") | fromYaml) }}true{{ end }}
{{- end }}

{{/* Credentials of the Secrets the chart creates, computed once per render (memoised in .Values._generated, so the checksum annotations hash the same values the Secrets hold). For each key, in order: the value given in values (database.password, auth.jwtSecret, auth.mcpServiceToken, frontend.sessionSecret), else the existing Secret's (a new DB password would lock the apps out of the data volume, a new JWT_SECRET would log every user out), else a random one when this render can read the cluster (a first install). A render that cannot read the cluster and is given nothing is refused: a random value would change on every render. */}}
{{- define "todo-app.generated" -}}
{{- if not (hasKey .Values "_generated") }}
{{- $gen := dict }}
{{- $wanted := list }}
{{- if .Values.database.secret.create }}
{{- $wanted = append $wanted (list "POSTGRES_PASSWORD" .Values.database.password (include "todo-app.database.secretName" .) "database.password" 32) }}
{{- end }}
{{- if .Values.auth.secret.create }}
{{- $authName := include "todo-app.auth.secretName" . }}
{{- $wanted = append $wanted (list "JWT_SECRET" .Values.auth.jwtSecret $authName "auth.jwtSecret" 48) }}
{{- $wanted = append $wanted (list "MCP_SERVICE_TOKEN" .Values.auth.mcpServiceToken $authName "auth.mcpServiceToken" 48) }}
{{- end }}
{{- if and .Values.frontend.enabled .Values.frontend.secret.create }}
{{- $wanted = append $wanted (list "SESSION_SECRET" .Values.frontend.sessionSecret (include "todo-app.frontend.secretName" .) "frontend.sessionSecret" 48) }}
{{- end }}
{{- $missing := list }}
{{- range $wanted }}
{{- $key := index . 0 }}
{{- $existing := (include "todo-app.live" (list $ "v1" "Secret" (index . 2)) | fromYaml).data | default dict }}
{{- if index . 1 }}
{{- $_ := set $gen $key (index . 1) }}
{{- else if hasKey $existing $key }}
{{- $_ := set $gen $key (index $existing $key | b64dec) }}
{{- else if include "todo-app.clusterReadable" $ }}
{{- $_ := set $gen $key (randAlphaNum (index . 4)) }}
{{- else }}
{{- $missing = append $missing (index . 3) }}
{{- end }}
{{- end }}
{{- if $missing }}
{{- $own := list }}
{{- if has "database.password" $missing }}{{ $own = append $own "database.secret.create=false with database.secret.name" }}{{ end }}
{{- if or (has "auth.jwtSecret" $missing) (has "auth.mcpServiceToken" $missing) }}{{ $own = append $own "auth.secret.create=false with auth.secret.name" }}{{ end }}
{{- if has "frontend.sessionSecret" $missing }}{{ $own = append $own "frontend.secret.create=false with frontend.secret.name" }}{{ end }}
{{- fail (printf "this render cannot read the cluster (helm template, a client-side --dry-run, a GitOps tool), so it cannot keep generated secrets: a random value would change on every render while the database volume keeps the first password. Set %s to values you keep, or create the Secrets yourself and set %s, or render with access to the cluster (helm install/upgrade, --dry-run=server)" (join ", " $missing) (join " and " $own)) }}
{{- end }}
{{- $_ := set .Values "_generated" $gen }}
{{- end }}
{{- end }}

{{/* Refuse, with what to do, to take over a Secret that exists but belongs to no or another release. */}}
{{- define "todo-app.refuseForeignSecret" -}}
{{- $existing := include "todo-app.live" (list .ctx "v1" "Secret" .name) | fromYaml }}
{{- if $existing }}
{{- $owner := get (($existing.metadata).annotations | default dict) "meta.helm.sh/release-name" }}
{{- if ne $owner .ctx.Release.Name }}
{{- fail (printf "Secret %q already exists in namespace %q and is not managed by release %q: to use it, set %s.create=false and %s.name=%s" .name .ctx.Release.Namespace .ctx.Release.Name .key .key .name) }}
{{- end }}
{{- end }}
{{- end }}
