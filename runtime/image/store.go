package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/podnet/podnet/internal/atomicfile"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"
)

// Options configure a Store. The zero value is usable: Complete fills the defaults.
type Options struct {
	// Logger receives progress of pulls and cleanups; default slog.Default().
	Logger *slog.Logger
	// Keychain resolves registry credentials; default authn.DefaultKeychain (Docker's
	// config.json, $DOCKER_CONFIG, credential helpers).
	Keychain authn.Keychain
	// Transport carries registry requests; default remote.DefaultTransport. Tests swap it.
	Transport http.RoundTripper
	// Platform chosen from multi-platform images; default linux/GOARCH.
	Platform *v1.Platform
}

// Complete fills the defaults of the unset fields.
func (o *Options) Complete() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	if o.Transport == nil {
		o.Transport = remote.DefaultTransport
	}
	if o.Platform == nil {
		o.Platform = &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
}

// Image is an image of the store.
type Image struct {
	ID          string   // sha256:… of the config: what `podnet image ls` shows, shortened
	RepoTags    []string // normalised, e.g. docker.io/library/nginx:latest
	RepoDigests []string // normalised, e.g. docker.io/library/nginx@sha256:…
	Size        int64    // bytes of the unpacked layers' tar streams
	Config      v1.Config
	Layers      []string // unpacked layer directories, base first
}

// ErrNotFound is what errors.Is matches for an image the store does not hold.
var ErrNotFound = errors.New("image not found")

// NotFoundError names the reference that was not found; errors.Is(err, ErrNotFound) holds.
type NotFoundError struct{ Ref string }

func (e *NotFoundError) Error() string     { return fmt.Sprintf("image %q not found", e.Ref) }
func (e *NotFoundError) Is(err error) bool { return err == ErrNotFound }

// Store is the image store at one directory. It is safe for concurrent use, also by several
// processes sharing the directory.
type Store struct {
	dir  string
	opts Options

	mu       sync.Mutex // serialises metadata access in this process; lockFile does it between processes
	lockFile *os.File
	cache    *metadata
	cacheKey statKey
	configs  map[string]*v1.ConfigFile // by ID; configs are content-addressed, so never stale

	pinMu sync.Mutex
	pins  map[string]*layerPin // layers being pulled or imported in this process, by diffID
}

type layerPin struct {
	mu   sync.Mutex // held while the layer is unpacked, so that it is unpacked once
	refs int
}

// metadata is store.json.
type metadata struct {
	Images map[string]*imageRecord `json:"images"` // by ID
}

type imageRecord struct {
	RepoTags    []string `json:"repoTags,omitempty"`
	RepoDigests []string `json:"repoDigests,omitempty"`
	Layers      []string `json:"layers"` // diffIDs, base first
	Size        int64    `json:"size"`
}

type statKey struct {
	ino, size int64
	mtime     int64
}

const metadataFile = "store.json"

