package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/podnet/podnet/internal/atomicfile"
	"os"
	"strings"
)

// ensureToken loads the admin bearer token, or makes one. A file that is empty counts as
// missing; any other content is the operator's token and is kept.
func ensureToken(p Paths) (string, bool, error) {
	data, err := os.ReadFile(p.Token())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("loading token: %w", err)
	}
	if tok := strings.TrimSpace(string(data)); tok != "" {
		if strings.ContainsAny(tok, " \t\r\n") {
			return "", false, fmt.Errorf("loading token %s: more than one line or word", p.Token())
		}
		return tok, false, nil
	}
	tok, err := newToken()
	if err != nil {
		return "", false, err
	}
	if err := atomicfile.Write(p.Token(), []byte(tok+"\n"), keyMode); err != nil {
		return "", false, fmt.Errorf("saving token: %w", err)
	}
	return tok, true, nil
}

// newToken returns 32 random bytes in unpadded base64url, safe in HTTP headers and YAML.
func newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// TokenEqual reports whether a presented token matches the expected one in constant time.
// Both are hashed first so that not even their lengths leak through timing.
func TokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1 && want != ""
}
