package wire

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"
)

// Names of the files in a shim's state directory.
const (
	ShimPidFile  = "shim.pid"
	ChildPidFile = "child.pid"
	SockFile     = "attach.sock"
	ExitFile     = "exit.json"
	ShimLogFile  = "shim.log"
)

// ReportFD is the descriptor through which each shim stage tells its parent how the start went.
const ReportFD = 3

// Frame types; see package shim's comment. Stdin and stdout share a value: the direction tells
// them apart.
const (
	FrameHello      byte = 0
	FrameStdin      byte = 1
	FrameStdout     byte = 1
	FrameStdinClose byte = 2
	FrameStderr     byte = 2
	FrameResize     byte = 3
)

// Stream bits in the hello frame.
const (
	WantStdin  byte = 1
	WantStdout byte = 2
	WantStderr byte = 4
)

// MaxFrame bounds a frame's payload.
const MaxFrame = 1 << 20

// Size is a terminal size in characters.
type Size struct{ Rows, Cols uint16 }

// WriteFrame writes one frame in one Write.
func WriteFrame(w io.Writer, typ byte, payload []byte) error {
	buf := make([]byte, 5+len(payload))
	buf[0] = typ
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	_, err := w.Write(buf)
	return err
}

// ErrFrameTooLarge is returned for a frame above MaxFrame.
var ErrFrameTooLarge = errors.New("attach frame too large")

// ReadFrame reads one frame, into buf's storage when it fits.
func ReadFrame(r io.Reader, buf []byte) (typ byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrame {
		return 0, nil, ErrFrameTooLarge
	}
	if int(n) > cap(buf) {
		buf = make([]byte, n)
	}
	payload = buf[:n]
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, io.ErrUnexpectedEOF
	}
	return hdr[0], payload, nil
}

// EncodeSize is a resize frame's payload.
func EncodeSize(s Size) []byte {
	var b [4]byte
	binary.BigEndian.PutUint16(b[0:], s.Rows)
	binary.BigEndian.PutUint16(b[2:], s.Cols)
	return b[:]
}

// DecodeSize reads a resize frame's payload.
func DecodeSize(b []byte) (Size, bool) {
	if len(b) != 4 {
		return Size{}, false
	}
	return Size{Rows: binary.BigEndian.Uint16(b[0:]), Cols: binary.BigEndian.Uint16(b[2:])}, true
}

// ExitStatus is exit.json: how the container's process ended, as kubelet reports it.
type ExitStatus struct {
	// ExitCode is the exit status, or 128+signal when a signal killed the process.
	ExitCode   int       `json:"exitCode"`
	Signal     string    `json:"signal,omitempty"` // e.g. "SIGKILL"
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	OOMKilled  bool      `json:"oomKilled"`
}

// AppendJSON appends st as encoding/json would marshal it.
func (st ExitStatus) AppendJSON(b []byte) []byte {
	b = append(b, `{"exitCode":`...)
	b = strconv.AppendInt(b, int64(st.ExitCode), 10)
	if st.Signal != "" {
		b = append(b, `,"signal":`...)
		b = AppendString(b, st.Signal)
	}
	b = append(b, `,"startedAt":"`...)
	b = st.StartedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","finishedAt":"`...)
	b = st.FinishedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","oomKilled":`...)
	b = strconv.AppendBool(b, st.OOMKilled)
	return append(b, '}')
}

// Report is what the detached shim tells the daemon about the start: the pids, or why it failed.
type Report struct {
	ShimPid  int    `json:"shimPid,omitempty"`
	ChildPid int    `json:"childPid,omitempty"`
	Error    string `json:"error,omitempty"`
}

// AppendJSON appends r as encoding/json would marshal it.
func (r Report) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	sep := ""
	if r.ShimPid != 0 {
		b = strconv.AppendInt(append(b, `"shimPid":`...), int64(r.ShimPid), 10)
		sep = ","
	}
	if r.ChildPid != 0 {
		b = strconv.AppendInt(append(b, sep+`"childPid":`...), int64(r.ChildPid), 10)
		sep = ","
	}
	if r.Error != "" {
		b = AppendString(append(b, sep+`"error":`...), r.Error)
	}
	return append(b, '}')
}

// AppendString appends s as a JSON string.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		case r == utf8.RuneError:
			b = append(b, `\ufffd`...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// WriteFileAtomic writes data to dir/name through a temporary file and a rename, so that a reader
// (the daemon after a crash) sees the whole file or none of it.
func WriteFileAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
