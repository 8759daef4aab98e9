package streaming

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/remotecommand"
)

// spdyProtocols are the SPDY subprotocols served, newest first. v1 (channel.k8s.io) is left
// out: its stream quirks predate every kubectl still in use.
var spdyProtocols = []string{
	remotecommand.StreamProtocolV4Name, remotecommand.StreamProtocolV3Name, remotecommand.StreamProtocolV2Name,
}

type streamAndReply struct {
	httpstream.Stream
	replySent <-chan struct{}
}

func serveSPDY(ctx context.Context, w http.ResponseWriter, r *http.Request, sess Session, cfg ServerConfig) {
	proto, err := httpstream.Handshake(r, w, spdyProtocols)
	if err != nil {
		// Handshake has answered a failed negotiation (403) itself, not a missing header.
		if r.Header.Get(httpstream.HeaderProtocolVersion) == "" {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		return
	}
	incoming := make(chan streamAndReply)
	done := make(chan struct{})
	defer close(done)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, acceptStream(incoming, done))
	if conn == nil {
		return
	}
	defer conn.Close()
	conn.SetIdleTimeout(cfg.IdleTimeout)
	got, err := waitForStreams(incoming, expectedStreams(sess.Options, proto), cfg.StreamCreationTimeout)
	if err != nil {
		cfg.Logger.Debug("spdy session", "err", err)
		return
	}
	c := &channels{gone: conn.CloseChan()}
	if s := got[corev1.StreamTypeStdin]; s != nil {
		c.stdin = s
	}
	if s := got[corev1.StreamTypeStdout]; s != nil {
		c.stdout = s
	}
	if s := got[corev1.StreamTypeStderr]; s != nil {
		c.stderr = s
	}
	if s := got[corev1.StreamTypeResize]; s != nil {
		c.resize = s
	}
	errStream := got[corev1.StreamTypeError]
	if proto == remotecommand.StreamProtocolV4Name {
		c.status = jsonStatus(errStream)
	} else {
		c.status = textStatus(errStream)
	}
	c.run(ctx, sess, cfg.Logger)
	errStream.Close()
}

// acceptStream checks each new stream's type header, with kubelet's messages, and hands it on
// while the session is still collecting streams.
func acceptStream(out chan<- streamAndReply, done <-chan struct{}) httpstream.NewStreamHandler {
	return func(s httpstream.Stream, replySent <-chan struct{}) error {
		t := s.Headers().Get(corev1.StreamType)
		if t == "" {
			return fmt.Errorf("%q header is required", corev1.StreamType)
		}
		if !streamTypes[t] {
			return fmt.Errorf("invalid stream type %q", t)
		}
		select {
		case out <- streamAndReply{Stream: s, replySent: replySent}:
			return nil
		case <-done:
			return errors.New("session already established")
		}
	}
}

// expectedStreams lists the stream types a client opens for these options: always the error
// stream, resize with a terminal from v3 on.
func expectedStreams(o Options, proto string) map[string]bool {
	want := map[string]bool{corev1.StreamTypeError: true}
	if o.Stdin {
		want[corev1.StreamTypeStdin] = true
	}
	if o.Stdout {
		want[corev1.StreamTypeStdout] = true
	}
	if o.Stderr {
		want[corev1.StreamTypeStderr] = true
	}
	if o.TTY && proto != remotecommand.StreamProtocolV2Name {
		want[corev1.StreamTypeResize] = true
	}
	return want
}

// waitForStreams collects the expected streams and waits until each has been acknowledged.
func waitForStreams(in <-chan streamAndReply, want map[string]bool, timeout time.Duration) (map[string]httpstream.Stream, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	got := make(map[string]httpstream.Stream, len(want))
	var replies []<-chan struct{}
	for len(got) < len(want) {
		select {
		case s := <-in:
			t := s.Headers().Get(corev1.StreamType)
			if !want[t] {
				s.Reset()
				return nil, fmt.Errorf("unexpected stream of type %q", t)
			}
			got[t] = s.Stream
			replies = append(replies, s.replySent)
		case <-timer.C:
			return nil, errors.New("timed out waiting for client to create streams")
		}
	}
	for _, r := range replies {
		select {
		case <-r:
		case <-timer.C:
			return nil, errors.New("timed out waiting for client to create streams")
		}
	}
	return got, nil
}
