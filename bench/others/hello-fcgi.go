// The hello app for the Go net/http/fcgi row of `npm run bench`:
// `go build -o hello-fcgi hello-fcgi.go && ./hello-fcgi SOCKET`.
package main

import (
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
)

func main() {
	path := os.Args[1]
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		panic(err)
	}
	os.Chmod(path, 0o666)
	body := []byte("Hello, world!\n")
	fcgi.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", "14")
		w.Write(body)
	}))
}
