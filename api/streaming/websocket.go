package streaming

import (
	"context"
	"io"
	"net/http"

	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/apimachinery/pkg/util/remotecommand"
)

// Websocket subprotocols kubelet accepts: the unversioned ones carry errors as text, v4 and
// v5 as a Status; only v5 can half-close stdin.
const (
	v4BinaryWebsocket = "v4." + wsstream.ChannelWebSocketProtocol
	v4Base64Websocket = "v4." + wsstream.Base64ChannelWebSocketProtocol
)

// Channel numbers of the remote command protocol.
const (
	chanStdin  = remotecommand.StreamStdIn
	chanStdout = remotecommand.StreamStdOut
	chanStderr = remotecommand.StreamStdErr
	chanError  = remotecommand.StreamErr
	chanResize = remotecommand.StreamResize
)

func websocketProtocols(o Options) map[string]wsstream.ChannelProtocolConfig {
	chans := make([]wsstream.ChannelType, 5)
	chans[chanStdin] = pick(o.Stdin, wsstream.ReadChannel)
	chans[chanStdout] = pick(o.Stdout, wsstream.WriteChannel)
	chans[chanStderr] = pick(o.Stderr, wsstream.WriteChannel)
	chans[chanError] = wsstream.WriteChannel
	// Always readable, even without a terminal: its end tells that the client is gone.
	chans[chanResize] = wsstream.ReadChannel
	binary := wsstream.ChannelProtocolConfig{Binary: true, Channels: chans}
	base64 := wsstream.ChannelProtocolConfig{Binary: false, Channels: chans}
	return map[string]wsstream.ChannelProtocolConfig{
		"":                                      binary,
		wsstream.ChannelWebSocketProtocol:       binary,
		wsstream.Base64ChannelWebSocketProtocol: base64,
		v4BinaryWebsocket:                       binary,
		v4Base64Websocket:                       base64,
		remotecommand.StreamProtocolV5Name:      binary,
	}
}

func pick(on bool, t wsstream.ChannelType) wsstream.ChannelType {
	if on {
		return t
	}
	return wsstream.IgnoreChannel
}

func serveWebsocket(ctx context.Context, w http.ResponseWriter, r *http.Request, sess Session, cfg ServerConfig) {
	conn := wsstream.NewConn(websocketProtocols(sess.Options))
	conn.SetIdleTimeout(cfg.IdleTimeout)
	proto, streams, err := conn.Open(w, r)
	if err != nil {
		cfg.Logger.Debug("websocket upgrade failed", "err", err)
		return
	}
	defer conn.Close()
	announce(sess.Options, streams)
	c := &channels{resize: streams[chanResize]}
	if sess.Stdin {
		c.stdin = streams[chanStdin]
	}
	if sess.Stdout {
		c.stdout = nopCloser{streams[chanStdout]}
	}
	if sess.Stderr {
		c.stderr = nopCloser{streams[chanStderr]}
	}
	switch proto {
	case remotecommand.StreamProtocolV5Name, v4BinaryWebsocket, v4Base64Websocket:
		c.status = jsonStatus(streams[chanError])
	default:
		c.status = textStatus(streams[chanError])
	}
	c.run(ctx, sess, cfg.Logger)
}

// announce sends an empty frame on the lowest writable channel, as kubelet does, so that a
// client knows the session is open before any output.
func announce(o Options, streams []io.ReadWriteCloser) {
	switch {
	case o.Stdout:
		streams[chanStdout].Write(nil)
	case o.Stderr:
		streams[chanStderr].Write(nil)
	default:
		streams[chanError].Write(nil)
	}
}

// nopCloser keeps a websocket channel open when the session half-closes its outputs: a
// websocket channel cannot be half-closed, and closing it would end the client's input.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
