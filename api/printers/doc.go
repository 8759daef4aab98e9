// Package printers owns the server side of `kubectl get`: it turns stored
// objects into meta.k8s.io/v1 Tables whose columns, wide (priority 1) columns
// and cell text match what kube-apiserver prints for the same kinds, so that
// kubectl output looks the same against podnet as against a real cluster.
//
// It knows nothing about HTTP or storage: the API layer hands it objects of
// one kind and fills each row's Object as the request asks.
package printers
