package oci

import (
	"encoding/json"
	"fmt"
	"github.com/podnet/podnet/internal/atomicfile"
	"os"
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigName is the spec's file name in a bundle.
const ConfigName = "config.json"

// WriteBundle writes spec as dir/config.json, creating dir if needed. The file is replaced
// atomically (temporary file, fsync, rename), so a daemon crash never leaves a half-written
// config for the re-adopting daemon or runc to read.
func WriteBundle(dir string, spec *specs.Spec) error {
	if spec == nil {
		return fmt.Errorf("oci: write bundle %s: no spec", dir)
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("oci: encode spec: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("oci: write bundle: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, ConfigName), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("oci: %w", err)
	}
	return nil
}
