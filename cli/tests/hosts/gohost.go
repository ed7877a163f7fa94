// The Go rows of cli/tests/hosts.rs (cgo): "nil" recovers one nil
// dereference, then dies of another (a Go panic, exit 2); "c" crashes in C
// code called through cgo (Go's "fatal error: unexpected signal", its
// goroutine dump, exit 2).
package main

/*
static void crash(void) { *(volatile int *)16 = 1; }
*/
import "C"

import (
	"fmt"
	"os"
)

var p *int

func deref() int { return *p }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "nil" {
		func() {
			defer func() { fmt.Println("recovered:", recover() != nil) }()
			deref()
		}()
		fmt.Println(deref())
		return
	}
	C.crash()
}
