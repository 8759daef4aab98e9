package streaming

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestStatusFor(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"success", nil, `{"metadata":{},"status":"Success"}`},
		{"exit code", &ExitError{Code: 3},
			`{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}`},
		{"wrapped exit code", fmt.Errorf("exec in main: %w", &ExitError{Code: 137}),
			`{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit code 137","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"137"}]}}`},
		{"other failure", errors.New("no such process"),
			`{"metadata":{},"status":"Failure","message":"Internal error occurred: error executing command in container: no such process","reason":"InternalError","details":{"causes":[{"message":"error executing command in container: no such process"}]},"code":500}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(statusFor(tt.err, "error executing command in container"))
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tt.want {
				t.Errorf("got  %s\nwant %s", data, tt.want)
			}
		})
	}
}

func TestNormalizeOptions(t *testing.T) {
	tests := []struct {
		in   Options
		want string
	}{
		{Options{Stdout: true, Stderr: true}, "{Stdin:false Stdout:true Stderr:true TTY:false}"},
		{Options{Stdin: true, Stdout: true, Stderr: true, TTY: true}, "{Stdin:true Stdout:true Stderr:false TTY:true}"},
		{Options{Stderr: true, TTY: true}, "you must specify at least 1 of stdin, stdout, stderr"},
		{Options{}, "you must specify at least 1 of stdin, stdout, stderr"},
	}
	for _, tt := range tests {
		got, err := NormalizeOptions(tt.in)
		s := fmt.Sprintf("%+v", got)
		if err != nil {
			s = err.Error()
		}
		if s != tt.want {
			t.Errorf("NormalizeOptions(%+v) = %s, want %s", tt.in, s, tt.want)
		}
	}
}

func TestWatchResizeKeepsLatest(t *testing.T) {
	out := make(chan TerminalSize, 1)
	cancelled := false
	r := io.Reader(strings.NewReader(`{"Width":80,"Height":24}{"Width":100,"Height":40}{"width":120,"height":50}`))
	watchResize(r, out, func() { cancelled = true })
	var got []TerminalSize
	for s := range out {
		got = append(got, s)
	}
	if fmt.Sprint(got) != "[{120 50}]" || !cancelled {
		t.Errorf("got %v cancelled=%t, want [{120 50}] (only the latest when nobody reads) cancelled=true (stream ended)", got, cancelled)
	}
}
