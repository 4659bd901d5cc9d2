{{/* vim: set filetype=mustache: */}}

{{/* The chart's name, or nameOverride. */}}
{{- define "boom-flow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The release's full name: <release>-<chart>, or the release alone when it already holds
the chart's name; 63 characters at most (a DNS label).
*/}}
{{- define "boom-flow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "boom-flow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; call with (dict "root" $ "component" "worker"). */}}
{{- define "boom-flow.labels" -}}
helm.sh/chart: {{ include "boom-flow.chart" .root }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "boom-flow.selectorLabels" . }}
{{- end -}}

{{/* What Services and Deployments select on. */}}
{{- define "boom-flow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "boom-flow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "boom-flow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "boom-flow.configMapName" -}}
{{- printf "%s-config" (include "boom-flow.fullname" .) -}}
{{- end -}}

{{- define "boom-flow.secretName" -}}
{{- default (printf "%s-secrets" (include "boom-flow.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "boom-flow.schedulerName" -}}
{{- printf "%s-scheduler" (include "boom-flow.fullname" .) -}}
{{- end -}}

{{/* The scheduler the workers and ingest processes use: this chart's, or an external one. */}}
{{- define "boom-flow.schedulerAddress" -}}
{{- if .Values.scheduler.enabled -}}
{{- printf "tcp://%s:%d" (include "boom-flow.schedulerName" .) (int .Values.scheduler.port) -}}
{{- else -}}
{{- required "scheduler.externalAddress is required when scheduler.enabled is false" .Values.scheduler.externalAddress -}}
{{- end -}}
{{- end -}}

{{/* Where the configuration file is mounted in every boom-flow container. */}}
{{- define "boom-flow.configPath" -}}/etc/boom-flow/config.yaml{{- end -}}

{{/*
boom-flow's YAML configuration (boom_flow/config): the external services, the
scheduler, the paths in the pods, then .Values.config merged over it.
*/}}
{{- define "boom-flow.configuration" -}}
{{- $kafka := dict "embedded" false "bootstrap_servers" .Values.kafka.bootstrapServers "group_id" .Values.kafka.groupId "session_timeout_ms" (int .Values.kafka.sessionTimeoutMs) "auto_offset_reset" .Values.kafka.autoOffsetReset "security" .Values.kafka.security "consumer" .Values.kafka.consumer "producer" .Values.kafka.producer -}}
{{- $mongodb := dict "embedded" false "uri" .Values.mongodb.uri "database" .Values.mongodb.database -}}
{{- $valkey := dict "embedded" false "url" .Values.valkey.url -}}
{{- $services := dict "state_dir" "/var/lib/boom-flow/state" "mongodb" $mongodb "kafka" $kafka "valkey" $valkey -}}
{{- $computed := dict
  "services" $services
  "dask" (dict "scheduler_address" (include "boom-flow.schedulerAddress" .))
  "models" (dict "models_dir" .Values.models.dir)
  "crossmatch" (dict "catalogs_dir" .Values.catalogs.dir)
  "api" (dict "host" "0.0.0.0" "port" (int .Values.api.port))
  "metrics" (dict "host" "0.0.0.0" "port" (int .Values.ingest.metricsPort) "stale_after_s" .Values.ingest.staleAfterSeconds)
-}}
{{- mergeOverwrite $computed (deepCopy .Values.config) | toYaml -}}
{{- end -}}

{{/* Environment of every boom-flow container: where the configuration is, and the
database credentials (optional keys of the Secret). */}}
{{- define "boom-flow.env" -}}
- name: BOOM_FLOW_CONFIG
  value: {{ include "boom-flow.configPath" . }}
{{- range $variable, $key := dict "BOOM_FLOW_SERVICES__MONGODB__USERNAME" .Values.secrets.keys.mongodbUsername "BOOM_FLOW_SERVICES__MONGODB__PASSWORD" .Values.secrets.keys.mongodbPassword }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef:
      name: {{ include "boom-flow.secretName" $ }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end -}}

{{/* .Values.daskConfig as the DASK_* variables the scheduler and workers read
(distributed.admin.tick.interval -> DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL). */}}
{{- define "boom-flow.daskEnv" -}}
{{- range $key, $value := .Values.daskConfig }}
- name: {{ printf "DASK_%s" ($key | replace "." "__" | replace "-" "_" | upper) }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* The Kafka SASL credentials (ingest only: it consumes, and plans the producers). */}}
{{- define "boom-flow.kafkaEnv" -}}
{{- range $variable, $key := dict "BOOM_FLOW_SERVICES__KAFKA__USERNAME" .Values.secrets.keys.kafkaUsername "BOOM_FLOW_SERVICES__KAFKA__PASSWORD" .Values.secrets.keys.kafkaPassword }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef:
      name: {{ include "boom-flow.secretName" $ }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end -}}

{{/* Volumes of the pods that run stages (ingest checks models and catalogs at
start-up, workers use them). */}}
{{- define "boom-flow.dataVolumes" -}}
- name: config
  configMap:
    name: {{ include "boom-flow.configMapName" . }}
- name: models
{{- if .Values.models.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.models.existingClaim }}
    readOnly: {{ not .Values.models.fetch.enabled }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: catalogs
{{- if .Values.catalogs.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.catalogs.existingClaim }}
    readOnly: true
{{- else }}
  emptyDir: {}
{{- end }}
- name: state
  emptyDir: {}
{{- end -}}

{{- define "boom-flow.dataMounts" -}}
- name: config
  mountPath: /etc/boom-flow
  readOnly: true
- name: models
  mountPath: {{ .Values.models.dir }}
- name: catalogs
  mountPath: {{ .Values.catalogs.dir }}
  readOnly: true
- name: state
  mountPath: /var/lib/boom-flow/state
{{- end -}}

{{/* The init container that fetches the models, when enabled. */}}
{{- define "boom-flow.modelsInit" -}}
{{- if .Values.models.fetch.enabled }}
initContainers:
  - name: models-fetch
    image: {{ include "boom-flow.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["boom-flow", "models", "fetch"]
    {{- with .Values.models.fetch.from }}
    args: ["--from", {{ . | quote }}]
    {{- end }}
    env:
      {{- include "boom-flow.env" . | nindent 6 }}
    volumeMounts:
      {{- include "boom-flow.dataMounts" . | nindent 6 }}
    {{- with .Values.containerSecurityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by every component; call with (dict "root" $ "spec" .Values.worker). */}}
{{- define "boom-flow.podSettings" -}}
{{- with .root.Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Prometheus scrape annotations for setups without the Prometheus Operator. */}}
{{- define "boom-flow.scrapeAnnotations" -}}
{{- if .root.Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}