// Open opens (creating it if needed) the store at dir, and removes leftovers of dead processes'
// unfinished work from its tmp directory.
func Open(dir string, opts Options) (*Store, error) {
	opts.Complete()
	if strings.ContainsAny(dir, ":,") {
		// overlayfs options separate layers with ':' and options with ','.
		return nil, fmt.Errorf("image store %s: the path may not contain ':' or ','", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image store %s: %w", dir, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, "layers"), filepath.Join(abs, "configs"), filepath.Join(abs, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	// Layers must be traversable by containers running as any user.
	if err := os.Chmod(filepath.Join(abs, "layers"), 0o711); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := os.Chmod(abs, 0o711); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(abs, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	s := &Store{dir: abs, opts: opts, lockFile: lf, configs: map[string]*v1.ConfigFile{}, pins: map[string]*layerPin{}}
	if err := s.cleanTmp(); err != nil {
		lf.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the store's lock file.
func (s *Store) Close() error { return s.lockFile.Close() }

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// cleanTmp removes tmp entries whose creating process is gone: a crash mid-unpack leaves them.
func (s *Store) cleanTmp() error {
	tmp := filepath.Join(s.dir, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	for _, e := range entries {
		pidStr, _, _ := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(pidStr)
		if err == nil && pid > 0 && (pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH) {
			continue // still being written by a live process
		}
		s.opts.Logger.Info("removing unfinished image work", "path", filepath.Join(tmp, e.Name()))
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return fmt.Errorf("image store: %w", err)
		}
	}
	return nil
}

func (s *Store) tempDir(prefix string) (string, error) {
	d, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), fmt.Sprintf("%d-%s-", os.Getpid(), prefix))
	if err != nil {
		return "", fmt.Errorf("image store: %w", err)
	}
	return d, nil
}

func (s *Store) layerDir(diffID string) string {
	return filepath.Join(s.dir, "layers", strings.TrimPrefix(diffID, "sha256:"))
}

func (s *Store) configPath(id string) string {
	return filepath.Join(s.dir, "configs", strings.TrimPrefix(id, "sha256:"))
}

// update runs fn on the current metadata under both locks and saves it when fn says it changed.
func (s *Store) update(fn func(m *metadata) (changed bool, err error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := unix.Flock(int(s.lockFile.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("image store: lock: %w", err)
	}
	defer unix.Flock(int(s.lockFile.Fd()), unix.LOCK_UN)
	m, err := s.load()
	if err != nil {
		return err
	}
	changed, err := fn(m)
	if err != nil || !changed {
		if err != nil {
			s.cache = nil // fn may have changed m half-way
		}
		return err
	}
	if err := s.save(m); err != nil {
		s.cache = nil
		return err
	}
	return nil
}

func (s *Store) load() (*metadata, error) {
	p := filepath.Join(s.dir, metadataFile)
	var st unix.Stat_t
	if err := unix.Stat(p, &st); errors.Is(err, unix.ENOENT) {
		s.cache, s.cacheKey = &metadata{Images: map[string]*imageRecord{}}, statKey{}
		return s.cache, nil
	} else if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	key := statKey{ino: int64(st.Ino), size: st.Size, mtime: st.Mtim.Nano()}
	if s.cache != nil && key == s.cacheKey {
		return s.cache, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	m := &metadata{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("image store: %s: %w", p, err)
	}
	if m.Images == nil {
		m.Images = map[string]*imageRecord{}
	}
	s.cache, s.cacheKey = m, key
	return m, nil
}

func (s *Store) save(m *metadata) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	p := filepath.Join(s.dir, metadataFile)
	if err := atomicfile.Write(p, b, 0o600); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	s.cache, s.cacheKey = m, statKey{ino: int64(st.Ino), size: st.Size, mtime: st.Mtim.Nano()}
	return nil
}

var idPrefix = regexp.MustCompile(`^(sha256:)?[0-9a-f]{1,64}$`)

// match is how a reference found an image: by one of its names, or by ID.
type match struct {
	id   string
	name string // the normalised tag or digest reference; empty when found by ID
}

// resolve finds ref as docker does: a name first, then an ID or ID prefix.
func (m *metadata) resolve(ref string) (match, error) {
	if r, err := ParseReference(ref); err == nil {
		key := r.String()
		for id, rec := range m.Images {
			if slices.Contains(rec.RepoTags, key) || slices.Contains(rec.RepoDigests, key) {
				return match{id: id, name: key}, nil
			}
		}
	}
	if idPrefix.MatchString(ref) {
		want := "sha256:" + strings.TrimPrefix(ref, "sha256:")
		var found []string
		for id := range m.Images {
			if strings.HasPrefix(id, want) {
				found = append(found, id)
			}
		}
		if len(found) == 1 {
			return match{id: found[0]}, nil
		}
		if len(found) > 1 {
			return match{}, fmt.Errorf("image ID prefix %q is ambiguous: %d images match", ref, len(found))
		}
	}
	return match{}, &NotFoundError{Ref: ref}
}

// image builds the Image of a record; the caller holds s.mu.
func (s *Store) image(id string, rec *imageRecord) (*Image, error) {
	cf, ok := s.configs[id]
	if !ok {
		b, err := os.ReadFile(s.configPath(id))
		if err != nil {
			return nil, fmt.Errorf("image %s: config: %w", id, err)
		}
		cf, err = v1.ParseConfigFile(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("image %s: config: %w", id, err)
		}
		s.configs[id] = cf
	}
	// Sorted: an archive's tags (and so the order they were added in) come from a map.
	img := &Image{
		ID:          id,
		RepoTags:    slices.Sorted(slices.Values(rec.RepoTags)),
		RepoDigests: slices.Sorted(slices.Values(rec.RepoDigests)),
		Size:        rec.Size,
		Config:      *cf.Config.DeepCopy(),
	}
	for _, l := range rec.Layers {
		img.Layers = append(img.Layers, filepath.Join(s.layerDir(l), "fs"))
	}
	return img, nil
}

// Get finds an image by normalised name (tag or digest reference) or by ID or ID prefix.
// An image the store does not hold is an error that errors.Is(err, ErrNotFound) matches.
func (s *Store) Get(ref string) (*Image, error) {
	var img *Image
	err := s.update(func(m *metadata) (bool, error) {
		found, err := m.resolve(ref)
		if err != nil {
			return false, err
		}
		img, err = s.image(found.id, m.Images[found.id])
		return false, err
	})
	return img, err
}

// List returns every image, sorted by first name (untagged images last) then ID.
func (s *Store) List() ([]*Image, error) {
	var out []*Image
	err := s.update(func(m *metadata) (bool, error) {
		for id, rec := range m.Images {
			img, err := s.image(id, rec)
			if err != nil {
				return false, err
			}
			out = append(out, img)
		}
		return false, nil
	})
	sort.Slice(out, func(i, j int) bool {
		a, b := firstName(out[i]), firstName(out[j])
		if (a == "") != (b == "") {
			return a != ""
		}
		if a != b {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

func firstName(img *Image) string {
	if len(img.RepoTags) > 0 {
		return img.RepoTags[0]
	}
	if len(img.RepoDigests) > 0 {
		return img.RepoDigests[0]
	}
	return ""
}

// Remove drops the name ref from its image (a tag or a digest reference); the image goes, with
// every layer no other image uses, once no tag is left. Removing by ID removes the image whatever
// its names.
func (s *Store) Remove(ref string) error {
	var gone *imageRecord
	var goneID string
	var garbage []string
	err := s.update(func(m *metadata) (bool, error) {
		found, err := m.resolve(ref)
		if err != nil {
			return false, err
		}
		rec := m.Images[found.id]
		if found.name != "" {
			rec.RepoTags = slices.DeleteFunc(rec.RepoTags, func(t string) bool { return t == found.name })
			rec.RepoDigests = slices.DeleteFunc(rec.RepoDigests, func(t string) bool { return t == found.name })
			if len(rec.RepoTags) > 0 {
				return true, nil
			}
		}
		delete(m.Images, found.id)
		gone, goneID = rec, found.id
		garbage = s.unusedLayers(m, rec.Layers)
		return true, nil
	})
	if err != nil || gone == nil {
		return err
	}
	// The metadata no longer names these, so a crash from here on only leaves garbage that no
	// image refers to; a layer is renamed away before it is deleted, so it never looks whole.
	delete(s.configs, goneID)
	if err := os.Remove(s.configPath(goneID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove image %s: %w", goneID, err)
	}
	for _, l := range garbage {
		if err := s.removeLayer(l); err != nil {
			return err
		}
	}
	return nil
}

// unusedLayers are those of layers that no image of m uses and no pull of this process holds.
func (s *Store) unusedLayers(m *metadata, layers []string) []string {
	used := map[string]bool{}
	for _, rec := range m.Images {
		for _, l := range rec.Layers {
			used[l] = true
		}
	}
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	var out []string
	for _, l := range layers {
		if !used[l] && s.pins[l] == nil && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func (s *Store) removeLayer(diffID string) error {
	tmp, err := s.tempDir("rm")
	if err != nil {
		return err
	}
	dead := filepath.Join(tmp, "layer")
	if err := os.Rename(s.layerDir(diffID), dead); err != nil && !errors.Is(err, os.ErrNotExist) {
		os.Remove(tmp)
		return fmt.Errorf("remove layer %s: %w", diffID, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove layer %s: %w", diffID, err)
	}
	return nil
}

// pin marks layers as in use by this process until the returned func runs, so that a Remove
// running meanwhile does not delete a layer a pull is about to record.
func (s *Store) pin(diffIDs []string) (unpin func()) {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	for _, d := range diffIDs {
		p := s.pins[d]
		if p == nil {
			p = &layerPin{}
			s.pins[d] = p
		}
		p.refs++
	}
	return func() {
		s.pinMu.Lock()
		defer s.pinMu.Unlock()
		for _, d := range diffIDs {
			if p := s.pins[d]; p != nil {
				if p.refs--; p.refs == 0 {
					delete(s.pins, d)
				}
			}
		}
	}
}

func (s *Store) pinOf(diffID string) *layerPin {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	return s.pins[diffID]
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
