// Package kubetest starts a real control plane for tests: a one-member etcd and kube-apiserver on
// free ports of 127.0.0.1, built by scripts/controlplane.sh at pinned versions, with static tokens
// for an admin and a user with no rights of its own, RBAC authorization, and the Gateway API CRDs
// applied. Without the binaries a test is skipped, except with CI=true, where it fails.
package kubetest
