{{- define "maintpage.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "maintpage.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "maintpage.labels" -}}
{{ include "maintpage.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "maintpage.secretName" -}}
{{- .Values.existingSecret | default (include "maintpage.fullname" .) -}}
{{- end -}}

{{/* The configuration file: the mode's settings, then the user's. */}}
{{- define "maintpage.config" -}}
{{- $c := dict "listen" ":8080" "trusted_proxies" .Values.trustedProxies "log_requests" "summary" "log_summary_interval" "10s" -}}
{{- if eq .Values.mode "gate" -}}
{{- $_ := set $c "upstream" (required "gate.upstream is required in gate mode" .Values.gate.upstream) -}}
{{- else if eq .Values.mode "forward-auth" -}}
{{- $_ := set $c "forward_auth" true -}}
{{- else if eq .Values.mode "error-pages" -}}
{{- $_ := set $c "error_pages" true -}}
{{- else if eq .Values.mode "standalone" -}}
{{- $_ := unset $c "trusted_proxies" -}}
{{- else -}}
{{- fail (printf "mode %q: use standalone, gate, forward-auth or error-pages" .Values.mode) -}}
{{- end -}}
{{- if .Values.state -}}
{{- $_ := set $c "state" .Values.state -}}
{{- end -}}
{{- toYaml (merge (deepCopy .Values.config) $c) -}}
{{- end -}}
