{{/*
The labels kustomization.yaml adds to every object. No release or chart
labels: the defaults must render exactly the objects of deploy/k8s.
*/}}
{{- define "protrader5-ws.labels" -}}
app.kubernetes.io/name: protrader5-ws
app.kubernetes.io/part-of: protrader5
{{- end }}
