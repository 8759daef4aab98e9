package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/podnet/podnet/internal/atomicfile"
	"net"
	"os"
	"strings"
	"time"
)

// Bundle is what the API server and the kubeconfig writer need.
type Bundle struct {
	Paths  Paths
	CAPEM  []byte
	CACert *x509.Certificate
	// ServingCert holds the leaf only (clients trust the CA directly); Leaf is set.
	ServingCert tls.Certificate
	Token       string

	// What this call had to make, for the start-up log.
	CACreated    bool
	TokenCreated bool
	// ServingReason says why the serving certificate was (re)issued; empty when it was loaded.
	ServingReason string
}

const (
	dirMode    = 0o700
	keyMode    = 0o600
	certMode   = 0o644
	tokenBytes = 32
)

// Ensure makes (first start) or loads the CA, the serving certificate for ips and dnsNames
// (127.0.0.1 and localhost are always added) and the bearer token under dir.
func Ensure(dir string, ips []net.IP, dnsNames []string, now time.Time) (*Bundle, error) {
	wantIPs, wantNames, err := servingNames(ips, dnsNames)
	if err != nil {
		return nil, err
	}
	p := Paths{Dir: dir}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	ca, caCreated, err := ensureCA(p, now)
	if err != nil {
		return nil, err
	}
	serving, reason, err := ensureServing(p, ca, wantIPs, wantNames, now)
	if err != nil {
		return nil, err
	}
	token, tokenCreated, err := ensureToken(p)
	if err != nil {
		return nil, err
	}
	return &Bundle{
		Paths:  p,
		CAPEM:  ca.certPEM,
		CACert: ca.cert,
		ServingCert: tls.Certificate{
			Certificate: [][]byte{serving.cert.Raw},
			PrivateKey:  serving.key,
			Leaf:        serving.cert,
		},
		Token:         token,
		CACreated:     caCreated,
		TokenCreated:  tokenCreated,
		ServingReason: reason,
	}, nil
}

// servingNames adds the loopback names every node answers on and drops duplicates.
func servingNames(ips []net.IP, dnsNames []string) ([]net.IP, []string, error) {
	outIPs := []net.IP{net.IPv4(127, 0, 0, 1).To4()}
	for _, ip := range ips {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return nil, nil, fmt.Errorf("serving certificate: invalid IP address %v", ip)
		}
		if !containsIP(outIPs, ip) {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			outIPs = append(outIPs, ip)
		}
	}
	outNames := []string{"localhost"}
	for _, n := range dnsNames {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n == "" {
			return nil, nil, errors.New("serving certificate: empty DNS name")
		}
		if !containsFold(outNames, n) {
			outNames = append(outNames, n)
		}
	}
	return outIPs, outNames, nil
}

// prepareDir creates dir, and tightens its mode if it already existed, so that keys are never
// reachable by other users.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("creating PKI directory: %w", err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		return fmt.Errorf("securing PKI directory: %w", err)
	}
	return nil
}

// ensureCA loads the CA, or makes one when its certificate does not exist yet. A certificate
// without its key is an error, not a reason for a new CA: kubeconfigs already trust it.
func ensureCA(p Paths, now time.Time) (*keyPair, bool, error) {
	_, err := os.Stat(p.CACert())
	if errors.Is(err, os.ErrNotExist) {
		ca, err := newCA(now)
		if err != nil {
			return nil, false, fmt.Errorf("creating CA: %w", err)
		}
		// Key first: a crash between the two writes leaves no certificate, so the next start
		// makes a new CA instead of trusting a certificate whose key was never written.
		if err := writePair(p.CACert(), p.CAKey(), ca); err != nil {
			return nil, false, fmt.Errorf("creating CA: %w", err)
		}
		return ca, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("loading CA: %w", err)
	}
	ca, err := loadPair(p.CACert(), p.CAKey())
	if err != nil {
		return nil, false, fmt.Errorf("loading CA: %w", err)
	}
	if err := checkCA(ca.cert, now); err != nil {
		return nil, false, fmt.Errorf("loading CA %s: %w", p.CACert(), err)
	}
	return ca, false, nil
}

func checkCA(cert *x509.Certificate, now time.Time) error {
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("not a CA certificate")
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("expired at %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// ensureServing loads the serving certificate, or issues a new one when it is missing, unusable,
// not signed by ca, missing a requested name, or close to expiry. It returns why it issued one.
func ensureServing(p Paths, ca *keyPair, ips []net.IP, names []string, now time.Time) (*keyPair, string, error) {
	cur, err := loadPair(p.ServingCert(), p.ServingKey())
	reason := ""
	switch {
	case errors.Is(err, errMissing):
		reason = "no serving certificate yet"
	case err != nil:
		reason = fmt.Sprintf("serving certificate unusable: %v", err)
	default:
		reason = staleReason(cur.cert, ca.cert, ips, names, now)
	}
	if reason == "" {
		return cur, "", nil
	}
	next, err := newServing(ca, ips, names, now)
	if err != nil {
		return nil, "", fmt.Errorf("issuing serving certificate: %w", err)
	}
	// Key first: a crash in between leaves a mismatched pair, which the next start replaces.
	if err := writePair(p.ServingCert(), p.ServingKey(), next); err != nil {
		return nil, "", fmt.Errorf("issuing serving certificate: %w", err)
	}
	return next, reason, nil
}

// staleReason says why cert can no longer be served, or "" when it can.
func staleReason(cert, ca *x509.Certificate, ips []net.IP, names []string, now time.Time) string {
	switch {
	case cert.CheckSignatureFrom(ca) != nil:
		return "serving certificate not signed by the current CA"
	case !covers(cert, ips, names):
		return "serving certificate does not cover the requested names and addresses"
	case now.Before(cert.NotBefore):
		return "serving certificate not valid yet"
	case now.Add(renewBefore).After(cert.NotAfter):
		return fmt.Sprintf("serving certificate expires at %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return ""
}

func writePair(certPath, keyPath string, kp *keyPair) error {
	if err := atomicfile.Write(keyPath, kp.keyPEM, keyMode); err != nil {
		return err
	}
	return atomicfile.Write(certPath, kp.certPEM, certMode)
}
