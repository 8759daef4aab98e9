package shim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LogOptions select what ReadLog prints, as kubectl logs' flags do.
type LogOptions struct {
	// Follow keeps reading as the shim writes, across rotations, until ctx ends or Done closes.
	Follow bool
	// Done is closed when the container has exited (e.g. Shim.Done): Follow then prints what is
	// left and returns.
	Done <-chan struct{}
	// TailLines prints only the last n records (of the selected stream, since Since).
	TailLines *int64
	Since     time.Time
	// Timestamps prefixes each record with its time in RFC3339Nano and a space, as kubelet does.
	Timestamps bool
	// LimitBytes stops after this many bytes of output.
	LimitBytes *int64
	// Stream is "stdout", "stderr" or "" for both.
	Stream string
}

// errLimit ends reading once LimitBytes have been written.
var errLimit = errors.New("log byte limit reached")

// logRecord is one parsed CRI log line.
type logRecord struct {
	ts      time.Time
	stderr  bool
	partial bool
	text    []byte
}

// parseRecord reads `<time> <stream> <tag> <text>`.
func parseRecord(line []byte) (logRecord, error) {
	var r logRecord
	f := bytes.SplitN(line, []byte{' '}, 4)
	if len(f) < 3 {
		return r, fmt.Errorf("malformed log record %q", line)
	}
	ts, err := time.Parse(time.RFC3339Nano, string(f[0]))
	if err != nil {
		return r, fmt.Errorf("log record time: %w", err)
	}
	r.ts = ts
	switch string(f[1]) {
	case "stdout":
	case "stderr":
		r.stderr = true
	default:
		return r, fmt.Errorf("log record stream %q", f[1])
	}
	tag := f[2]
	if i := bytes.IndexByte(tag, ':'); i >= 0 {
		tag = tag[:i]
	}
	r.partial = string(tag) == "P"
	if len(f) == 4 {
		r.text = f[3]
	}
	return r, nil
}

// logFiles are PATH's rotated files, oldest first, then PATH.
func logFiles(path string) []string {
	matches, _ := filepath.Glob(path + ".*")
	type rotated struct {
		n    int
		name string
	}
	var rs []rotated
	for _, m := range matches {
		n, err := strconv.Atoi(strings.TrimPrefix(m, path+"."))
		if err == nil && n > 0 {
			rs = append(rs, rotated{n, m})
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].n > rs[j].n })
	var out []string
	for _, r := range rs {
		out = append(out, r.name)
	}
	return append(out, path)
}

type logPrinter struct {
	o              LogOptions
	stdout, stderr io.Writer
	left           int64 // bytes still allowed; <0 for no limit
	tail           []logRecord
	tailing        bool
	buf            []byte
}

func (p *logPrinter) selected(r logRecord) bool {
	if p.o.Stream == "stdout" && r.stderr || p.o.Stream == "stderr" && !r.stderr {
		return false
	}
	return p.o.Since.IsZero() || !r.ts.Before(p.o.Since)
}

// add takes a record in file order: while tailing it is kept among the last n, else printed.
func (p *logPrinter) add(r logRecord) error {
	if !p.selected(r) {
		return nil
	}
	if p.tailing {
		n := int(*p.o.TailLines)
		if n <= 0 {
			return nil
		}
		r.text = append([]byte(nil), r.text...)
		if len(p.tail) == n {
			copy(p.tail, p.tail[1:])
			p.tail = p.tail[:n-1]
		}
		p.tail = append(p.tail, r)
		return nil
	}
	return p.print(r)
}

// endTail prints the kept records; from then on records are printed as they come.
func (p *logPrinter) endTail() error {
	if !p.tailing {
		return nil
	}
	p.tailing = false
	for _, r := range p.tail {
		if err := p.print(r); err != nil {
			return err
		}
	}
	p.tail = nil
	return nil
}

