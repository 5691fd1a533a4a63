{{/* Chart name, or nameOverride. */}}
{{- define "bpo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name of the chart's objects (63 characters at most, a DNS label). */}}
{{- define "bpo.fullname" -}}
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

{{- define "bpo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object of the release. */}}
{{- define "bpo.labels" -}}
helm.sh/chart: {{ include "bpo.chart" . }}
{{ include "bpo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* What the Deployment and the metrics Service select the operator's Pod by. */}}
{{- define "bpo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bpo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "bpo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bpo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The one image reference: the operator's container and every generator Job run it. */}}
{{- define "bpo.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* storage.allowedHostPaths without trailing slashes (the root "/" stays), as a JSON list. */}}
{{- define "bpo.allowedHostPaths" -}}
{{- $roots := list -}}
{{- range .Values.storage.allowedHostPaths -}}
{{- $root := trimSuffix "/" . -}}
{{- $roots = append $roots (ternary "/" $root (eq $root "")) -}}
{{- end -}}
{{- toJson $roots -}}
{{- end -}}
