// Package deploy holds the container and Kubernetes files of the gateway
// (Dockerfile, docker-compose.yml, haproxy.cfg, k8s/). It has no code: its
// tests check the manifests against the gateway's configuration and run the
// compose topology (Redis, three gateways, HAProxy) without a container
// engine.
package deploy