func (p *logPrinter) print(r logRecord) error {
	b := p.buf[:0]
	if p.o.Timestamps {
		b = r.ts.AppendFormat(b, time.RFC3339Nano)
		b = append(b, ' ')
	}
	b = append(b, r.text...)
	if !r.partial {
		b = append(b, '\n')
	}
	p.buf = b
	limited := false
	if p.left >= 0 && int64(len(b)) >= p.left {
		b, limited = b[:p.left], true
	}
	w := p.stdout
	if r.stderr {
		w = p.stderr
	}
	if len(b) > 0 && w != nil {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write log: %w", err)
		}
	}
	if p.left >= 0 {
		p.left -= int64(len(b))
	}
	if limited {
		return errLimit
	}
	return nil
}

// logFile reads records from one open file, keeping an incomplete last line for later.
type logFile struct {
	f       *os.File
	r       *bufio.Reader
	pending []byte
}

func openLogFile(name string) (*logFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return &logFile{f: f, r: bufio.NewReaderSize(f, 32<<10)}, nil
}

// drain hands every complete record up to the current end of the file to p.
func (lf *logFile) drain(p *logPrinter) error {
	for {
		chunk, err := lf.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lf.pending = append(lf.pending, chunk...)
			continue
		}
		if err != nil {
			// EOF: a record still being written; keep its start for the next drain.
			lf.pending = append(lf.pending, chunk...)
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read log: %w", err)
		}
		line := chunk[:len(chunk)-1]
		if len(lf.pending) > 0 {
			line = append(lf.pending, line...)
			lf.pending = lf.pending[:0]
		}
		r, perr := parseRecord(line)
		if perr != nil {
			// kubelet skips what it cannot parse rather than failing the whole read.
			continue
		}
		if err := p.add(r); err != nil {
			return err
		}
	}
}

// ReadLog prints the container log at path (and its rotated files, oldest first) as kubelet
// serves `kubectl logs`: stdout records to stdout, stderr records to stderr.
func ReadLog(ctx context.Context, path string, o LogOptions, stdout, stderr io.Writer) error {
	p := &logPrinter{o: o, stdout: stdout, stderr: stderr, left: -1, tailing: o.TailLines != nil}
	if o.LimitBytes != nil {
		p.left = *o.LimitBytes
	}
	var events <-chan struct{}
	if o.Follow {
		// Watch before the first read, so that nothing written in between goes unnoticed.
		ev, stop, err := watchDir(filepath.Dir(path))
		if err != nil {
			return err
		}
		defer stop()
		events = ev
	}
	err := readLog(ctx, path, p, events)
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

func readLog(ctx context.Context, path string, p *logPrinter, events <-chan struct{}) error {
	names := logFiles(path)
	var files []*logFile
	defer func() {
		for _, lf := range files {
			lf.f.Close()
		}
	}()
	for _, n := range names {
		lf, err := openLogFile(n)
		if err != nil {
			if os.IsNotExist(err) && (n != path || events != nil) {
				continue // rotated away meanwhile, or not written yet while following
			}
			return fmt.Errorf("open log: %w", err)
		}
		files = append(files, lf)
	}
	var cur *logFile
	for _, lf := range files {
		if err := lf.drain(p); err != nil {
			return err
		}
		cur = lf
	}
	if err := p.endTail(); err != nil {
		return err
	}
	if events == nil {
		return nil
	}
	if cur != nil && cur.f.Name() != path {
		cur = nil // PATH itself was missing: pick it up when it appears
	}
	final := false
	for {
		// Follow: read what is new, then move to a fresh PATH if the shim rotated it.
		for {
			if cur != nil {
				if err := cur.drain(p); err != nil {
					return err
				}
				if same, err := sameFile(cur.f, path); err != nil || same {
					break
				}
				// Rotated: what was written between the drain and the rename is still to read.
				if err := cur.drain(p); err != nil {
					return err
				}
			}
			next, err := openLogFile(path)
			if err != nil {
				break
			}
			files = append(files, next)
			cur = next
		}
		if final {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.o.Done:
			final = true // one more pass picks up the last records
		case <-events:
		}
	}
}

// sameFile reports whether f is still the file at path.
func sameFile(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

// watchDir reports changes in dir (writes, creations, renames) on a channel that coalesces them.
func watchDir(dir string) (<-chan struct{}, func(), error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("follow log: inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM|unix.IN_CLOSE_WRITE); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("follow log: watch %s: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), "inotify")
	ch := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, func() { f.Close() }, nil
}
