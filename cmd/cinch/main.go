// Command cinch turns the traffic a Linkerd mesh carries into
// least-privilege authorization policy. Installed as kubectl-cinch or
// linkerd-cinch it works as a plugin of either.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/cinchmesh/cinch/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := cmd.NewRoot(os.Args[0], cmd.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Terminal: term.IsTerminal(int(os.Stderr.Fd()))})
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cinch: %v\n", err)
	}
	os.Exit(cmd.ExitCode(err))
}
