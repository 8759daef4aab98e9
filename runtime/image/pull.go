package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrRegistryUnreachable is what errors.Is matches when a pull failed because the registry could
// not be reached (DNS, connection refused or reset, timeouts, 5xx answers): the kubelet may then
// use an image already present and record a Warning. Any other pull error (unknown image or tag,
// authentication, a corrupt layer) is an image pull error proper.
var ErrRegistryUnreachable = errors.New("registry unreachable")

// Pull fetches ref (normalised as ParseReference does) for the store's platform, unpacks the
// layers the store lacks, and names the image ref; a pull by tag also records the repo digest of
// what the tag pointed to. progress, when not nil, is called from this goroutine.
func (s *Store) Pull(ctx context.Context, ref string, progress func(Progress)) (*Image, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, err := s.pull(ctx, r, progress)
	if err != nil {
		if unreachable(ctx, err) {
			return nil, fmt.Errorf("pull %s: %w: %w", r, ErrRegistryUnreachable, err)
		}
		return nil, fmt.Errorf("pull %s: %w", r, err)
	}
	return img, nil
}

func (s *Store) pull(ctx context.Context, r Reference, progress func(Progress)) (*Image, error) {
	gref, err := r.ggcrRef()
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(s.opts.Keychain),
		remote.WithTransport(s.opts.Transport),
		remote.WithPlatform(*s.opts.Platform),
		remote.WithUserAgent("podnet"),
	}
	desc, err := remote.Get(gref, opts...)
	if err != nil {
		return nil, err
	}
	img, err := desc.Image() // for an index: the child for the platform
	if err != nil {
		return nil, err
	}
	nm := names{digests: []string{r.Repo + "@" + desc.Digest.String()}}
	if r.Tag != "" {
		nm.tags = []string{r.String()}
	}
	s.opts.Logger.Info("pulling image", "ref", r.String(), "digest", desc.Digest.String())
	return s.add(ctx, r.String(), img, nm, progress, true)
}

// unreachable tells a registry that could not be reached from one that answered no.
func unreachable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false // the caller gave up; that says nothing about the registry
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode >= 500
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || errors.As(err, &opErr) {
		return true
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	var uerr *url.Error
	return errors.As(err, &uerr) && uerr.Timeout()
}
