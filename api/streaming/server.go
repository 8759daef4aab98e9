package streaming

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/apimachinery/pkg/util/remotecommand"
)

// Options are the parts of a session the client asked for.
type Options struct {
	Stdin, Stdout, Stderr, TTY bool
}

// Session is one exec or attach request to serve.
type Session struct {
	Options
	// ErrorPrefix introduces a failure of Run on the error channel, as kubelet words it
	// ("error executing command in container", "error attaching to container").
	ErrorPrefix string
	// Run is given the client's streams once they are all open; ctx ends when the client is
	// gone or the server stops.
	Run func(ctx context.Context, s Streams) error
}

// ServerConfig tunes the protocol server; zero values take kubelet's defaults.
type ServerConfig struct {
	// IdleTimeout closes a session with no traffic either way for this long (kubelet: 4h).
	IdleTimeout time.Duration
	// StreamCreationTimeout bounds the wait for a SPDY client to open its streams (30s).
	StreamCreationTimeout time.Duration
	Logger                *slog.Logger
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 4 * time.Hour
	}
	if c.StreamCreationTimeout == 0 {
		c.StreamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// NormalizeOptions applies kubelet's rules to what a client asked for: a terminal has no
// separate stderr, and a session needs at least one stream. The error's text is kubelet's.
func NormalizeOptions(o Options) (Options, error) {
	if o.TTY {
		o.Stderr = false
	}
	if !o.Stdin && !o.Stdout && !o.Stderr {
		return o, errors.New("you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// Serve upgrades r to a websocket or SPDY session, runs the session and reports its result on
// the error channel, then closes the connection. When the upgrade fails it answers the
// request itself.
func Serve(ctx context.Context, w http.ResponseWriter, r *http.Request, sess Session, cfg ServerConfig) {
	cfg = cfg.withDefaults()
	// The protocol libraries hijack through a type assertion; middleware wrappers only offer
	// Unwrap, which http.ResponseController follows.
	hw := hijackWriter{w}
	if wsstream.IsWebSocketRequest(r) {
		serveWebsocket(ctx, hw, r, sess, cfg)
		return
	}
	serveSPDY(ctx, hw, r, sess, cfg)
}

type hijackWriter struct{ http.ResponseWriter }

func (h hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

// channels is one open session's streams, whatever protocol carries them.
type channels struct {
	stdin          io.Reader
	stdout, stderr io.WriteCloser
	resize         io.Reader
	// status writes the final Status on the error channel in the negotiated protocol's form.
	status func(metav1.Status) error
	// gone is closed when the connection ends (nil when the resize stream tells instead).
	gone <-chan bool
}

// run executes the session and reports the outcome.
func (c *channels) run(ctx context.Context, sess Session, log *slog.Logger) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := Streams{Stdin: c.stdin, TTY: sess.TTY}
	if c.stdout != nil {
		s.Stdout = c.stdout
	}
	if c.stderr != nil {
		s.Stderr = c.stderr
	}
	resize := make(chan TerminalSize, 1)
	if sess.TTY {
		s.Resize = resize
	}
	go watchResize(c.resize, resize, cancel)
	if c.gone != nil {
		go func() {
			select {
			case <-c.gone:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	err := sess.Run(ctx, s)
	// Half-close the outputs so the client's copies end before it reads the status.
	for _, wc := range []io.WriteCloser{c.stdout, c.stderr} {
		if wc != nil {
			wc.Close()
		}
	}
	if err := c.status(statusFor(err, sess.ErrorPrefix)); err != nil {
		log.Debug("write stream status", "err", err)
	}
	if err != nil {
		log.Debug("stream session ended", "err", err)
	}
}

// watchResize decodes the client's resize messages. The resize stream ends only when the
// connection does, so its end also cancels the session: hijacked connections give no other
// sign on websockets that the client has gone.
func watchResize(r io.Reader, out chan TerminalSize, cancel func()) {
	defer close(out)
	if r == nil {
		return
	}
	defer cancel()
	dec := json.NewDecoder(r)
	for {
		var size TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		// Only the latest size matters: never block on a consumer that is not reading.
		select {
		case out <- size:
		default:
			select {
			case <-out:
			default:
			}
			out <- size
		}
	}
}

// statusFor renders a session's result as kubelet does on the error channel.
func statusFor(err error, prefix string) metav1.Status {
	if err == nil {
		return metav1.Status{Status: metav1.StatusSuccess}
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		return metav1.Status{
			Status:  metav1.StatusFailure,
			Reason:  remotecommand.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", exit),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{
				{Type: remotecommand.ExitCodeCauseType, Message: strconv.Itoa(exit.Code)},
			}},
		}
	}
	return apierrors.NewInternalError(fmt.Errorf("%s: %w", prefix, err)).Status()
}

// jsonStatus writes the Status as JSON: the v4 and v5 protocols' error channel.
func jsonStatus(w io.Writer) func(metav1.Status) error {
	return func(st metav1.Status) error {
		data, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode status: %w", err)
		}
		_, err = w.Write(data)
		return err
	}
}

// textStatus writes only a failure's message: the error channel before v4, where success
// is silence.
func textStatus(w io.Writer) func(metav1.Status) error {
	return func(st metav1.Status) error {
		if st.Status == metav1.StatusSuccess {
			return nil
		}
		_, err := w.Write([]byte(st.Message))
		return err
	}
}

// streamType values of SPDY streams, as kubelet names them.
var streamTypes = map[string]bool{
	corev1.StreamTypeError: true, corev1.StreamTypeStdin: true, corev1.StreamTypeStdout: true,
	corev1.StreamTypeStderr: true, corev1.StreamTypeResize: true,
}
