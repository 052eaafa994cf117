{{/* Names */}}
{{- define "callback-dispatcher.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name is cut to 46 characters so that the longest suffix, "-producer-metrics", keeps
every object name within the 63 a Service name may have.
*/}}
{{- define "callback-dispatcher.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 46 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "callback-dispatcher.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "callback-dispatcher.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "callback-dispatcher.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels. Call the component ones with (dict "root" $ "component" "worker"). */}}
{{- define "callback-dispatcher.labels" -}}
helm.sh/chart: {{ include "callback-dispatcher.chart" . }}
app.kubernetes.io/name: {{ include "callback-dispatcher.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: callback-dispatcher
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "callback-dispatcher.componentLabels" -}}
{{ include "callback-dispatcher.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "callback-dispatcher.selectorLabels" -}}
app.kubernetes.io/name: {{ include "callback-dispatcher.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "callback-dispatcher.image" -}}
{{- $img := .Values.image }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) }}
{{- end }}
{{- end }}

{{/* Hardening shared by every pod and container. */}}
{{- define "callback-dispatcher.podSecurityContext" -}}
runAsNonRoot: true
{{- with .Values.runAsUser }}
runAsUser: {{ . }}
{{- end }}
{{- with .Values.runAsGroup }}
runAsGroup: {{ . }}
{{- end }}
{{- with .Values.fsGroup }}
fsGroup: {{ . }}
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "callback-dispatcher.containerSecurityContext" -}}
runAsNonRoot: true
{{- with .Values.runAsUser }}
runAsUser: {{ . }}
{{- end }}
{{- with .Values.runAsGroup }}
runAsGroup: {{ . }}
{{- end }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Settings both programs read, for their ConfigMaps. */}}
{{- define "callback-dispatcher.commonConfig" -}}
QUEUE: {{ .Values.config.queue | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
CALLBACK_ALLOWED_HOSTS: {{ join "," .Values.config.callbackAllowedHosts | quote }}
TASK_TIMEOUT: {{ printf "%ds" (int .Values.config.taskTimeoutSeconds) | quote }}
MAX_ATTEMPTS: {{ .Values.config.maxAttempts | int | quote }}
{{- with .Values.ims.orgId }}
IMS_ORG_ID: {{ . | quote }}
{{- end }}
{{- with .Values.ims.orgIds }}
IMS_ORG_IDS: {{ join "," . | quote }}
{{- end }}
{{- if .Values.ims.profilesSecret }}
IMS_PROFILES_FILE: {{ include "callback-dispatcher.profilesFile" . | quote }}
{{- end }}
{{- if include "callback-dispatcher.databaseEnabled" . }}
ATTEMPT_RETENTION: {{ .Values.database.attemptRetention | quote }}
ARCHIVE_SWEEP_INTERVAL: {{ .Values.database.archiveSweepInterval | quote }}
OUTBOX_DRAIN_INTERVAL: {{ .Values.database.outboxDrainInterval | quote }}
{{- end }}
{{- end }}

{{/* The IMS profiles Secret, mounted read-only in the worker and the producer. */}}
{{- define "callback-dispatcher.profilesFile" -}}
/etc/callback-dispatcher/ims/{{ .Values.ims.profilesKey }}
{{- end }}

{{- define "callback-dispatcher.profilesVolumeMount" -}}
{{- if .Values.ims.profilesSecret -}}
- name: ims-profiles
  mountPath: /etc/callback-dispatcher/ims
  readOnly: true
{{- end }}
{{- end }}

{{- define "callback-dispatcher.profilesVolume" -}}
{{- if .Values.ims.profilesSecret -}}
- name: ims-profiles
  secret:
    secretName: {{ .Values.ims.profilesSecret }}
    defaultMode: 0444
    items:
      - key: {{ .Values.ims.profilesKey }}
        path: {{ .Values.ims.profilesKey }}
{{- end }}
{{- end }}

{{/* Secrets */}}

{{/*
secretKeyRef for one secret setting: (dict "root" $ "existing" NAME "key" KEY "own" ENVNAME)
names the existing Secret's key when existing is set, else the chart's Secret's key ENVNAME.
*/}}
{{- define "callback-dispatcher.secretKeyRef" -}}
{{- if .existing -}}
name: {{ .existing }}
key: {{ .key }}
{{- else -}}
name: {{ include "callback-dispatcher.fullname" .root }}
key: {{ .own }}
{{- end }}
{{- end }}

{{- define "callback-dispatcher.databaseEnabled" -}}
{{- if or .Values.database.url .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{- define "callback-dispatcher.tokenKeyEnabled" -}}
{{- if or .Values.ims.tokenKey .Values.ims.tokenKeyExistingSecret }}true{{ end }}
{{- end }}

{{- define "callback-dispatcher.migrationsEnabled" -}}
{{- if and .Values.migrations.enabled (include "callback-dispatcher.databaseEnabled" .) }}true{{ end }}
{{- end }}

{{/*
The chart's own Secret holds each secret setting given inline; it is rendered when this is
not empty.
*/}}
{{- define "callback-dispatcher.secretData" -}}
{{- $v := .Values }}
{{- if and $v.redis.url (not $v.redis.existingSecret) }}
REDIS_URL: {{ $v.redis.url | b64enc }}
{{- end }}
{{- if and $v.database.url (not $v.database.existingSecret) }}
DATABASE_URL: {{ $v.database.url | b64enc }}
{{- end }}
{{- if and $v.ims.clientSecret (not $v.ims.existingSecret) }}
IMS_CLIENT_SECRET: {{ $v.ims.clientSecret | b64enc }}
{{- end }}
{{- if and $v.ims.clientSecret2 (not $v.ims.existingSecret) }}
IMS_CLIENT_SECRET_2: {{ $v.ims.clientSecret2 | b64enc }}
{{- end }}
{{- if and $v.ims.tokenKey (not $v.ims.tokenKeyExistingSecret) }}
IMS_TOKEN_KEY: {{ $v.ims.tokenKey | b64enc }}
{{- end }}
{{- if and $v.api.tokens (not $v.api.existingSecret) $v.producer.enabled }}
API_TOKENS: {{ join "," $v.api.tokens | b64enc }}
{{- end }}
{{- if and $v.worker.keda.enabled $v.worker.keda.redis.password (not $v.worker.keda.redis.existingSecret) }}
KEDA_REDIS_PASSWORD: {{ $v.worker.keda.redis.password | b64enc }}
{{- end }}
{{- end }}

{{/* Settings the chart cannot check with its schema alone. */}}
{{- define "callback-dispatcher.validate" -}}
{{- $v := .Values }}
{{- if not (or $v.redis.url $v.redis.existingSecret) }}
{{- fail "redis.url or redis.existingSecret is required: the queue's Redis" }}
{{- end }}
{{- if not (or $v.ims.clientId $v.ims.profilesSecret) }}
{{- fail "ims.clientId or ims.profilesSecret is required: the worker's IMS credential" }}
{{- end }}
{{- if and $v.ims.clientId (not (or $v.ims.clientSecret $v.ims.existingSecret)) }}
{{- fail "ims.clientSecret or ims.existingSecret is required with ims.clientId" }}
{{- end }}
{{- if and (not $v.ims.clientId) (or $v.ims.clientSecret $v.ims.clientSecret2 $v.ims.existingSecret) }}
{{- fail "ims.clientId is required with a client secret" }}
{{- end }}
{{- if and $v.producer.enabled (not (or $v.api.tokens $v.api.existingSecret)) }}
{{- fail "api.tokens or api.existingSecret is required while producer.enabled" }}
{{- end }}
{{- if le (int $v.worker.shutdownTimeoutSeconds) (int $v.config.taskTimeoutSeconds) }}
{{- fail (printf "worker.shutdownTimeoutSeconds (%v) must exceed config.taskTimeoutSeconds (%v) so in-flight callbacks finish" $v.worker.shutdownTimeoutSeconds $v.config.taskTimeoutSeconds) }}
{{- end }}
{{- if $v.worker.keda.enabled }}
{{- if $v.worker.keda.redis.sentinel.enabled }}
{{- if not $v.worker.keda.redis.sentinel.addresses }}
{{- fail "worker.keda.redis.sentinel.addresses is required when the sentinel trigger is on" }}
{{- end }}
{{- else if not $v.worker.keda.redis.address }}
{{- fail "worker.keda.redis.address is required while worker.keda.enabled" }}
{{- end }}
{{- end }}
{{- if and $v.producer.ingress.enabled (not $v.producer.enabled) }}
{{- fail "producer.ingress.enabled needs producer.enabled" }}
{{- end }}
{{- end }}

{{/*
Spread constraints for a component: (dict "root" $ "component" "worker" "values" .Values.worker).
*/}}
{{- define "callback-dispatcher.topologySpread" -}}
{{- if .values.topologySpreadConstraints }}
{{- toYaml .values.topologySpreadConstraints }}
{{- else if .values.defaultTopologySpread }}
{{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
- maxSkew: 1
  topologyKey: {{ . }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "callback-dispatcher.selectorLabels" (dict "root" $.root "component" $.component) | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
{{- end }}
{{- end }}
{{- end }}

{{/* The /tmp volume every pod mounts, since the root filesystem is read-only. */}}
{{- define "callback-dispatcher.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 16Mi
{{- end }}

{{- define "callback-dispatcher.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}
