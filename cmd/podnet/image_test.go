package main

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podnet/podnet/runtime/image"
)

func TestPrintImages(t *testing.T) {
	var buf bytes.Buffer
	err := printImages(&buf, []*image.Image{
		{ID: "sha256:0a31fa2fbecb36d29a312b1a9ae5b7c1766c477a6fbab56de7111c7564921d56", RepoTags: []string{"docker.io/library/busybox:latest"}, Size: 2_215_000},
		{ID: "sha256:79355ca80cbfcf6e6350d589f3c79596a88e8963fce167f2765986a3afd62475", RepoTags: []string{"localhost:5000/nginx:1", "localhost:5000/nginx:stable"}, Size: 187_400_000},
		{ID: "sha256:1111111111111111111111111111111111111111111111111111111111111111", RepoDigests: []string{"quay.io/x/y@sha256:22"}, Size: 999},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `IMAGE                       TAG      IMAGE ID        SIZE
docker.io/library/busybox   latest   0a31fa2fbecb3   2.215MB
localhost:5000/nginx        1        79355ca80cbfc   187.4MB
localhost:5000/nginx        stable   79355ca80cbfc   187.4MB
quay.io/x/y                 <none>   1111111111111   999B
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
