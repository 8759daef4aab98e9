package pki

import "path/filepath"

// Paths names the files under the PKI directory.
type Paths struct {
	Dir string
}

// CACert is the CA certificate (PEM), also embedded in kubeconfigs.
func (p Paths) CACert() string { return filepath.Join(p.Dir, "ca.crt") }

// CAKey is the CA's private key (PEM, 0600).
func (p Paths) CAKey() string { return filepath.Join(p.Dir, "ca.key") }

// ServingCert is the API server's certificate (PEM).
func (p Paths) ServingCert() string { return filepath.Join(p.Dir, "apiserver.crt") }

// ServingKey is the API server's private key (PEM, 0600).
func (p Paths) ServingKey() string { return filepath.Join(p.Dir, "apiserver.key") }

// Token is the admin bearer token (one line, 0600).
func (p Paths) Token() string { return filepath.Join(p.Dir, "token") }
