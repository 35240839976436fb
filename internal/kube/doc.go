// Package kube owns `maintpage k8s`: logging in to a cluster like kubectl does (KUBECONFIG,
// ~/.kube/config, a context, or the in-cluster service account), and switching Ingresses, Gateway API
// HTTPRoutes and Services to a maintenance Service and back. What an object pointed at before is saved
// on the object itself, in an annotation, so that "off" works from any machine and after a crash.
// Every write carries the resourceVersion that was read, so a concurrent edit fails the write instead
// of being overwritten, and a failure part-way over several objects puts back the ones already changed.
//
// All objects are handled as unstructured JSON through client-go's dynamic client: the three kinds
// need only a few fields each, HTTPRoute is a CRD that may not be installed, and the typed clientsets
// would link the Go types of every API group (and the Gateway API's) into the binary. What client-go
// adds to the binary is measured in docs/kubernetes.md.
package kube
