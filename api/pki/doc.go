// Package pki owns the API server's credentials: a private CA, the serving certificate it signs,
// the admin bearer token, and the kubeconfig that carries them to kubectl.
//
// Everything is made at first start under <dataDir>/pki and loaded afterwards, so kubeconfigs
// handed out earlier keep working: the CA and the token never change once written. The serving
// certificate is re-issued by the same CA when the requested names or addresses are not all in
// it, or when it is within 30 days of expiry. Files are replaced atomically (temp file, fsync,
// rename, fsync of the directory), so a crash never leaves a torn key or certificate.
package pki
