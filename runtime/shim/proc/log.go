package proc

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// MaxLogLine is where a line without a newline is cut into a partial record, as containerd does.
const MaxLogLine = 16 << 10

// criTime is the CRI log timestamp: RFC 3339 in UTC with all nine fraction digits, so that records
// sort as text and kubelet's RFC3339Nano parser reads them.
const criTime = "2006-01-02T15:04:05.000000000Z07:00"

// LogWriter appends CRI-format records to a file and rotates it at a size limit. Both output
// streams share one, so it serialises them.
type LogWriter struct {
	mu       sync.Mutex
	path     string
	maxBytes int64
	maxFiles int
	f        *os.File
	size     int64
	rec      []byte
}

// OpenLog opens (appending) or creates the log at path and its directory.
func OpenLog(path string, maxBytes int64, maxFiles int) (*LogWriter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &LogWriter{path: path, maxBytes: maxBytes, maxFiles: maxFiles, f: f, size: fi.Size()}, nil
}

// Record writes one record in a single write(2), so that a reader never sees half of one unless
// the disk is full.
func (l *LogWriter) Record(ts time.Time, stream string, partial bool, text []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return os.ErrClosed
	}
	tag := " F "
	if partial {
		tag = " P "
	}
	r := ts.UTC().AppendFormat(l.rec[:0], criTime)
	r = append(r, ' ')
	r = append(r, stream...)
	r = append(r, tag...)
	r = append(r, text...)
	r = append(r, '\n')
	l.rec = r[:0]
	if l.size > 0 && l.size+int64(len(r)) > l.maxBytes {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	n, err := l.f.Write(r)
	l.size += int64(n)
	return err
}

// rotate shifts PATH.i to PATH.(i+1), dropping the oldest, and starts an empty PATH.
func (l *LogWriter) rotate() error {
	if l.maxFiles > 1 {
		os.Remove(l.path + "." + strconv.Itoa(l.maxFiles-1))
		for i := l.maxFiles - 2; i >= 1; i-- {
			err := os.Rename(l.path+"."+strconv.Itoa(i), l.path+"."+strconv.Itoa(i+1))
			if err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	l.f.Close()
	l.f, l.size = f, 0
	return nil
}

// Close closes the file; later records fail.
func (l *LogWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// LineSplitter cuts one stream's output into log records: one per line, P records for lines
// longer than MaxLogLine, and whatever is pending when the stream ends as a final F record.
type LineSplitter struct {
	Stream  string
	Log     *LogWriter
	pending []byte
}

// Write logs the lines in p, read at ts.
func (s *LineSplitter) Write(ts time.Time, p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := MaxLogLine - len(s.pending)
			if len(p) < room {
				s.pending = append(s.pending, p...)
				return
			}
			s.pending = append(s.pending, p[:room]...)
			s.Log.Record(ts, s.Stream, true, s.pending)
			s.pending = s.pending[:0]
			p = p[room:]
			continue
		}
		if len(s.pending) == 0 && i <= MaxLogLine {
			s.Log.Record(ts, s.Stream, false, p[:i])
		} else {
			s.pending = append(s.pending, p[:i]...)
			rest := s.pending
			for len(rest) > MaxLogLine {
				s.Log.Record(ts, s.Stream, true, rest[:MaxLogLine])
				rest = rest[MaxLogLine:]
			}
			s.Log.Record(ts, s.Stream, false, rest)
			s.pending = s.pending[:0]
		}
		p = p[i+1:]
	}
}

// Flush logs a pending unterminated line: the stream has ended.
func (s *LineSplitter) Flush(ts time.Time) {
	if len(s.pending) > 0 {
		s.Log.Record(ts, s.Stream, false, s.pending)
		s.pending = s.pending[:0]
	}
}
