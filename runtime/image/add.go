package image

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/podnet/podnet/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Progress is one report of a pull: a layer's bytes fetched so far out of its total.
type Progress struct {
	Ref     string // the normalised reference being pulled
	Layer   string // the layer's blob digest, as the manifest names it
	Status  Status
	Current int64 // compressed bytes read so far
	Total   int64 // compressed size of the layer
}

// Status is a layer's stage in a pull.
type Status string

const (
	// StatusExists: the layer is already unpacked in the store; nothing is fetched.
	StatusExists Status = "Already exists"
	// StatusDownloading: Current of Total bytes are fetched and unpacked.
	StatusDownloading Status = "Downloading"
	// StatusDone: the layer is unpacked and verified.
	StatusDone Status = "Pull complete"
)

// progressStep is how many bytes pass between two Downloading reports of a layer.
const progressStep = 256 << 10

// names are what an added image is to be called.
type names struct {
	tags    []string // normalised repo:tag
	digests []string // normalised repo@digest
}

// add stores img under nm: its layers unpacked (once), its config, then the metadata. When
// fromRegistry, layers are read compressed so that progress counts the bytes on the wire.
func (s *Store) add(ctx context.Context, ref string, img v1.Image, nm names, report func(Progress), fromRegistry bool) (*Image, error) {
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	sum := sha256.Sum256(rawCfg)
	id := "sha256:" + hex.EncodeToString(sum[:])
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read layers: %w", err)
	}
	if len(layers) != len(cf.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image has %d layers but its config names %d diffIDs", len(layers), len(cf.RootFS.DiffIDs))
	}
	diffIDs := make([]string, len(layers))
	for i, d := range cf.RootFS.DiffIDs {
		if d.Algorithm != "sha256" || len(d.Hex) != 64 {
			return nil, fmt.Errorf("layer %d: unsupported diffID %s", i, d)
		}
		diffIDs[i] = d.String()
	}
	unpin := s.pin(diffIDs)
	defer unpin()

	// A second process may remove a layer between our unpack and our commit (pins only guard
	// this process): the commit then finds it missing and we unpack it again.
	for attempt := 0; ; attempt++ {
		for i, l := range layers {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := s.ensureLayer(ctx, ref, l, diffIDs[i], report, fromRegistry); err != nil {
				return nil, fmt.Errorf("layer %s: %w", diffIDs[i], err)
			}
		}
		var out *Image
		var missing bool
		err := s.update(func(m *metadata) (bool, error) {
			var size int64
			for _, d := range diffIDs {
				n, err := s.layerSize(d)
				if errors.Is(err, os.ErrNotExist) {
					missing = true
					return false, nil
				} else if err != nil {
					return false, err
				}
				size += n
			}
			if !exists(s.configPath(id)) {
				if err := atomicfile.Write(s.configPath(id), rawCfg, 0o644); err != nil {
					return false, err
				}
			}
			rec := m.Images[id]
			if rec == nil {
				rec = &imageRecord{Layers: diffIDs, Size: size}
				m.Images[id] = rec
			}
			// A tag names one image: moving it leaves the old image untagged (dangling, as in
			// docker), still usable by ID until removed.
			for oid, o := range m.Images {
				if oid != id {
					o.RepoTags = slices.DeleteFunc(o.RepoTags, func(t string) bool { return slices.Contains(nm.tags, t) })
				}
			}
			for _, t := range nm.tags {
				if !slices.Contains(rec.RepoTags, t) {
					rec.RepoTags = append(rec.RepoTags, t)
				}
			}
			for _, d := range nm.digests {
				if !slices.Contains(rec.RepoDigests, d) {
					rec.RepoDigests = append(rec.RepoDigests, d)
				}
			}
			var err error
			out, err = s.image(id, rec)
			return true, err
		})
		if err != nil {
			return nil, err
		}
		if !missing {
			return out, nil
		}
		if attempt == 2 {
			return nil, fmt.Errorf("image %s: its layers keep being removed while it is added", id)
		}
	}
}

func (s *Store) layerSize(diffID string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(s.layerDir(diffID), "size"))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("layer %s: bad size file: %w", diffID, err)
	}
	return n, nil
}

// ensureLayer unpacks l into layers/<diffID> unless it is there already.
func (s *Store) ensureLayer(ctx context.Context, ref string, l v1.Layer, diffID string, report func(Progress), fromRegistry bool) error {
	if report == nil {
		report = func(Progress) {}
	}
	digest, err := l.Digest()
	if err != nil {
		return err
	}
	total, err := l.Size()
	if err != nil {
		return err
	}
	p := Progress{Ref: ref, Layer: digest.String(), Total: total}
	final := s.layerDir(diffID)
	if exists(final) {
		p.Status, p.Current = StatusExists, total
		report(p)
		return nil
	}
	// One unpack per layer at a time in this process: a concurrent pull of an image sharing
	// the layer waits here and then finds it present.
	pin := s.pinOf(diffID)
	pin.mu.Lock()
	defer pin.mu.Unlock()
	if exists(final) {
		p.Status, p.Current = StatusExists, total
		report(p)
		return nil
	}

	var rc io.ReadCloser
	if fromRegistry {
		rc, err = l.Compressed()
	} else {
		rc, err = l.Uncompressed()
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	var r io.Reader = &ctxReader{ctx: ctx, r: rc}
	if fromRegistry {
		p.Status = StatusDownloading
		report(p)
		r = &countingReader{r: r, report: func(n int64) { p.Current = n; report(p) }}
		if r, err = decompress(r); err != nil {
			return err
		}
	}
	tmp, err := s.tempDir("layer")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fsDir := filepath.Join(tmp, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return err
	}
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(r, h)}
	if err := unpack(counted, fsDir); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	// The tar's end-of-archive padding and anything after it count for the diffID.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID {
		return fmt.Errorf("content has digest %s, the image config says %s", got, diffID)
	}
	if err := os.WriteFile(filepath.Join(tmp, "size"), []byte(strconv.FormatInt(counted.n, 10)+"\n"), 0o644); err != nil {
		return err
	}
	// Everything on disk before the rename makes it look whole.
	if err := syncFS(tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		if !exists(final) {
			return fmt.Errorf("store layer: %w", err)
		}
		// Another process stored it first; ours goes with the deferred RemoveAll.
	}
	if err := atomicfile.SyncDir(filepath.Dir(final)); err != nil {
		return err
	}
	p.Status, p.Current = StatusDone, total
	report(p)
	return nil
}

func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// decompress recognises gzip and zstd by their magic numbers; anything else is a plain tar.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return gzip.NewReader(br)
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		d, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return br, nil
}

type countingReader struct {
	r        io.Reader
	n        int64
	reported int64
	report   func(int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.report != nil && (c.n-c.reported >= progressStep || err == io.EOF && c.n > c.reported) {
		c.reported = c.n
		c.report(c.n)
	}
	return n, err
}

// ctxReader stops a long unpack when the caller gives up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
