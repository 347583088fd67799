// Command pulumi-language-python is replstack's own Python language host for the Pulumi engine.
//
// Why it exists: the upstream language host lives in a Go module that the package proxy reachable from our
// machines does not serve, while the Pulumi CLI and SDK modules are served. The host's contract is small and
// public (the LanguageRuntime gRPC service in the SDK's proto package), so replstack implements it here and
// builds it with the same SDK version as the CLI. It supports what a Python project with a fixed virtualenv
// needs: running programs, running policy packs (RunPlugin), reporting its version and dependencies.
//
// The engine starts it as `pulumi-language-python [flags] ENGINE_ADDRESS`; it prints the port of its gRPC
// server on stdout and serves until the engine closes it (SIGINT to its process group) or dies: the host
// watches its parent and, when it is gone, stops every process it started and exits.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// version is stamped at build time with -ldflags "-X main.version=..." to the CLI version it was built with.
var version = "0.0.0-dev"

func main() {
	engineAddress := lastPositional(os.Args[1:])
	executor, err := findExecutor()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	host := newPythonHost(engineAddress, executor)

	// Closed by the engine (SIGINT) or gone with it: the programs and policy packs this host started end too.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		host.stopAll()
		os.Exit(0)
	}()
	watchParent(parentPollInterval, func() {
		host.stopAll()
		os.Exit(parentGoneExitCode)
	})

	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "could not start the language host gRPC server: %v\n", err)
		os.Exit(1)
	}

	// The engine reads the port from the first line of standard output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "language host stopped: %v\n", err)
		os.Exit(1)
	}
}

// lastPositional returns the last argument that is not a flag: the engine passes its own address last, after
// logging and tracing flags that this host does not need.
func lastPositional(args []string) string {
	address := ""
	for _, arg := range args {
		if !strings.HasPrefix(arg, "-") {
			address = arg
		}
	}
	return address
}
