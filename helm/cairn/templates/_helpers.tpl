{{- define "cairn.fullname" -}}{{ .Release.Name }}-cairn{{- end -}}

{{- define "cairn.labels" -}}
app.kubernetes.io/name: cairn
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Labels of one component's objects; call with (list $ "component"). */}}
{{- define "cairn.componentLabels" -}}
{{ include "cairn.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The selector of one component's pods; call with (list $ "component"). */}}
{{- define "cairn.selector" -}}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "cairn.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}

{{/* The Secret holding the root credentials, and its two keys. */}}
{{- define "cairn.rootSecret" -}}
{{- .Values.root.existingSecret | default (printf "%s-root" (include "cairn.fullname" .)) -}}
{{- end -}}
{{- define "cairn.rootAccessKeyKey" -}}
{{- if .Values.root.existingSecret }}{{ .Values.root.existingSecretAccessKeyKey }}{{ else }}accessKey{{ end -}}
{{- end -}}
{{- define "cairn.rootSecretKeyKey" -}}
{{- if .Values.root.existingSecret }}{{ .Values.root.existingSecretSecretKeyKey }}{{ else }}secretKey{{ end -}}
{{- end -}}

{{/* The Secret holding the cluster master keyring, and its key; the pods that hold keys (API:
SSE-S3; metadata: KMS) mount it as a file, which Kubernetes updates in place when the Secret
changes and the processes re-read (sse_crypto.KeyringFile). */}}
{{- define "cairn.keyringSecret" -}}
{{- .Values.masterKeyring.existingSecret | default (printf "%s-master-keyring" (include "cairn.fullname" .)) -}}
{{- end -}}
{{- define "cairn.keyringArg" -}}
- --master-keyring=/etc/cairn/keyring/master-keyring.json
{{- end -}}
{{- define "cairn.keyringMount" -}}
- {name: master-keyring, mountPath: /etc/cairn/keyring, readOnly: true}
{{- end -}}
{{- define "cairn.keyringVolume" -}}
- name: master-keyring
  secret:
    secretName: {{ include "cairn.keyringSecret" . }}
    defaultMode: 0400
    items:
      - key: {{ if .Values.masterKeyring.existingSecret }}{{ .Values.masterKeyring.existingSecretKey }}{{ else }}master-keyring.json{{ end }}
        path: master-keyring.json
{{- end -}}

{{/* The replicas of a Raft group's StatefulSet (placement, metadata): call with
(list $ "component" replicas port). "cairn.groupPeers" gives id=host:port,... (the pod names are
the ids), "cairn.groupAddrs" host:port,... for clients. */}}
{{- define "cairn.groupPeers" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $peers := list -}}
{{- range $i := until (int (index . 2)) -}}
{{- $name := printf "%s-%s-%d" (include "cairn.fullname" $root) $component $i -}}
{{- $peers = append $peers (printf "%s=%s.%s-%s.%s.svc:%d" $name $name (include "cairn.fullname" $root) $component $root.Release.Namespace (int (index $ 3))) -}}
{{- end -}}
{{- join "," $peers -}}
{{- end -}}
{{- define "cairn.groupAddrs" -}}
{{- $addrs := list -}}
{{- range $peer := splitList "," (include "cairn.groupPeers" .) -}}
{{- $addrs = append $addrs (index (splitList "=" $peer) 1) -}}
{{- end -}}
{{- join "," $addrs -}}
{{- end -}}
{{- define "cairn.placementPeers" -}}
{{- include "cairn.groupPeers" (list . "placement" .Values.placement.replicas .Values.placement.port) -}}
{{- end -}}
{{- define "cairn.placementAddrs" -}}
{{- include "cairn.groupAddrs" (list . "placement" .Values.placement.replicas .Values.placement.port) -}}
{{- end -}}
{{- define "cairn.metadataPeers" -}}
{{- include "cairn.groupPeers" (list . "metadata" .Values.metadata.replicas .Values.metadata.port) -}}
{{- end -}}
{{- define "cairn.metadataAddrs" -}}
{{- include "cairn.groupAddrs" (list . "metadata" .Values.metadata.replicas .Values.metadata.port) -}}
{{- end -}}

{{/* Pod-level settings every workload shares; call with (list $ "component"). */}}
{{- define "cairn.podSpec" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
securityContext: {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: {{ $root.Values.topologySpread.zoneKey }}
    whenUnsatisfiable: {{ $root.Values.topologySpread.zoneWhenUnsatisfiable }}
    labelSelector:
      matchLabels: {{- include "cairn.selector" (list $root $component) | nindent 8 }}
  - maxSkew: 1
    topologyKey: {{ $root.Values.topologySpread.hostKey }}
    whenUnsatisfiable: {{ $root.Values.topologySpread.hostWhenUnsatisfiable }}
    labelSelector:
      matchLabels: {{- include "cairn.selector" (list $root $component) | nindent 8 }}
{{- end -}}

{{/* A PodDisruptionBudget; call with (list $ "component" maxUnavailable). */}}
{{- define "cairn.pdb" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "cairn.fullname" $root }}-{{ $component }}
  labels: {{- include "cairn.componentLabels" (list $root $component) | nindent 4 }}
spec:
  maxUnavailable: {{ index . 2 }}
  selector:
    matchLabels: {{- include "cairn.selector" (list $root $component) | nindent 6 }}
{{- end -}}

{{/* Pods may lose a majority of n replicas: n - (n/2 + 1). */}}
{{- define "cairn.majorityBudget" -}}
{{- $n := int . -}}
{{- sub $n (add (div $n 2) 1) -}}
{{- end -}}

{{/* Data nodes a disruption may take: the value given, else m - 1 (at least 1); never above m. */}}
{{- define "cairn.datanodeBudget" -}}
{{- $m := int .Values.erasure.m -}}
{{- $budget := max 1 (sub $m 1) -}}
{{- if ne (toString .Values.datanode.pdb.maxUnavailable) "" -}}
{{- $budget = int .Values.datanode.pdb.maxUnavailable -}}
{{- end -}}
{{- if or (lt $budget 1) (gt $budget $m) -}}
{{- fail (printf "datanode.pdb.maxUnavailable must be between 1 and erasure.m (%d), got %d" $m $budget) -}}
{{- end -}}
{{- $budget -}}
{{- end -}}

{{/* Hosts placement waits for before creating the map: the value given, else k+m. Refuses a
layout placement would refuse (hosts * shards per host < k+m) or one the data nodes cannot fill
(with one data node per host, fewer pods than hosts). */}}
{{- define "cairn.autoCreateHosts" -}}
{{- $k := int .Values.erasure.k -}}
{{- $m := int .Values.erasure.m -}}
{{- $hosts := int .Values.placement.autoCreateHosts -}}
{{- if eq $hosts 0 -}}{{- $hosts = add $k $m -}}{{- end -}}
{{- $perHost := int .Values.placement.maxShardsPerHost -}}
{{- if eq $perHost 0 -}}{{- $perHost = max 1 $m -}}{{- end -}}
{{- if lt (mul $hosts $perHost) (add $k $m) -}}
{{- fail (printf "placement.autoCreateHosts=%d hosts with at most %d shards each cannot hold k+m=%d shards" $hosts $perHost (add $k $m)) -}}
{{- end -}}
{{- if gt $hosts (int .Values.datanode.replicas) -}}
{{- fail (printf "placement waits for %d hosts but datanode.replicas is %d" $hosts (int .Values.datanode.replicas)) -}}
{{- end -}}
{{- $hosts -}}
{{- end -}}

{{/* Mutual TLS between the services (cairn.mtls): a pod of role R reads its certificate, key and
the cluster CA from the Secret <fullname>-R-tls (keys ca.crt, tls.crt, tls.key). */}}
{{- define "cairn.rpcTlsEnv" -}}
- {name: CAIRN_RPC_CA, value: /etc/cairn/rpc/ca.crt}
- {name: CAIRN_RPC_CERT, value: /etc/cairn/rpc/tls.crt}
- {name: CAIRN_RPC_KEY, value: /etc/cairn/rpc/tls.key}
{{- end -}}
{{- define "cairn.rpcTlsMount" -}}
- {name: rpc-tls, mountPath: /etc/cairn/rpc, readOnly: true}
{{- end -}}
{{/* Call with (dict "root" $ "role" "api"). */}}
{{- define "cairn.rpcTlsVolume" -}}
- name: rpc-tls
  secret: {secretName: {{ include "cairn.fullname" .root }}-{{ .role }}-tls}
{{- end -}}
