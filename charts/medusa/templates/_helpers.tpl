{{/* Resource name prefix: the release name ("store" in Storefleet namespaces). */}}
{{- define "md.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "md.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "md.labels" -}}
helm.sh/chart: {{ include "md.chart" . }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: storefleet
storefleet.io/store-id: {{ .Values.store.id | quote }}
storefleet.io/engine: medusa
{{- end -}}

{{/* Selector labels for one component: include "md.selectorLabels" (list . "server") */}}
{{- define "md.selectorLabels" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ $ctx.Chart.Name }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The selected plan's presets; fails on an unknown plan (the schema also rejects it). */}}
{{- define "md.plan" -}}
{{- $p := index .Values.plans .Values.plan -}}
{{- if not $p -}}
{{- fail (printf "unknown plan %q: must be one of %s" .Values.plan (keys .Values.plans | sortAlpha | join ", ")) -}}
{{- end -}}
{{- toYaml $p -}}
{{- end -}}

{{- define "md.url" -}}
{{- if .Values.ingress.tlsIssuer -}}https{{- else -}}http{{- end -}}://{{ .Values.ingress.host }}
{{- end -}}

{{- define "md.image" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{- define "md.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Environment of every Medusa process (server, worker, setup Job, init waits).
medusa-config.ts builds the database and Redis URLs itself (URL-encoding the
passwords), so the Secret's values may contain any character.
JWT and cookie secrets are derived from app-secret with distinct suffixes.
*/}}
{{- define "md.medusaEnv" -}}
- name: NODE_ENV
  value: production
- name: MEDUSA_DISABLE_TELEMETRY
  value: "true"
- name: DB_HOST
  value: {{ printf "%s-postgres" (include "md.fullname" .) | quote }}
- name: DB_PORT
  value: "5432"
- name: DB_NAME
  value: {{ .Values.postgres.database | quote }}
- name: DB_USER
  value: {{ .Values.postgres.user | quote }}
- name: DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.credentials.secretName }}
      key: db-password
- name: REDIS_HOST
  value: {{ printf "%s-redis" (include "md.fullname" .) | quote }}
- name: REDIS_PORT
  value: "6379"
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.credentials.secretName }}
      key: db-password
- name: STOREFLEET_APP_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.credentials.secretName }}
      key: app-secret
- name: JWT_SECRET
  value: "$(STOREFLEET_APP_SECRET):jwt"
- name: COOKIE_SECRET
  value: "$(STOREFLEET_APP_SECRET):cookie"
{{- $cors := include "md.url" . }}
{{- if .Values.medusa.extraCors }}{{ $cors = printf "%s,%s" $cors .Values.medusa.extraCors }}{{ end }}
- name: STORE_CORS
  value: {{ $cors | quote }}
- name: ADMIN_CORS
  value: {{ $cors | quote }}
- name: AUTH_CORS
  value: {{ $cors | quote }}
- name: HOME
  value: /tmp
{{- end -}}

{{/* initContainer that waits until a setup Job ran the migrations of this image. */}}
{{- define "md.waitMigrated" -}}
- name: wait-migrations
  image: {{ include "md.image" .Values.images.medusa }}
  imagePullPolicy: {{ .Values.images.medusa.pullPolicy }}
  command: ["node", "/setup/wait-for.js", "migrated", {{ include "md.image" .Values.images.medusa | quote }}]
  workingDir: /app
  env:
    {{- include "md.medusaEnv" . | nindent 4 }}
    - name: WAIT_TIMEOUT_SECONDS
      value: {{ .Values.setup.activeDeadlineSeconds | quote }}
  resources:
    requests: {cpu: 10m, memory: 32Mi}
    limits: {cpu: 100m, memory: 128Mi}
  securityContext:
    {{- include "md.containerSecurityContext" . | nindent 4 }}
    readOnlyRootFilesystem: true
  volumeMounts:
    - name: setup
      mountPath: /setup
      readOnly: true
    - name: tmp
      mountPath: /tmp
{{- end -}}
