package image

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
)

// Reference is an image reference in docker's normalised form: Repo always names its registry
// (docker.io for Docker Hub, with library/ for official images); exactly one of Tag and Digest is set.
type Reference struct {
	Repo   string // e.g. docker.io/library/nginx
	Tag    string // e.g. latest
	Digest string // e.g. sha256:…
}

// String is the full normalised reference: repo:tag or repo@digest.
func (r Reference) String() string {
	if r.Digest != "" {
		return r.Repo + "@" + r.Digest
	}
	return r.Repo + ":" + r.Tag
}

// dockerHub is how go-containerregistry spells Docker Hub; docker and kubelet say docker.io.
const dockerHub = "docker.io"

// ParseReference normalises s as docker and kubelet do: a missing registry is docker.io, a
// missing namespace on docker.io is library/, a missing tag is latest. A reference holding both
// a tag and a digest is the digest (the tag is only informative then, as in containerd).
func ParseReference(s string) (Reference, error) {
	r, err := name.ParseReference(s)
	if err != nil {
		return Reference{}, fmt.Errorf("invalid image reference %q: %w", s, err)
	}
	repo := r.Context()
	reg := repo.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	out := Reference{Repo: reg + "/" + repo.RepositoryStr()}
	switch v := r.(type) {
	case name.Digest:
		out.Digest = v.DigestStr()
	case name.Tag:
		out.Tag = v.TagStr()
	}
	return out, nil
}

// Normalize is ParseReference(s).String().
func Normalize(s string) (string, error) {
	r, err := ParseReference(s)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// IsLatest reports whether ref names the tag latest, explicitly or by default: kubelet's
// imagePullPolicy default is Always for such images and IfNotPresent otherwise.
func IsLatest(ref string) bool {
	r, err := ParseReference(ref)
	return err == nil && r.Digest == "" && r.Tag == "latest"
}

// ggcrRef turns a normalised reference back into go-containerregistry's form for remote calls.
func (r Reference) ggcrRef() (name.Reference, error) {
	return name.ParseReference(r.String())
}
