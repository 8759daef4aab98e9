// Command mkimage writes a docker-archive tarball of a one-layer image made from a directory, for
// `make images`. Every file is owned by root and every time is fixed, so that the same tree gives
// the same image ID on every build.
//
//	mkimage -rootfs DIR -tag busybox:latest -o busybox.tar -cmd '["sh"]' [-env K=V]... [-port 80/tcp]...
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is every file's mtime and the image's creation time.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var rootfs, tag, out, cmdJSON, workdir, stopSignal string
	var env, ports list
	flag.StringVar(&rootfs, "rootfs", "", "directory that becomes the image's only layer")
	flag.StringVar(&tag, "tag", "", "image tag, e.g. busybox:latest")
	flag.StringVar(&out, "o", "", "output docker-archive tarball")
	flag.StringVar(&cmdJSON, "cmd", "", `Cmd as a JSON array, e.g. ["sh"]`)
	flag.StringVar(&workdir, "workdir", "/", "WorkingDir")
	flag.StringVar(&stopSignal, "stop-signal", "", "StopSignal, e.g. SIGQUIT")
	flag.Var(&env, "env", "Env entry K=V (repeatable)")
	flag.Var(&ports, "port", "ExposedPorts entry, e.g. 80/tcp (repeatable)")
	flag.Parse()
	if err := run(rootfs, tag, out, cmdJSON, workdir, stopSignal, env, ports); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(rootfs, tag, out, cmdJSON, workdir, stopSignal string, env, ports []string) error {
	if rootfs == "" || tag == "" || out == "" {
		return fmt.Errorf("-rootfs, -tag and -o are required")
	}
	var cmd []string
	if cmdJSON != "" {
		if err := json.Unmarshal([]byte(cmdJSON), &cmd); err != nil {
			return fmt.Errorf("-cmd: %w", err)
		}
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	layerTar, err := tarDir(rootfs)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "podnet hack/mkimage", Comment: "from Debian packages"},
	})
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = runtime.GOARCH, "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Cmd = cmd
	cf.Config.Env = env
	cf.Config.WorkingDir = workdir
	cf.Config.StopSignal = stopSignal
	if len(ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range ports {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", out, tag, id)
	return nil
}

// tarDir makes a layer of dir: entries sorted, owned by root, times fixed, hardlinks kept.
func tarDir(dir string) ([]byte, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[uint64]string{} // inode → first name, for hardlinks
	for _, p := range paths {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return nil, err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return nil, err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return nil, err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
		h.ModTime, h.AccessTime, h.ChangeTime = epoch, time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().IsRegular() && st.Nlink > 1 {
			if first, ok := seen[st.Ino]; ok {
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			} else {
				seen[st.Ino] = h.Name
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
