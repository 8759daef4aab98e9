// Command echo is the backend of the service tests: it tells every client who answered and
// whom it saw, over HTTP (GET / on -http) and over UDP (one datagram back per datagram, on
// -udp). Tests build it statically and run it in a busybox pod through a hostPath volume, so
// no image beyond make images is needed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	httpAddr := flag.String("http", ":8080", "HTTP listen address")
	udpAddr := flag.String("udp", ":9000", "UDP listen address")
	flag.Parse()
	host, _ := os.Hostname()
	pc, err := net.ListenPacket("udp", *udpAddr)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				log.Fatal(err)
			}
			reply := fmt.Sprintf("%s %s %s", host, from, buf[:n])
			if _, err := pc.WriteTo([]byte(reply), from); err != nil {
				log.Print(err)
			}
		}
	}()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", host, r.RemoteAddr)
	})
	log.Fatal(http.ListenAndServe(*httpAddr, nil))
}
