{{- define "cairn.fullname" -}}{{ .Release.Name }}-cairn{{- end -}}
{{- define "cairn.labels" -}}
app.kubernetes.io/name: cairn
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "cairn.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}
{{/* Every placement replica as id=host:port, the Raft peer list. */}}
{{- define "cairn.placementPeers" -}}
{{- $root := . -}}
{{- $peers := list -}}
{{- range $i := until (int .Values.placement.replicas) -}}
{{- $name := printf "%s-placement-%d" (include "cairn.fullname" $root) $i -}}
{{- $peers = append $peers (printf "%s=%s.%s-placement.%s.svc:%d" $name $name (include "cairn.fullname" $root) $root.Release.Namespace (int $root.Values.placement.port)) -}}
{{- end -}}
{{- join "," $peers -}}
{{- end -}}
{{- define "cairn.placementAddrs" -}}
{{- $root := . -}}
{{- $addrs := list -}}
{{- range $i := until (int .Values.placement.replicas) -}}
{{- $name := printf "%s-placement-%d" (include "cairn.fullname" $root) $i -}}
{{- $addrs = append $addrs (printf "%s.%s-placement.%s.svc:%d" $name (include "cairn.fullname" $root) $root.Release.Namespace (int $root.Values.placement.port)) -}}
{{- end -}}
{{- join "," $addrs -}}
{{- end -}}
