// Command peerflow is the Peerflow peer-to-peer content delivery app.
//
// With no arguments, its own flags (--data DIR, -v) or a share link it opens
// the desktop window; with a subcommand it is the terminal front end (see
// `peerflow help`). The terminal commands never start a GUI driver, so they
// run on machines without a display.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"peerflow/app/cli"
	"peerflow/app/gui"
	"peerflow/assets"
	"peerflow/core"
	"peerflow/core/content"
)

func main() {
	if len(os.Args) < 2 || opensDesktop(os.Args[1]) {
		os.Exit(runDesktop(os.Args[1:]))
	}
	attachConsole()
	// The first Ctrl-C (or SIGTERM) asks for a clean stop; once it is seen
	// the handler is removed, so a second one kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	os.Exit(cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// opensDesktop reports whether a command line starting with arg is for
// the desktop app: one of its flags, or a share link to open (what a
// desktop hands the registered handler of peerflow:// links).
func opensDesktop(arg string) bool {
	if strings.HasPrefix(arg, content.LinkScheme+"://") {
		return true
	}
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return strings.HasPrefix(arg, "-") && (name == "data" || name == "v")
}

// runDesktop opens the window: peerflow [--data DIR] [-v] [LINK]. It
// returns the exit code once the window is closed and the node is down.
func runDesktop(args []string) int {
	fs := flag.NewFlagSet("peerflow", flag.ContinueOnError)
	data := fs.String("data", "", "data `DIR` of the node (default: the user config folder + /peerflow); one per running node")
	verbose := fs.Bool("v", false, "log debug messages to stderr")
	if err := fs.Parse(args); err != nil {
		return cli.ExitUsage
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "peerflow: the desktop app takes at most one share link; see 'peerflow help' for the terminal commands")
		return cli.ExitUsage
	}
	// The app already runs on this data folder: it takes the link (or
	// just comes to the front), and this start ends here.
	if gui.HandOver(*data, fs.Arg(0)) {
		return 0
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}

	app.SetMetadata(fyne.AppMetadata{
		ID:      core.AppID,
		Name:    "Peerflow",
		Version: core.Version,
		Icon:    assets.Icon,
	})
	a := app.NewWithID(core.AppID)
	a.SetIcon(assets.Icon)
	u := gui.New(a)
	u.Start(gui.Config{ // a failure is shown in the window
		DataDir:   *data,
		LAN:       true,
		Advertise: true,
		Open:      fs.Arg(0),
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	// Ctrl-C or SIGTERM closes the window as its close button does.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, func() { fyne.Do(u.Quit) })
	u.Run()
	if err := u.Close(); err != nil { // a no-op after Quit; here for other ways out
		fmt.Fprintf(os.Stderr, "peerflow: %v\n", err)
		return 1
	}
	return 0
}
