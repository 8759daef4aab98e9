package oci

import (
	"encoding/json"
	"fmt"
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
	tmp, err := os.CreateTemp(dir, "."+ConfigName+".*")
	if err != nil {
		return fmt.Errorf("oci: write bundle: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("oci: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("oci: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("oci: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, ConfigName)); err != nil {
		return fmt.Errorf("oci: write bundle: %w", err)
	}
	return nil
}
