{{/* Names ------------------------------------------------------------------------- */}}

{{- define "storefleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release> when it already contains the chart name, else <release>-<chart>. */}}
{{- define "storefleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The ClusterRole the orchestrator binds in each store namespace. Fixed on purpose:
     the orchestrator's `bind` right and the admission policies name it. */}}
{{- define "storefleet.storeAdminRole" -}}storefleet-store-admin{{- end }}

{{/* The user helm impersonates in store namespaces (the orchestrator's fixed default):
     the engine charts run with only the rights of the Role the orchestrator binds to it
     there, never with the orchestrator's. */}}
{{- define "storefleet.storeDeployer" -}}storefleet-store-deployer{{- end }}

{{/* The Kubernetes API server's addresses as comma-separated CIDRs: networkPolicy.kubeApi.cidrs,
     else looked up at install time (EndpointSlice + Service IP), else empty (helm template). */}}
{{- define "storefleet.kubeApiCidrs" -}}
{{- $cidrs := list }}
{{- range .Values.networkPolicy.kubeApi.cidrs }}{{ $cidrs = append $cidrs . }}{{ end }}
{{- if not $cidrs }}
{{- with lookup "discovery.k8s.io/v1" "EndpointSlice" "default" "kubernetes" }}
{{- range .endpoints }}{{ range .addresses }}
{{- $cidrs = append $cidrs (ternary (printf "%s/128" .) (printf "%s/32" .) (contains ":" .)) }}
{{- end }}{{ end }}
{{- end }}
{{- with lookup "v1" "Service" "default" "kubernetes" }}
{{- with .spec.clusterIP }}{{ $cidrs = append $cidrs (ternary (printf "%s/128" .) (printf "%s/32" .) (contains ":" .)) }}{{ end }}
{{- end }}
{{- end }}
{{- join "," (uniq $cidrs) }}
{{- end }}

{{/* The admission policies are what fence the orchestrator's cluster-wide rights (which
     namespaces, which role bindings) and keep store isolation objects the orchestrator's
     alone. Without them those rights reach every namespace of the cluster: refuse. */}}
{{- define "storefleet.validateAdmission" -}}
{{- if and .Values.rbac.create (not .Values.admissionPolicies.enabled) }}
{{- fail "admissionPolicies.enabled=false with rbac.create=true: the orchestrator's cluster-wide rights (namespaces, role bindings, impersonating the store deployer) are fenced only by the admission policies; keep them on, or set rbac.create=false and grant narrower rights yourself" }}
{{- end }}
{{- end }}

{{/* Label every store namespace carries; the admission policies key on it. */}}
{{- define "storefleet.managedLabelKey" -}}app.kubernetes.io/managed-by{{- end }}
{{- define "storefleet.managedLabelValue" -}}storefleet{{- end }}

{{- define "storefleet.apiServiceAccountName" -}}
{{- default (printf "%s-api" (include "storefleet.fullname" .)) .Values.serviceAccount.api.name }}
{{- end }}

{{- define "storefleet.orchestratorServiceAccountName" -}}
{{- default (printf "%s-orchestrator" (include "storefleet.fullname" .)) .Values.serviceAccount.orchestrator.name }}
{{- end }}

{{/* The username the API server gives the orchestrator's token. */}}
{{- define "storefleet.orchestratorUsername" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "storefleet.orchestratorServiceAccountName" . }}
{{- end }}

{{- define "storefleet.postgresqlName" -}}
{{- printf "%s-postgresql" (include "storefleet.fullname" .) }}
{{- end }}

{{- define "storefleet.platformKeySecretName" -}}
{{- default (printf "%s-platform-key" (include "storefleet.fullname" .)) .Values.platformKey.existingSecret }}
{{- end }}

{{/* Labels ------------------------------------------------------------------------ */}}

{{- define "storefleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "storefleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "storefleet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "storefleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: storefleet
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Usage: include "storefleet.componentLabels" (dict "ctx" $ "component" "api") */}}
{{- define "storefleet.componentLabels" -}}
{{ include "storefleet.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "storefleet.componentSelectorLabels" -}}
{{ include "storefleet.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Images ------------------------------------------------------------------------ */}}

{{- define "storefleet.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "storefleet.postgresqlImage" -}}
{{- printf "%s:%s" .Values.postgresql.image.repository .Values.postgresql.image.tag }}
{{- end }}

{{/* Database ---------------------------------------------------------------------- */}}

{{/* Fails early on contradictory database settings. */}}
{{- define "storefleet.validateDatabase" -}}
{{- if and .Values.postgresql.enabled .Values.database.existingSecret }}
{{- fail "database.existingSecret points at an external database: set postgresql.enabled=false too" }}
{{- end }}
{{- if and (not .Values.postgresql.enabled) (not .Values.database.existingSecret) }}
{{- fail "no database: enable postgresql (bundled) or set database.existingSecret (a Secret with key `url`)" }}
{{- end }}
{{- if and (eq .Values.migrations.mode "hook") .Values.postgresql.enabled }}
{{- fail "migrations.mode=hook needs an external database: the bundled PostgreSQL does not exist yet when pre-install hooks run; use migrations.mode=initContainer" }}
{{- end }}
{{- end }}

{{/* env entries that yield STOREFLEET_DATABASE_URL. */}}
{{- define "storefleet.databaseEnv" -}}
{{- if .Values.database.existingSecret }}
- name: STOREFLEET_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.existingSecretKey }}
{{- else if .Values.postgresql.auth.existingSecret }}
# The password comes from the operator's Secret; Kubernetes expands $(VAR) references.
- name: STOREFLEET_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgresql.auth.existingSecret }}
      key: {{ .Values.postgresql.auth.existingSecretPasswordKey }}
- name: STOREFLEET_DATABASE_URL
  value: {{ printf "postgres://%s:$(STOREFLEET_DATABASE_PASSWORD)@%s:5432/%s?sslmode=disable" .Values.postgresql.auth.username (include "storefleet.postgresqlName" .) .Values.postgresql.auth.database | quote }}
{{- else }}
- name: STOREFLEET_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "storefleet.postgresqlName" . }}
      key: url
{{- end }}
{{- end }}

{{/* Pod pieces -------------------------------------------------------------------- */}}

{{- define "storefleet.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* initContainers: wait for the database, then migrate (mode initContainer).
     Usage: include "storefleet.initContainers" $ */}}
{{- define "storefleet.initContainers" -}}
{{- if .Values.database.waitForDatabase }}
- name: wait-for-database
  image: {{ include "storefleet.postgresqlImage" . }}
  imagePullPolicy: {{ .Values.postgresql.image.pullPolicy }}
  command:
    - sh
    - -c
    - |
      for i in $(seq 1 150); do
        pg_isready -q -t 2 -d "$STOREFLEET_DATABASE_URL" && exit 0
        echo "waiting for the database ($i)"; sleep 2
      done
      echo "database not reachable after 5 minutes" >&2; exit 1
  env:
    {{- include "storefleet.databaseEnv" . | trim | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {cpu: 100m, memory: 64Mi}
  securityContext:
    {{- include "storefleet.containerSecurityContext" . | nindent 4 }}
{{- end }}
{{- if eq .Values.migrations.mode "initContainer" }}
- name: migrate
  image: {{ include "storefleet.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["migrate"]
  env:
    - name: STOREFLEET_LOG
      value: {{ .Values.log | quote }}
    {{- include "storefleet.databaseEnv" . | trim | nindent 4 }}
  resources:
    {{- toYaml .Values.migrations.resources | nindent 4 }}
  securityContext:
    {{- include "storefleet.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end }}
{{- end }}

{{- define "storefleet.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 3
{{- end }}

{{- define "storefleet.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end }}

{{/* stores.ingressFrom as the orchestrator reads it: NAMESPACE:KEY=VALUE[,KEY=VALUE];... */}}
{{- define "storefleet.storeIngressFrom" -}}
{{- $peers := list }}
{{- range .Values.stores.ingressFrom }}
{{- $labels := list }}
{{- range $k, $v := .podLabels }}{{ $labels = append $labels (printf "%s=%s" $k $v) }}{{ end }}
{{- $peers = append $peers (printf "%s:%s" .namespace (join "," $labels)) }}
{{- end }}
{{- join ";" $peers }}
{{- end }}
