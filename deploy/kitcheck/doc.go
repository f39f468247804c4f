// Package kitcheck tests the operator kit of deploy/ with libraries too heavy
// for the gateway's own go.mod: the Helm chart rendered by Helm's engine
// against the kustomize build of deploy/k8s, object by object, and every
// PromQL expression of the dashboard and the alert rules parsed by
// Prometheus's parser, its metrics checked against a gateway's first scrape.
// It is a module of its own so that none of this reaches the gateway's
// dependencies; `make test` runs it.
package kitcheck
