// Package cli is Peerflow's terminal front end: the subcommands of the
// peerflow binary. It needs no display and never starts a GUI driver.
package cli

import (
	"fmt"
	"io"
	"runtime"

	"peerflow/core"
)

// ExitUsage is the exit code for a command line that cannot be understood.
const ExitUsage = 2

const usage = `Peerflow: share files and download them from many peers at once.

Usage:
  peerflow                 open the desktop app
  peerflow <command> [arguments]

Commands:
  version                  print the version
  help                     print this help

Run 'peerflow <command> -h' for the flags of a command.
`

// Run executes the subcommand named by args[0] and returns the process exit
// code. args must not be empty.
func Run(args []string, stdout, stderr io.Writer) int {
	switch args[0] {
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "peerflow %s (%s %s/%s)\n", core.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "peerflow: unknown command %q\n\n%s", args[0], usage)
		return ExitUsage
	}
}
