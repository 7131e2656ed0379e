// Package install tests the two ways Junction is installed: the Helm chart in charts/junction
// and the kustomize tree in config/default. The tests render both with the helm and kustomize
// binaries in bin/ (make helm, make build-installer) and check the result against a real API
// server (envtest): server-side dry-run, install and upgrade, and the manager reconciling the
// samples with exactly the chart's RBAC.
package install
