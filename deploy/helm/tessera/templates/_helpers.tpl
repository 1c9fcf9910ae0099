{{- define "tessera.labels" -}}
app.kubernetes.io/name: tessera
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* The selector of one component: (list $ "name") */}}
{{- define "tessera.selector" -}}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "tessera.dbSecret" -}}
{{- .Values.postgres.existingSecret | default (printf "%s-db" .Release.Name) -}}
{{- end -}}

{{/* What every Tessera container gets: image, env, security, volumes at /data and /results */}}
{{- define "tessera.container" -}}
{{- $ := index . 0 -}}
image: "{{ $.Values.image.repository }}:{{ $.Values.image.tag }}"
imagePullPolicy: {{ $.Values.image.pullPolicy }}
envFrom: [{ configMapRef: { name: {{ $.Release.Name }}-config } }]
securityContext: {{- toYaml $.Values.securityContext | nindent 2 }}
volumeMounts:
  {{- /* only the gateway writes the data root (uploads) */}}
  - { name: slides, mountPath: /data, readOnly: {{ ne (index . 1) "gateway" }} }
  - { name: results, mountPath: /results }
{{- end -}}

{{- define "tessera.dbEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: { name: {{ include "tessera.dbSecret" . }}, key: {{ .Values.postgres.secretKey }} }
{{- end -}}

{{- define "tessera.pod" -}}
securityContext: {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - { name: slides, persistentVolumeClaim: { claimName: {{ .Values.storage.slidesClaim }} } }
  - { name: results, persistentVolumeClaim: { claimName: {{ .Values.storage.resultsClaim }} } }
{{- end -}}
