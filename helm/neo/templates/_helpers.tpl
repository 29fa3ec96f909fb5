{{/* The chart's name. */}}
{{- define "neo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resources' name (pods are <fullname>-<i>). */}}
{{- define "neo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else if contains (include "neo.name" .) .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "neo.name" .) | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "neo.headless" -}}
{{- printf "%s-headless" (include "neo.fullname" .) }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "neo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "neo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: neo
{{- end }}

{{/* Labels selecting the brokers. */}}
{{- define "neo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "neo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: broker
{{- end }}

{{- define "neo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "neo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "neo.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The DNS name of pod i: <fullname>-<i>.<headless>.<namespace>.svc.<domain>. */}}
{{- define "neo.podHost" -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "neo.fullname" .root) (int .index) (include "neo.headless" .root) .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{/* Every broker as id@host:port, the controller's voters (node id = ordinal + 1). */}}
{{- define "neo.voters" -}}
{{- $voters := list }}
{{- range $i := until (int .Values.replicaCount) }}
{{- $host := include "neo.podHost" (dict "root" $ "index" $i) }}
{{- $voters = append $voters (printf "%d@%s:%d" (add1 $i) $host (int $.Values.ports.cluster)) }}
{{- end }}
{{- join ", " $voters }}
{{- end }}

{{/* A replication factor: the value given, or the number of brokers, at most 3. */}}
{{- define "neo.replicationFactor" -}}
{{- if .value }}{{ .value }}{{ else }}{{ min 3 (int .root.Values.replicaCount) }}{{ end }}
{{- end }}

{{- define "neo.amqpSecret" -}}
{{- default (printf "%s-amqp" (include "neo.fullname" .)) .Values.amqp.existingSecret }}
{{- end }}

{{- define "neo.nativeSecret" -}}
{{- default (printf "%s-native" (include "neo.fullname" .)) .Values.native.existingSecret }}
{{- end }}
