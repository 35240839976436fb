// Command upstream is the small application the benchmark puts behind the gate: it answers every
// request with 200 and a short fixed body, so what is measured is the proxy, not the application.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Body is what every request gets; the harness checks it byte for byte.
const Body = "upstream OK\n"

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on")
	flag.Parse()
	body := []byte(Body)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hdr := w.Header()
		hdr["Content-Type"] = []string{"text/plain; charset=utf-8"}
		hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
		w.Write(body) //nolint:errcheck // the client went away; nothing to do
	})
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 75 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}
