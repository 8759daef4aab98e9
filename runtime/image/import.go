package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Import adds the images of a docker-archive (docker save) or OCI-layout tarball, told apart by
// their content (manifest.json or oci-layout), named by the tags the archive carries: RepoTags of
// manifest.json, or the io.containerd.image.name or a full org.opencontainers.image.ref.name
// annotation of index.json. An image without a name is imported untagged (reachable by ID).
func (s *Store) Import(ctx context.Context, file string) ([]*Image, error) {
	format, err := archiveFormat(file)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", file, err)
	}
	var imgs []*Image
	switch format {
	case "docker-archive":
		imgs, err = s.importDocker(ctx, file)
	case "oci-layout":
		imgs, err = s.importOCI(ctx, file)
	}
	if err != nil {
		return imgs, fmt.Errorf("import %s (%s): %w", file, format, err)
	}
	return imgs, nil
}

func archiveFormat(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	oci := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("not a tar archive: %w", err)
		}
		switch path.Clean(h.Name) {
		case "manifest.json":
			// docker save since 25 writes an OCI layout with a manifest.json too; both readings
			// agree, and manifest.json carries the tags plainly.
			return "docker-archive", nil
		case "oci-layout":
			oci = true
		}
	}
	if oci {
		return "oci-layout", nil
	}
	return "", errors.New("neither a docker-archive (no manifest.json) nor an OCI layout (no oci-layout)")
}

func (s *Store) importDocker(ctx context.Context, file string) ([]*Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	manifest, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, err
	}
	var out []*Image
	for i, d := range manifest {
		var nm names
		var tag *name.Tag
		for _, t := range d.RepoTags {
			n, err := Normalize(t)
			if err != nil {
				return out, err
			}
			nm.tags = append(nm.tags, n)
			if tag == nil {
				gt, err := name.NewTag(t)
				if err != nil {
					return out, err
				}
				tag = &gt
			}
		}
		if tag == nil && len(manifest) > 1 {
			return out, fmt.Errorf("image %d of %d has no tag to select it by", i+1, len(manifest))
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return out, err
		}
		stored, err := s.add(ctx, "", img, nm, nil, false)
		if err != nil {
			return out, err
		}
		out = append(out, stored)
	}
	return out, nil
}

func (s *Store) importOCI(ctx context.Context, file string) ([]*Image, error) {
	tmp, err := s.tempDir("import")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := extractPlain(file, tmp); err != nil {
		return nil, err
	}
	idx, err := layout.ImageIndexFromPath(tmp)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []*Image
	for _, d := range im.Manifests {
		img, err := s.platformImage(idx, d)
		if err != nil {
			return out, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		var nm names
		if ref := ociRefName(d.Annotations); ref != "" {
			r, err := ParseReference(ref)
			if err != nil {
				return out, err
			}
			if r.Tag != "" {
				nm.tags = []string{r.String()}
			}
			nm.digests = []string{r.Repo + "@" + d.Digest.String()}
		}
		stored, err := s.add(ctx, "", img, nm, nil, false)
		if err != nil {
			return out, err
		}
		out = append(out, stored)
	}
	return out, nil
}

// ociRefName is the image name an index.json entry carries. The OCI spec's ref.name is often a
// bare tag ("latest"), which names no repository: only a reference with one counts.
func ociRefName(a map[string]string) string {
	if n := a["io.containerd.image.name"]; n != "" {
		return n
	}
	if n := a[v1AnnotationRefName]; strings.ContainsAny(n, "/:@") {
		return n
	}
	return ""
}

const v1AnnotationRefName = "org.opencontainers.image.ref.name"

// platformImage is d itself when it is an image, or its child for the store's platform.
func (s *Store) platformImage(idx v1.ImageIndex, d v1.Descriptor) (v1.Image, error) {
	if d.MediaType.IsImage() {
		return idx.Image(d.Digest)
	}
	if !d.MediaType.IsIndex() {
		return nil, fmt.Errorf("unsupported media type %s", d.MediaType)
	}
	child, err := idx.ImageIndex(d.Digest)
	if err != nil {
		return nil, err
	}
	cm, err := child.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, c := range cm.Manifests {
		if c.Platform != nil && c.Platform.Satisfies(*s.opts.Platform) && c.MediaType.IsImage() {
			return child.Image(c.Digest)
		}
	}
	return nil, fmt.Errorf("no image for platform %s", s.opts.Platform)
}

// extractPlain unpacks an OCI layout tarball: directories and regular files only, all inside dst.
func extractPlain(file, dst string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := localPath(h.Name)
		if err != nil {
			return err
		}
		if rel == "." {
			continue
		}
		target := filepath.Join(dst, rel)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unexpected entry type %q in an OCI layout", h.Name, h.Typeflag)
		}
	}
}
