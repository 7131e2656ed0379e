{{/* Chart name, truncated to 63 characters. */}}
{{- define "junction.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name prefix: <release>-junction, or the release name when it already says junction. */}}
{{- define "junction.fullname" -}}
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

{{/* Labels on every object. */}}
{{- define "junction.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "junction.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the manager pods. */}}
{{- define "junction.selectorLabels" -}}
app.kubernetes.io/name: {{ include "junction.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/* The manager's ServiceAccount name. */}}
{{- define "junction.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-manager" (include "junction.fullname" .)) .Values.serviceAccount.name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* image renders [registry/]repository:tag, the tag defaulting to appVersion. Call with (list $ .Values.image.x). */}}
{{- define "junction.image" -}}
{{- $root := index . 0 }}
{{- $img := index . 1 }}
{{- $tag := default $root.Chart.AppVersion $img.tag }}
{{- if $root.Values.image.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $root.Values.image.registry) $img.repository $tag }}
{{- else }}
{{- printf "%s:%s" $img.repository $tag }}
{{- end }}
{{- end }}

{{/* Webhook names. */}}
{{- define "junction.webhookServiceName" -}}
{{- printf "%s-webhook" (include "junction.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "junction.webhookSecretName" -}}
{{- default (printf "%s-webhook-tls" (include "junction.fullname" .)) .Values.webhook.certificate.secretName }}
{{- end }}
{{- define "junction.webhookCertName" -}}
{{- printf "%s-webhook" (include "junction.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
