{{/* Resource name prefix: the release name ("store" in Storefleet namespaces). */}}
{{- define "wc.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "wc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "wc.labels" -}}
helm.sh/chart: {{ include "wc.chart" . }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: storefleet
storefleet.io/store-id: {{ .Values.store.id | quote }}
storefleet.io/engine: woocommerce
{{- end -}}

{{/* Selector labels for one component: include "wc.selectorLabels" (list . "wordpress") */}}
{{- define "wc.selectorLabels" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ $ctx.Chart.Name }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The selected plan's presets; fails on an unknown plan (the schema also rejects it). */}}
{{- define "wc.plan" -}}
{{- $p := index .Values.plans .Values.plan -}}
{{- if not $p -}}
{{- fail (printf "unknown plan %q: must be one of %s" .Values.plan (keys .Values.plans | sortAlpha | join ", ")) -}}
{{- end -}}
{{- toYaml $p -}}
{{- end -}}

{{/* Public base URL of the store, without trailing slash. */}}
{{- define "wc.url" -}}
{{- if .Values.ingress.tlsIssuer -}}https{{- else -}}http{{- end -}}://{{ .Values.ingress.host }}
{{- end -}}

{{- define "wc.image" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/* Restricted-profile container securityContext (non-root). Arg: uid. */}}
{{- define "wc.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Environment shared by the WordPress container and the setup Job, so wp-cli loads
exactly the wp-config.php WordPress uses (the official image generates wp-config.php
from wp-config-docker.php, which reads these variables at run time).
Keys and salts are derived from app-secret with a distinct suffix each (Kubernetes
expands $(VAR) from earlier variables), so no two of them are equal.
*/}}
{{- define "wc.wordpressEnv" -}}
- name: WORDPRESS_DB_HOST
  value: {{ printf "%s-mariadb" (include "wc.fullname" .) | quote }}
- name: WORDPRESS_DB_NAME
  value: {{ .Values.mariadb.database | quote }}
- name: WORDPRESS_DB_USER
  value: {{ .Values.mariadb.user | quote }}
- name: WORDPRESS_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.credentials.secretName }}
      key: db-password
- name: WORDPRESS_TABLE_PREFIX
  value: {{ .Values.wordpress.tablePrefix | quote }}
- name: STOREFLEET_APP_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.credentials.secretName }}
      key: app-secret
{{- range $k := list "AUTH_KEY" "SECURE_AUTH_KEY" "LOGGED_IN_KEY" "NONCE_KEY" "AUTH_SALT" "SECURE_AUTH_SALT" "LOGGED_IN_SALT" "NONCE_SALT" }}
- name: WORDPRESS_{{ $k }}
  value: "$(STOREFLEET_APP_SECRET):{{ $k | lower }}"
{{- end }}
- name: WORDPRESS_CONFIG_EXTRA
  value: {{ .Values.wordpress.extraConfig | toJson }}
{{- end -}}
