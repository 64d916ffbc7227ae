{{/* The chart name, shortened to fit a label. */}}
{{- define "edas-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of every object: the release name when it already contains the chart name,
else <release>-<chart>; at most 63 characters (the Service's name is a DNS label).
*/}}
{{- define "edas-operator.fullname" -}}
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

{{- define "edas-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "edas-operator.labels" -}}
helm.sh/chart: {{ include "edas-operator.chart" . }}
{{ include "edas-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: edas-operator
{{- end }}

{{/* What the Deployment and the Service select on. */}}
{{- define "edas-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edas-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "edas-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "edas-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "edas-operator.leaseName" -}}
{{- default (printf "%s-leader" (include "edas-operator.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "edas-operator.credentialsReader" -}}
{{- printf "%s-credentials-reader" (include "edas-operator.fullname" .) }}
{{- end }}

{{- define "edas-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}
