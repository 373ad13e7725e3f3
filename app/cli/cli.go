// Package cli is Peerflow's terminal front end: the subcommands of the
// peerflow binary. It needs no display and never starts a GUI driver.
// Every command works through core (core.Node, core.Browse); nothing here
// re-implements the engine.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"peerflow/core"
	"peerflow/core/content"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1   // the command ran and failed
	ExitUsage       = 2   // the command line could not be understood
	ExitInterrupted = 130 // stopped by SIGINT or SIGTERM
)

const usage = `Peerflow: share files and download them from many peers at once.

Usage:
  peerflow [--data DIR] [-v] [LINK]   open the desktop app (and download LINK)
  peerflow <command> [arguments]

Commands:
  share PATH...            share files (or the files in a folder) and seed them
  get LINK|ID              download a shared file
  stream LINK|ID           play a shared file in any player while it downloads
  ls                       list what the trackers offer
  status                   show what a running node shares and downloads
  tracker                  run a tracker
  version [--json]         print the version
  help                     print this help

Run 'peerflow <command> -h' for the flags of a command.
`

// command is one subcommand.
type command struct {
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"share":   {runShare},
		"get":     {runGet},
		"stream":  {runStream},
		"ls":      {runLs},
		"status":  {runStatus},
		"tracker": {runTracker},
	}
}

// Run executes the subcommand named by args[0] and returns the process exit
// code. ctx is cancelled on SIGINT/SIGTERM. args must not be empty.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch args[0] {
	case "version", "--version", "-version":
		if slices.Contains(args[1:], "--json") {
			printJSON(stdout, false, map[string]string{"version": core.Version, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH})
			return ExitOK
		}
		fmt.Fprintf(stdout, "peerflow %s (%s %s/%s)\n", core.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return ExitOK
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "peerflow: unknown command %q\n\n%s", args[0], usage)
		return ExitUsage
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

// printJSON writes v as JSON on a line of its own, or indented.
func printJSON(w io.Writer, indent bool, v any) {
	enc := json.NewEncoder(w)
	if indent {
		enc.SetIndent("", "  ")
	}
	enc.Encode(v)
}

// newFlags returns a flag set whose -h prints synopsis and every flag.
func newFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: peerflow %s\n\n%s\n\nFlags:\n", synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and returns the positional ones. After "--" every
// argument is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		i := slicesIndex(args, "--")
		head := args
		if i >= 0 {
			head = args[:i]
		}
		if err := fs.Parse(head); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			if i >= 0 {
				pos = append(pos, args[i+1:]...)
			}
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = append(rest[1:], tail(args, i)...)
	}
}

func slicesIndex(args []string, s string) int {
	for i, a := range args {
		if a == s {
			return i
		}
	}
	return -1
}

// tail returns args from index i on (the "--" and after), or nothing.
func tail(args []string, i int) []string {
	if i < 0 {
		return nil
	}
	return args[i:]
}

// usageError prints a bad command line's problem and the flags.
func usageError(fs *flag.FlagSet, stderr io.Writer, format string, a ...any) int {
	fmt.Fprintf(stderr, "peerflow %s: %s\n", fs.Name(), fmt.Sprintf(format, a...))
	fs.Usage()
	return ExitUsage
}

// flagError turns a flag parse error into an exit code: -h is success.
func flagError(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	return ExitUsage
}

// trackerList is a repeatable --tracker flag.
type trackerList []string

func (t *trackerList) String() string { return strings.Join(*t, ",") }

func (t *trackerList) Set(v string) error {
	if err := content.ValidateAddr(v); err != nil {
		return err
	}
	*t = append(*t, v)
	return nil
}

// rateFlag is a RATE flag value in bytes/s.
type rateFlag int64

func (r *rateFlag) String() string {
	if *r == 0 {
		return "0"
	}
	return FormatRate(int64(*r))
}

func (r *rateFlag) Set(v string) error {
	n, err := ParseRate(v)
	if err != nil {
		return err
	}
	*r = rateFlag(n)
	return nil
}

// addrFlag is a host:port flag value.
type addrFlag string

func (a *addrFlag) String() string { return string(*a) }

func (a *addrFlag) Set(v string) error {
	if err := checkListen(v); err != nil {
		return err
	}
	*a = addrFlag(v)
	return nil
}

// newLogger returns the command's logger: quiet (errors only) unless
// verbose, so a failing command prints just its one-line message.
func newLogger(stderr io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelError
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// dataDir returns --data or the default data folder.
func dataDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return core.DefaultDataDir()
}

// interrupted reports whether ctx was cancelled by a signal.
func interrupted(ctx context.Context) bool { return ctx.Err() != nil }

// checkListen checks a listen address: host:port with a port from 0 to
// 65535; the host may be empty (every address).
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port, e.g. 0.0.0.0:7070")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return errors.New("the port must be a number from 0 to 65535")
	}
	return nil
}
